/* One error type for all of Corral: a code from a fixed table plus a detail
 * string (a field path, file:line:col, an upstream message).
 *
 * Convention: fallible functions take `cr_err *err` last (may be NULL) and
 * return -1 (or NULL) after filling it, 0 (or a value) on success. Codes are
 * never renumbered: they appear in logs and API bodies by name. */
#ifndef CR_ERR_H
#define CR_ERR_H

#include <stdbool.h>
#include <stddef.h>

#define CR_ERR_CODES(X)                                                        \
    /* code            name            http  retry  message */                 \
    X(CR_OK,           "ok",            200, false, "success")                \
    X(CR_EINVAL,       "invalid",       400, false, "invalid argument")       \
    X(CR_EPARSE,       "parse",         400, false, "malformed input")        \
    X(CR_ENOTFOUND,    "not_found",     404, false, "not found")              \
    X(CR_ECONFLICT,    "conflict",      409, true,  "conflict")               \
    X(CR_EEXIST,       "exists",        409, false, "already exists")         \
    X(CR_ETOOLARGE,    "too_large",     413, false, "too large")              \
    X(CR_EIO,          "io",            500, true,  "i/o error")              \
    X(CR_ETIMEOUT,     "timeout",       504, true,  "timed out")              \
    X(CR_EUNAVAIL,     "unavailable",   503, true,  "service unavailable")    \
    X(CR_EETCD,        "etcd",          502, true,  "etcd error")             \
    X(CR_EMESOS,       "mesos",         502, true,  "mesos error")            \
    X(CR_ENOTLEADER,   "not_leader",    503, false, "not the leader")         \
    X(CR_EFORBIDDEN,   "forbidden",     403, false, "forbidden")              \
    X(CR_EUNSUPPORTED, "unsupported",   501, false, "not supported")          \
    X(CR_EINTERNAL,    "internal",      500, false, "internal error")

typedef enum {
#define CR_ERR_ENUM(code, name, http, retry, msg) code,
    CR_ERR_CODES(CR_ERR_ENUM)
#undef CR_ERR_ENUM
    CR_ERR__COUNT
} cr_code;

#define CR_ERR_DETAIL_MAX 1024

typedef struct cr_err {
    cr_code code;
    char detail[CR_ERR_DETAIL_MAX];
} cr_err;

/* Sets *err (if not NULL) to code with a printf-style detail; returns -1 so
 * callers can `return cr_error(err, CR_EINVAL, "...")`. */
int cr_error(cr_err *err, cr_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing detail with more context ("loading x: <old>"). */
void cr_err_prefix(cr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cr_err_clear(cr_err *err);

const char *cr_code_name(cr_code code);    /* "not_found" */
const char *cr_code_message(cr_code code); /* "not found" */
int cr_code_http_status(cr_code code);     /* 404 */
bool cr_code_retryable(cr_code code);

/* The detail if set, else the code's message. Borrowed from err. */
const char *cr_err_msg(const cr_err *err);

#endif
