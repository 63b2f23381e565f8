/* Health checks: the pure state machine and the event-loop checker. */
#include "controllers/health.h"

#include <string.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/xalloc.h"

/* ---- options ------------------------------------------------------------------ */

void ctl_hc_opts_from_api(const api_healthcheck *h, ctl_hc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->startup_delay_ms = h && h->has_startupDelaySeconds ? h->startupDelaySeconds * 1000LL : 0;
    o->startup_timeout_ms =
        (h && h->has_startupTimeoutSeconds ? h->startupTimeoutSeconds : CTL_HC_STARTUP_TIMEOUT_S) *
        1000LL;
    o->startup_interval_ms = (h && h->has_startupIntervalSeconds ? h->startupIntervalSeconds
                                                                 : CTL_HC_STARTUP_INTERVAL_S) *
                             1000LL;
    o->interval_ms =
        (h && h->has_intervalSeconds ? h->intervalSeconds : CTL_HC_INTERVAL_S) * 1000LL;
    o->response_timeout_ms = (h && h->has_responseTimeoutSeconds ? h->responseTimeoutSeconds
                                                                 : CTL_HC_RESPONSE_TIMEOUT_S) *
                             1000LL;
    o->max_retries = h && h->has_maxRetries ? h->maxRetries : 0;
    for (size_t i = 0; h && i < h->failureStatusCodes.n && i < CTL_HC_MAX_FAILURE_CODES; i++)
        o->failure_codes[o->n_failure_codes++] = (long)h->failureStatusCodes.v[i];
}

int64_t ctl_hc_budget_ms(const ctl_hc_opts *o)
{
    return o->startup_delay_ms + o->startup_timeout_ms +
           (o->interval_ms + o->response_timeout_ms) * (o->max_retries + 1);
}

int64_t ctl_hc_start_time(const ctl_hc_opts *o, int64_t running_at, int64_t now)
{
    int64_t earliest = now - o->startup_delay_ms;
    return running_at > earliest ? running_at : earliest;
}

/* ---- state machine ------------------------------------------------------------- */

void ctl_hc_init(ctl_hc_state *s, const ctl_hc_opts *o, int64_t running_at)
{
    memset(s, 0, sizeof(*s));
    s->running_at = running_at;
    s->next_at = running_at + o->startup_delay_ms;
}

static bool failure_code(const ctl_hc_opts *o, long status)
{
    for (size_t i = 0; i < o->n_failure_codes; i++)
        if (o->failure_codes[i] == status)
            return true;
    return false;
}

void ctl_hc_tick(ctl_hc_state *s, const ctl_hc_opts *o, int64_t now)
{
    if (s->verdict != CTL_HEALTH_UNKNOWN)
        return;
    int64_t age = now - s->running_at - o->startup_delay_ms;
    if (!s->responded && age >= o->startup_timeout_ms)
        s->verdict = CTL_HEALTH_UNHEALTHY;
    else if (now - s->running_at >= ctl_hc_budget_ms(o))
        s->verdict = CTL_HEALTH_UNHEALTHY;
}

void ctl_hc_result(ctl_hc_state *s, const ctl_hc_opts *o, long status, int64_t now)
{
    if (s->verdict != CTL_HEALTH_UNKNOWN)
        return;
    s->last_status = status;
    if (status >= 200 && status < 300) {
        s->verdict = CTL_HEALTH_HEALTHY;
        return;
    }
    if (status && failure_code(o, status)) {
        s->verdict = CTL_HEALTH_UNHEALTHY;
        return;
    }
    if (status) {
        s->responded = true;
        if (++s->failures > o->max_retries) {
            s->verdict = CTL_HEALTH_UNHEALTHY;
            return;
        }
        s->next_at = now + o->interval_ms;
    } else if (s->responded) {
        /* No answer after the service had answered: a failed check. */
        if (++s->failures > o->max_retries) {
            s->verdict = CTL_HEALTH_UNHEALTHY;
            return;
        }
        s->next_at = now + o->interval_ms;
    } else {
        s->next_at = now + o->startup_interval_ms; /* still starting */
    }
    ctl_hc_tick(s, o, now);
}

void ctl_hc_live_init(ctl_hc_state *s, const ctl_hc_opts *o, int64_t now)
{
    memset(s, 0, sizeof(*s));
    s->verdict = CTL_HEALTH_UNKNOWN;
    s->responded = true;
    s->next_at = now + o->interval_ms;
}

void ctl_hc_live_result(ctl_hc_state *s, const ctl_hc_opts *o, long status, int64_t now)
{
    s->last_status = status;
    s->next_at = now + o->interval_ms;
    if (status && failure_code(o, status)) {
        s->verdict = CTL_HEALTH_UNHEALTHY;
        return;
    }
    if (status >= 200 && status < 300) {
        s->failures = 0;
        return;
    }
    if (++s->failures > o->max_retries)
        s->verdict = CTL_HEALTH_UNHEALTHY;
}

/* ---- checker ----------------------------------------------------------------------- */

typedef struct check {
    ctl_checker *owner;
    char *request_id;
    char *task_id;
    char *url;
    ctl_hc_opts opts;
    ctl_hc_state st;
    struct event *timer;
    cr_http_req *req; /* in flight, or NULL */
    bool live;        /* a liveness check (ctl_hc_live_*) */
    struct check *next;
} check;

