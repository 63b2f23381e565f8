#include "executor/exe_data.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/xalloc.h"

#define DEFAULT_LOG_MAX_BYTES (100LL * 1024 * 1024)
#define DEFAULT_LOG_KEEP      20

unsigned char *exe_base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), m = 0, pad = 0;
    char *clean = xmalloc(n + 4);
    unsigned char *out;
    int r;

    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            clean[m++] = s[i];
    if (m % 4 != 0) {
        free(clean);
        return NULL;
    }
    clean[m] = '\0';
    out = xmalloc(m / 4 * 3 + 1);
    r = m ? EVP_DecodeBlock(out, (unsigned char *)clean, (int)m) : 0;
    if (r < 0) {
        free(clean);
        free(out);
        return NULL;
    }
    if (m >= 1 && clean[m - 1] == '=')
        pad++;
    if (m >= 2 && clean[m - 2] == '=')
        pad++;
    free(clean);
    *len = (size_t)r - pad;
    out[*len] = 0;
    return out;
}

char *exe_base64_encode(const unsigned char *p, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

int64_t exe_parse_duration_ms(const char *s)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6},  {"us", 1e-3},   {"ms", 1},        {"secs", 1e3},
                 {"mins", 6e4}, {"hrs", 3.6e6}, {"days", 8.64e7}, {"weeks", 6.048e8}};
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(end, units[i].unit) == 0)
            return (int64_t)(v * units[i].ms);
    return -1;
}

static int get_str(const json_t *o, const char *key, bool required, char **out, const char *path,
                   cr_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return cr_error(err, CR_EINVAL, "%s.%s: required", path, key);
        return 0;
    }
    if (!json_is_string(v))
        return cr_error(err, CR_EINVAL, "%s.%s: must be a string", path, key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_int(const json_t *o, const char *key, int64_t dflt, int64_t *out, const char *path,
                   cr_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cr_error(err, CR_EINVAL, "%s.%s: must be a non-negative integer", path, key);
    *out = json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *o, const char *key, bool *out, const char *path, cr_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return cr_error(err, CR_EINVAL, "%s.%s: must be a boolean", path, key);
    *out = json_is_true(v);
    return 0;
}

/* A relative path that stays inside its base: no leading '/', no ".." part. */
static bool safe_relpath(const char *p)
{
    const char *s = p;

    if (!*p || *p == '/')
        return false;
    while (*s) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n;
        while (*s == '/')
            s++;
    }
    return true;
}

