/* na_files: the node agent's view of a Mesos agent's disk: which sandboxes
 * exist, which task each one ran, which log files it holds, and opening a
 * file inside a sandbox without ever following a symbolic link.
 *
 * Layout (Mesos' and mesoslite's, docs/mesoslite.md):
 *   <work_dir>/slaves/<agentId>/frameworks/<fw>/executors/<execId>/runs/<containerId>
 * with a runs/latest link, which the scan skips (it names a run it lists).
 * A sandbox's task id is, first found: corral-task.json's "taskId" (the
 * executor's final record), a logs/<log>.rotated.json "taskId", else the
 * executor id (Corral launches each task with its own executor id equal to
 * the task id, and command tasks have executor id = task id). */
#ifndef NA_FILES_H
#define NA_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Checks a sandbox-relative path from a client: non-empty, relative, no
 * "..", no backslash or control characters, at most 4095 bytes and 255 a
 * component. NULL when fine, else a message (static). */
const char *na_path_check(const char *rel);

/* Opens root/rel with flags (O_RDONLY, ...; O_NOFOLLOW and O_CLOEXEC are
 * added) walking one component at a time from root with O_NOFOLLOW: a
 * symbolic link anywhere below root fails (ELOOP). root itself is trusted.
 * Returns the descriptor or -1 with errno set. */
int na_open_in(const char *root, const char *rel, int flags);

/* One sandbox (one executor run). Strings owned. */
typedef struct na_sandbox {
    char *dir; /* absolute path of the run directory */
    char *agent_id, *framework_id, *executor_id, *run;
    char *task_id;    /* see above */
    bool has_record;  /* corral-task.json exists: the executor finished */
    char *state;      /* its "state" ("TASK_FINISHED"), or NULL */
    int64_t mtime_ms; /* the run directory's mtime */
} na_sandbox;

typedef struct na_sandboxes {
    na_sandbox *v;
    size_t n;
} na_sandboxes;

/* Lists every run directory under work_dir (sorted by dir). A missing
 * work_dir is an empty list. Fills *out (caller releases). */
void na_scan(const char *work_dir, na_sandboxes *out);
void na_sandboxes_release(na_sandboxes *s);
void na_sandbox_release(na_sandbox *s);
void na_sandbox_copy(na_sandbox *dst, const na_sandbox *src);

/* The sandbox of task_id in s (the newest run if several), or NULL. */
const na_sandbox *na_sandboxes_find(const na_sandboxes *s, const char *task_id);

/* A log file of a sandbox worth serving and uploading. */
typedef struct na_logfile {
    char *rel;  /* sandbox-relative: "stdout", "service.log", "logs/service.log.3" */
    char *name; /* the name it has in S3: "service.log.3" (rel's last component) */
    int64_t size;
    int64_t mtime_ms;
    bool rotated; /* a rotated file (final) */
    int seq;      /* rotated: its sequence number; else 0 */
} na_logfile;

typedef struct na_logfiles {
    na_logfile *v;
    size_t n;
} na_logfiles;

/* The log files of the sandbox at dir: stdout, stderr, the executor's logs
 * (names from logs/<log>.rotated.json, and service.log) and the rotated
 * files that metadata lists and that still exist. Regular files only
 * (links are skipped). Sorted by rel. */
void na_list_logs(const char *dir, na_logfiles *out);
void na_logfiles_release(na_logfiles *l);

/* Whether the executor marked every log of the sandbox final
 * (logs/<log>.rotated.json "finished": true for each one it lists). false
 * when there is no metadata. */
bool na_logs_finished(const char *dir);

/* Removes a directory tree without following links (files and links are
 * unlinked, directories emptied then removed). Returns 0 or -1 with err. */
int na_remove_tree(const char *path, cr_err *err);

#endif
