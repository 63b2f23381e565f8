/* The shared controller runner against a real etcd, with a toy loop: each
 * pass moves a counter one step towards a target, as one fenced write. The
 * next pass must see the previous pass's write (read-your-writes through
 * the cache's revision waits), so the loop converges with no conflict; a
 * failing pass is retried after its backoff; a key with nothing to do is
 * forgotten; a stopped runner writes nothing. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "apis/keys.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/runner.h"
#include "store/cache.h"
#include "store/leader.h"
#include "test/lib/etcd_harness.h"

#define PREFIX "/toy"
#define NKEYS  20
#define TARGET 5

typedef struct fx {
    cr_etcd *etcd;
    struct event_base *base;
    cr_http *http;
    store *s;
    store_cache *cache;
    store_leader *leader;
    ctl_runner *r;
    int elected;
    int fail_left; /* passes of "boom" that fail */
    int forgets;
    int passes_done_at_stop;
} fx;

static void noop(evutil_socket_t fd, short what, void *arg)
{
}

static bool run_until(fx *f, bool (*pred)(fx *f), int64_t timeout_ms)
{
    int64_t deadline = cr_mono_ms() + timeout_ms;
    while (!pred(f)) {
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

static int64_t int_field(const store_obj *o, const char *name)
{
    return o ? json_integer_value(json_object_get(o->value, name)) : 0;
}

/* ---- the toy loop: status/requests/<id>.seen counts up to requests/<id>.n ---- */

static ctl_pass toy_reconcile(void *arg, ctl_runner *r, const char *rid, int64_t now,
                              ctl_ops *ops, int64_t *requeue_ms, cr_err *err)
{
    fx *f = arg;
    char *rkey = api_key_request(PREFIX, rid), *skey = api_key_request_status(PREFIX, rid);
    const store_obj *req = store_cache_get(f->cache, rkey);
    const store_obj *st = store_cache_get(f->cache, skey);
    ctl_pass verdict = CTL_PASS_WRITE;

    free(rkey);
    if (!req) {
        f->forgets++;
        free(skey);
        return CTL_PASS_FORGET;
    }
    if (!strcmp(rid, "boom") && f->fail_left > 0) {
        f->fail_left--;
        free(skey);
        cr_error(err, CR_EINTERNAL, "boom");
        return CTL_PASS_ERROR;
    }
    int64_t seen = int_field(st, "seen");
    if (seen < int_field(req, "n")) {
        ops->v = xrealloc(ops->v, (ops->n + 1) * sizeof(*ops->v));
        ops->v[ops->n++] = (ctl_op){.type = st ? CTL_OP_PUT : CTL_OP_CREATE,
                                    .key = skey,
                                    .value = xasprintf("{\"seen\":%lld}", (long long)seen + 1),
                                    .mod_revision = st ? st->mod_revision : 0};
        skey = NULL;
        /* come back at once, maybe before the write's event reached the
         * cache: the runner must hold the pass until it has */
        *requeue_ms = 1;
    }
    free(skey);
    return verdict;
}

static void toy_on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    char *owned;
    const char *rid = ctl_obj_request_id(cur ? cur : old, &owned);
    ctl_runner_enqueue(r, rid);
    free(owned);
}

static void toy_resync(void *arg, ctl_runner *r)
{
    ctl_runner_enqueue_kind(r, PREFIX, API_KEY_REQUEST);
}

static const ctl_loop toy = {
    .name = "toy", .reconcile = toy_reconcile, .on_change = toy_on_change, .resync = toy_resync};

/* ---- fixture ------------------------------------------------------------------------ */

static void on_elected(void *arg, int64_t rev)
{
    ((fx *)arg)->elected = 1;
}

static void on_lost(void *arg, const char *why)
{
    ((fx *)arg)->elected = 0;
}

static bool is_elected(fx *f)
{
    return f->elected && store_cache_synced(f->cache);
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    cr_etcd_opts eo = {.members = 1};
    store_leader_config lc = {.key = PREFIX "/leader", .id = "runner-test"};
    store_leader_handlers lh = {on_elected, on_lost, NULL};
    store_cache_config cc = {.prefix = PREFIX};

    f->etcd = cr_etcd_start(&eo);
    if (!f->etcd)
        return -1;
    store_config sc = {.endpoints = cr_etcd_endpoint(f->etcd, 0)};
    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->s = store_new(f->base, f->http, &sc, NULL);
    f->cache = store_cache_new(f->base, f->s, &cc);
    assert_int_equal(store_cache_start(f->cache, NULL), 0);
    f->leader = store_leader_new(f->s, &lc, &lh, f);
    assert_int_equal(store_leader_start(f->leader, NULL), 0);
    assert_true(run_until(f, is_elected, 15000));
    ctl_runner_config rc = {.max_inflight = 8};
    f->r = ctl_runner_new(f->base, f->s, f->cache, f->leader, &toy, f, &rc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ctl_runner_free(f->r);
    store_leader_free(f->leader);
    store_cache_free(f->cache);
    store_free(f->s);
    cr_http_free(f->http);
    event_base_free(f->base);
    cr_etcd_free(f->etcd);
    free(f);
    return 0;
}

/* [0]: answered, [1]: succeeded */
static void put_cb(void *arg, const store_result *res, const cr_err *err)
{
    int *w = arg;
    w[0] = 1;
    w[1] = err == NULL;
}

static void put(fx *f, const char *key, const char *value)
{
    int w[2] = {0, 0};
    assert_int_equal(store_put(f->s, key, value, strlen(value), NULL, put_cb, w, NULL), 0);
    int64_t deadline = cr_mono_ms() + 10000;
    while (!w[0] && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(w[1]);
}

static bool converged(fx *f)
{
    char *prefix = api_key_kind_prefix(PREFIX, API_KEY_REQUEST_STATUS, NULL);
    size_t first, n = store_cache_range(f->cache, prefix, &first);
    free(prefix);
    if (n != NKEYS + 1)
        return false;
    for (size_t i = first; i < first + n; i++)
        if (int_field(store_cache_at(f->cache, i), "seen") != TARGET)
            return false;
    return true;
}

static bool boom_retried(fx *f)
{
    return f->fail_left == 0;
}

static void test_converges_without_conflicts(void **state)
{
    fx *f = *state;
    char key[64], val[32];

    snprintf(val, sizeof(val), "{\"n\":%d}", TARGET);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), PREFIX "/requests/r%02d", i);
        put(f, key, val);
    }
    put(f, PREFIX "/requests/boom", val);
    f->fail_left = 2;
    assert_int_equal(ctl_runner_start(f->r, NULL), 0);
    assert_true(ctl_runner_running(f->r));
    assert_true(run_until(f, converged, 30000));
    assert_true(run_until(f, boom_retried, 1000));

    ctl_runner_stats st;
    ctl_runner_get_stats(f->r, &st);
    assert_true(st.synced);
    /* one write per step, and never a plan from a cache older than its
     * own last write: no compare ever failed */
    assert_int_equal(st.writes, (NKEYS + 1) * TARGET);
    assert_int_equal(st.conflicts, 0);
    assert_int_equal(st.errors, 2);
    assert_true(st.passes >= (uint64_t)(NKEYS + 1) * (TARGET + 1));
    assert_true(st.reconcile_latency.count > 0); /* passes still in flight are not counted yet */

    /* a key with nothing of it left is forgotten */
    ctl_runner_enqueue(f->r, "ghost");
    int before = f->forgets;
    int64_t deadline = cr_mono_ms() + 5000;
    while (f->forgets == before && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(f->forgets, before + 1);

    /* stopped: a new target is not acted on */
    ctl_runner_stop(f->r);
    assert_false(ctl_runner_running(f->r));
    put(f, PREFIX "/requests/r00", "{\"n\":9}");
    ctl_runner_enqueue(f->r, "r00"); /* no-op while stopped */
    deadline = cr_mono_ms() + 500; /* a bounded look: nothing may happen */
    while (cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(int_field(store_cache_get(f->cache, PREFIX "/status/requests/r00"), "seen"),
                     TARGET);

    /* started again: resynced from the cache, it finishes the new target */
    assert_int_equal(ctl_runner_start(f->r, NULL), 0);
    deadline = cr_mono_ms() + 10000;
    while (int_field(store_cache_get(f->cache, PREFIX "/status/requests/r00"), "seen") != 9 &&
           cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(int_field(store_cache_get(f->cache, PREFIX "/status/requests/r00"), "seen"),
                     9);
}

static bool wrote_once(fx *f)
{
    ctl_runner_stats st;
    ctl_runner_get_stats(f->r, &st);
    return st.writes == 1 && st.queue_processing == 0;
}

/* The toy loop over a cache fed by hand (it lags etcd for as long as the
 * test wants), started; returns the live cache for hand_done. */
static store_cache *on_hand_cache(fx *f, store_cache *hand)
{
    store_cache *live = f->cache;

    ctl_runner_free(f->r);
    f->cache = hand; /* what the toy loop reads */
    f->r = ctl_runner_new(f->base, f->s, hand, f->leader, &toy, f, NULL);
    assert_int_equal(ctl_runner_start(f->r, NULL), 0);
    return live;
}

/* Frees the runner and the hand-fed cache; the live cache is back. */
static void hand_done(fx *f, store_cache *live)
{
    ctl_runner_free(f->r);
    f->r = NULL;
    store_cache_free(f->cache);
    f->cache = live;
}

/* A cache fed by hand lags behind etcd for as long as the test wants: the
 * pass after a write waits for the write's revision, then goes on. */
static void test_waits_for_its_own_write(void **state)
{
    fx *f = *state;
    store_cache *hand = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = PREFIX});
    store_cache *live;

    store_cache_feed_raw(hand, PREFIX "/requests/w", "{\"n\":2}", 7, 1, 1);
    store_cache_feed_synced(hand, true);
    live = on_hand_cache(f, hand);
    assert_true(run_until(f, wrote_once, 10000)); /* seen=1 is in etcd, not in the cache */

    /* requeued after 1 ms, yet no second write while the cache lags */
    int64_t until = cr_mono_ms() + 300;
    while (cr_mono_ms() < until)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    ctl_runner_stats st;
    ctl_runner_get_stats(f->r, &st);
    assert_int_equal(st.writes, 1);
    assert_true(st.waits >= 1);
    const store_obj *lv = store_cache_get(live, PREFIX "/status/requests/w");
    int64_t deadline = cr_mono_ms() + 10000;
    while (!lv && cr_mono_ms() < deadline) {
        event_base_loop(f->base, EVLOOP_ONCE);
        lv = store_cache_get(live, PREFIX "/status/requests/w");
    }
    assert_non_null(lv);
    assert_int_equal(int_field(lv, "seen"), 1);

    /* the cache catches up: the pass goes on from the written state */
    store_cache_feed_raw(hand, lv->key, "{\"seen\":1}", 10, lv->create_revision,
                         lv->mod_revision);
    store_cache_feed_revision(hand, lv->mod_revision);
    deadline = cr_mono_ms() + 10000;
    do {
        event_base_loop(f->base, EVLOOP_ONCE);
        ctl_runner_get_stats(f->r, &st);
    } while (st.writes < 2 && cr_mono_ms() < deadline);
    assert_int_equal(st.writes, 2);
    assert_int_equal(st.conflicts, 0);

    hand_done(f, live);
}

/* A failed compare's revision is etcd's when it answered, which a cache of
 * one prefix may not reach for long (another prefix's writes): the key
 * plans again after a bounded wait, not never. */
static void test_conflict_wait_is_bounded(void **state)
{
    fx *f = *state;
    store_cache *hand = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = PREFIX});
    store_cache *live;
    ctl_runner_stats st;
    int64_t deadline;

    /* a status at revision 1 that etcd does not have: every PUT over it fails */
    store_cache_feed_raw(hand, PREFIX "/requests/c", "{\"n\":3}", 7, 1, 1);
    store_cache_feed_raw(hand, PREFIX "/status/requests/c", "{\"seen\":0}", 10, 1, 1);
    store_cache_feed_revision(hand, 1);
    store_cache_feed_synced(hand, true);
    live = on_hand_cache(f, hand);
    deadline = cr_mono_ms() + 10000;
    do {
        event_base_loop(f->base, EVLOOP_ONCE);
        ctl_runner_get_stats(f->r, &st);
    } while (st.conflicts < 2 && cr_mono_ms() < deadline);
    assert_true(st.conflicts >= 2);
    assert_true(st.waits >= 1);

    hand_done(f, live);
}

