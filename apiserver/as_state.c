/* GET /api/state (SingularityState, sheet 6.3), its parts and /metrics:
 * counted from the cache a slice at a time, written a piece at a time
 * (as_walk, as_api.h). With an index (as_index.h), the per-object counts
 * come from it and their key ranges are not walked. */
#include <string.h>

#include "apis/keys.h"
#include "apis/task.h"
#include "apiserver/as_api.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_index.h"
#include "apiserver/as_memo.h"
#include "apiserver/as_model.h"
#include "base/buf.h"
#include "base/xalloc.h"

/* A pending task is late once it is this far past its nextRunAt
 * (Singularity's deltaAfterWhichTasksAreLateMillis). */
#define LATE_AFTER_MS 30000

typedef struct counts {
    int active, dead, decom, unknown;
} counts;

/* Counts one machine (document doc, desired state in) by state. */
static void count_machine(const json_t *doc, const json_t *in, counts *out)
{
    const char *s = as_jstr(json_object_get(doc, "currentState"), "state");

    if (!s)
        s = as_jstr(doc, "state");
    if ((!s || strcmp(s, "ACTIVE") == 0) && as_jstr(in, "state"))
        s = as_jstr(in, "state");
    if (!s || strcmp(s, "ACTIVE") == 0 || strcmp(s, "FROZEN") == 0)
        out->active++;
    else if (strcmp(s, "DEAD") == 0)
        out->dead++;
    else if (strstr(s, "DECOMMISSION"))
        out->decom++;
    else
        out->unknown++;
}

/* Counts values of one string field (/metrics). */
typedef struct tally {
    char *name[AS_INDEX_MAX_NAMES];
    long n[AS_INDEX_MAX_NAMES];
    size_t len;
} tally;

static void tally_add(tally *t, const char *name)
{
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->name[i], name) == 0) {
            t->n[i]++;
            return;
        }
    if (t->len < AS_INDEX_MAX_NAMES) {
        t->name[t->len] = xstrdup(name);
        t->n[t->len++] = 1;
    }
}

/* Sets t to the index's counts (in their order). */
static void tally_set(tally *t, const as_index_count *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        t->name[t->len] = xstrdup(v[i].name);
        t->n[t->len++] = v[i].n;
    }
}

static void tally_emit(const tally *t, cr_buf *out, const char *metric, const char *label)
{
    for (size_t i = 0; i < t->len; i++)
        cr_buf_addf(out, "%s{%s=\"%s\"} %ld\n", metric, label, t->name[i], t->n[i]);
}

static void tally_release(tally *t)
{
    for (size_t i = 0; i < t->len; i++)
        free(t->name[i]);
    t->len = 0;
}

/* ---- the walk ------------------------------------------------------------------------- */

/* What a walk counts, in order: key ranges (the kinds below), then the
 * answer. Each operation skips the ranges its answer does not read. */
typedef enum { W_REQUESTS, W_TASKS, W_LB, W_PENDING, W_AGENTS, W_RACKS, W_WRITE, W_DONE } phase;

static const api_key_kind phase_kind[] = {
    [W_REQUESTS] = API_KEY_REQUEST, [W_TASKS] = API_KEY_TASK,   [W_LB] = API_KEY_LB_CLEANUP,
    [W_PENDING] = API_KEY_PENDING,  [W_AGENTS] = API_KEY_AGENT, [W_RACKS] = API_KEY_RACK,
};

/* The late pending tasks of a list, referenced until written. */
typedef struct refs {
    const store_obj **v;
    size_t n, cap;
} refs;

