#include "executor/exe_sm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

void exe_sm_init(exe_sm *sm, const exe_sm_config *cfg)
{
    memset(sm, 0, sizeof(*sm));
    sm->cfg = *cfg;
    sm->phase = EXE_PH_IDLE;
}

const char *exe_phase_name(exe_phase p)
{
    static const char *names[] = {"IDLE",    "PREPARING", "STARTING", "RUNNING",
                                  "KILLING", "EXITED",    "DONE"};
    return p <= EXE_PH_DONE ? names[p] : "?";
}

void exe_describe_exit(int st, char *out, size_t size)
{
    if (WIFEXITED(st))
        snprintf(out, size, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, size, "ended with wait status %d", st);
}

bool exe_kill_note_parse(const char *text, size_t len, char *msg, size_t msg_size, bool *memory)
{
    json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    const char *r = json_string_value(json_object_get(j, "reason"));
    bool ok = m && *m && msg_size > 0;

    if (ok) {
        snprintf(msg, msg_size, "%s", m);
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
        *memory = r && strcmp(r, "oom") == 0;
    }
    json_decref(j);
    return ok;
}

bool exe_kill_note_trusted(uid_t st_uid, nlink_t st_nlink, uid_t task_uid, uid_t exe_uid)
{
    if (st_nlink != 1)
        return false;
    if (task_uid == EXE_UID_UNKNOWN)
        return st_uid == exe_uid;
    return task_uid == exe_uid || st_uid != task_uid;
}

typedef struct acts {
    exe_sm_action *a;
    int n;
} acts;

static exe_sm_action *push(acts *x, exe_action_type t)
{
    exe_sm_action *a = &x->a[x->n++];
    memset(a, 0, sizeof(*a));
    a->type = t;
    return a;
}

static void update(acts *x, const char *state, const char *reason, const char *msg)
{
    exe_sm_action *a = push(x, EXE_ACT_UPDATE);
    a->state = state;
    a->reason = reason;
    snprintf(a->message, sizeof(a->message), "%s", msg ? msg : "");
}

/* The terminal update is out: clean up, then wait (bounded) for its ack. */
static void terminal(exe_sm *sm, acts *x, const char *state, const char *reason, const char *msg,
                     bool cleanup)
{
    if (!sm->lost_agent)
        update(x, state, reason, msg);
    if (cleanup)
        push(x, EXE_ACT_CLEANUP);
    if (sm->lost_agent) {
        sm->phase = EXE_PH_DONE;
        push(x, EXE_ACT_EXIT)->exit_code = 1;
        return;
    }
    sm->phase = EXE_PH_EXITED;
    push(x, EXE_ACT_ARM_ACK_TIMER)->ms = sm->cfg.ack_timeout_ms;
}

static void begin_kill(exe_sm *sm, acts *x, int64_t grace_ms, const char *why)
{
    switch (sm->phase) {
    case EXE_PH_IDLE:
        if (sm->shutdown || sm->lost_agent) {
            sm->phase = EXE_PH_DONE;
            push(x, EXE_ACT_EXIT)->exit_code = sm->lost_agent ? 1 : 0;
        } else {
            terminal(sm, x, "TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH", why, false);
        }
        break;
    case EXE_PH_PREPARING:
        push(x, EXE_ACT_ABORT_PREPARE);
        terminal(sm, x, "TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH", why, true);
        break;
    case EXE_PH_STARTING:
    case EXE_PH_RUNNING:
        if (sm->task_killing_cap && !sm->lost_agent)
            update(x, "TASK_KILLING", NULL, why);
        push(x, EXE_ACT_SIGTERM);
        push(x, EXE_ACT_ARM_KILL_TIMER)->ms = grace_ms < 0 ? 0 : grace_ms;
        sm->phase = EXE_PH_KILLING;
        break;
    case EXE_PH_KILLING:
    case EXE_PH_EXITED:
    case EXE_PH_DONE:
        break;
    }
}

