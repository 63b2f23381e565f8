#include "executor/exe_env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

int exe_taskid_parse(const char *id, exe_taskid *out)
{
    exe_taskid t;
    char *parts[6];
    size_t len = strlen(id);

    if (len == 0 || len >= sizeof(t.buf))
        return -1;
    memcpy(t.buf, id, len + 1);
    /* Split the five right-most '-' separators; what is left is requestId. */
    for (int k = 5; k >= 1; k--) {
        char *dash = strrchr(t.buf, '-');
        if (!dash || dash == t.buf)
            return -1;
        *dash = '\0';
        parts[k] = dash + 1;
    }
    parts[0] = t.buf;
    for (int k = 0; k < 6; k++)
        if (!*parts[k])
            return -1;
    for (const char *c = parts[2]; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    for (const char *c = parts[3]; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    t.request_id = parts[0];
    t.deploy_id = parts[1];
    t.started_at = parts[2];
    t.instance_no = parts[3];
    t.host = parts[4];
    t.rack = parts[5];
    *out = t;
    /* Re-point into out's own buffer. */
    out->request_id = out->buf + (t.request_id - t.buf);
    out->deploy_id = out->buf + (t.deploy_id - t.buf);
    out->started_at = out->buf + (t.started_at - t.buf);
    out->instance_no = out->buf + (t.instance_no - t.buf);
    out->host = out->buf + (t.host - t.buf);
    out->rack = out->buf + (t.rack - t.buf);
    return 0;
}

typedef struct envset {
    exe_env_var *v;
    size_t n;
} envset;

static void env_set(envset *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].name, name) == 0) {
            free(e->v[i].value);
            e->v[i].value = xstrdup(value);
            return;
        }
    e->v = xrealloc(e->v, (e->n + 1) * sizeof(exe_env_var));
    e->v[e->n].name = xstrdup(name);
    e->v[e->n].value = xstrdup(value);
    e->n++;
}

const char *exe_env_get(const exe_env_var *env, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(env[i].name, name) == 0)
            return env[i].value;
    return NULL;
}

/* Expands ${NAME} when NAME is one of the task variables in vars; other
 * text (including $NAME and unknown ${X}) is left for the shell. */
static char *expand(const char *s, const envset *vars)
{
    cr_buf b = CR_BUF_INIT;

    cr_buf_init(&b);
    while (*s) {
        const char *end;
        if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}'))) {
            char name[128];
            size_t n = (size_t)(end - (s + 2));
            const char *val = NULL;
            if (n < sizeof(name)) {
                memcpy(name, s + 2, n);
                name[n] = '\0';
                val = exe_env_get(vars->v, vars->n, name);
            }
            if (val) {
                cr_buf_adds(&b, val);
                s = end + 1;
                continue;
            }
        }
        cr_buf_addch(&b, *s++);
    }
    return cr_buf_detach(&b, NULL);
}

