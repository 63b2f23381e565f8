#include "mesoslite/ml_recordio.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"

void ml_recordio_frame(cr_buf *out, const char *data, size_t len)
{
    cr_buf_addf(out, "%zu\n", len);
    cr_buf_add(out, data, len);
}

void ml_recordio_init(ml_recordio *r, size_t max_record)
{
    cr_buf_init(&r->in);
    r->max_record = max_record;
}

void ml_recordio_release(ml_recordio *r)
{
    cr_buf_release(&r->in);
}

void ml_recordio_feed(ml_recordio *r, const char *data, size_t len)
{
    cr_buf_add(&r->in, data, len);
}

int ml_recordio_next(ml_recordio *r, char **rec, size_t *len, cr_err *err)
{
    const char *p = r->in.data;
    size_t n = r->in.len, i = 0, digits = 0;
    uint64_t size = 0;

    while (i < n && p[i] == '\n') /* empty lines before a length */
        i++;
    for (; i < n && p[i] != '\n'; i++) {
        if (p[i] < '0' || p[i] > '9')
            return cr_error(err, CR_EPARSE, "recordio: unexpected byte 0x%02x in a record length",
                            (unsigned char)p[i]);
        if (++digits > ML_RECORDIO_MAX_DIGITS)
            return cr_error(err, CR_EPARSE, "recordio: record length has too many digits");
        size = size * 10 + (uint64_t)(p[i] - '0');
    }
    if (i >= n)
        return 0; /* length line not complete yet */
    if (digits == 0 || size == 0)
        return cr_error(err, CR_EPARSE, "recordio: zero-length record");
    if (size > r->max_record)
        return cr_error(err, CR_ETOOLARGE, "recordio: record of %llu bytes exceeds %zu",
                        (unsigned long long)size, r->max_record);
    i++; /* the LF */
    if (n - i < size)
        return 0;
    *rec = xmalloc((size_t)size + 1);
    memcpy(*rec, p + i, (size_t)size);
    (*rec)[size] = '\0';
    *len = (size_t)size;
    cr_buf_consume(&r->in, i + (size_t)size);
    return 1;
}
