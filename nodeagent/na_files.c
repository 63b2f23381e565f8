#include "nodeagent/na_files.h"

#include <dirent.h>
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

#define PATH_MAX_BYTES 4095
#define NAME_MAX_BYTES 255

const char *na_path_check(const char *rel)
{
    const char *p = rel, *s = NULL;
    size_t l;

    if (!rel || !*rel)
        return "path: required";
    if (strlen(rel) > PATH_MAX_BYTES)
        return "path: longer than 4095 bytes";
    if (rel[0] == '/')
        return "path: must be relative to the sandbox";
    for (const char *c = rel; *c; c++) {
        if (*c == '\\')
            return "path: must not contain a backslash";
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "path: must not contain control characters";
    }
    while ((l = cr_path_next(&p, &s)) > 0) {
        if (l == 2 && s[0] == '.' && s[1] == '.')
            return "path: must not leave the sandbox";
        if (l > NAME_MAX_BYTES)
            return "path: a component is longer than 255 bytes";
    }
    return NULL;
}

int na_open_in(const char *root, const char *rel, int flags)
{
    const char *p = rel, *s = NULL;
    size_t l;
    int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        return -1;
    while ((l = cr_path_next(&p, &s)) > 0) {
        char name[NAME_MAX_BYTES + 1];
        const char *rest = p, *s2 = NULL;
        bool last = cr_path_next(&rest, &s2) == 0;
        int fd;

        if (l > NAME_MAX_BYTES || (l == 2 && s[0] == '.' && s[1] == '.')) {
            close(dfd);
            errno = EACCES;
            return -1;
        }
        memcpy(name, s, l);
        name[l] = '\0';
        fd = openat(dfd, name,
                    last ? flags | O_NOFOLLOW | O_CLOEXEC
                         : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dfd);
        if (fd < 0)
            return -1;
        if (last)
            return fd;
        dfd = fd;
    }
    /* rel named the root itself */
    return dfd;
}

/* ---- sandboxes ------------------------------------------------------------------ */

static char **list_dir(const char *path, size_t *n)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **v = NULL;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        v = xrealloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = xstrdup(e->d_name);
    }
    closedir(d);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool is_dir_nofollow(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The "taskId" of the first logs/<x>.rotated.json that has one. */
static char *task_from_meta(const char *dir)
{
    char *logs = xasprintf("%s/logs", dir), *out = NULL;
    size_t n;
    char **v = list_dir(logs, &n);

    for (size_t i = 0; i < n && !out; i++) {
        size_t l = strlen(v[i]);
        if (l < 13 || strcmp(v[i] + l - 13, ".rotated.json") != 0)
            continue;
        char *rel = xasprintf("logs/%s", v[i]);
        int fd = na_open_in(dir, rel, O_RDONLY);
        free(rel);
        if (fd < 0)
            continue;
        json_t *j = json_loadfd(fd, 0, NULL);
        close(fd);
        const char *t = json_string_value(json_object_get(j, "taskId"));
        if (t && *t)
            out = xstrdup(t);
        json_decref(j);
    }
    free_list(v, n);
    free(logs);
    return out;
}

static void add_run(na_sandboxes *out, const char *dir, const char *agent, const char *fw,
                    const char *exec, const char *run)
{
    na_sandbox *s;
    struct stat st;
    int fd;

    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    s = &out->v[out->n++];
    memset(s, 0, sizeof(*s));
    s->dir = xstrdup(dir);
    s->agent_id = xstrdup(agent);
    s->framework_id = xstrdup(fw);
    s->executor_id = xstrdup(exec);
    s->run = xstrdup(run);
    if (stat(dir, &st) == 0)
        s->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    fd = na_open_in(dir, "corral-task.json", O_RDONLY);
    if (fd >= 0) {
        json_t *j = json_loadfd(fd, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "taskId"));
        const char *state = json_string_value(json_object_get(j, "state"));
        close(fd);
        s->has_record = true;
        if (t && *t)
            s->task_id = xstrdup(t);
        s->state = xstrdup(state);
        json_decref(j);
    }
    if (!s->task_id)
        s->task_id = task_from_meta(dir);
    if (!s->task_id)
        s->task_id = xstrdup(exec);
}

