/* Run documents (apis/run.h): round trip, unknown fields, bad input. */
#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <string.h>

#include "apis/run.h"

static bool has_problem(const api_problems *probs, const char *want)
{
    char *all = api_problems_format(probs);
    bool found = strstr(all, want) != NULL;
    if (!found)
        print_error("no \"%s\" in:\n%s\n", want, all);
    free(all);
    return found;
}

/* What the API writes reads back as written, in the table's order. */
static void test_round_trip(void **state)
{
    const char *doc = "{\"runId\":\"r1\",\"requestId\":\"job\",\"user\":\"ana\",\"timestamp\":7,"
                      "\"message\":\"hi\",\"commandLineArgs\":[\"--day\",\"2\"],"
                      "\"envOverrides\":{\"MODE\":\"fast\"},"
                      "\"requiredAgentAttributeOverrides\":{\"rack\":\"r1\"},"
                      "\"allowedAgentAttributeOverrides\":{\"gpu\":\"yes\"},"
                      "\"resources\":{\"cpus\":0.5,\"memoryMb\":128,\"numPorts\":1},"
                      "\"skipHealthchecks\":true,\"runAsUserOverride\":\"batch\",\"runAt\":5000,"
                      "\"extraArtifacts\":[],\"s3UploaderAdditionalFiles\":[{\"filename\":\"x\"}]}";
    json_t *j = cr_test_json(doc), *back;
    api_problems probs = API_PROBLEMS_INIT;
    api_run *r = api_run_from_json(j, NULL, &probs);

    assert_non_null(r);
    assert_string_equal(r->runId, "r1");
    assert_int_equal(r->commandLineArgs.n, 2);
    assert_true(r->has_resources && r->resources.has_cpus && r->resources.cpus == 0.5);
    assert_true(r->resources.has_numPorts && r->resources.numPorts == 1);
    assert_false(r->resources.has_diskMb);
    assert_true(r->has_runAt && r->runAt == 5000);
    assert_string_equal(api_strmap_get(&r->requiredAgentAttributeOverrides, "rack"), "r1");
    back = api_run_to_json(r);
    assert_true(json_equal(j, back));
    char *a = json_dumps(j, JSON_COMPACT), *b = json_dumps(back, JSON_COMPACT);
    assert_string_equal(a, b); /* fields in table order */
    free(a);
    free(b);
    json_decref(back);
    api_run_free(r);
    json_decref(j);

    /* Singularity's Slave spellings are read as the Agent fields. */
    j = cr_test_json("{\"requiredSlaveAttributeOverrides\":{\"rack\":\"r2\"},"
                     "\"allowedSlaveAttributeOverrides\":{\"zone\":\"z\"}}");
    r = api_run_from_json(j, NULL, &probs);
    assert_non_null(r);
    assert_string_equal(api_strmap_get(&r->requiredAgentAttributeOverrides, "rack"), "r2");
    assert_string_equal(api_strmap_get(&r->allowedAgentAttributeOverrides, "zone"), "z");
    back = api_run_to_json(r);
    assert_non_null(json_object_get(back, "requiredAgentAttributeOverrides"));
    assert_null(json_object_get(back, "requiredSlaveAttributeOverrides"));
    json_decref(back);
    api_run_free(r);
    json_decref(j);

    /* Empty: runs at once, with the deploy's everything. */
    j = cr_test_json("{}");
    r = api_run_from_json(j, NULL, &probs);
    assert_non_null(r);
    assert_false(r->has_runAt || r->has_resources || r->has_skipHealthchecks);
    back = api_run_to_json(r);
    assert_int_equal(json_object_size(back), 0);
    json_decref(back);
    api_run_free(r);
    json_decref(j);
    assert_int_equal(probs.n, 0);
    api_problems_release(&probs);
    api_run_free(NULL);
}

/* Unknown fields: refused (with a suggestion) unless allowed; allowed ones
 * are kept, except inside resources, which has no room for them. */
