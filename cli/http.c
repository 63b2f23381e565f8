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
 * file (or the system store) and the client certificate involved. Appends
 * the message (ending in a newline) to msg. */
static void report_unreachable(cli_ctx *ctx, cr_buf *msg, const char *cmd, const char *url,
                               CURLcode rc, const char *errbuf)
{
    const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
    bool https = strncmp(url, "https://", 8) == 0;

    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
        if (ctx->ca_file)
            cr_buf_addf(msg,
                        "corralctl %s: cannot verify corrald's certificate at %s against CA file "
                        "%s: %s\n",
                        cmd, url, ctx->ca_file, why);
        else
            cr_buf_addf(msg,
                        "corralctl %s: cannot verify corrald's certificate at %s against the "
                        "system's CA store (give corrald's CA with --ca-file or $CORRAL_CA_FILE): "
                        "%s\n",
                        cmd, url, why);
        return;
    case CURLE_SSL_CACERT_BADFILE:
        cr_buf_addf(msg, "corralctl %s: cannot use CA file %s for %s: %s\n", cmd,
                    ctx->ca_file ? ctx->ca_file : "(system default)", url, why);
        return;
    case CURLE_SSL_CERTPROBLEM:
        cr_buf_addf(msg, "corralctl %s: cannot use client certificate %s (key %s) for %s: %s\n",
                    cmd, ctx->cert ? ctx->cert : "-", ctx->key ? ctx->key : "-", url, why);
        return;
    default:
        break;
    }
    cr_buf_addf(msg, "corralctl %s: cannot reach corrald at %s: %s", cmd, url, why);
    /* A server requiring a client certificate ends the handshake (TLS 1.2)
     * or the connection right after it (TLS 1.3: the request's send or the
     * answer's read fails). */
    if (https && !ctx->cert &&
        (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || strstr(why, "certificate required") ||
         strstr(why, "handshake failure")))
        cr_buf_adds(msg, " (corrald may require a client certificate: --cert and --key)");
    else if (!https && (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR))
        cr_buf_adds(msg, " (if corrald serves TLS, use an https:// URL)");
    cr_buf_addch(msg, '\n');
}

/* One call, from its easy handle's setup to its result; shared by the
 * blocking cli_http and the pipelined cli_pipe. */
typedef struct call {
    char errbuf[CURL_ERROR_SIZE];
    char *method, *path, *url, *payload; /* owned */
    struct curl_slist *hdrs;
    cr_buf body;
    long quiet_status;
    CURL *curl;
    cli_pipe_fn fn; /* cli_pipe only */
    void *arg;
    struct call *next; /* cli_pipe's queue, or its list of calls in flight */
} call;

/* A call ready to perform. body is borrowed (serialized at once). Caller
 * frees the result with call_free. */
static call *call_new(cli_ctx *ctx, const char *method, const char *path, const json_t *body,
                      long quiet_status)
{
    call *c = xcalloc(1, sizeof(*c));

    c->method = xstrdup(method);
    c->path = xstrdup(path);
    c->url = full_url(ctx, path);
    c->quiet_status = quiet_status;
    c->curl = easy_new(ctx, c->url, c->errbuf, &c->hdrs);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 60000L);
    if (body) {
        c->payload = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->payload);
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->curl, CURLOPT_PRIVATE, c);
    return c;
}

static void call_free(call *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->hdrs);
    cr_buf_release(&c->body);
    free(c->method);
    free(c->path);
    free(c->url);
    free(c->payload);
    free(c);
}

/* The result of a performed call: fills *r (caller releases it) and returns
 * 0 on a 2xx answer, else -1 with the message cli_http prints appended to
 * msg (none when quiet_status is the status, or CLI_HTTP_QUIET). */