static int cmp_sandbox(const void *a, const void *b)
{
    return strcmp(((const na_sandbox *)a)->dir, ((const na_sandbox *)b)->dir);
}

void na_scan(const char *work_dir, na_sandboxes *out)
{
    char *slaves = xasprintf("%s/slaves", work_dir);
    size_t na;
    char **agents = list_dir(slaves, &na);

    memset(out, 0, sizeof(*out));
    for (size_t a = 0; a < na; a++) {
        char *fwd = xasprintf("%s/%s/frameworks", slaves, agents[a]);
        size_t nf;
        char **fws = list_dir(fwd, &nf);
        for (size_t f = 0; f < nf; f++) {
            char *exd = xasprintf("%s/%s/executors", fwd, fws[f]);
            size_t ne;
            char **exs = list_dir(exd, &ne);
            for (size_t e = 0; e < ne; e++) {
                char *rund = xasprintf("%s/%s/runs", exd, exs[e]); /* check-keys: not a key */
                size_t nr;
                char **runs = list_dir(rund, &nr);
                for (size_t r = 0; r < nr; r++) {
                    char *dir = xasprintf("%s/%s", rund, runs[r]);
                    /* runs/latest is a link to a run listed anyway */
                    if (is_dir_nofollow(dir))
                        add_run(out, dir, agents[a], fws[f], exs[e], runs[r]);
                    free(dir);
                }
                free_list(runs, nr);
                free(rund);
            }
            free_list(exs, ne);
            free(exd);
        }
        free_list(fws, nf);
        free(fwd);
    }
    free_list(agents, na);
    free(slaves);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_sandbox);
}

void na_sandbox_release(na_sandbox *s)
{
    free(s->dir);
    free(s->agent_id);
    free(s->framework_id);
    free(s->executor_id);
    free(s->run);
    free(s->task_id);
    free(s->state);
    memset(s, 0, sizeof(*s));
}

void na_sandbox_copy(na_sandbox *dst, const na_sandbox *src)
{
    *dst = *src;
    dst->dir = xstrdup(src->dir);
    dst->agent_id = xstrdup(src->agent_id);
    dst->framework_id = xstrdup(src->framework_id);
    dst->executor_id = xstrdup(src->executor_id);
    dst->run = xstrdup(src->run);
    dst->task_id = xstrdup(src->task_id);
    dst->state = xstrdup(src->state);
}

void na_sandboxes_release(na_sandboxes *s)
{
    for (size_t i = 0; i < s->n; i++)
        na_sandbox_release(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

const na_sandbox *na_sandboxes_find(const na_sandboxes *s, const char *task_id)
{
    const na_sandbox *best = NULL;

    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].task_id, task_id) != 0)
            continue;
        if (!best || s->v[i].mtime_ms > best->mtime_ms)
            best = &s->v[i];
    }
    return best;
}

/* ---- log files ------------------------------------------------------------------- */

static void add_log(na_logfiles *out, const char *dir, const char *rel, bool rotated, int seq)
{
    struct stat st;
    int fd = na_open_in(dir, rel, O_RDONLY | O_NONBLOCK);
    const char *slash;

    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->v[i].rel, rel) == 0) {
            if (fd >= 0)
                close(fd);
            return;
        }
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;
    }
    close(fd);
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    na_logfile *l = &out->v[out->n++];
    memset(l, 0, sizeof(*l));
    l->rel = xstrdup(rel);
    slash = strrchr(rel, '/');
    l->name = xstrdup(slash ? slash + 1 : rel);
    l->size = st.st_size;
    l->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    l->rotated = rotated;
    l->seq = seq;
}

