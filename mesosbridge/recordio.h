/* Incremental decoder of RecordIO, the framing of the Mesos SUBSCRIBE stream
 * (protocol sheet 1.4): `<decimal length>\n<length bytes>`, records back to
 * back, empty lines before a length tolerated. Input may be split at any byte
 * (HTTP chunks are unrelated to records). Pure: no I/O.
 *
 * Lifecycle: mb_recordio_init -> mb_recordio_feed()... -> mb_recordio_release. */
#ifndef MB_RECORDIO_H
#define MB_RECORDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Called for each complete record; data is borrowed (valid during the call,
 * NUL-terminated at data[len]). Return false to stop decoding: feed then
 * returns 1 at once and drops the rest of this input. */
typedef bool (*mb_record_cb)(const char *data, size_t len, void *arg);

typedef struct mb_recordio {
    int state;     /* 0: reading the length, 1: reading data, 2: failed */
    uint64_t need; /* length being read / bytes of the record expected */
    int ndigits;
    size_t max_record; /* longer records are an error */
    cr_buf rec;        /* partial record */
} mb_recordio;

void mb_recordio_init(mb_recordio *r, size_t max_record);
void mb_recordio_release(mb_recordio *r);
/* Forgets any partial record (a new stream begins). */
void mb_recordio_reset(mb_recordio *r);

/* Decodes len bytes, calling cb for every record they complete. Returns 0
 * when all input was consumed, 1 when cb asked to stop, -1 with err set
 * (CR_EPARSE) when the stream is malformed: a non-digit in a length, more
 * than 20 digits, a zero length or one above max_record. After -1 the
 * decoder stays failed until mb_recordio_reset. */
int mb_recordio_feed(mb_recordio *r, const char *data, size_t len, mb_record_cb cb, void *arg,
                     cr_err *err);

/* Appends one framed record to out (for tests and fakes). */
void mb_recordio_frame(cr_buf *out, const char *data, size_t len);

#endif
