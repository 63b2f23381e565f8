/* corrald: Corral's daemon. Every replica serves the API from its cache of
 * etcd; the elected leader also runs the controllers and the Mesos bridge.
 * This file only wires modules together (docs/corrald.md). */
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/as_auth.h"
#include "apiserver/as_cache.h"
#include "apiserver/as_config.h"
#include "apiserver/as_route.h"
#include "apiserver/as_server.h"
#include "apiserver/as_shell.h"
#include "apiserver/as_tls.h"
#include "base/buf.h"
#include "base/cr_hist.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/looplag.h"
#include "base/version.h"
#include "base/xalloc.h"
#include "controllers/controllers.h"
#include "controllers/jobs.h"
#include "controllers/lb.h"
#include "controllers/machines.h"
#include "controllers/source.h"
#include "controllers/webhooks.h"
#include "mesosbridge/mesosbridge.h"
#include "apis/keys.h"
#include "apis/schema.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/schema.h"
#include "store/store.h"

/* The one struct that owns everything of the process. */
typedef struct app {
    struct event_base *base;
    cr_log log;
    as_config cfg;
    int argc; /* kept for SIGHUP: the settings are read again */
    char **argv;
    cr_http *http;
    store *st;
    store_cache *cache; /* the one list+watch of the prefix; every part reads it */
    as_server *srv;
    json_t *shell_commands; /* --shell-commands */
    as_tls *tls; /* with --tls-cert; reloaded on SIGHUP */
    as_auth *auth; /* with --auth; its token file is re-read on SIGHUP */
    struct event *sigterm, *sigint, *sighup, *tick;
    store_leader *leader_el;
    mb *bridge;                /* leader only, with --mesos-master */
    ctl_manager *ctl;          /* SERVICE/WORKER; created at start; runs while leading */
    ctl_jobs_manager *jobs;    /* SCHEDULED/ON_DEMAND/RUN_ONCE; likewise */
    ctl_machines_manager *machines; /* agents and racks; likewise */
    ctl_lb_manager *lb;             /* load balancer (--lb-provider); likewise */
    ctl_webhooks_manager *webhooks; /* webhook events and delivery; likewise */
    ctl_sources *sources;           /* GitOps Sources (docs/gitops.md); likewise */
    char **masters;                 /* --mesos-master split, for the machines loop */
    struct event *bridge_reap; /* frees a bridge that stopped for good */
    cr_looplag *lag;           /* event-loop lag, for /metrics */
    /* Leadership. The leader-only parts (controllers, Mesos bridge) are
     * started by app_lead and stopped by app_unlead; see docs/corrald.md. */
    bool leader;
    int64_t leader_rev;
    char *leader_key;
    /* Elected, checking (or migrating) the etcd layout before leading. */
    store_schema_run *schema;
    int64_t schema_fence;
    char *schema_refused; /* why the last check refused to lead; NULL: it did not */
} app;

static void on_bridge_stopped(void *arg, const cr_err *why)
{
    app *a = arg;
    cr_errorlog(&a->log, "mesos bridge stopped for good: %s", why ? cr_err_msg(why) : "");
    /* mb_free is not allowed inside the bridge's callback: defer. */
    event_active(a->bridge_reap, EV_TIMEOUT, 0);
}

/* ctl_manager_config.confirmed: this leader's bridge has reconciled. */
static bool tasks_confirmed(void *arg)
{
    app *a = arg;
    if (!a->cfg.mesos_master)
        return true; /* no bridge here: nothing better to wait for */
    if (!a->bridge)
        return false;
    mb_stats st;
    mb_get_stats(a->bridge, &st);
    return st.reconciled;
}

static void on_bridge_reap(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    mb_free(a->bridge);
    a->bridge = NULL;
    as_server_set_mesos_connected(a->srv, false);
}

static void start_bridge(app *a)
{
    mb_config mc = {0};
    const char *user = getenv("USER");
    char host[256] = "localhost";
    cr_err err;

    gethostname(host, sizeof(host) - 1);
    mc.masters = a->cfg.mesos_master;
    mc.prefix = a->cfg.prefix;
    mc.cache = a->cache;
    mc.framework.user = user && *user ? user : "root";
    mc.framework.name = a->cfg.framework_name;
    mc.framework.hostname = host;
    mc.leader_key = a->leader_key;
    mc.leader_rev = a->leader_rev;
    mc.executor_path = a->cfg.executor_path;
    mc.offer_cache_size = a->cfg.offer_cache_size ? a->cfg.offer_cache_size : -1;
    mc.offer_cache_ms = a->cfg.offer_cache_ms;
    mc.log = &a->log;
    mc.on_stopped = on_bridge_stopped;
    mc.arg = a;
    a->bridge = mb_new(a->base, a->http, a->st, &mc, &err);
    if (!a->bridge || mb_start(a->bridge, &err) < 0) {
        cr_errorlog(&a->log, "mesos bridge: %s", cr_err_msg(&err));
        mb_free(a->bridge);
        a->bridge = NULL;
    }
}

/* Gained leadership: the create_revision of our leader key fences every
 * write the leader-only parts make. */
