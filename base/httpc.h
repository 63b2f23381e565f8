/* cr_http: an asynchronous HTTP client (1.1; 2 on request) driven by the process's libevent
 * loop: libcurl's multi-socket interface for HTTP/1.1, libnghttp2 for HTTP/2. One cr_http per
 * process, owned by the app struct; any number of requests in flight, connections reused per host.
 *
 * Lifecycle: cr_http_new(base) -> cr_http_start()... -> cr_http_free() (which
 * cancels whatever is still in flight without calling callbacks). The event
 * base must outlive the cr_http.
 *
 * Request lifecycle: cr_http_start() -> [on_head] -> [on_data]* -> on_done,
 * exactly once, unless the start fails (no callback ever fires then) or the
 * request is cancelled (no callback fires after cr_http_cancel()). The
 * cr_http_req handle is valid until on_done returns or cr_http_cancel() is
 * called; do not touch it afterwards.
 *
 * Callbacks run on the loop and must not block. From any callback you may
 * start new requests and cancel any request (including the current one);
 * only cr_http_free() is forbidden inside a callback.
 *
 * Usage, buffered:
 *
 *     static void done(cr_http_req *r, const cr_http_resp *resp,
 *                      const cr_err *err, void *arg)
 *     {
 *         if (err)            // transport failure: refused, timeout, ...
 *             ...err->code is CR_EUNAVAIL / CR_ETIMEOUT / CR_EIO / CR_ETOOLARGE
 *         else if (resp->status >= 400)   // HTTP error, body available
 *             ...
 *         else
 *             use(resp->body, resp->body_len, cr_http_resp_header(resp, "ETag"));
 *     }
 *     cr_http_opts o = { .method = "POST", .url = url, .body = json,
 *                        .body_len = strlen(json), .timeout_ms = 5000,
 *                        .on_done = done, .arg = me };
 *     const char *hdrs[] = { "Content-Type: application/json", NULL };
 *     o.headers = hdrs;
 *     if (!cr_http_start(app->http, &o, &err)) ...   // done never fires
 *
 * Streaming (long-lived, e.g. a watch or a Mesos subscription): set
 * .timeout_ms = 0, .on_head (status and headers before any body byte) and
 * .on_data (each chunk as it arrives; the body is then not buffered).
 *
 * A stream's chunks are delivered for at most CR_HTTP_STREAM_BUDGET_US of
 * one loop turn; the rest follows on the next turns (curl holds it), so a
 * burst on a watch or subscription stream never holds the loop long. */
#ifndef CR_HTTPC_H
#define CR_HTTPC_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "base/err.h"

struct event_base;

typedef struct cr_http cr_http;
typedef struct cr_http_req cr_http_req;

typedef struct cr_http_header {
    char *name;  /* as received, without the trailing colon */
    char *value; /* leading and trailing whitespace removed */
} cr_http_header;

/* A response as seen by the callbacks; borrowed, valid only during the call. */
typedef struct cr_http_resp {
    long status;      /* 0 when no response arrived */
    const char *body; /* buffered mode: NUL-terminated; else "" */
    size_t body_len;
    const cr_http_header *headers; /* of the final response (after redirects) */
    size_t nheaders;
    const char *effective_url; /* the URL last requested (after redirects) */
} cr_http_resp;

/* Called once, before the first body byte (or before on_done when there is
 * no body), with status and headers. */
typedef void (*cr_http_head_cb)(cr_http_req *r, const cr_http_resp *resp, void *arg);
/* Called for every chunk of body in streaming mode. data is borrowed. */
/* Time one loop turn may spend delivering stream chunks (10 ms). */
#define CR_HTTP_STREAM_BUDGET_US 10000
/* TCP keepalive of every connection (HTTP/1.1 and 2): a stream idle for
 * long notices a dead peer within about half a minute. */
#define CR_HTTP_KEEPIDLE_S  15
#define CR_HTTP_KEEPINTVL_S 5

typedef void (*cr_http_data_cb)(cr_http_req *r, const char *data, size_t len, void *arg);
/* Called once at the end. err is NULL when an HTTP response was received
 * completely (whatever its status: check resp->status); otherwise err says
 * why: CR_EUNAVAIL (connection refused, host unresolvable: nothing was
 * sent), CR_ETIMEOUT (connect or total timeout), CR_ETOOLARGE (body above
 * max_body), CR_EIO (connection broken mid-way, TLS failure, other). resp is
 * never NULL; on error its status is whatever arrived (possibly 0). */
typedef void (*cr_http_done_cb)(cr_http_req *r, const cr_http_resp *resp, const cr_err *err,
                                void *arg);

typedef struct cr_http_opts {
    const char *method;         /* NULL: "GET", or "POST" when body is set */
    const char *url;            /* required */
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const void *body;           /* copied at start; NULL for none */
    size_t body_len;
    long timeout_ms;         /* whole transfer; 0 = none (streams) */
    long connect_timeout_ms; /* 0 = libcurl's default (300 s) */
    /* TLS: all optional. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    bool insecure; /* skip peer and host verification */
    /* Auth: a convenience; a raw "Authorization: ..." in headers also works. */
    const char *bearer;      /* sends "Authorization: Bearer <bearer>" */
    const char *userpwd;     /* "user:password" for Basic auth */
    /* HTTP/2 (base/h2.c, libnghttp2): with prior knowledge on http://
     * (h2c, as gRPC servers take it), by ALPN on https://; one connection
     * per origin, shared by every such request. Not with userpwd;
     * follow_redirects is not read. */
    bool http2;
    bool follow_redirects;   /* up to 5 */
    size_t max_body;         /* buffered mode: larger bodies fail; 0 = no limit */
    cr_http_head_cb on_head; /* optional */
    cr_http_data_cb on_data; /* optional; set => streaming mode */
    cr_http_done_cb on_done; /* required */
    void *arg;
} cr_http_opts;

/* Returns a client bound to base (borrowed), or NULL with err set if libcurl
 * cannot be initialised. Caller owns it; free with cr_http_free(). */
cr_http *cr_http_new(struct event_base *base, cr_err *err);

/* Cancels every request in flight (no callbacks) and frees h. NULL is a
 * no-op. Must not be called from inside a cr_http callback. */
void cr_http_free(cr_http *h);

/* Starts a request; opts and everything it points to are copied. Returns a
 * handle (owned by h; see the lifecycle above) or NULL with err set, in which
 * case no callback will ever fire. */
cr_http_req *cr_http_start(cr_http *h, const cr_http_opts *opts, cr_err *err);

/* Stops a request; none of its callbacks fire afterwards. Safe from inside
 * any callback, including the request's own. NULL is a no-op. Calling it
 * from the request's own on_done is a no-op (the request is finishing). */
void cr_http_cancel(cr_http_req *r);
/* From the request's own on_done, buffered mode: its body, which the
 * caller then owns (NUL-terminated, free()); *len gets its length. A big
 * answer handed on (to a thread) needs no copy then. resp->body must not
 * be read after. */
char *cr_http_take_body(cr_http_req *r, size_t *len);

/* Case-insensitive lookup of a response header; borrowed, NULL if absent. */
const char *cr_http_resp_header(const cr_http_resp *resp, const char *name);

/* Number of requests in flight (for tests and metrics). */
size_t cr_http_pending(const cr_http *h);

/* How many times a stream waited for the next loop turn (its budget). */
uint64_t cr_http_stream_pauses(const cr_http *h);

#endif
