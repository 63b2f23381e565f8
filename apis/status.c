/* Request and deploy status records (see status.h). */
#include "apis/status.h"

#include <string.h>

#include "apis/codec.h"
#include "apis/keys.h"
#include "base/xalloc.h"

/* ---- enums ------------------------------------------------------------------ */

static const char *const rstate_names[] = {
    NULL,       "ACTIVE",   "SYSTEM_COOLDOWN", "PAUSED", "DEPLOYING_TO_UNPAUSE",
    "FINISHED", "DELETING", "DELETED",
};
static const char *const dstate_names[] = {
    NULL,         "WAITING",  "CANCELING", "SUCCEEDED",
    "FAILED",     "CANCELED", "OVERDUE",   "FAILED_INTERNAL_STATE",
    "SUPERSEDED",
};
static const char *const dfail_names[] = {
    NULL,
    "TASK_FAILED_ON_STARTUP",
    "TASK_FAILED_HEALTH_CHECKS",
    "TASK_COULD_NOT_BE_SCHEDULED",
    "TASK_NEVER_ENTERED_RUNNING",
    "TASK_EXPECTED_RUNNING_FINISHED",
    "DEPLOY_CANCELLED",
    "DEPLOY_OVERDUE",
    "FAILED_TO_SAVE_DEPLOY_STATE",
    "LOAD_BALANCER_UPDATE_FAILED",
    "PENDING_DEPLOY_REMOVED",
};
static const char *const cond_names[] = {"Unknown", "True", "False"};

#define NAMES_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *enum_name(const char *const *names, size_t n, int v)
{
    return v > 0 && (size_t)v < n ? names[v] : NULL;
}

static int enum_parse(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return 0;
}

const char *api_request_state_name(api_request_state s)
{
    return enum_name(rstate_names, NAMES_N(rstate_names), s);
}

api_request_state api_request_state_parse(const char *s)
{
    return enum_parse(rstate_names, NAMES_N(rstate_names), s);
}

const char *api_deploy_state_name(api_deploy_state s)
{
    return enum_name(dstate_names, NAMES_N(dstate_names), s);
}

api_deploy_state api_deploy_state_parse(const char *s)
{
    return enum_parse(dstate_names, NAMES_N(dstate_names), s);
}

bool api_deploy_state_terminal(api_deploy_state s)
{
    return s != API_DSTATE_UNSET && s != API_DSTATE_WAITING && s != API_DSTATE_CANCELING;
}

bool api_deploy_state_failed(api_deploy_state s)
{
    return s == API_DSTATE_FAILED || s == API_DSTATE_OVERDUE ||
           s == API_DSTATE_FAILED_INTERNAL_STATE;
}

const char *api_deploy_failure_reason_name(api_deploy_failure_reason r)
{
    return enum_name(dfail_names, NAMES_N(dfail_names), r);
}

api_deploy_failure_reason api_deploy_failure_reason_parse(const char *s)
{
    return enum_parse(dfail_names, NAMES_N(dfail_names), s);
}

const char *api_cond_status_name(api_cond_status s)
{
    return s >= 0 && (size_t)s < NAMES_N(cond_names) ? cond_names[s] : "Unknown";
}

static api_cond_status cond_status_parse(const char *s, bool *ok)
{
    *ok = true;
    for (size_t i = 0; s && i < NAMES_N(cond_names); i++)
        if (strcmp(cond_names[i], s) == 0)
            return (api_cond_status)i;
    *ok = false;
    return API_COND_UNKNOWN;
}

/* ---- small helpers ------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void set_str(char **dst, const char *src)
{
    if (str_eq(*dst, src))
        return;
    free(*dst);
    *dst = xstrdup(src);
}

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void put_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

/* Decoding context: the object being read, its path and the problem list. */
typedef struct dec {
    const json_t *o;
    const char *prefix;
    api_problems *probs;
    size_t n;
} dec;

static void dec_problem(dec *d, const char *field, const char *msg)
{
    char *p = api_path_join(d->prefix ? d->prefix : "", field);
    api_problems_add(d->probs, p, "%s", msg);
    free(p);
    d->n++;
}

