/* Schedule parser tests: fire-time tables under fixtures/schedule/ (see the
 * head of basic.txt for the format) plus a few API-level checks. */
#include "test/lib/cr_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apis/schedule.h"
#include "apis/tz.h"
#include "base/xalloc.h"

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)" into ms since the epoch. */
static int64_t parse_time(const char *s)
{
    int y, mo, d, h, mi, se, n = 0, ms = 0, oh = 0, om = 0, sign = 1;
    const char *p;

    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6)
        fail_msg("bad time \"%s\"", s);
    p = s + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            ms = ms * 10 + (*p - '0');
        while (digits++ < 3)
            ms *= 10;
    }
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%d:%d", &oh, &om) != 2)
            fail_msg("bad offset in \"%s\"", s);
    } else if (*p != 'Z') {
        fail_msg("time \"%s\" needs Z or an offset", s);
    }
    return ((api_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) -
            sign * (oh * 3600 + om * 60)) *
               1000 +
           ms;
}

static void fmt_utc(int64_t ms, char *out, size_t size)
{
    int64_t s = ms / 1000 - (ms % 1000 < 0), days = s / 86400 - (s % 86400 < 0), y;
    int64_t sod = s - days * 86400;
    int m, d;

    if (ms < 0) {
        snprintf(out, size, "never (%lld)", (long long)ms);
        return;
    }
    api_tz_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
}

static api_schedule_type parse_type(const char *s)
{
    if (!s || !strcmp(s, "CRON"))
        return API_SCHEDULE_CRON;
    if (!strcmp(s, "QUARTZ"))
        return API_SCHEDULE_QUARTZ;
    if (!strcmp(s, "RFC5545"))
        return API_SCHEDULE_RFC5545;
    fail_msg("bad type \"%s\"", s);
    return API_SCHEDULE_TYPE_UNSET;
}

#define MAX_NEXT 16

typedef struct tcase {
    int line;
    char *expr, *type, *tz, *quartz, *start, *error, *code;
    char *next[MAX_NEXT];
    int nnext;
} tcase;

static void case_clear(tcase *c)
{
    free(c->expr);
    free(c->type);
    free(c->tz);
    free(c->quartz);
    free(c->start);
    free(c->error);
    free(c->code);
    for (int i = 0; i < c->nnext; i++)
        free(c->next[i]);
    memset(c, 0, sizeof(*c));
}

static int run_fire_case(const char *file, tcase *c)
{
    cr_err err = {0};
    api_schedule *s;
    int64_t t;
    char got[64], want[64];
    int bad = 0;

    s = api_schedule_parse(c->expr, parse_type(c->type), c->tz, &err);
    if (!s) {
        print_error("%s:%d: \"%s\": %s\n", file, c->line, c->expr, err.detail);
        return 1;
    }
    if (c->quartz && strcmp(c->quartz, api_schedule_quartz(s)) != 0) {
        print_error("%s:%d: quartz form \"%s\", want \"%s\"\n", file, c->line,
                    api_schedule_quartz(s), c->quartz);
        bad = 1;
    }
    t = parse_time(c->start);
    for (int i = 0; i < c->nnext; i++) {
        int64_t exp = strcmp(c->next[i], "never") ? parse_time(c->next[i]) : -1;
        t = api_schedule_next(s, t);
        if (t != exp) {
            fmt_utc(t, got, sizeof(got));
            fmt_utc(exp, want, sizeof(want));
            print_error("%s:%d: \"%s\" tz %s: fire %d is %s, want %s (%s)\n", file, c->line,
                        c->expr, c->tz ? c->tz : "UTC", i + 1, got, want, c->next[i]);
            bad = 1;
            break;
        }
        if (t < 0)
            break;
    }
    api_schedule_free(s);
    return bad;
}

