/* corralctl's online commands: get, describe, scale, pause, unpause, bounce,
 * run, kill, history, logs, watch, wait, state. Each is one blocking
 * conversation with corrald's /api (cli/http.h); rendering is in
 * cli/table.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/common.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/table.h"

/* ---- small helpers ----------------------------------------------------------- */

/* GET path (printf format, arguments already escaped); the body (caller owns)
 * or NULL after printing the error. */
static json_t *get_json(cli_ctx *ctx, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *get_json(cli_ctx *ctx, const char *cmd, const char *fmt, ...)
{
    char *path = NULL;
    json_t *body = NULL;
    cli_resp r;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&path, fmt, ap) < 0)
        abort();
    va_end(ap);
    if (cli_http(ctx, cmd, "GET", path, NULL, 0, &r) == 0)
        body = json_incref(r.body ? r.body : json_null());
    cli_resp_release(&r);
    free(path);
    return body;
}

/* Calls method path with body (borrowed, may be NULL). Returns 0 and the
 * answer in *out (caller owns; may be NULL when out is NULL), -1 if failed. */
static int call(cli_ctx *ctx, const char *cmd, const char *method, const char *path,
                const json_t *body, json_t **out)
{
    cli_resp r;
    int rc = cli_http(ctx, cmd, method, path, body, 0, &r);
    if (out)
        *out = rc == 0 ? json_incref(r.body) : NULL;
    cli_resp_release(&r);
    return rc;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v)
           : json_is_real(v)  ? (int64_t)json_real_value(v)
                              : 0;
}

/* Parses "60s", "2m", "1h", "30d", "500ms" or a plain number of seconds into ms. */
static bool parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return false;
    if (!*end || strcmp(end, "s") == 0)
        *ms = (int64_t)(v * 1000);
    else if (strcmp(end, "ms") == 0)
        *ms = (int64_t)v;
    else if (strcmp(end, "m") == 0)
        *ms = (int64_t)(v * 60000);
    else if (strcmp(end, "h") == 0)
        *ms = (int64_t)(v * 3600000);
    else if (strcmp(end, "d") == 0)
        *ms = (int64_t)(v * 86400000);
    else
        return false;
    return true;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool is_format(const char *o, bool table_ok)
{
    return strcmp(o, "json") == 0 || strcmp(o, "yaml") == 0 ||
           (table_ok && (strcmp(o, "table") == 0 || strcmp(o, "wide") == 0));
}

/* Parses the options of a command: fills values[k] for each option k
 * (flags get "1") and collects positionals. Returns CLI_OK to go on, or an
 * exit code (help printed: CLI_OK with *done set; usage error: CLI_USAGE).
 * "--" ends options; the rest goes to *rest. */
typedef struct parsed {
    const char *values[8];
    char **pos;
    int npos;
    char **rest; /* after "--" */
    int nrest;
    bool done;
} parsed;

static int parse(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts, size_t nopts,
                 void (*help)(FILE *), parsed *p)
{
    int i = 1, k, before;
    const char *v;
    memset(p, 0, sizeof(*p));
    p->pos = argv + argc;
    for (;;) {
        before = i;
        k = cli_next_opt(argc, argv, &i, opts, nopts, &v, ctx->err);
        if (k >= 0) {
            if (strcmp(opts[k].name, "help") == 0) {
                help(ctx->out);
                p->done = true;
                return CLI_OK;
            }
            p->values[k] = opts[k].has_value ? v : "1";
            continue;
        }
        if (k == -2)
            return CLI_USAGE;
        if (i != before) { /* "--" was consumed: the rest is verbatim */
            p->rest = argv + i;
            p->nrest = argc - i;
            return CLI_OK;
        }
        if (i >= argc)
            return CLI_OK;
        /* A positional: keep it, permuting argv so positionals stay
         * contiguous and options may follow them (as getopt does). */
        if (p->npos == 0) {
            p->pos = argv + i;
        } else if (p->pos + p->npos != argv + i) {
            char *tmp = argv[i];
            memmove(p->pos + p->npos + 1, p->pos + p->npos,
                    (size_t)(argv + i - (p->pos + p->npos)) * sizeof(char *));
            p->pos[p->npos] = tmp;
        }
        p->npos++;
        i++;
    }
}

/* Checks the positional count; prints a usage error naming cmd. */
static bool want_pos(cli_ctx *ctx, const char *cmd, const parsed *p, int min, int max,
                     const char *what)
{
    if (p->npos >= min && p->npos <= max)
        return true;
    fprintf(ctx->err, "corralctl %s: expected %s (see corralctl %s --help)\n", cmd, what, cmd);
    return false;
}

#define HELP_OPT                  \
    {                             \
        "help", 'h', false, false \
    }

/* ---- get ----------------------------------------------------------------------- */

void cli_help_get(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] get KIND [NAME] [-o table|wide|json|yaml]\n\n"
               "Lists objects of one kind from corrald:\n"
               "  requests [ID]       requests (NAME, TYPE, STATE, INSTANCES, deploys)\n"
               "  deploys [REQUEST]   active and pending deploys; with REQUEST also its\n"
               "                      deploy history\n"
               "  tasks [REQUEST]     active tasks, of one request when given\n"
               "  agents [ID]         Mesos agents and their state\n"
               "  racks [ID]          racks and their state\n\n"
               "options:\n"
               "  -o, --output FORMAT  table (default), wide (more columns), json, yaml\n"
               "  -h, --help           show this help\n"
               "\nExit status: 0 ok, 1 error (e.g. NAME not found), 2 usage.\n");
}

static void age_cell(cli_table *t, int64_t ms, int64_t now)
{
    char buf[32];
    cli_table_cell(t, "%s", cli_age(ms, now, buf, sizeof(buf)));
}

static void str_cell(cli_table *t, const char *s)
{
    if (s && *s)
        cli_table_cell(t, "%s", s);
    else
        cli_table_cell(t, NULL);
}

static void json_cell(cli_table *t, const json_t *v)
{
    char *s = cli_cell_text(v);
    cli_table_cell(t, "%s", s);
    free(s);
}

static json_t *get_requests(cli_ctx *ctx, const char *name)
{
    json_t *list;
    if (!name)
        return get_json(ctx, "get", "/api/requests");
    char *e = cli_url_escape(name);
    json_t *one = get_json(ctx, "get", "/api/requests/request/%s", e);
    free(e);
    if (!one)
        return NULL;
    list = json_array();
    json_array_append_new(list, one);
    return list;
}

static cli_table *table_requests(const json_t *items, bool wide)
{
    static const char *const h[] = {"name",          "type",           "state",   "instances",
                                    "active-deploy", "pending-deploy", "healthy", "schedule"};
    cli_table *t = cli_table_new(h, wide ? 8 : 6);
    size_t i;
    const json_t *p;
    json_array_foreach (items, i, p) {
        const json_t *r = json_object_get(p, "request");
        const json_t *inst = json_object_get(r, "instances");
        cli_table_row(t);
        str_cell(t, jstr(r, "id"));
        str_cell(t, jstr(r, "requestType"));
        str_cell(t, jstr(p, "state"));
        if (inst)
            json_cell(t, inst);
        else
            cli_table_cell(t, "1");
        str_cell(t, jstr(json_object_get(p, "activeDeploy"), "id"));
        str_cell(t, jstr(json_object_get(p, "pendingDeploy"), "id"));
        cli_table_cell(t, "%zu",
                       json_array_size(json_object_get(json_object_get(p, "taskIds"), "healthy")));
        str_cell(t, jstr(r, "schedule") ? jstr(r, "schedule") : jstr(r, "quartzSchedule"));
    }
    return t;
}

/* Deploy rows: {requestId, deployId, state, timestamp, deploy?, result?}. */
static void add_deploy_row(json_t *items, const char *rid, const char *did, const char *state,
                           int64_t ts, const json_t *deploy)
{
    size_t i;
    const json_t *x;
    json_array_foreach (items, i, x)
        if (strcmp(jstr(x, "requestId"), rid) == 0 && strcmp(jstr(x, "deployId"), did) == 0)
            return;
    json_t *row = json_pack("{s:s, s:s, s:s, s:I}", "requestId", rid, "deployId", did, "state",
                            state, "timestamp", (json_int_t)ts);
    if (deploy)
        json_object_set(row, "deploy", (json_t *)deploy);
    json_array_append_new(items, row);
}

