/* Plan-style tests of mesosbridge/offers.c, the bridge's offer cycle as a
 * pure function: held offers + due pending tasks + offer state + now in;
 * revive/suppress, launches per offer, declines, kept offers and the
 * reasons of tasks that fit nowhere out. */
#include <stdio.h>
#include <string.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "base/xalloc.h"
#include "mesosbridge/offers.h"
#include "test/lib/cr_test.h"

#define MAXN 8

typedef struct world {
    api_request *req;
    api_deploy *dep, *big;
    size_t np;
    api_pending_task *pend[MAXN];
    char keys[MAXN][64];
    mb_offers_task due[MAXN];
    size_t no;
    mb_offer offers[MAXN];
    mb_offers_offer held[MAXN];
    mb_offer_policy policy;
    mb_offers_in in;
    mb_offers_plan_out out;
    const char *existing; /* a task id prefix task_exists reports as known */
} world;

static void *decode(void *(*fn)(const json_t *, const api_decode_opts *, api_problems *),
                    const char *text)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true};
    json_t *j = cr_test_json(text);
    void *doc = fn(j, &o, &probs);
    json_decref(j);
    if (!doc) {
        char *m = api_problems_format(&probs);
        fail_msg("%s", m);
    }
    api_problems_release(&probs);
    return doc;
}

