/* Documents -> plan views, and plan -> etcd operations. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "base/xalloc.h"
#include "controllers/view.h"

static api_request *request(const char *text)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json(text);
    api_request *r = api_request_from_json(j, NULL, &probs);
    if (!r)
        fail_msg("%s", api_problems_format(&probs));
    json_decref(j);
    api_problems_release(&probs);
    return r;
}

static api_deploy *deploy(const char *text)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json(text);
    api_deploy *d = api_deploy_from_json(j, NULL, &probs);
    if (!d)
        fail_msg("%s", api_problems_format(&probs));
    json_decref(j);
    api_problems_release(&probs);
    return d;
}

static void test_request_view(void **state)
{
    ctl_request v;
    ctl_request_intents in = {.paused = true, .bounce = 77, .exit_cooldown = 5};
    api_request *r = request("{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":3}");

    ctl_request_view(r, NULL, 12, &in, &v);
    assert_string_equal(v.id, "web");
    assert_int_equal(v.instances, 3);
    assert_true(v.paused);
    assert_int_equal(v.bounce, 77);
    assert_int_equal(v.exit_cooldown, 5);
    assert_int_equal(v.revision, 12);
    assert_null(v.invalid);
    api_request_free(r);

    r = request("{\"id\":\"w\",\"requestType\":\"WORKER\"}");
    ctl_request_view(r, NULL, 1, NULL, &v);
    assert_int_equal(v.instances, 1); /* Singularity's default */
    assert_null(v.invalid);
    api_request_free(r);

    r = request("{\"id\":\"cron\",\"requestType\":\"SCHEDULED\",\"schedule\":\"0 * * * *\"}");
    ctl_request_view(r, NULL, 1, NULL, &v);
    assert_non_null(v.invalid);
    api_request_free(r);

    ctl_request_view(NULL, "requestType: unknown value", 3, NULL, &v);
    assert_string_equal(v.invalid, "requestType: unknown value");
    ctl_request_view(NULL, NULL, 3, NULL, &v);
    assert_non_null(v.invalid);
}

static void test_deploy_view(void **state)
{
    ctl_deploy v;
    ctl_hc_opts hc;
    char *problems;
    ctl_deploy_intents in = {.cancel = true, .target_instances = 2};
    api_request *r = request("{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":3}");
    api_deploy *d = deploy(
        "{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"./run\",\"resources\":{\"numPorts\":1},"
        "\"healthcheck\":{\"uri\":\"/health\",\"maxRetries\":1},"
        "\"deployInstanceCountPerStep\":2,\"deployStepWaitTimeMs\":1000,"
        "\"autoAdvanceDeploySteps\":false,\"deployHealthTimeoutSeconds\":30}");

    ctl_deploy_view(d, NULL, r, 40, &in, &v, &hc, &problems);
    assert_null(problems);
    assert_null(v.invalid);
    assert_string_equal(v.id, "v2");
    assert_int_equal(v.revision, 40);
    assert_int_equal(v.step_size, 2);
    assert_int_equal(v.step_wait_ms, 1000);
    assert_false(v.auto_advance);
    assert_int_equal(v.health_timeout_ms, 30000);
    assert_int_equal(v.healthy_after_ms, 5000);
    assert_true(v.http_check);
    assert_int_equal(v.check_budget_ms, 45000 + 10000 * 2);
    assert_int_equal(hc.max_retries, 1);
    assert_true(v.cancel);
    assert_int_equal(v.target_override, 2);
    api_deploy_free(d);

    /* Canary settings win over the deprecated step fields. */
    d = deploy(
        "{\"requestId\":\"web\",\"id\":\"v3\",\"command\":\"./run\",\"resources\":{\"numPorts\":1},"
        "\"skipHealthchecksOnDeploy\":true,\"healthcheck\":{\"uri\":\"/h\"},"
        "\"canaryDeploySettings\":{\"enableCanaryDeploy\":true,\"instanceGroupSize\":1,"
        "\"acceptanceMode\":\"TIMED\",\"waitMillisBetweenGroups\":500,"
        "\"allowedTasksFailuresPerGroup\":2}}");
    ctl_deploy_view(d, NULL, r, 41, NULL, &v, NULL, &problems);
    assert_null(v.invalid);
    assert_int_equal(v.step_size, 1);
    assert_int_equal(v.step_wait_ms, 500);
    assert_true(v.auto_advance);
    assert_int_equal(v.max_task_retries, 2);
    assert_false(v.http_check); /* skipped on deploy */
    api_deploy_free(d);

    /* A deploy that does not match its request is invalid, with reasons. */
    d = deploy("{\"requestId\":\"other\",\"id\":\"v4\",\"command\":\"./run\"}");
    ctl_deploy_view(d, NULL, r, 42, NULL, &v, NULL, &problems);
    assert_non_null(problems);
    assert_ptr_equal(v.invalid, problems);
    free(problems);
    api_deploy_free(d);

    ctl_deploy_view(NULL, NULL, r, 43, NULL, &v, NULL, &problems);
    assert_null(v.id);
    assert_non_null(v.invalid);
    api_request_free(r);
}

