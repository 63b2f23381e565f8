/* Cron and Quartz schedules with IANA time zones, as Singularity's SCHEDULED
 * requests use them (reference sheet section 5.4). Pure: parsing touches no
 * clock and no global state; loading the zone reads one file of tzdata.
 *
 * Accepted forms (fields separated by blanks):
 *  - QUARTZ: `sec min hour day-of-month month day-of-week [year]`, Quartz's
 *    CronExpression: `*`, `?` (day fields; exactly one of the two must be
 *    `?`), lists `a,b`, ranges `a-b` (wrapping ranges such as `FRI-MON` or
 *    `22-2` allowed), steps `a/n`, `*` + `/n`, `a-b/n`; month names JAN-DEC,
 *    weekday names SUN-SAT; weekdays 1-7 with 1 = Sunday; day-of-month `L`,
 *    `L-n` (n days before the last), `LW` (last weekday), `nW` (weekday
 *    nearest day n, never leaving the month; no match in months shorter
 *    than n); day-of-week `L` (Saturday), `nL` (last weekday n of the
 *    month), `n#k` (k-th weekday n, k 1-5); year 1970-2199.
 *  - CRON (the default type): unix cron `min hour dom month dow`, or six
 *    fields with seconds first. Converted the way Singularity does: seconds
 *    `0` prepended; weekdays 0-7 (0 and 7 = Sunday) mapped to Quartz's 1-7;
 *    if day-of-week is `*` (or `?`) it becomes `?`, otherwise day-of-month
 *    becomes `?` -- so "0 0 1 * MON" fires every Monday, not "the 1st or
 *    Mondays" as vixie cron would. Seven fields are refused (use QUARTZ).
 *  - Either type: @yearly, @annually, @monthly, @weekly (Sunday), @daily,
 *    @midnight, @hourly.
 *  - RFC5545 (iCal RRULE) is refused with CR_EUNSUPPORTED.
 *
 * Time zones and DST, the way cron users expect: fire times are local wall
 * times of the schedule's zone. A local time skipped by a spring-forward gap
 * fires once, at the first instant after the gap (every skipped match
 * collapses into that one firing); a local time repeated by a fall-back
 * fires once, at its first occurrence (the repeated hour does not fire
 * again, even for frequent schedules). */
#ifndef API_SCHEDULE_H
#define API_SCHEDULE_H

#include <stdint.h>

#include "apis/request.h"
#include "apis/tz.h"
#include "base/err.h"

typedef struct api_schedule api_schedule;

/* Parses expr of the given type (UNSET means CRON) in the IANA zone tzname
 * (NULL or "" means UTC), loading the zone with api_tz_load. Returns a new
 * schedule the caller frees with api_schedule_free, or NULL with err set:
 * CR_EINVAL with a detail naming the bad field, e.g.
 *   field 2 (minute) "61": 61 is out of range 0-59
 * or the bad zone; CR_EUNSUPPORTED for RFC5545. An expression that can
 * never fire (such as Feb 30) is refused too. */
api_schedule *api_schedule_parse(const char *expr, api_schedule_type type, const char *tzname,
                                 cr_err *err);

/* Same, with a zone already loaded: takes ownership of tz (freed on error
 * too). tz NULL means UTC. */
api_schedule *api_schedule_parse_tz(const char *expr, api_schedule_type type, api_tz *tz,
                                    cr_err *err);

/* The schedule of a SCHEDULED request: `schedule` interpreted per
 * `scheduleType`, or `quartzSchedule` alone as QUARTZ, in
 * `scheduleTimeZone`. Error details start with the request field name
 * ("schedule: field 2 (minute) ..."). Caller frees. */
api_schedule *api_schedule_for_request(const api_request *r, cr_err *err);

void api_schedule_free(api_schedule *s);

/* The first fire time strictly after after_ms (ms since the epoch), in ms
 * (always a whole second), or -1 if the schedule never fires again (a year
 * field in the past, or beyond year 2199). */
int64_t api_schedule_next(const api_schedule *s, int64_t after_ms);

/* Borrowed strings owned by s: the expression as given, and its Quartz form
 * (what Singularity writes to `quartzSchedule`: "0 30 2 ? * 2-6"). */
const char *api_schedule_expr(const api_schedule *s);
const char *api_schedule_quartz(const api_schedule *s);
/* Borrowed zone of s. */
const api_tz *api_schedule_tz(const api_schedule *s);

#endif
