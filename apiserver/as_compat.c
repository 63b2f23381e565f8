#include "apiserver/as_compat.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_logs.h"
#include "apiserver/as_model.h"
#include "base/version.h"
#include "base/xalloc.h"

typedef struct cctx {
    const as_api_config *cfg;
    const as_cache *c;
    const as_req *req;
    as_result *out;
} cctx;

static void ok(cctx *x, json_t *body)
{
    x->out->kind = AS_RESULT_JSON;
    x->out->status = 200;
    json_decref(x->out->body);
    x->out->body = body;
}

static bool sees(cctx *x, const char *rid)
{
    return as_api_may_read(x->cfg, x->c, x->req->who, rid);
}

static const char *param(cctx *x, const char *name)
{
    return as_match_param(x->req->match, name);
}

/* The request's entry (as_m_request_entry), or NULL after a 400 (bad id)
 * or 404 answer. */
static const as_entry *need_request(cctx *x, const char *rid)
{
    const as_entry *r;

    if (!rid || !api_request_id_valid(rid)) {
        as_fail(x->out, 400, "invalid request id '%.200s'", rid ? rid : "");
        return NULL;
    }
    r = as_m_request_entry(x->cfg, x->c, rid);
    if (!r)
        as_fail(x->out, 404, "Couldn't find request with id %s", rid);
    return r;
}

/* Walks every cache entry of kind (of request rid when not NULL): fn is
 * called with each entry the caller may read. */
static void each(cctx *x, api_key_kind kind, const char *rid,
                 void (*fn)(cctx *x, const as_entry *e, void *arg), void *arg)
{
    char *prefix = api_key_kind_prefix(x->cfg->prefix, kind, rid);
    size_t first, n = as_cache_range(x->c, prefix, &first);

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(x->c, i);
        if (rid || sees(x, e->id1))
            fn(x, e, arg);
    }
    free(prefix);
}

/* ---- requests ----------------------------------------------------------------------------- */

static void add_request_id(cctx *x, const as_entry *e, void *arg)
{
    bool active_only = x->req->match->op == AS_OP_REQ_IDS_ACTIVE;
    const char *st;

    if (!as_m_entry_object(e) || !e->id1)
        return;
    st = as_m_request_state(x->cfg, x->c, e->id1);
    if (active_only && (!st || strcmp(st, "ACTIVE") != 0))
        return;
    json_array_append_new(arg, json_string(e->id1));
}

static void h_request_ids(cctx *x)
{
    json_t *list = json_array();
    each(x, API_KEY_REQUEST, NULL, add_request_id, list);
    ok(x, list);
}

/* SingularityRequestBatch {requests: [SingularityRequestParent], notFound}:
 * the requests named by the repeated query parameter id. An id the caller
 * may not read counts as not found, as in Singularity. */
static void h_request_batch(cctx *x)
{
    json_t *found = json_array(), *missing = json_array();

    for (size_t i = 0; i < x->req->nquery; i++) {
        const char *id = x->req->query[i].value;
        json_t *p = NULL;
        if (strcmp(x->req->query[i].name, "id") != 0)
            continue;
        if (api_request_id_valid(id) && sees(x, id))
            p = as_m_request_parent(x->cfg, x->c, id);
        if (p)
            json_array_append_new(found, p);
        else
            json_array_append_new(missing, json_string(id));
    }
    ok(x, json_pack("{s:o, s:o}", "requests", found, "notFound", missing));
}

/* SingularityRequestWithState {request, state, timestamp}. */
static void h_request_simple(cctx *x)
{
    const char *rid = param(x, "requestId");
    const as_entry *e = need_request(x, rid);
    json_t *updated, *r;
    json_int_t ts = 0;

    if (!e)
        return;
    r = as_m_entry_json(e);
    updated = as_m_request_status_member(as_m_request_status(x->cfg, x->c, rid), "updatedAt");
    if (json_is_integer(updated))
        ts = json_integer_value(updated);
    else if (json_is_integer(json_object_get(r, "timestamp")))
        ts = json_integer_value(json_object_get(r, "timestamp"));
    json_decref(updated);
    ok(x, json_pack("{s:o, s:s, s:I}", "request", r, "state", as_m_request_state(x->cfg, x->c, rid),
                    "timestamp", ts));
}

/* CrashLoopInfo of a request in SYSTEM_COOLDOWN: Corral's cooldown is
 * Singularity's fast failure loop; it is open (no end) while it lasts. */
static json_t *crash_loop(cctx *x, const char *rid)
{
    const as_entry *st = as_m_request_status(x->cfg, x->c, rid);
    json_t *since = as_m_request_status_member(st, "cooldownSince");
    const char *did = as_m_request_status_str(st, "activeDeployId");

    if (!json_is_integer(since) || json_integer_value(since) <= 0) {
        json_decref(since);
        return NULL;
    }
    return json_pack("{s:s, s:s?, s:o, s:n, s:s}", "requestId", rid, "deployId", did, "start",
                     since, "end", "type", "FAST_FAILURE_LOOP");
}

