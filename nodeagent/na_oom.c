#include "nodeagent/na_oom.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"

#define MIB (1024.0 * 1024.0)

na_oom_verdict na_oom_decide(int64_t used, int64_t limit, int threshold_pct, int64_t window_ms,
                             int64_t now_ms, int64_t *since)
{
    if (limit <= 0) {
        *since = 0;
        return NA_OOM_OK;
    }
    if (used > limit)
        return NA_OOM_KILL;
    /* used >= limit * pct / 100, in integers */
    if (used * 100 < limit * (int64_t)threshold_pct) {
        *since = 0;
        return NA_OOM_OK;
    }
    if (!*since)
        *since = now_ms;
    return now_ms - *since >= window_ms ? NA_OOM_KILL : NA_OOM_WATCH;
}

void na_oom_reason(int64_t used, int64_t limit, int threshold_pct, int64_t window_ms, char *out,
                   size_t size)
{
    if (used > limit)
        snprintf(out, size, "killed by the node agent: memory %.0f MiB over the %.0f MiB limit",
                 used / MIB, limit / MIB);
    else
        snprintf(out, size,
                 "killed by the node agent: memory %.0f MiB above %d%% of the %.0f MiB limit "
                 "for %lld s",
                 used / MIB, threshold_pct, limit / MIB, (long long)(window_ms / 1000));
}

char *na_cgroup_v2_path(const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l > 3 && strncmp(p, "0::", 3) == 0)
            return xstrndup(p + 3, l - 3);
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* The whole file at path (NUL-terminated, owned), or NULL when it cannot
 * be read or holds more than max bytes (a partial list is no proof). */
static char *slurp(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_buf b = CR_BUF_INIT;
    char buf[8192];
    ssize_t r;

    if (fd < 0)
        return NULL;
    cr_buf_init(&b);
    while ((r = read(fd, buf, sizeof(buf))) > 0 && b.len <= max)
        cr_buf_add(&b, buf, (size_t)r);
    close(fd);
    if (r < 0 || b.len > max) {
        cr_buf_release(&b);
        return NULL;
    }
    return cr_buf_detach(&b, NULL);
}

int na_oom_parse_bytes(const char *text, int64_t *out)
{
    int64_t v = 0;
    const char *s = text;

    if (!text || *s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (*s == '\n')
        s++;
    if (*s)
        return -1;
    *out = v;
    return 0;
}

/* Whether proc is a process of sandbox dir in p. */
static bool of_sandbox(const na_procs *p, const char *dir, long proc)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].pid == proc && strcmp(p->v[i].sandbox, dir) == 0)
            return true;
    return false;
}

#define PROCS_MAX (4 << 20)
#define DEPTH_MAX 16

/* Whether every process of the cgroup at path, and of every cgroup below
 * it (memory.current counts them all), is one of sandbox dir; *has_pid
 * set when pid is listed in path's own cgroup.procs. A cgroup.procs that
 * is missing or not one decimal pid a line is no proof: false. */
static bool owned(const na_procs *p, const char *dir, const char *path, pid_t pid, int depth,
                  bool *has_pid)
{
    char *file = xasprintf("%s/cgroup.procs", path), *procs = slurp(file, PROCS_MAX);
    bool ok = procs != NULL && depth <= DEPTH_MAX;
    DIR *d;
    struct dirent *e;

    free(file);
    for (const char *s = procs; ok && *s;) {
        char *end = NULL;
        long q = 0;

        /* one decimal pid a line, each a process of the sandbox */
        if (*s >= '0' && *s <= '9')
            q = strtol(s, &end, 10);
        ok = q > 0 && (*end == '\n' || *end == '\0') && of_sandbox(p, dir, q);
        if (!ok)
            break;
        if (q == (long)pid && has_pid)
            *has_pid = true;
        s = *end ? end + 1 : end;
    }
    free(procs);
    d = ok ? opendir(path) : NULL;
    if (ok && !d)
        ok = false;
    while (ok && (e = readdir(d))) {
        struct stat st;
        char *sub;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        sub = xasprintf("%s/%s", path, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            ok = owned(p, dir, sub, pid, depth + 1, NULL);
        free(sub);
    }
    if (d)
        closedir(d);
    return ok;
}

int64_t na_oom_cgroup_memory(const na_procs *p, const char *dir, pid_t pid, const char *proc_root,
                             const char *cgroup_root)
{
    char *path = xasprintf("%s/%d/cgroup", proc_root, (int)pid), *text = slurp(path, 65536);
    char *cg = text ? na_cgroup_v2_path(text) : NULL, *cur = NULL;
    int64_t out = -1, v;
    bool has_pid = false;

    free(text);
    free(path);
    path = NULL;
    /* the root cgroup is everyone's; a path not from the kernel is refused */
    if (!cg || cg[0] != '/' || strcmp(cg, "/") == 0 || strstr(cg, "/../") ||
        (strlen(cg) >= 3 && strcmp(cg + strlen(cg) - 3, "/..") == 0))
        goto out;
    path = xasprintf("%s%s", cgroup_root, cg);
    if (!owned(p, dir, path, pid, 0, &has_pid) || !has_pid)
        goto out;
    free(cg);
    cg = xasprintf("%s/memory.current", path);
    cur = slurp(cg, 64);
    if (na_oom_parse_bytes(cur, &v) == 0)
        out = v;
out:
    free(cur);
    free(cg);
    free(path);
    return out;
}

int64_t na_oom_measure(const na_procs *p, const char *dir, const char *proc_root,
                       const char *cgroup_root, const char **how)
{
    int64_t rss = 0;
    pid_t any = 0;

    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].sandbox, dir) != 0 || na_procs_is_executor(p, i))
            continue;
        rss += p->v[i].rss_bytes;
        if (!any)
            any = p->v[i].pid;
    }
    if (any && cgroup_root) {
        int64_t cg = na_oom_cgroup_memory(p, dir, any, proc_root, cgroup_root);
        if (cg >= 0) {
            *how = "cgroup";
            return cg;
        }
    }
    *how = "rss";
    return rss;
}
