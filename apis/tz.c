/* TZif (RFC 8536) and POSIX TZ string reader. See tz.h. */
#include "apis/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* A date rule of a POSIX TZ string: Jn, n or Mm.w.d, plus a time of day
 * (seconds, may be negative or beyond 24 h since TZif v3). */
typedef struct tz_rule {
    char kind; /* 'J', 'N', 'M' */
    int day, mon, week, wday;
    int32_t time;
} tz_rule;

typedef struct tz_posix {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    tz_rule start, end; /* start of DST (in std time), end (in DST time) */
} tz_posix;

struct api_tz {
    char *name;
    size_t ntrans;
    int64_t *trans; /* ascending transition instants */
    uint8_t *idx;   /* type index after each transition */
    size_t ntypes;
    int32_t *types; /* utoff of each local time type */
    bool has_footer;
    tz_posix footer; /* rule after the last transition (or the whole zone) */
};

/* ---- calendar ------------------------------------------------------------ */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Era-based conversion: 400-year cycles of 146097 days, with years starting
 * in March so the leap day is the last day of a "year". */
int64_t api_tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floordiv(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void api_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468, era, doe, yoe, doy, mp;

    era = floordiv(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int api_tz_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int api_tz_days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* ---- POSIX TZ strings ---------------------------------------------------- */

static const char *posix_name(const char *p)
{
    const char *s = p;

    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p == '>' && p - s > 1 ? p + 1 : NULL;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] with hh up to max_h; stores seconds (sign applied). */
static const char *posix_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0}, i;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (i = 0; i < 3; i++) {
        int v = 0, digits = 0;
        if (i > 0) {
            if (*p != ':')
                break;
            p++;
        }
        while (*p >= '0' && *p <= '9' && digits < 3) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if (digits == 0 || (i == 0 ? v > max_h : v > 59))
            return NULL;
        part[i] = v;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

static const char *posix_num(const char *p, int lo, int hi, int *out)
{
    int v = 0, digits = 0;

    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *posix_rule(const char *p, tz_rule *r)
{
    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        r->kind = 'J';
        p = posix_num(p + 1, 1, 365, &r->day);
    } else if (*p == 'M') {
        r->kind = 'M';
        if (!(p = posix_num(p + 1, 1, 12, &r->mon)) || *p++ != '.')
            return NULL;
        if (!(p = posix_num(p, 1, 5, &r->week)) || *p++ != '.')
            return NULL;
        p = posix_num(p, 0, 6, &r->wday);
    } else {
        r->kind = 'N';
        p = posix_num(p, 0, 365, &r->day);
    }
    if (!p)
        return NULL;
    r->time = 2 * 3600;
    if (*p == '/')
        p = posix_hms(p + 1, 167, &r->time);
    return p;
}

static int parse_posix(const char *spec, tz_posix *z)
{
    const char *p = spec;
    int32_t v;

    memset(z, 0, sizeof(*z));
    if (!(p = posix_name(p)) || !(p = posix_hms(p, 24, &v)))
        return -1;
    z->std_off = -v;
    if (!*p)
        return 0;
    if (!(p = posix_name(p)))
        return -1;
    z->has_dst = true;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = posix_hms(p, 24, &v)))
            return -1;
        z->dst_off = -v;
    }
    if (!*p) { /* no rules: the customary US ones */
        z->start = (tz_rule){'M', 0, 3, 2, 0, 7200};
        z->end = (tz_rule){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p++ != ',' || !(p = posix_rule(p, &z->start)) || *p++ != ',' ||
        !(p = posix_rule(p, &z->end)) || *p)
        return -1;
    return 0;
}

/* Local (wall clock) second at which rule r fires in year y. */
static int64_t rule_local(const tz_rule *r, int64_t y)
{
    int64_t jan1 = api_tz_days_from_civil(y, 1, 1), day;

    switch (r->kind) {
    case 'J': /* 1..365, February 29 never counted */
        day = jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
        break;
    case 'N':
        day = jan1 + r->day;
        break;
    default: {
        int64_t first = api_tz_days_from_civil(y, r->mon, 1);
        int dim = api_tz_days_in_month(y, r->mon);
        day = first + (r->wday - api_tz_weekday(first) + 7) % 7 + (r->week - 1) * 7;
        while (day - first >= dim)
            day -= 7;
    }
    }
    return day * 86400 + r->time;
}

