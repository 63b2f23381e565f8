/* corralctl's logic (cmd/corralctl/main.c only calls cli_main).
 *
 * Commands are entries of one table (name, summary, run, help); online
 * commands (apply against --server, get, delete, ...) are added as further
 * entries. Exit codes: CLI_OK 0, CLI_ERROR 1 (the command failed, or found
 * problems), CLI_USAGE 2 (bad command line). Every command takes --help.
 * Output goes to ctx->out, diagnostics to ctx->err; nothing is global, so
 * tests can call cli_main repeatedly. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/version.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

typedef struct cli_ctx {
    FILE *out;          /* borrowed */
    FILE *err;          /* borrowed */
    const char *server; /* --server URL (global option), else $CORRAL_SERVER, else NULL */
    /* TLS to an https:// server (flags, else environment, else settings file). */
    const char *ca_file;    /* --ca-file, $CORRAL_CA_FILE: the CA instead of the system's */
    const char *cert, *key; /* --cert/--key, $CORRAL_CERT/$CORRAL_KEY: client certificate */
    bool insecure;          /* --insecure-skip-tls-verify: no check of the server */
    const char *token;      /* --token, $CORRAL_TOKEN: sent as "Authorization: Bearer" */
} cli_ctx;

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for the command list */
    /* argv[0] is the command name. Returns CLI_OK / CLI_ERROR / CLI_USAGE. */
    int (*run)(cli_ctx *ctx, int argc, char **argv);
    void (*help)(FILE *f);
} cli_command;

/* Runs corralctl with argv (argv[0] = program name). */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/* The command table (borrowed, static). */
const cli_command *cli_commands(size_t *n);
const cli_command *cli_find_command(const char *name);

/* ---- option parsing shared by commands ---------------------------------- */

/* One option: long name ("filename"), short letter (0 if none), whether it
 * takes a value, and whether the value is optional ("--dry-run" alone). */
typedef struct cli_opt {
    const char *name;
    char short_name;
    bool has_value;
    bool value_optional;
} cli_opt;

/* Iterates options of argv starting at *i (1 = first after the command).
 * Returns the index into opts of the option found and sets *value (borrowed;
 * NULL if none), -1 at the end of options (*i then indexes the first
 * positional argument), or -2 on a usage error (message printed to err).
 * Accepts --name=value, --name value, -x value, -xvalue and "--". */
int cli_next_opt(int argc, char **argv, int *i, const cli_opt *opts, size_t nopts,
                 const char **value, FILE *err);

/* Command implementations (cli/apply.c). */
int cli_cmd_apply(cli_ctx *ctx, int argc, char **argv);
void cli_help_apply(FILE *f);
int cli_cmd_validate(cli_ctx *ctx, int argc, char **argv);
void cli_help_validate(FILE *f);
int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv);
void cli_help_diff(FILE *f);
int cli_cmd_delete(cli_ctx *ctx, int argc, char **argv);
void cli_help_delete(FILE *f);

/* Online commands (cli/online.c); each needs ctx->server. */
int cli_cmd_get(cli_ctx *ctx, int argc, char **argv);
void cli_help_get(FILE *f);
int cli_cmd_describe(cli_ctx *ctx, int argc, char **argv);
void cli_help_describe(FILE *f);
int cli_cmd_scale(cli_ctx *ctx, int argc, char **argv);
void cli_help_scale(FILE *f);
int cli_cmd_pause(cli_ctx *ctx, int argc, char **argv);
void cli_help_pause(FILE *f);
int cli_cmd_unpause(cli_ctx *ctx, int argc, char **argv);
void cli_help_unpause(FILE *f);
int cli_cmd_bounce(cli_ctx *ctx, int argc, char **argv);
void cli_help_bounce(FILE *f);
int cli_cmd_run(cli_ctx *ctx, int argc, char **argv);
void cli_help_run(FILE *f);
int cli_cmd_kill(cli_ctx *ctx, int argc, char **argv);
void cli_help_kill(FILE *f);
int cli_cmd_history(cli_ctx *ctx, int argc, char **argv);
void cli_help_history(FILE *f);
int cli_cmd_logs(cli_ctx *ctx, int argc, char **argv);
void cli_help_logs(FILE *f);
int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv);
void cli_help_watch(FILE *f);
int cli_cmd_wait(cli_ctx *ctx, int argc, char **argv);
void cli_help_wait(FILE *f);
/* Machine changes (cli/machines.c): agent|rack ID. */
int cli_cmd_decommission(cli_ctx *ctx, int argc, char **argv);
void cli_help_decommission(FILE *f);
int cli_cmd_freeze(cli_ctx *ctx, int argc, char **argv);
void cli_help_freeze(FILE *f);
int cli_cmd_activate(cli_ctx *ctx, int argc, char **argv);
void cli_help_activate(FILE *f);
int cli_cmd_state(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_auth(cli_ctx *ctx, int argc, char **argv);
/* cli/source.c: GitOps Sources (docs/gitops.md). */
int cli_cmd_source(cli_ctx *ctx, int argc, char **argv);
void cli_help_source(FILE *f);
/* diff --source NAME: prints the Source's drift; 0 none, 1 drift, 2 error. */
int cli_diff_source(cli_ctx *ctx, const char *name);
void cli_help_auth(FILE *f);
void cli_help_state(FILE *f);
/* cli/webhooks.c: webhooks list|add|delete (docs/webhooks.md). */
int cli_cmd_webhooks(cli_ctx *ctx, int argc, char **argv);
void cli_help_webhooks(FILE *f);

/* Whether corralctl `client` and corrald `server` ("1.2.3") may work
 * together: same major release, minor releases at most one apart. */
bool cli_version_skew_ok(const char *client, const char *server);

#endif
