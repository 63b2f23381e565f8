/* Whole-cache reads walked a slice at a time (as_walk, as_api.h): written
 * in pieces of any size, /api/state, its parts and /metrics are the bytes
 * of the whole answers (as_api_handle, as_api_metrics), over the fixture
 * clusters, with and without the index (as_index.h); late pending tasks
 * deleted while a walk is under way are written as they were counted. */
#include "test/apiserver/astest.h"

#include <stdio.h>
#include <string.h>

typedef astest_fx fx;

static int setup_pending(void **state)
{
    return astest_setup_records(state, "apiserver/fixtures/pending-records.txt");
}

static int setup_tasks(void **state)
{
    return astest_setup_records(state, "apiserver/fixtures/task-records.txt");
}

/* The walked answer, step entries a call; *calls gets how many calls. */
static char *walked(fx *f, const as_api_config *cfg, const char *path, const char *query,
                    size_t step, size_t *calls)
{
    astest_call k;
    as_result r;
    cr_buf b = CR_BUF_INIT;
    as_walk *w;

    astest_call_init(&k, f, AS_GET, path, query, NULL);
    assert_true(as_walk_op(k.m.op));
    w = as_walk_new(cfg, f->c, &k.req, &r);
    assert_non_null(w);
    *calls = 1;
    while (!as_walk_next(w, f->c, &b, step))
        (*calls)++;
    assert_true(as_walk_next(w, f->c, &b, step)); /* and nothing more */
    as_walk_free(w);
    astest_call_release(&k);
    return cr_buf_detach(&b, NULL);
}

static void walks_as_whole(fx *f)
{
    static const char *const reads[][2] = {
        {"/api/state", NULL},
        {"/api/state", "includeRequestIds=true"},
        {"/api/state/requests/under-provisioned", NULL},
        {"/api/state/requests/over-provisioned", NULL},
        {"/api/state/scheduled-tasks-info", NULL},
        {"/metrics", NULL},
    };
    static const size_t steps[] = {1, 2, 3, 16, SIZE_MAX};

    for (int m = 0; m < 3; m++) {
        const as_api_config *cfg = m == 2 ? &f->indexed : m ? &f->memoized : &f->cfg;
        for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
            char *want = astest_whole(f, cfg, reads[i][0], reads[i][1]);
            for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
                size_t calls;
                char *got = walked(f, cfg, reads[i][0], reads[i][1], steps[s], &calls);
                if (strcmp(got, want) != 0)
                    fail_msg("%s?%s, %zu a step:\n got: %s\nwant: %s", reads[i][0],
                             reads[i][1] ? reads[i][1] : "", steps[s], got, want);
                /* one entry a call: the walk was cut (/metrics with the
                 * index walks nothing) */
                if (steps[s] == 1 && !(cfg->index && strcmp(reads[i][0], "/metrics") == 0))
                    assert_true(calls > 5);
                free(got);
            }
            free(want);
        }
    }
    astest_check_indexed(f, "fixture");
}

static void test_pending_cluster(void **state)
{
    walks_as_whole(*state);
}

static void test_task_cluster(void **state)
{
    walks_as_whole(*state);
}

/* Late pending tasks are written as they were counted, even once deleted
 * (the walk holds them); what is counted after a change sees it. */
static void test_changes_meanwhile(void **state)
{
    fx *f = *state;
    astest_call k;
    as_result r;
    cr_buf b = CR_BUF_INIT;
    char *want = astest_whole(f, &f->cfg, "/api/state/scheduled-tasks-info", NULL);
    as_walk *w;
    size_t first, n;
    json_t *got, *before;

    astest_call_init(&k, f, AS_GET, "/api/state/scheduled-tasks-info", NULL, NULL);
    w = as_walk_new(&f->cfg, f->c, &k.req, &r);
    assert_non_null(w);
    /* count every pending task, then delete them all */
    n = as_cache_range(f->c, "/corral/pending/", &first);
    assert_false(as_walk_next(w, f->c, &b, n));
    assert_int_equal(b.len, 0); /* nothing is written before everything is counted */
    while (n > 0) {
        as_cache_range(f->c, "/corral/pending/", &first);
        as_cache_del(f->c, as_cache_at(f->c, first)->key, as_cache_revision(f->c) + 1);
        n--;
    }
    while (!as_walk_next(w, f->c, &b, 1))
        ;
    assert_string_equal(cr_buf_str(&b), want);
    as_walk_free(w);
    cr_buf_release(&b);
    astest_call_release(&k);
    free(want);
    /* a new walk counts none */
    got = json_loads(want = astest_whole(f, &f->cfg, "/api/state", NULL), 0, NULL);
    before = json_object_get(got, "scheduledTasks");
    assert_int_equal(json_integer_value(before), 0);
    json_decref(got);
    free(want);
}

/* The checks of as_api_handle: includeRequestIds must be a boolean. */
static void test_bad_query(void **state)
{
    fx *f = *state;
    astest_call k;
    as_result r;

    astest_call_init(&k, f, AS_GET, "/api/state", "includeRequestIds=maybe", NULL);
    assert_null(as_walk_new(&f->cfg, f->c, &k.req, &r));
    assert_int_equal(r.status, 400);
    as_result_release(&r);
    astest_call_release(&k);
    assert_false(as_walk_op(AS_OP_REQ_LIST));
    as_walk_free(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_pending_cluster, setup_pending, astest_teardown),
    cmocka_unit_test_setup_teardown(test_task_cluster, setup_tasks, astest_teardown),
    cmocka_unit_test_setup_teardown(test_changes_meanwhile, setup_pending, astest_teardown),
    cmocka_unit_test_setup_teardown(test_bad_query, setup_pending, astest_teardown),
};

CR_TEST_MAIN(tests)
