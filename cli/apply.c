/* corralctl apply (offline half) and validate. */
#include <stdlib.h>
#include <string.h>

#include "apis/manifest.h"
#include "apis/yaml.h"
#include "base/xalloc.h"
#include "cli/cli.h"

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
    return m;
}

/* ---- apply ----------------------------------------------------------------- */

void cli_help_apply(FILE *f)
{
    fprintf(f, "usage: corralctl apply -f FILE|DIR|- [options]\n\n"
               "Applies Request and Deploy manifests (see docs/manifests.md). Offline,\n"
               "--dry-run=client loads and validates them and prints the objects it\n"
               "would apply, Requests first, without contacting a server.\n\n"
               "options:\n" MANIFEST_HELP
               "      --dry-run[=MODE]    client (default when given): print, do not apply\n"
               "  -o, --output FORMAT     json or yaml: print the objects as a list of\n"
               "                          envelopes; default: one line per object\n");
}

int cli_cmd_apply(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        MANIFEST_OPTS, {"dry-run", 0, true, true}, {"output", 'o', true, false}};
    enum { O_DRY = O_NMANIFEST, O_OUT };
    manifest_args a = {0};
    const char *dry = NULL, *output = NULL, *v;
    api_manifest *m = NULL;
    int rc = CLI_USAGE, i = 1, k;

    while ((k = cli_next_opt(argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v, ctx->err)) >=
           0) {
        if (k == O_HELP) {
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
        /* The online half (a later issue) adds the server round trip here. */
        fprintf(ctx->err, "corralctl apply: applying to a server is not available in this build; "
                          "use --dry-run=client\n");
        rc = CLI_ERROR;
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
            }
        }
    }
    rc = CLI_OK;
out:
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
    size_t nr = 0, nd = 0;
    for (size_t n = 0; n < m->n; n++) {
        if (m->v[n].kind == API_OBJ_REQUEST)
            nr++;
        else
            nd++;
    }
    fprintf(ctx->out, "ok: %zu request%s, %zu deploy%s\n", nr, nr == 1 ? "" : "s", nd,
            nd == 1 ? "" : "s");
    rc = CLI_OK;
out:
    api_manifest_free(m);
    margs_release(&a);
    return rc;
}
