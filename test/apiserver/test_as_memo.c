/* GET /api/requests/request/{id} from the memo of request parents
 * (as_memo): over every request shape of the fixtures, and after each
 * change of what a parent is made of, the answer with the memo is the
 * bytes and the ETag of the answer built now without it. (The lists' use
 * of the memo: test_as_list.c.) */
#include "test/apiserver/astest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef astest_fx fx;

static void put(fx *f, const char *key, const char *json)
{
    f->rev++;
    as_cache_put_raw(f->c, key, json, strlen(json), f->rev, f->rev);
}

static void del(fx *f, const char *key)
{
    as_cache_del(f->c, key, ++f->rev);
}

static int setup_cluster(void **state)
{
    return astest_setup_cluster(state);
}

static int setup_tasks(void **state)
{
    int rc = astest_setup_records(state, "apiserver/fixtures/task-records.txt");
    fx *f = *state;

    f->rev = as_cache_revision(f->c);
    return rc;
}

static int setup_pending(void **state)
{
    int rc = astest_setup_records(state, "apiserver/fixtures/pending-records.txt");
    fx *f = *state;

    f->rev = as_cache_revision(f->c);
    return rc;
}

/* FNV-1a, as the server hashed its ETags before the memo served GETs. */
static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* What the server sends for one GET (or HEAD) of path with cfg: status,
 * ETag (200s) and body bytes, as one text (caller frees). The ETag of a
 * body is worked out as the server did before this memo path: of the
 * request document dumped with sorted keys, else of the answer. */
