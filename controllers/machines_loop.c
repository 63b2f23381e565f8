/* The machines loop: every agent and rack under one queue key, "machines"
 * (the decommission limit is global). A pass collects the documents from
 * the cache, runs ctl_machines_plan_run (machines.h), and turns the result
 * into etcd operations and Mesos operator calls; the runner (runner.h) does
 * the rest.
 *
 * Cost: the plan reads every agent and rack document, but tasks only of the
 * agents it may need them for (not ACTIVE, or with an intent of their own
 * or of their rack); an index agent id -> task keys, kept from the cache's
 * changes, finds them without a scan. Task and pending-task changes wake
 * the loop only while some agent is decommissioning. */
#include "controllers/machines.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/keys.h"
#include "apis/request.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "store/map.h"

#define KEY "machines"

/* The Mesos maintenance call of one agent. */
typedef struct mesos_op {
    struct ctl_machines_manager *m;
    char *agent_id;
    bool drain;         /* else REACTIVATE */
    size_t master;      /* index into masters */
    cr_http_req *req;   /* in flight, or NULL */
    char *result_state; /* once answered */
    char *result_message;
    int64_t result_at;
} mesos_op;

struct ctl_machines_manager {
    struct event_base *base;
    cr_http *http;
    char *prefix;
    ctl_machines_config plan_cfg;
    cr_log *log;
    api_strlist masters;

    ctl_runner *runner;
    store_cache *cache;  /* the runner's, while running */
    store_map *by_agent; /* agent id -> agent_tasks */
    store_map *mesos;    /* agent id -> mesos_op */
    size_t busy;         /* agents STARTING_DECOMMISSION or DECOMMISSIONING at the last pass */
    bool indexed;        /* by_agent built from the synced cache; changes keep it since */
};

static const void *valid_doc(const store_obj *o)
{
    return o && !o->error ? o->doc : NULL;
}

/* ---- the task index -------------------------------------------------------------- */

/* The task records on one agent: references to their cache objects, each
 * replaced by the next version of its record (on_change), rather than
 * copies of their keys in a map (~100 bytes a task at 100,000 tasks). */
typedef struct agent_tasks {
    size_t n, cap;
    const store_obj **v;
} agent_tasks;

/* The slot of o's record in a, or a->n: was, the version the index holds
 * once built (on_change replaces each), found by pointer; by key only if
 * not (an agent can hold thousands of tasks: no string compares on the
 * way). */
static size_t agent_task_at(const agent_tasks *a, const store_obj *was, const store_obj *o)
{
    size_t i;

    for (i = 0; was && i < a->n && a->v[i] != was; i++)
        ;
    if (was && i < a->n)
        return i;
    for (i = 0; i < a->n && strcmp(a->v[i]->key, o->key) != 0; i++)
        ;
    return i;
}

/* o, which replaces was, runs on agent. was NULL: a record new to the
 * index (a new key, or the index being built), appended. */
static void index_add(ctl_machines_manager *m, const char *agent, const store_obj *was,
                      const store_obj *o)
{
    agent_tasks *a = store_map_get(m->by_agent, agent);
    size_t i;

    if (!a) {
        a = xcalloc(1, sizeof(*a));
        store_map_put(m->by_agent, agent, a);
    }
    i = was ? agent_task_at(a, was, o) : a->n;
    store_obj_ref(o);
    if (i < a->n) {
        store_obj_unref(a->v[i]);
    } else {
        if (a->n == a->cap) {
            a->cap = a->cap ? 2 * a->cap : 4;
            a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
        }
        a->n++;
    }
    a->v[i] = o;
}

static void free_sub(const char *key, void *value, void *arg)
{
    agent_tasks *a = value;
    for (size_t i = 0; a && i < a->n; i++)
        store_obj_unref(a->v[i]);
    if (a)
        free(a->v);
    free(a);
}

/* o's record (was: the version the index may hold) no longer runs on agent. */
static void index_del(ctl_machines_manager *m, const char *agent, const store_obj *was,
                      const store_obj *o)
{
    agent_tasks *a = store_map_get(m->by_agent, agent);
    size_t i;

    if (!a || (i = agent_task_at(a, was, o)) == a->n)
        return;
    store_obj_unref(a->v[i]);
    a->v[i] = a->v[--a->n];
    if (!a->n)
        free_sub(NULL, store_map_del(m->by_agent, agent), NULL);
}

