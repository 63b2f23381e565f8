#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "mesoslite/ml_map.h"

static void test_put_get_del(void **state)
{
    ml_map *m = ml_map_new();
    int a = 1, b = 2;

    assert_null(ml_map_get(m, "x"));
    assert_null(ml_map_put(m, "x", &a));
    assert_ptr_equal(ml_map_get(m, "x"), &a);
    assert_ptr_equal(ml_map_put(m, "x", &b), &a);
    assert_ptr_equal(ml_map_get(m, "x"), &b);
    assert_int_equal(ml_map_size(m), 1);
    assert_ptr_equal(ml_map_del(m, "x"), &b);
    assert_null(ml_map_del(m, "x"));
    assert_int_equal(ml_map_size(m), 0);
    ml_map_free(m);
    ml_map_free(NULL);
}

static void test_many_keys_and_iteration_with_delete(void **state)
{
    ml_map *m = ml_map_new();
    char key[32];
    ml_map_iter it;
    const char *k;
    void *v;
    size_t seen = 0;
    static int vals[20000];

    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "task-%d", i);
        vals[i] = i;
        ml_map_put(m, key, &vals[i]);
    }
    assert_int_equal(ml_map_size(m), 20000);
    for (int i = 0; i < 20000; i += 777) {
        snprintf(key, sizeof(key), "task-%d", i);
        assert_int_equal(*(int *)ml_map_get(m, key), i);
    }
    /* Deleting the entry just returned is allowed. */
    ml_map_iter_init(&it, m);
    while (ml_map_next(&it, &k, &v)) {
        seen++;
        if (*(int *)v % 2)
            ml_map_del(m, k);
    }
    assert_int_equal(seen, 20000);
    assert_int_equal(ml_map_size(m), 10000);
    assert_null(ml_map_get(m, "task-1"));
    assert_non_null(ml_map_get(m, "task-2"));
    ml_map_free(m);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_get_del),
    cmocka_unit_test(test_many_keys_and_iteration_with_delete),
};
CR_TEST_MAIN(tests)
