#include "test/lib/cr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "executor/exe_art.h"
#include "executor/exe_executor.h"
#include "executor/exe_sm.h"

static const char *vars[] = {"MESOS_AGENT_ENDPOINT",
                             "MESOS_FRAMEWORK_ID",
                             "MESOS_EXECUTOR_ID",
                             "MESOS_DIRECTORY",
                             "MESOS_SANDBOX",
                             "MESOS_CHECKPOINT",
                             "MESOS_RECOVERY_TIMEOUT",
                             "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                             "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                             "MESOS_EXECUTOR_AUTHENTICATION_TOKEN",
                             "CORRAL_EXECUTOR_CONFIG",
                             "CORRAL_S3_ENDPOINT",
                             "CORRAL_S3_PATH_STYLE",
                             "AWS_ACCESS_KEY_ID",
                             "AWS_SECRET_ACCESS_KEY",
                             "AWS_REGION",
                             "AWS_DEFAULT_REGION",
                             "AWS_SESSION_TOKEN",
                             "CORRAL_EXECUTOR_CACHE_DIR",
                             "CORRAL_EXECUTOR_HARD_KILL_AFTER",
                             NULL};

static void clear_env(void)
{
    for (const char **v = vars; *v; v++)
        unsetenv(*v);
}

static void test_agent_environment(void **state)
{
    exe_config c;
    cr_err err;

    clear_env();
    assert_int_equal(exe_config_from_env(&c, &err), -1);
    assert_non_null(strstr(err.detail, "MESOS_AGENT_ENDPOINT: not set"));
    setenv("MESOS_AGENT_ENDPOINT", "10.0.1.4:5051", 1);
    assert_int_equal(exe_config_from_env(&c, &err), -1);
    assert_non_null(strstr(err.detail, "MESOS_FRAMEWORK_ID"));
    setenv("MESOS_FRAMEWORK_ID", "fw", 1);
    setenv("MESOS_EXECUTOR_ID", "ex", 1);
    setenv("MESOS_DIRECTORY", "/sb", 1);
    setenv("MESOS_CHECKPOINT", "1", 1);
    setenv("MESOS_RECOVERY_TIMEOUT", "15mins", 1);
    setenv("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs", 1);
    setenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "10secs", 1);
    setenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok", 1);
    assert_int_equal(exe_config_from_env(&c, &err), 0);
    assert_string_equal(c.agent_url, "http://10.0.1.4:5051/api/v1/executor");
    assert_string_equal(c.framework_id, "fw");
    assert_string_equal(c.executor_id, "ex");
    assert_string_equal(c.sandbox, "/sb");
    assert_true(c.checkpoint);
    assert_int_equal(c.recovery_timeout_ms, 900000);
    assert_int_equal(c.backoff_max_ms, 2000);
    assert_int_equal(c.shutdown_grace_ms, 10000);
    assert_string_equal(c.auth_token, "tok");
    /* The token never reaches the task's environment. */
    assert_null(getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
    assert_string_equal(c.s3_endpoint, "https://s3.amazonaws.com");
    assert_false(c.s3_path_style);
    assert_int_equal(c.default_kill_ms, 180000);
    exe_config_release(&c);
    clear_env();
}

