/* store_cache against a 3-member etcd: list -> synced -> watch, every
 * change told to subscribers once, values parsed once and Corral documents
 * decoded once (typed, with their problems), revision waits for
 * read-your-writes, references that outlive a replacement, and a re-list
 * after the cache's member was down while history got compacted (only the
 * difference is told). The cache talks to member 0 only; a writer talks to
 * members 1 and 2. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "apis/request.h"
#include "base/buf.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/cache.h"
#include "store/store.h"
#include "test/lib/etcd_harness.h"
#include "test/store/testutil.h"

static cr_etcd *g_etcd;

static int group_setup(void **state)
{
    cr_etcd_opts o = {.members = 3};

    g_etcd = cr_etcd_start(&o);
    return g_etcd ? 0 : -1;
}

static int group_teardown(void **state)
{
    cr_etcd_free(g_etcd);
    return 0;
}

typedef struct fx {
    struct event_base *base;
    cr_http *http;
    store *reader; /* member 0 */
    store *writer; /* members 1, 2 */
    store_cache *c;
    int adds, updates, deletes, synced, revisions, waited;
    char last[64];
    int64_t last_revision; /* store_cache_revision() during the last change */
    int relisting;         /* changes told while the cache said it re-lists */
} fx;

static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    fx *f = arg;

    if (!old) {
        f->adds++;
        snprintf(f->last, sizeof(f->last), "add %s", cur->key);
        assert_ptr_equal(store_cache_get(f->c, cur->key), cur);
    } else if (cur) {
        assert_true(cur->mod_revision > old->mod_revision);
        f->updates++;
        snprintf(f->last, sizeof(f->last), "update %s", cur->key);
    } else {
        f->deletes++;
        snprintf(f->last, sizeof(f->last), "delete %s", old->key);
        assert_null(store_cache_get(f->c, old->key));
    }
    f->last_revision = store_cache_revision(f->c);
    f->relisting += store_cache_relisting(f->c) > f->last_revision;
}

static void on_revision(void *arg, int64_t revision)
{
    fx *f = arg;
    f->revisions++;
}

static void on_synced(void *arg)
{
    fx *f = arg;

    f->synced++;
}

static const store_cache_handlers handlers = {on_change, on_revision, on_synced};

