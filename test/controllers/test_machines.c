/* Plan tests for the machines controller (controllers/machines.h).
 *
 * 1. Fixture cases: test/controllers/fixtures/machines_*.json, each an
 *    array of {name, now, config, agents, racks, inactive, expect}; the
 *    format is in fixtures/README.md. One cmocka test per file.
 * 2. A simulation: agents decommissioned in a loop against a tiny world
 *    (documents written back, killed tasks gone the next tick, the leader
 *    replaced halfway), checking at every tick that no more than the limit
 *    are DECOMMISSIONING and that every agent ends DECOMMISSIONED. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "apis/doc.h"
#include "apis/intent.h"
#include "apis/keys.h"
#include "apis/machine.h"
#include "base/xalloc.h"
#include "controllers/machines.h"

/* ---- fixture loading ----------------------------------------------------------- */

typedef struct fx_machine {
    api_machine *doc;
    api_intent *intent;
    ctl_mach_task *tasks;
} fx_machine;

typedef struct fx_case {
    const char *name;
    ctl_machines_in in;
    ctl_machines_config cfg;
    ctl_machine *agents, *racks;
    fx_machine *fa, *fr;
    ctl_inactive_host *inactive;
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

/* The document of a machine: "doc" as given, else one made from the
 * shorthand {id, rack, host, state, stateAt, firstSeenAt}. */
static json_t *doc_json(const json_t *m)
{
    const json_t *d = json_object_get(m, "doc");
    if (d)
        return json_deep_copy(d);
    json_t *j = json_pack("{s:s}", "id", jstr(m, "id"));
    if (jstr(m, "rack"))
        json_object_set_new(j, "rackId", json_string(jstr(m, "rack")));
    if (jstr(m, "host"))
        json_object_set_new(j, "host", json_string(jstr(m, "host")));
    if (json_object_get(m, "firstSeenAt"))
        json_object_set_new(j, "firstSeenAt", json_integer(jint(m, "firstSeenAt", 0)));
    if (jstr(m, "state")) {
        json_t *cs = json_pack("{s:s, s:I}", "state", jstr(m, "state"), "timestamp",
                               (json_int_t)jint(m, "stateAt", 1));
        if (jstr(m, "cause"))
            json_object_set_new(cs, "cause", json_string(jstr(m, "cause")));
        json_object_set_new(j, "currentState", cs);
        json_object_set_new(j, "stateHistory", json_pack("[O]", cs));
    }
    if (json_object_get(m, "observedIntent"))
        json_object_set_new(j, "observedIntent", json_integer(jint(m, "observedIntent", 0)));
    if (json_object_get(m, "mesosDrain"))
        json_object_set(j, "mesosDrain", json_object_get(m, "mesosDrain"));
    if (json_object_get(m, "progress"))
        json_object_set(j, "progress", json_object_get(m, "progress"));
    return j;
}

static void load_machine(fx_case *c, const json_t *m, ctl_machine *out, fx_machine *fx)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *dj = doc_json(m);
    const json_t *v;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->id = jstr(m, "id");
    assert_non_null(out->id);
    fx->doc = api_machine_from_json(dj, &open, &probs);
    if (!fx->doc && !jbool(m, "invalid", false))
        fail_msg("%s: %s: %s", c->name, out->id, api_problems_format(&probs));
    json_decref(dj);
    out->doc = fx->doc;
    out->mod_revision = jint(m, "rev", 7);
    if ((v = json_object_get(m, "intent"))) {
        fx->intent = api_intent_from_json(v, &open, &probs);
        if (!fx->intent)
            fail_msg("%s: %s intent: %s", c->name, out->id, api_problems_format(&probs));
        else if (!fx->intent->has_timestamp) {
            fx->intent->has_timestamp = true;
            fx->intent->timestamp = 10;
        }
    }
    ctl_mach_intent_view(fx->intent, &out->intent);
    v = json_object_get(m, "tasks");
    out->n_tasks = json_array_size(v);
    fx->tasks = xcalloc(out->n_tasks + 1, sizeof(*fx->tasks));
    for (i = 0; i < out->n_tasks; i++) {
        const json_t *t = json_array_get(v, i);
        ctl_mach_task *o = &fx->tasks[i];
        o->id = jstr(t, "id");
        o->request_id = jstr(t, "request") ? jstr(t, "request") : "web";
        o->instance = (int)jint(t, "instance", 1);
        o->long_running = jbool(t, "longRunning", true);
        o->cleaning = jbool(t, "cleaning", false);
        o->held = jbool(t, "held", false);
        o->unreachable = jbool(t, "unreachable", false);
        o->held = o->held || o->unreachable;
        o->repl_pending = jbool(t, "replPending", false) || jstr(t, "replReason");
        o->repl_launched = jbool(t, "replLaunched", false);
        o->repl_reason = jstr(t, "replReason");
        o->repl_message = jstr(t, "replMessage");
        assert_non_null(o->id);
    }
    out->tasks = fx->tasks;
    if ((v = json_object_get(m, "mesos"))) {
        out->mesos.inflight = jbool(v, "inflight", false);
        out->mesos.result_state = jstr(v, "result");
        out->mesos.has_result = out->mesos.result_state != NULL;
        out->mesos.result_message = jstr(v, "message");
        out->mesos.result_at = jint(v, "at", 0);
    }
    api_problems_release(&probs);
}

