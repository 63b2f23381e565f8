/* mb_offers_plan: the bridge's offer cycle as a pure function.
 *
 *     (held offers, due pending tasks, active tasks, offer state, now)
 *         -> revive/suppress, launches per offer, declines, offers kept,
 *            and why each task that was tried did not fit
 *
 * No I/O and no clock reads: the bridge (bridge.c) gathers the inputs from
 * the process's cache and its own offer state, calls the plan, and carries
 * it out: SUPPRESS/REVIVE calls, one launch txn per offer that got tasks
 * (then its ACCEPT), DECLINE calls, placement reasons written to
 * status/pending. test/mesosbridge/test_offers.c drives it from fixtures. */
#ifndef MB_OFFERS_H
#define MB_OFFERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "apis/task.h"
#include "mesosbridge/calls.h"
#include "mesosbridge/logic.h"
#include "mesosbridge/placement.h"

/* A pending task that may launch now, with its request and deploy. */
typedef struct mb_offers_task {
    const char *key; /* its pending document's key */
    const api_pending_task *pend;
    const api_request *req;
    const api_deploy *dep;
} mb_offers_task;

/* An offer the bridge holds. */
typedef struct mb_offers_offer {
    const mb_offer *offer;
    int64_t received_ms; /* monotonic */
    const char *rack_id; /* the agent's rack */
    bool inactive;       /* agent or rack not ACTIVE: nothing goes there */
} mb_offers_offer;

typedef struct mb_offers_in {
    const mb_offers_offer *offers;
    size_t n_offers;
    const mb_offers_task *due; /* queue order; the first is always tried */
    size_t n_due;
    /* Due tasks after these, not given (more than this cycle's budget
     * could try): they count as waiting, for REVIVE and the offers held. */
    size_t n_due_more;
    size_t n_pending;                /* pending documents, due or not (for logs) */
    const mb_place_active *active;   /* launched or running tasks (spreading) */
    size_t n_active;
    const char *const *racks;        /* active racks, NULL-terminated; NULL: from offers */
    const api_strmap *reserve_attrs; /* may be NULL */
    const mb_offer_policy *policy;
    size_t max_checks;          /* placement work budget; 0: unlimited */
    size_t enough_fits;         /* mb_place_config's: a task looks no further; 0: at all */
    size_t max_placed;          /* tasks placed per cycle at most; 0: unlimited */
    size_t max_tasks_per_offer; /* 0: unlimited */
    const char *framework_id;   /* may be NULL */
    const char *executor_path;  /* may be NULL */
    /* Whether a task id is already known (two launches in one millisecond
     * would share it: the second waits a cycle). May be NULL. */
    bool (*task_exists)(void *arg, const char *task_id);
    void *arg;
    /* offer state */
    bool suppressed;
    bool new_pending; /* a pending document appeared since the last REVIVE */
    size_t last_due;  /* due tasks at the previous cycle */
    int64_t last_revive_ms;
    long revive_min_ms;
    int64_t now;  /* monotonic ms (offer ages, revive spacing) */
    int64_t wall; /* epoch ms (task ids, launch times) */
} mb_offers_in;

/* The tasks launched on one offer, in queue order. */
typedef struct mb_offers_launch {
    size_t offer;      /* index into in->offers */
    size_t n;
    api_task **tasks;  /* owned: the new task records (TASK_LAUNCHED) */
    size_t *due;       /* their indexes into in->due */
} mb_offers_launch;

/* A task that was tried and fit no offer. */
typedef struct mb_offers_unplaced {
    size_t due; /* index into in->due */
    mb_place_reason reason;
    char *message; /* owned: for people ("needs cpus 3, largest offer has 2") */
} mb_offers_unplaced;

/* A task placed but not launchable (no valid task id): logged. */
typedef struct mb_offers_error {
    size_t due;
    char *message; /* owned */
} mb_offers_error;

typedef struct mb_offers_plan_out {
    mb_offers_action action; /* KEEP, SUPPRESS or REVIVE */
    bool new_pending;        /* the input's, raised when more tasks are due */
    size_t n_launches;
    mb_offers_launch *launches;
    size_t n_decline_idle, n_decline_busy, n_keep;
    size_t *decline_idle; /* offer indexes, filter policy->refuse_idle_s */
    size_t *decline_busy; /* offer indexes, filter policy->refuse_busy_s */
    size_t *keep;         /* offer indexes held for a later cycle */
    size_t n_unplaced;
    mb_offers_unplaced *unplaced;
    size_t n_errors;
    mb_offers_error *errors;
    /* The filter of the ACCEPTs: none while tasks were deferred by the
     * budget (the agents' leftovers must come back at the master's next
     * allocation for them), else policy->refuse_busy_s. */
    double accept_refuse_s;
    size_t tried;   /* due tasks tried; the rest were deferred by the budget */
    size_t failed;  /* tried and not placed */
    size_t waiting; /* due tasks not launched this cycle */
} mb_offers_plan_out;

/* Plans one offer cycle. Fills *out (release with mb_offers_plan_release).
 * Never fails. */
void mb_offers_plan(const mb_offers_in *in, mb_offers_plan_out *out);

/* Frees what *out owns, including task records not taken (set a launch's
 * tasks[i] to NULL to keep one). */
void mb_offers_plan_release(mb_offers_plan_out *out);

#endif
