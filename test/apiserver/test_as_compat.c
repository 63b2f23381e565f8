/* The rest of Singularity's read API (as_compat.h) and the history reads
 * added beside it in as_api.c, from the cluster in fixtures/cluster.json:
 * shapes, filters, paging, and the answers for what Corral does not do. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "apiserver/as_api.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_route.h"

typedef struct fx {
    as_cache *c;
    as_auth *auth; /* test_views_by_caller's */
    as_api_config cfg;
    int64_t rev;
    const as_identity *who; /* the caller of call(); NULL: anonymous */
    json_t *trees;          /* what value() parsed */
} fx;

/* key's value as a tree, kept until teardown (the cache keeps a request
 * that decodes as text: store/cache.h). */
static const json_t *value(fx *f, const char *key)
{
    json_t *j = store_obj_json(as_cache_get(f->c, key));

    if (j) {
        if (!f->trees)
            f->trees = json_array();
        json_array_append_new(f->trees, j);
    }
    return j;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    json_t *j = cr_test_fixture_json("apiserver/fixtures/cluster.json");
    const char *key;
    json_t *v;

    f->c = as_cache_new();
    f->cfg.prefix = "/corral";
    f->cfg.max_scale_down_unacked = 10;
    f->cfg.max_decommissioning_agents = 3;
    json_object_foreach (j, key, v) {
        f->rev++;
        as_cache_put(f->c, key, json_is_null(v) ? NULL : json_incref(v), f->rev, f->rev);
    }
    json_decref(j);
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    as_cache_free(f->c);
    as_auth_free(f->auth);
    json_decref(f->trees);
    free(f);
    return 0;
}

static void put(fx *f, const char *key, const char *json)
{
    f->rev++;
    as_cache_put(f->c, key, cr_test_json(json), f->rev, f->rev);
}

/* One call; its writes are applied to the cache. Returns the status and
 * the body in *out (caller decrefs; NULL for none). */
static int call(fx *f, unsigned method, const char *path, const char *query, const char *body,
                json_t **out)
{
    as_match m;
    as_query_kv *q = NULL;
    size_t nq = 0;
    as_result r;
    int status;

    if (as_route_match(method, path, &m) != AS_ROUTE_OK)
        fail_msg("no route for %s", path);
    assert_int_equal(as_query_parse(query, &q, &nq), 0);
    as_req req = {.method = method,
                  .match = &m,
                  .query = q,
                  .nquery = nq,
                  .body = body,
                  .body_len = body ? strlen(body) : 0,
                  .user = f->who ? f->who->user.id : NULL,
                  .who = f->who,
                  .now = 100000,
                  .nonce = "n0"};
    as_api_handle(&f->cfg, f->c, &req, &r);
    status = r.status;
    if (r.txn.nput > 0 && as_txn_compares_hold(f->c, &r.txn))
        as_cache_apply_txn(f->c, &r.txn, ++f->rev);
    *out = json_incref(r.body);
    as_result_release(&r);
    as_query_free(q, nq);
    as_match_release(&m);
    return status;
}

/* The body of a 200 answer (caller decrefs). */
static json_t *get(fx *f, const char *path, const char *query)
{
    json_t *b = NULL;
    int st = call(f, AS_GET, path, query, NULL, &b);
    if (st != 200)
        fail_msg("GET %s: %d %s", path, st, json_string_value(json_object_get(b, "message")));
    return b;
}

