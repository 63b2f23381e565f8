/* The SERVICE/WORKER loop: collect a request's documents from the cache,
 * run ctl_service_plan (plan.h), turn its actions into etcd operations.
 * The runner (runner.h) does the rest. ctl_manager_* (controllers.h) is
 * its public face. */
#include "controllers/controllers.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/intent.h"
#include "apis/keys.h"
#include "apis/lb.h"
#include "apis/status.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/health.h"
#include "controllers/runner.h"
#include "controllers/spread.h"
#include "controllers/view.h"
#include "store/map.h"

struct ctl_manager {
    struct event_base *base;
    cr_http *http;
    char *prefix;
    ctl_config plan_cfg;
    cr_log *log;
    bool (*confirmed)(void *arg);
    void *confirmed_arg;

    ctl_runner *runner;
    store_cache *cache; /* the runner's, while running */
    ctl_checker *checker;
    store_map *health; /* task id -> (intptr_t) ctl_health */
    store_map *other;  /* rid -> marker: last seen request not SERVICE/WORKER */
    store_map *spread; /* rid -> marker: a SPREAD_ALL_AGENTS request */
    store_map *status_at; /* rid -> (intptr_t) time of its last status write */
    char *keybuf;      /* agent_key_tmp's */
    uint64_t withdrawn; /* ctl_manager_stats.withdrawn */
};

/* The strictly valid document of o, else NULL (its error then says why). */
static const void *valid_doc(const store_obj *o)
{
    return o && !o->error ? o->doc : NULL;
}

/* ---- which request a change concerns -------------------------------------------------- */

/* Remembers which requests are the jobs loop's, so that their deletion is
 * left to it. */
static void note_type(ctl_manager *m, const store_obj *req)
{
    const api_request *r = valid_doc(req);
    if (r && !api_request_type_long_running(r->type))
        store_map_put(m->other, req->id1, (void *)1);
    else
        store_map_del(m->other, req->id1);
    if (r && r->agentPlacement == API_PLACEMENT_SPREAD_ALL_AGENTS)
        store_map_put(m->spread, req->id1, (void *)1);
    else
        store_map_del(m->spread, req->id1);
}

static void enqueue_key(const char *rid, void *value, void *arg)
{
    ctl_runner_enqueue(arg, rid);
}

/* An agent's or rack's state changed: SPREAD_ALL_AGENTS requests follow
 * the active agents, and the requests with tasks on an agent that starts
 * or stops decommissioning move them (or keep them). */
static void machine_changed(ctl_manager *m, ctl_runner *r, const store_obj *old,
                            const store_obj *cur)
{
    const api_machine *a = old ? old->doc : NULL, *b = cur ? cur->doc : NULL;
    api_machine_state sa = a ? api_machine_current(a) : API_MSTATE_UNSET;
    api_machine_state sb = b ? api_machine_current(b) : API_MSTATE_UNSET;
    const char *id = (cur ? cur : old)->id1;

    if (sa == sb && (!a || !b || !a->rackId == !b->rackId) &&
        (!a || !b || !a->rackId || !strcmp(a->rackId, b->rackId)))
        return;
    store_map_foreach(m->spread, enqueue_key, r);
    if ((cur ? cur : old)->kind != API_KEY_AGENT ||
        ctl_agent_decommissioning(a) == ctl_agent_decommissioning(b))
        return;
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_TASK, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        const api_task *t = valid_doc(o);
        if (t && t->agentId && !strcmp(t->agentId, id))
            ctl_runner_enqueue(r, o->id1);
    }
}

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    ctl_manager *m = arg;
    const store_obj *o = cur ? cur : old;
    char *owned;
    const char *rid = ctl_obj_request_id(o, &owned);

    if (o->kind == API_KEY_AGENT || o->kind == API_KEY_RACK)
        machine_changed(m, r, old, cur);
    if (!rid)
        return;
    if (o->kind == API_KEY_REQUEST && cur)
        note_type(m, cur);
    if (o->kind == API_KEY_TASK && !cur) {
        store_map_del(m->health, o->id2);
        if (m->checker)
            ctl_checker_forget(m->checker, o->id2);
    }
    ctl_runner_enqueue(r, rid);
    free(owned);
}

