/* loadgen: a constant-rate (open-loop) HTTP/1.1 load generator, run by
 * bench/api.py (issue 14); `loadgen --help` lists its flags.
 *
 * wrk is closed-loop: a connection sends its next request only once the
 * last one is answered, so a server that stalls for 100 ms is simply asked
 * less meanwhile, and the stall shows in one request's latency where clients
 * arriving at a steady rate would all have queued behind it ("coordinated
 * omission"). Here request i is due at t0 + i/rate whatever happened before,
 * and its latency runs from that due time to the last byte of its answer: a
 * wait for a free connection, or for this process to get the CPU, counts.
 *
 * One thread, one libevent loop with a precise timer, non-blocking sockets
 * and a small response parser (Content-Length, chunked, or until close): a
 * request costs a send, a read and a parse, and no allocation once the
 * buffers have grown. Latencies are kept one by one (8 bytes a request) and
 * sorted at the end, so the percentiles are exact.
 *
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -o loadgen bench/loadgen.c
 *        $(pkg-config --cflags --libs libevent) -lm */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define HEAD_MAX      (64 * 1024) /* an answer's status line and headers, at most */
#define READ_ROOM     (16 * 1024) /* free room asked of the input buffer before a read */
#define SCHEDULED_MAX 50000000    /* 400 MB of latencies */