static void expect_status(fx *f, unsigned method, const char *path, const char *body, int want)
{
    json_t *b = NULL;
    int st = call(f, method, path, NULL, body, &b);
    if (st != want)
        fail_msg("%s %s: %d, want %d", as_method_name(method), path, st, want);
    json_decref(b);
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = cr_test_json(want_text);
    if (!json_equal((json_t *)got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("got %s\nwant %s", g, want_text);
    }
    json_decref(want);
}

static void test_requests(void **state)
{
    fx *f = *state;
    json_t *b;

    b = get(f, "/api/requests/ids", NULL);
    assert_json(b, "[\"cron\", \"job\", \"web\"]");
    json_decref(b);
    put(f, "/corral/intents/requests/job/pause", "{\"killTasks\": true}");
    b = get(f, "/api/requests/ids/active", NULL);
    assert_json(b, "[\"cron\", \"web\"]");
    json_decref(b);

    b = get(f, "/api/requests/batch", "id=web&id=nosuch&id=bad%20id");
    assert_int_equal(json_array_size(json_object_get(b, "requests")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(json_object_get(b, "requests"), 0),
                                            "request"),
                            "id")),
                        "web");
    assert_json(json_object_get(b, "notFound"), "[\"nosuch\", \"bad id\"]");
    json_decref(b);

    b = get(f, "/api/requests/request/web/simple", NULL);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "ACTIVE");
    assert_true(json_is_integer(json_object_get(b, "timestamp")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "request"), "id")),
                        "web");
    json_decref(b);
    expect_status(f, AS_GET, "/api/requests/request/nosuch/simple", NULL, 404);

    /* crash loops: requests in cooldown */
    b = get(f, "/api/requests/crashloops", NULL);
    assert_json(b, "{}");
    json_decref(b);
    put(f, "/corral/status/requests/web",
        "{\"requestId\": \"web\", \"state\": \"SYSTEM_COOLDOWN\", \"activeDeployId\": \"v1\","
        " \"cooldownSince\": 5000}");
    b = get(f, "/api/requests/crashloops", NULL);
    assert_json(b, "{\"web\": [{\"requestId\": \"web\", \"deployId\": \"v1\", \"start\": 5000,"
                   " \"end\": null, \"type\": \"FAST_FAILURE_LOOP\"}]}");
    json_decref(b);
    b = get(f, "/api/requests/request/web/crashloops", NULL);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);

    /* load-balancer cleanups */
    put(f, "/corral/lbcleanups/web/web-v1-1000-1-h1-r1",
        "{\"taskId\": {\"id\": \"web-v1-1000-1-h1-r1\", \"requestId\": \"web\"},"
        " \"cleanupType\": \"SCALING_DOWN\", \"timestamp\": 1}");
    b = get(f, "/api/requests/lbcleanup", NULL);
    assert_json(b, "[\"web\"]");
    json_decref(b);
    b = get(f, "/api/tasks/lbcleanup", NULL);
    assert_json(b, "[{\"id\": \"web-v1-1000-1-h1-r1\", \"requestId\": \"web\"}]");
    json_decref(b);
}

static void test_groups(void **state)
{
    fx *f = *state;
    json_t *b = NULL;
    const json_t *doc;

    /* auth-check writes nothing */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/groups/auth-check", NULL,
                          "{\"group\": \"g1\"}", &b),
                     200);
    json_decref(b);
    assert_null(json_object_get(value(f, "/corral/requests/web"), "group"));
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/groups", NULL,
                          "{\"group\": \"g1\", \"readOnlyGroups\": [\"ro\"], \"message\": \"m\"}",
                          &b),
                     200);
    json_decref(b);
    doc = value(f, "/corral/requests/web");
    assert_string_equal(json_string_value(json_object_get(doc, "group")), "g1");
    assert_json(json_object_get(doc, "readOnlyGroups"), "[\"ro\"]");
    assert_int_equal(json_integer_value(json_object_get(doc, "instances")), 2);
    /* an absent one is cleared, as in Singularity */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/groups", NULL, "{}", &b), 200);
    json_decref(b);
    doc = value(f, "/corral/requests/web");
    assert_null(json_object_get(doc, "group"));
    assert_null(json_object_get(doc, "readOnlyGroups"));
    expect_status(f, AS_POST, "/api/requests/request/web/groups", "{\"group\": 5}", 400);

    /* priority: set, cleared; an expiring change is refused */
    expect_status(f, AS_PUT, "/api/requests/request/web/priority", "{\"priority\": 0.25}", 200);
    assert_true(json_real_value(json_object_get(value(f, "/corral/requests/web"),
                                                "taskPriorityLevel")) == 0.25);
    expect_status(f, AS_PUT, "/api/requests/request/web/priority",
                  "{\"priority\": 0.5, \"durationMillis\": 1000}", 400);
    expect_status(f, AS_PUT, "/api/requests/request/web/priority", "{\"priority\": 7}", 400);
    expect_status(f, AS_PUT, "/api/requests/request/web/priority", "{}", 200);
    assert_null(json_object_get(value(f, "/corral/requests/web"), "taskPriorityLevel"));
    expect_status(f, AS_DELETE, "/api/requests/request/web/priority", NULL, 404);
    expect_status(f, AS_POST, "/api/requests/request/nosuch/groups", "{}", 404);
}

