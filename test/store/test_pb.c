/* etcd's KV.Txn and Watch.Watch in protobuf (store/pb.c): the TxnRequest
 * a store_txn encodes to and the WatchRequest that creates a watch, read
 * back by a walker of this file's own; TxnResponses and WatchResponses
 * built by hand, parsed into store_results and store_watch_msgs; malformed
 * answers refused; gRPC errors turned into Corral's. */
#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "store/codec.h"

/* --- a protobuf walker, independent of pb.c ---------------------------------- */

enum { VARINT = 0, I64 = 1, LEN = 2, I32 = 5 };

typedef struct pfield {
    unsigned num;
    unsigned type;
    uint64_t v;                /* VARINT */
    const unsigned char *data; /* LEN */
    size_t len;
} pfield;

#define MAXF 64

static uint64_t walk_varint(const unsigned char **p, const unsigned char *end)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 10; i++) {
        assert_true(*p < end); /* no truncated varint */
        v |= (uint64_t)(**p & 0x7f) << (7 * i);
        if (!(*(*p)++ & 0x80))
            return v;
    }
    fail_msg("varint longer than 10 bytes");
    return 0;
}

/* Every field of one message, in order; fails the test on anything but
 * varint and length-delimited fields, which are all an encoder of
 * TxnRequest or WatchRequest may write. */
static size_t walk(const void *data, size_t len, pfield *out)
{
    const unsigned char *p = data, *end = p + len;
    size_t n = 0;

    while (p < end) {
        uint64_t key = walk_varint(&p, end);
        pfield *f;

        assert_true(n < MAXF);
        f = &out[n++];
        memset(f, 0, sizeof(*f));
        f->num = (unsigned)(key >> 3);
        f->type = (unsigned)(key & 7);
        assert_true(f->num > 0);
        if (f->type == VARINT) {
            f->v = walk_varint(&p, end);
        } else if (f->type == LEN) {
            f->len = (size_t)walk_varint(&p, end);
            assert_true(f->len <= (size_t)(end - p));
            f->data = p;
            p += f->len;
        } else {
            fail_msg("wire type %u in field %u", f->type, f->num);
        }
    }
    return n;
}

/* The only field numbered num (NULL when absent; two fail the test). */
static const pfield *field(const pfield *fs, size_t n, unsigned num)
{
    const pfield *found = NULL;

    for (size_t i = 0; i < n; i++) {
        if (fs[i].num != num)
            continue;
        assert_null(found);
        found = &fs[i];
    }
    return found;
}

/* A proto3 varint field: its value, or 0 when it is absent. */
static uint64_t varint_or_0(const pfield *fs, size_t n, unsigned num)
{
    const pfield *f = field(fs, n, num);

    if (!f)
        return 0;
    assert_int_equal(f->type, VARINT);
    return f->v;
}

static void expect_varint(const pfield *fs, size_t n, unsigned num, uint64_t v)
{
    const pfield *f = field(fs, n, num);

    assert_non_null(f);
    assert_int_equal(f->type, VARINT);
    assert_true(f->v == v);
}

static void expect_bytes(const pfield *fs, size_t n, unsigned num, const void *data, size_t len)
{
    const pfield *f = field(fs, n, num);

    assert_non_null(f);
    assert_int_equal(f->type, LEN);
    assert_int_equal(f->len, len);
    if (len)
        assert_memory_equal(f->data, data, len);
}

/* Fails the test if a field's number is not in allowed (0-terminated). */
static void only_fields(const pfield *fs, size_t n, const unsigned *allowed)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = false;

        for (const unsigned *a = allowed; *a; a++)
            ok = ok || fs[i].num == *a;
        if (!ok)
            fail_msg("unexpected field %u", fs[i].num);
    }
}

/* The frame's prefix checked; the TxnRequest's fields in out. */
static size_t walk_frame(const char *buf, size_t len, pfield *out)
{
    const unsigned char *p = (const unsigned char *)buf;

    assert_true(len >= 5);
    assert_int_equal(p[0], 0); /* not compressed */
    assert_int_equal((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4], len - 5);
    return walk(p + 5, len - 5, out);
}

/* etcd's enums (rpc.proto) */
enum { EQUAL = 0, GREATER = 1, LESS = 2, NOT_EQUAL = 3 };
enum { T_VERSION = 0, T_CREATE = 1, T_MOD = 2, T_VALUE = 3 };
enum { REQ_RANGE = 1, REQ_PUT = 2, REQ_DELETE = 3 };

/* One Compare (a TxnRequest's field 1): result, target, key and the one
 * field of its target_union (4 version, 5 create_revision, 6 mod_revision:
 * n; 7 value), written even when zero as a oneof member must be. */
static void check_cmp(const pfield *f, uint64_t result, uint64_t target, const char *key,
                      unsigned ufield, uint64_t n, const void *value, size_t vlen)
{
    pfield fs[MAXF];
    size_t nf;
    const unsigned allowed[] = {1, 2, 3, ufield, 0};

    assert_int_equal(f->num, 1);
    assert_int_equal(f->type, LEN);
    nf = walk(f->data, f->len, fs);
    only_fields(fs, nf, allowed);
    assert_true(varint_or_0(fs, nf, 1) == result);
    assert_true(varint_or_0(fs, nf, 2) == target);
    expect_bytes(fs, nf, 3, key, strlen(key));
    if (ufield == 7)
        expect_bytes(fs, nf, 7, value, vlen);
    else
        expect_varint(fs, nf, ufield, n);
}

typedef struct want_op {
    unsigned kind; /* REQ_* */
    const char *key;
    const char *end; /* range_end, NULL when none */
    size_t end_len;
    const char *value; /* put */
    size_t vlen;
    uint64_t lease;
    bool prev_kv;
} want_op;

/* One RequestOp as field `branch` (2 success, 3 failure) of a TxnRequest:
 * exactly one request, of the kind wanted, with the fields wanted and no
 * others. */
static void check_op(const pfield *f, unsigned branch, const want_op *w)
{
    pfield outer[MAXF], fs[MAXF];
    size_t no, nf;

    assert_int_equal(f->num, branch);
    assert_int_equal(f->type, LEN);
    no = walk(f->data, f->len, outer);
    assert_int_equal(no, 1);
    assert_int_equal(outer[0].num, w->kind);
    assert_int_equal(outer[0].type, LEN);
    nf = walk(outer[0].data, outer[0].len, fs);
    if (w->key[0] || field(fs, nf, 1)) /* proto3 may leave an empty key out */
        expect_bytes(fs, nf, 1, w->key, strlen(w->key));
    switch (w->kind) {
    case REQ_PUT: {
        const unsigned allowed[] = {1, 2, 3, 4, 0};

        only_fields(fs, nf, allowed);
        if (w->vlen || field(fs, nf, 2))
            expect_bytes(fs, nf, 2, w->value, w->vlen);
        if (w->lease)
            expect_varint(fs, nf, 3, w->lease);
        else
            assert_null(field(fs, nf, 3));
        if (w->prev_kv)
            expect_varint(fs, nf, 4, 1);
        else
            assert_null(field(fs, nf, 4));
        break;
    }
    case REQ_DELETE:
    case REQ_RANGE: {
        const unsigned allowed[] = {1, 2, w->kind == REQ_DELETE ? 3 : 1, 0};

        only_fields(fs, nf, allowed);
        if (w->end)
            expect_bytes(fs, nf, 2, w->end, w->end_len);
        else
            assert_null(field(fs, nf, 2));
        if (w->kind == REQ_DELETE && w->prev_kv)
            expect_varint(fs, nf, 3, 1);
        else if (w->kind == REQ_DELETE)
            assert_null(field(fs, nf, 3));
        break;
    }
    default:
        fail_msg("bad kind %u", w->kind);
    }
}

/* The TxnRequest's fields in the order etcd's own encoder writes them:
 * compares, then success ops, then failure ops; their counts. */
static void check_layout(const pfield *fs, size_t n, size_t ncmp, size_t nsucc, size_t nfail)
{
    assert_int_equal(n, ncmp + nsucc + nfail);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fs[i].num, i < ncmp ? 1u : i < ncmp + nsucc ? 2u : 3u);
}

/* --- encoding -------------------------------------------------------------------- */

static void test_pb_encode_empty_txn(void **state)
{
    store_txn *t = store_txn_new();
    size_t len = 99;
    char *s = store_txn_encode_pb(t, &len);

    assert_int_equal(len, 5);
    assert_memory_equal(s, "\0\0\0\0\0", 5);
    free(s);
    store_txn_free(t);
}

static void test_pb_encode_compares(void **state)
{
    store_txn *t = store_txn_new();
    pfield fs[MAXF];
    size_t len, n;
    char *s;

    store_txn_if_mod(t, "/a/mod", STORE_EQ, 5);
    store_txn_if_create(t, "/a/create", STORE_GT, 0);
    store_txn_if_version(t, "/a/version", STORE_LT, 300); /* a 2-byte varint */
    store_txn_if_value(t, "/a/value", STORE_NE, "x\0y", 3);
    store_txn_if_mod(t, "m", STORE_NE, (int64_t)1 << 40);
    store_txn_if_value(t, "e", STORE_EQ, "", 0);
    store_txn_if_create(t, "c", STORE_LT, 7);
    store_txn_if_version(t, "v", STORE_GT, 0);
    s = store_txn_encode_pb(t, &len);
    n = walk_frame(s, len, fs);
    check_layout(fs, n, 8, 0, 0);
    check_cmp(&fs[0], EQUAL, T_MOD, "/a/mod", 6, 5, NULL, 0);
    check_cmp(&fs[1], GREATER, T_CREATE, "/a/create", 5, 0, NULL, 0);
    check_cmp(&fs[2], LESS, T_VERSION, "/a/version", 4, 300, NULL, 0);
    check_cmp(&fs[3], NOT_EQUAL, T_VALUE, "/a/value", 7, 0, "x\0y", 3);
    check_cmp(&fs[4], NOT_EQUAL, T_MOD, "m", 6, (uint64_t)1 << 40, NULL, 0);
    check_cmp(&fs[5], EQUAL, T_VALUE, "e", 7, 0, "", 0);
    check_cmp(&fs[6], LESS, T_CREATE, "c", 5, 7, NULL, 0);
    check_cmp(&fs[7], GREATER, T_VERSION, "v", 4, 0, NULL, 0);
    free(s);
    store_txn_free(t);
}

