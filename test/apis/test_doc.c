/* api_doc (apis/doc.h): which kinds have a typed document, and how each is
 * decoded once for every reader (strict with a lenient fallback for what
 * people write, open for what programs write). */
#include "test/lib/cr_test.h"

#include <string.h>

#include "apis/doc.h"
#include "apis/intent.h"
#include "apis/request.h"
#include "apis/run.h"
#include "apis/status.h"

static void test_typed(void **state)
{
    static const api_key_kind typed[] = {
        API_KEY_REQUEST,        API_KEY_DEPLOY,         API_KEY_RUN,
        API_KEY_TASK,           API_KEY_PENDING,        API_KEY_CLEANUP,
        API_KEY_REQUEST_STATUS, API_KEY_DEPLOY_STATUS,  API_KEY_JOB_STATUS,
        API_KEY_RUN_STATUS,     API_KEY_PENDING_STATUS, API_KEY_INTENT_REQUEST,
        API_KEY_INTENT_DEPLOY,  API_KEY_INTENT_AGENT,   API_KEY_INTENT_RACK,
        API_KEY_AUTH_TOKEN,     API_KEY_AGENT,          API_KEY_RACK,
        API_KEY_INACTIVE_HOST,
    };
    static const api_key_kind untyped[] = {
        API_KEY_UNKNOWN,         API_KEY_HISTORY_TASK, API_KEY_HISTORY_DEPLOY,
        API_KEY_HISTORY_REQUEST, API_KEY_FRAMEWORK,    API_KEY_LEADER,
    };
    char *error = NULL;
    json_t *j = cr_test_json("{}");

    for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++)
        assert_true(api_doc_typed(typed[i]));
    for (size_t i = 0; i < sizeof(untyped) / sizeof(untyped[0]); i++) {
        api_key_parts key = {.kind = untyped[i]};
        assert_false(api_doc_typed(untyped[i]));
        assert_null(api_doc_decode(&key, j, &error));
        assert_null(error);
    }
    assert_false(api_doc_typed(API_KEY__COUNT));
    assert_false(api_doc_typed((api_key_kind)-1));
    api_doc_free(API_KEY_JOB_STATUS, NULL);
    json_decref(j);
}

/* Decodes text stored under key (below "/corral"); returns the document,
 * *error set as api_doc does. */
static void *decode(const char *key, const char *text, char **error)
{
    api_key_parts parts;
    json_t *j = cr_test_json(text);
    void *doc;

    assert_int_equal(api_key_parse("/corral", key, &parts), 0);
    doc = api_doc_decode(&parts, j, error);
    api_key_parts_release(&parts);
    json_decref(j);
    return doc;
}

/* The kind of a key, to free what decode() returned. */
static api_key_kind kind_of(const char *key)
{
    api_key_parts parts;
    api_key_kind kind;

    assert_int_equal(api_key_parse("/corral", key, &parts), 0);
    kind = parts.kind;
    api_key_parts_release(&parts);
    return kind;
}

/* Asserts that error holds want (and prints both if not), then frees it. */
static void expect_error(char *error, const char *want)
{
    assert_non_null(error);
    if (!strstr(error, want))
        fail_msg("no \"%s\" in: %s", want, error);
    free(error);
}

#define PENDING_STATUS_KEY "/corral/status/pending/j/j-v1-5-1-NEW_DEPLOY-5"

