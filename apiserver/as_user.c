/* as_user: user settings (stars) and one-time login codes; see as_user.h. */
#include "apiserver/as_user.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "apis/common.h"
#include "apis/keys.h"
#include "apis/token.h"
#include "apiserver/as_auth.h"
#include "base/xalloc.h"

typedef struct uctx {
    const as_api_config *cfg;
    const as_cache *c;
    const as_req *req;
    as_result *out;
    json_t *body; /* parsed request body (owned) */
} uctx;

static const as_auth_policy *policy(const as_api_config *cfg)
{
    const as_auth_policy *p = cfg->auth ? as_auth_policy_of(cfg->auth) : NULL;
    return p && p->enabled ? p : NULL;
}

static void ok(uctx *u, int status, json_t *body)
{
    u->out->kind = AS_RESULT_JSON;
    u->out->status = status;
    json_decref(u->out->body);
    u->out->body = body;
}

/* Parses the body into u->body: a JSON object, {} when empty. */
static int parse_body(uctx *u)
{
    json_error_t e;

    if (!u->req->body || u->req->body_len == 0) {
        u->body = json_object();
        return 0;
    }
    u->body = json_loadb(u->req->body, u->req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!u->body)
        return as_fail(u->out, 400, "malformed JSON at line %d column %d: %s", e.line, e.column,
                       e.text);
    if (!json_is_object(u->body))
        return as_fail(u->out, 400, "request body: must be a JSON object");
    return 0;
}

/* Refuses fields of u->body other than the one allowed (NULL: none). */
static int only_field(uctx *u, const char *allowed)
{
    const char *k;
    json_t *v;

    json_object_foreach (u->body, k, v)
        if (!allowed || strcmp(k, allowed) != 0)
            return as_fail(u->out, 400, "unknown field '%.100s'%s%s", k,
                           allowed ? "; expected " : "", allowed ? allowed : "");
    return 0;
}

/* ---- settings ------------------------------------------------------------------- */

static const char *user_id(const uctx *u)
{
    return u->req->who ? u->req->who->user.id : AS_USER_ANONYMOUS;
}

/* The stars stored for the caller (a new array, caller owns) and the
 * settings key's mod_revision (0: none). */
static json_t *stored_stars(uctx *u, const char *key, int64_t *rev)
{
    const as_entry *e = as_cache_get(u->c, key);
    const json_t *list = e && e->value ? json_object_get(e->value, "starredRequestIds") : NULL;
    json_t *out = json_array();
    size_t i;
    json_t *v;

    *rev = e ? e->mod_revision : 0;
    json_array_foreach (list, i, v)
        if (json_is_string(v))
            json_array_append(out, v);
    return out;
}

/* The body's starredRequestIds: a list of valid request ids (a new array
 * without duplicates, caller owns), or NULL after failing u->out. */
static json_t *body_stars(uctx *u)
{
    const json_t *list;
    json_t *out, *v;
    size_t i;

    if (parse_body(u) < 0 || only_field(u, "starredRequestIds") < 0)
        return NULL;
    list = json_object_get(u->body, "starredRequestIds");
    if (!json_is_array(list)) {
        as_fail(u->out, 400, "starredRequestIds: required, a list of request ids");
        return NULL;
    }
    if (json_array_size(list) > AS_STARS_MAX) {
        as_fail(u->out, 400, "starredRequestIds: at most %d ids", AS_STARS_MAX);
        return NULL;
    }
    out = json_array();
    json_array_foreach (list, i, v) {
        const char *id = json_string_value(v);
        bool dup = false;
        size_t k;
        json_t *w;

        if (!id || !api_request_id_valid(id)) {
            as_fail(u->out, 400, "starredRequestIds[%zu]: not a request id", i);
            json_decref(out);
            return NULL;
        }
        json_array_foreach (out, k, w)
            dup = dup || strcmp(json_string_value(w), id) == 0;
        if (!dup)
            json_array_append(out, v);
    }
    return out;
}

static bool contains(const json_t *list, const char *id)
{
    size_t i;
    json_t *v;

    json_array_foreach (list, i, v)
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    return false;
}

/* Writes stars as the caller's settings (compare: rev) and answers them. */
static void save_stars(uctx *u, const char *key, int64_t rev, json_t *stars)
{
    json_t *doc;

    if (json_array_size(stars) > AS_STARS_MAX) {
        as_fail(u->out, 400, "starredRequestIds: at most %d ids", AS_STARS_MAX);
        json_decref(stars);
        return;
    }
    doc = json_pack("{s:s, s:O, s:I}", "userId", user_id(u), "starredRequestIds", stars,
                    "updatedAt", (json_int_t)u->req->now);
    as_txn_cmp(&u->out->txn, key, rev);
    as_txn_put(&u->out->txn, key, doc);
    json_decref(doc);
    ok(u, 200, json_pack("{s:o}", "starredRequestIds", stars));
}

