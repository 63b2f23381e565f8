/* Unit tests of apis/request.c: codec, aliases, type derivation, defaults,
 * validation rules. */
#include <string.h>

#include "apis/request.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

/* Decodes s strictly; returns the request (NULL on problems) and fills p. */
static api_request *decode(const char *s, api_problems *p)
{
    json_t *j = cr_test_json(s);
    api_request *r = api_request_from_json(j, NULL, p);
    json_decref(j);
    return r;
}

/* Asserts that s is refused with a problem at path whose message contains
 * msg. */
static void expect_problem(const char *s, const char *path, const char *msg)
{
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = decode(s, &p);
    bool found = false;
    for (size_t i = 0; i < p.n; i++)
        if (strcmp(p.v[i].path, path) == 0 && strstr(p.v[i].msg, msg))
            found = true;
    if (!found || r) {
        char *all = api_problems_format(&p);
        print_error("input %s\nwanted %s: %s\ngot:\n%s", s, path, msg, all);
        free(all);
    }
    assert_null(r);
    assert_true(found);
    api_problems_release(&p);
}

static void expect_ok(const char *s)
{
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = decode(s, &p);
    if (!r) {
        char *all = api_problems_format(&p);
        print_error("input %s refused:\n%s", s, all);
        free(all);
    }
    assert_non_null(r);
    assert_int_equal(p.n, 0);
    api_request_free(r);
    api_problems_release(&p);
}

static void test_roundtrip_every_field(void **state)
{
    const char *files[] = {"apis/fixtures/objects/request_full.json",
                           "apis/fixtures/objects/request_scheduled.json"};
    for (size_t f = 0; f < 2; f++) {
        json_t *in = cr_test_fixture_json(files[f]);
        api_problems p = API_PROBLEMS_INIT;
        api_request *r = api_request_from_json(in, NULL, &p);
        if (!r) {
            char *all = api_problems_format(&p);
            fail_msg("%s refused:\n%s", files[f], all);
        }
        json_t *out = api_request_to_json(r);
        if (!json_equal(in, out)) {
            char *a = json_dumps(in, JSON_SORT_KEYS), *b = json_dumps(out, JSON_SORT_KEYS);
            fail_msg("round trip differs:\n%s\n%s", a, b);
        }
        /* Decoding the output gives an equal object. */
        api_request *r2 = api_request_from_json(out, NULL, &p);
        assert_non_null(r2);
        assert_true(api_request_equal(r, r2));
        api_request *r3 = api_request_dup(r);
        assert_true(api_request_equal(r, r3));
        api_request_free(r3);
        api_request_free(r2);
        api_request_free(r);
        json_decref(out);
        json_decref(in);
        api_problems_release(&p);
    }
}

static void test_typed_fields(void **state)
{
    json_t *in = cr_test_fixture_json("apis/fixtures/objects/request_full.json");
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = api_request_from_json(in, NULL, &p);
    assert_non_null(r);
    assert_string_equal(r->id, "full-request_1");
    assert_int_equal(r->type, API_WORKER);
    assert_int_equal(r->owners.n, 2);
    assert_true(r->has_instances);
    assert_int_equal(r->instances, 3);
    assert_int_equal(r->agentPlacement, API_PLACEMENT_SEPARATE_BY_REQUEST);
    assert_string_equal(api_strmap_get(&r->requiredAgentAttributes, "disk"), "ssd");
    assert_true(r->has_taskPriorityLevel);
    assert_true(r->taskPriorityLevel > 0.24 && r->taskPriorityLevel < 0.26);
    assert_true(r->has_allowBounceToSameHost);
    assert_false(r->allowBounceToSameHost);
    assert_false(r->has_numRetriesOnFailure);
    assert_null(r->schedule);
    api_request_free(r);
    json_decref(in);
    api_problems_release(&p);
}

