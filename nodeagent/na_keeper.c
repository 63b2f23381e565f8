/* Executor cleanup and OOM killer (docs/nodeagent.md), on the sandbox
 * index's scans:
 *   - cleanup: a sandbox whose task is over (the executor's record, its
 *     logs final, or no process in it and none for a while) or that
 *     corrald does not know, past the retention, once its logs are
 *     uploaded, is removed, if it lies under Corral's framework (learned
 *     from corrald's answers about the sandboxes' tasks: never another
 *     framework's on a shared agent); process groups left in a sandbox whose
 *     executor is gone are killed (TERM, then KILL after 10 s). What was
 *     done is kept for GET /v1/cleanup and counted in /metrics.
 *   - OOM killer: each running task's memory against its memoryMb
 *     (corrald's task record); a task to kill gets SIGTERM on its processes
 *     (na_kill_plan_make: all but the executor's, by what they run, not their
 *     name) and SIGKILL after the deploy's grace period, as the kernel's
 *     OOM killer would have ended it, only earlier and gracefully: the
 *     executor reports it failed (so crash-loop and cooldown count it) and
 *     the controllers replace it; the reason is recorded through corrald
 *     (PUT /api/nodeagent/tasks/{id}) and shown in the task's history. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/s3.h"
#include "base/xalloc.h"
#include "nodeagent/na_app_int.h"
#include "nodeagent/na_oom.h"

#define LEFTOVER_GRACE_MS 10000
#define KILL_GRACE_MS     10000
#define LOOKUP_EVERY_MS   30000
#define REPORT_MAX        100

int na_keeper_start(na_app *a, na_services *s, cr_err *err);
void na_keeper_stop(na_app *a, na_services *s);
void na_keeper_metrics(na_app *a, na_services *s, cr_buf *out);
const char *na_services_token(const na_services *s);
void **na_services_keeper(na_services *s);
bool na_services_upload_done(na_app *a, const tracked *t);
json_t *na_keeper_report(na_app *a);

/* What corrald said of a task (cached per sandbox dir). */
typedef struct lookup {
    char *dir, *task_id;
    char *fw;         /* the sandbox's framework id (its frameworks/<fw> dir) */
    int64_t at;       /* mono ms of the answer; 0: never */
    bool pending;     /* a call in flight */
    bool unknown;     /* 404 for the task and its history: corrald never knew it */
    bool active;      /* an active task (of the sandbox's framework) */
    int64_t limit;    /* memoryMb in bytes; 0 unknown */
    int64_t grace_ms; /* the kill grace period the task was launched with */
    int64_t leftover_since, term_at;
    cr_http_req *hr;
    struct keeper *k;
} lookup;

typedef struct keeper {
    na_app *a;
    na_services *s;
    struct event *tick, *oom_tick;
    lookup **v;
    size_t n;
    /* Corral's framework ids, learned from corrald: the framework of each
     * sandbox whose task corrald knows (active or in its history). Only
     * their sandboxes are ever removed: on a shared agent the others
     * belong to other frameworks. Never forgotten (a framework id is only
     * replaced, never reused). */
    char **fws;
    size_t n_fws;
    json_t *report; /* the last REPORT_MAX actions */
    struct {
        uint64_t removed, removed_bytes, groups_killed, oom_kills, checks;
    } st;
} keeper;

static void note(keeper *k, const char *action, const char *task, const char *detail)
{
    json_array_append_new(k->report,
                          json_pack("{s:I, s:s, s:s, s:s}", "at", (json_int_t)cr_wall_ms(),
                                    "action", action, "taskId", task, "detail", detail));
    while (json_array_size(k->report) > REPORT_MAX)
        json_array_remove(k->report, 0);
    cr_info(k->a->log, "%s %s: %s", action, task, detail);
}

static lookup *lookup_of(keeper *k, const tracked *t)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i]->dir, t->sb.dir) == 0)
            return k->v[i];
    k->v = xrealloc(k->v, (k->n + 1) * sizeof(*k->v));
    k->v[k->n] = xcalloc(1, sizeof(lookup));
    k->v[k->n]->dir = xstrdup(t->sb.dir);
    k->v[k->n]->task_id = xstrdup(t->sb.task_id);
    k->v[k->n]->fw = xstrdup(t->sb.framework_id);
    k->v[k->n]->k = k;
    return k->v[k->n++];
}

