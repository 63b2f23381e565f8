/* as_index: the counts kept from the change feed are what a walk of the
 * cache counts, byte for byte in /metrics and /api/state, over random
 * sequences of puts, deletes, re-lists (the events a store_cache sends:
 * the deletions and changed puts, then on_synced) and clears by hand
 * (which tell nobody), from a fixed seed; and a scrape reads no key once
 * the index is built. CORRAL_INDEX_BENCH=<tasks> times one /metrics and
 * one /api/state scrape walked and indexed at that many task records (CPU
 * time, the least of a few). */
#include "test/apiserver/astest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/as_index.h"

typedef astest_fx fx;

static int setup_empty(void **state)
{
    astest_fx *f = astest_fx_new();

    as_cache_set_synced(f->c, true);
    return astest_setup_done(state, f);
}

/* ---- a random cluster --------------------------------------------------------------- */

static uint64_t rng = 0x5eed1234abcdULL;

static unsigned rnd(unsigned n)
{
    return cr_test_rand(&rng, n);
}

static const char *const rids[] = {"a", "b", "c", "d"};
static const char *const task_ids[] = {"a-v1-1000-1-h1-r1", "a-v1-1001-2-h2-r2", "t3", "t4", "t5"};
static const char *const task_states[] = {"TASK_LAUNCHED",    "TASK_STAGING", "TASK_STARTING",
                                          "TASK_RUNNING",     "TASK_KILLING", "TASK_FINISHED",
                                          "TASK_FAILED",      "TASK_KILLED",  "TASK_LOST",
                                          "TASK_UNREACHABLE", "TASK_WEIRD",   "task_running"};
static const char *const req_states[] = {"ACTIVE",   "PAUSED",   "SYSTEM_COOLDOWN",
                                         "FINISHED", "DELETING", "DEPLOYING_TO_UNPAUSE"};

/* The number of keys keyname can make. */
#define NKEYS 128

/* Key number k (caller frees): 16 shapes for each of 4 requests, twice. */
static char *keyname(unsigned k)
{
    const char *r = rids[(k / 16) % 4];
    unsigned t = k / 64;

    switch (k % 16) {
    case 0:
        return xasprintf("/corral/requests/%s", r);
    case 1:
        return xasprintf("/corral/status/requests/%s", r);
    case 2:
        return xasprintf("/corral/intents/requests/%s/%s", r, t ? "pause" : "bounce");
    case 3:
        return xasprintf("/corral/deploys/%s/v%u", r, 1 + t);
    case 4:
        return xasprintf("/corral/status/deploys/%s/v%u", r, 1 + t);
    case 5:
        return xasprintf("/corral/intents/deploys/%s/v2/cancel", r);
    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
        return xasprintf("/corral/tasks/%s/%s%s", r, task_ids[k % 16 - 6], t ? "x" : "");
    case 11:
        return t ? xasprintf("/corral/tasks/%s", r) /* no task id */
                 : xasprintf("/corral/tasks/%s/x/y", r);
    case 12:
        return xasprintf("/corral/pending/%s/p%u", r, t);
    case 13:
        return xasprintf("/corral/cleanups/%s", task_ids[(k / 16 + t) % 5]);
    case 14:
        return t ? xasprintf("/corral/zz/%s", r) : xasprintf("/corral/requests/%s/odd", r);
    default:
        return xasprintf("/corral/agents/%s%u", r, t);
    }
}

