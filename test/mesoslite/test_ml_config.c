#include "test/lib/cr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesoslite/ml.h"

static int parse(ml_config *cfg, cr_err *err, int argc, const char **argv)
{
    ml_config_init(cfg);
    return ml_config_parse(cfg, argc, (char **)argv, err);
}

static void test_full_command_line(void **state)
{
    char listen[] = "127.0.0.1:15050";
    const char *argv[] = {"mesoslite",
                          "--listen",
                          listen,
                          "--agents",
                          "3",
                          "--work-dir",
                          "/tmp/x",
                          "--racks",
                          "r1,r2",
                          "--faults",
                          "--heartbeat-interval",
                          "0.5",
                          "--allocation-interval",
                          "0.2",
                          "--update-retry-interval",
                          "1",
                          "--agent-resources",
                          "cpus:2;mem:512",
                          "--log-level",
                          "warn",
                          NULL};
    ml_config cfg;
    cr_err err;

    assert_int_equal(parse(&cfg, &err, 20, argv), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 15050);
    assert_string_equal(listen, "127.0.0.1:15050"); /* argv left intact */
    assert_int_equal(cfg.agents, 3);
    assert_string_equal(cfg.work_dir, "/tmp/x");
    assert_string_equal(cfg.racks, "r1,r2");
    assert_true(cfg.faults && !cfg.simulate);
    assert_true(cfg.heartbeat_s == 0.5 && cfg.allocation_s == 0.2 && cfg.update_retry_s == 1);
    assert_string_equal(cfg.agent_resources, "cpus:2;mem:512");
    assert_int_equal(cfg.log_level, CR_LOG_WARN);
}

static void test_defaults_and_help(void **state)
{
    const char *sim[] = {"mesoslite", "--simulate", NULL};
    const char *help[] = {"mesoslite", "--help", NULL};
    ml_config cfg;
    cr_err err;

    assert_int_equal(parse(&cfg, &err, 2, sim), 0);
    assert_int_equal(cfg.listen_port, 5050);
    assert_int_equal(cfg.agents, 1);
    assert_true(cfg.heartbeat_s == 15 && cfg.allocation_s == 1 && cfg.update_retry_s == 10);
    assert_int_equal(parse(&cfg, &err, 2, help), 1);
    assert_non_null(strstr(ml_usage(), "--work-dir"));
}

static void test_bad_flags(void **state)
{
    struct {
        const char *argv[6];
        int argc;
        const char *msg;
    } cases[] = {
        {{"mesoslite", "--listen", "nohost", NULL},
         3,
         "--listen: expecting HOST:PORT, got 'nohost'"},
        {{"mesoslite", "--agents", "-1", "--simulate", NULL}, 4, "--agents: bad value '-1'"},
        {{"mesoslite", "--bogus", NULL}, 2, "unknown or incomplete option '--bogus' (see --help)"},
        {{"mesoslite", "--agents", "2", NULL},
         3,
         "--work-dir is required unless --simulate is given"},
        {{"mesoslite", "--simulate", "--heartbeat-interval", "0", NULL},
         4,
         "--heartbeat-interval: bad value '0'"},
        {{"mesoslite", "--simulate", "--log-level", "loud", NULL},
         4,
         "--log-level: unknown level 'loud'"},
        {{"mesoslite", "--simulate", "extra", NULL}, 3, "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ml_config cfg;
        cr_err err;
        assert_int_equal(parse(&cfg, &err, cases[i].argc, cases[i].argv), -1);
        assert_string_equal(err.detail, cases[i].msg);
    }
}

int main(void);
/* --config FILE: name: value lines under the flags, which win; a bad
 * line names FILE:LINE. */
static void test_config_file(void **state)
{
    char path[] = "/tmp/ml-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# mesoslite settings\n"
          "agents: 3\n"
          "work-dir: \"/var/lib/mesoslite\"\n"
          "faults: true\n"
          "simulate: false\n"
          "log-format: json\n"
          "heartbeat-interval: 2\n",
          f);
    fclose(f);
    const char *argv[] = {"mesoslite", "--config", path, "--agents", "5", NULL};
    ml_config cfg;
    cr_err err;

    assert_int_equal(parse(&cfg, &err, 5, argv), 0);
    assert_int_equal(cfg.agents, 5); /* the flag wins */
    assert_string_equal(cfg.work_dir, "/var/lib/mesoslite");
    assert_true(cfg.faults);
    assert_false(cfg.simulate);
    assert_int_equal(cfg.log_format, CR_LOG_JSON);
    assert_true(cfg.heartbeat_s == 2.0);
    ml_config_release(&cfg);

    f = fopen(path, "w");
    fputs("agents: 2\nheartbeat-interval: soon\n", f);
    fclose(f);
    assert_int_equal(parse(&cfg, &err, 3, argv), -1);
    assert_non_null(strstr(cr_err_msg(&err), ":2: "));
    assert_non_null(strstr(cr_err_msg(&err), "heartbeat-interval"));
    ml_config_release(&cfg);

    f = fopen(path, "w");
    fputs("no colon here\n", f);
    fclose(f);
    assert_int_equal(parse(&cfg, &err, 3, argv), -1);
    assert_non_null(strstr(cr_err_msg(&err), ":1: expecting `name: value`"));
    ml_config_release(&cfg);
    unlink(path);

    const char *missing[] = {"mesoslite", "--config", "/nonexistent/ml.conf", NULL};
    assert_int_equal(parse(&cfg, &err, 3, missing), -1);
    assert_non_null(strstr(cr_err_msg(&err), "cannot open"));
    ml_config_release(&cfg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_full_command_line),
    cmocka_unit_test(test_defaults_and_help),
    cmocka_unit_test(test_bad_flags),
    cmocka_unit_test(test_config_file),
};
CR_TEST_MAIN(tests)
