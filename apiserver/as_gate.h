/* as_gate: each request's line and headers judged before evhttp reads them,
 * so that every refusal is a JSON answer of corrald's, never libevent's
 * HTML page or a reset connection.
 *
 * Why: libevent 2.1's evhttp enforces its size limits itself (a body over
 * evhttp_set_max_body_size, headers over evhttp_set_max_headers_size, a
 * malformed line) with a fixed HTML page or by dropping the connection,
 * and 2.1 offers a server no hook before a request is read whole (2.2's
 * evhttp_set_newreqcb does not exist there). What it does offer is the
 * bufferevent of each connection (evhttp_set_bevcb), and so the bytes as
 * they arrive. The gate watches them:
 *
 * - While a request's head (request line and headers) is incomplete, the
 *   front of the connection's input buffer is frozen (evbuffer_freeze), so
 *   evhttp consumes nothing of it; each arrival is judged from the start of
 *   the buffer (as_gate_judge, pure). No state is kept per connection.
 * - A head that passes is thawed and the watch ends: evhttp reads the
 *   request, whose Content-Length is then within the limit.
 * - A head that is refused (body too large, head too large, chunked body,
 *   malformed line or framing, ...) is replaced, in the buffer, by a
 *   bodiless stand-in request that carries the verdict in a header signed
 *   with a per-process random token; the bytes the client sent are
 *   dropped. evhttp hands the stand-in to corrald's handler, which answers
 *   the JSON error (as_gate_refusal) with "Connection: close".
 * - After every answer (evhttp's on-complete callback, as_gate_watch) the
 *   watch starts again for the connection's next request; after a refusal
 *   corrald instead lingers: it keeps reading and discarding what the
 *   client still sends, for a few seconds, before it closes, so that the
 *   answer is not lost to the reset a close with unread data causes.
 *
 * Lifecycle: as_gate_new() -> as_gate_attach() for each new connection's
 * bufferevent, as_gate_watch() for each request evhttp hands over ->
 * as_gate_free() after evhttp_free() (it ends the lingering connections). */
#ifndef AS_GATE_H
#define AS_GATE_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct evhttp_request;
typedef struct as_gate as_gate;

/* The largest request line and headers together (the blank line that ends
 * them included). */
#define AS_GATE_MAX_HEAD (64 * 1024)
/* Room for a refusal's message. */
#define AS_GATE_MSG_MAX 160

/* max_body: the largest Content-Length accepted (413 above it); max_head:
 * AS_GATE_MAX_HEAD or another cap for tests. Caller owns. */
as_gate *as_gate_new(struct event_base *base, size_t max_body, size_t max_head);
/* Ends the lingering connections. Call after evhttp_free(). NULL is a no-op. */
void as_gate_free(as_gate *g);

/* Watches a connection from its first byte: call from evhttp's bevcb with
 * the bufferevent it will use (created with BEV_OPT_CLOSE_ON_FREE, which
 * lets the gate linger after evhttp frees it). */
void as_gate_attach(as_gate *g, struct bufferevent *bev);

/* Sets req's on-complete callback, which watches the connection's next
 * request or, for a refusal, lingers. Call for every request evhttp hands
 * to corrald, before answering it. */
void as_gate_watch(as_gate *g, struct evhttp_request *req);

/* Whether req is the gate's stand-in for a refused request; if so fills
 * *status and msg (msg_size bytes, AS_GATE_MSG_MAX is enough). The answer
 * should close the connection. */
bool as_gate_refusal(const as_gate *g, struct evhttp_request *req, int *status, char *msg,
                     size_t msg_size);

/* ---- the judgement (pure) ---- */

typedef enum {
    AS_GATE_MORE,   /* the head is not complete yet */
    AS_GATE_SKIP,   /* empty lines before the request line: drop skip bytes, judge again */
    AS_GATE_PASS,   /* evhttp may read it */
    AS_GATE_REFUSE, /* answer status with message */
} as_gate_rc;

typedef struct as_gate_verdict {
    size_t skip;                 /* AS_GATE_SKIP: leading bytes to drop */
    size_t head_len;             /* AS_GATE_PASS: request line and headers with the blank line */
    unsigned long long body_len; /* AS_GATE_PASS: its Content-Length (0 without) */
    int status;                  /* AS_GATE_REFUSE: 400, 411, 413, 417, 431, 501 or 505 */
    char method[8];              /* AS_GATE_REFUSE: the request's method if one corrald serves,
                                  * else "GET" (the stand-in's) */
    char message[AS_GATE_MSG_MAX];
} as_gate_verdict;

/* Judges the first len bytes of a connection's input, which start where a
 * request starts; from is where to look for the end of the head (bytes
 * before it were judged incomplete already; 0 when unsure). Refuses, with
 * a message that quotes nothing the client sent but a method name:
 * - 431: no complete head within max_head bytes (or one longer);
 * - 400: a request line that is not "METHOD SP target SP HTTP/x.y", a
 *   target with control characters or spaces, a header line that is not
 *   "name: value" with a token name (a space before the colon included),
 *   control characters in a line (tabs aside), a folded line continuing
 *   nothing or Content-Length/Transfer-Encoding, a Content-Length that is
 *   not decimal digits or given twice differently, Content-Length together
 *   with Transfer-Encoding, a body on HEAD;
 * - 501: a method corrald does not serve (GET, HEAD, POST, PUT, DELETE,
 *   PATCH, OPTIONS are served) or a Transfer-Encoding but chunked;
 * - 505: an HTTP version but 1.0 and 1.1;
 * - 411: a chunked body (corrald wants a Content-Length);
 * - 417: an Expect other than 100-continue on an HTTP/1.1 request with a
 *   body;
 * - 413: a Content-Length above max_body.
 * Lines end in LF or CRLF, as evhttp reads them. */
as_gate_rc as_gate_judge(const char *data, size_t len, size_t from, size_t max_head,
                         size_t max_body, as_gate_verdict *v);

#endif