static void h_settings(uctx *u)
{
    char *key = api_key_user_settings(u->cfg->prefix, user_id(u));
    unsigned method = u->req->method;
    int64_t rev;
    json_t *stars = stored_stars(u, key, &rev), *given = NULL;
    size_t i;
    json_t *v;

    switch (u->req->match->op) {
    case AS_OP_USER_SETTINGS_GET:
        ok(u, 200, json_pack("{s:o}", "starredRequestIds", stars));
        stars = NULL;
        break;
    case AS_OP_USER_SETTINGS_POST:
        if ((given = body_stars(u))) {
            save_stars(u, key, rev, given);
            given = NULL;
        }
        break;
    default: /* starred-requests: POST adds, DELETE removes */
        if (!(given = body_stars(u)))
            break;
        if (method == AS_DELETE) {
            json_t *kept = json_array();
            json_array_foreach (stars, i, v)
                if (!contains(given, json_string_value(v)))
                    json_array_append(kept, v);
            save_stars(u, key, rev, kept);
        } else {
            json_array_foreach (given, i, v)
                if (!contains(stars, json_string_value(v)))
                    json_array_append(stars, v);
            save_stars(u, key, rev, stars);
            stars = NULL;
        }
        break;
    }
    json_decref(stars);
    json_decref(given);
    free(key);
}

/* ---- login codes -------------------------------------------------------------------- */

/* The login-code or token document at e, decoded (caller frees), or NULL. */
static api_token *token_doc(const as_entry *e)
{
    static const api_decode_opts lenient = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    api_token *t = e && e->value ? api_token_from_json(e->value, &lenient, &probs) : NULL;

    api_problems_release(&probs);
    if (t && !t->has_user) {
        api_token_free(t);
        t = NULL;
    }
    return t;
}

static void h_login_code(uctx *u)
{
    const as_identity *who = u->req->who;
    char *kp = api_key_kind_prefix(u->cfg->prefix, API_KEY_LOGIN_CODE, NULL);
    char *code = NULL, *gen = NULL, *key = NULL;
    char hash[API_TOKEN_HASH_LEN + 1];
    size_t first, n, live = 0;
    api_token t = {0};
    json_t *doc = NULL;

    if (!policy(u->cfg) || !who) {
        as_fail(u->out, 400,
                "login codes need authentication (corrald --auth); without it the UI needs "
                "no login");
        goto out;
    }
    if (parse_body(u) < 0 || only_field(u, NULL) < 0)
        goto out;
    /* The login a code gives must not outlive the credential that made it
     * (nor renew it: a UI login's token making a code for the next one). */
    if (who->expires_at &&
        who->expires_at < u->req->now + AS_LOGIN_CODE_TTL_MS + AS_LOGIN_TOKEN_TTL_MS) {
        as_fail(u->out, 403,
                "user '%s' may not make a login code with a credential that expires before the "
                "login would (%d hours): use one that lasts longer",
                who->user.id, AS_LOGIN_TOKEN_TTL_MS / 3600000);
        goto out;
    }
    /* The caller's expired codes go; unused live ones are counted. */
    n = as_cache_range(u->c, kp, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(u->c, i);
        api_token *old = token_doc(e);
        if (!old || api_token_expired(old, u->req->now))
            as_txn_del(&u->out->txn, e->key);
        else if (strcmp(old->user.id, who->user.id) == 0)
            live++;
        api_token_free(old);
    }
    if (live >= AS_LOGIN_CODES_MAX) {
        as_txn_release(&u->out->txn);
        as_fail(u->out, 409,
                "%zu unused login codes of '%s' are still valid; use one or wait %d "
                "minutes",
                live, who->user.id, AS_LOGIN_CODE_TTL_MS / 60000);
        goto out;
    }
    if (!(gen = api_token_generate())) {
        as_fail(u->out, 503, "no randomness available to make a login code");
        goto out;
    }
    code = xasprintf("crlc_%s", gen + 4); /* "crl_" + hex: a code is told from a token */
    api_token_hash(code, strlen(code), hash);
    key = api_key_login_code(u->cfg->prefix, hash);
    t.has_user = true;
    t.user = who->user;
    t.createdBy = who->user.id;
    t.has_createdAt = true;
    t.createdAt = u->req->now;
    t.has_expiresAt = true;
    t.expiresAt = u->req->now + AS_LOGIN_CODE_TTL_MS;
    t.description = "one-time UI login code";
    doc = api_token_to_json(&t);
    as_txn_cmp(&u->out->txn, key, 0);
    as_txn_put(&u->out->txn, key, doc);
    ok(u, 200,
       json_pack("{s:s, s:I, s:s, s:s+}", "code", code, "expiresAt", (json_int_t)t.expiresAt,
                 "user", who->user.id, "loginPath", "/ui/#code=", code));
out:
    if (gen)
        OPENSSL_cleanse(gen, strlen(gen));
    if (code)
        OPENSSL_cleanse(code, strlen(code));
    free(gen);
    free(code);
    free(key);
    free(kp);
    json_decref(doc);
}

