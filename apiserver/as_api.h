/* as_api: the API's operations as pure functions.
 *
 * as_api_handle() takes one parsed HTTP request (operation, path parameters,
 * query, body bytes) and the replica's cache, and returns an as_result: the
 * status and JSON body to send, and the etcd transaction (compares + puts +
 * deletes) that must commit before that response may be sent. No I/O and no
 * clock: the server passes `now` and performs the transaction. If the
 * transaction's compares fail the server answers 409 instead (someone else
 * changed the same documents since this replica's cache saw them).
 *
 * Keys written (prefix P; docs/etcd-layout.md has the full layout and
 * apis/keys.h builds every key):
 *   P/requests/<id>                         request spec (POST, scale, skip-hc)
 *   P/deploys/<rid>/<did>                   deploy spec, create-only
 *   P/intents/requests/<rid>/pause|bounce|exit-cooldown|scale|skip-healthchecks
 *   P/intents/deploys/<rid>/<did>/submit|cancel|update
 *   P/intents/agents/<id>, P/intents/racks/<id>   desired machine state
 *   P/cleanups/<taskId>                     kill intents
 *   P/runs/<rid>/<runId>                    run-now requests
 *   P/history/requests/<rid>/<ms>-<EVENT>   request history events
 *   P/groups/<id>                           request groups (as_compat.h)
 *   P/webhooks/<id>                         webhooks (apiserver/as_webhooks.h); a delete
 *                                           takes P/status/webhooks/<id> and its queue along
 * Everything else (status, tasks, pending, agents, racks, history of tasks
 * and deploys) is only read. */
#ifndef AS_API_H
#define AS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apiserver/as_cache.h"
#include "apiserver/as_route.h"

/* ---- transactions ---------------------------------------------------------- */

/* Compare: the key's mod_revision must equal mod_revision (0 = key absent). */
typedef struct as_cmp {
    char *key;
    int64_t mod_revision;
} as_cmp;

/* Put value (serialized JSON) at key, or delete key (value NULL). With
 * prefix set, deletes every key under key (a range delete). */
typedef struct as_put {
    char *key;
    char *value;
    bool prefix;
} as_put;

typedef struct as_txn {
    size_t ncmp, nput;
    as_cmp *cmp;
    as_put *put;
} as_txn;

void as_txn_release(as_txn *t);
void as_txn_cmp(as_txn *t, const char *key, int64_t mod_revision);
/* Serializes value compactly with sorted keys (value is borrowed). */
void as_txn_put(as_txn *t, const char *key, const json_t *value);
void as_txn_del(as_txn *t, const char *key);
void as_txn_del_prefix(as_txn *t, const char *prefix);

/* ---- requests and results ----------------------------------------------------- */

typedef struct as_query_kv {
    char *name, *value;
} as_query_kv;

typedef struct as_req {
    unsigned method;          /* as_method bit */
    const as_match *match;    /* operation and path parameters */
    const as_query_kv *query; /* decoded query parameters */
    size_t nquery;
    const char *body; /* NULL when empty */
    size_t body_len;
    const char *user;  /* authenticated user or NULL (who's id) */
    /* The authenticated caller (as_auth.h), NULL when anonymous; with
     * authorization on, every operation checks it first. */
    const struct as_identity *who;
    int64_t now;       /* wall clock, epoch ms */
    const char *nonce; /* random hex from the server (generated ids); NULL for GET and HEAD */
    /* Decode bodies strictly (unknown fields are 400s), as corralctl does;
     * false: leniently like Singularity, what is ignored listed in the
     * answer's warnings (docs/api.md "Lenient bodies"). */
    bool strict;
    /* The body is YAML (Content-Type application/yaml, text/yaml or
     * application/x-yaml): one document, read into the same JSON values. */
    bool yaml;
} as_req;

/* Borrowed value of query parameter name, or NULL. */
const char *as_req_query(const as_req *r, const char *name);

/* Parses "a=1&b=x%20y" into a new array (caller frees with
 * as_query_free). Returns -1 on a bad escape. */
int as_query_parse(const char *qs, as_query_kv **out, size_t *n);
void as_query_free(as_query_kv *q, size_t n);

/* What the API does for one request. */
typedef enum {
    AS_RESULT_JSON = 0, /* send body as JSON (after txn commits if any) */
    AS_RESULT_TEXT,     /* send text (metrics) */
    AS_RESULT_SPECIAL,  /* the server handles it (watch, sandbox, metrics) */
} as_result_kind;

