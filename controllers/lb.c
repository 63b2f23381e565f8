/* The LB plan (see lb.h): which tasks a request's load balancer should
 * serve, and the status that records it. Pure: no I/O, no clock. */
#include "controllers/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void requeue_at(ctl_lb_out *out, int64_t now, int64_t at)
{
    int64_t after = at > now ? at - now : 1;
    if (!out->requeue_after_ms || after < out->requeue_after_ms)
        out->requeue_after_ms = after;
}

/* Running, of the active deploy, with an address, and not going away. */
static bool candidate(const ctl_lb_in *in, const ctl_lb_task *t)
{
    return t->state == API_TASK_RUNNING && !t->leaving && t->host && *t->host && t->port > 0 &&
           str_eq(t->deploy_id, in->active_deploy);
}

static bool served_now(const ctl_lb_in *in, const ctl_lb_task *t)
{
    return in->status && api_lb_upstream_find(in->status->upstreams, in->status->n_upstreams, t->id);
}

/* Healthy enough to take traffic; a task that will be is requeued for. A
 * task already served whose check has no verdict (a new leader checks
 * every task again) stays: only a failed check takes it out. */
static bool serves(const ctl_lb_in *in, const ctl_lb_task *t, ctl_lb_out *out)
{
    if (!candidate(in, t))
        return false;
    if (in->http_check) {
        if (t->health == CTL_HEALTH_HEALTHY)
            return true;
        if (t->health == CTL_HEALTH_UNKNOWN) {
            requeue_at(out, in->now, in->now + 1000); /* no event says "healthy" to us */
            return served_now(in, t);
        }
        return false;
    }
    if (t->health == CTL_HEALTH_HEALTHY)
        return true;
    int64_t since = t->running_at ? t->running_at : in->now;
    if (in->now - since >= in->healthy_after_ms)
        return true;
    requeue_at(out, in->now, since + in->healthy_after_ms);
    return false;
}

static int by_task(const void *a, const void *b)
{
    return strcmp(((const api_lb_upstream *)a)->taskId, ((const api_lb_upstream *)b)->taskId);
}

static bool same_set(const api_lb_upstream *a, size_t na, const api_lb_upstream *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const api_lb_upstream *o = api_lb_upstream_find(b, nb, a[i].taskId);
        if (!o || !str_eq(o->upstream, a[i].upstream))
            return false;
    }
    return true;
}

static const ctl_lb_task *find_task(const ctl_lb_in *in, const char *id)
{
    for (size_t i = 0; i < in->n_tasks; i++)
        if (str_eq(in->tasks[i].id, id))
            return &in->tasks[i];
    return NULL;
}

