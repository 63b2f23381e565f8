#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "base/xalloc.h"
#include "nodeagent/na_upload.h"

static na_logfile lf(const char *rel, bool rotated, int seq, int64_t size)
{
    const char *slash = strrchr(rel, '/');
    na_logfile f = {(char *)rel, (char *)(slash ? slash + 1 : rel), size, 0, rotated, seq};
    return f;
}

static void recs_of(const char *text, na_recs *out)
{
    json_t *j = cr_test_json(text);
    na_recs_from_json(j, out);
    json_decref(j);
}

/* Rotated files go while the task runs; the rest once its logs are final;
 * a claimed file (UPLOADING: the last run died after the claim) comes
 * first and is verified, never claimed again. */
static void test_next_action(void **state)
{
    na_logfile v[] = {lf("logs/service.log.1", true, 1, 10), lf("logs/service.log.2", true, 2, 10),
                      lf("service.log", false, 0, 5), lf("stdout", false, 0, 0)};
    na_logfiles files = {v, 4};
    na_recs recs;
    na_up_action a;

    recs_of("[]", &recs);
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_UPLOAD);
    assert_string_equal(a.file->name, "service.log.1");
    na_recs_release(&recs);

    recs_of("[{\"fileName\":\"service.log.1\",\"state\":\"UPLOADED\",\"modRevision\":5},"
            " {\"fileName\":\"service.log.2\",\"state\":\"UPLOADING\",\"modRevision\":7,"
            "  \"key\":\"p/r/t/service.log.2\",\"size\":10}]",
            &recs);
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_VERIFY);
    assert_string_equal(a.file->name, "service.log.2");
    assert_string_equal(a.rec->key, "p/r/t/service.log.2");
    assert_int_equal(a.rec->mod_revision, 7);
    assert_false(na_upload_done(&files, &recs, false));

    /* confirmed: nothing more while the task runs ... */
    {
        na_rec r = {xstrdup("service.log.2"), NA_REC_UPLOADED, 8, 10, NULL, NULL, NULL};
        na_recs_set(&recs, &r);
    }
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_NOTHING);
    assert_true(na_upload_done(&files, &recs, false));
    /* ... the current logs once final */
    a = na_upload_next(&files, &recs, true, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_UPLOAD);
    assert_string_equal(a.file->name, "service.log");
    assert_false(na_upload_done(&files, &recs, true));
    assert_int_equal(recs.n, 2);
    na_recs_release(&recs);
}

static bool skip_service_log(void *arg, const char *file)
{
    return strcmp(file, "service.log") == 0;
}

static void test_backoff_skips_a_failing_file(void **state)
{
    na_logfile v[] = {lf("service.log", false, 0, 5), lf("stdout", false, 0, 0)};
    na_logfiles files = {v, 2};
    na_recs recs;
    na_up_action a;

    recs_of("[]", &recs);
    a = na_upload_next(&files, &recs, true, skip_service_log, NULL);
    assert_string_equal(a.file->name, "stdout");
    na_recs_release(&recs);
    assert_int_equal(na_upload_backoff_ms(1), 1000);
    assert_int_equal(na_upload_backoff_ms(2), 2000);
    assert_int_equal(na_upload_backoff_ms(5), 16000);
    assert_int_equal(na_upload_backoff_ms(30), 60000);
}

static void test_key_pattern(void **state)
{
    char *k = na_s3_key("%prefix/%requestId/%taskId/%file", "", "web", "v1", "web-v1-1-1-h-r", "a1",
                        "h", "service.log.3");
    assert_string_equal(k, "web/web-v1-1-1-h-r/service.log.3");
    free(k);
    k = na_s3_key("/%prefix//%requestId/%deployId/%agentId-%host/100%%/%file%x", "logs/corral",
                  "web", "v1", "t", "a1", "h", "f");
    assert_string_equal(k, "logs/corral/web/v1/a1-h/100%/f%x");
    free(k);
}

/* The oldest uploaded copies go first, until the rest fit. */
static void test_budget(void **state)
{
    na_kept kept[] = {
        {"/s/c", 100, 3000}, {"/s/a", 100, 1000}, {"/s/b", 100, 2000}, {"/s/d", 50, 1000}};
    size_t out[4];

    assert_int_equal(na_budget_plan(kept, 4, 350, out), 0);
    assert_int_equal(na_budget_plan(kept, 4, 200, out), 2);
    assert_string_equal(kept[out[0]].path, "/s/a"); /* same mtime: by path */
    assert_string_equal(kept[out[1]].path, "/s/d");
    assert_int_equal(na_budget_plan(kept, 4, 0, out), 4);
    assert_string_equal(kept[out[3]].path, "/s/c");
    assert_int_equal(na_budget_plan(kept, 0, 0, out), 0);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_next_action),
    cmocka_unit_test(test_backoff_skips_a_failing_file),
    cmocka_unit_test(test_key_pattern),
    cmocka_unit_test(test_budget),
};
CR_TEST_MAIN(tests)
