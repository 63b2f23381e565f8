/* Intents (apis/intent.h): every kind the API writes round-trips; unknown
 * fields are refused or kept; bad values are reported at their path. */
#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <string.h>

#include "apis/intent.h"

static bool has_problem(const api_problems *probs, const char *want)
{
    char *all = api_problems_format(probs);
    bool found = strstr(all, want) != NULL;
    if (!found)
        print_error("no \"%s\" in:\n%s\n", want, all);
    free(all);
    return found;
}

/* The documents apiserver/as_api.c writes, one per kind. */
static const char *const written[] = {
    /* requests/<r>/scale */
    "{\"instances\":3,\"durationMillis\":60000,\"skipHealthchecks\":false,\"actionId\":\"a1\","
    "\"message\":\"more\",\"bounce\":true,\"incremental\":true,\"skipEmailNotification\":true,"
    "\"largeScaleDownAcknowledged\":false,\"previousInstances\":1,\"timestamp\":1000,"
    "\"user\":\"ana\"}",
    /* requests/<r>/bounce (from a scale) */
    "{\"incremental\":false,\"message\":\"go\",\"timestamp\":1000,\"user\":\"ana\"}",
    /* requests/<r>/skip-healthchecks */
    "{\"skipHealthchecks\":true,\"durationMillis\":5,\"previous\":false,\"timestamp\":2}",
    /* requests/<r>/pause */
    "{\"killTasks\":true,\"durationMillis\":9,\"runShellCommandBeforeKill\":{\"name\":\"x\"},"
    "\"timestamp\":3}",
    /* requests/<r>/exit-cooldown */
    "{\"message\":\"ok now\",\"actionId\":\"b\",\"skipHealthchecks\":true,\"timestamp\":4}",
    /* deploys/<r>/<d>/submit */
    "{\"unpauseOnSuccessfulDeploy\":true,\"message\":\"v2\","
    "\"updatedRequest\":{\"id\":\"web\",\"instances\":2},\"timestamp\":5,\"user\":\"bo\"}",
    /* deploys/<r>/<d>/cancel */
    "{\"message\":\"stop\",\"actionId\":\"c\",\"timestamp\":6}",
    /* deploys/<r>/<d>/update */
    "{\"requestId\":\"web\",\"deployId\":\"v2\",\"targetActiveInstances\":2,\"message\":\"next\","
    "\"timestamp\":7}",
    /* agents/<id>, racks/<id> */
    "{\"durationMillis\":100,\"revertToState\":\"ACTIVE\","
    "\"killTasksOnDecommissionTimeout\":true,\"message\":\"m\",\"state\":\"FROZEN\","
    "\"timestamp\":8,\"user\":\"cy\"}",
};

static void test_round_trip(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;

    for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
        json_t *j = cr_test_json(written[i]), *back;
        api_intent *in = api_intent_from_json(j, NULL, &probs);
        assert_non_null(in);
        back = api_intent_to_json(in);
        if (!json_equal(j, back))
            fail_msg("intent %zu does not round-trip", i);
        json_decref(back);
        api_intent_free(in);
        json_decref(j);
    }
    assert_int_equal(probs.n, 0);

    /* The fields readers use. */
    json_t *j = cr_test_json(written[0]);
    api_intent *in = api_intent_from_json(j, NULL, &probs);
    assert_true(in->has_timestamp && in->timestamp == 1000);
    assert_string_equal(in->user, "ana");
    assert_true(in->has_instances && in->instances == 3);
    assert_int_equal(in->previousInstances, 1);
    assert_true(in->has_largeScaleDownAcknowledged && !in->largeScaleDownAcknowledged);
    assert_false(in->has_targetActiveInstances);
    api_intent_free(in);
    json_decref(j);

    j = cr_test_json(written[7]);
    in = api_intent_from_json(j, NULL, &probs);
    assert_int_equal(in->targetActiveInstances, 2);
    assert_string_equal(in->deployId, "v2");
    api_intent_free(in);
    json_decref(j);

    /* Absent means absent: an empty intent (the pause of an old API). */
    j = cr_test_json("{}");
    in = api_intent_from_json(j, NULL, &probs);
    assert_non_null(in);
    assert_false(in->has_timestamp);
    assert_int_equal(in->timestamp, 0);
    json_t *back = api_intent_to_json(in);
    assert_int_equal(json_object_size(back), 0);
    json_decref(back);
    api_intent_free(in);
    json_decref(j);
    api_intent_free(NULL);
    api_problems_release(&probs);
}

/* Strict decoding refuses fields it does not know; readers decode with
 * allow_unknown and keep them. */
static void test_unknown_fields(void **state)
{
    json_t *j = cr_test_json("{\"timestamp\":1,\"reason\":\"later\",\"timestmp\":2}");
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts open = {.allow_unknown = true};

    assert_null(api_intent_from_json(j, NULL, &probs));
    assert_int_equal(probs.n, 2);
    assert_true(has_problem(&probs, "reason: unknown field"));
    assert_true(has_problem(&probs, "timestmp: unknown field (did you mean \"timestamp\"?)"));
    api_problems_release(&probs);

    api_intent *in = api_intent_from_json(j, &open, &probs);
    assert_non_null(in);
    assert_int_equal(in->timestamp, 1);
    json_t *back = api_intent_to_json(in);
    assert_true(json_equal(j, back));
    json_decref(back);
    api_intent_free(in);
    json_decref(j);
    assert_int_equal(probs.n, 0);
    api_problems_release(&probs);
}

static void test_bad(void **state)
{
    static const struct {
        const char *doc, *problem;
    } bad[] = {
        {"[]", "intent: an intent must be an object, not a list"},
        {"{\"timestamp\":\"now\"}", "intent.timestamp: must be an integer, not a string"},
        {"{\"targetActiveInstances\":2.5}",
         "intent.targetActiveInstances: must be an integer, not a number"},
        {"{\"killTasks\":1}", "intent.killTasks: must be true or false, not an integer"},
        {"{\"user\":{}}", "intent.user: must be a string, not an object"},
        {"{\"runShellCommandBeforeKill\":\"ls\"}",
         "intent.runShellCommandBeforeKill: must be an object, not a string"},
        {"{\"instances\":99999999999}", "intent.instances: must be between"},
    };
    api_decode_opts opts = {.allow_unknown = true, .path_prefix = "intent"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = cr_test_json(bad[i].doc);
        api_problems probs = API_PROBLEMS_INIT;
        assert_null(api_intent_from_json(j, &opts, &probs));
        assert_int_equal(probs.n, 1);
        assert_true(has_problem(&probs, bad[i].problem));
        api_problems_release(&probs);
        json_decref(j);
    }

    json_t *j = json_string("pause");
    api_problems probs = API_PROBLEMS_INIT;
    assert_null(api_intent_from_json(j, &opts, &probs));
    assert_true(has_problem(&probs, "intent: an intent must be an object, not a string"));
    assert_null(api_intent_from_json(NULL, NULL, &probs));
    assert_true(has_problem(&probs, "an intent must be an object, not nothing"));
    api_problems_release(&probs);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_unknown_fields),
    cmocka_unit_test(test_bad),
};
CR_TEST_MAIN(tests)
