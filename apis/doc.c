/* api_doc: see doc.h. One row per typed kind: how to decode and free it. */
#include "apis/doc.h"

#include <stdlib.h>
#include <string.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/machine.h"
#include "apis/request.h"
#include "apis/run.h"
#include "apis/source.h"
#include "apis/status.h"
#include "apis/task.h"
#include "apis/token.h"
#include "apis/webhook.h"
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

static void *source_decode(const json_t *j, char **error)
{
    return decode_checked((from_json_fn)api_source_from_json, j, error);
}

static void *run_decode(const json_t *j, char **error)
{
    return decode_checked((from_json_fn)api_run_from_json, j, error);
}

/* A task record next to its text (api_task_from_text): as decode_open. */
static void *task_decode_text(const json_t *j, const char *text, size_t len, char **error)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    void *doc = api_task_from_text(j, text, len, &open, &probs);
    if (!doc)
        *error = api_problems_format(&probs);
    api_problems_release(&probs);
    // cppcheck-suppress returnDanglingLifetime
    return doc;
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

/* Agent and rack documents: the bridge and the machines controller write
 * them, and keep each other's fields. */
static void *machine_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_machine_from_json, j, error);
}

static void machine_free(void *d)
{
    api_machine_free(d);
}

/* A token that does not decode authenticates nobody. */
static void *token_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_token_from_json, j, error);
}

static void token_free(void *d)
{
    api_token_free(d);
}

static void *webhook_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_webhook_from_json, j, error);
}

static void webhook_free(void *d)
{
    api_webhook_free(d);
}

static void *webhook_status_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_webhook_status_from_json, j, error);
}

static void webhook_status_free(void *d)
{
    api_webhook_status_free(d);
}

static void *webhook_event_decode(const json_t *j, char **error)
{
    return decode_open((from_json_fn)api_webhook_event_from_json, j, error);
}

static void webhook_event_free(void *d)
{
    api_webhook_event_free(d);
}

static void request_free(void *d)
{
    api_request_free(d);
}

static void deploy_free(void *d)
{
    api_deploy_free(d);
}

static void source_free(void *d)
{
    api_source_free(d);
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
STATUS_DOC(framework_status, api_framework_status, api_framework_status_from_json,
           api_framework_status_release)

/* ---- the key: its ids against their rules and against the document ---------------- */

/* A key part a field of the document repeats must equal it (the field's
 * own rule is the decoder's to check). */
static void same(api_problems *p, const char *path, const char *field, const char *kid,
                 const char *what)
{
    if (field && kid && strcmp(field, kid) != 0)
        api_problems_add(p, path, "\"%s\" does not match the key's %s \"%s\"", field, what, kid);
}

typedef struct id_rule {
    const char *what; /* "request id" */
    bool (*ok)(const char *id);
    const char *rule; /* for people: "1-100 characters of ..." */
} id_rule;

#define STR_(x) #x
#define STR(x)  STR_(x)
static const id_rule request_id_rule = {
    "request id", api_request_id_valid,
    "1-" STR(API_MAX_REQUEST_ID) " characters of [a-zA-Z0-9_-]"};
static const id_rule deploy_id_rule = {"deploy id", api_deploy_id_valid,
                                       "1-" STR(API_MAX_DEPLOY_ID) " characters of [a-zA-Z0-9_.], "
                                                                   "not only dots"};
static const id_rule run_id_rule = {"run id", api_run_id_valid,
                                    "1-" STR(API_MAX_RUN_ID) " characters of [a-zA-Z0-9_-]"};
static const id_rule pending_id_rule = {"pending task id", api_pending_task_id_valid,
                                        "a pending task id"};
static const id_rule agent_id_rule = {"agent id", api_agent_id_valid, "an agent id"};
static const id_rule rack_id_rule = {"rack id", api_rack_id_valid, "a rack id"};
static const id_rule host_rule = {"host", api_key_id_valid, "a host name"};
#undef STR
#undef STR_

/* A key part no field repeats follows its own rule. */
static void follows(api_problems *p, const char *kid, const id_rule *r)
{
    if (!r->ok(kid))
        api_problems_add(p, "", "the key's %s \"%s\" must be %s", r->what, kid ? kid : "", r->rule);
}

/* A key part that an optional field may repeat: equal to it when it is
 * there, else its own rule. */
static void key_id(api_problems *p, const char *path, const char *field, const char *kid,
                   const id_rule *r)
{
    if (field)
        same(p, path, field, kid, r->what);
    else
        follows(p, kid, r);
}

static void request_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_request *r = doc;
    same(p, "id", r->id, k->id1, "request id");
}

