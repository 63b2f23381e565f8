/* TZif / POSIX TZ reader tests. tz_offsets.txt was produced by Python's
 * zoneinfo over the same tzdata, an independent reader. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "apis/tz.h"
#include "base/xalloc.h"

static int64_t utc(int64_t y, int m, int d, int h, int mi)
{
    return api_tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void test_calendar(void **state)
{
    int64_t y;
    int m, d;

    assert_int_equal(api_tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(api_tz_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(api_tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(api_tz_days_from_civil(2026, 11, 24), 20781);
    assert_int_equal(api_tz_weekday(api_tz_days_from_civil(2026, 11, 24)), 2); /* Tuesday */
    assert_int_equal(api_tz_weekday(api_tz_days_from_civil(1969, 12, 28)), 0); /* Sunday */
    assert_int_equal(api_tz_days_in_month(2028, 2), 29);
    assert_int_equal(api_tz_days_in_month(2100, 2), 28);
    assert_int_equal(api_tz_days_in_month(2000, 2), 29);
    for (int64_t days = -800000; days < 800000; days += 17) {
        api_tz_civil_from_days(days, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= api_tz_days_in_month(y, m));
        assert_int_equal(api_tz_days_from_civil(y, m, d), days);
    }
}

static void test_offsets_match_python(void **state)
{
    size_t len;
    char *text = cr_test_fixture("apis/fixtures/schedule/tz_offsets.txt", &len), *line,
         *save = NULL;
    char zone[64] = "", name[64];
    api_tz *tz = NULL;
    int checked = 0, bad = 0;

    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long t;
        int off;
        cr_err err = {0};

        if (line[0] == '#')
            continue;
        assert_int_equal(sscanf(line, "%63s %lld %d", name, &t, &off), 3);
        if (strcmp(name, zone) != 0) {
            api_tz_free(tz);
            tz = api_tz_load(name, &err);
            if (!tz)
                fail_msg("load %s: %s", name, err.detail);
            snprintf(zone, sizeof(zone), "%s", name);
        }
        if (api_tz_offset(tz, t) != off) {
            print_error("%s at %lld: offset %d, want %d\n", name, t, api_tz_offset(tz, t), off);
            bad++;
        }
        checked++;
    }
    api_tz_free(tz);
    free(text);
    assert_true(checked > 2000);
    assert_int_equal(bad, 0);
}

static void test_new_york(void **state)
{
    cr_err err = {0};
    api_tz *tz = api_tz_load("America/New_York", &err);
    api_tz_local r;

    assert_non_null(tz);
    assert_string_equal(api_tz_name(tz), "America/New_York");
    assert_int_equal(api_tz_offset(tz, utc(2026, 1, 15, 12, 0)), -5 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 7, 15, 12, 0)), -4 * 3600);
    /* 2026-03-08 02:00 EST = 07:00Z is the first EDT second */
    assert_int_equal(api_tz_offset(tz, utc(2026, 3, 8, 7, 0) - 1), -5 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 3, 8, 7, 0)), -4 * 3600);
    /* gap: 02:30 does not exist; it ends at 07:00Z */
    assert_int_equal(api_tz_resolve(tz, utc(2026, 3, 8, 2, 30), &r), 0);
    assert_int_equal(r.gap_end, utc(2026, 3, 8, 7, 0));
    assert_int_equal(api_tz_resolve(tz, utc(2026, 3, 8, 2, 0), &r), 0);
    assert_int_equal(r.gap_end, utc(2026, 3, 8, 7, 0));
    assert_int_equal(api_tz_resolve(tz, utc(2026, 3, 8, 3, 0), &r), 1);
    assert_int_equal(r.utc[0], utc(2026, 3, 8, 7, 0));
    assert_int_equal(api_tz_resolve(tz, utc(2026, 3, 8, 1, 59) + 59, &r), 1);
    assert_int_equal(r.utc[0], utc(2026, 3, 8, 6, 59) + 59);
    /* overlap: 01:30 on 2026-11-01 happens at 05:30Z (EDT) and 06:30Z (EST) */
    assert_int_equal(api_tz_resolve(tz, utc(2026, 11, 1, 1, 30), &r), 2);
    assert_int_equal(r.utc[0], utc(2026, 11, 1, 5, 30));
    assert_int_equal(r.utc[1], utc(2026, 11, 1, 6, 30));
    assert_int_equal(api_tz_resolve(tz, utc(2026, 11, 1, 2, 0), &r), 1);
    assert_int_equal(r.utc[0], utc(2026, 11, 1, 7, 0));
    api_tz_free(tz);
}

