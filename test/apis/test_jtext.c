/* api_jtext against jansson itself: for texts jansson accepts without a
 * repeated key, walking the text answers what the parsed tree answers, and
 * re-encoding it writes what json_dumps writes. Hand-picked texts (escapes,
 * surrogate pairs, numbers jansson rewrites, whitespace) and a few thousand
 * generated ones (a fixed seed, so a failure repeats). */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "apis/jtext.h"

static const size_t FLAGS[] = {
    JSON_COMPACT | JSON_ENCODE_ANY, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15),
    JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(4),
    JSON_COMPACT, /* objects and arrays only */
};

/* Every member of every object in tree j, looked up in the text span v
 * (and one that is not there), walked in order, against the tree. */
static void check_members(const json_t *j, api_jspan v)
{
    api_jspan k, m;
    size_t at = 0, i = 0;
    const char *key;
    json_t *val;
    void *iter = json_object_iter((json_t *)j);

    assert_int_equal(api_jtext_type(v), '{');
    while (api_jtext_next(v, &at, &k, &m)) {
        assert_non_null(iter); /* the same members, in the same order */
        key = json_object_iter_key(iter);
        val = json_object_iter_value(iter);
        assert_true(api_jtext_key_is(k, key));
        json_t *got = api_jtext_json(m);
        assert_true(json_equal(got, val));
        json_decref(got);
        iter = json_object_iter_next((json_t *)j, iter);
        i++;
    }
    assert_null(iter);
    assert_int_equal(i, json_object_size(j));
    json_object_foreach ((json_t *)j, key, val) {
        cr_buf b = CR_BUF_INIT;
        int64_t n = 0;
        api_jspan got = api_jtext_get(v, key);
        assert_non_null(got.p);
        assert_int_equal(api_jtext_string(got, &b), json_is_string(val));
        if (json_is_string(val)) {
            assert_int_equal(b.len, json_string_length(val));
            assert_memory_equal(b.data, json_string_value(val), b.len);
            if (!memchr(json_string_value(val), '\0', json_string_length(val)))
                assert_true(api_jtext_string_is(got, json_string_value(val)));
        }
        cr_buf_release(&b);
        assert_int_equal(api_jtext_integer(got, &n), json_is_integer(val));
        if (json_is_integer(val))
            assert_true(n == json_integer_value(val));
        if (json_is_object(val))
            check_members(val, got);
    }
    assert_null(api_jtext_get(v, "\x01not a key").p);
}

/* Whether v is printable ASCII with no backslash and no run of 19 digits
 * (what api_jtext_is_ascii_dump takes of a dump). */
static bool plain_ascii(api_jspan v)
{
    size_t digits = 0;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            return false;
        digits = c >= '0' && c <= '9' ? digits + 1 : 0;
        if (digits >= 19)
            return false;
    }
    return true;
}

/* One text: every answer of api_jtext against jansson's. */
static void check_text(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    api_jspan v = api_jtext_span(text, strlen(text));

    if (!j)
        fail_msg("fixture is not JSON (%s): %s", je.text, text);
    for (size_t f = 0; f < sizeof(FLAGS) / sizeof(FLAGS[0]); f++) {
        cr_buf b = CR_BUF_INIT;
        char *want = json_dumps(j, FLAGS[f]);
        if (!want)
            continue; /* JSON_COMPACT alone: a bare value */
        api_jtext_dump(v, FLAGS[f], &b);
        /* the bytes are a dump exactly when the dump is those bytes */
        assert_int_equal(api_jtext_is_dump(v, FLAGS[f]),
                         b.len == v.n && memcmp(b.data, v.p, v.n) == 0);
        if (strcmp(cr_buf_str(&b), want) != 0)
            fail_msg("dump (flags %zx) of %s\n got: %s\nwant: %s", FLAGS[f], text, cr_buf_str(&b),
                     want);
        free(want);
        cr_buf_release(&b);
    }
    /* the strict check: true only for a dump, and for every dump of
     * printable ASCII with no escape and no integer of 19 digits */
    for (size_t f = 0; f < sizeof(FLAGS) / sizeof(FLAGS[0]); f++) {
        bool ascii = api_jtext_is_ascii_dump(v, FLAGS[f], 64);
        if (ascii)
            assert_true(api_jtext_is_dump(v, FLAGS[f]));
        else if (api_jtext_is_dump(v, FLAGS[f]) && plain_ascii(v))
            fail_msg("a plain dump refused (flags %zx): %s", FLAGS[f], text);
    }
    json_t *built = api_jtext_json(v);
    char *a = json_dumps(built, JSON_ENCODE_ANY), *b = json_dumps(j, JSON_ENCODE_ANY);
    if (!json_equal(built, j) || strcmp(a, b) != 0)
        fail_msg("tree of %s\n got: %s\nwant: %s", text, a, b);
    free(a);
    free(b);
    json_decref(built);
    if (json_is_object(j))
        check_members(j, v);
    json_decref(j);
}

