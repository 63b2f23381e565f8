/* Unit tests of apis/common.c and apis/codec.c helpers: problems, source
 * maps, id rules, containers, canonical JSON. */
#include <string.h>

#include "apis/codec.h"
#include "apis/common.h"
#include "apis/keys.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static void test_problem_format(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_srcmap *sm = api_srcmap_new("m.yaml");
    api_srcmap_put(sm, "spec", 5, 1);
    api_srcmap_put(sm, "spec.resources", 7, 3);
    api_srcmap_put(sm, "spec.owners[1]", 9, 5);
    p.srcmap = sm;
    api_problems_add(&p, "spec.resources.cpus", "must be > %d", 0);
    api_problems_add(&p, "spec.owners[1].x", "bad");
    api_problems_add(&p, "", "whole document");
    p.srcmap = NULL;
    api_problems_add(&p, "id", "required");
    api_problems_add_at(&p, "f.json", 0, 0, "", "cannot open");
    char *all = api_problems_format(&p);
    assert_string_equal(all, "m.yaml:7:3: spec.resources.cpus: must be > 0\n"
                             "m.yaml:9:5: spec.owners[1].x: bad\n"
                             "m.yaml: whole document\n"
                             "id: required\n"
                             "f.json: cannot open\n");
    free(all);
    api_srcmap_free(sm);

    /* merge_new drops problems on paths already reported. */
    api_problems a = API_PROBLEMS_INIT, b = API_PROBLEMS_INIT;
    api_problems_add(&a, "spec.id", "must be a string");
    api_problems_add(&b, "spec.id", "required");
    api_problems_add(&b, "spec.idx", "other");
    api_problems_add(&b, "spec", "parent");
    api_problems_merge_new(&a, 0, &b);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.v[1].path, "spec.idx");
    assert_int_equal(b.n, 0);
    api_problems_move(&p, &a);
    assert_int_equal(p.n, 7);
    api_problems_release(&a);
    api_problems_release(&b);
    api_problems_release(&p);
}

static void test_problem_sort(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_problems_add_at(&p, "b.yaml", 9, 1, "x", "b9");
    api_problems_add_at(&p, "a.yaml", 5, 3, "x", "a5c3");
    api_problems_add_at(&p, "b.yaml", 2, 1, "x", "b2");
    api_problems_add_at(&p, "a.yaml", 5, 1, "x", "a5c1");
    api_problems_add_at(&p, "b.yaml", 2, 1, "y", "b2 second");
    api_problems_sort(&p);
    const char *want[] = {"b2", "b2 second", "b9", "a5c1", "a5c3"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(p.v[i].msg, want[i]);
    api_problems_release(&p);
}

static void test_ids(void **state)
{
    char longid[120];
    memset(longid, 'a', sizeof(longid));
    longid[100] = 0;
    assert_true(api_request_id_valid(longid));
    longid[100] = 'a';
    longid[101] = 0;
    assert_false(api_request_id_valid(longid));
    assert_true(api_request_id_valid("My-Service_2"));
    assert_false(api_request_id_valid("a.b"));
    assert_false(api_request_id_valid(""));
    assert_false(api_request_id_valid(NULL));
    assert_true(api_deploy_id_valid("71_7"));
    assert_true(api_deploy_id_valid("v1.2"));
    assert_false(api_deploy_id_valid("v-1"));
    longid[50] = 0;
    assert_true(api_deploy_id_valid(longid));
    longid[50] = 'a';
    longid[51] = 0;
    assert_false(api_deploy_id_valid(longid));
}

/* Issue 21: deploy ids "." and ".." were accepted (keys deploys/<r>/..,
 * task ids <r>-..-...) and could not be read back. One rule per kind of id,
 * each within the key rule (api_key_id_valid). */
static void test_id_rules(void **state)
{
    static const char *const bad_deploys[] = {".",   "..",  "...",   "",   "a/b",
                                              "a-b", "a b", "v1/..", "\\", NULL};
    static const char *const good_deploys[] = {"v1", "v1.2", ".v1", "a..b", "_", "0", NULL};
    static const char *const bad_runs[] = {".", "..", "r.1", "a/b", "", "r 1", NULL};
    static const char *const bad_machines[] = {".",    "..",   "",         "a/b", "a b",
                                               "a\\b", "\x7f", "\xc3\xa9", NULL};
    char longid[300];

    for (size_t i = 0; bad_deploys[i]; i++)
        if (api_deploy_id_valid(bad_deploys[i]))
            fail_msg("deploy id \"%s\" accepted", bad_deploys[i]);
    for (size_t i = 0; good_deploys[i]; i++) {
        assert_true(api_deploy_id_valid(good_deploys[i]));
        assert_true(api_key_id_valid(good_deploys[i]));
    }
    assert_false(api_deploy_id_valid(NULL));
    assert_false(api_request_id_valid("."));
    assert_false(api_request_id_valid(".."));
    assert_true(api_run_id_valid("1764016800000abc-1_x"));
    for (size_t i = 0; bad_runs[i]; i++)
        if (api_run_id_valid(bad_runs[i]))
            fail_msg("run id \"%s\" accepted", bad_runs[i]);
    assert_false(api_run_id_valid(NULL));
    assert_true(api_agent_id_valid("b7a5c2e4-9a3f-4c1e-8f0d-1b2c3d4e5f60-S0"));
    assert_true(api_rack_id_valid("rack:1.a"));
    for (size_t i = 0; bad_machines[i]; i++) {
        if (api_agent_id_valid(bad_machines[i]) || api_rack_id_valid(bad_machines[i]))
            fail_msg("machine id \"%s\" accepted", bad_machines[i]);
    }
    memset(longid, 'a', sizeof(longid));
    longid[API_MAX_MACHINE_ID] = 0;
    assert_true(api_agent_id_valid(longid));
    longid[API_MAX_MACHINE_ID] = 'a';
    longid[API_MAX_MACHINE_ID + 1] = 0;
    assert_false(api_agent_id_valid(longid));
}

static void test_containers_and_paths(void **state)
{
    api_strmap m = {0};
    api_strmap_set(&m, "A", "1");
    api_strmap_set(&m, "B", "2");
    api_strmap_set(&m, "A", "3");
    assert_int_equal(m.n, 2);
    assert_string_equal(api_strmap_get(&m, "A"), "3");
    assert_null(api_strmap_get(&m, "C"));
    api_strmap_release(&m);
    api_strlist l = {0};
    api_strlist_add(&l, "x");
    assert_true(api_strlist_contains(&l, "x"));
    assert_false(api_strlist_contains(&l, "y"));
    api_strlist_release(&l);

    char *s = api_path_join("", "a");
    assert_string_equal(s, "a");
    free(s);
    s = api_path_join("spec", "a");
    assert_string_equal(s, "spec.a");
    free(s);
    s = api_path_index("spec.uris", 2);
    assert_string_equal(s, "spec.uris[2]");
    free(s);

    json_error_t e;
    json_t *j = json_loads("{\"b\": 1, \"a\": [true, 1.5]}", 0, &e);
    s = api_json_canonical(j);
    assert_string_equal(s, "{\"a\":[true,1.5],\"b\":1}");
    free(s);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_problem_format),
    cmocka_unit_test(test_problem_sort),
    cmocka_unit_test(test_ids),
    cmocka_unit_test(test_id_rules),
    cmocka_unit_test(test_containers_and_paths),
};

CR_TEST_MAIN(tests)
