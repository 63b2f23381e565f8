#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "executor/exe_art.h"

/* md5("hello\n") */
#define HELLO_MD5 "b1946ac92492d2347c6235b4d2611184"

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static exe_artifact art(const char *name, const char *filename, const char *md5, int64_t size)
{
    exe_artifact a = {0};
    a.kind = EXE_ART_EXTERNAL;
    a.name = (char *)name;
    a.filename = (char *)filename;
    a.md5sum = (char *)md5;
    a.filesize = size;
    a.extract = -1;
    return a;
}

static void test_md5_and_check(void **state)
{
    char *dir = cr_test_tmpdir(), *p = xasprintf("%s/f", dir), md5[33];
    int64_t size = 0;
    cr_err err;
    exe_artifact good = art("slug", "f", HELLO_MD5, 6);
    exe_artifact badmd5 = art("slug", "f", "00000000000000000000000000000000", -1);
    exe_artifact badsize = art("slug", "f", NULL, 7);

    put(p, "hello\n");
    assert_int_equal(exe_md5_file(p, md5, &size, &err), 0);
    assert_string_equal(md5, HELLO_MD5);
    assert_int_equal(size, 6);
    assert_int_equal(exe_artifact_check(&good, md5, size, &err), 0);
    assert_int_equal(exe_artifact_check(&badmd5, md5, size, &err), -1);
    assert_string_equal(
        err.detail,
        "artifact 'slug': md5 mismatch: expected 00000000000000000000000000000000, got " HELLO_MD5);
    assert_int_equal(exe_artifact_check(&badsize, md5, size, &err), -1);
    assert_string_equal(err.detail, "artifact 'slug': size mismatch: expected 7 bytes, got 6");
    /* verify_file removes the file on a mismatch, keeps it when right. */
    assert_int_equal(exe_artifact_verify_file(&good, p, &err), 0);
    assert_true(exists(p));
    assert_int_equal(exe_artifact_verify_file(&badmd5, p, &err), -1);
    assert_false(exists(p));
    assert_int_equal(exe_artifact_verify_file(&good, p, &err), -1);
    assert_non_null(strstr(err.detail, "artifact 'slug'"));
    /* Streaming md5 agrees with the one-shot. */
    {
        exe_md5 *m = exe_md5_new();
        exe_md5_update(m, "hel", 3);
        exe_md5_update(m, "lo\n", 3);
        exe_md5_final(m, md5);
        exe_md5_free(m);
        assert_string_equal(md5, HELLO_MD5);
    }
    exe_remove_tree(dir);
    free(p);
    free(dir);
}

static void test_embedded(void **state)
{
    char *dir = cr_test_tmpdir(), *dest;
    exe_artifact a = art("cfg", "c.txt", HELLO_MD5, -1);
    cr_err err;
    char md5[33];

    a.kind = EXE_ART_EMBEDDED;
    a.target_folder = "conf/deep";
    a.content = (unsigned char *)"hello\n";
    a.content_len = 6;
    dest = exe_artifact_dest(&a, dir);
    assert_non_null(strstr(dest, "/conf/deep/c.txt"));
    assert_int_equal(exe_artifact_write_embedded(&a, dest, &err), 0);
    assert_int_equal(exe_md5_file(dest, md5, NULL, &err), 0);
    assert_string_equal(md5, HELLO_MD5);
    unlink(dest);
    /* Wrong md5: nothing written, not even a partial file. */
    a.md5sum = "11111111111111111111111111111111";
    assert_int_equal(exe_artifact_write_embedded(&a, dest, &err), -1);
    assert_non_null(strstr(err.detail, "artifact 'cfg': md5 mismatch"));
    assert_false(exists(dest));
    {
        char *part = xasprintf("%s.part", dest);
        assert_false(exists(part));
        free(part);
    }
    free(dest);
    exe_remove_tree(dir);
    free(dir);
}

static void test_cache(void **state)
{
    char *dir = cr_test_tmpdir(), *cache = xasprintf("%s/cache", dir);
    char *src = xasprintf("%s/src", dir), *dst = xasprintf("%s/app/x/dst", dir);
    char *entry = xasprintf("%s/" HELLO_MD5, cache);
    exe_artifact a = art("slug", "dst", HELLO_MD5, -1), nomd5 = art("n", "dst", NULL, -1);
    cr_err err;
    char md5[33];

    put(src, "hello\n");
    assert_int_equal(exe_cache_get(cache, &a, dst, &err), 0);
    assert_int_equal(exe_cache_put(cache, &a, src, &err), 0);
    assert_true(exists(entry));
    assert_int_equal(exe_cache_get(cache, &a, dst, &err), 1);
    assert_int_equal(exe_md5_file(dst, md5, NULL, &err), 0);
    assert_string_equal(md5, HELLO_MD5);
    /* Without an md5 nothing is cached. */
    assert_int_equal(exe_cache_put(cache, &nomd5, src, &err), 0);
    assert_int_equal(exe_cache_get(cache, &nomd5, dst, &err), 0);
    /* A corrupt entry is a miss and is removed. */
    unlink(entry);
    put(entry, "tampered\n");
    assert_int_equal(exe_cache_get(cache, &a, dst, &err), 0);
    assert_false(exists(entry));
    exe_remove_tree(dir);
    free(entry);
    free(src);
    free(dst);
    free(cache);
    free(dir);
}

