/* store_wq: see workqueue.h. FIFO + dirty set + processing set, a min-heap
 * of delayed adds behind one timer, and a dispatch event so keys are handed
 * out from the loop, never recursively from add() or done(). */
#include "store/workqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/cr_hist.h"
#include "base/xalloc.h"
#include "store/map.h"

typedef struct delayed {
    int64_t due;
    uint64_t seq; /* ties keep insertion order */
    char *key;
} delayed;

struct store_wq {
    struct event_base *base;
    store_wq_config cfg;
    store_wq_process_fn process;
    store_wq_resync_fn resync;
    void *arg;
    char **fifo; /* ring buffer */
    size_t head, len, cap;
    store_map *dirty;      /* queued or re-added while processing */
    store_map *processing; /* handed out */
    store_map *failures;   /* key -> (intptr_t) count */
    store_map *waiting;    /* key -> (intptr_t) earliest due + 1 in the heap */
    delayed *heap;
    size_t nheap, capheap;
    uint64_t seq;
    struct event *dispatch_ev;
    struct event *delay_ev;
    struct event *resync_ev;
    bool paused;
    uint64_t adds, ndone, yields;
    cr_hist latency;
};

/* A key handed out, with when (for the latency histogram). */
typedef struct inflight {
    int64_t started_us;
    char key[];
} inflight;

int64_t store_wq_backoff_ms(int failures, int64_t base_ms, int64_t max_ms)
{
    int64_t d = base_ms;

    if (failures < 0)
        failures = 0;
    for (int i = 0; i < failures; i++) {
        if (d >= max_ms / 2) {
            d = max_ms;
            break;
        }
        d *= 2;
    }
    return d > max_ms ? max_ms : d;
}

static void kick(store_wq *wq)
{
    if (wq->len && !wq->paused && store_map_len(wq->processing) < (size_t)wq->cfg.max_inflight)
        event_active(wq->dispatch_ev, EV_TIMEOUT, 1);
}

static void fifo_push(store_wq *wq, const char *key)
{
    if (wq->len == wq->cap) {
        size_t ncap = wq->cap ? wq->cap * 2 : 16;
        char **n = xcalloc(ncap, sizeof(*n));
        for (size_t i = 0; i < wq->len; i++)
            n[i] = wq->fifo[(wq->head + i) % wq->cap];
        free(wq->fifo);
        wq->fifo = n;
        wq->cap = ncap;
        wq->head = 0;
    }
    wq->fifo[(wq->head + wq->len) % wq->cap] = xstrdup(key);
    wq->len++;
}

static char *fifo_pop(store_wq *wq)
{
    char *k = wq->fifo[wq->head];

    wq->head = (wq->head + 1) % wq->cap;
    wq->len--;
    return k;
}

void store_wq_add(store_wq *wq, const char *key)
{
    if (store_map_has(wq->dirty, key))
        return;
    store_map_put(wq->dirty, key, (void *)1);
    wq->adds++;
    if (store_map_has(wq->processing, key))
        return; /* done() re-queues it */
    fifo_push(wq, key);
    kick(wq);
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
    store_wq *wq = arg;
    int64_t deadline = cr_mono_us() + STORE_WQ_TURN_BUDGET_US;
    bool first = true;

    while (wq->len && !wq->paused && store_map_len(wq->processing) < (size_t)wq->cfg.max_inflight) {
        /* Passes that finish at once free their slot at once: without a
         * budget a long queue would run in one callback and hold the loop
         * (the lease keepalive, the API) for as long as it takes. */
        if (!first && cr_mono_us() > deadline) {
            struct timeval now = {0, 0};
            wq->yields++;
            event_add(wq->dispatch_ev, &now); /* after the loop has polled I/O */
            return;
        }
        first = false;
        char *key = fifo_pop(wq);
        size_t n = strlen(key) + 1;
        inflight *f = xmalloc(sizeof(*f) + n);

        f->started_us = cr_mono_us();
        memcpy(f->key, key, n);
        free(key);
        store_map_del(wq->dirty, f->key);
        store_map_put(wq->processing, f->key, f);
        /* f->key stays allocated until done() */
        wq->process(wq->arg, wq, f->key);
    }
}

void store_wq_done(store_wq *wq, const char *key)
{
    inflight *f = store_map_del(wq->processing, key);

    if (!f)
        return;
    wq->ndone++;
    cr_hist_observe(&wq->latency, (double)(cr_mono_us() - f->started_us) / 1e6);
    if (store_map_has(wq->dirty, f->key))
        fifo_push(wq, f->key);
    free(f);
    kick(wq);
}

/* --- delays ------------------------------------------------------------------ */

