#include "test/lib/cr_test.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "executor/exe_sm.h"

/* Compact action list: "UPDATE(TASK_STARTING) PREPARE ...". */
static const char *acts_str(const exe_sm_action *a, int n)
{
    static char buf[1024]; /* test-only scratch */
    static const char *names[] = {"UPDATE",
                                  "PREPARE",
                                  "ABORT_PREPARE",
                                  "START",
                                  "WATCH_SENTINEL",
                                  "SIGTERM",
                                  "SIGKILL",
                                  "ARM_KILL_TIMER",
                                  "CLEANUP",
                                  "ARM_ACK_TIMER",
                                  "RESUBSCRIBE",
                                  "ARM_RECOVERY_TIMER",
                                  "CANCEL_RECOVERY_TIMER",
                                  "EXIT"};
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (a[i].type == EXE_ACT_UPDATE)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%sUPDATE(%s)", i ? " " : "",
                                    a[i].state);
        else if (a[i].type == EXE_ACT_ARM_KILL_TIMER || a[i].type == EXE_ACT_ARM_RECOVERY_TIMER)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s(%lld)", i ? " " : "",
                                    names[a[i].type], (long long)a[i].ms);
        else if (a[i].type == EXE_ACT_EXIT)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%sEXIT(%d)", i ? " " : "",
                                    a[i].exit_code);
        else
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? " " : "",
                                    names[a[i].type]);
    }
    return buf;
}

static exe_sm_action last[EXE_SM_MAX_ACTIONS];

static const char *step(exe_sm *sm, exe_event_type t)
{
    exe_sm_event ev = {.type = t, .grace_ms = -1};
    int n = exe_sm_step(sm, &ev, last);
    return acts_str(last, n);
}

static const char *step_ev(exe_sm *sm, exe_sm_event ev)
{
    int n = exe_sm_step(sm, &ev, last);
    return acts_str(last, n);
}

static void init(exe_sm *sm, bool checkpoint)
{
    exe_sm_config c = {.checkpoint = checkpoint,
                       .kill_grace_ms = 3000,
                       .recovery_timeout_ms = 60000,
                       .ack_timeout_ms = 10000};
    exe_sm_init(sm, &c);
}

static void test_happy_path_finished(void **state)
{
    exe_sm sm;

    init(&sm, false);
    assert_string_equal(step(&sm, EXE_EV_SUBSCRIBED), "");
    assert_string_equal(step(&sm, EXE_EV_LAUNCH), "UPDATE(TASK_STARTING) PREPARE");
    assert_int_equal(sm.phase, EXE_PH_PREPARING);
    assert_string_equal(step(&sm, EXE_EV_PREPARED), "START");
    assert_string_equal(step(&sm, EXE_EV_STARTED), "UPDATE(TASK_RUNNING)");
    assert_string_equal(
        step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = 0, .exit_ok = true}),
        "UPDATE(TASK_FINISHED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(last[0].message, "process exited with status 0");
    /* A second launch or kill changes nothing now. */
    assert_string_equal(step(&sm, EXE_EV_LAUNCH), "");
    assert_string_equal(step(&sm, EXE_EV_KILL), "");
    assert_string_equal(step(&sm, EXE_EV_TERMINAL_ACKED), "EXIT(0)");
    assert_int_equal(sm.phase, EXE_PH_DONE);
}

static void test_failed_exit_code_and_signal(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step(&sm, EXE_EV_SUBSCRIBED);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = 3 << 8}),
                        "UPDATE(TASK_FAILED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(last[0].message, "process exited with status 3");
    assert_null(last[0].reason);
    /* No ack: exit anyway after the bound, with a non-zero code. */
    assert_string_equal(step(&sm, EXE_EV_ACK_TIMEOUT), "EXIT(1)");

    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGSEGV});
    assert_string_equal(last[0].state, "TASK_FAILED");
    assert_non_null(strstr(last[0].message, "killed by signal 11"));
}

/* The node agent killed the task for memory (its note in the sandbox):
 * the terminal update is a failure that says so, with Mesos' memory
 * limit reason, even when the process exited 0 on its SIGTERM; a kill the
 * framework asked for stays TASK_KILLED. */
static bool note(const char *text, char *msg, size_t size, bool *mem)
{
    return exe_kill_note_parse(text, text ? strlen(text) : 0, msg, size, mem);
}

