#include "nodeagent/na_follow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "nodeagent/na_files.h"

#define DEFAULT_BUDGET (256 * 1024)
#define CHUNK          (64 * 1024)

struct na_follow {
    char *root, *rel;
    int fd;
    dev_t dev;
    ino_t ino;
    int64_t offset;
    int64_t start; /* for the first file: -1 = its end */
    bool first_done;
    int seq;        /* reading the rotated file logs/<name>.<seq>; 0: the path */
    int resume;     /* no file open: the rotated file last read to its end */
    char *rot_dir;  /* "logs" beside rel (sandbox-relative) */
    char *rot_base; /* "<name>." */
    cr_buf partial;
    bool mid_line; /* what was delivered last did not end with '\n' */
};

na_follow *na_follow_new(const char *root, const char *rel, int64_t offset)
{
    na_follow *f = xcalloc(1, sizeof(*f));

    f->root = xstrdup(root);
    f->rel = xstrdup(rel);
    f->fd = -1;
    f->start = offset;
    {
        const char *slash = strrchr(rel, '/');
        f->rot_dir = slash ? xasprintf("%.*s/logs", (int)(slash - rel), rel) : xstrdup("logs");
        f->rot_base = xasprintf("%s.", slash ? slash + 1 : rel);
    }
    cr_buf_init(&f->partial);
    return f;
}

void na_follow_free(na_follow *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    cr_buf_release(&f->partial);
    free(f->rot_dir);
    free(f->rot_base);
    free(f->root);
    free(f->rel);
    free(f);
}

int64_t na_follow_offset(const na_follow *f)
{
    return f->offset;
}

bool na_follow_open(const na_follow *f)
{
    return f->fd >= 0;
}

static void event(const na_follow_sink *s, na_follow_event ev)
{
    if (s->on_event)
        s->on_event(s->arg, ev);
}

bool na_follow_has_partial(const na_follow *f)
{
    return f->partial.len > 0;
}

/* Every delivery goes through here: it remembers whether a line was left
 * open. */
static void emit(na_follow *f, const na_follow_sink *sink, const char *p, size_t n)
{
    if (!n)
        return;
    f->mid_line = p[n - 1] != '\n';
    sink->on_data(sink->arg, p, n);
}

void na_follow_flush(na_follow *f, const na_follow_sink *sink)
{
    if (f->partial.len) {
        emit(f, sink, f->partial.data, f->partial.len);
        cr_buf_reset(&f->partial);
    }
}

/* The file was truncated: its writer starts over, so a line left open
 * (held, or delivered without its newline as a prompt) ends here, with a
 * '\n' of its own, and the new file's first line is a line of its own. */
static void end_line(na_follow *f, const na_follow_sink *sink)
{
    if (f->partial.len) {
        cr_buf_addch(&f->partial, '\n');
        na_follow_flush(f, sink);
    } else if (f->mid_line) {
        emit(f, sink, "\n", 1);
    }
}

/* Hands over the whole lines of p[0..n) (with what was held), keeps the
 * rest. */
static void deliver(na_follow *f, const na_follow_sink *sink, const char *p, size_t n)
{
    const char *nl = n ? memrchr(p, '\n', n) : NULL;

    if (!nl) {
        cr_buf_add(&f->partial, p, n);
        if (f->partial.len >= NA_FOLLOW_PARTIAL_MAX)
            na_follow_flush(f, sink);
        return;
    }
    size_t head = (size_t)(nl - p) + 1;
    if (f->partial.len) {
        cr_buf_add(&f->partial, p, head);
        na_follow_flush(f, sink);
    } else {
        emit(f, sink, p, head);
    }
    if (head < n)
        cr_buf_add(&f->partial, p + head, n - head);
}

/* What the path names now: 1 and its identity, 0 when missing, -1 when it
 * is not a regular file we may read (a link, a directory, ...). */
static int path_identity(const na_follow *f, dev_t *dev, ino_t *ino, int64_t *size)
{
    int fd = na_open_in(f->root, f->rel, O_RDONLY | O_NONBLOCK);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    close(fd);
    *dev = st.st_dev;
    *ino = st.st_ino;
    *size = st.st_size;
    return 1;
}

static bool open_file(na_follow *f, int64_t offset)
{
    struct stat st;
    int fd = na_open_in(f->root, f->rel, O_RDONLY | O_NONBLOCK);

    if (fd < 0)
        return false;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    if (offset < 0 || offset > st.st_size)
        offset = st.st_size;
    f->offset = offset;
    return true;
}

/* Reads f->fd from f->offset to its end or until *budget is spent.
 * Returns true at the end of the file. */
