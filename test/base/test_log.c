/* cr_log: the three line formats, fields, escaping, levels. */
#include "test/lib/cr_test.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* The line(s) one call writes, through open_memstream. */
static char *logged(cr_log_format format, cr_log_level min, cr_log_level level, const char *msg,
                    const cr_log_kv *kv, size_t n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    cr_log log = {.level = min, .out = f, .name = "corrald", .format = format};
    cr_logkv(&log, level, kv, n, "%s", msg);
    fclose(f);
    return out;
}

static const cr_log_kv ids[] = {{"request", "web"}, {"deploy", NULL}, {"task", "web-v1-1-x"}};

static void test_text(void **state)
{
    char *s = logged(CR_LOG_TEXT, CR_LOG_INFO, CR_LOG_WARN, "task lost", ids, 3);
    assert_non_null(strstr(s, "Z warn  corrald: task lost request=web task=web-v1-1-x\n"));
    assert_null(strstr(s, "deploy=")); /* a NULL value leaves the field out */
    free(s);
}

static void test_logfmt_quotes_what_needs_it(void **state)
{
    const cr_log_kv kv[] = {{"request", "web"}, {"task", "a b=\"c\""}};
    char *s = logged(CR_LOG_LOGFMT, CR_LOG_DEBUG, CR_LOG_INFO, "launching x on h", kv, 2);
    assert_int_equal(strncmp(s, "ts=", 3), 0);
    assert_non_null(strstr(s, " level=info component=corrald msg=\"launching x on h\" request=web "
                              "task=\"a b=\\\"c\\\"\"\n"));
    free(s);
}

static void test_json_escapes(void **state)
{
    const cr_log_kv kv[] = {{"task", "t\"1\\\n"}};
    char *s = logged(CR_LOG_JSON, CR_LOG_DEBUG, CR_LOG_ERROR, "bad\tthing \x01", kv, 1);
    assert_int_equal(strncmp(s, "{\"ts\":\"", 7), 0);
    assert_non_null(strstr(s, "\"level\":\"error\",\"component\":\"corrald\","
                              "\"msg\":\"bad\\tthing \\u0001\",\"task\":\"t\\\"1\\\\\\n\"}\n"));
    free(s);
}

static void test_level_filter_and_parse(void **state)
{
    char *s = logged(CR_LOG_JSON, CR_LOG_WARN, CR_LOG_INFO, "quiet", NULL, 0);
    assert_true(s == NULL || s[0] == '\0');
    free(s);
    cr_log_format f;
    cr_log_level l;
    assert_int_equal(cr_log_format_parse("logfmt", &f), 0);
    assert_int_equal(f, CR_LOG_LOGFMT);
    assert_int_equal(cr_log_format_parse("xml", &f), -1);
    assert_int_equal(cr_log_level_parse("warn", &l), 0);
    assert_string_equal(cr_log_format_name(CR_LOG_JSON), "json");
    assert_string_equal(cr_log_level_name(CR_LOG_DEBUG), "debug");
    cr_logf(NULL, CR_LOG_ERROR, "a NULL logger discards");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_text),
    cmocka_unit_test(test_logfmt_quotes_what_needs_it),
    cmocka_unit_test(test_json_escapes),
    cmocka_unit_test(test_level_filter_and_parse),
};

CR_TEST_MAIN(tests)
