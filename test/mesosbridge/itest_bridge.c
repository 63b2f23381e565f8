/* The bridge against a real etcd and a real mesoslite (bin/mesoslite, or
 * $MESOSLITE): launch and run, exit codes, kill, restart without duplicates,
 * a broken stream, master failover, a lost agent, a re-delivered update
 * stored once, a restart mid-launch launching nothing twice.
 *
 * One etcd and one mesoslite serve the whole file; each test uses its own
 * request ids. The bridge runs in this process on its own event loop; the
 * test side reads and writes etcd with etcdctl and pokes mesoslite's fault
 * endpoints with blocking HTTP, polling with deadlines (no sleeps as
 * synchronisation). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "apis/task.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "mesosbridge/mesosbridge.h"
#include "store/store.h"
#include "test/lib/cr_test.h"
#include "test/lib/etcd_harness.h"

static cr_etcd *g_etcd;
static pid_t g_ml = -1;
static char *g_ml_url;
static char *g_tmp;

/* ---- blocking helpers (test side only) ------------------------------------------ */

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
    cr_buf_add(arg, p, sz * n);
    return sz * n;
}

static long http_do(const char *method, const char *url, const char *body, cr_buf *out)
{
    CURL *c = curl_easy_init();
    long status = 0;
    cr_buf tmp = CR_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &tmp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    cr_buf_release(&tmp);
    return status;
}

/* Runs etcdctl; returns its stdout (caller frees). */
static char *etcdctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *etcdctl(const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    char *cmd = xasprintf("ETCDCTL_API=3 etcdctl --endpoints=%s %s 2>/dev/null",
                          cr_etcd_endpoints(g_etcd), args);
    FILE *p = popen(cmd, "r");
    cr_buf b = CR_BUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        cr_buf_add(&b, buf, n);
    pclose(p);
    free(cmd);
    return cr_buf_detach(&b, NULL);
}

static void put_json(const char *key, const char *json)
{
    char *path = xasprintf("%s/put.json", g_tmp);
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    free(etcdctl("put '%s' < %s", key, path));
    free(path);
}

/* Values under prefix, parsed (caller decrefs the array). */
static json_t *list_json(const char *prefix)
{
    char *out = etcdctl("get --prefix '%s' --print-value-only", prefix);
    json_t *a = json_array();
    char *line = strtok(out, "\n");
    for (; line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (j)
            json_array_append_new(a, j);
    }
    free(out);
    return a;
}

static bool key_exists(const char *key)
{
    char *out = etcdctl("get '%s' --print-value-only", key);
    bool r = out[0] != '\0';
    free(out);
    return r;
}

/* ---- the bridge under test --------------------------------------------------------- */

typedef struct fx {
    struct event_base *base;
    cr_http *http;
    store *st;
    mb *b;
    cr_log log;
    bool stopped;
    long reconcile_batch, implicit_ms, offload_bytes; /* 0: the test default */
} fx;

static void on_stopped(void *arg, const cr_err *why)
{
    ((fx *)arg)->stopped = true;
}

static void bridge_start_at(fx *f, const char *masters, const char *prefix)
{
    mb_config cfg = {.masters = masters,
                     .prefix = prefix,
                     .framework = {.user = "root", .name = "corral-itest"},
                     .offer_hold_ms = 500,
                     .kill_retry_ms = 3000,
                     .implicit_reconcile_ms = f->implicit_ms ? f->implicit_ms : 5000,
                     .reconcile_cap_ms = 2000,
                     .reconcile_batch = f->reconcile_batch,
                     .offload_event_bytes = f->offload_bytes,
                     .launch_timeout_ms = 5000,
                     .subscribe_backoff_cap_ms = 1000,
                     .log = &f->log,
                     .on_stopped = on_stopped,
                     .arg = f};
    cr_err err;
    f->b = mb_new(f->base, f->http, f->st, &cfg, &err);
    assert_non_null(f->b);
    assert_int_equal(mb_start(f->b, &err), 0);
}