static json_t *get_deploys(cli_ctx *ctx, const char *name)
{
    json_t *parents = get_requests(ctx, name), *items;
    size_t i;
    const json_t *p;

    if (!parents)
        return NULL;
    items = json_array();
    json_array_foreach (parents, i, p) {
        const char *rid = jstr(json_object_get(p, "request"), "id");
        const json_t *a = json_object_get(p, "activeDeploy");
        const json_t *pd = json_object_get(p, "pendingDeploy");
        const json_t *pds = json_object_get(p, "pendingDeployState");
        if (!rid)
            continue;
        if (pd && jstr(pd, "id")) {
            char *st = xasprintf("PENDING (%s)", jstr(pds, "currentDeployState")
                                                     ? jstr(pds, "currentDeployState")
                                                     : "WAITING");
            add_deploy_row(items, rid, jstr(pd, "id"), st, jint(pd, "timestamp"), pd);
            free(st);
        }
        if (a && jstr(a, "id"))
            add_deploy_row(items, rid, jstr(a, "id"), "ACTIVE", jint(a, "timestamp"), a);
    }
    if (name) {
        char *e = cli_url_escape(name);
        json_t *hist = get_json(ctx, "get", "/api/history/request/%s/deploys", e);
        free(e);
        if (!hist) {
            json_decref(parents);
            json_decref(items);
            return NULL;
        }
        json_array_foreach (hist, i, p) {
            const json_t *mk = json_object_get(p, "deployMarker");
            const json_t *res = json_object_get(p, "deployResult");
            const char *did = jstr(mk, "deployId");
            if (did)
                add_deploy_row(items, name, did,
                               jstr(res, "deployState") ? jstr(res, "deployState") : "UNKNOWN",
                               jint(mk, "timestamp"), NULL);
        }
        json_decref(hist);
    }
    json_decref(parents);
    return items;
}

static cli_table *table_deploys(const json_t *items, bool wide, int64_t now)
{
    static const char *const h[] = {"request", "deploy", "state", "age", "command"};
    cli_table *t = cli_table_new(h, wide ? 5 : 4);
    size_t i;
    const json_t *d;
    json_array_foreach (items, i, d) {
        cli_table_row(t);
        str_cell(t, jstr(d, "requestId"));
        str_cell(t, jstr(d, "deployId"));
        str_cell(t, jstr(d, "state"));
        age_cell(t, jint(d, "timestamp"), now);
        str_cell(t, jstr(json_object_get(d, "deploy"), "command"));
    }
    return t;
}

static json_t *get_tasks(cli_ctx *ctx, const char *name)
{
    json_t *all = get_json(ctx, "get", "/api/tasks/active"), *items;
    size_t i;
    const json_t *t;
    if (!all || !name)
        return all;
    items = json_array();
    json_array_foreach (all, i, t) {
        const char *rid = jstr(json_object_get(t, "taskId"), "requestId");
        if (rid && strcmp(rid, name) == 0)
            json_array_append(items, (json_t *)t);
    }
    json_decref(all);
    return items;
}

static cli_table *table_tasks(const json_t *items, bool wide, int64_t now)
{
    static const char *const h[] = {"id",   "request", "deploy", "state",
                                    "host", "age",     "agent",  "instance"};
    cli_table *t = cli_table_new(h, wide ? 8 : 6);
    size_t i;
    const json_t *x;
    json_array_foreach (items, i, x) {
        const json_t *id = json_object_get(x, "taskId");
        cli_table_row(t);
        str_cell(t, jstr(id, "id"));
        str_cell(t, jstr(id, "requestId"));
        str_cell(t, jstr(id, "deployId"));
        str_cell(t, jstr(x, "lastTaskState"));
        str_cell(t, jstr(x, "hostname") ? jstr(x, "hostname") : jstr(id, "host"));
        age_cell(t, jint(id, "startedAt"), now);
        str_cell(t, jstr(x, "agentId"));
        json_cell(t, json_object_get(id, "instanceNo"));
    }
    return t;
}

static json_t *get_machines(cli_ctx *ctx, const char *kind, const char *name)
{
    json_t *all = get_json(ctx, "get", "/api/%s", kind), *items;
    size_t i;
    const json_t *m;
    if (!all || !name)
        return all;
    items = json_array();
    json_array_foreach (all, i, m)
        if (jstr(m, "id") && strcmp(jstr(m, "id"), name) == 0)
            json_array_append(items, (json_t *)m);
    json_decref(all);
    if (json_array_size(items) == 0) {
        fprintf(ctx->err, "corralctl get: %.*s \"%s\" not found\n", (int)strlen(kind) - 1, kind,
                name);
        json_decref(items);
        return NULL;
    }
    return items;
}

static cli_table *table_machines(const json_t *items, bool agents, bool wide, int64_t now)
{
    static const char *const ha[] = {"id", "host", "rack", "state", "age", "resources", "progress"};
    static const char *const hr[] = {"id", "state", "age", "progress"};
    cli_table *t = agents ? cli_table_new(ha, wide ? 7 : 5) : cli_table_new(hr, wide ? 4 : 3);
    size_t i;
    const json_t *m;
    json_array_foreach (items, i, m) {
        cli_table_row(t);
        str_cell(t, jstr(m, "id"));
        if (agents) {
            str_cell(t, jstr(m, "host"));
            str_cell(t, jstr(m, "rackId"));
        }
        str_cell(t, jstr(json_object_get(m, "currentState"), "state"));
        age_cell(t, jint(m, "firstSeenAt"), now);
        if (agents && wide)
            json_cell(t, json_object_get(m, "resources"));
        if (wide) /* where a decommission stands (docs/machines.md) */
            str_cell(t, jstr(json_object_get(m, "progress"), "message"));
    }
    return t;
}

int cli_cmd_get(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT, {"output", 'o', true, false}};
    const char *out = "table", *kind, *name;
    int64_t now = cr_wall_ms();
    json_t *items = NULL;
    cli_table *t = NULL;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 2, cli_help_get, &p);

    if (rc != CLI_OK || p.done)
        return rc;
    if (p.values[1])
        out = p.values[1];
    if (!is_format(out, true)) {
        fprintf(ctx->err, "corralctl get: -o must be table, wide, json or yaml, not \"%s\"\n", out);
        return CLI_USAGE;
    }
    if (!want_pos(ctx, "get", &p, 1, 2, "KIND [NAME]"))
        return CLI_USAGE;
    kind = p.pos[0];
    name = p.npos > 1 ? p.pos[1] : NULL;
    const char *kinds[] = {"requests", "deploys", "tasks", "agents", "racks"};
    size_t nk = sizeof(kinds) / sizeof(kinds[0]), k;
    for (k = 0; k < nk; k++) {
        size_t n = strlen(kinds[k]);
        if (strcmp(kind, kinds[k]) == 0 || (strncmp(kind, kinds[k], n - 1) == 0 && !kind[n - 1]))
            break;
    }
    if (k == nk) {
        fprintf(ctx->err,
                "corralctl get: unknown kind \"%s\" (requests, deploys, tasks, agents, racks)\n",
                kind);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "get"))
        return CLI_ERROR;
    switch (k) {
    case 0:
        items = get_requests(ctx, name);
        break;
    case 1:
        items = get_deploys(ctx, name);
        break;
    case 2:
        items = get_tasks(ctx, name);
        break;
    default:
        items = get_machines(ctx, kinds[k], name);
        break;
    }
    if (!items)
        return CLI_ERROR;
    if (!is_format(out, false)) {
        bool wide = strcmp(out, "wide") == 0;
        switch (k) {
        case 0:
            t = table_requests(items, wide);
            break;
        case 1:
            t = table_deploys(items, wide, now);
            break;
        case 2:
            t = table_tasks(items, wide, now);
            break;
        default:
            t = table_machines(items, k == 3, wide, now);
            break;
        }
        if (cli_table_rows(t) == 0) {
            fprintf(ctx->err, "No %s found.\n", kinds[k]);
        } else {
            char *s = cli_table_render(t);
            fputs(s, ctx->out);
            free(s);
        }
        cli_table_free(t);
    } else {
        const json_t *doc = name && k == 0 ? json_array_get(items, 0) : items;
        cli_print_doc(ctx->out, doc, out);
    }
    json_decref(items);
    return CLI_OK;
}

