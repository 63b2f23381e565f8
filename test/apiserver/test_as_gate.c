#include "test/lib/cr_test.h"

#include <string.h>

#include "apiserver/as_gate.h"

#define HEAD 1024
#define BODY 4096

static as_gate_rc judge(const char *text, as_gate_verdict *v)
{
    return as_gate_judge(text, strlen(text), 0, HEAD, BODY, v);
}

/* Refused with status, and a message containing needle. */
static void assert_refused(const char *text, int status, const char *needle)
{
    as_gate_verdict v;

    assert_int_equal(judge(text, &v), AS_GATE_REFUSE);
    assert_int_equal(v.status, status);
    if (!strstr(v.message, needle))
        fail_msg("%d for %s: message '%s' lacks '%s'", status, text, v.message, needle);
    assert_true(v.method[0] != '\0');
}

static void test_pass(void **state)
{
    as_gate_verdict v;
    const char *get = "GET /api/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n";
    const char *post = "POST /api/requests HTTP/1.1\r\ncontent-length:  12 \r\n"
                       "Expect: 100-Continue\r\n\r\n{\"id\":\"x\"}";

    assert_int_equal(judge(get, &v), AS_GATE_PASS);
    assert_int_equal(v.head_len, strlen(get));
    assert_int_equal(v.body_len, 0);
    assert_int_equal(judge(post, &v), AS_GATE_PASS);
    assert_int_equal(v.body_len, 12);
    assert_int_equal(v.head_len, strstr(post, "{") - post);
    /* LF alone ends lines too, as evhttp reads them; folded lines go on. */
    assert_int_equal(judge("PUT /x HTTP/1.0\nA: b\n c\nContent-Length: 4096\n\n", &v),
                     AS_GATE_PASS);
    assert_int_equal(v.body_len, BODY);
    /* The same Content-Length twice is one. */
    assert_int_equal(judge("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", &v),
                     AS_GATE_PASS);
    /* Expect is only read for an HTTP/1.1 body (evhttp_have_expect). */
    assert_int_equal(judge("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: x\r\n\r\n", &v),
                     AS_GATE_PASS);
    assert_int_equal(judge("GET / HTTP/1.1\r\nExpect: x\r\n\r\n", &v), AS_GATE_PASS);
}

static void test_more_and_skip(void **state)
{
    as_gate_verdict v;
    const char *full = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    for (size_t n = 1; n < strlen(full); n++)
        assert_int_equal(as_gate_judge(full, n, 0, HEAD, BODY, &v), AS_GATE_MORE);
    /* "from": where the previous look stopped; the end is found past it. */
    assert_int_equal(as_gate_judge(full, strlen(full), strlen(full) - 1, HEAD, BODY, &v),
                     AS_GATE_PASS);
    assert_int_equal(v.head_len, strlen(full));
    /* Empty lines before the request line are dropped. */
    assert_int_equal(judge("\r\n\nGET / HTTP/1.1\r\n\r\n", &v), AS_GATE_SKIP);
    assert_int_equal(v.skip, 3);
    assert_int_equal(judge("\r\n\r", &v), AS_GATE_SKIP);
    assert_int_equal(v.skip, 2);
    assert_int_equal(judge("\r", &v), AS_GATE_MORE);
}

static void test_sizes(void **state)
{
    as_gate_verdict v;
    char big[HEAD + 64];

    /* No end within the cap: 431, whatever follows. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    assert_int_equal(as_gate_judge(big, HEAD - 1, 0, HEAD, BODY, &v), AS_GATE_MORE);
    assert_int_equal(as_gate_judge(big, HEAD, 0, HEAD, BODY, &v), AS_GATE_REFUSE);
    assert_int_equal(v.status, 431);
    assert_string_equal(v.method, "GET");
    /* A head of exactly the cap passes; one byte more does not. */
    memcpy(big + HEAD - 4, "\r\n\r\n", 4);
    assert_int_equal(as_gate_judge(big, HEAD, 0, HEAD, BODY, &v), AS_GATE_PASS);
    memmove(big + HEAD - 3, big + HEAD - 4, 4);
    big[HEAD - 4] = 'a';
    assert_int_equal(as_gate_judge(big, HEAD + 1, 0, HEAD, BODY, &v), AS_GATE_REFUSE);
    assert_int_equal(v.status, 431);

    assert_refused("POST /api/requests HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413,
                   "4097 bytes (limit 4096)");
    assert_refused("PUT /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
                   "limit 4096");
    assert_int_equal(judge("PATCH /x HTTP/1.1\r\nContent-Length: 3145728\r\n\r\n", &v),
                     AS_GATE_REFUSE);
    assert_string_equal(v.method, "PATCH");
}

static void test_malformed(void **state)
{
    assert_refused("GET /\r\n\r\n", 400, "request line");
    assert_refused("GET  / HTTP/1.1\r\n\r\n", 400, "request line");
    assert_refused("GET / HTTP/1.1 x\r\n\r\n", 400, "request line");
    assert_refused("GET /a\tb HTTP/1.1\r\n\r\n", 400, "request line");
    assert_refused("GET / HTTP/2.0\r\n\r\n", 505, "version");
    assert_refused("GET / FTP/1.1\r\n\r\n", 400, "request line");
    assert_refused("BREW / HTTP/1.1\r\n\r\n", 501, "method BREW is not implemented");
    assert_refused("TRACE / HTTP/1.1\r\n\r\n", 501, "TRACE");
    assert_refused("get / HTTP/1.1\r\n\r\n", 501, "method not implemented");
    assert_refused("GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400, "name: value");
    assert_refused("GET / HTTP/1.1\r\n: v\r\n\r\n", 400, "name: value");
    assert_refused("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400, "header name");
    assert_refused("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, "control");
    assert_refused("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "control");
    assert_refused("GET / HTTP/1.1\r\n folded\r\n\r\n", 400, "folded");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\n", 400, "folded");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400, "Content-Length");
    assert_refused("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "Content-Length");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
                   "conflicting");
    assert_refused("HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 400, "HEAD");
}

static void test_framing(void **state)
{
    assert_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "Content-Length");
    assert_refused("POST / HTTP/1.1\r\ntransfer-encoding: CHUNKED\r\n\r\n", 411, "chunked");
    assert_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                   "Transfer-Encoding");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400, "both");
    assert_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 200-ok\r\n\r\n", 417,
                   "100-continue");
}

static void test_messages_quote_nothing_sent(void **state)
{
    as_gate_verdict v;

    /* Only a method name of capital letters is quoted. */
    assert_int_equal(judge("<script> / HTTP/1.1\r\n\r\n", &v), AS_GATE_REFUSE);
    assert_null(strchr(v.message, '<'));
    assert_string_equal(v.method, "GET");
    assert_int_equal(
        judge("GET / HTTP/1.1\r\nX-Evil: \"quoted\"\r\nContent-Length: 9999\r\n\r\n", &v),
        AS_GATE_REFUSE);
    assert_null(strstr(v.message, "Evil"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pass),    cmocka_unit_test(test_more_and_skip),
    cmocka_unit_test(test_sizes),   cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_framing), cmocka_unit_test(test_messages_quote_nothing_sent),
};
CR_TEST_MAIN(tests)
