/* Offer placement; see placement.h. */
#include "mesosbridge/placement.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/map.h"

static const char *const reason_names[] = {
    [MB_PLACE_OK] = "OK",
    [MB_PLACE_NO_OFFERS] = "NO_OFFERS",
    [MB_PLACE_AGENT_NOT_ACTIVE] = "AGENT_NOT_ACTIVE",
    [MB_PLACE_RACK_AFFINITY_NOT_MATCHING] = "RACK_AFFINITY_NOT_MATCHING",
    [MB_PLACE_AGENT_ATTRIBUTES_DO_NOT_MATCH] = "AGENT_ATTRIBUTES_DO_NOT_MATCH",
    [MB_PLACE_NOT_ENOUGH_RESOURCES] = "NOT_ENOUGH_RESOURCES",
    [MB_PLACE_AGENT_ALREADY_USED] = "AGENT_ALREADY_USED",
    [MB_PLACE_RACK_SATURATED] = "RACK_SATURATED",
    [MB_PLACE_DEFERRED] = "DEFERRED",
};

const char *mb_place_reason_name(mb_place_reason r)
{
    if ((size_t)r >= sizeof(reason_names) / sizeof(reason_names[0]))
        return "UNKNOWN";
    return reason_names[r];
}

char *mb_place_reason_message(mb_place_reason r, const mb_place_task *t,
                              const mb_place_offer *offers, size_t n_offers)
{
    static const char *const names[3] = {"cpus", "mem", "disk"};
    double need[3] = {t->cpus + t->exec_cpus, t->mem + t->exec_mem, t->disk + t->exec_disk};
    double best[3] = {0, 0, 0};

    switch (r) {
    case MB_PLACE_NOT_ENOUGH_RESOURCES:
        for (size_t i = 0; i < n_offers; i++)
            for (int k = 0; k < 3; k++) {
                double v = mb_offer_left_scalar(offers[i].left, names[k]);
                if (!offers[i].inactive && v > best[k])
                    best[k] = v;
            }
        for (int k = 0; k < 3; k++)
            if (need[k] > best[k])
                return xasprintf("needs %s %g, largest offer has %g", names[k], need[k],
                                 best[k]);
        if (t->n_fixed_ports)
            return xasprintf("needs cpus %g, mem %g, disk %g, %d ports and host port%s %llu%s "
                             "(LITERAL) on one offer",
                             need[0], need[1], need[2], t->num_ports,
                             t->n_fixed_ports > 1 ? "s" : "",
                             (unsigned long long)t->fixed_ports[0],
                             t->n_fixed_ports > 1 ? ",..." : "");
        return xasprintf("needs cpus %g, mem %g, disk %g and %d ports on one offer", need[0],
                         need[1], need[2], t->num_ports);
    case MB_PLACE_NO_OFFERS:
        return xstrdup("no offers");
    case MB_PLACE_AGENT_NOT_ACTIVE:
        return xstrdup("every offered agent or rack is not active");
    case MB_PLACE_RACK_AFFINITY_NOT_MATCHING:
        return xstrdup("no offer from a rack in rackAffinity");
    case MB_PLACE_AGENT_ATTRIBUTES_DO_NOT_MATCH:
        return xstrdup("no offered agent has the required attributes");
    case MB_PLACE_AGENT_ALREADY_USED:
        return xstrdup("every offered agent already runs a task of this deploy");
    case MB_PLACE_RACK_SATURATED:
        return xstrdup("every offered rack already has its share of tasks");
    default:
        return xstrdup(mb_place_reason_name(r));
    }
}

void mb_place_result_release(mb_place_result *r)
{
    if (!r)
        return;
    free(r->ports);
    json_decref(r->resources);
    json_decref(r->exec_resources);
    memset(r, 0, sizeof(*r));
    r->offer = -1;
}

static bool streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

bool mb_place_attrs_match(const mb_offer *o, const api_strmap *reserve, const api_strmap *required,
                          const api_strmap *allowed)
{
    /* reserved agents: every reserved pair the agent has must be asked for */
    for (size_t i = 0; reserve && i < reserve->n; i++) {
        const char *have = mb_offer_attr(o, reserve->v[i].key);
        if (!streq(have, reserve->v[i].value))
            continue;
        const char *r = required ? api_strmap_get(required, reserve->v[i].key) : NULL;
        const char *a = allowed ? api_strmap_get(allowed, reserve->v[i].key) : NULL;
        if (!streq(r, have) && !streq(a, have))
            return false;
    }
    for (size_t i = 0; required && i < required->n; i++)
        if (!streq(mb_offer_attr(o, required->v[i].key), required->v[i].value))
            return false;
    return true;
}