static void fx_load(fx_case *c, const json_t *j)
{
    const json_t *v;
    size_t i;

    memset(c, 0, sizeof(*c));
    c->name = jstr(j, "name");
    assert_non_null(c->name);
    c->in.now = jint(j, "now", 1000000);
    ctl_machines_config_defaults(&c->cfg);
    if ((v = json_object_get(j, "config"))) {
        c->cfg.max_decommissioning = (int)jint(v, "maxDecommissioning", c->cfg.max_decommissioning);
        c->cfg.history_max = (size_t)jint(v, "historyMax", (int64_t)c->cfg.history_max);
        c->cfg.mesos_drain = jbool(v, "mesosDrain", c->cfg.mesos_drain);
        c->cfg.drain_retry_ms = jint(v, "drainRetryMs", c->cfg.drain_retry_ms);
    }
    c->in.config = &c->cfg;
    v = json_object_get(j, "agents");
    c->in.n_agents = json_array_size(v);
    c->agents = xcalloc(c->in.n_agents + 1, sizeof(*c->agents));
    c->fa = xcalloc(c->in.n_agents + 1, sizeof(*c->fa));
    for (i = 0; i < c->in.n_agents; i++)
        load_machine(c, json_array_get(v, i), &c->agents[i], &c->fa[i]);
    c->in.agents = c->agents;
    v = json_object_get(j, "racks");
    c->in.n_racks = json_array_size(v);
    c->racks = xcalloc(c->in.n_racks + 1, sizeof(*c->racks));
    c->fr = xcalloc(c->in.n_racks + 1, sizeof(*c->fr));
    for (i = 0; i < c->in.n_racks; i++)
        load_machine(c, json_array_get(v, i), &c->racks[i], &c->fr[i]);
    c->in.racks = c->racks;
    v = json_object_get(j, "inactive");
    c->in.n_inactive = json_array_size(v);
    c->inactive = xcalloc(c->in.n_inactive + 1, sizeof(*c->inactive));
    for (i = 0; i < c->in.n_inactive; i++) {
        const json_t *h = json_array_get(v, i);
        c->inactive[i] = (ctl_inactive_host){jstr(h, "host"), jint(h, "timestamp", 0),
                                             jstr(h, "user"), jstr(h, "message")};
    }
    c->in.inactive = c->inactive;
}

