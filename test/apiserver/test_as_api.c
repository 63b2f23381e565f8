/* The API's operations against a cache seeded from fixtures: status codes,
 * response shapes, and the exact documents each write puts in etcd. The
 * cache stands in for etcd here: a successful write is applied to it as etcd
 * would (as_cache_apply_txn), so a test can read its own writes. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "apis/status.h"
#include "apis/task.h"
#include "apiserver/as_api.h"
#include "apiserver/as_route.h"
#include "base/buf.h"

typedef struct fx {
    as_cache *c;
    as_api_config cfg;
    int64_t rev;
    int64_t now;
    bool lenient;      /* decode bodies as Singularity's API does (as_req.strict off) */
    json_t *warnings;  /* the last call's, or NULL */
    json_t *trees;    /* what doc() parsed (values the cache keeps as text) */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    size_t len;
    char *text = cr_test_fixture("apiserver/fixtures/cluster.json", &len);
    json_t *j = json_loads(text, 0, NULL);
    const char *key;
    json_t *v;

    f->c = as_cache_new();
    f->trees = json_array();
    f->cfg.prefix = "/corral";
    f->cfg.max_scale_down_unacked = 10;
    f->now = 100000;
    json_object_foreach (j, key, v) {
        f->rev++;
        as_cache_put(f->c, key, json_is_null(v) ? NULL : json_incref(v), f->rev, f->rev);
    }
    json_decref(j);
    free(text);
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    as_cache_free(f->c);
    json_decref(f->warnings);
    json_decref(f->trees);
    free(f);
    return 0;
}

/* Runs one call; commits its txn into the cache when its compares hold
 * (else the status becomes 409, as the server answers). Returns the status;
 * *body (if not NULL) gets the response body (caller decrefs). */
static int call(fx *f, unsigned method, const char *path, const char *query, const char *body,
                json_t **out_body)
{
    as_match m;
    as_query_kv *q = NULL;
    size_t nq = 0;
    as_result r;
    int status;

    f->now += 10;
    if (as_route_match(method, path, &m) != AS_ROUTE_OK)
        fail_msg("no route for %s %s", as_method_name(method), path);
    assert_int_equal(as_query_parse(query, &q, &nq), 0);
    as_req req = {.method = method,
                  .match = &m,
                  .query = q,
                  .nquery = nq,
                  .body = body,
                  .body_len = body ? strlen(body) : 0,
                  .user = "alice",
                  .now = f->now,
                  .nonce = "n0",
                  .strict = !f->lenient};
    as_api_handle(&f->cfg, f->c, &req, &r);
    status = r.status;
    json_decref(f->warnings);
    f->warnings = json_incref(r.warnings);
    if (r.txn.nput > 0) {
        assert_true(status < 300); /* failures never carry writes */
        if (as_txn_compares_hold(f->c, &r.txn)) {
            as_cache_apply_txn(f->c, &r.txn, ++f->rev);
            if (r.render_parent) {
                json_decref(r.body);
                r.body = as_api_request_parent(&f->cfg, f->c, r.render_parent);
            }
        } else {
            status = 409;
        }
    }
    if (out_body)
        *out_body = json_incref(r.body);
    as_result_release(&r);
    as_query_free(q, nq);
    as_match_release(&m);
    return status;
}

/* key's value as a tree (kept until teardown): the cache keeps requests
 * and deploys that decode as text (store/cache.h). */
static const json_t *doc(fx *f, const char *key)
{
    json_t *j = store_obj_json(as_cache_get(f->c, key));

    if (j)
        json_array_append_new(f->trees, j);
    return j;
}

static const char *str(const json_t *o, const char *path)
{
    char buf[256];
    const json_t *cur = o;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return json_string_value(cur);
}

/* Asserts status and that the error body names the problem. */
static void expect_error(fx *f, unsigned method, const char *path, const char *query,
                         const char *body, int status, const char *needle)
{
    json_t *b = NULL;
    size_t before = as_cache_count(f->c);
    int64_t rev = f->rev;
    int got = call(f, method, path, query, body, &b);

    if (got != status)
        fail_msg("%s %s: status %d, want %d (%s)", as_method_name(method), path, got, status,
                 str(b, "message"));
    assert_non_null(str(b, "message"));
    if (needle && !strstr(str(b, "message"), needle))
        fail_msg("%s %s: message '%s' lacks '%s'", as_method_name(method), path, str(b, "message"),
                 needle);
    assert_int_equal(json_integer_value(json_object_get(b, "status")), status);
    /* Nothing was written. */
    assert_int_equal(as_cache_count(f->c), before);
    assert_int_equal(f->rev, rev);
    json_decref(b);
}

/* ---- requests ---- */

static void test_request_create_get_update(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_POST, "/api/requests", NULL,
                          "{\"id\":\"api\",\"requestType\":\"WORKER\",\"instances\":3,"
                          "\"owners\":[\"a@b.c\"],\"slavePlacement\":\"SEPARATE\"}",
                          &b),
                     200);
    /* The parent object with Singularity's fields. */
    assert_string_equal(str(b, "request.id"), "api");
    assert_string_equal(str(b, "state"), "ACTIVE");
    assert_string_equal(str(b, "requestDeployState.requestId"), "api");
    assert_true(
        json_is_null(json_object_get(json_object_get(b, "requestDeployState"), "activeDeploy")));
    const char *ids[] = {"healthy",  "notYetHealthy", "pending",
                         "cleaning", "loadBalanced",  "killed"};
    for (size_t i = 0; i < 6; i++)
        assert_true(json_is_array(json_object_get(json_object_get(b, "taskIds"), ids[i])));
    json_decref(b);
    /* Stored canonically: the deprecated alias became the new name. */
    const json_t *d = doc(f, "/corral/requests/api");
    assert_string_equal(str(d, "agentPlacement"), "SEPARATE");
    assert_null(json_object_get(d, "slavePlacement"));
    assert_int_equal(json_integer_value(json_object_get(d, "instances")), 3);
    /* A CREATED history event. */
    assert_non_null(doc(f, "/corral/history/requests/api/0000000100010-CREATED"));

    assert_int_equal(call(f, AS_GET, "/api/requests/request/api", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "request.requestType"), "WORKER");
    json_decref(b);

    /* Update: WORKER -> SERVICE is allowed when not load balanced. */
    assert_int_equal(call(f, AS_POST, "/api/requests", NULL,
                          "{\"id\":\"api\",\"requestType\":\"SERVICE\",\"instances\":4}", NULL),
                     200);
    assert_string_equal(str(doc(f, "/corral/requests/api"), "requestType"), "SERVICE");
    assert_non_null(doc(f, "/corral/history/requests/api/0000000100030-UPDATED"));
    expect_error(f, AS_POST, "/api/requests", NULL,
                 "{\"id\":\"api\",\"requestType\":\"SCHEDULED\",\"schedule\":\"* * * * *\"}", 400,
                 "requestType can not change");
}

