#include "executor/exe_art.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"

extern char **environ;

struct exe_md5 {
    EVP_MD_CTX *ctx;
};

exe_md5 *exe_md5_new(void)
{
    exe_md5 *m = xcalloc(1, sizeof(*m));
    m->ctx = EVP_MD_CTX_new();
    if (!m->ctx)
        abort();
    EVP_DigestInit_ex(m->ctx, EVP_md5(), NULL);
    return m;
}

void exe_md5_update(exe_md5 *m, const void *p, size_t n)
{
    EVP_DigestUpdate(m->ctx, p, n);
}

void exe_md5_final(exe_md5 *m, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_DigestFinal_ex(m->ctx, d, &n);
    for (unsigned int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[32] = '\0';
}

void exe_md5_free(exe_md5 *m)
{
    if (!m)
        return;
    EVP_MD_CTX_free(m->ctx);
    free(m);
}

int exe_md5_file(const char *path, char out[33], int64_t *size, cr_err *err)
{
    unsigned char buf[65536];
    ssize_t r;
    int64_t total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    exe_md5 *m;

    if (fd < 0)
        return cr_error(err, CR_EIO, "open '%s': %s", path, strerror(errno));
    m = exe_md5_new();
    while ((r = read(fd, buf, sizeof(buf))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            exe_md5_free(m);
            return cr_error(err, CR_EIO, "read '%s': %s", path, strerror(errno));
        }
        exe_md5_update(m, buf, (size_t)r);
        total += r;
    }
    close(fd);
    exe_md5_final(m, out);
    exe_md5_free(m);
    if (size)
        *size = total;
    return 0;
}

int exe_artifact_check(const exe_artifact *a, const char *md5, int64_t size, cr_err *err)
{
    if (a->filesize >= 0 && size != a->filesize)
        return cr_error(err, CR_EINVAL,
                        "artifact '%s': size mismatch: expected %lld bytes, got %lld", a->name,
                        (long long)a->filesize, (long long)size);
    if (a->md5sum && strcmp(a->md5sum, md5) != 0)
        return cr_error(err, CR_EINVAL, "artifact '%s': md5 mismatch: expected %s, got %s", a->name,
                        a->md5sum, md5);
    return 0;
}

int exe_artifact_verify_file(const exe_artifact *a, const char *path, cr_err *err)
{
    char md5[33];
    int64_t size = 0;

    if (exe_md5_file(path, md5, &size, err) < 0) {
        cr_err_prefix(err, "artifact '%s'", a->name);
        return -1;
    }
    if (exe_artifact_check(a, md5, size, err) < 0) {
        unlink(path);
        return -1;
    }
    return 0;
}

char *exe_artifact_dest(const exe_artifact *a, const char *taskdir)
{
    if (a->target_folder && *a->target_folder)
        return xasprintf("%s/%s/%s", taskdir, a->target_folder, a->filename);
    return xasprintf("%s/%s", taskdir, a->filename);
}

static int mkdirs_parent(const char *file, cr_err *err)
{
    char *d = xstrdup(file);
    char *slash = strrchr(d, '/');
    int r = 0;

    if (slash && slash != d) {
        *slash = '\0';
        r = cr_mkdirs(d, err);
    }
    free(d);
    return r;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int exe_artifact_write_embedded(const exe_artifact *a, const char *dest, cr_err *err)
{
    char md5[33];
    exe_md5 *m = exe_md5_new();
    char *tmp = NULL;
    int fd = -1, rc = -1;

    exe_md5_update(m, a->content, a->content_len);
    exe_md5_final(m, md5);
    exe_md5_free(m);
    if (exe_artifact_check(a, md5, (int64_t)a->content_len, err) < 0)
        return -1;
    if (mkdirs_parent(dest, err) < 0) {
        cr_err_prefix(err, "artifact '%s'", a->name);
        return -1;
    }
    tmp = xasprintf("%s.part", dest);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cr_error(err, CR_EIO, "artifact '%s': create '%s': %s", a->name, tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, a->content, a->content_len) < 0 || fsync(fd) < 0) {
        cr_error(err, CR_EIO, "artifact '%s': write '%s': %s", a->name, tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        cr_error(err, CR_EIO, "artifact '%s': close '%s': %s", a->name, tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, dest) < 0) {
        cr_error(err, CR_EIO, "artifact '%s': rename to '%s': %s", a->name, dest, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int copy_file(const char *from, const char *to, cr_err *err)
{
    unsigned char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char *tmp = xasprintf("%s.part", to);
    ssize_t r;

    if (in < 0) {
        cr_error(err, CR_EIO, "open '%s': %s", from, strerror(errno));
        goto out;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        cr_error(err, CR_EIO, "create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    while ((r = read(in, buf, sizeof(buf))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || write_all(out, buf, (size_t)r) < 0) {
            cr_error(err, CR_EIO, "copy '%s' to '%s': %s", from, tmp, strerror(errno));
            goto out;
        }
    }
    if (close(out) < 0) {
        out = -1;
        cr_error(err, CR_EIO, "close '%s': %s", tmp, strerror(errno));
        goto out;
    }
    out = -1;
    if (rename(tmp, to) < 0) {
        cr_error(err, CR_EIO, "rename '%s': %s", to, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int exe_cache_get(const char *cache_dir, const exe_artifact *a, const char *dest, cr_err *err)
{
    char *path;
    char md5[33];
    int64_t size = 0;
    int rc = 0;
    cr_err ignored;

    if (!cache_dir || !a->md5sum)
        return 0;
    path = xasprintf("%s/%s", cache_dir, a->md5sum);
    if (access(path, R_OK) != 0)
        goto out;
    if (exe_md5_file(path, md5, &size, &ignored) < 0 ||
        exe_artifact_check(a, md5, size, &ignored) < 0) {
        unlink(path); /* corrupt entry: download again */
        goto out;
    }
    if (mkdirs_parent(dest, err) < 0) {
        rc = -1;
        goto out;
    }
    unlink(dest);
    if (link(path, dest) == 0 || copy_file(path, dest, err) == 0)
        rc = 1;
    else
        rc = -1;
out:
    free(path);
    return rc;
}

int exe_cache_put(const char *cache_dir, const exe_artifact *a, const char *path, cr_err *err)
{
    char *dst, *tmp;
    int rc = 0;

    if (!cache_dir || !a->md5sum)
        return 0;
    if (cr_mkdirs(cache_dir, err) < 0)
        return -1;
    dst = xasprintf("%s/%s", cache_dir, a->md5sum);
    tmp = xasprintf("%s/.%s.%d", cache_dir, a->md5sum, (int)getpid());
    /* Link under a temporary name, then rename: readers never see a
     * half-written entry. */
    if (link(path, tmp) == 0 || copy_file(path, tmp, err) == 0) {
        if (rename(tmp, dst) < 0)
            rc = cr_error(err, CR_EIO, "cache '%s': %s", dst, strerror(errno));
    } else {
        rc = -1;
    }
    unlink(tmp);
    free(dst);
    free(tmp);
    return rc;
}

int exe_archive_names_ok(const char *listing, const char *artifact, cr_err *err)
{
    const char *line = listing;

    while (*line) {
        size_t len = strcspn(line, "\n");
        const char *s = line, *end = line + len;
        if (len > 0 && line[0] == '/')
            return cr_error(err, CR_EINVAL,
                            "artifact '%s': archive entry '%.*s' is an absolute path", artifact,
                            (int)len, line);
        while (s < end) {
            size_t n = 0;
            while (s + n < end && s[n] != '/')
                n++;
            if (n == 2 && s[0] == '.' && s[1] == '.')
                return cr_error(err, CR_EINVAL,
                                "artifact '%s': archive entry '%.*s' escapes the sandbox", artifact,
                                (int)len, line);
            s += n;
            while (s < end && *s == '/')
                s++;
        }
        line = *end ? end + 1 : end;
    }
    return 0;
}

/* Runs argv; collects stdout into out (may be NULL) and stderr into errb.
 * Returns the exit status, or -1 when it could not run. */
static int run_tool(char *const argv[], cr_buf *out, cr_buf *errb)
{
    int opipe[2], epipe[2], status = 0;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char chunk[4096];

    if (pipe2(opipe, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(epipe, O_CLOEXEC) < 0) {
        close(opipe[0]);
        close(opipe[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(opipe[0]);
        close(opipe[1]);
        close(epipe[0]);
        close(epipe[1]);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(opipe[1]);
    close(epipe[1]);
    /* stdout first, then stderr: the tools used write little to stderr. */
    for (;;) {
        ssize_t r = read(opipe[0], chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out)
            cr_buf_add(out, chunk, (size_t)r);
    }
    for (;;) {
        ssize_t r = read(epipe[0], chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (errb->len < 2048)
            cr_buf_add(errb, chunk, (size_t)r);
    }
    close(opipe[0]);
    close(epipe[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Lexically normalises an absolute path ("/a/b/../c" -> "/a/c"); caller frees. */
static char *normalise(const char *path)
{
    char *copy = xstrdup(path), *norm = xcalloc(strlen(path) + 2, 1), *save = NULL, *tok;
    size_t len = 0;

    for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            char *s = strrchr(norm, '/');
            len = s ? (size_t)(s - norm) : 0;
            norm[len] = '\0';
            continue;
        }
        norm[len++] = '/';
        strcpy(norm + len, tok);
        len += strlen(tok);
    }
    free(copy);
    return norm;
}

/* Walks dir (without following links) and fails on a symlink whose target
 * resolves outside root. */
static int check_links(const char *root, const char *dir, const char *art, cr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return 0;
    while (rc == 0 && (de = readdir(d))) {
        char *path, target[PATH_MAX];
        struct stat st;
        ssize_t n;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = check_links(root, path, art, err);
        } else if (S_ISLNK(st.st_mode) && (n = readlink(path, target, sizeof(target) - 1)) >= 0) {
            char *joined, *norm;
            size_t rl = strlen(root);
            target[n] = '\0';
            joined = target[0] == '/' ? xstrdup(target) : xasprintf("%s/%s", dir, target);
            norm = normalise(joined);
            if (strncmp(norm, root, rl) != 0 || (norm[rl] != '\0' && norm[rl] != '/'))
                rc = cr_error(err, CR_EINVAL,
                              "artifact '%s': archive symlink '%s' points outside the sandbox", art,
                              path + rl + 1);
            free(joined);
            free(norm);
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int exe_extract(const exe_artifact *a, const char *archive, const char *dir, cr_err *err)
{
    cr_buf list = CR_BUF_INIT, errb = CR_BUF_INIT;
    const char *fn = a->filename;
    size_t n = strlen(fn);
    bool zip = n > 4 && strcmp(fn + n - 4, ".zip") == 0;
    char *real = NULL;
    int rc = -1, st;

    cr_buf_init(&list);
    cr_buf_init(&errb);
    if (cr_mkdirs(dir, err) < 0)
        goto out;
    if (zip) {
        char *argv[] = {"unzip", "-Z1", (char *)archive, NULL};
        st = run_tool(argv, &list, &errb);
    } else {
        char *argv[] = {"tar", "-tf", (char *)archive, NULL};
        st = run_tool(argv, &list, &errb);
    }
    if (st != 0) {
        cr_error(err, CR_EINVAL, "artifact '%s': cannot list archive: %s", a->name,
                 errb.len ? cr_buf_str(&errb) : "tool failed");
        goto out;
    }
    if (exe_archive_names_ok(cr_buf_str(&list), a->name, err) < 0)
        goto out;
    cr_buf_reset(&errb);
    if (zip) {
        char *argv[] = {"unzip", "-qq", "-o", (char *)archive, "-d", (char *)dir, NULL};
        st = run_tool(argv, NULL, &errb);
    } else {
        char *argv[] = {"tar",
                        "-xf",
                        (char *)archive,
                        "-C",
                        (char *)dir,
                        "--no-same-owner",
                        "--no-overwrite-dir",
                        NULL};
        st = run_tool(argv, NULL, &errb);
    }
    if (st != 0) {
        cr_error(err, CR_EIO, "artifact '%s': extraction failed: %s", a->name,
                 errb.len ? cr_buf_str(&errb) : "tool failed");
        goto out;
    }
    real = realpath(dir, NULL);
    if (!real) {
        cr_error(err, CR_EIO, "artifact '%s': realpath '%s': %s", a->name, dir, strerror(errno));
        goto out;
    }
    if (check_links(real, real, a->name, err) != 0)
        goto out;
    rc = 0;
out:
    free(real);
    cr_buf_release(&list);
    cr_buf_release(&errb);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int exe_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
    return lstat(path, &st) < 0 ? 0 : -1;
}
