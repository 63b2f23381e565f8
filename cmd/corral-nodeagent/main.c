/* corral-nodeagent: Corral's per-agent services (docs/nodeagent.md). Only
 * wiring: settings, the loop, signals; the work is in nodeagent/. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/err.h"
#include "base/log.h"
#include "nodeagent/na_app.h"
#include "nodeagent/na_config.h"

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    na_app_shutdown(arg);
}

int main(int argc, char **argv)
{
    cr_log log = {.level = CR_LOG_INFO, .out = stderr, .name = "corral-nodeagent"};
    struct event_base *base = NULL;
    struct event *sterm = NULL, *sint = NULL;
    na_app *a = NULL;
    na_config cfg;
    cr_err err;
    int rc = 1;

    na_config_init(&cfg);
    if (na_config_parse_args(&cfg, argc, argv, &err) < 0) {
        fprintf(stderr, "corral-nodeagent: %s (try --help)\n", cr_err_msg(&err));
        na_config_release(&cfg);
        return 2;
    }
    if (cfg.help) {
        fputs(na_config_usage(), stdout);
        na_config_release(&cfg);
        return 0;
    }
    if (cr_log_level_parse(cfg.log_level, &log.level) < 0) {
        fprintf(stderr, "corral-nodeagent: unknown log level '%s'\n", cfg.log_level);
        na_config_release(&cfg);
        return 2;
    }
    if (cr_log_format_parse(cfg.log_format, &log.format) < 0) {
        fprintf(stderr, "corral-nodeagent: --log-format: '%s' is not text, logfmt or json\n",
                cfg.log_format);
        na_config_release(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        cr_errorlog(&log, "cannot create the event loop");
        goto out;
    }
    a = na_app_new(base, &cfg, &log, &err);
    if (!a) {
        cr_errorlog(&log, "%s", cr_err_msg(&err));
        goto out;
    }
    sterm = evsignal_new(base, SIGTERM, on_stop, a);
    sint = evsignal_new(base, SIGINT, on_stop, a);
    evsignal_add(sterm, NULL);
    evsignal_add(sint, NULL);
    event_base_dispatch(base);
    rc = 0;
out:
    if (sterm)
        event_free(sterm);
    if (sint)
        event_free(sint);
    na_app_free(a);
    if (base)
        event_base_free(base);
    na_config_release(&cfg);
    return rc;
}