static void add_crash_loop(cctx *x, const as_entry *e, void *arg)
{
    json_t *cl = e->id1 && as_m_entry_object(e) ? crash_loop(x, e->id1) : NULL;

    if (cl)
        json_object_set_new(arg, e->id1, json_pack("[o]", cl));
}

static void h_crashloops(cctx *x)
{
    json_t *map = json_object();
    each(x, API_KEY_REQUEST, NULL, add_crash_loop, map);
    ok(x, map);
}

static void h_request_crashloops(cctx *x)
{
    const char *rid = param(x, "requestId");
    json_t *list, *cl;

    if (!need_request(x, rid))
        return;
    list = json_array();
    if ((cl = crash_loop(x, rid)))
        json_array_append_new(list, cl);
    ok(x, list);
}

/* Load-balancer cleanups (P/lbcleanups/<requestId>/<taskId>). */
static void add_lb_cleanup(cctx *x, const as_entry *e, void *arg)
{
    json_t *list = arg;
    const json_t *tid;

    if (!json_is_object(e->value))
        return;
    if (x->req->match->op == AS_OP_REQ_LBCLEANUP) {
        size_t n = json_array_size(list);
        const char *last = n ? json_string_value(json_array_get(list, n - 1)) : NULL;
        if (e->id1 && (!last || strcmp(last, e->id1) != 0))
            json_array_append_new(list, json_string(e->id1)); /* keys sort by request */
        return;
    }
    tid = json_object_get(e->value, "taskId");
    if (json_is_object(tid))
        json_array_append(list, (json_t *)tid);
    else if (json_is_string(tid))
        json_array_append_new(list, json_pack("{s:O}", "id", tid));
}

static void h_lb_cleanups(cctx *x)
{
    json_t *list = json_array();
    each(x, API_KEY_LB_CLEANUP, NULL, add_lb_cleanup, list);
    ok(x, list);
}

/* ---- tasks -------------------------------------------------------------------------------- */

/* The taskId object of a task record (plain string ids become {"id"}). */
static json_t *task_id_of(const json_t *task)
{
    const json_t *tid = json_object_get(task, "taskId");
    if (json_is_object(tid))
        return json_incref((json_t *)tid);
    return json_pack("{s:O?}", "id", tid);
}

/* The record's updates as SingularityTaskHistoryUpdate (each with its
 * taskId), oldest first. */
static json_t *task_updates(const json_t *task)
{
    json_t *out = json_array(), *e;
    size_t i;

    json_array_foreach(json_object_get(task, "taskUpdates"), i, e)
    {
        json_t *u = json_deep_copy(e);
        json_object_set_new(u, "taskId", task_id_of(task));
        json_array_append_new(out, u);
    }
    return out;
}

static void add_task_states(cctx *x, const as_entry *e, void *arg)
{
    json_t *task;
    const char *id;

    if (!as_m_task_entry_active(e) || !(task = store_obj_json(e)))
        return;
    id = as_doc_task_id(task);
    if (id)
        json_object_set_new(arg, id, task_updates(task));
    json_decref(task);
}

/* Map<taskId, List<SingularityTaskHistoryUpdate>> of the active tasks. */
static void h_active_states(cctx *x)
{
    json_t *map = json_object();
    each(x, API_KEY_TASK, NULL, add_task_states, map);
    ok(x, map);
}

/* SingularityKilledTaskIdRecord of each task Corral has sent a kill for
 * and that has not ended yet: a kill intent whose task reports
 * TASK_KILLING. */
static void add_killed(cctx *x, const as_entry *e, void *arg)
{
    const char *tid = as_doc_task_id(e->value);
    json_t *task;
    bool hist;

    if (!json_is_object(e->value) || !tid || !(task = as_m_task_find(x->cfg, x->c, tid, &hist)))
        return;
    if (!hist && as_jstr(task, "lastTaskState") &&
        strcmp(as_jstr(task, "lastTaskState"), "TASK_KILLING") == 0) {
        json_int_t ts = json_integer_value(json_object_get(e->value, "timestamp"));
        const json_t *up = json_object_get(task, "updatedAt");
        json_array_append_new(
            arg, json_pack("{s:o, s:I, s:I, s:n, s:O?, s:i}", "taskId", task_id_of(task),
                           "timestamp", json_is_integer(up) ? json_integer_value(up) : ts,
                           "originalTimestamp", ts, "requestCleanupType", "taskCleanupType",
                           json_object_get(e->value, "cleanupType"), "retries", 0));
    }
    json_decref(task);
}

