/* The pure core of the jobs controller (SCHEDULED, ON_DEMAND, RUN_ONCE):
 *
 *     ctl_jobs_plan(desired, observed, now) -> actions, new statuses, requeue
 *
 * Same contract as the service plan (controllers/plan.h): no I/O, no clock,
 * every string of the input borrowed for the call; the I/O shell builds the
 * input from its caches and performs the output. Actions reuse ctl_action
 * (LAUNCH = write a pending task, KILL = write a cleanup, UNPEND = delete a
 * pending task, ARCHIVE = move a terminal task record to history) with the
 * extra fields a job launch needs (run id, args, env, resources).
 *
 * Documents (docs/jobs.md has the long form):
 *   /corral/runs/<requestId>/<runId>          run-now / on-demand run (user;
 *                                             Singularity's SingularityRunNowRequest)
 *   /corral/status/jobs/<requestId>           api_job_status (leader)
 *   /corral/status/runs/<requestId>/<runId>   api_run_status (leader)
 * plus the request status and deploy statuses, all in apis/status.h; run
 * documents are api_run (apis/run.h).
 *
 * Exactly-once firing across leader changes rests on one rule for the shell:
 * the actions and the job status of one plan are written in ONE txn that
 * compares the job status key's mod_revision with the one the plan read (and
 * the leader key, as every controller write). The persisted `nextFireAt` is
 * then either still due (nothing was written: the new leader fires it) or
 * already advanced together with the pending task (nothing to fire).
 *
 * Rules:
 *  - SCHEDULED: `nextFireAt` is computed from the schedule when the status is
 *    new or the schedule (or its zone) changed: the first fire after now. A
 *    due fire launches one task (pendingType TASK_DONE, nextRunAt = the fire
 *    time) unless a task of the request is live (pending or not terminal):
 *    then the fire is skipped ("Overlap": runs never overlap, the next run
 *    is the next fire after the live task ends). Fire times that passed
 *    while no leader ran collapse into one run; with `startingDeadlineMillis`
 *    a fire older than the deadline is skipped instead ("DeadlineExceeded").
 *    `waitAtLeastMillisAfterTaskFinishesForReschedule` holds a due fire until
 *    that long after the last task ended. A schedule with no further fire
 *    time leaves the request FINISHED. Paused: due fires are skipped
 *    ("Paused") and live tasks killed (PAUSE).
 *  - Retries: a failed task (FAILED, ERROR, or FINISHED with a non-zero
 *    exit code) is relaunched at once (RETRY, same run id, args, env,
 *    resources) while fewer than `numRetriesOnFailure` retries were made for
 *    this run. Never retried: killed tasks (TASK_KILLED is always deliberate:
 *    a user, a pause, a deletion or the time limit), tasks marked
 *    user_killed, run-now tasks of a SCHEDULED request (IMMEDIATE) and
 *    RUN_ONCE tasks. A task lost by the cluster (LOST,
 *    GONE, GONE_BY_OPERATOR, DROPPED) is relaunched without counting a
 *    retry (TASK_RECOVERED), as Singularity does for non-long-running tasks.
 *    UNREACHABLE and UNKNOWN tasks are held (the run waits) until they come
 *    back or their hold ends (config.unreachable_timeout_ms): then lost.
 *  - `taskExecutionTimeLimitMillis`: a task live that long since its launch
 *    gets a TASK_EXCEEDED_TIME_LIMIT cleanup.
 *  - Deploys of SCHEDULED and ON_DEMAND requests succeed at once and kill
 *    nothing; the newest valid deploy is active and launches use it.
 *  - ON_DEMAND: run documents are launched (ONEOFF) oldest first once their
 *    `runAt` has come, while fewer than `instances` tasks are live (and fewer
 *    than config.max_on_demand_tasks if set); the others stay QUEUED. A
 *    SCHEDULED request also takes run documents (IMMEDIATE), one at a time
 *    and never beside another task. Other request types reject them.
 *  - RUN_ONCE: every valid deploy launches exactly one task (NEW_DEPLOY);
 *    the deploy is SUCCEEDED once it did; its task is never restarted.
 *    Tasks of successive deploys may run side by side.
 *  - Terminal tasks are archived; their outcome is kept in the job status
 *    (`lastRun`) and, for runs, in the run status. History is bounded: the
 *    oldest archived tasks beyond config.history_max are forgotten (FORGET).
 *    A missing request (deleted) kills everything (REQUEST_DELETING). */