static void test_statuses(void **state)
{
    char *error = NULL;
    api_job_status *js = decode("/corral/status/jobs/j",
                                "{\"requestId\":\"j\",\"nextFireAt\":5,\"newer\":1,"
                                "\"lastRun\":{\"taskId\":\"t\",\"state\":\"TASK_FAILED\"}}",
                                &error);
    assert_non_null(js);
    assert_null(error);
    assert_int_equal(js->nextFireAt, 5);
    assert_int_equal(js->lastRun.state, API_TASK_FAILED);
    api_doc_free(API_KEY_JOB_STATUS, js);

    assert_null(decode("/corral/status/jobs/j", "{\"nextFireAt\":\"soon\"}", &error));
    assert_non_null(strstr(error, "nextFireAt: must be an integer"));
    free(error);

    api_run_status *rs =
        decode("/corral/status/runs/j/r", "{\"runId\":\"r\",\"state\":\"QUEUED\"}", &error);
    assert_non_null(rs);
    assert_null(error);
    assert_string_equal(rs->state, API_RUN_STATE_QUEUED);
    api_doc_free(API_KEY_RUN_STATUS, rs);
    assert_null(decode("/corral/status/runs/j/r", "{\"state\":\"QUEUED\"}", &error));
    assert_non_null(strstr(error, "runId: is required"));
    free(error);

    api_place_reason *pr = decode(PENDING_STATUS_KEY, "{\"reason\":\"X\",\"since\":1}", &error);
    assert_non_null(pr);
    assert_null(error);
    assert_string_equal(pr->reason, "X");
    api_doc_free(API_KEY_PENDING_STATUS, pr);
    assert_null(decode(PENDING_STATUS_KEY, "{\"reason\":\"\"}", &error));
    assert_non_null(strstr(error, "reason: must not be empty"));
    free(error);
}

/* Which kinds are held as text (store/cache.h), and when a pending task's
 * document reads as its tree: only with its pendingTaskId an object that
 * names its id, though both other forms decode. */
static void test_text_kinds(void **state)
{
    static const char *const faithful[] = {
        "{\"pendingTaskId\":{\"id\":\"j-v1-5-1-NEW_DEPLOY-5\",\"requestId\":\"j\","
        "\"deployId\":\"v1\",\"nextRunAt\":5,\"instanceNo\":1,\"pendingType\":\"NEW_DEPLOY\","
        "\"createdAt\":5}}",
    };
    static const char *const not_faithful[] = {
        "{\"pendingTaskId\":\"j-v1-5-1-NEW_DEPLOY-5\"}",
        "{\"pendingTaskId\":{\"requestId\":\"j\",\"deployId\":\"v1\",\"nextRunAt\":5,"
        "\"instanceNo\":1,\"pendingType\":\"NEW_DEPLOY\",\"createdAt\":5}}",
    };
    const char *key = "/corral/pending/j/j-v1-5-1-NEW_DEPLOY-5";
    char *error = NULL;

    assert_true(api_doc_text(API_KEY_TASK) && api_doc_text(API_KEY_HISTORY_TASK));
    assert_false(api_doc_text(API_KEY_PENDING) || api_doc_text(API_KEY_REQUEST_STATUS));
    assert_true(api_doc_text_when_valid(API_KEY_REQUEST_STATUS));
    assert_true(api_doc_text_when_valid(API_KEY_PENDING));
    assert_true(api_doc_text_when_valid(API_KEY_DEPLOY_STATUS));
    assert_false(api_doc_text_when_valid(API_KEY_TASK) ||
                 api_doc_text_when_valid(API_KEY_JOB_STATUS));
    for (size_t i = 0; i < 3; i++) {
        const char *text = i < 1 ? faithful[i] : not_faithful[i - 1];
        json_t *j = cr_test_json(text);
        void *doc = decode(key, text, &error);
        assert_non_null(doc); /* every one decodes */
        assert_null(error);
        assert_int_equal(api_doc_faithful(API_KEY_PENDING, doc, j), i < 1);
        api_doc_free(API_KEY_PENDING, doc);
        json_decref(j);
    }
    json_t *st = cr_test_json("{\"requestId\":\"j\",\"state\":\"ACTIVE\"}");
    void *sdoc =
        decode("/corral/status/requests/j", "{\"requestId\":\"j\",\"state\":\"ACTIVE\"}", &error);
    assert_non_null(sdoc);
    assert_true(api_doc_faithful(API_KEY_REQUEST_STATUS, sdoc, st));
    assert_false(api_doc_faithful(API_KEY_JOB_STATUS, sdoc, st));
    assert_false(api_doc_faithful(API_KEY_REQUEST_STATUS, NULL, st));
    api_doc_free(API_KEY_REQUEST_STATUS, sdoc);
    json_decref(st);
}

