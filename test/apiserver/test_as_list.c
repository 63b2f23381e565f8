/* Lists written in pieces (as_list) and the memo of request parents
 * (as_memo): whatever the piece size, and whatever changed in the cache
 * since the parents were encoded, a list is the bytes a fresh encoding of
 * the whole list gives. */
#include "test/apiserver/astest.h"

#include <stdio.h>
#include <string.h>

typedef astest_fx fx;

static void put(fx *f, const char *key, const char *json)
{
    f->rev++;
    as_cache_put(f->c, key, json ? cr_test_json(json) : NULL, f->rev, f->rev);
}

static int setup(void **state)
{
    astest_setup_cluster(state);
    ((fx *)*state)->base = (as_req){.now = 1}; /* anonymous, at 1 ms */
    return 0;
}

/* The whole answer of GET path?query, written `step` entries at a time
 * (caller frees). NULL if as_list_new refused; *status gets its status. */
static char *list(fx *f, const as_api_config *cfg, const char *path, const char *query, size_t step,
                  int *status)
{
    astest_call k;
    as_result err = {0};
    as_list *l;
    cr_buf b = CR_BUF_INIT;
    int pieces = 0;

    astest_call_init(&k, f, AS_GET, path, query, NULL);
    assert_true(as_list_op(k.m.op));
    l = as_list_new(cfg, f->c, &k.req, &err);
    *status = l ? 200 : err.status;
    if (l) {
        cr_buf_init(&b);
        while (!as_list_next(l, f->c, &b, step))
            assert_true(++pieces < 100000);
        /* Done means done: nothing more is appended. */
        size_t len = b.len;
        assert_true(as_list_next(l, f->c, &b, step));
        assert_int_equal(b.len, len);
    }
    as_list_free(l);
    as_result_release(&err);
    astest_call_release(&k);
    return l ? cr_buf_detach(&b, NULL) : NULL;
}

/* What as_api_handle answers without the memo, encoded as the server does. */
static char *handled(fx *f, const char *path, const char *query)
{
    return astest_whole(f, &f->cfg, path, query);
}

static const char *const paths[] = {
    "/api/requests",          "/api/requests/active",       "/api/requests/paused",
    "/api/requests/cooldown", "/api/requests/finished",     "/api/tasks/active",
    "/api/tasks/active/ids",  "/api/tasks/active/agent/a1", "/api/tasks/active/slave/a2/ids",
    "/api/tasks/scheduled",   "/api/tasks/scheduled/ids",   "/api/tasks/scheduled/request/job",
    "/api/tasks/cleaning",
};

/* Every list, in pieces of 1, 2 and many entries, with and without the
 * memo, is what as_api_handle gives (the parents as encoded just now); so
 * are the request counts of /metrics. */
static void check_lists(fx *f, const char *when)
{
    cr_buf plain = CR_BUF_INIT, memoized = CR_BUF_INIT;

    as_api_metrics(&f->cfg, f->c, &plain);
    as_api_metrics(&f->memoized, f->c, &memoized);
    if (strcmp(cr_buf_str(&plain), cr_buf_str(&memoized)) != 0)
        fail_msg("%s: /metrics with the memo:\n%s\nwithout:\n%s", when, cr_buf_str(&memoized),
                 cr_buf_str(&plain));
    cr_buf_release(&plain);
    cr_buf_release(&memoized);
    astest_check_indexed(f, when); /* and the index counts them as they were walked */
    /* The queues read the memo too. */
    static const char *const queues[] = {"/api/requests/queued/pending", "/api/deploys/pending"};
    for (size_t i = 0; i < 2; i++) {
        char *want = handled(f, queues[i], NULL),
             *got = astest_whole(f, &f->memoized, queues[i], NULL);
        if (strcmp(got, want) != 0)
            fail_msg("%s: GET %s with the memo:\n got %s\nwant %s", when, queues[i], got, want);
        free(want);
        free(got);
    }
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *want = handled(f, paths[i], NULL);
        static const size_t steps[] = {1, 2, 1000};
        for (size_t s = 0; s < 3; s++)
            for (int memo = 0; memo < 2; memo++) {
                int st;
                char *got = list(f, memo ? &f->memoized : &f->cfg, paths[i], NULL, steps[s], &st);
                if (strcmp(got, want) != 0)
                    fail_msg("%s: GET %s (step %zu, memo %d):\n got %s\nwant %s", when, paths[i],
                             steps[s], memo, got, want);
                free(got);
            }
        free(want);
    }
}

static void test_pieces_equal_whole(void **state)
{
    fx *f = *state;
    check_lists(f, "fixture");
}