static void test_pb_encode_ops(void **state)
{
    store_txn *t = store_txn_new();
    store_put_opts both = {.lease = 0x1234567, .prev_kv = true};
    store_put_opts lease = {.lease = 12}, prev = {.prev_kv = true};
    const char bin[] = {'a', 0, (char)0xff, 'b'};
    char *dir_end, *ff_end, *all_end;
    size_t dir_len, ff_len, all_len, len, n;
    pfield fs[MAXF];
    char *s;

    dir_end = store_prefix_end("/dir/", 5, &dir_len);
    ff_end = store_prefix_end("a\xff\xff", 3, &ff_len);
    all_end = store_prefix_end("", 0, &all_len);
    store_txn_put(t, STORE_THEN, "/k1", "val", 3, &both);
    store_txn_put(t, STORE_THEN, "/k2", bin, sizeof(bin), NULL);
    store_txn_put(t, STORE_THEN, "/k3", "v", 1, &lease);
    store_txn_put(t, STORE_THEN, "/k4", "", 0, &prev);
    store_txn_delete(t, STORE_THEN, "/k5", false);
    store_txn_delete(t, STORE_THEN, "/dir/", true);
    store_txn_get(t, STORE_ELSE, "/k6", false);
    store_txn_get(t, STORE_ELSE, "/dir/", true);
    store_txn_get(t, STORE_ELSE, "a\xff\xff", true);
    store_txn_get(t, STORE_ELSE, "", true);
    store_txn_delete(t, STORE_ELSE, "/k7", false);
    t->els[t->nels - 1].prev_kv = true; /* no builder sets it on a delete yet */
    store_txn_put(t, STORE_ELSE, "/k8", "w", 1, NULL);
    s = store_txn_encode_pb(t, &len);
    n = walk_frame(s, len, fs);
    check_layout(fs, n, 0, 6, 6);
    {
        const want_op then[] = {
            {.kind = REQ_PUT,
             .key = "/k1",
             .value = "val",
             .vlen = 3,
             .lease = 0x1234567,
             .prev_kv = true},
            {.kind = REQ_PUT, .key = "/k2", .value = bin, .vlen = sizeof(bin)},
            {.kind = REQ_PUT, .key = "/k3", .value = "v", .vlen = 1, .lease = 12},
            {.kind = REQ_PUT, .key = "/k4", .value = "", .vlen = 0, .prev_kv = true},
            {.kind = REQ_DELETE, .key = "/k5"},
            {.kind = REQ_DELETE, .key = "/dir/", .end = dir_end, .end_len = dir_len},
        };
        const want_op els[] = {
            {.kind = REQ_RANGE, .key = "/k6"},
            {.kind = REQ_RANGE, .key = "/dir/", .end = dir_end, .end_len = dir_len},
            {.kind = REQ_RANGE, .key = "a\xff\xff", .end = ff_end, .end_len = ff_len},
            {.kind = REQ_RANGE, .key = "", .end = all_end, .end_len = all_len},
            {.kind = REQ_DELETE, .key = "/k7", .prev_kv = true},
            {.kind = REQ_PUT, .key = "/k8", .value = "w", .vlen = 1},
        };

        for (size_t i = 0; i < 6; i++)
            check_op(&fs[i], 2, &then[i]);
        for (size_t i = 0; i < 6; i++)
            check_op(&fs[6 + i], 3, &els[i]);
    }
    /* the ends are what store_prefix_end says they are */
    assert_memory_equal(dir_end, "/dir0", 5);
    assert_int_equal(ff_len, 1);
    assert_memory_equal(ff_end, "b", 1);
    assert_int_equal(all_len, 1);
    assert_int_equal(all_end[0], 0);
    free(dir_end);
    free(ff_end);
    free(all_end);
    free(s);
    store_txn_free(t);
}

static void test_pb_encode_fence(void **state)
{
    store_txn *t = store_txn_new();
    pfield fs[MAXF];
    size_t len, n;
    char *s;

    store_txn_if_mod(t, "/k", STORE_EQ, 9);
    store_txn_put(t, STORE_THEN, "/k", "v", 1, NULL);
    store_txn_get(t, STORE_ELSE, "/k", false);
    store_txn_fence(t, "/old/leader", 1);
    store_txn_fence(t, "/corral/leader", 33); /* the last fence is the one */
    s = store_txn_encode_pb(t, &len);
    n = walk_frame(s, len, fs);
    check_layout(fs, n, 2, 1, 2);
    check_cmp(&fs[0], EQUAL, T_MOD, "/k", 6, 9, NULL, 0);
    check_cmp(&fs[1], EQUAL, T_CREATE, "/corral/leader", 5, 33, NULL, 0);
    check_op(&fs[2], 2, &(want_op){.kind = REQ_PUT, .key = "/k", .value = "v", .vlen = 1});
    check_op(&fs[3], 3, &(want_op){.kind = REQ_RANGE, .key = "/k"});
    check_op(&fs[4], 3, &(want_op){.kind = REQ_RANGE, .key = "/corral/leader"});
    free(s);
    store_txn_free(t);

    /* a fence alone: its compare and its get, nothing on the success side */
    t = store_txn_new();
    store_txn_fence(t, "/l", 0);
    s = store_txn_encode_pb(t, &len);
    n = walk_frame(s, len, fs);
    check_layout(fs, n, 1, 0, 1);
    check_cmp(&fs[0], EQUAL, T_CREATE, "/l", 5, 0, NULL, 0);
    check_op(&fs[1], 3, &(want_op){.kind = REQ_RANGE, .key = "/l"});
    free(s);
    store_txn_free(t);
}

static void test_pb_encode_frame_length(void **state)
{
    store_txn *t = store_txn_new();
    size_t big = 70000, len, n;
    char *value = xmalloc(big);
    const unsigned char *p;
    pfield fs[MAXF];
    char *s;

    for (size_t i = 0; i < big; i++)
        value[i] = (char)(i * 7);
    store_txn_put(t, STORE_THEN, "/big", value, big, NULL);
    s = store_txn_encode_pb(t, &len);
    p = (const unsigned char *)s;
    /* 70000-byte value, 4-byte key: PutRequest 2+4 + 1+3+70000 = 70010;
     * RequestOp 1+3+70010 = 70014; TxnRequest 1+3+70014 = 70018 */
    assert_int_equal(len, 5 + 70018);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 0);
    assert_int_equal(p[2], 70018 >> 16);
    assert_int_equal(p[3], (70018 >> 8) & 0xff);
    assert_int_equal(p[4], 70018 & 0xff);
    n = walk_frame(s, len, fs);
    check_layout(fs, n, 0, 1, 0);
    check_op(&fs[0], 2, &(want_op){.kind = REQ_PUT, .key = "/big", .value = value, .vlen = big});
    free(s);
    free(value);
    store_txn_free(t);
}

/* A WatchRequest creating a watch (store_watch_create_pb) checked field by
 * field: one create_request holding key, the prefix's range end, the start
 * revision when above 0, progress_notify always and prev_kv when asked, in
 * field order, and nothing else. */
static void check_watch_create(const char *key, bool prefix, int64_t start_rev, bool prev_kv)
{
    const unsigned allowed[] = {1, 2, 3, 4, 6, 0};
    pfield outer[MAXF], fs[MAXF];
    size_t len = 0, no, nf;
    char *s = store_watch_create_pb(key, prefix, start_rev, prev_kv, &len);

    assert_non_null(s);
    no = walk_frame(s, len, outer);
    assert_int_equal(no, 1);
    assert_int_equal(outer[0].num, 1); /* create_request */
    assert_int_equal(outer[0].type, LEN);
    /* the create_request fills the frame */
    assert_true(outer[0].data + outer[0].len == (const unsigned char *)s + len);
    nf = walk(outer[0].data, outer[0].len, fs);
    only_fields(fs, nf, allowed);
    for (size_t i = 1; i < nf; i++)
        assert_true(fs[i - 1].num < fs[i].num);
    if (key[0] || field(fs, nf, 1)) /* proto3 may leave an empty key out */
        expect_bytes(fs, nf, 1, key, strlen(key));
    if (prefix) {
        size_t elen;
        char *end = store_prefix_end(key, strlen(key), &elen);

        expect_bytes(fs, nf, 2, end, elen);
        free(end);
    } else {
        assert_null(field(fs, nf, 2));
    }
    if (start_rev > 0)
        expect_varint(fs, nf, 3, (uint64_t)start_rev);
    else
        assert_null(field(fs, nf, 3));
    expect_varint(fs, nf, 4, 1); /* progress_notify */
    if (prev_kv)
        expect_varint(fs, nf, 6, 1);
    else
        assert_null(field(fs, nf, 6));
    free(s);
}

