/* The API's operations: input checks, reads from the cache, the writes each
 * one makes. Pure: see as_api.h. */
#include "apiserver/as_api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/keys.h"
#include "apis/machine.h"
#include "apis/request.h"
#include "apis/task.h"
#include "apis/yaml.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_compat.h"
#include "apiserver/as_shell.h"
#include "apiserver/as_memo.h"
#include "apiserver/as_model.h"
#include "apiserver/as_logs.h"
#include "apiserver/as_sandbox.h"
#include "apiserver/as_sources.h"
#include "apiserver/as_user.h"
#include "apiserver/as_webhooks.h"
#include "base/buf.h"
#include "base/xalloc.h"

/* One operation's context. */
struct viewer;

typedef struct hctx {
    const as_api_config *cfg;
    const as_cache *c;
    const as_req *req;
    as_result *out;
    json_t *body;         /* parsed body (owned), an empty object if none */
    struct viewer *view;  /* what lists and searches may show */
    int64_t total;        /* items of a paged list before paging (withmetadata) */
    json_t *kept;         /* trees made for this call (keep), freed after it */
} hctx;

/* Keeps j (stolen) until the call ends; returns it, borrowed. */
static json_t *keep(hctx *h, json_t *j)
{
    if (!j)
        return NULL;
    if (!h->kept)
        h->kept = json_array();
    json_array_append_new(h->kept, j);
    return j;
}

/* ---- input checks ------------------------------------------------------------ */

/* Field kinds of action bodies. */
enum { K_BOOL = 1, K_INT, K_NUM, K_STR, K_OBJ, K_STRLIST, K_STRMAP, K_ARR };

typedef struct fld {
    const char *name;
    int kind;
} fld;

static const char *kind_name(int k)
{
    switch (k) {
    case K_BOOL:
        return "a boolean";
    case K_INT:
        return "an integer";
    case K_NUM:
        return "a number";
    case K_STR:
        return "a string";
    case K_OBJ:
        return "an object";
    case K_STRLIST:
        return "a list of strings";
    case K_STRMAP:
        return "an object of strings";
    default:
        return "an array";
    }
}

static bool kind_ok(const json_t *v, int k)
{
    size_t i;
    const char *key;
    json_t *e;

    if (json_is_null(v))
        return true; /* absent, as Jackson reads null */
    switch (k) {
    case K_BOOL:
        return json_is_boolean(v);
    case K_INT:
        return json_is_integer(v);
    case K_NUM:
        return json_is_number(v);
    case K_STR:
        return json_is_string(v);
    case K_OBJ:
        return json_is_object(v);
    case K_ARR:
        return json_is_array(v);
    case K_STRLIST:
        if (!json_is_array(v))
            return false;
        json_array_foreach (v, i, e)
            if (!json_is_string(e))
                return false;
        return true;
    case K_STRMAP:
        if (!json_is_object(v))
            return false;
        json_object_foreach ((json_t *)v, key, e)
            if (!json_is_string(e))
                return false;
        return true;
    }
    return false;
}

/* Bodies of Singularity's operations are lenient (docs/api.md "Lenient
 * bodies"); credentials and the node agent's Corral-only calls stay strict:
 * a misspelt field there must not be dropped silently. */
static bool lenient_op(as_op op)
{
    switch (op) {
    case AS_OP_AUTH_TOKEN_POST:
    case AS_OP_AUTH_LOGIN_CODE:
    case AS_OP_AUTH_LOGIN:
    case AS_OP_NODEAGENT_UPLOAD_PUT:
    case AS_OP_NODEAGENT_TASK_PUT:
        return false;
    default:
        return true;
    }
}

/* Checks j against the field list: unknown fields and wrong types are 400s
 * naming the field (unknown fields only with strict decoding or outside
 * lenient_op: else they are the answer's warnings). */
static int check_fields(hctx *h, const json_t *j, const char *what, const fld *f, size_t n)
{
    const char *key;
    json_t *v;

    if (!json_is_object(j))
        return as_fail(h->out, 400, "%s: must be a JSON object", what);
    json_object_foreach ((json_t *)j, key, v) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(f[i].name, key) == 0)
                break;
        if (i == n && !h->req->strict && lenient_op(h->req->match->op)) {
            /* Singularity ignores what it does not know (docs/api.md) */
            if (!h->out->warnings)
                h->out->warnings = json_array();
            json_array_append_new(h->out->warnings,
                                  json_sprintf("%s.%s: unknown field ignored", what, key));
            continue;
        }
        if (i == n)
            return as_fail(h->out, 400, "%s: unknown field '%s'", what, key);
        if (!kind_ok(v, f[i].kind))
            return as_fail(h->out, 400, "%s.%s: must be %s", what, key, kind_name(f[i].kind));
    }
    return 0;
}
#define CHECK(h, j, what, arr) check_fields((h), (j), (what), (arr), sizeof(arr) / sizeof((arr)[0]))

static bool jbool(const json_t *o, const char *f, bool dflt)
{
    const json_t *v = json_object_get(o, f);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static bool has(const json_t *o, const char *f)
{
    const json_t *v = json_object_get(o, f);
    return v && !json_is_null(v);
}

/* A YAML body (as_req.yaml): exactly one document, a mapping. */
static int parse_yaml_body(hctx *h)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_doc *docs = NULL;
    size_t n = 0;
    int rc = 0;

    if (api_yaml_parse(h->req->body, h->req->body_len, "body", &docs, &n, &probs) < 0) {
        char *why = api_problems_format(&probs);
        rc = as_fail(h->out, 400, "malformed YAML: %s", why);
        free(why);
    } else if (n != 1)
        rc = as_fail(h->out, 400, "request body: one YAML document is required, got %zu", n);
    else if (!json_is_object(docs[0].root))
        rc = as_fail(h->out, 400, "request body: must be a YAML mapping");
    else
        h->body = json_incref(docs[0].root);
    api_docs_free(docs, n);
    api_problems_release(&probs);
    return rc;
}

/* Parses the body; an empty body is an empty object unless required. */
static int parse_body(hctx *h, bool required)
{
    json_error_t e;

    if (!h->req->body || h->req->body_len == 0) {
        if (required)
            return as_fail(h->out, 400, "request body: a JSON object is required");
        h->body = json_object();
        return 0;
    }
    if (h->req->yaml)
        return parse_yaml_body(h);
    h->body = json_loadb(h->req->body, h->req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!h->body)
        return as_fail(h->out, 400, "malformed JSON at line %d column %d: %s", e.line, e.column,
                       e.text);
    if (!json_is_object(h->body))
        return as_fail(h->out, 400, "request body: must be a JSON object");
    return 0;
}

/* Decodes bodies leniently unless the caller asked for strict decoding
 * (as_req.strict): points p at ign, whose findings warn_ignored turns into
 * the answer's warnings. */
static void lenient(hctx *h, api_problems *p, api_problems *ign)
{
    if (!h->req->strict)
        p->ignored = ign;
}

static void warn_ignored(hctx *h, api_problems *ign)
{
    for (size_t i = 0; i < ign->n; i++) {
        char *s = api_problem_format(&ign->v[i]);
        if (!h->out->warnings)
            h->out->warnings = json_array();
        json_array_append_new(h->out->warnings, json_string(s));
        free(s);
    }
    api_problems_release(ign);
}

static int problems_fail(hctx *h, const char *what, api_problems *p)
{
    json_t *list = json_array();
    char *first = p->n ? api_problem_format(&p->v[0]) : xstrdup("invalid");

    for (size_t i = 0; i < p->n; i++) {
        char *s = api_problem_format(&p->v[i]);
        json_array_append_new(list, json_string(s));
        free(s);
    }
    as_fail(h->out, 400, "invalid %s: %s", what, first);
    json_object_set_new(h->out->body, "problems", list);
    free(first);
    return -1;
}

/* Ids used as key components must be valid ids and never contain '/'. */
static int check_request_id(hctx *h, const char *rid)
{
    if (!rid || !api_request_id_valid(rid))
        return as_fail(h->out, 400, "invalid request id '%s': must match [a-zA-Z0-9_-]{1,%d}",
                       rid ? rid : "", API_MAX_REQUEST_ID);
    return 0;
}

/* An id from the path follows the rule of its kind (apis/common.h); ids
 * that may name nothing (task ids) only the key rule (api_key_id_valid). */
static int check_part(hctx *h, const char *what, const char *s, bool (*valid)(const char *))
{
    if (!valid(s))
        return as_fail(h->out, 400, "invalid %s '%s'", what, s ? s : "");
    return 0;
}

/* The revision a write of key must compare: the current one, so that an
 * invalid document there (which readers treat as absent) is replaced; 0
 * when there is none. */
static int64_t rev_of(hctx *h, const char *key)
{
    const as_entry *e = as_cache_get(h->c, key);
    return e ? e->mod_revision : 0;
}

/* Parses a non-negative integer query parameter; dflt if absent. */
static int query_int(hctx *h, const char *name, int64_t dflt, int64_t min, int64_t max,
                     int64_t *out)
{
    const char *s = as_req_query(h->req, name);
    char *end;
    long long v;

    *out = dflt;
    if (!s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return as_fail(h->out, 400,
                       "query parameter %s: must be an integer in [%" PRId64 ", %" PRId64 "]", name,
                       min, max);
    *out = v;
    return 0;
}

static int query_bool(hctx *h, const char *name, bool *out)
{
    const char *s = as_req_query(h->req, name);
    *out = false;
    if (!s)
        return 0;
    if (strcmp(s, "true") == 0 || strcmp(s, "") == 0)
        *out = true;
    else if (strcmp(s, "false") != 0)
        return as_fail(h->out, 400, "query parameter %s: must be true or false", name);
    return 0;
}

/* ---- shared pieces --------------------------------------------------------------- */

static void ok(hctx *h, int status, json_t *body)
{
    as_answer(h->out, status, body);
}

/* Adds user and timestamp to an intent document. */
static void stamp(hctx *h, json_t *doc)
{
    json_object_set_new(doc, "timestamp", json_integer(h->req->now));
    if (h->req->user)
        json_object_set_new(doc, "user", json_string(h->req->user));
}

/* Copies the listed fields of src that are present into dst. */
static void copy_fields(json_t *dst, const json_t *src, const fld *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (has(src, f[i].name))
            json_object_set(dst, f[i].name, json_object_get(src, f[i].name));
}

/* Request history kept per request (older events are dropped as new ones
 * are written), so etcd stays small. */
#define MAX_REQUEST_HISTORY 100

static void history_event(hctx *h, const char *rid, const char *type, const json_t *request,
                          const char *message)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_HISTORY_REQUEST, rid);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    char *k = api_key_history_request_event(h->cfg->prefix, rid, h->req->now, type);

    /* Keys sort by time: drop the oldest beyond the bound (a few per write). */
    for (size_t i = 0; n >= MAX_REQUEST_HISTORY && i <= n - MAX_REQUEST_HISTORY && i < 8; i++)
        as_txn_del(&h->out->txn, as_cache_at(h->c, first + i)->key);
    free(prefix);
    json_t *ev = json_pack("{s:I, s:s, s:O?}", "createdAt", (json_int_t)h->req->now, "eventType",
                           type, "request", request);

    if (h->req->user)
        json_object_set_new(ev, "user", json_string(h->req->user));
    if (message)
        json_object_set_new(ev, "message", json_string(message));
    as_txn_put(&h->out->txn, k, ev);
    json_decref(ev);
    free(k);
}

/* history_event with request entry e's value (a text is parsed). */
static void history_event_of(hctx *h, const char *rid, const char *type, const as_entry *e,
                             const char *message)
{
    json_t *request = as_m_entry_json(e);

    history_event(h, rid, type, request, message);
    json_decref(request);
}

static char *request_key(hctx *h, const char *rid)
{
    return api_key_request(h->cfg->prefix, rid);
}

static char *intent_key(hctx *h, const char *rid, const char *name)
{
    return api_key_intent_request(h->cfg->prefix, rid, name);
}

/* The request entry or a 404. */
/* ---- authorization (as_auth.h) -------------------------------------------------------
 *
 * Every operation is checked against its route's access class before it
 * runs: paths that name a request (its id, or a task or pending task of
 * it) are judged by that request's groups; the three operations whose body
 * names the request (POST /api/requests, /api/deploys, /api/deploys/update)
 * check it once they have decoded it; lists and searches show only what
 * the caller may read. */

static const as_auth_policy *auth_policy(const as_api_config *cfg)
{
    const as_auth_policy *p = cfg->auth ? as_auth_policy_of(cfg->auth) : NULL;
    return p && p->enabled ? p : NULL;
}

static bool deny(hctx *h, const as_verdict *v)
{
    as_fail(h->out, v->status, "%s", v->message);
    return false;
}

/* The request whose groups decide about rid: the live one, else the one
 * its newest history event recorded (a deleted request keeps its owners),
 * else NULL (an unknown request: the operation answers 404 itself). *owned
 * gets what the caller must free. */
static const api_request *owners_of(const as_api_config *cfg, const as_cache *c, const char *rid,
                                    api_request **owned)
{
    char *k = api_key_request(cfg->prefix, rid);
    const as_entry *e = as_cache_get(c, k);
    size_t first, n;

    free(k);
    *owned = NULL;
    if (e && e->doc)
        return e->doc;
    k = api_key_kind_prefix(cfg->prefix, API_KEY_HISTORY_REQUEST, rid);
    n = as_cache_range(c, k, &first);
    free(k);
    for (size_t i = first + n; i > first; i--) {
        const json_t *r = json_object_get(as_cache_at(c, i - 1)->value, "request");
        static const api_decode_opts lenient = {.allow_unknown = true, .no_validate = true};
        api_problems probs = API_PROBLEMS_INIT;
        if (!json_is_object(r))
            continue;
        *owned = api_request_from_json(r, &lenient, &probs);
        api_problems_release(&probs);
        if (*owned)
            break;
    }
    return *owned;
}

/* May the caller do access (with action) to request rid? Answers the
 * refusal itself. */
static bool may(hctx *h, as_access access, const char *rid, const char *action)
{
    const as_auth_policy *p = auth_policy(h->cfg);
    api_request *owned = NULL;
    const api_request *req;
    as_verdict v;
    bool allowed;

    if (!p)
        return true;
    req = rid && api_request_id_valid(rid) ? owners_of(h->cfg, h->c, rid, &owned) : NULL;
    allowed = as_auth_check(p, h->req->who, access, rid, req, action, &v);
    api_request_free(owned);
    return allowed || deny(h, &v);
}

/* May the caller make request rid into upd (as_auth_check_change)? */
static bool may_change(hctx *h, const char *rid, const api_request *upd)
{
    const as_auth_policy *p = auth_policy(h->cfg);
    api_request *owned = NULL;
    const api_request *old;
    as_verdict v;
    bool allowed;

    if (!p)
        return true;
    old = owners_of(h->cfg, h->c, rid, &owned);
    allowed = as_auth_check_change(p, h->req->who, old, upd, &v);
    api_request_free(owned);
    return allowed || deny(h, &v);
}

/* Whether a list or search shows rid's items to the caller. */
typedef struct viewer {
    const as_api_config *cfg;
    const as_identity *who;
    char *last; /* the last request asked about, and the answer */
    bool last_ok;
} viewer;

static bool viewer_sees(viewer *v, const as_cache *c, const char *rid)
{
    const as_auth_policy *p;
    api_request *owned = NULL;
    const api_request *req;

    if (!v)
        return true; /* only lists without a caller (tests, as_api_state) */
    p = auth_policy(v->cfg);
    if (!p || as_auth_is_admin(p, v->who))
        return true;
    if (!rid || !v->who)
        return false;
    if (v->last && strcmp(v->last, rid) == 0)
        return v->last_ok; /* keys of one request come together */
    req = owners_of(v->cfg, c, rid, &owned);
    free(v->last);
    v->last = xstrdup(rid);
    /* Items of a request nobody owns any more are for admins. */
    v->last_ok = req && as_auth_can_read(p, v->who, req);
    api_request_free(owned);
    return v->last_ok;
}

static void viewer_release(viewer *v)
{
    free(v->last);
    v->last = NULL;
}

/* The request rid of the task id tid (caller frees), or NULL. */
static char *task_request_id(const char *tid)
{
    api_task_id t;
    cr_err err;
    char *rid = NULL;

    if (tid && api_task_id_parse(tid, &t, &err) == 0) {
        rid = xstrdup(t.requestId);
        api_task_id_release(&t);
    }
    return rid;
}

static char *pending_request_id(const char *ptid)
{
    api_pending_task_id t;
    cr_err err;
    char *rid = NULL;

    if (ptid && api_pending_task_id_parse(ptid, &t, &err) == 0) {
        rid = xstrdup(t.requestId);
        api_pending_task_id_release(&t);
    }
    return rid;
}

/* Checks the route's access class for the request its path names. */
static bool authorize(hctx *h)
{
    const as_match *m = h->req->match;
    const as_auth_policy *p = auth_policy(h->cfg);
    const char *tid = as_match_param(m, "taskId");
    const char *ptid = as_match_param(m, "pendingTaskId");
    char *rid = NULL;
    as_verdict v;
    bool allowed;

    if (!p || m->access == AS_ACCESS_OPEN || (m->op == AS_OP_METRICS && p->metrics_open))
        return true;
    if (m->access != AS_ACCESS_READ && m->access != AS_ACCESS_WRITE) {
        if (!as_auth_check(p, h->req->who, m->access, NULL, NULL, NULL, &v))
            return deny(h, &v);
        return true;
    }
    if (!h->req->who) {
        as_auth_check(p, NULL, m->access, NULL, NULL, NULL, &v);
        return deny(h, &v);
    }
    if (as_match_param(m, "requestId")) {
        rid = xstrdup(as_match_param(m, "requestId"));
    } else if (tid) {
        if (!(rid = task_request_id(tid))) {
            as_fail(h->out, 400, "invalid task id '%.200s'", tid);
            return false;
        }
    } else if (ptid) {
        if (!(rid = pending_request_id(ptid))) {
            as_fail(h->out, 400, "invalid pending task id '%.200s'", ptid);
            return false;
        }
    } else if ((m->op == AS_OP_HIST_TASKS || m->op == AS_OP_HIST_TASKS_META) &&
               as_req_query(h->req, "requestId")) {
        rid = xstrdup(as_req_query(h->req, "requestId"));
    }
    allowed = !rid ? true : may(h, m->access, rid, m->action);
    free(rid);
    return allowed;
}

