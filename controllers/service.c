/* The service/worker plan (see plan.h for the rules). The plan runs in
 * phases over one request: archive terminal tasks, pick the active and the
 * pending deploy, advance the pending deploy's state machine, track
 * cooldown, then compute task actions from the resulting targets, and
 * finally counts and conditions. */
#include "controllers/plan.h"

#include <stdio.h>
#include <string.h>

#include "apis/intent.h"
#include "base/buf.h"
#include "base/xalloc.h"

void ctl_config_defaults(ctl_config *c)
{
    c->cooldown_failures = 5;
    c->cooldown_window_ms = 60 * 1000;
    c->cooldown_delay_ms = 120 * 1000;
    c->cooldown_exit_ms = 180 * 1000;
    c->new_task_run_timeout_ms = 600 * 1000;
    c->history_max = 100;
    c->unreachable_timeout_ms = 600 * 1000; /* issue 24: held UNREACHABLE/UNKNOWN tasks */
    c->lb_drain_ms = 5 * 1000;
}

bool ctl_task_app_failure(api_task_state s)
{
    return s == API_TASK_FAILED || s == API_TASK_ERROR || s == API_TASK_FINISHED;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* ---- plan context ---------------------------------------------------------- */

typedef struct task_info {
    const ctl_task *t;
    bool terminal;
    bool killed; /* a kill/unpend was planned this pass */
    /* Issue 24: UNREACHABLE or UNKNOWN within its hold time (it may come
     * back). An UNREACHABLE one frees its slot (a replacement is launched);
     * an UNKNOWN one keeps it (after a master failover the agent is expected
     * to re-register). Once the hold ends it counts as terminal. */
    bool held;
    /* Issue 21: its kill intent is withdrawn in this pass (it counts again). */
    bool withdrawn;
} task_info;

typedef struct ctx {
    const ctl_service_in *in;
    ctl_plan *out;
    const ctl_config *cfg;
    int64_t now;
    task_info *ti;
    const ctl_deploy *active;  /* NULL: none (or its document is missing) */
    const char *active_id;     /* from the status; may lack a document */
    const ctl_deploy *pending; /* being rolled out; NULL: none */
    api_deploy_status *pds;    /* pending deploy's status */
    int instances;             /* desired; 0 when paused or deleted */
    bool paused;
    bool was_paused;
    bool bouncing;
    const char *finished_how; /* pending type for relaunches after a deploy ended */
    int64_t requeue;          /* absolute time of the next plan; 0 none */
    /* Issue 20 (request actions, below). */
    int desired;                      /* instances if not paused (an expired scale reverted) */
    const ctl_deploy *unpause_deploy; /* rolled out to unpause the request */
} ctx;

static void requeue_at(ctx *c, int64_t at)
{
    if (at <= c->now)
        at = c->now + 1;
    if (!c->requeue || at < c->requeue)
        c->requeue = at;
}

/* Whether a task may be killed because of what another task's record
 * says (it replaced this one, it is the better copy). Not while the records
 * are unconfirmed (a new leader before its first reconciliation): the
 * replacement may be on a lost agent. Then the pass comes back shortly. */
#define UNCONFIRMED_RETRY_MS 500
static bool may_replace(ctx *c)
{
    if (!c->in->unconfirmed)
        return true;
    requeue_at(c, c->now + UNCONFIRMED_RETRY_MS);
    return false;
}

/* Possibly serving: running and not failing its check. A verdict unknown
 * (no check yet, or a new leader that has not checked it) is not a reason
 * to kill a task at once. */
static bool task_may_serve(const ctl_task *t)
{
    return !t->pending && t->state == API_TASK_RUNNING && t->health != CTL_HEALTH_UNHEALTHY;
}

static ctl_action *add_action(ctx *c, ctl_action_type type)
{
    ctl_plan *p = c->out;
    p->actions = xrealloc(p->actions, (p->n_actions + 1) * sizeof(*p->actions));
    ctl_action *a = &p->actions[p->n_actions++];
    memset(a, 0, sizeof(*a));
    a->type = type;
    return a;
}

/* A kill intent (or LB cleanup) stands for it. */
static bool going(const task_info *ti)
{
    return ti->t->cleaning && !ti->withdrawn;
}

/* Kill (or unpend) a live task once; returns false if it already goes.
 * Issue 21: never a held task (withdraw_kills says why). */
static bool kill_task(ctx *c, task_info *ti, const char *cleanup_type, const char *message)
{
    if (ti->terminal || ti->killed || ti->t->cleaning) /* a withdrawn kill too, this pass */
        return false;
    ti->killed = true;
    /* Load balancing (docs/loadbalancing.md): a task the load balancer may
     * still send traffic to is taken out first (the LB loop removes every
     * task with an LB cleanup) and killed after the drain (lb_kills). */
    const ctl_task *t = ti->t;
    bool lb_wait = !t->pending && (t->lb == CTL_LB_IN ||
                                   (t->lb == CTL_LB_OUT &&
                                    c->now < t->lb_removed_at + c->cfg->lb_drain_ms));
    ctl_action *a = add_action(c, lb_wait       ? CTL_ACT_LB_KILL
                                  : t->pending ? CTL_ACT_UNPEND
                                               : CTL_ACT_KILL);
    a->task_id = xstrdup(ti->t->id);
    a->cleanup_type = cleanup_type;
    a->message = xstrdup(message);
    return true;
}

/* Counted: live and not going away. */
static bool counted(const task_info *ti)
{
    return !ti->terminal && !ti->killed && !going(ti);
}

static const ctl_deploy *find_deploy(const ctl_service_in *in, const char *id)
{
    for (size_t i = 0; id && i < in->n_deploys; i++)
        if (str_eq(in->deploys[i].id, id))
            return &in->deploys[i];
    return NULL;
}

static ctl_deploy_out *deploy_out(ctx *c, const char *id)
{
    for (size_t i = 0; i < c->out->n_deploys; i++)
        if (str_eq(c->out->deploys[i].status.deployId, id))
            return &c->out->deploys[i];
    return NULL;
}

/* The plan's status of deploy `id`, created (WAITING, unchanged until
 * edited) if absent. */
static api_deploy_status *deploy_status(ctx *c, const char *id)
{
    ctl_deploy_out *d = deploy_out(c, id);
    if (d)
        return &d->status;
    ctl_plan *p = c->out;
    p->deploys = xrealloc(p->deploys, (p->n_deploys + 1) * sizeof(*p->deploys));
    d = &p->deploys[p->n_deploys++];
    memset(d, 0, sizeof(*d));
    d->status.requestId = xstrdup(c->in->request_id);
    d->status.deployId = xstrdup(id);
    return &d->status;
}

static void set_message(char **dst, const char *msg)
{
    if (str_eq(*dst, msg))
        return;
    free(*dst);
    *dst = xstrdup(msg);
}

static void finish_deploy(ctx *c, api_deploy_status *ds, api_deploy_state st, const char *msg)
{
    ds->state = st;
    ds->finishedAt = c->now;
    set_message(&ds->message, msg);
}

/* Healthy: RUNNING and either the check passed or, without a check,
 * running for healthy_after_ms. When not yet, *when gets the time it would
 * become healthy by running alone (0 if that does not apply), and a pass is
 * requeued for that moment: whatever waited for this task (a retire, a
 * bounce's kill, the Ready condition) must not wait for the resync, since no
 * health check verdict will wake the request up. */
static bool task_healthy(ctx *c, const ctl_task *t, const ctl_deploy *d, int64_t *when)
{
    if (when)
        *when = 0;
    if (t->pending || t->state != API_TASK_RUNNING)
        return false;
    if (d && d->http_check)
        return t->health == CTL_HEALTH_HEALTHY;
    if (t->health == CTL_HEALTH_HEALTHY)
        return true;
    int64_t after = d ? d->healthy_after_ms : 0;
    int64_t since = t->running_at ? t->running_at : c->now;
    if (c->now - since >= after)
        return true;
    requeue_at(c, since + after);
    if (when)
        *when = since + after;
    return false;
}

static bool is_deploy_launch(const char *pending_type)
{
    return str_eq(pending_type, "NEW_DEPLOY") || str_eq(pending_type, "NEXT_DEPLOY_STEP");
}

/* ---- phase 1: terminal tasks to history ------------------------------------- */

static void archive_terminal(ctx *c)
{
    const ctl_service_in *in = c->in;
    size_t archived = 0;

    for (size_t i = 0; i < in->n_tasks; i++) {
        if (!c->ti[i].terminal)
            continue;
        ctl_action *a = add_action(c, CTL_ACT_ARCHIVE);
        a->task_id = xstrdup(in->tasks[i].id);
        a->lb_cleanup = in->tasks[i].lb_kill_type != NULL;
        archived++;
    }
    size_t total = in->n_history + archived;
    for (size_t i = 0; total > c->cfg->history_max && i < in->n_history; i++, total--) {
        ctl_action *a = add_action(c, CTL_ACT_FORGET);
        a->task_id = xstrdup(in->history[i]);
    }
}

/* ---- phase 2: deploy selection ------------------------------------------------ */

static void select_deploys(ctx *c)
{
    const ctl_service_in *in = c->in;
    const ctl_deploy *newest = NULL;

    c->active_id = c->out->status.activeDeployId;
    c->active = find_deploy(in, c->active_id);
    for (size_t i = 0; i < in->n_deploys; i++) {
        const ctl_deploy *d = &in->deploys[i];
        /* An invalid deploy replaces nothing: it only fails (below). */
        if (str_eq(d->id, c->active_id) || d->invalid)
            continue;
        /* Only a deploy newer than the active one can replace it. */
        if (c->active && d->revision < c->active->revision)
            continue;
        if (!newest || d->revision > newest->revision)
            newest = d;
    }
    for (size_t i = 0; i < in->n_deploys; i++) {
        const ctl_deploy *d = &in->deploys[i];
        if (str_eq(d->id, c->active_id))
            continue;
        ctl_deploy_out *o = deploy_out(c, d->id);
        bool finished = o && api_deploy_state_terminal(o->status.state);
        if (finished)
            continue;
        if (d == newest) {
            c->pending = d;
        } else if (d->invalid) {
            char *msg = xasprintf("invalid deploy: %s", d->invalid);
            finish_deploy(c, deploy_status(c, d->id), API_DSTATE_FAILED, msg);
            free(msg);
        } else {
            char *msg = xasprintf("superseded by deploy '%s'", newest ? newest->id : c->active_id);
            finish_deploy(c, deploy_status(c, d->id), API_DSTATE_SUPERSEDED, msg);
            free(msg);
        }
    }
    /* Only now: deploy_status may grow the array the pointer points into. */
    if (c->pending)
        c->pds = deploy_status(c, c->pending->id);
}

/* ---- phase 3: the pending deploy's state machine --------------------------- */

static void end_pending(ctx *c, api_deploy_state st, api_deploy_failure_reason why,
                        const char *task_id, const char *msg)
{
    if (why)
        api_deploy_status_add_failure(c->pds, why, task_id, msg);
    finish_deploy(c, c->pds, st, msg);
    c->finished_how = st == API_DSTATE_CANCELED ? "DEPLOY_CANCELLED" : "DEPLOY_FAILED";
    c->pending = NULL;
    c->pds = NULL;
}

static int deploy_target(const ctx *c, const ctl_deploy *d, const api_deploy_status *ds)
{
    if (d->step_size <= 0)
        return c->instances;
    return ds->targetActiveInstances < c->instances ? ds->targetActiveInstances : c->instances;
}

static void advance_pending(ctx *c)
{
    const ctl_deploy *p = c->pending;
    api_deploy_status *ds = c->pds;
    const ctl_service_in *in = c->in;
    char msg[512];

    if (!p)
        return;
    if (ds->state == API_DSTATE_UNSET) {
        ds->state = API_DSTATE_WAITING;
        ds->startedAt = c->now;
        ds->step = 1;
        ds->acceptedInstances = 0;
        int want = in->request ? in->request->instances : 0;
        ds->targetActiveInstances = p->step_size > 0 && p->step_size < want ? p->step_size : want;
    }
    if (p->cancel) {
        end_pending(c, API_DSTATE_CANCELED, API_DFAIL_DEPLOY_CANCELLED, NULL, "deploy cancelled");
        return;
    }
    if (c->paused) {
        ds->stepStartedAt = 0; /* the deadline restarts when unpaused */
        ds->stepHealthyAt = 0;
        set_message(&ds->message, "held while the request is paused");
        return;
    }
    if (!ds->stepStartedAt)
        ds->stepStartedAt = c->now;
    if (p->step_size <= 0)
        ds->targetActiveInstances = c->instances; /* scale during an atomic deploy */

    /* Failures of this deploy's tasks seen in this pass. */
    int fatal = 0;
    char last_msg[512] = "";
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        if (!str_eq(t->deploy_id, p->id) || t->cleaning)
            continue;
        api_deploy_failure_reason why = API_DFAIL_UNSET;
        if (c->ti[i].terminal && ctl_task_app_failure(t->state))
            why = t->state == API_TASK_FINISHED ? API_DFAIL_TASK_EXPECTED_RUNNING_FINISHED
                                                : API_DFAIL_TASK_FAILED_ON_STARTUP;
        else if (!c->ti[i].terminal && t->health == CTL_HEALTH_UNHEALTHY)
            why = API_DFAIL_TASK_FAILED_HEALTH_CHECKS;
        if (!why)
            continue;
        /* the agent's or executor's message says why (e.g. a container
         * that cannot run) */
        bool say = why != API_DFAIL_TASK_FAILED_HEALTH_CHECKS && t->message && *t->message;
        snprintf(msg, sizeof(msg), "task %s: %s%s%s%s%s", t->id,
                 why == API_DFAIL_TASK_FAILED_HEALTH_CHECKS ? "failed health checks"
                                                            : api_task_state_name(t->state),
                 t->reason ? " " : "", t->reason ? t->reason : "", say ? ": " : "",
                 say ? t->message : "");
        if (api_deploy_status_add_failure(ds, why, t->id, msg))
            snprintf(last_msg, sizeof(last_msg), "%s", msg);
        if (why == API_DFAIL_TASK_FAILED_HEALTH_CHECKS)
            fatal++;
    }
    size_t task_failures = 0;
    for (size_t i = 0; i < ds->n_failures; i++)
        if (ds->failures[i].taskId)
            task_failures++;
    if (fatal || (int)task_failures > p->max_task_retries) {
        snprintf(msg, sizeof(msg), "deploy failed: %s", *last_msg ? last_msg : "tasks failed");
        end_pending(c, API_DSTATE_FAILED, API_DFAIL_UNSET, NULL, msg);
        return;
    }

    /* Step health: every slot of the step has a healthy task. */
    int target = deploy_target(c, p, ds);
    int healthy = 0, healthy_all = 0;
    int64_t soonest = 0;
    for (int slot = 1; slot <= target; slot++) {
        bool ok = false;
        for (size_t i = 0; i < in->n_tasks && !ok; i++) {
            const ctl_task *t = &in->tasks[i];
            int64_t when;
            if (t->instance != slot || !str_eq(t->deploy_id, p->id) || !counted(&c->ti[i]))
                continue;
            ok = task_healthy(c, t, p, &when);
            if (!ok && when && (!soonest || when < soonest))
                soonest = when;
        }
        healthy += ok;
    }
    for (size_t i = 0; i < in->n_tasks; i++)
        if (str_eq(in->tasks[i].deploy_id, p->id) && counted(&c->ti[i]) &&
            task_healthy(c, &in->tasks[i], p, NULL))
            healthy_all++;
    ds->healthyTasks = healthy_all;

    if (healthy == target) {
        if (!ds->stepHealthyAt)
            ds->stepHealthyAt = c->now;
        if (target >= c->instances) {
            snprintf(msg, sizeof(msg), "deploy succeeded: %d/%d tasks healthy", target,
                     c->instances);
            finish_deploy(c, ds, API_DSTATE_SUCCEEDED, msg);
            set_message(&c->out->status.activeDeployId, p->id);
            c->active_id = c->out->status.activeDeployId;
            c->active = p;
            c->pending = NULL;
            c->pds = NULL;
            return;
        }
        if (!p->auto_advance && p->target_override > target) {
            /* A manual advance (update intent) to an explicit target. */
            ds->acceptedInstances = target;
            ds->targetActiveInstances =
                p->target_override < c->instances ? p->target_override : c->instances;
            ds->step++;
            ds->stepStartedAt = c->now;
            ds->stepHealthyAt = 0;
            target = ds->targetActiveInstances;
            healthy = 0;
            goto deadline;
        }
        if (!p->auto_advance) {
            snprintf(msg, sizeof(msg), "step %d healthy (%d/%d); waiting to be advanced", ds->step,
                     target, c->instances);
            set_message(&ds->message, msg);
            return;
        }
        if (c->now < ds->stepHealthyAt + p->step_wait_ms) {
            snprintf(msg, sizeof(msg), "step %d healthy (%d/%d); next step after the wait",
                     ds->step, target, c->instances);
            set_message(&ds->message, msg);
            requeue_at(c, ds->stepHealthyAt + p->step_wait_ms);
            return;
        }
        ds->acceptedInstances = target;
        ds->targetActiveInstances =
            target + p->step_size < c->instances ? target + p->step_size : c->instances;
        ds->step++;
        ds->stepStartedAt = c->now;
        ds->stepHealthyAt = 0;
        target = ds->targetActiveInstances;
        healthy = 0;
    } else {
        ds->stepHealthyAt = 0;
    }
deadline:;
    int64_t budget = p->http_check ? p->check_budget_ms : p->healthy_after_ms;
    int64_t deadline = ds->stepStartedAt + p->health_timeout_ms + budget;
    if (c->now >= deadline) {
        snprintf(msg, sizeof(msg), "deploy overdue: %d/%d tasks healthy after %lld ms", healthy,
                 target, (long long)(c->now - ds->stepStartedAt));
        end_pending(c, API_DSTATE_OVERDUE, API_DFAIL_DEPLOY_OVERDUE, NULL, msg);
        return;
    }
    requeue_at(c, deadline);
    if (soonest)
        requeue_at(c, soonest);
    snprintf(msg, sizeof(msg), "step %d: %d/%d tasks healthy", ds->step, healthy, target);
    set_message(&ds->message, msg);
}

