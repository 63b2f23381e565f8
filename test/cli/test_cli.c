/* Unit tests of cli/: dispatcher, option parser, exit codes, apply
 * --dry-run=client output and validate reports. */
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "test/lib/cr_test.h"

#include <jansson.h>

/* Typed end marker of run()'s argument list. */
#define END ((const char *)NULL)

typedef struct run_result {
    int rc;
    char *out;
    char *err;
} run_result;

static char *slurp(FILE *f)
{
    cr_buf b = CR_BUF_INIT;
    char chunk[4096];
    size_t n;
    rewind(f);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    fclose(f);
    cr_buf_adds(&b, "");
    return cr_buf_detach(&b, NULL);
}

/* Runs corralctl with the NULL-terminated arguments; "@x" is replaced by
 * the path of fixture test/cli/fixtures/x. */
static run_result run(const char *first, ...)
{
    const char *src = getenv("CR_SRCDIR");
    char *argv[32];
    int argc = 0;
    va_list ap;
    argv[argc++] = xstrdup("corralctl");
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) {
        if (a[0] == '@')
            argv[argc++] = xasprintf("%s/test/cli/fixtures/%s", src && *src ? src : ".", a + 1);
        else
            argv[argc++] = xstrdup(a);
    }
    va_end(ap);
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    run_result r;
    r.rc = cli_main(argc, argv, out, err);
    r.out = slurp(out);
    r.err = slurp(err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return r;
}

static void release(run_result *r)
{
    free(r->out);
    free(r->err);
}

