/* The edge between etcd documents and the plan, both ways, still without
 * I/O:
 *
 *  - views: api_request / api_deploy / api_pending_task / api_task (+ the
 *    API's intents, api_intent in apis/intent.h, and the bridge's placement
 *    reasons, api_place_reason in apis/status.h; docs/controllers.md) ->
 *    the ctl_request / ctl_deploy / ctl_task the plan reads;
 *  - writes: a plan -> the list of etcd operations that carry it out
 *    (documents encoded with the apis/ codecs), which the manager commits
 *    in fenced txns.
 *
 * Views borrow strings from the documents they were made from: keep the
 * documents alive while the view is used. */
#ifndef CTL_VIEW_H
#define CTL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/deploy.h"
#include "apis/machine.h"
#include "apis/request.h"
#include "apis/task.h"
#include "base/err.h"
#include "controllers/health.h"
#include "controllers/plan.h"
#include "store/store.h"

/* Intents of one request (documents under <prefix>/intents/requests/<id>/). */
typedef struct ctl_request_intents {
    bool paused;           /* pause intent exists */
    int64_t bounce;        /* bounce intent's timestamp; 0 = none */
    int64_t exit_cooldown; /* exit-cooldown intent's timestamp; 0 = none */
} ctl_request_intents;

/* Intents of one deploy (documents under <prefix>/intents/deploys/<r>/<d>/). */
typedef struct ctl_deploy_intents {
    bool cancel;          /* cancel intent exists */
    int target_instances; /* update intent's targetActiveInstances; 0 = none */
} ctl_deploy_intents;

/* Fills *out from r (NULL: the document did not decode; `invalid` then says
 * why and must not be NULL). revision is the document's mod_revision. */
void ctl_request_view(const api_request *r, const char *invalid, int64_t revision,
                      const ctl_request_intents *in, ctl_request *out);

/* Fills *out from d (NULL: undecodable, `invalid` says why; out->id is then
 * NULL and the caller sets it from the key). req is the
 * request (for skipHealthchecks and validation against it; may be NULL).
 * create_revision orders deploys. If the deploy has an HTTP check, *hc (if
 * not NULL) gets its effective options. *problems receives a newly
 * allocated description of validation problems (caller frees) or NULL;
 * out->invalid points at it or at `invalid`. */
void ctl_deploy_view(const api_deploy *d, const char *invalid, const api_request *req,
                     int64_t create_revision, const ctl_deploy_intents *in, ctl_deploy *out,
                     ctl_hc_opts *hc, char **problems);

/* A pending task's view (borrows from p). The caller points place_reason
 * and place_message at the bridge's api_place_reason for it, if any. */
void ctl_pending_view(const api_pending_task *p, ctl_task *out);

/* A task record's view (borrows from t). cleaning: a cleanup exists for it;
 * health: the checker's verdict (UNKNOWN if none). running_at is the time
 * of its first TASK_RUNNING update. */
void ctl_task_view(const api_task *t, bool cleaning, ctl_health health, ctl_task *out);

/* Whether the tasks of an agent (its document; NULL: unknown) are moved
 * away by the service plan: DECOMMISSIONING or DECOMMISSIONED
 * (ctl_task.decommissioning; machines.h moves the agents). */
bool ctl_agent_decommissioning(const api_machine *agent);

/* Whether SPREAD_ALL_AGENTS puts an instance on this agent: it is ACTIVE,
 * its rack (NULL: no document) is ACTIVE, and it has every attribute in
 * required (may be NULL). */
bool ctl_agent_spreads(const api_machine *agent, const api_machine *rack,
                       const api_strmap *required);

/* ---- writes -------------------------------------------------------------------- */

typedef enum {
    CTL_OP_CREATE, /* put only if absent (create_revision == 0) */
    CTL_OP_PUT,    /* put; if mod_revision > 0, only if unchanged since */
    CTL_OP_DELETE, /* delete; if mod_revision > 0, only if unchanged since */
} ctl_op_type;

typedef struct ctl_op {
    ctl_op_type type;
    char *key;
    char *value; /* JSON text; NULL for deletes */
    int64_t mod_revision;
    size_t group; /* ops of one action share a group: commit them together */
} ctl_op;

/* What a loop hears of one operation group's write (ctl_ops_then): the
 * bridge ACCEPTs an offer once its launch group has landed. Exactly one of
 * the two is called, once. */