static void test_pb_encode_watch_create(void **state)
{
    const int64_t revs[] = {0, 1, 127, 128, 300, (int64_t)1 << 40, INT64_MAX, -1};
    const char *keys[] = {"/a", "/dir/", "a\xff", "a\xff\xff", "\xff", "", "/x\x01\x7f\x80"};
    char *big = xmalloc(70001);
    size_t len;
    char *s, *end;
    size_t elen;

    /* byte for byte: the simplest watch */
    s = store_watch_create_pb("/a", false, 0, false, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(s,
                        "\0\0\0\0\x08" /* frame: 8 bytes */
                        "\x0a\x06"     /* create_request, 6 bytes */
                        "\x0a\x02/a"   /* key */
                        "\x20\x01",    /* progress_notify */
                        13);
    free(s);
    /* ...and with every field */
    s = store_watch_create_pb("/d/", true, 300, true, &len);
    assert_int_equal(len, 24);
    assert_memory_equal(s,
                        "\0\0\0\0\x13" /* frame: 19 bytes */
                        "\x0a\x11"     /* create_request, 17 bytes */
                        "\x0a\x03/d/"  /* key */
                        "\x12\x03/d0"  /* range_end */
                        "\x18\xac\x02" /* start_revision 300 */
                        "\x20\x01"     /* progress_notify */
                        "\x30\x01",    /* prev_kv */
                        24);
    free(s);

    /* every combination */
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        for (size_t r = 0; r < sizeof(revs) / sizeof(revs[0]); r++)
            for (int prefix = 0; prefix < 2; prefix++)
                for (int prev = 0; prev < 2; prev++)
                    check_watch_create(keys[k], prefix, revs[r], prev);

    /* the ends are what store_prefix_end says they are */
    end = store_prefix_end("/dir/", 5, &elen);
    assert_int_equal(elen, 5);
    assert_memory_equal(end, "/dir0", 5);
    free(end);
    end = store_prefix_end("a\xff", 2, &elen);
    assert_int_equal(elen, 1);
    assert_memory_equal(end, "b", 1);
    free(end);
    end = store_prefix_end("\xff", 1, &elen);
    assert_int_equal(elen, 1);
    assert_int_equal(end[0], 0);
    free(end);

    /* 2^40 and the key ending in 0xff, byte for byte */
    s = store_watch_create_pb("k\xff", true, (int64_t)1 << 40, false, &len);
    assert_int_equal(len, 5 + 2 + 4 + 3 + 7 + 2);
    assert_memory_equal(s,
                        "\0\0\0\0\x12"
                        "\x0a\x10"
                        "\x0a\x02k\xff"
                        "\x12\x01l"
                        "\x18\x80\x80\x80\x80\x80\x20"
                        "\x20\x01",
                        len);
    free(s);

    /* a long key: lengths of several bytes, a frame above 65535 */
    memset(big, 'k', 70000);
    big[0] = '/';
    big[70000] = '\0';
    s = store_watch_create_pb(big, true, 5, true, &len);
    /* key 1+3+70000, range_end 1+3+70000, start 2, progress 2, prev_kv 2 =
     * 140014; WatchRequest 1+3+140014 = 140018 */
    assert_int_equal(len, 5 + 140018);
    assert_int_equal((unsigned char)s[0], 0);
    assert_int_equal((unsigned char)s[1], 0);
    assert_int_equal((unsigned char)s[2], 140018 >> 16);
    assert_int_equal((unsigned char)s[3], (140018 >> 8) & 0xff);
    assert_int_equal((unsigned char)s[4], 140018 & 0xff);
    free(s);
    check_watch_create(big, true, 5, true);
    check_watch_create(big, false, 0, false);
    free(big);
}

/* --- a protobuf writer, for answers ------------------------------------------------ */

static void w_varint(cr_buf *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f);

        v >>= 7;
        if (v)
            c |= 0x80;
        cr_buf_addch(b, (char)c);
    } while (v);
}

static void w_tag(cr_buf *b, unsigned num, unsigned type)
{
    w_varint(b, (uint64_t)num << 3 | type);
}

static void w_vfield(cr_buf *b, unsigned num, uint64_t v)
{
    w_tag(b, num, VARINT);
    w_varint(b, v);
}

static void w_bytes(cr_buf *b, unsigned num, const void *data, size_t len)
{
    w_tag(b, num, LEN);
    w_varint(b, len);
    cr_buf_add(b, data, len);
}

static void w_str(cr_buf *b, unsigned num, const char *s)
{
    w_bytes(b, num, s, strlen(s));
}

/* sub as field num of b; sub is released. */
static void w_msg(cr_buf *b, unsigned num, cr_buf *sub)
{
    w_bytes(b, num, sub->data, sub->len);
    cr_buf_release(sub);
}

/* A ResponseHeader (cluster_id and raft_term too, which are not read). */
static void w_header(cr_buf *b, unsigned num, uint64_t member_id, uint64_t revision)
{
    cr_buf h = CR_BUF_INIT;

    w_vfield(&h, 1, 0xc1a55);
    if (member_id)
        w_vfield(&h, 2, member_id);
    if (revision)
        w_vfield(&h, 3, revision);
    w_vfield(&h, 4, 8);
    w_msg(b, num, &h);
}

/* A KeyValue's fields, appended to kv; key or value NULL: not written. */
static void kv_buf(cr_buf *kv, const char *key, const void *value, size_t vlen, uint64_t crev,
                   uint64_t mrev, uint64_t ver, uint64_t lease)
{
    if (key)
        w_str(kv, 1, key);
    if (crev)
        w_vfield(kv, 2, crev);
    if (mrev)
        w_vfield(kv, 3, mrev);
    if (ver)
        w_vfield(kv, 4, ver);
    if (value)
        w_bytes(kv, 5, value, vlen);
    if (lease)
        w_vfield(kv, 6, lease);
}

/* A KeyValue as field num of b. */
static void w_kv(cr_buf *b, unsigned num, const char *key, const void *value, size_t vlen,
                 uint64_t crev, uint64_t mrev, uint64_t ver, uint64_t lease)
{
    cr_buf kv = CR_BUF_INIT;

    kv_buf(&kv, key, value, vlen, crev, mrev, ver, lease);
    w_msg(b, num, &kv);
}

/* A ResponseOp of kind (1 range, 2 put, 3 delete) holding resp, as a
 * TxnResponse's field 3. */
static void w_response(cr_buf *txn, unsigned kind, cr_buf *resp)
{
    cr_buf op = CR_BUF_INIT;

    w_msg(&op, kind, resp);
    w_msg(txn, 3, &op);
}

/* body framed for gRPC; caller frees. */
static char *framed(const cr_buf *body, size_t *len)
{
    char *s = xmalloc(body->len + 5);

    s[0] = 0;
    s[1] = (char)(body->len >> 24);
    s[2] = (char)(body->len >> 16);
    s[3] = (char)(body->len >> 8);
    s[4] = (char)body->len;
    if (body->len)
        memcpy(s + 5, body->data, body->len);
    *len = body->len + 5;
    return s;
}

/* Parses body (framed here) into res; releases body. */
static int parse_body(cr_buf *body, store_result *res, cr_err *err)
{
    size_t len;
    char *s = framed(body, &len);
    int rc = store_txn_parse_pb(s, len, res, err);

    free(s);
    cr_buf_release(body);
    return rc;
}

static void expect_kv(const store_kv *kv, const char *key, const void *value, size_t vlen,
                      int64_t crev, int64_t mrev, int64_t ver, int64_t lease)
{
    assert_string_equal(kv->key, key);
    assert_non_null(kv->value);
    assert_int_equal(kv->value_len, vlen);
    if (vlen)
        assert_memory_equal(kv->value, value, vlen);
    assert_int_equal(kv->value[vlen], '\0');
    assert_int_equal(kv->create_revision, crev);
    assert_int_equal(kv->mod_revision, mrev);
    assert_int_equal(kv->version, ver);
    assert_int_equal(kv->lease, lease);
}

/* --- parsing ----------------------------------------------------------------------- */

static void test_pb_parse_txn_answer(void **state)
{
    const uint64_t member = 0x8e9e05c52164694dULL; /* above INT64_MAX: keeps its bits */
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT;
    store_result res;
    cr_err err;

    w_header(&body, 1, member, 42);
    w_vfield(&body, 2, 1);
    /* a range: two kvs, more, count, no header of its own */
    w_kv(&r, 2, "/a", "one", 3, 10, 11, 2, 0x7fff);
    w_kv(&r, 2, "/b", "b\0in", 4, 12, 13, 1, 0);
    w_vfield(&r, 3, 1);
    w_vfield(&r, 4, 5);
    w_response(&body, 1, &r);
    /* a put with its previous kv and a header of revision 0 */
    w_header(&r, 1, member, 0);
    w_kv(&r, 2, "/p", "old", 3, 3, 4, 1, 0);
    w_response(&body, 2, &r);
    /* a delete with its own revision, deleted and two prev_kvs */
    w_header(&r, 1, 0, 40);
    w_vfield(&r, 2, 2);
    w_kv(&r, 3, "/d/1", "x", 1, 5, 6, 1, 0);
    w_kv(&r, 3, "/d/2", "y", 1, 7, 8, 3, 99);
    w_response(&body, 3, &r);
    /* an empty put: no header, no prev_kv */
    w_response(&body, 2, &r);

    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_int_equal(res.revision, 42);
    assert_true(res.member_id == (int64_t)member);
    assert_true(res.succeeded);
    assert_int_equal(res.nkvs, 0);
    assert_null(res.kvs);
    assert_false(res.more);
    assert_int_equal(res.count, 0);
    assert_int_equal(res.deleted, 0);
    assert_int_equal(res.nops, 4);
    assert_non_null(res.ops);

    assert_int_equal(res.ops[0].revision, 42); /* the txn's, absent its own */
    assert_true(res.ops[0].succeeded);
    assert_int_equal(res.ops[0].nkvs, 2);
    expect_kv(&res.ops[0].kvs[0], "/a", "one", 3, 10, 11, 2, 0x7fff);
    expect_kv(&res.ops[0].kvs[1], "/b", "b\0in", 4, 12, 13, 1, 0);
    assert_true(res.ops[0].more);
    assert_int_equal(res.ops[0].count, 5);
    assert_int_equal(res.ops[0].deleted, 0);
    assert_int_equal(res.ops[0].nops, 0);

    assert_int_equal(res.ops[1].revision, 42); /* a header's 0 is no revision */
    assert_true(res.ops[1].member_id == (int64_t)member);
    assert_int_equal(res.ops[1].nkvs, 1);
    expect_kv(&res.ops[1].kvs[0], "/p", "old", 3, 3, 4, 1, 0);
    assert_false(res.ops[1].more);
    assert_int_equal(res.ops[1].count, 0);

    assert_int_equal(res.ops[2].revision, 40); /* its own kept */
    assert_int_equal(res.ops[2].deleted, 2);
    assert_int_equal(res.ops[2].nkvs, 2);
    expect_kv(&res.ops[2].kvs[0], "/d/1", "x", 1, 5, 6, 1, 0);
    expect_kv(&res.ops[2].kvs[1], "/d/2", "y", 1, 7, 8, 3, 99);
    assert_int_equal(res.ops[2].count, 0);

    assert_int_equal(res.ops[3].revision, 42);
    assert_int_equal(res.ops[3].nkvs, 0);
    assert_null(res.ops[3].kvs);
    assert_true(res.ops[3].succeeded);
    store_result_release(&res);
}

