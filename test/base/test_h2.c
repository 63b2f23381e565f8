/* cr_http's HTTP/2 requests (opts.http2) against a loopback HTTP/2 server
 * written here on nghttp2's server side, on the same libevent loop: h2c
 * with prior knowledge, or TLS with ALPN "h2" and a throwaway CA.
 *
 * The server keeps a record of every stream (pseudo-headers, headers, body,
 * how it closed) for the asserts, and answers by path (see answer()).
 * "/drip" answers only its head: the test body then pushes each DATA frame
 * itself, so it can wait for the client between two frames. */
#include "test/lib/cr_test.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/cr_hist.h"
#include "base/httpc.h"
#include "base/xalloc.h"

#define WAIT_MS   20000 /* any single wait; only a broken client reaches it */
#define MAX_CALLS 64
#define LINE      16 /* "%015zu\n": the numbered lines of big answers */

typedef struct fx fx;

/* One accepted connection; kept (closed) until teardown. */
typedef struct sconn {
    fx *f;
    struct bufferevent *bev; /* NULL once closed */
    nghttp2_session *ss;     /* NULL before the TLS handshake, and once closed */
    char alpn[16];           /* TLS: the protocol agreed on, "" for none */
    struct sconn *next;
} sconn;

/* One stream as the server saw it; kept until teardown. */
typedef struct sstream {
    sconn *conn;
    int32_t id;
    char *method, *scheme, *authority, *path;
    cr_http_header hdrs[32]; /* regular headers, names as received */
    size_t nhdrs;
    cr_buf req; /* request body */
    /* The answer: out goes as DATA, out_frame bytes a frame at most (0: as
     * much as fits); once out_end and out is drained, END_STREAM, after
     * trailers (grpc-status, grpc-message) if grpc_status is set. */
    cr_buf out;
    size_t out_off, out_frame;
    bool out_end;
    const char *grpc_status;
    bool answered;     /* a response head was submitted */
    bool ended;        /* the server sent END_STREAM */
    bool rst;          /* the client sent RST_STREAM ... */
    uint32_t rst_code; /* ... with this code */
    int closed;        /* closed either way, or with its connection */
    struct sstream *next;
} sstream;

/* One request as the client's callbacks saw it, and what they do. */
typedef struct call {
    fx *f;
    cr_http_req *req;
    cr_http_opts o;
    char *url;
    int heads, datas, dones, nbytes;
    int late; /* callbacks after the cancel or after on_done */
    bool cancelled, data_before_head;
    long head_status, status;
    cr_http_header *head_hdrs, *done_hdrs;
    size_t nhead, ndone;
    cr_buf got; /* streamed bytes */
    char *body; /* buffered body, as on_done saw it (or took it) */
    size_t body_len;
    bool had_err;
    cr_err err;
    bool take_body, taken_ok;
    int cancel_at_data; /* cancel itself in this on_data call (1 = first) */
    int64_t busy_us;    /* on_data holds the loop this long */
    /* started and cancelled from on_done (or the first on_data if act_on_data) */
    struct call *start_then, *cancel_then;
    bool act_on_data;
} call;

struct fx {
    struct event_base *base;
    struct evconnlistener *lis;
    int port;
    SSL_CTX *tls; /* set: the server speaks TLS only */
    char *dir;    /* TLS: the CA and server files */
    char *ca;
    sconn *conns;
    int accepts, conn_closes;
    sstream *streams;
    int nstreams, requests; /* requests: ended by the client */
    int gather, gathered;   /* /gather answers once this many wait */
    size_t big_len, big_frame;
    cr_http *http;
    struct event *deadline;
    struct event *turn_ev; /* counts loop turns while a test needs it */
    int turns, turn_of_last, calls_this_turn, max_calls_per_turn;
    int dones; /* over all calls */
    call calls[MAX_CALLS];
    int ncalls;
};

/* --- the server ------------------------------------------------------------ */

static nghttp2_nv nv(const char *name, const char *value)
{
    nghttp2_nv x = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                    NGHTTP2_NV_FLAG_NONE};
    return x;
}

static sstream *stream_of(nghttp2_session *ss, int32_t id)
{
    return nghttp2_session_get_stream_user_data(ss, id);
}

static bool path_is(const sstream *s, const char *want)
{
    size_t n = s->path ? strcspn(s->path, "?") : 0;

    return n == strlen(want) && memcmp(s->path, want, n) == 0;
}

/* The stream whose :path is exactly path (the latest if several). */
static sstream *srv_find(fx *f, const char *path)
{
    for (sstream *s = f->streams; s; s = s->next)
        if (s->path && strcmp(s->path, path) == 0)
            return s;
    return NULL;
}

/* A request header, by its exact (lower-case) name. */
static const char *srv_hdr(const sstream *s, const char *name)
{
    for (size_t i = 0; i < s->nhdrs; i++)
        if (strcmp(s->hdrs[i].name, name) == 0)
            return s->hdrs[i].value;
    return NULL;
}

static void srv_close(sconn *c)
{
    fx *f = c->f;

    if (!c->bev)
        return;
    for (sstream *s = f->streams; s; s = s->next)
        if (s->conn == c)
            s->closed = 1;
    if (c->ss)
        nghttp2_session_del(c->ss); /* calls no callback */
    c->ss = NULL;
    bufferevent_free(c->bev);
    c->bev = NULL;
    f->conn_closes++;
}

/* Sends what the session has queued; closes the connection once neither
 * side wants more (after a GOAWAY, its last stream done). */
static void srv_flush(sconn *c)
{
    if (!c->ss)
        return;
    if (nghttp2_session_send(c->ss) != 0) {
        srv_close(c);
        return;
    }
    if (!nghttp2_session_want_read(c->ss) && !nghttp2_session_want_write(c->ss) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        srv_close(c);
}

static void srv_flush_all(fx *f)
{
    for (sconn *c = f->conns; c; c = c->next)
        srv_flush(c);
}

static ssize_t srv_send(nghttp2_session *ss, const uint8_t *data, size_t len, int flags, void *arg)
{
    sconn *c = arg;

    /* let the socket take some first: a big answer is not queued whole */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) >= 256 * 1024)
        return NGHTTP2_ERR_WOULDBLOCK;
    bufferevent_write(c->bev, data, len);
    return (ssize_t)len;
}