/* ---- phase 4: cooldown ------------------------------------------------------------- */

static void track_cooldown(ctx *c)
{
    api_request_status *s = &c->out->status;
    const ctl_service_in *in = c->in;
    const ctl_config *cfg = c->cfg;

    /* Record new app failures of the active deploy (once per task id). */
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        bool known = false;
        if (!c->ti[i].terminal || t->cleaning || !ctl_task_app_failure(t->state) ||
            !str_eq(t->deploy_id, c->active_id))
            continue;
        for (size_t k = 0; k < s->n_recentFailures && !known; k++)
            known = str_eq(s->recentFailures[k].taskId, t->id);
        if (known)
            continue;
        s->recentFailures =
            xrealloc(s->recentFailures, (s->n_recentFailures + 1) * sizeof(*s->recentFailures));
        s->recentFailures[s->n_recentFailures].taskId = xstrdup(t->id);
        s->recentFailures[s->n_recentFailures].at = c->now;
        s->n_recentFailures++;
    }
    /* Keep what the window and the exit rule still need, at most N marks. */
    int64_t horizon = cfg->cooldown_window_ms > cfg->cooldown_exit_ms ? cfg->cooldown_window_ms
                                                                      : cfg->cooldown_exit_ms;
    size_t keep_from = 0;
    for (size_t k = 0; k < s->n_recentFailures; k++)
        if (s->recentFailures[k].at < c->now - horizon ||
            s->n_recentFailures - k > (size_t)cfg->cooldown_failures)
            keep_from = k + 1;
    for (size_t k = 0; k < keep_from; k++)
        free(s->recentFailures[k].taskId);
    if (keep_from) {
        memmove(s->recentFailures, s->recentFailures + keep_from,
                (s->n_recentFailures - keep_from) * sizeof(*s->recentFailures));
        s->n_recentFailures -= keep_from;
    }

    int in_window = 0;
    int64_t last = 0;
    for (size_t k = 0; k < s->n_recentFailures; k++) {
        if (s->recentFailures[k].at > c->now - cfg->cooldown_window_ms)
            in_window++;
        if (s->recentFailures[k].at > last)
            last = s->recentFailures[k].at;
    }
    if (s->state == API_RSTATE_ACTIVE && in_window >= cfg->cooldown_failures) {
        s->state = API_RSTATE_SYSTEM_COOLDOWN;
        s->cooldownSince = c->now;
    }
    const ctl_request *req = in->request;
    if (s->state == API_RSTATE_SYSTEM_COOLDOWN && req && req->exit_cooldown &&
        req->exit_cooldown >= s->cooldownSince) {
        /* exit-cooldown intent: leave now and forget the failures. */
        for (size_t k = 0; k < s->n_recentFailures; k++)
            free(s->recentFailures[k].taskId);
        s->n_recentFailures = 0;
        s->state = API_RSTATE_ACTIVE;
        s->cooldownSince = 0;
    }
    if (s->state == API_RSTATE_SYSTEM_COOLDOWN) {
        if (c->now - last >= cfg->cooldown_exit_ms) {
            s->state = API_RSTATE_ACTIVE;
            s->cooldownSince = 0;
        } else {
            requeue_at(c, last + cfg->cooldown_exit_ms);
        }
    }
}

