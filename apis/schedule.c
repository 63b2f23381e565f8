/* Cron / Quartz schedule parser and fire-time search. See schedule.h. */
#include "apis/schedule.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/xalloc.h"

#define YEAR_MIN 1970
#define YEAR_MAX 2199

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR, F__COUNT };

static const struct {
    const char *name;
    int lo, hi; /* in the user's numbering (Quartz weekdays 1-7) */
} fields[F__COUNT] = {
    {"second", 0, 59},
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day-of-month", 1, 31},
    {"month", 1, 12},
    {"day-of-week", 1, 7},
    {"year", YEAR_MIN, YEAR_MAX},
};

static const char *const month_names[12] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                            "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[7] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct api_schedule {
    char *expr;
    char *quartz;
    api_tz *tz;
    uint64_t sec, min;
    uint32_t hour;
    uint32_t mon;      /* bits 1-12 */
    bool dom_nospec;   /* `?`: the day is chosen by day-of-week */
    uint32_t dom;      /* bits 1-31 */
    uint32_t dom_last; /* bit n: "L-n" (n days before the last day; L is n = 0) */
    uint32_t dom_w;    /* bit n: "nW" */
    bool dom_lw;       /* "LW" */
    bool dow_nospec;
    uint8_t dow;        /* bits 0-6, Sunday = 0 */
    uint8_t dow_last;   /* bit d: "dL", last weekday d of the month */
    uint8_t dow_nth[7]; /* per weekday, bit k: "d#k" */
    bool year_any;
    uint64_t year[4]; /* bit y - 1970 */
};

/* Parsing context: which field, in which numbering, for error messages. */
typedef struct pctx {
    api_schedule *s;
    int field;        /* F_* */
    int user_no;      /* 1-based position in the user's expression */
    bool cron;        /* CRON type: weekdays 0-7, 0 and 7 = Sunday */
    const char *text; /* the whole field */
    cr_err *err;
} pctx;

static int ferr(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ferr(pctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cr_error(c->err, CR_EINVAL, "field %d (%s) \"%s\": %s", c->user_no,
                    fields[c->field].name, c->text, msg);
}

static int user_lo(const pctx *c)
{
    return c->field == F_DOW && c->cron ? 0 : fields[c->field].lo;
}

static int user_hi(const pctx *c)
{
    return fields[c->field].hi;
}

/* Reads a number or (month / weekday) name; advances *pp. */
static int read_value(pctx *c, const char **pp, int *out)
{
    const char *p = *pp;
    int v = 0, digits = 0, i;

    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p) && digits < 6) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if (isdigit((unsigned char)*p))
            return ferr(c, "number too long");
        if (v < user_lo(c) || v > user_hi(c))
            return ferr(c, "%d is out of range %d-%d", v, user_lo(c), user_hi(c));
        *out = v;
        *pp = p;
        return 0;
    }
    if (isalpha((unsigned char)p[0]) && isalpha((unsigned char)p[1]) &&
        isalpha((unsigned char)p[2]) && (c->field == F_MON || c->field == F_DOW)) {
        const char *const *names = c->field == F_MON ? month_names : day_names;
        int n = c->field == F_MON ? 12 : 7;
        for (i = 0; i < n; i++) {
            if (strncasecmp(p, names[i], 3) == 0 && !isalpha((unsigned char)p[3])) {
                /* Names map to the user's numbering. */
                *out = c->field == F_MON ? i + 1 : (c->cron ? i : i + 1);
                *pp = p + 3;
                return 0;
            }
        }
        for (i = 0; isalpha((unsigned char)p[i]); i++)
            ;
        return ferr(c, "unknown %s name \"%.*s\"", c->field == F_MON ? "month" : "weekday", i, p);
    }
    if (!*p)
        return ferr(c, "missing value");
    return ferr(c, "unexpected \"%c\"", *p);
}

/* Weekday in the user's numbering to 0-6 with Sunday = 0. */
static int dow_internal(const pctx *c, int v)
{
    return c->cron ? v % 7 : v - 1;
}

