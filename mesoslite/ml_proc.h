/* The host processes of mesoslite's real agents, across mesoslite's own
 * death: a lock on the work dir, one pid file per container process, and on
 * start the leftovers of a previous mesoslite (SIGKILLed, crashed) found and
 * killed before anything is served.
 *
 * Every container process (command task, custom executor, fetcher) is the
 * leader of its own session (setsid, as Mesos' launcher does), so all it
 * starts shares its session id (and usually its process group) unless it
 * starts a session of its own. Its pid file
 * <work_dir>/meta/pids/<pid> holds "<pid> <start> <boot_id> <dir>": the
 * leader's start time (clock ticks after boot, /proc/<pid>/stat field 22),
 * the kernel's boot id and the container's sandbox directory. A process is
 * a leftover of a recorded container when, on the same boot, it started no
 * earlier than the leader and
 *   - its session or process group is the leader's pid: Linux keeps a pid
 *     number allocated while any process uses it as a session or group id,
 *     so the number cannot have been reused by an unrelated process while
 *     such members live (a live process with the leader's pid but another
 *     start time means the leader and all its members are long gone), or
 *   - its environment's MESOS_DIRECTORY is the container's sandbox (a
 *     daemon that started its own session).
 *
 * The pure parts (parsing, the leftover rule) are separate from the I/O so
 * unit tests drive them with snapshots. */
#ifndef ML_PROC_H
#define ML_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/log.h"

/* One process, from /proc/<pid>/stat (and environ). */
typedef struct ml_proc {
    long pid, ppid, pgrp, session;
    char state;               /* 'R', 'S', 'Z', ... */
    unsigned long long start; /* field 22: clock ticks after boot */
    char comm[32];
    char *sandbox; /* MESOS_DIRECTORY from its environment, or NULL (owned) */
} ml_proc;

/* Parses the text of /proc/<pid>/stat into *out (sandbox left NULL).
 * Returns 0, or -1 when it does not have that shape. Pure. */
int ml_proc_parse_stat(const char *text, ml_proc *out);

/* MESOS_DIRECTORY's value in a NUL-separated environment block (the text of
 * /proc/<pid>/environ), or NULL. Caller frees. Pure. */
char *ml_proc_env_sandbox(const char *env, size_t len);

/* A container process as its pid file records it. */
typedef struct ml_pidrec {
    long pid;
    unsigned long long start;
    char boot_id[40];
    char *dir; /* sandbox (owned) */
} ml_pidrec;

/* "<pid> <start> <boot_id> <dir>\n". Caller frees. Pure. */
char *ml_pidrec_format(const ml_pidrec *r);
/* Parses a pid file's text. Returns 0, or -1 (nothing to release). Pure. */
int ml_pidrec_parse(const char *text, ml_pidrec *out);
void ml_pidrec_release(ml_pidrec *r);

/* Which of procs are leftovers of recs on the boot boot_id (the rule
 * above), never self. Fills victims with indexes into procs (room for
 * nprocs) and returns how many. Zombies are not leftovers (already dead).
 * Pure. */
size_t ml_leftovers(const ml_pidrec *recs, size_t nrec, const char *boot_id, const ml_proc *procs,
                    size_t nprocs, long self, size_t *victims);

/* ---- I/O ---------------------------------------------------------------------- */

/* The work dir's guard: its lock and pid directory. */
typedef struct ml_procs {
    char *pid_dir; /* <work_dir>/meta/pids */
    int lock_fd;   /* -1 when not held */
    char boot_id[40];
    cr_log *log;
} ml_procs;

/* Takes the work dir: locks <work_dir>/meta/lock (another live mesoslite
 * holding it is CR_ECONFLICT, naming its pid), kills the
 * leftovers its pid files name, and removes them. Must run before any
 * process is started. Returns 0, or -1 with err. Release with
 * ml_procs_release. */
int ml_procs_claim(ml_procs *p, const char *work_dir, cr_log *log, cr_err *err);
/* Drops the lock and whatever pid files are left. NULL members are fine. */
void ml_procs_release(ml_procs *p);
/* Records a container process just forked (its sandbox dir). Best effort:
 * a failure is logged. */
void ml_procs_add(ml_procs *p, pid_t pid, const char *dir);
/* Forgets a container process once it is reaped. */
void ml_procs_remove(ml_procs *p, pid_t pid);

#endif
