#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <string.h>

#include "apis/status.h"
#include "base/xalloc.h"

static void test_enum_names(void **state)
{
    assert_string_equal(api_request_state_name(API_RSTATE_SYSTEM_COOLDOWN), "SYSTEM_COOLDOWN");
    assert_int_equal(api_request_state_parse("PAUSED"), API_RSTATE_PAUSED);
    assert_int_equal(api_request_state_parse("paused"), API_RSTATE_UNSET);
    assert_null(api_request_state_name(API_RSTATE_UNSET));
    assert_null(api_request_state_name((api_request_state)99));
    assert_string_equal(api_deploy_state_name(API_DSTATE_SUPERSEDED), "SUPERSEDED");
    assert_int_equal(api_deploy_state_parse("OVERDUE"), API_DSTATE_OVERDUE);
    assert_false(api_deploy_state_terminal(API_DSTATE_WAITING));
    assert_false(api_deploy_state_terminal(API_DSTATE_CANCELING));
    assert_true(api_deploy_state_terminal(API_DSTATE_CANCELED));
    assert_true(api_deploy_state_failed(API_DSTATE_OVERDUE));
    assert_false(api_deploy_state_failed(API_DSTATE_CANCELED));
    assert_string_equal(api_deploy_failure_reason_name(API_DFAIL_TASK_FAILED_HEALTH_CHECKS),
                        "TASK_FAILED_HEALTH_CHECKS");
    assert_int_equal(api_deploy_failure_reason_parse("DEPLOY_OVERDUE"), API_DFAIL_DEPLOY_OVERDUE);
    assert_string_equal(api_cond_status_name(API_COND_FALSE), "False");
}

/* lastTransitionTime moves only when status changes; reason/message edits
 * still report a change; an identical set reports none. */
static void test_conditions_set(void **state)
{
    api_conditions cs = {0};

    assert_true(api_conditions_set(&cs, "Ready", API_COND_FALSE, "Scaling", "1/3", 100));
    assert_false(api_conditions_set(&cs, "Ready", API_COND_FALSE, "Scaling", "1/3", 200));
    assert_true(api_conditions_set(&cs, "Ready", API_COND_FALSE, "Scaling", "2/3", 300));
    assert_int_equal(api_conditions_get(&cs, "Ready")->lastTransitionTime, 100);
    assert_true(api_conditions_set(&cs, "Ready", API_COND_TRUE, "AllTasksHealthy", NULL, 400));
    const api_condition *c = api_conditions_get(&cs, "Ready");
    assert_int_equal(c->lastTransitionTime, 400);
    assert_null(c->message);
    assert_string_equal(c->reason, "AllTasksHealthy");
    assert_true(api_conditions_set(&cs, "Valid", API_COND_TRUE, "Valid", NULL, 500));
    assert_int_equal(cs.n, 2);
    assert_null(api_conditions_get(&cs, "Nope"));
    api_conditions_release(&cs);
    api_conditions_release(&cs); /* released twice is harmless */
}

static void test_request_status_round_trip(void **state)
{
    api_request_status s = {0}, back = {0}, copy = {0};
    api_problems probs = API_PROBLEMS_INIT;

    s.requestId = strdup("web");
    s.state = API_RSTATE_SYSTEM_COOLDOWN;
    s.activeDeployId = strdup("v1");
    s.pendingDeployId = strdup("v2");
    s.observedRevision = 42;
    s.counts.instances = 3;
    s.counts.healthy = 2;
    s.counts.cleaning = 1;
    api_conditions_set(&s.conditions, API_COND_READY, API_COND_FALSE, "Deploying", "v2 1/3", 7);
    s.cooldownSince = 1000;
    s.n_recentFailures = 1;
    s.recentFailures = calloc(1, sizeof(*s.recentFailures));
    s.recentFailures[0].taskId = strdup("web-v1-1-1-h-r");
    s.recentFailures[0].at = 900;
    s.bounceRequested = 5;
    s.bounceStartedAt = 950;
    s.lastBounce = 4;
    s.updatedAt = 1234;

    json_t *j = api_request_status_to_json(&s);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(text, "\"state\":\"SYSTEM_COOLDOWN\""));
    assert_non_null(strstr(text, "\"lastTransitionTime\":7"));
    assert_int_equal(api_request_status_from_json(j, &back, NULL, &probs), 0);
    assert_true(api_request_status_equal(&s, &back));
    assert_int_equal(back.updatedAt, 1234);
    assert_string_equal(back.recentFailures[0].taskId, "web-v1-1-1-h-r");

    api_request_status_copy(&copy, &s);
    assert_true(api_request_status_equal(&copy, &s));
    copy.updatedAt = 99999; /* ignored by equality */
    assert_true(api_request_status_equal(&copy, &s));
    copy.counts.healthy = 3;
    assert_false(api_request_status_equal(&copy, &s));
    copy.counts.healthy = s.counts.healthy;
    assert_true(api_request_status_equal(&copy, &s));
    /* each kind of field counts: an id, a failure, a condition's text */
    free(copy.pendingDeployId);
    copy.pendingDeployId = xstrdup("");
    assert_false(api_request_status_equal(&copy, &s) || api_request_status_equal(&s, &copy));
    free(copy.pendingDeployId);
    copy.pendingDeployId = NULL;
    assert_false(api_request_status_equal(&copy, &s));
    copy.pendingDeployId = xstrdup(s.pendingDeployId);
    copy.recentFailures[0].at++;
    assert_false(api_request_status_equal(&copy, &s));
    copy.recentFailures[0].at--;
    assert_true(api_request_status_equal(&copy, &s));
    free(copy.conditions.v[0].message);
    copy.conditions.v[0].message = xstrdup("another");
    assert_false(api_request_status_equal(&copy, &s));
    api_request_status_release(&copy);
    api_request_status_copy(&copy, &s);

    free(text);
    json_decref(j);
    api_request_status_release(&s);
    api_request_status_release(&back);
    api_request_status_release(&copy);
    api_problems_release(&probs);
}

