/* corralctl apply (offline and against a server), diff, delete and validate. */
#include <stdlib.h>
#include <string.h>

#include "apis/manifest.h"
#include "apis/yaml.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/plan.h"
#include "cli/sync.h"

/* Options shared by every command that reads manifests. */
#define MANIFEST_OPTS                                                                              \
    {"help", 'h', false, false}, {"filename", 'f', true, false}, {"recursive", 'R', false, false}, \
        {"env", 'e', true, false}, {"set", 0, true, false}, {"overlay", 0, true, false},           \
    {                                                                                              \
        "allow-unknown-fields", 0, false, false                                                    \
    }
enum { O_HELP, O_FILE, O_RECURSIVE, O_ENV, O_SET, O_OVERLAY, O_ALLOW, O_NMANIFEST };

#define MANIFEST_HELP                                                                          \
    "  -f, --filename PATH     manifest file, directory (read recursively: *.yaml,\n"          \
    "                          *.yml, *.json) or - for standard input; repeatable\n"           \
    "  -R, --recursive         accepted for kubectl compatibility (always on)\n"               \
    "  -e, --env NAME          procfile configs: merge env.NAME over env.all\n"                \
    "      --set PATH=VALUE    procfile configs: override a field before expanding,\n"         \
    "                          e.g. --set 'procfile.web.cmd=python3 -m http.server $PORT0';\n" \
    "                          VALUE is a YAML scalar, null removes the field; repeatable\n"   \
    "      --overlay FILE      procfile configs: deep-merge this YAML map first\n"             \
    "      --allow-unknown-fields  keep fields Corral does not know instead of failing\n"      \
    "  -h, --help              show this help\n"

typedef struct manifest_args {
    const char **files;
    size_t nfiles;
    const char **sets;
    size_t nsets;
    api_manifest_opts mopts;
} manifest_args;

static void margs_release(manifest_args *a)
{
    free(a->files);
    free(a->sets);
}

/* Handles a shared option k; returns false if k is not one. */
static bool margs_option(manifest_args *a, int k, const char *v)
{
    switch (k) {
    case O_FILE:
        a->files = xrealloc(a->files, (a->nfiles + 1) * sizeof(char *));
        a->files[a->nfiles++] = v;
        return true;
    case O_RECURSIVE:
        return true;
    case O_ENV:
        a->mopts.env = v;
        return true;
    case O_SET:
        a->sets = xrealloc(a->sets, (a->nsets + 1) * sizeof(char *));
        a->sets[a->nsets++] = v;
        return true;
    case O_OVERLAY:
        a->mopts.overlay = v;
        return true;
    case O_ALLOW:
        a->mopts.allow_unknown = true;
        return true;
    default:
        return false;
    }
}

static void print_problems(cli_ctx *ctx, const api_problems *probs)
{
    for (size_t i = 0; i < probs->n; i++) {
        char *s = api_problem_format(&probs->v[i]);
        fprintf(ctx->err, "%s\n", s);
        free(s);
    }
}

/* Loads and checks every -f input. Returns the manifest (caller frees) or
 * NULL after printing every problem. */
static api_manifest *load_all(cli_ctx *ctx, const char *cmd, manifest_args *a)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_manifest *m = api_manifest_new();

    a->mopts.sets = a->sets;
    a->mopts.nsets = a->nsets;
    for (size_t i = 0; i < a->nfiles; i++)
        api_manifest_load_path(m, a->files[i], &a->mopts, &probs);
    if (probs.n == 0)
        api_manifest_check(m, &probs);
    if (probs.n == 0 && a->nsets && !m->procfiles)
        api_problems_add_at(&probs, NULL, 0, 0, "--set",
                            "applies to procfile configs, and none was loaded");
    if (probs.n) {
        api_problems_sort(&probs);
        print_problems(ctx, &probs);
        fprintf(ctx->err, "corralctl %s: %zu problem%s found\n", cmd, probs.n,
                probs.n == 1 ? "" : "s");
        api_problems_release(&probs);
        api_manifest_free(m);
        return NULL;
    }
    /* Empty, but a recovered parse error may have allocated the array. */
    api_problems_release(&probs);
    return m;
}

/* ---- server side (the apply itself is in sync.c) --------------------------- */

/* The set name derived from the -f paths (plan.h), or NULL when one is
 * standard input: then, if cmd is given, an error is printed. Caller frees. */
