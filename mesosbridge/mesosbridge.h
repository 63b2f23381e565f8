/* mesosbridge: Corral's Mesos v1 scheduler client (DESIGN.md section 6).
 *
 * The bridge runs inside corrald on the leader only, on the process's
 * libevent loop. It talks to controllers only through etcd documents
 * (apis/task.h), level-triggered:
 *
 *   reads   <prefix>/requests/, deploys/   what to launch (command, resources,
 *                                          placement, executor)
 *           <prefix>/pending/<req>/<id>    tasks to launch (api_pending_task)
 *           <prefix>/cleanups/<taskId>     tasks to kill (api_cleanup)
 *           <prefix>/agents/, racks/       agent/rack state (decommission...)
 *   writes  <prefix>/tasks/<req>/<taskId>  launch intent, then every status
 *           <prefix>/agents/<id>, racks/<id>  observed fields (merged) and the
 *                                          ACTIVE <-> DEAD state, from the
 *                                          master's GET_AGENTS (agents.h)
 *           <prefix>/framework             {"frameworkId", "updatedAt"}
 *           <prefix>/status/framework      the bridge's state and why
 *                                          (api_framework_status)
 *
 * Framework id: read fresh from etcd before the first SUBSCRIBE and decoded
 * strictly. A document that does not decode blocks the bridge (no
 * SUBSCRIBE, state BLOCKED in status/framework, an error in the log) until
 * it is fixed or deleted: registering a new framework while the old one
 * lives would run every task twice.
 *
 * Launch: a due pending task is matched to an offer (placement.h); one txn
 * creates the task record (state TASK_LAUNCHED: agent, offer, ports, env,
 * resources, the TaskInfo) and deletes the pending document, and only then
 * is ACCEPT sent, so a restart mid-launch never launches a task twice (the
 * reconciliation that follows turns an unsent launch into TASK_UNKNOWN,
 * which controllers replace).
 * Updates: stored in the task record (writes batched, one in flight per
 * task), then ACKNOWLEDGEd when they carry a uuid. A duplicate (same uuid) is
 * stored once. A terminal update also deletes the task's cleanup.
 * Kills: KILL with the kill policy, re-sent every kill_retry_ms until a
 * terminal update arrives. Mesos tasks Corral does not know are killed.
 * Reconciliation: explicit (with backoff) after every SUBSCRIBED; implicit
 * every implicit_reconcile_ms.
 * Subscription: follows 307 redirects, retries 503 and errors with backoff,
 * moves to the next master on connection errors, re-subscribes when no event
 * arrived for heartbeat_misses heartbeat intervals, and stops for good on
 * ERROR "Framework failed over" or when a fenced etcd write says this
 * replica lost leadership (on_stopped is then called).
 *
 * Lifecycle: mb_new -> mb_start -> ... -> mb_free (from outside any bridge
 * callback; cancels everything in flight). */
#ifndef MB_MESOSBRIDGE_H
#define MB_MESOSBRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/common.h"
#include "base/cr_hist.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "mesosbridge/calls.h"
#include "controllers/runner.h"
#include "store/cache.h"
#include "store/store.h"

struct event_base;

typedef struct mb mb;

