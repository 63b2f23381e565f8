/* Task-side records: the documents controllers and the Mesos bridge exchange
 * through etcd (DESIGN.md section 3), plus Singularity's task and pending-task
 * ids (reference sheet section 4.1).
 *
 *   /corral/pending/<requestId>/<pendingTaskId>   api_pending_task
 *       written by controllers: "launch one task of this request/deploy".
 *       The bridge consumes it: in ONE txn it creates the task record and
 *       deletes the pending document, then sends ACCEPT.
 *   /corral/tasks/<requestId>/<taskId>            api_task
 *       written only by the bridge: the launch intent (agent, offer, ports,
 *       env, resources; state TASK_LAUNCHED) and then every Mesos status
 *       change (lastTaskState, taskUpdates). Controllers read it and move
 *       terminal tasks to history (deleting the key).
 *   /corral/cleanups/<taskId>                     api_cleanup
 *       written by controllers: "kill this task now". The bridge sends KILL
 *       (with the kill policy) and re-sends it until a terminal update
 *       arrives; it deletes the cleanup in the txn that stores the terminal
 *       state. A cleanup for a task with no record is deleted.
 *
 * JSON names follow Singularity (SingularityTaskId, SingularityPendingTaskId,
 * SingularityPendingTask, SingularityTaskCleanup, SingularityTaskHistoryUpdate);
 * fields Singularity lacks are marked "Corral" below. Timestamps are epoch
 * milliseconds (JSON integers). Task states use the Mesos names
 * ("TASK_RUNNING") plus Singularity's TASK_LAUNCHED and TASK_CLEANING.
 *
 * Ownership follows apis/common.h: each struct owns its pointers; *_free and
 * *_release free them. Decoders append problems and return NULL (or -1) when
 * there was any; encoders return a new json_t reference the caller owns and
 * write keys in a fixed order. Unknown fields are rejected unless
 * opts->allow_unknown (then they are dropped; these documents are written by
 * programs, not people). */
#ifndef API_TASK_H
#define API_TASK_H

#include "apis/common.h"
#include "base/err.h"

/* ---- task states ---------------------------------------------------------- */

#define API_TASK_STATES(X)                                      \
    /* enum, name, terminal */                                  \
    X(API_TASK_LAUNCHED, "TASK_LAUNCHED", false)                \
    X(API_TASK_STAGING, "TASK_STAGING", false)                  \
    X(API_TASK_STARTING, "TASK_STARTING", false)                \
    X(API_TASK_RUNNING, "TASK_RUNNING", false)                  \
    X(API_TASK_CLEANING, "TASK_CLEANING", false)                \
    X(API_TASK_KILLING, "TASK_KILLING", false)                  \
    X(API_TASK_FINISHED, "TASK_FINISHED", true)                 \
    X(API_TASK_FAILED, "TASK_FAILED", true)                     \
    X(API_TASK_KILLED, "TASK_KILLED", true)                     \
    X(API_TASK_LOST, "TASK_LOST", true)                         \
    X(API_TASK_LOST_WHILE_DOWN, "TASK_LOST_WHILE_DOWN", true)   \
    X(API_TASK_ERROR, "TASK_ERROR", true)                       \
    X(API_TASK_DROPPED, "TASK_DROPPED", true)                   \
    X(API_TASK_GONE, "TASK_GONE", true)                         \
    X(API_TASK_GONE_BY_OPERATOR, "TASK_GONE_BY_OPERATOR", true) \
    X(API_TASK_UNREACHABLE, "TASK_UNREACHABLE", false)          \
    X(API_TASK_UNKNOWN, "TASK_UNKNOWN", false)

/* As in Mesos (unlike Singularity), UNREACHABLE and UNKNOWN are not terminal:
 * the task may still run. Corral holds such a task for a while (the
 * request's unreachableTimeoutSeconds, else corrald's default) before it
 * gives it up; docs/mesosbridge.md has the rules for every state. */
