/* Task records held as text (store/cache.h): every API answer that reads
 * them is byte for byte what the API answered when the cache held each
 * record as a jansson tree.
 *
 * fixtures/task-records.txt holds etcd's bytes, one key a line (key TAB
 * value): the cluster of cluster.json, a small cluster as corrald and
 * mesoslite wrote it (TaskInfo, reals, a history record), and task records
 * of shapes only hand-written ones have (whitespace, escapes, repeated
 * keys, a task id as a string or without its id, non-objects, non-JSON,
 * numbers jansson writes its own way). fixtures/task-answers.txt holds
 * what the tree-holding API (commit b6f7c06 plus the working tree of
 * 2026-12-06) answered for every read of them: the task lists, single
 * views, history and its search, task ids by request, runs, kills, and
 * what /api/state and /metrics count of tasks (only what the records
 * decide, so that changes elsewhere in those answers do not touch this
 * fixture). CORRAL_WRITE_ANSWERS=<file> writes the answers there instead
 * of comparing: the fixture was written by this file built with
 * -DANSWERS_ONLY (leaving out what only the text-holding API has) against
 * that build's libraries. */
#include "test/apiserver/astest.h"

#include <stdio.h>
#include <string.h>

#include "apiserver/as_model.h"

typedef astest_fx fx;

static int setup(void **state)
{
    return astest_setup_records(state, "apiserver/fixtures/task-records.txt");
}

/* Appends "== METHOD path?query\n<status>\n<body>\n" and, for writes, the
 * txn's puts. */
static void answer(fx *f, const as_api_config *cfg, unsigned method, const char *path,
                   const char *query, const char *body, cr_buf *out)
{
    astest_answer(f, cfg, method, path, query, body, ASTEST_BODY | ASTEST_PUTS, out);
}

static void get(fx *f, const char *path, const char *query, cr_buf *out)
{
    answer(f, &f->cfg, AS_GET, path, query, NULL, out);
}

/* The ids (kind's id1 or id2) of the keys under prefix with a known shape. */
static size_t ids_under(fx *f, const char *prefix, bool second, const char **ids, size_t cap)
{
    size_t first, n = as_cache_range(f->c, prefix, &first), k = 0;
    for (size_t i = first; i < first + n && k < cap; i++) {
        const as_entry *e = as_cache_at(f->c, i);
        const char *id = second ? e->id2 : e->id1;
        if (e->kind != API_KEY_UNKNOWN && id && (k == 0 || strcmp(ids[k - 1], id) != 0))
            ids[k++] = id;
    }
    return k;
}

