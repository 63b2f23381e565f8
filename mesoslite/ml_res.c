#include "mesoslite/ml_res.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

#define EPS 0.0005 /* half of Mesos' 0.001 scalar resolution */

static double round3(double v)
{
    double r = round(v * 1000.0) / 1000.0;
    return r == 0.0 ? 0.0 : r; /* no -0 */
}

void ml_res_init(ml_res *r)
{
    memset(r, 0, sizeof(*r));
}

void ml_res_release(ml_res *r)
{
    free(r->ports);
    ml_res_init(r);
}

void ml_res_clear(ml_res *r)
{
    r->cpus = r->mem = r->disk = r->gpus = 0;
    r->nports = 0;
}

void ml_res_copy(ml_res *dst, const ml_res *src)
{
    ml_res_clear(dst);
    dst->cpus = src->cpus;
    dst->mem = src->mem;
    dst->disk = src->disk;
    dst->gpus = src->gpus;
    for (size_t i = 0; i < src->nports; i++)
        ml_res_add_range(dst, src->ports[i].begin, src->ports[i].end);
}

static void insert_at(ml_res *r, size_t at, uint64_t b, uint64_t e)
{
    if (r->nports == r->capports) {
        r->capports = r->capports ? r->capports * 2 : 4;
        r->ports = xrealloc(r->ports, r->capports * sizeof(*r->ports));
    }
    memmove(&r->ports[at + 1], &r->ports[at], (r->nports - at) * sizeof(*r->ports));
    r->ports[at].begin = b;
    r->ports[at].end = e;
    r->nports++;
}

static void remove_at(ml_res *r, size_t at)
{
    memmove(&r->ports[at], &r->ports[at + 1], (r->nports - at - 1) * sizeof(*r->ports));
    r->nports--;
}

void ml_res_add_range(ml_res *r, uint64_t b, uint64_t e)
{
    size_t i = 0;

    if (e < b)
        return;
    while (i < r->nports && r->ports[i].end + 1 < b)
        i++;
    insert_at(r, i, b, e);
    /* Merge with the following ranges that overlap or touch. */
    while (i + 1 < r->nports && r->ports[i + 1].begin <= r->ports[i].end + 1) {
        if (r->ports[i + 1].begin < r->ports[i].begin)
            r->ports[i].begin = r->ports[i + 1].begin;
        if (r->ports[i + 1].end > r->ports[i].end)
            r->ports[i].end = r->ports[i + 1].end;
        remove_at(r, i + 1);
    }
}

uint64_t ml_res_port_count(const ml_res *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->nports; i++)
        n += r->ports[i].end - r->ports[i].begin + 1;
    return n;
}

bool ml_res_empty(const ml_res *r)
{
    return r->cpus < EPS && r->mem < EPS && r->disk < EPS && r->gpus < EPS && r->nports == 0;
}

static bool range_contained(const ml_res *a, uint64_t b, uint64_t e)
{
    for (size_t i = 0; i < a->nports; i++)
        if (a->ports[i].begin <= b && e <= a->ports[i].end)
            return true;
    return false;
}

bool ml_res_contains(const ml_res *a, const ml_res *b)
{
    if (a->cpus + EPS < b->cpus || a->mem + EPS < b->mem || a->disk + EPS < b->disk ||
        a->gpus + EPS < b->gpus)
        return false;
    for (size_t i = 0; i < b->nports; i++)
        if (!range_contained(a, b->ports[i].begin, b->ports[i].end))
            return false;
    return true;
}

void ml_res_add(ml_res *a, const ml_res *b)
{
    a->cpus = round3(a->cpus + b->cpus);
    a->mem = round3(a->mem + b->mem);
    a->disk = round3(a->disk + b->disk);
    a->gpus = round3(a->gpus + b->gpus);
    for (size_t i = 0; i < b->nports; i++)
        ml_res_add_range(a, b->ports[i].begin, b->ports[i].end);
}

static void sub_range(ml_res *a, uint64_t b, uint64_t e)
{
    for (size_t i = 0; i < a->nports; i++) {
        ml_range *r = &a->ports[i];
        if (r->begin <= b && e <= r->end) {
            uint64_t ob = r->begin, oe = r->end;
            remove_at(a, i);
            if (e < oe)
                insert_at(a, i, e + 1, oe);
            if (ob < b)
                insert_at(a, i, ob, b - 1);
            return;
        }
    }
}