static void test_task_views(void **state)
{
    api_task t = {0};
    api_task_update ups[2] = {{0}};
    api_pending_task p = {0};
    ctl_task v;
    cr_err err;

    assert_int_equal(api_task_id_init(&t.taskId, "web", "v1", 1000, 2, "h-1", "r1", &err), 0);
    t.lastTaskState = API_TASK_RUNNING;
    t.launchedAt = 1000;
    t.statusReason = "REASON_X";
    ups[0].taskState = API_TASK_STARTING;
    ups[0].timestamp = 1100;
    ups[1].taskState = API_TASK_RUNNING;
    ups[1].timestamp = 1200;
    t.taskUpdates = ups;
    t.n_taskUpdates = 2;
    ctl_task_view(&t, true, CTL_HEALTH_HEALTHY, &v);
    assert_string_equal(v.id, t.taskId.id);
    assert_string_equal(v.deploy_id, "v1");
    assert_int_equal(v.instance, 2);
    assert_false(v.pending);
    assert_int_equal(v.running_at, 1200);
    assert_true(v.cleaning);
    assert_int_equal(v.health, CTL_HEALTH_HEALTHY);
    assert_string_equal(v.reason, "REASON_X");
    api_task_id_release(&t.taskId);

    assert_int_equal(
        api_pending_task_id_init(&p.pendingTaskId, "web", "v1", 500, 3, "TASK_DONE", 400, &err), 0);
    ctl_pending_view(&p, &v);
    assert_true(v.pending);
    assert_int_equal(v.instance, 3);
    assert_int_equal(v.launched_at, 400);
    api_pending_task_release(&p);
}

static const char *lookup_task(void *arg, const char *task_id, int64_t *rev)
{
    *rev = 55;
    return strcmp(task_id, "web-v1-1000-1-h-r") == 0 ? "{\"record\":1}" : NULL;
}

static ctl_action act(ctl_action_type type, const char *task, const char *deploy, int inst,
                      const char *type_name)
{
    ctl_action a = {0};
    a.type = type;
    a.task_id = xstrdup(task);
    a.deploy_id = xstrdup(deploy);
    a.instance = inst;
    if (type == CTL_ACT_LAUNCH)
        a.pending_type = type_name;
    else
        a.cleanup_type = type_name;
    return a;
}

static int64_t status_revision(void *arg, const char *key)
{
    return strcmp(key, "/corral/status/requests/web") ? 0 : 77;
}

