/* store_cache fed by hand (no etcd): ordering and ranges, subscribers told
 * once per change (also when one leaves during a dispatch), typed documents
 * and their problems, references that outlive the cache. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "apis/request.h"
#include "apis/task.h"
#include "store/cache.h"

typedef struct sub {
    store_cache *c;
    int changes, synced, revisions;
    struct sub *drop; /* unsubscribes this one at its first change */
} sub;

static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    sub *s = arg;
    s->changes++;
    if (s->drop) {
        store_cache_unsubscribe(s->c, s->drop);
        s->drop = NULL;
    }
}

static void on_synced(void *arg)
{
    ((sub *)arg)->synced++;
}

static void on_revision(void *arg, int64_t rev)
{
    ((sub *)arg)->revisions++;
}

static const store_cache_handlers H = {on_change, on_revision, on_synced};

static void put(store_cache *c, const char *key, const char *json, int64_t rev)
{
    store_cache_feed_raw(c, key, json, strlen(json), rev, rev);
}

static void test_order_and_ranges(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    size_t first;

    put(c, "/corral/requests/b", "{}", 3);
    put(c, "/corral/requests/a", "{}", 2);
    put(c, "/corral/requests/ab", "not json", 4);
    put(c, "/corral/tasks/a/t1", "{}", 5);
    assert_int_equal(store_cache_len(c), 4);
    assert_int_equal(store_cache_revision(c), 5);
    assert_int_equal(store_cache_range(c, "/corral/requests/", &first), 3);
    assert_string_equal(store_cache_at(c, first)->key, "/corral/requests/a");
    assert_string_equal(store_cache_at(c, first + 1)->key, "/corral/requests/ab");
    assert_null(store_cache_get(c, "/corral/requests/ab")->value);
    assert_non_null(store_cache_get(c, "/corral/requests/ab")->error);
    assert_int_equal(store_cache_range(c, "/corral/x", &first), 0);
    assert_null(store_cache_at(c, 99));
    store_cache_feed_delete(c, "/corral/requests/a", 6);
    store_cache_feed_delete(c, "/corral/requests/none", 7);
    assert_int_equal(store_cache_len(c), 3);
    assert_int_equal(store_cache_revision(c), 7);
    store_cache_feed_revision(c, 3); /* never goes back */
    assert_int_equal(store_cache_revision(c), 7);
    /* a cache that was never given a store cannot start */
    cr_err err;
    assert_int_equal(store_cache_start(c, &err), -1);
    store_cache_free(c);
    store_cache_free(NULL);
}

static void test_subscribers(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    sub a = {.c = c}, b = {.c = c};

    assert_int_equal(store_cache_subscribe(c, &H, &a), 0);
    assert_int_equal(store_cache_subscribe(c, &H, &b), 0);
    a.drop = &b; /* a runs first and removes b within the same dispatch */
    put(c, "/corral/requests/x", "{}", 1);
    assert_int_equal(a.changes, 1);
    assert_int_equal(b.changes, 0);
    put(c, "/corral/requests/x", "{\"id\":\"x\"}", 2);
    assert_int_equal(a.changes, 2);
    assert_int_equal(b.changes, 0);
    store_cache_feed_synced(c, true);
    store_cache_feed_revision(c, 9);
    assert_int_equal(a.synced, 1);
    assert_int_equal(a.revisions, 1);
    assert_true(store_cache_synced(c));
    store_cache_feed_clear(c);
    assert_false(store_cache_synced(c));
    assert_int_equal(store_cache_len(c), 0);
    store_cache_unsubscribe(c, &a);
    put(c, "/corral/requests/y", "{}", 10);
    assert_int_equal(a.changes, 2);
    store_cache_free(c);
}

static void test_typed_documents_and_refs(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    const store_obj *o;

    put(c, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":3}", 1);
    o = store_cache_get(c, "/corral/requests/web");
    assert_int_equal(o->kind, API_KEY_REQUEST);
    assert_string_equal(o->id1, "web");
    assert_null(o->error);
    assert_int_equal(((const api_request *)o->doc)->instances, 3);

    /* invalid: no typed document, and a problem that names the field */
    put(c, "/corral/requests/bad", "{\"id\":\"bad\",\"instances\":\"three\"}", 2);
    o = store_cache_get(c, "/corral/requests/bad");
    assert_non_null(o->error);
    assert_non_null(strstr(o->error, "instances"));

    /* a pending task: typed, ids taken from the key */
    put(c, "/corral/pending/web/web-v1-1-1", "{}", 3);
    o = store_cache_get(c, "/corral/pending/web/web-v1-1-1");
    assert_int_equal(o->kind, API_KEY_PENDING);
    assert_string_equal(o->id2, "web-v1-1-1");

    /* kept past a replacement and past the cache itself */
    const store_obj *kept = store_obj_ref(store_cache_get(c, "/corral/requests/web"));
    put(c, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":4}", 4);
    assert_int_equal(((const api_request *)store_cache_get(c, "/corral/requests/web")->doc)->instances,
                     4);
    store_cache_free(c);
    assert_int_equal(((const api_request *)kept->doc)->instances, 3);
    store_obj_unref(kept);
    store_obj_unref(NULL);
}

static void test_feed_json(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    store_cache_feed_json(c, "/corral/agents/a1", json_pack("{s:s}", "id", "a1"), 1, 1);
    store_cache_feed_json(c, "/corral/agents/a2", NULL, 2, 2);
    const store_obj *o = store_cache_get(c, "/corral/agents/a1");
    assert_int_equal(o->kind, API_KEY_AGENT);
    assert_string_equal(json_string_value(json_object_get(o->value, "id")), "a1");
    assert_null(store_cache_get(c, "/corral/agents/a2")->value);
    store_cache_stats st;
    store_cache_get_stats(c, &st);
    assert_int_equal(st.objects, 2);
    assert_int_equal(st.decodes, 2);
    store_cache_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order_and_ranges),
    cmocka_unit_test(test_subscribers),
    cmocka_unit_test(test_typed_documents_and_refs),
    cmocka_unit_test(test_feed_json),
};

CR_TEST_MAIN(tests)
