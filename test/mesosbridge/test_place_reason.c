/* mb_place_reason_message: the short text the bridge stores in
 * status/pending for people, from what the offers have left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/events.h"
#include "mesosbridge/placement.h"
#include "test/lib/cr_test.h"

typedef struct world {
    size_t n;
    mb_offer offers[4];
    mb_offer_left left[4];
    mb_place_offer po[4];
} world;

static void add_offer(world *w, double cpus, double mem)
{
    size_t i = w->n++;
    char id[16], agent[16];
    snprintf(id, sizeof(id), "O%zu", i);
    snprintf(agent, sizeof(agent), "S%zu", i);
    json_t *res = json_pack("[{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}}]", "name",
                            "cpus", "type", "SCALAR", "scalar", "value", cpus, "name", "mem",
                            "type", "SCALAR", "scalar", "value", mem, "name", "disk", "type",
                            "SCALAR", "scalar", "value", 1000.0);
    json_t *ev = json_pack("{s:s,s:{s:[{s:{s:s},s:{s:s},s:s,s:o,s:[]}]}}", "type", "OFFERS",
                           "offers", "offers", "id", "value", id, "agent_id", "value", agent,
                           "hostname", agent, "resources", res, "attributes");
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    mb_offer_copy(&w->offers[i], &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
    mb_offer_left_init(&w->left[i], &w->offers[i]);
    w->po[i].left = &w->left[i];
    w->po[i].rack_id = "DEFAULT";
}

static void world_free(world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        mb_offer_left_release(&w->left[i]);
        mb_offer_release(&w->offers[i]);
    }
}

static void expect(const char *want, mb_place_reason r, const mb_place_task *t, const world *w)
{
    char *got = mb_place_reason_message(r, t, w->po, w->n);
    assert_string_equal(got, want);
    free(got);
}

static void test_resources_name_the_short_one(void **state)
{
    world w = {0};
    add_offer(&w, 2, 1024);
    add_offer(&w, 1, 4096);
    mb_place_task t = {.request_id = "web", .deploy_id = "v1", .cpus = 3, .mem = 64};

    /* the placement agrees it does not fit */
    mb_place_config cfg = {0};
    mb_place_result res;
    assert_int_equal(mb_place(&cfg, w.po, w.n, &t, 1, NULL, 0, &res), 0);
    assert_int_equal(res.reason, MB_PLACE_NOT_ENOUGH_RESOURCES);
    mb_place_result_release(&res);

    expect("needs cpus 3, largest offer has 2", MB_PLACE_NOT_ENOUGH_RESOURCES, &t, &w);
    t.cpus = 1;
    t.mem = 5000;
    expect("needs mem 5000, largest offer has 4096", MB_PLACE_NOT_ENOUGH_RESOURCES, &t, &w);
    /* an executor's share counts */
    t.mem = 4000;
    t.exec_mem = 200;
    expect("needs mem 4200, largest offer has 4096", MB_PLACE_NOT_ENOUGH_RESOURCES, &t, &w);
    /* an inactive agent's offer does not count */
    t.exec_mem = 0;
    t.mem = 64;
    t.cpus = 2;
    w.po[0].inactive = true;
    expect("needs cpus 2, largest offer has 1", MB_PLACE_NOT_ENOUGH_RESOURCES, &t, &w);
    world_free(&w);
}

static void test_other_reasons_have_text(void **state)
{
    world w = {0};
    mb_place_task t = {.request_id = "web", .deploy_id = "v1", .cpus = 1, .mem = 64};
    expect("no offers", MB_PLACE_NO_OFFERS, &t, &w);
    for (int r = MB_PLACE_NO_OFFERS; r <= MB_PLACE_DEFERRED; r++) {
        char *m = mb_place_reason_message((mb_place_reason)r, &t, w.po, 0);
        assert_true(strlen(m) > 0);
        free(m);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_resources_name_the_short_one),
    cmocka_unit_test(test_other_reasons_have_text),
};

CR_TEST_MAIN(tests)
