/* Unit tests of cli/table.c: table layout, ages, cell text and structured
 * output. */
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "test/lib/cr_test.h"

static void test_table_layout(void **state)
{
    static const char *const h[] = {"name", "state", "message"};
    cli_table *t = cli_table_new(h, 3);
    assert_int_equal(cli_table_rows(t), 0);
    cli_table_cell(t, "ignored before the first row");
    cli_table_row(t);
    cli_table_cell(t, "web");
    cli_table_cell(t, "%s", "ACTIVE");
    cli_table_cell(t, "%d/%d healthy", 2, 2);
    cli_table_cell(t, "extra cells are ignored");
    cli_table_row(t);
    cli_table_cell(t, "a-much-longer-name");
    cli_table_cell(t, NULL); /* missing cells show <none> */
    assert_int_equal(cli_table_rows(t), 2);
    char *s = cli_table_render(t);
    assert_string_equal(s, "NAME                 STATE    MESSAGE\n"
                           "web                  ACTIVE   2/2 healthy\n"
                           "a-much-longer-name   <none>   <none>\n");
    free(s);
    cli_table_free(t);
    cli_table_free(NULL);
}

static void test_age(void **state)
{
    char b[32];
    int64_t now = 1700000000000;
    assert_string_equal(cli_age(now - 5000, now, b, sizeof(b)), "5s");
    assert_string_equal(cli_age(now - 119000, now, b, sizeof(b)), "119s");
    assert_string_equal(cli_age(now - 600000, now, b, sizeof(b)), "10m");
    assert_string_equal(cli_age(now - 3 * 3600000LL, now, b, sizeof(b)), "3h");
    assert_string_equal(cli_age(now - 5 * 86400000LL, now, b, sizeof(b)), "5d");
    assert_string_equal(cli_age(now + 5000, now, b, sizeof(b)), "0s"); /* clock skew */
    assert_string_equal(cli_age(0, now, b, sizeof(b)), "<unknown>");
}

static void test_cell_text(void **state)
{
    json_t *v = json_pack("{s:s, s:i, s:f, s:b, s:n, s:[i,i]}", "s", "x", "i", 3, "f", 0.5, "b", 1,
                          "n", "a", 1, 2);
    const char *keys[] = {"s", "i", "f", "b", "n", "a", "missing"};
    const char *want[] = {"x", "3", "0.5", "true", "<none>", "[1,2]", "<none>"};
    for (size_t k = 0; k < 7; k++) {
        char *s = cli_cell_text(json_object_get(v, keys[k]));
        assert_string_equal(s, want[k]);
        free(s);
    }
    json_decref(v);
}

static void test_print_doc(void **state)
{
    json_t *v = json_pack("{s:s, s:i}", "id", "web", "instances", 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cli_print_doc(f, v, "json"), 0);
    assert_int_equal(cli_print_doc(f, v, "yaml"), 0);
    assert_int_equal(cli_print_doc(f, v, "xml"), -1);
    fclose(f);
    assert_non_null(strstr(buf, "\"id\": \"web\""));
    assert_non_null(strstr(buf, "id: web\n"));
    assert_non_null(strstr(buf, "instances: 2\n"));
    free(buf);
    json_decref(v);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_table_layout),
    cmocka_unit_test(test_age),
    cmocka_unit_test(test_cell_text),
    cmocka_unit_test(test_print_doc),
};

CR_TEST_MAIN(tests)
