/* GET /api/state: SingularityState computed from the cache (sheet 6.3). */
#include <string.h>

#include "apis/keys.h"
#include "apis/task.h"
#include "apiserver/as_api.h"
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

/* kind is API_KEY_AGENT or API_KEY_RACK. */
static void count_machines(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                           counts *out)
{
    char *prefix = api_key_kind_prefix(cfg->prefix, kind, NULL);
    size_t first, n = as_cache_range(c, prefix, &first);

    memset(out, 0, sizeof(*out));
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        api_key_parts kp = {0};
        if (api_key_parse(cfg->prefix, e->key, &kp) == 0 && kp.kind == kind &&
            json_is_object(e->value))
            count_machine(e->value, as_m_machine_intent(cfg, c, kind, kp.id1), out);
        api_key_parts_release(&kp);
    }
    free(prefix);
}

/* A task record's lastTaskState (NULL when it has none) and whether it is
 * active (as_m_task_active): from the typed document when the cache decoded
 * one (decoded from the same value, so the same answers, with no walk of
 * the text), else from the text, copied into scratch. */
static const char *task_state(const as_entry *e, bool *active, cr_buf *scratch)
{
    const api_task *d = e->kind == API_KEY_TASK && !e->error ? e->doc : NULL;
    as_task t;
    bool has;

    if (d) {
        *active = !api_task_state_terminal(d->lastTaskState);
        return api_task_state_name(d->lastTaskState);
    }
    as_task_open(&t, e);
    *active = as_task_active(&t);
    has = t.state != NULL;
    cr_buf_reset(scratch);
    if (has)
        cr_buf_adds(scratch, t.state);
    as_task_close(&t);
    return has ? cr_buf_str(scratch) : NULL;
}

/* Whether the caller may read request rid's items: the lists of
 * as_api_state show only those (the counts are the cluster's). Keys of one
 * request come together, so the last answer is kept. */
typedef struct reader {
    const as_api_config *cfg;
    const as_cache *c;
    const struct as_identity *who;
    char *last;
    bool last_ok;
} reader;

static bool reads(reader *r, const char *rid)
{
    if (!rid)
        return false;
    if (r->last && strcmp(r->last, rid) == 0)
        return r->last_ok;
    free(r->last);
    r->last = xstrdup(rid);
    r->last_ok = as_api_may_read(r->cfg, r->c, r->who, rid);
    return r->last_ok;
}

static int eff_instances(const json_t *req)
{
    const json_t *v = json_object_get(req, "instances");
    return json_is_integer(v) ? (int)json_integer_value(v) : 1;
}

