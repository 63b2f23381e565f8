/* The runner's helpers that need no etcd (controllers/runner.h): which
 * documents of a request a pass leaves out as invalid, and how the
 * DocumentsValid condition names them. The cache is fed by hand. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "controllers/runner.h"

#define P "/corral"

static const ctl_loop nothing = {.name = "test"};

static void feed(store_cache *c, const char *key, const char *value)
{
    static int64_t rev;
    rev++;
    store_cache_feed_raw(c, key, value, strlen(value), rev, rev);
}

/* Issue 21: a garbage pause intent, a bounce without its token, a task
 * record under another task's key; the valid documents around them are not
 * listed, and neither are those of another request. */
static void test_ignored_documents(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = P});
    ctl_runner *r = ctl_runner_new(NULL, NULL, c, NULL, &nothing, NULL, NULL);
    ctl_ignored ig = CTL_IGNORED_INIT;
    const char *msg;

    feed(c, P "/requests/web", "{\"id\":\"web\",\"requestType\":\"WORKER\"}");
    feed(c, P "/intents/requests/web/pause", "garbage");
    feed(c, P "/intents/requests/web/bounce", "{\"user\":\"a\"}");
    feed(c, P "/intents/requests/web/exit-cooldown", "{\"timestamp\":5}");
    feed(c, P "/intents/deploys/web/v1/cancel", "{\"user\":\"a\"}");
    feed(c, P "/tasks/web/web-v1-1-2-h-r",
         "{\"taskId\":\"web-v1-1-1-h-r\",\"agentId\":\"a\",\"lastTaskState\":\"TASK_RUNNING\","
         "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"}}");
    feed(c, P "/intents/requests/api/pause", "garbage"); /* another request's */

    assert_null(ctl_ignored_message(&ig));
    ctl_ignored_collect(&ig, r, P, "web");
    msg = ctl_ignored_message(&ig);
    assert_non_null(msg);
    if (!strstr(msg, "3 invalid documents ignored: ") ||
        !strstr(msg, P "/intents/requests/web/pause: not JSON") ||
        !strstr(msg, P "/intents/requests/web/bounce: timestamp: required and > 0") ||
        !strstr(msg, P "/tasks/web/web-v1-1-2-h-r: taskId.id: \"web-v1-1-1-h-r\" does not match") ||
        strstr(msg, "exit-cooldown") || strstr(msg, "cancel") || strstr(msg, "/api/"))
        fail_msg("message: %s", msg);
    /* Asked again: the same text. */
    assert_ptr_equal(ctl_ignored_message(&ig), msg);
    ctl_ignored_release(&ig);

    /* A valid document is not added; an invalid one is, with the count of
     * its other problems. */
    ig = (ctl_ignored)CTL_IGNORED_INIT;
    feed(c, P "/cleanups/web-v1-1-1-h-r",
         "{\"taskId\":\"web-v1-1-1-h-r\",\"cleanupType\":7,"
         "\"timestamp\":\"now\"}");
    assert_false(ctl_ignored_add(&ig, store_cache_get(c, P "/requests/web")));
    assert_false(ctl_ignored_add(&ig, NULL));
    assert_true(ctl_ignored_add(&ig, store_cache_get(c, P "/cleanups/web-v1-1-1-h-r")));
    msg = ctl_ignored_message(&ig);
    if (!strstr(msg, "1 invalid document ignored: " P "/cleanups/web-v1-1-1-h-r: ") ||
        !strstr(msg, "(and 1 more problem)"))
        fail_msg("message: %s", msg);
    ctl_ignored_release(&ig);

    ctl_runner_free(r);
    store_cache_free(c);
}

/* Many invalid documents: five are named, the rest counted. */
static void test_ignored_bounded(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = P});
    ctl_runner *r = ctl_runner_new(NULL, NULL, c, NULL, &nothing, NULL, NULL);
    ctl_ignored ig = CTL_IGNORED_INIT;
    char key[64];

    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), P "/pending/web/p%d", i);
        feed(c, key, "[]");
    }
    ctl_ignored_collect(&ig, r, P, "web");
    const char *msg = ctl_ignored_message(&ig);
    if (!strstr(msg, "8 invalid documents ignored: ") || !strstr(msg, "/pending/web/p4:") ||
        strstr(msg, "/pending/web/p5:") || !strstr(msg, "; and 3 more"))
        fail_msg("message: %s", msg);
    ctl_ignored_release(&ig);
    ctl_runner_free(r);
    store_cache_free(c);
}

/* ARCHIVE copies a record into history as json_dumps(<its value>,
 * JSON_COMPACT) wrote it when the cache kept trees: the record's own bytes
 * when the bridge wrote it (compact, every digit of its reals), the same
 * re-encoding for one written otherwise; nothing for a value that is not an
 * object or array. */
static void test_task_lookup_text(void **state)
{
    static const char first[] = "{\"taskId\":\"web-v1-1-1-h-r\",\"resources\":"
                                "{\"cpus\":0.10000000000000001},\"mesosTask\":{\"name\":\"web\"}}";
    static const char *const values[] = {
        first,
        " { \"taskId\" : \"web-v1-1-1-h-r\", \"n\" : [1E2, -0, 0.1], \"s\" : \"\\u00e9\\/\" } ",
        "{\"a\":1,\"a\":2}",
        "[1,2]",
        "\"a string\"",
        "not json",
    };
    store_cache *c = store_cache_new(NULL, NULL, &(store_cache_config){.prefix = P});
    ctl_runner *r = ctl_runner_new(NULL, NULL, c, NULL, &nothing, NULL, NULL);

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ctl_task_lookup l;
        ctl_doc_lookup look = ctl_task_lookup_init(&l, r, P, "web");
        json_t *j = json_loads(values[i], JSON_DECODE_ANY, NULL);
        char *want = j ? json_dumps(j, JSON_COMPACT) : NULL;
        int64_t rev = 0;
        const char *got;

        feed(c, P "/tasks/web/web-v1-1-1-h-r", values[i]);
        got = look.task(look.arg, "web-v1-1-1-h-r", &rev);
        assert_int_equal(rev, store_cache_get(c, P "/tasks/web/web-v1-1-1-h-r")->mod_revision);
        if (want)
            assert_string_equal(got, want);
        else
            assert_null(got);
        if (i == 0)
            assert_string_equal(got, values[0]); /* the bridge's bytes, as they are */
        free(want);
        json_decref(j);
        ctl_task_lookup_release(&l);
    }
    ctl_task_lookup l;
    ctl_doc_lookup look = ctl_task_lookup_init(&l, r, P, "web");
    int64_t rev = 7;
    assert_null(look.task(look.arg, "web-v1-9-9-h-r", &rev));
    assert_int_equal(rev, 0);
    ctl_task_lookup_release(&l);
    ctl_runner_free(r);
    store_cache_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ignored_documents),
    cmocka_unit_test(test_ignored_bounded),
    cmocka_unit_test(test_task_lookup_text),
};
CR_TEST_MAIN(tests)
