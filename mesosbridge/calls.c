/* Scheduler call encoders; see calls.h. */
#include "mesosbridge/calls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

static json_t *idv(const char *v)
{
    return json_pack("{s:s}", "value", v ? v : "");
}

static json_t *call(const char *type, const char *framework_id)
{
    json_t *c = json_object();
    json_object_set_new(c, "type", json_string(type));
    if (framework_id)
        json_object_set_new(c, "framework_id", idv(framework_id));
    return c;
}

static json_t *strs(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *mb_call_subscribe(const mb_framework_info *fi, const char *framework_id,
                          const char *const *suppressed)
{
    json_t *c = call("SUBSCRIBE", framework_id);
    json_t *f = json_object();
    if (framework_id)
        json_object_set_new(f, "id", idv(framework_id));
    json_object_set_new(f, "user", json_string(fi->user ? fi->user : ""));
    json_object_set_new(f, "name", json_string(fi->name ? fi->name : "corral"));
    if (fi->hostname)
        json_object_set_new(f, "hostname", json_string(fi->hostname));
    if (fi->webui_url)
        json_object_set_new(f, "webui_url", json_string(fi->webui_url));
    if (fi->principal)
        json_object_set_new(f, "principal", json_string(fi->principal));
    json_object_set_new(
        f, "failover_timeout",
        json_real(fi->failover_timeout > 0 ? fi->failover_timeout : MB_DEFAULT_FAILOVER_TIMEOUT_S));
    json_object_set_new(f, "checkpoint", json_boolean(!fi->no_checkpoint));
    if (fi->roles && fi->roles[0])
        json_object_set_new(f, "roles", strs(fi->roles));
    else
        json_object_set_new(f, "roles", json_pack("[s]", "*"));
    json_object_set_new(f, "capabilities",
                        json_pack("[{s:s},{s:s},{s:s}]", "type", "MULTI_ROLE", "type",
                                  "PARTITION_AWARE", "type", "TASK_KILLING_STATE"));
    json_t *s = json_object();
    json_object_set_new(s, "framework_info", f);
    json_object_set_new(s, "suppressed_roles", strs(suppressed));
    json_object_set_new(c, "subscribe", s);
    return c;
}

static json_t *offer_ids(const char *const *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, idv(ids[i]));
    return a;
}

char *mb_call_accept_text(const char *framework_id, const char *const *ids, size_t n,
                          const char *const *tis, const size_t *lens, size_t n_tis,
                          double refuse_seconds)
{
    /* the call with an empty task_infos, then the texts where it is: the
     * marker cannot occur inside a string (its quotes would be escaped) */
    static const char mark[] = "\"task_infos\":[]";
    json_t *c = call("ACCEPT", framework_id);
    json_t *a = json_object();
    json_object_set_new(a, "offer_ids", offer_ids(ids, n));
    json_t *ops = json_array();
    if (n_tis)
        json_array_append_new(
            ops, json_pack("{s:s,s:{s:[]}}", "type", "LAUNCH", "launch", "task_infos"));
    json_object_set_new(a, "operations", ops);
    if (refuse_seconds >= 0)
        json_object_set_new(a, "filters", json_pack("{s:f}", "refuse_seconds", refuse_seconds));
    json_object_set_new(c, "accept", a);
    char *skel = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *at = n_tis ? strstr(skel, mark) : NULL;
    if (!at)
        return skel;
    size_t head = (size_t)(at - skel) + sizeof(mark) - 2; /* up to and with the '[' */
    cr_buf b = CR_BUF_INIT;
    cr_buf_add(&b, skel, head);
    for (size_t i = 0; i < n_tis; i++) {
        if (i)
            cr_buf_addch(&b, ',');
        cr_buf_add(&b, tis[i], lens[i]);
    }
    cr_buf_adds(&b, skel + head);
    free(skel);
    return cr_buf_detach(&b, NULL);
}

json_t *mb_call_decline(const char *framework_id, const char *const *ids, size_t n,
                        double refuse_seconds)
{
    json_t *c = call("DECLINE", framework_id);
    json_t *d = json_object();
    json_object_set_new(d, "offer_ids", offer_ids(ids, n));
    if (refuse_seconds >= 0)
        json_object_set_new(d, "filters", json_pack("{s:f}", "refuse_seconds", refuse_seconds));
    json_object_set_new(c, "decline", d);
    return c;
}

json_t *mb_call_revive(const char *framework_id, const char *const *roles)
{
    json_t *c = call("REVIVE", framework_id);
    /* the field is the repeated "roles", never "role" (sheet 9.2) */
    json_object_set_new(c, "revive", json_pack("{s:o}", "roles", strs(roles)));
    return c;
}

