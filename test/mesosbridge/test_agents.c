/* Unit tests of mesosbridge/agents.c: the GET_AGENTS answer decoded (a
 * real Mesos master's shape), the rack of an agent, and the machine plan
 * driven by fixtures/agents/plan.json, whose cases pair (the master's list,
 * the agent and rack documents in etcd) with the exact writes expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mesosbridge/agents.h"
#include "test/lib/cr_test.h"

static void test_decode_mesos(void **state)
{
    size_t len;
    char *body = cr_test_fixture("mesosbridge/fixtures/agents/get_agents_mesos.json", &len);
    mb_agents a;
    cr_err err;

    assert_int_equal(mb_agents_decode(body, len, &a, &err), 0);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.v[0].id, "7c1e6a52-9d2b-4e0f-8a41-5b3c2d1e0f9a-S0");
    assert_string_equal(a.v[0].hostname, "node-a.example.com");
    assert_string_equal(a.v[0].agent_url, "http://node-a.example.com:5051");
    assert_false(a.v[0].recovered);
    /* totals from total_resources, not agent_info.resources */
    assert_true(a.v[0].cpus == 8.0 && a.v[0].mem == 15360.0 && a.v[0].disk == 102400.0);
    assert_int_equal(a.v[0].nports, 200);
    assert_int_equal(a.v[0].n_attrs, 2);
    assert_string_equal(a.v[0].attrs[1].name, "gen");
    assert_string_equal(a.v[0].attrs[1].text, "3");
    assert_string_equal(mb_rack_of(a.v[0].attrs, a.v[0].n_attrs, NULL, "DEFAULT"), "us-east-1a");
    assert_int_equal(a.v[1].n_attrs, 0);
    assert_string_equal(mb_rack_of(a.v[1].attrs, a.v[1].n_attrs, NULL, "DEFAULT"), "DEFAULT");
    /* recovered agents are AgentInfo: totals from its resources */
    assert_true(a.v[2].recovered);
    assert_string_equal(a.v[2].id, "7c1e6a52-9d2b-4e0f-8a41-5b3c2d1e0f9a-S2");
    assert_true(a.v[2].cpus == 4.0 && a.v[2].mem == 4096.0);
    assert_string_equal(mb_rack_of(a.v[2].attrs, a.v[2].n_attrs, NULL, "DEFAULT"), "r9");
    assert_string_equal(mb_rack_of(a.v[2].attrs, a.v[2].n_attrs, "zone", "DEFAULT"), "DEFAULT");
    mb_agents_release(&a);
    mb_agents_release(&a); /* released twice: a no-op */
    free(body);
}

static void test_decode_errors(void **state)
{
    static const char *const bad[] = {
        "not json",
        "{\"type\":\"GET_AGENTS\"}",
        "{\"get_agents\":{\"agents\":{}}}",
        "{\"get_agents\":{\"agents\":[{\"agent_info\":{\"hostname\":\"h\"}}]}}",
        "{\"get_agents\":{\"recovered_agents\":[{\"hostname\":\"h\",\"id\":{\"value\":\"\"}}]}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mb_agents a;
        cr_err err;
        assert_int_equal(mb_agents_decode(bad[i], strlen(bad[i]), &a, &err), -1);
        assert_int_equal(err.code, CR_EPARSE);
        assert_int_equal(a.n, 0);
        assert_null(a.v);
    }
    /* an empty cluster is a list too: every agent document may go DEAD */
    const char *empty = "{\"type\":\"GET_AGENTS\",\"get_agents\":{}}";
    mb_agents a;
    cr_err err;
    assert_int_equal(mb_agents_decode(empty, strlen(empty), &a, &err), 0);
    assert_int_equal(a.n, 0);
    mb_agents_release(&a);
    json_t *call = mb_call_get_agents();
    char *s = json_dumps(call, JSON_COMPACT);
    assert_string_equal(s, "{\"type\":\"GET_AGENTS\"}");
    free(s);
    json_decref(call);
}