static ssize_t srv_read(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *arg)
{
    sstream *s = src->ptr;
    size_t n = s->out.len - s->out_off;

    if (s->out_frame && n > s->out_frame)
        n = s->out_frame;
    if (n > len)
        n = len;
    memcpy(buf, s->out.data + s->out_off, n);
    s->out_off += n;
    if (s->out_off < s->out.len || !s->out_end)
        return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED; /* srv_push resumes it */
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->grpc_status) {
        nghttp2_nv tr[] = {nv("grpc-status", s->grpc_status), nv("grpc-message", "done")};

        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_submit_trailer(ss, id, tr, 2);
    }
    return (ssize_t)n;
}

/* Submits the head (:status 200, content-type); the body follows from out. */
static void srv_head(sstream *s)
{
    nghttp2_nv h[] = {nv(":status", "200"), nv("content-type", "application/grpc")};
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = srv_read};

    s->answered = true;
    nghttp2_submit_response(s->conn->ss, s->id, h, 2, &dp);
}

/* Answers with the request body and grpc-status 0 in trailers. */
static void srv_echo(sstream *s)
{
    cr_buf_add(&s->out, s->req.data, s->req.len);
    s->out_end = true;
    s->grpc_status = "0";
    srv_head(s);
}

/* The server's answers, by path (the query only names the stream). Runs
 * inside nghttp2's callbacks: submits only; the caller sends. */
static void answer(sstream *s)
{
    fx *f = s->conn->f;
    nghttp2_session *ss = s->conn->ss;

    if (path_is(s, "/echo")) {
        srv_echo(s);
    } else if (path_is(s, "/gather")) {
        /* all at once, so all of them must have been in flight together */
        if (++f->gathered < f->gather)
            return;
        for (sstream *o = f->streams; o; o = o->next)
            if (path_is(o, "/gather") && !o->answered && !o->closed)
                srv_echo(o);
    } else if (path_is(s, "/big")) {
        for (size_t i = 0; s->out.len < f->big_len; i++)
            cr_buf_addf(&s->out, "%015zu\n", i);
        s->out_frame = f->big_frame;
        s->out_end = true;
        srv_head(s);
    } else if (path_is(s, "/trailers-only")) {
        nghttp2_nv h[] = {nv(":status", "200"), nv("content-type", "application/grpc"),
                          nv("grpc-status", "14"), nv("grpc-message", "unavailable")};
        s->answered = true;
        nghttp2_submit_response(ss, s->id, h, 4, NULL);
    } else if (path_is(s, "/drip")) {
        srv_head(s); /* the test pushes the frames */
    } else if (path_is(s, "/hang")) {
        /* never answers */
    } else if (path_is(s, "/rst-internal")) {
        nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    } else if (path_is(s, "/rst-refused")) {
        nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
    } else {
        nghttp2_nv h[] = {nv(":status", "404")};
        s->answered = true;
        nghttp2_submit_response(ss, s->id, h, 1, NULL);
    }
}

static int srv_begin_headers(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    sconn *c = arg;
    fx *f = c->f;
    sstream *s;

    if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->id = fr->hd.stream_id;
    cr_buf_init(&s->req);
    cr_buf_init(&s->out);
    s->next = f->streams;
    f->streams = s;
    f->nstreams++;
    nghttp2_session_set_stream_user_data(ss, s->id, s);
    return 0;
}

static int srv_header(nghttp2_session *ss, const nghttp2_frame *fr, const uint8_t *name,
                      size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
    sstream *s = stream_of(ss, fr->hd.stream_id);
    char *n, *v, **pseudo = NULL;

    if (!s || fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    n = xstrndup((const char *)name, nlen);
    v = xstrndup((const char *)value, vlen);
    if (strcmp(n, ":method") == 0)
        pseudo = &s->method;
    else if (strcmp(n, ":scheme") == 0)
        pseudo = &s->scheme;
    else if (strcmp(n, ":authority") == 0)
        pseudo = &s->authority;
    else if (strcmp(n, ":path") == 0)
        pseudo = &s->path;
    if (pseudo) {
        free(*pseudo);
        *pseudo = v;
        free(n);
    } else if (s->nhdrs < sizeof(s->hdrs) / sizeof(s->hdrs[0])) {
        s->hdrs[s->nhdrs].name = n;
        s->hdrs[s->nhdrs].value = v;
        s->nhdrs++;
    } else {
        free(n);
        free(v);
    }
    return 0;
}

static int srv_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *arg)
{
    sstream *s = stream_of(ss, id);

    if (s)
        cr_buf_add(&s->req, data, len);
    return 0;
}

static int srv_frame_recv(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    sconn *c = arg;
    sstream *s = stream_of(ss, fr->hd.stream_id);

    if (!s)
        return 0;
    if ((fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        c->f->requests++;
        answer(s);
    } else if (fr->hd.type == NGHTTP2_RST_STREAM) {
        s->rst = true;
        s->rst_code = fr->rst_stream.error_code;
    }
    return 0;
}

static int srv_frame_send(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    sstream *s = stream_of(ss, fr->hd.stream_id);

    if (s && (fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM))
        s->ended = true;
    return 0;
}

static int srv_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
    sstream *s = stream_of(ss, id);

    if (s)
        s->closed = 1;
    return 0;
}

/* Starts the HTTP/2 session: our SETTINGS go first. */
static void srv_session(sconn *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};

    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, srv_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, srv_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_stream_close);
    nghttp2_session_server_new(&c->ss, cb, c);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(c->ss, NGHTTP2_FLAG_NONE, iv, 1);
    srv_flush(c);
}

static void srv_readcb(struct bufferevent *bev, void *arg)
{
    sconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    ssize_t n;

    if (!c->ss)
        return;
    n = nghttp2_session_mem_recv(c->ss, evbuffer_pullup(in, -1), len);
    if (n < 0)
        srv_close(c);
    else
        evbuffer_drain(in, (size_t)n);
    /* a /gather answer may have been submitted on other connections too */
    srv_flush_all(c->f);
}

static void srv_writecb(struct bufferevent *bev, void *arg)
{
    srv_flush(arg); /* what WOULDBLOCK held back, or the close after GOAWAY */
}

