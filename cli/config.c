/* corralctl's config file; see config.h. */
#include "cli/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "cli/cli.h"

static const char *const names[] = {"server", "token", "ca-file", "cert", "key"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static char **slot(cli_config *c, size_t i)
{
    char **slots[NNAMES] = {&c->server, &c->token, &c->ca_file, &c->cert, &c->key};
    return slots[i];
}

static int name_index(const char *name)
{
    for (size_t i = 0; i < NNAMES; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

char *cli_config_path(void)
{
    const char *v = getenv("CORRAL_CONFIG");

    if (v && *v)
        return xstrdup(v);
    if ((v = getenv("XDG_CONFIG_HOME")) && *v)
        return xasprintf("%s/corral/config", v);
    if ((v = getenv("HOME")) && *v)
        return xasprintf("%s/.config/corral/config", v);
    return NULL;
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (e - s >= 2 && (*s == '"' || *s == '\'') && e[-1] == *s) {
        e[-1] = '\0';
        s++;
    }
    return s;
}

/* Parses text into c; -1 with a message naming file:line. */
static int parse(cli_config *c, char *text, FILE *err)
{
    int lineno = 0;

    for (char *line = text, *next; line; line = next) {
        char *sep, *name;
        int k;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (*trim(line) == '#' || !*trim(line))
            continue;
        sep = strpbrk(line, "=:");
        if (!sep) {
            fprintf(err, "corralctl: %s:%d: expected 'name = value'\n", c->path, lineno);
            return -1;
        }
        *sep = '\0';
        name = trim(line);
        if ((k = name_index(name)) < 0) {
            fprintf(err, "corralctl: %s:%d: unknown setting '%s' (server, token, ca-file, "
                         "cert, key)\n",
                    c->path, lineno, name);
            return -1;
        }
        free(*slot(c, (size_t)k));
        *slot(c, (size_t)k) = *trim(sep + 1) ? xstrdup(trim(sep + 1)) : NULL;
    }
    return 0;
}

static char *read_all(FILE *f)
{
    cr_buf b = CR_BUF_INIT;
    char chunk[4096];
    size_t n;

    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    cr_buf_addch(&b, '\0');
    return cr_buf_detach(&b, NULL);
}

int cli_config_load(cli_config *c, FILE *err)
{
    struct stat st;
    char *text;
    FILE *f;
    int rc;

    memset(c, 0, sizeof(*c));
    if (!(c->path = cli_config_path()))
        return 0;
    if (!(f = fopen(c->path, "r"))) {
        if (errno == ENOENT)
            return 0;
        fprintf(err, "corralctl: %s: %s\n", c->path, strerror(errno));
        return -1;
    }
    text = read_all(f);
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) && strstr(text, "token"))
        fprintf(err, "corralctl: warning: %s holds a token and others may read it; chmod 600 it\n",
                c->path);
    fclose(f);
    rc = parse(c, text, err);
    free(text);
    return rc;
}

void cli_config_release(cli_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NNAMES; i++)
        free(*slot(c, i));
    free(c->path);
    memset(c, 0, sizeof(*c));
}

/* Writes c to its path (directories made, mode 600, replaced atomically). */
static int save(const cli_config *c, FILE *err)
{
    char *tmp = xasprintf("%s.tmp", c->path), *dir = xstrdup(c->path), *slash;
    cr_buf b = CR_BUF_INIT;
    int fd, rc = -1;

    if ((slash = strrchr(dir, '/')) && slash != dir) {
        *slash = '\0';
        /* ~/.config/corral: make its parent too */
        char *parent = xstrdup(dir), *ps = strrchr(parent, '/');
        if (ps && ps != parent) {
            *ps = '\0';
            mkdir(parent, 0700);
        }
        free(parent);
        mkdir(dir, 0700);
    }
    cr_buf_adds(&b, "# corralctl settings (corralctl config --help)\n");
    for (size_t i = 0; i < NNAMES; i++) {
        const char *v = *slot((cli_config *)c, i);
        if (v)
            cr_buf_addf(&b, "%s = %s\n", names[i], v);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) < 0) {
        fprintf(err, "corralctl config: cannot write %s: %s\n", tmp, strerror(errno));
    } else if (rename(tmp, c->path) < 0) {
        fprintf(err, "corralctl config: cannot replace %s: %s\n", c->path, strerror(errno));
    } else {
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    cr_buf_release(&b);
    free(tmp);
    free(dir);
    return rc;
}

void cli_help_config(FILE *f)
{
    fprintf(f, "usage: corralctl config view\n"
               "       corralctl config set NAME VALUE\n"
               "       corralctl config unset NAME\n"
               "       corralctl config path\n"
               "\n"
               "corralctl's settings file ($CORRAL_CONFIG, else ~/.config/corral/config;\n"
               "written with mode 600). NAME is server, token, ca-file, cert or key. Flags\n"
               "and the environment ($CORRAL_SERVER, $CORRAL_TOKEN, $CORRAL_CA_FILE,\n"
               "$CORRAL_CERT, $CORRAL_KEY) win over the file. 'view' hides the token.\n");
}

int cli_cmd_config(cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    cli_config c;
    int k, rc = CLI_OK;

    if (!sub || strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        cli_help_config(sub ? ctx->out : ctx->err);
        return sub ? CLI_OK : CLI_USAGE;
    }
    if (cli_config_load(&c, ctx->err) < 0) { /* fix it first: never drop its lines */
        cli_config_release(&c);
        return CLI_ERROR;
    }
    if (!c.path) {
        fprintf(ctx->err, "corralctl config: no config path: set $CORRAL_CONFIG or $HOME\n");
        cli_config_release(&c);
        return CLI_ERROR;
    }
    if (strcmp(sub, "path") == 0 && argc == 2) {
        fprintf(ctx->out, "%s\n", c.path);
    } else if (strcmp(sub, "view") == 0 && argc == 2) {
        for (size_t i = 0; i < NNAMES; i++) {
            const char *v = *slot(&c, i);
            if (v)
                fprintf(ctx->out, "%s = %s\n", names[i], i == 1 ? "(set, hidden)" : v);
        }
    } else if ((strcmp(sub, "set") == 0 && argc == 4) || (strcmp(sub, "unset") == 0 && argc == 3)) {
        if ((k = name_index(argv[2])) < 0) {
            fprintf(ctx->err, "corralctl config: unknown setting '%s' (server, token, ca-file, "
                              "cert, key)\n",
                    argv[2]);
            rc = CLI_USAGE;
        } else if (argc == 4 && strpbrk(argv[3], "\n\r")) {
            fprintf(ctx->err, "corralctl config: a value may not contain a line break\n");
            rc = CLI_USAGE;
        } else {
            free(*slot(&c, (size_t)k));
            *slot(&c, (size_t)k) = argc == 4 && *argv[3] ? xstrdup(argv[3]) : NULL;
            rc = save(&c, ctx->err) == 0 ? CLI_OK : CLI_ERROR;
        }
    } else {
        cli_help_config(ctx->err);
        rc = CLI_USAGE;
    }
    cli_config_release(&c);
    return rc;
}
