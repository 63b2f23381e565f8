/* The pure part of the etcd client: encoding, decoding, paging, batching. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "store/codec.h"
#include "test/store/gwcheck.h"

static void test_b64_roundtrip(void **state)
{
    const char *cases[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *enc = store_b64_encode(cases[i][0], strlen(cases[i][0]));
        char *dec = NULL;
        size_t n = 99;

        assert_string_equal(enc, cases[i][1]);
        assert_int_equal(store_b64_decode(enc, strlen(enc), &dec, &n, NULL), 0);
        assert_int_equal(n, strlen(cases[i][0]));
        assert_string_equal(dec, cases[i][0]);
        free(enc);
        free(dec);
    }
    /* binary with NUL and high bytes */
    {
        const unsigned char bin[] = {0, 0xff, 0x10, 0x80, 0};
        char *enc = store_b64_encode(bin, sizeof(bin)), *dec;
        size_t n;

        assert_int_equal(store_b64_decode(enc, strlen(enc), &dec, &n, NULL), 0);
        assert_int_equal(n, sizeof(bin));
        assert_memory_equal(dec, bin, sizeof(bin));
        free(enc);
        free(dec);
    }
}

static void test_b64_rejects_garbage(void **state)
{
    char *out = (char *)0x1;
    cr_err err;

    assert_int_equal(store_b64_decode("Zm9v!", 5, &out, NULL, &err), -1);
    assert_int_equal(err.code, CR_EPARSE);
    assert_int_equal(store_b64_decode("Z", 1, &out, NULL, &err), -1);
    assert_int_equal(store_b64_decode("Zg=", 3, &out, NULL, &err), -1);
    assert_ptr_equal(out, (char *)0x1); /* untouched on error */
    /* a bad digit in the four-at-a-time part is found at its offset */
    assert_int_equal(store_b64_decode("Zm9vYmFy!m9v", 12, &out, NULL, &err), -1);
    assert_non_null(strstr(err.detail, "offset 8"));
    assert_ptr_equal(out, (char *)0x1);
}

