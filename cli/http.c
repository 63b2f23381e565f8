/* corralctl's blocking HTTP calls; see http.h. */
#include "cli/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

void cli_resp_release(cli_resp *r)
{
    json_decref(r->body);
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

bool cli_need_server(cli_ctx *ctx, const char *cmd)
{
    if (ctx->server && *ctx->server)
        return true;
    fprintf(ctx->err, "corralctl %s: no server: give --server URL or set CORRAL_SERVER\n", cmd);
    return false;
}

char *cli_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    cr_buf b = CR_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            cr_buf_addch(&b, (char)*p);
        } else {
            cr_buf_addch(&b, '%');
            cr_buf_addch(&b, hex[*p >> 4]);
            cr_buf_addch(&b, hex[*p & 15]);
        }
    }
    cr_buf_adds(&b, "");
    return cr_buf_detach(&b, NULL);
}

char *cli_error_text(const cli_resp *r)
{
    const char *msg = r->body ? json_string_value(json_object_get(r->body, "message")) : NULL;
    const json_t *probs = r->body ? json_object_get(r->body, "problems") : NULL;
    cr_buf b = CR_BUF_INIT;
    size_t i;
    const json_t *p;

    if (msg) {
        cr_buf_adds(&b, msg);
    } else if (r->raw && r->len) {
        size_t n = r->len;
        while (n && (r->raw[n - 1] == '\n' || r->raw[n - 1] == '\r'))
            n--;
        cr_buf_add(&b, r->raw, n);
    } else {
        cr_buf_adds(&b, "(no message)");
    }
    json_array_foreach (probs, i, p)
        if (json_is_string(p))
            cr_buf_addf(&b, "\n  %s", json_string_value(p));
    cr_buf_adds(&b, "");
    return cr_buf_detach(&b, NULL);
}

static char *full_url(cli_ctx *ctx, const char *path)
{
    size_t n = strlen(ctx->server);
    while (n && ctx->server[n - 1] == '/')
        n--;
    return xasprintf("%.*s%s", (int)n, ctx->server, path);
}

static size_t collect_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    cr_buf_add(arg, data, size * nmemb);
    return size * nmemb;
}

typedef struct stream_state {
    cli_stream_fn fn;
    void *arg;
    long status;
    CURL *curl;
    cr_buf errbody; /* body of a non-2xx answer */
    bool stopped;
} stream_state;