static const as_entry *need_request(hctx *h, const char *rid)
{
    char *k;
    const as_entry *e;

    if (check_request_id(h, rid) < 0)
        return NULL;
    k = request_key(h, rid);
    e = as_cache_get(h->c, k);
    free(k);
    if (!as_m_entry_object(e)) {
        as_fail(h->out, 404, "Couldn't find request with id %s", rid);
        return NULL;
    }
    return e;
}

static api_request *decode_loose(const json_t *j)
{
    api_decode_opts o = {.allow_unknown = true, .no_validate = true};
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = api_request_from_json(j, &o, &p);
    api_problems_release(&p);
    return r;
}

/* decode_loose of request entry e's value (a text is parsed), or NULL. */
static api_request *decode_loose_entry(const as_entry *e)
{
    json_t *j = as_m_entry_json(e);
    api_request *r = j ? decode_loose(j) : NULL;

    json_decref(j);
    return r;
}

static bool is_paused(hctx *h, const char *rid)
{
    const char *s = as_m_request_state(h->cfg, h->c, rid);
    return as_m_intent(h->cfg, h->c, rid, "pause") || (s && strcmp(s, "PAUSED") == 0);
}

/* Responds with the request's parent object once the writes are visible;
 * fallback is the parent computed from the current cache with `request`
 * replaced by req (may be NULL). */
static void respond_parent(hctx *h, const char *rid, const json_t *req)
{
    json_t *p = as_m_request_parent(h->cfg, h->c, rid);

    if (!p)
        p = json_pack("{s:s}", "state", "ACTIVE");
    if (req)
        json_object_set(p, "request", (json_t *)req);
    ok(h, 200, p);
    h->out->render_parent = xstrdup(rid);
}

/* Singularity's scale-down guard (sheet 1.4). */
static int scale_guard(hctx *h, const api_request *old, int old_n, int new_n, bool acked)
{
    int max = h->cfg->max_scale_down_unacked > 0 ? h->cfg->max_scale_down_unacked : 10;

    if (acked || old->type == API_ON_DEMAND || new_n >= old_n)
        return 0;
    if (old_n - new_n > max || (old_n > max && new_n < old_n / 2))
        return as_fail(h->out, 400,
                       "scaling %s down from %d to %d instances needs "
                       "largeScaleDownAcknowledged=true",
                       old->id, old_n, new_n);
    return 0;
}

/* ---- requests ----------------------------------------------------------------------- */

static void h_req_post(hctx *h)
{
    api_problems probs = API_PROBLEMS_INIT, ign = API_PROBLEMS_INIT;
    api_request *r = NULL, *old = NULL;
    const as_entry *e;
    json_t *canon = NULL;
    char *k = NULL;
    bool acked;

    if (parse_body(h, true) < 0 || query_bool(h, "largeScaleDownAcknowledged", &acked) < 0)
        goto out;
    lenient(h, &probs, &ign);
    r = api_request_from_json(h->body, NULL, &probs);
    warn_ignored(h, &ign);
    if (!r) {
        problems_fail(h, "request", &probs);
        goto out;
    }
    acked = acked || (r->has_largeScaleDownAcknowledged && r->largeScaleDownAcknowledged);
    k = request_key(h, r->id);
    e = as_cache_get(h->c, k);
    if (e && (old = decode_loose_entry(e))) {
        bool old_lb = old->has_loadBalanced && old->loadBalanced;
        bool new_lb = r->has_loadBalanced && r->loadBalanced;
        if (old->type != r->type) {
            bool swap = (old->type == API_SERVICE || old->type == API_WORKER) &&
                        (r->type == API_SERVICE || r->type == API_WORKER) && !old_lb && !new_lb;
            if (!swap) {
                as_fail(h->out, 400, "request %s: requestType can not change from %s to %s", r->id,
                        api_request_type_name(old->type), api_request_type_name(r->type));
                goto out;
            }
        }
        if (old_lb != new_lb) {
            as_fail(h->out, 400, "request %s: loadBalanced can not change", r->id);
            goto out;
        }
        if (scale_guard(h, old, api_request_eff_instances(old), api_request_eff_instances(r),
                        acked) < 0)
            goto out;
    }
    if (!may_change(h, r->id, r))
        goto out;
    /* The flag is an input-only acknowledgement, never stored. */
    r->has_largeScaleDownAcknowledged = false;
    canon = api_request_to_json(r);
    as_txn_cmp(&h->out->txn, k, e ? e->mod_revision : 0);
    as_txn_put(&h->out->txn, k, canon);
    history_event(h, r->id, e ? "UPDATED" : "CREATED", canon, NULL);
    respond_parent(h, r->id, canon);
out:
    api_problems_release(&probs);
    api_request_free(r);
    api_request_free(old);
    json_decref(canon);
    free(k);
}

/* SingularityUpdateGroupsRequest: replaces the request's group,
 * readWriteGroups and readOnlyGroups (an absent one is cleared, as in
 * Singularity). With check_only (.../groups/auth-check) nothing is
 * written: 200 with no body when the caller may make the change. */
static const fld groups_fields[] = {{"group", K_STR},
                                    {"readWriteGroups", K_STRLIST},
                                    {"readOnlyGroups", K_STRLIST},
                                    {"message", K_STR}};

static void h_req_groups(hctx *h, bool check_only)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    api_problems probs = API_PROBLEMS_INIT;
    api_request *upd = NULL;
    json_t *doc = NULL;
    char *k = NULL;

    if (!e || parse_body(h, true) < 0 || CHECK(h, h->body, "groups", groups_fields) < 0)
        goto out;
    doc = as_m_entry_copy(e);
    for (size_t i = 0; i < 3; i++) {
        const char *f = groups_fields[i].name;
        if (has(h->body, f))
            json_object_set(doc, f, json_object_get(h->body, f));
        else
            json_object_del(doc, f);
    }
    upd = api_request_from_json(doc, &(api_decode_opts){.allow_unknown = true}, &probs);
    if (!upd) {
        problems_fail(h, "groups", &probs);
        goto out;
    }
    if (!may_change(h, rid, upd))
        goto out;
    if (check_only) {
        ok(h, 200, NULL);
        goto out;
    }
    k = request_key(h, rid);
    as_txn_cmp(&h->out->txn, k, e->mod_revision);
    as_txn_put(&h->out->txn, k, doc);
    history_event(h, rid, "UPDATED", doc, as_jstr(h->body, "message"));
    respond_parent(h, rid, doc);
out:
    api_problems_release(&probs);
    api_request_free(upd);
    json_decref(doc);
    free(k);
}

/* SingularityPriorityRequest: sets the request's taskPriorityLevel (admins
 * only, as in Singularity); an absent priority clears it. An expiring
 * change (durationMillis) needs the controllers to revert it and is
 * refused until they do (docs/api.md). DELETE .../priority makes an
 * expiring change permanent: there never is one, so it is a 404. */
static const fld priority_fields[] = {{"priority", K_NUM},
                                      {"durationMillis", K_INT},
                                      {"actionId", K_STR},
                                      {"message", K_STR},
                                      {"skipEmailNotification", K_BOOL}};

static void h_req_priority(hctx *h, bool cancel)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    api_problems probs = API_PROBLEMS_INIT;
    api_request *upd = NULL;
    json_t *doc = NULL;
    char *k = NULL;

    if (!e)
        return;
    if (cancel) {
        as_fail(h->out, 404, "request %s has no expiring priority change", rid);
        return;
    }
    if (parse_body(h, true) < 0 || CHECK(h, h->body, "priority", priority_fields) < 0)
        goto out;
    if (has(h->body, "durationMillis")) {
        as_fail(h->out, 400, "priority.durationMillis: expiring priority changes are not "
                             "supported yet");
        goto out;
    }
    doc = as_m_entry_copy(e);
    if (has(h->body, "priority"))
        json_object_set(doc, "taskPriorityLevel", json_object_get(h->body, "priority"));
    else
        json_object_del(doc, "taskPriorityLevel");
    upd = api_request_from_json(doc, &(api_decode_opts){.allow_unknown = true}, &probs);
    if (!upd) {
        problems_fail(h, "priority", &probs);
        goto out;
    }
    k = request_key(h, rid);
    as_txn_cmp(&h->out->txn, k, e->mod_revision);
    as_txn_put(&h->out->txn, k, doc);
    history_event(h, rid, "UPDATED", doc, as_jstr(h->body, "message"));
    respond_parent(h, rid, doc);
out:
    api_problems_release(&probs);
    api_request_free(upd);
    json_decref(doc);
    free(k);
}

/* ---- lists written in pieces (as_api.h) ------------------------------------------------ */

typedef enum { L_REQUESTS, L_TASKS, L_PENDING, L_CLEANUPS } list_kind;

struct as_list {
    const as_api_config *cfg;
    as_op op;
    list_kind kind;
    char *prefix; /* the keys walked */
    char *next;   /* where to go on: see seek() */
    char *type;   /* requestType filter, or NULL */
    char *agent;  /* agentId filter, or NULL */
    bool ids;     /* ids only */
    int64_t limit, emitted;
    bool started, done;
    as_identity who; /* a copy: the list outlives its request */
    viewer view;     /* what the caller may see */
};

bool as_list_op(as_op op)
{
    switch (op) {
    case AS_OP_REQ_LIST:
    case AS_OP_REQ_LIST_ACTIVE:
    case AS_OP_REQ_LIST_PAUSED:
    case AS_OP_REQ_LIST_COOLDOWN:
    case AS_OP_REQ_LIST_FINISHED:
    case AS_OP_TASKS_ACTIVE:
    case AS_OP_TASKS_ACTIVE_IDS:
    case AS_OP_TASKS_ACTIVE_AGENT:
    case AS_OP_TASKS_ACTIVE_AGENT_IDS:
    case AS_OP_TASKS_SCHEDULED:
    case AS_OP_TASKS_SCHEDULED_IDS:
    case AS_OP_TASKS_SCHEDULED_REQUEST:
    case AS_OP_TASKS_CLEANING:
        return true;
    default:
        return false;
    }
}

as_list *as_list_new(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *err)
{
    hctx h = {cfg, cache, req, err, NULL, NULL};
    as_op op = req->match->op;
    const char *type = as_req_query(req, "requestType");
    const char *agent = as_match_param(req->match, "agentId");
    const char *rid = as_match_param(req->match, "requestId");
    int64_t limit = INT64_MAX;
    as_list *l;

    memset(err, 0, sizeof(*err));
    if (!authorize(&h))
        return NULL;
    switch (op) {
    case AS_OP_REQ_LIST:
    case AS_OP_REQ_LIST_ACTIVE:
    case AS_OP_REQ_LIST_PAUSED:
    case AS_OP_REQ_LIST_COOLDOWN:
    case AS_OP_REQ_LIST_FINISHED:
        if (query_int(&h, "limit", INT64_MAX, 0, INT64_MAX, &limit) < 0)
            return NULL;
        if (type && api_request_type_parse(type) == API_REQUEST_TYPE_UNSET) {
            as_fail(err, 400, "query parameter requestType: unknown type '%s'", type);
            return NULL;
        }
        break;
    case AS_OP_TASKS_ACTIVE_AGENT:
    case AS_OP_TASKS_ACTIVE_AGENT_IDS:
        if (check_part(&h, "agent id", agent, api_agent_id_valid) < 0)
            return NULL;
        break;
    case AS_OP_TASKS_SCHEDULED_REQUEST:
        if (check_request_id(&h, rid) < 0)
            return NULL;
        break;
    default:
        if (!as_list_op(op)) {
            as_fail(err, 500, "not a list operation");
            return NULL;
        }
        break;
    }
    l = xcalloc(1, sizeof(*l));
    l->cfg = cfg;
    l->op = op;
    l->limit = limit;
    l->view.cfg = cfg;
    if (req->who) {
        api_user_copy(&l->who.user, &req->who->user);
        l->who.via = req->who->via;
        l->who.expires_at = req->who->expires_at;
        l->view.who = &l->who;
    }
    switch (op) {
    case AS_OP_TASKS_ACTIVE:
    case AS_OP_TASKS_ACTIVE_IDS:
    case AS_OP_TASKS_ACTIVE_AGENT:
    case AS_OP_TASKS_ACTIVE_AGENT_IDS:
        l->kind = L_TASKS;
        l->prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, NULL);
        l->ids = op == AS_OP_TASKS_ACTIVE_IDS || op == AS_OP_TASKS_ACTIVE_AGENT_IDS;
        if (op == AS_OP_TASKS_ACTIVE_AGENT || op == AS_OP_TASKS_ACTIVE_AGENT_IDS)
            l->agent = xstrdup(agent);
        break;
    case AS_OP_TASKS_SCHEDULED:
    case AS_OP_TASKS_SCHEDULED_IDS:
    case AS_OP_TASKS_SCHEDULED_REQUEST:
        l->kind = L_PENDING;
        l->prefix = api_key_kind_prefix(cfg->prefix, API_KEY_PENDING,
                                        op == AS_OP_TASKS_SCHEDULED_REQUEST ? rid : NULL);
        l->ids = op == AS_OP_TASKS_SCHEDULED_IDS;
        break;
    case AS_OP_TASKS_CLEANING:
        l->kind = L_CLEANUPS;
        l->prefix = api_key_kind_prefix(cfg->prefix, API_KEY_CLEANUP, NULL);
        break;
    default:
        l->kind = L_REQUESTS;
        l->prefix = api_key_kind_prefix(cfg->prefix, API_KEY_REQUEST, NULL);
        l->type = type ? xstrdup(type) : NULL;
        break;
    }
    /* Keys hold no control characters, so no key starts with prefix+"\x01"
     * and the first key under prefix is the first one >= it. */
    l->next = xasprintf("%s\x01", l->prefix);
    return l;
}

void as_list_free(as_list *l)
{
    if (!l)
        return;
    free(l->prefix);
    free(l->next);
    free(l->type);
    free(l->agent);
    as_identity_release(&l->who);
    viewer_release(&l->view);
    free(l);
}

/* The position of the next entry to examine, in O(log n): as_cache_range
 * gives the first key >= its prefix (and counts the keys under it: none,
 * for l->next, a key plus "\x01"). */
static size_t seek(const as_list *l, const as_cache *c)
{
    size_t i;
    as_cache_range(c, l->next, &i);
    return i;
}

static int dump_to_buf(const char *data, size_t len, void *arg)
{
    cr_buf_add(arg, data, len);
    return 0;
}

static void emit_text(as_list *l, cr_buf *out, const char *json, size_t len)
{
    if (l->emitted++)
        cr_buf_addch(out, ',');
    cr_buf_add(out, json, len);
}

static void emit_json(as_list *l, cr_buf *out, const json_t *j)
{
    if (l->emitted++)
        cr_buf_addch(out, ',');
    json_dump_callback(j, dump_to_buf, out, AS_JSON_FLAGS);
}

static bool state_matches(const char *state, as_op op)
{
    switch (op) {
    case AS_OP_REQ_LIST_ACTIVE:
        return strcmp(state, "ACTIVE") == 0 || strcmp(state, "DEPLOYING_TO_UNPAUSE") == 0;
    case AS_OP_REQ_LIST_PAUSED:
        return strcmp(state, "PAUSED") == 0;
    case AS_OP_REQ_LIST_COOLDOWN:
        return strcmp(state, "SYSTEM_COOLDOWN") == 0;
    case AS_OP_REQ_LIST_FINISHED:
        return strcmp(state, "FINISHED") == 0;
    default:
        return true;
    }
}

/* Appends request e's parent if it belongs in the list. */
static void emit_request(as_list *l, const as_cache *c, const as_entry *e, cr_buf *out)
{
    const char *type = as_m_request_type(e);
    as_memo_parent mp;
    json_t *p;

    if (e->kind != API_KEY_REQUEST || !e->id1 || !as_m_entry_object(e) ||
        (l->type && (!type || strcmp(type, l->type) != 0)))
        return;
    if (l->cfg->memo) {
        if (as_memo_request_parent(l->cfg->memo, l->cfg, e, &mp) && state_matches(mp.state, l->op))
            emit_text(l, out, mp.json, mp.len);
        return;
    }
    if (!state_matches(as_m_request_state(l->cfg, c, e->id1), l->op) ||
        !(p = as_m_request_parent(l->cfg, c, e->id1)))
        return;
    emit_json(l, out, p);
    json_decref(p);
}

/* Appends task record e if it belongs in the list. The cache keeps task
 * records as text: it is walked and its bytes copied (as_task), not parsed
 * and dumped. */
static void emit_task(as_list *l, const as_cache *c, const as_entry *e, cr_buf *out)
{
    as_task t;

    if (as_task_open(&t, e) && as_task_active(&t) &&
        (!l->agent || (t.agent && strcmp(t.agent, l->agent) == 0))) {
        as_task_text(&t);
        if (!l->ids) {
            if (l->emitted++)
                cr_buf_addch(out, ',');
            as_task_view_dump(l->cfg, c, &t, out);
        } else if (t.task_id.p) {
            if (l->emitted++)
                cr_buf_addch(out, ',');
            api_jtext_dump(t.task_id, AS_JSON_FLAGS, out);
        }
    }
    as_task_close(&t);
}

/* Appends pending task e if it belongs in the list (the cache keeps one
 * that decodes as text: as_pending). */
static void emit_pending(as_list *l, const as_cache *c, const as_entry *e, cr_buf *out)
{
    as_pending p;

    if (!as_pending_open(&p, e) || (l->ids && !p.has_id))
        return;
    if (l->emitted++)
        cr_buf_addch(out, ',');
    if (l->ids)
        as_pending_id_dump(&p, out);
    else
        as_pending_task_request_dump(l->cfg, c, &p, out);
}

static void emit(as_list *l, const as_cache *c, const as_entry *e, cr_buf *out)
{
    const json_t *v = e->value;

    if (auth_policy(l->cfg)) {
        char *rid = l->kind == L_CLEANUPS ? task_request_id(e->id1) : NULL;
        bool sees = viewer_sees(&l->view, c, l->kind == L_CLEANUPS ? rid : e->id1);
        free(rid);
        if (!sees)
            return;
    }

    switch (l->kind) {
    case L_REQUESTS:
        emit_request(l, c, e, out);
        break;
    case L_TASKS:
        emit_task(l, c, e, out);
        break;
    case L_PENDING:
        emit_pending(l, c, e, out);
        break;
    case L_CLEANUPS:
        if (json_is_object(v))
            emit_json(l, out, v);
        break;
    }
}

