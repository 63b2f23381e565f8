/* ctl_manager: the SERVICE/WORKER loop, run by the leading corrald in the
 * shared controller runner (runner.h; controllers/service_loop.c).
 *
 *   cache change -> request id -> runner's queue -> one pass per id: the
 *   request's documents from the cache -> views (view.h) ->
 *   ctl_service_plan (plan.h) -> etcd ops -> the runner's fenced, batched
 *   writes -> requeue-after / backoff.
 *
 * Read-your-writes, fencing and batching are the runner's: after a pass's
 * writes land at revision R, the next pass of that request waits until the
 * cache reflects R, so a launch is never planned twice from a stale cache,
 * and a deposed leader writes nothing.
 *
 * Health checks (health.h) start for RUNNING tasks of deploys with an HTTP
 * check; verdicts are kept in memory and requeue the request.
 *
 * Requests of other types (SCHEDULED, ON_DEMAND, RUN_ONCE) are left to the
 * jobs controller; a deleted request is handled here unless its last seen
 * document (in this process) was of another type.
 *
 * Lifecycle (corrald):
 *     m = ctl_manager_new(base, store, http, leader, &cfg, &err);
 *     on_elected:  ctl_manager_start(m, &err);   // lists, then works
 *     on_lost:     ctl_manager_stop(m);          // at once; no write after
 *     at exit:     ctl_manager_free(m);
 * start/stop may alternate any number of times. None of these may be called
 * from inside a manager callback. */
#ifndef CTL_CONTROLLERS_H
#define CTL_CONTROLLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cr_hist.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "controllers/plan.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

struct event_base;

typedef struct ctl_manager ctl_manager;

typedef struct ctl_manager_config {
    const char *prefix;     /* key prefix; NULL = "/corral" */
    store_cache *cache;     /* the process's cache (borrowed); NULL: the manager
                               lists and watches its own while running */
    const ctl_config *plan; /* plan tunables; NULL = ctl_config_defaults */
    int max_inflight;       /* requests reconciled at once; 0 = 64 */
    int64_t resync_ms;      /* re-plan every request this often; 0 = 60 s, -1 = never */
    cr_log *log;            /* borrowed; may be NULL */
    /* Whether the task records are confirmed by Mesos since this leader
     * took over (the bridge's reconciliation); until then no task is killed
     * on the strength of another task's observed state. NULL: always. */
    bool (*confirmed)(void *arg);
    void *confirmed_arg;
} ctl_manager_config;

/* Creates a stopped manager. base, s, http, leader and log are borrowed and
 * must outlive it; cfg is copied. Returns NULL with err set on bad config. */
ctl_manager *ctl_manager_new(struct event_base *base, store *s, cr_http *http, store_leader *leader,
                             const ctl_manager_config *cfg, cr_err *err);

/* Starts the loop; passes begin once the cache has synced. Without a cache
 * in the config the manager lists and watches its own (tests). Starting a
 * running manager does nothing. -1 with err if that list cannot be sent. */
int ctl_manager_start(ctl_manager *m, cr_err *err);

/* Stops everything at once: queue, health checks and writes in
 * flight (their callbacks never fire; a write already sent may still land,
 * which the fence makes harmless once leadership is gone). Idempotent. */
void ctl_manager_stop(ctl_manager *m);

/* Stops and frees. NULL is a no-op. */
void ctl_manager_free(ctl_manager *m);

/* Changes how long a task stays drained after its removal from the load
 * balancer before its kill (ctl_config.lb_drain_ms); from the next pass on
 * (SIGHUP). */
void ctl_manager_set_lb_drain(ctl_manager *m, int64_t drain_ms);

/* Observability (tests, /metrics). */
typedef struct ctl_manager_stats {
    bool running;
    bool synced;        /* the cache has listed since the start */
    uint64_t passes;    /* plans run */
    uint64_t writes;    /* store_write()s sent */
    uint64_t conflicts; /* writes whose compares failed (re-planned) */
    uint64_t errors;    /* failed passes (backed off) */
    uint64_t withdrawn; /* make-room kills withdrawn (CTL_ACT_WITHDRAW planned) */
    size_t checks;      /* health checks running */
    /* The work queue (zero while stopped; reset when leadership restarts
     * the manager). Latency: seconds from a key's hand-out to its done, so
     * a pass's plan plus its etcd write. */
    size_t queue_depth;      /* keys waiting, not processing */
    size_t queue_processing; /* keys being reconciled */
    size_t queue_delayed;    /* keys waiting out a backoff or requeue-after */
    cr_hist reconcile_latency;
} ctl_manager_stats;

void ctl_manager_get_stats(const ctl_manager *m, ctl_manager_stats *out);

/* The health-check verdict the running manager holds for a task (UNKNOWN:
 * none yet, no check, or not running). The LB loop (lb.h) adds a task to
 * the load balancer only once it is healthy. */
ctl_health ctl_manager_task_health(const ctl_manager *m, const char *task_id);

#endif
