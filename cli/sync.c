/* Server-side apply, dry run and diff over a pipe of concurrent calls; see
 * sync.h. Each object is a job whose steps are the calls a sequential apply
 * makes for it; a step's callback runs the next step. */
#include "cli/sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "cli/bulk.h"
#include "cli/http.h"
#include "cli/plan.h"

/* Longest batch read path: well under corrald's 64 KiB of headers. */
#define BATCH_PATH_MAX 8000

typedef struct sync_run sync_run;

/* One object (or one request to prune). Its lines wait in out and err until
 * every job before it has printed. */
typedef struct job {
    sync_run *run;
    size_t idx;
    const api_manifest_obj *o; /* NULL for a prune */
    const char *prune_id;      /* a prune: the request to delete (borrowed) */
    char *what;                /* "request/ID", "deploy/REQ/ID", "source/NAME" */
    bool existed;              /* the server had it before the write */
    bool done;
    cr_buf out, err;
} job;

struct sync_run {
    cli_ctx *ctx;
    const cli_sync_opts *opts;
    const char *cmd, *sfx;
    cli_pipe *pipe;
    cli_sched *sched;
    job *jobs; /* of the current round, in print order */
    size_t njobs, printed;
    json_t *parents; /* rid -> request parent, or null when it does not exist */
    json_t *owned;   /* rid -> true when apply may label its deploys */
    json_t *bad;     /* rid -> true when its request failed */
    bool failed, drift;
    /* progress on a terminal */
    bool progress;
    struct timespec started, last;
    size_t ndone, ntotal;
    /* batch reads */
    json_t *not_found;   /* ids the batch reads did not return */
    bool not_found_sure; /* ... and that means they do not exist */
};

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* "applied N/M" on stderr at most once a second, from the first second on,
 * when stderr is a terminal (a long apply shows it is moving). */
static void progress(sync_run *run)
{
    struct timespec now;
    if (!run->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (since(&run->started, &now) < 1.0 || since(&run->last, &now) < 1.0)
        return;
    run->last = now;
    fprintf(run->ctx->err, "corralctl %s: %s %zu/%zu\n", run->cmd,
            run->opts->mode == CLI_SYNC_APPLY ? "applied" : "compared", run->ndone, run->ntotal);
}

static void job_done(job *j)
{
    sync_run *run = j->run;

    j->done = true;
    free(j->what);
    j->what = NULL;
    cli_sched_done(run->sched, j->idx);
    if (j->o)
        run->ndone++;
    while (run->printed < run->njobs && run->jobs[run->printed].done) {
        job *p = &run->jobs[run->printed++];
        fputs(cr_buf_str(&p->out), run->ctx->out);
        fputs(cr_buf_str(&p->err), run->ctx->err);
        cr_buf_release(&p->out);
        cr_buf_release(&p->err);
    }
    progress(run);
}

static void take_msg(job *j, const char *msg)
{
    if (msg)
        cr_buf_adds(&j->err, msg);
}

static char *parent_path(const char *rid)
{
    char *e = cli_url_escape(rid), *path = xasprintf("/api/requests/request/%s", e);
    free(e);
    return path;
}

/* The cached parent of rid (borrowed): an object, json null when it does
 * not exist, or NULL when it was not read (or its read failed). */
static json_t *cached_parent(sync_run *run, const char *rid)
{
    return json_object_get(run->parents, rid);
}

static const char *deploy_id_of(const json_t *parent, const char *field)
{
    return json_string_value(json_object_get(json_object_get(parent, field), "id"));
}

static void add_diff(job *j, const char *verb, char *d)
{
    cr_buf_addf(&j->out, "%s %s\n", j->what, verb);
    if (d)
        cr_buf_adds(&j->out, d);
    free(d);
}

/* ---- a Request: read, compare, POST /api/requests ------------------------ */

static void req_posted(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc == 0) {
        cr_buf_addf(&j->out, "%s %s\n", j->what, j->existed ? "configured" : "created");
    } else {
        json_object_set_new(j->run->bad, j->o->request->id, json_true());
        j->run->failed = true;
    }
    job_done(j);
}