/* A value for key (caller frees), one of several shapes. */
static char *value_for(const char *key)
{
    char rid[8] = "a";
    const char *p = strrchr(key, '/');
    unsigned shape = rnd(12);

    if (strncmp(key, "/corral/", 8) == 0) {
        const char *q = strchr(key + 8, '/');
        if (q && strstr(key, "/requests/") != NULL)
            sscanf(strstr(key, "/requests/") + 10, "%7[^/]", rid);
        else if (q)
            sscanf(q + 1, "%7[^/]", rid);
    }
    if (shape == 0)
        return xstrdup("{not json");
    if (shape == 1)
        return xstrdup("[1,2]");
    if (strstr(key, "/corral/tasks/")) {
        const char *st = task_states[rnd(sizeof(task_states) / sizeof(task_states[0]))];
        switch (shape) {
        case 2:
            return xstrdup("{\"taskId\":{\"id\":\"x\"}}"); /* no lastTaskState */
        case 3:
            return xasprintf("{\"lastTaskState\":5,\"n\":%u}", rnd(100));
        case 4: /* whitespace: the text is kept */
            return xasprintf("{ \"taskId\": {\"id\":\"%s\",\"requestId\":\"%s\",\"deployId\":"
                             "\"v1\",\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\","
                             "\"rackId\":\"r1\"}, \"lastTaskState\": \"%s\", \"updatedAt\": %u}",
                             p + 1, rid, st, rnd(1000));
        default:
            return xasprintf("{\"taskId\":{\"id\":\"%s\",\"requestId\":\"%s\",\"deployId\":\"v1\","
                             "\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\",\"rackId\":"
                             "\"r1\"},\"agentId\":\"a1\",\"hostname\":\"h1\",\"lastTaskState\":"
                             "\"%s\",\"updatedAt\":%u}",
                             p + 1, rid, st, rnd(1000));
        }
    }
    if (strstr(key, "/status/requests/"))
        return xasprintf("{\"requestId\":\"%s\",\"state\":\"%s\"%s%s}", rid,
                         req_states[rnd(sizeof(req_states) / sizeof(req_states[0]))],
                         rnd(2) ? ",\"activeDeployId\":\"v1\"" : "",
                         rnd(3) == 0 ? ",\"pendingDeployId\":\"v2\"" : "");
    if (strstr(key, "/status/deploys/"))
        return xasprintf("{\"requestId\":\"%s\",\"deployId\":\"%s\",\"state\":\"%s\"}", rid, p + 1,
                         rnd(2) ? "SUCCEEDED" : "WAITING");
    if (strstr(key, "/deploys/"))
        return xasprintf("{\"requestId\":\"%s\",\"id\":\"%s\",\"timestamp\":%u}", rid, p + 1,
                         1000 + rnd(1000));
    if (strstr(key, "/intents/"))
        return xasprintf("{\"timestamp\":%u,\"user\":\"u\"}", rnd(1000));
    if (strstr(key, "/corral/requests/"))
        return xasprintf("{\"id\":\"%s\",\"requestType\":\"%s\",\"instances\":%u}", rid,
                         rnd(2) ? "SERVICE" : "ON_DEMAND", rnd(4));
    if (strstr(key, "/pending/"))
        return xasprintf("{\"pendingTaskId\":{\"id\":\"%s\",\"requestId\":\"%s\",\"deployId\":"
                         "\"v1\",\"nextRunAt\":%u,\"instanceNo\":1,\"pendingType\":\"ONEOFF\","
                         "\"createdAt\":1}}",
                         p + 1, rid, rnd(200000));
    return xasprintf("{\"n\":%u}", rnd(100));
}

static void put(fx *f, const char *key, const char *value)
{
    f->rev++;
    as_cache_put_raw(f->c, key, value, strlen(value), f->rev, f->rev);
}

/* A re-list as the cache applies one after a compaction: the keys the
 * list no longer has deleted, those it has with a newer revision put
 * (each told), then on_synced. */
static void relist(fx *f)
{
    for (unsigned k = 0; k < NKEYS; k++) {
        char *key = keyname(k), *v;
        unsigned what = rnd(4);
        if (what == 0) {
            f->rev++;
            as_cache_del(f->c, key, f->rev);
        } else if (what == 1) {
            v = value_for(key);
            put(f, key, v);
            free(v);
        }
        free(key);
    }
    as_cache_set_revision(f->c, f->rev);
    as_cache_set_synced(f->c, true);
}