static void app_lead(app *a, int64_t leader_rev)
{
    a->leader = true;
    a->leader_rev = leader_rev;
    as_server_set_leader(a->srv, true);
    cr_info(&a->log, "leading (leader key %s, revision %lld)", a->leader_key,
            (long long)leader_rev);
    if (a->ctl) {
        cr_err err;
        if (ctl_manager_start(a->ctl, &err) < 0)
            cr_errorlog(&a->log, "controllers: %s", cr_err_msg(&err));
    }
    if (a->jobs) {
        cr_err err;
        if (ctl_jobs_manager_start(a->jobs, &err) < 0)
            cr_errorlog(&a->log, "jobs controller: %s", cr_err_msg(&err));
    }
    if (a->machines) {
        cr_err err;
        if (ctl_machines_manager_start(a->machines, &err) < 0)
            cr_errorlog(&a->log, "machines controller: %s", cr_err_msg(&err));
    }
    if (a->lb) {
        cr_err err;
        if (ctl_lb_manager_start(a->lb, &err) < 0)
            cr_errorlog(&a->log, "lb controller: %s", cr_err_msg(&err));
    }
    if (a->webhooks) {
        cr_err err;
        if (ctl_webhooks_manager_start(a->webhooks, &err) < 0)
            cr_errorlog(&a->log, "webhooks: %s", cr_err_msg(&err));
    }
    if (a->sources) {
        cr_err err;
        if (ctl_sources_start(a->sources, &err) < 0)
            cr_errorlog(&a->log, "sources: %s", cr_err_msg(&err));
    }
    if (a->cfg.mesos_master)
        start_bridge(a);
}

/* Lost leadership (or shutting down): stop the leader-only parts first so
 * nothing writes after this point (their writes are fenced anyway). */
static void app_unlead(app *a)
{
    if (!a->leader)
        return;
    a->leader = false;
    if (a->srv) {
        as_server_set_leader(a->srv, false);
        as_server_set_mesos_connected(a->srv, false);
    }
    cr_info(&a->log, "no longer leading");
    mb_free(a->bridge);
    a->bridge = NULL;
    if (a->ctl)
        ctl_manager_stop(a->ctl);
    if (a->jobs)
        ctl_jobs_manager_stop(a->jobs);
    if (a->machines)
        ctl_machines_manager_stop(a->machines);
    if (a->lb)
        ctl_lb_manager_stop(a->lb);
    if (a->webhooks)
        ctl_webhooks_manager_stop(a->webhooks);
    ctl_sources_stop(a->sources);
}

/* The layout check answered (store/schema.h): lead, or give the lease up
 * so another replica (one that knows a newer layout) can lead; a replica
 * that cannot lead over this layout tries again after a while, a failed
 * check (etcd trouble) soon. */
static void on_schema_checked(void *arg, const cr_err *err)
{
    app *a = arg;

    a->schema = NULL;
    free(a->schema_refused);
    a->schema_refused = NULL;
    if (!err) {
        as_server_set_layout_refused(a->srv, NULL);
        app_lead(a, a->schema_fence);
        return;
    }
    if (err->code == CR_EUNSUPPORTED)
        a->schema_refused = xstrdup(cr_err_msg(err));
    as_server_set_layout_refused(a->srv, a->schema_refused);
    store_leader_resign(a->leader_el, "etcd layout check failed",
                        err->code == CR_EUNSUPPORTED ? 30000 : 2000);
}

static void on_elected(void *arg, int64_t fence_rev)
{
    app *a = arg;
    store_schema_config sc = {.prefix = a->cfg.prefix,
                              .leader_key = a->leader_key,
                              .fence = fence_rev,
                              .release = CORRAL_VERSION,
                              .log = &a->log};
    cr_err err;

    a->schema_fence = fence_rev;
    store_schema_cancel(a->schema);
    a->schema = store_schema_ensure(a->st, &sc, on_schema_checked, a, &err);
    if (!a->schema)
        cr_errorlog(&a->log, "etcd layout check: %s", cr_err_msg(&err));
}

static void on_lost(void *arg, const char *why)
{
    app *a = arg;
    cr_warn(&a->log, "leadership lost: %s", why ? why : "");
    store_schema_cancel(a->schema);
    a->schema = NULL;
    app_unlead(a);
}

static void on_leader_seen(void *arg, const char *id, const char *address)
{
    app *a = arg;
    cr_info(&a->log, "leader is %s (%s)", id ? id : "(none)", address ? address : "-");
}

/* Once a second: publish the bridge's connection state. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    mb_stats st;

    if (!a->bridge)
        return;
    mb_get_stats(a->bridge, &st);
    as_server_set_mesos_connected(a->srv, st.subscribed);
}

/* One counter or gauge with its HELP and TYPE lines. */
static void metric_u64(cr_buf *out, const char *name, const char *type, const char *help,
                       unsigned long long v)
{
    cr_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* One gauge family with a series per running controller. */
/* One controller's work queue, as the reconcile families show it. */
typedef struct queue_view {
    const char *name;
    size_t depth, processing, delayed;
    cr_hist latency;
} queue_view;

static void queue_gauge(cr_buf *out, const char *name, const char *help, const queue_view *v,
                        size_t n, size_t off)
{
    cr_buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < n; i++)
        cr_buf_addf(out, "%s{controller=\"%s\"} %zu\n", name, v[i].name,
                    *(const size_t *)((const char *)&v[i] + off));
}

/* Work queues and reconcile latency of the controllers and of the bridge's
 * offer loop, one family each. */
