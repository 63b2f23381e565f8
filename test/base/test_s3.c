#include "test/lib/cr_test.h"

#include <string.h>

#include "base/s3.h"

/* AWS's documented SigV4 example for S3 (GET Object with a Range header):
 * examplebucket, /test.txt, 20130524T000000Z, us-east-1, the example keys. */
static void test_sigv4_aws_example(void **state)
{
    cr_sigv4_header h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"range", "bytes=0-9"},
        {"x-amz-content-sha256", CR_S3_EMPTY_SHA256},
        {"x-amz-date", "20130524T000000Z"},
    };
    cr_sigv4_req r = {
        .method = "GET",
        .canonical_uri = "/test.txt",
        .canonical_query = "",
        .headers = h,
        .n_headers = 4,
        .payload_sha256 = CR_S3_EMPTY_SHA256,
        .amz_date = "20130524T000000Z",
        .region = "us-east-1",
        .service = "s3",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    char *auth = cr_sigv4_authorization(&r);

    assert_string_equal(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(auth);
}

/* AWS's documented presigned-URL example (query string authentication):
 * GET examplebucket/test.txt, 20130524T000000Z, 86400 s. */
static void test_presign_aws_example(void **state)
{
    cr_s3_cfg c = {.endpoint = "https://s3.amazonaws.com",
                   .access_key = "AKIAIOSFODNN7EXAMPLE",
                   .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
    char *u =
        cr_s3_presign(&c, "GET", "examplebucket", "test.txt", "20130524T000000Z", 86400, NULL);

    assert_string_equal(
        u, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
           "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
           "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
           "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(u);
    /* extra parameters sort after the X-Amz ones (byte order) */
    c.endpoint = "http://127.0.0.1:9000";
    c.path_style = true;
    u = cr_s3_presign(&c, "GET", "b", "a/x.log", "20130524T000000Z", 60,
                      "response-content-disposition=attachment");
    assert_non_null(strstr(u, "http://127.0.0.1:9000/b/a/x.log?X-Amz-Algorithm="));
    assert_non_null(strstr(u, "X-Amz-SignedHeaders=host&response-content-disposition=attachment"
                              "&X-Amz-Signature="));
    free(u);
    /* no credentials: the plain URL */
    c.access_key = NULL;
    u = cr_s3_presign(&c, "GET", "b", "k", "20130524T000000Z", 60, NULL);
    assert_string_equal(u, "http://127.0.0.1:9000/b/k");
    free(u);
    c.endpoint = "ftp://x";
    assert_null(cr_s3_presign(&c, "GET", "b", "k", "20130524T000000Z", 60, NULL));
}

static void test_signed_put_with_query(void **state)
{
    cr_s3_cfg c = {.endpoint = "http://127.0.0.1:80",
                   .access_key = "AK",
                   .secret_key = "SK",
                   .session_token = "TOK",
                   .path_style = true};
    char sha[65], *url, **h;

    cr_sha256_hex("abc", 3, sha);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    h = cr_s3_signed(&c, "PUT", "bkt", "k/1", "partNumber=1&uploadId=x", sha, "20260101T000000Z",
                     &url);
    assert_string_equal(url, "http://127.0.0.1/bkt/k/1?partNumber=1&uploadId=x");
    assert_non_null(strstr(h[0], "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                                 "x-amz-security-token, Signature="));
    assert_string_equal(h[1], "x-amz-content-sha256: "
                              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(h[3], "x-amz-security-token: TOK");
    assert_null(h[4]);
    cr_strv_free(h);
    cr_strv_free(NULL);
    free(url);
}

static void test_uri_encode_and_date(void **state)
{
    char *s = cr_s3_uri_encode("a/b c~_-.*", true), d[17];
    assert_string_equal(s, "a/b%20c~_-.%2A");
    free(s);
    s = cr_s3_uri_encode("a/b", false);
    assert_string_equal(s, "a%2Fb");
    free(s);
    cr_s3_amz_date(1369353600000LL, d);
    assert_string_equal(d, "20130524T000000Z");
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sigv4_aws_example),
    cmocka_unit_test(test_presign_aws_example),
    cmocka_unit_test(test_signed_put_with_query),
    cmocka_unit_test(test_uri_encode_and_date),
};
CR_TEST_MAIN(tests)
