/* store: the etcd client's calls, endpoint failover, auth and the write
 * batcher. See store.h. The watch stream lives in watch.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "store/internal.h"

typedef void (*call_done_fn)(store_call *c, store_result *res, const cr_err *err);

struct store_call {
    store *s;
    store_call *prev, *next;
    char *path;
    char *body;
    size_t len;
    bool retry_ok; /* idempotent: may retry after a timeout */
    bool txn;      /* parse the answer as a txn */
    bool grpc;     /* a gRPC call (KV.Txn), not the gateway's JSON */
    bool waiting_auth;
    bool auth_retried;
    bool unlinked; /* finishing: no longer in s->calls */
    unsigned tries;
    size_t ep;
    store_call_kind kind;
    int64_t sent_us; /* when req was started (latency) */
    cr_http_req *req;
    call_done_fn done; /* internal completion; default: cb */
    store_cb cb;
    void *arg;
    void *ctx;
    void (*ctx_free)(void *ctx);
};

struct store_bitem {
    store_bitem *next;
    store_txn *t;
    store_cb cb;
    void *arg;
    char **keys;
    size_t nkeys;
    store_batch_item plan; /* what the picker sees (keys borrowed) */
};

/* The queue of the batched writes with one fence (0: unfenced). */
struct store_lane {
    store_lane *next;
    int64_t fence;
    store_bitem *head, *tail;
    size_t ninflight; /* its txns in flight */
};

struct store_bgroup {
    store_bgroup *prev, *next; /* s->inflight */
    store_lane *lane;
    store_bitem **items;
    size_t n;
    size_t *op_off; /* first op of item i in the merged txn */
    store_txn *merged;
    size_t pending; /* calls still running (1, or n during retries) */
    bool solo;      /* a range op: nothing else may be in flight */
};

/* Batched txns in flight at once per lane. Each fence's writes (a
 * leader's loops) and the unfenced ones (the API's, independent calls)
 * queue apart, so neither waits behind the other's backlog. Either lane
 * has several txns in flight (while one is in etcd, the next fills: with
 * one, a leader's writes waited out etcd's latency txn by txn, a quarter
 * of its rate). A fence's writes are sent in queue order; unfenced ones
 * pass those they share no key with. Writes to one key apply in queue
 * order in both; writes to different keys in txns in flight at once may
 * apply in either order, so what must land together is one write (a
 * loop's operation group). Queued writes the picker looks at per txn, so
 * a long queue costs a bounded time per flush. */
#define STORE_BATCH_INFLIGHT 4
#define STORE_BATCH_SCAN     1024

static void flush_cb(evutil_socket_t fd, short what, void *arg);

/* --- setup ---------------------------------------------------------------- */

static void free_eps(store *s)
{
    for (size_t i = 0; i < s->neps; i++)
        free(s->eps[i]);
    free(s->eps);
    s->eps = NULL;
    s->neps = 0;
}

static int parse_endpoints(store *s, const char *list, cr_err *err)
{
    char *copy = xstrdup(list ? list : ""), *save = NULL, *tok;

    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t len;

        while (*tok == ' ')
            tok++;
        len = strlen(tok);
        while (len && (tok[len - 1] == '/' || tok[len - 1] == ' '))
            tok[--len] = '\0';
        if (!len)
            continue;
        if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0) {
            cr_error(err, CR_EINVAL, "etcd endpoint \"%s\": must start with http:// or https://",
                     tok);
            free(copy);
            free_eps(s);
            return -1;
        }
        s->eps = xrealloc(s->eps, (s->neps + 1) * sizeof(*s->eps));
        s->eps[s->neps++] = xstrdup(tok);
    }
    free(copy);
    if (!s->neps)
        return cr_error(err, CR_EINVAL, "etcd endpoints: none given");
    return 0;
}

store *store_new(struct event_base *base, cr_http *http, const store_config *cfg, cr_err *err)
{
    store *s = xcalloc(1, sizeof(*s));

    if (parse_endpoints(s, cfg->endpoints, err) < 0) {
        free(s);
        return NULL;
    }
    if (!cfg->username != !cfg->password) {
        free_eps(s);
        free(s);
        cr_error(err, CR_EINVAL, "etcd auth: username and password go together");
        return NULL;
    }
    s->base = base;
    s->http = http;
    s->log = cfg->log;
    s->ca_file = xstrdup(cfg->ca_file);
    s->cert_file = xstrdup(cfg->cert_file);
    s->key_file = xstrdup(cfg->key_file);
    s->insecure = cfg->insecure;
    s->json_only = cfg->json_only;
    s->username = xstrdup(cfg->username);
    s->password = xstrdup(cfg->password);
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    s->flush_ev = event_new(base, -1, 0, flush_cb, s);
    s->busy = store_map_new();
    return s;
}