typedef enum {
    API_TASK_STATE_NONE = -1,
#define API_TASK_STATE_ENUM(e, name, term) e,
    API_TASK_STATES(API_TASK_STATE_ENUM)
#undef API_TASK_STATE_ENUM
        API_TASK_STATE__COUNT
} api_task_state;

/* "TASK_RUNNING"; NULL for NONE or out of range. */
const char *api_task_state_name(api_task_state s);
/* API_TASK_STATE_NONE if s is not a known name (exact, upper case). */
api_task_state api_task_state_parse(const char *s);
bool api_task_state_terminal(api_task_state s);
/* UNREACHABLE or UNKNOWN: Mesos cannot say whether the task runs; Corral
 * holds it (does not archive it) until it comes back or its time is up. */
bool api_task_state_held(api_task_state s);
/* The states after which a TASK_RUNNING report is the same task coming
 * back, not a stray to kill: the held ones, TASK_LOST (a partition healed,
 * without PARTITION_AWARE) and TASK_GONE_BY_OPERATOR (the operator was
 * wrong). */
bool api_task_state_may_return(api_task_state s);

/* ---- task id ----------------------------------------------------------------
 * {requestId}-{deployId}-{startedAt}-{instanceNo}-{sanitizedHost}-{sanitizedRackId}
 * Host and rack have '-' replaced by '_'. Parsed from the right, so requestId
 * may contain '-'; deployId may not. */
typedef struct api_task_id {
    char *id;          /* "id": the formatted string */
    char *requestId;   /* "requestId" */
    char *deployId;    /* "deployId" */
    int64_t startedAt; /* "startedAt", epoch ms */
    int instanceNo;    /* "instanceNo", >= 1 */
    char *host;        /* "host": as given (sanitized when parsed from a string) */
    char *rackId;      /* "rackId": as given (sanitized when parsed) */
} api_task_id;

/* Fills *out (which the caller then releases) from the parts and formats
 * out->id. Returns -1 with err set if a part is invalid (request/deploy id
 * rules of apis/common.h, instanceNo < 1, startedAt < 0, a host that is not
 * a key component or a rack id that is not valid (api_key_id_valid,
 * api_rack_id_valid), resulting id longer than API_KEY_MAX_ID). */
int api_task_id_init(api_task_id *out, const char *requestId, const char *deployId,
                     int64_t startedAt, int instanceNo, const char *host, const char *rackId,
                     cr_err *err);
/* Parses a task id string into *out (caller releases). -1 with err set if it
 * is not a well-formed task id; *out is then zeroed. */
int api_task_id_parse(const char *s, api_task_id *out, cr_err *err);
/* The task id rule: s parses as a task id (every part valid, and the id is
 * a key component). */
bool api_task_id_valid(const char *s);
void api_task_id_copy(api_task_id *dst, const api_task_id *src);
void api_task_id_release(api_task_id *t);
/* Replaces '-' by '_' (Singularity's host/rack sanitizing). Caller frees. */
char *api_task_sanitize(const char *s);

/* ---- pending task id --------------------------------------------------------
 * {requestId}-{deployId}-{nextRunAt}-{instanceNo}-{pendingType}-{createdAt} */

/* The PendingType names (section 4.1); NULL-terminated. */
extern const char *const api_pending_types[];
bool api_pending_type_valid(const char *s);

typedef struct api_pending_task_id {
    char *id;          /* "id" */
    char *requestId;   /* "requestId" */
    char *deployId;    /* "deployId" */
    int64_t nextRunAt; /* "nextRunAt", epoch ms: not launched before */
    int instanceNo;    /* "instanceNo", >= 1 */
    char *pendingType; /* "pendingType": one of api_pending_types */
    int64_t createdAt; /* "createdAt", epoch ms */
} api_pending_task_id;

int api_pending_task_id_init(api_pending_task_id *out, const char *requestId, const char *deployId,
                             int64_t nextRunAt, int instanceNo, const char *pendingType,
                             int64_t createdAt, cr_err *err);
int api_pending_task_id_parse(const char *s, api_pending_task_id *out, cr_err *err);
/* The pending task id rule: s parses as a pending task id. */
bool api_pending_task_id_valid(const char *s);
void api_pending_task_id_copy(api_pending_task_id *dst, const api_pending_task_id *src);
void api_pending_task_id_release(api_pending_task_id *p);