#ifndef CTL_JOBS_H
#define CTL_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "apis/request.h"
#include "apis/run.h"
#include "apis/schedule.h"
#include "apis/status.h"
#include "apis/task.h"
#include "controllers/plan.h"
#include "controllers/runner.h"
#include "controllers/view.h"
#include "base/cr_hist.h"
#include "base/log.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

/* ---- configuration -------------------------------------------------------- */

typedef struct ctl_jobs_config {
    int max_on_demand_tasks; /* maxActiveOnDemandTasksPerRequest; 0 = unlimited */
    size_t history_max;      /* archived tasks kept per request; 0 = 100 */
    /* Hold of a task Mesos reports TASK_UNREACHABLE or TASK_UNKNOWN (it may
     * come back): 0 = 600 s, < 0 = not held; a request's
     * unreachableTimeoutSeconds wins. While held the run waits (a job never
     * runs twice at once); once the hold ends the task counts as lost
     * (relaunched as TASK_RECOVERED, no retry counted). */
    int64_t unreachable_timeout_ms;
} ctl_jobs_config;

/* ---- desired state ---------------------------------------------------------- */

typedef struct ctl_jobs_request {
    const char *id;
    api_request_type type;        /* SCHEDULED, ON_DEMAND or RUN_ONCE */
    int instances;                /* effective; ON_DEMAND: concurrency cap */
    int num_retries;              /* numRetriesOnFailure (0 = none) */
    int64_t wait_after_finish_ms; /* waitAtLeastMillisAfterTaskFinishesForReschedule */
    int64_t time_limit_ms;        /* taskExecutionTimeLimitMillis; 0 = none */
    int64_t starting_deadline_ms; /* Corral startingDeadlineMillis; 0 = run late fires */
    int64_t hold_ms;              /* unreachableTimeoutSeconds in ms; -1 = the config's */
    const api_schedule *schedule; /* SCHEDULED: parsed at the edge */
    bool paused;
    int64_t revision;    /* mod_revision of the request document */
    const char *invalid; /* non-NULL: why it cannot be acted on
                            (e.g. the schedule's parse error) */
} ctl_jobs_request;

typedef struct ctl_jobs_deploy {
    const char *id;
    int64_t revision;    /* create_revision: the newest deploy has the largest */
    const char *invalid; /* non-NULL: why it cannot be used */
} ctl_jobs_deploy;

/* A run document: /corral/runs/<requestId>/<runId>. */
typedef struct ctl_jobs_run {
    const char *id;                      /* runId */
    int64_t revision;                    /* create_revision: queue order */
    int64_t run_at;                      /* "runAt": not before; 0 = at once */
    const api_strlist *args;             /* "commandLineArgs"; may be NULL */
    const api_strmap *env;               /* "envOverrides"; may be NULL */
    const api_task_resources *resources; /* "resources"; NULL = the deploy's */
    const char *user;                    /* who asked; may be NULL */
    const char *message;                 /* may be NULL */
    const char *run_as_user;             /* "runAsUserOverride"; may be NULL */
    const api_strmap *required_attrs;    /* "requiredAgentAttributeOverrides"; may be NULL */
    const api_strmap *allowed_attrs;     /* "allowedAgentAttributeOverrides"; may be NULL */
    bool skip_healthchecks;
} ctl_jobs_run;

/* ---- observed state ------------------------------------------------------------ */

/* One pending-task document or task record of the request. */
typedef struct ctl_jobs_task {
    const char *id; /* task id, or pending task id */
    const char *deploy_id;
    int instance;         /* >= 1 */
    bool pending;         /* a pending document (not launched yet) */
    api_task_state state; /* tasks: last Mesos state */
    int64_t launched_at;  /* pending: createdAt; task: launchedAt */
    int64_t running_at;   /* first TASK_RUNNING; 0 = never */
    int64_t finished_at;  /* terminal: time of the terminal update */
    int64_t held_since;   /* UNREACHABLE/UNKNOWN: since when (api_task_held_since) */
    bool cleaning;        /* a cleanup (kill intent) exists */
    bool user_killed;     /* a user's kill intent was seen: never retried */
    bool has_exit_code;
    int exit_code;
    const char *message;          /* last status message; may be NULL */
    const char *pending_type;     /* PendingType it was launched with */
    int64_t run_at;               /* the pending id's nextRunAt (fire time) */
    const char *run_id;           /* run it belongs to; NULL for scheduled fires */
    const api_pending_task *spec; /* what was asked (args, env, resources,
                                     user): repeated by a retry; may be NULL */
} ctl_jobs_task;

