/* RecordIO framing of Mesos streams: `<decimal length>\n<length bytes>`,
 * records back to back. The encoder is what mesoslite writes; the decoder is
 * incremental (input may be split anywhere) and tolerates empty lines before
 * a length, as Mesos' reference reader does.
 * Lifecycle: ml_recordio_init -> feed/next ... -> ml_recordio_release. */
#ifndef ML_RECORDIO_H
#define ML_RECORDIO_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Appends one framed record to out. */
void ml_recordio_frame(cr_buf *out, const char *data, size_t len);

/* Longest accepted length prefix (20 digits fit a uint64). */
#define ML_RECORDIO_MAX_DIGITS 20

typedef struct ml_recordio {
    cr_buf in;         /* unconsumed input */
    size_t max_record; /* records longer than this are an error */
} ml_recordio;

void ml_recordio_init(ml_recordio *r, size_t max_record);
void ml_recordio_release(ml_recordio *r);
void ml_recordio_feed(ml_recordio *r, const char *data, size_t len);
/* Takes the next complete record: returns 1 and sets *rec (caller owns,
 * free(), NUL-terminated) and *len; 0 when more input is needed; -1 with err
 * set when the stream is malformed (a non-digit in a length, a zero or too
 * large length). */
int ml_recordio_next(ml_recordio *r, char **rec, size_t *len, cr_err *err);

#endif