static void lookup_free(lookup *l)
{
    cr_http_cancel(l->hr);
    free(l->dir);
    free(l->task_id);
    free(l->fw);
    free(l);
}

/* Forgets lookups of sandboxes gone. */
static void prune(keeper *k)
{
    size_t o = 0;
    for (size_t i = 0; i < k->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < k->a->n_tracked && !seen; j++)
            seen = strcmp(k->a->tracked[j].sb.dir, k->v[i]->dir) == 0;
        if (seen)
            k->v[o++] = k->v[i];
        else
            lookup_free(k->v[i]);
    }
    k->n = o;
}

static char *api_url(keeper *k, const char *fmt_path, const char *task)
{
    const char *base = k->a->cfg->corrald;
    size_t n = strlen(base);
    char *et = cr_s3_uri_encode(task, false), *u;

    while (n > 0 && base[n - 1] == '/')
        n--;
    u = xasprintf("%.*s%s%s", (int)n, base, fmt_path, et);
    free(et);
    return u;
}

static double number(const json_t *o)
{
    return json_is_number(o) ? json_number_value(o) : 0;
}

static bool corral_framework(const keeper *k, const char *fw)
{
    for (size_t i = 0; i < k->n_fws; i++)
        if (strcmp(k->fws[i], fw) == 0)
            return true;
    return false;
}

/* Whether the task corrald described (its task object) is the one of l's
 * sandbox: the same framework, when corrald names it. If so, the sandbox's
 * framework is Corral's. */
static bool same_task(keeper *k, const lookup *l, const json_t *task)
{
    const char *fw = json_string_value(json_object_get(task, "frameworkId"));

    if (fw && strcmp(fw, l->fw) != 0)
        return false;
    if (!corral_framework(k, l->fw)) {
        k->fws = xrealloc(k->fws, (k->n_fws + 1) * sizeof(*k->fws));
        k->fws[k->n_fws++] = xstrdup(l->fw);
        cr_info(k->a->log, "framework %s is Corral's (task %s)", l->fw, l->task_id);
    }
    return true;
}

static void ask_history(keeper *k, lookup *l);

/* A lookup's call ended: true if corrald answered it (200 or 404); else it
 * is asked again next time. */
static bool lookup_answered(lookup *l, const cr_http_resp *resp, const cr_err *err)
{
    l->hr = NULL;
    l->pending = false;
    return !err && (resp->status == 200 || resp->status == 404);
}

/* GET /api/history/task/{id} after a 404 for the active task: a task
 * corrald knows is over; one it does not know at all is unknown. */
static void on_history(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    lookup *l = arg;
    json_t *j;

    if (!lookup_answered(l, resp, err))
        return;
    l->at = cr_mono_ms();
    l->unknown = resp->status == 404;
    if (resp->status == 200 && (j = json_loadb(resp->body, resp->body_len, 0, NULL))) {
        same_task(l->k, l, json_object_get(j, "task"));
        json_decref(j);
    }
}

static void on_lookup(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    lookup *l = arg;
    json_t *j;

    if (!lookup_answered(l, resp, err))
        return;
    l->active = false;
    if (resp->status == 404) {
        ask_history(l->k, l);
        return;
    }
    l->at = cr_mono_ms();
    l->unknown = false;
    if (!(j = json_loadb(resp->body, resp->body_len, 0, NULL)))
        return;
    if (!same_task(l->k, l, j)) {
        json_decref(j);
        return; /* another framework's task of the same id: not ours to watch */
    }
    {
        const json_t *res = json_object_get(j, "resources");
        const json_t *dres = json_object_get(
            json_object_get(json_object_get(j, "taskRequest"), "deploy"), "resources");
        double mb = number(json_object_get(res, "memoryMb"));
        if (mb <= 0)
            mb = number(json_object_get(dres, "memoryMb"));
        const json_t *xd = json_object_get(
            json_object_get(json_object_get(j, "taskRequest"), "deploy"), "executorData");
        l->limit = (int64_t)(mb * 1024 * 1024);
        l->active = true;
        /* the kill policy the task was launched with, else the executor's */
        if (json_is_integer(json_object_get(j, "killGracePeriodMillis")))
            l->grace_ms = json_integer_value(json_object_get(j, "killGracePeriodMillis"));
        else if (json_is_integer(json_object_get(xd, "sigKillProcessesAfterMillis")))
            l->grace_ms = json_integer_value(json_object_get(xd, "sigKillProcessesAfterMillis"));
        else
            l->grace_ms = KILL_GRACE_MS;
    }
    json_decref(j);
}

