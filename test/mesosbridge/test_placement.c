/* Plan-style tests of mesosbridge/placement.c: offers + pending tasks +
 * active tasks in, assignment (offer per task, or why not) out. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesosbridge/placement.h"
#include "test/lib/cr_test.h"

#define MAXO 8

typedef struct world {
    size_t n;
    mb_offer offers[MAXO];
    mb_offer_left left[MAXO];
    mb_place_offer po[MAXO];
} world;

/* agent "S<i>", rack attribute `rack`, optional extra attribute. */
static void add_offer(world *w, double cpus, double mem, int ports, const char *rack,
                      const char *attr_k, const char *attr_v)
{
    size_t i = w->n++;
    char id[16], agent[16];
    snprintf(id, sizeof(id), "O%zu", i);
    snprintf(agent, sizeof(agent), "S%zu", i);
    json_t *res =
        json_pack("[{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}}]", "name", "cpus", "type",
                  "SCALAR", "scalar", "value", cpus, "name", "mem", "type", "SCALAR", "scalar",
                  "value", mem, "name", "disk", "type", "SCALAR", "scalar", "value", 1000.0);
    if (ports)
        json_array_append_new(res, json_pack("{s:s,s:s,s:{s:[{s:i,s:i}]}}", "name", "ports", "type",
                                             "RANGES", "ranges", "range", "begin", 31000, "end",
                                             31000 + ports - 1));
    json_t *attrs = json_array();
    if (rack)
        json_array_append_new(attrs, json_pack("{s:s,s:s,s:{s:s}}", "name", "rackid", "type",
                                               "TEXT", "text", "value", rack));
    if (attr_k)
        json_array_append_new(attrs, json_pack("{s:s,s:s,s:{s:s}}", "name", attr_k, "type", "TEXT",
                                               "text", "value", attr_v));
    json_t *ev = json_pack("{s:s,s:{s:[{s:{s:s},s:{s:s},s:s,s:o,s:o}]}}", "type", "OFFERS",
                           "offers", "offers", "id", "value", id, "agent_id", "value", agent,
                           "hostname", agent, "resources", res, "attributes", attrs);
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    mb_offer_copy(&w->offers[i], &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
}

static void finish(world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        mb_offer_left_init(&w->left[i], &w->offers[i]);
        w->po[i].left = &w->left[i];
        const char *r = mb_offer_attr(&w->offers[i], "rackid");
        w->po[i].rack_id = r ? r : "DEFAULT";
        w->po[i].inactive = false;
    }
}

static void world_free(world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        mb_offer_left_release(&w->left[i]);
        mb_offer_release(&w->offers[i]);
    }
}

static mb_place_task task(const char *req, const char *dep, double cpus, int ports)
{
    mb_place_task t = {.request_id = req,
                       .deploy_id = dep,
                       .cpus = cpus,
                       .mem = 64,
                       .num_ports = ports,
                       .instances = 1};
    return t;
}

/* Runs placement and renders "O0 O0 -:REASON" for comparison. */
static char *plan(world *w, const mb_place_config *cfg, const mb_place_task *t, size_t n,
                  const mb_place_active *act, size_t n_act, mb_place_result *keep)
{
    mb_place_result res[16];
    cr_buf b = CR_BUF_INIT;
    mb_place(cfg, w->po, w->n, t, n, act, n_act, res);
    for (size_t i = 0; i < n; i++) {
        if (i)
            cr_buf_addch(&b, ' ');
        if (res[i].offer >= 0)
            cr_buf_addf(&b, "O%ld", res[i].offer);
        else
            cr_buf_addf(&b, "-:%s", mb_place_reason_name(res[i].reason));
        if (keep && i == 0) {
            *keep = res[0];
            continue;
        }
        mb_place_result_release(&res[i]);
    }
    return cr_buf_detach(&b, NULL);
}

#define PLAN(want, ...)                  \
    do {                                 \
        char *got_ = plan(__VA_ARGS__);  \
        assert_string_equal(got_, want); \
        free(got_);                      \
    } while (0)

static void test_greedy_packs_and_ports(void **state)
{
    world w = {0};
    add_offer(&w, 4, 1024, 10, NULL, NULL, NULL);
    finish(&w);
    mb_place_task t[3] = {task("web", "v1", 1, 2), task("web", "v1", 1, 2),
                          task("web", "v1", 3, 0)};
    mb_place_result first;
    PLAN("O0 O0 -:NOT_ENOUGH_RESOURCES", &w, NULL, t, 3, NULL, 0, &first);
    assert_int_equal(first.n_ports, 2);
    assert_true(first.ports[0] == 31000 && first.ports[1] == 31001);
    assert_non_null(first.resources);
    mb_place_result_release(&first);
    /* resources were taken: 2 cpus left, 4 ports left */
    assert_true(mb_offer_left_scalar(&w.left[0], "cpus") == 2);
    PLAN("O0 -:NOT_ENOUGH_RESOURCES", &w, NULL,
         (mb_place_task[]){task("a", "v", 1, 5), task("a", "v", 0.1, 2)}, 2, NULL, 0, NULL);
    world_free(&w);
}

