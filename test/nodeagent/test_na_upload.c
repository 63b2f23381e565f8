#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/xalloc.h"
#include "nodeagent/na_upload.h"

static na_logfile lf(const char *rel, bool rotated, int seq, int64_t size)
{
    const char *slash = strrchr(rel, '/');
    na_logfile f = {(char *)rel, (char *)(slash ? slash + 1 : rel), size, 0, rotated, seq};
    return f;
}

static void recs_of(const char *text, na_recs *out)
{
    json_t *j = cr_test_json(text);
    na_recs_from_json(j, out);
    json_decref(j);
}

/* Rotated files go while the task runs; the rest once its logs are final;
 * a claimed file (UPLOADING: the last run died after the claim) comes
 * first and is verified, never claimed again. */
static void test_next_action(void **state)
{
    na_logfile v[] = {lf("logs/service.log.1", true, 1, 10), lf("logs/service.log.2", true, 2, 10),
                      lf("service.log", false, 0, 5), lf("stdout", false, 0, 0)};
    na_logfiles files = {v, 4};
    na_recs recs;
    na_up_action a;

    recs_of("[]", &recs);
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_UPLOAD);
    assert_string_equal(a.file->name, "service.log.1");
    na_recs_release(&recs);

    recs_of("[{\"fileName\":\"service.log.1\",\"state\":\"UPLOADED\",\"modRevision\":5},"
            " {\"fileName\":\"service.log.2\",\"state\":\"UPLOADING\",\"modRevision\":7,"
            "  \"key\":\"p/r/t/service.log.2\",\"size\":10}]",
            &recs);
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_VERIFY);
    assert_string_equal(a.file->name, "service.log.2");
    assert_string_equal(a.rec->key, "p/r/t/service.log.2");
    assert_int_equal(a.rec->mod_revision, 7);
    assert_false(na_upload_done(&files, &recs, false));

    /* confirmed: nothing more while the task runs ... */
    {
        na_rec r = {xstrdup("service.log.2"), NA_REC_UPLOADED, 8, 10, NULL, NULL};
        na_recs_set(&recs, &r);
    }
    a = na_upload_next(&files, &recs, false, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_NOTHING);
    assert_true(na_upload_done(&files, &recs, false));
    /* ... the current logs once final */
    a = na_upload_next(&files, &recs, true, NULL, NULL);
    assert_int_equal(a.kind, NA_UP_UPLOAD);
    assert_string_equal(a.file->name, "service.log");
    assert_false(na_upload_done(&files, &recs, true));
    assert_int_equal(recs.n, 2);
    na_recs_release(&recs);
}

static bool skip_service_log(void *arg, const char *file)
{
    return strcmp(file, "service.log") == 0;
}

static void test_backoff_skips_a_failing_file(void **state)
{
    na_logfile v[] = {lf("service.log", false, 0, 5), lf("stdout", false, 0, 0)};
    na_logfiles files = {v, 2};
    na_recs recs;
    na_up_action a;

    recs_of("[]", &recs);
    a = na_upload_next(&files, &recs, true, skip_service_log, NULL);
    assert_string_equal(a.file->name, "stdout");
    na_recs_release(&recs);
    assert_int_equal(na_upload_backoff_ms(1), 1000);
    assert_int_equal(na_upload_backoff_ms(2), 2000);
    assert_int_equal(na_upload_backoff_ms(5), 16000);
    assert_int_equal(na_upload_backoff_ms(30), 60000);
}

static void test_key_pattern(void **state)
{
    char *k = na_s3_key("%prefix/%requestId/%taskId/%file", "", "web", "v1", "web-v1-1-1-h-r", "a1",
                        "h", "service.log.3");
    assert_string_equal(k, "web/web-v1-1-1-h-r/service.log.3");
    free(k);
    k = na_s3_key("/%prefix//%requestId/%deployId/%agentId-%host/100%%/%file%x", "logs/corral",
                  "web", "v1", "t", "a1", "h", "f");
    assert_string_equal(k, "logs/corral/web/v1/a1-h/100%/f%x");
    free(k);
}

