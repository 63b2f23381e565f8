/* SPREAD_ALL_AGENTS' pure functions (controllers/spread.h): the count of
 * agents that take an instance, as agents come, go and change state, and
 * the slots of the tasks when it changes. The service plan's side (which
 * task is killed, what is launched) is in fixtures/service_spread.json. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"
#include "controllers/spread.h"

static api_machine *machine(const char *state, const char *rack, const char *attrs)
{
    char text[512];
    api_problems probs = API_PROBLEMS_INIT;
    snprintf(text, sizeof(text),
             "{\"id\": \"x\", \"rackId\": \"%s\", \"attributes\": %s, "
             "\"currentState\": {\"state\": \"%s\", \"timestamp\": 1}}",
             rack, attrs ? attrs : "{}", state);
    json_t *j = cr_test_json(text);
    api_machine *m = api_machine_from_json(j, NULL, &probs);
    if (!m)
        fail_msg("%s", api_problems_format(&probs));
    json_decref(j);
    api_problems_release(&probs);
    return m;
}

/* One row: agents' states (and their racks'), what the count must be. */
typedef struct count_case {
    const char *name;
    const char *states[6];  /* NULL-terminated */
    const char *rack_state; /* of rack r1 (every agent is in it); NULL: no rack document */
    bool require_ssd;       /* requiredAgentAttributes {disk: ssd}; agent 0 lacks it */
    int want;
} count_case;

static const count_case count_cases[] = {
    {"three ACTIVE agents", {"ACTIVE", "ACTIVE", "ACTIVE"}, "ACTIVE", false, 3},
    {"an agent added", {"ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE"}, "ACTIVE", false, 4},
    {"an agent lost (DEAD)", {"ACTIVE", "DEAD", "ACTIVE"}, "ACTIVE", false, 2},
    {"an agent missing on startup", {"ACTIVE", "MISSING_ON_STARTUP", "ACTIVE"}, NULL, false, 2},
    {"an agent frozen", {"ACTIVE", "FROZEN", "ACTIVE"}, "ACTIVE", false, 2},
    {"a decommission asked: the count drops at STARTING_DECOMMISSION",
     {"ACTIVE", "STARTING_DECOMMISSION", "ACTIVE"},
     "ACTIVE",
     false,
     2},
    {"decommissioning", {"DECOMMISSIONING", "ACTIVE", "ACTIVE"}, "ACTIVE", false, 2},
    {"decommissioned", {"DECOMMISSIONED", "DECOMMISSIONED", "ACTIVE"}, "ACTIVE", false, 1},
    {"the rack frozen: none", {"ACTIVE", "ACTIVE"}, "FROZEN", false, 0},
    {"the rack decommissioning: none", {"ACTIVE", "ACTIVE"}, "DECOMMISSIONING", false, 0},
    {"no rack document: its agents count", {"ACTIVE", "ACTIVE"}, NULL, false, 2},
    {"required attributes: agent 0 lacks them", {"ACTIVE", "ACTIVE", "ACTIVE"}, "ACTIVE", true, 2},
    {"no agents", {NULL}, NULL, false, 0},
};

static void test_count(void **state)
{
    api_strmap ssd = {0};
    api_strmap_set(&ssd, "disk", "ssd");
    for (size_t c = 0; c < sizeof(count_cases) / sizeof(count_cases[0]); c++) {
        const count_case *k = &count_cases[c];
        ctl_spread_agent agents[7] = {{0}};
        api_machine *rack = k->rack_state ? machine(k->rack_state, "r1", NULL) : NULL;
        size_t n = 0;
        for (; k->states[n]; n++) {
            agents[n].agent = machine(k->states[n], "r1", n ? "{\"disk\": \"ssd\"}" : NULL);
            agents[n].rack = rack;
        }
        agents[n++].agent = NULL; /* a document that does not decode counts for nothing */
        int got = ctl_spread_count(agents, n, k->require_ssd ? &ssd : NULL);
        if (got != k->want)
            fail_msg("%s: count %d, want %d", k->name, got, k->want);
        for (size_t i = 0; i < n; i++)
            api_machine_free((api_machine *)agents[i].agent);
        api_machine_free(rack);
    }
    api_strmap_release(&ssd);
}

/* ---- slots ------------------------------------------------------------------------ */

typedef struct slot_task {
    const char *id;
    int instance;
    bool on_spreading;
    const char *state; /* NULL: TASK_RUNNING; "pending" */
    bool cleaning;
} slot_task;

typedef struct slot_case {
    const char *name;
    int instances;
    slot_task tasks[6]; /* id NULL ends */
    int want_instance[6];
    bool want_moved[6]; /* decommissioning set: replaced new before old */
} slot_case;