static void bridge_start(fx *f)
{
    bridge_start_at(f, g_ml_url, "/corral");
}

static void nop_cb(evutil_socket_t fd, short w, void *arg)
{
}

/* Runs the loop for about ms milliseconds. */
static void spin(fx *f, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(f->base, nop_cb, NULL);
    evtimer_add(ev, &tv);
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
    event_free(ev);
}

#define WAIT_UNTIL(f, cond, secs, what)                     \
    do {                                                    \
        int64_t dl_ = cr_mono_ms() + (secs)*1000;           \
        while (!(cond)) {                                   \
            if (cr_mono_ms() > dl_)                         \
                fail_msg("timed out waiting for %s", what); \
            spin((f), 200);                                 \
        }                                                   \
    } while (0)

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    cr_err err;
    f->log = (cr_log){getenv("MB_DEBUG") ? CR_LOG_DEBUG : CR_LOG_WARN, stderr, "itest"};
    f->base = event_base_new();
    f->http = cr_http_new(f->base, &err);
    store_config sc = {.endpoints = cr_etcd_endpoints(g_etcd), .timeout_ms = 5000};
    f->st = store_new(f->base, f->http, &sc, &err);
    assert_non_null(f->st);
    bridge_start(f);
    WAIT_UNTIL(f, ({
                   mb_stats s;
                   mb_get_stats(f->b, &s);
                   s.subscribed;
               }),
               20, "SUBSCRIBED");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    mb_free(f->b);
    store_free(f->st);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

static bool subscribed(fx *f)
{
    mb_stats s;
    mb_get_stats(f->b, &s);
    return s.subscribed;
}

/* ---- documents ---------------------------------------------------------------------- */

static void put_request(const char *id, int instances, const char *extra)
{
    char *key = xasprintf("/corral/requests/%s", id);
    char *v = xasprintf("{\"id\":\"%s\",\"requestType\":\"WORKER\",\"instances\":%d%s}", id,
                        instances, extra ? extra : "");
    put_json(key, v);
    free(key);
    free(v);
}

static void put_deploy(const char *req, const char *dep, const char *command, int ports)
{
    char *key = xasprintf("/corral/deploys/%s/%s", req, dep);
    char *v = xasprintf("{\"requestId\":\"%s\",\"id\":\"%s\",\"command\":\"%s\","
                        "\"resources\":{\"cpus\":0.1,\"memoryMb\":16,\"numPorts\":%d}}",
                        req, dep, command, ports);
    put_json(key, v);
    free(key);
    free(v);
}

static char *put_pending(const char *req, const char *dep, int instance)
{
    api_pending_task_id pid;
    cr_err err;
    int64_t now = cr_wall_ms();
    assert_int_equal(
        api_pending_task_id_init(&pid, req, dep, now, instance, "NEW_DEPLOY", now, &err), 0);
    char *key = api_pending_key("/corral", req, pid.id);
    char *v = xasprintf("{\"pendingTaskId\":\"%s\",\"user\":\"itest\"}", pid.id);
    put_json(key, v);
    free(v);
    api_pending_task_id_release(&pid);
    return key;
}

/* Task records of a request. */
static json_t *tasks_of(const char *req)
{
    char *p = xasprintf("/corral/tasks/%s/", req);
    json_t *a = list_json(p);
    free(p);
    return a;
}

static int count_in_state(const char *req, const char *state)
{
    json_t *a = tasks_of(req), *t;
    size_t i;
    int n = 0;
    json_array_foreach(a, i, t)
    {
        const char *s = json_string_value(json_object_get(t, "lastTaskState"));
        if (s && (!state || !strcmp(s, state)))
            n++;
    }
    json_decref(a);
    return n;
}