static void srv_eventcb(struct bufferevent *bev, short what, void *arg)
{
    sconn *c = arg;

    if (what & BEV_EVENT_CONNECTED) { /* the TLS handshake is done */
        const unsigned char *p = NULL;
        unsigned n = 0;

        SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &p, &n);
        snprintf(c->alpn, sizeof(c->alpn), "%.*s", (int)n, p ? (const char *)p : "");
        srv_session(c);
        return;
    }
    srv_close(c); /* EOF or error */
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                       void *arg)
{
    fx *f = arg;
    sconn *c = xcalloc(1, sizeof(*c));
    int one = 1;

    /* frames pushed one by one must not wait for the client's ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->f = f;
    f->accepts++;
    c->next = f->conns;
    f->conns = c;
    if (f->tls) {
        c->bev = bufferevent_openssl_socket_new(f->base, fd, SSL_new(f->tls),
                                                BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    bufferevent_setcb(c->bev, srv_readcb, srv_writecb, srv_eventcb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (!f->tls)
        srv_session(c); /* h2c: no handshake first */
}

static int srv_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                    const unsigned char *in, unsigned inlen, void *arg)
{
    for (unsigned i = 0; i < inlen && i + 1u + in[i] <= inlen; i += 1u + in[i]) {
        if (in[i] == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* From the test body (not inside the server's callbacks): */

/* Queues bytes on an answered stream and sends them, as one DATA frame. */
static void srv_push(sstream *s, const char *data, size_t len)
{
    cr_buf_add(&s->out, data, len);
    if (s->conn->ss && !s->closed) {
        nghttp2_session_resume_data(s->conn->ss, s->id);
        srv_flush(s->conn);
    }
}

/* Ends an answered stream after what was pushed, with trailers if
 * grpc_status is not NULL. */
static void srv_end(sstream *s, const char *grpc_status)
{
    s->out_end = true;
    s->grpc_status = grpc_status;
    srv_push(s, "", 0);
}

/* GOAWAY, its last stream the highest seen so far. */
static void srv_goaway(sconn *c)
{
    nghttp2_submit_goaway(c->ss, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ss),
                          NGHTTP2_NO_ERROR, NULL, 0);
    srv_flush(c);
}

/* Closes every connection (the TCP connection, no GOAWAY). */
static void srv_drop(fx *f)
{
    for (sconn *c = f->conns; c; c = c->next)
        srv_close(c);
}

/* --- the client's side --------------------------------------------------- */

static void free_headers(cr_http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Replaces *out with a copy of resp's headers (the callbacks' are borrowed). */
static void copy_headers(const cr_http_resp *resp, cr_http_header **out, size_t *n)
{
    free_headers(*out, *n);
    *out = xcalloc(resp->nheaders + 1, sizeof(**out));
    for (size_t i = 0; i < resp->nheaders; i++) {
        (*out)[i].name = xstrdup(resp->headers[i].name);
        (*out)[i].value = xstrdup(resp->headers[i].value);
    }
    *n = resp->nheaders;
}

/* A header the call's on_head (head) or on_done (!head) saw; NULL if none. */
static const char *got_hdr(const call *c, bool head, const char *name)
{
    cr_http_resp r = {.headers = head ? c->head_hdrs : c->done_hdrs,
                      .nheaders = head ? c->nhead : c->ndone};

    return cr_http_resp_header(&r, name);
}

static void count_turn(fx *f)
{
    if (!f->turn_ev)
        return;
    f->calls_this_turn = f->turns == f->turn_of_last ? f->calls_this_turn + 1 : 1;
    f->turn_of_last = f->turns;
    if (f->calls_this_turn > f->max_calls_per_turn)
        f->max_calls_per_turn = f->calls_this_turn;
}

static void call_start(call *c);

static void call_cancel(call *c)
{
    c->cancelled = true;
    cr_http_cancel(c->req);
}

static void act(call *c)
{
    if (c->cancel_then)
        call_cancel(c->cancel_then);
    if (c->start_then)
        call_start(c->start_then);
}

static void on_head(cr_http_req *r, const cr_http_resp *resp, void *arg)
{
    call *c = arg;

    if (c->cancelled || c->dones)
        c->late++;
    c->heads++;
    c->head_status = resp->status;
    copy_headers(resp, &c->head_hdrs, &c->nhead);
}

static void on_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    call *c = arg;

    if (c->cancelled || c->dones)
        c->late++;
    if (!c->heads)
        c->data_before_head = true;
    c->datas++;
    count_turn(c->f);
    cr_buf_add(&c->got, data, len);
    c->nbytes = (int)c->got.len;
    for (int64_t until = cr_mono_us() + c->busy_us; cr_mono_us() < until;)
        ;
    if (c->datas == c->cancel_at_data)
        call_cancel(c);
    if (c->act_on_data && c->datas == 1)
        act(c);
}

static void on_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    call *c = arg;

    if (c->cancelled || c->dones)
        c->late++;
    c->dones++;
    c->f->dones++;
    c->status = resp->status;
    c->had_err = err != NULL;
    if (err)
        c->err = *err;
    copy_headers(resp, &c->done_hdrs, &c->ndone);
    free(c->body);
    c->body = xmalloc(resp->body_len + 1); /* bodies may hold NULs */
    memcpy(c->body, resp->body, resp->body_len + 1);
    c->body_len = resp->body_len;
    if (c->take_body) { /* the same bytes, taken */
        size_t len = 0;
        char *taken = cr_http_take_body(r, &len);

        c->taken_ok = len == c->body_len && memcmp(taken, c->body, len) == 0 && !taken[len];
        free(c->body);
        c->body = taken;
    }
    cr_http_cancel(r); /* a no-op in its own on_done */
    if (!c->act_on_data)
        act(c);
}

/* A buffered http2 request for url, not started. */
static call *call_url(fx *f, const char *url)
{
    call *c;

    assert_true(f->ncalls < MAX_CALLS);
    c = &f->calls[f->ncalls++];
    c->f = f;
    c->url = xstrdup(url);
    c->o = (cr_http_opts){.url = c->url,
                          .http2 = true,
                          .on_head = on_head,
                          .on_done = on_done,
                          .arg = c,
                          .ca_file = f->ca};
    cr_buf_init(&c->got);
    return c;
}

static call *call_new(fx *f, const char *path)
{
    char *u = xasprintf("%s://127.0.0.1:%d%s", f->tls ? "https" : "http", f->port, path);
    call *c = call_url(f, u);

    free(u);
    return c;
}

/* Streaming mode: body through on_data, no total timeout. */
static call *call_stream(fx *f, const char *path)
{
    call *c = call_new(f, path);

    c->o.on_data = on_data;
    return c;
}

static void call_post(call *c, const char *body, size_t len)
{
    c->o.method = "POST";
    c->o.body = body;
    c->o.body_len = len;
}

static void call_start(call *c)
{
    cr_err err;

    c->req = cr_http_start(c->f->http, &c->o, &err);
    if (!c->req)
        fail_msg("cr_http_start %s: %s", c->url, err.detail);
}

static void call_ok(const call *c)
{
    if (c->had_err)
        fail_msg("%s: %s", c->url, c->err.detail);
    assert_int_equal(c->dones, 1);
    assert_int_equal(c->status, 200);
    assert_int_equal(c->late, 0);
}

/* --- the loop ---------------------------------------------------------------- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    /* only wakes event_base_loop up */
}