static void test_archive_names(void **state)
{
    cr_err err;

    assert_int_equal(exe_archive_names_ok("a\nb/c\n./d\nx..y/z\n", "s", &err), 0);
    assert_int_equal(exe_archive_names_ok("a\n../evil\n", "s", &err), -1);
    assert_string_equal(err.detail, "artifact 's': archive entry '../evil' escapes the sandbox");
    assert_int_equal(exe_archive_names_ok("a/b/../../../c", "s", &err), -1);
    assert_int_equal(exe_archive_names_ok("/etc/passwd\n", "s", &err), -1);
    assert_non_null(strstr(err.detail, "absolute path"));
}

/* Runs a shell command with $D set to dir. */
static int sh(const char *cmd, const char *dir)
{
    setenv("D", dir, 1);
    return system(cmd);
}

static void test_extract_real_archives(void **state)
{
    char *dir = cr_test_tmpdir(), *p;
    exe_artifact tgz = art("slug", "a.tar.gz", NULL, -1), zip = art("z", "a.zip", NULL, -1);
    exe_artifact evil = art("evil", "evil.tar", NULL, -1), link = art("lnk", "l.tar.gz", NULL, -1);
    cr_err err;

    assert_int_equal(sh("mkdir -p $D/src/bin && echo hi > $D/src/bin/run && cd $D/src && "
                        "tar -czf $D/a.tar.gz bin",
                        dir),
                     0);
    p = xasprintf("%s/a.tar.gz", dir);
    assert_int_equal(exe_extract(&tgz, p, dir, &err), 0);
    free(p);
    p = xasprintf("%s/bin/run", dir);
    assert_true(exists(p));
    free(p);

    assert_int_equal(sh("cd $D/src && zip -q -r $D/a.zip bin && mkdir -p $D/z", dir), 0);
    p = xasprintf("%s/a.zip", dir);
    {
        char *zdir = xasprintf("%s/z", dir), *f;
        assert_int_equal(exe_extract(&zip, p, zdir, &err), 0);
        f = xasprintf("%s/bin/run", zdir);
        assert_true(exists(f));
        free(f);
        free(zdir);
    }
    free(p);

    /* An entry with ".." is refused before anything is extracted. */
    assert_int_equal(sh("mkdir -p $D/e/in && cd $D/e/in && echo x > ../outside && "
                        "tar -P -cf $D/evil.tar ../outside",
                        dir),
                     0);
    p = xasprintf("%s/evil.tar", dir);
    {
        char *edir = xasprintf("%s/x", dir);
        assert_int_equal(exe_extract(&evil, p, edir, &err), -1);
        assert_non_null(
            strstr(err.detail, "artifact 'evil': archive entry '../outside' escapes the sandbox"));
        free(edir);
    }
    free(p);

    /* A symlink pointing outside the target is refused after extraction. */
    assert_int_equal(sh("mkdir -p $D/l && cd $D/l && ln -s /etc/passwd pw && ln -s ../../up up2 && "
                        "tar -czf $D/l.tar.gz pw",
                        dir),
                     0);
    p = xasprintf("%s/l.tar.gz", dir);
    {
        char *ldir = xasprintf("%s/lx", dir);
        assert_int_equal(exe_extract(&link, p, ldir, &err), -1);
        assert_non_null(strstr(err.detail, "archive symlink 'pw' points outside the sandbox"));
        free(ldir);
    }
    free(p);

    /* Not an archive at all. */
    p = xasprintf("%s/bin/run", dir);
    assert_int_equal(exe_extract(&tgz, p, dir, &err), -1);
    assert_non_null(strstr(err.detail, "artifact 'slug': cannot list archive"));
    free(p);
    exe_remove_tree(dir);
    free(dir);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_md5_and_check),
    cmocka_unit_test(test_embedded),
    cmocka_unit_test(test_cache),
    cmocka_unit_test(test_archive_names),
    cmocka_unit_test(test_extract_real_archives),
};
CR_TEST_MAIN(tests)
