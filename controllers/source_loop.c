/* The sources loop: one queue key per Source name. A pass collects the
 * Source, its status and sync intent, this replica's last fetch and the
 * cluster's requests and deploys from the cache, runs ctl_source_plan_run
 * (source.h), and writes what it planned (requests, then deploys, then
 * prunes, then the status) as one fenced group; the runner does the rest.
 *
 * Fetching is the only slow part and never blocks the event loop: the
 * `git` binary runs as child processes (no shell, stdin from /dev/null, its
 * own process group, killed after CTL_SOURCE_GIT_TIMEOUT_MS)
 * (posix_spawn) whose pipes and exits the loop watches:
 *
 *   git init --bare --quiet <data>/gitops/<name>.git      (once)
 *   git --git-dir=<cache> fetch --quiet --no-tags --force -- <repo> +<ref>:refs/corral/fetched
 *   git --git-dir=<cache> rev-parse --verify --quiet refs/corral/fetched^{commit}
 *   git --git-dir=<cache> archive --format=tar <commit>
 *
 * and the tar is rendered in memory (ctl_source_render). The result is kept
 * per Source in this replica's memory only: a new leader fetches again,
 * and since the plan is level-triggered, finishes any sync its predecessor
 * left half done. */
#include "controllers/source.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/status.h"
#include "apis/keys.h"
#include "apis/request.h"
#include "apis/source.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "store/map.h"

/* Every operation of a pass in one group: its writes land all or none. */
#define ONE_TXN 0

#define CTL_SOURCE_GIT_TIMEOUT_MS 120000
#define MAX_ARCHIVE_BYTES         (64u << 20)
#define MAX_STDERR_BYTES          4096

typedef struct job job;

/* What this replica last fetched for one Source. */
typedef struct src_state {
    int64_t fetched_at;
    int64_t fetched_revision;
    int64_t fetched_sync_request;
    char *commit;
    api_manifest *manifest;
    char *error;
    job *job; /* in flight, or NULL */
} src_state;

struct ctl_sources {
    struct event_base *base;
    char *prefix;
    char *data_dir;
    cr_log *log;
    ctl_runner *runner;
    store_map *state; /* name -> src_state */
};

typedef enum { STEP_INIT, STEP_FETCH, STEP_REV, STEP_ARCHIVE } step;

struct job {
    ctl_sources *m;
    char *name;
    char *cache_dir;
    char *repository, *ref, *path;
    int64_t revision, sync_request;
    step step;
    char *commit;
    pid_t pid;
    int fd_out, fd_err;
    struct event *ev_out, *ev_err, *timeout, *reap;
    cr_buf out, err;
    bool timed_out, too_big;
};

static void state_clear(src_state *s)
{
    free(s->commit);
    api_manifest_free(s->manifest);
    free(s->error);
    s->commit = NULL;
    s->manifest = NULL;
    s->error = NULL;
}

/* ---- child processes ----------------------------------------------------------------- */

static void job_close_io(job *j)
{
    if (j->ev_out)
        event_free(j->ev_out);
    if (j->ev_err)
        event_free(j->ev_err);
    if (j->fd_out >= 0)
        close(j->fd_out);
    if (j->fd_err >= 0)
        close(j->fd_err);
    j->ev_out = j->ev_err = NULL;
    j->fd_out = j->fd_err = -1;
}

