/* exe_log: a task log file the executor writes itself (the task's stdout
 * and stderr arrive through pipes), rotated by size with rename-and-reopen.
 *
 * Lines are never split across files and never lost or duplicated: data is
 * written up to its last newline; a trailing partial line waits in memory
 * (up to 64 KiB) for its newline or for exe_log_flush() (the executor
 * flushes what waited half a second, so a prompt shows without its
 * newline; the rest of that line then goes into the same file). Before a line that
 * would push the file past max_bytes, the file is renamed to
 * <sandbox>/logs/<name>.<seq> (seq counts up from 1 and is never reused) and
 * a fresh <sandbox>/<name> is opened. At most `keep` rotated files are kept
 * (oldest removed first). The rotated files are listed in
 * <sandbox>/logs/<name>.rotated.json, rewritten atomically after each
 * rotation, for the node agent's uploader:
 *   {"log": "service.log", "taskId": "...", "finished": false,
 *    "rotated": [{"file": "logs/service.log.1", "seq": 1, "bytes": 1048576,
 *                 "rotatedAt": 1764000000000}]}
 * Lifecycle: exe_log_open -> exe_log_write* -> exe_log_finish -> exe_log_free. */
#ifndef EXE_LOG_H
#define EXE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct exe_log exe_log;

/* Opens (appending) sandbox/name. task_id is recorded in the metadata.
 * Returns NULL with err set on failure. */
exe_log *exe_log_open(const char *sandbox, const char *name, const char *task_id, int64_t max_bytes,
                      int keep, cr_err *err);

/* Appends n bytes; now_ms stamps rotations. Returns 0 or -1 (err set). */
int exe_log_write(exe_log *l, const void *p, size_t n, int64_t now_ms, cr_err *err);

/* Writes a pending partial line as is. */
int exe_log_flush(exe_log *l, int64_t now_ms, cr_err *err);

/* Whether a partial line waits in memory. */
bool exe_log_has_partial(const exe_log *l);

/* Flushes and marks the metadata finished. */
int exe_log_finish(exe_log *l, int64_t now_ms, cr_err *err);

/* Number of rotations done so far. */
int exe_log_rotations(const exe_log *l);

void exe_log_free(exe_log *l);

#endif