static void test_hand_picked(void **state)
{
    static const char *const texts[] = {
        "{}",
        "[]",
        "  { }  ",
        "{\"a\":1}",
        "\t{ \"a\" : [ 1 , 2 , { \"b\" : null } ] ,\n\"c\" : true , \"d\":false }\r\n",
        "\"plain\"",
        "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0001 \\u001f \\u007f\"",
        "\"\\u00e9 \\u2603 \\ud83d\\ude00 \\uD83D\\uDE00 raw é ☃ 😀\"",
        "{\"k\\\"ey\":1,\"\\u0061b\":\"x\",\"a\\/b\":[]}",
        "[-0,0,-1,1,9223372036854775807,-9223372036854775808]",
        "[0.0,-0.0,0.1,0.10000000000000001,1e300,1E300,1e-300,1.5e-7,2.5E+3,100.0,1e2]",
        "[3.14159265358979323846,123456789.123456789,5e-324,1.7976931348623157e308]",
        "{\"resources\":{\"cpus\":0.10000000000000001,\"memoryMb\":64.0,\"diskMb\":0.0}}",
        "[[[[[[[[[[{\"deep\":[[[]]]}]]]]]]]]]]",
        "{\"s\":\"}]{[,:\\\"\",\"t\":\"\\\\\"}",
        "true",
        "null",
        "-12",
        "1.25",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_text(texts[i]);
}

/* ---- generated texts ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    return cr_test_rand(&rng, n);
}

static void ws(cr_buf *b)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    cr_buf_adds(b, w[rnd(7)]);
}

static void gen_string(cr_buf *b, int salt)
{
    static const char *const parts[] = {
        "a", "b", "id",      "taskId",  "\\\"",           "\\\\",     "\\/", "\\n", "\\t", "é",
        "☃", "😀", "\\u00e9", "\\u2603", "\\ud83d\\ude00", "\\u0000x", "-",   " ",   "{",   "}",
        "[", ":", ",",       "\\b",     "\\u001F",        "0.5"};
    size_t n = rnd(5);
    cr_buf_addch(b, '"');
    for (size_t i = 0; i < n; i++) {
        const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];
        if (strcmp(p, "\\u0000x") == 0)
            p = "x"; /* jansson refuses NUL without JSON_ALLOW_NUL */
        cr_buf_adds(b, p);
    }
    if (salt >= 0)
        cr_buf_addf(b, "%d", salt); /* keys of one object differ */
    cr_buf_addch(b, '"');
}

static void gen_number(cr_buf *b)
{
    static const char *const nums[] = {
        "0",     "-0",    "7",       "-42",           "1234567890123",
        "0.5",   "-0.0",  "1e3",     "1E-3",          "2.5e+10",
        "0.1",   "1e300", "123.456", "6.02214076e23", "0.30000000000000004",
        "100.0", "-1.5E2"};
    cr_buf_adds(b, nums[rnd(sizeof(nums) / sizeof(nums[0]))]);
}

static void gen_value(cr_buf *b, int depth)
{
    unsigned kind = rnd(depth > 3 ? 4 : 7);
    size_t n;

    switch (kind) {
    case 0:
        gen_string(b, -1);
        break;
    case 1:
        gen_number(b);
        break;
    case 2: {
        static const char *const lit[] = {"true", "false", "null"};
        cr_buf_adds(b, lit[rnd(3)]);
        break;
    }
    case 3:
        gen_number(b);
        break;
    case 4:
    case 5:
        n = rnd(5);
        cr_buf_addch(b, '{');
        for (size_t i = 0; i < n; i++) {
            ws(b);
            gen_string(b, (int)i);
            ws(b);
            cr_buf_addch(b, ':');
            ws(b);
            gen_value(b, depth + 1);
            ws(b);
            if (i + 1 < n)
                cr_buf_addch(b, ',');
        }
        cr_buf_addch(b, '}');
        break;
    default:
        n = rnd(4);
        cr_buf_addch(b, '[');
        for (size_t i = 0; i < n; i++) {
            ws(b);
            gen_value(b, depth + 1);
            ws(b);
            if (i + 1 < n)
                cr_buf_addch(b, ',');
        }
        cr_buf_addch(b, ']');
        break;
    }
}

