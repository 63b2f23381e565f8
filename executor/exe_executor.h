/* exe_executor: corral-executor's I/O shell. One libevent loop drives the
 * SUBSCRIBE stream and calls to the agent (base/httpc), artifact downloads,
 * the task process (pipes into exe_log), timers and child processes; every
 * decision is made by exe_sm.
 *
 * Lifecycle: exe_config_from_env() -> exe_executor_new() -> event loop runs
 * until the executor is done (it calls event_base_loopexit) ->
 * exe_executor_exit_code() -> exe_executor_free(). */
#ifndef EXE_EXECUTOR_H
#define EXE_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/log.h"
#include "executor/exe_s3.h"
#include "executor/exe_shell.h"

struct event_base;

typedef struct exe_config {
    char *agent_url; /* "http://10.0.0.4:5051/api/v1/executor" */
    char *framework_id;
    char *executor_id;
    char *sandbox;    /* MESOS_DIRECTORY */
    char *auth_token; /* MESOS_EXECUTOR_AUTHENTICATION_TOKEN, or NULL */
    bool checkpoint;
    int64_t recovery_timeout_ms; /* MESOS_RECOVERY_TIMEOUT, default 15 min */
    int64_t backoff_max_ms;      /* MESOS_SUBSCRIPTION_BACKOFF_MAX, default 2 s */
    int64_t shutdown_grace_ms;   /* MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, default 5 s */
    int64_t default_kill_ms;     /* hard-kill default, 3 min */
    int64_t download_timeout_ms; /* per artifact, default 10 min */
    int64_t ack_timeout_ms;      /* terminal-ack wait, default 60 s */
    int64_t register_timeout_ms; /* first subscription retries, default 60 s */
    char *cache_dir;             /* artifact cache (per agent), NULL = none */
    char *task_record_dir;       /* also write <taskId>.task.json here, NULL = sandbox only */
    char *rack_attr;             /* agent attribute holding the rack id, default "rackid" */
    /* S3: strings owned by the config (the exe_s3_cfg points into them). */
    char *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key, *s3_session_token;
    bool s3_path_style;
    exe_shell_conf shell; /* shellCommands, shellCommandOutFile (config file) */
} exe_config;

/* Reads the agent's environment (reference 4.3) and the executor's own
 * settings: an optional JSON config file (path in CORRAL_EXECUTOR_CONFIG,
 * else /etc/corral/executor.json when present) and CORRAL_S3_* / AWS_*
 * variables (environment wins over the file). Returns 0, or -1 with err
 * naming what is missing. Release with exe_config_release(). */
int exe_config_from_env(exe_config *c, cr_err *err);
void exe_config_release(exe_config *c);

/* The node agent's kill note in sandbox (exe_sm.h: EXE_KILL_NOTE), read
 * without following a link, at most 4 KiB, and only when
 * exe_kill_note_trusted(its owner, its link count, task_uid, exe_uid):
 * true with its message in msg (exe_kill_note_parse) and whether it was
 * for memory in *memory. A note it does not trust is logged to log (may be
 * NULL) and ignored: false. */
bool exe_kill_note_read(const char *sandbox, uid_t task_uid, uid_t exe_uid, const cr_log *log,
                        char *msg, size_t size, bool *memory);

typedef struct exe_executor exe_executor;

/* Starts subscribing on base. cfg is copied where needed (borrowed strings
 * must outlive the executor), log is borrowed. NULL with err on failure. */
exe_executor *exe_executor_new(struct event_base *base, const exe_config *cfg, const cr_log *log,
                               cr_err *err);

/* Behaves as on a SHUTDOWN event (the executor got SIGTERM/SIGINT). */
void exe_executor_shutdown(exe_executor *e);

/* The process exit code once the loop has exited (0: terminal update
 * acknowledged or clean shutdown). */
int exe_executor_exit_code(const exe_executor *e);

/* Kills a still-running task group, frees everything. NULL is a no-op. */
void exe_executor_free(exe_executor *e);

#endif