/* Kills and reaps what runs (stop, free) and frees the job. */
static void job_free(job *j)
{
    if (!j)
        return;
    job_close_io(j);
    if (j->pid > 0) {
        kill(-j->pid, SIGKILL);
        while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (j->timeout)
        event_free(j->timeout);
    if (j->reap)
        event_free(j->reap);
    cr_buf_release(&j->out);
    cr_buf_release(&j->err);
    free(j->name);
    free(j->cache_dir);
    free(j->repository);
    free(j->ref);
    free(j->path);
    free(j->commit);
    free(j);
}

static void job_step(job *j);
static void job_finish(job *j, char *error);

/* The step's process ended with wait status ws. */
static void step_done(job *j, int ws)
{
    bool ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && !j->timed_out && !j->too_big;

    j->pid = 0;
    if (j->timeout)
        evtimer_del(j->timeout);
    if (!ok) {
        static const char *const what[] = {"git init", "git fetch", "git rev-parse", "git archive"};
        const char *e = cr_buf_str(&j->err);
        size_t n = strlen(e);
        while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
            n--;
        char *msg;
        if (j->timed_out)
            msg = xasprintf("%s timed out after %d s", what[j->step],
                            CTL_SOURCE_GIT_TIMEOUT_MS / 1000);
        else if (j->too_big)
            msg = xasprintf("%s: the manifests are larger than %u MiB", what[j->step],
                            MAX_ARCHIVE_BYTES >> 20);
        else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127 && !n)
            msg = xasprintf("%s: cannot run git (is it installed?)", what[j->step]);
        else
            msg = xasprintf("%s failed%s%.*s", what[j->step], n ? ": " : "", (int)n, e);
        job_finish(j, msg);
        return;
    }
    if (j->step == STEP_REV) {
        const char *o = cr_buf_str(&j->out);
        size_t n = strspn(o, "0123456789abcdef");
        if (n < 40) {
            job_finish(j,
                       xasprintf("git rev-parse: no commit for ref %s", j->ref ? j->ref : "HEAD"));
            return;
        }
        j->commit = xstrndup(o, n);
    }
    if (j->step == STEP_ARCHIVE) {
        job_finish(j, NULL);
        return;
    }
    j->step++;
    job_step(j);
}

static void try_reap(job *j)
{
    int ws;
    pid_t r;

    if (j->ev_out || j->ev_err)
        return; /* output still open */
    r = waitpid(j->pid, &ws, WNOHANG);
    if (r == 0) {
        struct timeval tv = {0, 10000};
        evtimer_add(j->reap, &tv); /* closed its pipes, not exited yet */
        return;
    }
    if (r < 0)
        ws = 0xff00; /* as exit 255 */
    step_done(j, ws);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    try_reap(arg);
}

static void on_output(evutil_socket_t fd, short what, void *arg)
{
    job *j = arg;
    bool is_out = fd == j->fd_out;
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        cr_buf *b = is_out ? &j->out : &j->err;
        size_t cap = is_out ? MAX_ARCHIVE_BYTES : MAX_STDERR_BYTES;
        if (b->len + (size_t)n > cap) {
            if (is_out && !j->too_big) {
                j->too_big = true;
                kill(-j->pid, SIGKILL);
            }
            n = (ssize_t)(b->len < cap ? cap - b->len : 0);
        }
        cr_buf_add(b, chunk, (size_t)n);
        return;
    }
    /* end of output (or an error reading it) */
    if (is_out) {
        event_free(j->ev_out);
        j->ev_out = NULL;
        close(j->fd_out);
        j->fd_out = -1;
    } else {
        event_free(j->ev_err);
        j->ev_err = NULL;
        close(j->fd_err);
        j->fd_err = -1;
    }
    try_reap(j);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    job *j = arg;
    j->timed_out = true;
    if (j->pid > 0)
        kill(-j->pid, SIGKILL);
}

/* The environment of git: corrald's, with no terminal prompt, SSH in batch
 * mode (unless the operator set GIT_SSH_COMMAND) and C messages. Caller
 * frees the array and its strings. */
static char **git_env(void)
{
    size_t n = 0, k = 0;
    bool ssh = getenv("GIT_SSH_COMMAND") != NULL;
    char **env;

    while (environ[n])
        n++;
    env = xcalloc(n + 4, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "GIT_TERMINAL_PROMPT=", 20) != 0 &&
            strncmp(environ[i], "LC_ALL=", 7) != 0)
            env[k++] = xstrdup(environ[i]);
    env[k++] = xstrdup("GIT_TERMINAL_PROMPT=0");
    env[k++] = xstrdup("LC_ALL=C");
    if (!ssh)
        env[k++] = xstrdup("GIT_SSH_COMMAND=ssh -o BatchMode=yes");
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Starts argv (argv[0] = "git") with posix_spawn (no shell; no copy of
 * corrald's memory; every descriptor but the pipes closed; a process
 * group of its own, so a timeout kills what it started too). -1 with
 * *error when it cannot. */
