/* Load balancing (docs/loadbalancing.md): a loop on the shared runner
 * (runner.h) that keeps each load-balanced request's upstreams in a load
 * balancer equal to its healthy tasks, and records what the load balancer
 * serves in <prefix>/status/lb/<requestId> (apis/lb.h).
 *
 *   cache change (request, status, deploy, task, kill intents, LB cleanups)
 *   -> request id -> ctl_lb_plan (pure: desired upstreams, new status)
 *   -> provider apply (nginx: files, `nginx -t`, reload; Baragon: HTTP)
 *   -> fenced write of status/lb/<r>.
 *
 * Who is in: the request exists, is loadBalanced, not paused; the task is of
 * the active deploy, TASK_RUNNING, healthy (its HTTP check passed, or with
 * no check it has run for considerHealthyAfterRunningForSeconds), has an
 * address (hostname and the port at loadBalancerPortIndex), and has neither
 * a kill intent nor an LB cleanup. A deploy therefore swaps in one change:
 * the service plan (plan.h) makes the new deploy active and gives the old
 * tasks LB cleanups in one pass, and the next LB change adds the new tasks
 * and removes the old ones together. Kills wait: the service plan writes a
 * kill intent only once the task is out of `upstreams` and the drain time
 * since its removal has passed (ctl_config.lb_drain_ms).
 *
 * A change the provider refuses (nginx -t fails) changes nothing: the
 * status keeps the previous upstreams with state FAILED and the message,
 * and the change is retried after a while; tasks waiting to leave keep
 * waiting (they still serve). */
#ifndef CTL_LB_H
#define CTL_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/common.h"
#include "apis/lb.h"
#include "apis/task.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "controllers/controllers.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

/* ---- the pure plan ---------------------------------------------------------- */

typedef struct ctl_lb_task {
    const char *id;
    const char *deploy_id;
    api_task_state state;
    int64_t running_at; /* first TASK_RUNNING; 0 = never */
    const char *host;   /* may be NULL */
    int64_t port;       /* the port at loadBalancerPortIndex; 0 = none */
    bool leaving;       /* a kill intent or an LB cleanup exists */
    ctl_health health;  /* the checker's verdict */
} ctl_lb_task;

typedef struct ctl_lb_in {
    const char *request_id;
    bool load_balanced;        /* the request exists, is valid and loadBalanced */
    bool paused;               /* paused (or deleting): nothing is served */
    const char *active_deploy; /* from the request status; NULL: none */
    bool http_check;           /* the active deploy has an HTTP check */
    int64_t healthy_after_ms;  /* ... else healthy after running this long */
    const ctl_lb_task *tasks;  /* every task record of the request */
    size_t n_tasks;
    const api_lb_status *status; /* last written; NULL: none */
    const char *provider;        /* "nginx", ... (recorded in the status) */
    int64_t retry_ms;            /* a FAILED change is retried after this long */
    int64_t now;
} ctl_lb_in;

typedef struct ctl_lb_out {
    /* The upstreams the load balancer should serve, by task id. */
    api_lb_upstream *want;
    size_t n_want;
    bool apply;   /* want differs from what it serves (or last change failed) */
    bool check;   /* a change is WAITING at an asynchronous provider: ask it */
    bool write;   /* the status document must be (re)written */
    bool remove;  /* the status document can go (request gone, nothing left) */
    api_lb_status next; /* the status once the change is applied */
    int64_t requeue_after_ms; /* > 0: plan again after this long */
} ctl_lb_out;

/* Plans one request. Fills *out (release with ctl_lb_out_release). */
void ctl_lb_plan(const ctl_lb_in *in, ctl_lb_out *out);
void ctl_lb_out_release(ctl_lb_out *out);
/* The status to record once a WAITING change is confirmed: its pending
 * upstreams are served, the ones it left are removed now (*out filled). */
void ctl_lb_confirmed(const ctl_lb_in *in, api_lb_status *out);
/* The status to record when a change was sent and not confirmed yet
 * (WAITING): the upstreams confirmed before, the change's in `pending`. */
void ctl_lb_waiting(const ctl_lb_in *in, const ctl_lb_out *planned, api_lb_status *out);
/* The status to record when the provider refused the planned change:
 * the previous upstreams and removals, state FAILED, the message, the
 * change's id (*out filled; release with api_lb_status_release). */
void ctl_lb_failed(const ctl_lb_in *in, const ctl_lb_out *planned, const char *message,
                   api_lb_status *out);

/* Whether two statuses record the same state (updatedAt ignored). */
bool ctl_lb_status_equal(const api_lb_status *a, const api_lb_status *b);