/* Runs the loop until *counter >= want or the deadline (cr_mono_ms);
 * returns whether it got there. */
static bool loop_until(fx *f, const int *counter, int want, int64_t deadline)
{
    while (*counter < want) {
        int64_t left = deadline - cr_mono_ms();
        struct timeval tv;

        if (left <= 0)
            break;
        tv.tv_sec = left / 1000;
        tv.tv_usec = (left % 1000) * 1000;
        evtimer_add(f->deadline, &tv);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    evtimer_del(f->deadline);
    return *counter >= want;
}

/* A macro, so that a failure names the test's line and counter. */
#define run_until(f, counter, want) \
    assert_true(loop_until((f), (counter), (want), cr_mono_ms() + WAIT_MS))

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    fx *f = arg;
    struct timeval now = {0, 0};

    f->turns++;
    evtimer_add(f->turn_ev, &now);
}

/* Asserts that buf holds len bytes of the numbered lines big answers have. */
static void check_lines(const char *buf, size_t len, size_t want_len)
{
    char want[24]; /* room for any size_t; the lines use 16 */

    assert_int_equal(len, want_len);
    for (size_t i = 0; i < len / LINE; i++) {
        snprintf(want, sizeof(want), "%015zu\n", i);
        if (memcmp(buf + i * LINE, want, LINE) != 0)
            fail_msg("line %zu: got '%.15s'", i, buf + i * LINE);
    }
}

/* --- fixture ----------------------------------------------------------------- */

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);

    /* as in every binary: a peer gone mid-write is an error, not a kill */
    signal(SIGPIPE, SIG_IGN);
    f->base = event_base_new();
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->lis = evconnlistener_new_bind(f->base, srv_accept, f, LEV_OPT_CLOSE_ON_FREE, -1,
                                     (struct sockaddr *)&sa, sizeof(sa));
    assert_non_null(f->lis);
    getsockname(evconnlistener_get_fd(f->lis), (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    f->deadline = evtimer_new(f->base, on_deadline, f);
    f->http = cr_http_new(f->base, NULL);
    assert_non_null(f->http);
    *state = f;
    return 0;
}

/* The same with a TLS server, its certificate for 127.0.0.1 signed by a CA
 * made for the test (the openssl command: blocking, setup only). */
static int setup_tls(void **state)
{
    fx *f;
    char *cmd, *cert, *key;
    int rc;

    setup(state);
    f = *state;
    f->dir = cr_test_tmpdir();
    cmd = xasprintf(
        "set -e; cd '%s'; exec >openssl.log 2>&1\n"
        "key='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
        "openssl req -x509 $key -days 2 -subj /CN=corral-h2-test-ca -keyout ca-key.pem -out "
        "ca.pem\n"
        "openssl req -new $key -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr\n"
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext\n"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -set_serial 1 -days 2 "
        "-extfile server.ext -out server.pem\n",
        f->dir);
    rc = system(cmd);
    free(cmd);
    if (rc != 0) {
        fprintf(stderr, "openssl failed; see %s/openssl.log\n", f->dir);
        return -1;
    }
    f->tls = SSL_CTX_new(TLS_server_method());
    cert = xasprintf("%s/server.pem", f->dir);
    key = xasprintf("%s/server-key.pem", f->dir);
    rc = SSL_CTX_use_certificate_chain_file(f->tls, cert) == 1 &&
         SSL_CTX_use_PrivateKey_file(f->tls, key, SSL_FILETYPE_PEM) == 1;
    free(cert);
    free(key);
    if (!rc)
        return -1;
    SSL_CTX_set_alpn_select_cb(f->tls, srv_alpn, NULL);
    f->ca = xasprintf("%s/ca.pem", f->dir);
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    fx *f = *state;

    cr_http_free(f->http);
    srv_drop(f);
    evconnlistener_free(f->lis);
    if (f->turn_ev) /* a failed test left it re-arming itself */
        event_free(f->turn_ev);
    event_free(f->deadline);
    /* the loop must close cleanly: run what the frees above deferred */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_base_free(f->base);
    while (f->conns) {
        sconn *c = f->conns;
        f->conns = c->next;
        free(c);
    }
    while (f->streams) {
        sstream *s = f->streams;
        f->streams = s->next;
        free(s->method);
        free(s->scheme);
        free(s->authority);
        free(s->path);
        for (size_t i = 0; i < s->nhdrs; i++) {
            free(s->hdrs[i].name);
            free(s->hdrs[i].value);
        }
        cr_buf_release(&s->req);
        cr_buf_release(&s->out);
        free(s);
    }
    for (int i = 0; i < f->ncalls; i++) {
        call *c = &f->calls[i];
        free(c->url);
        free(c->body);
        cr_buf_release(&c->got);
        free_headers(c->head_hdrs, c->nhead);
        free_headers(c->done_hdrs, c->ndone);
    }
    if (f->tls)
        SSL_CTX_free(f->tls);
    if (f->dir)
        nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f->ca);
    free(f);
    return 0;
}

/* --- requests ---------------------------------------------------------------- */

/* What a gRPC call sends reaches the server as HTTP/2 wants it: the four
 * pseudo-headers, the headers with lower-case names (the server's nghttp2
 * resets a stream with an upper-case one), and the body intact. */
