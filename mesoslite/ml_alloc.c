/* Offers and the allocator: every allocation interval (or soon after a
 * change) each agent's free resources go to the next framework, round
 * robin, that wants offers and has no decline filter on that agent. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"

void ml_offer_free(ml_offer *o)
{
    free(o->id);
    ml_res_release(&o->res);
    free(o);
}

/* Returns an offer's resources to its agent and forgets it. */
void ml_offer_remove(ml_app *app, ml_offer *o, bool rescind)
{
    ml_map_del(app->offers, o->id);
    ml_res_sub(&o->agent->offered, &o->res);
    if (rescind)
        ml_fw_send(o->fw, ml_ev_rescind(o->id));
    ml_offer_free(o);
}

void ml_rescind_agent_offers(ml_agent *a, bool notify)
{
    ml_map_iter it;
    void *v;
    ml_map_iter_init(&it, a->app->offers);
    while (ml_map_next(&it, NULL, &v)) {
        ml_offer *o = v;
        if (o->agent == a)
            ml_offer_remove(a->app, o, notify);
    }
}

void ml_rescind_fw_offers(ml_fw *fw, bool notify)
{
    ml_map_iter it;
    void *v;
    ml_map_iter_init(&it, fw->app->offers);
    while (ml_map_next(&it, NULL, &v)) {
        ml_offer *o = v;
        if (o->fw == fw)
            ml_offer_remove(fw->app, o, notify);
    }
}

static json_t *offer_json(const ml_offer *o)
{
    ml_agent *a = o->agent;
    ml_fw *fw = o->fw;
    const char *alloc = fw->multi_role ? fw->role : NULL;
    json_t *j = json_pack("{s:o, s:o, s:o, s:s}", "id", ml_id(o->id), "framework_id", ml_id(fw->id),
                          "agent_id", ml_id(a->id), "hostname", a->hostname);
    json_t *execs = json_array();
    ml_map_iter it;
    void *v;

    json_object_set_new(j, "url",
                        json_pack("{s:s, s:{s:s, s:s, s:i}, s:s}", "scheme", "http", "address",
                                  "hostname", a->hostname, "ip", a->app->ip, "port", a->port,
                                  "path", "/slave(1)"));
    json_object_set_new(j, "resources", ml_res_to_json(&o->res, "*", alloc));
    if (json_array_size(a->attributes))
        json_object_set(j, "attributes", a->attributes);
    ml_map_iter_init(&it, a->execs);
    while (ml_map_next(&it, NULL, &v)) {
        ml_exec *e = v;
        if (e->fw == fw && !e->command)
            json_array_append_new(execs, ml_id(e->id));
    }
    if (json_array_size(execs))
        json_object_set_new(j, "executor_ids", execs);
    else
        json_decref(execs);
    if (alloc)
        json_object_set_new(j, "allocation_info", json_pack("{s:s}", "role", alloc));
    return j;
}

static bool fw_wants_offers(const ml_fw *fw)
{
    return fw->stream && !fw->removed && !fw->suppressed;
}

static void allocate(ml_app *app)
{
    int64_t now = ml_now_ms();
    json_t **batches;
    size_t eligible = 0;
    ml_res avail = ML_RES_INIT;

    for (size_t i = 0; i < app->nfw; i++)
        if (fw_wants_offers(app->fw_list[i]))
            eligible++;
    if (!eligible || !app->nagents)
        return;
    batches = xcalloc(app->nfw, sizeof(*batches));
    for (size_t ai = 0; ai < app->nagents; ai++) {
        ml_agent *a = app->agents[ai];
        if (a->removed || a->recovering || a->deactivated)
            continue;
        ml_res_copy(&avail, &a->total);
        if (ml_res_sub(&avail, &a->used) || ml_res_sub(&avail, &a->offered))
            continue;
        /* Mesos' minimum allocatable: some cpus or some memory. */
        if (avail.cpus < 0.01 && avail.mem < 32)
            continue;
        for (size_t k = 0; k < app->nfw; k++) {
            size_t fi = (app->rr + k) % app->nfw;
            ml_fw *fw = app->fw_list[fi];
            ml_filter *f;
            ml_offer *o;
            char id[128];
            if (!fw_wants_offers(fw))
                continue;
            f = ml_map_get(fw->filters, a->id);
            if (f && ml_filter_blocks(f, &avail, now))
                continue;
            o = xcalloc(1, sizeof(*o));
            snprintf(id, sizeof(id), "%s-O%llu", app->master_id,
                     (unsigned long long)++app->next_offer);
            o->id = xstrdup(id);
            o->fw = fw;
            o->agent = a;
            ml_res_init(&o->res);
            ml_res_copy(&o->res, &avail);
            ml_res_add(&a->offered, &avail);
            ml_map_put(app->offers, o->id, o);
            if (!batches[fi])
                batches[fi] = json_array();
            json_array_append_new(batches[fi], offer_json(o));
            app->rr = (fi + 1) % app->nfw;
            break;
        }
    }
    for (size_t i = 0; i < app->nfw; i++)
        if (batches[i])
            ml_fw_send(app->fw_list[i], ml_ev_offers(batches[i]));
    free(batches);
    ml_res_release(&avail);
}

void ml_alloc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    allocate(arg);
}

void ml_alloc_soon_cb(evutil_socket_t fd, short what, void *arg)
{
    allocate(arg);
}

void ml_allocate_soon(ml_app *app)
{
    struct timeval tv = {0, 0};
    if (!evtimer_pending(app->alloc_soon, NULL))
        evtimer_add(app->alloc_soon, &tv);
}

void ml_set_filter(ml_fw *fw, ml_agent *a, const ml_res *refused, int64_t refuse_ms)
{
    ml_filter *f;
    if (refuse_ms <= 0 || ml_res_empty(refused))
        return;
    f = ml_map_get(fw->filters, a->id);
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        ml_res_init(&f->refused);
        ml_map_put(fw->filters, a->id, f);
    }
    ml_res_copy(&f->refused, refused);
    f->until_ms = ml_now_ms() + refuse_ms;
}

void ml_clear_filters(ml_fw *fw)
{
    ml_map_iter it;
    const char *k;
    void *v;
    ml_map_iter_init(&it, fw->filters);
    while (ml_map_next(&it, &k, &v)) {
        ml_filter *f = v;
        ml_map_del(fw->filters, k);
        ml_res_release(&f->refused);
        free(f);
    }
}
