/* cr_http: libcurl multi-socket driven by libevent. See httpc.h.
 *
 * libcurl forbids calling back into the multi handle from its own callbacks
 * (write, header, socket, timer). Our head/data callbacks run inside
 * curl_multi_socket_action(), and users legitimately start or cancel
 * requests from them, so while `in_curl` is set, starts are queued and
 * cancels only mark the request; drive() applies both once curl returns.
 *
 * HTTP/2 requests go to base/h2.c (nghttp2) instead: libcurl 7.88 (Debian
 * 12) breaks a reused h2c connection and can hold a stream's last frames
 * until more arrive. They keep the request handle and its callbacks here;
 * only the bytes move there. */
#include "base/httpc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "base/buf.h"
#include "base/cr_hist.h"
#include "base/h2.h"
#include "base/xalloc.h"

typedef struct sockctx {
    struct cr_http *h;
    curl_socket_t fd;
    struct event *ev;
    struct sockctx *prev, *next;
} sockctx;

struct cr_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int in_curl;       /* depth inside curl_multi_socket_action() */
    int64_t turn_us;   /* when the outermost curl call of this loop turn began */
    uint64_t pauses;   /* streams paused by the turn budget */
    cr_http_req *reqs; /* every live request */
    size_t nreqs;
    sockctx *socks;
    cr_h2 *h2; /* HTTP/2 connections; made on the first such request */
};

struct cr_http_req {
    cr_http *h;
    CURL *easy;       /* HTTP/1.1; NULL for HTTP/2 */
    cr_h2_stream *st; /* HTTP/2, until done or cancelled */
    long status;      /* HTTP/2's (curl keeps its own) */
    cr_http_req *prev, *next;
    struct curl_slist *hdrs;
    cr_http_head_cb on_head;
    cr_http_data_cb on_data;
    cr_http_done_cb on_done;
    void *arg;
    size_t max_body;
    char *method; /* for error messages */
    char *url;
    cr_buf body;
    cr_http_header *rh;
    size_t nrh, caprh;
    bool added;     /* attached to the multi handle */
    bool cancelled; /* no more callbacks; free at the next safe point */
    bool in_cb;     /* a user callback of this request is running */
    bool finishing; /* on_done is running or about to */
    bool head_sent;
    bool too_large;
    struct event *resume_ev; /* a paused stream goes on from here */
    char errbuf[CURL_ERROR_SIZE];
};

/* --- helpers --------------------------------------------------------------- */

static void clear_headers(cr_http_req *r)
{
    for (size_t i = 0; i < r->nrh; i++) {
        free(r->rh[i].name);
        free(r->rh[i].value);
    }
    r->nrh = 0;
}

static void req_free(cr_http_req *r)
{
    cr_http *h = r->h;

    if (r->added)
        curl_multi_remove_handle(h->multi, r->easy);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    cr_h2_cancel(r->st);
    if (r->resume_ev)
        event_free(r->resume_ev);
    curl_slist_free_all(r->hdrs);
    cr_buf_release(&r->body);
    clear_headers(r);
    free(r->rh);
    free(r->method);
    free(r->url);
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    h->nreqs--;
    free(r);
}

static void fill_resp(cr_http_req *r, cr_http_resp *resp)
{
    long status = r->status;
    char *eff = NULL;

    if (r->easy) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff);
    }
    resp->status = status;
    resp->body = r->on_data ? "" : cr_buf_str(&r->body);
    resp->body_len = r->on_data ? 0 : r->body.len;
    resp->headers = r->rh;
    resp->nheaders = r->nrh;
    resp->effective_url = eff ? eff : r->url;
}

/* Calls on_head once; returns false if the request was cancelled in it. */
static bool send_head(cr_http_req *r)
{
    cr_http_resp resp;

    if (r->head_sent)
        return !r->cancelled;
    r->head_sent = true;
    if (!r->on_head)
        return true;
    fill_resp(r, &resp);
    r->in_cb = true;
    r->on_head(r, &resp, r->arg);
    r->in_cb = false;
    return !r->cancelled;
}

static void add_header(cr_http_req *r, const char *name, size_t nlen, const char *value,
                       size_t vlen)
{
    if (r->nrh == r->caprh) {
        r->caprh = r->caprh ? r->caprh * 2 : 8;
        r->rh = xrealloc(r->rh, r->caprh * sizeof(*r->rh));
    }
    r->rh[r->nrh].name = xstrndup(name, nlen);
    r->rh[r->nrh].value = xstrndup(value, vlen);
    r->nrh++;
}

