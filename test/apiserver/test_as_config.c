#include "test/lib/cr_test.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver/as_config.h"

static void test_defaults_and_flags(void **state)
{
    as_config c;
    cr_err err;
    const char *file;
    char *argv[] = {"corrald",
                    "--listen",
                    "0.0.0.0:8080",
                    "--etcd-endpoints=http://e1:2379,http://e2:2379",
                    "--etcd-insecure",
                    "--etcd-json",
                    "--max-body-bytes",
                    "4096",
                    "--config",
                    "x.yaml",
                    NULL};

    as_config_init(&c);
    assert_string_equal(c.listen, "127.0.0.1:7099");
    assert_string_equal(c.prefix, "/corral");
    assert_null(c.mesos_master);
    assert_false(c.etcd_json); /* txns and watches over gRPC unless asked */
    assert_int_equal(as_config_parse_args(&c, 10, argv, &file, &err), 0);
    assert_string_equal(c.listen, "0.0.0.0:8080");
    assert_string_equal(c.etcd_endpoints, "http://e1:2379,http://e2:2379");
    assert_true(c.etcd_insecure);
    assert_true(c.etcd_json);
    assert_int_equal(c.max_body_bytes, 4096);
    assert_string_equal(file, "x.yaml");
    /* 0.0.0.0 is the network: only with --auth, or an explicit --insecure. */
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "--auth"));
    assert_int_equal(as_config_set(&c, "insecure", NULL, "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), 0);
    c.insecure = false;
    assert_int_equal(as_config_set(&c, "auth", NULL, "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), 0);
    as_config_release(&c);
}

/* --context-path: where Singularity's clients look for the API. */
static void test_context_path(void **state)
{
    static const char *bad[] = {"singularity", "/", "/x/", "/api", "/api/v2", "/ui", "/a//b"};
    as_config c;
    cr_err err;

    as_config_init(&c);
    assert_string_equal(c.context_path, "/singularity/api");
    assert_int_equal(as_config_validate(&c, &err), 0);
    assert_int_equal(as_config_set(&c, "context-path", "/sing/api", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(as_config_set(&c, "context-path", bad[i], "t", &err), 0);
        if (as_config_validate(&c, &err) != -1)
            fail_msg("context-path %s accepted", bad[i]);
        assert_non_null(strstr(cr_err_msg(&err), "context-path"));
    }
    assert_non_null(strstr(as_config_usage(), "--context-path"));
    as_config_release(&c);
}

static void test_auth_settings(void **state)
{
    as_config c;
    cr_err err;

    assert_true(as_config_loopback("127.0.0.1:7099"));
    assert_true(as_config_loopback("127.3.4.5:1"));
    assert_true(as_config_loopback("localhost:7099"));
    assert_true(as_config_loopback("[::1]:7099"));
    assert_false(as_config_loopback("0.0.0.0:7099"));
    assert_false(as_config_loopback(":7099"));
    assert_false(as_config_loopback("10.0.0.1:7099"));
    assert_false(as_config_loopback("127example.com:7099"));
    assert_false(as_config_loopback("127.example.com:7099"));
    assert_false(as_config_loopback("127.0.0.1.example.com:7099"));
    assert_false(as_config_loopback("localhost.example.com:7099"));

    as_config_init(&c);
    assert_int_equal(as_config_set(&c, "auth-token-file", "/x", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "without --auth"));
    assert_int_equal(as_config_set(&c, "auth", "true", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), 0);
    assert_int_equal(as_config_set(&c, "auth-groups-header", "X-Groups", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "auth-user-header"));
    assert_non_null(strstr(as_config_usage(), "--auth-token-file"));
    as_config_release(&c);
}

static void test_bad_flags(void **state)
{
    as_config c;
    cr_err err;
    char *a1[] = {"corrald", "--lisen", "x"};
    char *a2[] = {"corrald", "--listen"};
    char *a3[] = {"corrald", "--max-body-bytes", "-5"};
    char *a4[] = {"corrald", "stray"};
    char *a5[] = {"corrald", "--etcd-insecure=maybe"};

    as_config_init(&c);
    assert_int_equal(as_config_parse_args(&c, 3, a1, NULL, &err), -1);
    assert_string_equal(cr_err_msg(&err), "--lisen: unknown setting 'lisen'");
    assert_int_equal(as_config_parse_args(&c, 2, a2, NULL, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "needs a value"));
    assert_int_equal(as_config_parse_args(&c, 3, a3, NULL, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "positive integer"));
    assert_int_equal(as_config_parse_args(&c, 2, a4, NULL, &err), -1);
    assert_int_equal(as_config_parse_args(&c, 2, a5, NULL, &err), -1);
    as_config_release(&c);
}

/* Issue 24: the hold of unreachable tasks (seconds, 600 by default). */
static void test_unreachable_timeout(void **state)
{
    as_config c;
    cr_err err;

    as_config_init(&c);
    assert_int_equal(c.unreachable_timeout_s, 600);
    assert_non_null(strstr(as_config_usage(), "--unreachable-timeout SECONDS"));
    assert_int_equal(as_config_set(&c, "insecure", NULL, "t", &err), 0);
    assert_int_equal(as_config_set(&c, "unreachable-timeout", "30", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), 0);
    assert_int_equal(c.unreachable_timeout_s, 30);
    assert_int_equal(as_config_set(&c, "unreachable-timeout", "0", "t", &err), -1);
    c.unreachable_timeout_s = 2592001;
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "unreachable-timeout: 2592001 is not between"));
    as_config_release(&c);
}

static void test_file(void **state)
{
    as_config c;
    cr_err err;

    as_config_init(&c);
    assert_int_equal(as_config_parse_file(&c,
                                          "# corrald\n---\nlisten: 127.0.0.1:9000\n"
                                          "etcd-endpoints = \"http://a:2379\"\n"
                                          "mesos-master: http://m:5050  # comment\n\n"
                                          "allow-deploy-of-paused-requests: true\n",
                                          "c.yaml", &err),
                     0);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.etcd_endpoints, "http://a:2379");
    assert_string_equal(c.mesos_master, "http://m:5050");
    assert_true(c.allow_deploy_of_paused);
    assert_int_equal(as_config_parse_file(&c, "listen: a:1\nnonsense\n", "c.yaml", &err), -1);
    assert_string_equal(cr_err_msg(&err), "c.yaml:2: expected 'name: value'");
    assert_int_equal(as_config_parse_file(&c, "prefix:\n", "c.yaml", &err), -1);
    assert_string_equal(cr_err_msg(&err), "c.yaml:1: prefix needs a value");
    as_config_release(&c);
}

static void test_validate(void **state)
{
    as_config c;
    cr_err err;

    as_config_init(&c);
    assert_int_equal(as_config_set(&c, "prefix", "/corral/", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "prefix"));
    assert_int_equal(as_config_set(&c, "prefix", "/c", "t", &err), 0);
    assert_int_equal(as_config_set(&c, "listen", "nohost", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_int_equal(as_config_set(&c, "listen", "h:1", "t", &err), 0);
    assert_int_equal(as_config_set(&c, "mesos-master", "m:5050", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "mesos-master"));
    assert_int_equal(as_config_set(&c, "mesos-master", "http://m:5050", "t", &err), 0);
    assert_int_equal(as_config_set(&c, "log-level", "loud", "t", &err), 0);
    assert_int_equal(as_config_validate(&c, &err), -1);
    assert_non_null(strstr(as_config_usage(), "--etcd-endpoints"));
    as_config_release(&c);
}

/* --print-config: every setting, in a form the file parser reads back to
 * the same settings; the password is never shown. */
static void test_print_config_round_trip(void **state)
{
    as_config c, back;
    cr_err err;
    char *text, *again;

    as_config_init(&c);
    assert_int_equal(as_config_parse_file(&c,
                                          "listen: 0.0.0.0:7099\n"
                                          "mesos-master: http://m:5050\n"
                                          "auth: true\n"
                                          "framework-name: '\"q\"'\n"
                                          "etcd-password: s3cret\n"
                                          "max-list-streams: 7\n",
                                          "c.yaml", &err),
                     0);
    text = as_config_format(&c);
    assert_null(strstr(text, "s3cret"));
    assert_non_null(strstr(text, "# etcd-password: (set, not shown)\n"));
    assert_non_null(strstr(text, "listen: 0.0.0.0:7099\n"));
    assert_non_null(strstr(text, "auth: true\n"));
    assert_non_null(strstr(text, "max-list-streams: 7\n"));
    assert_non_null(strstr(text, "# tls-cert: (not set)\n"));
    assert_null(strstr(text, "print-config"));
    assert_null(strstr(text, "routes"));
    as_config_init(&back);
    assert_int_equal(as_config_parse_file(&back, text, "printed", &err), 0);
    assert_string_equal(back.framework_name, "\"q\"");
    assert_null(back.etcd_password);
    free(c.etcd_password);
    c.etcd_password = NULL;
    free(text);
    text = as_config_format(&c);
    again = as_config_format(&back);
    assert_string_equal(again, text);
    free(again);
    free(text);
    as_config_release(&back);
    as_config_release(&c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults_and_flags),
    cmocka_unit_test(test_bad_flags),
    cmocka_unit_test(test_unreachable_timeout),
    cmocka_unit_test(test_file),
    cmocka_unit_test(test_validate),
    cmocka_unit_test(test_auth_settings),
    cmocka_unit_test(test_context_path),
    cmocka_unit_test(test_print_config_round_trip),
};
CR_TEST_MAIN(tests)
