/* as_memo: each request's SingularityRequestParent, encoded once.
 *
 * A list of requests sends the same bytes again and again: between two
 * changes of a request, its parent object does not change. The memo keeps
 * each request's parent as the server sends it (compact JSON) with its state
 * (for the state lists) and its unfinished deploy (for /metrics and the
 * queues), and drops a request's entry when anything its parent is made
 * of changes. It learns of changes from the cache it
 * subscribes to:
 *
 *   - a key of request R (its request, status, deploys and their status
 *     and intents, intents, tasks, pending tasks, runs, history) drops R;
 *   - a cleanup (P/cleanups/<taskId>) drops the request its task id names;
 *   - agents, racks, their intents, the framework and leader keys drop
 *     nothing (no parent reads them);
 *   - any other key (an unknown shape) drops every entry.
 *
 * Two more guards: an entry is used only while the cache holds the very
 * request object it was built from (a cache emptied by hand, which tells
 * no subscriber, cannot serve an old entry), and a parent is not kept when
 * one of its tasks has an id naming another request (its cleanup would be
 * looked up under that request). A kept parent is byte for byte what
 * json_dumps(as_m_request_parent(...), AS_JSON_FLAGS) gives, so lists and
 * GET /api/requests/request/{id} send it as it is (the GET with the ETag
 * kept beside it).
 *
 * Lifecycle: as_memo_new(cache) (subscribes) -> ... -> as_memo_free()
 * (unsubscribes; NULL is a no-op). The cache is borrowed and must outlive
 * the memo. Not thread-safe: the loop's thread only. */
#ifndef AS_MEMO_H
#define AS_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"

typedef struct as_memo as_memo;

/* A memo of the parents of the requests in c (caller owns). */
as_memo *as_memo_new(as_cache *c);
void as_memo_free(as_memo *m);

/* One request's parent: JSON text (no trailing newline) and RequestState. */
typedef struct as_memo_parent {
    const char *json;
    size_t len;
    const char *state;
} as_memo_parent;

/* The parent of the request whose cache entry is e (kind API_KEY_REQUEST),
 * from the memo or encoded now (and kept). Returns false, out untouched,
 * when e holds no request object. out's strings are borrowed until the
 * cache changes (the next loop turn) or the next call. */
bool as_memo_request_parent(as_memo *m, const as_api_config *cfg, const as_entry *e,
                            as_memo_parent *out);

/* The ETag of a GET of the request whose cache entry is e (kind
 * API_KEY_REQUEST): as_api_request_etag of its value (a text is parsed,
 * once per change), from the memo or worked out now (and kept, even with
 * a parent that is not). Returns false, *etag untouched, when e holds no
 * request object. */
bool as_memo_request_etag(as_memo *m, const as_api_config *cfg, const as_entry *e, uint32_t *etag);

/* Only the state and the unfinished deploy's id (as_m_pending_deploy_id;
 * NULL if none), for /metrics and the queues: from the memo or worked out
 * now (and kept). Returns false when e holds no request object. Both
 * strings are borrowed like as_memo_parent's. */
bool as_memo_request_facts(as_memo *m, const as_api_config *cfg, const as_entry *e,
                           const char **state, const char **pending_deploy);

typedef struct as_memo_stats {
    uint64_t hits, misses; /* parents served from the memo / encoded */
    uint64_t drops;        /* entries dropped by changes */
    size_t entries, bytes; /* kept now: requests, and their parents' JSON bytes */
} as_memo_stats;

void as_memo_get_stats(const as_memo *m, as_memo_stats *out);

#endif