struct as_walk {
    const as_api_config *cfg;
    as_op op;
    int64_t now;
    bool ids;        /* include_request_ids */
    as_identity who; /* the caller, a copy (has_who) */
    bool has_who;
    phase ph;
    /* the ranges are done and the rest is counted (finish_counts) */
    bool counted;
    /* the per-object counts come from cfg->index (ready at the start) */
    bool use_ix;
    char *prefix, *next; /* the range being counted; where to go on */
    /* remembered for one call only (the cache may change between calls):
     * the last request's readability and type */
    const as_cache *c;
    char *read_rid, *type_rid;
    bool read_ok, od;
    /* /api/state */
    int active_tasks, launching, all, active_req, cooldown, paused, finished, scheduled,
        pending_req, cleaning_req, cleaning_tasks, late, od_late, future, num_deploys, n_over,
        n_under, lb_tasks, lb_requests;
    int64_t max_lag, oldest_deploy;
    json_t *over, *under, *active_deploys, *hosts;
    refs lists[2]; /* listLateTasks, onDemandListLateTasks */
    counts ag, rk;
    char *lb_last; /* the last LB cleanup's request (lb_seen: there was one) */
    bool lb_seen;
    /* /metrics */
    tally req_states, task_states;
    long pending_deploys;
    size_t n_pending, n_cleanups, n_agents;
    cr_buf scratch;
    /* the answer: text[0], list 0, text[1], list 1, text[2] */
    char *text[3];
    int seg;     /* 0..4: the part being written */
    size_t item; /* the next item of a list */
};

bool as_walk_op(as_op op)
{
    switch (op) {
    case AS_OP_STATE:
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
    case AS_OP_STATE_SCHEDULED_INFO:
    case AS_OP_METRICS:
        return true;
    default:
        return false;
    }
}

/* The phase after ph (-1: the first) for w's operation. The index has
 * what /metrics counts and /api/state's task counts. */
static phase next_phase(const as_walk *w, int ph)
{
    bool ix = w->use_ix;

    switch (w->op) {
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
        return ph < (int)W_REQUESTS ? W_REQUESTS : W_WRITE;
    case AS_OP_STATE_SCHEDULED_INFO:
        return ph < (int)W_PENDING ? W_PENDING : W_WRITE;
    case AS_OP_METRICS:
        return ix ? W_WRITE : ph < (int)W_TASKS ? (phase)(ph + 1) : W_WRITE;
    default:
        return ix && ph + 1 == (int)W_TASKS ? W_LB : (phase)(ph + 1);
    }
}

static void start_phase(as_walk *w, phase ph)
{
    w->ph = ph;
    free(w->prefix);
    free(w->next);
    w->prefix = w->next = NULL;
    if (ph >= W_WRITE)
        return;
    w->prefix = api_key_kind_prefix(w->cfg->prefix, phase_kind[ph], NULL);
    /* Keys hold no control characters: the first key >= prefix+"\x01" is
     * the first one under prefix. */
    w->next = xasprintf("%s\x01", w->prefix);
}

as_walk *as_walk_start(const as_api_config *cfg, as_op op, int64_t now, bool include_request_ids,
                       const as_identity *who)
{
    as_walk *w = xcalloc(1, sizeof(*w));

    w->cfg = cfg;
    w->op = op;
    w->now = now;
    w->ids = include_request_ids;
    if (who) {
        api_user_copy(&w->who.user, &who->user);
        w->who.via = who->via;
        w->who.expires_at = who->expires_at;
        w->has_who = true;
    }
    w->over = json_array();
    w->under = json_array();
    w->active_deploys = json_array();
    w->hosts = json_array();
    w->use_ix = cfg->index && as_index_ready(cfg->index);
    start_phase(w, next_phase(w, -1));
    return w;
}

void as_walk_add_host(as_walk *w, json_t *host)
{
    json_array_append_new(w->hosts, host);
}

void as_walk_free(as_walk *w)
{
    if (!w)
        return;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < w->lists[l].n; i++)
            store_obj_unref(w->lists[l].v[i]);
        free(w->lists[l].v);
    }
    json_decref(w->over);
    json_decref(w->under);
    json_decref(w->active_deploys);
    json_decref(w->hosts);
    tally_release(&w->req_states);
    tally_release(&w->task_states);
    for (int i = 0; i < 3; i++)
        free(w->text[i]);
    free(w->prefix);
    free(w->next);
    free(w->read_rid);
    free(w->type_rid);
    free(w->lb_last);
    cr_buf_release(&w->scratch);
    as_identity_release(&w->who);
    free(w);
}

