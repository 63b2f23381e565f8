/* Unit tests of apis/deploy.c: codec, flat health-check aliases, id
 * derivation (hashing), validation rules with and without a request. */
#include <string.h>

#include "apis/deploy.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static api_deploy *decode(const char *s, api_problems *p)
{
    json_t *j = cr_test_json(s);
    api_deploy *d = api_deploy_from_json(j, NULL, p);
    json_decref(j);
    return d;
}

static bool has_problem(const api_problems *p, const char *path, const char *msg)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].path, path) == 0 && strstr(p->v[i].msg, msg))
            return true;
    return false;
}

static void expect_problem(const char *s, const char *path, const char *msg)
{
    api_problems p = API_PROBLEMS_INIT;
    api_deploy *d = decode(s, &p);
    if (d || !has_problem(&p, path, msg)) {
        char *all = api_problems_format(&p);
        print_error("input %s\nwanted %s: %s\ngot:\n%s", s, path, msg, all);
        free(all);
        fail();
    }
    api_problems_release(&p);
}

static void test_roundtrip_every_field(void **state)
{
    const char *files[] = {"apis/fixtures/objects/deploy_full.json",
                           "apis/fixtures/objects/deploy_seed.json"};
    for (size_t f = 0; f < 2; f++) {
        json_t *in = cr_test_fixture_json(files[f]);
        api_problems p = API_PROBLEMS_INIT;
        api_deploy *d = api_deploy_from_json(in, NULL, &p);
        if (!d) {
            char *all = api_problems_format(&p);
            fail_msg("%s refused:\n%s", files[f], all);
        }
        json_t *out = api_deploy_to_json(d);
        if (!json_equal(in, out)) {
            char *a = json_dumps(in, JSON_SORT_KEYS), *b = json_dumps(out, JSON_SORT_KEYS);
            fail_msg("round trip differs:\n%s\n%s", a, b);
        }
        api_deploy *d2 = api_deploy_dup(d);
        assert_true(api_deploy_equal(d, d2));
        api_deploy_free(d2);
        api_deploy_free(d);
        json_decref(out);
        json_decref(in);
        api_problems_release(&p);
    }
}

static void test_seed_typed(void **state)
{
    json_t *in = cr_test_fixture_json("apis/fixtures/objects/deploy_seed.json");
    api_problems p = API_PROBLEMS_INIT;
    api_deploy *d = api_deploy_from_json(in, NULL, &p);
    assert_non_null(d);
    assert_string_equal(d->requestId, "MDS_TestService");
    assert_string_equal(d->id, "71_7");
    assert_non_null(d->resources);
    assert_true(d->resources->has_numPorts);
    assert_int_equal(d->resources->numPorts, 3);
    assert_true(d->resources->memoryMb == 896.0);
    assert_string_equal(api_strmap_get(&d->env, "JVM_MAX_HEAP"), "384m");
    assert_non_null(d->executorData);
    assert_int_equal(d->executorData->embeddedArtifacts.n, 1);
    assert_int_equal(d->executorData->externalArtifacts.n, 0);
    assert_non_null(d->executorData->externalArtifacts.v); /* [] given: kept */
    assert_int_equal(d->executorData->s3Artifacts.n, 1);
    const api_artifact *s3 = &d->executorData->s3Artifacts.v[0];
    assert_string_equal(s3->s3Bucket, "hubspot.com");
    assert_true(s3->has_filesize);
    assert_int_equal(s3->filesize, 81055833);
    api_resources r = api_deploy_eff_resources(d);
    assert_true(r.cpus == 1.0 && r.diskMb == 0.0);
    api_deploy_free(d);
    json_decref(in);
    api_problems_release(&p);
}

