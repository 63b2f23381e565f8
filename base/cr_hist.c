/* cr_hist: see cr_hist.h. */
#include "base/cr_hist.h"

#include <time.h>

#include "base/buf.h"

static const double bounds[CR_HIST_NBOUNDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};

double cr_hist_bound(int i)
{
    return bounds[i];
}

void cr_hist_observe(cr_hist *h, double seconds)
{
    int i = 0;

    if (!(seconds > 0)) /* also NaN */
        seconds = 0;
    while (i < CR_HIST_NBOUNDS && seconds > bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += seconds;
}

void cr_hist_merge(cr_hist *dst, const cr_hist *src)
{
    for (int i = 0; i <= CR_HIST_NBOUNDS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    dst->sum += src->sum;
}

void cr_hist_write_header(cr_buf *out, const char *name, const char *help)
{
    cr_buf_addf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

void cr_hist_write(cr_buf *out, const char *name, const char *labels, const cr_hist *h)
{
    const char *l = labels && *labels ? labels : "";
    const char *sep = *l ? "," : "";
    uint64_t cum = 0;

    for (int i = 0; i < CR_HIST_NBOUNDS; i++) {
        cum += h->bucket[i];
        cr_buf_addf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep, bounds[i],
                    (unsigned long long)cum);
    }
    cum += h->bucket[CR_HIST_NBOUNDS];
    cr_buf_addf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep, (unsigned long long)cum);
    if (*l) {
        cr_buf_addf(out, "%s_sum{%s} %.6f\n", name, l, h->sum);
        cr_buf_addf(out, "%s_count{%s} %llu\n", name, l, (unsigned long long)h->count);
    } else {
        cr_buf_addf(out, "%s_sum %.6f\n", name, h->sum);
        cr_buf_addf(out, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

int64_t cr_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
