/* The jobs manager against a real etcd. The test plays the Mesos bridge:
 * pending-task documents become RUNNING task records, and it ends tasks
 * with an exit code when told to. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <event2/event.h>

#include "apis/task.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/jobs.h"
#include "store/leader.h"
#include "test/lib/etcd_harness.h"

typedef struct fx {
    cr_etcd *etcd;
    struct event_base *base;
    cr_http *http;
    store *s;
    store_leader *leader;
    ctl_jobs_manager *m;
    int elected;
} fx;

static void noop(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until pred(f) or the deadline; returns pred's last value. */
static bool run_until(fx *f, bool (*pred)(fx *f, void *arg), void *arg, int64_t timeout_ms)
{
    int64_t deadline = cr_mono_ms() + timeout_ms;
    while (!pred(f, arg)) {
        struct timeval tv = {0, 20000};
        struct event *t;
        if (cr_mono_ms() > deadline)
            return false;
        t = evtimer_new(f->base, noop, NULL);
        evtimer_add(t, &tv);
        event_base_loop(f->base, EVLOOP_ONCE);
        event_free(t);
    }
    return true;
}

typedef struct answer {
    int done;
    cr_err err;
    bool ok;
    size_t n;
    char **keys, **values;
} answer;

static void answer_release(answer *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->keys[i]);
        free(a->values[i]);
    }
    free(a->keys);
    free(a->values);
    memset(a, 0, sizeof(*a));
}

static void answer_cb(void *arg, const store_result *res, const cr_err *err)
{
    answer *a = arg;
    a->done = 1;
    a->ok = !err;
    if (err) {
        a->err = *err;
        return;
    }
    a->n = res->nkvs;
    a->keys = xcalloc(res->nkvs + 1, sizeof(char *));
    a->values = xcalloc(res->nkvs + 1, sizeof(char *));
    for (size_t i = 0; i < res->nkvs; i++) {
        a->keys[i] = xstrdup(res->kvs[i].key);
        a->values[i] = xstrdup(res->kvs[i].value);
    }
}

static bool answered(fx *f, void *arg)
{
    return ((answer *)arg)->done;
}

static void wait_answer(fx *f, answer *a)
{
    assert_true(run_until(f, answered, a, 10000));
    if (!a->ok)
        fail_msg("store call failed: %s", cr_err_msg(&a->err));
}

static void list(fx *f, const char *prefix, answer *a)
{
    cr_err err;
    memset(a, 0, sizeof(*a));
    assert_int_equal(store_list(f->s, prefix, 0, answer_cb, a, &err), 0);
    wait_answer(f, a);
}

static void put(fx *f, const char *key, const char *value)
{
    answer a = {0};
    cr_err err;
    assert_int_equal(store_put(f->s, key, value, strlen(value), NULL, answer_cb, &a, &err), 0);
    wait_answer(f, &a);
    answer_release(&a);
}

static void commit(fx *f, store_txn *txn)
{
    answer w = {0};
    cr_err err;
    assert_int_equal(store_txn_commit(f->s, txn, answer_cb, &w, &err), 0);
    wait_answer(f, &w);
    answer_release(&w);
}

static size_t count(fx *f, const char *prefix)
{
    answer a;
    size_t n;
    list(f, prefix, &a);
    n = a.n;
    answer_release(&a);
    return n;
}

/* ---- the fake bridge -------------------------------------------------------------- */

/* Every pending task of rid becomes a RUNNING task record (one txn each).
 * Returns how many; the pending documents' JSON goes to *pending if set. */
