/* Time zones without global state: a reader of compiled TZif files (RFC 8536,
 * versions 1 to 4) and of POSIX TZ rule strings ("EST5EDT,M3.2.0,M11.1.0"),
 * answering "what is the UTC offset at this instant" and "which instants show
 * this local wall time". Never touches TZ, tzset() or localtime().
 *
 * Times are whole seconds: `utc` counts seconds since the epoch; `local`
 * counts the same way on the zone's wall clock (local = utc + offset).
 * Offsets are seconds east of UTC (New York in winter: -18000).
 *
 * An api_tz is immutable after it is built; share it freely (read-only). */
#ifndef API_TZ_H
#define API_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct api_tz api_tz;

/* Directory searched by api_tz_load (the tzdata package's). */
#define API_TZ_DIR "/usr/share/zoneinfo"

/* Loads the IANA zone `name` ("America/New_York", "UTC") from API_TZ_DIR.
 * Names are checked first (no "..", no leading '/', only [A-Za-z0-9_+-/.]),
 * so a request field can never read an arbitrary file. "UTC", "Etc/UTC", "Z"
 * and "GMT" work even without tzdata. Returns a zone the caller frees with
 * api_tz_free, or NULL with err set (CR_EINVAL: bad or unknown name). */
api_tz *api_tz_load(const char *name, cr_err *err);

/* Same as api_tz_load with another zoneinfo directory (tests). */
api_tz *api_tz_load_dir(const char *dir, const char *name, cr_err *err);

/* Builds a zone from the bytes of a TZif file; name is copied. Caller frees.
 * CR_EPARSE with a detail naming the defect on malformed data. */
api_tz *api_tz_from_tzif(const char *name, const void *data, size_t len, cr_err *err);

/* Builds a zone from a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3"
 * (the footer format of TZif v2+, including v3's hours beyond 24 and
 * negative DST such as Europe/Dublin's "IST-1GMT0,M10.5.0,M3.5.0/1").
 * Caller frees. CR_EPARSE on a malformed string. */
api_tz *api_tz_from_posix(const char *name, const char *spec, cr_err *err);

/* A new UTC zone; caller frees. */
api_tz *api_tz_utc(void);

void api_tz_free(api_tz *tz);

/* Borrowed name given at load ("America/New_York"). */
const char *api_tz_name(const api_tz *tz);

/* UTC offset in seconds east of UTC in effect at instant utc. */
int32_t api_tz_offset(const api_tz *tz, int64_t utc);

/* What a local wall time maps to. */
typedef struct api_tz_local {
    int n;           /* 0: in a gap (skipped), 1: normal, 2: repeated (overlap) */
    int64_t utc[2];  /* the n matching instants, ascending */
    int64_t gap_end; /* n == 0: the instant the gap ends (first valid one after) */
} api_tz_local;

/* Resolves local wall time `local` to instants. Fills *out and returns n. */
int api_tz_resolve(const api_tz *tz, int64_t local, api_tz_local *out);

/* ---- proleptic Gregorian calendar helpers (no time zone involved) -------- */

/* Days since 1970-01-01 of year/month(1-12)/day(1-31). */
int64_t api_tz_days_from_civil(int64_t y, int m, int d);
/* Inverse of api_tz_days_from_civil. */
void api_tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 = Sunday .. 6 = Saturday. */
int api_tz_weekday(int64_t days);
int api_tz_days_in_month(int64_t y, int m);

#endif
