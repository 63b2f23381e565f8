/* RecordIO decoder; see recordio.h. */
#include "mesosbridge/recordio.h"

#include <inttypes.h>

enum { ST_LEN, ST_DATA, ST_FAILED };

/* A record buffer bigger than this is freed once its record is handled:
 * a burst of offers or an agent list can be megabytes, once in a while,
 * and a buffer kept at that size is that much resident for good. */
#define KEEP_CAP (256 * 1024)

void mb_recordio_init(mb_recordio *r, size_t max_record)
{
    r->state = ST_LEN;
    r->need = 0;
    r->ndigits = 0;
    r->max_record = max_record;
    cr_buf_init(&r->rec);
}

void mb_recordio_release(mb_recordio *r)
{
    cr_buf_release(&r->rec);
}

void mb_recordio_reset(mb_recordio *r)
{
    r->state = ST_LEN;
    r->need = 0;
    r->ndigits = 0;
    cr_buf_reset(&r->rec);
}

static int fail(mb_recordio *r, cr_err *err, const char *what)
{
    r->state = ST_FAILED;
    return cr_error(err, CR_EPARSE, "recordio: %s", what);
}

int mb_recordio_feed(mb_recordio *r, const char *data, size_t len, mb_record_cb cb, void *arg,
                     cr_err *err)
{
    size_t i = 0;
    if (r->state == ST_FAILED)
        return cr_error(err, CR_EPARSE, "recordio: stream already failed");
    while (i < len) {
        if (r->state == ST_LEN) {
            char c = data[i++];
            if (c == '\n') {
                if (r->ndigits == 0)
                    continue; /* empty line before a length */
                if (r->need == 0)
                    return fail(r, err, "zero record length");
                if (r->need > r->max_record)
                    return fail(r, err, "record too large");
                r->state = ST_DATA;
                cr_buf_reset(&r->rec);
                continue;
            }
            if (c == '\r' && r->ndigits == 0)
                continue;
            if (c < '0' || c > '9')
                return fail(r, err, "non-digit in record length");
            if (++r->ndigits > 20 || r->need > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
                return fail(r, err, "record length too long");
            r->need = r->need * 10 + (uint64_t)(c - '0');
            continue;
        }
        /* ST_DATA */
        size_t want = (size_t)r->need - r->rec.len;
        size_t take = len - i < want ? len - i : want;
        cr_buf_add(&r->rec, data + i, take);
        i += take;
        if (r->rec.len == r->need) {
            r->state = ST_LEN;
            r->need = 0;
            r->ndigits = 0;
            bool more = cb(r->rec.data, r->rec.len, arg);
            if (r->rec.cap > KEEP_CAP)
                cr_buf_release(&r->rec);
            if (!more)
                return 1;
        }
    }
    return 0;
}

void mb_recordio_frame(cr_buf *out, const char *data, size_t len)
{
    cr_buf_addf(out, "%zu\n", len);
    cr_buf_add(out, data, len);
}