static void test_request_lists(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/requests", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 3);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/requests", "requestType=ON_DEMAND", NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "request.id"), "job");
    json_decref(b);
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/pause", NULL, NULL, NULL), 200);
    assert_int_equal(call(f, AS_GET, "/api/requests/paused", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/requests/active", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/requests/cooldown", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 0);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/requests/queued/cleanup", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "cleanupType"), "PAUSING");
    json_decref(b);
    expect_error(f, AS_GET, "/api/requests", "limit=x", NULL, 400, "limit");
    expect_error(f, AS_GET, "/api/requests", "requestType=NOPE", NULL, 400, "requestType");
}

static void test_request_bad_input(void **state)
{
    fx *f = *state;

    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":", 400, "malformed JSON");
    expect_error(f, AS_POST, "/api/requests", NULL, "[1]", 400, "JSON object");
    expect_error(f, AS_POST, "/api/requests", NULL, NULL, 400, "required");
    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":\"x\",\"bogus\":1}", 400, "bogus");
    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":\"x\",\"instances\":\"2\"}", 400,
                 "instances");
    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":\"a/b\"}", 400, "id");
    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":\"x\",\"id\":\"y\"}", 400,
                 "malformed JSON");
    expect_error(f, AS_GET, "/api/requests/request/nope", NULL, NULL, 404, "nope");
    expect_error(f, AS_GET, "/api/requests/request/bad%20id", NULL, NULL, 400,
                 "invalid request id");
    expect_error(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instances\":\"3\"}", 400,
                 "instances");
    expect_error(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instance\":3}", 400,
                 "unknown field 'instance'");
    expect_error(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{}", 400, "required");
    expect_error(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instances\":0}", 400,
                 "instances");
}

/* Singularity's API ignores fields it does not know and takes both names
 * of an alias pair when they agree (its Java client sends both); strict
 * decoding (corralctl, ?strict=true) refuses them. */
static void test_lenient_bodies(void **state)
{
    fx *f = *state;
    const json_t *d;
    json_t *b = NULL;

    f->lenient = true;
    assert_int_equal(call(f, AS_POST, "/api/requests", NULL,
                          "{\"id\":\"len\",\"requestType\":\"WORKER\",\"bogus\":1,"
                          "\"agentPlacement\":\"SEPARATE\",\"slavePlacement\":\"SEPARATE\","
                          "\"requiredAgentAttributes\":{\"a\":\"1\"},"
                          "\"requiredSlaveAttributes\":{\"a\":\"1\"},"
                          "\"allowedSlaveAttributes\":null,\"allowedAgentAttributes\":{}}",
                          &b),
                     200);
    json_decref(b);
    assert_int_equal(json_array_size(f->warnings), 1);
    assert_string_equal(json_string_value(json_array_get(f->warnings, 0)),
                        "bogus: unknown field ignored");
    d = doc(f, "/corral/requests/len");
    assert_null(json_object_get(d, "bogus"));
    assert_null(json_object_get(d, "slavePlacement"));
    assert_string_equal(str(d, "agentPlacement"), "SEPARATE");
    assert_string_equal(str(d, "requiredAgentAttributes.a"), "1");
    /* the deprecated name alone, the current one null: taken */
    assert_int_equal(call(f, AS_POST, "/api/requests", NULL,
                          "{\"id\":\"len3\",\"agentPlacement\":null,"
                          "\"slavePlacement\":\"SEPARATE\"}",
                          NULL),
                     200);
    assert_string_equal(str(doc(f, "/corral/requests/len3"), "agentPlacement"), "SEPARATE");
    /* a pair that disagrees is still an error */
    expect_error(f, AS_POST, "/api/requests", NULL,
                 "{\"id\":\"len2\",\"agentPlacement\":\"GREEDY\",\"slavePlacement\":\"SEPARATE\"}",
                 400, "slavePlacement");
    /* strict on request */
    f->lenient = false;
    expect_error(f, AS_POST, "/api/requests", NULL, "{\"id\":\"len4\",\"bogus\":1}", 400,
                 "bogus");
    f->lenient = true;

    /* a deploy as the Java client writes it: labels beside the mesosLabels
     * derived from them, null flat health-check fields beside healthcheck */
    assert_int_equal(
        call(f, AS_POST, "/api/deploys", NULL,
             "{\"deploy\":{\"requestId\":\"len\",\"id\":\"d1\",\"command\":\"x\","
             "\"resources\":{\"cpus\":1,\"memoryMb\":16,\"numPorts\":1},\"labels\":{\"a\":\"b\"},"
             "\"mesosLabels\":[{\"key\":\"a\",\"value\":\"b\"}],\"healthcheckUri\":null,"
             "\"healthcheckPortIndex\":null,\"healthcheck\":{\"uri\":\"/h\"},\"futureField\":2},"
             "\"futureTop\":1,\"updatedRequest\":null}",
             &b),
        200);
    json_decref(b);
    assert_int_equal(json_array_size(f->warnings), 2);
    d = doc(f, "/corral/deploys/len/d1");
    assert_null(json_object_get(d, "labels"));
    assert_null(json_object_get(d, "futureField"));
    assert_string_equal(str(d, "healthcheck.uri"), "/h");
    assert_int_equal(json_array_size(json_object_get(d, "mesosLabels")), 1);
    /* labels that say something else than mesosLabels: refused */
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"len\",\"id\":\"d2\",\"command\":\"x\","
                 "\"resources\":{\"cpus\":1,\"memoryMb\":16,\"numPorts\":1},\"labels\":{\"a\":\"c\"},"
                 "\"mesosLabels\":[{\"key\":\"a\",\"value\":\"b\"}]}}",
                 400, "labels");
    /* a flat health-check field that disagrees with healthcheck: refused */
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"len\",\"id\":\"d3\",\"command\":\"x\","
                 "\"resources\":{\"cpus\":1,\"memoryMb\":16,\"numPorts\":1},\"healthcheckUri\":\"/other\","
                 "\"healthcheck\":{\"uri\":\"/h\"}}}",
                 400, "healthcheckUri");
    /* scaling to the count it has is a mistake, as in Singularity */
    expect_error(f, AS_PUT, "/api/requests/request/len/scale", NULL,
                 "{\"instances\":1,\"futureField\":1}", 400, "already has 1");
    f->lenient = false;
}

