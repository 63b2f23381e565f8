/* Jobs plan tests: each fixture under fixtures/jobs/ is a JSON document with
 * the plan's input ("now", "request", "deploys", "tasks", "runs", "job",
 * "runStatus", "deployStatus", "status") and an "expect" object: the exact
 * action lines, the request state, deploy states, a subset of the job status
 * and of run statuses, and the requeue delay. Every fixture is then checked
 * for idempotency: the plan's output applied to its input (launches become
 * pending tasks, archived tasks go, kills mark tasks cleaning, statuses are
 * replaced) and planned again at the same instant gives no action and no
 * status change (unless the pass left work for the next one: requeue 1 ms).
 * "steps" replays the output through later instants. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "apis/schedule.h"
#include "base/xalloc.h"
#include "controllers/jobs.h"

/* ---- fixture state --------------------------------------------------------- */

typedef struct world {
    char **pool; /* owned strings the borrowed pointers point into */
    size_t npool;
    ctl_jobs_request req;
    bool has_req;
    api_schedule *sched;
    ctl_jobs_deploy *deploys;
    size_t n_deploys;
    ctl_jobs_task *tasks;
    size_t n_tasks;
    api_pending_task **specs;
    size_t n_specs;
    ctl_jobs_run *runs;
    size_t n_runs;
    api_strlist *run_args;
    api_strmap *run_env;
    api_task_resources *run_res;
    api_request_status status;
    bool has_status;
    api_deploy_status *dstatus;
    size_t n_dstatus;
    api_job_status job;
    bool has_job;
    api_run_status *rstatus;
    size_t n_rstatus;
    ctl_jobs_config cfg;
    const char **history;
    size_t n_history;
    const char *ignored; /* invalid documents the shell left out */
    int64_t now;
} world;

static const char *keep(world *w, const char *s)
{
    if (!s)
        return NULL;
    w->pool = xrealloc(w->pool, (w->npool + 1) * sizeof(*w->pool));
    return w->pool[w->npool++] = xstrdup(s);
}

static const char *jstr(world *w, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? keep(w, json_string_value(v)) : NULL;
}

static int64_t jint(const json_t *o, const char *k, int64_t def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool jbool(const json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k));
}

static void load_strlist(const json_t *a, api_strlist *l)
{
    size_t i;
    const json_t *v;

    json_array_foreach(a, i, v) api_strlist_add(l, json_string_value(v));
}

static void load_strmap(const json_t *o, api_strmap *m)
{
    const char *k;
    const json_t *v;

    json_object_foreach((json_t *)o, k, v) api_strmap_set(m, k, json_string_value(v));
}

