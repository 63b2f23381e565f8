/* exe_data: the task as corral-executor sees it, parsed at the edge.
 *
 * A LAUNCH event carries a Mesos TaskInfo whose `data` (base64) holds the
 * deploy's executorData (Singularity's ExecutorData JSON, plus the Corral
 * fields documented in docs/executor.md). exe_task_parse() turns the TaskInfo
 * JSON into an exe_task; nothing else in the executor reads raw JSON of the
 * task. Errors name the field path ("executorData.s3Artifacts[0].s3Bucket").
 *
 * Ownership: an exe_task owns every string and array in it; release it with
 * exe_task_free(). */
#ifndef EXE_DATA_H
#define EXE_DATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum { EXE_ART_EMBEDDED, EXE_ART_EXTERNAL, EXE_ART_S3 } exe_art_kind;

typedef struct exe_artifact {
    exe_art_kind kind;
    char *name;             /* label used in messages */
    char *filename;         /* file name inside the target folder (no '/') */
    char *target_folder;    /* relative to the task dir; NULL = the task dir */
    char *md5sum;           /* lower-case hex, or NULL (no check) */
    int64_t filesize;       /* expected size, or -1 */
    unsigned char *content; /* EMBEDDED: decoded bytes */
    size_t content_len;
    char *url;       /* EXTERNAL */
    char *s3_bucket; /* S3 */
    char *s3_key;    /* S3 */
    int extract;     /* -1 = by file name (.tar.gz/.tgz/.tar/.zip), 0 = never, 1 = always */
} exe_artifact;

typedef struct exe_env_var {
    char *name;
    char *value;
} exe_env_var;

typedef struct exe_data {
    char *cmd;         /* required */
    char **extra_args; /* appended to cmd, shell-quoted */
    size_t n_extra_args;
    exe_artifact *artifacts;
    size_t n_artifacts;
    int *ok_exit_codes; /* successfulExitCodes, default {0} */
    size_t n_ok_exit_codes;
    char *user;               /* run as this user when the executor is root */
    int64_t sigkill_after_ms; /* -1 = not set (kill policy or default applies) */
    int64_t max_open_files;   /* -1 = not set */
    bool preserve_sandbox;    /* preserveTaskSandboxAfterFinish */
    char *running_sentinel;   /* relative to the task dir; NULL = running at start */
    bool skip_logrotate;      /* skipLogrotateAndCompress */
    /* Corral fields */
    char *service_log;     /* serviceLog, default "service.log" */
    char *stderr_log;      /* stderrLog: separate stderr file; NULL = merged */
    int64_t log_max_bytes; /* logMaxBytes, default 100 MiB */
    int log_keep;          /* logKeep, default 20 rotated files */
    char **removable;      /* removeOnFinish: paths relative to the sandbox */
    size_t n_removable;
    exe_env_var *env; /* env: executor-level additions (after the deploy's) */
    size_t n_env;
} exe_data;

typedef struct exe_task {
    char *task_id;
    char *name;
    char *agent_id;
    char *executor_id;
    int64_t kill_grace_ms; /* TaskInfo.kill_policy.grace_period, or -1 */
    int *ports;            /* ports from the task's "ports" resources, in order */
    size_t n_ports;
    exe_env_var *env; /* executor.command.environment (the deploy's env) */
    size_t n_env;
    exe_data data;
} exe_task;

/* Parses executorData JSON into *out (zeroed first). On error returns -1,
 * fills err with the field path, and leaves *out released. */
int exe_data_parse(const json_t *j, exe_data *out, cr_err *err);
void exe_data_release(exe_data *d);

/* Parses a TaskInfo (v1 JSON). `data` must decode (base64) to executorData
 * JSON. Returns a new task the caller frees with exe_task_free(), or NULL
 * with err set. */
exe_task *exe_task_parse(const json_t *taskinfo, cr_err *err);
void exe_task_free(exe_task *t);

/* True when the artifact should be extracted after download. */
bool exe_artifact_wants_extract(const exe_artifact *a);

/* True when code is one of the data's successful exit codes. */
bool exe_data_exit_ok(const exe_data *d, int code);

/* Parses a stout duration ("5secs", "1.5mins", "100ms"); returns ms or -1. */
int64_t exe_parse_duration_ms(const char *s);

/* Decodes standard base64 (with padding; whitespace ignored). Returns a
 * malloc'd buffer (caller frees) and its length, or NULL if invalid. */
unsigned char *exe_base64_decode(const char *s, size_t *len);
/* Encodes bytes as standard base64; caller frees. */
char *exe_base64_encode(const unsigned char *p, size_t len);

#endif