/* Optional string field; NULL when absent or null. */
static char *dec_str(dec *d, const char *field)
{
    const json_t *v = json_object_get(d->o, field);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        dec_problem(d, field, "must be a string");
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

/* Optional integer field; 0 when absent. */
static int64_t dec_int(dec *d, const char *field, int64_t lo)
{
    const json_t *v = json_object_get(d->o, field);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        dec_problem(d, field, "must be an integer");
        return 0;
    }
    int64_t x = json_integer_value(v);
    if (x < lo) {
        dec_problem(d, field, lo == 0 ? "must be >= 0" : "out of range");
        return 0;
    }
    return x;
}

/* Required (when `required`) enum field. */
static int dec_enum(dec *d, const char *field, const char *const *names, size_t n, bool required)
{
    const json_t *v = json_object_get(d->o, field);
    if (!v || json_is_null(v)) {
        if (required)
            dec_problem(d, field, "is required");
        return 0;
    }
    int e = json_is_string(v) ? enum_parse(names, n, json_string_value(v)) : 0;
    if (!e)
        dec_problem(d, field, "unknown value");
    return e;
}

static const json_t *dec_array(dec *d, const char *field)
{
    const json_t *v = json_object_get(d->o, field);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_array(v)) {
        dec_problem(d, field, "must be a list");
        return NULL;
    }
    return v;
}

/* Runs fn over the objects of list `field`, with a sub-context per entry. */
static void dec_each(dec *d, const char *field, void (*fn)(dec *sub, void *arg), void *arg)
{
    const json_t *arr = dec_array(d, field);
    size_t i;
    const json_t *e;
    if (!arr)
        return;
    char *base = api_path_join(d->prefix ? d->prefix : "", field);
    json_array_foreach(arr, i, e)
    {
        char *p = api_path_index(base, i);
        dec sub = {e, p, d->probs, 0};
        if (!json_is_object(e)) {
            api_problems_add(d->probs, p, "must be an object");
            d->n++;
        } else {
            fn(&sub, arg);
            d->n += sub.n;
        }
        free(p);
    }
    free(base);
}

/* ---- conditions ---------------------------------------------------------------- */

bool api_conditions_set(api_conditions *cs, const char *type, api_cond_status status,
                        const char *reason, const char *message, int64_t now)
{
    api_condition *c = NULL;
    bool changed = false;

    for (size_t i = 0; i < cs->n; i++)
        if (str_eq(cs->v[i].type, type))
            c = &cs->v[i];
    if (!c) {
        cs->v = xrealloc(cs->v, (cs->n + 1) * sizeof(*cs->v));
        c = &cs->v[cs->n++];
        memset(c, 0, sizeof(*c));
        c->type = xstrdup(type);
        c->status = status;
        c->lastTransitionTime = now;
        changed = true;
    }
    if (c->status != status) {
        c->status = status;
        c->lastTransitionTime = now;
        changed = true;
    }
    if (!str_eq(c->reason, reason)) {
        set_str(&c->reason, reason);
        changed = true;
    }
    if (!str_eq(c->message, message)) {
        set_str(&c->message, message);
        changed = true;
    }
    return changed;
}

const api_condition *api_conditions_get(const api_conditions *cs, const char *type)
{
    for (size_t i = 0; i < cs->n; i++)
        if (str_eq(cs->v[i].type, type))
            return &cs->v[i];
    return NULL;
}

void api_conditions_copy(api_conditions *dst, const api_conditions *src)
{
    dst->n = src->n;
    dst->v = src->n ? xcalloc(src->n, sizeof(*dst->v)) : NULL;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].type = xstrdup(src->v[i].type);
        dst->v[i].status = src->v[i].status;
        dst->v[i].reason = xstrdup(src->v[i].reason);
        dst->v[i].message = xstrdup(src->v[i].message);
        dst->v[i].lastTransitionTime = src->v[i].lastTransitionTime;
    }
}

void api_conditions_release(api_conditions *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].type);
        free(cs->v[i].reason);
        free(cs->v[i].message);
    }
    free(cs->v);
    cs->v = NULL;
    cs->n = 0;
}