/* ---- resources ---------------------------------------------------------------- */

/* Singularity's Resources object. has_x false = absent (use the deploy's). */
/* The flags after the values: 32 bytes, not 56 (a task holds two). */
typedef struct api_task_resources {
    double cpus;     /* "cpus" */
    double memoryMb; /* "memoryMb" */
    double diskMb;   /* "diskMb" */
    int numPorts;    /* "numPorts" */
    bool has_cpus, has_memoryMb, has_diskMb, has_numPorts;
} api_task_resources;

/* ---- pending task: /corral/pending/<requestId>/<pendingTaskId> -------------- */
typedef struct api_pending_task {
    api_pending_task_id pendingTaskId; /* "pendingTaskId" (object) */
    char *runId;                       /* "runId" */
    char *user;                        /* "user": who caused it */
    char *message;                     /* "message" */
    char *actionId;                    /* "actionId" */
    api_strlist cmdLineArgsList;       /* "cmdLineArgsList": appended to the command */
    api_strmap envOverrides;           /* "envOverrides": highest env precedence */
    api_task_resources resources;               /* "resources": overrides the deploy's */
    api_strmap requiredAgentAttributeOverrides; /* "requiredAgentAttributeOverrides" */
    api_strmap allowedAgentAttributeOverrides;  /* "allowedAgentAttributeOverrides" */
    char *runAsUserOverride;                    /* "runAsUserOverride" */
    bool has_resources;
    bool skipHealthchecks; /* "skipHealthchecks" */
    /* Made by api_pending_task_pack: one block, read-only (see there). */
    bool packed;
} api_pending_task;

/* Decodes and validates (the id's parts, its "id" string if present must
 * match them). NULL with problems appended on error; caller frees. */
api_pending_task *api_pending_task_from_json(const json_t *j, const api_decode_opts *opts,
                                             api_problems *probs);
json_t *api_pending_task_to_json(const api_pending_task *p);
api_pending_task *api_pending_task_dup(const api_pending_task *p);
void api_pending_task_free(api_pending_task *p);
/* Frees what an embedded or stack api_pending_task holds (not a packed one). */
void api_pending_task_release(api_pending_task *p);
/* A read-only copy of p in one block (struct, arrays, each distinct string
 * once), from the bulk arena (base/xalloc.h): the cache holds every
 * waiting task's document, 100,000 at once while a big cluster fills, and
 * then frees them all. Frees p and returns the copy (caller owns;
 * api_pending_task_free). api_pending_task_dup gives a copy to change. */
api_pending_task *api_pending_task_pack(api_pending_task *p);

/* ---- cleanup: /corral/cleanups/<taskId> --------------------------------------- */
/* The bridge kills the task as soon as this document exists, whatever the
 * cleanupType (waiting for replacements is the controllers' job: they write
 * the cleanup when the kill is due). */
typedef struct api_cleanup {
    api_task_id taskId; /* "taskId" (object) */
    char *cleanupType;  /* "cleanupType": Singularity TaskCleanupType name */
    char *user;         /* "user" */
    char *message;      /* "message" */
    char *actionId;     /* "actionId" */
    int64_t timestamp;  /* "timestamp", epoch ms */
    /* Corral: KILL's kill_policy grace period; absent = the one recorded in
     * the task at launch (the deploy's), or none. 0 = kill at once. */
    bool has_killGracePeriodMillis;
    int64_t killGracePeriodMillis; /* "killGracePeriodMillis" */
} api_cleanup;

api_cleanup *api_cleanup_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs);
json_t *api_cleanup_to_json(const api_cleanup *c);
void api_cleanup_free(api_cleanup *c);

/* ---- task record: /corral/tasks/<requestId>/<taskId> -------------------------- */