static int spawn(job *j, char *const argv[], char **error)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char **env = NULL;
    pid_t pid;
    int rc;

    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        *error = xasprintf("cannot run git: pipe: %s", strerror(errno));
        goto fail;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    env = git_env();
    rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    env_free(env);
    if (rc != 0) {
        *error = rc == ENOENT ? xasprintf("cannot run git: not found (is it installed?)")
                              : xasprintf("cannot run git: %s", strerror(rc));
        goto fail;
    }
    close(po[1]);
    close(pe[1]);
    evutil_make_socket_nonblocking(po[0]);
    evutil_make_socket_nonblocking(pe[0]);
    j->pid = pid;
    j->fd_out = po[0];
    j->fd_err = pe[0];
    cr_buf_reset(&j->out);
    cr_buf_reset(&j->err);
    j->ev_out = event_new(j->m->base, po[0], EV_READ | EV_PERSIST, on_output, j);
    j->ev_err = event_new(j->m->base, pe[0], EV_READ | EV_PERSIST, on_output, j);
    event_add(j->ev_out, NULL);
    event_add(j->ev_err, NULL);
    struct timeval tv = {CTL_SOURCE_GIT_TIMEOUT_MS / 1000, 0};
    evtimer_add(j->timeout, &tv);
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    return -1;
}

static void job_step(job *j)
{
    char *gd = xasprintf("--git-dir=%s", j->cache_dir);
    char *refspec = NULL, *error = NULL;
    int rc = 0;

    switch (j->step) {
    case STEP_INIT: {
        char *head = xasprintf("%s/HEAD", j->cache_dir);
        struct stat sb;
        bool have = stat(head, &sb) == 0;
        free(head);
        if (have) {
            j->step = STEP_FETCH;
            free(gd);
            job_step(j);
            return;
        }
        char *argv[] = {"git", "init", "--bare", "--quiet", j->cache_dir, NULL};
        rc = spawn(j, argv, &error);
        break;
    }
    case STEP_FETCH: {
        refspec = xasprintf("+%s:refs/corral/fetched", j->ref ? j->ref : "HEAD");
        char *argv[] = {"git",     gd,   "fetch",       "--quiet", "--no-tags",
                        "--force", "--", j->repository, refspec,   NULL};
        rc = spawn(j, argv, &error);
        break;
    }
    case STEP_REV: {
        char *argv[] = {
            "git", gd, "rev-parse", "--verify", "--quiet", "refs/corral/fetched^{commit}", NULL};
        rc = spawn(j, argv, &error);
        break;
    }
    case STEP_ARCHIVE: {
        char *argv[] = {"git", gd, "archive", "--format=tar", j->commit, NULL};
        rc = spawn(j, argv, &error);
        break;
    }
    }
    free(gd);
    free(refspec);
    if (rc < 0)
        job_finish(j, error);
}

/* Records the result (error: owned, or NULL on success) and queues a pass. */
static void job_finish(job *j, char *error)
{
    ctl_sources *m = j->m;
    src_state *s = store_map_get(m->state, j->name);

    if (s && s->job == j) {
        state_clear(s);
        s->fetched_at = cr_wall_ms();
        s->fetched_revision = j->revision;
        s->fetched_sync_request = j->sync_request;
        s->commit = j->commit;
        j->commit = NULL;
        if (!error) {
            char *probs = NULL;
            s->manifest = ctl_source_render(j->out.data, j->out.len, j->path, &probs);
            error = probs;
        }
        s->error = error;
        error = NULL;
        s->job = NULL;
        if (s->error)
            cr_warn(m->log, "sources: %s: %s%s%s", j->name, s->commit ? "commit " : "",
                    s->commit ? s->commit : "", s->error);
        else
            cr_info(m->log, "sources: %s: fetched commit %s (%zu objects)", j->name, s->commit,
                    s->manifest->n);
        ctl_runner_enqueue(m->runner, j->name);
    }
    free(error);
    job_free(j);
}