/* Buffers a chunk of a buffered answer; false when it would pass max_body. */
static bool keep_body(cr_http_req *r, const char *data, size_t len)
{
    if (r->max_body && r->body.len + len > r->max_body) {
        r->too_large = true;
        return false;
    }
    cr_buf_add(&r->body, data, len);
    return true;
}

/* Hands a stream's chunk to on_data; false if the request was cancelled in it. */
static bool send_data(cr_http_req *r, const char *data, size_t len)
{
    r->in_cb = true;
    r->on_data(r, data, len, r->arg);
    r->in_cb = false;
    return !r->cancelled;
}

/* --- curl callbacks ---------------------------------------------------------- */

static size_t header_cb(char *data, size_t size, size_t n, void *userp)
{
    cr_http_req *r = userp;
    size_t len = size * n, nlen;
    const char *colon, *v, *end;

    if (r->cancelled)
        return 0;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 100 Continue) */
        clear_headers(r);
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon)
        return len; /* blank line or garbage */
    nlen = (size_t)(colon - data);
    v = colon + 1;
    end = data + len;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    add_header(r, data, nlen, v, (size_t)(end - v));
    return len;
}

#define TOO_LARGE "response body above the size limit"

static void check_done(cr_http *h);
static void sweep(cr_http *h);

static void resume_stream(evutil_socket_t fd, short what, void *arg)
{
    cr_http_req *r = arg;
    cr_http *h = r->h;

    if (r->cancelled)
        return;
    h->turn_us = cr_mono_us();
    h->in_curl++;
    curl_easy_pause(r->easy, CURLPAUSE_CONT); /* delivers what curl kept */
    h->in_curl--;
    if (h->in_curl)
        return;
    check_done(h);
    sweep(h);
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    cr_http_req *r = userp;
    size_t len = size * n;

    if (r->cancelled || !send_head(r))
        return 0;
    if (r->on_data) {
        /* A stream that has kept this loop turn busy for its budget waits:
         * curl keeps the bytes and hands them over after the loop has
         * polled (resume_stream), so a burst never holds the loop long. */
        if (r->h->in_curl && cr_mono_us() - r->h->turn_us > CR_HTTP_STREAM_BUDGET_US) {
            struct timeval now = {0, 0};
            if (!r->resume_ev)
                r->resume_ev = evtimer_new(r->h->base, resume_stream, r);
            evtimer_add(r->resume_ev, &now);
            r->h->pauses++;
            return CURL_WRITEFUNC_PAUSE;
        }
        return send_data(r, data, len) ? len : 0;
    }
    return keep_body(r, data, len) ? len : 0;
}

static void finish(cr_http_req *r, CURLcode rc)
{
    cr_http_resp resp;
    cr_err err;
    const cr_err *errp = NULL;

    if (r->cancelled) {
        req_free(r);
        return;
    }
    if (r->added) {
        curl_multi_remove_handle(r->h->multi, r->easy);
        r->added = false;
    }
    if (rc == CURLE_OK && !send_head(r)) {
        req_free(r);
        return;
    }
    r->finishing = true;
    if (rc != CURLE_OK) {
        const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        cr_code code = CR_EIO;

        switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            code = CR_EUNAVAIL;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            code = CR_ETIMEOUT;
            break;
        case CURLE_WRITE_ERROR:
            if (r->too_large) {
                code = CR_ETOOLARGE;
                why = TOO_LARGE;
            }
            break;
        default:
            break;
        }
        cr_error(&err, code, "%s %s: %s", r->method, r->url, why);
        errp = &err;
    }
    fill_resp(r, &resp);
    r->in_cb = true;
    r->on_done(r, &resp, errp, r->arg);
    req_free(r);
}

static void check_done(cr_http *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left))) {
        char *p = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
        finish((cr_http_req *)(void *)p, msg->data.result);
    }
}

/* Applies what was deferred while inside curl: cancels and queued starts. */
static void sweep(cr_http *h)
{
    cr_http_req *r, *next;

again:
    for (r = h->reqs; r; r = next) {
        next = r->next;
        if (r->cancelled && !r->in_cb) {
            req_free(r);
        } else if (r->easy && !r->added && !r->finishing && !r->cancelled) {
            CURLMcode mc = curl_multi_add_handle(h->multi, r->easy);
            if (mc == CURLM_OK) {
                r->added = true;
            } else {
                cr_http_resp resp;
                cr_err err;

                r->finishing = true;
                cr_error(&err, CR_EINTERNAL, "%s %s: %s", r->method, r->url,
                         curl_multi_strerror(mc));
                fill_resp(r, &resp);
                r->in_cb = true;
                r->on_done(r, &resp, &err, r->arg);
                req_free(r);
                goto again; /* the callback may have changed the list */
            }
        }
    }
}

