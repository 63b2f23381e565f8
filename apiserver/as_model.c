#include "apiserver/as_model.h"

#include <stdlib.h>
#include <string.h>

#include "apis/deploy.h"
#include "apis/keys.h"
#include "apis/request.h"
#include "apis/status.h"
#include "apis/task.h"
#include "apiserver/as_shell.h"
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

static int add_to_buf(const char *data, size_t len, void *arg)
{
    cr_buf_add(arg, data, len);
    return 0;
}

bool as_m_entry_object(const as_entry *e)
{
    char *owned = NULL;
    size_t len = 0;
    const char *text;
    bool is;

    if (e && e->kind == API_KEY_TASK && e->doc)
        return true; /* decoded from an object; its text may not be kept (store/cache.h) */
    text = e && !e->value ? store_obj_plain_text(e, &len, &owned) : NULL;
    is = e &&
         (e->value ? json_is_object(e->value) : api_jtext_type(api_jtext_span(text, len)) == '{');
    free(owned);
    return is;
}

json_t *as_m_entry_json(const as_entry *e)
{
    return store_obj_json(e);
}

json_t *as_m_entry_copy(const as_entry *e)
{
    if (e && e->value)
        return json_deep_copy(e->value);
    return store_obj_json(e); /* parsed now: the caller's own */
}

void as_m_entry_dump(const as_entry *e, cr_buf *out)
{
    char *owned = NULL;
    size_t len = 0;
    const char *text;

    if (e && e->value) {
        json_dump_callback(e->value, add_to_buf, out, AS_JSON_FLAGS);
        return;
    }
    text = e ? store_obj_plain_text(e, &len, &owned) : NULL;
    if (text)
        api_jtext_dump(api_jtext_span(text, len), AS_JSON_FLAGS, out);
    else
        cr_buf_adds(out, "null");
    free(owned);
}

json_t *as_m_entry_member(const as_entry *e, const char *name)
{
    char *owned = NULL;
    size_t len = 0;
    const char *text;
    json_t *v;

    if (!e)
        return NULL;
    if (e->value) {
        v = json_object_get(e->value, name);
        return v ? json_incref(v) : NULL;
    }
    text = store_obj_plain_text(e, &len, &owned);
    v = text ? api_jtext_json(api_jtext_get(api_jtext_span(text, len), name)) : NULL;
    free(owned);
    return v;
}

const as_entry *as_m_request_entry(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *k = api_key_request(cfg->prefix, rid);
    const as_entry *e = as_cache_get(c, k);
    free(k);
    return as_m_entry_object(e) ? e : NULL;
}

/* The document of a request, deploy or deploy status entry kept as text,
 * which reads as its tree (api_doc_faithful), or NULL (a tree, or none). */
static const void *text_doc(const as_entry *e, api_key_kind kind)
{
    return e && !e->value && e->kind == kind && !e->error ? e->doc : NULL;
}

const char *as_m_request_type(const as_entry *e)
{
    const api_request *r = text_doc(e, API_KEY_REQUEST);

    if (r)
        return api_request_type_name(r->type);
    return e ? as_jstr(e->value, "requestType") : NULL;
}

int64_t as_m_request_instances(const as_entry *e)
{
    const api_request *r = text_doc(e, API_KEY_REQUEST);
    const json_t *v;

    if (r)
        return r->has_instances ? r->instances : 1;
    v = e ? json_object_get(e->value, "instances") : NULL;
    return json_is_integer(v) ? json_integer_value(v) : 1;
}

const char *as_m_deploy_id(const as_entry *e)
{
    const api_deploy *d = text_doc(e, API_KEY_DEPLOY);

    if (d)
        return d->id;
    return e ? as_jstr(e->value, "id") : NULL;
}

const as_entry *as_m_request_status(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *k = api_key_request_status(cfg->prefix, rid);
    const as_entry *e = as_cache_get(c, k);
    free(k);
    if (!e)
        return NULL;
    if (e->value)
        return json_is_object(e->value) ? e : NULL;
    return e->doc ? e : NULL; /* kept as text: it decoded, so it is an object */
}

const char *as_m_request_status_str(const as_entry *e, const char *field)
{
    const api_request_status *s;

    if (!e)
        return NULL;
    if (e->value)
        return as_jstr(e->value, field);
    /* kept as text: the document decoded from it holds the same strings */
    if (e->kind != API_KEY_REQUEST_STATUS || !(s = e->doc))
        return NULL;
    if (strcmp(field, "state") == 0)
        return api_request_state_name(s->state);
    if (strcmp(field, "activeDeployId") == 0)
        return s->activeDeployId;
    if (strcmp(field, "pendingDeployId") == 0)
        return s->pendingDeployId;
    return NULL;
}

json_t *as_m_request_status_member(const as_entry *e, const char *name)
{
    return as_m_entry_member(e, name);
}

