/* corralctl decommission | freeze | activate agent|rack ID: the machine
 * changes of the API (POST /api/agents/agent/{id}/decommission, ...;
 * docs/machines.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/http.h"

static const cli_opt opts[] = {
    {"help", 'h', false, false},         {"message", 'm', true, false},
    {"duration", 0, true, false},        {"revert-to", 0, true, false},
    {"kill-tasks-on-timeout", 0, false, false}, {"force", 0, false, false},
    {"action-id", 0, true, false},
};
enum { O_HELP, O_MESSAGE, O_DURATION, O_REVERT, O_KILL, O_FORCE, O_ACTION, O_N };

static void help_common(FILE *f, const char *verb, const char *what)
{
    fprintf(f,
            "usage: corralctl [--server URL] %s agent|rack ID [options]\n\n%s\n\n"
            "options:\n"
            "  -m, --message TEXT       why (kept in the machine's state history)\n"
            "      --duration D         the change expires after D (30s, 10m, 2h, 1d) and the\n"
            "                           machine reverts (GET /api/agents/expiring lists it)\n"
            "      --revert-to STATE    the state it expires into: ACTIVE, FROZEN,\n"
            "                           STARTING_DECOMMISSION or DECOMMISSIONED (default:\n"
            "                           the state it has now)\n"
            "      --action-id ID       Singularity's actionId\n",
            verb, what);
    if (!strcmp(verb, "decommission"))
        fprintf(f,
                "      --kill-tasks-on-timeout  when the expiry ends it DECOMMISSIONED, kill\n"
                "                           the tasks still left (DECOMMISSION_TIMEOUT)\n"
                "      --force              kill the tasks whose replacement cannot be placed,\n"
                "                           and job tasks, instead of waiting for them\n");
    fprintf(f, "  -h, --help               show this help\n"
               "\nExit status: 0 ok, 1 error (unknown machine, a conflicting state), 2 usage.\n");
}

void cli_help_decommission(FILE *f)
{
    help_common(f, "decommission",
                "Decommissions an agent (or every agent of a rack): it gets no new tasks; each\n"
                "of its tasks is replaced elsewhere and killed once the replacement is\n"
                "healthy; then it is DECOMMISSIONED. At most --max-decommissioning-agents\n"
                "(corrald) move their tasks at once; the others wait in STARTING_DECOMMISSION.\n"
                "`corralctl get agents` shows the state and why it waits.");
}

void cli_help_freeze(FILE *f)
{
    help_common(f, "freeze",
                "Freezes an ACTIVE agent or rack: no new tasks go there, running ones stay.");
}

void cli_help_activate(FILE *f)
{
    help_common(f, "activate",
                "Makes an agent or rack ACTIVE again (a decommission stops; its tasks stay).");
}

static bool parse_ms(const char *s, int64_t *ms)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v <= 0)
        return false;
    if (!*end || !strcmp(end, "s"))
        *ms = (int64_t)(v * 1000);
    else if (!strcmp(end, "ms"))
        *ms = (int64_t)v;
    else if (!strcmp(end, "m"))
        *ms = (int64_t)(v * 60000);
    else if (!strcmp(end, "h"))
        *ms = (int64_t)(v * 3600000);
    else if (!strcmp(end, "d"))
        *ms = (int64_t)(v * 86400000);
    else
        return false;
    return *ms > 0;
}

static int machine_change(cli_ctx *ctx, int argc, char **argv, const char *verb,
                          void (*help)(FILE *), const char *action, const char *state)
{
    const char *values[O_N] = {0}, *pos[3] = {0};
    int i = 1, npos = 0;
    int64_t ms = 0;

    while (i < argc) {
        const char *v;
        int k = cli_next_opt(argc, argv, &i, opts, O_N, &v, ctx->err);
        if (k == -2)
            return CLI_USAGE;
        if (k == O_HELP) {
            help(ctx->out);
            return CLI_OK;
        }
        if (k >= 0) {
            values[k] = opts[k].has_value ? v : "1";
            continue;
        }
        if (i >= argc)
            break;
        if (npos < 3)
            pos[npos] = argv[i];
        npos++;
        i++;
    }
    if (npos != 2 || (strcmp(pos[0], "agent") && strcmp(pos[0], "rack") &&
                      strcmp(pos[0], "slave"))) {
        fprintf(ctx->err, "corralctl %s: expected agent|rack ID (see corralctl %s --help)\n",
                verb, verb);
        return CLI_USAGE;
    }
    bool rack = !strcmp(pos[0], "rack");
    if ((values[O_KILL] || values[O_FORCE]) && strcmp(verb, "decommission")) {
        fprintf(ctx->err, "corralctl %s: --force and --kill-tasks-on-timeout are for "
                          "decommission\n", verb);
        return CLI_USAGE;
    }
    if (values[O_DURATION] && !parse_ms(values[O_DURATION], &ms)) {
        fprintf(ctx->err, "corralctl %s: --duration: \"%s\" is not a duration (30s, 10m, 2h)\n",
                verb, values[O_DURATION]);
        return CLI_USAGE;
    }
    if (values[O_REVERT] && !values[O_DURATION]) {
        fprintf(ctx->err, "corralctl %s: --revert-to needs --duration\n", verb);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, verb))
        return CLI_ERROR;

    json_t *body = json_object();
    if (values[O_MESSAGE])
        json_object_set_new(body, "message", json_string(values[O_MESSAGE]));
    if (values[O_DURATION])
        json_object_set_new(body, "durationMillis", json_integer(ms));
    if (values[O_REVERT])
        json_object_set_new(body, "revertToState", json_string(values[O_REVERT]));
    if (values[O_KILL])
        json_object_set_new(body, "killTasksOnDecommissionTimeout", json_true());
    if (values[O_FORCE])
        json_object_set_new(body, "force", json_true());
    if (values[O_ACTION])
        json_object_set_new(body, "actionId", json_string(values[O_ACTION]));
    char *id = cli_url_escape(pos[1]), *path;
    if (asprintf(&path, "/api/%s/%s/%s", rack ? "racks/rack" : "agents/agent", id, action) < 0)
        abort();
    cli_resp r;
    int rc = cli_http(ctx, verb, "POST", path, body, 0, &r);
    cli_resp_release(&r);
    json_decref(body);
    free(path);
    free(id);
    if (rc < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "%s/%s %s%s%s\n", rack ? "rack" : "agent", pos[1], state,
            values[O_DURATION] ? " for " : "", values[O_DURATION] ? values[O_DURATION] : "");
    return CLI_OK;
}

int cli_cmd_decommission(cli_ctx *ctx, int argc, char **argv)
{
    return machine_change(ctx, argc, argv, "decommission", cli_help_decommission, "decommission",
                          "decommissioning (STARTING_DECOMMISSION)");
}

int cli_cmd_freeze(cli_ctx *ctx, int argc, char **argv)
{
    return machine_change(ctx, argc, argv, "freeze", cli_help_freeze, "freeze", "frozen");
}

int cli_cmd_activate(cli_ctx *ctx, int argc, char **argv)
{
    return machine_change(ctx, argc, argv, "activate", cli_help_activate, "activate", "activated");
}