int exe_sm_step(exe_sm *sm, const exe_sm_event *ev, exe_sm_action *out)
{
    acts x = {out, 0};
    char msg[256];

    switch (ev->type) {
    case EXE_EV_SUBSCRIBED:
        sm->connected = true;
        sm->task_killing_cap = ev->task_killing_cap;
        if (sm->recovery_armed) {
            sm->recovery_armed = false;
            push(&x, EXE_ACT_CANCEL_RECOVERY_TIMER);
        }
        break;
    case EXE_EV_LAUNCH:
        if (sm->phase != EXE_PH_IDLE || sm->kill_requested)
            break;
        sm->has_sentinel = ev->sentinel;
        sm->phase = EXE_PH_PREPARING;
        update(&x, "TASK_STARTING", NULL, "preparing the sandbox");
        push(&x, EXE_ACT_PREPARE);
        break;
    case EXE_EV_LAUNCH_INVALID:
        if (sm->phase != EXE_PH_IDLE)
            break;
        terminal(sm, &x, "TASK_ERROR", "REASON_TASK_INVALID", ev->message, false);
        break;
    case EXE_EV_PREPARED:
        if (sm->phase != EXE_PH_PREPARING)
            break;
        push(&x, EXE_ACT_START);
        break;
    case EXE_EV_PREPARE_FAILED:
    case EXE_EV_START_FAILED:
        if (sm->phase != EXE_PH_PREPARING)
            break;
        terminal(sm, &x, "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", ev->message, true);
        break;
    case EXE_EV_STARTED:
        if (sm->phase != EXE_PH_PREPARING)
            break;
        if (sm->has_sentinel) {
            sm->phase = EXE_PH_STARTING;
            push(&x, EXE_ACT_WATCH_SENTINEL);
        } else {
            sm->phase = EXE_PH_RUNNING;
            update(&x, "TASK_RUNNING", NULL, ev->message);
        }
        break;
    case EXE_EV_SENTINEL:
        if (sm->phase != EXE_PH_STARTING)
            break;
        sm->phase = EXE_PH_RUNNING;
        update(&x, "TASK_RUNNING", NULL, "running sentinel appeared");
        break;
    case EXE_EV_EXITED:
        exe_describe_exit(ev->wait_status, msg, sizeof(msg));
        if (sm->phase == EXE_PH_KILLING) {
            char m2[300];
            snprintf(m2, sizeof(m2), "killed: process %s", msg);
            terminal(sm, &x, "TASK_KILLED", NULL, m2, true);
        } else if ((sm->phase == EXE_PH_STARTING || sm->phase == EXE_PH_RUNNING) && ev->killed_by &&
                   *ev->killed_by) {
            /* the node agent's kill: a failure with its reason (Mesos'
             * reason for a memory limit), whatever the process made of
             * its SIGTERM */
            char m2[512];
            snprintf(m2, sizeof(m2), "%.200s (process %s)", ev->killed_by, msg);
            terminal(sm, &x, "TASK_FAILED",
                     ev->killed_for_memory ? "REASON_CONTAINER_LIMITATION_MEMORY"
                                           : "REASON_CONTAINER_LIMITATION",
                     m2, true);
        } else if (sm->phase == EXE_PH_STARTING || sm->phase == EXE_PH_RUNNING) {
            char m2[300];
            snprintf(m2, sizeof(m2), "process %s", msg);
            if (ev->exit_ok)
                terminal(sm, &x, "TASK_FINISHED", NULL, m2, true);
            else
                terminal(sm, &x, "TASK_FAILED", NULL, m2, true);
        }
        break;
    case EXE_EV_KILL:
        sm->kill_requested = true;
        begin_kill(sm, &x, ev->grace_ms >= 0 ? ev->grace_ms : sm->cfg.kill_grace_ms,
                   "killed by the framework");
        break;
    case EXE_EV_SHUTDOWN: {
        int64_t g = sm->cfg.kill_grace_ms;
        if (ev->grace_ms >= 0 && ev->grace_ms < g)
            g = ev->grace_ms;
        sm->kill_requested = true;
        sm->shutdown = true;
        begin_kill(sm, &x, g, "executor shut down by the agent");
        break;
    }
    case EXE_EV_KILL_TIMER:
        if (sm->phase == EXE_PH_KILLING)
            push(&x, EXE_ACT_SIGKILL);
        break;
    case EXE_EV_TERMINAL_ACKED:
    case EXE_EV_ACK_TIMEOUT:
        if (sm->phase != EXE_PH_EXITED)
            break;
        sm->phase = EXE_PH_DONE;
        push(&x, EXE_ACT_EXIT)->exit_code = ev->type == EXE_EV_TERMINAL_ACKED ? 0 : 1;
        break;
    case EXE_EV_DISCONNECTED:
        sm->connected = false;
        if (sm->phase == EXE_PH_DONE)
            break;
        if (sm->cfg.checkpoint) {
            if (!sm->recovery_armed) {
                sm->recovery_armed = true;
                push(&x, EXE_ACT_ARM_RECOVERY_TIMER)->ms = sm->cfg.recovery_timeout_ms;
            }
            push(&x, EXE_ACT_RESUBSCRIBE);
            break;
        }
        /* Without checkpointing the agent will not take us back. */
        /* fall through */
    case EXE_EV_RECOVERY_TIMEOUT:
        if (ev->type == EXE_EV_RECOVERY_TIMEOUT && (sm->connected || !sm->recovery_armed))
            break;
        sm->lost_agent = true;
        if (sm->phase == EXE_PH_EXITED) {
            sm->phase = EXE_PH_DONE;
            push(&x, EXE_ACT_EXIT)->exit_code = 1;
        } else {
            begin_kill(sm, &x, sm->cfg.kill_grace_ms, "lost the agent");
            if (sm->phase == EXE_PH_IDLE) {
                sm->phase = EXE_PH_DONE;
                push(&x, EXE_ACT_EXIT)->exit_code = 1;
            }
        }
        break;
    }
    return x.n;
}