static void fx_release(fx_case *c)
{
    for (size_t i = 0; i < c->in.n_agents; i++) {
        api_machine_free(c->fa[i].doc);
        api_intent_free(c->fa[i].intent);
        free(c->fa[i].tasks);
    }
    for (size_t i = 0; i < c->in.n_racks; i++) {
        api_machine_free(c->fr[i].doc);
        api_intent_free(c->fr[i].intent);
        free(c->fr[i].tasks);
    }
    free(c->fa);
    free(c->fr);
    free(c->agents);
    free(c->racks);
    free(c->inactive);
}

/* ---- checking ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_sorted(char **lines, size_t n)
{
    size_t len = 1;
    qsort(lines, n, sizeof(*lines), cmp_str);
    for (size_t i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
    }
    return out;
}

static char *actions_text(const ctl_machines_plan *p)
{
    char **lines = xcalloc(p->n_actions + 1, sizeof(*lines));
    for (size_t i = 0; i < p->n_actions; i++)
        lines[i] = ctl_mach_action_format(&p->actions[i]);
    char *out = join_sorted(lines, p->n_actions);
    for (size_t i = 0; i < p->n_actions; i++)
        free(lines[i]);
    free(lines);
    return out;
}

static char *expected_text(const json_t *arr)
{
    size_t n = json_array_size(arr);
    char **lines = xcalloc(n + 1, sizeof(*lines));
    for (size_t i = 0; i < n; i++) {
        lines[i] = (char *)json_string_value(json_array_get(arr, i));
        assert_non_null(lines[i]);
    }
    char *out = join_sorted(lines, n);
    free(lines);
    return out;
}

#define FX_FAIL(c, ...)                        \
    do {                                       \
        print_error("case '%s': ", (c)->name); \
        fail_msg(__VA_ARGS__);                 \
    } while (0)

/* The machine named "agent a1" / "rack r1": its document after the plan
 * (the written one, else the input). */
static const api_machine *after(const fx_case *c, const ctl_machines_plan *p, const char *name)
{
    bool rack = strncmp(name, "rack ", 5) == 0;
    const char *id = name + (rack ? 5 : 6);
    for (size_t i = 0; i < p->n_writes; i++)
        if (p->writes[i].rack == rack && !strcmp(p->writes[i].id, id))
            return p->writes[i].doc;
    const ctl_machine *v = rack ? c->racks : c->agents;
    size_t n = rack ? c->in.n_racks : c->in.n_agents;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].id, id))
            return v[i].doc;
    FX_FAIL(c, "no machine %s", name);
    return NULL;
}

static void expect_str(const fx_case *c, const char *what, const char *want, const char *got)
{
    if (!want && !got)
        return;
    if (!want || !got || strcmp(want, got) != 0)
        FX_FAIL(c, "%s: want %s, got %s", what, want ? want : "null", got ? got : "null");
}

