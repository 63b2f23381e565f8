/* libFuzzer target for what the bridge reads from a Mesos SUBSCRIBE stream:
 * arbitrary bytes go through the RecordIO decoder and every record through
 * the typed event decoder (and the helpers the bridge calls on its result).
 *
 * Input: byte 0 picks the chunking (HTTP chunks are unrelated to records)
 * and the record size limit; the rest is the stream. The stream is decoded
 * twice, in one piece and in chunks, and both must give the same records and
 * the same verdict (a decoder that depends on where the input splits is a
 * bug). Each record is also decoded as an event; parse errors are expected
 * and ignored, crashes, leaks and sanitizer reports are bugs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "mesosbridge/events.h"
#include "mesosbridge/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every record seen, framed again, so two decodings compare as bytes. */
typedef struct seen {
    cr_buf out;
    size_t n;
} seen;

static void exercise_event(const char *rec, size_t len)
{
    mb_event ev;
    cr_err err;
    memset(&ev, 0, sizeof(ev));
    cr_err_clear(&err);
    if (mb_event_decode(rec, len, &ev, &err) != 0) {
        if (err.code != CR_EPARSE)
            abort(); /* documented: -1 only with CR_EPARSE */
        (void)cr_err_msg(&err);
        return;
    }
    (void)mb_event_type_name(ev.type);
    if (ev.type == MB_EV_OFFERS) {
        for (size_t i = 0; i < ev.u.offers.n; i++) {
            mb_offer copy;
            (void)mb_offer_attr(&ev.u.offers.v[i], "rack");
            mb_offer_copy(&copy, &ev.u.offers.v[i]);
            mb_offer_release(&copy);
        }
    } else if (ev.type == MB_EV_UPDATE) {
        (void)mb_exit_code_from_message(ev.u.update.message);
    }
    mb_event_release(&ev);
}

static bool on_record(const char *rec, size_t len, void *arg)
{
    seen *s = arg;
    if (rec[len] != '\0')
        abort(); /* documented: NUL-terminated at data[len] */
    mb_recordio_frame(&s->out, rec, len);
    s->n++;
    return true;
}

static bool on_record_decode(const char *rec, size_t len, void *arg)
{
    on_record(rec, len, arg);
    exercise_event(rec, len);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = 1 + (data[0] & 0x1f);                  /* 1..32 bytes */
    size_t max_record = (data[0] & 0x20) ? 64 : 1u << 20; /* small limit too */
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    seen whole = {.n = 0}, parts = {.n = 0};
    mb_recordio r1, r2;
    cr_err e1, e2;
    cr_buf_init(&whole.out);
    cr_buf_init(&parts.out);
    cr_err_clear(&e1);
    cr_err_clear(&e2);

    mb_recordio_init(&r1, max_record);
    int rc1 = mb_recordio_feed(&r1, s, n, on_record_decode, &whole, &e1);
    if (rc1 == -1 && e1.code != CR_EPARSE)
        abort();

    mb_recordio_init(&r2, max_record);
    int rc2 = 0;
    for (size_t off = 0; off < n && rc2 == 0; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        rc2 = mb_recordio_feed(&r2, s + off, len, on_record, &parts, &e2);
    }
    if (rc1 != rc2 || whole.n != parts.n || whole.out.len != parts.out.len ||
        (whole.out.len && memcmp(whole.out.data, parts.out.data, whole.out.len) != 0))
        abort(); /* the verdict depends on how the input was split */

    /* A failed decoder stays failed until reset, then decodes afresh. */
    if (rc2 == -1) {
        cr_err e3;
        cr_err_clear(&e3);
        if (mb_recordio_feed(&r2, "1\nx", 3, on_record, &parts, &e3) != -1)
            abort();
        mb_recordio_reset(&r2);
        size_t before = parts.n;
        if (mb_recordio_feed(&r2, "1\nx", 3, on_record, &parts, &e3) != 0 || parts.n != before + 1)
            abort();
    }

    mb_recordio_release(&r1);
    mb_recordio_release(&r2);
    cr_buf_release(&whole.out);
    cr_buf_release(&parts.out);

    /* The whole input as one event too, so the JSON decoder is reached
     * without having to grow a valid frame first. */
    exercise_event(s, n);
    return 0;
}
