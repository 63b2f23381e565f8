/* corralctl dispatcher, option parser, version and help; see cli.h. */
#include "cli/cli.h"
#include "cli/config.h"
#include "cli/http.h"

#include <stdlib.h>
#include <string.h>

static int cmd_version(cli_ctx *ctx, int argc, char **argv);
static void help_version(FILE *f);
static int cmd_help(cli_ctx *ctx, int argc, char **argv);
static void help_help(FILE *f);

static const cli_command commands[] = {
    {"apply", "create or update requests and deploys from manifests (--prune)", cli_cmd_apply,
     cli_help_apply},
    {"diff", "show what apply would change (exit 1 on drift)", cli_cmd_diff, cli_help_diff},
    {"delete", "delete the requests of manifests, or KIND NAME", cli_cmd_delete, cli_help_delete},
    {"validate", "check manifests and report every problem", cli_cmd_validate, cli_help_validate},
    {"get", "list requests, deploys, tasks, agents or racks", cli_cmd_get, cli_help_get},
    {"describe", "show a request's status, conditions and events", cli_cmd_describe,
     cli_help_describe},
    {"scale", "set a request's instances", cli_cmd_scale, cli_help_scale},
    {"pause", "pause a request", cli_cmd_pause, cli_help_pause},
    {"unpause", "unpause a request", cli_cmd_unpause, cli_help_unpause},
    {"bounce", "restart a request's tasks", cli_cmd_bounce, cli_help_bounce},
    {"run", "run a SCHEDULED or ON_DEMAND request now", cli_cmd_run, cli_help_run},
    {"kill", "kill a task", cli_cmd_kill, cli_help_kill},
    {"history", "show a request's deploy history and events", cli_cmd_history, cli_help_history},
    {"logs", "print (or follow) a task's output", cli_cmd_logs, cli_help_logs},
    {"watch", "stream changes from /api/watch", cli_cmd_watch, cli_help_watch},
    {"wait", "wait for a deploy to succeed or a request to be healthy", cli_cmd_wait,
     cli_help_wait},
    {"decommission", "decommission an agent or a rack (tasks move first)", cli_cmd_decommission,
     cli_help_decommission},
    {"freeze", "stop new tasks on an agent or a rack", cli_cmd_freeze, cli_help_freeze},
    {"activate", "make an agent or a rack ACTIVE again", cli_cmd_activate, cli_help_activate},
    {"state", "print the cluster summary", cli_cmd_state, cli_help_state},
    {"auth", "who you are, what you may do, API tokens", cli_cmd_auth, cli_help_auth},
    {"source", "GitOps Sources: add, get, describe, sync, delete", cli_cmd_source,
     cli_help_source},
    {"webhooks", "list, add or delete webhooks (admins)", cli_cmd_webhooks, cli_help_webhooks},
    {"config", "view or change corralctl's settings file", cli_cmd_config, cli_help_config},
    {"version", "print the version", cmd_version, help_version},
    {"help", "show help for a command", cmd_help, help_help},
};

const cli_command *cli_commands(size_t *n)
{
    *n = sizeof(commands) / sizeof(commands[0]);
    return commands;
}

const cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] [TLS options] <command> [options]\n\n"
               "Corral's command-line client (kubectl-like) for Singularity-compatible\n"
               "requests and deploys.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --server URL   corrald API address (online commands); default\n"
               "                 $CORRAL_SERVER\n"
               "  --ca-file PATH verify an https:// server against this PEM CA bundle\n"
               "                 instead of the system's; default $CORRAL_CA_FILE\n"
               "  --cert PATH, --key PATH\n"
               "                 client certificate and key (PEM) to present; default\n"
               "                 $CORRAL_CERT and $CORRAL_KEY\n"
               "  --insecure-skip-tls-verify\n"
               "                 do not verify the server's certificate (warns; for tests)\n"
               "  --token TOKEN  API token, sent as 'Authorization: Bearer'; default\n"
               "                 $CORRAL_TOKEN\n"
               "  -h, --help     show this help\n\n"
               "Defaults for --server, --token, --ca-file, --cert and --key also come\n"
               "from the settings file (corralctl config path); flags and the\n"
               "environment win over it.\n"
               "Run 'corralctl <command> --help' for a command's options.\n"
               "Exit status: 0 ok, 1 error, 2 usage (diff: 1 = differences).\n");
}

