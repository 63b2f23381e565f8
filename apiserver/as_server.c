/* evhttp plumbing of the API. Everything decided here is about HTTP and
 * I/O; what an operation means lives in as_api.c. */
#include "apiserver/as_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/as_api.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_gate.h"
#include "apiserver/as_index.h"
#include "apiserver/as_memo.h"
#include "apiserver/as_route.h"
#include "apiserver/as_logs.h"
#include "apiserver/as_sandbox.h"
#include "apiserver/as_ui.h"
#include "apiserver/as_user.h"
#include "apis/schema.h"
#include "base/clock.h"
#include "base/version.h"
#include "base/xalloc.h"

#define DEFAULT_MAX_BODY (1024 * 1024)
/* Refusals (401, 403) logged per second at most; the others are counted
 * in /metrics as always, and their number is logged with the next line. */
#define REFUSAL_LOGS_PER_SEC 20
#define SSE_PING_S       15
/* A watch client this far behind is dropped rather than buffered forever. */
#define SSE_MAX_BACKLOG (8 * 1024 * 1024)

/* A response waiting for its transaction and then for the cache. */
typedef struct pending {
    as_server *srv;
    struct evhttp_request *req; /* NULL once the client went away */
    as_result result;
    as_op op;
    int64_t started;  /* mono ms */
    int64_t wait_rev; /* 0 while the txn is in flight */
    struct event *timer;
    struct pending *prev, *next;
} pending;

/* A /api/watch client. */
typedef struct sse {
    as_server *srv;
    struct evhttp_request *req;
    store_watch *watch; /* a watch from a past revision; else fed by the cache */
    char *prefix;       /* the keys a cache-fed stream follows */
    int64_t from;       /* ... from this revision on */
    struct event *ping;
    as_identity who; /* the caller, a copy (known: authenticated) */
    bool known;
    struct sse *prev, *next;
} sse;

typedef struct piece_pool piece_pool;

/* A list answer, or a whole-cache read (as_walk), being written (see
 * "lists written in pieces"). */
typedef struct stream {
    as_server *srv;
    struct evhttp_request *req; /* the reply is started */
    as_list *list;              /* one of the two */
    as_walk *walk;
    as_op op;
    int64_t started; /* mono ms */
    struct stream *prev, *next;
} stream;

/* A heavy read waiting for the pump (see heavy_op). */
typedef struct deferred {
    as_server *srv;
    struct evhttp_request *req;
    int64_t started; /* mono ms */
    struct deferred *prev, *next;
} deferred;

/* A call that waits for the cache to show this replica's last write. */
typedef struct held {
    as_server *srv;
    struct evhttp_request *req;
    int64_t started; /* mono ms */
    int64_t rev;     /* served once the cache is at this revision */
    struct event *timer;
    struct held *prev, *next;
} held;

typedef struct op_stats {
    uint64_t by_class[6]; /* 1xx..5xx by status / 100 */
    uint64_t count;
    double seconds;
} op_stats;

struct as_server {
    struct event_base *base;
    struct evhttp *http;
    store *st;
    cr_http *hc;
    as_cache *cache;
    as_server_config cfg;
    char *prefix, *listen, *replica_id;
    as_api_config api;
    int port;
    bool leader, mesos_connected;
    char *layout_refused; /* as_server_set_layout_refused */
    int64_t started_wall;
    pending *waiting;
    held *held;          /* calls waiting for the cache to catch up */
    size_t nheld;
    int64_t written_rev; /* the newest revision an API write of ours committed */
    uint64_t calls_held;
    sse *watchers;
    size_t nwatchers;
    stream *streams, *turn;  /* lists and walks in progress; turn: the pump's next */
    size_t nstreams, nwalks; /* lists, walks */
    struct event *pump;
    deferred *queued, *queued_last; /* heavy reads waiting, oldest first */
    size_t nqueued;
    piece_pool *pieces;
    uint64_t lists_total, reads_rejected;
    as_memo *memo;
    as_index *index; /* /metrics' and /api/state's counts (as_index.h) */
    as_sandbox *sandbox;
    as_logs *logs; /* /api/logs/task/{id}/follow streams (as_logs.h) */
    as_gate *gate; /* judges each request's head before evhttp reads it (as_gate.h) */
    as_metrics_hook hook;
    void *hook_arg;
    uint64_t nonce_seq;
    op_stats ops[AS_OP__COUNT];
    /* Latency histogram of every API answer (Prometheus buckets, seconds). */
    uint64_t hist[12];
    uint64_t hist_count;
    double hist_sum;
    uint64_t txn_ok, txn_conflict, txn_error;
    /* etcd txns that carried API writes (store_write combines the writes
     * of a loop turn), next to txn_*, which count the writes */
    uint64_t txns_sent;
    double txn_seconds;
    /* Refused credentials by reason (as_auth_identify's), and calls refused
     * for want of any (401) or of a group (403). */
    struct {
        const char *why;
        uint64_t n;
    } auth_bad[8];
    uint64_t auth_unauthenticated, auth_forbidden;
    /* log_refusal's rate limit: the second, lines logged in it, and the
     * refusals left out since the last line */
    int64_t refusal_sec;
    unsigned refusal_lines;
    uint64_t refusal_unlogged;
};

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 501:
        return "Not Implemented";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

static const double buckets[12] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,   0.25,   0.5,   1,    2.5,   5};

static void record(as_server *s, as_op op, int status, int64_t started)
{
    op_stats *o = &s->ops[op < AS_OP__COUNT ? op : AS_OP_NONE];
    int cls = status / 100;
    double secs = (double)(cr_mono_ms() - started) / 1000.0;

    o->by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
    if (status == 401)
        s->auth_unauthenticated++;
    else if (status == 403)
        s->auth_forbidden++;
    o->count++;
    o->seconds += secs;
    for (int i = 0; i < 12; i++)
        if (secs <= buckets[i])
            s->hist[i]++;
    s->hist_count++;
    s->hist_sum += secs;
}

/* Sends txt (taken; NULL: an empty body), len bytes of JSON, with status;
 * etag is its validator (as_api_etag) if status is 200 for a GET or HEAD. */
static void send_encoded(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                         int status, char *txt, size_t len, uint32_t etag)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (status == 401 && !evhttp_find_header(h, "WWW-Authenticate"))
        evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"corral\"");
    if (txt && status != 204) {
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        if (status == 200 && (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
            /* A validator of the answer, as Singularity's HEAD of a request
             * gives one: a 32-bit decimal, since its Java client reads it
             * with Integer.parseInt (headRequest). If-None-Match with it,
             * bare or quoted, is a 304. */
            char tag[16], quoted[20];
            const char *inm =
                evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
            snprintf(tag, sizeof(tag), "%" PRId32, (int32_t)etag);
            snprintf(quoted, sizeof(quoted), "\"%s\"", tag);
            evhttp_add_header(h, "ETag", tag);
            if (inm &&
                (strcmp(inm, tag) == 0 || strcmp(inm, quoted) == 0 || strcmp(inm, "*") == 0)) {
                free(txt);
                evhttp_send_reply(req, 304, "Not Modified", buf);
                evbuffer_free(buf);
                record(s, op, 304, started);
                return;
            }
        }
        evbuffer_add(buf, txt, len);
        evbuffer_add(buf, "\n", 1);
        evhttp_add_header(h, "Content-Type", "application/json");
    }
    free(txt);
    evhttp_send_reply(req, status, reason(status), buf);
    evbuffer_free(buf);
    record(s, op, status, started);
}

/* Sends body (may be NULL: empty) as JSON with status. Its ETag is of the
 * request document alone for a request (as_api.h: as_api_etag), else of
 * the answer's bytes. */
static void send_json(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                      int status, const json_t *body)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char *txt = NULL;
    size_t len = 0;
    uint32_t etag = 0;

    if (body && status != 204) {
        txt = json_dumps(body, AS_JSON_FLAGS);
        len = txt ? strlen(txt) : 0;
        if (txt && status == 200 && (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
            const json_t *rq = op == AS_OP_REQ_GET ? json_object_get(body, "request") : NULL;
            etag = json_is_object(rq) ? as_api_request_etag(rq) : as_api_etag(txt, len);
        }
    }
    send_encoded(s, req, op, started, status, txt, len, etag);
}

/* Sends r's answer: its bytes when it has them (r->json, taken), else its
 * body. */
static void send_result(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                        as_result *r)
{
    if (r->json) {
        send_encoded(s, req, op, started, r->status, r->json, r->json_len, r->json_etag);
        r->json = NULL;
        return;
    }
    send_json(s, req, op, started, r->status, r->body);
}

static void send_error(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                       int status, const char *msg)
{
    json_t *b = json_pack("{s:s, s:i}", "message", msg, "status", status);
    send_json(s, req, op, started, status, b);
    json_decref(b);
}