static void test_request_pseudo_headers_and_body(void **state)
{
    fx *f = *state;
    const char *hdrs[] = {"Content-Type: application/grpc", "TE: trailers", "hasleader: true",
                          "Token: tok-123", NULL};
    const char body[] = "\0\0\0\0\5hello"; /* a gRPC frame: binary, with NULs */
    call *c = call_new(f, "/echo?x=1&y=two");
    sstream *s;
    char *authority = xasprintf("127.0.0.1:%d", f->port);

    call_post(c, body, sizeof(body) - 1);
    c->o.headers = hdrs;
    c->o.bearer = "bt";
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    s = srv_find(f, "/echo?x=1&y=two");
    assert_non_null(s);
    assert_string_equal(s->method, "POST");
    assert_string_equal(s->scheme, "http");
    assert_string_equal(s->authority, authority);
    assert_non_null(srv_hdr(s, "content-type"));
    assert_string_equal(srv_hdr(s, "content-type"), "application/grpc");
    assert_non_null(srv_hdr(s, "te"));
    assert_string_equal(srv_hdr(s, "te"), "trailers");
    assert_non_null(srv_hdr(s, "hasleader"));
    assert_string_equal(srv_hdr(s, "hasleader"), "true");
    assert_non_null(srv_hdr(s, "token"));
    assert_string_equal(srv_hdr(s, "token"), "tok-123");
    assert_non_null(srv_hdr(s, "authorization"));
    assert_string_equal(srv_hdr(s, "authorization"), "Bearer bt");
    assert_int_equal(s->req.len, sizeof(body) - 1);
    assert_memory_equal(s->req.data, body, sizeof(body) - 1);
    /* and back */
    assert_int_equal(c->body_len, sizeof(body) - 1);
    assert_memory_equal(c->body, body, sizeof(body) - 1);
    free(authority);
}

/* A body far above the 64 KiB windows goes out as the server opens them. */
static void test_large_request_body(void **state)
{
    fx *f = *state;
    size_t len = 3 * 1024 * 1024 + 17;
    char *body = xmalloc(len);
    call *c = call_new(f, "/echo");
    sstream *s;

    for (size_t i = 0; i < len; i++)
        body[i] = (char)(i * 7 % 251);
    call_post(c, body, len);
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    s = srv_find(f, "/echo");
    assert_int_equal(s->req.len, len);
    assert_memory_equal(s->req.data, body, len);
    assert_int_equal(c->body_len, len);
    assert_memory_equal(c->body, body, len);
    free(body);
}

/* --- responses --------------------------------------------------------------- */

/* on_head once, before any data; the trailers after the body in on_done's
 * headers, beside the head's. */
static void test_head_data_trailers(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/echo");

    call_post(c, "ping", 4);
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_int_equal(c->heads, 1);
    assert_false(c->data_before_head);
    assert_int_equal(c->head_status, 200);
    assert_non_null(got_hdr(c, true, "content-type"));
    assert_string_equal(got_hdr(c, true, "content-type"), "application/grpc");
    assert_string_equal(cr_buf_str(&c->got), "ping");
    assert_string_equal(c->body, ""); /* not buffered in streaming mode */
    assert_non_null(got_hdr(c, false, "grpc-status"));
    assert_string_equal(got_hdr(c, false, "grpc-status"), "0");
    assert_non_null(got_hdr(c, false, "grpc-message"));
    assert_string_equal(got_hdr(c, false, "grpc-message"), "done");
    assert_non_null(got_hdr(c, false, "content-type"));
}

/* gRPC's error answer: one HEADERS frame with END_STREAM. */
static void test_trailers_only(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/trailers-only");

    call_post(c, "x", 1);
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_int_equal(c->heads, 1); /* and before on_done: call_ok counts late ones */
    assert_int_equal(c->head_status, 200);
    assert_int_equal(c->datas, 0);
    assert_int_equal(c->got.len, 0);
    assert_non_null(got_hdr(c, false, "grpc-status"));
    assert_string_equal(got_hdr(c, false, "grpc-status"), "14");
    assert_non_null(got_hdr(c, false, "grpc-message"));
    assert_string_equal(got_hdr(c, false, "grpc-message"), "unavailable");
}

/* 8 MiB buffered (far past every window), then taken from on_done. */
static void test_large_answer_take_body(void **state)
{
    fx *f = *state;
    call *c = call_new(f, "/big");

    f->big_len = 8 * 1024 * 1024;
    c->take_body = true;
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_true(c->taken_ok);
    check_lines(c->body, c->body_len, f->big_len);
}

static void test_max_body(void **state)
{
    fx *f = *state;
    call *small = call_new(f, "/big"), *enough = call_new(f, "/big");

    f->big_len = 100000;
    small->o.max_body = 1000;
    call_start(small);
    run_until(f, &small->dones, 1);
    assert_true(small->had_err);
    assert_int_equal(small->err.code, CR_ETOOLARGE);
    enough->o.max_body = 200000;
    call_start(enough);
    run_until(f, &enough->dones, 1);
    call_ok(enough);
    check_lines(enough->body, enough->body_len, f->big_len);
}

/* --- connections ----------------------------------------------------------- */

/* 50 requests in flight at once (the server answers none until all 50
 * wait) share one connection, each with its own answer; requests after
 * them take the same connection. */
static void test_many_streams_one_connection(void **state)
{
    fx *f = *state;
    char bodies[55][16];
    int n = 50;

    f->gather = n;
    for (int i = 0; i < n; i++) {
        call *c = call_new(f, "/gather");
        snprintf(bodies[i], sizeof(bodies[i]), "req-%d", i);
        call_post(c, bodies[i], strlen(bodies[i]));
        call_start(c);
    }
    run_until(f, &f->dones, n);
    for (int i = 0; i < n; i++) {
        call_ok(&f->calls[i]);
        assert_string_equal(f->calls[i].body, bodies[i]);
    }
    assert_int_equal(f->nstreams, n);
    assert_int_equal(f->accepts, 1);
    for (int i = n; i < n + 5; i++) {
        call *c = call_new(f, "/echo");
        snprintf(bodies[i], sizeof(bodies[i]), "again-%d", i);
        call_post(c, bodies[i], strlen(bodies[i]));
        call_start(c);
        run_until(f, &c->dones, 1);
        call_ok(c);
        assert_string_equal(c->body, bodies[i]);
    }
    assert_int_equal(f->accepts, 1);
    assert_int_equal(f->conn_closes, 0);
}