static int run_error_case(const char *file, tcase *c)
{
    cr_err err = {0};
    api_schedule *s = api_schedule_parse(c->expr ? c->expr : "", parse_type(c->type), c->tz, &err);
    const char *code = c->code ? c->code : "invalid";

    if (s) {
        print_error("%s:%d: \"%s\" parsed, want error \"%s\"\n", file, c->line, c->expr, c->error);
        api_schedule_free(s);
        return 1;
    }
    if (!strstr(err.detail, c->error) || strcmp(cr_code_name(err.code), code) != 0) {
        print_error("%s:%d: \"%s\": got %s \"%s\", want %s containing \"%s\"\n", file, c->line,
                    c->expr, cr_code_name(err.code), err.detail, code, c->error);
        return 1;
    }
    return 0;
}

/* Runs every block of a fixture; returns the number of blocks run. */
static int run_fixture(const char *name, int *failures)
{
    char path[256];
    size_t len;
    char *text, *line, *save = NULL;
    tcase c = {0};
    int lineno = 0, ncases = 0;
    bool in_case = false;

    snprintf(path, sizeof(path), "apis/fixtures/schedule/%s", name);
    text = cr_test_fixture(path, &len);
    /* strtok_r would skip blank lines, which separate the blocks. */
    for (line = text; line; line = save) {
        char *nl = strchr(line, '\n'), *key, *val;
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        if (line[0] == '#')
            continue;
        if (line[strspn(line, " \t")] == '\0') {
            if (in_case) {
                *failures += c.error ? run_error_case(name, &c) : run_fire_case(name, &c);
                ncases++;
                case_clear(&c);
                in_case = false;
            }
            continue;
        }
        key = line;
        val = line + strcspn(line, " \t");
        if (*val)
            *val++ = '\0';
        val += strspn(val, " \t");
        for (char *e = val + strlen(val); e > val && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = '\0';
        if (!in_case) {
            c.line = lineno;
            in_case = true;
        }
        if (!strcmp(key, "expr"))
            c.expr = xstrdup(val);
        else if (!strcmp(key, "type"))
            c.type = xstrdup(val);
        else if (!strcmp(key, "tz"))
            c.tz = xstrdup(val);
        else if (!strcmp(key, "quartz"))
            c.quartz = xstrdup(val);
        else if (!strcmp(key, "start"))
            c.start = xstrdup(val);
        else if (!strcmp(key, "error"))
            c.error = xstrdup(val);
        else if (!strcmp(key, "code"))
            c.code = xstrdup(val);
        else if (!strcmp(key, "next") && c.nnext < MAX_NEXT)
            c.next[c.nnext++] = xstrdup(val);
        else
            fail_msg("%s:%d: unknown key \"%s\"", name, lineno, key);
    }
    if (in_case) {
        *failures += c.error ? run_error_case(name, &c) : run_fire_case(name, &c);
        ncases++;
        case_clear(&c);
    }
    free(text);
    return ncases;
}

static void check_fixture(const char *name, int min_cases)
{
    int failures = 0, n = run_fixture(name, &failures);

    assert_true(n >= min_cases);
    assert_int_equal(failures, 0);
}

static void test_basic_table(void **state)
{
    check_fixture("basic.txt", 20);
}

static void test_calendar_table(void **state)
{
    check_fixture("calendar.txt", 15);
}

static void test_dst_table(void **state)
{
    check_fixture("dst.txt", 15);
}

static void test_error_table(void **state)
{
    check_fixture("errors.txt", 20);
}

static void test_request_schedule(void **state)
{
    api_request r = {0};
    cr_err err = {0};
    api_schedule *s;

    r.id = "job";
    r.type = API_SCHEDULED;
    r.schedule = "0 3 * * *";
    r.scheduleTimeZone = "Europe/Dublin";
    s = api_schedule_for_request(&r, &err);
    assert_non_null(s);
    assert_string_equal(api_schedule_quartz(s), "0 0 3 * * ?");
    assert_string_equal(api_tz_name(api_schedule_tz(s)), "Europe/Dublin");
    /* 03:00 IST on 2026-07-01 is 02:00 UTC. */
    assert_int_equal(api_schedule_next(s, parse_time("2026-07-01T00:00:00Z")),
                     parse_time("2026-07-01T02:00:00Z"));
    api_schedule_free(s);

    /* quartzSchedule alone is a Quartz expression */
    r.schedule = NULL;
    r.quartzSchedule = "0 0 3 ? * 1";
    r.scheduleTimeZone = NULL;
    s = api_schedule_for_request(&r, &err);
    assert_non_null(s);
    assert_int_equal(api_schedule_next(s, parse_time("2026-11-20T00:00:00Z")),
                     parse_time("2026-11-22T03:00:00Z"));
    api_schedule_free(s);

    r.scheduleType = API_SCHEDULE_CRON;
    assert_null(api_schedule_for_request(&r, &err));
    assert_non_null(strstr(err.detail, "scheduleType: must be QUARTZ"));

    r.scheduleType = API_SCHEDULE_TYPE_UNSET;
    r.quartzSchedule = "0 0 25 ? * 1";
    assert_null(api_schedule_for_request(&r, &err));
    assert_string_equal(err.detail,
                        "quartzSchedule: field 3 (hour) \"25\": 25 is out of range 0-23");

    r.quartzSchedule = NULL;
    assert_null(api_schedule_for_request(&r, &err));
    assert_non_null(strstr(err.detail, "schedule: required"));
}

static void test_next_is_strictly_after(void **state)
{
    cr_err err = {0};
    api_schedule *s = api_schedule_parse("* * * * * ?", API_SCHEDULE_QUARTZ, NULL, &err);
    int64_t t = 1700000000000;

    assert_non_null(s);
    assert_string_equal(api_tz_name(api_schedule_tz(s)), "UTC");
    for (int i = 0; i < 100; i++) {
        int64_t n = api_schedule_next(s, t);
        assert_int_equal(n, (t / 1000 + 1) * 1000);
        t = n - (i % 2); /* from the exact second, then from just before it */
    }
    assert_int_equal(api_schedule_next(s, -1500), 0); /* nothing fires before 1970 */
    api_schedule_free(s);
}

/* Walks a year of an every-minute schedule in New York and Dublin: fire times
 * strictly increase, are whole minutes, and their count is what the DST rules
 * give: the spring gap skips wall times but no instant (02:59 EST is followed
 * by 03:00 EDT one minute later), the repeated hour fires only once. */
static void test_every_minute_year_walk(void **state)
{
    static const char *const zones[] = {"America/New_York", "Europe/Dublin"};

    for (size_t z = 0; z < 2; z++) {
        cr_err err = {0};
        api_schedule *s = api_schedule_parse("* * * * *", API_SCHEDULE_CRON, zones[z], &err);
        int64_t t = parse_time("2026-01-01T00:00:00Z"), end = parse_time("2027-01-01T00:00:00Z");
        int64_t prev = t, count = 0;

        assert_non_null(s);
        for (;;) {
            t = api_schedule_next(s, t);
            assert_true(t > prev);
            assert_int_equal(t % 60000, 0);
            if (t >= end)
                break;
            prev = t;
            count++;
        }
        /* 365 days of 1440 minutes, minus the silent second pass of the
         * repeated hour; 00:00Z is "at" the start and not after it. */
        assert_int_equal(count, 365 * 1440 - 60 - 1);
        api_schedule_free(s);
    }
}

static void test_parse_tz_takes_ownership(void **state)
{
    cr_err err = {0};
    api_tz *tz = api_tz_from_posix("X", "AAA-3", &err);
    api_schedule *s;

    assert_non_null(tz);
    s = api_schedule_parse_tz("0 0 * * *", API_SCHEDULE_CRON, tz, &err);
    assert_non_null(s);
    assert_int_equal(api_schedule_next(s, 0), 21 * 3600 * 1000);
    api_schedule_free(s);

    /* on error the zone is freed too (valgrind/ASan check the leak) */
    tz = api_tz_from_posix("X", "AAA-3", &err);
    assert_null(api_schedule_parse_tz("bad", API_SCHEDULE_CRON, tz, &err));
    api_schedule_free(NULL);
}

/* ---- an independent oracle ----------------------------------------------------
 * Random 5-field cron expressions (numbers, ranges, steps, lists) checked
 * against a brute force over wall-clock days written from the definitions:
 * fields as plain sets, the calendar from gmtime_r, Singularity's rule for
 * the two day fields, and the DST rule (a wall time maps to its first
 * instant, or to the end of its gap). Zone offsets come from apis/tz, which
 * test_tz checks against Python's zoneinfo. */

typedef struct oracle {
    bool min[60], hour[24], dom[32], mon[13], dow[8];
    bool dow_star;
} oracle;

static uint64_t rng_next(uint64_t *st)
{
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 33;
}

/* Appends a random field over lo..hi to out and marks its values in set. */
static void random_field(uint64_t *st, int lo, int hi, bool *set, char *out, size_t n, bool *star)
{
    int kind = (int)(rng_next(st) % 6), a, b, k;
    size_t len = strlen(out);

    a = lo + (int)(rng_next(st) % (unsigned)(hi - lo + 1));
    b = a + (int)(rng_next(st) % (unsigned)(hi - a + 1));
    k = 1 + (int)(rng_next(st) % 7);
    if (star)
        *star = kind == 0;
    switch (kind) {
    case 0:
        snprintf(out + len, n - len, "*");
        for (int v = lo; v <= hi; v++)
            set[v] = true;
        break;
    case 1:
        snprintf(out + len, n - len, "*/%d", k);
        for (int v = lo; v <= hi; v += k)
            set[v] = true;
        break;
    case 2:
        snprintf(out + len, n - len, "%d", a);
        set[a] = true;
        break;
    case 3:
        snprintf(out + len, n - len, "%d-%d", a, b);
        for (int v = a; v <= b; v++)
            set[v] = true;
        break;
    case 4:
        snprintf(out + len, n - len, "%d-%d/%d", a, b, k);
        for (int v = a; v <= b; v += k)
            set[v] = true;
        break;
    default:
        snprintf(out + len, n - len, "%d,%d", a, b);
        set[a] = set[b] = true;
    }
}

static void random_cron(uint64_t *st, oracle *o, char *expr, size_t n)
{
    memset(o, 0, sizeof(*o));
    expr[0] = '\0';
    random_field(st, 0, 59, o->min, expr, n, NULL);
    strcat(expr, " ");
    random_field(st, 0, 23, o->hour, expr, n, NULL);
    strcat(expr, " ");
    random_field(st, 1, 31, o->dom, expr, n, NULL);
    strcat(expr, " ");
    random_field(st, 1, 12, o->mon, expr, n, NULL);
    strcat(expr, " ");
    random_field(st, 0, 7, o->dow, expr, n, &o->dow_star);
    if (o->dow[7])
        o->dow[0] = true;
}

/* Matching wall times (seconds on the zone's clock, minute resolution) of
 * the day starting at wall second day0, ascending. */
static size_t oracle_day(const oracle *o, int64_t day0, int64_t *out)
{
    time_t tt = (time_t)day0;
    struct tm tm;
    size_t n = 0;

    gmtime_r(&tt, &tm);
    if (!o->mon[tm.tm_mon + 1])
        return 0;
    /* Singularity: a restricted weekday wins; else the day of month. */
    if (o->dow_star ? !o->dom[tm.tm_mday] : !o->dow[tm.tm_wday])
        return 0;
    for (int h = 0; h < 24; h++)
        for (int m = 0; o->hour[h] && m < 60; m++)
            if (o->min[m])
                out[n++] = day0 + h * 3600 + m * 60;
    return n;
}

/* The first `want` fire instants (seconds) after start_s in zone tz. */
static size_t oracle_fires(const oracle *o, const api_tz *tz, int64_t start_s, int64_t *fires,
                           size_t want)
{
    static int64_t wall[24 * 60];
    int64_t day0 = (start_s - 2 * 86400) / 86400 * 86400;
    size_t n = 0;

    for (int d = 0; d < 3 * 366 && n < want; d++, day0 += 86400) {
        size_t k = oracle_day(o, day0, wall);
        for (size_t i = 0; i < k && n < want; i++) {
            api_tz_local r;
            int64_t f;
            api_tz_resolve(tz, wall[i], &r);
            f = r.n ? r.utc[0] : r.gap_end;
            if (f <= start_s || (n > 0 && f <= fires[n - 1]))
                continue; /* not after start, or collapsed into a gap firing */
            fires[n++] = f;
        }
    }
    return n;
}

static void check_against_oracle(const char *zone, int cases, uint64_t seed, int64_t from_s,
                                 int64_t span_s)
{
    cr_err err = {0};
    api_tz *tz = api_tz_load(zone, &err);
    uint64_t st = seed;
    int checked = 0;
    size_t compared = 0;

    int64_t trans[8];
    size_t ntrans = 0;

    assert_non_null(tz);
    /* Half the starts fall within a day and a half before a transition. */
    for (int64_t u = from_s; u < from_s + span_s && ntrans < 8; u += 900)
        if (api_tz_offset(tz, u) != api_tz_offset(tz, u + 900))
            trans[ntrans++] = u + 900;
    for (int c = 0; c < cases; c++) {
        oracle o;
        char expr[128];
        int64_t start = from_s + (int64_t)(rng_next(&st) % (uint64_t)span_s), fires[12], t;
        size_t n;
        api_schedule *s;

        if (ntrans && c % 2)
            start = trans[rng_next(&st) % ntrans] - (int64_t)(rng_next(&st) % (36 * 3600));

        random_cron(&st, &o, expr, sizeof(expr));
        s = api_schedule_parse(expr, API_SCHEDULE_CRON, zone, &err);
        if (!s) { /* e.g. "0 0 31 2 *": the oracle must agree it never fires */
            assert_non_null(strstr(err.detail, "never fires"));
            assert_int_equal(oracle_fires(&o, tz, start, fires, 1), 0);
            continue;
        }
        n = oracle_fires(&o, tz, start, fires, 12);
        t = start * 1000 + (int64_t)(rng_next(&st) % 1000);
        for (size_t i = 0; i < n; i++) {
            char got[64], want[64];
            t = api_schedule_next(s, t);
            if (t != fires[i] * 1000) {
                fmt_utc(t, got, sizeof(got));
                fmt_utc(fires[i] * 1000, want, sizeof(want));
                fail_msg("\"%s\" in %s after %lld: fire %zu is %s, oracle says %s", expr, zone,
                         (long long)start, i + 1, got, want);
            }
        }
        checked++;
        compared += n;
        api_schedule_free(s);
    }
    assert_true(checked > cases / 2);
    assert_true(compared > (size_t)cases * 8); /* most expressions fire often */
    api_tz_free(tz);
}

static void test_oracle_utc(void **state)
{
    check_against_oracle("UTC", 300, 1, 946684800, 40 * 365 * 86400ll);
}

/* Starts spread over the DST transitions of 2026. */
static void test_oracle_dst(void **state)
{
    check_against_oracle("America/New_York", 150, 2, 1767225600, 365 * 86400ll);
    check_against_oracle("Europe/Dublin", 150, 3, 1767225600, 365 * 86400ll);
    check_against_oracle("Australia/Lord_Howe", 60, 4, 1767225600, 365 * 86400ll);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_basic_table),
    cmocka_unit_test(test_calendar_table),
    cmocka_unit_test(test_dst_table),
    cmocka_unit_test(test_error_table),
    cmocka_unit_test(test_request_schedule),
    cmocka_unit_test(test_next_is_strictly_after),
    cmocka_unit_test(test_every_minute_year_walk),
    cmocka_unit_test(test_parse_tz_takes_ownership),
    cmocka_unit_test(test_oracle_utc),
    cmocka_unit_test(test_oracle_dst),
};

CR_TEST_MAIN(tests)