static void reconcile_metrics(app *a, cr_buf *out)
{
    queue_view v[3];
    size_t n = 0;
    const char *lat = "corral_reconcile_duration_seconds";

    if (a->ctl) {
        ctl_manager_stats cs;
        ctl_manager_get_stats(a->ctl, &cs);
        v[n++] = (queue_view){"service", cs.queue_depth, cs.queue_processing, cs.queue_delayed,
                              cs.reconcile_latency};
    }
    if (a->jobs) {
        ctl_jobs_manager_stats js;
        ctl_jobs_manager_get_stats(a->jobs, &js);
        v[n++] = (queue_view){"jobs", js.queue_depth, js.queue_processing, js.queue_delayed,
                              js.reconcile_latency};
    }
    if (a->bridge) {
        mb_stats bs;
        mb_get_stats(a->bridge, &bs);
        v[n++] = (queue_view){"offers", bs.offers_loop.queue_depth, bs.offers_loop.queue_processing,
                              bs.offers_loop.queue_delayed, bs.offers_loop.reconcile_latency};
    }
    if (!n)
        return;
    queue_gauge(out, "corral_reconcile_queue_depth",
                "Keys waiting in a controller's work queue (not being reconciled).", v, n,
                offsetof(queue_view, depth));
    queue_gauge(out, "corral_reconcile_in_progress", "Keys being reconciled.", v, n,
                offsetof(queue_view, processing));
    queue_gauge(out, "corral_reconcile_queue_delayed",
                "Keys waiting out a backoff or a requeue-after before they re-enter the queue.", v,
                n, offsetof(queue_view, delayed));
    cr_hist_write_header(out, lat,
                         "Time from taking a key off the work queue to finishing its pass "
                         "(plan and etcd write).");
    for (size_t i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof(label), "controller=\"%s\"", v[i].name);
        cr_hist_write(out, lat, label, &v[i].latency);
    }
}

/* How late the loop runs timers: blocking callbacks show up here. */
static void looplag_metrics(app *a, cr_buf *out)
{
    cr_hist h;
    double max_s;
    uint64_t stalls;

    cr_looplag_get(a->lag, &h, &max_s, &stalls);
    cr_hist_write_header(out, "corral_event_loop_lag_seconds",
                         "How late the event loop ran a timer due every 50 ms.");
    cr_hist_write(out, "corral_event_loop_lag_seconds", NULL, &h);
    cr_buf_addf(out,
                "# HELP corral_event_loop_lag_max_seconds Largest event loop lag seen.\n"
                "# TYPE corral_event_loop_lag_max_seconds gauge\n"
                "corral_event_loop_lag_max_seconds %.6f\n",
                max_s);
    cr_buf_addf(out,
                "# HELP corral_event_loop_lag_busy_max_seconds The most of one lag the loop's "
                "thread can have spent computing (its CPU time meanwhile, capped by the lag); "
                "the rest it waited for a CPU or in a call.\n"
                "# TYPE corral_event_loop_lag_busy_max_seconds gauge\n"
                "corral_event_loop_lag_busy_max_seconds %.6f\n",
                cr_looplag_busy_max(a->lag));
    metric_u64(out, "corral_event_loop_stalls_total", "counter",
               "Timer runs more than 50 ms late (the loop was blocked).", stalls);
}

/* The webhooks loop (controllers/webhooks.h; docs/webhooks.md). */
static void webhooks_metrics(app *a, cr_buf *out)
{
    ctl_webhooks_stats ws;
    ctl_webhooks_manager_get_stats(a->webhooks, &ws);
    metric_u64(out, "corral_webhook_events_generated_total", "counter",
               "Webhook events generated from changes (and leadership-start scans).",
               ws.generated);
    metric_u64(out, "corral_webhook_events_queued_total", "counter",
               "Webhook events written to a queue in etcd.", ws.queued);
    metric_u64(out, "corral_webhook_events_dropped_total", "counter",
               "Webhook events dropped because a queue was full.", ws.dropped);
    metric_u64(out, "corral_webhook_deliveries_total", "counter",
               "Webhook POSTs answered 2xx.", ws.delivered);
    metric_u64(out, "corral_webhook_delivery_failures_total", "counter",
               "Webhook POSTs that failed (retried after a backoff).", ws.failures);
    metric_u64(out, "corral_webhook_rescans_total", "counter",
               "Cache scans for events (leadership starts, memory cap).", ws.rescans);
    metric_u64(out, "corral_webhook_events_in_memory", "gauge",
               "Events generated and not yet queued by every webhook of their type.", ws.memory);
    metric_u64(out, "corral_webhook_deliveries_in_flight", "gauge", "Webhook POSTs in flight.",
               ws.inflight);
}

