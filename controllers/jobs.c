/* The jobs plan (see jobs.h for the rules). One pass over a request:
 * outcomes of ended tasks (retries), live tasks (kills), deploys, then the
 * type's launches (scheduled fire, runs, run-once), then the statuses. */
#include "controllers/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "base/buf.h"
#include "base/xalloc.h"

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void set_str(char **dst, const char *src)
{
    if (str_eq(*dst, src))
        return;
    free(*dst);
    *dst = xstrdup(src);
}

/* ---- keys ---------------------------------------------------------------------- */

char *ctl_jobs_status_key(const char *prefix, const char *request_id)
{
    return api_key_job_status(prefix, request_id);
}

char *ctl_jobs_run_status_key(const char *prefix, const char *request_id, const char *run_id)
{
    return api_key_run_status(prefix, request_id, run_id);
}

char *ctl_jobs_run_key(const char *prefix, const char *request_id, const char *run_id)
{
    return api_key_run(prefix, request_id, run_id);
}

/* ---- plan context ---------------------------------------------------------- */

/* Per-pass bounds, so that one pass's guarded writes fit in one etcd txn
 * (STORE_MAX_TXN_OPS): an archive is 3 ops, a launch 1, plus statuses. The
 * rest waits for the next pass, which comes at once. */
#define MAX_ENDED_PER_PASS    16
#define MAX_LAUNCHES_PER_PASS 16
#define MAX_FORGETS_PER_PASS  64

typedef struct jctx {
    const ctl_jobs_in *in;
    ctl_jobs_plan_out *out;
    const ctl_jobs_request *r; /* NULL: deleted */
    const ctl_jobs_deploy *active;
    int64_t now;
    int64_t requeue; /* absolute; 0 = none */
    int live;        /* live tasks, counting launches of this pass */
    int pending;     /* pending documents, counting launches of this pass */
    int killing;     /* live tasks with a kill intent (old or new) */
    int launches;    /* launches planned in this pass */
    int ended;       /* ended tasks handled in this pass */
    bool *inst_used; /* instance numbers taken by live tasks (ON_DEMAND) */
    int inst_cap;
} jctx;

static void requeue_at(jctx *c, int64_t at)
{
    if (at <= c->now)
        at = c->now + 1;
    if (!c->requeue || at < c->requeue)
        c->requeue = at;
}

static ctl_jobs_action *add_action(jctx *c, ctl_action_type type)
{
    ctl_jobs_plan_out *p = c->out;
    ctl_jobs_action *a;

    p->actions = xrealloc(p->actions, (p->n_actions + 1) * sizeof(*p->actions));
    a = &p->actions[p->n_actions++];
    memset(a, 0, sizeof(*a));
    a->a.type = type;
    return a;
}

static void kill_task(jctx *c, const ctl_jobs_task *t, const char *cleanup_type, const char *msg)
{
    ctl_jobs_action *a;

    if (t->cleaning)
        return; /* a kill intent already exists */
    a = add_action(c, t->pending ? CTL_ACT_UNPEND : CTL_ACT_KILL);
    a->a.task_id = xstrdup(t->id);
    a->a.cleanup_type = cleanup_type;
    a->a.message = xstrdup(msg);
    if (!t->pending) {
        c->killing++;
    } else { /* gone with this plan's writes */
        c->live--;
        c->pending--;
    }
}

/* Pending task id, as the shell will format it (apis/task.h). */
static char *pending_id(const char *request_id, const ctl_jobs_action *a)
{
    return xasprintf("%s-%s-%lld-%d-%s-%lld", request_id, a->a.deploy_id, (long long)a->a.run_at,
                     a->a.instance, a->a.pending_type, (long long)a->created_at);
}

static ctl_jobs_action *launch(jctx *c, const char *deploy_id, int instance, const char *type,
                               int64_t run_at, int64_t created_at)
{
    ctl_jobs_action *a = add_action(c, CTL_ACT_LAUNCH);

    a->a.deploy_id = xstrdup(deploy_id);
    a->a.instance = instance;
    a->a.pending_type = type;
    a->a.run_at = run_at;
    a->created_at = created_at;
    c->launches++;
    c->out->job.tasksLaunched++;
    c->live++;
    c->pending++;
    return a;
}