static void test_scale_and_expiry(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_PUT, "/api/requests/request/web/scale", NULL,
                          "{\"instances\":20,\"message\":\"up\"}", &b),
                     200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(b, "request"), "instances")), 20);
    json_decref(b);
    assert_int_equal(
        json_integer_value(json_object_get(doc(f, "/corral/requests/web"), "instances")), 20);
    assert_null(doc(f, "/corral/intents/requests/web/scale"));
    /* Scale-down guard: 20 -> 5 needs an acknowledgement. */
    expect_error(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instances\":5}", 400,
                 "largeScaleDownAcknowledged");
    assert_int_equal(call(f, AS_PUT, "/api/requests/request/web/scale",
                          "largeScaleDownAcknowledged=true",
                          "{\"instances\":5,\"durationMillis\":60000}", &b),
                     200);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(b, "expiringScale"), "previousInstances")),
                     20);
    json_decref(b);
    const json_t *in = doc(f, "/corral/intents/requests/web/scale");
    assert_non_null(in);
    assert_string_equal(str(in, "user"), "alice");
    assert_int_equal(call(f, AS_DELETE, "/api/requests/request/web/scale", NULL, NULL, NULL), 200);
    assert_null(doc(f, "/corral/intents/requests/web/scale"));
    expect_error(f, AS_DELETE, "/api/requests/request/web/scale", NULL, NULL, 404, "expiring");

    /* skip-healthchecks edits the request. */
    assert_int_equal(call(f, AS_PUT, "/api/requests/request/web/skip-healthchecks", NULL,
                          "{\"skipHealthchecks\":true}", NULL),
                     200);
    assert_true(json_is_true(json_object_get(doc(f, "/corral/requests/web"), "skipHealthchecks")));
    expect_error(f, AS_PUT, "/api/requests/request/web/skipHealthchecks", NULL,
                 "{\"skipHealthchecks\":1}", 400, "boolean");
    /* SCHEDULED requests keep instances at 1. */
    expect_error(f, AS_PUT, "/api/requests/request/cron/scale", NULL, "{\"instances\":2}", 400,
                 "instances");
}

static void test_pause_unpause_bounce_cooldown(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/pause", NULL,
                          "{\"killTasks\":false,\"message\":\"m\"}", &b),
                     200);
    assert_string_equal(str(b, "state"), "PAUSED"); /* the intent shows before the leader acts */
    json_decref(b);
    const json_t *p = doc(f, "/corral/intents/requests/web/pause");
    assert_true(json_is_false(json_object_get(p, "killTasks")));
    assert_string_equal(str(p, "message"), "m");
    expect_error(f, AS_POST, "/api/requests/request/web/pause", NULL, NULL, 409, "paused");
    expect_error(f, AS_POST, "/api/requests/request/web/bounce", NULL, NULL, 409, "paused");
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/unpause", NULL, NULL, NULL), 200);
    assert_null(doc(f, "/corral/intents/requests/web/pause"));
    expect_error(f, AS_POST, "/api/requests/request/web/unpause", NULL, NULL, 409, "not in PAUSED");
    /* Without a leader status, a pause shows as PAUSED. */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/job/pause", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "state"), "PAUSED");
    assert_true(
        json_is_true(json_object_get(doc(f, "/corral/intents/requests/job/pause"), "killTasks")));
    json_decref(b);

    assert_int_equal(
        call(f, AS_POST, "/api/requests/request/web/bounce", NULL, "{\"incremental\":true}", NULL),
        200);
    const json_t *bo = doc(f, "/corral/intents/requests/web/bounce");
    assert_true(json_is_true(json_object_get(bo, "incremental")));
    assert_true(json_integer_value(json_object_get(bo, "timestamp")) > 0);
    expect_error(f, AS_POST, "/api/requests/request/web/bounce", NULL, NULL, 409,
                 "already bouncing");
    expect_error(f, AS_POST, "/api/requests/request/cron/bounce", NULL, NULL, 400,
                 "Can not bounce");
    expect_error(f, AS_POST, "/api/requests/request/web/bounce", NULL, "{\"incremental\":\"yes\"}",
                 400, "boolean");
    expect_error(f, AS_POST, "/api/requests/request/web/exit-cooldown", NULL, NULL, 409,
                 "SYSTEM_COOLDOWN");
}

static void test_delete_request(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/pause", NULL, NULL, NULL), 200);
    assert_int_equal(
        call(f, AS_DELETE, "/api/requests/request/web", NULL, "{\"message\":\"bye\"}", &b), 200);
    assert_string_equal(str(b, "id"), "web");
    json_decref(b);
    assert_null(doc(f, "/corral/requests/web"));
    assert_null(doc(f, "/corral/intents/requests/web/pause"));
    /* Deploys stay for history. */
    assert_non_null(doc(f, "/corral/deploys/web/v1"));
    expect_error(f, AS_DELETE, "/api/requests/request/web", NULL, NULL, 404, "web");
    expect_error(f, AS_DELETE, "/api/requests/request/job", NULL, "{\"nope\":1}", 400, "nope");
}

static void test_run_now(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_POST, "/api/requests/request/job/run", NULL,
                          "{\"runId\":\"r7\",\"commandLineArgs\":[\"-x\"],"
                          "\"resources\":{\"cpus\":0.5}}",
                          &b),
                     200);
    assert_string_equal(str(b, "pendingRequest.pendingType"), "ONEOFF");
    assert_string_equal(str(b, "pendingRequest.runId"), "r7");
    json_decref(b);
    const json_t *r = doc(f, "/corral/runs/job/r7");
    assert_string_equal(str(r, "requestId"), "job");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "commandLineArgs"), 0)),
                        "-x");
    expect_error(f, AS_POST, "/api/requests/request/job/run", NULL, "{\"runId\":\"r7\"}", 409,
                 "exists");
    expect_error(f, AS_POST, "/api/requests/request/web/run", NULL, NULL, 400, "Can not request");
    /* A scheduled job that is running now refuses a run-now. */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/cron/run", NULL, "{\"runId\":\"c1\"}", NULL), 200);
    as_cache_put(f->c, "/corral/tasks/cron/cron-d1-1-1-h-r",
                 json_pack("{s:s}", "lastTaskState", "TASK_RUNNING"), 90, 90);
    expect_error(f, AS_POST, "/api/requests/request/cron/run", NULL, NULL, 409, "currently running");
    expect_error(f, AS_POST, "/api/requests/request/job/run", NULL, "{\"commandLineArgs\":[1]}",
                 400, "list of strings");
    expect_error(f, AS_POST, "/api/requests/request/job/run", NULL, "{\"resources\":{\"gpus\":1}}",
                 400, "gpus");
    /* A generated run id. */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/job/run", NULL, NULL, NULL), 200);
    size_t first;
    assert_int_equal(as_cache_range(f->c, "/corral/runs/job/", &first), 2);
    assert_string_equal(as_cache_at(f->c, first)->key, "/corral/runs/job/100080n0");
    assert_int_equal(call(f, AS_GET, "/api/requests/queued/pending", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 3) /* two runs of job, one of cron */;
    json_decref(b);
}

/* ---- deploys ---- */