static void set_value(pctx *c, int v)
{
    api_schedule *s = c->s;

    switch (c->field) {
    case F_SEC:
        s->sec |= 1ull << v;
        break;
    case F_MIN:
        s->min |= 1ull << v;
        break;
    case F_HOUR:
        s->hour |= 1u << v;
        break;
    case F_DOM:
        s->dom |= 1u << v;
        break;
    case F_MON:
        s->mon |= 1u << v;
        break;
    case F_DOW:
        s->dow |= (uint8_t)(1u << dow_internal(c, v));
        break;
    case F_YEAR:
        s->year[(v - YEAR_MIN) / 64] |= 1ull << ((v - YEAR_MIN) % 64);
        break;
    }
}

static int read_step(pctx *c, const char **pp, int *step)
{
    const char *p = *pp;
    int v = 0, digits = 0, span = user_hi(c) - user_lo(c) + 1;

    while (isdigit((unsigned char)*p) && digits < 6) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0)
        return ferr(c, "\"/\" must be followed by a step");
    if (v < 1 || v > span)
        return ferr(c, "step %d is out of range 1-%d", v, span);
    *step = v;
    *pp = p;
    return 0;
}

/* Day-of-month specials: L, L-n, LW, nW. Returns 1 if item was one. */
static int dom_special(pctx *c, const char *item)
{
    api_schedule *s = c->s;
    const char *p = item;
    int v;

    if (!strcasecmp(item, "L")) {
        s->dom_last |= 1u;
        return 1;
    }
    if (!strcasecmp(item, "LW")) {
        s->dom_lw = true;
        return 1;
    }
    if ((item[0] == 'L' || item[0] == 'l') && item[1] == '-') {
        p = item + 2;
        v = 0;
        if (!isdigit((unsigned char)*p))
            return ferr(c, "\"L-\" must be followed by a number of days");
        while (isdigit((unsigned char)*p) && v < 100)
            v = v * 10 + (*p++ - '0');
        if (*p || v > 30)
            return ferr(c, "\"%s\": offset from the last day must be 0-30", item);
        s->dom_last |= 1u << v;
        return 1;
    }
    {
        size_t n = strlen(item);
        if (n >= 2 && (item[n - 1] == 'W' || item[n - 1] == 'w')) {
            if (read_value(c, &p, &v) < 0)
                return -1;
            if (p != item + n - 1)
                return ferr(c, "\"%s\": W takes one day, as in 15W", item);
            s->dom_w |= 1u << v;
            return 1;
        }
    }
    return 0;
}

/* Day-of-week specials: L, nL, n#k. Returns 1 if item was one. */
static int dow_special(pctx *c, const char *item)
{
    api_schedule *s = c->s;
    const char *p = item;
    size_t n = strlen(item);
    int v, k;

    if (!strcasecmp(item, "L")) {
        s->dow |= 1u << 6; /* Quartz: L alone is the last day of the week */
        return 1;
    }
    if (n >= 2 && (item[n - 1] == 'L' || item[n - 1] == 'l')) {
        if (read_value(c, &p, &v) < 0)
            return -1;
        if (p != item + n - 1)
            return ferr(c, "\"%s\": L takes one weekday, as in 6L", item);
        s->dow_last |= (uint8_t)(1u << dow_internal(c, v));
        return 1;
    }
    if (strchr(item, '#')) {
        if (read_value(c, &p, &v) < 0)
            return -1;
        if (*p != '#' || !isdigit((unsigned char)p[1]) || p[2])
            return ferr(c, "\"%s\": expected weekday#k, as in 6#3", item);
        k = p[1] - '0';
        if (k < 1 || k > 5)
            return ferr(c, "\"%s\": k in weekday#k must be 1-5", item);
        s->dow_nth[dow_internal(c, v)] |= (uint8_t)(1u << k);
        return 1;
    }
    return 0;
}

