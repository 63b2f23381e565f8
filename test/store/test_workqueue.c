/* store_wq on a real event loop: dedupe, no concurrent processing of a key,
 * dirty re-queue, backoff, delays, resync, pause. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <event2/event.h>

#include "base/xalloc.h"
#include "store/workqueue.h"
#include "test/store/testutil.h"

typedef struct fx {
    struct event_base *base;
    store_wq *wq;
    char *seen[64];
    int nseen;
    int inflight_max;
    int inflight;
    bool hold; /* keep keys in processing (async) */
    char *held[16];
    int nheld;
    int resyncs;
    bool requeue_once;
    int64_t busy_us; /* each pass holds the loop this long */
} fx;

static void process(void *arg, store_wq *wq, const char *key)
{
    fx *f = arg;

    if (f->nseen < 64)
        f->seen[f->nseen++] = xstrdup(key);
    f->inflight++;
    if (f->inflight > f->inflight_max)
        f->inflight_max = f->inflight;
    if (f->hold) {
        f->held[f->nheld++] = xstrdup(key);
        return;
    }
    for (int64_t until = cr_mono_us() + f->busy_us; cr_mono_us() < until;)
        ;
    f->inflight--;
    store_wq_done(wq, key);
}

static void resync(void *arg, store_wq *wq)
{
    fx *f = arg;

    f->resyncs++;
    store_wq_add(wq, "resynced");
}

static fx *fx_new(const store_wq_config *cfg)
{
    fx *f = xcalloc(1, sizeof(*f));

    f->base = event_base_new();
    f->wq = store_wq_new(f->base, cfg, process, resync, f);
    return f;
}

static void fx_free(fx *f)
{
    store_wq_free(f->wq);
    event_base_free(f->base);
    for (int i = 0; i < f->nseen; i++)
        free(f->seen[i]);
    for (int i = 0; i < f->nheld; i++)
        free(f->held[i]);
    free(f);
}

static void release_held(fx *f)
{
    for (int i = 0; i < f->nheld; i++) {
        f->inflight--;
        store_wq_done(f->wq, f->held[i]);
        free(f->held[i]);
    }
    f->nheld = 0;
}

static void test_dedupe_and_fifo(void **state)
{
    fx *f = fx_new(NULL);

    store_wq_add(f->wq, "a");
    store_wq_add(f->wq, "b");
    store_wq_add(f->wq, "a");
    assert_int_equal(store_wq_len(f->wq), 2);
    assert_true(run_until_flag(f->base, &f->nseen, 2, 5000));
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->nseen, 2);
    assert_string_equal(f->seen[0], "a");
    assert_string_equal(f->seen[1], "b");
    fx_free(f);
}

static void test_key_in_processing_is_not_handed_out_again(void **state)
{
    store_wq_config cfg = {.max_inflight = 4};
    fx *f = fx_new(&cfg);

    f->hold = true;
    store_wq_add(f->wq, "a");
    assert_true(run_until_flag(f->base, &f->nseen, 1, 5000));
    /* adds while processing: remembered once, not handed out */
    store_wq_add(f->wq, "a");
    store_wq_add(f->wq, "a");
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->nseen, 1);
    assert_int_equal(store_wq_processing(f->wq), 1);
    assert_int_equal(store_wq_len(f->wq), 0);
    /* done: exactly one more pass */
    f->hold = false;
    release_held(f);
    assert_true(run_until_flag(f->base, &f->nseen, 2, 5000));
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->nseen, 2);
    assert_int_equal(f->inflight_max, 1);
    fx_free(f);
}

static void test_max_inflight(void **state)
{
    store_wq_config cfg = {.max_inflight = 2};
    fx *f = fx_new(&cfg);

    f->hold = true;
    store_wq_add(f->wq, "a");
    store_wq_add(f->wq, "b");
    store_wq_add(f->wq, "c");
    assert_true(run_until_flag(f->base, &f->nseen, 2, 5000));
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->nseen, 2);
    assert_int_equal(store_wq_len(f->wq), 1);
    f->hold = false;
    release_held(f);
    assert_true(run_until_flag(f->base, &f->nseen, 3, 5000));
    assert_string_equal(f->seen[2], "c");
    fx_free(f);
}

static void test_backoff_rule(void **state)
{
    assert_int_equal(store_wq_backoff_ms(0, 5, 1000), 5);
    assert_int_equal(store_wq_backoff_ms(1, 5, 1000), 10);
    assert_int_equal(store_wq_backoff_ms(3, 5, 1000), 40);
    assert_int_equal(store_wq_backoff_ms(8, 5, 1000), 1000);
    assert_int_equal(store_wq_backoff_ms(200, 5, 1000000), 1000000); /* no overflow */
    assert_int_equal(store_wq_backoff_ms(-1, 5, 1000), 5);
}

static void test_rate_limited_and_forget(void **state)
{
    store_wq_config cfg = {.base_delay_ms = 5, .max_delay_ms = 40};
    fx *f = fx_new(&cfg);

    store_wq_add_rate_limited(f->wq, "a");
    store_wq_add_rate_limited(f->wq, "a"); /* later due time: the earlier one stands */
    assert_int_equal(store_wq_failures(f->wq, "a"), 2);
    assert_int_equal(store_wq_delayed(f->wq), 1);
    assert_int_equal(store_wq_len(f->wq), 0);
    assert_true(run_until_flag(f->base, &f->nseen, 1, 5000));
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->nseen, 1);
    assert_int_equal(store_wq_delayed(f->wq), 0);
    store_wq_forget(f->wq, "a");
    assert_int_equal(store_wq_failures(f->wq, "a"), 0);
    fx_free(f);
}

