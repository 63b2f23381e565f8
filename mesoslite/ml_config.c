/* Command-line flags of bin/mesoslite. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesoslite/ml.h"

static const char USAGE[] =
    "usage: mesoslite --listen HOST:PORT --agents N --work-dir DIR [options]\n"
    "\n"
    "A single-process stand-in for an Apache Mesos 1.x master and its agents that\n"
    "speaks the v1 scheduler/executor HTTP APIs (see docs/mesoslite.md).\n"
    "\n"
    "  --listen HOST:PORT          master address (default 127.0.0.1:5050)\n"
    "  --agents N                  number of agents (default 1)\n"
    "  --work-dir DIR              agent work dir: DIR/slaves/<agent>/frameworks/... (required\n"
    "                              unless --simulate)\n"
    "  --racks r1,r2               agent i gets attribute rack=racks[i % n]\n"
    "  --hostname NAME             hostname advertised by master and real agents (default "
    "127.0.0.1)\n"
    "  --agent-resources SPEC      resources of each agent in Mesos --resources syntax\n"
    "                              (default cpus:4;mem:8192;disk:65536 and ports from\n"
    "                              31000-32000, split evenly between real agents);\n"
    "                              'SPEC1|SPEC2' gives agent i SPEC[i % n]\n"
    "  --agent-attributes SPEC     attributes in Mesos --attributes syntax ('zone:a;gen:3'),\n"
    "                              'SPEC1|SPEC2' cycles like --agent-resources; added to rack\n"
    "  --agent-port-base PORT      agent i listens on PORT+i (default: free ports)\n"
    "  --simulate                  agents run no processes: tasks go STARTING, RUNNING and end\n"
    "                              only when killed, when a fault says so, or after the\n"
    "                              task's ML_SIM_RUN_SECONDS (exit code ML_SIM_EXIT_CODE)\n"
    "  --faults                    serve the fault-injection surface under /__ml/\n"
    "  --heartbeat-interval SECS   scheduler HEARTBEAT interval (default 15)\n"
    "  --allocation-interval SECS  batch allocation interval (default 1)\n"
    "  --update-retry-interval SECS  first re-send of an unacknowledged status update,\n"
    "                              doubling up to 10 minutes (default 10)\n"
    "  --executor-registration-timeout SECS  (default 60)\n"
    "  --executor-shutdown-grace-period SECS (default 5)\n"
    "  --executor-environment-variables JSON  environment of executors and command tasks\n"
    "                              instead of mesoslite's own (as Mesos' agent flag), e.g.\n"
    "                              '{\"PATH\":\"/usr/bin:/bin\"}'; the MESOS_* variables are "
    "added\n"
    "  --log-level LEVEL           debug|info|warn|error (default info)\n"
    "  --log-format FORMAT         text|logfmt|json (default text)\n"
    "  --config FILE               settings as `name: value` lines (the flags' names,\n"
    "                              `simulate: true` for a switch); flags win\n"
    "  -h, --help                  this text\n"
    "\n"
    "SIGTERM or SIGINT stops it: every task process group is killed first.\n";

const char *ml_usage(void)
{
    return USAGE;
}

static int num(const char *flag, const char *s, double min, double *out, cr_err *err)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v < min)
        return cr_error(err, CR_EINVAL, "%s: bad value '%s'", flag, s);
    *out = v;
    return 0;
}

/* One pass of getopt over argv; the body of ml_config_parse. */
static int parse_args(ml_config *cfg, int argc, char **argv, cr_err *err)
{
    enum {
        O_LISTEN = 1000,
        O_AGENTS,
        O_WORK,
        O_RACKS,
        O_HOST,
        O_RES,
        O_PORTBASE,
        O_SIM,
        O_FAULTS,
        O_HB,
        O_ALLOC,
        O_RETRY,
        O_REG,
        O_GRACE,
        O_LOG,
        O_ENV,
        O_ATTRS,
        O_LOGFMT,
        O_CONFIG
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"agents", required_argument, NULL, O_AGENTS},
        {"work-dir", required_argument, NULL, O_WORK},
        {"racks", required_argument, NULL, O_RACKS},
        {"hostname", required_argument, NULL, O_HOST},
        {"agent-resources", required_argument, NULL, O_RES},
        {"agent-attributes", required_argument, NULL, O_ATTRS},
        {"agent-port-base", required_argument, NULL, O_PORTBASE},
        {"simulate", no_argument, NULL, O_SIM},
        {"faults", no_argument, NULL, O_FAULTS},
        {"heartbeat-interval", required_argument, NULL, O_HB},
        {"allocation-interval", required_argument, NULL, O_ALLOC},
        {"update-retry-interval", required_argument, NULL, O_RETRY},
        {"executor-registration-timeout", required_argument, NULL, O_REG},
        {"executor-shutdown-grace-period", required_argument, NULL, O_GRACE},
        {"log-level", required_argument, NULL, O_LOG},
        {"log-format", required_argument, NULL, O_LOGFMT},
        {"config", required_argument, NULL, O_CONFIG},
        {"executor-environment-variables", required_argument, NULL, O_ENV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    double v = 0;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return 1;
        case O_LISTEN: {
            char *colon = strrchr(optarg, ':');
            if (!colon || num("--listen", colon + 1, 1, &v, err) || v > 65535)
                return cr_error(err, CR_EINVAL, "--listen: expecting HOST:PORT, got '%s'", optarg);
            /* Keep argv intact (ps shows it): the host is copied into cfg. */
            snprintf(cfg->host_buf, sizeof(cfg->host_buf), "%.*s", (int)(colon - optarg), optarg);
            cfg->listen_host = cfg->host_buf;
            cfg->listen_port = (int)v;
            break;
        }
        case O_AGENTS:
            if (num("--agents", optarg, 0, &v, err) || v > 1000000)
                return cr_error(err, CR_EINVAL, "--agents: bad value '%s'", optarg);
            cfg->agents = (int)v;
            break;
        case O_WORK:
            cfg->work_dir = optarg;
            break;
        case O_RACKS:
            cfg->racks = optarg;
            break;
        case O_HOST:
            cfg->hostname = optarg;
            break;
        case O_RES:
            cfg->agent_resources = optarg;
            break;
        case O_ATTRS:
            cfg->agent_attributes = optarg;
            break;
        case O_PORTBASE:
            if (num("--agent-port-base", optarg, 0, &v, err) || v > 65535)
                return -1;
            cfg->agent_port_base = (int)v;
            break;
        case O_SIM:
            cfg->simulate = true;
            break;
        case O_FAULTS:
            cfg->faults = true;
            break;
        case O_HB:
            if (num("--heartbeat-interval", optarg, 0.01, &cfg->heartbeat_s, err))
                return -1;
            break;
        case O_ALLOC:
            if (num("--allocation-interval", optarg, 0.01, &cfg->allocation_s, err))
                return -1;
            break;
        case O_RETRY:
            if (num("--update-retry-interval", optarg, 0.01, &cfg->update_retry_s, err))
                return -1;
            break;
        case O_REG:
            if (num("--executor-registration-timeout", optarg, 0.01, &cfg->executor_registration_s,
                    err))
                return -1;
            break;
        case O_GRACE:
            if (num("--executor-shutdown-grace-period", optarg, 0, &cfg->executor_shutdown_grace_s,
                    err))
                return -1;
            break;
        case O_ENV:
            cfg->executor_env = optarg;
            break;
        case O_LOG:
            if (cr_log_level_parse(optarg, &cfg->log_level) != 0)
                return cr_error(err, CR_EINVAL, "--log-level: unknown level '%s'", optarg);
            break;
        case O_LOGFMT:
            if (cr_log_format_parse(optarg, &cfg->log_format) != 0)
                return cr_error(err, CR_EINVAL, "--log-format: '%s' is not text, logfmt or json",
                                optarg);
            break;
        case O_CONFIG: /* read before the flags (ml_config_parse) */
            break;
        default:
            return cr_error(err, CR_EINVAL, "unknown or incomplete option '%s' (see --help)",
                            argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cr_error(err, CR_EINVAL, "unexpected argument '%s'", argv[optind]);
    return 0;
}

static char *keep(ml_config *cfg, char *s)
{
    cfg->owned = xrealloc(cfg->owned, (cfg->n_owned + 1) * sizeof(*cfg->owned));
    cfg->owned[cfg->n_owned++] = s;
    return s;
}

/* The --config file: each `name: value` line is parsed as --name=value
 * (`name: true` as --name, `name: false` skipped), one line at a time so a
 * problem names its line. */
static int parse_file(ml_config *cfg, const char *path, cr_err *err)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;

    if (!f)
        return cr_error(err, CR_EINVAL, "--config %s: cannot open", path);
    while (fgets(line, sizeof(line), f)) {
        n++;
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "\r\n")] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        char *colon = strchr(s, ':');
        if (!colon || colon == s) {
            fclose(f);
            return cr_error(err, CR_EINVAL, "%s:%d: expecting `name: value`", path, n);
        }
        *colon = '\0';
        char *name = s, *value = colon + 1;
        name[strcspn(name, " \t")] = '\0';
        value += strspn(value, " \t");
        size_t vl = strlen(value);
        while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            value[--vl] = '\0';
        if (vl >= 2 && (value[0] == '"' || value[0] == '\'') && value[vl - 1] == value[0]) {
            value[vl - 1] = '\0';
            value++;
        }
        if (!strcmp(name, "config") || !strcmp(name, "help")) {
            fclose(f);
            return cr_error(err, CR_EINVAL, "%s:%d: '%s' cannot be set in a config file", path, n,
                            name);
        }
        char *arg;
        if (!strcmp(value, "false"))
            continue;
        if (!strcmp(value, "true") && (!strcmp(name, "simulate") || !strcmp(name, "faults")))
            arg = keep(cfg, xasprintf("--%s", name));
        else
            arg = keep(cfg, xasprintf("--%s=%s", name, value));
        char *av[] = {"mesoslite", arg, NULL};
        cr_err e;
        if (parse_args(cfg, 2, av, &e) != 0) {
            fclose(f);
            return cr_error(err, CR_EINVAL, "%s:%d: %s", path, n, cr_err_msg(&e));
        }
    }
    fclose(f);
    return 0;
}

int ml_config_parse(ml_config *cfg, int argc, char **argv, cr_err *err)
{
    const char *file = NULL;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file && (rc = parse_file(cfg, file, err)) != 0)
        return rc;
    if ((rc = parse_args(cfg, argc, argv, err)) != 0)
        return rc;
    if (!cfg->simulate && !cfg->work_dir)
        return cr_error(err, CR_EINVAL, "--work-dir is required unless --simulate is given");
    return 0;
}

void ml_config_release(ml_config *cfg)
{
    for (size_t i = 0; i < cfg->n_owned; i++)
        free(cfg->owned[i]);
    free(cfg->owned);
    cfg->owned = NULL;
    cfg->n_owned = 0;
}
