/* Task shell commands (Singularity's SingularityTaskShellCommand* models,
 * reference sheet 4.8): the document under
 * <prefix>/shells/<requestId>/<taskId>/<shellId> (apis/keys.h) and the
 * update an executor sends back. JSON level: the API creates the document,
 * the Mesos bridge sends it to the executor and appends the updates.
 *
 *   {"shellRequest": {"taskId": {...}, "user": "alice", "timestamp": 1764000000000,
 *                     "shellCommand": {"name": "jstack", "options": ["force"],
 *                                      "user": "alice", "logfileName": null}},
 *    "shellUpdates": [{"shellRequestId": {"taskId": {...}, "name": "jstack",
 *                                         "timestamp": 1764000000000},
 *                      "timestamp": ..., "message": "...", "outputFilename": "...",
 *                      "updateType": "ACKED"}, ...],
 *    "sentAt": 1764000000100}          (Corral: when the bridge sent it) */
#ifndef API_SHELL_H
#define API_SHELL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

/* Updates kept per command (the oldest go first). */
#define API_SHELL_MAX_UPDATES 32

/* A command name usable in a key: 1-100 characters of [A-Za-z0-9_.-]. */
bool api_shell_name_valid(const char *name);

/* "<timestamp, 13 digits>-<name>": the key's last component, in time order.
 * Caller frees. */
char *api_shell_id(int64_t timestamp, const char *name);

/* A new document (caller owns); task_id and shell_command are copied. */
json_t *api_shell_doc_new(const json_t *task_id, const char *user, int64_t timestamp,
                          const json_t *shell_command);

/* True for the update types that end a command (INVALID, FINISHED, FAILED). */
bool api_shell_update_final(const char *type);

/* An executor's update (the bytes of its framework message): the task id
 * (the "id" of shellRequestId.taskId, or the string), the command's name
 * and timestamp (caller frees *task_id and *name) and the update object
 * (caller owns). -1 with err when data is not such an update. */
int api_shell_update_parse(const char *data, size_t len, char **task_id, char **name,
                           int64_t *timestamp, json_t **update, cr_err *err);

/* Appends update to doc's shellUpdates (a copy), keeping the last
 * API_SHELL_MAX_UPDATES; an update equal to one already there (a repeated
 * message) is not added again. Returns false when nothing changed. */
bool api_shell_doc_add_update(json_t *doc, const json_t *update);

#endif