/* ---- describe ---------------------------------------------------------------- */

void cli_help_describe(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] describe request NAME\n\n"
               "Shows a request: its type, state and instances, the active and pending\n"
               "deploys, its tasks by status, its load balancer (load-balanced requests:\n"
               "the state of the last change and how many tasks it serves and drains),\n"
               "the controllers' conditions and its most recent events.\n\n"
               "options:\n"
               "  -h, --help   show this help\n");
}

static void describe_line(FILE *f, const char *label, const char *value)
{
    fprintf(f, "%-16s%s\n", label, value && *value ? value : "<none>");
}

int cli_cmd_describe(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT};
    json_t *pr = NULL, *ev = NULL;
    char *e = NULL, *s;
    int64_t now = cr_wall_ms();
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 1, cli_help_describe, &p);

    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "describe", &p, 2, 2, "request NAME"))
        return CLI_USAGE;
    if (strcmp(p.pos[0], "request") != 0 && strcmp(p.pos[0], "requests") != 0) {
        fprintf(ctx->err, "corralctl describe: unknown kind \"%s\" (request)\n", p.pos[0]);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "describe"))
        return CLI_ERROR;
    rc = CLI_ERROR;
    e = cli_url_escape(p.pos[1]);
    if (!(pr = get_json(ctx, "describe", "/api/requests/request/%s", e)))
        goto out;
    ev = get_json(ctx, "describe", "/api/history/request/%s/requests?count=10", e);
    if (!ev)
        goto out;

    const json_t *r = json_object_get(pr, "request");
    const json_t *tids = json_object_get(pr, "taskIds");
    const json_t *pds = json_object_get(pr, "pendingDeployState");
    FILE *f = ctx->out;
    describe_line(f, "Name:", jstr(r, "id"));
    describe_line(f, "Type:", jstr(r, "requestType"));
    describe_line(f, "State:", jstr(pr, "state"));
    s = cli_cell_text(json_object_get(r, "instances"));
    describe_line(f, "Instances:", json_object_get(r, "instances") ? s : "1");
    free(s);
    if (jstr(r, "schedule"))
        describe_line(f, "Schedule:", jstr(r, "schedule"));
    describe_line(f, "Active deploy:", jstr(json_object_get(pr, "activeDeploy"), "id"));
    if (json_object_get(pr, "pendingDeploy")) {
        s = xasprintf("%s (%s)", jstr(json_object_get(pr, "pendingDeploy"), "id"),
                      jstr(pds, "currentDeployState") ? jstr(pds, "currentDeployState")
                                                      : "WAITING");
        describe_line(f, "Pending deploy:", s);
        free(s);
    } else {
        describe_line(f, "Pending deploy:", NULL);
    }
    fprintf(f, "Tasks:          healthy %zu, not yet healthy %zu, pending %zu, cleaning %zu\n",
            json_array_size(json_object_get(tids, "healthy")),
            json_array_size(json_object_get(tids, "notYetHealthy")),
            json_array_size(json_object_get(tids, "pending")),
            json_array_size(json_object_get(tids, "cleaning")));

    /* who manages it, e.g. a GitOps Source and its commit (docs/gitops.md) */
    const json_t *ann = json_object_get(r, "annotations");
    if (json_object_size(ann)) {
        const char *k;
        const json_t *v;
        fprintf(f, "Annotations:\n");
        json_object_foreach ((json_t *)ann, k, v)
            fprintf(f, "  %s: %s\n", k, json_string_value(v) ? json_string_value(v) : "");
    }

    const json_t *lb = json_object_get(pr, "loadBalancer");
    if (lb) {
        /* docs/loadbalancing.md: what the load balancer serves now */
        fprintf(f, "Load balancer:  %s %s, serving %zu, draining %zu%s%s\n",
                jstr(lb, "provider") ? jstr(lb, "provider") : "-",
                jstr(lb, "state") ? jstr(lb, "state") : "-",
                json_array_size(json_object_get(lb, "upstreams")),
                json_array_size(json_object_get(lb, "removed")), jstr(lb, "message") ? ": " : "",
                jstr(lb, "message") ? jstr(lb, "message") : "");
    }

    const json_t *conds = json_object_get(pr, "conditions");
    fprintf(f, "Conditions:\n");
    if (json_array_size(conds) == 0) {
        fprintf(f, "  <none>\n");
    } else {
        static const char *const h[] = {"type", "status", "reason", "message"};
        cli_table *t = cli_table_new(h, 4);
        size_t i;
        const json_t *c;
        json_array_foreach (conds, i, c) {
            cli_table_row(t);
            for (size_t k = 0; k < 4; k++) /* the headers are the field names */
                json_cell(t, json_object_get(c, h[k]));
        }
        s = cli_table_render(t);
        for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(f, "  %s\n", line);
        free(s);
        cli_table_free(t);
    }
    fprintf(f, "Events:\n");
    if (json_array_size(ev) == 0) {
        fprintf(f, "  <none>\n");
    } else {
        static const char *const h[] = {"age", "event", "user", "message"};
        cli_table *t = cli_table_new(h, 4);
        size_t i;
        const json_t *x;
        json_array_foreach (ev, i, x) {
            cli_table_row(t);
            age_cell(t, jint(x, "createdAt"), now);
            str_cell(t, jstr(x, "eventType"));
            str_cell(t, jstr(x, "user"));
            str_cell(t, jstr(x, "message"));
        }
        s = cli_table_render(t);
        for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(f, "  %s\n", line);
        free(s);
        cli_table_free(t);
    }
    rc = CLI_OK;
out:
    json_decref(pr);
    json_decref(ev);
    free(e);
    return rc;
}

/* ---- request actions: scale, pause, unpause, bounce, run ------------------------ */

void cli_help_scale(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] scale NAME N [options]\n\n"
               "Sets the request's instances to N (PUT .../scale). A later apply of a\n"
               "manifest with another count sets it back.\n\n"
               "options:\n"
               "  -m, --message TEXT   message recorded in the request's history\n"
               "      --bounce         also bounce the request\n"
               "      --for DURATION   revert to the previous count after DURATION\n"
               "                       (90s, 30m, 2h: an expiring scale)\n"
               "  -h, --help           show this help\n");
}

void cli_help_pause(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] pause NAME [options]\n\n"
               "Pauses a request: its tasks are killed (unless --keep-tasks) and none\n"
               "are started until unpause.\n\n"
               "options:\n"
               "      --keep-tasks     do not kill the running tasks\n"
               "      --for DURATION   unpause by itself after DURATION (90s, 30m, 2h)\n"
               "  -m, --message TEXT   message recorded in the request's history\n"
               "  -h, --help           show this help\n");
}

void cli_help_unpause(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] unpause NAME [options]\n\n"
               "Unpauses a paused request.\n\n"
               "options:\n"
               "  -m, --message TEXT   message recorded in the request's history\n"
               "  -h, --help           show this help\n");
}

void cli_help_bounce(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] bounce NAME [options]\n\n"
               "Restarts every task of a long-running request (new tasks first).\n\n"
               "options:\n"
               "      --incremental    replace tasks a few at a time\n"
               "      --for DURATION   give up the bounce if not done after DURATION\n"
               "  -m, --message TEXT   message recorded in the request's history\n"
               "  -h, --help           show this help\n");
}

void cli_help_run(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] run NAME [options] [-- ARGS...]\n\n"
               "Runs a SCHEDULED or ON_DEMAND request now; ARGS are appended to its\n"
               "command. Prints the run id.\n\n"
               "options:\n"
               "      --run-id ID      the run's id (default: generated by corrald)\n"
               "  -m, --message TEXT   message recorded with the run\n"
               "  -h, --help           show this help\n");
}

