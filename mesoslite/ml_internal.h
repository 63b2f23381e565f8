/* Internal state shared by mesoslite's master (ml_master.c), agents
 * (ml_agent.c), HTTP plumbing (ml_http.c) and fault injection
 * (ml_faults.c). Not a public interface. */
#ifndef ML_INTERNAL_H
#define ML_INTERNAL_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

#include "base/log.h"
#include "mesoslite/ml.h"
#include "mesoslite/ml_map.h"
#include "mesoslite/ml_proc.h"
#include "mesoslite/ml_proto.h"
#include "mesoslite/ml_res.h"

#define ML_VERSION       "1.12.0"
#define ML_COMPLETED_MAX 1000             /* completed tasks kept per framework */
#define ML_RETRY_MAX_MS  (10 * 60 * 1000) /* cap of the update re-send backoff */

/* s, or dflt when s is NULL. */
static inline const char *nz(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

typedef struct ml_fw ml_fw;
typedef struct ml_agent ml_agent;
typedef struct ml_task ml_task;
typedef struct ml_exec ml_exec;
typedef struct ml_stream ml_stream;

/* A long-lived chunked RecordIO response (scheduler or executor stream). */
struct ml_stream {
    ml_app *app;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    void (*on_close)(ml_stream *s); /* peer went away; s is freed after */
    void *owner;
};

typedef struct ml_offer {
    char *id;
    ml_fw *fw;
    ml_agent *agent;
    ml_res res;
} ml_offer;

struct ml_fw {
    ml_app *app;
    char *id;
    json_t *info; /* FrameworkInfo, with id */
    char *role;
    bool pa, killing_state, multi_role, checkpoint;
    double failover_timeout;
    ml_stream *stream;
    char stream_id[37];
    struct event *heartbeat, *failover_timer;
    bool removed, suppressed, recovered;
    ml_map *tasks;        /* task id -> ml_task: active tasks */
    ml_map *unreachable;  /* task id -> ml_task: on removed agents */
    json_t *completed;    /* task JSON of /master/state, bounded */
    json_t *completed_v1; /* the same as v1 Task objects (GET_TASKS) */
    ml_map *filters;      /* agent id -> ml_filter */
    double registered_time, unregistered_time;
};

struct ml_task {
    char *id, *name;
    ml_fw *fw;
    ml_agent *agent;
    ml_exec *exec; /* NULL in simulate mode or once the executor is gone */
    json_t *info;  /* TaskInfo as launched */
    ml_res res;
    const char *state; /* latest state (static string) */
    json_t *latest;    /* latest TaskStatus */
    json_t *statuses;  /* history for /master/state */
    json_t *pending;   /* array: updates awaiting acknowledgement, head first */
    struct event *retry;
    int64_t backoff_ms;
    bool recovered; /* resources returned (terminal seen) */
    bool kill_requested;
    int forced_exit; /* -1, or the exit code a fault asked for */
    struct event *sim_timer;
    int64_t unreachable_ns; /* set while the agent is removed */
};

enum ml_exec_state { ML_EX_REGISTERING, ML_EX_RUNNING, ML_EX_TERMINATING };

struct ml_exec {
    char *key; /* "<fw>\n<exec>" in agent->execs */
    char *id, *container_id, *dir;
    ml_fw *fw;
    ml_agent *agent;
    bool command; /* built-in command executor: exactly one task */
    json_t *info; /* ExecutorInfo (custom) */
    ml_res res;
    pid_t pid; /* process group leader; 0 once reaped */
    enum ml_exec_state state;
    ml_stream *stream;
    ml_map *tasks;  /* task id -> ml_task */
    ml_map *uuids;  /* uuids of the updates received (replays are dropped) */
    json_t *queued; /* ids of tasks waiting for SUBSCRIBE */
    json_t *run;    /* CommandInfo to run once the URIs are fetched */
    bool fetching;  /* pid is the fetcher's */
    struct event *kill_timer, *reg_timer, *shutdown_timer;
    int64_t shutdown_grace_ns;
};

struct ml_agent {
    ml_app *app;
    int index;
    char *id, *hostname, *rack, *dir;
    int port;
    ml_res total, used, offered;
    json_t *attributes; /* Attribute[] */
    bool removed;       /* partitioned by a fault */
    bool recovering;    /* master failed over, not re-registered yet */
    bool unknown;       /* ... and the master lost its registry: it does not know
                           the agent at all until it re-registers */
    bool gone;          /* removed for good: its tasks are TASK_GONE */
    bool deactivated;   /* DEACTIVATE_AGENT or DRAIN_AGENT: no offers */
    bool draining;      /* DRAIN_AGENT: tasks killed; DRAINED once none is left */
    int64_t drain_grace_s; /* DRAIN_AGENT's max_grace_period (seconds); -1: none */
    struct evhttp *http;
    ml_map *execs;
    ml_map *tasks;           /* "<fw>\n<task>" -> ml_task */
    json_t *completed_execs; /* executors that ended, as /state shows them (bounded) */
    double registered_time;
    /* a partition that ends later (ml_agent_fault_after): what happens when
     * fault_timer fires, ML_AGENT_HEAL or ML_AGENT_GONE; NULL: none yet */
    int fault_action;
    struct event *fault_timer;
};

struct ml_app {
    struct event_base *base;
    ml_config cfg;
    cr_log *log;
    char master_id[37];
    char *ip;
    struct evhttp *http;
    ml_map *frameworks; /* id -> ml_fw */
    ml_fw **fw_list;    /* allocation order */
    size_t nfw;
    size_t rr; /* round-robin cursor */
    ml_agent **agents;
    size_t nagents;
    ml_map *agents_by_id;
    ml_map *offers; /* id -> ml_offer */
    ml_map *pids;   /* "pid" -> ml_exec */
    uint64_t next_offer, next_fw;
    struct event *alloc_timer, *alloc_soon, *sigchld, *recover_timer;
    double start_time, elected_time;
    /* faults */
    int drop_updates; /* drop the next N update deliveries */
    char *drop_task;  /* only for this task id, when set */
    int64_t delay_updates_ms;
    struct ml_delayed *delayed; /* updates held back by the delay fault */
    json_t *exec_env;           /* --executor-environment-variables, or NULL: inherit */
    ml_procs procs;             /* the work dir's lock and pid files (real agents) */
    int64_t ntasks_total;
};

/* ml_http.c */
void ml_reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
              size_t len);
