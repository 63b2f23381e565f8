#include "test/lib/cr_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "mesoslite/ml_files.h"

/* A fake agent dir:
 *   <tmp>/agent/frameworks/F/executors/E/runs/R     the sandbox (runs/latest -> R)
 *   <tmp>/agent/frameworks/F/executors/E2/runs/R2   a sibling sandbox with "secret"
 *   <tmp>/outside/secret                             outside every sandbox */
typedef struct tree {
    char *tmp, *agent, *sandbox, *virt;
    int fds; /* open at setup: the same number must be open at teardown */
} tree;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void link_at(const char *dir, const char *name, const char *target)
{
    char *p = xasprintf("%s/%s", dir, name);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static int setup(void **state)
{
    tree *t = xcalloc(1, sizeof(*t));
    char *p;

    t->tmp = cr_test_tmpdir();
    t->agent = xasprintf("%s/agent", t->tmp);
    t->sandbox = xasprintf("%s/frameworks/F/executors/E/runs/R", t->agent);
    t->virt = xstrdup("/frameworks/F/executors/E/runs/latest");
    assert_int_equal(cr_mkdirs(t->sandbox, NULL), 0);
    link_at(t->sandbox, "../latest", "R");

    p = xasprintf("%s/stdout", t->sandbox);
    put(p, "hello\n");
    free(p);
    p = xasprintf("%s/sub", t->sandbox);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = xasprintf("%s/sub/inner.txt", t->sandbox);
    put(p, "inner\n");
    free(p);
    p = xasprintf("%s/sub/d1/d2", t->sandbox);
    assert_int_equal(cr_mkdirs(p, NULL), 0);
    free(p);
    p = xasprintf("%s/fifo", t->sandbox);
    assert_int_equal(mkfifo(p, 0644), 0);
    free(p);

    /* Links that leave the sandbox. */
    link_at(t->sandbox, "up", "../../..");
    link_at(t->sandbox, "etc", "/etc");
    link_at(t->sandbox, "pw", "/etc/passwd");
    link_at(t->sandbox, "sib", "../../../E2/runs/R2");
    link_at(t->sandbox, "outs", "../../../../../../../outside/secret");
    link_at(t->sandbox, "roundtrip", "../R/stdout"); /* out and back in */
    link_at(t->sandbox, "loop", "loop");
    link_at(t->sandbox, "sub/d1/esc", "../../..");
    p = xasprintf("%s/outside/secret", t->tmp);
    link_at(t->sandbox, "abs_out", p);
    free(p);
    /* Links that stay inside. */
    link_at(t->sandbox, "out", "stdout");
    link_at(t->sandbox, "subl", "sub");
    link_at(t->sandbox, "sub/back", "..");
    link_at(t->sandbox, "sub/chain", "../subl/inner.txt");
    link_at(t->sandbox, "sub/d1/top", "../..");
    p = xasprintf("%s/stdout", t->sandbox);
    link_at(t->sandbox, "abs_in", p);
    free(p);

    p = xasprintf("%s/frameworks/F/executors/E2/runs/R2", t->agent);
    assert_int_equal(cr_mkdirs(p, NULL), 0);
    free(p);
    p = xasprintf("%s/frameworks/F/executors/E2/runs/R2/secret", t->agent);
    put(p, "sibling\n");
    free(p);
    /* An executor whose latest link and a run that is a link point away. */
    p = xasprintf("%s/frameworks/F/executors/E3/runs", t->agent);
    assert_int_equal(cr_mkdirs(p, NULL), 0);
    link_at(p, "latest", "../../E2/runs/R2");
    link_at(p, "R3", "../../E2/runs/R2");
    free(p);

    p = xasprintf("%s/outside", t->tmp);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = xasprintf("%s/outside/secret", t->tmp);
    put(p, "outside\n");
    free(p);
    t->fds = count_fds();
    *state = t;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    tree *t = *state;
    assert_int_equal(count_fds(), t->fds); /* every walk closed its fds */
    nftw(t->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t->tmp);
    free(t->agent);
    free(t->sandbox);
    free(t->virt);
    free(t);
    return 0;
}

/* Reads what path names (as a file) into a static buffer, or NULL with errno. */
static const char *read_path(const tree *t, const char *path)
{
    static char buf[256];
    struct stat st;
    int fd = ml_files_open(t->agent, path, ML_FILES_FILE, &st, NULL, 0);
    ssize_t n;

    if (fd < 0)
        return NULL;
    assert_true(S_ISREG(st.st_mode));
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

/* errno of opening sandbox-relative rel below the virtual root, 0 if it opens. */
static int open_err(const tree *t, const char *rel, ml_files_want want)
{
    char *p = xasprintf("%s/%s", t->virt, rel);
    struct stat st;
    int fd = ml_files_open(t->agent, p, want, &st, NULL, 0), err = errno;

    free(p);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return err;
}

static void test_below(void **state)
{
    assert_string_equal(ml_files_below("/a/b/c/d", "/a/b"), "c/d");
    assert_string_equal(ml_files_below("//a/./b//c", "/a/b/"), "c");
    assert_string_equal(ml_files_below("/a/b", "/a/b"), "");
    assert_null(ml_files_below("/a/bc", "/a/b"));
    assert_null(ml_files_below("/a", "/a/b"));
    assert_null(ml_files_below("/x/../a/b", "/a/b"));
    assert_null(ml_files_below("a/b/c", "/a/b"));
    assert_null(ml_files_below("/a/b/c", "a/b"));
    assert_string_equal(ml_files_below("a/b/c", "a/b"), "c");
    assert_null(ml_files_below(NULL, "/a"));
}

static void test_inside_paths_open(void **state)
{
    tree *t = *state;
    char *p;
    char leaf[NAME_MAX + 1];
    struct stat st;
    int fd;

    assert_string_equal(read_path(t, "/frameworks/F/executors/E/runs/latest/stdout"), "hello\n");
    assert_string_equal(read_path(t, "/frameworks/F/executors/E/runs/R/stdout"), "hello\n");
    assert_string_equal(read_path(t, "/frameworks//F/./executors/E/runs/R/./sub/../stdout"),
                        "hello\n");
    /* Host paths, by the agent dir as given and as its real path. */
    p = xasprintf("%s/stdout", t->sandbox);
    assert_string_equal(read_path(t, p), "hello\n");
    free(p);
    p = xasprintf("%s/frameworks/F/executors/E/runs/latest/sub/inner.txt", t->agent);
    assert_string_equal(read_path(t, p), "inner\n");
    free(p);
    /* Links that stay inside. */
    assert_int_equal(open_err(t, "out", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "abs_in", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "subl", ML_FILES_DIR), 0);
    assert_int_equal(open_err(t, "subl/inner.txt", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "sub/back/stdout", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "sub/chain", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "subl/../stdout", ML_FILES_FILE), 0);
    assert_int_equal(open_err(t, "", ML_FILES_DIR), 0);
    assert_string_equal(read_path(t, "/frameworks/F/executors/E/runs/R/sub/d1/d2/../../inner.txt"),
                        "inner\n");
    assert_string_equal(read_path(t, "/frameworks/F/executors/E/runs/R/sub/d1/top/stdout"),
                        "hello\n");
    assert_string_equal(read_path(t, "/frameworks/F/executors/E/runs/R/subl/d1/d2/../top/out"),
                        "hello\n");

    /* leaf: the real name of what was opened. */
    p = xasprintf("%s/out", t->virt);
    fd = ml_files_open(t->agent, p, ML_FILES_FILE, &st, leaf, sizeof(leaf));
    assert_true(fd >= 0);
    close(fd);
    assert_string_equal(leaf, "stdout");
    assert_int_equal(st.st_size, 6);
    fd = ml_files_open(t->agent, t->virt, ML_FILES_DIR, &st, leaf, sizeof(leaf));
    assert_true(fd >= 0);
    close(fd);
    assert_string_equal(leaf, "R");
    assert_true(S_ISDIR(st.st_mode));
    free(p);
}

static void test_links_out_are_refused(void **state)
{
    tree *t = *state;
    static const char *const out[] = {"up",
                                      "up/E2",
                                      "etc",
                                      "etc/passwd",
                                      "pw",
                                      "sib",
                                      "sib/secret",
                                      "outs",
                                      "roundtrip",
                                      "abs_out",
                                      "..",
                                      "../R/stdout",
                                      "sub/../../R/stdout",
                                      "../../E2/runs/R2/secret",
                                      "sub/d1/esc",
                                      "sub/d1/d2/../../../..",
                                      "sub/d1/top/.."};

    /* Refused alike, without looking at what lies outside (no EISDIR or
     * ENOTDIR that would tell what the target is). */
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        int e1 = open_err(t, out[i], ML_FILES_FILE), e2 = open_err(t, out[i], ML_FILES_DIR);
        if (e1 != EXDEV || e2 != EXDEV)
            fail_msg("%s: errno %d and %d, want EXDEV", out[i], e1, e2);
    }
    assert_int_equal(open_err(t, "loop", ML_FILES_FILE), ELOOP);
}

static void test_not_sandbox_paths(void **state)
{
    tree *t = *state;
    char *p;
    struct stat st;
    static const char *const bad[] = {"/etc/passwd",
                                      "/",
                                      "/frameworks",
                                      "/frameworks/F",
                                      "/frameworks/F/executors/E",
                                      "/frameworks/F/executors/E/runs",
                                      "/frameworks/../x",
                                      "/frameworks/F/executors/../executors/E/runs/R/stdout",
                                      "/frameworks/F/executors/E/runs/../runs/R/stdout",
                                      "/frameworks/F/executors/E3/runs/latest/secret",
                                      "/frameworks/F/executors/E3/runs/R3/secret",
                                      "/frameworks/F/executors/E/runs/nope",
                                      "frameworks/F/executors/E/runs/R/stdout",
                                      ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ml_files_open(t->agent, bad[i], ML_FILES_FILE, &st, NULL, 0) >= 0 ||
            ml_files_open(t->agent, bad[i], ML_FILES_DIR, &st, NULL, 0) >= 0)
            fail_msg("%s opened", bad[i]);
    }
    p = xasprintf("%s/frameworks", t->agent);
    assert_int_equal(ml_files_open(t->agent, p, ML_FILES_DIR, &st, NULL, 0), -1);
    free(p);
    p = xasprintf("%s/outside/secret", t->tmp);
    assert_int_equal(ml_files_open(t->agent, p, ML_FILES_FILE, &st, NULL, 0), -1);
    assert_int_equal(errno, ENOENT);
    free(p);
    assert_int_equal(ml_files_open(NULL, t->virt, ML_FILES_DIR, &st, NULL, 0), -1);
    assert_int_equal(ml_files_open(t->agent, NULL, ML_FILES_DIR, &st, NULL, 0), -1);
}

static void test_kinds(void **state)
{
    tree *t = *state;

    assert_int_equal(open_err(t, "sub", ML_FILES_FILE), EISDIR);
    assert_int_equal(open_err(t, "", ML_FILES_FILE), EISDIR);
    assert_int_equal(open_err(t, "stdout", ML_FILES_DIR), ENOTDIR);
    assert_int_equal(open_err(t, "stdout/x", ML_FILES_FILE), ENOTDIR);
    assert_int_equal(open_err(t, "stdout/..", ML_FILES_DIR), ENOTDIR);
    /* A FIFO is never opened (a reader would wait for a writer). */
    assert_int_equal(open_err(t, "fifo", ML_FILES_FILE), EINVAL);
    assert_int_equal(open_err(t, "nope", ML_FILES_FILE), ENOENT);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_below),
    cmocka_unit_test_setup_teardown(test_inside_paths_open, setup, teardown),
    cmocka_unit_test_setup_teardown(test_links_out_are_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_not_sandbox_paths, setup, teardown),
    cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
};
CR_TEST_MAIN(tests)