static int count_ended_or_held(const char *req)
{
    json_t *a = tasks_of(req), *t;
    size_t i;
    int n = 0;
    json_array_foreach(a, i, t)
    {
        api_task_state st =
            api_task_state_parse(json_string_value(json_object_get(t, "lastTaskState")));
        /* held (UNREACHABLE, UNKNOWN: issue 24) counts: Mesos said it is gone
         * from view, the controllers decide when to give it up */
        if (api_task_state_terminal(st) || api_task_state_held(st))
            n++;
    }
    json_decref(a);
    return n;
}

/* The first task record of req (caller decrefs) or NULL. */
static json_t *first_task(const char *req)
{
    json_t *a = tasks_of(req);
    json_t *t = json_array_size(a) ? json_incref(json_array_get(a, 0)) : NULL;
    json_decref(a);
    return t;
}

static const char *task_id(const json_t *t)
{
    return json_string_value(json_object_get(json_object_get(t, "taskId"), "id"));
}

/* Tasks mesoslite runs for any framework. */
static long ml_tasks(void)
{
    cr_buf b = CR_BUF_INIT;
    char *url = xasprintf("%s/__ml/state", g_ml_url);
    http_do("GET", url, NULL, &b);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    long n = j ? (long)json_integer_value(json_object_get(j, "tasks")) : -1;
    json_decref(j);
    cr_buf_release(&b);
    free(url);
    return n;
}

static long ml_post(const char *path)
{
    char *url = xasprintf("%s/__ml%s", g_ml_url, path);
    long st = http_do("POST", url, "", NULL);
    free(url);
    return st;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_launch_run_kill(void **state)
{
    fx *f = *state;
    put_request("web", 1, NULL);
    put_deploy("web", "v1", "sleep 600", 2);
    char *pkey = put_pending("web", "v1", 1);
    WAIT_UNTIL(f, count_in_state("web", "TASK_RUNNING") == 1, 30, "web RUNNING");
    assert_false(key_exists(pkey)); /* consumed in the launch txn */
    json_t *t = first_task("web");
    assert_int_equal(json_array_size(json_object_get(t, "ports")), 2);
    json_t *env = json_object_get(t, "env");
    assert_string_equal(json_string_value(json_object_get(env, "TASK_ID")), task_id(t));
    assert_non_null(json_object_get(env, "PORT1"));
    assert_string_equal(json_string_value(json_object_get(env, "STARTED_BY_USER")), "itest");
    assert_non_null(json_object_get(t, "mesosTask"));
    /* the framework id was stored */
    json_t *fw = list_json("/corral/framework");
    assert_int_equal(json_array_size(fw), 1);
    assert_non_null(json_string_value(json_object_get(json_array_get(fw, 0), "frameworkId")));
    json_decref(fw);
    /* the agent and its rack were recorded */
    json_t *agents = list_json("/corral/agents/");
    assert_true(json_array_size(agents) >= 1);
    json_decref(agents);

    /* kill through a cleanup document */
    char *ckey = api_cleanup_key("/corral", task_id(t));
    char *cv = xasprintf("{\"taskId\":\"%s\",\"cleanupType\":\"USER_REQUESTED\","
                         "\"killGracePeriodMillis\":1000}",
                         task_id(t));
    put_json(ckey, cv);
    WAIT_UNTIL(f, count_in_state("web", "TASK_KILLED") == 1, 30, "web KILLED");
    WAIT_UNTIL(f, !key_exists(ckey), 10, "cleanup deleted");
    /* nothing pending any more: the offer cache (on by default) holds the
     * agent's offer for the next task instead of suppressing offers */
    WAIT_UNTIL(f, ({
                   mb_stats s;
                   mb_get_stats(f->b, &s);
                   !s.suppressed && s.offers_held >= 1;
               }),
               10, "offer cached with nothing pending");
    json_decref(t);
    free(ckey);
    free(cv);
    free(pkey);
}

static void test_exit_code_and_updates_once(void **state)
{
    fx *f = *state;
    put_request("job", 1, NULL);
    put_deploy("job", "v1", "exit 3", 0);
    free(put_pending("job", "v1", 1));
    WAIT_UNTIL(f, count_in_state("job", "TASK_FAILED") == 1, 30, "job FAILED");
    json_t *t = first_task("job");
    assert_int_equal(json_integer_value(json_object_get(t, "exitCode")), 3);
    /* every state appears once even though updates are at-least-once */
    json_t *ups = json_object_get(t, "taskUpdates"), *u;
    size_t i;
    int failed = 0;
    json_array_foreach(ups, i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "taskState")), "TASK_FAILED"))
            failed++;
    }
    assert_int_equal(failed, 1);
    json_decref(t);
}