void ctl_lb_plan(const ctl_lb_in *in, ctl_lb_out *out)
{
    const api_lb_status *cur = in->status;

    memset(out, 0, sizeof(*out));
    if (in->load_balanced && !in->paused) {
        for (size_t i = 0; i < in->n_tasks; i++) {
            const ctl_lb_task *t = &in->tasks[i];
            if (!serves(in, t, out))
                continue;
            char addr[300];
            snprintf(addr, sizeof(addr), "%s:%lld", t->host, (long long)t->port);
            const api_lb_upstream *was =
                cur ? api_lb_upstream_find(cur->upstreams, cur->n_upstreams, t->id) : NULL;
            api_lb_upstream_add(&out->want, &out->n_want, t->id, addr, was ? was->at : in->now);
        }
        if (out->n_want > 1)
            qsort(out->want, out->n_want, sizeof(*out->want), by_task);
    }

    /* Never empty a request that serves for want of verdicts: after a
     * failover in the middle of a swap, the tasks leaving are still served
     * and the new ones are not checked again yet; the old ones stay until
     * the new ones can take their place. */
    if (!out->n_want && cur && cur->n_upstreams && in->load_balanced && !in->paused) {
        for (size_t i = 0; i < in->n_tasks; i++)
            if (candidate(in, &in->tasks[i]) && in->http_check &&
                in->tasks[i].health == CTL_HEALTH_UNKNOWN) {
                for (size_t k = 0; k < cur->n_upstreams; k++)
                    api_lb_upstream_add(&out->want, &out->n_want, cur->upstreams[k].taskId,
                                        cur->upstreams[k].upstream, cur->upstreams[k].at);
                break;
            }
    }
    bool served = cur && same_set(out->want, out->n_want, cur->upstreams, cur->n_upstreams);
    bool failed = cur && str_eq(cur->state, "FAILED");
    if (!cur && !out->n_want)
        return; /* never served anything: nothing to do, nothing to record */
    if (cur && str_eq(cur->state, "WAITING")) {
        /* One change at a time: ask how the one sent is doing. */
        out->check = true;
        served = true;
    }
    /* After a refused change, the next try waits out retry_ms. */
    bool due = !failed || in->now >= cur->updatedAt + in->retry_ms;
    out->apply = !served && due;
    if (!served && !due)
        requeue_at(out, in->now, cur->updatedAt + in->retry_ms);

    api_lb_status *n = &out->next;
    if (out->apply) {
        /* The status once applied: want, plus what leaves it (its drain
         * starts now), plus earlier removals of tasks that still have a
         * record. */
        char id[300];
        snprintf(id, sizeof(id), "%s-%lld", in->request_id, (long long)in->now);
        n->requestId = xstrdup(in->request_id);
        n->loadBalancerRequestId = xstrdup(id);
        n->provider = in->provider ? xstrdup(in->provider) : NULL;
        n->state = xstrdup("SUCCESS");
        n->updatedAt = in->now;
        for (size_t i = 0; i < out->n_want; i++)
            api_lb_upstream_add(&n->upstreams, &n->n_upstreams, out->want[i].taskId,
                                out->want[i].upstream, out->want[i].at);
        for (size_t i = 0; cur && i < cur->n_upstreams; i++) {
            const api_lb_upstream *u = &cur->upstreams[i];
            if (!api_lb_upstream_find(out->want, out->n_want, u->taskId) &&
                find_task(in, u->taskId))
                api_lb_upstream_add(&n->removed, &n->n_removed, u->taskId, u->upstream, in->now);
        }
    } else {
        /* Nothing sent: what the load balancer serves stays as recorded. */
        n->requestId = xstrdup(in->request_id);
        n->loadBalancerRequestId =
            cur->loadBalancerRequestId ? xstrdup(cur->loadBalancerRequestId) : NULL;
        n->provider = cur->provider ? xstrdup(cur->provider) : NULL;
        n->state = cur->state ? xstrdup(cur->state) : NULL;
        n->message = cur->message ? xstrdup(cur->message) : NULL;
        n->updatedAt = cur->updatedAt;
        for (size_t i = 0; i < cur->n_upstreams; i++)
            api_lb_upstream_add(&n->upstreams, &n->n_upstreams, cur->upstreams[i].taskId,
                                cur->upstreams[i].upstream, cur->upstreams[i].at);
        for (size_t i = 0; i < cur->n_pending; i++)
            api_lb_upstream_add(&n->pending, &n->n_pending, cur->pending[i].taskId,
                                cur->pending[i].upstream, cur->pending[i].at);
    }
    /* Earlier removals are kept while their task has a record (its kill
     * waits for the drain measured from `at`). */
    for (size_t i = 0; cur && i < cur->n_removed; i++) {
        const api_lb_upstream *u = &cur->removed[i];
        if (!api_lb_upstream_find(n->upstreams, n->n_upstreams, u->taskId) &&
            !api_lb_upstream_find(n->removed, n->n_removed, u->taskId) && find_task(in, u->taskId))
            api_lb_upstream_add(&n->removed, &n->n_removed, u->taskId, u->upstream, u->at);
    }
    out->write = out->apply || !cur || !ctl_lb_status_equal(cur, n);
    /* A request that is no longer load-balanced and has nothing left in the
     * load balancer loses its status. */
    if (!in->load_balanced && !out->apply && !out->check && !n->n_upstreams && !n->n_removed) {
        out->remove = true;
        out->write = false;
    }
}

void ctl_lb_failed(const ctl_lb_in *in, const ctl_lb_out *planned, const char *message,
                   api_lb_status *out)
{
    const api_lb_status *cur = in->status;
    memset(out, 0, sizeof(*out));
    out->requestId = xstrdup(in->request_id);
    out->loadBalancerRequestId = xstrdup(planned->next.loadBalancerRequestId);
    out->provider = in->provider ? xstrdup(in->provider) : NULL;
    out->state = xstrdup("FAILED");
    out->message = xstrdup(message);
    out->updatedAt = in->now;
    for (size_t i = 0; cur && i < cur->n_upstreams; i++)
        api_lb_upstream_add(&out->upstreams, &out->n_upstreams, cur->upstreams[i].taskId,
                            cur->upstreams[i].upstream, cur->upstreams[i].at);
    for (size_t i = 0; cur && i < cur->n_removed; i++)
        if (find_task(in, cur->removed[i].taskId))
            api_lb_upstream_add(&out->removed, &out->n_removed, cur->removed[i].taskId,
                                cur->removed[i].upstream, cur->removed[i].at);
}