static void drive(cr_http *h, curl_socket_t fd, int action)
{
    int running = 0;

    if (!h->in_curl)
        h->turn_us = cr_mono_us();
    h->in_curl++;
    curl_multi_socket_action(h->multi, fd, action, &running);
    h->in_curl--;
    if (h->in_curl)
        return;
    check_done(h);
    sweep(h);
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    sockctx *sc = arg;
    int action = 0;

    if (what & EV_READ)
        action |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    drive(sc->h, fd, action);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    cr_http *h = userp;
    sockctx *sc = sockp;
    short kind = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_free(sc->ev);
            if (sc->prev)
                sc->prev->next = sc->next;
            else
                h->socks = sc->next;
            if (sc->next)
                sc->next->prev = sc->prev;
            free(sc);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!sc) {
        sc = xcalloc(1, sizeof(*sc));
        sc->h = h;
        sc->fd = s;
        sc->ev = event_new(h->base, s, kind, sock_event_cb, sc);
        sc->next = h->socks;
        if (h->socks)
            h->socks->prev = sc;
        h->socks = sc;
        curl_multi_assign(h->multi, s, sc);
    } else {
        event_del(sc->ev);
        event_assign(sc->ev, h->base, s, kind, sock_event_cb, sc);
    }
    event_add(sc->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    cr_http *h = userp;

    if (timeout_ms < 0) {
        evtimer_del(h->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(h->timer, &tv);
    }
    return 0;
}

/* --- HTTP/2 streams (base/h2.c) ------------------------------------------------ */

static void h2_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    add_header(arg, name, nlen, value, vlen);
}

static void h2_head(void *arg, long status)
{
    cr_http_req *r = arg;

    r->status = status;
    if (!send_head(r))
        req_free(r); /* cancelled in on_head: its stream is gone already */
}

static bool h2_data(void *arg, const char *data, size_t len, cr_err *err)
{
    cr_http_req *r = arg;

    if (!r->on_data) {
        if (keep_body(r, data, len))
            return true;
        cr_error(err, CR_ETOOLARGE, "%s %s: " TOO_LARGE, r->method, r->url);
        return false;
    }
    if (!send_data(r, data, len))
        req_free(r);
    return true;
}

static void h2_done(void *arg, const cr_err *err)
{
    cr_http_req *r = arg;
    cr_http_resp resp;

    r->st = NULL; /* h2.c's, and finished */
    r->finishing = true;
    fill_resp(r, &resp);
    r->in_cb = true;
    r->on_done(r, &resp, err, r->arg);
    req_free(r);
}

static const cr_h2_handler h2_handler = {h2_header, h2_head, h2_data, h2_done};

/* --- public ------------------------------------------------------------------ */

cr_http *cr_http_new(struct event_base *base, cr_err *err)
{
    cr_http *h;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cr_error(err, CR_EINTERNAL, "curl_global_init failed");
        return NULL;
    }
    h = xcalloc(1, sizeof(*h));
    h->base = base;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        curl_global_cleanup();
        cr_error(err, CR_EINTERNAL, "curl_multi_init failed");
        return NULL;
    }
    h->timer = evtimer_new(base, timer_event_cb, h);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

void cr_http_free(cr_http *h)
{
    if (!h)
        return;
    while (h->reqs)
        req_free(h->reqs);
    cr_h2_free(h->h2);
    curl_multi_cleanup(h->multi);
    while (h->socks) {
        sockctx *sc = h->socks;
        h->socks = sc->next;
        event_free(sc->ev);
        free(sc);
    }
    event_free(h->timer);
    free(h);
    curl_global_cleanup();
}

size_t cr_http_pending(const cr_http *h)
{
    size_t n = 0;

    for (const cr_http_req *r = h->reqs; r; r = r->next)
        if (!r->cancelled && !r->finishing)
            n++;
    return n;
}

static void req_link(cr_http *h, cr_http_req *r)
{
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->nreqs++;
}

