#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/xalloc.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_error_table(void **state)
{
    cr_err err;

    assert_int_equal(cr_error(&err, CR_ENOTFOUND, "request '%s'", "web"), -1);
    assert_int_equal(err.code, CR_ENOTFOUND);
    assert_string_equal(cr_err_msg(&err), "request 'web'");
    assert_string_equal(cr_code_name(CR_ENOTFOUND), "not_found");
    assert_int_equal(cr_code_http_status(CR_ECONFLICT), 409);
    assert_true(cr_code_retryable(CR_ETIMEOUT));
    assert_false(cr_code_retryable(CR_EINVAL));
    assert_int_equal(cr_code_http_status((cr_code)999), 500);
    assert_int_equal(cr_error(NULL, CR_EIO, "ignored"), -1);
}

static void test_error_prefix_and_default(void **state)
{
    cr_err err;

    cr_error(&err, CR_ETIMEOUT, NULL);
    assert_string_equal(cr_err_msg(&err), "timed out");
    cr_err_prefix(&err, "range %s", "/corral/requests/");
    assert_string_equal(cr_err_msg(&err), "range /corral/requests/: timed out");
    cr_err_clear(&err);
    assert_int_equal(err.code, CR_OK);
}

static void test_buf(void **state)
{
    cr_buf b = CR_BUF_INIT;
    char *out;
    size_t len;

    assert_string_equal(cr_buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        cr_buf_addf(&b, "%d,", i);
    assert_true(b.len > 2000);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    cr_buf_consume(&b, 2);
    assert_int_equal(strncmp(b.data, "1,2,", 4), 0);
    cr_buf_reset(&b);
    cr_buf_adds(&b, "abc");
    cr_buf_addch(&b, 'd');
    out = cr_buf_detach(&b, &len);
    assert_string_equal(out, "abcd");
    assert_int_equal(len, 4);
    assert_null(b.data);
    free(out);
    cr_buf_release(&b);
}

/* The bulk allocations: zeroed, resizable (the contents kept), freed by
 * xfree_bulk (NULL too); under valgrind and the sanitizers they are libc's,
 * in corrald jemalloc's arena of their own. */
static void test_bulk_alloc(void **state)
{
    char *p = xcalloc_bulk(100), *q;

    for (size_t i = 0; i < 100; i++)
        assert_int_equal(p[i], 0);
    memcpy(p, "bulk", 5);
    q = xrealloc_bulk(p, 5000);
    assert_string_equal(q, "bulk");
    q = xrealloc_bulk(q, 10);
    assert_string_equal(q, "bulk");
    xfree_bulk(q);
    xfree_bulk(NULL);
    q = xrealloc_bulk(NULL, 8);
    xfree_bulk(q);
}

static void test_format_time(void **state)
{
    char s[32];
    assert_string_equal(cr_format_time(1764016800123LL, s, sizeof(s)), "2025-11-24T20:40:00.123Z");
}

static void test_mkdirs(void **state)
{
    char *tmp = cr_test_tmpdir();
    char *deep = xasprintf("%s/a/b/c", tmp);
    char *file = xasprintf("%s/f", tmp);
    char *under_file = xasprintf("%s/f/x", tmp);
    struct stat st;
    cr_err err;

    assert_int_equal(cr_mkdirs(deep, &err), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(cr_mkdirs(deep, &err), 0); /* existing is fine */
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cr_mkdirs(under_file, &err), -1);
    assert_int_equal(err.code, CR_EIO);
    assert_non_null(strstr(cr_err_msg(&err), under_file));
    unlink(file);
    rmdir(deep);
    free(deep);
    deep = xasprintf("%s/a/b", tmp);
    rmdir(deep);
    free(deep);
    deep = xasprintf("%s/a", tmp);
    rmdir(deep);
    rmdir(tmp);
    free(deep);
    free(file);
    free(under_file);
    free(tmp);
}

int main(void);
/* Components of a path: empty and "." ones skipped, ".." kept. */
static void test_path_next(void **state)
{
    const char *p = "//a/./bc/../d/", *s = NULL;
    const char *want[] = {"a", "bc", "..", "d"};

    for (size_t i = 0; i < 4; i++) {
        size_t l = cr_path_next(&p, &s);
        assert_int_equal(l, strlen(want[i]));
        assert_memory_equal(s, want[i], l);
    }
    assert_int_equal(cr_path_next(&p, &s), 0);
    p = "";
    assert_int_equal(cr_path_next(&p, &s), 0);
    p = "/./.";
    assert_int_equal(cr_path_next(&p, &s), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mkdirs),      cmocka_unit_test(test_path_next),
    cmocka_unit_test(test_error_table), cmocka_unit_test(test_error_prefix_and_default),
    cmocka_unit_test(test_buf),         cmocka_unit_test(test_bulk_alloc),
    cmocka_unit_test(test_format_time),
};
CR_TEST_MAIN(tests)
