/* Container processes across mesoslite's death; see ml_proc.h. */
#include "mesoslite/ml_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"

/* ---- pure parts ------------------------------------------------------------------ */

int ml_proc_parse_stat(const char *text, ml_proc *out)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    char state;
    long ppid, pgrp, session;
    unsigned long long start;
    size_t n;

    memset(out, 0, sizeof(*out));
    /* "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice threads
     * itrealvalue starttime ...": comm may hold spaces and ')' */
    if (!open || !close || close < open || sscanf(text, "%ld", &out->pid) != 1)
        return -1;
    if (sscanf(close + 1,
               " %c %ld %ld %ld %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &state, &ppid, &pgrp, &session, &start) != 5)
        return -1;
    n = (size_t)(close - open - 1);
    if (n >= sizeof(out->comm))
        n = sizeof(out->comm) - 1;
    memcpy(out->comm, open + 1, n);
    out->comm[n] = '\0';
    out->state = state;
    out->ppid = ppid;
    out->pgrp = pgrp;
    out->session = session;
    out->start = start;
    return 0;
}

char *ml_proc_env_sandbox(const char *env, size_t len)
{
    static const char key[] = "MESOS_DIRECTORY=";
    size_t i = 0;

    while (i < len) {
        const char *e = env + i;
        size_t n = strnlen(e, len - i);
        if (n > sizeof(key) - 1 && !memcmp(e, key, sizeof(key) - 1))
            return xstrndup(e + sizeof(key) - 1, n - (sizeof(key) - 1));
        i += n + 1;
    }
    return NULL;
}

char *ml_pidrec_format(const ml_pidrec *r)
{
    return xasprintf("%ld %llu %s %s\n", r->pid, r->start, r->boot_id, r->dir ? r->dir : "");
}

int ml_pidrec_parse(const char *text, ml_pidrec *out)
{
    int used = 0;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (sscanf(text, "%ld %llu %39s %n", &out->pid, &out->start, out->boot_id, &used) != 3 ||
        out->pid <= 1 || !used)
        return -1;
    n = strcspn(text + used, "\n");
    out->dir = n ? xstrndup(text + used, n) : NULL;
    return 0;
}

void ml_pidrec_release(ml_pidrec *r)
{
    free(r->dir);
    r->dir = NULL;
}

size_t ml_leftovers(const ml_pidrec *recs, size_t nrec, const char *boot_id, const ml_proc *procs,
                    size_t nprocs, long self, size_t *victims)
{
    size_t nv = 0;
    /* Whether a record's session and group ids are still its own: a live
     * process with the leader's pid and another start time means the number
     * was free, so no member of the old session or group is left. */
    bool *ids_ours = xcalloc(nrec + 1, sizeof(bool));

    for (size_t r = 0; r < nrec; r++) {
        ids_ours[r] = !strcmp(recs[r].boot_id, boot_id);
        for (size_t q = 0; ids_ours[r] && q < nprocs; q++)
            if (procs[q].pid == recs[r].pid && procs[q].start != recs[r].start)
                ids_ours[r] = false;
    }
    for (size_t p = 0; p < nprocs; p++) {
        const ml_proc *pr = &procs[p];
        if (pr->pid == self || pr->pid <= 1 || pr->state == 'Z' || pr->state == 'X')
            continue;
        for (size_t r = 0; r < nrec; r++) {
            const ml_pidrec *rec = &recs[r];
            if (strcmp(rec->boot_id, boot_id) || pr->start < rec->start)
                continue;
            if ((ids_ours[r] && (pr->session == rec->pid || pr->pgrp == rec->pid)) ||
                (rec->dir && pr->sandbox && !strcmp(pr->sandbox, rec->dir))) {
                victims[nv++] = p;
                break;
            }
        }
    }
    free(ids_ours);
    return nv;
}

/* ---- I/O ------------------------------------------------------------------------- */

/* Reads a small file; NULL when it cannot. *len gets its size. Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096, n = 0;
    char *buf;
    ssize_t r;

    if (fd < 0)
        return NULL;
    buf = xmalloc(cap + 1);
    while ((r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) {
            if (cap >= (1u << 20))
                break;
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void read_boot_id(char out[40])
{
    char *s = slurp("/proc/sys/kernel/random/boot_id", NULL);
    snprintf(out, 40, "%s", s ? s : "unknown");
    out[strcspn(out, "\n")] = '\0';
    if (!*out)
        snprintf(out, 40, "unknown");
    free(s);
}

/* Start time of pid (0 when it is gone). */
static unsigned long long start_of(pid_t pid)
{
    char path[64];
    ml_proc pr;
    char *s;
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((s = slurp(path, NULL)) && ml_proc_parse_stat(s, &pr) == 0)
        start = pr.start;
    free(s);
    return start;
}

/* Every process of the host, with the sandbox of those whose environment
 * this user may read. */
static ml_proc *snapshot(size_t *n)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    ml_proc *v = NULL;
    size_t cap = 0;

    *n = 0;
    while (d && (de = readdir(d))) {
        char path[64], *s;
        size_t len;
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if (!(s = slurp(path, NULL)))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            v = xrealloc(v, cap * sizeof(*v));
        }
        if (ml_proc_parse_stat(s, &v[*n]) < 0) {
            free(s);
            continue;
        }
        free(s);
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if ((s = slurp(path, &len))) {
            v[*n].sandbox = ml_proc_env_sandbox(s, len);
            free(s);
        }
        (*n)++;
    }
    if (d)
        closedir(d);
    return v;
}

