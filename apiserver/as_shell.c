/* Task shell commands in the API; see as_shell.h. */
#include "apiserver/as_shell.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/shell.h"
#include "apiserver/as_model.h"
#include "base/buf.h"
#include "base/xalloc.h"

json_t *as_shell_commands_load(const char *path, cr_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *e, *o;
    size_t i, k;

    if (!j) {
        cr_error(err, CR_EPARSE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_array(j)) {
        cr_error(err, CR_EINVAL, "%s: must be a list of {name, description, options}", path);
        goto fail;
    }
    json_array_foreach (j, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *opts = json_object_get(e, "options");
        if (!json_is_object(e) || !api_shell_name_valid(name)) {
            cr_error(err, CR_EINVAL, "%s: [%zu].name: required, 1-100 characters of [A-Za-z0-9_.-]",
                     path, i);
            goto fail;
        }
        if (opts && !json_is_array(opts)) {
            cr_error(err, CR_EINVAL, "%s: [%zu].options: must be a list", path, i);
            goto fail;
        }
        json_array_foreach (opts, k, o) {
            if (!json_is_string(json_object_get(o, "name"))) {
                cr_error(err, CR_EINVAL, "%s: [%zu].options[%zu].name: required", path, i, k);
                goto fail;
            }
        }
    }
    return j;
fail:
    json_decref(j);
    return NULL;
}

bool as_shell_op(as_op op)
{
    return op == AS_OP_TASK_COMMAND_RUN || op == AS_OP_TASK_COMMANDS ||
           op == AS_OP_TASK_COMMAND_UPDATES || op == AS_OP_TASK_COMMANDS_QUEUED;
}

static const char *param(const as_req *req, const char *name)
{
    return as_match_param(req->match, name);
}

/* "[a, b]" of the names in a list of {name} (caller frees). */
static char *names_of(const json_t *list)
{
    cr_buf b = CR_BUF_INIT;
    size_t i;
    const json_t *e;
    cr_buf_addch(&b, '[');
    json_array_foreach (list, i, e)
        cr_buf_addf(&b, "%s%s", i ? ", " : "", json_string_value(json_object_get(e, "name")));
    cr_buf_addch(&b, ']');
    return cr_buf_detach(&b, NULL);
}

static const json_t *find_named(const json_t *list, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach (list, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && name && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

/* The task's record (active or not) as a tree, or NULL after a 404. */
static json_t *task_or_404(const as_api_config *cfg, const as_cache *c, const char *tid,
                           bool *history, as_result *out)
{
    json_t *t = api_key_id_valid(tid) ? as_m_task_find(cfg, c, tid, history) : NULL;
    if (!t)
        as_fail(out, 404, "No task %.200s", tid ? tid : "");
    return t;
}

static const char *task_request_id(const json_t *t)
{
    return json_string_value(json_object_get(json_object_get(t, "taskId"), "requestId"));
}

/* The prefix of one task's shell documents (caller frees). */
static char *task_prefix(const as_api_config *cfg, const char *rid, const char *tid)
{
    return api_key_shell(cfg->prefix, rid, tid, "");
}

static void h_run(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    const char *tid = param(req, "taskId");
    bool hist = false;
    json_t *t = task_or_404(cfg, c, tid, &hist, out), *body = NULL, *sc = NULL, *doc = NULL;
    json_error_t je;
    char *sid = NULL, *k = NULL, *names = NULL;

    if (!t)
        return;
    if (!req->body || !req->body_len) {
        as_fail(out, 400, "request body: a SingularityShellCommand {name, options} is required");
        goto out;
    }
    body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(body)) {
        as_fail(out, 400, "malformed JSON at line %d column %d: %s", je.line, je.column,
                body ? "not an object" : je.text);
        goto out;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    const json_t *opts = json_object_get(body, "options");
    const json_t *user = json_object_get(body, "user"),
                 *logf = json_object_get(body, "logfileName");
    if (!name) {
        as_fail(out, 400, "name: required (a shell command's name)");
        goto out;
    }
    if ((opts && !json_is_null(opts) && !json_is_array(opts)) ||
        (user && !json_is_null(user) && !json_is_string(user)) ||
        (logf && !json_is_null(logf) && !json_is_string(logf))) {
        as_fail(out, 400, "options must be a list of strings, user and logfileName strings");
        goto out;
    }
    const json_t *def = cfg->shell_commands ? find_named(cfg->shell_commands, name) : NULL;
    if (!def) {
        names = cfg->shell_commands ? names_of(cfg->shell_commands) : xstrdup("[]");
        as_fail(out, 400, "Shell command %.100s not in %s", name, names);
        goto out;
    }
    size_t i;
    const json_t *o;
    json_array_foreach (opts, i, o) {
        const char *on = json_string_value(o);
        if (!on || !find_named(json_object_get(def, "options"), on)) {
            free(names);
            names = names_of(json_object_get(def, "options"));
            as_fail(out, 400, "Shell command %s does not have option %.100s (%s)", name,
                    on ? on : "(not a string)", names);
            goto out;
        }
    }
    if (hist || !as_m_task_active(t)) {
        as_fail(out, 400, "%s is not an active task, can't run %s on it", tid, name);
        goto out;
    }
    if (!json_is_string(json_object_get(t, "executorId"))) {
        as_fail(out, 400,
                "%s has no custom executor: shell commands run through corral-executor "
                "(customExecutorCmd)",
                tid);
        goto out;
    }
    {
        char *tp = task_prefix(cfg, task_request_id(t), tid);
        size_t first, n = as_cache_range(c, tp, &first);
        free(tp);
        if (n >= AS_SHELL_MAX_PER_TASK) {
            as_fail(out, 400, "%s has run %zu shell commands, the most a task may", tid, n);
            goto out;
        }
    }
    sc = json_pack("{s:s}", "name", name);
    if (json_is_array(opts))
        json_object_set(sc, "options", (json_t *)opts);
    if (json_is_string(user))
        json_object_set(sc, "user", (json_t *)user);
    else if (req->user)
        json_object_set_new(sc, "user", json_string(req->user));
    if (json_is_string(logf))
        json_object_set(sc, "logfileName", (json_t *)logf);
    doc = api_shell_doc_new(json_object_get(t, "taskId"), req->user, req->now, sc);
    sid = api_shell_id(req->now, name);
    k = api_key_shell(cfg->prefix, task_request_id(t), tid, sid);
    as_txn_cmp(&out->txn, k, 0); /* the same command twice in one ms: a 409 */
    as_txn_put(&out->txn, k, doc);
    as_answer(out, 200, json_incref(json_object_get(doc, "shellRequest")));
out:
    json_decref(t);
    json_decref(body);
    json_decref(sc);
    json_decref(doc);
    free(sid);
    free(k);
    free(names);
}

/* The task's shell documents, newest first (a new array of borrowed
 * values wrapped in references). */
static json_t *task_docs(const as_api_config *cfg, const as_cache *c, const json_t *t,
                         const char *tid)
{
    char *p = task_prefix(cfg, task_request_id(t), tid);
    size_t first, n = as_cache_range(c, p, &first);
    json_t *a = json_array();
    for (size_t i = first + n; i > first; i--) {
        const as_entry *e = as_cache_at(c, i - 1);
        if (json_is_object(e->value))
            json_array_append(a, e->value);
    }
    free(p);
    return a;
}

json_t *as_shell_task_history(const as_api_config *cfg, const as_cache *c, const json_t *t)
{
    const char *tid = json_string_value(json_object_get(json_object_get(t, "taskId"), "id"));
    json_t *list = json_array(), *docs, *d;
    size_t i;
    if (!tid || !task_request_id(t))
        return list;
    docs = task_docs(cfg, c, t, tid);
    json_array_foreach (docs, i, d) {
        const json_t *ups = json_object_get(d, "shellUpdates");
        json_t *h = json_pack("{s:O?}", "shellRequest", json_object_get(d, "shellRequest"));
        json_object_set_new(h, "shellUpdates",
                            json_is_array(ups) ? json_deep_copy(ups) : json_array());
        json_array_append_new(list, h);
    }
    json_decref(docs);
    return list;
}

static void h_history(const as_api_config *cfg, const as_cache *c, const as_req *req,
                      as_result *out)
{
    const char *tid = param(req, "taskId");
    bool hist;
    json_t *t = task_or_404(cfg, c, tid, &hist, out);
    if (!t)
        return;
    as_answer(out, 200, as_shell_task_history(cfg, c, t));
    json_decref(t);
}

static void h_updates(const as_api_config *cfg, const as_cache *c, const as_req *req,
                      as_result *out)
{
    const char *tid = param(req, "taskId"), *name = param(req, "commandName");
    const char *ts = param(req, "commandTimestamp");
    bool hist;
    char *end = NULL;
    long long when = ts ? strtoll(ts, &end, 10) : -1;
    json_t *t;

    if (!ts || !*ts || *end || when < 0) {
        as_fail(out, 400, "commandTimestamp: must be epoch milliseconds");
        return;
    }
    if (!(t = task_or_404(cfg, c, tid, &hist, out)))
        return;
    json_t *ups = NULL;
    if (api_shell_name_valid(name)) {
        char *sid = api_shell_id(when, name);
        char *k = api_key_shell(cfg->prefix, task_request_id(t), tid, sid);
        ups = json_object_get(as_cache_value(c, k), "shellUpdates");
        free(sid);
        free(k);
    }
    as_answer(out, 200, json_is_array(ups) ? json_deep_copy(ups) : json_array());
    json_decref(t);
}

static void h_queued(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    char *p = api_key_kind_prefix(cfg->prefix, API_KEY_SHELL, NULL);
    size_t first, n = as_cache_range(c, p, &first);
    json_t *list = json_array();
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const json_t *r = json_object_get(e->value, "shellRequest");
        const char *rid =
            json_string_value(json_object_get(json_object_get(r, "taskId"), "requestId"));
        if (!r || json_object_get(e->value, "sentAt") ||
            json_array_size(json_object_get(e->value, "shellUpdates")))
            continue;
        if (rid && as_api_may_read(cfg, c, req->who, rid))
            json_array_append(list, (json_t *)r);
    }
    free(p);
    as_answer(out, 200, list);
}

void as_shell_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *out)
{
    switch (req->match->op) {
    case AS_OP_TASK_COMMAND_RUN:
        h_run(cfg, cache, req, out);
        break;
    case AS_OP_TASK_COMMANDS:
        h_history(cfg, cache, req, out);
        break;
    case AS_OP_TASK_COMMAND_UPDATES:
        h_updates(cfg, cache, req, out);
        break;
    case AS_OP_TASK_COMMANDS_QUEUED:
        h_queued(cfg, cache, req, out);
        break;
    default:
        as_fail(out, 500, "not a shell command operation");
        break;
    }
}