static int request_action(cli_ctx *ctx, const char *cmd, const char *rid, const char *method,
                          const char *action, json_t *body, json_t **out)
{
    char *e = cli_url_escape(rid), *path = xasprintf("/api/requests/request/%s/%s", e, action);
    int rc = call(ctx, cmd, method, path, body, out);
    json_decref(body);
    free(path);
    free(e);
    return rc;
}

static void set_message(json_t *body, const char *m)
{
    if (m)
        json_object_set_new(body, "message", json_string(m));
}

/* --for DURATION -> body.durationMillis (an expiring action). false with
 * a usage error printed when it does not read. */
static bool set_duration(cli_ctx *ctx, const char *cmd, json_t *body, const char *d)
{
    if (!d)
        return true;
    int64_t ms = api_duration_parse_ms(d);
    if (ms <= 0) {
        fprintf(ctx->err, "corralctl %s: --for: \"%s\" is not a duration like 90s, 30m or 2h\n",
                cmd, d);
        return false;
    }
    json_object_set_new(body, "durationMillis", json_integer(ms));
    return true;
}

int cli_cmd_scale(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        HELP_OPT, {"message", 'm', true, false}, {"bounce", 0, false, false},
        {"for", 0, true, false}};
    char *end;
    long n;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_scale, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "scale", &p, 2, 2, "NAME N"))
        return CLI_USAGE;
    errno = 0;
    n = strtol(p.pos[1], &end, 10);
    if (errno || *end || end == p.pos[1] || n < 0 || n > 1000000) {
        fprintf(ctx->err, "corralctl scale: N must be a non-negative integer, not \"%s\"\n",
                p.pos[1]);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "scale"))
        return CLI_ERROR;
    json_t *body = json_pack("{s:I}", "instances", (json_int_t)n);
    set_message(body, p.values[1]);
    if (p.values[2])
        json_object_set_new(body, "bounce", json_true());
    if (!set_duration(ctx, "scale", body, p.values[3])) {
        json_decref(body);
        return CLI_USAGE;
    }
    if (request_action(ctx, "scale", p.pos[0], "PUT", "scale", body, NULL) < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "request/%s scaled to %ld\n", p.pos[0], n);
    return CLI_OK;
}

int cli_cmd_pause(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        HELP_OPT, {"message", 'm', true, false}, {"keep-tasks", 0, false, false},
        {"for", 0, true, false}};
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_pause, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "pause", &p, 1, 1, "NAME"))
        return CLI_USAGE;
    if (!cli_need_server(ctx, "pause"))
        return CLI_ERROR;
    json_t *body = json_pack("{s:b}", "killTasks", !p.values[2]);
    set_message(body, p.values[1]);
    if (!set_duration(ctx, "pause", body, p.values[3])) {
        json_decref(body);
        return CLI_USAGE;
    }
    if (request_action(ctx, "pause", p.pos[0], "POST", "pause", body, NULL) < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "request/%s paused\n", p.pos[0]);
    return CLI_OK;
}

int cli_cmd_unpause(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT, {"message", 'm', true, false}};
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 2, cli_help_unpause, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "unpause", &p, 1, 1, "NAME"))
        return CLI_USAGE;
    if (!cli_need_server(ctx, "unpause"))
        return CLI_ERROR;
    json_t *body = json_object();
    set_message(body, p.values[1]);
    if (request_action(ctx, "unpause", p.pos[0], "POST", "unpause", body, NULL) < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "request/%s unpaused\n", p.pos[0]);
    return CLI_OK;
}

int cli_cmd_bounce(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        HELP_OPT, {"message", 'm', true, false}, {"incremental", 0, false, false},
        {"for", 0, true, false}};
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_bounce, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "bounce", &p, 1, 1, "NAME"))
        return CLI_USAGE;
    if (!cli_need_server(ctx, "bounce"))
        return CLI_ERROR;
    json_t *body = json_pack("{s:b}", "incremental", p.values[2] != NULL);
    set_message(body, p.values[1]);
    if (!set_duration(ctx, "bounce", body, p.values[3])) {
        json_decref(body);
        return CLI_USAGE;
    }
    if (request_action(ctx, "bounce", p.pos[0], "POST", "bounce", body, NULL) < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "request/%s bounced\n", p.pos[0]);
    return CLI_OK;
}

int cli_cmd_run(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        HELP_OPT, {"message", 'm', true, false}, {"run-id", 0, true, false}};
    json_t *out = NULL, *args;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 3, cli_help_run, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "run", &p, 1, 1, "NAME [-- ARGS...]"))
        return CLI_USAGE;
    if (!cli_need_server(ctx, "run"))
        return CLI_ERROR;
    json_t *body = json_object();
    set_message(body, p.values[1]);
    if (p.values[2])
        json_object_set_new(body, "runId", json_string(p.values[2]));
    if (p.nrest) {
        args = json_array();
        for (int i = 0; i < p.nrest; i++)
            json_array_append_new(args, json_string(p.rest[i]));
        json_object_set_new(body, "commandLineArgs", args);
    }
    if (request_action(ctx, "run", p.pos[0], "POST", "run", body, &out) < 0)
        return CLI_ERROR;
    const char *run_id = jstr(json_object_get(out, "pendingRequest"), "runId");
    fprintf(ctx->out, "request/%s run %s queued\n", p.pos[0], run_id ? run_id : "(no id)");
    json_decref(out);
    return CLI_OK;
}

/* ---- kill ---------------------------------------------------------------------- */

void cli_help_kill(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] kill TASK_ID [options]\n\n"
               "Kills an active task (with its deploy's kill policy); a long-running\n"
               "request starts a replacement.\n\n"
               "options:\n"
               "      --force           destroy: kill at once, no graceful shutdown\n"
               "      --wait-for-replacement  keep the task until its replacement is healthy\n"
               "      --grace MS        override the kill policy's grace period (ms)\n"
               "  -m, --message TEXT    message recorded with the kill\n"
               "  -h, --help            show this help\n");
}

int cli_cmd_kill(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT,
                                   {"message", 'm', true, false},
                                   {"force", 0, false, false},
                                   {"wait-for-replacement", 0, false, false},
                                   {"grace", 0, true, false}};
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 5, cli_help_kill, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "kill", &p, 1, 1, "TASK_ID"))
        return CLI_USAGE;
    json_t *body = json_object();
    if (p.values[4]) {
        char *end;
        long long g = strtoll(p.values[4], &end, 10);
        if (*end || end == p.values[4] || g < 0) {
            fprintf(ctx->err, "corralctl kill: --grace must be milliseconds, not \"%s\"\n",
                    p.values[4]);
            json_decref(body);
            return CLI_USAGE;
        }
        json_object_set_new(body, "killGracePeriodMillis", json_integer(g));
    }
    if (!cli_need_server(ctx, "kill")) {
        json_decref(body);
        return CLI_ERROR;
    }
    set_message(body, p.values[1]);
    if (p.values[2])
        json_object_set_new(body, "override", json_true());
    if (p.values[3])
        json_object_set_new(body, "waitForReplacementTask", json_true());
    char *e = cli_url_escape(p.pos[0]), *path = xasprintf("/api/tasks/task/%s", e);
    rc = call(ctx, "kill", "DELETE", path, body, NULL);
    free(path);
    free(e);
    json_decref(body);
    if (rc < 0)
        return CLI_ERROR;
    fprintf(ctx->out, "task/%s killing\n", p.pos[0]);
    return CLI_OK;
}

/* ---- history ------------------------------------------------------------------- */

void cli_help_history(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] history NAME [-o json|yaml]\n\n"
               "Shows a request's deploy history (newest first, with each deploy's\n"
               "result) and its recent request events.\n\n"
               "options:\n"
               "  -o, --output FORMAT   json or yaml: {deploys: [...], events: [...]}\n"
               "      --count N         entries of each list (default 20)\n"
               "  -h, --help            show this help\n");
}

