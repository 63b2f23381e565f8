/* Task shell commands, the executor's side; see exe_shell.h. */
#include "executor/exe_shell.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

static char **strv_from_json(const json_t *a)
{
    size_t i;
    const json_t *v;
    char **out = xcalloc(json_array_size(a) + 1, sizeof(char *));
    size_t n = 0;
    json_array_foreach (a, i, v) {
        if (json_is_string(v))
            out[n++] = xstrdup(json_string_value(v));
    }
    return out;
}

void exe_shell_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static bool all_strings(const json_t *a)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(a))
        return false;
    json_array_foreach (a, i, v) {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

int exe_shell_conf_parse(exe_shell_conf *c, const json_t *config, cr_err *err)
{
    const json_t *cmds = json_object_get(config, "shellCommands"), *d;
    const json_t *out = json_object_get(config, "shellCommandOutFile");
    size_t i;

    memset(c, 0, sizeof(*c));
    if (out && !json_is_null(out)) {
        if (!json_is_string(out) || !*json_string_value(out) || strchr(json_string_value(out), '/'))
            return cr_error(err, CR_EINVAL,
                            "shellCommandOutFile: must be a file name (no '/'), not '%s'",
                            json_is_string(out) ? json_string_value(out) : "(not a string)");
        c->out_file = xstrdup(json_string_value(out));
    }
    if (!cmds || json_is_null(cmds))
        return 0;
    if (!json_is_array(cmds)) {
        exe_shell_conf_release(c);
        return cr_error(err, CR_EINVAL, "shellCommands: must be a list");
    }
    c->defs = xcalloc(json_array_size(cmds) + 1, sizeof(*c->defs));
    json_array_foreach (cmds, i, d) {
        const json_t *name = json_object_get(d, "name"), *argv = json_object_get(d, "command");
        const json_t *opts = json_object_get(d, "options"), *o;
        size_t k;
        if (!json_is_string(name) || !*json_string_value(name)) {
            exe_shell_conf_release(c);
            return cr_error(err, CR_EINVAL, "shellCommands[%zu].name: required", i);
        }
        if (!all_strings(argv) || !json_array_size(argv)) {
            exe_shell_conf_release(c);
            return cr_error(err, CR_EINVAL,
                            "shellCommands[%zu].command: must be a non-empty list of strings", i);
        }
        exe_shell_def *def = &c->defs[c->n++];
        def->name = xstrdup(json_string_value(name));
        def->argv = strv_from_json(argv);
        if (opts && !json_is_array(opts)) {
            exe_shell_conf_release(c);
            return cr_error(err, CR_EINVAL, "shellCommands[%zu].options: must be a list", i);
        }
        def->options = xcalloc(json_array_size(opts) + 1, sizeof(*def->options));
        json_array_foreach (opts, k, o) {
            const json_t *on = json_object_get(o, "name"), *of = json_object_get(o, "flag");
            if (!json_is_string(on) || !json_is_string(of)) {
                exe_shell_conf_release(c);
                return cr_error(err, CR_EINVAL,
                                "shellCommands[%zu].options[%zu]: must be {name, flag}", i, k);
            }
            def->options[def->n_options].name = xstrdup(json_string_value(on));
            def->options[def->n_options++].flag = xstrdup(json_string_value(of));
        }
    }
    return 0;
}

void exe_shell_conf_release(exe_shell_conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->defs[i].name);
        exe_shell_argv_free(c->defs[i].argv);
        for (size_t k = 0; k < c->defs[i].n_options; k++) {
            free(c->defs[i].options[k].name);
            free(c->defs[i].options[k].flag);
        }
        free(c->defs[i].options);
    }
    free(c->defs);
    free(c->out_file);
    memset(c, 0, sizeof(*c));
}

static char *opt_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int exe_shell_req_parse(exe_shell_req *r, const char *data, size_t len, cr_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    const json_t *sc, *ts, *opts;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(j)) {
        json_decref(j);
        return cr_error(err, CR_EPARSE, "framework message: not a JSON object");
    }
    sc = json_object_get(j, "shellCommand");
    ts = json_object_get(j, "timestamp");
    if (!json_is_object(sc) || !json_is_string(json_object_get(sc, "name")) ||
        !json_is_integer(ts) || !json_object_get(j, "taskId")) {
        json_decref(j);
        return cr_error(err, CR_EINVAL,
                        "framework message: not a shell command request (taskId, timestamp, "
                        "shellCommand.name required)");
    }
    opts = json_object_get(sc, "options");
    if (opts && !json_is_null(opts) && !all_strings(opts)) {
        json_decref(j);
        return cr_error(err, CR_EINVAL, "shellCommand.options: must be a list of strings");
    }
    r->task_id = json_incref(json_object_get(j, "taskId"));
    r->name = xstrdup(json_string_value(json_object_get(sc, "name")));
    r->options = strv_from_json(opts);
    r->user = opt_str(sc, "user");
    if (!r->user)
        r->user = opt_str(j, "user");
    r->logfile_name = opt_str(sc, "logfileName");
    r->timestamp = json_integer_value(ts);
    json_decref(j);
    return 0;
}

