/* The machines controller: agents and racks through Singularity's states
 * (docs/machines.md).
 *
 *     ctl_machines_plan(intents, agents, racks, their tasks, now)
 *         -> new agent and rack documents (state, history, progress),
 *            kill intents, Mesos maintenance calls, requeue
 *
 * The plan is pure (no I/O, no clock): the loop (machines_loop.c) builds
 * its input from corrald's cache, runs it on the shared runner
 * (runner.h) under the one queue key "machines", writes the documents it
 * returns (each compared with the revision it was planned from: the Mesos
 * bridge writes the same documents) and carries out the calls.
 *
 * States (api_machine_state, apis/machine.h):
 *   any -> DEAD -> as before         the bridge's (the master no longer lists
 *                                    the agent; it comes back in the state it
 *                                    had, a decommission as STARTING_DECOMMISSION):
 *                                    never changed here; a DEAD agent holds no
 *                                    decommission slot, its intent stays
 *   ACTIVE|FROZEN -> STARTING_DECOMMISSION -> DECOMMISSIONING -> DECOMMISSIONED
 *                                    a decommission: STARTING waits until fewer
 *                                    than max_decommissioning agents are
 *                                    DECOMMISSIONING (an agent without live
 *                                    tasks skips to DECOMMISSIONED); while
 *                                    DECOMMISSIONING the service loop replaces
 *                                    its tasks new-before-old (plan.h); with no
 *                                    live task left it is DECOMMISSIONED
 *   any -> FROZEN, any -> ACTIVE     freeze, activate
 * What an agent is asked to be is the newest of: its own intent, its
 * rack's decommission (cause "rack"), its host marked inactive before it
 * registered (cause "inactive"). An intent with durationMillis is, once
 * expired, a request for its revertToState (cause "expired"); a revert to
 * DECOMMISSIONED with killTasksOnDecommissionTimeout kills what is left
 * (DECOMMISSION_TIMEOUT). A decommission with `force` kills the tasks whose
 * replacement cannot be placed, and job tasks, instead of waiting for them.
 * A rack follows its intent; while it decommissions, its agents do, and it
 * is DECOMMISSIONED once they all are. Every change goes to the machine's
 * state history (user, message, time). */
#ifndef CTL_MACHINES_H
#define CTL_MACHINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/intent.h"
#include "apis/machine.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "controllers/runner.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

struct event_base;

/* ---- configuration -------------------------------------------------------- */

typedef struct ctl_machines_config {
    int max_decommissioning; /* agents DECOMMISSIONING at once (2, Singularity's) */
    size_t history_max;      /* state changes kept per machine (20) */
    bool mesos_drain;        /* DRAIN_AGENT a DECOMMISSIONED agent, REACTIVATE_AGENT it when
                                it is activated (true) */
    int64_t drain_retry_ms;  /* a FAILED call is tried again after this (60 s) */
} ctl_machines_config;

void ctl_machines_config_defaults(ctl_machines_config *c);

/* ---- input ------------------------------------------------------------------ */

/* What an intent asks of a machine (api_intent, apis/intent.h). */
typedef struct ctl_mach_intent {
    bool set;
    api_machine_state state; /* ACTIVE, FROZEN or STARTING_DECOMMISSION */
    int64_t timestamp;
    const char *user, *message, *action_id;
    int64_t duration_ms;         /* > 0: expires at timestamp + duration_ms */
    api_machine_state revert_to; /* then: ACTIVE (UNSET), FROZEN, STARTING_DECOMMISSION or
                                    DECOMMISSIONED */
    bool kill_on_timeout;        /* killTasksOnDecommissionTimeout */
    bool force;
} ctl_mach_intent;

/* The view of an intent (NULL: none). Borrows from in. */
void ctl_mach_intent_view(const api_intent *in, ctl_mach_intent *out);

/* A live (non-terminal) task on an agent, and what became of its slot. */
typedef struct ctl_mach_task {
    const char *id;
    const char *request_id;
    int instance;
    bool long_running;         /* SERVICE or WORKER: the service loop replaces it */
    bool cleaning;             /* a kill intent exists */
    bool held;                 /* UNREACHABLE/UNKNOWN: its agent may come back */
    bool unreachable;          /* UNREACHABLE: replaced already (it holds no slot) */
    bool repl_pending;         /* a pending task waits for its slot: the replacement */
    bool repl_launched;        /* another task of its slot is launched, not healthy yet */
    const char *repl_reason;   /* the bridge could not place the replacement: why */
    const char *repl_message;  /* ... for people; may be NULL */
} ctl_mach_task;

