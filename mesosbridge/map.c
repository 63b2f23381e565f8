/* String-keyed hash map; see map.h. */
#include "mesosbridge/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

uint64_t mb_map_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* m has buckets. */
static mb_map_ent **slot_h(const mb_map *m, const char *key, uint64_t h)
{
    mb_map_ent **p = &m->b[h % m->nb];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    return p;
}

static mb_map_ent **slot(const mb_map *m, const char *key)
{
    return m->nb ? slot_h(m, key, mb_map_hash(key)) : NULL;
}

void *mb_map_get(const mb_map *m, const char *key)
{
    mb_map_ent **p = slot(m, key);
    return p && *p ? (*p)->val : NULL;
}

void *mb_map_get_h(const mb_map *m, const char *key, uint64_t h)
{
    mb_map_ent **p = m->n ? slot_h(m, key, h) : NULL;
    return p && *p ? (*p)->val : NULL;
}

static void grow(mb_map *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    mb_map_ent **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        mb_map_ent *e = m->b[i];
        while (e) {
            mb_map_ent *next = e->next;
            size_t k = mb_map_hash(e->key) % nb;
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void *mb_map_put(mb_map *m, const char *key, void *val)
{
    if (m->n + 1 > m->nb)
        grow(m);
    mb_map_ent **p = slot(m, key);
    if (*p) {
        void *old = (*p)->val;
        (*p)->val = val;
        return old;
    }
    size_t klen = strlen(key);
    mb_map_ent *e = xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->next = NULL;
    e->val = val;
    *p = e;
    m->n++;
    return NULL;
}

void *mb_map_del(mb_map *m, const char *key)
{
    mb_map_ent **p = slot(m, key);
    if (!p || !*p)
        return NULL;
    mb_map_ent *e = *p;
    void *val = e->val;
    *p = e->next;
    free(e);
    m->n--;
    return val;
}

void mb_map_release(mb_map *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        mb_map_ent *e = m->b[i];
        while (e) {
            mb_map_ent *next = e->next;
            if (free_val)
                free_val(e->val);
            free(e);
            e = next;
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

mb_map_iter mb_map_first(const mb_map *m)
{
    mb_map_iter it = {0, NULL};
    for (; it.bucket < m->nb; it.bucket++)
        if ((it.e = m->b[it.bucket]))
            return it;
    return it;
}

void mb_map_next(const mb_map *m, mb_map_iter *it)
{
    if (it->e && it->e->next) {
        it->e = it->e->next;
        return;
    }
    it->e = NULL;
    for (it->bucket++; it->bucket < m->nb; it->bucket++)
        if ((it->e = m->b[it->bucket]))
            return;
}