static void test_random_changes(void **state)
{
    fx *f = *state;
    unsigned syncs = 1, clears = 0;
    as_index_stats st;
    char when[64];

    for (unsigned step = 0; step < 3000; step++) {
        unsigned op = rnd(100);
        char *key = keyname(rnd(NKEYS)), *v;

        if (op < 60) {
            v = value_for(key);
            put(f, key, v);
            free(v);
        } else if (op < 90) {
            f->rev++;
            as_cache_del(f->c, key, f->rev);
        } else if (op < 96) {
            relist(f);
            syncs++;
        } else if (op < 98) {
            /* emptied by hand, which tells nobody; then filled again */
            as_cache_clear(f->c);
            clears++;
            for (unsigned n = rnd(NKEYS); n > 0; n--) {
                char *k2 = keyname(rnd(NKEYS));
                v = value_for(k2);
                put(f, k2, v);
                free(v);
                free(k2);
            }
        } else {
            as_cache_clear(f->c);
            clears++;
        }
        free(key);
        /* the build goes on a few keys at a time, changes coming between */
        if (rnd(3) == 0)
            as_index_step(f->index, &f->indexed, f->c, 1 + rnd(8));
        /* read now and then only, so that changes pile up between reads;
         * half the time from a ready index (else the read walks and counts
         * the index to the end as it goes) */
        if (rnd(3) == 0 || op >= 90) {
            if (rnd(2)) {
                while (!as_index_step(f->index, &f->indexed, f->c, 1 + rnd(8)))
                    ;
                assert_true(as_index_ready(f->index));
            }
            snprintf(when, sizeof(when), "step %u (op %u)", step, op);
            astest_check_indexed(f, when);
        }
    }
    astest_check_indexed(f, "the end");
    as_index_get_stats(f->index, &st);
    /* counted again only at the first read, after a sync, after a clear */
    assert_true(st.rebuilds <= 1 + syncs + clears);
}

/* A scrape with nothing new reads no key; a change of a request's status
 * works that request out again, and only it. */
static void test_scrape_reads_nothing(void **state)
{
    fx *f = *state;
    as_index_stats a, b;
    char *m1, *m2;

    for (unsigned k = 0; k < NKEYS; k++) {
        char *key = keyname(k), *v = value_for(key);
        put(f, key, v);
        free(v);
        free(key);
    }
    astest_check_indexed(f, "loaded");
    as_index_get_stats(f->index, &a);
    m1 = astest_whole(f, &f->indexed, "/metrics", NULL);
    m2 = astest_whole(f, &f->indexed, "/metrics", NULL);
    assert_string_equal(m1, m2);
    as_index_get_stats(f->index, &b);
    assert_int_equal(b.rebuilds, a.rebuilds);
    assert_int_equal(b.refreshes, a.refreshes);
    assert_int_equal(b.scanned, a.scanned);
    put(f, "/corral/status/requests/b", "{\"requestId\":\"b\",\"state\":\"PAUSED\"}");
    astest_check_indexed(f, "status of b");
    as_index_get_stats(f->index, &a);
    assert_int_equal(a.rebuilds, b.rebuilds);
    /* b, once for each of the two reads the check makes */
    assert_true(a.refreshes - b.refreshes <= 2);
    free(m1);
    free(m2);
}

/* /metrics' text over a fixture as the walk wrote it before the index
 * (the order of the names is each one's first key). */