static void test_deploy_rules(void **state)
{
    fx *f = *state;
    json_t *b;

    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"nope\",\"id\":\"v1\",\"command\":\"x\"}}", 404,
                 "nope");
    expect_error(f, AS_POST, "/api/deploys", NULL, "{}", 400, "deploy");
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v-2\",\"command\":\"x\"}}", 400,
                 "id");
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"x\",\"resources\":"
                 "{\"cpus\":-1}}}",
                 400, "cpus");
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"x\"}}", 400,
                 "already been deployed");
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"x\"},\"extra\":1}",
                 400, "extra");

    assert_int_equal(
        call(f, AS_POST, "/api/deploys", NULL,
             "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"sleep 1\"},"
             "\"message\":\"ship it\"}",
             &b),
        200);
    assert_string_equal(str(b, "pendingDeploy.id"), "v2");
    assert_string_equal(str(b, "pendingDeployState.currentDeployState"), "WAITING");
    assert_string_equal(str(b, "requestDeployState.activeDeploy.deployId"), "v1");
    assert_string_equal(str(b, "requestDeployState.pendingDeploy.deployId"), "v2");
    assert_string_equal(str(b, "requestDeployState.pendingDeploy.message"), "ship it");
    json_decref(b);
    const json_t *d = doc(f, "/corral/deploys/web/v2");
    assert_string_equal(str(d, "command"), "sleep 1");
    assert_true(json_is_integer(json_object_get(d, "timestamp")));
    assert_string_equal(str(doc(f, "/corral/intents/deploys/web/v2/submit"), "user"), "alice");
    /* One pending deploy at a time. */
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v3\",\"command\":\"x\"}}", 409,
                 "Pending deploy already in progress");
    assert_int_equal(call(f, AS_GET, "/api/deploys/pending", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "deployMarker.deployId"), "v2");
    json_decref(b);
    /* Update the target of the pending deploy. */
    expect_error(f, AS_POST, "/api/deploys/update", NULL,
                 "{\"requestId\":\"web\",\"deployId\":\"v2\",\"targetActiveInstances\":3}", 400,
                 "between");
    expect_error(f, AS_POST, "/api/deploys/update", NULL,
                 "{\"requestId\":\"web\",\"deployId\":\"v9\",\"targetActiveInstances\":1}", 400,
                 "does not have a pending deploy");
    assert_int_equal(call(f, AS_POST, "/api/deploys/update", NULL,
                          "{\"requestId\":\"web\",\"deployId\":\"v2\",\"targetActiveInstances\":1}",
                          &b),
                     200);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(b, "pendingDeployState"), "deployProgress"),
            "targetActiveInstances")),
        1);
    json_decref(b);
    /* Cancel. */
    expect_error(f, AS_DELETE, "/api/deploys/deploy/v1/request/web", NULL, NULL, 400,
                 "does not have a pending deploy");
    assert_int_equal(call(f, AS_DELETE, "/api/deploys/deploy/v2/request/web", NULL, NULL, &b), 200);
    assert_null(json_object_get(b, "pendingDeploy"));
    json_decref(b);
    assert_non_null(doc(f, "/corral/intents/deploys/web/v2/cancel"));
    /* A cancelled deploy no longer blocks the next one. */
    assert_int_equal(call(f, AS_POST, "/api/deploys", NULL,
                          "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v3\",\"command\":\"x\"}}",
                          NULL),
                     200);
    /* Paused requests refuse deploys unless unpauseOnSuccessfulDeploy. */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/job/pause", NULL, NULL, NULL), 200);
    expect_error(f, AS_POST, "/api/deploys", NULL,
                 "{\"deploy\":{\"requestId\":\"job\",\"id\":\"j1\",\"command\":\"x\"}}", 409,
                 "paused");
    assert_int_equal(call(f, AS_POST, "/api/deploys", NULL,
                          "{\"deploy\":{\"requestId\":\"job\",\"id\":\"j1\",\"command\":\"x\"},"
                          "\"unpauseOnSuccessfulDeploy\":true}",
                          NULL),
                     200);
    assert_true(json_is_true(json_object_get(doc(f, "/corral/intents/deploys/job/j1/submit"),
                                             "unpauseOnSuccessfulDeploy")));
}

static void test_pending_deploy_rules(void **state)
{
    fx *f = *state;
    json_t *b;

    /* A deploy older than the active one, without a status, is not pending. */
    as_cache_put(f->c, "/corral/deploys/web/v0",
                 json_pack("{s:s, s:s}", "requestId", "web", "id", "v0"), 1, 1);
    assert_int_equal(call(f, AS_GET, "/api/requests/request/web", NULL, NULL, &b), 200);
    assert_null(json_object_get(b, "pendingDeploy"));
    json_decref(b);
    /* The leader's pendingDeployId wins, unless the user cancelled it. */
    as_cache_put(f->c, "/corral/status/requests/web",
                 json_pack("{s:s, s:s, s:s}", "state", "ACTIVE", "activeDeployId", "v1",
                           "pendingDeployId", "v0"),
                 20, 20);
    assert_int_equal(call(f, AS_GET, "/api/requests/request/web", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "pendingDeploy.id"), "v0");
    json_decref(b);
    assert_int_equal(call(f, AS_DELETE, "/api/deploys/deploy/v0/request/web", NULL, NULL, &b), 200);
    assert_null(json_object_get(b, "pendingDeploy"));
    json_decref(b);
    assert_int_equal(call(f, AS_POST, "/api/deploys", NULL,
                          "{\"deploy\":{\"requestId\":\"web\",\"id\":\"v5\",\"command\":\"x\"}}",
                          NULL),
                     200);
}

/* The answers that read a request's status, as one JSON text each. */
static char *status_answers(fx *f)
{
    static const char *const paths[] = {
        "/api/requests/request/web",
        "/api/requests",
        "/api/requests/request/web/simple",
        "/api/requests/crashloops",
        "/api/requests/request/web/crashloops",
        "/api/requests/queued/cleanup",
        "/api/state",
    };
    cr_buf out = CR_BUF_INIT;

    f->now = 200000; /* the same clock and bounce intent for both */
    f->rev++;
    as_cache_put(f->c, "/corral/intents/requests/web/bounce", json_pack("{s:i}", "timestamp", 5),
                 f->rev, f->rev);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *b = NULL;
        int st = call(f, AS_GET, paths[i], NULL, NULL, &b);
        char *d = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_buf_addf(&out, "%s %d %s\n", paths[i], st, d ? d : "-");
        free(d);
        json_decref(b);
    }
    /* bouncing while the last bounce is older than the intent */
    cr_buf_addf(&out, "bounce %d\n",
                call(f, AS_POST, "/api/requests/request/web/bounce", NULL, "{}", NULL));
    return cr_buf_detach(&out, NULL);
}

/* A request status that decodes is kept as text (store/cache.h), one with
 * a key twice as a tree: every answer that reads it is the same bytes. */