struct ctl_checker {
    struct event_base *base;
    cr_http *http;
    ctl_checker_cb cb;
    void *arg;
    check *checks;
    size_t n;
};

ctl_checker *ctl_checker_new(struct event_base *base, cr_http *http, ctl_checker_cb cb, void *arg)
{
    ctl_checker *c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->http = http;
    c->cb = cb;
    c->arg = arg;
    return c;
}

static void check_free(check *k)
{
    cr_http_cancel(k->req);
    if (k->timer)
        event_free(k->timer);
    free(k->request_id);
    free(k->task_id);
    free(k->url);
    free(k);
}

static void unlink_check(ctl_checker *c, check *k)
{
    for (check **p = &c->checks; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            c->n--;
            return;
        }
}

void ctl_checker_free(ctl_checker *c)
{
    if (!c)
        return;
    while (c->checks) {
        check *k = c->checks;
        c->checks = k->next;
        check_free(k);
    }
    free(c);
}

static check *find(const ctl_checker *c, const char *task_id)
{
    for (check *k = c->checks; k; k = k->next)
        if (strcmp(k->task_id, task_id) == 0)
            return k;
    return NULL;
}

static void arm(check *k, int64_t now)
{
    int64_t wait = k->st.next_at - now;
    /* Wake up for the startup deadline even while a request is pending. */
    struct timeval tv = {0, 0};
    if (wait > 0) {
        tv.tv_sec = wait / 1000;
        tv.tv_usec = (wait % 1000) * 1000;
    }
    evtimer_add(k->timer, &tv);
}

/* Reports a verdict and drops the check. */
static void decide(check *k)
{
    ctl_checker *c = k->owner;
    unlink_check(c, k);
    char *rid = k->request_id, *tid = k->task_id;
    ctl_health v = k->st.verdict;
    k->request_id = k->task_id = NULL;
    check_free(k);
    c->cb(c->arg, rid, tid, v);
    free(rid);
    free(tid);
}

static void on_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    check *k = arg;
    k->req = NULL;
    if (k->live)
        ctl_hc_live_result(&k->st, &k->opts, err ? 0 : resp->status, cr_wall_ms());
    else
        ctl_hc_result(&k->st, &k->opts, err ? 0 : resp->status, cr_wall_ms());
    if (k->st.verdict != CTL_HEALTH_UNKNOWN) {
        decide(k);
        return;
    }
    arm(k, cr_wall_ms());
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    check *k = arg;
    int64_t now = cr_wall_ms();
    cr_err err;

    if (!k->live)
        ctl_hc_tick(&k->st, &k->opts, now);
    if (k->st.verdict != CTL_HEALTH_UNKNOWN) {
        decide(k);
        return;
    }
    if (k->req) /* a check is still in flight: its answer re-arms */
        return;
    if (now < k->st.next_at) {
        arm(k, now);
        return;
    }
    cr_http_opts o = {.url = k->url,
                      .timeout_ms = k->opts.response_timeout_ms,
                      .connect_timeout_ms = k->opts.response_timeout_ms,
                      .max_body = 8192,
                      .on_done = on_done,
                      .arg = k};
    k->req = cr_http_start(k->owner->http, &o, &err);
    if (!k->req) {
        if (k->live)
            ctl_hc_live_result(&k->st, &k->opts, 0, now);
        else
            ctl_hc_result(&k->st, &k->opts, 0, now);
        if (k->st.verdict != CTL_HEALTH_UNKNOWN) {
            decide(k);
            return;
        }
        arm(k, now);
    }
}

static int add_check(ctl_checker *c, const char *request_id, const char *task_id, const char *url,
                     const ctl_hc_opts *opts, bool live, int64_t running_at, cr_err *err)
{
    if (!request_id || !task_id || !url || !opts)
        return cr_error(err, CR_EINVAL, "health check: request, task, url and options required");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cr_error(err, CR_EINVAL, "health check url '%s': not http(s)", url);
    if (find(c, task_id))
        return 0;
    check *k = xcalloc(1, sizeof(*k));
    k->owner = c;
    k->request_id = xstrdup(request_id);
    k->task_id = xstrdup(task_id);
    k->url = xstrdup(url);
    k->opts = *opts;
    k->live = live;
    if (live)
        ctl_hc_live_init(&k->st, opts, cr_wall_ms());
    else
        ctl_hc_init(&k->st, opts, running_at);
    k->timer = evtimer_new(c->base, on_timer, k);
    k->next = c->checks;
    c->checks = k;
    c->n++;
    arm(k, cr_wall_ms());
    return 0;
}

int ctl_checker_watch(ctl_checker *c, const char *request_id, const char *task_id, const char *url,
                      const ctl_hc_opts *opts, int64_t running_at, cr_err *err)
{
    return add_check(c, request_id, task_id, url, opts, false, running_at, err);
}

int ctl_checker_watch_live(ctl_checker *c, const char *request_id, const char *task_id,
                           const char *url, const ctl_hc_opts *opts, cr_err *err)
{
    return add_check(c, request_id, task_id, url, opts, true, 0, err);
}

void ctl_checker_forget(ctl_checker *c, const char *task_id)
{
    check *k = find(c, task_id);
    if (!k)
        return;
    unlink_check(c, k);
    check_free(k);
}

size_t ctl_checker_count(const ctl_checker *c)
{
    return c->n;
}
