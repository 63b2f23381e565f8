#include "nodeagent/na_oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return xstrdup(buf);
}

/* memory.current of the cgroup of pid when every process in it belongs to
 * sandbox dir; -1 otherwise. */
static int64_t cgroup_memory(const na_procs *p, const char *dir, pid_t pid, const char *root)
{
    char path[512], *text, *cg, *procs, *cur;
    int64_t out = -1;
    bool own = true;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    text = slurp(path);
    cg = text ? na_cgroup_v2_path(text) : NULL;
    free(text);
    if (!cg || strcmp(cg, "/") == 0) {
        free(cg);
        return -1;
    }
    snprintf(path, sizeof(path), "%s%s/cgroup.procs", root, cg);
    procs = slurp(path);
    for (char *s = procs, *e; s && *s; s = e) {
        long q = strtol(s, &e, 10);
        bool mine = false;
        if (e == s)
            break;
        for (size_t i = 0; i < p->n; i++)
            if (p->v[i].pid == q && strcmp(p->v[i].sandbox, dir) == 0)
                mine = true;
        own = own && mine;
    }
    if (procs && own) {
        snprintf(path, sizeof(path), "%s%s/memory.current", root, cg);
        cur = slurp(path);
        if (cur)
            out = atoll(cur);
        free(cur);
    }
    free(procs);
    free(cg);
    return out;
}

int64_t na_oom_measure(const na_procs *p, const char *dir, const char *cgroup_root,
                       const char **how)
{
    int64_t rss = 0;
    pid_t any = 0;

    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].sandbox, dir) != 0 || strcmp(p->v[i].comm, "corral-executor") == 0)
            continue;
        rss += p->v[i].rss_bytes;
        if (!any)
            any = p->v[i].pid;
    }
    if (any && cgroup_root) {
        int64_t cg = cgroup_memory(p, dir, any, cgroup_root);
        if (cg >= 0) {
            *how = "cgroup";
            return cg;
        }
    }
    *how = "rss";
    return rss;
}