static int bridge_launch(fx *f, const char *rid, answer *pending)
{
    char *prefix = xasprintf("/corral/pending/%s/", rid);
    answer a;
    int launched = 0;

    list(f, prefix, &a);
    free(prefix);
    for (size_t i = 0; i < a.n; i++) {
        api_problems probs = API_PROBLEMS_INIT;
        api_decode_opts o = {.allow_unknown = true};
        json_t *j = json_loads(a.values[i], 0, NULL);
        api_pending_task *pt = api_pending_task_from_json(j, &o, &probs);
        api_task *t = xcalloc(1, sizeof(*t));
        int64_t now = cr_wall_ms();
        cr_err err;
        json_decref(j);
        assert_non_null(pt);
        assert_int_equal(api_task_id_init(&t->taskId, rid, pt->pendingTaskId.deployId, now,
                                          pt->pendingTaskId.instanceNo, "host1", "rack1", &err),
                         0);
        t->pendingTask = *pt;
        free(pt);
        t->hostname = xstrdup("host1");
        t->agentId = xstrdup("agent1");
        t->launchedAt = now;
        api_task_update u = {.taskState = API_TASK_RUNNING, .timestamp = now};
        api_task_add_update(t, &u);
        json_t *tj = api_task_to_json(t);
        char *text = json_dumps(tj, JSON_COMPACT);
        char *key = api_task_key("/corral", rid, t->taskId.id);
        store_txn *txn = store_txn_new();
        store_txn_delete(txn, STORE_THEN, a.keys[i], false);
        store_txn_put(txn, STORE_THEN, key, text, strlen(text), NULL);
        commit(f, txn);
        launched++;
        free(key);
        free(text);
        json_decref(tj);
        api_task_free(t);
        api_problems_release(&probs);
    }
    if (pending)
        *pending = a;
    else
        answer_release(&a);
    return launched;
}

/* Every live task record of rid ends in `state` with exit code `code`. */
static int bridge_finish(fx *f, const char *rid, api_task_state state, int code)
{
    char *prefix = xasprintf("/corral/tasks/%s/", rid);
    answer a;
    int ended = 0;

    list(f, prefix, &a);
    free(prefix);
    for (size_t i = 0; i < a.n; i++) {
        api_problems probs = API_PROBLEMS_INIT;
        api_decode_opts o = {.allow_unknown = true};
        json_t *j = json_loads(a.values[i], 0, NULL);
        api_task *t = api_task_from_json(j, &o, &probs);
        json_decref(j);
        assert_non_null(t);
        if (!api_task_state_terminal(t->lastTaskState)) {
            api_task_update u = {.taskState = state, .timestamp = cr_wall_ms()};
            api_task_add_update(t, &u);
            t->has_exitCode = true;
            t->exitCode = code;
            json_t *tj = api_task_to_json(t);
            char *text = json_dumps(tj, JSON_COMPACT);
            store_txn *txn = store_txn_new();
            store_txn_put(txn, STORE_THEN, a.keys[i], text, strlen(text), NULL);
            commit(f, txn);
            free(text);
            json_decref(tj);
            ended++;
        }
        api_task_free(t);
        api_problems_release(&probs);
    }
    answer_release(&a);
    return ended;
}

/* ---- predicates ------------------------------------------------------------------------ */

typedef struct count_want {
    const char *prefix;
    size_t n;
} count_want;

static bool has_count(fx *f, void *arg)
{
    count_want *c = arg;
    return count(f, c->prefix) == c->n;
}

static bool time_passed(fx *f, void *arg)
{
    return cr_wall_ms() >= *(int64_t *)arg;
}

/* The job status of rid (caller releases); false if absent. */
static bool read_job(fx *f, const char *rid, api_job_status *out)
{
    char *key = ctl_jobs_status_key("/corral", rid);
    answer a;
    bool ok = false;
    api_problems probs = API_PROBLEMS_INIT;

    list(f, key, &a);
    free(key);
    api_job_status_init(out);
    if (a.n == 1) {
        json_t *j = json_loads(a.values[0], 0, NULL);
        ok = api_job_status_from_json(j, out, NULL, &probs) == 0;
        json_decref(j);
    }
    api_problems_release(&probs);
    answer_release(&a);
    return ok;
}

