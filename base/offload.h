/* cr_offload: one piece of pure work run on a thread of its own, its result
 * handed back on the event loop.
 *
 * For the few jobs that take long and touch nothing shared: decoding a big
 * answer (a master's GET_AGENTS for thousands of agents is ~5 MB of JSON
 * and half a second of parsing) should not hold the loop that keeps the
 * leader's lease. `work` runs on the new thread and may only use its arg
 * and thread-safe libraries (jansson on its own objects, malloc); `done`
 * then runs on the loop, from an event, with the same arg.
 *
 * Lifecycle: cr_offload_start -> done(arg) on the loop, after which the job
 * is gone; or cr_offload_cancel before that (waits for `work` to return,
 * then frees the job; done never runs). */
#ifndef CR_OFFLOAD_H
#define CR_OFFLOAD_H

#include "base/err.h"

struct event_base;

typedef struct cr_offload cr_offload;

/* Starts work(arg) on a thread; done(arg) follows on base's loop. Returns
 * the job (owned by itself until done runs or it is cancelled), or NULL
 * with err set when no thread could be started (nothing runs). */
cr_offload *cr_offload_start(struct event_base *base, void (*work)(void *arg),
                             void (*done)(void *arg), void *arg, cr_err *err);
/* Waits for the job's work to return and frees the job; done never runs.
 * arg stays the caller's. NULL is a no-op. Not from inside done. */
void cr_offload_cancel(cr_offload *j);

#endif