bool as_list_next(as_list *l, const as_cache *c, cr_buf *out, size_t max_items)
{
    size_t plen = strlen(l->prefix), i = 0;
    const as_entry *e, *last = NULL;

    if (l->done)
        return true;
    if (!l->started) {
        cr_buf_addch(out, '[');
        l->started = true;
    }
    if (max_items > 0)
        i = seek(l, c);
    for (size_t k = 0; k < max_items; k++, i++) {
        e = as_cache_at(c, i);
        if (l->emitted >= l->limit || !e || strncmp(e->key, l->prefix, plen) != 0) {
            cr_buf_addch(out, ']');
            l->done = true;
            break;
        }
        emit(l, c, e, out);
        last = e;
    }
    if (last) {
        free(l->next);
        l->next = xasprintf("%s\x01", last->key);
    }
    return l->done;
}

/* The list operations through as_api_handle: the whole list at once. */
static void h_list(hctx *h)
{
    as_list *l = as_list_new(h->cfg, h->c, h->req, h->out);
    cr_buf b = CR_BUF_INIT;
    json_error_t je;
    json_t *list;

    if (!l)
        return;
    while (!as_list_next(l, h->c, &b, 4096))
        ;
    list = json_loadb(b.data, b.len, 0, &je);
    if (list)
        ok(h, 200, list);
    else
        as_fail(h->out, 500, "list encoding: %s", je.text);
    cr_buf_release(&b);
    as_list_free(l);
}

/* The parent as the memo keeps it (with its ETag, as the server would
 * work it out from the parent's request), else built now. */
static void h_req_get(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    as_memo_parent mp;
    uint32_t etag;

    if (!e)
        return;
    if (h->cfg->memo && as_memo_request_parent(h->cfg->memo, h->cfg, e, &mp) &&
        as_memo_request_etag(h->cfg->memo, h->cfg, e, &etag)) {
        ok(h, 200, NULL);
        h->out->json = xmalloc(mp.len + 1);
        memcpy(h->out->json, mp.json, mp.len);
        h->out->json[mp.len] = '\0';
        h->out->json_len = mp.len;
        h->out->json_etag = etag;
        return;
    }
    ok(h, 200, as_m_request_parent(h->cfg, h->c, rid));
}

static const fld delete_fields[] = {
    {"message", K_STR}, {"actionId", K_STR}, {"deleteFromLoadBalancer", K_BOOL}};

static void h_req_delete(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    char *k, *ip;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "delete request", delete_fields) < 0)
        return;
    k = request_key(h, rid);
    as_txn_cmp(&h->out->txn, k, e->mod_revision);
    as_txn_del(&h->out->txn, k);
    ip = api_key_kind_prefix(h->cfg->prefix, API_KEY_INTENT_REQUEST, rid);
    as_txn_del_prefix(&h->out->txn, ip);
    free(ip);
    ip = api_key_kind_prefix(h->cfg->prefix, API_KEY_RUN, rid);
    as_txn_del_prefix(&h->out->txn, ip);
    free(ip);
    history_event_of(h, rid, "DELETING", e, as_jstr(h->body, "message"));
    ok(h, 200, as_m_entry_copy(e));
    free(k);
}

static const fld scale_fields[] = {{"instances", K_INT},
                                   {"durationMillis", K_INT},
                                   {"skipHealthchecks", K_BOOL},
                                   {"actionId", K_STR},
                                   {"message", K_STR},
                                   {"bounce", K_BOOL},
                                   {"incremental", K_BOOL},
                                   {"skipEmailNotification", K_BOOL},
                                   {"largeScaleDownAcknowledged", K_BOOL}};

static void h_req_scale(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    api_problems probs = API_PROBLEMS_INIT;
    api_request *old = NULL, *upd = NULL;
    json_t *doc = NULL;
    char *k = NULL, *ik = NULL;
    bool acked;

    if (!e || parse_body(h, true) < 0 || CHECK(h, h->body, "scale", scale_fields) < 0 ||
        query_bool(h, "largeScaleDownAcknowledged", &acked) < 0)
        goto out;
    if (!json_is_integer(json_object_get(h->body, "instances"))) {
        as_fail(h->out, 400, "scale.instances: required");
        goto out;
    }
    if (has(h->body, "durationMillis") &&
        json_integer_value(json_object_get(h->body, "durationMillis")) <= 0) {
        as_fail(h->out, 400, "scale.durationMillis: must be > 0");
        goto out;
    }
    acked = acked || jbool(h->body, "largeScaleDownAcknowledged", false);
    doc = as_m_entry_copy(e);
    json_object_set(doc, "instances", json_object_get(h->body, "instances"));
    old = decode_loose_entry(e);
    upd = api_request_from_json(doc, &(api_decode_opts){.allow_unknown = true}, &probs);
    if (!upd) {
        problems_fail(h, "scale", &probs);
        goto out;
    }
    if (old && scale_guard(h, old, api_request_eff_instances(old), upd->instances, acked) < 0)
        goto out;
    if (old && api_request_eff_instances(old) == api_request_eff_instances(upd)) {
        /* as Singularity: a scale that changes nothing is a mistake */
        as_fail(h->out, 400, "scale: request %s already has %d instances; nothing to change", rid,
                api_request_eff_instances(upd));
        goto out;
    }
    k = request_key(h, rid);
    ik = intent_key(h, rid, "scale");
    as_txn_cmp(&h->out->txn, k, e->mod_revision);
    as_txn_put(&h->out->txn, k, doc);
    if (has(h->body, "durationMillis")) {
        json_t *in = json_object();
        copy_fields(in, h->body, scale_fields, sizeof(scale_fields) / sizeof(scale_fields[0]));
        json_object_set_new(in, "previousInstances",
                            json_integer(old ? api_request_eff_instances(old) : 1));
        stamp(h, in);
        as_txn_put(&h->out->txn, ik, in);
        json_decref(in);
    } else {
        as_txn_del(&h->out->txn, ik);
    }
    /* Singularity: the scale's `bounce`, else the request's bounceAfterScale */
    if (has(h->body, "bounce") ? jbool(h->body, "bounce", false) : upd->bounceAfterScale) {
        char *bk = intent_key(h, rid, "bounce");
        json_t *b = json_pack("{s:b}", "incremental", jbool(h->body, "incremental", false));
        if (has(h->body, "message"))
            json_object_set(b, "message", json_object_get(h->body, "message"));
        stamp(h, b);
        as_txn_put(&h->out->txn, bk, b);
        json_decref(b);
        free(bk);
    }
    history_event(h, rid, "SCALED", doc, as_jstr(h->body, "message"));
    respond_parent(h, rid, doc);
out:
    api_problems_release(&probs);
    api_request_free(old);
    api_request_free(upd);
    json_decref(doc);
    free(k);
    free(ik);
}

static const fld skiphc_fields[] = {{"skipHealthchecks", K_BOOL},
                                    {"durationMillis", K_INT},
                                    {"actionId", K_STR},
                                    {"message", K_STR}};

static void h_req_skiphc(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    json_t *doc;
    char *k, *ik;
    bool previous;

    if (!e || parse_body(h, true) < 0 || CHECK(h, h->body, "skipHealthchecks", skiphc_fields) < 0)
        return;
    if (!json_is_boolean(json_object_get(h->body, "skipHealthchecks"))) {
        as_fail(h->out, 400, "skipHealthchecks.skipHealthchecks: required");
        return;
    }
    doc = as_m_entry_copy(e);
    previous = jbool(doc, "skipHealthchecks", false);
    json_object_set(doc, "skipHealthchecks", json_object_get(h->body, "skipHealthchecks"));
    k = request_key(h, rid);
    ik = intent_key(h, rid, "skip-healthchecks");
    as_txn_cmp(&h->out->txn, k, e->mod_revision);
    as_txn_put(&h->out->txn, k, doc);
    if (has(h->body, "durationMillis")) {
        json_t *in = json_object();
        copy_fields(in, h->body, skiphc_fields, sizeof(skiphc_fields) / sizeof(skiphc_fields[0]));
        json_object_set_new(in, "previous", json_boolean(previous));
        stamp(h, in);
        as_txn_put(&h->out->txn, ik, in);
        json_decref(in);
    } else {
        as_txn_del(&h->out->txn, ik);
    }
    history_event(h, rid, "UPDATED", doc, as_jstr(h->body, "message"));
    respond_parent(h, rid, doc);
    json_decref(doc);
    free(k);
    free(ik);
}

/* DELETE .../scale|skip-healthchecks|pause|bounce: the action stays, its
 * expiry goes. */
static void h_req_cancel_expiry(hctx *h, const char *intent)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const json_t *in;
    char *ik;

    if (!need_request(h, rid))
        return;
    in = as_m_intent(h->cfg, h->c, rid, intent);
    if (!in || !has(in, "durationMillis")) {
        as_fail(h->out, 404, "request %s has no expiring %s", rid, intent);
        return;
    }
    ik = intent_key(h, rid, intent);
    as_txn_cmp(&h->out->txn, ik, as_cache_get(h->c, ik)->mod_revision);
    if (strcmp(intent, "pause") == 0 || strcmp(intent, "bounce") == 0) {
        json_t *doc = json_deep_copy(in);
        json_object_del(doc, "durationMillis");
        as_txn_put(&h->out->txn, ik, doc);
        json_decref(doc);
    } else {
        as_txn_del(&h->out->txn, ik);
    }
    respond_parent(h, rid, NULL);
    free(ik);
}

static const fld pause_fields[] = {{"killTasks", K_BOOL},
                                   {"durationMillis", K_INT},
                                   {"actionId", K_STR},
                                   {"message", K_STR},
                                   {"runShellCommandBeforeKill", K_OBJ}};

static void h_req_pause(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    json_t *in;
    char *ik;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "pause", pause_fields) < 0)
        return;
    if (is_paused(h, rid)) {
        as_fail(h->out, 409,
                "Request %s is paused. Unable to pause it (it must be manually unpaused first)",
                rid);
        return;
    }
    in = json_object();
    copy_fields(in, h->body, pause_fields, sizeof(pause_fields) / sizeof(pause_fields[0]));
    json_object_set_new(in, "killTasks", json_boolean(jbool(h->body, "killTasks", true)));
    stamp(h, in);
    ik = intent_key(h, rid, "pause");
    as_txn_cmp(&h->out->txn, ik, rev_of(h, ik));
    as_txn_put(&h->out->txn, ik, in);
    history_event_of(h, rid, "PAUSED", e, as_jstr(h->body, "message"));
    respond_parent(h, rid, NULL);
    json_decref(in);
    free(ik);
}

static const fld unpause_fields[] = {
    {"message", K_STR}, {"actionId", K_STR}, {"skipHealthchecks", K_BOOL}};

static void h_req_unpause(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    char *ik;
    const as_entry *ie;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "unpause", unpause_fields) < 0)
        return;
    ik = intent_key(h, rid, "pause");
    ie = as_cache_get(h->c, ik);
    if (!ie) {
        as_fail(h->out, 409, "Request %s is not in PAUSED state, it is in %s", rid,
                as_m_request_state(h->cfg, h->c, rid));
        free(ik);
        return;
    }
    as_txn_cmp(&h->out->txn, ik, ie->mod_revision);
    as_txn_del(&h->out->txn, ik);
    history_event_of(h, rid, "UNPAUSED", e, as_jstr(h->body, "message"));
    respond_parent(h, rid, NULL);
    free(ik);
}

static const fld bounce_fields[] = {
    {"incremental", K_BOOL}, {"skipHealthchecks", K_BOOL}, {"durationMillis", K_INT},
    {"actionId", K_STR},     {"message", K_STR},           {"runShellCommandBeforeKill", K_OBJ}};

static void h_req_bounce(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    const json_t *prev;
    const char *type;
    json_t *in, *last;
    char *ik;
    bool bouncing;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "bounce", bounce_fields) < 0)
        return;
    type = as_m_request_type(e);
    if (type && strcmp(type, "SERVICE") != 0 && strcmp(type, "WORKER") != 0) {
        as_fail(h->out, 400, "Can not bounce a %s request (%s)", type, rid);
        return;
    }
    if (is_paused(h, rid)) {
        as_fail(h->out, 409, "Request %s is paused. Unable to bounce it", rid);
        return;
    }
    prev = as_m_intent(h->cfg, h->c, rid, "bounce");
    last = as_m_request_status_member(as_m_request_status(h->cfg, h->c, rid), "lastBounce");
    bouncing =
        prev && json_integer_value(last) < json_integer_value(json_object_get(prev, "timestamp"));
    json_decref(last);
    if (bouncing) {
        as_fail(h->out, 409, "Request %s is already bouncing", rid);
        return;
    }
    in = json_object();
    copy_fields(in, h->body, bounce_fields, sizeof(bounce_fields) / sizeof(bounce_fields[0]));
    json_object_set_new(in, "incremental", json_boolean(jbool(h->body, "incremental", false)));
    stamp(h, in);
    ik = intent_key(h, rid, "bounce");
    as_txn_cmp(&h->out->txn, ik, rev_of(h, ik));
    as_txn_put(&h->out->txn, ik, in);
    history_event_of(h, rid, "BOUNCED", e, as_jstr(h->body, "message"));
    respond_parent(h, rid, NULL);
    json_decref(in);
    free(ik);
}

static const fld cooldown_fields[] = {
    {"message", K_STR}, {"actionId", K_STR}, {"skipHealthchecks", K_BOOL}};

static void h_req_exit_cooldown(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    const char *state;
    json_t *in;
    char *ik;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "exit-cooldown", cooldown_fields) < 0)
        return;
    state = as_m_request_state(h->cfg, h->c, rid);
    if (strcmp(state, "SYSTEM_COOLDOWN") != 0) {
        as_fail(h->out, 409, "Request %s is not in SYSTEM_COOLDOWN state, it is in %s", rid, state);
        return;
    }
    in = json_object();
    copy_fields(in, h->body, cooldown_fields, sizeof(cooldown_fields) / sizeof(cooldown_fields[0]));
    stamp(h, in);
    ik = intent_key(h, rid, "exit-cooldown");
    as_txn_put(&h->out->txn, ik, in);
    history_event_of(h, rid, "EXITED_COOLDOWN", e, as_jstr(h->body, "message"));
    respond_parent(h, rid, NULL);
    json_decref(in);
    free(ik);
}

static const fld run_fields[] = {{"message", K_STR},
                                 {"runId", K_STR},
                                 {"commandLineArgs", K_STRLIST},
                                 {"skipHealthchecks", K_BOOL},
                                 {"resources", K_OBJ},
                                 {"runAsUserOverride", K_STR},
                                 {"envOverrides", K_STRMAP},
                                 {"requiredAgentAttributeOverrides", K_STRMAP},
                                 {"allowedAgentAttributeOverrides", K_STRMAP},
                                 {"requiredSlaveAttributeOverrides", K_STRMAP},
                                 {"allowedSlaveAttributeOverrides", K_STRMAP},
                                 {"extraArtifacts", K_ARR},
                                 {"s3UploaderAdditionalFiles", K_ARR},
                                 {"runAt", K_INT}};

static const fld resources_fields[] = {
    {"cpus", K_NUM}, {"memoryMb", K_NUM}, {"numPorts", K_INT}, {"diskMb", K_NUM}};

static bool has_active_task(hctx *h, const char *rid)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_TASK, rid);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    bool any = false;

    for (size_t i = first; i < first + n && !any; i++)
        any = as_m_task_entry_active(as_cache_at(h->c, i));
    free(prefix);
    return any;
}

#define MAX_RUN_DELAY_MS (30LL * 24 * 3600 * 1000)

static void h_req_run(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const as_entry *e = need_request(h, rid);
    const char *type, *run_id;
    char *gen = NULL, *rk = NULL;
    json_t *run = NULL, *parent, *pending;

    if (!e || parse_body(h, false) < 0 || CHECK(h, h->body, "run", run_fields) < 0)
        return;
    if (has(h->body, "resources") &&
        CHECK(h, json_object_get(h->body, "resources"), "run.resources", resources_fields) < 0)
        return;
    type = as_m_request_type(e);
    if (!type || (strcmp(type, "SCHEDULED") != 0 && strcmp(type, "ON_DEMAND") != 0)) {
        as_fail(h->out, 400, "Can not request an immediate run of a %s request (%s)",
                type ? type : "non-scheduled", rid);
        return;
    }
    if (is_paused(h, rid)) {
        as_fail(h->out, 409, "Request %s is paused. Unable to run now", rid);
        return;
    }
    if (strcmp(type, "SCHEDULED") == 0 && has_active_task(h, rid)) {
        as_fail(h->out, 409,
                "Cannot request immediate run of a scheduled job which is currently running (%s)",
                rid);
        return;
    }
    if (has(h->body, "runAt")) {
        int64_t at = json_integer_value(json_object_get(h->body, "runAt"));
        if (at > h->req->now + MAX_RUN_DELAY_MS) {
            as_fail(h->out, 400, "run.runAt: can not be more than 30 days in the future");
            return;
        }
    }
    run_id = as_jstr(h->body, "runId");
    if (!run_id)
        run_id = gen = xasprintf("%" PRId64 "%s", h->req->now, h->req->nonce ? h->req->nonce : "");
    if (!api_run_id_valid(run_id)) {
        as_fail(h->out, 400, "run.runId: must match [a-zA-Z0-9_-]{1,100}");
        goto out;
    }
    rk = api_key_run(h->cfg->prefix, rid, run_id);
    if (as_cache_get(h->c, rk)) {
        as_fail(h->out, 409, "run %s of request %s already exists", run_id, rid);
        goto out;
    }
    run = json_deep_copy(h->body);
    json_object_set_new(run, "requestId", json_string(rid));
    json_object_set_new(run, "runId", json_string(run_id));
    stamp(h, run);
    as_txn_cmp(&h->out->txn, rk, 0);
    as_txn_put(&h->out->txn, rk, run);
    /* SingularityPendingRequestParent: the parent plus the pending request. */
    parent = as_m_request_parent(h->cfg, h->c, rid);
    pending = json_pack("{s:s, s:I, s:s, s:s}", "requestId", rid, "timestamp",
                        (json_int_t)h->req->now, "pendingType", "ONEOFF", "runId", run_id);
    if (as_m_active_deploy_id(h->cfg, h->c, rid))
        json_object_set_new(pending, "deployId",
                            json_string(as_m_active_deploy_id(h->cfg, h->c, rid)));
    if (h->req->user)
        json_object_set_new(pending, "user", json_string(h->req->user));
    if (has(h->body, "commandLineArgs"))
        json_object_set(pending, "cmdLineArgsList", json_object_get(h->body, "commandLineArgs"));
    if (has(h->body, "message"))
        json_object_set(pending, "message", json_object_get(h->body, "message"));
    json_object_set_new(pending, "skipHealthchecks",
                        json_boolean(jbool(h->body, "skipHealthchecks", false)));
    json_object_set_new(parent, "pendingRequest", pending);
    ok(h, 200, parent);
out:
    json_decref(run);
    free(gen);
    free(rk);
}