/* ---- phase 5: task actions ------------------------------------------------------- */

/* Better task to keep when two share a slot: healthy, running, launched,
 * older, smaller id. */
static int task_rank(ctx *c, const ctl_task *t, const ctl_deploy *d)
{
    if (task_healthy(c, t, d, NULL))
        return 3;
    if (!t->pending && t->state == API_TASK_RUNNING)
        return 2;
    return t->pending ? 0 : 1;
}

static bool better(ctx *c, const ctl_task *a, const ctl_task *b, const ctl_deploy *d)
{
    int ra = task_rank(c, a, d), rb = task_rank(c, b, d);
    if (ra != rb)
        return ra > rb;
    if (a->launched_at != b->launched_at)
        return a->launched_at < b->launched_at;
    return strcmp(a->id, b->id) < 0;
}

static const char *retire_type(ctx *c, const char *deploy_id)
{
    ctl_deploy_out *o = deploy_out(c, deploy_id);
    api_deploy_state st = o ? o->status.state : API_DSTATE_UNSET;
    if (api_deploy_state_failed(st))
        return "DEPLOY_FAILED";
    if (st == API_DSTATE_CANCELED || st == API_DSTATE_SUPERSEDED)
        return "DEPLOY_CANCELED";
    return "DEPLOY_STEP_FINISHED";
}

/* Occupants of slots 1..n for deploy d: the best counted task per slot;
 * extras are killed. With `fresh_after` > 0 only tasks launched at or after
 * it occupy slots (bounce). */
static void fill_slots(ctx *c, const ctl_deploy *d, const task_info **slots, int n,
                       int64_t fresh_after)
{
    const ctl_service_in *in = c->in;

    for (int s = 0; s < n; s++)
        slots[s] = NULL;
    for (size_t i = 0; i < in->n_tasks; i++) {
        task_info *ti = &c->ti[i];
        const ctl_task *t = ti->t;
        if (!counted(ti) || !str_eq(t->deploy_id, d->id) || t->instance < 1 || t->instance > n)
            continue;
        if (fresh_after && t->launched_at < fresh_after)
            continue;
        /* On a decommissioning agent: it serves until its slot has a healthy
         * replacement, but no longer holds the slot. */
        if (t->decommissioning)
            continue;
        /* Issue 24: an unreachable task no longer holds its slot. */
        if (ti->held && t->state == API_TASK_UNREACHABLE)
            continue;
        const task_info **slot = &slots[t->instance - 1];
        if (!*slot) {
            *slot = ti;
            continue;
        }
        task_info *loser = better(c, t, (*slot)->t, d) ? (task_info *)*slot : ti;
        if (loser != ti)
            *slot = ti;
        /* a held task is settled once it is back (withdraw_kills) */
        if (loser->held || !may_replace(c))
            continue;
        char *msg = xasprintf("duplicate task for instance %d", t->instance);
        kill_task(c, loser, "SCALING_DOWN", msg);
        free(msg);
    }
}