/* Each frame reaches on_data while the server waits for it: the server
 * sends bursts of 1 to 3 frames and nothing more until the client has
 * had every byte. A client that held a burst's last frame until more bytes
 * came would stall here until the deadline. */
static void test_frames_delivered_one_by_one(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/drip");
    int64_t deadline;
    cr_buf want;
    int frame = 0;
    sstream *s;

    cr_buf_init(&want);
    call_start(c);
    run_until(f, &c->heads, 1);
    s = srv_find(f, "/drip");
    /* 40 frames in 20 round trips: a client holding frames for a second
     * (curl 7.88 did) misses this */
    deadline = cr_mono_ms() + 10000;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i <= round % 3; i++) {
            char fr[16];
            snprintf(fr, sizeof(fr), "f%03d;", frame++);
            cr_buf_adds(&want, fr);
            srv_push(s, fr, strlen(fr)); /* one DATA frame each */
        }
        if (!loop_until(f, &c->nbytes, (int)want.len, deadline))
            fail_msg("round %d: the client has %d of %zu bytes", round, c->nbytes, want.len);
    }
    srv_end(s, "0");
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_string_equal(cr_buf_str(&c->got), cr_buf_str(&want));
    cr_buf_release(&want);
}

/* --- cancel -------------------------------------------------------------------- */

/* Cancelled in its first on_data (the second frame of the burst already
 * on its way): nothing more is delivered, the server sees RST_STREAM
 * CANCEL, and the other stream on the connection goes on. */
static void test_cancel_from_data(void **state)
{
    fx *f = *state;
    call *a = call_stream(f, "/drip?a"), *b = call_stream(f, "/drip?b");
    sstream *sa, *sb;

    a->cancel_at_data = 1;
    call_start(a);
    call_start(b);
    run_until(f, &a->heads, 1);
    run_until(f, &b->heads, 1);
    sa = srv_find(f, "/drip?a");
    sb = srv_find(f, "/drip?b");
    assert_ptr_equal(sa->conn, sb->conn);
    srv_push(sa, "one", 3);
    srv_push(sa, "two", 3);
    run_until(f, &sa->closed, 1);
    assert_true(sa->rst);
    assert_int_equal(sa->rst_code, NGHTTP2_CANCEL);
    assert_false(sa->ended);
    srv_push(sb, "b1", 2);
    srv_end(sb, "0");
    run_until(f, &b->dones, 1);
    call_ok(b);
    assert_string_equal(cr_buf_str(&b->got), "b1");
    assert_int_equal(a->datas, 1);
    assert_int_equal(a->dones, 0);
    assert_int_equal(a->late, 0);
    assert_int_equal(cr_http_pending(f->http), 0);
    assert_int_equal(f->accepts, 1);
}

/* Cancelled between two loop turns, a frame on its way: the same, and the
 * connection serves the next request. */
static void test_cancel_from_outside(void **state)
{
    fx *f = *state;
    call *a = call_stream(f, "/drip"), *b = call_new(f, "/echo");
    sstream *s;

    call_start(a);
    run_until(f, &a->heads, 1);
    s = srv_find(f, "/drip");
    srv_push(s, "one", 3);
    run_until(f, &a->datas, 1);
    srv_push(s, "two", 3); /* on its way while the cancel happens */
    call_cancel(a);
    run_until(f, &s->closed, 1);
    assert_true(s->rst);
    assert_int_equal(s->rst_code, NGHTTP2_CANCEL);
    assert_int_equal(a->datas, 1);
    call_post(b, "next", 4);
    call_start(b);
    run_until(f, &b->dones, 1);
    call_ok(b);
    assert_string_equal(b->body, "next");
    assert_int_equal(a->dones, 0);
    assert_int_equal(a->late, 0);
    assert_int_equal(f->accepts, 1);
}

/* --- failures ---------------------------------------------------------------- */

/* A request the server has but never answers times out, while a stream
 * beside it (a watch) keeps carrying frames; the connection lives on: the
 * watch goes on and the next request takes the same connection. (A
 * connection silent for the whole timeout the client may take for dead.) */
static void test_timeout_keeps_connection(void **state)
{
    fx *f = *state;
    call *watch = call_stream(f, "/drip"), *c = call_new(f, "/hang");
    call *next = call_new(f, "/echo");
    int64_t deadline;
    sstream *s;

    call_start(watch);
    run_until(f, &watch->heads, 1);
    s = srv_find(f, "/drip");
    c->o.timeout_ms = 200;
    call_start(c);
    deadline = cr_mono_ms() + WAIT_MS;
    for (int sent = 1; !c->dones; sent++) { /* a frame a round trip */
        srv_push(s, "t", 1);
        assert_true(loop_until(f, &watch->nbytes, sent, deadline));
    }
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_ETIMEOUT);
    assert_int_equal(c->late, 0);
    assert_non_null(srv_find(f, "/hang"));
    call_post(next, "still here", 10);
    call_start(next);
    run_until(f, &next->dones, 1);
    call_ok(next);
    assert_string_equal(next->body, "still here");
    srv_end(s, "0");
    run_until(f, &watch->dones, 1);
    call_ok(watch);
    assert_int_equal(f->accepts, 1);
}

/* A loopback port that was free a moment ago and has no listener. */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    return ntohs(sa.sin_port);
}

static void test_refused(void **state)
{
    fx *f = *state;
    char *u = xasprintf("http://127.0.0.1:%d/x", closed_port());
    call *c;

    c = call_url(f, u);
    free(u);
    call_start(c);
    run_until(f, &c->dones, 1);
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_EUNAVAIL);
    assert_int_equal(c->status, 0);
}

/* The server's TCP connection goes mid-stream: every stream on it fails,
 * and the next request gets a new connection. */