static void index_clear(ctl_machines_manager *m)
{
    store_map_foreach(m->by_agent, free_sub, NULL);
    store_map_free(m->by_agent);
    m->by_agent = store_map_new();
}

static const char *task_agent(const store_obj *o)
{
    const api_task *t = o ? o->doc : NULL;
    return t && t->agentId && *t->agentId ? t->agentId : NULL;
}

static void index_rebuild(ctl_machines_manager *m)
{
    index_clear(m);
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_TASK, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        const char *a = task_agent(o);
        if (a)
            index_add(m, a, NULL, o);
    }
}

/* ---- cache changes ----------------------------------------------------------------- */

/* Whether an agent or rack document changed in a way the plan reads (the
 * bridge refreshes lastSeenAt now and then: not that). */
static bool machine_changed(const store_obj *old, const store_obj *cur)
{
    const api_machine *a = old ? old->doc : NULL, *b = cur ? cur->doc : NULL;
    if (!a || !b)
        return true;
    return api_machine_current(a) != api_machine_current(b) ||
           a->currentState.timestamp != b->currentState.timestamp ||
           a->n_stateHistory != b->n_stateHistory ||
           (a->rackId ? !b->rackId || strcmp(a->rackId, b->rackId) : b->rackId != NULL) ||
           (a->host ? !b->host || strcmp(a->host, b->host) : b->host != NULL) ||
           a->firstSeenAt != b->firstSeenAt || a->has_mesosDrain != b->has_mesosDrain ||
           a->observedIntent != b->observedIntent || a->has_progress != b->has_progress ||
           (a->id ? !b->id || strcmp(a->id, b->id) : b->id != NULL);
}

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    ctl_machines_manager *m = arg;
    const store_obj *o = cur ? cur : old;

    switch (o->kind) {
    case API_KEY_TASK: {
        const char *a0 = task_agent(old), *a1 = task_agent(cur);
        if (a0 && (!a1 || strcmp(a0, a1)))
            index_del(m, a0, old, old);
        if (a1)
            index_add(m, a1, a0 && !strcmp(a0, a1) ? old : NULL, cur); /* else new there */
        if (m->busy)
            ctl_runner_enqueue(r, KEY);
        break;
    }
    case API_KEY_PENDING:
    case API_KEY_PENDING_STATUS:
    case API_KEY_CLEANUP:
        if (m->busy)
            ctl_runner_enqueue(r, KEY);
        break;
    case API_KEY_AGENT:
    case API_KEY_RACK:
        if (machine_changed(old, cur))
            ctl_runner_enqueue(r, KEY);
        break;
    case API_KEY_INTENT_AGENT:
    case API_KEY_INTENT_RACK:
    case API_KEY_INACTIVE_HOST:
        ctl_runner_enqueue(r, KEY);
        break;
    default:
        break;
    }
}

/* The index is built once the cache is synced; from then on every change,
 * a re-list's differences too, reaches on_change, so the periodic resync
 * does not walk every task again (~50 ms at 100,000 tasks). */
static void resync(void *arg, ctl_runner *r)
{
    ctl_machines_manager *m = arg;
    if (!m->indexed) {
        index_rebuild(m);
        m->indexed = true;
    }
    ctl_runner_enqueue(r, KEY);
}

static void mesos_op_free(mesos_op *op)
{
    if (!op)
        return;
    if (op->req)
        cr_http_cancel(op->req);
    free(op->agent_id);
    free(op->result_state);
    free(op->result_message);
    free(op);
}

static void free_op(const char *key, void *value, void *arg)
{
    mesos_op_free(value);
}

static void on_start(void *arg, ctl_runner *r)
{
    ctl_machines_manager *m = arg;
    m->cache = ctl_runner_cache(r);
    m->by_agent = store_map_new();
    m->mesos = store_map_new();
    m->busy = 0;
    m->indexed = false;
}