int cli_cmd_history(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        HELP_OPT, {"output", 'o', true, false}, {"count", 0, true, false}};
    json_t *deps = NULL, *evs = NULL;
    int64_t now = cr_wall_ms();
    long count = 20;
    char *e = NULL;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 3, cli_help_history, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "history", &p, 1, 1, "NAME"))
        return CLI_USAGE;
    if (p.values[1] && !is_format(p.values[1], false)) {
        fprintf(ctx->err, "corralctl history: -o must be json or yaml\n");
        return CLI_USAGE;
    }
    if (p.values[2]) {
        char *end;
        count = strtol(p.values[2], &end, 10);
        if (*end || count < 1 || count > 1000) {
            fprintf(ctx->err, "corralctl history: --count must be 1..1000\n");
            return CLI_USAGE;
        }
    }
    if (!cli_need_server(ctx, "history"))
        return CLI_ERROR;
    rc = CLI_ERROR;
    e = cli_url_escape(p.pos[0]);
    if (!(deps = get_json(ctx, "history", "/api/history/request/%s/deploys?count=%ld", e, count)) ||
        !(evs = get_json(ctx, "history", "/api/history/request/%s/requests?count=%ld", e, count)))
        goto out;
    if (p.values[1]) {
        json_t *doc = json_pack("{s:O, s:O}", "deploys", deps, "events", evs);
        cli_print_doc(ctx->out, doc, p.values[1]);
        json_decref(doc);
    } else {
        static const char *const hd[] = {"deploy", "state", "age", "message"};
        static const char *const he[] = {"event", "age", "user", "message"};
        cli_table *t = cli_table_new(hd, 4);
        size_t i;
        const json_t *x;
        char *s;
        json_array_foreach (deps, i, x) {
            const json_t *mk = json_object_get(x, "deployMarker");
            const json_t *res = json_object_get(x, "deployResult");
            cli_table_row(t);
            str_cell(t, jstr(mk, "deployId"));
            str_cell(t, jstr(res, "deployState"));
            age_cell(t, jint(mk, "timestamp"), now);
            str_cell(t, jstr(res, "message") ? jstr(res, "message") : jstr(mk, "message"));
        }
        fprintf(ctx->out, "Deploys:\n");
        s = cli_table_render(t);
        fputs(cli_table_rows(t) ? s : "  <none>\n", ctx->out);
        free(s);
        cli_table_free(t);
        t = cli_table_new(he, 4);
        json_array_foreach (evs, i, x) {
            cli_table_row(t);
            str_cell(t, jstr(x, "eventType"));
            age_cell(t, jint(x, "createdAt"), now);
            str_cell(t, jstr(x, "user"));
            str_cell(t, jstr(x, "message"));
        }
        fprintf(ctx->out, "\nEvents:\n");
        s = cli_table_render(t);
        fputs(cli_table_rows(t) ? s : "  <none>\n", ctx->out);
        free(s);
        cli_table_free(t);
    }
    rc = CLI_OK;
out:
    json_decref(deps);
    json_decref(evs);
    free(e);
    return rc;
}

/* ---- logs ------------------------------------------------------------------------ */

void cli_help_logs(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] logs TASK_ID [options]\n\n"
               "Prints a file of the task's sandbox (default stdout) through corrald's\n"
               "sandbox API. With -f, follows it: streamed from the node agent of the\n"
               "task's host (GET /api/logs/task/ID/follow) through rotation, or, where no\n"
               "node agent answers, polled; until the task is no longer active and its\n"
               "output is read (or until interrupted); then exits 0 (also when the ended\n"
               "task's sandbox can no longer be read).\n\n"
               "options:\n"
               "  -f, --follow          follow the file\n"
               "      --path FILE       sandbox-relative file (default stdout; e.g. stderr)\n"
               "      --interval MS     poll interval when following without a node agent\n"
               "                        (default 1000)\n"
               "  -h, --help            show this help\n");
}

/* Reads from *offset until no more data; returns bytes printed, -1 on error
 * (printed). With gone_ok, a 404 (the sandbox of an ended task may be gone)
 * ends the read quietly. */
static long long read_chunks(cli_ctx *ctx, const char *etask, const char *epath, int64_t *offset,
                             bool gone_ok)
{
    long long total = 0;
    for (;;) {
        char *path = xasprintf("/api/sandbox/%s/read?path=%s&offset=%lld&length=65536", etask,
                               epath, (long long)*offset);
        cli_resp r;
        int st = cli_http(ctx, "logs", "GET", path, NULL, gone_ok ? 404 : 0, &r);
        free(path);
        if (st < 0) {
            bool gone = r.status == 404 && gone_ok;
            cli_resp_release(&r);
            return gone ? total : -1;
        }
        const char *data = jstr(r.body, "data");
        size_t n = data ? strlen(data) : 0;
        if (n == 0) {
            cli_resp_release(&r);
            return total;
        }
        fwrite(data, 1, n, ctx->out);
        fflush(ctx->out);
        int64_t next = jint(r.body, "nextOffset");
        *offset = next > *offset ? next : *offset + (int64_t)n;
        total += (long long)n;
        cli_resp_release(&r);
    }
}

static bool print_chunk(void *arg, const char *data, size_t len)
{
    cli_ctx *ctx = arg;
    fwrite(data, 1, len, ctx->out);
    fflush(ctx->out);
    return true;
}

/* Follows through the node agent from offset: 1 when it streamed (to the
 * end of the task's log), 0 when no node agent serves it (corrald's 502:
 * the caller polls instead), -1 on another error (printed). */
static int follow_stream(cli_ctx *ctx, const char *etask, const char *epath, int64_t offset)
{
    char *probe = xasprintf("/api/logs/task/%s/follow?path=%s&offset=%lld&follow=false&lines=0",
                            etask, epath, (long long)offset);
    cli_resp r;
    int st = cli_http(ctx, "logs", "GET", probe, NULL, 502, &r), rc;
    long status = r.status;

    free(probe);
    cli_resp_release(&r);
    if (st < 0)
        return status == 502 ? 0 : -1;
    probe = xasprintf("/api/logs/task/%s/follow?path=%s&offset=%lld", etask, epath,
                      (long long)offset);
    rc = cli_http_stream(ctx, "logs", probe, print_chunk, ctx) < 0 ? -1 : 1;
    free(probe);
    return rc;
}

int cli_cmd_logs(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT,
                                   {"follow", 'f', false, false},
                                   {"path", 0, true, false},
                                   {"interval", 0, true, false}};
    int64_t offset = 0, interval = 1000;
    char *et = NULL, *ep = NULL;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_logs, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "logs", &p, 1, 1, "TASK_ID"))
        return CLI_USAGE;
    if (p.values[3]) {
        char *end;
        interval = strtoll(p.values[3], &end, 10);
        if (*end || end == p.values[3] || interval < 1) {
            fprintf(ctx->err, "corralctl logs: --interval must be milliseconds (> 0)\n");
            return CLI_USAGE;
        }
    }
    if (!cli_need_server(ctx, "logs"))
        return CLI_ERROR;
    et = cli_url_escape(p.pos[0]);
    ep = cli_url_escape(p.values[2] ? p.values[2] : "stdout");
    rc = CLI_ERROR;
    if (read_chunks(ctx, et, ep, &offset, false) < 0)
        goto out;
    if (p.values[1]) {
        int fs = follow_stream(ctx, et, ep, offset);
        if (fs < 0)
            goto out;
        if (fs > 0) {
            rc = CLI_OK;
            goto out;
        }
    }
    while (p.values[1]) {
        cli_resp r;
        char *path = xasprintf("/api/tasks/task/%s", et);
        int st = cli_http(ctx, "logs", "GET", path, NULL, 404, &r);
        long status = r.status;
        cli_resp_release(&r);
        free(path);
        if (st < 0 && status != 404)
            goto out;
        /* One last read after the task ended catches its final output. */
        long long got = read_chunks(ctx, et, ep, &offset, status == 404);
        if (got < 0)
            goto out;
        if (status == 404)
            break;
        if (got == 0)
            sleep_ms(interval);
    }
    rc = CLI_OK;
out:
    free(et);
    free(ep);
    return rc;
}

/* ---- watch ----------------------------------------------------------------------- */

void cli_help_watch(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] watch [PREFIX] [options]\n\n"
               "Streams changes under the key prefix (relative to corrald's prefix,\n"
               "e.g. requests/ or status/) from /api/watch, one line per change:\n"
               "  PUT|DELETE KEY rev=N\n\n"
               "options:\n"
               "      --revision N      start at this etcd revision\n"
               "      --max-events N    exit after N changes\n"
               "  -o, --output json     print each change's JSON instead\n"
               "  -h, --help            show this help\n");
}