static void test_pb_parse_failed_txn(void **state)
{
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT;
    store_result res;
    cr_err err;

    /* succeeded absent: false (proto3 leaves a false bool out) */
    w_header(&body, 1, 7, 100);
    w_vfield(&r, 4, 0);
    w_response(&body, 1, &r); /* an empty range */
    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_false(res.succeeded);
    assert_int_equal(res.revision, 100);
    assert_int_equal(res.member_id, 7);
    assert_int_equal(res.nops, 1);
    assert_int_equal(res.ops[0].revision, 100);
    assert_int_equal(res.ops[0].nkvs, 0);
    assert_null(res.ops[0].kvs);
    assert_false(res.ops[0].more);
    assert_int_equal(res.ops[0].count, 0);
    store_result_release(&res);

    /* succeeded written as 0; no responses at all */
    w_vfield(&body, 2, 0);
    w_header(&body, 1, 0, 5);
    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_false(res.succeeded);
    assert_int_equal(res.revision, 5);
    assert_int_equal(res.nops, 0);
    assert_null(res.ops);
    store_result_release(&res);

    /* an empty TxnResponse: a frame of length 0 */
    assert_int_equal(store_txn_parse_pb("\0\0\0\0\0", 5, &res, &err), 0);
    assert_false(res.succeeded);
    assert_int_equal(res.revision, 0);
    assert_int_equal(res.nops, 0);
    assert_null(res.ops);
    store_result_release(&res);
}

static void test_pb_parse_kv_defaults(void **state)
{
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT;
    store_result res;
    cr_err err;

    w_header(&body, 1, 0, 9);
    w_vfield(&body, 2, 1);
    w_kv(&r, 2, NULL, NULL, 0, 0, 0, 0, 0);   /* nothing at all */
    w_kv(&r, 2, "/k", NULL, 0, 1, 2, 3, 0);   /* no value */
    w_kv(&r, 2, NULL, "v", 1, 0, 0, 0, 0);    /* no key */
    w_kv(&r, 2, "", "", 0, 0, 0, 0, 0);       /* both written empty */
    w_kv(&r, 2, "/z", "\0\0", 2, 0, 0, 0, 0); /* a value of NULs */
    w_response(&body, 1, &r);
    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_int_equal(res.nops, 1);
    assert_int_equal(res.ops[0].nkvs, 5);
    expect_kv(&res.ops[0].kvs[0], "", "", 0, 0, 0, 0, 0);
    expect_kv(&res.ops[0].kvs[1], "/k", "", 0, 1, 2, 3, 0);
    expect_kv(&res.ops[0].kvs[2], "", "v", 1, 0, 0, 0, 0);
    expect_kv(&res.ops[0].kvs[3], "", "", 0, 0, 0, 0, 0);
    expect_kv(&res.ops[0].kvs[4], "/z", "\0\0", 2, 0, 0, 0, 0);
    store_result_release(&res);
}

static void test_pb_parse_many(void **state)
{
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT;
    store_result res;
    cr_err err;
    char key[32];

    w_header(&body, 1, 0, 1000);
    w_vfield(&body, 2, 1);
    for (int i = 0; i < 37; i++) {
        snprintf(key, sizeof(key), "/many/%02d", i);
        w_kv(&r, 2, key, key, strlen(key), (uint64_t)i + 1, (uint64_t)i + 500, 1, 0);
    }
    w_vfield(&r, 4, 37);
    w_response(&body, 1, &r);
    for (int i = 0; i < 20; i++) { /* more ops than a first allocation holds */
        w_header(&r, 1, 0, (uint64_t)i + 1);
        w_vfield(&r, 2, (uint64_t)i);
        w_response(&body, 3, &r);
    }
    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_int_equal(res.nops, 21);
    assert_int_equal(res.ops[0].nkvs, 37);
    assert_int_equal(res.ops[0].count, 37);
    for (int i = 0; i < 37; i++) {
        snprintf(key, sizeof(key), "/many/%02d", i);
        expect_kv(&res.ops[0].kvs[i], key, key, strlen(key), i + 1, i + 500, 1, 0);
    }
    for (int i = 0; i < 20; i++) {
        assert_int_equal(res.ops[1 + i].revision, i + 1);
        assert_int_equal(res.ops[1 + i].deleted, i);
    }
    store_result_release(&res);
}