void ml_reply_text(struct evhttp_request *req, int code, const char *body);
void ml_reply_json(struct evhttp_request *req, int code, json_t *body /*steal*/);
/* Starts a 200 chunked stream; stream_id may be NULL. */
ml_stream *ml_stream_open(ml_app *app, struct evhttp_request *req, const char *stream_id,
                          void (*on_close)(ml_stream *), void *owner);
void ml_stream_send(ml_stream *s, json_t *ev /*steal*/);
/* Ends the stream and closes its connection; on_close is not called. */
void ml_stream_close(ml_stream *s);
/* Request helpers: body (NUL-terminated, caller frees), path (caller frees),
 * query parameter (caller frees) */
char *ml_req_body(struct evhttp_request *req, size_t *len);
char *ml_req_path(struct evhttp_request *req);
char *ml_req_query(struct evhttp_request *req, const char *name);
const char *ml_method_name(struct evhttp_request *req);

static inline int64_t ml_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct timeval ml_tv_ms(int64_t ms)
{
    struct timeval tv;
    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

/* ml_updates.c: the status-update pipeline */
struct ml_delayed;
void ml_delayed_free(ml_app *app, struct ml_delayed *d);
/* Records st as t's latest status; a terminal one returns t's resources. */
void ml_task_record(ml_task *t, const json_t *st);
void ml_acknowledge(ml_fw *fw, const char *task_id, const char *uuid);
/* Moves t to its framework's completed tasks and frees it. */
void ml_task_complete(ml_task *t);
json_t *ml_task_state_json(const ml_task *t); /* v0 task, caller owns */
void ml_agent_task_key(const ml_task *t, char *buf, size_t n);

/* ml_alloc.c: offers and allocation */
void ml_offer_free(ml_offer *o);
/* Returns the offer's resources to its agent, optionally with a RESCIND. */
void ml_offer_remove(ml_app *app, ml_offer *o, bool rescind);
void ml_rescind_fw_offers(ml_fw *fw, bool notify);
void ml_alloc_timer_cb(evutil_socket_t fd, short what, void *arg);
void ml_alloc_soon_cb(evutil_socket_t fd, short what, void *arg);
void ml_set_filter(ml_fw *fw, ml_agent *a, const ml_res *refused, int64_t refuse_ms);
void ml_clear_filters(ml_fw *fw);

/* ml_state.c: /master/state and the operator API */
json_t *ml_master_state_json(ml_app *app);
json_t *ml_task_v1_json(ml_task *t);
void ml_handle_operator(ml_app *app, struct evhttp_request *req);
json_t *ml_v0_slaves(ml_app *app);
json_t *ml_v0_frameworks(ml_app *app);
/* Active, unreachable and completed tasks, paged. */
json_t *ml_v0_tasks(ml_app *app, long offset, long limit);

/* ml_master.c */
void ml_fw_remove(ml_fw *fw);
double ml_now(void);
void ml_random_uuid(char out[37]);
char *ml_random_uuid_b64(void);
void ml_fw_send(ml_fw *fw, json_t *ev /*steal*/);
/* Agent-side status update for t (with a fresh uuid, reliable delivery). */
void ml_task_update(ml_task *t, const char *state, const char *source, const char *reason,
                    const char *message);
/* An executor-sent TaskStatus (validated); steals status. */
void ml_task_update_json(ml_task *t, json_t *status);
void ml_task_resend(ml_task *t);
void ml_allocate_soon(ml_app *app);
void ml_rescind_agent_offers(ml_agent *a, bool notify);
void ml_fw_disconnected(ml_fw *fw);
void ml_fw_break_stream(ml_fw *fw);
void ml_master_failover(ml_app *app, int64_t reregister_ms);
/* A master restart that lost the registry (the in_memory registry): as a
 * failover, but the new master knows no agent until it re-registers after
 * reregister_ms: reconciliation answers TASK_UNKNOWN for their tasks, and
 * GET_AGENTS lists them nowhere. Agents re-register without an update of
 * their own (a real master sends none: schedulers reconcile). */
void ml_master_restart(ml_app *app, int64_t reregister_ms);
void ml_agent_remove(ml_agent *a);
void ml_agent_restore(ml_agent *a);
enum { ML_AGENT_HEAL = 1, ML_AGENT_GONE = 2 };
/* After ms: the removed agent re-registers (ML_AGENT_HEAL, ml_agent_restore),
 * or never comes back (ML_AGENT_GONE, ml_agent_gone). */
void ml_agent_fault_after(ml_agent *a, int action, int64_t ms);
/* The removed agent is gone for good (it rebooted): its task processes are
 * killed and every task it ran is reported TASK_GONE (SOURCE_MASTER, no
 * uuid), and reconciled so from then on. */
void ml_agent_gone(ml_agent *a);
/* A new agent registers (fault: /__ml/agents/add). res_spec, rack and
 * attrs as --agent-resources / --racks / --agent-attributes give them
 * (NULL: agent 0's resources, no rack, no attributes). NULL with err on a
 * bad spec. */
ml_agent *ml_agent_add(ml_app *app, const char *res_spec, const char *rack, const char *attrs,
                       cr_err *err);
/* Operator API: DEACTIVATE_AGENT, REACTIVATE_AGENT, DRAIN_AGENT. */
void ml_agent_deactivate(ml_agent *a);
void ml_agent_reactivate(ml_agent *a);
void ml_agent_drain(ml_agent *a, int64_t grace_s);
ml_task *ml_find_task(ml_app *app, const char *task_id);

/* ml_agent.c */
int ml_agent_start(ml_agent *a, cr_err *err);
void ml_agent_stop(ml_agent *a);
/* Kills and reaps every remaining descendant (orphans of tasks that left
 * their process group reparent to mesoslite, their subreaper). */
void ml_agents_reap_all(ml_app *app);
/* Launches t (already accounted) on its agent; exec_info is NULL for command tasks. */
void ml_agent_launch(ml_agent *a, ml_task *t);
void ml_agent_kill_task(ml_task *t, int64_t grace_ms);
void ml_agent_shutdown_exec(ml_exec *e);
void ml_agent_message(ml_exec *e, const char *data_b64);
ml_exec *ml_agent_exec(ml_agent *a, const char *fw_id, const char *exec_id);
void ml_agent_detach_task(ml_task *t);
void ml_agent_force_exit(ml_task *t, int code);
void ml_sigchld(evutil_socket_t sig, short what, void *arg);
void ml_task_free(ml_task *t);
json_t *ml_agent_info(const ml_agent *a);

/* ml_faults.c */
void ml_faults_handle(ml_app *app, struct evhttp_request *req, const char *path);

#endif