/* Requests, deploys and deploy statuses are held as text when their
 * document decodes with no problem and its canonical encoding is their
 * tree (api_doc_faithful): whatever the key order and whitespace. One that
 * decodes to the same document from another tree (requestType derived, 2.0
 * for 2, an alias, a null or a member the encoder writes otherwise) keeps
 * its tree, and so does one with an unknown field (a strict problem: the
 * cache keeps its tree). */
static void test_request_deploy_faithful(void **state)
{
    static const struct {
        const char *key, *json;
        bool faithful;
    } cases[] = {
        {"/corral/requests/web",
         "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2,\"owners\":[\"a@b.c\"]}",
         true},
        /* as bench/converge.py writes it: Python's separators, its own order */
        {"/corral/requests/web",
         "{\"owners\": [\"a@b.c\"], \"instances\": 2, \"requestType\": \"SERVICE\", \"id\": "
         "\"web\"}",
         true},
        {"/corral/requests/web",
         "{\"id\":\"web\",\"requestType\":\"WORKER\",\"taskPriorityLevel\":0.5,"
         "\"annotations\":{\"corral.io/source\":\"git\"},\"agentPlacement\":\"GREEDY\"}",
         true},
        {"/corral/requests/web", "{\"id\":\"web\",\"instances\":2}", false},
        {"/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2.0}",
         false},
        {"/corral/requests/web",
         "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"slavePlacement\":\"GREEDY\"}", false},
        /* an empty list is kept as written */
        {"/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"owners\":[]}",
         true},
        {"/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"group\":null}",
         false},
        {"/corral/deploys/web/v1",
         "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1\","
         "\"resources\":{\"cpus\":0.1,\"memoryMb\":64,\"numPorts\":0}}",
         true},
        {"/corral/deploys/web/v1",
         "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1\","
         "\"resources\":{\"cpus\":0.1,\"memoryMb\":64.0}}",
         false},
        /* a deploy status as the controllers write it (api_deploy_status_to_json) */
        {"/corral/status/deploys/web/v1", NULL, true},
        /* ... and as written by hand: without the failures the encoder writes */
        {"/corral/status/deploys/web/v1",
         "{\"requestId\":\"web\",\"deployId\":\"v1\",\"state\":\"SUCCEEDED\",\"finishedAt\":2000}",
         false},
    };
    char *error = NULL;

    assert_true(api_doc_text_when_valid(API_KEY_REQUEST) &&
                api_doc_text_when_valid(API_KEY_DEPLOY));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_key_parts parts;
        json_t *j;
        void *doc;

        if (cases[i].json) {
            j = cr_test_json(cases[i].json);
        } else {
            api_deploy_status ds = {.requestId = "web", .deployId = "v1",
                                    .state = API_DSTATE_SUCCEEDED, .finishedAt = 2000,
                                    .targetActiveInstances = 2, .step = 1};
            j = api_deploy_status_to_json(&ds);
        }
        assert_int_equal(api_key_parse("/corral", cases[i].key, &parts), 0);
        doc = api_doc_decode(&parts, j, &error);
        if (!doc || error)
            fail_msg("%s: %s", cases[i].key, error ? error : "no document");
        if (api_doc_faithful(parts.kind, doc, j) != cases[i].faithful)
            fail_msg("case %zu (%s): faithful should be %d", i, cases[i].key, cases[i].faithful);
        api_doc_free(parts.kind, doc);
        api_key_parts_release(&parts);
        json_decref(j);
    }
    /* an unknown field: a strict problem beside the lenient document */
    void *doc = decode("/corral/requests/web",
                       "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"colour\":\"red\"}", &error);
    assert_non_null(doc);
    assert_non_null(error);
    free(error);
    api_doc_free(API_KEY_REQUEST, doc);
}

/* People write runs: a document with problems is still decoded leniently,
 * and the strict problems come with it; one of the wrong shape is not. */
