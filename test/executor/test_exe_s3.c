#include "test/lib/cr_test.h"

#include <string.h>

#include "executor/exe_s3.h"

/* AWS's documented SigV4 example for S3 (GET Object with a Range header):
 * examplebucket, /test.txt, 20130524T000000Z, us-east-1, the example keys. */
static void test_sigv4_aws_example(void **state)
{
    exe_sigv4_header h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"range", "bytes=0-9"},
        {"x-amz-content-sha256",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"x-amz-date", "20130524T000000Z"},
    };
    exe_sigv4_req r = {
        .method = "GET",
        .canonical_uri = "/test.txt",
        .canonical_query = "",
        .headers = h,
        .n_headers = 4,
        .payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .amz_date = "20130524T000000Z",
        .region = "us-east-1",
        .service = "s3",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    char *auth = exe_sigv4_authorization(&r);

    assert_string_equal(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(auth);
}

static void test_signed_get_urls(void **state)
{
    exe_s3_cfg path = {.endpoint = "http://127.0.0.1:9000",
                       .access_key = "AK",
                       .secret_key = "SK",
                       .path_style = true};
    exe_s3_cfg vhost = {.endpoint = "https://s3.amazonaws.com:443", .region = "eu-west-1"};
    char *url, **h;

    h = exe_s3_signed_get(&path, "my.bucket", "dir/a b+c.tar.gz", "20260101T000000Z", &url);
    assert_non_null(h);
    assert_string_equal(url, "http://127.0.0.1:9000/my.bucket/dir/a%20b%2Bc.tar.gz");
    assert_non_null(strstr(
        h[0], "Authorization: AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));
    assert_string_equal(h[2], "x-amz-date: 20260101T000000Z");
    assert_null(h[3]);
    exe_strv_free(h);
    free(url);

    /* No credentials: an anonymous GET, virtual-hosted style. */
    h = exe_s3_signed_get(&vhost, "bkt", "k", "20260101T000000Z", &url);
    assert_string_equal(url, "https://bkt.s3.amazonaws.com/k");
    assert_null(h[0]);
    exe_strv_free(h);
    free(url);

    vhost.endpoint = "ftp://x";
    assert_null(exe_s3_signed_get(&vhost, "b", "k", "20260101T000000Z", &url));
    assert_null(url);
}

static void test_uri_encode(void **state)
{
    char *s = exe_s3_uri_encode("a/b c~_-.*", true);
    assert_string_equal(s, "a/b%20c~_-.%2A");
    free(s);
    s = exe_s3_uri_encode("a/b", false);
    assert_string_equal(s, "a%2Fb");
    free(s);
}

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sigv4_aws_example),
    cmocka_unit_test(test_signed_get_urls),
    cmocka_unit_test(test_uri_encode),
};
CR_TEST_MAIN(tests)
