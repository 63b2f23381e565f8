/* The key layout: every kind builds, parses back, and bad keys are refused. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "apis/keys.h"

static void check(char *key, const char *want, api_key_kind kind, const char *id1,
                  const char *id2)
{
    api_key_parts p;

    assert_string_equal(key, want);
    assert_int_equal(api_key_parse("/corral", key, &p), 0);
    assert_int_equal(p.kind, kind);
    if (id1)
        assert_string_equal(p.id1, id1);
    else
        assert_null(p.id1);
    if (id2)
        assert_string_equal(p.id2, id2);
    else
        assert_null(p.id2);
    api_key_parts_release(&p);
    free(key);
}

static void test_every_kind_roundtrips(void **state)
{
    const char *P = "/corral";

    check(api_key_request(P, "web"), "/corral/requests/web", API_KEY_REQUEST, "web", NULL);
    check(api_key_deploy(P, "web", "v1"), "/corral/deploys/web/v1", API_KEY_DEPLOY, "web",
          "v1");
    check(api_key_request_status(P, "web"), "/corral/status/requests/web",
          API_KEY_REQUEST_STATUS, "web", NULL);
    check(api_key_deploy_status(P, "web", "v1"), "/corral/status/deploys/web/v1",
          API_KEY_DEPLOY_STATUS, "web", "v1");
    check(api_key_job_status(P, "job"), "/corral/status/jobs/job", API_KEY_JOB_STATUS, "job",
          NULL);
    check(api_key_run_status(P, "job", "r1"), "/corral/status/runs/job/r1", API_KEY_RUN_STATUS,
          "job", "r1");
    check(api_key_task(P, "web", "web-v1-1-1-h-r"), "/corral/tasks/web/web-v1-1-1-h-r",
          API_KEY_TASK, "web", "web-v1-1-1-h-r");
    check(api_key_pending(P, "web", "p"), "/corral/pending/web/p", API_KEY_PENDING, "web", "p");
    {
        /* not a parsed kind: it must not parse as a pending document */
        char *k = api_key_pending_status(P, "web", "p");
        api_key_parts sp;
        assert_string_equal(k, "/corral/status/pending/web/p");
        assert_int_equal(api_key_parse(P, k, &sp), -1);
        api_key_parts_release(&sp);
        free(k);
    }
    check(api_key_cleanup(P, "t1"), "/corral/cleanups/t1", API_KEY_CLEANUP, "t1", NULL);
    check(api_key_run(P, "job", "r1"), "/corral/runs/job/r1", API_KEY_RUN, "job", "r1");
    check(api_key_history_task(P, "web", "t1"), "/corral/history/tasks/web/t1",
          API_KEY_HISTORY_TASK, "web", "t1");
    check(api_key_history_deploy(P, "web", "v1"), "/corral/history/deploys/web/v1",
          API_KEY_HISTORY_DEPLOY, "web", "v1");
    check(api_key_history_request(P, "web", "1764016800000-CREATED"),
          "/corral/history/requests/web/1764016800000-CREATED", API_KEY_HISTORY_REQUEST, "web",
          "1764016800000-CREATED");
    check(api_key_intent_request(P, "web", "pause"), "/corral/intents/requests/web/pause",
          API_KEY_INTENT_REQUEST, "web", "pause");
    check(api_key_intent_agent(P, "a1"), "/corral/intents/agents/a1", API_KEY_INTENT_AGENT,
          "a1", NULL);
    check(api_key_intent_rack(P, "r1"), "/corral/intents/racks/r1", API_KEY_INTENT_RACK, "r1",
          NULL);
    {
        char *k = api_key_intent_deploy(P, "web", "v2", "cancel");
        api_key_parts p;

        assert_string_equal(k, "/corral/intents/deploys/web/v2/cancel");
        assert_int_equal(api_key_parse(P, k, &p), 0);
        assert_int_equal(p.kind, API_KEY_INTENT_DEPLOY);
        assert_string_equal(p.id1, "web");
        assert_string_equal(p.id2, "v2");
        assert_string_equal(p.id3, "cancel");
        api_key_parts_release(&p);
        free(k);
        assert_int_equal(api_key_parse(P, "/corral/intents/deploys/web/v2", &p), -1);
        assert_int_equal(api_key_parse(P, "/corral/intents/deploys/web/v2/x/y", &p), -1);
    }
    check(api_key_agent(P, "a1"), "/corral/agents/a1", API_KEY_AGENT, "a1", NULL);
    check(api_key_rack(P, "r1"), "/corral/racks/r1", API_KEY_RACK, "r1", NULL);
    check(api_key_framework(P), "/corral/framework", API_KEY_FRAMEWORK, NULL, NULL);
    check(api_key_leader(P), "/corral/leader", API_KEY_LEADER, NULL, NULL);
}

static void test_prefixes(void **state)
{
    char *p = api_key_kind_prefix("/x", API_KEY_DEPLOY, NULL);
    assert_string_equal(p, "/x/deploys/");
    free(p);
    p = api_key_kind_prefix("/x", API_KEY_DEPLOY, "web");
    assert_string_equal(p, "/x/deploys/web/");
    free(p);
    p = api_key_kind_prefix("/x", API_KEY_REQUEST, "web"); /* one-level: whole kind */
    assert_string_equal(p, "/x/requests/");
    free(p);
    p = api_key_kind_prefix("/x", API_KEY_LEADER, NULL);
    assert_string_equal(p, "/x/leader");
    free(p);
}

static void test_bad_keys_and_ids(void **state)
{
    api_key_parts p;
    const char *bad[] = {"/other/requests/web",  "/corral/requests",    "/corral/requests/",
                         "/corral/requests/a/b", "/corral/deploys/web", "/corral/deploys/web/",
                         "/corral/nope/x",       "/corral/leader/x",    "/corralx/requests/a",
                         "/corral/requests/.."};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (api_key_parse("/corral", bad[i], &p) != -1)
            fail_msg("parsed a bad key: %s", bad[i]);
        assert_int_equal(p.kind, API_KEY_UNKNOWN);
    }
    assert_true(api_key_id_valid("web-v1_2.3:x"));
    assert_false(api_key_id_valid(""));
    assert_false(api_key_id_valid(NULL));
    assert_false(api_key_id_valid("a/b"));
    assert_false(api_key_id_valid("a b"));
    assert_false(api_key_id_valid(".."));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_kind_roundtrips),
    cmocka_unit_test(test_prefixes),
    cmocka_unit_test(test_bad_keys_and_ids),
};

CR_TEST_MAIN(tests)