static ctl_jobs_run_out *find_run(jctx *c, const char *run_id)
{
    for (size_t i = 0; i < c->out->n_runs; i++)
        if (str_eq(c->out->runs[i].status.runId, run_id))
            return &c->out->runs[i];
    return NULL;
}

/* The run status of run_id, created (QUEUED, queued now) if absent. */
static ctl_jobs_run_out *run_out(jctx *c, const char *run_id)
{
    ctl_jobs_plan_out *p = c->out;
    ctl_jobs_run_out *o = find_run(c, run_id);

    if (o)
        return o;
    p->runs = xrealloc(p->runs, (p->n_runs + 1) * sizeof(*p->runs));
    o = &p->runs[p->n_runs++];
    memset(o, 0, sizeof(*o));
    api_run_status_init(&o->status);
    o->status.requestId = xstrdup(c->in->request_id);
    o->status.runId = xstrdup(run_id);
    o->status.state = xstrdup(API_RUN_STATE_QUEUED);
    o->status.queuedAt = c->now;
    return o;
}

static ctl_deploy_out *deploy_out(jctx *c, const char *id)
{
    ctl_jobs_plan_out *p = c->out;
    ctl_deploy_out *d;

    for (size_t i = 0; i < p->n_deploys; i++)
        if (str_eq(p->deploys[i].status.deployId, id))
            return &p->deploys[i];
    p->deploys = xrealloc(p->deploys, (p->n_deploys + 1) * sizeof(*p->deploys));
    d = &p->deploys[p->n_deploys++];
    memset(d, 0, sizeof(*d));
    d->status.requestId = xstrdup(c->in->request_id);
    d->status.deployId = xstrdup(id);
    d->status.state = API_DSTATE_WAITING;
    d->status.startedAt = c->now;
    d->changed = true;
    return d;
}

static void deploy_finish(jctx *c, ctl_deploy_out *d, api_deploy_state st, const char *msg)
{
    if (d->status.state == st && str_eq(d->status.message, msg))
        return;
    d->status.state = st;
    set_str(&d->status.message, msg);
    if (api_deploy_state_terminal(st) && !d->status.finishedAt)
        d->status.finishedAt = c->now;
    d->status.updatedAt = c->now;
    d->changed = true;
}

static bool lost_state(api_task_state s)
{
    return s == API_TASK_LOST || s == API_TASK_LOST_WHILE_DOWN || s == API_TASK_GONE ||
           s == API_TASK_GONE_BY_OPERATOR || s == API_TASK_DROPPED || s == API_TASK_UNREACHABLE ||
           s == API_TASK_UNKNOWN;
}

static bool success_state(const ctl_jobs_task *t)
{
    return t->state == API_TASK_FINISHED && (!t->has_exit_code || t->exit_code == 0);
}

static void skip_fire(jctx *c, const char *reason)
{
    api_job_status *j = &c->out->job;

    j->missedRuns++;
    j->lastMissedAt = j->nextFireAt;
    set_str(&j->lastMissedReason, reason);
}

static int64_t next_fire(const jctx *c, int64_t after)
{
    return api_schedule_next(c->r->schedule, after);
}

/* ---- phases ------------------------------------------------------------------ */

/* Records the outcome of an ended task, retries it if the rules allow, and
 * archives it. */
