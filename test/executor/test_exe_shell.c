/* Unit tests of executor/exe_shell.c: the executor's shell-command config,
 * the framework message it receives, the argv it runs, the output file and
 * the update it sends back. */
#include <string.h>

#include <jansson.h>

#include "executor/exe_shell.h"
#include "test/lib/cr_test.h"

static const char *CONF =
    "{\"shellCommands\":[{\"name\":\"jstack\",\"command\":[\"jstack\",\"{PID}\"],\"options\":"
    "[{\"name\":\"force\",\"flag\":\"-F\"},{\"name\":\"long\",\"flag\":\"-l\"}]},"
    "{\"name\":\"whoami as\",\"command\":[\"echo\",\"{USER}\"]}]}";

static void conf(exe_shell_conf *c, const char *text)
{
    json_t *j = cr_test_json(text);
    cr_err err;
    assert_int_equal(exe_shell_conf_parse(c, j, &err), 0);
    json_decref(j);
}

static void req(exe_shell_req *r, const char *text)
{
    cr_err err;
    if (exe_shell_req_parse(r, text, strlen(text), &err) < 0)
        fail_msg("%s", cr_err_msg(&err));
}

static void test_build(void **state)
{
    exe_shell_conf c;
    exe_shell_req r;
    char *out;
    cr_err err;
    conf(&c, CONF);
    req(&r, "{\"taskId\":{\"id\":\"web-v1-1-1-h-r\"},\"user\":\"alice\",\"timestamp\":1700,"
            "\"shellCommand\":{\"name\":\"jstack\",\"options\":[\"long\",\"force\"]}}");
    char **argv = exe_shell_build(&c, &r, 4242, "app", &out, &err);
    assert_non_null(argv);
    /* flags in the configured order, whatever the request's order */
    assert_string_equal(argv[0], "jstack");
    assert_string_equal(argv[1], "4242");
    assert_string_equal(argv[2], "-F");
    assert_string_equal(argv[3], "-l");
    assert_null(argv[4]);
    assert_string_equal(out, "executor.commands.jstack.1700.log");
    exe_shell_argv_free(argv);
    free(out);

    /* no process: {PID} cannot be filled */
    assert_null(exe_shell_build(&c, &r, 0, "app", &out, &err));
    assert_non_null(strstr(cr_err_msg(&err), "no PID found"));
    exe_shell_req_release(&r);

    /* {USER}, a name made a file name, logfileName wins */
    req(&r, "{\"taskId\":\"t1\",\"timestamp\":5,\"shellCommand\":{\"name\":\"whoami as\"}}");
    argv = exe_shell_build(&c, &r, 0, "app", &out, &err);
    assert_non_null(argv);
    assert_string_equal(argv[1], "app");
    assert_string_equal(out, "executor.commands.whoami-as.5.log");
    exe_shell_argv_free(argv);
    free(out);
    exe_shell_req_release(&r);
    req(&r, "{\"taskId\":\"t1\",\"timestamp\":5,\"shellCommand\":{\"name\":\"whoami as\","
            "\"logfileName\":\"../Me\"}}");
    argv = exe_shell_build(&c, &r, 0, "app", &out, &err);
    assert_string_equal(out, "executor.commands...-me.5.log"); /* never a path */
    exe_shell_argv_free(argv);
    free(out);
    exe_shell_req_release(&r);

    /* unknown command or option: the INVALID message */
    req(&r, "{\"taskId\":\"t1\",\"timestamp\":5,\"shellCommand\":{\"name\":\"rm\"}}");
    assert_null(exe_shell_build(&c, &r, 1, NULL, &out, &err));
    assert_non_null(strstr(cr_err_msg(&err), "\"rm\" command not found; commands this executor "
                                             "has: [jstack, whoami as]"));
    exe_shell_req_release(&r);
    req(&r, "{\"taskId\":\"t1\",\"timestamp\":5,\"shellCommand\":{\"name\":\"jstack\","
            "\"options\":[\"-rf\"]}}");
    assert_null(exe_shell_build(&c, &r, 1, NULL, &out, &err));
    assert_non_null(strstr(cr_err_msg(&err), "\"jstack\" has no option \"-rf\""));
    exe_shell_req_release(&r);
    exe_shell_conf_release(&c);
}

