#include "executor/exe_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "executor/exe_art.h"

#define PARTIAL_MAX (64 * 1024)

typedef struct rotated {
    int seq;
    int64_t bytes;
    int64_t at_ms;
} rotated;

struct exe_log {
    char *sandbox, *name, *task_id, *path, *logs_dir, *meta_path;
    int fd;
    int64_t size, max_bytes;
    int keep, next_seq, rotations;
    bool finished;
    /* The file ends inside a line: a partial line was flushed and its end
     * has not come yet, so the next rotation waits for that end. */
    bool midline;
    rotated *rot;
    size_t n_rot;
    cr_buf partial;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int open_current(exe_log *l, cr_err *err)
{
    struct stat st;

    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0)
        return cr_error(err, CR_EIO, "open log '%s': %s", l->path, strerror(errno));
    l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

static int write_meta(exe_log *l, cr_err *err)
{
    json_t *root = json_object(), *arr = json_array();
    char *tmp = xasprintf("%s.tmp", l->meta_path);
    int rc = 0;

    json_object_set_new(root, "log", json_string(l->name));
    json_object_set_new(root, "taskId", json_string(l->task_id ? l->task_id : ""));
    json_object_set_new(root, "finished", json_boolean(l->finished));
    for (size_t i = 0; i < l->n_rot; i++) {
        char *file = xasprintf("logs/%s.%d", l->name, l->rot[i].seq);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:I}", "file", file, "seq",
                                             l->rot[i].seq, "bytes", (json_int_t)l->rot[i].bytes,
                                             "rotatedAt", (json_int_t)l->rot[i].at_ms));
        free(file);
    }
    json_object_set_new(root, "rotated", arr);
    if (json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 ||
        rename(tmp, l->meta_path) < 0) {
        rc = cr_error(err, CR_EIO, "write log metadata '%s': %s", l->meta_path, strerror(errno));
        unlink(tmp);
    }
    json_decref(root);
    free(tmp);
    return rc;
}

/* Loads earlier rotations (an executor restarted on the same sandbox keeps
 * counting where it stopped). */
static void load_meta(exe_log *l)
{
    json_t *root = json_load_file(l->meta_path, 0, NULL), *arr, *o;
    size_t i;

    if (!root)
        return;
    arr = json_object_get(root, "rotated");
    json_array_foreach(arr, i, o)
    {
        int seq = (int)json_integer_value(json_object_get(o, "seq"));
        l->rot = xrealloc(l->rot, (l->n_rot + 1) * sizeof(rotated));
        l->rot[l->n_rot].seq = seq;
        l->rot[l->n_rot].bytes = json_integer_value(json_object_get(o, "bytes"));
        l->rot[l->n_rot].at_ms = json_integer_value(json_object_get(o, "rotatedAt"));
        l->n_rot++;
        if (seq >= l->next_seq)
            l->next_seq = seq + 1;
    }
    json_decref(root);
}

exe_log *exe_log_open(const char *sandbox, const char *name, const char *task_id, int64_t max_bytes,
                      int keep, cr_err *err)
{
    exe_log *l = xcalloc(1, sizeof(*l));

    l->sandbox = xstrdup(sandbox);
    l->name = xstrdup(name);
    l->task_id = xstrdup(task_id);
    l->path = xasprintf("%s/%s", sandbox, name);
    l->logs_dir = xasprintf("%s/logs", sandbox);
    l->meta_path = xasprintf("%s/logs/%s.rotated.json", sandbox, name);
    l->max_bytes = max_bytes > 0 ? max_bytes : INT64_MAX;
    l->keep = keep > 0 ? keep : 1;
    l->next_seq = 1;
    l->fd = -1;
    cr_buf_init(&l->partial);
    if (cr_mkdirs(l->logs_dir, err) < 0 || open_current(l, err) < 0) {
        exe_log_free(l);
        return NULL;
    }
    load_meta(l);
    return l;
}