static void call_unlink(store_call *c)
{
    store *s = c->s;

    if (c->unlinked)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->unlinked = true;
}

static void call_free(store_call *c)
{
    if (c->req)
        cr_http_cancel(c->req);
    call_unlink(c);
    if (c->ctx_free)
        c->ctx_free(c->ctx);
    free(c->path);
    free(c->body);
    free(c);
}

static void bitem_free(store_bitem *it)
{
    for (size_t i = 0; i < it->nkeys; i++)
        free(it->keys[i]);
    free(it->keys);
    store_txn_free(it->t);
    free(it);
}

static void bgroup_free(store_bgroup *g)
{
    for (size_t i = 0; i < g->n; i++)
        bitem_free(g->items[i]);
    free(g->items);
    free(g->op_off);
    store_txn_free(g->merged);
    free(g);
}

void store_free(store *s)
{
    if (!s)
        return;
    store_watches_detach(s);
    while (s->calls)
        call_free(s->calls);
    if (s->auth_req)
        cr_http_cancel(s->auth_req);
    while (s->lanes) {
        store_lane *l = s->lanes;
        s->lanes = l->next;
        while (l->head) {
            store_bitem *it = l->head;
            l->head = it->next;
            bitem_free(it);
        }
        free(l);
    }
    while (s->inflight) {
        store_bgroup *g = s->inflight;
        s->inflight = g->next;
        bgroup_free(g);
    }
    store_map_free(s->busy);
    event_free(s->flush_ev);
    free_eps(s);
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
    free(s->username);
    free(s->password);
    free(s->token);
    free(s);
}

const char *store_endpoint(const store *s)
{
    return s->eps[s->cur];
}

char *store_url(store *s, size_t ep, const char *path)
{
    return xasprintf("%s%s", s->eps[ep], path);
}

void store_http_opts(store *s, cr_http_opts *o)
{
    o->ca_file = s->ca_file;
    o->cert_file = s->cert_file;
    o->key_file = s->key_file;
    o->insecure = s->insecure;
    o->connect_timeout_ms = s->timeout_ms < 2000 ? s->timeout_ms : 2000;
}

void store_failover(store *s, size_t ep, const cr_err *why)
{
    if (s->neps < 2 || s->cur != ep)
        return;
    s->cur = (ep + 1) % s->neps;
    cr_warn(s->log, "etcd %s: %s; switching to %s", s->eps[ep], cr_err_msg(why), s->eps[s->cur]);
}

void store_drop_token(store *s)
{
    free(s->token);
    s->token = NULL;
}

/* --- calls ------------------------------------------------------------------------ */

static void call_finish(store_call *c, store_result *res, const cr_err *err)
{
    c->req = NULL;
    call_unlink(c); /* a store_cancel() from the callback must not free it */
    if (c->done)
        c->done(c, res, err);
    else if (c->cb)
        c->cb(c->arg, res, err);
    call_free(c);
}

static int call_send(store_call *c, cr_err *err);

static void call_retry_or_fail(store_call *c, const cr_err *err)
{
    cr_err e2;

    store_failover(c->s, c->ep, err);
    if (++c->tries < c->s->neps) {
        if (call_send(c, &e2) == 0)
            return;
        call_finish(c, NULL, &e2);
        return;
    }
    call_finish(c, NULL, err);
}

bool store_grpc_failed(const cr_http_resp *resp, cr_err *err)
{
    const char *st = cr_http_resp_header(resp, "grpc-status");

    if (resp->status != 200) {
        cr_error(err, CR_EETCD, "etcd http status %ld to a gRPC call: %.200s", resp->status,
                 resp->body);
        return true;
    }
    if (!st) {
        cr_error(err, CR_EIO, "etcd: a gRPC answer without grpc-status");
        return true;
    }
    if (strcmp(st, "0") == 0)
        return false;
    store_grpc_error(st, cr_http_resp_header(resp, "grpc-message"), err);
    return true;
}

void store_post_opts(store *s, bool grpc, cr_http_opts *o, const char **hdrs, char **auth)
{
    /* hasleader: a member cut off from the quorum answers at once ("no
     * leader", retried elsewhere) and ends its watch streams, instead of
     * serving stale data or waiting. gRPC metadata are headers as they are;
     * the gateway maps Grpc-Metadata- and Authorization to them. */
    if (grpc) {
        hdrs[0] = "Content-Type: application/grpc";
        hdrs[1] = "TE: trailers";
        hdrs[2] = "hasleader: true";
        hdrs[3] = *auth = s->token ? xasprintf("token: %s", s->token) : NULL;
    } else {
        hdrs[0] = "Content-Type: application/json";
        hdrs[1] = "Grpc-Metadata-hasleader: true";
        hdrs[2] = *auth = s->token ? xasprintf("Authorization: %s", s->token) : NULL;
        hdrs[3] = NULL;
    }
    hdrs[4] = NULL;
    store_http_opts(s, o);
    o->method = "POST";
    o->headers = hdrs;
    o->http2 = grpc;
}

