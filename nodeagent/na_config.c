#include "nodeagent/na_config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

typedef enum { T_STR, T_BOOL, T_LONG } type;

typedef struct setting {
    const char *name;
    type t;
    size_t off;
    long min; /* T_LONG */
} setting;

#define S(name, t, field, min)                   \
    {                                            \
        name, t, offsetof(na_config, field), min \
    }
static const setting settings[] = {
    S("listen", T_STR, listen, 0),
    S("work-dir", T_STR, work_dir, 0),
    S("corrald", T_STR, corrald, 0),
    S("token-file", T_STR, token_file, 0),
    S("ca-file", T_STR, ca_file, 0),
    S("log-level", T_STR, log_level, 0),
    S("log-format", T_STR, log_format, 0),
    S("scan-interval-ms", T_LONG, scan_interval_ms, 10),
    S("poll-interval-ms", T_LONG, poll_interval_ms, 10),
    S("s3-bucket", T_STR, s3_bucket, 0),
    S("s3-prefix", T_STR, s3_prefix, 0),
    S("s3-key-pattern", T_STR, s3_key_pattern, 0),
    S("s3-endpoint", T_STR, s3_endpoint, 0),
    S("s3-region", T_STR, s3_region, 0),
    S("s3-path-style", T_BOOL, s3_path_style, 0),
    S("upload-interval-ms", T_LONG, upload_interval_ms, 10),
    S("part-size-mb", T_LONG, part_size_mb, 5),
    S("multipart-threshold-mb", T_LONG, multipart_threshold_mb, 5),
    S("disk-budget-mb", T_LONG, disk_budget_mb, 0),
    S("no-cleanup", T_BOOL, no_cleanup, 0),
    S("retention-s", T_LONG, retention_s, 0),
    S("no-oom-killer", T_BOOL, no_oom_killer, 0),
    S("oom-threshold-pct", T_LONG, oom_threshold_pct, 1),
    S("oom-window-ms", T_LONG, oom_window_ms, 0),
    S("oom-interval-ms", T_LONG, oom_interval_ms, 10),
    S("cgroup-root", T_STR, cgroup_root, 0),
    S("help", T_BOOL, help, 0),
};
#undef S

const char *na_config_usage(void)
{
    return "usage: corral-nodeagent --work-dir DIR [options]\n"
           "\n"
           "Corral's per-agent services: follows and serves task logs, archives them to\n"
           "S3, removes old sandboxes and kills tasks before they run out of memory.\n"
           "See docs/nodeagent.md.\n"
           "\n"
           "  --work-dir DIR[,DIR]          the Mesos agents' --work_dir (required)\n"
           "  --listen HOST:PORT            HTTP address (127.0.0.1:7100)\n"
           "  --config FILE                 read settings from FILE (name: value lines;\n"
           "                                flags given on the command line win)\n"
           "  --corrald URL                 corrald's API: upload records, task lookups\n"
           "  --token-file FILE             bearer token for corrald (mode 600)\n"
           "  --ca-file FILE                CA bundle for corrald's certificate\n"
           "  --log-level LEVEL             debug, info, warn or error (info)\n"
           "  --log-format FORMAT           text, logfmt or json (text)\n"
           "  --scan-interval-ms N          sandbox scan period (2000)\n"
           "  --poll-interval-ms N          follow streams re-read their file (100)\n"
           "  --s3-bucket NAME              archive logs to this bucket (off without it)\n"
           "  --s3-prefix P                 key prefix ('')\n"
           "  --s3-key-pattern PAT          key of each file (%prefix/%requestId/%taskId/%file;\n"
           "                                also %deployId, %agentId, %host)\n"
           "  --s3-endpoint URL             (https://s3.amazonaws.com, or CORRAL_S3_ENDPOINT)\n"
           "  --s3-region R                 (us-east-1, or AWS_REGION)\n"
           "  --s3-path-style               endpoint/bucket/key URLs (or CORRAL_S3_PATH_STYLE)\n"
           "  --upload-interval-ms N        how often uploads are looked for (5000)\n"
           "  --part-size-mb N              multipart part size (8, at least 5)\n"
           "  --multipart-threshold-mb N    larger files go multipart (16)\n"
           "  --disk-budget-mb N            uploaded rotated logs kept on disk (1024)\n"
           "  --retention-s N               remove sandboxes of ended tasks after (86400)\n"
           "  --no-cleanup                  never remove sandboxes or kill leftovers\n"
           "  --oom-threshold-pct N         kill above N% of memoryMb for the window (95)\n"
           "  --oom-window-ms N             (5000); above 100% kills at once\n"
           "  --oom-interval-ms N           memory check period (1000)\n"
           "  --no-oom-killer               never kill for memory\n"
           "  --cgroup-root DIR             cgroup v2 mount (/sys/fs/cgroup)\n"
           "  --help                        print this help\n"
           "S3 credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n";
}