static void test_config_file_and_env_precedence(void **state)
{
    char *dir = cr_test_tmpdir(), *path = xasprintf("%s/executor.json", dir);
    FILE *f = fopen(path, "w");
    exe_config c;
    cr_err err;

    fputs("{\"s3Endpoint\": \"http://127.0.0.1:9000\", \"s3PathStyle\": true, \"s3AccessKey\": "
          "\"fileAK\","
          " \"s3SecretKey\": \"fileSK\", \"artifactCacheDirectory\": \"/cache\", "
          "\"hardKillAfterMillis\": 5000}",
          f);
    fclose(f);
    clear_env();
    setenv("MESOS_AGENT_ENDPOINT", "http://127.0.0.1:5051", 1);
    setenv("MESOS_FRAMEWORK_ID", "fw", 1);
    setenv("MESOS_EXECUTOR_ID", "ex", 1);
    setenv("CORRAL_EXECUTOR_CONFIG", path, 1);
    setenv("AWS_ACCESS_KEY_ID", "envAK", 1);
    assert_int_equal(exe_config_from_env(&c, &err), 0);
    assert_string_equal(c.agent_url, "http://127.0.0.1:5051/api/v1/executor");
    assert_false(c.checkpoint);
    assert_string_equal(c.s3_endpoint, "http://127.0.0.1:9000");
    assert_true(c.s3_path_style);
    assert_string_equal(c.s3_access_key, "envAK"); /* the environment wins */
    assert_string_equal(c.s3_secret_key, "fileSK");
    assert_string_equal(c.cache_dir, "/cache");
    assert_int_equal(c.default_kill_ms, 5000);
    exe_config_release(&c);

    /* A broken file is an error naming file:line:col. */
    f = fopen(path, "w");
    fputs("{\"s3Endpoint\": ", f);
    fclose(f);
    assert_int_equal(exe_config_from_env(&c, &err), -1);
    assert_non_null(strstr(err.detail, "executor.json:1:"));
    clear_env();
    exe_remove_tree(dir);
    free(path);
    free(dir);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The kill note is the node agent's only when the task could not have
 * written it: a task that writes its own note (its sandbox is writable)
 * and exits 0 is not reported failed for memory with its own message. The
 * file here is ours (uid me): as the task's user it is refused, as
 * another's taken, unless the task runs as the executor's own uid. */
static void test_kill_note_read_only_when_not_the_tasks(void **state)
{
    char *dir = cr_test_tmpdir(), *note = xasprintf("%s/%s", dir, EXE_KILL_NOTE);
    char *other = xasprintf("%s/elsewhere.json", dir), msg[300];
    uid_t me = geteuid(), task = me + 1000, exe = me + 2000;
    bool mem = false;

    put(note, "{\"reason\":\"oom\",\"message\":\"killed by the node agent: memory\",\"at\":1}");
    /* written by someone else than the task (the node agent): read */
    assert_true(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    assert_string_equal(msg, "killed by the node agent: memory");
    assert_true(mem);
    /* the task's own file: ignored */
    mem = false;
    assert_false(exe_kill_note_read(dir, me, exe, NULL, msg, sizeof(msg), &mem));
    assert_false(mem);
    /* the task runs as the executor's uid: nothing to protect, read */
    assert_true(exe_kill_note_read(dir, me, me, NULL, msg, sizeof(msg), &mem));
    /* the task's user unknown: only a note of the executor's uid */
    assert_true(exe_kill_note_read(dir, EXE_UID_UNKNOWN, me, NULL, msg, sizeof(msg), &mem));
    assert_false(exe_kill_note_read(dir, EXE_UID_UNKNOWN, exe, NULL, msg, sizeof(msg), &mem));
    /* a hard link (to a file of someone else's, say): never, whoever */
    assert_int_equal(link(note, other), 0);
    assert_false(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    assert_false(exe_kill_note_read(dir, me, me, NULL, msg, sizeof(msg), &mem));
    assert_int_equal(unlink(other), 0);
    assert_true(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    /* a symbolic link: not followed */
    assert_int_equal(rename(note, other), 0);
    assert_int_equal(symlink(other, note), 0);
    assert_false(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    assert_int_equal(unlink(note), 0);
    /* a directory, or nothing: no note */
    assert_int_equal(mkdir(note, 0755), 0);
    assert_false(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    assert_int_equal(rmdir(note), 0);
    assert_false(exe_kill_note_read(dir, task, exe, NULL, msg, sizeof(msg), &mem));
    exe_remove_tree(dir);
    free(other);
    free(note);
    free(dir);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_agent_environment),
    cmocka_unit_test(test_config_file_and_env_precedence),
    cmocka_unit_test(test_kill_note_read_only_when_not_the_tasks),
};
CR_TEST_MAIN(tests)