static void test_pb_parse_skips_unknown_fields(void **state)
{
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT, kv = CR_BUF_INIT, h = CR_BUF_INIT;
    store_result res;
    cr_err err;

    /* TxnResponse: unknown fields of every wire type, the header last */
    w_vfield(&body, 9, 12345);
    w_tag(&body, 10, I64);
    cr_buf_add(&body, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    w_tag(&body, 11, I32);
    cr_buf_add(&body, "\x0a\x0b\x0c\x0d", 4);
    w_str(&body, 12, "ignored");
    w_vfield(&body, 536870911, 1); /* the highest field number */
    w_vfield(&body, 2, 1);
    /* a range with unknown fields, and a kv with some too */
    w_tag(&r, 7, I32);
    cr_buf_add(&r, "\xff\xff\xff\xff", 4);
    w_str(&kv, 1, "/u");
    w_tag(&kv, 9, I64);
    cr_buf_add(&kv, "\0\0\0\0\0\0\0\0", 8);
    w_vfield(&kv, 2, 21);
    w_str(&kv, 15, "junk");
    w_tag(&kv, 16, I32);
    cr_buf_add(&kv, "\x80\x80\x80\x80", 4);
    w_bytes(&kv, 5, "val", 3);
    w_vfield(&kv, 3, 22);
    w_vfield(&kv, 4, 1);
    w_msg(&r, 2, &kv);
    w_vfield(&r, 20, 3);
    w_vfield(&r, 4, 1);
    w_response(&body, 1, &r);
    /* a put whose header has an unknown fixed64 */
    w_tag(&h, 6, I64);
    cr_buf_add(&h, "\1\1\1\1\1\1\1\1", 8);
    w_vfield(&h, 3, 77);
    w_msg(&r, 1, &h);
    w_response(&body, 2, &r);
    w_header(&body, 1, 3, 80);
    assert_int_equal(parse_body(&body, &res, &err), 0);
    assert_true(res.succeeded);
    assert_int_equal(res.revision, 80);
    assert_int_equal(res.member_id, 3);
    assert_int_equal(res.nops, 2);
    assert_int_equal(res.ops[0].revision, 80); /* from a header read after it */
    assert_int_equal(res.ops[0].nkvs, 1);
    assert_int_equal(res.ops[0].count, 1);
    expect_kv(&res.ops[0].kvs[0], "/u", "val", 3, 21, 22, 1, 0);
    assert_int_equal(res.ops[1].revision, 77);
    assert_int_equal(res.ops[1].nkvs, 0);
    store_result_release(&res);
}

/* A copy of exactly len bytes (one for none), so that a reader's step
 * past its input shows in valgrind. */
static char *exact_copy(const void *s, size_t len)
{
    char *copy = xmalloc(len ? len : 1);

    if (len)
        memcpy(copy, s, len);
    return copy;
}

/* --- watch answers ------------------------------------------------------------------ */

/* Parses body (a WatchResponse, unframed, copied to exactly its length)
 * into m; releases body. */
static int parse_watch(cr_buf *body, store_watch_msg *m, cr_err *err)
{
    size_t len = body->len;
    char *copy = exact_copy(body->data, len);
    int rc;

    memset(m, 0xa5, sizeof(*m)); /* whatever was there is overwritten */
    rc = store_watch_msg_parse_pb(copy, len, m, err);
    free(copy);
    cr_buf_release(body);
    return rc;
}

/* An mvccpb.Event as a WatchResponse's field 11: type written unless
 * type_field is false; kv and prev (either may be empty, NULL: not written)
 * are its KeyValues, released. */
static void w_event(cr_buf *b, bool type_field, uint64_t type, cr_buf *kv, cr_buf *prev)
{
    cr_buf ev = CR_BUF_INIT;

    if (type_field)
        w_vfield(&ev, 1, type);
    if (kv)
        w_msg(&ev, 2, kv);
    if (prev)
        w_msg(&ev, 3, prev);
    w_msg(b, 11, &ev);
}

/* A message with nothing but what is named: no events. */
static void expect_watch_bare(const store_watch_msg *m, int64_t rev, bool created, bool canceled,
                              int64_t compact, const char *reason)
{
    assert_int_equal(m->revision, rev);
    assert_true(m->created == created);
    assert_true(m->canceled == canceled);
    assert_int_equal(m->compact_revision, compact);
    if (reason)
        assert_string_equal(m->cancel_reason, reason);
    else
        assert_null(m->cancel_reason);
    assert_int_equal(m->nevents, 0);
    assert_null(m->events);
    assert_false(m->is_error);
}

/* A delete's kv: key and revisions, no value. */
static void expect_deleted_kv(const store_kv *kv, const char *key, int64_t mrev)
{
    assert_string_equal(kv->key, key);
    assert_null(kv->value);
    assert_int_equal(kv->value_len, 0);
    assert_int_equal(kv->mod_revision, mrev);
}

static void expect_no_prev(const store_event *ev)
{
    assert_null(ev->prev.key);
    assert_null(ev->prev.value);
    assert_int_equal(ev->prev.value_len, 0);
    assert_int_equal(ev->prev.create_revision, 0);
    assert_int_equal(ev->prev.mod_revision, 0);
    assert_int_equal(ev->prev.version, 0);
    assert_int_equal(ev->prev.lease, 0);
}

static void test_pb_parse_watch(void **state)
{
    cr_buf body = CR_BUF_INIT, kv = CR_BUF_INIT, prev = CR_BUF_INIT;
    store_watch_msg m;
    cr_err err;

    /* an empty WatchResponse */
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 0, false, false, 0, NULL);
    store_watch_msg_release(&m);

    /* created: a header, a watch_id, created */
    w_header(&body, 1, 0x8e9e05c52164694dULL, 100);
    w_vfield(&body, 2, 0);
    w_vfield(&body, 3, 1);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 100, true, false, 0, NULL);
    store_watch_msg_release(&m);

    /* created written after a large watch_id, revision above 2^32 */
    w_vfield(&body, 2, 0x123456789ULL);
    w_vfield(&body, 3, 1);
    w_header(&body, 1, 0, (uint64_t)1 << 40);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, (int64_t)1 << 40, true, false, 0, NULL);
    store_watch_msg_release(&m);

    /* a progress notification: the header alone, and a watch_id */
    w_header(&body, 1, 9, 250);
    w_vfield(&body, 2, 7);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 250, false, false, 0, NULL);
    store_watch_msg_release(&m);

    /* bools written as 0 are false; a later header wins */
    w_header(&body, 1, 0, 3);
    w_vfield(&body, 3, 0);
    w_vfield(&body, 4, 0);
    w_vfield(&body, 5, 0);
    w_header(&body, 1, 0, 4);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 4, false, false, 0, NULL);
    store_watch_msg_release(&m);

    /* events */
    w_header(&body, 1, 0, 60);
    w_vfield(&body, 2, 3);
    /* a put with its prev_kv (type PUT = 0 left out, as proto3 does) */
    kv_buf(&kv, "/e/1", "new", 3, 10, 55, 2, 0x7fff);
    kv_buf(&prev, "/e/1", "old", 3, 10, 20, 1, 0x7fff);
    w_event(&body, false, 0, &kv, &prev);
    /* a put without one, its type written as 0 */
    kv_buf(&kv, "/e/2", "b\0in", 4, 56, 56, 1, 0);
    w_event(&body, true, 0, &kv, NULL);
    /* a delete: key and mod_revision */
    kv_buf(&kv, "/e/3", NULL, 0, 0, 57, 0, 0);
    w_event(&body, true, 1, &kv, NULL);
    /* a delete with its prev_kv, and a value in its kv that is not kept */
    kv_buf(&kv, "/e/4", "gone", 4, 0, 58, 0, 0);
    kv_buf(&prev, "/e/4", "last", 4, 30, 31, 5, 12);
    w_event(&body, true, 1, &kv, &prev);
    /* a delete whose type comes after its kvs */
    {
        cr_buf ev = CR_BUF_INIT;

        kv_buf(&kv, "/e/5", NULL, 0, 0, 59, 0, 0);
        w_msg(&ev, 3, &prev); /* empty: a prev_kv of nothing */
        w_msg(&ev, 2, &kv);
        w_vfield(&ev, 1, 1);
        w_msg(&body, 11, &ev);
    }
    /* a put whose kv has neither key nor value */
    w_event(&body, false, 0, &kv, NULL);
    /* fragment (ignored) */
    w_vfield(&body, 7, 1);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    assert_int_equal(m.revision, 60);
    assert_false(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.compact_revision, 0);
    assert_null(m.cancel_reason);
    assert_false(m.is_error);
    assert_int_equal(m.nevents, 6);
    assert_non_null(m.events);

    assert_int_equal(m.events[0].type, STORE_EV_PUT);
    expect_kv(&m.events[0].kv, "/e/1", "new", 3, 10, 55, 2, 0x7fff);
    expect_kv(&m.events[0].prev, "/e/1", "old", 3, 10, 20, 1, 0x7fff);

    assert_int_equal(m.events[1].type, STORE_EV_PUT);
    expect_kv(&m.events[1].kv, "/e/2", "b\0in", 4, 56, 56, 1, 0);
    expect_no_prev(&m.events[1]);

    assert_int_equal(m.events[2].type, STORE_EV_DELETE);
    expect_deleted_kv(&m.events[2].kv, "/e/3", 57);
    expect_no_prev(&m.events[2]);

    assert_int_equal(m.events[3].type, STORE_EV_DELETE);
    expect_deleted_kv(&m.events[3].kv, "/e/4", 58);
    expect_kv(&m.events[3].prev, "/e/4", "last", 4, 30, 31, 5, 12);

    assert_int_equal(m.events[4].type, STORE_EV_DELETE);
    expect_deleted_kv(&m.events[4].kv, "/e/5", 59);
    expect_kv(&m.events[4].prev, "", "", 0, 0, 0, 0, 0);

    assert_int_equal(m.events[5].type, STORE_EV_PUT);
    expect_kv(&m.events[5].kv, "", "", 0, 0, 0, 0, 0);
    expect_no_prev(&m.events[5]);
    store_watch_msg_release(&m);

    /* canceled: the start revision was compacted */
    w_header(&body, 1, 0, 6000);
    w_vfield(&body, 2, 1);
    w_vfield(&body, 4, 1);
    w_vfield(&body, 5, 5000);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 6000, false, true, 5000, NULL);
    store_watch_msg_release(&m);

    /* canceled with a reason */
    w_header(&body, 1, 0, 77);
    w_vfield(&body, 4, 1);
    w_str(&body, 6, "etcdserver: permission denied");
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 77, false, true, 0, "etcdserver: permission denied");
    store_watch_msg_release(&m);

    /* a second reason replaces the first; an empty one is "", not NULL */
    w_vfield(&body, 4, 1);
    w_str(&body, 6, "first");
    w_str(&body, 6, "second");
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 0, false, true, 0, "second");
    store_watch_msg_release(&m);
    w_str(&body, 6, "");
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 0, false, false, 0, "");
    store_watch_msg_release(&m);

    /* created and canceled at once (a watch etcd refused as it made it) */
    w_header(&body, 1, 0, 8);
    w_vfield(&body, 3, 1);
    w_vfield(&body, 4, 1);
    w_vfield(&body, 5, (uint64_t)1 << 40);
    w_str(&body, 6, "compacted");
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    expect_watch_bare(&m, 8, true, true, (int64_t)1 << 40, "compacted");
    store_watch_msg_release(&m);
}

static void test_pb_parse_watch_many(void **state)
{
    cr_buf body = CR_BUF_INIT, kv = CR_BUF_INIT, prev = CR_BUF_INIT;
    store_watch_msg m;
    cr_err err;
    char key[32];

    w_header(&body, 1, 0, 1000);
    for (int i = 0; i < 37; i++) { /* more events than a first allocation holds */
        snprintf(key, sizeof(key), "/many/%02d", i);
        kv_buf(&kv, key, key, strlen(key), (uint64_t)i + 1, (uint64_t)i + 900, 1, 0);
        if (i % 3 == 1) {
            w_event(&body, true, 1, &kv, NULL);
        } else if (i % 3 == 2) {
            kv_buf(&prev, key, "p", 1, (uint64_t)i + 1, (uint64_t)i + 1, 1, 0);
            w_event(&body, false, 0, &kv, &prev);
        } else {
            w_event(&body, false, 0, &kv, NULL);
        }
    }
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    assert_int_equal(m.revision, 1000);
    assert_int_equal(m.nevents, 37);
    for (int i = 0; i < 37; i++) {
        const store_event *ev = &m.events[i];

        snprintf(key, sizeof(key), "/many/%02d", i);
        if (i % 3 == 1) {
            assert_int_equal(ev->type, STORE_EV_DELETE);
            expect_deleted_kv(&ev->kv, key, i + 900);
            assert_int_equal(ev->kv.create_revision, i + 1);
            expect_no_prev(ev);
        } else {
            assert_int_equal(ev->type, STORE_EV_PUT);
            expect_kv(&ev->kv, key, key, strlen(key), i + 1, i + 900, 1, 0);
            if (i % 3 == 2)
                expect_kv(&ev->prev, key, "p", 1, i + 1, i + 1, 1, 0);
            else
                expect_no_prev(ev);
        }
    }
    store_watch_msg_release(&m);
}