int ml_res_sub(ml_res *a, const ml_res *b)
{
    if (!ml_res_contains(a, b))
        return -1;
    a->cpus = round3(a->cpus - b->cpus);
    a->mem = round3(a->mem - b->mem);
    a->disk = round3(a->disk - b->disk);
    a->gpus = round3(a->gpus - b->gpus);
    if (a->cpus < 0)
        a->cpus = 0;
    if (a->mem < 0)
        a->mem = 0;
    if (a->disk < 0)
        a->disk = 0;
    if (a->gpus < 0)
        a->gpus = 0;
    for (size_t i = 0; i < b->nports; i++)
        sub_range(a, b->ports[i].begin, b->ports[i].end);
    return 0;
}

static double *scalar_slot(ml_res *r, const char *name)
{
    if (strcmp(name, "cpus") == 0)
        return &r->cpus;
    if (strcmp(name, "mem") == 0)
        return &r->mem;
    if (strcmp(name, "disk") == 0)
        return &r->disk;
    if (strcmp(name, "gpus") == 0)
        return &r->gpus;
    return NULL;
}

/* Mesos accepts a number or a numeric string for uint64 fields. */
static int json_u64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(json_string_value(v), &end, 10);
        if (errno == 0 && *end == '\0' && end != json_string_value(v)) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

int ml_res_from_json(ml_res *out, const json_t *arr, cr_err *err)
{
    size_t i;
    json_t *it;

    ml_res_clear(out);
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cr_error(err, CR_EINVAL, "resources: expecting an array");
    json_array_foreach(arr, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *type = json_string_value(json_object_get(it, "type"));
        double *slot;

        if (!name || !type)
            return cr_error(err, CR_EINVAL, "resources[%zu]: 'name' and 'type' are required", i);
        if ((slot = scalar_slot(out, name))) {
            json_t *v = json_object_get(json_object_get(it, "scalar"), "value");
            if (strcmp(type, "SCALAR") != 0 || !json_is_number(v))
                return cr_error(err, CR_EINVAL, "resources[%zu]: '%s' must be a SCALAR", i, name);
            if (json_number_value(v) < 0 || !isfinite(json_number_value(v)))
                return cr_error(err, CR_EINVAL, "resources[%zu]: '%s' must not be negative", i,
                                name);
            *slot = round3(*slot + json_number_value(v));
        } else if (strcmp(name, "ports") == 0) {
            json_t *ranges = json_object_get(json_object_get(it, "ranges"), "range");
            size_t j;
            json_t *rg;
            if (strcmp(type, "RANGES") != 0 || !json_is_array(ranges))
                return cr_error(err, CR_EINVAL, "resources[%zu]: 'ports' must be RANGES", i);
            json_array_foreach(ranges, j, rg)
            {
                uint64_t b, e;
                if (json_u64(json_object_get(rg, "begin"), &b) ||
                    json_u64(json_object_get(rg, "end"), &e) || e < b)
                    return cr_error(err, CR_EINVAL, "resources[%zu].ranges.range[%zu]: bad range",
                                    i, j);
                ml_res_add_range(out, b, e);
            }
        } else {
            return cr_error(err, CR_EINVAL, "resources[%zu]: unknown resource '%s'", i, name);
        }
    }
    return 0;
}

