/* Webhooks: events of request, deploy and task changes, queued in etcd per
 * webhook and POSTed to it at least once, in order (docs/webhooks.md).
 *
 *   cache change (one watch) -> event generated from the change, kept in
 *   memory in revision order -> per webhook: pass = ctl_wh_plan (pure) ->
 *   create queue entries + advance the cursor in P/status/webhooks/<id>
 *   (one fenced txn) -> POST the queue's head -> delivered: delete it;
 *   failed: back off (failures and next attempt in the status) and retry.
 *
 * Why nothing is lost across a failover: the cursor (revision, object key)
 * and the queue entries are written in one txn. A new leader, whose memory
 * is empty, scans its cache once for objects changed after the oldest
 * cursor and generates their events from their current state (a change it
 * never saw is seen as the state it led to; events already queued may be
 * queued again: delivery is at least once). The same scan replaces the
 * memory when it would grow past its cap.
 *
 * Order: one webhook's queue sorts by revision and is delivered strictly
 * head first, one event at a time, the next only once the head's delete has
 * landed: every object's events arrive in the order of its changes, and an
 * event sent again (its delete lost) is sent before anything after it.
 *
 * Bounds: a queue holds at most max_queue events; further events are
 * dropped and counted (status `dropped`, metrics). */
#ifndef CTL_WEBHOOKS_H
#define CTL_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/webhook.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/log.h"
#include "store/cache.h"
#include "store/leader.h"
#include "store/store.h"

struct event_base;

typedef struct ctl_wh_config {
    size_t max_queue;       /* events queued per webhook; 0 = 1000 */
    size_t batch;           /* events queued per pass; 0 = 100 (one txn) */
    int64_t backoff_ms;     /* wait after the first failure; 0 = 1000 */
    int64_t max_backoff_ms; /* doubling stops here; 0 = 60000 */
    int64_t timeout_ms;     /* one delivery; 0 = 10000 */
    size_t max_memory;      /* events kept in memory before a rescan; 0 = 100000 */
} ctl_wh_config;

/* Fills the zero fields with the defaults above. */
void ctl_wh_config_defaults(ctl_wh_config *c);

/* The wait before attempt number failures + 1: backoff_ms doubled per
 * failure after the first, at most max_backoff_ms. 0 for failures <= 0. */
int64_t ctl_wh_backoff(const ctl_wh_config *c, int failures);

/* An event waiting to be queued, as the plan sees it. */
typedef struct ctl_wh_event {
    int64_t revision;
    const char *object_key;
} ctl_wh_event;

/* (revision, object key) order: <0, 0, >0. */
int ctl_wh_event_cmp(int64_t rev_a, const char *key_a, int64_t rev_b, const char *key_b);

typedef struct ctl_wh_in {
    const char *webhook_id;
    const api_webhook_status *status; /* NULL: none written yet */
    int64_t created_revision;         /* the webhook's: the cursor without a status */
    /* The queue as the cache holds it. */
    size_t queue_len;
    const char *head_key; /* first entry, NULL when empty */
    bool head_invalid;    /* it does not decode: dropped, not sent */
    const char *next_key; /* second entry, or NULL */
    /* Delivery as the loop saw it since the last pass. */
    bool inflight;             /* a POST is in flight */
    const char *delivered_key; /* an entry whose POST got a 2xx, or NULL */
    const char *failed_key;    /* an entry whose POST failed, or NULL */
    const char *failed_error;
    int64_t failed_at;
    /* Events after the cursor, in (revision, key) order. */
    const ctl_wh_event *events;
    size_t n_events;
    const ctl_wh_config *config;
    int64_t now;
} ctl_wh_in;

typedef struct ctl_wh_plan {
    bool delete_head;    /* the head was delivered (or is invalid): delete it; nothing
                            is sent in this pass then */
    size_t n_queue;      /* events[0..n_considered) of which these are queued */
    size_t *queue;       /* indexes into in->events, ascending */
    size_t n_considered; /* events the new cursor covers (queued or dropped) */
    const char *send_key; /* POST this entry now (borrowed from in), or NULL */
    api_webhook_status status; /* the new status */
    bool status_changed;       /* differs from in->status (ignoring updatedAt) */
    int64_t requeue_ms;        /* plan again after (> 0), e.g. when a backoff ends */
} ctl_wh_plan;

/* One pass over one webhook. Pure: no I/O, no clock. Release the plan
 * with ctl_wh_plan_release. */
void ctl_wh_plan_run(const ctl_wh_in *in, ctl_wh_plan *out);
void ctl_wh_plan_release(ctl_wh_plan *p);

/* The URI with $REQUEST_ID, $DEPLOY_ID and $TASK_ID replaced (an absent id
 * by ""). Caller frees. */
char *ctl_wh_expand_uri(const char *uri, const char *request_id, const char *deploy_id,
                        const char *task_id);

/* "sha256=<64 lowercase hex digits>": the HMAC-SHA256 of body under
 * secret, the X-Corral-Signature header's value. Caller frees. */
char *ctl_wh_signature(const char *secret, const char *body, size_t len);

/* ---- the loop (controllers/webhooks_loop.c) ----------------------------------------- */

typedef struct ctl_webhooks_manager ctl_webhooks_manager;

typedef struct ctl_webhooks_manager_config {
    const char *prefix;          /* NULL = "/corral" */
    store_cache *cache;          /* the process's cache (borrowed); NULL: its own */
    const ctl_wh_config *plan;   /* NULL: defaults */
    int64_t resync_ms;           /* 0 = 60 s */
    cr_log *log;                 /* borrowed; may be NULL */
} ctl_webhooks_manager_config;

/* Creates a stopped manager (caller owns; free with
 * ctl_webhooks_manager_free). base, s, http, leader, cache and log are
 * borrowed and must outlive it. NULL with err on bad config. Lifecycle as
 * ctl_manager (controllers.h): start on election, stop when lost. */
ctl_webhooks_manager *ctl_webhooks_manager_new(struct event_base *base, store *s, cr_http *http,
                                               store_leader *leader,
                                               const ctl_webhooks_manager_config *cfg,
                                               cr_err *err);
int ctl_webhooks_manager_start(ctl_webhooks_manager *m, cr_err *err);
void ctl_webhooks_manager_stop(ctl_webhooks_manager *m);
/* NULL is a no-op. */
void ctl_webhooks_manager_free(ctl_webhooks_manager *m);

typedef struct ctl_webhooks_stats {
    bool running;
    uint64_t passes, writes, conflicts, errors;
    uint64_t generated;  /* events generated from changes (and scans) */
    uint64_t queued;     /* queue entries written */
    uint64_t dropped;    /* events dropped: queue full */
    uint64_t delivered;  /* 2xx answers */
    uint64_t failures;   /* failed attempts */
    uint64_t rescans;    /* cache scans (leadership starts, memory cap) */
    size_t memory;       /* events held in memory */
    size_t inflight;     /* POSTs in flight */
} ctl_webhooks_stats;

/* m may be NULL (all zero). */
void ctl_webhooks_manager_get_stats(const ctl_webhooks_manager *m, ctl_webhooks_stats *out);

#endif
