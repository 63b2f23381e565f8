/* store_leader: see leader.h. The driver below keeps a store_leader_view,
 * asks store_leader_decide() what to do on every tick and after every
 * answer, and performs one request at a time. */
#include "store/leader.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/xalloc.h"
#include "store/internal.h"

struct store_leader {
    store *s;
    char *key;
    char *id;
    char *address;
    int64_t ttl_s;
    store_leader_handlers h;
    void *arg;
    store_leader_view v;
    int64_t sent_ms; /* when the in-flight request was sent */
    store_watch *watch;
    struct event *tick_ev;
    char *holder;
    char *holder_address;
    bool started;
    bool in_step;          /* re-entrancy guard for step() */
    int64_t reclaimed;     /* a previous incarnation's lease revoked (once) */
    int64_t hold_until_ms; /* store_leader_resign: no campaign before (monotonic) */
};

const char *store_leader_action_name(store_leader_action a)
{
    switch (a) {
    case STORE_LD_WAIT:
        return "wait";
    case STORE_LD_GRANT:
        return "grant";
    case STORE_LD_KEEPALIVE:
        return "keepalive";
    case STORE_LD_CAMPAIGN:
        return "campaign";
    case STORE_LD_STEP_DOWN:
        return "step-down";
    }
    return "?";
}

store_leader_action store_leader_decide(const store_leader_view *v, int64_t now_ms)
{
    if (v->is_leader) {
        if (!v->lease_id || now_ms >= v->lease_deadline_ms - v->margin_ms)
            return STORE_LD_STEP_DOWN;
        if (v->key_known && (!v->key_present || v->key_create_rev != v->my_create_rev))
            return STORE_LD_STEP_DOWN;
    }
    if (v->busy)
        return STORE_LD_WAIT;
    if (!v->lease_id || now_ms >= v->lease_deadline_ms)
        return STORE_LD_GRANT;
    if (now_ms >= v->next_keepalive_ms)
        return STORE_LD_KEEPALIVE;
    if (!v->is_leader && (!v->key_known || !v->key_present))
        return STORE_LD_CAMPAIGN;
    return STORE_LD_WAIT;
}

static void step(store_leader *l);

static void set_holder(store_leader *l, const char *id, const char *address)
{
    bool changed = (!id != !l->holder) || (id && strcmp(id, l->holder) != 0);

    free(l->holder);
    free(l->holder_address);
    l->holder = xstrdup(id);
    l->holder_address = xstrdup(address);
    if (changed && l->h.on_leader)
        l->h.on_leader(l->arg, id, address);
}

static void holder_from_value(store_leader *l, const char *value, size_t len)
{
    json_t *j = json_loadb(value, len, 0, NULL);

    set_holder(l, j ? json_string_value(json_object_get(j, "id")) : "?",
               j ? json_string_value(json_object_get(j, "address")) : NULL);
    json_decref(j);
}

static void step_down(store_leader *l, const char *why, bool notify)
{
    int64_t lease = l->v.lease_id;

    if (!l->v.is_leader)
        return;
    l->v.is_leader = false;
    l->v.my_create_rev = 0;
    cr_warn(l->s->log, "leader %s: stepping down: %s", l->id, why);
    /* give the key up at once so a follower takes over without waiting for
     * the TTL; harmless if the lease is already gone */
    if (lease) {
        store_lease_revoke(l->s, lease, NULL, l->s, NULL);
        l->v.lease_id = 0;
    }
    l->v.key_known = false;
    if (notify && l->h.on_lost)
        l->h.on_lost(l->arg, why);
}

/* --- answers ------------------------------------------------------------------ */

static void grant_done(void *arg, const store_result *res, const cr_err *err)
{
    store_leader *l = arg;

    l->v.busy = false;
    if (err) {
        cr_warn(l->s->log, "leader %s: lease grant: %s", l->id, cr_err_msg(err));
        /* retry on a later tick */
        l->v.next_keepalive_ms = cr_mono_ms() + l->ttl_s * 1000 / 3;
        return;
    }
    l->v.lease_id = res->lease_id;
    l->v.lease_deadline_ms = l->sent_ms + (res->ttl > 0 ? res->ttl : l->ttl_s) * 1000;
    l->v.next_keepalive_ms = l->sent_ms + l->ttl_s * 1000 / 3;
    step(l);
}

static void keepalive_done(void *arg, const store_result *res, const cr_err *err)
{
    store_leader *l = arg;

    l->v.busy = false;
    if (err) {
        if (err->code == CR_ENOTFOUND) {
            step_down(l, "lease expired", true);
            l->v.lease_id = 0;
        } else {
            cr_warn(l->s->log, "leader %s: keepalive: %s", l->id, cr_err_msg(err));
            /* try again soon; the deadline decides when to give up */
            l->v.next_keepalive_ms = cr_mono_ms() + 200;
        }
        step(l);
        return;
    }
    l->v.lease_deadline_ms = l->sent_ms + (res->ttl > 0 ? res->ttl : l->ttl_s) * 1000;
    l->v.next_keepalive_ms = l->sent_ms + l->ttl_s * 1000 / 3;
    step(l);
}

