#include "test/lib/cr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "nodeagent/na_files.h"
#include "nodeagent/na_follow.h"

typedef struct got {
    cr_buf data;
    int rotated, truncated, opened, calls;
    bool whole; /* every delivery but flushed ones ended with '\n' */
} got;

static void on_data(void *arg, const char *p, size_t n)
{
    got *g = arg;
    cr_buf_add(&g->data, p, n);
    g->calls++;
}

static void on_event(void *arg, na_follow_event ev)
{
    got *g = arg;
    if (ev == NA_FOLLOW_ROTATED)
        g->rotated++;
    else if (ev == NA_FOLLOW_TRUNCATED)
        g->truncated++;
    else
        g->opened++;
}

static void put(const char *dir, const char *name, const char *text, const char *mode)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static void mv(const char *dir, const char *from, const char *to)
{
    char *a = xasprintf("%s/%s", dir, from), *b = xasprintf("%s/%s", dir, to);
    assert_int_equal(rename(a, b), 0);
    free(a);
    free(b);
}

static void mkd(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static void rm_tree(char *dir)
{
    cr_err err;
    assert_int_equal(na_remove_tree(dir, &err), 0);
    free(dir);
}

static void test_partial_lines_wait_for_their_newline(void **state)
{
    char *dir = cr_test_tmpdir();
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f = na_follow_new(dir, "service.log", 0);

    cr_buf_init(&g.data);
    assert_int_equal(na_follow_poll(f, &s, 0), 0); /* not there yet */
    assert_false(na_follow_open(f));
    put(dir, "service.log", "ab", "w");
    na_follow_poll(f, &s, 0);
    assert_int_equal(g.data.len, 0);
    put(dir, "service.log", "c\nde", "a");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "abc\n");
    put(dir, "service.log", "f\ng", "a");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "abc\ndef\n");
    na_follow_flush(f, &s);
    assert_string_equal(g.data.data, "abc\ndef\ng");
    assert_int_equal(na_follow_offset(f), 9);
    assert_int_equal(g.opened, 1);
    na_follow_free(f);
    na_follow_free(NULL);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

/* Data written to the old file after the last poll and before the rename
 * is read before the new file; a partial last line of the old file is
 * delivered at the switch. */
static void test_rotation_loses_and_repeats_nothing(void **state)
{
    char *dir = cr_test_tmpdir();
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f;

    cr_buf_init(&g.data);
    mkd(dir, "logs");
    put(dir, "service.log", "one\n", "w");
    f = na_follow_new(dir, "service.log", 0);
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "one\n");
    put(dir, "service.log", "two\npart", "a");
    mv(dir, "service.log", "logs/service.log.1");
    /* between rename and recreate: the old file is still read */
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "one\ntwo\n");
    put(dir, "service.log", "three\n", "w");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "one\ntwo\npartthree\n");
    assert_int_equal(g.rotated, 1);
    /* a second rotation in one poll */
    put(dir, "service.log", "four\n", "a");
    mv(dir, "service.log", "logs/service.log.2");
    put(dir, "service.log", "five\n", "w");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "one\ntwo\npartthree\nfour\nfive\n");
    assert_int_equal(g.rotated, 2);
    /* three rotations between two polls: the rotated files in order */
    put(dir, "service.log", "six\n", "a");
    mv(dir, "service.log", "logs/service.log.3");
    put(dir, "service.log", "seven\n", "w");
    mv(dir, "service.log", "logs/service.log.4");
    put(dir, "service.log", "eight\n", "w");
    mv(dir, "service.log", "logs/service.log.5");
    put(dir, "service.log", "nine\n", "w");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "one\ntwo\npartthree\nfour\nfive\nsix\nseven\neight\nnine\n");
    na_follow_free(f);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