static void test_redelivered_update_stored_once(void **state)
{
    fx *f = *state;
    put_request("drop", 1, NULL);
    put_deploy("drop", "v1", "sleep 600", 0);
    /* the next update mesoslite sends is lost on the way; not being
     * acknowledged, it is re-delivered after the retry interval */
    assert_int_equal(ml_post("/updates/drop?count=1"), 200);
    free(put_pending("drop", "v1", 1));
    WAIT_UNTIL(f, count_in_state("drop", "TASK_RUNNING") == 1, 40, "drop RUNNING");
    json_t *t = first_task("drop");
    json_t *ups = json_object_get(t, "taskUpdates"), *u;
    size_t i;
    int running = 0;
    json_array_foreach(ups, i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "taskState")), "TASK_RUNNING") &&
            json_object_get(u, "uuid"))
            running++;
    }
    assert_int_equal(running, 1);
    json_decref(t);
}

static void test_restart_break_failover(void **state)
{
    fx *f = *state;
    put_request("svc", 2, ",\"agentPlacement\":\"SEPARATE\"");
    put_deploy("svc", "v1", "sleep 600", 1);
    free(put_pending("svc", "v1", 1));
    free(put_pending("svc", "v1", 2));
    WAIT_UNTIL(f, count_in_state("svc", "TASK_RUNNING") == 2, 30, "svc x2 RUNNING");
    json_t *a = tasks_of("svc");
    const char *h0 = json_string_value(json_object_get(json_array_get(a, 0), "agentId"));
    const char *h1 = json_string_value(json_object_get(json_array_get(a, 1), "agentId"));
    assert_string_not_equal(h0, h1); /* SEPARATE */
    json_decref(a);
    long before = ml_tasks();
    mb_stats s;
    mb_get_stats(f->b, &s);
    char *fid = xstrdup(s.framework_id);
    uint64_t subs = s.subscribes;

    /* break the stream: re-subscribe with the same framework id */
    char *path = xasprintf("/frameworks/%s/break-stream", fid);
    assert_int_equal(ml_post(path), 200);
    free(path);
    WAIT_UNTIL(f, ({
                   mb_get_stats(f->b, &s);
                   s.subscribed &&s.subscribes > subs;
               }),
               20, "re-subscribed after a broken stream");
    assert_string_equal(s.framework_id, fid);

    /* master failover */
    subs = s.subscribes;
    assert_int_equal(ml_post("/master/failover?reregister_ms=500"), 200);
    WAIT_UNTIL(f, ({
                   mb_get_stats(f->b, &s);
                   s.subscribed &&s.subscribes > subs;
               }),
               30, "re-subscribed after failover");
    assert_string_equal(s.framework_id, fid);

    /* restart the bridge (a new leader): nothing launched twice */
    mb_free(f->b);
    bridge_start(f);
    WAIT_UNTIL(f, subscribed(f), 20, "SUBSCRIBED after restart");
    mb_get_stats(f->b, &s);
    assert_string_equal(s.framework_id, fid);
    spin(f, 2000); /* reconciliation rounds */
    assert_int_equal(count_in_state("svc", "TASK_RUNNING"), 2);
    assert_int_equal(count_in_state("svc", NULL), 2);
    assert_int_equal(ml_tasks(), before);
    free(fid);
}

