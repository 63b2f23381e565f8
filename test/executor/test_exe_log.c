#include "test/lib/cr_test.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "executor/exe_art.h"
#include "executor/exe_log.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_buf b = CR_BUF_INIT;
    char chunk[65536];
    size_t n;

    cr_buf_init(&b);
    if (f) {
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            cr_buf_add(&b, chunk, n);
        fclose(f);
    }
    return cr_buf_detach(&b, len);
}

/* A fast writer: many numbered lines of varying length, fed in chunks that
 * split lines anywhere. Rotated files in seq order plus the current file
 * must be exactly the input; every file must hold whole lines only. */
static void test_rotation_loses_nothing(void **state)
{
    char *dir = cr_test_tmpdir(), *meta_path, *text;
    cr_buf in = CR_BUF_INIT, got = CR_BUF_INIT;
    cr_err err;
    exe_log *l;
    size_t pos = 0, len;
    unsigned seed = 12345;
    json_t *meta, *rot;
    int rotations;

    cr_buf_init(&in);
    cr_buf_init(&got);
    for (int i = 0; i < 20000; i++) {
        cr_buf_addf(&in, "line %06d ", i);
        for (int k = 0; k < i % 37; k++)
            cr_buf_addch(&in, (char)('a' + k % 26));
        cr_buf_addch(&in, '\n');
    }
    l = exe_log_open(dir, "service.log", "t1", 64 * 1024, 1000, &err);
    assert_non_null(l);
    while (pos < in.len) {
        size_t n;
        seed = seed * 1103515245 + 12345;
        n = 1 + (seed >> 8) % 3000;
        if (n > in.len - pos)
            n = in.len - pos;
        assert_int_equal(exe_log_write(l, in.data + pos, n, 1000, &err), 0);
        pos += n;
    }
    assert_int_equal(exe_log_finish(l, 2000, &err), 0);
    rotations = exe_log_rotations(l);
    assert_true(rotations > 5);
    exe_log_free(l);

    meta_path = xasprintf("%s/logs/service.log.rotated.json", dir);
    meta = json_load_file(meta_path, 0, NULL);
    assert_non_null(meta);
    assert_true(json_is_true(json_object_get(meta, "finished")));
    assert_string_equal(json_string_value(json_object_get(meta, "taskId")), "t1");
    rot = json_object_get(meta, "rotated");
    assert_int_equal((int)json_array_size(rot), rotations);
    for (size_t i = 0; i < json_array_size(rot); i++) {
        json_t *o = json_array_get(rot, i);
        char *p = xasprintf("%s/%s", dir, json_string_value(json_object_get(o, "file")));
        text = slurp(p, &len);
        assert_int_equal((json_int_t)len, json_integer_value(json_object_get(o, "bytes")));
        assert_true(len <= 64 * 1024);
        assert_true(len > 0 && text[len - 1] == '\n');
        assert_int_equal(json_integer_value(json_object_get(o, "seq")), (json_int_t)i + 1);
        cr_buf_add(&got, text, len);
        free(text);
        free(p);
    }
    {
        char *p = xasprintf("%s/service.log", dir);
        text = slurp(p, &len);
        cr_buf_add(&got, text, len);
        free(text);
        free(p);
    }
    assert_int_equal(got.len, in.len);
    assert_memory_equal(got.data, in.data, in.len);
    json_decref(meta);
    free(meta_path);
    cr_buf_release(&in);
    cr_buf_release(&got);
    exe_remove_tree(dir);
    free(dir);
}

static void test_keep_limit_and_partial_line(void **state)
{
    char *dir = cr_test_tmpdir(), *p, *text;
    cr_err err;
    exe_log *l = exe_log_open(dir, "out.log", "t", 1024, 2, &err);
    char line[101];
    size_t len;
    json_t *meta;

    assert_non_null(l);
    memset(line, 'x', 99);
    line[99] = '\n';
    line[100] = '\0';
    for (int i = 0; i < 60; i++) /* 6000 bytes: 5 rotations at 1000 bytes each */
        assert_int_equal(exe_log_write(l, line, 100, 1, &err), 0);
    assert_int_equal(exe_log_rotations(l), 5);
    /* Only the two newest rotated files remain. */
    p = xasprintf("%s/logs/out.log.3", dir);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);
    p = xasprintf("%s/logs/out.log.5", dir);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    p = xasprintf("%s/logs/out.log.rotated.json", dir);
    meta = json_load_file(p, 0, NULL);
    free(p);
    assert_int_equal(json_array_size(json_object_get(meta, "rotated")), 2);
    assert_false(json_is_true(json_object_get(meta, "finished")));
    json_decref(meta);

    /* A partial line waits for its end; flush writes it as is. */
    assert_int_equal(exe_log_write(l, "par", 3, 1, &err), 0);
    p = xasprintf("%s/out.log", dir);
    text = slurp(p, &len);
    assert_null(memchr(text, 'p', len));
    free(text);
    assert_int_equal(exe_log_write(l, "tial\nnext", 9, 1, &err), 0);
    assert_int_equal(exe_log_flush(l, 1, &err), 0);
    text = slurp(p, &len);
    assert_true(len >= 14);
    assert_memory_equal(text + len - 12, "partial\nnext", 12);
    free(text);
    free(p);
    exe_log_free(l);

    /* Reopening continues the sequence. */
    l = exe_log_open(dir, "out.log", "t", 1024, 2, &err);
    for (int i = 0; i < 12; i++)
        assert_int_equal(exe_log_write(l, line, 100, 1, &err), 0);
    exe_log_free(l);
    p = xasprintf("%s/logs/out.log.6", dir);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    exe_log_free(NULL);
    exe_remove_tree(dir);
    free(dir);
}

/* A flushed partial line (the executor's timer) is written as is, and the
 * rest of that line goes into the same file even past max_bytes: the
 * rotation waits for the line's end. */
static void test_flushed_partial_line_is_not_split(void **state)
{
    char *dir = cr_test_tmpdir(), *p, *text;
    cr_err err;
    exe_log *l = exe_log_open(dir, "out.log", "t", 10, 5, &err);
    size_t len;

    assert_non_null(l);
    assert_int_equal(exe_log_write(l, "aaaaaaaa\n", 9, 1, &err), 0);
    assert_int_equal(exe_log_write(l, "bbbb", 4, 1, &err), 0);
    assert_true(exe_log_has_partial(l));
    assert_int_equal(exe_log_flush(l, 1, &err), 0); /* rotates before "bbbb" */
    assert_false(exe_log_has_partial(l));
    p = xasprintf("%s/out.log", dir);
    text = slurp(p, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(text, "bbbb", 4);
    free(text);
    assert_int_equal(exe_log_write(l, "cccc\n", 5, 1, &err), 0); /* 9 bytes, still one file */
    assert_int_equal(exe_log_write(l, "dd\n", 3, 1, &err), 0);   /* over 10: rotates first */
    text = slurp(p, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(text, "dd\n", 3);
    free(text);
    free(p);
    p = xasprintf("%s/logs/out.log.2", dir);
    text = slurp(p, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(text, "bbbbcccc\n", 9);
    free(text);
    free(p);
    assert_int_equal(exe_log_rotations(l), 2);
    exe_log_free(l);
    exe_remove_tree(dir);
    free(dir);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rotation_loses_nothing),
    cmocka_unit_test(test_keep_limit_and_partial_line),
    cmocka_unit_test(test_flushed_partial_line_is_not_split),
};
CR_TEST_MAIN(tests)
