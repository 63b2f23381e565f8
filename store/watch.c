/* store_watch: one stream per watch. A gRPC Watch.Watch call (store/pb.c):
 * one WatchRequest sent, then WatchResponses, each a gRPC frame; its error
 * comes in the trailers. With json_only a POST /v3/watch, which the
 * gateway answers with newline-delimited JSON ({"result":{...}} per line,
 * {"error":{...}} for an error). A broken stream is resumed from
 * the last delivered revision + 1, with backoff and endpoint failover; a
 * compacted start revision stops the watch (caller re-lists). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "store/internal.h"

#define WATCH_BACKOFF_MIN_MS 100
#define WATCH_BACKOFF_MAX_MS 3000

struct store_watch {
    store *s; /* NULL once the store is freed */
    store_watch *prev, *next;
    char *key;
    bool prefix;
    bool prev_kv;
    bool from_now;    /* started at revision 0 */
    int64_t next_rev; /* 0 until known (from_now before "created") */
    store_watch_handlers h;
    void *arg;
    cr_http_req *req;
    size_t ep;
    long status;
    bool grpc;      /* the stream is a gRPC call */
    cr_buf line;    /* partial line (or gRPC frame) of the stream */
    cr_buf errbody; /* body of a non-200 answer */
    struct event *retry_ev;
    long backoff_ms;
    bool waiting_auth;
    bool stopped;      /* compacted or freed: no more streams */
    int in_cb;         /* handlers running */
    bool free_pending; /* store_watch_free() called from a handler */
};

static void watch_connect(store_watch *w);

