#include "test/lib/cr_test.h"

#include <string.h>

#include "apiserver/as_sandbox.h"

static void test_agent_base(void **state)
{
    json_t *a1 = json_loads("{\"url\":{\"scheme\":\"http\",\"address\":{\"hostname\":\"h\",\"ip\":"
                            "\"10.0.0.1\",\"port\":5052}}}",
                            0, NULL);
    json_t *a2 = json_loads("{\"pid\":\"slave(1)@10.0.0.2:5053\",\"hostname\":\"h2\"}", 0, NULL);
    json_t *a3 = json_loads("{\"hostname\":\"h3\",\"port\":7000}", 0, NULL);
    json_t *t = json_loads("{\"hostname\":\"th\"}", 0, NULL);
    json_t *a4 = json_loads("{\"agentUrl\":\"http://127.0.0.1:38239/\",\"host\":\"x\"}", 0, NULL);
    char *s;

    s = as_sandbox_agent_base(a4, t);
    assert_string_equal(s, "http://127.0.0.1:38239");
    free(s);
    json_decref(a4);

    s = as_sandbox_agent_base(a1, t);
    assert_string_equal(s, "http://10.0.0.1:5052");
    free(s);
    s = as_sandbox_agent_base(a2, t);
    assert_string_equal(s, "http://10.0.0.2:5053");
    free(s);
    s = as_sandbox_agent_base(a3, t);
    assert_string_equal(s, "http://h3:7000");
    free(s);
    s = as_sandbox_agent_base(NULL, t);
    assert_string_equal(s, "http://th:5051");
    free(s);
    assert_null(as_sandbox_agent_base(NULL, NULL));
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    json_decref(t);
}

static void test_find_dir(void **state)
{
    json_t *st = json_loads(
        "{\"frameworks\":[{\"id\":\"f1\",\"executors\":[{\"id\":\"e1\",\"directory\":\"/s/e1\"}],"
        "\"completed_executors\":[{\"id\":\"e0\",\"directory\":\"/s/e0\"}]}],"
        "\"completed_frameworks\":[{\"id\":\"f0\",\"executors\":[{\"id\":\"e9\",\"directory\":\"/s/"
        "e9\"}]}]}",
        0, NULL);

    assert_string_equal(as_sandbox_find_dir(st, "f1", "e1"), "/s/e1");
    assert_string_equal(as_sandbox_find_dir(st, "f1", "e0"), "/s/e0");
    assert_string_equal(as_sandbox_find_dir(st, NULL, "e9"), "/s/e9");
    assert_null(as_sandbox_find_dir(st, "f2", "e1"));
    assert_null(as_sandbox_find_dir(st, "f1", "zz"));
    json_decref(st);
}

static void test_join_and_shapes(void **state)
{
    char *v = as_sandbox_virtual_root("f1", "e1");
    assert_string_equal(v, "/frameworks/f1/executors/e1/runs/latest");
    free(v);
    char *s = as_sandbox_join("/sb/", "logs/out");
    assert_string_equal(s, "/sb/logs/out");
    free(s);
    s = as_sandbox_join("/sb", "");
    assert_string_equal(s, "/sb");
    free(s);
    s = as_sandbox_join("/sb", NULL);
    assert_string_equal(s, "/sb");
    free(s);

    json_t *files = json_loads(
        "[{\"path\":\"/sb/stdout\",\"size\":12,\"mtime\":5,\"mode\":\"-rw-r--r--\",\"nlink\":1}]",
        0, NULL);
    json_t *b = as_sandbox_shape_browse(files, "/sb", "", "h1");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(b, "files"), 0), "name")),
        "stdout");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(b, "files"), 0), "size")),
        12);
    assert_string_equal(json_string_value(json_object_get(b, "fullPathToRoot")), "/sb");
    assert_string_equal(json_string_value(json_object_get(b, "slaveHostname")), "h1");
    json_decref(b);
    json_decref(files);

    json_t *chunk = json_loads("{\"data\":\"hello\",\"offset\":10}", 0, NULL);
    json_t *r = as_sandbox_shape_read(chunk, NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "nextOffset")), 15);
    assert_string_equal(json_string_value(json_object_get(r, "data")), "hello");
    json_decref(r);
    json_decref(chunk);
    chunk = json_loads("{\"data\":\"a ERROR x\\nok\\nERROR y\",\"offset\":0}", 0, NULL);
    r = as_sandbox_shape_read(chunk, "ERROR");
    assert_string_equal(json_string_value(json_object_get(r, "data")), "a ERROR x\nERROR y");
    assert_int_equal(json_integer_value(json_object_get(r, "nextOffset")), 20);
    json_decref(r);
    json_decref(chunk);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_agent_base),
    cmocka_unit_test(test_find_dir),
    cmocka_unit_test(test_join_and_shapes),
};
CR_TEST_MAIN(tests)