static json_t *conditions_json(const api_conditions *cs)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cs->n; i++) {
        const api_condition *c = &cs->v[i];
        json_t *o = json_object();
        put_str(o, "type", c->type);
        put_str(o, "status", api_cond_status_name(c->status));
        put_str(o, "reason", c->reason);
        put_str(o, "message", c->message);
        put_int(o, "lastTransitionTime", c->lastTransitionTime);
        json_array_append_new(a, o);
    }
    return a;
}

static void dec_condition(dec *d, void *arg)
{
    api_conditions *cs = arg;
    api_condition c = {0};
    bool ok = false;
    const json_t *st = json_object_get(d->o, "status");

    c.type = dec_str(d, "type");
    if (!c.type)
        dec_problem(d, "type", "is required");
    c.status = cond_status_parse(json_is_string(st) ? json_string_value(st) : NULL, &ok);
    if (!ok)
        dec_problem(d, "status", "must be True, False or Unknown");
    c.reason = dec_str(d, "reason");
    c.message = dec_str(d, "message");
    c.lastTransitionTime = dec_int(d, "lastTransitionTime", 0);
    cs->v = xrealloc(cs->v, (cs->n + 1) * sizeof(*cs->v));
    cs->v[cs->n++] = c;
}

json_t *api_conditions_to_json(const api_conditions *cs)
{
    return conditions_json(cs);
}

size_t api_conditions_from_json(const json_t *obj, const char *prefix, api_conditions *out,
                                api_problems *probs)
{
    dec d = {obj, prefix, probs, 0};
    dec_each(&d, "conditions", dec_condition, out);
    return d.n;
}

/* ---- request status -------------------------------------------------------------- */

static void dec_failure_mark(dec *d, void *arg)
{
    api_request_status *s = arg;
    api_failure_mark m = {0};

    m.taskId = dec_str(d, "taskId");
    if (!m.taskId)
        dec_problem(d, "taskId", "is required");
    m.at = dec_int(d, "at", 0);
    s->recentFailures = xrealloc(s->recentFailures, (s->n_recentFailures + 1) * sizeof(m));
    s->recentFailures[s->n_recentFailures++] = m;
}

size_t api_request_status_from_json(const json_t *j, api_request_status *out, const char *prefix,
                                    api_problems *probs)
{
    dec d = {j, prefix, probs, 0};

    memset(out, 0, sizeof(*out));
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix ? prefix : "", "must be an object");
        return 1;
    }
    out->requestId = dec_str(&d, "requestId");
    if (!out->requestId)
        dec_problem(&d, "requestId", "is required");
    out->state = dec_enum(&d, "state", rstate_names, NAMES_N(rstate_names), true);
    out->activeDeployId = dec_str(&d, "activeDeployId");
    out->pendingDeployId = dec_str(&d, "pendingDeployId");
    out->observedRevision = dec_int(&d, "observedRevision", 0);

    const json_t *c = json_object_get(j, "counts");
    if (c && !json_is_null(c)) {
        if (!json_is_object(c)) {
            dec_problem(&d, "counts", "must be an object");
        } else {
            char *p = api_path_join(prefix ? prefix : "", "counts");
            dec cd = {c, p, probs, 0};
            out->counts.instances = (int)dec_int(&cd, "instances", 0);
            out->counts.pending = (int)dec_int(&cd, "pending", 0);
            out->counts.launching = (int)dec_int(&cd, "launching", 0);
            out->counts.running = (int)dec_int(&cd, "running", 0);
            out->counts.healthy = (int)dec_int(&cd, "healthy", 0);
            out->counts.cleaning = (int)dec_int(&cd, "cleaning", 0);
            d.n += cd.n;
            free(p);
        }
    }
    dec_each(&d, "conditions", dec_condition, &out->conditions);
    out->cooldownSince = dec_int(&d, "cooldownSince", 0);
    dec_each(&d, "recentFailures", dec_failure_mark, out);
    out->bounceRequested = dec_int(&d, "bounceRequested", 0);
    out->bounceStartedAt = dec_int(&d, "bounceStartedAt", 0);
    out->lastBounce = dec_int(&d, "lastBounce", 0);
    out->updatedAt = dec_int(&d, "updatedAt", 0);
    return d.n;
}

