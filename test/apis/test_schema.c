/* apis/schema: the layout record and the leader's decision over it. */
#include "test/lib/cr_test.h"

#include <stdlib.h>
#include <string.h>

#include "apis/schema.h"

static void test_decode_encode(void **state)
{
    const char *in = "{\"version\":1,\"writers\":[\"0.1.0\",\"0.2.0\"],\"updatedAt\":5,"
                     "\"migration\":{\"to\":2,\"after\":\"/corral/requests/web\"},"
                     "\"note\":{\"by\":\"a newer release\"}}";
    api_schema s;
    cr_err err;
    char *out;

    assert_int_equal(api_schema_decode(in, strlen(in), &s, &err), 0);
    assert_int_equal(s.version, 1);
    assert_int_equal(s.writers.n, 2);
    assert_string_equal(s.writers.v[1], "0.2.0");
    assert_int_equal(s.updated_at, 5);
    assert_int_equal(s.migrating_to, 2);
    assert_string_equal(s.migrated_after, "/corral/requests/web");
    out = api_schema_encode(&s);
    /* Sorted keys; the unknown field kept as it was. */
    assert_string_equal(out, "{\"migration\":{\"after\":\"/corral/requests/web\",\"to\":2},"
                             "\"note\":{\"by\":\"a newer release\"},\"updatedAt\":5,"
                             "\"version\":1,\"writers\":[\"0.1.0\",\"0.2.0\"]}");
    free(out);
    api_schema_release(&s);
}

static void test_decode_errors(void **state)
{
    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"version\":0}",
        "{\"version\":\"1\"}",
        "{\"version\":1,\"writers\":\"0.1.0\"}",
        "{\"version\":1,\"writers\":[1]}",
        "{\"version\":1,\"migration\":{\"to\":1}}",
        "{\"version\":1,\"migration\":{\"to\":2,\"after\":3}}",
    };
    api_schema s;
    cr_err err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(api_schema_decode(bad[i], strlen(bad[i]), &s, &err), -1);
        assert_int_equal(err.code, CR_EPARSE);
        assert_int_equal(s.version, 0); /* released */
    }
}

static void test_add_writer(void **state)
{
    api_schema s = {.version = 1};
    char name[16];

    assert_true(api_schema_add_writer(&s, "0.1.0"));
    assert_false(api_schema_add_writer(&s, "0.1.0")); /* already last */
    assert_true(api_schema_add_writer(&s, "0.2.0"));
    assert_true(api_schema_add_writer(&s, "0.1.0")); /* a rollback: moved last */
    assert_int_equal(s.writers.n, 2);
    assert_string_equal(s.writers.v[0], "0.2.0");
    assert_string_equal(s.writers.v[1], "0.1.0");
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "1.%d.0", i);
        api_schema_add_writer(&s, name);
    }
    assert_int_equal(s.writers.n, API_SCHEMA_MAX_WRITERS);
    assert_string_equal(s.writers.v[API_SCHEMA_MAX_WRITERS - 1], "1.19.0");
    assert_string_equal(s.writers.v[0], "1.12.0");
    api_schema_release(&s);
}

static api_migrate_op keep(const char *prefix, const char *key, const char *value, size_t len,
                           char **out)
{
    return API_MIGRATE_KEEP;
}

static void test_plan(void **state)
{
    const api_migration m12[] = {{1, "1 -> 2: nothing", keep}};
    api_schema s = {.version = 1};
    cr_err err;

    /* No key: layout 1 from before versioning, or an empty prefix. */
    assert_int_equal(api_schema_plan(NULL, 1, "0.1.0", NULL, 0, &err), API_SCHEMA_WRITE);
    /* Same layout: record the writer once, then just lead. */
    assert_int_equal(api_schema_plan(&s, 1, "0.1.0", NULL, 0, &err), API_SCHEMA_WRITE);
    api_schema_add_writer(&s, "0.1.0");
    assert_int_equal(api_schema_plan(&s, 1, "0.1.0", NULL, 0, &err), API_SCHEMA_LEAD);
    /* Older: migrate when a path exists, else refuse. */
    assert_int_equal(api_schema_plan(&s, 2, "0.2.0", m12, 1, &err), API_SCHEMA_MIGRATE);
    assert_int_equal(api_schema_plan(&s, 3, "0.3.0", m12, 1, &err), API_SCHEMA_REFUSE);
    assert_int_equal(err.code, CR_EUNSUPPORTED);
    assert_non_null(strstr(cr_err_msg(&err), "no migration from layout 2 to 3"));
    /* Newer: refuse, naming both versions and who wrote it. */
    s.version = 2;
    api_schema_add_writer(&s, "0.2.0");
    assert_int_equal(api_schema_plan(&s, 1, "0.1.0", NULL, 0, &err), API_SCHEMA_REFUSE);
    assert_int_equal(err.code, CR_EUNSUPPORTED);
    assert_non_null(strstr(cr_err_msg(&err), "etcd layout version 2 (written by Corral 0.2.0) "
                                             "is newer than this corrald (0.1.0) knows (1)"));
    /* A migration under way counts as its target: an old leader keeps out. */
    s.version = 1;
    s.migrating_to = 2;
    assert_int_equal(api_schema_plan(&s, 1, "0.1.0", NULL, 0, &err), API_SCHEMA_REFUSE);
    assert_int_equal(api_schema_plan(&s, 2, "0.2.0", m12, 1, &err), API_SCHEMA_MIGRATE);
    api_schema_release(&s);
}

/* This build: layout 1, the first, so no migration yet. */
static void test_this_build(void **state)
{
    size_t n = 99;

    assert_int_equal(API_SCHEMA_VERSION, 1);
    assert_non_null(api_schema_migrations(&n));
    assert_int_equal(n, 0);
    assert_string_equal(api_schema_action_name(API_SCHEMA_REFUSE), "refuse");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decode_encode), cmocka_unit_test(test_decode_errors),
    cmocka_unit_test(test_add_writer),    cmocka_unit_test(test_plan),
    cmocka_unit_test(test_this_build),
};
CR_TEST_MAIN(tests)