typedef struct job_want {
    const char *rid;
    int64_t min_missed;
    int64_t min_succeeded;
} job_want;

static bool job_reached(fx *f, void *arg)
{
    job_want *w = arg;
    api_job_status j;
    bool ok = read_job(f, w->rid, &j) && j.missedRuns >= w->min_missed &&
              j.runsSucceeded >= w->min_succeeded;
    api_job_status_release(&j);
    return ok;
}

static bool run_state(fx *f, const char *rid, const char *run, const char *state, answer *out)
{
    char *key = ctl_jobs_run_status_key("/corral", rid, run),
         *want = xasprintf("\"state\":\"%s\"", state);
    answer a;
    bool ok;

    list(f, key, &a);
    ok = a.n == 1 && strstr(a.values[0], want);
    free(key);
    free(want);
    if (out && ok)
        *out = a;
    else
        answer_release(&a);
    return ok;
}

typedef struct run_want {
    const char *rid, *run, *state;
} run_want;

static bool run_reached(fx *f, void *arg)
{
    run_want *w = arg;
    return run_state(f, w->rid, w->run, w->state, NULL);
}

static bool synced(fx *f, void *arg)
{
    ctl_jobs_manager_stats st;
    ctl_jobs_manager_get_stats(f->m, &st);
    return st.synced;
}

static void on_elected(void *arg, int64_t fence)
{
    fx *f = arg;
    cr_err err;
    f->elected++;
    assert_int_equal(ctl_jobs_manager_start(f->m, &err), 0);
}

static void on_lost(void *arg, const char *why)
{
    ctl_jobs_manager_stop(((fx *)arg)->m);
}

static bool is_elected(fx *f, void *arg)
{
    return f->elected > 0;
}

static void setup(fx *f, const ctl_jobs_config *plan)
{
    cr_err err;
    store_config sc = {0};
    store_leader_config lc = {.key = "/corral/leader", .id = "itest-jobs", .ttl_s = 10};
    store_leader_handlers lh = {.on_elected = on_elected, .on_lost = on_lost};
    ctl_jobs_manager_config mc = {.prefix = "/corral", .resync_ms = 2000, .plan = plan};

    memset(f, 0, sizeof(*f));
    f->etcd = cr_etcd_start(NULL);
    assert_non_null(f->etcd);
    f->base = event_base_new();
    f->http = cr_http_new(f->base, &err);
    sc.endpoints = cr_etcd_endpoints(f->etcd);
    sc.timeout_ms = 5000;
    f->s = store_new(f->base, f->http, &sc, &err);
    assert_non_null(f->s);
    f->leader = store_leader_new(f->s, &lc, &lh, f);
    f->m = ctl_jobs_manager_new(f->base, f->s, f->leader, &mc, &err);
    assert_non_null(f->m);
    assert_int_equal(store_leader_start(f->leader, &err), 0);
    assert_true(run_until(f, is_elected, NULL, 15000));
    assert_true(run_until(f, synced, NULL, 15000));
}

static void teardown(fx *f)
{
    ctl_jobs_manager_free(f->m);
    store_leader_free(f->leader);
    store_free(f->s);
    cr_http_free(f->http);
    event_base_free(f->base);
    cr_etcd_free(f->etcd);
}

/* A quartz schedule every 2 s: a run launches at a fire time, a run that
 * outlasts its period is never overlapped (the fires are skipped), its end
 * is archived, the next fire runs. Then a leader change: the manager stops,
 * fire times pass, it starts again and launches exactly one catch-up run. */
