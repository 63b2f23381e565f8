/* Leader election against a real etcd, between two processes: a forked
 * child candidate that, once elected, keeps writing fenced txns, and this
 * process as the second candidate.
 *
 * - SIGSTOP the leader: the follower takes over; after SIGCONT the old
 *   leader's writes (still carrying its old fence) are refused and it
 *   reports that it lost leadership.
 * - SIGKILL the leader: the follower is elected within TTL + one keepalive
 *   interval, and no write of the old leader landed after the takeover. */
#include "test/lib/cr_test.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/leader.h"
#include "store/store.h"
#include "test/lib/etcd_harness.h"
#include "test/store/testutil.h"

static cr_etcd *g_etcd;

static int group_setup(void **state)
{
    cr_etcd_opts o = {.members = 1};

    g_etcd = cr_etcd_start(&o);
    return g_etcd ? 0 : -1;
}

static int group_teardown(void **state)
{
    cr_etcd_free(g_etcd);
    return 0;
}

/* --- the child candidate --------------------------------------------------- */

typedef struct child {
    struct event_base *base;
    store *s;
    store_leader *l;
    const char *prefix;
    const char *id;
    char *leader_key;
    int64_t fence; /* kept after losing, on purpose: a deposed leader that has
                      not noticed yet */
    int n, ok, refused;
    bool lost;
    bool reported;
    struct event *tick;
} child;

static void child_report(child *c)
{
    char *key = xasprintf("%s/report/%s", c->prefix, c->id);
    char *val = xasprintf("{\"ok\":%d,\"refused\":%d,\"lost\":%s}", c->ok, c->refused,
                          c->lost ? "true" : "false");

    c->reported = true;
    store_put(c->s, key, val, strlen(val), NULL, NULL, NULL, NULL);
    free(key);
    free(val);
}

static void child_write_done(void *arg, const store_result *res, const cr_err *err)
{
    child *c = arg;

    if (!err && res->succeeded)
        c->ok++;
    else if (err && err->code == CR_ENOTLEADER)
        c->refused++;
    if (c->refused >= 3 && !c->reported)
        child_report(c);
}

static void child_tick(evutil_socket_t fd, short what, void *arg)
{
    child *c = arg;
    store_txn *t;
    char *key;

    if (!c->fence || c->reported)
        return;
    t = store_txn_new();
    store_txn_fence(t, c->leader_key, c->fence);
    key = xasprintf("%s/writes/%s-%06d", c->prefix, c->id, c->n++);
    store_txn_put(t, STORE_THEN, key, "w", 1, NULL);
    store_write(c->s, t, child_write_done, c, NULL);
    free(key);
}

static void child_elected(void *arg, int64_t fence)
{
    child *c = arg;

    c->fence = fence;
}

static void child_lost(void *arg, const char *why)
{
    child *c = arg;

    c->lost = true;
}

static void run_child(const char *endpoints, const char *prefix, const char *id, int64_t ttl)
{
    child c = {.prefix = prefix, .id = id};
    store_config sc = {.endpoints = endpoints, .timeout_ms = 1000};
    store_leader_handlers h = {.on_elected = child_elected, .on_lost = child_lost};
    store_leader_config lc = {.id = id, .address = "http://child", .ttl_s = ttl};
    struct timeval tv = {0, 20000};
    cr_http *http;

    c.base = event_base_new();
    http = cr_http_new(c.base, NULL);
    c.s = store_new(c.base, http, &sc, NULL);
    c.leader_key = xasprintf("%s/leader", prefix);
    lc.key = c.leader_key;
    c.l = store_leader_new(c.s, &lc, &h, &c);
    store_leader_start(c.l, NULL);
    c.tick = event_new(c.base, -1, EV_PERSIST, child_tick, &c);
    event_add(c.tick, &tv);
    event_base_dispatch(c.base); /* until killed */
    _exit(0);
}