static void send_text(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                      int status, const char *ctype, const char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, text, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, status, reason(status), buf);
    evbuffer_free(buf);
    record(s, op, status, started);
}

/* ---- waiting for writes --------------------------------------------------------- */

static void pending_free(pending *p)
{
    as_server *s = p->srv;

    if (p->prev)
        p->prev->next = p->next;
    else if (s->waiting == p)
        s->waiting = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->req)
        evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
    if (p->timer)
        event_free(p->timer);
    store_cancel(s->st, p);
    as_result_release(&p->result);
    free(p);
}

static void pending_finish(pending *p)
{
    as_server *s = p->srv;

    if (p->req) {
        if (p->result.render_parent) {
            json_t *parent = as_api_request_parent(&s->api, s->cache, p->result.render_parent);
            if (parent) {
                json_decref(p->result.body);
                p->result.body = parent;
            }
        }
        evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
        send_json(s, p->req, p->op, p->started, p->result.status, p->result.body);
        p->req = NULL;
    }
    pending_free(p);
}

/* The client closed its connection before the answer. evhttp detaches a
 * request it has not answered yet (its connection becomes NULL) and leaves
 * it to us to free; one still attached is freed with the connection. */
static void drop_request(struct evhttp_request *req)
{
    if (req && !evhttp_request_get_connection(req))
        evhttp_request_free(req);
}

static void on_client_gone(struct evhttp_connection *conn, void *arg)
{
    pending *p = arg;
    drop_request(p->req);
    p->req = NULL; /* finish quietly */
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    pending *p = arg;
    /* Committed but not yet visible here: answer anyway (the fallback body
     * already reflects the write). */
    cr_warn(p->srv->cfg.log, "cache did not reach revision %lld in time", (long long)p->wait_rev);
    pending_finish(p);
}

static void held_release(held *h);

void as_server_cache_advanced(as_server *s, int64_t revision)
{
    pending *p = s->waiting, *next;
    for (; p; p = next) {
        next = p->next;
        if (p->wait_rev > 0 && revision >= p->wait_rev)
            pending_finish(p);
    }
    /* oldest first; a call served here is never held again */
    held *h = s->held;
    while (h && h->next)
        h = h->next;
    for (held *prev; h; h = prev) {
        prev = h->prev;
        if (revision >= h->rev)
            held_release(h);
    }
}

static void on_committed(void *arg, const store_result *res, const cr_err *err)
{
    pending *p = arg;
    as_server *s = p->srv;
    long wait = s->cfg.write_wait_ms > 0 ? s->cfg.write_wait_ms : 5000;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};

    s->txn_seconds += (double)(cr_mono_ms() - p->started) / 1000.0;
    /* a combined txn counts once, at its first write; a retry alone, once
     * for each write retried */
    if (res)
        s->txns_sent += (res->batch_first ? 1 : 0) + (res->batch_retried ? 1 : 0);
    if (err) {
        s->txn_error++;
        cr_warn(s->cfg.log, "api write failed: %s", cr_err_msg(err));
        as_fail(&p->result, err->code == CR_ETOOLARGE ? 400 : 503, "etcd write failed: %s",
                cr_err_msg(err));
        pending_finish(p);
        return;
    }
    if (!res->succeeded) {
        s->txn_conflict++;
        as_fail(&p->result, 409,
                "conflict: the objects this call changes were changed concurrently; "
                "read them again and retry");
        pending_finish(p);
        return;
    }
    s->txn_ok++;
    p->wait_rev = res->revision;
    if (res->revision > s->written_rev)
        s->written_rev = res->revision;
    if (as_cache_revision(s->cache) >= p->wait_rev) {
        pending_finish(p);
        return;
    }
    p->timer = evtimer_new(s->base, on_wait_timeout, p);
    evtimer_add(p->timer, &tv);
}

static void commit(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                   as_result *r)
{
    pending *p = xcalloc(1, sizeof(*p));
    store_txn *t = store_txn_new();
    cr_err err;

    p->srv = s;
    p->req = req;
    p->op = op;
    p->started = started;
    p->result = *r;
    memset(r, 0, sizeof(*r));
    p->next = s->waiting;
    if (s->waiting)
        s->waiting->prev = p;
    s->waiting = p;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_gone, p);
    for (size_t i = 0; i < p->result.txn.ncmp; i++)
        store_txn_if_mod(t, p->result.txn.cmp[i].key, STORE_EQ, p->result.txn.cmp[i].mod_revision);
    for (size_t i = 0; i < p->result.txn.nput; i++) {
        const as_put *w = &p->result.txn.put[i];
        if (w->value)
            store_txn_put(t, STORE_THEN, w->key, w->value, strlen(w->value), NULL);
        else
            store_txn_delete(t, STORE_THEN, w->key, w->prefix);
    }
    /* Group commit: the writes of this loop turn (and those queued while a
     * txn is in flight) share txns; each still gets its own answer, a
     * conflict only for its own compares, and the revision it landed at. */
    if (store_write(s->st, t, on_committed, p, &err) < 0) {
        s->txn_error++;
        as_fail(&p->result, err.code == CR_ETOOLARGE ? 400 : 503, "etcd write failed: %s",
                cr_err_msg(&err));
        pending_finish(p);
    }
}

/* ---- lists written in pieces ----------------------------------------------------------- */

/* Encoding work per loop turn over every list (and walk) in progress, so the loop
 * (the leader's controllers, bridge and lease too) runs again within a few
 * milliseconds; a piece of a list (a list is encoded while less than a
 * piece waits in its connection's buffer: one piece is being written, the
 * next is ready); entries examined between two clock reads; bytes per
 * socket write of a list's connection (libevent's default, 16 KiB, would
 * take a loop turn per 16 KiB). */
#define PUMP_BUDGET_US           2000
#define LIST_PIECE               (64 * 1024)
#define LIST_STEP                16
#define LIST_WRITE_MAX           (64 * 1024)
#define DEFAULT_MAX_LIST_STREAMS 128
#define DEFAULT_LIST_STALL_MS    30000
/* Heavy reads waiting for their turn, with the walks in progress; more
 * get a 503. */
#define MAX_DEFERRED 256
/* Calls waiting for the cache to show a write; beyond, answered at once
 * from what the cache has (as before there was a wait). */
#define MAX_HELD 1024

/* serve's how: a call that just arrived may wait for the pump (heavy
 * reads) and for the cache (read-your-writes). */
enum { SERVE_QUEUE = 1u << 0, SERVE_CATCH_UP = 1u << 1 };
static void serve(as_server *s, struct evhttp_request *req, int64_t started, unsigned how);

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Runs the pump at the next loop turn (after the I/O that is ready). */
static void pump_arm(as_server *s)
{
    struct timeval now = {0, 0};
    if (!evtimer_pending(s->pump, NULL))
        evtimer_add(s->pump, &now);
}

/* Reads that walk the whole cache and are answered at once (small answers
 * from a large walk): the pump runs at most one of them per loop turn, so
 * many at once cannot hold the loop for the sum of their times. A GET of
 * the state and metrics reads (as_walk_op) is walked instead, a slice per
 * turn, and written as lists are (start_walk); their HEAD waits here. */
static bool heavy_op(as_op op)
{
    switch (op) {
    case AS_OP_STATE:
    case AS_OP_METRICS:
    case AS_OP_REQ_QUEUED_PENDING:
    case AS_OP_REQ_QUEUED_CLEANUP:
    case AS_OP_DEPLOY_PENDING:
    case AS_OP_HIST_TASKS:
    case AS_OP_AGENTS_LIST:
    case AS_OP_RACKS_LIST:
    /* Singularity's other whole-cache reads (as_compat.h) */
    case AS_OP_HIST_TASKS_META:
    case AS_OP_STATE_UNDER:
    case AS_OP_STATE_OVER:
    case AS_OP_STATE_SCHEDULED_INFO:
    case AS_OP_TASKS_ACTIVE_STATES:
    case AS_OP_TASKS_KILLED:
    case AS_OP_HIST_REQUESTS_SEARCH:
    case AS_OP_REQ_IDS:
    case AS_OP_REQ_IDS_ACTIVE:
    case AS_OP_REQ_CRASHLOOPS:
        return true;
    default:
        return false;
    }
}

static void deferred_free(deferred *d)
{
    as_server *s = d->srv;

    if (d->prev)
        d->prev->next = d->next;
    else if (s->queued == d)
        s->queued = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else if (s->queued_last == d)
        s->queued_last = d->prev;
    s->nqueued--;
    free(d);
}

static void deferred_gone(struct evhttp_connection *conn, void *arg)
{
    deferred *d = arg;
    drop_request(d->req);
    deferred_free(d);
}

