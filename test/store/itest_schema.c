/* store_schema against a real etcd: the layout record written on a fresh
 * prefix, a no-op migration that only moves the version, a migration that
 * changes documents in batches (idempotent: a second run changes nothing),
 * resuming a migration a previous leader left half-way, fencing, and the
 * refusal to lead over a newer layout. Each test uses a prefix of its own. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "apis/schema.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/schema.h"
#include "store/store.h"
#include "test/lib/etcd_harness.h"
#include "test/store/testutil.h"

typedef struct fx {
    struct event_base *base;
    cr_http *http;
    store *s;
    char prefix[64];
    char leader_key[96];
    int64_t fence;
} fx;

static cr_etcd *g_etcd;
static int g_n;

static int group_setup(void **state)
{
    cr_etcd_opts o = {.members = 1};

    g_etcd = cr_etcd_start(&o);
    return g_etcd ? 0 : -1;
}

static int group_teardown(void **state)
{
    cr_etcd_free(g_etcd);
    return 0;
}

#define WAIT(f, w) assert_true(run_until_flag((f)->base, &(w)->done, 1, 10000))

static void put(fx *f, const char *key, const char *value)
{
    waiter w = {0};
    cr_err err;

    assert_int_equal(store_put(f->s, key, value, strlen(value), NULL, waiter_cb, &w, &err), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    waiter_reset(&w);
}

/* The value at key (caller frees; NULL if absent) and its mod_revision. */
static char *get(fx *f, const char *key, int64_t *mod)
{
    waiter w = {0};
    cr_err err;
    char *v = NULL;

    assert_int_equal(store_get(f->s, key, 0, waiter_cb, &w, &err), 0);
    WAIT(f, &w);
    assert_true(w.ok);
    if (w.nkvs) {
        v = xstrdup(w.kvs[0].value);
        if (mod)
            *mod = w.kvs[0].mod_revision;
    }
    waiter_reset(&w);
    return v;
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    store_config cfg = {.endpoints = cr_etcd_endpoints(g_etcd), .timeout_ms = 3000};
    cr_err err;
    waiter w = {0};

    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->s = store_new(f->base, f->http, &cfg, &err);
    assert_non_null(f->s);
    snprintf(f->prefix, sizeof(f->prefix), "/schema-test-%d", ++g_n);
    snprintf(f->leader_key, sizeof(f->leader_key), "%s/leader", f->prefix);
    /* A leader key of our own to fence on. */
    assert_int_equal(store_put(f->s, f->leader_key, "{}", 2, NULL, waiter_cb, &w, &err), 0);
    WAIT(f, &w);
    f->fence = w.revision;
    waiter_reset(&w);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    store_free(f->s);
    cr_http_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

typedef struct result {
    int done;
    bool ok;
    cr_err err;
    store_schema_stats st;
} result;

static void on_done(void *arg, const cr_err *err)
{
    result *r = arg;
    r->done++;
    r->ok = !err;
    if (err)
        r->err = *err;
}

/* One store_schema_ensure to its answer. The stats are read through a
 * wrapper because they are valid inside the callback only. */
typedef struct runctx {
    result *res;
    store_schema_run *run;
} runctx;

static void on_done_stats(void *arg, const cr_err *err)
{
    runctx *c = arg;
    c->res->st = *store_schema_stats_of(c->run);
    on_done(c->res, err);
}

static result ensure(fx *f, int layout, const api_migration *m, size_t n, size_t batch,
                     const char *release, int64_t fence)
{
    store_schema_config cfg = {.prefix = f->prefix,
                               .leader_key = f->leader_key,
                               .fence = fence,
                               .release = release,
                               .layout = layout,
                               .migrations = m,
                               .nmigrations = n,
                               .batch = batch};
    result r = {0};
    runctx c = {&r, NULL};
    cr_err err;

    c.run = store_schema_ensure(f->s, &cfg, on_done_stats, &c, &err);
    assert_non_null(c.run);
    assert_true(run_until_flag(f->base, &r.done, 1, 20000));
    return r;
}

static char *key(fx *f, const char *rest)
{
    return xasprintf("%s/%s", f->prefix, rest);
}

/* ---- migrations used by the tests --------------------------------------------------- */

static api_migrate_op keep(const char *prefix, const char *k, const char *value, size_t len,
                           char **out)
{
    return API_MIGRATE_KEEP;
}

/* 1 -> 2: requests get "layout2": true; "obsolete/" keys go. Idempotent. */
static api_migrate_op add_field(const char *prefix, const char *k, const char *value, size_t len,
                                char **out)
{
    size_t p = strlen(prefix);

    if (strncmp(k + p, "/obsolete/", 10) == 0)
        return API_MIGRATE_DELETE;
    if (strncmp(k + p, "/requests/", 10) != 0 || strstr(value, "\"layout2\""))
        return API_MIGRATE_KEEP;
    /* value is "{...}": add the field before the closing brace */
    *out = xasprintf("%.*s,\"layout2\":true}", (int)(len - 1), value);
    return API_MIGRATE_PUT;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_fresh_prefix_records_layout(void **state)
{
    fx *f = *state;
    char *k = key(f, "schema"), *v;
    int64_t mod1 = 0, mod2 = 0;
    result r = ensure(f, 0, NULL, 0, 0, "0.1.0", f->fence);

    assert_true(r.ok);
    assert_int_equal(r.st.found_version, 0);
    v = get(f, k, &mod1);
    assert_non_null(strstr(v, "\"version\":1"));
    assert_non_null(strstr(v, "\"writers\":[\"0.1.0\"]"));
    free(v);
    /* Again: nothing to write. */
    r = ensure(f, 0, NULL, 0, 0, "0.1.0", f->fence);
    assert_true(r.ok);
    assert_int_equal(r.st.found_version, 1);
    free(get(f, k, &mod2));
    assert_int_equal(mod1, mod2);
    free(k);
}

static void test_noop_migration_moves_version_only(void **state)
{
    fx *f = *state;
    const api_migration m[] = {{1, "1 -> 2: no document changes", keep}};
    char *k = key(f, "schema"), *req = key(f, "requests/web"), *v;
    int64_t before = 0, after = 0;
    result r;

    put(f, k, "{\"version\":1,\"writers\":[\"0.1.0\"]}");
    put(f, req, "{\"id\":\"web\"}");
    free(get(f, req, &before));
    r = ensure(f, 2, m, 1, 0, "0.2.0", f->fence);
    assert_true(r.ok);
    assert_int_equal(r.st.found_version, 1);
    assert_int_equal(r.st.version, 2);
    assert_int_equal(r.st.migrated_keys, 0);
    v = get(f, k, NULL);
    assert_non_null(strstr(v, "\"version\":2"));
    assert_non_null(strstr(v, "\"writers\":[\"0.1.0\",\"0.2.0\"]"));
    assert_null(strstr(v, "migration"));
    free(v);
    free(get(f, req, &after));
    assert_int_equal(before, after);
    free(k);
    free(req);
}

static void test_migration_in_batches_is_idempotent(void **state)
{
    fx *f = *state;
    const api_migration m[] = {{1, "1 -> 2: requests get layout2", add_field}};
    char *k = key(f, "schema"), *v;
    result r;

    put(f, k, "{\"version\":1,\"writers\":[\"0.1.0\"]}");
    for (int i = 0; i < 7; i++) {
        char name[32], *rk;
        snprintf(name, sizeof(name), "requests/r%d", i);
        rk = key(f, name);
        put(f, rk, "{\"id\":\"x\"}");
        free(rk);
    }
    put(f, v = key(f, "obsolete/a"), "{}");
    free(v);
    put(f, v = key(f, "tasks/web/t1"), "{\"taskId\":{}}");
    free(v);
    r = ensure(f, 2, m, 1, 3, "0.2.0", f->fence);
    assert_true(r.ok);
    assert_int_equal(r.st.migrated_keys, 8); /* 7 requests, 1 delete */
    assert_true(r.st.txns >= 3);             /* batches of 3 */
    for (int i = 0; i < 7; i++) {
        char name[32], *rk;
        snprintf(name, sizeof(name), "requests/r%d", i);
        rk = key(f, name);
        v = get(f, rk, NULL);
        assert_string_equal(v, "{\"id\":\"x\",\"layout2\":true}");
        free(v);
        free(rk);
    }
    assert_null(get(f, v = key(f, "obsolete/a"), NULL));
    free(v);
    v = get(f, k, NULL);
    assert_non_null(strstr(v, "\"version\":2"));
    free(v);
    /* Running it again (as if another leader had not seen it end) changes
     * nothing: the layout is current. */
    r = ensure(f, 2, m, 1, 3, "0.2.0", f->fence);
    assert_true(r.ok);
    assert_int_equal(r.st.migrated_keys, 0);
    free(k);
}

static void test_resumes_after_a_dead_leader(void **state)
{
    fx *f = *state;
    const api_migration m[] = {{1, "1 -> 2: requests get layout2", add_field}};
    char *k = key(f, "schema"), *a = key(f, "requests/a"), *b = key(f, "requests/b"),
         *c = key(f, "requests/c"), *doc, *v;
    int64_t mod_a = 0, mod_a2 = 0;
    result r;

    /* A leader migrated a and b, recorded "after b", and died. */
    put(f, a, "{\"id\":\"a\",\"layout2\":true}");
    put(f, b, "{\"id\":\"b\",\"layout2\":true}");
    put(f, c, "{\"id\":\"c\"}");
    doc = xasprintf("{\"version\":1,\"writers\":[\"0.2.0\"],\"migration\":{\"to\":2,"
                    "\"after\":\"%s\"}}",
                    b);
    put(f, k, doc);
    free(doc);
    free(get(f, a, &mod_a));
    /* An old release keeps out while the migration is under way. */
    r = ensure(f, 1, NULL, 0, 0, "0.1.0", f->fence);
    assert_false(r.ok);
    assert_int_equal(r.err.code, CR_EUNSUPPORTED);
    /* The new one finishes it: only c is left to change. */
    r = ensure(f, 2, m, 1, 0, "0.2.0", f->fence);
    assert_true(r.ok);
    assert_int_equal(r.st.migrated_keys, 1);
    v = get(f, c, NULL);
    assert_string_equal(v, "{\"id\":\"c\",\"layout2\":true}");
    free(v);
    free(get(f, a, &mod_a2));
    assert_int_equal(mod_a, mod_a2);
    free(k);
    free(a);
    free(b);
    free(c);
}

static void test_fenced_and_refusing(void **state)
{
    fx *f = *state;
    const api_migration m[] = {{1, "1 -> 2", add_field}};
    char *k = key(f, "schema"), *req = key(f, "requests/web"), *v;
    result r;

    put(f, k, "{\"version\":1,\"writers\":[\"0.1.0\"]}");
    put(f, req, "{\"id\":\"web\"}");
    /* A deposed leader (wrong fence) writes nothing. */
    r = ensure(f, 2, m, 1, 0, "0.2.0", f->fence + 1000);
    assert_false(r.ok);
    assert_int_equal(r.err.code, CR_ENOTLEADER);
    v = get(f, req, NULL);
    assert_string_equal(v, "{\"id\":\"web\"}");
    free(v);
    v = get(f, k, NULL);
    assert_string_equal(v, "{\"version\":1,\"writers\":[\"0.1.0\"]}");
    free(v);
    /* A newer layout: refused, and nothing written. */
    put(f, k, "{\"version\":3,\"writers\":[\"0.3.0\"]}");
    r = ensure(f, 0, NULL, 0, 0, "0.1.0", f->fence);
    assert_false(r.ok);
    assert_int_equal(r.err.code, CR_EUNSUPPORTED);
    assert_non_null(strstr(cr_err_msg(&r.err), "etcd layout version 3"));
    /* A record that does not decode: refused too. */
    put(f, k, "not json");
    r = ensure(f, 0, NULL, 0, 0, "0.1.0", f->fence);
    assert_false(r.ok);
    assert_int_equal(r.err.code, CR_EUNSUPPORTED);
    free(k);
    free(req);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_fresh_prefix_records_layout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_noop_migration_moves_version_only, setup, teardown),
    cmocka_unit_test_setup_teardown(test_migration_in_batches_is_idempotent, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resumes_after_a_dead_leader, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fenced_and_refusing, setup, teardown),
};

int main(void)
{
    const char *filter = getenv("TEST_FILTER");

    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