const as_entry *as_m_deploy_entry(const as_api_config *cfg, const as_cache *c, const char *rid,
                                  const char *did)
{
    char *k = api_key_deploy(cfg->prefix, rid, did);
    const as_entry *e = as_cache_get(c, k);
    free(k);
    return as_m_entry_object(e) ? e : NULL;
}

const as_entry *as_m_deploy_status_entry(const as_api_config *cfg, const as_cache *c,
                                         const char *rid, const char *did)
{
    char *k = api_key_deploy_status(cfg->prefix, rid, did);
    const as_entry *e = as_cache_get(c, k);
    free(k);
    return as_m_entry_object(e) ? e : NULL;
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

json_t *as_m_machine(const as_api_config *cfg, const as_cache *c, api_key_kind kind, const char *id)
{
    char *k =
        kind == API_KEY_AGENT ? api_key_agent(cfg->prefix, id) : api_key_rack(cfg->prefix, id);
    json_t *v = as_m_machine_json(as_cache_get(c, k));
    free(k);
    return v;
}

json_t *as_m_machine_json(const as_entry *e)
{
    json_t *v = as_m_entry_json(e); /* kept as text when valid */
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

const json_t *as_m_machine_intent(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                                  const char *id)
{
    return intent_value(c, kind == API_KEY_AGENT ? api_key_intent_agent(cfg->prefix, id)
                                                 : api_key_intent_rack(cfg->prefix, id));
}

const char *as_m_request_state(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const char *s = as_m_request_status_str(as_m_request_status(cfg, c, rid), "state");
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
    return as_m_request_status_str(as_m_request_status(cfg, c, rid), "activeDeployId");
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

/* Whether deploy status entry e (NULL: none) names a terminal state:
 * deploy_state_of its value. One kept as text is its document's encoding
 * (api_doc_faithful): "state" is the document's, and it has no
 * "deployState" or "currentDeployState". */
static bool deploy_status_terminal(const as_entry *e)
{
    const api_deploy_status *d = text_doc(e, API_KEY_DEPLOY_STATUS);

    if (d)
        return api_deploy_state_terminal(d->state);
    return as_m_deploy_state_terminal(deploy_state_of(e ? e->value : NULL));
}

static bool deploy_cancelled(const as_api_config *cfg, const as_cache *c, const char *rid,
                             const char *did)
{
    return intent_value(c, api_key_intent_deploy(cfg->prefix, rid, did, "cancel")) != NULL;
}

const char *as_m_pending_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const as_entry *st = as_m_request_status(cfg, c, rid);
    const char *active = as_m_request_status_str(st, "activeDeployId"),
               *pending = as_m_request_status_str(st, "pendingDeployId");
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
        const char *did = as_m_deploy_id(e);
        if (!did || e->create_revision <= active_rev || (active && strcmp(did, active) == 0))
            continue;
        if (deploy_status_terminal(as_m_deploy_status_entry(cfg, c, rid, did)))
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
    const as_entry *d = did ? as_m_deploy_entry(cfg, c, rid, did) : NULL;
    const json_t *sub;
    json_t *m, *ts;
    char *k;

    if (!d)
        return json_null();
    k = api_key_intent_deploy(cfg->prefix, rid, did, "submit");
    sub = as_cache_value(c, k);
    free(k);
    m = json_pack("{s:s, s:s}", "requestId", rid, "deployId", did);
    if (json_object_get(sub, "timestamp"))
        json_object_set(m, "timestamp", json_object_get(sub, "timestamp"));
    else if ((ts = as_m_entry_member(d, "timestamp")))
        json_object_set_new(m, "timestamp", ts);
    if (as_jstr(sub, "user"))
        json_object_set(m, "user", json_object_get(sub, "user"));
    if (as_jstr(sub, "message"))
        json_object_set(m, "message", json_object_get(sub, "message"));
    return m;
}

/* Whether a lastTaskState names a terminal state (NULL: none, not terminal). */
static bool state_terminal(const char *s)
{
    static const char *terminal[] = {
        "TASK_FINISHED",         "TASK_FAILED",      "TASK_KILLED",  "TASK_LOST",
        "TASK_LOST_WHILE_DOWN",  "TASK_ERROR",       "TASK_DROPPED", "TASK_GONE",
        "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE", "TASK_UNKNOWN"};

    for (size_t i = 0; s && i < sizeof(terminal) / sizeof(terminal[0]); i++)
        if (strcmp(s, terminal[i]) == 0)
            return true;
    return false;
}

bool as_m_task_active(const json_t *task)
{
    return json_is_object(task) && !state_terminal(as_jstr(task, "lastTaskState"));
}

/* Being killed: by its state, or a cleanup of its id exists. */
static bool task_cleaning(const as_api_config *cfg, const as_cache *c, const as_task *t)
{
    const char *s = t->state;
    char *k;
    bool has;

    if (s && (strcmp(s, "TASK_CLEANING") == 0 || strcmp(s, "TASK_KILLING") == 0))
        return true;
    if (!t->id)
        return false;
    k = api_key_cleanup(cfg->prefix, t->id);
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
    /* Served by the load balancer: in the request's LB status
     * (docs/loadbalancing.md). */
    char *lbkey = api_key_lb_status(cfg->prefix, rid);
    const as_entry *lbe = as_cache_get(c, lbkey);
    const json_t *lb_up = lbe ? json_object_get(lbe->value, "upstreams") : NULL;
    free(lbkey);

    for (size_t i = first; i < first + n; i++) {
        as_task t;
        if (!as_task_open(&t, as_cache_at(c, i)) || !as_task_active(&t)) {
            as_task_close(&t);
            continue;
        }
        if (task_cleaning(cfg, c, &t)) {
            json_array_append_new(cleaning, as_task_id_json(&t));
        } else {
            bool running = t.state && strcmp(t.state, "TASK_RUNNING") == 0;
            if (running && !t.unhealthy)
                json_array_append_new(healthy, as_task_id_json(&t));
            else
                json_array_append_new(not_yet, as_task_id_json(&t));
            bool in_lb = t.load_balanced;
            size_t k;
            const json_t *u;
            json_array_foreach(lb_up, k, u)
            {
                if (!in_lb && t.id && as_jstr(u, "taskId") && !strcmp(as_jstr(u, "taskId"), t.id))
                    in_lb = true;
            }
            if (in_lb)
                json_array_append_new(lb, as_task_id_json(&t));
        }
        as_task_close(&t);
    }
    free(prefix);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_PENDING, rid);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        as_pending p;
        json_t *pid = as_pending_open(&p, as_cache_at(c, i)) ? as_pending_id_json(&p) : NULL;
        if (pid)
            json_array_append_new(pending, pid);
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
        as_task t;
        if (as_task_open(&t, as_cache_at(c, i)) && as_task_active(&t) && !task_cleaning(cfg, c, &t))
            running++;
        as_task_close(&t);
    }
    free(prefix);
    return running;
}