static void test_flat_healthcheck(void **state)
{
    json_t *in = cr_test_fixture_json("apis/fixtures/objects/deploy_flat_hc.json");
    api_problems p = API_PROBLEMS_INIT;
    api_deploy *d = api_deploy_from_json(in, NULL, &p);
    assert_non_null(d);
    assert_non_null(d->healthcheck);
    assert_string_equal(d->healthcheck->uri, "/");
    assert_int_equal(d->healthcheck->intervalSeconds, 7);
    assert_int_equal(d->healthcheck->responseTimeoutSeconds, 4);
    assert_true(d->healthcheck->has_portIndex);
    assert_string_equal(d->healthcheck->protocol, "HTTPS");
    assert_int_equal(d->healthcheck->maxRetries, 3);
    json_t *out = api_deploy_to_json(d);
    assert_null(json_object_get(out, "healthcheckUri"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "healthcheck"), "uri")), "/");
    json_decref(out);
    api_deploy_free(d);
    json_decref(in);
    api_problems_release(&p);

    expect_problem(
        "{\"requestId\":\"a\",\"id\":\"v\",\"command\":\"x\",\"resources\":{\"numPorts\":1},"
        "\"healthcheck\":{\"uri\":\"/\"},\"healthcheckUri\":\"/x\"}",
        "healthcheckUri", "not allowed together");
    expect_problem(
        "{\"requestId\":\"a\",\"id\":\"v\",\"command\":\"x\",\"resources\":{\"numPorts\":1},"
        "\"healthcheckUri\":\"/\",\"healthcheckIntervalSeconds\":\"often\"}",
        "healthcheck.intervalSeconds", "integer");
}

/* Singularity accepts a URI as a bare string as well as an object. */
static void test_uris_as_strings(void **state)
{
    json_t *in = json_loads("{\"requestId\":\"r\",\"id\":\"v1\",\"command\":\"x\","
                            "\"uris\":[\"http://127.0.0.1/a.tgz\",{\"uri\":\"http://127.0.0.1/b\","
                            "\"extract\":false}]}",
                            0, NULL);
    api_problems p = API_PROBLEMS_INIT;
    api_deploy *d = api_deploy_from_json(in, NULL, &p);
    assert_non_null(d);
    assert_int_equal(p.n, 0);
    assert_int_equal(d->n_uris, 2);
    assert_string_equal(d->uris[0].uri, "http://127.0.0.1/a.tgz");
    assert_string_equal(d->uris[1].uri, "http://127.0.0.1/b");
    json_t *out = api_deploy_to_json(d);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "uris"), 0), "uri")),
        "http://127.0.0.1/a.tgz");
    json_decref(out);
    api_deploy_free(d);
    json_decref(in);
    api_problems_release(&p);
    expect_problem("{\"requestId\":\"r\",\"id\":\"v1\",\"command\":\"x\",\"uris\":[7]}",
                   "uris[0]", "must be an object");
}

static void test_derive_id(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_decode_opts o = {.derive_id = true};
    json_t *a =
        cr_test_json("{\"requestId\":\"web\",\"command\":\"run\",\"env\":{\"A\":\"1\",\"B\":\"2\"}}");
    json_t *b =
        cr_test_json("{\"env\":{\"B\":\"2\",\"A\":\"1\"},\"command\":\"run\",\"requestId\":\"web\"}");
    json_t *c =
        cr_test_json("{\"requestId\":\"web\",\"command\":\"run2\",\"env\":{\"A\":\"1\",\"B\":\"2\"}}");
    api_deploy *da = api_deploy_from_json(a, &o, &p);
    api_deploy *db = api_deploy_from_json(b, &o, &p);
    api_deploy *dc = api_deploy_from_json(c, &o, &p);
    assert_non_null(da);
    assert_non_null(db);
    assert_non_null(dc);
    assert_int_equal(strlen(da->id), API_DEPLOY_HASH_ID_LEN);
    assert_true(api_deploy_id_valid(da->id));
    /* Same spec in another key order: same id. Different spec: different. */
    assert_string_equal(da->id, db->id);
    assert_string_not_equal(da->id, dc->id);
    /* The id itself is not hashed: deriving again gives the same. */
    char again[API_DEPLOY_HASH_ID_LEN + 1];
    api_deploy_derive_id(da, again);
    assert_string_equal(again, da->id);
    api_deploy_free(da);
    api_deploy_free(db);
    api_deploy_free(dc);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    /* Golden value: the SHA-256 of the sorted, compact canonical JSON
     * (computed independently). A change here changes every derived id, so
     * re-applying old manifests would create new deploys. */
    json_t *g = cr_test_json("{\"resources\":{\"memoryMb\":128.0,\"cpus\":0.5},\"requestId\":\"web\","
                      "\"command\":\"run\"}");
    api_deploy *dg = api_deploy_from_json(g, &o, &p);
    assert_non_null(dg);
    assert_string_equal(dg->id, "217dabfd8ce34ce0");
    api_deploy_free(dg);
    json_decref(g);
    /* Without derive_id a missing id is a problem. */
    expect_problem("{\"requestId\":\"web\",\"command\":\"run\"}", "id", "required");
    api_problems_release(&p);
}

