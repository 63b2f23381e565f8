/* as_server: the HTTP face of the API on libevent's evhttp.
 *
 * Thin plumbing around the pure parts: route (as_route.h), run the operation
 * against the cache (as_api.h), commit its transaction through the store,
 * wait until this replica's cache shows the commit (read-your-writes for the
 * client that wrote), then answer. Also serves /api/watch (server-sent
 * events from an etcd watch), /metrics, /healthz, /readyz and the sandbox
 * proxy (as_sandbox.h).
 *
 * List answers (as_list, as_api.h) can be megabytes: they are sent as
 * chunked replies a piece at a time, a few milliseconds of encoding per
 * loop turn shared by every list in progress, the next piece of a list
 * only once its connection has taken most of the last one. Request
 * parents are encoded once per change (as_memo.h). At most
 * max_list_streams lists are in progress (one more is answered 503 with
 * Retry-After), and a list whose client stops reading is dropped after
 * list_stall_timeout_ms. /api/state, its parts and /metrics (as_walk,
 * as_api.h) are counted a slice of keys per turn and written the same
 * way. Other reads that walk the whole cache but answer at once (the
 * queues, task history, ...) wait for the same pump: one per loop turn.
 *
 * Lifecycle: as_server_new() (binds and serves at once) -> ... ->
 * as_server_free() (closes the listener and every connection; no callback
 * runs after it). The event base, store, http client, cache and log are
 * borrowed and must outlive the server. */
#ifndef AS_SERVER_H
#define AS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiserver/as_cache.h"
#include "apiserver/as_tls.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "store/store.h"

struct event_base;
struct evhttp_request;
typedef struct as_server as_server;

typedef struct as_server_config {
    const char *listen;      /* "127.0.0.1:7099" (host:port; port 0 = any) */
    const char *prefix;      /* "/corral" */
    const char *replica_id;  /* shown in /api/state hostStates and metrics */
    size_t max_body;         /* larger request bodies get a 413; 0 = 1 MiB */
    long write_wait_ms;      /* max wait for the cache to show a commit; 0 = 5000 */
    long sandbox_timeout_ms; /* agent /files calls; 0 = 5000 */
    /* List answers (as_list) being written at once; one more gets a 503
     * with Retry-After. 0 = 128. */
    size_t max_list_streams;
    /* A list's connection that takes no byte for this long is closed (its
     * client stopped reading). 0 = 30000. */
    long list_stall_timeout_ms;
    bool allow_deploy_of_paused;
    /* The API is also served under this path ("/singularity/api": a request
     * for <context_path>/x is answered as /api/x); NULL: /api only.
     * Borrowed. */
    const char *context_path;
    /* --max-decommissioning-agents, shown by /api/configuration/singularity-limits. */
    int max_decommissioning_agents;
    /* TLS on every connection (as_tls.h); NULL: plain HTTP. Borrowed: it
     * must outlive the server. Reloading it changes new connections only. */
    as_tls *tls;
    /* Who may do what (as_auth.h), borrowed; NULL: authentication off,
     * every caller may do everything and nothing records who. */
    const struct as_auth *auth;
    /* The shell-command allow-list (as_shell_commands_load), borrowed; NULL: none. */
    const json_t *shell_commands;
    cr_log *log;
} as_server_config;

/* Appends Prometheus text for other modules (controllers, bridge). */
typedef void (*as_metrics_hook)(void *arg, cr_buf *out);

/* Binds and starts serving; returns the server (caller owns) or NULL with
 * err set (bad address, port in use). */
as_server *as_server_new(struct event_base *base, store *st, cr_http *http, as_cache *cache,
                         const as_server_config *cfg, cr_err *err);
void as_server_free(as_server *s);

/* The port actually bound (useful with port 0). */
int as_server_port(const as_server *s);

/* The cache reached revision: answers waiting for their writes may go.
 * corrald's subscription to the cache (on_revision) calls this. */
void as_server_cache_advanced(as_server *s, int64_t revision);

/* Leadership of this replica (shown in /api/state and /metrics). */
void as_server_set_leader(as_server *s, bool leader);
void as_server_set_mesos_connected(as_server *s, bool connected);
/* Why this replica refuses to lead over the etcd layout (store/schema.h),
 * or NULL: /api/state hostStates[].etcdLayoutRefused. Copied. */
void as_server_set_layout_refused(as_server *s, const char *why);
void as_server_set_metrics_hook(as_server *s, as_metrics_hook hook, void *arg);
/* Swaps the authenticator (SIGHUP re-read its token file); borrowed, like
 * the config's: the caller frees the old one after this call. */
void as_server_set_auth(as_server *s, const struct as_auth *auth);

/* What TLS says about the client of req (a request being served): with
 * TLS, whether it presented a verified client certificate and the user (CN)
 * and groups (OU) it names. Fills *out (zeroed first); the caller releases
 * it with as_tls_peer_release(). Plain HTTP: out->tls is false. */
void as_server_peer(struct evhttp_request *req, as_tls_peer *out);

#endif
