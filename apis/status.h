/* Observed state the leader writes (DESIGN.md section 3):
 *
 *   /corral/status/requests/<requestId>               api_request_status
 *   /corral/status/deploys/<requestId>/<deployId>     api_deploy_status
 *   /corral/status/jobs/<requestId>                   api_job_status
 *   /corral/status/runs/<requestId>/<runId>           api_run_status
 *   /corral/status/pending/<requestId>/<pendingTaskId> api_place_reason
 *
 * Only the leader writes these keys (fenced txns); users and the API read
 * them. All are plain JSON objects with Singularity-style camelCase names.
 * Timestamps are epoch milliseconds (JSON integers), as in apis/task.h.
 *
 * Conditions follow the Kubernetes rules (reference/controller-pattern.md
 * 2.6): a list keyed by `type`, `status` "True" | "False" | "Unknown", a
 * CamelCase `reason`, a free-text `message` and `lastTransitionTime`, which
 * changes only when `status` does. The condition types Corral's controllers
 * use are listed below (API_COND_*).
 *
 * Ownership follows apis/common.h: each struct owns every pointer in it and
 * *_release frees them (the struct itself is not freed). Zeroed structs are
 * valid empty values, except that the jobs documents' task state is unset
 * at -1 (API_TASK_STATE_NONE): start those with *_init. Decoders accept
 * what the encoders write and reject anything else with a problem per field
 * path; unknown fields are not errors (the writer may be a newer leader):
 * the request and deploy statuses drop them, the others keep them. */
#ifndef API_STATUS_H
#define API_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "apis/task.h"

/* ---- request state (Singularity RequestState, sheet 1.3) ------------------ */
typedef enum {
    API_RSTATE_UNSET = 0,
    API_RSTATE_ACTIVE,
    API_RSTATE_SYSTEM_COOLDOWN,
    API_RSTATE_PAUSED,
    API_RSTATE_DEPLOYING_TO_UNPAUSE,
    API_RSTATE_FINISHED,
    API_RSTATE_DELETING,
    API_RSTATE_DELETED,
} api_request_state;

/* "ACTIVE" etc.; NULL for UNSET or out of range. */
const char *api_request_state_name(api_request_state s);
/* API_RSTATE_UNSET if s is not a known name. */
api_request_state api_request_state_parse(const char *s);

/* ---- deploy state (Singularity DeployState, sheet 3.5, plus SUPERSEDED) ---- */
typedef enum {
    API_DSTATE_UNSET = 0,
    API_DSTATE_WAITING,   /* rolling out (non-terminal) */
    API_DSTATE_CANCELING, /* non-terminal; kept for Singularity compatibility */
    API_DSTATE_SUCCEEDED,
    API_DSTATE_FAILED,
    API_DSTATE_CANCELED,
    API_DSTATE_OVERDUE,
    API_DSTATE_FAILED_INTERNAL_STATE,
    API_DSTATE_SUPERSEDED, /* Corral: a newer deploy replaced it unfinished */
} api_deploy_state;

const char *api_deploy_state_name(api_deploy_state s);
api_deploy_state api_deploy_state_parse(const char *s);
/* Every state but UNSET, WAITING and CANCELING. */
bool api_deploy_state_terminal(api_deploy_state s);
/* FAILED, OVERDUE, FAILED_INTERNAL_STATE. */
bool api_deploy_state_failed(api_deploy_state s);

/* ---- deploy failure reasons (SingularityDeployFailureReason, sheet 3.5) --- */
typedef enum {
    API_DFAIL_UNSET = 0,
    API_DFAIL_TASK_FAILED_ON_STARTUP,
    API_DFAIL_TASK_FAILED_HEALTH_CHECKS,
    API_DFAIL_TASK_COULD_NOT_BE_SCHEDULED,
    API_DFAIL_TASK_NEVER_ENTERED_RUNNING,
    API_DFAIL_TASK_EXPECTED_RUNNING_FINISHED,
    API_DFAIL_DEPLOY_CANCELLED,
    API_DFAIL_DEPLOY_OVERDUE,
    API_DFAIL_FAILED_TO_SAVE_DEPLOY_STATE,
    API_DFAIL_LOAD_BALANCER_UPDATE_FAILED,
    API_DFAIL_PENDING_DEPLOY_REMOVED,
} api_deploy_failure_reason;

