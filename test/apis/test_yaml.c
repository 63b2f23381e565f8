/* Unit tests of apis/yaml.c: scalar resolution, positions, multi-document
 * streams, anchors and merge keys, errors, and emit/parse round trips. */
#include <string.h>

#include "apis/yaml.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static void test_resolve_plain(void **state)
{
    static const struct {
        const char *in;
        const char *json;
    } cases[] = {
        {"", "null"},           {"~", "null"},      {"null", "null"},
        {"true", "true"},       {"False", "false"}, {"42", "42"},
        {"-7", "-7"},           {"0x1f", "31"},     {"0o17", "15"},
        {"1.5", "1.5"},         {"1e3", "1000.0"},  {"yes", "\"yes\""},
        {"1.2.3", "\"1.2.3\""}, {"abc", "\"abc\""}, {"*/3 * * * *", "\"*/3 * * * *\""},
        {".", "\".\""},         {"-", "\"-\""},     {"99999999999999999999", "1e+20"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = api_yaml_resolve_plain(cases[i].in);
        json_error_t e;
        json_t *want = json_loads(cases[i].json, JSON_DECODE_ANY, &e);
        if (!json_equal(v, want))
            fail_msg("resolve(%s) = %s, want %s", cases[i].in, json_dumps(v, JSON_ENCODE_ANY),
                     cases[i].json);
        json_decref(v);
        json_decref(want);
    }
}

static void test_positions_and_types(void **state)
{
    const char *y = "# comment\n"
                    "a: 1\n"
                    "b:\n"
                    "  c: 'quoted 1'\n"
                    "  d: [x, \"2\", 3]\n"
                    "e:\n"
                    "  - f: true\n"
                    "    g: !!str 5\n";
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(y, strlen(y), "t.yaml", &docs, &n, &p), 0);
    assert_int_equal(n, 1);
    json_t *r = docs[0].root;
    assert_int_equal(json_integer_value(json_object_get(r, "a")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "b"), "c")),
                        "quoted 1");
    json_t *d = json_object_get(json_object_get(r, "b"), "d");
    assert_string_equal(json_string_value(json_array_get(d, 1)), "2");
    assert_int_equal(json_integer_value(json_array_get(d, 2)), 3);
    json_t *e0 = json_array_get(json_object_get(r, "e"), 0);
    assert_true(json_is_true(json_object_get(e0, "f")));
    assert_string_equal(json_string_value(json_object_get(e0, "g")), "5");
    int line, col;
    assert_true(api_srcmap_find(docs[0].srcmap, "b.c", &line, &col));
    assert_int_equal(line, 4);
    assert_int_equal(col, 3);
    assert_true(api_srcmap_find(docs[0].srcmap, "e[0].g", &line, &col));
    assert_int_equal(line, 8);
    assert_int_equal(col, 5);
    /* Unknown paths fall back to the nearest parent. */
    assert_true(api_srcmap_find(docs[0].srcmap, "b.zzz.y", &line, &col));
    assert_int_equal(line, 3);
    assert_string_equal(api_srcmap_file(docs[0].srcmap), "t.yaml");
    api_docs_free(docs, n);
    assert_int_equal(p.n, 0);
}

static void test_multi_document_and_json(void **state)
{
    const char *y = "---\na: 1\n---\n---\n{\"b\": [1, 2.5, \"x\", null, false]}\n";
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(y, strlen(y), "m.yaml", &docs, &n, &p), 0);
    assert_int_equal(n, 3);
    assert_true(json_is_null(docs[1].root));
    json_error_t e;
    json_t *want = json_loads("{\"b\": [1, 2.5, \"x\", null, false]}", 0, &e);
    assert_true(json_equal(docs[2].root, want));
    assert_int_equal(docs[2].line, 5);
    json_decref(want);
    api_docs_free(docs, n);
}

static void test_anchors_and_merge(void **state)
{
    const char *y = "base: &b\n  cpus: 1\n  mem: 64\n"
                    "x:\n  <<: *b\n  mem: 128\n"
                    "y: *b\n";
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(y, strlen(y), "a.yaml", &docs, &n, &p), 0);
    json_t *x = json_object_get(docs[0].root, "x");
    assert_int_equal(json_integer_value(json_object_get(x, "cpus")), 1);
    assert_int_equal(json_integer_value(json_object_get(x, "mem")), 128);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(docs[0].root, "y"), "mem")),
                     64);
    api_docs_free(docs, n);
}