static void test_validation_rules(void **state)
{
#define BASE "\"requestId\":\"r\",\"id\":\"v1\""
    static const char *const cases[][3] = {
        {"{\"id\":\"v1\",\"command\":\"x\"}", "requestId", "required"},
        {"{\"requestId\":\"a b\",\"id\":\"v1\",\"command\":\"x\"}", "requestId", "[a-zA-Z0-9_-]"},
        {"{\"requestId\":\"r\",\"id\":\"v-1\",\"command\":\"x\"}", "id", "no '-'"},
        {"{" BASE "}", "command", "required"},
        {"{" BASE ",\"command\":\"\"}", "command", "empty"},
        {"{" BASE ",\"arguments\":[\"a\"],\"executorData\":{\"cmd\":\"x\"}}", "arguments",
         "only allowed with command"},
        {"{" BASE ",\"customExecutorCmd\":\"/e\"}", "executorData", "required"},
        {"{" BASE ",\"command\":\"x\",\"customExecutorId\":\"e\"}", "customExecutorCmd",
         "required"},
        {"{" BASE ",\"command\":\"x\",\"env\":{\"STARTED_BY_USER\":\"me\"}}", "env.STARTED_BY_USER",
         "cannot be overridden"},
        {"{" BASE ",\"command\":\"x\",\"env\":{\"1BAD\":\"v\"}}", "env.1BAD", "not a valid"},
        {"{" BASE ",\"command\":\"x\",\"taskEnv\":{\"zero\":{\"A\":\"b\"}}}", "taskEnv.zero",
         "instance number"},
        {"{" BASE ",\"command\":\"x\",\"taskEnv\":{\"1\":{\"A\":2}}}", "taskEnv.1.A",
         "must be a string"},
        {"{" BASE ",\"command\":\"x\",\"uris\":[{\"cache\":true}]}", "uris[0].uri", "required"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"cpus\":0}}", "resources.cpus", "> 0"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"cpus\":51}}", "resources.cpus", "<= 50"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"memoryMb\":0}}", "resources.memoryMb",
         "> 0"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"memoryMb\":24001}}", "resources.memoryMb",
         "<= 24000"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"diskMb\":-1}}", "resources.diskMb", ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"diskMb\":60001}}", "resources.diskMb",
         "<= 60000"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"numPorts\":-1}}", "resources.numPorts",
         ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"cpus\":\"lots\"}}", "resources.cpus",
         "must be a number"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"gpus\":1}}", "resources.gpus",
         "unknown field"},
        {"{" BASE ",\"customExecutorCmd\":\"/"
         "e\",\"customExecutorResources\":{\"cpus\":-1},\"executorData\":{\"cmd\":\"x\"}}",
         "customExecutorResources.cpus", ">= 0"},
        {"{" BASE ",\"executorData\":{}}", "executorData.cmd", "required"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"embeddedArtifacts\":[{\"filename\":\"f\","
         "\"content\":\"YQ==\"}]}}",
         "executorData.embeddedArtifacts[0].name", "required"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"embeddedArtifacts\":[{\"name\":\"n\","
         "\"filename\":\"f\",\"content\":\"!!\"}]}}",
         "executorData.embeddedArtifacts[0].content", "base64"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"embeddedArtifacts\":[{\"name\":\"n\","
         "\"filename\":\"../f\",\"content\":\"\"}]}}",
         "executorData.embeddedArtifacts[0].filename", "relative"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"externalArtifacts\":[{\"name\":\"n\","
         "\"filename\":\"f\"}]}}",
         "executorData.externalArtifacts[0].url", "required"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"s3Artifacts\":[{\"name\":\"n\",\"filename\":"
         "\"f\",\"s3Bucket\":\"b\"}]}}",
         "executorData.s3Artifacts[0].s3ObjectKey", "required"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"s3Artifacts\":[{\"name\":\"n\",\"filename\":"
         "\"f\",\"s3Bucket\":\"b\","
         "\"s3ObjectKey\":\"k\",\"md5sum\":\"xyz\"}]}}",
         "executorData.s3Artifacts[0].md5sum", "32 hex"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"s3Artifacts\":[{\"name\":\"n\",\"filename\":"
         "\"f\",\"content\":\"YQ==\"}]}}",
         "executorData.s3Artifacts[0].content", "unknown field"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"successfulExitCodes\":[256]}}",
         "executorData.successfulExitCodes[0]", "0-255"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"logrotateFrequency\":\"YEARLY\"}}",
         "executorData.logrotateFrequency", "must be one of"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"maxTaskThreads\":0}}",
         "executorData.maxTaskThreads", "> 0"},
        {"{" BASE ",\"executorData\":{\"cmd\":\"x\",\"sigKillProcessesAfterMillis\":-5}}",
         "executorData.sigKillProcessesAfterMillis", ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"intervalSeconds\":5}}", "healthcheck.uri",
         "required"},
        {"{" BASE
         ",\"command\":\"x\",\"resources\":{\"numPorts\":1},\"healthcheck\":{\"uri\":\"health\"}}",
         "healthcheck.uri", "start with /"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/h\"}}", "resources.numPorts",
         "port index 0"},
        {"{" BASE ",\"command\":\"x\",\"resources\":{\"numPorts\":1},\"healthcheck\":{\"uri\":\"/"
         "h\",\"portIndex\":1}}",
         "healthcheck.portIndex", "port index 1"},
        {"{" BASE
         ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/h\",\"portIndex\":0,\"portNumber\":80}}",
         "healthcheck.portNumber", "only one"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/h\",\"portNumber\":70000}}",
         "healthcheck.portNumber", "1 and 65535"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/"
         "h\",\"portNumber\":80,\"protocol\":\"FTP\"}}",
         "healthcheck.protocol", "HTTP"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/"
         "h\",\"portNumber\":80,\"method\":\"PUT\"}}",
         "healthcheck.method", "GET or POST"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/"
         "h\",\"portNumber\":80,\"intervalSeconds\":0}}",
         "healthcheck.intervalSeconds", "> 0"},
        {"{" BASE
         ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/h\",\"portNumber\":80,\"maxRetries\":-1}}",
         "healthcheck.maxRetries", ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/"
         "h\",\"portNumber\":80,\"startupDelaySeconds\":100}}",
         "healthcheck.startupDelaySeconds", "maximum total"},
        {"{" BASE ",\"command\":\"x\",\"healthcheck\":{\"uri\":\"/"
         "h\",\"portNumber\":80,\"failureStatusCodes\":[42]}}",
         "healthcheck.failureStatusCodes[0]", "HTTP status"},
        {"{" BASE ",\"command\":\"x\",\"deployHealthTimeoutSeconds\":0}",
         "deployHealthTimeoutSeconds", "> 0"},
        {"{" BASE ",\"command\":\"x\",\"considerHealthyAfterRunningForSeconds\":-1}",
         "considerHealthyAfterRunningForSeconds", ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"loadBalancerPortIndex\":-1}", "loadBalancerPortIndex",
         ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"labels\":{\"a\":\"b\"},\"mesosLabels\":[]}", "labels",
         "only one"},
        {"{" BASE ",\"command\":\"x\",\"taskLabels\":{},\"mesosTaskLabels\":{}}", "taskLabels",
         "only one"},
        {"{" BASE ",\"command\":\"x\",\"mesosLabels\":[{\"value\":\"v\"}]}", "mesosLabels[0]",
         "{key, value}"},
        {"{" BASE ",\"command\":\"x\",\"mesosLabels\":{}}", "mesosLabels", "must be a list"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"LXC\"}}", "containerInfo.type",
         "MESOS or DOCKER"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{}}}",
         "containerInfo.docker.image", "required"},
        {"{" BASE ",\"command\":\"x\",\"canaryDeploySettings\":{\"instanceGroupSize\":0}}",
         "canaryDeploySettings.instanceGroupSize", "> 0"},
        {"{" BASE ",\"command\":\"x\",\"canaryDeploySettings\":{\"acceptanceMode\":\"MAYBE\"}}",
         "canaryDeploySettings.acceptanceMode", "NONE, TIMED, CHECKS"},
        {"{" BASE ",\"command\":\"x\",\"deployInstanceCountPerStep\":0}",
         "deployInstanceCountPerStep", "> 0"},
        {"{" BASE ",\"command\":\"x\",\"maxTaskRetries\":-1}", "maxTaskRetries", ">= 0"},
        {"{" BASE ",\"command\":\"x\",\"shell\":\"yes\"}", "shell", "true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_problem(cases[i][0], cases[i][1], cases[i][2]);

    /* A DOCKER container alone is enough to run. */
    api_problems p = API_PROBLEMS_INIT;
    api_deploy *d = decode(
        "{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox\"}}}",
        &p);
    assert_non_null(d);
    api_deploy_free(d);
    api_problems_release(&p);
#undef BASE
}