/* Queues a heavy read for the pump (first come, first served). */
static void defer(as_server *s, struct evhttp_request *req, as_op op, int64_t started)
{
    deferred *d;

    if (s->nqueued + s->nwalks >= MAX_DEFERRED) {
        s->reads_rejected++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        send_error(s, req, op, started, 503, "too many reads waiting; retry later");
        return;
    }
    d = xcalloc(1, sizeof(*d));
    d->srv = s;
    d->req = req;
    d->started = started;
    d->prev = s->queued_last;
    if (s->queued_last)
        s->queued_last->next = d;
    else
        s->queued = d;
    s->queued_last = d;
    s->nqueued++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), deferred_gone, d);
    pump_arm(s);
}

/* Runs the oldest queued heavy read. */
static void run_deferred(as_server *s)
{
    deferred *d = s->queued;
    struct evhttp_request *req = d->req;
    int64_t started = d->started;

    evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
    deferred_free(d);
    serve(s, req, started, 0);
}

/* ---- read-your-writes across calls ------------------------------------------- */

/* A write's answer waits for the cache to show it, but only up to
 * write_wait_ms; and the next call may come on another connection. So a
 * call that arrives while the cache is behind the newest write this
 * replica committed waits for it too (as long at most): a POST
 * /api/deploys right after its request's 200 finds the request. */

static void held_free(held *h)
{
    as_server *s = h->srv;

    if (h->prev)
        h->prev->next = h->next;
    else if (s->held == h)
        s->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (h->timer)
        event_free(h->timer);
    s->nheld--;
    free(h);
}

static void held_gone(struct evhttp_connection *conn, void *arg)
{
    held *h = arg;
    drop_request(h->req);
    held_free(h);
}

static void held_release(held *h)
{
    as_server *s = h->srv;
    struct evhttp_request *req = h->req;
    int64_t started = h->started;

    evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
    held_free(h);
    serve(s, req, started, SERVE_QUEUE);
}

static void on_held_timeout(evutil_socket_t fd, short what, void *arg)
{
    held *h = arg;
    as_server *s = h->srv;

    cr_warn(s->cfg.log, "cache did not reach revision %lld in time; answering from it anyway",
            (long long)h->rev);
    /* a cache that stalls (or an etcd restored to an older revision) holds
     * the calls of one write wait, not of every one after it */
    if (s->written_rev > as_cache_revision(s->cache))
        s->written_rev = as_cache_revision(s->cache);
    held_release(h);
}

static void hold(as_server *s, struct evhttp_request *req, int64_t started)
{
    long wait = s->cfg.write_wait_ms > 0 ? s->cfg.write_wait_ms : 5000;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
    held *h = xcalloc(1, sizeof(*h));

    h->srv = s;
    h->req = req;
    h->started = started;
    h->rev = s->written_rev;
    h->next = s->held;
    if (s->held)
        s->held->prev = h;
    s->held = h;
    s->nheld++;
    s->calls_held++;
    h->timer = evtimer_new(s->base, on_held_timeout, h);
    evtimer_add(h->timer, &tv);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), held_gone, h);
}

static void stream_free(stream *st)
{
    as_server *s = st->srv;

    if (s->turn == st)
        s->turn = st->next;
    if (st->prev)
        st->prev->next = st->next;
    else if (s->streams == st)
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    if (st->list)
        s->nstreams--;
    else
        s->nwalks--;
    as_list_free(st->list);
    as_walk_free(st->walk);
    free(st);
}

static void stream_gone(struct evhttp_connection *conn, void *arg)
{
    stream *st = arg;
    drop_request(st->req);
    st->req = NULL;
    stream_free(st);
}

/* Whether st's connection has room for another piece. */
static bool stream_ready(const stream *st)
{
    struct evhttp_connection *conn = st->req ? evhttp_request_get_connection(st->req) : NULL;
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev && evbuffer_get_length(bufferevent_get_output(bev)) < LIST_PIECE;
}

/* The connection wrote everything it had: more pieces may be encoded. */
static void stream_drained(struct evhttp_connection *conn, void *arg)
{
    stream *st = arg;
    pump_arm(st->srv);
}

/* The last piece was written: end the reply (arg: the request). Ending it
 * at once, from the pump, loses the end with TLS: bufferevent_openssl runs
 * write callbacks deferred, so one left from an earlier write (the reply's
 * headers) would find evhttp's "reply done" callback installed with the
 * piece still unwritten, and evhttp would stop writing the connection. */
static void stream_end_drained(struct evhttp_connection *conn, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(conn))) == 0)
        evhttp_send_reply_end(arg);
}

/* Piece buffers are reused: a fresh buffer per piece made glibc map,
 * fault in and give back memory for every piece (page faults were most of
 * a profile under load). A piece being written holds a reference on the
 * pool: evhttp may free a connection's buffers after the server is gone. */
#define PIECE_CAP   (LIST_PIECE + 64 * 1024)
#define POOL_PIECES 32

struct piece_pool {
    int refs;
    size_t n;
    char *v[POOL_PIECES];
};

static void pool_unref(piece_pool *p)
{
    if (--p->refs > 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p);
}

/* An empty buffer of PIECE_CAP bytes for the next piece. */
static void piece_take(piece_pool *p, cr_buf *b)
{
    b->data = p->n ? p->v[--p->n] : xmalloc(PIECE_CAP);
    b->cap = PIECE_CAP;
    b->len = 0;
    b->data[0] = '\0';
}

/* evbuffer cleanup of a piece written (or dropped). */
static void piece_done(const void *data, size_t len, void *arg)
{
    piece_pool *p = arg;
    if (p->n < POOL_PIECES)
        p->v[p->n++] = (char *)data;
    else
        free((void *)data);
    pool_unref(p);
}

static void piece_free(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

static void metrics_tail(as_server *s, cr_buf *b);

/* Encodes and sends the next piece of st's list (at least one step, then
 * until a piece is full or the deadline passed); ends the reply and frees
 * st after the last piece. */
static void stream_piece(stream *st, int64_t deadline)
{
    as_server *s = st->srv;
    cr_buf b;
    bool done;

    piece_take(s->pieces, &b);
    do
        done = st->list ? as_list_next(st->list, s->cache, &b, LIST_STEP)
                        : as_walk_next(st->walk, s->cache, &b, LIST_STEP);
    while (!done && b.len < LIST_PIECE && mono_us() < deadline);
    if (done && st->op == AS_OP_METRICS)
        metrics_tail(s, &b); /* this replica's own */
    else if (done)
        cr_buf_addch(&b, '\n');
    if (b.len) {
        struct evbuffer *eb = evbuffer_new();
        if (b.cap == PIECE_CAP) { /* not grown by a huge element: reuse it */
            s->pieces->refs++;
            evbuffer_add_reference(eb, b.data, b.len, piece_done, s->pieces);
        } else {
            evbuffer_add_reference(eb, b.data, b.len, piece_free, NULL);
        }
        /* The last piece (never empty: it ends with a newline) ends the reply
         * once written. */
        if (done)
            evhttp_send_reply_chunk_with_cb(st->req, eb, stream_end_drained, st->req);
        else
            evhttp_send_reply_chunk_with_cb(st->req, eb, stream_drained, st);
        evbuffer_free(eb);
    } else if (b.cap == PIECE_CAP && s->pieces->n < POOL_PIECES) {
        s->pieces->v[s->pieces->n++] = b.data;
    } else {
        cr_buf_release(&b);
    }
    if (done) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(st->req), NULL, NULL);
        record(s, st->op, 200, st->started);
        stream_free(st);
    }
}

/* One loop turn's share of list encoding: a piece per list in turn, from
 * where the last turn stopped, until the budget is spent or every list
 * waits for its connection to take what it has. */
static void pump(evutil_socket_t fd, short what, void *arg)
{
    as_server *s = arg;
    int64_t deadline = mono_us() + PUMP_BUDGET_US;
    bool progress = true;

    if (s->queued)
        run_deferred(s);
    while (progress && mono_us() < deadline) {
        progress = false;
        for (size_t k = s->nstreams + s->nwalks; k > 0 && s->streams && mono_us() < deadline; k--) {
            stream *st = s->turn ? s->turn : s->streams;
            s->turn = st->next;
            if (!stream_ready(st))
                continue; /* its drain callback arms the pump */
            stream_piece(st, deadline);
            progress = true;
        }
    }
    if (s->queued)
        pump_arm(s);
    for (stream *st = s->streams; st; st = st->next)
        if (stream_ready(st)) {
            pump_arm(s);
            break;
        }
}

/* Starts the chunked reply of st (taken), a list or a walk that the pump
 * writes, with content type ctype. */