static void test_runs(void **state)
{
    char *error = NULL;
    api_run *r = decode("/corral/runs/j/r", "{\"runId\":\"r\",\"runAt\":9}", &error);
    assert_non_null(r);
    assert_null(error);
    api_doc_free(API_KEY_RUN, r);

    r = decode("/corral/runs/j/r", "{\"runId\":\"r\",\"colour\":\"red\",\"runAt\":-1}", &error);
    assert_non_null(r);
    assert_non_null(error);
    assert_non_null(strstr(error, "colour: unknown field"));
    assert_int_equal(r->runAt, -1);
    free(error);
    api_doc_free(API_KEY_RUN, r);

    assert_null(decode("/corral/runs/j/r", "{\"runAt\":\"soon\"}", &error));
    assert_non_null(strstr(error, "runAt: must be an integer"));
    free(error);
}

/* The API writes intents; fields a newer API adds are kept, not errors. */
static void test_intents(void **state)
{
    static const char *const keys[] = {"/corral/intents/requests/web/pause",
                                       "/corral/intents/deploys/web/v1/update",
                                       "/corral/intents/agents/a1", "/corral/intents/racks/r1"};
    char *error = NULL;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        api_intent *in = decode(keys[i],
                                "{\"timestamp\":7,\"targetActiveInstances\":2,"
                                "\"state\":\"FROZEN\",\"novel\":true}",
                                &error);
        assert_non_null(in);
        assert_null(error);
        assert_int_equal(in->timestamp, 7);
        assert_int_equal(in->targetActiveInstances, 2);
        assert_true(json_is_true(json_object_get(in->extra, "novel")));
        api_doc_free(kind_of(keys[i]), in);

        assert_null(decode(keys[i], "{\"timestamp\":\"now\"}", &error));
        assert_non_null(strstr(error, "timestamp: must be an integer"));
        free(error);
    }
}

/* Issue 21: a document is checked against the key it is stored under. A
 * request under requests/web whose "id" is "api" is kept (people write
 * requests; readers see what was written) but invalid; a record programs
 * write that names another object than its key is no document at all. */
static void test_body_must_match_key(void **state)
{
    char *error = NULL;
    api_request *r;

    r = decode("/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\"}", &error);
    assert_non_null(r);
    assert_null(error);
    api_doc_free(API_KEY_REQUEST, r);

    r = decode("/corral/requests/web", "{\"id\":\"api\",\"requestType\":\"WORKER\"}", &error);
    assert_non_null(r);
    assert_string_equal(r->id, "api");
    expect_error(error, "id: \"api\" does not match the key's request id \"web\"");
    api_doc_free(API_KEY_REQUEST, r);

    /* Both a strict problem and the key's: both are reported. */
    r = decode("/corral/requests/web", "{\"id\":\"api\",\"requestType\":\"WORKER\",\"x\":1}",
               &error);
    assert_non_null(r);
    assert_non_null(strstr(error, "x: unknown field"));
    expect_error(error, "does not match the key's request id");
    api_doc_free(API_KEY_REQUEST, r);

    void *d = decode("/corral/deploys/web/v1",
                     "{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"true\"}", &error);
    assert_non_null(d);
    expect_error(error, "id: \"v2\" does not match the key's deploy id \"v1\"");
    api_doc_free(API_KEY_DEPLOY, d);
    d = decode("/corral/deploys/web/v1",
               "{\"requestId\":\"api\",\"id\":\"v1\",\"command\":\"true\"}", &error);
    assert_non_null(d);
    expect_error(error, "requestId: \"api\" does not match the key's request id \"web\"");
    api_doc_free(API_KEY_DEPLOY, d);

    d = decode("/corral/runs/web/r1", "{\"runId\":\"r2\"}", &error);
    assert_non_null(d);
    expect_error(error, "runId: \"r2\" does not match the key's run id \"r1\"");
    api_doc_free(API_KEY_RUN, d);

    /* Records programs write. */
    static const char task[] = "{\"taskId\":\"web-v1-1-1-h1-r1\",\"agentId\":\"a\","
                               "\"lastTaskState\":\"TASK_RUNNING\",\"pendingTask\":{"
                               "\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"}}";
    d = decode("/corral/tasks/web/web-v1-1-1-h1-r1", task, &error);
    assert_non_null(d);
    assert_null(error);
    api_doc_free(API_KEY_TASK, d);
    assert_null(decode("/corral/tasks/web/web-v1-1-2-h1-r1", task, &error));
    expect_error(error, "taskId.id: \"web-v1-1-1-h1-r1\" does not match the key's task id "
                        "\"web-v1-1-2-h1-r1\"");
    assert_null(decode("/corral/tasks/api/web-v1-1-1-h1-r1", task, &error));
    expect_error(error, "taskId.requestId: \"web\" does not match the key's request id \"api\"");

    assert_null(decode("/corral/pending/web/web-v1-1-2-NEW_DEPLOY-1",
                       "{\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"}", &error));
    expect_error(error, "pendingTaskId.id: \"web-v1-1-1-NEW_DEPLOY-1\" does not match");
    assert_null(decode("/corral/cleanups/web-v1-1-2-h1-r1",
                       "{\"taskId\":\"web-v1-1-1-h1-r1\",\"cleanupType\":\"USER_REQUESTED\"}",
                       &error));
    expect_error(error, "taskId.id: \"web-v1-1-1-h1-r1\" does not match the key's task id");

    assert_null(decode("/corral/status/requests/web",
                       "{\"requestId\":\"api\",\"state\":\"ACTIVE\"}", &error));
    expect_error(error, "requestId: \"api\" does not match the key's request id \"web\"");
    assert_null(decode("/corral/status/deploys/web/v1",
                       "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"WAITING\"}",
                       &error));
    expect_error(error, "deployId: \"v2\" does not match the key's deploy id \"v1\"");
    assert_null(decode("/corral/status/jobs/web", "{\"requestId\":\"api\"}", &error));
    expect_error(error, "does not match the key's request id");
    assert_null(
        decode("/corral/status/runs/web/r1", "{\"runId\":\"r2\",\"state\":\"QUEUED\"}", &error));
    expect_error(error, "runId: \"r2\" does not match the key's run id \"r1\"");
}