static void test_connection_lost_mid_stream(void **state)
{
    fx *f = *state;
    call *a = call_stream(f, "/drip?a"), *b = call_stream(f, "/drip?b");
    call *next = call_new(f, "/echo");

    call_start(a);
    call_start(b);
    run_until(f, &a->heads, 1);
    run_until(f, &b->heads, 1);
    srv_push(srv_find(f, "/drip?a"), "a1", 2);
    srv_push(srv_find(f, "/drip?b"), "b1", 2);
    run_until(f, &a->datas, 1);
    run_until(f, &b->datas, 1);
    srv_drop(f);
    run_until(f, &f->dones, 2);
    assert_true(a->had_err);
    assert_int_equal(a->err.code, CR_EIO);
    assert_true(b->had_err);
    assert_int_equal(b->err.code, CR_EIO);
    assert_string_equal(cr_buf_str(&a->got), "a1");
    assert_int_equal(a->late + b->late, 0);
    call_post(next, "again", 5);
    call_start(next);
    run_until(f, &next->dones, 1);
    call_ok(next);
    assert_string_equal(next->body, "again");
    assert_ptr_not_equal(srv_find(f, "/echo")->conn, srv_find(f, "/drip?a")->conn);
}

/* A stream the server resets fails alone. */
static void test_rst_stream_internal_error(void **state)
{
    fx *f = *state;
    call *bad = call_new(f, "/rst-internal"), *good = call_new(f, "/echo");

    call_post(good, "fine", 4);
    call_start(bad);
    call_start(good);
    run_until(f, &f->dones, 2);
    assert_true(bad->had_err);
    assert_int_equal(bad->err.code, CR_EIO);
    call_ok(good);
    assert_string_equal(good->body, "fine");
    assert_int_equal(f->accepts, 1); /* the reset took its stream only */
}

/* REFUSED_STREAM: the server did not process it, so it is unavailable
 * (a caller may retry), not an I/O error. */
static void test_rst_stream_refused(void **state)
{
    fx *f = *state;
    call *c = call_new(f, "/rst-refused");

    call_start(c);
    run_until(f, &c->dones, 1);
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_EUNAVAIL);
}

/* After GOAWAY the open stream finishes on the old connection, and a new
 * request opens a new one. */
static void test_goaway(void **state)
{
    fx *f = *state;
    call *a = call_stream(f, "/drip"), *b = call_new(f, "/echo");
    sstream *s, *sb;

    call_start(a);
    run_until(f, &a->heads, 1);
    s = srv_find(f, "/drip");
    srv_goaway(s->conn);
    /* the frame comes after GOAWAY: once it is here, so is GOAWAY */
    srv_push(s, "one", 3);
    run_until(f, &a->datas, 1);
    call_post(b, "new", 3);
    call_start(b);
    run_until(f, &b->dones, 1);
    call_ok(b);
    assert_string_equal(b->body, "new");
    sb = srv_find(f, "/echo");
    assert_non_null(sb);
    assert_ptr_not_equal(sb->conn, s->conn);
    assert_int_equal(f->accepts, 2);
    srv_push(s, "two", 3);
    srv_end(s, "0");
    run_until(f, &a->dones, 1);
    call_ok(a);
    assert_string_equal(cr_buf_str(&a->got), "onetwo");
    assert_string_equal(got_hdr(a, false, "grpc-status"), "0");
}

/* --- callbacks ----------------------------------------------------------------- */

/* on_done starts a request and cancels another; so does an on_data. */
static void test_callbacks_start_and_cancel(void **state)
{
    fx *f = *state;
    call *hang1 = call_new(f, "/hang?1"), *next1 = call_new(f, "/echo?1");
    call *first = call_new(f, "/echo?0");
    call *hang2 = call_new(f, "/hang?2"), *next2 = call_new(f, "/echo?2");
    call *drip = call_stream(f, "/drip");
    sstream *s, *s1, *s2;

    call_start(hang1);
    call_start(hang2);
    call_post(next1, "one", 3);
    call_post(next2, "two", 3);
    first->start_then = next1;
    first->cancel_then = hang1;
    drip->start_then = next2;
    drip->cancel_then = hang2;
    drip->act_on_data = true;
    run_until(f, &f->requests, 2); /* both hangs are with the server */
    s1 = srv_find(f, "/hang?1");
    s2 = srv_find(f, "/hang?2");
    assert_non_null(s1);
    assert_non_null(s2);
    call_start(first);
    run_until(f, &next1->dones, 1);
    call_ok(first);
    call_ok(next1);
    assert_string_equal(next1->body, "one");
    run_until(f, &s1->closed, 1); /* reset, not left open */

    call_start(drip);
    run_until(f, &drip->heads, 1);
    s = srv_find(f, "/drip");
    srv_push(s, "x", 1);
    run_until(f, &next2->dones, 1);
    call_ok(next2);
    assert_string_equal(next2->body, "two");
    run_until(f, &s2->closed, 1);
    srv_end(s, "0");
    run_until(f, &drip->dones, 1);
    call_ok(drip);
    assert_int_equal(hang1->dones + hang2->dones, 0);
    assert_int_equal(hang1->late + hang2->late, 0);
    assert_int_equal(cr_http_pending(f->http), 0);
}

/* cr_http_free with streams in flight: no callback, every connection
 * closed, nothing leaked (valgrind, ASan). */
static void test_free_with_streams_in_flight(void **state)
{
    fx *f = *state;
    call *hang = call_new(f, "/hang"), *drip = call_stream(f, "/drip");
    call *fresh = call_new(f, "/echo");

    call_start(hang);
    call_start(drip);
    run_until(f, &drip->heads, 1);
    srv_push(srv_find(f, "/drip"), "x", 1);
    run_until(f, &drip->datas, 1);
    call_start(fresh); /* not even sent yet */
    cr_http_free(f->http);
    f->http = NULL;
    run_until(f, &f->conn_closes, f->accepts);
    assert_int_equal(f->dones, 0);
    assert_int_equal(drip->heads, 1);
    assert_int_equal(drip->datas, 1);
    assert_int_equal(hang->heads + fresh->heads, 0);
}

/* --- TLS ----------------------------------------------------------------------- */

static void test_tls_with_ca(void **state)
{
    fx *f = *state;
    call *c = call_new(f, "/echo");
    sstream *s;

    call_post(c, "secret", 6);
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_string_equal(c->body, "secret");
    assert_string_equal(got_hdr(c, false, "grpc-status"), "0");
    s = srv_find(f, "/echo");
    assert_non_null(s);
    assert_string_equal(s->scheme, "https");
    assert_string_equal(s->conn->alpn, "h2");
}