/* Elements of a JSON array text (taken). */
static size_t count(char *text)
{
    json_t *a = cr_test_json(text);
    size_t n = json_array_size(a);
    json_decref(a);
    free(text);
    return n;
}

static void test_query_errors(void **state)
{
    fx *f = *state;
    int st;
    char *got;

    assert_null(list(f, &f->cfg, "/api/requests", "limit=x", 5, &st));
    assert_int_equal(st, 400);
    assert_null(list(f, &f->cfg, "/api/requests", "requestType=NOPE", 5, &st));
    assert_int_equal(st, 400);
    assert_null(list(f, &f->cfg, "/api/tasks/scheduled/request/a%2Fb", NULL, 5, &st));
    assert_int_equal(st, 400);
    got = list(f, &f->memoized, "/api/requests", "limit=1", 1, &st);
    assert_int_equal(st, 200);
    assert_int_equal(count(got), 1);
    got = list(f, &f->memoized, "/api/requests", "limit=0", 1, &st);
    assert_string_equal(got, "[]");
    free(got);
    got = list(f, &f->memoized, "/api/requests", "requestType=ON_DEMAND", 1, &st);
    assert_int_equal(count(got), 1);
}

/* Each change that alters a parent shows at once in a memoized list. */
static void test_memo_follows_changes(void **state)
{
    fx *f = *state;
    as_memo_stats ms;
    struct {
        const char *what, *key, *json; /* json NULL: delete */
    } steps[] = {
        {"request", "/corral/requests/web",
         "{\"id\":\"web\",\"requestType\":\"SERVICE\","
         "\"instances\":3}"},
        {"status", "/corral/status/requests/web",
         "{\"requestId\":\"web\",\"state\":\"ACTIVE\",\"activeDeployId\":\"v1\","
         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}"},
        {"new deploy", "/corral/deploys/web/v2", "{\"requestId\":\"web\",\"id\":\"v2\"}"},
        {"deploy status", "/corral/status/deploys/web/v2",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"WAITING\","
         "\"currentActiveInstances\":1}"},
        {"deploy update", "/corral/intents/deploys/web/v2/update", "{\"targetActiveInstances\":1}"},
        {"deploy submit", "/corral/intents/deploys/web/v2/submit",
         "{\"user\":\"bob\",\"timestamp\":7}"},
        {"deploy failed", "/corral/status/deploys/web/v2",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"FAILED\"}"},
        {"deploy retried", "/corral/status/deploys/web/v2",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"WAITING\"}"},
        {"deploy cancel", "/corral/intents/deploys/web/v2/cancel", "{\"user\":\"bob\"}"},
        {"pause", "/corral/intents/requests/web/pause", "{\"killTasks\":true}"},
        {"expiring scale", "/corral/intents/requests/job/scale",
         "{\"instances\":2,\"durationMillis\":5}"},
        {"task", "/corral/tasks/web/web-v1-1002-3-h1-r1",
         "{\"taskId\":{\"id\":\"web-v1-1002-3-h1-r1\",\"requestId\":\"web\"},"
         "\"lastTaskState\":\"TASK_RUNNING\"}"},
        {"cleanup", "/corral/cleanups/web-v1-1002-3-h1-r1", "{\"cleanupType\":\"USER_REQUESTED\"}"},
        {"pending", "/corral/pending/web/web-v1-5-1-NEW_DEPLOY-5",
         "{\"pendingTaskId\":{\"id\":\"web-v1-5-1-NEW_DEPLOY-5\",\"requestId\":\"web\"}}"},
        {"cooldown", "/corral/status/requests/job",
         "{\"requestId\":\"job\",\"state\":\"SYSTEM_COOLDOWN\"}"},
        {"finished", "/corral/status/requests/cron",
         "{\"requestId\":\"cron\",\"state\":\"FINISHED\"}"},
        {"unknown key", "/corral/whatever/x", "{}"},
        {"delete cleanup", "/corral/cleanups/web-v1-1002-3-h1-r1", NULL},
        {"delete pause", "/corral/intents/requests/web/pause", NULL},
        {"delete deploy status", "/corral/status/deploys/web/v2", NULL},
        {"delete task", "/corral/tasks/web/web-v1-1002-3-h1-r1", NULL},
        {"delete request", "/corral/requests/job", NULL},
        {"new request", "/corral/requests/api", "{\"id\":\"api\",\"requestType\":\"WORKER\"}"},
    };

    check_lists(f, "start");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].json)
            put(f, steps[i].key, steps[i].json);
        else
            as_cache_del(f->c, steps[i].key, ++f->rev);
        check_lists(f, steps[i].what);
    }
    as_memo_get_stats(f->memo, &ms);
    assert_true(ms.hits > 0);
    assert_true(ms.drops > 0);
}

