/* Documents <-> plan views and plan -> etcd operations (see view.h). */
#include "controllers/view.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "base/xalloc.h"

/* ---- views ----------------------------------------------------------------------- */

void ctl_request_view(const api_request *r, const char *invalid, int64_t revision,
                      const ctl_request_intents *in, ctl_request *out)
{
    memset(out, 0, sizeof(*out));
    out->revision = revision;
    out->invalid = invalid;
    out->hold_ms = -1; /* the config's, unless the request says */
    if (in) {
        out->paused = in->paused;
        out->bounce = in->bounce;
        out->exit_cooldown = in->exit_cooldown;
    }
    if (!r) {
        if (!out->invalid)
            out->invalid = "the request document does not decode";
        return;
    }
    out->id = r->id;
    out->instances = api_request_eff_instances(r);
    out->hold_ms = r->has_unreachableTimeoutSeconds ? r->unreachableTimeoutSeconds * 1000 : -1;
    if (!out->invalid && !api_request_type_long_running(r->type))
        out->invalid = "not a SERVICE or WORKER request";
}

void ctl_deploy_view(const api_deploy *d, const char *invalid, const api_request *req,
                     int64_t create_revision, const ctl_deploy_intents *in, ctl_deploy *out,
                     ctl_hc_opts *hc, char **problems)
{
    api_problems probs = API_PROBLEMS_INIT;

    memset(out, 0, sizeof(*out));
    *problems = NULL;
    out->revision = create_revision;
    out->invalid = invalid;
    out->auto_advance = true;
    out->health_timeout_ms = API_DEFAULT_DEPLOY_HEALTH_TIMEOUT_S * 1000LL;
    out->healthy_after_ms = API_DEFAULT_CONSIDER_HEALTHY_AFTER_S * 1000LL;
    if (in) {
        out->cancel = in->cancel;
        out->target_override = in->target_instances;
    }
    if (!d) {
        if (!out->invalid)
            out->invalid = "the deploy document does not decode";
        return;
    }
    out->id = d->id;
    if (!out->invalid && api_deploy_validate(d, req, NULL, &probs)) {
        *problems = api_problems_format(&probs);
        out->invalid = *problems;
    }
    api_problems_release(&probs);

    const api_canary *cn = d->canaryDeploySettings;
    if (cn && cn->has_enableCanaryDeploy && cn->enableCanaryDeploy) {
        out->step_size = cn->has_instanceGroupSize ? cn->instanceGroupSize : 1;
        if (cn->acceptanceMode && strcmp(cn->acceptanceMode, "TIMED") == 0 &&
            cn->has_waitMillisBetweenGroups)
            out->step_wait_ms = cn->waitMillisBetweenGroups;
        out->max_task_retries =
            cn->has_allowedTasksFailuresPerGroup ? cn->allowedTasksFailuresPerGroup : 0;
    } else {
        out->step_size = d->has_deployInstanceCountPerStep ? d->deployInstanceCountPerStep : 0;
        out->step_wait_ms = d->has_deployStepWaitTimeMs ? d->deployStepWaitTimeMs : 0;
        out->auto_advance = d->has_autoAdvanceDeploySteps ? d->autoAdvanceDeploySteps : true;
        out->max_task_retries = d->has_maxTaskRetries ? d->maxTaskRetries : 0;
    }
    if (d->has_deployHealthTimeoutSeconds)
        out->health_timeout_ms = d->deployHealthTimeoutSeconds * 1000;
    if (d->has_considerHealthyAfterRunningForSeconds)
        out->healthy_after_ms = d->considerHealthyAfterRunningForSeconds > 0
                                    ? d->considerHealthyAfterRunningForSeconds * 1000
                                    : 0;

    bool skip = d->has_skipHealthchecksOnDeploy
                    ? d->skipHealthchecksOnDeploy
                    : req && req->has_skipHealthchecks && req->skipHealthchecks;
    const api_healthcheck *h = d->healthcheck;
    if (h && h->uri && !skip) {
        ctl_hc_opts o;
        ctl_hc_opts_from_api(h, &o);
        out->http_check = true;
        out->check_budget_ms = ctl_hc_budget_ms(&o);
        if (hc)
            *hc = o;
    } else if (h && h->healthcheckResultFilePath && !skip) {
        out->healthy_after_ms = 0; /* the executor reports RUNNING once the file exists */
    }
}