static void h_killed(cctx *x)
{
    char *prefix = api_key_kind_prefix(x->cfg->prefix, API_KEY_CLEANUP, NULL);
    size_t first, n = as_cache_range(x->c, prefix, &first);
    json_t *list = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(x->c, i);
        char *rid = as_m_task_request_id(e->id1 ? e->id1 : "");
        if (rid && sees(x, rid))
            add_killed(x, e, list);
        free(rid);
    }
    free(prefix);
    ok(x, list);
}

/* SingularityTaskCounts {requestId, active, pending, cleaning}. */
static void h_task_counts(cctx *x)
{
    const char *rid = param(x, "requestId");
    json_t *ids;

    if (!need_request(x, rid))
        return;
    ids = as_m_task_ids_by_status(x->cfg, x->c, rid);
    ok(x, json_pack("{s:s, s:I, s:I, s:I}", "requestId", rid, "active",
                    (json_int_t)(json_array_size(json_object_get(ids, "healthy")) +
                                 json_array_size(json_object_get(ids, "notYetHealthy"))),
                    "pending", (json_int_t)json_array_size(json_object_get(ids, "pending")),
                    "cleaning", (json_int_t)json_array_size(json_object_get(ids, "cleaning"))));
    json_decref(ids);
}

/* SingularityTaskCleanup: the task's kill intent, 404 without one. */
static void h_task_cleanup(cctx *x)
{
    const char *tid = param(x, "taskId");
    char *k;
    const json_t *v;

    if (!api_key_id_valid(tid)) {
        as_fail(x->out, 400, "invalid task id '%.200s'", tid ? tid : "");
        return;
    }
    k = api_key_cleanup(x->cfg->prefix, tid);
    v = as_cache_value(x->c, k);
    free(k);
    if (!json_is_object(v)) {
        as_fail(x->out, 404, "No cleanup for task %s", tid);
        return;
    }
    ok(x, json_deep_copy(v));
}

/* ---- history ------------------------------------------------------------------------------ */