typedef struct ctl_jobs_in {
    const char *request_id;
    const ctl_jobs_request *request; /* NULL: the request document is gone */
    const ctl_jobs_deploy *deploys;
    size_t n_deploys;
    const ctl_jobs_task *tasks;
    size_t n_tasks;
    const ctl_jobs_run *runs;
    size_t n_runs;
    const api_request_status *status; /* last written; NULL: none */
    const api_deploy_status *deploy_status;
    size_t n_deploy_status;
    const api_job_status *job; /* last written; NULL: none */
    const api_run_status *run_status;
    size_t n_run_status;
    const char *const *history; /* archived task ids, oldest first */
    size_t n_history;
    /* The request's documents the shell skipped as invalid (intents, runs,
     * task records, ...: ctl_ignored_message), or NULL: DocumentsValid. */
    const char *ignored;
    const ctl_jobs_config *config; /* NULL: defaults */
    int64_t now;                   /* epoch ms */
} ctl_jobs_in;

/* ---- output ------------------------------------------------------------------------ */

typedef struct ctl_jobs_action {
    ctl_action a;                        /* type, task_id, deploy_id, instance, pending_type,
                                            run_at, skip_checks, cleanup_type, message */
    int64_t created_at;                  /* LAUNCH: createdAt of the pending task id */
    const char *run_id;                  /* LAUNCH: borrowed from the input; may be NULL */
    const api_strlist *args;             /* LAUNCH: borrowed; may be NULL */
    const api_strmap *env;               /* LAUNCH: borrowed; may be NULL */
    const api_task_resources *resources; /* LAUNCH: borrowed; may be NULL */
    const char *user;                    /* LAUNCH: borrowed; may be NULL */
    const char *run_as_user;             /* LAUNCH: borrowed; may be NULL */
    const api_strmap *required_attrs;    /* LAUNCH: borrowed; may be NULL */
    const api_strmap *allowed_attrs;     /* LAUNCH: borrowed; may be NULL */
} ctl_jobs_action;

typedef struct ctl_jobs_run_out {
    api_run_status status;
    bool changed;
} ctl_jobs_run_out;

typedef struct ctl_jobs_plan_out {
    size_t n_actions;
    ctl_jobs_action *actions;
    api_request_status status; /* new request status */
    bool status_changed;
    size_t n_deploys;
    ctl_deploy_out *deploys; /* every deploy status, input order then new ones */
    api_job_status job;      /* new job status */
    bool job_changed;
    size_t n_runs;
    ctl_jobs_run_out *runs;   /* every run status, input order then new ones */
    int64_t requeue_after_ms; /* > 0: plan again after this long */
} ctl_jobs_plan_out;

/* Plans one job request. Fills *out (caller releases it with
 * ctl_jobs_plan_release; it borrows strings and lists of `in`, so release it
 * before `in` goes away). Never fails: bad input shows up as a Valid=False
 * condition. */
void ctl_jobs_plan(const ctl_jobs_in *in, ctl_jobs_plan_out *out);
void ctl_jobs_plan_release(ctl_jobs_plan_out *p);

/* One action as a line for logs and fixtures:
 *   launch <deployId> <instance> <pendingType> at=<runAt>[ run=<runId>][ args=a,b]
 *   kill <taskId> <cleanupType> | unpend <pendingTaskId> <cleanupType>
 *   archive <taskId> | forget <taskId>
 * Caller frees. */
char *ctl_jobs_action_format(const ctl_jobs_action *a);

/* Builds the pending-task document of a LAUNCH action of request_id (ids
 * validated by api_pending_task_id_init). Caller frees with
 * api_pending_task_free; NULL with err set if an id is invalid. */
api_pending_task *ctl_jobs_pending_task(const char *request_id, const ctl_jobs_action *a,
                                        cr_err *err);

/* Key helpers (prefix e.g. "/corral"). Caller frees. Thin callers of
 * api_key_job_status, api_key_run_status and api_key_run (apis/keys.h). */
char *ctl_jobs_status_key(const char *prefix, const char *request_id);
char *ctl_jobs_run_status_key(const char *prefix, const char *request_id, const char *run_id);
char *ctl_jobs_run_key(const char *prefix, const char *request_id, const char *run_id);

/* ---- views and writes (controllers/jobs_view.c) --------------------------------
 * The edge between documents and the plan, still without I/O, for the
 * manager that will run this plan (the counterpart of view.h). Views borrow
 * from the documents: keep them alive while the view is used. */

/* Fills *out from run document d (api_run, apis/run.h) stored under
 * run_id (the key's last part, which wins over a runId field) at
 * create_revision. */
void ctl_jobs_run_view(const api_run *d, const char *run_id, int64_t create_revision,
                       ctl_jobs_run *out);