/* A whole skipped day: Samoa moved from -10:00 to +14:00 on 2011-12-30. */
static void test_apia_skipped_day(void **state)
{
    cr_err err = {0};
    api_tz *tz = api_tz_load("Pacific/Apia", &err);
    api_tz_local r;

    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, utc(2011, 12, 30, 10, 0) - 1), -10 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2011, 12, 30, 10, 0)), 14 * 3600);
    assert_int_equal(api_tz_resolve(tz, utc(2011, 12, 30, 12, 0), &r), 0);
    assert_int_equal(r.gap_end, utc(2011, 12, 30, 10, 0));
    assert_int_equal(api_tz_resolve(tz, utc(2011, 12, 30, 23, 59), &r), 0);
    assert_int_equal(api_tz_resolve(tz, utc(2011, 12, 31, 0, 0), &r), 1);
    assert_int_equal(r.utc[0], utc(2011, 12, 30, 10, 0));
    api_tz_free(tz);
}

static void test_dublin_negative_dst(void **state)
{
    cr_err err = {0};
    api_tz *file = api_tz_load("Europe/Dublin", &err);
    /* The footer of Dublin's file: IST is standard time, GMT "negative DST". */
    api_tz *rule = api_tz_from_posix("Dublin", "IST-1GMT0,M10.5.0,M3.5.0/1", &err);
    api_tz_local r;

    assert_non_null(file);
    assert_non_null(rule);
    for (int64_t t = utc(2025, 1, 1, 0, 0); t < utc(2031, 1, 1, 0, 0); t += 1800)
        assert_int_equal(api_tz_offset(file, t), api_tz_offset(rule, t));
    assert_int_equal(api_tz_offset(rule, utc(2026, 3, 29, 1, 0) - 1), 0);
    assert_int_equal(api_tz_offset(rule, utc(2026, 3, 29, 1, 0)), 3600);
    assert_int_equal(api_tz_offset(rule, utc(2026, 10, 25, 1, 0) - 1), 3600);
    assert_int_equal(api_tz_offset(rule, utc(2026, 10, 25, 1, 0)), 0);
    assert_int_equal(api_tz_resolve(rule, utc(2026, 3, 29, 1, 30), &r), 0);
    assert_int_equal(r.gap_end, utc(2026, 3, 29, 1, 0));
    assert_int_equal(api_tz_resolve(rule, utc(2026, 10, 25, 1, 30), &r), 2);
    assert_int_equal(r.utc[0], utc(2026, 10, 25, 0, 30));
    assert_int_equal(r.utc[1], utc(2026, 10, 25, 1, 30));
    api_tz_free(file);
    api_tz_free(rule);
}