static void test_scheduled(void **state)
{
    fx f;
    answer a;
    api_job_status job;
    int64_t until, launched_before;
    count_want one_pending = {"/corral/pending/cron/", 1};
    count_want no_task = {"/corral/tasks/cron/", 0};
    count_want one_history = {"/corral/history/tasks/cron/", 1};

    setup(&f, NULL);
    put(&f, "/corral/requests/cron",
        "{\"id\":\"cron\",\"requestType\":\"SCHEDULED\",\"schedule\":\"*/2 * * * * ?\","
        "\"scheduleType\":\"QUARTZ\",\"numRetriesOnFailure\":1}");
    put(&f, "/corral/deploys/cron/v1",
        "{\"requestId\":\"cron\",\"id\":\"v1\",\"command\":\"sleep 10\"}");

    /* The first fire launches one task, for its fire time. */
    assert_true(run_until(&f, has_count, &one_pending, 15000));
    list(&f, "/corral/pending/cron/", &a);
    assert_non_null(strstr(a.keys[0], "-TASK_DONE-"));
    {
        json_t *j = json_loads(a.values[0], 0, NULL);
        json_int_t at =
            json_integer_value(json_object_get(json_object_get(j, "pendingTaskId"), "nextRunAt"));
        assert_true(at > 0 && at % 2000 == 0); /* a fire time of the schedule */
        json_decref(j);
    }
    answer_release(&a);
    assert_int_equal(bridge_launch(&f, "cron", NULL), 1);

    /* It runs through two fire times: nothing else launches. */
    job_want overlapped = {"cron", 2, 0};
    assert_true(run_until(&f, job_reached, &overlapped, 15000));
    assert_int_equal(count(&f, "/corral/pending/cron/"), 0);
    assert_int_equal(count(&f, "/corral/tasks/cron/"), 1);
    assert_true(read_job(&f, "cron", &job));
    assert_string_equal(job.lastMissedReason, "Overlap");
    assert_int_equal(job.runsLaunched, 1);
    api_job_status_release(&job);

    /* It ends: archived with its outcome; the next fire runs. */
    assert_int_equal(bridge_finish(&f, "cron", API_TASK_FINISHED, 0), 1);
    assert_true(run_until(&f, has_count, &one_history, 15000));
    assert_true(run_until(&f, has_count, &no_task, 15000));
    assert_true(run_until(&f, has_count, &one_pending, 15000));
    assert_true(read_job(&f, "cron", &job));
    assert_int_equal(job.runsSucceeded, 1);
    assert_int_equal(job.lastRun.state, API_TASK_FINISHED);
    api_job_status_release(&job);

    /* Leader change: stop; the task runs and ends while nobody leads;
     * several fire times pass. */
    ctl_jobs_manager_stop(f.m);
    assert_int_equal(bridge_launch(&f, "cron", NULL), 1);
    assert_int_equal(bridge_finish(&f, "cron", API_TASK_FINISHED, 0), 1);
    assert_true(read_job(&f, "cron", &job));
    launched_before = job.runsLaunched;
    api_job_status_release(&job);
    until = cr_wall_ms() + 5000;
    assert_true(run_until(&f, time_passed, &until, 10000));
    assert_int_equal(count(&f, "/corral/pending/cron/"), 0);

    /* Back: the missed fires run once, not once each. */
    cr_err err;
    assert_int_equal(ctl_jobs_manager_start(f.m, &err), 0);
    assert_true(run_until(&f, has_count, &one_pending, 15000));
    until = cr_wall_ms() + 3000; /* a fire time more: the pending run holds it off */
    assert_true(run_until(&f, time_passed, &until, 10000));
    assert_int_equal(count(&f, "/corral/pending/cron/"), 1);
    assert_true(read_job(&f, "cron", &job));
    assert_int_equal(job.runsLaunched, launched_before + 1);
    assert_int_equal(job.runsSucceeded, 2);
    api_job_status_release(&job);

    /* A failing run is retried once (numRetriesOnFailure 1), then stops. */
    assert_int_equal(bridge_launch(&f, "cron", NULL), 1);
    assert_int_equal(bridge_finish(&f, "cron", API_TASK_FAILED, 3), 1);
    assert_true(run_until(&f, has_count, &one_pending, 15000));
    list(&f, "/corral/pending/cron/", &a);
    assert_non_null(strstr(a.keys[0], "-RETRY-"));
    answer_release(&a);
    assert_int_equal(bridge_launch(&f, "cron", NULL), 1);
    assert_int_equal(bridge_finish(&f, "cron", API_TASK_FAILED, 3), 1);
    {
        bool done = false;
        for (int i = 0; i < 300 && !done; i++) {
            done = read_job(&f, "cron", &job) && job.runsFailed == 1;
            if (done)
                assert_int_equal(job.lastRun.attempt, 2);
            api_job_status_release(&job);
            until = cr_wall_ms() + 50;
            run_until(&f, time_passed, &until, 1000);
        }
        assert_true(done);
    }
    teardown(&f);
}