/* Issue 21: the ids a key names follow the rule of their kind, whoever
 * wrote the key (an etcdctl put is not checked by anything else). */
static void test_key_ids_follow_their_rules(void **state)
{
    char *error = NULL;
    void *d;

    /* A deploy id the rules refuse, repeated by the document. */
    d = decode("/corral/deploys/web/...",
               "{\"requestId\":\"web\",\"id\":\"...\",\"command\":\"true\"}", &error);
    assert_non_null(d);
    expect_error(error, "id: \"...\" must be 1-50 characters of [a-zA-Z0-9_.]");
    api_doc_free(API_KEY_DEPLOY, d);
    /* A run id only the key names. */
    d = decode("/corral/runs/web/r.1", "{}", &error);
    assert_non_null(d);
    expect_error(error, "the key's run id \"r.1\" must be 1-100 characters of [a-zA-Z0-9_-]");
    api_doc_free(API_KEY_RUN, d);
    d = decode("/corral/runs/web/r1", "{\"runId\":\"r.1\"}", &error);
    assert_non_null(d);
    expect_error(error, "runId: must be 1-100 characters");
    api_doc_free(API_KEY_RUN, d);
    assert_null(decode("/corral/status/jobs/we.b", "{}", &error));
    expect_error(error, "the key's request id \"we.b\" must be");
    assert_null(decode("/corral/status/pending/web/nope", "{\"reason\":\"X\"}", &error));
    expect_error(error, "the key's pending task id \"nope\" must be a pending task id");
    assert_null(decode("/corral/intents/requests/we.b/pause", "{}", &error));
    expect_error(error, "the key's request id \"we.b\" must be");
    assert_null(decode("/corral/intents/deploys/web/v-1/cancel", "{}", &error));
    expect_error(error, "the key's deploy id \"v-1\" must be");
}

/* Issue 21: a pause intent that does not decode must not pause. What makes
 * an intent invalid, kind by kind; an invalid one has no document, so every
 * reader (controllers, API) sees no intent. */
