/* ml_files: what an agent's /files API may open, and how it opens it.
 *
 * The confinement rule: a /files path names one executor run's sandbox,
 * <agent dir>/frameworks/<fw>/executors/<exec>/runs/<run> (given as that
 * host path, through the agent dir's real path, or as the virtual path
 * "/frameworks/<fw>/executors/<exec>/runs/<run>"; <run> may be the "latest"
 * link), followed by a path inside it. That path must resolve, symlinks
 * included, inside that same sandbox:
 * - the sandbox itself is reached without following any symlink except
 *   runs/latest, which must name a sibling run;
 * - below it every component is opened relative to the directory before it
 *   with O_NOFOLLOW; symlinks are read and expanded by hand and followed only
 *   while they stay inside (a relative one never climbs above the sandbox
 *   with "..", an absolute one must name the sandbox by its host or real
 *   path); nothing outside is ever opened or stat'ed, so a refusal says
 *   nothing about what lies outside;
 * - files are opened with O_NOFOLLOW|O_NONBLOCK from their directory's fd and
 *   must still be the regular file the walk found (same device and inode).
 * Everything else (other directories of the agent, a sibling sandbox, /etc)
 * is "not found": the agent answers 404 with an empty body, as a Mesos agent
 * does for a path it has not attached.
 *
 * Linux only (O_PATH, readlinkat on an O_PATH fd). */
#ifndef ML_FILES_H
#define ML_FILES_H

#include <stddef.h>
#include <sys/stat.h>

/* Symlinks followed in one lookup, like the kernel's limit. */
#define ML_FILES_MAX_LINKS 40

typedef enum {
    ML_FILES_DIR,  /* a directory, opened O_RDONLY|O_DIRECTORY (for fdopendir) */
    ML_FILES_FILE, /* a regular file, opened O_RDONLY */
} ml_files_want;

/* Opens what path names inside one sandbox of the agent whose work dir is
 * agent_dir. On success returns the fd (caller closes), fills *st from it and,
 * when leaf is not NULL, copies the real name of what was opened into leaf
 * (leaf_size bytes; the run's name for a sandbox root). On failure returns -1
 * with errno:
 *   ENOENT   not a sandbox path, or missing
 *   EXDEV    it leads outside its sandbox (a symlink or a "..")
 *   EISDIR   ML_FILES_FILE named a directory
 *   ENOTDIR  ML_FILES_DIR named something else
 *   EINVAL   ML_FILES_FILE named a FIFO, socket or device
 *   ELOOP, ENAMETOOLONG, EACCES and other open errors as the kernel gives them.
 * Callers answer 404 for everything but EISDIR and EINVAL. */
int ml_files_open(const char *agent_dir, const char *path, ml_files_want want, struct stat *st,
                  char *leaf, size_t leaf_size);

/* If target names dir or something below it, compared component by
 * component as written (empty and "." components ignored; both absolute or
 * both relative), returns the rest of target after dir (borrowed from
 * target, "" for dir itself); else NULL. */
const char *ml_files_below(const char *target, const char *dir);

#endif