static char *wire(fx *f, const as_api_config *cfg, unsigned method, const char *path)
{
    astest_call k;
    as_result r = {0};
    cr_buf b = CR_BUF_INIT;
    char *text = NULL;
    uint32_t etag = 0;

    astest_call_init(&k, f, method, path, NULL, NULL);
    assert_int_equal(k.m.op, AS_OP_REQ_GET);
    as_api_handle(cfg, f->c, &k.req, &r);
    assert_int_equal(r.kind, AS_RESULT_JSON);
    if (r.json) {
        /* only a 200 with the memo, and then nothing else */
        assert_non_null(cfg->memo);
        assert_int_equal(r.status, 200);
        assert_null(r.body);
        assert_int_equal(strlen(r.json), r.json_len);
        text = xstrdup(r.json);
        etag = r.json_etag;
    } else if (r.body) {
        const json_t *rq = json_object_get(r.body, "request");
        char *src = json_is_object(rq) ? json_dumps(rq, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        text = json_dumps(r.body, AS_JSON_FLAGS);
        etag = fnv(src ? src : text);
        free(src);
        /* with the memo, a 200 always comes from it */
        if (cfg->memo && r.status == 200)
            fail_msg("%s: a 200 with the memo built its body", path);
    }
    cr_buf_addf(&b, "%d\n", r.status);
    if (r.status == 200)
        cr_buf_addf(&b, "ETag: %" PRId32 "\n", (int32_t)etag);
    cr_buf_adds(&b, text ? text : "");
    free(text);
    as_result_release(&r);
    astest_call_release(&k);
    return cr_buf_detach(&b, NULL);
}

/* Every request of the cache, and ids that name none or are invalid: GET
 * and HEAD with the memo, twice (the second time from it), give what the
 * call without it gives. */
static void check_gets(fx *f, const char *when)
{
    static const char *const others[] = {"ghost", "nobody", "a%2Fb", "x%20y"};
    size_t first, n = as_cache_range(f->c, "/corral/requests/", &first), tried = 0;
    char **ids = xcalloc(n + 4, sizeof(*ids));
    char path[512];

    for (size_t i = 0; i < n; i++) {
        const as_entry *e = as_cache_at(f->c, first + i);
        if (e->kind == API_KEY_REQUEST && e->id1)
            ids[tried++] = xstrdup(e->id1);
    }
    for (size_t i = 0; i < 4; i++)
        ids[tried++] = xstrdup(others[i]);
    for (size_t i = 0; i < tried; i++) {
        snprintf(path, sizeof(path), "/api/requests/request/%s", ids[i]);
        for (int head = 0; head < 2; head++) {
            unsigned method = head ? AS_HEAD : AS_GET;
            char *want = wire(f, &f->cfg, method, path);
            for (int k = 0; k < 2; k++) {
                char *got = wire(f, &f->memoized, method, path);
                if (strcmp(got, want) != 0)
                    fail_msg("%s: %s %s (memo, call %d):\n got %s\nwant %s", when,
                             as_method_name(method), path, k + 1, got, want);
                free(got);
            }
            free(want);
        }
        free(ids[i]);
    }
    free(ids);
}

static void test_fixture_shapes(void **state)
{
    fx *f = *state;
    as_memo_stats a, b;

    check_gets(f, "fixture");
    as_memo_get_stats(f->memo, &a);
    assert_true(a.hits > 0);
    /* Nothing changed: all hits now. */
    check_gets(f, "again");
    as_memo_get_stats(f->memo, &b);
    assert_true(b.hits > a.hits);
    assert_int_equal(b.drops, a.drops);
}

/* Each change that alters a parent shows at once in the GET of its
 * request (and of no other); every step is checked after a GET through
 * the memo has kept the parent as it was. */
static void test_follows_changes(void **state)
{
    fx *f = *state;
    as_memo_stats ms;
    struct {
        const char *what, *key, *json; /* json NULL: delete */
    } steps[] = {
        {"request", "/corral/requests/web",
         "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":3,\"owners\":[\"a@b\"]}"},
        {"status with conditions", "/corral/status/requests/web",
         "{\"requestId\":\"web\",\"state\":\"ACTIVE\",\"activeDeployId\":\"v1\","
         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}"},
        {"new deploy", "/corral/deploys/web/v2",
         "{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"x\",\"resources\":{\"cpus\":0.25}}"},
        {"pending deploy", "/corral/status/requests/web",
         "{\"requestId\":\"web\",\"state\":\"ACTIVE\",\"activeDeployId\":\"v1\","
         "\"pendingDeployId\":\"v2\"}"},
        {"deploy status", "/corral/status/deploys/web/v2",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"WAITING\","
         "\"currentActiveInstances\":1}"},
        {"deploy update", "/corral/intents/deploys/web/v2/update", "{\"targetActiveInstances\":1}"},
        {"deploy submit", "/corral/intents/deploys/web/v2/submit",
         "{\"user\":\"bob\",\"timestamp\":7,\"message\":\"go\"}"},
        {"deploy failed", "/corral/status/deploys/web/v2",
         "{\"requestId\":\"web\",\"deployId\":\"v2\",\"state\":\"FAILED\"}"},
        {"deploy cancel", "/corral/intents/deploys/web/v2/cancel", "{\"user\":\"bob\"}"},
        {"pause", "/corral/intents/requests/web/pause",
         "{\"killTasks\":true,\"durationMillis\":9}"},
        {"paused", "/corral/status/requests/web",
         "{\"requestId\":\"web\",\"state\":\"PAUSED\",\"activeDeployId\":\"v1\"}"},
        {"expiring bounce", "/corral/intents/requests/web/bounce",
         "{\"durationMillis\":5,\"user\":\"bob\",\"timestamp\":3}"},
        {"expiring skip-healthchecks", "/corral/intents/requests/web/skip-healthchecks",
         "{\"skipHealthchecks\":true,\"durationMillis\":5,\"timestamp\":4}"},
        {"expiring scale", "/corral/intents/requests/job/scale",
         "{\"instances\":2,\"durationMillis\":5,\"actionId\":\"a1\"}"},
        {"task", "/corral/tasks/web/web-v1-1002-3-h1-r1",
         "{\"taskId\":{\"id\":\"web-v1-1002-3-h1-r1\",\"requestId\":\"web\",\"deployId\":\"v1\","
         "\"startedAt\":1002,\"instanceNo\":3,\"host\":\"h1\",\"rackId\":\"r1\"},"
         "\"agentId\":\"a1\",\"lastTaskState\":\"TASK_RUNNING\",\"healthy\":true}"},
        {"cleanup", "/corral/cleanups/web-v1-1002-3-h1-r1", "{\"cleanupType\":\"USER_REQUESTED\"}"},
        {"pending task", "/corral/pending/web/web-v1-5-1-NEW_DEPLOY-5",
         "{\"pendingTaskId\":{\"id\":\"web-v1-5-1-NEW_DEPLOY-5\",\"requestId\":\"web\"}}"},
        {"load balancer", "/corral/status/lb/web",
         "{\"state\":\"SUCCESS\",\"upstreams\":[\"h1:1\"]}"},
        {"job status", "/corral/status/jobs/cron", "{\"nextFireAt\":-1,\"runs\":2}"},
        {"cooldown", "/corral/status/requests/job",
         "{\"requestId\":\"job\",\"state\":\"SYSTEM_COOLDOWN\"}"},
        {"finished", "/corral/status/requests/cron",
         "{\"requestId\":\"cron\",\"state\":\"FINISHED\"}"},
        {"agent", "/corral/agents/a1", "{\"id\":\"a1\",\"hostname\":\"h9\"}"},
        {"unknown key", "/corral/whatever/x", "{}"},
        {"foreign task id", "/corral/tasks/web/job-v1-5-1-h1-r1",
         "{\"taskId\":{\"id\":\"job-v1-5-1-h1-r1\",\"requestId\":\"job\"},"
         "\"lastTaskState\":\"TASK_RUNNING\"}"},
        {"foreign cleanup", "/corral/cleanups/job-v1-5-1-h1-r1",
         "{\"cleanupType\":\"USER_REQUESTED\"}"},
        {"delete foreign task", "/corral/tasks/web/job-v1-5-1-h1-r1", NULL},
        {"delete cleanup", "/corral/cleanups/web-v1-1002-3-h1-r1", NULL},
        {"delete pause", "/corral/intents/requests/web/pause", NULL},
        {"delete deploy status", "/corral/status/deploys/web/v2", NULL},
        {"delete lb status", "/corral/status/lb/web", NULL},
        {"delete task", "/corral/tasks/web/web-v1-1002-3-h1-r1", NULL},
        {"delete request", "/corral/requests/job", NULL},
        {"request again", "/corral/requests/job", "{\"id\":\"job\",\"requestType\":\"ON_DEMAND\"}"},
        {"not an object", "/corral/requests/cron", "[1]"},
        {"new request", "/corral/requests/api", "{\"id\":\"api\",\"requestType\":\"WORKER\"}"},
    };

    check_gets(f, "start");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].json)
            put(f, steps[i].key, steps[i].json);
        else
            del(f, steps[i].key);
        check_gets(f, steps[i].what);
    }
    as_memo_get_stats(f->memo, &ms);
    assert_true(ms.hits > 0);
    assert_true(ms.drops > 0);
}

