#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "nodeagent/na_config.h"

static void test_flags_and_file(void **state)
{
    char *dir = cr_test_tmpdir(), *path = xasprintf("%s/na.conf", dir);
    FILE *f = fopen(path, "w");
    na_config c;
    cr_err err;

    fprintf(f, "# node agent\nwork-dir: /var/lib/mesos\nlisten = 0.0.0.0:7100\n"
               "s3-bucket: \"logs\"\nupload-interval-ms: 250\ns3-path-style: true\n");
    fclose(f);
    {
        char *argv[] = {"corral-nodeagent", "--config",         path, "--listen", "127.0.0.1:1",
                        "--no-oom-killer",  "--retention-s=60", NULL};
        na_config_init(&c);
        assert_int_equal(na_config_parse_args(&c, 7, argv, &err), 0);
    }
    assert_string_equal(c.work_dir, "/var/lib/mesos");
    assert_string_equal(c.listen, "127.0.0.1:1"); /* the flag wins */
    assert_string_equal(c.s3_bucket, "logs");
    assert_int_equal(c.upload_interval_ms, 250);
    assert_true(c.s3_path_style);
    assert_true(c.no_oom_killer);
    assert_int_equal(c.retention_s, 60);
    assert_int_equal(c.oom_threshold_pct, 95);
    na_config_release(&c);

    f = fopen(path, "w");
    fprintf(f, "work-dir: /x\nlisen: 1\n");
    fclose(f);
    {
        char *argv[] = {"corral-nodeagent", "--config", path, NULL};
        char *want = xasprintf("%s:2: unknown setting 'lisen'", path);
        na_config_init(&c);
        assert_int_equal(na_config_parse_args(&c, 3, argv, &err), -1);
        assert_string_equal(cr_err_msg(&err), want);
        free(want);
        na_config_release(&c);
    }
    {
        char *argv[] = {"corral-nodeagent", "--part-size-mb", "1", NULL};
        na_config_init(&c);
        assert_int_equal(na_config_parse_args(&c, 3, argv, &err), -1);
        assert_non_null(strstr(cr_err_msg(&err), "--part-size-mb"));
        na_config_release(&c);
    }
    {
        char *argv[] = {"corral-nodeagent", "--listen", "127.0.0.1:1", NULL};
        na_config_init(&c);
        assert_int_equal(na_config_parse_args(&c, 3, argv, &err), -1);
        assert_non_null(strstr(cr_err_msg(&err), "--work-dir"));
        na_config_release(&c);
    }
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flags_and_file),
};
CR_TEST_MAIN(tests)