/* Nothing changed: the second list is all hits; an agent's change drops
 * nothing. */
static void test_memo_hits(void **state)
{
    fx *f = *state;
    as_memo_stats a, b;
    int st;

    free(list(f, &f->memoized, "/api/requests", NULL, 10, &st));
    as_memo_get_stats(f->memo, &a);
    assert_int_equal(a.entries, 3);
    assert_true(a.bytes > 0);
    put(f, "/corral/agents/a1", "{\"id\":\"a1\",\"hostname\":\"h9\"}");
    put(f, "/corral/intents/racks/r1", "{\"state\":\"FROZEN\"}");
    free(list(f, &f->memoized, "/api/requests", NULL, 10, &st));
    as_memo_get_stats(f->memo, &b);
    assert_int_equal(b.hits, a.hits + 3);
    assert_int_equal(b.misses, a.misses);
    /* A change of web drops only web. */
    put(f, "/corral/history/requests/web/0000000000001-UPDATED", "{}");
    free(list(f, &f->memoized, "/api/requests", NULL, 10, &st));
    as_memo_get_stats(f->memo, &a);
    assert_int_equal(a.misses, b.misses + 1);
    assert_int_equal(a.hits, b.hits + 2);
}

/* A task whose id names another request: its cleanup would drop that other
 * request, so web's parent is never kept, and stays right. */
static void test_memo_foreign_task_id(void **state)
{
    fx *f = *state;
    as_memo_stats a, b;
    int st;

    put(f, "/corral/tasks/web/job-v1-5-1-h1-r1",
        "{\"taskId\":{\"id\":\"job-v1-5-1-h1-r1\",\"requestId\":\"job\"},"
        "\"lastTaskState\":\"TASK_RUNNING\"}");
    free(list(f, &f->memoized, "/api/requests", NULL, 10, &st));
    as_memo_get_stats(f->memo, &a);
    free(list(f, &f->memoized, "/api/requests", NULL, 10, &st));
    as_memo_get_stats(f->memo, &b);
    assert_int_equal(b.misses, a.misses + 1); /* web, encoded again */
    put(f, "/corral/cleanups/job-v1-5-1-h1-r1", "{\"cleanupType\":\"USER_REQUESTED\"}");
    check_lists(f, "foreign cleanup");
}

/* A cache emptied and filled again by hand tells no subscriber: entries
 * built from the old objects are not used. */
static void test_memo_silent_refill(void **state)
{
    fx *f = *state;
    int st;
    char *before, *after;

    before = list(f, &f->memoized, "/api/requests", NULL, 10, &st);
    as_cache_clear(f->c);
    put(f, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\"}");
    as_cache_set_synced(f->c, true);
    after = list(f, &f->memoized, "/api/requests", NULL, 10, &st);
    assert_string_not_equal(before, after);
    free(before);
    free(after);
    check_lists(f, "refilled");
}

/* A list spanning changes: each piece reads the cache of its time, and the
 * cursor goes on after the last key it saw, even when that key is gone. */
static void test_changes_between_pieces(void **state)
{
    fx *f = *state;
    astest_call k;
    as_result err = {0};
    cr_buf b = CR_BUF_INIT;
    json_t *arr;

    astest_call_init(&k, f, AS_GET, "/api/requests", NULL, NULL);
    as_list *l = as_list_new(&f->memoized, f->c, &k.req, &err);
    assert_non_null(l);
    cr_buf_init(&b);
    /* keys: cron, job, web */
    assert_false(as_list_next(l, f->c, &b, 1)); /* cron */
    as_cache_del(f->c, "/corral/requests/cron", ++f->rev);
    put(f, "/corral/requests/aaa", "{\"id\":\"aaa\",\"requestType\":\"WORKER\"}"); /* behind */
    put(f, "/corral/requests/zzz", "{\"id\":\"zzz\",\"requestType\":\"WORKER\"}"); /* ahead */
    put(f, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\"}");
    while (!as_list_next(l, f->c, &b, 1))
        ;
    arr = cr_test_json(b.data);
    assert_int_equal(json_array_size(arr), 4); /* cron (old), job, web (new), zzz */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(arr, 0), "request"), "id")),
                        "cron");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(arr, 2), "request"), "requestType")),
                        "WORKER");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(arr, 3), "request"), "id")),
                        "zzz");
    json_decref(arr);
    cr_buf_release(&b);
    as_list_free(l);
    astest_call_release(&k);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_pieces_equal_whole, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_query_errors, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_memo_follows_changes, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_memo_hits, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_memo_foreign_task_id, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_memo_silent_refill, setup, astest_teardown),
    cmocka_unit_test_setup_teardown(test_changes_between_pieces, setup, astest_teardown),
};
CR_TEST_MAIN(tests)