static void req_compare(job *j)
{
    sync_run *run = j->run;
    const char *rid = j->o->request->id, *set = run->opts->set;
    const json_t *parent = cached_parent(run, rid), *remote;
    json_t *local = api_request_to_json(j->o->request), *cmp = json_deep_copy(local);

    j->existed = !json_is_null(parent);
    j->what = xasprintf("request/%s", rid);
    remote = j->existed ? json_object_get(parent, "request") : NULL;
    /* An input-only acknowledgement: corrald never stores it. */
    json_object_del(cmp, "largeScaleDownAcknowledged");
    if (set && (!j->existed || cli_parent_owned_by(parent, set)))
        json_object_set_new(run->owned, rid, json_true());
    if (j->existed && json_equal(cmp, (json_t *)remote)) {
        if (run->opts->mode != CLI_SYNC_DIFF)
            cr_buf_addf(&j->out, "%s unchanged%s\n", j->what, run->sfx);
    } else if (run->opts->mode == CLI_SYNC_DIFF) {
        json_t *empty = json_object();
        add_diff(j, j->existed ? "(configured)" : "(created)",
                 cli_json_diff(j->existed ? remote : empty, cmp, "  "));
        json_decref(empty);
        run->drift = true;
    } else if (run->opts->mode == CLI_SYNC_DRY) {
        cr_buf_addf(&j->out, "%s %s%s\n", j->what, j->existed ? "configured" : "created", run->sfx);
    } else {
        cli_pipe_add(run->pipe, "POST", "/api/requests", local, 0, req_posted, j);
        json_decref(cmp);
        json_decref(local);
        return;
    }
    json_decref(cmp);
    json_decref(local);
    job_done(j);
}

static void req_got_parent(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;
    const char *rid = j->o->request->id;

    take_msg(j, msg);
    if (rc < 0 && r->status != 404) {
        json_object_set_new(j->run->bad, rid, json_true());
        j->run->failed = true;
        job_done(j);
        return;
    }
    json_object_set_new(j->run->parents, rid,
                        rc == 0 && r->body ? json_incref(r->body) : json_null());
    req_compare(j);
}

static void req_start(job *j)
{
    const char *rid = j->o->request->id;
    char *path;

    if (cached_parent(j->run, rid)) {
        req_compare(j);
        return;
    }
    path = parent_path(rid);
    cli_pipe_add(j->run->pipe, "GET", path, NULL, 404, req_got_parent, j);
    free(path);
}

/* ---- a Deploy: its request's parent, its history, POST /api/deploys ------- */

static void dep_posted(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc == 0)
        cr_buf_addf(&j->out, "%s created\n", j->what);
    else
        j->run->failed = true;
    job_done(j);
}

/* The deploy is new to the request: diff it, or post it. */
static void dep_post(job *j)
{
    sync_run *run = j->run;
    const api_manifest_obj *o = j->o;
    const api_deploy *d = o->deploy;
    const json_t *parent = cached_parent(run, d->requestId);
    json_t *local = api_deploy_to_json(d), *body;

    if (run->opts->mode == CLI_SYNC_DIFF) {
        const char *active = deploy_id_of(parent, "activeDeploy");
        const char *pending = deploy_id_of(parent, "pendingDeploy");
        const json_t *base = json_object_get(parent, pending ? "pendingDeploy" : "activeDeploy");
        json_t *cmp = base ? cli_deploy_comparable(base) : json_object();
        json_t *lc = cli_deploy_comparable(local);
        char *verb = base ? xasprintf("(created, replaces %s)", pending ? pending : active)
                          : xstrdup("(created)");
        char *df;
        json_object_del(cmp, "id");
        json_object_del(lc, "id");
        df = cli_json_diff(cmp, lc, "  ");
        add_diff(j, verb, df ? df : xstrdup("  (same spec, new id)\n"));
        free(verb);
        json_decref(cmp);
        json_decref(lc);
        json_decref(local);
        run->drift = true;
        job_done(j);
        return;
    }
    if (run->opts->mode == CLI_SYNC_DRY) {
        cr_buf_addf(&j->out, "%s created%s\n", j->what, run->sfx);
        json_decref(local);
        job_done(j);
        return;
    }
    if (json_is_true(json_object_get(run->owned, d->requestId))) {
        json_t *md = json_object_get(local, "metadata");
        if (!json_is_object(md)) {
            md = json_object();
            json_object_set_new(local, "metadata", md);
        }
        json_object_set_new(md, CLI_SET_LABEL, json_string(run->opts->set));
    }
    body = json_pack("{s:o}", "deploy", local);
    if (o->message)
        json_object_set_new(body, "message", json_string(o->message));
    if (o->has_unpause)
        json_object_set_new(body, "unpauseOnSuccessfulDeploy",
                            json_boolean(o->unpauseOnSuccessfulDeploy));
    if (o->updatedRequest)
        json_object_set_new(body, "updatedRequest", api_request_to_json(o->updatedRequest));
    cli_pipe_add(run->pipe, "POST", "/api/deploys", body, 0, dep_posted, j);
    json_decref(body);
}