static void add_like(cctx *x, const as_entry *e, void *arg)
{
    json_t *ids = arg;
    const char *like = as_req_query(x->req, "requestIdLike");

    if (e->id1 && (!like || strstr(e->id1, like)) && !json_object_get(ids, e->id1))
        json_object_set_new(ids, e->id1, json_true());
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Ids of the requests, current or deleted with history left, whose id
 * contains requestIdLike; sorted, paged with count (100, at most 1000) and
 * page. */
static void h_requests_search(cctx *x)
{
    json_t *seen, *list, *v;
    const char *sc = as_req_query(x->req, "count"), *sp = as_req_query(x->req, "page");
    long count = sc ? strtol(sc, NULL, 10) : 100, page = sp ? strtol(sp, NULL, 10) : 1;
    const char *k, **ids;
    size_t n = 0, skip;

    if (count < 1 || count > 1000 || page < 1 || page > 1000000) {
        as_fail(x->out, 400, "query parameters count (1-1000) and page (>= 1) are out of range");
        return;
    }
    seen = json_object();
    each(x, API_KEY_REQUEST, NULL, add_like, seen);
    each(x, API_KEY_HISTORY_REQUEST, NULL, add_like, seen);
    ids = xcalloc(json_object_size(seen) + 1, sizeof(*ids));
    json_object_foreach(seen, k, v)
        ids[n++] = k;
    qsort(ids, n, sizeof(*ids), cmp_str);
    list = json_array();
    skip = (size_t)((page - 1) * count);
    for (size_t i = skip; i < n && json_array_size(list) < (size_t)count; i++)
        json_array_append_new(list, json_string(ids[i]));
    free(ids);
    json_decref(seen);
    ok(x, list);
}

static void add_args(json_t *set, const json_t *args)
{
    size_t i;
    json_t *e;

    if (!json_is_array(args))
        return;
    json_array_foreach(set, i, e)
        if (json_equal(e, (json_t *)args))
            return;
    json_array_append(set, (json_t *)args);
}

static void add_run_args(cctx *x, const as_entry *e, void *arg)
{
    (void)x;
    add_args(arg, json_object_get(e->value, "commandLineArgs"));
}

static void add_task_args(cctx *x, const as_entry *e, void *arg)
{
    json_t *task = store_obj_json(e);

    (void)x;
    add_args(arg, json_object_get(json_object_get(task, "pendingTask"), "cmdLineArgsList"));
    json_decref(task);
}

/* Set<List<String>>: the distinct argument lists of the request's runs. */
static void h_command_line_args(cctx *x)
{
    const char *rid = param(x, "requestId");
    json_t *set;

    if (!need_request(x, rid))
        return;
    set = json_array();
    each(x, API_KEY_RUN, rid, add_run_args, set);
    each(x, API_KEY_TASK, rid, add_task_args, set);
    each(x, API_KEY_HISTORY_TASK, rid, add_task_args, set);
    ok(x, set);
}

/* ---- state -------------------------------------------------------------------------------- */

static void h_state_part(cctx *x)
{
    json_t *st = as_api_state(x->cfg, x->c, x->req->now, true, x->req->who), *body;

    switch (x->req->match->op) {
    case AS_OP_STATE_UNDER:
        body = json_incref(json_object_get(st, "underProvisionedRequestIds"));
        break;
    case AS_OP_STATE_OVER:
        body = json_incref(json_object_get(st, "overProvisionedRequestIds"));
        break;
    default: /* SingularityScheduledTasksInfo */
        body = json_pack("{s:O, s:O, s:O, s:O, s:I}", "lateTasks",
                         json_object_get(st, "listLateTasks"), "onDemandLateTasks",
                         json_object_get(st, "onDemandListLateTasks"), "numFutureTasks",
                         json_object_get(st, "futureTasks"), "maxTaskLag",
                         json_object_get(st, "maxTaskLag"), "timestamp", (json_int_t)x->req->now);
        break;
    }
    json_decref(st);
    ok(x, body ? body : json_array());
}

/* ---- task tracker ------------------------------------------------------------------------- */

/* SingularityTaskState of a task record. */
static json_t *task_state(const json_t *task)
{
    const json_t *pt = json_object_get(task, "pendingTask");
    const json_t *run = json_object_get(json_object_get(pt, "pendingTaskId"), "runId");

    if (!run)
        run = json_object_get(pt, "runId");
    return json_pack("{s:o, s:O?, s:O?, s:O?, s:o, s:b}", "taskId", task_id_of(task),
                     "pendingTaskId", json_object_get(pt, "pendingTaskId"), "runId", run,
                     "currentState", json_object_get(task, "lastTaskState"), "taskHistory",
                     task_updates(task), "pending", 0);
}

static void h_track_task(cctx *x)
{
    const char *tid = param(x, "taskId");
    bool hist;
    json_t *task = api_key_id_valid(tid) ? as_m_task_find(x->cfg, x->c, tid, &hist) : NULL;

    if (!task) {
        as_fail(x->out, 404, "No task %.200s", tid ? tid : "");
        return;
    }
    ok(x, task_state(task));
    json_decref(task);
}

typedef struct run_find {
    const char *run_id;
    const as_entry *found;
    int64_t updated;
} run_find;

static void find_run_task(cctx *x, const as_entry *e, void *arg)
{
    run_find *f = arg;
    as_task t;

    (void)x;
    if (as_task_open_sort(&t, e) && t.run_id && strcmp(t.run_id, f->run_id) == 0 &&
        (!f->found || t.updated > f->updated)) {
        f->found = e;
        f->updated = t.updated;
    }
    as_task_close(&t);
}

static void find_run_pending(cctx *x, const as_entry *e, void *arg)
{
    run_find *f = arg;
    as_pending p;
    json_t *pid = NULL;
    const char *r;

    (void)x;
    if (f->found || !as_pending_open(&p, e))
        return;
    r = p.run_id;
    if (!r) { /* the typed document has no such member: read it */
        pid = as_pending_id_json(&p);
        r = as_jstr(pid, "runId");
    }
    if (r && strcmp(r, f->run_id) == 0)
        f->found = e;
    json_decref(pid);
}

/* The run's task (the newest, active or finished), else its pending task,
 * else the run request itself while it waits. */
static void h_track_run(cctx *x)
{
    const char *rid = param(x, "requestId"), *run_id = param(x, "runId");
    run_find f = {run_id, NULL, 0};
    json_t *task;
    char *k;

    if (!need_request(x, rid))
        return;
    if (!api_key_id_valid(run_id)) {
        as_fail(x->out, 400, "invalid run id '%.200s'", run_id ? run_id : "");
        return;
    }
    each(x, API_KEY_TASK, rid, find_run_task, &f);
    if (!f.found)
        each(x, API_KEY_HISTORY_TASK, rid, find_run_task, &f);
    if (f.found && (task = store_obj_json(f.found))) {
        ok(x, task_state(task));
        json_decref(task);
        return;
    }
    each(x, API_KEY_PENDING, rid, find_run_pending, &f);
    if (f.found) {
        as_pending p;
        as_pending_open(&p, f.found);
        ok(x, json_pack("{s:n, s:o?, s:s, s:n, s:[], s:b}", "taskId", "pendingTaskId",
                        as_pending_id_json(&p), "runId", run_id, "currentState", "taskHistory",
                        "pending", 1));
        return;
    }
    k = api_key_run(x->cfg->prefix, rid, run_id);
    if (as_cache_value(x->c, k))
        ok(x, json_pack("{s:n, s:n, s:s, s:n, s:[], s:b}", "taskId", "pendingTaskId", "runId",
                        run_id, "currentState", "taskHistory", "pending", 1));
    else
        as_fail(x->out, 404, "No run %s of request %s", run_id, rid);
    free(k);
}

/* ---- disasters, OpenAPI ------------------------------------------------------------------- */

/* Corral detects no disasters and disables no actions (docs/api.md): the
 * answers Singularity gives when it has seen none. */
static void h_disasters(cctx *x)
{
    /* stats: the names Jackson writes, and the ones it reads back */
    if (x->req->match->op == AS_OP_DISASTERS_STATS)
        ok(x, json_pack("{s:[], s:[], s:[], s:b, s:b}", "stats", "disasters", "disasterStates",
                        "automatedActionsDisabled", 0, "automatedActionDisabled", 0));
    else
        ok(x, json_array());
}

/* ---- request groups ---------------------------------------------------------------------- */

/* SingularityRequestGroup {id, requestIds, metadata} at P/groups/<id>: a
 * label over requests for the UI and clients. Singularity lets every
 * caller read and write every group; Corral does not let a group show or
 * touch requests the caller may not (docs/api.md "Request groups"):
 *   - a group is shown with the requests the caller may read; a group
 *     naming requests none of which the caller may read is not shown (a
 *     GET of it: 403), one naming none is shown to everyone;
 *   - writing a group (creating, replacing, deleting) needs write access to
 *     every request it names, before and after (admins: any group). */

/* The group document v as the caller may see it (caller owns), or NULL
 * when it names requests and the caller may read none of them. */
static json_t *group_view(cctx *x, const json_t *v)
{
    const json_t *ids = json_object_get(v, "requestIds"), *id;
    json_t *out, *seen;
    size_t i;

    if (!json_array_size(ids))
        return json_incref((json_t *)v);
    seen = json_array();
    json_array_foreach(ids, i, id)
        if (json_is_string(id) && api_request_id_valid(json_string_value(id)) &&
            sees(x, json_string_value(id)))
            json_array_append(seen, (json_t *)id);
    if (!json_array_size(seen)) {
        json_decref(seen);
        return NULL;
    }
    out = json_copy((json_t *)v);
    json_object_set_new(out, "requestIds", seen);
    return out;
}

static void h_groups_list(cctx *x)
{
    char *prefix = api_key_kind_prefix(x->cfg->prefix, API_KEY_REQUEST_GROUP, NULL);
    size_t first, n = as_cache_range(x->c, prefix, &first);
    json_t *list = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(x->c, i);
        json_t *g = json_is_object(e->value) ? group_view(x, e->value) : NULL;
        if (g) /* what else was put there is skipped */
            json_array_append_new(list, g);
    }
    free(prefix);
    ok(x, list);
}