static void source_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_source *s = doc;
    same(p, "name", s->name, k->id1, "source name");
}

static void deploy_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_deploy *d = doc;
    same(p, "requestId", d->requestId, k->id1, "request id");
    same(p, "id", d->id, k->id2, "deploy id");
}

static void run_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_run *r = doc;
    key_id(p, "requestId", r->requestId, k->id1, &request_id_rule);
    key_id(p, "runId", r->runId, k->id2, &run_id_rule);
}

static void task_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_task *t = doc;
    same(p, "taskId.requestId", t->taskId.requestId, k->id1, "request id");
    same(p, "taskId.id", t->taskId.id, k->id2, "task id");
}

static void pending_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_pending_task *t = doc;
    same(p, "pendingTaskId.requestId", t->pendingTaskId.requestId, k->id1, "request id");
    same(p, "pendingTaskId.id", t->pendingTaskId.id, k->id2, "pending task id");
}

static void cleanup_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_cleanup *c = doc;
    same(p, "taskId.id", c->taskId.id, k->id1, "task id");
}

static void request_status_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_request_status *s = doc;
    key_id(p, "requestId", s->requestId, k->id1, &request_id_rule);
}

static void deploy_status_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_deploy_status *s = doc;
    key_id(p, "requestId", s->requestId, k->id1, &request_id_rule);
    key_id(p, "deployId", s->deployId, k->id2, &deploy_id_rule);
}

static void job_status_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_job_status *s = doc;
    key_id(p, "requestId", s->requestId, k->id1, &request_id_rule);
}

static void run_status_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_run_status *s = doc;
    key_id(p, "requestId", s->requestId, k->id1, &request_id_rule);
    key_id(p, "runId", s->runId, k->id2, &run_id_rule);
}

static void place_reason_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    follows(p, k->id1, &request_id_rule);
    follows(p, k->id2, &pending_id_rule);
}

/* Intents: the key names the object and the kind; the body's ids, if it
 * has any, name the same object; the kind's rules (api_intent_validate). */
static void intent_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_intent *in = doc;
    const char *name = NULL;

    switch (k->kind) {
    case API_KEY_INTENT_REQUEST:
    case API_KEY_INTENT_DEPLOY:
        name = k->kind == API_KEY_INTENT_REQUEST ? k->id2 : k->id3;
        key_id(p, "requestId", in->requestId, k->id1, &request_id_rule);
        if (k->kind == API_KEY_INTENT_DEPLOY)
            key_id(p, "deployId", in->deployId, k->id2, &deploy_id_rule);
        if (!api_intent_kind_valid(k->kind, name))
            api_problems_add(p, "", "the key's intent kind \"%s\" must be one of %s",
                             name ? name : "",
                             k->kind == API_KEY_INTENT_REQUEST
                                 ? "pause, bounce, exit-cooldown, scale, skip-healthchecks"
                                 : "submit, cancel, update");
        break;
    case API_KEY_INTENT_AGENT:
        follows(p, k->id1, &agent_id_rule);
        break;
    case API_KEY_INTENT_RACK:
        follows(p, k->id1, &rack_id_rule);
        break;
    case API_KEY_INACTIVE_HOST:
        follows(p, k->id1, &host_rule);
        break;
    default:
        break;
    }
    api_intent_validate(in, k->kind, name, NULL, p);
}

/* An agent or rack document: the key's id, and "id" when it repeats it. */
static void machine_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const api_machine *m = doc;
    key_id(p, "id", m->id, k->id1, k->kind == API_KEY_AGENT ? &agent_id_rule : &rack_id_rule);
}

/* A token's key is the SHA-256 of its text: anything else matches no token,
 * and a document under it must not pass for one. */
