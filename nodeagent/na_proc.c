#include "nodeagent/na_proc.h"

#include <dirent.h>
#include <fcntl.h>
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
        char path[512], *env, *stat, *statm, *sandbox, *comm = NULL;
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
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n++] = (na_proc){
            (pid_t)pid, ppid, pgid, sandbox, comm, (int64_t)resident * (page > 0 ? page : 4096)};
    }
    closedir(d);
}

void na_procs_release(na_procs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].sandbox);
        free(p->v[i].comm);
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
