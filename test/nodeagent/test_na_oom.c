#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "nodeagent/na_files.h"
#include "nodeagent/na_oom.h"

#define MIB (1024 * 1024)

/* Default policy: 95% for 5 s, or over 100% at once. */
static void test_decide(void **state)
{
    int64_t since = 0, lim = 1024 * (int64_t)MIB;

    assert_int_equal(na_oom_decide(900 * (int64_t)MIB, lim, 95, 5000, 1000, &since), NA_OOM_OK);
    assert_int_equal(since, 0);
    /* above 95%: watched from now on */
    assert_int_equal(na_oom_decide(1000 * (int64_t)MIB, lim, 95, 5000, 1000, &since), NA_OOM_WATCH);
    assert_int_equal(since, 1000);
    assert_int_equal(na_oom_decide(1000 * (int64_t)MIB, lim, 95, 5000, 5999, &since), NA_OOM_WATCH);
    /* a dip below restarts the window */
    assert_int_equal(na_oom_decide(500 * (int64_t)MIB, lim, 95, 5000, 6000, &since), NA_OOM_OK);
    assert_int_equal(since, 0);
    assert_int_equal(na_oom_decide(980 * (int64_t)MIB, lim, 95, 5000, 7000, &since), NA_OOM_WATCH);
    assert_int_equal(na_oom_decide(980 * (int64_t)MIB, lim, 95, 5000, 12000, &since), NA_OOM_KILL);
    /* over 100%: at once */
    since = 0;
    assert_int_equal(na_oom_decide(lim + 1, lim, 95, 5000, 1, &since), NA_OOM_KILL);
    /* exactly at the threshold counts; no limit, no verdict */
    since = 0;
    assert_int_equal(na_oom_decide(950, 1000, 95, 0, 1, &since), NA_OOM_KILL);
    assert_int_equal(na_oom_decide(lim * 5, 0, 95, 0, 1, &since), NA_OOM_OK);
}

static void test_reason(void **state)
{
    char out[200];

    na_oom_reason(1100 * (int64_t)MIB, 1024 * (int64_t)MIB, 95, 5000, out, sizeof(out));
    assert_string_equal(out, "killed by the node agent: memory 1100 MiB over the 1024 MiB limit");
    na_oom_reason(1000 * (int64_t)MIB, 1024 * (int64_t)MIB, 95, 5000, out, sizeof(out));
    assert_string_equal(out, "killed by the node agent: memory 1000 MiB above 95% of the "
                             "1024 MiB limit for 5 s");
}

static void test_cgroup_path(void **state)
{
    char *p = na_cgroup_v2_path("12:memory:/x\n0::/system.slice/mesos/abc\n");
    assert_string_equal(p, "/system.slice/mesos/abc");
    free(p);
    assert_null(na_cgroup_v2_path("4:memory:/mesos/abc\n"));
}