/* The Mesos maintenance call of an agent, as the loop saw it go. */
typedef struct ctl_mach_mesos {
    bool inflight;            /* a DRAIN or REACTIVATE is on its way */
    bool has_result;          /* one answered (kept until the document shows it) */
    const char *result_state; /* DRAINED, UNSUPPORTED, FAILED, REACTIVATED, REACTIVATE_FAILED */
    const char *result_message;
    int64_t result_at;
} ctl_mach_mesos;

typedef struct ctl_machine {
    const char *id;
    const api_machine *doc; /* the document; NULL: it does not decode (skipped) */
    int64_t mod_revision;
    ctl_mach_intent intent;     /* its own intent */
    const ctl_mach_task *tasks; /* agents: its live tasks */
    size_t n_tasks;
    ctl_mach_mesos mesos; /* agents */
} ctl_machine;

/* A host marked inactive (P/inactive/<host>). */
typedef struct ctl_inactive_host {
    const char *host;
    int64_t timestamp;
    const char *user, *message;
} ctl_inactive_host;

typedef struct ctl_machines_in {
    const ctl_machine *agents;
    size_t n_agents;
    const ctl_machine *racks;
    size_t n_racks;
    const ctl_inactive_host *inactive;
    size_t n_inactive;
    const ctl_machines_config *config; /* NULL: defaults */
    int64_t now;                       /* epoch ms */
} ctl_machines_in;

/* ---- output ------------------------------------------------------------------ */

typedef enum {
    CTL_MACT_STATE,      /* a machine changes state (its document is in writes) */
    CTL_MACT_KILL,       /* write a cleanup for task id */
    CTL_MACT_DRAIN,      /* DRAIN_AGENT agent id (operator API) */
    CTL_MACT_REACTIVATE, /* REACTIVATE_AGENT agent id */
} ctl_mach_action_type;

typedef struct ctl_mach_action {
    ctl_mach_action_type type;
    bool rack;                /* STATE: a rack */
    char *id;                 /* machine id; KILL: task id */
    api_machine_state state;  /* STATE: the new state */
    const char *cleanup_type; /* KILL: DECOMISSIONING or DECOMMISSION_TIMEOUT (static) */
    char *user;               /* KILL: who asked; may be NULL */
    char *message;            /* why; may be NULL */
} ctl_mach_action;

typedef struct ctl_mach_write {
    bool rack;
    const char *id;      /* borrowed from the input */
    api_machine *doc;    /* owned: the whole new document */
    int64_t mod_revision; /* of the document it replaces */
} ctl_mach_write;

typedef struct ctl_machines_plan {
    size_t n_actions;
    ctl_mach_action *actions;
    size_t n_writes;
    ctl_mach_write *writes;   /* documents that changed */
    int64_t requeue_after_ms; /* > 0: plan again after this long (an expiry, a retry) */
} ctl_machines_plan;

/* Plans every agent and rack. Never fails: a document that does not decode
 * is skipped. Release *out with ctl_machines_plan_release. */
void ctl_machines_plan_run(const ctl_machines_in *in, ctl_machines_plan *out);
void ctl_machines_plan_release(ctl_machines_plan *p);

/* One action as a line for logs and fixtures:
 *   agent <id> <STATE> | rack <id> <STATE> | kill <taskId> <cleanupType> |
 *   drain <agentId> | reactivate <agentId>
 * Caller frees. */
char *ctl_mach_action_format(const ctl_mach_action *a);

/* ---- the loop ------------------------------------------------------------------ */

typedef struct ctl_machines_manager ctl_machines_manager;

typedef struct ctl_machines_manager_config {
    const char *prefix;                /* NULL: "/corral" */
    store_cache *cache;                /* the process's cache; NULL: the runner's own */
    const ctl_machines_config *plan;   /* NULL: defaults */
    const char *const *mesos_masters;  /* for DRAIN/REACTIVATE; NULL: none are sent */
    int64_t resync_ms;                 /* 0: 60 s */
    cr_log *log;
} ctl_machines_manager_config;

/* Creates a stopped loop (caller owns). base, s, http, leader and the
 * config's cache and log are borrowed; the masters are copied. */
ctl_machines_manager *ctl_machines_manager_new(struct event_base *base, store *s, cr_http *http,
                                               store_leader *leader,
                                               const ctl_machines_manager_config *cfg,
                                               cr_err *err);
int ctl_machines_manager_start(ctl_machines_manager *m, cr_err *err);
/* Stops at once (calls in flight are cancelled). NULL is a no-op. */
void ctl_machines_manager_stop(ctl_machines_manager *m);
void ctl_machines_manager_free(ctl_machines_manager *m);

typedef ctl_runner_stats ctl_machines_manager_stats;
void ctl_machines_manager_get_stats(const ctl_machines_manager *m,
                                    ctl_machines_manager_stats *out);

#endif
