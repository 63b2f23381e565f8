/* The machines plan; see machines.h for the rules. A pass runs in phases:
 * what each rack and agent is asked to be (intents, expiries, racks,
 * inactive hosts), the agents' moves (admission to DECOMMISSIONING last,
 * oldest request first, while there is room), the racks' moves (which
 * depend on their agents), Mesos maintenance calls, and the documents that
 * changed. */
#include "controllers/machines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

void ctl_machines_config_defaults(ctl_machines_config *c)
{
    c->max_decommissioning = 2;
    c->history_max = 20;
    c->mesos_drain = true;
    c->drain_retry_ms = 60 * 1000;
}

void ctl_mach_intent_view(const api_intent *in, ctl_mach_intent *out)
{
    memset(out, 0, sizeof(*out));
    if (!in)
        return;
    out->state = api_machine_state_parse(in->state);
    out->set = out->state != API_MSTATE_UNSET;
    out->timestamp = in->has_timestamp ? in->timestamp : 0;
    out->user = in->user;
    out->message = in->message;
    out->action_id = in->actionId;
    out->duration_ms = in->has_durationMillis ? in->durationMillis : 0;
    out->revert_to = api_machine_state_parse(in->revertToState);
    out->kill_on_timeout = in->has_killTasksOnDecommissionTimeout && in->killTasksOnDecommissionTimeout;
    out->force = in->has_force && in->force;
}

/* ---- context ------------------------------------------------------------------ */

/* What a machine is asked to be now, and by whom. */
typedef struct desire {
    bool set;
    api_machine_state state; /* ACTIVE, FROZEN, STARTING_DECOMMISSION, DECOMMISSIONED */
    int64_t timestamp;       /* when it was asked: the newest wins */
    const char *user, *message, *action_id;
    const char *cause; /* NULL (its own intent), "rack", "inactive", "expired" */
    bool kill_on_timeout, force;
    char *owned_message; /* when message was made here */
} desire;

typedef struct mstate {
    const ctl_machine *m;
    bool rack;
    api_machine *work; /* the new document, made on the first change */
    api_machine_state cur;
    desire want;
    bool moved;     /* changed state in this pass */
    size_t killed;  /* kills planned for its tasks in this pass */
    bool *task_killed;
} mstate;

typedef struct ctx {
    const ctl_machines_in *in;
    const ctl_machines_config *cfg;
    ctl_machines_plan *out;
    int64_t now;
    int64_t requeue; /* absolute; 0 none */
    mstate *agents, *racks;
} ctx;

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void requeue_at(ctx *c, int64_t at)
{
    if (at <= c->now)
        at = c->now + 1;
    if (!c->requeue || at < c->requeue)
        c->requeue = at;
}

static ctl_mach_action *add_action(ctx *c, ctl_mach_action_type type, const char *id)
{
    ctl_machines_plan *p = c->out;
    p->actions = xrealloc(p->actions, (p->n_actions + 1) * sizeof(*p->actions));
    ctl_mach_action *a = &p->actions[p->n_actions++];
    memset(a, 0, sizeof(*a));
    a->type = type;
    a->id = xstrdup(id);
    return a;
}

/* The document to change (copied on first use). */
static api_machine *work(mstate *s)
{
    if (!s->work) {
        s->work = api_machine_dup(s->m->doc);
        if (!s->work->id)
            s->work->id = xstrdup(s->m->id);
    }
    return s->work;
}

static const api_machine *doc_now(const mstate *s)
{
    return s->work ? s->work : s->m->doc;
}

static const char *cause_of(const mstate *s)
{
    const api_machine *d = doc_now(s);
    return d->has_currentState ? d->currentState.cause : NULL;
}

static void update_fill(api_machine_update *u, api_machine_state st, int64_t now,
                        const desire *w, const char *message)
{
    memset(u, 0, sizeof(*u));
    u->state = st;
    u->has_timestamp = true;
    u->timestamp = now;
    u->user = w && w->user ? xstrdup(w->user) : NULL;
    u->message = message ? xstrdup(message) : NULL;
    u->actionId = w && w->action_id ? xstrdup(w->action_id) : NULL;
    u->cause = w && w->cause ? xstrdup(w->cause) : NULL;
}

