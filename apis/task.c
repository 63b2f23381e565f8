/* Task-side records and ids; see apis/task.h. */
#include "apis/task.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "apis/intern.h"
#include "apis/jtext.h"
#include "apis/keys.h"
#include "base/buf.h"
#include "base/xalloc.h"

/* ---- states ------------------------------------------------------------------ */

static const struct {
    const char *name;
    bool terminal;
} state_table[] = {
#define API_TASK_STATE_ROW(e, name, term) {name, term},
    API_TASK_STATES(API_TASK_STATE_ROW)
#undef API_TASK_STATE_ROW
};

const char *api_task_state_name(api_task_state s)
{
    if ((int)s < 0 || s >= API_TASK_STATE__COUNT)
        return NULL;
    return state_table[s].name;
}

api_task_state api_task_state_parse(const char *s)
{
    if (!s)
        return API_TASK_STATE_NONE;
    for (int i = 0; i < API_TASK_STATE__COUNT; i++)
        if (!strcmp(state_table[i].name, s))
            return (api_task_state)i;
    return API_TASK_STATE_NONE;
}

bool api_task_state_terminal(api_task_state s)
{
    if ((int)s < 0 || s >= API_TASK_STATE__COUNT)
        return false;
    return state_table[s].terminal;
}

bool api_task_state_held(api_task_state s)
{
    return s == API_TASK_UNREACHABLE || s == API_TASK_UNKNOWN;
}

bool api_task_state_may_return(api_task_state s)
{
    return api_task_state_held(s) || s == API_TASK_LOST || s == API_TASK_GONE_BY_OPERATOR;
}

int64_t api_task_held_since(const api_task *t)
{
    if (!api_task_state_held(t->lastTaskState))
        return 0;
    int64_t since = 0;
    for (size_t i = t->n_taskUpdates; i > 0; i--) {
        if (!api_task_state_held(t->taskUpdates[i - 1].taskState))
            break;
        since = t->taskUpdates[i - 1].timestamp;
    }
    if (!since)
        since = t->updatedAt ? t->updatedAt : t->launchedAt;
    return since;
}

/* ---- ids ----------------------------------------------------------------------- */

const char *const api_pending_types[] = {
    "IMMEDIATE",       "ONEOFF",           "BOUNCE",
    "NEW_DEPLOY",      "NEXT_DEPLOY_STEP", "UNPAUSED",
    "RETRY",           "UPDATED_REQUEST",  "DECOMISSIONED_SLAVE_OR_RACK",
    "TASK_DONE",       "STARTUP",          "CANCEL_BOUNCE",
    "TASK_BOUNCE",     "DEPLOY_CANCELLED", "DEPLOY_FAILED",
    "DEPLOY_FINISHED", "TASK_RECOVERED",   NULL,
};

bool api_pending_type_valid(const char *s)
{
    if (!s)
        return false;
    for (size_t i = 0; api_pending_types[i]; i++)
        if (!strcmp(api_pending_types[i], s))
            return true;
    return false;
}

char *api_task_sanitize(const char *s)
{
    char *r = xstrdup(s ? s : "");
    for (char *p = r; *p; p++)
        if (*p == '-')
            *p = '_';
    return r;
}

/* A task id is a key component (tasks/<r>/<taskId>, cleanups/<taskId>),
 * which also keeps it within Mesos' id rules (1-255 characters, not "." or
 * "..", no '/', '\\' or control characters). */
static bool task_id_ok(const char *s)
{
    return api_key_id_valid(s);
}

/* The host part: a host name as key components take it. */
static bool host_ok(const char *s)
{
    return api_key_id_valid(s);
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int api_task_id_init(api_task_id *out, const char *requestId, const char *deployId,
                     int64_t startedAt, int instanceNo, const char *host, const char *rackId,
                     cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!requestId || !api_request_id_valid(requestId))
        return cr_error(err, CR_EINVAL, "taskId.requestId: invalid request id '%s'",
                        requestId ? requestId : "");
    if (!deployId || !api_deploy_id_valid(deployId))
        return cr_error(err, CR_EINVAL, "taskId.deployId: invalid deploy id '%s'",
                        deployId ? deployId : "");
    if (startedAt < 0)
        return cr_error(err, CR_EINVAL, "taskId.startedAt: must be >= 0");
    if (instanceNo < 1)
        return cr_error(err, CR_EINVAL, "taskId.instanceNo: must be >= 1");
    if (!host_ok(host))
        return cr_error(err, CR_EINVAL, "taskId.host: invalid host '%s'", host ? host : "");
    if (!api_rack_id_valid(rackId))
        return cr_error(err, CR_EINVAL, "taskId.rackId: invalid rack id '%s'",
                        rackId ? rackId : "");
    char *sh = api_task_sanitize(host), *sr = api_task_sanitize(rackId);
    char *id =
        xasprintf("%s-%s-%" PRId64 "-%d-%s-%s", requestId, deployId, startedAt, instanceNo, sh, sr);
    free(sh);
    free(sr);
    if (!task_id_ok(id)) {
        free(id);
        return cr_error(err, CR_EINVAL, "taskId: id too long or has invalid characters");
    }
    out->id = id;
    out->requestId = xstrdup(requestId);
    out->deployId = xstrdup(deployId);
    out->startedAt = startedAt;
    out->instanceNo = instanceNo;
    out->host = xstrdup(host);
    out->rackId = xstrdup(rackId);
    return 0;
}

/* Splits s from the right into `n` '-'-separated parts: parts[0] is the
 * remainder (may contain '-'). Returns false if there are too few dashes. */
static bool rsplit(const char *s, size_t n, const char **start, size_t *len)
{
    const char *end = s + strlen(s);
    for (size_t k = n - 1; k >= 1; k--) {
        const char *p = end;
        while (p > s && p[-1] != '-')
            p--;
        if (p == s)
            return false;
        start[k] = p;
        len[k] = (size_t)(end - p);
        end = p - 1;
    }
    start[0] = s;
    len[0] = (size_t)(end - s);
    return true;
}

int api_task_id_parse(const char *s, api_task_id *out, cr_err *err)
{
    const char *st[6];
    size_t ln[6];
    int64_t started, inst;
    memset(out, 0, sizeof(*out));
    if (!s || !rsplit(s, 6, st, ln))
        return cr_error(err, CR_EINVAL, "taskId: '%s' is not a task id", s ? s : "");
    if (!parse_i64(st[2], ln[2], &started) || !parse_i64(st[3], ln[3], &inst) || inst < 1 ||
        inst > INT32_MAX)
        return cr_error(err, CR_EINVAL, "taskId: '%s' is not a task id", s);
    char *req = xstrndup(st[0], ln[0]), *dep = xstrndup(st[1], ln[1]);
    char *host = xstrndup(st[4], ln[4]), *rack = xstrndup(st[5], ln[5]);
    int rc = api_task_id_init(out, req, dep, started, (int)inst, host, rack, err);
    if (rc == 0 && strcmp(out->id, s) != 0) {
        api_task_id_release(out);
        rc = cr_error(err, CR_EINVAL, "taskId: '%s' is not a task id", s);
    }
    free(req);
    free(dep);
    free(host);
    free(rack);
    return rc;
}

bool api_task_id_valid(const char *s)
{
    api_task_id id;
    if (api_task_id_parse(s, &id, NULL) < 0)
        return false;
    api_task_id_release(&id);
    return true;
}

void api_task_id_copy(api_task_id *dst, const api_task_id *src)
{
    dst->id = xstrdup(src->id);
    dst->requestId = xstrdup(src->requestId);
    dst->deployId = xstrdup(src->deployId);
    dst->startedAt = src->startedAt;
    dst->instanceNo = src->instanceNo;
    dst->host = xstrdup(src->host);
    dst->rackId = xstrdup(src->rackId);
}

void api_task_id_release(api_task_id *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->requestId);
    free(t->deployId);
    free(t->host);
    free(t->rackId);
    memset(t, 0, sizeof(*t));
}

int api_pending_task_id_init(api_pending_task_id *out, const char *requestId, const char *deployId,
                             int64_t nextRunAt, int instanceNo, const char *pendingType,
                             int64_t createdAt, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!requestId || !api_request_id_valid(requestId))
        return cr_error(err, CR_EINVAL, "pendingTaskId.requestId: invalid request id '%s'",
                        requestId ? requestId : "");
    if (!deployId || !api_deploy_id_valid(deployId))
        return cr_error(err, CR_EINVAL, "pendingTaskId.deployId: invalid deploy id '%s'",
                        deployId ? deployId : "");
    if (nextRunAt < 0 || createdAt < 0)
        return cr_error(err, CR_EINVAL, "pendingTaskId: times must be >= 0");
    if (instanceNo < 1)
        return cr_error(err, CR_EINVAL, "pendingTaskId.instanceNo: must be >= 1");
    if (!api_pending_type_valid(pendingType))
        return cr_error(err, CR_EINVAL, "pendingTaskId.pendingType: unknown type '%s'",
                        pendingType ? pendingType : "");
    out->id = xasprintf("%s-%s-%" PRId64 "-%d-%s-%" PRId64, requestId, deployId, nextRunAt,
                        instanceNo, pendingType, createdAt);
    out->requestId = xstrdup(requestId);
    out->deployId = xstrdup(deployId);
    out->nextRunAt = nextRunAt;
    out->instanceNo = instanceNo;
    out->pendingType = xstrdup(pendingType);
    out->createdAt = createdAt;
    return 0;
}