/* The documents of a case ({"<id>": {"rev": n, "doc": {...}}}), in a
 * fixed order. */
static mb_machine_doc *docs_of(const json_t *m, size_t *n)
{
    mb_machine_doc *v = calloc(json_object_size(m) + 1, sizeof(*v));
    const char *k;
    json_t *e;
    *n = 0;
    json_object_foreach ((json_t *)m, k, e) {
        char *text = json_dumps(json_object_get(e, "doc"), JSON_COMPACT);
        v[(*n)++] = (mb_machine_doc){k, text, text ? strlen(text) : 0,
                                     json_integer_value(json_object_get(e, "rev"))};
    }
    return v;
}

static void docs_free(mb_machine_doc *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)v[i].text);
    free(v);
}

static void test_plan_fixtures(void **state)
{
    json_t *f = cr_test_fixture_json("mesosbridge/fixtures/agents/plan.json");
    json_t *cases = json_object_get(f, "cases"), *c;
    size_t i;

    assert_true(json_array_size(cases) > 0);
    json_array_foreach (cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        char *body = json_dumps(json_object_get(c, "master"), JSON_COMPACT);
        mb_agents agents;
        cr_err err;
        size_t na, nr;

        if (mb_agents_decode(body, strlen(body), &agents, &err) < 0)
            fail_msg("%s: %s", name, cr_err_msg(&err));
        mb_machine_doc *ad = docs_of(json_object_get(c, "agentDocs"), &na);
        mb_machine_doc *rd = docs_of(json_object_get(c, "rackDocs"), &nr);
        mb_machines_in in = {.agents = &agents,
                             .agent_docs = ad,
                             .n_agent_docs = na,
                             .rack_docs = rd,
                             .n_rack_docs = nr,
                             .default_rack = "DEFAULT",
                             .now = json_integer_value(json_object_get(f, "now")),
                             .seen_refresh_ms =
                                 json_integer_value(json_object_get(f, "seenRefreshMs"))};
        mb_machines_out out;
        mb_machines_plan(&in, &out);

        json_t *got = json_array();
        for (size_t k = 0; k < out.n; k++)
            json_array_append_new(got, json_pack("{s:s,s:s,s:I,s:O}", "kind",
                                                 out.v[k].rack ? "rack" : "agent", "id",
                                                 out.v[k].id, "rev", (json_int_t)out.v[k].mod_rev,
                                                 "doc", out.v[k].doc));
        if (!json_equal(got, json_object_get(c, "want"))) {
            char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
            fail_msg("%s: got\n%s", name, g);
        }
        assert_int_equal(out.n_dead, json_integer_value(json_object_get(c, "dead")));
        assert_int_equal(out.n_back, json_integer_value(json_object_get(c, "back")));
        json_decref(got);
        mb_machines_out_release(&out);
        mb_agents_release(&agents);
        docs_free(ad, na);
        docs_free(rd, nr);
        free(body);
    }
    json_decref(f);
}

static void test_machine_active(void **state)
{
    static const struct {
        const char *doc;
        bool active;
    } cases[] = {
        {"{}", true},
        {"{\"currentState\":{\"state\":\"ACTIVE\"}}", true},
        {"{\"currentState\":{\"state\":\"DEAD\"}}", false},
        {"{\"currentState\":{\"state\":\"FROZEN\"}}", false},
        {"{\"currentState\":{\"state\":\"DECOMMISSIONING\"}}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = cr_test_json(cases[i].doc);
        assert_int_equal(mb_machine_active(j), cases[i].active);
        json_decref(j);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decode_mesos),
    cmocka_unit_test(test_decode_errors),
    cmocka_unit_test(test_plan_fixtures),
    cmocka_unit_test(test_machine_active),
};

CR_TEST_MAIN(tests)