/* A minimal document decodes; absent ids stay NULL. */
static void test_request_status_minimal(void **state)
{
    api_request_status s = {0};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"requestId\":\"a\",\"state\":\"ACTIVE\",\"futureField\":1}");

    assert_int_equal(api_request_status_from_json(j, &s, NULL, &probs), 0);
    assert_int_equal(s.state, API_RSTATE_ACTIVE);
    assert_null(s.activeDeployId);
    assert_int_equal(s.conditions.n, 0);
    json_decref(j);
    api_request_status_release(&s);
    api_problems_release(&probs);
}

/* Every bad field is reported with its path, all at once. */
static void test_request_status_bad(void **state)
{
    api_request_status s = {0};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"state\":\"SLEEPING\",\"observedRevision\":\"x\","
                      "\"counts\":{\"healthy\":-1},"
                      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"yes\"}, 3]}");

    assert_int_equal(api_request_status_from_json(j, &s, "status", &probs), 6);
    char *all = api_problems_format(&probs);
    assert_non_null(strstr(all, "status.requestId: is required"));
    assert_non_null(strstr(all, "status.state: unknown value"));
    assert_non_null(strstr(all, "status.observedRevision: must be an integer"));
    assert_non_null(strstr(all, "status.counts.healthy: must be >= 0"));
    assert_non_null(strstr(all, "status.conditions[0].status: must be True, False or Unknown"));
    assert_non_null(strstr(all, "status.conditions[1]: must be an object"));
    free(all);
    json_decref(j);
    api_request_status_release(&s);
    api_problems_release(&probs);

    j = cr_test_json("[1]");
    assert_int_equal(api_request_status_from_json(j, &s, NULL, &probs), 1);
    json_decref(j);
    api_request_status_release(&s);
    api_problems_release(&probs);
}

