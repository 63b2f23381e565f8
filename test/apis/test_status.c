#include "test/lib/cr_test.h"

#include <string.h>

#include "apis/status.h"

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
    cmocka_unit_test(test_keys),
};
CR_TEST_MAIN(tests)