static char *default_set(cli_ctx *ctx, const char *cmd, const manifest_args *a)
{
    char **paths = xcalloc(a->nfiles + 1, sizeof(char *));
    char *name = NULL;
    size_t i;

    for (i = 0; i < a->nfiles; i++) {
        if (strcmp(a->files[i], "-") == 0)
            break;
        paths[i] = realpath(a->files[i], NULL);
        if (!paths[i])
            paths[i] = xstrdup(a->files[i]);
    }
    if (i == a->nfiles)
        name = cli_set_name_from_paths((const char *const *)paths, a->nfiles);
    else if (cmd)
        fprintf(ctx->err, "corralctl %s: --prune with standard input needs --prune-set NAME\n",
                cmd);
    for (size_t j = 0; j < a->nfiles; j++)
        free(paths[j]);
    free(paths);
    return name;
}

/* GETs a request's parent: 0 and *parent (caller owns) if it exists, 0 and
 * NULL if not, -1 on error (printed). */
static int get_parent(cli_ctx *ctx, const char *cmd, const char *rid, json_t **parent)
{
    char *e = cli_url_escape(rid), *path = xasprintf("/api/requests/request/%s", e);
    cli_resp r;
    int rc = cli_http(ctx, cmd, "GET", path, NULL, 404, &r);

    *parent = NULL;
    if (rc == 0) {
        *parent = json_incref(r.body);
    } else if (r.status == 404) {
        rc = 0;
    }
    cli_resp_release(&r);
    free(path);
    free(e);
    return rc;
}

static const char *deploy_id_of(const json_t *parent, const char *field)
{
    return json_string_value(json_object_get(json_object_get(parent, field), "id"));
}

/* ---- apply ----------------------------------------------------------------- */

void cli_help_apply(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] apply -f FILE|DIR|- [options]\n\n"
               "Applies Request and Deploy manifests (see docs/manifests.md) to corrald:\n"
               "requests are created or updated (POST /api/requests), then deploys are\n"
               "posted (POST /api/deploys) unless their id is already the request's active\n"
               "or pending deploy, so applying the same files again changes nothing. Prints\n"
               "one line per object: request/ID created|configured|unchanged,\n"
               "deploy/REQUEST/ID created|unchanged, request/ID pruned.\n\n"
               "Offline, --dry-run=client loads and validates the manifests and prints\n"
               "the objects it would apply, Requests first, without contacting a server.\n\n"
               "options:\n" MANIFEST_HELP
               "      --dry-run[=MODE]    client (default when given): print, do not\n"
               "                          contact a server; server: compare with the\n"
               "                          server and print what would change; none\n"
               "  -o, --output FORMAT     --dry-run=client: json or yaml prints the objects\n"
               "                          as a list of envelopes; default: one line each\n"
               "      --prune             delete requests that an earlier apply of this\n"
               "                          manifest set created and that it no longer holds\n"
               "      --prune-set NAME    the manifest set's name (default: derived from\n"
               "                          the -f paths; required with -f -). Deploys of the\n"
               "                          requests a set creates carry metadata\n"
               "                          corral.io/applied-by: NAME; --prune only deletes\n"
               "                          requests whose active or pending deploy has it\n"
               "      --parallel N        calls to corrald in flight at once (default 16;\n"
               "                          1: one after the other). A request is still\n"
               "                          written before its deploys are posted, and the\n"
               "                          lines keep the order of a sequential apply\n"
               "\nThe server is --server URL or $CORRAL_SERVER. Exit status: 0 ok, 1 error,\n"
               "2 usage.\n");
}

