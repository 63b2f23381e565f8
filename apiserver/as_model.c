#include "apiserver/as_model.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/status.h"
#include "base/xalloc.h"

const char *as_jstr(const json_t *o, const char *field)
{
    const json_t *v = o ? json_object_get(o, field) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *as_doc_task_id(const json_t *doc)
{
    const json_t *t = json_object_get(doc, "taskId");
    if (json_is_string(t))
        return json_string_value(t);
    return as_jstr(t, "id");
}

char *as_m_task_request_id(const char *tid)
{
    const char *p = tid + strlen(tid);
    int dashes = 0;

    while (p > tid) {
        p--;
        if (*p == '-' && ++dashes == 5)
            return p > tid ? xstrndup(tid, (size_t)(p - tid)) : NULL;
    }
    return NULL;
}

const json_t *as_m_request(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *k = api_key_request(cfg->prefix, rid);
    const json_t *v = as_cache_value(c, k);
    free(k);
    return json_is_object(v) ? v : NULL;
}

const json_t *as_m_request_status(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *k = api_key_request_status(cfg->prefix, rid);
    const json_t *v = as_cache_value(c, k);
    free(k);
    return json_is_object(v) ? v : NULL;
}

const json_t *as_m_deploy(const as_api_config *cfg, const as_cache *c, const char *rid,
                          const char *did)
{
    char *k = api_key_deploy(cfg->prefix, rid, did);
    const json_t *v = as_cache_value(c, k);
    free(k);
    return json_is_object(v) ? v : NULL;
}

const json_t *as_m_deploy_status(const as_api_config *cfg, const as_cache *c, const char *rid,
                                 const char *did)
{
    char *k = api_key_deploy_status(cfg->prefix, rid, did);
    const json_t *v = as_cache_value(c, k);
    free(k);
    return json_is_object(v) ? v : NULL;
}

/* The value of an intent at key k, or NULL when there is none or it is
 * invalid: the cache decoded it against its key (apis/doc.h), and an intent
 * that does not decode asks for nothing, for the API as for the
 * controllers. */
static const json_t *intent_value(const as_cache *c, char *k /* freed */)
{
    const as_entry *e = as_cache_get(c, k);
    free(k);
    return e && e->doc && !e->error && json_is_object(e->value) ? e->value : NULL;
}

const json_t *as_m_intent(const as_api_config *cfg, const as_cache *c, const char *rid,
                          const char *name)
{
    return intent_value(c, api_key_intent_request(cfg->prefix, rid, name));
}

const json_t *as_m_machine(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                           const char *id)
{
    char *k =
        kind == API_KEY_AGENT ? api_key_agent(cfg->prefix, id) : api_key_rack(cfg->prefix, id);
    const json_t *v = as_cache_value(c, k);
    free(k);
    return json_is_object(v) ? v : NULL;
}

const json_t *as_m_machine_intent(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                                  const char *id)
{
    return intent_value(c, kind == API_KEY_AGENT ? api_key_intent_agent(cfg->prefix, id)
                                                 : api_key_intent_rack(cfg->prefix, id));
}

const char *as_m_request_state(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const char *s = as_jstr(as_m_request_status(cfg, c, rid), "state");
    bool paused = as_m_intent(cfg, c, rid, "pause") != NULL;

    /* The user's pause intent shows at once; the leader's status catches up. */
    if (s && (strcmp(s, "DELETING") == 0 || strcmp(s, "DELETED") == 0 ||
              strcmp(s, "DEPLOYING_TO_UNPAUSE") == 0))
        return s;
    if (paused)
        return "PAUSED";
    if (!s || strcmp(s, "PAUSED") == 0)
        return "ACTIVE";
    return s;
}

const char *as_m_active_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    return as_jstr(as_m_request_status(cfg, c, rid), "activeDeployId");
}

bool as_m_deploy_state_terminal(const char *s)
{
    /* Singularity's terminal states plus Corral's SUPERSEDED (apis/status.h). */
    return s && api_deploy_state_terminal(api_deploy_state_parse(s));
}

static const char *deploy_state_of(const json_t *st)
{
    const char *s = as_jstr(st, "deployState");
    if (!s)
        s = as_jstr(st, "currentDeployState");
    if (!s)
        s = as_jstr(st, "state");
    return s;
}

static bool deploy_cancelled(const as_api_config *cfg, const as_cache *c, const char *rid,
                             const char *did)
{
    return intent_value(c, api_key_intent_deploy(cfg->prefix, rid, did, "cancel")) != NULL;
}

