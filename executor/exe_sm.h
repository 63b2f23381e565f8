/* exe_sm: the executor's task lifecycle as a pure state machine.
 *
 * The I/O shell (exe_executor.c) turns what happens (agent events, process
 * exits, timers, connection loss) into exe_sm_event values and performs the
 * actions exe_sm_step() returns, in order. No I/O, no clock: unit tests feed
 * event sequences and compare actions.
 *
 * Phases: IDLE (no task yet) -> PREPARING (TASK_STARTING sent; fetching
 * artifacts) -> STARTING (process started, waiting for runningSentinel) ->
 * RUNNING -> KILLING (SIGTERM sent) -> EXITED (terminal update sent, waiting
 * for the agent's ACKNOWLEDGED) -> DONE (exit). */
#ifndef EXE_SM_H
#define EXE_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    EXE_PH_IDLE,
    EXE_PH_PREPARING,
    EXE_PH_STARTING,
    EXE_PH_RUNNING,
    EXE_PH_KILLING,
    EXE_PH_EXITED,
    EXE_PH_DONE
} exe_phase;

typedef enum {
    EXE_EV_SUBSCRIBED,      /* task_killing_cap */
    EXE_EV_LAUNCH,          /* a valid task; sentinel says a runningSentinel is set */
    EXE_EV_LAUNCH_INVALID,  /* message */
    EXE_EV_PREPARED,        /* sandbox ready */
    EXE_EV_PREPARE_FAILED,  /* message names the artifact */
    EXE_EV_STARTED,         /* process running */
    EXE_EV_START_FAILED,    /* message */
    EXE_EV_SENTINEL,        /* runningSentinel appeared */
    EXE_EV_EXITED,          /* wait_status, exit_ok */
    EXE_EV_KILL,            /* grace_ms (-1: none in the event) */
    EXE_EV_SHUTDOWN,        /* grace_ms: what the agent allows */
    EXE_EV_KILL_TIMER,      /* the SIGTERM grace period passed */
    EXE_EV_TERMINAL_ACKED,  /* the agent acknowledged the terminal update */
    EXE_EV_ACK_TIMEOUT,     /* waited long enough for that ack */
    EXE_EV_DISCONNECTED,    /* subscription stream broke */
    EXE_EV_RECOVERY_TIMEOUT /* MESOS_RECOVERY_TIMEOUT passed while disconnected */
} exe_event_type;

typedef struct exe_sm_event {
    exe_event_type type;
    bool task_killing_cap;
    bool sentinel;
    int64_t grace_ms;
    int wait_status; /* as from waitpid() */
    bool exit_ok;
    const char *message;
    /* EXITED: the node agent killed the task (exe_kill_note_parse): its
     * reason ends the task TASK_FAILED whatever the exit, with this message
     * first, as after the kernel's OOM kill. NULL or "": no note. */
    const char *killed_by;
    bool killed_for_memory;
} exe_sm_event;

typedef enum {
    EXE_ACT_UPDATE,             /* state, reason (may be NULL), message */
    EXE_ACT_PREPARE,            /* start preparing the sandbox */
    EXE_ACT_ABORT_PREPARE,      /* stop downloads/extraction in flight */
    EXE_ACT_START,              /* start the task process */
    EXE_ACT_WATCH_SENTINEL,     /* poll for the runningSentinel file */
    EXE_ACT_SIGTERM,            /* to the task's process group */
    EXE_ACT_SIGKILL,            /* to the task's process group */
    EXE_ACT_ARM_KILL_TIMER,     /* ms */
    EXE_ACT_CLEANUP,            /* finish logs, write the task record, remove files */
    EXE_ACT_ARM_ACK_TIMER,      /* ms: bound on waiting for the terminal ack */
    EXE_ACT_RESUBSCRIBE,        /* reconnect with backoff, re-sending unacked updates */
    EXE_ACT_ARM_RECOVERY_TIMER, /* ms */
    EXE_ACT_CANCEL_RECOVERY_TIMER,
    EXE_ACT_EXIT /* exit_code */
} exe_action_type;

typedef struct exe_sm_action {
    exe_action_type type;
    const char *state;  /* "TASK_RUNNING", ... (static) */
    const char *reason; /* "REASON_..." or NULL (static) */
    char message[512];
    int64_t ms;
    int exit_code;
} exe_sm_action;

#define EXE_SM_MAX_ACTIONS 8

typedef struct exe_sm_config {
    bool checkpoint;       /* MESOS_CHECKPOINT=1 */
    int64_t kill_grace_ms; /* sigKillProcessesAfterMillis or the task's kill policy */
    int64_t recovery_timeout_ms;
    int64_t ack_timeout_ms; /* how long to wait for the terminal ack */
} exe_sm_config;

typedef struct exe_sm {
    exe_sm_config cfg;
    exe_phase phase;
    bool connected;
    bool task_killing_cap;
    bool has_sentinel;
    bool kill_requested; /* by KILL or SHUTDOWN */
    bool shutdown;
    bool recovery_armed;
    bool lost_agent; /* gave up on the agent: exit without updates */
} exe_sm;

void exe_sm_init(exe_sm *sm, const exe_sm_config *cfg);

/* Applies ev; writes up to EXE_SM_MAX_ACTIONS actions to out and returns
 * how many. Events that do not apply in the current phase return 0. */
int exe_sm_step(exe_sm *sm, const exe_sm_event *ev, exe_sm_action *out);

const char *exe_phase_name(exe_phase p);

/* The node agent's note on a task it killed: the sandbox file
 * EXE_KILL_NOTE, {"reason": "oom", "message": "killed by the node agent:
 * memory ...", "at": ms}, written before its SIGTERM (docs/nodeagent.md,
 * "OOM killer"). Parses text[0..len): true with the message (at most
 * msg_size - 1 bytes, control characters made spaces) in msg and whether
 * the reason is memory in *memory; false when it is not such a note. */
#define EXE_KILL_NOTE "corral-killed-by.json"
bool exe_kill_note_parse(const char *text, size_t len, char *msg, size_t msg_size, bool *memory);

/* Whether a kill note file (its owner st_uid and link count st_nlink) can
 * be the node agent's rather than the task's own: the sandbox is writable
 * by the task, which could otherwise write a note and exit 0 to be
 * reported failed for memory with a message of its choosing. Trusted: a
 * single link (not a hard link to some other file) not owned by the
 * task's user task_uid. When the task runs as the executor's own
 * effective uid exe_uid there is no privilege boundary between them (the
 * task could do anything the executor does): any single-link note is
 * trusted. task_uid EXE_UID_UNKNOWN (the user could not be resolved):
 * only a note owned by exe_uid. */
#define EXE_UID_UNKNOWN ((uid_t)-1)
bool exe_kill_note_trusted(uid_t st_uid, nlink_t st_nlink, uid_t task_uid, uid_t exe_uid);

/* "exited with status 3" / "killed by signal 9 (Killed)" into out. */
void exe_describe_exit(int wait_status, char *out, size_t size);

#endif