static void test_truncation_restarts_at_zero(void **state)
{
    char *dir = cr_test_tmpdir();
    char *p = xasprintf("%s/stdout", dir);
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f;

    cr_buf_init(&g.data);
    put(dir, "stdout", "aaaaaaaaaa\nbbbbbbbbbb\nhalf", "w");
    f = na_follow_new(dir, "stdout", 0);
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "aaaaaaaaaa\nbbbbbbbbbb\n");
    assert_int_equal(truncate(p, 0), 0); /* copytruncate */
    put(dir, "stdout", "x\n", "a");
    na_follow_poll(f, &s, 0);
    /* the held "half" ends at the truncation, as a line of its own: "x"
     * is the new file's first line, never "halfx" (a line never written) */
    assert_string_equal(g.data.data, "aaaaaaaaaa\nbbbbbbbbbb\nhalf\nx\n");
    assert_int_equal(g.truncated, 1);
    assert_int_equal(na_follow_offset(f), 2);

    /* a partial already delivered as it is (a prompt shown after a
     * while): the truncation ends its line with a newline alone */
    put(dir, "stdout", "prompt> ", "a");
    na_follow_poll(f, &s, 0);
    na_follow_flush(f, &s);
    assert_string_equal(g.data.data, "aaaaaaaaaa\nbbbbbbbbbb\nhalf\nx\nprompt> ");
    assert_int_equal(truncate(p, 0), 0);
    put(dir, "stdout", "y\n", "a");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "aaaaaaaaaa\nbbbbbbbbbb\nhalf\nx\nprompt> \ny\n");
    assert_int_equal(g.truncated, 2);

    /* whole lines only: a truncation adds nothing */
    put(dir, "stdout", "a whole line\n", "a");
    na_follow_poll(f, &s, 0);
    assert_int_equal(truncate(p, 0), 0);
    put(dir, "stdout", "z\n", "a");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data,
                        "aaaaaaaaaa\nbbbbbbbbbb\nhalf\nx\nprompt> \ny\na whole line\nz\n");
    assert_int_equal(g.truncated, 3);
    na_follow_free(f);
    free(p);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