static void load_world(world *w, const json_t *j)
{
    const json_t *r = json_object_get(j, "request"), *a, *v;
    size_t i;
    cr_err err = {0};
    api_problems probs = API_PROBLEMS_INIT;

    memset(w, 0, sizeof(*w));
    w->now = jint(j, "now", 0);
    w->ignored = jstr(w, j, "ignored");
    w->cfg.max_on_demand_tasks = (int)jint(json_object_get(j, "config"), "maxOnDemandTasks", 0);
    w->cfg.history_max = (size_t)jint(json_object_get(j, "config"), "historyMax", 0);
    w->cfg.unreachable_timeout_ms =
        jint(json_object_get(j, "config"), "unreachableTimeoutMs", 0);
    a = json_object_get(j, "history");
    w->history = xcalloc(json_array_size(a) + 1, sizeof(*w->history));
    json_array_foreach(a, i, v) w->history[w->n_history++] = keep(w, json_string_value(v));
    if (json_is_object(r)) {
        const char *type = json_string_value(json_object_get(r, "type"));
        const char *st = json_string_value(json_object_get(r, "scheduleType"));
        w->has_req = true;
        w->req.id = jstr(w, r, "id");
        w->req.type = api_request_type_parse(type);
        w->req.instances = (int)jint(r, "instances", 1);
        w->req.num_retries = (int)jint(r, "numRetriesOnFailure", 0);
        w->req.wait_after_finish_ms = jint(r, "waitAtLeastMillisAfterTaskFinishesForReschedule", 0);
        w->req.time_limit_ms = jint(r, "taskExecutionTimeLimitMillis", 0);
        w->req.starting_deadline_ms = jint(r, "startingDeadlineMillis", 0);
        w->req.paused = jbool(r, "paused");
        w->req.revision = jint(r, "revision", 1);
        w->req.invalid = jstr(w, r, "invalid");
        w->req.hold_ms = jint(r, "unreachableTimeoutMs", -1);
        if (json_object_get(r, "schedule")) {
            w->sched = api_schedule_parse(
                json_string_value(json_object_get(r, "schedule")),
                st && !strcmp(st, "QUARTZ") ? API_SCHEDULE_QUARTZ : API_SCHEDULE_CRON,
                json_string_value(json_object_get(r, "scheduleTimeZone")), &err);
            if (!w->sched)
                w->req.invalid = keep(w, err.detail);
            w->req.schedule = w->sched;
        }
    }
    a = json_object_get(j, "deploys");
    w->n_deploys = json_array_size(a);
    w->deploys = xcalloc(w->n_deploys + 1, sizeof(*w->deploys));
    json_array_foreach(a, i, v)
    {
        w->deploys[i].id = jstr(w, v, "id");
        w->deploys[i].revision = jint(v, "revision", (int64_t)i + 1);
        w->deploys[i].invalid = jstr(w, v, "invalid");
    }
    a = json_object_get(j, "tasks");
    w->n_tasks = json_array_size(a);
    w->tasks = xcalloc(w->n_tasks + 1, sizeof(*w->tasks));
    w->specs = xcalloc(w->n_tasks + 1, sizeof(*w->specs));
    json_array_foreach(a, i, v)
    {
        ctl_jobs_task *t = &w->tasks[i];
        const json_t *spec = json_object_get(v, "spec");
        const char *state = json_string_value(json_object_get(v, "state"));
        t->id = jstr(w, v, "id");
        t->deploy_id = jstr(w, v, "deployId");
        t->instance = (int)jint(v, "instance", 1);
        t->pending = jbool(v, "pending");
        t->state = state ? api_task_state_parse(state) : API_TASK_STAGING;
        assert_true(t->state != API_TASK_STATE_NONE);
        t->launched_at = jint(v, "launchedAt", 0);
        t->running_at = jint(v, "runningAt", 0);
        t->finished_at = jint(v, "finishedAt", 0);
        t->held_since = jint(v, "heldSince", 0);
        t->cleaning = jbool(v, "cleaning");
        t->user_killed = jbool(v, "userKilled");
        if (json_object_get(v, "exitCode")) {
            t->has_exit_code = true;
            t->exit_code = (int)jint(v, "exitCode", 0);
        }
        t->message = jstr(w, v, "message");
        t->pending_type = jstr(w, v, "pendingType");
        t->run_at = jint(v, "runAt", 0);
        t->run_id = jstr(w, v, "runId");
        if (spec) {
            api_pending_task *p = xcalloc(1, sizeof(*p));
            load_strlist(json_object_get(spec, "cmdLineArgsList"), &p->cmdLineArgsList);
            load_strmap(json_object_get(spec, "envOverrides"), &p->envOverrides);
            p->user = xstrdup(json_string_value(json_object_get(spec, "user")));
            w->specs[w->n_specs++] = p;
            t->spec = p;
        }
    }
    a = json_object_get(j, "runs");
    w->n_runs = json_array_size(a);
    w->runs = xcalloc(w->n_runs + 1, sizeof(*w->runs));
    w->run_args = xcalloc(w->n_runs + 1, sizeof(*w->run_args));
    w->run_env = xcalloc(w->n_runs + 1, sizeof(*w->run_env));
    w->run_res = xcalloc(w->n_runs + 1, sizeof(*w->run_res));
    json_array_foreach(a, i, v)
    {
        ctl_jobs_run *run = &w->runs[i];
        const json_t *res = json_object_get(v, "resources");
        run->id = jstr(w, v, "id");
        run->revision = jint(v, "revision", (int64_t)i + 1);
        run->run_at = jint(v, "runAt", 0);
        load_strlist(json_object_get(v, "args"), &w->run_args[i]);
        load_strmap(json_object_get(v, "env"), &w->run_env[i]);
        run->args = &w->run_args[i];
        run->env = &w->run_env[i];
        if (res) {
            w->run_res[i].has_cpus = json_object_get(res, "cpus") != NULL;
            w->run_res[i].cpus = json_number_value(json_object_get(res, "cpus"));
            w->run_res[i].has_memoryMb = json_object_get(res, "memoryMb") != NULL;
            w->run_res[i].memoryMb = json_number_value(json_object_get(res, "memoryMb"));
            run->resources = &w->run_res[i];
        }
        run->user = jstr(w, v, "user");
        run->message = jstr(w, v, "message");
    }
    if ((v = json_object_get(j, "status"))) {
        w->has_status = true;
        assert_int_equal(api_request_status_from_json(v, &w->status, NULL, &probs), 0);
    }
    a = json_object_get(j, "deployStatus");
    w->n_dstatus = json_array_size(a);
    w->dstatus = xcalloc(w->n_dstatus + 1, sizeof(*w->dstatus));
    json_array_foreach(a, i, v)
        assert_int_equal(api_deploy_status_from_json(v, &w->dstatus[i], NULL, &probs), 0);
    if ((v = json_object_get(j, "job"))) {
        w->has_job = true;
        if (api_job_status_from_json(v, &w->job, "job", &probs))
            fail_msg("%s", api_problems_format(&probs));
    }
    a = json_object_get(j, "runStatus");
    w->n_rstatus = json_array_size(a);
    w->rstatus = xcalloc(w->n_rstatus + 1, sizeof(*w->rstatus));
    json_array_foreach(a, i, v)
    {
        if (api_run_status_from_json(v, &w->rstatus[i], "runStatus", &probs))
            fail_msg("%s", api_problems_format(&probs));
    }
    api_problems_release(&probs);
}