static void on_key_events(void *arg, const store_event *evs, size_t n)
{
    store_leader *l = arg;

    for (size_t i = 0; i < n; i++) {
        const store_event *e = &evs[i];

        l->v.key_known = true;
        if (e->type == STORE_EV_DELETE) {
            l->v.key_present = false;
            l->v.key_create_rev = 0;
            set_holder(l, NULL, NULL);
        } else {
            l->v.key_present = true;
            l->v.key_create_rev = e->kv.create_revision;
            holder_from_value(l, e->kv.value, e->kv.value_len);
        }
    }
    step(l);
}

static void ensure_watch(store_leader *l, int64_t from_rev);

static void on_key_compacted(void *arg, int64_t rev)
{
    store_leader *l = arg;

    store_watch_free(l->watch);
    l->watch = NULL;
    if (l->v.is_leader) {
        /* keep watching from now; a change missed meanwhile still shows as a
         * failed keepalive or a refused (fenced) write */
        ensure_watch(l, 0);
    } else {
        /* re-learn the key through a campaign (it reads the key on failure) */
        l->v.key_known = false;
    }
    step(l);
}

static const store_watch_handlers key_handlers = {on_key_events, NULL, on_key_compacted, NULL};

static void ensure_watch(store_leader *l, int64_t from_rev)
{
    store_watch_opts wo = {.start_revision = from_rev};
    cr_err err;

    if (l->watch)
        return;
    l->watch = store_watch_start(l->s, l->key, &wo, &key_handlers, l, &err);
    if (!l->watch)
        cr_errorlog(l->s->log, "leader %s: watch %s: %s", l->id, l->key, cr_err_msg(&err));
}

/* The key names this replica (same id, same address) on a lease that is
 * not ours: a previous incarnation that died without revoking it (SIGKILL,
 * a crash). It cannot be alive, since this process holds its address, so
 * its lease is revoked now instead of waiting out the TTL; the watch then
 * sees the key go and the campaign runs again. */