static void call_http_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *herr, void *arg)
{
    store_call *c = arg;
    store *s = c->s;
    store_result res;
    cr_err err;

    c->req = NULL;
    cr_hist_observe(&s->latency[c->kind], (double)(cr_mono_us() - c->sent_us) / 1e6);
    if (herr) {
        /* refused: nothing was sent, any call may go elsewhere; timed out or
         * broken: the endpoint is suspect, but only reads are repeated */
        if (herr->code == CR_EUNAVAIL ||
            (c->retry_ok && (herr->code == CR_ETIMEOUT || herr->code == CR_EIO))) {
            call_retry_or_fail(c, herr);
            return;
        }
        if (herr->code == CR_ETIMEOUT || herr->code == CR_EIO)
            store_failover(s, c->ep, herr);
        call_finish(c, NULL, herr);
        return;
    }
    if (c->grpc ? store_grpc_failed(resp, &err)
                : resp->status != 200 &&
                      store_etcd_error(resp->status, resp->body, resp->body_len, &err) < 0) {
        int code = store_err_grpc_code(&err);

        if (code == 16 && s->username && !c->auth_retried) {
            /* token expired or the member restarted: authenticate again */
            c->auth_retried = true;
            store_drop_token(s);
            if (call_send(c, &err) == 0)
                return;
        } else if ((code == 14 || strstr(err.detail, "leader changed") ||
                    strstr(err.detail, "no leader")) &&
                   c->retry_ok) {
            call_retry_or_fail(c, &err);
            return;
        } else if (c->grpc && code < 0) {
            /* no gRPC status: the answer was cut (or not etcd's); as a
             * broken connection, not repeated (it may have applied) */
            store_failover(s, c->ep, &err);
        }
        call_finish(c, NULL, &err);
        return;
    }
    if ((c->grpc ? store_txn_parse_pb(resp->body, resp->body_len, &res, &err)
                 : store_result_parse_text(resp->body, resp->body_len, c->txn, &res, &err)) < 0) {
        call_finish(c, NULL, &err);
        return;
    }
    call_finish(c, &res, NULL);
    store_result_release(&res);
}

static int call_send(store_call *c, cr_err *err)
{
    store *s = c->s;
    cr_http_opts o = {0};
    const char *hdrs[5];
    char *auth, *url;

    if (store_need_auth(s)) {
        c->waiting_auth = true;
        return 0;
    }
    store_post_opts(s, c->grpc, &o, hdrs, &auth);
    c->ep = s->cur;
    url = store_url(s, c->ep, c->path);
    o.url = url;
    o.body = c->body;
    o.body_len = c->len;
    o.timeout_ms = s->timeout_ms;
    o.max_body = STORE_MAX_ANSWER;
    o.on_done = call_http_done;
    o.arg = c;
    c->sent_us = cr_mono_us();
    c->req = cr_http_start(s->http, &o, err);
    free(url);
    free(auth);
    return c->req ? 0 : -1;
}

static store_call *call_new(store *s, const char *path, char *body, store_cb cb, void *arg)
{
    store_call *c = xcalloc(1, sizeof(*c));

    c->s = s;
    c->path = xstrdup(path);
    c->kind = store_call_of_path(path);
    c->body = body;
    c->len = strlen(body);
    c->cb = cb;
    c->arg = arg;
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    return c;
}

/* Sends a new call; on failure frees it (the callback never fires). */
static int call_start(store_call *c, cr_err *err)
{
    if (call_send(c, err) < 0) {
        c->ctx_free = NULL; /* the caller still owns ctx */
        call_free(c);
        return -1;
    }
    return 0;
}

void store_cancel(store *s, void *arg)
{
    store_call *c, *next;
    store_bitem **pp;

    for (c = s->calls; c; c = next) {
        next = c->next;
        if (c->arg == arg)
            call_free(c);
    }
    for (store_lane *l = s->lanes; l; l = l->next) {
        store_bitem *last = NULL;

        for (pp = &l->head; *pp;) {
            store_bitem *it = *pp;
            if (it->arg == arg) {
                *pp = it->next;
                bitem_free(it);
            } else {
                last = it;
                pp = &it->next;
            }
        }
        l->tail = last;
    }
    for (store_bgroup *g = s->inflight; g; g = g->next)
        for (size_t i = 0; i < g->n; i++)
            if (g->items[i]->arg == arg)
                g->items[i]->cb = NULL;
}