static bool is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (int i = 0; i < 32; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int parse_artifact(const json_t *o, exe_art_kind kind, exe_artifact *a, const char *path,
                          cr_err *err)
{
    json_t *v;

    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->extract = -1;
    if (!json_is_object(o))
        return cr_error(err, CR_EINVAL, "%s: must be an object", path);
    if (get_str(o, "name", false, &a->name, path, err) < 0 ||
        get_str(o, "filename", true, &a->filename, path, err) < 0 ||
        get_str(o, "targetFolderRelativeToTask", false, &a->target_folder, path, err) < 0 ||
        get_str(o, "md5sum", false, &a->md5sum, path, err) < 0 ||
        get_int(o, "filesize", -1, &a->filesize, path, err) < 0)
        return -1;
    if (!a->name)
        a->name = xstrdup(a->filename);
    if (strchr(a->filename, '/') || !safe_relpath(a->filename) || strcmp(a->filename, ".") == 0)
        return cr_error(err, CR_EINVAL, "%s.filename: must be a plain file name", path);
    if (a->target_folder && *a->target_folder && !safe_relpath(a->target_folder))
        return cr_error(err, CR_EINVAL,
                        "%s.targetFolderRelativeToTask: must stay inside the task directory", path);
    if (a->md5sum) {
        if (!is_hex32(a->md5sum))
            return cr_error(err, CR_EINVAL, "%s.md5sum: must be 32 hex digits", path);
        for (char *c = a->md5sum; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    v = json_object_get(o, "extract");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return cr_error(err, CR_EINVAL, "%s.extract: must be a boolean", path);
        a->extract = json_is_true(v) ? 1 : 0;
    }
    v = json_object_get(o, "isArtifactList");
    if (json_is_true(v))
        return cr_error(err, CR_EUNSUPPORTED, "%s.isArtifactList: not supported", path);
    switch (kind) {
    case EXE_ART_EMBEDDED: {
        char *b64 = NULL;
        if (get_str(o, "content", true, &b64, path, err) < 0)
            return -1;
        a->content = exe_base64_decode(b64, &a->content_len);
        free(b64);
        if (!a->content)
            return cr_error(err, CR_EINVAL, "%s.content: invalid base64", path);
        break;
    }
    case EXE_ART_EXTERNAL:
        if (get_str(o, "url", true, &a->url, path, err) < 0)
            return -1;
        if (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0)
            return cr_error(err, CR_EINVAL, "%s.url: must be http:// or https://", path);
        break;
    case EXE_ART_S3:
        if (get_str(o, "s3Bucket", true, &a->s3_bucket, path, err) < 0 ||
            get_str(o, "s3ObjectKey", true, &a->s3_key, path, err) < 0)
            return -1;
        if (!*a->s3_bucket || !*a->s3_key)
            return cr_error(err, CR_EINVAL, "%s: s3Bucket and s3ObjectKey must not be empty", path);
        break;
    }
    return 0;
}

static void artifact_release(exe_artifact *a)
{
    free(a->name);
    free(a->filename);
    free(a->target_folder);
    free(a->md5sum);
    free(a->content);
    free(a->url);
    free(a->s3_bucket);
    free(a->s3_key);
}

static int parse_artifacts(const json_t *j, const char *key, exe_art_kind kind, exe_data *d,
                           cr_err *err)
{
    json_t *arr = json_object_get(j, key), *o;
    size_t i;

    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cr_error(err, CR_EINVAL, "executorData.%s: must be an array", key);
    d->artifacts =
        xrealloc(d->artifacts, (d->n_artifacts + json_array_size(arr)) * sizeof(exe_artifact));
    json_array_foreach(arr, i, o)
    {
        char path[128];
        snprintf(path, sizeof(path), "executorData.%s[%zu]", key, i);
        if (parse_artifact(o, kind, &d->artifacts[d->n_artifacts++], path, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_str_array(const json_t *j, const char *key, char ***out, size_t *n, cr_err *err)
{
    json_t *arr = json_object_get(j, key), *v;
    size_t i;

    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return cr_error(err, CR_EINVAL, "executorData.%s: must be an array of strings", key);
    *out = xcalloc(json_array_size(arr) + 1, sizeof(char *));
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return cr_error(err, CR_EINVAL, "executorData.%s[%zu]: must be a string", key, i);
        (*out)[(*n)++] = xstrdup(json_string_value(v));
    }
    return 0;
}

static int parse_env_object(const json_t *o, const char *path, exe_env_var **out, size_t *n,
                            cr_err *err)
{
    const char *k;
    json_t *v;

    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return cr_error(err, CR_EINVAL, "%s: must be an object of strings", path);
    *out = xcalloc(json_object_size(o) + 1, sizeof(exe_env_var));
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v))
            return cr_error(err, CR_EINVAL, "%s.%s: must be a string", path, k);
        (*out)[*n].name = xstrdup(k);
        (*out)[*n].value = xstrdup(json_string_value(v));
        (*n)++;
    }
    return 0;
}

int exe_data_parse(const json_t *j, exe_data *d, cr_err *err)
{
    const char *P = "executorData";
    json_t *v;
    int64_t n;

    memset(d, 0, sizeof(*d));
    d->sigkill_after_ms = -1;
    d->max_open_files = -1;
    if (!json_is_object(j))
        return cr_error(err, CR_EINVAL, "executorData: must be a JSON object");
    if (get_str(j, "cmd", true, &d->cmd, P, err) < 0 ||
        parse_str_array(j, "extraCmdLineArgs", &d->extra_args, &d->n_extra_args, err) < 0 ||
        parse_artifacts(j, "embeddedArtifacts", EXE_ART_EMBEDDED, d, err) < 0 ||
        parse_artifacts(j, "externalArtifacts", EXE_ART_EXTERNAL, d, err) < 0 ||
        parse_artifacts(j, "s3Artifacts", EXE_ART_S3, d, err) < 0 ||
        get_str(j, "user", false, &d->user, P, err) < 0 ||
        get_int(j, "sigKillProcessesAfterMillis", -1, &d->sigkill_after_ms, P, err) < 0 ||
        get_int(j, "maxOpenFiles", -1, &d->max_open_files, P, err) < 0 ||
        get_bool(j, "preserveTaskSandboxAfterFinish", &d->preserve_sandbox, P, err) < 0 ||
        get_str(j, "runningSentinel", false, &d->running_sentinel, P, err) < 0 ||
        get_bool(j, "skipLogrotateAndCompress", &d->skip_logrotate, P, err) < 0 ||
        get_str(j, "serviceLog", false, &d->service_log, P, err) < 0 ||
        get_str(j, "stderrLog", false, &d->stderr_log, P, err) < 0 ||
        get_int(j, "logMaxBytes", DEFAULT_LOG_MAX_BYTES, &d->log_max_bytes, P, err) < 0 ||
        get_int(j, "logKeep", DEFAULT_LOG_KEEP, &n, P, err) < 0 ||
        parse_str_array(j, "removeOnFinish", &d->removable, &d->n_removable, err) < 0 ||
        parse_env_object(json_object_get(j, "env"), "executorData.env", &d->env, &d->n_env, err) <
            0)
        goto fail;
    d->log_keep = n > 100000 ? 100000 : (int)n;
    if (!*d->cmd) {
        cr_error(err, CR_EINVAL, "executorData.cmd: must not be empty");
        goto fail;
    }
    if (d->user && !*d->user) {
        free(d->user);
        d->user = NULL;
    }
    if (!d->service_log)
        d->service_log = xstrdup("service.log");
    if (strchr(d->service_log, '/') || !safe_relpath(d->service_log) ||
        (d->stderr_log && (strchr(d->stderr_log, '/') || !safe_relpath(d->stderr_log)))) {
        cr_error(err, CR_EINVAL, "executorData.serviceLog: must be a plain file name");
        goto fail;
    }
    if (d->running_sentinel && !safe_relpath(d->running_sentinel)) {
        cr_error(err, CR_EINVAL,
                 "executorData.runningSentinel: must stay inside the task directory");
        goto fail;
    }
    for (size_t i = 0; i < d->n_removable; i++)
        if (!safe_relpath(d->removable[i])) {
            cr_error(err, CR_EINVAL,
                     "executorData.removeOnFinish[%zu]: must stay inside the sandbox", i);
            goto fail;
        }
    if (d->log_max_bytes < 1024) {
        cr_error(err, CR_EINVAL, "executorData.logMaxBytes: must be at least 1024");
        goto fail;
    }
    v = json_object_get(j, "successfulExitCodes");
    if (v && !json_is_null(v) && !json_is_array(v)) {
        cr_error(err, CR_EINVAL, "executorData.successfulExitCodes: must be an array of integers");
        goto fail;
    }
    if (v && json_array_size(v) > 0) {
        size_t i;
        json_t *c;
        d->ok_exit_codes = xcalloc(json_array_size(v), sizeof(int));
        json_array_foreach(v, i, c)
        {
            if (!json_is_integer(c)) {
                cr_error(err, CR_EINVAL,
                         "executorData.successfulExitCodes[%zu]: must be an integer", i);
                goto fail;
            }
            d->ok_exit_codes[d->n_ok_exit_codes++] = (int)json_integer_value(c);
        }
    } else {
        d->ok_exit_codes = xcalloc(1, sizeof(int));
        d->n_ok_exit_codes = 1;
    }
    return 0;
fail:
    exe_data_release(d);
    return -1;
}

void exe_data_release(exe_data *d)
{
    if (!d)
        return;
    free(d->cmd);
    for (size_t i = 0; i < d->n_extra_args; i++)
        free(d->extra_args[i]);
    free(d->extra_args);
    for (size_t i = 0; i < d->n_artifacts; i++)
        artifact_release(&d->artifacts[i]);
    free(d->artifacts);
    free(d->ok_exit_codes);
    free(d->user);
    free(d->running_sentinel);
    free(d->service_log);
    free(d->stderr_log);
    for (size_t i = 0; i < d->n_removable; i++)
        free(d->removable[i]);
    free(d->removable);
    for (size_t i = 0; i < d->n_env; i++) {
        free(d->env[i].name);
        free(d->env[i].value);
    }
    free(d->env);
    memset(d, 0, sizeof(*d));
}

bool exe_artifact_wants_extract(const exe_artifact *a)
{
    size_t n = strlen(a->filename);
    static const char *sfx[] = {".tar.gz", ".tgz", ".tar", ".zip"};

    if (a->extract >= 0)
        return a->extract == 1;
    for (size_t i = 0; i < 4; i++) {
        size_t m = strlen(sfx[i]);
        if (n > m && strcmp(a->filename + n - m, sfx[i]) == 0)
            return true;
    }
    return false;
}

bool exe_data_exit_ok(const exe_data *d, int code)
{
    for (size_t i = 0; i < d->n_ok_exit_codes; i++)
        if (d->ok_exit_codes[i] == code)
            return true;
    return false;
}

static const char *id_value(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, key), "value"));
}