static bool heap_less(const delayed *a, const delayed *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(store_wq *wq, size_t i, size_t j)
{
    delayed t = wq->heap[i];

    wq->heap[i] = wq->heap[j];
    wq->heap[j] = t;
}

static void heap_push(store_wq *wq, int64_t due, const char *key)
{
    size_t i;

    if (wq->nheap == wq->capheap) {
        wq->capheap = wq->capheap ? wq->capheap * 2 : 16;
        wq->heap = xrealloc(wq->heap, wq->capheap * sizeof(*wq->heap));
    }
    i = wq->nheap++;
    wq->heap[i].due = due;
    wq->heap[i].seq = wq->seq++;
    wq->heap[i].key = xstrdup(key);
    while (i > 0 && heap_less(&wq->heap[i], &wq->heap[(i - 1) / 2])) {
        heap_swap(wq, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static delayed heap_pop(store_wq *wq)
{
    delayed top = wq->heap[0];
    size_t i = 0;

    wq->heap[0] = wq->heap[--wq->nheap];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < wq->nheap && heap_less(&wq->heap[l], &wq->heap[m]))
            m = l;
        if (r < wq->nheap && heap_less(&wq->heap[r], &wq->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(wq, i, m);
        i = m;
    }
    return top;
}

static void arm_delay(store_wq *wq)
{
    int64_t wait;
    struct timeval tv;

    if (!wq->nheap) {
        evtimer_del(wq->delay_ev);
        return;
    }
    wait = wq->heap[0].due - cr_mono_ms();
    if (wait < 0)
        wait = 0;
    tv.tv_sec = wait / 1000;
    tv.tv_usec = (wait % 1000) * 1000;
    evtimer_add(wq->delay_ev, &tv);
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    store_wq *wq = arg;
    int64_t now = cr_mono_ms();

    while (wq->nheap && wq->heap[0].due <= now) {
        delayed d = heap_pop(wq);
        intptr_t due1 = (intptr_t)store_map_get(wq->waiting, d.key);

        /* only the entry matching the earliest recorded due time counts */
        if (due1 && due1 - 1 == d.due) {
            store_map_del(wq->waiting, d.key);
            store_wq_add(wq, d.key);
        }
        free(d.key);
    }
    arm_delay(wq);
}

void store_wq_add_after(store_wq *wq, const char *key, int64_t delay_ms)
{
    int64_t due;
    intptr_t cur;

    if (delay_ms <= 0) {
        store_wq_add(wq, key);
        return;
    }
    due = cr_mono_ms() + delay_ms;
    cur = (intptr_t)store_map_get(wq->waiting, key);
    if (cur && cur - 1 <= due)
        return; /* already due earlier */
    store_map_put(wq->waiting, key, (void *)(intptr_t)(due + 1));
    heap_push(wq, due, key);
    arm_delay(wq);
}

void store_wq_add_rate_limited(store_wq *wq, const char *key)
{
    intptr_t n = (intptr_t)store_map_get(wq->failures, key);

    store_map_put(wq->failures, key, (void *)(n + 1));
    store_wq_add_after(wq, key,
                       store_wq_backoff_ms((int)n, wq->cfg.base_delay_ms, wq->cfg.max_delay_ms));
}

void store_wq_forget(store_wq *wq, const char *key)
{
    store_map_del(wq->failures, key);
}

int store_wq_failures(const store_wq *wq, const char *key)
{
    return (int)(intptr_t)store_map_get(wq->failures, key);
}

/* --- lifecycle ------------------------------------------------------------------ */

static void resync_cb(evutil_socket_t fd, short what, void *arg)
{
    store_wq *wq = arg;

    if (wq->resync && !wq->paused)
        wq->resync(wq->arg, wq);
}

store_wq *store_wq_new(struct event_base *base, const store_wq_config *cfg,
                       store_wq_process_fn process, store_wq_resync_fn resync, void *arg)
{
    store_wq *wq = xcalloc(1, sizeof(*wq));

    wq->base = base;
    if (cfg)
        wq->cfg = *cfg;
    if (wq->cfg.max_inflight <= 0)
        wq->cfg.max_inflight = 1;
    if (wq->cfg.base_delay_ms <= 0)
        wq->cfg.base_delay_ms = 5;
    if (wq->cfg.max_delay_ms <= 0)
        wq->cfg.max_delay_ms = 1000 * 1000;
    wq->process = process;
    wq->resync = resync;
    wq->arg = arg;
    wq->dirty = store_map_new();
    wq->processing = store_map_new();
    wq->failures = store_map_new();
    wq->waiting = store_map_new();
    wq->dispatch_ev = event_new(base, -1, 0, dispatch_cb, wq);
    wq->delay_ev = evtimer_new(base, delay_cb, wq);
    wq->resync_ev = event_new(base, -1, EV_PERSIST, resync_cb, wq);
    if (wq->cfg.resync_ms > 0) {
        struct timeval tv = {wq->cfg.resync_ms / 1000, (wq->cfg.resync_ms % 1000) * 1000};
        event_add(wq->resync_ev, &tv);
    }
    return wq;
}

static void free_value(const char *key, void *value, void *arg)
{
    free(value);
}

void store_wq_free(store_wq *wq)
{
    if (!wq)
        return;
    event_free(wq->dispatch_ev);
    event_free(wq->delay_ev);
    event_free(wq->resync_ev);
    while (wq->len)
        free(fifo_pop(wq));
    free(wq->fifo);
    for (size_t i = 0; i < wq->nheap; i++)
        free(wq->heap[i].key);
    free(wq->heap);
    store_map_foreach(wq->processing, free_value, NULL);
    store_map_free(wq->processing);
    store_map_free(wq->dirty);
    store_map_free(wq->failures);
    store_map_free(wq->waiting);
    free(wq);
}

void store_wq_pause(store_wq *wq, bool paused)
{
    wq->paused = paused;
    kick(wq);
}

size_t store_wq_len(const store_wq *wq)
{
    return wq->len;
}

size_t store_wq_processing(const store_wq *wq)
{
    return store_map_len(wq->processing);
}

size_t store_wq_delayed(const store_wq *wq)
{
    return store_map_len(wq->waiting);
}

void store_wq_get_stats(const store_wq *wq, store_wq_stats *out)
{
    out->depth = wq->len;
    out->processing = store_map_len(wq->processing);
    out->delayed = store_map_len(wq->waiting);
    out->adds = wq->adds;
    out->done = wq->ndone;
    out->yields = wq->yields;
    out->latency = wq->latency;
}