static void start_lookup(keeper *k, lookup *l, const char *path, cr_http_done_cb cb)
{
    cr_http_opts o = {.method = "GET",
                      .timeout_ms = 10000,
                      .connect_timeout_ms = 5000,
                      .max_body = 4 * 1024 * 1024,
                      .on_done = cb,
                      .arg = l};
    char *url = api_url(k, path, l->task_id);
    cr_err err;

    o.url = url;
    o.bearer = na_services_token(k->s);
    o.ca_file = k->a->cfg->ca_file;
    l->hr = cr_http_start(k->a->http, &o, &err);
    l->pending = l->hr != NULL;
    free(url);
}

static void ask_history(keeper *k, lookup *l)
{
    start_lookup(k, l, "/api/history/task/", on_history);
}

/* Asks corrald about the task of l: GET /api/tasks/task/{id} (active
 * tasks), on a 404 GET /api/history/task/{id} (over, or unknown: either
 * way the sandbox is over). Each answer that names the task teaches the
 * sandbox's framework is Corral's. */
static void ask(keeper *k, lookup *l)
{
    if (!k->a->cfg->corrald || l->pending || (l->at && cr_mono_ms() - l->at < LOOKUP_EVERY_MS))
        return;
    start_lookup(k, l, "/api/tasks/task/", on_lookup);
}

/* ---- cleanup ------------------------------------------------------------------------ */

static int64_t finished_at_ms(const tracked *t)
{
    char *p = xasprintf("%s/corral-task.json", t->sb.dir);
    struct stat st;
    int64_t at = t->sb.mtime_ms;

    if (stat(p, &st) == 0)
        at = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    free(p);
    return at;
}

/* Whether the sandbox's corral-executor runs (by what it runs: a task
 * renamed corral-executor does not keep its leftovers alive). */
static bool executor_alive(const na_app *a, const char *dir)
{
    for (size_t i = 0; i < a->procs.n; i++)
        if (strcmp(a->procs.v[i].sandbox, dir) == 0 && na_procs_is_executor(&a->procs, i))
            return true;
    return false;
}

/* Process groups left in the sandbox of a corral-executor task whose
 * executor is gone: TERM, then KILL once LEFTOVER_GRACE_MS passed. */
static void kill_leftovers(keeper *k, const tracked *t, lookup *l)
{
    na_app *a = k->a;
    char *runner = xasprintf("%s/runner.sh", t->sb.dir);
    bool custom = access(runner, F_OK) == 0;
    int64_t now = cr_mono_ms();
    cr_buf pids = CR_BUF_INIT;
    int sig;

    free(runner);
    if (!custom || !t->live || executor_alive(a, t->sb.dir)) {
        l->leftover_since = 0;
        return;
    }
    /* seen twice: not an executor between its exec and its first scan */
    if (!l->leftover_since) {
        l->leftover_since = now;
        return;
    }
    sig = l->term_at && now - l->term_at >= LEFTOVER_GRACE_MS ? SIGKILL : SIGTERM;
    if (sig == SIGTERM && l->term_at)
        return;
    cr_buf_init(&pids);
    for (size_t i = 0; i < a->procs.n; i++) {
        const na_proc *p = &a->procs.v[i];
        if (strcmp(p->sandbox, t->sb.dir) != 0 || p->pgid <= 1)
            continue;
        if (kill(-p->pgid, sig) == 0 || errno == ESRCH)
            cr_buf_addf(&pids, "%s%d", pids.len ? "," : "", (int)p->pgid);
    }
    if (pids.len) {
        char detail[600];
        snprintf(detail, sizeof(detail), "process group(s) %s left by a dead executor: %s",
                 pids.data, sig == SIGKILL ? "SIGKILL" : "SIGTERM");
        note(k, "killed leftovers of", t->sb.task_id, detail);
        k->st.groups_killed++;
    }
    if (sig == SIGTERM)
        l->term_at = now;
    cr_buf_release(&pids);
}