static void test_canonical_key_order(void **state)
{
    /* Input order does not matter; output order is the table's. */
    api_problems p = API_PROBLEMS_INIT;
    api_request *a = decode(
        "{\"instances\": 2, \"owners\": [\"x\"], \"id\": \"a\", \"requestType\": \"WORKER\"}", &p);
    api_request *b = decode(
        "{\"id\": \"a\", \"requestType\": \"WORKER\", \"instances\": 2, \"owners\": [\"x\"]}", &p);
    json_t *ja = api_request_to_json(a), *jb = api_request_to_json(b);
    char *sa = json_dumps(ja, JSON_COMPACT), *sb = json_dumps(jb, JSON_COMPACT);
    assert_string_equal(sa, sb);
    assert_string_equal(
        sa, "{\"id\":\"a\",\"requestType\":\"WORKER\",\"owners\":[\"x\"],\"instances\":2}");
    free(sa);
    free(sb);
    json_decref(ja);
    json_decref(jb);
    api_request_free(a);
    api_request_free(b);
    api_problems_release(&p);
}

static void test_aliases(void **state)
{
    json_t *in = cr_test_fixture_json("apis/fixtures/objects/request_legacy.json");
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = api_request_from_json(in, NULL, &p);
    assert_non_null(r);
    assert_int_equal(r->type, API_SERVICE); /* daemon + loadBalanced */
    assert_int_equal(r->agentPlacement, API_PLACEMENT_SPREAD_ALL_AGENTS);
    assert_string_equal(api_strmap_get(&r->requiredAgentAttributes, "rack"), "r1");
    assert_string_equal(api_strmap_get(&r->allowedAgentAttributes, "pool"), "batch");
    assert_non_null(r->agentAttributeMinimums);
    assert_true(r->has_hideEvenNumberAcrossRacksHint);
    json_t *out = api_request_to_json(r);
    /* Canonical names only; daemon is input-only. */
    assert_null(json_object_get(out, "slavePlacement"));
    assert_null(json_object_get(out, "daemon"));
    assert_null(json_object_get(out, "hideEvenNumberAcrossRacks"));
    assert_string_equal(json_string_value(json_object_get(out, "agentPlacement")),
                        "SPREAD_ALL_AGENTS");
    assert_string_equal(json_string_value(json_object_get(out, "requestType")), "SERVICE");
    assert_non_null(json_object_get(out, "requiredAgentAttributes"));
    json_decref(out);
    api_request_free(r);
    json_decref(in);
    /* Giving both spellings is refused. */
    expect_problem("{\"id\":\"a\",\"requestType\":\"WORKER\",\"agentPlacement\":\"GREEDY\","
                   "\"slavePlacement\":\"GREEDY\"}",
                   "slavePlacement", "alias");
    api_problems_release(&p);
}

static void test_type_derivation(void **state)
{
    static const struct {
        const char *json;
        api_request_type want;
    } cases[] = {
        {"{\"id\":\"a\",\"schedule\":\"0 * * * *\"}", API_SCHEDULED},
        {"{\"id\":\"a\",\"schedule\":\"0 * * * *\",\"daemon\":false}", API_SCHEDULED},
        {"{\"id\":\"a\",\"daemon\":false}", API_ON_DEMAND},
        {"{\"id\":\"a\",\"daemon\":true,\"loadBalanced\":true}", API_SERVICE},
        {"{\"id\":\"a\",\"loadBalanced\":true}", API_SERVICE},
        {"{\"id\":\"a\",\"daemon\":true}", API_WORKER},
        {"{\"id\":\"a\"}", API_WORKER},
        {"{\"id\":\"a\",\"requestType\":\"RUN_ONCE\",\"daemon\":true}", API_RUN_ONCE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_problems p = API_PROBLEMS_INIT;
        api_request *r = decode(cases[i].json, &p);
        if (!r)
            fail_msg("case %zu refused", i);
        assert_int_equal(r->type, cases[i].want);
        api_request_free(r);
        api_problems_release(&p);
    }
    assert_true(api_request_type_long_running(API_SERVICE));
    assert_false(api_request_type_long_running(API_SCHEDULED));
    assert_true(api_request_type_always_running(API_SCHEDULED));
    assert_false(api_request_type_always_running(API_ON_DEMAND));
    assert_true(api_request_type_deployable(API_WORKER));
    assert_int_equal(api_request_type_parse("ON_DEMAND"), API_ON_DEMAND);
    assert_int_equal(api_request_type_parse("bogus"), API_REQUEST_TYPE_UNSET);
    assert_string_equal(api_request_type_name(API_RUN_ONCE), "RUN_ONCE");
}

static void test_unknown_fields(void **state)
{
    expect_problem("{\"id\":\"a\",\"requestType\":\"WORKER\",\"instnces\":2}", "instnces",
                   "did you mean \"instances\"");
    expect_problem("{\"id\":\"a\",\"requestType\":\"WORKER\",\"zzz\":2}", "zzz", "unknown field");

    /* allow_unknown keeps them and re-emits them. */
    api_problems p = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true};
    json_t *in = cr_test_json("{\"id\":\"a\",\"requestType\":\"WORKER\",\"zzz\":{\"x\":1}}");
    api_request *r = api_request_from_json(in, &o, &p);
    assert_non_null(r);
    json_t *out = api_request_to_json(r);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    api_request_free(r);
    api_problems_release(&p);
}