static void test_add_after_orders_by_due_time(void **state)
{
    fx *f = fx_new(NULL);

    store_wq_add_after(f->wq, "late", 60);
    store_wq_add_after(f->wq, "early", 10);
    store_wq_add_after(f->wq, "now", 0);
    assert_true(run_until_flag(f->base, &f->nseen, 3, 5000));
    assert_string_equal(f->seen[0], "now");
    assert_string_equal(f->seen[1], "early");
    assert_string_equal(f->seen[2], "late");
    fx_free(f);
}

static void test_resync_and_pause(void **state)
{
    store_wq_config cfg = {.resync_ms = 20};
    fx *f = fx_new(&cfg);

    assert_true(run_until_flag(f->base, &f->resyncs, 1, 5000));
    assert_true(run_until_flag(f->base, &f->nseen, 1, 5000));
    assert_string_equal(f->seen[0], "resynced");

    store_wq_pause(f->wq, true);
    store_wq_add(f->wq, "x");
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    int seen = f->nseen;
    assert_int_equal(store_wq_len(f->wq), 1);
    store_wq_pause(f->wq, false);
    assert_true(run_until_flag(f->base, &f->nseen, seen + 1, 5000));
    assert_string_equal(f->seen[seen], "x");
    fx_free(f);
}

static void test_free_with_pending_work(void **state)
{
    fx *f = fx_new(NULL);

    f->hold = true;
    store_wq_add(f->wq, "a");
    store_wq_add(f->wq, "b");
    store_wq_add_after(f->wq, "c", 100000);
    assert_true(run_until_flag(f->base, &f->nseen, 1, 5000));
    fx_free(f); /* no leaks, no callbacks */
}

static void test_stats_count_depth_processing_and_latency(void **state)
{
    fx *f = fx_new(NULL);
    store_wq_stats st;

    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.adds, 0);
    assert_int_equal(st.latency.count, 0);

    f->hold = true;
    store_wq_add(f->wq, "a");
    store_wq_add(f->wq, "a"); /* deduplicated: not counted */
    store_wq_add(f->wq, "b");
    store_wq_add_after(f->wq, "c", 100000);
    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.depth, 2);
    assert_int_equal(st.processing, 0);
    assert_int_equal(st.delayed, 1);
    assert_int_equal(st.adds, 2);

    assert_true(run_until_flag(f->base, &f->nseen, 1, 5000)); /* max_inflight 1 */
    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.depth, 1);
    assert_int_equal(st.processing, 1);
    assert_int_equal(st.done, 0);

    store_wq_add(f->wq, "a"); /* dirty while processing: one more pass */
    release_held(f);
    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.adds, 3);
    assert_int_equal(st.done, 1);
    assert_int_equal(st.latency.count, 1);
    assert_int_equal(st.depth, 2); /* b, then a again */
    assert_true(st.latency.sum >= 0);

    f->hold = false;
    assert_true(run_until_flag(f->base, &f->nseen, 3, 5000));
    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.processing, 0);
    assert_int_equal(st.done, 3);
    assert_int_equal(st.latency.count, 3);
    store_wq_done(f->wq, "never-handed-out"); /* ignored, not counted */
    store_wq_get_stats(f->wq, &st);
    assert_int_equal(st.done, 3);
    fx_free(f);
}

/* Quick passes that finish at once do not run as one long callback: the
 * queue hands out keys for about a turn budget, then lets the loop poll. */
static void test_long_queue_yields_to_the_loop(void **state)
{
    store_wq_config cfg = {.max_inflight = 4};
    fx *f = fx_new(&cfg);
    char key[16];
    store_wq_stats st;

    f->busy_us = 1000; /* 60 passes of 1 ms: 12 budgets' worth */
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        store_wq_add(f->wq, key);
    }
    event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(f->nseen >= 1);
    assert_true(f->nseen < 60); /* cut short */
    store_wq_get_stats(f->wq, &st);
    assert_true(st.yields >= 1);
    assert_true(run_until_flag(f->base, &f->nseen, 60, 10000)); /* and it goes on */
    store_wq_get_stats(f->wq, &st);
    assert_true(st.yields >= 5);
    assert_int_equal(st.done, 60);
    fx_free(f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dedupe_and_fifo),
    cmocka_unit_test(test_key_in_processing_is_not_handed_out_again),
    cmocka_unit_test(test_max_inflight),
    cmocka_unit_test(test_backoff_rule),
    cmocka_unit_test(test_rate_limited_and_forget),
    cmocka_unit_test(test_add_after_orders_by_due_time),
    cmocka_unit_test(test_resync_and_pause),
    cmocka_unit_test(test_free_with_pending_work),
    cmocka_unit_test(test_stats_count_depth_processing_and_latency),
    cmocka_unit_test(test_long_queue_yields_to_the_loop),
};

CR_TEST_MAIN(tests)
