#include "mesoslite/ml_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static bool comp_is(const char *s, size_t l, const char *word)
{
    return l == strlen(word) && memcmp(s, word, l) == 0;
}

/* Copies the next component of *p into out (NAME_MAX + 1 bytes); -1 with
 * errno ENOENT at the end or for "..", ENAMETOOLONG when too long. */
static int take_name(const char **p, char *out)
{
    const char *s = NULL;
    size_t l = cr_path_next(p, &s);

    if (l == 0 || comp_is(s, l, "..")) {
        errno = ENOENT;
        return -1;
    }
    if (l > NAME_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out, s, l);
    out[l] = '\0';
    return 0;
}

const char *ml_files_below(const char *target, const char *dir)
{
    const char *t = target, *d = dir, *ts = NULL, *ds = NULL;
    size_t dl;

    if (!target || !dir || (target[0] == '/') != (dir[0] == '/'))
        return NULL;
    /* Literal comparison: a ".." matches only a ".." at the same place, and
     * dir's own components are the agent's (trusted) layout. */
    while ((dl = cr_path_next(&d, &ds)) > 0) {
        size_t tl = cr_path_next(&t, &ts);
        if (tl != dl || memcmp(ts, ds, tl) != 0)
            return NULL;
    }
    while (*t == '/')
        t++;
    return t;
}

/* ---- the walk below one sandbox ---------------------------------------------- */

typedef struct walk {
    int root;                   /* the sandbox directory, O_PATH (borrowed) */
    const char *const *aliases; /* absolute names of root */
    size_t naliases;
    int cur;      /* the current directory: root or owned */
    char **names; /* cur's components below root */
    size_t n, cap;
} walk;

static void walk_set(walk *w, int fd)
{
    if (w->cur != w->root)
        close(w->cur);
    w->cur = fd;
}

static void walk_release(walk *w)
{
    while (w->n > 0)
        free(w->names[--w->n]);
    free(w->names);
    w->names = NULL;
    w->cap = 0;
    walk_set(w, w->root);
}

static void walk_push(walk *w, const char *name, int fd)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->names = xrealloc(w->names, w->cap * sizeof(*w->names));
    }
    w->names[w->n++] = xstrdup(name);
    walk_set(w, fd);
}

/* "..": re-walks from the root to cur's parent rather than opening cur's
 * "..", which would climb out of a directory the task has moved outside. */
static int walk_up(walk *w)
{
    int at = w->root;

    if (w->n == 0) {
        errno = EXDEV; /* above the sandbox */
        return -1;
    }
    free(w->names[--w->n]);
    for (size_t i = 0; i < w->n; i++) {
        int fd = openat(at, w->names[i], DIR_FLAGS);
        if (at != w->root)
            close(at);
        if (fd < 0)
            return -1;
        at = fd;
    }
    walk_set(w, at);
    return 0;
}

/* Opens the regular file name in dir for reading, and only if it is still
 * the file *st describes (what the walk saw). */
static int open_file(int dir, const char *name, struct stat *st)
{
    struct stat now;
    /* O_NONBLOCK: should a FIFO have replaced it, opening must not wait. */
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_dev != st->st_dev ||
        now.st_ino != st->st_ino) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *st = now;
    return fd;
}

static void set_leaf(char *leaf, size_t size, const char *name)
{
    if (leaf && size > 0)
        snprintf(leaf, size, "%s", name);
}

/* Resolves rel below w->root (see ml_files.h) and opens it as wanted;
 * root_name names the root for leaf. */
static int walk_open(walk *w, const char *rel, ml_files_want want, struct stat *st, char *leaf,
                     size_t leaf_size, const char *root_name)
{
    char *todo = xstrdup(rel); /* what is left to resolve, relative to cur */
    const char *p = todo;
    char comp[NAME_MAX + 1], target[PATH_MAX];
    int links = 0, fd = -1, out = -1, saved;

    for (;;) {
        const char *s = NULL, *q;
        size_t l = cr_path_next(&p, &s);

        if (l == 0)
            break; /* cur is what rel names */
        if (l > NAME_MAX) {
            errno = ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, s, l);
        comp[l] = '\0';
        if (strcmp(comp, "..") == 0) {
            if (walk_up(w) < 0)
                goto out;
            continue;
        }
        fd = openat(w->cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, st) != 0)
            goto out;
        if (S_ISLNK(st->st_mode)) {
            const char *t = target;
            char *next;
            ssize_t tl;
            if (++links > ML_FILES_MAX_LINKS) {
                errno = ELOOP;
                goto out;
            }
            tl = readlinkat(fd, "", target, sizeof(target));
            close(fd);
            fd = -1;
            if (tl < 0)
                goto out;
            if ((size_t)tl >= sizeof(target)) {
                errno = ENAMETOOLONG;
                goto out;
            }
            target[tl] = '\0';
            if (target[0] == '/') {
                /* Absolute: only through one of the sandbox's own names. */
                t = NULL;
                for (size_t i = 0; i < w->naliases && !t; i++)
                    t = ml_files_below(target, w->aliases[i]);
                if (!t) {
                    errno = EXDEV;
                    goto out;
                }
                walk_release(w);
            }
            next = xasprintf("%s/%s", t, p);
            free(todo);
            todo = next;
            p = todo;
            continue;
        }
        if (S_ISDIR(st->st_mode)) {
            walk_push(w, comp, fd);
            fd = -1;
            continue;
        }
        /* Neither a directory nor a link: it must be the last component. */
        close(fd);
        fd = -1;
        q = p;
        if (cr_path_next(&q, &s) != 0 || want != ML_FILES_FILE) {
            errno = ENOTDIR;
            goto out;
        }
        if (!S_ISREG(st->st_mode)) {
            errno = EINVAL;
            goto out;
        }
        out = open_file(w->cur, comp, st);
        if (out >= 0)
            set_leaf(leaf, leaf_size, comp);
        goto out;
    }
    if (want != ML_FILES_DIR) {
        errno = EISDIR;
        goto out;
    }
    out = openat(w->cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out >= 0 && fstat(out, st) != 0) {
        saved = errno;
        close(out);
        out = -1;
        errno = saved;
    }
    if (out >= 0)
        set_leaf(leaf, leaf_size, w->n ? w->names[w->n - 1] : root_name);
