#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "mesoslite/ml_proto.h"

static json_t *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "mesoslite/fixtures/%s", name);
    return cr_test_fixture_json(path);
}

static json_t *event(json_t *tr, size_t i)
{
    return json_array_get(json_object_get(tr, "events"), i);
}

static void assert_json_equal(json_t *got, json_t *want)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
        print_error("got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

static void test_base64_and_uuid(void **state)
{
    uint8_t u[16], back[32];
    char s[37];
    char *b;

    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(i * 17);
    ml_uuid_v4_from(u);
    assert_int_equal(u[6] >> 4, 4);
    assert_int_equal(u[8] >> 6, 2);
    ml_uuid_str(u, s);
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[14], '4');
    b = ml_b64_encode(u, 16);
    assert_int_equal(strlen(b), 24);
    assert_string_equal(b + 22, "==");
    assert_int_equal(ml_b64_decode(b, back, sizeof(back)), 16);
    assert_memory_equal(back, u, 16);
    assert_true(ml_uuid_b64_valid(b));
    free(b);
    /* Real uuids from the transcript are valid; 16 bytes without a version
     * nibble, wrong lengths and bad base64 are not. */
    assert_true(ml_uuid_b64_valid("sMBBbRlCQomNqjHfxT542A=="));
    assert_true(ml_uuid_b64_valid("2ChlgLYYTGmnCUOBY416Pw=="));
    assert_false(ml_uuid_b64_valid("eHh4eHh4eHh4eHh4eHh4eA=="));
    assert_false(ml_uuid_b64_valid("ZDQwZjNmYWMtYjM2Yy00ZjNiLWI2ZTMtZmE1YzNmOTdkYjAwCg=="));
    assert_false(ml_uuid_b64_valid("not base64!"));
    assert_false(ml_uuid_b64_valid(NULL));
    b = ml_b64_encode((const uint8_t *)"ab", 2);
    assert_string_equal(b, "YWI=");
    free(b);
    assert_int_equal(ml_b64_decode("YW=I", back, sizeof(back)), -1);
}

static void test_durations(void **state)
{
    char s[32];
    ml_duration_str(5000000000LL, s, sizeof(s));
    assert_string_equal(s, "5secs");
    ml_duration_str(4000000000LL, s, sizeof(s));
    assert_string_equal(s, "4secs");
    ml_duration_str(1500000000LL, s, sizeof(s));
    assert_string_equal(s, "1.5secs");
    ml_duration_str(900000000000LL, s, sizeof(s));
    assert_string_equal(s, "15mins");
    ml_duration_str(250000000LL, s, sizeof(s));
    assert_string_equal(s, "250ms");
    ml_duration_str(0, s, sizeof(s));
    assert_string_equal(s, "0ns");
}

static void test_subscribed_and_heartbeat_match_transcript(void **state)
{
    json_t *tr = fixture("launch-reconcile-kill-files.json");
    json_t *got = ml_ev_subscribed("2bac3981-7f68-4d65-bdd4-dc4a4f7092be-0001", 15.0,
                                   ml_master_info("2bac3981-7f68-4d65-bdd4-dc4a4f7092be",
                                                  "127.0.0.1", 5050, "127.0.0.1", "1.12.0"));
    assert_json_equal(got, event(tr, 0));
    json_decref(got);
    got = ml_ev_heartbeat();
    assert_json_equal(got, event(tr, 1));
    json_decref(got);
    json_decref(tr);
}

static void test_updates_match_transcript(void **state)
{
    json_t *tr = fixture("launch-reconcile-kill-files.json");
    ml_status_spec s = {0};
    json_t *got;

    /* TASK_FAILED from the command executor. */
    s.task_id = "transcript-fail";
    s.state = "TASK_FAILED";
    s.message = "Command exited with status 3";
    s.source = "SOURCE_EXECUTOR";
    s.agent_id = "eaae865b-d4ac-4221-b033-f6e4458c071d-S0";
    s.executor_id = "transcript-fail";
    s.timestamp = 1795552288.226802;
    s.uuid = "QYrGWtqMR0i1FlATVFewwQ==";
    s.container_id = "d3721f2c-3994-4c80-b407-1a54bc0da8f5";
    s.ip = "127.0.0.1";
    s.executor_pid = 5791;
    s.healthy = -1;
    got = ml_ev_update(ml_status_json(&s));
    assert_json_equal(got, event(tr, 7));
    json_decref(got);

    /* A reconciliation answer for an unknown task: no agent, no uuid. */
    memset(&s, 0, sizeof(s));
    s.task_id = "no-such-task";
    s.state = "TASK_UNKNOWN";
    s.message = "Reconciliation: Task is unknown";
    s.source = "SOURCE_MASTER";
    s.reason = "REASON_RECONCILIATION";
    s.timestamp = 1795552288.2435083;
    s.healthy = -1;
    got = ml_ev_update(ml_status_json(&s));
    assert_json_equal(got, event(tr, 9));
    json_decref(got);
    json_decref(tr);
}