json_t *api_request_status_to_json(const api_request_status *s)
{
    json_t *o = json_object();
    json_t *c = json_object();
    json_t *f = json_array();

    put_str(o, "requestId", s->requestId);
    put_str(o, "state", api_request_state_name(s->state));
    put_str(o, "activeDeployId", s->activeDeployId);
    put_str(o, "pendingDeployId", s->pendingDeployId);
    put_int(o, "observedRevision", s->observedRevision);
    put_int(c, "instances", s->counts.instances);
    put_int(c, "pending", s->counts.pending);
    put_int(c, "launching", s->counts.launching);
    put_int(c, "running", s->counts.running);
    put_int(c, "healthy", s->counts.healthy);
    put_int(c, "cleaning", s->counts.cleaning);
    json_object_set_new(o, "counts", c);
    json_object_set_new(o, "conditions", conditions_json(&s->conditions));
    put_int(o, "cooldownSince", s->cooldownSince);
    for (size_t i = 0; i < s->n_recentFailures; i++) {
        json_t *m = json_object();
        put_str(m, "taskId", s->recentFailures[i].taskId);
        put_int(m, "at", s->recentFailures[i].at);
        json_array_append_new(f, m);
    }
    json_object_set_new(o, "recentFailures", f);
    put_int(o, "bounceRequested", s->bounceRequested);
    put_int(o, "bounceStartedAt", s->bounceStartedAt);
    put_int(o, "lastBounce", s->lastBounce);
    put_int(o, "updatedAt", s->updatedAt);
    return o;
}

void api_request_status_copy(api_request_status *dst, const api_request_status *src)
{
    *dst = *src;
    dst->requestId = xstrdup(src->requestId);
    dst->activeDeployId = xstrdup(src->activeDeployId);
    dst->pendingDeployId = xstrdup(src->pendingDeployId);
    api_conditions_copy(&dst->conditions, &src->conditions);
    dst->recentFailures = NULL;
    if (src->n_recentFailures) {
        dst->recentFailures = xcalloc(src->n_recentFailures, sizeof(*dst->recentFailures));
        for (size_t i = 0; i < src->n_recentFailures; i++) {
            dst->recentFailures[i].taskId = xstrdup(src->recentFailures[i].taskId);
            dst->recentFailures[i].at = src->recentFailures[i].at;
        }
    }
}