static void h_req_run_get(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *run_id = as_match_param(h->req->match, "runId");
    const api_key_kind areas[] = {API_KEY_TASK, API_KEY_HISTORY_TASK};

    if (check_request_id(h, rid) < 0 || check_part(h, "run id", run_id, api_run_id_valid) < 0)
        return;
    for (size_t a = 0; a < 2; a++) {
        char *prefix = api_key_kind_prefix(h->cfg->prefix, areas[a], rid);
        size_t first, n = as_cache_range(h->c, prefix, &first);
        free(prefix);
        for (size_t i = first; i < first + n; i++) {
            as_task t;
            as_task_open(&t, as_cache_at(h->c, i));
            if (t.run_id && strcmp(t.run_id, run_id) == 0) {
                as_task_text(&t);
                ok(h, 200, api_jtext_json(t.task_id));
                as_task_close(&t);
                return;
            }
            as_task_close(&t);
        }
    }
    as_fail(h->out, 404, "no task for run %s of request %s", run_id, rid);
}

/* Appends request rid's pending deploy (NEW_DEPLOY) and bounce (BOUNCE). */
/* Request e's unfinished deploy id (borrowed), or NULL; through the memo
 * when there is one (the queues walk every request). */
static const char *pending_deploy_of(hctx *h, const as_entry *e)
{
    const char *state, *pd;
    if (h->cfg->memo && as_memo_request_facts(h->cfg->memo, h->cfg, e, &state, &pd))
        return pd;
    return as_m_pending_deploy_id(h->cfg, h->c, e->id1);
}

static void queued_request(hctx *h, const as_entry *e, json_t *list)
{
    const char *rid = e->id1, *pd = pending_deploy_of(h, e);
    const json_t *b = as_m_intent(h->cfg, h->c, rid, "bounce");

    if (pd)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "requestId", rid, "deployId", pd,
                                              "pendingType", "NEW_DEPLOY"));
    if (b)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:O?, s:O?}", "requestId", rid, "pendingType",
                                        "BOUNCE", "timestamp", json_object_get(b, "timestamp"),
                                        "user", json_object_get(b, "user")));
}

static void h_req_queued_pending(hctx *h)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_RUN, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    json_t *list = json_array();

    free(prefix);
    for (size_t i = first; i < first + n; i++) {
        const json_t *r = as_cache_at(h->c, i)->value;
        const char *rid = as_jstr(r, "requestId");
        json_t *p;
        if (!rid || !viewer_sees(h->view, h->c, rid))
            continue;
        p = json_pack("{s:s, s:O?, s:s, s:O?, s:O?, s:O?, s:O?}", "requestId", rid, "timestamp",
                      json_object_get(r, "timestamp"), "pendingType", "ONEOFF", "user",
                      json_object_get(r, "user"), "runId", json_object_get(r, "runId"),
                      "cmdLineArgsList", json_object_get(r, "commandLineArgs"), "message",
                      json_object_get(r, "message"));
        if (as_m_active_deploy_id(h->cfg, h->c, rid))
            json_object_set_new(p, "deployId",
                                json_string(as_m_active_deploy_id(h->cfg, h->c, rid)));
        json_array_append_new(list, p);
    }
    /* Pending deploys queue NEW_DEPLOY requests; bounces queue BOUNCE. */
    prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_REQUEST, NULL);
    n = as_cache_range(h->c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        if (e->kind == API_KEY_REQUEST && e->id1 && viewer_sees(h->view, h->c, e->id1))
            queued_request(h, e, list);
    }
    free(prefix);
    ok(h, 200, list);
}

static void h_req_queued_cleanup(hctx *h)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_INTENT_REQUEST, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    json_t *list = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        api_key_parts kp = {0};
        const char *type = NULL, *rid;
        json_t *cl;
        if (api_key_parse(h->cfg->prefix, e->key, &kp) < 0 || kp.kind != API_KEY_INTENT_REQUEST ||
            !e->doc || e->error) { /* an invalid intent is none (apis/doc.h) */
            api_key_parts_release(&kp);
            continue;
        }
        rid = kp.id1;
        if (!viewer_sees(h->view, h->c, rid)) {
            api_key_parts_release(&kp);
            continue;
        }
        if (strcmp(kp.id2, "pause") == 0)
            type = "PAUSING";
        else if (strcmp(kp.id2, "bounce") == 0)
            type = jbool(e->value, "incremental", false) ? "INCREMENTAL_BOUNCE" : "BOUNCE";
        if (!type) {
            api_key_parts_release(&kp);
            continue;
        }
        cl = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:O?}", "requestId", rid, "cleanupType", type,
                       "timestamp", json_object_get(e->value, "timestamp"), "user",
                       json_object_get(e->value, "user"), "message",
                       json_object_get(e->value, "message"), "actionId",
                       json_object_get(e->value, "actionId"));
        if (strcmp(type, "PAUSING") == 0)
            json_object_set(cl, "killTasks", json_object_get(e->value, "killTasks"));
        json_array_append_new(list, cl);
        api_key_parts_release(&kp);
    }
    free(prefix);
    /* Deleted requests whose tasks are still being cleaned. */
    prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_REQUEST_STATUS, NULL);
    n = as_cache_range(h->c, prefix, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        const char *s = as_m_request_status_str(e, "state");
        api_key_parts kp = {0};
        if (s && strcmp(s, "DELETING") == 0 && api_key_parse(h->cfg->prefix, e->key, &kp) == 0 &&
            kp.kind == API_KEY_REQUEST_STATUS && viewer_sees(h->view, h->c, kp.id1))
            json_array_append_new(
                list, json_pack("{s:s, s:s}", "requestId", kp.id1, "cleanupType", "DELETING"));
        api_key_parts_release(&kp);
    }
    free(prefix);
    ok(h, 200, list);
}

/* ---- deploys ------------------------------------------------------------------------ */

static const fld deploy_req_fields[] = {{"deploy", K_OBJ},
                                        {"unpauseOnSuccessfulDeploy", K_BOOL},
                                        {"message", K_STR},
                                        {"updatedRequest", K_OBJ}};

static void h_deploy_post(hctx *h)
{
    api_problems probs = API_PROBLEMS_INIT, ign = API_PROBLEMS_INIT;
    api_decode_opts dopts = {.path_prefix = "deploy", .no_validate = true};
    api_decode_opts ropts = {.path_prefix = "updatedRequest"};
    api_deploy *d = NULL;
    api_request *req = NULL, *upd = NULL;
    const as_entry *re;
    json_t *canon = NULL, *sub = NULL;
    const char *pending;
    char *dk = NULL, *rk = NULL, *sk = NULL;

    if (parse_body(h, true) < 0 || CHECK(h, h->body, "deploy request", deploy_req_fields) < 0)
        goto out;
    if (!json_is_object(json_object_get(h->body, "deploy"))) {
        as_fail(h->out, 400, "deploy: required");
        goto out;
    }
    lenient(h, &probs, &ign);
    d = api_deploy_from_json(json_object_get(h->body, "deploy"), &dopts, &probs);
    if (!d) {
        problems_fail(h, "deploy", &probs);
        goto out;
    }
    if (!d->requestId || check_request_id(h, d->requestId) < 0) {
        if (!d->requestId)
            as_fail(h->out, 400, "deploy.requestId: required");
        goto out;
    }
    if (!d->id) {
        as_fail(h->out, 400, "deploy.id: required");
        goto out;
    }
    if (!(re = need_request(h, d->requestId)))
        goto out;
    req = decode_loose_entry(re);
    if (!may(h, AS_ACCESS_WRITE, d->requestId, NULL))
        goto out;
    if (has(h->body, "updatedRequest")) {
        upd = api_request_from_json(json_object_get(h->body, "updatedRequest"), &ropts, &probs);
        warn_ignored(h, &ign);
        if (!upd) {
            problems_fail(h, "updatedRequest", &probs);
            goto out;
        }
        if (strcmp(upd->id, d->requestId) != 0) {
            as_fail(h->out, 400, "updatedRequest.id: must equal deploy.requestId (%s)",
                    d->requestId);
            goto out;
        }
        if (!may_change(h, d->requestId, upd))
            goto out;
    }
    if (api_deploy_validate(d, upd ? upd : req, "deploy", &probs) > 0) {
        problems_fail(h, "deploy", &probs);
        goto out;
    }
    dk = api_key_deploy(h->cfg->prefix, d->requestId, d->id);
    if (as_cache_get(h->c, dk)) {
        as_fail(h->out, 400, "Can not deploy a deploy that has already been deployed (%s)", d->id);
        goto out;
    }
    if (is_paused(h, d->requestId) && !jbool(h->body, "unpauseOnSuccessfulDeploy", false) &&
        !h->cfg->allow_deploy_of_paused) {
        as_fail(h->out, 409,
                "Request %s is paused. Unable to deploy (it must be manually unpaused first, "
                "or use unpauseOnSuccessfulDeploy)",
                d->requestId);
        goto out;
    }
    pending = as_m_pending_deploy_id(h->cfg, h->c, d->requestId);
    if (pending) {
        as_fail(h->out, 409,
                "Pending deploy already in progress for %s - cancel it or wait for it to "
                "complete (%s)",
                d->requestId, pending);
        goto out;
    }
    if (!d->has_timestamp) {
        d->has_timestamp = true;
        d->timestamp = h->req->now;
    }
    canon = api_deploy_to_json(d);
    rk = request_key(h, d->requestId);
    sk = api_key_intent_deploy(h->cfg->prefix, d->requestId, d->id, "submit");
    sub = json_object();
    copy_fields(sub, h->body, deploy_req_fields + 1, 2);
    if (upd) {
        json_t *u = api_request_to_json(upd);
        json_object_set_new(sub, "updatedRequest", u);
    }
    stamp(h, sub);
    as_txn_cmp(&h->out->txn, dk, 0);
    as_txn_cmp(&h->out->txn, rk, re->mod_revision);
    as_txn_put(&h->out->txn, dk, canon);
    as_txn_put(&h->out->txn, sk, sub);
    respond_parent(h, d->requestId, NULL);
    /* Until the cache catches up, show the new deploy as pending. */
    json_object_set(h->out->body, "pendingDeploy", canon);
out:
    warn_ignored(h, &ign);
    api_problems_release(&probs);
    api_deploy_free(d);
    api_request_free(req);
    api_request_free(upd);
    json_decref(canon);
    json_decref(sub);
    free(dk);
    free(rk);
    free(sk);
}

static const fld cancel_fields[] = {{"message", K_STR}, {"actionId", K_STR}};

static void h_deploy_cancel(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *did = as_match_param(h->req->match, "deployId");
    const char *pending;
    json_t *in;
    char *k;

    if (!need_request(h, rid) || parse_body(h, false) < 0 ||
        CHECK(h, h->body, "cancel deploy", cancel_fields) < 0)
        return;
    if (!api_deploy_id_valid(did)) {
        as_fail(h->out, 400, "invalid deploy id '%s'", did);
        return;
    }
    pending = as_m_pending_deploy_id(h->cfg, h->c, rid);
    if (!pending || strcmp(pending, did) != 0) {
        as_fail(h->out, 400, "Request %s does not have a pending deploy %s", rid, did);
        return;
    }
    in = json_object();
    copy_fields(in, h->body, cancel_fields, 2);
    stamp(h, in);
    k = api_key_intent_deploy(h->cfg->prefix, rid, did, "cancel");
    as_txn_cmp(&h->out->txn, k, rev_of(h, k));
    as_txn_put(&h->out->txn, k, in);
    respond_parent(h, rid, NULL);
    json_decref(in);
    free(k);
}

static const fld update_fields[] = {{"requestId", K_STR},
                                    {"deployId", K_STR},
                                    {"targetActiveInstances", K_INT},
                                    {"message", K_STR},
                                    {"actionId", K_STR}};

static void h_deploy_update(hctx *h)
{
    const char *rid, *did, *pending;
    json_int_t target, instances;
    json_t *in;
    char *k;

    if (parse_body(h, true) < 0 || CHECK(h, h->body, "deploy update", update_fields) < 0)
        return;
    rid = as_jstr(h->body, "requestId");
    did = as_jstr(h->body, "deployId");
    if (!rid || !did || !json_is_integer(json_object_get(h->body, "targetActiveInstances"))) {
        as_fail(h->out, 400,
                "deploy update: requestId, deployId and targetActiveInstances are "
                "required");
        return;
    }
    if (!need_request(h, rid) || !may(h, AS_ACCESS_WRITE, rid, NULL))
        return;
    pending = as_m_pending_deploy_id(h->cfg, h->c, rid);
    if (!pending || strcmp(pending, did) != 0) {
        as_fail(h->out, 400, "Request %s does not have a pending deploy %s", rid, did);
        return;
    }
    target = json_integer_value(json_object_get(h->body, "targetActiveInstances"));
    instances = (json_int_t)as_m_request_instances(as_m_request_entry(h->cfg, h->c, rid));
    if (target < 1 || target > instances) {
        as_fail(h->out, 400,
                "deploy update.targetActiveInstances: must be between 1 and %lld (instances)",
                (long long)instances);
        return;
    }
    in = json_deep_copy(h->body);
    stamp(h, in);
    k = api_key_intent_deploy(h->cfg->prefix, rid, did, "update");
    as_txn_put(&h->out->txn, k, in);
    respond_parent(h, rid, NULL);
    json_decref(in);
    free(k);
}

/* Appends request rid's SingularityPendingDeploy, if it has one. */
static void pending_deploy(hctx *h, const as_entry *e, json_t *list)
{
    const char *rid = e->id1, *pd = pending_deploy_of(h, e);
    json_t *p = pd ? as_m_request_parent(h->cfg, h->c, rid) : NULL;

    if (p && json_object_get(p, "pendingDeployState")) {
        json_t *pds = json_deep_copy(json_object_get(p, "pendingDeployState"));
        char *sk = api_key_intent_deploy(h->cfg->prefix, rid, pd, "submit");
        const json_t *sub = as_cache_value(h->c, sk);
        free(sk);
        if (json_object_get(sub, "updatedRequest"))
            json_object_set(pds, "updatedRequest", json_object_get(sub, "updatedRequest"));
        json_array_append_new(list, pds);
    }
    json_decref(p);
}

static void h_deploy_pending(hctx *h)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_REQUEST, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    json_t *list = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        if (e->kind == API_KEY_REQUEST && e->id1 && viewer_sees(h->view, h->c, e->id1))
            pending_deploy(h, e, list);
    }
    free(prefix);
    ok(h, 200, list);
}

/* ---- tasks ---------------------------------------------------------------------------- */

static const as_entry *find_pending(hctx *h, const char *ptid)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_PENDING, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    const as_entry *found = NULL;

    for (size_t i = first; i < first + n && !found; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        as_pending p;
        const char *id = as_pending_open(&p, e) ? p.id : NULL;
        api_key_parts kp = {0};
        if ((id && strcmp(id, ptid) == 0) ||
            (api_key_parse(h->cfg->prefix, e->key, &kp) == 0 && kp.kind == API_KEY_PENDING &&
             strcmp(kp.id2, ptid) == 0))
            found = e;
        api_key_parts_release(&kp);
    }
    free(prefix);
    return found;
}

static void h_tasks_scheduled_task(hctx *h, bool del)
{
    const char *ptid = as_match_param(h->req->match, "pendingTaskId");
    const as_entry *e;
    json_t *v;

    if (check_part(h, "pending task id", ptid, api_key_id_valid) < 0)
        return;
    e = find_pending(h, ptid);
    if (!e) {
        as_fail(h->out, 404, "No pending task with id %s", ptid);
        return;
    }
    v = store_obj_json(e); /* the cache may keep it as text */
    ok(h, 200, as_m_task_request(h->cfg, h->c, v));
    if (del) {
        const json_t *pt = json_object_get(v, "pendingTaskId");
        const char *run = as_jstr(v, "runId"), *rid = as_jstr(pt, "requestId");
        as_txn_cmp(&h->out->txn, e->key, e->mod_revision);
        as_txn_del(&h->out->txn, e->key);
        if (run && rid) {
            char *rk = api_key_run(h->cfg->prefix, rid, run);
            as_txn_del(&h->out->txn, rk);
            free(rk);
        }
    }
    json_decref(v);
}

static void h_task_get(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    json_t *t;
    bool hist;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0)
        return;
    t = as_m_task_find(h->cfg, h->c, tid, &hist);
    if (!t || hist || !as_m_task_active(t))
        as_fail(h->out, 404, "No active task with id %s", tid);
    else
        ok(h, 200, as_m_task_view(h->cfg, h->c, t));
    json_decref(t);
}

static const fld kill_fields[] = {
    {"override", K_BOOL}, {"waitForReplacementTask", K_BOOL},   {"message", K_STR},
    {"actionId", K_STR},  {"runShellCommandBeforeKill", K_OBJ}, {"killGracePeriodMillis", K_INT}};