static void test_b64_url_safe(void **state)
{
    char *out = NULL;
    size_t n;

    /* 0xfb 0xff 0xbf: "+/+/" in the standard alphabet, "-_-_" URL-safe */
    assert_int_equal(store_b64_decode("-_-_", 4, &out, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    free(out);
    assert_int_equal(store_b64_decode("+/+/", 4, &out, &n, NULL), 0);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    free(out);
}

static void test_prefix_end(void **state)
{
    size_t n;
    char *e = store_prefix_end("/corral/", 8, &n);

    assert_int_equal(n, 8);
    assert_memory_equal(e, "/corral0", 8);
    free(e);
    e = store_prefix_end("a\xff\xff", 3, &n);
    assert_int_equal(n, 1);
    assert_int_equal(e[0], 'b');
    free(e);
    e = store_prefix_end("\xff", 1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(e[0], '\0'); /* all keys */
    free(e);
}

static void test_int64_fields(void **state)
{
    json_t *j = json_loads("{\"a\":\"42\",\"b\":7,\"c\":\"x\",\"d\":null,"
                           "\"e\":\"18446744073709551615\",\"f\":\"-3\"}",
                           0, NULL);
    int64_t v;

    assert_int_equal(store_json_int64(j, "a", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(store_json_int64(j, "b", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(store_json_int64(j, "c", &v), -1);
    assert_int_equal(store_json_int64(j, "d", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(store_json_int64(j, "missing", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(store_json_int64(j, "e", &v), 0); /* a uint64 member id */
    assert_int_equal((uint64_t)v, 18446744073709551615ULL);
    assert_int_equal(store_json_int64(j, "f", &v), 0);
    assert_int_equal(v, -3);
    json_decref(j);
}

static void test_parse_range_answer(void **state)
{
    size_t len;
    char *body = cr_test_fixture("store/fixtures/range.json", &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    store_result r;

    assert_non_null(j);
    assert_int_equal(store_result_parse(j, false, &r, NULL), 0);
    assert_int_equal(r.revision, 7);
    assert_true(r.more);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.nkvs, 2);
    assert_string_equal(r.kvs[0].key, "/corral/requests/a");
    assert_string_equal(r.kvs[0].value, "{\"id\":\"a\"}");
    assert_int_equal(r.kvs[0].create_revision, 2);
    assert_int_equal(r.kvs[0].mod_revision, 5);
    assert_int_equal(r.kvs[0].version, 3);
    assert_int_equal(r.kvs[1].lease, 99);
    assert_true(r.succeeded);
    store_result_release(&r);
    json_decref(j);
    free(body);
}

static void test_parse_txn_answers(void **state)
{
    const char *ok = "{\"header\":{\"revision\":\"9\"},\"succeeded\":true,\"responses\":["
                     "{\"response_put\":{\"header\":{\"revision\":\"9\"}}},"
                     "{\"response_delete_range\":{\"header\":{},\"deleted\":\"2\"}}]}";
    const char *failed_empty = "{\"header\":{\"revision\":\"9\"}}";
    const char *failed_get = "{\"header\":{\"revision\":\"9\"},\"responses\":["
                             "{\"response_range\":{\"header\":{\"revision\":\"9\"},\"kvs\":[{"
                             "\"key\":\"eA==\",\"create_revision\":\"4\"}],\"count\":\"1\"}}]}";
    json_t *j;
    store_result r;

    j = json_loads(ok, 0, NULL);
    assert_int_equal(store_result_parse(j, true, &r, NULL), 0);
    assert_true(r.succeeded);
    assert_int_equal(r.nops, 2);
    assert_int_equal(r.ops[1].deleted, 2);
    assert_int_equal(r.ops[1].revision, 9); /* header without revision inherits */
    store_result_release(&r);
    json_decref(j);

    /* "succeeded" is omitted when false */
    j = json_loads(failed_empty, 0, NULL);
    assert_int_equal(store_result_parse(j, true, &r, NULL), 0);
    assert_false(r.succeeded);
    assert_int_equal(r.nops, 0);
    store_result_release(&r);
    json_decref(j);

    j = json_loads(failed_get, 0, NULL);
    assert_int_equal(store_result_parse(j, true, &r, NULL), 0);
    assert_false(r.succeeded);
    assert_int_equal(r.nops, 1);
    assert_int_equal(r.ops[0].nkvs, 1);
    assert_string_equal(r.ops[0].kvs[0].key, "x");
    assert_string_equal(r.ops[0].kvs[0].value, ""); /* absent value: empty */

    /* the fence check reads that last get */
    {
        store_txn *t = store_txn_new();
        store_txn_fence(t, "x", 4);
        assert_false(store_txn_fence_lost(t, &r));
        store_txn_fence(t, "x", 5);
        assert_true(store_txn_fence_lost(t, &r));
        store_txn_free(t);
    }
    store_result_release(&r);
    json_decref(j);

    /* a keepalive stream answer and a malformed number */
    j = json_loads("{\"result\":{\"header\":{\"revision\":\"3\"},\"ID\":\"77\",\"TTL\":\"10\"}}", 0,
                   NULL);
    assert_int_equal(store_result_parse(j, false, &r, NULL), 0);
    assert_int_equal(r.lease_id, 77);
    assert_int_equal(r.ttl, 10);
    store_result_release(&r);
    json_decref(j);
    j = json_loads("{\"header\":{\"revision\":\"x\"}}", 0, NULL);
    assert_int_equal(store_result_parse(j, false, &r, NULL), -1);
    json_decref(j);
}

static void test_errors_keep_etcd_code_and_message(void **state)
{
    const char *b = "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                    "\"etcdserver: requested lease not found\",\"code\":5}";
    const char *c = "{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
                    "\"message\":\"etcdserver: mvcc: required revision has been compacted\","
                    "\"code\":11}";
    const char *t = "{\"error\":\"etcdserver: too many operations in txn request\","
                    "\"message\":\"etcdserver: too many operations in txn request\",\"code\":3}";
    cr_err err;

    assert_int_equal(store_etcd_error(404, b, strlen(b), &err), -1);
    assert_int_equal(err.code, CR_ENOTFOUND);
    assert_string_equal(err.detail, "etcd code 5: etcdserver: requested lease not found");
    assert_int_equal(store_err_grpc_code(&err), 5);
    assert_false(store_err_compacted(&err));

    store_etcd_error(400, c, strlen(c), &err);
    assert_true(store_err_compacted(&err));
    store_etcd_error(400, t, strlen(t), &err);
    assert_int_equal(err.code, CR_ETOOLARGE);

    /* not JSON at all (a proxy page) */
    store_etcd_error(502, "<html>bad gateway</html>", 24, &err);
    assert_int_equal(err.code, CR_EETCD);
    assert_non_null(strstr(err.detail, "502"));
    assert_int_equal(store_err_grpc_code(&err), -1);
}

static void test_watch_messages(void **state)
{
    size_t len;
    char *body = cr_test_fixture("store/fixtures/watch.ndjson", &len);
    char *line, *save = NULL;
    store_watch_msg m;
    int64_t next = 0;
    int n = 0;

    for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        assert_int_equal(store_watch_msg_parse(line, strlen(line), &m, NULL), 0);
        switch (n) {
        case 0: /* created, from now */
            assert_true(m.created);
            next = store_watch_resume_rev(next, true, &m);
            assert_int_equal(next, 5);
            break;
        case 1: /* two puts in one txn, then a delete */
            assert_int_equal(m.nevents, 3);
            assert_int_equal(m.events[0].type, STORE_EV_PUT);
            assert_string_equal(m.events[0].kv.value, "bar");
            assert_string_equal(m.events[1].prev.value, "old");
            assert_int_equal(m.events[2].type, STORE_EV_DELETE);
            assert_null(m.events[2].kv.value);
            next = store_watch_resume_rev(next, true, &m);
            assert_int_equal(next, 7);
            break;
        case 2: /* progress notification */
            assert_int_equal(m.nevents, 0);
            next = store_watch_resume_rev(next, true, &m);
            assert_int_equal(next, 13);
            break;
        case 3: /* compacted */
            assert_true(m.canceled);
            assert_int_equal(m.compact_revision, 4);
            assert_int_equal(store_watch_resume_rev(next, true, &m), 13);
            break;
        case 4: /* a stream error */
            assert_true(m.is_error);
            assert_int_equal(m.err.code, CR_EUNAVAIL);
            break;
        }
        store_watch_msg_release(&m);
    }
    assert_int_equal(n, 5);
    free(body);
    /* a created message never moves a watch that started at a revision */
    {
        store_watch_msg c = {.created = true, .revision = 100};
        assert_int_equal(store_watch_resume_rev(20, false, &c), 20);
    }
    assert_int_equal(store_watch_msg_parse("{nope", 5, &m, NULL), -1);
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* The keys (sorted) read through a pager as etcd 3.4 answers a range: the
 * keys in [from, until), at most limit, `more` when some are left; *cost
 * gets the keys etcd gathered (all of the range). Asserts every key comes
 * once, in order; returns the pages. */
static size_t page_through(const char *prefix, char **keys, size_t n, size_t limit, size_t *cost)
{
    store_pager p;
    size_t at = 0, pages = 0;
    store_kv *page = calloc(limit, sizeof(*page));

    *cost = 0;
    store_pager_init(&p, prefix, limit);
    for (;;) {
        size_t got = 0, in = 0;
        bool more = false;
        assert_true(cmp_bytes(p.from, p.from_len, p.until, p.until_len) < 0);
        for (size_t i = 0; i < n; i++) {
            if (cmp_bytes(keys[i], strlen(keys[i]), p.from, p.from_len) < 0 ||
                cmp_bytes(keys[i], strlen(keys[i]), p.until, p.until_len) >= 0)
                continue;
            in++;
            if (got < limit)
                page[got++].key = keys[i];
            else
                more = true;
        }
        *cost += in;
        for (size_t i = 0; i < got; i++)
            assert_ptr_equal(page[i].key, keys[at++]); /* each once, in order */
        pages++;
        if (!store_pager_next(&p, page, got, more))
            break;
        assert_true(pages < 4 * n + 4);
    }
    assert_int_equal(at, n);
    store_pager_release(&p);
    free(page);
    return pages;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A list goes a page at a time, each up to a guessed end: every key once
 * and in order, in not many more pages than full ones would take, etcd
 * gathering a few times the keys rather than, at every page, all the keys
 * left (3.4's cost of pages up to the prefix's end: n * n / 2 / limit). */
static void test_pager(void **state)
{
    enum { N = 26000, LIMIT = 500 };
    char **keys = calloc(N, sizeof(*keys));
    size_t n = 0, cost, pages;
    uint64_t rng = 7;
    store_pager p;
    store_kv one = {.key = "/c/x"};

    /* a layout like Corral's: agents with random ids, requests, their
     * tasks (10 each), statuses, and a key of high bytes */
    for (int i = 0; i < 500; i++)
        keys[n++] = xasprintf("/c/agents/%08x-%04x-S%d", (unsigned)cr_test_rand(&rng, 1u << 31),
                              (unsigned)cr_test_rand(&rng, 1u << 16), i);
    for (int i = 0; i < 2000; i++)
        keys[n++] = xasprintf("/c/requests/svc%05d", i);
    for (int i = 0; i < 2000; i++)
        keys[n++] = xasprintf("/c/status/requests/svc%05d", i);
    for (int i = 0; i < 2140; i++)
        for (int t = 0; t < 10; t++)
            keys[n++] = xasprintf("/c/tasks/svc%05d/svc%05d-v1-17965%08d-%d-sim_agent_%d-r1", i, i,
                                  i * 37 + t, t + 1, (i * 10 + t) % 5000);
    keys[n++] = xasprintf("/c/\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    assert_true(n <= N);
    qsort(keys, n, sizeof(*keys), by_key);

    pages = page_through("/c/", keys, n, LIMIT, &cost);
    /* within a part of the layout a page costs about itself; a part's
     * end costs a page or two that find nothing and one up to the end */
    assert_true(pages <= (n + LIMIT - 1) / LIMIT + 3 * 5);
    assert_true(cost * 5 <= n * n / 2 / LIMIT);
    /* smaller lists, and none */
    assert_int_equal(page_through("/c/", keys, 1, LIMIT, &cost), 1);
    assert_int_equal(page_through("/c/", keys, 0, LIMIT, &cost), 1);
    assert_int_equal(page_through("/c/", keys, n, 100000, &cost), 1);
    page_through("/c/", keys, n, 7, &cost);
    /* keys spread evenly: the guesses land */
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    n = 0;
    for (int i = 0; i < 20000; i++)
        keys[n++] = xasprintf("/c/k%06d", i * 3);
    pages = page_through("/c/", keys, n, LIMIT, &cost);
    assert_true(pages <= n / LIMIT + 4); /* the last: two that find nothing, one to the end */
    assert_true(cost <= 3 * n);          /* the first page to the end, then ~1.25 a page */

    /* the first page goes to the prefix's end; none after the last */
    store_pager_init(&p, "/c/", 2);
    assert_memory_equal(p.from, "/c/", 3);
    assert_memory_equal(p.until, "/c0", 3);
    assert_false(store_pager_next(&p, &one, 1, false));
    store_pager_release(&p);
    store_pager_release(&p); /* twice: a no-op */

    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static void test_txn_encoding(void **state)
{
    store_txn *t = store_txn_new();
    store_put_opts po = {.lease = 12, .prev_kv = true};
    size_t len;
    char *s;
    json_t *j, *cmp, *els;

    store_txn_if_mod(t, "k", STORE_EQ, 5);
    store_txn_if_create(t, "n", STORE_EQ, 0);
    store_txn_if_value(t, "v", STORE_NE, "x", 1);
    store_txn_put(t, STORE_THEN, "k", "val", 3, &po);
    store_txn_delete(t, STORE_THEN, "dir/", true);
    store_txn_get(t, STORE_ELSE, "k", false);
    store_txn_fence(t, "/corral/leader", 33);
    assert_int_equal(store_txn_check(t, NULL), 0);
    s = store_txn_encode(t, &len);
    j = json_loads(s, 0, NULL);
    cmp = json_object_get(j, "compare");
    assert_int_equal(json_array_size(cmp), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 0), "target")),
                        "MOD");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 0), "mod_revision")),
                        "5");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 2), "result")),
                        "NOT_EQUAL");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(cmp, 3), "create_revision")), "33");
    {
        json_t *put =
            json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put");
        json_t *del = json_object_get(json_array_get(json_object_get(j, "success"), 1),
                                      "request_delete_range");
        assert_string_equal(json_string_value(json_object_get(put, "value")), "dmFs");
        assert_string_equal(json_string_value(json_object_get(put, "lease")), "12");
        assert_true(json_is_true(json_object_get(put, "prev_kv")));
        assert_string_equal(json_string_value(json_object_get(del, "range_end")), "ZGlyMA==");
    }
    els = json_object_get(j, "failure");
    assert_int_equal(json_array_size(els), 2); /* the user's get + the fence get */
    json_decref(j);
    free(s);
    store_txn_free(t);
}