static void test_with_request(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    json_t *rj = cr_test_json(
        "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":20,\"loadBalanced\":true}");
    api_request *req = api_request_from_json(rj, NULL, &p);
    assert_non_null(req);
    api_deploy *d = decode("{\"requestId\":\"other\",\"id\":\"v1\",\"command\":\"x\","
                           "\"resources\":{\"cpus\":50,\"memoryMb\":24000,\"diskMb\":60000},"
                           "\"runImmediately\":{}}",
                           &p);
    assert_non_null(d);
    assert_int_equal(p.n, 0);
    size_t n = api_deploy_validate(d, req, "spec", &p);
    assert_true(has_problem(&p, "spec.requestId", "does not match"));
    assert_true(has_problem(&p, "spec.resources.cpus", "per-request limit"));
    assert_true(has_problem(&p, "spec.resources.memoryMb", "per-request limit"));
    assert_true(has_problem(&p, "spec.serviceBasePath", "load-balanced"));
    assert_true(has_problem(&p, "spec.loadBalancerGroups", "load-balanced"));
    assert_true(has_problem(&p, "spec.resources.numPorts", "load balancer"));
    assert_true(has_problem(&p, "spec.runImmediately", "non-long-running"));
    assert_int_equal(n, 7);
    api_problems_release(&p);

    /* Within limits: fine. */
    api_deploy *ok =
        decode("{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"x\",\"serviceBasePath\":\"/\","
               "\"loadBalancerGroups\":[\"lb\"],\"resources\":{\"cpus\":1,\"numPorts\":1}}",
               &p);
    assert_non_null(ok);
    assert_int_equal(api_deploy_validate(ok, req, NULL, &p), 0);
    api_deploy_free(ok);
    api_deploy_free(d);
    api_request_free(req);
    json_decref(rj);
    api_problems_release(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip_every_field), cmocka_unit_test(test_seed_typed),
    cmocka_unit_test(test_flat_healthcheck),      cmocka_unit_test(test_derive_id),
    cmocka_unit_test(test_uris_as_strings),
    cmocka_unit_test(test_validation_rules),      cmocka_unit_test(test_with_request),
};

CR_TEST_MAIN(tests)