static char *group_key(cctx *x, const char *id)
{
    if (!id || !api_request_id_valid(id)) {
        as_fail(x->out, 400, "invalid request group id '%.200s': must match [a-zA-Z0-9_-]{1,%d}",
                id ? id : "", API_MAX_REQUEST_ID);
        return NULL;
    }
    return api_key_request_group(x->cfg->prefix, id);
}

/* Whether the caller may write group gid naming ids (a JSON array, may be
 * NULL): write access to each request; answers the 403 itself. The
 * refusal names a request only when the caller may read it. */
static bool may_write_group(cctx *x, const char *gid, const json_t *ids)
{
    const json_t *id;
    size_t i;

    json_array_foreach(ids, i, id)
    {
        const char *rid = json_string_value(id);
        as_verdict v;
        if (!rid || !api_request_id_valid(rid) ||
            as_api_may_write(x->cfg, x->c, x->req->who, rid, &v))
            continue;
        if (sees(x, rid))
            as_fail(x->out, v.status, "request group '%s': %s", gid, v.message);
        else
            as_fail(x->out, v.status, "request group '%s' names requests user '%s' may not change",
                    gid, x->req->who && x->req->who->user.id ? x->req->who->user.id : "?");
        return false;
    }
    return true;
}

static void h_group_get(cctx *x)
{
    const char *id = param(x, "requestGroupId");
    char *k = group_key(x, id);
    const json_t *v = k ? as_cache_value(x->c, k) : NULL;
    json_t *g;

    if (k && !json_is_object(v))
        as_fail(x->out, 404, "No request group %s", id);
    else if (k && !(g = group_view(x, v)))
        as_fail(x->out, 403, "user '%s' may read none of the requests of request group '%s'",
                x->req->who && x->req->who->user.id ? x->req->who->user.id : "?", id);
    else if (k)
        ok(x, g);
    free(k);
}

