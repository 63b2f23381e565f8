/* na_proc: the processes of Mesos sandboxes on this host, from /proc.
 *
 * A process belongs to a sandbox when its environment has MESOS_SANDBOX or
 * MESOS_DIRECTORY (what every Mesos agent, and mesoslite, gives executors
 * and command tasks, and what their children inherit). The scan reads
 * /proc/<pid>/{stat,environ,statm,exe} of every process; one we may not
 * read (another user's, when not root) is skipped. Pure parsing, and which
 * processes a kill spares, are apart from the directory walk so tests can
 * feed them text and tables.
 *
 * corral-executor is recognised by what it runs, never by its name: a task
 * may rename itself (prctl PR_SET_NAME, /proc/self/comm) to anything. */
#ifndef NA_PROC_H
#define NA_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct na_proc {
    pid_t pid, ppid, pgid;
    char *sandbox;     /* MESOS_SANDBOX, else MESOS_DIRECTORY (owned) */
    char *comm;        /* its name (owned): set by the process itself, trusted for nothing */
    int64_t rss_bytes; /* resident set */
    char *exe;         /* the target of /proc/<pid>/exe, " (deleted)" removed; NULL
                          when unreadable (owned) */
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

/* The executable path of a /proc/<pid>/exe link target: target without
 * the " (deleted)" the kernel appends once the file was replaced (an
 * executor still running across an upgrade). Owned. */
char *na_proc_exe_path(const char *target);

/* Whether p runs corral-executor: the basename of its exe is
 * "corral-executor". Its comm is not looked at. */
bool na_proc_runs_executor(const na_proc *p);

/* Whether p->v[i] is the executor of its sandbox: it runs corral-executor
 * and none of its ancestors in the sandbox does (the task descends from
 * the executor, so a task process that execs a copy of any program named
 * corral-executor is still the task's). */
bool na_procs_is_executor(const na_procs *p, size_t i);

/* What a kill of the task of sandbox dir signals (the OOM killer's
 * SIGTERM and SIGKILL). Spared: the executor process(es) of the sandbox
 * (na_procs_is_executor) and their ancestors in it (the `sh -c` the agent
 * starts the executor with, in the executor's process group): the
 * executor reports the task's end. Every other process of the sandbox is
 * signalled: through its process group, kill(-pgid), when no spared
 * process is in that group (so processes of the group outside the scan,
 * such as one that cleared its environment, go too); individually,
 * kill(pid), when one is (a task process that joined the executor's
 * group) or its pgid is not above 1. Each group and pid appears once. */
typedef struct na_kill_plan {
    pid_t *groups; /* kill(-pgid) */
    size_t n_groups;
    pid_t *pids; /* kill(pid) */
    size_t n_pids;
    pid_t *spared; /* the executor(s) and their ancestors */
    size_t n_spared;
    size_t n_executors; /* executors among spared (0: the executor is gone) */
} na_kill_plan;

/* Fills *out (caller releases) for sandbox dir (exact match) from p. */
void na_kill_plan_make(const na_procs *p, const char *dir, na_kill_plan *out);
void na_kill_plan_release(na_kill_plan *k);

/* Resident bytes of the processes in sandbox dir (exact match). */
int64_t na_procs_rss(const na_procs *p, const char *dir);
/* Whether any process runs in sandbox dir. */
int na_procs_in(const na_procs *p, const char *dir);

#endif