static void task_ended(jctx *c, const ctl_jobs_task *t)
{
    const ctl_jobs_request *r = c->r;
    api_job_status *job = &c->out->job;
    ctl_jobs_run_out *ro = t->run_id ? run_out(c, t->run_id) : NULL;
    api_job_result res = {0};
    bool seen, relaunch = false, counted = false;
    int retries = ro ? ro->status.retries : (r && r->type == API_SCHEDULED ? job->retries : 0);
    ctl_jobs_action *a;

    a = add_action(c, CTL_ACT_ARCHIVE);
    a->a.task_id = xstrdup(t->id);
    /* Already accounted for (our status write landed before the archive
     * reached this cache): only archive again. */
    seen = ro ? str_eq(ro->status.result.taskId, t->id) : str_eq(job->lastRun.taskId, t->id);
    if (seen)
        return;

    res.taskId = (char *)t->id;
    res.deployId = (char *)t->deploy_id;
    res.runId = (char *)t->run_id;
    res.pendingType = (char *)t->pending_type;
    res.fireAt = t->run_at;
    res.startedAt = t->launched_at;
    res.finishedAt = t->finished_at;
    res.durationMillis = t->finished_at > t->launched_at ? t->finished_at - t->launched_at : 0;
    res.state = t->state;
    res.has_exitCode = t->has_exit_code;
    res.exitCode = t->exit_code;
    res.success = success_state(t);
    res.attempt = retries + 1;
    res.message = (char *)t->message;

    /* A kill is always deliberate (user, pause, deletion, time limit). */
    if (!res.success && r && !r->invalid && !r->paused && r->type != API_RUN_ONCE &&
        !t->user_killed && t->state != API_TASK_KILLED) {
        if (lost_state(t->state)) {
            relaunch = true; /* the cluster lost it: not the job's fault */
        } else if (retries < r->num_retries &&
                   !(r->type == API_SCHEDULED && str_eq(t->pending_type, "IMMEDIATE"))) {
            relaunch = counted = true;
        }
    }
    res.retried = relaunch;
    if (relaunch) {
        const api_pending_task *sp = t->spec;
        a = launch(c, t->deploy_id, t->instance > 0 ? t->instance : 1,
                   counted ? "RETRY" : "TASK_RECOVERED", c->now,
                   t->finished_at > 0 ? t->finished_at : c->now);
        a->run_id = t->run_id;
        if (sp) {
            a->args = sp->cmdLineArgsList.n ? &sp->cmdLineArgsList : NULL;
            a->env = sp->envOverrides.n ? &sp->envOverrides : NULL;
            a->resources = sp->has_resources ? &sp->resources : NULL;
            a->user = sp->user;
            a->run_as_user = sp->runAsUserOverride;
            a->required_attrs =
                sp->requiredAgentAttributeOverrides.n ? &sp->requiredAgentAttributeOverrides : NULL;
            a->allowed_attrs =
                sp->allowedAgentAttributeOverrides.n ? &sp->allowedAgentAttributeOverrides : NULL;
            a->a.skip_checks = sp->skipHealthchecks;
            a->a.message = xstrdup(sp->message);
        }
        if (c->inst_used && a->a.instance <= c->inst_cap)
            c->inst_used[a->a.instance] = true;
        if (counted) {
            if (ro)
                ro->status.retries++;
            else if (r->type == API_SCHEDULED)
                job->retries++;
        }
        if (ro) {
            char *pid = pending_id(c->in->request_id, a);
            set_str(&ro->status.state, API_RUN_STATE_LAUNCHING);
            free(ro->status.taskId);
            ro->status.taskId = pid;
            set_str(&ro->status.message, counted ? "retrying after a failure"
                                                 : "relaunching a task lost by the cluster");
        }
    } else {
        if (res.success)
            job->runsSucceeded++;
        else
            job->runsFailed++;
        if (!ro && r && r->type == API_SCHEDULED)
            job->retries = 0;
        if (ro) {
            set_str(&ro->status.state,
                    res.success ? API_RUN_STATE_SUCCEEDED : API_RUN_STATE_FAILED);
            set_str(&ro->status.taskId, t->id);
            set_str(&ro->status.message, res.success ? "finished" : "failed");
        }
    }
    if (ro) {
        api_job_result_release(&ro->status.result);
        api_job_result_copy(&ro->status.result, &res);
        ro->status.has_result = true;
    }
    if (!job->lastRun.taskId || t->finished_at >= job->lastRun.finishedAt) {
        api_job_result_release(&job->lastRun);
        api_job_result_copy(&job->lastRun, &res);
        job->has_lastRun = true;
    }
}

/* Live task: deletion/pause kills, the time limit, run progress. */
static void task_live(jctx *c, const ctl_jobs_task *t)
{
    const ctl_jobs_request *r = c->r;

    c->live++;
    if (t->pending)
        c->pending++;
    else if (t->cleaning)
        c->killing++;
    if (c->inst_used && t->instance >= 1 && t->instance <= c->inst_cap)
        c->inst_used[t->instance] = true;
    if (!r) {
        kill_task(c, t, "REQUEST_DELETING", "the request was deleted");
        return;
    }
    if (r->paused) {
        kill_task(c, t, "PAUSE", "the request is paused");
        return;
    }
    if (!t->pending && r->time_limit_ms > 0 && !t->cleaning) {
        int64_t deadline = t->launched_at + r->time_limit_ms;
        if (c->now >= deadline)
            kill_task(c, t, "TASK_EXCEEDED_TIME_LIMIT",
                      "the task ran past taskExecutionTimeLimitMillis");
        else
            requeue_at(c, deadline);
    }
    if (t->run_id) {
        ctl_jobs_run_out *ro = run_out(c, t->run_id);
        set_str(&ro->status.state, !t->pending && t->state == API_TASK_RUNNING
                                       ? API_RUN_STATE_RUNNING
                                       : API_RUN_STATE_LAUNCHING);
        set_str(&ro->status.taskId, t->id);
        if (!t->pending && t->state == API_TASK_RUNNING)
            set_str(&ro->status.message, NULL);
    }
}