static void on_stop(void *arg, ctl_runner *r)
{
    ctl_machines_manager *m = arg;
    store_map_foreach(m->by_agent, free_sub, NULL);
    store_map_free(m->by_agent);
    store_map_foreach(m->mesos, free_op, NULL);
    store_map_free(m->mesos);
    m->by_agent = m->mesos = NULL;
    m->cache = NULL;
}

/* ---- Mesos operator calls ------------------------------------------------------------ */

static void mesos_send(mesos_op *op);

static void mesos_done(cr_http_req *req, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    mesos_op *op = arg;
    ctl_machines_manager *m = op->m;
    const char *body = resp && resp->body ? resp->body : "";

    op->req = NULL;
    if (err && op->master + 1 < m->masters.n) {
        op->master++; /* that master is not there: the next one */
        mesos_send(op);
        return;
    }
    free(op->result_state);
    free(op->result_message);
    op->result_message = NULL;
    if (err) {
        op->result_state = xstrdup(op->drain ? "FAILED" : "REACTIVATE_FAILED");
        op->result_message = xasprintf("no answer from the Mesos master: %s", cr_err_msg(err));
    } else if (resp->status >= 200 && resp->status < 300) {
        op->result_state = xstrdup(op->drain ? "DRAINED" : "REACTIVATED");
    } else if (op->drain &&
               (resp->status == 501 || (resp->status == 400 && strstr(body, "Expecting 'type'")))) {
        /* A master before 1.9 does not know the call (its JSON parser drops
         * the unknown enum value). */
        op->result_state = xstrdup("UNSUPPORTED");
        op->result_message = xasprintf("the Mesos master does not support DRAIN_AGENT: %ld %.200s",
                                       resp->status, body);
    } else {
        op->result_state = xstrdup(op->drain ? "FAILED" : "REACTIVATE_FAILED");
        op->result_message = xasprintf("the Mesos master answered %ld %.200s", resp->status, body);
    }
    op->result_at = cr_wall_ms();
    cr_info(m->log, "machines: %s agent %s: %s%s%s", op->drain ? "DRAIN_AGENT" : "REACTIVATE_AGENT",
            op->agent_id, op->result_state, op->result_message ? ": " : "",
            op->result_message ? op->result_message : "");
    if (m->runner)
        ctl_runner_enqueue(m->runner, KEY);
}

static void mesos_send(mesos_op *op)
{
    ctl_machines_manager *m = op->m;
    const char *type = op->drain ? "DRAIN_AGENT" : "REACTIVATE_AGENT";
    json_t *call = op->drain ? json_pack("{s:s,s:{s:{s:s},s:b}}", "type", type, "drain_agent",
                                         "agent_id", "value", op->agent_id, "mark_gone", false)
                             : json_pack("{s:s,s:{s:{s:s}}}", "type", type, "reactivate_agent",
                                         "agent_id", "value", op->agent_id);
    char *body = json_dumps(call, JSON_COMPACT);
    char *url = xasprintf("%s/api/v1", m->masters.v[op->master]);
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    cr_http_opts ho = {.method = "POST",
                       .url = url,
                       .headers = hdrs,
                       .body = body,
                       .body_len = strlen(body),
                       .timeout_ms = 30000,
                       .connect_timeout_ms = 5000,
                       .follow_redirects = true,
                       .max_body = 1 << 20,
                       .on_done = mesos_done,
                       .arg = op};
    cr_err err;

    json_decref(call);
    op->req = cr_http_start(m->http, &ho, &err);
    if (!op->req) {
        free(op->result_state);
        free(op->result_message);
        op->result_state = xstrdup(op->drain ? "FAILED" : "REACTIVATE_FAILED");
        op->result_message = xstrdup(cr_err_msg(&err));
        op->result_at = cr_wall_ms();
    }
    free(url);
    free(body);
}

static void mesos_start(ctl_machines_manager *m, const char *agent_id, bool drain)
{
    mesos_op *op = store_map_get(m->mesos, agent_id);
    if (op && op->req)
        return;
    if (!op) {
        op = xcalloc(1, sizeof(*op));
        op->m = m;
        op->agent_id = xstrdup(agent_id);
        store_map_put(m->mesos, agent_id, op);
    }
    free(op->result_state);
    free(op->result_message);
    op->result_state = op->result_message = NULL;
    op->drain = drain;
    op->master = 0;
    if (!m->masters.n) {
        op->result_state = xstrdup("UNSUPPORTED");
        op->result_message = xstrdup("no Mesos master is configured");
        op->result_at = cr_wall_ms();
        return;
    }
    cr_info(m->log, "machines: %s agent %s", drain ? "DRAIN_AGENT" : "REACTIVATE_AGENT", agent_id);
    mesos_send(op);
}