static void test_request_status_text_or_tree(void **state)
{
    fx *f = *state;
    static const char *const statuses[] = {
        ("\"state\":\"SYSTEM_COOLDOWN\",\"activeDeployId\":\"v1\",\"pendingDeployId\":\"v2\","
         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"message\":\"caf\\u00e9 "
         "\\\"1\\\"\"}],"
         "\"cooldownSince\":5000,\"updatedAt\":7000,\"lastBounce\":3}"),
        ("\"state\":\"DELETING\",\"activeDeployId\":\"v1\",\"conditions\":[],\"cooldownSince\":0,"
         "\"lastBounce\":9}"),
        "\"state\":\"ACTIVE\",\"pendingDeployId\":null}",
    };
    const char *key = "/corral/status/requests/web";

    f->rev++;
    as_cache_put(f->c, "/corral/deploys/web/v2",
                 json_pack("{s:s, s:s, s:s}", "requestId", "web", "id", "v2", "command", "x"),
                 f->rev, f->rev);
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        char *text = NULL, *twice = NULL, *a, *b;
        if (asprintf(&text, "{\"requestId\":\"web\",%s", statuses[i]) < 0 ||
            asprintf(&twice, "{\"requestId\":\"web\",\"requestId\":\"web\",%s", statuses[i]) < 0)
            fail();
        as_cache_put_raw(f->c, key, text, strlen(text), 40, ++f->rev);
        assert_null(as_cache_get(f->c, key)->value); /* kept as text */
        assert_non_null(as_cache_get(f->c, key)->doc);
        a = status_answers(f);
        as_cache_put_raw(f->c, key, twice, strlen(twice), 40, ++f->rev);
        assert_non_null(as_cache_get(f->c, key)->value); /* a tree */
        b = status_answers(f);
        assert_string_equal(a, b);
        free(a);
        free(b);
        free(text);
        free(twice);
    }
}

/* A deploy status of web as the controllers write it
 * (api_deploy_status_to_json), kept as text by the cache; with twice, the
 * same with a key twice, kept as a tree. Caller frees. */
static char *deploy_status_text(const char *did, api_deploy_state state, bool twice)
{
    api_deploy_failure fail = {API_DFAIL_TASK_FAILED_ON_STARTUP, "web-v2-1-1-h-r", "caf\u00e9 \"x\""};
    api_deploy_status ds = {.requestId = "web", .deployId = (char *)did, .state = state,
                            .message = "m", .startedAt = 1500, .targetActiveInstances = 1,
                            .step = 1, .healthyTasks = 1, .n_failures = 1, .failures = &fail,
                            .updatedAt = 1600};
    json_t *j = api_deploy_status_to_json(&ds);
    char *text = json_dumps(j, JSON_COMPACT), *out = NULL;

    if (twice && asprintf(&out, "{\"requestId\":\"web\",%s", text + 1) < 0)
        fail();
    json_decref(j);
    if (!twice)
        return text;
    free(text);
    return out;
}

/* The answers that show or read a request or its deploy, as one JSON
 * text each, after putting the request and deploy v1 as request and
 * deploy (their texts), deploy v2 pending, and the statuses of both as
 * the controllers write them (twice: with a key twice). Ends with a
 * scale, which writes the request. */
static char *request_answers(fx *f, const char *request, const char *deploy, bool twice)
{
    static const char *const paths[] = {
        "/api/requests/request/web",
        "/api/requests",
        "/api/requests/active",
        "/api/requests/request/web/simple",
        "/api/requests/queued/pending",
        "/api/tasks/active",
        "/api/tasks/scheduled",
        "/api/tasks/scheduled/request/web",
        "/api/tasks/task/web-v1-1000-1-h1-r1",
        "/api/history/task/web-v1-900-1-h1-r1",
        "/api/history/request/web/deploys",
        "/api/history/request/web/deploy/v1",
        "/api/history/request/web/deploy/v2",
        "/api/state",
    };
    static const char pending[] =
        "{\"pendingTaskId\":{\"id\":\"web-v1-5-3-NEW_DEPLOY-4\",\"requestId\":\"web\","
        "\"deployId\":\"v1\",\"nextRunAt\":5,\"instanceNo\":3,\"pendingType\":\"NEW_DEPLOY\","
        "\"createdAt\":4}}";
    static const char deploy2[] = "{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"sleep 2\"}";
    cr_buf out = CR_BUF_INIT;
    json_t *b = NULL;
    char *d;
    int st;

    f->now = 200000;
    as_cache_put_raw(f->c, "/corral/requests/web", request, strlen(request), 1, ++f->rev);
    as_cache_put_raw(f->c, "/corral/deploys/web/v1", deploy, strlen(deploy), 2, ++f->rev);
    as_cache_put_raw(f->c, "/corral/pending/web/web-v1-5-3-NEW_DEPLOY-4", pending, strlen(pending),
                     3, ++f->rev);
    as_cache_put_raw(f->c, "/corral/deploys/web/v2", deploy2, strlen(deploy2), 4, ++f->rev);
    for (int k = 1; k <= 2; k++) {
        char key[64], *text = deploy_status_text(
                           k == 1 ? "v1" : "v2",
                           k == 1 ? API_DSTATE_SUCCEEDED : API_DSTATE_WAITING, twice);
        snprintf(key, sizeof(key), "/corral/status/deploys/web/v%d", k);
        as_cache_put_raw(f->c, key, text, strlen(text), 4 + k, ++f->rev);
        if (!as_cache_get(f->c, key)->value != !twice)
            fail_msg("%s: %s", key, twice ? "not a tree" : "not kept as text");
        free(text);
    }
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        st = call(f, AS_GET, paths[i], NULL, NULL, &b);
        d = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_buf_addf(&out, "%s %d %s\n", paths[i], st, d ? d : "-");
        free(d);
        json_decref(b);
        b = NULL;
    }
    st = call(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instances\": 3}", &b);
    d = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_buf_addf(&out, "scale %d %s\n", st, d ? d : "-");
    free(d);
    json_decref(b);
    d = json_dumps(doc(f, "/corral/requests/web"), JSON_COMPACT);
    cr_buf_addf(&out, "scaled %s\n", d ? d : "-");
    free(d);
    return cr_buf_detach(&out, NULL);
}

/* A request and a deploy that decode, and whose document encodes as their
 * tree, are kept as text (store/cache.h, api_doc_faithful), ones with a key
 * twice as trees: every answer that shows or reads them is the same bytes
 * (whitespace, key order, escapes and reals re-encoded as jansson writes
 * them). */
