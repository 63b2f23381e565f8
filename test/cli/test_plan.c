/* Unit tests of cli/plan.c: the readable JSON diff, ownership of requests
 * by a manifest set, the prune plan (never an object the set does not own)
 * and the default set name. */
#include <stdlib.h>
#include <string.h>

#include "cli/plan.h"
#include "test/lib/cr_test.h"

static json_t *j(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return v;
}

static void test_diff_equal_is_null(void **state)
{
    json_t *a = j("{\"id\":\"web\",\"instances\":2,\"owners\":[\"a\"]}");
    json_t *b = j("{\"owners\":[\"a\"],\"instances\":2,\"id\":\"web\"}");
    assert_null(cli_json_diff(a, b, ""));
    json_decref(a);
    json_decref(b);
}

static void test_diff_lines(void **state)
{
    json_t *a = j("{\"id\":\"web\",\"instances\":1,\"rackSensitive\":true,"
                  "\"resources\":{\"cpus\":1,\"memoryMb\":64},\"owners\":[\"a\"]}");
    json_t *b = j("{\"id\":\"web\",\"instances\":3,\"schedule\":\"*/5 * * * *\","
                  "\"resources\":{\"cpus\":1,\"memoryMb\":128},\"owners\":[\"a\",\"b\"]}");
    char *d = cli_json_diff(a, b, "  ");
    assert_non_null(d);
    /* sorted by key, nested paths dotted, arrays as whole values */
    assert_string_equal(d, "  ~ instances: 1 -> 3\n"
                           "  ~ owners: [\"a\"] -> [\"a\",\"b\"]\n"
                           "  - rackSensitive: true\n"
                           "  ~ resources.memoryMb: 64 -> 128\n"
                           "  + schedule: \"*/5 * * * *\"\n");
    free(d);
    json_decref(a);
    json_decref(b);
}

static void test_diff_from_nothing(void **state)
{
    json_t *empty = json_object(), *b = j("{\"id\":\"x\",\"requestType\":\"WORKER\"}");
    char *d = cli_json_diff(empty, b, "");
    assert_string_equal(d, "+ id: \"x\"\n+ requestType: \"WORKER\"\n");
    free(d);
    d = cli_json_diff(b, NULL, "");
    assert_string_equal(d, "- (document): {\"id\":\"x\",\"requestType\":\"WORKER\"}\n");
    free(d);
    /* a type change of a leaf is a change, not add + remove */
    json_t *s = j("{\"v\":\"1\"}"), *n = j("{\"v\":1}");
    d = cli_json_diff(s, n, "");
    assert_string_equal(d, "~ v: \"1\" -> 1\n");
    free(d);
    json_decref(s);
    json_decref(n);
    json_decref(empty);
    json_decref(b);
}

static const char *PARENTS =
    "[{\"request\":{\"id\":\"a\"},\"activeDeploy\":{\"id\":\"1\",\"metadata\":"
    "{\"corral.io/applied-by\":\"team-a\"}}},"
    /* owned through its pending deploy */
    " {\"request\":{\"id\":\"b\"},\"activeDeploy\":{\"id\":\"1\"},\"pendingDeploy\":"
    "{\"id\":\"2\",\"metadata\":{\"corral.io/applied-by\":\"team-a\"}}},"
    /* another set */
    " {\"request\":{\"id\":\"c\"},\"activeDeploy\":{\"id\":\"1\",\"metadata\":"
    "{\"corral.io/applied-by\":\"team-b\"}}},"
    /* created by hand: no label, other metadata */
    " {\"request\":{\"id\":\"d\"},\"activeDeploy\":{\"id\":\"1\",\"metadata\":{\"x\":\"y\"}}},"
    /* no deploy at all */
    " {\"request\":{\"id\":\"e\"}},"
    /* label of a set whose name is a prefix of ours */
    " {\"request\":{\"id\":\"f\"},\"activeDeploy\":{\"id\":\"1\",\"metadata\":"
    "{\"corral.io/applied-by\":\"team\"}}},"
    /* still in the set */
    " {\"request\":{\"id\":\"g\"},\"activeDeploy\":{\"id\":\"1\",\"metadata\":"
    "{\"corral.io/applied-by\":\"team-a\"}}}]";