static void test_node_agent_kill_is_a_failure_with_its_reason(void **state)
{
    const char *why = "killed by the node agent: memory 96 MiB over the 32 MiB limit";
    exe_sm sm;
    char msg[300];
    bool mem = false;

    assert_true(note("{\"reason\":\"oom\",\"message\":\"killed by the node agent: "
                     "memory 96 MiB\\nover the 32 MiB limit\",\"at\":1}",
                     msg, sizeof(msg), &mem));
    assert_string_equal(msg, "killed by the node agent: memory 96 MiB over the 32 MiB limit");
    assert_true(mem);
    assert_true(note("{\"reason\":\"other\",\"message\":\"mm\"}", msg, 2, &mem));
    assert_string_equal(msg, "m");
    assert_false(mem);
    assert_false(note("{\"reason\":\"oom\"}", msg, sizeof(msg), &mem));
    assert_false(note("{\"message\":\"\"}", msg, sizeof(msg), &mem));
    assert_false(note("not json", msg, sizeof(msg), &mem));
    assert_false(note(NULL, msg, sizeof(msg), &mem));

    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED,
                                                    .wait_status = SIGTERM,
                                                    .killed_by = why,
                                                    .killed_for_memory = true}),
                        "UPDATE(TASK_FAILED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(last[0].reason, "REASON_CONTAINER_LIMITATION_MEMORY");
    assert_string_equal(last[0].message, "killed by the node agent: memory 96 MiB over the 32 MiB "
                                         "limit (process killed by signal 15 (Terminated))");

    /* it caught SIGTERM and exited 0: still a failure */
    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED,
                                .exit_ok = true,
                                .killed_by = why,
                                .killed_for_memory = true});
    assert_string_equal(last[0].state, "TASK_FAILED");
    assert_non_null(strstr(last[0].message, "process exited with status 0"));

    /* no note: as before */
    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGTERM, .killed_by = ""});
    assert_string_equal(last[0].state, "TASK_FAILED");
    assert_null(last[0].reason);
    assert_string_equal(last[0].message, "process killed by signal 15 (Terminated)");

    /* the framework's kill in progress: TASK_KILLED */
    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    step(&sm, EXE_EV_KILL);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED,
                                .wait_status = SIGTERM,
                                .killed_by = why,
                                .killed_for_memory = true});
    assert_string_equal(last[0].state, "TASK_KILLED");
}

/* Which kill note files the executor trusts (exe_kill_note_trusted): one
 * link, not owned by the task's user, unless the task runs as the
 * executor's own uid. */
static void test_kill_note_trusted(void **state)
{
    const uid_t root = 0, task = 1000, agent = 2000;

    /* the node agent (root) wrote it for a task of user 1000 */
    assert_true(exe_kill_note_trusted(root, 1, task, root));
    /* an executor and node agent as one user, the task another */
    assert_true(exe_kill_note_trusted(agent, 1, task, agent));
    /* the task wrote it itself */
    assert_false(exe_kill_note_trusted(task, 1, task, root));
    assert_false(exe_kill_note_trusted(task, 1, task, agent));
    /* a hard link to someone else's file */
    assert_false(exe_kill_note_trusted(root, 2, task, root));
    assert_false(exe_kill_note_trusted(root, 0, task, root));
    /* the task runs as the executor: no boundary, any single link */
    assert_true(exe_kill_note_trusted(task, 1, task, task));
    assert_true(exe_kill_note_trusted(root, 1, root, root));
    assert_false(exe_kill_note_trusted(root, 3, root, root));
    /* the task's user unknown: only the executor's own uid */
    assert_true(exe_kill_note_trusted(root, 1, EXE_UID_UNKNOWN, root));
    assert_false(exe_kill_note_trusted(task, 1, EXE_UID_UNKNOWN, root));
}

static void test_prepare_failure(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_PREPARE_FAILED,
                                                    .message = "artifact 'a': md5 mismatch"}),
                        "UPDATE(TASK_FAILED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(last[0].reason, "REASON_CONTAINER_LAUNCH_FAILED");
    assert_string_equal(last[0].message, "artifact 'a': md5 mismatch");
    /* A late PREPARED is ignored. */
    assert_string_equal(step(&sm, EXE_EV_PREPARED), "");

    init(&sm, false);
    assert_string_equal(
        step_ev(&sm, (exe_sm_event){.type = EXE_EV_LAUNCH_INVALID, .message = "bad"}),
        "UPDATE(TASK_ERROR) ARM_ACK_TIMER");
    assert_string_equal(last[0].reason, "REASON_TASK_INVALID");
}

static void test_sentinel(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_LAUNCH, .sentinel = true});
    step(&sm, EXE_EV_PREPARED);
    assert_string_equal(step(&sm, EXE_EV_STARTED), "WATCH_SENTINEL");
    assert_int_equal(sm.phase, EXE_PH_STARTING);
    assert_string_equal(step(&sm, EXE_EV_SENTINEL), "UPDATE(TASK_RUNNING)");
    assert_string_equal(step(&sm, EXE_EV_SENTINEL), "");
}

static void test_kill_with_killing_capability(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_SUBSCRIBED, .task_killing_cap = true});
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    /* The KILL event's grace period wins over the configured one. */
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_KILL, .grace_ms = 1500}),
                        "UPDATE(TASK_KILLING) SIGTERM ARM_KILL_TIMER(1500)");
    assert_string_equal(step(&sm, EXE_EV_KILL), "");
    assert_string_equal(step(&sm, EXE_EV_KILL_TIMER), "SIGKILL");
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGKILL}),
                        "UPDATE(TASK_KILLED) CLEANUP ARM_ACK_TIMER");
    assert_non_null(strstr(last[0].message, "killed by signal 9"));
    assert_string_equal(step(&sm, EXE_EV_TERMINAL_ACKED), "EXIT(0)");
}

