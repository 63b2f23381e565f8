#include "test/lib/cr_test.h"

#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesoslite/ml_recordio.h"

static const char *RECORDS[] = {
    "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"f-0000\"}}}",
    "{\"type\":\"HEARTBEAT\"}",
    ("{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},"
     "\"state\":\"TASK_RUNNING\"}}}"),
};
#define NREC (sizeof(RECORDS) / sizeof(RECORDS[0]))

static void test_frame_exact_bytes(void **state)
{
    cr_buf b = CR_BUF_INIT;
    ml_recordio_frame(&b, "{\"type\":\"HEARTBEAT\"}", 20);
    assert_string_equal(b.data, "20\n{\"type\":\"HEARTBEAT\"}");
    ml_recordio_frame(&b, "ab", 2);
    assert_string_equal(b.data, "20\n{\"type\":\"HEARTBEAT\"}2\nab");
    cr_buf_release(&b);
}

/* Feeds the stream in two pieces split at every byte, then one byte at a
 * time: every record comes out whole and in order. */
static void test_decode_every_split(void **state)
{
    cr_buf stream = CR_BUF_INIT;
    cr_err err;

    for (size_t i = 0; i < NREC; i++)
        ml_recordio_frame(&stream, RECORDS[i], strlen(RECORDS[i]));
    for (size_t split = 0; split <= stream.len; split++) {
        ml_recordio r;
        size_t got = 0;
        char *rec;
        size_t len;
        int rc;
        ml_recordio_init(&r, 1 << 20);
        ml_recordio_feed(&r, stream.data, split);
        while ((rc = ml_recordio_next(&r, &rec, &len, &err)) == 1) {
            assert_int_equal(len, strlen(RECORDS[got]));
            assert_memory_equal(rec, RECORDS[got], len);
            free(rec);
            got++;
        }
        assert_int_equal(rc, 0);
        ml_recordio_feed(&r, stream.data + split, stream.len - split);
        while ((rc = ml_recordio_next(&r, &rec, &len, &err)) == 1) {
            assert_string_equal(rec, RECORDS[got]);
            free(rec);
            got++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(got, NREC);
        ml_recordio_release(&r);
    }
    {
        ml_recordio r;
        size_t got = 0;
        char *rec;
        size_t len;
        ml_recordio_init(&r, 1 << 20);
        for (size_t i = 0; i < stream.len; i++) {
            ml_recordio_feed(&r, stream.data + i, 1);
            while (ml_recordio_next(&r, &rec, &len, &err) == 1) {
                assert_string_equal(rec, RECORDS[got]);
                free(rec);
                got++;
            }
        }
        assert_int_equal(got, NREC);
        ml_recordio_release(&r);
    }
    cr_buf_release(&stream);
}

static void test_decode_tolerates_empty_lines(void **state)
{
    ml_recordio r;
    char *rec;
    size_t len;
    cr_err err;

    ml_recordio_init(&r, 100);
    ml_recordio_feed(&r, "\n\n3\nabc\n2\nde", 12);
    assert_int_equal(ml_recordio_next(&r, &rec, &len, &err), 1);
    assert_string_equal(rec, "abc");
    free(rec);
    assert_int_equal(ml_recordio_next(&r, &rec, &len, &err), 1);
    assert_string_equal(rec, "de");
    free(rec);
    assert_int_equal(ml_recordio_next(&r, &rec, &len, &err), 0);
    ml_recordio_release(&r);
}

static void test_decode_rejects_bad_lengths(void **state)
{
    const char *bad[] = {"x\nabc", "0\n", "12a\n", "123456789012345678901\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ml_recordio r;
        char *rec = NULL;
        size_t len;
        cr_err err;
        ml_recordio_init(&r, 100);
        ml_recordio_feed(&r, bad[i], strlen(bad[i]));
        assert_int_equal(ml_recordio_next(&r, &rec, &len, &err), -1);
        assert_int_equal(err.code, CR_EPARSE);
        assert_null(rec);
        ml_recordio_release(&r);
    }
    {
        ml_recordio r;
        char *rec = NULL;
        size_t len;
        cr_err err;
        ml_recordio_init(&r, 4);
        ml_recordio_feed(&r, "5\nabcde", 7);
        assert_int_equal(ml_recordio_next(&r, &rec, &len, &err), -1);
        assert_int_equal(err.code, CR_ETOOLARGE);
        ml_recordio_release(&r);
    }
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_frame_exact_bytes),
    cmocka_unit_test(test_decode_every_split),
    cmocka_unit_test(test_decode_tolerates_empty_lines),
    cmocka_unit_test(test_decode_rejects_bad_lengths),
};
CR_TEST_MAIN(tests)
