/* cr_h2: HTTP/2 client connections on libnghttp2 and libevent. See h2.h.
 *
 * nghttp2 does the protocol (framing, HPACK, flow control, stream states);
 * this file moves bytes between it and a bufferevent and maps its
 * callbacks to the handler's. nghttp2 calls back only from inside
 * nghttp2_session_mem_recv/mem_send, and forbids mem_send from there; so
 * submits made meanwhile (a handler starting or cancelling a stream) are
 * sent by a flush after mem_recv returns, or by the connection's flush
 * event.
 *
 * Memory: a stream is freed when nghttp2 closes it, or with its
 * connection; a cancelled or finished one only loses its handler. A
 * connection is freed when it failed (or drained after GOAWAY) and no
 * call on its stack is using it (`depth`). */
#include "base/h2.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/cr_hist.h"
#include "base/xalloc.h"

/* What a connection asks of its peer: big answers (a range of many task
 * records) flow without waiting for window updates on loopback. */
#define H2_STREAM_WINDOW (8 << 20)
#define H2_CONN_WINDOW   (32 << 20)
/* Bytes read off the socket but not yet handed to nghttp2 (a paused
 * burst) before the connection stops reading: TCP holds the rest. */
#define H2_READ_HIGH (4 << 20)
/* Connecting (TCP and TLS) when the request sets no limit, as libcurl's. */
#define H2_CONNECT_TIMEOUT_MS 300000
/* Past this stream id a connection takes no new streams (ids end at 2^31):
 * the next request opens another. */
#define H2_LAST_STREAM_ID (1 << 30)
/* How long a stream's timeout that saw nothing from the server waits for
 * the answer to a PING before the connection is given up (at most). */
#define H2_PING_WAIT_MS 2000

typedef struct h2_conn h2_conn;

struct cr_h2_stream {
    h2_conn *c;
    int32_t id;
    cr_h2_stream *prev, *next;
    const cr_h2_handler *hd;
    void *arg;    /* NULL once done or cancelled: nothing more fires */
    char *method; /* for error messages */
    char *url;
    char *body;
    size_t body_len, body_off;
    struct event *timer;
    long timeout_ms;
    long status; /* :status of the last response block */
    bool head_sent;
    bool remote_ended; /* END_STREAM arrived: the response is whole */
};

struct h2_conn {
    cr_h2 *h;
    h2_conn *prev, *next; /* in h->conns (pooled) or h->old (draining, dead) */
    char *key;            /* origin and TLS files; NULL once out of the pool */
    char *host;           /* to connect to (no brackets) */
    int port;
    struct bufferevent *bev; /* the socket's; TLS's filter over it once connected */
    SSL *ssl;                /* https: until the TLS filter takes it */
    nghttp2_session *ng;
    struct event *flush_ev;
    struct event *resume_ev; /* goes on reading after a paused burst */
    struct event *connect_timer;
    cr_h2_stream *streams;
    size_t nstreams;
    int depth; /* calls on the stack using the connection */
    int64_t last_read_us;
    int64_t turn_us;          /* when this turn's reading began */
    bool paused;              /* the turn's budget is used: read the rest next turn */
    struct event *ping_timer; /* a PING is out: no answer by then, give up */
    int64_t ping_us;          /* when it went */
    long ping_ms;
    bool connected; /* TCP up and, for https, TLS agreed on h2 */
    bool draining;  /* GOAWAY received (or stream ids used up): no new streams */
    bool closing;   /* the server closed: read what it sent, without a budget */
    bool tls;       /* the TLS filter is on */
    bool dead;      /* failed: free once depth is 0 */
};

struct cr_h2 {
    struct event_base *base;
    struct evdns_base *dns; /* made on the first connection to a name */
    nghttp2_session_callbacks *callbacks;
    h2_conn *conns; /* pooled: one per origin */
    h2_conn *old;   /* draining or dead, not reusable */
    uint64_t pauses;
};

/* --- lists -------------------------------------------------------------------- */

