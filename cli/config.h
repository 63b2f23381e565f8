/* corralctl's config file: where the server is and how to prove who you
 * are, so commands need no flags.
 *
 * Path: $CORRAL_CONFIG, else $XDG_CONFIG_HOME/corral/config, else
 * ~/.config/corral/config. One setting per line, "name = value" or
 * "name: value", '#' comments:
 *
 *     server = https://corral.example.internal:7099
 *     token = crl_...
 *     ca-file = /etc/corral/ca.pem
 *
 * Settings: server, token, ca-file, cert, key. Flags win over the
 * environment ($CORRAL_SERVER, $CORRAL_TOKEN, ...), which wins over the
 * file. The file holds a secret: corralctl writes it with mode 600 and
 * warns when others may read it. */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <stdio.h>

struct cli_ctx;

typedef struct cli_config {
    char *path; /* the file read (or that would be), owned */
    char *server, *token, *ca_file, *cert, *key;
} cli_config;

/* The config file's path (caller frees), or NULL if no home is known. */
char *cli_config_path(void);

/* Reads the file into *c (zeroed first; release with cli_config_release).
 * A missing file is no error. Returns 0, or -1 with a message on err (a
 * line it does not understand, an unknown setting). */
int cli_config_load(cli_config *c, FILE *err);
void cli_config_release(cli_config *c);

/* corralctl config view | set NAME VALUE | unset NAME | path */
int cli_cmd_config(struct cli_ctx *ctx, int argc, char **argv);
void cli_help_config(FILE *f);

#endif
