/* cr_s3: S3 request signing (AWS Signature Version 4) and object URLs,
 * pure: one implementation for every binary that talks to S3
 * (corral-executor fetches artifacts, corral-nodeagent uploads logs,
 * corrald presigns download links). HMAC-SHA256 from OpenSSL; requests go
 * out through base/httpc (libcurl), so any S3-compatible endpoint works:
 * AWS (virtual-hosted or path style) or a local server (path style, plain
 * http).
 *
 * Header-signed requests sign host, x-amz-content-sha256, x-amz-date and,
 * with temporary credentials, x-amz-security-token. Presigned URLs sign
 * host only, with UNSIGNED-PAYLOAD, as AWS's SDKs do. */
#ifndef CR_S3_H
#define CR_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cr_s3_cfg {
    const char *endpoint;   /* "https://s3.amazonaws.com", "http://127.0.0.1:9000" */
    const char *region;     /* "us-east-1" when NULL */
    const char *access_key; /* NULL: unsigned (anonymous) requests */
    const char *secret_key;
    const char *session_token; /* may be NULL */
    bool path_style;           /* endpoint/bucket/key instead of bucket.host/key */
} cr_s3_cfg;

/* SHA-256 of an empty body, hex. */
#define CR_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One header to sign: lower-case name, trimmed value. */
typedef struct cr_sigv4_header {
    const char *name;
    const char *value;
} cr_sigv4_header;

typedef struct cr_sigv4_req {
    const char *method;             /* "GET" */
    const char *canonical_uri;      /* already URI-encoded path, "/bucket/key" */
    const char *canonical_query;    /* sorted, encoded "a=1&b=2"; "" for none */
    const cr_sigv4_header *headers; /* sorted by name, as sent */
    size_t n_headers;
    const char *payload_sha256; /* hex, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;       /* "20130524T000000Z" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
} cr_sigv4_req;

/* The Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=..."). Caller frees. */
char *cr_sigv4_authorization(const cr_sigv4_req *r);

/* The bare signature (64 hex digits and a NUL) of r. */
void cr_sigv4_signature(const cr_sigv4_req *r, char out[65]);

/* URI-encodes s the way SigV4 wants (unreserved kept; '/' kept when
 * keep_slash). Caller frees. */
char *cr_s3_uri_encode(const char *s, bool keep_slash);

/* Hex SHA-256 of p[0..n). */
void cr_sha256_hex(const void *p, size_t n, char out[65]);

/* "YYYYMMDDTHHMMSSZ" of epoch_ms into out. */
void cr_s3_amz_date(int64_t epoch_ms, char out[17]);

/* A request signed in its headers: method on bucket/key (key "" for the
 * bucket), canonical query (sorted "name=value&...", encoded; NULL or ""
 * for none) appended to the URL, payload_sha256 (NULL: the empty body's).
 * Sets *url (caller frees) and returns a NULL-terminated list of "Name:
 * value" headers to send (caller frees with cr_strv_free; empty without
 * credentials). NULL (and *url NULL) when the endpoint is not http(s). */
char **cr_s3_signed(const cr_s3_cfg *cfg, const char *method, const char *bucket, const char *key,
                    const char *query, const char *payload_sha256, const char *amz_date,
                    char **url);

/* A presigned URL for method on bucket/key, valid expires_s seconds from
 * amz_date; extra_query: more encoded "name=value" pairs joined by '&'
 * (e.g. response-content-disposition), or NULL. Without credentials the
 * plain object URL. NULL when the endpoint is not http(s). Caller frees. */
char *cr_s3_presign(const cr_s3_cfg *cfg, const char *method, const char *bucket, const char *key,
                    const char *amz_date, int64_t expires_s, const char *extra_query);

void cr_strv_free(char **v);

#endif