static void test_out_file_template(void **state)
{
    exe_shell_conf c;
    exe_shell_req r;
    char *out;
    cr_err err;
    conf(&c, "{\"shellCommandOutFile\":\"cmd-{TIMESTAMP}-{NAME}.txt\",\"shellCommands\":"
             "[{\"name\":\"ls\",\"command\":[\"ls\"]}]}");
    req(&r, "{\"taskId\":\"t1\",\"timestamp\":9,\"shellCommand\":{\"name\":\"ls\"}}");
    char **argv = exe_shell_build(&c, &r, 1, NULL, &out, &err);
    assert_string_equal(out, "cmd-9-ls.txt");
    exe_shell_argv_free(argv);
    free(out);
    exe_shell_req_release(&r);
    exe_shell_conf_release(&c);
}

static void test_bad_input(void **state)
{
    exe_shell_conf c;
    exe_shell_req r;
    cr_err err;
    static const struct {
        const char *conf, *msg;
    } confs[] = {
        {"{\"shellCommands\":{}}", "shellCommands: must be a list"},
        {"{\"shellCommands\":[{\"command\":[\"x\"]}]}", "shellCommands[0].name: required"},
        {"{\"shellCommands\":[{\"name\":\"a\",\"command\":[]}]}",
         "shellCommands[0].command: must be a non-empty list of strings"},
        {"{\"shellCommands\":[{\"name\":\"a\",\"command\":[\"x\"],\"options\":[{\"name\":\"o\"}]}]"
         "}",
         "shellCommands[0].options[0]: must be {name, flag}"},
        {"{\"shellCommandOutFile\":\"../x\"}", "shellCommandOutFile: must be a file name"},
    };
    for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
        json_t *j = cr_test_json(confs[i].conf);
        assert_int_equal(exe_shell_conf_parse(&c, j, &err), -1);
        if (!strstr(cr_err_msg(&err), confs[i].msg))
            fail_msg("%s: got %s", confs[i].conf, cr_err_msg(&err));
        json_decref(j);
    }
#define BAD_OPTIONS \
    "{\"taskId\":\"t\",\"timestamp\":1,\"shellCommand\":{\"name\":\"a\",\"options\":[1]}}"
    const char *reqs[] = {"not json", "[]", "{\"taskId\":\"t\",\"timestamp\":1}",
                          "{\"taskId\":\"t\",\"shellCommand\":{\"name\":\"a\"}}", BAD_OPTIONS};
#undef BAD_OPTIONS
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        assert_int_equal(exe_shell_req_parse(&r, reqs[i], strlen(reqs[i]), &err), -1);
}

static void test_update(void **state)
{
    exe_shell_req r;
    req(&r, "{\"taskId\":{\"id\":\"t1\",\"requestId\":\"web\"},\"timestamp\":1700,"
            "\"shellCommand\":{\"name\":\"jstack\"}}");
    char *u = exe_shell_update(&r, "ACKED", "jstack 42", "executor.commands.jstack.1700.log", 1800);
    assert_string_equal(u, "{\"message\":\"jstack 42\",\"outputFilename\":"
                           "\"executor.commands.jstack.1700.log\",\"shellRequestId\":{\"name\":"
                           "\"jstack\",\"taskId\":{\"id\":\"t1\",\"requestId\":\"web\"},"
                           "\"timestamp\":1700},\"timestamp\":1800,\"updateType\":\"ACKED\"}");
    free(u);
    u = exe_shell_update(&r, "FINISHED", NULL, NULL, 1900);
    assert_null(strstr(u, "message"));
    assert_null(strstr(u, "outputFilename"));
    free(u);
    exe_shell_req_release(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_build),
    cmocka_unit_test(test_out_file_template),
    cmocka_unit_test(test_bad_input),
    cmocka_unit_test(test_update),
};

CR_TEST_MAIN(tests)
