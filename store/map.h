/* store_map: a string-keyed hash map (open addressing, linear probing).
 * Keys are copied; values are borrowed pointers the map never frees.
 * Iteration order is unspecified; store_map_keys() returns them sorted. */
#ifndef STORE_MAP_H
#define STORE_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct store_map store_map;

store_map *store_map_new(void);
/* Frees the map and its key copies (not the values). NULL is a no-op. */
void store_map_free(store_map *m);

/* Sets key to value; returns the previous value (or NULL). */
void *store_map_put(store_map *m, const char *key, void *value);
/* Borrowed value, or NULL. */
void *store_map_get(const store_map *m, const char *key);
bool store_map_has(const store_map *m, const char *key);
/* Removes key; returns its value (or NULL). */
void *store_map_del(store_map *m, const char *key);
size_t store_map_len(const store_map *m);

/* Calls fn for every entry; fn must not change the map. */
void store_map_foreach(const store_map *m, void (*fn)(const char *key, void *value, void *arg),
                       void *arg);
/* The keys, sorted, as a NULL-terminated array of borrowed strings (valid
 * until the map changes); caller frees the array only. */
const char **store_map_keys(const store_map *m, size_t *n);

#endif
