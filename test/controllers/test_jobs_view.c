/* Jobs views (documents -> plan input) and writes (plan -> etcd ops). */
#include "test/lib/cr_test.h"

#include <string.h>

#include "base/xalloc.h"
#include "controllers/jobs.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s", e.text);
    return j;
}

static void test_run_doc(void **state)
{
    json_t *j = parse("{\"runId\":\"ignored\",\"commandLineArgs\":[\"--day\",\"2\"],"
                      "\"envOverrides\":{\"MODE\":\"fast\"},\"resources\":{\"cpus\":0.5,"
                      "\"memoryMb\":128,\"numPorts\":1},\"runAt\":5000,\"message\":\"hi\","
                      "\"user\":\"ana\",\"skipHealthchecks\":true,\"requestId\":\"job\","
                      "\"timestamp\":7,\"runAsUserOverride\":\"batch\",\"extraArtifacts\":[],"
                      "\"requiredSlaveAttributeOverrides\":{\"rack\":\"r1\"},"
                      "\"allowedAgentAttributeOverrides\":{\"gpu\":\"yes\"}}");
    api_problems probs = API_PROBLEMS_INIT;
    api_run *d = api_run_from_json(j, NULL, &probs);
    ctl_jobs_run v;

    assert_non_null(d);
    ctl_jobs_run_view(d, "r7", 42, &v);
    assert_string_equal(v.id, "r7"); /* the key wins */
    assert_int_equal(v.revision, 42);
    assert_int_equal(v.run_at, 5000);
    assert_int_equal(v.args->n, 2);
    assert_string_equal(v.args->v[1], "2");
    assert_string_equal(api_strmap_get(v.env, "MODE"), "fast");
    assert_non_null(v.resources);
    assert_true(v.resources->has_cpus && v.resources->cpus == 0.5);
    assert_int_equal(v.resources->numPorts, 1);
    assert_false(v.resources->has_diskMb);
    assert_string_equal(v.user, "ana");
    assert_true(v.skip_healthchecks);
    assert_string_equal(v.run_as_user, "batch");
    assert_string_equal(api_strmap_get(v.required_attrs, "rack"), "r1");
    assert_string_equal(api_strmap_get(v.allowed_attrs, "gpu"), "yes");
    assert_int_equal(d->timestamp, 7);
    assert_string_equal(d->requestId, "job");
    api_run_free(d);
    json_decref(j);

    /* No runAt: at once. (Bad documents: test/apis/test_run.c.) */
    j = parse("{\"runId\":\"r8\"}");
    d = api_run_from_json(j, NULL, &probs);
    assert_non_null(d);
    ctl_jobs_run_view(d, NULL, 43, &v);
    assert_string_equal(v.id, "r8");
    assert_int_equal(v.run_at, 0);
    assert_null(v.resources);
    assert_false(v.skip_healthchecks);
    api_run_free(d);
    json_decref(j);
    assert_int_equal(probs.n, 0);
    api_problems_release(&probs);
}

static void test_request_view(void **state)
{
    api_request r = {0};
    ctl_jobs_request v;
    cr_err err = {0};
    api_schedule *s;

    r.id = "job";
    r.type = API_SCHEDULED;
    r.schedule = "*/5 * * * *";
    r.has_numRetriesOnFailure = true;
    r.numRetriesOnFailure = 2;
    r.has_taskExecutionTimeLimitMillis = true;
    r.taskExecutionTimeLimitMillis = 9000;
    r.has_waitAtLeastMillisAfterTaskFinishesForReschedule = true;
    r.waitAtLeastMillisAfterTaskFinishesForReschedule = 700;
    r.has_startingDeadlineSeconds = true;
    r.startingDeadlineSeconds = 30;
    s = api_schedule_for_request(&r, &err);
    assert_non_null(s);
    ctl_jobs_request_view(&r, NULL, 12, true, s, NULL, &v);
    assert_null(v.invalid);
    assert_string_equal(v.id, "job");
    assert_int_equal(v.type, API_SCHEDULED);
    assert_int_equal(v.instances, 1);
    assert_int_equal(v.num_retries, 2);
    assert_int_equal(v.time_limit_ms, 9000);
    assert_int_equal(v.wait_after_finish_ms, 700);
    assert_int_equal(v.starting_deadline_ms, 30000);
    assert_int_equal(v.revision, 12);
    assert_true(v.paused);
    assert_ptr_equal(v.schedule, s);
    api_schedule_free(s);
    json_decref(r.extra);
    r.extra = NULL;

    ctl_jobs_request_view(&r, NULL, 1, false, NULL, "schedule: field 1 (minute) \"61\": bad", &v);
    assert_string_equal(v.invalid, "schedule: field 1 (minute) \"61\": bad");
    ctl_jobs_request_view(&r, NULL, 1, false, NULL, NULL, &v);
    assert_string_equal(v.invalid, "the schedule does not parse");

    r.type = API_SERVICE;
    ctl_jobs_request_view(&r, NULL, 1, false, NULL, NULL, &v);
    assert_string_equal(v.invalid, "not a SCHEDULED, ON_DEMAND or RUN_ONCE request");

    r.type = API_ON_DEMAND;
    r.has_instances = true;
    r.instances = 3;
    ctl_jobs_request_view(&r, NULL, 1, false, NULL, NULL, &v);
    assert_null(v.invalid);
    assert_int_equal(v.instances, 3);

    ctl_jobs_request_view(NULL, "bad JSON", 1, false, NULL, NULL, &v);
    assert_string_equal(v.invalid, "bad JSON");
}