/* What jansson wrote is a dump; anything it writes otherwise is not. */
static void test_is_dump(void **state)
{
    static const char *const yes[] = {"{\"a\":[1,2.5,\"x\\\"y\"],\"b\":null}",
                                      "0.10000000000000001", "\"\\u001F\""};
    static const char *const no[] = {"{\"a\": 1}",  "0.1",     "1E2", "-0",
                                     "\"\\u001f\"", "\"\\/\"", " 1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(api_jtext_is_dump(api_jtext_span(yes[i], strlen(yes[i])),
                                      JSON_COMPACT | JSON_ENCODE_ANY));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        api_jspan v = {no[i], strlen(no[i])}; /* untrimmed: leading space counts */
        assert_false(api_jtext_is_dump(v, JSON_COMPACT | JSON_ENCODE_ANY));
    }
    assert_true(api_jtext_is_dump(api_jtext_span("0.1", 3),
                                  JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)));
    assert_false(api_jtext_is_dump(api_jtext_span(NULL, 0), JSON_COMPACT));
}

static void test_generated(void **state)
{
    for (int i = 0; i < 4000; i++) {
        cr_buf b = CR_BUF_INIT;
        ws(&b);
        if (i % 2) {
            /* an object at the top, like every document */
            cr_buf_adds(&b, "{\"taskId\":");
            gen_value(&b, 1);
            cr_buf_adds(&b, ",\"x\":");
            gen_value(&b, 0);
            cr_buf_addch(&b, '}');
        } else {
            gen_value(&b, 0);
        }
        ws(&b);
        check_text(cr_buf_str(&b));
        cr_buf_release(&b);
    }
}

/* A copy of s's n bytes with no NUL after them: a read past shows in
 * ASan (caller frees). */
static char *unterminated(const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    return copy;
}

/* Outside the rule (not JSON, a span cut short) nothing is read past the
 * span and no answer crashes. */
static void test_malformed_stays_inside(void **state)
{
    static const char *const bad[] = {"{",      "{\"a\"",    "{\"a\":",   "{\"a\":1,", "[1,",
                                      "\"open", "{\"a\":\"", "{\"a\":[}", "}",         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        char *copy = unterminated(bad[i], n);
        api_jspan v = api_jtext_span(copy, n), k, m;
        size_t at = 0;
        cr_buf b = CR_BUF_INIT;
        int64_t x;
        while (api_jtext_next(v, &at, &k, &m))
            ;
        (void)api_jtext_get(v, "a");
        (void)api_jtext_integer(v, &x);
        api_jtext_dump(v, JSON_COMPACT | JSON_ENCODE_ANY, &b);
        json_decref(api_jtext_json(v));
        cr_buf_release(&b);
        free(copy);
    }
    assert_int_equal(api_jtext_type(api_jtext_span(NULL, 0)), 0);
    assert_null(api_jtext_json(api_jtext_span("  ", 2)));
}

/* api_jtext_is_ascii_dump takes any bytes: hand-picked ones, and edits
 * of generated dumps (a fixed seed); what it takes, jansson reads (no key
 * twice) and writes again as the same bytes. */
