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
 *  - pause kills everything and holds a rollout; bounce replaces every task
 *    of the active deploy, new before old; a missing request (deleted) kills
 *    everything and ends in DELETED with its history kept;
 *  - decommission: a task whose agent is DECOMMISSIONING (or DECOMMISSIONED)
 *    frees its slot: a replacement is launched elsewhere
 *    (DECOMISSIONED_SLAVE_OR_RACK) and the task is killed (DECOMISSIONING)
 *    only once the slot's replacement is healthy, so the request never drops
 *    below capacity (machines.h moves the agents);
 *  - cooldown: N app failures of the active deploy within a window enter
 *    SYSTEM_COOLDOWN: relaunches (not deploy launches) are delayed; a quiet
 *    period leaves it;
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
} ctl_config;

/* Singularity's defaults (values in the comments above). */
void ctl_config_defaults(ctl_config *c);

/* ---- desired state ---------------------------------------------------------- */

typedef struct ctl_request {
    const char *id;
    int instances;         /* effective `instances` (>= 1) */
    bool paused;           /* pause intent */
    int64_t bounce;        /* bounce token: a new non-zero value asks for a bounce */
    int64_t exit_cooldown; /* exit-cooldown intent time; >= cooldownSince leaves it */
    int64_t revision;      /* mod_revision of the request document */
    const char *invalid;   /* non-NULL: why the request cannot be acted on */
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
} ctl_deploy;

/* ---- observed state ------------------------------------------------------------ */

typedef enum {
    CTL_HEALTH_UNKNOWN = 0, /* no verdict yet (or no check) */
    CTL_HEALTH_HEALTHY,
    CTL_HEALTH_UNHEALTHY,
} ctl_health;

/* One pending-task document or task record of the request. */
typedef struct ctl_task {
    const char *id; /* task id, or the pending task id */
    const char *deploy_id;
    int instance;         /* >= 1 */
    bool pending;         /* a pending document (not launched yet) */
    api_task_state state; /* tasks: the last Mesos state */
    int64_t launched_at;  /* pending: createdAt; task: launchedAt */
    int64_t running_at;   /* first TASK_RUNNING; 0 = never */
    bool cleaning;        /* a kill intent (cleanup) exists */
    bool decommissioning; /* its agent is DECOMMISSIONING or DECOMMISSIONED: move it */
    ctl_health health;    /* HTTP health-check verdict */
    const char *reason;   /* Mesos reason of the last update, may be NULL */
    /* pending: why the bridge could not place it (status/pending), may be NULL */
    const char *place_reason;  /* "NOT_ENOUGH_RESOURCES", ... */
    const char *place_message; /* "needs cpus 3, largest offer has 2", may be NULL */
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
    int64_t now; /* epoch ms */
} ctl_service_in;

/* ---- output ------------------------------------------------------------------------ */

typedef enum {
    CTL_ACT_LAUNCH,  /* write a pending task */
    CTL_ACT_KILL,    /* write a cleanup (kill intent) */
    CTL_ACT_UNPEND,  /* delete a pending task that was not launched */
    CTL_ACT_ARCHIVE, /* move a terminal task record to history */
    CTL_ACT_FORGET,  /* delete the oldest history entries beyond the bound */
} ctl_action_type;

typedef struct ctl_action {
    ctl_action_type type;
    char *task_id;            /* KILL, UNPEND, ARCHIVE, FORGET */
    char *deploy_id;          /* LAUNCH */
    int instance;             /* LAUNCH */
    const char *pending_type; /* LAUNCH: PendingType name (static) */
    int64_t run_at;           /* LAUNCH: not before (nextRunAt) */
    bool skip_checks;         /* LAUNCH: skipHealthchecks (the service plan never sets it yet) */
    const char *cleanup_type; /* KILL, UNPEND: TaskCleanupType name (static) */
    char *message;            /* why, for people; may be NULL */
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
 *   archive <taskId> | forget <taskId>
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