/* Request groups: P/groups/<id>, any caller, ids checked. */
static void test_request_groups(void **state)
{
    fx *f = *state;
    json_t *b = NULL;

    b = get(f, "/api/groups", NULL);
    assert_json(b, "[]");
    json_decref(b);
    expect_status(f, AS_GET, "/api/groups/group/g1", NULL, 404);
    assert_int_equal(call(f, AS_POST, "/api/groups", NULL,
                          "{\"id\": \"g1\", \"requestIds\": [\"web\", \"gone\"],"
                          " \"futureField\": 1}",
                          &b),
                     200);
    assert_json(b, "{\"id\": \"g1\", \"requestIds\": [\"web\", \"gone\"], \"metadata\": {}}");
    json_decref(b);
    assert_json(as_cache_value(f->c, "/corral/groups/g1"),
                "{\"id\": \"g1\", \"requestIds\": [\"web\", \"gone\"], \"metadata\": {}}");
    put(f, "/corral/groups/junk", "[1]"); /* written by hand: skipped */
    b = get(f, "/api/groups", NULL);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    b = get(f, "/api/groups/group/g1", NULL);
    assert_string_equal(json_string_value(json_object_get(b, "id")), "g1");
    json_decref(b);
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"a b\"}", 400);
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g2\", \"requestIds\": [1]}", 400);
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g2\", \"metadata\": {\"a\": 1}}", 400);
    expect_status(f, AS_POST, "/api/groups", "{\"requestIds\": []}", 400);
    assert_null(as_cache_value(f->c, "/corral/groups/g2"));
    expect_status(f, AS_DELETE, "/api/groups/group/g1", NULL, 200);
    assert_null(as_cache_get(f->c, "/corral/groups/g1"));
    expect_status(f, AS_DELETE, "/api/groups/group/g1", NULL, 200);
}

static void test_tasks(void **state)
{
    fx *f = *state;
    json_t *b;

    b = get(f, "/api/tasks/counts/request/web", NULL);
    assert_json(b, "{\"requestId\": \"web\", \"active\": 2, \"pending\": 0, \"cleaning\": 0}");
    json_decref(b);
    b = get(f, "/api/tasks/counts/request/job", NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "pending")), 1);
    json_decref(b);

    expect_status(f, AS_GET, "/api/tasks/task/web-v1-1000-1-h1-r1/cleanup", NULL, 404);
    put(f, "/corral/cleanups/web-v1-1000-1-h1-r1",
        "{\"taskId\": {\"id\": \"web-v1-1000-1-h1-r1\", \"requestId\": \"web\"},"
        " \"cleanupType\": \"USER_REQUESTED\", \"timestamp\": 7}");
    b = get(f, "/api/tasks/task/web-v1-1000-1-h1-r1/cleanup", NULL);
    assert_string_equal(json_string_value(json_object_get(b, "cleanupType")), "USER_REQUESTED");
    json_decref(b);
    b = get(f, "/api/tasks/counts/request/web", NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "cleaning")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "active")), 1);
    json_decref(b);
    /* killed: a kill intent whose task says TASK_KILLING */
    b = get(f, "/api/tasks/killed", NULL);
    assert_json(b, "[]");
    json_decref(b);
    put(f, "/corral/tasks/web/web-v1-1000-1-h1-r1",
        "{\"taskId\": {\"id\": \"web-v1-1000-1-h1-r1\", \"requestId\": \"web\", \"deployId\": \"v1\","
        " \"startedAt\": 1000, \"instanceNo\": 1, \"host\": \"h1\", \"rackId\": \"r1\"},"
        " \"agentId\": \"a1\", \"hostname\": \"h1\", \"lastTaskState\": \"TASK_KILLING\","
        " \"updatedAt\": 6000, \"taskUpdates\": []}");
    b = get(f, "/api/tasks/killed", NULL);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(b, 0), "taskCleanupType")),
        "USER_REQUESTED");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(b, 0), "timestamp")), 6000);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(b, 0), "originalTimestamp")), 7);
    json_decref(b);

    b = get(f, "/api/tasks/active/states", NULL);
    assert_int_equal(json_object_size(b), 2);
    assert_true(json_is_array(json_object_get(b, "web-v1-1000-1-h1-r1")));
    json_decref(b);

    /* the offer a task was launched on (SingularityTask.offers) */
    b = get(f, "/api/tasks/task/web-v1-1000-1-h1-r1", NULL);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(b, "offers"), 0), "agentId"), "value")),
        json_string_value(json_object_get(b, "agentId")));
    assert_true(json_equal(json_object_get(b, "offer"),
                           json_array_get(json_object_get(b, "offers"), 0)));
    json_decref(b);

    b = get(f, "/api/track/task/web-v1-1000-1-h1-r1", NULL);
    assert_false(json_is_true(json_object_get(b, "pending")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "taskId"), "id")),
                        "web-v1-1000-1-h1-r1");
    assert_true(json_is_array(json_object_get(b, "taskHistory")));
    json_decref(b);
    expect_status(f, AS_GET, "/api/track/task/web-v1-1-1-h1-r1", NULL, 404);

    /* nothing of what Corral does not do */
    b = get(f, "/api/tasks/task/web-v1-1000-1-h1-r1/command", NULL);
    assert_json(b, "[]");
    json_decref(b);
    expect_status(f, AS_GET, "/api/tasks/task/web-v1-1-1-h1-r1/command", NULL, 404);
    expect_status(f, AS_GET, "/api/usage/requests/request/web", NULL, 404);
    expect_status(f, AS_GET, "/api/priority/freeze", NULL, 404);
    b = get(f, "/api/disasters/stats", NULL);
    assert_false(json_is_true(json_object_get(b, "automatedActionsDisabled")));
    json_decref(b);
    assert_int_equal(call(f, AS_POST, "/api/logs/search", NULL,
                          "{\"requestsAndDeploys\": {\"web\": [\"v1\"], \"bad id\": []},"
                          " \"taskIds\": [\"web-v1-1000-1-h1-r1\", 5]}",
                          &b),
                     200);
    assert_json(b, "{\"continuationTokens\": {}, \"lastPage\": true, \"results\": []}");
    json_decref(b);
    expect_status(f, AS_POST, "/api/logs/search", "{\"taskIds\": {}}", 400);
    expect_status(f, AS_POST, "/api/logs/search", "[]", 400);
    b = get(f, "/api/configuration/singularity-limits", NULL);
    assert_json(b, "{\"maxDecommissioningAgents\": 3}");
    json_decref(b);
}