/* A new leader reconciles its tasks a batch a call (reconcile_batch), so
 * that 100,000 tasks are not one call: 5 tasks a batch of 2 are three
 * explicit RECONCILE calls of at most 2 tasks, and an implicit one. */
static void test_reconcile_in_batches(void **state)
{
    fx *f = *state;
    mb_stats s;

    put_request("rb", 5, "");
    put_deploy("rb", "v1", "sleep 600", 0);
    for (int i = 1; i <= 5; i++)
        free(put_pending("rb", "v1", i));
    WAIT_UNTIL(f, count_in_state("rb", "TASK_RUNNING") == 5, 30, "rb x5 RUNNING");
    mb_free(f->b);
    f->reconcile_batch = 2;
    f->implicit_ms = 600000; /* only the one after SUBSCRIBED */
    bridge_start(f);
    WAIT_UNTIL(f, ({
                   mb_get_stats(f->b, &s);
                   s.reconciles >= 4;
               }),
               20, "three explicit RECONCILE calls and an implicit one");
    mb_get_stats(f->b, &s);
    assert_int_equal(s.reconcile_tasks_max, 2);
    assert_int_equal(count_in_state("rb", "TASK_RUNNING"), 5);
}

static void test_restart_mid_launch(void **state)
{
    fx *f = *state;
    /* a launch intent whose ACCEPT never went out (the leader died between
     * the txn and the call): reconciliation must report it, nothing runs */
    put_request("half", 1, NULL);
    put_deploy("half", "v1", "sleep 600", 0);
    api_task_id tid;
    cr_err err;
    assert_int_equal(api_task_id_init(&tid, "half", "v1", cr_wall_ms(), 1, "127.0.0.1", "r1", &err),
                     0);
    char *key = api_task_key("/corral", "half", tid.id);
    char *v = xasprintf("{\"taskId\":\"%s\",\"pendingTask\":{\"pendingTaskId\":"
                        "\"half-v1-1-1-NEW_DEPLOY-1\"},\"agentId\":\"nowhere\","
                        "\"lastTaskState\":\"TASK_LAUNCHED\",\"launchedAt\":%lld}",
                        tid.id, (long long)cr_wall_ms());
    mb_free(f->b);
    long before = ml_tasks();
    put_json(key, v);
    bridge_start(f);
    WAIT_UNTIL(f, count_ended_or_held("half") == 1, 30, "unsent launch reported terminal or held");
    assert_int_equal(ml_tasks(), before);
    api_task_id_release(&tid);
    free(key);
    free(v);
}

static void test_unknown_task_killed_and_lost_agent(void **state)
{
    fx *f = *state;
    /* a task Mesos runs whose record is gone (deleted while no bridge ran):
     * the reconciliation after SUBSCRIBED finds it and it is killed */
    put_request("orphan", 1, NULL);
    put_deploy("orphan", "v1", "sleep 600", 0);
    free(put_pending("orphan", "v1", 1));
    WAIT_UNTIL(f, count_in_state("orphan", "TASK_RUNNING") == 1, 30, "orphan RUNNING");
    long running = ml_tasks();
    mb_free(f->b);
    free(etcdctl("del --prefix /corral/tasks/orphan/"));
    bridge_start(f);
    WAIT_UNTIL(f, ml_tasks() == running - 1, 30, "orphan killed");
    assert_int_equal(count_in_state("orphan", NULL), 0);

    put_request("lose", 1, NULL);
    put_deploy("lose", "v1", "sleep 600", 0);
    free(put_pending("lose", "v1", 1));
    WAIT_UNTIL(f, count_in_state("lose", "TASK_RUNNING") == 1, 30, "lose RUNNING");
    json_t *t = first_task("lose");
    char *path = xasprintf("/agents/%s/remove", json_string_value(json_object_get(t, "agentId")));
    assert_int_equal(ml_post(path), 200);
    WAIT_UNTIL(f, count_ended_or_held("lose") == 1, 40, "task on the lost agent terminal or held");
    json_t *t2 = first_task("lose");
    const char *st = json_string_value(json_object_get(t2, "lastTaskState"));
    assert_true(!strcmp(st, "TASK_UNREACHABLE") || !strcmp(st, "TASK_LOST") ||
                !strcmp(st, "TASK_GONE") || !strcmp(st, "TASK_GONE_BY_OPERATOR"));
    char *rpath = xasprintf("/agents/%s/restore", json_string_value(json_object_get(t, "agentId")));
    ml_post(rpath);
    json_decref(t);
    json_decref(t2);
    free(path);
    free(rpath);
}