static int64_t tree_size(const char *dir)
{
    int64_t total = 0;
    na_logfiles f;
    na_list_logs(dir, &f);
    for (size_t i = 0; i < f.n; i++)
        total += f.v[i].size;
    na_logfiles_release(&f);
    return total;
}

static void cleanup(keeper *k)
{
    na_app *a = k->a;
    int64_t now = cr_wall_ms(), retention = (int64_t)a->cfg->retention_s * 1000;
    bool removed = false;

    for (size_t i = 0; i < a->n_tracked && !removed; i++) {
        const tracked *t = &a->tracked[i];
        lookup *l = lookup_of(k, t);
        bool over = na_app_finished(a, t);
        char detail[600];
        cr_err err;

        kill_leftovers(k, t, l);
        /* unknown to Corral? And, once per sandbox at least, whose
         * framework it lies under */
        if ((!over && !t->live) || !l->at)
            ask(k, l);
        if (!over && !t->live)
            over = l->at && l->unknown;
        if (!over || t->live || now - finished_at_ms(t) < retention)
            continue;
        if (!corral_framework(k, t->sb.framework_id))
            continue; /* another framework's, or not known to be Corral's yet */
        if (!na_services_upload_done(a, t))
            continue; /* its logs first */
        snprintf(detail, sizeof(detail), "removed %s (%s, ended %lld s ago, logs %s)", t->sb.dir,
                 t->sb.has_record      ? "executor finished"
                 : l->at && l->unknown ? "no process, task unknown to Corral"
                                       : "no process, task over",
                 (long long)((now - finished_at_ms(t)) / 1000),
                 a->cfg->s3_bucket ? "uploaded" : "not archived");
        {
            int64_t bytes = tree_size(t->sb.dir);
            if (na_remove_tree(t->sb.dir, &err) < 0) {
                cr_warn(a->log, "cleanup of %s: %s", t->sb.dir, cr_err_msg(&err));
                continue;
            }
            k->st.removed++;
            k->st.removed_bytes += (uint64_t)bytes;
        }
        note(k, "removed sandbox of", t->sb.task_id, detail);
        removed = true; /* the index changes: rescan first */
    }
    if (removed)
        na_app_rescan(a);
}

/* ---- OOM killer -------------------------------------------------------------------- */

static void on_note(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    lookup *l = arg;

    l->hr = NULL;
    l->pending = false;
    if (err || resp->status >= 300)
        cr_warn(l->k->a->log, "recording the OOM kill of %s failed: %s", l->task_id,
                err ? cr_err_msg(err) : resp->body);
}

/* Signals the task's processes, never the executor: it reports the
 * task's end, as it would after the kernel's kill. Which processes and
 * groups is na_kill_plan_make's pure decision (nodeagent/na_proc.h): the
 * executor, recognised by what it runs (a task may take its name), and its
 * ancestors in the sandbox (the agent's `sh -c`, in its process group) are
 * spared by pid; every other process goes, through its group unless a
 * spared process is in it. */
static void signal_task(keeper *k, const tracked *t, int sig)
{
    na_kill_plan plan;

    na_kill_plan_make(&k->a->procs, t->sb.dir, &plan);
    for (size_t i = 0; i < plan.n_groups; i++)
        if (kill(-plan.groups[i], sig) < 0 && errno != ESRCH)
            cr_warn(k->a->log, "signal %d to process group %d of %s: %s", sig, (int)plan.groups[i],
                    t->sb.task_id, strerror(errno));
    for (size_t i = 0; i < plan.n_pids; i++)
        if (kill(plan.pids[i], sig) < 0 && errno != ESRCH)
            cr_warn(k->a->log, "signal %d to process %d of %s: %s", sig, (int)plan.pids[i],
                    t->sb.task_id, strerror(errno));
    na_kill_plan_release(&plan);
}