/* --- auth --------------------------------------------------------------------------- */

static void auth_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *herr, void *arg);

static void auth_start(store *s)
{
    cr_http_opts o = {0};
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    json_t *j = json_pack("{ssss}", "name", s->username, "password", s->password);
    char *body = json_dumps(j, JSON_COMPACT);
    char *url = store_url(s, s->cur, "/v3/auth/authenticate");
    cr_err err;

    json_decref(j);
    store_http_opts(s, &o);
    o.url = url;
    o.headers = hdrs;
    o.body = body;
    o.body_len = strlen(body);
    o.timeout_ms = s->timeout_ms;
    o.on_done = auth_done;
    o.arg = s;
    s->auth_req = cr_http_start(s->http, &o, &err);
    free(url);
    free(body);
    if (!s->auth_req)
        cr_errorlog(s->log, "etcd auth: %s", cr_err_msg(&err));
}

bool store_need_auth(store *s)
{
    if (!s->username || s->token)
        return false;
    if (!s->auth_req) {
        s->auth_tries = 0;
        auth_start(s);
    }
    return true;
}

/* Resumes (or fails) every call that waited for a token. */
static void auth_release_waiters(store *s, const cr_err *err)
{
    store_call *c;

again:
    for (c = s->calls; c; c = c->next) {
        cr_err e2;

        if (!c->waiting_auth)
            continue;
        c->waiting_auth = false;
        if (err) {
            call_finish(c, NULL, err);
        } else if (call_send(c, &e2) < 0) {
            call_finish(c, NULL, &e2);
        } else if (c->waiting_auth) {
            continue; /* the token was dropped again meanwhile */
        }
        goto again; /* callbacks may have changed the list */
    }
    store_watches_auth_done(s, err);
}

static void auth_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *herr, void *arg)
{
    store *s = arg;
    cr_err err;
    json_t *j = NULL;
    const char *tok;

    s->auth_req = NULL;
    if (herr) {
        if (herr->code == CR_EUNAVAIL && ++s->auth_tries < s->neps) {
            store_failover(s, s->cur, herr);
            auth_start(s);
            if (s->auth_req)
                return;
        }
        err = *herr;
        goto fail;
    }
    if (resp->status != 200) {
        store_etcd_error(resp->status, resp->body, resp->body_len, &err);
        goto fail;
    }
    j = json_loadb(resp->body, resp->body_len, 0, NULL);
    tok = json_string_value(json_object_get(j, "token"));
    if (!tok) {
        cr_error(&err, CR_EPARSE, "etcd auth: no token in the answer");
        goto fail;
    }
    s->token = xstrdup(tok);
    json_decref(j);
    auth_release_waiters(s, NULL);
    return;
fail:
    json_decref(j);
    cr_err_prefix(&err, "etcd auth as \"%s\": ", s->username);
    auth_release_waiters(s, &err);
}

/* --- reads ---------------------------------------------------------------------------- */

int store_get(store *s, const char *key, int64_t revision, store_cb cb, void *arg, cr_err *err)
{
    store_call *c;

    if (!key || !*key)
        return cr_error(err, CR_EINVAL, "etcd get: empty key");
    c = call_new(s, "/v3/kv/range", store_range_encode(key, strlen(key), NULL, 0, revision, 0), cb,
                 arg);
    c->retry_ok = true;
    return call_start(c, err);
}

typedef struct list_ctx {
    store_pager pager;
    int64_t revision;
    store_kv *kvs;
    size_t n, cap;
} list_ctx;

static void list_ctx_free(void *p)
{
    list_ctx *l = p;

    for (size_t i = 0; i < l->n; i++)
        store_kv_release(&l->kvs[i]);
    free(l->kvs);
    store_pager_release(&l->pager);
    free(l);
}

/* The range call of the page pager is at. */
static store_call *page_call(store *s, const store_pager *p, int64_t revision, store_cb cb,
                             void *arg)
{
    store_call *c = call_new(s, "/v3/kv/range",
                             store_range_encode(p->from, p->from_len, p->until, p->until_len,
                                                revision, (int64_t)p->limit),
                             cb, arg);
    c->retry_ok = true;
    return c;
}

