/* Plan-style tests of mesosbridge/placement.c: offers + pending tasks +
 * active tasks in, assignment (offer per task, or why not) out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesosbridge/placement.h"
#include "test/lib/cr_test.h"

#define MAXO 16

typedef struct world {
    size_t n;
    mb_offer offers[MAXO];
    mb_offer_left left[MAXO];
    mb_place_offer po[MAXO];
} world;

/* Offer "O<i>" on agent `agent_id` (NULL: "S<i>"), rack attribute `rack`,
 * optional extra attribute. */
static void add_offer_on(world *w, const char *agent_id, double cpus, double mem, int ports,
                         const char *rack, const char *attr_k, const char *attr_v)
{
    size_t i = w->n++;
    char id[16], agent[16];
    snprintf(id, sizeof(id), "O%zu", i);
    snprintf(agent, sizeof(agent), "S%zu", i);
    if (agent_id)
        snprintf(agent, sizeof(agent), "%s", agent_id);
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

static void add_offer(world *w, double cpus, double mem, int ports, const char *rack,
                      const char *attr_k, const char *attr_v)
{
    add_offer_on(w, NULL, cpus, mem, ports, rack, attr_k, attr_v);
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

/* ---- the pre-index algorithm, kept as a reference --------------------------------
 * A copy of placement.c before the per-call count index (it rescanned every
 * active task for every (task, offer) pair). The randomized test below checks
 * that the indexed mb_place decides exactly as this did. */

static bool ref_streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* The working set of active tasks: the given ones plus those placed now. */
typedef struct ref_actives {
    const mb_place_active *given;
    size_t n_given;
    mb_place_active *added;
    size_t n_added;
} ref_actives;

static const mb_place_active *ref_act_get(const ref_actives *a, size_t i)
{
    return i < a->n_given ? &a->given[i] : &a->added[i - a->n_given];
}

static size_t ref_act_count(const ref_actives *a)
{
    return a->n_given + a->n_added;
}

typedef struct ref_counts {
    int on_agent_same_deploy;
    int on_agent_same_request;
    int request_total;  /* tasks of the request (this deploy) anywhere */
    int distinct_hosts; /* hosts running the request's deploy */
} ref_counts;

static ref_counts ref_count_for(const ref_actives *a, const mb_place_task *t, const char *agent_id)
{
    ref_counts c = {0};
    size_t n = ref_act_count(a);
    const char **hosts = xcalloc(n + 1, sizeof(char *));
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        const mb_place_active *x = ref_act_get(a, i);
        if (!ref_streq(x->request_id, t->request_id))
            continue;
        bool same_deploy = ref_streq(x->deploy_id, t->deploy_id);
        if (ref_streq(x->agent_id, agent_id)) {
            c.on_agent_same_request++;
            if (same_deploy)
                c.on_agent_same_deploy++;
        }
        if (same_deploy) {
            c.request_total++;
            bool seen = false;
            for (size_t k = 0; k < nh && !seen; k++)
                seen = ref_streq(hosts[k], x->agent_id);
            if (!seen && x->agent_id)
                hosts[nh++] = x->agent_id;
        }
    }
    c.distinct_hosts = (int)nh;
    free(hosts);
    return c;
}

static int ref_rack_count(const ref_actives *a, const mb_place_task *t, const char *rack)
{
    int n = 0;
    for (size_t i = 0; i < ref_act_count(a); i++) {
        const mb_place_active *x = ref_act_get(a, i);
        if (ref_streq(x->request_id, t->request_id) && ref_streq(x->deploy_id, t->deploy_id) &&
            ref_streq(x->rack_id, rack))
            n++;
    }
    return n;
}

static size_t ref_rack_total(const mb_place_config *cfg, const mb_place_offer *offers,
                             size_t n_offers, const ref_actives *a)
{
    size_t n = 0;
    if (cfg && cfg->racks) {
        while (cfg->racks[n])
            n++;
        if (n)
            return n;
    }
    /* distinct racks among offers and active tasks */
    size_t cap = n_offers + ref_act_count(a) + 1;
    const char **seen = xcalloc(cap, sizeof(char *));
    for (size_t i = 0; i < n_offers + ref_act_count(a); i++) {
        const char *r = i < n_offers ? offers[i].rack_id : ref_act_get(a, i - n_offers)->rack_id;
        if (!r)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = ref_streq(seen[k], r);
        if (!dup)
            seen[n++] = r;
    }
    free(seen);
    return n ? n : 1;
}

/* Free fraction left after taking t from l (Singularity's weights). */
static double ref_score(const mb_offer_left *l, const mb_place_task *t)
{
    const mb_offer *o = l->offer;
    double c =
        o->cpus > 0 ? (mb_offer_left_scalar(l, "cpus") - t->cpus - t->exec_cpus) / o->cpus : 0;
    double m = o->mem > 0 ? (mb_offer_left_scalar(l, "mem") - t->mem - t->exec_mem) / o->mem : 0;
    double d =
        o->disk > 0 ? (mb_offer_left_scalar(l, "disk") - t->disk - t->exec_disk) / o->disk : 1;
    return 0.4 * c + 0.4 * m + 0.2 * d;
}

#define REF_EPS 0.0005

static mb_place_reason ref_check(const mb_place_config *cfg, const mb_place_offer *po,
                                 const mb_place_task *t, const ref_actives *a, size_t nracks,
                                 int pending_of_request)
{
    const mb_offer *o = po->left->offer;
    if (po->inactive)
        return MB_PLACE_AGENT_NOT_ACTIVE;
    if (t->rack_affinity && t->rack_affinity->n &&
        !api_strlist_contains(t->rack_affinity, po->rack_id ? po->rack_id : ""))
        return MB_PLACE_RACK_AFFINITY_NOT_MATCHING;
    if (!mb_place_attrs_match(o, cfg ? cfg->reserve_attrs : NULL, t->required_attrs,
                              t->allowed_attrs))
        return MB_PLACE_AGENT_ATTRIBUTES_DO_NOT_MATCH;
    if (mb_offer_left_scalar(po->left, "cpus") + REF_EPS < t->cpus + t->exec_cpus ||
        mb_offer_left_scalar(po->left, "mem") + REF_EPS < t->mem + t->exec_mem ||
        mb_offer_left_scalar(po->left, "disk") + REF_EPS < t->disk + t->exec_disk)
        return MB_PLACE_NOT_ENOUGH_RESOURCES;
    if (t->num_ports > 0) {
        uint64_t *tmp = xcalloc((size_t)t->num_ports, sizeof(uint64_t));
        bool ok = mb_offer_left_pick_ports(po->left, (size_t)t->num_ports, tmp);
        free(tmp);
        if (!ok)
            return MB_PLACE_NOT_ENOUGH_RESOURCES;
    }
    ref_counts c = ref_count_for(a, t, o->agent_id);
    switch (t->placement) {
    case API_PLACEMENT_SEPARATE:
    case API_PLACEMENT_SEPARATE_BY_DEPLOY:
    case API_PLACEMENT_SPREAD_ALL_AGENTS:
        if (c.on_agent_same_deploy > 0)
            return MB_PLACE_AGENT_ALREADY_USED;
        break;
    case API_PLACEMENT_SEPARATE_BY_REQUEST:
        if (c.on_agent_same_request > 0)
            return MB_PLACE_AGENT_ALREADY_USED;
        break;
    case API_PLACEMENT_OPTIMISTIC:
        if (c.request_total > 0 && c.distinct_hosts > 0) {
            double len = cfg && cfg->leniency > 0 ? cfg->leniency : 0.09;
            double cap =
                ((double)c.request_total / c.distinct_hosts) * (1.0 + pending_of_request * len);
            if ((double)c.on_agent_same_deploy > cap)
                return MB_PLACE_AGENT_ALREADY_USED;
        }
        break;
    default: /* GREEDY */
        break;
    }
    if (t->rack_sensitive) {
        int instances = t->instances > 0 ? t->instances : 1;
        int per = (int)ceil((double)instances / (double)nracks);
        if (per < 1)
            per = 1;
        if (ref_rack_count(a, t, po->rack_id) >= per)
            return MB_PLACE_RACK_SATURATED;
    }
    return MB_PLACE_OK;
}

static size_t ref_place(const mb_place_config *cfg, mb_place_offer *offers, size_t n_offers,
                        const mb_place_task *tasks, size_t n_tasks, const mb_place_active *active,
                        size_t n_active, mb_place_result *results)
{
    ref_actives a = {active, n_active, xcalloc(n_tasks + 1, sizeof(mb_place_active)), 0};
    size_t placed = 0;
    for (size_t i = 0; i < n_tasks; i++) {
        const mb_place_task *t = &tasks[i];
        mb_place_result *res = &results[i];
        memset(res, 0, sizeof(*res));
        res->offer = -1;
        res->reason = MB_PLACE_NO_OFFERS;
        size_t nracks = ref_rack_total(cfg, offers, n_offers, &a);
        int pending = 0;
        for (size_t k = i; k < n_tasks; k++)
            if (ref_streq(tasks[k].request_id, t->request_id))
                pending++;
        long best = -1;
        double best_score = -1e300;
        for (size_t k = 0; k < n_offers; k++) {
            mb_place_reason r = ref_check(cfg, &offers[k], t, &a, nracks, pending);
            if (r != MB_PLACE_OK) {
                if (res->reason == MB_PLACE_NO_OFFERS || r > res->reason)
                    res->reason = r;
                continue;
            }
            ref_counts c = ref_count_for(&a, t, offers[k].left->offer->agent_id);
            double s = ref_score(offers[k].left, t) - c.on_agent_same_request;
            if (t->rack_sensitive)
                s -= 10.0 * ref_rack_count(&a, t, offers[k].rack_id);
            if (s > best_score + 1e-9) {
                best_score = s;
                best = (long)k;
            }
        }
        if (best < 0)
            continue;
        mb_offer_left *l = offers[best].left;
        cr_err err;
        res->n_ports = (size_t)(t->num_ports > 0 ? t->num_ports : 0);
        res->ports = xcalloc(res->n_ports + 1, sizeof(uint64_t));
        if (res->n_ports && !mb_offer_left_pick_ports(l, res->n_ports, res->ports))
            abort(); /* checked above */
        res->resources = mb_offer_take(l, t->cpus, t->mem, t->disk, res->ports, res->n_ports, &err);
        if (t->exec_cpus > 0 || t->exec_mem > 0 || t->exec_disk > 0)
            res->exec_resources =
                mb_offer_take(l, t->exec_cpus, t->exec_mem, t->exec_disk, NULL, 0, &err);
        if (!res->resources) {
            mb_place_result_release(res);
            res->reason = MB_PLACE_NOT_ENOUGH_RESOURCES;
            continue;
        }
        res->offer = best;
        res->reason = MB_PLACE_OK;
        a.added[a.n_added++] = (mb_place_active){t->request_id, t->deploy_id, l->offer->agent_id,
                                                 offers[best].rack_id};
        placed++;
    }
    free(a.added);
    return placed;
}

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

/* ---- randomized: the indexed counts decide exactly as the reference ------------ */

static unsigned rnd(unsigned long long *s, unsigned n)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((*s >> 33) % n);
}