static void test_ownership(void **state)
{
    json_t *ps = j(PARENTS);
    assert_true(cli_parent_owned_by(json_array_get(ps, 0), "team-a"));
    assert_true(cli_parent_owned_by(json_array_get(ps, 1), "team-a"));
    assert_false(cli_parent_owned_by(json_array_get(ps, 2), "team-a"));
    assert_false(cli_parent_owned_by(json_array_get(ps, 3), "team-a"));
    assert_false(cli_parent_owned_by(json_array_get(ps, 4), "team-a"));
    assert_false(cli_parent_owned_by(json_array_get(ps, 5), "team-a"));
    assert_string_equal(cli_deploy_set(json_object_get(json_array_get(ps, 2), "activeDeploy")),
                        "team-b");
    assert_null(cli_deploy_set(json_object_get(json_array_get(ps, 3), "activeDeploy")));
    json_decref(ps);
}

static void test_prune_plan(void **state)
{
    json_t *ps = j(PARENTS);
    api_strlist keep = {0}, out = {0};
    api_strlist_add(&keep, "g");
    cli_prune_plan(ps, &keep, "team-a", &out);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0], "a");
    assert_string_equal(out.v[1], "b");
    api_strlist_release(&out);
    /* team-b prunes only c; a set owning nothing prunes nothing */
    cli_prune_plan(ps, &keep, "team-b", &out);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "c");
    api_strlist_release(&out);
    cli_prune_plan(ps, &keep, "nobody", &out);
    assert_int_equal(out.n, 0);
    /* an empty server list, or one that is not a list */
    json_t *none = json_array();
    cli_prune_plan(none, &keep, "team-a", &out);
    cli_prune_plan(NULL, &keep, "team-a", &out);
    assert_int_equal(out.n, 0);
    json_decref(none);
    api_strlist_release(&keep);
    json_decref(ps);
}

static void test_deploy_comparable(void **state)
{
    json_t *d = j("{\"id\":\"v1\",\"timestamp\":123,\"command\":\"x\",\"metadata\":"
                  "{\"corral.io/applied-by\":\"s\"}}");
    json_t *c = cli_deploy_comparable(d), *want = j("{\"id\":\"v1\",\"command\":\"x\"}");
    assert_true(json_equal(c, want));
    json_decref(c);
    json_decref(want);
    json_decref(d);
    d = j("{\"id\":\"v1\",\"metadata\":{\"corral.io/applied-by\":\"s\",\"team\":\"t\"}}");
    c = cli_deploy_comparable(d);
    want = j("{\"id\":\"v1\",\"metadata\":{\"team\":\"t\"}}");
    assert_true(json_equal(c, want));
    json_decref(c);
    json_decref(want);
    json_decref(d);
}

static void test_set_name(void **state)
{
    const char *a[] = {"/srv/app/web.yaml", "/srv/app/db.yaml"};
    const char *b[] = {"/srv/app/db.yaml", "/srv/app/web.yaml"};
    const char *c[] = {"/srv/other/db.yaml", "/srv/app/web.yaml"};
    const char *d[] = {"/srv/manifests/"};
    char *na = cli_set_name_from_paths(a, 2), *nb = cli_set_name_from_paths(b, 2);
    char *nc = cli_set_name_from_paths(c, 2), *nd = cli_set_name_from_paths(d, 1);
    assert_string_equal(na, nb); /* order does not matter */
    assert_string_not_equal(na, nc);
    assert_int_equal(strncmp(na, "db.yaml-", 8), 0);
    assert_int_equal(strlen(na), strlen("db.yaml-") + 8);
    assert_int_equal(strncmp(nd, "manifests-", 10), 0);
    free(na);
    free(nb);
    free(nc);
    free(nd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_diff_equal_is_null), cmocka_unit_test(test_diff_lines),
    cmocka_unit_test(test_diff_from_nothing),  cmocka_unit_test(test_ownership),
    cmocka_unit_test(test_prune_plan),         cmocka_unit_test(test_deploy_comparable),
    cmocka_unit_test(test_set_name),
};

CR_TEST_MAIN(tests)