static void failed_over_stops_for_good(fx *f)
{
    fx g = *f;
    mb *first = f->b;
    mb_stats s;
    mb_get_stats(first, &s);
    char *fid = xstrdup(s.framework_id);
    /* a second scheduler (another replica that believes it leads) takes
     * the framework over: the first gets ERROR "Framework failed over" and
     * must stop for good instead of stealing it back */
    g.stopped = false;
    bridge_start(&g);
    WAIT_UNTIL(f, f->stopped, 20, "first bridge stopped");
    WAIT_UNTIL(f, subscribed(&g), 20, "second bridge SUBSCRIBED");
    mb_get_stats(g.b, &s);
    assert_string_equal(s.framework_id, fid);
    mb_get_stats(first, &s);
    assert_true(s.stopped);
    assert_false(s.subscribed);
    spin(f, 1500); /* the first must not re-subscribe */
    mb_get_stats(g.b, &s);
    assert_true(s.subscribed);
    assert_false(g.stopped);
    mb_free(g.b);
    free(fid);
}

static void test_failed_over_stops_for_good(void **state)
{
    failed_over_stops_for_good(*state);
}

/* The same with every event decoded on a thread (offload_event_bytes 1):
 * the events keep their order through a subscription, a failover and the
 * stream's end, and the ERROR that comes just before Mesos ends the
 * stream stops the bridge. (Whether the end comes while the ERROR is still
 * being decoded depends on timing: ev_flush makes both orders safe.) */
static void test_failed_over_with_events_off_the_loop(void **state)
{
    fx *f = *state;
    mb_stats s;

    mb_free(f->b);
    f->offload_bytes = 1;
    bridge_start(f);
    WAIT_UNTIL(f, subscribed(f), 20, "SUBSCRIBED, its events decoded off the loop");
    mb_get_stats(f->b, &s);
    assert_true(s.events_offloaded > 0);
    failed_over_stops_for_good(f);
    mb_get_stats(f->b, &s);
    assert_true(s.events_offloaded > 0);
}

/* A fake master on the test's loop: "redirect" answers 503 once, then 307 to
 * mesoslite with a protocol-relative Location; "silent" accepts SUBSCRIBE,
 * sends SUBSCRIBED with a 0.2 s heartbeat interval, then nothing. */
typedef struct fake {
    struct evhttp *http;
    int port;
    int subscribes;
    bool silent;
    bool bad_headers;
    int get_agents;                 /* GET_AGENTS calls (operator API) */
    struct evhttp_request *open[8]; /* silent streams still open */
} fake;

static void fake_closed(struct evhttp_connection *c, void *arg)
{
    fake *fk = arg;
    for (int i = 0; i < 8; i++)
        if (fk->open[i] && evhttp_request_get_connection(fk->open[i]) == c)
            fk->open[i] = NULL;
}

/* Ends the open streams so libevent frees their requests. */
static void fake_end_streams(fake *fk)
{
    for (int i = 0; i < 8; i++)
        if (fk->open[i]) {
            evhttp_send_reply_end(fk->open[i]);
            fk->open[i] = NULL;
        }
}

