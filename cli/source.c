/* corralctl source add|get|describe|sync|delete and diff --source: the
 * GitOps Sources of the API (/api/sources, docs/gitops.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "apis/source.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/table.h"

static const cli_opt opts[] = {
    {"help", 'h', false, false},    {"repo", 0, true, false},     {"ref", 0, true, false},
    {"path", 0, true, false},       {"interval", 0, true, false}, {"prune", 0, false, false},
    {"self-heal", 0, false, false}, {"output", 'o', true, false}, {"wait", 0, false, false},
    {"timeout", 0, true, false},
};
enum {
    O_HELP,
    O_REPO,
    O_REF,
    O_PATH,
    O_INTERVAL,
    O_PRUNE,
    O_SELFHEAL,
    O_OUTPUT,
    O_WAIT,
    O_TIMEOUT,
    O_N
};

void cli_help_source(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] source add NAME --repo URL|PATH [options]\n"
               "       corralctl source get [NAME] [-o json|yaml]\n"
               "       corralctl source describe NAME\n"
               "       corralctl source sync NAME [--wait [--timeout D]]\n"
               "       corralctl source delete NAME\n\n"
               "GitOps Sources: Git repositories whose manifests corrald keeps applied\n"
               "(docs/gitops.md). A Source can also be applied as a manifest (kind: Source).\n\n"
               "  add        create or replace a Source (admins)\n"
               "  get        list Sources: synced commit, conditions\n"
               "  describe   one Source: spec, synced and fetched commit, conditions, the last\n"
               "             sync's changes, drift, and what it created\n"
               "  sync       fetch and sync now (any authenticated caller; what a Git host's\n"
               "             push hook calls: POST /api/sources/source/NAME/sync)\n"
               "  delete     delete a Source; what it created stays (admins)\n\n"
               "options of add:\n"
               "      --repo URL|PATH      the repository, as corrald's git can fetch it\n"
               "      --ref REF            branch or tag (default: the remote's HEAD)\n"
               "      --path DIR           directory of the manifests in the repository\n"
               "                           (default: all of it)\n"
               "      --interval D         how often to fetch: 30s, 5m, 1h (default 60s)\n"
               "      --prune              delete what the Source created and the repository\n"
               "                           no longer has\n"
               "      --self-heal          revert changes made outside the repository\n"
               "  -o, --output FORMAT      get: json or yaml instead of a table\n"
               "      --wait               sync: wait until the fetch it asked for is applied,\n"
               "                           then print the Synced condition; exit 1 if the\n"
               "                           commit was refused or did not sync\n"
               "      --timeout D          how long --wait waits: 30s, 5m (default 2m)\n"
               "  -h, --help               show this help\n"
               "\nExit status: 0 ok, 1 error, 2 usage.\n");
}

static char *source_path(const char *name, const char *tail)
{
    char *e = cli_url_escape(name);
    char *p = xasprintf("/api/sources/source/%s%s", e, tail ? tail : "");
    free(e);
    return p;
}

static const json_t *condition(const json_t *status, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach (json_object_get(status, "conditions"), i, c)
        if (json_is_string(json_object_get(c, "type")) &&
            strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return c;
    return NULL;
}

static const char *cond_status(const json_t *status, const char *type)
{
    const char *s = json_string_value(json_object_get(condition(status, type), "status"));
    return s ? s : "Unknown";
}

static const char *str(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

static int64_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int cmd_add(cli_ctx *ctx, const char *name, const char *const *v)
{
    json_t *body = json_pack("{s:s}", "name", name);
    cli_resp r;
    int rc;

    if (!v[O_REPO]) {
        fprintf(ctx->err, "corralctl source add: --repo is required\n");
        json_decref(body);
        return CLI_USAGE;
    }
    json_object_set_new(body, "repository", json_string(v[O_REPO]));
    if (v[O_REF])
        json_object_set_new(body, "ref", json_string(v[O_REF]));
    if (v[O_PATH])
        json_object_set_new(body, "path", json_string(v[O_PATH]));
    if (v[O_INTERVAL])
        json_object_set_new(body, "interval", json_string(v[O_INTERVAL]));
    json_object_set_new(body, "prune", json_boolean(v[O_PRUNE] != NULL));
    json_object_set_new(body, "selfHeal", json_boolean(v[O_SELFHEAL] != NULL));
    rc = cli_http(ctx, "source add", "POST", "/api/sources", body, 0, &r);
    if (rc == 0)
        fprintf(ctx->out, "source/%s %s\n", name, r.status == 201 ? "created" : "configured");
    cli_resp_release(&r);
    json_decref(body);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

static void row(cli_table *t, const json_t *p, int64_t now)
{
    const json_t *s = json_object_get(p, "source"), *st = json_object_get(p, "status");
    char age[16];
    const char *commit = str(st, "commit", NULL);

    cli_table_row(t);
    cli_table_cell(t, "%s", str(s, "name", "?"));
    cli_table_cell(t, "%s", str(s, "repository", "?"));
    cli_table_cell(t, "%s", str(s, "ref", "HEAD"));
    if (commit)
        cli_table_cell(t, "%.12s", commit);
    else
        cli_table_cell(t, NULL);
    cli_table_cell(t, "%s", cond_status(st, API_COND_SYNCED));
    cli_table_cell(t, "%s", cond_status(st, API_COND_DRIFTED));
    cli_table_cell(t, "%s", cond_status(st, API_COND_FAILED));
    cli_table_cell(t, "%s", cli_age(num(st, "syncedAt"), now, age, sizeof(age)));
}

static int cmd_get(cli_ctx *ctx, const char *name, const char *format)
{
    static const char *const headers[] = {"name",   "repository", "ref",    "commit",
                                          "synced", "drifted",    "failed", "synced-age"};
    char *path = name ? source_path(name, NULL) : xstrdup("/api/sources");
    cli_resp r;
    int rc = cli_http(ctx, "source get", "GET", path, NULL, 0, &r);

    free(path);
    if (rc == 0 && format) {
        rc = cli_print_doc(ctx->out, r.body, format) == 0 ? 0 : -1;
        if (rc < 0)
            fprintf(ctx->err, "corralctl source get: -o must be json or yaml\n");
    } else if (rc == 0) {
        cli_table *t = cli_table_new(headers, 8);
        int64_t now = (int64_t)time(NULL) * 1000;
        if (json_is_array(r.body)) {
            size_t i;
            const json_t *p;
            json_array_foreach (r.body, i, p)
                row(t, p, now);
        } else {
            row(t, r.body, now);
        }
        char *s = cli_table_render(t);
        fputs(s, ctx->out);
        free(s);
        cli_table_free(t);
    }
    cli_resp_release(&r);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

static void print_list(cli_ctx *ctx, const char *title, const json_t *l)
{
    size_t i;
    const json_t *v;
    fprintf(ctx->out, "%s:%s\n", title, json_array_size(l) ? "" : " <none>");
    json_array_foreach (l, i, v)
        fprintf(ctx->out, "  %s\n", json_string_value(v) ? json_string_value(v) : "?");
}

static int cmd_describe(cli_ctx *ctx, const char *name)
{
    char *path = source_path(name, NULL);
    cli_resp r;
    int rc = cli_http(ctx, "source describe", "GET", path, NULL, 0, &r);

    free(path);
    if (rc == 0) {
        const json_t *s = json_object_get(r.body, "source"),
                     *st = json_object_get(r.body, "status");
        char age[16];
        int64_t now = (int64_t)time(NULL) * 1000;
        size_t i;
        const json_t *c;
        fprintf(ctx->out, "Name:           %s\n", str(s, "name", name));
        fprintf(ctx->out, "Repository:     %s\n", str(s, "repository", "?"));
        fprintf(ctx->out, "Ref:            %s\n", str(s, "ref", "HEAD"));
        fprintf(ctx->out, "Path:           %s\n", str(s, "path", "."));
        fprintf(ctx->out, "Interval:       %s\n", str(s, "interval", "60s"));
        fprintf(ctx->out, "Prune:          %s\n",
                json_is_true(json_object_get(s, "prune")) ? "true" : "false");
        fprintf(ctx->out, "Self-heal:      %s\n",
                json_is_true(json_object_get(s, "selfHeal")) ? "true" : "false");
        if (json_object_get(r.body, "problems"))
            fprintf(ctx->out, "Problems:       %s\n", str(r.body, "problems", ""));
        fprintf(ctx->out, "Synced commit:  %s (%s ago)\n", str(st, "commit", "<none>"),
                cli_age(num(st, "syncedAt"), now, age, sizeof(age)));
        fprintf(ctx->out, "Fetched commit: %s (%s ago)\n", str(st, "fetchedCommit", "<none>"),
                cli_age(num(st, "fetchedAt"), now, age, sizeof(age)));
        fprintf(ctx->out, "Conditions:%s\n",
                json_array_size(json_object_get(st, "conditions")) ? "" : " <none>");
        json_array_foreach (json_object_get(st, "conditions"), i, c)
            fprintf(ctx->out, "  %-8s %-6s %-14s %s\n", str(c, "type", "?"), str(c, "status", "?"),
                    str(c, "reason", ""), str(c, "message", ""));
        print_list(ctx, "Last changes", json_object_get(st, "changes"));
        print_list(ctx, "Drift", json_object_get(st, "drift"));
        print_list(ctx, "Requests", json_object_get(st, "requests"));
        print_list(ctx, "Deploys", json_object_get(st, "deploys"));
    }
    cli_resp_release(&r);
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* source sync --wait: polls the Source until its status has handled the
 * sync request made at `asked` (status.syncRequest >= asked), then reports
 * it. */