static void test_runs(void **state)
{
    fx *f = *state;
    json_t *b;

    expect_status(f, AS_GET, "/api/track/run/job/r9", NULL, 404);
    put(f, "/corral/runs/job/r9",
        "{\"requestId\": \"job\", \"runId\": \"r9\", \"commandLineArgs\": [\"-x\"]}");
    b = get(f, "/api/track/run/job/r9", NULL);
    assert_true(json_is_true(json_object_get(b, "pending")));
    assert_string_equal(json_string_value(json_object_get(b, "runId")), "r9");
    json_decref(b);
    b = get(f, "/api/history/request/job/command-line-args", NULL);
    assert_json(b, "[[\"-x\"]]");
    json_decref(b);
    expect_status(f, AS_GET, "/api/history/request/job/run/r9", NULL, 404);
}

static void test_history(void **state)
{
    fx *f = *state;
    json_t *b;

    b = get(f, "/api/history/request/web/tasks/withmetadata", "count=1&page=2");
    assert_int_equal(json_integer_value(json_object_get(b, "dataCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(b, "pageCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(b, "page")), 2);
    assert_int_equal(json_array_size(json_object_get(b, "objects")), 1);
    json_decref(b);
    b = get(f, "/api/history/tasks/withmetadata", "requestId=web");
    assert_int_equal(json_integer_value(json_object_get(b, "dataCount")), 4);
    json_decref(b);
    b = get(f, "/api/history/request/web/deploys/withmetadata", NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "dataCount")), 1);
    json_decref(b);
    b = get(f, "/api/history/request/web/deploy/v1/tasks/active", NULL);
    assert_int_equal(json_array_size(b), 2);
    json_decref(b);
    b = get(f, "/api/history/request/web/deploy/v1/tasks/inactive/withmetadata", "count=1");
    assert_int_equal(json_integer_value(json_object_get(b, "dataCount")), 2);
    assert_int_equal(json_array_size(json_object_get(b, "objects")), 1);
    json_decref(b);
    b = get(f, "/api/history/request/web/deploy/nosuch/tasks/inactive", NULL);
    assert_json(b, "[]");
    json_decref(b);

    b = get(f, "/api/history/requests/search", "requestIdLike=o");
    assert_json(b, "[\"cron\", \"job\"]");
    json_decref(b);
    b = get(f, "/api/history/requests/search", "requestIdLike=o&count=1&page=2");
    assert_json(b, "[\"job\"]");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/requests/search", "count=0", NULL, &b), 400);
    json_decref(b);

    /* a deploy a newer one replaced: Singularity's enum, Corral's state beside */
    put(f, "/corral/deploys/web/v0", "{\"requestId\": \"web\", \"id\": \"v0\", \"command\": \"x\"}");
    put(f, "/corral/status/deploys/web/v0",
        "{\"requestId\": \"web\", \"deployId\": \"v0\", \"state\": \"SUPERSEDED\"}");
    b = get(f, "/api/history/request/web/deploy/v0", NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "deployResult"), "deployState")),
        "CANCELED");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "deployResult"),
                                                          "corralDeployState")),
                        "SUPERSEDED");
    json_decref(b);
}

