#include "test/lib/cr_test.h"

#include <string.h>

#include "nodeagent/na_oom.h"

#define MIB (1024 * 1024)

/* Default policy: 95% for 5 s, or over 100% at once. */
static void test_decide(void **state)
{
    int64_t since = 0, lim = 1024 * (int64_t)MIB;

    assert_int_equal(na_oom_decide(900 * (int64_t)MIB, lim, 95, 5000, 1000, &since), NA_OOM_OK);
    assert_int_equal(since, 0);
    /* above 95%: watched from now on */
    assert_int_equal(na_oom_decide(1000 * (int64_t)MIB, lim, 95, 5000, 1000, &since), NA_OOM_WATCH);
    assert_int_equal(since, 1000);
    assert_int_equal(na_oom_decide(1000 * (int64_t)MIB, lim, 95, 5000, 5999, &since), NA_OOM_WATCH);
    /* a dip below restarts the window */
    assert_int_equal(na_oom_decide(500 * (int64_t)MIB, lim, 95, 5000, 6000, &since), NA_OOM_OK);
    assert_int_equal(since, 0);
    assert_int_equal(na_oom_decide(980 * (int64_t)MIB, lim, 95, 5000, 7000, &since), NA_OOM_WATCH);
    assert_int_equal(na_oom_decide(980 * (int64_t)MIB, lim, 95, 5000, 12000, &since), NA_OOM_KILL);
    /* over 100%: at once */
    since = 0;
    assert_int_equal(na_oom_decide(lim + 1, lim, 95, 5000, 1, &since), NA_OOM_KILL);
    /* exactly at the threshold counts; no limit, no verdict */
    since = 0;
    assert_int_equal(na_oom_decide(950, 1000, 95, 0, 1, &since), NA_OOM_KILL);
    assert_int_equal(na_oom_decide(lim * 5, 0, 95, 0, 1, &since), NA_OOM_OK);
}

static void test_reason(void **state)
{
    char out[200];

    na_oom_reason(1100 * (int64_t)MIB, 1024 * (int64_t)MIB, 95, 5000, out, sizeof(out));
    assert_string_equal(out, "killed by the node agent: memory 1100 MiB over the 1024 MiB limit");
    na_oom_reason(1000 * (int64_t)MIB, 1024 * (int64_t)MIB, 95, 5000, out, sizeof(out));
    assert_string_equal(out, "killed by the node agent: memory 1000 MiB above 95% of the "
                             "1024 MiB limit for 5 s");
}

static void test_cgroup_path(void **state)
{
    char *p = na_cgroup_v2_path("12:memory:/x\n0::/system.slice/mesos/abc\n");
    assert_string_equal(p, "/system.slice/mesos/abc");
    free(p);
    assert_null(na_cgroup_v2_path("4:memory:/mesos/abc\n"));
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decide),
    cmocka_unit_test(test_reason),
    cmocka_unit_test(test_cgroup_path),
};
CR_TEST_MAIN(tests)
