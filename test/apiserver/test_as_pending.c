/* Pending tasks held as text (store/cache.h: api_doc_text_when_valid):
 * every API answer that reads them is byte for byte what the API answered
 * when the cache held each pending document as a jansson tree.
 *
 * fixtures/pending-records.txt holds etcd's bytes, one key a line (key TAB
 * value): pending tasks as the controllers write them, and of shapes only
 * hand-written ones have (whitespace, escapes, unknown members, a key
 * twice, a pendingTaskId as an id string or without its id, problems,
 * non-objects, non-JSON), with the requests, deploys and task their
 * answers read. fixtures/pending-answers.txt holds what the tree-holding
 * API (commit a1b2725) answered for every read of them: the scheduled
 * lists, single pending tasks and their deletes, task ids and counts by
 * request, run tracking, request parents, /api/state and its parts, and
 * /metrics. CORRAL_WRITE_ANSWERS=<file> writes the answers there instead
 * of comparing: the fixture was written by this file built with
 * -DANSWERS_ONLY (leaving out what only the text-holding API has) against
 * that commit's libraries. */
#include "test/apiserver/astest.h"

#include <stdio.h>
#include <string.h>

#include "apiserver/as_model.h"

#define RECORDS "apiserver/fixtures/pending-records.txt"

typedef astest_fx fx;

/* A pending task with its first key twice (the same value to jansson), so
 * that the cache keeps its tree; NULL for other records. */
static char *first_key_twice(const char *key, const char *value)
{
    const char *brace = value + strspn(value, " ");
    char *twice = NULL;

    if (strncmp(key, "/corral/pending/", 16) != 0 || *brace != '{')
        return NULL;
    if (asprintf(&twice, "{\"pendingTaskId\":0,%s", brace + 1) < 0)
        fail();
    return twice;
}

static int setup(void **state)
{
    return astest_setup_records(state, RECORDS);
}

/* Appends "== METHOD path\n<status>\n<body>\n" and, for writes, the txn's
 * compares and puts. */
static void answer(fx *f, const as_api_config *cfg, unsigned method, const char *path, cr_buf *out)
{
    astest_answer(f, cfg, method, path, NULL, method == AS_DELETE ? "{}" : NULL,
                  ASTEST_BODY | ASTEST_CMPS | ASTEST_PUTS, out);
}

static void get(fx *f, const char *path, cr_buf *out)
{
    answer(f, &f->cfg, AS_GET, path, out);
}

static void all_answers(fx *f, cr_buf *out)
{
    static const char *const requests[] = {"web", "job", "cron", "edge", "ghost"};
    static const char *const runs[] = {"run-1", "run-2", "run-4", "run-5",
                                       "run-6", "run-x", "run-9", "none"};
    static const char *const lists[] = {"/api/tasks/scheduled", "/api/tasks/scheduled/ids",
                                        "/api/requests"};
    /* every key's id, and the ids the documents name */
    static const char *const ids[] = {"web-v1-1000-2-NEW_DEPLOY-900",
                                      "web-v1-80000-3-TASK_DONE-79000",
                                      "web-v1-200000-4-NEW_DEPLOY-9007199254740993",
                                      "cron-v1-300000-1-NEW_DEPLOY-100",
                                      "job-v1-2000-1-ONEOFF-1999",
                                      "job-v1-2500-2-ONEOFF-2400",
                                      "job-v1-3000-3-ONEOFF-2999",
                                      "job-v1-3500-4-ONEOFF-3400",
                                      "job-v1-4000-5-ONEOFF-3900",
                                      "job-v1-4500-6-ONEOFF-4400",
                                      "job-v1-4500-7-ONEOFF-4400",
                                      "job-v1-5000-8-ONEOFF-4900",
                                      "web-v1-90000-9-NEW_DEPLOY-4900",
                                      "edge-v1-1-1-NEW_DEPLOY-1",
                                      "edge-v1-2-1-NEW_DEPLOY-1",
                                      "ghost-v1-10-1-ONEOFF-9",
                                      "x",
                                      "nobody-v1-1-1-ONEOFF-1"};
    char path[512];

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        get(f, lists[i], out);
        answer(f, &f->memoized, AS_GET, lists[i], out);
    }
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        static const char *const per_request[][2] = {{"/api/tasks/scheduled/request/", ""},
                                                     {"/api/tasks/ids/request/", ""},
                                                     {"/api/tasks/counts/request/", ""},
                                                     {"/api/requests/request/", ""}};
        for (size_t k = 0; k < sizeof(per_request) / sizeof(per_request[0]); k++) {
            snprintf(path, sizeof(path), "%s%s%s", per_request[k][0], requests[i],
                     per_request[k][1]);
            get(f, path, out);
        }
        for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
            snprintf(path, sizeof(path), "/api/track/run/%s/%s", requests[i], runs[k]);
            get(f, path, out);
        }
    }
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        snprintf(path, sizeof(path), "/api/tasks/scheduled/task/%s", ids[i]);
        get(f, path, out);
        answer(f, &f->cfg, AS_DELETE, path, out);
    }
    get(f, "/api/state", out);
    get(f, "/api/state/scheduled-tasks-info", out);
    get(f, "/api/state/requests/under-provisioned", out);
    for (int m = 0; m < 2; m++) {
        cr_buf mb = CR_BUF_INIT;
        as_api_metrics(m ? &f->memoized : &f->cfg, f->c, &mb);
        cr_buf_addf(out, "== metrics%s\n%s", m ? " (memo)" : "", cr_buf_str(&mb));
        cr_buf_release(&mb);
    }
    astest_check_indexed(f, "pending records");
}