static void test_start_at_end_and_tail_offset(void **state)
{
    char *dir = cr_test_tmpdir();
    char *p = xasprintf("%s/stdout", dir);
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f;
    int fd;

    cr_buf_init(&g.data);
    put(dir, "stdout", "l1\nl2\nl3\n", "w");
    fd = open(p, O_RDONLY);
    assert_int_equal(na_tail_offset(fd, 9, 1), 6);
    assert_int_equal(na_tail_offset(fd, 9, 2), 3);
    assert_int_equal(na_tail_offset(fd, 9, 5), 0);
    assert_int_equal(na_tail_offset(fd, 9, 0), 9);
    assert_int_equal(na_tail_offset(fd, 8, 1), 6); /* no final newline */
    close(fd);
    f = na_follow_new(dir, "stdout", -1);
    na_follow_poll(f, &s, 0);
    assert_int_equal(g.data.len, 0);
    put(dir, "stdout", "l4\n", "a");
    na_follow_poll(f, &s, 0);
    assert_string_equal(g.data.data, "l4\n");
    na_follow_free(f);
    free(p);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

/* A log replaced by a link to a file outside is never read. */
static void test_links_are_not_followed(void **state)
{
    char *dir = cr_test_tmpdir();
    char *p = xasprintf("%s/stdout", dir), *secret = xasprintf("%s/secret", dir);
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f;

    cr_buf_init(&g.data);
    put(dir, "secret", "password\n", "w");
    assert_int_equal(symlink(secret, p), 0);
    f = na_follow_new(dir, "stdout", 0);
    na_follow_poll(f, &s, 0);
    assert_int_equal(g.data.len, 0);
    na_follow_free(f);
    mkd(dir, "d");
    {
        char *up = xasprintf("%s/d/up", dir);
        assert_int_equal(symlink(dir, up), 0);
        free(up);
    }
    assert_true(na_open_in(dir, "d/up/secret", O_RDONLY) < 0);
    assert_true(na_open_in(dir, "../secret", O_RDONLY) < 0);
    {
        int fd = na_open_in(dir, "secret", O_RDONLY);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_null(na_path_check("logs/service.log.1"));
    assert_non_null(na_path_check("../x"));
    assert_non_null(na_path_check("/etc/passwd"));
    assert_non_null(na_path_check(""));
    free(p);
    free(secret);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

/* A fast writer rotating at random points (often several times between
 * two polls, sometimes polled between a rename and the new file), polled
 * at random points with small budgets: the concatenation of what was
 * delivered equals what was written. Several seeds. */
static void run_random(unsigned seed)
{
    char *dir = cr_test_tmpdir();
    char *cur = xasprintf("%s/service.log", dir);
    cr_buf in = CR_BUF_INIT;
    got g = {CR_BUF_INIT};
    na_follow_sink s = {on_data, on_event, &g};
    na_follow *f = na_follow_new(dir, "service.log", 0);
    int fd = open(cur, O_WRONLY | O_CREAT | O_APPEND, 0644), seq = 0;
    size_t file_bytes = 0;

    cr_buf_init(&in);
    cr_buf_init(&g.data);
    mkd(dir, "logs");
    na_follow_poll(f, &s, 0); /* the follower holds the first file */
    for (int i = 0; i < 30000; i++) {
        char line[128];
        int n = snprintf(line, sizeof(line), "line %06d %.*s\n", i, i % 50,
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
        seed = seed * 1103515245 + 12345;
        if (file_bytes > 512 && (seed >> 16) % 5 == 0) {
            char *to = xasprintf("%s/logs/service.log.%d", dir, ++seq);
            assert_int_equal(rename(cur, to), 0);
            close(fd);
            free(to);
            if ((seed >> 8) % 3 == 0)
                na_follow_poll(f, &s, 1 + (seed >> 4) % 5000); /* while missing */
            fd = open(cur, O_WRONLY | O_CREAT | O_APPEND, 0644);
            file_bytes = 0;
        }
        /* write the line in two pieces: pollers see partial lines */
        size_t cut = (seed >> 3) % (size_t)n;
        assert_int_equal(write(fd, line, cut), (ssize_t)cut);
        if ((seed >> 12) % 23 == 0)
            na_follow_poll(f, &s, 1 + (seed >> 5) % 20000);
        assert_int_equal(write(fd, line + cut, (size_t)n - cut), (ssize_t)(n - cut));
        cr_buf_add(&in, line, (size_t)n);
        file_bytes += (size_t)n;
    }
    close(fd);
    while (na_follow_poll(f, &s, 0) == 1)
        ;
    if (g.data.len != in.len) {
        size_t k = 0;
        while (k < g.data.len && k < in.len && g.data.data[k] == in.data[k])
            k++;
        fprintf(stderr, "seed %u: first difference at %zu\n", seed, k);
    }
    assert_int_equal(g.data.len, in.len);
    assert_memory_equal(g.data.data, in.data, in.len);
    assert_true(g.rotated > 10);
    na_follow_free(f);
    free(cur);
    cr_buf_release(&in);
    cr_buf_release(&g.data);
    rm_tree(dir);
}

static void test_random_rotation_and_polls(void **state)
{
    static const unsigned seeds[] = {4242, 1, 77, 9001, 123456, 31337};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        run_random(seeds[i]);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_partial_lines_wait_for_their_newline),
    cmocka_unit_test(test_rotation_loses_and_repeats_nothing),
    cmocka_unit_test(test_truncation_restarts_at_zero),
    cmocka_unit_test(test_start_at_end_and_tail_offset),
    cmocka_unit_test(test_links_are_not_followed),
    cmocka_unit_test(test_random_rotation_and_polls),
};
CR_TEST_MAIN(tests)