static void stream_start(as_server *s, stream *st, const char *ctype)
{
    struct evhttp_request *req = st->req;
    long stall_ms =
        s->cfg.list_stall_timeout_ms > 0 ? s->cfg.list_stall_timeout_ms : DEFAULT_LIST_STALL_MS;
    struct timeval stall = {stall_ms / 1000, (stall_ms % 1000) * 1000};
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);

    st->srv = s;
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    if (st->list)
        s->nstreams++;
    else
        s->nwalks++;
    evhttp_add_header(h, "Content-Type", ctype);
    /* HTTP/1.1 gets chunks. An HTTP/1.0 "keep-alive" client would get a
     * "Content-Length: 0" from evhttp, so it gets what HTTP/1.0 does
     * without it: the body until the connection closes. (Keep-alive is
     * HTTP/1.1's default anyway.) */
    const char *ka = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
    if (ka && strcasecmp(ka, "keep-alive") == 0)
        evhttp_remove_header(evhttp_request_get_input_headers(req), "Connection");
    evhttp_send_reply_start(req, 200, reason(200));
    evhttp_connection_set_closecb(conn, stream_gone, st);
    /* A write timeout only: evhttp keeps reading (to see a close), and a
     * client waiting for its answer sends nothing. On expiry evhttp drops
     * the connection and stream_gone runs. */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(conn), NULL, &stall);
    bufferevent_set_max_single_write(evhttp_connection_get_bufferevent(conn), LIST_WRITE_MAX);
    pump_arm(s);
}

/* Answers a list operation: l (taken) is written by the pump. */
static void start_list(as_server *s, struct evhttp_request *req, as_op op, unsigned method,
                       int64_t started, as_list *l)
{
    size_t max = s->cfg.max_list_streams ? s->cfg.max_list_streams : DEFAULT_MAX_LIST_STREAMS;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    stream *st;

    if (method == AS_HEAD) { /* no body: nothing to encode */
        as_list_free(l);
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_send_reply(req, 200, reason(200), NULL);
        record(s, op, 200, started);
        return;
    }
    if (s->nstreams >= max) {
        char msg[160];
        as_list_free(l);
        s->reads_rejected++;
        snprintf(msg, sizeof(msg),
                 "too many list answers in progress (%zu, --max-list-streams); retry later", max);
        evhttp_add_header(h, "Retry-After", "1");
        send_error(s, req, op, started, 503, msg);
        return;
    }
    st = xcalloc(1, sizeof(*st));
    st->req = req;
    st->list = l;
    st->op = op;
    st->started = started;
    s->lists_total++;
    stream_start(s, st, "application/json");
}

/* Answers a whole-cache read (GET): w (taken) counts and writes its answer
 * through the pump, as lists are written. It counts against the reads
 * waiting for their turn. */
static void start_walk(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                       as_walk *w)
{
    stream *st;

    if (s->nqueued + s->nwalks >= MAX_DEFERRED) {
        as_walk_free(w);
        s->reads_rejected++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        send_error(s, req, op, started, 503, "too many reads waiting; retry later");
        return;
    }
    st = xcalloc(1, sizeof(*st));
    st->req = req;
    st->walk = w;
    st->op = op;
    st->started = started;
    stream_start(s, st, op == AS_OP_METRICS ? "text/plain; version=0.0.4" : "application/json");
}

/* ---- /api/watch -------------------------------------------------------------------- */

static void sse_free(sse *w)
{
    as_server *s = w->srv;

    if (w->prev)
        w->prev->next = w->next;
    else if (s->watchers == w)
        s->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    s->nwatchers--;
    store_watch_free(w->watch);
    if (!w->watch)
        store_cache_unsubscribe(s->cache, w);
    free(w->prefix);
    if (w->ping)
        event_free(w->ping);
    as_identity_release(&w->who);
    free(w);
}

static void sse_end(sse *w)
{
    if (w->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
        evhttp_send_reply_end(w->req);
        w->req = NULL;
    }
    sse_free(w);
}

static void sse_send(sse *w, const char *event, int64_t id, const json_t *data)
{
    struct evbuffer *buf = evbuffer_new();
    char *txt = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

    if (id > 0)
        evbuffer_add_printf(buf, "id: %" PRId64 "\n", id);
    evbuffer_add_printf(buf, "event: %s\ndata: %s\n\n", event, txt);
    evhttp_send_reply_chunk(w->req, buf);
    evbuffer_free(buf);
    free(txt);
}

static size_t sse_backlog(sse *w)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(w->req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void sse_end(sse *w);

/* Whether the stream's caller may see key (as_api_key_visible). */
static bool sse_visible(sse *w, const char *key)
{
    int mine = as_user_key_visible(&w->srv->api, w->known ? &w->who : NULL, key);
    if (mine >= 0)
        return mine;
    return as_api_key_visible(&w->srv->api, w->srv->cache, w->known ? &w->who : NULL, key);
}

static void sse_events(void *arg, const store_event *evs, size_t n)
{
    sse *w = arg;

    if (w->req && sse_backlog(w) > SSE_MAX_BACKLOG) {
        cr_warn(w->srv->cfg.log, "watch client too slow (%zu bytes queued); closing",
                sse_backlog(w));
        sse_end(w);
        return;
    }
    for (size_t i = 0; i < n && w->req; i++) {
        const store_kv *kv = &evs[i].kv;
        bool put = evs[i].type == STORE_EV_PUT;
        if (!sse_visible(w, kv->key))
            continue;
        json_t *val =
            put ? json_loadb(kv->value ? kv->value : "", kv->value_len, JSON_DECODE_ANY, NULL)
                : NULL;
        json_t *d = json_pack("{s:s, s:s, s:I}", "type", put ? "PUT" : "DELETE", "key", kv->key,
                              "modRevision", (json_int_t)kv->mod_revision);
        if (put) {
            json_object_set_new(d, "createRevision", json_integer(kv->create_revision));
            json_object_set_new(d, "value", val ? val : json_stringn(kv->value, kv->value_len));
        }
        sse_send(w, put ? "put" : "delete", kv->mod_revision, d);
        json_decref(d);
    }
}

/* A change seen by the replica's cache: sent from the parsed value, so
 * clients following "now" cost etcd nothing. */
static void sse_change(void *arg, const store_obj *old, const store_obj *cur)
{
    sse *w = arg;
    const store_obj *o = cur ? cur : old;
    if (!w->req || strncmp(o->key, w->prefix, strlen(w->prefix)) != 0 ||
        store_cache_revision(w->srv->cache) < w->from || !sse_visible(w, o->key))
        return;
    if (sse_backlog(w) > SSE_MAX_BACKLOG) {
        cr_warn(w->srv->cfg.log, "watch client too slow (%zu bytes queued); closing",
                sse_backlog(w));
        sse_end(w);
        return;
    }
    /* a delete's revision: the cache's, while it tells of the change */
    int64_t rev = cur ? cur->mod_revision : store_cache_revision(w->srv->cache);
    json_t *d = json_pack("{s:s, s:s, s:I}", "type", cur ? "PUT" : "DELETE", "key", o->key,
                          "modRevision", (json_int_t)rev);
    if (cur) {
        json_object_set_new(d, "createRevision", json_integer(cur->create_revision));
        json_t *v = store_obj_json(cur); /* task records are kept as text: parsed here */
        json_object_set_new(d, "value", v ? v : json_null());
    }
    sse_send(w, cur ? "put" : "delete", rev, d);
    json_decref(d);
}

static void sse_compacted(void *arg, int64_t rev)
{
    sse *w = arg;
    json_t *d = json_pack("{s:s, s:I}", "message",
                          "revision compacted; list again and watch "
                          "from the list's revision",
                          "compactRevision", (json_int_t)rev);
    sse_send(w, "error", 0, d);
    json_decref(d);
    if (w->req) {
        /* The reply ends once the error is written (see stream_end_drained:
         * with TLS, ending it now could lose the error). */
        struct evbuffer *eb = evbuffer_new();
        evbuffer_add(eb, ":\n", 2);
        evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
        evhttp_send_reply_chunk_with_cb(w->req, eb, stream_end_drained, w->req);
        evbuffer_free(eb);
        w->req = NULL;
    }
    sse_free(w);
}

static void sse_gone(struct evhttp_connection *conn, void *arg)
{
    sse *w = arg;
    drop_request(w->req);
    w->req = NULL;
    sse_free(w);
}

static void sse_ping(evutil_socket_t fd, short what, void *arg)
{
    sse *w = arg;
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add_printf(buf, ": ping\n\n");
    evhttp_send_reply_chunk(w->req, buf);
    evbuffer_free(buf);
}

static void start_watch(as_server *s, struct evhttp_request *req, const as_req *ar, int64_t started)
{
    const char *q = as_req_query(ar, "prefix"), *rs = as_req_query(ar, "revision");
    store_watch_handlers h = {.on_events = sse_events, .on_compacted = sse_compacted};
    store_watch_opts o = {.prefix = true};
    struct timeval tv = {SSE_PING_S, 0};
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    sse *w = xcalloc(1, sizeof(*w));
    char *key;
    cr_err err;

    if (!q)
        key = xasprintf("%s/", s->prefix);
    else if (q[0] == '/')
        key = xstrdup(q);
    else
        key = xasprintf("%s/%s", s->prefix, q);
    w->srv = s;
    w->req = req;
    if (ar->who) {
        api_user_copy(&w->who.user, &ar->who->user);
        w->who.via = ar->who->via;
        w->who.expires_at = ar->who->expires_at;
        w->known = true;
    }
    if (rs && strtoll(rs, NULL, 10) <= as_cache_revision(s->cache)) {
        /* History this replica has not kept: etcd replays it. */
        o.start_revision = strtoll(rs, NULL, 10);
        w->watch = store_watch_start(s->st, key, &o, &h, w, &err);
        free(key);
        if (!w->watch) {
            as_identity_release(&w->who);
            free(w);
            send_error(s, req, AS_OP_WATCH, started, 503, cr_err_msg(&err));
            return;
        }
    } else {
        /* From now on (or a revision not reached yet): the cache's changes,
         * which it reports in revision order and without a gap. */
        store_cache_handlers ch = {.on_change = sse_change};
        w->prefix = key;
        w->from = rs ? strtoll(rs, NULL, 10) : 0;
        store_cache_subscribe(s->cache, &ch, w);
    }
    w->next = s->watchers;
    if (s->watchers)
        s->watchers->prev = w;
    s->watchers = w;
    s->nwatchers++;
    evhttp_add_header(hdr, "Content-Type", "text/event-stream");
    evhttp_add_header(hdr, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), sse_gone, w);
    w->ping = event_new(s->base, -1, EV_PERSIST, sse_ping, w);
    evtimer_add(w->ping, &tv);
    /* A first comment so clients see the stream is open. */
    sse_ping(-1, 0, w);
    record(s, AS_OP_WATCH, 200, started);
}