static void test_answers_as_with_trees(void **state)
{
    fx *f = *state;
    cr_buf out = CR_BUF_INIT;

    all_answers(f, &out);
    astest_check_answers(&out, "apiserver/fixtures/pending-answers.txt");
    cr_buf_release(&out);
}

#ifndef ANSWERS_ONLY
/* Both shapes are in the fixture: the controllers' documents as text, the
 * others as trees. */
static void test_text_and_trees(void **state)
{
    fx *f = *state;
    size_t first, n = as_cache_range(f->c, "/corral/pending/", &first), text = 0, tree = 0;

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(f->c, i);
        if (!e->value && store_obj_text(e, NULL))
            text++;
        else if (e->value)
            tree++;
    }
    assert_int_equal(text, 7);
    assert_int_equal(tree, 8);
    assert_null(as_cache_value(f->c, "/corral/pending/web/web-v1-1000-2-NEW_DEPLOY-900"));
    assert_non_null(as_cache_value(f->c, "/corral/pending/job/job-v1-3000-3-ONEOFF-2999"));
}

/* Every answer is the same bytes with each pending task kept as a tree (its
 * first key written twice) as with the controllers' kept as text. */
static void test_answers_text_or_tree(void **state)
{
    fx *f = *state;
    fx t = *f;
    cr_buf a = CR_BUF_INIT, b = CR_BUF_INIT;
    size_t first, n;

    t.c = as_cache_new();
    astest_load(t.c, RECORDS, first_key_twice);
    t.memo = as_memo_new(t.c);
    t.memoized.memo = t.memo;
    t.index = as_index_new(t.c, "/corral");
    t.indexed = t.memoized;
    t.indexed.index = t.index;
    n = as_cache_range(t.c, "/corral/pending/", &first);
    for (size_t i = first; i < first + n; i++) /* no text left */
        assert_null(store_obj_text(as_cache_at(t.c, i), NULL));
    all_answers(f, &a);
    all_answers(&t, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        astest_first_difference(cr_buf_str(&b), cr_buf_str(&a));
    cr_buf_release(&a);
    cr_buf_release(&b);
    as_index_free(t.index);
    as_memo_free(t.memo);
    as_cache_free(t.c);
}

/* What as_pending reads of each entry (from its typed document or its
 * tree) is what the tree functions read of its parsed value. */
static void test_fields_as_trees_read_them(void **state)
{
    fx *f = *state;
    size_t first, n = as_cache_range(f->c, "/corral/pending/", &first);

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(f->c, i);
        json_t *j = store_obj_json(e), *id;
        const json_t *pid = json_object_get(j, "pendingTaskId");
        as_pending p;
        cr_buf b = CR_BUF_INIT;

        assert_int_equal(as_pending_open(&p, e), json_is_object(j));
        if (!p.object) {
            assert_null(as_pending_id_json(&p));
            json_decref(j);
            continue;
        }
        assert_int_equal(p.has_id, pid != NULL);
        astest_same_str(p.id, as_jstr(pid, "id"), "id", e->key);
        astest_same_str(p.request_id, as_jstr(pid, "requestId"), "requestId", e->key);
        astest_same_str(p.deploy_id, as_jstr(pid, "deployId"), "deployId", e->key);
        astest_same_str(p.run_id, as_jstr(j, "runId"), "runId", e->key);
        assert_true(p.next_run_at == json_integer_value(json_object_get(pid, "nextRunAt")));
        id = as_pending_id_json(&p);
        assert_true(pid ? json_equal(id, pid) : !id);
        json_decref(id);
        as_pending_id_dump(&p, &b);
        char *want = pid ? json_dumps(pid, AS_JSON_FLAGS) : NULL;
        assert_string_equal(cr_buf_str(&b), want ? want : "");
        free(want);
        cr_buf_reset(&b);
        json_t *view = as_m_task_request(&f->cfg, f->c, j);
        want = json_dumps(view, AS_JSON_FLAGS);
        as_pending_task_request_dump(&f->cfg, f->c, &p, &b);
        assert_string_equal(cr_buf_str(&b), want);
        free(want);
        json_decref(view);
        cr_buf_release(&b);
        json_decref(j);
    }
}
#endif

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_answers_as_with_trees, setup, astest_teardown),
#ifndef ANSWERS_ONLY
    cmocka_unit_test_setup_teardown(test_text_and_trees, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_answers_text_or_tree, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_fields_as_trees_read_them, setup, astest_teardown),
#endif
};

CR_TEST_MAIN(tests)
