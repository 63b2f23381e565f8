/* as_model: reading Corral's documents out of the cache and shaping them as
 * Singularity's response objects. Internal to apiserver/; pure.
 *
 * Every function returning json_t * returns a new reference the caller owns;
 * every const json_t * is borrowed from the cache. */
#ifndef AS_MODEL_H
#define AS_MODEL_H

#include <stdbool.h>

#include <jansson.h>

#include "apis/keys.h"
#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"
#include "base/buf.h"
#include "apis/jtext.h"

/* String field of an object, or NULL. */
const char *as_jstr(const json_t *o, const char *field);
/* Task id string of a task/cleanup document ("taskId" object's "id" or a
 * plain string). */
const char *as_doc_task_id(const json_t *doc);

/* The request id a task id names ("<requestId>-<deployId>-<startedAt>-
 * <instanceNo>-<host>-<rackId>": the text before the fifth '-' from the
 * right), or NULL. Caller frees. */
char *as_m_task_request_id(const char *task_id);

/* ---- entries of any kind, kept as a tree or as text ----------------------------
 * The cache keeps some documents as their text and typed document, value
 * NULL (store/cache.h): task records, and request statuses, pending tasks,
 * requests and deploys whose document reads as their tree
 * (api_doc_faithful). These read any entry with the meaning the tree
 * gives: an answer that shows a document re-encodes its text
 * (as_m_entry_dump), one that needs a tree parses it once
 * (as_m_entry_json), and a field the lists or /api/state read per request
 * comes from the typed document. */

/* Whether e's value is an object (a tree, or a text). False for NULL. */
bool as_m_entry_object(const as_entry *e);
/* e's value as a tree: a new reference the caller owns, the cache's tree
 * (read-only) or one parsed from the text now; NULL when e is NULL or not
 * JSON. Call it once per use. */
json_t *as_m_entry_json(const as_entry *e);
/* A copy of e's value the caller owns and may change (a deep copy of a
 * tree, or a parse of the text); NULL as as_m_entry_json. */
json_t *as_m_entry_copy(const as_entry *e);
/* Appends json_dumps(<e's value>, AS_JSON_FLAGS): a tree dumped, a text
 * re-encoded (apis/jtext.h) with no tree; "null" when e is NULL or not
 * JSON. */
void as_m_entry_dump(const as_entry *e, cr_buf *out);
/* A member of e's value as a tree: a new reference the caller owns, or
 * NULL when e is NULL or has no such member. A text is walked, not parsed
 * whole. */
json_t *as_m_entry_member(const as_entry *e, const char *name);

/* The entry of request rid (requests/<rid>) when its value is an object,
 * borrowed, or NULL. Read it with the as_m_entry_* functions and these: */
const as_entry *as_m_request_entry(const as_api_config *cfg, const as_cache *c, const char *rid);
/* Its "requestType" if a string (borrowed like e), else NULL. */
const char *as_m_request_type(const as_entry *e);
/* Its "instances" if an integer, else 1. */
int64_t as_m_request_instances(const as_entry *e);
/* The entry of deploy did of request rid when its value is an object,
 * borrowed, or NULL. */
const as_entry *as_m_deploy_entry(const as_api_config *cfg, const as_cache *c, const char *rid,
                                  const char *did);
/* The "id" of deploy entry e if a string (borrowed like e), else NULL. */
const char *as_m_deploy_id(const as_entry *e);
/* The request's status entry (status/requests/<rid>) when its value is an
 * object, borrowed, or NULL. The cache keeps a status that decodes as its
 * text (value NULL; store/cache.h): read it with the two functions below,
 * which answer what the tree would. */
const as_entry *as_m_request_status(const as_api_config *cfg, const as_cache *c, const char *rid);
/* A string member of a request status entry e: field is "state",
 * "activeDeployId" or "pendingDeployId" (any other gives NULL for a status
 * kept as text). Borrowed like e; NULL when e is NULL or the member is
 * absent or not a string. */
const char *as_m_request_status_str(const as_entry *e, const char *field);
/* as_m_entry_member of a request status entry. */
json_t *as_m_request_status_member(const as_entry *e, const char *name);
/* The entry of deploy did's status (status/deploys/<rid>/<did>) when its
 * value is an object, borrowed, or NULL. A status the controllers wrote
 * is kept as text (store/cache.h): as_m_entry_json gives its tree. */