static void test_pb_parse_watch_skips_unknown_fields(void **state)
{
    cr_buf body = CR_BUF_INIT, h = CR_BUF_INIT, ev = CR_BUF_INIT, kv = CR_BUF_INIT,
           prev = CR_BUF_INIT;
    store_watch_msg m;
    cr_err err;

    /* WatchResponse: unknown fields of every wire type, among known ones */
    w_vfield(&body, 8, 12345);
    w_tag(&body, 9, I64);
    cr_buf_add(&body, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    w_tag(&body, 10, I32);
    cr_buf_add(&body, "\x0a\x0b\x0c\x0d", 4);
    w_str(&body, 12, "ignored");
    w_vfield(&body, 536870911, 1);             /* the highest field number */
    w_vfield(&body, 2, 0xffffffffffffffffULL); /* watch_id */
    w_vfield(&body, 7, 1);                     /* fragment */
    w_vfield(&body, 3, 1);
    /* a header with unknown fields of its own */
    w_tag(&h, 6, I64);
    cr_buf_add(&h, "\1\1\1\1\1\1\1\1", 8);
    w_tag(&h, 7, I32);
    cr_buf_add(&h, "\xff\xff\xff\xff", 4);
    w_str(&h, 8, "x");
    w_vfield(&h, 3, 77);
    w_vfield(&h, 9, 1);
    w_msg(&body, 1, &h);
    /* an event with unknown fields, whose kvs have some too */
    w_tag(&ev, 4, I32);
    cr_buf_add(&ev, "\x80\x80\x80\x80", 4);
    w_str(&kv, 1, "/u");
    w_tag(&kv, 9, I64);
    cr_buf_add(&kv, "\0\0\0\0\0\0\0\0", 8);
    w_vfield(&kv, 2, 21);
    w_str(&kv, 15, "junk");
    w_tag(&kv, 16, I32);
    cr_buf_add(&kv, "\x80\x80\x80\x80", 4);
    w_bytes(&kv, 5, "val", 3);
    w_vfield(&kv, 3, 22);
    w_vfield(&kv, 4, 1);
    w_msg(&ev, 2, &kv);
    w_tag(&ev, 5, I64);
    cr_buf_add(&ev, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    w_str(&prev, 1, "/u");
    w_vfield(&prev, 7, 3);
    w_tag(&prev, 8, I32);
    cr_buf_add(&prev, "\0\0\0\0", 4);
    w_bytes(&prev, 5, "old", 3);
    w_msg(&ev, 3, &prev);
    w_str(&ev, 9, "more junk");
    w_vfield(&ev, 10, 1);
    w_msg(&body, 11, &ev);
    /* a delete with unknown fields before its type */
    w_tag(&ev, 12, I64);
    cr_buf_add(&ev, "\x01\x01\x01\x01\x01\x01\x01\x01", 8);
    w_vfield(&ev, 1, 1);
    w_str(&kv, 1, "/v");
    w_vfield(&kv, 3, 23);
    w_tag(&kv, 7, I32);
    cr_buf_add(&kv, "\1\2\3\4", 4);
    w_msg(&ev, 2, &kv);
    w_msg(&body, 11, &ev);
    w_vfield(&body, 13, 5);
    w_tag(&body, 14, I64);
    cr_buf_add(&body, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(parse_watch(&body, &m, &err), 0);
    assert_int_equal(m.revision, 77);
    assert_true(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.compact_revision, 0);
    assert_null(m.cancel_reason);
    assert_false(m.is_error);
    assert_int_equal(m.nevents, 2);
    assert_int_equal(m.events[0].type, STORE_EV_PUT);
    expect_kv(&m.events[0].kv, "/u", "val", 3, 21, 22, 1, 0);
    expect_kv(&m.events[0].prev, "/u", "old", 3, 0, 0, 0, 0);
    assert_int_equal(m.events[1].type, STORE_EV_DELETE);
    expect_deleted_kv(&m.events[1].kv, "/v", 23);
    expect_no_prev(&m.events[1]);
    store_watch_msg_release(&m);
}

/* --- malformed answers ------------------------------------------------------------- */

static void expect_refused(const char *what, const char *s, size_t len)
{
    store_result res;
    cr_err err = {0};
    char *copy = exact_copy(s, len);
    int rc;

    memset(&res, 0xa5, sizeof(res)); /* whatever was there is overwritten */
    rc = store_txn_parse_pb(copy, len, &res, &err);
    free(copy);
    if (rc != -1)
        fail_msg("%s: parsed (rc %d)", what, rc);
    if (err.code != CR_EPARSE)
        fail_msg("%s: code %d (%s)", what, (int)err.code, err.detail);
    assert_int_equal(res.nops, 0);
    assert_null(res.ops);
    assert_int_equal(res.nkvs, 0);
    assert_null(res.kvs);
    assert_int_equal(res.revision, 0);
    assert_int_equal(res.member_id, 0);
    assert_false(res.succeeded);
}

/* body, framed correctly, must be refused; releases body. */
static void refuse_body(const char *what, cr_buf *body)
{
    size_t len;
    char *s = framed(body, &len);

    expect_refused(what, s, len);
    free(s);
    cr_buf_release(body);
}

/* A valid start: a header, succeeded, a range of two kvs and a delete
 * with a prev_kv, so a refusal after it has memory to give back. */
static void valid_start(cr_buf *b)
{
    cr_buf r = CR_BUF_INIT;

    w_header(b, 1, 1, 50);
    w_vfield(b, 2, 1);
    w_kv(&r, 2, "/a", "1", 1, 1, 1, 1, 0);
    w_kv(&r, 2, "/b", "2", 1, 2, 2, 1, 0);
    w_response(b, 1, &r);
    w_vfield(&r, 2, 1);
    w_kv(&r, 3, "/c", "3", 1, 3, 3, 1, 0);
    w_response(b, 3, &r);
}

static void test_pb_parse_rejects_bad_frames(void **state)
{
    cr_buf body = CR_BUF_INIT;
    size_t len;
    char *s;

    expect_refused("empty", "", 0);
    expect_refused("4 bytes", "\0\0\0\0", 4);
    expect_refused("compressed", "\1\0\0\0\0", 5);
    expect_refused("compressed, with a body", "\1\0\0\0\2\x10\x01", 7);
    expect_refused("frame longer than the body", "\0\0\0\0\3\x10\x01", 7);
    expect_refused("frame shorter than the body", "\0\0\0\0\1\x10\x01", 7);
    expect_refused("frame 0, a body", "\0\0\0\0\0\x10\x01", 7);
    expect_refused("frame huge", "\0\xff\xff\xff\xff\x10\x01", 7);
    /* a whole valid answer, its frame off by one either way */
    valid_start(&body);
    s = framed(&body, &len);
    s[4]++;
    expect_refused("valid answer, frame + 1", s, len);
    s[4] -= 2;
    expect_refused("valid answer, frame - 1", s, len);
    s[4]++;
    expect_refused("valid answer, a byte cut", s, len - 1);
    free(s);
    cr_buf_release(&body);
}

static void test_pb_parse_rejects_bad_wire(void **state)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
#define C(w, b) {w, b, sizeof(b) - 1}
        C("truncated tag", "\x80"),
        C("truncated varint value", "\x10"),
        C("truncated varint value, continued", "\x10\x80"),
        C("varint of 11 bytes", "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"),
        C("tag of 11 bytes", "\x90\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"),
        C("varint past 64 bits", "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"),
        C("length past the end", "\x62\x05\x61\x62\x63"),
        C("length one past the end", "\x62\x04\x61\x62\x63"),
        C("length one past a kv's end", "\x1a\x09\x0a\x07\x12\x03\x0a\x02\x6b\x20\x01"),
        C("length one past the end, in a kv", "\x1a\x06\x0a\x04\x12\x02\x0a\x01"),
        C("length of 2^64-1", "\x62\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        C("huge length", "\x62\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x61"),
        C("fixed64 cut", "\x49\x31\x32\x33\x34\x35\x36\x37"),
        C("fixed32 cut", "\x4d\x31\x32\x33"),
        C("wire type 3", "\x4b"),
        C("wire type 4", "\x4c"),
        C("wire type 6", "\x4e\x00"),
        C("wire type 7", "\x4f\x00"),
        C("field 0, varint", "\x00\x00"),
        C("field 0, length", "\x02\x00"),
        C("field number above 2^29-1", "\x80\x80\x80\x80\x10\x00"),
        C("header not a message", "\x08\x01"),
        C("header cut inside", "\x0a\x02\x18\x80"),
        C("header revision as bytes", "\x0a\x03\x1a\x01\x00"),
        C("header field 0", "\x0a\x02\x00\x00"),
        C("succeeded as bytes", "\x12\x01\x01"),
        C("responses as a varint", "\x18\x01"),
        C("empty ResponseOp", "\x1a\x00"),
        C("ResponseOp kind 4 (txn)", "\x1a\x02\x22\x00"),
        C("ResponseOp kind 5", "\x1a\x02\x2a\x00"),
        C("ResponseOp kind as a varint", "\x1a\x02\x08\x00"),
        C("ResponseOp with two fields", "\x1a\x04\x0a\x00\x12\x00"),
        C("ResponseOp with a range and a varint", "\x1a\x04\x0a\x00\x20\x01"),
        C("ResponseOp malformed", "\x1a\x02\x0a\x05"),
        C("range: more as bytes", "\x1a\x04\x0a\x02\x1a\x00"),
        C("range: count as bytes", "\x1a\x04\x0a\x02\x22\x00"),
        C("range: kvs as a varint", "\x1a\x04\x0a\x02\x10\x01"),
        C("range: header as a varint", "\x1a\x04\x0a\x02\x08\x01"),
        C("range: wire type 7", "\x1a\x04\x0a\x02\x3f\x00"),
        C("put: prev_kv as a varint", "\x1a\x04\x12\x02\x10\x01"),
        C("delete: deleted as bytes", "\x1a\x04\x1a\x02\x12\x00"),
        C("delete: prev_kvs as a varint", "\x1a\x04\x1a\x02\x18\x01"),
        C("kv: key as a varint", "\x1a\x06\x0a\x04\x12\x02\x08\x01"),
        C("kv: value as a varint", "\x1a\x06\x0a\x04\x12\x02\x28\x01"),
        C("kv: create_revision as bytes", "\x1a\x07\x0a\x05\x12\x03\x12\x01\x00"),
        C("kv: mod_revision as bytes", "\x1a\x07\x0a\x05\x12\x03\x1a\x01\x00"),
        C("kv: version as bytes", "\x1a\x07\x0a\x05\x12\x03\x22\x01\x00"),
        C("kv: lease as bytes", "\x1a\x07\x0a\x05\x12\x03\x32\x01\x00"),
        C("kv: wire type 3", "\x1a\x06\x0a\x04\x12\x02\x3b\x00"),
        C("kv: key past its end", "\x1a\x06\x0a\x04\x12\x02\x0a\x05"),
        C("kv: truncated varint", "\x1a\x06\x0a\x04\x12\x02\x10\x80"),
        C("kv: key read, then a bad value", "\x1a\x09\x0a\x07\x12\x05\x0a\x01\x6b\x28\x01"),
#undef C
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_buf body = CR_BUF_INIT;
        char what[128];

        /* alone */
        cr_buf_add(&body, cases[i].bytes, cases[i].len);
        refuse_body(cases[i].what, &body);
        /* after a valid answer's worth of ops, header and kvs */
        snprintf(what, sizeof(what), "%s, after valid ops", cases[i].what);
        valid_start(&body);
        cr_buf_add(&body, cases[i].bytes, cases[i].len);
        refuse_body(what, &body);
    }
}

static void test_pb_parse_rejects_late_errors(void **state)
{
    cr_buf body = CR_BUF_INIT, r = CR_BUF_INIT, kv = CR_BUF_INIT;

    /* a kv cut in the middle of a range's many kvs */
    valid_start(&body);
    for (int i = 0; i < 9; i++)
        w_kv(&r, 2, "/k", "v", 1, 1, 1, 1, 0);
    w_str(&kv, 1, "/bad");
    w_bytes(&kv, 5, "value", 5);
    w_str(&kv, 2, "not a revision");
    w_msg(&r, 2, &kv);
    w_response(&body, 1, &r);
    refuse_body("a bad kv after nine", &body);

    /* a nested txn after valid ops */
    valid_start(&body);
    w_header(&r, 1, 0, 1);
    w_response(&body, 4, &r);
    refuse_body("a nested txn", &body);

    /* a bad header after valid ops */
    valid_start(&body);
    w_str(&body, 1, "\x18");
    refuse_body("a cut header at the end", &body);
}

/* --- malformed watch answers ---------------------------------------------------------- */

static void expect_watch_refused(const char *what, const char *s, size_t len)
{
    store_watch_msg m;
    cr_err err = {0};
    char *copy = exact_copy(s, len);
    int rc;

    memset(&m, 0xa5, sizeof(m)); /* whatever was there is overwritten */
    rc = store_watch_msg_parse_pb(copy, len, &m, &err);
    free(copy);
    if (rc != -1)
        fail_msg("%s: parsed (rc %d)", what, rc);
    if (err.code != CR_EPARSE)
        fail_msg("%s: code %d (%s)", what, (int)err.code, err.detail);
    assert_int_equal(m.revision, 0);
    assert_false(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.compact_revision, 0);
    assert_null(m.cancel_reason);
    assert_int_equal(m.nevents, 0);
    assert_null(m.events);
    assert_false(m.is_error);
    assert_int_equal(m.err.code, 0);
}

/* body must be refused; releases body. */
static void refuse_watch(const char *what, cr_buf *body)
{
    expect_watch_refused(what, body->data, body->len);
    cr_buf_release(body);
}

/* A valid start: a header, created, a reason, and events with kvs and
 * prev_kvs, so a refusal after it has memory to give back. */
static void valid_watch_start(cr_buf *b, int nevents)
{
    cr_buf kv = CR_BUF_INIT, prev = CR_BUF_INIT;

    w_header(b, 1, 1, 50);
    w_vfield(b, 3, 1);
    w_str(b, 6, "a reason");
    for (int i = 0; i < nevents; i++) {
        kv_buf(&kv, "/k", "v", 1, 1, (uint64_t)i + 2, 1, 0);
        kv_buf(&prev, "/k", "p", 1, 1, 1, 1, 0);
        w_event(b, true, (uint64_t)(i % 2), &kv, i % 3 ? &prev : NULL);
        cr_buf_release(&prev);
    }
}

static void test_pb_parse_watch_rejects(void **state)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
        bool open; /* cut short: what follows it would change it */
    } cases[] = {
#define C(w, b)                    \
    {                              \
        w, b, sizeof(b) - 1, false \
    }
#define O(w, b)                   \
    {                             \
        w, b, sizeof(b) - 1, true \
    }
        /* events without a kv */
        C("empty event", "\x5a\x00"),
        C("event without kv: a type only", "\x5a\x02\x08\x01"),
        C("event without kv: a prev_kv only", "\x5a\x04\x1a\x02\x0a\x00"),
        C("event without kv: an unknown field only", "\x5a\x02\x20\x01"),
        /* fields of an event of the wrong wire type */
        C("event: kv as a varint", "\x5a\x02\x10\x01"),
        C("event: kv as a fixed32", "\x5a\x05\x15\x00\x00\x00\x00"),
        C("event: kv as a varint after a good kv", "\x5a\x04\x12\x00\x10\x01"),
        C("event: prev_kv as a varint", "\x5a\x04\x12\x00\x18\x01"),
        C("event: prev_kv as a fixed64", "\x5a\x0b\x12\x00\x19\x01\x02\x03\x04\x05\x06\x07\x08"),
        C("event: type as bytes", "\x5a\x04\x12\x00\x0a\x00"),
        C("event: type as a fixed32", "\x5a\x07\x12\x00\x0d\x01\x00\x00\x00"),
        C("event: type as a fixed64", "\x5a\x0b\x12\x00\x09\x01\x00\x00\x00\x00\x00\x00\x00"),
        /* fields of a kv of the wrong wire type */
        C("kv: key as a varint", "\x5a\x04\x12\x02\x08\x01"),
        C("kv: value as a varint", "\x5a\x04\x12\x02\x28\x01"),
        C("kv: create_revision as bytes", "\x5a\x05\x12\x03\x12\x01\x00"),
        C("kv: mod_revision as bytes", "\x5a\x05\x12\x03\x1a\x01\x00"),
        C("kv: version as bytes", "\x5a\x05\x12\x03\x22\x01\x00"),
        C("kv: lease as bytes", "\x5a\x05\x12\x03\x32\x01\x00"),
        C("prev_kv: key as a varint", "\x5a\x06\x12\x00\x1a\x02\x08\x01"),
        C("kv: key read, then a bad value", "\x5a\x07\x12\x05\x0a\x01\x6b\x28\x01"),
        C("event: kv and prev_kv read, then wire type 3",
          "\x5a\x0b\x12\x03\x0a\x01k\x1a\x03\x0a\x01p\x0b"),
        C("event: a second kv malformed", "\x5a\x09\x12\x03\x0a\x01k\x12\x02\x10\x80"),
        C("event: a second prev_kv malformed",
          "\x5a\x0e\x12\x03\x0a\x01k\x1a\x03\x0a\x01p\x1a\x02\x08\x01"),
        /* fields of the response of the wrong wire type */
        C("header as a varint", "\x08\x01"),
        C("header revision as bytes", "\x0a\x03\x1a\x01\x00"),
        C("created as bytes", "\x1a\x00"),
        C("canceled as bytes", "\x22\x00"),
        C("compact_revision as bytes", "\x2a\x00"),
        C("compact_revision as a fixed64", "\x29\x01\x02\x03\x04\x05\x06\x07\x08"),
        C("cancel_reason as a varint", "\x30\x01"),
        C("cancel_reason as a fixed32", "\x35\x61\x62\x63\x64"),
        C("events as a varint", "\x58\x01"),
        C("events as a fixed64", "\x59\x12\x00\x12\x00\x12\x00\x12\x00"),
        /* truncated varints */
        O("truncated tag", "\x80"),
        O("truncated varint value", "\x10"),
        O("truncated varint value, continued", "\x10\x80"),
        O("truncated compact_revision", "\x28\xff\xff"),
        O("truncated length", "\x32\x80"),
        C("header: truncated revision", "\x0a\x02\x18\x80"),
        C("event: truncated type", "\x5a\x03\x12\x00\x08"),
        C("event: truncated type, continued", "\x5a\x04\x12\x00\x08\x80"),
        C("event: truncated tag", "\x5a\x03\x12\x00\x80"),
        C("kv: truncated varint", "\x5a\x04\x12\x02\x10\x80"),
        C("varint of 11 bytes", "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"),
        C("tag of 11 bytes", "\x90\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"),
        C("varint past 64 bits", "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"),
        /* lengths past the end */
        O("cancel_reason past the end", "\x32\x05\x61\x62\x63"),
        O("cancel_reason one past the end", "\x32\x04\x61\x62\x63"),
        O("event past the end", "\x5a\x05\x12\x00"),
        O("event one past the end", "\x5a\x03\x12\x00"),
        O("header past the end", "\x0a\x03\x18\x01"),
        C("length of 2^64-1", "\x32\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        C("huge length", "\x32\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x61"),
        C("kv past its event's end", "\x5a\x02\x12\x02\x18\x01"),
        C("prev_kv past its event's end", "\x5a\x04\x12\x00\x1a\x02\x18\x01"),
        C("kv: key past the kv's end", "\x5a\x04\x12\x02\x0a\x05\x18\x01\x20\x01\x28\x01"),
        C("header: a field past the header's end", "\x0a\x01\x18\x01"),
        O("fixed64 cut", "\x49\x31\x32\x33\x34\x35\x36\x37"),
        O("fixed32 cut", "\x4d\x31\x32\x33"),
        C("event: fixed32 past its end", "\x5a\x05\x12\x00\x25\x00\x00\x18\x01"),
        C("kv: fixed64 past its end", "\x5a\x06\x12\x04\x39\x00\x00\x00\x18\x01\x20\x01\x28\x01"),
        /* wire types that are not, or are groups */
        C("wire type 3", "\x4b"),
        C("wire type 4", "\x4c"),
        C("wire type 6", "\x4e\x00"),
        C("wire type 7", "\x4f\x00"),
        C("created as wire type 3", "\x1b\x01"),
        C("events as wire type 6", "\x5e\x00"),
        C("header: wire type 3", "\x0a\x02\x3b\x00"),
        C("header: wire type 7", "\x0a\x02\x3f\x00"),
        C("event: wire type 3", "\x5a\x04\x12\x00\x23\x00"),
        C("event: wire type 4", "\x5a\x04\x12\x00\x24\x00"),
        C("event: wire type 6", "\x5a\x04\x12\x00\x26\x00"),
        C("event: wire type 7", "\x5a\x04\x12\x00\x27\x00"),
        C("kv: wire type 3", "\x5a\x04\x12\x02\x3b\x00"),
        C("kv: wire type 4", "\x5a\x04\x12\x02\x3c\x00"),
        C("kv: wire type 6", "\x5a\x04\x12\x02\x3e\x00"),
        C("kv: wire type 7", "\x5a\x04\x12\x02\x3f\x00"),
        /* field 0, and a number too high */
        C("field 0, varint", "\x00\x00"),
        C("field 0, length", "\x02\x00"),
        C("field 0, fixed32", "\x05\x00\x00\x00\x00"),
        C("field number above 2^29-1", "\x80\x80\x80\x80\x10\x00"),
        C("header: field 0", "\x0a\x02\x00\x00"),
        C("event: field 0", "\x5a\x04\x12\x00\x00\x00"),
        C("kv: field 0", "\x5a\x04\x12\x02\x00\x00"),
        C("a gRPC frame's prefix left on", "\x00\x00\x00\x00\x02\x18\x01"),
#undef C
#undef O
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_buf body = CR_BUF_INIT;
        char what[128];

        /* alone */
        cr_buf_add(&body, cases[i].bytes, cases[i].len);
        refuse_watch(cases[i].what, &body);
        /* after a header, a reason and events */
        snprintf(what, sizeof(what), "%s, after valid events", cases[i].what);
        valid_watch_start(&body, 3);
        cr_buf_add(&body, cases[i].bytes, cases[i].len);
        refuse_watch(what, &body);
        /* before them, unless they would change it */
        if (cases[i].open)
            continue;
        snprintf(what, sizeof(what), "%s, before valid events", cases[i].what);
        cr_buf_add(&body, cases[i].bytes, cases[i].len);
        valid_watch_start(&body, 3);
        refuse_watch(what, &body);
    }
    /* a valid answer one byte short */
    {
        cr_buf body = CR_BUF_INIT;

        valid_watch_start(&body, 5);
        expect_watch_refused("a valid answer, its last byte cut", body.data, body.len - 1);
        cr_buf_release(&body);
    }
}

static void test_pb_parse_watch_rejects_late_errors(void **state)
{
    static const size_t counts[] = {1, 7, 8, 9, 16, 17, 40};
    cr_buf body = CR_BUF_INIT, good = CR_BUF_INIT, bad = CR_BUF_INIT;
    char what[128];

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        /* good events (around each growth of the array), then one with a
         * prev_kv but no kv */
        valid_watch_start(&body, (int)counts[i]);
        kv_buf(&good, "/p", "v", 1, 1, 1, 1, 0);
        w_event(&body, true, 1, NULL, &good);
        snprintf(what, sizeof(what), "an event without kv after %zu", counts[i]);
        refuse_watch(what, &body);

        /* ...then one whose prev_kv is malformed after its kv was read */
        valid_watch_start(&body, (int)counts[i]);
        kv_buf(&good, "/p", "v", 1, 1, 1, 1, 0);
        kv_buf(&bad, "/bad", "value", 5, 0, 0, 0, 0);
        w_str(&bad, 2, "not a revision");
        w_event(&body, false, 0, &good, &bad);
        snprintf(what, sizeof(what), "a bad prev_kv after %zu", counts[i]);
        refuse_watch(what, &body);

        /* ...then one whose kv is malformed after its prev_kv was read */
        valid_watch_start(&body, (int)counts[i]);
        {
            cr_buf ev = CR_BUF_INIT;

            kv_buf(&good, "/p", "v", 1, 1, 1, 1, 0);
            kv_buf(&bad, "/bad", "value", 5, 0, 0, 0, 0);
            w_tag(&bad, 3, I32);
            cr_buf_add(&bad, "\1\2", 2); /* a fixed32 cut */
            w_msg(&ev, 3, &good);
            w_msg(&ev, 2, &bad);
            w_msg(&body, 11, &ev);
        }
        snprintf(what, sizeof(what), "a bad kv after %zu", counts[i]);
        refuse_watch(what, &body);

        /* ...then a cut field after all of them */
        valid_watch_start(&body, (int)counts[i]);
        w_str(&body, 6, "another reason");
        cr_buf_add(&body, "\x0a\x05\x18", 3);
        snprintf(what, sizeof(what), "a cut header after %zu", counts[i]);
        refuse_watch(what, &body);
    }
}