static void test_metrics_fixture(void **state)
{
    fx *f = *state;
    static const char want[] =
        "# HELP corral_requests Requests by state.\n# TYPE corral_requests gauge\n"
        "corral_requests{state=\"PAUSED\"} 1\ncorral_requests{state=\"ACTIVE\"} 2\n"
        "# HELP corral_tasks Task records by last state.\n# TYPE corral_tasks gauge\n"
        "corral_tasks{state=\"TASK_RUNNING\"} 2\ncorral_tasks{state=\"TASK_LAUNCHED\"} 2\n"
        "corral_tasks{state=\"TASK_FAILED\"} 1\n"
        "# HELP corral_pending_tasks Tasks waiting for an offer.\n"
        "# TYPE corral_pending_tasks gauge\ncorral_pending_tasks 0\n"
        "# HELP corral_cleanups Tasks with a kill intent.\n"
        "# TYPE corral_cleanups gauge\ncorral_cleanups 0\n"
        "# HELP corral_deploys_pending Deploys rolling out.\n"
        "# TYPE corral_deploys_pending gauge\ncorral_deploys_pending 1\n"
        "# HELP corral_agents Known Mesos agents.\n# TYPE corral_agents gauge\ncorral_agents 0\n";
    static const char *const recs[][2] = {
        {"/corral/requests/a", "{\"id\":\"a\",\"requestType\":\"SERVICE\",\"instances\":1}"},
        {"/corral/requests/b", "{\"id\":\"b\",\"requestType\":\"SERVICE\",\"instances\":1}"},
        {"/corral/requests/c", "{\"id\":\"c\",\"requestType\":\"WORKER\",\"instances\":1}"},
        {"/corral/intents/requests/a/pause", "{\"timestamp\":1}"},
        {"/corral/deploys/c/v1", "{\"requestId\":\"c\",\"id\":\"v1\",\"timestamp\":1}"},
        {"/corral/tasks/a/t1", "{\"lastTaskState\":\"TASK_RUNNING\"}"},
        {"/corral/tasks/a/t2", "{\"taskId\":{\"id\":\"t2\"}}"},
        {"/corral/tasks/b/t3", "{\"lastTaskState\":\"TASK_FAILED\"}"},
        {"/corral/tasks/b/t4", "{\"lastTaskState\":\"TASK_LAUNCHED\"}"},
        {"/corral/tasks/c/t5", "{\"lastTaskState\":\"TASK_RUNNING\"}"},
    };
    char *got;

    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        put(f, recs[i][0], recs[i][1]);
    for (int m = 0; m < 2; m++) {
        got = astest_whole(f, m ? &f->indexed : &f->cfg, "/metrics", NULL);
        assert_string_equal(got, want);
        free(got);
    }
    /* a's pause goes: a is ACTIVE and the first key of ACTIVE; the first
     * RUNNING record goes: LAUNCHED's first key comes first */
    f->rev++;
    as_cache_del(f->c, "/corral/intents/requests/a/pause", f->rev);
    f->rev++;
    as_cache_del(f->c, "/corral/tasks/a/t1", f->rev);
    astest_check_indexed(f, "after the deletes");
    got = astest_whole(f, &f->indexed, "/metrics", NULL);
    assert_non_null(strstr(got, "corral_requests{state=\"ACTIVE\"} 3\n"));
    assert_non_null(strstr(got, "corral_tasks{state=\"TASK_LAUNCHED\"} 2\n"
                                "corral_tasks{state=\"TASK_FAILED\"} 1\n"
                                "corral_tasks{state=\"TASK_RUNNING\"} 1\n"));
    free(got);
}

/* ---- the cost of a scrape ------------------------------------------------------------ */

/* A record as the bridge writes it (from fixtures/task-records.txt): request
 * svc00000, task ...-1-..., TASK_RUNNING. */