static void test_prefers_free_agent(void **state)
{
    world w = {0};
    add_offer(&w, 2, 1024, 0, NULL, NULL, NULL);
    add_offer(&w, 8, 4096, 0, NULL, NULL, NULL);
    finish(&w);
    mb_place_task t = task("web", "v1", 1, 0);
    PLAN("O1", &w, NULL, &t, 1, NULL, 0, NULL);
    world_free(&w);
}

static void test_separate(void **state)
{
    world w = {0};
    add_offer(&w, 8, 4096, 0, NULL, NULL, NULL);
    add_offer(&w, 8, 4096, 0, NULL, NULL, NULL);
    finish(&w);
    mb_place_task t[3] = {task("web", "v1", 1, 0), task("web", "v1", 1, 0),
                          task("web", "v1", 1, 0)};
    for (int i = 0; i < 3; i++)
        t[i].placement = API_PLACEMENT_SEPARATE;
    PLAN("O0 O1 -:AGENT_ALREADY_USED", &w, NULL, t, 3, NULL, 0, NULL);
    world_free(&w);

    /* an active task of the same deploy on S0 keeps new ones off it; another
     * deploy of the request does not (SEPARATE), but does for BY_REQUEST */
    world w2 = {0};
    add_offer(&w2, 8, 4096, 0, NULL, NULL, NULL);
    add_offer(&w2, 2, 1024, 0, NULL, NULL, NULL);
    finish(&w2);
    mb_place_active act = {"web", "v0", "S0", "DEFAULT"};
    mb_place_task s = task("web", "v1", 1, 0);
    s.placement = API_PLACEMENT_SEPARATE;
    w2.po[1].inactive = true;
    PLAN("O0", &w2, NULL, &s, 1, &act, 1, NULL);
    s.placement = API_PLACEMENT_SEPARATE_BY_REQUEST;
    PLAN("-:AGENT_ALREADY_USED", &w2, NULL, &s, 1, &act, 1, NULL);
    w2.po[1].inactive = false;
    PLAN("O1", &w2, NULL, &s, 1, &act, 1, NULL);
    act.deploy_id = "v1";
    s.placement = API_PLACEMENT_SPREAD_ALL_AGENTS;
    PLAN("O1", &w2, NULL, &s, 1, &act, 1, NULL);
    world_free(&w2);
}

static void test_rack_sensitive(void **state)
{
    world w = {0};
    add_offer(&w, 8, 4096, 0, "r1", NULL, NULL);
    add_offer(&w, 8, 4096, 0, "r1", NULL, NULL);
    add_offer(&w, 2, 1024, 0, "r2", NULL, NULL);
    add_offer(&w, 2, 1024, 0, "r2", NULL, NULL);
    finish(&w);
    mb_place_task t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = task("web", "v1", 0.5, 0);
        t[i].rack_sensitive = true;
        t[i].instances = 4;
    }
    /* r1 has the bigger agents, yet the four instances split 2 + 2; the
     * fifth has no room within ceil(4/2) per rack */
    char *got = plan(&w, NULL, t, 5, NULL, 0, NULL);
    int r1 = 0, r2 = 0;
    for (char *p = got; *p; p++)
        if (*p == 'O') {
            if (p[1] == '0' || p[1] == '1')
                r1++;
            else
                r2++;
        }
    assert_int_equal(r1, 2);
    assert_int_equal(r2, 2);
    assert_non_null(strstr(got, "-:RACK_SATURATED"));
    free(got);
    world_free(&w);

    /* two already on r1: the next goes to r2 */
    world w2 = {0};
    add_offer(&w2, 8, 4096, 0, "r1", NULL, NULL);
    add_offer(&w2, 1, 1024, 0, "r2", NULL, NULL);
    finish(&w2);
    mb_place_active act[2] = {{"web", "v1", "X1", "r1"}, {"web", "v1", "X2", "r1"}};
    PLAN("O1", &w2, NULL, t, 1, act, 2, NULL);
    /* with configured racks r1,r2,r3 and 3 instances, one per rack */
    const char *racks[] = {"r1", "r2", "r3", NULL};
    mb_place_config cfg = {.racks = racks};
    mb_place_task u = t[0];
    u.instances = 3;
    PLAN("O1", &w2, &cfg, &u, 1, act, 1, NULL);
    world_free(&w2);
}