static void history_push(ctx *c, api_machine *d, const api_machine_update *u)
{
    size_t max = c->cfg->history_max ? c->cfg->history_max : 1;
    d->stateHistory = xrealloc(d->stateHistory, (d->n_stateHistory + 1) * sizeof(*d->stateHistory));
    api_machine_update_copy(&d->stateHistory[d->n_stateHistory++], u);
    while (d->n_stateHistory > max) {
        api_machine_update_release(&d->stateHistory[0]);
        memmove(d->stateHistory, d->stateHistory + 1,
                (d->n_stateHistory - 1) * sizeof(*d->stateHistory));
        d->n_stateHistory--;
    }
}

/* Moves machine s to state st (recorded in its history). */
static void set_state(ctx *c, mstate *s, api_machine_state st, const desire *w, const char *message)
{
    api_machine *d = work(s);
    api_machine_update u;
    update_fill(&u, st, c->now, w, message ? message : w ? w->message : NULL);
    if (d->has_currentState)
        api_machine_update_release(&d->currentState);
    d->currentState = u;
    d->has_currentState = true;
    history_push(c, d, &u);
    s->cur = st;
    s->moved = true;
    ctl_mach_action *a = add_action(c, CTL_MACT_STATE, s->m->id);
    a->rack = s->rack;
    a->state = st;
    a->message = u.message ? xstrdup(u.message) : NULL;
}

/* A state change made by someone else (the bridge) is not in the history
 * yet: add it. */
static void history_catch_up(ctx *c, mstate *s)
{
    const api_machine *d = s->m->doc;
    const api_machine_update *last =
        d->n_stateHistory ? &d->stateHistory[d->n_stateHistory - 1] : NULL;
    if (!d->has_currentState)
        return;
    if (last && last->state == d->currentState.state &&
        last->timestamp == d->currentState.timestamp)
        return;
    api_machine *w = work(s);
    history_push(c, w, &w->currentState);
}

static void set_progress(ctx *c, mstate *s, const char *reason, int left, const char *message)
{
    const api_machine *d = doc_now(s);
    int64_t since = d->has_progress && str_eq(d->progress.reason, reason) && d->progress.has_since
                        ? d->progress.since
                        : c->now;
    if (d->has_progress && str_eq(d->progress.reason, reason) &&
        str_eq(d->progress.message, message) && d->progress.has_tasksLeft &&
        d->progress.tasksLeft == left)
        return;
    api_machine *w = work(s);
    free(w->progress.reason);
    free(w->progress.message);
    w->progress.reason = xstrdup(reason);
    w->progress.message = xstrdup(message);
    w->progress.has_tasksLeft = true;
    w->progress.tasksLeft = left;
    w->progress.has_since = true;
    w->progress.since = since;
    w->has_progress = true;
}

static void clear_progress(mstate *s)
{
    if (!doc_now(s)->has_progress)
        return;
    api_machine *w = work(s);
    free(w->progress.reason);
    free(w->progress.message);
    json_decref(w->progress.extra);
    memset(&w->progress, 0, sizeof(w->progress));
    w->has_progress = false;
}

/* ---- what each machine is asked to be ------------------------------------------- */

/* An intent at c->now: its state, or once expired its revertToState. */
static void desire_of_intent(ctx *c, const ctl_mach_intent *in, desire *out)
{
    memset(out, 0, sizeof(*out));
    if (!in->set)
        return;
    out->set = true;
    out->state = in->state;
    out->timestamp = in->timestamp;
    out->user = in->user;
    out->message = in->message;
    out->action_id = in->action_id;
    out->kill_on_timeout = in->kill_on_timeout;
    out->force = in->force;
    if (in->duration_ms > 0) {
        int64_t at = in->timestamp + in->duration_ms;
        if (c->now < at) {
            requeue_at(c, at);
            return;
        }
        out->state = in->revert_to ? in->revert_to : API_MSTATE_ACTIVE;
        out->timestamp = at;
        out->cause = "expired";
        out->owned_message = xasprintf("the %s of %lld ms expired",
                                       api_machine_state_name(in->state),
                                       (long long)in->duration_ms);
        out->message = out->owned_message;
    }
}

/* The newer of *best and cand wins (ties: the machine's own). */
static void consider(desire *best, const desire *cand)
{
    if (!cand->set || (best->set && best->timestamp >= cand->timestamp))
        return;
    free(best->owned_message);
    *best = *cand;
    best->owned_message = cand->owned_message ? xstrdup(cand->owned_message) : NULL;
    if (cand->owned_message)
        best->message = best->owned_message;
}