int cli_next_opt(int argc, char **argv, int *i, const cli_opt *opts, size_t nopts,
                 const char **value, FILE *err)
{
    *value = NULL;
    if (*i >= argc)
        return -1;
    const char *a = argv[*i];
    if (strcmp(a, "--") == 0) {
        (*i)++;
        return -1;
    }
    if (a[0] != '-' || a[1] == 0) /* positional, or "-" (stdin) */
        return -1;
    (*i)++;
    if (a[1] == '-') {
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t k = 0; k < nopts; k++) {
            if (strlen(opts[k].name) != len || strncmp(opts[k].name, name, len) != 0)
                continue;
            if (!opts[k].has_value) {
                if (eq) {
                    fprintf(err, "corralctl: option --%s takes no value\n", opts[k].name);
                    return -2;
                }
                return (int)k;
            }
            if (eq) {
                *value = eq + 1;
            } else if (!opts[k].value_optional) {
                if (*i >= argc) {
                    fprintf(err, "corralctl: option --%s needs a value\n", opts[k].name);
                    return -2;
                }
                *value = argv[(*i)++];
            }
            return (int)k;
        }
        fprintf(err, "corralctl: unknown option %s\n", a);
        return -2;
    }
    for (size_t k = 0; k < nopts; k++) {
        if (opts[k].short_name != a[1])
            continue;
        if (!opts[k].has_value) {
            if (a[2]) {
                fprintf(err, "corralctl: option -%c takes no value\n", a[1]);
                return -2;
            }
            return (int)k;
        }
        if (a[2]) {
            *value = a + 2;
        } else {
            if (*i >= argc) {
                fprintf(err, "corralctl: option -%c needs a value\n", a[1]);
                return -2;
            }
            *value = argv[(*i)++];
        }
        return (int)k;
    }
    fprintf(err, "corralctl: unknown option %s\n", a);
    return -2;
}

static void help_version(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] version [--client]\n\n"
               "Prints corralctl's release and, when a server is known (--server,\n"
               "$CORRAL_SERVER or the settings file), the answering corrald's release and\n"
               "etcd layout version (GET /api/state). Warns on stderr when the two are\n"
               "further apart than one minor release: upgrade the older one\n"
               "(docs/operations.md, \"Upgrade\").\n\n"
               "options:\n"
               "      --client   corralctl's release only; no server is asked\n"
               "  -h, --help     show this help\n");
}

/* "1.2.3" -> 1 and 2; false when it does not start with two numbers. */
static bool major_minor(const char *v, long *major, long *minor)
{
    char *end;

    *major = strtol(v, &end, 10);
    if (end == v || *end != '.')
        return false;
    v = end + 1;
    *minor = strtol(v, &end, 10);
    return end != v;
}

bool cli_version_skew_ok(const char *client, const char *server)
{
    long cmaj, cmin, smaj, smin;

    if (!major_minor(client, &cmaj, &cmin) || !major_minor(server, &smaj, &smin))
        return false;
    return cmaj == smaj && labs(cmin - smin) <= 1;
}

/* The answering corrald's release (GET /api/state hostStates[0]). */
static int server_version(cli_ctx *ctx)
{
    cli_resp r = {0};
    const json_t *hs;
    const char *v;
    int rc = CLI_ERROR;

    if (cli_http(ctx, "version", "GET", "/api/state", NULL, 0, &r) < 0)
        goto out;
    hs = json_array_get(json_object_get(r.body, "hostStates"), 0);
    v = json_string_value(json_object_get(hs, "version"));
    if (!v) {
        fprintf(ctx->out, "corrald (release not reported: older than 0.1.0)\n");
        fprintf(ctx->err, "corralctl: warning: corrald does not report its release; "
                          "upgrade it\n");
        rc = CLI_OK;
        goto out;
    }
    fprintf(ctx->out, "corrald %s (etcd layout %lld, replica %s)\n", v,
            (long long)json_integer_value(json_object_get(hs, "etcdLayoutVersion")),
            json_string_value(json_object_get(hs, "replicaId"))
                ? json_string_value(json_object_get(hs, "replicaId"))
                : "?");
    if (!cli_version_skew_ok(CORRAL_VERSION, v))
        fprintf(ctx->err, "corralctl: warning: corralctl %s and corrald %s are more than one "
                          "minor release apart, which is not supported; upgrade the older one\n",
                CORRAL_VERSION, v);
    rc = CLI_OK;
out:
    cli_resp_release(&r);
    return rc;
}

static int cmd_version(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {{"help", 'h', false, false}, {"client", 0, false, false}};
    const char *v;
    bool client_only = false;
    int i = 1, k;
    while ((k = cli_next_opt(argc, argv, &i, opts, 2, &v, ctx->err)) >= 0) {
        if (k == 1) {
            client_only = true;
            continue;
        }
        help_version(ctx->out);
        return CLI_OK;
    }
    if (k == -2 || i < argc) {
        if (i < argc)
            fprintf(ctx->err, "corralctl version: unexpected argument %s\n", argv[i]);
        return CLI_USAGE;
    }
    fprintf(ctx->out, "corralctl %s\n", CORRAL_VERSION);
    if (client_only || !ctx->server)
        return CLI_OK;
    return server_version(ctx);
}

