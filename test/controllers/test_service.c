/* Plan tests for the service/worker controller.
 *
 * 1. Fixture cases: test/controllers/fixtures/service_*.json, each an array of
 *    {name, now, request, deploys, tasks, status, deployStatus, history,
 *    config, expect}; the format is in fixtures/README.md. One cmocka test
 *    per file; every case in it runs.
 * 2. Simulations: the plan driven in a loop against a tiny in-memory world
 *    standing in for the etcd documents and the bridge, checking invariants
 *    at every tick (never below capacity during a failing deploy, no
 *    instance launched twice). */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/xalloc.h"
#include "controllers/plan.h"
#include "controllers/spread.h"

/* ---- fixture loading ----------------------------------------------------------- */

typedef struct fx_case {
    const char *name;
    ctl_service_in in;
    ctl_request req;
    ctl_config cfg;
    ctl_deploy *deploys;
    ctl_task *tasks;
    api_request_status status;
    api_deploy_status *dstatus;
    const char **history;
} fx_case;

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t jint(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static bool jbool(const json_t *o, const char *k, bool dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void fx_load(fx_case *c, const json_t *j)
{
    api_problems probs = API_PROBLEMS_INIT;
    const json_t *v;
    size_t i;

    memset(c, 0, sizeof(*c));
    c->name = jstr(j, "name");
    assert_non_null(c->name);
    c->in.now = jint(j, "now", 1000000);
    c->in.unconfirmed = jbool(j, "unconfirmed", false);
    ctl_config_defaults(&c->cfg);
    v = json_object_get(j, "config");
    if (v) {
        c->cfg.history_max = (size_t)jint(v, "historyMax", (int64_t)c->cfg.history_max);
        c->cfg.cooldown_failures = (int)jint(v, "cooldownFailures", c->cfg.cooldown_failures);
        c->cfg.unreachable_timeout_ms =
            jint(v, "unreachableTimeoutMs", c->cfg.unreachable_timeout_ms);
        c->cfg.lb_drain_ms = jint(v, "lbDrainMs", c->cfg.lb_drain_ms);
    }
    c->in.config = &c->cfg;

    v = json_object_get(j, "request");
    c->in.request_id = "web";
    if (json_is_object(v)) {
        c->req.id = jstr(v, "id") ? jstr(v, "id") : "web";
        c->req.instances = (int)jint(v, "instances", 1);
        c->req.paused = jbool(v, "paused", false);
        c->req.bounce = jint(v, "bounce", 0);
        c->req.exit_cooldown = jint(v, "exitCooldown", 0);
        c->req.revision = jint(v, "revision", 1);
        c->req.invalid = jstr(v, "invalid");
        c->req.hold_ms = jint(v, "holdMs", -1);
        /* issue 20: pause/bounce options and expiring actions */
        c->req.pause_keeps_tasks = jbool(v, "pauseKeepsTasks", false);
        c->req.paused_at = jint(v, "pausedAt", 0);
        c->req.bounce_incremental = jbool(v, "bounceIncremental", false);
        c->req.pause_exp.at = jint(v, "pauseExpiresAt", 0);
        c->req.pause_exp.revision = jint(v, "pauseRevision", 0);
        c->req.bounce_exp.at = jint(v, "bounceExpiresAt", 0);
        c->req.scale_exp.at = jint(v, "scaleExpiresAt", 0);
        c->req.scale_revert = (int)jint(v, "scaleRevert", 0);
        c->req.scale_bounce = jbool(v, "scaleBounce", false);
        c->req.skip_exp.at = jint(v, "skipExpiresAt", 0);
        c->req.skip_revert = jbool(v, "skipRevert", false);
        c->in.request = &c->req;
        c->in.request_id = c->req.id;
    }

    v = json_object_get(j, "deploys");
    c->in.n_deploys = json_array_size(v);
    c->deploys = xcalloc(c->in.n_deploys + 1, sizeof(*c->deploys));
    for (i = 0; i < c->in.n_deploys; i++) {
        const json_t *d = json_array_get(v, i);
        ctl_deploy *o = &c->deploys[i];
        o->id = jstr(d, "id");
        o->revision = jint(d, "revision", (int64_t)i + 1);
        o->step_size = (int)jint(d, "stepSize", 0);
        o->step_wait_ms = jint(d, "stepWaitMs", 0);
        o->auto_advance = jbool(d, "autoAdvance", true);
        o->max_task_retries = (int)jint(d, "maxTaskRetries", 0);
        o->health_timeout_ms = jint(d, "healthTimeoutMs", 120000);
        o->healthy_after_ms = jint(d, "healthyAfterMs", 5000);
        o->http_check = jbool(d, "httpCheck", false);
        o->check_budget_ms = jint(d, "checkBudgetMs", 0);
        o->cancel = jbool(d, "cancel", false);
        o->target_override = (int)jint(d, "targetOverride", 0);
        o->invalid = jstr(d, "invalid");
        o->unpause_on_success = jbool(d, "unpauseOnSuccess", false);
        o->updates_request = jbool(d, "updatesRequest", false);
    }
    c->in.deploys = c->deploys;

    v = json_object_get(j, "tasks");
    c->in.n_tasks = json_array_size(v);
    c->tasks = xcalloc(c->in.n_tasks + 1, sizeof(*c->tasks));
    for (i = 0; i < c->in.n_tasks; i++) {
        const json_t *t = json_array_get(v, i);
        ctl_task *o = &c->tasks[i];
        const char *st = jstr(t, "state");
        const char *h = jstr(t, "health");
        o->id = jstr(t, "id");
        o->deploy_id = jstr(t, "deploy");
        o->instance = (int)jint(t, "instance", 1);
        o->pending = jbool(t, "pending", false);
        o->state =
            o->pending ? API_TASK_STATE_NONE : api_task_state_parse(st ? st : "TASK_RUNNING");
        if (!o->pending && o->state == API_TASK_STATE_NONE)
            fail_msg("%s: task %zu: bad state %s", c->name, i, st);
        o->launched_at = jint(t, "launchedAt", 0);
        o->running_at = jint(t, "runningAt", o->state == API_TASK_RUNNING ? 1 : 0);
        o->cleaning = jbool(t, "cleaning", false);
        /* "cleanup": the kill intent's type (implies cleaning) */
        o->cleanup_type = jstr(t, "cleanup");
        o->cleanup_user = jstr(t, "cleanupUser") ? jstr(t, "cleanupUser") : "corral";
        o->cleanup_revision = jint(t, "cleanupRevision", 0);
        o->cleanup_at = jint(t, "cleanupAt", 0);
        if (o->cleanup_type)
            o->cleaning = true;
        o->decommissioning = jbool(t, "decommissioning", false);
        o->health = !h                          ? CTL_HEALTH_UNKNOWN
                    : strcmp(h, "HEALTHY") == 0 ? CTL_HEALTH_HEALTHY
                                                : CTL_HEALTH_UNHEALTHY;
        o->reason = jstr(t, "reason");
        o->held_since = jint(t, "heldSince", 0);
        /* load balancing: "lb": "IN" | "OUT", "lbRemovedAt", "lbKill" */
        const char *lb = jstr(t, "lb");
        o->lb = !lb ? CTL_LB_NONE : strcmp(lb, "IN") == 0 ? CTL_LB_IN : CTL_LB_OUT;
        o->lb_removed_at = jint(t, "lbRemovedAt", 0);
        o->lb_kill_type = jstr(t, "lbKill");
        if (o->lb_kill_type)
            o->cleaning = true;
        assert_non_null(o->id);
    }
    c->in.tasks = c->tasks;
    /* SPREAD_ALL_AGENTS (service_spread.json): "spreadAgents" is the count
     * (ctl_spread_count); a task's "agentSpreads": false puts it on an
     * agent that no longer takes one. The slots as the loop gives them. */
    v = json_object_get(j, "spreadAgents");
    if (json_is_integer(v) && c->in.request) {
        bool *on = xcalloc(c->in.n_tasks + 1, sizeof(bool));
        for (i = 0; i < c->in.n_tasks; i++)
            on[i] = jbool(json_array_get(json_object_get(j, "tasks"), i), "agentSpreads", true);
        c->req.instances = (int)json_integer_value(v);
        ctl_spread_slots(c->req.instances, c->tasks, c->in.n_tasks, on);
        free(on);
    }

    v = json_object_get(j, "status");
    if (v) {
        if (api_request_status_from_json(v, &c->status, "status", &probs))
            fail_msg("%s: %s", c->name, api_problems_format(&probs));
        c->in.status = &c->status;
    }
    v = json_object_get(j, "deployStatus");
    c->in.n_deploy_status = json_array_size(v);
    c->dstatus = xcalloc(c->in.n_deploy_status + 1, sizeof(*c->dstatus));
    for (i = 0; i < c->in.n_deploy_status; i++)
        if (api_deploy_status_from_json(json_array_get(v, i), &c->dstatus[i], "deployStatus",
                                        &probs))
            fail_msg("%s: %s", c->name, api_problems_format(&probs));
    c->in.deploy_status = c->dstatus;

    v = json_object_get(j, "history");
    c->in.n_history = json_array_size(v);
    c->history = xcalloc(c->in.n_history + 1, sizeof(*c->history));
    for (i = 0; i < c->in.n_history; i++)
        c->history[i] = json_string_value(json_array_get(v, i));
    c->in.history = c->history;
    c->in.ignored = jstr(j, "ignored");
    api_problems_release(&probs);
}

static void fx_release(fx_case *c)
{
    free(c->deploys);
    free(c->tasks);
    api_request_status_release(&c->status);
    for (size_t i = 0; i < c->in.n_deploy_status; i++)
        api_deploy_status_release(&c->dstatus[i]);
    free(c->dstatus);
    free(c->history);
}

/* ---- checking ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *actions_text(const ctl_plan *p, int64_t now)
{
    char **lines = xcalloc(p->n_actions + 1, sizeof(*lines));
    size_t len = 1;
    for (size_t i = 0; i < p->n_actions; i++) {
        lines[i] = ctl_action_format(&p->actions[i], now);
        len += strlen(lines[i]) + 1;
    }
    qsort(lines, p->n_actions, sizeof(*lines), cmp_str);
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < p->n_actions; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    free(lines);
    return out;
}

static char *expected_text(const json_t *arr)
{
    size_t n = json_array_size(arr), len = 1;
    const char **lines = xcalloc(n + 1, sizeof(*lines));
    for (size_t i = 0; i < n; i++) {
        lines[i] = json_string_value(json_array_get(arr, i));
        assert_non_null(lines[i]);
        len += strlen(lines[i]) + 1;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
    }
    free(lines);
    return out;
}

#define FX_FAIL(c, ...)                        \
    do {                                       \
        print_error("case '%s': ", (c)->name); \
        fail_msg(__VA_ARGS__);                 \
    } while (0)

static void expect_str(const fx_case *c, const char *what, const char *want, const char *got)
{
    if (!want && !got)
        return;
    if (!want || !got || strcmp(want, got) != 0)
        FX_FAIL(c, "%s: want %s, got %s", what, want ? want : "null", got ? got : "null");
}

static void fx_check(const fx_case *c, const ctl_plan *p, const json_t *e)
{
    const json_t *v;
    const char *k;

    v = json_object_get(e, "actions");
    if (v) {
        char *want = expected_text(v), *got = actions_text(p, c->in.now);
        if (strcmp(want, got) != 0)
            FX_FAIL(c, "actions differ\n--- want\n%s--- got\n%s", want, got);
        free(want);
        free(got);
    }
    if ((v = json_object_get(e, "state")))
        expect_str(c, "state", json_string_value(v), api_request_state_name(p->status.state));
    if ((v = json_object_get(e, "activeDeployId")))
        expect_str(c, "activeDeployId", json_string_value(v), p->status.activeDeployId);
    if ((v = json_object_get(e, "pendingDeployId")))
        expect_str(c, "pendingDeployId", json_string_value(v), p->status.pendingDeployId);
    json_object_foreach((json_t *)json_object_get(e, "deploys"), k, v)
    {
        const api_deploy_status *ds = ctl_plan_deploy_status(p, k);
        char what[128];
        snprintf(what, sizeof(what), "deploy %s state", k);
        expect_str(c, what, json_string_value(v), ds ? api_deploy_state_name(ds->state) : NULL);
    }
    json_object_foreach((json_t *)json_object_get(e, "deployFailures"), k, v)
    {
        const api_deploy_status *ds = ctl_plan_deploy_status(p, k);
        if (!ds)
            FX_FAIL(c, "deploy %s: no status", k);
        size_t i;
        const json_t *r;
        if (json_array_size(v) != ds->n_failures)
            FX_FAIL(c, "deploy %s: want %zu failures, got %zu", k, json_array_size(v),
                    ds->n_failures);
        json_array_foreach(v, i, r)
        {
            expect_str(c, "failure reason", json_string_value(r),
                       api_deploy_failure_reason_name(ds->failures[i].reason));
        }
    }
    json_object_foreach((json_t *)json_object_get(e, "deployTarget"), k, v)
    {
        const api_deploy_status *ds = ctl_plan_deploy_status(p, k);
        if (!ds || ds->targetActiveInstances != json_integer_value(v))
            FX_FAIL(c, "deploy %s: want target %lld, got %d", k, (long long)json_integer_value(v),
                    ds ? ds->targetActiveInstances : -1);
    }
    json_object_foreach((json_t *)json_object_get(e, "conditions"), k, v)
    {
        const api_condition *cond = api_conditions_get(&p->status.conditions, k);
        char got[256];
        snprintf(got, sizeof(got), "%s/%s", cond ? api_cond_status_name(cond->status) : "-",
                 cond && cond->reason ? cond->reason : "-");
        expect_str(c, k, json_string_value(v), got);
    }
    json_object_foreach((json_t *)json_object_get(e, "counts"), k, v)
    {
        const api_task_counts *n = &p->status.counts;
        int got = strcmp(k, "instances") == 0   ? n->instances
                  : strcmp(k, "pending") == 0   ? n->pending
                  : strcmp(k, "launching") == 0 ? n->launching
                  : strcmp(k, "running") == 0   ? n->running
                  : strcmp(k, "healthy") == 0   ? n->healthy
                  : strcmp(k, "cleaning") == 0  ? n->cleaning
                                                : -1;
        if (got != json_integer_value(v))
            FX_FAIL(c, "counts.%s: want %lld, got %d", k, (long long)json_integer_value(v), got);
    }
    if ((v = json_object_get(e, "requeueAfter")) && json_integer_value(v) != p->requeue_after_ms)
        FX_FAIL(c, "requeueAfter: want %lld, got %lld", (long long)json_integer_value(v),
                (long long)p->requeue_after_ms);
    if ((v = json_object_get(e, "statusChanged")) && json_is_true(v) != p->status_changed)
        FX_FAIL(c, "statusChanged: want %d", json_is_true(v));
    if ((v = json_object_get(e, "cooldownFailures")) &&
        (size_t)json_integer_value(v) != p->status.n_recentFailures)
        FX_FAIL(c, "recentFailures: want %lld, got %zu", (long long)json_integer_value(v),
                p->status.n_recentFailures);
    if ((v = json_object_get(e, "lastBounce")) && json_integer_value(v) != p->status.lastBounce)
        FX_FAIL(c, "lastBounce: want %lld, got %lld", (long long)json_integer_value(v),
                (long long)p->status.lastBounce);
}

static int run_fixture_file(const char *relpath)
{
    json_error_t je;
    size_t len, i;
    char *text = cr_test_fixture(relpath, &len);
    json_t *root = json_loadb(text, len, 0, &je);
    json_t *j;
    int n = 0;

    if (!root)
        fail_msg("%s:%d:%d: %s", relpath, je.line, je.column, je.text);
    assert_true(json_is_array(root));
    json_array_foreach(root, i, j)
    {
        fx_case c;
        ctl_plan p;
        fx_load(&c, j);
        ctl_service_plan(&c.in, &p);
        fx_check(&c, &p, json_object_get(j, "expect"));
        ctl_plan_release(&p);
        fx_release(&c);
        n++;
    }
    json_decref(root);
    free(text);
    return n;
}

#define FIXTURE_TEST(name, file)                                         \
    static void name(void **state)                                       \
    {                                                                    \
        assert_true(run_fixture_file("controllers/fixtures/" file) > 0); \
    }

FIXTURE_TEST(test_fixture_scale, "service_scale.json")
FIXTURE_TEST(test_fixture_deploy, "service_deploy.json")
FIXTURE_TEST(test_fixture_steps, "service_steps.json")
FIXTURE_TEST(test_fixture_pause_bounce_delete, "service_lifecycle.json")
FIXTURE_TEST(test_fixture_cooldown, "service_cooldown.json")
FIXTURE_TEST(test_fixture_invalid_history, "service_invalid.json")
FIXTURE_TEST(test_fixture_decommission, "service_decommission.json")
FIXTURE_TEST(test_fixture_partition, "service_partition.json")
FIXTURE_TEST(test_fixture_withdraw, "service_withdraw.json")
FIXTURE_TEST(test_fixture_lb, "service_lb.json")
FIXTURE_TEST(test_fixture_failover, "service_failover.json")
FIXTURE_TEST(test_fixture_semantics, "service_semantics.json")
FIXTURE_TEST(test_fixture_spread, "service_spread.json")

/* ---- simulation ------------------------------------------------------------------------ */

/* Behaviour of a deploy's tasks in the fake world. */
typedef enum { SIM_OK, SIM_UNHEALTHY, SIM_CRASH } sim_mode;

typedef struct sim_task {
    char id[96];
    char deploy[32];
    int instance;
    bool pending;
    api_task_state state;
    int64_t launched_at, running_at, run_at;
    bool cleaning;
    const char *cleanup_type; /* the kill intent's (static) */
    int64_t cleanup_at;
    bool stalled; /* its kill did not reach Mesos (s->kills_stall) */
    bool archived;
} sim_task;

typedef struct sim {
    ctl_config cfg;
    ctl_request req;
    ctl_deploy deploys[4];
    sim_mode modes[4];
    size_t n_deploys;
    sim_task tasks[512];
    size_t n_tasks;
    api_request_status status;
    bool has_status;
    api_deploy_status dstatus[4];
    size_t n_dstatus;
    int64_t now;
    int seq;
    int launches;
    bool kills_stall; /* kills decided now wait until released (a swallowed call) */
    int withdraws;
} sim;

static sim_mode sim_mode_of(const sim *s, const char *deploy)
{
    for (size_t i = 0; i < s->n_deploys; i++)
        if (strcmp(s->deploys[i].id, deploy) == 0)
            return s->modes[i];
    return SIM_OK;
}

/* One tick of the fake bridge and Mesos: pending tasks whose time has come
 * start (running one second later); kills land; crashing tasks fail. */
static void sim_world(sim *s)
{
    for (size_t i = 0; i < s->n_tasks; i++) {
        sim_task *t = &s->tasks[i];
        if (t->archived)
            continue;
        if (t->cleaning && !t->stalled && !api_task_state_terminal(t->state) && !t->pending) {
            t->state = API_TASK_KILLED;
            continue;
        }
        if (t->pending && t->run_at <= s->now) {
            t->pending = false;
            t->state = API_TASK_STARTING;
            t->launched_at = s->now;
            continue;
        }
        if (!t->pending && t->state == API_TASK_STARTING) {
            t->state = API_TASK_RUNNING;
            t->running_at = s->now;
            continue;
        }
        if (t->state == API_TASK_RUNNING && sim_mode_of(s, t->deploy) == SIM_CRASH &&
            s->now - t->running_at >= 2000)
            t->state = API_TASK_FAILED;
    }
}

static void sim_apply(sim *s, const ctl_plan *p)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const ctl_action *a = &p->actions[i];
        sim_task *t = NULL;
        for (size_t k = 0; k < s->n_tasks && a->task_id; k++)
            if (strcmp(s->tasks[k].id, a->task_id) == 0 && !s->tasks[k].archived)
                t = &s->tasks[k];
        switch (a->type) {
        case CTL_ACT_LAUNCH:
            assert_true(s->n_tasks < 512);
            t = &s->tasks[s->n_tasks++];
            memset(t, 0, sizeof(*t));
            snprintf(t->id, sizeof(t->id), "web-%s-%d-%d", a->deploy_id, ++s->seq, a->instance);
            snprintf(t->deploy, sizeof(t->deploy), "%s", a->deploy_id);
            t->instance = a->instance;
            t->pending = true;
            t->state = API_TASK_STATE_NONE;
            t->launched_at = s->now;
            t->run_at = a->run_at;
            s->launches++;
            break;
        case CTL_ACT_KILL:
            assert_non_null(t);
            t->cleaning = true;
            t->cleanup_type = a->cleanup_type;
            t->cleanup_at = s->now;
            t->stalled = s->kills_stall;
            break;
        case CTL_ACT_UNPEND:
            assert_non_null(t);
            t->archived = true;
            break;
        case CTL_ACT_ARCHIVE:
            assert_non_null(t);
            t->archived = true;
            break;
        case CTL_ACT_FORGET:
            break;
        case CTL_ACT_LB_KILL: /* no task of the simulation is load-balanced */
            fail_msg("unexpected LB cleanup of %s", a->task_id);
            break;
        case CTL_ACT_EXPIRE: /* issue 20: the request's documents change */
            if (strcmp(a->intent, "scale") == 0) {
                s->req.instances = a->revert_instances;
                s->req.scale_exp = (ctl_expiring){0};
            } else if (strcmp(a->intent, "pause") == 0) {
                s->req.paused = false;
                s->req.pause_exp = (ctl_expiring){0};
            } else if (strcmp(a->intent, "bounce") == 0) {
                s->req.bounce_exp = (ctl_expiring){0};
            } else {
                s->req.skip_exp = (ctl_expiring){0};
            }
            break;
        case CTL_ACT_UNPAUSE:
            s->req.paused = false;
            break;
        case CTL_ACT_APPLY_REQUEST:
            break;
        case CTL_ACT_WITHDRAW:
            assert_non_null(t);
            s->withdraws++;
            t->cleaning = false;
            t->cleanup_type = NULL;
            t->stalled = false;
            break;
        }
    }
    if (p->status_changed) {
        api_request_status_release(&s->status);
        api_request_status_copy(&s->status, &p->status);
        s->has_status = true;
    }
    for (size_t i = 0; i < s->n_dstatus; i++)
        api_deploy_status_release(&s->dstatus[i]);
    s->n_dstatus = p->n_deploys;
    for (size_t i = 0; i < p->n_deploys; i++)
        api_deploy_status_copy(&s->dstatus[i], &p->deploys[i].status);
}