exe_task *exe_task_parse(const json_t *ti, cr_err *err)
{
    exe_task *t = xcalloc(1, sizeof(*t));
    const char *s, *b64;
    json_t *res, *r, *vars, *v, *data_json = NULL;
    unsigned char *raw = NULL;
    size_t i, rawlen = 0;
    json_error_t jerr;

    t->kill_grace_ms = -1;
    if (!json_is_object(ti)) {
        cr_error(err, CR_EINVAL, "task: must be an object");
        goto fail;
    }
    if (!(s = id_value(ti, "task_id")) || !*s) {
        cr_error(err, CR_EINVAL, "task.task_id: required");
        goto fail;
    }
    t->task_id = xstrdup(s);
    v = json_object_get(ti, "container");
    if (json_is_object(v)) {
        /* It runs the command as a plain process: a container it would
         * ignore must fail, not run somewhere it was not meant to. */
        const json_t *img = json_object_get(json_object_get(v, "mesos"), "image");
        const char *type = json_string_value(json_object_get(v, "type"));
        if (type && strcmp(type, "DOCKER") == 0) {
            const char *image =
                json_string_value(json_object_get(json_object_get(v, "docker"), "image"));
            cr_error(err, CR_EINVAL,
                     "task.container: corral-executor cannot run DOCKER containers (image "
                     "'%s')",
                     image ? image : "");
            goto fail;
        }
        if (img) {
            cr_error(err, CR_EINVAL,
                     "task.container: corral-executor cannot run container images (mesos.image)");
            goto fail;
        }
    }
    t->name = xstrdup(json_string_value(json_object_get(ti, "name")));
    t->agent_id = xstrdup(id_value(ti, "agent_id"));
    t->executor_id = xstrdup(id_value(json_object_get(ti, "executor"), "executor_id"));
    v = json_object_get(json_object_get(json_object_get(ti, "kill_policy"), "grace_period"),
                        "nanoseconds");
    if (json_is_integer(v))
        t->kill_grace_ms = json_integer_value(v) / 1000000;
    else if (json_is_string(v))
        t->kill_grace_ms = strtoll(json_string_value(v), NULL, 10) / 1000000;

    res = json_object_get(ti, "resources");
    json_array_foreach(res, i, r)
    {
        json_t *ranges, *rg;
        size_t k;
        if (!json_is_string(json_object_get(r, "name")) ||
            strcmp(json_string_value(json_object_get(r, "name")), "ports") != 0)
            continue;
        ranges = json_object_get(json_object_get(r, "ranges"), "range");
        json_array_foreach(ranges, k, rg)
        {
            int64_t b = json_integer_value(json_object_get(rg, "begin"));
            int64_t e = json_integer_value(json_object_get(rg, "end"));
            for (int64_t p = b; p <= e && p > 0 && p < 65536; p++) {
                t->ports = xrealloc(t->ports, (t->n_ports + 1) * sizeof(int));
                t->ports[t->n_ports++] = (int)p;
            }
        }
    }

    vars = json_object_get(
        json_object_get(json_object_get(json_object_get(ti, "executor"), "command"), "environment"),
        "variables");
    if (json_is_array(vars)) {
        t->env = xcalloc(json_array_size(vars) + 1, sizeof(exe_env_var));
        json_array_foreach(vars, i, v)
        {
            const char *n = json_string_value(json_object_get(v, "name"));
            const char *val = json_string_value(json_object_get(v, "value"));
            if (!n)
                continue;
            t->env[t->n_env].name = xstrdup(n);
            t->env[t->n_env].value = xstrdup(val ? val : "");
            t->n_env++;
        }
    }

    b64 = json_string_value(json_object_get(ti, "data"));
    if (!b64) {
        cr_error(err, CR_EINVAL, "task.data: required (the deploy's executorData)");
        goto fail;
    }
    raw = exe_base64_decode(b64, &rawlen);
    if (!raw) {
        cr_error(err, CR_EINVAL, "task.data: invalid base64");
        goto fail;
    }
    data_json = json_loadb((const char *)raw, rawlen, 0, &jerr);
    if (!data_json) {
        cr_error(err, CR_EPARSE, "task.data: executorData is not JSON: %d:%d: %s", jerr.line,
                 jerr.column, jerr.text);
        goto fail;
    }
    if (exe_data_parse(data_json, &t->data, err) < 0)
        goto fail;
    free(raw);
    json_decref(data_json);
    return t;
fail:
    free(raw);
    json_decref(data_json);
    exe_task_free(t);
    return NULL;
}

void exe_task_free(exe_task *t)
{
    if (!t)
        return;
    free(t->task_id);
    free(t->name);
    free(t->agent_id);
    free(t->executor_id);
    free(t->ports);
    for (size_t i = 0; i < t->n_env; i++) {
        free(t->env[i].name);
        free(t->env[i].value);
    }
    free(t->env);
    exe_data_release(&t->data);
    free(t);
}