/* Lenient decoding (api_problems.ignored), as Singularity's API decodes:
 * unknown fields at any depth are dropped into the ignored list, an alias
 * beside its current name with the same value (or null) is taken, a pair
 * that disagrees is still a problem. */
static void test_lenient(void **state)
{
    api_problems p = API_PROBLEMS_INIT, ign = API_PROBLEMS_INIT;
    json_t *in = cr_test_json("{\"id\":\"a\",\"requestType\":\"WORKER\",\"zzz\":1,"
                              "\"agentPlacement\":\"SEPARATE\",\"slavePlacement\":\"SEPARATE\","
                              "\"requiredSlaveAttributes\":null,"
                              "\"requiredAgentAttributes\":{\"r\":\"1\"},"
                              "\"allowedAgentAttributes\":null,"
                              "\"allowedSlaveAttributes\":{\"p\":\"b\"}}");
    api_request *r;
    json_t *out;

    p.ignored = &ign;
    r = api_request_from_json(in, NULL, &p);
    assert_non_null(r);
    assert_int_equal(p.n, 0);
    assert_int_equal(ign.n, 1);
    assert_string_equal(ign.v[0].path, "zzz");
    assert_int_equal(r->agentPlacement, API_PLACEMENT_SEPARATE);
    assert_string_equal(api_strmap_get(&r->requiredAgentAttributes, "r"), "1");
    assert_string_equal(api_strmap_get(&r->allowedAgentAttributes, "p"), "b");
    out = api_request_to_json(r);
    assert_null(json_object_get(out, "zzz")); /* dropped, not kept in extra */
    json_decref(out);
    api_request_free(r);
    json_decref(in);
    api_problems_release(&ign);

    in = cr_test_json("{\"id\":\"a\",\"agentPlacement\":\"GREEDY\","
                      "\"slavePlacement\":\"SEPARATE\"}");
    assert_null(api_request_from_json(in, NULL, &p));
    assert_int_equal(p.n, 1);
    assert_string_equal(p.v[0].path, "slavePlacement");
    assert_non_null(strstr(p.v[0].msg, "different value"));
    json_decref(in);
    api_problems_release(&p);
    api_problems_release(&ign);
}

