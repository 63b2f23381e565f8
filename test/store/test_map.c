/* store_map against a naive model, including deletions that shift probes. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "store/map.h"

static void test_put_get_del_against_model(void **state)
{
    store_map *m = store_map_new();
    static char present[5000];
    char key[32];
    unsigned seed = 12345;

    for (int step = 0; step < 50000; step++) {
        int k;

        seed = seed * 1103515245 + 12345;
        k = (int)((seed >> 8) % 5000);
        snprintf(key, sizeof(key), "key-%d", k);
        if ((seed >> 4) % 3 == 0) {
            void *v = store_map_del(m, key);
            assert_int_equal(v != NULL, present[k]);
            if (v)
                assert_int_equal((intptr_t)v, k + 1);
            present[k] = 0;
        } else {
            void *prev = store_map_put(m, key, (void *)(intptr_t)(k + 1));
            assert_int_equal(prev != NULL, present[k]);
            present[k] = 1;
        }
    }
    {
        size_t n = 0;
        for (int k = 0; k < 5000; k++) {
            snprintf(key, sizeof(key), "key-%d", k);
            assert_int_equal(store_map_has(m, key), present[k]);
            if (present[k]) {
                assert_int_equal((intptr_t)store_map_get(m, key), k + 1);
                n++;
            }
        }
        assert_int_equal(store_map_len(m), n);
    }
    store_map_free(m);
}

static void test_sorted_keys(void **state)
{
    store_map *m = store_map_new();
    size_t n;
    const char **keys;

    store_map_put(m, "b", (void *)1);
    store_map_put(m, "a", (void *)1);
    store_map_put(m, "c", (void *)1);
    keys = store_map_keys(m, &n);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "a");
    assert_string_equal(keys[2], "c");
    assert_null(keys[3]);
    free(keys);
    assert_null(store_map_get(m, "zz"));
    assert_null(store_map_del(m, "zz"));
    store_map_free(m);
    store_map_free(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_get_del_against_model),
    cmocka_unit_test(test_sorted_keys),
};

CR_TEST_MAIN(tests)
