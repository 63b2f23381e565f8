/* mb_offers_plan: see offers.h. */
#include "mesosbridge/offers.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "mesosbridge/launch.h"

static void add_index(size_t **v, size_t *n, size_t x)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = x;
}

/* The tasks placed on each offer become its launch, in queue order. */
static void build_launches(const mb_offers_in *in, const mb_place_result *res,
                           mb_offers_plan_out *out)
{
    size_t no = in->n_offers, nd = in->n_due;
    size_t *first = xcalloc(no + 1, sizeof(size_t)), *next = xcalloc(nd + 1, sizeof(size_t));

    for (size_t k = 0; k < no; k++)
        first[k] = SIZE_MAX;
    for (size_t i = nd; i-- > 0;) {
        if (res[i].offer < 0)
            continue;
        next[i] = first[res[i].offer];
        first[res[i].offer] = i;
    }
    for (size_t k = 0; k < no; k++) {
        mb_offers_launch *l = NULL;
        for (size_t i = first[k]; i != SIZE_MAX; i = next[i]) {
            if (l && in->max_tasks_per_offer && l->n >= in->max_tasks_per_offer)
                continue; /* placed, not launched: it stays pending for the next cycle */
            const mb_offers_task *t = &in->due[i];
            mb_launch_in li = {t->req,           t->dep,  t->pend,  in->offers[k].offer,
                               in->offers[k].rack_id, in->framework_id, &res[i], in->wall,
                               in->executor_path};
            cr_err err;
            api_task *rec = mb_build_launch(&li, &err);
            if (!rec) {
                out->errors = xrealloc(out->errors, (out->n_errors + 1) * sizeof(*out->errors));
                out->errors[out->n_errors++] =
                    (mb_offers_error){i, xasprintf("cannot launch %s: %s", t->key, cr_err_msg(&err))};
                continue;
            }
            if (in->task_exists && in->task_exists(in->arg, rec->taskId.id)) {
                api_task_free(rec); /* same id this millisecond: next cycle */
                continue;
            }
            if (!l) {
                out->launches =
                    xrealloc(out->launches, (out->n_launches + 1) * sizeof(*out->launches));
                l = &out->launches[out->n_launches++];
                *l = (mb_offers_launch){.offer = k};
            }
            l->tasks = xrealloc(l->tasks, (l->n + 1) * sizeof(*l->tasks));
            l->due = xrealloc(l->due, (l->n + 1) * sizeof(*l->due));
            l->tasks[l->n] = rec;
            l->due[l->n++] = i;
        }
    }
    free(first);
    free(next);
}

