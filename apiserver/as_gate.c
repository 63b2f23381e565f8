#include "apiserver/as_gate.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base/xalloc.h"

/* The stand-in request's verdict: "<token> <status> <message>". */
#define GATE_HEADER "X-Corral-Gate"
/* After a refusal corrald reads and drops what the client still sends for
 * at most LINGER_MS, or until LINGER_IDLE_MS pass without a byte, or
 * LINGER_BYTES were dropped, whichever comes first; then it closes. */
#define LINGER_MS      5000
#define LINGER_IDLE_MS 2000
#define LINGER_BYTES   ((size_t)256 * 1024 * 1024)

/* ---- the judgement ------------------------------------------------------------- */

static const char *const served[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

__attribute__((format(printf, 3, 4))) static as_gate_rc refuse(as_gate_verdict *v, int status,
                                                               const char *fmt, ...)
{
    va_list ap;

    v->status = status;
    if (!v->method[0])
        snprintf(v->method, sizeof(v->method), "GET");
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return AS_GATE_REFUSE;
}

/* RFC 9110's tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool has_ctl(const char *s, size_t l)
{
    for (size_t i = 0; i < l; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return true;
    return false;
}

static bool name_is(const char *s, size_t l, const char *name)
{
    return strlen(name) == l && strncasecmp(s, name, l) == 0;
}

/* The line at data[at] (before its LF, without a CR before that); *next is
 * where the following line starts. */
static size_t line_at(const char *data, size_t end, size_t at, size_t *next)
{
    const char *nl = memchr(data + at, '\n', end - at);
    size_t l = (size_t)(nl - (data + at));

    *next = at + l + 1;
    if (l > 0 && data[at + l - 1] == '\r')
        l--;
    return l;
}

static as_gate_rc judge_request_line(const char *s, size_t l, as_gate_verdict *v, bool *http11,
                                     bool *head)
{
    const char *sp1 = memchr(s, ' ', l), *sp2, *ver;
    size_t ml, vl;

    if (has_ctl(s, l) || memchr(s, '\t', l))
        return refuse(v, 400, "malformed request line: control characters");
    sp2 = sp1 ? memchr(sp1 + 1, ' ', l - (size_t)(sp1 + 1 - s)) : NULL;
    if (!sp1 || !sp2 || sp1 == s || sp2 == sp1 + 1 || sp2 + 1 == s + l ||
        memchr(sp2 + 1, ' ', l - (size_t)(sp2 + 1 - s)))
        return refuse(v, 400, "malformed request line: want METHOD target HTTP/1.1");
    ml = (size_t)(sp1 - s);
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
        if (strlen(served[i]) == ml && memcmp(served[i], s, ml) == 0)
            snprintf(v->method, sizeof(v->method), "%s", served[i]);
    if (!v->method[0]) {
        bool word = ml <= 16;
        for (size_t i = 0; i < ml && word; i++)
            word = s[i] >= 'A' && s[i] <= 'Z';
        if (word)
            return refuse(v, 501, "method %.*s is not implemented", (int)ml, s);
        return refuse(v, 501, "method not implemented");
    }
    ver = sp2 + 1;
    vl = (size_t)(s + l - ver);
    if (vl == 8 && memcmp(ver, "HTTP/1.1", 8) == 0)
        *http11 = true;
    else if (!(vl == 8 && memcmp(ver, "HTTP/1.0", 8) == 0))
        return vl > 5 && memcmp(ver, "HTTP/", 5) == 0
                   ? refuse(v, 505, "HTTP version not supported: use HTTP/1.1")
                   : refuse(v, 400, "malformed request line: want METHOD target HTTP/1.1");
    *head = strcmp(v->method, "HEAD") == 0;
    return AS_GATE_PASS;
}

as_gate_rc as_gate_judge(const char *data, size_t len, size_t from, size_t max_head,
                         size_t max_body, as_gate_verdict *v)
{
    size_t lim = len < max_head ? len : max_head, end = 0, at, next, l;
    bool http11 = false, head = false, have_cl = false, have_te = false, te_chunked = true;
    bool folded_ok = false;
    unsigned long long cl = 0;
    const char *expect = NULL;
    size_t expect_len = 0;
    as_gate_rc rc;

    memset(v, 0, sizeof(*v));
    /* Empty lines before a request line are dropped (RFC 9112 2.2). */
    for (at = 0; at < len;) {
        if (data[at] == '\n')
            at++;
        else if (data[at] == '\r' && at + 1 < len && data[at + 1] == '\n')
            at += 2;
        else if (data[at] == '\r' && at + 1 == len)
            return at ? (v->skip = at, AS_GATE_SKIP) : AS_GATE_MORE;
        else
            break;
    }
    if (at) {
        v->skip = at;
        return AS_GATE_SKIP;
    }
    /* The head ends with an empty line: LF, or CRLF, right after an LF. */
    for (size_t k = from > 0 ? from - 1 : 0; k < lim && !end; k++)
        if (data[k] == '\n' && k > 0 &&
            (data[k - 1] == '\n' || (k > 1 && data[k - 1] == '\r' && data[k - 2] == '\n')))
            end = k + 1;
    if (!end) {
        if (len >= max_head)
            return refuse(v, 431, "request line and headers are larger than %zu bytes", max_head);
        return AS_GATE_MORE;
    }

    l = line_at(data, end, 0, &next);
    if ((rc = judge_request_line(data, l, v, &http11, &head)) != AS_GATE_PASS)
        return rc;
    for (at = next; at < end; at = next) {
        const char *s = data + at, *colon, *val;
        size_t vlen;

        l = line_at(data, end, at, &next);
        if (l == 0)
            break; /* the blank line */
        if (has_ctl(s, l))
            return refuse(v, 400, "malformed header line: control characters");
        if (s[0] == ' ' || s[0] == '\t') {
            /* obsolete line folding: evhttp appends it to the header before */
            if (!folded_ok)
                return refuse(v, 400,
                              "malformed header line: a folded line continues no "
                              "header, or Content-Length, Transfer-Encoding or Expect");
            continue;
        }
        colon = memchr(s, ':', l);
        if (!colon || colon == s)
            return refuse(v, 400, "malformed header line: want name: value");
        for (const char *c = s; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return refuse(v, 400, "malformed header name (no spaces before the colon)");
        val = colon + 1;
        vlen = l - (size_t)(val - s);
        while (vlen && (*val == ' ' || *val == '\t'))
            val++, vlen--;
        while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
            vlen--;
        folded_ok = true;
        if (name_is(s, (size_t)(colon - s), "Content-Length")) {
            unsigned long long n = 0;
            folded_ok = false;
            if (vlen == 0)
                return refuse(v, 400, "malformed Content-Length");
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return refuse(v, 400, "malformed Content-Length");
                if (n > (~0ULL - 9) / 10)
                    return refuse(v, 413, "request body too large (limit %zu)", max_body);
                n = n * 10 + (unsigned long long)(val[i] - '0');
            }
            if (have_cl && n != cl)
                return refuse(v, 400, "conflicting Content-Length headers");
            have_cl = true;
            cl = n;
        } else if (name_is(s, (size_t)(colon - s), "Transfer-Encoding")) {
            folded_ok = false;
            have_te = true;
            if (!(vlen == 7 && strncasecmp(val, "chunked", 7) == 0))
                te_chunked = false;
        } else if (name_is(s, (size_t)(colon - s), "Expect")) {
            folded_ok = false;
            if (!expect) {
                expect = val;
                expect_len = vlen;
            }
        }
    }
    if (have_te && have_cl)
        return refuse(v, 400, "both Content-Length and Transfer-Encoding");
    if (have_te)
        return te_chunked ? refuse(v, 411,
                                   "chunked request bodies are not accepted: send a "
                                   "Content-Length")
                          : refuse(v, 501,
                                   "Transfer-Encoding other than chunked is not "
                                   "supported");
    if (head && cl > 0)
        return refuse(v, 400, "a HEAD request has no body");
    if (cl > max_body)
        return refuse(v, 413, "request body too large: %llu bytes (limit %zu)", cl, max_body);
    if (http11 && cl > 0 && expect &&
        !(expect_len == 12 && strncasecmp(expect, "100-continue", 12) == 0))
        return refuse(v, 417, "Expect: only 100-continue is supported");
    v->head_len = end;
    v->body_len = cl;
    return AS_GATE_PASS;
}

/* ---- connections ------------------------------------------------------------ */

typedef struct lingerer {
    as_gate *g;
    struct bufferevent *bev; /* one reference is ours */
    struct event *timer;     /* first the start, then the deadline */
    bool started;
    size_t dropped;
    struct lingerer *prev, *next;
} lingerer;

struct as_gate {
    struct event_base *base;
    size_t max_body, max_head;
    char token[33]; /* hex; signs the stand-in requests' verdicts */
    lingerer *lingering;
};

as_gate *as_gate_new(struct event_base *base, size_t max_body, size_t max_head)
{
    as_gate *g = xcalloc(1, sizeof(*g));
    unsigned char r[16];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        abort();
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(g->token + 2 * i, 3, "%02x", r[i]);
    g->base = base;
    g->max_body = max_body;
    g->max_head = max_head ? max_head : AS_GATE_MAX_HEAD;
    return g;
}

/* Ends l; started: the bufferevent is ours alone (else evhttp still
 * uses it and only our reference goes). */
static void linger_end(lingerer *l)
{
    as_gate *g = l->g;

    if (l->prev)
        l->prev->next = l->next;
    else
        g->lingering = l->next;
    if (l->next)
        l->next->prev = l->prev;
    event_free(l->timer);
    if (l->started) {
        bufferevent_setcb(l->bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(l->bev, EV_READ | EV_WRITE);
    }
    bufferevent_decref(l->bev); /* started: the last reference, the socket closes */
    free(l);
}

void as_gate_free(as_gate *g)
{
    if (!g)
        return;
    while (g->lingering)
        linger_end(g->lingering);
    free(g);
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg);

/* Drops the watch; evhttp may read on. */
static void thaw(as_gate *g, struct evbuffer *in)
{
    evbuffer_remove_cb(in, on_input, g);
    evbuffer_unfreeze(in, 1);
}

/* Puts the stand-in for a refused request where it was. evhttp has read
 * nothing of it (the buffer's front was frozen), so it reads the stand-in
 * as the connection's next request. */
static void stand_in(as_gate *g, struct evbuffer *in, const as_gate_verdict *v)
{
    char req[128 + sizeof(g->token) + AS_GATE_MSG_MAX];
    int n = snprintf(req, sizeof(req),
                     "%s / HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n" GATE_HEADER
                     ": %s %d %s\r\n\r\n",
                     v->method, g->token, v->status, v->message);

    if (n < 0 || (size_t)n >= sizeof(req))
        abort(); /* cannot be: the parts are bounded */
    thaw(g, in);
    evbuffer_drain(in, evbuffer_get_length(in));
    /* A socket bufferevent keeps its input's end frozen but while it reads
     * (the gate judges arrivals then, and the next request after an
     * answer, when it is frozen): thawed for this, then frozen again. */
    if (evbuffer_add(in, req, (size_t)n) < 0) {
        evbuffer_unfreeze(in, 0);
        evbuffer_add(in, req, (size_t)n);
        evbuffer_freeze(in, 0);
    }
}

/* Judges what the frozen buffer holds; from: see as_gate_judge. */
static void judge_input(as_gate *g, struct evbuffer *in, size_t from)
{
    for (;;) {
        size_t len = evbuffer_get_length(in), n = len < g->max_head ? len : g->max_head;
        as_gate_verdict v;
        const char *p;

        if (n == 0)
            return;
        if (!(p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n)))
            abort(); /* out of memory */
        switch (as_gate_judge(p, n, from, g->max_head, g->max_body, &v)) {
        case AS_GATE_MORE:
            return;
        case AS_GATE_SKIP:
            evbuffer_unfreeze(in, 1);
            evbuffer_drain(in, v.skip);
            evbuffer_freeze(in, 1);
            from = 0;
            continue;
        case AS_GATE_PASS:
            thaw(g, in);
            return;
        case AS_GATE_REFUSE:
            stand_in(g, in, &v);
            return;
        }
    }
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    /* Drains (ours) move nothing in: only arrivals need a judgement. */
    if (info->n_added == 0)
        return;
    judge_input(arg, in, info->n_deleted ? 0 : info->orig_size);
}

/* Starts watching the connection's next request (its first bytes may be
 * there already: a client may send requests one after another). */
static void arm(as_gate *g, struct bufferevent *bev)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    evbuffer_remove_cb(in, on_input, g); /* never twice */
    evbuffer_freeze(in, 1);
    if (!evbuffer_add_cb(in, on_input, g))
        abort();
    judge_input(g, in, 0);
}

