#include "base/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/xalloc.h"

static int make_one(const char *dir, cr_err *err)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return cr_error(err, CR_EIO, "mkdir '%s': %s", dir, strerror(errno));
    return 0;
}

int cr_mkdirs(const char *path, cr_err *err)
{
    char *p = xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        rc = make_one(p, err);
        *s = '/';
    }
    if (rc == 0)
        rc = make_one(p, err);
    free(p);
    return rc;
}

size_t cr_path_next(const char **p, const char **start)
{
    const char *s = *p;

    for (;;) {
        size_t l;
        while (*s == '/')
            s++;
        l = strcspn(s, "/");
        if (l == 0) {
            *p = s;
            return 0;
        }
        if (l == 1 && s[0] == '.') {
            s++;
            continue;
        }
        *start = s;
        *p = s + l;
        return l;
    }
}
