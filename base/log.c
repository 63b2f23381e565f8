#include "base/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};

int cr_log_level_parse(const char *s, cr_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (cr_log_level)i;
            return 0;
        }
    }
    return -1;
}

void cr_logf(const cr_log *log, cr_log_level level, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];
    char line[4096];
    va_list ap;
    FILE *out;

    if (!log || level < log->level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    out = log->out ? log->out : stderr;
    /* One fprintf per line so concurrent writers do not interleave. */
    fprintf(out, "%s.%03ldZ %-5s %s: %s\n", stamp, (long)(tv.tv_usec / 1000),
            level_names[level], log->name ? log->name : "corral", line);
    fflush(out);
}
