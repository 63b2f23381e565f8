/* ctl_runner: the one I/O shell every reconcile loop runs in.
 *
 *   cache change -> loop's on_change enqueues keys -> work queue (dedup,
 *   backoff, periodic resync) -> loop's reconcile: read the cache, run its
 *   pure plan, append etcd operations -> fenced writes (one store_write per
 *   operation group; the store packs a loop turn's writes into as few txns
 *   as etcd's limits allow) -> requeue, back off, or forget -> before the
 *   key's next pass, wait until the cache reflects the revision its writes
 *   landed at (a cache event, never a poll).
 *
 * A loop is a ctl_loop (callbacks, all on the event loop) plus one
 * ctl_runner_new call: it never touches the queue, etcd, fencing or
 * read-your-writes itself. docs/architecture.md shows how to add one.
 *
 * Fencing: every write is a txn made by store_leader_txn (or fenced by the
 * configured key and revision), so it applies only while this replica
 * holds the leadership it won; a deposed leader writes nothing.
 *
 * A loop that must act on the outcome of one group's write (the bridge
 * ACCEPTs an offer once its launch txn has landed) hangs a hook on the
 * group (ctl_ops_then, view.h).
 *
 * Lifecycle: ctl_runner_new (stopped) -> ctl_runner_start on election ->
 * ctl_runner_stop when leadership is lost (at once; no callback and no
 * write after it) -> ... -> ctl_runner_free. start/stop may alternate; none
 * of them may be called from inside the runner's own callbacks. */
#ifndef CTL_RUNNER_H
#define CTL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/cr_hist.h"
#include "base/err.h"
#include "base/log.h"
#include "controllers/view.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

struct event_base;

typedef struct ctl_runner ctl_runner;

/* What reconcile decided for its key. */
typedef enum {
    CTL_PASS_WRITE,  /* write the appended ops (maybe none); then requeue_ms if > 0 */
    CTL_PASS_FORGET, /* nothing of this key is ours: drop it, no backoff kept */
    CTL_PASS_ERROR,  /* failed (err set): retry after the key's backoff */
} ctl_pass;

typedef struct ctl_loop {
    const char *name; /* "service", "jobs": logs and metrics */
    /* Required: one pass over key. Reads the cache (ctl_runner_cache),
     * plans, appends operations to ops, sets *requeue_ms (> 0: plan again
     * after that long). now is the wall clock, epoch ms. */
    ctl_pass (*reconcile)(void *arg, ctl_runner *r, const char *key, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err);
    /* One cache change (old NULL: new key; cur NULL: deleted): enqueue the
     * keys it concerns with ctl_runner_enqueue. */
    void (*on_change)(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur);
    /* Enqueue every key the loop owns: once the cache is synced, after
     * each re-list, and every resync period. */
    void (*resync)(void *arg, ctl_runner *r);
    /* Optional: leadership gained (before the first pass) / lost. */
    void (*on_start)(void *arg, ctl_runner *r);
    void (*on_stop)(void *arg, ctl_runner *r);
} ctl_loop;

typedef struct ctl_runner_config {
    const char *prefix; /* key prefix of the cache made when none is given */
    int max_inflight;   /* keys reconciled at once; 0 = 64 */
    int64_t resync_ms;  /* resync period; 0 = 60 s, -1 = never */
    cr_log *log;        /* borrowed; may be NULL */
    /* Without a leader (the bridge, made per leadership): every write also
     * requires fence_key's create revision to be fence_rev; neither: the
     * writes are not fenced (tests). */
    const char *fence_key;
    int64_t fence_rev;
} ctl_runner_config;

/* Creates a stopped runner (caller owns). base, s, cache, leader and log
 * are borrowed and must outlive it; loop is copied, loop_arg borrowed.
 * Without a cache (tests), the runner lists and watches cfg->prefix itself
 * while it runs. */
ctl_runner *ctl_runner_new(struct event_base *base, store *s, store_cache *cache,
                           store_leader *leader, const ctl_loop *loop, void *loop_arg,
                           const ctl_runner_config *cfg);
/* Starts: passes begin once the cache is synced. Idempotent. -1 with err
 * when its own cache's list cannot be sent. */
int ctl_runner_start(ctl_runner *r, cr_err *err);
/* Stops at once: queue and writes in flight dropped (a write already sent
 * may still land; the fence makes that harmless once leadership is gone).
 * Idempotent. */
void ctl_runner_stop(ctl_runner *r);
/* Stops and frees. NULL is a no-op. */
void ctl_runner_free(ctl_runner *r);