static bool json_equal_ignoring(json_t *a, json_t *b, const char *field)
{
    json_object_del(a, field);
    json_object_del(b, field);
    bool eq = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Field by field: every service pass compares, and two JSON trees a pass
 * were a few percent of the loop at 100,000 tasks. Each field below is
 * encoded as it is (put_str, put_int), so the fields differ exactly when
 * the encodings do; the conditions go through their one encoder. */
bool api_request_status_equal(const api_request_status *a, const api_request_status *b)
{
    const api_task_counts *x = &a->counts, *y = &b->counts;
    bool eq;

    if (!str_same(a->requestId, b->requestId) ||
        !str_same(api_request_state_name(a->state), api_request_state_name(b->state)) ||
        !str_same(a->activeDeployId, b->activeDeployId) ||
        !str_same(a->pendingDeployId, b->pendingDeployId) ||
        a->observedRevision != b->observedRevision || x->instances != y->instances ||
        x->pending != y->pending || x->launching != y->launching || x->running != y->running ||
        x->healthy != y->healthy || x->cleaning != y->cleaning ||
        a->cooldownSince != b->cooldownSince || a->n_recentFailures != b->n_recentFailures ||
        a->bounceRequested != b->bounceRequested || a->bounceStartedAt != b->bounceStartedAt ||
        a->lastBounce != b->lastBounce)
        return false;
    for (size_t i = 0; i < a->n_recentFailures; i++)
        if (!str_same(a->recentFailures[i].taskId, b->recentFailures[i].taskId) ||
            a->recentFailures[i].at != b->recentFailures[i].at)
            return false;
    if (a->conditions.n != b->conditions.n)
        return false;
    json_t *ca = conditions_json(&a->conditions), *cb = conditions_json(&b->conditions);
    eq = json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return eq;
}

void api_request_status_release(api_request_status *s)
{
    free(s->requestId);
    free(s->activeDeployId);
    free(s->pendingDeployId);
    api_conditions_release(&s->conditions);
    for (size_t i = 0; i < s->n_recentFailures; i++)
        free(s->recentFailures[i].taskId);
    free(s->recentFailures);
    memset(s, 0, sizeof(*s));
}

/* ---- deploy status ---------------------------------------------------------------- */

static void dec_deploy_failure(dec *d, void *arg)
{
    api_deploy_status *s = arg;
    api_deploy_failure f = {0};

    f.reason = dec_enum(d, "reason", dfail_names, NAMES_N(dfail_names), true);
    f.taskId = dec_str(d, "taskId");
    f.message = dec_str(d, "message");
    s->failures = xrealloc(s->failures, (s->n_failures + 1) * sizeof(f));
    s->failures[s->n_failures++] = f;
}

size_t api_deploy_status_from_json(const json_t *j, api_deploy_status *out, const char *prefix,
                                   api_problems *probs)
{
    dec d = {j, prefix, probs, 0};

    memset(out, 0, sizeof(*out));
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix ? prefix : "", "must be an object");
        return 1;
    }
    out->requestId = dec_str(&d, "requestId");
    if (!out->requestId)
        dec_problem(&d, "requestId", "is required");
    out->deployId = dec_str(&d, "deployId");
    if (!out->deployId)
        dec_problem(&d, "deployId", "is required");
    out->state = dec_enum(&d, "state", dstate_names, NAMES_N(dstate_names), true);
    out->message = dec_str(&d, "message");
    out->startedAt = dec_int(&d, "startedAt", 0);
    out->finishedAt = dec_int(&d, "finishedAt", 0);
    out->targetActiveInstances = (int)dec_int(&d, "targetActiveInstances", 0);
    out->acceptedInstances = (int)dec_int(&d, "acceptedInstances", 0);
    out->step = (int)dec_int(&d, "step", 0);
    out->stepStartedAt = dec_int(&d, "stepStartedAt", 0);
    out->stepHealthyAt = dec_int(&d, "stepHealthyAt", 0);
    out->healthyTasks = (int)dec_int(&d, "healthyTasks", 0);
    dec_each(&d, "failures", dec_deploy_failure, out);
    out->updatedAt = dec_int(&d, "updatedAt", 0);
    return d.n;
}

json_t *api_deploy_status_to_json(const api_deploy_status *s)
{
    json_t *o = json_object();
    json_t *f = json_array();

    put_str(o, "requestId", s->requestId);
    put_str(o, "deployId", s->deployId);
    put_str(o, "state", api_deploy_state_name(s->state));
    put_str(o, "message", s->message);
    put_int(o, "startedAt", s->startedAt);
    put_int(o, "finishedAt", s->finishedAt);
    put_int(o, "targetActiveInstances", s->targetActiveInstances);
    put_int(o, "acceptedInstances", s->acceptedInstances);
    put_int(o, "step", s->step);
    put_int(o, "stepStartedAt", s->stepStartedAt);
    put_int(o, "stepHealthyAt", s->stepHealthyAt);
    put_int(o, "healthyTasks", s->healthyTasks);
    for (size_t i = 0; i < s->n_failures; i++) {
        json_t *m = json_object();
        put_str(m, "reason", api_deploy_failure_reason_name(s->failures[i].reason));
        put_str(m, "taskId", s->failures[i].taskId);
        put_str(m, "message", s->failures[i].message);
        json_array_append_new(f, m);
    }
    json_object_set_new(o, "failures", f);
    put_int(o, "updatedAt", s->updatedAt);
    return o;
}

void api_deploy_status_copy(api_deploy_status *dst, const api_deploy_status *src)
{
    *dst = *src;
    dst->requestId = xstrdup(src->requestId);
    dst->deployId = xstrdup(src->deployId);
    dst->message = xstrdup(src->message);
    dst->failures = NULL;
    if (src->n_failures) {
        dst->failures = xcalloc(src->n_failures, sizeof(*dst->failures));
        for (size_t i = 0; i < src->n_failures; i++) {
            dst->failures[i].reason = src->failures[i].reason;
            dst->failures[i].taskId = xstrdup(src->failures[i].taskId);
            dst->failures[i].message = xstrdup(src->failures[i].message);
        }
    }
}