/* --- gRPC errors ------------------------------------------------------------------ */

static void test_grpc_error(void **state)
{
    cr_err err;

    assert_int_equal(store_grpc_error("5", "etcdserver%3A%20key%20not%20found", &err), -1);
    assert_int_equal(err.code, CR_ENOTFOUND);
    assert_string_equal(err.detail, "etcd code 5: etcdserver: key not found");
    assert_int_equal(store_err_grpc_code(&err), 5);

    assert_int_equal(
        store_grpc_error("3", "etcdserver%3A%20too%20many%20operations%20in%20txn%20request", &err),
        -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    assert_string_equal(err.detail, "etcd code 3: etcdserver: too many operations in txn request");
    assert_int_equal(store_err_grpc_code(&err), 3);

    assert_int_equal(store_grpc_error("3", "etcdserver%3A%20key%20is%20not%20provided", &err), -1);
    assert_int_equal(err.code, CR_EINVAL);

    assert_int_equal(store_grpc_error("14", "etcdserver%3A%20no%20leader", &err), -1);
    assert_int_equal(err.code, CR_EUNAVAIL);
    assert_string_equal(err.detail, "etcd code 14: etcdserver: no leader");
    assert_int_equal(store_err_grpc_code(&err), 14);

    assert_int_equal(store_grpc_error("16", "etcdserver%3A%20invalid%20auth%20token", &err), -1);
    assert_int_equal(err.code, CR_EFORBIDDEN);
    assert_int_equal(store_err_grpc_code(&err), 16);

    assert_int_equal(store_grpc_error("8", NULL, &err), -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    assert_string_equal(err.detail, "etcd code 8: ");

    /* no status, or not a number: etcd's error, no gRPC code */
    assert_int_equal(store_grpc_error(NULL, "lost%20it", &err), -1);
    assert_int_equal(err.code, CR_EETCD);
    assert_non_null(strstr(err.detail, "lost it"));
    assert_int_equal(store_err_grpc_code(&err), -1);
    assert_int_equal(store_grpc_error("abc", "x", &err), -1);
    assert_int_equal(err.code, CR_EETCD);
    assert_int_equal(store_err_grpc_code(&err), -1);
    assert_int_equal(store_grpc_error("", "x", &err), -1);
    assert_int_equal(err.code, CR_EETCD);
    assert_int_equal(store_grpc_error("5x", "x", &err), -1);
    assert_int_equal(err.code, CR_EETCD);
    assert_int_equal(store_err_grpc_code(&err), -1);

    /* escapes: bad ones kept as they are, either case of hex decoded */
    assert_int_equal(store_grpc_error("5", "a%zzb%2fc%2Fd%4", &err), -1);
    assert_string_equal(err.detail, "etcd code 5: a%zzb/c/d%4");
    assert_int_equal(store_grpc_error("5", "%", &err), -1);
    assert_string_equal(err.detail, "etcd code 5: %");
    assert_int_equal(store_grpc_error("5", "100%25%g1", &err), -1);
    assert_string_equal(err.detail, "etcd code 5: 100%%g1");
}

static void test_grpc_error_long_message(void **state)
{
    char msg[3000];
    cr_err err;

    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    assert_int_equal(store_grpc_error("4", msg, &err), -1);
    assert_int_equal(err.code, CR_ETIMEOUT);
    assert_int_equal(store_err_grpc_code(&err), 4);
    assert_true(strncmp(err.detail, "etcd code 4: mmm", 16) == 0);
    /* a long escaped message, cut: never past a buffer */
    for (size_t i = 0; i + 3 < sizeof(msg); i += 3)
        memcpy(msg + i, "%41", 3);
    assert_int_equal(store_grpc_error("4", msg, &err), -1);
    assert_true(strncmp(err.detail, "etcd code 4: AAA", 16) == 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pb_encode_empty_txn),
    cmocka_unit_test(test_pb_encode_compares),
    cmocka_unit_test(test_pb_encode_ops),
    cmocka_unit_test(test_pb_encode_fence),
    cmocka_unit_test(test_pb_encode_frame_length),
    cmocka_unit_test(test_pb_parse_txn_answer),
    cmocka_unit_test(test_pb_parse_failed_txn),
    cmocka_unit_test(test_pb_parse_kv_defaults),
    cmocka_unit_test(test_pb_parse_many),
    cmocka_unit_test(test_pb_parse_skips_unknown_fields),
    cmocka_unit_test(test_pb_parse_rejects_bad_frames),
    cmocka_unit_test(test_pb_parse_rejects_bad_wire),
    cmocka_unit_test(test_pb_parse_rejects_late_errors),
    cmocka_unit_test(test_pb_encode_watch_create),
    cmocka_unit_test(test_pb_parse_watch),
    cmocka_unit_test(test_pb_parse_watch_many),
    cmocka_unit_test(test_pb_parse_watch_skips_unknown_fields),
    cmocka_unit_test(test_pb_parse_watch_rejects),
    cmocka_unit_test(test_pb_parse_watch_rejects_late_errors),
    cmocka_unit_test(test_grpc_error),
    cmocka_unit_test(test_grpc_error_long_message),
};

CR_TEST_MAIN(tests)