static void h_login(uctx *u)
{
    const json_t *jc;
    const char *code;
    char *key = NULL, *tkey = NULL, *kp = NULL, *text = NULL;
    char hash[API_TOKEN_HASH_LEN + 1], thash[API_TOKEN_HASH_LEN + 1];
    const as_entry *e;
    api_token *c = NULL, t = {0};
    json_t *doc = NULL;
    size_t first, n, len;

    if (!policy(u->cfg)) {
        as_fail(u->out, 400, "authentication is off (corrald --auth): the UI needs no login");
        goto out;
    }
    if (parse_body(u) < 0 || only_field(u, "code") < 0)
        goto out;
    jc = json_object_get(u->body, "code");
    code = json_string_value(jc);
    len = code ? strlen(code) : 0;
    if (!code || len < 16 || len > API_TOKEN_MAX_LEN) {
        as_fail(u->out, 400, "code: required, the login code's text");
        goto out;
    }
    api_token_hash(code, len, hash);
    key = api_key_login_code(u->cfg->prefix, hash);
    e = as_cache_get(u->c, key);
    c = token_doc(e);
    if (!c || api_token_expired(c, u->req->now) || !api_user_id_valid(c->user.id)) {
        as_fail(u->out, 401, "invalid login code: unknown, used or expired; make a new one");
        goto out;
    }
    if (!(text = api_token_generate())) {
        as_fail(u->out, 503, "no randomness available to make a token");
        goto out;
    }
    api_token_hash(text, strlen(text), thash);
    tkey = api_key_auth_token(u->cfg->prefix, thash);
    t.has_user = true;
    t.user = c->user;
    t.createdBy = c->createdBy;
    t.has_createdAt = true;
    t.createdAt = u->req->now;
    t.has_expiresAt = true;
    t.expiresAt = u->req->now + AS_LOGIN_TOKEN_TTL_MS;
    t.description = "UI login (one-time code)";
    doc = api_token_to_json(&t);
    /* The code is used once: the txn holds only if nobody used it since. */
    as_txn_cmp(&u->out->txn, key, e->mod_revision);
    as_txn_del(&u->out->txn, key);
    as_txn_cmp(&u->out->txn, tkey, 0);
    as_txn_put(&u->out->txn, tkey, doc);
    /* This user's expired tokens go (logins leave one each). */
    kp = api_key_kind_prefix(u->cfg->prefix, API_KEY_AUTH_TOKEN, NULL);
    n = as_cache_range(u->c, kp, &first);
    for (size_t i = first; i < first + n; i++) {
        const as_entry *te = as_cache_at(u->c, i);
        const api_token *old = te->doc;
        if (old && old->has_user && old->user.id && strcmp(old->user.id, c->user.id) == 0 &&
            api_token_expired(old, u->req->now))
            as_txn_del(&u->out->txn, te->key);
    }
    ok(u, 200,
       json_pack("{s:s, s:o, s:I}", "token", text, "user", api_user_to_json(&c->user), "expiresAt",
                 (json_int_t)t.expiresAt));
out:
    if (text)
        OPENSSL_cleanse(text, strlen(text));
    free(text);
    free(key);
    free(tkey);
    free(kp);
    json_decref(doc);
    api_token_free(c);
}

/* ---- dispatch ------------------------------------------------------------------------ */

bool as_user_op(as_op op)
{
    switch (op) {
    case AS_OP_USER_SETTINGS_GET:
    case AS_OP_USER_SETTINGS_POST:
    case AS_OP_USER_STARS:
    case AS_OP_AUTH_LOGIN_CODE:
    case AS_OP_AUTH_LOGIN:
        return true;
    default:
        return false;
    }
}

void as_user_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                    as_result *out)
{
    uctx u = {cfg, cache, req, out, NULL};
    const as_auth_policy *p = policy(cfg);
    as_verdict v;

    memset(out, 0, sizeof(*out));
    out->status = 500;
    if (p && !as_auth_check(p, req->who, req->match->access, NULL, NULL, NULL, &v)) {
        as_fail(out, v.status, "%s", v.message);
        return;
    }
    switch (req->match->op) {
    case AS_OP_USER_SETTINGS_GET:
    case AS_OP_USER_SETTINGS_POST:
    case AS_OP_USER_STARS:
        h_settings(&u);
        break;
    case AS_OP_AUTH_LOGIN_CODE:
        h_login_code(&u);
        break;
    case AS_OP_AUTH_LOGIN:
        h_login(&u);
        break;
    default:
        as_fail(out, 404, "unknown operation");
        break;
    }
    json_decref(u.body);
}

int as_user_key_visible(const as_api_config *cfg, const as_identity *who, const char *key)
{
    const as_auth_policy *p = policy(cfg);
    api_key_parts kp;
    int seen = -1;

    if (api_key_parse(cfg->prefix, key, &kp) < 0)
        return -1;
    if (kp.kind == API_KEY_LOGIN_CODE)
        seen = !p || as_auth_is_admin(p, who);
    else if (kp.kind == API_KEY_USER_SETTINGS)
        seen = !p || as_auth_is_admin(p, who) ||
               (who && who->user.id && strcmp(who->user.id, kp.id1) == 0);
    api_key_parts_release(&kp);
    return seen;
}
