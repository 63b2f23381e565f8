/* Pure logic of a pipelined apply (no I/O): which object waits for which,
 * the order objects start in, and the batched reads that plan it.
 *
 * The objects of one apply are jobs numbered in print order (Requests, then
 * Deploys, then Sources, as a sequential apply prints them). A job starts
 * once every job it waits for is done; among the jobs that may start, the
 * lowest number goes first, so with one call in flight the calls are those
 * of a sequential apply, in the same order. */
#ifndef CLI_BULK_H
#define CLI_BULK_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/common.h"

/* ---- dependencies ------------------------------------------------------- */

typedef enum { CLI_BULK_REQUEST, CLI_BULK_DEPLOY, CLI_BULK_OTHER } cli_bulk_kind;

/* One job for cli_bulk_deps: its kind and request id (a Request's id, a
 * Deploy's requestId; NULL for other kinds). Borrowed strings. */
typedef struct cli_bulk_obj {
    cli_bulk_kind kind;
    const char *rid;
} cli_bulk_obj;

/* Fills dep[i] (n entries) with the job that job i waits for, or -1. A
 * Deploy waits for the Deploy of the same request before it, else for that
 * request's Request job (wherever it is); so a request is written before any
 * of its deploys is posted, and its deploys go in input order. Requests and
 * other kinds wait for nothing; different requests never wait on each
 * other. */
void cli_bulk_deps(const cli_bulk_obj *v, size_t n, long *dep);

/* ---- scheduling ---------------------------------------------------------- */

/* Lifecycle: cli_sched_new -> cli_sched_after (all of them) -> cli_sched_next
 * and cli_sched_done until cli_sched_next returns -1 with every job done ->
 * cli_sched_free. */
typedef struct cli_sched cli_sched;

/* A scheduler of n jobs that wait for nothing yet. Caller frees. */
cli_sched *cli_sched_new(size_t n);
void cli_sched_free(cli_sched *s);

/* Job `job` starts only once job `before` is done. Only before the first
 * cli_sched_next; a job waiting for itself is ignored. */
void cli_sched_after(cli_sched *s, size_t job, size_t before);

/* The lowest-numbered job that may start now (marked started), or -1 when
 * none may (all started, or the rest wait for jobs still running). */
long cli_sched_next(cli_sched *s);

/* Job `job` (started) is done: the jobs waiting only for it may start. */
void cli_sched_done(cli_sched *s, size_t job);

/* Jobs done so far. */
size_t cli_sched_ndone(const cli_sched *s);

/* ---- batched reads --------------------------------------------------------- */

/* The paths of GET /api/requests/batch?id=A&id=B... reading every id of ids
 * (each percent-encoded), each path at most max_len bytes but always holding
 * at least one id, ids in the given order. Appends to out. */
void cli_bulk_batch_paths(const api_strlist *ids, size_t max_len, api_strlist *out);

#endif
