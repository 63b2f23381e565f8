/* cr_offload on a real event loop: the work runs on another thread while
 * the loop goes on, done follows on the loop with the work's result, and a
 * cancelled job's done never runs. The work waits on a pipe the test
 * writes to, so nothing is timed. */
#include "test/lib/cr_test.h"

#include <pthread.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/offload.h"

typedef struct job {
    int gate[2]; /* the work blocks until a byte comes */
    pthread_t loop_thread, work_thread;
    int result, dones;
    ssize_t got; /* the work's read (checked on the test's thread) */
    struct event_base *base;
} job;

static void work(void *arg)
{
    job *j = arg;
    char c;
    j->work_thread = pthread_self();
    j->got = read(j->gate[0], &c, 1);
    j->result = 42;
}

static void done(void *arg)
{
    job *j = arg;
    assert_true(pthread_equal(pthread_self(), j->loop_thread));
    assert_int_equal(j->got, 1);
    assert_int_equal(j->result, 42);
    j->dones++;
    event_base_loopbreak(j->base);
}

/* A timer on the loop opens the gate: the loop kept running while the
 * work waited. */
static void open_gate(evutil_socket_t fd, short what, void *arg)
{
    job *j = arg;
    assert_int_equal(j->dones, 0);
    assert_int_equal(write(j->gate[1], "x", 1), 1);
}

static void test_work_off_the_loop(void **state)
{
    job j = {.loop_thread = pthread_self()};
    struct timeval now = {0, 0}, bound = {20, 0};
    cr_err err;

    j.base = event_base_new();
    assert_int_equal(pipe(j.gate), 0);
    assert_non_null(cr_offload_start(j.base, work, done, &j, &err));
    struct event *t = evtimer_new(j.base, open_gate, &j);
    evtimer_add(t, &now);
    event_base_loopexit(j.base, &bound); /* a bound, never reached when it works */
    event_base_dispatch(j.base);
    assert_int_equal(j.dones, 1);
    assert_false(pthread_equal(j.work_thread, j.loop_thread));
    event_free(t);
    close(j.gate[0]);
    close(j.gate[1]);
    event_base_free(j.base);
}

static void test_cancel_waits_and_never_calls_done(void **state)
{
    job j = {.loop_thread = pthread_self()};
    cr_err err;

    j.base = event_base_new();
    assert_int_equal(pipe(j.gate), 0);
    cr_offload *o = cr_offload_start(j.base, work, done, &j, &err);
    assert_non_null(o);
    assert_int_equal(write(j.gate[1], "x", 1), 1);
    cr_offload_cancel(o); /* joins: the work has run */
    assert_int_equal(j.result, 42);
    event_base_loop(j.base, EVLOOP_NONBLOCK);
    assert_int_equal(j.dones, 0);
    cr_offload_cancel(NULL);
    close(j.gate[0]);
    close(j.gate[1]);
    event_base_free(j.base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_work_off_the_loop),
    cmocka_unit_test(test_cancel_waits_and_never_calls_done),
};

CR_TEST_MAIN(tests)
