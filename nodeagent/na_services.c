/* The periodic services: S3 uploader (this file's first half), executor
 * cleanup and OOM killer (na_keeper.c). The uploader runs one file at a
 * time, as a chain of HTTP calls on the loop:
 *   load records (corrald) -> read the file (size, sha256, md5) ->
 *   claim (record UPLOADING, ifRevision) | verify (HEAD) ->
 *   PUT | multipart (create, parts, complete) -> record UPLOADED
 * and, between files, removes uploaded local copies beyond the disk budget.
 * What decides is pure (na_upload.h); this is the I/O. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/s3.h"
#include "base/xalloc.h"
#include "nodeagent/na_app_int.h"
#include "nodeagent/na_upload.h"

#define CALL_TIMEOUT_MS  60000
#define MAX_FAILED_FILES 64

struct na_upload_task {
    bool loaded, unknown; /* records read; corrald does not know the task */
    int64_t retry_at;     /* mono ms before which nothing is tried */
    int failures;         /* in a row, for the backoff */
    char *request_id, *deploy_id;
    na_recs recs;
    /* files that failed lately, with when to try again */
    struct {
        char *file;
        int failures;
        int64_t retry_at;
    } failed[MAX_FAILED_FILES];
    size_t n_failed;
};

typedef enum {
    J_LOAD,
    J_CLAIM,
    J_HEAD,
    J_PUT,
    J_MP_CREATE,
    J_MP_PART,
    J_MP_COMPLETE,
    J_RECORD,
} job_step;

typedef struct job {
    na_services *svc;
    job_step step;
    char *task_id, *dir, *rel, *file, *key, *host, *agent_id;
    int64_t size, mtime_ms;
    bool verify;
    char sha256[65], md5[33];
    unsigned char *part_md5; /* 16 bytes per part of part_size, in order */
    size_t n_part_md5;
    char mp_etag[NA_MP_ETAG_MAX]; /* the ETag S3 gives it sent in parts */
    char *upload_id;
    int part, nparts;
    char **etags;
    cr_http_req *hr;
} job;

struct na_services {
    na_app *a;
    struct event *upload_tick;
    char *token;
    char *s3_endpoint, *s3_region;
    cr_s3_cfg s3;
    bool s3_on;
    job *job;
    int64_t part_size, threshold, budget;
    struct {
        uint64_t uploads, upload_bytes, upload_failures, skipped_present, local_deleted,
            local_deleted_bytes, record_failures;
    } st;
    void *keeper; /* na_keeper.c */
};

/* ---- per-task upload state -------------------------------------------------------- */

void na_upload_task_free(na_upload_task *u)
{
    if (!u)
        return;
    na_recs_release(&u->recs);
    for (size_t i = 0; i < u->n_failed; i++)
        free(u->failed[i].file);
    free(u->request_id);
    free(u->deploy_id);
    free(u);
}

static bool skip_failed(void *arg, const char *file)
{
    na_upload_task *u = arg;
    for (size_t i = 0; i < u->n_failed; i++)
        if (strcmp(u->failed[i].file, file) == 0)
            return cr_mono_ms() < u->failed[i].retry_at;
    return false;
}

static void note_failure(na_upload_task *u, const char *file)
{
    size_t i;
    for (i = 0; i < u->n_failed; i++)
        if (strcmp(u->failed[i].file, file) == 0)
            break;
    if (i == u->n_failed) {
        if (u->n_failed == MAX_FAILED_FILES)
            return;
        u->failed[i].file = xstrdup(file);
        u->failed[i].failures = 0;
        u->n_failed++;
    }
    u->failed[i].failures++;
    u->failed[i].retry_at = cr_mono_ms() + na_upload_backoff_ms(u->failed[i].failures);
}

static void note_success(na_upload_task *u, const char *file)
{
    for (size_t i = 0; i < u->n_failed; i++)
        if (strcmp(u->failed[i].file, file) == 0) {
            free(u->failed[i].file);
            u->failed[i] = u->failed[--u->n_failed];
            return;
        }
}

static tracked *find_tracked(na_app *a, const char *dir)
{
    for (size_t i = 0; i < a->n_tracked; i++)
        if (strcmp(a->tracked[i].sb.dir, dir) == 0)
            return &a->tracked[i];
    return NULL;
}

/* ---- jobs ------------------------------------------------------------------------- */

static void upload_kick(na_services *s);