static int rotate(exe_log *l, int64_t now_ms, cr_err *err)
{
    char *dst = xasprintf("%s/%s.%d", l->logs_dir, l->name, l->next_seq);
    int rc = -1;

    /* Rename while still open: nothing written so far can be lost, and the
     * new file starts empty at the next line. */
    if (rename(l->path, dst) < 0) {
        cr_error(err, CR_EIO, "rotate '%s': %s", l->path, strerror(errno));
        goto out;
    }
    close(l->fd);
    l->fd = -1;
    l->rot = xrealloc(l->rot, (l->n_rot + 1) * sizeof(rotated));
    l->rot[l->n_rot].seq = l->next_seq++;
    l->rot[l->n_rot].bytes = l->size;
    l->rot[l->n_rot].at_ms = now_ms;
    l->n_rot++;
    l->rotations++;
    while (l->n_rot > (size_t)l->keep) {
        char *old = xasprintf("%s/%s.%d", l->logs_dir, l->name, l->rot[0].seq);
        unlink(old);
        free(old);
        memmove(l->rot, l->rot + 1, (l->n_rot - 1) * sizeof(rotated));
        l->n_rot--;
    }
    if (open_current(l, err) < 0)
        goto out;
    rc = write_meta(l, err);
out:
    free(dst);
    return rc;
}

/* Writes complete lines p[0..n) (n ends right after a newline, or is the
 * forced flush of a partial line), rotating between lines as needed. */
static int write_lines(exe_log *l, const char *p, size_t n, int64_t now_ms, cr_err *err)
{
    while (n > 0) {
        size_t run = 0;
        /* Take as many whole lines as fit in the current file. */
        while (run < n) {
            const char *nl = memchr(p + run, '\n', n - run);
            size_t line = nl ? (size_t)(nl - (p + run)) + 1 : n - run;
            if (l->size + (int64_t)(run + line) > l->max_bytes && (l->size > 0 || run > 0) &&
                !(run == 0 && l->midline))
                break;
            run += line;
        }
        if (run == 0) {
            if (rotate(l, now_ms, err) < 0)
                return -1;
            continue;
        }
        if (write_all(l->fd, p, run) < 0)
            return cr_error(err, CR_EIO, "write log '%s': %s", l->path, strerror(errno));
        l->midline = p[run - 1] != '\n';
        l->size += (int64_t)run;
        p += run;
        n -= run;
    }
    return 0;
}

int exe_log_write(exe_log *l, const void *data, size_t n, int64_t now_ms, cr_err *err)
{
    const char *p = data, *last_nl;

    if (n == 0)
        return 0;
    last_nl = memrchr(p, '\n', n);
    if (!last_nl) {
        cr_buf_add(&l->partial, p, n);
        if (l->partial.len > PARTIAL_MAX)
            return exe_log_flush(l, now_ms, err);
        return 0;
    }
    if (l->partial.len > 0) {
        /* Complete the pending line first so it stays one line. */
        size_t head = (size_t)(last_nl - p) + 1;
        int rc;
        cr_buf_add(&l->partial, p, head);
        rc = write_lines(l, l->partial.data, l->partial.len, now_ms, err);
        cr_buf_reset(&l->partial);
        if (rc < 0)
            return -1;
    } else if (write_lines(l, p, (size_t)(last_nl - p) + 1, now_ms, err) < 0) {
        return -1;
    }
    if ((size_t)(last_nl - p) + 1 < n)
        cr_buf_add(&l->partial, last_nl + 1, n - (size_t)(last_nl - p) - 1);
    return 0;
}

int exe_log_flush(exe_log *l, int64_t now_ms, cr_err *err)
{
    int rc = 0;

    if (l->partial.len > 0)
        rc = write_lines(l, l->partial.data, l->partial.len, now_ms, err);
    cr_buf_reset(&l->partial);
    return rc;
}

bool exe_log_has_partial(const exe_log *l)
{
    return l && l->partial.len > 0;
}

int exe_log_finish(exe_log *l, int64_t now_ms, cr_err *err)
{
    if (exe_log_flush(l, now_ms, err) < 0)
        return -1;
    l->finished = true;
    return write_meta(l, err);
}

int exe_log_rotations(const exe_log *l)
{
    return l->rotations;
}

void exe_log_free(exe_log *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    cr_buf_release(&l->partial);
    free(l->rot);
    free(l->sandbox);
    free(l->name);
    free(l->task_id);
    free(l->path);
    free(l->logs_dir);
    free(l->meta_path);
    free(l);
}