typedef struct mb_config {
    const char *masters;         /* "http://m1:5050,http://m2:5050"; required */
    const char *prefix;          /* etcd key prefix; NULL = "/corral" */
    store_cache *cache;          /* the process's cache (borrowed); NULL: the bridge
                                  * lists and watches its own from mb_start */
    mb_framework_info framework; /* user (default: $USER or "root"), name
                                  * (default "corral"), hostname, webui_url,
                                  * principal, failover_timeout, roles */
    /* Fencing: when leader_key is set every etcd write also requires that
     * key's create_revision to equal leader_rev. */
    const char *leader_key;
    int64_t leader_rev;
    /* Executor command used when a deploy names customExecutorCmd but the
     * value is relative and this is set (e.g. an absolute path to
     * corral-executor); NULL = use the deploy's value as is. */
    const char *executor_path;
    const char *default_rack;   /* rack of agents without one; NULL = "DEFAULT" */
    const char *rack_attribute; /* agent attribute naming the rack; NULL = "rackid",
                                 * else "rack" */
    /* Singularity's reserveAgentsWithAttributes (copied; may be NULL): agents
     * carrying one of these take only tasks that ask for it. */
    const api_strmap *reserve_attrs;
    /* Tunables (0 = default). */
    long offer_hold_ms;            /* 2000 */
    double refuse_idle_s;          /* 300: decline filter when nothing waits */
    double refuse_busy_s;          /* 5: decline filter when tasks wait */
    long offer_cache_size;         /* 125: offers held while nothing waits; -1 = none */
    long offer_cache_ms;           /* 60000: how long the cache holds an offer */
    long kill_retry_ms;            /* 30000 */
    long implicit_reconcile_ms;    /* 600000 */
    long reconcile_cap_ms;         /* 30000: explicit reconciliation backoff cap */
    long reconcile_batch;          /* 5000: tasks in one explicit RECONCILE call */
    long offload_event_bytes;      /* 262144: events this big are decoded on a thread */
    long launch_timeout_ms;        /* 60000: a task still TASK_LAUNCHED is reconciled */
    long agents_refresh_ms;        /* 60000: GET_AGENTS at least this often */
    int heartbeat_misses;          /* 5 */
    long subscribe_backoff_cap_ms; /* 15000 */
    cr_log *log;                   /* borrowed; may be NULL */
    /* Called once when the bridge stops for good (failed over to another
     * scheduler, lost leadership, framework removed twice). May be NULL.
     * Do not call mb_free from inside it; defer to the loop. */
    void (*on_stopped)(void *arg, const cr_err *why);
    void *arg;
} mb_config;

/* Creates a stopped bridge. base, http, st and cfg->log are borrowed and
 * must outlive it; cfg's strings are copied. Returns NULL with err set when
 * the configuration is invalid (no master URL). Caller frees with mb_free. */
mb *mb_new(struct event_base *base, cr_http *http, store *st, const mb_config *cfg, cr_err *err);

/* Loads the framework id and the documents, then subscribes. Returns -1
 * with err set if already started. Progress and failures are logged and
 * retried; the bridge never gives up on its own except as on_stopped says. */
int mb_start(mb *b, cr_err *err);

/* Stops everything (the subscription, calls, timers, watches) and frees b.
 * NULL is a no-op. */
void mb_free(mb *b);

/* Scheduler calls timed for /metrics (SUBSCRIBE is a stream, not timed). */
typedef enum {
    MB_CALL_ACCEPT,
    MB_CALL_DECLINE,
    MB_CALL_KILL,
    MB_CALL_ACKNOWLEDGE,
    MB_CALL_RECONCILE,
    MB_CALL_SUPPRESS,
    MB_CALL_REVIVE,
    MB_CALL_OTHER,
    MB_CALL_N
} mb_call_kind;

typedef struct mb_call_stats {
    const char *type; /* "ACCEPT", ...; static */
    cr_hist latency;  /* seconds from sending the call to its answer or failure */
} mb_call_stats;

typedef struct mb_stats {
    bool subscribed;
    bool stopped; /* for good (see on_stopped) */
    bool suppressed;
    bool reconciled; /* subscribed, and Mesos has confirmed every task's state since
                      * (or the first reconciliation ran for a minute): until then the
                      * task records may be stale (a failover, a lost agent) */
    const char *framework_id; /* borrowed; NULL before the first SUBSCRIBED */
    const char *error;        /* borrowed: why the bridge does not subscribe (an
                               * unreadable framework document) or stopped; NULL */
    const char *master;       /* borrowed: the master URL in use */
    size_t offers_held;
    size_t tasks_known; /* task records cached */
    size_t pending_known;
    size_t calls_in_flight;     /* Mesos calls posted and not answered */
    size_t calls_in_flight_max; /* the most at once (at most MB_CALLS_IN_FLIGHT) */
    uint64_t calls_waited;      /* calls that waited for a slot */
    uint64_t subscribes, events, offers_received, offers_declined, launched, updates, acks, kills,
        reconciles;
    uint64_t events_offloaded;  /* events big enough to be decoded on a thread */
    size_t reconcile_tasks_max; /* the most tasks one explicit RECONCILE named */
    mb_call_stats calls[MB_CALL_N];
    ctl_runner_stats offers_loop; /* the runner that drives the offer cycle */
} mb_stats;

/* A snapshot; pointers are borrowed until the next loop turn. */
void mb_get_stats(const mb *b, mb_stats *out);

#endif