static void conn_link(h2_conn **head, h2_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void conn_unlink(h2_conn **head, h2_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Takes c out of the pool: new requests open another connection. */
static void conn_retire(h2_conn *c)
{
    if (!c->key)
        return;
    conn_unlink(&c->h->conns, c);
    conn_link(&c->h->old, c);
    free(c->key);
    c->key = NULL;
}

/* --- streams ------------------------------------------------------------------ */

static void stream_free(cr_h2_stream *st)
{
    h2_conn *c = st->c;

    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    c->nstreams--;
    if (st->timer)
        event_free(st->timer);
    free(st->method);
    free(st->url);
    free(st->body);
    free(st);
}

/* Calls done once (head first if it has not come); the stream is inert
 * afterwards. */
static void stream_done(cr_h2_stream *st, const cr_err *err)
{
    void *arg;

    if (!st->arg)
        return;
    if (st->timer)
        evtimer_del(st->timer);
    if (!err && !st->head_sent) {
        st->head_sent = true;
        st->hd->head(st->arg, st->status);
        if (!st->arg)
            return; /* cancelled in it */
    }
    arg = st->arg;
    st->arg = NULL;
    st->hd->done(arg, err);
}

static void stream_fail(cr_h2_stream *st, cr_code code, const char *why)
{
    cr_err err;

    cr_error(&err, code, "%s %s: %s", st->method, st->url, why);
    stream_done(st, &err);
}

static void conn_release(h2_conn *c);
static void conn_fail(h2_conn *c, cr_code code, const char *why);

static void conn_kick(h2_conn *c)
{
    if (!c->dead)
        event_active(c->flush_ev, 0, 0);
}

/* Ends a stream the peer is still sending on. */
static void stream_reset(cr_h2_stream *st)
{
    if (st->id > 0 && !st->c->dead) {
        nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
        conn_kick(st->c);
    }
}

static void stream_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    cr_h2_stream *st = arg;
    h2_conn *c = st->c;
    char why[64];

    (void)fd;
    (void)what;
    snprintf(why, sizeof(why), "timed out after %ld ms", st->timeout_ms);
    c->depth++;
    stream_fail(st, CR_ETIMEOUT, why);
    stream_reset(st);
    /* Not a byte from the server meanwhile: it may be gone (stopped, cut
     * off) while the socket looks open, and its other streams (a watch)
     * would wait as long as TCP keeps it. A PING tells: no answer in time
     * fails the connection (ping_timeout_cb), so they go elsewhere and new
     * calls get a new connection. */
    if (!c->dead && c->connected && cr_mono_us() - c->last_read_us >= st->timeout_ms * 1000 &&
        !evtimer_pending(c->ping_timer, NULL)) {
        long ms = st->timeout_ms < H2_PING_WAIT_MS ? st->timeout_ms : H2_PING_WAIT_MS;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

        nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL);
        conn_kick(c);
        c->ping_ms = ms;
        c->ping_us = cr_mono_us();
        evtimer_add(c->ping_timer, &tv);
    }
    conn_release(c);
}

static void ping_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    h2_conn *c = arg;
    char why[96];

    (void)fd;
    (void)what;
    if (c->last_read_us >= c->ping_us)
        return; /* something came: alive */
    snprintf(why, sizeof(why), "no answer from the server, not even to a ping, within %ld ms",
             c->ping_ms);
    c->depth++;
    conn_fail(c, CR_EIO, why);
    conn_release(c);
}

static ssize_t body_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    cr_h2_stream *st = src->ptr;
    size_t n = st->body_len - st->body_off;

    (void)ng;
    (void)id;
    (void)user;
    if (n > len)
        n = len;
    memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    if (st->body_off == st->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* --- connection: failing and freeing ---------------------------------------------- */

static void conn_free(h2_conn *c)
{
    while (c->streams)
        stream_free(c->streams);
    if (c->key)
        conn_unlink(&c->h->conns, c);
    else
        conn_unlink(&c->h->old, c);
    nghttp2_session_del(c->ng);
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->ssl)
        SSL_free(c->ssl);
    event_free(c->flush_ev);
    event_free(c->resume_ev);
    event_free(c->connect_timer);
    event_free(c->ping_timer);
    free(c->key);
    free(c->host);
    free(c);
}

