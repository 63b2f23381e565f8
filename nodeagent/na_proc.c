#include "nodeagent/na_proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"

char *na_proc_environ_sandbox(const char *env, size_t len)
{
    const char *p = env, *end = env + len, *dir = NULL;

    while (p < end) {
        size_t l = strnlen(p, (size_t)(end - p));
        if (l > 14 && strncmp(p, "MESOS_SANDBOX=", 14) == 0)
            return xstrndup(p + 14, l - 14);
        if (l > 16 && strncmp(p, "MESOS_DIRECTORY=", 16) == 0)
            dir = p + 16;
        p += l + 1;
    }
    return dir ? xstrndup(dir, strnlen(dir, (size_t)(end - dir))) : NULL;
}

int na_proc_parse_stat(const char *text, char **comm, pid_t *ppid, pid_t *pgid)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    char state;
    int pp, pg;

    if (!open || !close || close < open)
        return -1;
    if (sscanf(close + 1, " %c %d %d", &state, &pp, &pg) != 3)
        return -1;
    *comm = xstrndup(open + 1, (size_t)(close - open - 1));
    *ppid = pp;
    *pgid = pg;
    return 0;
}

#define EXECUTOR_NAME "corral-executor"
#define DELETED       " (deleted)"

char *na_proc_exe_path(const char *target)
{
    size_t n = strlen(target), d = strlen(DELETED);

    if (n > d && strcmp(target + n - d, DELETED) == 0)
        n -= d;
    return xstrndup(target, n);
}

bool na_proc_runs_executor(const na_proc *p)
{
    const char *base;

    if (!p->exe)
        return false;
    base = strrchr(p->exe, '/');
    return strcmp(base ? base + 1 : p->exe, EXECUTOR_NAME) == 0;
}

/* The process of p in sandbox dir whose pid is pid, or NULL. */
static const na_proc *find(const na_procs *p, const char *dir, pid_t pid)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].pid == pid && strcmp(p->v[i].sandbox, dir) == 0)
            return &p->v[i];
    return NULL;
}

bool na_procs_is_executor(const na_procs *p, size_t i)
{
    const na_proc *q = &p->v[i];

    if (!na_proc_runs_executor(q))
        return false;
    /* at most p->n steps: a ppid cycle (pids reused between reads) ends */
    for (size_t steps = 0; steps < p->n; steps++) {
        q = q->ppid > 0 && q->ppid != q->pid ? find(p, p->v[i].sandbox, q->ppid) : NULL;
        if (!q || q == &p->v[i])
            return true;
        if (na_proc_runs_executor(q))
            return false;
    }
    return true;
}

static bool has(const pid_t *v, size_t n, pid_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static void push(pid_t **v, size_t *n, pid_t x)
{
    if (has(*v, *n, x))
        return;
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = x;
}

void na_kill_plan_make(const na_procs *p, const char *dir, na_kill_plan *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < p->n; i++) {
        const na_proc *q = &p->v[i];
        if (strcmp(q->sandbox, dir) != 0 || !na_procs_is_executor(p, i))
            continue;
        out->n_executors++;
        for (size_t steps = 0; q && steps <= p->n; steps++) {
            push(&out->spared, &out->n_spared, q->pid);
            q = q->ppid > 0 && q->ppid != q->pid ? find(p, dir, q->ppid) : NULL;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        const na_proc *q = &p->v[i];
        bool shared = false;

        if (strcmp(q->sandbox, dir) != 0 || has(out->spared, out->n_spared, q->pid))
            continue;
        for (size_t j = 0; j < out->n_spared && !shared; j++) {
            const na_proc *s = find(p, dir, out->spared[j]);
            shared = s && s->pgid == q->pgid;
        }
        if (q->pgid > 1 && !shared)
            push(&out->groups, &out->n_groups, q->pgid);
        else if (q->pid > 1)
            push(&out->pids, &out->n_pids, q->pid);
    }
}

void na_kill_plan_release(na_kill_plan *k)
{
    free(k->groups);
    free(k->pids);
    free(k->spared);
    memset(k, 0, sizeof(*k));
}

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_buf b = CR_BUF_INIT;
    char buf[4096];
    ssize_t r;

    *len = 0;
    if (fd < 0)
        return NULL;
    cr_buf_init(&b);
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        cr_buf_add(&b, buf, (size_t)r);
    close(fd);
    return cr_buf_detach(&b, len);
}

void na_proc_scan(const char *proc_root, na_procs *out)
{
    DIR *d = opendir(proc_root);
    struct dirent *e;
    long page = sysconf(_SC_PAGESIZE);

    memset(out, 0, sizeof(*out));
    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[512], *env, *stat, *statm, *sandbox, *comm = NULL, *exe = NULL;
        char target[PATH_MAX];
        ssize_t tl;
        size_t len, sl, ml;
        pid_t ppid = 0, pgid = 0;
        long long size = 0, resident = 0;
        char *end;
        long pid = strtol(e->d_name, &end, 10);

        if (*end || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "%s/%ld/environ", proc_root, pid);
        env = slurp(path, &len);
        sandbox = env ? na_proc_environ_sandbox(env, len) : NULL;
        free(env);
        if (!sandbox)
            continue;
        snprintf(path, sizeof(path), "%s/%ld/stat", proc_root, pid);
        stat = slurp(path, &sl);
        if (!stat || na_proc_parse_stat(stat, &comm, &ppid, &pgid) < 0) {
            free(stat);
            free(sandbox);
            continue;
        }
        free(stat);
        snprintf(path, sizeof(path), "%s/%ld/statm", proc_root, pid);
        statm = slurp(path, &ml);
        if (statm)
            sscanf(statm, "%lld %lld", &size, &resident);
        free(statm);
        snprintf(path, sizeof(path), "%s/%ld/exe", proc_root, pid);
        tl = readlink(path, target, sizeof(target) - 1);
        if (tl > 0) {
            target[tl] = '\0';
            exe = na_proc_exe_path(target);
        }
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n++] = (na_proc){.pid = (pid_t)pid,
                                     .ppid = ppid,
                                     .pgid = pgid,
                                     .sandbox = sandbox,
                                     .comm = comm,
                                     .rss_bytes = (int64_t)resident * (page > 0 ? page : 4096),
                                     .exe = exe};
    }
    closedir(d);
}

void na_procs_release(na_procs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].sandbox);
        free(p->v[i].comm);
        free(p->v[i].exe);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}

int64_t na_procs_rss(const na_procs *p, const char *dir)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].sandbox, dir) == 0)
            sum += p->v[i].rss_bytes;
    return sum;
}

int na_procs_in(const na_procs *p, const char *dir)
{
    int n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strcmp(p->v[i].sandbox, dir) == 0;
    return n;
}