static void test_attributes(void **state)
{
    world w = {0};
    add_offer(&w, 8, 4096, 0, NULL, "instance", "big");
    add_offer(&w, 8, 4096, 0, NULL, "reserved", "ml");
    add_offer(&w, 1, 1024, 0, NULL, NULL, NULL);
    finish(&w);
    api_strmap reserve = {0}, req = {0}, allow = {0};
    api_strmap_set(&reserve, "reserved", "ml");
    mb_place_config cfg = {.reserve_attrs = &reserve};
    mb_place_task t = task("web", "v1", 1, 0);
    /* plain tasks never land on the reserved agent O1 (and spread over
     * the others) */
    PLAN("O0 O2 O0", &w, &cfg, (mb_place_task[]){t, t, t}, 3, NULL, 0, NULL);
    api_strmap_set(&req, "instance", "big");
    t.required_attrs = &req;
    PLAN("O0", &w, &cfg, &t, 1, NULL, 0, NULL);
    api_strmap_release(&req);
    api_strmap_set(&req, "instance", "small");
    PLAN("-:AGENT_ATTRIBUTES_DO_NOT_MATCH", &w, &cfg, &t, 1, NULL, 0, NULL);
    /* allowed attributes open the reserved agent without confining to it */
    api_strmap_set(&allow, "reserved", "ml");
    mb_place_task a = task("ml", "v1", 4, 0);
    a.allowed_attrs = &allow;
    PLAN("O1", &w, &cfg, &a, 1, NULL, 0, NULL);
    api_strmap_release(&reserve);
    api_strmap_release(&req);
    api_strmap_release(&allow);
    world_free(&w);
}

static void test_affinity_inactive_optimistic(void **state)
{
    world w = {0};
    add_offer(&w, 8, 4096, 0, "r1", NULL, NULL);
    add_offer(&w, 4, 4096, 0, "r2", NULL, NULL);
    finish(&w);
    api_strlist aff = {0};
    api_strlist_add(&aff, "r2");
    mb_place_task t = task("web", "v1", 1, 0);
    t.rack_affinity = &aff;
    PLAN("O1", &w, NULL, &t, 1, NULL, 0, NULL);
    w.po[1].inactive = true;
    PLAN("-:RACK_AFFINITY_NOT_MATCHING", &w, NULL, &t, 1, NULL, 0, NULL);
    api_strlist_release(&aff);
    t.rack_affinity = NULL;
    PLAN("O0", &w, NULL, &t, 1, NULL, 0, NULL);
    w.po[0].inactive = true;
    PLAN("-:AGENT_NOT_ACTIVE", &w, NULL, &t, 1, NULL, 0, NULL);
    w.po[0].inactive = w.po[1].inactive = false;
    /* OPTIMISTIC: 3 tasks on S0 and 1 on S1 -> average 2; S0 is over */
    mb_place_active act[4] = {{"web", "v1", "S0", "r1"},
                              {"web", "v1", "S0", "r1"},
                              {"web", "v1", "S0", "r1"},
                              {"web", "v1", "S1", "r2"}};
    t.placement = API_PLACEMENT_OPTIMISTIC;
    w.po[1].inactive = true;
    PLAN("-:AGENT_ALREADY_USED", &w, NULL, &t, 1, act, 4, NULL);
    w.po[1].inactive = false;
    PLAN("O1", &w, NULL, &t, 1, act, 4, NULL);
    world_free(&w);
}

static void test_executor_resources(void **state)
{
    world w = {0};
    add_offer(&w, 1.2, 1024, 0, NULL, NULL, NULL);
    finish(&w);
    mb_place_task t = task("job", "v1", 1, 0);
    t.exec_cpus = 0.1;
    t.exec_mem = 32;
    mb_place_result r;
    PLAN("O0", &w, NULL, &t, 1, NULL, 0, &r);
    assert_non_null(r.exec_resources);
    assert_int_equal(json_array_size(r.exec_resources), 2);
    mb_place_result_release(&r);
    assert_true(mb_offer_left_scalar(&w.left[0], "cpus") < 0.11);
    /* the executor's share counts: a second task does not fit */
    PLAN("-:NOT_ENOUGH_RESOURCES", &w, NULL, &t, 1, NULL, 0, NULL);
    world_free(&w);
    world none = {0};
    PLAN("-:NO_OFFERS", &none, NULL, &t, 1, NULL, 0, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_greedy_packs_and_ports),
    cmocka_unit_test(test_prefers_free_agent),
    cmocka_unit_test(test_separate),
    cmocka_unit_test(test_rack_sensitive),
    cmocka_unit_test(test_attributes),
    cmocka_unit_test(test_affinity_inactive_optimistic),
    cmocka_unit_test(test_executor_resources),
};

CR_TEST_MAIN(tests)