static void fake_cb(struct evhttp_request *req, void *arg)
{
    fake *fk = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body);
    char *text = xcalloc(blen + 1, 1);
    evbuffer_copyout(body, text, blen);
    json_error_t je;
    json_t *call = json_loads(text, 0, &je);
    free(text);
    const char *type = json_string_value(json_object_get(call, "type"));
    bool is_sub = type && !strcmp(type, "SUBSCRIBE");
    const char *sid = evhttp_find_header(in, "Mesos-Stream-Id");
    if (!strcmp(evhttp_request_get_uri(req), "/api/v1")) {
        /* the operator API: the bridge asks for the agents (no stream id) */
        if (!ct || strcmp(ct, "application/json") != 0 || !type || strcmp(type, "GET_AGENTS") ||
            sid)
            fk->bad_headers = true;
        json_decref(call);
        fk->get_agents++;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "{\"type\":\"GET_AGENTS\",\"get_agents\":{\"agents\":[]}}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    if (strcmp(evhttp_request_get_uri(req), "/api/v1/scheduler") != 0 || !ct ||
        strcmp(ct, "application/json") != 0 || !type || (is_sub && sid) ||
        (!is_sub && (!sid || strcmp(sid, "fake-stream"))))
        fk->bad_headers = true;
    json_decref(call);
    if (!is_sub) {
        evhttp_send_reply(req, 202, "Accepted", NULL);
        return;
    }
    fk->subscribes++;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (fk->silent) {
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_add_header(out, "Mesos-Stream-Id", "fake-stream");
        evhttp_send_reply_start(req, 200, "OK");
        const char *ev = "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
                         "{\"value\":\"fake-fw\"},\"heartbeat_interval_seconds\":0.2}}";
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "%zu\n%s", strlen(ev), ev);
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
        for (int i = 0; i < 8; i++)
            if (!fk->open[i]) {
                fk->open[i] = req;
                evhttp_connection_set_closecb(evhttp_request_get_connection(req), fake_closed, fk);
                break;
            }
        return; /* and then silence */
    }
    if (fk->subscribes == 1) {
        evhttp_send_reply(req, 503, "Service Unavailable", NULL);
        return;
    }
    char loc[256];
    snprintf(loc, sizeof(loc), "//%s/api/v1/scheduler", g_ml_url + strlen("http://"));
    evhttp_add_header(out, "Location", loc);
    evhttp_send_reply(req, 307, "Temporary Redirect", NULL);
}

static void fake_start(fx *f, fake *fk)
{
    fk->http = evhttp_new(f->base);
    struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(fk->http, "127.0.0.1", 0);
    assert_non_null(h);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sa, &sl);
    fk->port = ntohs(sa.sin_port);
    evhttp_set_gencb(fk->http, fake_cb, fk);
}

static void test_redirect_503_and_next_master(void **state)
{
    fx *f = *state;
    fake fk = {0};
    fake_start(f, &fk);
    fx g = *f;
    /* a refused master first, then one that answers 503 and then 307 */
    char *masters = xasprintf("http://127.0.0.1:%d,127.0.0.1:%d", cr_etcd_free_port(), fk.port);
    bridge_start_at(&g, masters, "/redirect");
    WAIT_UNTIL(f, subscribed(&g), 30, "SUBSCRIBED through the redirect");
    mb_stats s;
    mb_get_stats(g.b, &s);
    assert_string_equal(s.master, g_ml_url); /* the leader the Location named */
    assert_int_equal(fk.subscribes, 2);      /* 503, then 307 */
    assert_false(fk.bad_headers);
    mb_free(g.b);
    evhttp_free(fk.http);
    free(masters);
}