/* One observed state change (SingularityTaskHistoryUpdate). */
typedef struct api_task_update {
    api_task_state taskState; /* "taskState" */
    int64_t timestamp;        /* "timestamp", epoch ms (Mesos' status time) */
    char *statusMessage;      /* "statusMessage" */
    char *statusReason;       /* "statusReason": Mesos reason name */
    char *source;             /* Corral "source": SOURCE_MASTER|AGENT|EXECUTOR */
    char *uuid;               /* Corral "uuid": Mesos status uuid (base64) if any */
} api_task_update;

/* Most recent updates kept in a record (older ones are dropped). */
#define API_TASK_MAX_UPDATES 32

typedef struct api_task {
    api_task_id taskId;           /* "taskId" (object) */
    api_pending_task pendingTask; /* "pendingTask": what was asked for */
    char *frameworkId;            /* Corral "frameworkId" */
    char *agentId;                /* "agentId" (Mesos AgentID value) */
    char *hostname;               /* "hostname" (unsanitized) */
    char *offerId;                /* Corral "offerId" the launch used */
    char *executorId;             /* Corral "executorId": custom executor id, NULL = command task */
    api_intlist ports;            /* "ports": allocated host ports, PORT0.. */
    api_task_resources resources; /* "resources" actually allocated */
    api_strmap env;               /* Corral "env": environment given to the task */
    int64_t killGracePeriodMillis;  /* "killGracePeriodMillis" */
    int64_t launchedAt;             /* Corral "launchedAt", epoch ms (intent written) */
    int64_t updatedAt;              /* Corral "updatedAt", epoch ms of the last change */
    char *statusMessage;            /* "statusMessage" of the last update */
    char *statusReason;             /* "statusReason" of the last update */
    api_task_state lastTaskState;   /* "lastTaskState" */
    int exitCode;                   /* Corral "exitCode" when Mesos reported one */
    size_t n_taskUpdates;
    api_task_update *taskUpdates; /* "taskUpdates", oldest first, <= API_TASK_MAX_UPDATES */
    /* "mesosTask": the TaskInfo sent to Mesos, held as the compact JSON text
     * json_dumps(tree, JSON_COMPACT) writes (NULL: none; not NUL-terminated
     * when borrowed). It is ~800 bytes as text and ~10 KB as a tree, and
     * only the ACCEPT reads it, spliced into the call as it is
     * (api_task_mesos_text). Owned,
     * unless mesosTask_borrowed: then it points into the text the record
     * was decoded from (api_task_from_text), which outlives the record. */
    const char *mesosTask;
    size_t mesosTask_len;
    /* Packed records only: when not 0, mesosTask holds the mesosTask_len
     * bytes deflated into mesosTask_zlen (see api_task_pack); the functions
     * here inflate them when they need the text. */
    size_t mesosTask_zlen;
    /* The flags together at the end: a cache holds 100,000 of these */
    bool has_killGracePeriodMillis; /* Corral: the deploy's kill policy at launch */
    bool has_healthy;
    bool healthy; /* "healthy" (Mesos health checks) */
    bool has_exitCode;
    bool mesosTask_borrowed;
    /* Decoded from a record with no field this struct lacks (at its top
     * level) and whose task id is given in full (an object with its "id"):
     * every field a reader could look up in that JSON has the value held
     * here, so readers of the JSON (the API) may read the struct instead.
     * Set by api_task_from_json; false for records built otherwise. */
    bool faithful;
    /* Made by api_task_pack: one allocation, read-only (see there). */
    bool packed;
} api_task;

api_task *api_task_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);
/* api_task_from_json for a record that stays next to its text: j was
 * parsed from text[0..len), which has no key twice in an object and
 * outlives the record (the cache keeps both). The TaskInfo then borrows
 * its bytes from text when they are what json_dumps writes (what the
 * bridge stores), instead of being written again. */
api_task *api_task_from_text(const json_t *j, const char *text, size_t len,
                             const api_decode_opts *opts, api_problems *probs);
json_t *api_task_to_json(const api_task *t);
/* json_dumps(api_task_to_json(t), JSON_COMPACT), without turning mesosTask
 * into a tree and back (caller frees). *len gets the length when len is
 * not NULL. */
