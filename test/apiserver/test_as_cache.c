#include "test/lib/cr_test.h"

#include <string.h>

#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"

static void test_put_get_range_del(void **state)
{
    as_cache *c = as_cache_new();
    size_t first, n;

    as_cache_put_raw(c, "/c/requests/b", "{\"id\":\"b\"}", 10, 3, 3);
    as_cache_put_raw(c, "/c/requests/a", "{\"id\":\"a\"}", 10, 2, 2);
    as_cache_put_raw(c, "/c/requests/ab", "not json", 8, 4, 4);
    as_cache_put_raw(c, "/c/tasks/a/t1", "{}", 2, 5, 5);
    assert_int_equal(as_cache_count(c), 4);
    assert_int_equal(as_cache_revision(c), 5);
    n = as_cache_range(c, "/c/requests/", &first);
    assert_int_equal(n, 3);
    assert_string_equal(as_cache_at(c, first)->key, "/c/requests/a");
    assert_string_equal(as_cache_at(c, first + 1)->key, "/c/requests/ab");
    assert_null(as_cache_at(c, first + 1)->value); /* not JSON: kept, valueless */
    assert_int_equal(as_cache_range(c, "/c/requests/a", &first), 2);
    assert_int_equal(as_cache_range(c, "/c/zzz/", &first), 0);
    /* Replace keeps create_revision given and moves mod. */
    as_cache_put_raw(c, "/c/requests/a", "{\"id\":\"a2\"}", 11, 2, 7);
    assert_int_equal(as_cache_get(c, "/c/requests/a")->mod_revision, 7);
    assert_string_equal(
        json_string_value(json_object_get(as_cache_value(c, "/c/requests/a"), "id")), "a2");
    as_cache_del(c, "/c/requests/a", 8);
    as_cache_del(c, "/c/requests/none", 9);
    assert_null(as_cache_get(c, "/c/requests/a"));
    assert_int_equal(as_cache_revision(c), 9);
    as_cache_set_revision(c, 3); /* never goes back */
    assert_int_equal(as_cache_revision(c), 9);
    assert_false(as_cache_synced(c));
    as_cache_set_synced(c, true);
    assert_true(as_cache_synced(c));
    as_cache_clear(c);
    assert_int_equal(as_cache_count(c), 0);
    as_cache_free(c);
    as_cache_free(NULL);
}

static void test_apply_txn(void **state)
{
    as_cache *c = as_cache_new();
    as_txn t = {0};
    json_t *v = json_pack("{s:i}", "x", 1);

    as_cache_put_raw(c, "/p/i/r/a", "{}", 2, 1, 1);
    as_cache_put_raw(c, "/p/i/r/b", "{}", 2, 2, 2);
    as_cache_put_raw(c, "/p/k", "{}", 2, 3, 3);
    as_txn_cmp(&t, "/p/k", 3);
    as_txn_cmp(&t, "/p/new", 0);
    as_txn_put(&t, "/p/new", v);
    as_txn_del_prefix(&t, "/p/i/r/");
    as_txn_del(&t, "/p/k");
    assert_true(as_txn_compares_hold(c, &t));
    as_cache_apply_txn(c, &t, 10);
    assert_false(as_txn_compares_hold(c, &t));
    assert_int_equal(as_cache_count(c), 1);
    assert_int_equal(as_cache_get(c, "/p/new")->create_revision, 10);
    assert_string_equal(t.put[0].value, "{\"x\":1}");
    as_txn_release(&t);
    json_decref(v);
    as_cache_free(c);
}

static void test_query_parse(void **state)
{
    as_query_kv *q;
    size_t n;

    assert_int_equal(as_query_parse("a=1&b=x%20y+z&flag&&c=", &q, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(q[1].value, "x y z");
    assert_string_equal(q[2].name, "flag");
    assert_string_equal(q[2].value, "");
    assert_string_equal(q[3].value, "");
    as_query_free(q, n);
    assert_int_equal(as_query_parse("a=%zz", &q, &n), -1);
    assert_int_equal(as_query_parse(NULL, &q, &n), 0);
    assert_int_equal(n, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_get_range_del),
    cmocka_unit_test(test_apply_txn),
    cmocka_unit_test(test_query_parse),
};
CR_TEST_MAIN(tests)