typedef struct watch_state {
    cli_ctx *ctx;
    cr_buf line;
    char *event;
    cr_buf data;
    bool json;
    long max, seen;
    bool error;
} watch_state;

static bool watch_dispatch(watch_state *w)
{
    json_t *d = json_loads(cr_buf_str(&w->data), 0, NULL);
    bool more = true;
    if (w->event && strcmp(w->event, "error") == 0) {
        fprintf(w->ctx->err, "corralctl watch: %s\n",
                jstr(d, "message") ? jstr(d, "message") : cr_buf_str(&w->data));
        w->error = true;
        more = false;
    } else if (d) {
        if (w->json) {
            char *s = json_dumps(d, JSON_COMPACT);
            fprintf(w->ctx->out, "%s\n", s);
            free(s);
        } else {
            fprintf(w->ctx->out, "%s %s rev=%lld\n", jstr(d, "type") ? jstr(d, "type") : "?",
                    jstr(d, "key") ? jstr(d, "key") : "?", (long long)jint(d, "modRevision"));
        }
        fflush(w->ctx->out);
        if (w->max > 0 && ++w->seen >= w->max)
            more = false;
    }
    json_decref(d);
    free(w->event);
    w->event = NULL;
    cr_buf_reset(&w->data);
    return more;
}

static bool watch_line(watch_state *w, const char *l)
{
    if (!*l)
        return cr_buf_str(&w->data)[0] ? watch_dispatch(w) : true;
    if (l[0] == ':')
        return true;
    if (strncmp(l, "event:", 6) == 0) {
        free(w->event);
        w->event = xstrdup(l[6] == ' ' ? l + 7 : l + 6);
    } else if (strncmp(l, "data:", 5) == 0) {
        if (w->data.len)
            cr_buf_addch(&w->data, '\n');
        cr_buf_adds(&w->data, l[5] == ' ' ? l + 6 : l + 5);
    }
    return true;
}

static bool watch_chunk(void *arg, const char *data, size_t len)
{
    watch_state *w = arg;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            char *l = xstrndup(cr_buf_str(&w->line), w->line.len);
            size_t n = strlen(l);
            if (n && l[n - 1] == '\r')
                l[n - 1] = 0;
            cr_buf_reset(&w->line);
            bool more = watch_line(w, l);
            free(l);
            if (!more)
                return false;
        } else {
            cr_buf_addch(&w->line, data[i]);
        }
    }
    return true;
}

int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT,
                                   {"revision", 0, true, false},
                                   {"max-events", 0, true, false},
                                   {"output", 'o', true, false}};
    watch_state w = {ctx, CR_BUF_INIT, NULL, CR_BUF_INIT, false, 0, 0, false};
    cr_buf path = CR_BUF_INIT;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_watch, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "watch", &p, 0, 1, "[PREFIX]"))
        return CLI_USAGE;
    if (p.values[3] && strcmp(p.values[3], "json") != 0) {
        fprintf(ctx->err, "corralctl watch: -o must be json\n");
        return CLI_USAGE;
    }
    for (int k = 1; k <= 2; k++) {
        char *end;
        if (p.values[k] && (strtoll(p.values[k], &end, 10) < 0 || *end || end == p.values[k])) {
            fprintf(ctx->err, "corralctl watch: --%s must be a number\n", opts[k].name);
            return CLI_USAGE;
        }
    }
    if (!cli_need_server(ctx, "watch"))
        return CLI_ERROR;
    w.json = p.values[3] != NULL;
    w.max = p.values[2] ? strtol(p.values[2], NULL, 10) : 0;
    cr_buf_adds(&path, "/api/watch");
    char sep = '?';
    if (p.npos) {
        char *e = cli_url_escape(p.pos[0]);
        cr_buf_addf(&path, "%cprefix=%s", sep, e);
        sep = '&';
        free(e);
    }
    if (p.values[1])
        cr_buf_addf(&path, "%crevision=%s", sep, p.values[1]);
    rc = cli_http_stream(ctx, "watch", cr_buf_str(&path), watch_chunk, &w) < 0 || w.error
             ? CLI_ERROR
             : CLI_OK;
    cr_buf_release(&path);
    cr_buf_release(&w.line);
    cr_buf_release(&w.data);
    free(w.event);
    return rc;
}

/* ---- wait ------------------------------------------------------------------------- */

void cli_help_wait(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] wait deploy REQUEST/DEPLOY_ID [options]\n"
               "       corralctl [--server URL] wait request NAME [options]\n\n"
               "Waits until a deploy succeeded (it is the request's active deploy) or a\n"
               "request is healthy (no pending deploy, and for SERVICE/WORKER at least\n"
               "`instances` healthy tasks; other types: an active deploy), or deleted.\n"
               "Exits 0 when reached, 1 when the deploy failed or the time ran out.\n\n"
               "options:\n"
               "      --for CONDITION   deploy: succeeded (default);\n"
               "                        request: healthy (default) or deleted\n"
               "      --timeout D       give up after D (e.g. 60s, 2m; default 60s)\n"
               "      --interval D      poll interval (default 500ms)\n"
               "  -h, --help            show this help\n");
}

/* One check. Returns 1 reached, 0 not yet, -1 failed (message in *why). */
static int wait_check(cli_ctx *ctx, bool deploy, const char *rid, const char *did, const char *cond,
                      char **why)
{
    char *e = cli_url_escape(rid), *path = xasprintf("/api/requests/request/%s", e);
    cli_resp r;
    int rc = 0;
    int st = cli_http(ctx, "wait", "GET", path, NULL, 404, &r);
    const json_t *pr = r.body;

    free(path);
    if (st < 0 && r.status != 404) {
        rc = -1;
        *why = xstrdup("cannot read the request");
        goto out;
    }
    if (r.status == 404) {
        if (!deploy && strcmp(cond, "deleted") == 0)
            rc = 1;
        free(*why);
        *why = xstrdup("request not found");
        goto out;
    }
    free(*why);
    *why = xasprintf("state %s", jstr(pr, "state") ? jstr(pr, "state") : "?");
    if (deploy) {
        const char *active = jstr(json_object_get(pr, "activeDeploy"), "id");
        const char *pending = jstr(json_object_get(pr, "pendingDeploy"), "id");
        const json_t *pds = json_object_get(pr, "pendingDeployState");
        if (active && strcmp(active, did) == 0 && !(pending && strcmp(pending, did) == 0)) {
            rc = 1;
        } else if (pending && strcmp(pending, did) == 0) {
            free(*why);
            *why = xasprintf("deploy %s", jstr(pds, "currentDeployState")
                                              ? jstr(pds, "currentDeployState")
                                              : "WAITING");
        } else {
            char *ed = cli_url_escape(did);
            char *hp = xasprintf("/api/history/request/%s/deploy/%s", e, ed);
            cli_resp h;
            if (cli_http(ctx, "wait", "GET", hp, NULL, 404, &h) == 0) {
                const char *ds = jstr(json_object_get(h.body, "deployResult"), "deployState");
                free(*why);
                *why = xasprintf("deploy %s", ds ? ds : "not active");
                if (ds && strcmp(ds, "SUCCEEDED") != 0 && strcmp(ds, "WAITING") != 0)
                    rc = -1;
            } else {
                free(*why);
                *why = xstrdup("deploy not found");
            }
            cli_resp_release(&h);
            free(hp);
            free(ed);
        }
    } else if (strcmp(cond, "healthy") == 0) {
        const json_t *req = json_object_get(pr, "request");
        const char *type = jstr(req, "requestType");
        bool lr = type && (strcmp(type, "SERVICE") == 0 || strcmp(type, "WORKER") == 0);
        int64_t want = json_object_get(req, "instances") ? jint(req, "instances") : 1;
        size_t healthy =
            json_array_size(json_object_get(json_object_get(pr, "taskIds"), "healthy"));
        bool pending = json_object_get(pr, "pendingDeploy") != NULL;
        bool active = json_object_get(pr, "activeDeploy") != NULL;
        free(*why);
        *why =
            xasprintf("state %s, %zu/%lld healthy%s", jstr(pr, "state") ? jstr(pr, "state") : "?",
                      healthy, (long long)want, pending ? ", deploy pending" : "");
        if (!pending && active && jstr(pr, "state") && strcmp(jstr(pr, "state"), "ACTIVE") == 0 &&
            (!lr || (int64_t)healthy >= want))
            rc = 1;
    }
out:
    cli_resp_release(&r);
    free(e);
    return rc;
}