static void test_task_views(void **state)
{
    api_pending_task p = {0};
    api_task t = {0};
    api_cleanup c = {0};
    api_task_update ups[2] = {{0}};
    ctl_jobs_task v;
    cr_err err = {0};

    assert_int_equal(api_pending_task_id_init(&p.pendingTaskId, "job", "v1", 300000, 1, "TASK_DONE",
                                              300000, &err),
                     0);
    p.runId = "r1";
    ctl_jobs_pending_view(&p, &v);
    assert_true(v.pending);
    assert_string_equal(v.id, "job-v1-300000-1-TASK_DONE-300000");
    assert_string_equal(v.deploy_id, "v1");
    assert_int_equal(v.run_at, 300000);
    assert_string_equal(v.pending_type, "TASK_DONE");
    assert_string_equal(v.run_id, "r1");
    assert_ptr_equal(v.spec, &p);
    p.runId = NULL;

    assert_int_equal(api_task_id_init(&t.taskId, "job", "v1", 301000, 1, "host-1", "r1", &err), 0);
    api_pending_task_id_copy(&t.pendingTask.pendingTaskId, &p.pendingTaskId);
    t.launchedAt = 301000;
    t.lastTaskState = API_TASK_FAILED;
    t.updatedAt = 305000;
    t.has_exitCode = true;
    t.exitCode = 3;
    t.statusMessage = "exit 3";
    ups[0].taskState = API_TASK_RUNNING;
    ups[0].timestamp = 302000;
    ups[1].taskState = API_TASK_FAILED;
    ups[1].timestamp = 305000;
    t.taskUpdates = ups;
    t.n_taskUpdates = 2;
    c.cleanupType = "USER_REQUESTED";
    ctl_jobs_task_view(&t, &c, &v);
    assert_false(v.pending);
    assert_string_equal(v.id, t.taskId.id);
    assert_int_equal(v.state, API_TASK_FAILED);
    assert_int_equal(v.running_at, 302000);
    assert_int_equal(v.finished_at, 305000);
    assert_true(v.has_exit_code && v.exit_code == 3);
    assert_true(v.cleaning && v.user_killed);
    assert_int_equal(v.run_at, 300000);
    assert_string_equal(v.message, "exit 3");
    c.cleanupType = "TASK_EXCEEDED_TIME_LIMIT";
    ctl_jobs_task_view(&t, &c, &v);
    assert_true(v.cleaning);
    assert_false(v.user_killed);
    t.lastTaskState = API_TASK_RUNNING;
    ctl_jobs_task_view(&t, NULL, &v);
    assert_int_equal(v.finished_at, 0);
    assert_false(v.cleaning);

    t.taskUpdates = NULL;
    t.n_taskUpdates = 0;
    t.statusMessage = NULL;
    api_task_id_release(&t.taskId);
    api_pending_task_id_release(&t.pendingTask.pendingTaskId);
    api_pending_task_id_release(&p.pendingTaskId);
}

static const char *lookup_task(void *arg, const char *task_id, int64_t *rev)
{
    *rev = 77;
    return "{\"record\":true}";
}

/* A plan that launches, kills and archives becomes one txn group whose job
 * status write compares the revision the plan read. */