const as_entry *as_m_deploy_status_entry(const as_api_config *cfg, const as_cache *c,
                                         const char *rid, const char *did);
const json_t *as_m_intent(const as_api_config *cfg, const as_cache *c, const char *rid,
                          const char *name);
/* A machine's observed document as a tree (a new reference: the cache keeps
 * a valid one as text), or NULL. kind is API_KEY_AGENT or API_KEY_RACK. */
json_t *as_m_machine(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                     const char *id);
/* A machine entry's document as a tree (a new reference), or NULL when it
 * is not an object. */
json_t *as_m_machine_json(const as_entry *e);
/* Its desired-state intent, borrowed, or NULL. */
const json_t *as_m_machine_intent(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                                  const char *id);

/* RequestState name: the controllers' status if written, else derived from
 * intents (PAUSED while a pause intent exists, else ACTIVE). */
const char *as_m_request_state(const as_api_config *cfg, const as_cache *c, const char *rid);
/* Active deploy id from status, or NULL. */
const char *as_m_active_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid);
/* The request's unfinished deploy: status pendingDeployId if set, else the
 * newest deploy document that is neither active nor in a terminal deploy
 * state, nor cancelled. NULL if none. */
const char *as_m_pending_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid);
bool as_m_deploy_state_terminal(const char *state);

/* SingularityDeployMarker for rid/did (null if no such deploy). */
json_t *as_m_deploy_marker(const as_api_config *cfg, const as_cache *c, const char *rid,
                           const char *did);
/* SingularityRequestParent, or NULL if the request does not exist. */
json_t *as_m_request_parent(const as_api_config *cfg, const as_cache *c, const char *rid);
/* SingularityTaskIdsByStatus. */
json_t *as_m_task_ids_by_status(const as_api_config *cfg, const as_cache *c, const char *rid);
/* Its healthy plus notYetHealthy count (active tasks not being cleaned),
 * without building it. */
int as_m_running_tasks(const as_api_config *cfg, const as_cache *c, const char *rid);

/* Task views, from a task record's tree (a single record: parse it with
 * as_m_task_find or store_obj_json; lists and scans use as_task below). */
bool as_m_task_active(const json_t *task);
/* SingularityTask shape built from a task document (adds taskRequest). */
json_t *as_m_task_view(const as_api_config *cfg, const as_cache *c, const json_t *task);
/* SingularityTaskRequest {request, deploy, pendingTask} for a pending doc. */
json_t *as_m_task_request(const as_api_config *cfg, const as_cache *c, const json_t *pending);
/* The entry of the task record (active or history) with id tid, whose
 * value is an object: looks it up under tasks/<requestId>/ then
 * history/tasks/<requestId>/ using the request id parsed from the task id.
 * Sets *history. NULL if unknown. Borrowed like any entry. */
const as_entry *as_m_task_entry(const as_api_config *cfg, const as_cache *c, const char *tid,
                                bool *history);
/* The same record as a tree: a new reference the caller decrefs (task
 * records are kept as text: this parses one). NULL if unknown. */
json_t *as_m_task_find(const as_api_config *cfg, const as_cache *c, const char *tid, bool *history);

/* SingularityTaskHistory {task, taskUpdates, directory, containerId, ...}. */
json_t *as_m_task_history(const as_api_config *cfg, const as_cache *c, const json_t *task);

/* ---- task records as text -----------------------------------------------------
 * The cache keeps task records (kinds API_KEY_TASK and API_KEY_HISTORY_TASK)
 * as the text etcd holds, not as trees (store/cache.h). Lists and scans read
 * them here, with the meaning the tree functions above give the same fields
 * (as_jstr, as_doc_task_id, ...): as_task_open takes the fields the API
 * filters and sorts by from the record's typed document when it is
 * faithful to the JSON (api_task.faithful, what corrald writes), else from
 * one walk of the text (apis/jtext.h); an answer copies the record's bytes
 * rather than parsing and dumping it. Answers are the bytes the tree
 * functions give. */
