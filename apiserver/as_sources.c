/* /api/sources: see as_sources.h. */
#include "apiserver/as_sources.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/source.h"
#include "base/xalloc.h"

bool as_sources_op(as_op op)
{
    switch (op) {
    case AS_OP_SOURCES_LIST:
    case AS_OP_SOURCE_POST:
    case AS_OP_SOURCE_GET:
    case AS_OP_SOURCE_DELETE:
    case AS_OP_SOURCE_SYNC:
        return true;
    default:
        return false;
    }
}

/* {source, status} of one Source from its document (which may be
 * invalid: it is shown as written, with its problems). Caller owns. */
static json_t *pair(const as_api_config *cfg, const as_cache *c, const char *name,
                    const json_t *doc, const char *error)
{
    char *sk = api_key_source_status(cfg->prefix, name);
    const as_entry *st = as_cache_get(c, sk);
    json_t *p = json_pack("{s:O,s:O}", "source", doc ? doc : json_null(), "status",
                          st && st->value ? st->value : json_null());
    if (error)
        json_object_set_new(p, "problems", json_string(error));
    free(sk);
    return p;
}

static const char *source_name(const as_req *req, as_result *out)
{
    const char *name = as_match_param(req->match, "sourceName");
    if (!name || !api_source_name_valid(name)) {
        as_fail(out, 400, "sourceName: '%.80s' must be 1-100 characters of [a-zA-Z0-9_-]",
                name ? name : "");
        return NULL;
    }
    return name;
}

static const as_entry *need_source(const as_api_config *cfg, const as_cache *c, const char *name,
                                   as_result *out)
{
    char *k = api_key_source(cfg->prefix, name);
    const as_entry *e = as_cache_get(c, k);
    free(k);
    if (!e)
        as_fail(out, 404, "no source %s", name);
    return e;
}

static void h_list(const as_api_config *cfg, const as_cache *c, as_result *out)
{
    char *kp = api_key_kind_prefix(cfg->prefix, API_KEY_SOURCE, NULL);
    size_t first, n = as_cache_range(c, kp, &first);
    json_t *list = json_array();

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        if (e->id1)
            json_array_append_new(list, pair(cfg, c, e->id1, e->value, e->error));
    }
    as_answer(out, 200, list);
}

static void h_get(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    const char *name = source_name(req, out);
    const as_entry *e = name ? need_source(cfg, c, name, out) : NULL;
    if (e)
        as_answer(out, 200, pair(cfg, c, name, e->value, e->error));
}

static void h_post(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_error_t je;
    json_t *body = NULL, *doc = NULL;
    api_source *s = NULL;
    char *k = NULL;

    if (!req->body || !req->body_len) {
        as_fail(out, 400, "request body: a Source object is required");
        return;
    }
    body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        as_fail(out, 400, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return;
    }
    s = api_source_from_json(body, NULL, &probs);
    if (!s) {
        char *msg = api_problems_format(&probs);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = '\0';
        as_fail(out, 400, "invalid source: %s", msg);
        free(msg);
        goto out;
    }
    k = api_key_source(cfg->prefix, s->name);
    const as_entry *e = as_cache_get(c, k);
    doc = api_source_to_json(s);
    as_txn_cmp(&out->txn, k, e ? e->mod_revision : 0);
    as_txn_put(&out->txn, k, doc);
    as_answer(out, e ? 200 : 201, pair(cfg, c, s->name, doc, NULL));
out:
    json_decref(doc);
    json_decref(body);
    api_source_free(s);
    api_problems_release(&probs);
    free(k);
}

static void h_delete(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    const char *name = source_name(req, out);
    const as_entry *e = name ? need_source(cfg, c, name, out) : NULL;
    char *ik;

    if (!e)
        return;
    ik = api_key_intent_source(cfg->prefix, name);
    as_txn_cmp(&out->txn, e->key, e->mod_revision);
    as_txn_del(&out->txn, e->key);
    as_txn_del(&out->txn, ik);
    as_answer(out, 200, json_pack("{s:O}", "source", e->value ? e->value : json_null()));
    free(ik);
}

static void h_sync(const as_api_config *cfg, const as_cache *c, const as_req *req, as_result *out)
{
    const char *name = source_name(req, out);
    const as_entry *e = name ? need_source(cfg, c, name, out) : NULL;
    char *ik;
    json_t *in;

    if (!e)
        return;
    ik = api_key_intent_source(cfg->prefix, name);
    in = json_pack("{s:I}", "timestamp", (json_int_t)req->now);
    if (req->user)
        json_object_set_new(in, "user", json_string(req->user));
    as_txn_put(&out->txn, ik, in);
    as_answer(out, 202, pair(cfg, c, name, e->value, e->error));
    /* the status's syncRequest reaches this once the sync is handled */
    json_object_set_new(out->body, "syncRequest", json_integer(req->now));
    json_decref(in);
    free(ik);
}

void as_sources_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                       as_result *out)
{
    switch (req->match->op) {
    case AS_OP_SOURCES_LIST:
        h_list(cfg, cache, out);
        break;
    case AS_OP_SOURCE_POST:
        h_post(cfg, cache, req, out);
        break;
    case AS_OP_SOURCE_GET:
        h_get(cfg, cache, req, out);
        break;
    case AS_OP_SOURCE_DELETE:
        h_delete(cfg, cache, req, out);
        break;
    case AS_OP_SOURCE_SYNC:
        h_sync(cfg, cache, req, out);
        break;
    default:
        as_fail(out, 500, "not a sources operation");
        break;
    }
}