const char *as_m_pending_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const json_t *st = as_m_request_status(cfg, c, rid);
    const char *active = as_jstr(st, "activeDeployId"), *pending = as_jstr(st, "pendingDeployId");
    const char *best = NULL;
    int64_t best_rev = -1, active_rev = 0;
    char *prefix;
    size_t first, n;

    /* The leader's word, unless the user has cancelled it since. */
    if (pending && !deploy_cancelled(cfg, c, rid, pending))
        return pending;
    if (active) {
        char *ak = api_key_deploy(cfg->prefix, rid, active);
        const as_entry *ae = as_cache_get(c, ak);
        free(ak);
        active_rev = ae ? ae->create_revision : 0;
    }
    /* Otherwise the newest deploy written after the active one that has
     * not finished (the leader may not have seen it yet). */
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_DEPLOY, rid);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const char *did = as_jstr(e->value, "id");
        if (!did || e->create_revision <= active_rev || (active && strcmp(did, active) == 0))
            continue;
        if (as_m_deploy_state_terminal(deploy_state_of(as_m_deploy_status(cfg, c, rid, did))))
            continue;
        if (deploy_cancelled(cfg, c, rid, did))
            continue;
        if (e->create_revision > best_rev) {
            best_rev = e->create_revision;
            best = did;
        }
    }
    free(prefix);
    return best;
}

json_t *as_m_deploy_marker(const as_api_config *cfg, const as_cache *c, const char *rid,
                           const char *did)
{
    const json_t *d = did ? as_m_deploy(cfg, c, rid, did) : NULL;
    const json_t *sub;
    json_t *m;
    char *k;

    if (!d)
        return json_null();
    k = api_key_intent_deploy(cfg->prefix, rid, did, "submit");
    sub = as_cache_value(c, k);
    free(k);
    m = json_pack("{s:s, s:s}", "requestId", rid, "deployId", did);
    if (json_object_get(sub, "timestamp"))
        json_object_set(m, "timestamp", json_object_get(sub, "timestamp"));
    else if (json_object_get(d, "timestamp"))
        json_object_set(m, "timestamp", json_object_get(d, "timestamp"));
    if (as_jstr(sub, "user"))
        json_object_set(m, "user", json_object_get(sub, "user"));
    if (as_jstr(sub, "message"))
        json_object_set(m, "message", json_object_get(sub, "message"));
    return m;
}

bool as_m_task_active(const json_t *task)
{
    static const char *terminal[] = {
        "TASK_FINISHED",         "TASK_FAILED",      "TASK_KILLED",  "TASK_LOST",
        "TASK_LOST_WHILE_DOWN",  "TASK_ERROR",       "TASK_DROPPED", "TASK_GONE",
        "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE", "TASK_UNKNOWN"};
    const char *s = as_jstr(task, "lastTaskState");

    if (!json_is_object(task))
        return false;
    if (!s)
        return true;
    for (size_t i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++)
        if (strcmp(s, terminal[i]) == 0)
            return false;
    return true;
}

static bool task_cleaning(const as_api_config *cfg, const as_cache *c, const json_t *task)
{
    const char *tid = as_doc_task_id(task), *s = as_jstr(task, "lastTaskState");
    char *k;
    bool has;

    if (s && (strcmp(s, "TASK_CLEANING") == 0 || strcmp(s, "TASK_KILLING") == 0))
        return true;
    if (!tid)
        return false;
    k = api_key_cleanup(cfg->prefix, tid);
    has = as_cache_get(c, k) != NULL;
    free(k);
    return has;
}

static json_t *task_id_obj(const json_t *doc)
{
    const json_t *t = json_object_get(doc, "taskId");
    if (json_is_object(t))
        return json_deep_copy(t);
    if (json_is_string(t))
        return json_pack("{s:O}", "id", t);
    return json_null();
}