static void h_task_kill(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    json_t *t;
    const char *type = "USER_REQUESTED";
    const as_entry *prev;
    json_t *cl, *tido;
    char *k;
    bool hist;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0 || parse_body(h, false) < 0 ||
        CHECK(h, h->body, "kill task", kill_fields) < 0)
        return;
    t = as_m_task_find(h->cfg, h->c, tid, &hist);
    if (!t || hist || !as_m_task_active(t)) {
        as_fail(h->out, 404, "No active task with id %s", tid);
        json_decref(t);
        return;
    }
    if (has(h->body, "killGracePeriodMillis") &&
        json_integer_value(json_object_get(h->body, "killGracePeriodMillis")) < 0) {
        as_fail(h->out, 400, "kill task.killGracePeriodMillis: must be >= 0");
        json_decref(t);
        return;
    }
    if (jbool(h->body, "override", false))
        type = "USER_REQUESTED_DESTROY";
    else if (jbool(h->body, "waitForReplacementTask", false))
        type = "USER_REQUESTED_TASK_BOUNCE";
    tido = json_object_get(t, "taskId");
    cl = json_pack("{s:o, s:s, s:I}", "taskId",
                   json_is_object(tido) ? json_incref(tido) : json_pack("{s:s}", "id", tid),
                   "cleanupType", type, "timestamp", (json_int_t)h->req->now);
    json_decref(t); /* cl holds what it needs of it */
    if (h->req->user)
        json_object_set_new(cl, "user", json_string(h->req->user));
    copy_fields(cl, h->body, kill_fields + 2, 2);
    if (has(h->body, "killGracePeriodMillis"))
        json_object_set(cl, "killGracePeriodMillis",
                        json_object_get(h->body, "killGracePeriodMillis"));
    /* A repeated kill replaces the intent (e.g. escalating to override). */
    k = api_key_cleanup(h->cfg->prefix, tid);
    prev = as_cache_get(h->c, k);
    as_txn_cmp(&h->out->txn, k, prev ? prev->mod_revision : 0);
    as_txn_put(&h->out->txn, k, cl);
    ok(h, 200, cl);
    free(k);
}

/* ---- history --------------------------------------------------------------------------- */

typedef struct page {
    int64_t count, page;
} page;

static int paging(hctx *h, page *p)
{
    if (query_int(h, "count", 100, 1, 1000, &p->count) < 0 ||
        query_int(h, "page", 1, 1, INT32_MAX, &p->page) < 0)
        return -1;
    return 0;
}

static json_t *paginate(json_t *list, const page *p)
{
    json_t *out = json_array();
    size_t start = (size_t)((p->page - 1) * p->count);
    for (size_t i = start; i < json_array_size(list) && i < start + (size_t)p->count; i++)
        json_array_append(out, json_array_get(list, i));
    json_decref(list);
    return out;
}

/* A task record with its sort keys, read once: sorting json objects
 * looked them up again for every comparison (tens of thousands of tasks
 * took over half a second). The entry is referenced until the rows are
 * freed; only the rows of the page are read again, for their answer. */
typedef struct row {
    const as_entry *e;
    int64_t updated, started;
    char *id;
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
} rows;

/* The keys as the task's SingularityTaskIdHistory (as_task_id_history)
 * holds them: its taskId is the document's taskId object, or {"id": s} for
 * a plain string. */
static void rows_add(rows *r, const as_task *t)
{
    row *w;

    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    w = &r->v[r->n++];
    w->e = store_obj_ref(t->e);
    w->updated = t->updated;
    w->started = t->started;
    w->id = t->id ? xstrdup(t->id) : NULL;
}

static int cmp_updated_desc(const void *a, const void *b)
{
    const row *x = a, *y = b;

    /* Newest update first; ties by start time, then id, so pages are stable. */
    if (x->updated != y->updated)
        return x->updated < y->updated ? 1 : -1;
    if (x->started != y->started)
        return x->started < y->started ? 1 : -1;
    return x->id && y->id ? -strcmp(x->id, y->id) : 0;
}

/* The task id histories of r sorted by updatedAt, newest first (oldest
 * first with asc), of page p only when p is not NULL. Frees r's rows. */
static json_t *sorted_page(rows *r, bool asc, const page *p)
{
    json_t *out = json_array();
    size_t start = 0, end = r->n;

    if (r->n)
        qsort(r->v, r->n, sizeof(*r->v), cmp_updated_desc);
    if (p) {
        start = (size_t)((p->page - 1) * p->count);
        end = start + (size_t)p->count < r->n ? start + (size_t)p->count : r->n;
    }
    for (size_t i = start; i < end; i++) {
        as_task t;
        as_task_open(&t, r->v[asc ? r->n - 1 - i : i].e);
        json_array_append_new(out, as_task_id_history(&t));
        as_task_close(&t);
    }
    for (size_t i = 0; i < r->n; i++) {
        store_obj_unref(r->v[i].e);
        free(r->v[i].id);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
    return out;
}

static void nodeagent_history(hctx *h, const char *tid, json_t *hist);

static void h_hist_task(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    json_t *t;
    bool hist;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0)
        return;
    t = as_m_task_find(h->cfg, h->c, tid, &hist);
    if (!t)
        as_fail(h->out, 404, "No history for task %s", tid);
    else {
        ok(h, 200, as_m_task_history(h->cfg, h->c, t));
        nodeagent_history(h, tid, h->out->body);
    }
    json_decref(t);
}

/* Task search filters (GET /api/history/tasks). */
typedef struct search {
    const char *requestId, *deployId, *runId, *host, *lastTaskStatus;
    int64_t startedBefore, startedAfter, updatedBefore, updatedAfter;
} search;

static bool search_match(const search *s, const as_task *t)
{
    const char *v;
    int64_t started = t->started, updated = t->updated;

#define EQ(field, val) ((val) == NULL || ((v = (field)) != NULL && strcmp(v, (val)) == 0))
    if (!EQ(t->request_id, s->requestId) || !EQ(t->deploy_id, s->deployId) ||
        !EQ(t->run_id, s->runId) || !EQ(t->state, s->lastTaskStatus))
        return false;
    if (s->host && !EQ(t->host, s->host) && !EQ(t->hostname, s->host))
        return false;
#undef EQ
    if ((s->startedBefore && started >= s->startedBefore) ||
        (s->startedAfter && started <= s->startedAfter) ||
        (s->updatedBefore && updated >= s->updatedBefore) ||
        (s->updatedAfter && updated <= s->updatedAfter))
        return false;
    return true;
}

/* Adds the kind's documents (API_KEY_TASK or API_KEY_HISTORY_TASK) of
 * request rid, or of every request when NULL, to out. */
static void collect(hctx *h, api_key_kind area, const char *rid, const search *s, bool active_only,
                    rows *out)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, area, rid);
    size_t first, n = as_cache_range(h->c, prefix, &first);

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        as_task t;
        if (as_task_open_sort(&t, e) && (!active_only || as_task_active(&t)) &&
            (rid || viewer_sees(h->view, h->c, e->id1)) && (!s || search_match(s, &t)))
            rows_add(out, &t);
        as_task_close(&t);
    }
    free(prefix);
}

static void h_hist_tasks(hctx *h)
{
    search s = {0};
    page p;
    const char *dir = as_req_query(h->req, "orderDirection");
    rows r = {0};

    if (paging(h, &p) < 0 || query_int(h, "startedBefore", 0, 0, INT64_MAX, &s.startedBefore) < 0 ||
        query_int(h, "startedAfter", 0, 0, INT64_MAX, &s.startedAfter) < 0 ||
        query_int(h, "updatedBefore", 0, 0, INT64_MAX, &s.updatedBefore) < 0 ||
        query_int(h, "updatedAfter", 0, 0, INT64_MAX, &s.updatedAfter) < 0)
        return;
    if (dir && strcmp(dir, "ASC") != 0 && strcmp(dir, "DESC") != 0) {
        as_fail(h->out, 400, "query parameter orderDirection: must be ASC or DESC");
        return;
    }
    s.requestId = as_req_query(h->req, "requestId");
    s.deployId = as_req_query(h->req, "deployId");
    s.runId = as_req_query(h->req, "runId");
    s.host = as_req_query(h->req, "host");
    s.lastTaskStatus = as_req_query(h->req, "lastTaskStatus");
    if (s.lastTaskStatus && api_task_state_parse(s.lastTaskStatus) == API_TASK_STATE_NONE) {
        as_fail(h->out, 400, "query parameter lastTaskStatus: unknown task state '%s'",
                s.lastTaskStatus);
        return;
    }
    if (s.requestId && check_request_id(h, s.requestId) < 0)
        return;
    collect(h, API_KEY_HISTORY_TASK, s.requestId, &s, false, &r);
    collect(h, API_KEY_TASK, s.requestId, &s, false, &r);
    h->total = (int64_t)r.n;
    ok(h, 200, sorted_page(&r, dir && strcmp(dir, "ASC") == 0, &p));
}

static void h_hist_req_tasks(hctx *h, bool active)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    page p;
    rows r = {0};

    if (check_request_id(h, rid) < 0 || paging(h, &p) < 0)
        return;
    if (active)
        collect(h, API_KEY_TASK, rid, NULL, true, &r);
    else
        collect(h, API_KEY_HISTORY_TASK, rid, NULL, false, &r);
    h->total = (int64_t)r.n;
    ok(h, 200, sorted_page(&r, false, active ? NULL : &p));
}

/* The tasks of one deploy of a request: active ones, or finished ones
 * paged (newest first). */
static void h_hist_deploy_tasks(hctx *h, bool active)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *did = as_match_param(h->req->match, "deployId");
    search s = {0};
    page p;
    rows r = {0};

    if (check_request_id(h, rid) < 0 ||
        check_part(h, "deploy id", did, api_deploy_id_valid) < 0 || paging(h, &p) < 0)
        return;
    s.deployId = did;
    collect(h, active ? API_KEY_TASK : API_KEY_HISTORY_TASK, rid, &s, active, &r);
    h->total = (int64_t)r.n;
    ok(h, 200, sorted_page(&r, false, active ? NULL : &p));
}

/* The newest task of a run (SingularityTaskIdHistory), active or finished;
 * 404 when the run has none. */
static void h_hist_req_run(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *run = as_match_param(h->req->match, "runId");
    search s = {0};
    page one = {.count = 1, .page = 1};
    rows r = {0};
    json_t *list;

    if (check_request_id(h, rid) < 0 || check_part(h, "run id", run, api_key_id_valid) < 0)
        return;
    s.runId = run;
    collect(h, API_KEY_TASK, rid, &s, false, &r);
    collect(h, API_KEY_HISTORY_TASK, rid, &s, false, &r);
    list = sorted_page(&r, false, &one);
    if (json_array_size(list))
        ok(h, 200, json_incref(json_array_get(list, 0)));
    else
        as_fail(h->out, 404, "No task of run %s of request %s", run, rid);
    json_decref(list);
}

/* Singularity's ...withmetadata answers: the page of the list just made,
 * in SingularityPaginatedResponse {dataCount, pageCount, page, objects}. */
static void with_metadata(hctx *h)
{
    int64_t count, pg;

    if (h->out->status != 200 || !json_is_array(h->out->body) ||
        query_int(h, "count", 100, 1, 1000, &count) < 0 ||
        query_int(h, "page", 1, 1, INT32_MAX, &pg) < 0)
        return;
    ok(h, 200,
       json_pack("{s:I, s:I, s:I, s:O}", "dataCount", (json_int_t)h->total, "pageCount",
                 (json_int_t)((h->total + count - 1) / count), "page", (json_int_t)pg, "objects",
                 h->out->body));
}

/* SingularityDeployHistory for one deploy (NULL if unknown). */
static json_t *deploy_history(hctx *h, const char *rid, const char *did, bool full)
{
    const as_entry *d = as_m_deploy_entry(h->cfg, h->c, rid, did);
    json_t *st, *out, *result = NULL;

    if (!d)
        return NULL;
    st = as_m_entry_json(as_m_deploy_status_entry(h->cfg, h->c, rid, did)); /* a text: parsed */
    out = json_pack("{s:o}", "deployMarker", as_m_deploy_marker(h->cfg, h->c, rid, did));
    if (full)
        json_object_set_new(out, "deploy", as_m_entry_json(d));
    if (st) {
        const char *s = as_jstr(st, "state");
        if (!s)
            s = as_jstr(st, "deployState");
        /* Singularity's DeployState has no SUPERSEDED: clients parse it as
         * CANCELED (a newer deploy replaced it); Corral's own state is in
         * corralDeployState (docs/api.md). */
        bool superseded = s && strcmp(s, "SUPERSEDED") == 0;
        result = json_pack("{s:s?, s:O?, s:O?, s:O?}", "deployState",
                           superseded ? "CANCELED" : s, "message",
                           json_object_get(st, "message"), "timestamp",
                           json_object_get(st, "finishedAt"), "deployFailures",
                           json_object_get(st, "failures"));
        if (superseded)
            json_object_set_new(result, "corralDeployState", json_string(s));
        json_object_set_new(out, "deployResult", result);
        json_object_set_new(out, "deployStatistics",
                            json_pack("{s:s, s:s}", "requestId", rid, "deployId", did));
    }
    json_decref(st);
    return out;
}

static void h_hist_req_deploys(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    char *prefix;
    size_t first, n;
    page p;
    json_t *list;

    if (check_request_id(h, rid) < 0 || paging(h, &p) < 0)
        return;
    prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_DEPLOY, rid);
    n = as_cache_range(h->c, prefix, &first);
    list = json_array();
    /* Newest first: highest create revision. */
    const as_entry **v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = as_cache_at(h->c, first + i);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1]->create_revision < v[j]->create_revision; j--) {
            const as_entry *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const char *did = as_m_deploy_id(v[i]);
        json_t *dh = did ? deploy_history(h, rid, did, false) : NULL;
        if (dh)
            json_array_append_new(list, dh);
    }
    free(v);
    free(prefix);
    h->total = (int64_t)json_array_size(list);
    ok(h, 200, paginate(list, &p));
}

static void h_hist_req_deploy(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *did = as_match_param(h->req->match, "deployId");
    json_t *dh;

    if (check_request_id(h, rid) < 0 || check_part(h, "deploy id", did, api_deploy_id_valid) < 0)
        return;
    dh = deploy_history(h, rid, did, true);
    if (!dh) {
        as_fail(h->out, 404, "No deploy %s for request %s", did, rid);
        return;
    }
    ok(h, 200, dh);
}

static void h_hist_req_requests(hctx *h)
{
    const char *rid = as_match_param(h->req->match, "requestId");
    char *prefix;
    size_t first, n;
    page p;
    json_t *list;

    if (check_request_id(h, rid) < 0 || paging(h, &p) < 0)
        return;
    prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_HISTORY_REQUEST, rid);
    n = as_cache_range(h->c, prefix, &first);
    list = json_array();
    for (size_t i = n; i > 0; i--) /* keys sort by time: newest last */
        if (json_is_object(as_cache_at(h->c, first + i - 1)->value))
            json_array_append(list, as_cache_at(h->c, first + i - 1)->value);
    free(prefix);
    h->total = (int64_t)json_array_size(list);
    ok(h, 200, paginate(list, &p));
}

/* ---- agents and racks (docs/machines.md) ---------------------------------------------- */

/* Machines are agents or racks: kind is API_KEY_AGENT or API_KEY_RACK. */
static const char *machine_noun(api_key_kind kind)
{
    return kind == API_KEY_AGENT ? "agent" : "rack";
}

static char *machine_key(hctx *h, api_key_kind kind, const char *id)
{
    return kind == API_KEY_AGENT ? api_key_agent(h->cfg->prefix, id)
                                 : api_key_rack(h->cfg->prefix, id);
}

static char *machine_intent_key(hctx *h, api_key_kind kind, const char *id)
{
    return kind == API_KEY_AGENT ? api_key_intent_agent(h->cfg->prefix, id)
                                 : api_key_intent_rack(h->cfg->prefix, id);
}

/* The machine's valid intent (as the controller reads it), or NULL. */
static const api_intent *machine_intent(hctx *h, api_key_kind kind, const char *id)
{
    char *k = machine_intent_key(h, kind, id);
    const as_entry *e = as_cache_get(h->c, k);
    free(k);
    return e && !e->error ? e->doc : NULL;
}

/* An intent the machines controller has not acted on yet (its timestamp is
 * newer than the document's observedIntent): until it has, the API shows
 * the state asked for. */
static const api_intent *machine_pending(hctx *h, api_key_kind kind, const char *id,
                                         const json_t *doc)
{
    const api_intent *in = machine_intent(h, kind, id);
    const json_t *seen = json_object_get(doc, "observedIntent");
    if (!in || !in->state || !in->has_timestamp)
        return NULL;
    if (json_is_integer(seen) && json_integer_value(seen) >= in->timestamp)
        return NULL;
    return in;
}

static const char *machine_state(hctx *h, api_key_kind kind, const char *id, const json_t *doc)
{
    const api_intent *in = machine_pending(h, kind, id, doc);
    const char *s = as_jstr(json_object_get(doc, "currentState"), "state");

    if (in)
        return in->state;
    if (!s)
        s = as_jstr(doc, "state");
    return s ? s : "ACTIVE";
}

static json_t *machine_view(hctx *h, api_key_kind kind, const char *id, const json_t *doc)
{
    json_t *v = json_deep_copy(doc);
    const api_intent *in = machine_pending(h, kind, id, doc);
    const json_t *ij = NULL;
    char *ik = machine_intent_key(h, kind, id);

    ij = as_cache_value(h->c, ik);
    free(ik);
    json_object_del(v, "stateHistory"); /* GET .../agent/{id} has it */
    if (in) {
        json_t *cs = json_pack("{s:s, s:I}", "state", in->state, "timestamp",
                               (json_int_t)in->timestamp);
        if (in->user)
            json_object_set_new(cs, "user", json_string(in->user));
        if (in->message)
            json_object_set_new(cs, "message", json_string(in->message));
        json_object_set_new(v, "currentState", cs);
    } else if (!json_is_object(json_object_get(v, "currentState"))) {
        json_object_set_new(v, "currentState",
                            json_pack("{s:s}", "state", machine_state(h, kind, id, doc)));
    }
    if (json_is_object(ij))
        json_object_set(v, "desiredState", (json_t *)ij);
    if (!json_object_get(v, "id"))
        json_object_set_new(v, "id", json_string(id));
    return v;
}

static bool machine_state_valid(const char *s)
{
    return api_machine_state_parse(s) != API_MSTATE_UNSET;
}

