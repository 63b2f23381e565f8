/* Scheduler event decoding; see events.h. */
#include "mesosbridge/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesosbridge/jsplit.h"

static const char *const type_names[] = {
    [MB_EV_UNKNOWN] = "UNKNOWN", [MB_EV_SUBSCRIBED] = "SUBSCRIBED",
    [MB_EV_OFFERS] = "OFFERS",   [MB_EV_INVERSE_OFFERS] = "INVERSE_OFFERS",
    [MB_EV_RESCIND] = "RESCIND", [MB_EV_RESCIND_INVERSE_OFFER] = "RESCIND_INVERSE_OFFER",
    [MB_EV_UPDATE] = "UPDATE",   [MB_EV_UPDATE_OPERATION_STATUS] = "UPDATE_OPERATION_STATUS",
    [MB_EV_MESSAGE] = "MESSAGE", [MB_EV_FAILURE] = "FAILURE",
    [MB_EV_ERROR] = "ERROR",     [MB_EV_HEARTBEAT] = "HEARTBEAT",
};

const char *mb_event_type_name(mb_event_type t)
{
    if ((size_t)t >= sizeof(type_names) / sizeof(type_names[0]))
        return "UNKNOWN";
    return type_names[t];
}

/* ---- small getters (borrowed JSON) ---------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* {"value": "..."} wrappers (ids). */
static char *jid(const json_t *o, const char *k)
{
    const char *v = jstr(json_object_get(o, k), "value");
    return v ? xstrdup(v) : NULL;
}

static char *jdup(const json_t *o, const char *k)
{
    const char *v = jstr(o, k);
    return v ? xstrdup(v) : NULL;
}

/* Mesos emits 64-bit integers as numbers but accepts numeric strings; be
 * tolerant of both on input. */
static bool ju64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        unsigned long long x = strtoull(s, &end, 10);
        if (end != s && !*end) {
            *out = x;
            return true;
        }
    }
    return false;
}

static double jnum(const json_t *o, const char *k, double def)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* ---- offers -------------------------------------------------------------------- */

static void resource_release(mb_resource *r)
{
    free(r->name);
    free(r->ranges);
    free(r->role);
    free(r->raw);
}

static void resource_decode(const json_t *j, mb_resource *r)
{
    const char *type = jstr(j, "type");
    r->name = jdup(j, "name");
    r->role = jdup(j, "role");
    r->raw = json_dumps(j, JSON_COMPACT);
    if (type && !strcmp(type, "SCALAR")) {
        r->is_scalar = true;
        r->scalar = jnum(json_object_get(j, "scalar"), "value", 0);
    } else if (type && !strcmp(type, "RANGES")) {
        json_t *arr = json_object_get(json_object_get(j, "ranges"), "range"), *e;
        size_t i;
        r->ranges = xcalloc(json_array_size(arr) + 1, sizeof(mb_range));
        json_array_foreach(arr, i, e)
        {
            mb_range rg;
            if (ju64(json_object_get(e, "begin"), &rg.begin) &&
                ju64(json_object_get(e, "end"), &rg.end) && rg.begin <= rg.end)
                r->ranges[r->n_ranges++] = rg;
        }
    }
}

char *mb_attr_text(const json_t *a)
{
    const char *type = jstr(a, "type");
    if (type && !strcmp(type, "TEXT"))
        return jdup(json_object_get(a, "text"), "value");
    if (type && !strcmp(type, "SCALAR")) {
        double v = jnum(json_object_get(a, "scalar"), "value", 0);
        if (v == (double)(long long)v)
            return xasprintf("%lld", (long long)v);
        return xasprintf("%g", v);
    }
    if (type && !strcmp(type, "RANGES")) {
        cr_buf b = CR_BUF_INIT;
        json_t *arr = json_object_get(json_object_get(a, "ranges"), "range"), *e;
        size_t i;
        cr_buf_addch(&b, '[');
        json_array_foreach(arr, i, e)
        {
            uint64_t lo = 0, hi = 0;
            ju64(json_object_get(e, "begin"), &lo);
            ju64(json_object_get(e, "end"), &hi);
            cr_buf_addf(&b, "%s%llu-%llu", i ? "," : "", (unsigned long long)lo,
                        (unsigned long long)hi);
        }
        cr_buf_addch(&b, ']');
        return cr_buf_detach(&b, NULL);
    }
    if (type && !strcmp(type, "SET")) {
        cr_buf b = CR_BUF_INIT;
        json_t *arr = json_object_get(json_object_get(a, "set"), "item"), *e;
        size_t i;
        cr_buf_addch(&b, '{');
        json_array_foreach(arr, i, e)
        {
            cr_buf_addf(&b, "%s%s", i ? "," : "", json_is_string(e) ? json_string_value(e) : "");
        }
        cr_buf_addch(&b, '}');
        return cr_buf_detach(&b, NULL);
    }
    return NULL;
}