static void metrics_hook(void *arg, cr_buf *out)
{
    app *a = arg;
    store_stats ss;
    mb_stats st;
    char label[64];

    looplag_metrics(a, out);
    metric_u64(out, "corral_etcd_layout_refused", "gauge",
               "1 while this replica refuses to lead over an etcd layout it does not know "
               "(its log says why).",
               a->schema_refused ? 1 : 0);
    store_get_stats(a->st, &ss);
    cr_hist_write_header(out, "corral_etcd_request_duration_seconds",
                         "Time of one HTTP request to etcd, by kind (watch streams excluded).");
    for (int i = 0; i < STORE_CALL_N; i++) {
        snprintf(label, sizeof(label), "op=\"%s\"", store_call_name((store_call_kind)i));
        cr_hist_write(out, "corral_etcd_request_duration_seconds", label, &ss.latency[i]);
    }
    if (a->ctl) {
        ctl_manager_stats cs;
        ctl_manager_get_stats(a->ctl, &cs);
        metric_u64(out, "corral_controllers_running", "gauge",
                   "Whether the controllers run here.", cs.running ? 1 : 0);
        metric_u64(out, "corral_reconcile_passes_total", "counter",
                   "Service controller plans run.", cs.passes);
        metric_u64(out, "corral_reconcile_writes_total", "counter",
                   "Service controller etcd writes sent.", cs.writes);
        metric_u64(out, "corral_reconcile_conflicts_total", "counter",
                   "Service controller writes whose compares failed.", cs.conflicts);
        metric_u64(out, "corral_reconcile_errors_total", "counter",
                   "Service controller passes that failed (backed off).", cs.errors);
        metric_u64(out, "corral_kills_withdrawn_total", "counter",
                   "Make-room kills withdrawn: their task was out of reach, or their reason "
                   "was gone before they took effect (docs/controllers.md).",
                   cs.withdrawn);
        metric_u64(out, "corral_health_checks", "gauge", "Health checks running.", cs.checks);
    }
    if (a->jobs) {
        ctl_jobs_manager_stats js;
        ctl_jobs_manager_get_stats(a->jobs, &js);
        metric_u64(out, "corral_jobs_reconcile_passes_total", "counter",
                   "Jobs controller plans run.", js.passes);
        metric_u64(out, "corral_jobs_reconcile_writes_total", "counter",
                   "Jobs controller etcd writes sent.", js.writes);
        metric_u64(out, "corral_jobs_reconcile_errors_total", "counter",
                   "Jobs controller passes that failed (backed off).", js.errors);
    }
    if (a->machines) {
        ctl_machines_manager_stats ms;
        ctl_machines_manager_get_stats(a->machines, &ms);
        metric_u64(out, "corral_machines_reconcile_passes_total", "counter",
                   "Machines controller plans run.", ms.passes);
        metric_u64(out, "corral_machines_reconcile_writes_total", "counter",
                   "Machines controller etcd writes sent.", ms.writes);
        metric_u64(out, "corral_machines_reconcile_conflicts_total", "counter",
                   "Machines controller writes whose compares failed (re-planned).",
                   ms.conflicts);
        metric_u64(out, "corral_machines_reconcile_errors_total", "counter",
                   "Machines controller passes that failed (backed off).", ms.errors);
    }
    if (a->webhooks)
        webhooks_metrics(a, out);
    reconcile_metrics(a, out);
    if (!a->bridge)
        return;
    mb_get_stats(a->bridge, &st);
    metric_u64(out, "corral_mesos_subscribed", "gauge",
               "Whether the bridge holds a subscription.", st.subscribed ? 1 : 0);
    metric_u64(out, "corral_mesos_offers_received_total", "counter", "Offers received.",
               st.offers_received);
    metric_u64(out, "corral_mesos_events_offloaded_total", "counter",
               "Scheduler events big enough to be decoded on a thread of their own.",
               st.events_offloaded);
    metric_u64(out, "corral_mesos_offers_declined_total", "counter", "Offers declined.",
               st.offers_declined);
    metric_u64(out, "corral_mesos_offers_held", "gauge",
               "Offers held: waiting for tasks or in the offer cache.", st.offers_held);
    metric_u64(out, "corral_mesos_suppressed", "gauge",
               "Whether offers are suppressed (nothing waits, offer cache off).",
               st.suppressed ? 1 : 0);
    metric_u64(out, "corral_mesos_tasks_launched_total", "counter", "Tasks launched.",
               st.launched);
    metric_u64(out, "corral_mesos_status_updates_total", "counter", "Task status updates.",
               st.updates);
    metric_u64(out, "corral_mesos_kills_total", "counter", "KILL calls sent.", st.kills);
    metric_u64(out, "corral_mesos_calls_in_flight", "gauge",
               "Scheduler calls posted and not yet answered.", st.calls_in_flight);
    metric_u64(out, "corral_mesos_calls_in_flight_max", "gauge",
               "The most scheduler calls in flight at once (bounded; the rest wait).",
               st.calls_in_flight_max);
    metric_u64(out, "corral_mesos_calls_waited_total", "counter",
               "Scheduler calls that waited for one in flight to end.", st.calls_waited);
    metric_u64(out, "corral_mesos_reconciles_total", "counter", "RECONCILE calls sent.",
               st.reconciles);
    cr_hist_write_header(out, "corral_mesos_call_duration_seconds",
                         "Time of one scheduler call to the Mesos master, by call type.");
    for (int i = 0; i < MB_CALL_N; i++) {
        snprintf(label, sizeof(label), "call=\"%s\"", st.calls[i].type);
        cr_hist_write(out, "corral_mesos_call_duration_seconds", label, &st.calls[i].latency);
    }
}

static void on_cache_revision(void *arg, int64_t revision)
{
    app *a = arg;
    if (a->srv)
        as_server_cache_advanced(a->srv, revision);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    app *a = arg;
    cr_info(&a->log, "signal %d: shutting down", (int)sig);
    event_base_loopbreak(a->base);
}

/* "a,b" -> {"a", "b", NULL} (caller frees each and the array); NULL for
 * NULL. */
static char **split_list(const char *csv)
{
    char **out;
    size_t n = 0;

    if (!csv)
        return NULL;
    out = xcalloc(strlen(csv) + 2, sizeof(*out));
    for (const char *p = csv; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len)
            out[n++] = xstrndup(p, len);
        p = e ? e + 1 : NULL;
    }
    return out;
}

static void split_groups(api_strlist *out, const char *csv)
{
    const char *p = csv;

    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n) {
            char *g = xstrndup(p, n);
            api_strlist_add(out, g);
            free(g);
        }
        p = e ? e + 1 : NULL;
    }
}

/* --auth and its settings -> as_auth (NULL with err set). */
static as_auth *new_auth(app *a, cr_err *err)
{
    const as_config *c = &a->cfg;
    as_auth_options o = {.token_file = c->auth_token_file,
                         .user_header = c->auth_user_header,
                         .groups_header = c->auth_groups_header};
    as_auth *auth;

    o.policy.enabled = true;
    o.policy.metrics_open = c->open_metrics;
    split_groups(&o.policy.admin_groups, c->admin_groups ? c->admin_groups : "admins");
    split_groups(&o.policy.required_groups, c->required_groups);
    split_groups(&o.policy.default_read_only, c->default_read_only_groups);
    split_groups(&o.policy.global_read_only, c->global_read_only_groups);
    split_groups(&o.policy.jita_groups, c->jita_groups);
    auth = as_auth_new(&o, err);
    as_auth_policy_release(&o.policy);
    return auth;
}

