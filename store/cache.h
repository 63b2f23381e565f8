/* store_cache: the process's one view of everything under the prefix,
 * kept current by one list + watch, every document decoded once.
 *
 *   list(<prefix>/) at R, a page at a time -> objects, synced -> watch from R + 1
 *   -> each event replaces one object -> subscribers told per change,
 *   then once per batch with the cache's new revision.
 *   A compacted watch lists again and tells the subscribers only what
 *   differs; a failed list is retried with backoff.
 *
 * Objects are immutable once published: the value and the typed document
 * of the key's kind (apis/doc.h) are shared by every reader (API,
 * controllers, bridge). An object read from the cache is borrowed until the
 * loop runs again; store_obj_ref keeps it longer (across threads too: the
 * count is atomic). Nothing in an object may be changed.
 *
 * How the value is held depends on the kind (api_doc_text, apis/doc.h):
 *   - task records and their history (the bulk at scale) keep the text
 *     etcd holds, byte for byte, and no JSON tree: the value is parsed once
 *     to decode the typed document, then dropped. `value` is NULL;
 *     store_obj_text gives the bytes, store_obj_plain_text a text that
 *     apis/jtext.h can walk, store_obj_json a tree parsed on demand;
 *   - ...except that a task record whose typed document writes its text
 *     again byte for byte (api_doc_detach_text: a record as the bridge
 *     stores it, the common case) keeps only the document, and those
 *     accessors write the text from it on demand (one dump a call);
 *   - request statuses, pending tasks, requests, deploys and deploy
 *     statuses (api_doc_text_when_valid: a status ~7 KB as a tree, one per
 *     request; a pending task ~1.5 KB, one per task waiting for an offer; a
 *     request ~1.7 KB, a deploy 2-7 KB and its status ~2.7 KB, one or more
 *     per request) are kept as
 *     text too, with `value` NULL, when their document decodes with no
 *     problem, no key repeats and the document reads as the tree
 *     (api_doc_faithful: what the controllers write, and for requests,
 *     deploys and deploy statuses a document whose canonical encoding is
 *     the tree, which is what the API and the controllers store); any
 *     other keeps its tree, so that it can still
 *     be shown as written. A request or deploy kept as text still is, byte
 *     for byte (store_obj_text), and store_obj_json gives the tree it
 *     stands for;
 *   - every other kind keeps its parsed tree in `value` (and no text).
 * Readers that may see either (a range of keys, the watch feed, a request
 * the API shows) use the accessors, which work for both; readers that
 * only need fields read the typed document (the controllers, the bridge;
 * the API's lists: apiserver/as_model.h).
 *
 * Between two loop turns every reader sees one consistent revision: events
 * are applied in the order etcd sent them, and a big batch, applied a slice
 * per loop turn, is cut only between revisions (never half of a txn).
 *
 * Lifecycle: store_cache_new -> store_cache_start -> ... -> store_cache_free
 * (not from a subscriber's callback). Subscribers may come and go at any
 * time, also from inside a callback. */
#ifndef STORE_CACHE_H
#define STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/keys.h"
#include "base/err.h"
#include "base/log.h"
#include "store/store.h"

struct event_base;

typedef struct store_cache store_cache;

/* One key's current document. */
typedef struct store_obj {
    const char *key;   /* full etcd key */
    api_key_kind kind; /* API_KEY_UNKNOWN for keys outside the layout */
    const char *id1;   /* api_key_parts of the key (NULL when absent) */
    const char *id2;
    const char *id3;
    json_t *value;     /* the parsed value; NULL if it is not JSON, and NULL for the
                          values kept as text (use store_obj_json) */
    void *doc;         /* the typed document of kind (apis/doc.h), or NULL */
    const char *error; /* why value or doc has problems, or NULL */
    size_t value_len;  /* bytes of the value in etcd */
    int64_t create_revision;
    int64_t mod_revision; /* the object's resourceVersion */
    int64_t version;
    int refs; /* internal */
} store_obj;

/* Keeps o alive after the loop turn; returns o. */
const store_obj *store_obj_ref(const store_obj *o);
/* Drops a reference from store_obj_ref. NULL is a no-op. */
void store_obj_unref(const store_obj *o);

/* The value as a tree: a new reference the caller owns (json_decref), or
 * NULL when the value is not JSON (or o is NULL). For the values kept as
 * text each call parses the text: call it once per use, not per field. */
json_t *store_obj_json(const store_obj *o);
/* The value's bytes as etcd holds them, NUL-terminated, when the cache
 * keeps them: the values kept as text (borrowed like o; *len gets
 * value_len). NULL for the others, and for a record whose document writes
 * its text again (store_obj_plain_text then gives the same bytes). */
const char *store_obj_text(const store_obj *o, size_t *len);
/* A JSON text of the value whose objects have no duplicate keys, what
 * apis/jtext.h walks: the object's own text when it is such a text and
 * kept (borrowed like o, *owned NULL); else one written now into *owned
 * (the caller frees it): the etcd bytes again from a record's document
 * when it dropped them, or else the parsed value's dump (same value, as
 * jansson reads a duplicate key: the last one wins). NULL when the value
 * is not JSON. */
const char *store_obj_plain_text(const store_obj *o, size_t *len, char **owned);

