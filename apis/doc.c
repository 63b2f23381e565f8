/* api_doc: see doc.h. */
#include "apis/doc.h"

#include <stdlib.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/xalloc.h"

typedef void *(*from_json_fn)(const json_t *j, const api_decode_opts *o, api_problems *p);

/* One decode of j by fn; problems formatted into *error. */
static void *decode_with(from_json_fn fn, const json_t *j, const api_decode_opts *o,
                         char **error)
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

static void *decode_status(const json_t *j, bool deploy, char **error)
{
    api_problems probs = API_PROBLEMS_INIT;
    void *doc;
    size_t n;

    if (deploy) {
        api_deploy_status *s = xcalloc(1, sizeof(*s));
        n = api_deploy_status_from_json(j, s, NULL, &probs);
        doc = s;
        if (n) {
            api_deploy_status_release(s);
            free(s);
            doc = NULL;
        }
    } else {
        api_request_status *s = xcalloc(1, sizeof(*s));
        n = api_request_status_from_json(j, s, NULL, &probs);
        doc = s;
        if (n) {
            api_request_status_release(s);
            free(s);
            doc = NULL;
        }
    }
    if (!doc)
        *error = api_problems_format(&probs);
    api_problems_release(&probs);
    return doc;
}

bool api_doc_typed(api_key_kind kind)
{
    switch (kind) {
    case API_KEY_REQUEST:
    case API_KEY_DEPLOY:
    case API_KEY_TASK:
    case API_KEY_PENDING:
    case API_KEY_CLEANUP:
    case API_KEY_REQUEST_STATUS:
    case API_KEY_DEPLOY_STATUS:
        return true;
    default:
        return false;
    }
}

void *api_doc_decode(api_key_kind kind, const json_t *j, char **error)
{
    static const api_decode_opts open = {.allow_unknown = true};

    *error = NULL;
    switch (kind) {
    case API_KEY_REQUEST:
        return decode_checked((from_json_fn)api_request_from_json, j, error);
    case API_KEY_DEPLOY:
        return decode_checked((from_json_fn)api_deploy_from_json, j, error);
    /* Records written by Corral itself: newer versions may add fields. */
    case API_KEY_TASK:
        return decode_with((from_json_fn)api_task_from_json, j, &open, error);
    case API_KEY_PENDING:
        return decode_with((from_json_fn)api_pending_task_from_json, j, &open, error);
    case API_KEY_CLEANUP:
        return decode_with((from_json_fn)api_cleanup_from_json, j, &open, error);
    case API_KEY_REQUEST_STATUS:
        return decode_status(j, false, error);
    case API_KEY_DEPLOY_STATUS:
        return decode_status(j, true, error);
    default:
        return NULL;
    }
}

void api_doc_free(api_key_kind kind, void *doc)
{
    if (!doc)
        return;
    switch (kind) {
    case API_KEY_REQUEST:
        api_request_free(doc);
        break;
    case API_KEY_DEPLOY:
        api_deploy_free(doc);
        break;
    case API_KEY_TASK:
        api_task_free(doc);
        break;
    case API_KEY_PENDING:
        api_pending_task_free(doc);
        break;
    case API_KEY_CLEANUP:
        api_cleanup_free(doc);
        break;
    case API_KEY_REQUEST_STATUS:
        api_request_status_release(doc);
        free(doc);
        break;
    case API_KEY_DEPLOY_STATUS:
        api_deploy_status_release(doc);
        free(doc);
        break;
    default:
        break;
    }
}
