/* Unit tests of cli/bulk.c: which job of a pipelined apply waits for which,
 * the order jobs start in under a window of calls, and the batch read paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bulk.h"
#include "test/lib/cr_test.h"

#define R(id)                \
    {                        \
        CLI_BULK_REQUEST, id \
    }
#define D(id)               \
    {                       \
        CLI_BULK_DEPLOY, id \
    }
#define O                    \
    {                        \
        CLI_BULK_OTHER, NULL \
    }

static void test_deps_request_before_its_deploys(void **state)
{
    /* print order: requests a b, deploys a1 b1 a2 x1 x2 (x: not in the
     * manifest), then a source */
    const cli_bulk_obj v[] = {R("a"), R("b"), D("a"), D("b"), D("a"), D("x"), D("x"), O};
    const long want[] = {-1, -1, 0, 1, 2, -1, 5, -1};
    long dep[8];

    cli_bulk_deps(v, 8, dep);
    for (size_t i = 0; i < 8; i++)
        if (dep[i] != want[i])
            fail_msg("job %zu waits for %ld, want %ld", i, dep[i], want[i]);
}

static void test_deps_request_anywhere(void **state)
{
    /* A deploy listed before its request still waits for it. */
    const cli_bulk_obj v[] = {D("a"), R("b"), R("a")};
    long dep[3];

    cli_bulk_deps(v, 3, dep);
    assert_int_equal(dep[0], 2);
    assert_int_equal(dep[1], -1);
    assert_int_equal(dep[2], -1);
}

/* Runs a schedule with `window` jobs at a time, finishing the oldest
 * running job first; writes the start order to order. */
static void simulate(cli_sched *s, size_t n, size_t window, long *order)
{
    long running[16];
    size_t nrun = 0, nstart = 0;

    for (;;) {
        long k;
        while (nrun < window && (k = cli_sched_next(s)) >= 0) {
            running[nrun++] = k;
            order[nstart++] = k;
        }
        if (!nrun)
            break;
        cli_sched_done(s, (size_t)running[0]);
        memmove(running, running + 1, --nrun * sizeof(long));
    }
    assert_int_equal(nstart, n);
    assert_int_equal(cli_sched_ndone(s), n);
}

static cli_sched *sched_of(const cli_bulk_obj *v, size_t n)
{
    long dep[16];
    cli_sched *s = cli_sched_new(n);

    cli_bulk_deps(v, n, dep);
    for (size_t i = 0; i < n; i++)
        if (dep[i] >= 0)
            cli_sched_after(s, i, (size_t)dep[i]);
    return s;
}

static void test_window_one_is_input_order(void **state)
{
    const cli_bulk_obj v[] = {R("a"), R("b"), R("c"), D("a"), D("b"), D("a"), D("c"), O};
    long order[8];
    cli_sched *s = sched_of(v, 8);

    simulate(s, 8, 1, order);
    for (long i = 0; i < 8; i++)
        assert_int_equal(order[i], i);
    cli_sched_free(s);
}

static void test_window_keeps_dependencies(void **state)
{
    const cli_bulk_obj v[] = {R("a"), R("b"), R("c"), D("a"), D("b"), D("a"), D("c"), O};
    long order[8], dep[8], pos[8];
    cli_sched *s = sched_of(v, 8);

    simulate(s, 8, 4, order);
    /* The first window is the three requests and the source: the deploys
     * wait for their requests, the second deploy of a for the first. */
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    assert_int_equal(order[3], 7);
    cli_bulk_deps(v, 8, dep);
    for (size_t i = 0; i < 8; i++)
        pos[order[i]] = (long)i;
    for (size_t i = 0; i < 8; i++)
        if (dep[i] >= 0 && pos[dep[i]] > pos[i])
            fail_msg("job %zu started before job %ld it waits for", i, dep[i]);
    cli_sched_free(s);
}

