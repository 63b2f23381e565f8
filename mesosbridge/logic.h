/* Pure bookkeeping of the bridge, kept apart from I/O so unit tests drive
 * it with explicit times: backoffs, explicit-reconciliation rounds, what to
 * do with unused offers, when to SUPPRESS or REVIVE. No clock reads here:
 * every `now` is passed in (milliseconds, monotonic). */
#ifndef MB_LOGIC_H
#define MB_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- truncated exponential backoff ------------------------------------------ */
typedef struct mb_backoff {
    long base_ms, cap_ms;
    long cur_ms; /* 0 before the first failure */
} mb_backoff;

void mb_backoff_init(mb_backoff *b, long base_ms, long cap_ms);
/* The next delay: base, 2*base, 4*base ... capped; jitter in [0,1) adds up
 * to half the delay again (callers pass a random value; tests a fixed one). */
long mb_backoff_next(mb_backoff *b, double jitter);
void mb_backoff_reset(mb_backoff *b);

/* ---- explicit reconciliation (protocol sheet 6.3) ----------------------------
 * A round starts after every SUBSCRIBED: every non-terminal task is sent; a
 * task stays "remaining" while its last status arrived before the round
 * started. Rounds are re-sent with truncated exponential backoff until none
 * remains. One round at a time: starting again restarts it. */
typedef struct mb_recon {
    bool active;
    int64_t started_ms;
    int64_t next_ms; /* when to send again */
    mb_backoff backoff;
    unsigned rounds; /* RECONCILE calls sent in this round */
    /* A send goes out a batch at a time, each once the last one is mostly
     * answered: the answers share the one event stream with everything
     * else, and 100,000 of them at once put a new task's updates (and
     * the offers) seconds behind. */
    int64_t pass_ms;  /* the send under way began then (0: none) */
    int64_t batch_ms; /* its last batch went then */
    size_t waiting;   /* tasks of that batch not answered yet */
    unsigned batch;   /* that batch's number (never 0), for mb_recon_answered */
} mb_recon;

/* A batch of a send may go once this many ms passed even if unanswered. */
#define MB_RECON_BATCH_WAIT_MS 1000

void mb_recon_init(mb_recon *r, long base_ms, long cap_ms);
void mb_recon_start(mb_recon *r, int64_t now);
/* Whether a task whose last status arrived at heard_ms (0 = never) still
 * awaits an answer in the current round. */
bool mb_recon_remaining(const mb_recon *r, int64_t heard_ms);
/* Whether a RECONCILE should be sent now. */
bool mb_recon_due(const mb_recon *r, int64_t now);
/* Records that a RECONCILE with n_remaining tasks was sent (n_remaining 0
 * ends the round without sending). */
void mb_recon_sent(mb_recon *r, int64_t now, size_t n_remaining);
/* Whether a batch of up to `batch` tasks may be sent now: the round is due
 * and the send under way (if any) has its last batch answered but for a
 * tenth, or waited MB_RECON_BATCH_WAIT_MS for it. */
bool mb_recon_may_send(const mb_recon *r, int64_t now, size_t batch);
/* Whether a remaining task (mb_recon_remaining) was not sent yet in the
 * send under way: its last RECONCILE went at sent_ms (0 = never). */
bool mb_recon_unsent(const mb_recon *r, int64_t sent_ms);
/* Records a batch of n tasks sent at now; `last` when no remaining task is
 * left unsent, which ends the send: mb_recon_sent(r, now, n_remaining).
 * Returns the batch's number: the caller notes it on each task sent. */
unsigned mb_recon_batch_sent(mb_recon *r, int64_t now, size_t n, bool last, size_t n_remaining);
/* A task answered that was last sent in batch number `batch` (0: none):
 * counted when that is the last batch (an earlier batch's late answer, or
 * one from before a new SUBSCRIBED, is not). */
void mb_recon_answered(mb_recon *r, unsigned batch);