static int offer_decode(const json_t *j, mb_offer *o, cr_err *err)
{
    memset(o, 0, sizeof(*o));
    o->id = jid(j, "id");
    o->framework_id = jid(j, "framework_id");
    o->agent_id = jid(j, "agent_id");
    o->hostname = jdup(j, "hostname");
    o->unavailable = json_is_object(json_object_get(j, "unavailability"));
    o->role = jdup(json_object_get(j, "allocation_info"), "role");
    if (!o->id || !o->agent_id) {
        mb_offer_release(o);
        return cr_error(err, CR_EPARSE, "offer: id and agent_id are required");
    }
    const json_t *url = json_object_get(j, "url");
    const json_t *addr = json_object_get(url, "address");
    if (addr) {
        const char *host = jstr(addr, "hostname");
        if (!host)
            host = jstr(addr, "ip");
        json_int_t port = json_integer_value(json_object_get(addr, "port"));
        const char *scheme = jstr(url, "scheme");
        if (host && port > 0)
            o->agent_url =
                xasprintf("%s://%s:%lld", scheme ? scheme : "http", host, (long long)port);
    }
    json_t *res = json_object_get(j, "resources"), *e;
    size_t i;
    o->resources = xcalloc(json_array_size(res) + 1, sizeof(mb_resource));
    json_array_foreach(res, i, e)
    {
        if (!json_is_object(e) || !jstr(e, "name"))
            continue;
        mb_resource *r = &o->resources[o->n_resources++];
        resource_decode(e, r);
        if (r->is_scalar && !strcmp(r->name, "cpus"))
            o->cpus += r->scalar;
        else if (r->is_scalar && !strcmp(r->name, "mem"))
            o->mem += r->scalar;
        else if (r->is_scalar && !strcmp(r->name, "disk"))
            o->disk += r->scalar;
        else if (!strcmp(r->name, "ports"))
            for (size_t k = 0; k < r->n_ranges; k++)
                o->nports += r->ranges[k].end - r->ranges[k].begin + 1;
    }
    json_t *attrs = json_object_get(j, "attributes");
    o->attrs = xcalloc(json_array_size(attrs) + 1, sizeof(mb_attr));
    json_array_foreach(attrs, i, e)
    {
        char *name = jdup(e, "name"), *text = mb_attr_text(e);
        if (name && text) {
            o->attrs[o->n_attrs].name = name;
            o->attrs[o->n_attrs++].text = text;
        } else {
            free(name);
            free(text);
        }
    }
    json_t *ex = json_object_get(j, "executor_ids");
    o->executor_ids = xcalloc(json_array_size(ex) + 1, sizeof(char *));
    json_array_foreach(ex, i, e)
    {
        const char *v = jstr(e, "value");
        if (v)
            o->executor_ids[o->n_executor_ids++] = xstrdup(v);
    }
    return 0;
}

void mb_offer_release(mb_offer *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->framework_id);
    free(o->agent_id);
    free(o->hostname);
    free(o->agent_url);
    free(o->role);
    for (size_t i = 0; i < o->n_resources; i++)
        resource_release(&o->resources[i]);
    free(o->resources);
    for (size_t i = 0; i < o->n_attrs; i++) {
        free(o->attrs[i].name);
        free(o->attrs[i].text);
    }
    free(o->attrs);
    for (size_t i = 0; i < o->n_executor_ids; i++)
        free(o->executor_ids[i]);
    free(o->executor_ids);
    memset(o, 0, sizeof(*o));
}

void mb_offer_copy(mb_offer *dst, const mb_offer *src)
{
    *dst = *src;
    dst->id = xstrdup(src->id);
    dst->framework_id = xstrdup(src->framework_id);
    dst->agent_id = xstrdup(src->agent_id);
    dst->hostname = xstrdup(src->hostname);
    dst->agent_url = xstrdup(src->agent_url);
    dst->role = xstrdup(src->role);
    dst->resources = xcalloc(src->n_resources + 1, sizeof(mb_resource));
    for (size_t i = 0; i < src->n_resources; i++) {
        const mb_resource *s = &src->resources[i];
        mb_resource *d = &dst->resources[i];
        *d = *s;
        d->name = xstrdup(s->name);
        d->role = xstrdup(s->role);
        d->raw = s->raw ? xstrdup(s->raw) : NULL;
        d->ranges = xcalloc(s->n_ranges + 1, sizeof(mb_range));
        if (s->n_ranges)
            memcpy(d->ranges, s->ranges, s->n_ranges * sizeof(mb_range));
    }
    dst->attrs = xcalloc(src->n_attrs + 1, sizeof(mb_attr));
    for (size_t i = 0; i < src->n_attrs; i++) {
        dst->attrs[i].name = xstrdup(src->attrs[i].name);
        dst->attrs[i].text = xstrdup(src->attrs[i].text);
    }
    dst->executor_ids = xcalloc(src->n_executor_ids + 1, sizeof(char *));
    for (size_t i = 0; i < src->n_executor_ids; i++)
        dst->executor_ids[i] = xstrdup(src->executor_ids[i]);
}