static void resync(void *arg, ctl_runner *r)
{
    ctl_manager *m = arg;
    char *prefix = api_key_kind_prefix(m->prefix, API_KEY_REQUEST, NULL);
    size_t first, n = store_cache_range(m->cache, prefix, &first);
    free(prefix);
    for (size_t i = first; i < first + n; i++)
        note_type(m, store_cache_at(m->cache, i));
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_REQUEST);
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_DEPLOY);
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_TASK);
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_PENDING);
}

/* ---- health verdicts ---------------------------------------------------------------- */

static void on_verdict(void *arg, const char *rid, const char *tid, ctl_health v)
{
    ctl_manager *m = arg;
    store_map_put(m->health, tid, (void *)(intptr_t)v);
    if (m->runner)
        ctl_runner_enqueue(m->runner, rid);
}

static void on_start(void *arg, ctl_runner *r)
{
    ctl_manager *m = arg;
    m->cache = ctl_runner_cache(r);
    m->health = store_map_new();
    m->other = store_map_new();
    m->spread = store_map_new();
    m->status_at = store_map_new();
    m->checker = ctl_checker_new(m->base, m->http, on_verdict, m);
}

static void on_stop(void *arg, ctl_runner *r)
{
    ctl_manager *m = arg;
    ctl_checker_free(m->checker);
    m->checker = NULL;
    store_map_free(m->health);
    store_map_free(m->other);
    store_map_free(m->spread);
    store_map_free(m->status_at);
    m->health = m->other = m->spread = m->status_at = NULL;
    m->cache = NULL;
}

/* ---- one pass ---------------------------------------------------------------------------- */

/* What a pass borrows from the cache, and the views built from it. */
typedef struct pass_in {
    ctl_request req;
    ctl_deploy *deploys;
    ctl_hc_opts *hc;
    const api_deploy **docs;
    char **problems;
    size_t n_deploys;
    ctl_task *tasks;
    const api_task **records;
    size_t n_tasks;
    const api_request_status *status; /* borrowed from the cache */
    api_deploy_status *dstatus;       /* shallow copies of the cache's documents */
    size_t n_dstatus;
    const char **history;
    size_t n_history;
    ctl_ignored ignored; /* invalid documents left out of the views */
    api_lb_status lb;    /* status/lb/<r>: the load balancer's view (empty: none) */
} pass_in;

static void pass_in_release(pass_in *in)
{
    for (size_t i = 0; i < in->n_deploys; i++)
        free(in->problems[i]);
    free(in->problems);
    free(in->deploys);
    free(in->hc);
    free(in->docs);
    free(in->tasks);
    free(in->records);
    free(in->dstatus);
    free(in->history);
    ctl_ignored_release(&in->ignored);
    api_lb_status_release(&in->lb);
}

/* Where task t stands in the request's load balancer, and whether a kill
 * waits for it there (lbcleanups/<r>/<t>): docs/loadbalancing.md. */
static void lb_view(ctl_manager *m, const char *rid, const pass_in *in, ctl_task *t)
{
    const api_lb_upstream *u;
    if (api_lb_upstream_find(in->lb.upstreams, in->lb.n_upstreams, t->id)) {
        t->lb = CTL_LB_IN;
    } else if ((u = api_lb_upstream_find(in->lb.removed, in->lb.n_removed, t->id))) {
        t->lb = CTL_LB_OUT;
        t->lb_removed_at = u->at;
    }
    char *key = api_key_lb_cleanup(m->prefix, rid, t->id);
    const store_obj *o = store_cache_get(m->cache, key);
    free(key);
    const char *type = o ? json_string_value(json_object_get(o->value, "cleanupType")) : NULL;
    if (o && !t->cleaning) {
        t->lb_kill_type = type ? type : "USER_REQUESTED";
        t->cleaning = true;
    }
}

static size_t range_of(const ctl_manager *m, api_key_kind kind, const char *rid, size_t *first)
{
    return ctl_runner_range(m->runner, m->prefix, kind, rid, first);
}

/* The intent `kind` of request rid (or of its deploy, when deploy is not
 * NULL), or NULL when there is none or it is invalid: the cache decoded it
 * against its key (apis/doc.h), and an intent that does not decode asks for
 * nothing (ctl_ignored_collect names it in the status). */