static void test_request_deploy_text_or_tree(void **state)
{
    fx *f = *state;
    static const char *const requests[][2] = {
        {"{ \"requestType\": \"SERVICE\", \"id\": \"web\", \"instances\": 2,"
         " \"owners\": [\"caf\\u00e9@x.y\", \"o\\\"k@x.y\"], \"taskPriorityLevel\": 0.3,"
         " \"annotations\": {\"corral.io/source\": \"s1\"} }",
         "{ \"requestType\": \"SERVICE\", \"id\": \"web\", \"id\": \"web\", \"instances\": 2,"
         " \"owners\": [\"caf\\u00e9@x.y\", \"o\\\"k@x.y\"], \"taskPriorityLevel\": 0.3,"
         " \"annotations\": {\"corral.io/source\": \"s1\"} }"},
        {"{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2}",
         "{\"id\":\"web\",\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2}"},
    };
    static const char *const deploys[][2] = {
        {"{\"requestId\": \"web\", \"id\": \"v1\", \"command\": \"sleep 100\", \"timestamp\": 1000,"
         " \"resources\": {\"cpus\": 0.1, \"memoryMb\": 64}, \"env\": {\"A\": \"\\u00e9\\n\"}}",
         "{\"requestId\": \"web\", \"id\": \"v1\", \"id\": \"v1\", \"command\": \"sleep 100\","
         " \"timestamp\": 1000, \"resources\": {\"cpus\": 0.1, \"memoryMb\": 64},"
         " \"env\": {\"A\": \"\\u00e9\\n\"}}"},
        {"{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 100\",\"timestamp\":1000}",
         "{\"requestId\":\"web\",\"id\":\"v1\",\"id\":\"v1\",\"command\":\"sleep 100\","
         "\"timestamp\":1000}"},
    };

    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        char *a, *b;

        a = request_answers(f, requests[i][0], deploys[i][0], false);
        as_cache_put_raw(f->c, "/corral/requests/web", requests[i][0], strlen(requests[i][0]), 1,
                         ++f->rev);
        as_cache_put_raw(f->c, "/corral/deploys/web/v1", deploys[i][0], strlen(deploys[i][0]), 2,
                         ++f->rev);
        if (as_cache_get(f->c, "/corral/requests/web")->value ||
            as_cache_get(f->c, "/corral/deploys/web/v1")->value)
            fail_msg("case %zu: not kept as text", i);
        assert_non_null(as_cache_get(f->c, "/corral/requests/web")->doc);
        b = request_answers(f, requests[i][1], deploys[i][1], true);
        assert_non_null(as_cache_get(f->c, "/corral/deploys/web/v1")->value); /* a tree */
        assert_non_null(strstr(a, "\"taskRequest\":{\"request\":{"));
        assert_non_null(strstr(a, "\"pendingDeployState\":{"));
        size_t at = 0, from;
        while (a[at] && a[at] == b[at])
            at++;
        from = at > 200 ? at - 200 : 0;
        if (a[at] != b[at])
            fail_msg("case %zu, byte %zu:\n as text: ...%.300s\n as tree: ...%.300s", i, at,
                     a + from, b + from);
        free(a);
        free(b);
    }
}

static void test_deploy_seed_object(void **state)
{
    fx *f = *state;
    size_t len;
    char *obj = cr_test_fixture("apiserver/fixtures/seed-deploy-object.json", &len);
    char *body = NULL;

    if (asprintf(&body, "{\"deploy\":%s}", obj) < 0)
        fail();
    assert_int_equal(call(f, AS_POST, "/api/requests", NULL,
                          "{\"id\":\"MDS_TestService\",\"owners\":[\"x@y.z\"],\"daemon\":true,"
                          "\"instances\":3,\"rackSensitive\":true}",
                          NULL),
                     200);
    assert_string_equal(str(doc(f, "/corral/requests/MDS_TestService"), "requestType"), "WORKER");
    assert_int_equal(call(f, AS_POST, "/api/deploys", NULL, body, NULL), 200);
    const json_t *d = doc(f, "/corral/deploys/MDS_TestService/71_7");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(d, "executorData"), "s3Artifacts")), 1);
    free(obj);
    free(body);
}

/* ---- tasks ---- */

static void test_task_views(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/tasks/active", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "taskRequest.request.id"), "web");
    assert_string_equal(str(json_array_get(b, 0), "taskRequest.deploy.id"), "v1");
    assert_string_equal(str(json_array_get(b, 0), "rackId"), "r1");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/active/ids", NULL, NULL, &b), 200);
    assert_string_equal(str(json_array_get(b, 1), "id"), "web-v1-1001-2-h2-r2");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/active/agent/a2", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/ids/request/web", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b, "healthy")), 1);
    assert_int_equal(json_array_size(json_object_get(b, "notYetHealthy")), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/ids/request/job", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b, "pending")), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/task/web-v1-1000-1-h1-r1", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "lastTaskState"), "TASK_RUNNING");
    json_decref(b);
    expect_error(f, AS_GET, "/api/tasks/task/web-v1-900-1-h1-r1", NULL, NULL, 404,
                 "No active task");
    expect_error(f, AS_GET, "/api/tasks/task/garbage", NULL, NULL, 404, NULL);

    assert_int_equal(call(f, AS_GET, "/api/tasks/scheduled", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "request.id"), "job");
    assert_string_equal(str(json_array_get(b, 0), "pendingTask.pendingTaskId.pendingType"),
                        "ONEOFF");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/scheduled/ids", NULL, NULL, &b), 200);
    assert_string_equal(str(json_array_get(b, 0), "id"), "job-v1-3000-1-ONEOFF-2999");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/scheduled/request/web", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 0);
    json_decref(b);
    assert_int_equal(
        call(f, AS_GET, "/api/tasks/scheduled/task/job-v1-3000-1-ONEOFF-2999", NULL, NULL, NULL),
        200);
    expect_error(f, AS_GET, "/api/tasks/scheduled/task/nope", NULL, NULL, 404, "nope");
}