/* While the cache applies a re-list, no pass plans from it: the keys wait,
 * with one cache wait among them, and go once it is all in. */
static void test_holds_keys_during_a_relist(void **state)
{
    fx *f = *state;
    store_cache *hand = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = PREFIX});
    store_cache *live;
    ctl_runner_stats st;
    int64_t deadline;

    store_cache_feed_raw(hand, PREFIX "/requests/a", "{\"n\":1}", 7, 1, 1);
    store_cache_feed_raw(hand, PREFIX "/requests/b", "{\"n\":1}", 7, 2, 2);
    store_cache_feed_revision(hand, 2);
    store_cache_feed_synced(hand, true);
    store_cache_feed_relisting(hand, 50);
    live = on_hand_cache(f, hand);
    deadline = cr_mono_ms() + 300; /* a bounded look: nothing may be planned */
    while (cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    ctl_runner_get_stats(f->r, &st);
    assert_int_equal(st.passes, 0);
    assert_int_equal(st.relist_waits, 2);

    store_cache_feed_revision(hand, 50); /* the re-list is all in */
    deadline = cr_mono_ms() + 10000;
    do {
        event_base_loop(f->base, EVLOOP_ONCE);
        ctl_runner_get_stats(f->r, &st);
    } while (st.writes < 2 && cr_mono_ms() < deadline);
    assert_int_equal(st.writes, 2); /* a and b each wrote their first step */
    assert_int_equal(st.relist_waits, 2);

    hand_done(f, live);
}