/* The oldest uploaded copies go first, until the rest fit. */
static void test_budget(void **state)
{
    na_kept kept[] = {
        {"/s/c", 100, 3000}, {"/s/a", 100, 1000}, {"/s/b", 100, 2000}, {"/s/d", 50, 1000}};
    size_t out[4];

    assert_int_equal(na_budget_plan(kept, 4, 350, out), 0);
    assert_int_equal(na_budget_plan(kept, 4, 200, out), 2);
    assert_string_equal(kept[out[0]].path, "/s/a"); /* same mtime: by path */
    assert_string_equal(kept[out[1]].path, "/s/d");
    assert_int_equal(na_budget_plan(kept, 4, 0, out), 4);
    assert_string_equal(kept[out[3]].path, "/s/c");
    assert_int_equal(na_budget_plan(kept, 0, 0, out), 0);
}

static void md5_of(const char *s, unsigned char out[16])
{
    unsigned int n;
    EVP_Digest(s, strlen(s), out, &n, EVP_md5(), NULL);
}

/* S3's multipart ETag: the MD5 of the parts' binary MD5s, "-", their
 * count (figures from Python's hashlib). */
static void test_multipart_etag(void **state)
{
    unsigned char parts[32];
    char e[NA_MP_ETAG_MAX];

    md5_of("part one", parts);
    md5_of("part two", parts + 16);
    na_mp_etag(parts, 2, e);
    assert_string_equal(e, "0732917abc3288784e318ac0aab1757a-2");
    na_mp_etag(parts, 1, e);
    assert_string_equal(e + 32, "-1");
}

/* An ETag confirms a file when it is its MD5, or (sent in parts) its
 * multipart ETag; quotes of any kind, case ignored. */
static void test_etag_matches(void **state)
{
    const char *md5 = "3303e12af474ca11d85ed2966a932992";
    const char *mp = "0732917abc3288784e318ac0aab1757a-2";

    assert_true(na_etag_matches("\"3303e12af474ca11d85ed2966a932992\"", md5, NULL));
    assert_true(na_etag_matches("3303E12AF474CA11D85ED2966A932992", md5, NULL));
    assert_true(na_etag_matches("&quot;3303e12af474ca11d85ed2966a932992&quot;", md5, mp));
    assert_true(na_etag_matches("\"0732917abc3288784e318ac0aab1757a-2\"", md5, mp));
    /* a multipart ETag when the file went in one PUT: not confirmed */
    assert_false(na_etag_matches("\"0732917abc3288784e318ac0aab1757a-2\"", md5, NULL));
    /* another file's, another part count, a prefix, nothing */
    assert_false(na_etag_matches("\"3ea4e15b91a17dc76052c56cfcdf67a2\"", md5, mp));
    assert_false(na_etag_matches("\"0732917abc3288784e318ac0aab1757a-3\"", md5, mp));
    assert_false(na_etag_matches("\"3303e12af474ca11d85ed2966a93299\"", md5, NULL));
    assert_false(na_etag_matches("\"3303e12af474ca11d85ed2966a932992", md5, NULL));
    assert_false(na_etag_matches("", md5, mp));
    assert_false(na_etag_matches(NULL, md5, mp));
    assert_false(na_etag_matches("\"\"", "", NULL));
}

/* The HEAD after a restart: only the file's own object (size and ETag)
 * is recorded without sending it again. */
