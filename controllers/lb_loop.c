/* The LB loop (lb.h): collect a request's documents from the cache, run
 * ctl_lb_plan, apply the change through the provider, write the status.
 * The runner (runner.h) does the queueing, fencing and batching. */
#include "controllers/lb.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/keys.h"
#include "apis/request.h"
#include "apis/status.h"
#include "base/xalloc.h"
#include "controllers/runner.h"
#include "controllers/view.h"

struct ctl_lb_manager {
    char *prefix;
    ctl_lb_provider provider;
    const ctl_manager *service;
    int64_t retry_ms;
    cr_log *log;
    ctl_runner *runner;
    store_cache *cache;
    ctl_lb_stats stats;
};

static const void *valid_doc(const store_obj *o)
{
    return o && !o->error ? o->doc : NULL;
}

static const store_obj *get(ctl_lb_manager *m, char *key /* freed */)
{
    const store_obj *o = store_cache_get(m->cache, key);
    free(key);
    return o;
}

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    const store_obj *o = cur ? cur : old;
    char *owned;
    switch (o->kind) {
    case API_KEY_REQUEST:
    case API_KEY_REQUEST_STATUS:
    case API_KEY_DEPLOY:
    case API_KEY_TASK:
    case API_KEY_CLEANUP:
    case API_KEY_LB_CLEANUP:
    case API_KEY_LB_STATUS:
    case API_KEY_INTENT_REQUEST: {
        const char *rid = ctl_obj_request_id(o, &owned);
        if (rid)
            ctl_runner_enqueue(r, rid);
        free(owned);
        break;
    }
    default:
        break;
    }
}

static void resync(void *arg, ctl_runner *r)
{
    ctl_lb_manager *m = arg;
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_REQUEST);
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_LB_STATUS);
}

static void on_start(void *arg, ctl_runner *r)
{
    ((ctl_lb_manager *)arg)->cache = ctl_runner_cache(r);
}