typedef struct store_cache_handlers {
    /* One key changed: old is NULL for a new key, cur NULL for a deleted
     * one. Both borrowed; the cache already holds cur, and
     * store_cache_revision() is the change's revision (a delete's too). */
    void (*on_change)(void *arg, const store_obj *old, const store_obj *cur);
    /* After each batch of changes (and each progress notice): the revision
     * the cache now reflects. */
    void (*on_revision)(void *arg, int64_t revision);
    /* After every complete list (the first marks the cache synced). */
    void (*on_synced)(void *arg);
} store_cache_handlers;

typedef struct store_cache_config {
    const char *prefix; /* "/corral" (no trailing slash); NULL = the default */
    cr_log *log;        /* borrowed; may be NULL */
    /* Loop time one slice of queued changes may take, in µs; 0 = 5 ms.
     * A slice always ends at a revision's end, whatever its budget. */
    int64_t slice_budget_us;
    /* A page of the first load with at least this many keys has its task
     * records decoded on a thread while the loop decodes the page before
     * it (one thread at a time; the loop applies every page in order).
     * 0 = half a page (500), -1 = never. */
    long load_offload_min;
} store_cache_config;

/* Creates a stopped cache (caller owns). base, s and log are borrowed and
 * must outlive it. */
store_cache *store_cache_new(struct event_base *base, store *s, const store_cache_config *cfg);
/* Sends the first list. -1 with err if it cannot be sent. Idempotent. */
int store_cache_start(store_cache *c, cr_err *err);
/* Frees everything; objects still referenced live until unreferenced.
 * NULL is a no-op. */
void store_cache_free(store_cache *c);

/* While a re-list (after a compaction) is being applied, a slice per loop
 * turn, the revision it was taken at; else 0. Until it is all in, readers
 * see part of it: a loop that plans from the whole waits for that revision
 * (store_cache_wait), as ctl_runner does. */
int64_t store_cache_relisting(const store_cache *c);
/* The configured prefix (borrowed). */
const char *store_cache_prefix(const store_cache *c);
bool store_cache_synced(const store_cache *c);
int64_t store_cache_revision(const store_cache *c);

/* Borrowed object for key, or NULL. */
const store_obj *store_cache_get(const store_cache *c, const char *key);
/* Objects whose key starts with prefix, in key order: returns how many and
 * sets *first for store_cache_at(). Positions are valid until the cache
 * changes (the next loop turn). */
size_t store_cache_range(const store_cache *c, const char *prefix, size_t *first);
const store_obj *store_cache_at(const store_cache *c, size_t i);
size_t store_cache_len(const store_cache *c);

/* Subscribes h (copied) with arg. Returns 0; -1 if arg is already
 * subscribed. Changes before the call are not replayed: read the cache. */
int store_cache_subscribe(store_cache *c, const store_cache_handlers *h, void *arg);
/* Removes arg's subscription and its revision waits. No callback reaches
 * arg afterwards, even later in the same dispatch. */
void store_cache_unsubscribe(store_cache *c, void *arg);

/* Calls cb(arg, tag) once the cache reflects `revision` (at once, from the
 * next loop turn, if it already does). Read-your-writes: after a write
 * that landed at R, wait for R before planning from the cache again. */
typedef void (*store_cache_wait_cb)(void *arg, const char *tag);
void store_cache_wait(store_cache *c, int64_t revision, store_cache_wait_cb cb, void *arg,
                      const char *tag);
/* Drops arg's waits (with that tag, or all of them when tag is NULL). */
void store_cache_cancel_waits(store_cache *c, void *arg, const char *tag);

/* ---- feeding by hand ---------------------------------------------------------
 * A cache made with s NULL is never started: tests and offline tools fill
 * it with these, and subscribers are told as for watch events. On a live
 * cache they apply a change ahead of its watch event (which is then
 * skipped), without moving the revision the cache reflects. */

/* Puts key with a raw value (parsed as the watch would). */
void store_cache_feed_raw(store_cache *c, const char *key, const char *value, size_t len,
                          int64_t create_revision, int64_t mod_revision);
/* Puts key with an already parsed value (stolen; NULL: not JSON). A value
 * kept as text keeps json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY). */
void store_cache_feed_json(store_cache *c, const char *key, json_t *value,
                           int64_t create_revision, int64_t mod_revision);
void store_cache_feed_delete(store_cache *c, const char *key, int64_t revision);
/* Empties the cache (not synced any more). */
void store_cache_feed_clear(store_cache *c);
/* Raises the revision (never lowers it) and tells subscribers. */
void store_cache_feed_revision(store_cache *c, int64_t revision);
void store_cache_feed_synced(store_cache *c, bool synced);
/* As if a re-list taken at revision were being applied (0: none); it is all
 * in once the revision is fed. */
void store_cache_feed_relisting(store_cache *c, int64_t revision);

typedef struct store_cache_stats {
    uint64_t lists;   /* complete lists (1 + re-lists after compaction) */
    uint64_t pages;   /* pages of the first load (a re-list is one call) */
    uint64_t pages_offloaded; /* ...of which decoded on a thread */
    uint64_t events;  /* watch events applied */
    uint64_t decodes; /* values decoded (one per key revision) */
    uint64_t own_texts; /* ...of which read from their own text, not parsed
                         * (task records as the bridge writes them) */
    size_t objects;
    size_t bytes; /* sum of the values' sizes in etcd */
} store_cache_stats;

void store_cache_get_stats(const store_cache *c, store_cache_stats *out);

#endif