const char *api_deploy_failure_reason_name(api_deploy_failure_reason r);
api_deploy_failure_reason api_deploy_failure_reason_parse(const char *s);

/* ---- conditions ----------------------------------------------------------- */

/* Condition types of a request status. */
#define API_COND_VALID        "Valid" /* the request and its newest deploy are usable */
#define API_COND_READY        "Ready" /* summary: `instances` healthy tasks of the active deploy */
#define API_COND_PROGRESSING  "Progressing" /* a deploy is rolling out */
#define API_COND_COOLING_DOWN "CoolingDown" /* SYSTEM_COOLDOWN (crash loop) */
#define API_COND_BOUNCING     "Bouncing"    /* a bounce is replacing tasks */
/* False: some of the request's other documents (intents, runs, task records,
 * pending tasks, kill intents, ...) are invalid and ignored; the message
 * says which keys and why. Absent until the first one. */
#define API_COND_DOCUMENTS_VALID "DocumentsValid"

typedef enum {
    API_COND_UNKNOWN = 0,
    API_COND_TRUE,
    API_COND_FALSE,
} api_cond_status;

const char *api_cond_status_name(api_cond_status s); /* "True", "False", "Unknown" */

typedef struct api_condition {
    char *type;                 /* "type" */
    api_cond_status status;     /* "status" */
    char *reason;               /* "reason": CamelCase */
    char *message;              /* "message" */
    int64_t lastTransitionTime; /* "lastTransitionTime", epoch ms */
} api_condition;

typedef struct api_conditions {
    size_t n;
    api_condition *v;
} api_conditions;

/* Kubernetes' SetStatusCondition: finds the entry of `type`; appends it with
 * lastTransitionTime = now if absent; if status differs, updates it and the
 * time; reason and message update without touching the time. Returns true if
 * anything changed. reason and message may be NULL (stored as absent). */
bool api_conditions_set(api_conditions *cs, const char *type, api_cond_status status,
                        const char *reason, const char *message, int64_t now);
/* Borrowed entry of `type` or NULL. */
const api_condition *api_conditions_get(const api_conditions *cs, const char *type);
void api_conditions_copy(api_conditions *dst, const api_conditions *src);
void api_conditions_release(api_conditions *cs);
/* The list as JSON (caller owns), for status documents outside this file
 * (apis/source.h). */
json_t *api_conditions_to_json(const api_conditions *cs);
/* Appends the entries of obj's "conditions" list (absent: none) to *out;
 * problems at prefix.conditions[i]. Returns the number of problems added. */
size_t api_conditions_from_json(const json_t *obj, const char *prefix, api_conditions *out,
                                api_problems *probs);

/* ---- request status: /corral/status/requests/<requestId> ------------------ */

/* Task counts of a request, as last planned. */
typedef struct api_task_counts {
    int instances; /* "instances": desired (0 while paused or deleting) */
    int pending;   /* "pending": pending-task documents (waiting for an offer) */
    int launching; /* "launching": launched, not yet TASK_RUNNING */
    int running;   /* "running": TASK_RUNNING */
    int healthy;   /* "healthy": running and healthy, of the active deploy */
    int cleaning;  /* "cleaning": live tasks with a kill intent */
} api_task_counts;

/* One recent failure of the active deploy (cooldown bookkeeping). */
typedef struct api_failure_mark {
    char *taskId; /* "taskId" */
    int64_t at;   /* "at", epoch ms */
} api_failure_mark;

/* A new field goes into api_request_status_equal too (it compares field by
 * field). */
typedef struct api_request_status {
    char *requestId;           /* "requestId" */
    api_request_state state;   /* "state" */
    char *activeDeployId;      /* "activeDeployId"; NULL: none yet */
    char *pendingDeployId;     /* "pendingDeployId"; NULL: none */
    int64_t observedRevision;  /* "observedRevision": mod_revision of the request acted on */
    api_task_counts counts;    /* "counts" */
    api_conditions conditions; /* "conditions" */
    int64_t cooldownSince;     /* "cooldownSince": entered SYSTEM_COOLDOWN at; 0 = not */
    size_t n_recentFailures;
    api_failure_mark *recentFailures; /* "recentFailures", oldest first, bounded */
    int64_t
        bounceRequested; /* "bounceRequested": the request's bounce token being acted on; 0 none */
    int64_t bounceStartedAt; /* "bounceStartedAt": controller time the bounce began; 0 none */
    int64_t lastBounce;      /* "lastBounce": token of the last completed bounce */
    int64_t updatedAt;       /* "updatedAt": when this status last changed */
} api_request_status;