static pid_t spawn_child(const char *prefix, const char *id, int64_t ttl)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        run_child(cr_etcd_endpoints(g_etcd), prefix, id, ttl);
    }
    assert_true(pid > 0);
    return pid;
}

static void reap(pid_t pid)
{
    int st;

    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* --- this process as the other candidate -------------------------------------- */

typedef struct fx {
    struct event_base *base;
    cr_http *http;
    store *s;
    store_leader *l;
    int elected;
    int lost;
    int64_t fence;
    int64_t elected_at;
    pid_t child;
} fx;

static void me_elected(void *arg, int64_t fence)
{
    fx *f = arg;

    f->elected++;
    f->fence = fence;
    f->elected_at = cr_mono_ms();
}

static void me_lost(void *arg, const char *why)
{
    fx *f = arg;

    f->lost++;
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    store_config sc = {.endpoints = cr_etcd_endpoints(g_etcd), .timeout_ms = 1000};

    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->s = store_new(f->base, f->http, &sc, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    if (f->child > 0)
        reap(f->child);
    store_leader_free(f->l);
    store_free(f->s);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void start_me(fx *f, const char *prefix, int64_t ttl)
{
    char *key = xasprintf("%s/leader", prefix);
    store_leader_config lc = {.key = key, .id = "B", .address = "http://me", .ttl_s = ttl};
    store_leader_handlers h = {.on_elected = me_elected, .on_lost = me_lost};

    f->l = store_leader_new(f->s, &lc, &h, f);
    assert_int_equal(store_leader_start(f->l, NULL), 0);
    free(key);
}

/* Polls until the leader key names `id`. */
static void wait_holder(fx *f, const char *prefix, const char *id)
{
    char *key = xasprintf("%s/leader", prefix);
    int64_t deadline = cr_mono_ms() + 15000;
    bool found = false;

    while (!found && cr_mono_ms() < deadline) {
        waiter w = {0};
        assert_int_equal(store_get(f->s, key, 0, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 5000));
        if (w.ok && w.nkvs) {
            json_t *j = json_loads(w.kvs[0].value, 0, NULL);
            found = j && strcmp(json_string_value(json_object_get(j, "id")), id) == 0;
            json_decref(j);
        }
        waiter_reset(&w);
        if (!found) {
            int never = 0;
            run_until_flag(f->base, &never, 1, 50); /* let time pass on the loop */
        }
    }
    free(key);
    assert_true(found);
}

static size_t count_writes(fx *f, const char *prefix, const char *id, int64_t *max_mod)
{
    char *p = xasprintf("%s/writes/%s-", prefix, id);
    waiter w = {0};
    size_t n;

    assert_int_equal(store_list(f->s, p, 0, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 5000));
    assert_true(w.ok);
    n = w.nkvs;
    *max_mod = 0;
    for (size_t i = 0; i < w.nkvs; i++)
        if (w.kvs[i].mod_revision > *max_mod)
            *max_mod = w.kvs[i].mod_revision;
    waiter_reset(&w);
    free(p);
    return n;
}

static void wait_writes(fx *f, const char *prefix, const char *id, size_t want)
{
    int64_t deadline = cr_mono_ms() + 15000, max_mod;

    while (count_writes(f, prefix, id, &max_mod) < want) {
        int never = 0;
        assert_true(cr_mono_ms() < deadline);
        run_until_flag(f->base, &never, 1, 50);
    }
}

static void test_sigstopped_leader_is_fenced_out(void **state)
{
    fx *f = *state;
    const char *P = "/t/ld1";
    int64_t max_mod;
    waiter w = {0};
    char *report = xasprintf("%s/report/A", P);
    int64_t deadline;
    bool got = false;

    f->child = spawn_child(P, "A", 2);
    wait_holder(f, P, "A");
    start_me(f, P, 2);
    wait_writes(f, P, "A", 3);
    {
        int64_t until = cr_mono_ms() + 10000;
        while (!store_leader_holder(f->l) && cr_mono_ms() < until) {
            int never = 0;
            run_until_flag(f->base, &never, 1, 50);
        }
    }
    assert_int_equal(f->elected, 0);
    assert_false(store_leader_is_leader(f->l));
    assert_non_null(store_leader_holder(f->l));
    assert_string_equal(store_leader_holder(f->l), "A");

    /* the leader freezes: its lease runs out and we take over */
    assert_int_equal(kill(f->child, SIGSTOP), 0);
    assert_true(run_until_flag(f->base, &f->elected, 1, 15000));
    assert_true(store_leader_is_leader(f->l));
    assert_true(f->fence > 0);

    /* it wakes up still holding its old fence: every write is refused */
    assert_int_equal(kill(f->child, SIGCONT), 0);
    deadline = cr_mono_ms() + 15000;
    while (!got && cr_mono_ms() < deadline) {
        assert_int_equal(store_get(f->s, report, 0, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 5000));
        if (w.ok && w.nkvs) {
            json_t *j = json_loads(w.kvs[0].value, 0, NULL);
            assert_true(json_integer_value(json_object_get(j, "refused")) >= 3);
            assert_true(json_is_true(json_object_get(j, "lost")));
            json_decref(j);
            got = true;
        }
        waiter_reset(&w);
        if (!got) {
            int never = 0;
            run_until_flag(f->base, &never, 1, 50);
        }
    }
    assert_true(got);
    /* nothing of the old leader landed after our takeover */
    assert_true(count_writes(f, P, "A", &max_mod) >= 3);
    assert_true(max_mod < f->fence);

    /* and our own fenced writes work */
    {
        store_txn *t = store_leader_txn(f->l);
        assert_non_null(t);
        store_txn_put(t, STORE_THEN, "/t/ld1/writes/B-0", "w", 1, NULL);
        assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 5000));
        assert_true(w.ok);
        assert_true(w.succeeded);
        waiter_reset(&w);
    }
    assert_int_equal(f->lost, 0);
    free(report);
}

static void test_sigkilled_leader_replaced_within_ttl_plus_keepalive(void **state)
{
    fx *f = *state;
    const char *P = "/t/ld2";
    const int64_t ttl = 3;
    int64_t killed_at, max_mod;

    f->child = spawn_child(P, "A", ttl);
    wait_holder(f, P, "A");
    start_me(f, P, ttl);
    wait_writes(f, P, "A", 3);

    killed_at = cr_mono_ms();
    reap(f->child);
    f->child = 0;
    assert_true(run_until_flag(f->base, &f->elected, 1, 20000));
    /* the bound: lease TTL plus one keepalive interval */
    fprintf(stderr, "takeover %" PRId64 " ms after SIGKILL (ttl %" PRId64 " s)\n",
            f->elected_at - killed_at, ttl);
    if (f->elected_at - killed_at > ttl * 1000 + ttl * 1000 / 3)
        fail_msg("took over after %" PRId64 " ms", f->elected_at - killed_at);
    assert_true(count_writes(f, P, "A", &max_mod) >= 3);
    assert_true(max_mod < f->fence);
}

static void test_resign_hands_over_at_once(void **state)
{
    fx *f = *state;
    const char *P = "/t/ld3";

    /* we lead first, then resign by freeing: the child takes over without
     * waiting for our TTL (60 s here) */
    start_me(f, P, 60);
    assert_true(run_until_flag(f->base, &f->elected, 1, 10000));
    f->child = spawn_child(P, "A", 2);
    wait_holder(f, P, "B");
    store_leader_free(f->l);
    f->l = NULL;
    wait_holder(f, P, "A");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_sigstopped_leader_is_fenced_out, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sigkilled_leader_replaced_within_ttl_plus_keepalive, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_resign_hands_over_at_once, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");

    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