static void test_plan_ops(void **state)
{
    ctl_plan p = {0};
    ctl_ops ops = {0};
    ctl_doc_lookup look = {lookup_task, NULL};
    api_problems probs = API_PROBLEMS_INIT;
    cr_err err;

    p.n_actions = 5;
    p.actions = xcalloc(5, sizeof(*p.actions));
    p.actions[0] = act(CTL_ACT_LAUNCH, NULL, "v1", 2, "TASK_DONE");
    p.actions[0].run_at = 3000;
    p.actions[1] = act(CTL_ACT_KILL, "web-v1-1000-3-h-r", NULL, 0, "SCALING_DOWN");
    p.actions[2] = act(CTL_ACT_UNPEND, "web-v1-9-4-TASK_DONE-9", NULL, 0, "PAUSE");
    p.actions[3] = act(CTL_ACT_ARCHIVE, "web-v1-1000-1-h-r", NULL, 0, NULL);
    p.actions[4] = act(CTL_ACT_FORGET, "old", NULL, 0, NULL);
    p.status.requestId = xstrdup("web");
    p.status.state = API_RSTATE_ACTIVE;
    p.status_changed = true;
    p.n_deploys = 2;
    p.deploys = xcalloc(2, sizeof(*p.deploys));
    p.deploys[0].status.requestId = xstrdup("web");
    p.deploys[0].status.deployId = xstrdup("v1");
    p.deploys[0].status.state = API_DSTATE_SUCCEEDED;
    p.deploys[0].changed = true;
    p.deploys[1].status.requestId = xstrdup("web");
    p.deploys[1].status.deployId = xstrdup("v0");

    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 2000, &ops, &err), 0);
    assert_int_equal(ops.n, 9);
    /* LAUNCH: a pending task created only if absent, at nextRunAt 3000. */
    assert_int_equal(ops.v[0].type, CTL_OP_CREATE);
    assert_string_equal(ops.v[0].key, "/corral/pending/web/web-v1-3000-2-TASK_DONE-2000");
    json_t *j = cr_test_json(ops.v[0].value);
    api_pending_task *pt = api_pending_task_from_json(j, NULL, &probs);
    assert_non_null(pt);
    assert_int_equal(pt->pendingTaskId.instanceNo, 2);
    assert_int_equal(pt->pendingTaskId.nextRunAt, 3000);
    api_pending_task_free(pt);
    json_decref(j);
    /* KILL: a cleanup document. */
    assert_string_equal(ops.v[1].key, "/corral/cleanups/web-v1-1000-3-h-r");
    j = cr_test_json(ops.v[1].value);
    api_cleanup *cl = api_cleanup_from_json(j, NULL, &probs);
    assert_non_null(cl);
    assert_string_equal(cl->cleanupType, "SCALING_DOWN");
    assert_int_equal(cl->timestamp, 2000);
    api_cleanup_free(cl);
    json_decref(j);
    /* UNPEND */
    assert_int_equal(ops.v[2].type, CTL_OP_DELETE);
    assert_string_equal(ops.v[2].key, "/corral/pending/web/web-v1-9-4-TASK_DONE-9");
    /* ARCHIVE: history put + task delete at its revision + cleanup delete, one group. */
    assert_string_equal(ops.v[3].key, "/corral/history/tasks/web/web-v1-1000-1-h-r");
    assert_string_equal(ops.v[3].value, "{\"record\":1}");
    assert_string_equal(ops.v[4].key, "/corral/tasks/web/web-v1-1000-1-h-r");
    assert_int_equal(ops.v[4].mod_revision, 55);
    assert_string_equal(ops.v[5].key, "/corral/cleanups/web-v1-1000-1-h-r");
    assert_int_equal(ops.v[3].group, ops.v[5].group);
    assert_true(ops.v[2].group != ops.v[3].group);
    /* FORGET, then only the changed deploy status, then the request status. */
    assert_string_equal(ops.v[6].key, "/corral/history/tasks/web/old");
    assert_string_equal(ops.v[7].key, "/corral/status/deploys/web/v1");
    assert_string_equal(ops.v[8].key, "/corral/status/requests/web");
    assert_non_null(strstr(ops.v[8].value, "\"state\":\"ACTIVE\""));
    /* no revision lookup: the statuses are written unconditionally */
    assert_int_equal(ops.v[7].type, CTL_OP_PUT);
    assert_int_equal(ops.v[7].mod_revision, 0);
    ctl_ops_release(&ops);

    /* with one: over the status the plan read, or only if there is none */
    look.revision = status_revision; /* called with look.arg */
    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 2000, &ops, &err), 0);
    assert_int_equal(ops.n, 9);
    assert_int_equal(ops.v[7].type, CTL_OP_CREATE); /* status/deploys/web/v1: none yet */
    assert_int_equal(ops.v[8].type, CTL_OP_PUT);
    assert_int_equal(ops.v[8].mod_revision, 77);
    ctl_ops_release(&ops);

    /* A task id that does not parse: error, nothing appended. */
    free(p.actions[1].task_id);
    p.actions[1].task_id = xstrdup("garbage");
    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 2000, &ops, &err), -1);
    assert_int_equal(ops.n, 0);
    assert_non_null(strstr(cr_err_msg(&err), "request 'web'"));

    ctl_plan_release(&p);
    api_problems_release(&probs);
}