exe_env_var *exe_env_build(const exe_env_ctx *ctx, size_t *n)
{
    const exe_task *t = ctx->task;
    envset e = {NULL, 0}, task_vars;
    exe_taskid tid;
    char num[32];
    const char *started_by = NULL;
    bool have_tid = exe_taskid_parse(t->task_id, &tid) == 0;

    env_set(&e, "TASK_ID", t->task_id);
    if (have_tid) {
        env_set(&e, "TASK_REQUEST_ID", tid.request_id);
        env_set(&e, "TASK_DEPLOY_ID", tid.deploy_id);
        env_set(&e, "INSTANCE_NO", tid.instance_no);
        env_set(&e, "TASK_INSTANCE_NO", tid.instance_no);
        env_set(&e, "TASK_STARTED_AT", tid.started_at);
    } else if (t->name) {
        env_set(&e, "TASK_REQUEST_ID", t->name);
    }
    if (!have_tid) {
        snprintf(num, sizeof(num), "%lld", (long long)ctx->started_at_ms);
        env_set(&e, "TASK_STARTED_AT", num);
    }
    if (ctx->host)
        env_set(&e, "TASK_HOST", ctx->host);
    else if (have_tid)
        env_set(&e, "TASK_HOST", tid.host);
    if (ctx->rack)
        env_set(&e, "TASK_RACK_ID", ctx->rack);
    else if (have_tid)
        env_set(&e, "TASK_RACK_ID", tid.rack);
    if (exe_env_get(e.v, e.n, "TASK_RACK_ID"))
        env_set(&e, "AVAILABILITY_ZONE", exe_env_get(e.v, e.n, "TASK_RACK_ID"));
    for (size_t i = 0; i < t->n_ports; i++) {
        char name[32];
        snprintf(name, sizeof(name), "PORT%zu", i);
        snprintf(num, sizeof(num), "%d", t->ports[i]);
        env_set(&e, name, num);
        if (i == 0)
            env_set(&e, "PORT", num);
    }

    /* Snapshot the task variables for ${...} expansion. */
    task_vars.n = e.n;
    task_vars.v = xcalloc(e.n + 1, sizeof(exe_env_var));
    for (size_t i = 0; i < e.n; i++) {
        task_vars.v[i].name = xstrdup(e.v[i].name);
        task_vars.v[i].value = xstrdup(e.v[i].value);
    }
    for (int pass = 0; pass < 2; pass++) {
        const exe_env_var *src = pass == 0 ? t->env : t->data.env;
        size_t cnt = pass == 0 ? t->n_env : t->data.n_env;
        for (size_t i = 0; i < cnt; i++) {
            char *v;
            if (strcmp(src[i].name, "STARTED_BY_USER") == 0) {
                if (pass == 0)
                    started_by = src[i].value;
                continue;
            }
            v = expand(src[i].value, &task_vars);
            env_set(&e, src[i].name, v);
            free(v);
        }
    }
    if (started_by)
        env_set(&e, "STARTED_BY_USER", started_by);
    exe_env_free(task_vars.v, task_vars.n);
    *n = e.n;
    return e.v;
}

void exe_env_free(exe_env_var *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(env[i].name);
        free(env[i].value);
    }
    free(env);
}

char *exe_sh_quote(const char *s)
{
    cr_buf b = CR_BUF_INIT;

    cr_buf_init(&b);
    cr_buf_addch(&b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            cr_buf_adds(&b, "'\\''");
        else
            cr_buf_addch(&b, *s);
    }
    cr_buf_addch(&b, '\'');
    return cr_buf_detach(&b, NULL);
}

static bool valid_env_name(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

char *exe_runner_script(const exe_data *d, const exe_env_var *env, size_t n, const char *workdir)
{
    cr_buf b = CR_BUF_INIT, cmd = CR_BUF_INIT;
    char *q;

    cr_buf_init(&b);
    cr_buf_init(&cmd);
    cr_buf_adds(&cmd, d->cmd);
    for (size_t i = 0; i < d->n_extra_args; i++) {
        q = exe_sh_quote(d->extra_args[i]);
        cr_buf_addf(&cmd, " %s", q);
        free(q);
    }

    cr_buf_adds(&b, "#!/bin/sh\n"
                    "# Written by corral-executor: sets up the task's environment and\n"
                    "# execs its command. stdout and stderr are pipes read by the executor.\n");
    for (size_t i = 0; i < n; i++) {
        if (!valid_env_name(env[i].name)) {
            cr_buf_addf(&b, "# skipped variable with an invalid name\n");
            continue;
        }
        q = exe_sh_quote(env[i].value);
        cr_buf_addf(&b, "export %s=%s\n", env[i].name, q);
        free(q);
    }
    q = exe_sh_quote(workdir);
    cr_buf_addf(&b, "mkdir -p %s/tmp 2>/dev/null\ncd %s || exit 127\n", q, q);
    free(q);
    if (d->max_open_files > 0)
        cr_buf_addf(&b, "ulimit -Sn %lld || exit 126\n", (long long)d->max_open_files);
    q = exe_sh_quote(cmd.data);
    if (d->user) {
        char *u = exe_sh_quote(d->user);
        cr_buf_addf(
            &b,
            "if [ \"$(id -u)\" = 0 ]; then\n"
            "  chown -R %s . || exit 126\n"
            "  export HOME=\"$(getent passwd %s | cut -d: -f6)\" USER=%s LOGNAME=%s\n"
            "  exec setpriv --reuid=%s --regid=\"$(id -g %s)\" --init-groups /bin/sh -c %s\n"
            "fi\n",
            u, u, u, u, u, u, q);
        free(u);
    }
    cr_buf_addf(&b, "exec /bin/sh -c %s\n", q);
    free(q);
    cr_buf_release(&cmd);
    return cr_buf_detach(&b, NULL);
}