static void h_group_delete(cctx *x)
{
    const char *id = param(x, "requestGroupId");
    char *k = group_key(x, id);
    const as_entry *e = k ? as_cache_get(x->c, k) : NULL;

    if (!k)
        return;
    if (e && !may_write_group(x, id, json_object_get(e->value, "requestIds")))
        goto out;
    if (e) {
        as_txn_cmp(&x->out->txn, k, e->mod_revision);
        as_txn_del(&x->out->txn, k);
    }
    ok(x, NULL); /* 200 whether it was there or not, as Singularity */
out:
    free(k);
}

/* A field a lenient decode ignored, for the answer's Warning headers. */
static void warn_unknown(cctx *x, const char *what, const char *field)
{
    if (!x->out->warnings)
        x->out->warnings = json_array();
    json_array_append_new(x->out->warnings,
                          json_sprintf("%s.%s: unknown field ignored", what, field));
}

static void h_group_post(cctx *x)
{
    json_error_t err;
    json_t *body = x->req->body ? json_loadb(x->req->body, x->req->body_len,
                                             JSON_REJECT_DUPLICATES, &err)
                                : NULL;
    json_t *doc = NULL, *v;
    const json_t *ids, *meta;
    const char *k;
    char *key = NULL;
    size_t i;

    if (!json_is_object(body)) {
        as_fail(x->out, 400, "request group: the body must be a JSON object");
        goto out;
    }
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "id") == 0 || strcmp(k, "requestIds") == 0 || strcmp(k, "metadata") == 0)
            continue;
        if (x->req->strict) {
            as_fail(x->out, 400, "request group: unknown field '%s'", k);
            goto out;
        }
        warn_unknown(x, "requestGroup", k);
    }
    if (!(key = group_key(x, as_jstr(body, "id"))))
        goto out;
    ids = json_object_get(body, "requestIds");
    meta = json_object_get(body, "metadata");
    if (ids && !json_is_null(ids) && !json_is_array(ids)) {
        as_fail(x->out, 400, "requestGroup.requestIds: must be a list of request ids");
        goto out;
    }
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || !api_request_id_valid(json_string_value(v))) {
            as_fail(x->out, 400, "requestGroup.requestIds[%zu]: must be a request id", i);
            goto out;
        }
    }
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            as_fail(x->out, 400, "requestGroup.metadata: must be an object of strings");
            goto out;
        }
        json_object_foreach((json_t *)meta, k, v)
        {
            if (!json_is_string(v)) {
                as_fail(x->out, 400, "requestGroup.metadata.%s: must be a string", k);
                goto out;
            }
        }
    }
    {
        /* the requests it names now, and those it named before */
        const as_entry *e = as_cache_get(x->c, key);
        const char *gid = as_jstr(body, "id");
        if (!may_write_group(x, gid, ids) ||
            (e && !may_write_group(x, gid, json_object_get(e->value, "requestIds"))))
            goto out;
        as_txn_cmp(&x->out->txn, key, e ? e->mod_revision : 0);
    }
    doc = json_pack("{s:s, s:o, s:o}", "id", as_jstr(body, "id"), "requestIds",
                    json_is_array(ids) ? json_incref((json_t *)ids) : json_array(), "metadata",
                    json_is_object(meta) ? json_incref((json_t *)meta) : json_object());
    as_txn_put(&x->out->txn, key, doc);
    ok(x, json_incref(doc));
out:
    json_decref(body);
    json_decref(doc);
    free(key);
}

/* Appends the logs of one request, deploy or task to results (the caller
 * may read the request). */
static void add_logs(cctx *x, json_t *results, const char *rid, const char *tid, const char *did,
                     const json_t *body)
{
    const json_t *s = json_object_get(body, "start"), *e = json_object_get(body, "end");
    const json_t *m = json_object_get(body, "maxPerPage");
    as_logs_s3 s3;
    json_t *l;

    as_logs_s3_from_env(&s3);
    l = as_logs_list_opts(x->cfg->prefix, x->c, &s3, rid, tid, did, x->req->now,
                          json_is_integer(s) ? json_integer_value(s) : 0,
                          json_is_integer(e) ? json_integer_value(e) : 0,
                          !json_is_true(json_object_get(body, "listOnly")),
                          json_is_integer(m) && json_integer_value(m) > 0
                              ? (size_t)json_integer_value(m)
                              : 0);
    json_array_extend(results, l);
    json_decref(l);
}

/* SingularityS3SearchRequest {requestsAndDeploys: {requestId: [deployId]},
 * taskIds, start, end, listOnly, maxPerPage} -> SingularityS3SearchResult
 * {continuationTokens, lastPage, results}: the archive's logs of those
 * requests (all their deploys when the list is empty), deploys and tasks,
 * in one page. What the caller may not read is left out. */