/* Issue 20: the documents EXPIRE, UNPAUSE and APPLY_REQUEST read. */
typedef struct fake_docs {
    json_t *request, *submit;
} fake_docs;

static const json_t *lookup_doc(void *arg, const char *key, int64_t *rev)
{
    fake_docs *d = arg;
    if (strcmp(key, "/corral/requests/web") == 0) {
        *rev = 70;
        return d->request;
    }
    if (strcmp(key, "/corral/intents/deploys/web/v2/submit") == 0) {
        *rev = 71;
        return d->submit;
    }
    return NULL;
}

static void test_request_action_ops(void **state)
{
    fake_docs docs = {cr_test_json("{\"id\":\"web\",\"instances\":3,\"skipHealthchecks\":true}"),
                      cr_test_json("{\"updatedRequest\":{\"id\":\"web\",\"instances\":5}}")};
    ctl_doc_lookup look = {lookup_task, NULL, lookup_doc, &docs};
    ctl_plan p = {0};
    ctl_ops ops = {0};
    cr_err err;

    p.n_actions = 5;
    p.actions = xcalloc(5, sizeof(*p.actions));
    p.actions[0] = (ctl_action){.type = CTL_ACT_EXPIRE,
                                .intent = "scale",
                                .intent_revision = 60,
                                .revert_instances = 1,
                                .then_bounce = true};
    p.actions[1] = (ctl_action){.type = CTL_ACT_EXPIRE,
                                .intent = "skip-healthchecks",
                                .intent_revision = 61,
                                .revert_skip = false};
    p.actions[2] = (ctl_action){.type = CTL_ACT_EXPIRE, .intent = "pause", .intent_revision = 62};
    p.actions[3] = (ctl_action){.type = CTL_ACT_UNPAUSE, .intent = "pause", .intent_revision = 63};
    p.actions[4] = (ctl_action){.type = CTL_ACT_APPLY_REQUEST, .deploy_id = xstrdup("v2")};
    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 5000, &ops, &err), 0);
    assert_int_equal(ops.n, 9);
    /* scale: the request with the old count, at its revision; the intent
     * deleted at its own; a new bounce intent; one group. */
    assert_int_equal(ops.v[0].type, CTL_OP_PUT);
    assert_string_equal(ops.v[0].key, "/corral/requests/web");
    assert_int_equal(ops.v[0].mod_revision, 70);
    assert_non_null(strstr(ops.v[0].value, "\"instances\":1"));
    assert_int_equal(ops.v[1].type, CTL_OP_DELETE);
    assert_string_equal(ops.v[1].key, "/corral/intents/requests/web/scale");
    assert_int_equal(ops.v[1].mod_revision, 60);
    assert_string_equal(ops.v[2].key, "/corral/intents/requests/web/bounce");
    assert_non_null(strstr(ops.v[2].value, "\"timestamp\":5000"));
    assert_int_equal(ops.v[0].group, ops.v[2].group);
    /* skip-healthchecks: the request with the old value. */
    assert_non_null(strstr(ops.v[3].value, "\"skipHealthchecks\":false"));
    assert_string_equal(ops.v[4].key, "/corral/intents/requests/web/skip-healthchecks");
    /* pause expired, unpause: the pause intent goes, at its revision. */
    assert_string_equal(ops.v[5].key, "/corral/intents/requests/web/pause");
    assert_int_equal(ops.v[5].mod_revision, 62);
    assert_int_equal(ops.v[6].type, CTL_OP_DELETE);
    assert_int_equal(ops.v[6].mod_revision, 63);
    /* updatedRequest: written as the request; an expiring scale goes. */
    assert_string_equal(ops.v[7].key, "/corral/requests/web");
    assert_string_equal(ops.v[7].value, "{\"id\":\"web\",\"instances\":5}");
    assert_string_equal(ops.v[8].key, "/corral/intents/requests/web/scale");
    ctl_ops_release(&ops);

    /* Without the documents (no lookup): only the intents are deleted. */
    look.doc = NULL;
    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 5000, &ops, &err), 0);
    assert_int_equal(ops.n, 4);
    for (size_t i = 0; i < ops.n; i++)
        assert_int_equal(ops.v[i].type, CTL_OP_DELETE);
    ctl_ops_release(&ops);
    ctl_plan_release(&p);

    /* A hand-over (UNPAUSE, APPLY_REQUEST) shares the statuses' group, after
     * every other action, whatever its place in the plan: all of it lands or
     * none does. */
    look.doc = lookup_doc;
    p = (ctl_plan){0};
    p.n_actions = 3;
    p.actions = xcalloc(3, sizeof(*p.actions));
    p.actions[0] = (ctl_action){.type = CTL_ACT_APPLY_REQUEST, .deploy_id = xstrdup("v2")};
    p.actions[1] = (ctl_action){.type = CTL_ACT_UNPAUSE, .intent = "pause", .intent_revision = 63};
    p.actions[2] = (ctl_action){.type = CTL_ACT_EXPIRE, .intent = "pause", .intent_revision = 62};
    p.status_changed = true;
    assert_int_equal(ctl_plan_ops("/corral", "web", &p, &look, 5000, &ops, &err), 0);
    assert_int_equal(ops.n, 5);
    assert_int_equal(ops.v[0].mod_revision, 62); /* the expiry, alone */
    assert_string_equal(ops.v[1].key, "/corral/requests/web");
    assert_string_equal(ops.v[2].key, "/corral/intents/requests/web/scale");
    assert_int_equal(ops.v[3].mod_revision, 63);
    assert_string_equal(ops.v[4].key, "/corral/status/requests/web");
    assert_true(ops.v[0].group < ops.v[1].group);
    for (size_t i = 2; i < ops.n; i++)
        assert_int_equal(ops.v[i].group, ops.v[1].group);
    ctl_ops_release(&ops);
    ctl_plan_release(&p);
    json_decref(docs.request);
    json_decref(docs.submit);
}

