/* Offer placement; see placement.h. */
#include "mesosbridge/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static const char *const reason_names[] = {
    [MB_PLACE_OK] = "OK",
    [MB_PLACE_NO_OFFERS] = "NO_OFFERS",
    [MB_PLACE_AGENT_NOT_ACTIVE] = "AGENT_NOT_ACTIVE",
    [MB_PLACE_RACK_AFFINITY_NOT_MATCHING] = "RACK_AFFINITY_NOT_MATCHING",
    [MB_PLACE_AGENT_ATTRIBUTES_DO_NOT_MATCH] = "AGENT_ATTRIBUTES_DO_NOT_MATCH",
    [MB_PLACE_NOT_ENOUGH_RESOURCES] = "NOT_ENOUGH_RESOURCES",
    [MB_PLACE_AGENT_ALREADY_USED] = "AGENT_ALREADY_USED",
    [MB_PLACE_RACK_SATURATED] = "RACK_SATURATED",
};

const char *mb_place_reason_name(mb_place_reason r)
{
    if ((size_t)r >= sizeof(reason_names) / sizeof(reason_names[0]))
        return "UNKNOWN";
    return reason_names[r];
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

/* The working set of active tasks: the given ones plus those placed now. */
typedef struct actives {
    const mb_place_active *given;
    size_t n_given;
    mb_place_active *added;
    size_t n_added;
} actives;

static const mb_place_active *act_get(const actives *a, size_t i)
{
    return i < a->n_given ? &a->given[i] : &a->added[i - a->n_given];
}

static size_t act_count(const actives *a)
{
    return a->n_given + a->n_added;
}

typedef struct counts {
    int on_agent_same_deploy;
    int on_agent_same_request;
    int request_total;  /* tasks of the request (this deploy) anywhere */
    int distinct_hosts; /* hosts running the request's deploy */
} counts;

static counts count_for(const actives *a, const mb_place_task *t, const char *agent_id)
{
    counts c = {0};
    size_t n = act_count(a);
    const char **hosts = xcalloc(n + 1, sizeof(char *));
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        const mb_place_active *x = act_get(a, i);
        if (!streq(x->request_id, t->request_id))
            continue;
        bool same_deploy = streq(x->deploy_id, t->deploy_id);
        if (streq(x->agent_id, agent_id)) {
            c.on_agent_same_request++;
            if (same_deploy)
                c.on_agent_same_deploy++;
        }
        if (same_deploy) {
            c.request_total++;
            bool seen = false;
            for (size_t k = 0; k < nh && !seen; k++)
                seen = streq(hosts[k], x->agent_id);
            if (!seen && x->agent_id)
                hosts[nh++] = x->agent_id;
        }
    }
    c.distinct_hosts = (int)nh;
    free(hosts);
    return c;
}

static int rack_count(const actives *a, const mb_place_task *t, const char *rack)
{
    int n = 0;
    for (size_t i = 0; i < act_count(a); i++) {
        const mb_place_active *x = act_get(a, i);
        if (streq(x->request_id, t->request_id) && streq(x->deploy_id, t->deploy_id) &&
            streq(x->rack_id, rack))
            n++;
    }
    return n;
}

static size_t rack_total(const mb_place_config *cfg, const mb_place_offer *offers, size_t n_offers,
                         const actives *a)
{
    size_t n = 0;
    if (cfg && cfg->racks) {
        while (cfg->racks[n])
            n++;
        if (n)
            return n;
    }
    /* distinct racks among offers and active tasks */
    size_t cap = n_offers + act_count(a) + 1;
    const char **seen = xcalloc(cap, sizeof(char *));
    for (size_t i = 0; i < n_offers + act_count(a); i++) {
        const char *r = i < n_offers ? offers[i].rack_id : act_get(a, i - n_offers)->rack_id;
        if (!r)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = streq(seen[k], r);
        if (!dup)
            seen[n++] = r;
    }
    free(seen);
    return n ? n : 1;
}

/* Free fraction left after taking t from l (Singularity's weights). */
static double score(const mb_offer_left *l, const mb_place_task *t)
{
    const mb_offer *o = l->offer;
    double c =
        o->cpus > 0 ? (mb_offer_left_scalar(l, "cpus") - t->cpus - t->exec_cpus) / o->cpus : 0;
    double m = o->mem > 0 ? (mb_offer_left_scalar(l, "mem") - t->mem - t->exec_mem) / o->mem : 0;
    double d =
        o->disk > 0 ? (mb_offer_left_scalar(l, "disk") - t->disk - t->exec_disk) / o->disk : 1;
    return 0.4 * c + 0.4 * m + 0.2 * d;
}

#define EPS 0.0005

static mb_place_reason check(const mb_place_config *cfg, const mb_place_offer *po,
                             const mb_place_task *t, const actives *a, size_t nracks,
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
    if (mb_offer_left_scalar(po->left, "cpus") + EPS < t->cpus + t->exec_cpus ||
        mb_offer_left_scalar(po->left, "mem") + EPS < t->mem + t->exec_mem ||
        mb_offer_left_scalar(po->left, "disk") + EPS < t->disk + t->exec_disk)
        return MB_PLACE_NOT_ENOUGH_RESOURCES;
    if (t->num_ports > 0) {
        uint64_t *tmp = xcalloc((size_t)t->num_ports, sizeof(uint64_t));
        bool ok = mb_offer_left_pick_ports(po->left, (size_t)t->num_ports, tmp);
        free(tmp);
        if (!ok)
            return MB_PLACE_NOT_ENOUGH_RESOURCES;
    }
    counts c = count_for(a, t, o->agent_id);
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
        if (rack_count(a, t, po->rack_id) >= per)
            return MB_PLACE_RACK_SATURATED;
    }
    return MB_PLACE_OK;
}

size_t mb_place(const mb_place_config *cfg, mb_place_offer *offers, size_t n_offers,
                const mb_place_task *tasks, size_t n_tasks, const mb_place_active *active,
                size_t n_active, mb_place_result *results)
{
    actives a = {active, n_active, xcalloc(n_tasks + 1, sizeof(mb_place_active)), 0};
    size_t placed = 0;
    for (size_t i = 0; i < n_tasks; i++) {
        const mb_place_task *t = &tasks[i];
        mb_place_result *res = &results[i];
        memset(res, 0, sizeof(*res));
        res->offer = -1;
        res->reason = MB_PLACE_NO_OFFERS;
        size_t nracks = rack_total(cfg, offers, n_offers, &a);
        int pending = 0;
        for (size_t k = i; k < n_tasks; k++)
            if (streq(tasks[k].request_id, t->request_id))
                pending++;
        long best = -1;
        double best_score = -1e300;
        for (size_t k = 0; k < n_offers; k++) {
            mb_place_reason r = check(cfg, &offers[k], t, &a, nracks, pending);
            if (r != MB_PLACE_OK) {
                if (res->reason == MB_PLACE_NO_OFFERS || r > res->reason)
                    res->reason = r;
                continue;
            }
            counts c = count_for(&a, t, offers[k].left->offer->agent_id);
            double s = score(offers[k].left, t) - c.on_agent_same_request;
            if (t->rack_sensitive)
                s -= 10.0 * rack_count(&a, t, offers[k].rack_id);
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
