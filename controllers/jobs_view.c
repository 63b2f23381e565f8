/* Documents <-> jobs plan views, and jobs plan -> etcd operations (see the
 * last section of jobs.h). */
#include "controllers/jobs.h"

#include <string.h>

#include "base/xalloc.h"

/* Every operation of a pass in one group: its writes land all or none. */
#define ONE_TXN 0

/* ---- run documents ------------------------------------------------------------ */

void ctl_jobs_run_view(const api_run *d, const char *run_id, int64_t create_revision,
                       ctl_jobs_run *out)
{
    memset(out, 0, sizeof(*out));
    out->id = run_id ? run_id : d->runId;
    out->revision = create_revision;
    out->run_at = d->has_runAt ? d->runAt : 0;
    out->args = &d->commandLineArgs;
    out->env = &d->envOverrides;
    out->resources = d->has_resources ? &d->resources : NULL;
    out->user = d->user;
    out->message = d->message;
    out->run_as_user = d->runAsUserOverride;
    out->required_attrs = &d->requiredAgentAttributeOverrides;
    out->allowed_attrs = &d->allowedAgentAttributeOverrides;
    out->skip_healthchecks = d->skipHealthchecks;
}

/* ---- request, pending task, task ---------------------------------------------- */

void ctl_jobs_request_view(const api_request *r, const char *invalid, int64_t revision, bool paused,
                           const api_schedule *sched, const char *sched_error,
                           ctl_jobs_request *out)
{
    memset(out, 0, sizeof(*out));
    out->revision = revision;
    out->invalid = invalid;
    out->paused = paused;
    out->hold_ms = -1;
    if (!r) {
        if (!out->invalid)
            out->invalid = "the request document does not decode";
        return;
    }
    out->id = r->id;
    out->type = r->type;
    out->instances = api_request_eff_instances(r);
    out->num_retries = r->has_numRetriesOnFailure ? r->numRetriesOnFailure : 0;
    out->wait_after_finish_ms = r->has_waitAtLeastMillisAfterTaskFinishesForReschedule
                                    ? r->waitAtLeastMillisAfterTaskFinishesForReschedule
                                    : 0;
    out->time_limit_ms = r->has_taskExecutionTimeLimitMillis ? r->taskExecutionTimeLimitMillis : 0;
    out->starting_deadline_ms =
        r->has_startingDeadlineSeconds ? r->startingDeadlineSeconds * 1000 : 0;
    if (r->has_unreachableTimeoutSeconds)
        out->hold_ms = r->unreachableTimeoutSeconds * 1000;
    out->schedule = sched;
    if (out->invalid)
        return;
    if (r->type != API_SCHEDULED && r->type != API_ON_DEMAND && r->type != API_RUN_ONCE)
        out->invalid = "not a SCHEDULED, ON_DEMAND or RUN_ONCE request";
    else if (r->type == API_SCHEDULED && !sched)
        out->invalid = sched_error ? sched_error : "the schedule does not parse";
}

void ctl_jobs_pending_view(const api_pending_task *p, ctl_jobs_task *out)
{
    memset(out, 0, sizeof(*out));
    out->id = p->pendingTaskId.id;
    out->deploy_id = p->pendingTaskId.deployId;
    out->instance = p->pendingTaskId.instanceNo;
    out->pending = true;
    out->state = API_TASK_STATE_NONE;
    out->launched_at = p->pendingTaskId.createdAt;
    out->pending_type = p->pendingTaskId.pendingType;
    out->run_at = p->pendingTaskId.nextRunAt;
    out->run_id = p->runId;
    out->spec = p;
}

void ctl_jobs_task_view(const api_task *t, const api_cleanup *cleanup, ctl_jobs_task *out)
{
    memset(out, 0, sizeof(*out));
    out->id = t->taskId.id;
    out->deploy_id = t->taskId.deployId;
    out->instance = t->taskId.instanceNo;
    out->state = t->lastTaskState;
    out->launched_at = t->launchedAt;
    out->cleaning = cleanup != NULL;
    out->user_killed =
        cleanup && cleanup->cleanupType && !strncmp(cleanup->cleanupType, "USER_REQUESTED", 14);
    out->has_exit_code = t->has_exitCode;
    out->exit_code = t->exitCode;
    out->message = t->statusMessage;
    out->pending_type = t->pendingTask.pendingTaskId.pendingType;
    out->run_at = t->pendingTask.pendingTaskId.nextRunAt;
    out->run_id = t->pendingTask.runId;
    out->spec = &t->pendingTask;
    for (size_t i = 0; i < t->n_taskUpdates && !out->running_at; i++)
        if (t->taskUpdates[i].taskState == API_TASK_RUNNING)
            out->running_at = t->taskUpdates[i].timestamp;
    if (api_task_state_terminal(t->lastTaskState))
        out->finished_at = t->updatedAt ? t->updatedAt : t->launchedAt;
    out->held_since = api_task_held_since(t);
}

/* ---- writes ---------------------------------------------------------------------- */

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        abort(); /* only on allocation failure */
    return s;
}