json_t *as_api_state(const as_api_config *cfg, const as_cache *c, int64_t now,
                     bool include_request_ids, const struct as_identity *who)
{
    reader rd = {cfg, c, who, NULL, false};
    json_t *s = json_object();
    int active_tasks = 0, launching = 0, all = 0, active_req = 0, cooldown = 0, paused = 0,
        finished = 0, scheduled = 0, pending_req = 0, cleaning_req = 0, cleaning_tasks = 0,
        late = 0, od_late = 0, future = 0, num_deploys = 0, n_over = 0, n_under = 0;
    int64_t max_lag = 0, oldest_deploy = 0;
    json_t *over = json_array(), *under = json_array(), *late_list = json_array(),
           *od_late_list = json_array(), *active_deploys = json_array();
    counts ag, rk;
    char *prefix;
    size_t first, n;
    cr_buf scratch = CR_BUF_INIT;

    /* Requests. */
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_REQUEST, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const char *rid, *st, *type;
        api_key_parts kp = {0};
        if (api_key_parse(cfg->prefix, e->key, &kp) < 0 || kp.kind != API_KEY_REQUEST ||
            !json_is_object(e->value)) {
            api_key_parts_release(&kp);
            continue;
        }
        rid = kp.id1;
        all++;
        st = as_m_request_state(cfg, c, rid);
        if (strcmp(st, "ACTIVE") == 0 || strcmp(st, "DEPLOYING_TO_UNPAUSE") == 0)
            active_req++;
        else if (strcmp(st, "SYSTEM_COOLDOWN") == 0)
            cooldown++;
        else if (strcmp(st, "PAUSED") == 0)
            paused++;
        else if (strcmp(st, "FINISHED") == 0)
            finished++;
        if (as_m_intent(cfg, c, rid, "pause") || as_m_intent(cfg, c, rid, "bounce"))
            cleaning_req++;
        const char *pd = as_m_pending_deploy_id(cfg, c, rid);
        if (pd) {
            json_t *m = as_m_deploy_marker(cfg, c, rid, pd);
            int64_t ts = json_integer_value(json_object_get(m, "timestamp"));
            num_deploys++;
            if (ts && (oldest_deploy == 0 || now - ts > oldest_deploy))
                oldest_deploy = now - ts;
            if (reads(&rd, rid))
                json_array_append_new(active_deploys, m);
            else
                json_decref(m);
        }
        /* Provisioning: long-running, runnable requests only. */
        type = as_jstr(e->value, "requestType");
        if (type && (strcmp(type, "SERVICE") == 0 || strcmp(type, "WORKER") == 0) &&
            (strcmp(st, "ACTIVE") == 0 || strcmp(st, "SYSTEM_COOLDOWN") == 0) &&
            as_m_active_deploy_id(cfg, c, rid)) {
            int running = as_m_running_tasks(cfg, c, rid);
            int want = eff_instances(e->value);
            if (running > want) {
                n_over++;
                if (reads(&rd, rid))
                    json_array_append_new(over, json_string(rid));
            } else if (running < want) {
                n_under++;
                if (reads(&rd, rid))
                    json_array_append_new(under, json_string(rid));
            }
        }
        api_key_parts_release(&kp);
    }
    free(prefix);

    /* Tasks. */
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        bool active;
        const char *st = task_state(as_cache_at(c, i), &active, &scratch);
        if (!active)
            continue;
        active_tasks++;
        if (!st || strcmp(st, "TASK_LAUNCHED") == 0 || strcmp(st, "TASK_STAGING") == 0 ||
            strcmp(st, "TASK_STARTING") == 0)
            launching++;
    }
    cr_buf_release(&scratch);
    free(prefix);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_CLEANUP, NULL);
    cleaning_tasks = (int)as_cache_range(c, prefix, &first);
    free(prefix);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_RUN, NULL);
    pending_req = (int)as_cache_range(c, prefix, &first) + num_deploys;
    free(prefix);
    /* Kills waiting for the load balancer (docs/loadbalancing.md): tasks,
     * and the requests they belong to (keys sort by request). */
    int lb_tasks = 0, lb_requests = 0;
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_LB_CLEANUP, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const as_entry *prev = i > first ? as_cache_at(c, i - 1) : NULL;
        lb_tasks++;
        if (!prev || !e->id1 || !prev->id1 || strcmp(e->id1, prev->id1) != 0)
            lb_requests++;
    }
    free(prefix);

    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_PENDING, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *pe = as_cache_at(c, i);
        const json_t *p = pe->value;
        const json_t *pid = json_object_get(p, "pendingTaskId");
        int64_t at = json_integer_value(json_object_get(pid, "nextRunAt"));
        const char *rid = as_jstr(pid, "requestId");
        const char *type = rid ? as_jstr(as_m_request(cfg, c, rid), "requestType") : NULL;
        bool od = type && strcmp(type, "ON_DEMAND") == 0;
        if (!json_is_object(p))
            continue;
        scheduled++;
        if (at > now) {
            future++;
            continue;
        }
        if (now - at > max_lag)
            max_lag = now - at;
        if (now - at > LATE_AFTER_MS) {
            /* the key names the request the item belongs to */
            bool shown = reads(&rd, pe->id1);
            if (od) {
                od_late++;
                if (shown)
                    json_array_append(od_late_list, (json_t *)pid);
            } else {
                late++;
                if (shown)
                    json_array_append(late_list, (json_t *)pid);
            }
        }
    }
    free(prefix);

    count_machines(cfg, c, API_KEY_AGENT, &ag);
    count_machines(cfg, c, API_KEY_RACK, &rk);

    json_object_set_new(s, "activeTasks", json_integer(active_tasks));
    json_object_set_new(s, "launchingTasks", json_integer(launching));
    json_object_set_new(s, "activeRequests", json_integer(active_req));
    json_object_set_new(s, "allRequests", json_integer(all));
    json_object_set_new(s, "cooldownRequests", json_integer(cooldown));
    json_object_set_new(s, "pausedRequests", json_integer(paused));
    json_object_set_new(s, "finishedRequests", json_integer(finished));
    json_object_set_new(s, "scheduledTasks", json_integer(scheduled));
    json_object_set_new(s, "pendingRequests", json_integer(pending_req));
    json_object_set_new(s, "cleaningRequests", json_integer(cleaning_req));
    json_object_set_new(s, "cleaningTasks", json_integer(cleaning_tasks));
    json_object_set_new(s, "lbCleanupTasks", json_integer(lb_tasks));
    json_object_set_new(s, "lbCleanupRequests", json_integer(lb_requests));
    json_object_set_new(s, "activeAgents", json_integer(ag.active));
    json_object_set_new(s, "deadAgents", json_integer(ag.dead));
    json_object_set_new(s, "decommissioningAgents", json_integer(ag.decom));
    json_object_set_new(s, "unknownAgents", json_integer(ag.unknown));
    json_object_set_new(s, "activeSlaves", json_integer(ag.active));
    json_object_set_new(s, "deadSlaves", json_integer(ag.dead));
    json_object_set_new(s, "decommissioningSlaves", json_integer(ag.decom));
    json_object_set_new(s, "decomissioningSlaves", json_integer(ag.decom));
    json_object_set_new(s, "unknownSlaves", json_integer(ag.unknown));
    json_object_set_new(s, "activeRacks", json_integer(rk.active));
    json_object_set_new(s, "deadRacks", json_integer(rk.dead));
    json_object_set_new(s, "decommissioningRacks", json_integer(rk.decom));
    json_object_set_new(s, "decomissioningRacks", json_integer(rk.decom));
    json_object_set_new(s, "unknownRacks", json_integer(rk.unknown));
    json_object_set_new(s, "hostStates", json_array()); /* the server adds this replica */
    json_object_set_new(s, "oldestDeploy", json_integer(oldest_deploy));
    json_object_set_new(s, "numDeploys", json_integer(num_deploys));
    json_object_set_new(s, "oldestDeployStep", json_integer(0));
    json_object_set_new(s, "activeDeploys", active_deploys);
    json_object_set_new(s, "lateTasks", json_integer(late));
    json_object_set_new(s, "listLateTasks", late_list);
    json_object_set_new(s, "onDemandLateTasks", json_integer(od_late));
    json_object_set_new(s, "onDemandListLateTasks", od_late_list);
    json_object_set_new(s, "futureTasks", json_integer(future));
    json_object_set_new(s, "maxTaskLag", json_integer(max_lag));
    json_object_set_new(s, "generatedAt", json_integer(now));
    json_object_set_new(s, "overProvisionedRequests", json_integer(n_over));
    json_object_set_new(s, "underProvisionedRequests", json_integer(n_under));
    if (include_request_ids) {
        json_object_set_new(s, "overProvisionedRequestIds", over);
        json_object_set_new(s, "underProvisionedRequestIds", under);
    } else {
        json_object_set_new(s, "overProvisionedRequestIds", json_null());
        json_object_set_new(s, "underProvisionedRequestIds", json_null());
        json_decref(over);
        json_decref(under);
    }
    json_object_set_new(s, "authDatastoreHealthy", json_true());
    json_object_set_new(s, "minimumPriorityLevel", json_null());
    json_object_set_new(s, "avgStatusUpdateDelayMs", json_integer(0));
    json_object_set_new(s, "lastHeartbeatAt", json_integer(0));
    json_object_set_new(s, "fireAlarm", json_null());
    free(rd.last);
    return s;
}

