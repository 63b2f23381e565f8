/* store benchmark driver (built and run by bench/store.sh):
 *   store_bench <endpoint> <seconds>
 * prints one "name value unit" line per figure:
 *   puts_single        sequential puts (one in flight), per second
 *   puts_concurrent64  64 unbatched puts in flight, per second
 *   puts_batched       store_write() of 20000 puts queued at once, per second
 *   watch_p50/p99_ms   put -> watch event latency over sequential puts */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "store/store.h"

typedef struct bench {
    struct event_base *base;
    store *s;
    int64_t deadline;
    long sent, acked, errors, target, inflight_max;
    const char *prefix;
    /* watch latency */
    int64_t sent_us;
    double *lat;
    int nlat, maxlat;
    bool waiting_event;
} bench;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_one(bench *b);

static void put_done(void *arg, const store_result *res, const cr_err *err)
{
    bench *b = arg;

    b->acked++;
    if (err)
        b->errors++;
    if (cr_mono_ms() < b->deadline)
        put_one(b);
    else if (b->acked == b->sent)
        event_base_loopbreak(b->base);
}

static void put_one(bench *b)
{
    char key[64];

    snprintf(key, sizeof(key), "%s/%ld", b->prefix, b->sent % 10000);
    b->sent++;
    store_put(b->s, key, "{\"bench\":true,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 52, NULL,
              put_done, b, NULL);
}

static double run_puts(bench *b, int inflight, double seconds, const char *prefix)
{
    int64_t t0 = cr_mono_ms();

    b->sent = b->acked = b->errors = 0;
    b->prefix = prefix;
    b->deadline = t0 + (int64_t)(seconds * 1000);
    for (int i = 0; i < inflight; i++)
        put_one(b);
    event_base_dispatch(b->base);
    return b->acked * 1000.0 / (double)(cr_mono_ms() - t0);
}

static void batch_done(void *arg, const store_result *res, const cr_err *err)
{
    bench *b = arg;

    b->acked++;
    if (err)
        b->errors++;
    if (b->acked == b->target)
        event_base_loopbreak(b->base);
}

static double run_batched(bench *b, long n)
{
    int64_t t0 = cr_mono_ms();

    b->acked = b->errors = 0;
    b->target = n;
    for (long i = 0; i < n; i++) {
        char key[64];
        store_txn *t = store_txn_new();

        snprintf(key, sizeof(key), "/bench/batched/%ld", i);
        store_txn_put(t, STORE_THEN, key,
                      "{\"bench\":true,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 52, NULL);
        store_write(b->s, t, batch_done, b, NULL);
    }
    event_base_dispatch(b->base);
    return b->acked * 1000.0 / (double)(cr_mono_ms() - t0);
}

static void lat_put(bench *b);

static void on_events(void *arg, const store_event *evs, size_t n)
{
    bench *b = arg;

    if (!b->waiting_event)
        return;
    b->waiting_event = false;
    b->lat[b->nlat++] = (double)(now_us() - b->sent_us) / 1000.0;
    if (b->nlat < b->maxlat)
        lat_put(b);
    else
        event_base_loopbreak(b->base);
}

static void lat_put_done(void *arg, const store_result *res, const cr_err *err)
{
}

static void lat_put(bench *b)
{
    b->waiting_event = true;
    b->sent_us = now_us();
    store_put(b->s, "/bench/watch/k", "x", 1, NULL, lat_put_done, b, NULL);
}

static void start_lat(evutil_socket_t fd, short what, void *arg)
{
    lat_put(arg);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    bench b = {0};
    cr_http *http;
    store_config cfg = {0};
    double secs = argc > 2 ? atof(argv[2]) : 3.0;
    store_watch_handlers wh = {.on_events = on_events};
    store_watch *w;
    struct event *kick;
    struct timeval tv = {0, 300000};
    cr_err err;

    if (argc < 2) {
        fprintf(stderr, "usage: store_bench <endpoint> [seconds]\n");
        return 2;
    }
    b.base = event_base_new();
    http = cr_http_new(b.base, NULL);
    cfg.endpoints = argv[1];
    cfg.timeout_ms = 10000;
    b.s = store_new(b.base, http, &cfg, &err);
    if (!b.s) {
        fprintf(stderr, "store: %s\n", err.detail);
        return 1;
    }
    printf("puts_single %.0f puts/s\n", run_puts(&b, 1, secs, "/bench/single"));
    printf("puts_concurrent64 %.0f puts/s\n", run_puts(&b, 64, secs, "/bench/conc"));
    printf("puts_batched %.0f puts/s\n", run_batched(&b, 20000));
    if (b.errors)
        printf("errors %ld\n", b.errors);

    b.maxlat = 500;
    b.lat = xcalloc((size_t)b.maxlat, sizeof(double));
    w = store_watch_start(b.s, "/bench/watch/", &(store_watch_opts){.prefix = true}, &wh, &b, NULL);
    /* give the watch a moment to be established before measuring */
    kick = evtimer_new(b.base, start_lat, &b);
    evtimer_add(kick, &tv);
    event_base_dispatch(b.base);
    qsort(b.lat, (size_t)b.nlat, sizeof(double), cmp_double);
    if (b.nlat) {
        printf("watch_p50 %.2f ms\n", b.lat[b.nlat / 2]);
        printf("watch_p99 %.2f ms\n", b.lat[b.nlat * 99 / 100]);
    }
    event_free(kick);
    store_watch_free(w);
    free(b.lat);
    store_free(b.s);
    cr_http_free(http);
    event_base_free(b.base);
    return 0;
}
