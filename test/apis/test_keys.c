/* The key layout: every kind builds, parses back, and bad keys are refused;
 * the table in apis/keys.c and docs/etcd-layout.md list the same keys. */
#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <stdio.h>
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
    /* its own kind, never mistaken for the pending document itself */
    check(api_key_pending_status(P, "web", "p"), "/corral/status/pending/web/p",
          API_KEY_PENDING_STATUS, "web", "p");
    check(api_key_cleanup(P, "t1"), "/corral/cleanups/t1", API_KEY_CLEANUP, "t1", NULL);
    check(api_key_run(P, "job", "r1"), "/corral/runs/job/r1", API_KEY_RUN, "job", "r1");
    check(api_key_history_task(P, "web", "t1"), "/corral/history/tasks/web/t1",
          API_KEY_HISTORY_TASK, "web", "t1");
    check(api_key_history_deploy(P, "web", "v1"), "/corral/history/deploys/web/v1",
          API_KEY_HISTORY_DEPLOY, "web", "v1");
    check(api_key_history_request(P, "web", "1764016800000-CREATED"),
          "/corral/history/requests/web/1764016800000-CREATED", API_KEY_HISTORY_REQUEST, "web",
          "1764016800000-CREATED");
    /* the ms are zero-padded so that event keys sort in time order */
    check(api_key_history_request_event(P, "web", 1764016800000, "CREATED"),
          "/corral/history/requests/web/1764016800000-CREATED", API_KEY_HISTORY_REQUEST, "web",
          "1764016800000-CREATED");
    check(api_key_history_request_event(P, "web", 999, "UPDATED"),
          "/corral/history/requests/web/0000000000999-UPDATED", API_KEY_HISTORY_REQUEST, "web",
          "0000000000999-UPDATED");
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
    p = api_key_kind_prefix("/x", API_KEY_HISTORY_REQUEST, "web");
    assert_string_equal(p, "/x/history/requests/web/");
    free(p);
    p = api_key_kind_prefix("/x", API_KEY_PENDING_STATUS, NULL);
    assert_string_equal(p, "/x/status/pending/");
    free(p);
    p = api_key_kind_prefix("/x", API_KEY_UNKNOWN, NULL);
    assert_string_equal(p, "/x/");
    free(p);
}

/* Each kind's pattern is its name followed by one placeholder segment per
 * id, and a key made by filling the placeholders parses back as the kind. */
static void test_patterns_match_kinds(void **state)
{
    assert_string_equal(api_key_kind_pattern(API_KEY_UNKNOWN), "");
    assert_string_equal(api_key_kind_pattern(API_KEY_DEPLOY_STATUS),
                        "status/deploys/<requestId>/<deployId>");
    for (int k = 1; k < API_KEY__COUNT; k++) {
        const char *name = api_key_kind_name((api_key_kind)k);
        const char *pat = api_key_kind_pattern((api_key_kind)k);
        const char *ids[3] = {"id1", "id2", "id3"};
        size_t n = strlen(name);
        int nids = 0;
        char key[256];
        api_key_parts p;

        if (strncmp(pat, name, n) != 0 || (pat[n] != '\0' && pat[n] != '/'))
            fail_msg("kind %d: pattern '%s' does not start with its name '%s'", k, pat, name);
        snprintf(key, sizeof(key), "/corral/%s", name);
        for (const char *seg = pat + n; *seg == '/'; nids++) {
            const char *end = strchr(seg + 1, '/');
            if (seg[1] != '<' || nids == 3)
                fail_msg("kind %d: pattern '%s': segment %d is not a <placeholder>", k, pat,
                         nids + 1);
            strcat(key, "/");
            strcat(key, ids[nids]);
            seg = end ? end : seg + strlen(seg);
        }
        if (api_key_parse("/corral", key, &p) != 0 || p.kind != (api_key_kind)k)
            fail_msg("kind %d: '%s' (from pattern '%s') does not parse back as its kind", k, key,
                     pat);
        for (int i = 0; i < 3; i++) {
            const char *got = i == 0 ? p.id1 : i == 1 ? p.id2 : p.id3;
            if (i < nids)
                assert_string_equal(got, ids[i]);
            else
                assert_null(got);
        }
        api_key_parts_release(&p);
    }
}