static void fx_check(const fx_case *c, const ctl_machines_plan *p, const json_t *e)
{
    const json_t *v;
    const char *k;
    char what[256];

    if ((v = json_object_get(e, "actions"))) {
        char *want = expected_text(v), *got = actions_text(p);
        if (strcmp(want, got) != 0)
            FX_FAIL(c, "actions differ\n--- want\n%s--- got\n%s", want, got);
        free(want);
        free(got);
    }
    if ((v = json_object_get(e, "writes"))) {
        char **lines = xcalloc(p->n_writes + 1, sizeof(*lines));
        for (size_t i = 0; i < p->n_writes; i++)
            lines[i] = xasprintf("%s %s", p->writes[i].rack ? "rack" : "agent", p->writes[i].id);
        char *got = join_sorted(lines, p->n_writes), *want = expected_text(v);
        if (strcmp(want, got) != 0)
            FX_FAIL(c, "writes differ\n--- want\n%s--- got\n%s", want, got);
        for (size_t i = 0; i < p->n_writes; i++)
            free(lines[i]);
        free(lines);
        free(want);
        free(got);
    }
    json_object_foreach ((json_t *)json_object_get(e, "states"), k, v) {
        snprintf(what, sizeof(what), "%s state", k);
        expect_str(c, what, json_string_value(v),
                   api_machine_state_name(api_machine_current(after(c, p, k))));
    }
    json_object_foreach ((json_t *)json_object_get(e, "progress"), k, v) {
        const api_machine *d = after(c, p, k);
        snprintf(what, sizeof(what), "%s progress", k);
        expect_str(c, what, json_string_value(v), d->has_progress ? d->progress.reason : "-");
    }
    json_object_foreach ((json_t *)json_object_get(e, "progressMessage"), k, v) {
        const api_machine *d = after(c, p, k);
        if (!d->has_progress || !d->progress.message ||
            !strstr(d->progress.message, json_string_value(v)))
            FX_FAIL(c, "%s progress message: want it to contain '%s', got '%s'", k,
                    json_string_value(v), d->has_progress ? d->progress.message : "(none)");
    }
    json_object_foreach ((json_t *)json_object_get(e, "cause"), k, v) {
        const api_machine *d = after(c, p, k);
        snprintf(what, sizeof(what), "%s cause", k);
        expect_str(c, what, json_string_value(v),
                   d->currentState.cause ? d->currentState.cause : "-");
    }
    json_object_foreach ((json_t *)json_object_get(e, "user"), k, v) {
        const api_machine *d = after(c, p, k);
        snprintf(what, sizeof(what), "%s user", k);
        expect_str(c, what, json_string_value(v), d->currentState.user ? d->currentState.user : "-");
    }
    json_object_foreach ((json_t *)json_object_get(e, "drain"), k, v) {
        const api_machine *d = after(c, p, k);
        snprintf(what, sizeof(what), "%s mesosDrain", k);
        expect_str(c, what, json_string_value(v), d->has_mesosDrain ? d->mesosDrain.state : "-");
    }
    json_object_foreach ((json_t *)json_object_get(e, "observedIntent"), k, v) {
        const api_machine *d = after(c, p, k);
        if (!d->has_observedIntent || d->observedIntent != json_integer_value(v))
            FX_FAIL(c, "%s observedIntent: want %lld", k, (long long)json_integer_value(v));
    }
    json_object_foreach ((json_t *)json_object_get(e, "history"), k, v) {
        const api_machine *d = after(c, p, k);
        size_t i;
        const json_t *s;
        if (json_array_size(v) != d->n_stateHistory)
            FX_FAIL(c, "%s history: want %zu entries, got %zu", k, json_array_size(v),
                    d->n_stateHistory);
        json_array_foreach (v, i, s) {
            snprintf(what, sizeof(what), "%s history[%zu]", k, i);
            expect_str(c, what, json_string_value(s),
                       api_machine_state_name(d->stateHistory[i].state));
        }
    }
    if ((v = json_object_get(e, "requeueAfter")) && json_integer_value(v) != p->requeue_after_ms)
        FX_FAIL(c, "requeueAfter: want %lld, got %lld", (long long)json_integer_value(v),
                (long long)p->requeue_after_ms);
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
    json_array_foreach (root, i, j) {
        fx_case c;
        ctl_machines_plan p, again;
        fx_load(&c, j);
        ctl_machines_plan_run(&c.in, &p);
        fx_check(&c, &p, json_object_get(j, "expect"));
        /* Pure: the same input plans the same, whoever leads. */
        ctl_machines_plan_run(&c.in, &again);
        char *a = actions_text(&p), *b = actions_text(&again);
        if (strcmp(a, b) != 0 || p.n_writes != again.n_writes)
            FX_FAIL(&c, "a second run planned differently");
        free(a);
        free(b);
        ctl_machines_plan_release(&again);
        ctl_machines_plan_release(&p);
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

FIXTURE_TEST(test_fixture_agents, "machines_agents.json")
FIXTURE_TEST(test_fixture_decommission, "machines_decommission.json")
FIXTURE_TEST(test_fixture_racks, "machines_racks.json")
FIXTURE_TEST(test_fixture_expiring, "machines_expiring.json")
FIXTURE_TEST(test_fixture_mesos, "machines_mesos.json")

/* ---- simulation -------------------------------------------------------------------------- */

#define SIM_AGENTS 6
#define SIM_TASKS  3

typedef struct sim {
    api_machine *docs[SIM_AGENTS];
    api_intent intents[SIM_AGENTS];
    ctl_mach_task tasks[SIM_AGENTS][SIM_TASKS];
    size_t n_tasks[SIM_AGENTS];
    int replaced_at[SIM_AGENTS][SIM_TASKS]; /* tick a replacement got healthy; 0 none */
    char ids[SIM_AGENTS][8];
    char tids[SIM_AGENTS][SIM_TASKS][32];
} sim;

static void sim_init(sim *s)
{
    static const api_decode_opts open = {.allow_unknown = true};
    memset(s, 0, sizeof(*s));
    for (int a = 0; a < SIM_AGENTS; a++) {
        api_problems probs = API_PROBLEMS_INIT;
        snprintf(s->ids[a], sizeof(s->ids[a]), "a%d", a);
        json_t *j = json_pack("{s:s, s:s, s:{s:s, s:i}}", "id", s->ids[a], "rackId", "r1",
                              "currentState", "state", "ACTIVE", "timestamp", 1);
        s->docs[a] = api_machine_from_json(j, &open, &probs);
        json_decref(j);
        api_problems_release(&probs);
        assert_non_null(s->docs[a]);
        /* every agent decommissioned, the older the lower its index */
        s->intents[a].state = (char *)"STARTING_DECOMMISSION";
        s->intents[a].has_timestamp = true;
        s->intents[a].timestamp = 100 + a;
        s->n_tasks[a] = (size_t)(a % SIM_TASKS) + 1;
        for (size_t t = 0; t < s->n_tasks[a]; t++) {
            snprintf(s->tids[a][t], sizeof(s->tids[a][t]), "web-v1-%d-%zu-h%d-r1", 1000 + a,
                     t + 1, a);
            s->tasks[a][t] = (ctl_mach_task){.id = s->tids[a][t],
                                             .request_id = "web",
                                             .instance = (int)t + 1,
                                             .long_running = true};
        }
    }
}

/* One tick of the world: the service loop launches replacements for tasks
 * of DECOMMISSIONING agents, which get healthy two ticks later and then
 * kill the old task (gone the tick after). */
static void sim_world(sim *s, int tick)
{
    for (int a = 0; a < SIM_AGENTS; a++) {
        bool moving = api_machine_current(s->docs[a]) == API_MSTATE_DECOMMISSIONING;
        for (size_t t = 0; t < s->n_tasks[a];) {
            ctl_mach_task *k = &s->tasks[a][t];
            if (k->cleaning) { /* killed: gone */
                s->tasks[a][t] = s->tasks[a][s->n_tasks[a] - 1];
                memcpy(s->tids[a][t], s->tids[a][s->n_tasks[a] - 1], sizeof(s->tids[a][t]));
                s->tasks[a][t].id = s->tids[a][t];
                s->replaced_at[a][t] = s->replaced_at[a][s->n_tasks[a] - 1];
                s->n_tasks[a]--;
                continue;
            }
            if (moving && !k->repl_pending && !k->repl_launched) {
                k->repl_pending = true;
                s->replaced_at[a][t] = tick + 2;
            } else if (moving && s->replaced_at[a][t] && tick >= s->replaced_at[a][t]) {
                k->cleaning = true; /* the service plan kills it: new before old */
            }
            t++;
        }
    }
}

static void sim_run(sim *s, int max_decom, int failover_at)
{
    ctl_machines_config cfg;
    ctl_machines_config_defaults(&cfg);
    cfg.max_decommissioning = max_decom;
    cfg.mesos_drain = false;
    for (int tick = 1; tick < 200; tick++) {
        ctl_machine agents[SIM_AGENTS];
        int decom = 0, done = 0;
        if (tick == failover_at) {
            /* A new leader: only the documents carry over (they are all the
             * plan reads). Re-decode them from JSON. */
            for (int a = 0; a < SIM_AGENTS; a++) {
                api_machine *copy = api_machine_dup(s->docs[a]);
                api_machine_free(s->docs[a]);
                s->docs[a] = copy;
            }
        }
        for (int a = 0; a < SIM_AGENTS; a++) {
            agents[a] = (ctl_machine){.id = s->ids[a],
                                      .doc = s->docs[a],
                                      .mod_revision = tick,
                                      .tasks = s->tasks[a],
                                      .n_tasks = s->n_tasks[a]};
            ctl_mach_intent_view(&s->intents[a], &agents[a].intent);
        }
        ctl_machines_in in = {.agents = agents, .n_agents = SIM_AGENTS, .config = &cfg,
                              .now = 1000 + tick * 1000};
        ctl_machines_plan p;
        ctl_machines_plan_run(&in, &p);
        for (size_t w = 0; w < p.n_writes; w++)
            for (int a = 0; a < SIM_AGENTS; a++)
                if (!strcmp(p.writes[w].id, s->ids[a])) {
                    api_machine_free(s->docs[a]);
                    s->docs[a] = p.writes[w].doc;
                    p.writes[w].doc = NULL;
                }
        for (size_t i = 0; i < p.n_actions; i++)
            assert_int_not_equal(p.actions[i].type, CTL_MACT_KILL); /* never forced */
        ctl_machines_plan_release(&p);
        for (int a = 0; a < SIM_AGENTS; a++) {
            api_machine_state st = api_machine_current(s->docs[a]);
            decom += st == API_MSTATE_DECOMMISSIONING;
            done += st == API_MSTATE_DECOMMISSIONED;
            if (st == API_MSTATE_DECOMMISSIONED)
                assert_int_equal(s->n_tasks[a], 0);
        }
        if (decom > max_decom)
            fail_msg("tick %d: %d agents DECOMMISSIONING, at most %d allowed", tick, decom,
                     max_decom);
        if (done == SIM_AGENTS)
            return;
        sim_world(s, tick);
    }
    fail_msg("not every agent got DECOMMISSIONED");
}

static void sim_release(sim *s)
{
    for (int a = 0; a < SIM_AGENTS; a++)
        api_machine_free(s->docs[a]);
}

static void test_sim_limit_and_failover(void **state)
{
    sim s;
    sim_init(&s);
    sim_run(&s, 2, 9);
    /* history: ACTIVE, STARTING_DECOMMISSION, DECOMMISSIONING, DECOMMISSIONED */
    for (int a = 0; a < SIM_AGENTS; a++) {
        assert_int_equal(s.docs[a]->n_stateHistory, 4);
        assert_int_equal(s.docs[a]->stateHistory[3].state, API_MSTATE_DECOMMISSIONED);
        assert_false(s.docs[a]->has_progress);
    }
    sim_release(&s);
    sim_init(&s);
    sim_run(&s, 1, 0);
    sim_release(&s);
}

static void test_action_format(void **state)
{
    ctl_mach_action a = {.type = CTL_MACT_STATE, .rack = true, .id = (char *)"r1",
                         .state = API_MSTATE_DECOMMISSIONING};
    char *s = ctl_mach_action_format(&a);
    assert_string_equal(s, "rack r1 DECOMMISSIONING");
    free(s);
    a = (ctl_mach_action){.type = CTL_MACT_KILL, .id = (char *)"t1",
                          .cleanup_type = "DECOMISSIONING"};
    s = ctl_mach_action_format(&a);
    assert_string_equal(s, "kill t1 DECOMISSIONING");
    free(s);
}

/* The documents round-trip, unknown fields (the bridge's) included. */
static void test_machine_codec(void **state)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json(
        "{\"id\":\"a1\",\"host\":\"h1\",\"rackId\":\"r1\",\"agentUrl\":\"http://h1:5051\","
        "\"attributes\":{\"rack\":\"r1\"},\"resources\":{\"cpus\":4.0,\"numPorts\":10},"
        "\"firstSeenAt\":5,\"lastSeenAt\":6,\"port\":5051,"
        "\"currentState\":{\"state\":\"FROZEN\",\"timestamp\":7,\"user\":\"ops\"},"
        "\"stateHistory\":[{\"state\":\"ACTIVE\",\"timestamp\":5},"
        "{\"state\":\"FROZEN\",\"timestamp\":7,\"user\":\"ops\"}],"
        "\"progress\":{\"reason\":\"MovingTasks\",\"message\":\"m\",\"tasksLeft\":2,\"since\":7},"
        "\"mesosDrain\":{\"state\":\"DRAINED\",\"timestamp\":8}}");
    api_machine *m = api_machine_from_json(j, &open, &probs);
    assert_non_null(m);
    assert_int_equal(api_machine_current(m), API_MSTATE_FROZEN);
    assert_int_equal(m->n_stateHistory, 2);
    json_t *back = api_machine_to_json(m);
    assert_true(json_equal(j, back));
    api_machine *d = api_machine_dup(m);
    assert_true(api_machine_equal(m, d));
    json_decref(back);
    api_machine_free(d);
    api_machine_free(m);
    json_decref(j);
    /* an unknown state is refused */
    j = cr_test_json("{\"id\":\"a1\",\"currentState\":{\"state\":\"NAPPING\"}}");
    assert_null(api_machine_from_json(j, &open, &probs));
    assert_true(probs.n > 0);
    json_decref(j);
    api_problems_release(&probs);
    assert_int_equal(api_machine_state_parse("DECOMMISSIONED"), API_MSTATE_DECOMMISSIONED);
    assert_true(api_machine_state_decommissioning(API_MSTATE_STARTING_DECOMMISSION));
    assert_false(api_machine_state_decommissioning(API_MSTATE_FROZEN));
}

/* The cache decodes agents, racks and inactive hosts against their keys
 * (apis/doc.h): a document under another machine's key is no document. */
static void test_documents_against_keys(void **state)
{
    static const struct {
        const char *key, *json;
        bool ok;
    } cases[] = {
        {"/corral/agents/a1", "{\"id\":\"a1\",\"currentState\":{\"state\":\"FROZEN\"}}", true},
        {"/corral/agents/a1", "{\"hostname\":\"h1\"}", true}, /* written by hand: id from the key */
        {"/corral/agents/a1", "{\"id\":\"a2\"}", false},
        {"/corral/racks/r1", "{\"id\":\"r1\",\"stateHistory\":[{\"state\":\"DEAD\"}]}", true},
        {"/corral/racks/r1", "{\"stateHistory\":[{}]}", false},
        {"/corral/inactive/h1.example.com", "{\"timestamp\":5,\"user\":\"ops\"}", true},
        {"/corral/intents/agents/a1", "{\"state\":\"FROZEN\",\"force\":true}", true},
        {"/corral/intents/agents/a1", "{\"state\":\"FROZEN\",\"revertToState\":\"DEAD\"}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_key_parts k;
        char *error = NULL;
        json_t *j = cr_test_json(cases[i].json);
        assert_int_equal(api_key_parse("/corral", cases[i].key, &k), 0);
        void *doc = api_doc_decode(&k, j, &error);
        if (cases[i].ok != (doc && !error))
            fail_msg("%s %s: want %s, got %s", cases[i].key, cases[i].json,
                     cases[i].ok ? "a document" : "an error", error ? error : "a document");
        api_doc_free(k.kind, doc);
        free(error);
        json_decref(j);
        api_key_parts_release(&k);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixture_agents),
    cmocka_unit_test(test_fixture_decommission),
    cmocka_unit_test(test_fixture_racks),
    cmocka_unit_test(test_fixture_expiring),
    cmocka_unit_test(test_fixture_mesos),
    cmocka_unit_test(test_sim_limit_and_failover),
    cmocka_unit_test(test_action_format),
    cmocka_unit_test(test_machine_codec),
    cmocka_unit_test(test_documents_against_keys),
};

CR_TEST_MAIN(tests)
