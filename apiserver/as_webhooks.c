/* /api/webhooks: see as_webhooks.h. */
#include "apiserver/as_webhooks.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/webhook.h"
#include "base/xalloc.h"

bool as_webhooks_op(as_op op)
{
    switch (op) {
    case AS_OP_WEBHOOKS_LIST:
    case AS_OP_WEBHOOK_ADD:
    case AS_OP_WEBHOOK_DELETE:
    case AS_OP_WEBHOOKS_SUMMARY:
    case AS_OP_WEBHOOK_QUEUE_REQUEST:
    case AS_OP_WEBHOOK_QUEUE_DEPLOY:
    case AS_OP_WEBHOOK_QUEUE_TASK:
        return true;
    default:
        return false;
    }
}

static const api_webhook *webhook_at(const as_entry *e)
{
    return e && e->kind == API_KEY_WEBHOOK && !e->error ? e->doc : NULL;
}

static void h_list(const as_api_config *cfg, const as_cache *c, as_result *out, bool summary)
{
    char *kp = api_key_kind_prefix(cfg->prefix, API_KEY_WEBHOOK, NULL);
    size_t first, n = as_cache_range(c, kp, &first);
    json_t *list = json_array();

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const api_webhook *w = webhook_at(e);
        if (!w && summary && e->id1 && e->kind == API_KEY_WEBHOOK) {
            /* written straight into etcd and invalid: shown with why */
            json_array_append_new(list, json_pack("{s:{s:s},s:i,s:s}", "webhook", "id", e->id1,
                                                  "queueSize", 0, "invalid",
                                                  e->error ? e->error : "not a JSON object"));
            continue;
        }
        if (!w)
            continue;
        if (!summary) {
            json_array_append_new(list, api_webhook_public_json(w));
            continue;
        }
        char *qp = api_key_kind_prefix(cfg->prefix, API_KEY_WEBHOOK_EVENT, e->id1);
        char *sk = api_key_webhook_status(cfg->prefix, e->id1);
        const as_entry *se = as_cache_get(c, sk);
        const api_webhook_status *st = se && !se->error ? se->doc : NULL;
        size_t qfirst, qn = as_cache_range(c, qp, &qfirst);
        json_t *s = json_pack("{s:o,s:I}", "webhook", api_webhook_public_json(w), "queueSize",
                              (json_int_t)qn);
        /* Corral's additions */
        json_object_set_new(s, "signed", json_boolean(w->secret != NULL));
        json_object_set_new(s, "dropped", json_integer(st ? st->dropped : 0));
        json_object_set_new(s, "failures", json_integer(st ? st->failures : 0));
        if (st && st->lastError)
            json_object_set_new(s, "lastError", json_string(st->lastError));
        if (st && st->nextAttemptAt)
            json_object_set_new(s, "nextAttemptAt", json_integer(st->nextAttemptAt));
        json_array_append_new(list, s);
        free(qp);
        free(sk);
    }
    as_answer(out, 200, list);
}

static void h_add(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    static const api_decode_opts lenient = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_error_t je;
    json_t *body = NULL, *doc = NULL;
    api_webhook *w = NULL;
    char *k = NULL;

    if (!req->body || !req->body_len) {
        as_fail(out, 400, "request body: a SingularityWebhook object is required");
        return;
    }
    body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        as_fail(out, 400, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return;
    }
    /* Singularity ignores fields it does not know; so does this. */
    w = api_webhook_from_json(body, &lenient, &probs);
    if (!w) {
        char *msg = api_problems_format(&probs);
        as_fail(out, 400, "invalid webhook: %s", msg);
        free(msg);
        goto out;
    }
    if (!w->id)
        w->id = api_webhook_default_id(w->type, w->uri);
    /* The actor is the authenticated caller, never a name the body gives
     * (docs/security.md); without authentication nobody is recorded. */
    free(w->user);
    w->user = req->user ? xstrdup(req->user) : NULL;
    if (!w->has_timestamp) {
        w->has_timestamp = true;
        w->timestamp = req->now;
    }
    json_decref(w->extra); /* unknown fields are not stored */
    w->extra = NULL;
    k = api_key_webhook(cfg->prefix, w->id);
    if (as_cache_get(c, k)) { /* Singularity: an existing webhook is left as it is */
        as_answer(out, 200, json_string("EXISTED"));
        goto out;
    }
    doc = api_webhook_to_json(w);
    as_txn_cmp(&out->txn, k, 0);
    as_txn_put(&out->txn, k, doc);
    as_answer(out, 200, json_string("CREATED"));
out:
    json_decref(doc);
    json_decref(body);
    api_webhook_free(w);
    api_problems_release(&probs);
    free(k);
}