/* The patterns listed in docs/etcd-layout.md's "## Keys" table: the first
 * cell of each row is exactly one `P/<pattern>`. Returns how many. */
static size_t doc_patterns(char *doc, char **out, size_t max)
{
    char *line, *save = NULL;
    bool in_keys = false;
    size_t n = 0;

    for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cell, *bar;

        if (strncmp(line, "## ", 3) == 0) {
            in_keys = strcmp(line, "## Keys") == 0;
            continue;
        }
        if (!in_keys || line[0] != '|' || strncmp(line, "| key ", 6) == 0 ||
            strncmp(line, "|---", 4) == 0)
            continue;
        /* a row: "| `P/<pattern>` | written by | value |" */
        cell = line + 1;
        while (*cell == ' ')
            cell++;
        bar = strstr(cell, " |");
        if (!bar)
            fail_msg("etcd-layout.md: key table row without cells: %s", line);
        *bar = '\0';
        if (strncmp(cell, "`P/", 3) != 0 || strchr(cell + 1, '`') != cell + strlen(cell) - 1)
            fail_msg("etcd-layout.md: the first cell must be one `P/<pattern>`, got %s", cell);
        cell[strlen(cell) - 1] = '\0';
        if (n == max)
            fail_msg("etcd-layout.md: more than %zu keys", max);
        out[n++] = cell + 3;
    }
    return n;
}

static void test_doc_lists_every_kind(void **state)
{
    char *doc = cr_test_fixture("../docs/etcd-layout.md", NULL);
    char *pats[64];
    size_t n = doc_patterns(doc, pats, 64);

    assert_true(n > 0);
    for (int k = 1; k < API_KEY__COUNT; k++) {
        const char *want = api_key_kind_pattern((api_key_kind)k);
        size_t i = 0;
        while (i < n && strcmp(pats[i], want) != 0)
            i++;
        if (i == n)
            fail_msg("docs/etcd-layout.md: no row for `P/%s` (kind %s in apis/keys.c)", want,
                     api_key_kind_name((api_key_kind)k));
    }
    for (size_t i = 0; i < n; i++) {
        int k = 1;
        while (k < API_KEY__COUNT && strcmp(pats[i], api_key_kind_pattern((api_key_kind)k)) != 0)
            k++;
        if (k == API_KEY__COUNT)
            fail_msg("docs/etcd-layout.md: `P/%s` is not a kind in apis/keys.c", pats[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(pats[i], pats[j]) == 0)
                fail_msg("docs/etcd-layout.md: `P/%s` listed twice", pats[i]);
    }
    free(doc);
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
    assert_false(api_key_id_valid("."));
    assert_false(api_key_id_valid("a\\b"));
    assert_false(api_key_id_valid("\xc3\xa9"));
    /* Task ids reach Mesos' 255: keys take them (the limit was 200). */
    char longid[API_KEY_MAX_ID + 2];
    memset(longid, 'a', sizeof(longid));
    longid[API_KEY_MAX_ID] = 0;
    assert_true(api_key_id_valid(longid));
    longid[API_KEY_MAX_ID] = 'a';
    longid[API_KEY_MAX_ID + 1] = 0;
    assert_false(api_key_id_valid(longid));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_kind_roundtrips),
    cmocka_unit_test(test_prefixes),
    cmocka_unit_test(test_patterns_match_kinds),
    cmocka_unit_test(test_doc_lists_every_kind),
    cmocka_unit_test(test_bad_keys_and_ids),
};

CR_TEST_MAIN(tests)
