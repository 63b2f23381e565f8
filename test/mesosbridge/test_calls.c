/* Unit tests of mesosbridge/calls.c: every call body compared with the
 * expected JSON in fixtures/calls.json (exact field names, nesting, enum
 * strings), plus offer carving. */
#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/calls.h"
#include "test/lib/cr_test.h"

static json_t *fx;

static int setup(void **state)
{
    size_t len;
    char *text = cr_test_fixture("mesosbridge/fixtures/calls.json", &len);
    json_error_t je;
    fx = json_loadb(text, len, 0, &je);
    free(text);
    return fx ? 0 : -1;
}

static int teardown(void **state)
{
    json_decref(fx);
    return 0;
}

static void expect(const char *name, json_t *got)
{
    json_t *want = json_object_get(fx, name);
    assert_non_null(want);
    if (!json_equal(want, got)) {
        char *a = json_dumps(want, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
        fprintf(stderr, "%s:\nwant %s\n got %s\n", name, a, b);
        free(a);
        free(b);
        fail();
    }
    json_decref(got);
}

static void test_subscribe(void **state)
{
    mb_framework_info fi = {.user = "svc-sched",
                            .name = "corral",
                            .hostname = "sched01.example.com",
                            .webui_url = "http://sched01.example.com:7099/"};
    expect("subscribe_first", mb_call_subscribe(&fi, NULL, NULL));
    const char *roles[] = {"batch", "svc", NULL};
    mb_framework_info fi2 = {.user = "svc-sched",
                             .name = "corral",
                             .principal = "corral",
                             .failover_timeout = 3600,
                             .roles = roles};
    expect("subscribe_again", mb_call_subscribe(&fi2, "7e1c-0003", roles));
}

static void test_simple_calls(void **state)
{
    const char *ids[] = {"7e1c-O8812", "7e1c-O8813"};
    const char *roles[] = {"batch", NULL};
    expect("decline", mb_call_decline("7e1c-0003", ids, 2, 3600));
    expect("revive", mb_call_revive("7e1c-0003", roles));
    expect("suppress", mb_call_suppress("7e1c-0003", roles));
    expect("message", mb_call_message("7e1c-0003", "7e1c-S4", "web-1", "{\"a\":1}", 7));
    expect("kill", mb_call_kill("7e1c-0003", "web-1", "7e1c-S4", 5000));
    expect("kill_plain", mb_call_kill("7e1c-0003", "web-1", NULL, -1));
    expect("acknowledge",
           mb_call_acknowledge("7e1c-0003", "7e1c-S4", "web-1", "hTaLQ0b5Q1OZuab7QclTKQ=="));
    mb_reconcile_task rt[] = {{"web-1", "7e1c-S4"}, {"web-2", NULL}};
    expect("reconcile", mb_call_reconcile("7e1c-0003", rt, 2));
    expect("reconcile_implicit", mb_call_reconcile("7e1c-0003", NULL, 0));
    expect("teardown", mb_call_teardown("7e1c-0003"));
}

static void offer_from_fixture(mb_offer *o)
{
    json_t *ev = json_pack("{s:s,s:{s:[O]}}", "type", "OFFERS", "offers", "offers",
                           json_object_get(fx, "offer"));
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    assert_int_equal(e.u.offers.n, 1);
    mb_offer_copy(o, &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
}

static void test_accept_launch(void **state)
{
    mb_offer o;
    mb_offer_left l;
    cr_err err;
    offer_from_fixture(&o);
    mb_offer_left_init(&l, &o);
    assert_true(mb_offer_left_scalar(&l, "cpus") == 7.75);
    uint64_t ports[3];
    assert_true(mb_offer_left_pick_ports(&l, 3, ports));
    assert_true(ports[0] == 31000 && ports[1] == 31001 && ports[2] == 31200);
    json_t *res = mb_offer_take(&l, 0.5, 256, 0, ports, 3, &err);
    assert_non_null(res);
    assert_true(mb_offer_left_scalar(&l, "cpus") == 7.25);
    assert_true(mb_offer_left_scalar(&l, "mem") == 14848 - 256);
    /* taken ports are not picked again, nor can they be taken twice */
    uint64_t next;
    assert_true(mb_offer_left_pick_ports(&l, 1, &next));
    assert_true(next == 31201);
    assert_null(mb_offer_take(&l, 0, 0, 0, ports, 1, &err));
    assert_null(mb_offer_take(&l, 100, 0, 0, NULL, 0, &err));
    assert_true(mb_offer_left_scalar(&l, "cpus") == 7.25); /* unchanged on failure */

    api_strmap env = {0}, labels = {0};
    api_strmap_set(&env, "PORT0", "31000");
    api_strmap_set(&env, "TASK_ID", "web-v1-1700000000000-1-agent4.example.com-r17");
    api_strmap_set(&labels, "app", "web");
    json_t *uris = json_pack("[{s:s,s:b}]", "value", "https://artifacts.example.com/server.tar.gz",
                             "extract", 1);
    mb_task_spec s = {.task_id = "web-v1-1700000000000-1-agent4.example.com-r17",
                      .name = "web",
                      .agent_id = "7e1c-S4",
                      .resources = res,
                      .command = "exec ./server --port=$PORT0",
                      .shell = true,
                      .env = &env,
                      .uris = uris,
                      .kill_grace_ms = 20000,
                      .labels = &labels};
    json_t *tis = json_array();
    json_array_append_new(tis, mb_task_info(&s));
    const char *ids[] = {o.id};
    /* the same call from the TaskInfo's text, spliced in as it is */
    char *ti_text = json_dumps(json_array_get(tis, 0), JSON_COMPACT);
    const char *texts[] = {ti_text};
    size_t lens[] = {strlen(ti_text)};
    char *call_text = mb_call_accept_text("7e1c-0003", ids, 1, texts, lens, 1, 30);
    expect("accept", json_loads(call_text, 0, NULL));
    free(call_text);
    free(ti_text);
    /* two, one of them a text's first bytes (a record's borrowed text is
     * not NUL-terminated): both, comma-separated, in the same call */
    {
        json_t *two = json_array();
        json_array_append_new(two, json_pack("{s:s}", "name", "a"));
        json_array_append_new(two, json_pack("{s:s}", "name", "b"));
        const char *tt[] = {"{\"name\":\"a\"}", "{\"name\":\"b\"}TRAILING"};
        size_t tl[] = {strlen(tt[0]), strlen(tt[1]) - strlen("TRAILING")};
        char *ct = mb_call_accept_text("7e1c-0003", ids, 1, tt, tl, 2, 30);
        json_t *want = json_deep_copy(json_object_get(fx, "accept"));
        json_t *launch = json_object_get(
            json_array_get(json_object_get(json_object_get(want, "accept"), "operations"), 0),
            "launch");
        json_object_set_new(launch, "task_infos", two);
        json_t *have = json_loads(ct, 0, NULL);
        assert_true(json_equal(want, have));
        json_decref(want);
        json_decref(have);
        free(ct);
    }
    /* without a TaskInfo or filter: no LAUNCH, no filters */
    call_text = mb_call_accept_text("7e1c-0003", ids, 1, NULL, NULL, 0, -1);
    json_t *bare = json_deep_copy(json_object_get(fx, "accept"));
    json_object_set_new(json_object_get(bare, "accept"), "operations", json_array());
    json_object_del(json_object_get(bare, "accept"), "filters");
    json_t *got = json_loads(call_text, 0, NULL);
    assert_true(json_equal(bare, got));
    json_decref(bare);
    json_decref(got);
    free(call_text);
    json_decref(tis);
    json_decref(res);
    json_decref(uris);
    api_strmap_release(&env);
    api_strmap_release(&labels);
    mb_offer_left_release(&l);
    mb_offer_release(&o);
}

static void test_task_variants(void **state)
{
    api_strmap env = {0};
    api_strmap_set(&env, "A", "1");
    json_t *res =
        json_pack("[{s:s,s:s,s:{s:f}}]", "name", "cpus", "type", "SCALAR", "scalar", "value", 1.0);
    json_t *eres =
        json_pack("[{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}}]", "name", "cpus", "type", "SCALAR",
                  "scalar", "value", 0.1, "name", "mem", "type", "SCALAR", "scalar", "value", 32.0);
    const char *data = "{\"job\":42}";
    mb_task_spec s = {.task_id = "job-v2-1700000000000-1-h-r",
                      .name = "job",
                      .agent_id = "7e1c-S4",
                      .resources = res,
                      .command = "ignored",
                      .env = &env,
                      .executor_cmd = "/usr/bin/corral-executor",
                      .executor_resources = eres,
                      .data = data,
                      .data_len = strlen(data),
                      .kill_grace_ms = -1};
    expect("task_custom_executor", mb_task_info(&s));
    api_strlist args = {0};
    api_strlist_add(&args, "-m");
    api_strlist_add(&args, "http.server");
    mb_task_spec a = {.task_id = "t1",
                      .name = "t",
                      .agent_id = "S",
                      .command = "/usr/bin/python3",
                      .arguments = &args,
                      .kill_grace_ms = -1};
    expect("task_argv", mb_task_info(&a));
    api_strlist_release(&args);
    api_strmap_release(&env);
    json_decref(res);
    json_decref(eres);
}

static void test_base64(void **state)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *b = mb_base64(in[i], strlen(in[i]));
        assert_string_equal(b, out[i]);
        free(b);
        /* and back (framework messages from executors) */
        size_t n = 99;
        unsigned char *d = mb_base64_decode(out[i], &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(in[i]));
        assert_memory_equal(d, in[i], n);
        free(d);
    }
    size_t n;
    unsigned char *d = mb_base64_decode("Zm9vYmFy", &n); /* unpadded works too */
    assert_int_equal(n, 6);
    free(d);
    d = mb_base64_decode("Zm9v", &n);
    assert_string_equal((char *)d, "foo");
    free(d);
    assert_null(mb_base64_decode("Zm9v!", &n));
    assert_null(mb_base64_decode("Zg==Zg==", &n));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_subscribe),     cmocka_unit_test(test_simple_calls),
    cmocka_unit_test(test_accept_launch), cmocka_unit_test(test_task_variants),
    cmocka_unit_test(test_base64),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, setup, teardown);
}
