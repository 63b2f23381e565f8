/* cr_looplag on a real event loop: a callback that blocks shows up as lag
 * and a stall; an idle loop shows neither. Every loop run is bounded by
 * event_base_loopexit(); the only sleep is the deliberate block. */
#include "test/lib/cr_test.h"

#include <errno.h>
#include <time.h>

#include <event2/event.h>

#include "base/cr_hist.h"
#include "base/looplag.h"

/* Runs base until ms have passed. */
static void run_for(struct event_base *base, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    assert_int_equal(event_base_loopexit(base, &tv), 0);
    assert_true(event_base_dispatch(base) >= 0);
}

/* Observations above x seconds (x must be one of the bounds). */
static uint64_t count_above(const cr_hist *h, double x)
{
    uint64_t n = 0;

    for (int i = 1; i <= CR_HIST_NBOUNDS; i++)
        if (cr_hist_bound(i - 1) >= x)
            n += h->bucket[i];
    return n;
}

/* Observations at or below x seconds (x must be one of the bounds). */
static uint64_t count_at_most(const cr_hist *h, double x)
{
    uint64_t n = 0;

    for (int i = 0; i < CR_HIST_NBOUNDS && cr_hist_bound(i) <= x; i++)
        n += h->bucket[i];
    return n;
}

/* Blocks the loop for 120 ms, as a misbehaving callback would. */
static void block_cb(evutil_socket_t fd, short what, void *arg)
{
    int64_t end = cr_mono_us() + 120 * 1000;
    int64_t left;

    while ((left = end - cr_mono_us()) > 0) {
        struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
        if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
            fail_msg("nanosleep: errno %d", errno);
    }
    (*(int *)arg)++;
}

/* Computes for 120 ms of the thread's CPU time, as a callback that works
 * too long at once would (counted in CPU time so that a busy machine
 * cannot make it shorter). */
static volatile unsigned spin_sink; /* work the compiler cannot drop */

static void spin_cb(evutil_socket_t fd, short what, void *arg)
{
    struct timespec ts;
    int64_t cpu;

    do {
        for (int i = 0; i < 10000; i++)
            spin_sink += (unsigned)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        cpu = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    } while (cpu < *(int64_t *)arg);
}

/* Nothing of ours may be left on the loop once freed. */
static void assert_loop_clean(struct event_base *base)
{
    assert_int_equal(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1); /* 1: no events */
}

static void test_blocking_callback_is_lag_and_stall(void **state)
{
    struct event_base *base = event_base_new();
    cr_looplag *l = cr_looplag_new(base, 5);
    struct timeval now = {0, 0};
    int blocked = 0;
    cr_hist h;
    double max_s = -1;
    uint64_t stalls = 99;

    cr_looplag_get(l, &h, &max_s, &stalls);
    assert_int_equal(h.count, 0);
    assert_true(max_s == 0);
    assert_int_equal(stalls, 0);

    assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, block_cb, &blocked, &now), 0);
    run_for(base, 300);
    assert_int_equal(blocked, 1);

    cr_looplag_get(l, &h, &max_s, &stalls);
    assert_true(h.count >= 2); /* the late tick and normal ones after it */
    assert_true(count_above(&h, 0.1) >= 1);
    assert_true(h.sum >= 0.1);
    assert_true(max_s >= 0.1);
    assert_true(max_s < 10);
    assert_true(stalls >= 1);
    /* it slept: the thread was off a CPU, so little of the lag was busy */
    assert_true(cr_looplag_busy_max(l) < 0.05);

    cr_looplag_free(l);
    assert_loop_clean(base);
    event_base_free(base);
}

static void test_computing_callback_is_busy_lag(void **state)
{
    struct event_base *base = event_base_new();
    cr_looplag *l = cr_looplag_new(base, 5);
    struct timeval now = {0, 0};
    struct timespec ts;
    int64_t until;
    double max_s = 0;

    assert_true(cr_looplag_busy_max(l) == 0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    until = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 120 * 1000;
    assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, spin_cb, &until, &now), 0);
    run_for(base, 300);

    cr_looplag_get(l, NULL, &max_s, NULL);
    /* 120 ms computed within one 5 ms interval: >= 115 ms of it busy */
    assert_true(cr_looplag_busy_max(l) >= 0.1);
    assert_true(cr_looplag_busy_max(l) <= max_s);

    cr_looplag_free(l);
    assert_loop_clean(base);
    event_base_free(base);
}

static void test_idle_loop_has_little_lag(void **state)
{
    struct event_base *base = event_base_new();
    cr_looplag *l = cr_looplag_new(base, 10);
    cr_hist h;
    double max_s = -1;
    uint64_t stalls = 99;

    run_for(base, 300);
    cr_looplag_get(l, &h, &max_s, &stalls);
    assert_true(h.count >= 5); /* about 30 expected; slack for valgrind */
    /* Timer jitter is a few ms; allow for a busy machine but nothing near a
     * 100 ms block, and most ticks well under 10 ms. */
    assert_true(max_s < 0.1);
    assert_int_equal(count_above(&h, 0.1), 0);
    assert_true(count_at_most(&h, 0.01) * 2 >= h.count);
    assert_true(stalls <= 1);

    cr_looplag_free(l);
    assert_loop_clean(base);
    event_base_free(base);
}

static void test_defaults_and_null(void **state)
{
    struct event_base *base = event_base_new();
    cr_looplag *l = cr_looplag_new(base, 0); /* default interval: 50 ms */
    cr_hist h;

    cr_looplag_free(NULL);
    cr_looplag_get(l, NULL, NULL, NULL);
    run_for(base, 130);
    cr_looplag_get(l, &h, NULL, NULL);
    assert_true(h.count >= 1 && h.count <= 3); /* at 50, 100 ms */
    cr_looplag_free(l);
    assert_loop_clean(base);
    event_base_free(base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_blocking_callback_is_lag_and_stall),
    cmocka_unit_test(test_computing_callback_is_busy_lag),
    cmocka_unit_test(test_idle_loop_has_little_lag),
    cmocka_unit_test(test_defaults_and_null),
};

CR_TEST_MAIN(tests)