json_t *mb_call_suppress(const char *framework_id, const char *const *roles)
{
    json_t *c = call("SUPPRESS", framework_id);
    json_object_set_new(c, "suppress", json_pack("{s:o}", "roles", strs(roles)));
    return c;
}

static json_t *duration_ns(int64_t ms)
{
    return json_pack("{s:I}", "nanoseconds", (json_int_t)ms * 1000000);
}

json_t *mb_call_kill(const char *framework_id, const char *task_id, const char *agent_id,
                     int64_t grace_ms)
{
    json_t *c = call("KILL", framework_id);
    json_t *k = json_object();
    json_object_set_new(k, "task_id", idv(task_id));
    if (agent_id)
        json_object_set_new(k, "agent_id", idv(agent_id));
    if (grace_ms >= 0)
        json_object_set_new(k, "kill_policy",
                            json_pack("{s:o}", "grace_period", duration_ns(grace_ms)));
    json_object_set_new(c, "kill", k);
    return c;
}

json_t *mb_call_message(const char *framework_id, const char *agent_id, const char *executor_id,
                        const char *data, size_t len)
{
    json_t *c = call("MESSAGE", framework_id);
    char *b = mb_base64(data, len);
    json_object_set_new(c, "message", json_pack("{s:o,s:o,s:s}", "agent_id", idv(agent_id),
                                                "executor_id", idv(executor_id), "data", b));
    free(b);
    return c;
}

json_t *mb_call_acknowledge(const char *framework_id, const char *agent_id, const char *task_id,
                            const char *uuid)
{
    json_t *c = call("ACKNOWLEDGE", framework_id);
    json_object_set_new(c, "acknowledge",
                        json_pack("{s:o,s:o,s:s}", "agent_id", idv(agent_id), "task_id",
                                  idv(task_id), "uuid", uuid ? uuid : ""));
    return c;
}

json_t *mb_call_reconcile(const char *framework_id, const mb_reconcile_task *tasks, size_t n)
{
    json_t *c = call("RECONCILE", framework_id);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "task_id", idv(tasks[i].task_id));
        if (tasks[i].agent_id)
            json_object_set_new(t, "agent_id", idv(tasks[i].agent_id));
        json_array_append_new(a, t);
    }
    json_object_set_new(c, "reconcile", json_pack("{s:o}", "tasks", a));
    return c;
}

json_t *mb_call_teardown(const char *framework_id)
{
    return call("TEARDOWN", framework_id);
}

/* ---- offer carving -------------------------------------------------------------- */

static double scalar_sum(const mb_offer_left *l, const char *name)
{
    double sum = 0;
    for (size_t i = 0; i < l->offer->n_resources; i++)
        if (l->offer->resources[i].is_scalar && !strcmp(l->offer->resources[i].name, name))
            sum += l->left[i];
    return sum;
}

static void sum_scalars(mb_offer_left *l)
{
    l->cpus = scalar_sum(l, "cpus");
    l->mem = scalar_sum(l, "mem");
    l->disk = scalar_sum(l, "disk");
}

void mb_offer_left_init(mb_offer_left *l, const mb_offer *o)
{
    memset(l, 0, sizeof(*l));
    l->offer = o;
    l->left = xcalloc(o->n_resources + 1, sizeof(double));
    for (size_t i = 0; i < o->n_resources; i++)
        l->left[i] = o->resources[i].is_scalar ? o->resources[i].scalar : 0;
    sum_scalars(l);
}

void mb_offer_left_release(mb_offer_left *l)
{
    free(l->left);
    free(l->used_ports);
    memset(l, 0, sizeof(*l));
}

double mb_offer_left_scalar(const mb_offer_left *l, const char *name)
{
    if (!strcmp(name, "cpus"))
        return l->cpus;
    if (!strcmp(name, "mem"))
        return l->mem;
    if (!strcmp(name, "disk"))
        return l->disk;
    return scalar_sum(l, name);
}

static bool port_used(const mb_offer_left *l, uint64_t p)
{
    for (size_t i = 0; i < l->n_used_ports; i++)
        if (l->used_ports[i] == p)
            return true;
    return false;
}

bool mb_offer_left_pick_ports(const mb_offer_left *l, size_t n, uint64_t *out)
{
    return mb_offer_left_pick_ports_but(l, n, NULL, 0, out);
}

static bool in_list(const uint64_t *v, size_t n, uint64_t p)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == p)
            return true;
    return false;
}

