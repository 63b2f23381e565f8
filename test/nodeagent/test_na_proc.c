/* na_proc: which processes of a sandbox a kill signals (na_kill_plan_make),
 * from tables of /proc entries (pid, ppid, pgid, comm, exe). The executor
 * is recognised by what it runs, never by its name. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "base/xalloc.h"
#include "nodeagent/na_proc.h"

#define EXE "/opt/corral/bin/corral-executor"

typedef struct row {
    pid_t pid, ppid, pgid;
    const char *sandbox, *comm, *exe; /* exe NULL: unreadable */
} row;

static void load(na_procs *p, const row *rows, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->v = xcalloc(n, sizeof(*p->v));
    for (size_t i = 0; i < n; i++)
        p->v[p->n++] = (na_proc){.pid = rows[i].pid,
                                 .ppid = rows[i].ppid,
                                 .pgid = rows[i].pgid,
                                 .sandbox = xstrdup(rows[i].sandbox),
                                 .comm = xstrdup(rows[i].comm),
                                 .exe = rows[i].exe ? xstrdup(rows[i].exe) : NULL};
}

static bool in(const pid_t *v, size_t n, pid_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

#define PLAN(rows, dir, plan)                               \
    do {                                                    \
        load(&procs, rows, sizeof(rows) / sizeof(rows[0])); \
        na_kill_plan_make(&procs, dir, plan);               \
    } while (0)

static void done(na_procs *p, na_kill_plan *k)
{
    na_kill_plan_release(k);
    na_procs_release(p);
}

/* mesoslite's `sh -c` (200) starts the executor (201) in the sh's group;
 * the executor starts the runner in a group of its own (300), whose task
 * forks (301). The executor and its shell are spared; the task's group is
 * signalled as a group. */
static void test_executor_and_its_shell_spared_task_group_signalled(void **state)
{
    const row rows[] = {
        {200, 50, 200, "/sb/a", "sh", "/usr/bin/dash"},
        {201, 200, 200, "/sb/a", "corral-executor", EXE},
        {300, 201, 300, "/sb/a", "python3", "/usr/bin/python3.11"},
        {301, 300, 300, "/sb/a", "python3", "/usr/bin/python3.11"},
        {400, 60, 400, "/sb/b", "sleep", "/usr/bin/sleep"}, /* another sandbox */
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_executors, 1);
    assert_int_equal(k.n_spared, 2);
    assert_true(in(k.spared, k.n_spared, 200));
    assert_true(in(k.spared, k.n_spared, 201));
    assert_int_equal(k.n_groups, 1); /* once, for two processes */
    assert_int_equal(k.groups[0], 300);
    assert_int_equal(k.n_pids, 0);
    done(&procs, &k);
}

/* The hole this closes: a task that renames itself corral-executor (prctl
 * PR_SET_NAME, /proc/self/comm) is still signalled, with its group. */
static void test_task_renamed_corral_executor_signalled(void **state)
{
    const row rows[] = {
        {200, 50, 200, "/sb/a", "sh", "/usr/bin/dash"},
        {201, 200, 200, "/sb/a", "corral-executor", EXE},
        {300, 201, 300, "/sb/a", "corral-executor", "/usr/bin/python3.11"},
        {301, 300, 301, "/sb/a", "corral-executor", "/usr/bin/python3.11"},
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_executors, 1);
    assert_int_equal(k.n_spared, 2);
    assert_false(in(k.spared, k.n_spared, 300));
    assert_int_equal(k.n_groups, 2);
    assert_true(in(k.groups, k.n_groups, 300));
    assert_true(in(k.groups, k.n_groups, 301)); /* its own group (setsid) too */
    assert_false(na_procs_is_executor(&procs, 2));
    done(&procs, &k);
}

/* A task with no executor alive (a command task, or the executor died),
 * all renamed: every group is signalled, nothing spared. */
static void test_only_renamed_tasks_nothing_spared(void **state)
{
    const row rows[] = {
        {300, 1, 300, "/sb/a", "corral-executor", "/usr/bin/python3.11"},
        {310, 300, 310, "/sb/a", "corral-executor", NULL}, /* exe unreadable */
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_executors, 0);
    assert_int_equal(k.n_spared, 0);
    assert_int_equal(k.n_groups, 2);
    assert_true(in(k.groups, k.n_groups, 300));
    assert_true(in(k.groups, k.n_groups, 310));
    done(&procs, &k);
}

/* A task process that joined the executor's group (setpgid, same session)
 * is signalled by its pid: the group holds spared processes. */
static void test_task_in_the_executors_group_signalled_alone(void **state)
{
    const row rows[] = {
        {200, 50, 200, "/sb/a", "sh", "/usr/bin/dash"},
        {201, 200, 200, "/sb/a", "corral-executor", EXE},
        {300, 201, 300, "/sb/a", "sh", "/usr/bin/dash"},
        {302, 300, 200, "/sb/a", "corral-executor", "/usr/bin/python3.11"},
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_groups, 1);
    assert_int_equal(k.groups[0], 300);
    assert_int_equal(k.n_pids, 1);
    assert_int_equal(k.pids[0], 302);
    assert_false(in(k.groups, k.n_groups, 200));
    done(&procs, &k);
}

/* A task process that execs a program it named corral-executor descends
 * from the executor: it is the task's. So is its child. */
static void test_copy_named_corral_executor_under_the_executor_signalled(void **state)
{
    const row rows[] = {
        {200, 50, 200, "/sb/a", "sh", "/usr/bin/dash"},
        {201, 200, 200, "/sb/a", "corral-executor", EXE},
        {300, 201, 300, "/sb/a", "corral-executor", "/sb/a/app/corral-executor"},
        {303, 300, 200, "/sb/a", "x", "/sb/a/app/corral-executor"},
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_executors, 1);
    assert_int_equal(k.n_spared, 2);
    assert_int_equal(k.n_groups, 1);
    assert_int_equal(k.groups[0], 300);
    assert_int_equal(k.n_pids, 1);
    assert_int_equal(k.pids[0], 303);
    assert_true(na_procs_is_executor(&procs, 1));
    assert_false(na_procs_is_executor(&procs, 2));
    assert_false(na_procs_is_executor(&procs, 3));
    done(&procs, &k);
}

/* The executor is known by its exe even when its name is not its own, and
 * after its binary was replaced (" (deleted)"); a process without a
 * readable exe is no executor, whatever its name. */
static void test_executor_by_exe_not_name(void **state)
{
    const row rows[] = {
        {201, 1, 201, "/sb/a", "exe-renamed", EXE},
        {300, 201, 300, "/sb/a", "python3", "/usr/bin/python3.11"},
        {500, 1, 500, "/sb/c", "corral-executor", NULL},
        {501, 500, 501, "/sb/c", "sleep", "/usr/bin/sleep"},
    };
    na_procs procs;
    na_kill_plan k;
    char *p;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_spared, 1);
    assert_int_equal(k.spared[0], 201);
    assert_int_equal(k.n_groups, 1);
    assert_int_equal(k.groups[0], 300);
    na_kill_plan_release(&k);
    na_kill_plan_make(&procs, "/sb/c", &k);
    assert_int_equal(k.n_spared, 0);
    assert_int_equal(k.n_groups, 2);
    done(&procs, &k);

    p = na_proc_exe_path(EXE " (deleted)");
    assert_string_equal(p, EXE);
    free(p);
    p = na_proc_exe_path("/usr/bin/python3.11");
    assert_string_equal(p, "/usr/bin/python3.11");
    free(p);
    p = na_proc_exe_path(" (deleted)");
    assert_string_equal(p, " (deleted)");
    free(p);
    {
        na_proc q = {.exe = "corral-executor"};
        assert_true(na_proc_runs_executor(&q));
        q.exe = "/usr/bin/corral-executor.real";
        assert_false(na_proc_runs_executor(&q));
        q.exe = "/corral-executor/python3";
        assert_false(na_proc_runs_executor(&q));
        q.exe = NULL;
        assert_false(na_proc_runs_executor(&q));
    }
}

