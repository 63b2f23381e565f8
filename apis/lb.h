/* The load-balancer state of a request, written by the leader's LB loop
 * (controllers/lb.h) under <prefix>/status/lb/<requestId>, and the kill
 * waiting for a task's removal, under <prefix>/lbcleanups/<r>/<taskId>
 * (docs/loadbalancing.md, docs/etcd-layout.md):
 *
 *   {"requestId":"web","loadBalancerRequestId":"web-1764016800000",
 *    "provider":"nginx","state":"SUCCESS","message":null,
 *    "upstreams":[{"taskId":"web-v2-...","upstream":"127.0.0.1:31001","at":<ms>}],
 *    "removed":[{"taskId":"web-v1-...","upstream":"127.0.0.1:31000","at":<ms>}],
 *    "pending":[...],"updatedAt":<ms>}
 *
 * `upstreams` is what the load balancer serves now (the last change it
 * accepted), `at` the time each task was added; `removed` lists tasks taken
 * out that still have a record, `at` the time the change that removed them
 * was applied (their drain starts then). `state` is Singularity's
 * BaragonRequestState of the last change: SUCCESS, FAILED (the provider
 * refused it: `message` says why, the upstreams are the previous ones) or
 * WAITING (sent to an asynchronous provider, Baragon, and not confirmed
 * yet: `pending` holds the upstreams it asked for, `upstreams` still the
 * ones confirmed before).
 *
 * Ownership as in apis/common.h: the struct owns every pointer in it,
 * api_lb_status_release frees them (not the struct). */
#ifndef API_LB_H
#define API_LB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

typedef struct api_lb_upstream {
    char *taskId;
    char *upstream; /* "host:port" */
    int64_t at;     /* added (upstreams) or removed (removed), epoch ms */
} api_lb_upstream;

typedef struct api_lb_status {
    char *requestId;
    char *loadBalancerRequestId; /* id of the last change sent */
    char *provider;              /* "nginx", "baragon" */
    char *state;                 /* "SUCCESS", "FAILED", "WAITING" */
    char *message;               /* why the last change failed; may be NULL */
    api_lb_upstream *upstreams;
    size_t n_upstreams;
    api_lb_upstream *removed;
    size_t n_removed;
    api_lb_upstream *pending; /* WAITING: the upstreams the change asks for */
    size_t n_pending;
    int64_t updatedAt;
} api_lb_status;

/* Decodes j into *out (zeroed first). -1 with err naming the field when j is
 * not an LB status; *out is then empty. Unknown fields are ignored. */
int api_lb_status_from_json(const json_t *j, api_lb_status *out, cr_err *err);
/* A new object (caller owns). */
json_t *api_lb_status_to_json(const api_lb_status *s);
void api_lb_status_release(api_lb_status *s);
/* Appends an entry to a list (strings copied). */
void api_lb_upstream_add(api_lb_upstream **v, size_t *n, const char *task_id,
                         const char *upstream, int64_t at);
/* The entry of task_id in v, or NULL (borrowed). */
const api_lb_upstream *api_lb_upstream_find(const api_lb_upstream *v, size_t n,
                                            const char *task_id);

#endif
