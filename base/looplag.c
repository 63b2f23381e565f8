/* cr_looplag: see looplag.h. */
#include "base/looplag.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "base/xalloc.h"

struct cr_looplag {
    struct event_base *base; /* borrowed */
    struct event *timer;
    int64_t interval_us;
    int64_t due_us;    /* cr_mono_us() at which the armed timer is due */
    int64_t armed_cpu; /* thread_cpu_us() when it was armed */
    cr_hist hist;
    double max_s;
    double busy_max_s;
    uint64_t stalls;
};

/* The calling thread's CPU time, microseconds. */
static int64_t thread_cpu_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void arm(cr_looplag *l)
{
    struct timeval tv = {(time_t)(l->interval_us / 1000000),
                         (suseconds_t)(l->interval_us % 1000000)};

    /* Inside a callback libevent would count the interval from the time it
     * cached before running this round's callbacks, possibly long ago if one
     * of them blocked; refresh it so its deadline matches due_us. */
    event_base_update_cache_time(l->base);
    l->due_us = cr_mono_us() + l->interval_us;
    l->armed_cpu = thread_cpu_us();
    evtimer_add(l->timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    cr_looplag *l = arg;
    int64_t now = cr_mono_us();
    double late = (double)(now - l->due_us) / 1e6;
    /* the loop's CPU time since arming bounds what callbacks computed in
     * the lateness (an idle wait before it is not lateness) */
    double cpu = (double)(thread_cpu_us() - l->armed_cpu) / 1e6;
    double busy;

    if (late < 0) /* libevent's coarse clock may fire a hair early */
        late = 0;
    busy = cpu < late ? cpu : late;
    if (busy > l->busy_max_s)
        l->busy_max_s = busy;
    cr_hist_observe(&l->hist, late);
    if (late > l->max_s)
        l->max_s = late;
    if (late > CR_LOOPLAG_STALL_S)
        l->stalls++;
    arm(l);
}

cr_looplag *cr_looplag_new(struct event_base *base, long interval_ms)
{
    cr_looplag *l = xcalloc(1, sizeof(*l));

    l->base = base;
    l->interval_us =
        (int64_t)(interval_ms > 0 ? interval_ms : CR_LOOPLAG_DEFAULT_INTERVAL_MS) * 1000;
    l->timer = evtimer_new(base, on_tick, l);
    if (!l->timer)
        abort(); /* only on out of memory */
    arm(l);
    return l;
}

void cr_looplag_free(cr_looplag *l)
{
    if (!l)
        return;
    event_free(l->timer);
    free(l);
}

double cr_looplag_busy_max(const cr_looplag *l)
{
    return l->busy_max_s;
}

void cr_looplag_get(const cr_looplag *l, cr_hist *out, double *max_s, uint64_t *stalls)
{
    if (out)
        *out = l->hist;
    if (max_s)
        *max_s = l->max_s;
    if (stalls)
        *stalls = l->stalls;
}