/* Fills *out from request r (NULL: undecodable; `invalid` says why and must
 * not be NULL). sched is r's parsed schedule (api_schedule_for_request) or
 * NULL; a SCHEDULED request without one is invalid with sched_error (or a
 * generic reason). paused: a pause intent exists. Non-job request types
 * are invalid ("not a SCHEDULED, ON_DEMAND or RUN_ONCE request").
 * startingDeadlineSeconds comes from the request's Corral field of that name. */
void ctl_jobs_request_view(const api_request *r, const char *invalid, int64_t revision, bool paused,
                           const api_schedule *sched, const char *sched_error,
                           ctl_jobs_request *out);

/* A pending task's view (borrows from p). */
void ctl_jobs_pending_view(const api_pending_task *p, ctl_jobs_task *out);

/* A task record's view (borrows from t). cleanup: its kill intent, or NULL;
 * a USER_REQUESTED* cleanup marks the task user_killed. finished_at is the
 * time of its terminal update. */
void ctl_jobs_task_view(const api_task *t, const api_cleanup *cleanup, ctl_jobs_task *out);

/* Appends to *ops the etcd operations of plan p (see ctl_plan_ops for the
 * action mapping; LAUNCH documents come from ctl_jobs_pending_task). The
 * launches, the archives and the changed job and run statuses go into ONE
 * group (one txn), in which the job status write compares the job status
 * key's mod_revision with job_mod_revision (the one the plan read; 0 = it
 * must not exist yet): a plan made from a stale view commits nothing of
 * it, so a fire is launched exactly once and an outcome recorded once. The
 * plan bounds a pass (16 launches, 16 ended tasks) so that group stays
 * below STORE_MAX_TXN_OPS. Kills, unpends and the request and deploy
 * statuses, idempotent on their own, follow in groups of one. Returns -1
 * with err set (nothing appended) if an id does not parse. */
int ctl_jobs_plan_ops(const char *prefix, const char *request_id, const ctl_jobs_plan_out *p,
                      const ctl_doc_lookup *look, int64_t job_mod_revision, int64_t now,
                      ctl_ops *ops, cr_err *err);

/* ---- the manager (controllers/jobs_loop.c) ----------------------------------
 * The jobs loop, run by the leading corrald beside ctl_manager (which
 * leaves job requests to it) in the shared runner (runner.h): one pass per
 * request id reads the process's cache (views -> ctl_jobs_plan ->
 * ctl_jobs_plan_ops); the runner queues, writes fenced and batched, backs
 * off, and waits for its own writes before the next pass.
 * Parsed schedules are cached per request (a zone file is read when the
 * schedule, its type or its zone changes).
 *
 * Lifecycle (corrald), as ctl_manager:
 *     m = ctl_jobs_manager_new(base, store, leader, &cfg, &err);
 *     on_elected: ctl_jobs_manager_start(m, &err);
 *     on_lost:    ctl_jobs_manager_stop(m);
 *     at exit:    ctl_jobs_manager_free(m); */

struct event_base;

typedef struct ctl_jobs_manager ctl_jobs_manager;

typedef struct ctl_jobs_manager_config {
    const char *prefix;          /* NULL = "/corral" */
    store_cache *cache;          /* the process's cache (borrowed); NULL: own list+watch */
    const ctl_jobs_config *plan; /* NULL = defaults */
    int max_inflight;            /* requests reconciled at once; 0 = 64 */
    int64_t resync_ms;           /* re-plan every request this often; 0 = 60 s, -1 = never */
    cr_log *log;                 /* borrowed; may be NULL */
} ctl_jobs_manager_config;

/* A stopped manager; base, s, leader and log are borrowed and must outlive
 * it; cfg is copied. NULL with err set on bad config. */
ctl_jobs_manager *ctl_jobs_manager_new(struct event_base *base, store *s, store_leader *leader,
                                       const ctl_jobs_manager_config *cfg, cr_err *err);
/* Starts the loop; passes begin once the cache has synced (without a cache
 * in the config, its own list+watch). Idempotent. -1 with err if that list
 * cannot be sent. */
int ctl_jobs_manager_start(ctl_jobs_manager *m, cr_err *err);
/* Stops at once (no write is sent afterwards; one in flight is harmless
 * behind the fence). Idempotent. */
void ctl_jobs_manager_stop(ctl_jobs_manager *m);
/* Stops and frees; NULL is a no-op. */
void ctl_jobs_manager_free(ctl_jobs_manager *m);

/* The runner's figures (runner.h). */
typedef ctl_runner_stats ctl_jobs_manager_stats;

void ctl_jobs_manager_get_stats(const ctl_jobs_manager *m, ctl_jobs_manager_stats *out);

#endif