static void help_help(FILE *f)
{
    fprintf(
        f,
        "usage: corralctl help [command]\n\nShows the list of commands, or one command's help.\n");
}

static int cmd_help(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        usage(ctx->out);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help_help(ctx->out);
        return CLI_OK;
    }
    const cli_command *c = cli_find_command(argv[1]);
    if (!c) {
        fprintf(ctx->err, "corralctl: unknown command \"%s\"\n", argv[1]);
        return CLI_USAGE;
    }
    c->help(ctx->out);
    return CLI_OK;
}

/* An environment variable's value, NULL when unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The TLS options make sense together. ca_flag: the CA file was given as
 * --ca-file (one from $CORRAL_CA_FILE yields to --insecure-skip-tls-verify). */
static bool check_tls(cli_ctx *ctx, bool ca_flag)
{
    if (!ctx->cert != !ctx->key) {
        fprintf(ctx->err,
                "corralctl: --cert and --key go together (or $CORRAL_CERT and "
                "$CORRAL_KEY); %s is missing\n",
                ctx->cert ? "the key" : "the certificate");
        return false;
    }
    if (ctx->insecure && ctx->ca_file && !ca_flag)
        ctx->ca_file = NULL;
    if (ctx->insecure && ctx->ca_file) {
        fprintf(ctx->err,
                "corralctl: --insecure-skip-tls-verify and a CA file (%s) exclude "
                "each other\n",
                ctx->ca_file);
        return false;
    }
    if (ctx->insecure)
        fprintf(ctx->err, "corralctl: warning: --insecure-skip-tls-verify: the server's "
                          "certificate is not verified; anyone on the network path can read "
                          "and change this traffic\n");
    return true;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    enum { O_HELP, O_SERVER, O_CA_FILE, O_CERT, O_KEY, O_INSECURE, O_TOKEN, O__N };
    static const cli_opt opts[] = {
        {"help", 'h', false, false}, {"server", 0, true, false},
        {"ca-file", 0, true, false}, {"cert", 0, true, false},
        {"key", 0, true, false},     {"insecure-skip-tls-verify", 0, false, false},
        {"token", 0, true, false}};
    cli_ctx ctx = {out, err, getenv("CORRAL_SERVER")};
    cli_config cfg;
    const char *v;
    int i = 1, k, rc;
    bool ca_flag = false;

    /* The file first, then the environment over it, then the flags. */
    if (cli_config_load(&cfg, err) < 0) {
        cli_config_release(&cfg);
        return CLI_USAGE;
    }
    ctx.server = env("CORRAL_SERVER") ? env("CORRAL_SERVER") : cfg.server;
    ctx.token = env("CORRAL_TOKEN") ? env("CORRAL_TOKEN") : cfg.token;
    ctx.ca_file = env("CORRAL_CA_FILE") ? env("CORRAL_CA_FILE") : cfg.ca_file;
    ctx.cert = env("CORRAL_CERT") ? env("CORRAL_CERT") : cfg.cert;
    ctx.key = env("CORRAL_KEY") ? env("CORRAL_KEY") : cfg.key;
    while ((k = cli_next_opt(argc, argv, &i, opts, O__N, &v, err)) >= 0) {
        switch (k) {
        case O_HELP:
            usage(out);
            cli_config_release(&cfg);
            return CLI_OK;
        case O_SERVER:
            ctx.server = v;
            break;
        case O_CA_FILE:
            ctx.ca_file = *v ? v : NULL;
            ca_flag = true;
            break;
        case O_CERT:
            ctx.cert = *v ? v : NULL;
            break;
        case O_KEY:
            ctx.key = *v ? v : NULL;
            break;
        case O_INSECURE:
            ctx.insecure = true;
            break;
        case O_TOKEN:
            ctx.token = *v ? v : NULL;
            break;
        }
    }
    const cli_command *c = NULL;
    rc = CLI_USAGE;
    if (k == -2 || i >= argc)
        usage(err);
    else if (!check_tls(&ctx, ca_flag))
        ;
    else if (!(c = cli_find_command(argv[i])))
        fprintf(err, "corralctl: unknown command \"%s\" (see corralctl --help)\n", argv[i]);
    else
        rc = c->run(&ctx, argc - i, argv + i);
    cli_config_release(&cfg);
    return rc;
}
