#include "test/lib/cr_test.h"

#include <stdlib.h>
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

static void test_check_path(void **state)
{
    static const char *const ok[] = {"",      "stdout",       "logs/app.log", "./stdout",
                                     "logs/", "a..b/..c/c..", "...",          "up",
                                     "100%",  "50%zz",        "%2",           "dir with space/x"};
    static const char *const bad[] = {"..",        "../x",        "logs/../../x", "logs/..",
                                      "a/./../..", "/etc/passwd", "//x",          "..\\..\\etc",
                                      "logs\\x",   "a\nb",        "a\tb",         "a\x7f",
                                      "%2e%2e/x",  "%2E%2e",      "a/%2fetc",     "%5c"};
    char *long_path, *long_name;

    assert_null(as_sandbox_check_path(NULL));
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (as_sandbox_check_path(ok[i]))
            fail_msg("'%s' refused: %s", ok[i], as_sandbox_check_path(ok[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!as_sandbox_check_path(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    assert_string_equal(as_sandbox_check_path("a/../.."),
                        "query parameter path: must not leave the sandbox");
    assert_string_equal(as_sandbox_check_path("/x"),
                        "query parameter path: must be relative to the sandbox");

    long_path = malloc(AS_SANDBOX_PATH_MAX + 2);
    for (size_t i = 0; i < AS_SANDBOX_PATH_MAX; i++)
        long_path[i] = (i % 200 == 199) ? '/' : 'a';
    long_path[AS_SANDBOX_PATH_MAX] = '\0';
    assert_null(as_sandbox_check_path(long_path));
    long_path[AS_SANDBOX_PATH_MAX] = 'a';
    long_path[AS_SANDBOX_PATH_MAX + 1] = '\0';
    assert_string_equal(as_sandbox_check_path(long_path),
                        "query parameter path: longer than 4095 bytes");
    free(long_path);
    long_name = malloc(AS_SANDBOX_NAME_MAX + 2);
    memset(long_name, 'n', AS_SANDBOX_NAME_MAX);
    long_name[AS_SANDBOX_NAME_MAX] = '\0';
    assert_null(as_sandbox_check_path(long_name));
    long_name[AS_SANDBOX_NAME_MAX] = 'n';
    long_name[AS_SANDBOX_NAME_MAX + 1] = '\0';
    assert_non_null(as_sandbox_check_path(long_name));
    free(long_name);
    {
        char deep[2 * AS_SANDBOX_DEPTH_MAX + 3] = "";
        for (size_t i = 0; i < AS_SANDBOX_DEPTH_MAX; i++)
            strcat(deep, i ? "/a" : "a");
        assert_null(as_sandbox_check_path(deep));
        strcat(deep, "/.");
        assert_null(as_sandbox_check_path(deep)); /* "." is no component */
        deep[strlen(deep) - 1] = 'b';
        assert_string_equal(as_sandbox_check_path(deep),
                            "query parameter path: more than 32 components");
    }
}

static void test_entry_name(void **state)
{
    assert_string_equal(as_sandbox_entry_name("/sb/stdout", "/sb"), "stdout");
    assert_string_equal(as_sandbox_entry_name("/sb/logs//app.log", "/sb/logs/"), "app.log");
    assert_string_equal(as_sandbox_entry_name("/sb/./logs/app.log", "/sb/logs"), "app.log");
    assert_string_equal(as_sandbox_entry_name("/frameworks/f/executors/e/runs/latest/up",
                                              "/frameworks/f/executors/e/runs/latest"),
                        "up");
    assert_null(as_sandbox_entry_name("/etc/passwd", "/sb"));
    assert_null(as_sandbox_entry_name("/sb", "/sb"));
    assert_null(as_sandbox_entry_name("/sb/", "/sb"));
    assert_null(as_sandbox_entry_name("/sb/a/b", "/sb"));
    assert_null(as_sandbox_entry_name("/sb/..", "/sb"));
    assert_null(as_sandbox_entry_name("/sb/../x", "/sb"));
    assert_null(as_sandbox_entry_name("/sbx/stdout", "/sb"));
    assert_null(as_sandbox_entry_name("sb/stdout", "/sb"));
    assert_null(as_sandbox_entry_name("/x/../sb/stdout", "/sb"));
    assert_null(as_sandbox_entry_name(NULL, "/sb"));
}

static void test_browse_drops_entries_outside(void **state)
{
    json_t *files = json_loads("[{\"path\":\"/sb/logs/app.log\",\"size\":1},"
                               "{\"path\":\"/etc/passwd\",\"size\":2},"
                               "{\"path\":\"/sb/logs/../../etc\",\"size\":3},"
                               "{\"path\":\"/sb/logs/a/b\",\"size\":4},"
                               "{\"path\":\"/sb/stdout\",\"size\":5},"
                               "{\"size\":6},"
                               "{\"path\":\"/sb/logs/x\",\"size\":7}]",
                               0, NULL);
    json_t *b = as_sandbox_shape_browse(files, "/sb", "logs", "h1");
    json_t *list = json_object_get(b, "files");

    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
                        "app.log");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")), "x");
    assert_string_equal(json_string_value(json_object_get(b, "currentDirectory")), "logs");
    json_decref(b);
    json_decref(files);
}

static void test_entry_kind(void **state)
{
    json_t *files = cr_test_json("[{\"path\":\"/s/logs\",\"mode\":\"drwxr-xr-x\"},"
                                 "{\"path\":\"/s/up\",\"mode\":\"lrwxrwxrwx\"},"
                                 "{\"path\":\"/s/stdout\",\"mode\":\"-rw-r--r--\"},"
                                 "{\"path\":\"/s/nomode\"},"
                                 "{\"path\":\"/elsewhere/x\",\"mode\":\"-rw-r--r--\"}]");

    assert_int_equal(as_sandbox_entry_kind(files, "/s", "logs", 4), AS_SANDBOX_DIR);
    assert_int_equal(as_sandbox_entry_kind(files, "/s/", "up", 2), AS_SANDBOX_LINK);
    assert_int_equal(as_sandbox_entry_kind(files, "/s", "stdout/x", 6), AS_SANDBOX_OTHER);
    assert_int_equal(as_sandbox_entry_kind(files, "/s", "nomode", 6), AS_SANDBOX_OTHER);
    assert_int_equal(as_sandbox_entry_kind(files, "/s", "stdou", 5), AS_SANDBOX_MISSING);
    /* an entry outside the directory asked for counts for nothing */
    assert_int_equal(as_sandbox_entry_kind(files, "/s", "x", 1), AS_SANDBOX_MISSING);
    assert_int_equal(as_sandbox_entry_kind(NULL, "/s", "x", 1), AS_SANDBOX_MISSING);
    json_decref(files);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_agent_base),      cmocka_unit_test(test_find_dir),
    cmocka_unit_test(test_join_and_shapes), cmocka_unit_test(test_check_path),
    cmocka_unit_test(test_entry_name),      cmocka_unit_test(test_browse_drops_entries_outside),
    cmocka_unit_test(test_entry_kind),
};
CR_TEST_MAIN(tests)