json_t *as_m_task_ids_by_status(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    json_t *healthy = json_array(), *not_yet = json_array(), *pending = json_array(),
           *cleaning = json_array(), *lb = json_array(), *killed = json_array();
    char *prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, rid);
    size_t first, n = as_cache_range(c, prefix, &first);

    for (size_t i = first; i < first + n; i++) {
        const json_t *t = as_cache_at(c, i)->value;
        if (!as_m_task_active(t))
            continue;
        if (task_cleaning(cfg, c, t)) {
            json_array_append_new(cleaning, task_id_obj(t));
            continue;
        }
        const char *s = as_jstr(t, "lastTaskState");
        const json_t *h = json_object_get(t, "healthy");
        bool running = s && strcmp(s, "TASK_RUNNING") == 0;
        if (running && !json_is_false(h))
            json_array_append_new(healthy, task_id_obj(t));
        else
            json_array_append_new(not_yet, task_id_obj(t));
        if (json_is_true(json_object_get(t, "loadBalanced")))
            json_array_append_new(lb, task_id_obj(t));
    }
    free(prefix);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_PENDING, rid);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const json_t *p = json_object_get(as_cache_at(c, i)->value, "pendingTaskId");
        if (p)
            json_array_append(pending, (json_t *)p);
    }
    free(prefix);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "healthy", healthy, "notYetHealthy", not_yet,
                     "pending", pending, "cleaning", cleaning, "loadBalanced", lb, "killed",
                     killed);
}

int as_m_running_tasks(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, rid);
    size_t first, n = as_cache_range(c, prefix, &first);
    int running = 0;

    for (size_t i = first; i < first + n; i++) {
        const json_t *t = as_cache_at(c, i)->value;
        if (as_m_task_active(t) && !task_cleaning(cfg, c, t))
            running++;
    }
    free(prefix);
    return running;
}

static json_t *expiring(const as_api_config *cfg, const as_cache *c, const char *rid,
                        const char *name)
{
    const json_t *i = as_m_intent(cfg, c, rid, name);
    if (!i || !json_is_integer(json_object_get(i, "durationMillis")))
        return NULL;
    return json_deep_copy(i);
}

json_t *as_m_request_parent(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const json_t *req = as_m_request(cfg, c, rid), *st;
    const char *active, *pending;
    json_t *p, *rds, *ex;
    static const struct {
        const char *intent, *field;
    } exps[] = {{"bounce", "expiringBounce"},
                {"pause", "expiringPause"},
                {"scale", "expiringScale"},
                {"skip-healthchecks", "expiringSkipHealthchecks"}};

    if (!req)
        return NULL;
    st = as_m_request_status(cfg, c, rid);
    active = as_m_active_deploy_id(cfg, c, rid);
    pending = as_m_pending_deploy_id(cfg, c, rid);
    p = json_object();
    json_object_set_new(p, "request", json_deep_copy(req));
    json_object_set_new(p, "state", json_string(as_m_request_state(cfg, c, rid)));
    rds = json_pack("{s:s, s:o, s:o}", "requestId", rid, "activeDeploy",
                    as_m_deploy_marker(cfg, c, rid, active), "pendingDeploy",
                    as_m_deploy_marker(cfg, c, rid, pending));
    json_object_set_new(p, "requestDeployState", rds);
    if (active && as_m_deploy(cfg, c, rid, active))
        json_object_set_new(p, "activeDeploy", json_deep_copy(as_m_deploy(cfg, c, rid, active)));
    if (pending && as_m_deploy(cfg, c, rid, pending)) {
        const json_t *ds = as_m_deploy_status(cfg, c, rid, pending);
        const char *state = deploy_state_of(ds);
        const json_t *upd =
            intent_value(c, api_key_intent_deploy(cfg->prefix, rid, pending, "update"));
        json_t *progress = json_object(), *pds;
        const json_t *target = json_object_get(upd, "targetActiveInstances");

        if (!target)
            target = json_object_get(ds, "targetActiveInstances");
        if (target)
            json_object_set(progress, "targetActiveInstances", (json_t *)target);
        else {
            json_t *inst = json_object_get(req, "instances");
            json_object_set_new(progress, "targetActiveInstances",
                                inst ? json_incref(inst) : json_integer(1));
        }
        if (json_object_get(ds, "currentActiveInstances"))
            json_object_set(progress, "currentActiveInstances",
                            json_object_get(ds, "currentActiveInstances"));
        pds =
            json_pack("{s:o, s:s, s:o}", "deployMarker", as_m_deploy_marker(cfg, c, rid, pending),
                      "currentDeployState", state ? state : "WAITING", "deployProgress", progress);
        json_object_set_new(p, "pendingDeploy", json_deep_copy(as_m_deploy(cfg, c, rid, pending)));
        json_object_set_new(p, "pendingDeployState", pds);
    }
    for (size_t i = 0; i < sizeof(exps) / sizeof(exps[0]); i++)
        if ((ex = expiring(cfg, c, rid, exps[i].intent)))
            json_object_set_new(p, exps[i].field, ex);
    json_object_set_new(p, "taskIds", as_m_task_ids_by_status(cfg, c, rid));
    if (st && json_object_get(st, "conditions"))
        json_object_set(p, "conditions", json_object_get(st, "conditions"));
    return p;
}

