/* The pure core of the service/worker controller:
 *
 *     ctl_service_plan(desired, observed, now) -> actions, new status, requeue
 *
 * No I/O, no clock reads, no allocation that outlives the plan. The loop
 * (controllers.h) fills a ctl_service_in from corrald's cache,
 * calls the plan, writes the actions and changed statuses through fenced
 * etcd txns, and requeues the request after `requeue_after_ms`.
 *
 * The inputs are small views made for the plan, not the api_ documents: the
 * shell derives them (ctl_request from api_request + intents, ctl_deploy
 * from api_deploy + health-check options, ctl_task from api_pending_task /
 * api_task / api_cleanup + health results). Every string in the inputs is
 * borrowed for the duration of the call.
 *
 * Rules (docs/controllers.md has the long form, with Singularity's names):
 *  - scale: keep `instances` tasks of the active deploy; new tasks take the
 *    lowest free instance numbers, scale-down kills the highest; a task that
 *    ends is replaced (TASK_DONE);
 *  - deploy: the newest deploy that is neither active nor finished is
 *    rolled out (all at once or in steps), gated on RUNNING + healthy, with
 *    a deadline; success makes it active and retires other deploys' tasks,
 *    failure/cancel kills its tasks while the active deploy serves at full
 *    count; an older unfinished deploy becomes SUPERSEDED;
 *  - pause kills everything (or, with killTasks false, keeps the tasks and
 *    launches nothing) and holds a rollout, unless the pending deploy has
 *    unpauseOnSuccessfulDeploy (DEPLOYING_TO_UNPAUSE); bounce replaces every
 *    task of the active deploy, new before old (incremental: one slot at a
 *    time); a missing request (deleted) kills everything and ends in DELETED
 *    with its history kept;
 *  - expiring pause, bounce, scale and skip-healthchecks revert at their
 *    intent's timestamp + durationMillis (EXPIRE actions);
 *  - decommission: a task whose agent is DECOMMISSIONING (or DECOMMISSIONED)
 *    frees its slot: a replacement is launched elsewhere
 *    (DECOMISSIONED_SLAVE_OR_RACK) and the task is killed (DECOMISSIONING)
 *    only once the slot's replacement is healthy, so the request never drops
 *    below capacity (machines.h moves the agents);
 *  - cooldown: N app failures of the active deploy within a window enter
 *    SYSTEM_COOLDOWN: relaunches (not deploy launches) are delayed; a quiet
 *    period leaves it;
 *  - held tasks (issue 24; TASK_UNREACHABLE, TASK_UNKNOWN: they may still
 *    run) stay for the request's hold time: an UNREACHABLE one frees its
 *    slot (a replacement is launched), an UNKNOWN one keeps it; one that
 *    comes back RUNNING settles its slot as any duplicate (healthy first,
 *    then the older); at the end of the hold it counts as terminal;
 *  - terminal tasks are archived to history, which is bounded per request;
 *  - an invalid request gets Valid=False and nothing else happens;
 *  - invalid intents, task records, pending tasks and kill intents are not
 *    in the input at all (the shell leaves them out and names them in
 *    `ignored`: DocumentsValid=False); a pause intent that does not decode
 *    pauses nothing. */
#ifndef CTL_PLAN_H
#define CTL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/status.h"
#include "apis/task.h"

/* ---- configuration -------------------------------------------------------- */

typedef struct ctl_config {
    int cooldown_failures;           /* failures that enter cooldown (5) */
    int64_t cooldown_window_ms;      /* ... within this window (60 s) */
    int64_t cooldown_delay_ms;       /* relaunch delay in cooldown (120 s) */
    int64_t cooldown_exit_ms;        /* no failure for this long leaves it (180 s) */
    int64_t new_task_run_timeout_ms; /* launched task not RUNNING: OVERDUE_NEW_TASK (600 s) */
    size_t history_max;              /* terminal tasks kept per request (100) */
    /* Load balancing (docs/loadbalancing.md): a task taken out of the load
     * balancer is killed this long after the change that removed it. */
    int64_t lb_drain_ms; /* (5 s) */
    /* Issue 24: a task Mesos reports TASK_UNREACHABLE or TASK_UNKNOWN is held
     * this long before it is given up (600 s, Mesos' agent_reregister_timeout;
     * corrald --unreachable-timeout); a request's unreachableTimeoutSeconds
     * overrides it. */
    int64_t unreachable_timeout_ms;
} ctl_config;