static int32_t posix_offset(const tz_posix *z, int64_t t)
{
    int64_t y, start, end;
    int m, d;

    if (!z->has_dst)
        return z->std_off;
    api_tz_civil_from_days(floordiv(t + z->std_off, 86400), &y, &m, &d);
    start = rule_local(&z->start, y) - z->std_off;
    end = rule_local(&z->end, y) - z->dst_off;
    if (start < end)
        return t >= start && t < end ? z->dst_off : z->std_off;
    return t >= end && t < start ? z->std_off : z->dst_off;
}

/* ---- zones --------------------------------------------------------------- */

static api_tz *tz_new(const char *name)
{
    api_tz *tz = xcalloc(1, sizeof(*tz));
    tz->name = xstrdup(name ? name : "");
    return tz;
}

void api_tz_free(api_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->idx);
    free(tz->types);
    free(tz);
}

api_tz *api_tz_utc(void)
{
    api_tz *tz = tz_new("UTC");
    tz->has_footer = true; /* footer all zero: UTC */
    return tz;
}

api_tz *api_tz_from_posix(const char *name, const char *spec, cr_err *err)
{
    api_tz *tz;

    if (!spec) {
        cr_error(err, CR_EPARSE, "TZ string is missing");
        return NULL;
    }
    tz = tz_new(name);
    if (parse_posix(spec, &tz->footer) < 0) {
        cr_error(err, CR_EPARSE, "invalid TZ string \"%s\"", spec);
        api_tz_free(tz);
        return NULL;
    }
    tz->has_footer = true;
    return tz;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr;

static int read_hdr(const unsigned char *p, size_t len, tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    /* Bounds keep the size arithmetic below far from overflow. */
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 1000000 || h->leapcnt > 100000 ||
        h->charcnt > 100000 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt))
        return -1;
    return 0;
}

static size_t block_size(const tzif_hdr *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

api_tz *api_tz_from_tzif(const char *name, const void *data, size_t len, cr_err *err)
{
    const unsigned char *p = data, *end;
    api_tz *tz = NULL;
    tzif_hdr h;
    size_t tsize = 4, i;
    const char *why = "bad header";

    if (!p || read_hdr(p, len, &h) < 0)
        goto bad;
    end = p + len;
    if (h.version >= '2') { /* skip the 32-bit block, read the 64-bit one */
        size_t skip = 44 + block_size(&h, 4);
        if (skip > len || read_hdr(p + skip, len - skip, &h) < 0) {
            why = "truncated version 1 block";
            goto bad;
        }
        p += skip;
        tsize = 8;
    }
    p += 44;
    why = "truncated data block";
    if ((size_t)(end - p) < block_size(&h, tsize))
        goto bad;
    tz = tz_new(name);
    tz->ntrans = h.timecnt;
    tz->trans = xcalloc(h.timecnt ? h.timecnt : 1, sizeof(*tz->trans));
    tz->idx = xcalloc(h.timecnt ? h.timecnt : 1, 1);
    tz->ntypes = h.typecnt;
    tz->types = xcalloc(h.typecnt, sizeof(*tz->types));
    for (i = 0; i < h.timecnt; i++, p += tsize) {
        tz->trans[i] = tsize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            why = "transitions not ascending";
            goto bad;
        }
    }
    for (i = 0; i < h.timecnt; i++, p++) {
        if (*p >= h.typecnt) {
            why = "transition type out of range";
            goto bad;
        }
        tz->idx[i] = *p;
    }
    for (i = 0; i < h.typecnt; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        if (off < -25 * 3600 || off > 26 * 3600) {
            why = "offset out of range";
            goto bad;
        }
        tz->types[i] = off;
    }
    p += h.charcnt + h.leapcnt * (tsize + 4) + h.isstdcnt + h.isutcnt;
    if (tsize == 8 && p < end && *p == '\n') { /* footer: \n TZ string \n */
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!nl) {
            why = "unterminated footer";
            goto bad;
        }
        if (nl > p + 1) {
            char *spec = xstrndup((const char *)p + 1, (size_t)(nl - p - 1));
            int rc = parse_posix(spec, &tz->footer);
            free(spec);
            if (rc < 0) {
                why = "invalid footer TZ string";
                goto bad;
            }
            tz->has_footer = true;
        }
    }
    return tz;