static int parse_item(pctx *c, const char *item)
{
    const char *p = item;
    int a, b, step = 1, lo = user_lo(c), hi = user_hi(c), rc;
    bool ranged = false;

    if (!*item)
        return ferr(c, "empty list element");
    if (c->field == F_DOM && (rc = dom_special(c, item)) != 0)
        return rc < 0 ? -1 : 0;
    if (c->field == F_DOW && (rc = dow_special(c, item)) != 0)
        return rc < 0 ? -1 : 0;
    if (*p == '*') {
        a = lo;
        b = hi;
        p++;
        if (*p == '/' && (p++, read_step(c, &p, &step) < 0))
            return -1;
    } else {
        if (read_value(c, &p, &a) < 0)
            return -1;
        b = a;
        if (*p == '-') {
            p++;
            ranged = true;
            if (read_value(c, &p, &b) < 0)
                return -1;
        }
        if (*p == '/') {
            p++;
            if (read_step(c, &p, &step) < 0)
                return -1;
            if (!ranged)
                b = hi; /* "a/n": from a to the end */
        }
    }
    if (*p)
        return ferr(c, "unexpected \"%s\"", p);
    /* Walk a..b in the user's numbering, wrapping past hi (Quartz's
     * overflowing ranges such as FRI-MON or 22-2). */
    for (int i = 0, span = hi - lo + 1, lim = b >= a ? b - a : b - lo + hi - a + 1; i <= lim;
         i += step)
        set_value(c, lo + (a - lo + i) % span);
    return 0;
}

static int parse_field(pctx *c)
{
    api_schedule *s = c->s;
    char *copy, *item, *save = NULL;
    int rc = 0;

    if (!strcmp(c->text, "?")) {
        if (c->field == F_DOM)
            s->dom_nospec = true;
        else if (c->field == F_DOW)
            s->dow_nospec = true;
        else
            return ferr(c, "\"?\" is only allowed in the day-of-month and day-of-week fields");
        return 0;
    }
    if (c->field == F_YEAR && !strcmp(c->text, "*")) {
        s->year_any = true;
        return 0;
    }
    if (strchr(c->text, '?'))
        return ferr(c, "\"?\" must stand alone");
    copy = xstrdup(c->text);
    for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if ((rc = parse_item(c, item)) < 0)
            break;
    }
    if (rc == 0 && c->text[0] &&
        (c->text[0] == ',' || c->text[strlen(c->text) - 1] == ',' || strstr(c->text, ",,")))
        rc = ferr(c, "empty list element");
    free(copy);
    return rc;
}

/* ---- matching -------------------------------------------------------------- */

static bool year_ok(const api_schedule *s, int64_t y)
{
    if (y < YEAR_MIN || y > YEAR_MAX)
        return false;
    return s->year_any || (s->year[(y - YEAR_MIN) / 64] >> ((y - YEAR_MIN) % 64) & 1);
}

static bool day_ok(const api_schedule *s, int64_t y, int m, int d)
{
    int dim = api_tz_days_in_month(y, m);
    int64_t days = api_tz_days_from_civil(y, m, d);
    int wd = api_tz_weekday(days);

    if (s->dow_nospec) {
        if (s->dom >> d & 1)
            return true;
        if (dim - d <= 30 && (s->dom_last >> (dim - d) & 1))
            return true;
        if (s->dom_lw) {
            int lwd = api_tz_weekday(api_tz_days_from_civil(y, m, dim));
            int last = dim - (lwd == 6 ? 1 : lwd == 0 ? 2 : 0);
            if (d == last)
                return true;
        }
        if (s->dom_w) {
            for (int n = 1; n <= dim; n++) {
                int w, t;
                if (!(s->dom_w >> n & 1))
                    continue;
                w = api_tz_weekday(api_tz_days_from_civil(y, m, n));
                t = n;
                if (w == 6) /* Saturday: Friday, or Monday if n is the 1st */
                    t = n == 1 ? n + 2 : n - 1;
                else if (w == 0) /* Sunday: Monday, or Friday if n is the last */
                    t = n == dim ? n - 2 : n + 1;
                if (t == d)
                    return true;
            }
        }
        return false;
    }
    if (s->dow >> wd & 1)
        return true;
    if ((s->dow_last >> wd & 1) && d + 7 > dim)
        return true;
    if (s->dow_nth[wd] >> ((d - 1) / 7 + 1) & 1)
        return true;
    return false;
}

static int next_bit64(uint64_t mask, int from, int max)
{
    for (int i = from; i <= max; i++)
        if (mask >> i & 1)
            return i;
    return -1;
}