typedef struct as_task {
    const as_entry *e;
    bool object; /* the value is an object; nothing below is set otherwise */
    /* what the tree functions read of the record; strings borrowed from e
     * or owned by the as_task, until as_task_close */
    const char *id;       /* as_doc_task_id */
    const char *state;    /* lastTaskState, if a string */
    const char *agent;    /* agentId, if a string */
    const char *hostname; /* hostname, if a string */
    const char *run_id;   /* pendingTask.runId, if a string */
    /* taskId's requestId, deployId, host and rackId (object form) */
    const char *request_id, *deploy_id, *host, *rack;
    int64_t started;    /* taskId.startedAt if an integer (object form), else 0 */
    int64_t updated;    /* updatedAt if an integer, else 0 */
    bool unhealthy;     /* healthy is false */
    bool load_balanced; /* loadBalanced is true */
    /* the record's text and members (p NULL when absent), once as_task_text
     * has read them (as_task_open does when it walked the text) */
    bool text_read, have_text;
    api_jspan v;
    api_jspan task_id, pending, last_state, updated_at, rack_id, task_request;
    /* internal */
    api_jspan run_id_v, agent_v, hostname_v;
    char *owned_text;
    cr_buf strs;
} as_task;

/* Opens the entry e (a task record, or any entry under their prefixes) for
 * reading; returns t->object. Close it with as_task_close whatever this
 * returns; e must stay in the cache meanwhile. */
bool as_task_open(as_task *t, const as_entry *e);
/* as_task_open for history search: id, state, run_id, request_id,
 * deploy_id, host, rack, hostname, started and updated only (the walk of
 * the text may stop once it has those); the other fields are unset until
 * as_task_text. */
bool as_task_open_sort(as_task *t, const as_entry *e);
/* Reads the record's whole text and members into t (v, task_id, ...) if
 * open did not need to. */
void as_task_text(as_task *t);
void as_task_close(as_task *t);
/* as_m_task_active of the record's value. */
bool as_task_active(const as_task *t);
/* Whether the entry is an active task record (as_task_active). */
bool as_m_task_entry_active(const as_entry *e);
/* Appends json_dumps(as_m_task_view(cfg, c, <value>), AS_JSON_FLAGS);
 * t must be an object. */
void as_task_view_dump(const as_api_config *cfg, const as_cache *c, as_task *t, cr_buf *out);
/* The taskId of a SingularityTaskIdHistory: a copy of the taskId object,
 * {"id": s} for a plain string, else null. New reference. */
json_t *as_task_id_json(as_task *t);
/* SingularityTaskIdHistory {taskId, updatedAt, lastTaskState, runId}. New
 * reference. */
json_t *as_task_id_history(as_task *t);

/* ---- pending tasks as text -----------------------------------------------------
 * The cache keeps a pending task (API_KEY_PENDING) that decodes, with its
 * pendingTaskId an object naming its id (what the controllers write), as
 * its text and typed document, value NULL (store/cache.h,
 * api_doc_faithful); any other keeps its tree. as_pending reads either
 * with the meaning the tree functions give it: the fields from the typed
 * document (they are the tree's) or the tree, and what an answer shows of
 * it by re-encoding the text's bytes (apis/jtext.h) or dumping the tree.
 * Answers are the bytes the tree gives. */
typedef struct as_pending {
    const as_entry *e;
    bool object; /* the value is an object; nothing below is set otherwise */
    /* what the tree functions read of it, borrowed from e */
    bool has_id;            /* it has a pendingTaskId member (of any type) */
    const char *id;         /* pendingTaskId.id, if a string */
    const char *request_id; /* pendingTaskId.requestId, if a string */
    const char *deploy_id;  /* pendingTaskId.deployId, if a string */
    int64_t next_run_at;    /* pendingTaskId.nextRunAt if an integer, else 0 */
    const char *run_id;     /* runId, if a string */
    /* internal: a document kept as text, its text */
    api_jspan v;
} as_pending;

/* Opens the entry e (a pending task, or any entry under their prefix) for
 * reading; returns p->object. Nothing to close; e must stay alive (in the
 * cache, or referenced) meanwhile. */
bool as_pending_open(as_pending *p, const as_entry *e);
/* The pendingTaskId member: a new reference the caller owns, or NULL
 * when there is none. */
json_t *as_pending_id_json(const as_pending *p);
/* Appends json_dumps(<the pendingTaskId member>, AS_JSON_FLAGS); nothing
 * when there is none. */
void as_pending_id_dump(const as_pending *p, cr_buf *out);
/* Appends json_dumps(as_m_task_request(cfg, c, <the value>),
 * AS_JSON_FLAGS); p must be an object. */
void as_pending_task_request_dump(const as_api_config *cfg, const as_cache *c, const as_pending *p,
                                  cr_buf *out);

#endif
