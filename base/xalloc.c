#include "base/xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        oom(strlen(fmt));
    va_end(ap);
    return out;
}

/* ---- the bulk arena ------------------------------------------------------------- */

/* jemalloc's calls, when it is linked in (weak: NULL without). The flag
 * encodings are jemalloc's documented ones (MALLOCX_ARENA, MALLOCX_ZERO,
 * MALLOCX_TCACHE_NONE): no thread cache, so that a freed block goes back
 * to its arena rather than to a cache the other allocations draw from. */
extern void *mallocx(size_t size, int flags) __attribute__((weak));
extern void *rallocx(void *ptr, size_t size, int flags) __attribute__((weak));
extern void dallocx(void *ptr, int flags) __attribute__((weak));
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

#define BULK_ZERO      0x40
#define BULK_NO_TCACHE (1 << 8)
#define BULK_ARENA(a)  ((int)((a) + 1) << 20)

static pthread_once_t bulk_once = PTHREAD_ONCE_INIT;
static int bulk_flags = -1; /* -1: no arena of its own (libc's malloc, or it failed) */

static void bulk_init(void)
{
    unsigned ind;
    size_t len = sizeof(ind);

    if (mallocx && rallocx && dallocx && mallctl &&
        mallctl("arenas.create", &ind, &len, NULL, 0) == 0)
        bulk_flags = BULK_ARENA(ind) | BULK_NO_TCACHE;
}

void *xcalloc_bulk(size_t n)
{
    void *p;

    pthread_once(&bulk_once, bulk_init);
    if (bulk_flags < 0)
        return xcalloc(1, n);
    if (!(p = mallocx(n ? n : 1, bulk_flags | BULK_ZERO)))
        oom(n);
    return p;
}

void *xrealloc_bulk(void *p, size_t n)
{
    void *q;

    if (!p)
        return xcalloc_bulk(n);
    pthread_once(&bulk_once, bulk_init);
    if (bulk_flags < 0)
        return xrealloc(p, n);
    if (!(q = rallocx(p, n ? n : 1, bulk_flags)))
        oom(n);
    return q;
}

void xfree_bulk(void *p)
{
    if (!p)
        return;
    pthread_once(&bulk_once, bulk_init);
    if (bulk_flags < 0)
        free(p);
    else
        dallocx(p, bulk_flags);
}