int api_pending_task_id_parse(const char *s, api_pending_task_id *out, cr_err *err)
{
    const char *st[6];
    size_t ln[6];
    int64_t next, inst, created;
    memset(out, 0, sizeof(*out));
    if (!s || !rsplit(s, 6, st, ln) || !parse_i64(st[2], ln[2], &next) ||
        !parse_i64(st[3], ln[3], &inst) || inst < 1 || inst > INT32_MAX ||
        !parse_i64(st[5], ln[5], &created))
        return cr_error(err, CR_EINVAL, "pendingTaskId: '%s' is not a pending task id", s ? s : "");
    char *req = xstrndup(st[0], ln[0]), *dep = xstrndup(st[1], ln[1]);
    char *type = xstrndup(st[4], ln[4]);
    int rc = api_pending_task_id_init(out, req, dep, next, (int)inst, type, created, err);
    if (rc == 0 && strcmp(out->id, s) != 0) {
        api_pending_task_id_release(out);
        rc = cr_error(err, CR_EINVAL, "pendingTaskId: '%s' is not a pending task id", s);
    }
    free(req);
    free(dep);
    free(type);
    return rc;
}

bool api_pending_task_id_valid(const char *s)
{
    api_pending_task_id id;
    if (api_pending_task_id_parse(s, &id, NULL) < 0)
        return false;
    api_pending_task_id_release(&id);
    return true;
}

void api_pending_task_id_copy(api_pending_task_id *dst, const api_pending_task_id *src)
{
    dst->id = xstrdup(src->id);
    dst->requestId = xstrdup(src->requestId);
    dst->deployId = xstrdup(src->deployId);
    dst->nextRunAt = src->nextRunAt;
    dst->instanceNo = src->instanceNo;
    dst->pendingType = xstrdup(src->pendingType);
    dst->createdAt = src->createdAt;
}

void api_pending_task_id_release(api_pending_task_id *p)
{
    if (!p)
        return;
    free(p->id);
    free(p->requestId);
    free(p->deployId);
    free(p->pendingType);
    memset(p, 0, sizeof(*p));
}

/* ---- JSON decoding helpers ------------------------------------------------------ */

/* "a" + "b" -> "a.b"; "" + "b" -> "b"; "a" + "" -> "a". Caller frees. */
static char *path_join(const char *base, const char *name)
{
    if (!base || !*base)
        return xstrdup(name ? name : "");
    if (!name || !*name)
        return xstrdup(base);
    return xasprintf("%s.%s", base, name);
}

static char *path_index(const char *base, const char *name, size_t i)
{
    char *b = path_join(base, name);
    char *r = xasprintf("%s[%zu]", b, i);
    free(b);
    return r;
}

typedef struct dec {
    api_problems *probs;
    const char *path; /* path of the object being decoded */
    bool allow_unknown;
    size_t nprob;
} dec;

static void dprob(dec *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dprob(dec *d, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *p = path_join(d->path, field);
    api_problems_add(d->probs, p, "%s", msg);
    free(p);
    d->nprob++;
}

/* Counts the keys of j not in names (NULL-terminated), and reports each
 * unless unknown fields are allowed (then the count is all that is needed:
 * the keys less the names present, a lookup each). */
static size_t check_unknown(dec *d, const json_t *j, const char *const *names)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    if (d->allow_unknown) {
        n = json_object_size(j);
        for (size_t i = 0; names[i]; i++)
            n -= json_object_get(j, names[i]) != NULL;
        return n;
    }
    json_object_foreach((json_t *)j, k, v)
    {
        bool ok = false;
        for (size_t i = 0; names[i] && !ok; i++)
            ok = !strcmp(names[i], k);
        if (!ok)
            dprob(d, k, "%s", "unknown field");
        n += !ok;
    }
    return n;
}

static char *get_str(dec *d, const json_t *j, const char *name, bool required)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) {
        if (required)
            dprob(d, name, "%s", "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        dprob(d, name, "%s", "must be a string");
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

static bool get_i64(dec *d, const json_t *j, const char *name, bool required, int64_t *out)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) {
        if (required)
            dprob(d, name, "%s", "is required");
        return false;
    }
    if (!json_is_integer(v)) {
        dprob(d, name, "%s", "must be an integer");
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool get_int(dec *d, const json_t *j, const char *name, bool required, int *out)
{
    int64_t v;
    if (!get_i64(d, j, name, required, &v))
        return false;
    if (v < INT32_MIN || v > INT32_MAX) {
        dprob(d, name, "%s", "out of range");
        return false;
    }
    *out = (int)v;
    return true;
}

static bool get_double(dec *d, const json_t *j, const char *name, double *out)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_number(v)) {
        dprob(d, name, "%s", "must be a number");
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool get_bool(dec *d, const json_t *j, const char *name, bool *out)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_boolean(v)) {
        dprob(d, name, "%s", "must be a boolean");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static void get_strlist(dec *d, const json_t *j, const char *name, api_strlist *out)
{
    json_t *v = json_object_get(j, name), *e;
    size_t i;
    if (!v || json_is_null(v))
        return;
    if (!json_is_array(v)) {
        dprob(d, name, "%s", "must be an array of strings");
        return;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            dprob(d, name, "%s", "must be an array of strings");
            return;
        }
        api_strlist_add(out, json_string_value(e));
    }
}

static void get_strmap(dec *d, const json_t *j, const char *name, api_strmap *out)
{
    json_t *v = json_object_get(j, name), *e;
    const char *k;
    if (!v || json_is_null(v))
        return;
    if (!json_is_object(v)) {
        dprob(d, name, "%s", "must be an object of strings");
        return;
    }
    json_object_foreach(v, k, e)
    {
        if (!json_is_string(e)) {
            dprob(d, name, "%s", "must be an object of strings");
            return;
        }
        api_strmap_set(out, k, json_string_value(e));
    }
}

static void get_intlist(dec *d, const json_t *j, const char *name, api_intlist *out)
{
    json_t *v = json_object_get(j, name), *e;
    size_t i;
    if (!v || json_is_null(v))
        return;
    if (!json_is_array(v)) {
        dprob(d, name, "%s", "must be an array of integers");
        return;
    }
    out->v = xcalloc(json_array_size(v) + 1, sizeof(int64_t));
    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e)) {
            dprob(d, name, "%s", "must be an array of integers");
            return;
        }
        out->v[out->n++] = (int64_t)json_integer_value(e);
    }
}

static api_task_state get_state(dec *d, const json_t *j, const char *name, bool required)
{
    char *s = get_str(d, j, name, required);
    api_task_state st = API_TASK_STATE_NONE;
    if (s) {
        st = api_task_state_parse(s);
        if (st == API_TASK_STATE_NONE)
            dprob(d, name, "unknown task state '%s'", s);
    }
    free(s);
    return st;
}

/* Returns the sub-object or NULL (reporting a non-object). */
static const json_t *get_obj(dec *d, const json_t *j, const char *name, bool required)
{
    json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) {
        if (required)
            dprob(d, name, "%s", "is required");
        return NULL;
    }
    if (!json_is_object(v)) {
        dprob(d, name, "%s", "must be an object");
        return NULL;
    }
    return v;
}

/* Descends into field `name`: the returned dec shares the problem list. */
static dec sub(dec *d, const char *name, char **path_out)
{
    dec s = *d;
    *path_out = path_join(d->path, name);
    s.path = *path_out;
    s.nprob = 0;
    return s;
}

/* ---- encoding helpers ------------------------------------------------------------ */

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void put_i64(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static json_t *strmap_json(const api_strmap *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->v[i].key, json_string(m->v[i].value ? m->v[i].value : ""));
    return o;
}

