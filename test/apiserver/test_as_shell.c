/* Task shell commands in the API (apiserver/as_shell.h) against a hand-fed
 * cache: the allow-list, the refusals (each writes nothing), the document
 * a command writes, and the history and update reads. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/as_api.h"
#include "apiserver/as_route.h"
#include "apiserver/as_shell.h"

#define TID "web-v1-1000-1-h1-r1"
#define PLAIN "web-v1-1000-2-h1-r1"

typedef struct fx {
    as_cache *c;
    as_api_config cfg;
    json_t *allow;
    int64_t rev, now;
} fx;

static void put(fx *f, const char *key, const char *json)
{
    f->rev++;
    as_cache_put(f->c, key, cr_test_json(json), f->rev, f->rev);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->c = as_cache_new();
    f->cfg.prefix = "/corral";
    f->allow = cr_test_json("[{\"name\":\"jstack\",\"options\":[{\"name\":\"force\"}]},"
                            "{\"name\":\"ls\"}]");
    f->cfg.shell_commands = f->allow;
    f->now = 5000;
    put(f, "/corral/tasks/web/" TID,
        "{\"taskId\":{\"id\":\"" TID "\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\",\"rackId\":\"r1\"},"
        "\"agentId\":\"a1\",\"hostname\":\"h1\",\"executorId\":\"" TID "\","
        "\"lastTaskState\":\"TASK_RUNNING\",\"updatedAt\":2000,\"taskUpdates\":[]}");
    put(f, "/corral/tasks/web/" PLAIN,
        "{\"taskId\":{\"id\":\"" PLAIN "\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1000,\"instanceNo\":2,\"host\":\"h1\",\"rackId\":\"r1\"},"
        "\"agentId\":\"a1\",\"hostname\":\"h1\",\"lastTaskState\":\"TASK_RUNNING\","
        "\"updatedAt\":2000,\"taskUpdates\":[]}");
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    as_cache_free(f->c);
    json_decref(f->allow);
    free(f);
    return 0;
}

/* One call, its writes applied; *nput the number of puts. */
static int call(fx *f, unsigned method, const char *path, const char *body, json_t **out,
                size_t *nput)
{
    as_match m;
    as_result r;
    f->now += 10;
    assert_int_equal(as_route_match(method, path, &m), AS_ROUTE_OK);
    as_req req = {.method = method,
                  .match = &m,
                  .body = body,
                  .body_len = body ? strlen(body) : 0,
                  .user = "alice",
                  .now = f->now,
                  .nonce = "n0"};
    as_api_handle(&f->cfg, f->c, &req, &r);
    int status = r.status;
    if (nput)
        *nput = r.txn.nput;
    if (r.txn.nput > 0 && as_txn_compares_hold(f->c, &r.txn))
        as_cache_apply_txn(f->c, &r.txn, ++f->rev);
    if (out)
        *out = json_incref(r.body);
    as_result_release(&r);
    as_match_release(&m);
    return status;
}

static void expect_refused(fx *f, const char *tid, const char *body, int status, const char *msg)
{
    char path[200];
    json_t *out = NULL;
    size_t nput = 9;
    snprintf(path, sizeof(path), "/api/tasks/task/%s/command", tid);
    assert_int_equal(call(f, AS_POST, path, body, &out, &nput), status);
    assert_int_equal(nput, 0);
    const char *m = json_string_value(json_object_get(out, "message"));
    if (!m || !strstr(m, msg))
        fail_msg("%s: wanted '%s', got '%s'", body, msg, m ? m : "(none)");
    json_decref(out);
}

static void test_refusals(void **state)
{
    fx *f = *state;
    expect_refused(f, TID, "{\"name\":\"rm\"}", 400, "Shell command rm not in [jstack, ls]");
    expect_refused(f, TID, "{\"name\":\"jstack\",\"options\":[\"-9\"]}", 400,
                   "Shell command jstack does not have option -9 ([force])");
    expect_refused(f, TID, "{\"options\":[]}", 400, "name: required");
    expect_refused(f, TID, "{\"name\":\"ls\",\"options\":\"force\"}", 400,
                   "options must be a list");
    expect_refused(f, TID, "not json", 400, "malformed JSON");
    expect_refused(f, TID, NULL, 400, "request body");
    expect_refused(f, PLAIN, "{\"name\":\"ls\"}", 400, "has no custom executor");
    expect_refused(f, "web-v1-1000-9-h1-r1", "{\"name\":\"ls\"}", 404, "No task");
    /* no allow-list: nothing may run */
    f->cfg.shell_commands = NULL;
    expect_refused(f, TID, "{\"name\":\"ls\"}", 400, "Shell command ls not in []");
    f->cfg.shell_commands = f->allow;
    /* bounded per task */
    for (int i = 0; i < AS_SHELL_MAX_PER_TASK; i++) {
        char key[200];
        snprintf(key, sizeof(key), "/corral/shells/web/" TID "/%013d-ls", i);
        put(f, key, "{\"shellRequest\":{},\"shellUpdates\":[]}");
    }
    expect_refused(f, TID, "{\"name\":\"ls\"}", 400, "has run 100 shell commands, the most");
    /* a finished task */
    put(f, "/corral/tasks/web/" TID,
        "{\"taskId\":{\"id\":\"" TID "\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\",\"rackId\":\"r1\"},"
        "\"agentId\":\"a1\",\"executorId\":\"" TID "\",\"lastTaskState\":\"TASK_FINISHED\","
        "\"updatedAt\":2000,\"taskUpdates\":[]}");
    expect_refused(f, TID, "{\"name\":\"ls\"}", 400, "is not an active task, can't run ls on it");
}