/* ---- metrics, probes, state ------------------------------------------------------------ */

static uint64_t auth_bad_total(const as_server *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof(s->auth_bad) / sizeof(s->auth_bad[0]); i++)
        n += s->auth_bad[i].n;
    return n;
}

/* What /metrics says after the cache's objects (as_api_metrics): this
 * replica, its API and the hook's. */
static void metrics_tail(as_server *s, cr_buf *out)
{
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    store_cache_stats cs;

    cr_buf_addf(out,
                "# HELP corral_leader Whether this replica is the leader.\n"
                "# TYPE corral_leader gauge\ncorral_leader{replica=\"%s\"} %d\n",
                s->replica_id, s->leader ? 1 : 0);
    cr_buf_addf(out,
                "# HELP corral_cache_revision etcd revision this replica's cache reflects.\n"
                "# TYPE corral_cache_revision gauge\ncorral_cache_revision %lld\n",
                (long long)as_cache_revision(s->cache));
    cr_buf_addf(out,
                "# HELP corral_cache_keys Documents in this replica's cache.\n"
                "# TYPE corral_cache_keys gauge\ncorral_cache_keys %zu\n",
                as_cache_count(s->cache));
    as_cache_get_stats(s->cache, &cs);
    cr_buf_addf(out,
                "# HELP corral_cache_decodes_total Values this replica's cache decoded (one per "
                "key revision), by how: parsed, or read from their own text without a parse "
                "(a task record as the bridge writes it).\n"
                "# TYPE corral_cache_decodes_total counter\n"
                "corral_cache_decodes_total{how=\"parsed\"} %" PRIu64 "\n"
                "corral_cache_decodes_total{how=\"own_text\"} %" PRIu64 "\n",
                cs.decodes - cs.own_texts, cs.own_texts);
    cr_buf_addf(out,
                "# HELP corral_api_auth_refused_total Calls refused: credentials not accepted "
                "(reason), none given where needed (unauthenticated), or not allowed "
                "(forbidden).\n"
                "# TYPE corral_api_auth_refused_total counter\n"
                "corral_api_auth_refused_total{reason=\"unauthenticated\"} %" PRIu64 "\n"
                "corral_api_auth_refused_total{reason=\"forbidden\"} %" PRIu64 "\n",
                s->auth_unauthenticated - auth_bad_total(s), s->auth_forbidden);
    for (size_t i = 0; i < sizeof(s->auth_bad) / sizeof(s->auth_bad[0]) && s->auth_bad[i].why; i++)
        cr_buf_addf(out, "corral_api_auth_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                    s->auth_bad[i].why, s->auth_bad[i].n);
    cr_buf_addf(out,
                "# HELP corral_api_watch_clients Open /api/watch streams.\n"
                "# TYPE corral_api_watch_clients gauge\ncorral_api_watch_clients %zu\n",
                s->nwatchers);
    {
        as_memo_stats ms;
        as_memo_get_stats(s->memo, &ms);
        cr_buf_addf(out,
                    "# HELP corral_api_list_streams List answers being written.\n"
                    "# TYPE corral_api_list_streams gauge\ncorral_api_list_streams %zu\n"
                    "# HELP corral_api_list_streams_max List answers written at once at most "
                    "(--max-list-streams).\n"
                    "# TYPE corral_api_list_streams_max gauge\n"
                    "corral_api_list_streams_max %zu\n"
                    "# HELP corral_api_lists_total List answers started.\n"
                    "# TYPE corral_api_lists_total counter\ncorral_api_lists_total %llu\n"
                    "# HELP corral_api_reads_waiting Whole-cache reads waiting for their "
                    "loop turn.\n"
                    "# TYPE corral_api_reads_waiting gauge\ncorral_api_reads_waiting %zu\n"
                    "# HELP corral_api_reads_rejected_total Reads answered 503 at a limit "
                    "(list answers in progress, reads waiting).\n"
                    "# TYPE corral_api_reads_rejected_total counter\n"
                    "corral_api_reads_rejected_total %llu\n"
                    "# HELP corral_api_parent_cache_hits_total Request parents served "
                    "already encoded.\n"
                    "# TYPE corral_api_parent_cache_hits_total counter\n"
                    "corral_api_parent_cache_hits_total %llu\n"
                    "# HELP corral_api_parent_cache_misses_total Request parents encoded.\n"
                    "# TYPE corral_api_parent_cache_misses_total counter\n"
                    "corral_api_parent_cache_misses_total %llu\n"
                    "# HELP corral_api_parent_cache_bytes Encoded request parents kept.\n"
                    "# TYPE corral_api_parent_cache_bytes gauge\n"
                    "corral_api_parent_cache_bytes %zu\n",
                    s->nstreams,
                    s->cfg.max_list_streams ? s->cfg.max_list_streams : DEFAULT_MAX_LIST_STREAMS,
                    (unsigned long long)s->lists_total, s->nqueued,
                    (unsigned long long)s->reads_rejected, (unsigned long long)ms.hits,
                    (unsigned long long)ms.misses, ms.bytes);
        cr_buf_addf(out,
                    "# HELP corral_api_calls_held_total Calls that waited for the cache to "
                    "show this replica's last write.\n"
                    "# TYPE corral_api_calls_held_total counter\n"
                    "corral_api_calls_held_total %llu\n",
                    (unsigned long long)s->calls_held);
    }
    cr_buf_adds(out, "# HELP corral_api_requests_total API requests by operation and status "
                     "class.\n# TYPE corral_api_requests_total counter\n");
    for (int op = 0; op < AS_OP__COUNT; op++)
        for (int c = 0; c < 6; c++)
            if (s->ops[op].by_class[c])
                cr_buf_addf(out, "corral_api_requests_total{op=\"%s\",code=\"%s\"} %llu\n",
                            as_op_name((as_op)op), cls[c],
                            (unsigned long long)s->ops[op].by_class[c]);
    cr_buf_adds(out, "# HELP corral_api_request_duration_seconds Time to answer API requests.\n"
                     "# TYPE corral_api_request_duration_seconds summary\n");
    for (int op = 0; op < AS_OP__COUNT; op++)
        if (s->ops[op].count)
            cr_buf_addf(out,
                        "corral_api_request_duration_seconds_sum{op=\"%s\"} %.6f\n"
                        "corral_api_request_duration_seconds_count{op=\"%s\"} %llu\n",
                        as_op_name((as_op)op), s->ops[op].seconds, as_op_name((as_op)op),
                        (unsigned long long)s->ops[op].count);
    cr_buf_adds(out, "# HELP corral_api_latency_seconds Time to answer API requests (all "
                     "operations).\n# TYPE corral_api_latency_seconds histogram\n");
    for (int i = 0; i < 12; i++)
        cr_buf_addf(out, "corral_api_latency_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
                    (unsigned long long)s->hist[i]);
    cr_buf_addf(out,
                "corral_api_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                "corral_api_latency_seconds_sum %.6f\ncorral_api_latency_seconds_count %llu\n",
                (unsigned long long)s->hist_count, s->hist_sum, (unsigned long long)s->hist_count);
    cr_buf_addf(out,
                "# HELP corral_api_etcd_txn_total API writes to etcd by result (one "
                "answer each; writes may share a txn).\n"
                "# TYPE corral_api_etcd_txn_total counter\n"
                "corral_api_etcd_txn_total{result=\"ok\"} %llu\n"
                "corral_api_etcd_txn_total{result=\"conflict\"} %llu\n"
                "corral_api_etcd_txn_total{result=\"error\"} %llu\n"
                "# HELP corral_api_etcd_txns_sent_total etcd txns that carried API writes "
                "and were answered (writes combined in one txn count it once; a write "
                "retried alone after a combined txn's conflict adds one).\n"
                "# TYPE corral_api_etcd_txns_sent_total counter\n"
                "corral_api_etcd_txns_sent_total %llu\n"
                "# HELP corral_api_etcd_txn_seconds Time API writes spent in etcd.\n"
                "# TYPE corral_api_etcd_txn_seconds counter\n"
                "corral_api_etcd_txn_seconds %.6f\n",
                (unsigned long long)s->txn_ok, (unsigned long long)s->txn_conflict,
                (unsigned long long)s->txn_error, (unsigned long long)s->txns_sent, s->txn_seconds);
    if (s->hook)
        s->hook(s->hook_arg, out);
}

/* /metrics whole (HEAD; GET is walked: as_walk). */
static void metrics(as_server *s, struct evhttp_request *req, int64_t started)
{
    cr_buf b = CR_BUF_INIT;

    as_api_metrics(&s->api, s->cache, &b);
    metrics_tail(s, &b);
    send_text(s, req, AS_OP_METRICS, started, 200, "text/plain; version=0.0.4", b.data, b.len);
    cr_buf_release(&b);
}

static json_t *host_state(as_server *s, int64_t now)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    return json_pack("{s:b, s:I, s:s, s:s, s:s, s:s, s:b, s:n, s:i, s:f, s:f, s:s, s:s, s:i, s:s?}",
                     "master",
                     s->leader, "uptime", (json_int_t)(now - s->started_wall), "driverStatus",
                     s->leader ? (s->mesos_connected ? "DRIVER_RUNNING" : "DRIVER_NOT_STARTED")
                               : "DRIVER_NOT_STARTED",
                     "hostAddress", s->listen, "hostname", host, "mesosMaster", "",
                     "mesosConnected", s->mesos_connected, "millisSinceLastOffer", "offerCacheSize",
                     0, "availableCachedCpus", 0.0, "availableCachedMemory", 0.0, "replicaId",
                     s->replica_id, "version", CORRAL_VERSION, "etcdLayoutVersion",
                     API_SCHEMA_VERSION, "etcdLayoutRefused", s->layout_refused);
}