static void reclaim_if_mine(store_leader *l, const store_kv *kv)
{
    json_t *j = json_loadb(kv->value ? kv->value : "", kv->value_len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *addr = json_string_value(json_object_get(j, "address"));
    bool mine = id && !strcmp(id, l->id) && l->address && addr && !strcmp(addr, l->address) &&
                kv->lease && kv->lease != l->v.lease_id;
    json_decref(j);
    if (!mine || l->reclaimed == kv->lease)
        return;
    l->reclaimed = kv->lease;
    cr_info(l->s->log,
            "leader %s: the key holds this replica's previous lease %" PRId64 "; revoking it",
            l->id, kv->lease);
    store_lease_revoke(l->s, kv->lease, NULL, l->s, NULL);
}

static void campaign_done(void *arg, const store_result *res, const cr_err *err)
{
    store_leader *l = arg;

    l->v.busy = false;
    if (err) {
        cr_warn(l->s->log, "leader %s: campaign: %s", l->id, cr_err_msg(err));
        l->v.next_keepalive_ms = cr_mono_ms(); /* check the lease next */
        return;
    }
    l->v.key_known = true;
    if (res->succeeded) {
        l->v.key_present = true;
        l->v.key_create_rev = res->revision;
        l->v.my_create_rev = res->revision;
        l->v.is_leader = true;
        ensure_watch(l, res->revision + 1);
        cr_info(l->s->log, "leader %s: elected (fence %" PRId64 ", lease %" PRId64 ")", l->id,
                res->revision, l->v.lease_id);
        set_holder(l, l->id, l->address);
        if (l->h.on_elected)
            l->h.on_elected(l->arg, res->revision);
    } else {
        const store_result *get = res->nops ? &res->ops[0] : NULL;

        if (get && get->nkvs) {
            l->v.key_present = true;
            l->v.key_create_rev = get->kvs[0].create_revision;
            holder_from_value(l, get->kvs[0].value, get->kvs[0].value_len);
            reclaim_if_mine(l, &get->kvs[0]);
        } else {
            l->v.key_present = false; /* deleted in between: campaign again */
        }
        ensure_watch(l, res->revision + 1);
    }
    step(l);
}

/* --- driver ------------------------------------------------------------------------ */

static void do_campaign(store_leader *l)
{
    store_txn *t = store_txn_new();
    store_put_opts po = {.lease = l->v.lease_id};
    json_t *j = json_pack("{sssssIss}", "id", l->id, "address", l->address ? l->address : "",
                          "lease", (json_int_t)l->v.lease_id, "since", "");
    char since[40];
    char *val;
    cr_err err;

    cr_format_time(cr_wall_ms(), since, sizeof(since));
    json_object_set_new(j, "since", json_string(since));
    val = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    store_txn_if_create(t, l->key, STORE_EQ, 0);
    store_txn_put(t, STORE_THEN, l->key, val, strlen(val), &po);
    store_txn_get(t, STORE_ELSE, l->key, false);
    free(val);
    l->v.busy = true;
    l->sent_ms = cr_mono_ms();
    if (store_txn_commit(l->s, t, campaign_done, l, &err) < 0) {
        l->v.busy = false;
        cr_errorlog(l->s->log, "leader %s: campaign: %s", l->id, cr_err_msg(&err));
    }
}

static void step(store_leader *l)
{
    int64_t now;
    cr_err err;

    if (l->in_step || !l->started)
        return;
    l->in_step = true;
    for (int guard = 0; guard < 8; guard++) {
        store_leader_action a;

        now = cr_mono_ms();
        a = store_leader_decide(&l->v, now);
        if (a == STORE_LD_WAIT)
            break;
        if (a == STORE_LD_CAMPAIGN && now < l->hold_until_ms)
            break; /* resigned: sit out the hold */
        if (a == STORE_LD_STEP_DOWN) {
            step_down(l,
                      !l->v.lease_id || now >= l->v.lease_deadline_ms - l->v.margin_ms
                          ? "lease not renewed in time"
                          : "leader key deleted or taken over",
                      true);
            continue;
        }
        l->v.busy = true;
        l->sent_ms = now;
        if (a == STORE_LD_GRANT) {
            l->v.lease_id = 0;
            if (store_lease_grant(l->s, l->ttl_s, grant_done, l, &err) < 0)
                l->v.busy = false;
        } else if (a == STORE_LD_KEEPALIVE) {
            if (store_lease_keepalive(l->s, l->v.lease_id, keepalive_done, l, &err) < 0)
                l->v.busy = false;
        } else {
            l->v.busy = false;
            do_campaign(l);
        }
        break; /* one request at a time */
    }
    l->in_step = false;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

store_leader *store_leader_new(store *s, const store_leader_config *cfg,
                               const store_leader_handlers *h, void *arg)
{
    store_leader *l = xcalloc(1, sizeof(*l));

    l->s = s;
    l->key = xstrdup(cfg->key);
    l->id = xstrdup(cfg->id);
    l->address = xstrdup(cfg->address);
    l->ttl_s = cfg->ttl_s > 0 ? cfg->ttl_s : 10;
    if (h)
        l->h = *h;
    l->arg = arg;
    l->v.margin_ms = l->ttl_s * 1000 / 10;
    l->tick_ev = event_new(s->base, -1, EV_PERSIST, tick_cb, l);
    return l;
}

int store_leader_start(store_leader *l, cr_err *err)
{
    int64_t tick_ms = l->ttl_s * 1000 / 20;
    struct timeval tv;

    if (!l->key || !*l->key || !l->id || !*l->id)
        return cr_error(err, CR_EINVAL, "leader election: key and id are required");
    if (tick_ms < 50)
        tick_ms = 50;
    tv.tv_sec = tick_ms / 1000;
    tv.tv_usec = (tick_ms % 1000) * 1000;
    event_add(l->tick_ev, &tv);
    l->started = true;
    step(l);
    return 0;
}

void store_leader_free(store_leader *l)
{
    if (!l)
        return;
    store_cancel(l->s, l);
    if (l->v.lease_id) /* resign: the key goes with the lease */
        store_lease_revoke(l->s, l->v.lease_id, NULL, l->s, NULL);
    store_watch_free(l->watch);
    event_free(l->tick_ev);
    free(l->key);
    free(l->id);
    free(l->address);
    free(l->holder);
    free(l->holder_address);
    free(l);
}

void store_leader_resign(store_leader *l, const char *why, int64_t hold_ms)
{
    l->hold_until_ms = cr_mono_ms() + (hold_ms > 0 ? hold_ms : 0);
    step_down(l, why, false);
}

bool store_leader_is_leader(const store_leader *l)
{
    return l->v.is_leader;
}

int64_t store_leader_fence(const store_leader *l)
{
    return l->v.is_leader ? l->v.my_create_rev : 0;
}

store_txn *store_leader_txn(const store_leader *l)
{
    store_txn *t;

    if (!l->v.is_leader)
        return NULL;
    t = store_txn_new();
    store_txn_fence(t, l->key, l->v.my_create_rev);
    return t;
}

const char *store_leader_holder(const store_leader *l)
{
    return l->holder;
}

const char *store_leader_holder_address(const store_leader *l)
{
    return l->holder_address;
}

int64_t store_leader_lease(const store_leader *l)
{
    return l->v.lease_id;
}