/* Plans once from the world as it is; the caller releases *p. */
static void sim_plan(sim *s, ctl_plan *p)
{
    ctl_task views[512];
    size_t n = 0;
    ctl_service_in in = {0};

    for (size_t i = 0; i < s->n_tasks; i++) {
        sim_task *t = &s->tasks[i];
        if (t->archived)
            continue;
        ctl_task *v = &views[n++];
        memset(v, 0, sizeof(*v));
        v->id = t->id;
        v->deploy_id = t->deploy;
        v->instance = t->instance;
        v->pending = t->pending;
        v->state = t->state;
        v->launched_at = t->launched_at;
        v->running_at = t->running_at;
        v->cleaning = t->cleaning;
        v->cleanup_type = t->cleanup_type;
        v->cleanup_user = t->cleanup_type ? "corral" : NULL;
        v->cleanup_at = t->cleanup_at;
        if (t->state == API_TASK_RUNNING && sim_mode_of(s, t->deploy) == SIM_UNHEALTHY &&
            s->now - t->running_at >= 3000)
            v->health = CTL_HEALTH_UNHEALTHY;
    }
    in.request_id = "web";
    in.request = &s->req;
    in.deploys = s->deploys;
    in.n_deploys = s->n_deploys;
    in.tasks = views;
    in.n_tasks = n;
    in.status = s->has_status ? &s->status : NULL;
    in.deploy_status = s->dstatus;
    in.n_deploy_status = s->n_dstatus;
    in.config = &s->cfg;
    in.now = s->now;
    ctl_service_plan(&in, p);
}