static const api_intent *intent_of(const ctl_manager *m, const char *rid, const char *deploy,
                                   const char *kind)
{
    char *key = deploy ? api_key_intent_deploy(m->prefix, rid, deploy, kind)
                       : api_key_intent_request(m->prefix, rid, kind);
    const store_obj *o = store_cache_get(m->cache, key);
    free(key);
    return valid_doc(o);
}

/* Issue 20: what the request's intents ask beyond pause and bounce
 * (killTasks, incremental, the expiring actions: plan.h). An intent that
 * did not decode is absent (intent_of). */
static void request_actions_view(ctl_manager *m, const char *rid, const api_request *req,
                                 ctl_request *out)
{
    static const char *const kinds[] = {API_INTENT_PAUSE, API_INTENT_BOUNCE, API_INTENT_SCALE,
                                        API_INTENT_SKIP_HEALTHCHECKS};
    ctl_expiring *exps[] = {&out->pause_exp, &out->bounce_exp, &out->scale_exp, &out->skip_exp};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *key = api_key_intent_request(m->prefix, rid, kinds[i]);
        const store_obj *o = store_cache_get(m->cache, key);
        const api_intent *in = valid_doc(o);
        free(key);
        if (!in)
            continue;
        exps[i]->revision = o->mod_revision;
        if (in->has_durationMillis && in->has_timestamp)
            exps[i]->at = in->timestamp + in->durationMillis;
        if (i == 0) {
            out->pause_keeps_tasks = in->has_killTasks && !in->killTasks;
            out->paused_at = in->timestamp;
        } else if (i == 1) {
            out->bounce_incremental = in->has_incremental && in->incremental;
        } else if (i == 2) {
            /* an expiring scale without the count to go back to cannot revert */
            if (!in->has_previousInstances)
                exps[i]->at = 0;
            out->scale_revert = in->previousInstances;
            out->scale_bounce = (in->has_bounce && in->bounce) || (req && req->bounceAfterScale);
        } else {
            out->skip_revert = in->has_previous && in->previous;
        }
    }
}

/* EXPIRE and APPLY_REQUEST read documents through the cache (view.h),
 * borrowed for the pass: a request the cache keeps as text (store/cache.h)
 * is parsed into `trees`, which the pass releases. Rare: those actions
 * only. */
typedef struct doc_pass {
    ctl_manager *m;
    json_t *trees; /* json_array of the trees parsed for the pass, or NULL */
} doc_pass;

static const json_t *doc_lookup(void *arg, const char *key, int64_t *mod_revision)
{
    doc_pass *d = arg;
    const store_obj *o = store_cache_get(d->m->cache, key);
    json_t *j;

    if (!o)
        return NULL;
    *mod_revision = o->mod_revision;
    if (o->value || !(j = store_obj_json(o)))
        return o->value;
    if (!d->trees)
        d->trees = json_array();
    json_array_append_new(d->trees, j);
    return j;
}

/* The key of agent id, in a buffer of m (valid until the next call). */
static const char *agent_key_tmp(ctl_manager *m, const char *id)
{
    free(m->keybuf);
    m->keybuf = api_key_agent(m->prefix, id);
    return m->keybuf;
}

/* The rack document of agent a, or NULL. */
static const api_machine *rack_of(ctl_manager *m, const api_machine *a)
{
    const api_machine *rack = NULL;
    if (a && a->rackId && api_key_id_valid(a->rackId)) {
        char *rk = api_key_rack(m->prefix, a->rackId);
        rack = valid_doc(store_cache_get(m->cache, rk));
        free(rk);
    }
    return rack;
}

/* SPREAD_ALL_AGENTS (spread.h): the count of agents that take an
 * instance, and the slots of the request's tasks for it. */
