/* as_cache: the API's names for store_cache (see as_cache.h). */
#include "apiserver/as_cache.h"

as_cache *as_cache_new(void)
{
    return store_cache_new(NULL, NULL, NULL);
}

void as_cache_free(as_cache *c)
{
    store_cache_free(c);
}

void as_cache_put(as_cache *c, const char *key, json_t *value, int64_t create_revision,
                  int64_t mod_revision)
{
    store_cache_feed_json(c, key, value, create_revision, mod_revision);
}

void as_cache_put_raw(as_cache *c, const char *key, const char *data, size_t len,
                      int64_t create_revision, int64_t mod_revision)
{
    store_cache_feed_raw(c, key, data, len, create_revision, mod_revision);
}

void as_cache_del(as_cache *c, const char *key, int64_t revision)
{
    store_cache_feed_delete(c, key, revision);
}

void as_cache_clear(as_cache *c)
{
    store_cache_feed_clear(c);
}

void as_cache_set_revision(as_cache *c, int64_t revision)
{
    store_cache_feed_revision(c, revision);
}

void as_cache_set_synced(as_cache *c, bool synced)
{
    store_cache_feed_synced(c, synced);
}

int64_t as_cache_revision(const as_cache *c)
{
    return store_cache_revision(c);
}

bool as_cache_synced(const as_cache *c)
{
    return store_cache_synced(c);
}

const as_entry *as_cache_get(const as_cache *c, const char *key)
{
    return store_cache_get(c, key);
}

const json_t *as_cache_value(const as_cache *c, const char *key)
{
    const store_obj *o = store_cache_get(c, key);
    return o ? o->value : NULL;
}

size_t as_cache_range(const as_cache *c, const char *prefix, size_t *first)
{
    return store_cache_range(c, prefix, first);
}

const as_entry *as_cache_at(const as_cache *c, size_t i)
{
    return store_cache_at(c, i);
}

size_t as_cache_count(const as_cache *c)
{
    return store_cache_len(c);
}

void as_cache_get_stats(const as_cache *c, store_cache_stats *out)
{
    store_cache_get_stats(c, out);
}