/* Frees a request that never made it into h->reqs. */
static void req_free_unlinked(cr_http_req *r)
{
    cr_buf_release(&r->body);
    free(r->method);
    free(r->url);
    free(r);
}

static cr_http_req *start_h2(cr_http *h, cr_http_req *r, const cr_http_opts *o, cr_err *err)
{
    if (!h->h2)
        h->h2 = cr_h2_new(h->base);
    r->st = cr_h2_start(h->h2, o, &h2_handler, r, err);
    if (!r->st) {
        req_free_unlinked(r);
        return NULL;
    }
    req_link(h, r);
    return r;
}

static bool is_method(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

cr_http_req *cr_http_start(cr_http *h, const cr_http_opts *o, cr_err *err)
{
    cr_http_req *r = NULL;
    const char *method;

    if (!o || !o->url || !*o->url) {
        cr_error(err, CR_EINVAL, "http request: missing url");
        return NULL;
    }
    if (!o->on_done) {
        cr_error(err, CR_EINVAL, "http request %s: missing on_done callback", o->url);
        return NULL;
    }
    method = o->method ? o->method : (o->body ? "POST" : "GET");
    if (o->http2 && o->userpwd) {
        cr_error(err, CR_EUNSUPPORTED, "http request %s: Basic auth over HTTP/2", o->url);
        return NULL;
    }

    r = xcalloc(1, sizeof(*r));
    r->h = h;
    cr_buf_init(&r->body);
    r->on_head = o->on_head;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->arg = o->arg;
    r->max_body = o->max_body;
    r->method = xstrdup(method);
    r->url = xstrdup(o->url);
    if (o->http2)
        return start_h2(h, r, o, err);
    r->easy = curl_easy_init();
    if (!r->easy) {
        req_free_unlinked(r);
        cr_error(err, CR_EINTERNAL, "curl_easy_init failed");
        return NULL;
    }

    curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    /* streams idle for long: notice a dead peer within about half a minute */
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, (long)CR_HTTP_KEEPIDLE_S);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, (long)CR_HTTP_KEEPINTVL_S);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    if (o->timeout_ms > 0)
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);

    if (is_method(method, "HEAD")) {
        curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    } else if (!is_method(method, "GET") || o->body) {
        if (!is_method(method, "POST"))
            curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
        if (o->body || is_method(method, "POST") || is_method(method, "PUT")) {
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(o->body ? o->body_len : 0));
            curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
        }
    }

    /* No "Expect: 100-continue" round trip for large bodies. */
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    for (size_t i = 0; o->headers && o->headers[i]; i++)
        r->hdrs = curl_slist_append(r->hdrs, o->headers[i]);
    if (o->bearer) {
        char *a = xasprintf("Authorization: Bearer %s", o->bearer);
        r->hdrs = curl_slist_append(r->hdrs, a);
        free(a);
    }
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    if (o->userpwd) {
        curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(r->easy, CURLOPT_USERPWD, o->userpwd);
    }
    if (o->follow_redirects) {
        curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
    }
    if (o->ca_file)
        curl_easy_setopt(r->easy, CURLOPT_CAINFO, o->ca_file);
    if (o->cert_file)
        curl_easy_setopt(r->easy, CURLOPT_SSLCERT, o->cert_file);
    if (o->key_file)
        curl_easy_setopt(r->easy, CURLOPT_SSLKEY, o->key_file);
    if (o->insecure) {
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    req_link(h, r);
    if (h->in_curl)
        return r; /* sweep() attaches it once curl returns */
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        req_free(r);
        cr_error(err, CR_EINTERNAL, "%s %s: cannot add to the curl multi handle", method, o->url);
        return NULL;
    }
    r->added = true;
    return r;
}

char *cr_http_take_body(cr_http_req *r, size_t *len)
{
    size_t n;
    char *body = cr_buf_detach(&r->body, &n);

    if (len)
        *len = n;
    /* the buffer grew by doubling: give the slack back */
    return xrealloc(body, n + 1);
}

void cr_http_cancel(cr_http_req *r)
{
    if (!r || r->cancelled || r->finishing)
        return;
    r->cancelled = true;
    cr_h2_cancel(r->st);
    r->st = NULL;
    if (r->h->in_curl || r->in_cb)
        return; /* freed at the next safe point */
    req_free(r);
}

const char *cr_http_resp_header(const cr_http_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

uint64_t cr_http_stream_pauses(const cr_http *h)
{
    return h->pauses + (h->h2 ? cr_h2_pauses(h->h2) : 0);
}
