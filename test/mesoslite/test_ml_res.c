#include "test/lib/cr_test.h"

#include <string.h>

#include "mesoslite/ml_res.h"

static void parse_json(ml_res *r, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_err err;
    assert_non_null(j);
    assert_int_equal(ml_res_from_json(r, j, &err), 0);
    json_decref(j);
}

static void test_spec_and_ports_string(void **state)
{
    ml_res r = ML_RES_INIT;
    cr_err err;
    char *s;

    assert_int_equal(ml_res_from_spec(&r, "cpus:2;mem:23081;disk:252899;ports:[31000-32000]", &err),
                     0);
    assert_true(r.cpus == 2 && r.mem == 23081 && r.disk == 252899);
    s = ml_res_ports_str(&r);
    assert_string_equal(s, "[31000-32000]");
    free(s);
    assert_int_equal(ml_res_port_count(&r), 1001);
    assert_int_equal(ml_res_from_spec(&r, "cpus:x", &err), -1);
    assert_int_equal(ml_res_from_spec(&r, "foo:1", &err), -1);
    assert_string_equal(err.detail, "resources: unknown resource 'foo'");
    assert_int_equal(ml_res_from_spec(&r, "ports:[5-3]", &err), -1);
    ml_res_release(&r);
}

static void test_arithmetic_and_ranges(void **state)
{
    ml_res agent = ML_RES_INIT, task = ML_RES_INIT, copy = ML_RES_INIT;
    cr_err err;
    char *s;

    ml_res_from_spec(&agent, "cpus:4;mem:8192;ports:[31000-32000]", &err);
    parse_json(&task, "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
                      "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.2}},"
                      "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128}},"
                      "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":["
                      "{\"begin\":31001,\"end\":31002},{\"begin\":\"31010\",\"end\":31010}]}}]");
    assert_true(task.cpus == 0.3);
    assert_true(ml_res_contains(&agent, &task));
    assert_int_equal(ml_res_sub(&agent, &task), 0);
    assert_true(agent.cpus == 3.7 && agent.mem == 8064);
    s = ml_res_ports_str(&agent);
    assert_string_equal(s, "[31000-31000, 31003-31009, 31011-32000]");
    free(s);
    /* The same ports again no longer fit; nothing changes on failure. */
    assert_false(ml_res_contains(&agent, &task));
    assert_int_equal(ml_res_sub(&agent, &task), -1);
    assert_true(agent.cpus == 3.7);
    /* Fractions keep 3 digits: 37 x 0.1 == 3.7 exactly. */
    ml_res_copy(&copy, &agent);
    for (int i = 0; i < 37; i++) {
        ml_res one = ML_RES_INIT;
        one.cpus = 0.1;
        assert_int_equal(ml_res_sub(&copy, &one), 0);
    }
    assert_true(copy.cpus == 0.0);
    ml_res_add(&agent, &task);
    s = ml_res_ports_str(&agent);
    assert_string_equal(s, "[31000-32000]");
    free(s);
    assert_true(agent.cpus == 4.0 && agent.mem == 8192);
    ml_res_clear(&copy);
    assert_true(ml_res_empty(&copy));
    ml_res_release(&agent);
    ml_res_release(&task);
    ml_res_release(&copy);
}

static void test_bad_json_resources(void **state)
{
    const char *bad[] = {
        "[{\"name\":\"gpus_x\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
        "[{\"name\":\"cpus\",\"type\":\"RANGES\"}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]",
        ("[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":5,\"end\":4}]}}"
         "]"),
        "[{\"type\":\"SCALAR\"}]",
        "{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ml_res r = ML_RES_INIT;
        cr_err err;
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_int_equal(ml_res_from_json(&r, j, &err), -1);
        assert_int_equal(err.code, CR_EINVAL);
        json_decref(j);
        ml_res_release(&r);
    }
}

/* The offer resources of the transcript, built from the agent's flags. */
static void test_offer_json_matches_transcript(void **state)
{
    size_t len;
    char *text = cr_test_fixture("mesoslite/fixtures/launch-reconcile-kill-files.json", &len);
    json_t *tr = json_loads(text, 0, NULL);
    json_t *want = json_object_get(
        json_array_get(
            json_object_get(
                json_object_get(json_array_get(json_object_get(tr, "events"), 2), "offers"),
                "offers"),
            0),
        "resources");
    json_t *state_want = json_object_get(json_object_get(tr, "master_state_agent"), "resources");
    ml_res r = ML_RES_INIT;
    cr_err err;
    json_t *got, *summary;

    assert_int_equal(ml_res_from_spec(&r, "cpus:2;mem:23081;disk:252899;ports:[31000-32000]", &err),
                     0);
    got = ml_res_to_json(&r, "*", "*");
    assert_true(json_equal(got, want));
    summary = ml_res_to_summary(&r);
    assert_true(json_equal(summary, state_want));
    /* Parsing the transcript's array gives back the same resources. */
    {
        ml_res back = ML_RES_INIT;
        assert_int_equal(ml_res_from_json(&back, want, &err), 0);
        assert_true(ml_res_contains(&back, &r) && ml_res_contains(&r, &back));
        ml_res_release(&back);
    }
    json_decref(got);
    json_decref(summary);
    json_decref(tr);
    free(text);
    ml_res_release(&r);
}

static void test_refuse_seconds_and_filters(void **state)
{
    json_t *f;
    ml_filter filt;
    ml_res avail = ML_RES_INIT, more = ML_RES_INIT;
    cr_err err;

    assert_int_equal(ml_refuse_ms(NULL), 5000);
    f = json_pack("{s:f}", "refuse_seconds", 3600.0);
    assert_int_equal(ml_refuse_ms(f), 3600000);
    json_decref(f);
    f = json_pack("{s:f}", "refuse_seconds", -1.0);
    assert_int_equal(ml_refuse_ms(f), 5000);
    json_decref(f);
    f = json_pack("{s:f}", "refuse_seconds", 1e12);
    assert_int_equal(ml_refuse_ms(f), 31536000000LL);
    json_decref(f);
    f = json_pack("{s:s}", "refuse_seconds", "2.5");
    assert_int_equal(ml_refuse_ms(f), 2500);
    json_decref(f);

    ml_res_init(&filt.refused);
    ml_res_from_spec(&filt.refused, "cpus:2;mem:100;ports:[31000-31010]", &err);
    filt.until_ms = 1000;
    ml_res_from_spec(&avail, "cpus:1;mem:100;ports:[31000-31005]", &err);
    ml_res_from_spec(&more, "cpus:3;mem:100", &err);
    assert_true(ml_filter_blocks(&filt, &avail, 999));
    assert_false(ml_filter_blocks(&filt, &avail, 1000)); /* expired */
    assert_false(ml_filter_blocks(&filt, &more, 10));    /* more than declined */
    ml_res_release(&filt.refused);
    ml_res_release(&avail);
    ml_res_release(&more);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec_and_ports_string),
    cmocka_unit_test(test_arithmetic_and_ranges),
    cmocka_unit_test(test_bad_json_resources),
    cmocka_unit_test(test_offer_json_matches_transcript),
    cmocka_unit_test(test_refuse_seconds_and_filters),
};
CR_TEST_MAIN(tests)
