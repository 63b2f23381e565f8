#include "executor/exe_s3.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"
#include "base/xalloc.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;

    EVP_Digest(s, n, d, &dn, EVP_sha256(), NULL);
    hex(d, 32, out);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &n);
}

char *exe_sigv4_authorization(const exe_sigv4_req *r)
{
    cr_buf canon = CR_BUF_INIT, signed_h = CR_BUF_INIT, sts = CR_BUF_INIT;
    char date[9], chash[65], sig[65], *secret, *out;
    unsigned char k[32], k2[32];

    cr_buf_init(&canon);
    cr_buf_init(&signed_h);
    cr_buf_init(&sts);
    snprintf(date, sizeof(date), "%.8s", r->amz_date);
    cr_buf_addf(&canon, "%s\n%s\n%s\n", r->method, r->canonical_uri, r->canonical_query);
    for (size_t i = 0; i < r->n_headers; i++) {
        cr_buf_addf(&canon, "%s:%s\n", r->headers[i].name, r->headers[i].value);
        cr_buf_addf(&signed_h, "%s%s", i ? ";" : "", r->headers[i].name);
    }
    cr_buf_addf(&canon, "\n%s\n%s", signed_h.data, r->payload_sha256);
    sha256_hex(canon.data, canon.len, chash);
    cr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date,
                r->region, r->service, chash);

    secret = xasprintf("AWS4%s", r->secret_key);
    hmac((unsigned char *)secret, strlen(secret), date, k);
    hmac(k, 32, r->region, k2);
    hmac(k2, 32, r->service, k);
    hmac(k, 32, "aws4_request", k2);
    hmac(k2, 32, sts.data, k);
    hex(k, 32, sig);
    out = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                    "Signature=%s",
                    r->access_key, date, r->region, r->service, signed_h.data, sig);
    free(secret);
    cr_buf_release(&canon);
    cr_buf_release(&signed_h);
    cr_buf_release(&sts);
    return out;
}

char *exe_s3_uri_encode(const char *s, bool keep_slash)
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

void exe_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

char **exe_s3_signed_get(const exe_s3_cfg *cfg, const char *bucket, const char *key,
                         const char *amz_date, char **url)
{
    const char *ep = cfg->endpoint, *rest;
    char scheme[8], *hostport, *path, *ekey = exe_s3_uri_encode(key, true), *host_hdr;
    char **h = xcalloc(6, sizeof(char *));
    size_t n = 0, hl;

    *url = NULL;
    if (strncmp(ep, "http://", 7) == 0)
        snprintf(scheme, sizeof(scheme), "http");
    else if (strncmp(ep, "https://", 8) == 0)
        snprintf(scheme, sizeof(scheme), "https");
    else {
        free(ekey);
        free(h);
        return NULL;
    }
    rest = ep + strlen(scheme) + 3;
    hl = strcspn(rest, "/");
    hostport = xstrndup(rest, hl);
    /* libcurl sends the port in Host only when it is not the default. */
    {
        char *colon = strrchr(hostport, ':');
        if (colon && ((strcmp(scheme, "http") == 0 && strcmp(colon, ":80") == 0) ||
                      (strcmp(scheme, "https") == 0 && strcmp(colon, ":443") == 0)))
            *colon = '\0';
    }
    if (cfg->path_style) {
        char *eb = exe_s3_uri_encode(bucket, false);
        path = xasprintf("/%s/%s", eb, ekey);
        host_hdr = xstrdup(hostport);
        free(eb);
    } else {
        path = xasprintf("/%s", ekey);
        host_hdr = xasprintf("%s.%s", bucket, hostport);
    }
    *url = xasprintf("%s://%s%s", scheme, host_hdr, path);
    if (cfg->access_key && cfg->secret_key) {
        exe_sigv4_header hdrs[4];
        size_t nh = 0;
        exe_sigv4_req r = {0};
        char *auth;

        hdrs[nh++] = (exe_sigv4_header){"host", host_hdr};
        hdrs[nh++] = (exe_sigv4_header){"x-amz-content-sha256", EMPTY_SHA256};
        hdrs[nh++] = (exe_sigv4_header){"x-amz-date", amz_date};
        if (cfg->session_token)
            hdrs[nh++] = (exe_sigv4_header){"x-amz-security-token", cfg->session_token};
        r.method = "GET";
        r.canonical_uri = path;
        r.canonical_query = "";
        r.headers = hdrs;
        r.n_headers = nh;
        r.payload_sha256 = EMPTY_SHA256;
        r.amz_date = amz_date;
        r.region = cfg->region ? cfg->region : "us-east-1";
        r.service = "s3";
        r.access_key = cfg->access_key;
        r.secret_key = cfg->secret_key;
        auth = exe_sigv4_authorization(&r);
        h[n++] = xasprintf("Authorization: %s", auth);
        h[n++] = xasprintf("x-amz-content-sha256: %s", EMPTY_SHA256);
        h[n++] = xasprintf("x-amz-date: %s", amz_date);
        if (cfg->session_token)
            h[n++] = xasprintf("x-amz-security-token: %s", cfg->session_token);
        free(auth);
    }
    free(hostport);
    free(host_hdr);
    free(path);
    free(ekey);
    return h;
}
