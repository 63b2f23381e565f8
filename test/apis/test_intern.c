/* Unit tests of apis/intern.c: one shared copy per string, lookups that
 * add nothing, the length limit and the table's cap. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "apis/intern.h"
#include "test/lib/cr_test.h"

static void test_one_copy(void **state)
{
    char a[] = "agent-S1", b[] = "agent-S1";
    const char *x, *y;

    assert_null(api_intern_find("never-added"));
    x = api_intern(a);
    y = api_intern(b);
    assert_non_null(x);
    assert_ptr_equal(x, y);
    assert_ptr_not_equal(x, a); /* the table's own copy */
    assert_string_equal(x, "agent-S1");
    assert_ptr_equal(api_intern_find("agent-S1"), x);
    assert_null(api_intern_find("agent-S2"));
    assert_null(api_intern(NULL));
    assert_null(api_intern_find(NULL));
}

/* Threads interning the same strings at once get the same copies, each
 * thread's remembered ones included. */
static void *intern_many(void *arg)
{
    const char **out = arg;
    char s[32];

    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 2000; i++) {
            snprintf(s, sizeof(s), "thread-%d", i);
            out[i] = api_intern(s);
        }
    return NULL;
}

static void test_threads(void **state)
{
    static const char *a[2000], *b[2000];
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, intern_many, a), 0);
    intern_many(b);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (int i = 0; i < 2000; i++) {
        assert_non_null(a[i]);
        assert_ptr_equal(a[i], b[i]);
        assert_ptr_equal(api_intern_find(a[i]), a[i]);
    }
}

static void test_too_long(void **state)
{
    char s[API_INTERN_MAX_LEN + 2];

    memset(s, 'x', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    assert_null(api_intern(s)); /* one byte over */
    s[API_INTERN_MAX_LEN] = '\0';
    assert_non_null(api_intern(s)); /* at the limit */
}

/* Past the cap the table says no to new strings and still finds the old
 * ones (the table grows and rehashes on the way). */
static void test_cap(void **state)
{
    char s[32];
    const char *first = api_intern("cap-first");
    size_t n = api_intern_count();

    for (size_t i = 0; n < API_INTERN_MAX; i++, n++) {
        snprintf(s, sizeof(s), "cap-%zu", i);
        assert_non_null(api_intern(s));
    }
    assert_int_equal(api_intern_count(), API_INTERN_MAX);
    assert_null(api_intern("cap-one-more"));
    assert_int_equal(api_intern_count(), API_INTERN_MAX);
    assert_ptr_equal(api_intern("cap-first"), first);
    assert_ptr_equal(api_intern_find("cap-0"), api_intern("cap-0"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_one_copy),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_too_long),
    cmocka_unit_test(test_cap),
};

CR_TEST_MAIN(tests)