static void on_waited(void *arg, const char *tag)
{
    fx *f = arg;
    assert_string_equal(tag, "mine");
    f->waited++;
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    char *weps = xasprintf("%s,%s", cr_etcd_endpoint(g_etcd, 1), cr_etcd_endpoint(g_etcd, 2));
    store_config rc = {.endpoints = cr_etcd_endpoint(g_etcd, 0), .timeout_ms = 2000};
    store_config wc = {.endpoints = weps, .timeout_ms = 2000};

    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->reader = store_new(f->base, f->http, &rc, NULL);
    f->writer = store_new(f->base, f->http, &wc, NULL);
    free(weps);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    store_cache_free(f->c);
    store_free(f->reader);
    store_free(f->writer);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void start_cache(fx *f, const char *prefix)
{
    store_cache_config cc = {.prefix = prefix};
    f->c = store_cache_new(f->base, f->reader, &cc);
    assert_int_equal(store_cache_subscribe(f->c, &handlers, f), 0);
    assert_int_equal(store_cache_subscribe(f->c, &handlers, f), -1); /* once per arg */
    assert_false(store_cache_synced(f->c));
    assert_int_equal(store_cache_start(f->c, NULL), 0);
    assert_true(run_until_flag(f->base, &f->synced, 1, 10000));
    assert_true(store_cache_synced(f->c));
}

/* Puts, repeating retryable failures (a leader election in progress) as
 * any caller would. */
static void wput(fx *f, const char *key, const char *val)
{
    int64_t deadline = cr_mono_ms() + 30000;

    for (;;) {
        waiter w = {0};
        bool ok;

        assert_int_equal(store_put(f->writer, key, val, strlen(val), NULL, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 10000));
        ok = w.ok;
        if (!ok && (!cr_code_retryable(w.err.code) || cr_mono_ms() > deadline))
            fail_msg("put %s: %s", key, w.err.detail);
        waiter_reset(&w);
        if (ok)
            return;
    }
}

static void wdel(fx *f, const char *key)
{
    waiter w = {0};

    assert_int_equal(store_delete(f->writer, key, false, false, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    assert_true(w.ok);
    waiter_reset(&w);
}

static void test_list_sync_watch(void **state)
{
    fx *f = *state;
    const store_obj *o;

    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/t/c1/x/r%d", i);
        wput(f, key, i == 3 ? "{not json" : "{\"id\":1}");
    }
    start_cache(f, "/t/c1");
    assert_int_equal(f->adds, 0); /* the first list fills the cache silently */
    assert_int_equal(store_cache_len(f->c), 5);
    o = store_cache_get(f->c, "/t/c1/x/r3");
    assert_non_null(o);
    assert_null(o->value);
    assert_non_null(o->error);
    o = store_cache_get(f->c, "/t/c1/x/r0");
    assert_non_null(o->value);
    assert_null(o->error);
    assert_int_equal(o->kind, API_KEY_UNKNOWN);
    assert_int_equal(json_integer_value(json_object_get(o->value, "id")), 1);

    /* a reference keeps the old object alive after it is replaced */
    const store_obj *kept = store_obj_ref(o);
    wput(f, "/t/c1/x/r0", "{\"id\":2}");
    assert_true(run_until_flag(f->base, &f->updates, 1, 10000));
    assert_string_equal(f->last, "update /t/c1/x/r0");
    o = store_cache_get(f->c, "/t/c1/x/r0");
    assert_ptr_not_equal(o, kept);
    assert_int_equal(json_integer_value(json_object_get(o->value, "id")), 2);
    assert_int_equal(json_integer_value(json_object_get(kept->value, "id")), 1);
    assert_int_equal(f->last_revision, o->mod_revision);
    store_obj_unref(kept);

    wdel(f, "/t/c1/x/r1");
    assert_true(run_until_flag(f->base, &f->deletes, 1, 10000));
    assert_null(store_cache_get(f->c, "/t/c1/x/r1"));
    wput(f, "/t/c1/x/r9", "{}");
    assert_true(run_until_flag(f->base, &f->adds, 1, 10000));
    assert_true(store_cache_revision(f->c) >= store_cache_get(f->c, "/t/c1/x/r9")->mod_revision);
    assert_true(f->revisions >= 3);

    /* prefix ranges are in key order */
    size_t first, n = store_cache_range(f->c, "/t/c1/x/r", &first);
    assert_int_equal(n, 5);
    for (size_t i = first + 1; i < first + n; i++)
        assert_true(strcmp(store_cache_at(f->c, i - 1)->key, store_cache_at(f->c, i)->key) < 0);
    store_cache_stats st;
    store_cache_get_stats(f->c, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.objects, 5);
    assert_int_equal(st.decodes, 5 + 2); /* the list, then one per put */
}

static void test_documents_decoded_once(void **state)
{
    fx *f = *state;
    const store_obj *o;

    wput(f, "/t/c2/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\",\"instances\":2}");
    wput(f, "/t/c2/requests/odd", "{\"id\":\"odd\",\"requestType\":\"WORKER\",\"flavour\":1}");
    wput(f, "/t/c2/status/requests/web", "{\"requestId\":\"web\",\"state\":\"ACTIVE\"}");
    start_cache(f, "/t/c2");

    o = store_cache_get(f->c, "/t/c2/requests/web");
    assert_int_equal(o->kind, API_KEY_REQUEST);
    assert_string_equal(o->id1, "web");
    assert_null(o->error);
    assert_non_null(o->doc);
    assert_int_equal(((const api_request *)o->doc)->instances, 2);
    /* an unknown field: readable leniently, with the strict problem */
    o = store_cache_get(f->c, "/t/c2/requests/odd");
    assert_non_null(o->doc);
    assert_non_null(o->error);
    assert_non_null(strstr(o->error, "flavour"));
    o = store_cache_get(f->c, "/t/c2/status/requests/web");
    assert_int_equal(o->kind, API_KEY_REQUEST_STATUS);
    assert_non_null(o->doc);
}

static void test_revision_waits(void **state)
{
    fx *f = *state;
    waiter w = {0};

    start_cache(f, "/t/c3");
    /* a revision the cache already reflects: on the next loop turn */
    store_cache_wait(f->c, store_cache_revision(f->c), on_waited, f, "mine");
    assert_int_equal(f->waited, 0);
    assert_true(run_until_flag(f->base, &f->waited, 1, 10000));

    /* a write's revision: once its event is in */
    assert_int_equal(store_put(f->writer, "/t/c3/k", "{}", 2, NULL, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    assert_true(w.ok);
    int64_t rev = w.revision;
    waiter_reset(&w);
    store_cache_wait(f->c, rev, on_waited, f, "mine");
    store_cache_wait(f->c, rev, on_waited, f, "other-tag");
    store_cache_cancel_waits(f->c, f, "other-tag"); /* never fires */
    assert_true(run_until_flag(f->base, &f->waited, 2, 10000));
    assert_true(store_cache_revision(f->c) >= rev);
    assert_non_null(store_cache_get(f->c, "/t/c3/k"));

    /* unsubscribed: no more changes, no waits */
    store_cache_wait(f->c, rev + 1000, on_waited, f, "mine");
    store_cache_unsubscribe(f->c, f);
    wput(f, "/t/c3/k2", "{}");
    int64_t deadline = cr_mono_ms() + 10000;
    while (!store_cache_get(f->c, "/t/c3/k2") && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_non_null(store_cache_get(f->c, "/t/c3/k2")); /* the cache has it... */
    assert_int_equal(f->adds, 1);                        /* ...no one was told */
    assert_int_equal(f->waited, 2);
}

static void test_relist_after_compaction(void **state)
{
    fx *f = *state;
    waiter w = {0};

    wput(f, "/t/c4/keep", "{}");
    wput(f, "/t/c4/change", "{\"v\":1}");
    wput(f, "/t/c4/gone", "{}");
    start_cache(f, "/t/c4");
    assert_int_equal(store_cache_len(f->c), 3);

    /* the cache's member goes away; meanwhile history moves and is
     * compacted, so its watch cannot resume where it left off */
    assert_int_equal(cr_etcd_kill(g_etcd, 0), 0);
    wput(f, "/t/c4/change", "{\"v\":2}");
    wdel(f, "/t/c4/gone");
    wput(f, "/t/c4/new", "{}");
    assert_int_equal(store_get(f->writer, "/t/c4/new", 0, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    int64_t rev = w.kvs[0].mod_revision;
    waiter_reset(&w);
    assert_int_equal(store_compact(f->writer, rev, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    assert_true(w.ok);
    waiter_reset(&w);
    assert_int_equal(cr_etcd_restart(g_etcd, 0), 0);

    /* re-listed: the subscribers saw exactly the difference */
    assert_true(run_until_flag(f->base, &f->synced, 2, 20000));
    store_cache_stats st;
    store_cache_get_stats(f->c, &st);
    assert_int_equal(st.lists, 2);
    assert_int_equal(f->adds, 1);
    assert_int_equal(f->updates, 1);
    assert_int_equal(f->deletes, 1);
    /* each told while the cache said a re-list was not all in (loops wait) */
    assert_int_equal(f->relisting, 3);
    assert_int_equal(store_cache_relisting(f->c), 0);
    assert_int_equal(store_cache_len(f->c), 3);
    assert_non_null(store_cache_get(f->c, "/t/c4/new"));
    assert_null(store_cache_get(f->c, "/t/c4/gone"));
    assert_int_equal(json_integer_value(json_object_get(store_cache_get(f->c, "/t/c4/change")->value,
                                                        "v")),
                     2);
    assert_true(store_cache_revision(f->c) >= rev);

    /* and it keeps watching afterwards */
    wput(f, "/t/c4/after", "{}");
    assert_true(run_until_flag(f->base, &f->adds, 2, 10000));
}

/* Batches larger than what is applied at once (txns of 128 puts) and a
 * list of thousands of keys are applied a slice per loop turn: in order,
 * completely, with the revision of the last change. */
static void test_big_batches_in_slices(void **state)
{
    fx *f = *state;
    waiter w = {0};
    int64_t last = 0;

    start_cache(f, "/t/c5");
    for (int t = 0; t < 24; t++) {
        store_txn *txn = store_txn_new();
        for (int i = 0; i < 128; i++) {
            char key[48], val[48];
            snprintf(key, sizeof(key), "/t/c5/k%05d", t * 128 + i);
            snprintf(val, sizeof(val), "{\"n\":%d}", t * 128 + i);
            store_txn_put(txn, STORE_THEN, key, val, strlen(val), NULL);
        }
        assert_int_equal(store_txn_commit(f->writer, txn, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 10000));
        assert_true(w.ok);
        last = w.revision;
        waiter_reset(&w);
    }
    store_cache_wait(f->c, last, on_waited, f, "mine");
    assert_true(run_until_flag(f->base, &f->waited, 1, 20000));
    assert_int_equal(store_cache_len(f->c), 24 * 128);
    assert_int_equal(f->adds, 24 * 128);
    assert_true(store_cache_revision(f->c) >= last);
    const store_obj *o = store_cache_get(f->c, "/t/c5/k03071");
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o->value, "n")), 3071);

    /* a second cache lists all of it, a page at a time (4 pages), every
     * page at the first one's revision: a txn that lands while it loads
     * comes through the watch, neither lost nor half seen */
    store_cache_config cc = {.prefix = "/t/c5"};
    store_cache *c2 = store_cache_new(f->base, f->reader, &cc);
    fx g = {.c = c2};
    store_cache_stats st;
    assert_int_equal(store_cache_subscribe(c2, &handlers, &g), 0);
    assert_int_equal(store_cache_start(c2, NULL), 0);
    {
        store_txn *txn = store_txn_new();
        const char *v = "{\"n\":-1}";
        store_txn_delete(txn, STORE_THEN, "/t/c5/k00000", false);
        store_txn_put(txn, STORE_THEN, "/t/c5/k03071", v, strlen(v), NULL);
        store_txn_put(txn, STORE_THEN, "/t/c5/k99999", v, strlen(v), NULL);
        assert_int_equal(store_txn_commit(f->writer, txn, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 10000));
        assert_true(w.ok);
        last = w.revision;
        waiter_reset(&w);
    }
    assert_true(run_until_flag(f->base, &g.synced, 1, 20000));
    store_cache_wait(c2, last, on_waited, &g, "mine");
    assert_true(run_until_flag(f->base, &g.waited, 1, 20000));
    assert_int_equal(store_cache_len(c2), 24 * 128);
    assert_null(store_cache_get(c2, "/t/c5/k00000"));
    assert_int_equal(json_integer_value(json_object_get(store_cache_get(c2, "/t/c5/k03071")->value,
                                                        "n")),
                     -1);
    assert_non_null(store_cache_get(c2, "/t/c5/k99999"));
    store_cache_get_stats(c2, &st);
    assert_true(st.pages >= 4); /* 4 unless the txn landed before the first page */
    assert_int_equal(st.lists, 1);
    store_cache_free(c2);
}

/* Every turn between two slices of a big batch, the cache shows each txn
 * whole or not at all: with a slice budget of 1 µs a slice ends after every
 * revision, never inside one. */
#define HALF_TXNS 12
#define HALF_KEYS 100 /* > DIRECT_EVENTS: each revision is queued and sliced */

typedef struct half_check {
    store_cache *c;
    struct event *ev;
    int turns, torn, partial; /* partial: turns with some txns in, not all */
    bool done;
} half_check;

static void half_check_turn(evutil_socket_t fd, short what, void *arg)
{
    half_check *h = arg;
    int whole = 0;
    struct timeval now = {0, 0};

    for (int t = 0; t < HALF_TXNS; t++) {
        char prefix[32];
        size_t first, n;
        snprintf(prefix, sizeof(prefix), "/t/c7/g%02d/", t);
        n = store_cache_range(h->c, prefix, &first);
        if (n != 0 && n != HALF_KEYS)
            h->torn++;
        whole += n == HALF_KEYS;
    }
    h->turns++;
    h->partial += whole > 0 && whole < HALF_TXNS;
    h->done = whole == HALF_TXNS;
    if (!h->done)
        evtimer_add(h->ev, &now);
}

static void test_no_half_revision(void **state)
{
    fx *f = *state;
    store_cache_config cc = {.prefix = "/t/c7", .slice_budget_us = 1};
    half_check h = {0};
    waiter w[HALF_TXNS];
    struct timeval now = {0, 0};
    int64_t deadline;

    f->c = store_cache_new(f->base, f->reader, &cc);
    assert_int_equal(store_cache_subscribe(f->c, &handlers, f), 0);
    assert_int_equal(store_cache_start(f->c, NULL), 0);
    assert_true(run_until_flag(f->base, &f->synced, 1, 10000));
    memset(w, 0, sizeof(w));
    for (int t = 0; t < HALF_TXNS; t++) { /* sent together: big watch batches */
        store_txn *txn = store_txn_new();
        for (int i = 0; i < HALF_KEYS; i++) {
            char key[48];
            snprintf(key, sizeof(key), "/t/c7/g%02d/k%03d", t, i);
            store_txn_put(txn, STORE_THEN, key, "{}", 2, NULL);
        }
        assert_int_equal(store_txn_commit(f->writer, txn, waiter_cb, &w[t], NULL), 0);
    }
    h.c = f->c;
    h.ev = evtimer_new(f->base, half_check_turn, &h);
    evtimer_add(h.ev, &now);
    deadline = cr_mono_ms() + 20000;
    while (!h.done && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(h.done);
    assert_int_equal(h.torn, 0);
    assert_true(h.partial > 0); /* the batches did come in slices */
    for (int t = 0; t < HALF_TXNS; t++) {
        assert_true(run_until_flag(f->base, &w[t].done, 1, 10000));
        assert_true(w[t].ok);
        waiter_reset(&w[t]);
    }
    event_free(h.ev);
}

/* The first load loses its member part way (or just before): it starts
 * again and ends with every key once, told to nobody (a first load is
 * read by subscribers once synced). */
static void test_first_load_interrupted(void **state)
{
    fx *f = *state;
    waiter w = {0};
    char val[2048];
    store_cache_stats st;

    memset(val, 'x', sizeof(val));
    memcpy(val, "{\"pad\":\"", 8);
    memcpy(val + sizeof(val) - 3, "\"}", 3);
    for (int t = 0; t < 24; t++) {
        store_txn *txn = store_txn_new();
        for (int i = 0; i < 128; i++) {
            char key[48];
            snprintf(key, sizeof(key), "/t/c6/k%05d", t * 128 + i);
            store_txn_put(txn, STORE_THEN, key, val, strlen(val), NULL);
        }
        assert_int_equal(store_txn_commit(f->writer, txn, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 10000));
        assert_true(w.ok);
        waiter_reset(&w);
    }
    store_cache_config cc = {.prefix = "/t/c6"};
    f->c = store_cache_new(f->base, f->reader, &cc);
    assert_int_equal(store_cache_subscribe(f->c, &handlers, f), 0);
    assert_int_equal(store_cache_start(f->c, NULL), 0);
    for (int64_t end = cr_mono_ms() + 10000; cr_mono_ms() < end;) {
        store_cache_get_stats(f->c, &st);
        if (st.pages >= 1)
            break;
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    assert_int_equal(cr_etcd_kill(g_etcd, 0), 0);
    for (int i = 0; i < 20; i++) /* let the load meet the dead member */
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(cr_etcd_restart(g_etcd, 0), 0);
    assert_true(run_until_flag(f->base, &f->synced, 1, 30000));
    assert_int_equal(store_cache_len(f->c), 24 * 128);
    assert_int_equal(f->adds, 0);
    for (size_t i = 0; i < store_cache_len(f->c); i++) {
        char key[48];
        snprintf(key, sizeof(key), "/t/c6/k%05zu", i);
        assert_string_equal(store_cache_at(f->c, i)->key, key);
    }
    store_cache_get_stats(f->c, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.objects, 24 * 128);
    /* and it watches */
    wput(f, "/t/c6/after", "{}");
    assert_true(run_until_flag(f->base, &f->adds, 1, 10000));
}

static store_cache *start_with(fx *g, store *s, struct event_base *base, const char *prefix,
                               long offload_min)
{
    store_cache_config cc = {.prefix = prefix, .load_offload_min = offload_min};
    store_cache *c = store_cache_new(base, s, &cc);
    g->c = c;
    assert_int_equal(store_cache_subscribe(c, &handlers, g), 0);
    assert_int_equal(store_cache_start(c, NULL), 0);
    return c;
}

/* The first load's task records decoded on threads (a page at a time,
 * beside the loop) give the cache what decoding on the loop gives: the
 * same keys in order, the same documents, problems and texts. */
static void test_first_load_on_threads(void **state)
{
    fx *f = *state;
    waiter w = {0};
    enum { N = 2600 };
    /* records that take a while to decode (an env of 150 variables), so
     * that the loop is still at one page when the next one comes */
    cr_buf env = CR_BUF_INIT;
    for (int i = 0; i < 150; i++)
        cr_buf_addf(&env, "%s\"VAR_%d\":\"value %d\"", i ? "," : "", i, i);

    for (int t = 0; t * 128 < N; t++) {
        store_txn *txn = store_txn_new();
        for (int i = t * 128; i < N && i < (t + 1) * 128; i++) {
            char key[96], *val;
            int r = i % 10;
            if (i % 13 == 0) {
                snprintf(key, sizeof(key), "/t/c8/requests/r%d-%d", r, i);
                val = xasprintf("{\"id\":\"r%d-%d\",\"requestType\":\"SERVICE\"}", r, i);
            } else {
                snprintf(key, sizeof(key), "/t/c8/tasks/r%d/r%d-v1-%d-1-h1-r1", r, r, 1000 + i);
                val = i % 9 == 0
                          ? xstrdup("{not json")
                          : xasprintf("{\"taskId\":{\"id\":\"r%d-v1-%d-1-h1-r1\","
                                      "\"requestId\":\"r%d\",\"deployId\":\"v1\","
                                      "\"startedAt\":%d,\"instanceNo\":1,\"host\":\"h1\","
                                      "\"rackId\":\"r1\"},\"pendingTask\":{\"pendingTaskId\":"
                                      "\"r%d-v1-1-1-NEW_DEPLOY-1\"},\"agentId\":\"a1\","
                                      "\"hostname\":\"h1\",\"lastTaskState\":"
                                      "\"TASK_RUNNING\",\"updatedAt\":%d,\"env\":{%s}}",
                                      r, 1000 + i, r, 1000 + i, r, 5000 + i, cr_buf_str(&env));
            }
            store_txn_put(txn, STORE_THEN, key, val, strlen(val), NULL);
            free(val);
        }
        assert_int_equal(store_txn_commit(f->writer, txn, waiter_cb, &w, NULL), 0);
        assert_true(run_until_flag(f->base, &w.done, 1, 10000));
        assert_true(w.ok);
        waiter_reset(&w);
    }
    cr_buf_release(&env);
    fx a = {0}, b = {0};
    store_cache *ca = start_with(&a, f->reader, f->base, "/t/c8", 10);
    store_cache *cb = start_with(&b, f->reader, f->base, "/t/c8", -1);
    assert_true(run_until_flag(f->base, &a.synced, 1, 30000));
    assert_true(run_until_flag(f->base, &b.synced, 1, 30000));
    store_cache_stats sa, sb;
    store_cache_get_stats(ca, &sa);
    store_cache_get_stats(cb, &sb);
    assert_true(sa.pages >= 3);
    assert_true(sa.pages_offloaded >= 1);
    assert_int_equal(sb.pages_offloaded, 0);
    assert_int_equal(store_cache_len(ca), N);
    assert_int_equal(store_cache_len(cb), N);
    size_t docs = 0, errors = 0;
    for (size_t i = 0; i < N; i++) {
        const store_obj *x = store_cache_at(ca, i), *y = store_cache_at(cb, i);
        assert_string_equal(x->key, y->key);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->mod_revision, y->mod_revision);
        assert_int_equal(x->doc != NULL, y->doc != NULL);
        assert_int_equal(x->error != NULL, y->error != NULL);
        if (x->error)
            assert_string_equal(x->error, y->error);
        docs += x->doc != NULL;
        errors += x->error != NULL;
        char *ox = NULL, *oy = NULL;
        size_t lx = 0, ly = 0;
        const char *tx = store_obj_plain_text(x, &lx, &ox), *ty = store_obj_plain_text(y, &ly, &oy);
        assert_int_equal(tx != NULL, ty != NULL);
        if (tx) {
            assert_int_equal(lx, ly);
            assert_memory_equal(tx, ty, lx);
        }
        free(ox);
        free(oy);
    }
    assert_true(docs > N / 2); /* the records decode... */
    assert_true(errors > 100); /* ...but for the bad ones */
    store_cache_free(ca);
    store_cache_free(cb);
    f->c = NULL;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_list_sync_watch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_documents_decoded_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_revision_waits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_relist_after_compaction, setup, teardown),
    cmocka_unit_test_setup_teardown(test_big_batches_in_slices, setup, teardown),
    cmocka_unit_test_setup_teardown(test_no_half_revision, setup, teardown),
    cmocka_unit_test_setup_teardown(test_first_load_interrupted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_first_load_on_threads, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");

    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
