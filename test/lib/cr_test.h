/* Shared helpers for cmocka unit tests.
 *
 * Every test file ends with CR_TEST_MAIN(tests): it honours TEST_FILTER (a
 * glob on test names, e.g. TEST_FILTER='*paging*') so one test can be run
 * alone. Fixtures live under test/<module>/fixtures/; cr_test_fixture()
 * reads one. */
#ifndef CR_TEST_H
#define CR_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* Reads test/<relpath> relative to the source tree (CR_SRCDIR or ".");
 * returns a NUL-terminated buffer the caller frees, or fails the test. */
char *cr_test_fixture(const char *relpath, size_t *len);

/* JSON helpers (caller owns the result; a parse error fails the test). */
struct json_t;
struct json_t *cr_test_json(const char *text);
struct json_t *cr_test_fixture_json(const char *relpath);

/* A number in [0, n) from *state (xorshift64, state != 0): a fixed seed
 * gives the same sequence on every run. */
unsigned cr_test_rand(uint64_t *state, unsigned n);

/* Path of a fresh temporary directory (caller frees the string; the test
 * should remove the directory). */
char *cr_test_tmpdir(void);

#define CR_TEST_MAIN(tests)                                                    \
    int main(void)                                                             \
    {                                                                          \
        const char *filter_ = getenv("TEST_FILTER");                           \
        if (filter_ && *filter_)                                               \
            cmocka_set_test_filter(filter_);                                   \
        return cmocka_run_group_tests(tests, NULL, NULL);                      \
    }

#endif