static void count_written(void *arg, const store_result *res, const cr_err *err)
{
    ((int *)arg)[0]++;
}

static void count_drop(void *arg)
{
    ((int *)arg)[1]++;
}

/* Groups number on from the last operation's; a hook never handed to a
 * write is dropped once when the operations are released, never written. */
static void test_ops_groups_and_hooks(void **state)
{
    ctl_ops ops = {0};
    int a[2] = {0, 0}, b[2] = {0, 0};

    (void)state;
    assert_int_equal(ctl_ops_next_group(&ops), 0);
    ctl_ops_add(&ops, CTL_OP_PUT, xstrdup("/k1"), xstrdup("{}"), 0, ctl_ops_next_group(&ops));
    ctl_ops_add(&ops, CTL_OP_DELETE, xstrdup("/k2"), NULL, 7, 0);
    assert_int_equal(ctl_ops_next_group(&ops), 1);
    ctl_ops_then(&ops, 0, &(ctl_then){count_written, count_drop, a});
    ctl_ops_add(&ops, CTL_OP_CREATE, xstrdup("/k3"), xstrdup("{}"), 0, ctl_ops_next_group(&ops));
    ctl_ops_then(&ops, 1, &(ctl_then){count_written, count_drop, b});
    assert_int_equal(ops.n, 3);
    assert_int_equal(ops.v[1].mod_revision, 7);
    assert_int_equal(ops.v[2].group, 1);
    ctl_ops_release(&ops);
    assert_int_equal(a[0] + b[0], 0);
    assert_int_equal(a[1], 1);
    assert_int_equal(b[1], 1);
    assert_int_equal(ops.n + ops.n_then, 0);
    ctl_ops_release(&ops); /* released twice: nothing left to drop */
    assert_int_equal(a[1] + b[1], 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ops_groups_and_hooks),
    cmocka_unit_test(test_request_view),
    cmocka_unit_test(test_request_action_ops),
    cmocka_unit_test(test_deploy_view),
    cmocka_unit_test(test_task_views),
    cmocka_unit_test(test_plan_ops),
};
CR_TEST_MAIN(tests)
