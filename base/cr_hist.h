/* cr_hist: a latency histogram with fixed buckets, printed in Prometheus
 * text exposition format. A plain value: a zeroed cr_hist is empty and
 * ready; copy it by assignment; nothing to release.
 *
 * Buckets (seconds, upper bounds): 0.0005 0.001 0.0025 0.005 0.01 0.025
 * 0.05 0.1 0.25 0.5 1 2.5 5 10 and +Inf. An observation lands in the first
 * bucket whose bound is >= it (Prometheus's "le"). Negative or NaN
 * observations count as 0. */
#ifndef CR_HIST_H
#define CR_HIST_H

#include <stdint.h>

struct cr_buf;

#define CR_HIST_NBOUNDS 14 /* finite bounds; one more bucket for +Inf */

typedef struct cr_hist {
    uint64_t bucket[CR_HIST_NBOUNDS + 1]; /* per bucket, not cumulative */
    uint64_t count;
    double sum; /* seconds */
} cr_hist;

/* The finite upper bound of bucket i (0 <= i < CR_HIST_NBOUNDS). */
double cr_hist_bound(int i);

void cr_hist_observe(cr_hist *h, double seconds);
/* Adds every observation of src into dst. */
void cr_hist_merge(cr_hist *dst, const cr_hist *src);

/* Appends "# HELP name help" and "# TYPE name histogram". Print it once per
 * metric name, before its first series. */
void cr_hist_write_header(struct cr_buf *out, const char *name, const char *help);
/* Appends one series: name_bucket{labels,le="..."} (cumulative, ending with
 * le="+Inf"), name_sum{labels} and name_count{labels}. labels is the text
 * inside the braces (e.g. `controller="service"`; not escaped here) or
 * NULL/"" for none. */
void cr_hist_write(struct cr_buf *out, const char *name, const char *labels, const cr_hist *h);

/* A monotonic clock in microseconds, for timing what gets observed. */
int64_t cr_mono_us(void);

#endif
