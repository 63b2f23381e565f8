#include "test/lib/cr_test.h"

#include <string.h>

#include "executor/exe_data.h"
#include "executor/exe_proto.h"

static void test_recordio_split_and_joined(void **state)
{
    const char *stream = "20\n{\"type\":\"HEARTBEAT\"}\n21\n{\"type\":\"SUBSCRIBED\"}5\nhello";
    size_t n = strlen(stream);
    const char *rec;
    size_t len;
    cr_err err;
    char got[8][64];
    int count = 0;

    /* Feed one byte at a time: records span chunks. */
    for (int pass = 0; pass < 2; pass++) {
        exe_recordio r;
        exe_recordio_init(&r, 0);
        count = 0;
        if (pass == 0) {
            for (size_t i = 0; i < n; i++) {
                exe_recordio_feed(&r, stream + i, 1);
                while (exe_recordio_next(&r, &rec, &len, &err) == 1) {
                    memcpy(got[count], rec, len);
                    got[count++][len] = '\0';
                }
            }
        } else {
            /* Everything in one chunk. */
            exe_recordio_feed(&r, stream, n);
            while (exe_recordio_next(&r, &rec, &len, &err) == 1) {
                memcpy(got[count], rec, len);
                got[count++][len] = '\0';
            }
        }
        assert_int_equal(count, 3);
        assert_string_equal(got[0], "{\"type\":\"HEARTBEAT\"}");
        assert_string_equal(got[1], "{\"type\":\"SUBSCRIBED\"}");
        assert_string_equal(got[2], "hello");
        assert_int_equal(exe_recordio_next(&r, &rec, &len, &err), 0);
        exe_recordio_release(&r);
    }
}

static void test_recordio_errors(void **state)
{
    exe_recordio r;
    const char *rec;
    size_t len;
    cr_err err;

    exe_recordio_init(&r, 100);
    exe_recordio_feed(&r, "x1\n", 3);
    assert_int_equal(exe_recordio_next(&r, &rec, &len, &err), -1);
    assert_int_equal(err.code, CR_EPARSE);
    exe_recordio_release(&r);

    exe_recordio_init(&r, 100);
    exe_recordio_feed(&r, "1000\n", 5);
    assert_int_equal(exe_recordio_next(&r, &rec, &len, &err), -1);
    assert_int_equal(err.code, CR_ETOOLARGE);
    exe_recordio_release(&r);

    exe_recordio_init(&r, 100);
    exe_recordio_feed(&r, "0\n", 2);
    assert_int_equal(exe_recordio_next(&r, &rec, &len, &err), -1);
    exe_recordio_release(&r);
}

static void test_uuid_and_status(void **state)
{
    unsigned char a[16], b[16], *raw;
    json_t *st, *call;
    size_t n;

    exe_uuid4(a);
    exe_uuid4(b);
    assert_memory_not_equal(a, b, 16);
    assert_int_equal(a[6] >> 4, 4);
    assert_int_equal(a[8] & 0xC0, 0x80);
    st = exe_status_new("t1", "e1", "TASK_RUNNING", NULL, "started", a);
    assert_string_equal(json_string_value(json_object_get(st, "source")), "SOURCE_EXECUTOR");
    assert_string_equal(json_string_value(json_object_get(st, "state")), "TASK_RUNNING");
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "task_id"), "value")),
                        "t1");
    assert_null(json_object_get(st, "reason"));
    raw = exe_base64_decode(json_string_value(json_object_get(st, "uuid")), &n);
    assert_int_equal(n, 16);
    assert_memory_equal(raw, a, 16);
    free(raw);
    call = exe_call_update("fw", "e1", st);
    assert_string_equal(json_string_value(json_object_get(call, "type")), "UPDATE");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(call, "framework_id"), "value")), "fw");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(call, "executor_id"), "value")), "e1");
    assert_true(json_equal(json_object_get(json_object_get(call, "update"), "status"), st));
    json_decref(call);
    json_decref(st);
}

static void test_subscribe_call(void **state)
{
    json_t *c = exe_call_subscribe("fw", "e1", NULL, NULL), *sub;
    json_t *tasks = json_pack("[{s:s}]", "name", "t"), *ups = json_array();

    /* The subscribe object must be present even when empty. */
    sub = json_object_get(c, "subscribe");
    assert_true(json_is_object(sub));
    assert_int_equal(json_object_size(sub), 0);
    json_decref(c);
    c = exe_call_subscribe("fw", "e1", tasks, ups);
    sub = json_object_get(c, "subscribe");
    assert_int_equal(json_array_size(json_object_get(sub, "unacknowledged_tasks")), 1);
    assert_null(json_object_get(sub, "unacknowledged_updates"));
    json_decref(c);
    c = exe_call_message("fw", "e1", "hi", 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "message"), "data")),
                        "aGk=");
    json_decref(c);
    json_decref(tasks);
    json_decref(ups);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_recordio_split_and_joined),
    cmocka_unit_test(test_recordio_errors),
    cmocka_unit_test(test_uuid_and_status),
    cmocka_unit_test(test_subscribe_call),
};
CR_TEST_MAIN(tests)