int cli_cmd_apply(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {MANIFEST_OPTS,
                                   {"dry-run", 0, true, true},
                                   {"output", 'o', true, false},
                                   {"prune", 0, false, false},
                                   {"prune-set", 0, true, false},
                                   {"parallel", 0, true, false}};
    enum { O_DRY = O_NMANIFEST, O_OUT, O_PRUNE, O_SET_NAME, O_PARALLEL };
    manifest_args a = {0};
    const char *dry = NULL, *output = NULL, *set = NULL, *v;
    char *set_owned = NULL;
    bool prune = false;
    size_t parallel = CLI_SYNC_PARALLEL;
    api_manifest *m = NULL;
    int rc = CLI_USAGE, i = 1, k;

    while ((k = cli_next_opt(argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v, ctx->err)) >=
           0) {
        if (k == O_PRUNE) {
            prune = true;
        } else if (k == O_PARALLEL) {
            if (!cli_sync_parse_parallel(ctx, "apply", v, &parallel))
                goto out;
        } else if (k == O_SET_NAME) {
            set = v;
        } else if (k == O_HELP) {
            cli_help_apply(ctx->out);
            rc = CLI_OK;
            goto out;
        } else if (k == O_DRY) {
            dry = v ? v : "client";
        } else if (k == O_OUT) {
            output = v;
        } else {
            margs_option(&a, k, v);
        }
    }
    if (k == -2)
        goto out;
    if (i < argc) {
        fprintf(ctx->err, "corralctl apply: unexpected argument %s (use -f)\n", argv[i]);
        goto out;
    }
    if (!a.nfiles) {
        fprintf(ctx->err, "corralctl apply: -f FILE|DIR|- is required\n");
        goto out;
    }
    if (output && strcmp(output, "json") != 0 && strcmp(output, "yaml") != 0) {
        fprintf(ctx->err, "corralctl apply: -o must be json or yaml, not \"%s\"\n", output);
        goto out;
    }
    if (dry && strcmp(dry, "client") != 0 && strcmp(dry, "server") != 0 &&
        strcmp(dry, "none") != 0) {
        fprintf(ctx->err, "corralctl apply: --dry-run must be none, client or server, not \"%s\"\n",
                dry);
        goto out;
    }
    if (!dry || strcmp(dry, "client") != 0) {
        bool server_dry = dry && strcmp(dry, "server") == 0;
        if (output) {
            fprintf(ctx->err, "corralctl apply: -o applies to --dry-run=client only\n");
            goto out;
        }
        if (!cli_need_server(ctx, "apply")) {
            fprintf(ctx->err, "(or use --dry-run=client to only check the manifests)\n");
            rc = CLI_ERROR;
            goto out;
        }
        if (prune && !set && !(set_owned = default_set(ctx, "apply", &a)))
            goto out;
        if (!set && !set_owned)
            set_owned = default_set(ctx, NULL, &a);
        if (!set)
            set = set_owned;
        rc = CLI_ERROR;
        m = load_all(ctx, "apply", &a);
        if (!m)
            goto out;
        cli_sync_opts so = {server_dry ? CLI_SYNC_DRY : CLI_SYNC_APPLY, set, prune, parallel};
        rc = cli_sync_server(ctx, m, &so);
        goto out;
    }
    if (prune || set) {
        fprintf(ctx->err, "corralctl apply: --prune and --prune-set need a server\n");
        goto out;
    }
    rc = CLI_ERROR;
    m = load_all(ctx, "apply", &a);
    if (!m)
        goto out;
    if (output) {
        json_t *list = api_manifest_to_json(m);
        char *s =
            strcmp(output, "json") == 0 ? json_dumps(list, JSON_INDENT(2)) : api_yaml_emit(list);
        json_decref(list);
        if (!s) {
            fprintf(ctx->err, "corralctl apply: cannot encode output\n");
            goto out;
        }
        fputs(s, ctx->out);
        if (strcmp(output, "json") == 0)
            fputc('\n', ctx->out);
        free(s);
    } else {
        for (int pass = 0; pass < 2; pass++) {
            for (size_t n = 0; n < m->n; n++) {
                const api_manifest_obj *o = &m->v[n];
                if (pass == 0 && o->kind == API_OBJ_REQUEST)
                    fprintf(ctx->out, "request/%s (%s) configured (dry run)\n", o->request->id,
                            api_request_type_name(o->request->type));
                else if (pass == 1 && o->kind == API_OBJ_DEPLOY)
                    fprintf(ctx->out, "deploy/%s/%s configured (dry run)\n", o->deploy->requestId,
                            o->deploy->id);
                else if (pass == 1 && o->kind == API_OBJ_SOURCE)
                    fprintf(ctx->out, "source/%s configured (dry run)\n", o->source->name);
            }
        }
    }
    rc = CLI_OK;
out:
    free(set_owned);
    api_manifest_free(m);
    margs_release(&a);
    return rc;
}

/* ---- validate -------------------------------------------------------------- */

void cli_help_validate(FILE *f)
{
    fprintf(f, "usage: corralctl validate -f FILE|DIR|- [options]\n\n"
               "Loads manifests and reports every problem as\n"
               "  file:line:col: field.path: message\n"
               "Exits 0 when all objects are valid, 1 otherwise. Needs no server.\n\n"
               "options:\n" MANIFEST_HELP);
}

