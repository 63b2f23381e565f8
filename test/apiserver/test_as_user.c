/* as_user: stars (Singularity's /api/users/settings) and one-time login
 * codes, against a cache fed by hand; successful writes are applied to it
 * as etcd would, so a test reads its own writes and sees a used code go. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/token.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_user.h"

typedef struct fx {
    as_cache *c;
    as_auth *auth;
    as_api_config cfg;
    int64_t rev, now;
} fx;

static int setup_common(void **state, bool auth_on)
{
    fx *f = calloc(1, sizeof(*f));
    as_auth_options o = {0};
    cr_err err;

    o.policy.enabled = auth_on;
    api_strlist_add(&o.policy.admin_groups, "admins");
    f->auth = as_auth_new(&o, &err);
    as_auth_policy_release(&o.policy);
    assert_non_null(f->auth);
    f->c = as_cache_new();
    f->cfg.prefix = "/corral";
    f->cfg.auth = f->auth;
    f->now = 1000000;
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, true);
}

static int setup_noauth(void **state)
{
    return setup_common(state, false);
}

static int teardown(void **state)
{
    fx *f = *state;
    as_cache_free(f->c);
    as_auth_free(f->auth);
    free(f);
    return 0;
}

static void identity(as_identity *who, const char *user, const char *group)
{
    memset(who, 0, sizeof(*who));
    who->user.id = strdup(user);
    api_strlist_add(&who->user.groups, group);
    who->via = "token";
}

/* One call as who (NULL: anonymous); applies its txn when the compares
 * hold (else 409, as the server answers). *out gets the body (caller
 * decrefs) when not NULL. */
static int call(fx *f, const as_identity *who, unsigned method, const char *path, const char *body,
                json_t **out)
{
    as_match m;
    as_result r;
    int status;

    if (as_route_match(method, path, &m) != AS_ROUTE_OK)
        fail_msg("no route for %s", path);
    assert_true(as_user_op(m.op));
    as_req req = {.method = method,
                  .match = &m,
                  .body = body,
                  .body_len = body ? strlen(body) : 0,
                  .user = who ? who->user.id : NULL,
                  .who = who,
                  .now = f->now,
                  .nonce = "n0"};
    as_user_handle(&f->cfg, f->c, &req, &r);
    status = r.status;
    if (r.txn.nput > 0) {
        assert_true(status < 300);
        if (as_txn_compares_hold(f->c, &r.txn))
            as_cache_apply_txn(f->c, &r.txn, ++f->rev);
        else
            status = 409;
    }
    if (out)
        *out = json_incref(r.body);
    as_result_release(&r);
    as_match_release(&m);
    return status;
}

static char *stars_of(json_t *body)
{
    return json_dumps(json_object_get(body, "starredRequestIds"), JSON_COMPACT);
}

static void expect_stars(fx *f, const as_identity *who, const char *want)
{
    json_t *b = NULL;
    char *got;

    assert_int_equal(call(f, who, AS_GET, "/api/users/settings", NULL, &b), 200);
    got = stars_of(b);
    assert_string_equal(got, want);
    free(got);
    json_decref(b);
}

static void test_stars(void **state)
{
    fx *f = *state;
    as_identity alice, bob;
    json_t *b = NULL;
    const json_t *doc;

    identity(&alice, "alice", "team-a");
    identity(&bob, "bob", "team-b");
    expect_stars(f, &alice, "[]");
    assert_int_equal(call(f, &alice, AS_POST, "/api/users/settings/starred-requests",
                          "{\"starredRequestIds\":[\"web\",\"api\",\"web\"]}", NULL),
                     200);
    assert_int_equal(call(f, &alice, AS_POST, "/api/users/settings/starred-requests",
                          "{\"starredRequestIds\":[\"api\",\"db\"]}", NULL),
                     200);
    expect_stars(f, &alice, "[\"web\",\"api\",\"db\"]");
    expect_stars(f, &bob, "[]"); /* per user */
    doc = as_cache_value(f->c, "/corral/users/settings/alice");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), "alice");
    assert_int_equal(json_integer_value(json_object_get(doc, "updatedAt")), f->now);
    assert_int_equal(call(f, &alice, AS_DELETE, "/api/users/settings/starred-requests",
                          "{\"starredRequestIds\":[\"web\",\"nope\"]}", NULL),
                     200);
    expect_stars(f, &alice, "[\"api\",\"db\"]");
    assert_int_equal(
        call(f, &alice, AS_POST, "/api/users/settings", "{\"starredRequestIds\":[\"x\"]}", &b),
        200);
    json_decref(b);
    expect_stars(f, &alice, "[\"x\"]");
    /* Bad bodies change nothing. */
    assert_int_equal(
        call(f, &alice, AS_POST, "/api/users/settings", "{\"starredRequestIds\":[\"a/b\"]}", NULL),
        400);
    assert_int_equal(call(f, &alice, AS_POST, "/api/users/settings", "{\"stars\":[]}", NULL), 400);
    assert_int_equal(call(f, &alice, AS_POST, "/api/users/settings", "[1]", NULL), 400);
    assert_int_equal(call(f, &alice, AS_POST, "/api/users/settings", NULL, NULL), 400);
    expect_stars(f, &alice, "[\"x\"]");
    /* Nobody without an identity. */
    assert_int_equal(call(f, NULL, AS_GET, "/api/users/settings", NULL, NULL), 401);
    /* Watches: own settings and admins only. */
    assert_int_equal(as_user_key_visible(&f->cfg, &alice, "/corral/users/settings/alice"), 1);
    assert_int_equal(as_user_key_visible(&f->cfg, &bob, "/corral/users/settings/alice"), 0);
    assert_int_equal(as_user_key_visible(&f->cfg, NULL, "/corral/users/settings/alice"), 0);
    assert_int_equal(as_user_key_visible(&f->cfg, &bob, "/corral/requests/web"), -1);
    as_identity_release(&alice);
    as_identity_release(&bob);
}