static void plan_deploys(jctx *c)
{
    const ctl_jobs_in *in = c->in;

    for (size_t i = 0; i < in->n_deploys; i++) {
        const ctl_jobs_deploy *d = &in->deploys[i];
        if (!d->invalid && (!c->active || d->revision > c->active->revision))
            c->active = d;
    }
    if (!c->r || c->r->invalid)
        return;
    for (size_t i = 0; i < in->n_deploys; i++) {
        const ctl_jobs_deploy *d = &in->deploys[i];
        ctl_deploy_out *o = deploy_out(c, d->id);
        if (api_deploy_state_terminal(o->status.state))
            continue;
        if (d->invalid)
            deploy_finish(c, o, API_DSTATE_FAILED, d->invalid);
        else if (c->r->type == API_RUN_ONCE)
            continue; /* plan_run_once decides */
        else if (d == c->active)
            deploy_finish(c, o, API_DSTATE_SUCCEEDED,
                          "deploys of job requests succeed at once; running tasks are kept");
        else
            deploy_finish(c, o, API_DSTATE_SUPERSEDED, "a newer deploy replaced it");
    }
}

static void plan_scheduled(jctx *c)
{
    const ctl_jobs_request *r = c->r;
    api_job_status *job = &c->out->job;
    const api_schedule *s = r->schedule;
    char *key = xasprintf("%s %s", api_schedule_quartz(s), api_tz_name(api_schedule_tz(s)));
    int64_t nf;

    if (!str_eq(job->schedule, key) || job->nextFireAt == 0) {
        /* New request or new schedule: the first fire after now. */
        set_str(&job->schedule, key);
        job->nextFireAt = next_fire(c, c->now);
    }
    free(key);
    nf = job->nextFireAt;
    if (nf < 0 || nf > c->now)
        goto out;
    if (r->paused) {
        skip_fire(c, "Paused");
    } else if (c->live > 0) {
        skip_fire(c, "Overlap");
    } else if (!c->active) {
        goto out; /* held until a deploy exists */
    } else if (r->wait_after_finish_ms > 0 && job->lastRun.taskId &&
               job->lastRun.finishedAt + r->wait_after_finish_ms > c->now) {
        requeue_at(c, job->lastRun.finishedAt + r->wait_after_finish_ms);
        goto out; /* held: runs no sooner than that after the last task */
    } else if (r->starting_deadline_ms > 0 && c->now - nf > r->starting_deadline_ms) {
        skip_fire(c, "DeadlineExceeded");
    } else {
        launch(c, c->active->id, 1, "TASK_DONE", nf, nf);
        job->lastFireAt = nf;
        job->retries = 0;
        job->runsLaunched++;
    }
    /* Fires that passed meanwhile collapse into the one just handled. */
    job->nextFireAt = next_fire(c, c->now);
out:
    if (job->nextFireAt > c->now)
        requeue_at(c, job->nextFireAt);
}

static int cmp_runs(const void *pa, const void *pb)
{
    const ctl_jobs_run *a = *(const ctl_jobs_run *const *)pa, *b = *(const ctl_jobs_run *const *)pb;

    if (a->run_at != b->run_at)
        return a->run_at < b->run_at ? -1 : 1;
    if (a->revision != b->revision)
        return a->revision < b->revision ? -1 : 1;
    return strcmp(a->id, b->id);
}