void ctl_pending_view(const api_pending_task *p, ctl_task *out)
{
    memset(out, 0, sizeof(*out));
    out->id = p->pendingTaskId.id;
    out->deploy_id = p->pendingTaskId.deployId;
    out->instance = p->pendingTaskId.instanceNo;
    out->pending = true;
    out->state = API_TASK_STATE_NONE;
    out->launched_at = p->pendingTaskId.createdAt;
}

void ctl_task_view(const api_task *t, bool cleaning, ctl_health health, ctl_task *out)
{
    memset(out, 0, sizeof(*out));
    out->id = t->taskId.id;
    out->deploy_id = t->taskId.deployId;
    out->instance = t->taskId.instanceNo;
    out->state = t->lastTaskState;
    out->launched_at = t->launchedAt;
    out->cleaning = cleaning;
    out->health = health;
    out->reason = t->statusReason;
    out->message = t->statusMessage;
    for (size_t i = 0; i < t->n_taskUpdates && !out->running_at; i++)
        if (t->taskUpdates[i].taskState == API_TASK_RUNNING)
            out->running_at = t->taskUpdates[i].timestamp;
    if (!out->running_at && t->lastTaskState == API_TASK_RUNNING)
        out->running_at = t->updatedAt ? t->updatedAt : t->launchedAt;
    out->held_since = api_task_held_since(t);
}

bool ctl_agent_decommissioning(const api_machine *agent)
{
    api_machine_state s = agent ? api_machine_current(agent) : API_MSTATE_ACTIVE;
    return s == API_MSTATE_DECOMMISSIONING || s == API_MSTATE_DECOMMISSIONED;
}

bool ctl_agent_spreads(const api_machine *agent, const api_machine *rack,
                       const api_strmap *required)
{
    if (!agent || api_machine_current(agent) != API_MSTATE_ACTIVE ||
        (rack && api_machine_current(rack) != API_MSTATE_ACTIVE))
        return false;
    for (size_t i = 0; required && i < required->n; i++) {
        const char *v = json_string_value(json_object_get(agent->attributes, required->v[i].key));
        if (!v || strcmp(v, required->v[i].value) != 0)
            return false;
    }
    return true;
}

/* ---- writes ---------------------------------------------------------------------- */

void ctl_ops_release(ctl_ops *ops)
{
    for (size_t i = 0; i < ops->n; i++) {
        free(ops->v[i].key);
        free(ops->v[i].value);
    }
    free(ops->v);
    for (size_t i = 0; i < ops->n_then; i++)
        if (ops->then[i].then.drop)
            ops->then[i].then.drop(ops->then[i].then.arg);
    free(ops->then);
    ops->v = NULL;
    ops->n = 0;
    ops->then = NULL;
    ops->n_then = 0;
}

void ctl_ops_add(ctl_ops *ops, ctl_op_type type, char *key, char *value, int64_t mod_revision,
                 size_t group)
{
    ops->v = xrealloc(ops->v, (ops->n + 1) * sizeof(*ops->v));
    ops->v[ops->n++] = (ctl_op){type, key, value, mod_revision, group};
}

size_t ctl_ops_next_group(const ctl_ops *ops)
{
    return ops->n ? ops->v[ops->n - 1].group + 1 : 0;
}