/* Healthy (running >= 5 s, no kill intent) tasks of deploy d. */
static int sim_healthy(const sim *s, const char *d)
{
    int n = 0;
    for (size_t i = 0; i < s->n_tasks; i++) {
        const sim_task *t = &s->tasks[i];
        if (!t->archived && !t->cleaning && t->state == API_TASK_RUNNING &&
            strcmp(t->deploy, d) == 0 && s->now - t->running_at >= 5000)
            n++;
    }
    return n;
}

/* No two live, non-cleaning tasks of one deploy share an instance number. */
static void sim_check_unique(const sim *s)
{
    for (size_t i = 0; i < s->n_tasks; i++)
        for (size_t k = i + 1; k < s->n_tasks; k++) {
            const sim_task *a = &s->tasks[i], *b = &s->tasks[k];
            if (a->archived || b->archived || a->cleaning || b->cleaning)
                continue;
            if (api_task_state_terminal(a->state) || api_task_state_terminal(b->state))
                continue;
            /* A bounce keeps the old task of a slot until its replacement is healthy. */
            int64_t bs = s->status.bounceStartedAt;
            if (bs && (a->launched_at < bs) != (b->launched_at < bs))
                continue;
            if (strcmp(a->deploy, b->deploy) == 0 && a->instance == b->instance)
                fail_msg("instance %d of %s twice: %s and %s", a->instance, a->deploy, a->id,
                         b->id);
        }
}