int cli_cmd_validate(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {MANIFEST_OPTS};
    manifest_args a = {0};
    const char *v;
    api_manifest *m = NULL;
    int rc = CLI_USAGE, i = 1, k;

    while ((k = cli_next_opt(argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v, ctx->err)) >=
           0) {
        if (k == O_HELP) {
            cli_help_validate(ctx->out);
            rc = CLI_OK;
            goto out;
        }
        margs_option(&a, k, v);
    }
    if (k == -2)
        goto out;
    if (i < argc) {
        fprintf(ctx->err, "corralctl validate: unexpected argument %s (use -f)\n", argv[i]);
        goto out;
    }
    if (!a.nfiles) {
        fprintf(ctx->err, "corralctl validate: -f FILE|DIR|- is required\n");
        goto out;
    }
    rc = CLI_ERROR;
    m = load_all(ctx, "validate", &a);
    if (!m)
        goto out;
    size_t nr = 0, nd = 0, ns = 0;
    for (size_t n = 0; n < m->n; n++) {
        if (m->v[n].kind == API_OBJ_REQUEST)
            nr++;
        else if (m->v[n].kind == API_OBJ_DEPLOY)
            nd++;
        else
            ns++;
    }
    fprintf(ctx->out, "ok: %zu request%s, %zu deploy%s", nr, nr == 1 ? "" : "s", nd,
            nd == 1 ? "" : "s");
    if (ns)
        fprintf(ctx->out, ", %zu source%s", ns, ns == 1 ? "" : "s");
    fputc('\n', ctx->out);
    rc = CLI_OK;
out:
    api_manifest_free(m);
    margs_release(&a);
    return rc;
}

/* ---- diff ------------------------------------------------------------------ */

void cli_help_diff(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] diff -f FILE|DIR|- [options]\n"
               "       corralctl [--server URL] diff --source NAME\n\n"
               "Compares manifests with corrald and prints what apply would change:\n"
               "  request/ID (created|configured) and deploy/REQUEST/ID (created, ...)\n"
               "followed by one line per changed field:\n"
               "  ~ path: SERVER -> MANIFEST, + path: MANIFEST, - path: SERVER\n"
               "(a deploy is compared with the request's pending, else active, deploy),\n"
               "and with --prune request/ID (pruned).\n\n"
               "options:\n" MANIFEST_HELP
               "      --prune             also show the requests apply --prune would delete\n"
               "      --prune-set NAME    the manifest set's name (see apply --help)\n"
               "      --parallel N        calls to corrald in flight at once (default 16)\n"
               "      --source NAME       instead of manifests: how the cluster differs from\n"
               "                          GitOps Source NAME's commit (its drift, or a commit\n"
               "                          it could not apply; docs/gitops.md)\n"
               "\nExit status: 0 no differences, 1 differences found, 2 error or usage.\n");
}

int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {MANIFEST_OPTS,
                                   {"prune", 0, false, false},
                                   {"prune-set", 0, true, false},
                                   {"source", 0, true, false},
                                   {"parallel", 0, true, false}};
    enum { O_PRUNE = O_NMANIFEST, O_SET_NAME, O_SOURCE, O_PARALLEL };
    manifest_args a = {0};
    const char *set = NULL, *v, *source = NULL;
    char *set_owned = NULL;
    bool prune = false;
    size_t parallel = CLI_SYNC_PARALLEL;
    api_manifest *m = NULL;
    int rc = CLI_USAGE, i = 1, k;

    while ((k = cli_next_opt(argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v, ctx->err)) >=
           0) {
        if (k == O_HELP) {
            cli_help_diff(ctx->out);
            rc = CLI_OK;
            goto out;
        } else if (k == O_PARALLEL) {
            if (!cli_sync_parse_parallel(ctx, "diff", v, &parallel))
                goto out;
        } else if (k == O_PRUNE) {
            prune = true;
        } else if (k == O_SET_NAME) {
            set = v;
        } else if (k == O_SOURCE) {
            source = v;
        } else {
            margs_option(&a, k, v);
        }
    }
    if (k == -2)
        goto out;
    if (i < argc) {
        fprintf(ctx->err, "corralctl diff: unexpected argument %s (use -f)\n", argv[i]);
        goto out;
    }
    if (source) {
        if (a.nfiles || prune || set) {
            fprintf(ctx->err, "corralctl diff: --source takes no -f, --prune or --prune-set\n");
            goto out;
        }
        rc = cli_need_server(ctx, "diff") ? cli_diff_source(ctx, source) : 2;
        goto out;
    }
    if (!a.nfiles) {
        fprintf(ctx->err, "corralctl diff: -f FILE|DIR|- is required\n");
        goto out;
    }
    if (!cli_need_server(ctx, "diff")) {
        rc = 2;
        goto out;
    }
    if (prune && !set && !(set = set_owned = default_set(ctx, "diff", &a)))
        goto out;
    m = load_all(ctx, "diff", &a);
    if (!m)
        goto out;
    cli_sync_opts so = {CLI_SYNC_DIFF, set, prune, parallel};
    rc = cli_sync_server(ctx, m, &so);