static int cmp_log(const void *a, const void *b)
{
    const na_logfile *x = a, *y = b;
    /* rotated files of one log in seq order, then by path */
    const char *xd = strrchr(x->rel, '.'), *yd = strrchr(y->rel, '.');
    if (x->rotated && y->rotated && xd && yd && (xd - x->rel) == (yd - y->rel) &&
        strncmp(x->rel, y->rel, (size_t)(xd - x->rel)) == 0)
        return x->seq < y->seq ? -1 : x->seq > y->seq;
    return strcmp(x->rel, y->rel);
}

/* Calls fn for each logs/<log>.rotated.json of dir with its JSON. */
static void each_meta(const char *dir, void (*fn)(void *, const json_t *), void *arg)
{
    char *logs = xasprintf("%s/logs", dir);
    size_t n;
    char **v = list_dir(logs, &n);

    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (l < 13 || strcmp(v[i] + l - 13, ".rotated.json") != 0)
            continue;
        char *rel = xasprintf("logs/%s", v[i]);
        int fd = na_open_in(dir, rel, O_RDONLY | O_NONBLOCK);
        free(rel);
        if (fd < 0)
            continue;
        json_t *j = json_loadfd(fd, 0, NULL);
        close(fd);
        if (j)
            fn(arg, j);
        json_decref(j);
    }
    free_list(v, n);
    free(logs);
}

typedef struct list_ctx {
    const char *dir;
    na_logfiles *out;
} list_ctx;

static bool plain_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void meta_logs(void *arg, const json_t *j)
{
    list_ctx *c = arg;
    const char *log = json_string_value(json_object_get(j, "log"));
    size_t i;
    json_t *r;

    if (!plain_name(log))
        return;
    add_log(c->out, c->dir, log, false, 0);
    json_array_foreach (json_object_get(j, "rotated"), i, r) {
        json_int_t seq = json_integer_value(json_object_get(r, "seq"));
        char *rel = xasprintf("logs/%s.%lld", log, (long long)seq);
        if (seq > 0)
            add_log(c->out, c->dir, rel, true, (int)seq);
        free(rel);
    }
}

void na_list_logs(const char *dir, na_logfiles *out)
{
    static const char *fixed[] = {"stdout", "stderr", "service.log"};
    list_ctx c = {dir, out};

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        add_log(out, dir, fixed[i], false, 0);
    each_meta(dir, meta_logs, &c);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_log);
}

void na_logfiles_release(na_logfiles *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].rel);
        free(l->v[i].name);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

typedef struct fin_ctx {
    int seen, finished;
} fin_ctx;

static void meta_finished(void *arg, const json_t *j)
{
    fin_ctx *c = arg;
    c->seen++;
    if (json_is_true(json_object_get(j, "finished")))
        c->finished++;
}

bool na_logs_finished(const char *dir)
{
    fin_ctx c = {0, 0};
    each_meta(dir, meta_finished, &c);
    return c.seen > 0 && c.seen == c.finished;
}

/* ---- removal ---------------------------------------------------------------------- */

static int remove_at(int dfd, const char *name, cr_err *err)
{
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : cr_error(err, CR_EIO, "stat '%s': %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *e;
        int rc = 0;

        if (fd < 0)
            return cr_error(err, CR_EIO, "open '%s': %s", name, strerror(errno));
        d = fdopendir(fd);
        if (!d) {
            close(fd);
            return cr_error(err, CR_EIO, "open '%s': %s", name, strerror(errno));
        }
        while (rc == 0 && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            rc = remove_at(dirfd(d), e->d_name, err);
        }
        closedir(d);
        if (rc < 0)
            return -1;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return cr_error(err, CR_EIO, "rmdir '%s': %s", name, strerror(errno));
        return 0;
    }
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return cr_error(err, CR_EIO, "unlink '%s': %s", name, strerror(errno));
    return 0;
}

int na_remove_tree(const char *path, cr_err *err)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int dfd, rc;

    if (!slash || !slash[1]) {
        free(dir);
        return cr_error(err, CR_EINVAL, "remove '%s': not an absolute path", path);
    }
    *slash = '\0';
    dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = cr_error(err, CR_EIO, "open '%s': %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    rc = remove_at(dfd, slash + 1, err);
    close(dfd);
    free(dir);
    return rc;
}