/* Runs ticks of 1 s; calls check after each. Stops after `ticks`. */
static void sim_run(sim *s, int ticks, void (*check)(sim *s, void *arg), void *arg)
{
    for (int i = 0; i < ticks; i++) {
        ctl_plan p;
        sim_plan(s, &p);
        sim_apply(s, &p);
        ctl_plan_release(&p);
        sim_check_unique(s);
        if (check)
            check(s, arg);
        sim_world(s);
        s->now += 1000;
    }
}

static void sim_init(sim *s, int instances)
{
    memset(s, 0, sizeof(*s));
    ctl_config_defaults(&s->cfg);
    s->req.id = "web";
    s->req.instances = instances;
    s->req.revision = 1;
    s->now = 1000000;
}

static void sim_add_deploy(sim *s, const char *id, sim_mode mode, int step)
{
    ctl_deploy *d = &s->deploys[s->n_deploys];
    memset(d, 0, sizeof(*d));
    d->id = id;
    d->revision = (int64_t)s->n_deploys + 10;
    d->step_size = step;
    d->auto_advance = true;
    d->health_timeout_ms = 60000;
    d->healthy_after_ms = 5000;
    s->modes[s->n_deploys++] = mode;
}

static void sim_free(sim *s)
{
    api_request_status_release(&s->status);
    for (size_t i = 0; i < s->n_dstatus; i++)
        api_deploy_status_release(&s->dstatus[i]);
}

