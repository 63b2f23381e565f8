/* Unit tests of mesosbridge/jsplit.c: a text parsed with its big arrays
 * streamed must be what json_loadb makes of it, element for element, and
 * be refused where json_loadb refuses it. Hand-picked texts, then a
 * fixed-seed property test over generated texts and their mutations. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mesosbridge/jsplit.h"
#include "test/lib/cr_test.h"

static const char *const agents_path[] = {"get_agents", "agents", NULL};
static const char *const offers_path[] = {"offers", "offers", NULL};
static const char *const *const paths[] = {agents_path, offers_path};

/* What each() saw: the elements of each path, in order. */
typedef struct seen {
    json_t *arr[2];
    size_t calls;
    size_t stop_at; /* fail at this call (0: never) */
} seen;

static int collect(void *arg, size_t which, size_t i, const json_t *elem, cr_err *err)
{
    seen *s = arg;
    assert_true(which < 2);
    assert_int_equal(i, json_array_size(s->arr[which])); /* in order, from 0 */
    if (++s->calls == s->stop_at)
        return cr_error(err, CR_EINVAL, "stopped by the callback");
    json_array_append(s->arr[which], (json_t *)elem);
    return 0;
}

/* The tree mb_jsplit_load gave with the streamed elements put back. */
static void put_back(json_t *top, seen *s)
{
    for (size_t k = 0; k < 2; k++) {
        json_t *o = top;
        size_t d = 0;
        for (; paths[k][d + 1]; d++)
            o = json_object_get(o, paths[k][d]);
        json_t *arr = json_object_get(o, paths[k][d]);
        if (json_is_array(arr)) {
            assert_int_equal(json_array_size(arr), 0);
            json_array_extend(arr, s->arr[k]);
        } else {
            assert_int_equal(json_array_size(s->arr[k]), 0);
        }
    }
}

/* Whether text has a NUL byte right after a number or a literal (true,
 * false, null): the byte jansson's lexer skips. */
static bool nul_after_token(const char *text, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if (!text[i] && isalnum((unsigned char)text[i - 1]))
            return true;
    return false;
}

/* Loads text both ways; returns whether jsplit accepted it, and checks
 * that it agrees with json_loadb. */
static bool check(const char *text, size_t len)
{
    json_error_t je;
    json_t *want = json_loadb(text, len, 0, &je);
    seen s = {{json_array(), json_array()}, 0, 0};
    cr_err err;
    json_t *got = mb_jsplit_load(text, len, paths, 2, collect, &s, &err);

    if (!got) {
        assert_int_equal(err.code, CR_EPARSE);
        /* refused on purpose: a split member given twice, a NUL byte
         * right after a number or a literal (which jansson skips) */
        if (want && !strstr(cr_err_msg(&err), "given twice") && !nul_after_token(text, len)) {
            fprintf(stderr, "jsplit refused what jansson takes: %.*s\n(%s)\n", (int)len, text,
                    cr_err_msg(&err));
            fail();
        }
    } else {
        if (!want) {
            fprintf(stderr, "jsplit took what jansson refuses (%s): %.*s\n", je.text, (int)len,
                    text);
            fail();
        }
        put_back(got, &s);
        if (!json_equal(got, want)) {
            char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
            fprintf(stderr, "differ:\n got  %s\n want %s\n", a, b);
            fail();
        }
    }
    json_decref(got);
    json_decref(want);
    json_decref(s.arr[0]);
    json_decref(s.arr[1]);
    return got != NULL;
}

