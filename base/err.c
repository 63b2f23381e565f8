#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int http;
    bool retry;
    const char *msg;
} codes[] = {
#define CR_ERR_ROW(code, name, http, retry, msg) {name, http, retry, msg},
    CR_ERR_CODES(CR_ERR_ROW)
#undef CR_ERR_ROW
};

static int valid(cr_code code)
{
    return code >= 0 && code < CR_ERR__COUNT;
}

int cr_error(cr_err *err, cr_code code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = code;
    err->detail[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void cr_err_prefix(cr_err *err, const char *fmt, ...)
{
    char head[CR_ERR_DETAIL_MAX], old[CR_ERR_DETAIL_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    snprintf(old, sizeof(old), "%s", cr_err_msg(err));
    /* Truncation is fine: the detail is for humans. */
    size_t n = strnlen(head, sizeof(err->detail) - 1);
    memcpy(err->detail, head, n);
    snprintf(err->detail + n, sizeof(err->detail) - n, ": %s", old);
}

void cr_err_clear(cr_err *err)
{
    if (err) {
        err->code = CR_OK;
        err->detail[0] = '\0';
    }
}

const char *cr_code_name(cr_code code)
{
    return valid(code) ? codes[code].name : "unknown";
}

const char *cr_code_message(cr_code code)
{
    return valid(code) ? codes[code].msg : "unknown error";
}

int cr_code_http_status(cr_code code)
{
    return valid(code) ? codes[code].http : 500;
}

bool cr_code_retryable(cr_code code)
{
    return valid(code) ? codes[code].retry : false;
}

const char *cr_err_msg(const cr_err *err)
{
    if (!err)
        return "";
    return err->detail[0] ? err->detail : cr_code_message(err->code);
}