static void test_type_errors_and_prefix(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_decode_opts o = {.path_prefix = "spec"};
    json_t *in = cr_test_json(
        "{\"id\":5,\"requestType\":\"NOPE\",\"instances\":\"two\",\"owners\":[1],"
        "\"loadBalanced\":\"yes\",\"taskPriorityLevel\":\"x\",\"requiredAgentAttributes\":[]}");
    api_request *r = api_request_from_json(in, &o, &p);
    assert_null(r);
    const char *want[][2] = {{"spec.id", "must be a string"},
                             {"spec.requestType", "must be one of SERVICE"},
                             {"spec.instances", "must be an integer"},
                             {"spec.owners[0]", "must be a string"},
                             {"spec.loadBalanced", "true or false"},
                             {"spec.taskPriorityLevel", "must be a number"},
                             {"spec.requiredAgentAttributes", "map of strings"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (size_t k = 0; k < p.n; k++)
            if (strcmp(p.v[k].path, want[i][0]) == 0 && strstr(p.v[k].msg, want[i][1]))
                found = true;
        if (!found)
            fail_msg("missing problem %s: %s", want[i][0], want[i][1]);
    }
    /* A decode problem is not repeated by validation ("id: required"). */
    size_t ids = 0;
    for (size_t k = 0; k < p.n; k++)
        if (strcmp(p.v[k].path, "spec.id") == 0)
            ids++;
    assert_int_equal(ids, 1);
    json_decref(in);
    api_problems_release(&p);

    /* Not an object at all. */
    json_t *arr = json_array();
    r = api_request_from_json(arr, NULL, &p);
    assert_null(r);
    assert_int_equal(p.n, 1);
    json_decref(arr);
    api_problems_release(&p);
}

static void test_validation_rules(void **state)
{
    static const char *const cases[][3] = {
        {"{\"requestType\":\"WORKER\"}", "id", "required"},
        {"{\"id\":\"a b\",\"requestType\":\"WORKER\"}", "id", "[a-zA-Z0-9_-]"},
        {"{\"id\":"
         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxx\","
         "\"requestType\":\"WORKER\"}",
         "id", "1-100"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"instances\":0}", "instances", "must be > 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"instances\":26}", "instances", "<= 25"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"schedule\":\"* * * * *\",\"instances\":2}",
         "instances", "must be 1"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"instances\":5,\"maxScale\":4}", "instances",
         "maxScale"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"maxScale\":0}", "maxScale", "> 0"},
        {"{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"maxScale\":3}", "maxScale", "only allowed"},
        {"{\"id\":\"a\",\"requestType\":\"SERVICE\",\"numRetriesOnFailure\":1}",
         "numRetriesOnFailure", "not allowed for long-running"},
        {"{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"numRetriesOnFailure\":-1}",
         "numRetriesOnFailure", ">= 0"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\"}", "schedule", "required"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"schedule\":\"61 * * * *\"}", "schedule",
         "out of range"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"schedule\":\"* * * * "
         "*\",\"scheduleTimeZone\":\"No/Where\"}",
         "scheduleTimeZone", "No/Where"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"quartzSchedule\":\"0 0 * * * "
         "?\",\"scheduleType\":\"CRON\"}",
         "scheduleType", "QUARTZ"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"schedule\":\"* * * * *\"}", "schedule",
         "only allowed"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"scheduleType\":\"CRON\"}", "scheduleType",
         "only allowed"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"quartzSchedule\":\"0 0 * * * ?\"}",
         "quartzSchedule", "only allowed"},
        {"{\"id\":\"a\",\"requestType\":\"SERVICE\",\"taskExecutionTimeLimitMillis\":5}",
         "taskExecutionTimeLimitMillis", "not allowed"},
        {"{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"taskExecutionTimeLimitMillis\":0}",
         "taskExecutionTimeLimitMillis", "> 0"},
        {"{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"startingDeadlineSeconds\":30}",
         "startingDeadlineSeconds", "only allowed for SCHEDULED"},
        {"{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"schedule\":\"* * * * *\","
         "\"startingDeadlineSeconds\":0}",
         "startingDeadlineSeconds", "> 0"},
        {"{\"id\":\"a\",\"requestType\":\"SERVICE\",\"unreachableTimeoutSeconds\":-1}",
         "unreachableTimeoutSeconds", ">= 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"loadBalanced\":true}", "loadBalanced",
         "only allowed for SERVICE"},
        {"{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"rackSensitive\":true}", "rackSensitive",
         "only allowed"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"maxTasksPerOffer\":0}", "maxTasksPerOffer",
         "> 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"taskPriorityLevel\":1.5}", "taskPriorityLevel",
         "between 0 and 1"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"owners\":[\"\"]}", "owners[0]", "empty"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"group\":\"\"}", "group", "empty"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"scheduledExpectedRuntimeMillis\":-1}",
         "scheduledExpectedRuntimeMillis", ">= 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\","
         "\"waitAtLeastMillisAfterTaskFinishesForReschedule\":-1}",
         "waitAtLeastMillisAfterTaskFinishesForReschedule", ">= 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"killOldNonLongRunningTasksAfterMillis\":-1}",
         "killOldNonLongRunningTasksAfterMillis", ">= 0"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"agentAttributeMinimums\":{\"z\":{\"a\":101}}}",
         "agentAttributeMinimums.z.a", "0-100"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"agentAttributeMinimums\":{\"z\":3}}",
         "agentAttributeMinimums.z", "map"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"actionPermissions\":{\"ops\":[\"DANCE\"]}}",
         "actionPermissions.ops[0]", "must be one of"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"emailConfigurationOverrides\":{\"X\":["
         "\"NOBODY\"]}}",
         "emailConfigurationOverrides.X[0]", "OWNERS"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"scheduleTimeZone\":\"\"}", "scheduleTimeZone",
         "empty"},
        {"{\"id\":\"a\",\"requestType\":\"WORKER\",\"daemon\":3}", "daemon", "true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_problem(cases[i][0], cases[i][1], cases[i][2]);

    expect_ok("{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"schedule\":\"*/3 * * * *\"}");
    expect_ok("{\"id\":\"a\",\"requestType\":\"SCHEDULED\",\"quartzSchedule\":\"0 0 3 * * ?\"}");
    expect_ok(
        "{\"id\":\"a\",\"requestType\":\"ON_DEMAND\",\"instances\":25,\"numRetriesOnFailure\":3}");
    expect_ok(
        "{\"id\":\"a\",\"requestType\":\"SERVICE\",\"loadBalanced\":true,\"rackSensitive\":true}");
    expect_ok("{\"id\":\"a\",\"requestType\":\"WORKER\",\"instances\":null}");
}

static void test_every_problem_at_once(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_request *r =
        decode("{\"id\":\"a b\",\"requestType\":\"WORKER\",\"instances\":0,\"maxTasksPerOffer\":0,"
               "\"taskPriorityLevel\":2}",
               &p);
    assert_null(r);
    assert_int_equal(p.n, 4);
    api_problems_release(&p);
}

static void test_defaults(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_request *r = decode("{\"id\":\"a\",\"requestType\":\"SERVICE\"}", &p);
    assert_non_null(r);
    assert_int_equal(api_request_eff_instances(r), 1);
    assert_true(api_request_eff_priority(r) > 0.69 && api_request_eff_priority(r) < 0.71);
    /* Without defaults the encoding is exactly the input. */
    json_t *j = api_request_to_json(r);
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    api_request_apply_defaults(r);
    assert_true(r->has_instances);
    assert_int_equal(r->instances, 1);
    assert_int_equal(r->agentPlacement, API_PLACEMENT_GREEDY);
    assert_true(r->has_loadBalanced);
    assert_false(r->loadBalanced);
    assert_false(r->has_numRetriesOnFailure); /* forbidden on SERVICE */
    /* Defaults are valid. */
    assert_int_equal(api_request_validate(r, NULL, &p), 0);
    api_request_free(r);

    r = decode("{\"id\":\"j\",\"requestType\":\"SCHEDULED\",\"schedule\":\"0 * * * *\"}", &p);
    assert_non_null(r);
    assert_true(api_request_eff_priority(r) > 0.29 && api_request_eff_priority(r) < 0.31);
    api_request_apply_defaults(r);
    assert_int_equal(r->scheduleType, API_SCHEDULE_CRON);
    assert_true(r->has_numRetriesOnFailure);
    assert_int_equal(r->numRetriesOnFailure, 0);
    assert_int_equal(api_request_validate(r, NULL, &p), 0);
    api_request_free(r);

    r = decode("{\"id\":\"w\",\"requestType\":\"WORKER\",\"taskPriorityLevel\":0.9}", &p);
    assert_true(api_request_eff_priority(r) > 0.89);
    api_request_free(r);
    api_problems_release(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip_every_field),  cmocka_unit_test(test_typed_fields),
    cmocka_unit_test(test_canonical_key_order),    cmocka_unit_test(test_aliases),
    cmocka_unit_test(test_type_derivation),        cmocka_unit_test(test_unknown_fields),
    cmocka_unit_test(test_lenient),
    cmocka_unit_test(test_type_errors_and_prefix), cmocka_unit_test(test_validation_rules),
    cmocka_unit_test(test_every_problem_at_once),  cmocka_unit_test(test_defaults),
};

CR_TEST_MAIN(tests)