static void plan_runs(jctx *c)
{
    const ctl_jobs_in *in = c->in;
    const ctl_jobs_request *r = c->r;
    const ctl_jobs_run **queue = xcalloc(in->n_runs ? in->n_runs : 1, sizeof(*queue));
    size_t nq = 0;
    int cap = r->type == API_SCHEDULED ? 1 : (r->instances > 0 ? r->instances : 1);
    char msg[128];

    if (r->type == API_ON_DEMAND && in->config && in->config->max_on_demand_tasks > 0 &&
        in->config->max_on_demand_tasks < cap)
        cap = in->config->max_on_demand_tasks;
    for (size_t i = 0; i < in->n_runs; i++) {
        ctl_jobs_run_out *ro = run_out(c, in->runs[i].id);
        if (r->type != API_SCHEDULED && r->type != API_ON_DEMAND) {
            if (str_eq(ro->status.state, API_RUN_STATE_QUEUED)) {
                set_str(&ro->status.state, API_RUN_STATE_REJECTED);
                set_str(&ro->status.message,
                        "runs are only allowed for SCHEDULED and ON_DEMAND requests");
            }
            continue;
        }
        if (str_eq(ro->status.state, API_RUN_STATE_QUEUED))
            queue[nq++] = &in->runs[i];
    }
    /* A queued run whose document was deleted will never launch. */
    for (size_t i = 0; i < c->out->n_runs; i++) {
        api_run_status *rs = &c->out->runs[i].status;
        bool has_doc = false;
        for (size_t k = 0; k < in->n_runs && !has_doc; k++)
            has_doc = str_eq(in->runs[k].id, rs->runId);
        if (!has_doc && str_eq(rs->state, API_RUN_STATE_QUEUED)) {
            set_str(&rs->state, API_RUN_STATE_CANCELED);
            set_str(&rs->message, "the run document was deleted before it ran");
        }
    }
    qsort(queue, nq, sizeof(*queue), cmp_runs);
    for (size_t i = 0; i < nq; i++) {
        const ctl_jobs_run *run = queue[i];
        ctl_jobs_run_out *ro = run_out(c, run->id);
        ctl_jobs_action *a;
        int inst = 1;

        if (run->run_at > c->now) {
            requeue_at(c, run->run_at);
            set_str(&ro->status.message, "waiting for runAt");
            continue;
        }
        if (r->paused) {
            set_str(&ro->status.message, "waiting: the request is paused");
            continue;
        }
        if (c->live >= cap) {
            snprintf(msg, sizeof(msg), "waiting for capacity: %d of %d tasks running", c->live,
                     cap);
            set_str(&ro->status.message, msg);
            continue;
        }
        if (!c->active) {
            set_str(&ro->status.message, "waiting for a deploy");
            continue;
        }
        if (c->launches >= MAX_LAUNCHES_PER_PASS) {
            requeue_at(c, c->now + 1);
            continue;
        }
        if (c->inst_used) /* lowest free instance number */
            for (inst = 1; inst < c->inst_cap && c->inst_used[inst]; inst++)
                ;
        /* now, not queuedAt: runs queued together must get distinct ids */
        a = launch(c, c->active->id, inst, r->type == API_SCHEDULED ? "IMMEDIATE" : "ONEOFF",
                   c->now, c->now);
        if (c->inst_used)
            c->inst_used[inst] = true;
        a->run_id = run->id;
        a->args = run->args && run->args->n ? run->args : NULL;
        a->env = run->env && run->env->n ? run->env : NULL;
        a->resources = run->resources;
        a->user = run->user;
        a->run_as_user = run->run_as_user;
        a->required_attrs =
            run->required_attrs && run->required_attrs->n ? run->required_attrs : NULL;
        a->allowed_attrs = run->allowed_attrs && run->allowed_attrs->n ? run->allowed_attrs : NULL;
        a->a.skip_checks = run->skip_healthchecks;
        a->a.message = xstrdup(run->message);
        set_str(&ro->status.state, API_RUN_STATE_LAUNCHING);
        free(ro->status.taskId);
        ro->status.taskId = pending_id(in->request_id, a);
        set_str(&ro->status.message, NULL);
    }
    free(queue);
}

static void plan_run_once(jctx *c)
{
    const ctl_jobs_in *in = c->in;

    for (size_t i = 0; i < in->n_deploys; i++) {
        const ctl_jobs_deploy *d = &in->deploys[i];
        ctl_deploy_out *o = deploy_out(c, d->id);
        bool has_task = false;

        if (d->invalid || api_deploy_state_terminal(o->status.state))
            continue;
        for (size_t k = 0; k < in->n_tasks && !has_task; k++)
            has_task = str_eq(in->tasks[k].deploy_id, d->id);
        if (!has_task) {
            if (c->r->paused)
                continue;
            if (c->launches >= MAX_LAUNCHES_PER_PASS) {
                requeue_at(c, c->now + 1);
                continue;
            }
            launch(c, d->id, 1, "NEW_DEPLOY", c->now, c->now);
        }
        deploy_finish(c, o, API_DSTATE_SUCCEEDED, "launched its one task");
    }
}