static void test_deploy_status(void **state)
{
    api_deploy_status s = {0}, back = {0}, copy = {0};
    api_problems probs = API_PROBLEMS_INIT;

    s.requestId = strdup("web");
    s.deployId = strdup("v2");
    s.state = API_DSTATE_FAILED;
    s.message = strdup("task web-v2-1 failed health checks");
    s.startedAt = 10;
    s.finishedAt = 20;
    s.targetActiveInstances = 2;
    s.acceptedInstances = 1;
    s.step = 2;
    s.stepStartedAt = 15;
    assert_true(
        api_deploy_status_add_failure(&s, API_DFAIL_TASK_FAILED_HEALTH_CHECKS, "t1", "503"));
    assert_false(
        api_deploy_status_add_failure(&s, API_DFAIL_TASK_FAILED_ON_STARTUP, "t1", "again"));
    assert_true(api_deploy_status_add_failure(&s, API_DFAIL_DEPLOY_OVERDUE, NULL, "late"));
    assert_int_equal(s.n_failures, 2);

    json_t *j = api_deploy_status_to_json(&s);
    assert_int_equal(api_deploy_status_from_json(j, &back, NULL, &probs), 0);
    assert_true(api_deploy_status_equal(&s, &back));
    assert_int_equal(back.failures[0].reason, API_DFAIL_TASK_FAILED_HEALTH_CHECKS);
    assert_null(back.failures[1].taskId);
    api_deploy_status_copy(&copy, &back);
    assert_true(api_deploy_status_equal(&copy, &s));
    copy.state = API_DSTATE_SUCCEEDED;
    assert_false(api_deploy_status_equal(&copy, &s));

    /* Bounded: the oldest failure makes room for the newest. */
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "x%d", i);
        api_deploy_status_add_failure(&copy, API_DFAIL_TASK_FAILED_ON_STARTUP, id, NULL);
    }
    assert_int_equal(copy.n_failures, API_STATUS_MAX_FAILURES);
    assert_string_equal(copy.failures[API_STATUS_MAX_FAILURES - 1].taskId, "x39");

    json_decref(j);
    api_deploy_status_release(&s);
    api_deploy_status_release(&back);
    api_deploy_status_release(&copy);
    api_problems_release(&probs);

    j = cr_test_json("{\"requestId\":\"r\",\"state\":\"DONE\",\"failures\":[{\"reason\":\"NOPE\"}]}");
    assert_int_equal(api_deploy_status_from_json(j, &back, NULL, &probs), 3);
    char *all = api_problems_format(&probs);
    assert_non_null(strstr(all, "deployId: is required"));
    assert_non_null(strstr(all, "failures[0].reason: unknown value"));
    free(all);
    json_decref(j);
    api_deploy_status_release(&back);
    api_problems_release(&probs);
}

/* ---- jobs and placement ------------------------------------------------------ */

/* Whether the formatted problems contain `want` ("path: message"). */
static bool has_problem(const api_problems *probs, const char *want)
{
    char *all = api_problems_format(probs);
    bool found = strstr(all, want) != NULL;
    if (!found)
        print_error("no \"%s\" in:\n%s\n", want, all);
    free(all);
    return found;
}

/* What the jobs controller writes reads back as written, every counter
 * included; copies encode the same. */
static void test_job_status_round_trip(void **state)
{
    const char *doc =
        "{\"requestId\":\"job\",\"schedule\":\"0 */5 * * * ? UTC\","
        "\"nextFireAt\":600000,\"lastFireAt\":300000,\"retries\":1,"
        "\"runsLaunched\":2,\"tasksLaunched\":4,\"runsSucceeded\":1,\"runsFailed\":0,"
        "\"missedRuns\":3,\"lastMissedAt\":0,\"lastMissedReason\":\"Overlap\","
        "\"lastRun\":{\"taskId\":\"t1\",\"deployId\":\"v1\",\"pendingType\":\"RETRY\","
        "\"fireAt\":300000,\"startedAt\":300000,\"finishedAt\":301000,"
        "\"durationMillis\":1000,\"state\":\"TASK_FAILED\",\"exitCode\":2,"
        "\"success\":false,\"retried\":true,\"attempt\":1,\"message\":\"exit 2\"}}";
    json_t *j = cr_test_json(doc), *back;
    api_job_status s, copy;
    api_problems probs = API_PROBLEMS_INIT;

    assert_int_equal(api_job_status_from_json(j, &s, NULL, &probs), 0);
    assert_int_equal(s.nextFireAt, 600000);
    assert_int_equal(s.retries, 1);
    assert_string_equal(s.lastMissedReason, "Overlap");
    assert_true(s.has_lastRun);
    assert_int_equal(s.lastRun.exitCode, 2);
    assert_true(s.lastRun.has_exitCode);
    assert_int_equal(s.lastRun.state, API_TASK_FAILED);
    back = api_job_status_to_json(&s);
    assert_true(json_equal(j, back));
    json_decref(back);

    api_job_status_copy(&copy, &s);
    api_job_status_release(&s);
    back = api_job_status_to_json(&copy);
    assert_true(json_equal(j, back));
    json_decref(back);
    api_job_status_release(&copy);
    json_decref(j);

    /* TASK_LAUNCHED is the enum's 0: still written; NONE is not. */
    api_job_status_init(&s);
    assert_int_equal(s.lastRun.state, API_TASK_STATE_NONE);
    s.has_lastRun = true;
    s.lastRun.taskId = strdup("t2");
    back = api_job_status_to_json(&s);
    assert_null(json_object_get(json_object_get(back, "lastRun"), "state"));
    assert_int_equal(json_integer_value(json_object_get(back, "nextFireAt")), 0);
    json_decref(back);
    s.lastRun.state = API_TASK_LAUNCHED;
    back = api_job_status_to_json(&s);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(back, "lastRun"), "state")),
        "TASK_LAUNCHED");
    api_job_status_release(&s);
    assert_int_equal(api_job_status_from_json(back, &s, NULL, &probs), 0);
    assert_int_equal(s.lastRun.state, API_TASK_LAUNCHED);
    json_decref(back);
    api_job_status_release(&s);

    /* No lastRun yet: none written. */
    j = cr_test_json("{\"requestId\":\"job\"}");
    assert_int_equal(api_job_status_from_json(j, &s, NULL, &probs), 0);
    assert_false(s.has_lastRun);
    back = api_job_status_to_json(&s);
    assert_null(json_object_get(back, "lastRun"));
    assert_int_equal(json_integer_value(json_object_get(back, "missedRuns")), 0);
    json_decref(back);
    json_decref(j);
    api_job_status_release(&s);
    assert_int_equal(probs.n, 0);
    api_problems_release(&probs);
}