static void job_start(ctl_sources *m, src_state *s, const char *name, const api_source *src,
                      int64_t revision, int64_t sync_request)
{
    job *j = xcalloc(1, sizeof(*j));
    cr_err err = {0};
    char *dir = xasprintf("%s/gitops", m->data_dir);

    j->m = m;
    j->name = xstrdup(name);
    j->cache_dir = xasprintf("%s/%s.git", dir, name);
    j->repository = xstrdup(src->repository);
    j->ref = src->ref ? xstrdup(src->ref) : NULL;
    j->path = src->path ? xstrdup(src->path) : NULL;
    j->revision = revision;
    j->sync_request = sync_request;
    j->fd_out = j->fd_err = -1;
    cr_buf_init(&j->out);
    cr_buf_init(&j->err);
    j->timeout = evtimer_new(m->base, on_timeout, j);
    j->reap = evtimer_new(m->base, on_reap, j);
    s->job = j;
    cr_debug(m->log, "sources: %s: fetching %s %s", name, src->repository,
             src->ref ? src->ref : "HEAD");
    if (cr_mkdirs(dir, &err) < 0) {
        free(dir);
        job_finish(j, xasprintf("cannot make the Git cache: %s", cr_err_msg(&err)));
        return;
    }
    free(dir);
    job_step(j);
}

/* ---- the pass ------------------------------------------------------------------------ */

typedef struct cluster_ctx {
    ctl_sources *m;
    store_cache *c;
    char *newest;  /* last answer of newest_deploy */
    json_t *trees; /* requests kept as text, parsed for the pass (json_array), or NULL */
} cluster_ctx;

static const json_t *cl_request(void *arg, const char *rid, int64_t *rev)
{
    cluster_ctx *x = arg;
    char *k = api_key_request(x->m->prefix, rid);
    const store_obj *o = store_cache_get(x->c, k);
    json_t *j;

    free(k);
    *rev = o ? o->mod_revision : 0;
    if (!o || o->value || !(j = store_obj_json(o)))
        return o ? o->value : NULL;
    /* kept as text (store/cache.h): a tree for the pass */
    if (!x->trees)
        x->trees = json_array();
    json_array_append_new(x->trees, j);
    return j;
}

static bool cl_deploy_known(void *arg, const char *rid, const char *did)
{
    cluster_ctx *x = arg;
    char *k = api_key_deploy(x->m->prefix, rid, did);
    char *h = api_key_history_deploy(x->m->prefix, rid, did);
    bool known = store_cache_get(x->c, k) || store_cache_get(x->c, h);
    free(k);
    free(h);
    return known;
}

static const char *cl_newest_deploy(void *arg, const char *rid)
{
    cluster_ctx *x = arg;
    char *p = api_key_kind_prefix(x->m->prefix, API_KEY_DEPLOY, rid);
    size_t first, n = store_cache_range(x->c, p, &first);
    const store_obj *best = NULL;
    free(p);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(x->c, i);
        if (!best || o->create_revision > best->create_revision)
            best = o;
    }
    free(x->newest);
    x->newest = best && best->id2 ? xstrdup(best->id2) : NULL;
    return x->newest;
}