static const char bridge_record[] =
    "{\"taskId\":{\"id\":\"svc00000-v1-1796534892065-1-sim_agent_0-r1\",\"requestId\":\"svc00"
    "000\",\"deployId\":\"v1\",\"startedAt\":1796534892065,\"instanceNo\":1,\"host\":\"sim-ag"
    "ent-0\",\"rackId\":\"r1\",\"sanitizedHost\":\"sim_agent_0\",\"sanitizedRackId\":\"r1\"},"
    "\"pendingTask\":{\"pendingTaskId\":{\"id\":\"svc00000-v1-1796534892060-1-NEW_DEPLOY-1796"
    "534892060\",\"requestId\":\"svc00000\",\"deployId\":\"v1\",\"nextRunAt\":1796534892060,\""
    "instanceNo\":1,\"pendingType\":\"NEW_DEPLOY\",\"createdAt\":1796534892060}},\"frameworkI"
    "d\":\"cc4cb712-c2c7-4b80-8dd8-e266a8ab26c2-0000\",\"agentId\":\"cc4cb712-c2c7-4b80-8dd8-"
    "e266a8ab26c2-S0\",\"hostname\":\"sim-agent-0\",\"offerId\":\"cc4cb712-c2c7-4b80-8dd8-e26"
    "6a8ab26c2-O1\",\"ports\":[],\"resources\":{\"cpus\":0.10000000000000001,\"memoryMb\":64."
    "0,\"diskMb\":0.0,\"numPorts\":0},\"env\":{\"INSTANCE_NO\":\"1\",\"TASK_HOST\":\"sim-agen"
    "t-0\",\"TASK_RACK_ID\":\"r1\",\"AVAILABILITY_ZONE\":\"r1\",\"TASK_REQUEST_ID\":\"svc0000"
    "0\",\"TASK_DEPLOY_ID\":\"v1\",\"TASK_ID\":\"svc00000-v1-1796534892065-1-sim_agent_0-r1\""
    ",\"ESTIMATED_INSTANCE_COUNT\":\"3\"},\"launchedAt\":1796534892065,\"lastTaskState\":\"TA"
    "SK_RUNNING\",\"updatedAt\":1796534892072,\"taskUpdates\":[{\"taskState\":\"TASK_STARTING"
    "\",\"timestamp\":1796534892072,\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"tCRrMCthTjes8aX"
    "mgSuquw==\"},{\"taskState\":\"TASK_RUNNING\",\"timestamp\":1796534892072,\"source\":\"SO"
    "URCE_EXECUTOR\",\"uuid\":\"AQhTfp0zTBWjmuvM2+7FEA==\"}],\"mesosTask\":{\"name\":\"svc000"
    "00\",\"task_id\":{\"value\":\"svc00000-v1-1796534892065-1-sim_agent_0-r1\"},\"agent_id\""
    ":{\"value\":\"cc4cb712-c2c7-4b80-8dd8-e266a8ab26c2-S0\"},\"resources\":[{\"name\":\"cpus"
    "\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.10000000000000001},\"role\":\"*\",\"alloc"
    "ation_info\":{\"role\":\"*\"}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value"
    "\":64.0},\"role\":\"*\",\"allocation_info\":{\"role\":\"*\"}}],\"command\":{\"shell\":tr"
    "ue,\"value\":\"sleep 1000000\",\"environment\":{\"variables\":[{\"name\":\"INSTANCE_NO\""
    ",\"value\":\"1\"},{\"name\":\"TASK_HOST\",\"value\":\"sim-agent-0\"},{\"name\":\"TASK_RA"
    "CK_ID\",\"value\":\"r1\"},{\"name\":\"AVAILABILITY_ZONE\",\"value\":\"r1\"},{\"name\":\""
    "TASK_REQUEST_ID\",\"value\":\"svc00000\"},{\"name\":\"TASK_DEPLOY_ID\",\"value\":\"v1\"}"
    ",{\"name\":\"TASK_ID\",\"value\":\"svc00000-v1-1796534892065-1-sim_agent_0-r1\"},{\"name"
    "\":\"ESTIMATED_INSTANCE_COUNT\",\"value\":\"3\"}]}}}}";

/* s with every "from" replaced by "to" (caller frees). */
static char *subst(const char *s, const char *from, const char *to)
{
    cr_buf b = CR_BUF_INIT;
    size_t n = strlen(from);

    for (const char *p; (p = strstr(s, from)); s = p + n) {
        cr_buf_add(&b, s, (size_t)(p - s));
        cr_buf_adds(&b, to);
    }
    cr_buf_adds(&b, s);
    return cr_buf_detach(&b, NULL);
}

/* The bridge's record of instance i of request r in state st, and its key. */
static char *bench_record(long r, long i, const char *st, char *key, size_t cap)
{
    char rid[24], tid[64], n[64], *a, *b, *c;

    snprintf(rid, sizeof(rid), "svc%05ld", r % 100000);
    snprintf(tid, sizeof(tid), "%s-v1-1796534892065-%ld-", rid, i);
    a = subst(bridge_record, "svc00000-v1-1796534892065-1-", tid);
    b = subst(a, "svc00000", rid);
    c = subst(b, "\"lastTaskState\":\"TASK_RUNNING\"", st);
    snprintf(n, sizeof(n), "\"instanceNo\":%ld,", i);
    free(a);
    a = subst(c, "\"instanceNo\":1,", n);
    snprintf(n, sizeof(n), "\"INSTANCE_NO\",\"value\":\"%ld\"", i);
    free(b);
    b = subst(a, "\"INSTANCE_NO\",\"value\":\"1\"", n);
    snprintf(n, sizeof(n), "\"INSTANCE_NO\":\"%ld\"", i);
    free(c);
    c = subst(b, "\"INSTANCE_NO\":\"1\"", n);
    snprintf(n, sizeof(n), "-1796534892060-%ld-", i); /* the pending task's id */
    free(a);
    a = subst(c, "-1796534892060-1-", n);
    free(c);
    c = a;
    a = NULL;
    snprintf(key, cap, "/corral/tasks/%s/%ssim_agent_0-r1", rid, tid);
    free(a);
    free(b);
    return c;
}