static const slot_case slot_cases[] = {
    {"nothing changed",
     2,
     {{"t1", 1, true, NULL, false}, {"t2", 2, true, NULL, false}},
     {1, 2},
     {false, false}},
    {"the agent of instance 1 left (3 -> 2): t3 takes slot 1, t1 is above the count",
     2,
     {{"t1", 1, false, NULL, false}, {"t2", 2, true, NULL, false}, {"t3", 3, true, NULL, false}},
     {3, 2, 1},
     {false, false, false}},
    {"a lost agent's UNREACHABLE task holds no slot and is left as it is",
     2,
     {{"t1", 1, false, "TASK_UNREACHABLE", false},
      {"t2", 2, true, NULL, false},
      {"t3", 3, true, NULL, false}},
     {1, 2, 1},
     {false, false, false}},
    {"the task that left is gone: t3 keeps serving slot 1",
     2,
     {{"t2", 2, true, NULL, false}, {"t3", 3, true, NULL, false}},
     {2, 1},
     {false, false}},
    {"an agent left and one came (3 -> 3): the leaving task keeps its slot until replaced",
     3,
     {{"t1", 1, false, NULL, false}, {"t2", 2, true, NULL, false}, {"t3", 3, true, NULL, false}},
     {1, 2, 3},
     {true, false, false}},
    {"a pending task counts as placed where it can go; a task being killed holds nothing",
     2,
     {{"p3", 3, true, "pending", false}, {"t1", 1, true, NULL, true}, {"t2", 2, true, NULL, false}},
     {1, 1, 2},
     {false, false, false}},
    {"two agents left (4 -> 2): both their tasks above the count, t3 and t4 in their slots",
     2,
     {{"t1", 1, false, NULL, false},
      {"t2", 2, false, NULL, false},
      {"t3", 3, true, NULL, false},
      {"t4", 4, true, NULL, false}},
     {3, 4, 1, 2},
     {false, false, false, false}},
    {"no agent takes one: every task above the count",
     0,
     {{"t1", 1, false, NULL, false}},
     {1},
     {false}},
};

static void test_slots(void **state)
{
    for (size_t c = 0; c < sizeof(slot_cases) / sizeof(slot_cases[0]); c++) {
        const slot_case *k = &slot_cases[c];
        ctl_task tasks[6];
        bool on[6];
        size_t n = 0;
        memset(tasks, 0, sizeof(tasks));
        for (; n < 6 && k->tasks[n].id; n++) {
            const slot_task *s = &k->tasks[n];
            tasks[n].id = s->id;
            tasks[n].deploy_id = "v1";
            tasks[n].instance = s->instance;
            tasks[n].pending = s->state && !strcmp(s->state, "pending");
            tasks[n].state = tasks[n].pending
                                 ? API_TASK_STATE_NONE
                                 : api_task_state_parse(s->state ? s->state : "TASK_RUNNING");
            tasks[n].cleaning = s->cleaning;
            on[n] = s->on_spreading;
        }
        ctl_spread_slots(k->instances, tasks, n, on);
        for (size_t i = 0; i < n; i++) {
            if (tasks[i].instance != k->want_instance[i] ||
                tasks[i].decommissioning != k->want_moved[i])
                fail_msg("%s: %s: instance %d moved %d, want %d %d", k->name, tasks[i].id,
                         tasks[i].instance, tasks[i].decommissioning, k->want_instance[i],
                         k->want_moved[i]);
        }
    }
}

/* Slots are per deploy: a pending deploy's tasks are numbered apart. */
static void test_slots_per_deploy(void **state)
{
    ctl_task tasks[3];
    bool on[3] = {true, true, true};
    memset(tasks, 0, sizeof(tasks));
    tasks[0] = (ctl_task){.id = "a1", .deploy_id = "v1", .instance = 1, .state = API_TASK_RUNNING};
    tasks[1] = (ctl_task){.id = "a3", .deploy_id = "v1", .instance = 3, .state = API_TASK_RUNNING};
    tasks[2] = (ctl_task){.id = "b2", .deploy_id = "v2", .instance = 2, .state = API_TASK_RUNNING};
    ctl_spread_slots(2, tasks, 3, on);
    assert_int_equal(tasks[0].instance, 1);
    assert_int_equal(tasks[1].instance, 2);
    assert_int_equal(tasks[2].instance, 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_count),
    cmocka_unit_test(test_slots),
    cmocka_unit_test(test_slots_per_deploy),
};
CR_TEST_MAIN(tests)
