#include "nodeagent/na_upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

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

/* ---- S3's and corrald's answers ------------------------------------------------------ */

void na_mp_etag(const unsigned char *part_md5, size_t nparts, char out[NA_MP_ETAG_MAX])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    EVP_DigestUpdate(ctx, part_md5, nparts * 16);
    EVP_DigestFinal_ex(ctx, d, &dn);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    snprintf(out + 32, NA_MP_ETAG_MAX - 32, "-%zu", nparts % 100000);
}

/* etag without its quotes ("x", &quot;x&quot; or x): start and length. */
static const char *etag_bare(const char *etag, size_t *n)
{
    size_t l = strlen(etag);

    if (l >= 12 && strncmp(etag, "&quot;", 6) == 0 && strcmp(etag + l - 6, "&quot;") == 0) {
        *n = l - 12;
        return etag + 6;
    }
    if (l >= 2 && etag[0] == '"' && etag[l - 1] == '"') {
        *n = l - 2;
        return etag + 1;
    }
    *n = l;
    return etag;
}

static bool bare_is(const char *e, size_t n, const char *want)
{
    return want && *want && n == strlen(want) && strncasecmp(e, want, n) == 0;
}

bool na_etag_matches(const char *etag, const char *md5, const char *mp_etag)
{
    size_t n;
    const char *e;

    if (!etag || !*etag)
        return false;
    e = etag_bare(etag, &n);
    return bare_is(e, n, md5) || (mp_etag && bare_is(e, n, mp_etag));
}

na_head_verdict na_head_check(long status, const char *content_length, const char *etag,
                              int64_t size, const char *md5, const char *mp_etag)
{
    char *end = NULL;
    long long len;

    if (status == 404)
        return NA_HEAD_ABSENT;
    if (status != 200)
        return NA_HEAD_ERROR;
    /* Another object under the key (a part of the file, a different
     * file): sent again, over it. */
    if (!content_length || !*content_length)
        return NA_HEAD_ABSENT;
    len = strtoll(content_length, &end, 10);
    if (*end || len != size || !na_etag_matches(etag, md5, mp_etag))
        return NA_HEAD_ABSENT;
    return NA_HEAD_PRESENT;
}

/* The text of the first <tag>...</tag> in body; caller frees; NULL if none. */
static char *xml_text(const char *body, const char *tag)
{
    char *open = xasprintf("<%s>", tag), *close = xasprintf("</%s>", tag), *out = NULL;
    const char *a = body ? strstr(body, open) : NULL, *b;

    if (a && (b = strstr(a + strlen(open), close)))
        out = xstrndup(a + strlen(open), (size_t)(b - a) - strlen(open));
    free(open);
    free(close);
    return out;
}

char *na_mp_upload_id(const char *body)
{
    char *id = xml_text(body, "UploadId");

    if (id && !*id) {
        free(id);
        return NULL;
    }
    return id;
}

bool na_mp_complete_ok(long status, const char *body, const char *md5, const char *mp_etag,
                       char *why, size_t why_size)
{
    char *etag;
    bool ok;

    if (status != 200) {
        snprintf(why, why_size, "CompleteMultipartUpload: HTTP %ld: %.300s", status,
                 body ? body : "");
        return false;
    }
    if (body && strstr(body, "<Error>")) {
        char *code = xml_text(body, "Code"), *msg = xml_text(body, "Message");
        snprintf(why, why_size, "CompleteMultipartUpload: 200 with an error: %.100s: %.300s",
                 code ? code : "?", msg ? msg : "");
        free(code);
        free(msg);
        return false;
    }
    if (!body || !strstr(body, "<CompleteMultipartUploadResult")) {
        snprintf(why, why_size, "CompleteMultipartUpload: 200 without a result: %.300s",
                 body ? body : "");
        return false;
    }
    etag = xml_text(body, "ETag");
    ok = !etag || na_etag_matches(etag, md5, mp_etag);
    if (!ok)
        snprintf(why, why_size,
                 "CompleteMultipartUpload: ETag %.100s is neither the file's MD5 nor its "
                 "multipart ETag %s: not confirmed",
                 etag, mp_etag ? mp_etag : "");
    free(etag);
    return ok;
}

na_record_result na_record_answer(long status)
{
    if (status == 200)
        return NA_RECORD_OK;
    if (status == 409)
        return NA_RECORD_CONFLICT;
    return NA_RECORD_FAILED;
}

json_t *na_upload_record(const na_record_in *in)
{
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "state", in->state,
                  "bucket", in->bucket, "key", in->key, "size", (json_int_t)in->size, "sha256",
                  in->sha256, "md5", in->md5, "host", in->host, "path", in->path, "createdAt",
                  (json_int_t)in->created_at, "endTime", (json_int_t)in->end_time);

    if (strcmp(in->state, "UPLOADED") == 0)
        json_object_set_new(rec, "uploadedAt", json_integer(in->uploaded_at));
    if (in->agent_id && *in->agent_id)
        json_object_set_new(rec, "agentId", json_string(in->agent_id));
    return rec;
}

int64_t na_upload_backoff_ms(int failures)
{
    int64_t ms = 1000;
    for (int i = 1; i < failures && ms < 60000; i++)
        ms *= 2;
    return ms < 60000 ? ms : 60000;
}