static void h_machines_list(hctx *h, api_key_kind kind)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, kind, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    const char *want = as_req_query(h->req, "state");
    json_t *list;

    if (want && !machine_state_valid(want)) {
        as_fail(h->out, 400, "query parameter state: unknown machine state '%s'", want);
        free(prefix);
        return;
    }
    list = json_array();
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        json_t *doc = e->kind == kind && e->id1 ? as_m_machine_json(e) : NULL;
        if (doc && (!want || strcmp(machine_state(h, kind, e->id1, doc), want) == 0))
            json_array_append_new(list, machine_view(h, kind, e->id1, doc));
        json_decref(doc);
    }
    free(prefix);
    ok(h, 200, list);
}

/* The machine the path names: its document, or a 400/404 answered (NULL). */
static const json_t *machine_of_path(hctx *h, api_key_kind kind, const char *param,
                                     const char **id)
{
    const json_t *doc;

    *id = as_match_param(h->req->match, param);
    if (check_part(h, param, *id, kind == API_KEY_AGENT ? api_agent_id_valid : api_rack_id_valid) <
        0)
        return NULL;
    doc = keep(h, as_m_machine(h->cfg, h->c, kind, *id));
    if (!doc)
        as_fail(h->out, 404, "No %s with id %s", machine_noun(kind), *id);
    return doc;
}

/* GET .../agent/{id}: the state history, newest first (Singularity's
 * SingularityMachineStateHistoryUpdate list), a change not acted on yet
 * first of all. */
static void h_machine_get(hctx *h, api_key_kind kind, const char *param)
{
    const char *id;
    const json_t *doc = machine_of_path(h, kind, param, &id);
    if (!doc)
        return;
    const api_intent *in = machine_pending(h, kind, id, doc);
    const json_t *hist = json_object_get(doc, "stateHistory");
    json_t *list = json_array();

    if (in) {
        json_t *e = json_pack("{s:s, s:s, s:I, s:b}", "objectId", id, "state", in->state,
                              "timestamp", (json_int_t)in->timestamp, "pending", true);
        if (in->user)
            json_object_set_new(e, "user", json_string(in->user));
        if (in->message)
            json_object_set_new(e, "message", json_string(in->message));
        json_array_append_new(list, e);
    }
    for (size_t i = json_array_size(hist); i > 0; i--) {
        const json_t *u = json_array_get(hist, i - 1);
        if (!json_is_object(u))
            continue;
        json_t *e = json_deep_copy(u);
        json_object_set_new(e, "objectId", json_string(id));
        json_array_append_new(list, e);
    }
    if (!json_array_size(list)) {
        const json_t *cs = json_object_get(doc, "currentState");
        json_t *e = json_is_object(cs) ? json_deep_copy(cs) : json_object();
        if (!json_object_get(e, "state"))
            json_object_set_new(e, "state", json_string(machine_state(h, kind, id, doc)));
        json_object_set_new(e, "objectId", json_string(id));
        json_array_append_new(list, e);
    }
    ok(h, 200, list);
}

/* GET .../agent/{id}/details: the agent itself. */
static void h_machine_details(hctx *h, api_key_kind kind, const char *param)
{
    const char *id;
    const json_t *doc = machine_of_path(h, kind, param, &id);
    if (doc)
        ok(h, 200, machine_view(h, kind, id, doc));
}

static const fld machine_fields[] = {{"durationMillis", K_INT},
                                     {"revertToState", K_STR},
                                     {"killTasksOnDecommissionTimeout", K_BOOL},
                                     {"actionId", K_STR},
                                     {"message", K_STR},
                                     {"force", K_BOOL}};

static bool one_state(const char *s, const char *a, const char *b, const char *c, const char *d)
{
    return s && ((a && !strcmp(s, a)) || (b && !strcmp(s, b)) || (c && !strcmp(s, c)) ||
                 (d && !strcmp(s, d)));
}

/* Whether the intent's change still expires (not yet reverted). */
static bool intent_expiring(hctx *h, const api_intent *in)
{
    return in && in->has_durationMillis && in->has_timestamp &&
           in->timestamp + in->durationMillis > h->req->now;
}

/* The change body's fields, checked: 0, or -1 with the answer set. */
static int machine_change_body(hctx *h, const char *target)
{
    if (parse_body(h, false) < 0 || CHECK(h, h->body, "machine change", machine_fields) < 0)
        return -1;
    if (has(h->body, "revertToState") &&
        !one_state(as_jstr(h->body, "revertToState"), "ACTIVE", "FROZEN",
                   "STARTING_DECOMMISSION", "DECOMMISSIONED"))
        return as_fail(h->out, 400,
                       "machine change.revertToState: must be ACTIVE, FROZEN, "
                       "STARTING_DECOMMISSION or DECOMMISSIONED");
    if (has(h->body, "durationMillis") &&
        json_integer_value(json_object_get(h->body, "durationMillis")) <= 0)
        return as_fail(h->out, 400, "machine change.durationMillis: must be > 0");
    if (has(h->body, "force") && strcmp(target, "STARTING_DECOMMISSION") != 0)
        return as_fail(h->out, 400, "machine change.force: only a decommission can be forced");
    return 0;
}

/* Writes the intent of a change to target: the body's fields, who and
 * when; an expiring change reverts to the state the machine had unless
 * revertToState says otherwise. */
static void machine_write_intent(hctx *h, api_key_kind kind, const char *id, const char *target,
                                 const char *cur, int64_t at)
{
    char *ik = machine_intent_key(h, kind, id);
    json_t *in = json_object();

    copy_fields(in, h->body, machine_fields, sizeof(machine_fields) / sizeof(machine_fields[0]));
    json_object_set_new(in, "state", json_string(target));
    if (has(in, "durationMillis") && !has(in, "revertToState"))
        json_object_set_new(in, "revertToState",
                            json_string(one_state(cur, "ACTIVE", "FROZEN", NULL, NULL) ? cur
                                                                                      : "ACTIVE"));
    stamp(h, in);
    json_object_set_new(in, "timestamp", json_integer(at));
    as_txn_cmp(&h->out->txn, ik, rev_of(h, ik));
    as_txn_put(&h->out->txn, ik, in);
    json_decref(in);
    free(ik);
}

static void h_machine_change(hctx *h, api_key_kind kind, const char *param, const char *target)
{
    const char *id, *cur;
    const char *noun = machine_noun(kind);
    const json_t *doc = machine_of_path(h, kind, param, &id);

    if (!doc || machine_change_body(h, target) < 0)
        return;
    cur = machine_state(h, kind, id, doc);
    if (strcmp(target, "STARTING_DECOMMISSION") == 0 &&
        one_state(cur, "STARTING_DECOMMISSION", "DECOMMISSIONING", NULL, NULL) &&
        json_is_true(json_object_get(h->body, "force"))) {
        /* A decommission under way is forced: the same intent, forced. */
        const api_intent *in = machine_intent(h, kind, id);
        if (in && in->has_force && in->force) {
            as_fail(h->out, 409, "%s %s is already decommissioning, forced", noun, id);
            return;
        }
        machine_write_intent(h, kind, id, target, cur, h->req->now);
        ok(h, 204, NULL);
        return;
    }
    if (strcmp(target, "STARTING_DECOMMISSION") == 0 &&
        one_state(cur, "STARTING_DECOMMISSION", "DECOMMISSIONING", "DECOMMISSIONED", NULL)) {
        as_fail(h->out, 409, "%s %s is already %s", noun, id, cur);
        return;
    }
    if (strcmp(target, "STARTING_DECOMMISSION") == 0 &&
        one_state(cur, "DEAD", "MISSING_ON_STARTUP", NULL, NULL)) {
        as_fail(h->out, 409, "%s %s is %s: the master does not list it (DELETE forgets it)", noun,
                id, cur);
        return;
    }
    if (strcmp(target, "FROZEN") == 0 && strcmp(cur, "ACTIVE") != 0) {
        as_fail(h->out, 409, "%s %s is %s; only an ACTIVE %s can be frozen", noun, id, cur, noun);
        return;
    }
    if (strcmp(target, "ACTIVE") == 0 && strcmp(cur, "ACTIVE") == 0) {
        as_fail(h->out, 409, "%s %s is already ACTIVE", noun, id);
        return;
    }
    if (has(h->body, "durationMillis") && intent_expiring(h, machine_intent(h, kind, id))) {
        as_fail(h->out, 409,
                "%s %s has an expiring state change already: delete it first (DELETE "
                ".../expiring)",
                noun, id);
        return;
    }
    machine_write_intent(h, kind, id, target, cur, h->req->now);
    ok(h, 204, NULL);
}

/* POST /api/agents/agent/{id}/decommission/extend (also .../update, the
 * name 0.2.0 shipped): new expiry settings for an expiring decommission
 * (Singularity's extendDecommissionAgent; 404 rather than its silent 200
 * when there is none). */
static void h_machine_decommission_update(hctx *h, api_key_kind kind, const char *param)
{
    const char *id;
    const json_t *doc = machine_of_path(h, kind, param, &id);
    const api_intent *in;

    if (!doc || machine_change_body(h, "STARTING_DECOMMISSION") < 0)
        return;
    in = machine_intent(h, kind, id);
    if (!in || !in->state || strcmp(in->state, "STARTING_DECOMMISSION") != 0 ||
        !intent_expiring(h, in)) {
        as_fail(h->out, 404, "%s %s has no expiring decommission to update", machine_noun(kind),
                id);
        return;
    }
    machine_write_intent(h, kind, id, "STARTING_DECOMMISSION", "ACTIVE", h->req->now);
    ok(h, 204, NULL);
}

/* DELETE .../expiring: the change stays, it no longer reverts. */
static void h_machine_expiring_delete(hctx *h, api_key_kind kind, const char *param)
{
    const char *id;
    const json_t *doc = machine_of_path(h, kind, param, &id);
    char *ik;
    json_t *j;

    if (!doc)
        return;
    if (!intent_expiring(h, machine_intent(h, kind, id))) {
        as_fail(h->out, 404, "%s %s has no expiring state change", machine_noun(kind), id);
        return;
    }
    ik = machine_intent_key(h, kind, id);
    j = json_deep_copy(as_cache_value(h->c, ik));
    json_object_del(j, "durationMillis");
    json_object_del(j, "revertToState");
    json_object_del(j, "killTasksOnDecommissionTimeout");
    as_txn_cmp(&h->out->txn, ik, rev_of(h, ik));
    as_txn_put(&h->out->txn, ik, j);
    json_decref(j);
    free(ik);
    ok(h, 204, NULL);
}

/* GET .../expiring: Singularity's SingularityExpiringMachineState per
 * change that has not expired yet. */
static void h_machines_expiring(hctx *h, api_key_kind kind)
{
    api_key_kind ikind = kind == API_KEY_AGENT ? API_KEY_INTENT_AGENT : API_KEY_INTENT_RACK;
    char *prefix = api_key_kind_prefix(h->cfg->prefix, ikind, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    json_t *list = json_array();

    free(prefix);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        const api_intent *in = e->error ? NULL : e->doc;
        if (!in || !e->id1 || !intent_expiring(h, in))
            continue;
        json_t *req = json_pack("{s:I}", "durationMillis", (json_int_t)in->durationMillis);
        json_t *x = json_pack("{s:I, s:s, s:s, s:b, s:s, s:I}", "startMillis",
                              (json_int_t)in->timestamp, "machineId", e->id1, "revertToState",
                              in->revertToState ? in->revertToState : "ACTIVE",
                              "killTasksOnDecommissionTimeout",
                              in->has_killTasksOnDecommissionTimeout &&
                                  in->killTasksOnDecommissionTimeout,
                              "state", in->state, "expiresAt",
                              (json_int_t)(in->timestamp + in->durationMillis));
        if (in->revertToState)
            json_object_set_new(req, "revertToState", json_string(in->revertToState));
        if (in->has_killTasksOnDecommissionTimeout)
            json_object_set_new(req, "killTasksOnDecommissionTimeout",
                                json_boolean(in->killTasksOnDecommissionTimeout));
        if (in->message)
            json_object_set_new(req, "message", json_string(in->message));
        if (in->actionId) {
            json_object_set_new(req, "actionId", json_string(in->actionId));
            json_object_set_new(x, "actionId", json_string(in->actionId));
        }
        if (in->user)
            json_object_set_new(x, "user", json_string(in->user));
        json_object_set_new(x, "expiringAPIRequestObject", req);
        json_array_append_new(list, x);
    }
    ok(h, 200, list);
}

/* Deletes a machine's document and intent (compared with what was read). */
static void machine_forget(hctx *h, api_key_kind kind, const char *id)
{
    char *k = machine_key(h, kind, id), *ik = machine_intent_key(h, kind, id);
    as_txn_cmp(&h->out->txn, k, rev_of(h, k));
    as_txn_del(&h->out->txn, k);
    if (as_cache_get(h->c, ik))
        as_txn_del(&h->out->txn, ik);
    free(k);
    free(ik);
}

/* DELETE .../agent/{id}: forget a DEAD or DECOMMISSIONED machine (its
 * history with it); the bridge writes it again, ACTIVE, if the master
 * lists it. */
static void h_machine_delete(hctx *h, api_key_kind kind, const char *param)
{
    const char *id, *cur;
    const json_t *doc = machine_of_path(h, kind, param, &id);

    if (!doc)
        return;
    cur = machine_state(h, kind, id, doc);
    if (!one_state(cur, "DEAD", "DECOMMISSIONED", "MISSING_ON_STARTUP", NULL)) {
        as_fail(h->out, 409, "%s %s is %s: only a DEAD or DECOMMISSIONED %s can be removed",
                machine_noun(kind), id, cur, machine_noun(kind));
        return;
    }
    machine_forget(h, kind, id);
    ok(h, 204, NULL);
}

/* DELETE /api/agents/dead: forget every DEAD agent, as many as one etcd
 * txn holds (an agent takes a compare and one or two deletes, with its
 * intent; etcd's --max-txn-ops, 128 by default, bounds both): the answer's
 * "remaining" says how many are left for the next call. */
#define DEAD_TXN_OPS 120
static void h_machines_dead_delete(hctx *h, api_key_kind kind)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, kind, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first), ops = 0, remaining = 0;
    json_t *ids = json_array();

    free(prefix);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        json_t *doc = e->id1 ? as_m_machine_json(e) : NULL;
        bool dead = doc && !strcmp(machine_state(h, kind, e->id1, doc), "DEAD");
        json_decref(doc);
        if (!dead)
            continue;
        char *ik = machine_intent_key(h, kind, e->id1);
        size_t cost = as_cache_get(h->c, ik) ? 2 : 1;
        free(ik);
        if (ops + cost > DEAD_TXN_OPS) {
            remaining++;
            continue;
        }
        ops += cost;
        json_array_append_new(ids, json_string(e->id1));
    }
    for (size_t i = 0; i < json_array_size(ids); i++)
        machine_forget(h, kind, json_string_value(json_array_get(ids, i)));
    ok(h, 200, json_pack("{s:o,s:I}", "deleted", ids, "remaining", (json_int_t)remaining));
}

/* ---- inactive hosts (/api/inactive) ----------------------------------------------- */

static const char *inactive_host(hctx *h)
{
    const char *host = as_req_query(h->req, "host");
    if (!host || !*host) {
        as_fail(h->out, 400, "query parameter host: required");
        return NULL;
    }
    if (!api_key_id_valid(host) || strlen(host) > 253) {
        as_fail(h->out, 400, "query parameter host: '%s' is not a host name", host);
        return NULL;
    }
    return host;
}

static void h_inactive_list(hctx *h)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_INACTIVE_HOST, NULL);
    size_t first, n = as_cache_range(h->c, prefix, &first);
    json_t *list = json_array();

    free(prefix);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        if (e->id1 && e->kind == API_KEY_INACTIVE_HOST)
            json_array_append_new(list, json_string(e->id1));
    }
    ok(h, 200, list);
}

static void h_inactive_add(hctx *h)
{
    const char *host = inactive_host(h);
    char *k;

    if (!host)
        return;
    k = api_key_inactive_host(h->cfg->prefix, host);
    if (!as_cache_get(h->c, k)) { /* marked already: the first mark's time counts */
        json_t *doc = json_pack("{s:s}", "message", "marked inactive");
        stamp(h, doc);
        as_txn_cmp(&h->out->txn, k, 0);
        as_txn_put(&h->out->txn, k, doc);
        json_decref(doc);
    }
    free(k);
    ok(h, 204, NULL);
}

static void h_inactive_delete(hctx *h)
{
    const char *host = inactive_host(h);
    char *k;

    if (!host)
        return;
    k = api_key_inactive_host(h->cfg->prefix, host);
    if (!as_cache_get(h->c, k))
        as_fail(h->out, 404, "host %s is not marked inactive", host);
    else {
        as_txn_del(&h->out->txn, k);
        ok(h, 204, NULL);
    }
    free(k);
}

static void h_inactive_clear(hctx *h)
{
    char *prefix = api_key_kind_prefix(h->cfg->prefix, API_KEY_INACTIVE_HOST, NULL);
    as_txn_del_prefix(&h->out->txn, prefix);
    free(prefix);
    ok(h, 204, NULL);
}

/* ---- special operations: input checks only ---------------------------------------- */

static void h_watch(hctx *h)
{
    const char *prefix = as_req_query(h->req, "prefix");
    size_t plen = strlen(h->cfg->prefix);
    int64_t rev;

    if (query_int(h, "revision", 0, 0, INT64_MAX, &rev) < 0)
        return;
    if (prefix && prefix[0] == '/' &&
        (strncmp(prefix, h->cfg->prefix, plen) != 0 || (prefix[plen] && prefix[plen] != '/'))) {
        as_fail(h->out, 400, "query parameter prefix: must be under %s", h->cfg->prefix);
        return;
    }
    h->out->kind = AS_RESULT_SPECIAL;
    h->out->status = 200;
}

static void h_sandbox(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    const char *path = as_req_query(h->req, "path");
    int64_t v;
    bool hist;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0)
        return;
    if (path) {
        /* One rule for sandbox paths, as_sandbox's; the agent checks again. */
        const char *why = as_sandbox_check_path(path);
        if (why) {
            as_fail(h->out, 400, "query parameter path: %s", why);
            return;
        }
    }
    if (h->req->match->op == AS_OP_SANDBOX_READ) {
        if (!path) {
            as_fail(h->out, 400, "query parameter path: required");
            return;
        }
        if (query_int(h, "offset", 0, 0, INT64_MAX, &v) < 0 ||
            query_int(h, "length", 0, 0, INT64_MAX, &v) < 0)
            return;
    }
    if (!as_m_task_entry(h->cfg, h->c, tid, &hist)) {
        as_fail(h->out, 404, "No task with id %s", tid);
        return;
    }
    h->out->kind = AS_RESULT_SPECIAL;
    h->out->status = 200;
}