void as_gate_attach(as_gate *g, struct bufferevent *bev)
{
    arm(g, bev);
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    lingerer *l = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    evbuffer_drain(in, n);
    l->dropped += n;
    if (l->dropped >= LINGER_BYTES)
        linger_end(l);
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    linger_end(arg); /* EOF, an error, or LINGER_IDLE_MS without a byte */
}

static void linger_tick(evutil_socket_t fd, short what, void *arg)
{
    lingerer *l = arg;
    bufferevent_data_cb rcb = NULL;
    bufferevent_event_cb ecb = NULL;
    struct timeval idle = {LINGER_IDLE_MS / 1000, (LINGER_IDLE_MS % 1000) * 1000};
    struct timeval total = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};

    if (l->started) {
        linger_end(l); /* LINGER_MS have passed */
        return;
    }
    /* evhttp freed the connection after the answer (it closed: the stand-in
     * says "Connection: close"), which cleared its callbacks and sent the
     * FIN; the bufferevent lives on by our reference. */
    bufferevent_getcb(l->bev, &rcb, NULL, &ecb, NULL);
    if (rcb || ecb) {
        linger_end(l); /* evhttp kept it: not ours to read or close */
        return;
    }
    l->started = true;
    bufferevent_setcb(l->bev, linger_read, NULL, linger_event, l);
    bufferevent_set_timeouts(l->bev, &idle, NULL);
    evtimer_add(l->timer, &total);
    bufferevent_enable(l->bev, EV_READ);
    linger_read(l->bev, l); /* may end it: nothing after this */
}