static void on_stop(void *arg, ctl_runner *r)
{
    ((ctl_lb_manager *)arg)->cache = NULL;
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *rid, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_lb_manager *m = arg;
    const store_obj *req_obj = get(m, api_key_request(m->prefix, rid));
    const api_request *req = valid_doc(req_obj);
    const store_obj *lb_obj = get(m, api_key_lb_status(m->prefix, rid));
    bool lb = req && req->has_loadBalanced && req->loadBalanced &&
              api_request_type_long_running(req->type);
    if (!lb && !lb_obj)
        return CTL_PASS_FORGET; /* never load-balanced */

    api_lb_status cur = {0};
    bool has_cur = false;
    if (lb_obj && lb_obj->value) {
        cr_err e;
        has_cur = api_lb_status_from_json(lb_obj->value, &cur, &e) == 0;
        if (!has_cur)
            cr_warn(m->log, "lb: request '%s': %s (rewritten)", rid, cr_err_msg(&e));
    }
    const api_request_status *st = valid_doc(get(m, api_key_request_status(m->prefix, rid)));
    bool paused = valid_doc(get(m, api_key_intent_request(m->prefix, rid, API_INTENT_PAUSE))) ||
                  (st && (st->state == API_RSTATE_PAUSED || st->state == API_RSTATE_DELETING));
    const char *active = st ? st->activeDeployId : NULL;
    const api_deploy *dep =
        active && api_key_id_valid(active)
            ? valid_doc(get(m, api_key_deploy(m->prefix, rid, active)))
            : NULL;

    ctl_lb_in in = {.request_id = rid,
                    .load_balanced = lb,
                    .paused = paused,
                    .active_deploy = dep ? active : NULL,
                    .status = has_cur ? &cur : NULL,
                    .provider = m->provider.name,
                    .retry_ms = m->retry_ms,
                    .now = now};
    int64_t port_index = 0;
    if (dep) {
        ctl_deploy view;
        ctl_deploy_intents di = {0};
        char *problems = NULL;
        ctl_deploy_view(dep, NULL, req, 0, &di, &view, NULL, &problems);
        in.http_check = view.http_check;
        in.healthy_after_ms = view.healthy_after_ms;
        free(problems);
        port_index = dep->has_loadBalancerPortIndex ? dep->loadBalancerPortIndex : 0;
    }

    size_t first, n = ctl_runner_range(r, m->prefix, API_KEY_TASK, rid, &first);
    ctl_lb_task *tasks = xcalloc(n + 1, sizeof(*tasks));
    for (size_t i = first; i < first + n; i++) {
        const api_task *t = valid_doc(store_cache_at(m->cache, i));
        if (!t)
            continue;
        ctl_task v;
        ctl_task_view(t, false, CTL_HEALTH_UNKNOWN, &v);
        ctl_lb_task *lt = &tasks[in.n_tasks++];
        lt->id = v.id;
        lt->deploy_id = v.deploy_id;
        lt->state = v.state;
        lt->running_at = v.running_at;
        lt->host = t->hostname;
        lt->port = (size_t)port_index < t->ports.n ? t->ports.v[port_index] : 0;
        lt->leaving = get(m, api_key_cleanup(m->prefix, v.id)) ||
                      get(m, api_key_lb_cleanup(m->prefix, rid, v.id));
        lt->health = ctl_manager_task_health(m->service, v.id);
    }
    in.tasks = tasks;

    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    api_lb_status alt = {0}; /* the status to write when not out.next */
    const api_lb_status *write = &out.next;
    ctl_lb_target t = {.request_id = rid,
                       .change_id = out.next.loadBalancerRequestId,
                       .base_path = dep ? dep->serviceBasePath : NULL,
                       .groups = dep ? (const char *const *)dep->loadBalancerGroups.v : NULL,
                       .n_groups = dep ? dep->loadBalancerGroups.n : 0,
                       .upstreams = out.want,
                       .n_upstreams = out.n_want,
                       .current = has_cur ? cur.upstreams : NULL,
                       .n_current = has_cur ? cur.n_upstreams : 0,
                       .owners = req ? (const char *const *)req->owners.v : NULL,
                       .n_owners = req ? req->owners.n : 0};
    cr_err perr;
    if (out.check) {
        /* A change sent to an asynchronous provider: how is it doing? */
        t.upstreams = cur.pending;
        t.n_upstreams = cur.n_pending;
        int rc = m->provider.check ? m->provider.check(m->provider.arg, &t, &perr) : 0;
        if (rc == 0) {
            m->stats.changes++;
            cr_info(m->log, "lb: request '%s': change %s confirmed, %zu upstream(s) live", rid,
                    cur.loadBalancerRequestId, cur.n_pending);
            ctl_lb_confirmed(&in, &alt);
            write = &alt;
        } else if (rc < 0) {
            m->stats.failures++;
            cr_warn(m->log, "lb: request '%s': change %s failed: %s", rid,
                    cur.loadBalancerRequestId, cr_err_msg(&perr));
            ctl_lb_failed(&in, &out, cr_err_msg(&perr), &alt);
            write = &alt;
            out.requeue_after_ms = m->retry_ms;
        } else if (!out.requeue_after_ms || out.requeue_after_ms > 500) {
            out.requeue_after_ms = 500; /* asked again soon */
        }
    } else if (out.apply) {
        int rc = m->provider.apply ? m->provider.apply(m->provider.arg, &t, &perr) : -1;
        if (rc == 1) {
            cr_info(m->log, "lb: request '%s': change %s sent (%zu upstream(s))", rid,
                    out.next.loadBalancerRequestId, out.n_want);
            ctl_lb_waiting(&in, &out, &alt);
            write = &alt;
            out.requeue_after_ms = 500;
        } else if (rc == 0) {
            m->stats.changes++;
            cr_info(m->log, "lb: request '%s': %zu upstream(s) live (change %s)", rid, out.n_want,
                    out.next.loadBalancerRequestId);
        } else {
            m->stats.failures++;
            const char *why = m->provider.apply ? cr_err_msg(&perr) : "no load balancer configured";
            cr_warn(m->log, "lb: request '%s': change %s refused: %s", rid,
                    out.next.loadBalancerRequestId, why);
            ctl_lb_failed(&in, &out, why, &alt);
            write = &alt;
            if (!out.requeue_after_ms || out.requeue_after_ms > m->retry_ms)
                out.requeue_after_ms = m->retry_ms;
        }
    }
    if (out.write || write == &alt) {
        json_t *j = api_lb_status_to_json(write);
        ctl_ops_add(ops, CTL_OP_PUT, api_key_lb_status(m->prefix, rid), json_dumps(j, JSON_COMPACT),
                    0, ctl_ops_next_group(ops));
        json_decref(j);
    } else if (out.remove) {
        ctl_ops_add(ops, CTL_OP_DELETE, api_key_lb_status(m->prefix, rid), NULL, 0,
                    ctl_ops_next_group(ops));
    }
    *requeue_ms = out.requeue_after_ms;
    m->stats.passes++;
    api_lb_status_release(&alt);
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);
    free(tasks);
    return CTL_PASS_WRITE;
}

static const ctl_loop lb_loop = {
    .name = "lb",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_start = on_start,
    .on_stop = on_stop,
};

ctl_lb_manager *ctl_lb_manager_new(struct event_base *base, store *s, store_leader *leader,
                                   const ctl_lb_config *cfg, cr_err *err)
{
    const char *prefix;
    if (ctl_loop_prefix("lb", cfg->prefix, &prefix, err) < 0) {
        if (cfg->provider.free)
            cfg->provider.free(cfg->provider.arg);
        return NULL;
    }
    ctl_lb_manager *m = xcalloc(1, sizeof(*m));
    m->prefix = xstrdup(prefix);
    m->provider = cfg->provider;
    m->service = cfg->service;
    m->retry_ms = cfg->retry_ms > 0 ? cfg->retry_ms : 10 * 1000;
    m->log = cfg->log;
    ctl_runner_config rc = {.prefix = m->prefix, .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg->cache, leader, &lb_loop, m, &rc);
    return m;
}

int ctl_lb_manager_start(ctl_lb_manager *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_lb_manager_stop(ctl_lb_manager *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_lb_manager_free(ctl_lb_manager *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    if (m->provider.free)
        m->provider.free(m->provider.arg);
    free(m->prefix);
    free(m);
}

void ctl_lb_manager_get_stats(const ctl_lb_manager *m, ctl_lb_stats *out)
{
    if (m)
        *out = m->stats;
    else
        memset(out, 0, sizeof(*out));
}
