/* na_follow: follows one log file of a sandbox, whole lines at a time,
 * through rotation and truncation.
 *
 * The file is named by its path; the follower holds a descriptor of the
 * file it reads. Each na_follow_poll() first looks at what the path names
 * now, then reads its descriptor to the end (bounded per call), then:
 *   - rotation: the path names another file (renamed away and recreated,
 *     as corral-executor and logrotate do): the old file is read to its
 *     end first, a trailing partial line is delivered as it is, and the
 *     new file is read from offset 0. Looking at the path before reading
 *     means no byte written to the old file before its rename is lost.
 *   - truncation: the file shrank below the offset read (copytruncate):
 *     reading restarts at 0. The writer started over, so a line left open
 *     (a partial line held, or one delivered without its newline) is ended
 *     first with a '\n' the file does not have: the new file's first line
 *     is never glued to it.
 *   - a missing path (between rename and recreate, or not created yet) is
 *     waited for; the old descriptor keeps being read.
 * Lines are delivered whole: a partial line waits for its newline, up to
 * NA_FOLLOW_PARTIAL_MAX bytes (then it goes out as it is), or until
 * na_follow_flush() (the log is final).
 *
 * Opening never follows a symbolic link (na_files.h: na_open_in), so a
 * task that replaces its log by a link to /etc/shadow gets nothing read.
 *
 * Lifecycle: na_follow_new() -> na_follow_poll()* [-> na_follow_flush()]
 * -> na_follow_free(). No I/O happens outside these calls. */
#ifndef NA_FOLLOW_H
#define NA_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NA_FOLLOW_PARTIAL_MAX (64 * 1024)

typedef struct na_follow na_follow;

typedef enum {
    NA_FOLLOW_OPENED,    /* the file appeared (or was first opened) */
    NA_FOLLOW_ROTATED,   /* switched to a new file at the path */
    NA_FOLLOW_TRUNCATED, /* the file shrank; reading restarts at 0 */
} na_follow_event;

typedef struct na_follow_sink {
    /* Whole lines (data ends with '\n'), or a partial line flushed as it
     * is (rotation, overflow, na_follow_flush), or a partial line ended by
     * a truncation (with a '\n' added, or that '\n' alone when the
     * partial was flushed before). Borrowed. */
    void (*on_data)(void *arg, const char *data, size_t len);
    void (*on_event)(void *arg, na_follow_event ev); /* optional */
    void *arg;
} na_follow_sink;

/* Follows root/rel (rel: a sandbox-relative path, checked by the caller
 * with na_path_check). offset: where to start in the file first opened;
 * -1 = its end; past the end = its end. Caller owns; never NULL. */
na_follow *na_follow_new(const char *root, const char *rel, int64_t offset);

/* Reads what is new, at most max_bytes (0: 256 KiB), delivering it to
 * sink. Returns 1 when more may be readable right away (the budget ran
 * out), 0 when caught up (or the file does not exist yet). */
int na_follow_poll(na_follow *f, const na_follow_sink *sink, size_t max_bytes);

/* Delivers a held partial line (the log is final, or the line waited long
 * enough: a prompt is shown without its newline). */
void na_follow_flush(na_follow *f, const na_follow_sink *sink);

/* Whether a partial line is held. */
bool na_follow_has_partial(const na_follow *f);

/* Offset in the file being read, and whether one is open. */
int64_t na_follow_offset(const na_follow *f);
bool na_follow_open(const na_follow *f);

void na_follow_free(na_follow *f);

/* The offset where the last `lines` lines of fd's first `size` bytes
 * begin (0 when it has fewer). Reads backwards from size. */
int64_t na_tail_offset(int fd, int64_t size, int64_t lines);

#endif