out:
    free(set_owned);
    api_manifest_free(m);
    margs_release(&a);
    return rc;
}

/* ---- delete ---------------------------------------------------------------- */

void cli_help_delete(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] delete -f FILE|DIR|- [options]\n"
               "       corralctl [--server URL] delete request NAME...\n"
               "       corralctl [--server URL] delete deploy REQUEST/DEPLOY_ID\n\n"
               "Deletes the requests of the manifests, or the named requests (their tasks\n"
               "are killed; deploys stay in history). A deploy is deleted by cancelling\n"
               "it, which only works while it is the request's pending deploy; deploys\n"
               "in a manifest whose request it also holds go with the request.\n\n"
               "options:\n" MANIFEST_HELP
               "      --ignore-not-found  an object that does not exist is not an error\n"
               "  -m, --message TEXT      message recorded in the request's history\n"
               "\nExit status: 0 ok, 1 error (e.g. not found), 2 usage.\n");
}

/* DELETE of one request or cancel of one deploy. Returns 0, or -1 (printed). */
static int delete_one(cli_ctx *ctx, bool deploy, const char *rid, const char *did, bool ignore_nf,
                      const char *message)
{
    char *er = cli_url_escape(rid), *ed = did ? cli_url_escape(did) : NULL, *path;
    json_t *body = message ? json_pack("{s:s}", "message", message) : NULL;
    cli_resp r;
    int rc;

    if (deploy)
        path = xasprintf("/api/deploys/deploy/%s/request/%s", ed, er);
    else
        path = xasprintf("/api/requests/request/%s", er);
    rc = cli_http(ctx, "delete", "DELETE", path, body, 404, &r);
    if (rc == 0) {
        if (deploy)
            fprintf(ctx->out, "deploy/%s/%s cancelled\n", rid, did);
        else
            fprintf(ctx->out, "request/%s deleted\n", rid);
    } else if (r.status == 404) {
        char *t = cli_error_text(&r);
        if (ignore_nf) {
            rc = 0;
        } else if (deploy) {
            fprintf(ctx->err, "corralctl delete: deploy/%s/%s: %s\n", rid, did, t);
        } else {
            fprintf(ctx->err, "corralctl delete: request/%s not found\n", rid);
        }
        free(t);
    }
    cli_resp_release(&r);
    json_decref(body);
    free(path);
    free(er);
    free(ed);
    return rc;
}