static int start_auth(app *a, cr_err *err)
{
    if (!a->cfg.auth) {
        cr_warn(&a->log, "authentication is off (no --auth): anyone who can connect to %s may "
                         "do anything",
                a->cfg.listen);
        return 0;
    }
    if (!(a->auth = new_auth(a, err)))
        return -1;
    cr_info(&a->log, "auth: on (%zu tokens from the token file, admin groups %s%s)",
            as_auth_static_tokens(a->auth), a->cfg.admin_groups ? a->cfg.admin_groups : "admins",
            a->cfg.open_metrics ? ", /metrics open" : "");
    return 0;
}

/* corrald --routes: the route table with each route's access class, as
 * JSON lines (the e2e auth matrix walks it). */
static void print_routes(void)
{
    for (size_t i = 0; i < as_route_count(); i++) {
        as_route_info r;
        char methods[64];
        as_route_at(i, &r);
        as_methods_format(r.methods, methods, sizeof(methods));
        printf("{\"method\":\"%s\",\"path\":\"%s\",\"op\":\"%s\",\"access\":\"%s\"%s%s%s}\n",
               methods, r.pattern, as_op_name(r.op), as_access_name(r.access),
               r.action ? ",\"action\":\"" : "", r.action ? r.action : "", r.action ? "\"" : "");
    }
}

static int load_config(as_config *cfg, int argc, char **argv, cr_err *err);

/* The load balancer loop of cfg's --lb-* settings (docs/loadbalancing.md):
 * NULL with err->code 0 for --lb-provider none; NULL with err set if the
 * provider cannot be made. */
static ctl_lb_manager *new_lb(app *a, const as_config *cfg, cr_err *err)
{
    const char *lbp = cfg->lb_provider;
    ctl_lb_provider prov;

    err->code = 0;
    if (!lbp || (strcmp(lbp, "nginx") != 0 && strcmp(lbp, "baragon") != 0))
        return NULL;
    ctl_lb_config lbc = {.prefix = cfg->prefix, .cache = a->cache, .service = a->ctl,
                         .log = &a->log};
    int prc = !strcmp(lbp, "nginx") ? ctl_lb_nginx_provider(cfg->lb_nginx_dir, cfg->lb_nginx_conf,
                                                             cfg->lb_nginx_bin, &prov, err)
                                     : ctl_lb_baragon_provider(a->http, cfg->lb_baragon_url,
                                                               &prov, err);
    if (prc < 0)
        return NULL;
    lbc.provider = prov;
    return ctl_lb_manager_new(a->base, a->st, a->leader_el, &lbc, err);
}