/* Singularity's defaults (values in the comments above). */
void ctl_config_defaults(ctl_config *c);

/* ---- desired state ---------------------------------------------------------- */

/* Issue 20: an action that reverts when it expires (Singularity's expiring
 * actions): its intent's timestamp + durationMillis. The expiry lives in
 * etcd, so a new leader reverts it on time. */
typedef struct ctl_expiring {
    int64_t at;       /* when it expires; 0: it does not */
    int64_t revision; /* the intent's mod_revision: the revert deletes it only if unchanged */
} ctl_expiring;

typedef struct ctl_request {
    const char *id;
    int instances;         /* effective `instances` (>= 1) */
    bool paused;           /* pause intent */
    int64_t bounce;        /* bounce token: a new non-zero value asks for a bounce */
    int64_t exit_cooldown; /* exit-cooldown intent time; >= cooldownSince leaves it */
    int64_t revision;      /* mod_revision of the request document */
    const char *invalid;   /* non-NULL: why the request cannot be acted on */
    int64_t hold_ms;       /* unreachableTimeoutSeconds in ms; -1: the config's */
    /* Issue 20: Singularity's request actions (docs/controllers.md "Pause,
     * bounce and expiring actions"); all zero when absent. */
    bool pause_keeps_tasks;  /* the pause intent says killTasks: false */
    int64_t paused_at;       /* the pause intent's timestamp */
    bool bounce_incremental; /* the bounce intent says incremental */
    ctl_expiring pause_exp;  /* an expiring pause: unpause at `at` */
    ctl_expiring bounce_exp; /* an expiring bounce: cancel it at `at` */
    ctl_expiring scale_exp;  /* an expiring scale: instances back to scale_revert */
    ctl_expiring skip_exp;   /* an expiring skip-healthchecks: back to skip_revert */
    int scale_revert;        /* the scale intent's previousInstances */
    bool scale_bounce;       /* bounce after the revert (intent's bounce, bounceAfterScale) */
    bool skip_revert;        /* the skip-healthchecks intent's previous */
} ctl_request;

typedef struct ctl_deploy {
    const char *id;
    int64_t revision;          /* create_revision: a newer deploy has a larger one */
    int step_size;             /* deployInstanceCountPerStep; 0 = all at once */
    int64_t step_wait_ms;      /* deployStepWaitTimeMs */
    bool auto_advance;         /* autoAdvanceDeploySteps */
    int max_task_retries;      /* failed tasks tolerated during the rollout */
    int64_t health_timeout_ms; /* deployHealthTimeoutSeconds */
    int64_t healthy_after_ms;  /* considerHealthyAfterRunningForSeconds */
    bool http_check;           /* an HTTP check applies to this deploy's tasks */
    int64_t check_budget_ms;   /* max health-check time (ctl_hc_budget_ms) */
    bool cancel;               /* a cancel intent exists */
    int target_override;       /* update intent's targetActiveInstances; 0 = none */
    const char *invalid;       /* non-NULL: why the deploy cannot be used */
    /* Issue 20: its submit intent's unpauseOnSuccessfulDeploy (a paused
     * request is DEPLOYING_TO_UNPAUSE while it rolls out, unpaused when it
     * succeeds) and whether it carries an updatedRequest (written as the
     * request when it succeeds). */
    bool unpause_on_success;
    bool updates_request;
} ctl_deploy;

/* ---- observed state ------------------------------------------------------------ */

typedef enum {
    CTL_HEALTH_UNKNOWN = 0, /* no verdict yet (or no check) */
    CTL_HEALTH_HEALTHY,
    CTL_HEALTH_UNHEALTHY,
} ctl_health;