int ml_res_from_spec(ml_res *out, const char *spec, cr_err *err)
{
    char *copy = xstrdup(spec), *save = NULL, *tok;
    int rc = -1;

    ml_res_clear(out);
    for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(tok, ':');
        double *slot;
        if (!colon) {
            cr_error(err, CR_EINVAL, "resources '%s': expecting name:value", tok);
            goto out;
        }
        *colon = '\0';
        if ((slot = scalar_slot(out, tok))) {
            char *end;
            double v = strtod(colon + 1, &end);
            if (*end || end == colon + 1 || v < 0) {
                cr_error(err, CR_EINVAL, "resources '%s': bad number '%s'", tok, colon + 1);
                goto out;
            }
            *slot = round3(v);
        } else if (strcmp(tok, "ports") == 0) {
            char *p = colon + 1;
            if (*p++ != '[') {
                cr_error(err, CR_EINVAL, "resources 'ports': expecting [begin-end,...]");
                goto out;
            }
            while (*p && *p != ']') {
                char *end;
                unsigned long long b, e;
                while (*p == ' ' || *p == ',')
                    p++;
                b = strtoull(p, &end, 10);
                if (end == p || *end != '-') {
                    cr_error(err, CR_EINVAL, "resources 'ports': bad range near '%s'", p);
                    goto out;
                }
                p = end + 1;
                e = strtoull(p, &end, 10);
                if (end == p || e < b) {
                    cr_error(err, CR_EINVAL, "resources 'ports': bad range near '%s'", p);
                    goto out;
                }
                ml_res_add_range(out, b, e);
                p = end;
                while (*p == ' ' || *p == ',')
                    p++;
            }
            if (*p != ']') {
                cr_error(err, CR_EINVAL, "resources 'ports': missing ']'");
                goto out;
            }
        } else {
            cr_error(err, CR_EINVAL, "resources: unknown resource '%s'", tok);
            goto out;
        }
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

static json_t *resource(const char *name, const char *type, json_t *value, const char *role,
                        const char *alloc_role)
{
    json_t *o = json_pack("{s:s, s:s}", "name", name, "type", type);
    json_object_set_new(o, strcmp(type, "SCALAR") == 0 ? "scalar" : "ranges", value);
    if (role)
        json_object_set_new(o, "role", json_string(role));
    if (alloc_role)
        json_object_set_new(o, "allocation_info", json_pack("{s:s}", "role", alloc_role));
    return o;
}

json_t *ml_res_to_json(const ml_res *r, const char *role, const char *alloc_role)
{
    json_t *arr = json_array();

    if (r->nports) {
        json_t *ranges = json_array();
        for (size_t i = 0; i < r->nports; i++)
            json_array_append_new(ranges,
                                  json_pack("{s:I, s:I}", "begin", (json_int_t)r->ports[i].begin,
                                            "end", (json_int_t)r->ports[i].end));
        json_array_append_new(arr, resource("ports", "RANGES", json_pack("{s:o}", "range", ranges),
                                            role, alloc_role));
    }
#define SCALAR(field)                                                                            \
    if (r->field >= EPS)                                                                         \
        json_array_append_new(arr, resource(#field, "SCALAR",                                    \
                                            json_pack("{s:f}", "value", round3(r->field)), role, \
                                            alloc_role));
    SCALAR(cpus)
    SCALAR(mem)
    SCALAR(disk)
    SCALAR(gpus)
#undef SCALAR
    return arr;
}

char *ml_res_ports_str(const ml_res *r)
{
    cr_buf b = CR_BUF_INIT;
    cr_buf_addch(&b, '[');
    for (size_t i = 0; i < r->nports; i++)
        cr_buf_addf(&b, "%s%llu-%llu", i ? ", " : "", (unsigned long long)r->ports[i].begin,
                    (unsigned long long)r->ports[i].end);
    cr_buf_addch(&b, ']');
    return cr_buf_detach(&b, NULL);
}

json_t *ml_res_to_summary(const ml_res *r)
{
    json_t *o = json_pack("{s:f, s:f, s:f, s:f}", "disk", round3(r->disk), "mem", round3(r->mem),
                          "gpus", round3(r->gpus), "cpus", round3(r->cpus));
    if (r->nports) {
        char *s = ml_res_ports_str(r);
        json_object_set_new(o, "ports", json_string(s));
        free(s);
    }
    return o;
}

int64_t ml_refuse_ms(const json_t *filters)
{
    json_t *v = json_object_get(filters, "refuse_seconds");
    double s = 5.0;

    if (json_is_number(v))
        s = json_number_value(v);
    else if (json_is_string(v))
        s = strtod(json_string_value(v), NULL);
    if (isnan(s) || s < 0)
        s = 5.0;
    if (s > 31536000.0)
        s = 31536000.0;
    return (int64_t)(s * 1000.0);
}

bool ml_filter_blocks(const ml_filter *f, const ml_res *avail, int64_t now_ms)
{
    return now_ms < f->until_ms && ml_res_contains(&f->refused, avail);
}
