/* The nginx LB provider (lb.h, docs/loadbalancing.md): files in an include
 * directory, `nginx -t`, reload; a refused change puts the old files back. */
#include "controllers/lb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"

extern char **environ;

/* nginx -t and the reload signal take milliseconds; this only bounds a
 * wedged binary. */
#define NGINX_TIMEOUT_MS 10000

typedef struct nginx {
    char *dir;
    char *conf;
    char *bin;
} nginx;

char *ctl_lb_nginx_name(const char *request_id)
{
    cr_buf b = CR_BUF_INIT;
    cr_buf_adds(&b, "corral_");
    for (const unsigned char *p = (const unsigned char *)request_id; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            cr_buf_addch(&b, (char)*p);
        else
            cr_buf_addf(&b, "_%02X", *p);
    }
    return cr_buf_detach(&b, NULL);
}

char *ctl_lb_nginx_upstream_text(const ctl_lb_target *t)
{
    cr_buf b = CR_BUF_INIT;
    char *name = ctl_lb_nginx_name(t->request_id);
    cr_buf_addf(&b, "# corrald: request %s, change %s (generated; do not edit)\nupstream %s {\n",
                t->request_id, t->change_id ? t->change_id : "-", name);
    for (size_t i = 0; i < t->n_upstreams; i++)
        cr_buf_addf(&b, "    server %s; # %s\n", t->upstreams[i].upstream,
                    t->upstreams[i].taskId);
    cr_buf_adds(&b, "}\n");
    free(name);
    return cr_buf_detach(&b, NULL);
}

char *ctl_lb_nginx_location_text(const ctl_lb_target *t)
{
    cr_buf b = CR_BUF_INIT;
    char *name = ctl_lb_nginx_name(t->request_id);
    cr_buf_addf(&b,
                "# corrald: request %s (generated; do not edit)\n"
                "location %s {\n"
                "    proxy_pass http://%s;\n"
                "    proxy_set_header Host $host;\n"
                "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "}\n",
                t->request_id, t->base_path, name);
    free(name);
    return cr_buf_detach(&b, NULL);
}

/* Characters that would let a value escape its nginx directive. */
static bool nginx_safe(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == ';' || *p == '{' || *p == '}' || *p == '"' || *p == '\'' ||
            *p == '\\' || *p == '$' || *p == '#' || *p == 0x7f)
            return false;
    return true;
}

static bool group_safe(const char *g)
{
    if (!g || !*g || !strcmp(g, ".") || !strcmp(g, ".."))
        return false;
    for (const char *p = g; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* The whole file, or NULL when absent (errno set). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    cr_buf b = CR_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    fclose(f);
    cr_buf_addch(&b, '\0');
    return cr_buf_detach(&b, NULL);
}

/* Writes text to path through a temporary file and a rename, or removes
 * path when text is NULL. */
static int put_file(const char *path, const char *text, cr_err *err)
{
    if (!text) {
        if (unlink(path) < 0 && errno != ENOENT)
            return cr_error(err, CR_EIO, "nginx: removing %s: %s", path, strerror(errno));
        return 0;
    }
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        rc = cr_error(err, CR_EIO, "nginx: writing %s: %s", tmp, strerror(errno));
        if (f)
            (void)unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        rc = cr_error(err, CR_EIO, "nginx: renaming %s: %s", tmp, strerror(errno));
        (void)unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv (no shell) with stdout and stderr into *output (caller frees),
 * for at most NGINX_TIMEOUT_MS. Returns the exit status, or -1 (err set)
 * when it could not run, was killed, or timed out. */
static int run(char *const argv[], char **output, cr_err *err)
{
    int fds[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    cr_buf out = CR_BUF_INIT;
    int rc = -1;

    *output = NULL;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return cr_error(err, CR_EIO, "nginx: pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (e != 0) {
        close(fds[0]);
        return cr_error(err, CR_EIO, "nginx: running %s: %s", argv[0], strerror(e));
    }
    int64_t deadline = mono_ms() + NGINX_TIMEOUT_MS;
    bool timed_out = false;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char chunk[1024];
        ssize_t n = read(fds[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out.len < 8192)
            cr_buf_add(&out, chunk, (size_t)n);
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    cr_buf_addch(&out, '\0');
    *output = cr_buf_detach(&out, NULL);
    if (timed_out)
        cr_error(err, CR_EIO, "nginx: %s timed out after %d ms", argv[0], NGINX_TIMEOUT_MS);
    else if (!WIFEXITED(status))
        cr_error(err, CR_EIO, "nginx: %s died (signal %d)", argv[0], WTERMSIG(status));
    else
        rc = WEXITSTATUS(status);
    return rc;
}

/* "nginx: [emerg] ..." lines of nginx's output, one line. */
static void tidy(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = ';';
}

/* `bin -t|-s reload -c conf`: 0, or -1 with err carrying nginx's words. */
static int nginx_cmd(const nginx *x, bool test, cr_err *err)
{
    char *argv[8];
    int k = 0;
    char *output = NULL;
    argv[k++] = x->bin;
    if (test) {
        argv[k++] = "-t";
    } else {
        argv[k++] = "-s";
        argv[k++] = "reload";
    }
    argv[k++] = "-q";
    if (x->conf) {
        argv[k++] = "-c";
        argv[k++] = x->conf;
    }
    argv[k] = NULL;
    int rc = run(argv, &output, err);
    if (rc > 0) {
        tidy(output);
        cr_error(err, CR_EINVAL, "nginx %s failed: %s", test ? "-t" : "-s reload",
                 *output ? output : "no output");
    }
    free(output);
    return rc == 0 ? 0 : -1;
}

/* One file of the change: where, what it holds now, what it should. */
typedef struct file_change {
    char *path;
    char *old; /* NULL: absent */
    char *new; /* NULL: remove */
} file_change;

static void add_change(file_change **v, size_t *n, char *path, char *text)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].path, path)) {
            free(path);
            free(text);
            return;
        }
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (file_change){path, read_file(path), text};
    (*n)++;
}

