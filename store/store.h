/* store: Corral's etcd v3 client, over etcd's JSON gateway (/v3/kv/range,
 * /put, /deleterange, /v3/lease/..., /v3/maintenance/status) and, for txns
 * and watches, its gRPC service (KV.Txn and Watch.Watch: protobuf over
 * HTTP/2; the gateway's JSON cost etcd several times the txn itself;
 * store/pb.c), with the process's cr_http (libcurl multi-socket for
 * HTTP/1.1, libnghttp2 for HTTP/2, on the libevent loop).
 * Nothing here blocks.
 *
 * Lifecycle: store_new(base, http, cfg) -> calls and watches ->
 * store_free() (cancels everything in flight; no callbacks fire after it).
 *
 * Calls: every asynchronous function takes (cb, arg, err). If it returns -1
 * (err set) the callback never fires; otherwise cb fires exactly once, with
 * either a result (borrowed, valid during the call) or an error. `arg` also
 * tags the call: store_cancel(s, arg) drops every pending call made with that
 * arg (owners such as the cache call it from their _free).
 *
 * Keys are C strings (no NUL bytes); values are bytes with a length and are
 * always NUL-terminated on the way back, so JSON values can be used as text.
 *
 * Errors: transport failures are CR_EUNAVAIL (no endpoint reachable) or
 * CR_ETIMEOUT (never a hang: every call has a deadline); etcd's own errors
 * carry its gRPC code and message in the detail ("etcd code 9: ...") and map
 * to CR_EINVAL (3), CR_ENOTFOUND (5), CR_EFORBIDDEN (7, 16), CR_ETOOLARGE (8),
 * CR_EUNAVAIL (14), CR_ETIMEOUT (4) or CR_EETCD; store_err_compacted() tells
 * a "revision compacted" error apart. A fenced txn that lost leadership
 * fails with CR_ENOTLEADER.
 *
 * Endpoints: calls go to the current endpoint; on a connection error (and,
 * for reads, a timeout or an "unavailable" answer) the call moves to the
 * next endpoint and retries, once per endpoint. Writes that timed out or
 * broke mid-way are not retried (they may have been applied) but later calls
 * go to the next endpoint: the caller re-reads and retries. A write whose
 * member died while answering can, rarely, be applied and then reported as
 * refused (libcurl re-sends on a reused connection that closed): guard
 * writes that must apply once with compares (create_revision == 0,
 * mod_revision == what you read), as every controller write does.
 *
 * Every request asks for a member with a leader ("hasleader"): a member cut
 * off from the quorum fails calls at once (retried elsewhere for reads) and
 * ends its watch streams. Watches also detect a dead member through the
 * connection (reset, or TCP keepalive after about half a minute for a silent
 * peer); either way they resume on the next endpoint. */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cr_hist.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"

struct event_base;

/* etcd's limits for one request (etcd's --max-txn-ops and
 * --max-request-bytes defaults). */
#define STORE_MAX_TXN_OPS       128
#define STORE_MAX_REQUEST_BYTES (1536 * 1024)
#define STORE_PAGE_SIZE         1000

typedef struct store store;
typedef struct store_txn store_txn;
typedef struct store_watch store_watch;

/* One key-value as etcd reports it. */
typedef struct store_kv {
    char *key;
    char *value; /* NUL-terminated; NULL for a deleted key's event */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} store_kv;

/* Frees the members; kv itself is not freed. */
void store_kv_release(store_kv *kv);
/* Deep copy into dst (dst's members are overwritten, not released). */
void store_kv_copy(store_kv *dst, const store_kv *src);

/* The result of any call; borrowed by the callback. Fields a call does not
 * produce are zero. */
typedef struct store_result {
    int64_t revision; /* the store revision the answer was taken at */
    bool succeeded;   /* txn: the compares held (then-branch ran) */
    store_kv *kvs;    /* range: the kvs; put/delete with prev_kv: old kv(s) */
    size_t nkvs;
    bool more;                /* range: more keys than the limit */
    int64_t count;            /* range: keys in the range */
    int64_t deleted;          /* delete: keys deleted */
    struct store_result *ops; /* txn: one per op of the branch that ran */
    size_t nops;
    int64_t lease_id;    /* lease grant / keepalive */
    int64_t ttl;         /* lease grant / keepalive: seconds */
    const char *version; /* status: the server's version */
    int64_t leader;      /* status: the leader member id */
    int64_t member_id;   /* status: the answering member */
    int64_t db_size;     /* status */
    /* store_write: how the write travelled, so a caller can count the txns
     * its writes took. batch_first: it was the first write of the txn it
     * was combined into (one write per sent txn is); batch_retried: that
     * txn's compares failed and it was sent again alone. */
    bool batch_first;
    bool batch_retried;
} store_result;

typedef void (*store_cb)(void *arg, const store_result *res, const cr_err *err);