bool mb_offer_left_pick_ports_but(const mb_offer_left *l, size_t n, const uint64_t *excl,
                                  size_t n_excl, uint64_t *out)
{
    size_t got = 0;
    const mb_offer *o = l->offer;
    for (size_t i = 0; i < o->n_resources && got < n; i++) {
        const mb_resource *r = &o->resources[i];
        if (strcmp(r->name, "ports"))
            continue;
        for (size_t k = 0; k < r->n_ranges && got < n; k++)
            for (uint64_t p = r->ranges[k].begin; p <= r->ranges[k].end && got < n; p++) {
                if (!port_used(l, p) && !in_list(excl, n_excl, p))
                    out[got++] = p;
                if (p == UINT64_MAX)
                    break;
            }
    }
    return got == n;
}

/* Resource entry index holding port p, or -1. */
static long port_entry(const mb_offer *o, uint64_t p)
{
    for (size_t i = 0; i < o->n_resources; i++) {
        const mb_resource *r = &o->resources[i];
        if (strcmp(r->name, "ports"))
            continue;
        for (size_t k = 0; k < r->n_ranges; k++)
            if (p >= r->ranges[k].begin && p <= r->ranges[k].end)
                return (long)i;
    }
    return -1;
}

/* Scalars keep 3 decimal digits in Mesos; compare with that tolerance. */
#define EPS 0.0005

/* The offered resource entry as a tree (its text is our own dump). */
static json_t *raw_entry(const mb_resource *r)
{
    json_t *e = json_loads(r->raw ? r->raw : "", 0, NULL);
    if (!e) {
        fprintf(stderr, "mesosbridge: an offered %s entry is not JSON\n", r->name ? r->name : "?");
        abort();
    }
    return e;
}

static json_t *scalar_entry(const mb_resource *r, double v)
{
    json_t *e = raw_entry(r);
    json_object_set_new(e, "scalar", json_pack("{s:f}", "value", round(v * 1000) / 1000));
    return e;
}

static bool take_scalar(mb_offer_left *l, double *left, const char *name, double want, json_t *out)
{
    const mb_offer *o = l->offer;
    for (size_t i = 0; i < o->n_resources && want > EPS; i++) {
        const mb_resource *r = &o->resources[i];
        if (!r->is_scalar || strcmp(r->name, name) || left[i] <= EPS)
            continue;
        double t = left[i] < want ? left[i] : want;
        left[i] -= t;
        want -= t;
        json_array_append_new(out, scalar_entry(r, t));
    }
    return want <= EPS;
}

bool mb_offer_left_ports_free(const mb_offer_left *l, const uint64_t *ports, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (port_entry(l->offer, ports[i]) < 0 || port_used(l, ports[i]))
            return false;
    return true;
}

json_t *mb_offer_take(mb_offer_left *l, double cpus, double mem, double disk, const uint64_t *ports,
                      size_t n_ports, cr_err *err)
{
    const mb_offer *o = l->offer;
    double *left = xcalloc(o->n_resources + 1, sizeof(double));
    memcpy(left, l->left, o->n_resources * sizeof(double));
    json_t *out = json_array();
    if (!take_scalar(l, left, "cpus", cpus, out) || !take_scalar(l, left, "mem", mem, out) ||
        !take_scalar(l, left, "disk", disk, out)) {
        cr_error(err, CR_EINVAL, "offer %s: not enough cpus/mem/disk", o->id);
        goto fail;
    }
    for (size_t i = 0; i < n_ports; i++) {
        if (port_entry(o, ports[i]) < 0 || port_used(l, ports[i])) {
            cr_error(err, CR_EINVAL, "offer %s: port %llu not available", o->id,
                     (unsigned long long)ports[i]);
            goto fail;
        }
        for (size_t k = 0; k < i; k++)
            if (ports[k] == ports[i]) {
                cr_error(err, CR_EINVAL, "port %llu requested twice", (unsigned long long)ports[i]);
                goto fail;
            }
    }
    /* one ports entry per offered entry, each port as its own range */
    for (size_t i = 0; i < o->n_resources && n_ports; i++) {
        json_t *ranges = json_array();
        for (size_t k = 0; k < n_ports; k++)
            if (port_entry(o, ports[k]) == (long)i)
                json_array_append_new(ranges, json_pack("{s:I,s:I}", "begin", (json_int_t)ports[k],
                                                        "end", (json_int_t)ports[k]));
        if (!json_array_size(ranges)) {
            json_decref(ranges);
            continue;
        }
        json_t *e = raw_entry(&o->resources[i]);
        json_object_set_new(e, "ranges", json_pack("{s:o}", "range", ranges));
        json_array_append_new(out, e);
    }
    memcpy(l->left, left, o->n_resources * sizeof(double));
    sum_scalars(l);
    l->used_ports = xrealloc(l->used_ports, (l->n_used_ports + n_ports + 1) * sizeof(uint64_t));
    for (size_t i = 0; i < n_ports; i++)
        l->used_ports[l->n_used_ports++] = ports[i];
    free(left);
    return out;
fail:
    free(left);
    json_decref(out);
    return NULL;
}