static void launch(ctx *c, const ctl_deploy *d, int slot, const char *type)
{
    ctl_action *a = add_action(c, CTL_ACT_LAUNCH);
    a->deploy_id = xstrdup(d->id);
    a->instance = slot;
    a->pending_type = type;
    a->run_at = c->now;
    if (c->out->status.state == API_RSTATE_SYSTEM_COOLDOWN && !is_deploy_launch(type))
        a->run_at = c->now + c->cfg->cooldown_delay_ms;
}

/* Was a task of deploy d in this slot just seen ending (or unreachable)? */
static bool slot_ended(const ctx *c, const ctl_deploy *d, int slot)
{
    for (size_t i = 0; i < c->in->n_tasks; i++)
        if ((c->ti[i].terminal || c->ti[i].held) && c->ti[i].t->instance == slot &&
            str_eq(c->ti[i].t->deploy_id, d->id))
            return true;
    return false;
}

/* Does a live task of deploy d in this slot sit on a decommissioning agent? */
static bool slot_decommissioning(const ctx *c, const ctl_deploy *d, int slot)
{
    for (size_t i = 0; i < c->in->n_tasks; i++)
        if (counted(&c->ti[i]) && c->ti[i].t->decommissioning && c->ti[i].t->instance == slot &&
            str_eq(c->ti[i].t->deploy_id, d->id))
            return true;
    return false;
}

/* Decommission: a task on a decommissioning agent is killed once the
 * occupant of its slot (its replacement) is healthy: new before old. */
static void retire_decommissioned(ctx *c, const task_info **a_slots, int n,
                                  const task_info **p_slots, int p_target)
{
    const ctl_service_in *in = c->in;
    for (size_t i = 0; i < in->n_tasks; i++) {
        task_info *ti = &c->ti[i];
        const ctl_task *t = ti->t;
        const task_info **slots;
        const ctl_deploy *d;
        int ns;
        int64_t when;
        if (!counted(ti) || !t->decommissioning || t->pending || ti->held)
            continue;
        if (c->active && str_eq(t->deploy_id, c->active_id)) {
            slots = a_slots, ns = n, d = c->active;
        } else if (c->pending && str_eq(t->deploy_id, c->pending->id)) {
            slots = p_slots, ns = p_target, d = c->pending;
        } else {
            continue;
        }
        if (t->instance < 1 || t->instance > ns || !slots[t->instance - 1])
            continue;
        if (task_healthy(c, slots[t->instance - 1]->t, d, &when) && may_replace(c))
            kill_task(c, ti, "DECOMISSIONING", "replaced elsewhere: its agent is decommissioning");
        else if (when)
            requeue_at(c, when);
    }
}

static void free_slot(const task_info **slots, int n, const task_info *ti)
{
    if (ti->t->instance >= 1 && ti->t->instance <= n && slots[ti->t->instance - 1] == ti)
        slots[ti->t->instance - 1] = NULL;
}

/* ---- issue 21: kills that did not reach a lost task -------------------------------- */

/* Kill intents the plan writes to make room (surplus, retired, bounced,
 * moved): they rest on the request's other tasks serving, and that can
 * change while the doomed task is out of reach. A pause's kills rest on
 * the pause: both withdrawals run only while the request is not paused, so
 * a kill an unpause left behind (its task's agent was lost, the call was
 * swallowed) is not carried out on a request that wants the task again. */
static bool withdrawable(const char *cleanup_type)
{
    static const char *const types[] = {
        "SCALING_DOWN",       "DEPLOY_STEP_FINISHED", "DEPLOY_FAILED", "DEPLOY_CANCELED",
        "BOUNCING",           "INCREMENTAL_BOUNCE",   "DECOMISSIONING", "PAUSE",
    };
    for (size_t i = 0; cleanup_type && i < sizeof(types) / sizeof(*types); i++)
        if (!strcmp(cleanup_type, types[i]))
            return true;
    return false;
}

/* The make-room kill standing for a live task, or NULL: the kill intent,
 * else the LB cleanup still waiting for its drain. An operator's kill (a
 * forced decommission), a pause and a delete are not make-room kills. */
static const char *room_kill(const task_info *ti, bool *lb)
{
    const ctl_task *t = ti->t;
    *lb = !t->cleanup_type && t->lb_kill_type;
    const char *type = *lb ? t->lb_kill_type : t->cleanup_type;
    if (ti->terminal || !going(ti) || !withdrawable(type) ||
        (!*lb && !str_eq(t->cleanup_user, "corral")))
        return NULL;
    return type;
}

/* Withdraw it: the intent is deleted if unchanged, and the task counts again
 * from here on in this pass. */
static void withdraw(ctx *c, task_info *ti, const char *type, bool lb)
{
    ti->withdrawn = true;
    ctl_action *a = add_action(c, CTL_ACT_WITHDRAW);
    a->task_id = xstrdup(ti->t->id);
    a->cleanup_type = type;
    a->intent_revision = lb ? 0 : ti->t->cleanup_revision;
    a->lb_cleanup = lb;
}

/* A kill the plan decided that had not reached its task when the task's
 * agent was lost is withdrawn: Mesos cannot carry it out meanwhile, and it
 * would be carried out the moment the task is back, whatever became of the
 * tasks that made it surplus (the replacement may be unhealthy, or lost in
 * turn). Back, the task is planned like any other (a duplicate in its slot
 * is settled healthy-first), and held tasks are never killed to make room. */
static void withdraw_kills(ctx *c)
{
    if (c->paused || !c->in->request)
        return;
    for (size_t i = 0; i < c->in->n_tasks; i++) {
        task_info *ti = &c->ti[i];
        bool lb;
        const char *type = room_kill(ti, &lb);
        if (ti->held && type)
            withdraw(c, ti, type, lb);
    }
}

/* A delivered kill shows as TASK_KILLING within moments; a task still
 * RUNNING this long after its kill intent was written never got the call
 * (a master failover swallowed it, its leader died before sending it). */
#define KILL_SETTLE_MS 3000

/* Is `slot` served by a healthy task: the active deploy's occupant or the
 * pending deploy's (slots hold counted tasks only)? */
static bool slot_served(ctx *c, const task_info **a_slots, int n, const task_info **p_slots,
                        int p_target, int slot)
{
    if (c->active && slot <= n && a_slots[slot - 1] &&
        task_healthy(c, a_slots[slot - 1]->t, c->active, NULL))
        return true;
    return c->pending && slot <= p_target && p_slots[slot - 1] &&
           task_healthy(c, p_slots[slot - 1]->t, c->pending, NULL);
}

/* A make-room kill rests on other tasks serving the slot, and it may wait
 * long to be carried out (see KILL_SETTLE_MS). Until it takes effect it is
 * checked again each pass: a serving task whose slot is still wanted, has
 * no healthy task and no other task of the task's own deploy (the copy a
 * duplicate kill preferred, a bounce's fresh task, a replacement not
 * healthy yet: their own rules settle the slot) keeps serving, its kill
 * withdrawn. Every plan rule that kills to make room asks for a healthy
 * task in the slot first, a slot no longer wanted, or another task of the
 * deploy in it, so a withdrawn kill is not decided again until its reason
 * is back. The active and pending deploys' tasks go first: one withdrawn
 * holds its slot, and another deploy's task in that slot then keeps its
 * kill once that slot is served. */