typedef struct store_config {
    const char *endpoints; /* "http://127.0.0.1:2379,https://b:2379"; required */
    const char *ca_file;   /* TLS, all optional */
    const char *cert_file;
    const char *key_file;
    bool insecure;
    const char *username; /* with password: /v3/auth/authenticate */
    const char *password;
    long timeout_ms; /* per call; 0 = 5000 */
    cr_log *log;     /* borrowed; may be NULL */
    /* Txns and watches go to etcd's gRPC service (KV.Txn and Watch.Watch
     * over HTTP/2) unless this is set: then to the gateway's /v3/kv/txn
     * and /v3/watch, as every other call does (for a proxy that speaks
     * HTTP/1.1 only). */
    bool json_only;
} store_config;

/* Returns a client (caller owns; store_free) or NULL with err set (bad
 * endpoint list). base, http and log are borrowed and must outlive it.
 * cfg's strings are copied. */
store *store_new(struct event_base *base, cr_http *http, const store_config *cfg, cr_err *err);
/* Cancels every call, watch and queued write without callbacks; frees s.
 * Watches must still be freed by their owners (store_watch_free) before or
 * after; after store_free they are inert. Free caches and leaders built
 * on s before it, and s before its cr_http. NULL is a no-op. Not from a
 * callback. */
void store_free(store *s);

/* Drops every pending call (and queued batched write) made with this arg;
 * their callbacks never fire. An in-flight write may still be applied. */
void store_cancel(store *s, void *arg);

/* The endpoint calls currently go to (borrowed). */
const char *store_endpoint(const store *s);

/* --- reads ------------------------------------------------------------------ */

/* One key; res->nkvs is 0 or 1. revision 0 = latest. */
int store_get(store *s, const char *key, int64_t revision, store_cb cb, void *arg, cr_err *err);

/* Every key under prefix, read in pages of STORE_PAGE_SIZE all taken at
 * the same revision (the first page's, or `revision` if not 0), delivered
 * together in key order. res->revision is the list's revision: watch from
 * res->revision + 1 to see every later change. */
int store_list(store *s, const char *prefix, int64_t revision, store_cb cb, void *arg, cr_err *err);
typedef struct store_pager store_pager; /* store/codec.h */
/* One page of such a list: the one pager (store/codec.h) is at, at
 * `revision` (0: the latest; the first page's res->revision is then the
 * one to ask the others at); store_pager_next with the page moves on. A
 * reader that uses each page as it comes holds one page, not the list. */
int store_list_page(store *s, const store_pager *pager, int64_t revision, store_cb cb, void *arg,
                    cr_err *err);

/* --- writes ----------------------------------------------------------------- */

typedef struct store_put_opts {
    int64_t lease; /* attach to this lease; 0 = none */
    bool prev_kv;  /* return the previous kv in res->kvs */
} store_put_opts;

int store_put(store *s, const char *key, const void *value, size_t len, const store_put_opts *opts,
              store_cb cb, void *arg, cr_err *err);

/* Deletes key, or every key under it when prefix; res->deleted. */
int store_delete(store *s, const char *key, bool prefix, bool prev_kv, store_cb cb, void *arg,
                 cr_err *err);

/* --- transactions ------------------------------------------------------------ */

typedef enum { STORE_EQ, STORE_NE, STORE_LT, STORE_GT } store_cmp_op;
typedef enum { STORE_THEN, STORE_ELSE } store_branch;

/* A txn under construction. Caller owns; store_txn_free() unless consumed by
 * store_txn_commit()/store_write(). */
store_txn *store_txn_new(void);
void store_txn_free(store_txn *t);

/* Compares. create_revision == 0 means "key absent"; mod_revision is the
 * resourceVersion of optimistic concurrency. */
void store_txn_if_mod(store_txn *t, const char *key, store_cmp_op op, int64_t rev);
void store_txn_if_create(store_txn *t, const char *key, store_cmp_op op, int64_t rev);
void store_txn_if_version(store_txn *t, const char *key, store_cmp_op op, int64_t version);
void store_txn_if_value(store_txn *t, const char *key, store_cmp_op op, const void *value,
                        size_t len);
/* Ops of a branch. */
void store_txn_put(store_txn *t, store_branch b, const char *key, const void *value, size_t len,
                   const store_put_opts *opts);
void store_txn_delete(store_txn *t, store_branch b, const char *key, bool prefix);
void store_txn_get(store_txn *t, store_branch b, const char *key, bool prefix);
/* Fencing: the txn only applies while `leader_key` still has this
 * create_revision (the one this replica won; see leader.h). If it does not,
 * the call fails with CR_ENOTLEADER instead of returning succeeded=false. */
void store_txn_fence(store_txn *t, const char *leader_key, int64_t create_revision);

size_t store_txn_nops(const store_txn *t); /* ops in the larger branch */

/* Commits t (consumed, even on error) as one txn. Fails before sending with
 * CR_ETOOLARGE above STORE_MAX_TXN_OPS ops or STORE_MAX_REQUEST_BYTES. */
int store_txn_commit(store *s, store_txn *t, store_cb cb, void *arg, cr_err *err);