/* Fails every stream of c with code (handlers may start requests: they go
 * to a new connection) and marks c for freeing. */
static void conn_fail(h2_conn *c, cr_code code, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    conn_retire(c);
    c->depth++;
    for (cr_h2_stream *st = c->streams; st; st = st->next)
        if (st->arg)
            stream_fail(st, code, why);
    c->depth--;
}

/* Ends a use of c begun with depth++; frees it if nothing more needs it:
 * it failed, it went away and its streams finished, or nghttp2 is done
 * with it (it ended the session on a protocol error: its streams fail,
 * since nghttp2 closes none of them then). */
static void conn_release(h2_conn *c)
{
    if (c->depth == 1 && !c->dead) {
        if (c->draining && !c->nstreams)
            conn_fail(c, CR_EIO, "gone away");
        else if (c->connected && !nghttp2_session_want_read(c->ng) &&
                 !nghttp2_session_want_write(c->ng))
            conn_fail(c, CR_EIO, "the HTTP/2 session ended (a protocol error)");
    }
    if (--c->depth > 0)
        return;
    if (c->dead)
        conn_free(c);
}

/* --- connection: bytes in and out ------------------------------------------------------ */

/* Hands nghttp2's pending frames to the bufferevent. Not from inside an
 * nghttp2 callback (conn_kick then). */