/* The server's certificate from an unknown CA: a transport error. */
static void test_tls_without_ca_fails(void **state)
{
    fx *f = *state;
    call *c = call_new(f, "/echo");

    c->o.ca_file = NULL;
    call_start(c);
    run_until(f, &c->dones, 1);
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_EIO);
    assert_int_equal(c->status, 0);
    assert_int_equal(f->nstreams, 0);
}

static void test_tls_insecure(void **state)
{
    fx *f = *state;
    call *c = call_new(f, "/echo");

    c->o.ca_file = NULL;
    c->o.insecure = true;
    call_post(c, "anyway", 6);
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    assert_string_equal(c->body, "anyway");
    assert_string_equal(srv_find(f, "/echo")->conn->alpn, "h2");
}

/* --- the turn budget ------------------------------------------------------------- */

/* A slow consumer of a burst does not hold the loop: once the stream has
 * spent its turn budget the rest waits for the next loop turn, so no turn
 * sees more than a budget's worth of frames, and every byte still arrives,
 * in order. The frames are small (64 bytes, 1 ms each in on_data): one
 * read of the socket (libevent's are 4 KiB) holds some 56 ms of them. */
static void test_stream_waits_for_next_turn(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/big");
    struct timeval now = {0, 0};

    f->big_len = 32 * 1024;
    f->big_frame = 64;
    f->turn_ev = evtimer_new(f->base, on_turn, f);
    evtimer_add(f->turn_ev, &now);
    c->busy_us = 1000;
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    check_lines(c->got.data, c->got.len, f->big_len);
    /* one loop turn may run the connection twice (its socket and a
     * resume), each for at most its budget plus the frame that crossed it
     * (which a read may have split in two) */
    assert_true(f->max_calls_per_turn >= 1);
    assert_true(f->max_calls_per_turn <= 2 * (CR_HTTP_STREAM_BUDGET_US / 1000 + 2));
    assert_true(cr_http_stream_pauses(f->http) >= 1);
    event_free(f->turn_ev);
    f->turn_ev = NULL;
}

/* A stream whose last chunk (END_STREAM on it) uses up the turn's budget:
 * nghttp2 stops before ending the frame and no more bytes will come, so
 * the next turn must still let it finish; else the stream never ends. */
static void test_pause_on_the_last_frame_still_ends(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/big");

    f->big_len = LINE;
    f->big_frame = LINE;
    c->busy_us = CR_HTTP_STREAM_BUDGET_US + 5000;
    call_start(c);
    run_until(f, &c->dones, 1);
    call_ok(c);
    check_lines(c->got.data, c->got.len, f->big_len);
    assert_true(cr_http_stream_pauses(f->http) >= 1);
}

/* Refused over https is refused too (unavailable: nothing was sent, so a
 * caller may go elsewhere), not a TLS failure. */
static void test_tls_refused(void **state)
{
    fx *f = *state;
    char *u = xasprintf("https://127.0.0.1:%d/x", closed_port());
    call *c = call_url(f, u);

    free(u);
    call_start(c);
    run_until(f, &c->dones, 1);
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_EUNAVAIL);
}

/* The server breaks the protocol on the connection (a WINDOW_UPDATE of 0
 * for the connection): nghttp2 ends the session, and the streams on it
 * fail instead of waiting forever; the next request gets a new one. */
static void test_protocol_error_fails_streams(void **state)
{
    fx *f = *state;
    static const uint8_t bad[] = {0, 0, 4, NGHTTP2_WINDOW_UPDATE, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    call *c = call_stream(f, "/hang"), *next = call_new(f, "/echo");

    call_start(c);
    run_until(f, &f->nstreams, 1);
    bufferevent_write(f->conns->bev, bad, sizeof(bad));
    run_until(f, &c->dones, 1);
    assert_true(c->had_err);
    assert_int_equal(c->err.code, CR_EIO);
    call_post(next, "again", 5);
    call_start(next);
    run_until(f, &next->dones, 1);
    call_ok(next);
    assert_int_equal(f->accepts, 2);
}

/* The server sends a whole answer and closes while the client is still
 * handing it over (each chunk uses up the turn's budget): what arrived
 * before the close is the answer, not an I/O error. */
static void test_answer_before_close_is_kept(void **state)
{
    fx *f = *state;
    call *c = call_stream(f, "/big");
    int64_t end = cr_mono_ms() + WAIT_MS;
    struct evbuffer *out;

    f->big_len = 64 * LINE;
    f->big_frame = LINE;
    c->busy_us = 2000;
    call_start(c);
    run_until(f, &c->heads, 1);
    out = bufferevent_get_output(f->conns->bev);
    while ((nghttp2_session_want_write(f->conns->ss) || evbuffer_get_length(out) > 0) &&
           cr_mono_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(evbuffer_get_length(out), 0);
    assert_int_equal(c->dones, 0); /* still handing it over */
    srv_drop(f);
    run_until(f, &c->dones, 1);
    call_ok(c);
    check_lines(c->got.data, c->got.len, f->big_len);
}

#define T(name)     cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T_TLS(name) cmocka_unit_test_setup_teardown(name, setup_tls, teardown)

static const struct CMUnitTest tests[] = {
    T(test_request_pseudo_headers_and_body),
    T(test_large_request_body),
    T(test_head_data_trailers),
    T(test_trailers_only),
    T(test_large_answer_take_body),
    T(test_max_body),
    T(test_many_streams_one_connection),
    T(test_frames_delivered_one_by_one),
    T(test_cancel_from_data),
    T(test_cancel_from_outside),
    T(test_timeout_keeps_connection),
    T(test_refused),
    T(test_connection_lost_mid_stream),
    T(test_rst_stream_internal_error),
    T(test_rst_stream_refused),
    T(test_goaway),
    T(test_callbacks_start_and_cancel),
    T(test_free_with_streams_in_flight),
    T_TLS(test_tls_with_ca),
    T_TLS(test_tls_without_ca_fails),
    T_TLS(test_tls_insecure),
    T(test_stream_waits_for_next_turn),
    T(test_pause_on_the_last_frame_still_ends),
    T(test_protocol_error_fails_streams),
    T(test_answer_before_close_is_kept),
    T_TLS(test_tls_refused),
};

CR_TEST_MAIN(tests)