static int call_finish(cli_ctx *ctx, const char *cmd, call *c, CURLcode rc, cli_resp *r,
                       cr_buf *msg)
{
    memset(r, 0, sizeof(*r));
    if (rc != CURLE_OK) {
        if (c->quiet_status != CLI_HTTP_QUIET)
            report_unreachable(ctx, msg, cmd, c->url, rc, c->errbuf);
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    cr_buf_adds(&c->body, "");
    r->raw = cr_buf_detach(&c->body, &r->len);
    r->len = strlen(r->raw);
    if (r->len)
        r->body = json_loadb(r->raw, r->len, 0, NULL);
    if (r->status >= 200 && r->status < 300)
        return 0;
    if (r->status != c->quiet_status && c->quiet_status != CLI_HTTP_QUIET) {
        char *t = cli_error_text(r);
        cr_buf_addf(msg, "corralctl %s: corrald answered %ld for %s %s: %s\n", cmd, r->status,
                    c->method, c->path, t);
        free(t);
    }
    return -1;
}

int cli_http(cli_ctx *ctx, const char *cmd, const char *method, const char *path,
             const json_t *body, long quiet_status, cli_resp *r)
{
    call *c = call_new(ctx, method, path, body, quiet_status);
    cr_buf msg = CR_BUF_INIT;
    int ret = call_finish(ctx, cmd, c, curl_easy_perform(c->curl), r, &msg);

    fputs(cr_buf_str(&msg), ctx->err);
    cr_buf_release(&msg);
    call_free(c);
    return ret;
}

/* ---- cli_pipe: concurrent calls over libcurl's multi interface ------------ */

struct cli_pipe {
    cli_ctx *ctx;
    const char *cmd;
    CURLM *multi;
    size_t window, running, queued;
    call *head, *tail; /* not started yet, in order */
    call *inflight;    /* in the multi handle */
};

cli_pipe *cli_pipe_new(cli_ctx *ctx, const char *cmd, size_t window)
{
    cli_pipe *p = xcalloc(1, sizeof(*p));

    p->ctx = ctx;
    p->cmd = cmd;
    p->window = window ? window : 1;
    p->multi = curl_multi_init();
    if (!p->multi)
        abort();
    /* One keep-alive connection per call in flight, reused by the next. */
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)p->window);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->window);
    return p;
}

void cli_pipe_free(cli_pipe *p)
{
    if (!p)
        return;
    while (p->head) {
        call *c = p->head;
        p->head = c->next;
        call_free(c);
    }
    while (p->inflight) {
        call *c = p->inflight;
        p->inflight = c->next;
        curl_multi_remove_handle(p->multi, c->curl);
        call_free(c);
    }
    curl_multi_cleanup(p->multi);
    free(p);
}

void cli_pipe_add(cli_pipe *p, const char *method, const char *path, const json_t *body,
                  long quiet_status, cli_pipe_fn fn, void *arg)
{
    call *c = call_new(p->ctx, method, path, body, quiet_status);

    c->fn = fn;
    c->arg = arg;
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    p->queued++;
}

size_t cli_pipe_busy(const cli_pipe *p)
{
    return p->running + p->queued;
}

/* Moves queued calls into the multi handle while the window has room. */
static void pipe_start(cli_pipe *p)
{
    while (p->head && p->running < p->window) {
        call *c = p->head;
        p->head = c->next;
        if (!p->head)
            p->tail = NULL;
        c->next = p->inflight;
        p->inflight = c;
        p->queued--;
        if (curl_multi_add_handle(p->multi, c->curl) != CURLM_OK)
            abort();
        p->running++;
    }
}

size_t cli_pipe_step(cli_pipe *p)
{
    size_t finished = 0;

    pipe_start(p);
    while (p->running && !finished) {
        CURLMsg *m;
        int still = 0, left = 0;

        if (curl_multi_perform(p->multi, &still) != CURLM_OK)
            abort();
        while ((m = curl_multi_info_read(p->multi, &left))) {
            call *c = NULL;
            cli_resp r;
            cr_buf msg = CR_BUF_INIT;
            CURLcode rc = m->data.result;
            int ok;

            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_multi_remove_handle(p->multi, c->curl);
            for (call **q = &p->inflight; *q; q = &(*q)->next)
                if (*q == c) {
                    *q = c->next;
                    break;
                }
            p->running--;
            finished++;
            ok = call_finish(p->ctx, p->cmd, c, rc, &r, &msg);
            /* New calls wait in the queue: the messages left stay valid. */
            c->fn(c->arg, ok, &r, msg.len ? cr_buf_str(&msg) : NULL);
            cli_resp_release(&r);
            cr_buf_release(&msg);
            call_free(c);
        }
        if (!finished && curl_multi_poll(p->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            abort();
    }
    return finished;
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
        cr_buf msg = CR_BUF_INIT;
        report_unreachable(ctx, &msg, cmd, url, rc, errbuf);
        fputs(cr_buf_str(&msg), ctx->err);
        cr_buf_release(&msg);
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