/* ---- offers ------------------------------------------------------------------- */
typedef struct mb_offer_policy {
    long hold_ms;         /* keep an unused offer this long while tasks wait */
    double refuse_idle_s; /* decline filter when nothing is pending */
    double refuse_busy_s; /* decline filter when tasks wait but did not fit */
    /* The offer cache (issue 14; Singularity's offerCacheSize and
     * cacheOffersForMillis): while nothing waits, up to cache_max offers
     * are held for cache_ms each, so a task that becomes due launches on
     * one at once instead of waiting for a REVIVE and the master's next
     * allocation. An offer that ages out is declined with refuse_busy_s (it
     * comes back soon, the cache stays warm); offers beyond cache_max with
     * refuse_idle_s. Offers are never suppressed while the cache is on.
     * cache_max 0: no cache (SUPPRESS when idle). */
    size_t cache_max;
    long cache_ms;
} mb_offer_policy;

/* For an offer no task was placed on: returns true to decline it now (with
 * *refuse_s set) or false to hold it a little longer. */
bool mb_offer_should_decline(const mb_offer_policy *p, int64_t received_ms, int64_t now,
                             size_t waiting_tasks, double *refuse_s);

typedef enum { MB_OFFERS_KEEP, MB_OFFERS_SUPPRESS, MB_OFFERS_REVIVE } mb_offers_action;

/* SUPPRESS when nothing is pending and offers are not suppressed yet;
 * REVIVE when something is pending and either offers are suppressed or a
 * pending task appeared since the last REVIVE (filters from earlier
 * declines must be cleared), at most once per min_interval_ms. With
 * `caching` (the offer cache is on) offers are wanted while nothing is
 * pending too: never SUPPRESS, and REVIVE if suppressed. */
mb_offers_action mb_offers_decide(bool suppressed, size_t pending, bool new_pending,
                                  int64_t last_revive_ms, int64_t now, long min_interval_ms,
                                  bool caching);

/* ---- heartbeat watchdog ----------------------------------------------------------- */
/* True when nothing arrived for `misses` heartbeat intervals. */
bool mb_heartbeat_expired(int64_t last_event_ms, int64_t now, double interval_s, int misses);

/* ---- leader redirects ----------------------------------------------------------------- */
/* Resolves a 307 Location against the URL just used: a protocol-relative
 * "//host:port/api/v1/scheduler" (what Mesos sends) takes cur's scheme; a
 * bare "host:port" gets it too. Returns the new base URL "scheme://host:port"
 * (path dropped; caller frees), or NULL when loc is empty. */
char *mb_resolve_location(const char *cur, const char *loc);

/* ---- the stored framework id ---------------------------------------------------------
 * <prefix>/framework ties Corral to the framework whose tasks Mesos runs. A
 * value that cannot be read must stop the bridge: registering a new
 * framework while the old one lives runs every task twice. */
typedef enum {
    MB_FW_ABSENT,     /* no document: the next SUBSCRIBE registers a framework */
    MB_FW_OK,         /* *id is the framework id */
    MB_FW_UNREADABLE, /* *error says why (not JSON, frameworkId missing or not an id) */
} mb_fw_doc;

/* Reads the value of <prefix>/framework (value NULL: there is no such key)
 * through api_framework_from_json. Sets *id on MB_FW_OK, *error on
 * MB_FW_UNREADABLE (caller frees either; the other is set to NULL). */
mb_fw_doc mb_framework_read(const char *value, size_t len, char **id, char **error);

/* What the bridge is doing, for its status document (status/framework). */
typedef struct mb_fw_state {
    bool blocked; /* the framework document is unreadable */
    bool stopped; /* for good */
    bool subscribed;
    const char *framework_id; /* in use or loaded; NULL: none */
    const char *master;       /* URL in use */
    const char *error;        /* why blocked or stopped, or NULL */
    int64_t observed_rev;     /* mod_revision of the framework document read; 0 none */
} mb_fw_state;

/* Brings *s (an api_framework_status, apis/status.h) up to st: state,
 * fields and the Valid and Subscribed conditions (lastTransitionTime moves
 * only when a condition's status does). updatedAt is set to now when
 * anything else changed. Returns whether anything changed. */
struct api_framework_status;
bool mb_fw_status_set(struct api_framework_status *s, const mb_fw_state *st, int64_t now);

#endif
