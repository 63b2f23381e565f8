/* api_doc: see doc.h. One row per typed kind: how to decode and free it. */
#include "apis/doc.h"

#include <stdlib.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/request.h"
#include "apis/run.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/xalloc.h"

/* ---- documents decoded to a heap object: api_x *api_x_from_json(j, opts, probs) ---- */

typedef void *(*from_json_fn)(const json_t *j, const api_decode_opts *o, api_problems *p);

/* One decode of j by fn; problems formatted into *error. */
static void *decode_with(from_json_fn fn, const json_t *j, const api_decode_opts *o, char **error)
{
    api_problems probs = API_PROBLEMS_INIT;
    void *doc = fn(j, o, &probs);
    if (!doc && error)
        *error = api_problems_format(&probs);
    api_problems_release(&probs);
    /* doc is heap memory from fn; cppcheck mistakes it for &probs. */
    // cppcheck-suppress returnDanglingLifetime
    return doc;
}

/* Strict first: a valid document is decoded once. An invalid one is decoded
 * again leniently so readers still see it, with the strict problems. */
static void *decode_checked(from_json_fn fn, const json_t *j, char **error)
{
    static const api_decode_opts strict = {0};
    static const api_decode_opts lenient = {.allow_unknown = true, .no_validate = true};
    void *doc = decode_with(fn, j, &strict, error);
    if (!doc)
        doc = decode_with(fn, j, &lenient, NULL);
    return doc;
}

/* Records written by Corral itself: newer versions may add fields. */
static void *decode_open(from_json_fn fn, const json_t *j, char **error)
{
    static const api_decode_opts open = {.allow_unknown = true};
    return decode_with(fn, j, &open, error);
}

static void *request_decode(const json_t *j, char **error)
{
    return decode_checked((from_json_fn)api_request_from_json, j, error);
}

static void *deploy_decode(const json_t *j, char **error)
{
    return decode_checked((from_json_fn)api_deploy_from_json, j, error);
}

static void *run_decode(const json_t *j, char **error)
{
    return decode_checked((from_json_fn)api_run_from_json, j, error);
}

static void *task_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_task_from_json, j, error);
}

static void *pending_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_pending_task_from_json, j, error);
}

static void *cleanup_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_cleanup_from_json, j, error);
}

static void *intent_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_intent_from_json, j, error);
}

static void request_free(void *d)
{
    api_request_free(d);
}

static void deploy_free(void *d)
{
    api_deploy_free(d);
}

static void run_free(void *d)
{
    api_run_free(d);
}

static void task_free(void *d)
{
    api_task_free(d);
}

static void pending_free(void *d)
{
    api_pending_task_free(d);
}

static void cleanup_free(void *d)
{
    api_cleanup_free(d);
}

static void intent_free(void *d)
{
    api_intent_free(d);
}

/* ---- status documents: size_t api_x_from_json(j, out, prefix, probs) into a struct ---- */

#define STATUS_DOC(name, T, from_json, release)               \
    static void *name##_decode(const json_t *j, char **error) \
    {                                                         \
        api_problems probs = API_PROBLEMS_INIT;               \
        T *s = xcalloc(1, sizeof(*s));                        \
        if (from_json(j, s, NULL, &probs)) {                  \
            *error = api_problems_format(&probs);             \
            release(s);                                       \
            free(s);                                          \
            s = NULL;                                         \
        }                                                     \
        api_problems_release(&probs);                         \
        return s;                                             \
    }                                                         \
    static void name##_free(void *d)                          \
    {                                                         \
        release(d);                                           \
        free(d);                                              \
    }

STATUS_DOC(request_status, api_request_status, api_request_status_from_json,
           api_request_status_release)
STATUS_DOC(deploy_status, api_deploy_status, api_deploy_status_from_json, api_deploy_status_release)
STATUS_DOC(job_status, api_job_status, api_job_status_from_json, api_job_status_release)
STATUS_DOC(run_status, api_run_status, api_run_status_from_json, api_run_status_release)
STATUS_DOC(place_reason, api_place_reason, api_place_reason_from_json, api_place_reason_release)

/* ---- the table ------------------------------------------------------------------------- */

typedef struct doc_kind {
    void *(*decode)(const json_t *j, char **error);
    void (*free)(void *doc);
} doc_kind;

static const doc_kind kinds[API_KEY__COUNT] = {
    [API_KEY_REQUEST] = {request_decode, request_free},
    [API_KEY_DEPLOY] = {deploy_decode, deploy_free},
    [API_KEY_RUN] = {run_decode, run_free},
    [API_KEY_TASK] = {task_decode, task_free},
    [API_KEY_PENDING] = {pending_decode, pending_free},
    [API_KEY_CLEANUP] = {cleanup_decode, cleanup_free},
    [API_KEY_REQUEST_STATUS] = {request_status_decode, request_status_free},
    [API_KEY_DEPLOY_STATUS] = {deploy_status_decode, deploy_status_free},
    [API_KEY_JOB_STATUS] = {job_status_decode, job_status_free},
    [API_KEY_RUN_STATUS] = {run_status_decode, run_status_free},
    [API_KEY_PENDING_STATUS] = {place_reason_decode, place_reason_free},
    [API_KEY_INTENT_REQUEST] = {intent_decode, intent_free},
    [API_KEY_INTENT_DEPLOY] = {intent_decode, intent_free},
    [API_KEY_INTENT_AGENT] = {intent_decode, intent_free},
    [API_KEY_INTENT_RACK] = {intent_decode, intent_free},
};

static const doc_kind *kind_of(api_key_kind kind)
{
    return (int)kind >= 0 && kind < API_KEY__COUNT && kinds[kind].decode ? &kinds[kind] : NULL;
}

bool api_doc_typed(api_key_kind kind)
{
    return kind_of(kind) != NULL;
}

void *api_doc_decode(api_key_kind kind, const json_t *j, char **error)
{
    const doc_kind *k = kind_of(kind);

    *error = NULL;
    return k ? k->decode(j, error) : NULL;
}

void api_doc_free(api_key_kind kind, void *doc)
{
    const doc_kind *k = kind_of(kind);

    if (doc && k)
        k->free(doc);
}