static json_t *strlist_json(const api_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static void strmap_copy(api_strmap *dst, const api_strmap *src)
{
    for (size_t i = 0; i < src->n; i++)
        api_strmap_set(dst, src->v[i].key, src->v[i].value);
}

/* ---- task id / pending task id objects ------------------------------------------- */

static const char *const task_id_fields[] = {
    "id",   "requestId", "deployId",      "startedAt",       "instanceNo",
    "host", "rackId",    "sanitizedHost", "sanitizedRackId", NULL};

static json_t *task_id_json(const api_task_id *t)
{
    json_t *o = json_object();
    char *sh = api_task_sanitize(t->host), *sr = api_task_sanitize(t->rackId);
    put_str(o, "id", t->id);
    put_str(o, "requestId", t->requestId);
    put_str(o, "deployId", t->deployId);
    put_i64(o, "startedAt", t->startedAt);
    put_i64(o, "instanceNo", t->instanceNo);
    put_str(o, "host", t->host);
    put_str(o, "rackId", t->rackId);
    put_str(o, "sanitizedHost", sh);
    put_str(o, "sanitizedRackId", sr);
    free(sh);
    free(sr);
    return o;
}

/* Object form, or a plain id string (accepted on input). Returns whether
 * it was given in full: an object with its "id". */
static bool task_id_decode(dec *d, const json_t *j, const char *name, api_task_id *out)
{
    json_t *v = json_object_get(j, name);
    cr_err err;
    char *path = NULL;
    bool full;
    if (!v || json_is_null(v)) {
        dprob(d, name, "%s", "is required");
        return false;
    }
    if (json_is_string(v)) {
        if (api_task_id_parse(json_string_value(v), out, &err) < 0)
            dprob(d, name, "%s", cr_err_msg(&err));
        return false;
    }
    if (!json_is_object(v)) {
        dprob(d, name, "%s", "must be an object");
        return false;
    }
    dec s = sub(d, name, &path);
    check_unknown(&s, v, task_id_fields);
    char *req = get_str(&s, v, "requestId", true), *dep = get_str(&s, v, "deployId", true);
    char *host = get_str(&s, v, "host", true), *rack = get_str(&s, v, "rackId", true);
    char *id = get_str(&s, v, "id", false);
    int64_t started = 0;
    int inst = 0;
    get_i64(&s, v, "startedAt", true, &started);
    get_int(&s, v, "instanceNo", true, &inst);
    if (s.nprob == 0) {
        if (api_task_id_init(out, req, dep, started, inst, host, rack, &err) < 0)
            dprob(d, name, "%s", cr_err_msg(&err));
        else if (id && strcmp(id, out->id)) {
            dprob(d, name, "id '%s' does not match its parts", id);
            api_task_id_release(out);
        }
    }
    d->nprob += s.nprob;
    full = id != NULL;
    free(req);
    free(dep);
    free(host);
    free(rack);
    free(id);
    free(path);
    return full;
}

static const char *const pending_id_fields[] = {
    "id", "requestId", "deployId", "nextRunAt", "instanceNo", "pendingType", "createdAt", NULL};

static json_t *pending_id_json(const api_pending_task_id *p)
{
    json_t *o = json_object();
    put_str(o, "id", p->id);
    put_str(o, "requestId", p->requestId);
    put_str(o, "deployId", p->deployId);
    put_i64(o, "nextRunAt", p->nextRunAt);
    put_i64(o, "instanceNo", p->instanceNo);
    put_str(o, "pendingType", p->pendingType);
    put_i64(o, "createdAt", p->createdAt);
    return o;
}

static void pending_id_decode(dec *d, const json_t *j, const char *name, api_pending_task_id *out)
{
    json_t *v = json_object_get(j, name);
    cr_err err;
    char *path = NULL;
    if (!v || json_is_null(v)) {
        dprob(d, name, "%s", "is required");
        return;
    }
    if (json_is_string(v)) {
        if (api_pending_task_id_parse(json_string_value(v), out, &err) < 0)
            dprob(d, name, "%s", cr_err_msg(&err));
        return;
    }
    if (!json_is_object(v)) {
        dprob(d, name, "%s", "must be an object");
        return;
    }
    dec s = sub(d, name, &path);
    check_unknown(&s, v, pending_id_fields);
    char *req = get_str(&s, v, "requestId", true), *dep = get_str(&s, v, "deployId", true);
    char *type = get_str(&s, v, "pendingType", true), *id = get_str(&s, v, "id", false);
    int64_t next = 0, created = 0;
    int inst = 0;
    get_i64(&s, v, "nextRunAt", true, &next);
    get_int(&s, v, "instanceNo", true, &inst);
    get_i64(&s, v, "createdAt", true, &created);
    if (s.nprob == 0) {
        if (api_pending_task_id_init(out, req, dep, next, inst, type, created, &err) < 0)
            dprob(d, name, "%s", cr_err_msg(&err));
        else if (id && strcmp(id, out->id)) {
            dprob(d, name, "id '%s' does not match its parts", id);
            api_pending_task_id_release(out);
        }
    }
    d->nprob += s.nprob;
    free(req);
    free(dep);
    free(type);
    free(id);
    free(path);
}

static const char *const resources_fields[] = {"cpus", "memoryMb", "diskMb", "numPorts", NULL};

static json_t *resources_json(const api_task_resources *r)
{
    json_t *o = json_object();
    if (r->has_cpus)
        json_object_set_new(o, "cpus", json_real(r->cpus));
    if (r->has_memoryMb)
        json_object_set_new(o, "memoryMb", json_real(r->memoryMb));
    if (r->has_diskMb)
        json_object_set_new(o, "diskMb", json_real(r->diskMb));
    if (r->has_numPorts)
        put_i64(o, "numPorts", r->numPorts);
    return o;
}

static bool resources_decode(dec *d, const json_t *j, const char *name, api_task_resources *r)
{
    char *path = NULL;
    const json_t *v = get_obj(d, j, name, false);
    if (!v)
        return false;
    dec s = sub(d, name, &path);
    check_unknown(&s, v, resources_fields);
    r->has_cpus = get_double(&s, v, "cpus", &r->cpus);
    r->has_memoryMb = get_double(&s, v, "memoryMb", &r->memoryMb);
    r->has_diskMb = get_double(&s, v, "diskMb", &r->diskMb);
    r->has_numPorts = get_int(&s, v, "numPorts", false, &r->numPorts);
    if ((r->has_cpus && r->cpus < 0) || (r->has_memoryMb && r->memoryMb < 0) ||
        (r->has_diskMb && r->diskMb < 0) || (r->has_numPorts && r->numPorts < 0))
        dprob(&s, "", "%s", "resources must be >= 0");
    d->nprob += s.nprob;
    free(path);
    return true;
}

/* ---- pending task -------------------------------------------------------------- */

static const char *const pending_fields[] = {"pendingTaskId",
                                             "runId",
                                             "user",
                                             "message",
                                             "actionId",
                                             "cmdLineArgsList",
                                             "envOverrides",
                                             "resources",
                                             "requiredAgentAttributeOverrides",
                                             "allowedAgentAttributeOverrides",
                                             "skipHealthchecks",
                                             "runAsUserOverride",
                                             NULL};

static void pending_decode(dec *d, const json_t *j, api_pending_task *p)
{
    check_unknown(d, j, pending_fields);
    pending_id_decode(d, j, "pendingTaskId", &p->pendingTaskId);
    p->runId = get_str(d, j, "runId", false);
    p->user = get_str(d, j, "user", false);
    p->message = get_str(d, j, "message", false);
    p->actionId = get_str(d, j, "actionId", false);
    get_strlist(d, j, "cmdLineArgsList", &p->cmdLineArgsList);
    get_strmap(d, j, "envOverrides", &p->envOverrides);
    p->has_resources = resources_decode(d, j, "resources", &p->resources);
    get_strmap(d, j, "requiredAgentAttributeOverrides", &p->requiredAgentAttributeOverrides);
    get_strmap(d, j, "allowedAgentAttributeOverrides", &p->allowedAgentAttributeOverrides);
    get_bool(d, j, "skipHealthchecks", &p->skipHealthchecks);
    p->runAsUserOverride = get_str(d, j, "runAsUserOverride", false);
}

static dec dec_start(const json_t *j, const api_decode_opts *opts, api_problems *probs,
                     const char *what)
{
    dec d = {probs, opts && opts->path_prefix ? opts->path_prefix : "", opts && opts->allow_unknown,
             0};
    if (!json_is_object(j)) {
        api_problems_add(probs, d.path, "%s must be a JSON object", what);
        d.nprob++;
    }
    return d;
}

api_pending_task *api_pending_task_from_json(const json_t *j, const api_decode_opts *opts,
                                             api_problems *probs)
{
    dec d = dec_start(j, opts, probs, "pending task");
    if (d.nprob)
        return NULL;
    api_pending_task *p = xcalloc(1, sizeof(*p));
    pending_decode(&d, j, p);
    if (d.nprob) {
        api_pending_task_free(p);
        return NULL;
    }
    return p;
}

json_t *api_pending_task_to_json(const api_pending_task *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "pendingTaskId", pending_id_json(&p->pendingTaskId));
    put_str(o, "runId", p->runId);
    put_str(o, "user", p->user);
    put_str(o, "message", p->message);
    put_str(o, "actionId", p->actionId);
    if (p->cmdLineArgsList.n)
        json_object_set_new(o, "cmdLineArgsList", strlist_json(&p->cmdLineArgsList));
    if (p->envOverrides.n)
        json_object_set_new(o, "envOverrides", strmap_json(&p->envOverrides));
    if (p->has_resources)
        json_object_set_new(o, "resources", resources_json(&p->resources));
    if (p->requiredAgentAttributeOverrides.n)
        json_object_set_new(o, "requiredAgentAttributeOverrides",
                            strmap_json(&p->requiredAgentAttributeOverrides));
    if (p->allowedAgentAttributeOverrides.n)
        json_object_set_new(o, "allowedAgentAttributeOverrides",
                            strmap_json(&p->allowedAgentAttributeOverrides));
    if (p->skipHealthchecks)
        json_object_set_new(o, "skipHealthchecks", json_true());
    put_str(o, "runAsUserOverride", p->runAsUserOverride);
    return o;
}