bad:
    api_tz_free(tz);
    cr_error(err, CR_EPARSE, "zone \"%s\": invalid TZif data: %s", name ? name : "", why);
    return NULL;
}

static bool valid_name(const char *name)
{
    const char *p;

    if (!name || !*name || *name == '/' || *name == '.' || strlen(name) > 255 ||
        strstr(name, "..") || strstr(name, "//"))
        return false;
    for (p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '+' || *p == '-' || *p == '/' || *p == '.'))
            return false;
    }
    return true;
}

api_tz *api_tz_load_dir(const char *dir, const char *name, cr_err *err)
{
    char path[512];
    FILE *f = NULL;
    unsigned char *data = NULL;
    size_t len = 0, cap = 0, n;
    api_tz *tz = NULL;

    if (!valid_name(name)) {
        cr_error(err, CR_EINVAL, "invalid time zone name \"%s\"", name ? name : "");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(f = fopen(path, "rb"))) {
        if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "GMT") ||
            !strcmp(name, "Z"))
            return api_tz_utc();
        cr_error(err, CR_EINVAL, "unknown time zone \"%s\"", name);
        return NULL;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > (1u << 22)) { /* real zones are a few KiB */
                cr_error(err, CR_EINVAL, "time zone \"%s\": file too large", name);
                goto out;
            }
            data = xrealloc(data, cap);
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        /* A directory such as "America" opens but cannot be read. */
        cr_error(err, CR_EINVAL, "unknown time zone \"%s\"", name);
        goto out;
    }
    if ((tz = api_tz_from_tzif(name, data, len, err)) == NULL && err)
        err->code = CR_EINVAL;
out:
    if (f)
        fclose(f);
    free(data);
    return tz;
}

api_tz *api_tz_load(const char *name, cr_err *err)
{
    return api_tz_load_dir(API_TZ_DIR, name, err);
}

const char *api_tz_name(const api_tz *tz)
{
    return tz->name;
}

int32_t api_tz_offset(const api_tz *tz, int64_t utc)
{
    size_t lo = 0, hi;

    if (tz->ntrans == 0)
        return tz->has_footer ? posix_offset(&tz->footer, utc) : tz->types[0];
    if (utc < tz->trans[0])
        return tz->types[0];
    if (utc >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return posix_offset(&tz->footer, utc);
    hi = tz->ntrans; /* find the last transition <= utc */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return tz->types[tz->idx[lo]];
}

int api_tz_resolve(const api_tz *tz, int64_t local, api_tz_local *out)
{
    int32_t offs[24] = {0};
    int noffs = 0, i, j;
    int32_t min_o = INT32_MAX, max_o = INT32_MIN;

    /* Offsets in effect within two days either side: every instant that can
     * show this wall time is local - o for one of them. */
    for (i = -8; i <= 8; i++) {
        int32_t o = api_tz_offset(tz, local + (int64_t)i * 6 * 3600);
        for (j = 0; j < noffs && offs[j] != o; j++)
            ;
        if (j == noffs)
            offs[noffs++] = o;
        if (o < min_o)
            min_o = o;
        if (o > max_o)
            max_o = o;
    }
    memset(out, 0, sizeof(*out));
    for (i = 0; i < noffs; i++) {
        int64_t u = local - offs[i];
        if (api_tz_offset(tz, u) != offs[i])
            continue;
        if (out->n < 2)
            out->utc[out->n++] = u;
    }
    if (out->n == 2 && out->utc[0] > out->utc[1]) {
        int64_t t = out->utc[0];
        out->utc[0] = out->utc[1];
        out->utc[1] = t;
    }
    if (out->n == 0) { /* in a gap: first instant whose wall time is past it */
        int64_t lo = local - max_o, hi = local - min_o;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (mid + api_tz_offset(tz, mid) > local)
                hi = mid;
            else
                lo = mid;
        }
        out->gap_end = hi;
    }
    return out->n;
}