/* Whether the caller may read request rid's items: the lists show only
 * those (the counts are the cluster's). Keys of one request come
 * together, so the last answer is kept (for the call). */
static bool reads(as_walk *w, const char *rid)
{
    if (!rid)
        return false;
    if (w->read_rid && strcmp(w->read_rid, rid) == 0)
        return w->read_ok;
    free(w->read_rid);
    w->read_rid = xstrdup(rid);
    w->read_ok = as_api_may_read(w->cfg, w->c, w->has_who ? &w->who : NULL, rid);
    return w->read_ok;
}

/* Whether request rid is ON_DEMAND (kept for the call, as reads). */
static bool on_demand(as_walk *w, const char *rid)
{
    const char *type;

    if (w->type_rid && strcmp(w->type_rid, rid) == 0)
        return w->od;
    free(w->type_rid);
    w->type_rid = xstrdup(rid);
    type = as_m_request_type(as_m_request_entry(w->cfg, w->c, rid));
    w->od = type && strcmp(type, "ON_DEMAND") == 0;
    return w->od;
}

static void refs_add(refs *r, const store_obj *o)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = store_obj_ref(o);
}

/* A request's state and unfinished deploy: the memo's when there is one
 * (the same strings, kept between changes). */
static void request_facts(as_walk *w, const as_entry *e, const char *rid, const char **state,
                          const char **pending)
{
    if (!w->cfg->memo || !as_memo_request_facts(w->cfg->memo, w->cfg, e, state, pending)) {
        *state = as_m_request_state(w->cfg, w->c, rid);
        *pending = as_m_pending_deploy_id(w->cfg, w->c, rid);
    }
}

static void count_request(as_walk *w, const as_entry *e)
{
    const as_api_config *cfg = w->cfg;
    const as_cache *c = w->c;
    const char *rid, *st, *pd, *type;
    api_key_parts kp = {0};

    if (w->op == AS_OP_METRICS) {
        if (e->kind != API_KEY_REQUEST || !e->id1 || !as_m_entry_object(e))
            return;
        request_facts(w, e, e->id1, &st, &pd);
        tally_add(&w->req_states, st);
        w->pending_deploys += pd != NULL;
        return;
    }
    if (api_key_parse(cfg->prefix, e->key, &kp) < 0 || kp.kind != API_KEY_REQUEST ||
        !as_m_entry_object(e)) {
        api_key_parts_release(&kp);
        return;
    }
    rid = kp.id1;
    w->all++;
    request_facts(w, e, rid, &st, &pd);
    if (strcmp(st, "ACTIVE") == 0 || strcmp(st, "DEPLOYING_TO_UNPAUSE") == 0)
        w->active_req++;
    else if (strcmp(st, "SYSTEM_COOLDOWN") == 0)
        w->cooldown++;
    else if (strcmp(st, "PAUSED") == 0)
        w->paused++;
    else if (strcmp(st, "FINISHED") == 0)
        w->finished++;
    if (as_m_intent(cfg, c, rid, "pause") || as_m_intent(cfg, c, rid, "bounce"))
        w->cleaning_req++;
    if (pd) {
        json_t *m = as_m_deploy_marker(cfg, c, rid, pd);
        int64_t ts = json_integer_value(json_object_get(m, "timestamp"));
        w->num_deploys++;
        if (ts && (w->oldest_deploy == 0 || w->now - ts > w->oldest_deploy))
            w->oldest_deploy = w->now - ts;
        if (reads(w, rid))
            json_array_append_new(w->active_deploys, m);
        else
            json_decref(m);
    }
    /* Provisioning: long-running, runnable requests only. */
    type = as_m_request_type(e);
    if (type && (strcmp(type, "SERVICE") == 0 || strcmp(type, "WORKER") == 0) &&
        (strcmp(st, "ACTIVE") == 0 || strcmp(st, "SYSTEM_COOLDOWN") == 0) &&
        as_m_active_deploy_id(cfg, c, rid)) {
        int running = as_m_running_tasks(cfg, c, rid);
        int want = (int)as_m_request_instances(e);
        if (running > want) {
            w->n_over++;
            if (reads(w, rid))
                json_array_append_new(w->over, json_string(rid));
        } else if (running < want) {
            w->n_under++;
            if (reads(w, rid))
                json_array_append_new(w->under, json_string(rid));
        }
    }
    api_key_parts_release(&kp);
}

