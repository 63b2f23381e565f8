/* cr_hist: bucket placement, cumulative exposition text, merge. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "base/buf.h"
#include "base/cr_hist.h"

static void test_observe_places_in_first_bound_at_or_above(void **state)
{
    cr_hist h = {0};

    cr_hist_observe(&h, 0.0005); /* equal to the first bound: le */
    cr_hist_observe(&h, 0.003);  /* 0.005 bucket */
    cr_hist_observe(&h, 10);     /* last finite bucket */
    cr_hist_observe(&h, 99);     /* +Inf */
    cr_hist_observe(&h, -1);     /* counts as 0 */
    assert_int_equal(h.count, 5);
    assert_int_equal(h.bucket[0], 2);
    assert_int_equal(h.bucket[3], 1);
    assert_int_equal(h.bucket[CR_HIST_NBOUNDS - 1], 1);
    assert_int_equal(h.bucket[CR_HIST_NBOUNDS], 1);
    assert_true(h.sum > 109.0034 && h.sum < 109.0036);
    assert_true(cr_hist_bound(CR_HIST_NBOUNDS - 1) == 10);
}

static void test_write_is_cumulative_with_labels(void **state)
{
    cr_hist h = {0};
    cr_buf b = CR_BUF_INIT;

    cr_hist_observe(&h, 0.002);
    cr_hist_observe(&h, 0.2);
    cr_hist_observe(&h, 30);
    cr_hist_write_header(&b, "x_seconds", "Test.");
    cr_hist_write(&b, "x_seconds", "call=\"KILL\"", &h);
    const char *s = cr_buf_str(&b);
    assert_non_null(strstr(s, "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n"));
    assert_non_null(strstr(s, "x_seconds_bucket{call=\"KILL\",le=\"0.001\"} 0\n"));
    assert_non_null(strstr(s, "x_seconds_bucket{call=\"KILL\",le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(s, "x_seconds_bucket{call=\"KILL\",le=\"0.25\"} 2\n"));
    assert_non_null(strstr(s, "x_seconds_bucket{call=\"KILL\",le=\"10\"} 2\n"));
    assert_non_null(strstr(s, "x_seconds_bucket{call=\"KILL\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "x_seconds_sum{call=\"KILL\"} 30.202000\n"));
    assert_non_null(strstr(s, "x_seconds_count{call=\"KILL\"} 3\n"));
    cr_buf_release(&b);
}

static void test_write_without_labels_and_empty(void **state)
{
    cr_hist h = {0};
    cr_buf b = CR_BUF_INIT;

    cr_hist_write(&b, "y", NULL, &h);
    const char *s = cr_buf_str(&b);
    assert_non_null(strstr(s, "y_bucket{le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(s, "y_bucket{le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(s, "y_sum 0.000000\ny_count 0\n"));
    cr_buf_release(&b);
}

static void test_merge_adds(void **state)
{
    cr_hist a = {0}, b = {0};

    cr_hist_observe(&a, 0.01);
    cr_hist_observe(&b, 0.01);
    cr_hist_observe(&b, 3);
    cr_hist_merge(&a, &b);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.bucket[4], 2);
    assert_int_equal(a.bucket[12], 1);
    assert_true(a.sum > 3.019 && a.sum < 3.021);
}

static void test_mono_us_does_not_go_back(void **state)
{
    int64_t a = cr_mono_us(), b = cr_mono_us();
    assert_true(a > 0);
    assert_true(b >= a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_observe_places_in_first_bound_at_or_above),
    cmocka_unit_test(test_write_is_cumulative_with_labels),
    cmocka_unit_test(test_write_without_labels_and_empty),
    cmocka_unit_test(test_merge_adds),
    cmocka_unit_test(test_mono_us_does_not_go_back),
};

CR_TEST_MAIN(tests)
