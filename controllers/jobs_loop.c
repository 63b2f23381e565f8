/* The jobs loop (SCHEDULED, ON_DEMAND, RUN_ONCE): collect a request's
 * documents from the cache, run ctl_jobs_plan (jobs.h), turn its actions
 * into etcd operations. The runner (runner.h) does the rest. */
#include "controllers/jobs.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/keys.h"
#include "base/xalloc.h"
#include "controllers/runner.h"
#include "store/map.h"

/* A request's parsed schedule, kept while its inputs stay the same. */
typedef struct sched_entry {
    char *inputs; /* schedule|quartzSchedule|type|zone */
    api_schedule *s;
    char *error;
} sched_entry;

struct ctl_jobs_manager {
    char *prefix;
    ctl_jobs_config plan_cfg;
    cr_log *log;

    ctl_runner *runner;
    store_cache *cache; /* the runner's, while running */
    store_map *mine;   /* rid -> marker: last seen request was a job type */
    store_map *scheds; /* rid -> sched_entry */
};

static bool job_type(api_request_type t)
{
    return t == API_SCHEDULED || t == API_ON_DEMAND || t == API_RUN_ONCE;
}

static void free_sched(const char *key, void *value, void *arg)
{
    sched_entry *e = value;
    free(e->inputs);
    api_schedule_free(e->s);
    free(e->error);
    free(e);
}

/* The valid document of o, else NULL: one with problems (o->error: it does
 * not decode, has fields Corral does not know or values out of range, or
 * does not match its key; apis/doc.h) is invalid, for this loop as for the
 * service loop. */
static const void *valid_doc(const store_obj *o)
{
    return o && !o->error ? o->doc : NULL;
}

/* Why a document is invalid, or NULL. */
static const char *invalid_doc(const store_obj *o)
{
    return o->error ? o->error : o->doc ? NULL : "the document does not decode";
}

/* The request document as the jobs loop sees it, or NULL. */
static const api_request *job_request(const store_obj *o)
{
    return valid_doc(o);
}

/* ---- cache changes -------------------------------------------------------------------- */

static void note_type(ctl_jobs_manager *m, const store_obj *req)
{
    const api_request *r = job_request(req);
    if (r && job_type(r->type))
        store_map_put(m->mine, req->id1, (void *)1);
    else if (r)
        store_map_del(m->mine, req->id1);
}

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    ctl_jobs_manager *m = arg;
    const store_obj *o = cur ? cur : old;
    char *owned;
    const char *rid = ctl_obj_request_id(o, &owned);

    if (!rid)
        return;
    if (o->kind == API_KEY_REQUEST && cur)
        note_type(m, cur);
    ctl_runner_enqueue(r, rid);
    free(owned);
}

static void resync_mine(const char *rid, void *value, void *arg)
{
    ctl_runner_enqueue(arg, rid);
}

static void resync(void *arg, ctl_runner *r)
{
    ctl_jobs_manager *m = arg;
    char *prefix = api_key_kind_prefix(m->prefix, API_KEY_REQUEST, NULL);
    size_t first, n = store_cache_range(m->cache, prefix, &first);
    free(prefix);
    for (size_t i = first; i < first + n; i++)
        note_type(m, store_cache_at(m->cache, i));
    ctl_runner_enqueue_kind(r, m->prefix, API_KEY_REQUEST);
    store_map_foreach(m->mine, resync_mine, r);
}

static void on_start(void *arg, ctl_runner *r)
{
    ctl_jobs_manager *m = arg;
    m->cache = ctl_runner_cache(r);
    m->mine = store_map_new();
    m->scheds = store_map_new();
}

static void on_stop(void *arg, ctl_runner *r)
{
    ctl_jobs_manager *m = arg;
    store_map_free(m->mine);
    store_map_foreach(m->scheds, free_sched, NULL);
    store_map_free(m->scheds);
    m->mine = m->scheds = NULL;
    m->cache = NULL;
}

/* ---- one pass ---------------------------------------------------------------------------- */

/* What a pass borrows from the cache, and the views built from it. */
typedef struct pass_in {
    ctl_jobs_request req;
    ctl_jobs_deploy *deploys;
    size_t n_deploys;
    ctl_jobs_task *tasks;
    size_t n_tasks;
    ctl_jobs_run *runs;
    size_t n_runs;
    const api_request_status *status; /* borrowed from the cache */
    api_deploy_status *dstatus;       /* shallow copies of the cache's documents */
    size_t n_dstatus;
    const api_job_status *job; /* borrowed from the cache; NULL: none (or unreadable) */
    int64_t job_rev;
    api_run_status *rstatus; /* shallow copies of the cache's documents */
    size_t n_rstatus;
    const char **history; /* archived task ids, oldest first */
    size_t n_history;
    ctl_ignored ignored; /* invalid documents left out of the views */
} pass_in;

static void pass_in_release(pass_in *in)
{
    free(in->deploys);
    free(in->tasks);
    free(in->runs);
    free(in->dstatus);
    free(in->rstatus); /* borrowed members: never released here */
    free(in->history);
    ctl_ignored_release(&in->ignored);
}