/* A newer leader's fields are kept and written back, nested ones too. */
static void test_job_status_unknown_fields(void **state)
{
    json_t *j = cr_test_json("{\"requestId\":\"job\",\"nextFireAt\":5,\"futureField\":{\"a\":1},"
                             "\"lastRun\":{\"taskId\":\"t\",\"state\":\"TASK_FINISHED\","
                             "\"newer\":true}}");
    api_job_status s, copy;
    api_problems probs = API_PROBLEMS_INIT;

    assert_int_equal(api_job_status_from_json(j, &s, NULL, &probs), 0);
    api_job_status_copy(&copy, &s);
    json_t *back = api_job_status_to_json(&copy);
    assert_true(
        json_equal(json_object_get(back, "futureField"), json_object_get(j, "futureField")));
    assert_true(json_is_true(json_object_get(json_object_get(back, "lastRun"), "newer")));
    json_decref(back);
    json_decref(j);
    api_job_status_release(&s);
    api_job_status_release(&copy);
    api_problems_release(&probs);
}

/* Every bad field is reported with its path. */
static void test_job_status_bad(void **state)
{
    json_t *j = cr_test_json("{\"nextFireAt\":\"soon\",\"retries\":1.5,"
                             "\"lastRun\":{\"taskId\":\"t\",\"state\":\"TASK_BORED\","
                             "\"exitCode\":\"x\"}}");
    api_job_status s;
    api_problems probs = API_PROBLEMS_INIT;

    assert_int_equal(api_job_status_from_json(j, &s, "job", &probs), 4);
    assert_true(has_problem(&probs, "job.nextFireAt: must be an integer, not a string"));
    assert_true(has_problem(&probs, "job.retries: must be an integer, not a number"));
    assert_true(has_problem(&probs, "job.lastRun.state: must be one of TASK_LAUNCHED, "));
    assert_true(has_problem(&probs, "job.lastRun.exitCode: must be an integer"));
    json_decref(j);
    api_job_status_release(&s);
    api_problems_release(&probs);

    j = cr_test_json("{\"lastRun\":3}");
    assert_int_equal(api_job_status_from_json(j, &s, NULL, &probs), 1);
    assert_true(has_problem(&probs, "lastRun: must be an object, not an integer"));
    json_decref(j);
    api_job_status_release(&s);
    api_problems_release(&probs);

    j = cr_test_json("[1]");
    assert_int_equal(api_job_status_from_json(j, &s, NULL, &probs), 1);
    assert_true(has_problem(&probs, "must be an object"));
    json_decref(j);
    api_job_status_release(&s);
    api_problems_release(&probs);
}