/* ---- one pass ------------------------------------------------------------------------ */

typedef struct pass_in {
    ctl_machine *agents, *racks;
    size_t n_agents, n_racks;
    ctl_inactive_host *inactive;
    size_t n_inactive;
    ctl_mach_task **tasks; /* per agent */
} pass_in;

static void pass_in_release(pass_in *in)
{
    for (size_t i = 0; i < in->n_agents; i++)
        free(in->tasks[i]);
    free(in->tasks);
    free(in->agents);
    free(in->racks);
    free(in->inactive);
}

static const store_obj *get(const ctl_machines_manager *m, char *key /* freed */)
{
    const store_obj *o = store_cache_get(m->cache, key);
    free(key);
    return o;
}

static const api_intent *intent_of(const ctl_machines_manager *m, bool rack, const char *id)
{
    return valid_doc(
        get(m, rack ? api_key_intent_rack(m->prefix, id) : api_key_intent_agent(m->prefix, id)));
}

/* What the service loop did about task t's slot: a pending replacement
 * (and why the bridge could not place it), or a newer task of the slot. */
static void replacement_of(const ctl_machines_manager *m, const api_task *t, ctl_mach_task *out)
{
    const char *rid = t->taskId.requestId;
    size_t first, n;
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_PENDING, rid);
    n = store_cache_range(m->cache, kp, &first);
    free(kp);
    for (size_t i = first; i < first + n && !out->repl_pending; i++) {
        const api_pending_task *p = valid_doc(store_cache_at(m->cache, i));
        if (!p || p->pendingTaskId.instanceNo != t->taskId.instanceNo)
            continue;
        out->repl_pending = true;
        const api_place_reason *pr =
            valid_doc(get(m, api_key_pending_status(m->prefix, rid, p->pendingTaskId.id)));
        if (pr && pr->reason) {
            out->repl_reason = pr->reason;
            out->repl_message = pr->message && *pr->message ? pr->message : NULL;
        }
    }
    kp = api_key_kind_prefix(m->prefix, API_KEY_TASK, rid);
    n = store_cache_range(m->cache, kp, &first);
    free(kp);
    for (size_t i = first; i < first + n && !out->repl_launched; i++) {
        const api_task *o = valid_doc(store_cache_at(m->cache, i));
        if (o && o != t && o->taskId.instanceNo == t->taskId.instanceNo &&
            !api_task_state_terminal(o->lastTaskState) && o->agentId && t->agentId &&
            strcmp(o->agentId, t->agentId) != 0)
            out->repl_launched = true;
    }
}

typedef struct task_fill {
    const ctl_machines_manager *m;
    ctl_mach_task *v;
    size_t n;
} task_fill;

static void fill_task(task_fill *f, const char *key)
{
    const api_task *t = valid_doc(store_cache_get(f->m->cache, key));
    if (!t || api_task_state_terminal(t->lastTaskState))
        return;
    ctl_mach_task *o = &f->v[f->n++];
    memset(o, 0, sizeof(*o));
    o->id = t->taskId.id;
    o->request_id = t->taskId.requestId;
    o->instance = t->taskId.instanceNo;
    const api_request *req = valid_doc(get(f->m, api_key_request(f->m->prefix, o->request_id)));
    o->long_running = req && api_request_type_long_running(req->type);
    o->cleaning = valid_doc(get(f->m, api_key_cleanup(f->m->prefix, o->id))) != NULL;
    o->held = api_task_state_held(t->lastTaskState);
    o->unreachable = t->lastTaskState == API_TASK_UNREACHABLE;
    if (o->long_running)
        replacement_of(f->m, t, o);
}