static void all_answers(fx *f, cr_buf *out)
{
    static const char *const lists[] = {
        "/api/tasks/active", "/api/tasks/active/ids", "/api/tasks/active/agent/a1",
        "/api/tasks/active/agent/a1/ids", "/api/tasks/active/slave/a2"};
    static const char *const searches[] = {NULL,
                                           "requestId=edge",
                                           "requestId=web",
                                           "requestId=svc00002",
                                           "deployId=v1",
                                           "runId=run-1",
                                           "runId=run-3",
                                           "host=h1",
                                           "host=h%C3%B4te",
                                           "host=sim-agent-3",
                                           "lastTaskStatus=TASK_RUNNING",
                                           "lastTaskStatus=TASK_FAILED",
                                           "startedAfter=150&startedBefore=1000",
                                           "updatedAfter=100",
                                           "updatedBefore=160",
                                           "orderDirection=ASC",
                                           "count=2&page=2",
                                           "count=3&page=1&orderDirection=ASC",
                                           "requestId=edge&count=1000"};
    const char *ids[128];
    char path[512];
    size_t n;

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        get(f, lists[i], NULL, out);
        answer(f, &f->memoized, AS_GET, lists[i], NULL, NULL, out);
    }
    n = ids_under(f, "/corral/agents/", false, ids, 128);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/api/tasks/active/agent/%s", ids[i]);
        get(f, path, NULL, out);
    }
    for (size_t i = 0; i < sizeof(searches) / sizeof(searches[0]); i++)
        get(f, "/api/history/tasks", searches[i], out);
    n = ids_under(f, "/corral/requests/", false, ids, 128);
    for (size_t i = 0; i < n; i++) {
        static const char *const per_request[][2] = {{"/api/tasks/ids/request/", ""},
                                                     {"/api/history/request/", "/tasks"},
                                                     {"/api/history/request/", "/tasks/active"},
                                                     {"/api/requests/request/", "/run/run-1"},
                                                     {"/api/requests/request/", "/run/run-2"},
                                                     {"/api/requests/request/", "/run/run-3"},
                                                     {"/api/requests/request/", "/run/none"}};
        for (size_t k = 0; k < sizeof(per_request) / sizeof(per_request[0]); k++) {
            snprintf(path, sizeof(path), "%s%s%s", per_request[k][0], ids[i], per_request[k][1]);
            get(f, path, NULL, out);
        }
        /* refused while a scheduled request has an active task */
        snprintf(path, sizeof(path), "/api/requests/request/%s/run", ids[i]);
        astest_answer(f, &f->cfg, AS_POST, path, NULL, "{}", 0, out);
    }
    get(f, "/api/history/request/edge/tasks", "count=2&page=2", out);
    n = ids_under(f, "/corral/tasks/", true, ids, 128);
    n += ids_under(f, "/corral/history/tasks/", true, ids + n, 128 - n);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/api/tasks/task/%s", ids[i]);
        get(f, path, NULL, out);
        snprintf(path, sizeof(path), "/api/history/task/%s", ids[i]);
        get(f, path, NULL, out);
        snprintf(path, sizeof(path), "/api/tasks/task/%s", ids[i]);
        answer(f, &f->cfg, AS_DELETE, path, NULL, "{\"message\":\"bye\"}", out);
    }
    /* what /api/state and /metrics count of the task records */
    static const char *const state_fields[] = {"activeTasks",
                                               "launchingTasks",
                                               "cleaningTasks",
                                               "overProvisionedRequests",
                                               "underProvisionedRequests",
                                               "overProvisionedRequestIds",
                                               "underProvisionedRequestIds"};
    json_t *st = as_api_state(&f->cfg, f->c, 100000, true, NULL), *part = json_object();
    for (size_t i = 0; i < sizeof(state_fields) / sizeof(state_fields[0]); i++)
        json_object_set(part, state_fields[i], json_object_get(st, state_fields[i]));
    char *t = json_dumps(part, AS_JSON_FLAGS);
    cr_buf_addf(out, "== state\n%s\n", t);
    free(t);
    json_decref(part);
    json_decref(st);
    for (int m = 0; m < 2; m++) {
        cr_buf mb = CR_BUF_INIT;
        as_api_metrics(m ? &f->memoized : &f->cfg, f->c, &mb);
        cr_buf_adds(out, m ? "== metrics (memo)\n" : "== metrics\n");
        for (const char *l = cr_buf_str(&mb), *e; *l; l = e + 1) {
            e = strchr(l, '\n');
            if (!e)
                break;
            if (strncmp(l, "corral_tasks{", 13) == 0)
                cr_buf_add(out, l, (size_t)(e - l + 1));
        }
        cr_buf_release(&mb);
    }
    astest_check_indexed(f, "task records");
}

static void test_answers_as_with_trees(void **state)
{
    fx *f = *state;
    cr_buf out = CR_BUF_INIT;

    all_answers(f, &out);
    astest_check_answers(&out, "apiserver/fixtures/task-answers.txt");
    cr_buf_release(&out);
}

/* Asking twice gives the same bytes (the memo, the text walks keep no
 * state that changes an answer). */