static void token_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    if (!api_token_hash_valid(k->id1))
        api_problems_add(p, "", "the key's token hash \"%.80s\" must be 64 lowercase hex digits",
                         k->id1 ? k->id1 : "");
}

/* Webhook documents: the key's webhook id, and the one the body repeats. */
static void webhook_key(const void *doc, const api_key_parts *k, api_problems *p)
{
    const char *id = NULL;

    switch (k->kind) {
    case API_KEY_WEBHOOK:
        id = ((const api_webhook *)doc)->id;
        break;
    case API_KEY_WEBHOOK_STATUS:
        id = ((const api_webhook_status *)doc)->webhookId;
        break;
    case API_KEY_WEBHOOK_EVENT:
        id = ((const api_webhook_event *)doc)->webhookId;
        break;
    default:
        break;
    }
    same(p, k->kind == API_KEY_WEBHOOK ? "id" : "webhookId", id, k->id1, "webhook id");
}

/* ---- the table ------------------------------------------------------------------------- */

typedef struct doc_kind {
    void *(*decode)(const json_t *j, char **error);
    void (*free)(void *doc);
    /* Appends the document's problems against its key; NULL: none. */
    void (*check_key)(const void *doc, const api_key_parts *key, api_problems *probs);
    /* People write it: the document is kept (leniently) despite problems. */
    bool people;
} doc_kind;

static const doc_kind kinds[API_KEY__COUNT] = {
    [API_KEY_REQUEST] = {request_decode, request_free, request_key, true},
    [API_KEY_DEPLOY] = {deploy_decode, deploy_free, deploy_key, true},
    [API_KEY_RUN] = {run_decode, run_free, run_key, true},
    [API_KEY_SOURCE] = {source_decode, source_free, source_key, true},
    [API_KEY_TASK] = {task_decode, task_free, task_key, false},
    [API_KEY_PENDING] = {pending_decode, pending_free, pending_key, false},
    [API_KEY_CLEANUP] = {cleanup_decode, cleanup_free, cleanup_key, false},
    [API_KEY_REQUEST_STATUS] = {request_status_decode, request_status_free, request_status_key,
                                false},
    [API_KEY_DEPLOY_STATUS] = {deploy_status_decode, deploy_status_free, deploy_status_key, false},
    [API_KEY_JOB_STATUS] = {job_status_decode, job_status_free, job_status_key, false},
    [API_KEY_RUN_STATUS] = {run_status_decode, run_status_free, run_status_key, false},
    [API_KEY_PENDING_STATUS] = {place_reason_decode, place_reason_free, place_reason_key, false},
    [API_KEY_INTENT_REQUEST] = {intent_decode, intent_free, intent_key, false},
    [API_KEY_INTENT_DEPLOY] = {intent_decode, intent_free, intent_key, false},
    [API_KEY_INTENT_AGENT] = {intent_decode, intent_free, intent_key, false},
    [API_KEY_INTENT_RACK] = {intent_decode, intent_free, intent_key, false},
    [API_KEY_INACTIVE_HOST] = {intent_decode, intent_free, intent_key, false},
    [API_KEY_AGENT] = {machine_decode, machine_free, machine_key, false},
    [API_KEY_RACK] = {machine_decode, machine_free, machine_key, false},
    [API_KEY_FRAMEWORK_STATUS] = {framework_status_decode, framework_status_free, NULL, false},
    [API_KEY_AUTH_TOKEN] = {token_decode, token_free, token_key, false},
    [API_KEY_WEBHOOK] = {webhook_decode, webhook_free, webhook_key, false},
    [API_KEY_WEBHOOK_STATUS] = {webhook_status_decode, webhook_status_free, webhook_key, false},
    [API_KEY_WEBHOOK_EVENT] = {webhook_event_decode, webhook_event_free, webhook_key, false},
};

static const doc_kind *kind_of(api_key_kind kind)
{
    return (int)kind >= 0 && kind < API_KEY__COUNT && kinds[kind].decode ? &kinds[kind] : NULL;
}

bool api_doc_typed(api_key_kind kind)
{
    return kind_of(kind) != NULL;
}

bool api_doc_text(api_key_kind kind)
{
    return kind == API_KEY_TASK || kind == API_KEY_HISTORY_TASK;
}