static mstate *rack_of(ctx *c, const mstate *agent)
{
    const char *rid = agent->m->doc->rackId;
    for (size_t i = 0; rid && i < c->in->n_racks; i++)
        if (c->racks[i].m->doc && str_eq(c->racks[i].m->id, rid))
            return &c->racks[i];
    return NULL;
}

static void agent_desire(ctx *c, mstate *s)
{
    const api_machine *d = s->m->doc;
    desire own, cand;

    desire_of_intent(c, &s->m->intent, &own);
    s->want = own;
    own.owned_message = NULL; /* moved */

    /* Its rack decommissions: so does the agent. */
    mstate *r = rack_of(c, s);
    if (r && r->want.set &&
        (r->want.state == API_MSTATE_STARTING_DECOMMISSION ||
         r->want.state == API_MSTATE_DECOMMISSIONED)) {
        cand = r->want;
        cand.cause = "rack";
        cand.owned_message =
            xasprintf("rack %s is decommissioning%s%s", r->m->id, r->want.message ? ": " : "",
                      r->want.message ? r->want.message : "");
        cand.message = cand.owned_message;
        consider(&s->want, &cand);
        free(cand.owned_message);
    }
    /* Its host was marked inactive before it registered. */
    for (size_t i = 0; d->host && d->has_firstSeenAt && i < c->in->n_inactive; i++) {
        const ctl_inactive_host *h = &c->in->inactive[i];
        if (!str_eq(h->host, d->host) || d->firstSeenAt < h->timestamp)
            continue;
        memset(&cand, 0, sizeof(cand));
        cand.set = true;
        cand.state = API_MSTATE_STARTING_DECOMMISSION;
        cand.timestamp = h->timestamp;
        cand.user = h->user;
        cand.cause = "inactive";
        cand.owned_message = xasprintf("agent %s on inactive host %s registered", s->m->id,
                                       d->host);
        cand.message = cand.owned_message;
        consider(&s->want, &cand);
        free(cand.owned_message);
    }
}

/* ---- agents ----------------------------------------------------------------------- */

static size_t live_tasks(const mstate *s)
{
    return s->m->n_tasks;
}

static void plan_kill(ctx *c, mstate *s, size_t i, const char *type, const desire *w, const char *msg)
{
    const ctl_mach_task *t = &s->m->tasks[i];
    if (t->cleaning || s->task_killed[i])
        return;
    s->task_killed[i] = true;
    s->killed++;
    ctl_mach_action *a = add_action(c, CTL_MACT_KILL, t->id);
    a->cleanup_type = type;
    a->user = w && w->user ? xstrdup(w->user) : NULL;
    a->message = xstrdup(msg);
}

/* A decommissioning agent's tasks: kill what force gives up on, and say
 * where the move stands. */