typedef struct ctl_then {
    /* The write was answered: res (res->succeeded false: a compare failed)
     * or err (lost leadership, etcd trouble, or the write could not be
     * sent). Runs on the event loop; it may not stop or free the runner. */
    void (*written)(void *arg, const store_result *res, const cr_err *err);
    /* It never will be: the ops were released unsent (the pass failed or
     * forgot its key) or the runner stopped. Only release arg. */
    void (*drop)(void *arg);
    void *arg;
} ctl_then;

typedef struct ctl_then_at {
    size_t group;
    ctl_then then;
} ctl_then_at;

typedef struct ctl_ops {
    size_t n;
    ctl_op *v;
    size_t n_then;
    ctl_then_at *then; /* hooks of groups, at most one per group */
} ctl_ops;

/* Appends one operation to group; takes key and value (NULL for deletes). */
void ctl_ops_add(ctl_ops *ops, ctl_op_type type, char *key, char *value, int64_t mod_revision,
                 size_t group);
/* A group of its own after every operation so far (0 when there is none). */
size_t ctl_ops_next_group(const ctl_ops *ops);
/* Hands group's write outcome to then (copied; its arg is the runner's until
 * written or drop runs). Both callbacks are required. */
void ctl_ops_then(ctl_ops *ops, size_t group, const ctl_then *then);
/* Frees the operations; hooks never handed to a write are dropped. */
void ctl_ops_release(ctl_ops *ops);

/* What ctl_plan_ops needs to know about the current documents. */
typedef struct ctl_doc_lookup {
    /* The task record's JSON and mod_revision for a task id (ARCHIVE), or
     * NULL. The returned text is borrowed. */
    const char *(*task)(void *arg, const char *task_id, int64_t *mod_revision);
    void *arg;
    /* Issue 20: the JSON and mod_revision of the document at `key` (EXPIRE
     * and APPLY_REQUEST read the request and the deploy's submit intent), or
     * NULL; borrowed. A NULL callback: those actions only delete intents. */
    const json_t *(*doc)(void *arg, const char *key, int64_t *mod_revision);
    void *doc_arg;
    /* The mod_revision of the document at `key` the plan was made from (0:
     * none), called with arg: status writes (ctl_ops_status) compare it, or
     * that the status is absent, so a plan made from a view older than
     * etcd's re-plans instead of writing a status back. NULL: they are
     * unconditional. ctl_task_lookup_init (runner.h) sets it. */
    int64_t (*revision)(void *arg, const char *key);
} ctl_doc_lookup;

/* Appends a status write to group: only over the revision look->revision
 * gives for key (CREATE when it gives 0), unconditional without it. Takes
 * key and value. */
void ctl_ops_status(ctl_ops *ops, const ctl_doc_lookup *look, char *key, char *value,
                    size_t group);

/* Appends to *ops the etcd operations of plan p for request request_id
 * under prefix ("/corral"), at time now:
 *   LAUNCH  -> CREATE pending/<r>/<pendingTaskId> (api_pending_task)
 *   KILL    -> CREATE cleanups/<taskId>           (api_cleanup)
 *   UNPEND  -> DELETE pending/<r>/<id>
 *   ARCHIVE -> PUT history/tasks/<r>/<taskId> (the record) + DELETE
 *              tasks/<r>/<taskId> (at its mod_revision) + DELETE cleanups/<taskId>
 *   FORGET  -> DELETE history/tasks/<r>/<taskId>
 *   EXPIRE  -> scale, skip-healthchecks: PUT requests/<r> with the reverted
 *              field (at its mod_revision); every kind: DELETE the intent (at
 *              intent_revision); then_bounce: PUT a new bounce intent
 *   UNPAUSE -> DELETE intents/requests/<r>/pause (at intent_revision)
 *   APPLY_REQUEST -> PUT requests/<r> = the deploy's submit intent's
 *              updatedRequest (at the request's mod_revision) + DELETE the
 *              scale intent (a deploy's request replaces an expiring scale)
 *   changed statuses -> PUT status/requests/<r>, status/deploys/<r>/<d>
 *              (ctl_ops_status: over the revision the plan read, or CREATE
 *              when there was none; unconditional without look->revision)
 * Each action is a group of its own, except UNPAUSE and APPLY_REQUEST: they
 * share the last group with the changed statuses, so a deploy's hand-over
 * (its SUCCEEDED, the request's activeDeployId, what its success applies)
 * lands all at once or not at all.
 * Returns -1 with err set if an id does not parse (nothing appended). */
int ctl_plan_ops(const char *prefix, const char *request_id, const ctl_plan *p,
                 const ctl_doc_lookup *look, int64_t now, ctl_ops *ops, cr_err *err);

/* Key of an archived task (api_key_history_task). Caller frees. */
char *ctl_history_task_key(const char *prefix, const char *request_id, const char *task_id);

#endif