static void h_logs_search(cctx *x)
{
    json_error_t err;
    json_t *body = x->req->body ? json_loadb(x->req->body, x->req->body_len, 0, &err) : NULL;
    const json_t *rd, *tids, *v;
    json_t *results;
    const char *rid;
    size_t i;

    if (!json_is_object(body)) {
        as_fail(x->out, 400, "logs search: the body must be a JSON object");
        json_decref(body);
        return;
    }
    rd = json_object_get(body, "requestsAndDeploys");
    tids = json_object_get(body, "taskIds");
    if ((rd && !json_is_null(rd) && !json_is_object(rd)) ||
        (tids && !json_is_null(tids) && !json_is_array(tids))) {
        as_fail(x->out, 400, "logs search: requestsAndDeploys must be an object of deploy id "
                             "lists, taskIds a list");
        json_decref(body);
        return;
    }
    results = json_array();
    json_object_foreach((json_t *)rd, rid, v)
    {
        const json_t *did;
        if (!api_request_id_valid(rid) || !sees(x, rid))
            continue;
        if (!json_array_size(v))
            add_logs(x, results, rid, NULL, NULL, body);
        json_array_foreach(v, i, did)
            if (json_is_string(did) && api_deploy_id_valid(json_string_value(did)))
                add_logs(x, results, rid, NULL, json_string_value(did), body);
    }
    json_array_foreach(tids, i, v)
    {
        const char *tid = json_string_value(v);
        char *trid = tid && api_key_id_valid(tid) ? as_m_task_request_id(tid) : NULL;
        if (trid && sees(x, trid))
            add_logs(x, results, trid, tid, NULL, body);
        free(trid);
    }
    json_decref(body);
    ok(x, json_pack("{s:{}, s:b, s:o}", "continuationTokens", "lastPage", 1, "results", results));
}

/* What Corral does not do, answered as Singularity answers when it has
 * none of it: no usage is collected (Singularity before its usage poller
 * ran), no fire alarm or priority freeze is set (an absent Optional: 404),
 * no e-mail lists, no shell commands (the executor part of issue 20). */
static void h_nothing(cctx *x)
{
    const char *tid = param(x, "taskId");
    bool hist;

    switch (x->req->match->op) {
    case AS_OP_DISASTERS_FIREALARM:
        as_fail(x->out, 404, "no fire alarm is set");
        return;
    case AS_OP_PRIORITY_FREEZE:
        as_fail(x->out, 404, "no priority freeze is set");
        return;
    case AS_OP_USAGE_REQUEST:
        if (need_request(x, param(x, "requestId")))
            as_fail(x->out, 404, "no usage is collected for request %s", param(x, "requestId"));
        return;
    case AS_OP_USAGE_TASK:
        if (!api_key_id_valid(tid) || !as_m_task_entry(x->cfg, x->c, tid, &hist)) {
            as_fail(x->out, 404, "No task %.200s", tid ? tid : "");
            return;
        }
        break;
    default:
        break;
    }
    ok(x, json_array());
}

/* SingularityLimits: what corrald was started with. */
static void h_limits(cctx *x)
{
    ok(x, json_pack("{s:i}", "maxDecommissioningAgents", x->cfg->max_decommissioning_agents));
}

/* The route table as an OpenAPI 3 document: each path with its methods,
 * operation name and what a caller needs (x-corral-access). */
static void h_openapi(cctx *x)
{
    json_t *paths = json_object();

    for (size_t i = 0; i < as_route_count(); i++) {
        as_route_info r;
        json_t *item;
        as_route_at(i, &r);
        if (strncmp(r.pattern, "/api/", 5) != 0)
            continue;
        if (!(item = json_object_get(paths, r.pattern))) {
            item = json_object();
            json_object_set_new(paths, r.pattern, item);
        }
        for (unsigned bit = AS_GET; bit <= AS_DELETE; bit <<= 1) {
            char method[8];
            const char *m = as_method_name(bit);
            size_t n = strlen(m);
            if (!(r.methods & bit))
                continue;
            for (size_t k = 0; k <= n; k++)
                method[k] = (char)(m[k] >= 'A' && m[k] <= 'Z' ? m[k] + 32 : m[k]);
            json_object_set_new(item, method,
                                json_pack("{s:s, s:s, s:{s:{s:s}}}", "operationId",
                                          as_op_name(r.op), "x-corral-access",
                                          as_access_name(r.access), "responses", "default",
                                          "description", "JSON (docs/api.md)"));
        }
    }
    ok(x, json_pack("{s:s, s:{s:s, s:s}, s:o}", "openapi", "3.0.1", "info", "title",
                    "Corral (Singularity-compatible API)", "version", CORRAL_VERSION, "paths",
                    paths));
}

/* ---- dispatch ----------------------------------------------------------------------------- */