int cli_cmd_wait(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT,
                                   {"for", 0, true, false},
                                   {"timeout", 0, true, false},
                                   {"interval", 0, true, false}};
    int64_t timeout = 60000, interval = 500, deadline;
    char *rid = NULL, *why = NULL;
    const char *did = NULL, *cond;
    bool deploy;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 4, cli_help_wait, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "wait", &p, 2, 2, "deploy REQUEST/ID or request NAME"))
        return CLI_USAGE;
    if (strcmp(p.pos[0], "deploy") == 0) {
        deploy = true;
        cond = p.values[1] ? p.values[1] : "succeeded";
        if (strcmp(cond, "succeeded") != 0) {
            fprintf(ctx->err, "corralctl wait: deploys wait --for succeeded\n");
            return CLI_USAGE;
        }
        const char *slash = strchr(p.pos[1], '/');
        if (!slash || slash == p.pos[1] || !slash[1]) {
            fprintf(ctx->err, "corralctl wait: deploy name must be REQUEST/DEPLOY_ID\n");
            return CLI_USAGE;
        }
        rid = xstrndup(p.pos[1], (size_t)(slash - p.pos[1]));
        did = slash + 1;
    } else if (strcmp(p.pos[0], "request") == 0) {
        deploy = false;
        cond = p.values[1] ? p.values[1] : "healthy";
        if (strcmp(cond, "healthy") != 0 && strcmp(cond, "deleted") != 0) {
            fprintf(ctx->err, "corralctl wait: requests wait --for healthy or deleted\n");
            return CLI_USAGE;
        }
        rid = xstrdup(p.pos[1]);
    } else {
        fprintf(ctx->err, "corralctl wait: unknown kind \"%s\" (deploy or request)\n", p.pos[0]);
        return CLI_USAGE;
    }
    if ((p.values[2] && !parse_duration(p.values[2], &timeout)) ||
        (p.values[3] && (!parse_duration(p.values[3], &interval) || interval < 1))) {
        fprintf(ctx->err, "corralctl wait: durations look like 60s, 2m, 500ms\n");
        free(rid);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "wait")) {
        free(rid);
        return CLI_ERROR;
    }
    deadline = cr_mono_ms() + timeout;
    for (;;) {
        int st = wait_check(ctx, deploy, rid, did, cond, &why);
        if (st == 1) {
            if (deploy)
                fprintf(ctx->out, "deploy/%s/%s succeeded\n", rid, did);
            else
                fprintf(ctx->out, "request/%s %s\n", rid, cond);
            rc = CLI_OK;
            break;
        }
        if (st < 0) {
            fprintf(ctx->err, "corralctl wait: %s/%s%s%s: %s\n", p.pos[0], rid, did ? "/" : "",
                    did ? did : "", why ? why : "failed");
            rc = CLI_ERROR;
            break;
        }
        if (cr_mono_ms() >= deadline) {
            fprintf(ctx->err,
                    "corralctl wait: timed out after %s waiting for %s %s to be %s (%s)\n",
                    p.values[2] ? p.values[2] : "60s", p.pos[0], p.pos[1], cond,
                    why ? why : "no answer");
            rc = CLI_ERROR;
            break;
        }
        sleep_ms(interval);
    }
    free(why);
    free(rid);
    return rc;
}

/* ---- state ----------------------------------------------------------------------- */

void cli_help_state(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] state [-o json|yaml]\n\n"
               "Prints the cluster summary (GET /api/state): counts of requests, tasks,\n"
               "agents and racks by state, task lag, and the answering replica.\n\n"
               "options:\n"
               "  -o, --output FORMAT   json or yaml: the whole SingularityState\n"
               "  -h, --help            show this help\n");
}

int cli_cmd_state(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT, {"output", 'o', true, false}};
    json_t *s;
    parsed p;
    int rc = parse(ctx, argc, argv, opts, 2, cli_help_state, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (!want_pos(ctx, "state", &p, 0, 0, "no arguments"))
        return CLI_USAGE;
    if (p.values[1] && !is_format(p.values[1], false)) {
        fprintf(ctx->err, "corralctl state: -o must be json or yaml\n");
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "state"))
        return CLI_ERROR;
    if (!(s = get_json(ctx, "state", "/api/state")))
        return CLI_ERROR;
    if (p.values[1]) {
        cli_print_doc(ctx->out, s, p.values[1]);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach (s, k, v) {
            if (json_is_object(v) || json_is_array(v))
                continue;
            char *t = cli_cell_text(v);
            fprintf(ctx->out, "%-32s %s\n", k, t);
            free(t);
        }
        size_t i;
        const json_t *h;
        json_array_foreach (json_object_get(s, "hostStates"), i, h) {
            fprintf(ctx->out, "replica %s: master=%s mesosConnected=%s\n",
                    jstr(h, "replicaId") ? jstr(h, "replicaId") : jstr(h, "hostname"),
                    json_is_true(json_object_get(h, "master")) ? "true" : "false",
                    json_is_true(json_object_get(h, "mesosConnected")) ? "true" : "false");
        }
    }
    json_decref(s);
    return CLI_OK;
}

/* ---- auth ---------------------------------------------------------------------- */

void cli_help_auth(FILE *f)
{
    fprintf(f,
            "usage: corralctl auth whoami [-o json|yaml]\n"
            "       corralctl auth can-i REQUEST_ID [--scope READ|WRITE|ADMIN] [--as USER]\n"
            "       corralctl auth token create [--user ID [--groups G,...] [--name N]\n"
            "                                   [--email E]] [--expires DURATION]\n"
            "                                   [--description TEXT] [-o json|yaml]\n"
            "       corralctl auth token revoke USER\n"
            "       corralctl auth tokens [-o json|yaml]\n"
            "\n"
            "Who corrald knows you as, what you may do, and API tokens "
            "(docs/security.md).\n"
            "\n"
            "  whoami         the user and groups your credentials carry\n"
            "  can-i          exit 0 if you (or, for admins, --as USER) may READ (the\n"
            "                 default), WRITE or ADMIN the request; else print why, exit 1\n"
            "  token create   a new token, printed once on stdout; for yourself, or with\n"
            "                 --user for anyone (admins). Like Singularity, the user's\n"
            "                 other tokens are revoked. --expires: e.g. 12h, 30d\n"
            "  token revoke   revoke every token of USER (admins)\n"
            "  tokens         every token's user and dates, never its text (admins)\n");
}

static int auth_whoami(cli_ctx *ctx, const parsed *p, const char *out)
{
    json_t *b, *u, *g;
    size_t i;

    if (!(b = get_json(ctx, "auth whoami", "/api/auth/user")))
        return CLI_ERROR;
    if (out) {
        cli_print_doc(ctx->out, b, out);
        json_decref(b);
        return CLI_OK;
    }
    u = json_object_get(b, "user");
    fprintf(ctx->out, "user:   %s%s\n", jstr(u, "id") ? jstr(u, "id") : "?",
            json_is_true(json_object_get(b, "authenticated")) ? "" : " (not authenticated)");
    fprintf(ctx->out, "groups:");
    json_array_foreach (json_object_get(u, "groups"), i, g)
        fprintf(ctx->out, "%s%s", i ? ", " : " ", json_string_value(g));
    fprintf(ctx->out, "\nadmin:  %s\nauth:   %s%s%s\n",
            json_is_true(json_object_get(b, "admin")) ? "yes" : "no",
            json_is_true(json_object_get(b, "authEnabled")) ? "on" : "off (anyone may do anything)",
            jstr(b, "via") ? ", via " : "", jstr(b, "via") ? jstr(b, "via") : "");
    json_decref(b);
    (void)p;
    return CLI_OK;
}