static void count_task(as_walk *w, const as_entry *e)
{
    bool active;
    const char *st = as_index_task_state(e, &active, &w->scratch);

    if (w->op == AS_OP_METRICS) {
        tally_add(&w->task_states, st ? st : "TASK_LAUNCHED");
        return;
    }
    if (!active)
        return;
    w->active_tasks++;
    if (!st || strcmp(st, "TASK_LAUNCHED") == 0 || strcmp(st, "TASK_STAGING") == 0 ||
        strcmp(st, "TASK_STARTING") == 0)
        w->launching++;
}

/* Kills waiting for the load balancer (docs/loadbalancing.md): tasks, and
 * the requests they belong to (keys sort by request). */
static void count_lb(as_walk *w, const as_entry *e)
{
    w->lb_tasks++;
    if (!w->lb_seen || !e->id1 || !w->lb_last || strcmp(e->id1, w->lb_last) != 0)
        w->lb_requests++;
    free(w->lb_last);
    w->lb_last = e->id1 ? xstrdup(e->id1) : NULL;
    w->lb_seen = true;
}

static void count_pending(as_walk *w, const as_entry *e)
{
    as_pending p;
    int64_t at;

    if (!as_pending_open(&p, e))
        return;
    at = p.next_run_at;
    w->scheduled++;
    if (at > w->now) {
        w->future++;
        return;
    }
    if (w->now - at > w->max_lag)
        w->max_lag = w->now - at;
    if (w->now - at > LATE_AFTER_MS) {
        bool od = p.request_id && on_demand(w, p.request_id);
        /* the key names the request the item belongs to */
        bool shown = reads(w, e->id1) && p.has_id;
        if (od)
            w->od_late++;
        else
            w->late++;
        if (shown)
            refs_add(&w->lists[od], e);
    }
}

/* kind is API_KEY_AGENT or API_KEY_RACK. */
static void count_machine_entry(as_walk *w, const as_entry *e, api_key_kind kind, counts *out)
{
    api_key_parts kp = {0};
    json_t *doc = NULL;

    if (api_key_parse(w->cfg->prefix, e->key, &kp) == 0 && kp.kind == kind)
        doc = as_m_machine_json(e);
    if (doc)
        count_machine(doc, as_m_machine_intent(w->cfg, w->c, kind, kp.id1), out);
    json_decref(doc);
    api_key_parts_release(&kp);
}

static void count(as_walk *w, const as_entry *e)
{
    switch (w->ph) {
    case W_REQUESTS:
        count_request(w, e);
        break;
    case W_TASKS:
        count_task(w, e);
        break;
    case W_LB:
        count_lb(w, e);
        break;
    case W_PENDING:
        count_pending(w, e);
        break;
    case W_AGENTS:
        count_machine_entry(w, e, API_KEY_AGENT, &w->ag);
        break;
    case W_RACKS:
        count_machine_entry(w, e, API_KEY_RACK, &w->rk);
        break;
    default:
        break;
    }
}

static size_t range_len(const as_walk *w, api_key_kind kind)
{
    char *prefix = api_key_kind_prefix(w->cfg->prefix, kind, NULL);
    size_t first, n = as_cache_range(w->c, prefix, &first);
    free(prefix);
    return n;
}

/* What is counted in one step once the ranges are done: whole ranges by
 * their length (a binary search each), and the index's figures. */