static void test_stars_without_auth(void **state)
{
    fx *f = *state;

    assert_int_equal(call(f, NULL, AS_POST, "/api/users/settings/starred-requests",
                          "{\"starredRequestIds\":[\"web\"]}", NULL),
                     200);
    expect_stars(f, NULL, "[\"web\"]");
    assert_non_null(as_cache_value(f->c, "/corral/users/settings/" AS_USER_ANONYMOUS));
    /* Login codes need authentication. */
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login-codes", NULL, NULL), 400);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", "{\"code\":\"x\"}", NULL), 400);
}

/* Makes a code as who; returns its text (caller frees). */
static char *make_code(fx *f, const as_identity *who)
{
    json_t *b = NULL;
    char *code;

    assert_int_equal(call(f, who, AS_POST, "/api/auth/login-codes", NULL, &b), 200);
    code = strdup(json_string_value(json_object_get(b, "code")));
    assert_int_equal(json_integer_value(json_object_get(b, "expiresAt")),
                     f->now + AS_LOGIN_CODE_TTL_MS);
    assert_true(strncmp(json_string_value(json_object_get(b, "loginPath")), "/ui/#code=", 10) == 0);
    json_decref(b);
    return code;
}

static char *login_body(const char *code)
{
    char *s = malloc(strlen(code) + 16);
    sprintf(s, "{\"code\":\"%s\"}", code);
    return s;
}

static void test_login_code(void **state)
{
    fx *f = *state;
    as_identity root, who;
    char hash[API_TOKEN_HASH_LEN + 1], *code, *key, *body, *tkey;
    const json_t *doc;
    json_t *b = NULL;
    const char *token;
    const as_entry *e;
    as_credentials cred = {0};
    char authz[600];
    const char *why = NULL;

    identity(&root, "root", "admins");
    code = make_code(f, &root);
    assert_true(strncmp(code, "crlc_", 5) == 0);
    /* etcd keeps the hash, never the text. */
    api_token_hash(code, strlen(code), hash);
    key = api_key_login_code("/corral", hash);
    doc = as_cache_value(f->c, key);
    assert_non_null(doc);
    {
        char *dump = json_dumps(doc, 0);
        assert_null(strstr(dump, code + 5));
        free(dump);
    }
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "user"), "id")),
                        "root");
    /* Traded once for a token of the same user and groups. */
    body = login_body(code);
    f->now += 1000;
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", body, &b), 200);
    token = json_string_value(json_object_get(b, "token"));
    assert_non_null(token);
    assert_int_equal(json_integer_value(json_object_get(b, "expiresAt")),
                     f->now + AS_LOGIN_TOKEN_TTL_MS);
    assert_null(as_cache_get(f->c, key)); /* the code is gone */
    api_token_hash(token, strlen(token), hash);
    tkey = api_key_auth_token("/corral", hash);
    e = as_cache_get(f->c, tkey);
    assert_non_null(e);
    assert_non_null(e->doc); /* a valid token document */
    snprintf(authz, sizeof(authz), "Bearer %s", token);
    cred.authorization = authz;
    assert_int_equal(as_auth_identify(f->auth, f->c, "/corral", &cred, f->now, &who, &why),
                     AS_AUTH_OK);
    assert_string_equal(who.user.id, "root");
    assert_int_equal(who.expires_at, f->now + AS_LOGIN_TOKEN_TTL_MS);
    assert_true(as_auth_is_admin(as_auth_policy_of(f->auth), &who));
    as_identity_release(&who);
    /* ... and expires. */
    assert_int_equal(as_auth_identify(f->auth, f->c, "/corral", &cred,
                                      f->now + AS_LOGIN_TOKEN_TTL_MS + 1, &who, &why),
                     AS_AUTH_BAD);
    json_decref(b);
    /* Used: refused. */
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", body, NULL), 401);
    free(body);
    free(code);
    free(key);
    free(tkey);

    /* Expired: refused; the next code of that user deletes it. */
    code = make_code(f, &root);
    api_token_hash(code, strlen(code), hash);
    key = api_key_login_code("/corral", hash);
    f->now += AS_LOGIN_CODE_TTL_MS + 1;
    body = login_body(code);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", body, NULL), 401);
    free(body);
    free(code);
    code = make_code(f, &root);
    assert_null(as_cache_get(f->c, key));
    free(code);
    free(key);

    /* Garbage. */
    assert_int_equal(
        call(f, NULL, AS_POST, "/api/auth/login", "{\"code\":\"crlc_nope0000000000\"}", NULL), 401);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", "{}", NULL), 400);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", "{\"code\":1}", NULL), 400);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login", "{\"code\":\"x\",\"u\":1}", NULL),
                     400);
    /* A code needs an identity; watches show codes to admins only. */
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/login-codes", NULL, NULL), 401);
    identity(&who, "alice", "team-a");
    assert_int_equal(as_user_key_visible(&f->cfg, &who,
                                         "/corral/auth/login-codes/"
                                         "aa"),
                     0);
    assert_int_equal(as_user_key_visible(&f->cfg, &root,
                                         "/corral/auth/login-codes/"
                                         "aa"),
                     1);
    as_identity_release(&who);
    as_identity_release(&root);
}