static void test_run_status(void **state)
{
    const char *doc = "{\"requestId\":\"job\",\"runId\":\"r1\",\"state\":\"SUCCEEDED\","
                      "\"taskId\":\"t9\",\"retries\":0,\"queuedAt\":5,\"message\":\"finished\","
                      "\"result\":{\"taskId\":\"t9\",\"fireAt\":5,\"startedAt\":5,"
                      "\"finishedAt\":9,\"durationMillis\":4,\"state\":\"TASK_FINISHED\","
                      "\"exitCode\":0,\"success\":true,\"retried\":false,\"attempt\":1}}";
    json_t *j = cr_test_json(doc), *back;
    api_run_status s, copy;
    api_problems probs = API_PROBLEMS_INIT;

    assert_int_equal(api_run_status_from_json(j, &s, NULL, &probs), 0);
    assert_string_equal(s.state, API_RUN_STATE_SUCCEEDED);
    assert_true(s.has_result && s.result.success);
    assert_int_equal(s.result.state, API_TASK_FINISHED);
    api_run_status_copy(&copy, &s);
    back = api_run_status_to_json(&copy);
    assert_true(json_equal(j, back));
    json_decref(back);
    api_run_status_release(&s);
    api_run_status_release(&copy);
    json_decref(j);

    /* Unknown fields are kept. */
    j = cr_test_json("{\"runId\":\"r2\",\"state\":\"QUEUED\",\"retries\":0,\"queuedAt\":1,"
                     "\"priority\":\"high\"}");
    assert_int_equal(api_run_status_from_json(j, &s, NULL, &probs), 0);
    assert_false(s.has_result);
    back = api_run_status_to_json(&s);
    assert_true(json_equal(j, back));
    json_decref(back);
    json_decref(j);
    api_run_status_release(&s);

    j = cr_test_json("{\"state\":\"QUEUED\"}");
    assert_int_equal(api_run_status_from_json(j, &s, "runs[0]", &probs), 1);
    assert_true(has_problem(&probs, "runs[0].runId: is required"));
    json_decref(j);
    api_run_status_release(&s);
    api_problems_release(&probs);

    j = cr_test_json("{\"runId\":3,\"queuedAt\":\"x\",\"result\":{\"state\":\"DONE\"}}");
    assert_int_equal(api_run_status_from_json(j, &s, NULL, &probs), 3);
    assert_true(has_problem(&probs, "runId: must be a string, not an integer"));
    assert_true(has_problem(&probs, "queuedAt: must be an integer, not a string"));
    assert_true(has_problem(&probs, "result.state: must be one of "));
    json_decref(j);
    api_run_status_release(&s);
    api_problems_release(&probs);
}

static void test_place_reason(void **state)
{
    /* the first document is split over two lines (one literal) */
    static const char first[] =
        "{\"reason\":\"NOT_ENOUGH_RESOURCES\",\"message\":\"needs cpus 3, largest offer has 2\","
        "\"since\":5,\"offers\":2}";
    static const char *const good[] = {
        first,
        "{\"reason\":\"RACK_SATURATED\"}",
        "{\"reason\":\"AGENT_ALREADY_USED\",\"offers\":0,\"agent\":\"a1\"}", /* unknown: kept */
    };
    api_place_reason r;
    api_problems probs = API_PROBLEMS_INIT;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *j = cr_test_json(good[i]), *back;
        assert_int_equal(api_place_reason_from_json(j, &r, NULL, &probs), 0);
        back = api_place_reason_to_json(&r);
        assert_true(json_equal(j, back));
        json_decref(back);
        json_decref(j);
        if (i == 0) {
            assert_string_equal(r.reason, "NOT_ENOUGH_RESOURCES");
            assert_string_equal(r.message, "needs cpus 3, largest offer has 2");
            assert_true(r.has_since && r.since == 5 && r.offers == 2);
        } else if (i == 1) {
            assert_null(r.message);
            assert_false(r.has_since);
        }
        api_place_reason_release(&r);
    }

    static const struct {
        const char *doc, *problem;
    } bad[] = {
        {"[]", "must be an object"},
        {"{}", "why.reason: is required"},
        {"{\"reason\":null}", "why.reason: is required"},
        {"{\"reason\":3}", "why.reason: must be a string, not an integer"},
        {"{\"reason\":\"\"}", "why.reason: must not be empty"},
        {"{\"reason\":\"X\",\"since\":\"now\"}", "why.since: must be an integer, not a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = cr_test_json(bad[i].doc);
        assert_int_equal(api_place_reason_from_json(j, &r, "why", &probs), 1);
        assert_true(has_problem(&probs, bad[i].problem));
        api_place_reason_release(&r);
        api_problems_release(&probs);
        json_decref(j);
    }
    api_place_reason_release(&r); /* released twice is harmless */
}

static void test_keys(void **state)
{
    char *k = api_request_status_key("/corral", "web");
    assert_string_equal(k, "/corral/status/requests/web");
    free(k);
    k = api_deploy_status_key("/corral", "web", "v1");
    assert_string_equal(k, "/corral/status/deploys/web/v1");
    free(k);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_enum_names),
    cmocka_unit_test(test_conditions_set),
    cmocka_unit_test(test_request_status_round_trip),
    cmocka_unit_test(test_request_status_minimal),
    cmocka_unit_test(test_request_status_bad),
    cmocka_unit_test(test_deploy_status),
    cmocka_unit_test(test_job_status_round_trip),
    cmocka_unit_test(test_job_status_unknown_fields),
    cmocka_unit_test(test_job_status_bad),
    cmocka_unit_test(test_run_status),
    cmocka_unit_test(test_place_reason),
    cmocka_unit_test(test_keys),
};
CR_TEST_MAIN(tests)
