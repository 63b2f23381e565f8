#include "test/lib/cr_test.h"

#include <string.h>

#include "executor/exe_s3.h"

/* The signer itself is tested in test/base/test_s3.c (base/s3.h). */
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

int main(void);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_signed_get_urls),
};
CR_TEST_MAIN(tests)