/* CPU time (the VM is shared: wall time counts the others' turns). */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The least of reps timings of one whole read, in ms. */
static double time_read(fx *f, const as_api_config *cfg, const char *path, int reps)
{
    double best = 1e9;

    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        free(astest_whole(f, cfg, path, NULL));
        double dt = now_ms() - t0;
        if (dt < best)
            best = dt;
    }
    return best;
}

static void test_bench(void **state)
{
    fx *f = *state;
    const char *env = getenv("CORRAL_INDEX_BENCH");
    long ntasks = env ? atol(env) : 2000, per = 5, typed = 0;
    double t0, feed_ms, first_ms = 0, slice_ms = 0;
    bool done = false;
    char key[192];

    for (long r = 0; r < ntasks / per; r++) {
        char *v;
        snprintf(key, sizeof(key), "/corral/requests/svc%05ld", r);
        v = xasprintf("{\"id\":\"svc%05ld\",\"requestType\":\"SERVICE\",\"instances\":%ld}", r,
                      per);
        put(f, key, v);
        free(v);
        snprintf(key, sizeof(key), "/corral/status/requests/svc%05ld", r);
        v = xasprintf("{\"requestId\":\"svc%05ld\",\"state\":\"ACTIVE\",\"activeDeployId\":\"v1\"}",
                      r);
        put(f, key, v);
        free(v);
        for (long i = 0; i < per; i++) {
            v = bench_record(r, i + 1,
                             (r + i) % 50 ? "\"lastTaskState\":\"TASK_RUNNING\""
                                          : "\"lastTaskState\":\"TASK_STARTING\"",
                             key, sizeof(key));
            put(f, key, v);
            free(v);
            const as_entry *e = as_cache_get(f->c, key);
            typed += e->doc && !e->error;
            if (env && !(e->doc && !e->error) && r == 1)
                printf("untyped %s: %s\n", key, e->error ? e->error : "no document");
        }
    }
    /* the build, 1,000 keys a slice (as_walk's slices are smaller) */
    while (!done) {
        t0 = now_ms();
        done = as_index_step(f->index, &f->indexed, f->c, 1000);
        t0 = now_ms() - t0;
        first_ms += t0;
        if (t0 > slice_ms)
            slice_ms = t0;
    }
    astest_check_indexed(f, "bench");
    /* a tenth of the tasks change state */
    t0 = now_ms();
    for (long r = 0; r < ntasks / per; r++)
        for (long i = 0; i < per; i++) {
            if ((r + i) % 10)
                continue;
            char *v = bench_record(r, i + 1,
                                   (r + i) % 7 ? "\"lastTaskState\":\"TASK_RUNNING\""
                                               : "\"lastTaskState\":\"TASK_KILLED\"",
                                   key, sizeof(key));
            put(f, key, v);
            free(v);
        }
    feed_ms = now_ms() - t0;
    astest_check_indexed(f, "bench, changed");
    if (!env)
        return;
    printf("as_index bench: %ld task records (%ld typed), %ld requests\n", ntasks, typed,
           ntasks / per);
    printf("  /metrics   walked %8.3f ms  indexed %8.3f ms\n",
           time_read(f, &f->memoized, "/metrics", 5), time_read(f, &f->indexed, "/metrics", 5));
    printf("  /api/state walked %8.3f ms  indexed %8.3f ms\n",
           time_read(f, &f->memoized, "/api/state", 3), time_read(f, &f->indexed, "/api/state", 3));
    printf("  the index's build %.3f ms (the longest slice of 1,000 keys %.3f ms); %ld puts "
           "with the index subscribed %.3f ms\n",
           first_ms, slice_ms, ntasks / 10, feed_ms);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_random_changes, setup_empty, astest_teardown),
    cmocka_unit_test_setup_teardown(test_scrape_reads_nothing, setup_empty, astest_teardown),
    cmocka_unit_test_setup_teardown(test_metrics_fixture, setup_empty, astest_teardown),
    cmocka_unit_test_setup_teardown(test_bench, setup_empty, astest_teardown),
};

CR_TEST_MAIN(tests)