static void test_task_kill(void **state)
{
    fx *f = *state;
    json_t *b;
    api_problems probs = API_PROBLEMS_INIT;

    assert_int_equal(call(f, AS_DELETE, "/api/tasks/task/web-v1-1000-1-h1-r1", NULL,
                          "{\"message\":\"stuck\",\"killGracePeriodMillis\":0}", &b),
                     200);
    assert_string_equal(str(b, "cleanupType"), "USER_REQUESTED");
    json_decref(b);
    const json_t *cl = doc(f, "/corral/cleanups/web-v1-1000-1-h1-r1");
    assert_string_equal(str(cl, "message"), "stuck");
    assert_string_equal(str(cl, "user"), "alice");
    /* The bridge's decoder accepts what the API writes. */
    api_cleanup *dec = api_cleanup_from_json(cl, NULL, &probs);
    if (!dec) {
        char *s = api_problems_format(&probs);
        fail_msg("cleanup rejected: %s", s);
    }
    assert_true(dec->has_killGracePeriodMillis);
    api_cleanup_free(dec);
    api_problems_release(&probs);
    /* Cleaning now. */
    assert_int_equal(call(f, AS_GET, "/api/tasks/cleaning", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/tasks/ids/request/web", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b, "cleaning")), 1);
    json_decref(b);
    /* Escalating with override replaces the intent. */
    assert_int_equal(call(f, AS_DELETE, "/api/tasks/task/web-v1-1000-1-h1-r1", NULL,
                          "{\"override\":true}", NULL),
                     200);
    assert_string_equal(str(doc(f, "/corral/cleanups/web-v1-1000-1-h1-r1"), "cleanupType"),
                        "USER_REQUESTED_DESTROY");
    assert_int_equal(call(f, AS_DELETE, "/api/tasks/task/web-v1-1001-2-h2-r2", NULL,
                          "{\"waitForReplacementTask\":true}", NULL),
                     200);
    assert_string_equal(str(doc(f, "/corral/cleanups/web-v1-1001-2-h2-r2"), "cleanupType"),
                        "USER_REQUESTED_TASK_BOUNCE");
    expect_error(f, AS_DELETE, "/api/tasks/task/web-v1-900-1-h1-r1", NULL, NULL, 404,
                 "No active task");
    expect_error(f, AS_DELETE, "/api/tasks/task/web-v1-1001-2-h2-r2", NULL, "{\"override\":1}", 400,
                 "override");
    expect_error(f, AS_DELETE, "/api/tasks/task/web-v1-1001-2-h2-r2", NULL,
                 "{\"killGracePeriodMillis\":-1}", 400, "killGracePeriodMillis");
}

/* ---- history ---- */

static void test_history(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/history/task/web-v1-900-1-h1-r1", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "task.lastTaskState"), "TASK_FAILED");
    assert_true(json_is_array(json_object_get(b, "taskUpdates")));
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/task/web-v1-1000-1-h1-r1", NULL, NULL, &b), 200);
    assert_string_equal(str(json_array_get(json_object_get(b, "taskUpdates"), 0), "taskId.id"),
                        "web-v1-1000-1-h1-r1");
    json_decref(b);
    expect_error(f, AS_GET, "/api/history/task/web-v9-1-1-h-r", NULL, NULL, 404, NULL);

    /* A request's inactive tasks, newest first, paged. */
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/tasks", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "taskId.id"), "web-v1-900-1-h1-r1");
    assert_string_equal(str(json_array_get(b, 0), "lastTaskState"), "TASK_FAILED");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/tasks", "count=1&page=2", NULL, &b),
                     200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "taskId.id"), "web-v1-800-1-h1-r1");
    json_decref(b);
    expect_error(f, AS_GET, "/api/history/request/web/tasks", "count=1001", NULL, 400, "count");
    expect_error(f, AS_GET, "/api/history/request/web/tasks", "page=0", NULL, 400, "page");
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/tasks/active", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    json_decref(b);

    /* Search. */
    assert_int_equal(call(f, AS_GET, "/api/history/tasks", "lastTaskStatus=TASK_KILLED", NULL, &b),
                     200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/tasks", "requestId=web&host=h2", NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/tasks",
                          "startedAfter=850&startedBefore=1001&orderDirection=ASC", NULL, &b),
                     200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "taskId.id"), "web-v1-900-1-h1-r1");
    json_decref(b);
    expect_error(f, AS_GET, "/api/history/tasks", "lastTaskStatus=RUNNING", NULL, 400, "RUNNING");
    expect_error(f, AS_GET, "/api/history/tasks", "orderDirection=UP", NULL, 400, "orderDirection");

    /* Deploys. */
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/deploys", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    assert_string_equal(str(json_array_get(b, 0), "deployResult.deployState"), "SUCCEEDED");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/deploy/v1", NULL, NULL, &b), 200);
    assert_string_equal(str(b, "deploy.command"), "sleep 100");
    assert_string_equal(str(b, "deployMarker.deployId"), "v1");
    json_decref(b);
    expect_error(f, AS_GET, "/api/history/request/web/deploy/v7", NULL, NULL, 404, "v7");

    /* Request events, newest first. */
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/pause", NULL, NULL, NULL), 200);
    assert_int_equal(call(f, AS_POST, "/api/requests/request/web/unpause", NULL, NULL, NULL), 200);
    assert_int_equal(call(f, AS_GET, "/api/history/request/web/requests", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "eventType"), "UNPAUSED");
    assert_string_equal(str(json_array_get(b, 1), "eventType"), "PAUSED");
    assert_string_equal(str(json_array_get(b, 1), "user"), "alice");
    json_decref(b);
}

/* ---- state, machines, special ---- */

static void test_state_fields(void **state)
{
    fx *f = *state;
    static const char *fields[] = {"activeTasks",
                                   "launchingTasks",
                                   "activeRequests",
                                   "allRequests",
                                   "cooldownRequests",
                                   "pausedRequests",
                                   "finishedRequests",
                                   "scheduledTasks",
                                   "pendingRequests",
                                   "cleaningRequests",
                                   "cleaningTasks",
                                   "lbCleanupTasks",
                                   "lbCleanupRequests",
                                   "activeAgents",
                                   "deadAgents",
                                   "decommissioningAgents",
                                   "unknownAgents",
                                   "activeSlaves",
                                   "deadSlaves",
                                   "decommissioningSlaves",
                                   "decomissioningSlaves",
                                   "unknownSlaves",
                                   "activeRacks",
                                   "deadRacks",
                                   "decommissioningRacks",
                                   "decomissioningRacks",
                                   "unknownRacks",
                                   "hostStates",
                                   "oldestDeploy",
                                   "numDeploys",
                                   "oldestDeployStep",
                                   "activeDeploys",
                                   "lateTasks",
                                   "listLateTasks",
                                   "onDemandLateTasks",
                                   "onDemandListLateTasks",
                                   "futureTasks",
                                   "maxTaskLag",
                                   "generatedAt",
                                   "overProvisionedRequestIds",
                                   "underProvisionedRequestIds",
                                   "overProvisionedRequests",
                                   "underProvisionedRequests",
                                   "authDatastoreHealthy",
                                   "minimumPriorityLevel",
                                   "avgStatusUpdateDelayMs",
                                   "lastHeartbeatAt",
                                   "fireAlarm"};
    json_t *b;

    assert_int_equal(sizeof(fields) / sizeof(fields[0]), 48);
    assert_int_equal(call(f, AS_GET, "/api/state", "includeRequestIds=true", NULL, &b), 200);
    for (size_t i = 0; i < 48; i++)
        if (!json_object_get(b, fields[i]))
            fail_msg("/api/state lacks %s", fields[i]);
    assert_int_equal(json_object_size(b), 48);
    assert_int_equal(json_integer_value(json_object_get(b, "activeTasks")), 2);
    assert_int_equal(json_integer_value(json_object_get(b, "launchingTasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "allRequests")), 3);
    assert_int_equal(json_integer_value(json_object_get(b, "scheduledTasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "lateTasks")), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "onDemandLateTasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "activeAgents")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "deadSlaves")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "activeRacks")), 1);
    assert_true(json_is_array(json_object_get(b, "underProvisionedRequestIds")));
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/state", NULL, NULL, &b), 200);
    assert_true(json_is_null(json_object_get(b, "underProvisionedRequestIds")));
    json_decref(b);
}

static void test_machines(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/agents", NULL, NULL, &b), 200);
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "currentState.state"), "ACTIVE");
    json_decref(b);
    assert_int_equal(call(f, AS_GET, "/api/agents", "state=DEAD", NULL, &b), 200);
    assert_int_equal(json_array_size(b), 1);
    json_decref(b);
    expect_error(f, AS_GET, "/api/agents", "state=SLEEPY", NULL, 400, "SLEEPY");
    assert_int_equal(
        call(f, AS_POST, "/api/agents/agent/a1/decommission", NULL, "{\"message\":\"disk\"}", &b),
        204);
    assert_null(b);
    const json_t *in = doc(f, "/corral/intents/agents/a1");
    assert_string_equal(str(in, "state"), "STARTING_DECOMMISSION");
    assert_string_equal(str(in, "message"), "disk");
    expect_error(f, AS_POST, "/api/agents/agent/a1/decommission", NULL, NULL, 409, "already");
    expect_error(f, AS_POST, "/api/agents/agent/a1/freeze", NULL, NULL, 409, "frozen");
    assert_int_equal(call(f, AS_GET, "/api/agents/agent/a1", NULL, NULL, &b), 200);
    assert_string_equal(str(json_array_get(b, 0), "state"), "STARTING_DECOMMISSION");
    json_decref(b);
    assert_int_equal(call(f, AS_POST, "/api/slaves/slave/a1/activate", NULL, NULL, NULL), 204);
    assert_string_equal(str(doc(f, "/corral/intents/agents/a1"), "state"), "ACTIVE");
    assert_int_equal(call(f, AS_POST, "/api/agents/agent/a1/freeze", NULL, NULL, NULL), 204);
    expect_error(f, AS_POST, "/api/agents/agent/zz/freeze", NULL, NULL, 404, "zz");
    expect_error(f, AS_POST, "/api/racks/rack/r1/decommission", NULL, "{\"revertToState\":\"X\"}",
                 400, "revertToState");
    assert_int_equal(call(f, AS_POST, "/api/racks/rack/r1/decommission", NULL, NULL, NULL), 204);
    assert_int_equal(call(f, AS_GET, "/api/racks", NULL, NULL, &b), 200);
    assert_string_equal(str(json_array_get(b, 0), "currentState.state"), "STARTING_DECOMMISSION");
    json_decref(b);
    expect_error(f, AS_GET, "/api/racks/rack/r9", NULL, NULL, 404, "r9");
}