/* The expiring action of intent `name`, in the shape of Singularity's
 * SingularityExpiring{Scale,Pause,Bounce,SkipHealthchecks} (requestId, user,
 * startMillis, actionId, expiringAPIRequestObject, and revertToInstances +
 * bounce, revertToSkipHealthchecks or deployId), over the intent's own
 * fields (Corral's: timestamp, previousInstances, previous, ...). */
static json_t *expiring(const as_api_config *cfg, const as_cache *c, const char *rid,
                        const char *name)
{
    const json_t *i = as_m_intent(cfg, c, rid, name), *v;
    static const char *const corral_only[] = {"timestamp", "user", "previousInstances", "previous"};
    json_t *x, *api;
    const char *k;

    if (!i || !json_is_integer(json_object_get(i, "durationMillis")))
        return NULL;
    x = json_deep_copy(i);
    api = json_object();
    json_object_foreach((json_t *)i, k, v)
    {
        bool skip = false;
        for (size_t n = 0; n < sizeof(corral_only) / sizeof(corral_only[0]); n++)
            skip |= strcmp(k, corral_only[n]) == 0;
        if (!skip)
            json_object_set(api, k, (json_t *)v);
    }
    json_object_set_new(x, "requestId", json_string(rid));
    json_object_set(x, "startMillis", json_object_get(i, "timestamp"));
    if (!json_object_get(i, "actionId")) /* required in Singularity's model */
        json_object_set_new(
            x, "actionId",
            json_sprintf("%s-%lld", name,
                         (long long)json_integer_value(json_object_get(i, "timestamp"))));
    json_object_set_new(x, "expiringAPIRequestObject", api);
    if (strcmp(name, "scale") == 0) {
        json_object_set(x, "revertToInstances", json_object_get(i, "previousInstances"));
        json_object_set_new(x, "bounce", json_boolean(json_is_true(json_object_get(i, "bounce"))));
    } else if (strcmp(name, "skip-healthchecks") == 0) {
        json_object_set_new(x, "revertToSkipHealthchecks",
                            json_boolean(json_is_true(json_object_get(i, "previous"))));
    } else if (strcmp(name, "bounce") == 0 && as_m_active_deploy_id(cfg, c, rid)) {
        json_object_set_new(x, "deployId", json_string(as_m_active_deploy_id(cfg, c, rid)));
    }
    return x;
}