/* Decodes j into *out (zeroed first; caller releases it even on failure).
 * Returns the number of problems appended to probs (paths under `prefix`,
 * may be NULL). */
size_t api_request_status_from_json(const json_t *j, api_request_status *out, const char *prefix,
                                    api_problems *probs);
/* Canonical JSON (fixed key order, absent ids omitted). Caller owns. */
json_t *api_request_status_to_json(const api_request_status *s);
void api_request_status_copy(api_request_status *dst, const api_request_status *src);
/* True if both encode to the same JSON. updatedAt is ignored, so that a
 * status write can be skipped when nothing else changed. */
bool api_request_status_equal(const api_request_status *a, const api_request_status *b);
void api_request_status_release(api_request_status *s);

/* ---- deploy status: /corral/status/deploys/<requestId>/<deployId> --------- */

/* Why a deploy failed, per task (SingularityDeployFailure). */
typedef struct api_deploy_failure {
    api_deploy_failure_reason reason; /* "reason" */
    char *taskId;                     /* "taskId"; NULL for deploy-wide failures */
    char *message;                    /* "message" */
} api_deploy_failure;

typedef struct api_deploy_status {
    char *requestId;        /* "requestId" */
    char *deployId;         /* "deployId" */
    api_deploy_state state; /* "state" */
    char *message;          /* "message": what is happening or why it ended */
    int64_t startedAt;      /* "startedAt": rollout began (controller time) */
    int64_t finishedAt;     /* "finishedAt": reached a terminal state; 0 if not */
    /* Progress (SingularityDeployProgress). */
    int targetActiveInstances; /* "targetActiveInstances": instances of the current step */
    int acceptedInstances;     /* "acceptedInstances": instances of steps already accepted */
    int step;                  /* "step": 1-based number of the current step */
    int64_t stepStartedAt;     /* "stepStartedAt": deadline base of the step; 0 = held */
    int64_t stepHealthyAt;     /* "stepHealthyAt": step's tasks all healthy at; 0 = not yet */
    int healthyTasks;          /* "healthyTasks": healthy tasks of this deploy */
    size_t n_failures;
    api_deploy_failure *failures; /* "failures": failed tasks (retried or fatal), bounded */
    int64_t updatedAt;            /* "updatedAt" */
} api_deploy_status;

size_t api_deploy_status_from_json(const json_t *j, api_deploy_status *out, const char *prefix,
                                   api_problems *probs);
json_t *api_deploy_status_to_json(const api_deploy_status *s);
void api_deploy_status_copy(api_deploy_status *dst, const api_deploy_status *src);
/* Equality ignoring updatedAt (see api_request_status_equal). */
bool api_deploy_status_equal(const api_deploy_status *a, const api_deploy_status *b);
/* Appends a failure (copies strings); a second failure for the same taskId
 * is ignored. Returns true if added. */
bool api_deploy_status_add_failure(api_deploy_status *s, api_deploy_failure_reason reason,
                                   const char *taskId, const char *message);
void api_deploy_status_release(api_deploy_status *s);

/* Bound on stored failures per deploy and recent failures per request. */
#define API_STATUS_MAX_FAILURES 16

/* ---- jobs: /corral/status/jobs/<requestId>, /corral/status/runs/<r>/<runId> ----
 * Written by the jobs controller (controllers/jobs.h has the rules).
 * Table-driven codecs (apis/codec.h): every counter is always written;
 * unknown fields are kept in `extra` and written back. Decoders set *out
 * up (*_init) and fill it (release it even on failure), and return the
 * number of problems appended to probs, at paths under `prefix` (may be
 * NULL). */