static void finish_counts(as_walk *w)
{
    as_index_figures fig;

    if (w->counted)
        return;
    w->counted = true;
    if (w->op == AS_OP_METRICS) {
        w->n_pending = range_len(w, API_KEY_PENDING);
        w->n_cleanups = range_len(w, API_KEY_CLEANUP);
        w->n_agents = range_len(w, API_KEY_AGENT);
    } else {
        w->cleaning_tasks = (int)range_len(w, API_KEY_CLEANUP);
        w->pending_req = (int)range_len(w, API_KEY_RUN) + w->num_deploys;
    }
    if (!w->use_ix || (w->op != AS_OP_METRICS && w->op != AS_OP_STATE))
        return;
    /* ready when the walk started; if it found itself out of step since
     * (the cache changed without telling), it counts again at once */
    while (!as_index_read(w->cfg->index, w->cfg, w->c, &fig))
        as_index_step(w->cfg->index, w->cfg, w->c, SIZE_MAX);
    if (w->op == AS_OP_METRICS) {
        tally_set(&w->req_states, fig.req_states, fig.n_req_states);
        tally_set(&w->task_states, fig.task_states, fig.n_task_states);
        w->pending_deploys = fig.pending_deploys;
    } else {
        w->active_tasks = (int)fig.active_tasks;
        w->launching = (int)fig.launching_tasks;
    }
}

/* ---- the answers ---------------------------------------------------------------------- */

/* SingularityState's members before listLateTasks. */
static json_t *state_head(const as_walk *w)
{
    json_t *s = json_object();

    json_object_set_new(s, "activeTasks", json_integer(w->active_tasks));
    json_object_set_new(s, "launchingTasks", json_integer(w->launching));
    json_object_set_new(s, "activeRequests", json_integer(w->active_req));
    json_object_set_new(s, "allRequests", json_integer(w->all));
    json_object_set_new(s, "cooldownRequests", json_integer(w->cooldown));
    json_object_set_new(s, "pausedRequests", json_integer(w->paused));
    json_object_set_new(s, "finishedRequests", json_integer(w->finished));
    json_object_set_new(s, "scheduledTasks", json_integer(w->scheduled));
    json_object_set_new(s, "pendingRequests", json_integer(w->pending_req));
    json_object_set_new(s, "cleaningRequests", json_integer(w->cleaning_req));
    json_object_set_new(s, "cleaningTasks", json_integer(w->cleaning_tasks));
    json_object_set_new(s, "lbCleanupTasks", json_integer(w->lb_tasks));
    json_object_set_new(s, "lbCleanupRequests", json_integer(w->lb_requests));
    json_object_set_new(s, "activeAgents", json_integer(w->ag.active));
    json_object_set_new(s, "deadAgents", json_integer(w->ag.dead));
    json_object_set_new(s, "decommissioningAgents", json_integer(w->ag.decom));
    json_object_set_new(s, "unknownAgents", json_integer(w->ag.unknown));
    json_object_set_new(s, "activeSlaves", json_integer(w->ag.active));
    json_object_set_new(s, "deadSlaves", json_integer(w->ag.dead));
    json_object_set_new(s, "decommissioningSlaves", json_integer(w->ag.decom));
    json_object_set_new(s, "decomissioningSlaves", json_integer(w->ag.decom));
    json_object_set_new(s, "unknownSlaves", json_integer(w->ag.unknown));
    json_object_set_new(s, "activeRacks", json_integer(w->rk.active));
    json_object_set_new(s, "deadRacks", json_integer(w->rk.dead));
    json_object_set_new(s, "decommissioningRacks", json_integer(w->rk.decom));
    json_object_set_new(s, "decomissioningRacks", json_integer(w->rk.decom));
    json_object_set_new(s, "unknownRacks", json_integer(w->rk.unknown));
    json_object_set(s, "hostStates", w->hosts); /* the server adds this replica */
    json_object_set_new(s, "oldestDeploy", json_integer(w->oldest_deploy));
    json_object_set_new(s, "numDeploys", json_integer(w->num_deploys));
    json_object_set_new(s, "oldestDeployStep", json_integer(0));
    json_object_set(s, "activeDeploys", w->active_deploys);
    json_object_set_new(s, "lateTasks", json_integer(w->late));
    return s;
}