#define PICK(s, arr) (arr)[rnd(s, sizeof(arr) / sizeof((arr)[0]))]

static void test_random_matches_reference(void **state)
{
    static const char *const agents[] = {"S0", "S1", "S2", "S3", "S4", "S5"};
    static const char *const racks[] = {"r1", "r2", "r3", NULL};
    static const char *const reqs[] = {"A", "B", "C", "D"};
    static const char *const deps[] = {"v1", "v2"};
    static const double cpus_o[] = {0.5, 1, 2, 4, 8}, mem_o[] = {128, 256, 1024};
    static const double cpus_t[] = {0.1, 0.25, 0.5, 1, 2};
    static const int ports_o[] = {0, 3, 10};
    static const double lenient[] = {0, 0.1, 0.3, 0.5};
    const char *const cfg_racks[] = {"r1", "r2", NULL};
    api_strmap reserve = {0}, need_a = {0}, allow_ml = {0};
    api_strmap_set(&reserve, "reserved", "ml");
    api_strmap_set(&need_a, "zone", "a");
    api_strmap_set(&allow_ml, "reserved", "ml");
    api_strlist aff = {0};
    api_strlist_add(&aff, "r1");
    api_strlist_add(&aff, "DEFAULT");
    size_t n_placed = 0, n_failed = 0;
    for (unsigned long long seed = 1; seed <= 1500; seed++) {
        unsigned long long s = seed;
        world w[2] = {{0}, {0}};
        size_t no = 1 + rnd(&s, 12);
        for (size_t k = 0; k < no; k++) {
            const char *agent = PICK(&s, agents), *rack = PICK(&s, racks);
            double c = PICK(&s, cpus_o), m = PICK(&s, mem_o);
            int ports = PICK(&s, ports_o);
            unsigned attr = rnd(&s, 4);
            const char *ak = attr == 1 || attr == 2 ? "zone" : attr == 3 ? "reserved" : NULL;
            const char *av = attr == 1 ? "a" : attr == 2 ? "b" : "ml";
            for (int x = 0; x < 2; x++)
                add_offer_on(&w[x], agent, c, m, ports, rack, ak, ak ? av : NULL);
        }
        finish(&w[0]);
        finish(&w[1]);
        for (size_t k = 0; k < no; k++)
            if (rnd(&s, 10) == 0)
                w[0].po[k].inactive = w[1].po[k].inactive = true;
        mb_place_active act[24];
        size_t na = rnd(&s, 24);
        for (size_t i = 0; i < na; i++) {
            act[i].request_id = rnd(&s, 12) ? PICK(&s, reqs) : NULL;
            act[i].deploy_id = rnd(&s, 8) ? PICK(&s, deps) : NULL;
            act[i].agent_id = rnd(&s, 10) ? (rnd(&s, 3) ? PICK(&s, agents) : "S9") : NULL;
            act[i].rack_id = rnd(&s, 8) ? PICK(&s, racks) : "r4";
        }
        mb_place_task t[14];
        size_t nt = 1 + rnd(&s, 14);
        for (size_t i = 0; i < nt; i++) {
            t[i] = task(PICK(&s, reqs), PICK(&s, deps), PICK(&s, cpus_t), (int)rnd(&s, 3));
            if (rnd(&s, 20) == 0)
                t[i].request_id = NULL;
            t[i].placement = (api_agent_placement)rnd(&s, API_PLACEMENT_SPREAD_ALL_AGENTS + 1);
            t[i].rack_sensitive = rnd(&s, 3) == 0;
            t[i].instances = 1 + (int)rnd(&s, 6);
            if (rnd(&s, 6) == 0)
                t[i].required_attrs = &need_a;
            if (rnd(&s, 6) == 0)
                t[i].allowed_attrs = &allow_ml;
            if (rnd(&s, 8) == 0)
                t[i].rack_affinity = &aff;
            if (rnd(&s, 8) == 0) {
                t[i].exec_cpus = 0.1;
                t[i].exec_mem = 32;
            }
        }
        mb_place_config cfg = {0};
        cfg.reserve_attrs = rnd(&s, 2) ? &reserve : NULL;
        cfg.racks = rnd(&s, 2) ? cfg_racks : NULL;
        cfg.leniency = PICK(&s, lenient);
        const mb_place_config *cp = rnd(&s, 8) ? &cfg : NULL;
        mb_place_result want[14], got[14];
        size_t pw = ref_place(cp, w[0].po, no, t, nt, act, na, want);
        size_t pg = mb_place(cp, w[1].po, no, t, nt, act, na, got);
        assert_int_equal(pw, pg);
        for (size_t i = 0; i < nt; i++) {
            if (want[i].offer != got[i].offer || want[i].reason != got[i].reason)
                fail_msg("seed %llu task %zu: want %ld/%s got %ld/%s", seed, i, want[i].offer,
                         mb_place_reason_name(want[i].reason), got[i].offer,
                         mb_place_reason_name(got[i].reason));
            assert_int_equal(want[i].n_ports, got[i].n_ports);
            for (size_t k = 0; k < want[i].n_ports; k++)
                assert_true(want[i].ports[k] == got[i].ports[k]);
            assert_true(json_equal(want[i].resources, got[i].resources) ||
                        (!want[i].resources && !got[i].resources));
            assert_true(json_equal(want[i].exec_resources, got[i].exec_resources) ||
                        (!want[i].exec_resources && !got[i].exec_resources));
            if (got[i].offer >= 0)
                n_placed++;
            else
                n_failed++;
            mb_place_result_release(&want[i]);
            mb_place_result_release(&got[i]);
        }
        for (size_t k = 0; k < no; k++)
            assert_true(mb_offer_left_scalar(&w[0].left[k], "cpus") ==
                        mb_offer_left_scalar(&w[1].left[k], "cpus"));
        world_free(&w[0]);
        world_free(&w[1]);
    }
    /* the inputs exercise both outcomes */
    assert_true(n_placed > 200 && n_failed > 200);
    api_strmap_release(&reserve);
    api_strmap_release(&need_a);
    api_strmap_release(&allow_ml);
    api_strlist_release(&aff);
}