const char *mb_offer_attr(const mb_offer *o, const char *name)
{
    for (size_t i = 0; i < o->n_attrs; i++)
        if (!strcmp(o->attrs[i].name, name))
            return o->attrs[i].text;
    return NULL;
}

/* ---- status -------------------------------------------------------------------- */

static int status_decode(const json_t *j, mb_status *s, cr_err *err)
{
    memset(s, 0, sizeof(*s));
    s->state = API_TASK_STATE_NONE;
    if (!json_is_object(j))
        return cr_error(err, CR_EPARSE, "UPDATE: status is missing");
    s->task_id = jid(j, "task_id");
    s->state_name = jdup(j, "state");
    if (!s->task_id || !s->state_name) {
        mb_status_release(s);
        return cr_error(err, CR_EPARSE, "UPDATE: status.task_id and status.state are required");
    }
    s->state = api_task_state_parse(s->state_name);
    s->message = jdup(j, "message");
    s->source = jdup(j, "source");
    s->reason = jdup(j, "reason");
    s->agent_id = jid(j, "agent_id");
    s->executor_id = jid(j, "executor_id");
    s->timestamp = jnum(j, "timestamp", 0);
    s->uuid = jdup(j, "uuid");
    json_t *h = json_object_get(j, "healthy");
    if (json_is_boolean(h)) {
        s->has_healthy = true;
        s->healthy = json_is_true(h);
    }
    uint64_t ns;
    if (ju64(json_object_get(json_object_get(j, "unreachable_time"), "nanoseconds"), &ns)) {
        s->has_unreachable_ns = true;
        s->unreachable_ns = (int64_t)ns;
    }
    return 0;
}

void mb_status_release(mb_status *s)
{
    if (!s)
        return;
    free(s->task_id);
    free(s->state_name);
    free(s->message);
    free(s->source);
    free(s->reason);
    free(s->agent_id);
    free(s->executor_id);
    free(s->uuid);
    memset(s, 0, sizeof(*s));
    s->state = API_TASK_STATE_NONE;
}

int mb_exit_code_from_message(const char *message)
{
    const char *p;
    int code;
    if (!message || !(p = strstr(message, "exited with status ")))
        return -1;
    if (sscanf(p + strlen("exited with status "), "%d", &code) != 1 || code < 0 || code > 255)
        return -1;
    return code;
}

/* ---- events -------------------------------------------------------------------- */