/* ...and after onDemandListLateTasks. */
static json_t *state_tail(const as_walk *w)
{
    json_t *s = json_object();

    json_object_set_new(s, "futureTasks", json_integer(w->future));
    json_object_set_new(s, "maxTaskLag", json_integer(w->max_lag));
    json_object_set_new(s, "generatedAt", json_integer(w->now));
    json_object_set_new(s, "overProvisionedRequests", json_integer(w->n_over));
    json_object_set_new(s, "underProvisionedRequests", json_integer(w->n_under));
    json_object_set(s, "overProvisionedRequestIds", w->ids ? w->over : json_null());
    json_object_set(s, "underProvisionedRequestIds", w->ids ? w->under : json_null());
    json_object_set_new(s, "authDatastoreHealthy", json_true());
    json_object_set_new(s, "minimumPriorityLevel", json_null());
    json_object_set_new(s, "avgStatusUpdateDelayMs", json_integer(0));
    json_object_set_new(s, "lastHeartbeatAt", json_integer(0));
    json_object_set_new(s, "fireAlarm", json_null());
    return s;
}

/* SingularityScheduledTasksInfo's members after its two lists. */
static json_t *info_tail(const as_walk *w)
{
    return json_pack("{s:I, s:I, s:I}", "numFutureTasks", (json_int_t)w->future, "maxTaskLag",
                     (json_int_t)w->max_lag, "timestamp", (json_int_t)w->now);
}

/* A late list as a tree (as_api_state). */
static json_t *list_json(const refs *r)
{
    json_t *a = json_array();

    for (size_t i = 0; i < r->n; i++) {
        as_pending p;
        as_pending_open(&p, r->v[i]);
        json_array_append_new(a, as_pending_id_json(&p));
    }
    return a;
}

static char *dump(json_t *j /* taken */)
{
    char *s = json_dumps(j, AS_JSON_FLAGS);
    json_decref(j);
    return s;
}

/* The compact text of object o (taken) without its braces: its members. */
static char *members(json_t *o)
{
    char *s = dump(o);
    size_t n = strlen(s);

    memmove(s, s + 1, n - 2);
    s[n - 2] = '\0';
    return s;
}

static void metrics_text(as_walk *w, cr_buf *out)
{
    cr_buf_adds(out, "# HELP corral_requests Requests by state.\n# TYPE corral_requests gauge\n");
    tally_emit(&w->req_states, out, "corral_requests", "state");
    cr_buf_adds(out, "# HELP corral_tasks Task records by last state.\n"
                     "# TYPE corral_tasks gauge\n");
    tally_emit(&w->task_states, out, "corral_tasks", "state");
    cr_buf_addf(out,
                "# HELP corral_pending_tasks Tasks waiting for an offer.\n"
                "# TYPE corral_pending_tasks gauge\ncorral_pending_tasks %zu\n",
                w->n_pending);
    cr_buf_addf(out,
                "# HELP corral_cleanups Tasks with a kill intent.\n"
                "# TYPE corral_cleanups gauge\ncorral_cleanups %zu\n",
                w->n_cleanups);
    cr_buf_addf(out,
                "# HELP corral_deploys_pending Deploys rolling out.\n"
                "# TYPE corral_deploys_pending gauge\ncorral_deploys_pending %ld\n",
                w->pending_deploys);
    cr_buf_addf(out,
                "# HELP corral_agents Known Mesos agents.\n"
                "# TYPE corral_agents gauge\ncorral_agents %zu\n",
                w->n_agents);
}

/* The texts around the lists, once everything is counted. */
static void start_answer(as_walk *w)
{
    cr_buf b = CR_BUF_INIT;
    char *m;

    switch (w->op) {
    case AS_OP_METRICS:
        metrics_text(w, &b);
        w->text[0] = cr_buf_detach(&b, NULL);
        break;
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
        w->text[0] = dump(json_incref(w->op == AS_OP_STATE_UNDER ? w->under : w->over));
        break;
    case AS_OP_STATE_SCHEDULED_INFO:
        w->text[0] = xstrdup("{\"lateTasks\":[");
        w->text[1] = xstrdup("],\"onDemandLateTasks\":[");
        m = members(info_tail(w));
        w->text[2] = xasprintf("],%s}", m);
        free(m);
        break;
    default:
        m = members(state_head(w));
        w->text[0] = xasprintf("{%s,\"listLateTasks\":[", m);
        free(m);
        m = members(json_pack("{s:i}", "onDemandLateTasks", w->od_late));
        w->text[1] = xasprintf("],%s,\"onDemandListLateTasks\":[", m);
        free(m);
        m = members(state_tail(w));
        w->text[2] = xasprintf("],%s}", m);
        free(m);
        break;
    }
}