static void assert_proven(api_jspan v, size_t flags)
{
    json_t *j = json_loadb(v.p, v.n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    char *d;

    if (!j)
        fail_msg("taken but not JSON: %.*s", (int)v.n, v.p);
    d = json_dumps(j, flags | JSON_ENCODE_ANY);
    if (strlen(d) != v.n || memcmp(d, v.p, v.n) != 0)
        fail_msg("taken but not a dump: %.*s (jansson: %s)", (int)v.n, v.p, d);
    free(d);
    json_decref(j);
}

static void test_ascii_dump(void **state)
{
    static const char *const yes[] = {
        "{}",
        "[]",
        "\"\"",
        "-5",
        "0",
        "123456789012345678",
        "0.10000000000000001",
        "1.5",
        "100.0",
        "{\"a\":[1,2.5,\"x y/{}[]:,\"],\"b\":null,\"c\":true,\"d\":{\"e\":false}}",
    };
    static const char *const no[] = {
        " 1",
        "{\"a\": 1}",
        "{\"a\":1,\"a\":2}",
        "[1 2]",
        "[1,]",
        "{\"a\"1}",
        "{\"a\":}",
        "{,}",
        "01",
        "-0",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "0.1",
        "1E300",
        "tru",
        "nul",
        "[1]x",
        "{\"a\":1}}",
        "\"\\n\"",
        "\"\xc3\xa9\"",
        "\"\x7f\"",
        "\"\x01\"",
        "\"open",
        "1234567890123456789",
        "1e999",
        "1E666666666666666666666666666666666666666666666666666666666666666666666666666666", /* long
                                                                                             */
        "[[[[[[[[[[]]]]]]]]]]", /* 10 deep: over the limit of 9 below */
    };
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    cr_buf wide = CR_BUF_INIT;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        api_jspan v = {yes[i], strlen(yes[i])};
        if (!api_jtext_is_ascii_dump(v, flags, 9))
            fail_msg("refused: %s", yes[i]);
        assert_proven(v, flags);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        size_t n = strlen(no[i]);
        char *copy = unterminated(no[i], n);
        if (api_jtext_is_ascii_dump((api_jspan){copy, n}, flags, 9))
            fail_msg("taken: %s", no[i]);
        free(copy);
    }
    /* an object of 33 keys is more than it checks for repeats */
    cr_buf_addch(&wide, '{');
    for (int i = 0; i < 33; i++)
        cr_buf_addf(&wide, "%s\"k%d\":%d", i ? "," : "", i, i);
    cr_buf_addch(&wide, '}');
    assert_false(api_jtext_is_ascii_dump((api_jspan){wide.data, wide.len}, flags, 9));
    cr_buf_release(&wide);
    assert_false(api_jtext_is_ascii_dump((api_jspan){NULL, 0}, flags, 9));

    /* edits of dumps: bytes that make or break JSON, at random places */
    static const char bytes[] = "\xff\x01\"\\,:{}[] 0-.eE5tnf";
    int taken = 0;
    for (int i = 0; i < 3000; i++) {
        cr_buf b = CR_BUF_INIT;
        json_t *j;
        char *d;
        gen_value(&b, 0);
        j = json_loads(cr_buf_str(&b), JSON_DECODE_ANY, NULL);
        d = json_dumps(j, flags);
        size_t n = strlen(d), at = rnd((unsigned)n);
        switch (rnd(3)) {
        case 0:
            d[at] = bytes[rnd(sizeof(bytes) - 1)];
            break;
        case 1:
            memmove(d + at, d + at + 1, n - at);
            n--;
            break;
        default:
            break; /* the dump itself */
        }
        if (api_jtext_is_ascii_dump((api_jspan){d, n}, flags, 64)) {
            assert_proven((api_jspan){d, n}, flags);
            taken++;
        }
        free(d);
        json_decref(j);
        cr_buf_release(&b);
    }
    assert_true(taken > 300);
}

/* api_jtext_json_any: any bytes, nesting bounded; a hollow part built empty. */
static void test_json_any(void **state)
{
    static const char text[] = "{\"a\":{\"b\":[1,{\"c\":2}]},\"d\":[3],\"e\":\"f\"}";
    api_jspan v = api_jtext_span(text, strlen(text)), a = api_jtext_get(v, "a");
    json_t *j = api_jtext_json_any(v, 8, (api_jspan){0}), *want = json_loads(text, 0, NULL);
    char *deep = malloc(300000);

    assert_true(json_equal(j, want));
    json_decref(j);
    j = api_jtext_json_any(v, 8, a);
    json_object_set_new(want, "a", json_object());
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    /* deeper than max_depth: not what jansson reads, and no stack spent */
    j = api_jtext_json_any(v, 2, (api_jspan){0});
    want = json_loads(text, 0, NULL);
    assert_false(json_equal(j, want));
    json_decref(want);
    json_decref(j);
    memset(deep, '[', 150000);
    memset(deep + 150000, ']', 150000);
    j = api_jtext_json_any((api_jspan){deep, 300000}, 32, (api_jspan){0});
    json_decref(j);
    memset(deep, '{', 300000);
    json_decref(api_jtext_json_any((api_jspan){deep, 300000}, 32, (api_jspan){0}));
    free(deep);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ascii_dump),  cmocka_unit_test(test_json_any),
    cmocka_unit_test(test_hand_picked), cmocka_unit_test(test_is_dump),
    cmocka_unit_test(test_generated),   cmocka_unit_test(test_malformed_stays_inside),
};

CR_TEST_MAIN(tests)
