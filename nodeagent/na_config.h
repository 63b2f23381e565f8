/* na_config: corral-nodeagent's settings, from a config file and the
 * command line (flags win). Pure: parsing only, unit tested.
 *
 * The file has corrald's format (apiserver/as_config.h): one setting per
 * line, named like the long flags without the dashes, `name: value` or
 * `name = value`, `#` comments, quotes removed:
 *
 *     listen: 0.0.0.0:7100
 *     work-dir: /var/lib/mesos
 *     corrald: https://corral.internal:7099
 *     token-file: /etc/corral/nodeagent.token
 *     s3-bucket: my-logs
 *
 * Errors name the place: "nodeagent.conf:3: unknown setting 'lisen'".
 * S3 credentials are not settings: they come from the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), as for
 * corral-executor. Durations are milliseconds unless the name says seconds. */
#ifndef NA_CONFIG_H
#define NA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct na_config {
    char *listen;          /* "127.0.0.1:7100" */
    char *work_dir;        /* comma-separated Mesos agent work dirs (required) */
    char *corrald;         /* corrald's URL; NULL: no upload records, no task lookups */
    char *token_file;      /* bearer token for corrald (first word of the file) */
    char *ca_file;         /* CA bundle to verify corrald's certificate */
    char *log_level;       /* "info" */
    char *log_format;      /* "text", "logfmt" or "json" */
    long scan_interval_ms; /* sandbox scan (2000) */
    long poll_interval_ms; /* follow streams re-read their file (100) */
    /* S3 log archiving (off without s3-bucket). */
    char *s3_bucket;
    char *s3_prefix;             /* "" */
    char *s3_key_pattern;        /* "%prefix/%requestId/%taskId/%file" */
    char *s3_endpoint;           /* "https://s3.amazonaws.com" (or CORRAL_S3_ENDPOINT) */
    char *s3_region;             /* "us-east-1" (or AWS_REGION) */
    bool s3_path_style;          /* or CORRAL_S3_PATH_STYLE */
    long upload_interval_ms;     /* how often uploads are looked for (5000) */
    long part_size_mb;           /* multipart part size (8, at least 5) */
    long multipart_threshold_mb; /* files above this go multipart (16) */
    long disk_budget_mb;         /* uploaded files kept locally (1024; 0 = none kept) */
    /* Executor cleanup. */
    bool no_cleanup;
    long retention_s; /* terminal sandboxes removed this long after (86400) */
    /* OOM killer. */
    bool no_oom_killer;
    long oom_threshold_pct; /* 95 */
    long oom_window_ms;     /* 5000: above the threshold this long kills */
    long oom_interval_ms;   /* 1000 */
    char *cgroup_root;      /* "/sys/fs/cgroup" */
    bool help;
} na_config;

void na_config_init(na_config *c);
void na_config_release(na_config *c);

/* Sets one setting by its flag name (without dashes); where names the
 * source for errors ("--listen", "file:3"). value NULL for a bare boolean
 * flag. Returns 0 or -1 with err set. */
int na_config_set(na_config *c, const char *name, const char *value, const char *where,
                  cr_err *err);

/* Reads a config file (see above). */
int na_config_load_file(na_config *c, const char *path, cr_err *err);

/* Parses argv: --config FILE first (wherever it is), then every flag
 * (--name value, --name=value, or --flag for booleans). Checks the result
 * (work-dir given, numbers in range). */
int na_config_parse_args(na_config *c, int argc, char **argv, cr_err *err);

const char *na_config_usage(void);

#endif