static void test_txn_limits(void **state)
{
    store_txn *t = store_txn_new();
    cr_err err;
    char *big;

    for (int i = 0; i < STORE_MAX_TXN_OPS; i++)
        store_txn_put(t, STORE_THEN, "k", "v", 1, NULL);
    assert_int_equal(store_txn_check(t, &err), 0);
    store_txn_fence(t, "/l", 1); /* the fence's get does not count on the then side */
    assert_int_equal(store_txn_check(t, &err), 0);
    store_txn_put(t, STORE_THEN, "k", "v", 1, NULL);
    assert_int_equal(store_txn_check(t, &err), -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    store_txn_free(t);

    t = store_txn_new();
    big = xcalloc(1, STORE_MAX_REQUEST_BYTES);
    store_txn_put(t, STORE_THEN, "k", big, STORE_MAX_REQUEST_BYTES, NULL);
    assert_int_equal(store_txn_check(t, &err), -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    free(big);
    store_txn_free(t);

    t = store_txn_new();
    store_txn_put(t, STORE_THEN, "", "v", 1, NULL);
    assert_int_equal(store_txn_check(t, &err), -1);
    assert_int_equal(err.code, CR_EINVAL);
    store_txn_free(t);
}

static void test_txn_merge_dedupes_compares(void **state)
{
    store_txn *a = store_txn_new(), *b = store_txn_new(), *m = store_txn_new();

    store_txn_if_mod(a, "x", STORE_EQ, 1);
    store_txn_put(a, STORE_THEN, "x", "1", 1, NULL);
    store_txn_fence(a, "/l", 9);
    store_txn_if_mod(b, "x", STORE_EQ, 1);
    store_txn_put(b, STORE_THEN, "y", "2", 1, NULL);
    store_txn_merge(m, a);
    store_txn_merge(m, b);
    assert_int_equal(m->ncmps, 1);
    assert_int_equal(m->nthen, 2);
    assert_string_equal(m->then[1].key, "y");
    assert_string_equal(m->fence_key, "/l");
    assert_int_equal(m->fence_rev, 9);
    store_txn_free(a);
    store_txn_free(b);
    store_txn_free(m);
}

/* The indexes taken, as a string such as "0 1 3". */
static const char *taken(const bool *take, size_t n)
{
    static char out[256];
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && len + 8 < sizeof(out); i++)
        if (take[i])
            len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%zu", len ? " " : "", i);
    return out;
}

static void test_batch_pick(void **state)
{
    const char *ka[] = {"a"}, *kb[] = {"b"}, *kc[] = {"c"}, *kd[] = {"d"};
    bool take[8];

    /* same key: the second waits; writes after it that touch neither go,
     * unless the queue keeps its order */
    {
        store_batch_item q[4] = {
            {.nops = 1, .ncmps = 1, .bytes = 10, .keys = ka, .nkeys = 1},
            {.nops = 1, .ncmps = 1, .bytes = 10, .keys = kb, .nkeys = 1},
            {.nops = 1, .bytes = 10, .keys = ka, .nkeys = 1},
            {.nops = 2, .bytes = 10, .keys = kc, .nkeys = 1},
        };
        assert_int_equal(store_batch_pick(q, 4, false, NULL, true, 128, 1000, take), 3);
        assert_string_equal(taken(take, 4), "0 1 3");
        assert_int_equal(store_batch_pick(q, 4, true, NULL, true, 128, 1000, take), 2);
        assert_string_equal(taken(take, 4), "0 1");
        /* the one left goes next */
        assert_int_equal(store_batch_pick(q + 2, 1, false, NULL, true, 128, 1000, take), 1);
    }
    /* a write left behind holds back the later writes to its keys */
    {
        store_batch_item q[4] = {
            {.nops = 1, .keys = ka, .nkeys = 1},
            {.nops = 1, .keys = ka, .nkeys = 1},
            {.nops = 1, .keys = kb, .nkeys = 1},
            {.nops = 1, .keys = ka, .nkeys = 1},
        };
        const char *kab[] = {"a", "b"};
        q[2].keys = kab;
        q[2].nkeys = 2;
        assert_int_equal(store_batch_pick(q, 4, false, NULL, true, 128, 1000, take), 1);
        assert_string_equal(taken(take, 4), "0");
    }
    /* keys of a txn in flight wait for it to end */
    {
        store_map *busy = store_map_new();
        store_batch_item q[4] = {
            {.nops = 1, .keys = ka, .nkeys = 1},
            {.nops = 1, .keys = kb, .nkeys = 1},
            {.nops = 1, .keys = ka, .nkeys = 1},
            {.nops = 1, .keys = kd, .nkeys = 1},
        };
        store_map_put(busy, "a", NULL);
        assert_int_equal(store_batch_pick(q, 4, false, busy, false, 128, 1000, take), 2);
        assert_string_equal(taken(take, 4), "1 3");
        assert_int_equal(store_batch_pick(q, 4, true, busy, false, 128, 1000, take), 0);
        store_map_put(busy, "b", NULL);
        store_map_put(busy, "d", NULL);
        assert_int_equal(store_batch_pick(q, 4, false, busy, false, 128, 1000, take), 0);
        store_map_free(busy);
    }
    /* op, compare and byte limits: the rest waits for the next txn */
    {
        const char *keys[300][1];
        char names[300][8];
        store_batch_item many[300];
        bool t[300];

        for (int i = 0; i < 300; i++) {
            snprintf(names[i], sizeof(names[i]), "k%d", i);
            keys[i][0] = names[i];
            many[i] = (store_batch_item){
                .nops = 1, .ncmps = 1, .bytes = 100, .keys = keys[i], .nkeys = 1};
        }
        assert_int_equal(store_batch_pick(many, 300, false, NULL, true, 127, 1u << 20, t), 127);
        assert_true(t[126]);
        assert_false(t[127]);
        assert_int_equal(store_batch_pick(many, 300, true, NULL, true, 127, 1000, t), 10);
        many[0].ncmps = 120;
        assert_int_equal(store_batch_pick(many, 300, false, NULL, true, 127, 1u << 20, t), 8);
        many[0].ncmps = 1;
        many[1].bytes = 5000; /* too large to join: others still do */
        assert_int_equal(store_batch_pick(many, 300, false, NULL, true, 127, 1000, t), 10);
        assert_false(t[1]);
        assert_true(t[10]);
    }
    /* a solo write (range delete) goes alone, first and with nothing in
     * flight; nothing after it passes it */
    {
        store_batch_item q[3] = {
            {.nops = 1, .keys = ka, .nkeys = 1},
            {.nops = 1, .keys = kb, .nkeys = 1, .solo = true},
            {.nops = 1, .keys = kc, .nkeys = 1},
        };
        assert_int_equal(store_batch_pick(q, 3, false, NULL, true, 128, 1000, take), 1);
        assert_string_equal(taken(take, 3), "0");
        assert_int_equal(store_batch_pick(q + 1, 2, false, NULL, false, 128, 1000, take), 0);
        assert_int_equal(store_batch_pick(q + 1, 2, false, NULL, true, 128, 1000, take), 1);
        assert_string_equal(taken(take, 2), "0");
    }
    /* a write too large on its own still goes, alone */
    {
        store_batch_item q[2] = {
            {.nops = 500, .bytes = 10, .keys = ka, .nkeys = 1},
            {.nops = 1, .bytes = 10, .keys = kb, .nkeys = 1},
        };
        assert_int_equal(store_batch_pick(q, 2, false, NULL, true, 128, 1000, take), 1);
        assert_string_equal(taken(take, 2), "0");
        q[0].nops = 1; /* after a small one: waits for a txn of its own */
        q[1].bytes = 5000;
        assert_int_equal(store_batch_pick(q, 2, false, NULL, true, 128, 1000, take), 1);
        assert_string_equal(taken(take, 2), "0");
        assert_int_equal(store_batch_pick(q + 1, 1, false, NULL, true, 128, 1000, take), 1);
    }
    assert_int_equal(store_batch_pick(NULL, 0, false, NULL, true, 128, 1000, take), 0);
}

static void test_range_and_put_bodies(void **state)
{
    char *s = store_range_encode("/a/", 3, "/a0", 3, 17, 1000);
    json_t *j = json_loads(s, 0, NULL);

    assert_string_equal(json_string_value(json_object_get(j, "key")), "L2Ev");
    assert_string_equal(json_string_value(json_object_get(j, "revision")), "17");
    assert_string_equal(json_string_value(json_object_get(j, "limit")), "1000");
    json_decref(j);
    free(s);
    s = store_range_encode("/a", 2, NULL, 0, 0, 0);
    j = json_loads(s, 0, NULL);
    assert_null(json_object_get(j, "revision"));
    assert_null(json_object_get(j, "range_end"));
    json_decref(j);
    free(s);
    s = store_delete_encode("/a/", true, true);
    j = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "range_end")), "L2Ew");
    assert_true(json_is_true(json_object_get(j, "prev_kv")));
    json_decref(j);
    free(s);
}

