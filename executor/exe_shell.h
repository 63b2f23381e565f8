/* exe_shell: task shell commands (Singularity's "shell commands", reference
 * sheet 4.8), the executor's side. Pure: parsing, the command line and the
 * update messages; exe_executor runs the process.
 *
 * The framework sends a Mesos framework message (scheduler MESSAGE call,
 * relayed by the agent as an executor MESSAGE event) whose data is a
 * SingularityTaskShellCommandRequest:
 *     {"taskId": {...} | "id", "user": "alice", "timestamp": 1764000000000,
 *      "shellCommand": {"name": "jstack", "options": ["-F"], "user": "alice",
 *                       "logfileName": null}}
 * The executor answers with executor MESSAGE calls, each a
 * SingularityTaskShellCommandUpdate:
 *     {"shellRequestId": {"taskId": <as received>, "name": "jstack",
 *                         "timestamp": 1764000000000},
 *      "timestamp": <now>, "message": "...", "outputFilename": "...",
 *      "updateType": "INVALID" | "ACKED" | "STARTED" | "FINISHED" | "FAILED"}
 *
 * Which commands exist is the executor's configuration (as Singularity's
 * executor `shellCommands`): `{name, command: [argv...], options: [{name,
 * flag}]}`; in command, "{PID}" becomes the task's process id and "{USER}"
 * the task's user (executorData.user, else the executor's). A requested
 * option adds its flag at the end. Output (stdout and stderr) goes to
 * `<sandbox>/<shellCommandOutFile>` with {NAME} (logfileName, else the name
 * with whitespace and '/' as '-', lower case) and {TIMESTAMP} filled in;
 * default "executor.commands.{NAME}.{TIMESTAMP}.log". */
#ifndef EXE_SHELL_H
#define EXE_SHELL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct exe_shell_option {
    char *name;
    char *flag;
} exe_shell_option;

typedef struct exe_shell_def {
    char *name;
    char **argv; /* NULL-terminated */
    size_t n_options;
    exe_shell_option *options;
} exe_shell_def;

typedef struct exe_shell_conf {
    size_t n;
    exe_shell_def *defs;
    char *out_file; /* template; NULL: the default */
} exe_shell_conf;

#define EXE_SHELL_OUT_FILE "executor.commands.{NAME}.{TIMESTAMP}.log"

/* Reads `shellCommands` and `shellCommandOutFile` from the executor's JSON
 * config object (absent: no commands). -1 with err naming the field. */
int exe_shell_conf_parse(exe_shell_conf *c, const json_t *config, cr_err *err);
void exe_shell_conf_release(exe_shell_conf *c);

typedef struct exe_shell_req {
    json_t *task_id; /* owned: as received (object or string) */
    char *name;
    char **options; /* NULL-terminated */
    char *user;
    char *logfile_name;
    int64_t timestamp;
} exe_shell_req;

/* Decodes a framework message's (already base64-decoded) bytes. -1 with err
 * when it is not a shell command request. Release with exe_shell_req_release. */
int exe_shell_req_parse(exe_shell_req *r, const char *data, size_t len, cr_err *err);
void exe_shell_req_release(exe_shell_req *r);

/* The argv to run (NULL-terminated, caller frees with exe_shell_argv_free)
 * and the output file name relative to the sandbox (*out_file, caller
 * frees). NULL with err (the INVALID update's message) for an unknown
 * command, or "{PID}" while the task has no process (pid <= 0). */
char **exe_shell_build(const exe_shell_conf *c, const exe_shell_req *r, int pid, const char *user,
                       char **out_file, cr_err *err);
void exe_shell_argv_free(char **argv);

/* The update's JSON text (caller frees). message and out_file may be NULL. */
char *exe_shell_update(const exe_shell_req *r, const char *type, const char *message,
                       const char *out_file, int64_t now_ms);

#endif