bool api_deploy_status_equal(const api_deploy_status *a, const api_deploy_status *b)
{
    return json_equal_ignoring(api_deploy_status_to_json(a), api_deploy_status_to_json(b),
                               "updatedAt");
}

bool api_deploy_status_add_failure(api_deploy_status *s, api_deploy_failure_reason reason,
                                   const char *taskId, const char *message)
{
    for (size_t i = 0; taskId && i < s->n_failures; i++)
        if (str_eq(s->failures[i].taskId, taskId))
            return false;
    if (s->n_failures >= API_STATUS_MAX_FAILURES) {
        /* Keep the newest: the oldest entry makes room. */
        free(s->failures[0].taskId);
        free(s->failures[0].message);
        memmove(s->failures, s->failures + 1, (s->n_failures - 1) * sizeof(*s->failures));
        s->n_failures--;
    }
    s->failures = xrealloc(s->failures, (s->n_failures + 1) * sizeof(*s->failures));
    s->failures[s->n_failures].reason = reason;
    s->failures[s->n_failures].taskId = xstrdup(taskId);
    s->failures[s->n_failures].message = xstrdup(message);
    s->n_failures++;
    return true;
}

void api_deploy_status_release(api_deploy_status *s)
{
    free(s->requestId);
    free(s->deployId);
    free(s->message);
    for (size_t i = 0; i < s->n_failures; i++) {
        free(s->failures[i].taskId);
        free(s->failures[i].message);
    }
    free(s->failures);
    memset(s, 0, sizeof(*s));
}

/* ---- keys --------------------------------------------------------------------------- */

char *api_request_status_key(const char *prefix, const char *requestId)
{
    return api_key_request_status(prefix, requestId);
}

char *api_deploy_status_key(const char *prefix, const char *requestId, const char *deployId)
{
    return api_key_deploy_status(prefix, requestId, deployId);
}

/* ---- jobs and placement: table-driven (apis/codec.h) -------------------------------- */

static const char *const task_state_names[] = {NULL,
#define API_TASK_STATE_NAME(e, name, term) name,
                                               API_TASK_STATES(API_TASK_STATE_NAME)
#undef API_TASK_STATE_NAME
};
/* api_task_state counts from 0 (TASK_LAUNCHED); NONE (-1) is unset. */
static const api_enum task_state_enum = {task_state_names, API_TASK_STATE__COUNT, NULL,
                                         API_TASK_STATE_NONE};

#define JR api_job_result
static const api_field job_result_fields[] = {
    API_FS(JR, taskId),
    API_FS(JR, deployId),
    API_FS(JR, runId),
    API_FS(JR, pendingType),
    API_FL_ALWAYS(JR, fireAt),
    API_FL_ALWAYS(JR, startedAt),
    API_FL_ALWAYS(JR, finishedAt),
    API_FL_ALWAYS(JR, durationMillis),
    API_FEN(JR, state, task_state_enum),
    API_FI(JR, exitCode),
    API_FB_ALWAYS(JR, success),
    API_FB_ALWAYS(JR, retried),
    API_FI_ALWAYS(JR, attempt),
    API_FS(JR, message),
};
static const api_codec job_result_codec = API_CODEC(JR, "result", job_result_fields);
#undef JR

#define JS api_job_status
static const api_field job_status_fields[] = {
    API_FS(JS, requestId),
    API_FS(JS, schedule),
    API_FL_ALWAYS(JS, nextFireAt),
    API_FL_ALWAYS(JS, lastFireAt),
    API_FI_ALWAYS(JS, retries),
    API_FL_ALWAYS(JS, runsLaunched),
    API_FL_ALWAYS(JS, tasksLaunched),
    API_FL_ALWAYS(JS, runsSucceeded),
    API_FL_ALWAYS(JS, runsFailed),
    API_FL_ALWAYS(JS, missedRuns),
    API_FL_ALWAYS(JS, lastMissedAt),
    API_FS(JS, lastMissedReason),
    API_FEM(JS, lastRun, job_result_codec),
};
static const api_codec job_status_codec = API_CODEC(JS, "job status", job_status_fields);
#undef JS