static void job_free(job *j)
{
    if (!j)
        return;
    cr_http_cancel(j->hr);
    free(j->task_id);
    free(j->dir);
    free(j->rel);
    free(j->file);
    free(j->key);
    free(j->host);
    free(j->agent_id);
    free(j->upload_id);
    free(j->part_md5);
    for (int i = 0; j->etags && i < j->nparts; i++)
        free(j->etags[i]);
    free(j->etags);
    free(j);
}

/* Ends the job; ok false counts a failure of its file. */
static void job_end(job *j, bool ok, const char *why)
{
    na_services *s = j->svc;
    tracked *t = find_tracked(s->a, j->dir);

    if (!ok) {
        cr_warn(s->a->log, "upload of %s/%s: %s", j->task_id, j->file ? j->file : "(records)",
                why ? why : "failed");
        if (t && t->upload) {
            if (j->file)
                note_failure(t->upload, j->file);
            else {
                t->upload->failures++;
                t->upload->retry_at = cr_mono_ms() + na_upload_backoff_ms(t->upload->failures);
            }
        }
        if (j->file)
            s->st.upload_failures++;
    } else if (t && t->upload && j->file) {
        note_success(t->upload, j->file);
    }
    j->hr = NULL;
    s->job = NULL;
    job_free(j);
    /* the next file at once after a success; after a failure at the next
     * tick (a failing file never spins the loop) */
    if (ok)
        upload_kick(s);
}

/* {corrald}/api/nodeagent/uploads/<task>[/<file>] */
static char *corrald_url(na_services *s, const char *task, const char *file)
{
    char *et = cr_s3_uri_encode(task, false), *ef = file ? cr_s3_uri_encode(file, false) : NULL;
    char *path = xasprintf("/api/nodeagent/uploads/%s%s%s", et, ef ? "/" : "", ef ? ef : "");
    size_t n = strlen(s->a->cfg->corrald);
    char *url;

    while (n > 0 && s->a->cfg->corrald[n - 1] == '/')
        n--;
    url = xasprintf("%.*s%s", (int)n, s->a->cfg->corrald, path);
    free(path);
    free(et);
    free(ef);
    return url;
}

static bool call(job *j, const char *method, const char *url, const char *const *headers,
                 const void *body, size_t len, cr_http_done_cb done, bool corrald)
{
    na_services *s = j->svc;
    cr_http_opts o = {.method = method,
                      .url = url,
                      .headers = headers,
                      .body = body,
                      .body_len = len,
                      .timeout_ms = CALL_TIMEOUT_MS,
                      .connect_timeout_ms = 10000,
                      .max_body = 1024 * 1024,
                      .on_done = done,
                      .arg = j};
    cr_err err;

    if (corrald) {
        o.bearer = s->token;
        o.ca_file = s->a->cfg->ca_file;
    }
    j->hr = cr_http_start(s->a->http, &o, &err);
    if (!j->hr) {
        job_end(j, false, cr_err_msg(&err));
        return false;
    }
    return true;
}

static const char *resp_why(const cr_http_resp *r, const cr_err *err, char *buf, size_t n)
{
    if (err)
        return cr_err_msg(err);
    snprintf(buf, n, "HTTP %ld: %.300s", r->status, r->body ? r->body : "");
    return buf;
}

/* ---- S3 calls ------------------------------------------------------------------------ */

static bool s3_call(job *j, const char *method, const char *query, const void *body, size_t len,
                    const char *sha, cr_http_done_cb done)
{
    char date[17], *url = NULL, **h;
    bool ok;

    cr_s3_amz_date(cr_wall_ms(), date);
    h = cr_s3_signed(&j->svc->s3, method, j->svc->a->cfg->s3_bucket, j->key, query, sha, date,
                     &url);
    if (!h) {
        job_end(j, false, "bad S3 endpoint");
        return false;
    }
    ok = call(j, method, url, (const char *const *)h, body, len, done, false);
    free(url);
    cr_strv_free(h);
    return ok;
}

static void record(job *j, const char *state);

/* Whether the file goes in parts, and then the multipart ETag S3 gives it. */
static bool multipart(const job *j)
{
    return j->size > j->svc->threshold;
}

static const char *mp_etag_of(const job *j)
{
    return multipart(j) ? j->mp_etag : NULL;
}

