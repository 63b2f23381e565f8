/* The controller manager against a real etcd: leader election, the cache,
 * fenced writes. The test plays the Mesos bridge: it turns pending-task
 * documents into RUNNING task records and kill intents into KILLED ones. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <event2/event.h>

#include "apis/status.h"
#include "apis/task.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/controllers.h"
#include "store/leader.h"
#include "test/lib/etcd_harness.h"

typedef struct fx {
    cr_etcd *etcd;
    struct event_base *base;
    cr_http *http;
    store *s;
    store_leader *leader;
    ctl_manager *m;
    int elected;
} fx;

/* ---- loop helpers --------------------------------------------------------------- */

static void noop(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until pred(f) or the deadline; returns pred's last value. */
static bool run_until(fx *f, bool (*pred)(fx *f, void *arg), void *arg, int64_t timeout_ms)
{
    int64_t deadline = cr_mono_ms() + timeout_ms;
    while (!pred(f, arg)) {
        if (cr_mono_ms() > deadline)
            return false;
        struct timeval tv = {0, 20000};
        struct event *t = evtimer_new(f->base, noop, NULL);
        evtimer_add(t, &tv);
        event_base_loop(f->base, EVLOOP_ONCE);
        event_free(t);
    }
    return true;
}

typedef struct answer {
    int done;
    cr_err err;
    bool ok, succeeded;
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
    a->succeeded = res->succeeded;
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

/* Blocking-style list of a prefix (runs the loop). */
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

/* ---- the fake bridge ------------------------------------------------------------ */

/* Every pending task becomes a RUNNING task record (running for 20 s
 * already, so it is healthy without a check), in one txn per task. */
static int bridge_launch(fx *f)
{
    answer a;
    int launched = 0;
    list(f, "/corral/pending/", &a);
    for (size_t i = 0; i < a.n; i++) {
        api_problems probs = API_PROBLEMS_INIT;
        json_t *j = json_loads(a.values[i], 0, NULL);
        api_pending_task *pt = api_pending_task_from_json(j, NULL, &probs);
        json_decref(j);
        assert_non_null(pt);
        api_task *t = xcalloc(1, sizeof(*t));
        cr_err err;
        int64_t now = cr_wall_ms();
        assert_int_equal(api_task_id_init(&t->taskId, pt->pendingTaskId.requestId,
                                          pt->pendingTaskId.deployId, now,
                                          pt->pendingTaskId.instanceNo, "host1", "rack1", &err),
                         0);
        t->pendingTask = *pt;
        free(pt);
        t->hostname = xstrdup("host1");
        t->agentId = xstrdup("agent1");
        t->launchedAt = now - 20000;
        api_task_update u = {.taskState = API_TASK_RUNNING, .timestamp = now - 20000};
        api_task_add_update(t, &u);
        json_t *tj = api_task_to_json(t);
        char *text = json_dumps(tj, JSON_COMPACT);
        char *key = api_task_key("/corral", t->taskId.requestId, t->taskId.id);

        store_txn *txn = store_txn_new();
        store_txn_delete(txn, STORE_THEN, a.keys[i], false);
        store_txn_put(txn, STORE_THEN, key, text, strlen(text), NULL);
        answer w = {0};
        assert_int_equal(store_txn_commit(f->s, txn, answer_cb, &w, &err), 0);
        wait_answer(f, &w);
        answer_release(&w);
        launched++;
        free(key);
        free(text);
        json_decref(tj);
        api_task_free(t);
        api_problems_release(&probs);
    }
    answer_release(&a);
    return launched;
}

/* Every kill intent makes its task KILLED and is deleted (as the bridge
 * does when it stores the terminal update). */
static int bridge_kill(fx *f)
{
    answer a;
    int killed = 0;
    list(f, "/corral/cleanups/", &a);
    for (size_t i = 0; i < a.n; i++) {
        const char *tid = strrchr(a.keys[i], '/') + 1;
        answer tasks;
        list(f, "/corral/tasks/", &tasks);
        for (size_t k = 0; k < tasks.n; k++) {
            if (strcmp(strrchr(tasks.keys[k], '/') + 1, tid) != 0)
                continue;
            api_problems probs = API_PROBLEMS_INIT;
            api_decode_opts o = {.allow_unknown = true};
            json_t *j = json_loads(tasks.values[k], 0, NULL);
            api_task *t = api_task_from_json(j, &o, &probs);
            json_decref(j);
            assert_non_null(t);
            api_task_update u = {.taskState = API_TASK_KILLED, .timestamp = cr_wall_ms()};
            api_task_add_update(t, &u);
            json_t *tj = api_task_to_json(t);
            char *text = json_dumps(tj, JSON_COMPACT);
            store_txn *txn = store_txn_new();
            cr_err err;
            answer w = {0};
            store_txn_put(txn, STORE_THEN, tasks.keys[k], text, strlen(text), NULL);
            store_txn_delete(txn, STORE_THEN, a.keys[i], false);
            assert_int_equal(store_txn_commit(f->s, txn, answer_cb, &w, &err), 0);
            wait_answer(f, &w);
            answer_release(&w);
            free(text);
            json_decref(tj);
            api_task_free(t);
            api_problems_release(&probs);
            killed++;
        }
        answer_release(&tasks);
    }
    answer_release(&a);
    return killed;
}

/* ---- predicates ------------------------------------------------------------------- */

typedef struct count_want {
    const char *prefix;
    size_t n;
} count_want;

static bool has_count(fx *f, void *arg)
{
    count_want *c = arg;
    answer a;
    list(f, c->prefix, &a);
    bool ok = a.n == c->n;
    answer_release(&a);
    return ok;
}

/* Reads the request status into *out (released by the caller); false if
 * absent. */
static bool read_status(fx *f, api_request_status *out)
{
    answer a;
    api_problems probs = API_PROBLEMS_INIT;
    bool ok = false;
    list(f, "/corral/status/requests/web", &a);
    if (a.n == 1) {
        json_t *j = json_loads(a.values[0], 0, NULL);
        ok = api_request_status_from_json(j, out, NULL, &probs) == 0;
        json_decref(j);
    }
    answer_release(&a);
    api_problems_release(&probs);
    return ok;
}

static bool status_ready(fx *f, void *arg)
{
    api_request_status s = {0};
    bool ok = read_status(f, &s);
    const api_condition *c = ok ? api_conditions_get(&s.conditions, API_COND_READY) : NULL;
    int want = *(int *)arg;
    ok = ok && s.activeDeployId && strcmp(s.activeDeployId, "v1") == 0 && c &&
         c->status == API_COND_TRUE && s.counts.healthy == want;
    api_request_status_release(&s);
    return ok;
}

/* The status of request arg says Valid=False (InvalidRequest). */
static bool status_invalid(fx *f, void *arg)
{
    answer a;
    api_problems probs = API_PROBLEMS_INIT;
    api_request_status s = {0};
    char *key = xasprintf("/corral/status/requests/%s", (const char *)arg);
    bool ok = false;
    list(f, key, &a);
    if (a.n == 1) {
        json_t *j = json_loads(a.values[0], 0, NULL);
        if (api_request_status_from_json(j, &s, NULL, &probs) == 0) {
            const api_condition *c = api_conditions_get(&s.conditions, API_COND_VALID);
            ok = c && c->status == API_COND_FALSE && strcmp(c->reason, "InvalidRequest") == 0;
        }
        json_decref(j);
    }
    api_request_status_release(&s);
    api_problems_release(&probs);
    answer_release(&a);
    free(key);
    return ok;
}

static void del(fx *f, const char *key)
{
    answer a = {0};
    cr_err err;
    store_txn *txn = store_txn_new();
    store_txn_delete(txn, STORE_THEN, key, false);
    assert_int_equal(store_txn_commit(f->s, txn, answer_cb, &a, &err), 0);
    wait_answer(f, &a);
    answer_release(&a);
}

/* The DocumentsValid condition of web: want "False" (its message then
 * names arg) or "True". */
typedef struct docs_want {
    api_cond_status status;
    const char *needle;
} docs_want;

static bool documents_condition(fx *f, void *arg)
{
    docs_want *w = arg;
    api_request_status s = {0};
    bool ok = read_status(f, &s);
    const api_condition *c =
        ok ? api_conditions_get(&s.conditions, API_COND_DOCUMENTS_VALID) : NULL;
    ok = c && c->status == w->status &&
         (!w->needle || (c->message && strstr(c->message, w->needle)));
    api_request_status_release(&s);
    return ok;
}

static bool manager_synced(fx *f, void *arg)
{
    ctl_manager_stats st;
    if (!f->m)
        return false;
    ctl_manager_get_stats(f->m, &st);
    return st.synced;
}

/* ---- leader handlers ----------------------------------------------------------------- */

static void on_elected(void *arg, int64_t fence)
{
    fx *f = arg;
    cr_err err;
    f->elected++;
    assert_int_equal(ctl_manager_start(f->m, &err), 0);
}

static void on_lost(void *arg, const char *why)
{
    fx *f = arg;
    ctl_manager_stop(f->m);
}

static bool is_elected(fx *f, void *arg)
{
    return f->elected > 0;
}

static void test_manager_converges(void **state)
{
    fx f = {0};
    cr_err err;

    f.etcd = cr_etcd_start(NULL);
    assert_non_null(f.etcd);
    f.base = event_base_new();
    f.http = cr_http_new(f.base, &err);
    store_config sc = {.endpoints = cr_etcd_endpoints(f.etcd), .timeout_ms = 5000};
    f.s = store_new(f.base, f.http, &sc, &err);
    assert_non_null(f.s);
    store_leader_config lc = {.key = "/corral/leader", .id = "itest", .ttl_s = 10};
    store_leader_handlers lh = {.on_elected = on_elected, .on_lost = on_lost};
    f.leader = store_leader_new(f.s, &lc, &lh, &f);
    ctl_manager_config mc = {.prefix = "/corral", .resync_ms = 2000};
    f.m = ctl_manager_new(f.base, f.s, f.http, f.leader, &mc, &err);
    assert_non_null(f.m);
    assert_int_equal(store_leader_start(f.leader, &err), 0);
    assert_true(run_until(&f, is_elected, NULL, 15000));
    assert_true(run_until(&f, manager_synced, NULL, 15000));
    answer a;

    /* Not ours: an ON_DEMAND request (the jobs controller's) gets nothing
     * from this manager; it is queued before "web", so by the time "web"
     * is Ready its pass has run. An undecodable request gets Valid=False. */
    put(&f, "/corral/requests/od", "{\"id\":\"od\",\"requestType\":\"ON_DEMAND\"}");
    put(&f, "/corral/deploys/od/v1", "{\"requestId\":\"od\",\"id\":\"v1\",\"command\":\"x\"}");
    put(&f, "/corral/requests/bad", "{\"id\": \"bad\", \"instances\": \"many\"");
    assert_true(run_until(&f, status_invalid, "bad", 15000));

    /* A service with two instances and a deploy: two pending tasks. */
    put(&f, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2}");
    put(&f, "/corral/deploys/web/v1",
        "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1000\"}");
    count_want two_pending = {"/corral/pending/web/", 2};
    if (!run_until(&f, has_count, &two_pending, 15000)) {
        list(&f, "/corral/pending/web/", &a);
        for (size_t i = 0; i < a.n; i++)
            print_error("pending: %s\n", a.keys[i]);
        list(&f, "/corral/status/", &a);
        for (size_t i = 0; i < a.n; i++)
            print_error("status: %s\n", a.values[i]);
        fail_msg("want 2 pending tasks, have %zu", a.n);
    }

    /* The bridge launches them; the deploy succeeds; the request is Ready. */
    assert_int_equal(bridge_launch(&f), 2);
    int want = 2;
    assert_true(run_until(&f, status_ready, &want, 15000));
    list(&f, "/corral/status/deploys/web/v1", &a);
    assert_int_equal(a.n, 1);
    assert_non_null(strstr(a.values[0], "\"state\":\"SUCCEEDED\""));
    answer_release(&a);
    /* Nothing launched twice. */
    count_want none_pending = {"/corral/pending/web/", 0};
    assert_true(has_count(&f, &none_pending));

    /* Scale down to 1: a SCALING_DOWN kill intent for instance 2. */
    put(&f, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":1}");
    count_want one_cleanup = {"/corral/cleanups/", 1};
    assert_true(run_until(&f, has_count, &one_cleanup, 15000));
    list(&f, "/corral/cleanups/", &a);
    assert_non_null(strstr(a.values[0], "SCALING_DOWN"));
    assert_non_null(strstr(a.keys[0], "-2-host1-rack1"));
    answer_release(&a);

    /* The bridge kills it; the controller moves it to history. */
    assert_int_equal(bridge_kill(&f), 1);
    count_want one_task = {"/corral/tasks/web/", 1};
    count_want one_history = {"/corral/history/tasks/web/", 1};
    assert_true(run_until(&f, has_count, &one_task, 15000));
    assert_true(run_until(&f, has_count, &one_history, 15000));
    want = 1;
    assert_true(run_until(&f, status_ready, &want, 15000));
    assert_true(has_count(&f, &none_pending));

    /* Issue 21: a pause intent that does not decode pauses nothing and
     * kills nothing; the status names it, and its removal clears that. */
    put(&f, "/corral/intents/requests/web/pause", "garbage");
    docs_want bad = {API_COND_FALSE, "/corral/intents/requests/web/pause: not JSON"};
    assert_true(run_until(&f, documents_condition, &bad, 15000));
    count_want no_cleanup = {"/corral/cleanups/", 0};
    assert_true(has_count(&f, &no_cleanup));
    assert_true(has_count(&f, &one_task));
    {
        api_request_status s = {0};
        assert_true(read_status(&f, &s));
        assert_int_equal(s.state, API_RSTATE_ACTIVE);
        api_request_status_release(&s);
    }
    assert_true(status_ready(&f, &want));
    /* A kill intent that does not decode kills nothing either. */
    list(&f, "/corral/tasks/web/", &a);
    assert_int_equal(a.n, 1);
    char *ckey = xasprintf("/corral/cleanups/%s", strrchr(a.keys[0], '/') + 1);
    answer_release(&a);
    put(&f, ckey, "{\"cleanupType\":\"USER_REQUESTED\"}"); /* no taskId */
    docs_want bad2 = {API_COND_FALSE, "2 invalid documents ignored"};
    assert_true(run_until(&f, documents_condition, &bad2, 15000));
    assert_true(status_ready(&f, &want));
    count_want no_pending = {"/corral/pending/web/", 0};
    assert_true(has_count(&f, &no_pending));
    del(&f, ckey);
    free(ckey);
    del(&f, "/corral/intents/requests/web/pause");
    docs_want good = {API_COND_TRUE, NULL};
    assert_true(run_until(&f, documents_condition, &good, 15000));
    assert_true(has_count(&f, &one_task));

    /* Issue 21: a request stored under one key with another id in its body
     * is invalid, and nothing is launched for it. */
    put(&f, "/corral/requests/mis", "{\"id\":\"other\",\"requestType\":\"WORKER\"}");
    put(&f, "/corral/deploys/mis/v1", "{\"requestId\":\"mis\",\"id\":\"v1\",\"command\":\"x\"}");
    assert_true(run_until(&f, status_invalid, "mis", 15000));
    list(&f, "/corral/status/requests/mis", &a);
    assert_non_null(strstr(a.values[0], "does not match the key's request id"));
    answer_release(&a);
    list(&f, "/corral/pending/mis/", &a);
    assert_int_equal(a.n, 0);
    answer_release(&a);

    list(&f, "/corral/status/requests/od", &a);
    assert_int_equal(a.n, 0);
    answer_release(&a);
    list(&f, "/corral/pending/od/", &a);
    assert_int_equal(a.n, 0);
    answer_release(&a);

    /* Stopping (lost leadership) ends the work at once. */
    ctl_manager_stats st;
    ctl_manager_get_stats(f.m, &st);
    assert_true(st.passes > 0);
    assert_true(st.writes > 0);
    ctl_manager_stop(f.m);
    ctl_manager_get_stats(f.m, &st);
    assert_false(st.running);

    ctl_manager_free(f.m);
    store_leader_free(f.leader);
    store_free(f.s);
    cr_http_free(f.http);
    event_base_free(f.base);
    cr_etcd_free(f.etcd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_manager_converges),
};
CR_TEST_MAIN(tests)