static void revoke_kills(ctx *c, const task_info **a_slots, int n, const task_info **p_slots,
                         int p_target, int64_t fresh_after)
{
    if (c->in->unconfirmed)
        return; /* its replacement may be on a lost agent: nothing is known */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < c->in->n_tasks; i++) {
            task_info *ti = &c->ti[i];
            const ctl_task *t = ti->t;
            int slot = t->instance;
            bool lb;
            const char *type = room_kill(ti, &lb);
            if (!type || ti->held || !task_may_serve(t) || slot < 1 || slot > n)
                continue;
            bool active = c->active && str_eq(t->deploy_id, c->active_id);
            bool pending = c->pending && str_eq(t->deploy_id, c->pending->id);
            const task_info **own = active ? a_slots : pending ? p_slots : NULL;
            if (round != (own ? 0 : 1))
                continue;
            if (pending ? slot > p_target : !c->active)
                continue; /* above the step's target; no deploy to serve it */
            if ((own && own[slot - 1]) || slot_served(c, a_slots, n, p_slots, p_target, slot))
                continue;
            if (!lb && c->now < t->cleanup_at + KILL_SETTLE_MS) {
                requeue_at(c, t->cleanup_at + KILL_SETTLE_MS);
                continue; /* it may be on its way */
            }
            withdraw(c, ti, type, lb);
            /* it holds its slot again, so nothing is launched beside it
             * (but a bounce's stale task or one leaving a decommissioning
             * agent: their slot gets its new task) */
            if (own && !t->decommissioning && (!active || t->launched_at >= fresh_after))
                own[slot - 1] = ti;
        }
    }
}

/* ---- issue 20: Singularity's request actions ------------------------------------- */

/* Whether the request, paused, rolls out a deploy with
 * unpauseOnSuccessfulDeploy (DEPLOYING_TO_UNPAUSE): the active deploy then
 * launches nothing. */
static bool unpause_pending(const ctx *c)
{
    return c->unpause_deploy && c->pending == c->unpause_deploy;
}

/* Live task of the active deploy in `slot` launched before the bounce. */
static bool stale_in_slot(const ctx *c, int slot, int64_t fresh_after)
{
    for (size_t i = 0; i < c->in->n_tasks; i++) {
        const ctl_task *t = c->ti[i].t;
        if (counted(&c->ti[i]) && t->instance == slot && str_eq(t->deploy_id, c->active_id) &&
            t->launched_at < fresh_after)
            return true;
    }
    return false;
}

/* An incremental bounce replaces one slot at a time (Singularity's
 * INCREMENTAL_BOUNCE): a slot gets its new task once every slot below it
 * has a healthy new one, or at once when no old task serves it any more
 * (it ended meanwhile), so at most one slot has an extra task. */
static bool incremental_may_launch(ctx *c, const task_info **a_slots, int slot, int64_t fresh_after)
{
    for (int s = 1; s < slot; s++)
        if (!a_slots[s - 1] || !task_healthy(c, a_slots[s - 1]->t, c->active, NULL))
            return !stale_in_slot(c, slot, fresh_after);
    return true;
}

/* ... and kills a slot's old task only once its new one is healthy: never
 * below capacity. */
static void incremental_kills(ctx *c, const task_info **a_slots, int n, int64_t fresh_after)
{
    for (size_t i = 0; i < c->in->n_tasks; i++) {
        task_info *ti = &c->ti[i];
        const ctl_task *t = ti->t;
        if (!counted(ti) || ti->held || !str_eq(t->deploy_id, c->active_id) ||
            t->launched_at >= fresh_after || t->instance < 1 || t->instance > n ||
            !a_slots[t->instance - 1])
            continue;
        if (task_healthy(c, a_slots[t->instance - 1]->t, c->active, NULL) && may_replace(c))
            kill_task(c, ti, "INCREMENTAL_BOUNCE", "replaced by the incremental bounce");
    }
}

static bool expired(ctx *c, const ctl_expiring *e)
{
    if (!e->at)
        return false;
    if (c->now >= e->at)
        return true;
    requeue_at(c, e->at);
    return false;
}

static ctl_action *expire(ctx *c, const char *intent, const ctl_expiring *e)
{
    ctl_action *a = add_action(c, CTL_ACT_EXPIRE);
    a->intent = intent;
    a->intent_revision = e->revision;
    return a;
}

/* Singularity's expiring actions end at their intent's timestamp +
 * durationMillis: a scale goes back to the count before it (and bounces if
 * the scale asked to, or the request has bounceAfterScale), skip-healthchecks
 * back to its previous value, a pause is lifted, a bounce not finished by
 * then is cancelled (the old tasks it has not replaced yet stay; where a
 * slot has two tasks the duplicate rule keeps the better one). A bounce that
 * finished drops its expiry at once. This pass already plans with the
 * reverted values; the EXPIRE actions write them. */
static void expire_actions(ctx *c)
{
    const ctl_request *req = c->in->request;
    api_request_status *s = &c->out->status;

    if (!req || req->invalid)
        return;
    if (expired(c, &req->scale_exp)) {
        ctl_action *a = expire(c, API_INTENT_SCALE, &req->scale_exp);
        a->revert_instances = req->scale_revert;
        a->then_bounce = req->scale_bounce;
        a->message = xstrdup("scale expired");
        c->desired = req->scale_revert;
        if (!c->paused)
            c->instances = c->desired;
    }
    if (expired(c, &req->skip_exp)) {
        ctl_action *a = expire(c, API_INTENT_SKIP_HEALTHCHECKS, &req->skip_exp);
        a->revert_skip = req->skip_revert;
        a->message = xstrdup("skip healthchecks expired");
    }
    if (c->paused && expired(c, &req->pause_exp)) {
        expire(c, API_INTENT_PAUSE, &req->pause_exp)->message = xstrdup("pause expired");
        c->paused = false;
        c->instances = c->desired;
    }
    if (req->bounce_exp.at && req->bounce && req->bounce == s->lastBounce) {
        expire(c, API_INTENT_BOUNCE, &req->bounce_exp)->message = xstrdup("bounce finished");
    } else if (req->bounce && expired(c, &req->bounce_exp)) {
        expire(c, API_INTENT_BOUNCE, &req->bounce_exp)->message = xstrdup("bounce expired");
        s->lastBounce = req->bounce; /* cancelled: nothing more is replaced */
        s->bounceRequested = 0;
        s->bounceStartedAt = 0;
    }
}

/* Before the rollout is advanced: a paused request whose pending deploy has
 * unpauseOnSuccessfulDeploy rolls it out at its full count. So does one
 * whose active deploy had it and succeeded after the pause was written (the
 * write that lifted the pause has not landed: lift it again). */
static void deploy_to_unpause(ctx *c)
{
    const ctl_request *req = c->in->request;
    const ctl_deploy *d = NULL;

    if (!c->paused || !req)
        return;
    if (c->pending && c->pending->unpause_on_success) {
        d = c->pending;
    } else if (c->active && c->active->unpause_on_success) {
        const ctl_deploy_out *o = deploy_out(c, c->active->id);
        if (o && o->status.state == API_DSTATE_SUCCEEDED && o->status.finishedAt >= req->paused_at)
            d = c->active;
    }
    if (!d)
        return;
    c->unpause_deploy = d;
    c->paused = false;
    c->instances = c->desired;
}

/* After it: DEPLOYING_TO_UNPAUSE while the deploy rolls out; its success
 * lifts the pause (UNPAUSE), its failure leaves the request paused. A deploy
 * that succeeded now with an updatedRequest writes it (APPLY_REQUEST). */