static void test_plan_ops(void **state)
{
    cr_err err = {0};
    api_schedule *s = api_schedule_parse("0 */5 * * * ?", API_SCHEDULE_QUARTZ, NULL, &err);
    ctl_jobs_request r = {.id = "job",
                          .type = API_SCHEDULED,
                          .instances = 1,
                          .schedule = s,
                          .revision = 3,
                          .time_limit_ms = 1000};
    ctl_jobs_deploy d = {.id = "v1", .revision = 1};
    char *tid = NULL, *oid = NULL;
    api_task_id id1 = {0}, id2 = {0};
    ctl_jobs_task tasks[2];
    api_job_status job = {0};
    ctl_jobs_in in = {0};
    ctl_jobs_plan_out p;
    ctl_ops ops = {0};
    ctl_doc_lookup look = {lookup_task, NULL};
    size_t i;

    assert_non_null(s);
    assert_int_equal(api_task_id_init(&id1, "job", "v1", 1000, 1, "h", "r", &err), 0);
    assert_int_equal(api_task_id_init(&id2, "job", "v1", 2000, 1, "h", "r", &err), 0);
    tid = id1.id;
    oid = id2.id;
    memset(tasks, 0, sizeof(tasks));
    /* an ended task (archive) and an overrunning one (kill) */
    tasks[0] = (ctl_jobs_task){.id = tid,
                               .deploy_id = "v1",
                               .instance = 1,
                               .state = API_TASK_FINISHED,
                               .launched_at = 1000,
                               .finished_at = 2000,
                               .pending_type = "TASK_DONE"};
    tasks[1] = (ctl_jobs_task){.id = oid,
                               .deploy_id = "v1",
                               .instance = 1,
                               .state = API_TASK_RUNNING,
                               .launched_at = 2000,
                               .pending_type = "IMMEDIATE"};
    job.requestId = "job";
    job.schedule = "0 */5 * * * ? UTC";
    job.nextFireAt = 300000;
    in.request_id = "job";
    in.request = &r;
    in.deploys = &d;
    in.n_deploys = 1;
    in.tasks = tasks;
    in.n_tasks = 2;
    in.job = &job;
    in.now = 300000;
    ctl_jobs_plan(&in, &p);
    assert_int_equal(p.n_actions, 2); /* kill (time limit), archive; the fire overlaps */
    assert_true(p.job_changed);
    assert_int_equal(ctl_jobs_plan_ops("/corral", "job", &p, &look, 55, 300000, &ops, &err), 0);
    {
        char *cleanup = api_cleanup_key("/corral", oid),
             *hist = ctl_history_task_key("/corral", "job", tid),
             *tkey = api_task_key("/corral", "job", tid);
        bool saw_kill = false, saw_hist = false, saw_del = false, saw_job = false, saw_req = false;
        for (i = 0; i < ops.n; i++) {
            const ctl_op *o = &ops.v[i];
            /* the guarded group 0: archive + the job status that records it */
            if (!strcmp(o->key, cleanup) && o->type == CTL_OP_CREATE) {
                saw_kill = o->group > 0;
                assert_non_null(strstr(o->value, "TASK_EXCEEDED_TIME_LIMIT"));
            }
            if (!strcmp(o->key, hist) && o->type == CTL_OP_PUT)
                saw_hist = !strcmp(o->value, "{\"record\":true}") && o->group == 0;
            if (!strcmp(o->key, tkey) && o->type == CTL_OP_DELETE)
                saw_del = o->mod_revision == 77 && o->group == 0;
            if (!strcmp(o->key, "/corral/status/jobs/job")) {
                saw_job = o->type == CTL_OP_PUT && o->mod_revision == 55 && o->group == 0;
                assert_non_null(strstr(o->value, "\"lastMissedReason\":\"Overlap\""));
            }
            if (!strcmp(o->key, "/corral/status/requests/job"))
                saw_req = o->group > 0;
        }
        assert_true(saw_kill && saw_hist && saw_del && saw_job && saw_req);
        free(cleanup);
        free(hist);
        free(tkey);
    }
    ctl_ops_release(&ops);
    ctl_jobs_plan_release(&p);

    /* next fire: the live task is gone; a launch, and a first job status is
     * a create */
    in.tasks = NULL;
    in.n_tasks = 0;
    job.nextFireAt = 600000;
    in.now = 600000;
    ctl_jobs_plan(&in, &p);
    assert_int_equal(p.n_actions, 1);
    assert_int_equal(ctl_jobs_plan_ops("/corral", "job", &p, NULL, 0, 600000, &ops, &err), 0);
    assert_string_equal(ops.v[0].key, "/corral/pending/job/job-v1-600000-1-TASK_DONE-600000");
    assert_int_equal(ops.v[0].type, CTL_OP_CREATE);
    assert_non_null(strstr(ops.v[0].value, "\"nextRunAt\":600000"));
    assert_string_equal(ops.v[1].key, "/corral/status/jobs/job");
    assert_int_equal(ops.v[1].type, CTL_OP_CREATE);

    /* an id that does not parse: nothing appended */
    i = ops.n;
    free(p.actions[0].a.deploy_id);
    p.actions[0].a.deploy_id = xstrdup("bad-deploy");
    assert_int_equal(ctl_jobs_plan_ops("/corral", "job", &p, NULL, 0, 600000, &ops, &err), -1);
    assert_int_equal(ops.n, i);
    assert_non_null(strstr(err.detail, "request 'job'"));
    ctl_ops_release(&ops);
    ctl_jobs_plan_release(&p);
    api_task_id_release(&id1);
    api_task_id_release(&id2);
    api_schedule_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_run_doc),
    cmocka_unit_test(test_request_view),
    cmocka_unit_test(test_task_views),
    cmocka_unit_test(test_plan_ops),
};

CR_TEST_MAIN(tests)