/* Outcome of one task: a job status's lastRun, a run status's result. */
typedef struct api_job_result {
    char *taskId;           /* "taskId"; NULL: no result yet */
    char *deployId;         /* "deployId" */
    char *runId;            /* "runId" */
    char *pendingType;      /* "pendingType" */
    int64_t fireAt;         /* "fireAt": the nextRunAt it was launched for */
    int64_t startedAt;      /* "startedAt": launchedAt */
    int64_t finishedAt;     /* "finishedAt" */
    int64_t durationMillis; /* "durationMillis": finishedAt - startedAt */
    api_task_state state;   /* "state": final task state; NONE = absent */
    bool has_exitCode;
    int exitCode;  /* "exitCode" */
    bool success;  /* "success" */
    bool retried;  /* "retried": a retry was launched for it */
    int attempt;   /* "attempt": 1 + retries before it */
    char *message; /* "message" */
    json_t *extra; /* unknown fields, kept */
} api_job_result;

/* A result with nothing in it (state NONE). */
void api_job_result_init(api_job_result *r);
void api_job_result_copy(api_job_result *dst, const api_job_result *src);
void api_job_result_release(api_job_result *r);

/* /corral/status/jobs/<requestId>: the scheduler's memory. */
typedef struct api_job_status {
    char *requestId;        /* "requestId" */
    char *schedule;         /* "schedule": quartz form + " " + zone nextFireAt came from */
    int64_t nextFireAt;     /* "nextFireAt": due fire; 0 = not computed, -1 = never */
    int64_t lastFireAt;     /* "lastFireAt": fire time of the last scheduled launch */
    int retries;            /* "retries": retries made for the current scheduled run */
    int64_t runsLaunched;   /* "runsLaunched": scheduled fires launched */
    int64_t tasksLaunched;  /* "tasksLaunched": every launch (fires, retries, runs,
                               run-once): any launch changes this document, which
                               guards it (ctl_jobs_plan_ops) */
    int64_t runsSucceeded;  /* "runsSucceeded": runs that ended in success */
    int64_t runsFailed;     /* "runsFailed": runs that failed after all retries */
    int64_t missedRuns;     /* "missedRuns": fires skipped */
    int64_t lastMissedAt;   /* "lastMissedAt": the last skipped fire time */
    char *lastMissedReason; /* "lastMissedReason": Overlap|DeadlineExceeded|Paused */
    bool has_lastRun;
    api_job_result lastRun; /* "lastRun": the last task that ended */
    json_t *extra;          /* unknown fields, kept */
} api_job_status;

void api_job_status_init(api_job_status *s);
size_t api_job_status_from_json(const json_t *j, api_job_status *out, const char *prefix,
                                api_problems *probs);
/* Canonical JSON (fixed key order). Caller owns. */
json_t *api_job_status_to_json(const api_job_status *s);
void api_job_status_copy(api_job_status *dst, const api_job_status *src);
void api_job_status_release(api_job_status *s);

/* Run states, in "state" of a run status. */
#define API_RUN_STATE_QUEUED    "QUEUED"    /* waiting for runAt or capacity */
#define API_RUN_STATE_LAUNCHING "LAUNCHING" /* pending task written / task starting */
#define API_RUN_STATE_RUNNING   "RUNNING"
#define API_RUN_STATE_SUCCEEDED "SUCCEEDED"
#define API_RUN_STATE_FAILED    "FAILED"
#define API_RUN_STATE_REJECTED  "REJECTED" /* the request type takes no runs */
#define API_RUN_STATE_CANCELED  "CANCELED" /* its document was deleted while queued */

/* /corral/status/runs/<requestId>/<runId>: a run's progress and outcome. */
typedef struct api_run_status {
    char *requestId;  /* "requestId" */
    char *runId;      /* "runId": required */
    char *state;      /* "state": one of API_RUN_STATE_* */
    char *taskId;     /* "taskId": current or last task (or pending task id) */
    int retries;      /* "retries": retries launched */
    int64_t queuedAt; /* "queuedAt": first seen by the controller */
    char *message;    /* "message": why it waits, or how it ended */
    bool has_result;
    api_job_result result; /* "result": outcome of the last task that ended */
    json_t *extra;         /* unknown fields, kept */
} api_run_status;

void api_run_status_init(api_run_status *s);
size_t api_run_status_from_json(const json_t *j, api_run_status *out, const char *prefix,
                                api_problems *probs);
json_t *api_run_status_to_json(const api_run_status *s);
void api_run_status_copy(api_run_status *dst, const api_run_status *src);
void api_run_status_release(api_run_status *s);