json_t *as_m_request_parent(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    const as_entry *re = as_m_request_entry(cfg, c, rid), *ad, *pdep;
    const as_entry *st;
    const char *active, *pending;
    json_t *p, *req, *rds, *ex, *conditions;
    static const struct {
        const char *intent, *field;
    } exps[] = {{"bounce", "expiringBounce"},
                {"pause", "expiringPause"},
                {"scale", "expiringScale"},
                {"skip-healthchecks", "expiringSkipHealthchecks"}};

    if (!re)
        return NULL;
    st = as_m_request_status(cfg, c, rid);
    active = as_m_active_deploy_id(cfg, c, rid);
    pending = as_m_pending_deploy_id(cfg, c, rid);
    p = json_object();
    req = as_m_entry_copy(re); /* p holds it */
    json_object_set_new(p, "request", req);
    json_object_set_new(p, "state", json_string(as_m_request_state(cfg, c, rid)));
    rds = json_pack("{s:s, s:o, s:o}", "requestId", rid, "activeDeploy",
                    as_m_deploy_marker(cfg, c, rid, active), "pendingDeploy",
                    as_m_deploy_marker(cfg, c, rid, pending));
    json_object_set_new(p, "requestDeployState", rds);
    if (active && (ad = as_m_deploy_entry(cfg, c, rid, active)))
        json_object_set_new(p, "activeDeploy", as_m_entry_copy(ad));
    if (pending && (pdep = as_m_deploy_entry(cfg, c, rid, pending))) {
        json_t *ds = as_m_entry_json(as_m_deploy_status_entry(cfg, c, rid, pending));
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
        json_object_set_new(p, "pendingDeploy", as_m_entry_copy(pdep));
        json_object_set_new(p, "pendingDeployState", pds);
        json_decref(ds);
    }
    for (size_t i = 0; i < sizeof(exps) / sizeof(exps[0]); i++)
        if ((ex = expiring(cfg, c, rid, exps[i].intent)))
            json_object_set_new(p, exps[i].field, ex);
    json_object_set_new(p, "taskIds", as_m_task_ids_by_status(cfg, c, rid));
    {
        /* Corral: the request's load-balancer state (status/lb/<r>). */
        char *lbkey = api_key_lb_status(cfg->prefix, rid);
        const as_entry *lbe = as_cache_get(c, lbkey);
        free(lbkey);
        if (lbe && json_is_object(lbe->value))
            json_object_set(p, "loadBalancer", lbe->value);
    }
    {
        /* Corral: the jobs controller's memory of a scheduled or on-demand
         * request (status/jobs/<r>): nextFireAt, the last run, counts. */
        char *jkey = api_key_job_status(cfg->prefix, rid);
        const as_entry *je = as_cache_get(c, jkey);
        free(jkey);
        if (je && json_is_object(je->value))
            json_object_set(p, "jobStatus", je->value);
    }
    if ((conditions = as_m_request_status_member(st, "conditions")))
        json_object_set_new(p, "conditions", conditions);
    return p;
}

json_t *as_m_task_request(const as_api_config *cfg, const as_cache *c, const json_t *pending)
{
    const json_t *pid = json_object_get(pending, "pendingTaskId");
    const char *rid = as_jstr(pid, "requestId"), *did = as_jstr(pid, "deployId");
    const as_entry *req = rid ? as_m_request_entry(cfg, c, rid) : NULL;
    const as_entry *dep = rid && did ? as_m_deploy_entry(cfg, c, rid, did) : NULL;

    return json_pack("{s:o?, s:o?, s:O}", "request", as_m_entry_json(req), "deploy",
                     as_m_entry_json(dep), "pendingTask", pending);
}

/* Appends json_dumps(as_m_task_request(...)) for request rid's deploy did
 * (either may be NULL), with pending (when p is not NULL) as the pending
 * task; or, without it, the {request, deploy} as_m_task_view adds for a
 * task without one. The documents are re-encoded, not parsed. */
static void task_request_dump(const as_api_config *cfg, const as_cache *c, const char *rid,
                              const char *did, api_jspan pending, cr_buf *out)
{
    cr_buf_adds(out, "{\"request\":");
    as_m_entry_dump(rid ? as_m_request_entry(cfg, c, rid) : NULL, out);
    cr_buf_adds(out, ",\"deploy\":");
    as_m_entry_dump(rid && did ? as_m_deploy_entry(cfg, c, rid, did) : NULL, out);
    if (pending.p) {
        cr_buf_adds(out, ",\"pendingTask\":");
        api_jtext_dump(pending, AS_JSON_FLAGS, out);
    }
    cr_buf_addch(out, '}');
}

/* Singularity's SingularityTask carries the Mesos offers it was launched
 * on (MesosOfferObject: id, agentId and its deprecated twin slaveId,
 * hostname), and its Java client refuses a task without one: Corral keeps
 * the offer's id, agent and host on the task record, and shows them so.
 * Adds "offer" and "offers" to v unless the record has them. */