static void test_head_check(void **state)
{
    const char *md5 = "3303e12af474ca11d85ed2966a932992";
    const char *mp = "0732917abc3288784e318ac0aab1757a-2";
    const char *q_md5 = "\"3303e12af474ca11d85ed2966a932992\"";
    const char *q_mp = "\"0732917abc3288784e318ac0aab1757a-2\"";

    assert_int_equal(na_head_check(404, NULL, NULL, 10, md5, NULL), NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, "10", q_md5, 10, md5, NULL), NA_HEAD_PRESENT);
    assert_int_equal(na_head_check(200, "10", q_md5, 10, md5, mp), NA_HEAD_PRESENT);
    assert_int_equal(na_head_check(200, "10", q_mp, 10, md5, mp), NA_HEAD_PRESENT);
    /* some multipart object of the same size is not this file's */
    assert_int_equal(
        na_head_check(200, "10", "\"0123456789abcdef0123456789abcdef-2\"", 10, md5, mp),
        NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, "10", q_mp, 10, md5, NULL), NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, "9", q_md5, 10, md5, NULL), NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, "10x", q_md5, 10, md5, NULL), NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, NULL, q_md5, 10, md5, NULL), NA_HEAD_ABSENT);
    assert_int_equal(na_head_check(200, "10", NULL, 10, md5, NULL), NA_HEAD_ABSENT);
    /* S3 trouble: back off, do not upload blindly */
    assert_int_equal(na_head_check(403, NULL, NULL, 10, md5, NULL), NA_HEAD_ERROR);
    assert_int_equal(na_head_check(500, NULL, NULL, 10, md5, NULL), NA_HEAD_ERROR);
    assert_int_equal(na_head_check(0, NULL, NULL, 10, md5, NULL), NA_HEAD_ERROR);
}

static void test_multipart_answers(void **state)
{
    const char *md5 = "3303e12af474ca11d85ed2966a932992";
    const char *mp = "0732917abc3288784e318ac0aab1757a-2";
    char why[400], *id;

    id = na_mp_upload_id("<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>"
                         "<Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
                         "</InitiateMultipartUploadResult>");
    assert_string_equal(id, "VXBsb2FkIElE");
    free(id);
    assert_null(na_mp_upload_id("<InitiateMultipartUploadResult><UploadId></UploadId>"));
    assert_null(na_mp_upload_id("<Error><Code>AccessDenied</Code></Error>"));
    assert_null(na_mp_upload_id(NULL));

    /* AWS: the multipart ETag, &quot;-quoted in the XML */
    assert_true(na_mp_complete_ok(
        200,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>l</Location><Bucket>b</Bucket>"
        "<Key>k</Key><ETag>&quot;0732917abc3288784e318ac0aab1757a-2&quot;</ETag>"
        "</CompleteMultipartUploadResult>",
        md5, mp, why, sizeof(why)));
    /* s3rver: the whole object's MD5 */
    assert_true(na_mp_complete_ok(200,
                                  "<CompleteMultipartUploadResult><ETag>\"3303e12af474ca11d85ed2966"
                                  "a932992\"</ETag></CompleteMultipartUploadResult>",
                                  md5, mp, why, sizeof(why)));
    /* no ETag in the answer: the status and the result decide */
    assert_true(na_mp_complete_ok(200,
                                  "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>",
                                  md5, mp, why, sizeof(why)));
    /* 200, then an error in the body (S3 does that on long completes) */
    assert_false(na_mp_complete_ok(200,
                                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                                   "InternalError</Code><Message>We encountered an internal error."
                                   " Please try again.</Message></Error>",
                                   md5, mp, why, sizeof(why)));
    assert_non_null(strstr(why, "InternalError"));
    assert_non_null(strstr(why, "Please try again"));
    /* other bytes than the file's */
    assert_false(na_mp_complete_ok(200,
                                   "<CompleteMultipartUploadResult><ETag>\"0123456789abcdef0123456"
                                   "789abcdef-2\"</ETag></CompleteMultipartUploadResult>",
                                   md5, mp, why, sizeof(why)));
    assert_non_null(strstr(why, "not confirmed"));
    assert_false(na_mp_complete_ok(200, "", md5, mp, why, sizeof(why)));
    assert_false(na_mp_complete_ok(200, NULL, md5, mp, why, sizeof(why)));
    assert_false(na_mp_complete_ok(400, "<Error><Code>InvalidPart</Code></Error>", md5, mp, why,
                                   sizeof(why)));
    assert_non_null(strstr(why, "HTTP 400"));
}