/* The note corral-executor reads when the task's process ends
 * (executor/exe_sm.h: EXE_KILL_NOTE): the terminal update itself then says
 * why (TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY, this message), so
 * the controllers' crash-loop and cooldown count a memory kill. Written
 * before the SIGTERM, under a fresh name then renamed into place: a link
 * or a file the task left there is replaced, never written through. */
#define KILL_NOTE     "corral-killed-by.json"
#define KILL_NOTE_TMP ".corral-killed-by.json.tmp"

static void write_kill_note(keeper *k, const tracked *t, const char *reason)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "reason", "oom", "message", reason, "at",
                          (json_int_t)cr_wall_ms());
    char *txt = json_dumps(j, JSON_COMPACT);
    int dfd = open(t->sb.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd = -1;
    size_t len = strlen(txt);
    bool ok = false;

    if (dfd >= 0) {
        unlinkat(dfd, KILL_NOTE_TMP, 0);
        fd = openat(dfd, KILL_NOTE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    }
    if (fd >= 0) {
        ok = write(fd, txt, len) == (ssize_t)len;
        ok = close(fd) == 0 && ok;
        ok = ok && renameat(dfd, KILL_NOTE_TMP, dfd, KILL_NOTE) == 0;
        if (!ok)
            unlinkat(dfd, KILL_NOTE_TMP, 0);
    }
    if (!ok)
        cr_warn(k->a->log, "writing %s/%s: %s", t->sb.dir, KILL_NOTE, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    free(txt);
    json_decref(j);
}

/* Records why (P/nodeagent/tasks/..., shown in the task's history). */
static void record_kill(keeper *k, const tracked *t, lookup *l, const char *reason, int64_t used,
                        const char *how)
{
    char host[256] = "";
    json_t *body;
    char *txt, *url;
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    cr_http_opts o = {.method = "PUT",
                      .headers = hdrs,
                      .timeout_ms = 10000,
                      .connect_timeout_ms = 5000,
                      .on_done = on_note,
                      .arg = l};
    cr_err err;

    gethostname(host, sizeof(host) - 1);
    body = json_pack("{s:{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I}}", "killedBy", "reason", "oom",
                     "message", reason, "at", (json_int_t)cr_wall_ms(), "memoryBytes",
                     (json_int_t)used, "limitBytes", (json_int_t)l->limit, "measuredBy", how,
                     "host", host, "graceMillis", (json_int_t)l->grace_ms);
    txt = json_dumps(body, JSON_COMPACT);
    url = api_url(k, "/api/nodeagent/tasks/", t->sb.task_id);
    o.url = url;
    o.body = txt;
    o.body_len = strlen(txt);
    o.bearer = na_services_token(k->s);
    o.ca_file = k->a->cfg->ca_file;
    cr_http_cancel(l->hr);
    l->hr = cr_http_start(k->a->http, &o, &err);
    l->pending = l->hr != NULL;
    if (!l->hr)
        cr_warn(k->a->log, "recording the OOM kill of %s: %s", t->sb.task_id, cr_err_msg(&err));
    free(url);
    free(txt);
    json_decref(body);
}

static void oom_check(keeper *k)
{
    na_app *a = k->a;
    int64_t now = cr_mono_ms();

    k->st.checks++;
    na_procs_release(&a->procs);
    na_proc_scan("/proc", &a->procs);
    for (size_t i = 0; i < a->n_tracked; i++) {
        tracked *t = &a->tracked[i];
        lookup *l;
        const char *how = "rss";
        int64_t used;
        char reason[256], detail[400];

        if (!na_procs_in(&a->procs, t->sb.dir))
            continue;
        l = lookup_of(k, t);
        if (t->oom_killed) {
            /* TERM sent: KILL once the grace period is over */
            if (t->oom_kill_at && now >= t->oom_kill_at) {
                signal_task(k, t, SIGKILL);
                t->oom_kill_at = 0;
            }
            continue;
        }
        ask(k, l);
        if (!l->active || l->limit <= 0)
            continue;
        used = na_oom_measure(&a->procs, t->sb.dir, "/proc", a->cfg->cgroup_root, &how);
        if (na_oom_decide(used, l->limit, (int)a->cfg->oom_threshold_pct, a->cfg->oom_window_ms,
                          now, &t->oom_since) != NA_OOM_KILL)
            continue;
        na_oom_reason(used, l->limit, (int)a->cfg->oom_threshold_pct, a->cfg->oom_window_ms, reason,
                      sizeof(reason));
        t->oom_killed = true;
        k->st.oom_kills++;
        snprintf(detail, sizeof(detail), "%s (%s; SIGTERM, SIGKILL after %lld ms)", reason, how,
                 (long long)l->grace_ms);
        note(k, "OOM kill of", t->sb.task_id, detail);
        record_kill(k, t, l, reason, used, how);
        write_kill_note(k, t, reason);
        signal_task(k, t, SIGTERM);
        t->oom_kill_at = now + l->grace_ms;
    }
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    keeper *k = arg;
    prune(k);
    if (!k->a->cfg->no_cleanup)
        cleanup(k);
}

static void on_oom(evutil_socket_t fd, short what, void *arg)
{
    keeper *k = arg;
    prune(k);
    oom_check(k);
}

int na_keeper_start(na_app *a, na_services *s, cr_err *err)
{
    keeper *k = xcalloc(1, sizeof(*k));
    struct timeval tv = {a->cfg->scan_interval_ms / 1000, (a->cfg->scan_interval_ms % 1000) * 1000};

    *na_services_keeper(s) = k;
    k->a = a;
    k->s = s;
    k->report = json_array();
    k->tick = event_new(a->base, -1, EV_PERSIST, on_tick, k);
    evtimer_add(k->tick, &tv);
    if (!a->cfg->no_oom_killer && a->cfg->corrald) {
        struct timeval ov = {a->cfg->oom_interval_ms / 1000,
                             (a->cfg->oom_interval_ms % 1000) * 1000};
        k->oom_tick = event_new(a->base, -1, EV_PERSIST, on_oom, k);
        evtimer_add(k->oom_tick, &ov);
    }
    return 0;
}

void na_keeper_stop(na_app *a, na_services *s)
{
    keeper *k = *na_services_keeper(s);

    if (!k)
        return;
    if (k->tick)
        event_free(k->tick);
    if (k->oom_tick)
        event_free(k->oom_tick);
    for (size_t i = 0; i < k->n; i++)
        lookup_free(k->v[i]);
    free(k->v);
    for (size_t i = 0; i < k->n_fws; i++)
        free(k->fws[i]);
    free(k->fws);
    json_decref(k->report);
    free(k);
    *na_services_keeper(s) = NULL;
}

json_t *na_keeper_report(na_app *a)
{
    keeper *k = a->svc ? *na_services_keeper(a->svc) : NULL;
    return k ? json_deep_copy(k->report) : json_array();
}

void na_keeper_metrics(na_app *a, na_services *s, cr_buf *b)
{
    keeper *k = *na_services_keeper(s);

    if (!k)
        return;
#define M(name, type, help, v)                                                            \
    cr_buf_addf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " %llu\n", \
                (unsigned long long)(v))
    M("corral_nodeagent_sandboxes_removed_total", "counter",
      "Sandboxes of ended tasks removed after the retention.", k->st.removed);
    M("corral_nodeagent_sandbox_log_bytes_removed_total", "counter",
      "Log bytes in the sandboxes removed.", k->st.removed_bytes);
    M("corral_nodeagent_leftover_groups_killed_total", "counter",
      "Signals sent to process groups left by dead executors.", k->st.groups_killed);
    M("corral_nodeagent_oom_kills_total", "counter", "Tasks killed for their memory.",
      k->st.oom_kills);
    M("corral_nodeagent_oom_checks_total", "counter", "Memory checks.", k->st.checks);
#undef M
}