static void add_offers(json_t *v, const char *offer_id, const char *agent, const char *host)
{
    json_t *o;

    if (json_object_get(v, "offers") || json_object_get(v, "offer"))
        return;
    o = json_pack("{s:{s:s}}", "id", "value", offer_id ? offer_id : "");
    if (agent) {
        json_object_set_new(o, "agentId", json_pack("{s:s}", "value", agent));
        json_object_set_new(o, "slaveId", json_pack("{s:s}", "value", agent));
    }
    if (host)
        json_object_set_new(o, "hostname", json_string(host));
    json_object_set(v, "offer", o);
    json_object_set_new(v, "offers", json_pack("[o]", o));
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
            tr =
                json_pack("{s:o?, s:o?}", "request",
                          as_m_entry_json(rid ? as_m_request_entry(cfg, c, rid) : NULL), "deploy",
                          as_m_entry_json(rid && did ? as_m_deploy_entry(cfg, c, rid, did) : NULL));
        }
        json_object_set_new(v, "taskRequest", tr);
    }
    if (!json_object_get(v, "rackId") && json_is_object(tid) && as_jstr(tid, "rackId"))
        json_object_set(v, "rackId", json_object_get(tid, "rackId"));
    add_offers(v, as_jstr(task, "offerId"), as_jstr(task, "agentId"), as_jstr(task, "hostname"));
    return v;
}

const as_entry *as_m_task_entry(const as_api_config *cfg, const as_cache *c, const char *tid,
                                bool *history)
{
    char *rid = as_m_task_request_id(tid), *k;
    const as_entry *e;

    *history = false;
    if (!rid)
        return NULL;
    k = api_key_task(cfg->prefix, rid, tid);
    e = as_cache_get(c, k);
    free(k);
    if (!as_m_entry_object(e)) {
        k = api_key_history_task(cfg->prefix, rid, tid);
        e = as_cache_get(c, k);
        free(k);
        *history = as_m_entry_object(e);
    }
    free(rid);
    return as_m_entry_object(e) ? e : NULL;
}

json_t *as_m_task_find(const as_api_config *cfg, const as_cache *c, const char *tid, bool *history)
{
    return store_obj_json(as_m_task_entry(cfg, c, tid, history));
}

/* One SingularityLoadBalancerUpdate: BaragonRequestState `state` (also
 * as `loadBalancerState`), the change's LoadBalancerRequestId. */
static json_t *lb_update(const char *state, const char *change, const char *type, int64_t at,
                         const char *message)
{
    return json_pack("{s:s, s:s, s:I, s:s?, s:n, s:s, s:{s:s, s:s, s:i}}", "state", state,
                     "loadBalancerState", state, "timestamp", (json_int_t)at, "message", message,
                     "uri", "method", "ENQUEUE", "loadBalancerRequestId", "id",
                     change ? change : "", "requestType", type, "attemptNumber", 1);
}

/* A task's loadBalancerUpdates, from its request's LB status
 * (status/lb/<r>, docs/loadbalancing.md): ADD while the load balancer
 * serves it, REMOVE once it took it out; none for other tasks. */
static json_t *lb_updates(const as_api_config *cfg, const as_cache *c, const json_t *task)
{
    json_t *out = json_array();
    const json_t *tid = json_object_get(task, "taskId");
    const char *rid = as_jstr(tid, "requestId"), *id = as_jstr(tid, "id");
    if (!rid || !id || !api_key_id_valid(rid))
        return out;
    char *key = api_key_lb_status(cfg->prefix, rid);
    const as_entry *e = as_cache_get(c, key);
    free(key);
    const json_t *st = e ? e->value : NULL;
    const char *change = as_jstr(st, "loadBalancerRequestId");
    size_t i;
    const json_t *u;
    json_array_foreach(json_object_get(st, "upstreams"), i, u)
    {
        if (as_jstr(u, "taskId") && !strcmp(as_jstr(u, "taskId"), id))
            json_array_append_new(out, lb_update("SUCCESS", change, "ADD",
                                                 json_integer_value(json_object_get(u, "at")),
                                                 as_jstr(u, "upstream")));
    }
    json_array_foreach(json_object_get(st, "removed"), i, u)
    {
        if (as_jstr(u, "taskId") && !strcmp(as_jstr(u, "taskId"), id))
            json_array_append_new(out, lb_update("SUCCESS", change, "REMOVE",
                                                 json_integer_value(json_object_get(u, "at")),
                                                 as_jstr(u, "upstream")));
    }
    return out;
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
    json_object_set_new(h, "loadBalancerUpdates", lb_updates(cfg, c, task));
    json_object_set_new(h, "shellCommandHistory", as_shell_task_history(cfg, c, task));
    json_object_set_new(h, "taskMetadata", json_array());
    return h;
}

/* ---- task records as text ------------------------------------------------------ */

/* A key's name: its bytes, or decoded into tmp when it has escapes. */
static const char *key_name(api_jspan k, cr_buf *tmp, size_t *n)
{
    if (k.n >= 2 && !memchr(k.p + 1, '\\', k.n - 2)) {
        *n = k.n - 2;
        return k.p + 1;
    }
    cr_buf_reset(tmp);
    api_jtext_string(k, tmp);
    *n = tmp->len;
    return tmp->data;
}

/* Whether the key name[0..n) is the literal lit. */
#define NAME_IS(name, n, lit) ((n) == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)

/* Appends string value v to t's strings (with its NUL) and returns its
 * offset, or -1 when v is not a string. */