/* Counts of active tasks (the given ones plus those placed in this call),
 * built once per call and updated as tasks are placed, so checking one
 * offer costs a few hash lookups instead of a scan of every active task.
 * Values of the count maps are ints stored as pointers (absent = 0).
 * Matching follows strcmp on non-NULL ids: a NULL id matches nothing. */
typedef struct dep_ix { /* one (request, deploy) */
    mb_map on_agent;    /* agent -> tasks of the deploy there */
    mb_map on_rack;     /* rack -> tasks of the deploy there */
    int total;          /* tasks of the deploy anywhere */
    int hosts;          /* distinct (non-NULL) agents running the deploy */
} dep_ix;

typedef struct req_ix {
    mb_map on_agent; /* agent -> tasks of the request there (any deploy) */
    mb_map deps;     /* deploy -> dep_ix */
    int pending;     /* tasks of the request not yet considered in this call */
} req_ix;

static int cnt_get(const mb_map *m, const char *key, uint64_t h)
{
    return key ? (int)(intptr_t)mb_map_get_h(m, key, h) : 0;
}

/* Increments key's count; returns the count before. */
static int cnt_inc(mb_map *m, const char *key)
{
    int n = (int)(intptr_t)mb_map_get(m, key);
    mb_map_put(m, key, (void *)(intptr_t)(n + 1));
    return n;
}

static void dep_ix_free(void *p)
{
    dep_ix *d = p;
    if (!d)
        return;
    mb_map_release(&d->on_agent, NULL);
    mb_map_release(&d->on_rack, NULL);
    free(d);
}

static void req_ix_free(void *p)
{
    req_ix *r = p;
    if (!r)
        return;
    mb_map_release(&r->on_agent, NULL);
    mb_map_release(&r->deps, dep_ix_free);
    free(r);
}

static req_ix *req_get(mb_map *reqs, const char *request_id, bool create)
{
    if (!request_id)
        return NULL;
    req_ix *r = mb_map_get(reqs, request_id);
    if (!r && create) {
        r = xcalloc(1, sizeof(*r));
        mb_map_put(reqs, request_id, r);
    }
    return r;
}

static dep_ix *dep_get(req_ix *r, const char *deploy_id, bool create)
{
    if (!r || !deploy_id)
        return NULL;
    dep_ix *d = mb_map_get(&r->deps, deploy_id);
    if (!d && create) {
        d = xcalloc(1, sizeof(*d));
        mb_map_put(&r->deps, deploy_id, d);
    }
    return d;
}

static void ix_add(mb_map *reqs, const mb_place_active *x)
{
    req_ix *r = req_get(reqs, x->request_id, true);
    if (!r)
        return;
    if (x->agent_id)
        cnt_inc(&r->on_agent, x->agent_id);
    dep_ix *d = dep_get(r, x->deploy_id, true);
    if (!d)
        return;
    d->total++;
    if (x->agent_id && cnt_inc(&d->on_agent, x->agent_id) == 0)
        d->hosts++;
    if (x->rack_id)
        cnt_inc(&d->on_rack, x->rack_id);
}

typedef struct counts {
    int on_agent_same_deploy;
    int on_agent_same_request;
    int request_total;  /* tasks of the request (this deploy) anywhere */
    int distinct_hosts; /* hosts running the request's deploy */
    int on_rack;        /* tasks of the request (this deploy) on the offer's rack */
} counts;

/* The hashes of an offer's agent and rack ids, taken once per call: a
 * check looks both up in up to three count maps. */
typedef struct offer_hash {
    uint64_t agent, rack;
} offer_hash;

