/* store client against a real etcd: CRUD, paging, txns and conflicts,
 * limits, batching, fencing, leases, watch (resume, compaction, progress),
 * failover, timeouts and auth. */
#include "test/lib/cr_test.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/buf.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/store.h"
#include "test/lib/etcd_harness.h"
#include "test/store/testutil.h"

typedef struct fx {
    cr_etcd *etcd;
    struct event_base *base;
    cr_http *http;
    store *s;
} fx;

static cr_etcd *g_etcd; /* one etcd for the whole file */

static int group_setup(void **state)
{
    cr_etcd_opts o = {.members = 1, .progress_notify = "500ms"};

    g_etcd = cr_etcd_start(&o);
    return g_etcd ? 0 : -1;
}

static int group_teardown(void **state)
{
    cr_etcd_free(g_etcd);
    return 0;
}

static store *new_store(fx *f, const char *endpoints, long timeout_ms)
{
    store_config cfg = {.endpoints = endpoints, .timeout_ms = timeout_ms};
    cr_err err;
    store *s = store_new(f->base, f->http, &cfg, &err);

    if (!s)
        fail_msg("store_new: %s", err.detail);
    return s;
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));

    f->etcd = g_etcd;
    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->s = new_store(f, cr_etcd_endpoints(g_etcd), 3000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    store_free(f->s);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

#define WAIT(f, w) assert_true(run_until_flag((f)->base, &(w)->done, 1, 10000))

static void put_sync(fx *f, const char *key, const char *val)
{
    waiter w = {0};

    assert_int_equal(store_put(f->s, key, val, strlen(val), NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    if (!w.ok)
        fail_msg("put %s: %s", key, w.err.detail);
    waiter_reset(&w);
}

/* A txn on s: if key's version is `version`, put key=val, else get it;
 * asserts it was answered and returns whether the compare held. */
static bool cas_sync(fx *f, store *s, const char *key, int64_t version, const char *val)
{
    store_txn *t = store_txn_new();
    waiter w = {0};
    bool held;

    store_txn_if_version(t, key, STORE_EQ, version);
    store_txn_put(t, STORE_THEN, key, val, strlen(val), NULL);
    store_txn_get(t, STORE_ELSE, key, false);
    assert_int_equal(store_txn_commit(s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    if (!w.ok)
        fail_msg("txn on %s: %s", key, w.err.detail);
    held = w.succeeded;
    waiter_reset(&w);
    return held;
}

static void test_crud(void **state)
{
    fx *f = *state;
    waiter w = {0};
    store_put_opts po = {.prev_kv = true};
    int64_t rev1;

    put_sync(f, "/t/crud/a", "one");
    assert_int_equal(store_get(f->s, "/t/crud/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_int_equal(w.nkvs, 1);
    assert_string_equal(w.kvs[0].value, "one");
    assert_int_equal(w.kvs[0].version, 1);
    rev1 = w.kvs[0].mod_revision;
    assert_true(rev1 > 0);
    waiter_reset(&w);

    /* put with prev_kv returns the old value */
    assert_int_equal(store_put(f->s, "/t/crud/a", "two", 3, &po, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_int_equal(w.nkvs, 1);
    assert_string_equal(w.kvs[0].value, "one");
    waiter_reset(&w);

    /* read at the old revision */
    assert_int_equal(store_get(f->s, "/t/crud/a", rev1, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_string_equal(w.kvs[0].value, "one");
    waiter_reset(&w);

    /* a future revision is an etcd error with its code */
    assert_int_equal(store_get(f->s, "/t/crud/a", rev1 + 100000, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_non_null(strstr(w.err.detail, "etcd code 11"));
    assert_false(store_err_compacted(&w.err));
    waiter_reset(&w);

    /* binary-safe values and an empty value */
    assert_int_equal(store_put(f->s, "/t/crud/bin", "a\0b", 3, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    waiter_reset(&w);
    assert_int_equal(store_get(f->s, "/t/crud/bin", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_int_equal(w.kvs[0].value_len, 3);
    assert_memory_equal(w.kvs[0].value, "a\0b", 3);
    waiter_reset(&w);

    /* delete one, then the prefix */
    assert_int_equal(store_delete(f->s, "/t/crud/a", false, true, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_int_equal(w.deleted, 1);
    assert_string_equal(w.kvs[0].value, "two");
    waiter_reset(&w);
    put_sync(f, "/t/crud/x/1", "1");
    put_sync(f, "/t/crud/x/2", "2");
    put_sync(f, "/t/crud/y", "keep");
    assert_int_equal(store_delete(f->s, "/t/crud/x/", true, false, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_int_equal(w.deleted, 2);
    waiter_reset(&w);
    assert_int_equal(store_get(f->s, "/t/crud/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_int_equal(w.nkvs, 0);
    waiter_reset(&w);

    /* bad input changes nothing and never calls back */
    cr_err err;
    assert_int_equal(store_put(f->s, "", "v", 1, NULL, waiter_cb, &w, &err), -1);
    assert_int_equal(err.code, CR_EINVAL);
    assert_int_equal(store_list(f->s, "", 0, waiter_cb, &w, &err), -1);
    assert_int_equal(w.done, 0);
}

static void test_list_pages_at_one_revision(void **state)
{
    fx *f = *state;
    waiter w = {0};
    const int n = 2345;

    /* 2345 keys through the batcher: few txns */
    for (int i = 0; i < n; i++) {
        char key[64], val[32];
        store_txn *t = store_txn_new();

        snprintf(key, sizeof(key), "/t/list/k%05d", i);
        snprintf(val, sizeof(val), "%d", i);
        store_txn_put(t, STORE_THEN, key, val, strlen(val), NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &w, NULL), 0);
    }
    assert_true(run_until_flag(f->base, &w.done, n, 20000));
    assert_int_equal(w.nerr, 0);
    waiter_reset(&w);
    put_sync(f, "/t/listx", "outside the prefix");

    assert_int_equal(store_list(f->s, "/t/list/", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_int_equal(w.nkvs, n);
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof(key), "/t/list/k%05d", i);
        assert_string_equal(w.kvs[i].key, key);
        assert_true(w.kvs[i].mod_revision <= w.revision);
    }
    waiter_reset(&w);
}

static void test_txn_conflicts(void **state)
{
    fx *f = *state;
    waiter w = {0};
    store_txn *t;
    int64_t mod;

    /* create-if-absent: first wins, second sees the else branch */
    for (int round = 0; round < 2; round++) {
        t = store_txn_new();
        store_txn_if_create(t, "/t/txn/obj", STORE_EQ, 0);
        store_txn_put(t, STORE_THEN, "/t/txn/obj", "v1", 2, NULL);
        store_txn_get(t, STORE_ELSE, "/t/txn/obj", false);
        assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        assert_true(w.ok);
        assert_int_equal(w.succeeded, round == 0);
        if (round == 1) {
            assert_int_equal(w.nops, 1);
            assert_int_equal(w.op0_nkvs, 1);
        }
        waiter_reset(&w);
    }
    assert_int_equal(store_get(f->s, "/t/txn/obj", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    mod = w.kvs[0].mod_revision;
    waiter_reset(&w);

    /* optimistic update with a stale mod_revision fails; the right one wins */
    put_sync(f, "/t/txn/obj", "v2"); /* someone else wrote */
    t = store_txn_new();
    store_txn_if_mod(t, "/t/txn/obj", STORE_EQ, mod);
    store_txn_put(t, STORE_THEN, "/t/txn/obj", "mine", 4, NULL);
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_false(w.succeeded);
    waiter_reset(&w);

    t = store_txn_new();
    store_txn_if_value(t, "/t/txn/obj", STORE_EQ, "v2", 2);
    store_txn_put(t, STORE_THEN, "/t/txn/obj", "v3", 2, NULL);
    store_txn_delete(t, STORE_THEN, "/t/txn/other", false);
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.succeeded);
    assert_int_equal(w.nops, 2);
    waiter_reset(&w);

    /* limits are checked before sending */
    cr_err err;
    t = store_txn_new();
    for (int i = 0; i <= STORE_MAX_TXN_OPS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/t/txn/many%d", i);
        store_txn_put(t, STORE_THEN, key, "x", 1, NULL);
    }
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, &err), -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    {
        size_t big = 2u << 20;
        char *v = xcalloc(1, big);
        assert_int_equal(store_put(f->s, "/t/txn/big", v, big, NULL, waiter_cb, &w, &err), -1);
        assert_int_equal(err.code, CR_ETOOLARGE);
        free(v);
    }
    assert_int_equal(w.done, 0);
}

static void test_batch_coalesces_and_isolates_conflicts(void **state)
{
    fx *f = *state;
    waiter ws[300];
    waiter stale = {0};
    int64_t revs[8] = {0};
    size_t nrevs = 0, nfirst = 0;

    memset(ws, 0, sizeof(ws));
    for (int i = 0; i < 300; i++) {
        char key[32];
        store_txn *t = store_txn_new();

        snprintf(key, sizeof(key), "/t/batch/%d", i);
        store_txn_if_create(t, key, STORE_EQ, 0);
        store_txn_put(t, STORE_THEN, key, "v", 1, NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &ws[i], NULL), 0);
    }
    for (int i = 0; i < 300; i++) {
        assert_true(run_until_flag(f->base, &ws[i].done, 1, 10000));
        assert_true(ws[i].ok);
        assert_true(ws[i].succeeded);
        assert_int_equal(ws[i].nops, 1);
        assert_false(ws[i].batch_retried);
        nfirst += ws[i].batch_first;
        size_t k;
        for (k = 0; k < nrevs && revs[k] != ws[i].revision; k++)
            ;
        if (k == nrevs) {
            assert_true(nrevs < 8);
            revs[nrevs++] = ws[i].revision;
        }
    }
    /* 300 writes with 1 op and 1 compare each: 3 txns (127 ops per txn),
     * each with one first write (so callers can count txns) */
    assert_int_equal(nrevs, 3);
    assert_int_equal(nfirst, 3);

    /* in one batch, a stale compare fails alone; the others still apply */
    for (int i = 0; i < 5; i++) {
        char key[32];
        store_txn *t = store_txn_new();

        waiter_reset(&ws[i]);
        snprintf(key, sizeof(key), "/t/batch2/%d", i);
        store_txn_if_create(t, key, STORE_EQ, 0);
        store_txn_put(t, STORE_THEN, key, "v", 1, NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &ws[i], NULL), 0);
    }
    {
        store_txn *t = store_txn_new();
        store_txn_if_create(t, "/t/batch/0", STORE_EQ, 0); /* exists: fails */
        store_txn_put(t, STORE_THEN, "/t/batch/0", "w", 1, NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &stale, NULL), 0);
    }
    assert_true(run_until_flag(f->base, &stale.done, 1, 10000));
    assert_true(stale.ok);
    assert_false(stale.succeeded);
    assert_true(stale.batch_retried);
    assert_false(stale.batch_first);
    nfirst = 0;
    for (int i = 0; i < 5; i++) {
        assert_true(run_until_flag(f->base, &ws[i].done, 1, 10000));
        assert_true(ws[i].succeeded);
        /* answered by its own txn after the combined one failed */
        assert_true(ws[i].batch_retried);
        nfirst += ws[i].batch_first;
        for (int k = 0; k < i; k++)
            assert_true(ws[i].revision != ws[k].revision);
    }
    assert_int_equal(nfirst, 1);
    for (int i = 0; i < 300; i++)
        waiter_reset(&ws[i]);
    waiter_reset(&stale);
}

static void test_batch_keeps_order_around_range_deletes(void **state)
{
    fx *f = *state;
    waiter ws[3];
    waiter q = {0};
    store_txn *t;

    memset(ws, 0, sizeof(ws));
    t = store_txn_new();
    store_txn_put(t, STORE_THEN, "/t/b3/x/1", "a", 1, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &ws[0], NULL), 0);
    t = store_txn_new();
    store_txn_delete(t, STORE_THEN, "/t/b3/x/", true);
    assert_int_equal(store_write(f->s, t, waiter_cb, &ws[1], NULL), 0);
    t = store_txn_new();
    store_txn_put(t, STORE_THEN, "/t/b3/x/2", "b", 1, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &ws[2], NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(run_until_flag(f->base, &ws[i].done, 1, 10000));
        assert_true(ws[i].ok);
        assert_true(ws[i].succeeded);
    }
    /* applied in order: the delete removed x/1 but not x/2 */
    assert_true(ws[0].revision < ws[1].revision);
    assert_true(ws[1].revision < ws[2].revision);
    assert_int_equal(store_list(f->s, "/t/b3/", 0, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    assert_int_equal(q.nkvs, 1);
    assert_string_equal(q.kvs[0].key, "/t/b3/x/2");
    waiter_reset(&q);
    for (int i = 0; i < 3; i++)
        waiter_reset(&ws[i]);
}

/* Fenced writes (a leader's) and unfenced ones (the API's) queue apart
 * and never share a txn; a fence's writes go in queue order (several txns
 * in flight), unfenced writes pass earlier ones they share no key with;
 * writes of both to one key are never in flight together. */
static void test_batch_lanes_and_order(void **state)
{
    fx *f = *state;
    waiter w = {0}, fw[3], uw[3], x[2];
    int64_t crev;
    const char *fkeys[3] = {"/t/lanes/f/a", "/t/lanes/f/a", "/t/lanes/f/b"};
    const char *ukeys[3] = {"/t/lanes/u/a", "/t/lanes/u/a", "/t/lanes/u/b"};
    store_txn *t;

    memset(fw, 0, sizeof(fw));
    memset(uw, 0, sizeof(uw));
    memset(x, 0, sizeof(x));
    put_sync(f, "/t/lanes/leader", "me");
    assert_int_equal(store_get(f->s, "/t/lanes/leader", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    crev = w.kvs[0].create_revision;
    waiter_reset(&w);

    /* in one loop turn: f0 f1 (same key) f2, and u0 u1 (same key) u2 */
    for (int i = 0; i < 3; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        t = store_txn_new();
        store_txn_fence(t, "/t/lanes/leader", crev);
        store_txn_put(t, STORE_THEN, fkeys[i], v, strlen(v), NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &fw[i], NULL), 0);
        t = store_txn_new();
        store_txn_put(t, STORE_THEN, ukeys[i], v, strlen(v), NULL);
        assert_int_equal(store_write(f->s, t, waiter_cb, &uw[i], NULL), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_true(run_until_flag(f->base, &fw[i].done, 1, 10000));
        assert_true(run_until_flag(f->base, &uw[i].done, 1, 10000));
        assert_true(fw[i].ok && fw[i].succeeded);
        assert_true(uw[i].ok && uw[i].succeeded);
        for (int k = 0; k < 3; k++)
            assert_true(fw[i].revision != uw[k].revision); /* never one txn */
    }
    /* the fence's writes in order: f2 waits with f1, after f0 */
    assert_true(fw[0].revision < fw[1].revision);
    assert_int_equal(fw[1].revision, fw[2].revision);
    {
        /* writes too big to share a txn: a fence's txns go side by side,
         * not one after the other's answer */
        waiter big[3];
        store_stats st;

        memset(big, 0, sizeof(big));
        for (int i = 0; i < 3; i++) {
            t = store_txn_new();
            store_txn_fence(t, "/t/lanes/leader", crev);
            for (int k = 0; k < 100; k++) {
                char key[48];
                snprintf(key, sizeof(key), "/t/lanes/big/%d/%03d", i, k);
                store_txn_put(t, STORE_THEN, key, "v", 1, NULL);
            }
            assert_int_equal(store_write(f->s, t, waiter_cb, &big[i], NULL), 0);
        }
        store_flush(f->s);
        store_get_stats(f->s, &st);
        assert_int_equal(st.batches_in_flight, 3);
        for (int i = 0; i < 3; i++) {
            assert_true(run_until_flag(f->base, &big[i].done, 1, 10000));
            assert_true(big[i].ok && big[i].succeeded);
            waiter_reset(&big[i]);
        }
        store_get_stats(f->s, &st);
        assert_int_equal(st.batches_in_flight, 0);
    }
    /* unfenced: u2 goes with u0, u1 after them */
    assert_int_equal(uw[0].revision, uw[2].revision);
    assert_true(uw[0].revision < uw[1].revision);
    for (int i = 0; i < 3; i++) {
        waiter_reset(&fw[i]);
        waiter_reset(&uw[i]);
    }

    /* one key from both: one txn after the other */
    t = store_txn_new();
    store_txn_fence(t, "/t/lanes/leader", crev);
    store_txn_put(t, STORE_THEN, "/t/lanes/both", "fenced", 6, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &x[0], NULL), 0);
    t = store_txn_new();
    store_txn_put(t, STORE_THEN, "/t/lanes/both", "unfenced", 8, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &x[1], NULL), 0);
    assert_true(run_until_flag(f->base, &x[0].done, 1, 10000));
    assert_true(run_until_flag(f->base, &x[1].done, 1, 10000));
    assert_true(x[0].ok && x[1].ok);
    assert_true(x[0].revision != x[1].revision);
    assert_int_equal(store_get(f->s, "/t/lanes/both", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_string_equal(w.kvs[0].value, x[0].revision > x[1].revision ? "fenced" : "unfenced");
    waiter_reset(&w);
    waiter_reset(&x[0]);
    waiter_reset(&x[1]);

    /* a range delete of one lane between writes of the other: alone in
     * flight, and what it deleted is what was there when it applied */
    {
        waiter r[3];
        const char *k[2] = {"/t/lanes/r/x/1", "/t/lanes/r/x/2"};

        memset(r, 0, sizeof(r));
        for (int i = 0; i < 3; i++) {
            t = store_txn_new();
            if (i == 1) {
                store_txn_delete(t, STORE_THEN, "/t/lanes/r/x/", true);
            } else {
                store_txn_fence(t, "/t/lanes/leader", crev);
                store_txn_put(t, STORE_THEN, k[i / 2], "v", 1, NULL);
            }
            assert_int_equal(store_write(f->s, t, waiter_cb, &r[i], NULL), 0);
        }
        for (int i = 0; i < 3; i++) {
            assert_true(run_until_flag(f->base, &r[i].done, 1, 10000));
            assert_true(r[i].ok && r[i].succeeded);
        }
        assert_true(r[0].revision <= r[2].revision);
        assert_true(r[1].revision != r[0].revision && r[1].revision != r[2].revision);
        assert_int_equal(store_list(f->s, "/t/lanes/r/", 0, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        for (int i = 0; i < 2; i++) {
            bool kept = r[2 * i].revision > r[1].revision;
            bool found = false;
            for (size_t j = 0; j < w.nkvs; j++)
                found = found || strcmp(w.kvs[j].key, k[i]) == 0;
            assert_int_equal(found, kept);
        }
        waiter_reset(&w);
        for (int i = 0; i < 3; i++)
            waiter_reset(&r[i]);
    }
}

static void test_fenced_txn(void **state)
{
    fx *f = *state;
    waiter w = {0};
    store_txn *t;
    int64_t crev;

    put_sync(f, "/t/fence/leader", "me");
    assert_int_equal(store_get(f->s, "/t/fence/leader", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    crev = w.kvs[0].create_revision;
    waiter_reset(&w);

    t = store_txn_new();
    store_txn_fence(t, "/t/fence/leader", crev);
    store_txn_put(t, STORE_THEN, "/t/fence/data", "1", 1, NULL);
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_true(w.succeeded);
    waiter_reset(&w);

    /* a user compare failing under a valid fence is a plain conflict */
    t = store_txn_new();
    store_txn_fence(t, "/t/fence/leader", crev);
    store_txn_if_create(t, "/t/fence/data", STORE_EQ, 0);
    store_txn_put(t, STORE_THEN, "/t/fence/data", "2", 1, NULL);
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_false(w.succeeded);
    assert_int_equal(w.nops, 0);
    waiter_reset(&w);

    /* the leader key re-created by someone else: the fence refuses */
    assert_int_equal(store_delete(f->s, "/t/fence/leader", false, false, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    waiter_reset(&w);
    put_sync(f, "/t/fence/leader", "other");
    t = store_txn_new();
    store_txn_fence(t, "/t/fence/leader", crev);
    store_txn_put(t, STORE_THEN, "/t/fence/data", "3", 1, NULL);
    assert_int_equal(store_txn_commit(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_ENOTLEADER);
    waiter_reset(&w);

    /* same through the batcher */
    t = store_txn_new();
    store_txn_fence(t, "/t/fence/leader", crev);
    store_txn_put(t, STORE_THEN, "/t/fence/data", "4", 1, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_ENOTLEADER);
    waiter_reset(&w);

    assert_int_equal(store_get(f->s, "/t/fence/data", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_string_equal(w.kvs[0].value, "1");
    waiter_reset(&w);
}

/* One result, as far as a txn's answer goes, into text to compare. */
static void describe(cr_buf *b, const store_result *r, int64_t rev0)
{
    cr_buf_addf(b, "succeeded=%d nops=%zu rev+%" PRId64 ";", r->succeeded, r->nops,
                r->revision - rev0);
    for (size_t i = 0; i < r->nops; i++) {
        const store_result *o = &r->ops[i];

        cr_buf_addf(b,
                    " op%zu: rev+%" PRId64 " count=%" PRId64 " more=%d deleted=%" PRId64 " kvs=%zu",
                    i, o->revision - rev0, o->count, o->more, o->deleted, o->nkvs);
        for (size_t k = 0; k < o->nkvs; k++)
            cr_buf_addf(b, " [%s=%.*s c+%" PRId64 " m+%" PRId64 " v%" PRId64 " l%" PRId64 "]",
                        strrchr(o->kvs[k].key, '/') + 1, (int)o->kvs[k].value_len, o->kvs[k].value,
                        o->kvs[k].create_revision ? o->kvs[k].create_revision - rev0 : 0,
                        o->kvs[k].mod_revision - rev0, o->kvs[k].version, o->kvs[k].lease);
    }
}

typedef struct described {
    int done;
    bool ok;
    cr_err err;
    cr_buf text;
    int64_t rev0;
} described;

static void describe_cb(void *arg, const store_result *res, const cr_err *err)
{
    described *d = arg;

    d->done++;
    d->ok = !err;
    if (err)
        d->err = *err;
    else
        describe(&d->text, res, d->rev0);
}

/* The same txns through etcd's gRPC service and through its JSON gateway,
 * each on its own keys in the same order: the answers agree op for op (the
 * revisions taken relative to each run's first), and so do the errors. */
static void test_txn_grpc_and_json_agree(void **state)
{
    fx *f = *state;
    store_config jc = {
        .endpoints = cr_etcd_endpoints(f->etcd), .timeout_ms = 3000, .json_only = true};
    store *js = store_new(f->base, f->http, &jc, NULL);
    store *ss[2] = {f->s, js};
    char *texts[2];
    cr_code codes[2];
    char *msgs[2];

    for (int k = 0; k < 2; k++) {
        const char *P = k ? "/t/agree/json/" : "/t/agree/grpc/";
        char key[64], val[64];
        described d = {0};
        waiter w = {0};
        store_txn *t;

        cr_buf_init(&d.text);
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof(key), "%sk%d", P, i);
            snprintf(val, sizeof(val), "v%d\n\"\001", i); /* bytes JSON would escape */
            put_sync(f, key, val);
        }
        assert_int_equal(store_get(f->s, P, 0, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        d.rev0 = w.revision;
        waiter_reset(&w);

        /* then-branch: every op kind, prefix and not, prev_kv */
        t = store_txn_new();
        snprintf(key, sizeof(key), "%sk0", P);
        store_txn_if_version(t, key, STORE_EQ, 1);
        store_txn_if_value(t, key, STORE_NE, "x", 1);
        snprintf(key, sizeof(key), "%snew", P);
        store_txn_if_create(t, key, STORE_EQ, 0);
        store_txn_put(t, STORE_THEN, key, "fresh", 5, &(store_put_opts){.prev_kv = true});
        snprintf(key, sizeof(key), "%sk1", P);
        store_txn_put(t, STORE_THEN, key, "over", 4, &(store_put_opts){.prev_kv = true});
        snprintf(key, sizeof(key), "%sk2", P);
        store_txn_delete(t, STORE_THEN, key, false);
        snprintf(key, sizeof(key), "%sk", P);
        store_txn_get(t, STORE_THEN, key, true);
        assert_int_equal(store_txn_commit(ss[k], t, describe_cb, &d, NULL), 0);
        WAIT(f, &d);
        assert_true(d.ok);

        /* else-branch: a failed compare; a prefix delete */
        d.done = 0;
        cr_buf_adds(&d.text, " | ");
        t = store_txn_new();
        snprintf(key, sizeof(key), "%sk3", P);
        store_txn_if_mod(t, key, STORE_LT, 1);
        store_txn_put(t, STORE_THEN, key, "never", 5, NULL);
        snprintf(key, sizeof(key), "%sk", P);
        store_txn_delete(t, STORE_ELSE, key, true);
        store_txn_get(t, STORE_ELSE, key, true);
        assert_int_equal(store_txn_commit(ss[k], t, describe_cb, &d, NULL), 0);
        WAIT(f, &d);
        assert_true(d.ok);
        texts[k] = cr_buf_detach(&d.text, NULL);

        /* etcd's own refusal: one key twice in a branch */
        d.done = 0;
        cr_buf_init(&d.text);
        t = store_txn_new();
        store_txn_put(t, STORE_THEN, key, "a", 1, NULL);
        store_txn_put(t, STORE_THEN, key, "b", 1, NULL);
        assert_int_equal(store_txn_commit(ss[k], t, describe_cb, &d, NULL), 0);
        WAIT(f, &d);
        assert_false(d.ok);
        codes[k] = d.err.code;
        msgs[k] = xstrdup(d.err.detail);
        cr_buf_release(&d.text);
    }
    assert_string_equal(texts[0], texts[1]);
    /* what the answers hold, not only that they agree */
    assert_non_null(strstr(texts[0], "succeeded=1 nops=4"));
    assert_non_null(strstr(texts[0], "succeeded=0 nops=2"));
    assert_non_null(strstr(texts[0], "v1\n\"\001"));
    assert_int_equal(codes[0], codes[1]);
    assert_int_equal(codes[0], CR_EINVAL);
    assert_string_equal(msgs[0], msgs[1]);
    assert_non_null(strstr(msgs[0], "etcd code 3: "));
    assert_non_null(strstr(msgs[0], "duplicate key"));
    for (int k = 0; k < 2; k++) {
        free(texts[k]);
        free(msgs[k]);
    }
    store_free(js);
}

static void test_lease_expiry(void **state)
{
    fx *f = *state;
    waiter w = {0};
    store_put_opts po = {0};
    int64_t lease, deadline;
    bool gone = false;

    assert_int_equal(store_lease_grant(f->s, 1, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    lease = w.lease_id;
    assert_true(lease != 0);
    assert_int_equal(w.ttl, 1);
    waiter_reset(&w);

    po.lease = lease;
    assert_int_equal(store_put(f->s, "/t/lease/k", "v", 1, &po, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);

    assert_int_equal(store_lease_keepalive(f->s, lease, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_int_equal(w.ttl, 1);
    waiter_reset(&w);

    /* without keepalives the key goes with the lease */
    deadline = cr_mono_ms() + 10000;
    while (!gone && cr_mono_ms() < deadline) {
        assert_int_equal(store_get(f->s, "/t/lease/k", 0, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        gone = w.ok && w.nkvs == 0;
        waiter_reset(&w);
    }
    assert_true(gone);
    assert_int_equal(store_lease_keepalive(f->s, lease, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_ENOTFOUND);
    waiter_reset(&w);

    /* revoke deletes at once */
    assert_int_equal(store_lease_grant(f->s, 60, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    po.lease = w.lease_id;
    waiter_reset(&w);
    assert_int_equal(store_put(f->s, "/t/lease/k2", "v", 1, &po, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    waiter_reset(&w);
    assert_int_equal(store_lease_revoke(f->s, po.lease, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);
    assert_int_equal(store_get(f->s, "/t/lease/k2", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_int_equal(w.nkvs, 0);
    waiter_reset(&w);
}

/* --- watch ---------------------------------------------------------------- */

typedef struct wrec {
    int events;
    int puts, dels;
    char last_key[128];
    char last_val[128];
    int64_t last_rev;
    bool out_of_order;
    int progress;
    int64_t progress_rev;
    int compacted;
    int64_t compact_rev;
    int broken;
    char seen[64]; /* values "0".."63" seen, for the resume test */
    int dup;
} wrec;

static void rec_events(void *arg, const store_event *evs, size_t n)
{
    wrec *r = arg;

    for (size_t i = 0; i < n; i++) {
        const store_event *e = &evs[i];

        r->events++;
        if (e->kv.mod_revision < r->last_rev)
            r->out_of_order = true;
        r->last_rev = e->kv.mod_revision;
        snprintf(r->last_key, sizeof(r->last_key), "%s", e->kv.key);
        if (e->type == STORE_EV_PUT) {
            int v;
            r->puts++;
            snprintf(r->last_val, sizeof(r->last_val), "%s", e->kv.value);
            if (sscanf(e->kv.value, "n%d", &v) == 1 && v >= 0 && v < 64) {
                if (r->seen[v])
                    r->dup++;
                r->seen[v] = 1;
            }
        } else {
            r->dels++;
        }
    }
}

static void rec_progress(void *arg, int64_t rev)
{
    wrec *r = arg;

    r->progress++;
    r->progress_rev = rev;
}

static void rec_compacted(void *arg, int64_t rev)
{
    wrec *r = arg;

    r->compacted++;
    r->compact_rev = rev;
}

static void rec_broken(void *arg, const cr_err *err)
{
    wrec *r = arg;

    r->broken++;
}

static const store_watch_handlers rec_handlers = {rec_events, rec_progress, rec_compacted,
                                                  rec_broken};

static void test_watch_events_and_progress(void **state)
{
    fx *f = *state;
    wrec r = {0};
    store_watch_opts wo = {.prefix = true};
    store_watch *w = store_watch_start(f->s, "/t/w1/", &wo, &rec_handlers, &r, NULL);
    waiter q = {0};

    assert_non_null(w);
    /* the first progress notification says the watch is established */
    assert_true(run_until_flag(f->base, &r.progress, 1, 10000));
    put_sync(f, "/t/w1/a", "x");
    put_sync(f, "/t/w1x", "outside");
    assert_int_equal(store_delete(f->s, "/t/w1/a", false, false, waiter_cb, &q, NULL), 0);
    assert_true(run_until_flag(f->base, &r.events, 2, 10000));
    assert_int_equal(r.puts, 1);
    assert_int_equal(r.dels, 1);
    assert_string_equal(r.last_key, "/t/w1/a");
    WAIT(f, &q);
    waiter_reset(&q);
    /* idle: progress notifications advance the resume revision */
    int before = r.progress;
    assert_true(run_until_flag(f->base, &r.progress, before + 1, 10000));
    assert_true(store_watch_next_revision(w) >= r.last_rev + 1);
    assert_int_equal(store_watch_next_revision(w), r.progress_rev + 1);
    store_watch_free(w);
}

static void test_watch_from_revision_and_compaction(void **state)
{
    fx *f = *state;
    wrec r = {0};
    waiter q = {0};
    int64_t first;
    store_watch_opts wo = {.prefix = true};
    store_watch *w;

    put_sync(f, "/t/w2/a", "n0");
    assert_int_equal(store_get(f->s, "/t/w2/a", 0, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    first = q.kvs[0].mod_revision;
    waiter_reset(&q);
    put_sync(f, "/t/w2/b", "n1");

    /* history replays from a revision */
    wo.start_revision = first;
    w = store_watch_start(f->s, "/t/w2/", &wo, &rec_handlers, &r, NULL);
    assert_true(run_until_flag(f->base, &r.events, 2, 10000));
    assert_true(r.seen[0] && r.seen[1]);
    assert_false(r.out_of_order);
    store_watch_free(w);

    /* compact past it: a watch from the old revision must re-list */
    assert_int_equal(store_get(f->s, "/t/w2/b", 0, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    int64_t now = q.kvs[0].mod_revision;
    waiter_reset(&q);
    assert_int_equal(store_compact(f->s, now, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    assert_true(q.ok);
    waiter_reset(&q);
    memset(&r, 0, sizeof(r));
    w = store_watch_start(f->s, "/t/w2/", &wo, &rec_handlers, &r, NULL);
    assert_true(run_until_flag(f->base, &r.compacted, 1, 10000));
    assert_int_equal(r.compact_rev, now);
    assert_int_equal(r.events, 0);
    store_watch_free(w);

    /* and a read at a compacted revision says so */
    assert_int_equal(store_get(f->s, "/t/w2/a", first, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    assert_false(q.ok);
    assert_true(store_err_compacted(&q.err));
    waiter_reset(&q);
}

static void test_watch_resumes_after_etcd_restart(void **state)
{
    fx *f = *state;
    wrec r = {0};
    store_watch_opts wo = {.prefix = true};
    store_watch *w = store_watch_start(f->s, "/t/w3/", &wo, &rec_handlers, &r, NULL);
    waiter q = {0};

    assert_true(run_until_flag(f->base, &r.progress, 1, 10000));
    for (int i = 0; i < 10; i++) {
        char key[32], val[8];
        snprintf(key, sizeof(key), "/t/w3/%d", i);
        snprintf(val, sizeof(val), "n%d", i);
        put_sync(f, key, val);
    }
    assert_true(run_until_flag(f->base, &r.events, 10, 10000));
    assert_int_equal(cr_etcd_kill(f->etcd, 0), 0);
    assert_true(run_until_flag(f->base, &r.broken, 1, 10000));
    /* while etcd is down a call fails cleanly instead of hanging */
    assert_int_equal(store_put(f->s, "/t/w3/down", "x", 1, NULL, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    assert_false(q.ok);
    assert_int_equal(q.err.code, CR_EUNAVAIL);
    waiter_reset(&q);
    assert_int_equal(cr_etcd_restart(f->etcd, 0), 0);
    for (int i = 10; i < 20; i++) {
        char key[32], val[8];
        snprintf(key, sizeof(key), "/t/w3/%d", i);
        snprintf(val, sizeof(val), "n%d", i);
        put_sync(f, key, val);
    }
    assert_true(run_until_flag(f->base, &r.events, 20, 15000));
    for (int i = 0; i < 20; i++)
        assert_true(r.seen[i]);
    assert_int_equal(r.dup, 0);
    assert_false(r.out_of_order);
    store_watch_free(w);
}

typedef struct selfree {
    store_watch *w;
    int events;
} selfree;

static void selfree_events(void *arg, const store_event *evs, size_t n)
{
    selfree *sf = arg;

    sf->events++;
    store_watch_free(sf->w); /* allowed from its own handler */
    sf->w = NULL;
}

/* Every event of a watch as text, keys without their run's prefix and
 * revisions relative to the run's first. */
typedef struct wtext {
    cr_buf text;
    int64_t rev0;
    int events;
} wtext;

static void wtext_events(void *arg, const store_event *evs, size_t n)
{
    wtext *t = arg;

    for (size_t i = 0; i < n; i++) {
        const store_event *e = &evs[i];

        t->events++;
        cr_buf_addf(&t->text, "%s %s m+%" PRId64 " v%" PRId64 " c+%" PRId64 " value=%s",
                    e->type == STORE_EV_PUT ? "PUT" : "DELETE", strrchr(e->kv.key, '/') + 1,
                    e->kv.mod_revision - t->rev0, e->kv.version,
                    e->kv.create_revision ? e->kv.create_revision - t->rev0 : 0,
                    e->kv.value ? e->kv.value : "(none)");
        if (e->prev.key)
            cr_buf_addf(&t->text, " prev=%s@m+%" PRId64, e->prev.value,
                        e->prev.mod_revision - t->rev0);
        cr_buf_adds(&t->text, ";\n");
    }
}

static const store_watch_handlers wtext_handlers = {.on_events = wtext_events};

/* The same writes seen by a watch through etcd's gRPC service and one
 * through its JSON gateway (from a start revision, with prev_kv): the
 * same events, in the same order, with the same values and revisions. */
static void test_watch_grpc_and_json_agree(void **state)
{
    fx *f = *state;
    store_config jc = {
        .endpoints = cr_etcd_endpoints(f->etcd), .timeout_ms = 3000, .json_only = true};
    store *js = store_new(f->base, f->http, &jc, NULL);
    store *ss[2] = {f->s, js};
    char *texts[2];

    for (int k = 0; k < 2; k++) {
        const char *P = k ? "/t/wagree/json/" : "/t/wagree/grpc/";
        store_watch_opts wo = {.prefix = true, .prev_kv = true};
        char key[64], val[64];
        wtext t = {0};
        waiter w = {0};
        store_watch *wt;

        cr_buf_init(&t.text);
        assert_int_equal(store_get(f->s, P, 0, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        t.rev0 = w.revision;
        waiter_reset(&w);
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof(key), "%sk%d", P, i);
            snprintf(val, sizeof(val), "v%d \"q\"", i);
            put_sync(f, key, val);
        }
        snprintf(key, sizeof(key), "%sk1", P);
        put_sync(f, key, "again");
        assert_int_equal(store_delete(f->s, key, false, false, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        assert_true(w.ok);
        waiter_reset(&w);
        /* from the first write's revision: history, then what comes live */
        wo.start_revision = t.rev0 + 1;
        wt = store_watch_start(ss[k], P, &wo, &wtext_handlers, &t, NULL);
        assert_non_null(wt);
        assert_true(run_until_flag(f->base, &t.events, 5, 10000));
        assert_int_equal(store_delete(f->s, P, true, false, waiter_cb, &w, NULL), 0);
        WAIT(f, &w);
        assert_true(w.ok);
        waiter_reset(&w);
        assert_true(run_until_flag(f->base, &t.events, 7, 10000));
        store_watch_free(wt);
        texts[k] = cr_buf_detach(&t.text, NULL);
    }
    assert_string_equal(texts[0], texts[1]);
    assert_non_null(strstr(texts[0], "PUT k1 m+4 v2 c+2 value=again prev=v1 \"q\"@m+2;"));
    assert_non_null(strstr(texts[0], "DELETE k1 m+5 v0 c+0 value=(none) prev=again@m+4;"));
    assert_non_null(strstr(texts[0], "DELETE k2 m+6"));
    for (int k = 0; k < 2; k++)
        free(texts[k]);
    store_free(js);
}

static void test_watch_free_from_handler(void **state)
{
    fx *f = *state;
    selfree sf = {0};
    wrec r = {0};
    store_watch_opts wo = {.prefix = true};
    store_watch_handlers h = {.on_events = selfree_events};
    store_watch *other;
    waiter q = {0};

    /* both watches start at the revision of the first write */
    put_sync(f, "/t/w4/a", "1");
    assert_int_equal(store_get(f->s, "/t/w4/a", 0, waiter_cb, &q, NULL), 0);
    WAIT(f, &q);
    wo.start_revision = q.kvs[0].mod_revision;
    waiter_reset(&q);
    sf.w = store_watch_start(f->s, "/t/w4/", &wo, &h, &sf, NULL);
    other = store_watch_start(f->s, "/t/w4/", &wo, &rec_handlers, &r, NULL);
    assert_non_null(sf.w);
    assert_true(run_until_flag(f->base, &sf.events, 1, 10000));
    put_sync(f, "/t/w4/b", "2");
    put_sync(f, "/t/w4/c", "3");
    /* the other watch sees every write; the freed one was never called again */
    assert_true(run_until_flag(f->base, &r.events, 3, 10000));
    assert_int_equal(sf.events, 1);
    store_watch_free(other);
}

/* --- failover, timeouts, auth ------------------------------------------------ */

static void test_failover_to_next_endpoint(void **state)
{
    fx *f = *state;
    waiter w = {0};
    char *eps = xasprintf("http://127.0.0.1:%d,%s", cr_etcd_free_port(), cr_etcd_endpoints(g_etcd));
    store *s = new_store(f, eps, 3000);

    assert_int_equal(store_put(s, "/t/fo/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_string_equal(store_endpoint(s), cr_etcd_endpoint(g_etcd, 0));
    waiter_reset(&w);
    assert_int_equal(store_status(s, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);
    store_free(s);
    free(eps);
}

static void test_timeout_never_hangs(void **state)
{
    fx *f = *state;
    waiter w = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    char *eps;
    store *s;

    /* a listener that never answers */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 16), 0);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    eps = xasprintf("http://127.0.0.1:%d", ntohs(sa.sin_port));
    s = new_store(f, eps, 300);
    assert_int_equal(store_put(s, "/t/to/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_ETIMEOUT);
    waiter_reset(&w);
    store_free(s);
    close(ls);
    free(eps);
}

static void test_cancel_drops_callbacks(void **state)
{
    fx *f = *state;
    waiter w = {0}, other = {0};

    assert_int_equal(store_put(f->s, "/t/cancel/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    assert_int_equal(store_list(f->s, "/t/", 0, waiter_cb, &w, NULL), 0);
    store_txn *t = store_txn_new();
    store_txn_put(t, STORE_THEN, "/t/cancel/b", "v", 1, NULL);
    assert_int_equal(store_write(f->s, t, waiter_cb, &w, NULL), 0);
    assert_int_equal(store_get(f->s, "/t/cancel/a", 0, waiter_cb, &other, NULL), 0);
    store_cancel(f->s, &w);
    WAIT(f, &other);
    assert_int_equal(w.done, 0);
    waiter_reset(&other);
}

static void auth_setup_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    int *done = arg;

    assert_null(err);
    assert_int_equal(resp->status, 200);
    (*done)++;
}

static void test_auth(void **state)
{
    fx *f = *state;
    cr_etcd_opts o = {.members = 1};
    cr_etcd *e = cr_etcd_start(&o);
    store *admin, *s;
    store_config cfg = {0}; /* the token on the gRPC watch too */
    waiter w = {0};
    const char *setup[][2] = {
        {"/v3/auth/user/add", "{\"name\":\"root\",\"password\":\"rootpw\"}"},
        {"/v3/auth/user/grant", "{\"user\":\"root\",\"role\":\"root\"}"},
        {"/v3/auth/enable", "{}"},
    };

    assert_non_null(e);
    admin = new_store(f, cr_etcd_endpoints(e), 3000);
    /* the store has no admin API; post the setup through cr_http */
    for (size_t i = 0; i < 3; i++) {
        char *url = xasprintf("%s%s", cr_etcd_endpoint(e, 0), setup[i][0]);
        int done = 0;
        cr_http_opts ho = {.url = url,
                           .body = setup[i][1],
                           .body_len = strlen(setup[i][1]),
                           .timeout_ms = 5000,
                           .on_done = auth_setup_done,
                           .arg = &done};
        assert_non_null(cr_http_start(f->http, &ho, NULL));
        assert_true(run_until_flag(f->base, &done, 1, 10000));
        free(url);
    }
    /* without credentials: refused */
    assert_int_equal(store_put(admin, "/t/auth/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_EINVAL); /* "user name is empty" */
    waiter_reset(&w);
    store_free(admin);

    /* wrong password: a clear error */
    cfg.endpoints = cr_etcd_endpoints(e);
    cfg.username = "root";
    cfg.password = "wrong";
    s = store_new(f->base, f->http, &cfg, NULL);
    assert_int_equal(store_get(s, "/t/auth/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_non_null(strstr(w.err.detail, "authentication failed"));
    waiter_reset(&w);
    store_free(s);

    cfg.password = "rootpw";
    s = store_new(f->base, f->http, &cfg, NULL);
    wrec r = {0};
    store_watch_opts wo = {.prefix = true};
    store_watch *wt = store_watch_start(s, "/t/auth/", &wo, &rec_handlers, &r, NULL);
    /* a watch from "now" sees writes made after it is established */
    assert_true(run_until_flag(f->base, &r.progress, 1, 10000));
    assert_int_equal(store_put(s, "/t/auth/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);
    /* a txn (gRPC: the token goes as metadata) */
    assert_true(cas_sync(f, s, "/t/auth/a", 1, "v2"));
    assert_false(cas_sync(f, s, "/t/auth/a", 1, "v3"));
    assert_int_equal(store_get(s, "/t/auth/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_string_equal(w.kvs[0].value, "v2");
    waiter_reset(&w);
    assert_true(run_until_flag(f->base, &r.events, 1, 10000));
    store_watch_free(wt);
    store_free(s);
    cr_etcd_free(e);
}

static void test_tls_with_client_certificate(void **state)
{
    fx *f = *state;
    char *dir = cr_test_tmpdir();
    char *ca = xasprintf("%s/ca.pem", dir), *crt = xasprintf("%s/server.pem", dir),
         *key = xasprintf("%s/server-key.pem", dir), *ccrt = xasprintf("%s/client.pem", dir),
         *ckey = xasprintf("%s/client-key.pem", dir), *rm = xasprintf("rm -rf '%s'", dir);
    cr_etcd_opts o = {.members = 1,
                      .cert_file = crt,
                      .key_file = key,
                      .client_ca_file = ca,
                      .probe_ca_file = ca,
                      .probe_cert = ccrt,
                      .probe_key = ckey};
    cr_etcd *e;
    /* TLS under valgrind is slow; the watch over gRPC too (HTTP/2 by ALPN) */
    store_config cfg = {.timeout_ms = 10000};
    store *s;
    waiter w = {0};
    wrec r = {0};
    store_watch_opts wo = {.prefix = true};
    store_watch *wt;

    assert_int_equal(cr_etcd_make_certs(dir), 0);
    e = cr_etcd_start(&o);
    assert_non_null(e);
    assert_non_null(strstr(cr_etcd_endpoints(e), "https://"));
    cfg.endpoints = cr_etcd_endpoints(e);

    /* CA, client certificate and key: works, watch included */
    cfg.ca_file = ca;
    cfg.cert_file = ccrt;
    cfg.key_file = ckey;
    s = store_new(f->base, f->http, &cfg, NULL);
    wt = store_watch_start(s, "/t/tls/", &wo, &rec_handlers, &r, NULL);
    assert_true(run_until_flag(f->base, &r.progress, 1, 10000));
    assert_int_equal(store_put(s, "/t/tls/a", "v", 1, NULL, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);
    /* a txn: gRPC over TLS (HTTP/2 by ALPN) */
    assert_true(cas_sync(f, s, "/t/tls/a", 1, "v2"));
    assert_false(cas_sync(f, s, "/t/tls/a", 1, "v3"));
    assert_int_equal(store_get(s, "/t/tls/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    assert_string_equal(w.kvs[0].value, "v2");
    waiter_reset(&w);
    assert_true(run_until_flag(f->base, &r.events, 1, 10000));
    store_watch_free(wt);
    store_free(s);

    /* without the client certificate: refused by the server */
    cfg.cert_file = cfg.key_file = NULL;
    s = store_new(f->base, f->http, &cfg, NULL);
    assert_int_equal(store_get(s, "/t/tls/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    waiter_reset(&w);
    store_free(s);

    /* without our CA: the server is not trusted */
    cfg.ca_file = NULL;
    cfg.cert_file = ccrt;
    cfg.key_file = ckey;
    s = store_new(f->base, f->http, &cfg, NULL);
    assert_int_equal(store_get(s, "/t/tls/a", 0, waiter_cb, &w, NULL), 0);
    WAIT(f, &w);
    assert_false(w.ok);
    assert_int_equal(w.err.code, CR_EIO);
    waiter_reset(&w);
    store_free(s);

    cr_etcd_free(e);
    assert_int_equal(system(rm), 0);
    free(dir);
    free(ca);
    free(crt);
    free(key);
    free(ccrt);
    free(ckey);
    free(rm);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
    cmocka_unit_test_setup_teardown(test_list_pages_at_one_revision, setup, teardown),
    cmocka_unit_test_setup_teardown(test_txn_conflicts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_coalesces_and_isolates_conflicts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_keeps_order_around_range_deletes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch_lanes_and_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fenced_txn, setup, teardown),
    cmocka_unit_test_setup_teardown(test_txn_grpc_and_json_agree, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
    cmocka_unit_test_setup_teardown(test_watch_events_and_progress, setup, teardown),
    cmocka_unit_test_setup_teardown(test_watch_from_revision_and_compaction, setup, teardown),
    cmocka_unit_test_setup_teardown(test_watch_grpc_and_json_agree, setup, teardown),
    cmocka_unit_test_setup_teardown(test_watch_free_from_handler, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failover_to_next_endpoint, setup, teardown),
    cmocka_unit_test_setup_teardown(test_timeout_never_hangs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cancel_drops_callbacks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tls_with_client_certificate, setup, teardown),
    /* last: it kills and restarts the shared etcd */
    cmocka_unit_test_setup_teardown(test_watch_resumes_after_etcd_restart, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");

    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