/* Writes the next part of the answer (at most max items); true when done. */
static bool write_answer(as_walk *w, cr_buf *out, size_t max)
{
    for (size_t k = 0; k < max && w->seg < 5; k++) {
        if (w->seg % 2 == 0) {
            if (w->text[w->seg / 2])
                cr_buf_adds(out, w->text[w->seg / 2]);
            w->seg++;
            continue;
        }
        refs *r = &w->lists[w->seg / 2];
        if (w->item < r->n) {
            as_pending p;
            if (w->item)
                cr_buf_addch(out, ',');
            as_pending_open(&p, r->v[w->item]);
            as_pending_id_dump(&p, out);
            w->item++;
        } else {
            w->seg++;
            w->item = 0;
        }
    }
    if (w->seg < 5)
        return false;
    w->ph = W_DONE;
    return true;
}

/* Counts at most *budget entries, taking them off; an index that is not
 * ready counts as many of its own. */
static void count_some(as_walk *w, size_t *budget)
{
    if (w->cfg->index && !w->use_ix)
        as_index_step(w->cfg->index, w->cfg, w->c, *budget);
    while (*budget > 0 && w->ph < W_WRITE) {
        size_t plen = strlen(w->prefix), i;
        const as_entry *e, *last = NULL;
        bool ended = false;

        as_cache_range(w->c, w->next, &i);
        for (; *budget > 0; i++) {
            e = as_cache_at(w->c, i);
            if (!e || strncmp(e->key, w->prefix, plen) != 0) {
                ended = true;
                break;
            }
            (*budget)--;
            count(w, e);
            last = e;
        }
        if (ended) {
            start_phase(w, next_phase(w, (int)w->ph));
        } else if (last) {
            free(w->next);
            w->next = xasprintf("%s\x01", last->key);
        }
    }
}

/* Starts a call: nothing remembered from the last one is used. */
static void begin_call(as_walk *w, const as_cache *c)
{
    w->c = c;
    free(w->read_rid);
    free(w->type_rid);
    w->read_rid = w->type_rid = NULL;
}

bool as_walk_next(as_walk *w, const as_cache *c, cr_buf *out, size_t max_items)
{
    size_t budget = max_items;

    if (w->ph == W_DONE)
        return true;
    begin_call(w, c);
    count_some(w, &budget);
    if (w->ph < W_WRITE)
        return false;
    finish_counts(w);
    if (!w->text[0])
        start_answer(w);
    return write_answer(w, out, budget ? budget : 1);
}

/* Counts everything at once. */
static as_walk *walk_all(const as_api_config *cfg, const as_cache *c, as_op op, int64_t now,
                         bool ids, const as_identity *who)
{
    as_walk *w = as_walk_start(cfg, op, now, ids, who);
    size_t budget = SIZE_MAX;

    begin_call(w, c);
    count_some(w, &budget);
    finish_counts(w);
    return w;
}

json_t *as_api_state(const as_api_config *cfg, const as_cache *c, int64_t now,
                     bool include_request_ids, const as_identity *who)
{
    as_walk *w = walk_all(cfg, c, AS_OP_STATE, now, include_request_ids, who);
    json_t *s = state_head(w), *tail = state_tail(w);

    json_object_set_new(s, "listLateTasks", list_json(&w->lists[0]));
    json_object_set_new(s, "onDemandLateTasks", json_integer(w->od_late));
    json_object_set_new(s, "onDemandListLateTasks", list_json(&w->lists[1]));
    json_object_update(s, tail);
    json_decref(tail);
    as_walk_free(w);
    return s;
}

void as_api_metrics(const as_api_config *cfg, const as_cache *c, cr_buf *out)
{
    as_walk *w = walk_all(cfg, c, AS_OP_METRICS, 0, false, NULL);

    metrics_text(w, out);
    as_walk_free(w);
}
