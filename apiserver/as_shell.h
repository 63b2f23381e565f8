/* as_shell: task shell commands (Singularity's, reference sheet 4.8;
 * docs/api.md "Shell commands"), a part of as_api_handle (pure like it:
 * reads the cache, answers, leaves the write in out->txn).
 *
 *   POST /api/tasks/task/{taskId}/command        SingularityShellCommand
 *        {name, options?, user?, logfileName?} -> SingularityTaskShellCommandRequest;
 *        400 unless the name is on corrald's allow-list (--shell-commands)
 *        with those options, the task active and run by a custom executor
 *   GET  /api/tasks/task/{taskId}/command        [SingularityTaskShellCommandHistory], newest first
 *   GET  /api/tasks/task/{taskId}/command/{commandName}/{commandTimestamp}
 *                                                [SingularityTaskShellCommandUpdate]
 *   GET  /api/tasks/commands/queued              [SingularityTaskShellCommandRequest] not sent yet
 *
 * The document (apis/shell.h) goes under shells/<requestId>/<taskId>/; the
 * Mesos bridge sends it to the executor and records the updates. */
#ifndef AS_SHELL_H
#define AS_SHELL_H

#include <stdbool.h>

#include "apiserver/as_api.h"

/* Shell commands one task may run (their documents live as long as the
 * task's record or history record: bounded like them). */
#define AS_SHELL_MAX_PER_TASK 100

/* Reads corrald's allow-list: a JSON file holding Singularity's
 * ui.shellCommands, [{name, description?, options?: [{name,
 * description?}]}]. Returns it (caller owns) or NULL with err naming the
 * file and the entry. Names must be api_shell_name_valid. */
json_t *as_shell_commands_load(const char *path, cr_err *err);

/* SingularityTaskShellCommandHistory of the task record `task` (a tree),
 * newest first: a new array the caller owns. */
json_t *as_shell_task_history(const as_api_config *cfg, const as_cache *cache, const json_t *task);

/* Whether op is one of the operations above. */
bool as_shell_op(as_op op);

/* Runs one of them; fills out (memset by the caller, released by it). */
void as_shell_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *out);

#endif