static void test_heartbeat_watchdog(void **state)
{
    fx *f = *state;
    fake fk = {.silent = true};
    fake_start(f, &fk);
    fx g = *f;
    char *masters = xasprintf("http://127.0.0.1:%d", fk.port);
    bridge_start_at(&g, masters, "/silent");
    WAIT_UNTIL(f, fk.subscribes >= 1 && subscribed(&g), 20, "SUBSCRIBED to the fake");
    /* heartbeats every 0.2 s never come: after 5 missed ones it re-subscribes
     * with the framework id it was given */
    WAIT_UNTIL(f, fk.subscribes >= 2, 20, "re-SUBSCRIBE after silence");
    /* every SUBSCRIBED asks the master for its agents */
    WAIT_UNTIL(f, fk.get_agents >= 2, 20, "GET_AGENTS after each SUBSCRIBED");
    assert_false(fk.bad_headers);
    fake_end_streams(&fk);
    spin(f, 300); /* let libevent finish them */
    mb_free(g.b);
    evhttp_free(fk.http);
    free(masters);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
    cr_etcd_opts o = {.members = 1, .progress_notify = "500ms"};
    g_etcd = cr_etcd_start(&o);
    if (!g_etcd)
        return -1;
    g_tmp = cr_test_tmpdir();
    int port = cr_etcd_free_port();
    g_ml_url = xasprintf("http://127.0.0.1:%d", port);
    const char *bin = getenv("MESOSLITE") ? getenv("MESOSLITE") : "bin/mesoslite";
    char listen[64], work[4096];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(work, sizeof(work), "%s/mesos", g_tmp);
    g_ml = fork();
    if (g_ml == 0) {
        setpgid(0, 0);
        char *logp = xasprintf("%s/mesoslite.log", g_tmp);
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "--listen", listen, "--agents", "2", "--racks", "r1,r2", "--work-dir", work,
              "--faults", "--heartbeat-interval", "1", "--allocation-interval", "0.2",
              "--update-retry-interval", "1", (char *)NULL);
        _exit(127);
    }
    setpgid(g_ml, g_ml);
    char *url = xasprintf("%s/master/state", g_ml_url);
    int64_t dl = cr_mono_ms() + 15000;
    while (http_do("GET", url, NULL, NULL) != 200) {
        if (cr_mono_ms() > dl) {
            fprintf(stderr, "mesoslite (%s) did not start; see %s/mesoslite.log\n", bin, g_tmp);
            free(url);
            return -1;
        }
        usleep(100 * 1000); /* startup probe, not synchronisation of the test */
    }
    free(url);
    return 0;
}

static int group_teardown(void **state)
{
    if (g_ml > 0) {
        /* SIGTERM: mesoslite kills and reaps every task before it exits.
         * A SIGKILL would leave the tasks' children running (their leaders
         * die with mesoslite, the rest is for the next mesoslite on the work
         * dir to kill, and there is none). */
        int64_t dl = cr_mono_ms() + 15000;
        kill(g_ml, SIGTERM);
        while (waitpid(g_ml, NULL, WNOHANG) == 0) {
            if (cr_mono_ms() > dl) {
                kill(-g_ml, SIGKILL);
                waitpid(g_ml, NULL, 0);
                break;
            }
            usleep(20 * 1000); /* polling its exit, with a deadline */
        }
    }
    cr_etcd_free(g_etcd);
    if (g_tmp) {
        char *cmd = xasprintf("rm -rf '%s'", g_tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_tmp);
        free(cmd);
    }
    free(g_tmp);
    free(g_ml_url);
    return 0;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_launch_run_kill, setup, teardown),
    cmocka_unit_test_setup_teardown(test_exit_code_and_updates_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_redelivered_update_stored_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restart_break_failover, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reconcile_in_batches, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restart_mid_launch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unknown_task_killed_and_lost_agent, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failed_over_stops_for_good, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failed_over_with_events_off_the_loop, setup, teardown),
    cmocka_unit_test_setup_teardown(test_redirect_503_and_next_master, setup, teardown),
    cmocka_unit_test_setup_teardown(test_heartbeat_watchdog, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