/* Counts placed earlier in the same call steer later tasks: the index is
 * updated incrementally, not only built from the given active tasks. */
static void test_incremental_counts(void **state)
{
    world w = {0};
    add_offer_on(&w, "S0", 8, 4096, 0, "r1", NULL, NULL);
    add_offer_on(&w, "S1", 8, 4096, 0, "r1", NULL, NULL);
    add_offer_on(&w, "S2", 8, 4096, 0, "r2", NULL, NULL);
    add_offer_on(&w, "S0", 8, 4096, 0, "r1", NULL, NULL); /* second offer of S0 */
    finish(&w);
    mb_place_task sep = task("web", "v1", 1, 0);
    sep.placement = API_PLACEMENT_SEPARATE;
    /* one per agent: S0 is used by the first task whichever offer took it */
    PLAN("O0 O1 O2 -:AGENT_ALREADY_USED", &w, NULL, (mb_place_task[]){sep, sep, sep, sep}, 4, NULL,
         0, NULL);
    world_free(&w);

    world v = {0};
    add_offer_on(&v, "S0", 8, 4096, 0, "r1", NULL, NULL);
    add_offer_on(&v, "S1", 8, 4096, 0, "r1", NULL, NULL);
    add_offer_on(&v, "S2", 8, 4096, 0, "r2", NULL, NULL);
    finish(&v);
    mb_place_task rs = task("db", "v1", 1, 0);
    rs.rack_sensitive = true;
    rs.instances = 4;
    /* 2 per rack over r1, r2; an active one on r2 already: r1 first (free),
     * then r1 and r2 tie, then r1 is full with the two placed here */
    mb_place_active act[] = {{"db", "v1", "S9", "r2"}};
    PLAN("O0 O1 O2 -:RACK_SATURATED", &v, NULL, (mb_place_task[]){rs, rs, rs, rs}, 4, act, 1, NULL);
    world_free(&v);
}