static void test_usage_and_help(void **state)
{
    run_result r = run(END);
    assert_int_equal(r.rc, CLI_USAGE);
    assert_non_null(strstr(r.err, "usage: corralctl"));
    release(&r);

    r = run("--help", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_non_null(strstr(r.out, "validate"));
    release(&r);

    r = run("frobnicate", END);
    assert_int_equal(r.rc, CLI_USAGE);
    assert_non_null(strstr(r.err, "unknown command \"frobnicate\""));
    release(&r);

    r = run("--bogus", END);
    assert_int_equal(r.rc, CLI_USAGE);
    release(&r);

    /* Every command answers --help with exit 0. */
    size_t n;
    const cli_command *cmds = cli_commands(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, "help") == 0)
            continue;
        r = run(cmds[i].name, "--help", END);
        assert_int_equal(r.rc, CLI_OK);
        assert_non_null(strstr(r.out, "usage: corralctl"));
        release(&r);
    }
    r = run("help", "apply", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_non_null(strstr(r.out, "--dry-run"));
    release(&r);
    r = run("help", "nope", END);
    assert_int_equal(r.rc, CLI_USAGE);
    release(&r);

    r = run("version", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_string_equal(r.out, "corralctl " CORRAL_VERSION "\n");
    release(&r);
    r = run("version", "extra", END);
    assert_int_equal(r.rc, CLI_USAGE);
    release(&r);
}

static void test_apply_usage_errors(void **state)
{
    static const char *const cases[][4] = {
        {"apply", "--dry-run=client", NULL, NULL},  /* no -f */
        {"apply", "--dry-run=client", "-o", NULL},  /* -o without value */
        {"apply", "-f", "x", "--dry-run=maybe"},    /* bad dry-run */
        {"apply", "-f", "x", "-owide"},             /* bad output */
        {"apply", "--dry-run", "positional", NULL}, /* positional */
        {"apply", "--nope", NULL, NULL},            /* unknown option */
        {"validate", NULL, NULL, NULL},             /* no -f */
        {"validate", "-f", NULL, NULL},             /* -f without value */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_result r = run(cases[i][0], cases[i][1], cases[i][2], cases[i][3], END);
        if (r.rc != CLI_USAGE)
            fail_msg("case %zu: rc %d, err %s", i, r.rc, r.err);
        release(&r);
    }
    /* Without --dry-run=client there is no server yet: an error, not usage. */
    run_result r = run("apply", "-f", "@seed_procfile.yaml", END);
    assert_int_equal(r.rc, CLI_ERROR);
    assert_non_null(strstr(r.err, "--dry-run=client"));
    release(&r);
}

static void test_apply_dry_run_json(void **state)
{
    run_result r = run("apply", "--dry-run=client", "-o", "json", "-f", "@seed_procfile.yaml", END);
    assert_int_equal(r.rc, CLI_OK);
    json_error_t e;
    json_t *list = json_loads(r.out, 0, &e);
    if (!list)
        fail_msg("output is not JSON: %s\n%s", e.text, r.out);
    assert_int_equal(json_array_size(list), 6);
    int reqs = 0, deps = 0;
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        json_t *spec = json_object_get(o, "spec");
        if (strcmp(kind, "Request") == 0) {
            reqs++;
            assert_true(i < 3); /* Requests first */
            const char *t = json_string_value(json_object_get(spec, "requestType"));
            if (strcmp(t, "SERVICE") == 0)
                assert_int_equal(json_integer_value(json_object_get(spec, "instances")), 2);
            else if (strcmp(t, "SCHEDULED") == 0)
                assert_string_equal(json_string_value(json_object_get(spec, "schedule")),
                                    "*/3 * * * *");
            else
                assert_string_equal(t, "WORKER");
        } else {
            deps++;
            assert_non_null(json_object_get(spec, "command"));
        }
    }
    assert_int_equal(reqs, 3);
    assert_int_equal(deps, 3);
    json_decref(list);
    release(&r);

    /* -o yaml prints the same objects as YAML. */
    r = run("apply", "--dry-run=client", "-oyaml", "-f", "@seed_procfile.yaml", "--env", "", END);
    assert_int_equal(r.rc, CLI_ERROR); /* no env "" in the config */
    release(&r);
    r = run("apply", "--dry-run", "--output=yaml", "-f", "@seed_procfile.yaml", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_non_null(strstr(r.out, "- apiVersion: corral/v1\n  kind: Request\n"));
    assert_non_null(strstr(r.out, "schedule: '*/3 * * * *'"));
    release(&r);

    /* Default output: one line per object. */
    r = run("apply", "--dry-run=client", "-f", "@seed_procfile.yaml", "--set",
            "procfile.worker.cmd=sleep 5", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_non_null(strstr(
        r.out, "request/MDS_All_Item_Types_In_One_Config-worker (WORKER) configured (dry run)\n"));
    assert_non_null(strstr(r.out, "deploy/MDS_All_Item_Types_In_One_Config-webService/"));
    release(&r);

    /* --set without any procfile config is refused (likely a mistake). */
    r = run("apply", "--dry-run=client", "-f", "@bad.yaml", "--set", "a=b", END);
    assert_int_equal(r.rc, CLI_ERROR);
    release(&r);
}

static void test_validate(void **state)
{
    run_result r = run("validate", "-f", "@seed_procfile.yaml", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_string_equal(r.out, "ok: 3 requests, 3 deploys\n");
    release(&r);

    r = run("validate", "-f", "@bad.yaml", END);
    assert_int_equal(r.rc, CLI_ERROR);
    assert_non_null(strstr(r.err, "bad.yaml:7:3: spec.instances: must be > 0\n"));
    assert_non_null(
        strstr(r.err, "bad.yaml:8:3: spec.ownrs: unknown field (did you mean \"owners\"?)\n"));
    assert_non_null(strstr(r.err, "2 problems found"));
    assert_string_equal(r.out, "");
    release(&r);

    /* apply refuses the same file, printing nothing on stdout. */
    r = run("apply", "--dry-run=client", "-o", "json", "-f", "@bad.yaml", "-f",
            "@seed_procfile.yaml", END);
    assert_int_equal(r.rc, CLI_ERROR);
    assert_string_equal(r.out, "");
    release(&r);

    r = run("validate", "-f", "@missing.yaml", END);
    assert_int_equal(r.rc, CLI_ERROR);
    assert_non_null(strstr(r.err, "cannot open"));
    release(&r);

    r = run("validate", "--allow-unknown-fields", "-f", "@bad.yaml", END);
    assert_int_equal(r.rc, CLI_ERROR); /* instances is still wrong */
    assert_null(strstr(r.err, "ownrs"));
    release(&r);
}

static void test_option_parser(void **state)
{
    static const cli_opt opts[] = {
        {"file", 'f', true, false}, {"dry-run", 0, true, true}, {"quiet", 'q', false, false}};
    char *argv[] = {"x", "-fa", "--file=b", "--dry-run", "-q", "--", "-f", NULL};
    int i = 1, k;
    const char *v;
    FILE *err = tmpfile();
    k = cli_next_opt(7, argv, &i, opts, 3, &v, err);
    assert_int_equal(k, 0);
    assert_string_equal(v, "a");
    k = cli_next_opt(7, argv, &i, opts, 3, &v, err);
    assert_int_equal(k, 0);
    assert_string_equal(v, "b");
    k = cli_next_opt(7, argv, &i, opts, 3, &v, err);
    assert_int_equal(k, 1);
    assert_null(v);
    k = cli_next_opt(7, argv, &i, opts, 3, &v, err);
    assert_int_equal(k, 2);
    k = cli_next_opt(7, argv, &i, opts, 3, &v, err);
    assert_int_equal(k, -1);
    assert_int_equal(i, 6); /* "-f" after "--" is positional */
    char *bad[] = {"x", "--quiet=1", NULL};
    i = 1;
    assert_int_equal(cli_next_opt(2, bad, &i, opts, 3, &v, err), -2);
    fclose(err);
}

/* Version skew: same major release, minor releases at most one apart. */
static void test_version_skew(void **state)
{
    run_result r;

    assert_true(cli_version_skew_ok("0.1.0", "0.1.7"));
    assert_true(cli_version_skew_ok("0.2.0", "0.1.3"));
    assert_true(cli_version_skew_ok("1.4.0", "1.5.0"));
    assert_false(cli_version_skew_ok("0.1.0", "0.3.0"));
    assert_false(cli_version_skew_ok("1.0.0", "2.0.0"));
    assert_false(cli_version_skew_ok("0.1.0", "dev"));
    r = run("version", "--client", END);
    assert_int_equal(r.rc, CLI_OK);
    assert_string_equal(r.out, "corralctl " CORRAL_VERSION "\n");
    release(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_usage_and_help),     cmocka_unit_test(test_apply_usage_errors),
    cmocka_unit_test(test_apply_dry_run_json), cmocka_unit_test(test_validate),
    cmocka_unit_test(test_option_parser),      cmocka_unit_test(test_version_skew),
};

CR_TEST_MAIN(tests)