/* Batched write: t (consumed; compares and then-ops only, no else-ops) is
 * queued and sent, together with the other writes queued meanwhile, in as
 * few txns as the limits allow. Writes with one fence (a leader's loops)
 * queue in one lane, unfenced ones (the API's) in another; lanes never
 * share a txn nor wait for each other's backlog. Each lane has up to 4 txns
 * in flight. A fence's lane sends its writes in queue order; in the
 * unfenced lane a write may pass earlier ones it shares no key with. Writes
 * to different keys that went in different txns may apply in either order:
 * what must apply together goes in one write. In any lane, writes touching
 * the same key are never
 * combined and apply in queue order, and no write is sent while a txn
 * touching one of its keys is in flight (a range delete waits until
 * nothing is). When a combined txn's compares fail (or etcd refuses the
 * combination as invalid or too large), each member is retried alone so
 * every write gets its own answer. cb sees res->succeeded and res->ops for
 * its own ops only; res->revision is that of the txn that applied it
 * (combined: the same for every member), so a cache at or past it shows
 * the write. Other errors (unreachable, timeout, lost leadership) go to
 * every member. */
int store_write(store *s, store_txn *t, store_cb cb, void *arg, cr_err *err);

/* Sends queued batched writes now (normally done by an event in the same
 * loop turn). */
void store_flush(store *s);

/* --- leases and status -------------------------------------------------------- */

int store_lease_grant(store *s, int64_t ttl_s, store_cb cb, void *arg, cr_err *err);
/* One keepalive; res->ttl is the new TTL. A lease that is gone fails with
 * CR_ENOTFOUND. */
int store_lease_keepalive(store *s, int64_t lease_id, store_cb cb, void *arg, cr_err *err);
int store_lease_revoke(store *s, int64_t lease_id, store_cb cb, void *arg, cr_err *err);
/* Compacts history up to revision (tests, maintenance). */
int store_compact(store *s, int64_t revision, store_cb cb, void *arg, cr_err *err);
int store_status(store *s, store_cb cb, void *arg, cr_err *err);

/* --- watch -------------------------------------------------------------------- */

typedef enum { STORE_EV_PUT, STORE_EV_DELETE } store_ev_type;

typedef struct store_event {
    store_ev_type type;
    store_kv kv;   /* for a delete: key and mod_revision only */
    store_kv prev; /* when prev_kv was asked and etcd had it; else key NULL */
} store_event;

typedef struct store_watch_handlers {
    /* Events in revision order; evs borrowed. */
    void (*on_events)(void *arg, const store_event *evs, size_t n);
    /* Optional: every change up to `revision` has been delivered (etcd's
     * progress notification; also lets idle watchers advance). */
    void (*on_progress)(void *arg, int64_t revision);
    /* The start revision was compacted: the watch has stopped and the caller
     * must re-list, then watch again from the list's revision + 1. */
    void (*on_compacted)(void *arg, int64_t compact_revision);
    /* Optional: the stream broke (err) and will be resumed after a backoff,
     * from the last delivered revision + 1. */
    void (*on_broken)(void *arg, const cr_err *err);
} store_watch_handlers;

typedef struct store_watch_opts {
    bool prefix;            /* watch every key under key */
    int64_t start_revision; /* 0 = from now */
    bool prev_kv;
} store_watch_opts;

/* Starts a watch; returns a handle the caller owns (store_watch_free) or
 * NULL with err set. h and opts are copied. */
store_watch *store_watch_start(store *s, const char *key, const store_watch_opts *opts,
                               const store_watch_handlers *h, void *arg, cr_err *err);
/* Stops and frees; no handler fires afterwards. Safe from its own handlers.
 * NULL is a no-op. */
void store_watch_free(store_watch *w);
/* The revision the watch resumes from after a break. */
int64_t store_watch_next_revision(const store_watch *w);

/* --- observability ----------------------------------------------------------- */

/* Kinds of etcd requests timed for /metrics (watch streams are not). */
typedef enum {
    STORE_CALL_RANGE,
    STORE_CALL_PUT,
    STORE_CALL_DELETE,
    STORE_CALL_TXN,
    STORE_CALL_LEASE,
    STORE_CALL_OTHER, /* compaction, status, auth */
    STORE_CALL_N
} store_call_kind;

/* "range", "put", "deleterange", "txn", "lease", "other" (static). */
const char *store_call_name(store_call_kind k);
/* The kind of a gateway path such as "/v3/kv/range" (pure). */
store_call_kind store_call_of_path(const char *path);

typedef struct store_stats {
    /* Seconds from sending one HTTP request to etcd to its answer (or
     * failure); each retry on another endpoint is one more observation. */
    cr_hist latency[STORE_CALL_N];
    size_t batches_in_flight; /* batched txns sent and not answered yet, every lane */
} store_stats;

void store_get_stats(const store *s, store_stats *out);

/* --- errors ------------------------------------------------------------------- */

/* Whether err says the requested revision was compacted. */
bool store_err_compacted(const cr_err *err);

#endif