#define RS api_run_status
static const api_field run_status_fields[] = {
    API_FS(RS, requestId),      API_FS(RS, runId),
    API_FS(RS, state),          API_FS(RS, taskId),
    API_FI_ALWAYS(RS, retries), API_FL_ALWAYS(RS, queuedAt),
    API_FS(RS, message),        API_FEM(RS, result, job_result_codec),
};
static const api_codec run_status_codec = API_CODEC(RS, "run status", run_status_fields);
#undef RS

#define PR api_place_reason
static const api_field place_reason_fields[] = {
    API_FS(PR, reason),
    API_FS(PR, message),
    API_FL(PR, since),
    API_FL(PR, offers),
};
static const api_codec place_reason_codec = API_CODEC(PR, "placement reason", place_reason_fields);
#undef PR

/* Decodes object j with codec c into obj (set up by the caller), keeping
 * unknown fields: these documents may come from a newer leader. */
static size_t decode_lenient(const api_codec *c, const json_t *j, void *obj, const char *prefix,
                             api_problems *probs)
{
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix ? prefix : "", "must be an object");
        return 1;
    }
    return api_codec_decode(c, j, obj, prefix ? prefix : "", true, probs);
}

/* Reports field `name` of object j at prefix when it is absent or null (a
 * value of the wrong type was already reported by the codec). */
static size_t require(const json_t *j, const char *name, const char *prefix, api_problems *probs)
{
    const json_t *v = json_object_get(j, name);
    if (!json_is_object(j) || (v && !json_is_null(v)))
        return 0;
    char *p = api_path_join(prefix ? prefix : "", name);
    api_problems_add(probs, p, "is required");
    free(p);
    return 1;
}

static json_t *extra_copy(const json_t *extra)
{
    return extra ? json_deep_copy(extra) : NULL;
}

void api_job_result_init(api_job_result *r)
{
    memset(r, 0, sizeof(*r));
    r->state = API_TASK_STATE_NONE;
}

void api_job_result_copy(api_job_result *dst, const api_job_result *src)
{
    *dst = *src;
    dst->taskId = xstrdup(src->taskId);
    dst->deployId = xstrdup(src->deployId);
    dst->runId = xstrdup(src->runId);
    dst->pendingType = xstrdup(src->pendingType);
    dst->message = xstrdup(src->message);
    dst->extra = extra_copy(src->extra);
}

void api_job_result_release(api_job_result *r)
{
    api_codec_release(&job_result_codec, r);
    api_job_result_init(r);
}

void api_job_status_init(api_job_status *s)
{
    memset(s, 0, sizeof(*s));
    api_job_result_init(&s->lastRun);
}

size_t api_job_status_from_json(const json_t *j, api_job_status *out, const char *prefix,
                                api_problems *probs)
{
    api_job_status_init(out);
    return decode_lenient(&job_status_codec, j, out, prefix, probs);
}

json_t *api_job_status_to_json(const api_job_status *s)
{
    return api_codec_encode(&job_status_codec, s);
}

void api_job_status_copy(api_job_status *dst, const api_job_status *src)
{
    *dst = *src;
    dst->requestId = xstrdup(src->requestId);
    dst->schedule = xstrdup(src->schedule);
    dst->lastMissedReason = xstrdup(src->lastMissedReason);
    api_job_result_copy(&dst->lastRun, &src->lastRun);
    dst->extra = extra_copy(src->extra);
}

void api_job_status_release(api_job_status *s)
{
    api_codec_release(&job_status_codec, s);
    api_job_status_init(s);
}

void api_run_status_init(api_run_status *s)
{
    memset(s, 0, sizeof(*s));
    api_job_result_init(&s->result);
}

size_t api_run_status_from_json(const json_t *j, api_run_status *out, const char *prefix,
                                api_problems *probs)
{
    size_t n;

    api_run_status_init(out);
    n = decode_lenient(&run_status_codec, j, out, prefix, probs);
    return n + require(j, "runId", prefix, probs);
}

json_t *api_run_status_to_json(const api_run_status *s)
{
    return api_codec_encode(&run_status_codec, s);
}

