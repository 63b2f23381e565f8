/* Small filesystem helpers shared by the binaries. */
#ifndef CR_FS_H
#define CR_FS_H

#include <stddef.h>

#include "base/err.h"

/* Creates path and any missing parents (mode 0755), like `mkdir -p`.
 * Existing directories are fine. On failure sets err (CR_EIO naming the
 * directory that could not be made; err may be NULL) and returns -1. */
int cr_mkdirs(const char *path, cr_err *err);

/* Walks a '/'-separated path one component at a time, skipping empty and
 * "." components: returns the next one's length (0 at the end) and sets
 * *start to it; *p moves past it. ".." is returned like any name: callers
 * that confine paths decide what it means. */
size_t cr_path_next(const char **p, const char **start);

#endif
