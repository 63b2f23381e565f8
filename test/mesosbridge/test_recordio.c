/* Unit tests of mesosbridge/recordio.c: framing, splits at every byte,
 * malformed streams. */
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesosbridge/recordio.h"
#include "test/lib/cr_test.h"

typedef struct sink {
    size_t n;
    char *recs[16];
    size_t stop_after; /* 0: never */
} sink;

static bool collect(const char *data, size_t len, void *arg)
{
    sink *s = arg;
    assert_int_equal(data[len], '\0');
    assert_true(s->n < 16);
    s->recs[s->n++] = xstrndup(data, len);
    return !(s->stop_after && s->n == s->stop_after);
}

static void sink_free(sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->recs[i]);
    s->n = 0;
}

static const char *const recs[] = {"{\"type\":\"HEARTBEAT\"}", "x",
                                   "{\"type\":\"SUBSCRIBED\",\"subscribed\":{}}", "0123456789\n\n"};

static void build(cr_buf *b)
{
    cr_buf_init(b);
    for (size_t i = 0; i < 4; i++) {
        if (i == 2)
            cr_buf_adds(b, "\n\n"); /* empty lines before a length are tolerated */
        mb_recordio_frame(b, recs[i], strlen(recs[i]));
    }
}

static void check(sink *s)
{
    assert_int_equal(s->n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s->recs[i], recs[i]);
}

static void test_whole(void **state)
{
    cr_buf b;
    mb_recordio r;
    sink s = {0};
    cr_err err;
    build(&b);
    assert_true(strncmp(b.data, "20\n{\"type\":\"HEARTBEAT\"}1\nx", 26) == 0);
    mb_recordio_init(&r, 1 << 20);
    assert_int_equal(mb_recordio_feed(&r, b.data, b.len, collect, &s, &err), 0);
    check(&s);
    sink_free(&s);
    mb_recordio_release(&r);
    cr_buf_release(&b);
}

/* A record of a megabyte is delivered whole, and its buffer does not stay
 * that big once it is handled; a small record after it still arrives. */
static void test_big_record_not_kept(void **state)
{
    size_t big = 1 << 20;
    char *payload = xmalloc(big);
    cr_buf b;
    mb_recordio r;
    sink s = {0};
    cr_err err;

    memset(payload, 'a', big);
    cr_buf_init(&b);
    mb_recordio_frame(&b, payload, big);
    mb_recordio_init(&r, 4 << 20);
    assert_int_equal(mb_recordio_feed(&r, b.data, b.len, collect, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(strlen(s.recs[0]), big);
    assert_true(r.rec.cap < big);
    cr_buf_reset(&b);
    mb_recordio_frame(&b, "x", 1);
    assert_int_equal(mb_recordio_feed(&r, b.data, b.len, collect, &s, &err), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.recs[1], "x");
    sink_free(&s);
    mb_recordio_release(&r);
    cr_buf_release(&b);
    free(payload);
}

/* Every split point into two pieces, and byte-at-a-time. */
static void test_every_split(void **state)
{
    cr_buf b;
    cr_err err;
    build(&b);
    for (size_t cut = 0; cut <= b.len; cut++) {
        mb_recordio r;
        sink s = {0};
        mb_recordio_init(&r, 1 << 20);
        assert_int_equal(mb_recordio_feed(&r, b.data, cut, collect, &s, &err), 0);
        assert_int_equal(mb_recordio_feed(&r, b.data + cut, b.len - cut, collect, &s, &err), 0);
        check(&s);
        sink_free(&s);
        mb_recordio_release(&r);
    }
    mb_recordio r;
    sink s = {0};
    mb_recordio_init(&r, 1 << 20);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(mb_recordio_feed(&r, b.data + i, 1, collect, &s, &err), 0);
    check(&s);
    sink_free(&s);
    mb_recordio_release(&r);
    cr_buf_release(&b);
}

static void test_stop(void **state)
{
    cr_buf b;
    mb_recordio r;
    sink s = {0};
    cr_err err;
    build(&b);
    s.stop_after = 1;
    mb_recordio_init(&r, 1 << 20);
    assert_int_equal(mb_recordio_feed(&r, b.data, b.len, collect, &s, &err), 1);
    assert_int_equal(s.n, 1);
    sink_free(&s);
    mb_recordio_release(&r);
    cr_buf_release(&b);
}

static void test_malformed(void **state)
{
    const char *bad[] = {"2x\nab", "0\n",           "123456789012345678901\n",
                         "-1\nx",  "5\nhello9\nab", NULL};
    for (size_t i = 0; bad[i]; i++) {
        mb_recordio r;
        sink s = {0};
        cr_err err;
        mb_recordio_init(&r, 8);
        int rc = mb_recordio_feed(&r, bad[i], strlen(bad[i]), collect, &s, &err);
        assert_int_equal(rc, -1);
        assert_int_equal(err.code, CR_EPARSE);
        /* stays failed until reset */
        assert_int_equal(mb_recordio_feed(&r, "1\nx", 3, collect, &s, &err), -1);
        mb_recordio_reset(&r);
        size_t before = s.n;
        assert_int_equal(mb_recordio_feed(&r, "1\nx", 3, collect, &s, &err), 0);
        assert_int_equal(s.n, before + 1);
        sink_free(&s);
        mb_recordio_release(&r);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_whole),
    cmocka_unit_test(test_every_split),
    cmocka_unit_test(test_stop),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_big_record_not_kept),
};

CR_TEST_MAIN(tests)