typedef struct as_result {
    as_result_kind kind;
    int status;
    json_t *body; /* owned; NULL = empty body */
    /* Instead of body, the answer already encoded: the bytes
     * json_dumps(body, AS_JSON_FLAGS) would give (no trailing newline),
     * owned, and their ETag (as_api_request_etag). Only a 200 of GET
     * /api/requests/request/{id} served from the memo (as_memo.h) has them;
     * body is NULL then. */
    char *json;
    size_t json_len;
    uint32_t json_etag;
    char *text;   /* owned; AS_RESULT_TEXT */
    as_txn txn;   /* writes to commit first; empty = none */
    /* After the txn commits and the cache has caught up with it, the server
     * re-renders the body as this request's parent object (so the response
     * shows the committed state); body is the fallback. NULL: keep body. */
    char *render_parent;
    /* What a lenient decode ignored: an array of strings ("deploy.foo:
     * unknown field ignored") the server sends as Warning headers, owned;
     * NULL: none. */
    json_t *warnings;
} as_result;

void as_result_release(as_result *r);

/* The ETag a 200 GET or HEAD answer carries (the server's): the 32-bit
 * FNV-1a hash of text, or, for GET /api/requests/request/{id}, of the
 * request document alone (as_api_request_etag), so that it changes when
 * the request does. */
uint32_t as_api_etag(const char *text, size_t len);

/* as_api_etag of json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS). */
uint32_t as_api_request_etag(const json_t *request);

/* Sets r to a JSON answer: status and body (owned by r from now on). */
void as_answer(as_result *r, int status, json_t *body);

/* Sets r to an error: status and {"message": ..., "status": ...}; returns
 * -1 for `return as_fail(...)`. */
int as_fail(as_result *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the API --------------------------------------------------------------------- */

struct as_memo;
struct as_index;
struct cr_buf;
struct as_verdict;

typedef struct as_api_config {
    const char *prefix;          /* "/corral" */
    size_t max_body;             /* informational; the server enforces it */
    bool allow_deploy_of_paused; /* Singularity's allowDeployOfPausedRequests */
    int max_scale_down_unacked;  /* maxScaleDownWithoutAcknowledgement (10) */
    int max_decommissioning_agents; /* SingularityLimits (corrald's flag) */
    /* Request parents encoded once (as_memo.h), borrowed, a memo of the
     * cache the calls are given; NULL: encode every parent every time.
     * Answers are the same bytes either way (a GET of one request comes
     * as result.json then). */
    struct as_memo *memo;
    /* The per-object counts of /metrics and /api/state kept from the
     * cache's change feed (as_index.h), borrowed, an index of the cache
     * the calls are given; NULL: they walk the cache's key ranges. The
     * answers are the same bytes either way. */
    struct as_index *index;
    /* Authentication and authorization (as_auth.h), borrowed; NULL or a
     * disabled policy: every caller may do everything. */
    const struct as_auth *auth;
    /* Singularity's ui.shellCommands (as_shell.h), borrowed; NULL: none
     * (every shell command is refused). */
    const json_t *shell_commands;
} as_api_config;

/* The flags every JSON answer is encoded with. */
#define AS_JSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* Runs one operation against the cache. Fills *out (caller releases).
 * Operations the server handles itself (watch, sandbox, metrics, probes)
 * come back as AS_RESULT_SPECIAL after their input was validated. */
void as_api_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                   as_result *out);

/* ---- lists written in pieces ----------------------------------------------------------
 *
 * The list operations (GET /api/requests and its state variants,
 * /api/tasks/active[/ids], /api/tasks/active/agent/{id}[/ids],
 * /api/tasks/scheduled[/ids], /api/tasks/scheduled/request/{id},
 * /api/tasks/cleaning) walk one key range of the cache and can answer
 * megabytes. as_list is a cursor over that range, in key order, that
 * appends the JSON array a piece at a time, so the server can spread one
 * answer over many loop turns (as_server.c); as_api_handle runs it to the
 * end for these operations. Each piece reads the cache as it is when the
 * piece is written: an element shows its object at that time, and an
 * object created or deleted while the list is being written may or may not
 * be in it. */
typedef struct as_list as_list;

/* True for the operations above. */
bool as_list_op(as_op op);

/* Starts the answer of a list operation (as_list_op(req->match->op)),
 * authorizing the caller against cache first. Returns the cursor (caller
 * frees with as_list_free; it borrows cfg, which must outlive it), or NULL
 * with *err set to the error answer (not allowed, bad query or path
 * parameter; caller releases it). */
as_list *as_list_new(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *err);

/* Appends the next piece of the array to out, examining at most max_items
 * cache entries. Returns true once the array is complete (its closing
 * bracket written); later calls append nothing. */
bool as_list_next(as_list *l, const as_cache *cache, struct cr_buf *out, size_t max_items);

/* NULL is a no-op. */
void as_list_free(as_list *l);

/* Applies t to the cache as etcd would at revision rev (compares are not
 * checked). For tests and for a backend-less dry run. */
