/* Helpers shared by the apiserver tests that call the API on a cache fed by
 * hand: the fixture (the cache, its memo and index, the config without and
 * with the memo, and with both), records loaded from a fixture file, one
 * request made as the server makes it, and answers compared with a fixture
 * file.
 *
 * Static inline, as test/store/testutil.h: the Makefile links each test
 * binary with test/lib/ alone. */
#ifndef TEST_APISERVER_ASTEST_H
#define TEST_APISERVER_ASTEST_H

#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "apiserver/as_api.h"
#include "apiserver/as_index.h"
#include "apiserver/as_memo.h"
#include "apiserver/as_route.h"
#include "base/buf.h"
#include "base/xalloc.h"

typedef struct astest_fx {
    as_cache *c;
    as_memo *memo;
    as_index *index;
    /* without and with the memo; indexed: with the memo and the index */
    as_api_config cfg, memoized, indexed;
    /* What every call asks with but its method, path, query and body:
     * alice at 100000 with nonce "n0" unless the test says otherwise. */
    as_req base;
    int64_t rev; /* for a test that feeds the cache revisions of its own */
} astest_fx;

/* Puts the records of test/<fixture> (key TAB value lines; '#' starts a
 * comment) into c, one revision each after c's, and marks c synced. With
 * rewrite, a record is put with the value rewrite returns for it (freed
 * here), or its own where rewrite returns NULL. */
static inline void astest_load(as_cache *c, const char *fixture,
                               char *(*rewrite)(const char *key, const char *value))
{
    size_t len;
    char *text = cr_test_fixture(fixture, &len);
    int64_t rev = as_cache_revision(c);

    for (char *line = text, *next; line && *line; line = next) {
        char *nl = strchr(line, '\n'), *tab, *other;
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if (*line == '#' || !(tab = strchr(line, '\t')))
            continue;
        *tab = '\0';
        other = rewrite ? rewrite(line, tab + 1) : NULL;
        rev++;
        as_cache_put_raw(c, line, other ? other : tab + 1, strlen(other ? other : tab + 1), rev,
                         rev);
        free(other);
    }
    free(text);
    as_cache_set_revision(c, rev);
    as_cache_set_synced(c, true);
}

/* A fixture with an empty cache (freed by astest_teardown): fill the cache,
 * then astest_setup_done. */
static inline astest_fx *astest_fx_new(void)
{
    astest_fx *f = xcalloc(1, sizeof(*f));

    f->c = as_cache_new();
    return f;
}

/* Finishes the setup of f once its cache holds what the test reads: the
 * memo, the configs (prefix /corral), the calls' base; *state = f. Returns
 * 0, as a cmocka setup does. */
static inline int astest_setup_done(void **state, astest_fx *f)
{
    f->memo = as_memo_new(f->c);
    f->cfg.prefix = "/corral";
    f->cfg.max_scale_down_unacked = 10;
    f->memoized = f->cfg;
    f->memoized.memo = f->memo;
    f->index = as_index_new(f->c, "/corral");
    f->indexed = f->memoized;
    f->indexed.index = f->index;
    f->base = (as_req){.user = "alice", .now = 100000, .nonce = "n0"};
    *state = f;
    return 0;
}

/* A cmocka setup's body: a fixture holding the documents of
 * test/apiserver/fixtures/cluster.json ({key: value}; null: not JSON), one
 * revision each in key order. */
static inline int astest_setup_cluster(void **state)
{
    astest_fx *f = astest_fx_new();
    json_t *j = cr_test_fixture_json("apiserver/fixtures/cluster.json");
    const char *key;
    json_t *v;

    json_object_foreach (j, key, v) {
        f->rev++;
        as_cache_put(f->c, key, json_is_null(v) ? NULL : json_incref(v), f->rev, f->rev);
    }
    json_decref(j);
    as_cache_set_synced(f->c, true);
    return astest_setup_done(state, f);
}

/* A cmocka setup's body: a fixture with the records of test/<fixture>. */
static inline int astest_setup_records(void **state, const char *fixture)
{
    astest_fx *f = astest_fx_new();

    astest_load(f->c, fixture, NULL);
    return astest_setup_done(state, f);
}

static inline int astest_teardown(void **state)
{
    astest_fx *f = *state;

    as_index_free(f->index);
    as_memo_free(f->memo);
    as_cache_free(f->c);
    free(f);
    return 0;
}

/* One request: method path?query (query may be NULL) with body (NULL when
 * empty), the rest from f->base. The path must route and the query parse.
 * init -> req -> release; k must not move in between. */
typedef struct astest_call {
    as_match m;
    as_query_kv *q;
    size_t nq;
    as_req req;
} astest_call;

static inline void astest_call_init(astest_call *k, const astest_fx *f, unsigned method,
                                    const char *path, const char *query, const char *body)
{
    memset(k, 0, sizeof(*k));
    assert_int_equal(as_route_match(method, path, &k->m), AS_ROUTE_OK);
    assert_int_equal(as_query_parse(query, &k->q, &k->nq), 0);
    k->req = f->base;
    k->req.method = method;
    k->req.match = &k->m;
    k->req.query = k->q;
    k->req.nquery = k->nq;
    k->req.body = body;
    k->req.body_len = body ? strlen(body) : 0;
}

static inline void astest_call_release(astest_call *k)
{
    as_query_free(k->q, k->nq);
    as_match_release(&k->m);
}

/* The whole answer of GET path?query with cfg (caller frees): /metrics'
 * text, or as_api_handle's body encoded as the server does (or the bytes
 * it came encoded in), its status 200. */
