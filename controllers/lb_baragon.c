/* The Baragon LB provider (lb.h, docs/loadbalancing.md): a change is one
 * BaragonRequest POSTed to BaragonService; its outcome is read back by id.
 * Nothing here blocks: apply starts the POST and answers "sent"; check
 * answers what the last answer said and asks again in the background. */
#include "controllers/lb.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/xalloc.h"
#include "store/map.h"

#define BARAGON_TIMEOUT_MS 10000

typedef struct change {
    struct baragon *b;
    char *id;
    cr_http_req *req; /* in flight, or NULL */
    int result;       /* 1 waiting, 0 applied, -1 failed */
    char *message;
} change;

typedef struct baragon {
    cr_http *http;
    char *url;
    store_map *changes; /* change id -> change */
} baragon;

static json_t *upstream_info(const api_lb_upstream *u, const char *change_id)
{
    return json_pack("{s:s, s:s, s:n, s:s}", "upstream", u->upstream, "requestId", change_id,
                     "rackId", "group", "default");
}

json_t *ctl_lb_baragon_request(const ctl_lb_target *t)
{
    json_t *owners = json_array(), *groups = json_array(), *add = json_array(),
           *rem = json_array();
    for (size_t i = 0; i < t->n_owners; i++)
        json_array_append_new(owners, json_string(t->owners[i]));
    for (size_t i = 0; i < t->n_groups; i++)
        json_array_append_new(groups, json_string(t->groups[i]));
    for (size_t i = 0; i < t->n_upstreams; i++)
        if (!api_lb_upstream_find(t->current, t->n_current, t->upstreams[i].taskId))
            json_array_append_new(add, upstream_info(&t->upstreams[i], t->change_id));
    for (size_t i = 0; i < t->n_current; i++)
        if (!api_lb_upstream_find(t->upstreams, t->n_upstreams, t->current[i].taskId))
            json_array_append_new(rem, upstream_info(&t->current[i], t->change_id));
    return json_pack("{s:s, s:{s:s, s:o, s:s?, s:o, s:{}}, s:o, s:o}", "loadBalancerRequestId",
                     t->change_id, "loadBalancerService", "serviceId", t->request_id, "owners",
                     owners, "serviceBasePath", t->base_path, "loadBalancerGroups", groups,
                     "options", "addUpstreams", add, "removeUpstreams", rem);
}

static void change_free(change *c)
{
    if (!c)
        return;
    cr_http_cancel(c->req);
    free(c->id);
    free(c->message);
    free(c);
}

/* A BaragonResponse (or an HTTP failure) -> the change's result. */
static void on_answer(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    change *c = arg;
    c->req = NULL;
    free(c->message);
    c->message = NULL;
    if (err) {
        c->result = -1;
        c->message = xasprintf("baragon: %s", cr_err_msg(err));
        return;
    }
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *st = json_string_value(json_object_get(j, "loadBalancerState"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (resp->status == 404) {
        c->result = -1; /* Baragon has never heard of it: send it again */
        c->message = xstrdup("baragon: request unknown to BaragonService");
    } else if (resp->status >= 300 || !st) {
        c->result = -1;
        c->message = xasprintf("baragon: HTTP %ld%s%.200s", resp->status, resp->body_len ? ": " : "",
                               resp->body_len ? resp->body : "");
    } else if (!strcmp(st, "SUCCESS") || !strcmp(st, "INVALID_REQUEST_NOOP")) {
        c->result = 0;
    } else if (!strcmp(st, "FAILED") || !strcmp(st, "CANCELED")) {
        c->result = -1;
        c->message = xasprintf("baragon: %s%s%s", st, msg ? ": " : "", msg ? msg : "");
    } else {
        c->result = 1; /* WAITING, UNKNOWN, CANCELING */
    }
    json_decref(j);
}

static int start(baragon *b, change *c, const char *method, const char *url, const char *body,
                 cr_err *err)
{
    static const char *const hdrs[] = {"Content-Type: application/json",
                                       "Accept: application/json", NULL};
    cr_http_opts o = {.method = method,
                      .url = url,
                      .headers = hdrs,
                      .body = body,
                      .body_len = body ? strlen(body) : 0,
                      .timeout_ms = BARAGON_TIMEOUT_MS,
                      .connect_timeout_ms = BARAGON_TIMEOUT_MS,
                      .max_body = 1 << 20,
                      .on_done = on_answer,
                      .arg = c};
    c->req = cr_http_start(b->http, &o, err);
    return c->req ? 0 : -1;
}

static change *get_change(baragon *b, const char *id)
{
    change *c = store_map_get(b->changes, id);
    if (!c) {
        c = xcalloc(1, sizeof(*c));
        c->b = b;
        c->id = xstrdup(id);
        c->result = 1;
        store_map_put(b->changes, id, c);
    }
    return c;
}

static int baragon_apply(void *arg, const ctl_lb_target *t, cr_err *err)
{
    baragon *b = arg;
    change *c = get_change(b, t->change_id);
    json_t *j = ctl_lb_baragon_request(t);
    char *body = json_dumps(j, JSON_COMPACT);
    char *url = xasprintf("%s/request", b->url);
    int rc = start(b, c, "POST", url, body, err);
    free(url);
    free(body);
    json_decref(j);
    if (rc < 0) {
        change_free(store_map_del(b->changes, t->change_id));
        return -1;
    }
    return 1;
}

static int baragon_check(void *arg, const ctl_lb_target *t, cr_err *err)
{
    baragon *b = arg;
    change *c = get_change(b, t->change_id);
    if (c->req)
        return 1; /* asked; no answer yet */
    if (c->result != 1) {
        int rc = c->result;
        if (rc < 0)
            cr_error(err, CR_EUNAVAIL, "%s", c->message ? c->message : "baragon: failed");
        change_free(store_map_del(b->changes, t->change_id));
        return rc;
    }
    /* Waiting (or a new leader that never sent it): ask for its state. */
    char *url = xasprintf("%s/request/%s", b->url, t->change_id);
    cr_err e;
    if (start(b, c, "GET", url, NULL, &e) < 0)
        cr_error(err, e.code, "%s", cr_err_msg(&e)); /* asked again next pass */
    free(url);
    return 1;
}

static void free_one(const char *key, void *value, void *arg)
{
    change_free(value);
}

static void baragon_free(void *arg)
{
    baragon *b = arg;
    if (!b)
        return;
    store_map_foreach(b->changes, free_one, NULL);
    store_map_free(b->changes);
    free(b->url);
    free(b);
}

int ctl_lb_baragon_provider(cr_http *http, const char *url, ctl_lb_provider *out, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!http || !url || strncmp(url, "http", 4) != 0)
        return cr_error(err, CR_EINVAL, "baragon: an http(s) URL of BaragonService is required");
    baragon *b = xcalloc(1, sizeof(*b));
    b->http = http;
    b->url = xstrdup(url);
    size_t n = strlen(b->url);
    while (n && b->url[n - 1] == '/')
        b->url[--n] = '\0';
    b->changes = store_map_new();
    *out = (ctl_lb_provider){.name = "baragon",
                             .apply = baragon_apply,
                             .check = baragon_check,
                             .free = baragon_free,
                             .arg = b};
    return 0;
}