void as_cache_apply_txn(as_cache *c, const as_txn *t, int64_t rev);
/* True if every compare of t holds against the cache. */
bool as_txn_compares_hold(const as_cache *c, const as_txn *t);

/* SingularityState for /api/state (caller owns); see sheet 6.3. The
 * counts are the whole cluster's; the lists that name requests
 * (activeDeploys, listLateTasks, onDemandListLateTasks and, with
 * include_request_ids, the over- and under-provisioned ids) hold only the
 * items of requests who may read (as_api_may_read: all of them when
 * authorization is off or who is an admin). */
json_t *as_api_state(const as_api_config *cfg, const as_cache *cache, int64_t now,
                     bool include_request_ids, const struct as_identity *who);

/* Appends Prometheus text about the objects in the cache (requests by
 * state, tasks by state, pending tasks, pending deploys, cleanups, agents). */
void as_api_metrics(const as_api_config *cfg, const as_cache *cache, struct cr_buf *out);

/* ---- whole-cache reads written in pieces ------------------------------------------------
 *
 * GET /api/state, its parts (/api/state/requests/under-provisioned and
 * /over-provisioned, /api/state/scheduled-tasks-info) and /metrics count
 * the whole cache: 10,000 requests with 30,000 late pending tasks are
 * ~150 ms of counting and a 6 MB answer (every late task's id). as_walk is
 * a cursor that counts the cache a slice of keys per call, in key order
 * (requests, tasks, load balancer cleanups, pending tasks, agents, racks:
 * those its answer reads), then appends the answer a piece per call, so
 * the server can spread one answer over many loop turns (as_server.c), as
 * it does lists. The late tasks are referenced while counted and written
 * from those objects. Each slice reads the cache as it is when it is
 * counted: a document that changes while the walk is under way is counted
 * as it was then (and one that moves from one range to another meanwhile
 * may be counted twice or not at all). A walk run to its end in one call
 * writes the bytes json_dumps(<as_api_handle's answer>, AS_JSON_FLAGS)
 * gives at that instant (/metrics: as_api_metrics's text). With
 * cfg->index, the per-object counts are read from it once the ranges are
 * counted, and the ranges only they need are skipped: /metrics counts no
 * range, /api/state skips the task records. The bytes are the same. */
typedef struct as_walk as_walk;

/* True for the operations above. */
bool as_walk_op(as_op op);

/* Starts the answer of a walk operation (as_walk_op(req->match->op)),
 * authorizing the caller and checking the query first. Returns the cursor
 * (caller frees with as_walk_free; it borrows cfg, which must outlive it),
 * or NULL with *err set to the error answer (caller releases it). */
as_walk *as_walk_new(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *err);

/* The cursor as_walk_new returns once the call is allowed (as_state.c):
 * op's answer at time now, with the provisioning ids when
 * include_request_ids, the lists holding what who may read (copied; NULL:
 * anonymous). */
as_walk *as_walk_start(const as_api_config *cfg, as_op op, int64_t now, bool include_request_ids,
                       const struct as_identity *who);

/* Appends host (taken) to /api/state's hostStates, before anything is
 * written (the server adds its replica; as_api_handle's answer has none). */
void as_walk_add_host(as_walk *w, json_t *host);

/* Counts at most max_items cache entries, or once everything is counted
 * appends the next piece of the answer (about max_items of its elements).
 * Returns true once the answer is complete; later calls append nothing.
 * The answer has no trailing newline. */
bool as_walk_next(as_walk *w, const as_cache *cache, struct cr_buf *out, size_t max_items);

/* Drops the walk and its references. NULL is a no-op. */
void as_walk_free(as_walk *w);

/* Whether who (NULL: anonymous) may see the document at key in a watch
 * stream: a request's documents to its readers, agents and racks to global
 * readers, tokens and keys outside the layout to admins. True when
 * authorization is off. */
bool as_api_key_visible(const as_api_config *cfg, const as_cache *cache,
                        const struct as_identity *who, const char *key);

/* Whether who (NULL: anonymous) may read the objects of request rid, as
 * lists filter them: true when authorization is off or who is an admin;
 * items of a request nobody owns any more are for admins. */
bool as_api_may_read(const as_api_config *cfg, const as_cache *cache,
                     const struct as_identity *who, const char *rid);

/* Whether who (NULL: anonymous) may change request rid, as the request's
 * own write routes decide (a request that does not exist and left no
 * history: yes; as_auth_check with AS_ACCESS_WRITE). Fills *v with the
 * refusal. True when authorization is off. */
bool as_api_may_write(const as_api_config *cfg, const as_cache *cache,
                      const struct as_identity *who, const char *rid, struct as_verdict *v);

/* The request parent object of request id, or NULL if unknown (caller owns). */
json_t *as_api_request_parent(const as_api_config *cfg, const as_cache *cache, const char *id);

#endif
