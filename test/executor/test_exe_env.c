#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "executor/exe_art.h"
#include "executor/exe_env.h"

static exe_task *load_task(void)
{
    size_t len;
    char *text = cr_test_fixture("executor/fixtures/taskinfo.json", &len);
    json_t *j = json_loadb(text, len, 0, NULL);
    cr_err err;
    exe_task *t = exe_task_parse(j, &err);

    free(text);
    json_decref(j);
    if (!t)
        fail_msg("%s", err.detail);
    return t;
}

static void test_taskid_parse(void **state)
{
    exe_taskid id;

    assert_int_equal(
        exe_taskid_parse("My-Service-v1.2-1521797006456-1-mesos_agent1.example.com-us_east_1a",
                         &id),
        0);
    assert_string_equal(id.request_id, "My-Service");
    assert_string_equal(id.deploy_id, "v1.2");
    assert_string_equal(id.started_at, "1521797006456");
    assert_string_equal(id.instance_no, "1");
    assert_string_equal(id.host, "mesos_agent1.example.com");
    assert_string_equal(id.rack, "us_east_1a");
    assert_int_equal(exe_taskid_parse("plain-task", &id), -1);
    assert_int_equal(exe_taskid_parse("a-b-notanumber-1-h-r", &id), -1);
    assert_int_equal(exe_taskid_parse("-b-1-1-h-r", &id), -1);
    assert_int_equal(exe_taskid_parse("", &id), -1);
}

static void test_env_precedence_and_expansion(void **state)
{
    exe_task *t = load_task();
    exe_env_ctx ctx = {.task = t, .host = "agent1.local", .rack = NULL, .started_at_ms = 5};
    size_t n;
    exe_env_var *env = exe_env_build(&ctx, &n);

    assert_string_equal(exe_env_get(env, n, "TASK_ID"), "web-v1-1700000000000-2-host_a-rack_1");
    assert_string_equal(exe_env_get(env, n, "TASK_REQUEST_ID"), "web");
    assert_string_equal(exe_env_get(env, n, "TASK_DEPLOY_ID"), "v1");
    assert_string_equal(exe_env_get(env, n, "INSTANCE_NO"), "2");
    assert_string_equal(exe_env_get(env, n, "TASK_STARTED_AT"), "1700000000000");
    /* The agent's hostname wins over the sanitized host in the id. */
    assert_string_equal(exe_env_get(env, n, "TASK_HOST"), "agent1.local");
    assert_string_equal(exe_env_get(env, n, "TASK_RACK_ID"), "rack_1");
    assert_string_equal(exe_env_get(env, n, "AVAILABILITY_ZONE"), "rack_1");
    assert_string_equal(exe_env_get(env, n, "PORT0"), "31000");
    assert_string_equal(exe_env_get(env, n, "PORT1"), "31001");
    assert_string_equal(exe_env_get(env, n, "PORT2"), "31005");
    assert_null(exe_env_get(env, n, "PORT3"));
    /* The deploy's env overrides task variables (Singularity's order). */
    assert_string_equal(exe_env_get(env, n, "PORT"), "8080");
    /* Task placeholders expand; unknown ones and $VAR stay for the shell. */
    assert_string_equal(exe_env_get(env, n, "APP"), "x-web-2-${UNKNOWN}-$HOME");
    assert_string_equal(exe_env_get(env, n, "EXTRA"), "web-v1-1700000000000-2-host_a-rack_1");
    assert_string_equal(exe_env_get(env, n, "STARTED_BY_USER"), "alice");
    /* Names are unique. */
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            assert_string_not_equal(env[i].name, env[k].name);
    exe_env_free(env, n);
    exe_task_free(t);
}