static counts count_for(const req_ix *r, const dep_ix *d, const mb_place_offer *po,
                        const offer_hash *h)
{
    counts c = {0};
    const char *agent = po->left->offer->agent_id;
    if (r)
        c.on_agent_same_request = cnt_get(&r->on_agent, agent, h->agent);
    if (d) {
        c.on_agent_same_deploy = cnt_get(&d->on_agent, agent, h->agent);
        c.request_total = d->total;
        c.distinct_hosts = d->hosts;
        c.on_rack = cnt_get(&d->on_rack, po->rack_id, h->rack);
    }
    return c;
}

/* Racks to spread over: the configured ones, else the distinct racks of the
 * offers and active tasks (tasks placed here land on offers' racks, so the
 * number does not change during a call). */
static size_t rack_total(const mb_place_config *cfg, const mb_place_offer *offers, size_t n_offers,
                         const mb_place_active *active, size_t n_active)
{
    size_t n = 0;
    if (cfg && cfg->racks) {
        while (cfg->racks[n])
            n++;
        if (n)
            return n;
    }
    mb_map seen = MB_MAP_INIT;
    for (size_t i = 0; i < n_offers + n_active; i++) {
        const char *r = i < n_offers ? offers[i].rack_id : active[i - n_offers].rack_id;
        if (r && !mb_map_get(&seen, r))
            mb_map_put(&seen, r, (void *)1);
    }
    n = seen.n;
    mb_map_release(&seen, NULL);
    return n ? n : 1;
}

/* Free fraction left after taking t from l (Singularity's weights). */
static double score(const mb_offer_left *l, const mb_place_task *t)
{
    const mb_offer *o = l->offer;
    double c = o->cpus > 0 ? (l->cpus - t->cpus - t->exec_cpus) / o->cpus : 0;
    double m = o->mem > 0 ? (l->mem - t->mem - t->exec_mem) / o->mem : 0;
    double d = o->disk > 0 ? (l->disk - t->disk - t->exec_disk) / o->disk : 1;
    return 0.4 * c + 0.4 * m + 0.2 * d;
}

#define EPS 0.0005

/* An offer in use this call, below its pack share: worth more than any
 * difference of free fractions (at most 1), less than one task of the same
 * request on the agent (1). */
#define PACK_BONUS 0.5
/* Offers in use a task looks at besides its sample (the newest ones). */
#define PACK_OPEN 8

/* Whether t may go on po; *cp gets the counts it looked at (when it got
 * that far), for the score. */
static mb_place_reason check(const mb_place_config *cfg, const mb_place_offer *po,
                             const offer_hash *h, const mb_place_task *t, const req_ix *r,
                             const dep_ix *d, size_t nracks, int pending_of_request, counts *cp)
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
    if (po->left->cpus + EPS < t->cpus + t->exec_cpus ||
        po->left->mem + EPS < t->mem + t->exec_mem || po->left->disk + EPS < t->disk + t->exec_disk)
        return MB_PLACE_NOT_ENOUGH_RESOURCES;
    if (t->n_fixed_ports && !mb_offer_left_ports_free(po->left, t->fixed_ports, t->n_fixed_ports))
        return MB_PLACE_NOT_ENOUGH_RESOURCES;
    if (t->num_ports > 0) {
        uint64_t small[16];
        size_t np = (size_t)t->num_ports;
        uint64_t *tmp = np <= 16 ? small : xcalloc(np, sizeof(uint64_t));
        bool ok = mb_offer_left_pick_ports_but(po->left, np, t->fixed_ports, t->n_fixed_ports,
                                               tmp);
        if (tmp != small)
            free(tmp);
        if (!ok)
            return MB_PLACE_NOT_ENOUGH_RESOURCES;
    }
    counts c = *cp = count_for(r, d, po, h);
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
        if (c.on_rack >= per)
            return MB_PLACE_RACK_SATURATED;
    }
    return MB_PLACE_OK;
}

