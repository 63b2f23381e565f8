/* Unit tests of the online commands' command-line handling (no server is
 * contacted): --help of every command, usage errors (exit 2) and the
 * missing-server error (exit 1). The conversations with corrald are covered
 * by e2e/test_cli_online.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http.h"
#include "test/lib/cr_test.h"

typedef struct res {
    int rc;
    char *out, *err;
    size_t olen, elen;
} res;

static res run(int argc, char **argv)
{
    res r = {0};
    FILE *o = open_memstream(&r.out, &r.olen), *e = open_memstream(&r.err, &r.elen);
    r.rc = cli_main(argc, argv, o, e);
    fclose(o);
    fclose(e);
    return r;
}

static void release(res *r)
{
    free(r->out);
    free(r->err);
}

static const char *const ONLINE[] = {"diff",    "delete",  "get",    "describe", "scale",
                                     "pause",   "unpause", "bounce", "run",      "kill",
                                     "history", "logs",    "watch",  "wait",     "state"};

static void test_help_of_every_online_command(void **state)
{
    for (size_t i = 0; i < sizeof(ONLINE) / sizeof(ONLINE[0]); i++) {
        char *argv[] = {"corralctl", (char *)ONLINE[i], "--help", NULL};
        res r = run(3, argv);
        if (r.rc != CLI_OK || strncmp(r.out, "usage: corralctl", 16) != 0)
            fail_msg("%s --help: rc %d out %s", ONLINE[i], r.rc, r.out);
        assert_non_null(cli_find_command(ONLINE[i]));
        release(&r);
    }
    char *argv[] = {"corralctl", "--help", NULL};
    res r = run(2, argv);
    for (size_t i = 0; i < sizeof(ONLINE) / sizeof(ONLINE[0]); i++)
        assert_non_null(strstr(r.out, ONLINE[i]));
    assert_non_null(strstr(r.out, "CORRAL_SERVER"));
    release(&r);
}

static void test_usage_errors(void **state)
{
    static const char *cases[][6] = {
        {"get", NULL},
        {"get", "pods", NULL},
        {"get", "requests", "a", "b", NULL},
        {"get", "requests", "-o", "xml", NULL},
        {"describe", "request", NULL},
        {"describe", "task", "x", NULL},
        {"scale", "web", NULL},
        {"scale", "web", "-1", NULL},
        {"scale", "web", "3x", NULL},
        {"pause", NULL},
        {"unpause", "a", "b", NULL},
        {"bounce", "--nope", "x", NULL},
        {"run", NULL},
        {"kill", "t", "--grace", "soon", NULL},
        {"history", "web", "-o", "table", NULL},
        {"history", "web", "--count", "0", NULL},
        {"logs", NULL},
        {"logs", "t", "--interval", "0", NULL},
        {"watch", "a", "b", NULL},
        {"watch", "-o", "yaml", NULL},
        {"watch", "--revision", "x", NULL},
        {"wait", "deploy", "web", NULL},
        {"wait", "deploy", "/v1", NULL},
        {"wait", "request", "web", "--for", "happy", NULL},
        {"wait", "request", "web", "--timeout", "soon", NULL},
        {"wait", "task", "x", NULL},
        {"state", "x", NULL},
        {"state", "-o", "wide", NULL},
        {"diff", NULL},
        {"diff", "positional", NULL},
        {"delete", NULL},
        {"delete", "request", NULL},
        {"delete", "pod", "x", NULL},
        {"delete", "deploy", "noslash", NULL},
        {"delete", "-f", "x.yaml", "request", "x", NULL},
        {"apply", "-f", "x.yaml", "--prune-set", NULL},
        {"apply", "-f", "x.yaml", "--parallel", "0", NULL},
        {"apply", "-f", "x.yaml", "--parallel=8x", NULL},
        {"diff", "-f", "x.yaml", "--parallel", "257", NULL},
    };
    setenv("CORRAL_SERVER", "http://127.0.0.1:1", 1); /* usage is checked first */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[8] = {"corralctl"};
        int argc = 1;
        for (size_t k = 0; k < 6 && cases[i][k]; k++)
            argv[argc++] = (char *)cases[i][k];
        res r = run(argc, argv);
        if (r.rc != CLI_USAGE || !r.err[0])
            fail_msg("case %zu (%s %s): rc %d, err %s", i, cases[i][0],
                     cases[i][1] ? cases[i][1] : "", r.rc, r.err);
        assert_string_equal(r.out, "");
        release(&r);
    }
    unsetenv("CORRAL_SERVER");
}

