/* Small filesystem helpers shared by the binaries. */
#ifndef CR_FS_H
#define CR_FS_H

#include "base/err.h"

/* Creates path and any missing parents (mode 0755), like `mkdir -p`.
 * Existing directories are fine. On failure sets err (CR_EIO naming the
 * directory that could not be made; err may be NULL) and returns -1. */
int cr_mkdirs(const char *path, cr_err *err);

#endif
