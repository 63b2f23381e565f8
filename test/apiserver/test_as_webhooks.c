/* /api/webhooks (apiserver/as_webhooks.h) against a hand-fed cache: the
 * answers, and the exact writes each call makes (a successful write is
 * applied to the cache as etcd would, so a call reads the ones before). */
#include "test/lib/cr_test.h"

#include <string.h>

#include "apiserver/as_api.h"
#include "apiserver/as_route.h"

typedef struct fx {
    as_cache *c;
    as_api_config cfg;
    int64_t rev, now;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->c = as_cache_new();
    f->cfg.prefix = "/corral";
    f->now = 1000;
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    as_cache_free(f->c);
    free(f);
    return 0;
}

/* One call; its writes applied when their compares hold. Returns the
 * status; *out (if not NULL) the body (caller decrefs); *txn_out (if not
 * NULL) how many puts and deletes the call wrote. */
static int call(fx *f, unsigned method, const char *path, const char *query, const char *body,
                json_t **out, size_t *nput)
{
    as_match m;
    as_query_kv *q = NULL;
    size_t nq = 0;
    as_result r;
    int status;

    f->now += 10;
    assert_int_equal(as_route_match(method, path, &m), AS_ROUTE_OK);
    assert_int_equal(as_query_parse(query, &q, &nq), 0);
    as_req req = {.method = method,
                  .match = &m,
                  .query = q,
                  .nquery = nq,
                  .body = body,
                  .body_len = body ? strlen(body) : 0,
                  .user = "alice",
                  .now = f->now,
                  .nonce = "n0"};
    as_api_handle(&f->cfg, f->c, &req, &r);
    status = r.status;
    if (nput)
        *nput = r.txn.nput;
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
    as_query_free(q, nq);
    as_match_release(&m);
    return status;
}

static void test_add_list_delete(void **state)
{
    fx *f = *state;
    json_t *b = NULL;
    size_t nput = 0;

    assert_int_equal(call(f, AS_POST, "/api/webhooks", "",
                          "{\"id\":\"h1\",\"uri\":\"http://r/x\",\"type\":\"TASK\","
                          "\"secret\":\"s\",\"unknownField\":1,\"user\":\"mallory\"}",
                          &b, &nput),
                     200);
    assert_string_equal(json_string_value(b), "CREATED");
    assert_int_equal(nput, 1);
    json_decref(b);
    const json_t *stored = as_cache_value(f->c, "/corral/webhooks/h1");
    assert_non_null(stored);
    assert_string_equal(json_string_value(json_object_get(stored, "secret")), "s");
    /* the caller, whatever the body says */
    assert_string_equal(json_string_value(json_object_get(stored, "user")), "alice");
    assert_int_equal(json_integer_value(json_object_get(stored, "timestamp")), f->now);
    assert_null(json_object_get(stored, "unknownField"));

    /* the same id again: left as it is */
    assert_int_equal(call(f, AS_POST, "/api/webhooks", "",
                          "{\"id\":\"h1\",\"uri\":\"http://other/\",\"type\":\"DEPLOY\"}", &b,
                          &nput),
                     200);
    assert_string_equal(json_string_value(b), "EXISTED");
    assert_int_equal(nput, 0);
    json_decref(b);

    /* bad bodies: 400, nothing written */
    const char *bad[] = {"", "[1]", "{\"uri\":\"http://r/\"}", "{\"uri\":\"mailto:x\",\"type\":\"TASK\"}",
                         "{\"uri\":\"http://r/\",\"type\":\"CRASHLOOP\"}", "{not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(call(f, AS_POST, "/api/webhooks", "", *bad[i] ? bad[i] : NULL, NULL,
                              &nput),
                         400);
        assert_int_equal(nput, 0);
    }

    /* the list and the summary never show the secret */
    assert_int_equal(call(f, AS_GET, "/api/webhooks", "", NULL, &b, NULL), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_null(json_object_get(json_array_get(b, 0), "secret"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "uri")),
                        "http://r/x");
    json_decref(b);
    f->rev++;
    as_cache_put(f->c, "/corral/queues/webhooks/h1/0000000000000009-0000000000000001",
                 json_pack("{s:s,s:s,s:s,s:i,s:i,s:{s:{s:s},s:s}}", "webhookId", "h1", "type",
                           "TASK", "objectKey", "/corral/tasks/a/t1", "revision", 9, "createdAt",
                           1, "payload", "taskUpdate", "taskState", "TASK_RUNNING", "x", "y"),
                 f->rev, f->rev);
    assert_int_equal(call(f, AS_GET, "/api/webhooks/summary", "", NULL, &b, NULL), 200);
    json_t *s = json_array_get(b, 0);
    assert_int_equal(json_integer_value(json_object_get(s, "queueSize")), 1);
    assert_true(json_is_true(json_object_get(s, "signed")));
    assert_null(json_object_get(json_object_get(s, "webhook"), "secret"));
    json_decref(b);

    /* queued task updates: the taskUpdate part; other types: none */
    assert_int_equal(call(f, AS_GET, "/api/webhooks/task", "webhookId=h1", NULL, &b, NULL), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(b, 0), "taskState")), "TASK_RUNNING");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/webhooks/deploy/h1", "", NULL, &b, NULL), 200);
    assert_int_equal(json_array_size(b), 0);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/webhooks/request", "webhookId=zz", NULL, NULL, NULL),
                     404);
    assert_int_equal(call(f, AS_GET, "/api/webhooks/request", "", NULL, NULL, NULL), 400);

    /* delete: the webhook, its status and its queue in one txn */
    assert_int_equal(call(f, AS_DELETE, "/api/webhooks", "webhookId=h1", NULL, &b, &nput), 200);
    assert_string_equal(json_string_value(b), "DELETED");
    assert_int_equal(nput, 3);
    json_decref(b);
    assert_null(as_cache_get(f->c, "/corral/webhooks/h1"));
    size_t first;
    assert_int_equal(as_cache_range(f->c, "/corral/queues/webhooks/h1/", &first), 0);
    assert_int_equal(call(f, AS_DELETE, "/api/webhooks/h1", "", NULL, &b, &nput), 200);
    assert_string_equal(json_string_value(b), "DIDNT_EXIST");
    assert_int_equal(nput, 0);
    json_decref(b);
}

static void test_default_id(void **state)
{
    fx *f = *state;
    assert_int_equal(call(f, AS_POST, "/api/webhooks", "",
                          "{\"uri\":\"http://r:1/a\",\"type\":\"DEPLOY\"}", NULL, NULL),
                     200);
    assert_non_null(as_cache_get(f->c, "/corral/webhooks/DEPLOY-http%3A%2F%2Fr%3A1%2Fa"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_add_list_delete, setup, teardown),
    cmocka_unit_test_setup_teardown(test_default_id, setup, teardown),
};

CR_TEST_MAIN(tests)