/* Queues key for a pass (deduplicated). No-op while stopped. */
void ctl_runner_enqueue(ctl_runner *r, const char *key);
/* The cache the loop reads (borrowed). */
store_cache *ctl_runner_cache(const ctl_runner *r);
bool ctl_runner_running(const ctl_runner *r);

/* ---- helpers for loops keyed by request id ---- */

/* The key prefix a loop was configured with (NULL: the default): 0 and
 * *out, or -1 with err naming `who` when it does not start with '/' or
 * ends with one. */
int ctl_loop_prefix(const char *who, const char *prefix, const char **out, cr_err *err);

/* The request id the object's key belongs to (requests, deploys, tasks,
 * pending tasks, statuses, intents, runs; cleanups through their task id),
 * or NULL for other keys and history. *owned gets memory to free after use
 * (or NULL). */
const char *ctl_obj_request_id(const store_obj *o, char **owned);
/* Enqueues the request id of every key of kind in the cache. */
void ctl_runner_enqueue_kind(ctl_runner *r, const char *prefix, api_key_kind kind);
/* One request's keys of kind in the cache: how many, and *first for
 * store_cache_at. */
size_t ctl_runner_range(const ctl_runner *r, const char *prefix, api_key_kind kind,
                        const char *request_id, size_t *first);
/* The ids of a request's archived tasks, oldest first (borrowed from the
 * cache; the array is the caller's to free). */
const char **ctl_runner_history(const ctl_runner *r, const char *prefix, const char *request_id,
                                size_t *n);

/* The documents of one request that a pass skips because they are invalid
 * (store_obj.error: they do not decode, or do not match their keys; see
 * apis/doc.h): an invalid intent asks for nothing, an invalid kill intent
 * kills nothing, an invalid task record or pending task is not counted.
 * Listed in the request's DocumentsValid condition (ctl_documents_condition,
 * plan.h), never acted on. */
typedef struct ctl_ignored {
    size_t n;      /* documents skipped */
    cr_buf text;   /* the first few, "<key>: <why>; ..." */
    char *message; /* ctl_ignored_message's, once asked for */
} ctl_ignored;

#define CTL_IGNORED_INIT     \
    {                        \
        0, CR_BUF_INIT, NULL \
    }

/* Adds o if it is invalid (o->error set); returns whether it was. */
bool ctl_ignored_add(ctl_ignored *ig, const store_obj *o);
/* Adds every invalid document of request_id that the loops read besides
 * the request and its deploys (which have conditions of their own):
 * intents of the request and of its deploys, runs, task records, pending
 * tasks and the bridge's placement reasons. Cleanups are keyed by task id:
 * the loop adds those of its tasks with ctl_ignored_add. */
void ctl_ignored_collect(ctl_ignored *ig, const ctl_runner *r, const char *prefix,
                         const char *request_id);
/* "N invalid documents ignored: <key>: <why>; ..." or NULL if none.
 * Borrowed until ctl_ignored_release; add nothing after asking. */
const char *ctl_ignored_message(ctl_ignored *ig);
void ctl_ignored_release(ctl_ignored *ig);

/* ARCHIVE copies a task record into history, and status writes compare the
 * revision the plan read: ctl_doc_lookup (view.h) over the cache. Texts handed out live until ctl_task_lookup_release. */
typedef struct ctl_task_lookup {
    const ctl_runner *r;
    const char *prefix;
    const char *request_id;
    char **texts;
    size_t n_texts;
} ctl_task_lookup;

ctl_doc_lookup ctl_task_lookup_init(ctl_task_lookup *l, const ctl_runner *r, const char *prefix,
                                    const char *request_id);
void ctl_task_lookup_release(ctl_task_lookup *l);

typedef struct ctl_runner_stats {
    bool running;
    bool synced;             /* the cache has listed since the start */
    uint64_t passes;         /* reconciles run */
    uint64_t writes;         /* store_write()s sent (operation groups) */
    uint64_t conflicts;      /* writes whose compares failed (re-planned) */
    uint64_t errors;         /* failed passes (backed off) */
    uint64_t waits;          /* passes deferred until the cache saw their writes */
    uint64_t relist_waits;   /* passes held until a re-list was all in */
    size_t queue_depth;      /* keys waiting, not processing */
    size_t queue_processing; /* keys being reconciled */
    size_t queue_delayed;    /* keys waiting out a backoff or requeue-after */
    /* Seconds from a key's hand-out to its done: a plan plus its write. */
    cr_hist reconcile_latency;
} ctl_runner_stats;

/* r may be NULL (all zero). */
void ctl_runner_get_stats(const ctl_runner *r, ctl_runner_stats *out);

#endif