static void release_world(world *w)
{
    for (size_t i = 0; i < w->npool; i++)
        free(w->pool[i]);
    free(w->pool);
    api_schedule_free(w->sched);
    free(w->deploys);
    free(w->tasks);
    for (size_t i = 0; i < w->n_specs; i++)
        api_pending_task_free(w->specs[i]);
    free(w->specs);
    for (size_t i = 0; i < w->n_runs; i++) {
        api_strlist_release(&w->run_args[i]);
        api_strmap_release(&w->run_env[i]);
    }
    free(w->runs);
    free(w->run_args);
    free(w->run_env);
    free(w->run_res);
    api_request_status_release(&w->status);
    for (size_t i = 0; i < w->n_dstatus; i++)
        api_deploy_status_release(&w->dstatus[i]);
    free(w->dstatus);
    api_job_status_release(&w->job);
    for (size_t i = 0; i < w->n_rstatus; i++)
        api_run_status_release(&w->rstatus[i]);
    free(w->rstatus);
    free(w->history);
}

static void make_input(world *w, ctl_jobs_in *in)
{
    memset(in, 0, sizeof(*in));
    in->request_id = "job";
    in->request = w->has_req ? &w->req : NULL;
    in->deploys = w->deploys;
    in->n_deploys = w->n_deploys;
    in->tasks = w->tasks;
    in->n_tasks = w->n_tasks;
    in->runs = w->runs;
    in->n_runs = w->n_runs;
    in->status = w->has_status ? &w->status : NULL;
    in->deploy_status = w->dstatus;
    in->n_deploy_status = w->n_dstatus;
    in->job = w->has_job ? &w->job : NULL;
    in->run_status = w->rstatus;
    in->n_run_status = w->n_rstatus;
    in->history = w->history;
    in->n_history = w->n_history;
    in->ignored = w->ignored;
    in->config = &w->cfg;
    in->now = w->now;
}

