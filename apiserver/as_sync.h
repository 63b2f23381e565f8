/* as_sync: keeps an as_cache equal to everything under the prefix in etcd:
 * list, then watch from the list's revision + 1; on compaction, list again
 * (the cache is rebuilt from the new list, so nothing is missed).
 *
 * Lifecycle: as_sync_new() starts at once -> ... -> as_sync_free(). The
 * cache is borrowed and must outlive the sync. on_change (optional) runs
 * after every batch applied, with the cache's new revision: the server uses
 * it to release responses waiting for their own writes to show. */
#ifndef AS_SYNC_H
#define AS_SYNC_H

#include <stdint.h>

#include "apiserver/as_cache.h"
#include "base/log.h"
#include "store/store.h"

struct event_base;
typedef struct as_sync as_sync;

typedef void (*as_sync_change_cb)(void *arg, int64_t revision);

/* Returns a running sync (caller owns) or NULL with err set. prefix is
 * copied ("/corral"; everything under "/corral/" is cached). */
as_sync *as_sync_new(struct event_base *base, store *st, as_cache *cache, const char *prefix,
                     cr_log *log, as_sync_change_cb on_change, void *arg, cr_err *err);
void as_sync_free(as_sync *s);

/* Lists completed, watch errors seen (for metrics). */
uint64_t as_sync_lists(const as_sync *s);
uint64_t as_sync_events(const as_sync *s);

#endif