static void test_no_server(void **state)
{
    static const char *cases[][5] = {
        {"get", "requests", NULL},
        {"describe", "request", "web", NULL},
        {"scale", "web", "2", NULL},
        {"pause", "web", NULL},
        {"kill", "t", NULL},
        {"logs", "t", NULL},
        {"watch", NULL},
        {"wait", "request", "web", NULL},
        {"state", NULL},
        {"delete", "request", "web", NULL},
    };
    unsetenv("CORRAL_SERVER");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[8] = {"corralctl"};
        int argc = 1;
        for (size_t k = 0; k < 5 && cases[i][k]; k++)
            argv[argc++] = (char *)cases[i][k];
        res r = run(argc, argv);
        if (r.rc != CLI_ERROR || !strstr(r.err, "--server URL or set CORRAL_SERVER"))
            fail_msg("case %zu (%s): rc %d, err %s", i, cases[i][0], r.rc, r.err);
        release(&r);
    }
}

/* A loopback port nothing listens on: bound, then closed. */
static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_unreachable_names_url(void **state)
{
    char url[64], want[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", dead_port());
    snprintf(want, sizeof(want), "cannot reach corrald at %sapi/state", url);
    char *argv[] = {"corralctl", "--server", url, "state", NULL};
    res r = run(4, argv);
    assert_int_equal(r.rc, CLI_ERROR);
    assert_non_null(strstr(r.err, want));
    release(&r);
    /* diff: errors are > 1 */
    snprintf(want, sizeof(want), "cannot reach corrald at %sapi/", url);
    char *d[] = {"corralctl", "--server", url, "diff", "-f", "-", NULL};
    FILE *saved = stdin;
    static const char doc[] = "{\"id\":\"x\",\"requestType\":\"WORKER\"}";
    stdin = fmemopen((void *)doc, strlen(doc), "r");
    r = run(6, d);
    fclose(stdin);
    stdin = saved;
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, want));
    release(&r);
}

/* Drops "after N ms" from curl's messages, which varies between runs. */
static void drop_timings(char *s)
{
    char *p;
    while ((p = strstr(s, " after "))) {
        char *q = p + 7;
        while (*q >= '0' && *q <= '9')
            q++;
        if (strncmp(q, " ms", 3) != 0)
            break;
        memmove(p, q + 3, strlen(q + 3) + 1);
    }
}

/* An unreachable server: with calls in flight the messages are the same,
 * in the same order, as one call at a time (the batch reads fail quietly
 * and each object reads its own). */
static void test_apply_parallel_errors_in_order(void **state)
{
    static const char doc[] =
        "{\"id\":\"x\",\"requestType\":\"WORKER\",\"instances\":1}\n---\n"
        "{\"id\":\"y\",\"requestType\":\"WORKER\",\"instances\":1}\n---\n"
        "{\"deploy\":{\"requestId\":\"x\",\"id\":\"v1\",\"command\":\"sleep 1\","
        "\"resources\":{\"cpus\":0.1,\"memoryMb\":32}}}\n";
    char url[64], *errs[2];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead_port());
    for (int k = 0; k < 2; k++) {
        char *argv[] = {"corralctl", "--server",   url,           "apply", "-f",
                        "-",         "--parallel", k ? "8" : "1", NULL};
        FILE *saved = stdin;
        stdin = fmemopen((void *)doc, strlen(doc), "r");
        res r = run(8, argv);
        fclose(stdin);
        stdin = saved;
        assert_int_equal(r.rc, CLI_ERROR);
        assert_string_equal(r.out, "");
        drop_timings(r.err);
        errs[k] = strdup(r.err);
        release(&r);
    }
    assert_string_equal(errs[0], errs[1]);
    const char *x = strstr(errs[1], "/api/requests/request/x: ");
    const char *y = strstr(errs[1], "/api/requests/request/y: ");
    const char *skip =
        strstr(errs[1], "corralctl apply: deploy/x/v1 skipped: its request failed\n");
    assert_true(x && y && skip && x < y && y < skip);
    free(errs[0]);
    free(errs[1]);
}

static void test_error_text_and_escape(void **state)
{
    cli_resp r = {0};
    r.raw = strdup("{\"message\":\"bad deploy\",\"status\":400,\"problems\":"
                   "[\"deploy.id: required\",\"deploy.resources.cpus: must be > 0\"]}");
    r.len = strlen(r.raw);
    r.body = json_loads(r.raw, 0, NULL);
    char *t = cli_error_text(&r);
    assert_string_equal(t,
                        "bad deploy\n  deploy.id: required\n  deploy.resources.cpus: must be > 0");
    free(t);
    cli_resp_release(&r);
    r.raw = strdup("plain failure\r\n");
    r.len = strlen(r.raw);
    t = cli_error_text(&r);
    assert_string_equal(t, "plain failure");
    free(t);
    cli_resp_release(&r);
    t = cli_error_text(&r);
    assert_string_equal(t, "(no message)");
    free(t);
    t = cli_url_escape("a b/c?d=é");
    assert_string_equal(t, "a%20b%2Fc%3Fd%3D%C3%A9");
    free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_help_of_every_online_command),
    cmocka_unit_test(test_usage_errors),
    cmocka_unit_test(test_no_server),
    cmocka_unit_test(test_unreachable_names_url),
    cmocka_unit_test(test_apply_parallel_errors_in_order),
    cmocka_unit_test(test_error_text_and_escape),
};

CR_TEST_MAIN(tests)
