#include "apiserver/as_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* A sorted array: lookups and prefix ranges by binary search. Inserts move
 * pointers, which is fine for the ~10^5 documents a cluster holds. */
struct as_cache {
    as_entry **v;
    size_t n, cap;
    int64_t revision;
    bool synced;
};

as_cache *as_cache_new(void)
{
    return xcalloc(1, sizeof(as_cache));
}

static void entry_free(as_entry *e)
{
    free(e->key);
    json_decref(e->value);
    free(e);
}

void as_cache_clear(as_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->v[i]);
    c->n = 0;
}

void as_cache_free(as_cache *c)
{
    if (!c)
        return;
    as_cache_clear(c);
    free(c->v);
    free(c);
}

/* Index of the first entry with key >= key. */
static size_t lower_bound(const as_cache *c, const char *key)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->v[mid]->key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void as_cache_put(as_cache *c, const char *key, json_t *value, int64_t create_revision,
                  int64_t mod_revision)
{
    size_t i = lower_bound(c, key);
    as_entry *e;

    if (mod_revision > c->revision)
        c->revision = mod_revision;
    if (i < c->n && strcmp(c->v[i]->key, key) == 0) {
        e = c->v[i];
        json_decref(e->value);
    } else {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        memmove(c->v + i + 1, c->v + i, (c->n - i) * sizeof(*c->v));
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        c->v[i] = e;
        c->n++;
    }
    e->value = value;
    e->create_revision = create_revision;
    e->mod_revision = mod_revision;
}

void as_cache_put_raw(as_cache *c, const char *key, const char *data, size_t len,
                      int64_t create_revision, int64_t mod_revision)
{
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    as_cache_put(c, key, v, create_revision, mod_revision);
}

void as_cache_del(as_cache *c, const char *key, int64_t revision)
{
    size_t i = lower_bound(c, key);

    if (revision > c->revision)
        c->revision = revision;
    if (i >= c->n || strcmp(c->v[i]->key, key) != 0)
        return;
    entry_free(c->v[i]);
    memmove(c->v + i, c->v + i + 1, (c->n - i - 1) * sizeof(*c->v));
    c->n--;
}

void as_cache_set_revision(as_cache *c, int64_t revision)
{
    if (revision > c->revision)
        c->revision = revision;
}

int64_t as_cache_revision(const as_cache *c)
{
    return c->revision;
}

void as_cache_set_synced(as_cache *c, bool synced)
{
    c->synced = synced;
}

bool as_cache_synced(const as_cache *c)
{
    return c->synced;
}

const as_entry *as_cache_get(const as_cache *c, const char *key)
{
    size_t i = lower_bound(c, key);
    if (i < c->n && strcmp(c->v[i]->key, key) == 0)
        return c->v[i];
    return NULL;
}

const json_t *as_cache_value(const as_cache *c, const char *key)
{
    const as_entry *e = as_cache_get(c, key);
    return e ? e->value : NULL;
}

size_t as_cache_range(const as_cache *c, const char *prefix, size_t *first)
{
    size_t i = lower_bound(c, prefix), j = i, plen = strlen(prefix);

    *first = i;
    while (j < c->n && strncmp(c->v[j]->key, prefix, plen) == 0)
        j++;
    return j - i;
}

const as_entry *as_cache_at(const as_cache *c, size_t i)
{
    return i < c->n ? c->v[i] : NULL;
}

size_t as_cache_count(const as_cache *c)
{
    return c->n;
}