/* A work budget places the head of the queue and defers the rest. */
static void test_budget_defers(void **state)
{
    world w = {0};
    add_offer(&w, 8, 4096, 0, NULL, NULL, NULL);
    add_offer(&w, 8, 4096, 0, NULL, NULL, NULL);
    finish(&w);
    mb_place_task t = task("web", "v1", 1, 0);
    mb_place_config cfg = {.max_checks = 5}; /* two tasks x two offers */
    PLAN("O0 O1 -:DEFERRED -:DEFERRED", &w, &cfg, (mb_place_task[]){t, t, t, t}, 4, NULL, 0, NULL);
    /* the first task is always tried, however small the budget */
    cfg.max_checks = 1;
    PLAN("O0 -:DEFERRED", &w, &cfg, (mb_place_task[]){t, t}, 2, NULL, 0, NULL);
    world_free(&w);
}

/* Gives every offer its full resources back (plans take from them). */
static void refill(world *w)
{
    for (size_t i = 0; i < w->n; i++)
        mb_offer_left_release(&w->left[i]);
    finish(w);
}

/* n offers of 8 cpus and 4 GiB, and four one-cpu tasks of four requests. */
static void alike(world *w, int n, mb_place_task ts[4])
{
    for (int i = 0; i < n; i++)
        add_offer(w, 8, 4096, 0, NULL, NULL, NULL);
    finish(w);
    ts[0] = task("a", "v1", 1, 0);
    ts[1] = task("b", "v1", 1, 0);
    ts[2] = task("c", "v1", 1, 0);
    ts[3] = task("d", "v1", 1, 0);
}

