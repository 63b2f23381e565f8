/* cr_looplag: see looplag.h. */
#include "base/looplag.h"

#include <event2/event.h>
#include <stdlib.h>

#include "base/xalloc.h"

struct cr_looplag {
    struct event_base *base; /* borrowed */
    struct event *timer;
    int64_t interval_us;
    int64_t due_us; /* cr_mono_us() at which the armed timer is due */
    cr_hist hist;
    double max_s;
    uint64_t stalls;
};

static void arm(cr_looplag *l)
{
    struct timeval tv = {(time_t)(l->interval_us / 1000000),
                         (suseconds_t)(l->interval_us % 1000000)};

    /* Inside a callback libevent would count the interval from the time it
     * cached before running this round's callbacks, possibly long ago if one
     * of them blocked; refresh it so its deadline matches due_us. */
    event_base_update_cache_time(l->base);
    l->due_us = cr_mono_us() + l->interval_us;
    evtimer_add(l->timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    cr_looplag *l = arg;
    double late = (double)(cr_mono_us() - l->due_us) / 1e6;

    if (late < 0) /* libevent's coarse clock may fire a hair early */
        late = 0;
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

void cr_looplag_get(const cr_looplag *l, cr_hist *out, double *max_s, uint64_t *stalls)
{
    if (out)
        *out = l->hist;
    if (max_s)
        *max_s = l->max_s;
    if (stalls)
        *stalls = l->stalls;
}