/* ---- hooks on operation groups (ctl_ops_then) ------------------------------------ */

typedef struct hook {
    int written, dropped;
    bool succeeded;
    cr_code code; /* of the error, when written with one */
} hook;

static void hook_written(void *arg, const store_result *res, const cr_err *err)
{
    hook *h = arg;
    h->written++;
    h->succeeded = res && res->succeeded;
    h->code = err ? err->code : CR_OK;
}

static void hook_drop(void *arg)
{
    ((hook *)arg)->dropped++;
}

typedef struct hooks_fx {
    fx *f;
    hook created, clashed, failed, stopped;
    int two_passes, fail_passes, stop_passes;
} hooks_fx;

/* "two": a create that lands and one whose key exists, one group each;
 * "fail": an operation with a hook, and the pass fails; "stop": a create
 * the test stops the runner on. */
static ctl_pass hooks_reconcile(void *arg, ctl_runner *r, const char *key, int64_t now,
                                ctl_ops *ops, int64_t *requeue_ms, cr_err *err)
{
    hooks_fx *x = arg;
    size_t g;

    /* each key plans once: a failed compare or pass would plan it again */
    if (!strcmp(key, "two") && !x->two_passes++) {
        g = ctl_ops_next_group(ops);
        ctl_ops_add(ops, CTL_OP_CREATE, xstrdup(PREFIX "/hooks/new"), xstrdup("{}"), 0, g);
        ctl_ops_then(ops, g, &(ctl_then){hook_written, hook_drop, &x->created});
        g = ctl_ops_next_group(ops);
        ctl_ops_add(ops, CTL_OP_CREATE, xstrdup(PREFIX "/hooks/old"), xstrdup("{}"), 0, g);
        ctl_ops_then(ops, g, &(ctl_then){hook_written, hook_drop, &x->clashed});
        return CTL_PASS_WRITE;
    }
    if (!strcmp(key, "fail") && !x->fail_passes++) {
        ctl_ops_add(ops, CTL_OP_PUT, xstrdup(PREFIX "/hooks/fail"), xstrdup("{}"), 0, 0);
        ctl_ops_then(ops, 0, &(ctl_then){hook_written, hook_drop, &x->failed});
        cr_error(err, CR_EINTERNAL, "planned to fail");
        return CTL_PASS_ERROR;
    }
    if (!strcmp(key, "stop") && !x->stop_passes++) {
        ctl_ops_add(ops, CTL_OP_PUT, xstrdup(PREFIX "/hooks/stop"), xstrdup("{}"), 0, 0);
        ctl_ops_then(ops, 0, &(ctl_then){hook_written, hook_drop, &x->stopped});
        return CTL_PASS_WRITE;
    }
    return CTL_PASS_FORGET;
}