static void linger_begin(as_gate *g, struct bufferevent *bev)
{
    lingerer *l = xcalloc(1, sizeof(*l));
    struct timeval now = {0, 0};

    l->g = g;
    l->bev = bev;
    bufferevent_incref(bev);
    l->timer = evtimer_new(g->base, linger_tick, l);
    if (!l->timer)
        abort();
    l->next = g->lingering;
    if (g->lingering)
        g->lingering->prev = l;
    g->lingering = l;
    /* evhttp frees the connection once this callback returns */
    evtimer_add(l->timer, &now);
}

static bool verdict_of(const as_gate *g, struct evhttp_request *req, int *status, char *msg,
                       size_t msg_size)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), GATE_HEADER);
    size_t tl = strlen(g->token);
    char *end;
    long st;

    if (!h || strncmp(h, g->token, tl) != 0 || h[tl] != ' ')
        return false;
    st = strtol(h + tl + 1, &end, 10);
    if (st < 400 || st > 599 || *end != ' ')
        return false;
    if (status)
        *status = (int)st;
    if (msg)
        snprintf(msg, msg_size, "%s", end + 1);
    return true;
}

bool as_gate_refusal(const as_gate *g, struct evhttp_request *req, int *status, char *msg,
                     size_t msg_size)
{
    return verdict_of(g, req, status, msg, msg_size);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    as_gate *g = arg;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

    if (!bev)
        return;
    if (verdict_of(g, req, NULL, NULL, 0))
        linger_begin(g, bev);
    else
        arm(g, bev);
}

void as_gate_watch(as_gate *g, struct evhttp_request *req)
{
    evhttp_request_set_on_complete_cb(req, on_complete, g);
}
