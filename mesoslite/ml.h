/* mesoslite: a single-process stand-in for a Mesos 1.x master and its agents,
 * speaking the v1 scheduler and executor HTTP APIs (JSON), the /files endpoints, part
 * of the operator API, and an optional fault-injection surface (`/__ml/...`).
 * See docs/mesoslite.md.
 *
 * Lifecycle: ml_config_init -> ml_app_new (binds the master and agent ports,
 * registers its events on the caller's event_base) -> event_base_dispatch ->
 * ml_app_free (kills every task's process group, frees everything). */
#ifndef ML_H
#define ML_H

#include <stdbool.h>

#include "base/err.h"
#include "base/log.h"

struct event_base;

typedef struct ml_config {
    const char *listen_host;        /* master address, default 127.0.0.1 */
    int listen_port;                /* default 5050 */
    int agents;                     /* number of agents, default 1 */
    const char *work_dir;           /* agent work dir (sandboxes), required unless simulate */
    const char *racks;              /* comma list; agent i gets racks[i % n] as attribute `rack` */
    const char *hostname;           /* hostname of master and real agents, default 127.0.0.1 */
    const char *agent_resources;    /* Mesos --resources syntax; "a|b" cycles over agents;
                                     * NULL: the default, whose port range real agents
                                     * sharing one hostname split between them */
    const char *agent_attributes;   /* Mesos --attributes syntax; "a|b" cycles over agents */
    int agent_port_base;            /* agent i listens on base+i; 0 picks free ports */
    bool simulate;                  /* agents run no processes */
    bool faults;                    /* serve /__ml/ */
    double heartbeat_s;             /* scheduler HEARTBEAT interval, default 15 */
    double allocation_s;            /* batch allocation interval, default 1 */
    double update_retry_s;          /* first re-send of an unacknowledged update, default 10 */
    double executor_registration_s; /* custom executor must SUBSCRIBE within, default 60 */
    double executor_shutdown_grace_s; /* default 5 */
    cr_log_level log_level;           /* default info */
    cr_log_format log_format;         /* default text */
    const char *executor_env;         /* JSON object replacing the inherited environment, or NULL */
    char host_buf[256];               /* storage for --listen's host */
    char **owned;                     /* the --config file's values (ml_config_release) */
    size_t n_owned;
} ml_config;

void ml_config_init(ml_config *cfg);

/* Parses argv (as documented by ml_usage) into cfg: first the --config
 * file's `name: value` lines (the flags' names), then the flags, which win.
 * Strings are borrowed from argv or owned by cfg (ml_config_release).
 * Returns 1 when --help was asked, 0 on success, -1 with err (a file's
 * problem names FILE:LINE). */
int ml_config_parse(ml_config *cfg, int argc, char **argv, cr_err *err);
/* Frees what ml_config_parse kept of a --config file. */
void ml_config_release(ml_config *cfg);
/* The --help text (static). */
const char *ml_usage(void);

typedef struct ml_app ml_app;

/* Creates the master and its agents on base. log is borrowed and must
 * outlive the app. Returns NULL with err on failure (e.g. port in use). */
ml_app *ml_app_new(struct event_base *base, const ml_config *cfg, cr_log *log, cr_err *err);
/* Stops every task (SIGKILL to each process group, reaping them) and frees
 * the app. ml_app_free(NULL) is a no-op. */
void ml_app_free(ml_app *app);

#endif