static int cl_deploy_phase(void *arg, const char *rid, const char *did)
{
    cluster_ctx *x = arg;
    char *sk = api_key_deploy_status(x->m->prefix, rid, did);
    char *rk = api_key_request_status(x->m->prefix, rid);
    char *hk = api_key_history_deploy(x->m->prefix, rid, did);
    char *ck = api_key_intent_deploy(x->m->prefix, rid, did, API_INTENT_CANCEL);
    const store_obj *so = store_cache_get(x->c, sk), *ro = store_cache_get(x->c, rk);
    const api_deploy_status *ds = so && !so->error ? so->doc : NULL;
    const api_request_status *rs = ro && !ro->error ? ro->doc : NULL;
    int phase = CTL_SRC_DEPLOY_ROLLING;
    if ((rs && rs->activeDeployId && strcmp(rs->activeDeployId, did) == 0) ||
        (ds && ds->state == API_DSTATE_SUCCEEDED))
        phase = CTL_SRC_DEPLOY_ACTIVE;
    else if (store_cache_get(x->c, ck) || store_cache_get(x->c, hk) ||
             (ds && api_deploy_state_terminal(ds->state)))
        phase = CTL_SRC_DEPLOY_ENDED;
    free(sk);
    free(rk);
    free(hk);
    free(ck);
    return phase;
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *name, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_sources *m = arg;
    store_cache *c = ctl_runner_cache(r);
    char *sk = api_key_source(m->prefix, name);
    char *tk = api_key_source_status(m->prefix, name);
    char *ik = api_key_intent_source(m->prefix, name);
    const store_obj *so = store_cache_get(c, sk), *to = store_cache_get(c, tk),
                    *io = store_cache_get(c, ik);
    src_state *s = store_map_get(m->state, name);
    api_source_status status;
    bool have_status = false;
    cluster_ctx cx = {m, c, NULL, NULL};
    ctl_source_cluster cl = {cl_request, cl_deploy_known, cl_newest_deploy, cl_deploy_phase, &cx};
    ctl_source_plan plan;
    ctl_pass pass = CTL_PASS_WRITE;

    if (!so) {
        /* Deleted: its objects stay (docs/gitops.md); its status goes. */
        if (s) {
            job_free(s->job);
            state_clear(s);
            free(store_map_del(m->state, name));
        }
        if (to)
            ctl_ops_add(ops, CTL_OP_DELETE, xstrdup(tk), NULL, to->mod_revision, ONE_TXN);
        goto out;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        store_map_put(m->state, name, s);
    }
    if (to && to->value) {
        api_problems p = API_PROBLEMS_INIT;
        have_status = api_source_status_from_json(to->value, &status, &p) == 0;
        if (!have_status)
            api_source_status_release(&status);
        api_problems_release(&p);
    }
    const json_t *ts = io && io->value ? json_object_get(io->value, "timestamp") : NULL;
    ctl_source_in in = {
        .name = name,
        .source = so->error ? NULL : so->doc,
        .source_error = so->error ? so->error : (so->doc ? NULL : "not a Source document"),
        .source_revision = so->mod_revision,
        .status = have_status ? &status : NULL,
        .sync_request = json_is_integer(ts) ? json_integer_value(ts) : 0,
        .fetched_at = s->fetched_at,
        .fetched_revision = s->fetched_revision,
        .fetched_sync_request = s->fetched_sync_request,
        .fetching = s->job != NULL,
        .commit = s->commit,
        .manifest = s->manifest,
        .error = s->error,
        .cluster = &cl,
        .now = now,
    };
    ctl_source_plan_run(&in, &plan);
    if (plan.fetch) {
        job_start(m, s, name, in.source, in.source_revision, in.sync_request);
        /* job_start may have finished at once (and queued the key) */
    }
    for (size_t i = 0; i < plan.n_writes; i++) {
        const ctl_src_write *w = &plan.writes[i];
        char *k;
        ctl_op_type t;
        if (w->type == CTL_SRC_CANCEL) {
            k = api_key_intent_deploy(m->prefix, w->rid, w->did, API_INTENT_CANCEL);
            t = CTL_OP_CREATE;
        } else {
            k = w->did ? api_key_deploy(m->prefix, w->rid, w->did)
                       : api_key_request(m->prefix, w->rid);
            t = w->type == CTL_SRC_CREATE ? CTL_OP_CREATE
                : w->type == CTL_SRC_PUT  ? CTL_OP_PUT
                                          : CTL_OP_DELETE;
        }
        ctl_ops_add(ops, t, k, w->value ? dump(w->value) : NULL, w->mod_revision, ONE_TXN);
    }
    if (plan.n_writes)
        cr_info(m->log, "sources: %s: %zu change%s for commit %s", name, plan.n_writes,
                plan.n_writes == 1 ? "" : "s", s->commit ? s->commit : "?");
    if (plan.status_changed) {
        json_t *j = api_source_status_to_json(&plan.status);
        ctl_ops_add(ops, CTL_OP_PUT, xstrdup(tk), dump(j), 0, ONE_TXN);
        json_decref(j);
    }
    *requeue_ms = plan.requeue_after_ms;
    ctl_source_plan_release(&plan);
    if (have_status)
        api_source_status_release(&status);
out:
    free(cx.newest);
    json_decref(cx.trees);
    free(sk);
    free(tk);
    free(ik);
    (void)err;
    return pass;
}

/* The Source a request or deploy names in its annotations, or NULL. One
 * kept as text (store/cache.h) has a document that reads as its tree. */