static void test_intents_checked_by_kind(void **state)
{
    static const struct {
        const char *key, *json, *want;
    } bad[] = {
        {"/corral/intents/requests/web/pause", "[]", "an intent must be an object"},
        {"/corral/intents/requests/web/pause", "{\"killTasks\":\"yes\"}", "killTasks: must be"},
        {"/corral/intents/requests/web/pause", "{\"timestamp\":-5}", "timestamp: must be >= 0"},
        {"/corral/intents/requests/web/pause", "{\"durationMillis\":0}",
         "durationMillis: must be > 0"},
        {"/corral/intents/requests/web/paws", "{}",
         "the key's intent kind \"paws\" must be one of"},
        {"/corral/intents/requests/web/bounce", "{\"user\":\"a\"}",
         "timestamp: required and > 0 (it is the bounce token)"},
        {"/corral/intents/requests/web/exit-cooldown", "{\"timestamp\":0}", "timestamp: required"},
        {"/corral/intents/requests/web/scale", "{\"instances\":0,\"timestamp\":1}",
         "instances: required and >= 1"},
        {"/corral/intents/requests/web/scale", "{\"instances\":2,\"previousInstances\":-1}",
         "previousInstances: must be >= 1"},
        {"/corral/intents/requests/web/skip-healthchecks", "{\"timestamp\":1}",
         "skipHealthchecks: required"},
        {"/corral/intents/requests/web/pause", "{\"requestId\":\"api\"}",
         "requestId: \"api\" does not match the key's request id \"web\""},
        {"/corral/intents/deploys/web/v1/update", "{\"timestamp\":1}",
         "targetActiveInstances: required and >= 1"},
        {"/corral/intents/deploys/web/v1/update",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"targetActiveInstances\":1}",
         "deployId: \"v2\" does not match the key's deploy id \"v1\""},
        {"/corral/intents/deploys/web/v1/stop", "{}", "must be one of submit, cancel, update"},
        {"/corral/intents/agents/a1", "{\"timestamp\":1}", "state: required"},
        {"/corral/intents/racks/r1", "{\"state\":\"GONE\"}",
         "state: must be STARTING_DECOMMISSION, FROZEN or ACTIVE"},
        {"/corral/intents/racks/r1", "{\"state\":\"FROZEN\",\"revertToState\":\"NAP\"}",
         "revertToState: unknown machine state"},
    };
    static const struct {
        const char *key, *json;
    } good[] = {
        {"/corral/intents/requests/web/pause", "{}"},
        {"/corral/intents/requests/web/pause",
         "{\"killTasks\":true,\"timestamp\":3,\"user\":\"a\"}"},
        {"/corral/intents/requests/web/bounce", "{\"timestamp\":42}"},
        {"/corral/intents/requests/web/exit-cooldown", "{\"timestamp\":42}"},
        {"/corral/intents/requests/web/scale", "{\"instances\":2,\"durationMillis\":5}"},
        {"/corral/intents/requests/web/skip-healthchecks", "{\"skipHealthchecks\":true}"},
        {"/corral/intents/deploys/web/v1/submit", "{\"user\":\"bob\",\"timestamp\":7}"},
        {"/corral/intents/deploys/web/v1/cancel", "{\"user\":\"bob\"}"},
        {"/corral/intents/deploys/web/v1/update",
         "{\"requestId\":\"web\",\"deployId\":\"v1\",\"targetActiveInstances\":1}"},
        {"/corral/intents/agents/a1", "{\"state\":\"STARTING_DECOMMISSION\"}"},
        {"/corral/intents/racks/r1", "{\"state\":\"FROZEN\",\"revertToState\":\"ACTIVE\"}"},
    };
    char *error = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (decode(bad[i].key, bad[i].json, &error))
            fail_msg("%s %s decoded", bad[i].key, bad[i].json);
        expect_error(error, bad[i].want);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        api_intent *in = decode(good[i].key, good[i].json, &error);
        if (!in || error)
            fail_msg("%s %s: %s", good[i].key, good[i].json, error ? error : "no document");
        api_doc_free(kind_of(good[i].key), in);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_typed),
    cmocka_unit_test(test_statuses),
    cmocka_unit_test(test_text_kinds),
    cmocka_unit_test(test_request_deploy_faithful),
    cmocka_unit_test(test_runs),
    cmocka_unit_test(test_intents),
    cmocka_unit_test(test_body_must_match_key),
    cmocka_unit_test(test_key_ids_follow_their_rules),
    cmocka_unit_test(test_intents_checked_by_kind),
};
CR_TEST_MAIN(tests)