static const store_obj *get(const ctl_jobs_manager *m, char *key /* freed */)
{
    const store_obj *o = store_cache_get(m->cache, key);
    free(key);
    return o;
}

static size_t range_of(const ctl_jobs_manager *m, api_key_kind kind, const char *rid,
                       size_t *first)
{
    return ctl_runner_range(m->runner, m->prefix, kind, rid, first);
}

/* The request's parsed schedule, re-parsed only when its inputs change. */
static const api_schedule *schedule_of(ctl_jobs_manager *m, const char *rid, const api_request *r,
                                       const char **error)
{
    sched_entry *e = store_map_get(m->scheds, rid);
    char *inputs;
    cr_err err = {0};

    *error = NULL;
    if (!r || r->type != API_SCHEDULED)
        return NULL;
    inputs = xasprintf("%s|%s|%d|%s", r->schedule ? r->schedule : "",
                       r->quartzSchedule ? r->quartzSchedule : "", (int)r->scheduleType,
                       r->scheduleTimeZone ? r->scheduleTimeZone : "");
    if (e && !strcmp(e->inputs, inputs)) {
        free(inputs);
        *error = e->error;
        return e->s;
    }
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        store_map_put(m->scheds, rid, e);
    }
    free(e->inputs);
    api_schedule_free(e->s);
    free(e->error);
    e->inputs = inputs;
    e->s = api_schedule_for_request(r, &err);
    e->error = e->s ? NULL : xstrdup(cr_err_msg(&err));
    *error = e->error;
    return e->s;
}