/* Keeps at most history_max archived tasks, counting this pass's. */
static void plan_history(jctx *c)
{
    const ctl_jobs_in *in = c->in;
    size_t max = in->config && in->config->history_max ? in->config->history_max : 100;
    size_t archived = 0, total, drop;

    for (size_t i = 0; i < c->out->n_actions; i++)
        archived += c->out->actions[i].a.type == CTL_ACT_ARCHIVE;
    total = in->n_history + archived;
    drop = total > max ? total - max : 0;
    if (drop > in->n_history)
        drop = in->n_history;
    if (drop > MAX_FORGETS_PER_PASS) {
        drop = MAX_FORGETS_PER_PASS;
        requeue_at(c, c->now + 1);
    }
    for (size_t i = 0; i < drop; i++) {
        ctl_jobs_action *a = add_action(c, CTL_ACT_FORGET);
        a->a.task_id = xstrdup(in->history[i]);
    }
}

static void plan_status(jctx *c)
{
    const ctl_jobs_in *in = c->in;
    const ctl_jobs_request *r = c->r;
    api_request_status *s = &c->out->status;
    api_request_state st;
    int running = 0, launching = 0;

    if (!r)
        st = c->live ? API_RSTATE_DELETING : API_RSTATE_DELETED;
    else if (r->paused)
        st = API_RSTATE_PAUSED;
    else if (r->type == API_SCHEDULED && !r->invalid && c->out->job.nextFireAt < 0)
        st = API_RSTATE_FINISHED;
    else
        st = API_RSTATE_ACTIVE;
    s->state = st;
    if (c->active)
        set_str(&s->activeDeployId, c->active->id);
    set_str(&s->pendingDeployId, NULL);
    if (r)
        s->observedRevision = r->revision;
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_jobs_task *t = &in->tasks[i];
        if (t->pending || api_task_state_terminal(t->state))
            continue;
        if (t->state == API_TASK_RUNNING)
            running++;
        else
            launching++;
    }
    s->counts.instances = r ? (r->type == API_ON_DEMAND ? r->instances : 1) : 0;
    s->counts.pending = c->pending;
    s->counts.launching = launching;
    s->counts.running = running;
    s->counts.healthy = 0;
    s->counts.cleaning = c->killing;
    if (!r)
        api_conditions_set(&s->conditions, API_COND_VALID, API_COND_FALSE, "Deleted",
                           "the request was deleted", c->now);
    else if (r->invalid)
        api_conditions_set(&s->conditions, API_COND_VALID, API_COND_FALSE, "InvalidRequest",
                           r->invalid, c->now);
    else
        api_conditions_set(&s->conditions, API_COND_VALID, API_COND_TRUE, "Valid", NULL, c->now);
    ctl_documents_condition(&s->conditions, in->ignored, c->now);
    c->out->status_changed = !in->status || !api_request_status_equal(in->status, s);
    if (c->out->status_changed)
        s->updatedAt = c->now;
}

static bool json_same(json_t *a, json_t *b)
{
    bool eq = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

/* Issue 24: a held task (UNREACHABLE/UNKNOWN) whose hold has ended is seen
 * by the plan as TASK_LOST: archived and relaunched as a loss. Returns a
 * copy of the tasks when one changed (caller frees), else NULL; *requeue
 * gets the end of the earliest hold still running (0: none). */
static ctl_jobs_task *expire_held(const ctl_jobs_in *in, int64_t *requeue)
{
    const ctl_jobs_config *cfg = in->config;
    int64_t hold = cfg && cfg->unreachable_timeout_ms ? cfg->unreachable_timeout_ms : 600 * 1000;
    ctl_jobs_task *copy = NULL;

    if (in->request && in->request->hold_ms >= 0)
        hold = in->request->hold_ms;
    if (hold < 0)
        hold = 0;
    *requeue = 0;
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_jobs_task *t = &in->tasks[i];
        if (t->pending || !api_task_state_held(t->state))
            continue;
        if (in->now - t->held_since < hold) {
            if (!*requeue || t->held_since + hold < *requeue)
                *requeue = t->held_since + hold;
            continue;
        }
        if (!copy) {
            copy = xcalloc(in->n_tasks, sizeof(*copy));
            memcpy(copy, in->tasks, in->n_tasks * sizeof(*copy));
        }
        copy[i].state = API_TASK_LOST;
        copy[i].finished_at = in->now;
    }
    return copy;
}