/* Counts values of one string field over documents under prefix. */
typedef struct tally {
    char *name[32];
    long n[32];
    size_t len;
} tally;

static void tally_add(tally *t, const char *name)
{
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->name[i], name) == 0) {
            t->n[i]++;
            return;
        }
    if (t->len < 32) {
        t->name[t->len] = xstrdup(name);
        t->n[t->len++] = 1;
    }
}

static void tally_emit(tally *t, cr_buf *out, const char *metric, const char *label)
{
    for (size_t i = 0; i < t->len; i++) {
        cr_buf_addf(out, "%s{%s=\"%s\"} %ld\n", metric, label, t->name[i], t->n[i]);
        free(t->name[i]);
    }
    t->len = 0;
}

void as_api_metrics(const as_api_config *cfg, const as_cache *c, cr_buf *out)
{
    tally t = {0};
    char *prefix;
    size_t first, n;
    long pending_deploys = 0;
    cr_buf scratch = CR_BUF_INIT;

    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_REQUEST, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const char *state, *pending;
        if (e->kind != API_KEY_REQUEST || !e->id1 || !json_is_object(e->value))
            continue;
        /* Scraped every few seconds: the memo keeps these per request. */
        if (!cfg->memo || !as_memo_request_facts(cfg->memo, cfg, e, &state, &pending)) {
            state = as_m_request_state(cfg, c, e->id1);
            pending = as_m_pending_deploy_id(cfg, c, e->id1);
        }
        tally_add(&t, state);
        pending_deploys += pending != NULL;
    }
    free(prefix);
    cr_buf_adds(out, "# HELP corral_requests Requests by state.\n# TYPE corral_requests gauge\n");
    tally_emit(&t, out, "corral_requests", "state");

    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, NULL);
    n = as_cache_range(c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        bool active;
        const char *s = task_state(as_cache_at(c, i), &active, &scratch);
        tally_add(&t, s ? s : "TASK_LAUNCHED");
    }
    cr_buf_release(&scratch);
    free(prefix);
    cr_buf_adds(out, "# HELP corral_tasks Task records by last state.\n"
                     "# TYPE corral_tasks gauge\n");
    tally_emit(&t, out, "corral_tasks", "state");

    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_PENDING, NULL);
    n = as_cache_range(c, prefix, &first);
    free(prefix);
    cr_buf_addf(out,
                "# HELP corral_pending_tasks Tasks waiting for an offer.\n"
                "# TYPE corral_pending_tasks gauge\ncorral_pending_tasks %zu\n",
                n);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_CLEANUP, NULL);
    n = as_cache_range(c, prefix, &first);
    free(prefix);
    cr_buf_addf(out,
                "# HELP corral_cleanups Tasks with a kill intent.\n"
                "# TYPE corral_cleanups gauge\ncorral_cleanups %zu\n",
                n);
    cr_buf_addf(out,
                "# HELP corral_deploys_pending Deploys rolling out.\n"
                "# TYPE corral_deploys_pending gauge\ncorral_deploys_pending %ld\n",
                pending_deploys);
    prefix = api_key_kind_prefix(cfg->prefix, API_KEY_AGENT, NULL);
    n = as_cache_range(c, prefix, &first);
    free(prefix);
    cr_buf_addf(out,
                "# HELP corral_agents Known Mesos agents.\n"
                "# TYPE corral_agents gauge\ncorral_agents %zu\n",
                n);
}