static const api_deploy_status *sim_dstatus(const sim *s, const char *id)
{
    for (size_t i = 0; i < s->n_dstatus; i++)
        if (strcmp(s->dstatus[i].deployId, id) == 0)
            return &s->dstatus[i];
    return NULL;
}

static void check_capacity(sim *s, void *arg)
{
    const char *old = arg;
    if (sim_healthy(s, old) < s->req.instances && !sim_dstatus(s, "v2"))
        return;
    const api_deploy_status *v2 = sim_dstatus(s, "v2");
    if (v2 && !api_deploy_state_terminal(v2->state))
        assert_true(sim_healthy(s, old) >= s->req.instances);
}

/* First deploy converges; a later deploy whose tasks fail health checks is
 * rolled back while the old deploy never drops below `instances`. */
static void test_sim_deploy_then_failed_rollback(void **state)
{
    sim s;
    sim_init(&s, 3);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    assert_string_equal(s.status.activeDeployId, "v1");
    assert_int_equal(sim_healthy(&s, "v1"), 3);
    assert_int_equal(s.launches, 3);

    sim_add_deploy(&s, "v2", SIM_UNHEALTHY, 0);
    sim_run(&s, 30, check_capacity, "v1");
    const api_deploy_status *v2 = sim_dstatus(&s, "v2");
    assert_non_null(v2);
    assert_int_equal(v2->state, API_DSTATE_FAILED);
    assert_int_equal(v2->failures[0].reason, API_DFAIL_TASK_FAILED_HEALTH_CHECKS);
    assert_string_equal(s.status.activeDeployId, "v1");
    assert_null(s.status.pendingDeployId);
    assert_int_equal(sim_healthy(&s, "v1"), 3);
    assert_int_equal(sim_healthy(&s, "v2"), 0);
    /* 3 for v1, 3 for v2, no relaunch of v1 ever needed. */
    assert_int_equal(s.launches, 6);
    sim_free(&s);
}