/* ---- placement: /corral/status/pending/<requestId>/<pendingTaskId> --------
 * Written by the Mesos bridge: why a pending task found no offer in the
 * last offer cycle that tried it. Unknown fields are kept in `extra`. */
typedef struct api_place_reason {
    char *reason;  /* "reason": required, non-empty: "NOT_ENOUGH_RESOURCES", ... */
    char *message; /* "message": short text for people; NULL (or "") = none */
    bool has_since;
    int64_t since; /* "since": epoch ms of the write */
    bool has_offers;
    int64_t offers; /* "offers": offers tried */
    json_t *extra;  /* unknown fields, kept */
} api_place_reason;

size_t api_place_reason_from_json(const json_t *j, api_place_reason *out, const char *prefix,
                                  api_problems *probs);
json_t *api_place_reason_to_json(const api_place_reason *r);
void api_place_reason_release(api_place_reason *r);

/* ---- the Mesos framework: /corral/framework --------------------------------
 * Written by the Mesos bridge after a SUBSCRIBED that gave it a new id, and
 * deleted when Mesos says the framework was removed. The id is what ties
 * Corral to the tasks Mesos runs for it: a bridge that registered a new
 * framework while the old one lives would run every task twice. So the
 * document is decoded strictly and one that does not decode is an error,
 * never the same as no document (mesosbridge.h): `frameworkId` is required,
 * a string accepted by api_key_id_valid (printable, no spaces or '/').
 * Unknown fields are kept (a newer leader may add some). */
typedef struct api_framework {
    char *frameworkId; /* "frameworkId": required */
    bool has_updatedAt;
    int64_t updatedAt; /* "updatedAt": epoch ms of the write */
    json_t *extra;     /* unknown fields, kept */
} api_framework;

size_t api_framework_from_json(const json_t *j, api_framework *out, const char *prefix,
                               api_problems *probs);
/* Canonical JSON. Caller owns. */
json_t *api_framework_to_json(const api_framework *f);
void api_framework_release(api_framework *f);

/* ---- the bridge: /corral/status/framework ----------------------------------
 * Written by the Mesos bridge (leader) when its state changes: whether it
 * holds a subscription, and why not. Conditions: API_COND_VALID (the
 * framework document could be read; False stops the bridge until an
 * operator fixes or deletes it) and API_COND_SUBSCRIBED. Unknown fields are
 * dropped. */
#define API_COND_SUBSCRIBED "Subscribed" /* the bridge holds a SUBSCRIBE stream */

/* "state" values. */
#define API_FW_STATE_SUBSCRIBING "SUBSCRIBING" /* (re)connecting to a master */
#define API_FW_STATE_SUBSCRIBED  "SUBSCRIBED"
#define API_FW_STATE_BLOCKED     "BLOCKED" /* framework document unreadable: not subscribing */
#define API_FW_STATE_STOPPED     "STOPPED" /* for good (another scheduler took the framework) */

typedef struct api_framework_status {
    char *state;               /* "state": API_FW_STATE_*; required */
    char *frameworkId;         /* "frameworkId": the id in use; NULL: none yet */
    char *master;              /* "master": URL of the master in use */
    char *message;             /* "message": what is wrong, for people */
    int64_t observedRevision;  /* "observedRevision": mod_revision of the framework
                                  document last read; 0 when there was none */
    api_conditions conditions; /* "conditions" */
    int64_t updatedAt;         /* "updatedAt" */
} api_framework_status;

size_t api_framework_status_from_json(const json_t *j, api_framework_status *out,
                                      const char *prefix, api_problems *probs);
/* Canonical JSON (fixed key order). Caller owns. */
json_t *api_framework_status_to_json(const api_framework_status *s);
/* True if both encode to the same JSON, updatedAt aside. */
bool api_framework_status_equal(const api_framework_status *a, const api_framework_status *b);
void api_framework_status_release(api_framework_status *s);

/* Key helpers (prefix e.g. "/corral"). Caller frees. Kept for their
 * callers; they are api_key_request_status and api_key_deploy_status
 * (apis/keys.h, the one place that knows the key layout). */
char *api_request_status_key(const char *prefix, const char *requestId);
char *api_deploy_status_key(const char *prefix, const char *requestId, const char *deployId);

#endif