static const char *webhook_id(const as_req *req, as_result *out)
{
    const char *id = as_match_param(req->match, "webhookId");
    if (!id)
        id = as_req_query(req, "webhookId");
    if (!id || !*id) {
        as_fail(out, 400, "query parameter webhookId: required");
        return NULL;
    }
    if (!api_key_id_valid(id)) {
        as_fail(out, 400, "webhookId: '%.80s' is not a valid id", id);
        return NULL;
    }
    return id;
}

static void h_delete(const as_api_config *cfg, const as_cache *c, const as_req *req,
                     as_result *out)
{
    const char *id = webhook_id(req, out);
    char *k, *sk, *qp;
    const as_entry *e;

    if (!id)
        return;
    k = api_key_webhook(cfg->prefix, id);
    e = as_cache_get(c, k);
    if (!e) {
        as_answer(out, 200, json_string("DIDNT_EXIST"));
        free(k);
        return;
    }
    sk = api_key_webhook_status(cfg->prefix, id);
    qp = api_key_kind_prefix(cfg->prefix, API_KEY_WEBHOOK_EVENT, id);
    as_txn_cmp(&out->txn, k, e->mod_revision);
    as_txn_del(&out->txn, k);
    as_txn_del(&out->txn, sk);
    as_txn_del_prefix(&out->txn, qp);
    as_answer(out, 200, json_string("DELETED"));
    free(k);
    free(sk);
    free(qp);
}

/* The queued updates, as Singularity lists them: a task webhook's as
 * SingularityTaskHistoryUpdate (the taskUpdate part of what is sent), the
 * others as sent. */
static void h_queue(const as_api_config *cfg, const as_cache *c, const as_req *req,
                    as_result *out, api_webhook_type type)
{
    const char *id = webhook_id(req, out);
    char *k, *qp;
    size_t first, n;
    json_t *list;

    if (!id)
        return;
    k = api_key_webhook(cfg->prefix, id);
    if (!as_cache_get(c, k)) {
        as_fail(out, 404, "no webhook %s", id);
        free(k);
        return;
    }
    free(k);
    qp = api_key_kind_prefix(cfg->prefix, API_KEY_WEBHOOK_EVENT, id);
    n = as_cache_range(c, qp, &first);
    free(qp);
    list = json_array();
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const api_webhook_event *ev = e->error ? NULL : e->doc;
        if (!ev || ev->type != type || !ev->payload)
            continue;
        json_t *item = type == API_WEBHOOK_TASK ? json_object_get(ev->payload, "taskUpdate")
                                                : ev->payload;
        if (item)
            json_array_append(list, item);
    }
    as_answer(out, 200, list);
}

void as_webhooks_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                        as_result *out)
{
    switch (req->match->op) {
    case AS_OP_WEBHOOKS_LIST:
        h_list(cfg, cache, out, false);
        break;
    case AS_OP_WEBHOOKS_SUMMARY:
        h_list(cfg, cache, out, true);
        break;
    case AS_OP_WEBHOOK_ADD:
        h_add(cfg, cache, req, out);
        break;
    case AS_OP_WEBHOOK_DELETE:
        h_delete(cfg, cache, req, out);
        break;
    case AS_OP_WEBHOOK_QUEUE_REQUEST:
        h_queue(cfg, cache, req, out, API_WEBHOOK_REQUEST);
        break;
    case AS_OP_WEBHOOK_QUEUE_DEPLOY:
        h_queue(cfg, cache, req, out, API_WEBHOOK_DEPLOY);
        break;
    case AS_OP_WEBHOOK_QUEUE_TASK:
        h_queue(cfg, cache, req, out, API_WEBHOOK_TASK);
        break;
    default:
        as_fail(out, 500, "not a webhooks operation");
        break;
    }
}