static bool same_str(const char *x, const char *y)
{
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

/* SIGHUP, load balancer: a changed --lb-drain-ms goes to the service plan;
 * changed provider settings replace the LB loop (stopped, made anew from
 * the new settings, started again if this replica leads). */
static void reload_lb(app *a, const as_config *next)
{
    cr_err err;

    if (!a->ctl)
        return;
    if (next->lb_drain_ms != a->cfg.lb_drain_ms) {
        ctl_manager_set_lb_drain(a->ctl, next->lb_drain_ms);
        cr_info(&a->log, "SIGHUP: lb-drain-ms %ld -> %ld", a->cfg.lb_drain_ms, next->lb_drain_ms);
        a->cfg.lb_drain_ms = next->lb_drain_ms;
    }
    /* the provider's settings: in use, and as the file now says */
    char **kept[] = {&a->cfg.lb_provider, &a->cfg.lb_nginx_dir, &a->cfg.lb_nginx_conf,
                     &a->cfg.lb_nginx_bin, &a->cfg.lb_baragon_url};
    const char *now[] = {next->lb_provider, next->lb_nginx_dir, next->lb_nginx_conf,
                         next->lb_nginx_bin, next->lb_baragon_url};
    size_t n = sizeof(kept) / sizeof(kept[0]), same = 0;
    for (size_t i = 0; i < n; i++)
        same += same_str(*kept[i], now[i]);
    if (same == n)
        return;
    ctl_lb_manager *lb = new_lb(a, next, &err);
    if (!lb && err.code) {
        cr_errorlog(&a->log, "SIGHUP: load balancer settings not applied, keeping the loop in "
                             "use: %s", cr_err_msg(&err));
        return;
    }
    ctl_lb_manager_free(a->lb); /* stops it first */
    a->lb = lb;
    for (size_t i = 0; i < n; i++) {
        free(*kept[i]);
        *kept[i] = now[i] ? xstrdup(now[i]) : NULL;
    }
    if (a->lb && a->leader && ctl_lb_manager_start(a->lb, &err) < 0)
        cr_errorlog(&a->log, "SIGHUP: load balancer loop: %s", cr_err_msg(&err));
    cr_info(&a->log, "SIGHUP: load balancer reloaded: provider %s",
            a->cfg.lb_provider ? a->cfg.lb_provider : "none");
}

/* SIGHUP, settings: reads the settings again (--config file, then flags)
 * and applies what can change while running: log-level and log-format. A
 * file that no longer reads or validates changes nothing. */
static void reload_settings(app *a)
{
    as_config next;
    cr_err err;

    if (load_config(&next, a->argc, a->argv, &err) < 0 || as_config_validate(&next, &err) < 0) {
        cr_errorlog(&a->log, "SIGHUP: settings not reloaded, keeping those in use: %s",
                    cr_err_msg(&err));
        as_config_release(&next);
        return;
    }
    cr_log_level lvl = a->log.level;
    cr_log_format fmt = a->log.format;
    cr_log_level_parse(next.log_level, &lvl);
    cr_log_format_parse(next.log_format, &fmt);
    if (lvl == a->log.level && fmt == a->log.format) {
        cr_info(&a->log, "SIGHUP: settings reread: log-level %s, log-format %s (unchanged)",
                cr_log_level_name(lvl), cr_log_format_name(fmt));
    } else {
        cr_info(&a->log, "SIGHUP: settings reloaded: log-level %s -> %s, log-format %s -> %s",
                cr_log_level_name(a->log.level), cr_log_level_name(lvl),
                cr_log_format_name(a->log.format), cr_log_format_name(fmt));
        a->log.level = lvl;
        a->log.format = fmt;
        /* the copies in the settings, for --print-config-like readers */
        free(a->cfg.log_level);
        a->cfg.log_level = xstrdup(next.log_level);
        free(a->cfg.log_format);
        a->cfg.log_format = xstrdup(next.log_format);
    }
    reload_lb(a, &next);
    as_config_release(&next);
}

/* SIGHUP: the settings that can change while running (reload_settings),
 * the auth token file and the TLS certificate, key and client CA (rotation
 * without a restart); a bad file keeps what is in use. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    app *a = arg;
    cr_err err;

    reload_settings(a);

    if (a->auth) {
        as_auth *next = new_auth(a, &err);
        if (!next) {
            cr_errorlog(&a->log, "SIGHUP: auth reload failed, keeping the tokens in use: %s",
                        cr_err_msg(&err));
        } else {
            as_server_set_auth(a->srv, next);
            as_auth_free(a->auth);
            a->auth = next;
            cr_info(&a->log, "SIGHUP: auth reloaded (%zu tokens from the token file)",
                    as_auth_static_tokens(next));
        }
    }
    if (!a->tls) {
        cr_info(&a->log, "SIGHUP: no TLS settings to reload");
        return;
    }
    if (as_tls_reload(a->tls, &err) < 0)
        cr_errorlog(&a->log, "SIGHUP: TLS reload failed, still serving the previous "
                             "certificate: %s", cr_err_msg(&err));
    else
        cr_info(&a->log, "SIGHUP: TLS reloaded: %s", as_tls_describe(a->tls));
}

/* --tls-* settings (checked by as_config_validate) -> as_tls. */
static int start_tls(app *a, cr_err *err)
{
    as_tls_config tc = {.cert_file = a->cfg.tls_cert,
                        .key_file = a->cfg.tls_key,
                        .client_ca_file = a->cfg.tls_client_ca};

    if (!a->cfg.tls_cert)
        return 0;
    if (as_tls_client_mode_parse(a->cfg.tls_client_cert, &tc.client_mode, err) < 0 ||
        as_tls_version_parse(a->cfg.tls_min_version, &tc.min_version, err) < 0 ||
        !(a->tls = as_tls_new(&tc, err)))
        return -1;
    cr_info(&a->log, "TLS: %s%s", as_tls_describe(a->tls),
            !a->cfg.tls_client_ca                        ? ""
            : tc.client_mode == AS_TLS_CLIENT_REQUIRE ? "; client certificates required"
                                                      : "; client certificates verified if sent");
    return 0;
}

static char *read_file(const char *path, cr_err *err)
{
    FILE *f = fopen(path, "rb");
    cr_buf b = CR_BUF_INIT;
    char chunk[4096];
    size_t n;

    if (!f) {
        cr_error(err, CR_EINVAL, "config file %s: cannot open", path);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    fclose(f);
    return cr_buf_detach(&b, NULL);
}

/* Settings: defaults, then the config file, then the flags. */
static int load_config(as_config *cfg, int argc, char **argv, cr_err *err)
{
    const char *file = NULL;
    char *text;
    int rc;

    as_config_init(cfg);
    if (as_config_parse_args(cfg, argc, argv, &file, err) < 0)
        return -1;
    if (cfg->help || !file)
        return 0;
    if (!(text = read_file(file, err)))
        return -1;
    rc = as_config_parse_file(cfg, text, file, err);
    free(text);
    if (rc < 0)
        return -1;
    return as_config_parse_args(cfg, argc, argv, NULL, err);
}

/* jemalloc's settings, read when it starts (MALLOC_CONF in the environment
 * overrides them; a build with libc's malloc, MALLOC_LIBS=, ignores them):
 * one arena for the loop and the offload thread (base/offload.h), which
 * frees into the loop's memory, and freed pages given back within a
 * second by jemalloc's own thread, so that a burst (a cold start's first
 * list) does not stay in RSS. At 100,000 tasks jemalloc took 96-106 s of
 * CPU where glibc's malloc took 176 s, with a lower peak
 * (bench/README.md, 2026-12-07). */
const char *malloc_conf = "narenas:1,background_thread:true,dirty_decay_ms:1000";

/* jemalloc's control call, when jemalloc is linked in (weak: NULL without). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* jemalloc's version when it is the allocator in use, else NULL. */
static const char *jemalloc_version(void)
{
    const char *v = NULL;
    size_t len = sizeof(v);

    if (mallctl && mallctl("version", &v, &len, NULL, 0) == 0 && v)
        return v;
    return NULL;
}

static int app_start(app *a, cr_err *err)
{
    cr_log_level lvl = CR_LOG_INFO;
    store_config sc = {0};
    as_server_config svc = {0};

    cr_log_level_parse(a->cfg.log_level, &lvl);
    a->log.level = lvl;
    cr_log_format_parse(a->cfg.log_format, &a->log.format); /* checked by the config */
    a->log.name = "corrald";
    const char *jemalloc = jemalloc_version();
    cr_info(&a->log, "corrald %s, malloc: %s%s", CORRAL_VERSION, jemalloc ? "jemalloc " : "libc's",
            jemalloc ? jemalloc : "");
    if (!a->cfg.replica_id) {
        char host[200] = "localhost";
        gethostname(host, sizeof(host) - 1);
        const char *port = strrchr(a->cfg.listen, ':');
        a->cfg.replica_id = xasprintf("%s%s", host, port ? port : "");
    }
    a->leader_key = api_key_leader(a->cfg.prefix);
    a->base = event_base_new();
    if (!a->base)
        return cr_error(err, CR_EINTERNAL, "event_base_new failed");
    if (!(a->http = cr_http_new(a->base, err)))
        return -1;
    sc.endpoints = a->cfg.etcd_endpoints;
    sc.ca_file = a->cfg.etcd_ca_file;
    sc.cert_file = a->cfg.etcd_cert_file;
    sc.key_file = a->cfg.etcd_key_file;
    sc.insecure = a->cfg.etcd_insecure;
    sc.json_only = a->cfg.etcd_json;
    sc.username = a->cfg.etcd_username;
    sc.password = a->cfg.etcd_password;
    sc.timeout_ms = a->cfg.etcd_timeout_ms;
    sc.log = &a->log;
    if (!(a->st = store_new(a->base, a->http, &sc, err)))
        return -1;
    store_cache_config cac = {.prefix = a->cfg.prefix, .log = &a->log};
    a->cache = store_cache_new(a->base, a->st, &cac);
    svc.listen = a->cfg.listen;
    svc.prefix = a->cfg.prefix;
    svc.replica_id = a->cfg.replica_id;
    svc.max_body = a->cfg.max_body_bytes;
    svc.max_list_streams = a->cfg.max_list_streams;
    svc.allow_deploy_of_paused = a->cfg.allow_deploy_of_paused;
    svc.context_path = a->cfg.context_path;
    svc.max_decommissioning_agents = (int)a->cfg.max_decommissioning_agents;
    svc.log = &a->log;
    if (start_tls(a, err) < 0)
        return -1;
    svc.tls = a->tls;
    if (start_auth(a, err) < 0)
        return -1;
    svc.auth = a->auth;
    if (a->cfg.shell_commands &&
        !(a->shell_commands = as_shell_commands_load(a->cfg.shell_commands, err)))
        return -1;
    svc.shell_commands = a->shell_commands;
    if (!(a->srv = as_server_new(a->base, a->st, a->http, a->cache, &svc, err)))
        return -1;
    store_cache_handlers ch = {.on_revision = on_cache_revision};
    store_cache_subscribe(a->cache, &ch, a);
    if (store_cache_start(a->cache, err) < 0)
        return -1;
    a->sigterm = evsignal_new(a->base, SIGTERM, on_signal, a);
    a->sigint = evsignal_new(a->base, SIGINT, on_signal, a);
    evsignal_add(a->sigterm, NULL);
    evsignal_add(a->sigint, NULL);
    a->sighup = evsignal_new(a->base, SIGHUP, on_sighup, a);
    evsignal_add(a->sighup, NULL);
    signal(SIGPIPE, SIG_IGN);
    cr_info(&a->log, "serving the API on %s://%s (replica %s, etcd %s, prefix %s)",
            a->tls ? "https" : "http", a->cfg.listen, a->cfg.replica_id, a->cfg.etcd_endpoints,
            a->cfg.prefix);
    if (!a->cfg.mesos_master)
        cr_info(&a->log, "no --mesos-master: this replica serves the API only");
    if (a->cfg.api_only) {
        cr_info(&a->log, "--api-only: this replica never leads");
    } else {
        store_leader_config lc = {.key = a->leader_key,
                                  .id = a->cfg.replica_id,
                                  .address = a->cfg.listen,
                                  .ttl_s = a->cfg.lease_ttl_s};
        store_leader_handlers lh = {on_elected, on_lost, on_leader_seen};
        struct timeval one = {1, 0};
        /* The service plan's tunables: defaults but the hold of unreachable
         * tasks (--unreachable-timeout); ctl_manager_new copies them. */
        ctl_config plan_cfg;
        ctl_config_defaults(&plan_cfg);
        plan_cfg.unreachable_timeout_ms = (int64_t)a->cfg.unreachable_timeout_s * 1000;
        plan_cfg.lb_drain_ms = a->cfg.lb_drain_ms;
        ctl_manager_config cc = {.prefix = a->cfg.prefix,
                                 .cache = a->cache,
                                 .plan = &plan_cfg,
                                 .log = &a->log,
                                 .confirmed = tasks_confirmed,
                                 .confirmed_arg = a};
        a->bridge_reap = event_new(a->base, -1, 0, on_bridge_reap, a);
        a->tick = event_new(a->base, -1, EV_PERSIST, on_tick, a);
        evtimer_add(a->tick, &one);
        a->leader_el = store_leader_new(a->st, &lc, &lh, a);
        /* Created stopped; app_lead starts it, app_unlead stops it. */
        ctl_jobs_config jpc = {.unreachable_timeout_ms = a->cfg.unreachable_timeout_s
                                                             ? a->cfg.unreachable_timeout_s * 1000
                                                             : -1};
        ctl_jobs_manager_config jc = {
            .prefix = a->cfg.prefix, .cache = a->cache, .plan = &jpc, .log = &a->log};
        ctl_machines_config mpc;
        ctl_machines_config_defaults(&mpc);
        mpc.max_decommissioning = (int)a->cfg.max_decommissioning_agents;
        mpc.mesos_drain = !a->cfg.no_mesos_drain;
        a->masters = split_list(a->cfg.mesos_master);
        ctl_machines_manager_config mc = {.prefix = a->cfg.prefix,
                                          .cache = a->cache,
                                          .plan = &mpc,
                                          .mesos_masters = (const char *const *)a->masters,
                                          .log = &a->log};
        if (a->cfg.no_controllers)
            cr_info(&a->log, "--no-controllers: the leader runs the Mesos bridge only");
        else if (!(a->ctl = ctl_manager_new(a->base, a->st, a->http, a->leader_el, &cc, err)) ||
                 !(a->jobs = ctl_jobs_manager_new(a->base, a->st, a->leader_el, &jc, err)) ||
                 !(a->machines = ctl_machines_manager_new(a->base, a->st, a->http, a->leader_el,
                                                          &mc, err)))
            return -1;
        /* The load balancer of loadBalanced requests (docs/loadbalancing.md). */
        if (a->ctl && !(a->lb = new_lb(a, &a->cfg, err)) && err->code)
            return -1;
        ctl_webhooks_manager_config whc = {.prefix = a->cfg.prefix, .cache = a->cache,
                                           .log = &a->log};
        if (!a->cfg.no_controllers &&
            !(a->webhooks = ctl_webhooks_manager_new(a->base, a->st, a->http, a->leader_el,
                                                     &whc, err)))
            return -1;
        ctl_sources_config scc = {.prefix = a->cfg.prefix,
                                  .cache = a->cache,
                                  .data_dir = a->cfg.data_dir,
                                  .log = &a->log};
        if (!a->cfg.no_controllers &&
            !(a->sources = ctl_sources_new(a->base, a->st, a->leader_el, &scc, err)))
            return -1;
        if (store_leader_start(a->leader_el, err) < 0)
            return -1;
    }
    /* Last, so the setup above (before the loop runs) does not count as lag. */
    a->lag = cr_looplag_new(a->base, CR_LOOPLAG_DEFAULT_INTERVAL_MS);
    as_server_set_metrics_hook(a->srv, metrics_hook, a);
    return 0;
}

static void app_stop(app *a)
{
    store_schema_cancel(a->schema);
    a->schema = NULL;
    free(a->schema_refused);
    a->schema_refused = NULL;
    app_unlead(a);
    /* Stop serving and watching, then give the lease revoke that
     * store_leader_free sends a moment to reach etcd, so another replica
     * takes over at once instead of after the lease TTL. */
    store_cache_unsubscribe(a->cache, a);
    as_server_free(a->srv);
    json_decref(a->shell_commands);
    a->srv = NULL;
    as_tls_free(a->tls); /* after the server: its connections use it */
    a->tls = NULL;
    as_auth_free(a->auth);
    a->auth = NULL;
    cr_looplag_free(a->lag); /* after the server: its /metrics hook reads it */
    a->lag = NULL;
    if (a->tick)
        event_free(a->tick);
    if (a->bridge_reap)
        event_free(a->bridge_reap);
    if (a->sigterm)
        event_free(a->sigterm);
    if (a->sigint)
        event_free(a->sigint);
    if (a->sighup)
        event_free(a->sighup);
    ctl_manager_free(a->ctl);
    a->ctl = NULL;
    ctl_jobs_manager_free(a->jobs);
    a->jobs = NULL;
    ctl_machines_manager_free(a->machines);
    a->machines = NULL;
    ctl_lb_manager_free(a->lb);
    a->lb = NULL;
    ctl_webhooks_manager_free(a->webhooks);
    a->webhooks = NULL;
    ctl_sources_free(a->sources);
    a->sources = NULL;
    for (size_t i = 0; a->masters && a->masters[i]; i++)
        free(a->masters[i]);
    free(a->masters);
    a->masters = NULL;
    if (a->leader_el) {
        struct timeval flush = {0, 300 * 1000};
        store_leader_free(a->leader_el);
        event_base_loopexit(a->base, &flush);
        event_base_dispatch(a->base);
    }
    store_cache_free(a->cache);
    store_free(a->st);
    cr_http_free(a->http);
    if (a->base)
        event_base_free(a->base);
    free(a->leader_key);
    as_config_release(&a->cfg);
}

int main(int argc, char **argv)
{
    app a;
    cr_err err;
    int rc = 0;

    /* With libc's malloc, one arena: the only other thread decodes a big
     * Mesos answer now and then (base/offload.h), and an arena of its own
     * kept ~10 MiB of that in RSS (a 10,000-task scale run: 79 -> 65 MiB
     * peak). A no-op under jemalloc. */
    mallopt(M_ARENA_MAX, 1);
    memset(&a, 0, sizeof(a));
    a.log.level = CR_LOG_INFO;
    a.log.name = "corrald";
    a.argc = argc;
    a.argv = argv;
    if (load_config(&a.cfg, argc, argv, &err) < 0 || as_config_validate(&a.cfg, &err) < 0) {
        fprintf(stderr, "corrald: %s\n", cr_err_msg(&err));
        as_config_release(&a.cfg);
        return 2;
    }
    if (a.cfg.help) {
        fputs(as_config_usage(), stdout);
        as_config_release(&a.cfg);
        return 0;
    }
    if (a.cfg.routes) {
        print_routes();
        as_config_release(&a.cfg);
        return 0;
    }
    if (a.cfg.print_config) {
        char *text = as_config_format(&a.cfg);
        printf("# corrald %s, etcd layout version %d: effective settings\n%s", CORRAL_VERSION,
               API_SCHEMA_VERSION, text);
        free(text);
        as_config_release(&a.cfg);
        return 0;
    }
    if (app_start(&a, &err) < 0) {
        cr_errorlog(&a.log, "%s", cr_err_msg(&err));
        rc = 1;
    } else {
        event_base_dispatch(a.base);
    }
    app_stop(&a);
    return rc;
}