static void test_kill_without_capability_uses_config(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step(&sm, EXE_EV_SUBSCRIBED);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    assert_string_equal(step(&sm, EXE_EV_KILL), "SIGTERM ARM_KILL_TIMER(3000)");
    /* Exits within the grace period: KILLED even with status 0. */
    assert_string_equal(
        step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = 0, .exit_ok = true}),
        "UPDATE(TASK_KILLED) CLEANUP ARM_ACK_TIMER");
    /* The timer firing late does nothing. */
    assert_string_equal(step(&sm, EXE_EV_KILL_TIMER), "");
}

static void test_kill_while_preparing_and_before_launch(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    assert_string_equal(step(&sm, EXE_EV_KILL),
                        "ABORT_PREPARE UPDATE(TASK_KILLED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(step(&sm, EXE_EV_PREPARED), "");

    init(&sm, false);
    assert_string_equal(step(&sm, EXE_EV_KILL), "UPDATE(TASK_KILLED) ARM_ACK_TIMER");
    assert_string_equal(step(&sm, EXE_EV_LAUNCH), "");
}

static void test_shutdown(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step(&sm, EXE_EV_SUBSCRIBED);
    assert_string_equal(step(&sm, EXE_EV_SHUTDOWN), "EXIT(0)");

    init(&sm, false);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    /* The shorter of the agent's grace and the task's is used. */
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_SHUTDOWN, .grace_ms = 1000}),
                        "SIGTERM ARM_KILL_TIMER(1000)");
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGTERM});
    assert_string_equal(last[0].state, "TASK_KILLED");
}

static void test_disconnect_with_checkpoint_keeps_task(void **state)
{
    exe_sm sm;

    init(&sm, true);
    step(&sm, EXE_EV_SUBSCRIBED);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    assert_string_equal(step(&sm, EXE_EV_DISCONNECTED), "ARM_RECOVERY_TIMER(60000) RESUBSCRIBE");
    assert_int_equal(sm.phase, EXE_PH_RUNNING);
    /* Another failed attempt retries without re-arming the deadline. */
    assert_string_equal(step(&sm, EXE_EV_DISCONNECTED), "RESUBSCRIBE");
    /* The task ends meanwhile: its update is queued (sent with SUBSCRIBE). */
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .exit_ok = true}),
                        "UPDATE(TASK_FINISHED) CLEANUP ARM_ACK_TIMER");
    assert_string_equal(step(&sm, EXE_EV_SUBSCRIBED), "CANCEL_RECOVERY_TIMER");
    assert_string_equal(step(&sm, EXE_EV_RECOVERY_TIMEOUT), "");
    assert_string_equal(step(&sm, EXE_EV_TERMINAL_ACKED), "EXIT(0)");
}

static void test_recovery_timeout_kills(void **state)
{
    exe_sm sm;

    init(&sm, true);
    step(&sm, EXE_EV_SUBSCRIBED);
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    step(&sm, EXE_EV_DISCONNECTED);
    assert_string_equal(step(&sm, EXE_EV_RECOVERY_TIMEOUT), "SIGTERM ARM_KILL_TIMER(3000)");
    /* Nobody to tell: clean up and leave without an update. */
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGTERM}),
                        "CLEANUP EXIT(1)");
}

static void test_disconnect_without_checkpoint_kills(void **state)
{
    exe_sm sm;

    init(&sm, false);
    step_ev(&sm, (exe_sm_event){.type = EXE_EV_SUBSCRIBED, .task_killing_cap = true});
    step(&sm, EXE_EV_LAUNCH);
    step(&sm, EXE_EV_PREPARED);
    step(&sm, EXE_EV_STARTED);
    /* No TASK_KILLING: the agent is gone. */
    assert_string_equal(step(&sm, EXE_EV_DISCONNECTED), "SIGTERM ARM_KILL_TIMER(3000)");
    assert_string_equal(step(&sm, EXE_EV_KILL_TIMER), "SIGKILL");
    assert_string_equal(step_ev(&sm, (exe_sm_event){.type = EXE_EV_EXITED, .wait_status = SIGKILL}),
                        "CLEANUP EXIT(1)");

    init(&sm, false);
    step(&sm, EXE_EV_SUBSCRIBED);
    assert_string_equal(step(&sm, EXE_EV_DISCONNECTED), "EXIT(1)");
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_happy_path_finished),
    cmocka_unit_test(test_failed_exit_code_and_signal),
    cmocka_unit_test(test_prepare_failure),
    cmocka_unit_test(test_node_agent_kill_is_a_failure_with_its_reason),
    cmocka_unit_test(test_kill_note_trusted),
    cmocka_unit_test(test_sentinel),
    cmocka_unit_test(test_kill_with_killing_capability),
    cmocka_unit_test(test_kill_without_capability_uses_config),
    cmocka_unit_test(test_kill_while_preparing_and_before_launch),
    cmocka_unit_test(test_shutdown),
    cmocka_unit_test(test_disconnect_with_checkpoint_keeps_task),
    cmocka_unit_test(test_recovery_timeout_kills),
    cmocka_unit_test(test_disconnect_without_checkpoint_kills),
};
CR_TEST_MAIN(tests)