static void snapshot_free(ml_proc *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].sandbox);
    free(v);
}

/* The records of the pid dir (names in *names, same order). */
static ml_pidrec *load_records(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    ml_pidrec *v = NULL;
    size_t cap = 0;

    *n = 0;
    *names = NULL;
    while (d && (de = readdir(d))) {
        char *path, *s;
        if (de->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
            *names = xrealloc(*names, cap * sizeof(char *));
        }
        path = xasprintf("%s/%s", dir, de->d_name);
        s = slurp(path, NULL);
        if (!s || ml_pidrec_parse(s, &v[*n]) < 0) {
            unlink(path); /* unreadable: nothing to act on */
            free(path);
            free(s);
            continue;
        }
        free(s);
        (*names)[(*n)++] = path;
    }
    if (d)
        closedir(d);
    return v;
}

/* Kills every leftover of recs, again until none is found (a leftover may
 * fork while we look) or a few seconds pass. */
static void kill_leftovers(ml_procs *p, const ml_pidrec *recs, size_t nrec)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    long self = (long)getpid();
    size_t killed = 0;

    for (int round = 0; round < 250; round++) {
        size_t np, nv, progress = 0;
        ml_proc *procs = snapshot(&np);
        size_t *victims = xcalloc(np + 1, sizeof(size_t));
        nv = ml_leftovers(recs, nrec, p->boot_id, procs, np, self, victims);
        for (size_t i = 0; i < nv; i++) {
            const ml_proc *pr = &procs[victims[i]];
            if (kill((pid_t)pr->pid, SIGKILL) == 0) {
                if (round == 0)
                    cr_warn(p->log,
                            "killed pid %ld (%s), left over by a previous mesoslite in its "
                            "work dir (session %ld)",
                            pr->pid, pr->comm, pr->session);
                killed++;
                progress++;
            } else if (errno != ESRCH && round == 0) {
                cr_warn(p->log, "cannot kill pid %ld (%s), left over by a previous mesoslite: %s",
                        pr->pid, pr->comm, strerror(errno));
            }
        }
        free(victims);
        snapshot_free(procs, np);
        if (!progress)
            break; /* none left, or none we may kill */
        nanosleep(&pause, NULL);
    }
    if (killed)
        cr_warn(p->log, "%zu process(es) of a previous mesoslite killed", killed);
}

int ml_procs_claim(ml_procs *p, const char *work_dir, cr_log *log, cr_err *err)
{
    char *meta = xasprintf("%s/meta", work_dir), *lock = xasprintf("%s/lock", meta);
    ml_pidrec *recs = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = -1;

    p->log = log;
    p->lock_fd = -1;
    p->pid_dir = xasprintf("%s/pids", meta);
    read_boot_id(p->boot_id);
    if (cr_mkdirs(p->pid_dir, NULL)) {
        cr_error(err, CR_EIO, "cannot create '%s': %s", p->pid_dir, strerror(errno));
        goto out;
    }
    p->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (p->lock_fd < 0) {
        cr_error(err, CR_EIO, "cannot open '%s': %s", lock, strerror(errno));
        goto out;
    }
    if (flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char *owner = slurp(lock, NULL);
        if (owner)
            owner[strcspn(owner, "\n")] = '\0';
        cr_error(err, CR_ECONFLICT, "work dir '%s' is in use by another mesoslite (pid %s)",
                 work_dir, owner && *owner ? owner : "?");
        free(owner);
        close(p->lock_fd);
        p->lock_fd = -1;
        goto out;
    }
    if (ftruncate(p->lock_fd, 0) == 0)
        dprintf(p->lock_fd, "%ld\n", (long)getpid());
    recs = load_records(p->pid_dir, &names, &n);
    if (n)
        kill_leftovers(p, recs, n);
    for (size_t i = 0; i < n; i++) {
        unlink(names[i]);
        free(names[i]);
        ml_pidrec_release(&recs[i]);
    }
    rc = 0;
out:
    free(names);
    free(recs);
    free(meta);
    free(lock);
    return rc;
}

void ml_procs_release(ml_procs *p)
{
    DIR *d;
    struct dirent *de;

    if (!p)
        return;
    if (p->pid_dir && p->lock_fd >= 0 && (d = opendir(p->pid_dir))) {
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char *path = xasprintf("%s/%s", p->pid_dir, de->d_name);
            unlink(path);
            free(path);
        }
        closedir(d);
    }
    if (p->lock_fd >= 0)
        close(p->lock_fd);
    p->lock_fd = -1;
    free(p->pid_dir);
    p->pid_dir = NULL;
}

void ml_procs_add(ml_procs *p, pid_t pid, const char *dir)
{
    ml_pidrec r = {.pid = (long)pid, .start = start_of(pid), .dir = (char *)dir};
    char *path, *text;
    int fd;

    if (!p->pid_dir || pid <= 0)
        return;
    snprintf(r.boot_id, sizeof(r.boot_id), "%s", p->boot_id);
    path = xasprintf("%s/%d", p->pid_dir, (int)pid);
    text = ml_pidrec_format(&r);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        cr_warn(p->log, "cannot record pid %d in %s: %s", (int)pid, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(text);
    free(path);
}

void ml_procs_remove(ml_procs *p, pid_t pid)
{
    char *path;

    if (!p->pid_dir || pid <= 0)
        return;
    path = xasprintf("%s/%d", p->pid_dir, (int)pid);
    unlink(path);
    free(path);
}