static void list_page_done(store_call *c, store_result *res, const cr_err *err)
{
    list_ctx *l = c->ctx;
    store_call *nc;
    size_t got;
    cr_err e2;

    if (err) {
        if (c->cb)
            c->cb(c->arg, NULL, err);
        return;
    }
    if (!l->revision)
        l->revision = res->revision;
    got = res->nkvs;
    if (l->n + got > l->cap) {
        l->cap = (l->n + got) * 2;
        l->kvs = xrealloc(l->kvs, l->cap * sizeof(*l->kvs));
    }
    /* take the kvs over from the page (an empty page has no array) */
    if (got)
        memcpy(l->kvs + l->n, res->kvs, got * sizeof(*res->kvs));
    l->n += got;
    res->nkvs = 0;
    if (store_pager_next(&l->pager, got ? l->kvs + l->n - got : NULL, got, res->more)) {
        nc = page_call(c->s, &l->pager, l->revision, c->cb, c->arg);
        nc->done = list_page_done;
        nc->ctx = l;
        nc->ctx_free = list_ctx_free;
        c->ctx = NULL; /* handed to the next page */
        c->ctx_free = NULL;
        if (call_send(nc, &e2) < 0) {
            call_free(nc); /* frees l */
            if (c->cb)
                c->cb(c->arg, NULL, &e2);
        }
        return;
    }
    {
        store_result all = {.revision = l->revision,
                            .kvs = l->kvs,
                            .nkvs = l->n,
                            .count = (int64_t)l->n,
                            .succeeded = true};
        if (c->cb)
            c->cb(c->arg, &all, NULL);
    }
}

int store_list(store *s, const char *prefix, int64_t revision, store_cb cb, void *arg, cr_err *err)
{
    list_ctx *l = xcalloc(1, sizeof(*l));
    store_call *c;

    if (!prefix || !*prefix) {
        free(l);
        return cr_error(err, CR_EINVAL, "etcd list: empty prefix");
    }
    store_pager_init(&l->pager, prefix, STORE_PAGE_SIZE);
    l->revision = revision;
    c = page_call(s, &l->pager, revision, cb, arg);
    c->done = list_page_done;
    c->ctx = l;
    c->ctx_free = list_ctx_free;
    if (call_start(c, err) < 0) {
        list_ctx_free(l);
        return -1;
    }
    return 0;
}

int store_list_page(store *s, const store_pager *pager, int64_t revision, store_cb cb, void *arg,
                    cr_err *err)
{
    return call_start(page_call(s, pager, revision, cb, arg), err);
}

/* --- writes ----------------------------------------------------------------------------- */

int store_put(store *s, const char *key, const void *value, size_t len, const store_put_opts *opts,
              store_cb cb, void *arg, cr_err *err)
{
    if (!key || !*key)
        return cr_error(err, CR_EINVAL, "etcd put: empty key");
    if (len + strlen(key) > STORE_MAX_REQUEST_BYTES)
        return cr_error(err, CR_ETOOLARGE, "etcd put \"%s\": %zu bytes, limit %d", key, len,
                        STORE_MAX_REQUEST_BYTES);
    return call_start(call_new(s, "/v3/kv/put", store_put_encode(key, value, len, opts), cb, arg),
                      err);
}

int store_delete(store *s, const char *key, bool prefix, bool prev_kv, store_cb cb, void *arg,
                 cr_err *err)
{
    if (!key || !*key)
        return cr_error(err, CR_EINVAL, "etcd delete: empty key");
    return call_start(
        call_new(s, "/v3/kv/deleterange", store_delete_encode(key, prefix, prev_kv), cb, arg), err);
}

static void txn_done(store_call *c, store_result *res, const cr_err *err)
{
    store_txn *t = c->ctx;
    cr_err e2;

    if (!err && !res->succeeded && t->fence_key) {
        if (store_txn_fence_lost(t, res)) {
            cr_error(&e2, CR_ENOTLEADER,
                     "etcd txn: leadership lost (%s no longer at create "
                     "revision %" PRId64 ")",
                     t->fence_key, t->fence_rev);
            res = NULL;
            err = &e2;
        } else if (res->nops) {
            /* hide the fence get we appended to the else-branch */
            store_result_release(&res->ops[res->nops - 1]);
            res->nops--;
        }
    }
    if (c->cb)
        c->cb(c->arg, res, err);
}

static void txn_ctx_free(void *p)
{
    store_txn_free(p);
}

/* Starts a txn call; t is consumed. ctx (if not NULL) is handed to the
 * call (freed with ctx_free) only on success. */
static int txn_start(store *s, store_txn *t, call_done_fn done, store_cb cb, void *arg, void *ctx,
                     void (*ctx_free)(void *), cr_err *err)
{
    size_t len;
    store_call *c;

    if (store_txn_check(t, err) < 0) {
        store_txn_free(t);
        return -1;
    }
    if (s->json_only) {
        c = call_new(s, "/v3/kv/txn", store_txn_encode(t, &len), cb, arg);
    } else {
        c = call_new(s, "/etcdserverpb.KV/Txn", store_txn_encode_pb(t, &len), cb, arg);
        c->len = len; /* binary */
        c->grpc = true;
        c->kind = STORE_CALL_TXN;
    }
    c->txn = true;
    c->done = done;
    c->ctx = ctx ? ctx : t;
    c->ctx_free = ctx ? NULL : txn_ctx_free;
    if (call_send(c, err) < 0) {
        call_free(c); /* frees t when it is the ctx */
        if (ctx)
            store_txn_free(t);
        return -1;
    }
    if (ctx)
        c->ctx_free = ctx_free;
    if (ctx)
        store_txn_free(t); /* the body is encoded; the group keeps what it needs */
    return 0;
}