static void test_parse_bytes(void **state)
{
    int64_t v = -7;

    assert_int_equal(na_oom_parse_bytes("123456\n", &v), 0);
    assert_int_equal(v, 123456);
    assert_int_equal(na_oom_parse_bytes("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(na_oom_parse_bytes("9223372036854775807\n", &v), 0);
    assert_true(v == INT64_MAX);
    v = -7;
    const char *bad[] = {"",
                         "\n",
                         "max\n",
                         "12abc\n",
                         "-5\n",
                         "+5",
                         " 5",
                         "5\n\n",
                         "5 6\n",
                         "9223372036854775808\n",
                         "99999999999999999999999\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(na_oom_parse_bytes(bad[i], &v), -1);
    assert_int_equal(na_oom_parse_bytes(NULL, &v), -1);
    assert_int_equal(v, -7);
}

/* A fake /proc and cgroup v2 tree in a temp dir: task pids 101 and 102
 * (sandbox /sb/a, 100 its corral-executor), 201 of sandbox /sb/b, in
 * cgroup /mesos/a with memory.current 123456. */
typedef struct fake {
    char *tmp, *proc, *cg, *task_cg;
    na_procs procs;
} fake;

static void put(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    free(path);
}

static char *mkdirs(const char *root, const char *rel)
{
    char *path = xasprintf("%s/%s", root, rel);

    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    assert_true(mkdir(path, 0755) == 0 || access(path, F_OK) == 0);
    return path;
}

static void add_proc(fake *f, pid_t pid, const char *sandbox, const char *comm, int64_t rss)
{
    f->procs.v = xrealloc(f->procs.v, (f->procs.n + 1) * sizeof(*f->procs.v));
    /* each runs the program of its name (na_proc_runs_executor looks at
     * exe, not comm) */
    f->procs.v[f->procs.n++] = (na_proc){.pid = pid,
                                         .ppid = 1,
                                         .pgid = pid,
                                         .sandbox = xstrdup(sandbox),
                                         .comm = xstrdup(comm),
                                         .rss_bytes = rss,
                                         .exe = xasprintf("/usr/bin/%s", comm)};
}

static int fake_setup(void **state)
{
    fake *f = xcalloc(1, sizeof(*f));
    char *d;

    f->tmp = cr_test_tmpdir();
    f->proc = mkdirs(f->tmp, "proc");
    f->cg = mkdirs(f->tmp, "cgroup");
    f->task_cg = mkdirs(f->cg, "mesos/a");
    free(mkdirs(f->cg, "mesos/b"));
    for (int pid = 100; pid <= 102; pid++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "proc/%d", pid);
        d = mkdirs(f->tmp, rel);
        put(d, "cgroup", "0::/mesos/a\n");
        free(d);
    }
    d = mkdirs(f->tmp, "proc/201");
    put(d, "cgroup", "0::/mesos/b\n");
    free(d);
    put(f->task_cg, "cgroup.procs", "100\n101\n102\n");
    put(f->task_cg, "memory.current", "123456\n");
    add_proc(f, 100, "/sb/a", "corral-executor", 1000);
    add_proc(f, 101, "/sb/a", "sh", 2000);
    add_proc(f, 102, "/sb/a", "python3", 30000);
    add_proc(f, 201, "/sb/b", "sleep", 5000);
    *state = f;
    return 0;
}

static int fake_teardown(void **state)
{
    fake *f = *state;
    cr_err err;

    assert_int_equal(na_remove_tree(f->tmp, &err), 0);
    na_procs_release(&f->procs);
    free(f->tmp);
    free(f->proc);
    free(f->cg);
    free(f->task_cg);
    free(f);
    return 0;
}

static int64_t cg_mem(fake *f, pid_t pid)
{
    return na_oom_cgroup_memory(&f->procs, "/sb/a", pid, f->proc, f->cg);
}

/* The sandbox's own cgroup: memory.current, for na_oom_measure too. */
static void test_cgroup_read_when_owned(void **state)
{
    fake *f = *state;
    const char *how = NULL;

    assert_int_equal(cg_mem(f, 101), 123456);
    assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, f->cg, &how), 123456);
    assert_string_equal(how, "cgroup");
    /* a last line without its newline is still a line */
    put(f->task_cg, "cgroup.procs", "100\n101\n102");
    assert_int_equal(cg_mem(f, 101), 123456);
    /* a cgroup below whose processes are the sandbox's too: still its own */
    free(mkdirs(f->task_cg, "worker"));
    {
        char *sub = xasprintf("%s/worker", f->task_cg);
        put(sub, "cgroup.procs", "102\n");
        free(sub);
    }
    put(f->task_cg, "cgroup.procs", "100\n101\n");
    assert_int_equal(cg_mem(f, 101), 123456);
    /* no cgroup root: the RSS without the executor */
    assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, NULL, &how), 32000);
    assert_string_equal(how, "rss");
}

/* The executor's RSS is left out by what it runs: a task renamed
 * corral-executor (prctl, /proc/self/comm) is still counted. */
static void test_rss_renamed_task_counted(void **state)
{
    fake *f = *state;
    const char *how = NULL;

    free(f->procs.v[2].comm);
    f->procs.v[2].comm = xstrdup("corral-executor");
    assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, NULL, &how), 32000);
    /* and a process running a copy named corral-executor under the executor
     * is the task's */
    f->procs.v[2].ppid = 100;
    free(f->procs.v[2].exe);
    f->procs.v[2].exe = xstrdup("/sb/a/app/corral-executor");
    assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, NULL, &how), 32000);
    /* the executor's own name changed changes nothing either */
    free(f->procs.v[0].comm);
    f->procs.v[0].comm = xstrdup("whatever");
    assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, NULL, &how), 32000);
    assert_string_equal(how, "rss");
}