static void after_deploy(ctx *c)
{
    const ctl_service_in *in = c->in;
    api_request_status *s = &c->out->status;
    const ctl_deploy *d = c->unpause_deploy;
    bool succeeded_now =
        c->active && !str_eq(c->active_id, in->status ? in->status->activeDeployId : NULL);

    if (succeeded_now && c->active->updates_request) {
        ctl_action *a = add_action(c, CTL_ACT_APPLY_REQUEST);
        a->deploy_id = xstrdup(c->active->id);
        a->message = xstrdup("deploy succeeded: its updatedRequest applies");
    }
    if (!d)
        return;
    if (c->pending == d) {
        s->state = API_RSTATE_DEPLOYING_TO_UNPAUSE;
    } else if (c->active == d) {
        ctl_action *a = add_action(c, CTL_ACT_UNPAUSE);
        a->intent = API_INTENT_PAUSE;
        a->intent_revision = in->request->pause_exp.revision;
        a->message = xstrdup("deploy succeeded: unpauseOnSuccessfulDeploy");
    } else {
        c->unpause_deploy = NULL; /* failed or cancelled: paused again */
        c->paused = true;
        c->instances = 0;
        s->state = API_RSTATE_PAUSED;
        s->cooldownSince = 0;
    }
}

static void plan_tasks(ctx *c)
{
    const ctl_service_in *in = c->in;
    const ctl_request *req = in->request;
    api_request_status *s = &c->out->status;
    int n = c->instances;
    const task_info **a_slots = xcalloc((size_t)n + 1, sizeof(*a_slots));
    const task_info **p_slots = xcalloc((size_t)n + 1, sizeof(*p_slots));
    int a_lo = c->pending ? c->pds->acceptedInstances : 0;
    int p_target = c->pending ? deploy_target(c, c->pending, c->pds) : 0;
    int64_t fresh_after = 0;

    if (a_lo > n)
        a_lo = n;
    /* Issue 20: a pause with killTasks false keeps the tasks; nothing new
     * launches, nothing is replaced. */
    if (c->paused && req && req->pause_keeps_tasks)
        goto out;
    /* Pause kills everything; so does a delete (instances == 0 then). */
    if (c->paused || !req) {
        for (size_t i = 0; i < in->n_tasks; i++)
            kill_task(c, &c->ti[i], req ? "PAUSE" : "REQUEST_DELETING",
                      req ? "request paused" : "request deleted");
        goto out;
    }

    /* Bounce bookkeeping: remember when it started (controller time). */
    if (req->bounce && req->bounce != s->lastBounce) {
        if (s->bounceRequested != req->bounce) {
            s->bounceRequested = req->bounce;
            s->bounceStartedAt = c->now;
        }
        c->bouncing = !c->pending && c->active;
        if (c->bouncing)
            fresh_after = s->bounceStartedAt;
    }

    if (c->active)
        fill_slots(c, c->active, a_slots, n, fresh_after);
    if (c->pending)
        fill_slots(c, c->pending, p_slots, p_target, 0);
    revoke_kills(c, a_slots, n, p_slots, p_target, fresh_after);

    for (size_t i = 0; i < in->n_tasks; i++) {
        task_info *ti = &c->ti[i];
        const ctl_task *t = ti->t;
        if (!counted(ti))
            continue;
        /* Issue 24: a held task waits to come back or for its hold to end;
         * once back (RUNNING) the rules below apply, and a duplicate in its
         * slot is settled by fill_slots (healthy first, then the older). */
        if (ti->held)
            continue;
        if (c->pending && str_eq(t->deploy_id, c->pending->id)) {
            if (t->instance > p_target)
                kill_task(c, ti, "SCALING_DOWN", "above the deploy step's target");
            continue;
        }
        if (str_eq(t->deploy_id, c->active_id)) {
            if (!c->active)
                continue; /* document missing: keep serving, do nothing */
            if (t->instance > n) {
                kill_task(c, ti, "SCALING_DOWN", "instances reduced");
            } else if (t->instance <= a_lo) {
                /* the step's task serving this slot, not the step's count:
                 * it may have been scaled away or lost since (issue 21) */
                if (p_slots[t->instance - 1] &&
                    task_healthy(c, p_slots[t->instance - 1]->t, c->pending, NULL) &&
                    may_replace(c))
                    kill_task(c, ti, "DEPLOY_STEP_FINISHED", "replaced by the deploy's step");
            } else if (t->health == CTL_HEALTH_UNHEALTHY) {
                kill_task(c, ti, "UNHEALTHY_NEW_TASK", "failed health checks");
                free_slot(a_slots, n, ti); /* replace it now */
            } else if (!t->pending && t->state != API_TASK_RUNNING && !t->running_at &&
                       c->now - t->launched_at >= c->cfg->new_task_run_timeout_ms) {
                kill_task(c, ti, "OVERDUE_NEW_TASK", "did not reach TASK_RUNNING in time");
                free_slot(a_slots, n, ti);
            } else if (!t->pending && t->state != API_TASK_RUNNING && !t->running_at) {
                requeue_at(c, t->launched_at + c->cfg->new_task_run_timeout_ms);
            }
            continue;
        }
        /* Another deploy's task: retire it once the active deploy serves its
         * slot (never below capacity), or at once if it cannot be serving. */
        bool serving = task_may_serve(t);
        bool replaced = c->active && t->instance <= n && t->instance > a_lo &&
                        a_slots[t->instance - 1] &&
                        task_healthy(c, a_slots[t->instance - 1]->t, c->active, NULL);
        bool step_covered = c->pending && t->instance <= a_lo && p_slots[t->instance - 1] &&
                            task_healthy(c, p_slots[t->instance - 1]->t, c->pending, NULL);
        if (!serving || !c->active || t->instance > n ||
            ((replaced || step_covered) && may_replace(c)))
            kill_task(c, ti, retire_type(c, t->deploy_id), "retired: not the active deploy");
    }

    /* Launch into empty slots: the pending deploy's step, then the active
     * deploy's share. */
    if (c->pending) {
        const char *type = c->pds->step > 1 ? "NEXT_DEPLOY_STEP" : "NEW_DEPLOY";
        for (int slot = 1; slot <= p_target; slot++)
            if (!p_slots[slot - 1])
                launch(c, c->pending, slot, type);
    }
    if (c->active && !c->active->invalid && !unpause_pending(c)) {
        for (int slot = a_lo + 1; slot <= n; slot++) {
            if (a_slots[slot - 1])
                continue;
            if (c->bouncing && req->bounce_incremental &&
                !incremental_may_launch(c, a_slots, slot, fresh_after))
                continue;
            const char *type = c->bouncing                      ? "BOUNCE"
                               : slot_decommissioning(c, c->active, slot)
                                   ? "DECOMISSIONED_SLAVE_OR_RACK"
                               : c->finished_how                ? c->finished_how
                               : c->was_paused                  ? "UNPAUSED"
                               : slot_ended(c, c->active, slot) ? "TASK_DONE"
                                                                : "UPDATED_REQUEST";
            launch(c, c->active, slot, type);
        }
    }

    retire_decommissioned(c, a_slots, n, p_slots, p_target);
    if (c->bouncing && req->bounce_incremental)
        incremental_kills(c, a_slots, n, fresh_after);

    /* Bounce: once every slot has a healthy fresh task, kill the stale ones
     * (new before old); then the bounce is done. */
    if (c->bouncing) {
        bool all_fresh_healthy = true;
        for (int slot = 1; slot <= n; slot++)
            if (!a_slots[slot - 1] || !task_healthy(c, a_slots[slot - 1]->t, c->active, NULL))
                all_fresh_healthy = false;
        if (all_fresh_healthy && may_replace(c)) {
            /* a stale task on a lost agent keeps the bounce open until it
             * is back (and killed then) or given up */
            bool stale_held = false;
            for (size_t i = 0; i < in->n_tasks; i++) {
                task_info *ti = &c->ti[i];
                if (!counted(ti) || !str_eq(ti->t->deploy_id, c->active_id) ||
                    ti->t->launched_at >= fresh_after)
                    continue;
                if (ti->held)
                    stale_held = true;
                else
                    kill_task(c, ti, "BOUNCING", "bounced");
            }
            if (!stale_held) {
                s->lastBounce = s->bounceRequested;
                s->bounceRequested = 0;
                s->bounceStartedAt = 0;
                c->bouncing = false;
            }
        }
    }
out:
    free(a_slots);
    free(p_slots);
}