bool api_doc_text_when_valid(api_key_kind kind)
{
    return kind == API_KEY_REQUEST_STATUS || kind == API_KEY_PENDING || kind == API_KEY_REQUEST ||
           kind == API_KEY_DEPLOY || kind == API_KEY_DEPLOY_STATUS || kind == API_KEY_AGENT ||
           kind == API_KEY_RACK;
}

/* Whether enc, a document's canonical encoding, is j: the same members
 * with the same types and values (json_equal: key order aside). */
static bool encodes_as(json_t *enc /* stolen */, const json_t *j)
{
    bool same = enc && json_equal(enc, (json_t *)j);

    json_decref(enc);
    return same;
}

bool api_doc_faithful(api_key_kind kind, const void *doc, const json_t *j)
{
    const json_t *pid;

    if (!doc || !json_is_object(j))
        return false;
    switch (kind) {
    case API_KEY_REQUEST_STATUS:
        return true;
    case API_KEY_PENDING:
        /* an id string, or an object without "id", decodes too */
        pid = json_object_get(j, "pendingTaskId");
        return json_is_object(pid) && json_is_string(json_object_get(pid, "id"));
    case API_KEY_REQUEST:
        return encodes_as(api_request_to_json(doc), j);
    case API_KEY_DEPLOY:
        return encodes_as(api_deploy_to_json(doc), j);
    case API_KEY_DEPLOY_STATUS:
        return encodes_as(api_deploy_status_to_json(doc), j);
    case API_KEY_AGENT:
    case API_KEY_RACK:
        return encodes_as(api_machine_to_json(doc), j);
    default:
        return false;
    }
}

/* api_doc_decode; with text, api_doc_decode_text. */
static void *decode(const api_key_parts *key, const json_t *j, const char *text, size_t len,
                    char **error)
{
    const doc_kind *k = kind_of(key->kind);
    api_problems probs = API_PROBLEMS_INIT;
    void *doc;

    *error = NULL;
    if (!k)
        return NULL;
    doc = text && key->kind == API_KEY_TASK ? task_decode_text(j, text, len, error)
                                            : k->decode(j, error);
    if (doc && k->check_key)
        k->check_key(doc, key, &probs);
    if (probs.n) {
        char *more = api_problems_format(&probs);
        if (*error) {
            char *both = xasprintf("%s%s", *error, more);
            free(*error);
            free(more);
            more = both;
        }
        *error = more;
        if (!k->people) {
            k->free(doc);
            doc = NULL;
        }
    }
    api_problems_release(&probs);
    return doc;
}

void *api_doc_decode(const api_key_parts *key, const json_t *j, char **error)
{
    return decode(key, j, NULL, 0, error);
}

void *api_doc_decode_text(const api_key_parts *key, const json_t *j, const char *text, size_t len,
                          char **error)
{
    return decode(key, j, text, len, error);
}

bool api_doc_detach_text(api_key_kind kind, void *doc, const char *text, size_t len)
{
    return kind == API_KEY_TASK && doc && api_task_detach_text(doc, text, len);
}

void *api_doc_decode_own_text(const api_key_parts *key, const char *text, size_t len)
{
    const doc_kind *k = kind_of(key->kind);
    api_problems probs = API_PROBLEMS_INIT;
    void *doc = k && key->kind == API_KEY_TASK ? api_task_from_own_text(text, len) : NULL;

    if (doc && k->check_key)
        k->check_key(doc, key, &probs);
    if (probs.n) {
        k->free(doc);
        doc = NULL;
    }
    api_problems_release(&probs);
    return doc;
}

char *api_doc_write_text(api_key_kind kind, const void *doc, size_t *len)
{
    return kind == API_KEY_TASK && doc ? api_task_text(doc, len) : NULL;
}

void *api_doc_compact(api_key_kind kind, void *doc)
{
    if (kind == API_KEY_TASK && doc)
        return api_task_pack(doc);
    if (kind == API_KEY_PENDING && doc)
        return api_pending_task_pack(doc);
    return doc;
}

void api_doc_free(api_key_kind kind, void *doc)
{
    const doc_kind *k = kind_of(kind);

    if (doc && k)
        k->free(doc);
}