/* A cache emptied and filled again by hand tells no subscriber: the GET
 * does not answer from entries built from the old objects. */
static void test_silent_refill(void **state)
{
    fx *f = *state;
    char *before, *after;

    before = wire(f, &f->memoized, AS_GET, "/api/requests/request/web");
    as_cache_clear(f->c);
    put(f, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\"}");
    as_cache_set_synced(f->c, true);
    after = wire(f, &f->memoized, AS_GET, "/api/requests/request/web");
    assert_string_not_equal(before, after);
    free(before);
    free(after);
    check_gets(f, "refilled");
}

/* GETs of one unchanged request are served from the memo: one encoding,
 * then hits. */
static void test_hits(void **state)
{
    fx *f = *state;
    as_memo_stats a, b;

    free(wire(f, &f->memoized, AS_GET, "/api/requests/request/web"));
    as_memo_get_stats(f->memo, &a);
    for (int i = 0; i < 5; i++)
        free(wire(f, &f->memoized, AS_GET, "/api/requests/request/web"));
    as_memo_get_stats(f->memo, &b);
    assert_int_equal(b.misses, a.misses);
    assert_int_equal(b.hits, a.hits + 5);
}

static const struct CMUnitTest tests[] = {
    {"fixture_shapes_cluster", test_fixture_shapes, setup_cluster, astest_teardown, NULL},
    {"fixture_shapes_tasks", test_fixture_shapes, setup_tasks, astest_teardown, NULL},
    {"fixture_shapes_pending", test_fixture_shapes, setup_pending, astest_teardown, NULL},
    {"follows_changes_cluster", test_follows_changes, setup_cluster, astest_teardown, NULL},
    {"follows_changes_tasks", test_follows_changes, setup_tasks, astest_teardown, NULL},
    cmocka_unit_test_setup_teardown(test_silent_refill, setup_cluster, astest_teardown),
    cmocka_unit_test_setup_teardown(test_hits, setup_cluster, astest_teardown),
};
CR_TEST_MAIN(tests)