/* ---- phase 5b: kills that waited for the load balancer ------------------------- */

/* A task with an LB cleanup is killed (its cleanup becomes a kill intent)
 * once the load balancer no longer has it and the drain time since its
 * removal has passed; until then the pass is requeued for that moment. */
static void lb_kills(ctx *c)
{
    const ctl_service_in *in = c->in;

    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        if (!t->lb_kill_type || c->ti[i].terminal || c->ti[i].withdrawn || t->pending ||
            t->lb == CTL_LB_IN)
            continue;
        int64_t due = t->lb == CTL_LB_OUT ? t->lb_removed_at + c->cfg->lb_drain_ms : c->now;
        if (c->now < due) {
            requeue_at(c, due);
            continue;
        }
        ctl_action *a = add_action(c, CTL_ACT_KILL);
        a->task_id = xstrdup(t->id);
        a->cleanup_type = t->lb_kill_type;
        a->message = xstrdup("out of the load balancer and drained");
        a->lb_cleanup = true;
    }
}

/* ---- phase 6: counts and conditions ----------------------------------------------- */

static void summarize(ctx *c)
{
    const ctl_service_in *in = c->in;
    api_request_status *s = &c->out->status;
    api_conditions *cs = &s->conditions;
    api_task_counts k = {0};
    char msg[512], place[256] = "";
    const ctl_task *unplaced = NULL;
    int n_unplaced = 0;

    k.instances = c->instances;
    /* Healthy slots, not tasks: a task leaving a decommissioning agent and
     * its replacement serve one slot. */
    bool *served = xcalloc((size_t)(c->instances > 0 ? c->instances : 0) + 1, sizeof(bool));
    for (size_t i = 0; i < in->n_tasks; i++) {
        const task_info *ti = &c->ti[i];
        const ctl_task *t = ti->t;
        if (ti->terminal)
            continue;
        if (ti->killed || going(ti)) {
            k.cleaning++;
            continue;
        }
        /* Issue 24: an UNREACHABLE task gave its slot up (its replacement
         * counts); an UNKNOWN one that ran keeps its slot and counts as it
         * was last seen (the master lost track of it, not the task), so a
         * master restart does not turn a ready request unready. */
        ctl_task seen;
        if (ti->held) {
            if (t->state != API_TASK_UNKNOWN || !t->running_at)
                continue;
            seen = *t;
            seen.state = API_TASK_RUNNING;
            t = &seen;
        }
        if (t->pending) {
            k.pending++;
            if (t->place_reason && n_unplaced++ == 0)
                unplaced = t;
        } else if (t->state == API_TASK_RUNNING)
            k.running++;
        else
            k.launching++;
        if (c->active && str_eq(t->deploy_id, c->active_id) && t->instance >= 1 &&
            t->instance <= c->instances && !served[t->instance - 1] &&
            task_healthy(c, t, c->active, NULL)) {
            served[t->instance - 1] = true;
            k.healthy++;
        }
    }
    free(served);
    s->counts = k;
    if (unplaced)
        snprintf(place, sizeof(place), "; %d task%s cannot be placed: %s%s%s%s", n_unplaced,
                 n_unplaced == 1 ? "" : "s", unplaced->place_reason,
                 unplaced->place_message ? " (" : "",
                 unplaced->place_message ? unplaced->place_message : "",
                 unplaced->place_message ? ")" : "");

    if (!in->request) {
        api_conditions_set(cs, API_COND_READY, API_COND_FALSE, "Deleted", "the request was deleted",
                           c->now);
    } else if (c->paused) {
        api_conditions_set(cs, API_COND_READY, API_COND_FALSE, "Paused", "the request is paused",
                           c->now);
    } else if (!c->active && !c->active_id) {
        snprintf(msg, sizeof(msg), "%s%s",
                 c->pending ? "the first deploy is rolling out" : "no deploy yet", place);
        api_conditions_set(cs, API_COND_READY, API_COND_FALSE, "NoActiveDeploy", msg, c->now);
    } else if (c->pending) {
        snprintf(msg, sizeof(msg), "deploy '%s' in progress; %d/%d tasks of '%s' healthy%s",
                 c->pending->id, k.healthy, c->instances, c->active_id, place);
        api_conditions_set(cs, API_COND_READY, API_COND_FALSE, "Deploying", msg, c->now);
    } else if (k.healthy >= c->instances) {
        snprintf(msg, sizeof(msg), "%d/%d tasks healthy", k.healthy, c->instances);
        api_conditions_set(cs, API_COND_READY, API_COND_TRUE, "AllTasksHealthy", msg, c->now);
    } else {
        snprintf(msg, sizeof(msg), "%d/%d tasks healthy%s", k.healthy, c->instances, place);
        api_conditions_set(cs, API_COND_READY, API_COND_FALSE,
                           s->state == API_RSTATE_SYSTEM_COOLDOWN ? "CoolingDown"
                                                                  : "NotAllTasksHealthy",
                           msg, c->now);
    }

    if (c->pending) {
        snprintf(msg, sizeof(msg), "deploy '%s': %s%s", c->pending->id,
                 c->pds->message ? c->pds->message : "starting", place);
        api_conditions_set(cs, API_COND_PROGRESSING, API_COND_TRUE, "DeployInProgress", msg,
                           c->now);
    } else {
        /* The outcome of the newest finished deploy, if any changed now. */
        const api_deploy_status *last = NULL;
        for (size_t i = 0; i < c->out->n_deploys; i++) {
            const api_deploy_status *d = &c->out->deploys[i].status;
            if (d->finishedAt && (!last || d->finishedAt >= last->finishedAt))
                last = d;
        }
        if (last) {
            const char *reason = last->state == API_DSTATE_SUCCEEDED    ? "DeploySucceeded"
                                 : last->state == API_DSTATE_CANCELED   ? "DeployCanceled"
                                 : last->state == API_DSTATE_SUPERSEDED ? "DeploySuperseded"
                                                                        : "DeployFailed";
            snprintf(msg, sizeof(msg), "deploy '%s' %s: %s", last->deployId,
                     api_deploy_state_name(last->state), last->message ? last->message : "");
            api_conditions_set(cs, API_COND_PROGRESSING, API_COND_FALSE, reason, msg, c->now);
        } else {
            api_conditions_set(cs, API_COND_PROGRESSING, API_COND_FALSE, "NoDeployInProgress", NULL,
                               c->now);
        }
    }

    if (s->state == API_RSTATE_SYSTEM_COOLDOWN) {
        snprintf(msg, sizeof(msg), "%zu recent task failures; relaunches are delayed by %lld s",
                 s->n_recentFailures, (long long)(c->cfg->cooldown_delay_ms / 1000));
        api_conditions_set(cs, API_COND_COOLING_DOWN, API_COND_TRUE, "CrashLoop", msg, c->now);
    } else {
        api_conditions_set(cs, API_COND_COOLING_DOWN, API_COND_FALSE, "NotCrashLooping", NULL,
                           c->now);
    }
    if (c->bouncing)
        api_conditions_set(cs, API_COND_BOUNCING, API_COND_TRUE, "BounceInProgress",
                           "replacing every task, new before old", c->now);
    else
        api_conditions_set(cs, API_COND_BOUNCING, API_COND_FALSE, "NoBounce", NULL, c->now);
}

/* ---- entry point -------------------------------------------------------------------------- */

