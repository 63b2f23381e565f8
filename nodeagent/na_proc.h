/* na_proc: the processes of Mesos sandboxes on this host, from /proc.
 *
 * A process belongs to a sandbox when its environment has MESOS_SANDBOX or
 * MESOS_DIRECTORY (what every Mesos agent, and mesoslite, gives executors
 * and command tasks, and what their children inherit). The scan reads
 * /proc/<pid>/{stat,environ,statm} of every process; one we may not read
 * (another user's, when not root) is skipped. Pure parsing is apart from
 * the directory walk so tests can feed it text. */
#ifndef NA_PROC_H
#define NA_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct na_proc {
    pid_t pid, ppid, pgid;
    char *sandbox;     /* MESOS_SANDBOX, else MESOS_DIRECTORY (owned) */
    char *comm;        /* owned */
    int64_t rss_bytes; /* resident set */
} na_proc;

typedef struct na_procs {
    na_proc *v;
    size_t n;
} na_procs;

/* Scans proc_root ("/proc") for sandbox processes. Fills *out (caller
 * releases). */
void na_proc_scan(const char *proc_root, na_procs *out);
void na_procs_release(na_procs *p);

/* The sandbox named by an environ block (NUL-separated), or NULL; owned. */
char *na_proc_environ_sandbox(const char *env, size_t len);

/* Parses /proc/<pid>/stat: comm, ppid, pgid. Returns 0 or -1. comm owned. */
int na_proc_parse_stat(const char *text, char **comm, pid_t *ppid, pid_t *pgid);

/* Resident bytes of the processes in sandbox dir (exact match). */
int64_t na_procs_rss(const na_procs *p, const char *dir);
/* Whether any process runs in sandbox dir. */
int na_procs_in(const na_procs *p, const char *dir);

#endif