static int wait_synced(cli_ctx *ctx, const char *name, int64_t asked, int64_t timeout_ms)
{
    char *path = source_path(name, NULL);
    struct timespec t0, t;
    int rc = CLI_ERROR;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        cli_resp r;
        if (cli_http(ctx, "source sync", "GET", path, NULL, 0, &r) < 0) {
            cli_resp_release(&r);
            break;
        }
        const json_t *st = json_object_get(r.body, "status");
        if (num(st, "syncRequest") >= asked) {
            const json_t *sy = condition(st, API_COND_SYNCED), *fa = condition(st, API_COND_FAILED);
            bool failed = !strcmp(cond_status(st, API_COND_FAILED), "True");
            fprintf(ctx->out, "source/%s: Synced=%s %s%s%s\n", name, str(sy, "status", "Unknown"),
                    str(sy, "reason", ""), str(sy, "message", NULL) ? ": " : "",
                    str(sy, "message", ""));
            if (failed)
                fprintf(ctx->out, "source/%s: Failed: %s\n", name, str(fa, "message", ""));
            rc = !failed && !strcmp(str(sy, "status", ""), "True") ? CLI_OK : CLI_ERROR;
            cli_resp_release(&r);
            break;
        }
        cli_resp_release(&r);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            fprintf(ctx->err, "corralctl source sync: source/%s: not synced within the timeout\n",
                    name);
            break;
        }
        sleep_ms(250);
    }
    free(path);
    return rc;
}

