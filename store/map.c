/* store_map: open addressing with linear probing and backward-shift
 * deletion (no tombstones). */
#include "store/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

typedef struct slot {
    char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
} slot;

struct store_map {
    slot *slots;
    size_t cap; /* power of two */
    size_t len;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

store_map *store_map_new(void)
{
    store_map *m = xcalloc(1, sizeof(*m));

    m->cap = 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    return m;
}

void store_map_free(store_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static size_t find(const store_map *m, const char *key, uint64_t h)
{
    size_t i = h & (m->cap - 1);

    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & (m->cap - 1);
    }
    return i; /* empty slot */
}

static void grow(store_map *m)
{
    slot *old = m->slots;
    size_t oldcap = m->cap;

    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key) {
            size_t k = old[i].hash & (m->cap - 1);
            while (m->slots[k].key)
                k = (k + 1) & (m->cap - 1);
            m->slots[k] = old[i];
        }
    }
    free(old);
}

void *store_map_put(store_map *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    size_t i;
    void *prev;

    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    i = find(m, key, h);
    if (m->slots[i].key) {
        prev = m->slots[i].value;
        m->slots[i].value = value;
        return prev;
    }
    m->slots[i].key = xstrdup(key);
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->len++;
    return NULL;
}

void *store_map_get(const store_map *m, const char *key)
{
    size_t i = find(m, key, hash_str(key));

    return m->slots[i].key ? m->slots[i].value : NULL;
}

bool store_map_has(const store_map *m, const char *key)
{
    return m->slots[find(m, key, hash_str(key))].key != NULL;
}

void *store_map_del(store_map *m, const char *key)
{
    size_t i = find(m, key, hash_str(key)), j;
    void *value;

    if (!m->slots[i].key)
        return NULL;
    value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->len--;
    /* shift back the entries that probed past the hole */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].key)
            break;
        home = m->slots[j].hash & (m->cap - 1);
        /* entry at j may move to i if home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return value;
}

size_t store_map_len(const store_map *m)
{
    return m->len;
}

void store_map_foreach(const store_map *m, void (*fn)(const char *key, void *value, void *arg),
                       void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fn(m->slots[i].key, m->slots[i].value, arg);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **store_map_keys(const store_map *m, size_t *n)
{
    const char **keys = xcalloc(m->len + 1, sizeof(*keys));
    size_t k = 0;

    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            keys[k++] = m->slots[i].key;
    qsort(keys, k, sizeof(*keys), cmp_str);
    if (n)
        *n = k;
    return keys;
}