out:
    saved = errno;
    if (fd >= 0)
        close(fd);
    free(todo);
    errno = saved;
    return out;
}

/* ---- from a /files path to its sandbox ---------------------------------------- */

/* The part of path from "frameworks/..." on, or NULL when path is neither
 * virtual nor under the agent dir. */
static const char *sandbox_tail(const char *agent_dir, const char *agent_real, const char *path)
{
    const char *p = path, *s = NULL, *rest;

    if (path[0] == '/' && cr_path_next(&p, &s) > 0 && comp_is(s, (size_t)(p - s), "frameworks"))
        return path;
    if ((rest = ml_files_below(path, agent_dir)))
        return rest;
    if (agent_real && (rest = ml_files_below(path, agent_real)))
        return rest;
    return NULL;
}

/* Opens the run directory runs/<run> (O_PATH): "latest" may be a link to a
 * sibling run's plain name, nothing else may be a link. Its real name goes
 * to real_run (NAME_MAX + 1 bytes). */
static int open_run(int runs, const char *run, char *real_run)
{
    char target[NAME_MAX + 2];
    struct stat st;
    ssize_t tl;
    int fd = openat(runs, run, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(real_run, NAME_MAX + 1, "%s", run);
        return fd;
    }
    if (!S_ISLNK(st.st_mode) || strcmp(run, "latest") != 0) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    tl = readlinkat(fd, "", target, sizeof(target));
    close(fd);
    if (tl <= 0 || (size_t)tl > NAME_MAX) {
        errno = ENOENT;
        return -1;
    }
    target[tl] = '\0';
    if (strchr(target, '/') || strcmp(target, ".") == 0 || strcmp(target, "..") == 0) {
        errno = ENOENT;
        return -1;
    }
    memcpy(real_run, target, (size_t)tl + 1);
    return openat(runs, target, DIR_FLAGS);
}

int ml_files_open(const char *agent_dir, const char *path, ml_files_want want, struct stat *st,
                  char *leaf, size_t leaf_size)
{
    static const char *const layout[] = {"frameworks", NULL, "executors", NULL, "runs"};
    char names[3][NAME_MAX + 1], real_run[NAME_MAX + 1];
    char *agent_real = NULL, *aliases[2] = {NULL, NULL};
    const char *tail, *p;
    size_t naliases = 0;
    int dfd = -1, root = -1, out = -1, saved, k = 0;
    walk w = {0};

    if (!agent_dir || !path || !*path) {
        errno = ENOENT;
        return -1;
    }
    agent_real = realpath(agent_dir, NULL);
    tail = sandbox_tail(agent_dir, agent_real, path);
    if (!tail) {
        errno = ENOENT;
        goto out;
    }
    /* frameworks/<fw>/executors/<exec>/runs/<run>, each a real directory. */
    p = tail;
    dfd = open(agent_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto out;
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        const char *want_name = layout[i];
        int fd;
        if (take_name(&p, names[k]) < 0)
            goto out;
        if (want_name && strcmp(names[k], want_name) != 0) {
            errno = ENOENT;
            goto out;
        }
        fd = openat(dfd, names[k], DIR_FLAGS);
        close(dfd);
        dfd = fd;
        if (fd < 0)
            goto out;
        if (!want_name)
            k++;
    }
    if (take_name(&p, names[2]) < 0 || (root = open_run(dfd, names[2], real_run)) < 0)
        goto out;
    /* An absolute link may name the sandbox as the agent does
     * ($MESOS_SANDBOX) or by its real path. */
    if (agent_dir[0] == '/')
        aliases[naliases++] = xasprintf("%s/frameworks/%s/executors/%s/runs/%s", agent_dir,
                                        names[0], names[1], real_run);
    if (agent_real)
        aliases[naliases++] = xasprintf("%s/frameworks/%s/executors/%s/runs/%s", agent_real,
                                        names[0], names[1], real_run);
    w.root = w.cur = root;
    w.aliases = (const char *const *)aliases;
    w.naliases = naliases;
    out = walk_open(&w, p, want, st, leaf, leaf_size, real_run);
out:
    saved = errno;
    walk_release(&w);
    if (root >= 0)
        close(root);
    if (dfd >= 0)
        close(dfd);
    free(aliases[0]);
    free(aliases[1]);
    free(agent_real);
    errno = saved;
    return out;
}