/* Applies a plan's output to the world, as the shell and the bridge would:
 * statuses replaced, archived tasks removed, killed tasks cleaning, launches
 * added as pending documents. */
static void apply(world *w, const ctl_jobs_plan_out *p)
{
    size_t n = 0;

    for (size_t i = 0; i < w->n_tasks; i++) {
        ctl_jobs_task *t = &w->tasks[i];
        bool archived = false;
        for (size_t k = 0; k < p->n_actions; k++) {
            const ctl_jobs_action *a = &p->actions[k];
            if (!strcmp(a->a.task_id ? a->a.task_id : "", t->id)) {
                if (a->a.type == CTL_ACT_ARCHIVE || a->a.type == CTL_ACT_UNPEND)
                    archived = true;
                else if (a->a.type == CTL_ACT_KILL)
                    t->cleaning = true;
            }
        }
        if (!archived)
            w->tasks[n++] = *t;
    }
    w->n_tasks = n;
    /* History: forgotten entries go, archived tasks are appended. */
    n = 0;
    for (size_t i = 0; i < w->n_history; i++) {
        bool forgotten = false;
        for (size_t k = 0; k < p->n_actions; k++)
            forgotten |= p->actions[k].a.type == CTL_ACT_FORGET &&
                         !strcmp(p->actions[k].a.task_id, w->history[i]);
        if (!forgotten)
            w->history[n++] = w->history[i];
    }
    w->n_history = n;
    for (size_t k = 0; k < p->n_actions; k++) {
        if (p->actions[k].a.type != CTL_ACT_ARCHIVE)
            continue;
        w->history = xrealloc(w->history, (w->n_history + 2) * sizeof(*w->history));
        w->history[w->n_history++] = keep(w, p->actions[k].a.task_id);
    }
    for (size_t k = 0; k < p->n_actions; k++) {
        const ctl_jobs_action *a = &p->actions[k];
        ctl_jobs_task *t;
        char *id;
        if (a->a.type != CTL_ACT_LAUNCH)
            continue;
        w->tasks = xrealloc(w->tasks, (w->n_tasks + 1) * sizeof(*w->tasks));
        t = &w->tasks[w->n_tasks++];
        memset(t, 0, sizeof(*t));
        id = xasprintf("job-%s-%lld-%d-%s-%lld", a->a.deploy_id, (long long)a->a.run_at,
                       a->a.instance, a->a.pending_type, (long long)a->created_at);
        t->id = keep(w, id);
        free(id);
        t->deploy_id = keep(w, a->a.deploy_id);
        t->instance = a->a.instance;
        t->pending = true;
        t->state = API_TASK_STAGING;
        t->launched_at = a->created_at;
        t->pending_type = a->a.pending_type;
        t->run_at = a->a.run_at;
        t->run_id = keep(w, a->run_id);
    }
    api_request_status_release(&w->status);
    api_request_status_copy(&w->status, &p->status);
    w->has_status = true;
    for (size_t i = 0; i < w->n_dstatus; i++)
        api_deploy_status_release(&w->dstatus[i]);
    w->dstatus = xrealloc(w->dstatus, (p->n_deploys + 1) * sizeof(*w->dstatus));
    for (size_t i = 0; i < p->n_deploys; i++)
        api_deploy_status_copy(&w->dstatus[i], &p->deploys[i].status);
    w->n_dstatus = p->n_deploys;
    api_job_status_release(&w->job);
    api_job_status_copy(&w->job, &p->job);
    w->has_job = true;
    for (size_t i = 0; i < w->n_rstatus; i++)
        api_run_status_release(&w->rstatus[i]);
    w->rstatus = xrealloc(w->rstatus, (p->n_runs + 1) * sizeof(*w->rstatus));
    for (size_t i = 0; i < p->n_runs; i++)
        api_run_status_copy(&w->rstatus[i], &p->runs[i].status);
    w->n_rstatus = p->n_runs;
}