/* ON_DEMAND with instances 1: three runs with different args run one at a
 * time and record three results by run id; history keeps the newest two. */
static void test_on_demand(void **state)
{
    fx f;
    answer a;
    count_want one_pending = {"/corral/pending/od/", 1};
    static const char *const runs[3] = {"r1", "r2", "r3"};

    ctl_jobs_config plan = {.history_max = 2};
    count_want two_history = {"/corral/history/tasks/od/", 2};

    setup(&f, &plan);
    put(&f, "/corral/requests/od", "{\"id\":\"od\",\"requestType\":\"ON_DEMAND\",\"instances\":1}");
    put(&f, "/corral/deploys/od/v1", "{\"requestId\":\"od\",\"id\":\"v1\",\"command\":\"work\"}");
    put(&f, "/corral/runs/od/r1",
        "{\"requestId\":\"od\",\"runId\":\"r1\",\"user\":\"ana\",\"timestamp\":1,"
        "\"commandLineArgs\":[\"--n\",\"1\"]}");
    put(&f, "/corral/runs/od/r2",
        "{\"requestId\":\"od\",\"runId\":\"r2\",\"user\":\"ana\",\"timestamp\":1,"
        "\"commandLineArgs\":[\"--n\",\"2\"]}");
    put(&f, "/corral/runs/od/r3",
        "{\"requestId\":\"od\",\"runId\":\"r3\",\"user\":\"ana\",\"timestamp\":1,"
        "\"commandLineArgs\":[\"--n\",\"3\"]}");
    for (int i = 0; i < 3; i++) {
        char want[32];
        run_want done = {"od", runs[i], i == 1 ? "FAILED" : "SUCCEEDED"};
        assert_true(run_until(&f, has_count, &one_pending, 15000));
        answer pend;
        assert_int_equal(bridge_launch(&f, "od", &pend), 1);
        snprintf(want, sizeof(want), "\"runId\":\"%s\"", runs[i]);
        assert_non_null(strstr(pend.values[0], want));
        snprintf(want, sizeof(want), "\"%d\"]", i + 1);
        assert_non_null(strstr(pend.values[0], want)); /* its own args */
        answer_release(&pend);
        assert_int_equal(count(&f, "/corral/pending/od/"), 0); /* one at a time */
        assert_int_equal(
            bridge_finish(&f, "od", i == 1 ? API_TASK_FAILED : API_TASK_FINISHED, i == 1 ? 1 : 0),
            1);
        assert_true(run_until(&f, run_reached, &done, 15000));
    }
    for (int i = 0; i < 3; i++) {
        char want[32];
        assert_true(run_state(&f, "od", runs[i], i == 1 ? "FAILED" : "SUCCEEDED", &a));
        snprintf(want, sizeof(want), "\"exitCode\":%d", i == 1 ? 1 : 0);
        assert_non_null(strstr(a.values[0], want));
        answer_release(&a);
    }
    /* Three archived, history_max 2: the oldest is forgotten. */
    assert_true(run_until(&f, has_count, &two_history, 15000));
    teardown(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_scheduled),
    cmocka_unit_test(test_on_demand),
};

CR_TEST_MAIN(tests)
