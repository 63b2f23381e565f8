#include "test/lib/cr_test.h"

#include <string.h>

#include "executor/exe_data.h"

static json_t *load(const char *fixture)
{
    size_t len;
    char *text = cr_test_fixture(fixture, &len);
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static void test_seed_executor_data(void **state)
{
    json_t *j = load("executor/fixtures/seed-executor-data.json");
    exe_data d;
    cr_err err;

    assert_int_equal(exe_data_parse(j, &d, &err), 0);
    assert_string_equal(d.cmd, "java -Xmx$JVM_MAX_HEAP -jar TestService.jar server $CONFIG_YAML");
    assert_int_equal(d.n_artifacts, 2);
    assert_int_equal(d.artifacts[0].kind, EXE_ART_EMBEDDED);
    assert_string_equal(d.artifacts[0].name, "rawDeployConfig");
    assert_int_equal(d.artifacts[0].content_len, strlen("name: TestService\n"));
    assert_memory_equal(d.artifacts[0].content, "name: TestService\n", d.artifacts[0].content_len);
    assert_int_equal(d.artifacts[1].kind, EXE_ART_S3);
    assert_string_equal(d.artifacts[1].s3_bucket, "hubspot.com");
    assert_string_equal(d.artifacts[1].s3_key, "build_artifacts/TestService/TestService.tar.gz");
    assert_string_equal(d.artifacts[1].md5sum, "313be85c5979a1c652ec93e305eb25e9");
    assert_int_equal(d.artifacts[1].filesize, 81055833);
    assert_true(exe_artifact_wants_extract(&d.artifacts[1]));
    assert_false(exe_artifact_wants_extract(&d.artifacts[0]));
    /* Defaults. */
    assert_string_equal(d.service_log, "service.log");
    assert_int_equal(d.n_ok_exit_codes, 1);
    assert_true(exe_data_exit_ok(&d, 0));
    assert_false(exe_data_exit_ok(&d, 1));
    assert_int_equal(d.sigkill_after_ms, -1);
    assert_false(d.preserve_sandbox);
    exe_data_release(&d);
    json_decref(j);
}

static void expect_error(const char *json, const char *detail)
{
    json_t *j = json_loads(json, 0, NULL);
    exe_data d;
    cr_err err;

    assert_non_null(j);
    assert_int_equal(exe_data_parse(j, &d, &err), -1);
    if (!strstr(err.detail, detail))
        fail_msg("error '%s' does not contain '%s'", err.detail, detail);
    json_decref(j);
}

static void test_errors_name_the_field(void **state)
{
    expect_error("{}", "executorData.cmd: required");
    expect_error("{\"cmd\": 3}", "executorData.cmd: must be a string");
    expect_error("{\"cmd\": \"x\", \"s3Artifacts\": [{\"filename\": \"a\", \"s3Bucket\": \"b\"}]}",
                 "executorData.s3Artifacts[0].s3ObjectKey: required");
    expect_error(
        "{\"cmd\": \"x\", \"externalArtifacts\": [{\"filename\": \"a\", \"url\": \"ftp://x\"}]}",
        "executorData.externalArtifacts[0].url: must be http:// or https://");
    expect_error(
        "{\"cmd\": \"x\", \"embeddedArtifacts\": [{\"filename\": \"../a\", \"content\": \"\"}]}",
        "executorData.embeddedArtifacts[0].filename: must be a plain file name");
    expect_error(
        "{\"cmd\": \"x\", \"embeddedArtifacts\": [{\"filename\": \"a\", \"content\": \"@@@\"}]}",
        "embeddedArtifacts[0].content: invalid base64");
    expect_error(
        "{\"cmd\": \"x\", \"externalArtifacts\": [{\"filename\": \"a\", \"url\": \"http://h/a\","
        " \"targetFolderRelativeToTask\": \"x/../../etc\"}]}",
        "targetFolderRelativeToTask: must stay inside the task directory");
    expect_error(
        "{\"cmd\": \"x\", \"externalArtifacts\": [{\"filename\": \"a\", \"url\": \"http://h/a\","
        " \"md5sum\": \"abc\"}]}",
        "externalArtifacts[0].md5sum: must be 32 hex digits");
    expect_error("{\"cmd\": \"x\", \"sigKillProcessesAfterMillis\": -5}",
                 "sigKillProcessesAfterMillis: must be a non-negative integer");
    expect_error("{\"cmd\": \"x\", \"removeOnFinish\": [\"/etc\"]}", "removeOnFinish[0]");
    expect_error("{\"cmd\": \"x\", \"successfulExitCodes\": [\"0\"]}", "successfulExitCodes[0]");
    expect_error("[1]", "must be a JSON object");
}

static void test_taskinfo(void **state)
{
    json_t *j = load("executor/fixtures/taskinfo.json");
    cr_err err;
    exe_task *t = exe_task_parse(j, &err);

    assert_non_null(t);
    assert_string_equal(t->task_id, "web-v1-1700000000000-2-host_a-rack_1");
    assert_string_equal(t->executor_id, "e1");
    assert_int_equal(t->kill_grace_ms, 7000);
    assert_int_equal(t->n_ports, 3);
    assert_int_equal(t->ports[0], 31000);
    assert_int_equal(t->ports[1], 31001);
    assert_int_equal(t->ports[2], 31005);
    assert_int_equal(t->n_env, 3);
    assert_string_equal(t->data.cmd, "./server");
    assert_int_equal(t->data.n_extra_args, 2);
    assert_int_equal(t->data.sigkill_after_ms, 1500);
    assert_true(exe_data_exit_ok(&t->data, 3));
    assert_string_equal(t->data.running_sentinel, "ready");
    assert_int_equal(t->data.log_keep, 3);
    exe_task_free(t);

    /* data that is not executorData JSON */
    json_object_set_new(j, "data", json_string("bm90IGpzb24="));
    assert_null(exe_task_parse(j, &err));
    assert_non_null(strstr(err.detail, "task.data: executorData is not JSON"));
    json_object_del(j, "data");
    assert_null(exe_task_parse(j, &err));
    assert_non_null(strstr(err.detail, "task.data: required"));
    /* containers it cannot run are refused, never run as plain processes */
    json_object_set_new(j, "container",
                        json_pack("{s:s,s:{s:s}}", "type", "DOCKER", "docker", "image", "busybox"));
    assert_null(exe_task_parse(j, &err));
    assert_non_null(strstr(err.detail, "cannot run DOCKER containers (image 'busybox')"));
    json_object_set_new(j, "container",
                        json_pack("{s:s,s:{s:{s:s}}}", "type", "MESOS", "mesos", "image", "type",
                                  "DOCKER"));
    assert_null(exe_task_parse(j, &err));
    assert_non_null(strstr(err.detail, "cannot run container images"));
    json_decref(j);
    exe_task_free(NULL);
}

static void test_duration_and_base64(void **state)
{
    size_t n;
    unsigned char *p;
    char *s;

    assert_int_equal(exe_parse_duration_ms("5secs"), 5000);
    assert_int_equal(exe_parse_duration_ms("1.5mins"), 90000);
    assert_int_equal(exe_parse_duration_ms("250ms"), 250);
    assert_int_equal(exe_parse_duration_ms("15mins"), 900000);
    assert_int_equal(exe_parse_duration_ms("5"), -1);
    assert_int_equal(exe_parse_duration_ms("xsecs"), -1);
    p = exe_base64_decode("aGk=", &n);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "hi", 2);
    free(p);
    p = exe_base64_decode("", &n);
    assert_int_equal(n, 0);
    free(p);
    assert_null(exe_base64_decode("abc", &n));
    s = exe_base64_encode((const unsigned char *)"hi!", 3);
    assert_string_equal(s, "aGkh");
    free(s);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_seed_executor_data),
    cmocka_unit_test(test_errors_name_the_field),
    cmocka_unit_test(test_taskinfo),
    cmocka_unit_test(test_duration_and_base64),
};
CR_TEST_MAIN(tests)