/* ---- expectations ---------------------------------------------------------- */

/* Every key of want equals the same key of got (recursively for objects);
 * a null in want means "absent". */
static bool subset(const json_t *want, const json_t *got, const char *path, char *why, size_t n)
{
    const char *k;
    const json_t *v;

    if (json_is_object(want)) {
        if (!json_is_object(got)) {
            snprintf(why, n, "%s: not an object", path);
            return false;
        }
        json_object_foreach((json_t *)want, k, v)
        {
            char sub[256];
            const json_t *g = json_object_get(got, k);
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (json_is_null(v) ? g != NULL : !subset(v, g, sub, why, n)) {
                if (json_is_null(v))
                    snprintf(why, n, "%s: present, want absent", sub);
                return false;
            }
        }
        return true;
    }
    if (!got || !json_equal(want, got)) {
        char *a = json_dumps(want, JSON_ENCODE_ANY),
             *b = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
        snprintf(why, n, "%s: got %s, want %s", path, b ? b : "(absent)", a);
        free(a);
        free(b);
        return false;
    }
    return true;
}

static void check_expect(const char *name, int step, const json_t *exp, const ctl_jobs_plan_out *p,
                         int64_t now)
{
    const json_t *acts = json_object_get(exp, "actions"), *v;
    char why[512];
    size_t i;
    bool ok = true;

    if (acts) {
        bool same = json_array_size(acts) == p->n_actions;
        for (i = 0; same && i < p->n_actions; i++) {
            char *line = ctl_jobs_action_format(&p->actions[i]);
            same = !strcmp(line, json_string_value(json_array_get(acts, i)));
            free(line);
        }
        if (!same) {
            print_error("%s step %d: actions differ; got:\n", name, step);
            for (i = 0; i < p->n_actions; i++) {
                char *line = ctl_jobs_action_format(&p->actions[i]);
                print_error("    \"%s\"\n", line);
                free(line);
            }
            ok = false;
        }
    }
    if ((v = json_object_get(exp, "state")) &&
        strcmp(json_string_value(v), api_request_state_name(p->status.state)) != 0) {
        print_error("%s step %d: state %s, want %s\n", name, step,
                    api_request_state_name(p->status.state), json_string_value(v));
        ok = false;
    }
    if ((v = json_object_get(exp, "requeueAfter")) &&
        json_integer_value(v) != p->requeue_after_ms) {
        print_error("%s step %d: requeueAfter %lld, want %lld\n", name, step,
                    (long long)p->requeue_after_ms, (long long)json_integer_value(v));
        ok = false;
    }
    if ((v = json_object_get(exp, "job"))) {
        json_t *got = api_job_status_to_json(&p->job);
        if (!subset(v, got, "job", why, sizeof(why))) {
            print_error("%s step %d: %s\n", name, step, why);
            ok = false;
        }
        json_decref(got);
    }
    if ((v = json_object_get(exp, "runs"))) {
        const char *k;
        const json_t *rv;
        json_object_foreach((json_t *)v, k, rv)
        {
            json_t *got = NULL;
            for (i = 0; i < p->n_runs; i++)
                if (!strcmp(p->runs[i].status.runId, k))
                    got = api_run_status_to_json(&p->runs[i].status);
            if (!subset(rv, got, k, why, sizeof(why))) {
                print_error("%s step %d: run %s\n", name, step, why);
                ok = false;
            }
            json_decref(got);
        }
    }
    if ((v = json_object_get(exp, "deploys"))) {
        const char *k;
        const json_t *dv;
        json_object_foreach((json_t *)v, k, dv)
        {
            const char *got = NULL;
            for (i = 0; i < p->n_deploys; i++)
                if (!strcmp(p->deploys[i].status.deployId, k))
                    got = api_deploy_state_name(p->deploys[i].status.state);
            if (!got || strcmp(got, json_string_value(dv)) != 0) {
                print_error("%s step %d: deploy %s is %s, want %s\n", name, step, k,
                            got ? got : "(none)", json_string_value(dv));
                ok = false;
            }
        }
    }
    if ((v = json_object_get(exp, "status"))) {
        json_t *got = api_request_status_to_json(&p->status);
        if (!subset(v, got, "status", why, sizeof(why))) {
            print_error("%s step %d: %s\n", name, step, why);
            ok = false;
        }
        json_decref(got);
    }
    if ((v = json_object_get(exp, "valid"))) {
        const api_condition *cond = api_conditions_get(&p->status.conditions, API_COND_VALID);
        if (!cond || (cond->status == API_COND_TRUE) != json_is_true(v)) {
            print_error("%s step %d: Valid condition is not %s\n", name, step,
                        json_is_true(v) ? "True" : "False");
            ok = false;
        }
    }
    if ((v = json_object_get(exp, "documentsValid"))) {
        const api_condition *cond =
            api_conditions_get(&p->status.conditions, API_COND_DOCUMENTS_VALID);
        if (json_is_null(v) ? cond != NULL
                            : !cond || (cond->status == API_COND_TRUE) != json_is_true(v)) {
            print_error("%s step %d: DocumentsValid is %s, want %s\n", name, step,
                        cond ? api_cond_status_name(cond->status) : "absent",
                        json_is_null(v) ? "absent" : json_is_true(v) ? "True" : "False");
            ok = false;
        }
    }
    (void)now;
    if (!ok)
        fail_msg("%s step %d failed", name, step);
}