/* ---- /api/logs and /api/nodeagent (as_logs.h) ----------------------------------------- */

/* GET /api/logs/task/{taskId}, /request/{requestId}[/deploy/{deployId}]:
 * the uploaded files with presigned URLs (Singularity's S3LogResource). */
static void h_logs_list(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *did = as_match_param(h->req->match, "deployId");
    int64_t start, end, max;
    bool list_only, exclude;
    char *owned = NULL;
    as_logs_s3 cfg;

    if (query_int(h, "start", 0, 0, INT64_MAX, &start) < 0 ||
        query_int(h, "end", 0, 0, INT64_MAX, &end) < 0 ||
        query_int(h, "maxPerPage", 0, 0, 100000, &max) < 0 || query_bool(h, "list", &list_only) < 0 ||
        query_bool(h, "excludeMetadata", &exclude) < 0)
        return;
    if (tid) {
        if (check_part(h, "task id", tid, api_key_id_valid) < 0)
            return;
        if (!(owned = task_request_id(tid))) {
            as_fail(h->out, 400, "invalid task id '%.200s'", tid);
            return;
        }
        rid = owned;
    } else if (check_request_id(h, rid) < 0 ||
               (did && check_part(h, "deploy id", did, api_deploy_id_valid) < 0)) {
        return;
    }
    as_logs_s3_from_env(&cfg);
    ok(h, 200,
       as_logs_list_opts(h->cfg->prefix, h->c, &cfg, rid, tid, did, h->req->now, start, end,
                         !list_only, (size_t)max));
    free(owned);
}

/* GET /api/logs/task/{taskId}/follow: input checks; as_logs streams it. */
static void h_logs_follow(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    const char *path = as_req_query(h->req, "path"), *f = as_req_query(h->req, "follow");
    int64_t v;
    bool hist;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0)
        return;
    if (path) {
        const char *why = *path ? as_sandbox_check_path(path) : "query parameter path: empty";
        if (why) {
            as_fail(h->out, 400, "query parameter path: %s", why);
            return;
        }
    }
    if (query_int(h, "offset", 0, 0, INT64_MAX, &v) < 0 ||
        query_int(h, "lines", 0, 0, 1000000, &v) < 0)
        return;
    if (f && strcmp(f, "true") != 0 && strcmp(f, "false") != 0) {
        as_fail(h->out, 400, "query parameter follow: must be true or false");
        return;
    }
    if (!as_m_task_entry(h->cfg, h->c, tid, &hist)) {
        as_fail(h->out, 404, "No task with id %s", tid);
        return;
    }
    h->out->kind = AS_RESULT_SPECIAL;
    h->out->status = 200;
}

/* GET /api/nodeagent/uploads/{taskId}: every upload record of the task,
 * whatever its state, for a node agent that restarted. */
static void h_nodeagent_uploads(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    api_task_id t;
    cr_err err;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0)
        return;
    if (api_task_id_parse(tid, &t, &err) < 0) {
        as_fail(h->out, 400, "invalid task id '%.200s': %s", tid, cr_err_msg(&err));
        return;
    }
    ok(h, 200,
       json_pack("{s:s, s:s, s:s, s:o}", "taskId", tid, "requestId", t.requestId, "deployId",
                 t.deployId, "records", as_logs_records(h->cfg->prefix, h->c, t.requestId, tid)));
    api_task_id_release(&t);
}

/* PUT /api/nodeagent/uploads/{taskId}/{fileName}: a node agent records an
 * upload it starts (UPLOADING) or that S3 confirmed (UPLOADED). With
 * ?ifRevision=N the write happens only if the record's mod revision is
 * still N (0: absent), so two writers cannot both think they own it. */
static void h_nodeagent_upload_put(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    const char *file = as_match_param(h->req->match, "fileName");
    const char *why;
    int64_t if_rev;
    api_task_id t;
    cr_err err;
    char *k;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0 ||
        check_part(h, "file name", file, api_key_id_valid) < 0 || parse_body(h, true) < 0 ||
        query_int(h, "ifRevision", -1, 0, INT64_MAX, &if_rev) < 0)
        return;
    if ((why = as_logs_check_record(h->body))) {
        as_fail(h->out, 400, "%s", why);
        return;
    }
    if (api_task_id_parse(tid, &t, &err) < 0) {
        as_fail(h->out, 400, "invalid task id '%.200s': %s", tid, cr_err_msg(&err));
        return;
    }
    json_object_set_new(h->body, "taskId", json_string(tid));
    json_object_set_new(h->body, "requestId", json_string(t.requestId));
    json_object_set_new(h->body, "deployId", json_string(t.deployId));
    json_object_del(h->body, "fileName");
    json_object_del(h->body, "modRevision");
    k = api_key_log_upload(h->cfg->prefix, t.requestId, tid, file);
    if (if_rev >= 0 && if_rev != rev_of(h, k)) {
        as_fail(h->out, 409, "upload record %s/%s changed (revision %lld, not %lld)", tid, file,
                (long long)rev_of(h, k), (long long)if_rev);
    } else {
        as_txn_cmp(&h->out->txn, k, rev_of(h, k));
        as_txn_put(&h->out->txn, k, h->body);
        if (!as_cache_get(h->c, k)) {
            /* a new record: the request's oldest go beyond the bound */
            json_t *old = as_logs_evict(h->cfg->prefix, h->c, t.requestId, AS_LOGS_MAX_RECORDS);
            size_t i;
            json_t *ek;
            json_array_foreach (old, i, ek) {
                if (i >= 32)
                    break; /* a txn holds 128 ops; the next writes drop the rest */
                as_txn_cmp(&h->out->txn, json_string_value(ek),
                           rev_of(h, json_string_value(ek)));
                as_txn_del(&h->out->txn, json_string_value(ek));
            }
            json_decref(old);
        }
        ok(h, 200, json_deep_copy(h->body));
    }
    free(k);
    api_task_id_release(&t);
}

/* PUT /api/nodeagent/tasks/{taskId}: a node agent's note on a task
 * ({"killedBy": {"reason", "message", "at", ...}}), shown in the task's
 * history (nodeagent_history). */
static void h_nodeagent_task_put(hctx *h)
{
    const char *tid = as_match_param(h->req->match, "taskId");
    const json_t *kb;
    api_task_id t;
    cr_err err;
    char *k;

    if (check_part(h, "task id", tid, api_key_id_valid) < 0 || parse_body(h, true) < 0)
        return;
    kb = json_object_get(h->body, "killedBy");
    if (json_object_size(h->body) != 1 || !json_is_object(kb) ||
        !json_is_string(json_object_get(kb, "message")) ||
        !json_is_integer(json_object_get(kb, "at")) || json_object_size(kb) > 16 ||
        strlen(json_string_value(json_object_get(kb, "message"))) > 1024) {
        as_fail(h->out, 400, "node agent note: want {\"killedBy\": {\"message\": string of at most "
                             "1024 bytes, \"at\": epoch ms, ...}}");
        return;
    }
    if (api_task_id_parse(tid, &t, &err) < 0) {
        as_fail(h->out, 400, "invalid task id '%.200s': %s", tid, cr_err_msg(&err));
        return;
    }
    json_object_set_new(h->body, "taskId", json_string(tid));
    k = api_key_nodeagent_task(h->cfg->prefix, t.requestId, tid);
    as_txn_cmp(&h->out->txn, k, rev_of(h, k));
    as_txn_put(&h->out->txn, k, h->body);
    ok(h, 200, json_deep_copy(h->body));
    free(k);
    api_task_id_release(&t);
}

/* A node agent's kill of the task (P/nodeagent/tasks/...) as a
 * TASK_CLEANING update of its history, in time order, as Singularity shows
 * a kill's message: the reason the task's end has. */
static void nodeagent_history(hctx *h, const char *tid, json_t *hist)
{
    api_task_id t;
    cr_err err;
    char *k;
    const json_t *note, *kb, *task_id;
    json_t *ups = json_object_get(hist, "taskUpdates"), *u;
    json_int_t at;
    size_t i;

    if (!json_is_array(ups) || api_task_id_parse(tid, &t, &err) < 0)
        return;
    k = api_key_nodeagent_task(h->cfg->prefix, t.requestId, tid);
    note = as_cache_value(h->c, k);
    kb = json_object_get(note, "killedBy");
    free(k);
    api_task_id_release(&t);
    if (!json_is_string(json_object_get(kb, "message")))
        return;
    at = json_integer_value(json_object_get(kb, "at"));
    task_id = json_object_get(json_object_get(hist, "task"), "taskId");
    u = json_pack("{s:O, s:s, s:I, s:O, s:s}", "taskId", task_id ? task_id : json_null(),
                  "taskState", "TASK_CLEANING", "timestamp", at, "statusMessage",
                  json_object_get(kb, "message"), "source", "SOURCE_NODE_AGENT");
    /* in time order, and before the task's end (the end's time comes
     * from the executor's clock, and may be as coarse as a second) */
    for (i = 0; i < json_array_size(ups); i++) {
        const json_t *x = json_array_get(ups, i);
        const char *st = json_string_value(json_object_get(x, "taskState"));
        if (json_integer_value(json_object_get(x, "timestamp")) > at ||
            (st && api_task_state_terminal(api_task_state_parse(st))))
            break;
    }
    json_array_insert_new(ups, i, u);
}

/* /api/state's includeRequestIds into *ids; -1 with the error answer set. */
static int state_ids(hctx *h, bool *ids)
{
    if (query_bool(h, "includeRequestIds", ids) < 0)
        return -1;
    /* The ids of every request in trouble name other teams' requests too. */
    if (*ids && auth_policy(h->cfg) && !as_auth_is_admin(auth_policy(h->cfg), h->req->who))
        return as_fail(h->out, 403, "includeRequestIds: admins only (the counts are for everyone)");
    return 0;
}

static void h_state(hctx *h)
{
    bool ids;
    if (state_ids(h, &ids) < 0)
        return;
    ok(h, 200, as_api_state(h->cfg, h->c, h->req->now, ids, h->req->who));
}

as_walk *as_walk_new(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                     as_result *err)
{
    hctx h = {cfg, cache, req, err, NULL, NULL};
    as_op op = req->match->op;
    bool ids = false;

    memset(err, 0, sizeof(*err));
    if (!authorize(&h))
        return NULL;
    switch (op) {
    case AS_OP_STATE:
        if (state_ids(&h, &ids) < 0)
            return NULL;
        break;
    case AS_OP_STATE_UNDER: /* as as_compat.h answers them */
    case AS_OP_STATE_OVER:
    case AS_OP_STATE_SCHEDULED_INFO:
        ids = true;
        break;
    case AS_OP_METRICS:
        break;
    default:
        as_fail(err, 500, "not a whole-cache read");
        return NULL;
    }
    return as_walk_start(cfg, op, req->now, ids, req->who);
}

/* ---- /api/auth ----------------------------------------------------------------------- */

/* SingularityUser of u (authenticated: known by credentials). */
static json_t *user_json(const api_user *u, bool authenticated)
{
    json_t *j = api_user_to_json(u);
    if (!json_object_get(j, "name") && u->id)
        json_object_set_new(j, "name", json_string(u->id));
    if (!json_object_get(j, "groups"))
        json_object_set_new(j, "groups", json_array());
    json_object_set_new(j, "scopes", json_array());
    json_object_set_new(j, "authenticated", json_boolean(authenticated));
    return j;
}

/* GET /api/auth/user: SingularityUserHolder, plus how the caller was known
 * and whether they are an admin. */
static void h_auth_user(hctx *h)
{
    const as_auth_policy *p = auth_policy(h->cfg);
    const as_identity *who = h->req->who;
    api_user anon = {.id = (char *)"anonymous"};
    json_t *b;

    b = json_pack("{s:o, s:b, s:b, s:b}", "user", user_json(who ? &who->user : &anon, who != NULL),
                  "authenticated", who != NULL, "authEnabled", p != NULL, "admin",
                  as_auth_is_admin(p, who));
    if (who && who->via)
        json_object_set_new(b, "via", json_string(who->via));
    ok(h, 200, b);
}

static int scope_access(hctx *h, as_access *out)
{
    const char *scope = as_req_query(h->req, "scope");

    if (!scope || strcmp(scope, "READ") == 0)
        *out = AS_ACCESS_READ;
    else if (strcmp(scope, "WRITE") == 0)
        *out = AS_ACCESS_WRITE;
    else if (strcmp(scope, "ADMIN") == 0)
        *out = AS_ACCESS_ADMIN;
    else
        return as_fail(h->out, 400, "query parameter scope: must be READ, WRITE or ADMIN");
    return 0;
}

/* GET /api/auth/{requestId}/auth-check[/{userId}]?scope=: 200 with no body
 * if the caller (or userId, as their newest token knows them) may, else
 * 403 saying why. An unknown request passes (Singularity's rule). */
static void h_auth_check(hctx *h)
{
    const as_auth_policy *p = auth_policy(h->cfg);
    const char *rid = as_match_param(h->req->match, "requestId");
    const char *uid = as_match_param(h->req->match, "userId");
    const as_identity *who = h->req->who;
    as_identity looked = {0};
    api_request *owned = NULL;
    const api_request *req;
    as_access access = AS_ACCESS_READ;
    as_verdict v;

    if (check_request_id(h, rid) < 0 || scope_access(h, &access) < 0)
        return;
    if (uid) {
        if (!api_user_id_valid(uid)) {
            as_fail(h->out, 400, "invalid user id '%.100s'", uid);
            return;
        }
        who = NULL;
        if (p && as_auth_lookup_user(h->cfg->auth, h->c, h->cfg->prefix, uid, h->req->now,
                                     &looked))
            who = &looked;
    }
    req = owners_of(h->cfg, h->c, rid, &owned);
    if (uid && p && !who)
        as_fail(h->out, 403, "user '%s' has no valid token: unknown users may do nothing", uid);
    else if (!req || as_auth_check(p, who, access, rid, req, NULL, &v))
        ok(h, 200, NULL);
    else
        deny(h, &v);
    api_request_free(owned);
    as_identity_release(&looked);
}

/* The token documents of user id uid (borrowed entries) into a new array
 * of keys (caller frees each and the array); their count in *n. */
