#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "apis/keys.h"
#include "apiserver/as_logs.h"
#include "base/xalloc.h"

#define TID  "web-v1-1795553762424-1-host1-r1"
#define TID2 "web-v2-1795553762999-1-host1-r1"

static void put(as_cache *c, const char *tid, const char *file, const char *json, int64_t rev)
{
    char *k = api_key_log_upload("/corral", "web", tid, file);
    as_cache_put(c, k, cr_test_json(json), rev, rev);
    free(k);
}

static as_cache *fixture(void)
{
    as_cache *c = as_cache_new();
    put(c, TID, "service.log.1",
        "{\"state\":\"UPLOADED\",\"bucket\":\"logs\",\"key\":\"corral/web/" TID "/service.log.1\","
        "\"size\":10,\"uploadedAt\":2000,\"endTime\":1990,\"taskId\":\"" TID "\","
        "\"deployId\":\"v1\"}",
        5);
    put(c, TID, "service.log",
        "{\"state\":\"UPLOADED\",\"bucket\":\"logs\",\"key\":\"corral/web/" TID "/service.log\","
        "\"size\":4,\"uploadedAt\":3000,\"taskId\":\"" TID "\",\"deployId\":\"v1\"}",
        6);
    put(c, TID, "stdout",
        "{\"state\":\"UPLOADING\",\"bucket\":\"logs\",\"key\":\"corral/web/" TID "/stdout\","
        "\"size\":0,\"taskId\":\"" TID "\",\"deployId\":\"v1\"}",
        7);
    put(c, TID2, "service.log",
        "{\"state\":\"UPLOADED\",\"bucket\":\"logs\",\"key\":\"corral/web/" TID2 "/service.log\","
        "\"size\":1,\"uploadedAt\":4000,\"taskId\":\"" TID2 "\",\"deployId\":\"v2\"}",
        8);
    return c;
}

static as_logs_s3 cfg(void)
{
    as_logs_s3 s = {.s3 = {.endpoint = "http://127.0.0.1:9000",
                           .access_key = "AK",
                           .secret_key = "SK",
                           .path_style = true},
                    .expires_s = 60};
    return s;
}

/* Only confirmed uploads are listed, newest first, with presigned URLs. */
static void test_task_listing(void **state)
{
    as_cache *c = fixture();
    as_logs_s3 s = cfg();
    json_t *l = as_logs_list("/corral", c, &s, "web", TID, NULL, 1369353600000LL), *e;
    const char *get, *dl;

    assert_int_equal(json_array_size(l), 2);
    e = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(e, "fileName")), "service.log");
    assert_int_equal(json_integer_value(json_object_get(e, "lastModified")), 3000);
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 4);
    assert_string_equal(json_string_value(json_object_get(e, "taskId")), TID);
    get = json_string_value(json_object_get(e, "getUrl"));
    dl = json_string_value(json_object_get(e, "downloadUrl"));
    assert_non_null(strstr(get, "http://127.0.0.1:9000/logs/corral/web/" TID "/service.log?"
                                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524"));
    assert_non_null(strstr(get, "X-Amz-Expires=60"));
    assert_non_null(strstr(dl, "response-content-disposition=attachment%3B%20filename%3D%22"
                               "service.log%22&X-Amz-Signature="));
    e = json_array_get(l, 1);
    assert_string_equal(json_string_value(json_object_get(e, "fileName")), "service.log.1");
    assert_int_equal(json_integer_value(json_object_get(e, "endTime")), 1990);
    json_decref(l);
    as_cache_free(c);
}

static void test_request_deploy_and_options(void **state)
{
    as_cache *c = fixture();
    as_logs_s3 s = cfg();
    json_t *l;

    l = as_logs_list("/corral", c, &s, "web", NULL, NULL, 0);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    l = as_logs_list("/corral", c, &s, "web", NULL, "v2", 0);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    l = as_logs_list("/corral", c, &s, "other", NULL, NULL, 0);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    /* list only, a time window, a page */
    l = as_logs_list_opts("/corral", c, &s, "web", NULL, NULL, 0, 2500, 3500, false, 0);
    assert_int_equal(json_array_size(l), 1);
    assert_null(json_object_get(json_array_get(l, 0), "getUrl"));
    json_decref(l);
    l = as_logs_list_opts("/corral", c, &s, "web", NULL, NULL, 0, 0, 0, true, 2);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    as_cache_free(c);
}

/* What a restarted node agent reads back: every record, its revision. */
static void test_records_and_checks(void **state)
{
    as_cache *c = fixture();
    json_t *r = as_logs_records("/corral", c, "web", TID), *j;
    const char *why;

    assert_int_equal(json_array_size(r), 3);
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(r, i), "fileName")),
                    "stdout")) {
            assert_string_equal(json_string_value(json_object_get(json_array_get(r, i), "state")),
                                "UPLOADING");
            assert_int_equal(
                json_integer_value(json_object_get(json_array_get(r, i), "modRevision")), 7);
        }
    json_decref(r);
    j = cr_test_json("{\"state\":\"UPLOADED\",\"bucket\":\"b\",\"key\":\"k\",\"size\":1,"
                     "\"host\":\"h\",\"path\":\"stdout\"}");
    assert_null(as_logs_check_record(j));
    json_object_set_new(j, "state", json_string("DONE"));
    why = as_logs_check_record(j);
    assert_non_null(strstr(why, "state"));
    json_object_set_new(j, "state", json_string("UPLOADING"));
    json_object_set_new(j, "size", json_integer(-1));
    assert_non_null(strstr(as_logs_check_record(j), "size"));
    json_object_set_new(j, "size", json_integer(1));
    json_object_del(j, "key");
    assert_non_null(as_logs_check_record(j));
    json_decref(j);
    as_cache_free(c);
}

/* Beyond the bound, the oldest confirmed records go first. */
static void test_evict(void **state)
{
    as_cache *c = fixture();
    json_t *e;

    e = as_logs_evict("/corral", c, "web", 10);
    assert_int_equal(json_array_size(e), 0);
    json_decref(e);
    /* 4 records (3 UPLOADED): room for one more under 4 means one goes */
    e = as_logs_evict("/corral", c, "web", 4);
    assert_int_equal(json_array_size(e), 1);
    assert_non_null(strstr(json_string_value(json_array_get(e, 0)), "/service.log.1"));
    json_decref(e);
    e = as_logs_evict("/corral", c, "web", 2);
    assert_int_equal(json_array_size(e), 3); /* never the UPLOADING one */
    json_decref(e);
    as_cache_free(c);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_task_listing),
    cmocka_unit_test(test_request_deploy_and_options),
    cmocka_unit_test(test_records_and_checks),
    cmocka_unit_test(test_evict),
};
CR_TEST_MAIN(tests)
