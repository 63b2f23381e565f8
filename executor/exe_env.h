/* exe_env: the task's environment and its runner script (pure).
 *
 * Order, later wins (Singularity's precedence): task variables derived from
 * the task (TASK_ID, TASK_REQUEST_ID, TASK_DEPLOY_ID, INSTANCE_NO, TASK_HOST,
 * TASK_RACK_ID, AVAILABILITY_ZONE, TASK_STARTED_AT, PORT, PORT0..N), then the
 * deploy's env as the framework put it in ExecutorInfo.command.environment,
 * then executorData.env; STARTED_BY_USER is set last when the framework gave
 * it, so a deploy cannot override it. `${NAME}` placeholders of task
 * variables in values are expanded. */
#ifndef EXE_ENV_H
#define EXE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "executor/exe_data.h"

/* Parts of a Singularity task id "{requestId}-{deployId}-{startedAt}-
 * {instanceNo}-{host}-{rack}", parsed from the right (requestId may hold
 * '-'). Strings point into buf. */
typedef struct exe_taskid {
    char buf[512];
    const char *request_id, *deploy_id, *started_at, *instance_no, *host, *rack;
} exe_taskid;

/* Returns 0 if id has the Singularity shape, else -1 (out untouched). */
int exe_taskid_parse(const char *id, exe_taskid *out);

typedef struct exe_env_ctx {
    const exe_task *task; /* borrowed */
    const char *host;     /* agent hostname (SUBSCRIBED agent_info), may be NULL */
    const char *rack;     /* rack id (agent attribute), may be NULL */
    int64_t started_at_ms;
} exe_env_ctx;

/* Builds the environment. Returns an array of *n variables that the caller
 * releases with exe_env_free(). Names are unique. */
exe_env_var *exe_env_build(const exe_env_ctx *ctx, size_t *n);
void exe_env_free(exe_env_var *env, size_t n);

/* Value of name in env, or NULL (borrowed). */
const char *exe_env_get(const exe_env_var *env, size_t n, const char *name);

/* Single-quotes s for /bin/sh ('it'\''s'); caller frees. */
char *exe_sh_quote(const char *s);

/* Renders the runner script: exports env, cds into workdir, applies
 * maxOpenFiles, switches to data->user when run as root, then execs the
 * command (cmd plus quoted extraCmdLineArgs) through /bin/sh -c. Caller
 * frees the returned text. */
char *exe_runner_script(const exe_data *data, const exe_env_var *env, size_t n,
                        const char *workdir);

#endif