/* One pending-task document or task record of the request. */
/* Where a task stands in its request's load balancer (status/lb/<r>,
 * written by the LB loop, controllers/lb.h). */
typedef enum {
    CTL_LB_NONE = 0, /* never added (or long gone): a kill goes at once */
    CTL_LB_IN,       /* served by the load balancer: a kill waits for its removal */
    CTL_LB_OUT,      /* removed at lb_removed_at: a kill waits for the drain */
} ctl_lb;

typedef struct ctl_task {
    const char *id; /* task id, or the pending task id */
    const char *deploy_id;
    int instance;         /* >= 1 */
    bool pending;         /* a pending document (not launched yet) */
    api_task_state state; /* tasks: the last Mesos state */
    int64_t launched_at;  /* pending: createdAt; task: launchedAt */
    int64_t running_at;   /* first TASK_RUNNING; 0 = never */
    bool cleaning;        /* a kill intent (cleanup) exists */
    /* The kill intent's cleanupType and mod_revision (NULL, 0: none, or
     * only an LB cleanup): a kill the plan decided that could not reach a
     * task before its agent was lost is withdrawn (CTL_ACT_WITHDRAW). */
    const char *cleanup_type;
    const char *cleanup_user; /* who wrote it: only "corral"'s kills are withdrawn */
    int64_t cleanup_revision;
    int64_t cleanup_at; /* the intent's timestamp (ms): a make-room kill still
                           RUNNING well after it did not reach its task */
    bool decommissioning; /* its agent is DECOMMISSIONING or DECOMMISSIONED: move it */
    ctl_health health;    /* HTTP health-check verdict */
    const char *reason;   /* Mesos reason of the last update, may be NULL */
    const char *message;  /* Mesos message of the last update, may be NULL */
    int64_t held_since;   /* UNREACHABLE/UNKNOWN: since when (api_task_held_since) */
    /* pending: why the bridge could not place it (status/pending), may be NULL */
    const char *place_reason;  /* "NOT_ENOUGH_RESOURCES", ... */
    const char *place_message; /* "needs cpus 3, largest offer has 2", may be NULL */
    /* Load balancing: kills of a task the load balancer may still send
     * traffic to wait (an LB cleanup, lbcleanups/<r>/<t>) until it is out
     * and drained; only then is the kill intent written. */
    ctl_lb lb;
    int64_t lb_removed_at;    /* CTL_LB_OUT: when the removal was applied */
    const char *lb_kill_type; /* an LB cleanup waits (its cleanupType); `cleaning`
                                 is set too, so the task is already going */
} ctl_task;

typedef struct ctl_service_in {
    const char *request_id;
    const ctl_request *request; /* NULL: the request document is gone (delete) */
    const ctl_deploy *deploys;
    size_t n_deploys;
    const ctl_task *tasks;
    size_t n_tasks;
    const api_request_status *status; /* last written; NULL: none */
    const api_deploy_status *deploy_status;
    size_t n_deploy_status;
    const char *const *history; /* archived task ids, oldest first */
    size_t n_history;
    /* The request's documents the shell skipped as invalid (intents, task
     * records, ...: ctl_ignored_message, runner.h), or NULL: none. */
    const char *ignored;
    const ctl_config *config;
    int64_t now;      /* epoch ms */
    bool unconfirmed; /* task states not yet confirmed by Mesos (a new leader):
                       * no kill that rests on another task's state */
} ctl_service_in;

/* ---- output ------------------------------------------------------------------------ */

typedef enum {
    CTL_ACT_LAUNCH,  /* write a pending task */
    CTL_ACT_KILL,    /* write a cleanup (kill intent) */
    CTL_ACT_UNPEND,  /* delete a pending task that was not launched */
    CTL_ACT_ARCHIVE, /* move a terminal task record to history */
    CTL_ACT_FORGET,  /* delete the oldest history entries beyond the bound */
    CTL_ACT_LB_KILL, /* write an LB cleanup: kill once out of the LB and drained */
    /* Issue 20: writes to the request's own documents. */
    CTL_ACT_EXPIRE,        /* an expiring action ended: revert it, delete its intent */
    CTL_ACT_UNPAUSE,       /* a deploy with unpauseOnSuccessfulDeploy succeeded */
    CTL_ACT_APPLY_REQUEST, /* a deploy with updatedRequest succeeded: write it */
    /* Issue 21: delete the kill intent of a task that became unreachable
     * before the kill reached it; it is planned again once it is back. */
    CTL_ACT_WITHDRAW,
} ctl_action_type;