void exe_shell_req_release(exe_shell_req *r)
{
    json_decref(r->task_id);
    free(r->name);
    exe_shell_argv_free(r->options);
    free(r->user);
    free(r->logfile_name);
    memset(r, 0, sizeof(*r));
}

/* Whitespace and '/' as '-', lower case (a file name, never a path). */
static char *file_part(const char *s)
{
    char *o = xstrdup(s);
    for (char *p = o; *p; p++) {
        if (isspace((unsigned char)*p) || *p == '/')
            *p = '-';
        else
            *p = (char)tolower((unsigned char)*p);
    }
    return o;
}

static char *fill(const char *tmpl, const char *name, int64_t ts)
{
    cr_buf b = CR_BUF_INIT;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{NAME}", 6) == 0) {
            cr_buf_adds(&b, name);
            p += 6;
        } else if (strncmp(p, "{TIMESTAMP}", 11) == 0) {
            cr_buf_addf(&b, "%lld", (long long)ts);
            p += 11;
        } else {
            cr_buf_addch(&b, *p++);
        }
    }
    return cr_buf_detach(&b, NULL);
}

char **exe_shell_build(const exe_shell_conf *c, const exe_shell_req *r, int pid, const char *user,
                       char **out_file, cr_err *err)
{
    const exe_shell_def *d = NULL;
    *out_file = NULL;
    for (size_t i = 0; i < c->n && !d; i++)
        if (strcmp(c->defs[i].name, r->name) == 0)
            d = &c->defs[i];
    if (!d) {
        cr_buf b = CR_BUF_INIT;
        for (size_t i = 0; i < c->n; i++)
            cr_buf_addf(&b, "%s%s", i ? ", " : "", c->defs[i].name);
        char *names = cr_buf_detach(&b, NULL);
        cr_error(err, CR_EINVAL,
                 "\"%s\" command not found; commands this executor has: [%s] (a command added "
                 "after the task started needs a new task)",
                 r->name, names);
        free(names);
        return NULL;
    }
    for (size_t k = 0; r->options && r->options[k]; k++) {
        bool known = false;
        for (size_t i = 0; i < d->n_options; i++)
            known = known || strcmp(d->options[i].name, r->options[k]) == 0;
        if (!known) {
            cr_error(err, CR_EINVAL, "\"%s\" has no option \"%s\"", r->name, r->options[k]);
            return NULL;
        }
    }
    size_t n = 0;
    while (d->argv[n])
        n++;
    char **argv = xcalloc(n + d->n_options + 1, sizeof(char *));
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d->argv[i], "{PID}") == 0) {
            if (pid <= 0) {
                exe_shell_argv_free(argv);
                cr_error(err, CR_EINVAL, "no PID found: the task is not running");
                return NULL;
            }
            argv[w++] = xasprintf("%d", pid);
        } else if (strcmp(d->argv[i], "{USER}") == 0) {
            argv[w++] = xstrdup(user ? user : "");
        } else {
            argv[w++] = xstrdup(d->argv[i]);
        }
    }
    for (size_t i = 0; i < d->n_options; i++)
        for (size_t k = 0; r->options && r->options[k]; k++)
            if (strcmp(d->options[i].name, r->options[k]) == 0) {
                argv[w++] = xstrdup(d->options[i].flag);
                break;
            }
    char *nm = file_part(r->logfile_name && *r->logfile_name ? r->logfile_name : r->name);
    *out_file = fill(c->out_file ? c->out_file : EXE_SHELL_OUT_FILE, nm, r->timestamp);
    free(nm);
    return argv;
}

char *exe_shell_update(const exe_shell_req *r, const char *type, const char *message,
                       const char *out_file, int64_t now_ms)
{
    json_t *u = json_pack("{s:{s:O,s:s,s:I},s:I,s:s}", "shellRequestId", "taskId", r->task_id,
                          "name", r->name, "timestamp", (json_int_t)r->timestamp, "timestamp",
                          (json_int_t)now_ms, "updateType", type);
    if (message)
        json_object_set_new(u, "message", json_string(message));
    if (out_file)
        json_object_set_new(u, "outputFilename", json_string(out_file));
    char *s = json_dumps(u, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(u);
    return s;
}