/* ---- dispatch ------------------------------------------------------------------------- */

static unsigned method_of(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return AS_GET;
    case EVHTTP_REQ_POST:
        return AS_POST;
    case EVHTTP_REQ_PUT:
        return AS_PUT;
    case EVHTTP_REQ_DELETE:
        return AS_DELETE;
    case EVHTTP_REQ_HEAD:
        return AS_HEAD;
    default:
        return 0; /* PATCH, OPTIONS...: 405 on known paths */
    }
}

static void nonce(as_server *s, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[8];
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        uint64_t v = ++s->nonce_seq ^ (uint64_t)cr_mono_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(r, &v, sizeof(r));
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[16] = '\0';
}

/* ---- authentication ---------------------------------------------------------------------- */

static unsigned method_of(struct evhttp_request *req);

static void count_bad(as_server *s, const char *why)
{
    size_t n = sizeof(s->auth_bad) / sizeof(s->auth_bad[0]);
    for (size_t i = 0; i < n; i++) {
        if (!s->auth_bad[i].why || strcmp(s->auth_bad[i].why, why) == 0) {
            s->auth_bad[i].why = why;
            s->auth_bad[i].n++;
            return;
        }
    }
}

/* Logs a refused call (401 or 403) with the peer's address, the operation,
 * the caller (who, NULL: none known) and why: what the answer says, cut
 * and with control characters replaced. Never a token or a login code:
 * no refusal message holds one. warn for refused secrets (credentials, a
 * login code), info for calls without credentials and 403s; at most
 * REFUSAL_LOGS_PER_SEC lines a second. */
static void log_refusal(as_server *s, struct evhttp_request *req, as_op op, int status,
                        const as_identity *who, const char *why, bool secret)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    int64_t sec = cr_mono_ms() / 1000;
    char *addr = NULL, clean[320], also[64] = "";
    ev_uint16_t port = 0;
    size_t i;

    if (sec != s->refusal_sec) {
        s->refusal_sec = sec;
        s->refusal_lines = 0;
    }
    if (s->refusal_lines >= REFUSAL_LOGS_PER_SEC) {
        s->refusal_unlogged++;
        return;
    }
    s->refusal_lines++;
    if (s->refusal_unlogged)
        snprintf(also, sizeof(also), " (and %" PRIu64 " refusals not logged before)",
                 s->refusal_unlogged);
    s->refusal_unlogged = 0;
    for (i = 0; why && why[i] && i < sizeof(clean) - 1; i++)
        clean[i] = (unsigned char)why[i] < 0x20 || why[i] == 0x7f ? '?' : why[i];
    clean[i] = '\0';
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    cr_logf(s->cfg.log, secret ? CR_LOG_WARN : CR_LOG_INFO,
            "auth: refused %s %s from %s:%u%s%s%s: %d %s%s", as_method_name(method_of(req)),
            as_op_name(op), addr ? addr : "?", (unsigned)port, who ? " as '" : "",
            who && who->user.id ? who->user.id : "", who ? "'" : "", status, clean, also);
}

/* Logs the refusal an answer is (status 401 or 403, body {"message"}),
 * else nothing. */
static void note_refusal(as_server *s, struct evhttp_request *req, as_op op, int status,
                         const as_identity *who, const json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "message"));

    if (status != 401 && status != 403)
        return;
    if (op == AS_OP_AUTH_LOGIN)
        log_refusal(s, req, op, status, NULL, msg, true); /* a bad login code */
    else if (status == 401 && !who)
        log_refusal(s, req, op, status, NULL, "no credentials", false);
    else
        log_refusal(s, req, op, status, who, msg, false);
}

/* Who sent req (*known: someone did). Refused credentials get their 401
 * here, are logged with the peer's address (never the token) and counted;
 * returns -1 then. Whether the caller may do the operation is for as_api. */
static int identify(as_server *s, struct evhttp_request *req, as_op op, int64_t started,
                    as_identity *who, bool *known)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const as_auth *a = s->cfg.auth;
    as_credentials cred = {0};
    as_tls_peer peer;
    const char *why = NULL;
    as_auth_rc rc;

    cred.authorization = evhttp_find_header(in, "Authorization");
    as_server_peer(req, &peer);
    cred.cert_verified = peer.verified;
    cred.cert_user = peer.user;
    cred.cert_groups = (const char *const *)peer.groups;
    cred.cert_ngroups = peer.ngroups;
    cred.cert_expires_at = peer.not_after;
    if (as_auth_user_header(a)) {
        cred.header_user = evhttp_find_header(in, as_auth_user_header(a));
        if (as_auth_groups_header(a))
            cred.header_groups = evhttp_find_header(in, as_auth_groups_header(a));
    }
    rc = as_auth_identify(a, s->cache, s->prefix, &cred, cr_wall_ms(), who, &why);
    as_tls_peer_release(&peer);
    if (rc == AS_AUTH_OK) {
        *known = true;
        return 0;
    }
    if (rc == AS_AUTH_ANONYMOUS)
        return 0;
    {
        char msg[160];

        log_refusal(s, req, op, 401, NULL, why, true);
        count_bad(s, why);
        snprintf(msg, sizeof(msg), "unauthorized: %s", why);
        send_error(s, req, op, started, 401, msg);
    }
    return -1;
}

/* A file of the web UI (as_ui.h): embedded, so nothing to read or wait for. */
static void serve_ui(as_server *s, struct evhttp_request *req, as_op op, const char *path,
                     int64_t started)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    struct evbuffer *buf;
    as_ui_reply u;

    as_ui_lookup(path, inm, &u);
    for (size_t i = 0; i < u.nheaders; i++)
        evhttp_add_header(h, u.headers[i].name, u.headers[i].value);
    if (u.status == 404) {
        send_error(s, req, op, started, 404, "no such file in the UI");
        return;
    }
    buf = evbuffer_new();
    if (u.status == 200 && method_of(req) != AS_HEAD)
        evbuffer_add_reference(buf, u.asset->data, u.asset->len, NULL, NULL);
    evhttp_send_reply(req, u.status, reason(u.status), buf);
    evbuffer_free(buf);
    record(s, op, u.status, started);
}