static void spread(ctl_manager *m, const api_request *req, pass_in *in)
{
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_AGENT, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    ctl_spread_agent *agents = xcalloc(n + 1, sizeof(*agents));
    bool *on = xcalloc(in->n_tasks + 1, sizeof(bool));

    free(kp);
    for (size_t i = 0; i < n; i++) {
        agents[i].agent = valid_doc(store_cache_at(m->cache, first + i));
        agents[i].rack = rack_of(m, agents[i].agent);
    }
    in->req.instances = ctl_spread_count(agents, n, &req->requiredAgentAttributes);
    for (size_t i = 0; i < in->n_tasks; i++) {
        const api_task *t = in->records[i];
        const api_machine *a = NULL;
        on[i] = true; /* pending, or no agent named */
        if (!t || !t->agentId || !*t->agentId || !api_key_id_valid(t->agentId))
            continue;
        a = valid_doc(store_cache_get(m->cache, agent_key_tmp(m, t->agentId)));
        on[i] = ctl_agent_spreads(a, rack_of(m, a), &req->requiredAgentAttributes);
    }
    ctl_spread_slots(in->req.instances, in->tasks, in->n_tasks, on);
    free(on);
    free(agents);
}

static void collect(ctl_manager *m, const char *rid, pass_in *in, const store_obj *req_obj)
{
    size_t first, n;
    const api_request *req = valid_doc(req_obj);
    ctl_request_intents ri = {0};
    const api_intent *bounce = intent_of(m, rid, NULL, API_INTENT_BOUNCE);
    const api_intent *exit_cooldown = intent_of(m, rid, NULL, API_INTENT_EXIT_COOLDOWN);

    ctl_ignored_collect(&in->ignored, m->runner, m->prefix, rid);
    ri.bounce = bounce ? bounce->timestamp : 0;
    ri.exit_cooldown = exit_cooldown ? exit_cooldown->timestamp : 0;
    ri.paused = intent_of(m, rid, NULL, API_INTENT_PAUSE) != NULL;
    if (req_obj) {
        ctl_request_view(req, req_obj->error, req_obj->mod_revision, &ri, &in->req);
        request_actions_view(m, rid, req, &in->req);
    }

    /* Request status. */
    char *skey = api_key_request_status(m->prefix, rid);
    const store_obj *st = store_cache_get(m->cache, skey);
    free(skey);
    if (st && st->doc)
        in->status = st->doc;
    else if (st)
        cr_warn(m->log, "controllers: request '%s': status unreadable, rebuilding", rid);

    /* Deploys and their statuses. */
    n = range_of(m, API_KEY_DEPLOY, rid, &first);
    in->deploys = xcalloc(n + 1, sizeof(*in->deploys));
    in->hc = xcalloc(n + 1, sizeof(*in->hc));
    in->docs = xcalloc(n + 1, sizeof(*in->docs));
    in->problems = xcalloc(n + 1, sizeof(*in->problems));
    in->dstatus = xcalloc(n + 1, sizeof(*in->dstatus));
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        size_t k = in->n_deploys++;
        const char *did = o->id2;
        ctl_deploy_intents di = {0};
        const api_intent *update = intent_of(m, rid, did, API_INTENT_UPDATE);
        di.target_instances = update ? update->targetActiveInstances : 0;
        di.cancel = intent_of(m, rid, did, API_INTENT_CANCEL) != NULL;
        in->docs[k] = valid_doc(o);
        ctl_deploy_view(in->docs[k], o->error, req, o->create_revision, &di, &in->deploys[k],
                        &in->hc[k], &in->problems[k]);
        if (!in->deploys[k].id)
            in->deploys[k].id = did;
        const api_intent *submit = intent_of(m, rid, did, API_INTENT_SUBMIT);
        if (submit) { /* issue 20 */
            in->deploys[k].unpause_on_success =
                submit->has_unpauseOnSuccessfulDeploy && submit->unpauseOnSuccessfulDeploy;
            in->deploys[k].updates_request = json_is_object(submit->updatedRequest);
        }
        char *dkey = api_key_deploy_status(m->prefix, rid, did);
        const store_obj *ds = store_cache_get(m->cache, dkey);
        free(dkey);
        if (ds && ds->doc) /* borrowed members: never released here */
            in->dstatus[in->n_dstatus++] = *(const api_deploy_status *)ds->doc;
    }

    /* The load balancer's state of the request, if it is load-balanced. */
    char *lkey = api_key_lb_status(m->prefix, rid);
    const store_obj *lo = store_cache_get(m->cache, lkey);
    free(lkey);
    if (lo && lo->value) {
        cr_err lerr;
        if (api_lb_status_from_json(lo->value, &in->lb, &lerr) < 0)
            cr_warn(m->log, "controllers: request '%s': %s", rid, cr_err_msg(&lerr));
    }

    /* Pending tasks and task records. */
    size_t tfirst, pfirst;
    size_t nt = range_of(m, API_KEY_TASK, rid, &tfirst);
    size_t np = range_of(m, API_KEY_PENDING, rid, &pfirst);
    in->tasks = xcalloc(nt + np + 1, sizeof(*in->tasks));
    in->records = xcalloc(nt + np + 1, sizeof(*in->records));
    for (size_t i = tfirst; i < tfirst + nt; i++) {
        const api_task *t = valid_doc(store_cache_at(m->cache, i));
        if (!t)
            continue; /* in in->ignored */
        /* A kill intent that does not decode kills nothing. */
        char *ckey = api_key_cleanup(m->prefix, t->taskId.id);
        const store_obj *cleanup = store_cache_get(m->cache, ckey);
        const api_cleanup *cl = valid_doc(cleanup);
        free(ckey);
        ctl_ignored_add(&in->ignored, cleanup);
        ctl_health h = (ctl_health)(intptr_t)store_map_get(m->health, t->taskId.id);
        in->records[in->n_tasks] = t;
        ctl_task_view(t, cl != NULL, h, &in->tasks[in->n_tasks]);
        if (cl) {
            in->tasks[in->n_tasks].cleanup_type = cl->cleanupType;
            in->tasks[in->n_tasks].cleanup_user = cl->user;
            in->tasks[in->n_tasks].cleanup_revision = cleanup->mod_revision;
            in->tasks[in->n_tasks].cleanup_at = cl->timestamp;
        }
        lb_view(m, rid, in, &in->tasks[in->n_tasks]);
        if (t->agentId && *t->agentId && api_key_id_valid(t->agentId)) {
            const store_obj *ag = store_cache_get(m->cache, agent_key_tmp(m, t->agentId));
            in->tasks[in->n_tasks].decommissioning = ctl_agent_decommissioning(valid_doc(ag));
        }
        in->n_tasks++;
    }
    for (size_t i = pfirst; i < pfirst + np; i++) {
        const api_pending_task *p = valid_doc(store_cache_at(m->cache, i));
        if (!p)
            continue; /* in in->ignored */
        ctl_task *t = &in->tasks[in->n_tasks++];
        ctl_pending_view(p, t);
        /* Why the bridge could not place it (status/pending), if it said. */
        char *why_key = api_key_pending_status(m->prefix, rid, p->pendingTaskId.id);
        const store_obj *si = store_cache_get(m->cache, why_key);
        free(why_key);
        const api_place_reason *pr = valid_doc(si);
        if (pr) {
            t->place_reason = pr->reason;
            t->place_message = pr->message && *pr->message ? pr->message : NULL;
        }
    }

    if (req && req->agentPlacement == API_PLACEMENT_SPREAD_ALL_AGENTS && !in->req.invalid)
        spread(m, req, in);

    in->history = ctl_runner_history(m->runner, m->prefix, rid, &in->n_history);
}