static void conn_flush(h2_conn *c)
{
    if (c->dead || !c->connected)
        return;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);

        if (n < 0) {
            conn_fail(c, CR_EIO, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            return;
        bufferevent_write(c->bev, data, (size_t)n);
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    h2_conn *c = arg;

    (void)fd;
    (void)what;
    c->depth++;
    conn_flush(c);
    conn_release(c);
}

/* Feeds what was read to nghttp2 until the turn's budget is used (the
 * data handler pauses it: on_data_chunk); the rest waits for the next
 * turn (resume_ev), so a burst on a stream never holds the loop long. */
static void conn_recv(h2_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    static const uint8_t none;

    c->depth++;
    c->turn_us = cr_mono_us();
    /* Paused on a frame's last chunk, nghttp2 has not ended the frame (nor
     * the stream, on END_STREAM) and may have no more bytes coming: let it
     * go on with none. */
    if (c->paused) {
        c->paused = false;
        if (nghttp2_session_mem_recv(c->ng, &none, 0) < 0)
            conn_fail(c, CR_EIO, "cannot go on reading");
    }
    while (!c->dead && !c->paused && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        ssize_t n;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            conn_fail(c, CR_EIO, nghttp2_strerror((int)n));
            break;
        }
        evbuffer_drain(in, (size_t)n);
        if (c->paused) {
            struct timeval now = {0, 0};

            evtimer_add(c->resume_ev, &now);
            c->h->pauses++;
            break;
        }
    }
    conn_flush(c);
    conn_release(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    h2_conn *c = arg;

    (void)bev;
    c->last_read_us = cr_mono_us();
    conn_recv(c);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_recv(arg);
}

static void set_sockopts(h2_conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    int on = 1, idle = CR_HTTP_KEEPIDLE_S, intvl = CR_HTTP_KEEPINTVL_S;

    /* small frames (a window update, a short call) go out at once; a
     * stream idle for long notices a dead peer within about half a
     * minute, as the HTTP/1.1 side does */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
}

/* Whether TLS agreed on h2 (cleartext always has). */
static bool alpn_ok(h2_conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    const unsigned char *p = NULL;
    unsigned len = 0;

    if (!ssl)
        return true;
    SSL_get0_alpn_selected(ssl, &p, &len);
    return len == 2 && memcmp(p, "h2", 2) == 0;
}

/* Why the connection broke, for the streams' errors; *code gets
 * CR_EUNAVAIL when nothing can have been sent (refused, unresolvable). */
static void conn_why(h2_conn *c, short what, char *why, size_t len, cr_code *code)
{
    int dns = bufferevent_socket_get_dns_error(c->bev);
    unsigned long ssl_err = 0;
    int e = EVUTIL_SOCKET_ERROR();

    *code = CR_EIO;
    if (dns) {
        *code = CR_EUNAVAIL;
        snprintf(why, len, "cannot resolve %s: %s", c->host, evutil_gai_strerror(dns));
        return;
    }
    if (bufferevent_openssl_get_ssl(c->bev))
        ssl_err = bufferevent_get_openssl_error(c->bev);
    if (ssl_err) {
        char buf[256];

        ERR_error_string_n(ssl_err, buf, sizeof(buf));
        snprintf(why, len, "TLS: %s", buf);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        snprintf(why, len, "connection closed by the server");
        return;
    }
    if (!c->connected && !c->tls &&
        (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ETIMEDOUT))
        *code = CR_EUNAVAIL;
    snprintf(why, len, "%s %s:%d: %s", c->connected ? "connection to" : "cannot connect to",
             c->host, c->port, e ? evutil_socket_error_to_string(e) : "broken");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    h2_conn *c = arg;
    char why[512];
    cr_code code;

    (void)bev;
    c->depth++;
    if ((what & BEV_EVENT_CONNECTED) && c->ssl) {
        /* TCP is up: TLS goes over it (a refusal was a socket error, not
         * a TLS one); its own CONNECTED follows the handshake */
        struct bufferevent *f = bufferevent_openssl_filter_new(
            c->h->base, c->bev, c->ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);

        /* only out of memory, which aborts everywhere else too (it may
         * have freed what it was given) */
        if (!f)
            abort();
        set_sockopts(c);
        c->bev = f;
        c->ssl = NULL;
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
        bufferevent_setwatermark(c->bev, EV_READ, 0, H2_READ_HIGH);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        c->tls = true;
    } else if (what & BEV_EVENT_CONNECTED) {
        evtimer_del(c->connect_timer);
        if (!alpn_ok(c)) {
            conn_fail(c, CR_EIO, "TLS: the server did not agree to HTTP/2 (ALPN h2)");
        } else {
            c->connected = true;
            c->last_read_us = cr_mono_us();
            if (!c->tls)
                set_sockopts(c);
            conn_flush(c);
        }
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        conn_why(c, what, why, sizeof(why), &code);
        /* answers that came whole before the close are answers */
        if (c->connected) {
            c->closing = true;
            conn_recv(c);
        }
        conn_fail(c, code, why);
    }
    conn_release(c);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    h2_conn *c = arg;
    char why[300];

    (void)fd;
    (void)what;
    snprintf(why, sizeof(why), "connecting to %s:%d timed out", c->host, c->port);
    c->depth++;
    conn_fail(c, CR_ETIMEOUT, why);
    conn_release(c);
}

/* --- nghttp2 callbacks ------------------------------------------------------------ */

static cr_h2_stream *live_stream(nghttp2_session *ng, int32_t id)
{
    cr_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

    return st && st->arg ? st : NULL;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    cr_h2_stream *st = live_stream(ng, frame->hd.stream_id);

    (void)flags;
    (void)user;
    if (!st || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (nlen && name[0] == ':') {
        if (nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3)
            st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        return 0;
    }
    if (st->status >= 200) /* not a 1xx block's */
        st->hd->header(st->arg, (const char *)name, nlen, (const char *)value, vlen);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    h2_conn *c = user;
    cr_h2_stream *st;

    if (frame->hd.type == NGHTTP2_GOAWAY) {
        /* streams above last_stream_id are closed as refused by nghttp2 */
        c->draining = true;
        conn_retire(c);
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        st->remote_ended = true;
    /* the final response's block (not a 1xx, not the trailers) */
    if (frame->hd.type == NGHTTP2_HEADERS && st->arg && !st->head_sent && st->status >= 200) {
        st->head_sent = true;
        st->hd->head(st->arg, st->status);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    cr_h2_stream *st = live_stream(ng, id);
    h2_conn *c = user;
    cr_err err;

    (void)flags;
    if (!st)
        return 0;
    if (!st->hd->data(st->arg, (const char *)data, len, &err)) {
        stream_done(st, &err);
        stream_reset(st);
    }
    /* the chunk is delivered; mem_recv returns before the next one */
    if (!c->closing && cr_mono_us() - c->turn_us > CR_HTTP_STREAM_BUDGET_US) {
        c->paused = true;
        return NGHTTP2_ERR_PAUSE;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    cr_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

    (void)user;
    if (!st)
        return 0;
    if (st->arg) {
        if (st->remote_ended) {
            stream_done(st, NULL);
        } else {
            char why[128];

            snprintf(why, sizeof(why), "stream reset (%s)", nghttp2_http2_strerror(code));
            stream_fail(st, code == NGHTTP2_REFUSED_STREAM ? CR_EUNAVAIL : CR_EIO, why);
        }
    }
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_free(st);
    return 0;
}

static nghttp2_session_callbacks *session_callbacks(void)
{
    nghttp2_session_callbacks *cbs;

    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* --- connection: opening ---------------------------------------------------------------- */

/* Whether host is an address (an IPv6 one without its brackets). */
static bool is_ip(const char *host)
{
    struct in6_addr a;

    return evutil_inet_pton(AF_INET, host, &a) == 1 || evutil_inet_pton(AF_INET6, host, &a) == 1;
}

static int tls_setup(h2_conn *c, const cr_http_opts *o, SSL **out, cr_err *err)
{
    static const unsigned char alpn[] = "\x02h2";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    bool ip = is_ip(c->host);
    int rc = -1;

    if (!ctx)
        return cr_error(err, CR_EINTERNAL, "TLS: cannot make a context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            cr_error(err, CR_EIO, "TLS: cannot read CA file '%s'", o->ca_file ? o->ca_file : "");
            goto out;
        }
    }
    if (o->cert_file && SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        cr_error(err, CR_EIO, "TLS: cannot read certificate '%s'", o->cert_file);
        goto out;
    }
    if (o->cert_file && SSL_CTX_use_PrivateKey_file(ctx, o->key_file ? o->key_file : o->cert_file,
                                                    SSL_FILETYPE_PEM) != 1) {
        cr_error(err, CR_EIO, "TLS: cannot read key '%s'",
                 o->key_file ? o->key_file : o->cert_file);
        goto out;
    }
    ssl = SSL_new(ctx);
    if (!ssl) {
        cr_error(err, CR_EINTERNAL, "TLS: cannot make a connection");
        goto out;
    }
    if (!ip)
        SSL_set_tlsext_host_name(ssl, c->host);
    if (!o->insecure && (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host)
                            : SSL_set1_host(ssl, c->host)) != 1) {
        cr_error(err, CR_EINVAL, "TLS: cannot check the server's name against '%s'", c->host);
        SSL_free(ssl);
        ssl = NULL;
        goto out;
    }
    *out = ssl;
    rc = 0;
out:
    SSL_CTX_free(ctx); /* ssl holds its own reference */
    return rc;
}

/* Opens a connection to the origin of u (parsed URL) for requests like o. */
static h2_conn *conn_open(cr_h2 *h, const char *key, const char *scheme, const char *host, int port,
                          const cr_http_opts *o, cr_err *err)
{
    h2_conn *c = xcalloc(1, sizeof(*c));
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
    };
    SSL *ssl = NULL;
    size_t hl = strlen(host);

    c->h = h;
    /* an IPv6 literal comes in brackets */
    c->host = hl > 1 && host[0] == '[' ? xstrndup(host + 1, hl - 2) : xstrdup(host);
    c->port = port;
    if (strcmp(scheme, "https") == 0 && tls_setup(c, o, &ssl, err) < 0) {
        free(c->host);
        free(c);
        return NULL;
    }
    nghttp2_session_client_new(&c->ng, h->callbacks, c);
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
    c->ssl = ssl;
    c->bev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, H2_READ_HIGH);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->flush_ev = event_new(h->base, -1, 0, flush_cb, c);
    c->resume_ev = evtimer_new(h->base, resume_cb, c);
    c->connect_timer = evtimer_new(h->base, connect_timeout_cb, c);
    c->ping_timer = evtimer_new(h->base, ping_timeout_cb, c);
    c->key = xstrdup(key);
    conn_link(&h->conns, c);
    {
        long ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : H2_CONNECT_TIMEOUT_MS;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

        evtimer_add(c->connect_timer, &tv); /* TCP and the TLS handshake */
    }
    /* names are resolved without blocking the loop; addresses need no DNS */
    if (!h->dns && !is_ip(c->host))
        h->dns = evdns_base_new(h->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    /* A refusal mostly arrives through event_cb once the loop runs, but
     * libevent may report one at once (no fd left, a name resolved
     * without waiting): then c is dead, and freed by the release. */
    c->depth++;
    if (bufferevent_socket_connect_hostname(c->bev, h->dns, AF_UNSPEC, c->host, port) < 0 ||
        c->dead) {
        cr_error(err, CR_EUNAVAIL, "cannot connect to %s:%d", c->host, port);
        c->dead = true;
        conn_release(c);
        return NULL;
    }
    c->depth--;
    return c;
}

/* --- public ------------------------------------------------------------------------------- */

cr_h2 *cr_h2_new(struct event_base *base)
{
    cr_h2 *h = xcalloc(1, sizeof(*h));

    h->base = base;
    h->callbacks = session_callbacks();
    return h;
}

void cr_h2_free(cr_h2 *h)
{
    if (!h)
        return;
    while (h->conns)
        conn_free(h->conns);
    while (h->old)
        conn_free(h->old);
    if (h->dns)
        evdns_base_free(h->dns, 0);
    nghttp2_session_callbacks_del(h->callbacks);
    free(h);
}

uint64_t cr_h2_pauses(const cr_h2 *h)
{
    return h->pauses;
}

/* Headers HTTP/2 forbids or sets itself (RFC 9113, 8.2.2). */
static bool hop_header(const char *name, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
        "host",       "expect"};

    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return true;
    return false;
}

static void nv_add(nghttp2_nv *nv, size_t *n, const char *name, size_t nlen, const char *value,
                   size_t vlen)
{
    nv[*n].name = (uint8_t *)(uintptr_t)name;
    nv[*n].namelen = nlen;
    nv[*n].value = (uint8_t *)(uintptr_t)value;
    nv[*n].valuelen = vlen;
    nv[*n].flags = NGHTTP2_NV_FLAG_NONE;
    (*n)++;
}

/* The request's header block: pseudo-headers, then o's headers with their
 * names lower-cased (HTTP/2 wants them so) into the strings kept in
 * `names`. Returns the count. */
static size_t request_nv(const cr_http_opts *o, const char *method, const char *scheme,
                         const char *authority, const char *path, char *bearer, char **names,
                         nghttp2_nv *nv)
{
    size_t n = 0, k = 0;

    nv_add(nv, &n, ":method", 7, method, strlen(method));
    nv_add(nv, &n, ":scheme", 7, scheme, strlen(scheme));
    nv_add(nv, &n, ":authority", 10, authority, strlen(authority));
    nv_add(nv, &n, ":path", 5, path, strlen(path));
    for (size_t i = 0; o->headers && o->headers[i]; i++) {
        const char *line = o->headers[i], *colon = strchr(line, ':'), *v;
        size_t nlen;

        if (!colon || colon == line)
            continue;
        nlen = (size_t)(colon - line);
        if (hop_header(line, nlen))
            continue;
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        names[k] = xstrndup(line, nlen);
        for (char *p = names[k]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        nv_add(nv, &n, names[k], nlen, v, strlen(v));
        k++;
    }
    if (bearer)
        nv_add(nv, &n, "authorization", 13, bearer, strlen(bearer));
    return n;
}

/* The parts of url a connection and a request need; 0 or -1 with err. */
static int parse_url(const char *url, char **scheme, char **host, char **port, char **path,
                     char **query, cr_err *err)
{
    CURLU *u = curl_url();
    int rc = -1;

    *scheme = *host = *port = *path = *query = NULL;
    if (!u)
        return cr_error(err, CR_EINTERNAL, "cannot parse URLs");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
        (strcmp(*scheme, "http") != 0 && strcmp(*scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, path, 0) != CURLUE_OK) {
        cr_error(err, CR_EINVAL, "http2 request: cannot use URL '%s'", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, query, 0) != CURLUE_OK)
        *query = NULL;
    rc = 0;
out:
    curl_url_cleanup(u);
    return rc;
}

cr_h2_stream *cr_h2_start(cr_h2 *h, const cr_http_opts *o, const cr_h2_handler *hd, void *arg,
                          cr_err *err)
{
    char *scheme, *host, *port, *path, *query;
    char *key = NULL, *authority = NULL, *fullpath = NULL, *bearer = NULL;
    const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
    nghttp2_data_provider prov, *provp = NULL;
    cr_h2_stream *st = NULL;
    size_t nh = 0, nnv;
    char **names;
    nghttp2_nv *nv;
    h2_conn *c;
    int32_t id;

    if (parse_url(o->url, &scheme, &host, &port, &path, &query, err) < 0)
        goto out;
    key = xasprintf("%s://%s:%s\n%s\n%s\n%s\n%d", scheme, host, port, o->ca_file ? o->ca_file : "",
                    o->cert_file ? o->cert_file : "", o->key_file ? o->key_file : "", o->insecure);
    for (c = h->conns; c && strcmp(c->key, key) != 0; c = c->next)
        ;
    if (c && nghttp2_session_get_next_stream_id(c->ng) > H2_LAST_STREAM_ID) {
        c->draining = true; /* closes once its streams have ended */
        conn_retire(c);
        c->depth++;
        conn_release(c); /* now, if it has none */
        c = NULL;
    }
    if (!c && !(c = conn_open(h, key, scheme, host, atoi(port), o, err)))
        goto out;
    st = xcalloc(1, sizeof(*st));
    st->c = c;
    st->hd = hd;
    st->arg = arg;
    st->method = xstrdup(method);
    st->url = xstrdup(o->url);
    st->timeout_ms = o->timeout_ms;
    if (o->body) {
        st->body = xmalloc(o->body_len ? o->body_len : 1);
        memcpy(st->body, o->body, o->body_len);
        st->body_len = o->body_len;
        prov.source.ptr = st;
        prov.read_callback = body_read_cb;
        provp = &prov;
    }

    authority = xasprintf("%s:%s", host, port);
    fullpath = query ? xasprintf("%s?%s", path, query) : xstrdup(path);
    bearer = o->bearer ? xasprintf("Bearer %s", o->bearer) : NULL;
    while (o->headers && o->headers[nh])
        nh++;
    names = xcalloc(nh + 1, sizeof(*names));
    nv = xcalloc(nh + 5, sizeof(*nv));
    nnv = request_nv(o, method, scheme, authority, fullpath, bearer, names, nv);
    id = nghttp2_submit_request(c->ng, NULL, nv, nnv, provp, st);
    for (size_t i = 0; i < nh; i++)
        free(names[i]);
    free(names);
    free(nv);
    if (id < 0) {
        cr_error(err, CR_EIO, "%s %s: %s", method, o->url, nghttp2_strerror(id));
        free(st->method);
        free(st->url);
        free(st->body);
        free(st);
        st = NULL;
        goto out;
    }
    st->id = id;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    c->nstreams++;
    if (o->timeout_ms > 0) {
        struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};

        st->timer = evtimer_new(h->base, stream_timeout_cb, st);
        evtimer_add(st->timer, &tv);
    }
    conn_kick(c);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    free(key);
    free(authority);
    free(fullpath);
    free(bearer);
    return st;
}

void cr_h2_cancel(cr_h2_stream *st)
{
    if (!st || !st->arg)
        return;
    st->arg = NULL;
    if (st->timer)
        evtimer_del(st->timer);
    stream_reset(st);
}