/* Re-planning an applied output at the same instant changes nothing. */
static void check_idempotent(const char *name, world *w)
{
    ctl_jobs_in in;
    ctl_jobs_plan_out p;

    make_input(w, &in);
    ctl_jobs_plan(&in, &p);
    if (p.n_actions || p.job_changed || p.status_changed) {
        print_error("%s: not idempotent: %zu actions, job_changed %d, status_changed %d\n", name,
                    p.n_actions, p.job_changed, p.status_changed);
        for (size_t i = 0; i < p.n_actions; i++) {
            char *line = ctl_jobs_action_format(&p.actions[i]);
            print_error("    %s\n", line);
            free(line);
        }
        fail_msg("%s: second plan was not a no-op", name);
    }
    for (size_t i = 0; i < p.n_runs; i++)
        assert_false(p.runs[i].changed);
    for (size_t i = 0; i < p.n_deploys; i++)
        assert_false(p.deploys[i].changed);
    ctl_jobs_plan_release(&p);
}

/* Applies a step's edits to the world: "now", task state changes
 * ("tasks": {id: {state, finishedAt, exitCode, runningAt, userKilled}}), a
 * bridge launch ("launch": {pendingId: taskId}), new runs/deploys. */
static void edit_world(world *w, const json_t *step)
{
    const json_t *v, *tv;
    const char *k;

    w->now = jint(step, "now", w->now);
    json_object_foreach((json_t *)json_object_get(step, "launch"), k, v)
    {
        for (size_t i = 0; i < w->n_tasks; i++) {
            ctl_jobs_task *t = &w->tasks[i];
            if (strcmp(t->id, k) != 0)
                continue;
            t->id = keep(w, json_string_value(v));
            t->pending = false;
            t->state = API_TASK_RUNNING;
            t->launched_at = w->now;
            t->running_at = w->now;
        }
    }
    json_object_foreach((json_t *)json_object_get(step, "tasks"), k, tv)
    {
        for (size_t i = 0; i < w->n_tasks; i++) {
            ctl_jobs_task *t = &w->tasks[i];
            const char *st = json_string_value(json_object_get(tv, "state"));
            if (strcmp(t->id, k) != 0)
                continue;
            if (st)
                t->state = api_task_state_parse(st);
            t->finished_at = jint(tv, "finishedAt", t->finished_at);
            t->held_since = jint(tv, "heldSince", t->held_since);
            if (json_object_get(tv, "exitCode")) {
                t->has_exit_code = true;
                t->exit_code = (int)jint(tv, "exitCode", 0);
            }
            if (json_object_get(tv, "userKilled"))
                t->user_killed = jbool(tv, "userKilled");
        }
    }
    if ((v = json_object_get(step, "deploys"))) {
        size_t i;
        const json_t *d;
        w->n_deploys = json_array_size(v);
        w->deploys = xrealloc(w->deploys, (w->n_deploys + 1) * sizeof(*w->deploys));
        json_array_foreach(v, i, d)
        {
            w->deploys[i].id = jstr(w, d, "id");
            w->deploys[i].revision = jint(d, "revision", (int64_t)i + 1);
            w->deploys[i].invalid = jstr(w, d, "invalid");
        }
    }
    if ((v = json_object_get(step, "paused")))
        w->req.paused = json_is_true(v);
    if ((v = json_object_get(step, "ignored")))
        w->ignored = json_is_string(v) ? keep(w, json_string_value(v)) : NULL;
    if ((v = json_object_get(step, "deleteRequest")) && json_is_true(v))
        w->has_req = false;
}

