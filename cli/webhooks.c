/* corralctl webhooks list|add|delete: /api/webhooks (docs/webhooks.md). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/http.h"
#include "cli/table.h"

void cli_help_webhooks(FILE *f)
{
    fprintf(f, "usage: corralctl [--server URL] webhooks list [-o json|yaml]\n"
               "       corralctl [--server URL] webhooks add --type TYPE --uri URL [--id ID]\n"
               "                 [--secret-file FILE]\n"
               "       corralctl [--server URL] webhooks delete ID\n\n"
               "Manages webhooks (admins only): list shows each webhook with its queue\n"
               "(GET /api/webhooks/summary), add registers one (POST /api/webhooks), delete\n"
               "removes it with its queue. TYPE is REQUEST, DEPLOY or TASK; $REQUEST_ID,\n"
               "$DEPLOY_ID and $TASK_ID in the URL are replaced per event. With a secret,\n"
               "every POST is signed: X-Corral-Signature: sha256=<HMAC-SHA256 of the body>.\n\n"
               "options:\n"
               "  -o, --output FORMAT   list: json or yaml: the whole summary\n"
               "      --type TYPE       add: REQUEST, DEPLOY or TASK\n"
               "      --uri URL         add: where to POST (http:// or https://)\n"
               "      --id ID           add: the webhook's id (default: derived from type and URL)\n"
               "      --secret-file F   add: sign with the first line of F\n"
               "  -h, --help            show this help\n");
}

static int list(cli_ctx *ctx, const char *format)
{
    static const char *const cols[] = {"ID", "TYPE", "URI", "QUEUED", "DROPPED", "FAILURES",
                                       "LAST ERROR"};
    cli_resp r = {0};
    cli_table *t;
    size_t i;
    const json_t *s;

    if (cli_http(ctx, "webhooks", "GET", "/api/webhooks/summary", NULL, 0, &r) < 0) {
        cli_resp_release(&r);
        return CLI_ERROR;
    }
    if (format) {
        cli_print_doc(ctx->out, r.body, format);
        cli_resp_release(&r);
        return CLI_OK;
    }
    t = cli_table_new(cols, 7);
    json_array_foreach (r.body, i, s) {
        const json_t *w = json_object_get(s, "webhook");
        const char *err = json_string_value(json_object_get(s, "lastError"));
        const char *invalid = json_string_value(json_object_get(s, "invalid"));
        const char *type = json_string_value(json_object_get(w, "type"));
        const char *uri = json_string_value(json_object_get(w, "uri"));
        cli_table_row(t);
        cli_table_cell(t, "%s", json_string_value(json_object_get(w, "id")));
        cli_table_cell(t, "%s", type ? type : "-");
        cli_table_cell(t, "%s", uri ? uri : "-");
        cli_table_cell(t, "%lld", (long long)json_integer_value(json_object_get(s, "queueSize")));
        cli_table_cell(t, "%lld", (long long)json_integer_value(json_object_get(s, "dropped")));
        cli_table_cell(t, "%lld", (long long)json_integer_value(json_object_get(s, "failures")));
        cli_table_cell(t, "%.60s", invalid ? invalid : err ? err : "-");
    }
    if (cli_table_rows(t)) {
        char *text = cli_table_render(t);
        fputs(text, ctx->out);
        free(text);
    } else {
        fprintf(ctx->out, "no webhooks\n");
    }
    cli_table_free(t);
    cli_resp_release(&r);
    return CLI_OK;
}

static char *read_secret(cli_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (!f) {
        fprintf(ctx->err, "corralctl webhooks: cannot read %s\n", path);
        return NULL;
    }
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) {
        fprintf(ctx->err, "corralctl webhooks: %s: the first line is empty\n", path);
        return NULL;
    }
    return strdup(line);
}

static int add(cli_ctx *ctx, const char *type, const char *uri, const char *id,
               const char *secret_file)
{
    cli_resp r = {0};
    json_t *body;
    char *secret = NULL;
    int rc = CLI_ERROR;

    if (!type || !uri) {
        fprintf(ctx->err, "corralctl webhooks add: --type and --uri are required\n");
        return CLI_USAGE;
    }
    if (secret_file && !(secret = read_secret(ctx, secret_file)))
        return CLI_ERROR;
    body = json_pack("{s:s,s:s}", "type", type, "uri", uri);
    if (id)
        json_object_set_new(body, "id", json_string(id));
    if (secret)
        json_object_set_new(body, "secret", json_string(secret));
    if (cli_http(ctx, "webhooks", "POST", "/api/webhooks", body, 0, &r) == 0) {
        /* the answer is a bare JSON string: "CREATED" or "EXISTED" */
        bool existed = r.raw && strstr(r.raw, "\"EXISTED\"");
        fprintf(ctx->out, "%s\n", existed ? "EXISTED" : "CREATED");
        rc = existed ? CLI_ERROR : CLI_OK;
        if (rc != CLI_OK)
            fprintf(ctx->err, "corralctl webhooks add: a webhook with that id exists (unchanged)\n");
    }
    json_decref(body);
    free(secret);
    cli_resp_release(&r);
    return rc;
}