static void agent_progress(ctx *c, mstate *s)
{
    size_t n = s->m->n_tasks, cleaning = 0, jobs = 0, stuck = 0, waiting = 0, pending = 0;
    size_t unreachable = 0;
    const ctl_mach_task *first_stuck = NULL;
    char msg[768];

    for (size_t i = 0; i < n; i++) {
        const ctl_mach_task *t = &s->m->tasks[i];
        bool cant = t->long_running && t->repl_pending && t->repl_reason;
        /* a held service task is not killed to make room (issue 21): the
         * kill could not reach it, and it is planned afresh when back */
        if (s->want.force && !t->cleaning && (!t->long_running || (cant && !t->held))) {
            char *why = t->long_running
                            ? xasprintf("agent %s is decommissioning (forced): its replacement "
                                        "cannot be placed: %s",
                                        s->m->id, t->repl_reason)
                            : xasprintf("agent %s is decommissioning (forced)", s->m->id);
            plan_kill(c, s, i, "DECOMISSIONING", &s->want, why);
            free(why);
        }
        if (t->cleaning || s->task_killed[i]) {
            cleaning++;
        } else if (t->unreachable) {
            /* its agent lost contact: the service loop replaced it already,
             * and no kill reaches it; the bridge marks the agent DEAD once
             * the master drops it (docs/machines.md, "Agents lost") */
            unreachable++;
        } else if (!t->long_running) {
            jobs++;
        } else if (cant) {
            if (!stuck++)
                first_stuck = t;
        } else {
            waiting++;
            pending += t->repl_pending;
        }
    }
    if (stuck) {
        snprintf(msg, sizeof(msg),
                 "%zu of %zu task%s wait%s for a replacement that cannot be placed (%s instance "
                 "%d: %s%s%s%s); they keep running here until there is room elsewhere "
                 "(decommission with force to kill them)",
                 stuck, n, n == 1 ? "" : "s", stuck == 1 ? "s" : "", first_stuck->request_id,
                 first_stuck->instance, first_stuck->repl_reason,
                 first_stuck->repl_message ? " (" : "",
                 first_stuck->repl_message ? first_stuck->repl_message : "",
                 first_stuck->repl_message ? ")" : "");
        set_progress(c, s, "CannotPlaceReplacements", (int)n, msg);
    } else if (waiting) {
        snprintf(msg, sizeof(msg),
                 "%zu task%s wait%s for a healthy replacement elsewhere (%zu not placed yet), "
                 "%zu being killed",
                 waiting, waiting == 1 ? "" : "s", waiting == 1 ? "s" : "", pending, cleaning);
        set_progress(c, s, "MovingTasks", (int)n, msg);
    } else if (jobs) {
        snprintf(msg, sizeof(msg),
                 "%zu job task%s left to finish (decommission with force to kill them)", jobs,
                 jobs == 1 ? " is" : "s are");
        set_progress(c, s, "WaitingForJobs", (int)n, msg);
    } else if (unreachable) {
        snprintf(msg, sizeof(msg),
                 "%zu task%s unreachable: the agent lost contact with the Mesos master and "
                 "%s replaced elsewhere; the agent is DEAD once the master drops it",
                 unreachable, unreachable == 1 ? " is" : "s are",
                 unreachable == 1 ? "it was" : "they were");
        set_progress(c, s, "TasksUnreachable", (int)n, msg);
    } else {
        snprintf(msg, sizeof(msg), "%zu task%s being killed", cleaning,
                 cleaning == 1 ? " is" : "s are");
        set_progress(c, s, "KillingTasks", (int)n, msg);
    }
}

/* An expired decommission that ends in DECOMMISSIONED. */
static void timeout_kills(ctx *c, mstate *s)
{
    if (!s->want.kill_on_timeout)
        return;
    for (size_t i = 0; i < s->m->n_tasks; i++) {
        char *why = xasprintf("agent %s: the decommission timed out", s->m->id);
        plan_kill(c, s, i, "DECOMMISSION_TIMEOUT", &s->want, why);
        free(why);
    }
}

/* One agent, all but admission; returns whether it waits for admission. */
static bool agent_move(ctx *c, mstate *s, int *decommissioning)
{
    const desire *w = &s->want;
    api_machine_state cur = s->cur;
    size_t live = live_tasks(s);

    if (cur == API_MSTATE_DEAD || cur == API_MSTATE_MISSING_ON_STARTUP) {
        clear_progress(s); /* the bridge's: it revives it when the master lists it */
        return false;
    }
    if (!w->set) {
        /* Nothing asks any more (its rack was activated, its host is
         * active again): a change made on their behalf is undone. */
        const char *why = cause_of(s);
        if (cur != API_MSTATE_ACTIVE && (str_eq(why, "rack") || str_eq(why, "inactive"))) {
            desire back = {.set = true, .state = API_MSTATE_ACTIVE, .cause = why};
            if (cur == API_MSTATE_DECOMMISSIONING)
                (*decommissioning)--;
            set_state(c, s, API_MSTATE_ACTIVE, &back,
                      str_eq(why, "rack") ? "its rack is no longer decommissioning"
                                          : "its host is no longer inactive");
        }
        clear_progress(s);
        return false;
    }
    switch (w->state) {
    case API_MSTATE_ACTIVE:
    case API_MSTATE_FROZEN:
        if (cur != w->state) {
            if (cur == API_MSTATE_DECOMMISSIONING)
                (*decommissioning)--;
            set_state(c, s, w->state, w, NULL);
        }
        clear_progress(s);
        return false;
    case API_MSTATE_DECOMMISSIONED:
        if (cur != API_MSTATE_DECOMMISSIONED) {
            if (cur == API_MSTATE_DECOMMISSIONING)
                (*decommissioning)--;
            set_state(c, s, API_MSTATE_DECOMMISSIONED, w, NULL);
        }
        timeout_kills(c, s);
        if (s->killed || live)
            agent_progress(c, s);
        else
            clear_progress(s);
        return false;
    default:
        break;
    }
    /* A decommission. */
    switch (cur) {
    case API_MSTATE_ACTIVE:
    case API_MSTATE_FROZEN:
        set_state(c, s, API_MSTATE_STARTING_DECOMMISSION, w, NULL);
        return false;
    case API_MSTATE_STARTING_DECOMMISSION:
        if (!live) {
            set_state(c, s, API_MSTATE_DECOMMISSIONED, w, "no tasks were running on it");
            clear_progress(s);
            return false;
        }
        return true;
    case API_MSTATE_DECOMMISSIONING:
        if (!live) {
            (*decommissioning)--;
            set_state(c, s, API_MSTATE_DECOMMISSIONED, w, "every task moved elsewhere");
            clear_progress(s);
            return false;
        }
        agent_progress(c, s);
        return false;
    case API_MSTATE_DECOMMISSIONED:
        if (live)
            agent_progress(c, s);
        else
            clear_progress(s);
        return false;
    default:
        return false;
    }
}