static void test_state_and_openapi(void **state)
{
    fx *f = *state;
    json_t *b;

    b = get(f, "/api/state/scheduled-tasks-info", NULL);
    assert_true(json_is_array(json_object_get(b, "lateTasks")));
    assert_int_equal(json_array_size(json_object_get(b, "onDemandLateTasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "timestamp")), 100000);
    json_decref(b);
    b = get(f, "/api/state/requests/under-provisioned", NULL);
    assert_true(json_is_array(b));
    json_decref(b);
    b = get(f, "/api/openapi.json", NULL);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(b, "paths"), "/api/requests/ids"),
                            "get"),
            "operationId")),
        "REQ_IDS");
    assert_null(json_object_get(json_object_get(b, "paths"), "/ui"));
    json_decref(b);
}

static void ident(as_identity *who, const char *user, const char *group)
{
    memset(who, 0, sizeof(*who));
    who->user.id = strdup(user);
    api_strlist_add(&who->user.groups, group);
    who->via = "token";
}

/* The ids of the strings of list, comma-separated, into out. */
static void ids_of(const json_t *list, const char *member, char *out, size_t size)
{
    size_t i, o = 0;
    const json_t *e;

    out[0] = '\0';
    json_array_foreach (list, i, e) {
        const json_t *v = member ? json_object_get(e, member) : e;
        o += (size_t)snprintf(out + o, size - o, "%s%s", o ? "," : "", json_string_value(v));
    }
}

/* With authorization on, lists that name requests (the state's, the
 * request groups') show a caller only the requests it may read; writing a
 * request group needs write access to every request it names. */