static void watch_unlink(store_watch *w)
{
    if (!w->s)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->s->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void watch_halt(store_watch *w)
{
    w->stopped = true;
    if (w->req) {
        cr_http_cancel(w->req);
        w->req = NULL;
    }
    if (w->retry_ev)
        event_del(w->retry_ev);
}

static void watch_destroy(store_watch *w)
{
    watch_halt(w);
    watch_unlink(w);
    if (w->retry_ev)
        event_free(w->retry_ev);
    cr_buf_release(&w->line);
    cr_buf_release(&w->errbody);
    free(w->key);
    free(w);
}

void store_watch_free(store_watch *w)
{
    if (!w)
        return;
    if (w->in_cb) {
        watch_halt(w);
        w->free_pending = true;
        return;
    }
    watch_destroy(w);
}

/* Runs after a handler: false when the watch must not be touched further
 * (it was freed, or stopped). */
static bool handler_exit(store_watch *w)
{
    w->in_cb--;
    if (w->free_pending && !w->in_cb) {
        watch_destroy(w);
        return false;
    }
    return !w->stopped;
}

int64_t store_watch_next_revision(const store_watch *w)
{
    return w->next_rev;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    watch_connect(arg);
}

/* The stream is gone: tell the owner, then reconnect after a backoff. */
static void watch_broken(store_watch *w, const cr_err *err)
{
    struct timeval tv;

    if (w->req) {
        cr_http_cancel(w->req);
        w->req = NULL;
    }
    if (w->stopped || !w->s)
        return;
    cr_warn(w->s->log, "etcd watch %s: %s; resuming from revision %" PRId64, w->key,
            cr_err_msg(err), w->next_rev);
    if (w->h.on_broken) {
        w->in_cb++;
        w->h.on_broken(w->arg, err);
        if (!handler_exit(w))
            return;
    }
    tv.tv_sec = w->backoff_ms / 1000;
    tv.tv_usec = (w->backoff_ms % 1000) * 1000;
    w->backoff_ms =
        w->backoff_ms * 2 > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : w->backoff_ms * 2;
    event_add(w->retry_ev, &tv);
}

/* Handles one message (released here); false when the watch must not be
 * touched further. */
static bool watch_msg(store_watch *w, store_watch_msg m)
{
    cr_err err;
    bool alive = true;

    if (m.is_error) {
        if (store_err_grpc_code(&m.err) == 16)
            store_drop_token(w->s);
        watch_broken(w, &m.err);
        store_watch_msg_release(&m);
        return false;
    }
    if (m.canceled) {
        if (m.compact_revision > 0) {
            watch_halt(w);
            if (w->h.on_compacted) {
                w->in_cb++;
                w->h.on_compacted(w->arg, m.compact_revision);
                handler_exit(w);
            }
        } else {
            cr_error(&err, CR_EETCD, "watch canceled by etcd: %s",
                     m.cancel_reason ? m.cancel_reason : "no reason given");
            watch_broken(w, &err);
        }
        store_watch_msg_release(&m);
        return false;
    }
    w->next_rev = store_watch_resume_rev(w->next_rev, w->from_now, &m);
    if (m.created) {
        w->backoff_ms = WATCH_BACKOFF_MIN_MS;
    } else if (m.nevents) {
        if (w->h.on_events) {
            w->in_cb++;
            w->h.on_events(w->arg, m.events, m.nevents);
            alive = handler_exit(w);
        }
    } else if (w->h.on_progress) {
        w->in_cb++;
        w->h.on_progress(w->arg, m.revision);
        alive = handler_exit(w);
    }
    store_watch_msg_release(&m);
    return alive;
}

/* One gateway line; as watch_msg. */
static bool watch_line(store_watch *w, const char *line, size_t len)
{
    store_watch_msg m;
    cr_err err;

    if (store_watch_msg_parse(line, len, &m, &err) < 0) {
        watch_broken(w, &err);
        return false;
    }
    return watch_msg(w, m);
}

/* The gRPC frames the buffer holds whole; false as watch_msg. */
static bool watch_frames(store_watch *w)
{
    store_watch_msg m;
    cr_err err;
    size_t n;
    int rc;

    while ((rc = store_grpc_frame(w->line.data, w->line.len, &n, &err)) > 0) {
        /* the message keeps copies of what it needs from the buffer */
        rc = store_watch_msg_parse_pb(w->line.data + 5, n, &m, &err);
        cr_buf_consume(&w->line, n + 5);
        if (rc < 0)
            break;
        if (!watch_msg(w, m))
            return false;
    }
    if (rc == 0)
        return true;
    watch_broken(w, &err);
    return false;
}

static void watch_head(cr_http_req *r, const cr_http_resp *resp, void *arg)
{
    store_watch *w = arg;

    w->status = resp->status;
}

static void watch_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    store_watch *w = arg;
    char *nl;

    if (w->status != 200) {
        if (w->errbody.len < 64 * 1024)
            cr_buf_add(&w->errbody, data, len);
        return;
    }
    cr_buf_add(&w->line, data, len);
    if (w->grpc) {
        watch_frames(w);
        return;
    }
    while (w->line.len && (nl = memchr(w->line.data, '\n', w->line.len))) {
        size_t n = (size_t)(nl - w->line.data);
        char *copy = xstrndup(w->line.data, n);
        bool alive;

        cr_buf_consume(&w->line, n + 1);
        alive = n == 0 || watch_line(w, copy, n);
        free(copy);
        if (!alive)
            return;
    }
}

static void watch_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *herr, void *arg)
{
    store_watch *w = arg;
    cr_err err;

    w->req = NULL;
    /* a last line without a newline (a gRPC frame comes whole or not at all) */
    if (!herr && w->status == 200 && w->line.len && !w->grpc) {
        char *copy = xstrndup(w->line.data, w->line.len);
        size_t n = w->line.len;
        bool alive;

        cr_buf_reset(&w->line);
        alive = watch_line(w, copy, n);
        free(copy);
        if (!alive)
            return;
    }
    if (w->stopped)
        return;
    if (herr) {
        err = *herr;
        if (herr->code == CR_EUNAVAIL || herr->code == CR_ETIMEOUT)
            store_failover(w->s, w->ep, herr);
    } else {
        /* an error (the gateway's answer, or gRPC's trailers), or none: a
         * stream etcd ended (or cut short, for gRPC: CR_EIO as well) */
        if (w->grpc ? !store_grpc_failed(resp, &err) : w->status == 200)
            cr_error(&err, CR_EIO, "watch stream from %s ended", w->s->eps[w->ep]);
        else if (!w->grpc)
            store_etcd_error(w->status, w->errbody.data, w->errbody.len, &err);
        if (store_err_grpc_code(&err) == 16)
            store_drop_token(w->s);
        if (store_err_grpc_code(&err) == 14 || err.code == CR_EIO)
            store_failover(w->s, w->ep, &err);
    }
    watch_broken(w, &err);
}

