/* cr_looplag: how late the event loop runs its timers, the symptom of a
 * callback that blocks. A timer due every interval notes how long after its
 * due time it actually ran (monotonic clock) and observes that lateness into
 * a cr_hist; it also keeps the largest lateness seen and counts "stalls",
 * callbacks more than CR_LOOPLAG_STALL_S late.
 *
 * A late timer has two causes: a callback that computes (ours to fix) and a
 * thread that waits for a CPU or blocks in a call (a busy machine, a page
 * fault, a blocking write). The loop's thread CPU time between arming and
 * the run tells them apart: the lateness, but no more than that CPU time,
 * is the most callbacks can have computed of it, the "busy" lateness. A
 * lag whose busy part is small was a wait, not a callback.
 *
 * Lifecycle: cr_looplag_new(base) (the timer is armed at once) -> reads with
 * cr_looplag_get() -> cr_looplag_free() (disarms it; nothing runs after).
 * The event base is borrowed and must outlive the cr_looplag. The pending
 * timer keeps event_base_dispatch() from returning for lack of events: stop
 * the loop with event_base_loopbreak()/loopexit(), as corrald does.
 *
 * Resolution: lateness is measured against the microsecond monotonic clock,
 * but libevent's timers on a base without EVENT_BASE_FLAG_PRECISE_TIMER run
 * on a coarse clock, so an idle loop shows a few milliseconds of jitter. */
#ifndef CR_LOOPLAG_H
#define CR_LOOPLAG_H

#include <stdint.h>

#include "base/cr_hist.h"

struct event_base;

typedef struct cr_looplag cr_looplag;

#define CR_LOOPLAG_DEFAULT_INTERVAL_MS 50
#define CR_LOOPLAG_STALL_S             0.05 /* a lateness above this is a stall */

/* Starts measuring on base (borrowed). interval_ms <= 0 means
 * CR_LOOPLAG_DEFAULT_INTERVAL_MS. Returns a handle the caller owns and frees
 * with cr_looplag_free(); never NULL (out of memory aborts). */
cr_looplag *cr_looplag_new(struct event_base *base, long interval_ms);

/* Disarms the timer and frees l. NULL is a no-op. */
void cr_looplag_free(cr_looplag *l);

/* Copies what was measured so far: every lateness in seconds into *out, the
 * largest into *max_s (0 before the first tick), the stall count into
 * *stalls. Any out pointer may be NULL. */
void cr_looplag_get(const cr_looplag *l, cr_hist *out, double *max_s, uint64_t *stalls);

/* The largest busy lateness seen, in seconds (0 before the first tick):
 * no tick's lateness had more of the loop's thread computing in it. */
double cr_looplag_busy_max(const cr_looplag *l);

#endif