void ctl_jobs_plan(const ctl_jobs_in *in_orig, ctl_jobs_plan_out *out)
{
    int64_t held_until;
    ctl_jobs_task *expired = expire_held(in_orig, &held_until);
    ctl_jobs_in in_copy = *in_orig;
    if (expired)
        in_copy.tasks = expired;
    const ctl_jobs_in *in = &in_copy;
    jctx c = {.in = in, .out = out, .r = in->request, .now = in->now};
    ctl_jobs_plan_out *p = out;
    const ctl_jobs_request *r = in->request;

    memset(out, 0, sizeof(*out));
    if (in->status)
        api_request_status_copy(&p->status, in->status);
    set_str(&p->status.requestId, in->request_id);
    if (in->job)
        api_job_status_copy(&p->job, in->job);
    else
        api_job_status_init(&p->job);
    set_str(&p->job.requestId, in->request_id);
    for (size_t i = 0; i < in->n_deploy_status; i++) {
        ctl_deploy_out *d;
        p->deploys = xrealloc(p->deploys, (p->n_deploys + 1) * sizeof(*p->deploys));
        d = &p->deploys[p->n_deploys++];
        memset(d, 0, sizeof(*d));
        api_deploy_status_copy(&d->status, &in->deploy_status[i]);
    }
    for (size_t i = 0; i < in->n_run_status; i++) {
        ctl_jobs_run_out *o;
        p->runs = xrealloc(p->runs, (p->n_runs + 1) * sizeof(*p->runs));
        o = &p->runs[p->n_runs++];
        memset(o, 0, sizeof(*o));
        api_run_status_copy(&o->status, &in->run_status[i]);
    }
    if (r && r->type == API_ON_DEMAND) {
        c.inst_cap = (int)in->n_tasks + (int)in->n_runs + (r->instances > 0 ? r->instances : 1) + 2;
        c.inst_used = xcalloc((size_t)c.inst_cap + 1, sizeof(bool));
    }
    plan_deploys(&c);
    /* Live tasks first, so retries see the instance numbers in use. */
    for (size_t i = 0; i < in->n_tasks; i++)
        if (in->tasks[i].pending || !api_task_state_terminal(in->tasks[i].state))
            task_live(&c, &in->tasks[i]);
    for (size_t i = 0; i < in->n_tasks; i++) {
        if (in->tasks[i].pending || !api_task_state_terminal(in->tasks[i].state))
            continue;
        if (c.ended++ >= MAX_ENDED_PER_PASS) {
            requeue_at(&c, c.now + 1); /* the others next pass */
            break;
        }
        task_ended(&c, &in->tasks[i]);
    }
    plan_history(&c);
    if (r && !r->invalid) {
        if (r->type == API_SCHEDULED && r->schedule)
            plan_scheduled(&c);
        if (r->type == API_RUN_ONCE)
            plan_run_once(&c);
        plan_runs(&c);
    }
    plan_status(&c);
    free(c.inst_used);

    p->job_changed =
        !in->job || !json_same(api_job_status_to_json(in->job), api_job_status_to_json(&p->job));
    for (size_t i = 0; i < p->n_runs; i++) {
        ctl_jobs_run_out *o = &p->runs[i];
        o->changed =
            i >= in->n_run_status || !json_same(api_run_status_to_json(&in->run_status[i]),
                                                api_run_status_to_json(&o->status));
    }
    for (size_t i = 0; i < p->n_deploys && i < in->n_deploy_status; i++)
        if (p->deploys[i].changed &&
            api_deploy_status_equal(&in->deploy_status[i], &p->deploys[i].status))
            p->deploys[i].changed = false;
    if (held_until)
        requeue_at(&c, held_until);
    p->requeue_after_ms = c.requeue ? c.requeue - in->now : 0;
    free(expired);
}