size_t mb_place(const mb_place_config *cfg, mb_place_offer *offers, size_t n_offers,
                const mb_place_task *tasks, size_t n_tasks, const mb_place_active *active,
                size_t n_active, mb_place_result *results)
{
    /* only requests with tasks to place need counts */
    mb_map reqs = MB_MAP_INIT;
    for (size_t i = 0; i < n_tasks; i++) {
        req_ix *r = req_get(&reqs, tasks[i].request_id, true);
        if (r)
            r->pending++;
    }
    for (size_t i = 0; i < n_active; i++)
        if (req_get(&reqs, active[i].request_id, false))
            ix_add(&reqs, &active[i]);
    size_t nracks = rack_total(cfg, offers, n_offers, active, n_active);
    size_t budget = cfg ? cfg->max_checks : 0, spent = 0;
    size_t enough = cfg && cfg->enough_fits < n_offers ? cfg->enough_fits : 0;
    size_t max_placed = cfg ? cfg->max_placed : 0;
    size_t placed = 0;
    size_t pack = cfg && cfg->pack > 1 ? cfg->pack : 0;
    size_t *took = pack ? xcalloc(n_offers, sizeof(*took)) : NULL; /* tasks per offer */
    long open[PACK_OPEN];                                          /* newest first */
    size_t n_open = 0;
    offer_hash *oh = xcalloc(n_offers + 1, sizeof(*oh));
    for (size_t k = 0; k < n_offers; k++) {
        const char *agent = offers[k].left->offer->agent_id, *rack = offers[k].rack_id;
        oh[k] = (offer_hash){agent ? mb_map_hash(agent) : 0, rack ? mb_map_hash(rack) : 0};
    }
    for (size_t i = 0; i < n_tasks; i++) {
        const mb_place_task *t = &tasks[i];
        mb_place_result *res = &results[i];
        memset(res, 0, sizeof(*res));
        res->offer = -1;
        res->reason = MB_PLACE_NO_OFFERS;
        if ((budget && spent && spent + (enough ? enough : n_offers) > budget) ||
            (max_placed && placed >= max_placed)) {
            res->reason = MB_PLACE_DEFERRED; /* the rest waits for the next call */
            continue;
        }
        req_ix *r = req_get(&reqs, t->request_id, false);
        dep_ix *d = dep_get(r, t->deploy_id, false);
        int pending = r ? r->pending-- : 0;
        long best = -1;
        double best_score = -1e300;
        size_t fits = 0, start = enough ? (i * enough) % n_offers : 0, j;
        /* a sample may miss the offers in use: those first, then it */
        size_t n_first = enough ? n_open : 0;
        for (j = 0; j < n_first + n_offers; j++) {
            size_t k = j < n_first ? (size_t)open[j] : (start + j - n_first) % n_offers;
            counts c = {0};
            mb_place_reason why = check(cfg, &offers[k], &oh[k], t, r, d, nracks, pending, &c);
            if (why != MB_PLACE_OK) {
                if (res->reason == MB_PLACE_NO_OFFERS || why > res->reason)
                    res->reason = why;
                continue;
            }
            double s = score(offers[k].left, t) - c.on_agent_same_request;
            if (t->rack_sensitive)
                s -= 10.0 * c.on_rack;
            if (pack && took[k] && took[k] < pack)
                s += PACK_BONUS;
            if (s > best_score + 1e-9) {
                best_score = s;
                best = (long)k;
            }
            if (enough && j >= n_first && ++fits >= enough) {
                j++;
                break;
            }
        }
        spent += j;
        if (best < 0)
            continue;
        mb_offer_left *l = offers[best].left;
        cr_err err;
        res->n_ports = (size_t)(t->num_ports > 0 ? t->num_ports : 0);
        res->ports = xcalloc(res->n_ports + t->n_fixed_ports + 1, sizeof(uint64_t));
        if (res->n_ports && !mb_offer_left_pick_ports_but(l, res->n_ports, t->fixed_ports,
                                                          t->n_fixed_ports, res->ports))
            abort(); /* checked above */
        /* the fixed ports are taken too, after PORT0..n (which they are not) */
        memcpy(res->ports + res->n_ports, t->fixed_ports, t->n_fixed_ports * sizeof(uint64_t));
        res->resources = mb_offer_take(l, t->cpus, t->mem, t->disk, res->ports,
                                       res->n_ports + t->n_fixed_ports, &err);
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
        if (pack && ++took[best] == 1) {
            memmove(open + 1, open, (PACK_OPEN - 1) * sizeof(*open));
            open[0] = best;
            n_open += n_open < PACK_OPEN;
        }
        mb_place_active now = {t->request_id, t->deploy_id, l->offer->agent_id,
                               offers[best].rack_id};
        ix_add(&reqs, &now);
        placed++;
    }
    mb_map_release(&reqs, req_ix_free);
    free(took);
    free(oh);
    return placed;
}