bool as_compat_op(as_op op)
{
    switch (op) {
    case AS_OP_REQ_IDS:
    case AS_OP_REQ_IDS_ACTIVE:
    case AS_OP_REQ_BATCH:
    case AS_OP_REQ_SIMPLE:
    case AS_OP_REQ_CRASHLOOPS:
    case AS_OP_REQ_CRASHLOOPS_ONE:
    case AS_OP_REQ_LBCLEANUP:
    case AS_OP_TASKS_LBCLEANUP:
    case AS_OP_TASKS_ACTIVE_STATES:
    case AS_OP_TASKS_KILLED:
    case AS_OP_TASKS_COUNTS:
    case AS_OP_TASK_CLEANUP:
    case AS_OP_HIST_REQUESTS_SEARCH:
    case AS_OP_HIST_REQ_CMDARGS:
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
    case AS_OP_STATE_SCHEDULED_INFO:
    case AS_OP_TRACK_TASK:
    case AS_OP_TRACK_RUN:
    case AS_OP_DISASTERS_STATS:
    case AS_OP_DISASTERS_ACTIVE:
    case AS_OP_DISASTERS_DISABLED:
    case AS_OP_OPENAPI:
    case AS_OP_DISASTERS_FIREALARM:
    case AS_OP_USAGE_REQUESTS:
    case AS_OP_USAGE_REQUEST:
    case AS_OP_USAGE_AGENTS:
    case AS_OP_USAGE_TASK:
    case AS_OP_NOTIFY_LISTS:
    case AS_OP_PRIORITY_FREEZE:
    case AS_OP_CONFIG_LIMITS:
    case AS_OP_LOGS_SEARCH:
    case AS_OP_GROUPS_LIST:
    case AS_OP_GROUP_POST:
    case AS_OP_GROUP_GET:
    case AS_OP_GROUP_DELETE:
        return true;
    default:
        return false;
    }
}

void as_compat_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                      as_result *out)
{
    cctx x = {cfg, cache, req, out};

    switch (req->match->op) {
    case AS_OP_REQ_IDS:
    case AS_OP_REQ_IDS_ACTIVE:
        h_request_ids(&x);
        break;
    case AS_OP_REQ_BATCH:
        h_request_batch(&x);
        break;
    case AS_OP_REQ_SIMPLE:
        h_request_simple(&x);
        break;
    case AS_OP_REQ_CRASHLOOPS:
        h_crashloops(&x);
        break;
    case AS_OP_REQ_CRASHLOOPS_ONE:
        h_request_crashloops(&x);
        break;
    case AS_OP_REQ_LBCLEANUP:
    case AS_OP_TASKS_LBCLEANUP:
        h_lb_cleanups(&x);
        break;
    case AS_OP_TASKS_ACTIVE_STATES:
        h_active_states(&x);
        break;
    case AS_OP_TASKS_KILLED:
        h_killed(&x);
        break;
    case AS_OP_TASKS_COUNTS:
        h_task_counts(&x);
        break;
    case AS_OP_TASK_CLEANUP:
        h_task_cleanup(&x);
        break;
    case AS_OP_HIST_REQUESTS_SEARCH:
        h_requests_search(&x);
        break;
    case AS_OP_HIST_REQ_CMDARGS:
        h_command_line_args(&x);
        break;
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
    case AS_OP_STATE_SCHEDULED_INFO:
        h_state_part(&x);
        break;
    case AS_OP_TRACK_TASK:
        h_track_task(&x);
        break;
    case AS_OP_TRACK_RUN:
        h_track_run(&x);
        break;
    case AS_OP_DISASTERS_STATS:
    case AS_OP_DISASTERS_ACTIVE:
    case AS_OP_DISASTERS_DISABLED:
        h_disasters(&x);
        break;
    case AS_OP_OPENAPI:
        h_openapi(&x);
        break;
    case AS_OP_DISASTERS_FIREALARM:
    case AS_OP_USAGE_REQUESTS:
    case AS_OP_USAGE_REQUEST:
    case AS_OP_USAGE_AGENTS:
    case AS_OP_USAGE_TASK:
    case AS_OP_NOTIFY_LISTS:
    case AS_OP_PRIORITY_FREEZE:
        h_nothing(&x);
        break;
    case AS_OP_CONFIG_LIMITS:
        h_limits(&x);
        break;
    case AS_OP_LOGS_SEARCH:
        h_logs_search(&x);
        break;
    case AS_OP_GROUPS_LIST:
        h_groups_list(&x);
        break;
    case AS_OP_GROUP_POST:
        h_group_post(&x);
        break;
    case AS_OP_GROUP_GET:
        h_group_get(&x);
        break;
    case AS_OP_GROUP_DELETE:
        h_group_delete(&x);
        break;
    default:
        as_fail(out, 404, "unknown operation");
        break;
    }
}