static bool drain(na_follow *f, const na_follow_sink *sink, size_t *budget)
{
    char buf[CHUNK];

    while (*budget > 0) {
        size_t want = *budget < sizeof(buf) ? *budget : sizeof(buf);
        ssize_t r = pread(f->fd, buf, want, f->offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return true;
        f->offset += r;
        *budget -= (size_t)r;
        deliver(f, sink, buf, (size_t)r);
    }
    return false;
}

/* Among the rotated files logs/<name>.<seq>: the seq of the file (dev,
 * ino) if it is one (0 otherwise), and the smallest existing seq above
 * `after` (or above the found one when after < 0) in *next (0: none). */
static int rotated_scan(const na_follow *f, dev_t dev, ino_t ino, int after, int *next)
{
    char *dir = xasprintf("%s/%s", f->root, f->rot_dir);
    size_t bl = strlen(f->rot_base);
    int found = 0, best = 0, cand[4096];
    size_t nc = 0;
    DIR *d;
    struct dirent *e;

    *next = 0;
    if ((d = opendir(dir))) {
        while ((e = readdir(d))) {
            struct stat st;
            const char *p = e->d_name + bl;
            char *end;
            long seq;
            if (strncmp(e->d_name, f->rot_base, bl) != 0 || *p < '0' || *p > '9')
                continue;
            seq = strtol(p, &end, 10);
            if (*end || seq <= 0 || seq > 1000000000)
                continue;
            if (ino && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                st.st_dev == dev && st.st_ino == ino)
                found = (int)seq;
            if (nc < sizeof(cand) / sizeof(cand[0]))
                cand[nc++] = (int)seq;
        }
        closedir(d);
    }
    if (after < 0)
        after = found;
    if (after > 0)
        for (size_t i = 0; i < nc; i++)
            if (cand[i] > after && (!best || cand[i] < best))
                best = cand[i];
    *next = best;
    free(dir);
    return found;
}

/* Opens rotated file seq from its start. */
static bool open_rotated(na_follow *f, int seq)
{
    char *rel = xasprintf("%s/%s%d", f->rot_dir, f->rot_base, seq);
    int fd = na_open_in(f->root, rel, O_RDONLY | O_NONBLOCK);
    struct stat st;

    free(rel);
    if (fd < 0)
        return false;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->offset = 0;
    f->seq = seq;
    return true;
}

/* Opens what follows rotated file `after` (0: unknown): the oldest
 * rotated file after it, else the file at the path. false when there is
 * none yet (between a rename and the new file): f->resume keeps `after`
 * so the next poll starts there and skips nothing. */
static bool open_after(na_follow *f, int after)
{
    int next;

    f->seq = 0;
    f->resume = after;
    if (after > 0) {
        rotated_scan(f, 0, 0, after, &next);
        if (next > 0 && open_rotated(f, next)) {
            f->resume = 0;
            return true;
        }
    }
    if (!open_file(f, 0))
        return false;
    f->resume = 0;
    /* Rotated between the scan and the open? Then the file opened is a
     * later one: the rotated file(s) before it come first. */
    if (after > 0) {
        rotated_scan(f, f->dev, f->ino, after, &next);
        if (next > 0) {
            close(f->fd);
            f->fd = -1;
            if (open_rotated(f, next))
                return true;
            return open_file(f, 0);
        }
    }
    return true;
}

/* After the file being read was rotated away and read to its end (after:
 * its seq, or -1 to look it up by its inode): what comes next. */
static bool open_next(na_follow *f, int after)
{
    int next, found = rotated_scan(f, f->dev, f->ino, after, &next);

    close(f->fd);
    f->fd = -1;
    return open_after(f, after < 0 ? found : after);
}

int na_follow_poll(na_follow *f, const na_follow_sink *sink, size_t max_bytes)
{
    size_t budget = max_bytes ? max_bytes : DEFAULT_BUDGET;

    for (int round = 0; round < 8; round++) {
        dev_t dev = 0;
        ino_t ino = 0;
        int64_t psize = 0;
        int id;
        struct stat st;

        if (f->fd < 0 && f->resume > 0) {
            if (!open_after(f, f->resume))
                return 0;
            event(sink, NA_FOLLOW_ROTATED);
        } else if (f->fd < 0) {
            int64_t at = f->first_done ? 0 : f->start;
            if (!open_file(f, at))
                return 0;
            f->first_done = true;
            event(sink, NA_FOLLOW_OPENED);
        }
        if (f->seq > 0) {
            /* a rotated file: final, read it to its end, then the next */
            if (!drain(f, sink, &budget))
                return 1;
            na_follow_flush(f, sink);
            if (!open_next(f, f->seq))
                return 0;
            event(sink, NA_FOLLOW_ROTATED);
            continue;
        }
        /* First what the path names, then the old file to its end: a byte
         * written before the rename is read before the switch. */
        id = path_identity(f, &dev, &ino, &psize);
        if (fstat(f->fd, &st) == 0 && st.st_size < f->offset) {
            end_line(f, sink);
            f->offset = 0;
            event(sink, NA_FOLLOW_TRUNCATED);
        }
        if (!drain(f, sink, &budget))
            return 1;
        if (id == 1 && (dev != f->dev || ino != f->ino)) {
            /* rotated away (maybe several times since the last poll): go
             * on with the rotated files after it, in order */
            na_follow_flush(f, sink);
            if (!open_next(f, -1))
                return 0;
            event(sink, NA_FOLLOW_ROTATED);
            continue;
        }
        return 0;
    }
    return 1;
}

int64_t na_tail_offset(int fd, int64_t size, int64_t lines)
{
    char buf[8192];
    int64_t pos = size, seen = 0;

    if (lines <= 0)
        return size;
    while (pos > 0) {
        size_t n = pos < (int64_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
        ssize_t r = pread(fd, buf, n, pos - (int64_t)n);
        if (r <= 0)
            return 0;
        for (ssize_t i = r - 1; i >= 0; i--) {
            int64_t at = pos - (int64_t)n + i;
            /* the newline that ends the file's last line does not start one */
            if (buf[i] == '\n' && at != size - 1 && ++seen == lines)
                return at + 1;
        }
        pos -= (int64_t)n;
    }
    return 0;
}