/* Singularity never takes a deploy id twice, so a deploy in the request's
 * history (it failed, was cancelled or was replaced) is not posted again. */
static void dep_history(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc == 0) {
        const char *st = json_string_value(
            json_object_get(json_object_get(r->body, "deployResult"), "deployState"));
        if (j->run->opts->mode != CLI_SYNC_DIFF)
            cr_buf_addf(&j->out,
                        "%s unchanged (deployed before%s%s; a new deploy needs a new id)%s\n",
                        j->what, st && *st ? ": " : "", st ? st : "", j->run->sfx);
    } else if (r->status == 404) {
        dep_post(j);
        return;
    } else {
        j->run->failed = true;
    }
    job_done(j);
}

static void dep_have_parent(job *j)
{
    sync_run *run = j->run;
    const api_deploy *d = j->o->deploy;
    const json_t *parent = cached_parent(run, d->requestId);
    const char *active = deploy_id_of(parent, "activeDeploy");
    const char *pending = deploy_id_of(parent, "pendingDeploy");
    char *er, *ed, *path;

    j->what = xasprintf("deploy/%s/%s", d->requestId, d->id);
    if ((active && strcmp(active, d->id) == 0) || (pending && strcmp(pending, d->id) == 0)) {
        if (run->opts->mode != CLI_SYNC_DIFF)
            cr_buf_addf(&j->out, "%s unchanged%s\n", j->what, run->sfx);
        job_done(j);
        return;
    }
    if (json_is_null(parent)) {
        dep_post(j);
        return;
    }
    er = cli_url_escape(d->requestId);
    ed = cli_url_escape(d->id);
    path = xasprintf("/api/history/request/%s/deploy/%s", er, ed);
    cli_pipe_add(run->pipe, "GET", path, NULL, 404, dep_history, j);
    free(path);
    free(er);
    free(ed);
}

/* The parent of a request the manifest does not hold: a deploy may be
 * labelled only if the set already owns the request. */
static void note_foreign_owner(sync_run *run, const char *rid, const json_t *p)
{
    if (run->opts->set && p && cli_parent_owned_by(p, run->opts->set))
        json_object_set_new(run->owned, rid, json_true());
}

static void dep_got_parent(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc < 0 && r->status != 404) {
        /* Not remembered: the request's next deploy reads it again. */
        j->run->failed = true;
        job_done(j);
        return;
    }
    note_foreign_owner(j->run, j->o->deploy->requestId, rc == 0 ? r->body : NULL);
    json_object_set_new(j->run->parents, j->o->deploy->requestId,
                        rc == 0 && r->body ? json_incref(r->body) : json_null());
    dep_have_parent(j);
}

static void dep_start(job *j)
{
    const api_deploy *d = j->o->deploy;
    char *path;

    if (json_object_get(j->run->bad, d->requestId)) {
        cr_buf_addf(&j->err, "corralctl %s: deploy/%s/%s skipped: its request failed\n",
                    j->run->cmd, d->requestId, d->id);
        job_done(j);
        return;
    }
    if (cached_parent(j->run, d->requestId)) {
        dep_have_parent(j);
        return;
    }
    path = parent_path(d->requestId);
    cli_pipe_add(j->run->pipe, "GET", path, NULL, 404, dep_got_parent, j);
    free(path);
}

