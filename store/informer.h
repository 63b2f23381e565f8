/* store_informer: a read-only cache of every key under one prefix, kept
 * current by list + watch (the client-go informer, on etcd).
 *
 *   list(prefix) at revision R -> cache filled, synced -> watch from R + 1
 *   -> every event updates the cache, then calls on_add/on_update/on_delete.
 *   A compacted watch re-lists, diffs against the cache (calling the same
 *   handlers for what changed meanwhile) and watches again. A failed list
 *   is retried with backoff; a broken watch resumes by itself (store.h).
 *
 * Handlers should only compute keys and enqueue them (see workqueue.h).
 * Cached items are read-only and owned by the informer: copy what you keep.
 *
 * Lifecycle: store_informer_new -> store_informer_start -> ... ->
 * store_informer_free (not from the informer's own handlers). */
#ifndef STORE_INFORMER_H
#define STORE_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

typedef struct store_informer store_informer;

/* One cached key. All pointers are owned by the informer. */
typedef struct store_item {
    const char *key;
    const char *value; /* raw value, NUL-terminated */
    size_t value_len;
    void *obj;                /* decode()'s result; NULL if decode failed or none */
    const char *decode_error; /* why decode failed, else NULL */
    int64_t create_revision;
    int64_t mod_revision; /* the object's resourceVersion */
    int64_t version;
} store_item;

typedef struct store_informer_handlers {
    /* Optional: turns a value into an object the informer owns (freed with
     * free_obj). Returning NULL with err set keeps the item with obj NULL
     * and decode_error, so controllers can report invalid objects. */
    void *(*decode)(const store_kv *kv, void *arg, cr_err *err);
    void (*free_obj)(void *obj);
    void (*on_add)(void *arg, const store_item *item);
    void (*on_update)(void *arg, const store_item *old, const store_item *cur);
    void (*on_delete)(void *arg, const store_item *old);
    /* Optional: after every complete list (the first one marks synced). */
    void (*on_synced)(void *arg);
} store_informer_handlers;

/* Creates an informer for prefix (copied); s is borrowed. Caller owns it. */
store_informer *store_informer_new(store *s, const char *prefix, const store_informer_handlers *h,
                                   void *arg);
/* Starts the first list. -1 with err if the list cannot be sent. */
int store_informer_start(store_informer *inf, cr_err *err);
void store_informer_free(store_informer *inf);

/* True once the first complete list is in the cache. Until then, absence
 * from the cache means nothing. */
bool store_informer_synced(const store_informer *inf);
/* The etcd revision the cache reflects. */
int64_t store_informer_revision(const store_informer *inf);
/* Borrowed item, or NULL. Valid until the loop runs again. */
const store_item *store_informer_get(const store_informer *inf, const char *key);
size_t store_informer_len(const store_informer *inf);
/* Calls fn for every item in key order; fn must not start or free the
 * informer (it may enqueue work). */
void store_informer_foreach(const store_informer *inf,
                            void (*fn)(void *arg, const store_item *item), void *arg);
/* How many lists have completed (1 after the first; more after compaction). */
unsigned store_informer_lists(const store_informer *inf);

#endif