/* Reads n bytes of the file at off into a new buffer; NULL on error. */
static char *read_part(job *j, int64_t off, size_t n)
{
    int fd = na_open_in(j->dir, j->rel, O_RDONLY | O_NONBLOCK);
    char *buf;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    buf = xmalloc(n + 1);
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (int64_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void on_put(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    char b[400];

    j->hr = NULL;
    if (err || resp->status != 200) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    if (!na_etag_matches(cr_http_resp_header(resp, "ETag"), j->md5, NULL)) {
        job_end(j, false, "S3's ETag is not the file's MD5: not confirmed");
        return;
    }
    record(j, "UPLOADED");
}

static void mp_part(job *j);

static void on_mp_create(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    char b[400];

    j->hr = NULL;
    if (err || resp->status != 200 || !(j->upload_id = na_mp_upload_id(resp->body))) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    j->nparts = (int)((j->size + j->svc->part_size - 1) / j->svc->part_size);
    j->etags = xcalloc((size_t)j->nparts + 1, sizeof(char *));
    j->part = 0;
    mp_part(j);
}

static void on_mp_part(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    const char *e = resp ? cr_http_resp_header(resp, "ETag") : NULL;
    char b[400], want[33];

    j->hr = NULL;
    if (err || resp->status != 200 || !e) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    /* each part's ETag is its MD5: S3 got the bytes read */
    for (unsigned i = 0; i < 16 && (size_t)j->part < j->n_part_md5; i++)
        snprintf(want + 2 * i, 3, "%02x", j->part_md5[16 * (size_t)j->part + i]);
    if ((size_t)j->part >= j->n_part_md5 || !na_etag_matches(e, want, NULL)) {
        snprintf(b, sizeof(b), "S3's ETag of part %d is not its MD5: not confirmed", j->part + 1);
        job_end(j, false, b);
        return;
    }
    j->etags[j->part] = xstrdup(e);
    j->part++;
    mp_part(j);
}

static void on_mp_complete(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    char b[400];

    j->hr = NULL;
    if (err) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    /* S3 may answer 200 with an <Error> body */
    if (!na_mp_complete_ok(resp->status, resp->body, j->md5, j->mp_etag, b, sizeof(b))) {
        job_end(j, false, b);
        return;
    }
    record(j, "UPLOADED");
}

static void mp_part(job *j)
{
    int64_t off = (int64_t)j->part * j->svc->part_size;

    if (j->part < j->nparts) {
        size_t n = (size_t)(j->size - off < j->svc->part_size ? j->size - off : j->svc->part_size);
        char *buf = read_part(j, off, n), sha[65], *q;
        if (!buf) {
            job_end(j, false, "file changed or vanished while uploading");
            return;
        }
        cr_sha256_hex(buf, n, sha);
        {
            char *eid = cr_s3_uri_encode(j->upload_id, false);
            q = xasprintf("partNumber=%d&uploadId=%s", j->part + 1, eid);
            free(eid);
        }
        s3_call(j, "PUT", q, buf, n, sha, on_mp_part);
        free(q);
        free(buf);
        return;
    }
    {
        cr_buf x = CR_BUF_INIT;
        char sha[65], *q, *eid = cr_s3_uri_encode(j->upload_id, false);
        cr_buf_init(&x);
        cr_buf_adds(&x, "<CompleteMultipartUpload>");
        for (int i = 0; i < j->nparts; i++)
            cr_buf_addf(&x, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1,
                        j->etags[i]);
        cr_buf_adds(&x, "</CompleteMultipartUpload>");
        cr_sha256_hex(x.data, x.len, sha);
        q = xasprintf("uploadId=%s", eid);
        s3_call(j, "POST", q, x.data, x.len, sha, on_mp_complete);
        free(q);
        free(eid);
        cr_buf_release(&x);
    }
}

static void upload_body(job *j)
{
    if (multipart(j)) {
        s3_call(j, "POST", "uploads=", NULL, 0, NULL, on_mp_create);
        return;
    }
    {
        char *buf = read_part(j, 0, (size_t)j->size);
        if (!buf) {
            job_end(j, false, "file changed or vanished while uploading");
            return;
        }
        s3_call(j, "PUT", NULL, buf, (size_t)j->size, j->sha256, on_put);
        free(buf);
    }
}

static void on_head(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    const char *len = resp ? cr_http_resp_header(resp, "Content-Length") : NULL;
    const char *etag = resp ? cr_http_resp_header(resp, "ETag") : NULL;
    na_head_verdict v =
        err ? NA_HEAD_ERROR
            : na_head_check(resp->status, len, etag, j->size, j->md5, mp_etag_of(j));
    char b[400];

    j->hr = NULL;
    if (v == NA_HEAD_ERROR) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    /* There already, whole: the earlier run's upload went through. */
    if (v == NA_HEAD_PRESENT) {
        j->svc->st.skipped_present++;
        cr_info(j->svc->a->log, "upload of %s/%s: already in S3 (%s), recording it", j->task_id,
                j->file, j->key);
        record(j, "UPLOADED");
        return;
    }
    upload_body(j);
}

/* ---- records through corrald ------------------------------------------------------ */

static void on_record(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    tracked *t = find_tracked(j->svc->a, j->dir);
    na_record_result res = err ? NA_RECORD_FAILED : na_record_answer(resp->status);
    char b[400];

    j->hr = NULL;
    if (res != NA_RECORD_OK) {
        j->svc->st.record_failures++;
        /* a record someone else changed (another node agent claimed the
         * file): read the records again; this file backs off */
        if (res == NA_RECORD_CONFLICT && t && t->upload)
            t->upload->loaded = false;
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    if (t && t->upload) {
        na_rec rec = {0};
        rec.file = xstrdup(j->file);
        rec.state = j->step == J_CLAIM ? NA_REC_UPLOADING : NA_REC_UPLOADED;
        rec.size = j->size;
        rec.key = xstrdup(j->key);
        rec.md5 = xstrdup(j->md5);
        /* the revision is not known here: a later claim reloads */
        na_recs_set(&t->upload->recs, &rec);
    }
    if (j->step == J_CLAIM) {
        j->step = J_PUT;
        upload_body(j);
        return;
    }
    j->svc->st.uploads++;
    j->svc->st.upload_bytes += (uint64_t)j->size;
    cr_info(j->svc->a->log, "uploaded %s/%s to s3://%s/%s (%lld bytes)", j->task_id, j->file,
            j->svc->a->cfg->s3_bucket, j->key, (long long)j->size);
    job_end(j, true, NULL);
}

static void record(job *j, const char *state)
{
    na_services *s = j->svc;
    na_record_in in = {.state = state,
                       .bucket = s->a->cfg->s3_bucket,
                       .key = j->key,
                       .sha256 = j->sha256,
                       .md5 = j->md5,
                       .host = j->host,
                       .agent_id = j->agent_id,
                       .path = j->rel,
                       .size = j->size,
                       .created_at = cr_wall_ms(),
                       .uploaded_at = cr_wall_ms(),
                       .end_time = j->mtime_ms};
    json_t *rec = na_upload_record(&in);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    tracked *t = find_tracked(s->a, j->dir);
    const na_rec *old = t && t->upload ? na_recs_find(&t->upload->recs, j->file) : NULL;
    char *url, *body;

    if (strcmp(state, "UPLOADED") == 0) {
        j->step = J_RECORD;
        url = corrald_url(s, j->task_id, j->file);
    } else {
        /* the claim: only if the record is still what we saw */
        char *u = corrald_url(s, j->task_id, j->file);
        url = xasprintf("%s?ifRevision=%lld", u, (long long)(old ? old->mod_revision : 0));
        free(u);
        j->step = J_CLAIM;
    }
    body = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    call(j, "PUT", url, hdrs, body, strlen(body), on_record, true);
    free(url);
    free(body);
}

static void on_load(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    job *j = arg;
    tracked *t = find_tracked(j->svc->a, j->dir);
    json_t *body;
    char b[400];

    j->hr = NULL;
    if (!t || !t->upload) {
        job_end(j, true, NULL);
        return;
    }
    if (!err && (resp->status == 400 || resp->status == 404)) {
        /* not a task id corrald knows how to read: nothing to record */
        cr_info(j->svc->a->log, "sandbox of %s: not a Corral task (%ld); not uploading", j->task_id,
                resp->status);
        t->upload->unknown = true;
        job_end(j, true, NULL);
        return;
    }
    if (err || resp->status != 200 || !(body = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        job_end(j, false, resp_why(resp, err, b, sizeof(b)));
        return;
    }
    na_recs_release(&t->upload->recs);
    na_recs_from_json(json_object_get(body, "records"), &t->upload->recs);
    free(t->upload->request_id);
    free(t->upload->deploy_id);
    t->upload->request_id = xstrdup(json_string_value(json_object_get(body, "requestId")));
    t->upload->deploy_id = xstrdup(json_string_value(json_object_get(body, "deployId")));
    t->upload->loaded = true;
    t->upload->failures = 0;
    json_decref(body);
    job_end(j, true, NULL);
}

/* ---- choosing the next file ---------------------------------------------------------- */

/* Adds the MD5 of the part pmd5 hashed to j's part digests; restarts it. */
static void end_part(job *j, EVP_MD_CTX *pmd5)
{
    unsigned int dn;

    j->part_md5 = xrealloc(j->part_md5, (j->n_part_md5 + 1) * 16);
    EVP_DigestFinal_ex(pmd5, j->part_md5 + 16 * j->n_part_md5, &dn);
    j->n_part_md5++;
    EVP_DigestInit_ex(pmd5, EVP_md5(), NULL);
}

/* Reads the whole file once for its digests (the claim records them, a
 * verify compares them) and its parts' MD5s (each part's ETag is checked,
 * and a multipart object's ETag is derived from them). */
static int digest_file(job *j)
{
    int fd = na_open_in(j->dir, j->rel, O_RDONLY | O_NONBLOCK);
    EVP_MD_CTX *sha = EVP_MD_CTX_new(), *md5 = EVP_MD_CTX_new(), *pmd5 = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn;
    char buf[65536];
    int64_t total = 0, in_part = 0, psize = j->svc->part_size;
    struct stat st;
    int rc = -1;

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        goto out;
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    EVP_DigestInit_ex(md5, EVP_md5(), NULL);
    EVP_DigestInit_ex(pmd5, EVP_md5(), NULL);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        EVP_DigestUpdate(sha, buf, (size_t)r);
        EVP_DigestUpdate(md5, buf, (size_t)r);
        for (ssize_t at = 0; at < r;) {
            int64_t n = r - at < psize - in_part ? r - at : psize - in_part;
            EVP_DigestUpdate(pmd5, buf + at, (size_t)n);
            at += n;
            in_part += n;
            if (in_part == psize) {
                end_part(j, pmd5);
                in_part = 0;
            }
        }
        total += r;
    }
    if (in_part > 0)
        end_part(j, pmd5);
    na_mp_etag(j->part_md5, j->n_part_md5, j->mp_etag);
    j->size = total;
    j->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    EVP_DigestFinal_ex(sha, d, &dn);
    for (unsigned i = 0; i < 32; i++)
        snprintf(j->sha256 + 2 * i, 3, "%02x", d[i]);
    EVP_DigestFinal_ex(md5, d, &dn);
    for (unsigned i = 0; i < 16; i++)
        snprintf(j->md5 + 2 * i, 3, "%02x", d[i]);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(pmd5);
    return rc;
}

static job *job_new(na_services *s, const tracked *t, job_step step)
{
    job *j = xcalloc(1, sizeof(*j));
    char host[256] = "";

    gethostname(host, sizeof(host) - 1);
    j->svc = s;
    j->step = step;
    j->task_id = xstrdup(t->sb.task_id);
    j->dir = xstrdup(t->sb.dir);
    j->host = xstrdup(host);
    j->agent_id = xstrdup(t->sb.agent_id);
    return j;
}

/* Starts the next upload job, if any is due; true if one started. */
static bool start_next(na_services *s)
{
    na_app *a = s->a;
    int64_t now = cr_mono_ms();

    for (size_t i = 0; i < a->n_tracked; i++) {
        tracked *t = &a->tracked[i];
        na_logfiles files;
        na_up_action act;
        job *j;

        if (!t->upload)
            t->upload = xcalloc(1, sizeof(*t->upload));
        if (t->upload->unknown || now < t->upload->retry_at)
            continue;
        if (!t->upload->loaded) {
            char *url = corrald_url(s, t->sb.task_id, NULL);
            j = job_new(s, t, J_LOAD);
            s->job = j;
            call(j, "GET", url, NULL, NULL, 0, on_load, true);
            free(url);
            return true;
        }
        na_list_logs(t->sb.dir, &files);
        act =
            na_upload_next(&files, &t->upload->recs, na_app_finished(a, t), skip_failed, t->upload);
        if (act.kind == NA_UP_NOTHING) {
            na_logfiles_release(&files);
            continue;
        }
        j = job_new(s, t, act.kind == NA_UP_VERIFY ? J_HEAD : J_CLAIM);
        j->rel = xstrdup(act.file->rel);
        j->file = xstrdup(act.file->name);
        j->key = act.rec && act.rec->key
                     ? xstrdup(act.rec->key)
                     : na_s3_key(a->cfg->s3_key_pattern, a->cfg->s3_prefix, t->upload->request_id,
                                 t->upload->deploy_id, t->sb.task_id, t->sb.agent_id, j->host,
                                 act.file->name);
        na_logfiles_release(&files);
        s->job = j;
        if (digest_file(j) < 0) {
            job_end(j, false, "cannot read the file");
            return s->job != NULL;
        }
        if (j->step == J_HEAD)
            s3_call(j, "HEAD", NULL, NULL, 0, NULL, on_head);
        else
            record(j, "UPLOADING");
        return true;
    }
    return false;
}

/* Removes uploaded local copies beyond the budget, oldest first. */
static void enforce_budget(na_services *s)
{
    na_app *a = s->a;
    na_kept *kept = NULL;
    char **paths = NULL;
    size_t n = 0, *out, m;

    for (size_t i = 0; i < a->n_tracked; i++) {
        tracked *t = &a->tracked[i];
        bool final = na_app_finished(a, t);
        na_logfiles files;
        if (!t->upload || !t->upload->loaded)
            continue;
        na_list_logs(t->sb.dir, &files);
        for (size_t k = 0; k < files.n; k++) {
            const na_rec *r = na_recs_find(&t->upload->recs, files.v[k].name);
            /* only final files: a current log is still being written */
            if (!r || r->state != NA_REC_UPLOADED || !(files.v[k].rotated || final) ||
                r->size != files.v[k].size)
                continue;
            kept = xrealloc(kept, (n + 1) * sizeof(*kept));
            paths = xrealloc(paths, (n + 1) * sizeof(*paths));
            paths[n] = xasprintf("%s/%s", t->sb.dir, files.v[k].rel);
            kept[n] = (na_kept){paths[n], files.v[k].size, files.v[k].mtime_ms};
            n++;
        }
        na_logfiles_release(&files);
    }
    out = xcalloc(n + 1, sizeof(*out));
    m = na_budget_plan(kept, n, s->budget, out);
    for (size_t i = 0; i < m; i++) {
        const na_kept *k = &kept[out[i]];
        struct stat st;
        /* never a link: lstat, regular files only */
        if (lstat(k->path, &st) == 0 && S_ISREG(st.st_mode) && unlink(k->path) == 0) {
            s->st.local_deleted++;
            s->st.local_deleted_bytes += (uint64_t)k->size;
            cr_info(a->log, "removed %s (uploaded; over the %lld MiB disk budget)", k->path,
                    (long long)a->cfg->disk_budget_mb);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(kept);
    free(out);
}

/* The next upload, if none runs; when none is due, the budget at once. */
static void upload_kick(na_services *s)
{
    if (!s->s3_on || s->job)
        return;
    if (!start_next(s))
        enforce_budget(s);
}

/* Every upload-interval-ms. While uploads follow each other (a steady
 * stream of rotations, or one long upload) upload_kick never finds
 * nothing to do: the budget is enforced here too, so it holds whatever
 * the uploader is doing (it only removes files recorded UPLOADED, never
 * the one in flight: that one is UPLOADING). */
static void on_upload_tick(evutil_socket_t fd, short what, void *arg)
{
    na_services *s = arg;

    upload_kick(s);
    if (s->job)
        enforce_budget(s);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static char *read_token(const char *path, cr_err *err)
{
    FILE *f = fopen(path, "r");
    char buf[1024], *tok = NULL;

    if (!f) {
        cr_error(err, CR_EINVAL, "token-file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fgets(buf, sizeof(buf), f)) {
        char *p = buf + strspn(buf, " \t");
        p[strcspn(p, " \t\r\n")] = '\0';
        if (*p)
            tok = xstrdup(p);
    }
    fclose(f);
    if (!tok)
        cr_error(err, CR_EINVAL, "token-file '%s': empty", path);
    return tok;
}

static bool env_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

int na_keeper_start(na_app *a, na_services *s, cr_err *err);
void na_keeper_stop(na_app *a, na_services *s);
void na_keeper_metrics(na_app *a, na_services *s, cr_buf *out);

int na_app_services_start(na_app *a, cr_err *err)
{
    const na_config *c = a->cfg;
    na_services *s = xcalloc(1, sizeof(*s));
    const char *ep = c->s3_endpoint ? c->s3_endpoint : getenv("CORRAL_S3_ENDPOINT");
    const char *rg = c->s3_region           ? c->s3_region
                     : getenv("AWS_REGION") ? getenv("AWS_REGION")
                                            : getenv("AWS_DEFAULT_REGION");

    a->svc = s;
    s->a = a;
    if (c->token_file && !(s->token = read_token(c->token_file, err)))
        return -1;
    s->s3_endpoint = xstrdup(ep && *ep ? ep : "https://s3.amazonaws.com");
    s->s3_region = xstrdup(rg && *rg ? rg : "us-east-1");
    s->s3.endpoint = s->s3_endpoint;
    s->s3.region = s->s3_region;
    s->s3.access_key = getenv("AWS_ACCESS_KEY_ID");
    s->s3.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    s->s3.session_token = getenv("AWS_SESSION_TOKEN");
    s->s3.path_style = c->s3_path_style || env_true(getenv("CORRAL_S3_PATH_STYLE"));
    s->part_size = (int64_t)c->part_size_mb * 1024 * 1024;
    s->threshold = (int64_t)c->multipart_threshold_mb * 1024 * 1024;
    s->budget = (int64_t)c->disk_budget_mb * 1024 * 1024;
    if (c->s3_bucket && *c->s3_bucket) {
        struct timeval tv = {c->upload_interval_ms / 1000, (c->upload_interval_ms % 1000) * 1000};
        if (!c->corrald || !*c->corrald)
            return cr_error(err, CR_EINVAL,
                            "--s3-bucket needs --corrald: uploads are recorded through it");
        s->s3_on = true;
        s->upload_tick = event_new(a->base, -1, EV_PERSIST, on_upload_tick, s);
        evtimer_add(s->upload_tick, &tv);
        cr_info(a->log, "archiving logs to s3://%s/ at %s", c->s3_bucket, s->s3_endpoint);
    }
    return na_keeper_start(a, s, err);
}

void na_app_services_stop(na_app *a)
{
    na_services *s = a->svc;

    if (!s)
        return;
    na_keeper_stop(a, s);
    job_free(s->job);
    if (s->upload_tick)
        event_free(s->upload_tick);
    free(s->token);
    free(s->s3_endpoint);
    free(s->s3_region);
    free(s);
    a->svc = NULL;
}

const char *na_services_token(const na_services *s)
{
    return s->token;
}

void **na_services_keeper(na_services *s)
{
    return &s->keeper;
}

bool na_services_upload_done(na_app *a, const tracked *t)
{
    na_logfiles files;
    bool done;

    if (!a->svc || !a->svc->s3_on)
        return true;
    if (!t->upload || !t->upload->loaded)
        return t->upload && t->upload->unknown;
    na_list_logs(t->sb.dir, &files);
    done = na_upload_done(&files, &t->upload->recs, na_app_finished(a, t));
    na_logfiles_release(&files);
    return done;
}

void na_app_metrics_more(na_app *a, cr_buf *b)
{
    na_services *s = a->svc;

    if (!s)
        return;
#define M(name, type, help, v)                                                            \
    cr_buf_addf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " %llu\n", \
                (unsigned long long)(v))
    M("corral_nodeagent_uploads_total", "counter", "Log files uploaded to S3 and recorded.",
      s->st.uploads);
    M("corral_nodeagent_upload_bytes_total", "counter", "Bytes uploaded to S3.",
      s->st.upload_bytes);
    M("corral_nodeagent_upload_failures_total", "counter", "Upload attempts that failed.",
      s->st.upload_failures);
    M("corral_nodeagent_uploads_found_in_s3_total", "counter",
      "Claimed files S3 already had after a restart (recorded, not sent again).",
      s->st.skipped_present);
    M("corral_nodeagent_record_failures_total", "counter", "Upload record writes that failed.",
      s->st.record_failures);
    M("corral_nodeagent_local_deleted_total", "counter",
      "Uploaded local log copies removed for the disk budget.", s->st.local_deleted);
    M("corral_nodeagent_local_deleted_bytes_total", "counter", "Bytes of those.",
      s->st.local_deleted_bytes);
    M("corral_nodeagent_upload_in_flight", "gauge", "An upload in progress.", s->job ? 1 : 0);
#undef M
    na_keeper_metrics(a, s, b);
}
