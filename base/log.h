/* A small leveled logger. Each process owns one cr_log (in its app struct)
 * and passes it down; there is no global logger. A NULL logger discards. */
#ifndef CR_LOG_H
#define CR_LOG_H

#include <stdio.h>

typedef enum { CR_LOG_DEBUG, CR_LOG_INFO, CR_LOG_WARN, CR_LOG_ERROR } cr_log_level;

typedef struct cr_log {
    cr_log_level level; /* messages below it are dropped */
    FILE *out;          /* borrowed; stderr when NULL */
    const char *name;   /* borrowed; the process or component name */
} cr_log;

/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int cr_log_level_parse(const char *s, cr_log_level *out);

void cr_logf(const cr_log *log, cr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cr_debug(log, ...) cr_logf((log), CR_LOG_DEBUG, __VA_ARGS__)
#define cr_info(log, ...) cr_logf((log), CR_LOG_INFO, __VA_ARGS__)
#define cr_warn(log, ...) cr_logf((log), CR_LOG_WARN, __VA_ARGS__)
#define cr_errorlog(log, ...) cr_logf((log), CR_LOG_ERROR, __VA_ARGS__)

#endif
