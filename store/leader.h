/* store_leader: leader election on an etcd lease, with fencing.
 *
 * Each replica holds a lease (TTL default 10 s, renewed every TTL/3) and
 * campaigns with one txn: "if <key> is absent, put {id, address, lease}
 * attached to my lease, else read it". The winner's fence is the key's
 * create_revision; every controller write goes through store_leader_txn(),
 * which compares that create_revision, so a deposed leader can never write
 * (its txns fail with CR_ENOTLEADER). Followers watch the key and campaign
 * the moment it is deleted (the old lease expired or was revoked).
 *
 * A leader steps down (on_lost, then campaigns again as a follower) as soon
 * as it cannot prove its lease alive: a keepalive says the lease is gone, the
 * key was deleted or re-created, or no keepalive succeeded for TTL minus a
 * margin (local monotonic clock, measured from when the keepalive was
 * sent). on_lost must stop controllers at once; in-flight writes are
 * harmless thanks to the fence.
 *
 * Lifecycle: store_leader_new -> store_leader_start -> ... ->
 * store_leader_free (revokes the lease if the store stays alive long enough
 * for the request; otherwise the lease expires after TTL).
 *
 * A replica that restarts after dying without revoking (SIGKILL, a crash)
 * finds the key naming its own id and address on an older lease: it
 * revokes that lease instead of waiting out the TTL (its process holds the
 * address, so the old one is gone). Ids and addresses must therefore be
 * unique per replica, as corrald's defaults (host:port) are. */
#ifndef STORE_LEADER_H
#define STORE_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

typedef struct store_leader store_leader;

typedef struct store_leader_config {
    const char *key;     /* e.g. api_key_leader(): "/corral/leader"; required */
    const char *id;      /* this replica's id; required */
    const char *address; /* API address other replicas may redirect to */
    int64_t ttl_s;       /* lease TTL; 0 = 10 */
} store_leader_config;

typedef struct store_leader_handlers {
    /* Won: start controllers; fence_rev is the leader key's create_revision. */
    void (*on_elected)(void *arg, int64_t fence_rev);
    /* Lost: stop controllers now. why is borrowed. */
    void (*on_lost)(void *arg, const char *why);
    /* Optional: the observed leader changed (id/address NULL: none). */
    void (*on_leader)(void *arg, const char *id, const char *address);
} store_leader_handlers;

/* cfg strings are copied; s is borrowed. Caller owns the result. */
store_leader *store_leader_new(store *s, const store_leader_config *cfg,
                               const store_leader_handlers *h, void *arg);
/* Starts campaigning (asynchronously). */
int store_leader_start(store_leader *l, cr_err *err);
/* Steps down if leader (without calling on_lost), revokes the lease (best
 * effort) and frees. NULL is a no-op. Not from the leader's handlers. */
void store_leader_free(store_leader *l);

/* Steps down now if leading, without calling on_lost (the caller stops
 * what it started), revoking the lease so another replica takes over at
 * once, and does not campaign again for hold_ms. For a leader that finds it
 * must not lead (store_schema refused the etcd layout). Not from the
 * leader's own handlers. */
void store_leader_resign(store_leader *l, const char *why, int64_t hold_ms);

bool store_leader_is_leader(const store_leader *l);
/* The fence (leader key create_revision) while leader, else 0. */
int64_t store_leader_fence(const store_leader *l);
/* A new txn fenced on our leadership (caller owns), or NULL when not the
 * leader. Commit it with store_txn_commit or store_write. */
store_txn *store_leader_txn(const store_leader *l);
/* The leader as last observed (borrowed; NULL if unknown or none). */
const char *store_leader_holder(const store_leader *l);
const char *store_leader_holder_address(const store_leader *l);
int64_t store_leader_lease(const store_leader *l);

/* --- the pure decision function ---------------------------------------------- */

typedef enum {
    STORE_LD_WAIT,      /* nothing to do now */
    STORE_LD_GRANT,     /* get a (new) lease */
    STORE_LD_KEEPALIVE, /* renew the lease */
    STORE_LD_CAMPAIGN,  /* try the create-if-absent txn */
    STORE_LD_STEP_DOWN  /* stop being leader now */
} store_leader_action;

typedef struct store_leader_view {
    bool is_leader;
    bool busy;                 /* a grant/keepalive/campaign is in flight */
    int64_t lease_id;          /* 0: none */
    int64_t lease_deadline_ms; /* local estimate of the lease's expiry */
    int64_t next_keepalive_ms;
    int64_t margin_ms; /* step down this long before the deadline */
    bool key_known;    /* we have seen the leader key's state */
    bool key_present;
    int64_t key_create_rev;
    int64_t my_create_rev; /* our fence while leader */
} store_leader_view;

/* What to do next, given the state and the monotonic time. */
store_leader_action store_leader_decide(const store_leader_view *v, int64_t now_ms);
const char *store_leader_action_name(store_leader_action a);

#endif
