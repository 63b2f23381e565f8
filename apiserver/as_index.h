/* as_index: the per-object counts of /metrics and /api/state, kept from
 * the cache's change feed so that a scrape costs O(states), not O(keys).
 *
 * What it counts, with the rules the walk (as_state.c) always used:
 *   - task records (every key under P/tasks/, whatever its shape) by last
 *     state: as_index_task_state, "TASK_LAUNCHED" when a record names none
 *     (/metrics' corral_tasks); and how many are active, and active and
 *     launching (LAUNCHED, STAGING, STARTING or none: /api/state's
 *     activeTasks and launchingTasks);
 *   - requests (kind API_KEY_REQUEST, an object: as_m_entry_object) by
 *     RequestState (as_m_request_state), and those with an unfinished
 *     deploy (as_m_pending_deploy_id): corral_requests and
 *     corral_deploys_pending.
 * /metrics writes the names of a family in key order of their first
 * object, at most 32 of them; the index keeps each name's least key so
 * that the order is the same.
 *
 * How it stays exact:
 *   - a task record's figures are a function of the record alone: each
 *     change takes the old object's out and puts the new one's in;
 *   - a request's facts read its request, status, deploys, deploy statuses
 *     and intents, every one a key <kind>/<requestId>[/...] of those six
 *     kinds: a change of any key under those kinds' prefixes marks the
 *     request its first segment names (whatever the rest of the key), and
 *     the next read works its facts out again from the cache;
 *   - the least key of a name is kept while it stays; when it goes, the
 *     next read finds the new one by scanning forward from it (stopping at
 *     the first object of each such name);
 *   - it counts everything from a cursor, a slice of keys per
 *     as_index_step (the task records, then the requests), so that no
 *     loop turn holds the loop for a whole pass (~150 ms of CPU at
 *     100,000 records and 20,000 requests); a change below the cursor is
 *     followed, one at or above it is counted when the cursor gets there.
 *     Until it is ready, readers count the cache themselves (as_walk walks
 *     the ranges and steps the index as it goes);
 *   - the cache does not tell its subscribers of its first load (nor of a
 *     clear by hand): the index counts everything again from the cache's
 *     first on_synced, and whenever the number of objects the feed told
 *     of differs from the cache's. A re-list after a compaction tells each
 *     difference (the keys gone as deletions, the changed ones as puts)
 *     before on_synced, so the index follows it change by change. Figures
 *     read from it are those a walk of the cache would count at that
 *     instant.
 *
 * Memory: nothing per task record; per request its key, state and a
 * flag (~100 bytes with the map's slot); per name its count and least key.
 *
 * Lifecycle: as_index_new(cache, prefix) (subscribes) -> ... ->
 * as_index_free() (unsubscribes; NULL is a no-op). The cache is borrowed
 * and must outlive the index. Not thread-safe: the loop's thread only. */
#ifndef AS_INDEX_H
#define AS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"
#include "base/buf.h"

typedef struct as_index as_index;

/* An index of the cache c, whose keys are under prefix ("/corral"; both
 * borrowed). Caller owns. */
as_index *as_index_new(as_cache *c, const char *prefix);
void as_index_free(as_index *ix);

/* How many names /metrics writes of one family (the walk's limit). */
#define AS_INDEX_MAX_NAMES 32

typedef struct as_index_count {
    const char *name;
    long n;
} as_index_count;

typedef struct as_index_figures {
    /* in key order of each name's first object, at most AS_INDEX_MAX_NAMES */
    as_index_count req_states[AS_INDEX_MAX_NAMES];
    size_t n_req_states;
    as_index_count task_states[AS_INDEX_MAX_NAMES];
    size_t n_task_states;
    long pending_deploys; /* requests with an unfinished deploy */
    long active_tasks, launching_tasks;
} as_index_figures;

/* Counts at most max_keys more keys of c (the cache it subscribed to;
 * cfg gives the prefix and is read for the requests' facts) if it is not
 * ready; true once it is (then the requests changed since are worked out
 * too). SIZE_MAX: all at once. */
bool as_index_step(as_index *ix, const as_api_config *cfg, const as_cache *c, size_t max_keys);

/* Whether as_index_read would answer (without counting anything again). */
bool as_index_ready(const as_index *ix);

/* Fills out from the index once it is ready: the requests changed since
 * the last read are worked out, and the first key of a name whose first
 * key went is found (a scan from it). false, out untouched, when it is not
 * ready, or found itself out of step (it starts counting again). Names are
 * borrowed until the cache changes or the next call. */
bool as_index_read(as_index *ix, const as_api_config *cfg, const as_cache *c,
                   as_index_figures *out);

/* The last state of the object e under P/tasks/ (NULL when it names none)
 * and whether it is active (as_task_active): from the typed document when
 * the cache decoded one without problems (decoded from the same value, so
 * the same answers), else from the text, copied into scratch. */
const char *as_index_task_state(const as_entry *e, bool *active, cr_buf *scratch);

typedef struct as_index_stats {
    uint64_t rebuilds;  /* counts started again from nothing (not the first) */
    uint64_t refreshes; /* a request's facts worked out again */
    uint64_t scanned;   /* objects read to find the new first key of a name */
} as_index_stats;

void as_index_get_stats(const as_index *ix, as_index_stats *out);

#endif
