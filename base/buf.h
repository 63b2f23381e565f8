/* cr_buf: a growable byte buffer, always NUL-terminated.
 * Lifecycle: CR_BUF_INIT or cr_buf_init() -> appends -> cr_buf_release()
 * (or cr_buf_detach() to take the bytes). */
#ifndef CR_BUF_H
#define CR_BUF_H

#include <stddef.h>

typedef struct cr_buf {
    char *data; /* never NULL after init: points at "" when empty */
    size_t len;
    size_t cap;
} cr_buf;

#define CR_BUF_INIT {NULL, 0, 0}

void cr_buf_init(cr_buf *b);
void cr_buf_release(cr_buf *b);
void cr_buf_reset(cr_buf *b); /* len = 0, keeps the allocation */
void cr_buf_grow(cr_buf *b, size_t extra);
void cr_buf_add(cr_buf *b, const void *data, size_t len);
void cr_buf_adds(cr_buf *b, const char *s);
void cr_buf_addch(cr_buf *b, char c);
void cr_buf_addf(cr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (consumed input). */
void cr_buf_consume(cr_buf *b, size_t n);
/* Returns the bytes (caller owns, free()) and leaves b empty. */
char *cr_buf_detach(cr_buf *b, size_t *len);
/* Returns the contents, borrowed; "" for an unused CR_BUF_INIT buffer. */
const char *cr_buf_str(const cr_buf *b);

#endif