/* The ownership check: memory.current is read only when the task's pid is
 * listed and nothing listed, here or below, is anyone else's; otherwise
 * na_oom_measure falls back to the RSS. */
static void test_cgroup_ownership(void **state)
{
    fake *f = *state;
    const char *how = NULL;
    char *sub;
    const char *lists[] = {
        "100\n102\n",           /* the pid asked about is not listed */
        "",                     /* nobody listed */
        "100\n101\n102\n201\n", /* another sandbox's process */
        "101\n999\n",           /* a process of no sandbox (the agent's, say) */
        "101\nabc\n",           /* not a pid list */
        "101 102\n",
        "-101\n",
        "0\n101\n",
    };

    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        put(f->task_cg, "cgroup.procs", lists[i]);
        assert_int_equal(cg_mem(f, 101), -1);
        how = NULL;
        assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, f->cg, &how), 32000);
        assert_string_equal(how, "rss");
    }
    /* memory.current counts the cgroups below: another's process there */
    put(f->task_cg, "cgroup.procs", "100\n101\n102\n");
    free(mkdirs(f->task_cg, "x/y"));
    sub = xasprintf("%s/x/y", f->task_cg);
    put(sub, "cgroup.procs", "201\n");
    assert_int_equal(cg_mem(f, 101), -1);
    put(sub, "cgroup.procs", "102\n");
    assert_int_equal(cg_mem(f, 101), -1); /* x itself has no cgroup.procs */
    free(sub);
    sub = xasprintf("%s/x", f->task_cg);
    put(sub, "cgroup.procs", "");
    assert_int_equal(cg_mem(f, 101), 123456);
    free(sub);
    /* no cgroup.procs at all */
    sub = xasprintf("%s/cgroup.procs", f->task_cg);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(cg_mem(f, 101), -1);
    free(sub);
}

/* A memory.current that is not one byte count is refused, not read as 0. */
static void test_cgroup_malformed_memory_current(void **state)
{
    fake *f = *state;
    const char *how = NULL;
    const char *bad[] = {"", "max\n", "12abc\n", "-5\n", "1e9\n", "99999999999999999999999\n"};
    char *path;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        put(f->task_cg, "memory.current", bad[i]);
        assert_int_equal(cg_mem(f, 101), -1);
        how = NULL;
        assert_int_equal(na_oom_measure(&f->procs, "/sb/a", f->proc, f->cg, &how), 32000);
        assert_string_equal(how, "rss");
    }
    path = xasprintf("%s/memory.current", f->task_cg);
    assert_int_equal(unlink(path), 0);
    free(path);
    assert_int_equal(cg_mem(f, 101), -1);
}

/* No cgroup of its own: the root cgroup, cgroup v1 only, no such process,
 * a path that is not the kernel's. */
static void test_cgroup_none(void **state)
{
    fake *f = *state;
    char *d = xasprintf("%s/101", f->proc);
    const char *texts[] = {"0::/\n",       "4:memory:/mesos/a\n", "", "0::/mesos/a/../b\n",
                           "0::mesos/a\n", "0::/mesos/..\n"};

    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
        put(d, "cgroup", texts[i]);
        assert_int_equal(cg_mem(f, 101), -1);
    }
    put(d, "cgroup", "12:memory:/x\n0::/mesos/a\n");
    assert_int_equal(cg_mem(f, 101), 123456);
    free(d);
    assert_int_equal(cg_mem(f, 4242), -1); /* no /proc/4242 */
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decide),
    cmocka_unit_test(test_reason),
    cmocka_unit_test(test_cgroup_path),
    cmocka_unit_test(test_parse_bytes),
    cmocka_unit_test_setup_teardown(test_cgroup_read_when_owned, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(test_rss_renamed_task_counted, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(test_cgroup_ownership, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(test_cgroup_malformed_memory_current, fake_setup,
                                    fake_teardown),
    cmocka_unit_test_setup_teardown(test_cgroup_none, fake_setup, fake_teardown),
};
CR_TEST_MAIN(tests)