static void test_run_and_read(void **state)
{
    fx *f = *state;
    json_t *out = NULL;
    size_t nput = 0;
    assert_int_equal(call(f, AS_POST, "/api/tasks/task/" TID "/command",
                          "{\"name\":\"jstack\",\"options\":[\"force\"],\"extra\":1}", &out,
                          &nput),
                     200);
    assert_int_equal(nput, 1);
    int64_t ts = json_integer_value(json_object_get(out, "timestamp"));
    assert_int_equal(ts, f->now);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "taskId"), "id")),
                        TID);
    json_decref(out);

    /* the document, where the bridge finds it */
    char key[300];
    snprintf(key, sizeof(key), "/corral/shells/web/" TID "/%013lld-jstack", (long long)ts);
    const json_t *doc = as_cache_value(f->c, key);
    assert_non_null(doc);
    json_t *want = json_pack(
        "{s:{s:{s:s,s:s,s:s,s:i,s:i,s:s,s:s},s:s,s:I,s:{s:s,s:[s],s:s}},s:[]}", "shellRequest",
        "taskId", "id", TID, "requestId", "web", "deployId", "v1", "startedAt", 1000,
        "instanceNo", 1, "host", "h1", "rackId", "r1", "user", "alice", "timestamp",
        (json_int_t)ts, "shellCommand", "name", "jstack", "options", "force", "user", "alice",
        "shellUpdates");
    if (!json_equal((json_t *)doc, want)) {
        char *a = json_dumps(doc, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
        fail_msg("document:\n%s\nwant:\n%s", a, b);
    }
    json_decref(want);

    /* queued until the bridge sent it */
    assert_int_equal(call(f, AS_GET, "/api/tasks/commands/queued", NULL, &out, NULL), 200);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);

    /* the bridge's updates show in the history and the per-command list */
    json_t *d = json_deep_copy(doc);
    json_object_set_new(d, "sentAt", json_integer(ts + 1));
    json_array_append_new(json_object_get(d, "shellUpdates"),
                          json_pack("{s:s,s:s}", "updateType", "ACKED", "outputFilename", "o.log"));
    f->rev++;
    as_cache_put(f->c, key, d, f->rev, f->rev);
    assert_int_equal(call(f, AS_GET, "/api/tasks/commands/queued", NULL, &out, NULL), 200);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    assert_int_equal(call(f, AS_GET, "/api/tasks/task/" TID "/command", NULL, &out, NULL), 200);
    assert_int_equal(json_array_size(out), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(json_array_get(out, 0), "shellUpdates"),
                                           0),
                            "updateType")),
                        "ACKED");
    assert_null(json_object_get(json_array_get(out, 0), "sentAt")); /* Singularity's shape */
    json_decref(out);
    char path[300];
    snprintf(path, sizeof(path), "/api/tasks/task/" TID "/command/jstack/%lld", (long long)ts);
    assert_int_equal(call(f, AS_GET, path, NULL, &out, NULL), 200);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    assert_int_equal(call(f, AS_GET, "/api/tasks/task/" TID "/command/jstack/1", NULL, &out, NULL),
                     200);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    assert_int_equal(call(f, AS_GET, "/api/tasks/task/" TID "/command/jstack/x", NULL, NULL, NULL),
                     400);
    assert_int_equal(call(f, AS_GET, "/api/tasks/task/web-v1-1000-9-h1-r1/command", NULL, NULL,
                          NULL),
                     404);
}

static void test_allow_list_file(void **state)
{
    char *dir = cr_test_tmpdir();
    char path[512];
    cr_err err;
    snprintf(path, sizeof(path), "%s/allow.json", dir);
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"[{\"name\":\"ok\",\"options\":[{\"name\":\"x\"}]}]", NULL},
        {"{}", "must be a list"},
        {"[{\"name\":\"a b\"}]", "[0].name: required, 1-100 characters"},
        {"[{\"name\":\"a\",\"options\":{}}]", "[0].options: must be a list"},
        {"[{\"name\":\"a\",\"options\":[{}]}]", "[0].options[0].name: required"},
        {"[", "allow.json:1:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *fp = fopen(path, "w");
        fputs(cases[i].text, fp);
        fclose(fp);
        json_t *j = as_shell_commands_load(path, &err);
        if (!cases[i].msg) {
            assert_non_null(j);
        } else {
            assert_null(j);
            if (!strstr(cr_err_msg(&err), cases[i].msg))
                fail_msg("%s: got %s", cases[i].text, cr_err_msg(&err));
        }
        json_decref(j);
    }
    unlink(path);
    rmdir(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_run_and_read, setup, teardown),
    cmocka_unit_test(test_allow_list_file),
};

CR_TEST_MAIN(tests)