int store_txn_commit(store *s, store_txn *t, store_cb cb, void *arg, cr_err *err)
{
    return txn_start(s, t, txn_done, cb, arg, NULL, NULL, err);
}

/* --- batcher ------------------------------------------------------------------------------ */

static void batch_item_done(store_bitem *it, store_result *res, const cr_err *err)
{
    store_cb cb = it->cb;

    it->cb = NULL;
    if (cb)
        cb(it->arg, res, err);
}

static void group_release(store *s, store_bgroup *g)
{
    if (--g->pending > 0)
        return;
    if (g->prev)
        g->prev->next = g->next;
    else
        s->inflight = g->next;
    if (g->next)
        g->next->prev = g->prev;
    s->ninflight--;
    g->lane->ninflight--;
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->items[i]->nkeys; k++)
            store_map_del(s->busy, g->items[i]->keys[k]);
    bgroup_free(g);
    event_active(s->flush_ev, EV_TIMEOUT, 1);
}

/* One member of a group whose combined compares failed, retried alone. */
typedef struct retry_ctx {
    store_bgroup *g;
    store_bitem *it;
} retry_ctx;

static void retry_done(store_call *c, store_result *res, const cr_err *err)
{
    retry_ctx *rc = c->ctx;
    store *s = c->s;
    cr_err e2;

    if (!err && !res->succeeded && store_txn_fence_lost(rc->it->t, res)) {
        cr_error(&e2, CR_ENOTLEADER, "etcd txn: leadership lost");
        err = &e2;
        res = NULL;
    } else if (!err && !res->succeeded && rc->it->t->fence_key && res->nops) {
        store_result_release(&res->ops[res->nops - 1]);
        res->nops--;
    }
    if (res) {
        res->batch_first = rc->it == rc->g->items[0];
        res->batch_retried = true;
    }
    batch_item_done(rc->it, res, err);
    group_release(s, rc->g);
}