/* A stepped deploy (1 per step) replaces v1 one instance at a time and
 * succeeds; capacity (healthy v1 + healthy v2) never drops below 3 - 1. */
static void check_stepped(sim *s, void *arg)
{
    int total = sim_healthy(s, "v1") + sim_healthy(s, "v2");
    if (sim_dstatus(s, "v2"))
        assert_true(total >= s->req.instances - 1);
}

static void test_sim_stepped_deploy(void **state)
{
    sim s;
    sim_init(&s, 3);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    sim_add_deploy(&s, "v2", SIM_OK, 1);
    sim_run(&s, 60, check_stepped, NULL);
    const api_deploy_status *v2 = sim_dstatus(&s, "v2");
    assert_int_equal(v2->state, API_DSTATE_SUCCEEDED);
    assert_int_equal(v2->step, 3);
    assert_string_equal(s.status.activeDeployId, "v2");
    assert_int_equal(sim_healthy(&s, "v2"), 3);
    assert_int_equal(sim_healthy(&s, "v1"), 0);
    sim_free(&s);
}

/* A crash-looping worker enters cooldown; its relaunches are delayed; a
 * good deploy then ends cooldown at once. */
static void test_sim_cooldown(void **state)
{
    sim s;
    sim_init(&s, 2);
    sim_add_deploy(&s, "v1", SIM_CRASH, 0);
    /* The first deploy itself fails (its tasks crash) ... */
    sim_run(&s, 20, NULL, NULL);
    assert_int_equal(sim_dstatus(&s, "v1")->state, API_DSTATE_FAILED);
    assert_null(s.status.activeDeployId);
    sim_free(&s);

    /* ... so make v1 good first, then let it start crashing. */
    sim_init(&s, 2);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    s.modes[0] = SIM_CRASH;
    int entered = 0;
    for (int i = 0; i < 60 && !entered; i++) {
        sim_run(&s, 1, NULL, NULL);
        entered = s.status.state == API_RSTATE_SYSTEM_COOLDOWN;
    }
    assert_true(entered);
    int launches = s.launches;
    sim_run(&s, 30, NULL, NULL); /* delayed: nothing new starts */
    int started = 0;
    for (size_t i = 0; i < s.n_tasks; i++)
        started += !s.tasks[i].pending && s.tasks[i].launched_at > s.now - 30000;
    assert_int_equal(started, 0);
    assert_true(s.launches >= launches);
    sim_add_deploy(&s, "v2", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    assert_string_equal(s.status.activeDeployId, "v2");
    assert_int_equal(s.status.state, API_RSTATE_ACTIVE);
    sim_free(&s);
}

/* Bounce: every task is replaced, new before old. */
static void check_bounce(sim *s, void *arg)
{
    int live = 0;
    for (size_t i = 0; i < s->n_tasks; i++) {
        const sim_task *t = &s->tasks[i];
        live += !t->archived && !t->cleaning && t->state == API_TASK_RUNNING;
    }
    assert_true(live >= s->req.instances);
}

static void test_sim_bounce(void **state)
{
    sim s;
    sim_init(&s, 3);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    s.req.bounce = 7;
    sim_run(&s, 30, check_bounce, NULL);
    assert_int_equal(s.status.lastBounce, 7);
    assert_int_equal(s.launches, 6);
    assert_int_equal(sim_healthy(&s, "v1"), 3);
    sim_run(&s, 5, NULL, NULL);
    assert_int_equal(s.launches, 6); /* done: no further launches */
    sim_free(&s);
}

/* Issue 20: an incremental bounce replaces one slot at a time and never
 * drops below capacity: at every tick at least `instances` tasks run
 * without a kill intent, and at most one more than that is live. */
static void check_incremental(sim *s, void *arg)
{
    int live = 0, serving = 0;
    for (size_t i = 0; i < s->n_tasks; i++) {
        const sim_task *t = &s->tasks[i];
        if (t->archived || t->cleaning || api_task_state_terminal(t->state))
            continue;
        live++;
        serving += t->state == API_TASK_RUNNING;
    }
    assert_true(serving >= s->req.instances);
    assert_true(live <= s->req.instances + 1);
}

static void test_sim_incremental_bounce(void **state)
{
    sim s;
    sim_init(&s, 3);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    int64_t started = s.now;
    s.req.bounce = 9;
    s.req.bounce_incremental = true;
    sim_run(&s, 60, check_incremental, NULL);
    assert_int_equal(s.status.lastBounce, 9);
    assert_int_equal(s.launches, 6);
    assert_int_equal(sim_healthy(&s, "v1"), 3);
    for (size_t i = 0; i < s.n_tasks; i++) /* every old task went */
        assert_true(s.tasks[i].launched_at >= started || s.tasks[i].archived ||
                    s.tasks[i].cleaning);
    sim_free(&s);
}

/* Issue 20: an expiring scale reverts on time, from the plan's input alone. */
static void test_sim_expiring_scale(void **state)
{
    sim s;
    sim_init(&s, 2);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    s.req.instances = 4;
    s.req.scale_revert = 2;
    s.req.scale_exp.at = s.now + 15000;
    sim_run(&s, 12, NULL, NULL);
    assert_int_equal(sim_healthy(&s, "v1"), 4);
    sim_run(&s, 10, NULL, NULL);
    assert_int_equal(s.req.instances, 2);
    assert_int_equal(s.req.scale_exp.at, 0);
    assert_int_equal(sim_healthy(&s, "v1"), 2);
    sim_free(&s);
}

/* Issue 21 (the chaos run at 21409d9, r1 +894 s): a step's kills of old
 * tasks stall (a master failover swallowed them), the request is scaled
 * down, killing the step's new tasks, and back up; when the stalled kills
 * finally land, every slot that had a healthy running task still has one. */
static bool sim_slot_running(const sim *s, int slot)
{
    for (size_t i = 0; i < s->n_tasks; i++) {
        const sim_task *t = &s->tasks[i];
        if (!t->archived && t->instance == slot && t->state == API_TASK_RUNNING &&
            s->now - t->running_at >= 5000) /* healthy: serving */
            return true;
    }
    return false;
}

static void check_slots_running(sim *s, void *arg)
{
    const bool *had = arg;
    for (int slot = 1; slot <= s->req.instances; slot++)
        if (had[slot] && !sim_slot_running(s, slot))
            fail_msg("slot %d has no running task", slot);
}

static int sim_stalled(const sim *s)
{
    int n = 0;
    for (size_t i = 0; i < s->n_tasks; i++)
        n += !s->tasks[i].archived && s->tasks[i].cleaning && s->tasks[i].stalled;
    return n;
}

static void test_sim_stalled_step_kills(void **state)
{
    sim s;
    sim_init(&s, 5);
    sim_add_deploy(&s, "v1", SIM_OK, 0);
    sim_run(&s, 20, NULL, NULL);
    sim_add_deploy(&s, "v2", SIM_OK, 2);
    s.kills_stall = true;
    for (int i = 0; i < 30 && !sim_stalled(&s); i++)
        sim_run(&s, 1, NULL, NULL);
    assert_int_equal(sim_stalled(&s), 2); /* slots 1 and 2 of v1 */
    s.kills_stall = false;
    s.req.instances = 1;
    sim_run(&s, 3, NULL, NULL);
    s.req.instances = 5;
    bool had[6] = {false};
    for (int slot = 1; slot <= 5; slot++)
        had[slot] = sim_slot_running(&s, slot);
    assert_true(had[1] && had[2]); /* v2's new task, v1's stalled one */
    sim_run(&s, 5, check_slots_running, had);
    for (size_t i = 0; i < s.n_tasks; i++) /* the stalled calls arrive after all */
        s.tasks[i].stalled = false;
    sim_run(&s, 60, check_slots_running, had);
    assert_int_equal(sim_dstatus(&s, "v2")->state, API_DSTATE_SUCCEEDED);
    assert_int_equal(sim_healthy(&s, "v2"), 5);
    assert_int_equal(sim_healthy(&s, "v1"), 0);
    /* v1's task in slot 2 only: slot 1 kept its v2 task (no flapping) */
    assert_int_equal(s.withdraws, 1);
    sim_free(&s);
}

static void test_action_format(void **state)
{
    ctl_action a = {0};
    a.type = CTL_ACT_LAUNCH;
    a.deploy_id = "v1";
    a.instance = 2;
    a.pending_type = "TASK_DONE";
    a.run_at = 1500;
    a.skip_checks = true;
    char *s = ctl_action_format(&a, 1000);
    assert_string_equal(s, "launch v1 2 TASK_DONE delay=500 skipChecks");
    free(s);
    a.type = CTL_ACT_UNPEND;
    a.task_id = "p1";
    a.cleanup_type = "PAUSE";
    s = ctl_action_format(&a, 0);
    assert_string_equal(s, "unpend p1 PAUSE");
    free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixture_scale),
    cmocka_unit_test(test_fixture_deploy),
    cmocka_unit_test(test_fixture_steps),
    cmocka_unit_test(test_fixture_pause_bounce_delete),
    cmocka_unit_test(test_fixture_cooldown),
    cmocka_unit_test(test_fixture_invalid_history),
    cmocka_unit_test(test_fixture_decommission),
    cmocka_unit_test(test_fixture_partition),
    cmocka_unit_test(test_fixture_withdraw),
    cmocka_unit_test(test_fixture_failover),
    cmocka_unit_test(test_fixture_lb),
    cmocka_unit_test(test_sim_deploy_then_failed_rollback),
    cmocka_unit_test(test_sim_stepped_deploy),
    cmocka_unit_test(test_sim_cooldown),
    cmocka_unit_test(test_sim_bounce),
    cmocka_unit_test(test_sim_incremental_bounce),
    cmocka_unit_test(test_sim_expiring_scale),
    cmocka_unit_test(test_sim_stalled_step_kills),
    cmocka_unit_test(test_fixture_semantics),
    cmocka_unit_test(test_fixture_spread),
    cmocka_unit_test(test_action_format),
};
CR_TEST_MAIN(tests)
