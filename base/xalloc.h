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

/* Memory for objects that come and go in bulk: a task's pending document
 * (100,000 of them exist while a big cluster fills, and none once it has).
 * With jemalloc linked in (corrald) they come from an arena of their own:
 * mixed with long-lived objects of the same sizes, the bulk left those
 * scattered over pages it had filled, each page kept resident for one of
 * them (~40 MB at 100,000 tasks). Without jemalloc these are xcalloc and
 * xrealloc. Zeroed like xcalloc; free with xfree_bulk only. */
void *xcalloc_bulk(size_t n);
void *xrealloc_bulk(void *p, size_t n);
void xfree_bulk(void *p);

#endif