/* ---- TaskInfo -------------------------------------------------------------------- */

char *mb_base64(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = xmalloc(((len + 2) / 3) * 4 + 1), *w = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        *w++ = tab[p[i] >> 2];
        *w++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *w++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *w++ = tab[p[i + 2] & 63];
    }
    if (i < len) {
        *w++ = tab[p[i] >> 2];
        if (i + 1 < len) {
            *w++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
            *w++ = tab[(p[i + 1] & 15) << 2];
        } else {
            *w++ = tab[(p[i] & 3) << 4];
            *w++ = '=';
        }
        *w++ = '=';
    }
    *w = '\0';
    return out;
}

unsigned char *mb_base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = xmalloc(n / 4 * 3 + 4);
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int v;
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=' && i + 2 >= n)
            break;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (unsigned char)(acc >> bits);
        }
    }
    out[w] = '\0';
    *len = w;
    return out;
}

static json_t *environment(const api_strmap *env)
{
    json_t *vars = json_array();
    for (size_t i = 0; env && i < env->n; i++)
        json_array_append_new(vars, json_pack("{s:s,s:s}", "name", env->v[i].key, "value",
                                              env->v[i].value ? env->v[i].value : ""));
    return json_pack("{s:o}", "variables", vars);
}

static json_t *command_info(const char *value, const api_strlist *args, bool shell,
                            bool image_argv, const api_strmap *env, const char *user,
                            const json_t *uris)
{
    json_t *c = json_object();
    if (image_argv) {
        json_t *a = json_array();
        for (size_t i = 0; args && i < args->n; i++)
            json_array_append_new(a, json_string(args->v[i]));
        json_object_set_new(c, "shell", json_false());
        if (value)
            json_object_set_new(c, "value", json_string(value));
        if (json_array_size(a))
            json_object_set_new(c, "arguments", a);
        else
            json_decref(a);
    } else if (args) {
        /* shell:false runs value with argv = arguments exactly, so
         * arguments[0] must be argv[0] (sheet 4.1) */
        json_t *a = json_array();
        json_array_append_new(a, json_string(value ? value : ""));
        for (size_t i = 0; i < args->n; i++)
            json_array_append_new(a, json_string(args->v[i]));
        json_object_set_new(c, "shell", json_false());
        json_object_set_new(c, "value", json_string(value ? value : ""));
        json_object_set_new(c, "arguments", a);
    } else {
        json_object_set_new(c, "shell", json_boolean(shell));
        json_object_set_new(c, "value", json_string(value ? value : ""));
    }
    json_object_set_new(c, "environment", environment(env));
    if (user)
        json_object_set_new(c, "user", json_string(user));
    if (uris && json_array_size(uris))
        json_object_set_new(c, "uris", json_deep_copy(uris));
    return c;
}

json_t *mb_task_info(const mb_task_spec *s)
{
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(s->name ? s->name : s->task_id));
    json_object_set_new(t, "task_id", idv(s->task_id));
    json_object_set_new(t, "agent_id", idv(s->agent_id));
    json_object_set_new(t, "resources", s->resources ? json_deep_copy(s->resources) : json_array());
    if (s->executor_cmd) {
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string("CUSTOM"));
        json_object_set_new(e, "executor_id", idv(s->executor_id ? s->executor_id : s->task_id));
        json_object_set_new(e, "name", json_string("corral-executor"));
        json_object_set_new(e, "command",
                            command_info(s->executor_cmd, NULL, true, false, s->env, s->user,
                                         s->uris));
        if (s->executor_resources && json_array_size(s->executor_resources))
            json_object_set_new(e, "resources", json_deep_copy(s->executor_resources));
        json_object_set_new(t, "executor", e);
    } else {
        json_object_set_new(t, "command",
                            command_info(s->command, s->arguments, s->shell, s->image_argv, s->env,
                                         s->user, s->uris));
    }
    if (s->container)
        json_object_set_new(t, "container", json_deep_copy(s->container));
    if (s->data) {
        char *b = mb_base64(s->data, s->data_len);
        json_object_set_new(t, "data", json_string(b));
        free(b);
    }
    if (s->kill_grace_ms >= 0)
        json_object_set_new(t, "kill_policy",
                            json_pack("{s:o}", "grace_period", duration_ns(s->kill_grace_ms)));
    if (s->labels && s->labels->n) {
        json_t *ls = json_array();
        for (size_t i = 0; i < s->labels->n; i++)
            json_array_append_new(ls,
                                  json_pack("{s:s,s:s}", "key", s->labels->v[i].key, "value",
                                            s->labels->v[i].value ? s->labels->v[i].value : ""));
        json_object_set_new(t, "labels", json_pack("{s:o}", "labels", ls));
    }
    return t;
}
