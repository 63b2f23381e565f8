/* Internals shared by store.c and watch.c; not for use outside store/. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "store/codec.h"
#include "store/store.h"

typedef struct store_call store_call;
typedef struct store_bitem store_bitem;
typedef struct store_bgroup store_bgroup;
typedef struct store_lane store_lane;

struct store {
    struct event_base *base;
    cr_http *http;
    cr_log *log;
    char **eps;
    size_t neps;
    size_t cur; /* endpoint calls go to */
    char *ca_file, *cert_file, *key_file;
    bool insecure;
    bool json_only; /* txns and watches through the gateway, not gRPC */
    char *username, *password;
    char *token; /* auth token once authenticated */
    cr_http_req *auth_req;
    unsigned auth_tries;
    long timeout_ms;
    store_call *calls;    /* every live call */
    store_watch *watches; /* every live watch */
    /* batcher */
    store_lane *lanes; /* queued writes, one queue per fence */
    struct event *flush_ev;
    bool flushing;
    /* batched txns in flight (each with its retries); busy: every key they
     * touch, which no other write may touch until they end (order per key) */
    store_bgroup *inflight;
    size_t ninflight;
    store_map *busy;
    cr_hist latency[STORE_CALL_N]; /* per HTTP request to etcd (store_get_stats) */
};

/* Fills the TLS and timeout parts of o for a request to the current
 * endpoint + path; returns the URL (caller frees). */
char *store_url(store *s, size_t ep, const char *path);
void store_http_opts(store *s, cr_http_opts *o);
/* Whether calls must wait for a token; if so, starts authenticating. */
bool store_need_auth(store *s);
/* Drops the token (it was refused) so the next call authenticates again. */
void store_drop_token(store *s);
/* A POST to etcd, set up for the gateway's JSON or (grpc) the gRPC
 * service: the TLS options, HTTP/2 for gRPC, and the headers into hdrs (at
 * least 5 slots), with the token as each takes it; *auth is that header, to
 * free once the request started (on s->http). */
void store_post_opts(store *s, bool grpc, cr_http_opts *o, const char **hdrs, char **auth);
/* Whether a gRPC answer is an error (err set): its status comes in the
 * trailers, or in the headers of an answer without a body; an answer with
 * none (a stream cut short) is one too. */
bool store_grpc_failed(const cr_http_resp *resp, cr_err *err);
/* Moves calls to the next endpoint if `ep` is still the current one. */
void store_failover(store *s, size_t ep, const cr_err *why);

/* watch.c: called by store.c when authentication finished (err: failed). */
void store_watches_auth_done(store *s, const cr_err *err);
/* watch.c: makes every watch inert (store_free). */
void store_watches_detach(store *s);

#endif