char *api_task_dump(const api_task *t, size_t *len);
api_task *api_task_dup(const api_task *t);
void api_task_free(api_task *t);

/* Whether api_task_text(t) writes text[0..len) byte for byte (a faithful
 * record as the bridge stores it: api_task_dump's bytes), so that a holder
 * of t needs no copy of the text: api_task_text gives it back. When it
 * does, t stops borrowing its TaskInfo from text (it takes its own copy,
 * ~800 bytes against the ~2.1 KB text), and text may be freed. Costs one
 * api_task_text. */
bool api_task_detach_text(api_task *t, const char *text, size_t len);

/* The record whose api_task_text is text[0..len) byte for byte (caller
 * frees), read without jansson's lexer (in under half the time); NULL for
 * any other text, which the caller parses as usual (json_loadb and
 * api_task_from_text, with open options). Safe on any bytes. The proof is
 * the comparison: api_task_text writes a text jansson accepts with no key
 * twice, on which api_jtext_json_any builds json_loadb's tree, so the
 * record is the one the usual way decodes, with no problem. The TaskInfo's
 * bytes, which api_task_text copies rather than writes, are taken from
 * text only when api_jtext_is_ascii_dump proves them (else written from
 * the tree, and compared with the rest). The record is already detached
 * from text (api_task_detach_text). */
api_task *api_task_from_own_text(const char *text, size_t len);
/* api_task_dump's bytes, written without a tree (several times faster):
 * what the cache gives for a record whose text it dropped. Caller frees;
 * *len gets the length when len is not NULL. */
char *api_task_text(const api_task *t, size_t *len);

/* A read-only copy of t in one allocation (struct, arrays and strings;
 * each distinct string once, and the names every record repeats, such as
 * the bridge's env names and update sources, not at all: they point at
 * constants), for a holder that keeps many records and never changes
 * them: the cache (~40 allocations a record become one, ~0.5 KB less).
 * Frees t and returns the copy (caller owns; api_task_free). A TaskInfo t
 * borrows stays borrowed; one it owns is copied in. Changing a packed
 * record (api_task_add_update, api_task_set_mesos_task, or any field)
 * is a bug: take api_task_dup first. */
api_task *api_task_pack(api_task *t);

/* Sets t's mesosTask to the compact text of ti (borrowed; NULL clears it). */
void api_task_set_mesos_task(api_task *t, const json_t *ti);
/* t's mesosTask as a tree (new reference, caller decrefs), or NULL when it
 * has none. */
json_t *api_task_mesos_task(const api_task *t);
/* The TaskInfo's compact JSON text (*len bytes, not always NUL-terminated),
 * or NULL when there is none: t's own bytes, or inflated into *tmp (the
 * caller frees *tmp, NULL when nothing was inflated). The ACCEPT splices it
 * as it is, without a parse. */
const char *api_task_mesos_text(const api_task *t, size_t *len, char **tmp);

/* Appends an update and sets lastTaskState, updatedAt, statusMessage,
 * statusReason (copies the strings; drops the oldest beyond the cap). Returns
 * false without changing t when it is a duplicate: the same uuid as a stored
 * update, or (no uuid) the same state and message as the last update. */
bool api_task_add_update(api_task *t, const api_task_update *u);
/* When t entered the held state it is in (api_task_state_held): the
 * timestamp of the first of the updates at the end of taskUpdates that are
 * all held states (else updatedAt, else launchedAt); 0 when t is not held. */
int64_t api_task_held_since(const api_task *t);
/* Whether api_task_add_update would add u (it is not a duplicate). */
bool api_task_update_is_new(const api_task *t, const api_task_update *u);

/* Key helpers (prefix e.g. "/corral"). Caller frees. Kept for their
 * callers; they are api_key_task, api_key_pending and api_key_cleanup
 * (apis/keys.h, the one place that knows the key layout). */
char *api_task_key(const char *prefix, const char *requestId, const char *taskId);
char *api_pending_key(const char *prefix, const char *requestId, const char *pendingTaskId);
char *api_cleanup_key(const char *prefix, const char *taskId);

#endif