static void pending_copy(api_pending_task *dst, const api_pending_task *src)
{
    api_pending_task_id_copy(&dst->pendingTaskId, &src->pendingTaskId);
    dst->runId = xstrdup(src->runId);
    dst->user = xstrdup(src->user);
    dst->message = xstrdup(src->message);
    dst->actionId = xstrdup(src->actionId);
    for (size_t i = 0; i < src->cmdLineArgsList.n; i++)
        api_strlist_add(&dst->cmdLineArgsList, src->cmdLineArgsList.v[i]);
    strmap_copy(&dst->envOverrides, &src->envOverrides);
    dst->has_resources = src->has_resources;
    dst->resources = src->resources;
    strmap_copy(&dst->requiredAgentAttributeOverrides, &src->requiredAgentAttributeOverrides);
    strmap_copy(&dst->allowedAgentAttributeOverrides, &src->allowedAgentAttributeOverrides);
    dst->skipHealthchecks = src->skipHealthchecks;
    dst->runAsUserOverride = xstrdup(src->runAsUserOverride);
}

api_pending_task *api_pending_task_dup(const api_pending_task *p)
{
    api_pending_task *r = xcalloc(1, sizeof(*r));
    pending_copy(r, p); /* not packed: a copy may be changed */
    return r;
}

void api_pending_task_release(api_pending_task *p)
{
    if (!p)
        return;
    if (p->packed)
        abort(); /* a packed one is freed whole: api_pending_task_free */
    api_pending_task_id_release(&p->pendingTaskId);
    free(p->runId);
    free(p->user);
    free(p->message);
    free(p->actionId);
    api_strlist_release(&p->cmdLineArgsList);
    api_strmap_release(&p->envOverrides);
    api_strmap_release(&p->requiredAgentAttributeOverrides);
    api_strmap_release(&p->allowedAgentAttributeOverrides);
    free(p->runAsUserOverride);
    memset(p, 0, sizeof(*p));
}

void api_pending_task_free(api_pending_task *p)
{
    if (!p)
        return;
    if (p->packed) { /* api_pending_task_pack: one block, from the bulk arena */
        xfree_bulk(p);
        return;
    }
    api_pending_task_release(p);
    free(p);
}

/* ---- cleanup ------------------------------------------------------------------- */

static const char *const cleanup_fields[] = {
    "taskId",    "cleanupType",           "user", "message", "actionId",
    "timestamp", "killGracePeriodMillis", NULL};

api_cleanup *api_cleanup_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs)
{
    dec d = dec_start(j, opts, probs, "cleanup");
    if (d.nprob)
        return NULL;
    api_cleanup *c = xcalloc(1, sizeof(*c));
    check_unknown(&d, j, cleanup_fields);
    task_id_decode(&d, j, "taskId", &c->taskId);
    c->cleanupType = get_str(&d, j, "cleanupType", true);
    c->user = get_str(&d, j, "user", false);
    c->message = get_str(&d, j, "message", false);
    c->actionId = get_str(&d, j, "actionId", false);
    get_i64(&d, j, "timestamp", false, &c->timestamp);
    c->has_killGracePeriodMillis =
        get_i64(&d, j, "killGracePeriodMillis", false, &c->killGracePeriodMillis);
    if (c->has_killGracePeriodMillis && c->killGracePeriodMillis < 0)
        dprob(&d, "killGracePeriodMillis", "%s", "must be >= 0");
    if (c->cleanupType && !*c->cleanupType)
        dprob(&d, "cleanupType", "%s", "must not be empty");
    if (d.nprob) {
        api_cleanup_free(c);
        return NULL;
    }
    return c;
}

json_t *api_cleanup_to_json(const api_cleanup *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "taskId", task_id_json(&c->taskId));
    put_str(o, "cleanupType", c->cleanupType);
    put_str(o, "user", c->user);
    put_str(o, "message", c->message);
    put_str(o, "actionId", c->actionId);
    put_i64(o, "timestamp", c->timestamp);
    if (c->has_killGracePeriodMillis)
        put_i64(o, "killGracePeriodMillis", c->killGracePeriodMillis);
    return o;
}

void api_cleanup_free(api_cleanup *c)
{
    if (!c)
        return;
    api_task_id_release(&c->taskId);
    free(c->cleanupType);
    free(c->user);
    free(c->message);
    free(c->actionId);
    free(c);
}

/* ---- task record --------------------------------------------------------------- */

static const char *const update_fields[] = {
    "taskState", "timestamp", "statusMessage", "statusReason", "source", "uuid", NULL};

static const char *const task_fields[] = {"taskId",
                                          "pendingTask",
                                          "frameworkId",
                                          "agentId",
                                          "hostname",
                                          "offerId",
                                          "executorId",
                                          "ports",
                                          "resources",
                                          "env",
                                          "killGracePeriodMillis",
                                          "launchedAt",
                                          "lastTaskState",
                                          "updatedAt",
                                          "statusMessage",
                                          "statusReason",
                                          "healthy",
                                          "exitCode",
                                          "taskUpdates",
                                          "mesosTask",
                                          NULL};

static void update_release(api_task_update *u)
{
    free(u->statusMessage);
    free(u->statusReason);
    free(u->source);
    free(u->uuid);
    memset(u, 0, sizeof(*u));
}

static void update_copy(api_task_update *dst, const api_task_update *src)
{
    dst->taskState = src->taskState;
    dst->timestamp = src->timestamp;
    dst->statusMessage = xstrdup(src->statusMessage);
    dst->statusReason = xstrdup(src->statusReason);
    dst->source = xstrdup(src->source);
    dst->uuid = xstrdup(src->uuid);
}

static void updates_decode(dec *d, const json_t *j, api_task *t)
{
    json_t *v = json_object_get(j, "taskUpdates"), *e;
    size_t i;
    if (!v || json_is_null(v))
        return;
    if (!json_is_array(v)) {
        dprob(d, "taskUpdates", "%s", "must be an array");
        return;
    }
    t->taskUpdates = xcalloc(json_array_size(v) + 1, sizeof(*t->taskUpdates));
    json_array_foreach(v, i, e)
    {
        char *path = path_index(d->path, "taskUpdates", i);
        dec s = *d;
        s.path = path;
        s.nprob = 0;
        if (!json_is_object(e)) {
            dprob(&s, "", "%s", "must be an object");
        } else {
            api_task_update *u = &t->taskUpdates[t->n_taskUpdates++];
            check_unknown(&s, e, update_fields);
            u->taskState = get_state(&s, e, "taskState", true);
            get_i64(&s, e, "timestamp", false, &u->timestamp);
            u->statusMessage = get_str(&s, e, "statusMessage", false);
            u->statusReason = get_str(&s, e, "statusReason", false);
            u->source = get_str(&s, e, "source", false);
            u->uuid = get_str(&s, e, "uuid", false);
        }
        d->nprob += s.nprob;
        free(path);
    }
}

static json_t *update_json(const api_task_update *u)
{
    json_t *o = json_object();
    put_str(o, "taskState", api_task_state_name(u->taskState));
    put_i64(o, "timestamp", u->timestamp);
    put_str(o, "statusMessage", u->statusMessage);
    put_str(o, "statusReason", u->statusReason);
    put_str(o, "source", u->source);
    put_str(o, "uuid", u->uuid);
    return o;
}

/* The record's TaskInfo: the bytes ti when given (json_dumps's, borrowed
 * from the record's text), else written from the tree. */
static void mesos_task_decode(api_task *t, const json_t *mt, api_jspan ti)
{
    if (ti.p) {
        t->mesosTask = ti.p;
        t->mesosTask_len = ti.n;
        t->mesosTask_borrowed = true;
    } else {
        api_task_set_mesos_task(t, mt);
    }
}

/* The record of tree j; ti: its TaskInfo's bytes to borrow, if any
 * (mesos_task_decode). */
static api_task *task_decode(const json_t *j, api_jspan ti, const api_decode_opts *opts,
                             api_problems *probs)
{
    dec d = dec_start(j, opts, probs, "task");
    if (d.nprob)
        return NULL;
    api_task *t = xcalloc(1, sizeof(*t));
    char *path = NULL;
    size_t unknown = check_unknown(&d, j, task_fields);
    bool full_id = task_id_decode(&d, j, "taskId", &t->taskId);
    t->faithful = unknown == 0 && full_id;
    const json_t *pt = get_obj(&d, j, "pendingTask", true);
    if (pt) {
        dec s = sub(&d, "pendingTask", &path);
        pending_decode(&s, pt, &t->pendingTask);
        d.nprob += s.nprob;
        free(path);
    }
    t->frameworkId = get_str(&d, j, "frameworkId", false);
    t->agentId = get_str(&d, j, "agentId", true);
    t->hostname = get_str(&d, j, "hostname", false);
    t->offerId = get_str(&d, j, "offerId", false);
    t->executorId = get_str(&d, j, "executorId", false);
    get_intlist(&d, j, "ports", &t->ports);
    resources_decode(&d, j, "resources", &t->resources);
    get_strmap(&d, j, "env", &t->env);
    t->has_killGracePeriodMillis =
        get_i64(&d, j, "killGracePeriodMillis", false, &t->killGracePeriodMillis);
    get_i64(&d, j, "launchedAt", false, &t->launchedAt);
    t->lastTaskState = get_state(&d, j, "lastTaskState", true);
    get_i64(&d, j, "updatedAt", false, &t->updatedAt);
    t->statusMessage = get_str(&d, j, "statusMessage", false);
    t->statusReason = get_str(&d, j, "statusReason", false);
    t->has_healthy = get_bool(&d, j, "healthy", &t->healthy);
    t->has_exitCode = get_int(&d, j, "exitCode", false, &t->exitCode);
    updates_decode(&d, j, t);
    json_t *mt = json_object_get(j, "mesosTask");
    if (mt && !json_is_null(mt)) {
        if (json_is_object(mt))
            mesos_task_decode(t, mt, ti);
        else
            dprob(&d, "mesosTask", "%s", "must be an object");
    }
    if (d.nprob) {
        api_task_free(t);
        return NULL;
    }
    return t;
}