static void test_env_without_singularity_id(void **state)
{
    exe_task *t = load_task();
    exe_env_ctx ctx = {.task = t, .host = NULL, .rack = "r9", .started_at_ms = 1234};
    size_t n;
    exe_env_var *env;

    free(t->task_id);
    t->task_id = xstrdup("job42");
    env = exe_env_build(&ctx, &n);
    assert_string_equal(exe_env_get(env, n, "TASK_ID"), "job42");
    assert_string_equal(exe_env_get(env, n, "TASK_REQUEST_ID"), "web");
    assert_string_equal(exe_env_get(env, n, "TASK_STARTED_AT"), "1234");
    assert_string_equal(exe_env_get(env, n, "TASK_RACK_ID"), "r9");
    assert_null(exe_env_get(env, n, "TASK_HOST"));
    exe_env_free(env, n);
    exe_task_free(t);
}

static void test_sh_quote(void **state)
{
    char *q = exe_sh_quote("it's $x");
    assert_string_equal(q, "'it'\\''s $x'");
    free(q);
}

/* Runs the rendered script with /bin/sh and checks what the command sees. */
static void test_runner_script_runs(void **state)
{
    exe_task *t = load_task();
    exe_env_ctx ctx = {.task = t, .host = "h1", .started_at_ms = 1};
    size_t n, len = 0;
    exe_env_var *env = exe_env_build(&ctx, &n);
    char *dir = cr_test_tmpdir(), *script, *path, *out_path, *cmd, *out;
    FILE *f;
    int st;

    free(t->data.cmd);
    t->data.cmd = xstrdup("printf '%s|%s|%s|%s|' \"$TASK_ID\" \"$APP\" \"$(pwd)\" \"$(ulimit "
                          "-Sn)\"; printf '[%s]' \"$@\"");
    t->data.max_open_files = 512;
    script = exe_runner_script(&t->data, env, n, dir);
    assert_non_null(strstr(script, "export TASK_ID='web-v1-1700000000000-2-host_a-rack_1'\n"));
    assert_non_null(strstr(script, "ulimit -Sn 512"));
    assert_non_null(strstr(script, "exec /bin/sh -c "));
    path = xasprintf("%s/runner.sh", dir);
    out_path = xasprintf("%s/out", dir);
    f = fopen(path, "w");
    fputs(script, f);
    fclose(f);
    cmd = xasprintf("/bin/sh %s > %s 2>&1", path, out_path);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    out = NULL;
    {
        FILE *o = fopen(out_path, "r");
        char buf[4096];
        len = fread(buf, 1, sizeof(buf) - 1, o);
        buf[len] = '\0';
        fclose(o);
        out = xstrdup(buf);
    }
    {
        /* Values are literal, as Mesos passes them: $HOME is not expanded. */
        char *expect =
            xasprintf("web-v1-1700000000000-2-host_a-rack_1|x-web-2-${UNKNOWN}-$HOME|%s|512|", dir);
        if (strncmp(out, expect, strlen(expect)) != 0)
            fail_msg("got '%s', want prefix '%s'", out, expect);
        free(expect);
    }
    /* extraCmdLineArgs are quoted: "it's" survives as one word. */
    assert_non_null(strstr(out, "[--name][it's]"));
    free(out);
    free(cmd);
    free(path);
    free(out_path);
    free(script);
    exe_remove_tree(dir);
    free(dir);
    exe_env_free(env, n);
    exe_task_free(t);
}

static void test_runner_script_user_switch(void **state)
{
    exe_data d = {0};
    char *s;

    d.cmd = "run";
    d.user = "nobody";
    d.max_open_files = -1;
    s = exe_runner_script(&d, NULL, 0, "/sb/app");
    assert_non_null(strstr(s, "if [ \"$(id -u)\" = 0 ]; then"));
    assert_non_null(strstr(s, "setpriv --reuid='nobody'"));
    assert_null(strstr(s, "ulimit"));
    free(s);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_taskid_parse),
    cmocka_unit_test(test_env_precedence_and_expansion),
    cmocka_unit_test(test_env_without_singularity_id),
    cmocka_unit_test(test_sh_quote),
    cmocka_unit_test(test_runner_script_runs),
    cmocka_unit_test(test_runner_script_user_switch),
};
CR_TEST_MAIN(tests)