static const ctl_loop hooks_loop = {.name = "hooks", .reconcile = hooks_reconcile};

static bool hooks_heard(hooks_fx *x)
{
    return x->created.written + x->clashed.written == 2 && x->failed.dropped == 1;
}

/* Each group's hook hears its own write's outcome exactly once: landed,
 * compare failed, dropped with a failed pass, dropped or answered when the
 * runner stops mid-write; a write whose fence does not hold is refused. */
/* A runner that may not write (leader or fence given): the "two" pass's
 * hook hears CR_ENOTLEADER. */
static void expect_not_leader(hooks_fx *x, store_leader *leader, const ctl_runner_config *rc)
{
    fx *f = x->f;
    ctl_runner *r = ctl_runner_new(f->base, f->s, f->cache, leader, &hooks_loop, x, rc);
    int64_t deadline = cr_mono_ms() + 10000;

    x->created = (hook){0};
    x->two_passes = 0;
    assert_int_equal(ctl_runner_start(r, NULL), 0);
    ctl_runner_enqueue(r, "two");
    while (!x->created.written && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(x->created.written, 1);
    assert_int_equal(x->created.code, CR_ENOTLEADER);
    ctl_runner_free(r);
}

static void test_group_hooks(void **state)
{
    fx *f = *state;
    hooks_fx x = {.f = f};
    ctl_runner *r;
    int64_t deadline;

    put(f, PREFIX "/hooks/old", "{}");
    r = ctl_runner_new(f->base, f->s, f->cache, f->leader, &hooks_loop, &x, NULL);
    assert_int_equal(ctl_runner_start(r, NULL), 0);
    ctl_runner_enqueue(r, "two");
    ctl_runner_enqueue(r, "fail");
    deadline = cr_mono_ms() + 10000;
    while (!hooks_heard(&x) && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(hooks_heard(&x));
    assert_int_equal(x.created.written, 1);
    assert_true(x.created.succeeded);
    assert_int_equal(x.clashed.written, 1);
    assert_false(x.clashed.succeeded); /* the key existed: a compare failed */
    assert_int_equal(x.created.dropped + x.clashed.dropped, 0);
    assert_int_equal(x.failed.written, 0);
    assert_int_equal(x.failed.dropped, 1);

    /* stopped right after the pass: its hook is told once, one way or
     * the other, and never again */
    ctl_runner_enqueue(r, "stop");
    deadline = cr_mono_ms() + 10000;
    while (!x.stop_passes && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(x.stop_passes, 1);
    ctl_runner_stop(r);
    deadline = cr_mono_ms() + 300; /* a bounded look: nothing more may come */
    while (cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(x.stopped.written + x.stopped.dropped, 1);
    ctl_runner_free(r);

    /* without a leader, fenced by a revision the leader key does not have */
    ctl_runner_config rc = {.fence_key = PREFIX "/leader", .fence_rev = 1};
    expect_not_leader(&x, NULL, &rc);

    /* with a leader that does not lead (never started): the same answer */
    store_leader_config lc = {.key = PREFIX "/leader", .id = "runner-follower"};
    store_leader_handlers lh = {0};
    store_leader *follower = store_leader_new(f->s, &lc, &lh, NULL);
    expect_not_leader(&x, follower, NULL);
    store_leader_free(follower);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_converges_without_conflicts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_waits_for_its_own_write, setup, teardown),
    cmocka_unit_test_setup_teardown(test_group_hooks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_holds_keys_during_a_relist, setup, teardown),
    cmocka_unit_test_setup_teardown(test_conflict_wait_is_bounded, setup, teardown),
};

CR_TEST_MAIN(tests)