api_task *api_task_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    return task_decode(j, (api_jspan){0}, opts, probs);
}

api_task *api_task_from_text(const json_t *j, const char *text, size_t len,
                             const api_decode_opts *opts, api_problems *probs)
{
    /* jansson read text: its TaskInfo's bytes are its dump, or written */
    api_jspan ti = api_jtext_get(api_jtext_span(text, len), "mesosTask");

    if (!ti.p || api_jtext_type(ti) != '{' || !api_jtext_is_dump(ti, JSON_COMPACT))
        ti = (api_jspan){0};
    return task_decode(j, ti, opts, probs);
}

void api_task_set_mesos_task(api_task *t, const json_t *ti)
{
    if (t->packed)
        abort(); /* read-only: change an api_task_dup */
    if (!t->mesosTask_borrowed)
        free((char *)t->mesosTask);
    t->mesosTask = ti ? json_dumps(ti, JSON_COMPACT) : NULL;
    t->mesosTask_len = t->mesosTask ? strlen(t->mesosTask) : 0;
    t->mesosTask_borrowed = false;
}

/* The TaskInfo's text: t's own bytes, or inflated into *tmp (the caller
 * frees *tmp, NULL when nothing was inflated). */
static const char *ti_text(const api_task *t, char **tmp);

const char *api_task_mesos_text(const api_task *t, size_t *len, char **tmp)
{
    *tmp = NULL;
    *len = t->mesosTask ? t->mesosTask_len : 0;
    return t->mesosTask ? ti_text(t, tmp) : NULL;
}

json_t *api_task_mesos_task(const api_task *t)
{
    char *tmp = NULL;
    const char *ti = t->mesosTask ? ti_text(t, &tmp) : NULL;
    json_t *j = ti ? json_loadb(ti, t->mesosTask_len, 0, NULL) : NULL;

    free(tmp);
    return j;
}

/* The record as a tree; mesosTask (always the last member) only when
 * with_mesos. */
static json_t *task_json(const api_task *t, bool with_mesos)
{
    json_t *o = json_object();
    json_object_set_new(o, "taskId", task_id_json(&t->taskId));
    json_object_set_new(o, "pendingTask", api_pending_task_to_json(&t->pendingTask));
    put_str(o, "frameworkId", t->frameworkId);
    put_str(o, "agentId", t->agentId);
    put_str(o, "hostname", t->hostname);
    put_str(o, "offerId", t->offerId);
    put_str(o, "executorId", t->executorId);
    json_t *ports = json_array();
    for (size_t i = 0; i < t->ports.n; i++)
        json_array_append_new(ports, json_integer((json_int_t)t->ports.v[i]));
    json_object_set_new(o, "ports", ports);
    json_object_set_new(o, "resources", resources_json(&t->resources));
    json_object_set_new(o, "env", strmap_json(&t->env));
    if (t->has_killGracePeriodMillis)
        put_i64(o, "killGracePeriodMillis", t->killGracePeriodMillis);
    put_i64(o, "launchedAt", t->launchedAt);
    put_str(o, "lastTaskState", api_task_state_name(t->lastTaskState));
    put_i64(o, "updatedAt", t->updatedAt);
    put_str(o, "statusMessage", t->statusMessage);
    put_str(o, "statusReason", t->statusReason);
    if (t->has_healthy)
        json_object_set_new(o, "healthy", json_boolean(t->healthy));
    if (t->has_exitCode)
        put_i64(o, "exitCode", t->exitCode);
    json_t *ups = json_array();
    for (size_t i = 0; i < t->n_taskUpdates; i++)
        json_array_append_new(ups, update_json(&t->taskUpdates[i]));
    json_object_set_new(o, "taskUpdates", ups);
    if (with_mesos && t->mesosTask) {
        json_t *mt = api_task_mesos_task(t);
        if (mt)
            json_object_set_new(o, "mesosTask", mt);
    }
    return o;
}

json_t *api_task_to_json(const api_task *t)
{
    return task_json(t, true);
}

char *api_task_dump(const api_task *t, size_t *len)
{
    json_t *o = task_json(t, false);
    char *head = json_dumps(o, JSON_COMPACT), *out = head;
    size_t n = strlen(head);

    json_decref(o);
    if (t->mesosTask) {
        /* mesosTask comes last, and its text is what json_dumps writes:
         * "{...}" + ',"mesosTask":' + text + "}" is the record's dump */
        cr_buf b = CR_BUF_INIT;
        char *tmp = NULL;
        cr_buf_add(&b, head, n - 1);
        cr_buf_adds(&b, n > 2 ? ",\"mesosTask\":" : "\"mesosTask\":");
        cr_buf_add(&b, ti_text(t, &tmp), t->mesosTask_len);
        cr_buf_addch(&b, '}');
        free(tmp);
        free(head);
        out = cr_buf_detach(&b, &n);
    }
    if (len)
        *len = n;
    return out;
}

api_task *api_task_dup(const api_task *t)
{
    api_task *r = xcalloc(1, sizeof(*r));
    api_task_id_copy(&r->taskId, &t->taskId);
    pending_copy(&r->pendingTask, &t->pendingTask);
    r->frameworkId = xstrdup(t->frameworkId);
    r->agentId = xstrdup(t->agentId);
    r->hostname = xstrdup(t->hostname);
    r->offerId = xstrdup(t->offerId);
    r->executorId = xstrdup(t->executorId);
    r->ports.n = t->ports.n;
    r->ports.v = xcalloc(t->ports.n + 1, sizeof(int64_t));
    if (t->ports.n)
        memcpy(r->ports.v, t->ports.v, t->ports.n * sizeof(int64_t));
    r->resources = t->resources;
    strmap_copy(&r->env, &t->env);
    r->has_killGracePeriodMillis = t->has_killGracePeriodMillis;
    r->killGracePeriodMillis = t->killGracePeriodMillis;
    r->launchedAt = t->launchedAt;
    r->lastTaskState = t->lastTaskState;
    r->updatedAt = t->updatedAt;
    r->statusMessage = xstrdup(t->statusMessage);
    r->statusReason = xstrdup(t->statusReason);
    r->has_healthy = t->has_healthy;
    r->healthy = t->healthy;
    r->has_exitCode = t->has_exitCode;
    r->exitCode = t->exitCode;
    r->taskUpdates = xcalloc(t->n_taskUpdates + 1, sizeof(*r->taskUpdates));
    for (size_t i = 0; i < t->n_taskUpdates; i++)
        update_copy(&r->taskUpdates[i], &t->taskUpdates[i]);
    r->n_taskUpdates = t->n_taskUpdates;
    if (t->mesosTask) {
        char *tmp = NULL;
        const char *ti = ti_text(t, &tmp);
        r->mesosTask = tmp ? tmp : xstrndup(ti, t->mesosTask_len);
        r->mesosTask_len = t->mesosTask_len;
    }
    return r;
}

void api_task_free(api_task *t)
{
    if (!t)
        return;
    if (t->packed) { /* one allocation; its TaskInfo is in it or borrowed */
        free(t);
        return;
    }
    api_task_id_release(&t->taskId);
    api_pending_task_release(&t->pendingTask);
    free(t->frameworkId);
    free(t->agentId);
    free(t->hostname);
    free(t->offerId);
    free(t->executorId);
    api_intlist_release(&t->ports);
    api_strmap_release(&t->env);
    free(t->statusMessage);
    free(t->statusReason);
    for (size_t i = 0; i < t->n_taskUpdates; i++)
        update_release(&t->taskUpdates[i]);
    free(t->taskUpdates);
    if (!t->mesosTask_borrowed)
        free((char *)t->mesosTask);
    free(t);
}

/* ---- the record's dump, written directly ----------------------------------------
 * What api_task_dump writes, without building a tree: plain strings and
 * integers are written here, and anything jansson might write its own way
 * (a string with escapes or bytes outside printable ASCII, a real) is
 * written by jansson. Used where the bytes are checked or were checked
 * (the cache's text; see api_task_detach_text): it gives up (false) on
 * what it does not handle, and the caller keeps the text. */

typedef struct wr {
    cr_buf b;
    bool ok;
    bool first; /* no member written yet in the current object */
} wr;

static void w_json(wr *w, json_t *j)
{
    char *d = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    if (d)
        cr_buf_adds(&w->b, d);
    else
        w->ok = false;
    free(d);
    json_decref(j);
}