/* The body that creates the watch from its next revision: a WatchRequest
 * for gRPC, else the gateway's JSON (caller frees). */
static char *watch_body(const store_watch *w, size_t *len)
{
    char rev[64] = "", *body, *kb, *eb = NULL;

    if (w->grpc)
        return store_watch_create_pb(w->key, w->prefix, w->next_rev, w->prev_kv, len);
    kb = store_b64_encode(w->key, strlen(w->key));
    if (w->prefix) {
        size_t elen;
        char *end = store_prefix_end(w->key, strlen(w->key), &elen);
        eb = store_b64_encode(end, elen);
        free(end);
    }
    if (w->next_rev > 0)
        snprintf(rev, sizeof(rev), ",\"start_revision\":\"%" PRId64 "\"", w->next_rev);
    body = xasprintf("{\"create_request\":{\"key\":\"%s\"%s%s%s%s,\"progress_notify\":true%s}}", kb,
                     eb ? ",\"range_end\":\"" : "", eb ? eb : "", eb ? "\"" : "", rev,
                     w->prev_kv ? ",\"prev_kv\":true" : "");
    free(kb);
    free(eb);
    *len = strlen(body);
    return body;
}

static void watch_connect(store_watch *w)
{
    store *s = w->s;
    cr_http_opts o = {0};
    const char *hdrs[5];
    char *auth, *url, *body;
    cr_err err;

    if (!s || w->stopped || w->req)
        return;
    if (store_need_auth(s)) {
        w->waiting_auth = true;
        return;
    }
    w->grpc = !s->json_only;
    store_post_opts(s, w->grpc, &o, hdrs, &auth);
    w->ep = s->cur;
    url = store_url(s, w->ep, w->grpc ? "/etcdserverpb.Watch/Watch" : "/v3/watch");
    body = watch_body(w, &o.body_len);
    o.url = url;
    o.body = body;
    o.timeout_ms = 0;
    o.on_head = watch_head;
    o.on_data = watch_data;
    o.on_done = watch_done;
    o.arg = w;
    w->status = 0;
    cr_buf_reset(&w->line);
    cr_buf_reset(&w->errbody);
    w->req = cr_http_start(s->http, &o, &err);
    free(url);
    free(auth);
    free(body);
    if (!w->req)
        watch_broken(w, &err);
}

store_watch *store_watch_start(store *s, const char *key, const store_watch_opts *opts,
                               const store_watch_handlers *h, void *arg, cr_err *err)
{
    store_watch *w;

    if (!key || !*key) {
        cr_error(err, CR_EINVAL, "etcd watch: empty key");
        return NULL;
    }
    if (!h || !h->on_events) {
        cr_error(err, CR_EINVAL, "etcd watch %s: on_events is required", key);
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->key = xstrdup(key);
    w->prefix = opts && opts->prefix;
    w->prev_kv = opts && opts->prev_kv;
    w->next_rev = opts ? opts->start_revision : 0;
    w->from_now = w->next_rev == 0;
    w->h = *h;
    w->arg = arg;
    w->backoff_ms = WATCH_BACKOFF_MIN_MS;
    cr_buf_init(&w->line);
    cr_buf_init(&w->errbody);
    w->retry_ev = evtimer_new(s->base, retry_cb, w);
    w->next = s->watches;
    if (s->watches)
        s->watches->prev = w;
    s->watches = w;
    watch_connect(w);
    return w;
}

void store_watches_auth_done(store *s, const cr_err *err)
{
    store_watch *w;

again:
    for (w = s->watches; w; w = w->next) {
        if (!w->waiting_auth)
            continue;
        w->waiting_auth = false;
        if (err) {
            watch_broken(w, err);
            goto again; /* handlers may have freed watches */
        }
        watch_connect(w);
    }
}

void store_watches_detach(store *s)
{
    while (s->watches) {
        store_watch *w = s->watches;

        watch_halt(w);
        if (w->retry_ev) {
            event_free(w->retry_ev);
            w->retry_ev = NULL;
        }
        watch_unlink(w);
        w->s = NULL;
    }
}