static void test_posix_strings(void **state)
{
    cr_err err = {0};
    api_tz *tz;

    /* southern hemisphere: DST across the new year */
    tz = api_tz_from_posix("Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3", &err);
    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, utc(2026, 1, 15, 0, 0)), 11 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 6, 15, 0, 0)), 10 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 12, 31, 23, 0)), 11 * 3600);
    /* DST starts 2026-10-04 02:00 AEST = 10-03 16:00Z */
    assert_int_equal(api_tz_offset(tz, utc(2026, 10, 3, 16, 0) - 1), 10 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 10, 3, 16, 0)), 11 * 3600);
    api_tz_free(tz);

    /* quoted numeric names, minutes, Julian days (Feb 29 not counted) */
    tz = api_tz_from_posix("X", "<+0330>-3:30<+0430>,J79/24,J263/24", &err);
    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, utc(2028, 1, 1, 0, 0)), 3 * 3600 + 1800);
    /* J79 is March 20 even in a leap year; 24:00 local = March 21 00:00 */
    assert_int_equal(api_tz_offset(tz, utc(2028, 3, 20, 20, 30) - 1), 3 * 3600 + 1800);
    assert_int_equal(api_tz_offset(tz, utc(2028, 3, 20, 20, 30)), 4 * 3600 + 1800);
    api_tz_free(tz);

    /* zero-based day numbers count Feb 29; v3's all-year DST */
    tz = api_tz_from_posix("X", "EST5EDT,0/0,J365/25", &err);
    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, utc(2026, 1, 1, 12, 0)), -4 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 7, 1, 12, 0)), -4 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 12, 31, 12, 0)), -4 * 3600);
    api_tz_free(tz);

    /* no rules: the US defaults */
    tz = api_tz_from_posix("X", "CST6CDT", &err);
    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, utc(2026, 7, 1, 12, 0)), -5 * 3600);
    assert_int_equal(api_tz_offset(tz, utc(2026, 1, 1, 12, 0)), -6 * 3600);
    api_tz_free(tz);

    static const char *const bad[] = {"",
                                      "E5",
                                      "EST",
                                      "EST5EDT,M13.1.0,M11.1.0",
                                      "EST5EDT,M3.6.0,M11.1.0",
                                      "EST5EDT,M3.2.0",
                                      "<EST5",
                                      "EST5EDT,M3.2.0/200,M11.1.0",
                                      "EST99"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.code = CR_OK;
        tz = api_tz_from_posix("X", bad[i], &err);
        if (tz)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(err.code, CR_EPARSE);
        assert_non_null(strstr(err.detail, "invalid TZ string"));
    }
}

static char *read_zone_file(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    char *buf = xmalloc(1 << 16);

    snprintf(path, sizeof(path), "%s/%s", API_TZ_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void test_malformed_tzif(void **state)
{
    cr_err err = {0};
    size_t len;
    char *data = read_zone_file("America/New_York", &len);
    api_tz *tz;

    /* every truncation is refused cleanly (or parses, for cuts inside the
     * footer's optional tail) and never reads past the end (ASan) */
    for (size_t cut = 0; cut < len; cut += 7) {
        char *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        tz = api_tz_from_tzif("NY", copy, cut, &err);
        if (!tz) {
            assert_int_equal(err.code, CR_EPARSE);
            assert_non_null(strstr(err.detail, "zone \"NY\": invalid TZif data"));
        }
        api_tz_free(tz);
        free(copy);
    }
    tz = api_tz_from_tzif("NY", data, len, &err);
    assert_non_null(tz);
    api_tz_free(tz);

    data[0] = 'X';
    assert_null(api_tz_from_tzif("NY", data, len, &err));
    assert_non_null(strstr(err.detail, "bad header"));
    assert_null(api_tz_from_tzif("NY", NULL, 0, &err));
    free(data);
}

static void test_load_errors(void **state)
{
    cr_err err = {0};
    api_tz *tz;
    static const char *const invalid[] = {
        "../../etc/passwd", "/etc/passwd", "America/../../x", "a b", "", ".hidden", "x//y"};

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_null(api_tz_load(invalid[i], &err));
        assert_int_equal(err.code, CR_EINVAL);
        assert_non_null(strstr(err.detail, "invalid time zone name"));
    }
    assert_null(api_tz_load(NULL, &err));
    assert_null(api_tz_load("Nowhere/City", &err));
    assert_string_equal(err.detail, "unknown time zone \"Nowhere/City\"");
    assert_null(api_tz_load("America", &err)); /* a directory */
    assert_int_equal(err.code, CR_EINVAL);

    /* UTC works without tzdata */
    tz = api_tz_load_dir("/nonexistent", "UTC", &err);
    assert_non_null(tz);
    assert_int_equal(api_tz_offset(tz, 1700000000), 0);
    api_tz_free(tz);
    tz = api_tz_load_dir("/nonexistent", "Europe/Paris", &err);
    assert_null(tz);
    api_tz_free(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_calendar),
    cmocka_unit_test(test_offsets_match_python),
    cmocka_unit_test(test_new_york),
    cmocka_unit_test(test_apia_skipped_day),
    cmocka_unit_test(test_dublin_negative_dst),
    cmocka_unit_test(test_posix_strings),
    cmocka_unit_test(test_malformed_tzif),
    cmocka_unit_test(test_load_errors),
};

CR_TEST_MAIN(tests)