static void test_agent_loss_events_match_transcript(void **state)
{
    json_t *tr = fixture("failover-agent-loss.json");
    ml_status_spec s = {0};
    json_t *got;

    s.task_id = "transcript2-long";
    s.state = "TASK_UNREACHABLE";
    s.message = "health check timed out";
    s.source = "SOURCE_MASTER";
    s.reason = "REASON_AGENT_REMOVED";
    s.agent_id = "eaae865b-d4ac-4221-b033-f6e4458c071d-S0";
    s.timestamp = 1795552492.675254;
    s.unreachable_ns = 1795552492672143104LL;
    s.healthy = -1;
    got = ml_ev_update(ml_status_json(&s));
    assert_json_equal(got, json_array_get(json_object_get(tr, "b_events_after_agent_kill"), 1));
    json_decref(got);
    got = ml_ev_failure("eaae865b-d4ac-4221-b033-f6e4458c071d-S0", NULL, -1);
    assert_json_equal(got, json_array_get(json_object_get(tr, "b_events_next"), 0));
    json_decref(got);
    got = ml_ev_error("Framework failed over");
    assert_json_equal(got, json_array_get(json_object_get(tr, "a_events_after_failover"), 0));
    json_decref(got);
    json_decref(tr);
}

static void test_other_event_shapes(void **state)
{
    json_t *got = ml_ev_rescind("o-1");
    char *s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":{\"value\":\"o-1\"}}}");
    free(s);
    json_decref(got);
    got = ml_ev_message("a", "e", "b2s=");
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"type\":\"MESSAGE\",\"message\":{\"agent_id\":{\"value\":\"a\"},"
                           "\"executor_id\":{\"value\":\"e\"},\"data\":\"b2s=\"}}");
    free(s);
    json_decref(got);
    got = ml_ev_failure("a", "e", 256);
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"type\":\"FAILURE\",\"failure\":{\"agent_id\":{\"value\":\"a\"},"
                           "\"executor_id\":{\"value\":\"e\"},\"status\":256}}");
    free(s);
    json_decref(got);
    got = ml_ev_offers(json_array());
    s = json_dumps(got, JSON_COMPACT);
    assert_string_equal(s, "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[]}}");
    free(s);
    json_decref(got);
}

static void check(enum ml_api api, bool post, const char *ct, const char *body, int status,
                  const char *want)
{
    ml_check c;
    ml_check_call(api, post, post ? "POST" : "GET", ct, body, body ? strlen(body) : 0, &c);
    assert_int_equal(c.status, status);
    if (status) {
        assert_string_equal(c.body, want);
        assert_null(c.call);
    } else {
        assert_non_null(c.call);
        assert_string_equal(c.type, want);
        json_decref(c.call);
    }
}