static void test_answers_repeat(void **state)
{
    fx *f = *state;
    cr_buf a = CR_BUF_INIT, b = CR_BUF_INIT;

    all_answers(f, &a);
    all_answers(f, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    cr_buf_release(&a);
    cr_buf_release(&b);
}

#ifndef ANSWERS_ONLY
/* What as_task reads of each record (from its typed document or from its
 * text) is what the tree functions read of its parsed value. */
static void test_fields_as_trees_read_them(void **state)
{
    fx *f = *state;
    static const char *const prefixes[] = {"/corral/tasks/", "/corral/history/tasks/"};
    size_t faithful = 0, walked = 0;

    for (size_t p = 0; p < 2; p++) {
        size_t first, n = as_cache_range(f->c, prefixes[p], &first);
        for (size_t i = first; i < first + n; i++) {
            const as_entry *e = as_cache_at(f->c, i);
            json_t *j = store_obj_json(e);
            as_task t;
            bool object = as_task_open(&t, e);
            assert_int_equal(object, json_is_object(j));
            assert_int_equal(as_task_active(&t), as_m_task_active(j));
            assert_int_equal(as_m_task_entry_active(e), as_m_task_active(j));
            if (!object) {
                as_task_close(&t);
                json_decref(j);
                continue;
            }
            t.text_read ? walked++ : faithful++;
            const json_t *tid = json_object_get(j, "taskId");
            astest_same_str(t.id, as_doc_task_id(j), "id", e->key);
            astest_same_str(t.state, as_jstr(j, "lastTaskState"), "state", e->key);
            astest_same_str(t.agent, as_jstr(j, "agentId"), "agent", e->key);
            astest_same_str(t.hostname, as_jstr(j, "hostname"), "hostname", e->key);
            astest_same_str(t.run_id, as_jstr(json_object_get(j, "pendingTask"), "runId"), "run",
                            e->key);
            astest_same_str(t.request_id, as_jstr(tid, "requestId"), "requestId", e->key);
            astest_same_str(t.deploy_id, as_jstr(tid, "deployId"), "deployId", e->key);
            astest_same_str(t.host, as_jstr(tid, "host"), "host", e->key);
            astest_same_str(t.rack, as_jstr(tid, "rackId"), "rackId", e->key);
            assert_true(
                t.started ==
                (json_is_object(tid) ? json_integer_value(json_object_get(tid, "startedAt")) : 0));
            assert_true(t.updated == json_integer_value(json_object_get(j, "updatedAt")));
            assert_int_equal(t.unhealthy, json_is_false(json_object_get(j, "healthy")));
            assert_int_equal(t.load_balanced, json_is_true(json_object_get(j, "loadBalanced")));
            /* what history search reads, from a walk that may stop early */
            as_task ts;
            assert_true(as_task_open_sort(&ts, e));
            astest_same_str(ts.id, t.id, "sort id", e->key);
            astest_same_str(ts.state, t.state, "sort state", e->key);
            astest_same_str(ts.run_id, t.run_id, "sort run", e->key);
            astest_same_str(ts.request_id, t.request_id, "sort requestId", e->key);
            astest_same_str(ts.deploy_id, t.deploy_id, "sort deployId", e->key);
            astest_same_str(ts.host, t.host, "sort host", e->key);
            astest_same_str(ts.hostname, t.hostname, "sort hostname", e->key);
            assert_true(ts.started == t.started && ts.updated == t.updated);
            json_t *h1 = as_task_id_history(&ts), *h2 = as_task_id_history(&t);
            assert_true(json_equal(h1, h2));
            json_decref(h1);
            json_decref(h2);
            as_task_close(&ts);
            /* the view written from the text, against the tree's */
            cr_buf b = CR_BUF_INIT;
            json_t *view = as_m_task_view(&f->cfg, f->c, j);
            char *want = json_dumps(view, AS_JSON_FLAGS);
            as_task_view_dump(&f->cfg, f->c, &t, &b);
            assert_string_equal(cr_buf_str(&b), want);
            free(want);
            json_decref(view);
            cr_buf_release(&b);
            as_task_close(&t);
            json_decref(j);
        }
    }
    /* both ways were taken */
    assert_true(faithful >= 9);
    assert_true(walked >= 10);
}
#endif

/* The memo's parents (which walk each request's task records) are the
 * bytes of a fresh encoding of the tree-built parent. */
static void test_memo_parents_as_fresh(void **state)
{
    fx *f = *state;
    size_t first, n = as_cache_range(f->c, "/corral/requests/", &first);

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(f->c, i);
        as_memo_parent mp;
        json_t *p = as_m_request_parent(&f->cfg, f->c, e->id1);
        char *want = json_dumps(p, AS_JSON_FLAGS);
        for (int twice = 0; twice < 2; twice++) {
            assert_true(as_memo_request_parent(f->memo, &f->cfg, e, &mp));
            assert_int_equal(mp.len, strlen(want));
            assert_memory_equal(mp.json, want, mp.len);
        }
        free(want);
        json_decref(p);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_memo_parents_as_fresh, setup, astest_teardown),
#ifndef ANSWERS_ONLY
    cmocka_unit_test_setup_teardown(test_fields_as_trees_read_them, setup, astest_teardown),
#endif
    cmocka_unit_test_setup_teardown(test_answers_as_with_trees, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_answers_repeat, setup, astest_teardown),
};

CR_TEST_MAIN(tests)