static void collect(ctl_jobs_manager *m, const char *rid, pass_in *in, const store_obj *req_obj)
{
    const api_request *r = job_request(req_obj);
    const store_obj *o;
    size_t first, n;
    const char *sched_error = NULL;
    const api_schedule *sched = schedule_of(m, rid, r, &sched_error);
    /* A pause intent that does not decode pauses nothing (in->ignored). */
    bool paused =
        valid_doc(get(m, api_key_intent_request(m->prefix, rid, API_INTENT_PAUSE))) != NULL;

    ctl_ignored_collect(&in->ignored, m->runner, m->prefix, rid);

    if (req_obj)
        ctl_jobs_request_view(r, r ? NULL : req_obj->error, req_obj->mod_revision, paused, sched,
                              sched_error, &in->req);

    if ((o = get(m, api_key_request_status(m->prefix, rid))) && o->doc)
        in->status = o->doc;
    if ((o = get(m, api_key_job_status(m->prefix, rid)))) {
        in->job_rev = o->mod_revision;
        in->job = o->doc;
        if (!in->job) /* rebuilt from scratch; the compare still guards the rewrite */
            cr_warn(m->log, "jobs: request '%s': job status unreadable, rebuilding: %s", rid,
                    o->error ? o->error : "no document");
    }

    /* Deploys and their statuses. */
    n = range_of(m, API_KEY_DEPLOY, rid, &first);
    in->deploys = xcalloc(n + 1, sizeof(*in->deploys));
    in->dstatus = xcalloc(n + 1, sizeof(*in->dstatus));
    for (size_t i = first; i < first + n; i++) {
        const store_obj *dobj = store_cache_at(m->cache, i);
        ctl_jobs_deploy *d = &in->deploys[in->n_deploys++];
        d->id = dobj->id2;
        d->revision = dobj->create_revision;
        d->invalid = invalid_doc(dobj);
        if ((o = get(m, api_key_deploy_status(m->prefix, rid, d->id))) && o->doc)
            in->dstatus[in->n_dstatus++] = *(const api_deploy_status *)o->doc;
    }

    /* Task records (with their kill intents) and pending tasks. */
    size_t tfirst, pfirst;
    size_t nt = range_of(m, API_KEY_TASK, rid, &tfirst);
    size_t np = range_of(m, API_KEY_PENDING, rid, &pfirst);
    in->tasks = xcalloc(nt + np + 1, sizeof(*in->tasks));
    for (size_t i = 0; i < nt; i++) {
        const api_task *t = valid_doc(store_cache_at(m->cache, tfirst + i));
        const api_cleanup *c;
        if (!t)
            continue; /* in in->ignored */
        /* A kill intent that does not decode kills nothing (as for the
         * bridge, which never sends its KILL). */
        o = get(m, api_key_cleanup(m->prefix, t->taskId.id));
        c = valid_doc(o);
        ctl_ignored_add(&in->ignored, o);
        ctl_jobs_task_view(t, c, &in->tasks[in->n_tasks++]);
    }
    for (size_t i = pfirst; i < pfirst + np; i++) {
        const api_pending_task *p = valid_doc(store_cache_at(m->cache, i));
        if (p)
            ctl_jobs_pending_view(p, &in->tasks[in->n_tasks++]);
    }

    in->history = ctl_runner_history(m->runner, m->prefix, rid, &in->n_history);

    /* Runs (strictly valid ones only; the others are in in->ignored) and
     * run statuses. */
    n = range_of(m, API_KEY_RUN, rid, &first);
    in->runs = xcalloc(n + 1, sizeof(*in->runs));
    for (size_t i = first; i < first + n; i++) {
        const store_obj *ro = store_cache_at(m->cache, i);
        if (!valid_doc(ro)) {
            cr_debug(m->log, "jobs: run '%s' ignored: %s", ro->key, invalid_doc(ro));
            continue;
        }
        ctl_jobs_run_view(ro->doc, ro->id2, ro->create_revision, &in->runs[in->n_runs++]);
    }
    n = range_of(m, API_KEY_RUN_STATUS, rid, &first);
    in->rstatus = xcalloc(n + 1, sizeof(*in->rstatus));
    for (size_t i = first; i < first + n; i++) {
        const store_obj *so = store_cache_at(m->cache, i);
        if (so->doc)
            in->rstatus[in->n_rstatus++] = *(const api_run_status *)so->doc;
    }
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *rid, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_jobs_manager *m = arg;
    pass_in in = {0};
    ctl_jobs_plan_out plan;
    const store_obj *req_obj = get(m, api_key_request(m->prefix, rid));
    const api_request *req = job_request(req_obj);

    /* Ours: a job request, or a deleted one last seen as a job. An
     * undecodable request is the service loop's to report. */
    if (req ? !job_type(req->type) : (req_obj || !store_map_has(m->mine, rid)))
        return CTL_PASS_FORGET;

    collect(m, rid, &in, req_obj);
    if (!req_obj && !in.n_tasks && in.status && in.status->state == API_RSTATE_DELETED) {
        sched_entry *e = store_map_del(m->scheds, rid);
        if (e)
            free_sched(NULL, e, NULL);
        pass_in_release(&in);
        store_map_del(m->mine, rid);
        return CTL_PASS_FORGET;
    }
    ctl_jobs_in jin = {
        .request_id = rid,
        .request = req_obj ? &in.req : NULL,
        .deploys = in.deploys,
        .n_deploys = in.n_deploys,
        .tasks = in.tasks,
        .n_tasks = in.n_tasks,
        .runs = in.runs,
        .n_runs = in.n_runs,
        .status = in.status,
        .deploy_status = in.dstatus,
        .n_deploy_status = in.n_dstatus,
        .job = in.job,
        .run_status = in.rstatus,
        .n_run_status = in.n_rstatus,
        .history = in.history,
        .n_history = in.n_history,
        .ignored = ctl_ignored_message(&in.ignored),
        .config = &m->plan_cfg,
        .now = now,
    };
    ctl_jobs_plan(&jin, &plan);
    *requeue_ms = plan.requeue_after_ms;

    ctl_task_lookup tl;
    ctl_doc_lookup look = ctl_task_lookup_init(&tl, r, m->prefix, rid);
    int rc = ctl_jobs_plan_ops(m->prefix, rid, &plan, &look, in.job_rev, now, ops, err);
    ctl_task_lookup_release(&tl);
    for (size_t i = 0; i < plan.n_actions; i++) {
        char *line = ctl_jobs_action_format(&plan.actions[i]);
        cr_debug(m->log, "jobs: %s: %s", rid, line);
        free(line);
    }
    ctl_jobs_plan_release(&plan);
    pass_in_release(&in);
    return rc < 0 ? CTL_PASS_ERROR : CTL_PASS_WRITE;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static const ctl_loop jobs_loop = {
    .name = "jobs",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_start = on_start,
    .on_stop = on_stop,
};

ctl_jobs_manager *ctl_jobs_manager_new(struct event_base *base, store *s, store_leader *leader,
                                       const ctl_jobs_manager_config *cfg, cr_err *err)
{
    const char *prefix;
    ctl_jobs_manager *m;

    if (!base || !s || !leader) {
        cr_error(err, CR_EINVAL, "jobs: base, store and leader are required");
        return NULL;
    }
    if (ctl_loop_prefix("jobs", cfg ? cfg->prefix : NULL, &prefix, err) < 0)
        return NULL;
    m = xcalloc(1, sizeof(*m));
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->plan_cfg = *cfg->plan;
    m->log = cfg ? cfg->log : NULL;
    ctl_runner_config rc = {.prefix = m->prefix,
                            .max_inflight = cfg ? cfg->max_inflight : 0,
                            .resync_ms = cfg ? cfg->resync_ms : 0,
                            .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg ? cfg->cache : NULL, leader, &jobs_loop, m, &rc);
    return m;
}

int ctl_jobs_manager_start(ctl_jobs_manager *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_jobs_manager_stop(ctl_jobs_manager *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_jobs_manager_free(ctl_jobs_manager *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    free(m->prefix);
    free(m);
}

void ctl_jobs_manager_get_stats(const ctl_jobs_manager *m, ctl_jobs_manager_stats *out)
{
    ctl_runner_get_stats(m->runner, out);
}
