/* Unit tests of mesoslite/ml_proc.c's pure parts: /proc/<pid>/stat and
 * environ parsing, pid files, and which processes are leftovers of a
 * previous mesoslite (ml_leftovers) over snapshots of the process table. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "mesoslite/ml_proc.h"

static void test_parse_stat(void **state)
{
    ml_proc p;
    /* a real line (cat) */
    assert_int_equal(
        ml_proc_parse_stat("20536 (cat) R 20534 20534 22409 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 "
                           "0 1104869 3133440 414 18446744073709551615 94065822560256\n",
                           &p),
        0);
    assert_int_equal(p.pid, 20536);
    assert_int_equal(p.state, 'R');
    assert_int_equal(p.ppid, 20534);
    assert_int_equal(p.pgrp, 20534);
    assert_int_equal(p.session, 22409);
    assert_int_equal(p.start, 1104869);
    assert_string_equal(p.comm, "cat");
    assert_null(p.sandbox);
    /* a command name with spaces and parentheses */
    assert_int_equal(ml_proc_parse_stat("77 (a (b) c) S 1 70 70 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
                                        "123456789012 0 0\n",
                                        &p),
                     0);
    assert_string_equal(p.comm, "a (b) c");
    assert_int_equal(p.ppid, 1);
    assert_int_equal(p.session, 70);
    assert_true(p.start == 123456789012ULL);
    assert_int_equal(ml_proc_parse_stat("", &p), -1);
    assert_int_equal(ml_proc_parse_stat("12 (x) S 1 2", &p), -1);
    assert_int_equal(ml_proc_parse_stat("garbage", &p), -1);
}

static void test_env_sandbox(void **state)
{
    static const char env[] = "PATH=/bin\0MESOS_SANDBOX=/w/s\0MESOS_DIRECTORY=/w/s\0X=1";
    char *s = ml_proc_env_sandbox(env, sizeof(env) - 1);
    assert_string_equal(s, "/w/s");
    free(s);
    static const char none[] = "PATH=/bin\0MESOS_DIRECTORY=\0MESOS_DIRECTORYX=/a";
    assert_null(ml_proc_env_sandbox(none, sizeof(none) - 1));
    assert_null(ml_proc_env_sandbox("", 0));
    /* the last entry without its NUL */
    static const char last[] = "A=1\0MESOS_DIRECTORY=/w/t";
    s = ml_proc_env_sandbox(last, sizeof(last) - 1);
    assert_string_equal(s, "/w/t");
    free(s);
}

static void test_pidrec(void **state)
{
    ml_pidrec r = {.pid = 4242, .start = 99887766, .dir = "/tmp/work dir/slaves/S0/runs/c1"};
    snprintf(r.boot_id, sizeof(r.boot_id), "0a1b2c3d-1111-2222-3333-444455556666");
    char *text = ml_pidrec_format(&r);
    assert_string_equal(text, "4242 99887766 0a1b2c3d-1111-2222-3333-444455556666 /tmp/work "
                              "dir/slaves/S0/runs/c1\n");
    ml_pidrec back;
    assert_int_equal(ml_pidrec_parse(text, &back), 0);
    assert_int_equal(back.pid, 4242);
    assert_true(back.start == 99887766ULL);
    assert_string_equal(back.boot_id, r.boot_id);
    assert_string_equal(back.dir, r.dir);
    ml_pidrec_release(&back);
    free(text);
    assert_int_equal(ml_pidrec_parse("", &back), -1);
    assert_int_equal(ml_pidrec_parse("12 x b /d", &back), -1);
    assert_int_equal(ml_pidrec_parse("1 5 b /d", &back), -1); /* never init */
}

#define BOOT "boot-1"

/* A process: pid, session, group, start, state, sandbox. */
#define P(pid, sid, pg, st, state, box)                          \
    {                                                            \
        (pid), 1, (pg), (sid), (state), (st), "p", (char *)(box) \
    }