static void test_special_inputs(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/watch", "prefix=requests/&revision=3", NULL, NULL), 200);
    expect_error(f, AS_GET, "/api/watch", "revision=-1", NULL, 400, "revision");
    expect_error(f, AS_GET, "/api/watch", "prefix=/etc/", NULL, 400, "prefix");
    expect_error(f, AS_GET, "/api/watch", "prefix=/corralx/a", NULL, 400, "prefix");
    assert_int_equal(call(f, AS_GET, "/api/watch", "prefix=/corral/tasks/", NULL, NULL), 200);
    assert_int_equal(
        call(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/browse", "path=logs", NULL, NULL), 200);
    expect_error(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/browse", "path=../x", NULL, 400,
                 "sandbox");
    expect_error(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/browse", "path=a/../../x", NULL, 400,
                 "sandbox");
    expect_error(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/read", "path=/etc/passwd", NULL, 400,
                 "relative");
    expect_error(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/read", NULL, NULL, 400, "path");
    expect_error(f, AS_GET, "/api/sandbox/web-v1-1000-1-h1-r1/read", "path=stdout&offset=x", NULL,
                 400, "offset");
    expect_error(f, AS_GET, "/api/sandbox/web-v9-1-1-h-r/browse", NULL, NULL, 404, NULL);
    (void)b;
}

static void test_conflicting_write(void **state)
{
    fx *f = *state;
    as_match m;
    as_result r = {0};
    const char *body = "{\"instances\":4}";

    assert_int_equal(as_route_match(AS_PUT, "/api/requests/request/web/scale", &m), AS_ROUTE_OK);
    as_req req = {.method = AS_PUT, .match = &m, .body = body, .body_len = strlen(body), .now = 1};
    as_api_handle(&f->cfg, f->c, &req, &r);
    assert_int_equal(r.status, 200);
    assert_true(as_txn_compares_hold(f->c, &r.txn));
    /* Someone else changes the request first: the compares fail (409). */
    assert_int_equal(
        call(f, AS_PUT, "/api/requests/request/web/scale", NULL, "{\"instances\":3}", NULL), 200);
    assert_false(as_txn_compares_hold(f->c, &r.txn));
    as_result_release(&r);
    as_match_release(&m);
}

static void test_request_history_is_bounded(void **state)
{
    fx *f = *state;
    size_t first;

    for (int i = 0; i < 60; i++) {
        assert_int_equal(call(f, AS_POST, "/api/requests/request/web/pause", NULL, NULL, NULL),
                         200);
        assert_int_equal(call(f, AS_POST, "/api/requests/request/web/unpause", NULL, NULL, NULL),
                         200);
    }
    assert_int_equal(as_cache_range(f->c, "/corral/history/requests/web/", &first), 100);
    /* The newest survive. */
    assert_string_equal(as_cache_at(f->c, first + 99)->key,
                        "/corral/history/requests/web/0000000101200-UNPAUSED");
}

/* Whole response objects against reviewed fixtures (shape and values). */
static void expect_golden(json_t *got, const char *fixture)
{
    size_t len;
    char *text = cr_test_fixture(fixture, &len);
    json_t *want = json_loads(text, 0, NULL);

    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
        fail_msg("%s differs; got:\n%s", fixture, g);
    }
    json_decref(want);
    free(text);
}

static void test_golden_shapes(void **state)
{
    fx *f = *state;
    json_t *b;

    assert_int_equal(call(f, AS_GET, "/api/requests/request/web", NULL, NULL, &b), 200);
    expect_golden(b, "apiserver/fixtures/golden-parent-web.json");
    json_decref(b);
    b = as_api_state(&f->cfg, f->c, 100000, true, NULL);
    expect_golden(b, "apiserver/fixtures/golden-state.json");
    json_decref(b);
}

static void test_metrics_text(void **state)
{
    fx *f = *state;
    cr_buf b = CR_BUF_INIT;

    as_api_metrics(&f->cfg, f->c, &b);
    assert_non_null(strstr(b.data, "corral_requests{state=\"ACTIVE\"} 3\n"));
    assert_non_null(strstr(b.data, "corral_tasks{state=\"TASK_RUNNING\"} 1\n"));
    assert_non_null(strstr(b.data, "corral_pending_tasks 1\n"));
    assert_non_null(strstr(b.data, "# TYPE corral_agents gauge\n"));
    cr_buf_release(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_request_create_get_update, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_lists, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_bad_input, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scale_and_expiry, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pause_unpause_bounce_cooldown, setup, teardown),
    cmocka_unit_test_setup_teardown(test_delete_request, setup, teardown),
    cmocka_unit_test_setup_teardown(test_run_now, setup, teardown),
    cmocka_unit_test_setup_teardown(test_deploy_rules, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_deploy_rules, setup, teardown),
    cmocka_unit_test_setup_teardown(test_deploy_seed_object, setup, teardown),
    cmocka_unit_test_setup_teardown(test_task_views, setup, teardown),
    cmocka_unit_test_setup_teardown(test_task_kill, setup, teardown),
    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lenient_bodies, setup, teardown),
    cmocka_unit_test_setup_teardown(test_state_fields, setup, teardown),
    cmocka_unit_test_setup_teardown(test_machines, setup, teardown),
    cmocka_unit_test_setup_teardown(test_special_inputs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_conflicting_write, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_history_is_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_golden_shapes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_metrics_text, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_status_text_or_tree, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_deploy_text_or_tree, setup, teardown),
};
CR_TEST_MAIN(tests)