static void test_sched_lowest_ready_first(void **state)
{
    cli_sched *s = cli_sched_new(5);

    cli_sched_after(s, 0, 3); /* 0 waits for 3 */
    cli_sched_after(s, 1, 3);
    cli_sched_after(s, 2, 2); /* ignored */
    assert_int_equal(cli_sched_next(s), 2);
    assert_int_equal(cli_sched_next(s), 3);
    assert_int_equal(cli_sched_next(s), 4);
    assert_int_equal(cli_sched_next(s), -1);
    cli_sched_done(s, 4);
    assert_int_equal(cli_sched_next(s), -1);
    cli_sched_done(s, 3);
    assert_int_equal(cli_sched_next(s), 0);
    assert_int_equal(cli_sched_next(s), 1);
    assert_int_equal(cli_sched_next(s), -1);
    cli_sched_done(s, 3); /* twice: no effect */
    cli_sched_done(s, 0);
    cli_sched_done(s, 1);
    cli_sched_done(s, 2);
    assert_int_equal(cli_sched_ndone(s), 5);
    cli_sched_free(s);
    cli_sched_free(NULL);

    s = cli_sched_new(0);
    assert_int_equal(cli_sched_next(s), -1);
    cli_sched_free(s);
}

static void test_sched_many(void **state)
{
    /* 2,000 requests with 2 deploys each, a window of 16: everything runs,
     * each deploy after its request and after the deploy before it. */
    enum { N = 2000 };
    cli_bulk_obj *v = calloc(3 * N, sizeof(*v));
    long *dep = calloc(3 * N, sizeof(long)), *pos = calloc(3 * N, sizeof(long));
    char(*ids)[16] = calloc(N, 16);
    cli_sched *s = cli_sched_new(3 * N);
    long running[16], k;
    size_t nrun = 0, nstart = 0, turn = 0;

    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], 16, "r%zu", i);
        v[i] = (cli_bulk_obj){CLI_BULK_REQUEST, ids[i]};
        v[N + 2 * i] = (cli_bulk_obj){CLI_BULK_DEPLOY, ids[i]};
        v[N + 2 * i + 1] = (cli_bulk_obj){CLI_BULK_DEPLOY, ids[i]};
    }
    cli_bulk_deps(v, 3 * N, dep);
    for (size_t i = 0; i < 3 * N; i++)
        if (dep[i] >= 0)
            cli_sched_after(s, i, (size_t)dep[i]);
    for (;;) {
        while (nrun < 16 && (k = cli_sched_next(s)) >= 0) {
            running[nrun++] = k;
            pos[k] = (long)nstart++;
        }
        if (!nrun)
            break;
        /* finish calls out of order */
        size_t pick = (turn++ * 7) % nrun;
        cli_sched_done(s, (size_t)running[pick]);
        running[pick] = running[--nrun];
    }
    assert_int_equal(nstart, 3 * N);
    for (size_t i = 0; i < 3 * N; i++)
        if (dep[i] >= 0 && pos[dep[i]] > pos[i])
            fail_msg("job %zu started before job %ld", i, dep[i]);
    cli_sched_free(s);
    free(v);
    free(dep);
    free(pos);
    free(ids);
}

static void test_batch_paths(void **state)
{
    api_strlist ids = {0}, out = {0};

    api_strlist_add(&ids, "web");
    api_strlist_add(&ids, "a b");
    api_strlist_add(&ids, "api");
    cli_bulk_batch_paths(&ids, 1000, &out);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "/api/requests/batch?id=web&id=a%20b&id=api");
    api_strlist_release(&out);

    /* "/api/requests/batch?id=web" is 26 bytes; the next id does not fit */
    cli_bulk_batch_paths(&ids, 30, &out);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.v[0], "/api/requests/batch?id=web");
    assert_string_equal(out.v[1], "/api/requests/batch?id=a%20b");
    assert_string_equal(out.v[2], "/api/requests/batch?id=api");
    api_strlist_release(&out);

    /* an id longer than the limit still gets its own path */
    cli_bulk_batch_paths(&ids, 5, &out);
    assert_int_equal(out.n, 3);
    api_strlist_release(&out);

    api_strlist_release(&ids);
    cli_bulk_batch_paths(&ids, 100, &out);
    assert_int_equal(out.n, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_deps_request_before_its_deploys),
    cmocka_unit_test(test_deps_request_anywhere),
    cmocka_unit_test(test_window_one_is_input_order),
    cmocka_unit_test(test_window_keeps_dependencies),
    cmocka_unit_test(test_sched_lowest_ready_first),
    cmocka_unit_test(test_sched_many),
    cmocka_unit_test(test_batch_paths),
};

CR_TEST_MAIN(tests)
