#include "mesoslite/ml_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

typedef struct ml_entry {
    struct ml_entry *next;
    uint64_t hash;
    void *val;
    char key[]; /* NUL-terminated copy */
} ml_entry;

struct ml_map {
    ml_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t size;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

ml_map *ml_map_new(void)
{
    ml_map *m = xcalloc(1, sizeof(*m));
    m->nbuckets = 16;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

void ml_map_free(ml_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        ml_entry *e = m->buckets[i];
        while (e) {
            ml_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static ml_entry **find(const ml_map *m, const char *key, uint64_t h)
{
    ml_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *ml_map_get(const ml_map *m, const char *key)
{
    ml_entry **pp = find(m, key, hash_str(key));
    return *pp ? (*pp)->val : NULL;
}

static void grow(ml_map *m)
{
    size_t n = m->nbuckets * 2;
    ml_entry **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        ml_entry *e = m->buckets[i];
        while (e) {
            ml_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *ml_map_put(ml_map *m, const char *key, void *val)
{
    uint64_t h = hash_str(key);
    ml_entry **pp = find(m, key, h);
    size_t klen;
    ml_entry *e;

    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    klen = strlen(key);
    e = xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->size > m->nbuckets)
        grow(m);
    return NULL;
}

void *ml_map_del(ml_map *m, const char *key)
{
    ml_entry **pp = find(m, key, hash_str(key));
    ml_entry *e = *pp;
    void *val;

    if (!e)
        return NULL;
    *pp = e->next;
    val = e->val;
    free(e);
    m->size--;
    return val;
}

size_t ml_map_size(const ml_map *m)
{
    return m->size;
}

void ml_map_iter_init(ml_map_iter *it, const ml_map *m)
{
    it->m = m;
    it->bucket = 0;
    it->next = NULL;
    while (it->bucket < m->nbuckets && !(it->next = m->buckets[it->bucket]))
        it->bucket++;
}

bool ml_map_next(ml_map_iter *it, const char **key, void **val)
{
    ml_entry *e = it->next;
    if (!e)
        return false;
    /* Find the successor before handing e out, so the caller may delete e. */
    it->next = e->next;
    if (!it->next) {
        it->bucket++;
        while (it->bucket < it->m->nbuckets && !(it->next = it->m->buckets[it->bucket]))
            it->bucket++;
    }
    if (key)
        *key = e->key;
    if (val)
        *val = e->val;
    return true;
}
