/* store observability: how etcd gateway paths map to the timed kinds. The
 * timing itself is exercised end to end by e2e/test_metrics.py. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "store/store.h"

static void test_op_of_path(void **state)
{
    assert_int_equal(store_call_of_path("/v3/kv/range"), STORE_CALL_RANGE);
    assert_int_equal(store_call_of_path("/v3/kv/put"), STORE_CALL_PUT);
    assert_int_equal(store_call_of_path("/v3/kv/deleterange"), STORE_CALL_DELETE);
    assert_int_equal(store_call_of_path("/v3/kv/txn"), STORE_CALL_TXN);
    assert_int_equal(store_call_of_path("/v3/lease/keepalive"), STORE_CALL_LEASE);
    assert_int_equal(store_call_of_path("/v3/kv/compaction"), STORE_CALL_OTHER);
    assert_int_equal(store_call_of_path("/v3/maintenance/status"), STORE_CALL_OTHER);
    assert_int_equal(store_call_of_path(NULL), STORE_CALL_OTHER);
}

static void test_op_names_are_distinct(void **state)
{
    for (int i = 0; i < STORE_CALL_N; i++)
        for (int j = i + 1; j < STORE_CALL_N; j++)
            assert_string_not_equal(store_call_name(i), store_call_name(j));
    assert_string_equal(store_call_name(STORE_CALL_TXN), "txn");
    assert_string_equal(store_call_name(STORE_CALL_N), "other");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_op_of_path),
    cmocka_unit_test(test_op_names_are_distinct),
};

CR_TEST_MAIN(tests)