static void run_fixture(const char *name)
{
    char path[256];
    size_t len;
    char *text;
    json_t *j, *steps, *step;
    json_error_t jerr;
    world w;
    ctl_jobs_in in;
    ctl_jobs_plan_out p;
    size_t i;
    bool more;

    snprintf(path, sizeof(path), "controllers/fixtures/jobs/%s.json", name);
    text = cr_test_fixture(path, &len);
    j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    load_world(&w, j);
    make_input(&w, &in);
    ctl_jobs_plan(&in, &p);
    check_expect(name, 0, json_object_get(j, "expect"), &p, w.now);
    apply(&w, &p);
    more = p.requeue_after_ms == 1; /* work left for the next pass */
    ctl_jobs_plan_release(&p);
    if (!more)
        check_idempotent(name, &w);

    steps = json_object_get(j, "steps");
    json_array_foreach(steps, i, step)
    {
        edit_world(&w, step);
        make_input(&w, &in);
        ctl_jobs_plan(&in, &p);
        check_expect(name, (int)i + 1, json_object_get(step, "expect"), &p, w.now);
        apply(&w, &p);
        more = p.requeue_after_ms == 1;
        ctl_jobs_plan_release(&p);
        if (!more)
            check_idempotent(name, &w);
    }
    release_world(&w);
    json_decref(j);
    free(text);
}