/* A claim answered 409: another writer (node agent) changed the record
 * since it was read; reload, do not upload. */
static void test_record_answer(void **state)
{
    assert_int_equal(na_record_answer(200), NA_RECORD_OK);
    assert_int_equal(na_record_answer(409), NA_RECORD_CONFLICT);
    assert_int_equal(na_record_answer(412), NA_RECORD_FAILED);
    assert_int_equal(na_record_answer(500), NA_RECORD_FAILED);
    assert_int_equal(na_record_answer(0), NA_RECORD_FAILED);
}

/* The names of the fields of the first {...} after "upload record:" in
 * the P/logs row of docs/etcd-layout.md (values, after ':', left out). */
static json_t *doc_record_fields(void)
{
    char *doc = cr_test_fixture("../docs/etcd-layout.md", NULL);
    const char *row = strstr(doc, "| `P/logs/<requestId>/<taskId>/<fileName>` |");
    const char *p = NULL, *end = NULL;
    json_t *names = json_object();

    if (!row || !(p = strstr(row, "upload record: `{")) || !(end = strchr(p, '}')))
        fail_msg("docs/etcd-layout.md: no P/logs row with the upload record's fields");
    p += strlen("upload record: `{");
    while (p < end) {
        const char *q = strchr(p, '"'), *e;
        if (!q || q >= end)
            break;
        e = strchr(q + 1, '"');
        if (q == p || q[-1] != ':') /* a name, not a value */
            json_object_setn_new(names, q + 1, (size_t)(e - q - 1), json_true());
        p = e + 1;
    }
    free(doc);
    return names;
}

/* docs/etcd-layout.md lists the fields a node agent writes, plus the
 * three corrald adds (taskId, requestId, deployId), and no other. */
static void test_record_fields_match_the_doc(void **state)
{
    na_record_in in = {"UPLOADED", "logs",     "k", "sha", "md5", "h",
                       "agent-1",  "logs/x.1", 1,   2,     3,     4};
    json_t *rec = na_upload_record(&in), *doc = doc_record_fields(), *v;
    const char *k;
    void *tmp;

    assert_int_equal(json_integer_value(json_object_get(rec, "uploadedAt")), 3);
    assert_string_equal(json_string_value(json_object_get(rec, "agentId")), "agent-1");
    json_object_set_new(rec, "taskId", json_string("t"));
    json_object_set_new(rec, "requestId", json_string("r"));
    json_object_set_new(rec, "deployId", json_string("d"));
    json_object_foreach (rec, k, v)
        if (!json_object_get(doc, k))
            fail_msg("docs/etcd-layout.md: the upload record lacks \"%s\"", k);
    json_object_foreach_safe (doc, tmp, k, v)
        if (!json_object_get(rec, k))
            fail_msg("docs/etcd-layout.md: the upload record lists \"%s\", never written", k);
    json_decref(rec);
    json_decref(doc);
    /* a claim has no uploadedAt; no agent id, no agentId */
    in.state = "UPLOADING";
    in.agent_id = NULL;
    rec = na_upload_record(&in);
    assert_null(json_object_get(rec, "uploadedAt"));
    assert_null(json_object_get(rec, "agentId"));
    json_decref(rec);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_next_action),    cmocka_unit_test(test_backoff_skips_a_failing_file),
    cmocka_unit_test(test_key_pattern),    cmocka_unit_test(test_budget),
    cmocka_unit_test(test_multipart_etag), cmocka_unit_test(test_etag_matches),
    cmocka_unit_test(test_head_check),     cmocka_unit_test(test_multipart_answers),
    cmocka_unit_test(test_record_answer),  cmocka_unit_test(test_record_fields_match_the_doc),
};
CR_TEST_MAIN(tests)