/* A path under the context path (Singularity's applicationContextPath,
 * "/singularity/api") is answered as the same path under /api: returns that
 * path (caller frees), or NULL when path is not under it. */
static char *context_route(const as_server *s, const char *path)
{
    const char *cp = s->cfg.context_path;
    size_t n = cp ? strlen(cp) : 0;

    if (!n || strncmp(path, cp, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return NULL;
    return xasprintf("/api%s", path + n);
}

/* Strict decoding of API bodies (docs/api.md "Lenient bodies"): asked for
 * with ?strict=true or the header X-Corral-Strict: true. */
static bool wants_strict(struct evhttp_request *req, const as_query_kv *q, size_t nq)
{
    const char *hv = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Corral-Strict");

    if (hv && strcasecmp(hv, "true") == 0)
        return true;
    for (size_t i = 0; i < nq; i++)
        if (strcmp(q[i].name, "strict") == 0 && strcmp(q[i].value, "false") != 0)
            return true;
    return false;
}

/* Whether the request's body is YAML (its Content-Type). */
static bool body_is_yaml(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!ct)
        return false;
    size_t n = strcspn(ct, "; \t");
    return (n == 16 && strncasecmp(ct, "application/yaml", n) == 0) ||
           (n == 9 && strncasecmp(ct, "text/yaml", n) == 0) ||
           (n == 18 && strncasecmp(ct, "application/x-yaml", n) == 0);
}

/* One Warning header (RFC 7234 code 299, "miscellaneous persistent
 * warning") per thing a lenient decode ignored, at most 20. */
static void add_warnings(struct evhttp_request *req, const json_t *warnings)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    size_t i;
    const json_t *w;

    json_array_foreach(warnings, i, w)
    {
        char v[320];
        if (i == 20) {
            evhttp_add_header(h, "Warning", "299 corrald \"more ignored fields not listed\"");
            break;
        }
        /* quoted-string: no quotes or backslashes inside */
        snprintf(v, sizeof(v), "299 corrald \"%.280s\"", json_string_value(w));
        for (char *c = v + 13; c[1]; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                *c = '\'';
        evhttp_add_header(h, "Warning", v);
    }
}

/* Answers req; how: SERVE_* (what it may still wait for). */
static void serve(as_server *s, struct evhttp_request *req, int64_t started, unsigned how)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    unsigned method = method_of(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(in);
    size_t max_body = s->cfg.max_body ? s->cfg.max_body : DEFAULT_MAX_BODY;
    as_query_kv *q = NULL;
    size_t nq = 0;
    as_match m;
    as_route_rc rc;
    as_result r;
    as_identity who;
    bool known = false;
    char nbuf[17];
    char *routed = NULL;

    memset(&r, 0, sizeof(r));
    memset(&who, 0, sizeof(who));
    if (!path || !*path)
        path = "/";
    if ((routed = context_route(s, path)))
        path = routed;
    rc = as_route_match(method ? method : (1u << 30), path, &m);
    if (rc == AS_ROUTE_NOT_FOUND) {
        char msg[512];
        snprintf(msg, sizeof(msg), "no such path: %.400s", path);
        send_error(s, req, AS_OP_NONE, started, 404, msg);
        goto out;
    }
    if (rc == AS_ROUTE_BAD_METHOD) {
        char allow[64], msg[128];
        as_methods_format(m.allowed, allow, sizeof(allow));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        snprintf(msg, sizeof(msg), "method not allowed; use %s", allow);
        send_error(s, req, AS_OP_NONE, started, 405, msg);
        goto out;
    }
    if (m.op == AS_OP_UI || m.op == AS_OP_UI_FILE) {
        serve_ui(s, req, m.op, path, started);
        goto out;
    }
    /* Open routes (probes; /metrics with --open-metrics) ignore credentials,
     * good or bad: a load balancer's health check must not depend on them. */
    if (s->cfg.auth && m.access != AS_ACCESS_OPEN &&
        !(m.op == AS_OP_METRICS && as_auth_policy_of(s->cfg.auth)->metrics_open) &&
        identify(s, req, m.op, started, &who, &known) < 0)
        goto out;
    if ((how & SERVE_CATCH_UP) && m.op != AS_OP_HEALTHZ && m.op != AS_OP_READYZ &&
        m.op != AS_OP_METRICS && as_cache_revision(s->cache) < s->written_rev &&
        as_cache_synced(s->cache) && s->nheld < MAX_HELD) {
        hold(s, req, started);
        goto out;
    }
    /* a GET of a whole-cache read is walked a slice per turn instead */
    if ((how & SERVE_QUEUE) && heavy_op(m.op) && !(as_walk_op(m.op) && method != AS_HEAD)) {
        defer(s, req, m.op, started);
        goto out;
    }
    if (body_len > max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body too large: %zu bytes (limit %zu)", body_len,
                 max_body);
        send_error(s, req, m.op, started, 413, msg);
        goto out;
    }
    if (as_query_parse(uri ? evhttp_uri_get_query(uri) : NULL, &q, &nq) < 0) {
        send_error(s, req, m.op, started, 400, "malformed query string");
        goto out;
    }
    if (m.op != AS_OP_HEALTHZ && m.op != AS_OP_METRICS && !as_cache_synced(s->cache)) {
        send_error(s, req, m.op, started, 503, "not ready: the cache has not loaded yet");
        goto out;
    }
    /* Only writes generate ids (a run's): a read needs no random bytes. */
    if (method != AS_GET && method != AS_HEAD)
        nonce(s, nbuf);
    as_req ar = {.method = method,
                 .match = &m,
                 .query = q,
                 .nquery = nq,
                 .body = body_len ? (const char *)evbuffer_pullup(in, -1) : NULL,
                 .body_len = body_len,
                 .user = known ? who.user.id : NULL,
                 .who = known ? &who : NULL,
                 .now = cr_wall_ms(),
                 .nonce = method != AS_GET && method != AS_HEAD ? nbuf : NULL,
                 .strict = wants_strict(req, q, nq),
                 .yaml = body_is_yaml(req)};
    /* HEAD of a list is answered whole, for its ETag (send_json). */
    if (as_list_op(m.op) && method != AS_HEAD) {
        as_list *l = as_list_new(&s->api, s->cache, &ar, &r);
        if (l) {
            start_list(s, req, m.op, method, started, l);
        } else {
            note_refusal(s, req, m.op, r.status, ar.who, r.body);
            send_json(s, req, m.op, started, r.status, r.body);
        }
        goto out;
    }
    /* HEAD of a whole-cache read is answered whole, for its ETag. */
    if (as_walk_op(m.op) && method != AS_HEAD) {
        as_walk *w = as_walk_new(&s->api, s->cache, &ar, &r);
        if (w) {
            if (m.op == AS_OP_STATE)
                as_walk_add_host(w, host_state(s, ar.now));
            start_walk(s, req, m.op, started, w);
        } else {
            note_refusal(s, req, m.op, r.status, ar.who, r.body);
            send_json(s, req, m.op, started, r.status, r.body);
        }
        goto out;
    }
    if (as_user_op(m.op))
        as_user_handle(&s->api, s->cache, &ar, &r);
    else
        as_api_handle(&s->api, s->cache, &ar, &r);
    if (r.warnings)
        add_warnings(req, r.warnings);
    if (r.kind == AS_RESULT_SPECIAL) {
        switch (m.op) {
        case AS_OP_HEALTHZ: {
            json_t *b = json_pack("{s:s}", "status", "ok");
            send_json(s, req, m.op, started, 200, b);
            json_decref(b);
            break;
        }
        case AS_OP_READYZ: {
            json_t *b = json_pack("{s:s, s:I}", "status", "ready", "revision",
                                  (json_int_t)as_cache_revision(s->cache));
            send_json(s, req, m.op, started, 200, b);
            json_decref(b);
            break;
        }
        case AS_OP_METRICS:
            metrics(s, req, started);
            break;
        case AS_OP_WATCH:
            start_watch(s, req, &ar, started);
            break;
        case AS_OP_SANDBOX_BROWSE:
        case AS_OP_SANDBOX_READ:
            as_sandbox_serve(s->sandbox, req, &ar, started);
            break;
        case AS_OP_LOGS_FOLLOW:
            as_logs_follow(s->logs, req, &ar, started);
            break;
        default:
            send_error(s, req, m.op, started, 500, "unhandled operation");
            break;
        }
        goto out;
    }
    if (m.op == AS_OP_STATE && r.status == 200) {
        json_t *hs = json_object_get(r.body, "hostStates");
        json_array_append_new(hs, host_state(s, ar.now));
    }
    if (r.txn.nput > 0 && r.status < 300) {
        commit(s, req, m.op, started, &r);
        goto out;
    }
    note_refusal(s, req, m.op, r.status, ar.who, r.body);
    send_result(s, req, m.op, started, &r);
out:
    as_result_release(&r);
    as_query_free(q, nq);
    as_match_release(&m);
    as_identity_release(&who);
    free(routed);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    as_server *s = arg;
    int64_t started = cr_mono_ms();
    char msg[AS_GATE_MSG_MAX];
    int status;

    as_gate_watch(s->gate, req);
    if (as_gate_refusal(s->gate, req, &status, msg, sizeof(msg))) {
        /* The stand-in for a request refused before it was read (as_gate.h):
         * answered like any error, and the connection closes after it. */
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        char *addr = NULL;
        ev_uint16_t port = 0;

        if (conn)
            evhttp_connection_get_peer(conn, &addr, &port);
        cr_info(s->cfg.log, "refused a request from %s:%u unread: %d %s", addr ? addr : "?",
                (unsigned)port, status, msg);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        send_error(s, req, AS_OP_NONE, started, status, msg);
        return;
    }
    serve(s, req, started, SERVE_QUEUE | SERVE_CATCH_UP);
}

