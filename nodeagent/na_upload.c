#include "nodeagent/na_upload.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/xalloc.h"

static na_rec_state state_of(const char *s)
{
    if (s && strcmp(s, "UPLOADED") == 0)
        return NA_REC_UPLOADED;
    if (s && strcmp(s, "UPLOADING") == 0)
        return NA_REC_UPLOADING;
    return NA_REC_NONE;
}

static void rec_release(na_rec *r)
{
    free(r->file);
    free(r->key);
    free(r->md5);
    free(r->upload_id);
    memset(r, 0, sizeof(*r));
}

void na_recs_from_json(const json_t *records, na_recs *out)
{
    size_t i;
    json_t *e;

    memset(out, 0, sizeof(*out));
    json_array_foreach (records, i, e) {
        na_rec r = {0};
        const char *f = json_string_value(json_object_get(e, "fileName"));
        if (!f)
            continue;
        r.file = xstrdup(f);
        r.state = state_of(json_string_value(json_object_get(e, "state")));
        r.mod_revision = json_integer_value(json_object_get(e, "modRevision"));
        r.size = json_integer_value(json_object_get(e, "size"));
        r.key = xstrdup(json_string_value(json_object_get(e, "key")));
        r.md5 = xstrdup(json_string_value(json_object_get(e, "md5")));
        r.upload_id = xstrdup(json_string_value(json_object_get(e, "uploadId")));
        na_recs_set(out, &r);
    }
}

void na_recs_release(na_recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        rec_release(&r->v[i]);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

const na_rec *na_recs_find(const na_recs *r, const char *file)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].file, file) == 0)
            return &r->v[i];
    return NULL;
}

void na_recs_set(na_recs *r, na_rec *rec)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].file, rec->file) == 0) {
            rec_release(&r->v[i]);
            r->v[i] = *rec;
            memset(rec, 0, sizeof(*rec));
            return;
        }
    r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
    r->v[r->n++] = *rec;
    memset(rec, 0, sizeof(*rec));
}

static bool due(const na_logfile *f, bool final)
{
    return f->rotated || final;
}

na_up_action na_upload_next(const na_logfiles *files, const na_recs *recs, bool final,
                            bool (*skip)(void *arg, const char *file), void *arg)
{
    na_up_action a = {NA_UP_NOTHING, NULL, NULL};

    /* what an earlier run left claimed comes first */
    for (size_t i = 0; i < files->n; i++) {
        const na_rec *r = na_recs_find(recs, files->v[i].name);
        if (r && r->state == NA_REC_UPLOADING && due(&files->v[i], final) &&
            !(skip && skip(arg, files->v[i].name)))
            return (na_up_action){NA_UP_VERIFY, &files->v[i], r};
    }
    for (size_t i = 0; i < files->n; i++) {
        const na_rec *r = na_recs_find(recs, files->v[i].name);
        if (!r && due(&files->v[i], final) && !(skip && skip(arg, files->v[i].name)))
            return (na_up_action){NA_UP_UPLOAD, &files->v[i], NULL};
    }
    return a;
}

bool na_upload_done(const na_logfiles *files, const na_recs *recs, bool final)
{
    for (size_t i = 0; i < files->n; i++) {
        const na_rec *r = na_recs_find(recs, files->v[i].name);
        if (due(&files->v[i], final) && (!r || r->state != NA_REC_UPLOADED))
            return false;
    }
    return true;
}

char *na_s3_key(const char *pattern, const char *prefix, const char *request_id,
                const char *deploy_id, const char *task_id, const char *agent_id, const char *host,
                const char *file)
{
    static const char *names[] = {"prefix",  "requestId", "deployId", "taskId",
                                  "agentId", "host",      "file"};
    const char *vals[] = {prefix, request_id, deploy_id, task_id, agent_id, host, file};
    cr_buf raw = CR_BUF_INIT, out = CR_BUF_INIT;

    cr_buf_init(&raw);
    cr_buf_init(&out);
    for (const char *p = pattern; *p;) {
        size_t k;
        if (*p != '%') {
            cr_buf_addch(&raw, *p++);
            continue;
        }
        if (p[1] == '%') {
            cr_buf_addch(&raw, '%');
            p += 2;
            continue;
        }
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            size_t l = strlen(names[k]);
            if (strncmp(p + 1, names[k], l) == 0) {
                cr_buf_adds(&raw, vals[k] ? vals[k] : "");
                p += 1 + l;
                break;
            }
        }
        if (k == sizeof(names) / sizeof(names[0]))
            cr_buf_addch(&raw, *p++);
    }
    /* drop empty components */
    for (const char *p = raw.data; *p;) {
        size_t l = strcspn(p, "/");
        if (l) {
            if (out.len)
                cr_buf_addch(&out, '/');
            cr_buf_add(&out, p, l);
        }
        p += l;
        while (*p == '/')
            p++;
    }
    cr_buf_release(&raw);
    return cr_buf_detach(&out, NULL);
}

static int cmp_kept(const void *a, const void *b, void *arg)
{
    const na_kept *kept = arg;
    const na_kept *x = &kept[*(const size_t *)a], *y = &kept[*(const size_t *)b];
    if (x->mtime_ms != y->mtime_ms)
        return x->mtime_ms < y->mtime_ms ? -1 : 1;
    return strcmp(x->path, y->path);
}

size_t na_budget_plan(const na_kept *kept, size_t n, int64_t budget, size_t *out)
{
    int64_t total = 0;
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        total += kept[i].size;
        out[i] = i;
    }
    if (total <= budget)
        return 0;
    qsort_r(out, n, sizeof(*out), cmp_kept, (void *)kept);
    while (m < n && total > budget)
        total -= kept[out[m++]].size;
    return m;
}

int64_t na_upload_backoff_ms(int failures)
{
    int64_t ms = 1000;
    for (int i = 1; i < failures && ms < 60000; i++)
        ms *= 2;
    return ms < 60000 ? ms : 60000;
}