static int cmp_waiting(const void *a, const void *b)
{
    const mstate *x = *(mstate *const *)a, *y = *(mstate *const *)b;
    int64_t tx = doc_now(x)->currentState.timestamp, ty = doc_now(y)->currentState.timestamp;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(x->m->id, y->m->id);
}

/* STARTING_DECOMMISSION agents with tasks, oldest first, while fewer than
 * max are DECOMMISSIONING. */
static void admit(ctx *c, mstate **waiting, size_t n, int decommissioning)
{
    int max = c->cfg->max_decommissioning > 0 ? c->cfg->max_decommissioning : 1;
    if (n > 1)
        qsort(waiting, n, sizeof(*waiting), cmp_waiting);
    for (size_t i = 0; i < n; i++) {
        mstate *s = waiting[i];
        if (decommissioning < max) {
            decommissioning++;
            set_state(c, s, API_MSTATE_DECOMMISSIONING, &s->want, NULL);
            agent_progress(c, s);
            continue;
        }
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "%d agent%s decommissioning (at most %d at once); its %zu task%s wait%s",
                 decommissioning, decommissioning == 1 ? " is" : "s are", max, s->m->n_tasks,
                 s->m->n_tasks == 1 ? "" : "s", s->m->n_tasks == 1 ? "s" : "");
        set_progress(c, s, "WaitingForAdmission", (int)s->m->n_tasks, msg);
    }
}

/* ---- racks ------------------------------------------------------------------------ */

static void rack_move(ctx *c, mstate *r)
{
    const desire *w = &r->want;
    api_machine_state cur = r->cur;

    if (cur == API_MSTATE_DEAD || cur == API_MSTATE_MISSING_ON_STARTUP || !w->set) {
        clear_progress(r);
        return;
    }
    if (w->state == API_MSTATE_ACTIVE || w->state == API_MSTATE_FROZEN) {
        if (cur != w->state)
            set_state(c, r, w->state, w, NULL);
        clear_progress(r);
        return;
    }
    /* A decommission (or its expiry into DECOMMISSIONED): done once no agent
     * of the rack still decommissions because of it. */
    size_t agents = 0, left = 0;
    for (size_t i = 0; i < c->in->n_agents; i++) {
        const mstate *a = &c->agents[i];
        if (!a->m->doc || !str_eq(a->m->doc->rackId, r->m->id))
            continue;
        agents++;
        if (str_eq(a->want.cause, "rack") && a->cur != API_MSTATE_DECOMMISSIONED &&
            a->cur != API_MSTATE_DEAD && a->cur != API_MSTATE_MISSING_ON_STARTUP)
            left++;
    }
    if (w->state == API_MSTATE_DECOMMISSIONED) {
        if (cur != API_MSTATE_DECOMMISSIONED)
            set_state(c, r, API_MSTATE_DECOMMISSIONED, w, NULL);
        clear_progress(r);
        return;
    }
    switch (cur) {
    case API_MSTATE_ACTIVE:
    case API_MSTATE_FROZEN:
        set_state(c, r, API_MSTATE_STARTING_DECOMMISSION, w, NULL);
        return;
    case API_MSTATE_STARTING_DECOMMISSION:
        set_state(c, r, API_MSTATE_DECOMMISSIONING, w, NULL);
        break;
    case API_MSTATE_DECOMMISSIONING:
        if (!left) {
            set_state(c, r, API_MSTATE_DECOMMISSIONED, w, "every agent of the rack is done");
            clear_progress(r);
            return;
        }
        break;
    default:
        clear_progress(r);
        return;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%zu of %zu agent%s decommissioned", agents - left, agents,
             agents == 1 ? "" : "s");
    set_progress(c, r, "DecommissioningAgents", (int)left, msg);
}