static char **tokens_of(hctx *h, const char *uid, size_t *n)
{
    char *kp = api_key_kind_prefix(h->cfg->prefix, API_KEY_AUTH_TOKEN, NULL);
    size_t first, count = as_cache_range(h->c, kp, &first);
    char **keys = NULL;

    free(kp);
    *n = 0;
    for (size_t i = first; i < first + count; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        const api_token *t = e->doc;
        const char *owner = t ? t->user.id : as_jstr(json_object_get(e->value, "user"), "id");
        if (!owner || strcmp(owner, uid) != 0)
            continue;
        keys = xrealloc(keys, (*n + 1) * sizeof(*keys));
        keys[(*n)++] = xstrdup(e->key);
    }
    return keys;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static const fld token_req_fields[] = {
    {"token", K_STR}, {"user", K_OBJ}, {"expiresAt", K_INT}, {"description", K_STR},
};

/* POST /api/auth/token {token?, user?, expiresAt?, description?}: a new
 * token for user (admins only) or for the caller. Like Singularity, the
 * user's other tokens are revoked in the same transaction. The answer
 * {token, user} is the only place the token's text ever appears. */
static void h_auth_token_post(hctx *h)
{
    const as_auth_policy *p = auth_policy(h->cfg);
    api_problems probs = API_PROBLEMS_INIT;
    static const api_decode_opts uopts = {.path_prefix = "user"};
    api_token t = {0};
    api_user *target = NULL;
    const char *given;
    char *text = NULL, *key = NULL, **old = NULL;
    char hash[API_TOKEN_HASH_LEN + 1];
    const as_entry *e;
    size_t nold = 0;
    json_t *doc = NULL;

    if (parse_body(h, false) < 0 || CHECK(h, h->body, "token request", token_req_fields) < 0)
        goto out;
    if (has(h->body, "user")) {
        if (p && !as_auth_is_admin(p, h->req->who)) {
            as_verdict v;
            as_auth_check(p, h->req->who, AS_ACCESS_ADMIN, NULL, NULL, NULL, &v);
            deny(h, &v);
            goto out;
        }
        if (!(target = api_user_from_json(json_object_get(h->body, "user"), &uopts, &probs))) {
            problems_fail(h, "user", &probs);
            goto out;
        }
    } else if (h->req->who) {
        target = xcalloc(1, sizeof(*target));
        api_user_copy(target, &h->req->who->user);
    } else {
        as_fail(h->out, 400, "user: required when the caller is not authenticated");
        goto out;
    }
    given = as_jstr(h->body, "token");
    if (given) {
        size_t len = strlen(given);
        bool printable = true;
        for (size_t i = 0; i < len; i++)
            printable = printable && (unsigned char)given[i] > 0x20 && (unsigned char)given[i] < 0x7f;
        if (len < 32 || len > API_TOKEN_MAX_LEN || !printable) {
            as_fail(h->out, 400, "token: must be 32-%d printable characters without spaces",
                    API_TOKEN_MAX_LEN);
            goto out;
        }
        text = xstrdup(given);
    } else if (!(text = api_token_generate())) {
        as_fail(h->out, 503, "no randomness available to make a token");
        goto out;
    }
    api_token_hash(text, strlen(text), hash);
    key = api_key_auth_token(h->cfg->prefix, hash);
    e = as_cache_get(h->c, key);
    if (e && !(e->doc && strcmp(((const api_token *)e->doc)->user.id, target->id) == 0)) {
        as_fail(h->out, 409, "token: already in use; choose another or let Corral make one");
        goto out;
    }
    t.has_user = true;
    t.user = *target;
    t.createdBy = h->req->user ? (char *)h->req->user : NULL;
    t.has_createdAt = true;
    t.createdAt = h->req->now;
    if (json_is_integer(json_object_get(h->body, "expiresAt"))) {
        t.has_expiresAt = true;
        t.expiresAt = json_integer_value(json_object_get(h->body, "expiresAt"));
        if (t.expiresAt <= h->req->now) {
            as_fail(h->out, 400, "expiresAt: must be in the future (epoch ms)");
            goto out;
        }
    }
    /* A token the caller makes for itself never outlives the credential it
     * was made with (a UI login's 8 hours, a token's or a certificate's
     * expiry); a proxy's header is trusted as long as a UI login. Admins
     * naming a user make what they ask for. */
    if (!has(h->body, "user") && h->req->who) {
        int64_t cap = h->req->who->expires_at;
        if (!cap && h->req->who->via && strcmp(h->req->who->via, "header") == 0)
            cap = h->req->now + AS_LOGIN_TOKEN_TTL_MS;
        if (cap && (!t.has_expiresAt || t.expiresAt > cap)) {
            t.has_expiresAt = true;
            t.expiresAt = cap;
        }
    }
    t.description = (char *)as_jstr(h->body, "description");
    doc = api_token_to_json(&t);
    old = tokens_of(h, target->id, &nold);
    for (size_t i = 0; i < nold; i++)
        if (strcmp(old[i], key) != 0)
            as_txn_del(&h->out->txn, old[i]);
    as_txn_cmp(&h->out->txn, key, e ? e->mod_revision : 0);
    as_txn_put(&h->out->txn, key, doc);
    ok(h, 200, json_pack("{s:s, s:o}", "token", text, "user", user_json(target, true)));
    if (t.has_expiresAt)
        json_object_set_new(h->out->body, "expiresAt", json_integer(t.expiresAt));
out:
    if (text)
        OPENSSL_cleanse(text, strlen(text));
    free(text);
    free(key);
    free_keys(old, nold);
    json_decref(doc);
    api_user_free(target);
    api_problems_release(&probs);
}

/* DELETE /api/auth/token/{userId}: revokes every token of the user. */
static void h_auth_token_delete(hctx *h)
{
    const char *uid = as_match_param(h->req->match, "userId");
    size_t n;
    char **keys;

    if (!api_user_id_valid(uid)) {
        as_fail(h->out, 400, "invalid user id '%.100s'", uid ? uid : "");
        return;
    }
    keys = tokens_of(h, uid, &n);
    for (size_t i = 0; i < n; i++)
        as_txn_del(&h->out->txn, keys[i]);
    free_keys(keys, n);
    ok(h, 200, json_pack("{s:s, s:I}", "user", uid, "revoked", (json_int_t)n));
}

/* GET /api/auth/tokens: every token's owner and dates (never its text). */
static void h_auth_tokens(hctx *h)
{
    char *kp = api_key_kind_prefix(h->cfg->prefix, API_KEY_AUTH_TOKEN, NULL);
    size_t first, n = as_cache_range(h->c, kp, &first);
    json_t *list = json_array();

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(h->c, i);
        const api_token *t = e->doc;
        json_t *tj = t ? api_token_to_json(t) : json_object();
        json_object_set_new(tj, "id", json_stringn(e->id1 ? e->id1 : "", e->id1 ? strnlen(e->id1, 12) : 0));
        if (t)
            json_object_set_new(tj, "expired", json_boolean(api_token_expired(t, h->req->now)));
        else
            json_object_set_new(tj, "error", json_string(e->error ? e->error : "unreadable"));
        json_array_append_new(list, tj);
    }
    ok(h, 200, list);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

void as_api_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                   as_result *out)
{
    viewer view = {cfg, req->who, NULL, false};
    hctx h = {cfg, cache, req, out, NULL, &view, 0};
    const char *rid = as_match_param(req->match, "requestId");

    memset(out, 0, sizeof(*out));
    out->status = 500;
    if (!authorize(&h))
        return;
    if (as_list_op(req->match->op)) {
        h_list(&h);
        return;
    }
    switch (req->match->op) {
    case AS_OP_HEALTHZ:
    case AS_OP_READYZ:
    case AS_OP_METRICS:
        out->kind = AS_RESULT_SPECIAL;
        out->status = 200;
        break;
    case AS_OP_WATCH:
        h_watch(&h);
        break;
    case AS_OP_STATE:
        h_state(&h);
        break;
    case AS_OP_REQ_QUEUED_PENDING:
        h_req_queued_pending(&h);
        break;
    case AS_OP_REQ_QUEUED_CLEANUP:
        h_req_queued_cleanup(&h);
        break;
    case AS_OP_REQ_POST:
        h_req_post(&h);
        break;
    case AS_OP_REQ_GET:
        h_req_get(&h);
        break;
    case AS_OP_REQ_DELETE:
        h_req_delete(&h);
        break;
    case AS_OP_REQ_BOUNCE:
        h_req_bounce(&h);
        break;
    case AS_OP_REQ_BOUNCE_CANCEL:
        h_req_cancel_expiry(&h, "bounce");
        break;
    case AS_OP_REQ_PAUSE:
        h_req_pause(&h);
        break;
    case AS_OP_REQ_PAUSE_CANCEL:
        h_req_cancel_expiry(&h, "pause");
        break;
    case AS_OP_REQ_UNPAUSE:
        h_req_unpause(&h);
        break;
    case AS_OP_REQ_SCALE:
        h_req_scale(&h);
        break;
    case AS_OP_REQ_SCALE_CANCEL:
        h_req_cancel_expiry(&h, "scale");
        break;
    case AS_OP_REQ_SKIPHC:
        h_req_skiphc(&h);
        break;
    case AS_OP_REQ_SKIPHC_CANCEL:
        h_req_cancel_expiry(&h, "skip-healthchecks");
        break;
    case AS_OP_REQ_RUN:
        h_req_run(&h);
        break;
    case AS_OP_REQ_RUN_GET:
        h_req_run_get(&h);
        break;
    case AS_OP_REQ_EXIT_COOLDOWN:
        h_req_exit_cooldown(&h);
        break;
    case AS_OP_DEPLOY_POST:
        h_deploy_post(&h);
        break;
    case AS_OP_DEPLOY_CANCEL:
        h_deploy_cancel(&h);
        break;
    case AS_OP_DEPLOY_PENDING:
        h_deploy_pending(&h);
        break;
    case AS_OP_DEPLOY_UPDATE:
        h_deploy_update(&h);
        break;
    case AS_OP_TASKS_SCHEDULED_TASK:
        h_tasks_scheduled_task(&h, false);
        break;
    case AS_OP_TASKS_SCHEDULED_DELETE:
        h_tasks_scheduled_task(&h, true);
        break;
    case AS_OP_TASKS_IDS_REQUEST:
        if (need_request(&h, rid))
            ok(&h, 200, as_m_task_ids_by_status(cfg, cache, rid));
        break;
    case AS_OP_TASK_GET:
        h_task_get(&h);
        break;
    case AS_OP_TASK_KILL:
        h_task_kill(&h);
        break;
    case AS_OP_HIST_TASK:
        h_hist_task(&h);
        break;
    case AS_OP_HIST_TASKS:
        h_hist_tasks(&h);
        break;
    case AS_OP_HIST_REQ_TASKS:
        h_hist_req_tasks(&h, false);
        break;
    case AS_OP_HIST_REQ_TASKS_ACTIVE:
        h_hist_req_tasks(&h, true);
        break;
    case AS_OP_HIST_REQ_DEPLOYS:
        h_hist_req_deploys(&h);
        break;
    case AS_OP_HIST_REQ_DEPLOY:
        h_hist_req_deploy(&h);
        break;
    case AS_OP_HIST_REQ_REQUESTS:
        h_hist_req_requests(&h);
        break;
    case AS_OP_SANDBOX_BROWSE:
    case AS_OP_SANDBOX_READ:
        h_sandbox(&h);
        break;
    case AS_OP_LOGS_TASK:
    case AS_OP_LOGS_REQUEST:
    case AS_OP_LOGS_DEPLOY:
        h_logs_list(&h);
        break;
    case AS_OP_LOGS_FOLLOW:
        h_logs_follow(&h);
        break;
    case AS_OP_NODEAGENT_UPLOADS:
        h_nodeagent_uploads(&h);
        break;
    case AS_OP_NODEAGENT_UPLOAD_PUT:
        h_nodeagent_upload_put(&h);
        break;
    case AS_OP_NODEAGENT_TASK_PUT:
        h_nodeagent_task_put(&h);
        break;
    case AS_OP_AGENTS_LIST:
        h_machines_list(&h, API_KEY_AGENT);
        break;
    case AS_OP_AGENTS_EXPIRING:
        h_machines_expiring(&h, API_KEY_AGENT);
        break;
    case AS_OP_AGENTS_DEAD_DELETE:
        h_machines_dead_delete(&h, API_KEY_AGENT);
        break;
    case AS_OP_AGENT_DETAILS:
        h_machine_details(&h, API_KEY_AGENT, "agentId");
        break;
    case AS_OP_AGENT_DELETE:
        h_machine_delete(&h, API_KEY_AGENT, "agentId");
        break;
    case AS_OP_AGENT_DECOMMISSION_UPDATE:
        h_machine_decommission_update(&h, API_KEY_AGENT, "agentId");
        break;
    case AS_OP_AGENT_EXPIRING_DELETE:
        h_machine_expiring_delete(&h, API_KEY_AGENT, "agentId");
        break;
    case AS_OP_RACKS_EXPIRING:
        h_machines_expiring(&h, API_KEY_RACK);
        break;
    case AS_OP_RACK_DELETE:
        h_machine_delete(&h, API_KEY_RACK, "rackId");
        break;
    case AS_OP_RACK_EXPIRING_DELETE:
        h_machine_expiring_delete(&h, API_KEY_RACK, "rackId");
        break;
    case AS_OP_INACTIVE_LIST:
        h_inactive_list(&h);
        break;
    case AS_OP_INACTIVE_ADD:
        h_inactive_add(&h);
        break;
    case AS_OP_INACTIVE_DELETE:
        h_inactive_delete(&h);
        break;
    case AS_OP_INACTIVE_CLEAR:
        h_inactive_clear(&h);
        break;
    case AS_OP_WEBHOOKS_LIST:
    case AS_OP_WEBHOOK_ADD:
    case AS_OP_WEBHOOK_DELETE:
    case AS_OP_WEBHOOKS_SUMMARY:
    case AS_OP_WEBHOOK_QUEUE_REQUEST:
    case AS_OP_WEBHOOK_QUEUE_DEPLOY:
    case AS_OP_WEBHOOK_QUEUE_TASK:
        as_webhooks_handle(cfg, cache, req, out);
        break;
    case AS_OP_SOURCES_LIST:
    case AS_OP_SOURCE_POST:
    case AS_OP_SOURCE_GET:
    case AS_OP_SOURCE_DELETE:
    case AS_OP_SOURCE_SYNC:
        as_sources_handle(cfg, cache, req, out);
        break;
    case AS_OP_AGENT_GET:
        h_machine_get(&h, API_KEY_AGENT, "agentId");
        break;
    case AS_OP_AGENT_DECOMMISSION:
        h_machine_change(&h, API_KEY_AGENT, "agentId", "STARTING_DECOMMISSION");
        break;
    case AS_OP_AGENT_FREEZE:
        h_machine_change(&h, API_KEY_AGENT, "agentId", "FROZEN");
        break;
    case AS_OP_AGENT_ACTIVATE:
        h_machine_change(&h, API_KEY_AGENT, "agentId", "ACTIVE");
        break;
    case AS_OP_RACKS_LIST:
        h_machines_list(&h, API_KEY_RACK);
        break;
    case AS_OP_RACK_GET:
        h_machine_get(&h, API_KEY_RACK, "rackId");
        break;
    case AS_OP_RACK_DECOMMISSION:
        h_machine_change(&h, API_KEY_RACK, "rackId", "STARTING_DECOMMISSION");
        break;
    case AS_OP_RACK_FREEZE:
        h_machine_change(&h, API_KEY_RACK, "rackId", "FROZEN");
        break;
    case AS_OP_RACK_ACTIVATE:
        h_machine_change(&h, API_KEY_RACK, "rackId", "ACTIVE");
        break;
    case AS_OP_AUTH_USER:
        h_auth_user(&h);
        break;
    case AS_OP_AUTH_CHECK:
    case AS_OP_AUTH_CHECK_USER:
        h_auth_check(&h);
        break;
    case AS_OP_AUTH_TOKEN_POST:
        h_auth_token_post(&h);
        break;
    case AS_OP_AUTH_TOKEN_DELETE:
        h_auth_token_delete(&h);
        break;
    case AS_OP_AUTH_TOKENS:
        h_auth_tokens(&h);
        break;
    case AS_OP_REQ_PRIORITY:
    case AS_OP_REQ_PRIORITY_CANCEL:
        h_req_priority(&h, req->match->op == AS_OP_REQ_PRIORITY_CANCEL);
        break;
    case AS_OP_REQ_GROUPS:
    case AS_OP_REQ_GROUPS_CHECK:
        h_req_groups(&h, req->match->op == AS_OP_REQ_GROUPS_CHECK);
        break;
    case AS_OP_HIST_TASKS_META:
        h_hist_tasks(&h);
        with_metadata(&h);
        break;
    case AS_OP_HIST_REQ_TASKS_META:
        h_hist_req_tasks(&h, false);
        with_metadata(&h);
        break;
    case AS_OP_HIST_REQ_DEPLOYS_META:
        h_hist_req_deploys(&h);
        with_metadata(&h);
        break;
    case AS_OP_HIST_REQ_REQUESTS_META:
        h_hist_req_requests(&h);
        with_metadata(&h);
        break;
    case AS_OP_HIST_DEPLOY_TASKS_ACTIVE:
        h_hist_deploy_tasks(&h, true);
        break;
    case AS_OP_HIST_DEPLOY_TASKS_INACTIVE:
        h_hist_deploy_tasks(&h, false);
        break;
    case AS_OP_HIST_DEPLOY_TASKS_INACTIVE_META:
        h_hist_deploy_tasks(&h, false);
        with_metadata(&h);
        break;
    case AS_OP_HIST_REQ_RUN:
        h_hist_req_run(&h);
        break;
    default:
        if (as_shell_op(req->match->op))
            as_shell_handle(cfg, cache, req, out); /* task shell commands */
        else if (as_compat_op(req->match->op))
            as_compat_handle(cfg, cache, req, out); /* Singularity's other reads */
        else
            as_fail(out, 404, "unknown operation");
        break;
    }
    json_decref(h.body);
    json_decref(h.kept);
    viewer_release(&view);
}

bool as_api_may_read(const as_api_config *cfg, const as_cache *cache, const as_identity *who,
                     const char *rid)
{
    viewer v = {cfg, who, NULL, false};
    bool sees = viewer_sees(&v, cache, rid);

    viewer_release(&v);
    return sees;
}

bool as_api_may_write(const as_api_config *cfg, const as_cache *cache, const as_identity *who,
                      const char *rid, as_verdict *v)
{
    const as_auth_policy *p = auth_policy(cfg);
    api_request *owned = NULL;
    const api_request *req;
    bool allowed;

    if (!p) {
        v->status = 0;
        v->message[0] = '\0';
        return true;
    }
    req = rid && api_request_id_valid(rid) ? owners_of(cfg, cache, rid, &owned) : NULL;
    allowed = as_auth_check(p, who, AS_ACCESS_WRITE, rid, req, NULL, v);
    api_request_free(owned);
    return allowed;
}

json_t *as_api_request_parent(const as_api_config *cfg, const as_cache *cache, const char *id)
{
    return as_m_request_parent(cfg, cache, id);
}

bool as_api_key_visible(const as_api_config *cfg, const as_cache *cache, const as_identity *who,
                        const char *key)
{
    const as_auth_policy *p = auth_policy(cfg);
    viewer v = {cfg, who, NULL, false};
    api_key_parts kp;
    as_verdict verdict;
    bool seen = false;
    char *rid = NULL;

    if (!p || as_auth_is_admin(p, who))
        return true;
    if (!who || api_key_parse(cfg->prefix, key, &kp) < 0)
        return false;
    /* Every kind is listed: a new one is for admins until it is placed. */
    switch (kp.kind) {
    case API_KEY_REQUEST:
    case API_KEY_DEPLOY:
    case API_KEY_REQUEST_STATUS:
    case API_KEY_DEPLOY_STATUS:
    case API_KEY_JOB_STATUS:
    case API_KEY_RUN_STATUS:
    case API_KEY_PENDING_STATUS:
    case API_KEY_TASK:
    case API_KEY_PENDING:
    case API_KEY_RUN:
    case API_KEY_HISTORY_TASK:
    case API_KEY_HISTORY_DEPLOY:
    case API_KEY_HISTORY_REQUEST:
    case API_KEY_LOG_UPLOAD:
    case API_KEY_INTENT_REQUEST:
    case API_KEY_INTENT_DEPLOY:
    case API_KEY_LB_STATUS:
    case API_KEY_LB_CLEANUP:
    case API_KEY_SHELL:
        seen = viewer_sees(&v, cache, kp.id1); /* keyed by their request */
        break;
    case API_KEY_CLEANUP:
        rid = task_request_id(kp.id1);
        seen = rid && viewer_sees(&v, cache, rid);
        break;
    case API_KEY_AGENT:
    case API_KEY_RACK:
    case API_KEY_INTENT_AGENT:
    case API_KEY_INTENT_RACK:
    case API_KEY_INACTIVE_HOST:
    case API_KEY_FRAMEWORK:
    case API_KEY_FRAMEWORK_STATUS:
    case API_KEY_LEADER:
    case API_KEY_SCHEMA:
    case API_KEY_SOURCE: /* a repository URL may name a host people should not see */
    case API_KEY_SOURCE_STATUS:
    case API_KEY_INTENT_SOURCE:
        seen = as_auth_check(p, who, AS_ACCESS_GREAD, NULL, NULL, NULL, &verdict);
        break;
    case API_KEY_WEBHOOK: /* admins only: a webhook holds its signing secret */
    case API_KEY_WEBHOOK_STATUS:
    case API_KEY_WEBHOOK_EVENT:
        break;
    case API_KEY_USER_SETTINGS: /* one's own settings */
        seen = kp.id1 && who->user.id && strcmp(kp.id1, who->user.id) == 0;
        break;
    case API_KEY_REQUEST_GROUP: /* a label every caller reads (GET /api/groups) */
        seen = true;
        break;
    default: /* tokens, login codes, keys outside the layout */
        break;
    }
    free(rid);
    viewer_release(&v);
    api_key_parts_release(&kp);
    return seen;
}