static int nginx_apply(void *arg, const ctl_lb_target *t, cr_err *err)
{
    nginx *x = arg;
    file_change *fc = NULL;
    size_t nfc = 0, written = 0;
    int rc = -1;
    bool serve = t->n_upstreams > 0;
    char *name = ctl_lb_nginx_name(t->request_id);

    if (serve && t->base_path && !nginx_safe(t->base_path)) {
        cr_error(err, CR_EINVAL, "nginx: serviceBasePath '%s' cannot be written into a location",
                 t->base_path);
        goto out;
    }
    for (size_t i = 0; i < t->n_upstreams; i++)
        if (!nginx_safe(t->upstreams[i].upstream)) {
            cr_error(err, CR_EINVAL, "nginx: task %s: bad upstream address '%s'",
                     t->upstreams[i].taskId, t->upstreams[i].upstream);
            goto out;
        }
    for (size_t i = 0; i < t->n_groups; i++)
        if (!group_safe(t->groups[i])) {
            cr_error(err, CR_EINVAL,
                     "nginx: loadBalancerGroups: '%s' is not a directory name "
                     "([A-Za-z0-9._-])",
                     t->groups[i]);
            goto out;
        }

    /* The request's upstream, its location in each of its groups, and its
     * location in groups it left (removed). */
    add_change(&fc, &nfc, xasprintf("%s/upstreams/%s.conf", x->dir, name),
               serve ? ctl_lb_nginx_upstream_text(t) : NULL);
    for (size_t i = 0; i < t->n_groups; i++) {
        char *gdir = xasprintf("%s/locations/%s", x->dir, t->groups[i]);
        if (serve && cr_mkdirs(gdir, err) < 0) {
            free(gdir);
            goto out;
        }
        add_change(&fc, &nfc, xasprintf("%s/%s.conf", gdir, name),
                   serve && t->base_path ? ctl_lb_nginx_location_text(t) : NULL);
        free(gdir);
    }
    char *ldir = xasprintf("%s/locations", x->dir);
    DIR *d = opendir(ldir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = xasprintf("%s/%s/%s.conf", ldir, de->d_name, name);
        if (access(p, F_OK) == 0)
            add_change(&fc, &nfc, p, NULL); /* kept if already listed above */
        else
            free(p);
    }
    if (d)
        closedir(d);
    free(ldir);

    bool differs = false;
    for (size_t i = 0; i < nfc; i++)
        if (!fc[i].old != !fc[i].new || (fc[i].old && strcmp(fc[i].old, fc[i].new)))
            differs = true;
    if (!differs) {
        rc = 0; /* already live (a new leader, a repeated pass) */
        goto out;
    }
    for (written = 0; written < nfc; written++)
        if (put_file(fc[written].path, fc[written].new, err) < 0)
            goto restore;
    if (nginx_cmd(x, true, err) < 0 || nginx_cmd(x, false, err) < 0)
        goto restore;
    rc = 0;
    goto out;
restore:
    /* Nothing changes: the previous files go back (nginx still runs them). */
    for (size_t i = 0; i < written && i < nfc; i++)
        (void)put_file(fc[i].path, fc[i].old, NULL);
out:
    for (size_t i = 0; i < nfc; i++) {
        free(fc[i].path);
        free(fc[i].old);
        free(fc[i].new);
    }
    free(fc);
    free(name);
    return rc;
}

static void nginx_free(void *arg)
{
    nginx *x = arg;
    if (!x)
        return;
    free(x->dir);
    free(x->conf);
    free(x->bin);
    free(x);
}

int ctl_lb_nginx_provider(const char *dir, const char *conf, const char *bin,
                          ctl_lb_provider *out, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!dir || !*dir)
        return cr_error(err, CR_EINVAL, "nginx: an include directory is required");
    char *up = xasprintf("%s/upstreams", dir);
    char *loc = xasprintf("%s/locations", dir);
    int rc = cr_mkdirs(up, err) < 0 || cr_mkdirs(loc, err) < 0 ? -1 : 0;
    free(up);
    free(loc);
    if (rc < 0)
        return -1;
    nginx *x = xcalloc(1, sizeof(*x));
    x->dir = xstrdup(dir);
    x->conf = conf && *conf ? xstrdup(conf) : NULL;
    x->bin = xstrdup(bin && *bin ? bin : "/usr/sbin/nginx");
    *out = (ctl_lb_provider){.name = "nginx", .apply = nginx_apply, .free = nginx_free, .arg = x};
    return 0;
}