static long keep_str(as_task *t, api_jspan v)
{
    long off = (long)t->strs.len;
    if (!api_jtext_string(v, &t->strs))
        return -1;
    cr_buf_add(&t->strs, "", 1);
    return off;
}

static const char *str_at(const as_task *t, long off)
{
    return off < 0 ? NULL : t->strs.data + off;
}

/* The typed record of e when its fields are those of its JSON, or NULL. */
static const api_task *faithful_doc(const as_entry *e)
{
    const api_task *d = e->kind == API_KEY_TASK && !e->error ? e->doc : NULL;
    return d && d->faithful ? d : NULL;
}

/* Members of a record, as bits: what history search reads. Once a walk has
 * found them all it may stop (as_task_open_sort): in what corrald writes
 * they come before the updates and the TaskInfo, half of the text. */
enum { M_TASK_ID = 1, M_PENDING = 2, M_STATE = 4, M_UPDATED = 8, M_HOSTNAME = 16 };
#define M_SORT (M_TASK_ID | M_PENDING | M_STATE | M_UPDATED | M_HOSTNAME)

/* Walks the record's members, the whole text, or until the members of
 * stop_at (when not 0) are found. */
static void walk(as_task *t, unsigned stop_at)
{
    size_t len = 0, at = 0, n;
    const char *text, *name;
    api_jspan k, v, none = {NULL, 0};
    cr_buf tmp = CR_BUF_INIT;
    unsigned found = 0;

    if (!t->have_text) {
        text = t->e ? store_obj_plain_text(t->e, &len, &t->owned_text) : NULL;
        t->v = api_jtext_span(text, len);
        t->have_text = true;
    }
    t->task_id = t->pending = t->last_state = t->updated_at = t->rack_id = t->task_request = none;
    t->agent_v = t->hostname_v = t->run_id_v = none;
    t->unhealthy = t->load_balanced = false;
    t->text_read = true;
    while (api_jtext_next(t->v, &at, &k, &v)) {
        name = key_name(k, &tmp, &n);
        if (NAME_IS(name, n, "taskId")) {
            t->task_id = v;
            found |= M_TASK_ID;
        } else if (NAME_IS(name, n, "pendingTask")) {
            t->pending = v;
            found |= M_PENDING;
        } else if (NAME_IS(name, n, "lastTaskState")) {
            t->last_state = v;
            found |= M_STATE;
        } else if (NAME_IS(name, n, "updatedAt")) {
            t->updated_at = v;
            found |= M_UPDATED;
        } else if (NAME_IS(name, n, "hostname")) {
            t->hostname_v = v;
            found |= M_HOSTNAME;
        } else if (NAME_IS(name, n, "agentId")) {
            t->agent_v = v;
        } else if (NAME_IS(name, n, "rackId")) {
            t->rack_id = v;
        } else if (NAME_IS(name, n, "taskRequest")) {
            t->task_request = v;
        } else if (NAME_IS(name, n, "healthy")) {
            t->unhealthy = api_jtext_type(v) == 'f';
        } else if (NAME_IS(name, n, "loadBalanced")) {
            t->load_balanced = api_jtext_type(v) == 't';
        }
        if (stop_at && (found & stop_at) == stop_at) {
            t->text_read = false; /* the rest is not read */
            break;
        }
    }
    if (api_jtext_type(t->pending) == '{')
        t->run_id_v = api_jtext_get(t->pending, "runId");
    cr_buf_release(&tmp);
}

void as_task_text(as_task *t)
{
    if (!t->text_read)
        walk(t, 0);
}

/* The fields, from the members as_task_text found. */
static void read_fields(as_task *t)
{
    size_t at = 0, n;
    const char *name;
    api_jspan k, v;
    cr_buf tmp = CR_BUF_INIT;
    long o_id = -1, o_state, o_agent, o_host_name, o_run, o_req = -1, o_dep = -1, o_host = -1,
         o_rack = -1;

    cr_buf_grow(&t->strs, 256); /* one allocation for the usual strings */
    o_state = keep_str(t, t->last_state);
    o_agent = keep_str(t, t->agent_v);
    o_host_name = keep_str(t, t->hostname_v);
    o_run = keep_str(t, t->run_id_v);
    if (api_jtext_type(t->task_id) == '"') {
        o_id = keep_str(t, t->task_id);
    } else {
        while (api_jtext_next(t->task_id, &at, &k, &v)) {
            name = key_name(k, &tmp, &n);
            if (NAME_IS(name, n, "id"))
                o_id = keep_str(t, v);
            else if (NAME_IS(name, n, "requestId"))
                o_req = keep_str(t, v);
            else if (NAME_IS(name, n, "deployId"))
                o_dep = keep_str(t, v);
            else if (NAME_IS(name, n, "host"))
                o_host = keep_str(t, v);
            else if (NAME_IS(name, n, "rackId"))
                o_rack = keep_str(t, v);
            else if (NAME_IS(name, n, "startedAt") && !api_jtext_integer(v, &t->started))
                t->started = 0;
        }
    }
    if (!api_jtext_integer(t->updated_at, &t->updated))
        t->updated = 0;
    /* the strings moved while they were added: point at them now */
    t->id = str_at(t, o_id);
    t->state = str_at(t, o_state);
    t->agent = str_at(t, o_agent);
    t->hostname = str_at(t, o_host_name);
    t->run_id = str_at(t, o_run);
    t->request_id = str_at(t, o_req);
    t->deploy_id = str_at(t, o_dep);
    t->host = str_at(t, o_host);
    t->rack = str_at(t, o_rack);
    cr_buf_release(&tmp);
}