/* ---- a GitOps Source (POST /api/sources; docs/gitops.md) ------------------- */

static void src_posted(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc == 0)
        cr_buf_addf(&j->out, "%s %s\n", j->what, j->existed ? "configured" : "created");
    else
        j->run->failed = true;
    job_done(j);
}

static void src_got(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;
    sync_run *run = j->run;
    json_t *local;
    const json_t *remote;

    take_msg(j, msg);
    if (rc < 0 && r->status != 404) {
        run->failed = true;
        job_done(j);
        return;
    }
    local = api_source_to_json(j->o->source);
    remote = r->status == 404 ? NULL : json_object_get(r->body, "source");
    j->existed = remote != NULL;
    if (remote && json_equal(local, (json_t *)remote)) {
        if (run->opts->mode != CLI_SYNC_DIFF)
            cr_buf_addf(&j->out, "%s unchanged%s\n", j->what, run->sfx);
    } else if (run->opts->mode == CLI_SYNC_DIFF) {
        json_t *empty = json_object();
        add_diff(j, remote ? "(configured)" : "(created)",
                 cli_json_diff(remote ? remote : empty, local, "  "));
        json_decref(empty);
        run->drift = true;
    } else if (run->opts->mode == CLI_SYNC_DRY) {
        cr_buf_addf(&j->out, "%s %s%s\n", j->what, remote ? "configured" : "created", run->sfx);
    } else {
        cli_pipe_add(run->pipe, "POST", "/api/sources", local, 0, src_posted, j);
        json_decref(local);
        return;
    }
    json_decref(local);
    job_done(j);
}

static void src_start(job *j)
{
    char *e = cli_url_escape(j->o->source->name);
    char *path = xasprintf("/api/sources/source/%s", e);

    j->what = xasprintf("source/%s", j->o->source->name);
    cli_pipe_add(j->run->pipe, "GET", path, NULL, 404, src_got, j);
    free(path);
    free(e);
}

/* ---- a request to prune ------------------------------------------------- */

static void prune_deleted(void *arg, int rc, cli_resp *r, const char *msg)
{
    job *j = arg;

    take_msg(j, msg);
    if (rc == 0)
        cr_buf_addf(&j->out, "request/%s pruned\n", j->prune_id);
    else
        j->run->failed = true;
    job_done(j);
}

static void prune_start(job *j)
{
    sync_run *run = j->run;
    json_t *body;
    char *path;

    if (run->opts->mode == CLI_SYNC_DIFF) {
        cr_buf_addf(&j->out, "request/%s (pruned)\n", j->prune_id);
        run->drift = true;
        job_done(j);
        return;
    }
    if (run->opts->mode == CLI_SYNC_DRY) {
        cr_buf_addf(&j->out, "request/%s pruned%s\n", j->prune_id, run->sfx);
        job_done(j);
        return;
    }
    path = parent_path(j->prune_id);
    body = json_pack("{s:s}", "message", "pruned by corralctl apply");
    cli_pipe_add(run->pipe, "DELETE", path, body, 0, prune_deleted, j);
    json_decref(body);
    free(path);
}

/* ---- rounds of jobs ------------------------------------------------------ */

static void job_start(job *j)
{
    if (!j->o)
        prune_start(j);
    else if (j->o->kind == API_OBJ_REQUEST)
        req_start(j);
    else if (j->o->kind == API_OBJ_DEPLOY)
        dep_start(j);
    else
        src_start(j);
}

/* Runs jobs[0..n) (dep[i]: the job i waits for, or -1) with at most
 * opts->parallel calls in flight, and prints their lines in order. */
