/* mb_map: a string-keyed hash map of borrowed-or-owned values (the map owns
 * its keys only). Used for the bridge's caches. Not ordered. */
#ifndef MB_MAP_H
#define MB_MAP_H

#include <stddef.h>
#include <stdint.h>

/* One allocation an entry, its key inside (the bridge's task map has one
 * per task: two allocations were 16 bytes more each). */
typedef struct mb_map_ent {
    void *val;
    struct mb_map_ent *next;
    char key[];
} mb_map_ent;

typedef struct mb_map {
    size_t n, nb;
    mb_map_ent **b;
} mb_map;

#define MB_MAP_INIT \
    {               \
        0, 0, NULL  \
    }

/* Value or NULL. */
void *mb_map_get(const mb_map *m, const char *key);
/* The hash mb_map_get_h takes: a caller looking one key up in many maps
 * computes it once. */
uint64_t mb_map_hash(const char *key);
/* mb_map_get with key's mb_map_hash given. */
void *mb_map_get_h(const mb_map *m, const char *key, uint64_t h);
/* Sets key (copied) to val; returns the previous value (caller disposes) or NULL. */
void *mb_map_put(mb_map *m, const char *key, void *val);
/* Removes key; returns its value (caller disposes) or NULL. */
void *mb_map_del(mb_map *m, const char *key);
/* Frees the table and keys; calls free_val on every value when not NULL. */
void mb_map_release(mb_map *m, void (*free_val)(void *));

/* Iteration: for (mb_map_iter it = mb_map_first(m); it.e; mb_map_next(m, &it)).
 * Do not insert while iterating; deleting the current entry is not allowed
 * either (collect keys first). */
typedef struct mb_map_iter {
    size_t bucket;
    mb_map_ent *e;
} mb_map_iter;

mb_map_iter mb_map_first(const mb_map *m);
void mb_map_next(const mb_map *m, mb_map_iter *it);

#endif