static void test_views_by_caller(void **state)
{
    fx *f = *state;
    as_auth_options o = {0};
    as_identity root, alice, bob;
    json_t *b = NULL;
    char ids[256];
    cr_err err;

    o.policy.enabled = true;
    api_strlist_add(&o.policy.admin_groups, "admins");
    f->auth = as_auth_new(&o, &err);
    as_auth_policy_release(&o.policy);
    assert_non_null(f->auth);
    f->cfg.auth = f->auth;
    ident(&root, "root", "admins");
    ident(&alice, "alice", "team-a");
    ident(&bob, "bob", "team-c");
    /* web is team-a's; job and "other" (under-provisioned, a deploy under
     * way) team-b's */
    put(f, "/corral/requests/web",
        "{\"id\": \"web\", \"requestType\": \"SERVICE\", \"instances\": 2, "
        "\"group\": \"team-a\"}");
    put(f, "/corral/requests/job",
        "{\"id\": \"job\", \"requestType\": \"ON_DEMAND\", \"group\": \"team-b\"}");
    put(f, "/corral/requests/other",
        "{\"id\": \"other\", \"requestType\": \"SERVICE\", \"instances\": 5, "
        "\"group\": \"team-b\"}");
    put(f, "/corral/deploys/other/o1",
        "{\"requestId\": \"other\", \"id\": \"o1\", \"command\": \"x\", \"timestamp\": 1}");
    put(f, "/corral/deploys/other/o2",
        "{\"requestId\": \"other\", \"id\": \"o2\", \"command\": \"x\", \"timestamp\": 2}");
    put(f, "/corral/status/requests/other",
        "{\"requestId\": \"other\", \"state\": \"ACTIVE\", \"activeDeployId\": \"o1\", "
        "\"pendingDeployId\": \"o2\"}");
    put(f, "/corral/intents/deploys/other/o2/submit", "{\"user\": \"carol\", \"timestamp\": 2}");

    /* An admin sees every request's items. */
    f->who = &root;
    b = get(f, "/api/state/requests/under-provisioned", NULL);
    ids_of(b, NULL, ids, sizeof(ids));
    assert_non_null(strstr(ids, "other"));
    json_decref(b);
    b = get(f, "/api/state/scheduled-tasks-info", NULL);
    assert_int_equal(json_array_size(json_object_get(b, "onDemandLateTasks")), 1);
    json_decref(b);
    b = get(f, "/api/state", NULL);
    ids_of(json_object_get(b, "activeDeploys"), "requestId", ids, sizeof(ids));
    assert_string_equal(ids, "other");
    json_decref(b);

    /* alice: none of team-b's ids; the counts stay the cluster's. */
    f->who = &alice;
    b = get(f, "/api/state/requests/under-provisioned", NULL);
    ids_of(b, NULL, ids, sizeof(ids));
    assert_null(strstr(ids, "other"));
    json_decref(b);
    b = get(f, "/api/state/requests/over-provisioned", NULL);
    ids_of(b, NULL, ids, sizeof(ids));
    assert_null(strstr(ids, "other"));
    assert_null(strstr(ids, "job"));
    json_decref(b);
    b = get(f, "/api/state/scheduled-tasks-info", NULL);
    assert_int_equal(json_array_size(json_object_get(b, "onDemandLateTasks")), 0);
    assert_int_equal(json_array_size(json_object_get(b, "lateTasks")), 0);
    json_decref(b);
    b = get(f, "/api/state", NULL);
    assert_int_equal(json_array_size(json_object_get(b, "activeDeploys")), 0);
    assert_int_equal(json_array_size(json_object_get(b, "onDemandListLateTasks")), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "onDemandLateTasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "numDeploys")), 1);
    assert_true(json_integer_value(json_object_get(b, "underProvisionedRequests")) >= 1);
    json_decref(b);

    /* Request groups: shown with what the caller may read. */
    f->who = &root;
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g1\", \"requestIds\": [\"web\", \"job\"]}",
                  200);
    f->who = &alice;
    b = get(f, "/api/groups", NULL);
    assert_json(b, "[{\"id\": \"g1\", \"requestIds\": [\"web\"], \"metadata\": {}}]");
    json_decref(b);
    b = get(f, "/api/groups/group/g1", NULL);
    assert_json(json_object_get(b, "requestIds"), "[\"web\"]");
    json_decref(b);
    f->who = &bob;
    b = get(f, "/api/groups", NULL);
    assert_json(b, "[]");
    json_decref(b);
    expect_status(f, AS_GET, "/api/groups/group/g1", NULL, 403);
    /* Writing one: write access to every request it names, before and
     * after; a refusal names no request the caller may not read. */
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g2\", \"requestIds\": [\"web\"]}", 403);
    expect_status(f, AS_DELETE, "/api/groups/group/g1", NULL, 403);
    assert_non_null(as_cache_get(f->c, "/corral/groups/g1"));
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g4\", \"requestIds\": []}", 200);
    f->who = &alice;
    assert_int_equal(
        call(f, AS_POST, "/api/groups", NULL, "{\"id\": \"g1\", \"requestIds\": [\"web\"]}", &b),
        403);
    assert_null(strstr(json_string_value(json_object_get(b, "message")), "job"));
    json_decref(b);
    expect_status(f, AS_DELETE, "/api/groups/group/g1", NULL, 403);
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g2\", \"requestIds\": [\"web\"]}", 200);
    expect_status(f, AS_POST, "/api/groups", "{\"id\": \"g3\", \"requestIds\": [\"job\"]}", 403);
    assert_null(as_cache_get(f->c, "/corral/groups/g3"));
    f->who = &bob;
    expect_status(f, AS_DELETE, "/api/groups/group/g2", NULL, 403);
    f->who = &alice;
    expect_status(f, AS_DELETE, "/api/groups/group/g2", NULL, 200);
    assert_null(as_cache_get(f->c, "/corral/groups/g2"));
    f->who = &root;
    expect_status(f, AS_DELETE, "/api/groups/group/g1", NULL, 200);
    assert_null(as_cache_get(f->c, "/corral/groups/g1"));
    f->who = NULL;
    as_identity_release(&root);
    as_identity_release(&alice);
    as_identity_release(&bob);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
    cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_groups, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_runs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
    cmocka_unit_test_setup_teardown(test_state_and_openapi, setup, teardown),
    cmocka_unit_test_setup_teardown(test_views_by_caller, setup, teardown),
};

CR_TEST_MAIN(tests)