void ctl_jobs_plan_release(ctl_jobs_plan_out *p)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        free(p->actions[i].a.task_id);
        free(p->actions[i].a.deploy_id);
        free(p->actions[i].a.message);
    }
    free(p->actions);
    api_request_status_release(&p->status);
    for (size_t i = 0; i < p->n_deploys; i++)
        api_deploy_status_release(&p->deploys[i].status);
    free(p->deploys);
    api_job_status_release(&p->job);
    for (size_t i = 0; i < p->n_runs; i++)
        api_run_status_release(&p->runs[i].status);
    free(p->runs);
    memset(p, 0, sizeof(*p));
}

char *ctl_jobs_action_format(const ctl_jobs_action *a)
{
    cr_buf b;

    cr_buf_init(&b);
    switch (a->a.type) {
    case CTL_ACT_LAUNCH:
        cr_buf_addf(&b, "launch %s %d %s at=%lld", a->a.deploy_id, a->a.instance, a->a.pending_type,
                    (long long)a->a.run_at);
        if (a->run_id)
            cr_buf_addf(&b, " run=%s", a->run_id);
        if (a->args) {
            cr_buf_adds(&b, " args=");
            for (size_t i = 0; i < a->args->n; i++)
                cr_buf_addf(&b, "%s%s", i ? "," : "", a->args->v[i]);
        }
        if (a->env) {
            cr_buf_adds(&b, " env=");
            for (size_t i = 0; i < a->env->n; i++)
                cr_buf_addf(&b, "%s%s=%s", i ? "," : "", a->env->v[i].key, a->env->v[i].value);
        }
        if (a->resources && a->resources->has_cpus)
            cr_buf_addf(&b, " cpus=%g", a->resources->cpus);
        if (a->resources && a->resources->has_memoryMb)
            cr_buf_addf(&b, " mem=%g", a->resources->memoryMb);
        break;
    case CTL_ACT_KILL:
        cr_buf_addf(&b, "kill %s %s", a->a.task_id, a->a.cleanup_type);
        break;
    case CTL_ACT_UNPEND:
        cr_buf_addf(&b, "unpend %s %s", a->a.task_id, a->a.cleanup_type);
        break;
    case CTL_ACT_ARCHIVE:
        cr_buf_addf(&b, "archive %s", a->a.task_id);
        break;
    case CTL_ACT_FORGET:
        cr_buf_addf(&b, "forget %s", a->a.task_id);
        break;
    default:
        cr_buf_addf(&b, "action %d", (int)a->a.type);
    }
    return cr_buf_detach(&b, NULL);
}

api_pending_task *ctl_jobs_pending_task(const char *request_id, const ctl_jobs_action *a,
                                        cr_err *err)
{
    api_pending_task *p;

    if (a->a.type != CTL_ACT_LAUNCH) {
        cr_error(err, CR_EINVAL, "not a launch action");
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    if (api_pending_task_id_init(&p->pendingTaskId, request_id, a->a.deploy_id, a->a.run_at,
                                 a->a.instance, a->a.pending_type, a->created_at, err) < 0) {
        api_pending_task_free(p);
        return NULL;
    }
    p->runId = xstrdup(a->run_id);
    p->user = xstrdup(a->user);
    p->runAsUserOverride = xstrdup(a->run_as_user);
    if (a->required_attrs)
        for (size_t i = 0; i < a->required_attrs->n; i++)
            api_strmap_set(&p->requiredAgentAttributeOverrides, a->required_attrs->v[i].key,
                           a->required_attrs->v[i].value);
    if (a->allowed_attrs)
        for (size_t i = 0; i < a->allowed_attrs->n; i++)
            api_strmap_set(&p->allowedAgentAttributeOverrides, a->allowed_attrs->v[i].key,
                           a->allowed_attrs->v[i].value);
    p->message = xstrdup(a->a.message);
    p->skipHealthchecks = a->a.skip_checks;
    if (a->args)
        for (size_t i = 0; i < a->args->n; i++)
            api_strlist_add(&p->cmdLineArgsList, a->args->v[i]);
    if (a->env)
        for (size_t i = 0; i < a->env->n; i++)
            api_strmap_set(&p->envOverrides, a->env->v[i].key, a->env->v[i].value);
    if (a->resources) {
        p->has_resources = true;
        p->resources = *a->resources;
    }
    return p;
}