void ctl_lb_out_release(ctl_lb_out *out)
{
    for (size_t i = 0; i < out->n_want; i++) {
        free(out->want[i].taskId);
        free(out->want[i].upstream);
    }
    free(out->want);
    api_lb_status_release(&out->next);
    memset(out, 0, sizeof(*out));
}

static bool list_equal(const api_lb_upstream *a, size_t na, const api_lb_upstream *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const api_lb_upstream *o = api_lb_upstream_find(b, nb, a[i].taskId);
        if (!o || !str_eq(o->upstream, a[i].upstream) || o->at != a[i].at)
            return false;
    }
    return true;
}

/* Copies every entry of src whose task is in the request (or all when
 * in is NULL) and not yet in *dst. */
static void copy_live(const ctl_lb_in *in, const api_lb_upstream *src, size_t n,
                      api_lb_upstream **dst, size_t *nd, int64_t at)
{
    for (size_t i = 0; i < n; i++)
        if ((!in || find_task(in, src[i].taskId)) && !api_lb_upstream_find(*dst, *nd, src[i].taskId))
            api_lb_upstream_add(dst, nd, src[i].taskId, src[i].upstream, at ? at : src[i].at);
}

void ctl_lb_confirmed(const ctl_lb_in *in, api_lb_status *out)
{
    const api_lb_status *cur = in->status;
    memset(out, 0, sizeof(*out));
    out->requestId = xstrdup(in->request_id);
    out->loadBalancerRequestId =
        cur->loadBalancerRequestId ? xstrdup(cur->loadBalancerRequestId) : NULL;
    out->provider = in->provider ? xstrdup(in->provider) : NULL;
    out->state = xstrdup("SUCCESS");
    out->updatedAt = in->now;
    for (size_t i = 0; i < cur->n_pending; i++) {
        const api_lb_upstream *was =
            api_lb_upstream_find(cur->upstreams, cur->n_upstreams, cur->pending[i].taskId);
        api_lb_upstream_add(&out->upstreams, &out->n_upstreams, cur->pending[i].taskId,
                            cur->pending[i].upstream, was ? was->at : in->now);
    }
    for (size_t i = 0; i < cur->n_upstreams; i++)
        if (!api_lb_upstream_find(out->upstreams, out->n_upstreams, cur->upstreams[i].taskId) &&
            find_task(in, cur->upstreams[i].taskId))
            api_lb_upstream_add(&out->removed, &out->n_removed, cur->upstreams[i].taskId,
                                cur->upstreams[i].upstream, in->now);
    copy_live(in, cur->removed, cur->n_removed, &out->removed, &out->n_removed, 0);
}

void ctl_lb_waiting(const ctl_lb_in *in, const ctl_lb_out *planned, api_lb_status *out)
{
    const api_lb_status *cur = in->status;
    memset(out, 0, sizeof(*out));
    out->requestId = xstrdup(in->request_id);
    out->loadBalancerRequestId = xstrdup(planned->next.loadBalancerRequestId);
    out->provider = in->provider ? xstrdup(in->provider) : NULL;
    out->state = xstrdup("WAITING");
    out->updatedAt = in->now;
    if (cur) {
        copy_live(NULL, cur->upstreams, cur->n_upstreams, &out->upstreams, &out->n_upstreams, 0);
        copy_live(in, cur->removed, cur->n_removed, &out->removed, &out->n_removed, 0);
    }
    copy_live(NULL, planned->want, planned->n_want, &out->pending, &out->n_pending, 0);
}

bool ctl_lb_status_equal(const api_lb_status *a, const api_lb_status *b)
{
    return str_eq(a->requestId, b->requestId) &&
           str_eq(a->loadBalancerRequestId, b->loadBalancerRequestId) &&
           str_eq(a->provider, b->provider) && str_eq(a->state, b->state) &&
           str_eq(a->message, b->message) &&
           list_equal(a->upstreams, a->n_upstreams, b->upstreams, b->n_upstreams) &&
           list_equal(a->removed, a->n_removed, b->removed, b->n_removed) &&
           list_equal(a->pending, a->n_pending, b->pending, b->n_pending);
}
