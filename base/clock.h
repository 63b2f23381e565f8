/* Time as Corral's code sees it. Plans never read the clock: the I/O shell
 * reads it once and passes `now` in. Milliseconds since the epoch (wall) or
 * since an arbitrary point (monotonic). */
#ifndef CR_CLOCK_H
#define CR_CLOCK_H

#include <stdint.h>

int64_t cr_wall_ms(void);
int64_t cr_mono_ms(void);

/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-24T20:40:00.123Z")
 * into out (at least 32 bytes). Returns out. */
char *cr_format_time(int64_t ms, char *out, unsigned long size);

#endif