static void expect_error(const char *y, int line, const char *msg)
{
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(y, strlen(y), "e.yaml", &docs, &n, &p), -1);
    assert_int_equal(p.n, 1);
    if (p.v[0].line != line || !strstr(p.v[0].msg, msg))
        fail_msg("%s: got %d %s", y, p.v[0].line, p.v[0].msg);
    assert_string_equal(p.v[0].file, "e.yaml");
    api_docs_free(docs, n);
    api_problems_release(&p);
}

static void test_errors(void **state)
{
    expect_error("a: 1\nb: [1, 2\n", 3, "syntax");
    expect_error("a: 1\na: 2\n", 2, "duplicate key");
    expect_error("a: *nope\n", 1, "");
    expect_error("? [a, b]\n: 1\n", 1, "keys");
    /* Billion laughs is bounded. */
    const char *lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    expect_error(lol, 7, "too large");
    /* Deep nesting is bounded. */
    char deep[1200];
    memset(deep, '[', 1000);
    deep[1000] = 0;
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(deep, strlen(deep), "d.yaml", &docs, &n, &p), -1);
    assert_true(p.n >= 1);
    api_docs_free(docs, n);
    api_problems_release(&p);
}

static void test_json_fallback(void **state)
{
    /* libyaml refuses surrogate pairs; JSON allows them. */
    const char *j = "{\"a\": \"\\ud83d\\ude00\", \"b\": [1]}\n{\"c\": 2}";
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    assert_int_equal(api_yaml_parse(j, strlen(j), "s.json", &docs, &n, &p), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(n, 2);
    assert_string_equal(json_string_value(json_object_get(docs[0].root, "a")), "\xf0\x9f\x98\x80");
    assert_int_equal(json_integer_value(json_object_get(docs[1].root, "c")), 2);
    int line, col;
    assert_false(api_srcmap_find(docs[0].srcmap, "a", &line, &col));
    api_docs_free(docs, n);
    /* Broken JSON keeps libyaml's positioned error. */
    const char *bad = "{\"a\": \"\\ud83d\\ude00\",\n \"b\": [1}";
    assert_int_equal(api_yaml_parse(bad, strlen(bad), "s.json", &docs, &n, &p), -1);
    assert_int_equal(p.n, 1);
    assert_true(p.v[0].line >= 1);
    api_docs_free(docs, n);
    api_problems_release(&p);
}

static void test_emit_roundtrip(void **state)
{
    const char *in =
        "{\"s\": [\"123\", \"true\", \"\", \"null\", \"a: b\", \"- x\", \"multi\\nline\", \"#c\", "
        "\"*/3 * * * *\", \"0x10\", \"1.5\", \"~\", \" lead\", \"trail \", \"quote'\\\"\", \"ü\"],"
        " \"n\": [1, -2, 2.5, 1e300, 3.0], \"b\": [true, false, null], \"e\": {}, \"l\": [],"
        " \"nested\": {\"k\": [{\"a\": 1}, [1, [2]]]}, \"123\": \"numeric key\","
        " \"<<\": \"<<\"}"; /* a plain << would read back as a merge key */
    json_error_t e;
    json_t *j = json_loads(in, 0, &e);
    assert_non_null(j);
    char *y = api_yaml_emit(j);
    assert_non_null(y);
    api_problems p = API_PROBLEMS_INIT;
    api_doc *docs;
    size_t n;
    if (api_yaml_parse(y, strlen(y), "emit", &docs, &n, &p) != 0)
        fail_msg("emitted YAML does not parse:\n%s", y);
    assert_int_equal(n, 1);
    if (!json_equal(docs[0].root, j))
        fail_msg("round trip differs:\n%s\n%s", y, json_dumps(docs[0].root, 0));
    api_docs_free(docs, n);
    free(y);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_resolve_plain),
    cmocka_unit_test(test_positions_and_types),
    cmocka_unit_test(test_multi_document_and_json),
    cmocka_unit_test(test_anchors_and_merge),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_json_fallback),
    cmocka_unit_test(test_emit_roundtrip),
};

CR_TEST_MAIN(tests)
