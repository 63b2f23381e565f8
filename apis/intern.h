/* api_intern: one shared copy of the ids many records repeat.
 *
 * 100,000 task records name one framework, a few thousand agents and hosts
 * and some thousands of requests: a packed record (api_task_pack) points
 * at the shared copy instead of holding its own, ~100 bytes a record.
 *
 * The copies live as long as the process: the table takes at most
 * API_INTERN_MAX strings of at most API_INTERN_MAX_LEN bytes (an agent that
 * registers again gets a new id, so the table would grow without the cap)
 * and then says no; the caller keeps its own copy. Thread-safe: records are
 * packed on the cache's load threads as well as on the loop. */
#ifndef API_INTERN_H
#define API_INTERN_H

#include <stddef.h>

#define API_INTERN_MAX     65536
#define API_INTERN_MAX_LEN 128

/* The shared copy of s, added when the table has none yet; NULL when s is
 * NULL, longer than API_INTERN_MAX_LEN or the table is full. Borrowed for
 * the life of the process: never free it. */
const char *api_intern(const char *s);
/* The shared copy of s if the table has one, else NULL (adds nothing). */
const char *api_intern_find(const char *s);
/* How many strings the table holds. */
size_t api_intern_count(void);

#endif
