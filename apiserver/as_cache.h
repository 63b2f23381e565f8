/* as_cache: the API's name for the process's one cache (store/cache.h).
 *
 * corrald hands the API server its store_cache; the API reads only from
 * it, so GETs never touch etcd. Entries are the cache's immutable objects:
 * callers borrow them and deep-copy before changing anything. A key whose
 * value is not valid JSON has value NULL (readers skip it; the controllers
 * report it in a status condition).
 *
 * as_cache_new() makes a cache fed by hand (unit tests): put/del/set_*
 * apply changes as the watch would. */
#ifndef AS_CACHE_H
#define AS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/cache.h"

/* key, value (parsed JSON or NULL; see store/cache.h for the kinds kept as
 * text), create_revision, mod_revision. */
typedef store_obj as_entry;
typedef store_cache as_cache;

/* A cache fed by hand (caller owns; as_cache_free, NULL is a no-op). */
as_cache *as_cache_new(void);
void as_cache_free(as_cache *c);

/* Inserts or replaces key. value is stolen (may be NULL). */
void as_cache_put(as_cache *c, const char *key, json_t *value, int64_t create_revision,
                  int64_t mod_revision);
/* Parses raw bytes as JSON (NULL value if they are not) and puts them. */
void as_cache_put_raw(as_cache *c, const char *key, const char *data, size_t len,
                      int64_t create_revision, int64_t mod_revision);
/* Removes key (no-op if absent); revision is the delete's revision. */
void as_cache_del(as_cache *c, const char *key, int64_t revision);
void as_cache_clear(as_cache *c);
/* Raises the revision the cache reflects (never lowers it). */
void as_cache_set_revision(as_cache *c, int64_t revision);
void as_cache_set_synced(as_cache *c, bool synced);

int64_t as_cache_revision(const as_cache *c);
bool as_cache_synced(const as_cache *c);
/* Borrowed entry for key, or NULL. */
const as_entry *as_cache_get(const as_cache *c, const char *key);
/* Borrowed value for key, NULL if absent or not JSON, and always NULL for
 * task records and their history, which the cache keeps as text
 * (store/cache.h: read them with store_obj_json or apiserver/as_model.h's
 * as_task), and for a request status, a pending task, a request, a
 * deploy or a deploy status that decodes, kept as text too (as_model.h:
 * as_m_request_status, as_pending, as_m_request_entry, as_m_deploy_entry,
 * as_m_deploy_status_entry). */
const json_t *as_cache_value(const as_cache *c, const char *key);
/* Entries whose key starts with prefix, in key order: returns how many and
 * sets *first to the index of the first, for as_cache_at(). Indexes are
 * valid until the next change. */
size_t as_cache_range(const as_cache *c, const char *prefix, size_t *first);
const as_entry *as_cache_at(const as_cache *c, size_t i);
size_t as_cache_count(const as_cache *c);
/* What the cache has done so far (store_cache_get_stats). */
void as_cache_get_stats(const as_cache *c, store_cache_stats *out);

#endif