/* ---- Mesos maintenance -------------------------------------------------------------- */

static void mesos_calls(ctx *c, mstate *s)
{
    const ctl_mach_mesos *ms = &s->m->mesos;
    if (ms->has_result) {
        const api_machine *d = doc_now(s);
        bool shown = d->has_mesosDrain && d->mesosDrain.timestamp == ms->result_at &&
                     str_eq(d->mesosDrain.state, ms->result_state);
        bool cleared = str_eq(ms->result_state, "REACTIVATED") && !d->has_mesosDrain;
        if (!shown && !cleared) {
            api_machine *w = work(s);
            free(w->mesosDrain.state);
            free(w->mesosDrain.message);
            json_decref(w->mesosDrain.extra);
            memset(&w->mesosDrain, 0, sizeof(w->mesosDrain));
            w->has_mesosDrain = !str_eq(ms->result_state, "REACTIVATED");
            if (w->has_mesosDrain) {
                w->mesosDrain.state = xstrdup(ms->result_state);
                w->mesosDrain.has_timestamp = true;
                w->mesosDrain.timestamp = ms->result_at;
                w->mesosDrain.message = ms->result_message ? xstrdup(ms->result_message) : NULL;
            }
        }
    }
    if (!c->cfg->mesos_drain || ms->inflight)
        return;
    const api_machine *d = doc_now(s);
    const char *st = d->has_mesosDrain ? d->mesosDrain.state : NULL;
    int64_t retry_at = d->mesosDrain.timestamp + c->cfg->drain_retry_ms;
    bool decommissioned = s->cur == API_MSTATE_DECOMMISSIONED && !s->m->n_tasks;
    bool back = s->cur != API_MSTATE_DECOMMISSIONED && s->cur != API_MSTATE_DEAD &&
                s->cur != API_MSTATE_MISSING_ON_STARTUP;

    if (decommissioned && (!st || str_eq(st, "REACTIVATE_FAILED"))) {
        add_action(c, CTL_MACT_DRAIN, s->m->id);
    } else if (decommissioned && str_eq(st, "FAILED")) {
        if (c->now >= retry_at)
            add_action(c, CTL_MACT_DRAIN, s->m->id);
        else
            requeue_at(c, retry_at);
    } else if (back && str_eq(st, "DRAINED")) {
        add_action(c, CTL_MACT_REACTIVATE, s->m->id);
    } else if (back && str_eq(st, "REACTIVATE_FAILED")) {
        if (c->now >= retry_at)
            add_action(c, CTL_MACT_REACTIVATE, s->m->id);
        else
            requeue_at(c, retry_at);
    } else if (back && (str_eq(st, "UNSUPPORTED") || str_eq(st, "FAILED"))) {
        /* nothing was drained: forget the attempt */
        api_machine *w = work(s);
        free(w->mesosDrain.state);
        free(w->mesosDrain.message);
        json_decref(w->mesosDrain.extra);
        memset(&w->mesosDrain, 0, sizeof(w->mesosDrain));
        w->has_mesosDrain = false;
    }
}

/* ---- the pass ------------------------------------------------------------------------- */

static void init_states(ctx *c, mstate *v, const ctl_machine *m, size_t n, bool rack)
{
    for (size_t i = 0; i < n; i++) {
        v[i].m = &m[i];
        v[i].rack = rack;
        v[i].cur = m[i].doc ? api_machine_current(m[i].doc) : API_MSTATE_UNSET;
        v[i].task_killed = xcalloc(m[i].n_tasks + 1, sizeof(bool));
    }
}

/* The intent was seen: the API stops showing it as pending. */
static void observe_intent(mstate *s)
{
    const ctl_mach_intent *in = &s->m->intent;
    const api_machine *d = doc_now(s);
    if (!in->set || (d->has_observedIntent && d->observedIntent == in->timestamp))
        return;
    api_machine *w = work(s);
    w->has_observedIntent = true;
    w->observedIntent = in->timestamp;
}