static int del(cli_ctx *ctx, const char *id)
{
    cli_resp r = {0};
    char *esc = cli_url_escape(id);
    size_t n = strlen(esc) + 40;
    char *path = malloc(n);
    int rc = CLI_ERROR;

    snprintf(path, n, "/api/webhooks?webhookId=%s", esc);
    if (cli_http(ctx, "webhooks", "DELETE", path, NULL, 0, &r) == 0) {
        if (r.raw && strstr(r.raw, "\"DIDNT_EXIST\"")) {
            fprintf(ctx->err, "corralctl webhooks delete: no webhook %s\n", id);
        } else {
            fprintf(ctx->out, "webhook %s deleted\n", id);
            rc = CLI_OK;
        }
    }
    free(esc);
    free(path);
    cli_resp_release(&r);
    return rc;
}

int cli_cmd_webhooks(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {{"help", 'h', false, false},   {"output", 'o', true, false},
                                   {"type", 0, true, false},      {"uri", 0, true, false},
                                   {"id", 0, true, false},        {"secret-file", 0, true, false}};
    const char *vals[6] = {NULL};
    const char *pos[2] = {NULL};
    size_t npos = 0;
    int i = 1;

    while (i < argc) {
        const char *v = NULL;
        int k = cli_next_opt(argc, argv, &i, opts, 6, &v, ctx->err);
        if (k == -2)
            return CLI_USAGE;
        if (k == 0) {
            cli_help_webhooks(ctx->out);
            return CLI_OK;
        }
        if (k > 0) {
            vals[k] = v;
            continue;
        }
        if (npos == 2) {
            fprintf(ctx->err, "corralctl webhooks: too many arguments\n");
            return CLI_USAGE;
        }
        pos[npos++] = argv[i++];
    }
    if (!pos[0]) {
        fprintf(ctx->err, "corralctl webhooks: list, add or delete expected\n");
        return CLI_USAGE;
    }
    if (vals[1] && strcmp(vals[1], "json") != 0 && strcmp(vals[1], "yaml") != 0) {
        fprintf(ctx->err, "corralctl webhooks: -o must be json or yaml\n");
        return CLI_USAGE;
    }
    if (!cli_need_server(ctx, "webhooks"))
        return CLI_ERROR;
    if (strcmp(pos[0], "list") == 0 && npos == 1)
        return list(ctx, vals[1]);
    if (strcmp(pos[0], "add") == 0 && npos == 1)
        return add(ctx, vals[2], vals[3], vals[4], vals[5]);
    if (strcmp(pos[0], "delete") == 0 && npos == 2)
        return del(ctx, pos[1]);
    fprintf(ctx->err, "corralctl webhooks: list, add or delete ID expected\n");
    return CLI_USAGE;
}