void na_config_init(na_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = xstrdup("127.0.0.1:7100");
    c->log_level = xstrdup("info");
    c->log_format = xstrdup("text");
    c->scan_interval_ms = 2000;
    c->poll_interval_ms = 100;
    c->s3_prefix = xstrdup("");
    c->s3_key_pattern = xstrdup("%prefix/%requestId/%taskId/%file");
    c->upload_interval_ms = 5000;
    c->part_size_mb = 8;
    c->multipart_threshold_mb = 16;
    c->disk_budget_mb = 1024;
    c->retention_s = 86400;
    c->oom_threshold_pct = 95;
    c->oom_window_ms = 5000;
    c->oom_interval_ms = 1000;
    c->cgroup_root = xstrdup("/sys/fs/cgroup");
}

void na_config_release(na_config *c)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (settings[i].t == T_STR)
            free(*(char **)((char *)c + settings[i].off));
    memset(c, 0, sizeof(*c));
}

int na_config_set(na_config *c, const char *name, const char *value, const char *where, cr_err *err)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const setting *s = &settings[i];
        void *p = (char *)c + s->off;
        char *end;
        long long v;

        if (strcmp(s->name, name) != 0)
            continue;
        switch (s->t) {
        case T_STR:
            if (!value)
                return cr_error(err, CR_EINVAL, "%s: %s needs a value", where, name);
            free(*(char **)p);
            *(char **)p = xstrdup(value);
            return 0;
        case T_BOOL:
            if (!value || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
                *(bool *)p = true;
            else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
                *(bool *)p = false;
            else
                return cr_error(err, CR_EINVAL, "%s: %s must be true or false, not '%s'", where,
                                name, value);
            return 0;
        case T_LONG:
            if (!value || !*value)
                return cr_error(err, CR_EINVAL, "%s: %s needs a value", where, name);
            errno = 0;
            v = strtoll(value, &end, 10);
            if (errno || *end || v < s->min || v > 1000000000LL)
                return cr_error(err, CR_EINVAL, "%s: %s must be an integer >= %ld, not '%s'", where,
                                name, s->min, value);
            *(long *)p = (long)v;
            return 0;
        }
    }
    return cr_error(err, CR_EINVAL, "%s: unknown setting '%s'", where, name);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (e - s >= 2 && ((s[0] == '"' && e[-1] == '"') || (s[0] == '\'' && e[-1] == '\''))) {
        e[-1] = '\0';
        s++;
    }
    return s;
}

int na_config_load_file(na_config *c, const char *path, cr_err *err)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = 0;

    if (!f)
        return cr_error(err, CR_EINVAL, "config '%s': %s", path, strerror(errno));
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *hash, *sep, *name, *value, where[512];
        lineno++;
        hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        name = trim(line);
        if (!*name)
            continue;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        sep = strpbrk(name, ":=");
        if (!sep) {
            rc = cr_error(err, CR_EINVAL, "%s: want 'name: value'", where);
            break;
        }
        *sep = '\0';
        value = trim(sep + 1);
        name = trim(name);
        rc = na_config_set(c, name, value, where, err);
    }
    fclose(f);
    return rc;
}

static bool is_bool(const char *name)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (strcmp(settings[i].name, name) == 0)
            return settings[i].t == T_BOOL;
    return false;
}

int na_config_parse_args(na_config *c, int argc, char **argv, cr_err *err)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            if (na_config_load_file(c, argv[i + 1], err) < 0)
                return -1;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            if (na_config_load_file(c, argv[i] + 9, err) < 0)
                return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64], where[80];
        const char *eq, *value = NULL;

        if (strncmp(a, "--", 2) != 0 || strlen(a) < 3)
            return cr_error(err, CR_EINVAL, "unexpected argument '%s'", a);
        a += 2;
        eq = strchr(a, '=');
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        if (strcmp(name, "h") == 0)
            snprintf(name, sizeof(name), "help");
        if (strcmp(name, "config") == 0) {
            i += eq ? 0 : 1;
            continue;
        }
        snprintf(where, sizeof(where), "--%s", name);
        if (eq)
            value = eq + 1;
        else if (!is_bool(name) && i + 1 < argc)
            value = argv[++i];
        if (na_config_set(c, name, value, where, err) < 0)
            return -1;
    }
    if (c->help)
        return 0;
    if (!c->work_dir || !*c->work_dir)
        return cr_error(err, CR_EINVAL, "--work-dir: required (the Mesos agent's --work_dir)");
    if (c->oom_threshold_pct > 100)
        return cr_error(err, CR_EINVAL, "--oom-threshold-pct: at most 100");
    return 0;
}
