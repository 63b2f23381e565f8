/* ml_map: a string-keyed hash map of borrowed void * values (chaining,
 * power-of-two buckets, grows at load 1). Keys are copied; values are never
 * freed by the map.
 *
 * Iteration order is unspecified. While iterating, deleting the entry just
 * returned is allowed; any other insertion or deletion is not. */
#ifndef ML_MAP_H
#define ML_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ml_map ml_map;

ml_map *ml_map_new(void);
/* Frees the map and its keys, not the values. ml_map_free(NULL) is a no-op. */
void ml_map_free(ml_map *m);
/* Returns the value under key (borrowed) or NULL. */
void *ml_map_get(const ml_map *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *ml_map_put(ml_map *m, const char *key, void *val);
/* Removes key; returns its value or NULL when absent. */
void *ml_map_del(ml_map *m, const char *key);
size_t ml_map_size(const ml_map *m);

typedef struct ml_map_iter {
    const ml_map *m;
    size_t bucket;
    void *next; /* the entry to return next */
} ml_map_iter;

void ml_map_iter_init(ml_map_iter *it, const ml_map *m);
/* Advances; key and val are borrowed. Returns false at the end. */
bool ml_map_next(ml_map_iter *it, const char **key, void **val);

#endif