static void w_str(wr *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            break;
    if (*p) {
        w_json(w, json_string(s)); /* escapes, UTF-8: jansson's way */
        return;
    }
    cr_buf_addch(&w->b, '"');
    cr_buf_add(&w->b, s, (size_t)((const char *)p - s));
    cr_buf_addch(&w->b, '"');
}

static void w_key(wr *w, const char *k)
{
    if (!w->first)
        cr_buf_addch(&w->b, ',');
    w->first = false;
    w_str(w, k);
    cr_buf_addch(&w->b, ':');
}

static void w_open(wr *w, char c)
{
    cr_buf_addch(&w->b, c);
    w->first = true;
}

static void w_close(wr *w, char c)
{
    cr_buf_addch(&w->b, c);
    w->first = false;
}

/* put_str: absent when NULL */
static void w_kstr(wr *w, const char *k, const char *v)
{
    if (v) {
        w_key(w, k);
        w_str(w, v);
    }
}

static void w_ki64(wr *w, const char *k, int64_t v)
{
    w_key(w, k);
    cr_buf_addf(&w->b, "%" JSON_INTEGER_FORMAT, (json_int_t)v);
}

static void w_kreal(wr *w, const char *k, double v)
{
    /* jansson's text of the last reals this thread wrote: records repeat
     * the same few (0.1 cpus, 64.0 MB), and jansson prints a real with
     * up to 17 snprintf calls */
    static _Thread_local struct {
        double v;
        char s[32];
    } seen[4];
    static _Thread_local unsigned next;
    size_t at;

    w_key(w, k);
    for (size_t i = 0; i < 4; i++)
        if (seen[i].s[0] && memcmp(&seen[i].v, &v, sizeof(v)) == 0) {
            cr_buf_adds(&w->b, seen[i].s);
            return;
        }
    at = w->b.len;
    w_json(w, json_real(v));
    if (w->ok && w->b.len - at < sizeof(seen[0].s)) {
        unsigned i = next++ % 4;
        seen[i].v = v;
        memcpy(seen[i].s, w->b.data + at, w->b.len - at);
        seen[i].s[w->b.len - at] = '\0';
    }
}

static void w_map(wr *w, const api_strmap *m)
{
    w_open(w, '{');
    for (size_t i = 0; i < m->n; i++) {
        /* a repeated key would be one member in the tree */
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->v[j].key, m->v[i].key))
                w->ok = false;
        w_kstr(w, m->v[i].key, m->v[i].value ? m->v[i].value : "");
    }
    w_close(w, '}');
}

static void w_resources(wr *w, const api_task_resources *r)
{
    w_open(w, '{');
    if (r->has_cpus)
        w_kreal(w, "cpus", r->cpus);
    if (r->has_memoryMb)
        w_kreal(w, "memoryMb", r->memoryMb);
    if (r->has_diskMb)
        w_kreal(w, "diskMb", r->diskMb);
    if (r->has_numPorts)
        w_ki64(w, "numPorts", r->numPorts);
    w_close(w, '}');
}

static void w_pending(wr *w, const api_pending_task *p)
{
    const api_pending_task_id *id = &p->pendingTaskId;

    w_open(w, '{');
    w_key(w, "pendingTaskId");
    w_open(w, '{');
    w_kstr(w, "id", id->id);
    w_kstr(w, "requestId", id->requestId);
    w_kstr(w, "deployId", id->deployId);
    w_ki64(w, "nextRunAt", id->nextRunAt);
    w_ki64(w, "instanceNo", id->instanceNo);
    w_kstr(w, "pendingType", id->pendingType);
    w_ki64(w, "createdAt", id->createdAt);
    w_close(w, '}');
    w_kstr(w, "runId", p->runId);
    w_kstr(w, "user", p->user);
    w_kstr(w, "message", p->message);
    w_kstr(w, "actionId", p->actionId);
    if (p->cmdLineArgsList.n) {
        w_key(w, "cmdLineArgsList");
        w_open(w, '[');
        for (size_t i = 0; i < p->cmdLineArgsList.n; i++) {
            if (i)
                cr_buf_addch(&w->b, ',');
            w_str(w, p->cmdLineArgsList.v[i]);
        }
        w_close(w, ']');
    }
    if (p->envOverrides.n) {
        w_key(w, "envOverrides");
        w_map(w, &p->envOverrides);
    }
    if (p->has_resources) {
        w_key(w, "resources");
        w_resources(w, &p->resources);
    }
    if (p->requiredAgentAttributeOverrides.n) {
        w_key(w, "requiredAgentAttributeOverrides");
        w_map(w, &p->requiredAgentAttributeOverrides);
    }
    if (p->allowedAgentAttributeOverrides.n) {
        w_key(w, "allowedAgentAttributeOverrides");
        w_map(w, &p->allowedAgentAttributeOverrides);
    }
    if (p->skipHealthchecks) {
        w_key(w, "skipHealthchecks");
        cr_buf_adds(&w->b, "true");
    }
    w_kstr(w, "runAsUserOverride", p->runAsUserOverride);
    w_close(w, '}');
}

/* task_json's members in its order, then the TaskInfo's text (as
 * api_task_dump splices it). NULL when it gave up; caller frees. */
static char *task_write(const api_task *t, size_t *len)
{
    const api_task_id *id = &t->taskId;
    wr w = {CR_BUF_INIT, true, true};
    char *sh, *sr;

    w_open(&w, '{');
    w_key(&w, "taskId");
    w_open(&w, '{');
    w_kstr(&w, "id", id->id);
    w_kstr(&w, "requestId", id->requestId);
    w_kstr(&w, "deployId", id->deployId);
    w_ki64(&w, "startedAt", id->startedAt);
    w_ki64(&w, "instanceNo", id->instanceNo);
    w_kstr(&w, "host", id->host);
    w_kstr(&w, "rackId", id->rackId);
    sh = api_task_sanitize(id->host);
    sr = api_task_sanitize(id->rackId);
    w_kstr(&w, "sanitizedHost", sh);
    w_kstr(&w, "sanitizedRackId", sr);
    free(sh);
    free(sr);
    w_close(&w, '}');
    w_key(&w, "pendingTask");
    w_pending(&w, &t->pendingTask);
    w_kstr(&w, "frameworkId", t->frameworkId);
    w_kstr(&w, "agentId", t->agentId);
    w_kstr(&w, "hostname", t->hostname);
    w_kstr(&w, "offerId", t->offerId);
    w_kstr(&w, "executorId", t->executorId);
    w_key(&w, "ports");
    w_open(&w, '[');
    for (size_t i = 0; i < t->ports.n; i++)
        cr_buf_addf(&w.b, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", (json_int_t)t->ports.v[i]);
    w_close(&w, ']');
    w_key(&w, "resources");
    w_resources(&w, &t->resources);
    w_key(&w, "env");
    w_map(&w, &t->env);
    if (t->has_killGracePeriodMillis)
        w_ki64(&w, "killGracePeriodMillis", t->killGracePeriodMillis);
    w_ki64(&w, "launchedAt", t->launchedAt);
    w_kstr(&w, "lastTaskState", api_task_state_name(t->lastTaskState));
    w_ki64(&w, "updatedAt", t->updatedAt);
    w_kstr(&w, "statusMessage", t->statusMessage);
    w_kstr(&w, "statusReason", t->statusReason);
    if (t->has_healthy) {
        w_key(&w, "healthy");
        cr_buf_adds(&w.b, t->healthy ? "true" : "false");
    }
    if (t->has_exitCode)
        w_ki64(&w, "exitCode", t->exitCode);
    w_key(&w, "taskUpdates");
    w_open(&w, '[');
    for (size_t i = 0; i < t->n_taskUpdates; i++) {
        const api_task_update *u = &t->taskUpdates[i];
        if (i)
            cr_buf_addch(&w.b, ',');
        w_open(&w, '{');
        w_kstr(&w, "taskState", api_task_state_name(u->taskState));
        w_ki64(&w, "timestamp", u->timestamp);
        w_kstr(&w, "statusMessage", u->statusMessage);
        w_kstr(&w, "statusReason", u->statusReason);
        w_kstr(&w, "source", u->source);
        w_kstr(&w, "uuid", u->uuid);
        w_close(&w, '}');
    }
    w_close(&w, ']');
    if (t->mesosTask) {
        char *tmp = NULL;
        w_key(&w, "mesosTask");
        cr_buf_add(&w.b, ti_text(t, &tmp), t->mesosTask_len);
        free(tmp);
    }
    w_close(&w, '}');
    if (!w.ok) {
        cr_buf_release(&w.b);
        return NULL;
    }
    return cr_buf_detach(&w.b, len);
}

char *api_task_text(const api_task *t, size_t *len)
{
    char *r = task_write(t, len);

    return r ? r : api_task_dump(t, len);
}

bool api_task_detach_text(api_task *t, const char *text, size_t len)
{
    size_t n = 0;
    char *d;
    bool same;

    /* a record with a field the struct lacks, or an id given short, is
     * never written back as it was; a packed one cannot take a copy */
    if (!t->faithful || t->packed)
        return false;
    d = task_write(t, &n);
    same = d && n == len && memcmp(d, text, len) == 0;
    free(d);
    if (same && t->mesosTask_borrowed) {
        t->mesosTask = xstrndup(t->mesosTask, t->mesosTask_len);
        t->mesosTask_borrowed = false;
    }
    return same;
}

/* Nesting api_task_from_own_text reads: a record is 6 deep (a TaskInfo's
 * environment variables), a TaskInfo with a container a few more. */
#define OWN_TEXT_DEPTH 32

api_task *api_task_from_own_text(const char *text, size_t len)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_jspan all = api_jtext_span(text, len), ti = api_jtext_get(all, "mesosTask");
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j;
    api_task *t;

    /* nothing checked these bytes: borrowed only when they prove
     * themselves, and then not built into the tree */
    if (!ti.p || api_jtext_type(ti) != '{' ||
        !api_jtext_is_ascii_dump(ti, JSON_COMPACT, OWN_TEXT_DEPTH))
        ti = (api_jspan){0};
    j = api_jtext_json_any(all, OWN_TEXT_DEPTH, ti);
    t = j ? task_decode(j, ti, &open, &probs) : NULL;

    json_decref(j);
    api_problems_release(&probs); /* none when t is not NULL */
    if (t && !api_task_detach_text(t, text, len)) {
        api_task_free(t);
        t = NULL;
    }
    return t;
}