/* The sandbox proxy reports its answers through this. */
static void sandbox_done(void *arg, struct evhttp_request *req, int64_t started, int status,
                         const json_t *body)
{
    as_server *s = arg;
    send_json(s, req, AS_OP_SANDBOX_READ, started, status, body);
}

/* The follow proxy reports its errors, and its streams' start, here. */
static void logs_done(void *arg, struct evhttp_request *req, int64_t started, int status,
                      const json_t *body)
{
    as_server *s = arg;
    if (body)
        send_json(s, req, AS_OP_LOGS_FOLLOW, started, status, body);
    else
        record(s, AS_OP_LOGS_FOLLOW, status, started);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

/* evhttp's bufferevent for each accepted connection when TLS is on: the
 * handshake runs as the server side; freeing the connection frees its SSL. */
static struct bufferevent *tls_bufferevent(struct event_base *base, void *arg)
{
    as_server *s = arg;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, as_tls_new_ssl(s->cfg.tls), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);

    /* NULL would make evhttp fall back to plain HTTP on this port. */
    if (!bev)
        abort();
    /* A client that closes without close_notify is an ordinary close. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    as_gate_attach(s->gate, bev);
    return bev;
}

/* ... and without TLS: what evhttp would make itself, but closing its
 * socket when freed (as_gate.h: a refusal lingers) and watched by the gate. */
static struct bufferevent *plain_bufferevent(struct event_base *base, void *arg)
{
    as_server *s = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (!bev)
        abort();
    as_gate_attach(s->gate, bev);
    return bev;
}

void as_server_peer(struct evhttp_request *req, as_tls_peer *out)
{
    as_tls_peer_get(req, out);
}

static int split_listen(const char *listen, char **host, int *port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long p;

    if (!colon)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *host = xstrndup(listen, (size_t)(colon - listen));
    *port = (int)p;
    return 0;
}

as_server *as_server_new(struct event_base *base, store *st, cr_http *http, as_cache *cache,
                         const as_server_config *cfg, cr_err *err)
{
    as_server *s = xcalloc(1, sizeof(*s));
    struct evhttp_bound_socket *sock;
    size_t max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    char *host = NULL;
    int port;

    s->base = base;
    s->st = st;
    s->hc = http;
    s->cache = cache;
    s->cfg = *cfg;
    s->prefix = xstrdup(cfg->prefix ? cfg->prefix : "/corral");
    s->listen = xstrdup(cfg->listen ? cfg->listen : "127.0.0.1:7099");
    s->replica_id = xstrdup(cfg->replica_id ? cfg->replica_id : "corrald");
    s->cfg.prefix = s->prefix;
    s->cfg.listen = s->listen;
    s->cfg.replica_id = s->replica_id;
    s->api.prefix = s->prefix;
    s->api.max_body = max_body;
    s->api.allow_deploy_of_paused = cfg->allow_deploy_of_paused;
    s->api.max_decommissioning_agents = cfg->max_decommissioning_agents;
    s->api.max_scale_down_unacked = 10;
    s->api.auth = cfg->auth;
    s->api.shell_commands = cfg->shell_commands;
    s->memo = as_memo_new(cache);
    s->api.memo = s->memo;
    s->index = as_index_new(cache, s->prefix);
    s->api.index = s->index;
    s->pump = evtimer_new(base, pump, s);
    s->pieces = xcalloc(1, sizeof(*s->pieces));
    s->pieces->refs = 1;
    s->started_wall = cr_wall_ms();
    if (split_listen(s->listen, &host, &port) < 0) {
        cr_error(err, CR_EINVAL, "listen address '%s': want host:port", s->listen);
        goto fail;
    }
    s->http = evhttp_new(base);
    /* The gate refuses, in JSON, a head over 64 KiB (a token included) or a
     * Content-Length over the cap before evhttp reads them (as_gate.h);
     * evhttp's own limits, whose answers are HTML, are a backstop above
     * what the gate lets through (a frozen head may wait in the buffer
     * with the start of its body). */
    s->gate = as_gate_new(base, max_body, AS_GATE_MAX_HEAD);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
    evhttp_set_max_headers_size(s->http, AS_GATE_MAX_HEAD + 1024 * 1024);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_bevcb(s->http, cfg->tls ? tls_bufferevent : plain_bufferevent, s);
    sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!sock) {
        cr_error(err, CR_EUNAVAIL, "cannot listen on %s", s->listen);
        goto fail;
    }
    {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);
        int one = 1;
        /* With TLS a reply leaves as several records (headers, body):
         * without TCP_NODELAY (inherited by accepted sockets) the second
         * waits for the client's delayed ACK, some 40 ms. */
        if (cfg->tls)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET)
                s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    s->sandbox =
        as_sandbox_new(base, http, cache, s->prefix,
                       cfg->sandbox_timeout_ms ? cfg->sandbox_timeout_ms : 5000, sandbox_done, s);
    s->logs = as_logs_new(base, http, cache, s->prefix, cfg->log, logs_done, s);
    free(host);
    return s;
fail:
    free(host);
    as_server_free(s);
    return NULL;
}

void as_server_free(as_server *s)
{
    if (!s)
        return;
    while (s->waiting) {
        pending *p = s->waiting;
        pending_free(p); /* resets the close callback; evhttp_free drops the connection */
    }
    while (s->watchers) {
        sse *w = s->watchers;
        if (w->req)
            evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
        w->req = NULL;
        sse_free(w);
    }
    while (s->held) {
        held *h = s->held;
        evhttp_connection_set_closecb(evhttp_request_get_connection(h->req), NULL, NULL);
        held_free(h); /* evhttp_free drops the connection and its request */
    }
    while (s->queued) {
        deferred *d = s->queued;
        evhttp_connection_set_closecb(evhttp_request_get_connection(d->req), NULL, NULL);
        deferred_free(d); /* evhttp_free drops the connection and its request */
    }
    while (s->streams) {
        stream *st = s->streams;
        evhttp_connection_set_closecb(evhttp_request_get_connection(st->req), NULL, NULL);
        stream_free(st); /* evhttp_free drops the connection and its request */
    }
    if (s->pump)
        event_free(s->pump);
    as_sandbox_free(s->sandbox);
    as_logs_free(s->logs);
    if (s->http)
        evhttp_free(s->http);
    as_gate_free(s->gate); /* after evhttp_free: its connections are watched */
    as_memo_free(s->memo);
    as_index_free(s->index);
    if (s->pieces)
        pool_unref(s->pieces); /* pieces still queued keep it */
    free(s->prefix);
    free(s->listen);
    free(s->replica_id);
    free(s->layout_refused);
    free(s);
}

int as_server_port(const as_server *s)
{
    return s->port;
}

void as_server_set_leader(as_server *s, bool leader)
{
    s->leader = leader;
}

void as_server_set_mesos_connected(as_server *s, bool connected)
{
    s->mesos_connected = connected;
}

void as_server_set_layout_refused(as_server *s, const char *why)
{
    free(s->layout_refused);
    s->layout_refused = xstrdup(why);
}

void as_server_set_metrics_hook(as_server *s, as_metrics_hook hook, void *arg)
{
    s->hook = hook;
    s->hook_arg = arg;
}

void as_server_set_auth(as_server *s, const as_auth *auth)
{
    s->cfg.auth = auth;
    s->api.auth = auth;
}
