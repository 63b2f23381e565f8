#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void cr_buf_init(cr_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    cr_buf_grow(b, 0);
}

void cr_buf_release(cr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cr_buf_reset(cr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cr_buf_grow(cr_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;

    if (b->data && need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

void cr_buf_add(cr_buf *b, const void *data, size_t len)
{
    cr_buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void cr_buf_adds(cr_buf *b, const char *s)
{
    cr_buf_add(b, s, strlen(s));
}

void cr_buf_addch(cr_buf *b, char c)
{
    cr_buf_add(b, &c, 1);
}

void cr_buf_addf(cr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    cr_buf_grow(b, 64);
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        cr_buf_grow(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void cr_buf_consume(cr_buf *b, size_t n)
{
    if (n >= b->len) {
        cr_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *cr_buf_detach(cr_buf *b, size_t *len)
{
    char *out;

    cr_buf_grow(b, 0);
    out = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

const char *cr_buf_str(const cr_buf *b)
{
    return b->data ? b->data : "";
}