/* ---- packed records ----------------------------------------------------------- */

/* Strings nearly every record holds: a packed record points at these. */
static const char *const common_strs[] = {"INSTANCE_NO",
                                          "TASK_HOST",
                                          "TASK_RACK_ID",
                                          "AVAILABILITY_ZONE",
                                          "TASK_REQUEST_ID",
                                          "TASK_DEPLOY_ID",
                                          "TASK_ID",
                                          "ESTIMATED_INSTANCE_COUNT",
                                          "PORT",
                                          "DEPLOY_CPUS",
                                          "DEPLOY_MEM",
                                          "SOURCE_EXECUTOR",
                                          "SOURCE_AGENT",
                                          "SOURCE_MASTER",
                                          NULL};

static char *common_str(const char *s)
{
    if (s[0] < 'A' || s[0] > 'Z') /* all of them are upper case: most strings stop here */
        return NULL;
    for (size_t i = 0; common_strs[i]; i++)
        if (!strcmp(common_strs[i], s))
            return (char *)common_strs[i]; /* a packed record is read-only */
    for (size_t i = 0; api_pending_types[i]; i++)
        if (!strcmp(api_pending_types[i], s))
            return (char *)api_pending_types[i];
    return NULL;
}

/* The distinct strings of a record: noted in a first pass (sizing), then
 * copied once each; every field equal to one points at its copy, or at
 * the shared copy (apis/intern.h) when there is one. */
typedef struct packer {
    const char **src;
    char **dst; /* first pass: the shared copy or NULL; second: where it went */
    size_t n, cap, bytes;
    char *at; /* second pass: where the next string goes */
} packer;

/* How a field's string may use a shared copy. */
typedef enum {
    PK_OWN,  /* never: unique to the record (ids, uuids, messages) */
    PK_FIND, /* when the table already has one (env values: the host...) */
    PK_SHARE /* always, added to the table: ids of the cluster's own things */
} pk_mode;

static void pk_put(packer *k, char **f, pk_mode mode)
{
    const char *s = *f;
    char *c;
    size_t i;

    if (!s)
        return;
    if ((c = common_str(s))) {
        if (k->at)
            *f = c;
        return;
    }
    for (i = 0; i < k->n && strcmp(k->src[i], s); i++)
        ;
    if (k->at) { /* the first pass noted every string */
        if (!k->dst[i]) {
            size_t n = strlen(s) + 1;
            k->dst[i] = memcpy(k->at, s, n);
            k->at += n;
        }
        *f = k->dst[i];
        return;
    }
    if (i < k->n) { /* noted; a field that shares it shares it for all */
        if (mode == PK_SHARE && !k->dst[i] && (k->dst[i] = (char *)api_intern(s)))
            k->bytes -= strlen(s) + 1;
        return;
    }
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->src = xrealloc(k->src, k->cap * sizeof(*k->src));
        k->dst = xrealloc(k->dst, k->cap * sizeof(*k->dst));
    }
    c = mode == PK_SHARE  ? (char *)api_intern(s)
        : mode == PK_FIND ? (char *)api_intern_find(s)
                          : NULL;
    k->src[k->n] = s;
    k->dst[k->n++] = c; /* a packed record is read-only */
    if (!c)
        k->bytes += strlen(s) + 1;
}

static void pk_str(packer *k, char **f)
{
    pk_put(k, f, PK_OWN);
}

static void pk_map(packer *k, api_strmap *m, pk_mode values)
{
    for (size_t i = 0; i < m->n; i++) {
        pk_str(k, &m->v[i].key);
        pk_put(k, &m->v[i].value, values);
    }
}

/* Every string of p (p's own in the first pass, the copy's in the second:
 * they still point at p's). */
static void pk_pending(packer *k, api_pending_task *p)
{
    pk_str(k, &p->pendingTaskId.id);
    pk_str(k, &p->pendingTaskId.requestId);
    pk_str(k, &p->pendingTaskId.deployId);
    pk_str(k, &p->pendingTaskId.pendingType);
    pk_str(k, &p->runId);
    pk_str(k, &p->user);
    pk_str(k, &p->message);
    pk_str(k, &p->actionId);
    for (size_t i = 0; i < p->cmdLineArgsList.n; i++)
        pk_str(k, &p->cmdLineArgsList.v[i]);
    pk_map(k, &p->envOverrides, PK_OWN);
    pk_map(k, &p->requiredAgentAttributeOverrides, PK_OWN);
    pk_map(k, &p->allowedAgentAttributeOverrides, PK_OWN);
    pk_str(k, &p->runAsUserOverride);
}

/* Every string of t, its pending task's included (as pk_pending). */
static void pk_task(packer *k, api_task *t)
{
    pk_str(k, &t->taskId.id);
    pk_str(k, &t->taskId.requestId);
    pk_str(k, &t->taskId.deployId);
    pk_put(k, &t->taskId.host, PK_SHARE);
    pk_put(k, &t->taskId.rackId, PK_SHARE);
    pk_pending(k, &t->pendingTask);
    pk_put(k, &t->frameworkId, PK_SHARE);
    pk_put(k, &t->agentId, PK_SHARE);
    pk_put(k, &t->hostname, PK_SHARE);
    pk_str(k, &t->offerId);
    pk_str(k, &t->executorId);
    pk_map(k, &t->env, PK_FIND);
    pk_str(k, &t->statusMessage);
    pk_str(k, &t->statusReason);
    for (size_t i = 0; i < t->n_taskUpdates; i++) {
        pk_str(k, &t->taskUpdates[i].statusMessage);
        pk_str(k, &t->taskUpdates[i].statusReason);
        pk_str(k, &t->taskUpdates[i].source);
        pk_str(k, &t->taskUpdates[i].uuid);
    }
}

/* Moves n elements of `size` from *v to the block at *at (v keeps NULL when
 * there are none). */
static void *pk_array(char **at, const void *v, size_t n, size_t size)
{
    void *r = NULL;

    if (n) {
        r = memcpy(*at, v, n * size);
        *at += n * size;
    }
    return r;
}

/* A packed record's TaskInfo is deflated (raw deflate, zlib): ~800 bytes
 * of text become ~60, most of the record's heap. What makes it small is
 * the dictionary: the JSON every TaskInfo the bridge builds repeats, then
 * the strings this record holds and its TaskInfo repeats (its env, its
 * task and agent ids). It is written from the packed record's own fields,
 * which never change, so inflating writes the same dictionary again. */
#define TI_WBITS 13 /* an 8 KB window: the dictionary and a TaskInfo */

static const char ti_common[] =
    "{\"name\":\"\",\"task_id\":{\"value\":\"\"},\"agent_id\":{\"value\":\"\"},\"resources\":[{"
    "\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.0},\"role\":\"*\","
    "\"allocation_info\":{\"role\":\"*\"}},{\"name\":\"ports\",\"type\":\"RANGES\","
    "\"ranges\":{\"range\":[{\"begin\":\"end\":}]}\"executor\":{\"executor_id\":{"
    "\"value\":\"\"},\"labels\":{\"labels\":[{\"key\":\"\"container\":{\"type\":\"DOCKER\","
    "\"docker\":{\"image\":\"\",\"network\":\"BRIDGE\",\"port_mappings\":[{\"host_port\":"
    "\"container_port\":\"protocol\":\"tcp\"}]\"health_check\":{"
    "\"http\":{\"port\":\"path\":\"/"
    "\"},\"uris\":[{\"value\":\"\",\"extract\":true,\"cache\":false}]{"
    "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.10000000000000001},"
    "\"role\":\"*\",\"allocation_info\":{\"role\":\"*\"}},{\"name\":\"mem\",\"type\":\"SCALAR\","
    "\"scalar\":{\"value\":64.0},\"role\":\"*\",\"allocation_info\":{\"role\":\"*\"}}],"
    "\"command\":{\"shell\":true,\"value\":\"\",\"environment\":{\"variables\":[{"
    "\"name\":\"\",\"value\":\"\"}";