/* Mutated answers (bytes flipped, truncated) never crash the decoders: they
 * parse or fail cleanly. Deterministic, so failures reproduce. */
static void test_decoders_survive_garbage(void **state)
{
    const char *files[] = {"store/fixtures/range.json", "store/fixtures/watch.ndjson"};
    unsigned seed = 7;

    for (size_t fi = 0; fi < 2; fi++) {
        size_t len;
        char *orig = cr_test_fixture(files[fi], &len);

        for (int round = 0; round < 3000; round++) {
            char *buf = xmalloc(len + 1);
            size_t n = len;
            store_watch_msg m;
            store_result r;
            json_t *j;

            memcpy(buf, orig, len);
            for (int k = 0; k < 1 + round % 4; k++) {
                seed = seed * 1103515245 + 12345;
                buf[(seed >> 8) % len] = (char)(seed >> 16);
            }
            seed = seed * 1103515245 + 12345;
            if (round % 5 == 0)
                n = (seed >> 8) % len;
            buf[n] = '\0';
            if (store_watch_msg_parse(buf, n, &m, NULL) == 0)
                store_watch_msg_release(&m);
            {
                int taken;
                const char *d = gw_check_watch(buf, n, &taken);
                if (d)
                    fail_msg("watch reader differs (%s) on: %s", d, buf);
                d = gw_check_range(buf, n, &taken);
                if (d)
                    fail_msg("range reader differs (%s) on: %s", d, buf);
            }
            j = json_loadb(buf, n, 0, NULL);
            if (j && store_result_parse(j, round % 2, &r, NULL) == 0)
                store_result_release(&r);
            json_decref(j);
            free(buf);
        }
        free(orig);
    }
}

