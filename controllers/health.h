/* HTTP readiness checks of tasks (Singularity's HealthcheckOptions, sheet
 * 2.4 and 3.4), in two layers:
 *
 *  - a pure state machine (ctl_hc_*): options + results + now -> verdict and
 *    the time of the next check; unit tested without I/O;
 *  - ctl_checker: runs the checks on the process's event loop with cr_http
 *    and reports each task's verdict once, through a callback (the manager
 *    stores it and requeues the task's request; the plan reads it as
 *    ctl_task.health).
 *
 * Readiness checks, as in Singularity, start when the task is RUNNING and
 * stop at the first verdict (HEALTHY or UNHEALTHY). A task the load
 * balancer serves is also checked for liveness (ctl_checker_watch_live):
 * every interval, and UNHEALTHY once more than maxRetries answers in a row
 * fail (or one failure code comes), so it is taken out of the LB and
 * replaced (docs/loadbalancing.md). */
#ifndef CTL_HEALTH_H
#define CTL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/deploy.h"
#include "base/err.h"
#include "base/httpc.h"
#include "controllers/plan.h"

struct event_base;

/* Singularity's config defaults for absent options. */
#define CTL_HC_STARTUP_TIMEOUT_S  45
#define CTL_HC_STARTUP_INTERVAL_S 2
#define CTL_HC_INTERVAL_S         5
#define CTL_HC_RESPONSE_TIMEOUT_S 5
#define CTL_HC_MAX_FAILURE_CODES  16

typedef struct ctl_hc_opts {
    int64_t startup_delay_ms;    /* wait after RUNNING before the first check */
    int64_t startup_timeout_ms;  /* no HTTP response by then: unhealthy */
    int64_t startup_interval_ms; /* period while there is no response yet */
    int64_t interval_ms;         /* period after the first response */
    int64_t response_timeout_ms; /* per request */
    int max_retries;             /* failed responses tolerated */
    size_t n_failure_codes;
    long failure_codes[CTL_HC_MAX_FAILURE_CODES]; /* fail at once, no retry */
} ctl_hc_opts;

/* Effective options of a deploy's health check (defaults filled in). */
void ctl_hc_opts_from_api(const api_healthcheck *h, ctl_hc_opts *out);

/* Max health-check time: startupTimeout + (interval + responseTimeout) x
 * (maxRetries + 1) (sheet 2.4); the deploy deadline adds it. */
int64_t ctl_hc_budget_ms(const ctl_hc_opts *o);

/* The time a check of a task RUNNING since running_at should count from
 * when it starts at `now`: running_at for a task that just started, but
 * never earlier than now - startup_delay, so a check (re)started late (a new
 * leader, a restart) gets its full startup window instead of failing at once
 * for a task that has been serving for hours. */
int64_t ctl_hc_start_time(const ctl_hc_opts *o, int64_t running_at, int64_t now);

typedef struct ctl_hc_state {
    ctl_health verdict; /* UNKNOWN until decided; then final */
    int64_t running_at; /* TASK_RUNNING at */
    int64_t next_at;    /* when the next check is due */
    bool responded;     /* an HTTP response ever arrived (startup is over) */
    int failures;       /* failed responses so far */
    long last_status;   /* last HTTP status, 0 = none */
} ctl_hc_state;

void ctl_hc_init(ctl_hc_state *s, const ctl_hc_opts *o, int64_t running_at);
/* Records one check's outcome at `now`: status is the HTTP status, or 0
 * when no response arrived (refused, timed out). */
void ctl_hc_result(ctl_hc_state *s, const ctl_hc_opts *o, long status, int64_t now);
/* Applies the time limits without a result (startup timeout, budget). */
void ctl_hc_tick(ctl_hc_state *s, const ctl_hc_opts *o, int64_t now);

/* Liveness of a task already found healthy: starts with no failures and
 * the first check an interval from now. */
void ctl_hc_live_init(ctl_hc_state *s, const ctl_hc_opts *o, int64_t now);
/* Records one liveness check: a good answer clears the failures; a failure
 * code is UNHEALTHY at once; otherwise UNHEALTHY after more than
 * max_retries failures in a row. Never HEALTHY (that is not news). */
void ctl_hc_live_result(ctl_hc_state *s, const ctl_hc_opts *o, long status, int64_t now);

/* ---- the checker on the event loop ------------------------------------------ */

typedef struct ctl_checker ctl_checker;

/* A verdict for task_id (borrowed strings, valid during the call). The
 * checker has forgotten the task when this runs. */
typedef void (*ctl_checker_cb)(void *arg, const char *request_id, const char *task_id,
                               ctl_health verdict);

/* Returns a checker (caller owns; ctl_checker_free). base and http are
 * borrowed and must outlive it. */
ctl_checker *ctl_checker_new(struct event_base *base, cr_http *http, ctl_checker_cb cb, void *arg);
/* Stops every check without callbacks and frees c. NULL is a no-op. Not
 * from inside the callback. */
void ctl_checker_free(ctl_checker *c);

/* Starts checking task_id: GET url ("http://host:port/path") per opts
 * (copied), from running_at (epoch ms). Watching a task that is already
 * watched does nothing. Returns -1 with err set on a bad argument. */
int ctl_checker_watch(ctl_checker *c, const char *request_id, const char *task_id, const char *url,
                      const ctl_hc_opts *opts, int64_t running_at, cr_err *err);
/* Starts a liveness check of task_id (ctl_hc_live_*): its callback comes
 * only with UNHEALTHY. A task already checked (either way) is left alone. */
int ctl_checker_watch_live(ctl_checker *c, const char *request_id, const char *task_id,
                           const char *url, const ctl_hc_opts *opts, cr_err *err);
/* Stops checking task_id (no callback). Unknown ids are ignored. */
void ctl_checker_forget(ctl_checker *c, const char *task_id);
/* Number of tasks being checked. */
size_t ctl_checker_count(const ctl_checker *c);

#endif
