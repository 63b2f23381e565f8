/* rawgrpc: etcd's raw batched write rate over its gRPC service, for the
 * benchmarks' ratios (bench/converge.py builds and runs it, as
 * bench/api.py does loadgen):
 *
 *   rawgrpc --url http://127.0.0.1:2379 [--seconds 3] [--clients 4]
 *           [--per-txn 128] [--value-bytes 1024] [--prefix /bench-raw-grpc]
 *
 * `clients` KV.Txn calls in flight, each of `per-txn` puts of a value of
 * `value-bytes` under its own keys (prefix/<client>/<n>), for `seconds`.
 * The same writes as the JSON raw run (converge.raw_write_rate), sent as
 * corrald sends its txns: protobuf over h2c, one connection a call below
 * libcurl 8.0.0 (docs/architecture.md#etcd-over-grpc). Prints
 * "rawgrpc puts N txns M seconds S"; exits 1 on any failed call. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void varint(buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;

    while (v >= 0x80) {
        t[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (unsigned char)v;
    put(b, t, n);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A TxnRequest of `n` puts (success branch), in one gRPC frame. */
static void txn(buf *b, const char *prefix, int client, long first, int n, const char *value,
                size_t vlen)
{
    size_t start;

    b->len = 0;
    put(b, "\0\0\0\0\0", 5);
    start = b->len;
    for (int i = 0; i < n; i++) {
        char key[256];
        int klen = snprintf(key, sizeof(key), "%s/%d/%08ld", prefix, client, first + i);
        size_t preq = 1 + varint_len((uint64_t)klen) + (size_t)klen + 1 + varint_len(vlen) + vlen;

        varint(b, 2 << 3 | 2); /* success: RequestOp */
        varint(b, 1 + varint_len(preq) + preq);
        varint(b, 2 << 3 | 2); /* request_put: PutRequest */
        varint(b, preq);
        varint(b, 1 << 3 | 2); /* key */
        varint(b, (uint64_t)klen);
        put(b, key, (size_t)klen);
        varint(b, 2 << 3 | 2); /* value */
        varint(b, vlen);
        put(b, value, vlen);
    }
    size_t n5 = b->len - start;
    b->p[1] = (unsigned char)(n5 >> 24);
    b->p[2] = (unsigned char)(n5 >> 16);
    b->p[3] = (unsigned char)(n5 >> 8);
    b->p[4] = (unsigned char)n5;
}

typedef struct call {
    CURL *easy;
    buf body;
    int client;
    bool status_ok; /* grpc-status: 0 seen */
} call;

static size_t on_header(char *d, size_t size, size_t n, void *arg)
{
    call *c = arg;
    size_t len = size * n;

    if (len >= 14 && strncmp(d, "grpc-status: 0", 14) == 0)
        c->status_ok = true;
    return len;
}

static size_t on_body(char *d, size_t size, size_t n, void *arg)
{
    (void)d;
    (void)arg;
    return size * n; /* a TxnResponse: its status is in the trailers */
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *prefix = "/bench-raw-grpc";
    double seconds = 3;
    int clients = 4, per_txn = 128;
    size_t vlen = 1024;
    bool old_curl = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
    struct curl_slist *hdrs = NULL;
    long next_key = 0, puts = 0, txns = 0, failed = 0;
    char *endpoint, *value;
    call *calls;
    CURLM *m;
    double t0, stop;
    int running;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: rawgrpc --url URL [--seconds S] [--clients N] [--per-txn N] "
                   "[--value-bytes N] [--prefix P]\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "rawgrpc: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--url"))
            url = v;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--clients"))
            clients = atoi(v);
        else if (!strcmp(a, "--per-txn"))
            per_txn = atoi(v);
        else if (!strcmp(a, "--value-bytes"))
            vlen = (size_t)atol(v);
        else if (!strcmp(a, "--prefix"))
            prefix = v;
        else {
            fprintf(stderr, "rawgrpc: unknown option %s (--help)\n", a);
            return 2;
        }
        i++;
    }
    if (!url || seconds <= 0 || clients < 1 || per_txn < 1 || per_txn > 128 ||
        strlen(prefix) > 200) {
        fprintf(stderr,
                "rawgrpc: need --url, --seconds > 0, --clients >= 1, 1 <= --per-txn <= 128\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (asprintf(&endpoint, "%s/etcdserverpb.KV/Txn", url) < 0)
        return 1;
    value = malloc(vlen + 1);
    memset(value, 'x', vlen);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/grpc");
    hdrs = curl_slist_append(hdrs, "TE: trailers");
    hdrs = curl_slist_append(hdrs, "Expect:");
    m = curl_multi_init();
    calls = calloc((size_t)clients, sizeof(*calls));
    t0 = now_s();
    stop = t0 + seconds;
    for (int i = 0; i < clients; i++) {
        call *c = &calls[i];

        c->client = i;
        c->easy = curl_easy_init();
        curl_easy_setopt(c->easy, CURLOPT_URL, endpoint);
        curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->easy, CURLOPT_NOPROXY, "*");
        if (old_curl) { /* as store does: libcurl 7.88 breaks a reused h2c connection */
            curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(c->easy, CURLOPT_FORBID_REUSE, 1L);
        }
        txn(&c->body, prefix, i, next_key, per_txn, value, vlen);
        next_key += per_txn;
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body.p);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
        curl_multi_add_handle(m, c->easy);
    }
    do {
        CURLMsg *msg;
        int q;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &q))) {
            call *c = NULL;
            long st = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            for (int i = 0; i < clients; i++)
                if (calls[i].easy == msg->easy_handle)
                    c = &calls[i];
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &st);
            curl_multi_remove_handle(m, c->easy);
            if (msg->data.result != CURLE_OK || st != 200 || !c->status_ok) {
                if (!failed++)
                    fprintf(stderr, "rawgrpc: a txn failed: %s, http %ld, grpc-status %s\n",
                            curl_easy_strerror(msg->data.result), st,
                            c->status_ok ? "0" : "missing or not 0");
            } else {
                puts += per_txn;
                txns++;
            }
            if (now_s() < stop && !failed) {
                c->status_ok = false;
                txn(&c->body, prefix, c->client, next_key, per_txn, value, vlen);
                next_key += per_txn;
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body.p);
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
                curl_multi_add_handle(m, c->easy);
                running++;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    printf("rawgrpc puts %ld txns %ld seconds %.3f\n", puts, txns, now_s() - t0);
    for (int i = 0; i < clients; i++) {
        curl_easy_cleanup(calls[i].easy);
        free(calls[i].body.p);
    }
    free(calls);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    free(value);
    free(endpoint);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