void ctl_service_plan(const ctl_service_in *in, ctl_plan *out)
{
    ctl_config defaults;
    ctx c = {0};

    memset(out, 0, sizeof(*out));
    ctl_config_defaults(&defaults);
    c.in = in;
    c.out = out;
    c.cfg = in->config ? in->config : &defaults;
    c.now = in->now;
    c.ti = xcalloc(in->n_tasks + 1, sizeof(*c.ti));
    /* Issue 24: how long UNREACHABLE/UNKNOWN tasks are held. */
    int64_t hold = in->request && in->request->hold_ms >= 0 ? in->request->hold_ms
                                                            : c.cfg->unreachable_timeout_ms;
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        c.ti[i].t = t;
        c.ti[i].terminal = !t->pending && api_task_state_terminal(t->state);
        if (!t->pending && api_task_state_held(t->state)) {
            if (c.now - t->held_since >= hold)
                c.ti[i].terminal = true; /* given up: archived and replaced */
            else
                c.ti[i].held = true;
            if (c.ti[i].held)
                requeue_at(&c, t->held_since + hold);
        }
    }

    if (in->status) {
        api_request_status_copy(&out->status, in->status);
    } else {
        out->status.requestId = xstrdup(in->request_id);
        out->status.state = API_RSTATE_ACTIVE;
    }
    out->n_deploys = in->n_deploy_status;
    out->deploys = xcalloc(in->n_deploy_status + 1, sizeof(*out->deploys));
    for (size_t i = 0; i < in->n_deploy_status; i++)
        api_deploy_status_copy(&out->deploys[i].status, &in->deploy_status[i]);

    api_request_status *s = &out->status;
    const ctl_request *req = in->request;

    archive_terminal(&c);
    ctl_documents_condition(&s->conditions, in->ignored, c.now);

    if (req && req->invalid) {
        char msg[512];
        snprintf(msg, sizeof(msg), "invalid request: %s", req->invalid);
        api_conditions_set(&s->conditions, API_COND_VALID, API_COND_FALSE, "InvalidRequest", msg,
                           c.now);
        s->observedRevision = req->revision;
        goto done;
    }

    c.instances = req && !req->paused ? req->instances : 0;
    c.paused = req && req->paused;
    c.was_paused = s->state == API_RSTATE_PAUSED;
    c.desired = req ? req->instances : 0;
    if (req)
        s->observedRevision = req->revision;
    expire_actions(&c);

    select_deploys(&c);
    if (!req) {
        /* Delete: unfinished deploys end; everything is killed below. */
        for (size_t i = 0; i < out->n_deploys; i++)
            if (!api_deploy_state_terminal(out->deploys[i].status.state))
                finish_deploy(&c, &out->deploys[i].status, API_DSTATE_CANCELED, "request deleted");
        c.pending = NULL;
        c.pds = NULL;
    }
    deploy_to_unpause(&c);
    advance_pending(&c);

    /* Request state: pause and delete win; cooldown is tracked otherwise. */
    if (!req) {
        s->state = API_RSTATE_DELETING;
    } else if (c.paused) {
        s->state = API_RSTATE_PAUSED;
        s->cooldownSince = 0;
    } else {
        if (s->state != API_RSTATE_SYSTEM_COOLDOWN)
            s->state = API_RSTATE_ACTIVE;
        track_cooldown(&c);
        /* A new deploy that succeeded starts with a clean record. */
        if (c.active && !str_eq(c.active_id, in->status ? in->status->activeDeployId : NULL)) {
            for (size_t k = 0; k < s->n_recentFailures; k++)
                free(s->recentFailures[k].taskId);
            free(s->recentFailures);
            s->recentFailures = NULL;
            s->n_recentFailures = 0;
            s->state = API_RSTATE_ACTIVE;
            s->cooldownSince = 0;
        }
    }

    after_deploy(&c);
    withdraw_kills(&c);
    plan_tasks(&c);
    lb_kills(&c);

    if (!req) {
        bool live = false;
        for (size_t i = 0; i < in->n_tasks; i++)
            live |= !c.ti[i].terminal;
        if (!live)
            s->state = API_RSTATE_DELETED;
    }
    set_message(&s->pendingDeployId, c.pending ? c.pending->id : NULL);
    if (!(req && req->invalid)) {
        if (c.active_id && !c.active && req)
            api_conditions_set(&s->conditions, API_COND_VALID, API_COND_FALSE,
                               "ActiveDeployMissing",
                               "the active deploy's document is gone; its tasks are kept", c.now);
        else
            api_conditions_set(&s->conditions, API_COND_VALID, API_COND_TRUE, "Valid", NULL, c.now);
    }
    summarize(&c);

done:
    out->status_changed = !in->status || !api_request_status_equal(in->status, &out->status);
    if (out->status_changed)
        out->status.updatedAt = c.now;
    for (size_t i = 0; i < out->n_deploys; i++) {
        ctl_deploy_out *d = &out->deploys[i];
        d->changed =
            i >= in->n_deploy_status || !api_deploy_status_equal(&in->deploy_status[i], &d->status);
        if (d->changed)
            d->status.updatedAt = c.now;
    }
    out->requeue_after_ms = c.requeue ? c.requeue - c.now : 0;
    free(c.ti);
}

void ctl_documents_condition(api_conditions *cs, const char *ignored, int64_t now)
{
    if (ignored)
        api_conditions_set(cs, API_COND_DOCUMENTS_VALID, API_COND_FALSE, "InvalidDocuments",
                           ignored, now);
    else if (api_conditions_get(cs, API_COND_DOCUMENTS_VALID))
        api_conditions_set(cs, API_COND_DOCUMENTS_VALID, API_COND_TRUE, "AllDocumentsValid", NULL,
                           now);
}

void ctl_plan_release(ctl_plan *p)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        free(p->actions[i].task_id);
        free(p->actions[i].deploy_id);
        free(p->actions[i].message);
    }
    free(p->actions);
    api_request_status_release(&p->status);
    for (size_t i = 0; i < p->n_deploys; i++)
        api_deploy_status_release(&p->deploys[i].status);
    free(p->deploys);
    memset(p, 0, sizeof(*p));
}

const api_deploy_status *ctl_plan_deploy_status(const ctl_plan *p, const char *deploy_id)
{
    for (size_t i = 0; i < p->n_deploys; i++)
        if (str_eq(p->deploys[i].status.deployId, deploy_id))
            return &p->deploys[i].status;
    return NULL;
}

char *ctl_action_format(const ctl_action *a, int64_t now)
{
    cr_buf b = CR_BUF_INIT;

    switch (a->type) {
    case CTL_ACT_LAUNCH:
        cr_buf_addf(&b, "launch %s %d %s", a->deploy_id, a->instance, a->pending_type);
        if (a->run_at > now)
            cr_buf_addf(&b, " delay=%lld", (long long)(a->run_at - now));
        if (a->skip_checks)
            cr_buf_adds(&b, " skipChecks");
        break;
    case CTL_ACT_KILL:
        cr_buf_addf(&b, "kill %s %s", a->task_id, a->cleanup_type);
        break;
    case CTL_ACT_UNPEND:
        cr_buf_addf(&b, "unpend %s %s", a->task_id, a->cleanup_type);
        break;
    case CTL_ACT_ARCHIVE:
        cr_buf_addf(&b, "archive %s", a->task_id);
        break;
    case CTL_ACT_FORGET:
        cr_buf_addf(&b, "forget %s", a->task_id);
        break;
    case CTL_ACT_LB_KILL:
        cr_buf_addf(&b, "lbkill %s %s", a->task_id, a->cleanup_type);
        break;
    case CTL_ACT_EXPIRE:
        cr_buf_addf(&b, "expire %s", a->intent);
        if (!strcmp(a->intent, API_INTENT_SCALE))
            cr_buf_addf(&b, " instances=%d", a->revert_instances);
        if (!strcmp(a->intent, API_INTENT_SKIP_HEALTHCHECKS))
            cr_buf_addf(&b, " skipHealthchecks=%s", a->revert_skip ? "true" : "false");
        if (a->then_bounce)
            cr_buf_adds(&b, " bounce");
        break;
    case CTL_ACT_UNPAUSE:
        cr_buf_adds(&b, "unpause");
        break;
    case CTL_ACT_APPLY_REQUEST:
        cr_buf_addf(&b, "apply-request %s", a->deploy_id);
        break;
    case CTL_ACT_WITHDRAW:
        cr_buf_addf(&b, "withdraw %s %s", a->task_id, a->cleanup_type);
        break;
    }
    return cr_buf_detach(&b, NULL);
}