/* as_task_open, the walk stopping at stop_at (0: the whole text). */
static bool task_open(as_task *t, const as_entry *e, unsigned stop_at)
{
    const api_task *d = e ? faithful_doc(e) : NULL;

    memset(t, 0, sizeof(*t));
    t->e = e;
    if (d) {
        /* decoded from this very value, which holds nothing else and names
         * its task id in full: each field here is that of the JSON */
        t->object = true;
        t->id = d->taskId.id;
        t->state = api_task_state_name(d->lastTaskState);
        t->agent = d->agentId;
        t->hostname = d->hostname;
        t->run_id = d->pendingTask.runId;
        t->request_id = d->taskId.requestId;
        t->deploy_id = d->taskId.deployId;
        t->host = d->taskId.host;
        t->rack = d->taskId.rackId;
        t->started = d->taskId.startedAt;
        t->updated = d->updatedAt;
        t->unhealthy = d->has_healthy && !d->healthy;
        return true;
    }
    walk(t, stop_at);
    if (api_jtext_type(t->v) != '{')
        return false;
    t->object = true;
    read_fields(t);
    return true;
}

bool as_task_open(as_task *t, const as_entry *e)
{
    return task_open(t, e, 0);
}

bool as_task_open_sort(as_task *t, const as_entry *e)
{
    return task_open(t, e, M_SORT);
}

void as_task_close(as_task *t)
{
    cr_buf_release(&t->strs);
    free(t->owned_text);
    memset(t, 0, sizeof(*t));
}

bool as_task_active(const as_task *t)
{
    return t->object && !state_terminal(t->state);
}

bool as_m_task_entry_active(const as_entry *e)
{
    const api_task *d = e->kind == API_KEY_TASK && !e->error ? e->doc : NULL;
    as_task t;
    bool active;

    /* Any document was decoded from the same value: it is an object and its
     * lastTaskState is the state of that name. */
    if (d)
        return !api_task_state_terminal(d->lastTaskState);
    as_task_open(&t, e);
    active = as_task_active(&t);
    as_task_close(&t);
    return active;
}

void as_task_view_dump(const as_api_config *cfg, const as_cache *c, as_task *t, cr_buf *out)
{
    api_jspan k, v;
    size_t at = 0, n = 0;
    bool tid_object;

    as_task_text(t);
    tid_object = api_jtext_type(t->task_id) == '{';
    if (t->task_request.p) {
        /* as_m_task_view replaces it in place: do as it does */
        json_t *task = api_jtext_json(t->v), *view = as_m_task_view(cfg, c, task);
        json_dump_callback(view, add_to_buf, out, AS_JSON_FLAGS);
        json_decref(view);
        json_decref(task);
        return;
    }
    /* the record's members as they are, then what the view adds */
    cr_buf_addch(out, '{');
    while (api_jtext_next(t->v, &at, &k, &v)) {
        if (n++)
            cr_buf_addch(out, ',');
        api_jtext_dump(k, AS_JSON_FLAGS, out);
        cr_buf_addch(out, ':');
        api_jtext_dump(v, AS_JSON_FLAGS, out);
    }
    if (t->pending.p) {
        /* as as_m_task_request of the pendingTask member */
        json_t *pid = api_jtext_json(api_jtext_get(t->pending, "pendingTaskId"));
        cr_buf_adds(out, n++ ? ",\"taskRequest\":" : "\"taskRequest\":");
        task_request_dump(cfg, c, as_jstr(pid, "requestId"), as_jstr(pid, "deployId"), t->pending,
                          out);
        json_decref(pid);
    } else if (tid_object) {
        cr_buf_adds(out, n++ ? ",\"taskRequest\":" : "\"taskRequest\":");
        task_request_dump(cfg, c, t->request_id, t->deploy_id, (api_jspan){NULL, 0}, out);
    }
    if (!t->rack_id.p && tid_object) {
        api_jspan rack = api_jtext_get(t->task_id, "rackId");
        if (api_jtext_type(rack) == '"') {
            cr_buf_adds(out, n++ ? ",\"rackId\":" : "\"rackId\":");
            api_jtext_dump(rack, AS_JSON_FLAGS, out);
        }
    }
    if (!api_jtext_get(t->v, "offers").p && !api_jtext_get(t->v, "offer").p) {
        /* as as_m_task_view: add_offers */
        json_t *off = json_object(), *oid = NULL, *agent = NULL, *host = NULL;
        api_jspan sp;
        if (api_jtext_type(sp = api_jtext_get(t->v, "offerId")) == '"')
            oid = api_jtext_json(sp);
        if (api_jtext_type(sp = api_jtext_get(t->v, "agentId")) == '"')
            agent = api_jtext_json(sp);
        if (api_jtext_type(sp = api_jtext_get(t->v, "hostname")) == '"')
            host = api_jtext_json(sp);
        add_offers(off, json_string_value(oid), json_string_value(agent), json_string_value(host));
        cr_buf_adds(out, n++ ? ",\"offer\":" : "\"offer\":");
        json_dump_callback(json_object_get(off, "offer"), add_to_buf, out, AS_JSON_FLAGS);
        cr_buf_adds(out, ",\"offers\":");
        json_dump_callback(json_object_get(off, "offers"), add_to_buf, out, AS_JSON_FLAGS);
        json_decref(off);
        json_decref(oid);
        json_decref(agent);
        json_decref(host);
    }
    cr_buf_addch(out, '}');
}