/* With enough_fits a task takes the best of the first few offers that fit,
 * each task looking from a different offer; a task that fits few or none
 * still looks at every offer; max_placed defers the rest of the queue. */
static void test_sample_of_offers(void **state)
{
    world w = {0};
    mb_place_task ts[4];
    alike(&w, 16, ts);
    /* a full look takes the freest offer: each next task the next offer */
    PLAN("O0 O1 O2 O3", &w, NULL, ts, 4, NULL, 0, NULL);
    /* a sample of 4 fits: four windows, the first (free) offer of each */
    mb_place_config cfg = {.enough_fits = 4};
    refill(&w);
    PLAN("O0 O4 O8 O12", &w, &cfg, ts, 4, NULL, 0, NULL);
    /* the budget counts the checks made: two looks of four, then deferred */
    cfg.max_checks = 8;
    refill(&w);
    PLAN("O0 O4 -:DEFERRED -:DEFERRED", &w, &cfg, ts, 4, NULL, 0, NULL);
    cfg.max_checks = 0;
    cfg.max_placed = 3;
    refill(&w);
    PLAN("O0 O4 O8 -:DEFERRED", &w, &cfg, ts, 4, NULL, 0, NULL);
    world_free(&w);

    world v = {0};
    for (int i = 0; i < 15; i++)
        add_offer(&v, 1, 4096, 0, NULL, NULL, NULL);
    add_offer(&v, 8, 4096, 0, NULL, NULL, NULL);
    finish(&v);
    mb_place_task big = task("big", "v1", 4, 0), huge = task("huge", "v1", 16, 0);
    cfg = (mb_place_config){.enough_fits = 4};
    PLAN("O15 -:NOT_ENOUGH_RESOURCES", &v, &cfg, (mb_place_task[]){big, huge}, 2, NULL, 0, NULL);
    refill(&v);
    PLAN("O15 -:NOT_ENOUGH_RESOURCES", &v, NULL, (mb_place_task[]){big, huge}, 2, NULL, 0, NULL);
    world_free(&v);
}