static inline char *astest_whole(astest_fx *f, const as_api_config *cfg, const char *path,
                                 const char *query)
{
    astest_call k;
    as_result r;
    char *out;

    astest_call_init(&k, f, AS_GET, path, query, NULL);
    if (k.m.op == AS_OP_METRICS) {
        cr_buf b = CR_BUF_INIT;
        as_api_metrics(cfg, f->c, &b);
        out = cr_buf_detach(&b, NULL);
    } else {
        as_api_handle(cfg, f->c, &k.req, &r);
        assert_int_equal(r.status, 200);
        out = r.json ? xstrdup(r.json) : json_dumps(r.body, AS_JSON_FLAGS);
        as_result_release(&r);
    }
    astest_call_release(&k);
    return out;
}

/* What astest_answer writes of an answer besides its status. */
enum {
    ASTEST_BODY = 1 << 0, /* the body */
    ASTEST_CMPS = 1 << 1, /* the txn's compares, "cmp key = mod_revision" */
    ASTEST_PUTS = 1 << 2, /* the txn's puts, "put key = value" */
};

/* Appends "== METHOD path[?query][ (memo)]\n<status>\n", what flags ask of
 * the answer, and "\n". Lists are written 3 entries a call, as the server
 * does in pieces. */
static inline void astest_answer(astest_fx *f, const as_api_config *cfg, unsigned method,
                                 const char *path, const char *query, const char *body,
                                 unsigned flags, cr_buf *out)
{
    astest_call k;
    as_result r = {0};

    cr_buf_addf(out, "== %s %s%s%s%s\n", as_method_name(method), path, query ? "?" : "",
                query ? query : "", cfg->memo ? " (memo)" : "");
    astest_call_init(&k, f, method, path, query, body);
    if (as_list_op(k.m.op)) {
        as_list *l = as_list_new(cfg, f->c, &k.req, &r);
        cr_buf_addf(out, "%d\n", l ? 200 : r.status);
        while (l && !as_list_next(l, f->c, out, 3))
            ;
        as_list_free(l);
    } else {
        as_api_handle(cfg, f->c, &k.req, &r);
        cr_buf_addf(out, "%d\n", r.status);
    }
    if (r.json && (flags & ASTEST_BODY)) {
        cr_buf_adds(out, r.json); /* encoded already (a GET from the memo) */
    } else if (r.body && (flags & ASTEST_BODY)) {
        char *t = json_dumps(r.body, AS_JSON_FLAGS);
        cr_buf_adds(out, t);
        free(t);
    }
    for (size_t i = 0; i < r.txn.ncmp && (flags & ASTEST_CMPS); i++)
        cr_buf_addf(out, "\ncmp %s = %lld", r.txn.cmp[i].key, (long long)r.txn.cmp[i].mod_revision);
    for (size_t i = 0; i < r.txn.nput && (flags & ASTEST_PUTS); i++)
        cr_buf_addf(out, "\nput %s = %s", r.txn.put[i].key,
                    r.txn.put[i].value ? r.txn.put[i].value : "(delete)");
    cr_buf_addch(out, '\n');
    as_result_release(&r);
    astest_call_release(&k);
}

/* Fails at the first line where got and want differ, naming its "== "
 * section. */
static inline void astest_first_difference(const char *got, const char *want)
{
    const char *g = got, *w = want, *section = "(start)";
    size_t line = 1;
    while (*g && *g == *w) {
        if (*g == '\n') {
            line++;
            if (strncmp(g + 1, "== ", 3) == 0)
                section = g + 1;
        }
        g++;
        w++;
    }
    fail_msg("answers differ at line %zu, in section %.120s\n got: %.300s\nwant: %.300s", line,
             section, g, w);
}

/* Checks that out holds the bytes of test/<fixture>; with
 * CORRAL_WRITE_ANSWERS=<file>, writes them to that file instead (how the
 * fixture is made). */
static inline void astest_check_answers(const cr_buf *out, const char *fixture)
{
    const char *write_to = getenv("CORRAL_WRITE_ANSWERS");

    if (write_to && *write_to) {
        FILE *fp = fopen(write_to, "w");
        assert_non_null(fp);
        fwrite(out->data, 1, out->len, fp);
        fclose(fp);
    } else {
        size_t len;
        char *want = cr_test_fixture(fixture, &len);
        if (len != out->len || memcmp(want, out->data, len) != 0)
            astest_first_difference(cr_buf_str(out), want);
        free(want);
    }
}

/* Fails unless got and want are both NULL or the same string; what and key
 * name the field and the record. */
static inline void astest_same_str(const char *got, const char *want, const char *what,
                                   const char *key)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
        fail_msg("%s of %s: got %s, want %s", what, key, got ? got : "(null)",
                 want ? want : "(null)");
}

/* Fails unless /metrics and /api/state (with the provisioning ids) are the
 * same bytes counted with f's index (f->indexed) as walked (f->cfg). */
static inline void astest_check_indexed(astest_fx *f, const char *when)
{
    static const char *const reads[][2] = {{"/metrics", NULL},
                                           {"/api/state", "includeRequestIds=true"}};

    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        char *want = astest_whole(f, &f->cfg, reads[i][0], reads[i][1]);
        char *got = astest_whole(f, &f->indexed, reads[i][0], reads[i][1]);
        if (strcmp(got, want) != 0)
            fail_msg("%s: %s indexed:\n%s\nwalked:\n%s", when, reads[i][0], got, want);
        free(got);
        free(want);
    }
}

#endif