/* An offer "O<n>" on agent "S<n>" with cpus and 4 GiB. */
static void add_offer(world *w, double cpus, int64_t received_ms)
{
    size_t i = w->no++;
    char buf[600];
    snprintf(buf, sizeof(buf),
             "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"O%zu\"},"
             "\"agent_id\":{\"value\":\"S%zu\"},\"hostname\":\"agent-%zu\",\"resources\":["
             "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%g},\"role\":\"*\"},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096},\"role\":\"*\"}"
             "]}]}}",
             i, i, i, cpus);
    json_t *ev = cr_test_json(buf);
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    mb_offer_copy(&w->offers[i], &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
    w->held[i] = (mb_offers_offer){&w->offers[i], received_ms, "r1", false};
}

/* A due pending task of deploy v1 (cpus 1), or of "big" (cpus 16). */
static void add_due(world *w, int instance, bool big)
{
    size_t i = w->np++;
    char buf[400];
    snprintf(buf, sizeof(buf),
             "{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"%s\",\"nextRunAt\":1000,"
             "\"instanceNo\":%d,\"pendingType\":\"NEW_DEPLOY\",\"createdAt\":1000}}",
             big ? "big" : "v1", instance);
    w->pend[i] = decode((void *)api_pending_task_from_json, buf);
    snprintf(w->keys[i], sizeof(w->keys[i]), "/corral/pending/web/%d", instance);
    w->due[i] = (mb_offers_task){w->keys[i], w->pend[i], w->req, big ? w->big : w->dep};
}

static bool exists(void *arg, const char *task_id)
{
    world *w = arg;
    return w->existing && strncmp(task_id, w->existing, strlen(w->existing)) == 0;
}

static int setup(void **state)
{
    world *w = xcalloc(1, sizeof(*w));
    w->req = decode((void *)api_request_from_json,
                    "{\"id\":\"web\",\"requestType\":\"WORKER\",\"instances\":3}");
    w->dep = decode((void *)api_deploy_from_json,
                    "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1\","
                    "\"resources\":{\"cpus\":1,\"memoryMb\":64}}");
    w->big = decode((void *)api_deploy_from_json,
                    "{\"requestId\":\"web\",\"id\":\"big\",\"command\":\"sleep 1\","
                    "\"resources\":{\"cpus\":16,\"memoryMb\":64}}");
    w->policy = (mb_offer_policy){.hold_ms = 2000, .refuse_idle_s = 300, .refuse_busy_s = 5};
    w->in = (mb_offers_in){.policy = &w->policy,
                           .framework_id = "FW",
                           .task_exists = exists,
                           .arg = w,
                           .revive_min_ms = 1000,
                           .last_revive_ms = -100000,
                           .now = 100000,
                           .wall = 1700000000000};
    *state = w;
    return 0;
}

/* The world with the offer cache on: 2 offers kept for 60 s. */
static int setup_cache(void **state)
{
    setup(state);
    world *w = *state;
    w->policy.cache_max = 2;
    w->policy.cache_ms = 60000;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    mb_offers_plan_release(&w->out);
    for (size_t i = 0; i < w->np; i++)
        api_pending_task_free(w->pend[i]);
    for (size_t i = 0; i < w->no; i++)
        mb_offer_release(&w->offers[i]);
    api_request_free(w->req);
    api_deploy_free(w->dep);
    api_deploy_free(w->big);
    free(w);
    return 0;
}

static void plan(world *w)
{
    mb_offers_plan_release(&w->out);
    w->in.offers = w->held;
    w->in.n_offers = w->no;
    w->in.due = w->due;
    w->in.n_due = w->np;
    w->in.n_pending = w->np;
    mb_offers_plan(&w->in, &w->out);
}

static void test_suppress_and_revive(void **state)
{
    world *w = *state;

    plan(w); /* nothing due, offers flowing: stop them */
    assert_int_equal(w->out.action, MB_OFFERS_SUPPRESS);
    assert_int_equal(w->out.n_launches, 0);

    w->in.suppressed = true;
    plan(w); /* still nothing: stay quiet */
    assert_int_equal(w->out.action, MB_OFFERS_KEEP);

    add_due(w, 1, false);
    plan(w); /* a task is due while suppressed: ask for offers */
    assert_int_equal(w->out.action, MB_OFFERS_REVIVE);
    assert_true(w->out.new_pending);
    assert_int_equal(w->out.waiting, 1);

    w->in.suppressed = false;
    w->in.last_due = 1;
    w->in.last_revive_ms = w->in.now - 10; /* revived a moment ago */
    plan(w);
    assert_int_equal(w->out.action, MB_OFFERS_KEEP);
    add_due(w, 2, false); /* one more due: earlier filters may hide its agents */
    plan(w);
    assert_true(w->out.new_pending);
    assert_int_equal(w->out.action, MB_OFFERS_KEEP); /* but at most once a second */
    w->in.last_revive_ms = w->in.now - 5000;
    plan(w);
    assert_int_equal(w->out.action, MB_OFFERS_REVIVE);
}

/* Issue 14: while nothing waits the cache keeps the youngest offers
 * within their time, on ACTIVE agents; a task that becomes due launches
 * on one in the same cycle, with no REVIVE. */
static void test_offer_cache(void **state)
{
    world *w = *state;
    int64_t now = w->in.now;

    add_offer(w, 1, now - 70000); /* 0: aged out */
    add_offer(w, 1, now - 1000);  /* 1: young */
    add_offer(w, 1, now - 2000);  /* 2: young, older */
    add_offer(w, 1, now - 3000);  /* 3: surplus beyond cache_max */
    add_offer(w, 1, now - 500);   /* 4: youngest, but its agent is frozen */
    w->held[4].inactive = true;
    add_offer(w, 1, now - 400);   /* 5: its agent has maintenance scheduled */
    w->offers[5].unavailable = true;
    plan(w);
    assert_int_equal(w->out.action, MB_OFFERS_KEEP); /* never SUPPRESS while caching */
    assert_int_equal(w->out.n_keep, 2);
    assert_int_equal(w->out.keep[0], 1);
    assert_int_equal(w->out.keep[1], 2);
    assert_int_equal(w->out.n_decline_busy, 1); /* aged out: back soon */
    assert_int_equal(w->out.decline_busy[0], 0);
    assert_int_equal(w->out.n_decline_idle, 3); /* surplus, frozen, maintenance */

    /* a suppressed framework (an older subscription) asks for offers again */
    w->in.suppressed = true;
    plan(w);
    assert_int_equal(w->out.action, MB_OFFERS_REVIVE);
    w->in.suppressed = false;

    /* a task becomes due: it launches on a held offer now, the leftovers
     * come back unfiltered (the cache wants them) */
    add_due(w, 1, false);
    w->in.last_revive_ms = now - 10; /* a REVIVE would wait: none is needed */
    plan(w);
    assert_int_equal(w->out.n_launches, 1);
    assert_int_equal(w->out.launches[0].n, 1);
    assert_int_equal(w->out.waiting, 0);
    assert_true(w->out.accept_refuse_s == 0);
    assert_int_equal(w->out.action, MB_OFFERS_KEEP);
}

static void test_launches_per_offer(void **state)
{
    world *w = *state;

    add_offer(w, 2, w->in.now);
    add_offer(w, 1, w->in.now);
    for (int i = 1; i <= 3; i++)
        add_due(w, i, false);
    plan(w);
    size_t launched = 0;
    for (size_t l = 0; l < w->out.n_launches; l++) {
        const mb_offers_launch *ln = &w->out.launches[l];
        assert_true(ln->offer < 2);
        for (size_t i = 0; i < ln->n; i++) {
            assert_int_equal(ln->tasks[i]->lastTaskState, API_TASK_LAUNCHED);
            assert_string_equal(ln->tasks[i]->offerId, w->offers[ln->offer].id);
            assert_ptr_equal(w->due[ln->due[i]].pend, w->pend[ln->due[i]]);
        }
        launched += ln->n;
    }
    assert_int_equal(launched, 3);
    assert_int_equal(w->out.waiting, 0);
    assert_int_equal(w->out.tried, 3);
    assert_int_equal(w->out.n_unplaced, 0);
    assert_int_equal(w->out.n_keep + w->out.n_decline_idle + w->out.n_decline_busy, 0);
    assert_true(w->out.accept_refuse_s == w->policy.refuse_busy_s);

    /* at most one task per offer when asked */
    w->in.max_tasks_per_offer = 1;
    plan(w);
    launched = 0;
    for (size_t l = 0; l < w->out.n_launches; l++)
        launched += w->out.launches[l].n;
    assert_int_equal(launched, 2);
}

static void test_unplaced_hold_then_decline(void **state)
{
    world *w = *state;

    add_offer(w, 2, w->in.now - 100);   /* young */
    add_offer(w, 2, w->in.now - 10000); /* held too long */
    add_due(w, 1, true);                /* needs 16 cpus */
    plan(w);
    assert_int_equal(w->out.n_launches, 0);
    assert_int_equal(w->out.n_unplaced, 1);
    assert_int_equal(w->out.unplaced[0].due, 0);
    assert_int_equal(w->out.unplaced[0].reason, MB_PLACE_NOT_ENOUGH_RESOURCES);
    assert_non_null(strstr(w->out.unplaced[0].message, "cpus"));
    assert_int_equal(w->out.waiting, 1);
    /* a task waits: the young offer is held, the old one declined briefly */
    assert_int_equal(w->out.n_keep, 1);
    assert_int_equal(w->out.keep[0], 0);
    assert_int_equal(w->out.n_decline_busy, 1);
    assert_int_equal(w->out.decline_busy[0], 1);

    /* nothing waits: offers go back with the long filter */
    w->np = 0;
    api_pending_task_free(w->pend[0]);
    plan(w);
    assert_int_equal(w->out.n_decline_idle, 2);
    assert_int_equal(w->out.n_keep, 0);
}

static void test_known_task_id_waits(void **state)
{
    world *w = *state;

    add_offer(w, 4, w->in.now);
    add_due(w, 1, false);
    w->existing = "web-v1-"; /* a launch this millisecond would reuse the id */
    plan(w);
    assert_int_equal(w->out.n_launches, 0);
    assert_int_equal(w->out.n_unplaced, 0); /* placed, not launched: next cycle */
    w->existing = NULL;
    plan(w);
    assert_int_equal(w->out.n_launches, 1);
}

static void test_work_budget_defers(void **state)
{
    world *w = *state;

    add_offer(w, 1, w->in.now);
    for (int i = 1; i <= 4; i++)
        add_due(w, i, true); /* none fits */
    w->in.max_checks = 1;
    plan(w);
    assert_true(w->out.tried >= 1);
    assert_true(w->out.tried < 4); /* the rest deferred to a later turn */
    assert_int_equal(w->out.failed, w->out.tried);
    assert_int_equal(w->out.n_unplaced, w->out.tried);
    assert_int_equal(w->out.waiting, 4);
    assert_true(w->out.accept_refuse_s == 0); /* leftovers must come back at once */
}

/* The bridge gives the plan only the tasks a cycle could try; the due
 * tasks behind them (n_due_more) still count as waiting: they ask for
 * offers, keep the held ones, and leave the leftovers unfiltered. */
static void test_due_beyond_the_window(void **state)
{
    world *w = *state;

    w->in.suppressed = true;
    w->in.n_due_more = 5;
    plan(w); /* none given, five behind: ask for offers */
    assert_int_equal(w->out.action, MB_OFFERS_REVIVE);
    assert_int_equal(w->out.waiting, 5);

    w->in.suppressed = false;
    w->in.last_revive_ms = w->in.now;
    w->in.last_due = 5;
    add_offer(w, 4, w->in.now);
    add_due(w, 1, false);
    w->in.n_due_more = 3;
    plan(w);
    assert_int_equal(w->out.n_launches, 1);
    assert_int_equal(w->out.tried, 1);
    assert_int_equal(w->out.waiting, 3);     /* the ones behind still wait */
    assert_true(w->out.accept_refuse_s == 0); /* and want the leftovers back */
    assert_false(w->out.new_pending);        /* 4 due, 5 before: nothing new */

    w->in.n_due_more = 0;
    plan(w);
    assert_int_equal(w->out.waiting, 0);
    assert_true(w->out.accept_refuse_s > 0); /* nobody left for the leftovers */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_suppress_and_revive, setup, teardown),
    cmocka_unit_test_setup_teardown(test_launches_per_offer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_offer_cache, setup_cache, teardown),
    cmocka_unit_test_setup_teardown(test_unplaced_hold_then_decline, setup, teardown),
    cmocka_unit_test_setup_teardown(test_known_task_id_waits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_work_budget_defers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_due_beyond_the_window, setup, teardown),
};

CR_TEST_MAIN(tests)
