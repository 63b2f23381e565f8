/* apis lb: see lb.h. */
#include "apis/lb.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void api_lb_upstream_add(api_lb_upstream **v, size_t *n, const char *task_id,
                         const char *upstream, int64_t at)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (api_lb_upstream){xstrdup(task_id), upstream ? xstrdup(upstream) : NULL, at};
    (*n)++;
}

const api_lb_upstream *api_lb_upstream_find(const api_lb_upstream *v, size_t n,
                                            const char *task_id)
{
    for (size_t i = 0; task_id && i < n; i++)
        if (v[i].taskId && strcmp(v[i].taskId, task_id) == 0)
            return &v[i];
    return NULL;
}

static void list_release(api_lb_upstream *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].taskId);
        free(v[i].upstream);
    }
    free(v);
}

void api_lb_status_release(api_lb_status *s)
{
    if (!s)
        return;
    free(s->requestId);
    free(s->loadBalancerRequestId);
    free(s->provider);
    free(s->state);
    free(s->message);
    list_release(s->upstreams, s->n_upstreams);
    list_release(s->removed, s->n_removed);
    list_release(s->pending, s->n_pending);
    memset(s, 0, sizeof(*s));
}

/* An optional string member: 0 (copied into *dst, or left NULL), -1 if it
 * is there and not a string. */
static int opt_str(const json_t *j, const char *name, char **dst, cr_err *err)
{
    const json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return cr_error(err, CR_EINVAL, "lb status: %s: must be a string", name);
    *dst = xstrdup(json_string_value(v));
    return 0;
}

static int list_from_json(const json_t *j, const char *name, api_lb_upstream **v, size_t *n,
                          cr_err *err)
{
    const json_t *a = json_object_get(j, name);
    size_t i;
    const json_t *e;

    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return cr_error(err, CR_EINVAL, "lb status: %s: must be an array", name);
    json_array_foreach(a, i, e)
    {
        const json_t *tid = json_object_get(e, "taskId");
        const json_t *up = json_object_get(e, "upstream");
        const json_t *at = json_object_get(e, "at");
        if (!json_is_string(tid) || (up && !json_is_string(up)) || (at && !json_is_integer(at)))
            return cr_error(err, CR_EINVAL,
                            "lb status: %s[%zu]: needs taskId (string), upstream (string), "
                            "at (integer)",
                            name, i);
        api_lb_upstream_add(v, n, json_string_value(tid), json_string_value(up),
                            at ? json_integer_value(at) : 0);
    }
    return 0;
}

int api_lb_status_from_json(const json_t *j, api_lb_status *out, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return cr_error(err, CR_EINVAL, "lb status: not a JSON object");
    const json_t *ua = json_object_get(j, "updatedAt");
    if (opt_str(j, "requestId", &out->requestId, err) < 0 ||
        opt_str(j, "loadBalancerRequestId", &out->loadBalancerRequestId, err) < 0 ||
        opt_str(j, "provider", &out->provider, err) < 0 ||
        opt_str(j, "state", &out->state, err) < 0 ||
        opt_str(j, "message", &out->message, err) < 0 ||
        list_from_json(j, "upstreams", &out->upstreams, &out->n_upstreams, err) < 0 ||
        list_from_json(j, "removed", &out->removed, &out->n_removed, err) < 0 ||
        list_from_json(j, "pending", &out->pending, &out->n_pending, err) < 0)
        goto fail;
    if (ua && !json_is_integer(ua)) {
        cr_error(err, CR_EINVAL, "lb status: updatedAt: must be an integer");
        goto fail;
    }
    out->updatedAt = ua ? json_integer_value(ua) : 0;
    return 0;
fail:
    api_lb_status_release(out);
    return -1;
}

static json_t *list_to_json(const api_lb_upstream *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s?, s:I}", "taskId", v[i].taskId, "upstream",
                                           v[i].upstream, "at", (json_int_t)v[i].at));
    return a;
}

static void set_str(json_t *o, const char *name, const char *v)
{
    json_object_set_new(o, name, v ? json_string(v) : json_null());
}

json_t *api_lb_status_to_json(const api_lb_status *s)
{
    json_t *o = json_object();
    set_str(o, "requestId", s->requestId);
    set_str(o, "loadBalancerRequestId", s->loadBalancerRequestId);
    set_str(o, "provider", s->provider);
    set_str(o, "state", s->state);
    set_str(o, "message", s->message);
    json_object_set_new(o, "upstreams", list_to_json(s->upstreams, s->n_upstreams));
    json_object_set_new(o, "removed", list_to_json(s->removed, s->n_removed));
    if (s->n_pending || (s->state && !strcmp(s->state, "WAITING")))
        json_object_set_new(o, "pending", list_to_json(s->pending, s->n_pending));
    json_object_set_new(o, "updatedAt", json_integer(s->updatedAt));
    return o;
}
