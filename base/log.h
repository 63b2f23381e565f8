/* A small leveled logger. Each process owns one cr_log (in its app struct)
 * and passes it down; there is no global logger. A NULL logger discards.
 *
 * Three line formats (docs/operations.md "Logs"), one line per message, to
 * stderr by default (journald keeps it):
 *   text    2026-12-06T08:00:00.123Z info  corrald: msg key=value ...
 *   logfmt  ts=2026-12-06T08:00:00.123Z level=info component=corrald msg="..." key=value
 *   json    {"ts":"...","level":"info","component":"corrald","msg":"...","key":"value"}
 * Fields (cr_logkv) carry the ids a line is about (request, deploy, task,
 * agent) so they can be searched without parsing the message. */
#ifndef CR_LOG_H
#define CR_LOG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CR_LOG_DEBUG, CR_LOG_INFO, CR_LOG_WARN, CR_LOG_ERROR } cr_log_level;
typedef enum { CR_LOG_TEXT = 0, CR_LOG_LOGFMT, CR_LOG_JSON } cr_log_format;

typedef struct cr_log {
    cr_log_level level;   /* messages below it are dropped */
    FILE *out;            /* borrowed; stderr when NULL */
    const char *name;     /* borrowed; the process or component name */
    cr_log_format format; /* CR_LOG_TEXT unless set */
} cr_log;

/* One field of a line; a NULL value leaves the field out. */
typedef struct cr_log_kv {
    const char *key;
    const char *value;
} cr_log_kv;

/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int cr_log_level_parse(const char *s, cr_log_level *out);
/* Parses "text", "logfmt", "json"; returns -1 if unknown. */
int cr_log_format_parse(const char *s, cr_log_format *out);
/* The name of a level or format ("info", "json"); static. */
const char *cr_log_level_name(cr_log_level level);
const char *cr_log_format_name(cr_log_format format);

void cr_logf(const cr_log *log, cr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As cr_logf with n fields. */
void cr_logkv(const cr_log *log, cr_log_level level, const cr_log_kv *kv, size_t n,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define cr_debug(log, ...) cr_logf((log), CR_LOG_DEBUG, __VA_ARGS__)
#define cr_info(log, ...) cr_logf((log), CR_LOG_INFO, __VA_ARGS__)
#define cr_warn(log, ...) cr_logf((log), CR_LOG_WARN, __VA_ARGS__)
#define cr_errorlog(log, ...) cr_logf((log), CR_LOG_ERROR, __VA_ARGS__)

/* A line about a task, request and deploy (any may be NULL). */
#define cr_log_task(log, level, rid, did, tid, ...)                                                \
    cr_logkv((log), (level),                                                                       \
             (const cr_log_kv[]){{"request", (rid)}, {"deploy", (did)}, {"task", (tid)}}, 3,       \
             __VA_ARGS__)

#endif