static void test_unknown_fields(void **state)
{
    json_t *j = cr_test_json("{\"runId\":\"r\",\"colour\":\"red\",\"mesage\":\"typo\","
                             "\"resources\":{\"cpus\":1,\"gpus\":1}}");
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts open = {.allow_unknown = true};
    api_run *r = api_run_from_json(j, NULL, &probs);

    assert_null(r);
    assert_int_equal(probs.n, 3);
    assert_true(has_problem(&probs, "colour: unknown field"));
    assert_true(has_problem(&probs, "mesage: unknown field (did you mean \"message\"?)"));
    assert_true(has_problem(&probs, "resources.gpus: unknown field"));
    api_problems_release(&probs);

    r = api_run_from_json(j, &open, &probs);
    assert_non_null(r);
    json_t *back = api_run_to_json(r);
    assert_string_equal(json_string_value(json_object_get(back, "colour")), "red");
    assert_string_equal(json_string_value(json_object_get(back, "mesage")), "typo");
    assert_null(json_object_get(json_object_get(back, "resources"), "gpus"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(back, "resources"), "cpus")), 1);
    json_decref(back);
    api_run_free(r);
    json_decref(j);
    api_problems_release(&probs);
}

/* Each bad document gives one problem at its field path. */
static void test_bad(void **state)
{
    static const struct {
        const char *doc, *problem;
    } bad[] = {
        {"[]", "run: a run must be an object, not a list"},
        {"{\"runAt\":\"soon\"}", "run.runAt: must be an integer, not a string"},
        {"{\"runAt\":-1}", "run.runAt: must be >= 0 (epoch ms)"},
        {"{\"commandLineArgs\":[1]}", "run.commandLineArgs[0]: must be a string, not an integer"},
        {"{\"commandLineArgs\":\"a b\"}", "run.commandLineArgs: must be a list of strings"},
        {"{\"envOverrides\":{\"A\":[1]}}", "run.envOverrides.A: must be a string, not a list"},
        {"{\"resources\":{\"cpus\":0}}", "run.resources.cpus: must be > 0"},
        {"{\"resources\":{\"memoryMb\":-1}}", "run.resources.memoryMb: must be > 0"},
        {"{\"resources\":{\"diskMb\":-1}}", "run.resources.diskMb: must be >= 0"},
        {"{\"resources\":{\"numPorts\":1.5}}",
         "run.resources.numPorts: must be an integer, not a number"},
        {"{\"resources\":{\"numPorts\":1001}}",
         "run.resources.numPorts: must be between 0 and 1000"},
        {"{\"resources\":[]}", "run.resources: must be an object, not a list"},
        {"{\"extraArtifacts\":{}}", "run.extraArtifacts: must be a list, not an object"},
        {"{\"requiredSlaveAttributeOverrides\":{\"rack\":[]}}",
         "run.requiredSlaveAttributeOverrides.rack: must be a string, not a list"},
        {"{\"requiredSlaveAttributeOverrides\":{},\"requiredAgentAttributeOverrides\":{}}",
         "run.requiredSlaveAttributeOverrides: deprecated alias of "
         "\"requiredAgentAttributeOverrides\", which is also given"},
        {"{\"timestamp\":\"now\"}", "run.timestamp: must be an integer, not a string"},
        {"{\"message\":3}", "run.message: must be a string, not an integer"},
        {"{\"skipHealthchecks\":\"yes\"}", "run.skipHealthchecks: must be true or false"},
    };
    api_decode_opts opts = {.path_prefix = "run"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = cr_test_json(bad[i].doc);
        api_problems probs = API_PROBLEMS_INIT;
        assert_null(api_run_from_json(j, &opts, &probs));
        assert_int_equal(probs.n, 1);
        assert_true(has_problem(&probs, bad[i].problem));
        api_problems_release(&probs);
        json_decref(j);
    }

    /* no_validate: values pass, structure is still checked. */
    json_t *j = cr_test_json("{\"runAt\":-1,\"resources\":{\"cpus\":0}}");
    api_decode_opts loose = {.no_validate = true};
    api_problems probs = API_PROBLEMS_INIT;
    api_run *r = api_run_from_json(j, &loose, &probs);
    assert_non_null(r);
    assert_int_equal(api_run_validate(r, "x", &probs), 2);
    assert_true(has_problem(&probs, "x.runAt: must be >= 0"));
    assert_true(has_problem(&probs, "x.resources.cpus: must be > 0"));
    api_run_free(r);
    api_problems_release(&probs);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_unknown_fields),
    cmocka_unit_test(test_bad),
};
CR_TEST_MAIN(tests)