/* With pack, an offer this call already uses takes tasks up to pack before
 * a fresh one does (one task per offer would launch an offer's worth a
 * master allocation); a request's own tasks still spread first. */
static void test_pack(void **state)
{
    world w = {0};
    mb_place_task ts[4];
    alike(&w, 4, ts);
    mb_place_config cfg = {.pack = 1};
    PLAN("O0 O1 O2 O3", &w, &cfg, ts, 4, NULL, 0, NULL);
    cfg.pack = 2;
    refill(&w);
    PLAN("O0 O0 O1 O1", &w, &cfg, ts, 4, NULL, 0, NULL);
    cfg.pack = 3;
    refill(&w);
    PLAN("O0 O0 O0 O1", &w, &cfg, ts, 4, NULL, 0, NULL);
    /* two instances of a and two of b: never two of one request together */
    mb_place_task same[] = {task("a", "v1", 1, 0), task("a", "v1", 1, 0), task("b", "v1", 1, 0),
                            task("b", "v1", 1, 0)};
    cfg.pack = 2;
    refill(&w);
    PLAN("O0 O1 O0 O1", &w, &cfg, same, 4, NULL, 0, NULL);
    /* an offer in use is looked at even when the task's sample misses it */
    cfg = (mb_place_config){.pack = 4, .enough_fits = 1};
    refill(&w);
    PLAN("O0 O0 O0 O0", &w, &cfg, ts, 4, NULL, 0, NULL);
    /* and only while it fits */
    mb_place_task fat[] = {task("a", "v1", 5, 0), task("b", "v1", 5, 0)};
    refill(&w);
    PLAN("O0 O1", &w, &cfg, fat, 2, NULL, 0, NULL);
    world_free(&w);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_greedy_packs_and_ports),
    cmocka_unit_test(test_prefers_free_agent),
    cmocka_unit_test(test_separate),
    cmocka_unit_test(test_rack_sensitive),
    cmocka_unit_test(test_attributes),
    cmocka_unit_test(test_affinity_inactive_optimistic),
    cmocka_unit_test(test_executor_resources),
    cmocka_unit_test(test_random_matches_reference),
    cmocka_unit_test(test_incremental_counts),
    cmocka_unit_test(test_budget_defers),
    cmocka_unit_test(test_sample_of_offers),
    cmocka_unit_test(test_pack),
};

CR_TEST_MAIN(tests)