/* Younger first (longer left to hold), then the order they came in. */
static int by_age(const void *a, const void *b, void *arg)
{
    const mb_offers_in *in = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int64_t rx = in->offers[x].received_ms, ry = in->offers[y].received_ms;
    if (rx != ry)
        return rx > ry ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Nothing waits and the offer cache is on: keep the youngest cache_max
 * offers that are within cache_ms, on an ACTIVE agent and without
 * maintenance scheduled (Offer.unavailability); decline the
 * aged ones with the short filter (they come back to the cache) and the
 * surplus with the long one. */
static void cache_unused(const mb_offers_in *in, const bool *used, mb_offers_plan_out *out)
{
    const mb_offer_policy *p = in->policy;
    size_t *v = xcalloc(in->n_offers + 1, sizeof(size_t)), n = 0, kept = 0;
    for (size_t k = 0; k < in->n_offers; k++)
        if (!used[k])
            v[n++] = k;
    qsort_r(v, n, sizeof(*v), by_age, (void *)in);
    for (size_t i = 0; i < n; i++) {
        const mb_offers_offer *o = &in->offers[v[i]];
        if (in->now - o->received_ms >= p->cache_ms)
            add_index(&out->decline_busy, &out->n_decline_busy, v[i]);
        else if (kept < p->cache_max && !o->inactive && !o->offer->unavailable) {
            kept++;
            add_index(&out->keep, &out->n_keep, v[i]);
        } else {
            add_index(&out->decline_idle, &out->n_decline_idle, v[i]);
        }
    }
    free(v);
}

/* Offers no task went on: held while tasks wait and the offer is young,
 * else declined (with a short filter when tasks wait, a long one if not);
 * while nothing waits, the offer cache keeps some. */
static void sort_unused(const mb_offers_in *in, mb_offers_plan_out *out)
{
    bool *used = xcalloc(in->n_offers + 1, sizeof(bool));
    for (size_t i = 0; i < out->n_launches; i++)
        used[out->launches[i].offer] = true;
    if (!out->waiting && in->policy->cache_max) {
        cache_unused(in, used, out);
        free(used);
        return;
    }
    for (size_t k = 0; k < in->n_offers; k++) {
        double refuse = 0;
        if (used[k])
            continue;
        if (!mb_offer_should_decline(in->policy, in->offers[k].received_ms, in->now, out->waiting,
                                     &refuse))
            add_index(&out->keep, &out->n_keep, k);
        else if (refuse == in->policy->refuse_idle_s)
            add_index(&out->decline_idle, &out->n_decline_idle, k);
        else
            add_index(&out->decline_busy, &out->n_decline_busy, k);
    }
    free(used);
}

/* The backlog's share of each offer (mb_place_config.pack), at most what
 * one offer may launch. */
static size_t pack_share(const mb_offers_in *in, size_t nall, size_t no)
{
    size_t share = nall > no ? (nall + no - 1) / no : 1;

    if (in->max_tasks_per_offer && share > in->max_tasks_per_offer)
        share = in->max_tasks_per_offer;
    return share;
}

void mb_offers_plan(const mb_offers_in *in, mb_offers_plan_out *out)
{
    size_t no = in->n_offers, nd = in->n_due, nall = nd + in->n_due_more;

    *out = (mb_offers_plan_out){0};
    /* suppress / revive: only due tasks want offers; one that becomes due
     * counts as new (earlier declines may have filtered the agents it needs) */
    out->new_pending = in->new_pending || nall > in->last_due;
    out->action = mb_offers_decide(in->suppressed, nall, out->new_pending, in->last_revive_ms,
                                   in->now, in->revive_min_ms, in->policy->cache_max > 0);
    out->waiting = nall;
    if (!no)
        return;
    if (!nd) { /* nothing to place: only the fate of the held offers */
        sort_unused(in, out);
        return;
    }

    /* place the due tasks on the offers */
    mb_offer_left *left = xcalloc(no + 1, sizeof(*left));
    mb_place_offer *po = xcalloc(no + 1, sizeof(*po));
    for (size_t k = 0; k < no; k++) {
        mb_offer_left_init(&left[k], in->offers[k].offer);
        po[k] = (mb_place_offer){&left[k], in->offers[k].rack_id, in->offers[k].inactive};
    }
    mb_place_task *pt = xcalloc(nd + 1, sizeof(*pt));
    for (size_t i = 0; i < nd; i++)
        mb_place_task_from(in->due[i].req, in->due[i].dep, in->due[i].pend, &pt[i]);
    mb_place_config pc = {.racks = in->racks,
                          .reserve_attrs = in->reserve_attrs,
                          .max_checks = in->max_checks,
                          .enough_fits = in->enough_fits,
                          .max_placed = in->max_placed,
                          .pack = pack_share(in, nall, no)};
    mb_place_result *res = xcalloc(nd + 1, sizeof(*res));
    mb_place(&pc, po, no, pt, nd, in->active, in->n_active, res);

    /* what was tried and did not fit, and why (the budget may stop early) */
    for (; out->tried < nd && res[out->tried].reason != MB_PLACE_DEFERRED; out->tried++) {
        size_t i = out->tried;
        if (res[i].offer >= 0)
            continue;
        out->failed++;
        out->unplaced = xrealloc(out->unplaced, (out->n_unplaced + 1) * sizeof(*out->unplaced));
        out->unplaced[out->n_unplaced++] = (mb_offers_unplaced){
            i, res[i].reason, mb_place_reason_message(res[i].reason, &pt[i], po, no)};
    }
    out->waiting = in->n_due_more;
    for (size_t i = 0; i < nd; i++)
        out->waiting += res[i].offer < 0;
    /* no filter on the leftovers while tasks were deferred (they need
     * them at once) or while the offer cache wants them back */
    out->accept_refuse_s = out->tried < nd || in->n_due_more || in->policy->cache_max
                               ? 0
                               : in->policy->refuse_busy_s;

    build_launches(in, res, out);
    sort_unused(in, out);
    /* With the offer cache, new tasks that the held offers took need no
     * REVIVE: only the ones still waiting ask for more offers. */
    if (in->policy->cache_max) {
        if (!out->waiting)
            out->new_pending = false;
        out->action = mb_offers_decide(in->suppressed, out->waiting, out->new_pending,
                                       in->last_revive_ms, in->now, in->revive_min_ms, true);
    }

    for (size_t i = 0; i < nd; i++)
        mb_place_result_release(&res[i]);
    for (size_t k = 0; k < no; k++)
        mb_offer_left_release(&left[k]);
    free(res);
    free(pt);
    free(po);
    free(left);
}

void mb_offers_plan_release(mb_offers_plan_out *out)
{
    for (size_t i = 0; i < out->n_launches; i++) {
        for (size_t j = 0; j < out->launches[i].n; j++)
            api_task_free(out->launches[i].tasks[j]);
        free(out->launches[i].tasks);
        free(out->launches[i].due);
    }
    free(out->launches);
    for (size_t i = 0; i < out->n_unplaced; i++)
        free(out->unplaced[i].message);
    free(out->unplaced);
    for (size_t i = 0; i < out->n_errors; i++)
        free(out->errors[i].message);
    free(out->errors);
    free(out->decline_idle);
    free(out->decline_busy);
    free(out->keep);
    *out = (mb_offers_plan_out){0};
}