static int auth_can_i(cli_ctx *ctx, const char *rid, const char *scope, const char *as)
{
    char *e = cli_url_escape(rid), *u = as ? cli_url_escape(as) : NULL;
    char *path = u ? xasprintf("/api/auth/%s/auth-check/%s?scope=%s", e, u, scope)
                   : xasprintf("/api/auth/%s/auth-check?scope=%s", e, scope);
    cli_resp r;
    int rc = cli_http(ctx, "auth can-i", "GET", path, NULL, 403, &r);

    if (rc == 0) {
        fprintf(ctx->out, "yes\n");
    } else if (r.status == 403) {
        char *why = cli_error_text(&r);
        fprintf(ctx->out, "no: %s\n", why);
        free(why);
    }
    cli_resp_release(&r);
    free(path);
    free(e);
    free(u);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

static int auth_token_create(cli_ctx *ctx, const parsed *p)
{
    /* values: 0 help, 1 user, 2 groups, 3 name, 4 email, 5 expires, 6 description, 7 output */
    json_t *body = json_object(), *ans = NULL;
    int64_t ms;

    if (p->values[1]) {
        json_t *u = json_pack("{s:s}", "id", p->values[1]), *groups = json_array();
        const char *g = p->values[2];
        while (g && *g) {
            const char *c = strchr(g, ',');
            size_t n = c ? (size_t)(c - g) : strlen(g);
            if (n)
                json_array_append_new(groups, json_stringn(g, n));
            g = c ? c + 1 : NULL;
        }
        json_object_set_new(u, "groups", groups);
        if (p->values[3])
            json_object_set_new(u, "name", json_string(p->values[3]));
        if (p->values[4])
            json_object_set_new(u, "email", json_string(p->values[4]));
        json_object_set_new(body, "user", u);
    } else if (p->values[2] || p->values[3] || p->values[4]) {
        fprintf(ctx->err, "corralctl auth token create: --groups, --name and --email need "
                          "--user\n");
        json_decref(body);
        return CLI_USAGE;
    }
    if (p->values[5]) {
        if (!parse_duration(p->values[5], &ms) || ms <= 0) {
            fprintf(ctx->err,
                    "corralctl auth token create: --expires must be a duration like 12h or "
                    "30d, not \"%s\"\n",
                    p->values[5]);
            json_decref(body);
            return CLI_USAGE;
        }
        json_object_set_new(body, "expiresAt", json_integer((json_int_t)(cr_wall_ms() + ms)));
    }
    if (p->values[6])
        json_object_set_new(body, "description", json_string(p->values[6]));
    if (!cli_need_server(ctx, "auth token create") ||
        call(ctx, "auth token create", "POST", "/api/auth/token", body, &ans) < 0) {
        json_decref(body);
        return CLI_ERROR;
    }
    json_decref(body);
    if (p->values[7]) {
        cli_print_doc(ctx->out, ans, p->values[7]);
    } else {
        fprintf(ctx->out, "%s\n", jstr(ans, "token") ? jstr(ans, "token") : "");
        fprintf(ctx->err,
                "corralctl: token for user %s; it is shown only now (corrald keeps its "
                "hash). Use it with --token, $CORRAL_TOKEN or 'corralctl config set token'.\n",
                jstr(json_object_get(ans, "user"), "id"));
    }
    json_decref(ans);
    return CLI_OK;
}

static int auth_tokens(cli_ctx *ctx, const char *out)
{
    json_t *b, *t;
    size_t i;

    if (!(b = get_json(ctx, "auth tokens", "/api/auth/tokens")))
        return CLI_ERROR;
    if (out) {
        cli_print_doc(ctx->out, b, out);
        json_decref(b);
        return CLI_OK;
    }
    fprintf(ctx->out, "%-14s %-24s %-30s %-14s %-14s\n", "ID", "USER", "GROUPS", "CREATED BY",
            "EXPIRES");
    json_array_foreach (b, i, t) {
        const json_t *u = json_object_get(t, "user"), *g;
        cr_buf groups = CR_BUF_INIT;
        size_t k;
        json_array_foreach (json_object_get(u, "groups"), k, g)
            cr_buf_addf(&groups, "%s%s", k ? "," : "", json_string_value(g));
        fprintf(ctx->out, "%-14s %-24s %-30s %-14s %-14s\n", jstr(t, "id") ? jstr(t, "id") : "",
                jstr(u, "id") ? jstr(u, "id") : "?", groups.len ? cr_buf_str(&groups) : "-",
                jstr(t, "createdBy") ? jstr(t, "createdBy") : "-",
                json_is_true(json_object_get(t, "expired")) ? "expired"
                : json_object_get(t, "expiresAt")           ? "yes"
                                                            : "never");
        cr_buf_release(&groups);
    }
    json_decref(b);
    return CLI_OK;
}

int cli_cmd_auth(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {HELP_OPT,
                                   {"user", 0, true, false},
                                   {"groups", 0, true, false},
                                   {"name", 0, true, false},
                                   {"email", 0, true, false},
                                   {"expires", 0, true, false},
                                   {"description", 0, true, false},
                                   {"output", 'o', true, false}};
    static const cli_opt check_opts[] = {HELP_OPT, {"scope", 0, true, false}, {"as", 0, true, false}};
    const char *sub;
    parsed p;
    int rc;

    if (argc < 2) {
        cli_help_auth(ctx->err);
        return CLI_USAGE;
    }
    sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        cli_help_auth(ctx->out);
        return CLI_OK;
    }
    if (strcmp(sub, "can-i") == 0) {
        const char *scope;
        rc = parse(ctx, argc - 1, argv + 1, check_opts, 3, cli_help_auth, &p);
        if (rc != CLI_OK || p.done)
            return rc;
        if (!want_pos(ctx, "auth can-i", &p, 1, 1, "REQUEST_ID"))
            return CLI_USAGE;
        scope = p.values[1] ? p.values[1] : "READ";
        if (strcmp(scope, "READ") != 0 && strcmp(scope, "WRITE") != 0 &&
            strcmp(scope, "ADMIN") != 0) {
            fprintf(ctx->err, "corralctl auth can-i: --scope must be READ, WRITE or ADMIN\n");
            return CLI_USAGE;
        }
        if (!cli_need_server(ctx, "auth can-i"))
            return CLI_ERROR;
        return auth_can_i(ctx, p.pos[0], scope, p.values[2]);
    }
    rc = parse(ctx, argc - 1, argv + 1, opts, 8, cli_help_auth, &p);
    if (rc != CLI_OK || p.done)
        return rc;
    if (p.values[7] && !is_format(p.values[7], false)) {
        fprintf(ctx->err, "corralctl auth: -o must be json or yaml\n");
        return CLI_USAGE;
    }
    if (strcmp(sub, "whoami") == 0 && p.npos == 0)
        return cli_need_server(ctx, "auth whoami") ? auth_whoami(ctx, &p, p.values[7]) : CLI_ERROR;
    if (strcmp(sub, "tokens") == 0 && p.npos == 0)
        return cli_need_server(ctx, "auth tokens") ? auth_tokens(ctx, p.values[7]) : CLI_ERROR;
    if (strcmp(sub, "token") == 0 && p.npos == 1 && strcmp(p.pos[0], "create") == 0)
        return auth_token_create(ctx, &p);
    if (strcmp(sub, "token") == 0 && p.npos == 2 && strcmp(p.pos[0], "revoke") == 0) {
        char *e = cli_url_escape(p.pos[1]), *path = xasprintf("/api/auth/token/%s", e);
        json_t *ans = NULL;
        rc = cli_need_server(ctx, "auth token revoke") &&
                     call(ctx, "auth token revoke", "DELETE", path, NULL, &ans) == 0
                 ? CLI_OK
                 : CLI_ERROR;
        if (rc == CLI_OK)
            fprintf(ctx->out, "revoked %lld token(s) of %s\n", (long long)jint(ans, "revoked"),
                    p.pos[1]);
        json_decref(ans);
        free(path);
        free(e);
        return rc;
    }
    fprintf(ctx->err, "corralctl auth: unknown subcommand (see corralctl auth --help)\n");
    return CLI_USAGE;
}
