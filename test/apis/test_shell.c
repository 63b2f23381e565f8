/* Unit tests of apis/shell.c: shell command ids, documents, and the
 * updates an executor sends back. */
#include <string.h>

#include "apis/shell.h"
#include "test/lib/cr_test.h"

static void test_ids(void **state)
{
    assert_true(api_shell_name_valid("jstack"));
    assert_true(api_shell_name_valid("heap-dump_2.v"));
    assert_false(api_shell_name_valid(""));
    assert_false(api_shell_name_valid(NULL));
    assert_false(api_shell_name_valid("a b"));
    assert_false(api_shell_name_valid("a/b"));
    assert_false(api_shell_name_valid(".."));
    char *id = api_shell_id(1764000000000, "jstack");
    assert_string_equal(id, "1764000000000-jstack");
    free(id);
    id = api_shell_id(5, "ls"); /* padded: keys sort in time order */
    assert_string_equal(id, "0000000000005-ls");
    free(id);
}

static void test_doc_and_updates(void **state)
{
    json_t *tid = cr_test_json("{\"id\":\"web-v1-1-1-h-r\",\"requestId\":\"web\"}");
    json_t *sc = cr_test_json("{\"name\":\"jstack\",\"options\":[\"force\"]}");
    json_t *doc = api_shell_doc_new(tid, "alice", 1700, sc);
    json_t *want = cr_test_json(
        "{\"shellRequest\":{\"taskId\":{\"id\":\"web-v1-1-1-h-r\",\"requestId\":\"web\"},"
        "\"user\":\"alice\",\"timestamp\":1700,\"shellCommand\":{\"name\":\"jstack\","
        "\"options\":[\"force\"]}},\"shellUpdates\":[]}");
    assert_true(json_equal(doc, want));

    const char *msg = "{\"shellRequestId\":{\"taskId\":{\"id\":\"web-v1-1-1-h-r\"},\"name\":"
                      "\"jstack\",\"timestamp\":1700},\"timestamp\":1800,\"updateType\":\"ACKED\","
                      "\"outputFilename\":\"executor.commands.jstack.1700.log\"}";
    char *t = NULL, *n = NULL;
    int64_t ts = 0;
    json_t *up = NULL;
    cr_err err;
    assert_int_equal(api_shell_update_parse(msg, strlen(msg), &t, &n, &ts, &up, &err), 0);
    assert_string_equal(t, "web-v1-1-1-h-r");
    assert_string_equal(n, "jstack");
    assert_int_equal(ts, 1700);
    assert_true(api_shell_doc_add_update(doc, up));
    assert_false(api_shell_doc_add_update(doc, up)); /* a repeated message */
    assert_int_equal(json_array_size(json_object_get(doc, "shellUpdates")), 1);
    free(t);
    free(n);
    json_decref(up);

    /* bounded */
    for (int i = 0; i < API_SHELL_MAX_UPDATES + 5; i++) {
        json_t *u = json_pack("{s:i,s:s}", "timestamp", i, "updateType", "STARTED");
        api_shell_doc_add_update(doc, u);
        json_decref(u);
    }
    json_t *ups = json_object_get(doc, "shellUpdates");
    assert_int_equal(json_array_size(ups), API_SHELL_MAX_UPDATES);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ups, 0), "timestamp")), 5);

    assert_true(api_shell_update_final("FINISHED"));
    assert_true(api_shell_update_final("INVALID"));
    assert_false(api_shell_update_final("ACKED"));
    json_decref(want);
    json_decref(doc);
    json_decref(sc);
    json_decref(tid);
}

static void test_bad_updates(void **state)
{
    const char *bad[] = {
        "x",
        "{}",
        "{\"shellRequestId\":{\"taskId\":\"t\",\"name\":\"a\",\"timestamp\":1},\"updateType\":"
        "\"DONE\"}",
        "{\"shellRequestId\":{\"taskId\":{},\"name\":\"a\",\"timestamp\":1},\"updateType\":"
        "\"ACKED\"}",
        "{\"shellRequestId\":{\"taskId\":\"t\",\"name\":\"a\"},\"updateType\":\"ACKED\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t, *n;
        int64_t ts;
        json_t *up;
        cr_err err;
        assert_int_equal(api_shell_update_parse(bad[i], strlen(bad[i]), &t, &n, &ts, &up, &err),
                         -1);
        assert_null(up);
    }
    /* a plain string task id is accepted */
    const char *ok = "{\"shellRequestId\":{\"taskId\":\"t1\",\"name\":\"a\",\"timestamp\":1},"
                     "\"updateType\":\"FAILED\"}";
    char *t, *n;
    int64_t ts;
    json_t *up;
    cr_err err;
    assert_int_equal(api_shell_update_parse(ok, strlen(ok), &t, &n, &ts, &up, &err), 0);
    assert_string_equal(t, "t1");
    free(t);
    free(n);
    json_decref(up);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ids),
    cmocka_unit_test(test_doc_and_updates),
    cmocka_unit_test(test_bad_updates),
};

CR_TEST_MAIN(tests)