static mb_event_type type_parse(const char *s)
{
    for (size_t i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (!strcmp(type_names[i], s))
            return (mb_event_type)i;
    return MB_EV_UNKNOWN;
}

int mb_event_decode_json(const json_t *j, mb_event *ev, cr_err *err)
{
    memset(ev, 0, sizeof(*ev));
    const char *type = jstr(j, "type");
    if (!json_is_object(j) || !type)
        return cr_error(err, CR_EPARSE, "event: not an object with a string \"type\"");
    mb_event_type t = type_parse(type);
    switch (t) {
    case MB_EV_SUBSCRIBED: {
        const json_t *s = json_object_get(j, "subscribed");
        char *fid = jid(s, "framework_id");
        if (!fid)
            return cr_error(err, CR_EPARSE, "SUBSCRIBED: subscribed.framework_id is required");
        ev->u.subscribed.framework_id = fid;
        ev->u.subscribed.heartbeat_interval_seconds = jnum(s, "heartbeat_interval_seconds", 15.0);
        const json_t *mi = json_object_get(s, "master_info");
        ev->u.subscribed.master_hostname = jdup(mi, "hostname");
        ev->u.subscribed.master_pid = jdup(mi, "pid");
        break;
    }
    case MB_EV_OFFERS: {
        json_t *arr = json_object_get(json_object_get(j, "offers"), "offers"), *e;
        size_t i;
        if (!json_is_array(arr))
            return cr_error(err, CR_EPARSE, "OFFERS: offers.offers is required");
        ev->u.offers.v = xcalloc(json_array_size(arr) + 1, sizeof(mb_offer));
        json_array_foreach(arr, i, e)
        {
            if (offer_decode(e, &ev->u.offers.v[ev->u.offers.n], err) < 0) {
                ev->type = MB_EV_OFFERS;
                mb_event_release(ev);
                return -1;
            }
            ev->u.offers.n++;
        }
        break;
    }
    case MB_EV_RESCIND: {
        char *id = jid(json_object_get(j, "rescind"), "offer_id");
        if (!id)
            return cr_error(err, CR_EPARSE, "RESCIND: rescind.offer_id is required");
        ev->u.rescind.offer_id = id;
        break;
    }
    case MB_EV_UPDATE:
        if (status_decode(json_object_get(json_object_get(j, "update"), "status"), &ev->u.update,
                          err) < 0)
            return -1;
        break;
    case MB_EV_FAILURE: {
        const json_t *f = json_object_get(j, "failure");
        json_t *st = json_object_get(f, "status");
        ev->u.failure.agent_id = jid(f, "agent_id");
        ev->u.failure.executor_id = jid(f, "executor_id");
        if (json_is_integer(st)) {
            ev->u.failure.has_status = true;
            ev->u.failure.status = (int)json_integer_value(st);
        }
        break;
    }
    case MB_EV_ERROR: {
        const json_t *e = json_object_get(j, "error");
        /* the docs show a top-level message; the code nests it (sheet 9.2) */
        const char *m = e ? jstr(e, "message") : jstr(j, "message");
        ev->u.error.message = xstrdup(m ? m : "");
        break;
    }
    case MB_EV_MESSAGE: {
        const json_t *m = json_object_get(j, "message");
        ev->u.message.agent_id = jid(m, "agent_id");
        ev->u.message.executor_id = jid(m, "executor_id");
        ev->u.message.data = jdup(m, "data");
        break;
    }
    default:
        break;
    }
    ev->type = t;
    return 0;
}

/* The offers of an OFFERS event as they stream in. */
typedef struct offers_split {
    mb_offer *v;
    size_t n, cap;
    bool bad; /* an offer did not decode (err says why); the text is still checked */
    cr_err err;
} offers_split;

static int offer_each(void *arg, size_t which, size_t i, const json_t *e, cr_err *err)
{
    offers_split *o = arg;
    if (o->bad)
        return 0;
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    if (offer_decode(e, &o->v[o->n], &o->err) < 0)
        o->bad = true;
    else
        o->n++;
    return 0;
}

int mb_event_decode(const char *data, size_t len, mb_event *ev, cr_err *err)
{
    static const char *const offers_path[] = {"offers", "offers", NULL};
    static const char *const *const paths[] = {offers_path};
    offers_split os = {0};
    cr_err perr;
    int rc;

    memset(ev, 0, sizeof(*ev));
    /* an OFFERS event for thousands of agents is megabytes as one tree: it
     * is decoded an offer at a time, and only an OFFERS event keeps them */
    json_t *j = mb_jsplit_load(data, len, paths, 1, offer_each, &os, &perr);
    if (!j)
        rc = cr_error(err, CR_EPARSE, "event: %s", cr_err_msg(&perr));
    else
        rc = mb_event_decode_json(j, ev, err);
    json_decref(j);
    if (rc == 0 && ev->type == MB_EV_OFFERS) {
        if (os.bad) {
            mb_event_release(ev);
            rc = cr_error(err, CR_EPARSE, "%s", cr_err_msg(&os.err));
        } else {
            free(ev->u.offers.v); /* the tree's array was left empty */
            ev->u.offers.v = os.v ? os.v : xcalloc(1, sizeof(mb_offer));
            ev->u.offers.n = os.n;
            os.v = NULL;
            os.n = 0;
        }
    }
    for (size_t i = 0; i < os.n; i++)
        mb_offer_release(&os.v[i]);
    free(os.v);
    return rc;
}

void mb_event_release(mb_event *ev)
{
    if (!ev)
        return;
    switch (ev->type) {
    case MB_EV_SUBSCRIBED:
        free(ev->u.subscribed.framework_id);
        free(ev->u.subscribed.master_hostname);
        free(ev->u.subscribed.master_pid);
        break;
    case MB_EV_OFFERS:
        for (size_t i = 0; i < ev->u.offers.n; i++)
            mb_offer_release(&ev->u.offers.v[i]);
        free(ev->u.offers.v);
        break;
    case MB_EV_RESCIND:
        free(ev->u.rescind.offer_id);
        break;
    case MB_EV_UPDATE:
        mb_status_release(&ev->u.update);
        break;
    case MB_EV_FAILURE:
        free(ev->u.failure.agent_id);
        free(ev->u.failure.executor_id);
        break;
    case MB_EV_ERROR:
        free(ev->u.error.message);
        break;
    case MB_EV_MESSAGE:
        free(ev->u.message.agent_id);
        free(ev->u.message.executor_id);
        free(ev->u.message.data);
        break;
    default:
        break;
    }
    memset(ev, 0, sizeof(*ev));
}
