/* api_doc (apis/doc.h): which kinds have a typed document, and how each is
 * decoded once for every reader (strict with a lenient fallback for what
 * people write, open for what programs write). */
#include "test/lib/cr_test.h"

#include <string.h>

#include "apis/doc.h"
#include "apis/intent.h"
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
    };
    static const api_key_kind untyped[] = {
        API_KEY_UNKNOWN, API_KEY_HISTORY_TASK, API_KEY_HISTORY_DEPLOY, API_KEY_HISTORY_REQUEST,
        API_KEY_AGENT,   API_KEY_RACK,         API_KEY_FRAMEWORK,      API_KEY_LEADER,
    };
    char *error = NULL;
    json_t *j = cr_test_json("{}");

    for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++)
        assert_true(api_doc_typed(typed[i]));
    for (size_t i = 0; i < sizeof(untyped) / sizeof(untyped[0]); i++) {
        assert_false(api_doc_typed(untyped[i]));
        assert_null(api_doc_decode(untyped[i], j, &error));
        assert_null(error);
    }
    assert_false(api_doc_typed(API_KEY__COUNT));
    assert_false(api_doc_typed((api_key_kind)-1));
    api_doc_free(API_KEY_JOB_STATUS, NULL);
    json_decref(j);
}

/* Decodes text as kind; returns the document, *error set as api_doc does. */
static void *decode(api_key_kind kind, const char *text, char **error)
{
    json_t *j = cr_test_json(text);
    void *doc = api_doc_decode(kind, j, error);
    json_decref(j);
    return doc;
}

static void test_statuses(void **state)
{
    char *error = NULL;
    api_job_status *js = decode(API_KEY_JOB_STATUS,
                                "{\"requestId\":\"j\",\"nextFireAt\":5,\"newer\":1,"
                                "\"lastRun\":{\"taskId\":\"t\",\"state\":\"TASK_FAILED\"}}",
                                &error);
    assert_non_null(js);
    assert_null(error);
    assert_int_equal(js->nextFireAt, 5);
    assert_int_equal(js->lastRun.state, API_TASK_FAILED);
    api_doc_free(API_KEY_JOB_STATUS, js);

    assert_null(decode(API_KEY_JOB_STATUS, "{\"nextFireAt\":\"soon\"}", &error));
    assert_non_null(strstr(error, "nextFireAt: must be an integer"));
    free(error);

    api_run_status *rs =
        decode(API_KEY_RUN_STATUS, "{\"runId\":\"r\",\"state\":\"QUEUED\"}", &error);
    assert_non_null(rs);
    assert_null(error);
    assert_string_equal(rs->state, API_RUN_STATE_QUEUED);
    api_doc_free(API_KEY_RUN_STATUS, rs);
    assert_null(decode(API_KEY_RUN_STATUS, "{\"state\":\"QUEUED\"}", &error));
    assert_non_null(strstr(error, "runId: is required"));
    free(error);

    api_place_reason *pr = decode(API_KEY_PENDING_STATUS, "{\"reason\":\"X\",\"since\":1}", &error);
    assert_non_null(pr);
    assert_null(error);
    assert_string_equal(pr->reason, "X");
    api_doc_free(API_KEY_PENDING_STATUS, pr);
    assert_null(decode(API_KEY_PENDING_STATUS, "{\"reason\":\"\"}", &error));
    assert_non_null(strstr(error, "reason: must not be empty"));
    free(error);
}

/* People write runs: a document with problems is still decoded leniently,
 * and the strict problems come with it; one of the wrong shape is not. */
static void test_runs(void **state)
{
    char *error = NULL;
    api_run *r = decode(API_KEY_RUN, "{\"runId\":\"r\",\"runAt\":9}", &error);
    assert_non_null(r);
    assert_null(error);
    api_doc_free(API_KEY_RUN, r);

    r = decode(API_KEY_RUN, "{\"runId\":\"r\",\"colour\":\"red\",\"runAt\":-1}", &error);
    assert_non_null(r);
    assert_non_null(error);
    assert_non_null(strstr(error, "colour: unknown field"));
    assert_int_equal(r->runAt, -1);
    free(error);
    api_doc_free(API_KEY_RUN, r);

    assert_null(decode(API_KEY_RUN, "{\"runAt\":\"soon\"}", &error));
    assert_non_null(strstr(error, "runAt: must be an integer"));
    free(error);
}

/* The API writes intents; fields a newer API adds are kept, not errors. */
static void test_intents(void **state)
{
    static const api_key_kind kinds[] = {API_KEY_INTENT_REQUEST, API_KEY_INTENT_DEPLOY,
                                         API_KEY_INTENT_AGENT, API_KEY_INTENT_RACK};
    char *error = NULL;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        api_intent *in = decode(kinds[i],
                                "{\"timestamp\":7,\"targetActiveInstances\":2,"
                                "\"state\":\"FROZEN\",\"novel\":true}",
                                &error);
        assert_non_null(in);
        assert_null(error);
        assert_int_equal(in->timestamp, 7);
        assert_int_equal(in->targetActiveInstances, 2);
        assert_true(json_is_true(json_object_get(in->extra, "novel")));
        api_doc_free(kinds[i], in);

        assert_null(decode(kinds[i], "{\"timestamp\":\"now\"}", &error));
        assert_non_null(strstr(error, "timestamp: must be an integer"));
        free(error);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_typed),
    cmocka_unit_test(test_statuses),
    cmocka_unit_test(test_runs),
    cmocka_unit_test(test_intents),
};
CR_TEST_MAIN(tests)