static void collect_write(ctx *c, mstate *s)
{
    if (!s->work || api_machine_equal(s->work, s->m->doc)) {
        api_machine_free(s->work);
        s->work = NULL;
        return;
    }
    ctl_machines_plan *p = c->out;
    p->writes = xrealloc(p->writes, (p->n_writes + 1) * sizeof(*p->writes));
    p->writes[p->n_writes++] =
        (ctl_mach_write){s->rack, s->m->id, s->work, s->m->mod_revision};
    s->work = NULL;
}

void ctl_machines_plan_run(const ctl_machines_in *in, ctl_machines_plan *out)
{
    ctl_machines_config defaults;
    ctx c = {0};
    int decommissioning = 0;
    size_t n_wait = 0;

    memset(out, 0, sizeof(*out));
    ctl_machines_config_defaults(&defaults);
    c.in = in;
    c.cfg = in->config ? in->config : &defaults;
    c.out = out;
    c.now = in->now;
    c.agents = xcalloc(in->n_agents + 1, sizeof(*c.agents));
    c.racks = xcalloc(in->n_racks + 1, sizeof(*c.racks));
    init_states(&c, c.agents, in->agents, in->n_agents, false);
    init_states(&c, c.racks, in->racks, in->n_racks, true);
    mstate **waiting = xcalloc(in->n_agents + 1, sizeof(*waiting));

    for (size_t i = 0; i < in->n_racks; i++) {
        mstate *r = &c.racks[i];
        if (!r->m->doc)
            continue;
        history_catch_up(&c, r);
        desire_of_intent(&c, &r->m->intent, &r->want);
    }
    for (size_t i = 0; i < in->n_agents; i++) {
        mstate *a = &c.agents[i];
        if (!a->m->doc)
            continue;
        history_catch_up(&c, a);
        agent_desire(&c, a);
        if (a->cur == API_MSTATE_DECOMMISSIONING)
            decommissioning++;
    }
    for (size_t i = 0; i < in->n_agents; i++) {
        mstate *a = &c.agents[i];
        if (!a->m->doc)
            continue;
        observe_intent(a);
        if (agent_move(&c, a, &decommissioning))
            waiting[n_wait++] = a;
    }
    admit(&c, waiting, n_wait, decommissioning);
    for (size_t i = 0; i < in->n_racks; i++) {
        mstate *r = &c.racks[i];
        if (!r->m->doc)
            continue;
        observe_intent(r);
        rack_move(&c, r);
    }
    for (size_t i = 0; i < in->n_agents; i++) {
        mstate *a = &c.agents[i];
        if (!a->m->doc)
            continue;
        mesos_calls(&c, a);
        collect_write(&c, a);
    }
    for (size_t i = 0; i < in->n_racks; i++)
        if (c.racks[i].m->doc)
            collect_write(&c, &c.racks[i]);

    out->requeue_after_ms = c.requeue ? c.requeue - c.now : 0;
    for (size_t i = 0; i < in->n_agents; i++) {
        free(c.agents[i].want.owned_message);
        free(c.agents[i].task_killed);
        api_machine_free(c.agents[i].work);
    }
    for (size_t i = 0; i < in->n_racks; i++) {
        free(c.racks[i].want.owned_message);
        free(c.racks[i].task_killed);
        api_machine_free(c.racks[i].work);
    }
    free(waiting);
    free(c.agents);
    free(c.racks);
}

void ctl_machines_plan_release(ctl_machines_plan *p)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        free(p->actions[i].id);
        free(p->actions[i].user);
        free(p->actions[i].message);
    }
    free(p->actions);
    for (size_t i = 0; i < p->n_writes; i++)
        api_machine_free(p->writes[i].doc);
    free(p->writes);
    memset(p, 0, sizeof(*p));
}

char *ctl_mach_action_format(const ctl_mach_action *a)
{
    switch (a->type) {
    case CTL_MACT_STATE:
        return xasprintf("%s %s %s", a->rack ? "rack" : "agent", a->id,
                         api_machine_state_name(a->state));
    case CTL_MACT_KILL:
        return xasprintf("kill %s %s", a->id, a->cleanup_type);
    case CTL_MACT_DRAIN:
        return xasprintf("drain %s", a->id);
    case CTL_MACT_REACTIVATE:
        return xasprintf("reactivate %s", a->id);
    }
    return xstrdup("?");
}