static size_t stream_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    stream_state *s = arg;
    size_t n = size * nmemb;
    if (!s->status)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200 || s->status >= 300) {
        cr_buf_add(&s->errbody, data, n);
        return n;
    }
    if (!s->fn(s->arg, data, n)) {
        s->stopped = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* TLS for https:// URLs: the server is verified (name and chain, against
 * the system's CA store or ctx->ca_file) unless --insecure-skip-tls-verify;
 * TLS 1.2 at least. */
static void easy_tls(cli_ctx *ctx, CURL *c)
{
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (ctx->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ctx->ca_file);
    if (ctx->cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, ctx->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, ctx->key);
    }
    if (ctx->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static CURL *easy_new(cli_ctx *ctx, const char *url, char *errbuf, struct curl_slist **hdrs)
{
    CURL *c = curl_easy_init();
    if (!c)
        abort();
    curl_easy_setopt(c, CURLOPT_URL, url);
    easy_tls(ctx, c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "corralctl/" CORRAL_VERSION);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (ctx->token) {
        /* corrald knows the caller by the token, never by a name it is told. */
        char *a = xasprintf("Authorization: Bearer %s", ctx->token);
        *hdrs = curl_slist_append(*hdrs, a);
        memset(a, 0, strlen(a));
        free(a);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

/* A failed call, in words that say what to fix: TLS failures name the CA
 * file (or the system store) and the client certificate involved. */
static void report_unreachable(cli_ctx *ctx, const char *cmd, const char *url, CURLcode rc,
                               const char *errbuf)
{
    const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
    bool https = strncmp(url, "https://", 8) == 0;

    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
        if (ctx->ca_file)
            fprintf(ctx->err,
                    "corralctl %s: cannot verify corrald's certificate at %s against CA file "
                    "%s: %s\n",
                    cmd, url, ctx->ca_file, why);
        else
            fprintf(ctx->err,
                    "corralctl %s: cannot verify corrald's certificate at %s against the "
                    "system's CA store (give corrald's CA with --ca-file or $CORRAL_CA_FILE): "
                    "%s\n",
                    cmd, url, why);
        return;
    case CURLE_SSL_CACERT_BADFILE:
        fprintf(ctx->err, "corralctl %s: cannot use CA file %s for %s: %s\n", cmd,
                ctx->ca_file ? ctx->ca_file : "(system default)", url, why);
        return;
    case CURLE_SSL_CERTPROBLEM:
        fprintf(ctx->err, "corralctl %s: cannot use client certificate %s (key %s) for %s: %s\n",
                cmd, ctx->cert ? ctx->cert : "-", ctx->key ? ctx->key : "-", url, why);
        return;
    default:
        break;
    }
    fprintf(ctx->err, "corralctl %s: cannot reach corrald at %s: %s", cmd, url, why);
    /* A server requiring a client certificate ends the handshake (TLS 1.2)
     * or the connection right after it (TLS 1.3: the request's send or the
     * answer's read fails). */
    if (https && !ctx->cert &&
        (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || strstr(why, "certificate required") ||
         strstr(why, "handshake failure")))
        fprintf(ctx->err, " (corrald may require a client certificate: --cert and --key)");
    else if (!https && (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR))
        fprintf(ctx->err, " (if corrald serves TLS, use an https:// URL)");
    fputc('\n', ctx->err);
}

int cli_http(cli_ctx *ctx, const char *cmd, const char *method, const char *path,
             const json_t *body, long quiet_status, cli_resp *r)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = full_url(ctx, path), *payload = NULL;
    struct curl_slist *hdrs = NULL;
    cr_buf b = CR_BUF_INIT;
    CURL *c = easy_new(ctx, url, errbuf, &hdrs);
    CURLcode rc;
    int ret = -1;

    memset(r, 0, sizeof(*r));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        report_unreachable(ctx, cmd, url, rc, errbuf);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    cr_buf_adds(&b, "");
    r->raw = cr_buf_detach(&b, &r->len);
    r->len = strlen(r->raw);
    if (r->len)
        r->body = json_loadb(r->raw, r->len, 0, NULL);
    if (r->status >= 200 && r->status < 300) {
        ret = 0;
    } else if (r->status != quiet_status) {
        char *t = cli_error_text(r);
        fprintf(ctx->err, "corralctl %s: corrald answered %ld for %s %s: %s\n", cmd, r->status,
                method, path, t);
        free(t);
    }
out:
    cr_buf_release(&b);
    free(payload);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(url);
    return ret;
}

int cli_http_stream(cli_ctx *ctx, const char *cmd, const char *path, cli_stream_fn on_data,
                    void *arg)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = full_url(ctx, path);
    struct curl_slist *hdrs = NULL;
    stream_state s = {on_data, arg, 0, NULL, CR_BUF_INIT, false};
    CURLcode rc;
    int ret = -1;

    s.curl = easy_new(ctx, url, errbuf, &hdrs);
    curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, stream_cb);
    curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &s);
    rc = curl_easy_perform(s.curl);
    if (s.stopped) {
        ret = 0;
        goto out;
    }
    if (rc != CURLE_OK) {
        report_unreachable(ctx, cmd, url, rc, errbuf);
        goto out;
    }
    curl_easy_getinfo(s.curl, CURLINFO_RESPONSE_CODE, &s.status);
    if (s.status < 200 || s.status >= 300) {
        cli_resp r = {0};
        cr_buf_adds(&s.errbody, "");
        r.status = s.status;
        r.raw = cr_buf_detach(&s.errbody, &r.len);
        r.len = strlen(r.raw);
        r.body = json_loadb(r.raw, r.len, 0, NULL);
        char *t = cli_error_text(&r);
        fprintf(ctx->err, "corralctl %s: corrald answered %ld for GET %s: %s\n", cmd, s.status,
                path, t);
        free(t);
        cli_resp_release(&r);
        goto out;
    }
    ret = 0;
out:
    cr_buf_release(&s.errbody);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(s.curl);
    free(url);
    return ret;
}