static void ti_dict(const api_task *t, cr_buf *d)
{
    cr_buf_add(d, ti_common, sizeof(ti_common) - 1);
    for (size_t i = 0; i < t->env.n; i++)
        cr_buf_addf(d, "{\"name\":\"%s\",\"value\":\"%s\"},",
                    t->env.v[i].key ? t->env.v[i].key : "",
                    t->env.v[i].value ? t->env.v[i].value : "");
    cr_buf_addf(d,
                "{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"}",
                t->taskId.requestId ? t->taskId.requestId : "", t->taskId.id ? t->taskId.id : "",
                t->agentId ? t->agentId : "");
}

/* Deflates n bytes of src into out (cap bytes) with t's dictionary: the
 * length written, or 0 when they do not fit (then keep them as they are). */
static size_t ti_deflate(const api_task *t, const char *src, size_t n, char *out, size_t cap)
{
    z_stream z = {0};
    cr_buf d = CR_BUF_INIT;
    size_t r = 0;

    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, -TI_WBITS, 2, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    ti_dict(t, &d);
    if (deflateSetDictionary(&z, (const Bytef *)d.data, (uInt)d.len) == Z_OK) {
        z.next_in = (Bytef *)src;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END)
            r = cap - z.avail_out;
    }
    deflateEnd(&z);
    cr_buf_release(&d);
    return r;
}

static const char *ti_text(const api_task *t, char **tmp)
{
    z_stream z = {0};
    cr_buf d = CR_BUF_INIT;
    char *out;
    bool ok;

    *tmp = NULL;
    if (!t->mesosTask_zlen)
        return t->mesosTask;
    out = xmalloc(t->mesosTask_len + 1);
    ti_dict(t, &d);
    ok = inflateInit2(&z, -TI_WBITS) == Z_OK;
    ok = ok && inflateSetDictionary(&z, (const Bytef *)d.data, (uInt)d.len) == Z_OK;
    z.next_in = (Bytef *)t->mesosTask;
    z.avail_in = (uInt)t->mesosTask_zlen;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)t->mesosTask_len;
    ok = ok && inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == t->mesosTask_len;
    inflateEnd(&z);
    cr_buf_release(&d);
    if (!ok) { /* our own bytes, deflated from this record's fields */
        fprintf(stderr, "api_task: the TaskInfo of %s does not inflate (a packed record changed)\n",
                t->taskId.id ? t->taskId.id : "?");
        abort();
    }
    out[t->mesosTask_len] = '\0';
    return *tmp = out;
}

api_task *api_task_pack(api_task *t)
{
    const api_pending_task *p = &t->pendingTask;
    packer k = {0};
    size_t maps = p->envOverrides.n + p->requiredAgentAttributeOverrides.n +
                  p->allowedAgentAttributeOverrides.n + t->env.n;
    size_t arrays = maps * sizeof(api_kv) + p->cmdLineArgsList.n * sizeof(char *) +
                    t->n_taskUpdates * sizeof(api_task_update) + t->ports.n * sizeof(int64_t);
    bool own_ti = t->mesosTask && !t->mesosTask_borrowed;
    char zbuf[4096], *z = zbuf;
    size_t zlen = 0;
    api_task *r;
    char *at;

    if (t->packed)
        return t;
    pk_task(&k, t);
    if (own_ti && t->mesosTask_len > 16) { /* t's fields are the copy's: the same dictionary */
        if (t->mesosTask_len > sizeof(zbuf))
            z = xmalloc(t->mesosTask_len);
        zlen = ti_deflate(t, t->mesosTask, t->mesosTask_len, z, t->mesosTask_len - 1);
    }
    /* every element type is 8-byte aligned, and so is the struct's size */
    /* an owned TaskInfo is NUL-terminated (api_task.mesosTask) */
    r = xmalloc(sizeof(*r) + arrays + k.bytes +
                (own_ti ? (zlen ? zlen : t->mesosTask_len + 1) : 0));
    *r = *t;
    r->packed = true;
    r->mesosTask_zlen = 0;
    at = (char *)(r + 1);
    r->env.v = pk_array(&at, t->env.v, t->env.n, sizeof(api_kv));
    r->pendingTask.envOverrides.v =
        pk_array(&at, p->envOverrides.v, p->envOverrides.n, sizeof(api_kv));
    r->pendingTask.requiredAgentAttributeOverrides.v =
        pk_array(&at, p->requiredAgentAttributeOverrides.v, p->requiredAgentAttributeOverrides.n,
                 sizeof(api_kv));
    r->pendingTask.allowedAgentAttributeOverrides.v =
        pk_array(&at, p->allowedAgentAttributeOverrides.v, p->allowedAgentAttributeOverrides.n,
                 sizeof(api_kv));
    r->pendingTask.cmdLineArgsList.v =
        pk_array(&at, p->cmdLineArgsList.v, p->cmdLineArgsList.n, sizeof(char *));
    r->taskUpdates = pk_array(&at, t->taskUpdates, t->n_taskUpdates, sizeof(api_task_update));
    r->ports.v = pk_array(&at, t->ports.v, t->ports.n, sizeof(int64_t));
    k.at = at;
    pk_task(&k, r);
    if (own_ti && zlen) {
        r->mesosTask = memcpy(k.at, z, zlen);
        r->mesosTask_zlen = zlen;
    } else if (own_ti) {
        memcpy(k.at, t->mesosTask, t->mesosTask_len);
        k.at[t->mesosTask_len] = '\0';
        r->mesosTask = k.at;
    }
    if (z != zbuf)
        free(z);
    free(k.src);
    free(k.dst);
    api_task_free(t); /* with its own TaskInfo: r has a copy */
    return r;
}

api_pending_task *api_pending_task_pack(api_pending_task *p)
{
    packer k = {0};
    size_t arrays;
    api_pending_task *r;
    char *at;

    if (!p || p->packed)
        return p;
    arrays = (p->envOverrides.n + p->requiredAgentAttributeOverrides.n +
              p->allowedAgentAttributeOverrides.n) *
                 sizeof(api_kv) +
             p->cmdLineArgsList.n * sizeof(char *);
    pk_pending(&k, p);
    /* every element type is 8-byte aligned, and so is the struct's size */
    r = xcalloc_bulk(sizeof(*r) + arrays + k.bytes);
    *r = *p;
    r->packed = true;
    at = (char *)(r + 1);
    r->envOverrides.v = pk_array(&at, p->envOverrides.v, p->envOverrides.n, sizeof(api_kv));
    r->requiredAgentAttributeOverrides.v =
        pk_array(&at, p->requiredAgentAttributeOverrides.v, p->requiredAgentAttributeOverrides.n,
                 sizeof(api_kv));
    r->allowedAgentAttributeOverrides.v =
        pk_array(&at, p->allowedAgentAttributeOverrides.v, p->allowedAgentAttributeOverrides.n,
                 sizeof(api_kv));
    r->cmdLineArgsList.v =
        pk_array(&at, p->cmdLineArgsList.v, p->cmdLineArgsList.n, sizeof(char *));
    k.at = at;
    pk_pending(&k, r);
    free(k.src);
    free(k.dst);
    api_pending_task_free(p);
    return r;
}

static bool streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

bool api_task_update_is_new(const api_task *t, const api_task_update *u)
{
    for (size_t i = 0; u->uuid && i < t->n_taskUpdates; i++)
        if (streq(t->taskUpdates[i].uuid, u->uuid))
            return false;
    if (!u->uuid && t->n_taskUpdates) {
        const api_task_update *last = &t->taskUpdates[t->n_taskUpdates - 1];
        if (last->taskState == u->taskState && streq(last->statusMessage, u->statusMessage))
            return false;
    }
    return true;
}

bool api_task_add_update(api_task *t, const api_task_update *u)
{
    if (t->packed)
        abort(); /* read-only: change an api_task_dup */
    if (!api_task_update_is_new(t, u))
        return false;
    if (t->n_taskUpdates == API_TASK_MAX_UPDATES) {
        update_release(&t->taskUpdates[0]);
        memmove(&t->taskUpdates[0], &t->taskUpdates[1],
                (t->n_taskUpdates - 1) * sizeof(*t->taskUpdates));
        t->n_taskUpdates--;
    }
    t->taskUpdates = xrealloc(t->taskUpdates, (t->n_taskUpdates + 1) * sizeof(*t->taskUpdates));
    update_copy(&t->taskUpdates[t->n_taskUpdates++], u);
    t->lastTaskState = u->taskState;
    t->updatedAt = u->timestamp;
    free(t->statusMessage);
    free(t->statusReason);
    t->statusMessage = xstrdup(u->statusMessage);
    t->statusReason = xstrdup(u->statusReason);
    return true;
}

char *api_task_key(const char *prefix, const char *requestId, const char *taskId)
{
    return api_key_task(prefix, requestId, taskId);
}

char *api_pending_key(const char *prefix, const char *requestId, const char *pendingTaskId)
{
    return api_key_pending(prefix, requestId, pendingTaskId);
}

char *api_cleanup_key(const char *prefix, const char *taskId)
{
    return api_key_cleanup(prefix, taskId);
}
