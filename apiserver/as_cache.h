/* as_cache: the replica's read cache of every document under the prefix, a
 * sorted map from etcd key to parsed JSON with its revisions.
 *
 * corrald fills it from one list+watch of the whole prefix (store informer)
 * and the API reads only from it, so GETs never touch etcd. Values are
 * read-only: callers borrow them and deep-copy before changing anything.
 * A key whose value is not valid JSON is kept with value NULL (readers skip
 * it; the controllers report it in a status condition).
 *
 * Lifecycle: as_cache_new() -> put/del/set_revision... -> as_cache_free(). */
#ifndef AS_CACHE_H
#define AS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct as_entry {
    char *key;     /* full etcd key, owned by the cache */
    json_t *value; /* owned by the cache; NULL if not JSON */
    int64_t create_revision;
    int64_t mod_revision;
} as_entry;

typedef struct as_cache as_cache;

/* Caller owns the cache; free with as_cache_free (NULL is a no-op). */
as_cache *as_cache_new(void);
void as_cache_free(as_cache *c);

/* Inserts or replaces key. value is stolen (may be NULL). Raises the
 * cache's revision to mod_revision if higher. */
void as_cache_put(as_cache *c, const char *key, json_t *value, int64_t create_revision,
                  int64_t mod_revision);
/* Parses raw bytes as JSON (NULL value if they are not) and puts them. */
void as_cache_put_raw(as_cache *c, const char *key, const char *data, size_t len,
                      int64_t create_revision, int64_t mod_revision);
/* Removes key (no-op if absent); revision is the delete's revision. */
void as_cache_del(as_cache *c, const char *key, int64_t revision);
/* Removes everything (before a re-list). */
void as_cache_clear(as_cache *c);

/* The etcd revision the cache reflects (the list's header revision, then
 * each event's). */
void as_cache_set_revision(as_cache *c, int64_t revision);
int64_t as_cache_revision(const as_cache *c);

/* Whether the first complete list has been applied. */
void as_cache_set_synced(as_cache *c, bool synced);
bool as_cache_synced(const as_cache *c);

/* Borrowed entry for key, or NULL. */
const as_entry *as_cache_get(const as_cache *c, const char *key);
/* Borrowed value for key, NULL if absent or not JSON. */
const json_t *as_cache_value(const as_cache *c, const char *key);

/* Entries whose key starts with prefix, in key order: returns how many and
 * sets *first to the index of the first, for as_cache_at(). Indexes are
 * valid until the next change. */
size_t as_cache_range(const as_cache *c, const char *prefix, size_t *first);
const as_entry *as_cache_at(const as_cache *c, size_t i);
size_t as_cache_count(const as_cache *c);

#endif
