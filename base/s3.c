#include "base/s3.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"
#include "base/xalloc.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

void cr_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;

    EVP_Digest(p, n, d, &dn, EVP_sha256(), NULL);
    hex(d, 32, out);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &n);
}

void cr_s3_amz_date(int64_t epoch_ms, char out[17])
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* The signed-headers list ("host;x-amz-date") into sh. */
static void signed_headers(const cr_sigv4_req *r, cr_buf *sh)
{
    for (size_t i = 0; i < r->n_headers; i++)
        cr_buf_addf(sh, "%s%s", i ? ";" : "", r->headers[i].name);
}

void cr_sigv4_signature(const cr_sigv4_req *r, char out[65])
{
    cr_buf canon = CR_BUF_INIT, sh = CR_BUF_INIT, sts = CR_BUF_INIT;
    char date[9], chash[65], *secret;
    unsigned char k[32], k2[32];

    cr_buf_init(&canon);
    cr_buf_init(&sh);
    cr_buf_init(&sts);
    snprintf(date, sizeof(date), "%.8s", r->amz_date);
    signed_headers(r, &sh);
    cr_buf_addf(&canon, "%s\n%s\n%s\n", r->method, r->canonical_uri, r->canonical_query);
    for (size_t i = 0; i < r->n_headers; i++)
        cr_buf_addf(&canon, "%s:%s\n", r->headers[i].name, r->headers[i].value);
    cr_buf_addf(&canon, "\n%s\n%s", sh.data, r->payload_sha256);
    cr_sha256_hex(canon.data, canon.len, chash);
    cr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date,
                r->region, r->service, chash);

    secret = xasprintf("AWS4%s", r->secret_key);
    hmac((unsigned char *)secret, strlen(secret), date, k);
    hmac(k, 32, r->region, k2);
    hmac(k2, 32, r->service, k);
    hmac(k, 32, "aws4_request", k2);
    hmac(k2, 32, sts.data, k);
    hex(k, 32, out);
    free(secret);
    cr_buf_release(&canon);
    cr_buf_release(&sh);
    cr_buf_release(&sts);
}

char *cr_sigv4_authorization(const cr_sigv4_req *r)
{
    cr_buf sh = CR_BUF_INIT;
    char date[9], sig[65], *out;

    cr_buf_init(&sh);
    signed_headers(r, &sh);
    snprintf(date, sizeof(date), "%.8s", r->amz_date);
    cr_sigv4_signature(r, sig);
    out = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                    "Signature=%s",
                    r->access_key, date, r->region, r->service, sh.data, sig);
    cr_buf_release(&sh);
    return out;
}

char *cr_s3_uri_encode(const char *s, bool keep_slash)
{
    cr_buf b = CR_BUF_INIT;

    cr_buf_init(&b);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
            cr_buf_addch(&b, (char)c);
        else
            cr_buf_addf(&b, "%%%02X", c);
    }
    return cr_buf_detach(&b, NULL);
}

void cr_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* The parts of a request's URL: scheme, Host header, canonical path. */
typedef struct target {
    char scheme[8];
    char *host;
    char *path;
} target;

static int target_of(const cr_s3_cfg *cfg, const char *bucket, const char *key, target *t)
{
    const char *ep = cfg->endpoint, *rest;
    char *hostport, *ekey = cr_s3_uri_encode(key, true);
    size_t hl;

    memset(t, 0, sizeof(*t));
    if (strncmp(ep, "http://", 7) == 0)
        snprintf(t->scheme, sizeof(t->scheme), "http");
    else if (strncmp(ep, "https://", 8) == 0)
        snprintf(t->scheme, sizeof(t->scheme), "https");
    else {
        free(ekey);
        return -1;
    }
    rest = ep + strlen(t->scheme) + 3;
    hl = strcspn(rest, "/");
    hostport = xstrndup(rest, hl);
    /* libcurl sends the port in Host only when it is not the default. */
    {
        char *colon = strrchr(hostport, ':');
        if (colon && ((strcmp(t->scheme, "http") == 0 && strcmp(colon, ":80") == 0) ||
                      (strcmp(t->scheme, "https") == 0 && strcmp(colon, ":443") == 0)))
            *colon = '\0';
    }
    if (cfg->path_style) {
        char *eb = cr_s3_uri_encode(bucket, false);
        t->path = xasprintf("/%s/%s", eb, ekey);
        t->host = xstrdup(hostport);
        free(eb);
    } else {
        t->path = xasprintf("/%s", ekey);
        t->host = xasprintf("%s.%s", bucket, hostport);
    }
    free(hostport);
    free(ekey);
    return 0;
}

static void target_release(target *t)
{
    free(t->host);
    free(t->path);
}

