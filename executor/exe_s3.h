/* exe_s3: S3 object URLs and AWS Signature Version 4 (pure).
 *
 * The executor signs its own GETs (HMAC-SHA256 from OpenSSL) and sends them
 * through base/httpc, so any S3-compatible endpoint works: AWS
 * (virtual-hosted or path style) or a local server (path style, plain
 * http). The signature covers host, x-amz-content-sha256, x-amz-date and,
 * with temporary credentials, x-amz-security-token. */
#ifndef EXE_S3_H
#define EXE_S3_H

#include <stdbool.h>
#include <stddef.h>

typedef struct exe_s3_cfg {
    const char *endpoint;   /* "https://s3.amazonaws.com", "http://127.0.0.1:9000" */
    const char *region;     /* "us-east-1" when NULL */
    const char *access_key; /* NULL: unsigned (anonymous) requests */
    const char *secret_key;
    const char *session_token; /* may be NULL */
    bool path_style;           /* endpoint/bucket/key instead of bucket.host/key */
} exe_s3_cfg;

/* One header to sign: lower-case name, trimmed value. */
typedef struct exe_sigv4_header {
    const char *name;
    const char *value;
} exe_sigv4_header;

typedef struct exe_sigv4_req {
    const char *method;              /* "GET" */
    const char *canonical_uri;       /* already URI-encoded path, "/bucket/key" */
    const char *canonical_query;     /* "" for none */
    const exe_sigv4_header *headers; /* sorted by name, as sent */
    size_t n_headers;
    const char *payload_sha256; /* hex */
    const char *amz_date;       /* "20130524T000000Z" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
} exe_sigv4_req;

/* The Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=..."). Caller frees. */
char *exe_sigv4_authorization(const exe_sigv4_req *r);

/* URI-encodes s the way SigV4 wants (unreserved kept; '/' kept when
 * keep_slash). Caller frees. */
char *exe_s3_uri_encode(const char *s, bool keep_slash);

/* A signed GET for bucket/key at time amz_date ("YYYYMMDDTHHMMSSZ"). Sets
 * *url (caller frees) and returns a NULL-terminated list of "Name: value"
 * headers to send (caller frees with exe_strv_free). Returns NULL when the
 * endpoint is not an http(s) URL. */
char **exe_s3_signed_get(const exe_s3_cfg *cfg, const char *bucket, const char *key,
                         const char *amz_date, char **url);

void exe_strv_free(char **v);

#endif