static void run_round(sync_run *run, job *jobs, size_t n, const long *dep)
{
    run->jobs = jobs;
    run->njobs = n;
    run->printed = 0;
    run->sched = cli_sched_new(n);
    for (size_t i = 0; i < n; i++) {
        jobs[i].run = run;
        jobs[i].idx = i;
        if (dep && dep[i] >= 0)
            cli_sched_after(run->sched, i, (size_t)dep[i]);
    }
    for (;;) {
        long k;
        /* A job holds at most one call at a time, so this bounds the queue. */
        while (cli_pipe_busy(run->pipe) < run->opts->parallel &&
               (k = cli_sched_next(run->sched)) >= 0)
            job_start(&jobs[k]);
        if (!cli_pipe_step(run->pipe))
            break;
    }
    cli_sched_free(run->sched);
    run->sched = NULL;
    fflush(run->ctx->out);
}

/* ---- batched reads of the parents ----------------------------------------- */

static void batch_got(void *arg, int rc, cli_resp *r, const char *msg)
{
    sync_run *run = arg;
    size_t i;
    json_t *p;

    if (rc < 0)
        return; /* those ids are read one by one, with the usual messages */
    json_array_foreach (json_object_get(r->body, "requests"), i, p) {
        const char *id = json_string_value(json_object_get(json_object_get(p, "request"), "id"));
        if (id)
            json_object_set(run->parents, id, p);
    }
    json_array_extend(run->not_found, json_object_get(r->body, "notFound"));
}

/* A batch read leaves out requests the caller may not read, as if absent;
 * that is sure to mean absent only with auth off, or for an admin. */
static void auth_got(void *arg, int rc, cli_resp *r, const char *msg)
{
    sync_run *run = arg;

    run->not_found_sure = rc == 0 && (!json_is_true(json_object_get(r->body, "authEnabled")) ||
                                      json_is_true(json_object_get(r->body, "admin")));
}

/* Reads the parents of every request the manifest names in a few batch
 * calls, in place of one GET each. Anything they do not settle (an old
 * corrald, a refusal, a request the caller may not see) is left to the
 * jobs' own reads, so the messages stay those of a sequential apply. */
static void prefetch_parents(sync_run *run, const api_manifest *m, const json_t *manifest_rids)
{
    api_strlist ids = {0}, paths = {0};
    json_t *seen = json_object(), *v;
    const char *id;

    for (size_t n = 0; n < m->n; n++) {
        const api_manifest_obj *o = &m->v[n];
        const char *rid = o->kind == API_OBJ_REQUEST  ? o->request->id
                          : o->kind == API_OBJ_DEPLOY ? o->deploy->requestId
                                                      : NULL;
        if (rid && !json_object_get(seen, rid)) {
            json_object_set_new(seen, rid, json_true());
            api_strlist_add(&ids, rid);
        }
    }
    if (ids.n < 2)
        goto out;
    run->not_found = json_array();
    cli_bulk_batch_paths(&ids, BATCH_PATH_MAX, &paths);
    cli_pipe_add(run->pipe, "GET", "/api/auth/user", NULL, CLI_HTTP_QUIET, auth_got, run);
    for (size_t i = 0; i < paths.n; i++)
        cli_pipe_add(run->pipe, "GET", paths.v[i], NULL, CLI_HTTP_QUIET, batch_got, run);
    while (cli_pipe_step(run->pipe))
        ;
    if (run->not_found_sure) {
        size_t i;
        json_array_foreach (run->not_found, i, v)
            if ((id = json_string_value(v)) && !cached_parent(run, id))
                json_object_set_new(run->parents, id, json_null());
    }
    /* Requests the manifest holds get their ownership when compared. */
    json_object_foreach (run->parents, id, v)
        if (!json_object_get(manifest_rids, id) && json_is_object(v))
            note_foreign_owner(run, id, v);
out:
    json_decref(seen);
    api_strlist_release(&ids);
    api_strlist_release(&paths);
}

/* ---- the whole apply ------------------------------------------------------- */

static int kind_rank(api_obj_kind k)
{
    return k == API_OBJ_REQUEST ? 0 : k == API_OBJ_DEPLOY ? 1 : 2;
}