static int cmd_simple(cli_ctx *ctx, const char *name, const char *verb, const char *const *v)
{
    bool sync = strcmp(verb, "sync") == 0;
    char *path = source_path(name, sync ? "/sync" : NULL);
    char *cmd = xasprintf("source %s", verb);
    cli_resp r;
    int rc = cli_http(ctx, cmd, sync ? "POST" : "DELETE", path, NULL, 0, &r);

    if (rc == 0)
        fprintf(ctx->out, "source/%s %s\n", name, sync ? "sync requested" : "deleted");
    int64_t asked = num(r.body, "syncRequest");
    cli_resp_release(&r);
    free(path);
    free(cmd);
    if (rc == 0 && sync && v[O_WAIT]) {
        int64_t timeout = v[O_TIMEOUT] ? api_duration_parse_ms(v[O_TIMEOUT]) : 120000;
        if (timeout <= 0) {
            fprintf(ctx->err, "corralctl source sync: --timeout: a duration such as 30s or 5m\n");
            return CLI_USAGE;
        }
        return wait_synced(ctx, name, asked, timeout);
    }
    return rc == 0 ? CLI_OK : CLI_ERROR;
}

int cli_cmd_source(cli_ctx *ctx, int argc, char **argv)
{
    const char *v[O_N] = {0}, *pos[3] = {0};
    int i = 1, npos = 0;

    while (i < argc) {
        const char *val;
        int k = cli_next_opt(argc, argv, &i, opts, O_N, &val, ctx->err);
        if (k == -2)
            return CLI_USAGE;
        if (k == O_HELP) {
            cli_help_source(ctx->out);
            return CLI_OK;
        }
        if (k >= 0) {
            v[k] = opts[k].has_value ? val : "1";
            continue;
        }
        if (i >= argc)
            break;
        if (npos < 3)
            pos[npos] = argv[i];
        npos++;
        i++;
    }
    const char *verb = pos[0], *name = pos[1];
    bool known =
        verb && (!strcmp(verb, "add") || !strcmp(verb, "get") || !strcmp(verb, "describe") ||
                 !strcmp(verb, "sync") || !strcmp(verb, "delete"));
    if (!known || npos > 2 || (strcmp(verb, "get") && npos != 2)) {
        fprintf(ctx->err,
                "corralctl source: expected add|get|describe|sync|delete NAME (see corralctl "
                "source --help)\n");
        return CLI_USAGE;
    }
    if (name && !api_source_name_valid(name)) {
        fprintf(ctx->err,
                "corralctl source: '%s' is not a valid source name "
                "(1-100 characters of [a-zA-Z0-9_-])\n",
                name);
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "source"))
        return CLI_USAGE;
    if (!strcmp(verb, "add"))
        return cmd_add(ctx, name, v);
    if (!strcmp(verb, "get"))
        return cmd_get(ctx, name, v[O_OUTPUT]);
    if (!strcmp(verb, "describe"))
        return cmd_describe(ctx, name);
    return cmd_simple(ctx, name, verb, v);
}

int cli_diff_source(cli_ctx *ctx, const char *name)
{
    char *path = source_path(name, NULL);
    cli_resp r;
    int rc = cli_http(ctx, "diff", "GET", path, NULL, 0, &r), out = 2;

    free(path);
    if (rc == 0) {
        const json_t *st = json_object_get(r.body, "status");
        const json_t *drift = json_object_get(st, "drift");
        const char *commit = str(st, "commit", NULL), *fetched = str(st, "fetchedCommit", NULL);
        size_t i;
        const json_t *d;
        out = 0;
        json_array_foreach (drift, i, d) {
            fprintf(ctx->out, "%s\n", json_string_value(d) ? json_string_value(d) : "?");
            out = 1;
        }
        if (fetched && (!commit || strcmp(commit, fetched) != 0)) {
            const json_t *f = condition(st, API_COND_FAILED);
            fprintf(ctx->out, "commit %s is not applied%s%s\n", fetched,
                    json_is_string(json_object_get(f, "message")) ? ": " : "",
                    str(f, "message", ""));
            out = 1;
        }
        if (!st || json_is_null(st)) {
            fprintf(ctx->out, "source/%s has not synced yet\n", name);
            out = 1;
        }
    }
    cli_resp_release(&r);
    return out;
}
