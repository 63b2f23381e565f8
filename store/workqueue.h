/* store_wq: a work queue of string keys for controllers (client-go's
 * workqueue semantics, on the libevent loop).
 *
 * - add(k): deduplicated; a key being processed is marked dirty and handed
 *   out again only after done(k). So a key is never processed twice at once,
 *   and any number of adds during processing collapse into one more pass.
 * - The queue hands keys to `process` (up to max_inflight at once, FIFO);
 *   processing may be asynchronous: call store_wq_done(k) when finished.
 * - add_rate_limited(k): re-adds after the key's exponential backoff
 *   (base_delay_ms * 2^failures, capped at max_delay_ms); forget(k) resets it.
 * - add_after(k, ms): delayed re-add (requeue-after).
 * - Every resync_ms (if set) `resync` is called so the owner can re-add every
 *   key it knows (a safety net for missed events).
 * - Keys are handed out for at most STORE_WQ_TURN_BUDGET_US of one loop
 *   callback; the rest follow after the loop has polled its I/O, so a long
 *   queue of quick passes never holds the loop.
 *
 * Lifecycle: store_wq_new -> adds -> store_wq_free (drops everything; no
 * callback fires afterwards). Not thread-safe (one loop). */
#ifndef STORE_WORKQUEUE_H
#define STORE_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cr_hist.h"

struct event_base;

typedef struct store_wq store_wq;

/* Time one dispatch callback may spend handing out keys (5 ms). */
#define STORE_WQ_TURN_BUDGET_US 5000

typedef struct store_wq_config {
    int max_inflight;      /* keys processed at once; 0 = 1 */
    int64_t base_delay_ms; /* 0 = 5 */
    int64_t max_delay_ms;  /* 0 = 1000 s */
    int64_t resync_ms;     /* 0 = no periodic resync */
    const char *name;      /* for logs; borrowed */
} store_wq_config;

/* Handles one key. Must eventually call store_wq_done(wq, key) (it may do so
 * before returning). key is valid until done. */
typedef void (*store_wq_process_fn)(void *arg, store_wq *wq, const char *key);
typedef void (*store_wq_resync_fn)(void *arg, store_wq *wq);

store_wq *store_wq_new(struct event_base *base, const store_wq_config *cfg,
                       store_wq_process_fn process, store_wq_resync_fn resync, void *arg);
/* NULL is a no-op. Not from inside process. */
void store_wq_free(store_wq *wq);

void store_wq_add(store_wq *wq, const char *key);
void store_wq_add_after(store_wq *wq, const char *key, int64_t delay_ms);
void store_wq_add_rate_limited(store_wq *wq, const char *key);
void store_wq_forget(store_wq *wq, const char *key);
void store_wq_done(store_wq *wq, const char *key);

/* Stops handing out keys (adds are still recorded) / resumes. Used when a
 * replica loses leadership. */
void store_wq_pause(store_wq *wq, bool paused);

size_t store_wq_len(const store_wq *wq);        /* queued, not processing */
size_t store_wq_processing(const store_wq *wq); /* handed out, not done */
size_t store_wq_delayed(const store_wq *wq);    /* waiting in add_after */
int store_wq_failures(const store_wq *wq, const char *key);

/* Observability (/metrics). Counters only grow during the queue's life. */
typedef struct store_wq_stats {
    size_t depth;      /* queued, not processing (store_wq_len) */
    size_t processing; /* handed out, not done */
    size_t delayed;    /* waiting in add_after */
    uint64_t adds;     /* keys queued (adds that were not deduplicated) */
    uint64_t done;     /* keys finished (done() of a handed-out key) */
    uint64_t yields;   /* hand-outs cut short by the turn budget */
    cr_hist latency;   /* seconds from hand-out to done(), per key */
} store_wq_stats;

void store_wq_get_stats(const store_wq *wq, store_wq_stats *out);

/* The pure backoff rule: base * 2^failures, capped (no overflow). */
int64_t store_wq_backoff_ms(int failures, int64_t base_ms, int64_t max_ms);

#endif