json_t *as_m_task_request(const as_api_config *cfg, const as_cache *c, const json_t *pending)
{
    const json_t *pid = json_object_get(pending, "pendingTaskId");
    const char *rid = as_jstr(pid, "requestId"), *did = as_jstr(pid, "deployId");
    const json_t *req = rid ? as_m_request(cfg, c, rid) : NULL;
    const json_t *dep = rid && did ? as_m_deploy(cfg, c, rid, did) : NULL;

    return json_pack("{s:O?, s:O?, s:O}", "request", req, "deploy", dep, "pendingTask", pending);
}

json_t *as_m_task_view(const as_api_config *cfg, const as_cache *c, const json_t *task)
{
    json_t *v = json_deep_copy(task);
    const json_t *pt = json_object_get(task, "pendingTask");
    const json_t *tid = json_object_get(task, "taskId");

    if (pt || json_is_object(tid)) {
        json_t *tr;
        if (pt) {
            tr = as_m_task_request(cfg, c, pt);
        } else {
            const char *rid = as_jstr(tid, "requestId"), *did = as_jstr(tid, "deployId");
            tr = json_pack("{s:O?, s:O?}", "request", rid ? as_m_request(cfg, c, rid) : NULL,
                           "deploy", rid && did ? as_m_deploy(cfg, c, rid, did) : NULL);
        }
        json_object_set_new(v, "taskRequest", tr);
    }
    if (!json_object_get(v, "rackId") && json_is_object(tid) && as_jstr(tid, "rackId"))
        json_object_set(v, "rackId", json_object_get(tid, "rackId"));
    return v;
}

const json_t *as_m_find_task(const as_api_config *cfg, const as_cache *c, const char *tid,
                             bool *history)
{
    char *rid = as_m_task_request_id(tid), *k;
    const json_t *v;

    *history = false;
    if (!rid)
        return NULL;
    k = api_key_task(cfg->prefix, rid, tid);
    v = as_cache_value(c, k);
    free(k);
    if (!json_is_object(v)) {
        k = api_key_history_task(cfg->prefix, rid, tid);
        v = as_cache_value(c, k);
        free(k);
        *history = json_is_object(v);
    }
    free(rid);
    return json_is_object(v) ? v : NULL;
}

json_t *as_m_task_history(const as_api_config *cfg, const as_cache *c, const json_t *task)
{
    json_t *h = json_object();
    const json_t *u = json_object_get(task, "taskUpdates");
    json_t *updates = json_array();
    size_t i;
    json_t *e;

    json_array_foreach(u, i, e)
    {
        json_t *x = json_deep_copy(e);
        json_object_set_new(x, "taskId", task_id_obj(task));
        json_array_append_new(updates, x);
    }
    json_object_set_new(h, "task", as_m_task_view(cfg, c, task));
    json_object_set_new(h, "taskUpdates", updates);
    if (json_object_get(task, "directory"))
        json_object_set(h, "directory", json_object_get(task, "directory"));
    if (json_object_get(task, "containerId"))
        json_object_set(h, "containerId", json_object_get(task, "containerId"));
    json_object_set_new(h, "healthcheckResults", json_array());
    json_object_set_new(h, "loadBalancerUpdates", json_array());
    json_object_set_new(h, "shellCommandHistory", json_array());
    json_object_set_new(h, "taskMetadata", json_array());
    return h;
}

json_t *as_m_task_id_history(const json_t *task)
{
    json_t *h = json_pack("{s:o}", "taskId", task_id_obj(task));
    const json_t *pt = json_object_get(task, "pendingTask");

    if (json_object_get(task, "updatedAt"))
        json_object_set(h, "updatedAt", json_object_get(task, "updatedAt"));
    if (json_object_get(task, "lastTaskState"))
        json_object_set(h, "lastTaskState", json_object_get(task, "lastTaskState"));
    if (as_jstr(pt, "runId"))
        json_object_set(h, "runId", json_object_get(pt, "runId"));
    return h;
}
