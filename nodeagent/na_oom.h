/* na_oom: the OOM killer's decision and measurements.
 *
 * A running task's memory is its cgroup v2 memory.current when the task has
 * a cgroup of its own (every process of that cgroup is the task's), else
 * the resident set of its processes (the executor's own excluded). It is
 * compared with the task's memoryMb: above the threshold (95%) for the
 * whole window (5 s), or above 100% at once, the task is killed
 * gracefully, before the kernel's OOM killer would. */
#ifndef NA_OOM_H
#define NA_OOM_H

#include <stdbool.h>
#include <stdint.h>

#include "nodeagent/na_proc.h"

typedef enum {
    NA_OOM_OK = 0, /* below the threshold (the window restarts) */
    NA_OOM_WATCH,  /* above the threshold, not for the window yet */
    NA_OOM_KILL,   /* kill it */
} na_oom_verdict;

/* One check: used and limit in bytes (limit <= 0: no verdict), the
 * threshold in percent, the window in ms; *since is the mono ms the task
 * went above the threshold (0: it was not), updated. */
na_oom_verdict na_oom_decide(int64_t used, int64_t limit, int threshold_pct, int64_t window_ms,
                             int64_t now_ms, int64_t *since);

/* "killed by the node agent: memory 1100 MiB over the 1024 MiB limit" (or
 * "... 980 MiB above 95% of the 1024 MiB limit for 5 s") into out. */
void na_oom_reason(int64_t used, int64_t limit, int threshold_pct, int64_t window_ms, char *out,
                   size_t size);

/* The cgroup v2 path ("/a/b") in a /proc/<pid>/cgroup text ("0::/a/b"),
 * or NULL (cgroup v1 only). Owned. */
char *na_cgroup_v2_path(const char *text);

/* Parses a cgroup byte count ("1234" or "1234\n", as memory.current):
 * digits only, no sign, no overflow. Returns 0 with *out set, or -1. */
int na_oom_parse_bytes(const char *text, int64_t *out);

/* memory.current, bytes, of the cgroup v2 of pid (named by
 * proc_root/<pid>/cgroup, found under cgroup_root) when that cgroup is the
 * sandbox's own: pid is listed in its cgroup.procs, and every process
 * listed there and in every cgroup below it (memory.current counts them
 * too) is a process of sandbox dir in p. -1 otherwise: no cgroup v2 entry,
 * the root cgroup, a process of anyone else, a file missing, unreadable or
 * malformed. proc_root is "/proc" and cgroup_root the cgroup-root setting
 * ("/sys/fs/cgroup"); tests point both at a fake tree. */
int64_t na_oom_cgroup_memory(const na_procs *p, const char *dir, pid_t pid, const char *proc_root,
                             const char *cgroup_root);

/* The memory of the processes of sandbox dir, bytes: memory.current of
 * their cgroup under cgroup_root when only they are in it
 * (na_oom_cgroup_memory of the first of them; cgroup_root NULL: never),
 * else their RSS (the executor's own left out: na_procs_is_executor, by
 * what it runs, not its name, which a task may take). *how says
 * which ("cgroup", "rss"). */
int64_t na_oom_measure(const na_procs *p, const char *dir, const char *proc_root,
                       const char *cgroup_root, const char **how);

#endif