static void group_done(store_call *c, store_result *res, const cr_err *err)
{
    store_bgroup *g = c->ctx;
    store *s = c->s;
    cr_err e2;
    bool retry_each;

    if (!err && !res->succeeded && store_txn_fence_lost(g->merged, res)) {
        cr_error(&e2, CR_ENOTLEADER,
                 "etcd txn: leadership lost (%s no longer at create "
                 "revision %" PRId64 ")",
                 g->merged->fence_key, g->merged->fence_rev);
        err = &e2;
    }
    /* a member's compare failed, or etcd refused the combination (keys
     * overlapping through a range delete, or a request too large for an
     * etcd with a lower --max-request-bytes or --max-txn-ops): find out per
     * member, so only the write at fault gets the error */
    retry_each = g->n > 1 && ((!err && !res->succeeded) ||
                              (err && (err->code == CR_EINVAL || err->code == CR_ETOOLARGE)));
    if (retry_each) {
        g->pending += g->n;
        for (size_t i = 0; i < g->n; i++) {
            store_txn *t = store_txn_new();
            retry_ctx *rc = xcalloc(1, sizeof(*rc));

            store_txn_merge(t, g->items[i]->t);
            rc->g = g;
            rc->it = g->items[i];
            if (txn_start(s, t, retry_done, NULL, s, rc, free, &e2) < 0) {
                free(rc);
                batch_item_done(g->items[i], NULL, &e2);
                g->pending--;
            }
        }
    } else if (err) {
        for (size_t i = 0; i < g->n; i++)
            batch_item_done(g->items[i], NULL, err);
    } else if (res->succeeded) {
        for (size_t i = 0; i < g->n; i++) {
            store_result sub = {.revision = res->revision,
                                .succeeded = true,
                                .ops = res->ops + g->op_off[i],
                                .nops = g->items[i]->t->nthen,
                                .batch_first = i == 0};
            if (g->op_off[i] + sub.nops > res->nops)
                sub.nops = 0; /* malformed answer; do not read past it */
            batch_item_done(g->items[i], &sub, NULL);
        }
    } else {
        store_result sub = {.revision = res->revision, .succeeded = false, .batch_first = true};
        batch_item_done(g->items[0], &sub, NULL);
    }
    group_release(s, g);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys it touches, sorted, and what the picker needs to know of it. */
static void collect_keys(store_bitem *it)
{
    const store_txn *t = it->t;
    size_t n = 0;

    it->keys = xcalloc(t->ncmps + t->nthen + 1, sizeof(char *));
    for (size_t i = 0; i < t->ncmps; i++)
        it->keys[n++] = xstrdup(t->cmps[i].key);
    for (size_t i = 0; i < t->nthen; i++)
        it->keys[n++] = xstrdup(t->then[i].key);
    qsort(it->keys, n, sizeof(char *), key_cmp);
    it->nkeys = n;
    it->plan.nops = t->nthen;
    it->plan.ncmps = t->ncmps + (t->fence_key ? 1 : 0);
    it->plan.bytes = t->bytes;
    it->plan.keys = (const char *const *)it->keys;
    it->plan.nkeys = n;
    for (size_t i = 0; i < t->nthen; i++)
        if (t->then[i].prefix)
            it->plan.solo = true;
}

static bool solo_in_flight(const store *s)
{
    for (const store_bgroup *g = s->inflight; g; g = g->next)
        if (g->solo)
            return true;
    return false;
}

/* A range delete first in its lane waits for every txn in flight to end:
 * the other lanes send nothing new meanwhile, so it cannot starve. */
static bool solo_waiting(const store *s)
{
    for (const store_lane *l = s->lanes; l; l = l->next)
        if (l->head && l->head->plan.solo)
            return true;
    return false;
}

/* Whether lane l may send a txn now (the picker decides which writes). */
static bool may_send(const store *s, const store_lane *l)
{
    return l->head && l->ninflight < STORE_BATCH_INFLIGHT && !solo_in_flight(s) &&
           (l->head->plan.solo || !solo_waiting(s));
}

/* Takes the writes of lane's next txn out of its queue and sends them;
 * returns how many (0: none may go before a txn in flight ends). */
static size_t flush_one(store *s, store_lane *l)
{
    store_batch_item *plan;
    bool *take, tail_taken = false;
    size_t n = 0, ntaken;
    store_bitem *it, **pp, *kept = NULL;
    store_bgroup *g;
    cr_err err;

    for (it = l->head; it && n < STORE_BATCH_SCAN; it = it->next)
        n++;
    plan = xcalloc(n, sizeof(*plan));
    take = xcalloc(n, sizeof(*take));
    n = 0;
    for (it = l->head; it && n < STORE_BATCH_SCAN; it = it->next, n++)
        plan[n] = it->plan;
    /* the fence's else-get takes an op slot too */
    ntaken = store_batch_pick(plan, n, l->fence != 0, s->busy, s->ninflight == 0,
                              STORE_MAX_TXN_OPS - 1, STORE_MAX_REQUEST_BYTES - 4096, take);
    if (!ntaken) {
        free(plan);
        free(take);
        return 0;
    }
    g = xcalloc(1, sizeof(*g));
    g->items = xcalloc(ntaken, sizeof(*g->items));
    g->op_off = xcalloc(ntaken, sizeof(*g->op_off));
    g->merged = store_txn_new();
    g->pending = 1;
    g->lane = l;
    /* unlink the taken writes; the txn keeps their queue order */
    pp = &l->head;
    for (size_t i = 0; i < n && *pp; i++) {
        it = *pp;
        if (!take[i]) {
            kept = it;
            pp = &it->next;
            continue;
        }
        *pp = it->next;
        it->next = NULL;
        tail_taken = tail_taken || it == l->tail;
        g->solo = g->solo || plan[i].solo;
        g->items[g->n] = it;
        g->op_off[g->n] = g->merged->nthen;
        g->n++;
        store_txn_merge(g->merged, it->t);
        for (size_t k = 0; k < it->nkeys; k++)
            store_map_put(s->busy, it->keys[k], g);
    }
    if (tail_taken) /* the scan reached the end: kept is the last one left */
        l->tail = kept;
    free(plan);
    free(take);
    g->next = s->inflight;
    if (s->inflight)
        s->inflight->prev = g;
    s->inflight = g;
    s->ninflight++;
    l->ninflight++;
    {
        store_txn *send = store_txn_new();

        store_txn_merge(send, g->merged);
        if (txn_start(s, send, group_done, NULL, s, g, NULL, &err) < 0) {
            for (size_t i = 0; i < g->n; i++)
                batch_item_done(g->items[i], NULL, &err);
            group_release(s, g);
        }
    }
    return ntaken;
}

void store_flush(store *s)
{
    store_lane **pp;

    /* callbacks of a txn that failed to start may call back in */
    if (s->flushing)
        return;
    s->flushing = true;
    for (store_lane *l = s->lanes; l; l = l->next)
        while (may_send(s, l) && flush_one(s, l))
            ;
    /* a fence's lane ends with its term of leadership */
    for (pp = &s->lanes; *pp;) {
        store_lane *l = *pp;
        if (!l->head && !l->ninflight && l->fence) {
            *pp = l->next;
            free(l);
        } else {
            pp = &l->next;
        }
    }
    s->flushing = false;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    store_flush(arg);
}

int store_write(store *s, store_txn *t, store_cb cb, void *arg, cr_err *err)
{
    store_bitem *it;
    store_lane *l;
    int64_t fence = t->fence_key ? t->fence_rev : 0;

    if (t->nels) {
        store_txn_free(t);
        return cr_error(err, CR_EINVAL, "etcd batched write: else-ops are not allowed");
    }
    if (!t->nthen) {
        store_txn_free(t);
        return cr_error(err, CR_EINVAL, "etcd batched write: no ops");
    }
    if (store_txn_check(t, err) < 0) {
        store_txn_free(t);
        return -1;
    }
    it = xcalloc(1, sizeof(*it));
    it->t = t;
    it->cb = cb;
    it->arg = arg;
    collect_keys(it);
    for (l = s->lanes; l && l->fence != fence; l = l->next)
        ;
    if (!l) {
        l = xcalloc(1, sizeof(*l));
        l->fence = fence;
        l->next = s->lanes;
        s->lanes = l;
    }
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    event_active(s->flush_ev, EV_TIMEOUT, 1);
    return 0;
}

/* --- leases, maintenance ------------------------------------------------------------------- */

static char *id_body(const char *field, int64_t n)
{
    return xasprintf("{\"%s\":\"%" PRId64 "\"}", field, n);
}

int store_lease_grant(store *s, int64_t ttl_s, store_cb cb, void *arg, cr_err *err)
{
    if (ttl_s <= 0)
        return cr_error(err, CR_EINVAL, "etcd lease: ttl must be > 0");
    return call_start(call_new(s, "/v3/lease/grant", id_body("TTL", ttl_s), cb, arg), err);
}

static void keepalive_done(store_call *c, store_result *res, const cr_err *err)
{
    cr_err e2;

    if (!err && res->ttl <= 0) {
        cr_error(&e2, CR_ENOTFOUND, "etcd lease %" PRId64 ": expired or revoked", res->lease_id);
        err = &e2;
        res = NULL;
    }
    if (c->cb)
        c->cb(c->arg, res, err);
}

int store_lease_keepalive(store *s, int64_t lease_id, store_cb cb, void *arg, cr_err *err)
{
    store_call *c = call_new(s, "/v3/lease/keepalive", id_body("ID", lease_id), cb, arg);

    c->retry_ok = true; /* renewing twice is harmless */
    c->done = keepalive_done;
    return call_start(c, err);
}

int store_lease_revoke(store *s, int64_t lease_id, store_cb cb, void *arg, cr_err *err)
{
    return call_start(call_new(s, "/v3/lease/revoke", id_body("ID", lease_id), cb, arg), err);
}

int store_compact(store *s, int64_t revision, store_cb cb, void *arg, cr_err *err)
{
    return call_start(call_new(s, "/v3/kv/compaction", id_body("revision", revision), cb, arg),
                      err);
}

int store_status(store *s, store_cb cb, void *arg, cr_err *err)
{
    store_call *c = call_new(s, "/v3/maintenance/status", xstrdup("{}"), cb, arg);

    c->retry_ok = true;
    return call_start(c, err);
}

/* --- observability ---------------------------------------------------------------- */

const char *store_call_name(store_call_kind k)
{
    static const char *const names[STORE_CALL_N] = {"range", "put",   "deleterange",
                                                  "txn",   "lease", "other"};
    return k >= 0 && k < STORE_CALL_N ? names[k] : "other";
}

store_call_kind store_call_of_path(const char *path)
{
    static const struct {
        const char *prefix;
        store_call_kind kind;
    } map[] = {{"/v3/kv/range", STORE_CALL_RANGE},        {"/v3/kv/put", STORE_CALL_PUT},
               {"/v3/kv/deleterange", STORE_CALL_DELETE}, {"/v3/kv/txn", STORE_CALL_TXN},
               {"/v3/lease/", STORE_CALL_LEASE}};

    for (size_t i = 0; path && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strncmp(path, map[i].prefix, strlen(map[i].prefix)))
            return map[i].kind;
    return STORE_CALL_OTHER;
}

void store_get_stats(const store *s, store_stats *out)
{
    memcpy(out->latency, s->latency, sizeof(out->latency));
    out->batches_in_flight = s->ninflight;
}