static void prune_round(sync_run *run, const api_strlist *keep)
{
    api_strlist gone = {0};
    job *jobs;
    cli_resp r;

    if (cli_http(run->ctx, run->cmd, "GET", "/api/requests", NULL, 0, &r) < 0) {
        run->failed = true;
        cli_resp_release(&r);
        return;
    }
    cli_prune_plan(r.body, keep, run->opts->set, &gone);
    cli_resp_release(&r);
    jobs = xcalloc(gone.n + 1, sizeof(job));
    for (size_t i = 0; i < gone.n; i++)
        jobs[i].prune_id = gone.v[i];
    run_round(run, jobs, gone.n, NULL);
    free(jobs);
    api_strlist_release(&gone);
}

int cli_sync_server(cli_ctx *ctx, const api_manifest *m, const cli_sync_opts *opts)
{
    sync_run run = {0};
    json_t *manifest_rids = json_object(); /* ids of the manifest's Requests */
    api_strlist keep = {0};
    cli_bulk_obj *objs = xcalloc(m->n + 1, sizeof(cli_bulk_obj));
    long *dep = xcalloc(m->n + 1, sizeof(long));
    job *jobs = xcalloc(m->n + 1, sizeof(job));
    size_t n = 0;

    run.ctx = ctx;
    run.opts = opts;
    run.cmd = opts->mode == CLI_SYNC_DIFF ? "diff" : "apply";
    run.sfx = opts->mode == CLI_SYNC_DRY ? " (server dry run)" : "";
    run.pipe = cli_pipe_new(ctx, run.cmd, opts->parallel);
    run.parents = json_object();
    run.owned = json_object();
    run.bad = json_object();
    run.progress = isatty(fileno(ctx->err));
    clock_gettime(CLOCK_MONOTONIC, &run.started);
    run.last = run.started;

    /* Jobs in a sequential apply's order: Requests, Deploys, Sources. */
    for (int rank = 0; rank < 3; rank++)
        for (size_t i = 0; i < m->n; i++) {
            const api_manifest_obj *o = &m->v[i];
            if (kind_rank(o->kind) != rank)
                continue;
            jobs[n].o = o;
            objs[n].kind = o->kind == API_OBJ_REQUEST  ? CLI_BULK_REQUEST
                           : o->kind == API_OBJ_DEPLOY ? CLI_BULK_DEPLOY
                                                       : CLI_BULK_OTHER;
            objs[n].rid = o->kind == API_OBJ_REQUEST  ? o->request->id
                          : o->kind == API_OBJ_DEPLOY ? o->deploy->requestId
                                                      : NULL;
            if (o->kind == API_OBJ_REQUEST)
                json_object_set_new(manifest_rids, o->request->id, json_true());
            if (objs[n].rid)
                api_strlist_add(&keep, objs[n].rid);
            n++;
        }
    run.ntotal = n;
    cli_bulk_deps(objs, n, dep);
    /* With one call at a time, the calls stay a sequential apply's. */
    if (opts->parallel > 1)
        prefetch_parents(&run, m, manifest_rids);
    run_round(&run, jobs, n, dep);

    if (opts->prune && run.failed)
        fprintf(ctx->err, "corralctl %s: --prune skipped because of the errors above\n", run.cmd);
    if (opts->prune && !run.failed)
        prune_round(&run, &keep);

    cli_pipe_free(run.pipe);
    api_strlist_release(&keep);
    json_decref(manifest_rids);
    json_decref(run.parents);
    json_decref(run.owned);
    json_decref(run.bad);
    json_decref(run.not_found);
    free(objs);
    free(dep);
    free(jobs);
    if (opts->mode == CLI_SYNC_DIFF)
        return run.failed ? 2 : run.drift ? 1 : 0;
    return run.failed ? CLI_ERROR : CLI_OK;
}

bool cli_sync_parse_parallel(cli_ctx *ctx, const char *cmd, const char *v, size_t *out)
{
    char *end = NULL;
    long n;

    errno = 0;
    n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || n < 1 || n > CLI_SYNC_PARALLEL_MAX) {
        fprintf(ctx->err, "corralctl %s: --parallel must be a number from 1 to %d, not \"%s\"\n",
                cmd, CLI_SYNC_PARALLEL_MAX, v ? v : "");
        return false;
    }
    *out = (size_t)n;
    return true;
}
