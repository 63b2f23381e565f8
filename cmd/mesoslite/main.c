/* mesoslite: wires flags, the event loop, signals and the ml_app together. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>

#include "base/log.h"
#include "mesoslite/ml.h"

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    ml_config cfg;
    cr_err err;
    cr_log log = {CR_LOG_INFO, NULL, "mesoslite"};
    struct event_base *base;
    struct event *term, *intr;
    ml_app *app;
    int rc;

    ml_config_init(&cfg);
    rc = ml_config_parse(&cfg, argc, argv, &err);
    if (rc == 1) {
        fputs(ml_usage(), stdout);
        ml_config_release(&cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "mesoslite: %s\n", cr_err_msg(&err));
        ml_config_release(&cfg);
        return 2;
    }
    log.level = cfg.log_level;
    log.format = cfg.log_format;
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    app = ml_app_new(base, &cfg, &log, &err);
    if (!app) {
        fprintf(stderr, "mesoslite: %s\n", cr_err_msg(&err));
        event_base_free(base);
        ml_config_release(&cfg);
        return 1;
    }
    term = evsignal_new(base, SIGTERM, on_stop, base);
    intr = evsignal_new(base, SIGINT, on_stop, base);
    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);
    event_base_dispatch(base);
    cr_info(&log, "stopping: killing every task");
    ml_app_free(app);
    event_free(term);
    event_free(intr);
    event_base_free(base);
    ml_config_release(&cfg);
    return 0;
}