/* pgid 0 or 1 is never signalled as a group (kill(0) is our own group,
 * kill(-1) everything); such a process goes alone. A ppid cycle (pids
 * reused between reads) ends. */
static void test_odd_groups_and_cycles(void **state)
{
    const row rows[] = {
        {201, 202, 201, "/sb/a", "corral-executor", EXE},
        {202, 201, 201, "/sb/a", "sh", "/usr/bin/dash"},
        {300, 201, 1, "/sb/a", "python3", "/usr/bin/python3.11"},
        {301, 201, 0, "/sb/a", "python3", "/usr/bin/python3.11"},
    };
    na_procs procs;
    na_kill_plan k;

    PLAN(rows, "/sb/a", &k);
    assert_int_equal(k.n_groups, 0);
    assert_int_equal(k.n_pids, 2);
    assert_true(in(k.pids, k.n_pids, 300));
    assert_true(in(k.pids, k.n_pids, 301));
    assert_int_equal(k.n_spared, 2);
    done(&procs, &k);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_executor_and_its_shell_spared_task_group_signalled),
    cmocka_unit_test(test_task_renamed_corral_executor_signalled),
    cmocka_unit_test(test_only_renamed_tasks_nothing_spared),
    cmocka_unit_test(test_task_in_the_executors_group_signalled_alone),
    cmocka_unit_test(test_copy_named_corral_executor_under_the_executor_signalled),
    cmocka_unit_test(test_executor_by_exe_not_name),
    cmocka_unit_test(test_odd_groups_and_cycles),
};
CR_TEST_MAIN(tests)