#define FIXTURE_TEST(n)                \
    static void test_##n(void **state) \
    {                                  \
        run_fixture(#n);               \
    }

FIXTURE_TEST(scheduled_first_plan)
FIXTURE_TEST(scheduled_fires)
FIXTURE_TEST(scheduled_overlap)
FIXTURE_TEST(scheduled_retries)
FIXTURE_TEST(scheduled_time_limit)
FIXTURE_TEST(scheduled_wait_after_finish)
FIXTURE_TEST(scheduled_failover_catchup)
FIXTURE_TEST(scheduled_deadline_skip)
FIXTURE_TEST(scheduled_deploy)
FIXTURE_TEST(scheduled_lost_task)
FIXTURE_TEST(scheduled_held_task)
FIXTURE_TEST(scheduled_paused)
FIXTURE_TEST(scheduled_finished)
FIXTURE_TEST(scheduled_run_now)
FIXTURE_TEST(scheduled_schedule_change)
FIXTURE_TEST(on_demand_queue)
FIXTURE_TEST(on_demand_outcomes)
FIXTURE_TEST(on_demand_retry)
FIXTURE_TEST(on_demand_cancel)
FIXTURE_TEST(on_demand_bound)
FIXTURE_TEST(history_bound)
FIXTURE_TEST(run_once)
FIXTURE_TEST(invalid_request)
FIXTURE_TEST(invalid_documents)
FIXTURE_TEST(deleted_request)

/* ---- documents and keys ----------------------------------------------------- */

static void test_pending_task_document(void **state)
{
    api_strlist args = {0};
    api_strmap env = {0};
    api_task_resources res = {.has_cpus = true, .cpus = 0.5};
    ctl_jobs_action a = {0};
    api_pending_task *p;
    cr_err err = {0};
    char *key;

    api_strlist_add(&args, "--day");
    api_strmap_set(&env, "MODE", "fast");
    a.a.type = CTL_ACT_LAUNCH;
    a.a.deploy_id = "v1";
    a.a.instance = 2;
    a.a.pending_type = "ONEOFF";
    a.a.run_at = 1000;
    a.created_at = 900;
    a.run_id = "r1";
    a.args = &args;
    a.env = &env;
    a.resources = &res;
    a.run_as_user = "batch";
    a.required_attrs = &env; /* any map will do */
    p = ctl_jobs_pending_task("job", &a, &err);
    assert_non_null(p);
    assert_string_equal(p->pendingTaskId.id, "job-v1-1000-2-ONEOFF-900");
    assert_string_equal(p->runId, "r1");
    assert_string_equal(p->cmdLineArgsList.v[0], "--day");
    assert_string_equal(api_strmap_get(&p->envOverrides, "MODE"), "fast");
    assert_true(p->has_resources);
    assert_string_equal(p->runAsUserOverride, "batch");
    assert_string_equal(api_strmap_get(&p->requiredAgentAttributeOverrides, "MODE"), "fast");
    assert_int_equal(p->allowedAgentAttributeOverrides.n, 0);
    api_pending_task_free(p);

    a.a.deploy_id = "bad-id"; /* '-' is not allowed in deploy ids */
    assert_null(ctl_jobs_pending_task("job", &a, &err));
    a.a.type = CTL_ACT_KILL;
    assert_null(ctl_jobs_pending_task("job", &a, &err));
    api_strlist_release(&args);
    api_strmap_release(&env);

    key = ctl_jobs_status_key("/corral", "job");
    assert_string_equal(key, "/corral/status/jobs/job");
    free(key);
    key = ctl_jobs_run_status_key("/corral", "job", "r1");
    assert_string_equal(key, "/corral/status/runs/job/r1");
    free(key);
    key = ctl_jobs_run_key("/corral", "job", "r1");
    assert_string_equal(key, "/corral/runs/job/r1");
    free(key);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_scheduled_first_plan),
    cmocka_unit_test(test_scheduled_fires),
    cmocka_unit_test(test_scheduled_overlap),
    cmocka_unit_test(test_scheduled_retries),
    cmocka_unit_test(test_scheduled_time_limit),
    cmocka_unit_test(test_scheduled_wait_after_finish),
    cmocka_unit_test(test_scheduled_failover_catchup),
    cmocka_unit_test(test_scheduled_deadline_skip),
    cmocka_unit_test(test_scheduled_deploy),
    cmocka_unit_test(test_scheduled_lost_task),
    cmocka_unit_test(test_scheduled_held_task),
    cmocka_unit_test(test_scheduled_paused),
    cmocka_unit_test(test_scheduled_finished),
    cmocka_unit_test(test_scheduled_run_now),
    cmocka_unit_test(test_scheduled_schedule_change),
    cmocka_unit_test(test_on_demand_queue),
    cmocka_unit_test(test_on_demand_outcomes),
    cmocka_unit_test(test_on_demand_retry),
    cmocka_unit_test(test_on_demand_cancel),
    cmocka_unit_test(test_on_demand_bound),
    cmocka_unit_test(test_history_bound),
    cmocka_unit_test(test_run_once),
    cmocka_unit_test(test_invalid_request),
    cmocka_unit_test(test_invalid_documents),
    cmocka_unit_test(test_deleted_request),
    cmocka_unit_test(test_pending_task_document),
};

CR_TEST_MAIN(tests)