void ctl_ops_then(ctl_ops *ops, size_t group, const ctl_then *then)
{
    if (!then->written || !then->drop)
        abort(); /* a hook that misses one way would leak or never hear */
    ops->then = xrealloc(ops->then, (ops->n_then + 1) * sizeof(*ops->then));
    ops->then[ops->n_then++] = (ctl_then_at){group, *then};
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

char *ctl_history_task_key(const char *prefix, const char *request_id, const char *task_id)
{
    return api_key_history_task(prefix, request_id, task_id);
}

void ctl_ops_status(ctl_ops *out, const ctl_doc_lookup *look, char *key, char *value,
                    size_t group)
{
    int64_t rev = look && look->revision ? look->revision(look->arg, key) : -1;

    if (rev == 0)
        ctl_ops_add(out, CTL_OP_CREATE, key, value, 0, group);
    else
        ctl_ops_add(out, CTL_OP_PUT, key, value, rev > 0 ? rev : 0, group);
}

/* Issue 20: the writes of EXPIRE, UNPAUSE and APPLY_REQUEST (view.h). */
static void request_action_ops(const char *prefix, const char *request_id, const ctl_action *a,
                               const ctl_doc_lookup *look, int64_t now, ctl_ops *out, size_t group)
{
    char *rkey = api_key_request(prefix, request_id);
    int64_t rrev = 0;
    const json_t *req = look && look->doc ? look->doc(look->doc_arg, rkey, &rrev) : NULL;
    json_t *doc = NULL;

    if (a->type == CTL_ACT_APPLY_REQUEST) {
        char *skey = api_key_intent_deploy(prefix, request_id, a->deploy_id, "submit");
        int64_t srev = 0;
        const json_t *sub = look && look->doc ? look->doc(look->doc_arg, skey, &srev) : NULL;
        const json_t *upd = json_object_get(sub, "updatedRequest");
        free(skey);
        if (req && json_is_object(upd)) {
            ctl_ops_add(out, CTL_OP_PUT, xstrdup(rkey), dump(json_deep_copy(upd)), rrev, group);
            ctl_ops_add(out, CTL_OP_DELETE, api_key_intent_request(prefix, request_id, "scale"),
                        NULL, 0, group);
        }
        free(rkey);
        return;
    }
    if (a->type == CTL_ACT_EXPIRE && req && !strcmp(a->intent, "scale"))
        json_object_set_new(doc = json_deep_copy(req), "instances",
                            json_integer(a->revert_instances));
    else if (a->type == CTL_ACT_EXPIRE && req && !strcmp(a->intent, "skip-healthchecks"))
        json_object_set_new(doc = json_deep_copy(req), "skipHealthchecks",
                            json_boolean(a->revert_skip));
    if (doc)
        ctl_ops_add(out, CTL_OP_PUT, xstrdup(rkey), dump(doc), rrev, group);
    ctl_ops_add(out, CTL_OP_DELETE, api_key_intent_request(prefix, request_id, a->intent), NULL,
                a->intent_revision, group);
    if (a->then_bounce && req)
        ctl_ops_add(
            out, CTL_OP_PUT, api_key_intent_request(prefix, request_id, "bounce"),
            dump(json_pack("{s:I, s:b, s:s, s:s}", "timestamp", (json_int_t)now, "incremental", 0,
                           "user", "corral", "message", "bounce after the scale expired")),
            0, group);
    free(rkey);
}

int ctl_plan_ops(const char *prefix, const char *request_id, const ctl_plan *p,
                 const ctl_doc_lookup *look, int64_t now, ctl_ops *ops, cr_err *err)
{
    ctl_ops out = {0};
    size_t group = ops->n ? ops->v[ops->n - 1].group + 1 : 0;
    /* The statuses and a deploy's hand-over (UNPAUSE, APPLY_REQUEST) land
     * together or not at all: a request status naming the new active deploy
     * without that deploy's SUCCEEDED, or the reverse, is never seen, and the
     * hand-over is never lost (the plan acts on activeDeployId's edge). Its
     * number is the first one free after the actions. */
    size_t status_group = group + p->n_actions;

    for (size_t i = 0; i < p->n_actions; i++, group++) {
        const ctl_action *a = &p->actions[i];
        switch (a->type) {
        case CTL_ACT_LAUNCH: {
            api_pending_task pt = {0};
            if (api_pending_task_id_init(&pt.pendingTaskId, request_id, a->deploy_id, a->run_at,
                                         a->instance, a->pending_type, now, err) < 0)
                goto fail;
            pt.message = xstrdup(a->message);
            pt.skipHealthchecks = a->skip_checks;
            ctl_ops_add(&out, CTL_OP_CREATE,
                        api_pending_key(prefix, request_id, pt.pendingTaskId.id),
                        dump(api_pending_task_to_json(&pt)), 0, group);
            api_pending_task_release(&pt);
            break;
        }
        case CTL_ACT_KILL: {
            api_cleanup *c = xcalloc(1, sizeof(*c));
            if (api_task_id_parse(a->task_id, &c->taskId, err) < 0) {
                api_cleanup_free(c);
                goto fail;
            }
            c->cleanupType = xstrdup(a->cleanup_type);
            c->message = xstrdup(a->message);
            c->user = xstrdup("corral");
            c->timestamp = now;
            ctl_ops_add(&out, CTL_OP_CREATE, api_cleanup_key(prefix, a->task_id),
                        dump(api_cleanup_to_json(c)), 0, group);
            api_cleanup_free(c);
            if (a->lb_cleanup)
                ctl_ops_add(&out, CTL_OP_DELETE, api_key_lb_cleanup(prefix, request_id, a->task_id),
                            NULL, 0, group);
            break;
        }
        case CTL_ACT_LB_KILL: {
            /* Singularity's LB cleanup queue entry, in a kill intent's
             * shape: the kill waits for the LB loop to take the task out
             * (docs/loadbalancing.md). */
            api_cleanup *c = xcalloc(1, sizeof(*c));
            if (api_task_id_parse(a->task_id, &c->taskId, err) < 0) {
                api_cleanup_free(c);
                goto fail;
            }
            c->cleanupType = xstrdup(a->cleanup_type);
            c->message = xstrdup(a->message);
            c->user = xstrdup("corral");
            c->timestamp = now;
            ctl_ops_add(&out, CTL_OP_CREATE, api_key_lb_cleanup(prefix, request_id, a->task_id),
                        dump(api_cleanup_to_json(c)), 0, group);
            api_cleanup_free(c);
            break;
        }
        case CTL_ACT_UNPEND:
            ctl_ops_add(&out, CTL_OP_DELETE, api_pending_key(prefix, request_id, a->task_id), NULL,
                        0, group);
            break;
        case CTL_ACT_ARCHIVE: {
            int64_t rev = 0;
            const char *text = look && look->task ? look->task(look->arg, a->task_id, &rev) : NULL;
            if (text)
                ctl_ops_add(&out, CTL_OP_PUT, ctl_history_task_key(prefix, request_id, a->task_id),
                            xstrdup(text), 0, group);
            ctl_ops_add(&out, CTL_OP_DELETE, api_task_key(prefix, request_id, a->task_id), NULL,
                        rev, group);
            ctl_ops_add(&out, CTL_OP_DELETE, api_cleanup_key(prefix, a->task_id), NULL, 0, group);
            if (a->lb_cleanup)
                ctl_ops_add(&out, CTL_OP_DELETE, api_key_lb_cleanup(prefix, request_id, a->task_id),
                            NULL, 0, group);
            break;
        }
        case CTL_ACT_FORGET:
            ctl_ops_add(&out, CTL_OP_DELETE, ctl_history_task_key(prefix, request_id, a->task_id),
                        NULL, 0, group);
            break;
        case CTL_ACT_WITHDRAW: /* only the intent the plan saw */
            if (a->lb_cleanup)
                ctl_ops_add(&out, CTL_OP_DELETE, api_key_lb_cleanup(prefix, request_id, a->task_id),
                            NULL, 0, group);
            else
                ctl_ops_add(&out, CTL_OP_DELETE, api_cleanup_key(prefix, a->task_id), NULL,
                            a->intent_revision, group);
            break;
        case CTL_ACT_EXPIRE:
            request_action_ops(prefix, request_id, a, look, now, &out, group);
            break;
        case CTL_ACT_UNPAUSE:
        case CTL_ACT_APPLY_REQUEST:
            break; /* with the statuses, below */
        }
    }
    /* a group's operations are contiguous (the runner sends each run) */
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].type == CTL_ACT_UNPAUSE || p->actions[i].type == CTL_ACT_APPLY_REQUEST)
            request_action_ops(prefix, request_id, &p->actions[i], look, now, &out, status_group);
    for (size_t i = 0; i < p->n_deploys; i++) {
        const api_deploy_status *ds = &p->deploys[i].status;
        if (!p->deploys[i].changed)
            continue;
        ctl_ops_status(&out, look, api_deploy_status_key(prefix, request_id, ds->deployId),
                       dump(api_deploy_status_to_json(ds)), status_group);
    }
    if (p->status_changed)
        ctl_ops_status(&out, look, api_request_status_key(prefix, request_id),
                       dump(api_request_status_to_json(&p->status)), status_group);

    /* Success: move everything over at once. */
    if (out.n) {
        ops->v = xrealloc(ops->v, (ops->n + out.n) * sizeof(*ops->v));
        memcpy(ops->v + ops->n, out.v, out.n * sizeof(*out.v));
        ops->n += out.n;
    }
    free(out.v);
    return 0;
fail:
    cr_err_prefix(err, "request '%s'", request_id);
    ctl_ops_release(&out);
    return -1;
}