static void collect_machines(ctl_machines_manager *m, api_key_kind kind, ctl_machine **out,
                             size_t *n_out)
{
    char *kp = api_key_kind_prefix(m->prefix, kind, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    free(kp);
    *out = xcalloc(n + 1, sizeof(**out));
    *n_out = 0;
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        ctl_machine *mc = &(*out)[(*n_out)++];
        mc->id = o->id1;
        mc->doc = valid_doc(o);
        mc->mod_revision = o->mod_revision;
        if (!mc->doc)
            cr_debug(m->log, "machines: %s skipped: %s", o->key,
                     o->error ? o->error : "no document");
        ctl_mach_intent_view(intent_of(m, kind == API_KEY_RACK, o->id1), &mc->intent);
    }
}

/* Whether the document shows the answer of op (it was written). */
static bool mesos_shown(const api_machine *doc, const mesos_op *op)
{
    if (!strcmp(op->result_state, "REACTIVATED"))
        return !doc->has_mesosDrain;
    return doc->has_mesosDrain && doc->mesosDrain.timestamp == op->result_at &&
           doc->mesosDrain.state && !strcmp(doc->mesosDrain.state, op->result_state);
}

static void collect(ctl_machines_manager *m, pass_in *in)
{
    collect_machines(m, API_KEY_AGENT, &in->agents, &in->n_agents);
    collect_machines(m, API_KEY_RACK, &in->racks, &in->n_racks);
    in->tasks = xcalloc(in->n_agents + 1, sizeof(*in->tasks));
    m->busy = 0;
    for (size_t i = 0; i < in->n_agents; i++) {
        ctl_machine *a = &in->agents[i];
        if (!a->doc)
            continue;
        api_machine_state st = api_machine_current(a->doc);
        m->busy += st == API_MSTATE_STARTING_DECOMMISSION || st == API_MSTATE_DECOMMISSIONING ||
                   (st == API_MSTATE_DECOMMISSIONED && store_map_get(m->by_agent, a->id));
        bool rack_intent = a->doc->rackId && intent_of(m, true, a->doc->rackId);
        bool need = (st != API_MSTATE_ACTIVE && st != API_MSTATE_FROZEN && st != API_MSTATE_DEAD &&
                     st != API_MSTATE_MISSING_ON_STARTUP) ||
                    a->intent.set || rack_intent;
        const agent_tasks *on = store_map_get(m->by_agent, a->id);
        if (need && on) {
            task_fill f = {m, xcalloc(on->n + 1, sizeof(ctl_mach_task)), 0};
            for (size_t k = 0; k < on->n; k++)
                fill_task(&f, on->v[k]->key);
            in->tasks[i] = f.v;
            a->tasks = f.v;
            a->n_tasks = f.n;
        }
        mesos_op *op = store_map_get(m->mesos, a->id);
        if (op && !op->req && op->result_state && mesos_shown(a->doc, op)) {
            mesos_op_free(store_map_del(m->mesos, a->id)); /* written: done */
            op = NULL;
        }
        if (op) {
            a->mesos.inflight = op->req != NULL;
            a->mesos.has_result = op->result_state != NULL;
            a->mesos.result_state = op->result_state;
            a->mesos.result_message = op->result_message;
            a->mesos.result_at = op->result_at;
        }
    }
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_INACTIVE_HOST, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    free(kp);
    in->inactive = xcalloc(n + 1, sizeof(*in->inactive));
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        const api_intent *h = valid_doc(o);
        if (!h)
            continue;
        in->inactive[in->n_inactive++] =
            (ctl_inactive_host){o->id1, h->has_timestamp ? h->timestamp : 0, h->user, h->message};
    }
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static int plan_ops(ctl_machines_manager *m, const ctl_machines_plan *p, int64_t now, ctl_ops *ops,
                    cr_err *err)
{
    for (size_t i = 0; i < p->n_writes; i++) {
        const ctl_mach_write *w = &p->writes[i];
        char *key = w->rack ? api_key_rack(m->prefix, w->id) : api_key_agent(m->prefix, w->id);
        ctl_ops_add(ops, w->mod_revision ? CTL_OP_PUT : CTL_OP_CREATE, key,
                    dump(api_machine_to_json(w->doc)), w->mod_revision, ctl_ops_next_group(ops));
    }
    for (size_t i = 0; i < p->n_actions; i++) {
        const ctl_mach_action *a = &p->actions[i];
        char *line = ctl_mach_action_format(a);
        if (a->type == CTL_MACT_STATE)
            cr_info(m->log, "machines: %s%s%s", line, a->message ? ": " : "",
                    a->message ? a->message : "");
        else
            cr_debug(m->log, "machines: %s", line);
        free(line);
        if (a->type != CTL_MACT_KILL)
            continue;
        api_cleanup *c = xcalloc(1, sizeof(*c));
        if (api_task_id_parse(a->id, &c->taskId, err) < 0) {
            api_cleanup_free(c);
            return -1;
        }
        c->cleanupType = xstrdup(a->cleanup_type);
        c->message = a->message ? xstrdup(a->message) : NULL;
        /* never "corral": the service plan withdraws corral's own
         * make-room kills when their reason is gone, and a forced
         * decommission's kill is the operator's, even one unnamed */
        c->user = xstrdup(a->user ? a->user : "corral-machines");
        c->timestamp = now;
        ctl_ops_add(ops, CTL_OP_CREATE, api_cleanup_key(m->prefix, a->id),
                    dump(api_cleanup_to_json(c)), 0, ctl_ops_next_group(ops));
        api_cleanup_free(c);
    }
    return 0;
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *key, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_machines_manager *m = arg;
    pass_in in = {0};
    ctl_machines_plan plan;

    if (strcmp(key, KEY) != 0)
        return CTL_PASS_FORGET;
    collect(m, &in);
    ctl_machines_in pin = {.agents = in.agents,
                           .n_agents = in.n_agents,
                           .racks = in.racks,
                           .n_racks = in.n_racks,
                           .inactive = in.inactive,
                           .n_inactive = in.n_inactive,
                           .config = &m->plan_cfg,
                           .now = now};
    ctl_machines_plan_run(&pin, &plan);
    *requeue_ms = plan.requeue_after_ms;
    int rc = plan_ops(m, &plan, now, ops, err);
    for (size_t i = 0; rc == 0 && i < plan.n_actions; i++) {
        const ctl_mach_action *a = &plan.actions[i];
        if (a->type == CTL_MACT_DRAIN || a->type == CTL_MACT_REACTIVATE)
            mesos_start(m, a->id, a->type == CTL_MACT_DRAIN);
    }
    ctl_machines_plan_release(&plan);
    pass_in_release(&in);
    return rc < 0 ? CTL_PASS_ERROR : CTL_PASS_WRITE;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static const ctl_loop machines_loop = {
    .name = "machines",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_start = on_start,
    .on_stop = on_stop,
};

ctl_machines_manager *ctl_machines_manager_new(struct event_base *base, store *s, cr_http *http,
                                               store_leader *leader,
                                               const ctl_machines_manager_config *cfg, cr_err *err)
{
    const char *prefix;
    ctl_machines_manager *m;

    if (!base || !s || !http || !leader) {
        cr_error(err, CR_EINVAL, "machines: base, store, http and leader are required");
        return NULL;
    }
    if (ctl_loop_prefix("machines", cfg ? cfg->prefix : NULL, &prefix, err) < 0)
        return NULL;
    m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->http = http;
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->plan_cfg = *cfg->plan;
    else
        ctl_machines_config_defaults(&m->plan_cfg);
    m->log = cfg ? cfg->log : NULL;
    for (size_t i = 0; cfg && cfg->mesos_masters && cfg->mesos_masters[i]; i++)
        api_strlist_add(&m->masters, cfg->mesos_masters[i]);
    ctl_runner_config rc = {.prefix = m->prefix,
                            .max_inflight = 1,
                            .resync_ms = cfg ? cfg->resync_ms : 0,
                            .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg ? cfg->cache : NULL, leader, &machines_loop, m, &rc);
    return m;
}

int ctl_machines_manager_start(ctl_machines_manager *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_machines_manager_stop(ctl_machines_manager *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_machines_manager_free(ctl_machines_manager *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    api_strlist_release(&m->masters);
    free(m->prefix);
    free(m);
}

void ctl_machines_manager_get_stats(const ctl_machines_manager *m, ctl_machines_manager_stats *out)
{
    ctl_runner_get_stats(m ? m->runner : NULL, out);
}