/* A login code's token must not outlive the credential that made the
 * code: a UI login (8 hours) cannot renew itself through codes. */
static void test_login_code_not_outliving(void **state)
{
    fx *f = *state;
    as_identity alice;
    json_t *b = NULL;
    char *code;

    identity(&alice, "alice", "team-a");
    alice.expires_at = f->now + AS_LOGIN_TOKEN_TTL_MS; /* a UI login's token */
    assert_int_equal(call(f, &alice, AS_POST, "/api/auth/login-codes", NULL, &b), 403);
    assert_non_null(strstr(json_string_value(json_object_get(b, "message")), "expires"));
    json_decref(b);
    assert_int_equal(as_cache_count(f->c), 0);
    /* one that lasts longer than the login would */
    alice.expires_at = f->now + AS_LOGIN_CODE_TTL_MS + AS_LOGIN_TOKEN_TTL_MS + 1;
    code = make_code(f, &alice);
    free(code);
    as_identity_release(&alice);
}

/* Two browsers send the same code at once: the first transaction deletes
 * it, the second's compare fails (409), so exactly one token is made. */
static void test_login_code_once(void **state)
{
    fx *f = *state;
    as_identity alice;
    char *code, *body;
    as_match m;
    as_result r1 = {0}, r2 = {0};
    size_t before;

    identity(&alice, "alice", "team-a");
    code = make_code(f, &alice);
    body = login_body(code);
    assert_int_equal(as_route_match(AS_POST, "/api/auth/login", &m), AS_ROUTE_OK);
    as_req req = {
        .method = AS_POST, .match = &m, .body = body, .body_len = strlen(body), .now = f->now};
    as_user_handle(&f->cfg, f->c, &req, &r1);
    as_user_handle(&f->cfg, f->c, &req, &r2); /* both against the same cache */
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 200);
    before = as_cache_count(f->c);
    assert_true(as_txn_compares_hold(f->c, &r1.txn));
    as_cache_apply_txn(f->c, &r1.txn, ++f->rev);
    assert_false(as_txn_compares_hold(f->c, &r2.txn));
    assert_int_equal(as_cache_count(f->c), before); /* -code +token */
    as_result_release(&r1);
    as_result_release(&r2);
    as_match_release(&m);
    free(body);
    free(code);
    /* Unused codes are capped per user. */
    for (int i = 0; i < AS_LOGIN_CODES_MAX; i++)
        free(make_code(f, &alice));
    assert_int_equal(call(f, &alice, AS_POST, "/api/auth/login-codes", NULL, NULL), 409);
    as_identity_release(&alice);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_stars, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stars_without_auth, setup_noauth, teardown),
    cmocka_unit_test_setup_teardown(test_login_code, setup, teardown),
    cmocka_unit_test_setup_teardown(test_login_code_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_login_code_not_outliving, setup, teardown),
};

CR_TEST_MAIN(tests)