static void test_call_checks_match_transcript(void **state)
{
    json_t *tr = fixture("launch-reconcile-kill-files.json");
    json_t *errs = json_object_get(tr, "errors");
#define BODY(name) json_string_value(json_object_get(json_object_get(errs, name), "body"))
    const char *kill = "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"f\"},\"kill\":{\"task_"
                       "id\":{\"value\":\"t\"}}}";

    check(ML_API_SCHEDULER, false, "application/json", kill, 405, BODY("get_method"));
    check(ML_API_SCHEDULER, true, "application/json; charset=utf-8", kill, 415,
          BODY("charset_content_type"));
    check(ML_API_SCHEDULER, true, NULL, kill, 400, "Expecting 'Content-Type' to be present");
    check(ML_API_SCHEDULER, true, "application/json", "not json", 400, BODY("bad_json"));
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"kill\",\"framework_id\":{\"value\":\"f\"}}", 400, BODY("lowercase_enum"));
    check(ML_API_SCHEDULER, true, "application/json", kill, 0, "KILL");
    check(ML_API_SCHEDULER, true, "application/json", "{\"type\":\"KILL\",\"kill\":{}}", 400,
          "Failed to validate scheduler::Call: Expecting 'framework_id' to be present");
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"f\"}}", 400,
          "Failed to validate scheduler::Call: Expecting 'reconcile' to be present");
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"f\"}}", 0, "TEARDOWN");
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"f\"},\"subscribe\":{\"framework_"
          "info\":{\"user\":\"u\",\"name\":\"n\"}}}",
          400,
          "Failed to validate scheduler::Call: 'framework_id' differs from "
          "'subscribe.framework_info.id'");
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"
          "\"n\"}}}",
          0, "SUBSCRIBE");
    check(ML_API_SCHEDULER, true, "application/json", "{\"type\":\"UNKNOWN\"}", 501,
          "Received 'UNKNOWN' call");
    check(ML_API_SCHEDULER, true, "application/json", "[1]", 400,
          "Failed to convert JSON into Call protobuf: Expecting a JSON object");
    check(
        ML_API_SCHEDULER, true, "application/json", "{\"type\":1}", 400,
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'");
    check(ML_API_SCHEDULER, true, "application/json",
          "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"f\"},\"acknowledge\":{\"agent_"
          "id\":{\"value\":\"a\"},"
          "\"task_id\":{\"value\":\"t\"},\"uuid\":\"eHh4eHh4eHh4eHh4eHh4eA==\"}}",
          400, "Failed to validate scheduler::Call: Not a valid UUID");
    check(ML_API_SCHEDULER, true, "application/json", "{\"a\":\n tru}", 400,
          "Failed to parse body into JSON: syntax error at line 2 near: tru}");
    check(ML_API_EXECUTOR, true, "application/json",
          "{\"type\":\"SUBSCRIBE\",\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":"
          "\"f\"}}",
          400, "Failed to validate executor::Call: Expecting 'subscribe' to be present");
    check(ML_API_EXECUTOR, true, "application/json",
          "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"f\"},\"update\":{}}", 400,
          "Failed to validate executor::Call: Expecting 'executor_id' to be present");
    check(ML_API_EXECUTOR, true, "application/json",
          "{\"type\":\"HEARTBEAT\",\"executor_id\":{\"value\":\"e\"},\"framework_id\":{\"value\":"
          "\"f\"}}",
          0, "HEARTBEAT");
#undef BODY
    json_decref(tr);
}

static void test_attributes_spec(void **state)
{
    char err[256];
    json_t *got =
        ml_attributes_from_spec("rack:r17;generation:3;slots:[1-4,8-9]", err, sizeof(err));
    json_t *want =
        json_loads("[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":\"r17\"}},"
                   "{\"name\":\"generation\",\"type\":\"SCALAR\",\"scalar\":{\"value\":3.0}},"
                   "{\"name\":\"slots\",\"type\":\"RANGES\",\"ranges\":{\"range\":["
                   "{\"begin\":1,\"end\":4},{\"begin\":8,\"end\":9}]}}]",
                   0, NULL);
    assert_json_equal(got, want);
    json_decref(got);
    json_decref(want);
    got = ml_attributes_from_spec("", err, sizeof(err));
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    assert_null(ml_attributes_from_spec("rack", err, sizeof(err)));
    assert_string_equal(err, "attribute 'rack': expecting name:value");
}

static void test_ids_and_states(void **state)
{
    char long_id[300];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_true(ml_valid_id("web-1.2024"));
    assert_false(ml_valid_id(""));
    assert_false(ml_valid_id("."));
    assert_false(ml_valid_id(".."));
    assert_false(ml_valid_id("a/b"));
    assert_false(ml_valid_id("a\\b"));
    assert_false(ml_valid_id("a\nb"));
    assert_false(ml_valid_id(long_id));
    assert_true(ml_state_terminal("TASK_FINISHED"));
    assert_true(ml_state_terminal("TASK_GONE_BY_OPERATOR"));
    assert_false(ml_state_terminal("TASK_UNREACHABLE"));
    assert_false(ml_state_terminal("TASK_KILLING"));
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_base64_and_uuid),
    cmocka_unit_test(test_durations),
    cmocka_unit_test(test_subscribed_and_heartbeat_match_transcript),
    cmocka_unit_test(test_updates_match_transcript),
    cmocka_unit_test(test_agent_loss_events_match_transcript),
    cmocka_unit_test(test_other_event_shapes),
    cmocka_unit_test(test_call_checks_match_transcript),
    cmocka_unit_test(test_attributes_spec),
    cmocka_unit_test(test_ids_and_states),
};
CR_TEST_MAIN(tests)