int ctl_jobs_plan_ops(const char *prefix, const char *request_id, const ctl_jobs_plan_out *p,
                      const ctl_doc_lookup *look, int64_t job_mod_revision, int64_t now,
                      ctl_ops *ops, cr_err *err)
{
    ctl_ops out = {0}, later = {0};
    size_t group = ops->n ? ops->v[ops->n - 1].group + 1 : 0;

    /* `out` is the guarded group (launches, archives and the statuses that
     * record them); kills, unpends, deploy and request statuses are
     * idempotent on their own and go in `later`, one group each. */
    for (size_t i = 0; i < p->n_actions; i++) {
        const ctl_jobs_action *a = &p->actions[i];
        switch (a->a.type) {
        case CTL_ACT_LAUNCH: {
            api_pending_task *pt = ctl_jobs_pending_task(request_id, a, err);
            if (!pt)
                goto fail;
            ctl_ops_add(&out, CTL_OP_CREATE,
                        api_pending_key(prefix, request_id, pt->pendingTaskId.id),
                        dump(api_pending_task_to_json(pt)), 0, ONE_TXN);
            api_pending_task_free(pt);
            break;
        }
        case CTL_ACT_KILL: {
            api_cleanup *c = xcalloc(1, sizeof(*c));
            if (api_task_id_parse(a->a.task_id, &c->taskId, err) < 0) {
                api_cleanup_free(c);
                goto fail;
            }
            c->cleanupType = xstrdup(a->a.cleanup_type);
            c->message = xstrdup(a->a.message);
            c->user = xstrdup("corral");
            c->timestamp = now;
            ctl_ops_add(&later, CTL_OP_CREATE, api_cleanup_key(prefix, a->a.task_id),
                        dump(api_cleanup_to_json(c)), 0, ONE_TXN);
            api_cleanup_free(c);
            break;
        }
        case CTL_ACT_UNPEND:
            ctl_ops_add(&later, CTL_OP_DELETE, api_pending_key(prefix, request_id, a->a.task_id),
                        NULL, 0, ONE_TXN);
            break;
        case CTL_ACT_FORGET:
            ctl_ops_add(&later, CTL_OP_DELETE,
                        ctl_history_task_key(prefix, request_id, a->a.task_id), NULL, 0, ONE_TXN);
            break;
        case CTL_ACT_ARCHIVE: {
            int64_t rev = 0;
            const char *text =
                look && look->task ? look->task(look->arg, a->a.task_id, &rev) : NULL;
            if (text)
                ctl_ops_add(&out, CTL_OP_PUT,
                            ctl_history_task_key(prefix, request_id, a->a.task_id), xstrdup(text),
                            0, ONE_TXN);
            ctl_ops_add(&out, CTL_OP_DELETE, api_task_key(prefix, request_id, a->a.task_id), NULL,
                        rev, ONE_TXN);
            ctl_ops_add(&out, CTL_OP_DELETE, api_cleanup_key(prefix, a->a.task_id), NULL, 0,
                        ONE_TXN);
            break;
        }
        default:
            break;
        }
    }
    if (p->job_changed)
        ctl_ops_add(&out, job_mod_revision > 0 ? CTL_OP_PUT : CTL_OP_CREATE,
                    ctl_jobs_status_key(prefix, request_id), dump(api_job_status_to_json(&p->job)),
                    job_mod_revision, ONE_TXN);
    for (size_t i = 0; i < p->n_runs; i++)
        if (p->runs[i].changed)
            ctl_ops_add(&out, CTL_OP_PUT,
                        ctl_jobs_run_status_key(prefix, request_id, p->runs[i].status.runId),
                        dump(api_run_status_to_json(&p->runs[i].status)), 0, ONE_TXN);
    for (size_t i = 0; i < p->n_deploys; i++)
        if (p->deploys[i].changed)
            ctl_ops_status(&later, look,
                           api_deploy_status_key(prefix, request_id, p->deploys[i].status.deployId),
                           dump(api_deploy_status_to_json(&p->deploys[i].status)), ONE_TXN);
    if (p->status_changed)
        ctl_ops_status(&later, look, api_request_status_key(prefix, request_id),
                       dump(api_request_status_to_json(&p->status)), ONE_TXN);

    for (size_t i = 0; i < out.n; i++) /* one txn: all or nothing */
        out.v[i].group = group;
    if (out.n)
        group++;
    for (size_t i = 0; i < later.n; i++)
        later.v[i].group = group++;
    ops->v = xrealloc(ops->v, (ops->n + out.n + later.n + 1) * sizeof(*ops->v));
    if (out.n)
        memcpy(ops->v + ops->n, out.v, out.n * sizeof(*out.v));
    ops->n += out.n;
    if (later.n)
        memcpy(ops->v + ops->n, later.v, later.n * sizeof(*later.v));
    ops->n += later.n;
    free(out.v);
    free(later.v);
    return 0;
fail:
    cr_err_prefix(err, "request '%s'", request_id);
    ctl_ops_release(&out);
    ctl_ops_release(&later);
    return -1;
}