/* The fast readers take what etcd writes, give the tree path's answer,
 * and leave anything else to it. */
static void test_gw_readers(void **state)
{
#define HDR "\"header\":{\"cluster_id\":\"9512297169873027279\",\"member_id\":\"2927863646486616266\",\"revision\":\"5\",\"raft_term\":\"2\"}"
#define KV  "{\"key\":\"L2Evag==\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"eyJ4IjoxfQ==\"}"
    static const struct {
        bool watch, taken;
        const char *text;
    } cases[] = {
        /* as etcd 3.5 wrote them */
        {false, true, "{" HDR ",\"kvs\":[" KV "],\"count\":\"1\"}"},
        {false, true, "{" HDR "}"},
        {false, true, "{" HDR ",\"kvs\":[" KV "," KV "],\"more\":true,\"count\":\"9\"}"},
        {false, true, " {\n" HDR " , \"kvs\" : [ " KV " ] ,\"more\":false}\r\n"},
        {false, true, "{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"7587870342\"}],\"count\":\" 12\"}"},
        {false, true, "{\"kvs\":[],\"more\":null}"},
        {false, true, "{\"header\":{\"x\":[{},[],null,true,\"s\"]}}"},
        {false, true, "{\"header\":{\"member_id\":\"18446744073709551615\"}}"},
        /* left to jansson: a number, an escape, non-ASCII, unknown or
         * repeated members, bad base64 or revisions, trailing bytes */
        {false, false, "{" HDR ",\"count\":1}"},
        {false, false, "{\"kvs\":[{\"key\":\"L2Ev\\/ag==\"}]}"},
        {false, false, "{\"header\":{\"cluster_id\":\"\xc3\xa9\"}}"},
        {false, false, "{" HDR ",\"prev_kvs\":[" KV "]}"},
        {false, false, "{" HDR ",\"kvs\":[],\"kvs\":[" KV "]}"},
        {false, false, "{\"kvs\":[{\"key\":\"!!\"}]}"},
        {false, false, "{\"kvs\":[{\"key\":\"YQ==\",\"version\":\"12x\"}]}"},
        {false, false, "{\"kvs\":[{\"version\":\"123456789012345678901234567890123\"}]}"},
        {false, false, "{\"kvs\":null}"},
        {false, false, "{\"more\":\"true\"}"},
        {false, false, "{" HDR "} x"},
        {false, false, "[" KV "]"},
        {false, false, "{\"header\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"},
        {false, false, "{\"result\":{" HDR "}}"},
        {false, false, "{" HDR ",\"succeeded\":true}"},
        {false, false, "{" HDR},
        {false, false, ""},
        /* watch lines as etcd 3.5 wrote them */
        {true, true, "{\"result\":{" HDR ",\"created\":true}}"},
        {true, true, "{\"result\":{" HDR ",\"events\":[{\"kv\":" KV "}]}}"},
        {true, true, "{\"result\":{" HDR ",\"events\":[{\"kv\":" KV ",\"prev_kv\":" KV "}]}}"},
        {true, true, "{\"result\":{" HDR ",\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2EvYg==\",\"mod_revision\":\"5\"},\"prev_kv\":" KV "}]}}"},
        {true, true, "{\"result\":{" HDR ",\"events\":[{\"type\":\"PUT\",\"kv\":" KV "}],\"watch_id\":\"3\",\"fragment\":false}}"},
        {true, true, "{\"result\":{" HDR ",\"canceled\":true,\"compact_revision\":\"4\",\"cancel_reason\":\"mvcc: required revision has been compacted\"}}"},
        {true, true, "{\"result\":{" HDR ",\"events\":[]},\"other\":[true,{}]}"},
        {true, false, "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}"},
        {true, false, "{\"result\":{" HDR ",\"events\":[{\"type\":\"DELETE\"}]}}"},
        {true, false, "{\"result\":{" HDR ",\"events\":[{\"type\":1,\"kv\":" KV "}]}}"},
        {true, false, "{\"result\":{},\"result\":{}}"},
        {true, false, "{\"result\":{" HDR ",\"created\":1}}"},
        {true, false, "{\"nothing\":{}}"},
    };
#undef HDR
#undef KV

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].text, *d;
        int taken;

        d = cases[i].watch ? gw_check_watch(t, strlen(t), &taken)
                           : gw_check_range(t, strlen(t), &taken);
        if (d)
            fail_msg("case %zu: %s: %s", i, d, t);
        if (taken != cases[i].taken)
            fail_msg("case %zu: %s: %s", i, taken ? "taken" : "left to jansson", t);
    }
    /* the answer is the tree's also when it comes the slow way */
    {
        const char *t = "{\"count\":3,\"kvs\":[{\"key\":\"YQ==\",\"value\":\"Yg==\"}]}";
        store_result r;
        assert_int_equal(store_result_parse_text(t, strlen(t), false, &r, NULL), 0);
        assert_int_equal(r.count, 3);
        assert_string_equal(r.kvs[0].value, "b");
        store_result_release(&r);
        assert_int_equal(store_result_parse_text("{x", 2, false, &r, NULL), -1);
    }
    /* generated pages: binary keys and values, any revisions */
    unsigned seed = 11;
    for (int round = 0; round < 200; round++) {
        cr_buf b = CR_BUF_INIT;
        size_t n = round % 7;
        char val[64][40];
        size_t vlen[64];
        store_result r;
        int taken;
        const char *d;

        cr_buf_addf(&b, "{\"header\":{\"revision\":\"%d\"},\"kvs\":[", round);
        for (size_t k = 0; k < n; k++) {
            char *ek, *ev;
            seed = seed * 1103515245 + 12345;
            vlen[k] = (seed >> 8) % 40;
            for (size_t x = 0; x < sizeof(val[k]); x++) {
                seed = seed * 1103515245 + 12345;
                val[k][x] = (char)(seed >> 16);
            }
            ek = store_b64_encode(val[k], vlen[k] % 9 + 1);
            ev = store_b64_encode(val[k], vlen[k]);
            cr_buf_addf(&b, "%s{\"key\":\"%s\",\"value\":\"%s\",\"mod_revision\":\"%u\"}",
                        k ? "," : "", ek, ev, seed >> 4);
            free(ek);
            free(ev);
        }
        cr_buf_addf(&b, "],\"more\":%s}", round % 2 ? "true" : "false");
        d = gw_check_range(b.data, b.len, &taken);
        if (d || !taken)
            fail_msg("generated page: %s: %s", d ? d : "left to jansson", b.data);
        assert_int_equal(store_gw_range_parse(b.data, b.len, &r), 0);
        assert_int_equal(r.nkvs, n);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(r.kvs[k].value_len, vlen[k]);
            assert_memory_equal(r.kvs[k].value, val[k], vlen[k]);
        }
        store_result_release(&r);
        cr_buf_release(&b);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_b64_roundtrip),
    cmocka_unit_test(test_b64_rejects_garbage),
    cmocka_unit_test(test_b64_url_safe),
    cmocka_unit_test(test_prefix_end),
    cmocka_unit_test(test_int64_fields),
    cmocka_unit_test(test_parse_range_answer),
    cmocka_unit_test(test_parse_txn_answers),
    cmocka_unit_test(test_errors_keep_etcd_code_and_message),
    cmocka_unit_test(test_watch_messages),
    cmocka_unit_test(test_pager),
    cmocka_unit_test(test_txn_encoding),
    cmocka_unit_test(test_txn_limits),
    cmocka_unit_test(test_txn_merge_dedupes_compares),
    cmocka_unit_test(test_batch_pick),
    cmocka_unit_test(test_range_and_put_bodies),
    cmocka_unit_test(test_decoders_survive_garbage),
    cmocka_unit_test(test_gw_readers),
};

CR_TEST_MAIN(tests)