static const char usage[] =
    "usage: loadgen --url http://HOST:PORT --rate R [options]\n"
    "Sends requests at a constant rate (open loop) and prints latency percentiles\n"
    "counted from each request's due time, so queueing is not hidden.\n"
    "\n"
    "  --url URL            server, http://HOST[:PORT][/PREFIX] (no TLS)\n"
    "  --rate R             requests per second (required)\n"
    "  --duration S         seconds of counted requests: R*S are scheduled (10)\n"
    "  --warmup S           seconds of requests before those, sent the same way\n"
    "                       but not counted (0)\n"
    "  --connections C      keep-alive connections, opened before the first\n"
    "                       request; a due request waits for a free one (32)\n"
    "  --path TEMPLATE      request path, each {} replaced by the request's id (/)\n"
    "  --ids FILE           ids, one a line, used in order and cycled: request k\n"
    "                       (warmup ones first) takes line k mod n\n"
    "  --body FILE          POST this body, each {} replaced by the id (default: GET)\n"
    "  --content-type T     of the body (application/json)\n"
    "  -H, --header 'N: V'  an extra request header (repeatable)\n"
    "  --timeout S          wait at most S after the last due time for answers,\n"
    "                       and as long for the connections to open (10)\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints lines for people, then one for scripts (times in ms):\n"
    "  loadgen-result scheduled N sent N answered N 2xx N non2xx N errors N\n"
    "    missing N warmup N warmup_failed N rate_asked R rate_achieved X\n"
    "    waited N send_lag_p99 L p50 A p90 B p99 C p999 D max E cpu_s T\n"
    "rate_achieved is the counted answers over the time from the first counted\n"
    "due time to the schedule's end or the last answer, whichever is later;\n"
    "waited, the counted requests that found no free connection when due;\n"
    "send_lag, from the due time to the request's send; cpu_s, loadgen's own\n"
    "CPU time (user + system).\n"
    "Exit status: 0 when every request was answered (any HTTP status), 1 on a\n"
    "socket or protocol error or a missing answer, 2 on bad usage.\n";

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fputs("loadgen: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p) {
        fputs("loadgen: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* A growable byte buffer; release with free(b->p). */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_room(buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return;
    while (b->cap - b->len < more)
        b->cap = b->cap ? 2 * b->cap : 256;
    b->p = xrealloc(b->p, b->cap);
}

static void buf_add(buf *b, const char *s, size_t n)
{
    buf_room(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_adds(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* A path or body with holes: piece[0] id piece[1] ... id piece[n-1]. */
typedef struct tmpl {
    char *text; /* owned copy; pieces point into it */
    const char **piece;
    size_t *plen;
    size_t n;
} tmpl;

static void tmpl_init(tmpl *t, const char *s, size_t len)
{
    const char *p, *end;
    size_t k = 0;

    t->text = xrealloc(NULL, len + 1);
    memcpy(t->text, s, len);
    t->text[len] = '\0';
    end = t->text + len;
    t->n = 1;
    for (p = t->text; (p = memmem(p, (size_t)(end - p), "{}", 2)); p += 2)
        t->n++;
    t->piece = xcalloc(t->n, sizeof(*t->piece));
    t->plen = xcalloc(t->n, sizeof(*t->plen));
    for (p = t->text;; k++) {
        const char *hole = memmem(p, (size_t)(end - p), "{}", 2);
        t->piece[k] = p;
        t->plen[k] = (size_t)((hole ? hole : end) - p);
        if (!hole)
            break;
        p = hole + 2;
    }
}

static size_t tmpl_len(const tmpl *t, size_t idlen)
{
    size_t n = (t->n - 1) * idlen;

    for (size_t k = 0; k < t->n; k++)
        n += t->plen[k];
    return n;
}

static void tmpl_add(buf *b, const tmpl *t, const char *id, size_t idlen)
{
    for (size_t k = 0; k < t->n; k++) {
        if (k)
            buf_add(b, id, idlen);
        buf_add(b, t->piece[k], t->plen[k]);
    }
}

static void tmpl_release(tmpl *t)
{
    free(t->text);
    free(t->piece);
    free(t->plen);
}

typedef enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY } conn_state;

/* Where the answer's parser is: the head, a body of known length, chunks,
 * or a body that ends when the server closes. */
typedef enum { P_HEAD, P_BODY, P_CHUNK_SIZE, P_CHUNK_DATA, P_TRAILER, P_UNTIL_EOF } parse_phase;

struct lg;

/* One keep-alive connection of the pool: in the free list when IDLE or
 * CLOSED (opened again by the next request it takes), out of it while a
 * request is on it (CONNECTING with req >= 0, or BUSY). */
typedef struct conn {
    struct lg *g;
    int fd;
    conn_state state;
    struct event *rev, *wev;
    int64_t req; /* the request on it, -1 when none */
    buf out;
    size_t out_sent;
    buf in;
    size_t in_pos; /* parsed up to here */
    parse_phase phase;
    int status;
    int64_t left; /* body or chunk bytes still to come */
    bool close_after;
} conn;

typedef struct lg {
    /* flags */
    const char *url, *path_arg, *ids_file, *body_file, *content_type;
    double rate, duration, warmup, timeout;
    int nconns;
    const char **headers;
    size_t nheaders;

    struct event_base *base;
    struct event *tick, *stop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    tmpl path, body;
    bool post;
    char *ids_data, **ids;
    size_t nids;
    buf fixed; /* the header lines every request carries */

    conn *conns;
    conn **freelist; /* a stack: the connection used last goes out first */
    int nfree, opening;
    bool started, fatal;

    /* Requests [0, nwarm) are warmup, [nwarm, total) counted. All below
     * due are due; all below next went out. */
    int64_t t0, nwarm, total, due, next, armed, waited_upto, finished;
    int64_t sent, answered, ok, non2xx, errors, warm_answered, waited, protocol_errors;
    int64_t *lat, *lag, nlat, nlag, last_done;
    int first_status;
    int64_t first_status_req;
    char first_error[256];
} lg;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* When request i is due: the schedule never moves, whatever the answers. */
static int64_t due_at(const lg *g, int64_t i)
{
    return g->t0 + (int64_t)((double)i * 1e9 / g->rate);
}

static struct timeval tv_of(int64_t ns)
{
    struct timeval tv = {0, 0};

    if (ns > 0) {
        tv.tv_sec = (time_t)(ns / 1000000000);
        tv.tv_usec = (suseconds_t)(ns % 1000000000 / 1000);
    }
    return tv;
}

static const char *id_of(const lg *g, int64_t i)
{
    return g->nids ? g->ids[i % (int64_t)g->nids] : "";
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        event_free(c->rev);
        event_free(c->wev);
        close(c->fd);
    }
    c->fd = -1;
    c->rev = c->wev = NULL;
    c->state = C_CLOSED;
    c->in.len = c->in_pos = 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void conn_fail(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts a non-blocking connect; on_write learns how it went. -1 (errno
 * set) when it failed at once, as it may on loopback. */
static int conn_open(conn *c)
{
    lg *g = c->g;
    int one = 1, fd = socket(g->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    /* A request is one send, but a partial one must not wait for an ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g->addr, g->addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->rev = event_new(g->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(g->base, fd, EV_WRITE, on_write, c);
    if (!c->rev || !c->wev) {
        fputs("loadgen: event_new failed\n", stderr);
        abort();
    }
    c->state = C_CONNECTING;
    event_add(c->wev, NULL);
    return 0;
}

static void finish_one(lg *g)
{
    if (++g->finished == g->total)
        event_base_loopbreak(g->base);
}

static void note_error(lg *g, int64_t req, const char *msg)
{
    if (g->first_error[0])
        return;
    if (req >= 0)
        snprintf(g->first_error, sizeof(g->first_error), "request %" PRId64 " (id '%s'): %s", req,
                 id_of(g, req), msg);
    else
        snprintf(g->first_error, sizeof(g->first_error), "%s", msg);
}

/* The connection broke or never opened: its request failed, and it goes
 * back to the pool closed (the next request opens it again). Before the
 * run has started, a connection that cannot open ends it. */
static void conn_fail(conn *c, const char *fmt, ...)
{
    lg *g = c->g;
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_close(c);
    if (!g->started) {
        note_error(g, -1, msg);
        g->fatal = true;
        event_base_loopbreak(g->base);
        return;
    }
    note_error(g, c->req, msg);
    if (c->req < 0) {
        g->protocol_errors++; /* an idle one: it is still in the free list */
        return;
    }
    if (c->req >= g->nwarm)
        g->errors++;
    c->req = -1;
    g->freelist[g->nfree++] = c;
    finish_one(g);
}

static void conn_flush(conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->wev, NULL);
            return;
        }
        if (n < 0) {
            conn_fail(c, "send: %s", strerror(errno));
            return;
        }
        c->out_sent += (size_t)n;
    }
}

/* Writes request i into c->out. */
static void format_req(conn *c, int64_t i)
{
    lg *g = c->g;
    const char *id = id_of(g, i);
    size_t idlen = strlen(id);
    char clen[48];

    c->out.len = 0;
    buf_adds(&c->out, g->post ? "POST " : "GET ");
    tmpl_add(&c->out, &g->path, id, idlen);
    buf_adds(&c->out, " HTTP/1.1\r\n");
    buf_add(&c->out, g->fixed.p, g->fixed.len);
    if (g->post) {
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n\r\n", tmpl_len(&g->body, idlen));
        buf_adds(&c->out, clen);
        tmpl_add(&c->out, &g->body, id, idlen);
    } else {
        buf_adds(&c->out, "\r\n");
    }
    c->out_sent = 0;
}

static void send_req(conn *c, int64_t i, int64_t now)
{
    lg *g = c->g;

    if (i >= g->nwarm) {
        g->sent++;
        g->lag[g->nlag++] = now - due_at(g, i);
    }
    c->req = i;
    c->phase = P_HEAD;
    format_req(c, i);
    if (c->state == C_CLOSED) {
        /* Sent once connected (on_write). */
        if (conn_open(c) < 0)
            conn_fail(c, "connect: %s", strerror(errno));
        return;
    }
    c->state = C_BUSY;
    conn_flush(c);
}

/* Sends every due request that has a free connection, oldest first; the
 * others wait for one (and the wait counts in their latency). Then arms
 * the timer for the next request to fall due. */
static void pump(lg *g)
{
    int64_t now = now_ns();

    while (g->due < g->total && due_at(g, g->due) <= now)
        g->due++;
    while (g->next < g->due && g->nfree > 0) {
        conn *c = g->freelist[--g->nfree];
        send_req(c, g->next++, now);
    }
    if (g->next < g->due && g->waited_upto < g->due) {
        int64_t from = g->next > g->waited_upto ? g->next : g->waited_upto;
        if (from < g->nwarm)
            from = g->nwarm;
        if (from < g->due)
            g->waited += g->due - from;
        g->waited_upto = g->due;
    }
    if (g->due < g->total && g->armed != g->due) {
        struct timeval tv = tv_of(due_at(g, g->due) - now);
        g->armed = g->due;
        evtimer_add(g->tick, &tv);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    lg *g = arg;

    (void)fd;
    (void)what;
    g->armed = -1;
    pump(g);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    lg *g = arg;

    (void)fd;
    (void)what;
    if (!g->started) {
        note_error(g, -1, "the connections did not open within --timeout");
        g->fatal = true;
    }
    event_base_loopbreak(g->base);
}

static void start(lg *g)
{
    struct timeval tv;

    g->started = true;
    g->t0 = now_ns();
    tv = tv_of(due_at(g, g->total - 1) - g->t0 + (int64_t)(g->timeout * 1e9));
    evtimer_add(g->stop, &tv);
    pump(g);
}

static void answer_done(conn *c)
{
    lg *g = c->g;
    int64_t i = c->req, now = now_ns();

    if (i >= g->nwarm) {
        g->answered++;
        g->lat[g->nlat++] = now - due_at(g, i);
        g->last_done = now;
        if (c->status >= 200 && c->status < 300) {
            g->ok++;
        } else {
            g->non2xx++;
            if (!g->first_status) {
                g->first_status = c->status;
                g->first_status_req = i;
            }
        }
    } else {
        g->warm_answered++;
    }
    c->req = -1;
    if (c->in_pos < c->in.len) {
        /* Bytes past the answer, with nothing asked: do not trust the rest. */
        note_error(g, i, "bytes after the answer");
        g->protocol_errors++;
        conn_close(c);
    } else if (c->close_after || c->out_sent < c->out.len) {
        conn_close(c); /* answered before it had all of the request, too */
    } else {
        c->state = C_IDLE;
    }
    g->freelist[g->nfree++] = c;
    finish_one(g);
}

static bool token_in(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);

    for (size_t k = 0; k + tl <= n; k++)
        if (strncasecmp(v + k, tok, tl) == 0)
            return true;
    return false;
}

static bool name_is(const char *s, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

/* Parses the status line and headers in [p, p+len) (len includes the last
 * header line's CRLF) and picks how the body is framed. */
static const char *parse_head(conn *c, const char *p, size_t len)
{
    const char *end = p + len, *eol = memmem(p, len, "\r\n", 2), *line;
    bool chunked = false, has_len = false;
    int64_t clen = 0;

    if (len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
        !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
        !isdigit((unsigned char)p[11]))
        return "not an HTTP/1.x status line";
    c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    c->close_after = p[7] == '0'; /* HTTP/1.0 closes unless it says keep-alive */
    for (line = eol + 2; line < end; line = eol + 2) {
        const char *colon, *v;
        size_t vlen;

        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            return "a header line without ':'";
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
            ;
        vlen = (size_t)(eol - v);
        if (name_is(line, (size_t)(colon - line), "content-length")) {
            char num[24];
            char *stop;
            if (vlen == 0 || vlen >= sizeof(num))
                return "a bad Content-Length";
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            clen = strtoll(num, &stop, 10);
            while (*stop == ' ' || *stop == '\t')
                stop++;
            if (*stop || clen < 0 || !isdigit((unsigned char)num[0]))
                return "a bad Content-Length";
            has_len = true;
        } else if (name_is(line, (size_t)(colon - line), "transfer-encoding")) {
            chunked = token_in(v, vlen, "chunked");
        } else if (name_is(line, (size_t)(colon - line), "connection")) {
            if (token_in(v, vlen, "close"))
                c->close_after = true;
            else if (token_in(v, vlen, "keep-alive"))
                c->close_after = false;
        }
    }
    if (c->status / 100 == 1) {
        c->phase = P_HEAD; /* an interim answer (none is asked for): the real one follows */
    } else if (c->status == 204 || c->status == 304) {
        c->phase = P_BODY;
        c->left = 0;
    } else if (chunked) {
        c->phase = P_CHUNK_SIZE;
    } else if (has_len) {
        c->phase = P_BODY;
        c->left = clen;
    } else {
        c->phase = P_UNTIL_EOF;
        c->close_after = true;
    }
    return NULL;
}

/* The hex size at the start of a chunk's line [p, eol), extensions ignored. */
static int chunk_size(const char *p, const char *eol, int64_t *size)
{
    const char *q = p;
    int64_t v = 0;

    for (; q < eol && isxdigit((unsigned char)*q); q++) {
        if (v > INT64_MAX / 32)
            return -1;
        v = v * 16 +
            (isdigit((unsigned char)*q) ? *q - '0' : (tolower((unsigned char)*q) - 'a' + 10));
    }
    if (q == p || (q < eol && *q != ';' && *q != ' ' && *q != '\t'))
        return -1;
    *size = v;
    return 0;
}

/* Reads c->in from in_pos as far as it goes: 1 when the answer is
 * complete, 0 when it needs more bytes, -1 when it is malformed (*err). */
static int parse(conn *c, const char **err)
{
    for (;;) {
        char *p = c->in.p + c->in_pos, *eol;
        size_t avail = c->in.len - c->in_pos, take;

        switch (c->phase) {
        case P_HEAD:
            eol = avail ? memmem(p, avail, "\r\n\r\n", 4) : NULL;
            if (!eol) {
                *err = "an answer's head over 64 KiB";
                return avail > HEAD_MAX ? -1 : 0;
            }
            if ((*err = parse_head(c, p, (size_t)(eol + 2 - p))))
                return -1;
            c->in_pos += (size_t)(eol + 4 - p);
            break;
        case P_BODY:
        case P_CHUNK_DATA:
            take = (uint64_t)c->left < avail ? (size_t)c->left : avail;
            c->in_pos += take;
            c->left -= (int64_t)take;
            if (c->left > 0)
                return 0;
            if (c->phase == P_BODY)
                return 1;
            c->phase = P_CHUNK_SIZE;
            break;
        case P_CHUNK_SIZE:
            eol = avail ? memmem(p, avail, "\r\n", 2) : NULL;
            *err = "a bad chunk size line";
            if (!eol)
                return avail > 1024 ? -1 : 0;
            if (chunk_size(p, eol, &c->left) < 0)
                return -1;
            c->in_pos += (size_t)(eol + 2 - p);
            c->phase = c->left ? P_CHUNK_DATA : P_TRAILER;
            c->left += 2; /* the data's CRLF */
            break;
        case P_TRAILER:
            eol = avail ? memmem(p, avail, "\r\n", 2) : NULL;
            if (!eol) {
                *err = "trailers over 64 KiB";
                return avail > HEAD_MAX ? -1 : 0;
            }
            c->in_pos += (size_t)(eol + 2 - p);
            if (eol == p)
                return 1;
            break;
        case P_UNTIL_EOF:
            c->in_pos = c->in.len;
            return 0;
        }
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    lg *g = c->g;
    const char *err = NULL;
    ssize_t n;
    int r;

    (void)what;
    buf_room(&c->in, READ_ROOM);
    n = recv(fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (c->state != C_BUSY) {
        /* An idle one the server let go (or reset) is opened again when
         * used; bytes with nothing asked mean it cannot be trusted. */
        if (n > 0)
            conn_fail(c, "bytes from the server with no request in flight");
        else
            conn_close(c);
        goto out;
    }
    if (n < 0) {
        conn_fail(c, "recv: %s", strerror(errno));
        goto out;
    }
    if (n == 0) {
        if (c->phase == P_UNTIL_EOF)
            answer_done(c); /* close_after is set: it closes */
        else
            conn_fail(c, "the server closed the connection before the answer's end");
        goto out;
    }
    c->in.len += (size_t)n;
    r = parse(c, &err);
    if (r < 0)
        conn_fail(c, "malformed answer: %s", err);
    else if (r > 0)
        answer_done(c);
    if (c->fd >= 0 && c->in_pos > 0) {
        memmove(c->in.p, c->in.p + c->in_pos, c->in.len - c->in_pos);
        c->in.len -= c->in_pos;
        c->in_pos = 0;
    }
out:
    if (g->started)
        pump(g);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    lg *g = c->g;

    (void)what;
    if (c->state == C_CONNECTING) {
        int e = 0;
        socklen_t elen = sizeof(e);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
            e = errno;
        if (e) {
            conn_fail(c, "connect: %s", strerror(e));
            goto out;
        }
        event_add(c->rev, NULL);
        if (c->req < 0) { /* one of the pool, opened before the run */
            c->state = C_IDLE;
            g->freelist[g->nfree++] = c;
            if (--g->opening == 0)
                start(g);
            return;
        }
        c->state = C_BUSY;
    }
    conn_flush(c);
out:
    if (g->started)
        pump(g);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest rank of sorted v, in ms. */
static double pct_ms(const int64_t *v, int64_t n, double p)
{
    int64_t k;

    if (n == 0)
        return 0;
    k = (int64_t)ceil(p * (double)n) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return (double)v[k] / 1e6;
}

static void report(lg *g)
{
    int64_t counted = g->total - g->nwarm;
    int64_t missing = counted - g->answered - g->errors;
    int64_t warm_failed = g->nwarm - g->warm_answered;
    /* From the first counted due time to the schedule's end, or to the
     * last answer when that came later. */
    int64_t end = g->last_done > due_at(g, g->total) ? g->last_done : due_at(g, g->total);
    double span = (double)(end - due_at(g, g->nwarm)) / 1e9;
    double achieved = g->answered && span > 0 ? (double)g->answered / span : 0;
    double p50, p90, p99, p999, max, lag99, cpu;
    struct rusage ru;

    qsort(g->lat, (size_t)g->nlat, sizeof(*g->lat), cmp_i64);
    qsort(g->lag, (size_t)g->nlag, sizeof(*g->lag), cmp_i64);
    p50 = pct_ms(g->lat, g->nlat, 0.50);
    p90 = pct_ms(g->lat, g->nlat, 0.90);
    p99 = pct_ms(g->lat, g->nlat, 0.99);
    p999 = pct_ms(g->lat, g->nlat, 0.999);
    max = pct_ms(g->lat, g->nlat, 1.0);
    lag99 = pct_ms(g->lag, g->nlag, 0.99);
    /* Its own CPU: on a shared machine, whether it could have kept up. */
    getrusage(RUSAGE_SELF, &ru);
    cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("loadgen: %s %s at %g/s for %g s (after %g s of warmup), %d connections to %s: "
           "%" PRId64 " of %" PRId64 " answered (%" PRId64 " 2xx, %" PRId64 " other), %" PRId64
           " errors, %" PRId64 " missing; %.1f answers/s; from the due time: p50 %.3f p90 %.3f "
           "p99 %.3f p99.9 %.3f max %.3f ms; %" PRId64
           " waited for a connection, send lag p99 %.3f ms; %.2f s of CPU\n",
           g->post ? "POST" : "GET", g->path.text, g->rate, g->duration, g->warmup, g->nconns,
           g->url, g->answered, counted, g->ok, g->non2xx, g->errors + g->protocol_errors, missing,
           achieved, p50, p90, p99, p999, max, g->waited, lag99, cpu);
    if (g->first_status)
        printf("loadgen: first non-2xx: %d to request %" PRId64 " (id '%s')\n", g->first_status,
               g->first_status_req, id_of(g, g->first_status_req));
    if (warm_failed)
        printf("loadgen: %" PRId64 " of %" PRId64 " warmup requests not answered\n", warm_failed,
               g->nwarm);
    if (g->first_error[0])
        printf("loadgen: first error: %s\n", g->first_error);
    printf("loadgen-result scheduled %" PRId64 " sent %" PRId64 " answered %" PRId64 " 2xx %" PRId64
           " non2xx %" PRId64 " errors %" PRId64 " missing %" PRId64 " warmup %" PRId64
           " warmup_failed %" PRId64 " rate_asked %g rate_achieved %.1f"
           " waited %" PRId64 " send_lag_p99 %.3f p50 %.3f p90 %.3f p99 %.3f p999 %.3f"
           " max %.3f cpu_s %.2f\n",
           counted, g->sent, g->answered, g->ok, g->non2xx, g->errors + g->protocol_errors, missing,
           g->nwarm, warm_failed, g->rate, achieved, g->waited, lag99, p50, p90, p99, p999, max,
           cpu);
    fflush(stdout);
}

/* ---- set-up ---------------------------------------------------------------------- */

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
    va_list ap;

    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (loadgen --help)\n", stderr);
    return -1;
}

static int num(const char *flag, const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(*out))
        return bad("%s: not a number: '%s'", flag, s);
    return 0;
}

/* Reads a whole file; the caller owns *out (NUL-terminated). */
static int slurp(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    buf b = {0};
    size_t n;

    if (!f)
        return bad("cannot open '%s': %s", path, strerror(errno));
    do {
        buf_room(&b, 4096);
        n = fread(b.p + b.len, 1, b.cap - b.len - 1, f);
        b.len += n;
    } while (n > 0);
    if (ferror(f)) {
        fclose(f);
        free(b.p);
        return bad("cannot read '%s'", path);
    }
    fclose(f);
    b.p[b.len] = '\0';
    *out = b.p;
    *len = b.len;
    return 0;
}

static int load_ids(lg *g)
{
    size_t len, cap = 0;
    char *line, *save = NULL;

    if (slurp(g->ids_file, &g->ids_data, &len) < 0)
        return -1;
    for (line = strtok_r(g->ids_data, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        if (g->nids == cap) {
            cap = cap ? 2 * cap : 1024;
            g->ids = xrealloc(g->ids, cap * sizeof(*g->ids));
        }
        g->ids[g->nids++] = line;
    }
    if (!g->nids)
        return bad("--ids '%s': no ids in it", g->ids_file);
    return 0;
}

/* http://HOST[:PORT][/PREFIX]: resolves HOST, keeps HOST[:PORT] for the
 * Host header and PREFIX to put before the path. */
static int parse_url(lg *g, buf *prefix)
{
    const char *u = g->url, *auth, *slash, *colon;
    char host[256], port[16] = "80";
    size_t alen;
    struct addrinfo hints = {0}, *ai = NULL;
    int e;

    if (strncmp(u, "http://", 7) != 0)
        return bad("--url: only http://HOST[:PORT] URLs: '%s'", u);
    auth = u + 7;
    slash = strchr(auth, '/');
    alen = slash ? (size_t)(slash - auth) : strlen(auth);
    if (alen == 0 || alen >= sizeof(host))
        return bad("--url: no host in '%s'", u);
    memcpy(host, auth, alen);
    host[alen] = '\0';
    buf_adds(&g->fixed, "Host: ");
    buf_adds(&g->fixed, host);
    buf_adds(&g->fixed, "\r\n");
    colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
            return bad("--url: bad port in '%s'", u);
        strcpy(port, colon + 1);
        host[colon - host] = '\0';
    }
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (slash) {
        size_t plen = strlen(slash);
        while (plen > 0 && slash[plen - 1] == '/')
            plen--;
        buf_add(prefix, slash, plen);
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((e = getaddrinfo(host, port, &hints, &ai)) != 0)
        return bad("--url: cannot resolve '%s': %s", host, gai_strerror(e));
    memcpy(&g->addr, ai->ai_addr, ai->ai_addrlen);
    g->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

enum {
    OPT_URL = 256,
    OPT_RATE,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_CONNS,
    OPT_PATH,
    OPT_IDS,
    OPT_BODY,
    OPT_CTYPE,
    OPT_TIMEOUT
};

/* 0 to run, 1 after --help, -1 on bad usage (said on stderr). */
static int parse_args(lg *g, int argc, char **argv)
{
    static const struct option longs[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"connections", required_argument, NULL, OPT_CONNS},
        {"path", required_argument, NULL, OPT_PATH},
        {"ids", required_argument, NULL, OPT_IDS},
        {"body", required_argument, NULL, OPT_BODY},
        {"content-type", required_argument, NULL, OPT_CTYPE},
        {"header", required_argument, NULL, 'H'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double conns = 32;
    int o;

    g->duration = 10;
    g->timeout = 10;
    g->path_arg = "/";
    g->content_type = "application/json";
    g->headers = xcalloc((size_t)argc, sizeof(*g->headers));
    while ((o = getopt_long(argc, argv, "hH:", longs, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_URL:
            g->url = optarg;
            break;
        case OPT_RATE:
            r = num("--rate", optarg, &g->rate);
            break;
        case OPT_DURATION:
            r = num("--duration", optarg, &g->duration);
            break;
        case OPT_WARMUP:
            r = num("--warmup", optarg, &g->warmup);
            break;
        case OPT_CONNS:
            r = num("--connections", optarg, &conns);
            break;
        case OPT_PATH:
            g->path_arg = optarg;
            break;
        case OPT_IDS:
            g->ids_file = optarg;
            break;
        case OPT_BODY:
            g->body_file = optarg;
            break;
        case OPT_CTYPE:
            g->content_type = optarg;
            break;
        case OPT_TIMEOUT:
            r = num("--timeout", optarg, &g->timeout);
            break;
        case 'H':
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                return bad("-H: 'Name: value' on one line: '%s'", optarg);
            g->headers[g->nheaders++] = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            return bad("unknown flag");
        }
        if (r < 0)
            return -1;
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    if (!g->url)
        return bad("--url is required");
    if (!(g->rate > 0))
        return bad("--rate: a number of requests per second above 0 is required");
    if (!(g->duration > 0) || !(g->warmup >= 0) || !(g->timeout > 0))
        return bad("--duration and --timeout must be above 0, --warmup at least 0");
    if (conns < 1 || conns > 10000 || conns != floor(conns))
        return bad("--connections: a whole number from 1 to 10000");
    g->nconns = (int)conns;
    if (g->path_arg[0] != '/')
        return bad("--path must start with '/'");
    if (g->rate * g->duration < 0.5 || g->rate * (g->duration + g->warmup) > SCHEDULED_MAX)
        return bad("--rate x (--duration + --warmup): from 1 to %d requests", SCHEDULED_MAX);
    g->nwarm = llround(g->rate * g->warmup);
    g->total = g->nwarm + llround(g->rate * g->duration);
    return 0;
}

/* Everything but the connections, from the flags. */
static int setup(lg *g)
{
    buf path = {0};
    struct event_config *cfg;

    if (parse_url(g, &path) < 0) {
        free(path.p);
        return -1;
    }
    buf_adds(&path, g->path_arg);
    tmpl_init(&g->path, path.p, path.len);
    free(path.p);
    if (g->body_file) {
        char *text;
        size_t len;
        if (slurp(g->body_file, &text, &len) < 0)
            return -1;
        tmpl_init(&g->body, text, len);
        free(text);
        g->post = true;
        buf_adds(&g->fixed, "Content-Type: ");
        buf_adds(&g->fixed, g->content_type);
        buf_adds(&g->fixed, "\r\n");
    }
    for (size_t k = 0; k < g->nheaders; k++) {
        buf_adds(&g->fixed, g->headers[k]);
        buf_adds(&g->fixed, "\r\n");
    }
    if (g->ids_file && load_ids(g) < 0)
        return -1;
    if (!g->ids_file && (g->path.n > 1 || (g->post && g->body.n > 1)))
        return bad("the path or body has {} but no --ids were given");

    /* Precise: without it, epoll's timeout is in ms, and requests due
     * 100 us apart would leave in bursts. */
    cfg = event_config_new();
    if (!cfg)
        return bad("event_config_new failed");
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    g->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!g->base)
        return bad("event_base_new failed");
    g->tick = evtimer_new(g->base, on_tick, g);
    g->stop = evtimer_new(g->base, on_stop, g);
    if (!g->tick || !g->stop)
        return bad("evtimer_new failed");
    g->armed = -1;
    g->lat = xcalloc((size_t)(g->total - g->nwarm), sizeof(*g->lat));
    g->lag = xcalloc((size_t)(g->total - g->nwarm), sizeof(*g->lag));
    g->conns = xcalloc((size_t)g->nconns, sizeof(*g->conns));
    g->freelist = xcalloc((size_t)g->nconns, sizeof(*g->freelist));
    for (int k = 0; k < g->nconns; k++) {
        g->conns[k].g = g;
        g->conns[k].fd = -1;
        g->conns[k].req = -1;
    }
    return 0;
}

/* Opens the pool; the run starts once every connection is up (on_write). */
static int open_pool(lg *g)
{
    struct timeval tv = tv_of((int64_t)(g->timeout * 1e9));

    evtimer_add(g->stop, &tv);
    g->opening = g->nconns;
    for (int k = 0; k < g->nconns; k++)
        if (conn_open(&g->conns[k]) < 0) {
            fprintf(stderr, "loadgen: cannot connect to %s: %s\n", g->url, strerror(errno));
            return -1;
        }
    return 0;
}

static void release(lg *g)
{
    for (int k = 0; g->conns && k < g->nconns; k++) {
        conn_close(&g->conns[k]);
        free(g->conns[k].out.p);
        free(g->conns[k].in.p);
    }
    free(g->conns);
    free(g->freelist);
    if (g->tick)
        event_free(g->tick);
    if (g->stop)
        event_free(g->stop);
    if (g->base)
        event_base_free(g->base);
    tmpl_release(&g->path);
    tmpl_release(&g->body);
    free(g->fixed.p);
    free(g->ids);
    free(g->ids_data);
    free(g->headers);
    free(g->lat);
    free(g->lag);
}

int main(int argc, char **argv)
{
    lg g = {0};
    int rc = 2, r = parse_args(&g, argc, argv);

    if (r != 0) {
        rc = r > 0 ? 0 : 2;
        goto out;
    }
    if (setup(&g) < 0)
        goto out;
    rc = 1;
    if (open_pool(&g) < 0)
        goto out;
    event_base_dispatch(g.base);
    if (g.fatal) {
        fprintf(stderr, "loadgen: cannot connect to %s: %s\n", g.url, g.first_error);
        goto out;
    }
    report(&g);
    if (g.answered == g.total - g.nwarm && g.warm_answered == g.nwarm && !g.protocol_errors)
        rc = 0;
out:
    release(&g);
    return rc;
}
