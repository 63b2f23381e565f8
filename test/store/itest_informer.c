/* store_informer against a 3-member etcd: list -> synced -> watch, handlers
 * for adds/updates/deletes, decode errors kept, and a re-list after the
 * informer's member was down while history got compacted. The informer
 * talks to member 0 only; a writer talks to members 1 and 2. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/informer.h"
#include "store/store.h"
#include "store/workqueue.h"
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
    store_informer *inf;
    store_wq *wq;
    int adds, updates, deletes, synced, bad;
    char last[64];
    int processed;
} fx;

static void *decode(const store_kv *kv, void *arg, cr_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(kv->value, kv->value_len, 0, &jerr);

    if (!j)
        cr_error(err, CR_EPARSE, "%s: %s", kv->key, jerr.text);
    return j;
}

static void free_obj(void *obj)
{
    json_decref(obj);
}

static void on_add(void *arg, const store_item *it)
{
    fx *f = arg;

    f->adds++;
    if (it->decode_error)
        f->bad++;
    snprintf(f->last, sizeof(f->last), "add %s", it->key);
    store_wq_add(f->wq, it->key);
}

static void on_update(void *arg, const store_item *old, const store_item *cur)
{
    fx *f = arg;

    assert_true(cur->mod_revision > old->mod_revision);
    f->updates++;
    snprintf(f->last, sizeof(f->last), "update %s", cur->key);
    store_wq_add(f->wq, cur->key);
}

static void on_delete(void *arg, const store_item *old)
{
    fx *f = arg;

    f->deletes++;
    snprintf(f->last, sizeof(f->last), "delete %s", old->key);
    store_wq_add(f->wq, old->key);
}

static void on_synced(void *arg)
{
    fx *f = arg;

    f->synced++;
}

static void process(void *arg, store_wq *wq, const char *key)
{
    fx *f = arg;

    f->processed++;
    store_wq_done(wq, key);
}

static const store_informer_handlers handlers = {decode,    free_obj,  on_add,
                                                 on_update, on_delete, on_synced};

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
    f->wq = store_wq_new(f->base, NULL, process, NULL, f);
    free(weps);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    store_informer_free(f->inf);
    store_wq_free(f->wq);
    store_free(f->reader);
    store_free(f->writer);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
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

static void test_list_sync_watch_handlers(void **state)
{
    fx *f = *state;
    const store_item *it;

    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/t/inf1/r%d", i);
        wput(f, key, i == 3 ? "{not json" : "{\"id\":1}");
    }
    f->inf = store_informer_new(f->reader, "/t/inf1/", &handlers, f);
    assert_false(store_informer_synced(f->inf));
    assert_int_equal(store_informer_start(f->inf, NULL), 0);
    assert_true(run_until_flag(f->base, &f->synced, 1, 10000));
    assert_true(store_informer_synced(f->inf));
    assert_int_equal(f->adds, 5);
    assert_int_equal(f->bad, 1);
    assert_int_equal(store_informer_len(f->inf), 5);
    it = store_informer_get(f->inf, "/t/inf1/r3");
    assert_non_null(it);
    assert_null(it->obj);
    assert_non_null(it->decode_error);
    it = store_informer_get(f->inf, "/t/inf1/r0");
    assert_non_null(it->obj);
    assert_int_equal(json_integer_value(json_object_get(it->obj, "id")), 1);

    wput(f, "/t/inf1/r0", "{\"id\":2}");
    assert_true(run_until_flag(f->base, &f->updates, 1, 10000));
    assert_string_equal(f->last, "update /t/inf1/r0");
    it = store_informer_get(f->inf, "/t/inf1/r0");
    assert_int_equal(json_integer_value(json_object_get(it->obj, "id")), 2);
    wdel(f, "/t/inf1/r1");
    assert_true(run_until_flag(f->base, &f->deletes, 1, 10000));
    assert_null(store_informer_get(f->inf, "/t/inf1/r1"));
    wput(f, "/t/inf1/r9", "{}");
    assert_true(run_until_flag(f->base, &f->adds, 6, 10000));
    assert_true(store_informer_revision(f->inf) >=
                store_informer_get(f->inf, "/t/inf1/r9")->mod_revision);
    /* handlers fed the work queue */
    assert_true(run_until_flag(f->base, &f->processed, 1, 10000));
    assert_int_equal(store_informer_lists(f->inf), 1);
}

static void test_relist_after_compaction(void **state)
{
    fx *f = *state;
    waiter w = {0};

    wput(f, "/t/inf2/keep", "{}");
    wput(f, "/t/inf2/change", "{\"v\":1}");
    wput(f, "/t/inf2/gone", "{}");
    f->inf = store_informer_new(f->reader, "/t/inf2/", &handlers, f);
    assert_int_equal(store_informer_start(f->inf, NULL), 0);
    assert_true(run_until_flag(f->base, &f->synced, 1, 10000));
    assert_int_equal(f->adds, 3);

    /* the informer's member goes away; meanwhile history moves and is
     * compacted, so its watch cannot resume where it left off */
    assert_int_equal(cr_etcd_kill(g_etcd, 0), 0);
    wput(f, "/t/inf2/change", "{\"v\":2}");
    wdel(f, "/t/inf2/gone");
    wput(f, "/t/inf2/new", "{}");
    assert_int_equal(store_get(f->writer, "/t/inf2/new", 0, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    int64_t rev = w.kvs[0].mod_revision;
    waiter_reset(&w);
    assert_int_equal(store_compact(f->writer, rev, waiter_cb, &w, NULL), 0);
    assert_true(run_until_flag(f->base, &w.done, 1, 10000));
    assert_true(w.ok);
    waiter_reset(&w);
    assert_int_equal(cr_etcd_restart(g_etcd, 0), 0);

    /* re-listed: the handlers saw exactly the difference */
    assert_true(run_until_flag(f->base, &f->synced, 2, 20000));
    assert_int_equal(store_informer_lists(f->inf), 2);
    assert_int_equal(f->adds, 4);
    assert_int_equal(f->updates, 1);
    assert_int_equal(f->deletes, 1);
    assert_int_equal(store_informer_len(f->inf), 3);
    assert_non_null(store_informer_get(f->inf, "/t/inf2/new"));
    assert_null(store_informer_get(f->inf, "/t/inf2/gone"));
    assert_int_equal(
        json_integer_value(json_object_get(store_informer_get(f->inf, "/t/inf2/change")->obj, "v")),
        2);
    assert_true(store_informer_revision(f->inf) >= rev);

    /* and it keeps watching afterwards */
    wput(f, "/t/inf2/after", "{}");
    assert_true(run_until_flag(f->base, &f->adds, 5, 10000));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_list_sync_watch_handlers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_relist_after_compaction, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");

    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
