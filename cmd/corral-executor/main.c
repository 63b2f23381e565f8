/* corral-executor: a Mesos v1 custom executor. A Mesos agent (or mesoslite)
 * starts it with the environment of reference/mesos-v1-protocol.md 4.3; it
 * runs one task described by the deploy's executorData (docs/executor.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/err.h"
#include "base/log.h"
#include "executor/exe_executor.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: corral-executor [--log-level debug|info|warn|error]\n\n"
               "A Mesos custom executor: started by a Mesos agent with MESOS_AGENT_ENDPOINT,\n"
               "MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_DIRECTORY, MESOS_CHECKPOINT, ...\n"
               "Settings: CORRAL_EXECUTOR_CONFIG (JSON file), CORRAL_EXECUTOR_CACHE_DIR,\n"
               "CORRAL_S3_ENDPOINT, CORRAL_S3_PATH_STYLE, AWS_ACCESS_KEY_ID,\n"
               "AWS_SECRET_ACCESS_KEY, AWS_REGION. See docs/executor.md.\n");
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    exe_executor_shutdown(arg);
}

int main(int argc, char **argv)
{
    cr_log log = {.level = CR_LOG_INFO, .out = stderr, .name = "corral-executor"};
    struct event_base *base = NULL;
    struct event *sterm = NULL, *sint = NULL;
    exe_executor *e = NULL;
    exe_config cfg;
    cr_err err;
    int rc = 1;
    const char *lvl = getenv("CORRAL_EXECUTOR_LOG_LEVEL");

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            lvl = argv[++i];
        } else {
            fprintf(stderr, "corral-executor: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (lvl && cr_log_level_parse(lvl, &log.level) < 0) {
        fprintf(stderr, "corral-executor: unknown log level '%s'\n", lvl);
        return 2;
    }
    if (exe_config_from_env(&cfg, &err) < 0) {
        cr_errorlog(&log, "%s", cr_err_msg(&err));
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        cr_errorlog(&log, "cannot create the event loop");
        goto out;
    }
    e = exe_executor_new(base, &cfg, &log, &err);
    if (!e) {
        cr_errorlog(&log, "%s", cr_err_msg(&err));
        goto out;
    }
    sterm = evsignal_new(base, SIGTERM, on_stop, e);
    sint = evsignal_new(base, SIGINT, on_stop, e);
    evsignal_add(sterm, NULL);
    evsignal_add(sint, NULL);
    event_base_dispatch(base);
    rc = exe_executor_exit_code(e);
out:
    if (sterm)
        event_free(sterm);
    if (sint)
        event_free(sint);
    exe_executor_free(e);
    if (base)
        event_base_free(base);
    exe_config_release(&cfg);
    return rc;
}