static size_t leftovers(const ml_pidrec *recs, size_t nrec, const ml_proc *procs, size_t n,
                        long *out)
{
    size_t v[16], nv = ml_leftovers(recs, nrec, BOOT, procs, n, 10, v);
    for (size_t i = 0; i < nv; i++)
        out[i] = procs[v[i]].pid;
    return nv;
}

static void test_leftovers(void **state)
{
    /* a container whose leader (pid 100, started at 5000) died with
     * mesoslite: `sh -c 'sleep 1000 & wait'` left its sleep (101) */
    ml_pidrec recs[] = {{100, 5000, BOOT, "/w/c1"}, {200, 6000, BOOT, "/w/c2"}};
    long got[16];
    {
        ml_proc procs[] = {
            P(1, 1, 1, 1, 'S', NULL),             /* init */
            P(10, 10, 10, 4000, 'S', NULL),       /* this mesoslite */
            P(101, 100, 100, 5001, 'S', "/w/c1"), /* the sleep: session and group */
            P(102, 100, 102, 5002, 'S', NULL),    /* a grandchild in its own group */
            P(103, 55, 55, 5003, 'S', "/w/c1"),   /* a daemon (setsid), same sandbox */
            P(104, 100, 100, 5004, 'Z', NULL),    /* a zombie: already dead */
            P(105, 55, 100, 5005, 'S', NULL),     /* in the group only */
            P(300, 300, 300, 100, 'S', NULL),     /* unrelated */
            P(301, 300, 300, 7000, 'S', "/w/other"),
        };
        size_t n = leftovers(recs, 2, procs, sizeof(procs) / sizeof(procs[0]), got);
        assert_int_equal(n, 4);
        long want[] = {101, 102, 103, 105};
        for (size_t i = 0; i < n; i++)
            assert_int_equal(got[i], want[i]);
    }
    {
        /* the leader itself survived (its start time matches): it goes too */
        ml_proc procs[] = {P(200, 200, 200, 6000, 'S', "/w/c2"),
                           P(201, 200, 200, 6001, 'R', "/w/c2")};
        size_t n = leftovers(recs, 2, procs, 2, got);
        assert_int_equal(n, 2);
        assert_int_equal(got[0], 200);
        assert_int_equal(got[1], 201);
    }
    {
        /* pid 100 now belongs to another process (other start time): the
         * number was free, its session and group are not the container's;
         * only the sandbox still tells */
        ml_proc procs[] = {P(100, 100, 100, 9000, 'S', NULL), P(150, 100, 100, 9001, 'S', NULL),
                           P(151, 151, 151, 9002, 'S', "/w/c1")};
        size_t n = leftovers(recs, 1, procs, 3, got);
        assert_int_equal(n, 1);
        assert_int_equal(got[0], 151);
    }
    {
        /* older than the leader: not its descendant */
        ml_proc procs[] = {P(120, 100, 100, 4999, 'S', "/w/c1")};
        assert_int_equal(leftovers(recs, 1, procs, 1, got), 0);
    }
    {
        /* another boot: every recorded process is long gone */
        ml_pidrec old[] = {{100, 5000, "boot-0", "/w/c1"}};
        ml_proc procs[] = {P(101, 100, 100, 5001, 'S', "/w/c1")};
        assert_int_equal(leftovers(old, 1, procs, 1, got), 0);
    }
    {
        /* never this mesoslite, even in the session */
        ml_pidrec self[] = {{10, 3000, BOOT, "/w/c1"}};
        ml_proc procs[] = {P(10, 10, 10, 3000, 'S', "/w/c1")};
        assert_int_equal(leftovers(self, 1, procs, 1, got), 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_stat),
    cmocka_unit_test(test_env_sandbox),
    cmocka_unit_test(test_pidrec),
    cmocka_unit_test(test_leftovers),
};

CR_TEST_MAIN(tests)
