/* Command-line flags of bin/mesoslite. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int ml_config_parse(ml_config *cfg, int argc, char **argv, cr_err *err)
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
        O_ATTRS
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
        default:
            return cr_error(err, CR_EINVAL, "unknown or incomplete option '%s' (see --help)",
                            argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cr_error(err, CR_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!cfg->simulate && !cfg->work_dir)
        return cr_error(err, CR_EINVAL, "--work-dir is required unless --simulate is given");
    return 0;
}