int cli_cmd_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        MANIFEST_OPTS, {"ignore-not-found", 0, false, false}, {"message", 'm', true, false}};
    enum { O_IGNORE = O_NMANIFEST, O_MESSAGE };
    manifest_args a = {0};
    const char *message = NULL, *v;
    bool ignore_nf = false;
    api_manifest *m = NULL;
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int rc = CLI_USAGE, i = 1, k, npos = 0;

    /* Options may follow the positionals (delete request web -m why). */
    for (;;) {
        int before = i;
        k = cli_next_opt(argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v, ctx->err);
        if (k == O_HELP) {
            cli_help_delete(ctx->out);
            rc = CLI_OK;
            goto out;
        } else if (k == O_IGNORE) {
            ignore_nf = true;
        } else if (k == O_MESSAGE) {
            message = v;
        } else if (k >= 0) {
            margs_option(&a, k, v);
        } else if (k == -2) {
            goto out;
        } else if (i != before) { /* after "--" everything is positional */
            while (i < argc)
                pos[npos++] = argv[i++];
            break;
        } else if (i >= argc) {
            break;
        } else {
            pos[npos++] = argv[i++];
        }
    }
    argv = pos;
    argc = npos;
    i = 0;
    if (a.nfiles && i < argc) {
        fprintf(ctx->err, "corralctl delete: give -f or KIND NAME, not both\n");
        goto out;
    }
    if (!a.nfiles) {
        bool deploy;
        if (argc - i < 2) {
            fprintf(ctx->err, "corralctl delete: give -f FILE or KIND NAME (see --help)\n");
            goto out;
        }
        if (strcmp(argv[i], "request") == 0 || strcmp(argv[i], "requests") == 0) {
            deploy = false;
        } else if (strcmp(argv[i], "deploy") == 0 || strcmp(argv[i], "deploys") == 0) {
            deploy = true;
        } else {
            fprintf(ctx->err, "corralctl delete: unknown kind \"%s\" (request or deploy)\n",
                    argv[i]);
            goto out;
        }
        for (int n = i + 1; n < argc; n++) {
            const char *slash = strchr(argv[n], '/');
            if (deploy && (!slash || slash == argv[n])) {
                fprintf(ctx->err, "corralctl delete: deploy name must be REQUEST/DEPLOY_ID\n");
                goto out;
            }
            /* The server's id rules (apis/common.h), before anything is sent. */
            if (!deploy && !api_request_id_valid(argv[n])) {
                fprintf(ctx->err,
                        "corralctl delete: invalid request id \"%s\": must be 1-%d characters of "
                        "[a-zA-Z0-9_-]\n",
                        argv[n], API_MAX_REQUEST_ID);
                goto out;
            }
            if (deploy) {
                char *rid = xstrndup(argv[n], (size_t)(slash - argv[n]));
                bool ok = api_request_id_valid(rid) && api_deploy_id_valid(slash + 1);
                free(rid);
                if (!ok) {
                    fprintf(ctx->err,
                            "corralctl delete: invalid deploy name \"%s\": REQUEST is 1-%d "
                            "characters of [a-zA-Z0-9_-], DEPLOY_ID 1-%d of [a-zA-Z0-9_.] (not "
                            "only dots)\n",
                            argv[n], API_MAX_REQUEST_ID, API_MAX_DEPLOY_ID);
                    goto out;
                }
            }
        }
        if (!cli_need_server(ctx, "delete")) {
            rc = CLI_ERROR;
            goto out;
        }
        rc = CLI_OK;
        for (int n = i + 1; n < argc; n++) {
            char *rid = xstrdup(argv[n]), *did = NULL;
            if (deploy) {
                did = strchr(rid, '/');
                *did++ = 0;
            }
            if (delete_one(ctx, deploy, rid, did, ignore_nf, message) < 0)
                rc = CLI_ERROR;
            free(rid);
        }
        goto out;
    }
    if (!cli_need_server(ctx, "delete")) {
        rc = CLI_ERROR;
        goto out;
    }
    rc = CLI_ERROR;
    m = load_all(ctx, "delete", &a);
    if (!m)
        goto out;
    rc = CLI_OK;
    for (size_t n = 0; n < m->n; n++)
        if (m->v[n].kind == API_OBJ_REQUEST &&
            delete_one(ctx, false, m->v[n].request->id, NULL, ignore_nf, message) < 0)
            rc = CLI_ERROR;
    for (size_t n = 0; n < m->n; n++) {
        const api_deploy *d = m->v[n].deploy;
        bool covered = false;
        json_t *parent = NULL;
        if (m->v[n].kind != API_OBJ_DEPLOY)
            continue;
        for (size_t q = 0; q < m->n; q++)
            if (m->v[q].kind == API_OBJ_REQUEST && strcmp(m->v[q].request->id, d->requestId) == 0)
                covered = true;
        if (covered)
            continue;
        /* Only a pending deploy can be deleted (cancelled). */
        if (get_parent(ctx, "delete", d->requestId, &parent) < 0) {
            rc = CLI_ERROR;
            continue;
        }
        const char *pending = deploy_id_of(parent, "pendingDeploy");
        if (pending && strcmp(pending, d->id) == 0) {
            if (delete_one(ctx, true, d->requestId, d->id, ignore_nf, message) < 0)
                rc = CLI_ERROR;
        } else {
            fprintf(ctx->out, "deploy/%s/%s unchanged (not pending; delete its request)\n",
                    d->requestId, d->id);
        }
        json_decref(parent);
    }
out:
    free(pos);
    api_manifest_free(m);
    margs_release(&a);
    return rc;
}
