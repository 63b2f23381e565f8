/* Allocation wrappers: out of memory aborts, so callers never check NULL.
 * Every function returns memory the caller owns and frees with free(). */
#ifndef CR_XALLOC_H
#define CR_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);         /* xstrdup(NULL) returns NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