/* The first local wall time >= from (seconds on the zone's clock) that the
 * fields match, or INT64_MIN if none up to YEAR_MAX. */
static int64_t next_local(const api_schedule *s, int64_t from)
{
    int64_t days = from / 86400 - (from % 86400 < 0), y;
    int64_t sod = from - days * 86400;
    int m, d, h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), se = (int)(sod % 60), v;

    api_tz_civil_from_days(days, &y, &m, &d);
    if (y < YEAR_MIN) {
        y = YEAR_MIN;
        m = d = 1;
        h = mi = se = 0;
    }
    for (;;) {
        if (y > YEAR_MAX)
            return INT64_MIN;
        if (!year_ok(s, y)) {
            y++;
            m = d = 1;
            h = mi = se = 0;
            continue;
        }
        if ((v = next_bit64(s->mon, m, 12)) < 0) {
            y++;
            m = d = 1;
            h = mi = se = 0;
            continue;
        }
        if (v != m) {
            m = v;
            d = 1;
            h = mi = se = 0;
        }
        if (d > api_tz_days_in_month(y, m) || !day_ok(s, y, m, d)) {
            goto next_day;
        }
        if ((v = next_bit64(s->hour, h, 23)) < 0)
            goto next_day;
        if (v != h) {
            h = v;
            mi = se = 0;
        }
        if ((v = next_bit64(s->min, mi, 59)) < 0) {
            h++;
            mi = se = 0;
            if (h > 23)
                goto next_day;
            continue;
        }
        if (v != mi) {
            mi = v;
            se = 0;
        }
        if ((v = next_bit64(s->sec, se, 59)) < 0) {
            mi++;
            se = 0;
            if (mi > 59) {
                mi = 0;
                h++;
                if (h > 23)
                    goto next_day;
            }
            continue;
        }
        se = v;
        return api_tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + se;
    next_day:
        h = mi = se = 0;
        if (++d > api_tz_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
}

int64_t api_schedule_next(const api_schedule *s, int64_t after_ms)
{
    int64_t t0 = after_ms / 1000 - (after_ms % 1000 < 0) + 1; /* first whole second > after */
    int32_t o0 = api_tz_offset(s->tz, t0), o1 = api_tz_offset(s->tz, t0 - 1);
    /* Start from the earlier wall time so a gap ending exactly at t0 is seen. */
    int64_t local = t0 + (o0 < o1 ? o0 : o1);

    for (int guard = 0; guard < 100000; guard++) {
        api_tz_local r;
        int64_t fire;

        local = next_local(s, local);
        if (local == INT64_MIN)
            return -1;
        api_tz_resolve(s->tz, local, &r);
        /* A skipped wall time fires at the end of its gap; a repeated one
         * only at its first occurrence. */
        fire = r.n ? r.utc[0] : r.gap_end;
        if (fire >= t0)
            return fire * 1000;
        local++;
    }
    return -1;
}

/* ---- expression level ------------------------------------------------------ */

static const struct {
    const char *name, *quartz;
} shorthands[] = {
    {"@yearly", "0 0 0 1 1 ?"}, {"@annually", "0 0 0 1 1 ?"}, {"@monthly", "0 0 0 1 * ?"},
    {"@weekly", "0 0 0 ? * 1"}, {"@daily", "0 0 0 * * ?"},    {"@midnight", "0 0 0 * * ?"},
    {"@hourly", "0 0 * * * ?"},
};

void api_schedule_free(api_schedule *s)
{
    if (!s)
        return;
    free(s->expr);
    free(s->quartz);
    api_tz_free(s->tz);
    free(s);
}

/* Splits on blanks into at most 8 fields (a 9th marks "too many"). */
static int split_fields(char *buf, char *f[9])
{
    int n = 0;
    char *save = NULL, *t;

    for (t = strtok_r(buf, " \t\r\n", &save); t && n < 9; t = strtok_r(NULL, " \t\r\n", &save))
        f[n++] = t;
    return n;
}

/* Quartz form of a CRON weekday field from the parsed masks. */
static void cron_dow_quartz(const api_schedule *s, const char *text, cr_buf *b)
{
    bool first = true;
    const char *p;

    for (p = text; *p && !isdigit((unsigned char)*p); p++)
        ;
    if (!*p) { /* names only: the same in both numberings */
        cr_buf_adds(b, text);
        return;
    }
    for (int d = 0; d < 7; d++) {
        int e = d;
        if (!(s->dow >> d & 1))
            continue;
        while (e + 1 < 7 && (s->dow >> (e + 1) & 1))
            e++;
        cr_buf_addf(b, e > d ? "%s%d-%d" : "%s%d", first ? "" : ",", d + 1, e + 1);
        first = false;
        d = e;
    }
    for (int d = 0; d < 7; d++) {
        if (s->dow_last >> d & 1) {
            cr_buf_addf(b, "%s%dL", first ? "" : ",", d + 1);
            first = false;
        }
        for (int k = 1; k <= 5; k++) {
            if (s->dow_nth[d] >> k & 1) {
                cr_buf_addf(b, "%s%d#%d", first ? "" : ",", d + 1, k);
                first = false;
            }
        }
    }
}

static bool is_star(const char *f)
{
    return !strcmp(f, "*") || !strcmp(f, "?");
}

api_schedule *api_schedule_parse_tz(const char *expr, api_schedule_type type, api_tz *tz,
                                    cr_err *err)
{
    api_schedule *s = NULL;
    char *buf = NULL, *f[9];
    const char *uf[F__COUNT]; /* field text per F_* */
    int user_no[F__COUNT];
    int n, i;
    bool cron;
    cr_buf qb;

    cr_buf_init(&qb);
    if (type == API_SCHEDULE_RFC5545) {
        cr_error(err, CR_EUNSUPPORTED, "scheduleType RFC5545 is not supported; use CRON or QUARTZ");
        goto fail;
    }
    if (!expr || !*expr) {
        cr_error(err, CR_EINVAL, "schedule is empty");
        goto fail;
    }
    cron = type != API_SCHEDULE_QUARTZ;
    s = xcalloc(1, sizeof(*s));
    s->expr = xstrdup(expr);
    s->tz = tz ? tz : api_tz_utc();
    tz = NULL;
    buf = xstrdup(expr);
    n = split_fields(buf, f);
    if (n == 1 && f[0][0] == '@') {
        for (i = 0; i < (int)(sizeof(shorthands) / sizeof(shorthands[0])); i++)
            if (!strcasecmp(f[0], shorthands[i].name))
                break;
        if (i == (int)(sizeof(shorthands) / sizeof(shorthands[0]))) {
            cr_error(err, CR_EINVAL,
                     "unknown shorthand \"%s\" (known: @yearly @annually @monthly @weekly "
                     "@daily @midnight @hourly)",
                     f[0]);
            goto fail;
        }
        free(buf);
        buf = xstrdup(shorthands[i].quartz);
        n = split_fields(buf, f);
        cron = false;
    }
    for (i = 0; i < F__COUNT; i++)
        user_no[i] = 0;
    if (cron) {
        int off = n == 6 ? 1 : 0;
        if (n != 5 && n != 6) {
            cr_error(err, CR_EINVAL,
                     n == 7 ? "a cron schedule has 5 fields (or 6 with seconds first); got 7: "
                              "set scheduleType QUARTZ for a Quartz expression with a year"
                            : "a cron schedule has 5 fields (or 6 with seconds first); got %d",
                     n);
            goto fail;
        }
        uf[F_SEC] = off ? f[0] : "0";
        user_no[F_SEC] = off ? 1 : 0;
        for (i = F_MIN; i <= F_DOW; i++) {
            uf[i] = f[off + i - F_MIN];
            user_no[i] = off + i - F_MIN + 1;
        }
        uf[F_YEAR] = "*";
    } else {
        if (n != 6 && n != 7) {
            cr_error(err, CR_EINVAL,
                     "a quartz schedule has 6 or 7 fields (second minute hour day-of-month month "
                     "day-of-week [year]); got %d%s",
                     n, n == 5 ? ": use scheduleType CRON for a 5-field cron expression" : "");
            goto fail;
        }
        for (i = 0; i < n; i++) {
            uf[i] = f[i];
            user_no[i] = i + 1;
        }
        if (n == 6) {
            uf[F_YEAR] = "*";
            user_no[F_YEAR] = 7;
        }
    }
    for (i = 0; i < F__COUNT; i++) {
        pctx c = {s, i, user_no[i], cron, uf[i], err};
        if (parse_field(&c) < 0)
            goto fail;
    }
    if (cron) {
        /* Singularity's conversion: only one of the day fields survives. */
        if (is_star(uf[F_DOW])) {
            s->dow_nospec = true;
            s->dom_nospec = false;
            if (!strcmp(uf[F_DOM], "?"))
                s->dom = 0xfffffffe;
        } else {
            s->dom_nospec = true;
            s->dow_nospec = false;
        }
        cr_buf_addf(&qb, "%s %s %s %s %s ", uf[F_SEC], uf[F_MIN], uf[F_HOUR],
                    s->dom_nospec ? "?" : (!strcmp(uf[F_DOM], "?") ? "*" : uf[F_DOM]), uf[F_MON]);
        if (s->dow_nospec)
            cr_buf_adds(&qb, "?");
        else
            cron_dow_quartz(s, uf[F_DOW], &qb);
    } else {
        if (s->dom_nospec == s->dow_nospec) {
            cr_error(err, CR_EINVAL,
                     s->dom_nospec ? "day-of-month and day-of-week are both \"?\": set one of them"
                                   : "exactly one of day-of-month (field 4) and day-of-week "
                                     "(field 6) must be \"?\", as in \"0 0 12 ? * MON\" or "
                                     "\"0 0 12 1 * ?\"");
            goto fail;
        }
        for (i = 0; i < n; i++)
            cr_buf_addf(&qb, "%s%s", i ? " " : "", f[i]);
    }
    s->quartz = xstrdup(cr_buf_str(&qb));
    if (api_schedule_next(s, 0) < 0) {
        cr_error(err, CR_EINVAL, "schedule \"%s\" never fires", expr);
        goto fail;
    }
    free(buf);
    cr_buf_release(&qb);
    return s;
fail:
    free(buf);
    cr_buf_release(&qb);
    api_tz_free(tz);
    api_schedule_free(s);
    return NULL;
}

api_schedule *api_schedule_parse(const char *expr, api_schedule_type type, const char *tzname,
                                 cr_err *err)
{
    api_tz *tz = NULL;

    if (type == API_SCHEDULE_RFC5545) {
        cr_error(err, CR_EUNSUPPORTED, "scheduleType RFC5545 is not supported; use CRON or QUARTZ");
        return NULL;
    }
    if (tzname && *tzname && !(tz = api_tz_load(tzname, err))) {
        cr_err_prefix(err, "scheduleTimeZone");
        return NULL;
    }
    return api_schedule_parse_tz(expr, type, tz, err);
}

api_schedule *api_schedule_for_request(const api_request *r, cr_err *err)
{
    const char *expr = r->schedule ? r->schedule : r->quartzSchedule;
    api_schedule_type type = r->schedule ? r->scheduleType : API_SCHEDULE_QUARTZ;
    api_schedule *s;

    if (!expr) {
        cr_error(err, CR_EINVAL, "schedule: required for a SCHEDULED request");
        return NULL;
    }
    if (!r->schedule && r->scheduleType != API_SCHEDULE_TYPE_UNSET &&
        r->scheduleType != API_SCHEDULE_QUARTZ) {
        cr_error(err, CR_EINVAL,
                 "scheduleType: must be QUARTZ (or absent) when only "
                 "quartzSchedule is given");
        return NULL;
    }
    s = api_schedule_parse(expr, type, r->scheduleTimeZone, err);
    if (!s && err && strncmp(err->detail, "scheduleTimeZone", 16) != 0)
        cr_err_prefix(err, "%s", r->schedule ? "schedule" : "quartzSchedule");
    return s;
}

const char *api_schedule_expr(const api_schedule *s)
{
    return s->expr;
}

const char *api_schedule_quartz(const api_schedule *s)
{
    return s->quartz;
}

const api_tz *api_schedule_tz(const api_schedule *s)
{
    return s->tz;
}