/* Starts (or stops) health checks for the request's tasks. */
static void drive_checks(ctl_manager *m, const char *rid, const pass_in *in)
{
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        const api_task *rec = in->records[i];
        if (!rec)
            continue;
        if (t->cleaning || api_task_state_terminal(t->state)) {
            ctl_checker_forget(m->checker, t->id);
            continue;
        }
        /* Readiness until a verdict; then, while the load balancer serves
         * the task, liveness (a task that fails is taken out and replaced). */
        bool live = t->health == CTL_HEALTH_HEALTHY && t->lb == CTL_LB_IN;
        if (t->state != API_TASK_RUNNING || (t->health != CTL_HEALTH_UNKNOWN && !live))
            continue;
        for (size_t d = 0; d < in->n_deploys; d++) {
            const api_deploy *doc = in->docs[d];
            if (!in->deploys[d].http_check || !doc || strcmp(in->deploys[d].id, t->deploy_id))
                continue;
            const api_healthcheck *h = doc->healthcheck;
            int64_t port = 0;
            if (h->has_portNumber)
                port = h->portNumber;
            else if ((size_t)(h->has_portIndex ? h->portIndex : 0) < rec->ports.n)
                port = rec->ports.v[h->has_portIndex ? h->portIndex : 0];
            if (!port || !rec->hostname)
                break;
            char *url =
                xasprintf("%s://%s:%lld%s%s",
                          h->protocol && strncmp(h->protocol, "HTTPS", 5) == 0 ? "https" : "http",
                          rec->hostname, (long long)port, h->uri[0] == '/' ? "" : "/", h->uri);
            cr_err err;
            int64_t since = ctl_hc_start_time(&in->hc[d], t->running_at, cr_wall_ms());
            int rc = live ? ctl_checker_watch_live(m->checker, rid, t->id, url, &in->hc[d], &err)
                          : ctl_checker_watch(m->checker, rid, t->id, url, &in->hc[d], since, &err);
            if (rc < 0)
                cr_warn(m->log, "controllers: task '%s': %s", t->id, cr_err_msg(&err));
            free(url);
            break;
        }
    }
}


