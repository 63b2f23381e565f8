/* na_upload: what the S3 uploader does next, as pure functions over the
 * local log files and their upload records (docs/nodeagent.md, "Upload
 * guarantees").
 *
 * Every log file has at most one record, P/logs/<requestId>/<taskId>/<file>,
 * written through corrald:
 *   none       -> the file is not uploaded yet;
 *   UPLOADING  -> an upload was claimed: it may have reached S3 or not
 *                 (the node agent may have died anywhere after the claim);
 *   UPLOADED   -> S3 confirmed the object (ETag checked) and the record
 *                 says so; the local copy may go.
 * A file is uploaded only after its UPLOADING claim is committed, and the
 * object's key depends only on the task and the file, so an upload that
 * is repeated after a crash writes the same object again, never a second
 * one; a claimed file whose object S3 already has (HEAD: same size, same
 * ETag) is recorded without sending it again. Local copies are removed
 * only once UPLOADED, oldest first, while the uploaded copies kept exceed
 * the disk budget. */
#ifndef NA_UPLOAD_H
#define NA_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nodeagent/na_files.h"

typedef enum { NA_REC_NONE = 0, NA_REC_UPLOADING, NA_REC_UPLOADED } na_rec_state;

/* One upload record as corrald returned it. Strings owned. */
typedef struct na_rec {
    char *file; /* file name (the key's last part) */
    na_rec_state state;
    int64_t mod_revision;
    int64_t size;
    char *key;
    char *md5; /* hex, or NULL */
} na_rec;

typedef struct na_recs {
    na_rec *v;
    size_t n;
} na_recs;

/* Parses GET /api/nodeagent/uploads/{taskId}'s "records" array. */
struct json_t;
void na_recs_from_json(const struct json_t *records, na_recs *out);
void na_recs_release(na_recs *r);
const na_rec *na_recs_find(const na_recs *r, const char *file);
/* Sets (adds or replaces) the record of rec->file; takes rec's strings. */
void na_recs_set(na_recs *r, na_rec *rec);

typedef enum {
    NA_UP_NOTHING = 0,
    NA_UP_UPLOAD, /* claim (UPLOADING, ifRevision) then upload, then record */
    NA_UP_VERIFY, /* claimed before: HEAD; record if there, else upload again */
} na_up_kind;

typedef struct na_up_action {
    na_up_kind kind;
    const na_logfile *file; /* borrowed from the input */
    const na_rec *rec;      /* the file's record, or NULL */
} na_up_action;

/* The next upload action for one sandbox: a claimed file first (VERIFY),
 * then a file due that has no record (UPLOAD): rotated files always,
 * every log once the task's logs are final. Files are taken in the
 * order given (na_list_logs: rotated ones by sequence). skip(arg, file)
 * (may be NULL) leaves a file out (backing off after failures). */
na_up_action na_upload_next(const na_logfiles *files, const na_recs *recs, bool final,
                            bool (*skip)(void *arg, const char *file), void *arg);

/* Whether every file that is due is UPLOADED (a sandbox may be removed
 * then). */
bool na_upload_done(const na_logfiles *files, const na_recs *recs, bool final);

/* The object key of a file: pattern with %prefix, %requestId, %deployId,
 * %taskId, %agentId, %host, %file (and %% for '%') replaced; empty
 * components and leading slashes dropped ("/a//b" -> "a/b"). Caller frees. */
char *na_s3_key(const char *pattern, const char *prefix, const char *request_id,
                const char *deploy_id, const char *task_id, const char *agent_id, const char *host,
                const char *file);

/* A local copy the budget may remove: uploaded, final. */
typedef struct na_kept {
    const char *path; /* absolute, borrowed */
    int64_t size;
    int64_t mtime_ms;
} na_kept;

/* Which kept copies to remove (indexes into kept, written to out, count
 * returned): the oldest first (mtime, then path) until the rest fit in
 * budget bytes. */
size_t na_budget_plan(const na_kept *kept, size_t n, int64_t budget, size_t *out);

/* ---- S3's and corrald's answers (the decisions of na_services.c's I/O) ---- */

/* An AWS multipart ETag: 32 hex digits, '-', up to 5 digits, '\0'. */
#define NA_MP_ETAG_MAX 40

/* The ETag S3 gives an object uploaded in nparts parts whose binary MD5
 * digests are part_md5[0..nparts) (16 bytes each, in order): the hex MD5
 * of their concatenation, "-", nparts. Written to out. */
void na_mp_etag(const unsigned char *part_md5, size_t nparts, char out[NA_MP_ETAG_MAX]);

/* Whether etag (a header's or an XML element's value: quoted, &quot;-quoted
 * or bare) confirms the file: equal (ignoring case) to its hex MD5 md5 or,
 * when mp_etag is not NULL, to the multipart ETag it gets when uploaded in
 * parts (na_mp_etag; S3 gives that, some S3-compatible servers the MD5).
 * NULL or empty: false. */
bool na_etag_matches(const char *etag, const char *md5, const char *mp_etag);

typedef enum {
    NA_HEAD_ERROR = 0, /* S3 did not answer usably: back off, try again */
    NA_HEAD_ABSENT,    /* no object, or another one: upload (same key) */
    NA_HEAD_PRESENT,   /* the file's object: record it, send nothing */
} na_head_verdict;

/* After a restart a claimed (UPLOADING) file is looked up first: what a
 * HEAD of its key answered (status; Content-Length and ETag headers, NULL
 * when absent) says, for a file of size bytes with MD5 md5 and multipart
 * ETag mp_etag (NULL when it is sent in one PUT). */
na_head_verdict na_head_check(long status, const char *content_length, const char *etag,
                              int64_t size, const char *md5, const char *mp_etag);

/* The UploadId of an InitiateMultipartUpload answer; NULL when there is
 * none. Caller frees. */
char *na_mp_upload_id(const char *body);

/* Whether a CompleteMultipartUpload answer confirms the object: status
 * 200, a <CompleteMultipartUploadResult> and no <Error> (S3 may answer 200
 * and fail later in the body), and its <ETag>, when it has one, accepted
 * by na_etag_matches(etag, md5, mp_etag). false with the reason in why
 * (S3's <Code> and <Message> when it sent an error). */
bool na_mp_complete_ok(long status, const char *body, const char *md5, const char *mp_etag,
                       char *why, size_t why_size);

typedef enum {
    NA_RECORD_FAILED = 0, /* corrald or the network failed: back off, try again */
    NA_RECORD_OK,         /* written */
    NA_RECORD_CONFLICT,   /* 409: the record changed since it was read (another
                           * node agent claimed the file): read the records
                           * again, back off this file, send nothing */
} na_record_result;

/* What corrald's answer (HTTP status) to an upload record write means. */
na_record_result na_record_answer(long status);

/* The upload record a node agent writes for a file (PUT
 * /api/nodeagent/uploads/{taskId}/{fileName}; docs/etcd-layout.md, P/logs).
 * agent_id may be NULL; uploaded_at is written when state is UPLOADED.
 * Caller owns the result. */
typedef struct na_record_in {
    const char *state; /* "UPLOADING" or "UPLOADED" */
    const char *bucket, *key, *sha256, *md5, *host, *agent_id, *path;
    int64_t size, created_at, uploaded_at, end_time;
} na_record_in;
struct json_t *na_upload_record(const na_record_in *in);

/* Backoff before try number `failures` + 1 of a file: 1 s doubling, at
 * most 60 s. */
int64_t na_upload_backoff_ms(int failures);

#endif