static void test_hand_picked(void **state)
{
    static const char *const good[] = {
        ("{\"type\":\"GET_AGENTS\",\"get_agents\":{\"agents\":[{\"agent_info\":{\"id\":{\"value\":"
         "\"S0\"}}},{\"x\":[1,2,{\"y\":null}]}],\"recovered_agents\":[]}}"),
        "{\"get_agents\":{\"agents\":[]}}",
        " \t\n{ \"get_agents\" : { \"agents\" : [ 1 , \"two\" , true , null , -3.5e2 ] } } \n",
        "{\"offers\":{\"offers\":[{\"id\":{\"value\":\"o1\"}}]},\"type\":\"OFFERS\"}",
        "{\"offers\":{\"offers\":{\"not\":\"an array\"}}}",
        "{\"offers\":[\"not on the path\"]}",
        "{\"get_agents\":\"a string\"}",
        "{\"a\":1,\"a\":2}",
        "{\"get_agents\":{\"x\":1,\"x\":{\"agents\":[1]}}}",
        "[{\"get_agents\":{\"agents\":[1]}}]",
        "{\"\\u00e9\\n\":\"\\ud83d\\ude00\",\"offers\":{\"offers\":[\"\\\"\",\"\\\\\"]}}",
        "{}",
        "[]",
    };
    static const char *const bad[] = {
        "",
        "   ",
        "1",
        "\"s\"",
        "null",
        "{",
        "{\"get_agents\":{\"agents\":[1,2",
        "{\"get_agents\":{\"agents\":[1,]}}",
        "{\"get_agents\":{\"agents\":[1 2]}}",
        "{\"get_agents\":{\"agents\":[01]}}",
        "{\"get_agents\":{\"agents\":[tru]}}",
        "{\"get_agents\":{\"agents\":[\"unterminated]}}",
        "{\"get_agents\" {\"agents\":[]}}",
        "{get_agents:{}}",
        "{\"a\\u0000b\":1}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"get_agents\":{\"agents\":[1]},\"get_agents\":{\"agents\":[2]}}",
        "{\"get_agents\":{\"agents\":[1],\"agents\":[2]}}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(check(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(check(bad[i], strlen(bad[i])));
    /* a NUL byte inside the text (which jansson takes after a number) */
    assert_false(check("{\"a\":1\0}", 8));
    assert_false(check("{\"a\":true\0}", 11));
    assert_false(check("{\"get_agents\":{\"agents\":[\"x\0\"]}}", 31));
}

static void test_streams_in_order_and_stops(void **state)
{
    const char *t = "{\"get_agents\":{\"recovered_agents\":[7],\"agents\":[1,2,3]},"
                    "\"offers\":{\"offers\":[4,5]}}";
    static const char *const rec_path[] = {"get_agents", "recovered_agents", NULL};
    static const char *const *const three[] = {agents_path, offers_path, rec_path};
    seen s = {{json_array(), json_array()}, 0, 0};
    cr_err err;
    json_t *top = mb_jsplit_load(t, strlen(t), three, 2, collect, &s, &err);

    assert_non_null(top);
    assert_int_equal(s.calls, 5);
    assert_int_equal(json_integer_value(json_array_get(s.arr[0], 2)), 3);
    assert_int_equal(json_integer_value(json_array_get(s.arr[1], 1)), 5);
    /* recovered_agents was not asked for: it stays in the tree */
    assert_int_equal(json_array_size(json_object_get(json_object_get(top, "get_agents"),
                                                     "recovered_agents")),
                     1);
    json_decref(top);
    json_decref(s.arr[0]);
    json_decref(s.arr[1]);

    /* the callback's error stops the load and is what the caller gets */
    seen st = {{json_array(), json_array()}, 0, 2};
    assert_null(mb_jsplit_load(t, strlen(t), three, 2, collect, &st, &err));
    assert_int_equal(err.code, CR_EINVAL);
    assert_string_equal(cr_err_msg(&err), "stopped by the callback");
    assert_int_equal(st.calls, 2);
    json_decref(st.arr[0]);
    json_decref(st.arr[1]);
}

/* ---- generated texts ------------------------------------------------------------ */

static const char *const keys[] = {"get_agents", "agents", "offers", "a", "b", "\xc3\xa9",
                                   "recovered_agents", "type"};

static json_t *gen(uint64_t *r, int depth)
{
    unsigned k = cr_test_rand(r, depth > 3 ? 6 : 9);
    switch (k) {
    case 0:
        return json_integer((json_int_t)cr_test_rand(r, 100000) - 50000);
    case 1:
        return json_real((double)cr_test_rand(r, 100000) / 7.0);
    case 2: {
        static const char *const strs[] = {"", "x", "q\"uote", "back\\slash", "tab\t",
                                           "\xe2\x82\xac", "new\nline", "\x01"};
        return json_string(strs[cr_test_rand(r, 8)]);
    }
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6:
    case 7: {
        json_t *o = json_object();
        unsigned n = cr_test_rand(r, 4);
        for (unsigned i = 0; i < n; i++)
            json_object_set_new(o, keys[cr_test_rand(r, 8)], gen(r, depth + 1));
        return o;
    }
    default: {
        json_t *a = json_array();
        unsigned n = cr_test_rand(r, 4);
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(a, gen(r, depth + 1));
        return a;
    }
    }
}

/* A top object that often holds the split paths. */
static json_t *gen_top(uint64_t *r)
{
    json_t *top = cr_test_rand(r, 10) ? json_object() : json_array();
    if (json_is_array(top)) {
        json_array_append_new(top, gen(r, 1));
        return top;
    }
    for (unsigned i = cr_test_rand(r, 3); i > 0; i--)
        json_object_set_new(top, keys[cr_test_rand(r, 8)], gen(r, 1));
    if (cr_test_rand(r, 4)) {
        json_t *arr = json_array();
        for (unsigned i = cr_test_rand(r, 5); i > 0; i--)
            json_array_append_new(arr, gen(r, 2));
        json_t *mid = json_object();
        json_object_set_new(mid, cr_test_rand(r, 2) ? "agents" : "offers", arr);
        json_object_set_new(top, cr_test_rand(r, 2) ? "get_agents" : "offers", mid);
    }
    return top;
}

static void test_generated_and_mutated(void **state)
{
    static const char inserts[] = "{}[],:\" \\0-1e.tn\0";
    uint64_t r = 20261207;
    size_t accepted = 0, refused = 0;

    for (int doc = 0; doc < 3000; doc++) {
        json_t *j = gen_top(&r);
        size_t flags = cr_test_rand(&r, 2) ? JSON_COMPACT : JSON_INDENT(cr_test_rand(&r, 3));
        char *text = json_dumps(j, flags | JSON_ENCODE_ANY);
        size_t len = strlen(text);

        assert_true(check(text, len));
        for (int m = 0; m < 6; m++) {
            char *mut = malloc(len + 2);
            size_t at = len ? cr_test_rand(&r, (unsigned)len) : 0, n = len;
            memcpy(mut, text, len);
            switch (cr_test_rand(&r, 4)) {
            case 0: /* delete a byte */
                if (n) {
                    memmove(mut + at, mut + at + 1, n - at - 1);
                    n--;
                }
                break;
            case 1: /* insert one */
                memmove(mut + at + 1, mut + at, n - at);
                mut[at] = inserts[cr_test_rand(&r, sizeof(inserts) - 1)];
                n++;
                break;
            case 2: /* replace one */
                if (n)
                    mut[at] = inserts[cr_test_rand(&r, sizeof(inserts) - 1)];
                break;
            default: /* cut the text */
                n = at;
                break;
            }
            if (check(mut, n))
                accepted++;
            else
                refused++;
            free(mut);
        }
        free(text);
        json_decref(j);
    }
    /* both kinds of mutation outcome were exercised */
    assert_true(accepted > 500);
    assert_true(refused > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_picked),
        cmocka_unit_test(test_streams_in_order_and_stops),
        cmocka_unit_test(test_generated_and_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