/* Whether anything of request rid is left in the cache besides its spec. */
static bool has_leftovers(const ctl_manager *m, const char *rid)
{
    static const api_key_kind kinds[] = {API_KEY_DEPLOY, API_KEY_TASK, API_KEY_PENDING,
                                         API_KEY_HISTORY_TASK};
    size_t first;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (range_of(m, kinds[i], rid, &first))
            return true;
    return false;
}

/* A request's status is rewritten as its tasks move (counts, Ready): during
 * a rollout that is a write per task event. A pass whose only change is
 * that (no action, no deploy status, the same state and observed revision)
 * within this long of the request's last status write leaves it to a pass
 * at the end of the window, which writes the status as it is then; so a
 * burst of task events costs one status write per window, and the status
 * lags the tasks by at most this much. */
#define STATUS_COALESCE_MS 250

static bool status_may_wait(ctl_manager *m, const char *rid, const ctl_service_in *in,
                            ctl_plan *plan, int64_t now)
{
    if (!plan->status_changed || plan->n_actions || !in->status ||
        in->status->state != plan->status.state ||
        in->status->observedRevision != plan->status.observedRevision)
        return false;
    for (size_t i = 0; i < plan->n_deploys; i++)
        if (plan->deploys[i].changed)
            return false;
    int64_t last = (int64_t)(intptr_t)store_map_get(m->status_at, rid);
    if (!last || now - last >= STATUS_COALESCE_MS || now < last)
        return false;
    int64_t wait = last + STATUS_COALESCE_MS - now;
    if (!plan->requeue_after_ms || wait < plan->requeue_after_ms)
        plan->requeue_after_ms = wait;
    plan->status_changed = false;
    return true;
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *rid, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_manager *m = arg;
    pass_in in = {0};
    ctl_plan plan;

    char *rkey = api_key_request(m->prefix, rid);
    const store_obj *req_obj = store_cache_get(m->cache, rkey);
    free(rkey);
    const api_request *req = valid_doc(req_obj);
    if ((req && !api_request_type_long_running(req->type)) ||
        (!req_obj && store_map_has(m->other, rid)))
        return CTL_PASS_FORGET; /* the jobs loop's */
    if (!req_obj && !has_leftovers(m, rid)) {
        char *skey = api_key_request_status(m->prefix, rid);
        bool has_status = store_cache_get(m->cache, skey) != NULL;
        free(skey);
        if (!has_status)
            return CTL_PASS_FORGET; /* nothing of it was ever ours */
    }

    collect(m, rid, &in, req_obj);
    /* A deleted request with nothing left and a final status: done. */
    if (!req_obj && !in.n_tasks && in.status && in.status->state == API_RSTATE_DELETED) {
        pass_in_release(&in);
        store_map_del(m->status_at, rid);
        return CTL_PASS_FORGET;
    }
    ctl_service_in sin = {
        .request_id = rid,
        .request = req_obj ? &in.req : NULL,
        .deploys = in.deploys,
        .n_deploys = in.n_deploys,
        .tasks = in.tasks,
        .n_tasks = in.n_tasks,
        .status = in.status,
        .deploy_status = in.dstatus,
        .n_deploy_status = in.n_dstatus,
        .history = in.history,
        .n_history = in.n_history,
        .ignored = ctl_ignored_message(&in.ignored),
        .config = &m->plan_cfg,
        .now = now,
        .unconfirmed = m->confirmed && !m->confirmed(m->confirmed_arg),
    };
    ctl_service_plan(&sin, &plan);
    drive_checks(m, rid, &in);
    if (!status_may_wait(m, rid, &sin, &plan, now) && plan.status_changed)
        store_map_put(m->status_at, rid, (void *)(intptr_t)now);
    *requeue_ms = plan.requeue_after_ms;

    ctl_task_lookup tl;
    doc_pass docs = {m, NULL};
    ctl_doc_lookup look = ctl_task_lookup_init(&tl, r, m->prefix, rid);
    look.doc = doc_lookup;
    look.doc_arg = &docs;
    int rc = ctl_plan_ops(m->prefix, rid, &plan, &look, now, ops, err);
    ctl_task_lookup_release(&tl);
    json_decref(docs.trees);
    for (size_t i = 0; i < plan.n_actions; i++) {
        const ctl_action *a = &plan.actions[i];
        char *line = ctl_action_format(a, now);
        /* a withdrawn kill is rare and says a fault kept a kill from its
         * task: worth a line at the default level */
        bool withdraw = a->type == CTL_ACT_WITHDRAW;
        m->withdrawn += withdraw;
        cr_log_task(m->log, withdraw ? CR_LOG_INFO : CR_LOG_DEBUG, rid, a->deploy_id, a->task_id,
                    "controllers: %s: %s", rid, line);
        free(line);
    }
    ctl_plan_release(&plan);
    pass_in_release(&in);
    return rc < 0 ? CTL_PASS_ERROR : CTL_PASS_WRITE;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static const ctl_loop service_loop = {
    .name = "controllers",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_start = on_start,
    .on_stop = on_stop,
};

ctl_manager *ctl_manager_new(struct event_base *base, store *s, cr_http *http, store_leader *leader,
                             const ctl_manager_config *cfg, cr_err *err)
{
    if (!base || !s || !http || !leader) {
        cr_error(err, CR_EINVAL, "controllers: base, store, http and leader are required");
        return NULL;
    }
    const char *prefix;
    if (ctl_loop_prefix("controllers", cfg ? cfg->prefix : NULL, &prefix, err) < 0)
        return NULL;
    ctl_manager *m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->http = http;
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->plan_cfg = *cfg->plan;
    else
        ctl_config_defaults(&m->plan_cfg);
    m->log = cfg ? cfg->log : NULL;
    m->confirmed = cfg ? cfg->confirmed : NULL;
    m->confirmed_arg = cfg ? cfg->confirmed_arg : NULL;
    ctl_runner_config rc = {.prefix = m->prefix,
                            .max_inflight = cfg ? cfg->max_inflight : 0,
                            .resync_ms = cfg ? cfg->resync_ms : 0,
                            .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg ? cfg->cache : NULL, leader, &service_loop, m, &rc);
    return m;
}

int ctl_manager_start(ctl_manager *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_manager_set_lb_drain(ctl_manager *m, int64_t drain_ms)
{
    m->plan_cfg.lb_drain_ms = drain_ms;
}

void ctl_manager_stop(ctl_manager *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_manager_free(ctl_manager *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    free(m->keybuf);
    free(m->prefix);
    free(m);
}

void ctl_manager_get_stats(const ctl_manager *m, ctl_manager_stats *out)
{
    ctl_runner_stats rs;
    ctl_runner_get_stats(m->runner, &rs);
    *out = (ctl_manager_stats){.running = rs.running,
                               .synced = rs.synced,
                               .passes = rs.passes,
                               .writes = rs.writes,
                               .conflicts = rs.conflicts,
                               .errors = rs.errors,
                               .queue_depth = rs.queue_depth,
                               .queue_processing = rs.queue_processing,
                               .queue_delayed = rs.queue_delayed,
                               .reconcile_latency = rs.reconcile_latency,
                               .withdrawn = m->withdrawn,
                               .checks = m->checker ? ctl_checker_count(m->checker) : 0};
}

ctl_health ctl_manager_task_health(const ctl_manager *m, const char *task_id)
{
    return m && m->health ? (ctl_health)(intptr_t)store_map_get(m->health, task_id)
                          : CTL_HEALTH_UNKNOWN;
}
