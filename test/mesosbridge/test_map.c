/* Unit tests of mesosbridge/map.c. */
#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/map.h"
#include "test/lib/cr_test.h"

static void test_put_get_del_grow(void **state)
{
    mb_map m = MB_MAP_INIT;
    char k[32];
    assert_null(mb_map_get(&m, "x"));
    assert_null(mb_map_del(&m, "x"));
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        assert_null(mb_map_put(&m, k, xstrdup(k)));
    }
    assert_int_equal(m.n, 1000);
    char *old = mb_map_put(&m, "key-7", xstrdup("seven"));
    assert_string_equal(old, "key-7");
    free(old);
    assert_string_equal(mb_map_get(&m, "key-7"), "seven");
    assert_int_equal(m.n, 1000);
    size_t seen = 0;
    for (mb_map_iter it = mb_map_first(&m); it.e; mb_map_next(&m, &it))
        seen++;
    assert_int_equal(seen, 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(k, sizeof(k), "key-%d", i);
        free(mb_map_del(&m, k));
    }
    assert_int_equal(m.n, 500);
    assert_null(mb_map_get(&m, "key-0"));
    assert_string_equal(mb_map_get(&m, "key-1"), "key-1");
    /* a hash taken once finds what the key finds */
    assert_string_equal(mb_map_get_h(&m, "key-1", mb_map_hash("key-1")), "key-1");
    assert_null(mb_map_get_h(&m, "key-0", mb_map_hash("key-0")));
    mb_map_release(&m, free);
    assert_null(mb_map_get_h(&m, "key-1", mb_map_hash("key-1")));
    assert_int_equal(m.n, 0);
    mb_map_iter it = mb_map_first(&m);
    assert_null(it.e);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_get_del_grow),
};

CR_TEST_MAIN(tests)