char **cr_s3_signed(const cr_s3_cfg *cfg, const char *method, const char *bucket, const char *key,
                    const char *query, const char *payload_sha256, const char *amz_date, char **url)
{
    char **h = xcalloc(6, sizeof(char *));
    size_t n = 0;
    target t;

    *url = NULL;
    if (target_of(cfg, bucket, key, &t) < 0) {
        free(h);
        return NULL;
    }
    if (!query)
        query = "";
    if (!payload_sha256)
        payload_sha256 = CR_S3_EMPTY_SHA256;
    *url = xasprintf("%s://%s%s%s%s", t.scheme, t.host, t.path, *query ? "?" : "", query);
    if (cfg->access_key && cfg->secret_key) {
        cr_sigv4_header hdrs[4];
        size_t nh = 0;
        cr_sigv4_req r = {0};
        char *auth;

        hdrs[nh++] = (cr_sigv4_header){"host", t.host};
        hdrs[nh++] = (cr_sigv4_header){"x-amz-content-sha256", payload_sha256};
        hdrs[nh++] = (cr_sigv4_header){"x-amz-date", amz_date};
        if (cfg->session_token)
            hdrs[nh++] = (cr_sigv4_header){"x-amz-security-token", cfg->session_token};
        r.method = method;
        r.canonical_uri = t.path;
        r.canonical_query = query;
        r.headers = hdrs;
        r.n_headers = nh;
        r.payload_sha256 = payload_sha256;
        r.amz_date = amz_date;
        r.region = cfg->region ? cfg->region : "us-east-1";
        r.service = "s3";
        r.access_key = cfg->access_key;
        r.secret_key = cfg->secret_key;
        auth = cr_sigv4_authorization(&r);
        h[n++] = xasprintf("Authorization: %s", auth);
        h[n++] = xasprintf("x-amz-content-sha256: %s", payload_sha256);
        h[n++] = xasprintf("x-amz-date: %s", amz_date);
        if (cfg->session_token)
            h[n++] = xasprintf("x-amz-security-token: %s", cfg->session_token);
        free(auth);
    }
    target_release(&t);
    return h;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cr_s3_presign(const cr_s3_cfg *cfg, const char *method, const char *bucket, const char *key,
                    const char *amz_date, int64_t expires_s, const char *extra_query)
{
    const char *region = cfg->region ? cfg->region : "us-east-1";
    char *params[32], *out, *cred, *ecred, date[9], sig[65];
    size_t np = 0;
    cr_buf q = CR_BUF_INIT;
    target t;

    if (target_of(cfg, bucket, key, &t) < 0)
        return NULL;
    if (!cfg->access_key || !cfg->secret_key) {
        out = xasprintf("%s://%s%s%s%s", t.scheme, t.host, t.path, extra_query ? "?" : "",
                        extra_query ? extra_query : "");
        target_release(&t);
        return out;
    }
    snprintf(date, sizeof(date), "%.8s", amz_date);
    cred = xasprintf("%s/%s/%s/s3/aws4_request", cfg->access_key, date, region);
    ecred = cr_s3_uri_encode(cred, false);
    params[np++] = xstrdup("X-Amz-Algorithm=AWS4-HMAC-SHA256");
    params[np++] = xasprintf("X-Amz-Credential=%s", ecred);
    params[np++] = xasprintf("X-Amz-Date=%s", amz_date);
    params[np++] = xasprintf("X-Amz-Expires=%lld", (long long)expires_s);
    params[np++] = xstrdup("X-Amz-SignedHeaders=host");
    if (cfg->session_token) {
        char *et = cr_s3_uri_encode(cfg->session_token, false);
        params[np++] = xasprintf("X-Amz-Security-Token=%s", et);
        free(et);
    }
    if (extra_query && *extra_query) {
        char *copy = xstrdup(extra_query), *save = NULL;
        for (char *p = strtok_r(copy, "&", &save); p && np < 30; p = strtok_r(NULL, "&", &save))
            params[np++] = xstrdup(p);
        free(copy);
    }
    qsort(params, np, sizeof(params[0]), cmp_str);
    cr_buf_init(&q);
    for (size_t i = 0; i < np; i++) {
        cr_buf_addf(&q, "%s%s", i ? "&" : "", params[i]);
        free(params[i]);
    }
    {
        cr_sigv4_header hdrs[1] = {{"host", t.host}};
        cr_sigv4_req r = {.method = method,
                          .canonical_uri = t.path,
                          .canonical_query = q.data,
                          .headers = hdrs,
                          .n_headers = 1,
                          .payload_sha256 = "UNSIGNED-PAYLOAD",
                          .amz_date = amz_date,
                          .region = region,
                          .service = "s3",
                          .access_key = cfg->access_key,
                          .secret_key = cfg->secret_key};
        cr_sigv4_signature(&r, sig);
    }
    out = xasprintf("%s://%s%s?%s&X-Amz-Signature=%s", t.scheme, t.host, t.path, q.data, sig);
    cr_buf_release(&q);
    free(cred);
    free(ecred);
    target_release(&t);
    return out;
}