typedef struct ctl_action {
    ctl_action_type type;
    char *task_id;            /* KILL, UNPEND, ARCHIVE, FORGET, WITHDRAW */
    char *deploy_id;          /* LAUNCH */
    int instance;             /* LAUNCH */
    const char *pending_type; /* LAUNCH: PendingType name (static) */
    int64_t run_at;           /* LAUNCH: not before (nextRunAt) */
    bool skip_checks;         /* LAUNCH: skipHealthchecks (the service plan never sets it yet) */
    const char *cleanup_type; /* KILL, UNPEND: TaskCleanupType name (static) */
    char *message;            /* why, for people; may be NULL */
    bool lb_cleanup;          /* KILL, ARCHIVE: the task's LB cleanup goes too;
                                 WITHDRAW: it is the LB cleanup that goes */
    /* EXPIRE: the intent's kind (API_INTENT_SCALE, ...: static) and
     * mod_revision; UNPAUSE: the pause intent's mod_revision; WITHDRAW:
     * the kill intent's mod_revision. */
    const char *intent;
    int64_t intent_revision;
    int revert_instances; /* EXPIRE scale: the request's instances again */
    bool revert_skip;     /* EXPIRE skip-healthchecks: its skipHealthchecks again */
    bool then_bounce;     /* EXPIRE scale: write a bounce intent too */
} ctl_action;

typedef struct ctl_deploy_out {
    api_deploy_status status;
    bool changed; /* differs from the input (write it) */
} ctl_deploy_out;

typedef struct ctl_plan {
    size_t n_actions;
    ctl_action *actions;
    api_request_status status; /* the new request status */
    bool status_changed;       /* differs from the input (write it) */
    size_t n_deploys;
    ctl_deploy_out *deploys;  /* every deploy status, input order then new ones */
    int64_t requeue_after_ms; /* > 0: plan again after this long */
} ctl_plan;

/* Plans one SERVICE or WORKER request. Fills *out (caller releases it with
 * ctl_plan_release). Never fails: bad input shows up as conditions. */
void ctl_service_plan(const ctl_service_in *in, ctl_plan *out);

void ctl_plan_release(ctl_plan *p);

/* One action as a line for logs and fixtures, relative to `now`:
 *   launch <deployId> <instance> <pendingType>[ delay=<ms>][ skipChecks]
 *   kill <taskId> <cleanupType> | unpend <pendingTaskId> <cleanupType>
 *   archive <taskId> | forget <taskId> | lbkill <taskId> <cleanupType>
 *   expire <intent>[ instances=<n>][ skipHealthchecks=<bool>][ bounce]
 *   unpause | apply-request <deployId> | withdraw <taskId> <cleanupType>
 * Caller frees. */
char *ctl_action_format(const ctl_action *a, int64_t now);

/* Borrowed deploy status of `deploy_id` in the plan, or NULL. */
const api_deploy_status *ctl_plan_deploy_status(const ctl_plan *p, const char *deploy_id);

/* Sets the DocumentsValid condition: False ("InvalidDocuments", message
 * `ignored`) while some documents of the request are ignored as invalid,
 * True ("AllDocumentsValid") once none are; left absent while no document
 * ever was. Both plans call it. */
void ctl_documents_condition(api_conditions *cs, const char *ignored, int64_t now);

/* True for the task states that count as the application failing (FAILED,
 * ERROR, and FINISHED of a long-running task); losses caused by the cluster
 * (LOST, GONE, UNREACHABLE, DROPPED, ...) and kills are not. */
bool ctl_task_app_failure(api_task_state s);

#endif