json_t *as_task_id_json(as_task *t)
{
    as_task_text(t);
    switch (api_jtext_type(t->task_id)) {
    case '{':
        return api_jtext_json(t->task_id);
    case '"':
        return json_pack("{s:o}", "id", api_jtext_json(t->task_id));
    default:
        return json_null();
    }
}

json_t *as_task_id_history(as_task *t)
{
    json_t *h = json_pack("{s:o}", "taskId", as_task_id_json(t));

    if (t->updated_at.p)
        json_object_set_new(h, "updatedAt", api_jtext_json(t->updated_at));
    if (t->last_state.p)
        json_object_set_new(h, "lastTaskState", api_jtext_json(t->last_state));
    if (api_jtext_type(t->run_id_v) == '"')
        json_object_set_new(h, "runId", api_jtext_json(t->run_id_v));
    return h;
}

/* ---- pending tasks as text ----------------------------------------------------- */

bool as_pending_open(as_pending *p, const as_entry *e)
{
    const api_pending_task *d;
    const json_t *pid;
    size_t len = 0;
    const char *text;

    memset(p, 0, sizeof(*p));
    p->e = e;
    if (!e)
        return false;
    if (e->value) {
        if (!json_is_object(e->value))
            return false;
        pid = json_object_get(e->value, "pendingTaskId");
        p->object = true;
        p->has_id = pid != NULL;
        p->id = as_jstr(pid, "id");
        p->request_id = as_jstr(pid, "requestId");
        p->deploy_id = as_jstr(pid, "deployId");
        p->next_run_at = json_integer_value(json_object_get(pid, "nextRunAt"));
        p->run_id = as_jstr(e->value, "runId");
        return true;
    }
    /* kept as text: only with a document that reads as its tree, and its
     * bytes (a text with no key twice) beside it */
    d = e->kind == API_KEY_PENDING && !e->error ? e->doc : NULL;
    text = d ? store_obj_text(e, &len) : NULL;
    if (!text)
        return false;
    p->object = true;
    p->has_id = true;
    p->id = d->pendingTaskId.id;
    p->request_id = d->pendingTaskId.requestId;
    p->deploy_id = d->pendingTaskId.deployId;
    p->next_run_at = d->pendingTaskId.nextRunAt;
    p->run_id = d->runId;
    p->v = api_jtext_span(text, len);
    return true;
}

json_t *as_pending_id_json(const as_pending *p)
{
    const json_t *pid;

    if (!p->object)
        return NULL;
    if (p->v.p)
        return api_jtext_json(api_jtext_get(p->v, "pendingTaskId"));
    pid = json_object_get(p->e->value, "pendingTaskId");
    return pid ? json_incref((json_t *)pid) : NULL;
}

void as_pending_id_dump(const as_pending *p, cr_buf *out)
{
    const json_t *pid;

    if (!p->object)
        return;
    if (p->v.p) {
        api_jspan v = api_jtext_get(p->v, "pendingTaskId");
        if (v.p)
            api_jtext_dump(v, AS_JSON_FLAGS, out);
    } else if ((pid = json_object_get(p->e->value, "pendingTaskId"))) {
        json_dump_callback(pid, add_to_buf, out, AS_JSON_FLAGS);
    }
}

void as_pending_task_request_dump(const as_api_config *cfg, const as_cache *c, const as_pending *p,
                                  cr_buf *out)
{
    json_t *view;

    if (!p->v.p) {
        view = as_m_task_request(cfg, c, p->e->value);
        json_dump_callback(view, add_to_buf, out, AS_JSON_FLAGS);
        json_decref(view);
        return;
    }
    /* as as_m_task_request, with the text's bytes as the pending task */
    task_request_dump(cfg, c, p->request_id, p->deploy_id, p->v, out);
}
