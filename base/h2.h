/* cr_h2: the HTTP/2 connections behind cr_http's http2 requests, on
 * libnghttp2 and libevent. Internal to base/httpc.c; everyone else starts
 * requests with cr_http_start(.http2 = true).
 *
 * One connection per origin (scheme, host, port and TLS files), opened on
 * the first request and shared by every request after it, each a stream:
 * prior knowledge on http:// (h2c, as gRPC servers take it), TLS with ALPN
 * "h2" on https://. A connection that fails fails its streams; one told
 * to go away (GOAWAY) finishes its streams while new requests open a new
 * one.
 *
 * Stream lifecycle: cr_h2_start() -> header* -> head -> (data | header)* ->
 * done, exactly once, unless the start fails (nothing fires then) or the
 * stream is cancelled (nothing fires after cr_h2_cancel()). The handle is
 * the connection's: do not touch it once done was called or after the
 * cancel. Handlers may start and cancel streams, but not free the cr_h2. */
#ifndef CR_H2_H
#define CR_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/httpc.h"

struct event_base;

typedef struct cr_h2 cr_h2;
typedef struct cr_h2_stream cr_h2_stream;

/* What a stream tells its owner (arg: cr_h2_start's). Strings borrowed. */
typedef struct cr_h2_handler {
    /* A response header or trailer (not a pseudo-header); trailers come
     * after the body, before done. */
    void (*header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    /* The final response's header block ended (status is its :status);
     * before any data. */
    void (*head)(void *arg, long status);
    /* Body bytes. Returns false with err set to fail the stream (the
     * stream is reset; done gets err). */
    bool (*data)(void *arg, const char *data, size_t len, cr_err *err);
    /* Last: err is NULL when the response ended normally. Codes as
     * cr_http_done_cb's. */
    void (*done)(void *arg, const cr_err *err);
} cr_h2_handler;

/* Returns the connections of one cr_http, bound to base (borrowed). Caller
 * owns it; free with cr_h2_free(). */
cr_h2 *cr_h2_new(struct event_base *base);
/* Closes every connection; no handler fires. NULL is a no-op. */
void cr_h2_free(cr_h2 *h);

/* Starts o as a stream (on_* callbacks, max_body, follow_redirects and
 * userpwd are not read: the handler and the caller do that). Returns the
 * stream, or NULL with err set (a URL it cannot take, unreadable TLS
 * files), and then nothing fires. */
cr_h2_stream *cr_h2_start(cr_h2 *h, const cr_http_opts *o, const cr_h2_handler *hd, void *arg,
                          cr_err *err);
/* Resets the stream (RST_STREAM CANCEL); nothing fires after. Safe from
 * any handler, also the stream's own. NULL is a no-op. */
void cr_h2_cancel(cr_h2_stream *st);

/* How many times a connection left bytes for the next loop turn because
 * its handlers had used the turn's budget (CR_HTTP_STREAM_BUDGET_US). */
uint64_t cr_h2_pauses(const cr_h2 *h);

#endif