void api_run_status_copy(api_run_status *dst, const api_run_status *src)
{
    *dst = *src;
    dst->requestId = xstrdup(src->requestId);
    dst->runId = xstrdup(src->runId);
    dst->state = xstrdup(src->state);
    dst->taskId = xstrdup(src->taskId);
    dst->message = xstrdup(src->message);
    api_job_result_copy(&dst->result, &src->result);
    dst->extra = extra_copy(src->extra);
}

void api_run_status_release(api_run_status *s)
{
    api_codec_release(&run_status_codec, s);
    api_run_status_init(s);
}

size_t api_place_reason_from_json(const json_t *j, api_place_reason *out, const char *prefix,
                                  api_problems *probs)
{
    size_t n;

    memset(out, 0, sizeof(*out));
    n = decode_lenient(&place_reason_codec, j, out, prefix, probs);
    n += require(j, "reason", prefix, probs);
    if (out->reason && !*out->reason) {
        char *p = api_path_join(prefix ? prefix : "", "reason");
        api_problems_add(probs, p, "must not be empty");
        free(p);
        n++;
    }
    return n;
}

json_t *api_place_reason_to_json(const api_place_reason *r)
{
    return api_codec_encode(&place_reason_codec, r);
}

void api_place_reason_release(api_place_reason *r)
{
    api_codec_release(&place_reason_codec, r);
    memset(r, 0, sizeof(*r));
}

/* ---- the Mesos framework and the bridge's status --------------------------------- */

#define FW api_framework
static const api_field framework_fields[] = {
    API_FS(FW, frameworkId),
    API_FL(FW, updatedAt),
};
static const api_codec framework_codec = API_CODEC(FW, "framework", framework_fields);
#undef FW

size_t api_framework_from_json(const json_t *j, api_framework *out, const char *prefix,
                               api_problems *probs)
{
    size_t n;

    memset(out, 0, sizeof(*out));
    n = decode_lenient(&framework_codec, j, out, prefix, probs);
    if (!json_is_object(j))
        return n;
    n += require(j, "frameworkId", prefix, probs);
    if (out->frameworkId && !api_key_id_valid(out->frameworkId)) {
        char *p = api_path_join(prefix ? prefix : "", "frameworkId");
        api_problems_add(probs, p, "must be a Mesos framework id (printable, no spaces or '/')");
        free(p);
        n++;
    }
    return n;
}

json_t *api_framework_to_json(const api_framework *f)
{
    return api_codec_encode(&framework_codec, f);
}

void api_framework_release(api_framework *f)
{
    api_codec_release(&framework_codec, f);
    memset(f, 0, sizeof(*f));
}

size_t api_framework_status_from_json(const json_t *j, api_framework_status *out,
                                      const char *prefix, api_problems *probs)
{
    dec d = {j, prefix, probs, 0};

    memset(out, 0, sizeof(*out));
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix ? prefix : "", "must be an object");
        return 1;
    }
    out->state = dec_str(&d, "state");
    if (!out->state)
        dec_problem(&d, "state", "is required");
    out->frameworkId = dec_str(&d, "frameworkId");
    out->master = dec_str(&d, "master");
    out->message = dec_str(&d, "message");
    out->observedRevision = dec_int(&d, "observedRevision", 0);
    dec_each(&d, "conditions", dec_condition, &out->conditions);
    out->updatedAt = dec_int(&d, "updatedAt", 0);
    return d.n;
}

json_t *api_framework_status_to_json(const api_framework_status *s)
{
    json_t *o = json_object();

    put_str(o, "state", s->state);
    put_str(o, "frameworkId", s->frameworkId);
    put_str(o, "master", s->master);
    put_str(o, "message", s->message);
    put_int(o, "observedRevision", s->observedRevision);
    json_object_set_new(o, "conditions", conditions_json(&s->conditions));
    put_int(o, "updatedAt", s->updatedAt);
    return o;
}

bool api_framework_status_equal(const api_framework_status *a, const api_framework_status *b)
{
    return json_equal_ignoring(api_framework_status_to_json(a), api_framework_status_to_json(b),
                               "updatedAt");
}

void api_framework_status_release(api_framework_status *s)
{
    free(s->state);
    free(s->frameworkId);
    free(s->master);
    free(s->message);
    api_conditions_release(&s->conditions);
    memset(s, 0, sizeof(*s));
}