/* ---- providers ------------------------------------------------------------------ */

/* What a provider is asked to make true for one request. */
typedef struct ctl_lb_target {
    const char *request_id;
    const char *change_id;        /* loadBalancerRequestId of this change */
    const char *base_path;        /* serviceBasePath; NULL: none (no locations) */
    const char *const *groups;    /* loadBalancerGroups */
    size_t n_groups;
    const api_lb_upstream *upstreams; /* empty: remove the request */
    size_t n_upstreams;
    const api_lb_upstream *current; /* what it serves now (Baragon: add/remove) */
    size_t n_current;
    const char *const *owners; /* the request's owners (Baragon's service) */
    size_t n_owners;
} ctl_lb_target;

typedef struct ctl_lb_provider {
    const char *name; /* "nginx", "baragon" */
    /* Makes the load balancer serve t. 0 once applied; 1 when sent to an
     * asynchronous load balancer that has not confirmed it yet (ask
     * `check` later); -1 with err when it refused (nothing changed). May
     * block for a bounded time (nginx -t). */
    int (*apply)(void *arg, const ctl_lb_target *t, cr_err *err);
    /* The outcome of change t->change_id sent earlier (by this process or
     * a previous leader): 0 applied, 1 not yet, -1 failed (err). Never
     * blocks: it answers what it knows and asks in the background. NULL
     * for providers whose apply never returns 1. */
    int (*check)(void *arg, const ctl_lb_target *t, cr_err *err);
    void (*free)(void *arg);
    void *arg;
} ctl_lb_provider;

/* nginx: one upstream file per request in <dir>/upstreams/, one location
 * file per request and group in <dir>/locations/<group>/ (the operator's
 * nginx.conf includes them: docs/loadbalancing.md), validated with
 * `<bin> -t -c <conf>` and made live with `<bin> -s reload -c <conf>`.
 * A failed validation puts the previous files back. bin NULL = "nginx".
 * Returns -1 with err when dir cannot be made. */
int ctl_lb_nginx_provider(const char *dir, const char *conf, const char *bin,
                          ctl_lb_provider *out, cr_err *err);

/* Baragon (HubSpot's load-balancer API), as Singularity drives it: a change
 * is POSTed to <url>/request as a BaragonRequest (loadBalancerRequestId,
 * loadBalancerService {serviceId, owners, serviceBasePath,
 * loadBalancerGroups}, addUpstreams, removeUpstreams as UpstreamInfo) and
 * its state read from <url>/request/<id> until SUCCESS or a failure.
 * url is BaragonService's API root ("http://host:8080/baragon/v2"); http
 * is borrowed. */
int ctl_lb_baragon_provider(cr_http *http, const char *url, ctl_lb_provider *out, cr_err *err);

/* The BaragonRequest of a change (caller owns). */
json_t *ctl_lb_baragon_request(const ctl_lb_target *t);

/* The texts the nginx provider writes (caller frees): the upstream block,
 * and the location block of a group. Names are "corral_" + the request id
 * with every byte outside [A-Za-z0-9] written as _XX (hex). */
char *ctl_lb_nginx_upstream_text(const ctl_lb_target *t);
char *ctl_lb_nginx_location_text(const ctl_lb_target *t);
char *ctl_lb_nginx_name(const char *request_id);

/* ---- the loop ------------------------------------------------------------------------ */

typedef struct ctl_lb_manager ctl_lb_manager;

typedef struct ctl_lb_config {
    const char *prefix;     /* NULL = "/corral" */
    store_cache *cache;     /* the process's cache (borrowed) */
    ctl_lb_provider provider; /* taken over (freed with the manager) */
    const ctl_manager *service; /* health verdicts (borrowed); may be NULL */
    int64_t retry_ms;       /* failed change retried after (10 s) */
    cr_log *log;
} ctl_lb_config;

/* Created stopped; the provider is the manager's from here on (also on
 * failure). */
ctl_lb_manager *ctl_lb_manager_new(struct event_base *base, store *s, store_leader *leader,
                                   const ctl_lb_config *cfg, cr_err *err);
int ctl_lb_manager_start(ctl_lb_manager *m, cr_err *err);
void ctl_lb_manager_stop(ctl_lb_manager *m);
void ctl_lb_manager_free(ctl_lb_manager *m);

typedef struct ctl_lb_stats {
    uint64_t changes;  /* changes applied */
    uint64_t failures; /* changes the provider refused */
    uint64_t passes;
} ctl_lb_stats;
void ctl_lb_manager_get_stats(const ctl_lb_manager *m, ctl_lb_stats *out);

#endif