static const char *owner_of(const store_obj *o)
{
    if (!o)
        return NULL;
    if (!o->value) {
        if (o->error || !o->doc)
            return NULL;
        if (o->kind == API_KEY_REQUEST)
            return api_strmap_get(&((const api_request *)o->doc)->annotations,
                                  API_ANNOTATION_SOURCE);
        if (o->kind == API_KEY_DEPLOY)
            return api_strmap_get(&((const api_deploy *)o->doc)->annotations,
                                  API_ANNOTATION_SOURCE);
        return NULL;
    }
    return json_string_value(
        json_object_get(json_object_get(o->value, "annotations"), API_ANNOTATION_SOURCE));
}

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    const store_obj *o = cur ? cur : old;
    const char *a, *b;

    switch (o->kind) {
    case API_KEY_SOURCE:
    case API_KEY_SOURCE_STATUS:
    case API_KEY_INTENT_SOURCE:
        if (o->id1)
            ctl_runner_enqueue(r, o->id1);
        break;
    case API_KEY_REQUEST:
    case API_KEY_DEPLOY:
        /* drift: a change to anything a Source wrote wakes that Source, and
         * so does a deploy made by hand for a request it owns */
        a = owner_of(old);
        b = owner_of(cur);
        if (!a && !b && o->kind == API_KEY_DEPLOY && o->id1) {
            ctl_sources *m = arg;
            char *rk = api_key_request(m->prefix, o->id1);
            b = owner_of(store_cache_get(ctl_runner_cache(r), rk));
            free(rk);
        }
        if (a)
            ctl_runner_enqueue(r, a);
        if (b && (!a || strcmp(a, b) != 0))
            ctl_runner_enqueue(r, b);
        break;
    default:
        break;
    }
}

static void resync(void *arg, ctl_runner *r)
{
    ctl_sources *m = arg;
    store_cache *c = ctl_runner_cache(r);
    char *p = api_key_kind_prefix(m->prefix, API_KEY_SOURCE, NULL);
    size_t first, n = store_cache_range(c, p, &first);
    free(p);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(c, i);
        if (o->id1)
            ctl_runner_enqueue(r, o->id1);
    }
    /* statuses of deleted Sources */
    p = api_key_kind_prefix(m->prefix, API_KEY_SOURCE_STATUS, NULL);
    n = store_cache_range(c, p, &first);
    free(p);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(c, i);
        if (o->id1)
            ctl_runner_enqueue(r, o->id1);
    }
}

static void drop_state(const char *key, void *value, void *arg)
{
    src_state *s = value;
    job_free(s->job);
    state_clear(s);
    free(s);
}

static void on_stop(void *arg, ctl_runner *r)
{
    ctl_sources *m = arg;
    store_map_foreach(m->state, drop_state, NULL);
    store_map_free(m->state);
    m->state = store_map_new();
}

static const ctl_loop sources_loop = {
    .name = "sources",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_stop = on_stop,
};

ctl_sources *ctl_sources_new(struct event_base *base, store *s, store_leader *leader,
                             const ctl_sources_config *cfg, cr_err *err)
{
    const char *prefix;
    ctl_sources *m;

    if (!base || !s || !leader || !cfg || !cfg->data_dir) {
        cr_error(err, CR_EINVAL, "sources: base, store, leader and data_dir are required");
        return NULL;
    }
    if (ctl_loop_prefix("sources", cfg->prefix, &prefix, err) < 0)
        return NULL;
    m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->prefix = xstrdup(prefix);
    m->data_dir = xstrdup(cfg->data_dir);
    m->log = cfg->log;
    m->state = store_map_new();
    ctl_runner_config rc = {
        .prefix = m->prefix, .max_inflight = 4, .resync_ms = cfg->resync_ms, .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg->cache, leader, &sources_loop, m, &rc);
    return m;
}

int ctl_sources_start(ctl_sources *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_sources_stop(ctl_sources *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_sources_free(ctl_sources *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    store_map_foreach(m->state, drop_state, NULL);
    store_map_free(m->state);
    free(m->prefix);
    free(m->data_dir);
    free(m);
}

void ctl_sources_get_stats(const ctl_sources *m, ctl_runner_stats *out)
{
    ctl_runner_get_stats(m ? m->runner : NULL, out);
}
