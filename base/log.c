#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/buf.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "logfmt", "json"};

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

int cr_log_format_parse(const char *s, cr_log_format *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *out = (cr_log_format)i;
            return 0;
        }
    }
    return -1;
}

const char *cr_log_level_name(cr_log_level level)
{
    return level_names[level];
}

const char *cr_log_format_name(cr_log_format format)
{
    return format_names[format];
}

/* A JSON string, quotes included. */
static void put_json(cr_buf *b, const char *s)
{
    cr_buf_addch(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            cr_buf_addch(b, '\\');
            cr_buf_addch(b, (char)*p);
        } else if (*p == '\n') {
            cr_buf_adds(b, "\\n");
        } else if (*p == '\t') {
            cr_buf_adds(b, "\\t");
        } else if (*p < 0x20) {
            cr_buf_addf(b, "\\u%04x", *p);
        } else {
            cr_buf_addch(b, (char)*p);
        }
    }
    cr_buf_addch(b, '"');
}

/* A logfmt value: bare when it needs no quoting, else a JSON-style quoted
 * string (what logfmt readers accept). */
static void put_logfmt(cr_buf *b, const char *s)
{
    bool bare = *s != '\0';
    for (const unsigned char *p = (const unsigned char *)s; *p && bare; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
            bare = false;
    if (bare)
        cr_buf_adds(b, s);
    else
        put_json(b, s);
}

__attribute__((format(printf, 5, 0))) static void emit(const cr_log *log, cr_log_level level,
                                                       const cr_log_kv *kv, size_t n,
                                                       const char *fmt, va_list ap)
{
    struct timeval tv;
    struct tm tm;
    char stamp[40], msg[4096];
    const char *name = log->name ? log->name : "corral";
    cr_buf b = CR_BUF_INIT;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t sl = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + sl, sizeof(stamp) - sl, ".%03ldZ", (long)(tv.tv_usec / 1000));
    vsnprintf(msg, sizeof(msg), fmt, ap);

    switch (log->format) {
    case CR_LOG_JSON:
        cr_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", stamp,
                      level_names[level]);
        put_json(&b, name);
        cr_buf_adds(&b, ",\"msg\":");
        put_json(&b, msg);
        for (size_t i = 0; i < n; i++) {
            if (!kv[i].value)
                continue;
            cr_buf_addch(&b, ',');
            put_json(&b, kv[i].key);
            cr_buf_addch(&b, ':');
            put_json(&b, kv[i].value);
        }
        cr_buf_addch(&b, '}');
        break;
    case CR_LOG_LOGFMT:
        cr_buf_addf(&b, "ts=%s level=%s component=", stamp, level_names[level]);
        put_logfmt(&b, name);
        cr_buf_adds(&b, " msg=");
        put_logfmt(&b, msg);
        for (size_t i = 0; i < n; i++) {
            if (!kv[i].value)
                continue;
            cr_buf_addf(&b, " %s=", kv[i].key);
            put_logfmt(&b, kv[i].value);
        }
        break;
    default:
        cr_buf_addf(&b, "%s %-5s %s: %s", stamp, level_names[level], name, msg);
        for (size_t i = 0; i < n; i++)
            if (kv[i].value)
                cr_buf_addf(&b, " %s=%s", kv[i].key, kv[i].value);
        break;
    }
    cr_buf_addch(&b, '\n');
    FILE *out = log->out ? log->out : stderr;
    /* One write per line so concurrent writers do not interleave. */
    fwrite(b.data, 1, b.len, out);
    fflush(out);
    cr_buf_release(&b);
}

void cr_logf(const cr_log *log, cr_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log || level < log->level)
        return;
    va_start(ap, fmt);
    emit(log, level, NULL, 0, fmt, ap);
    va_end(ap);
}

void cr_logkv(const cr_log *log, cr_log_level level, const cr_log_kv *kv, size_t n,
              const char *fmt, ...)
{
    va_list ap;

    if (!log || level < log->level)
        return;
    va_start(ap, fmt);
    emit(log, level, kv, n, fmt, ap);
    va_end(ap);
}
