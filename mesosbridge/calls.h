/* Encoders of Mesos v1 scheduler calls (protocol sheet section 2) and of the
 * TaskInfo a LAUNCH carries (section 4). Pure: every function returns a new
 * JSON object the caller owns (json_decref), with the exact proto field names
 * (snake_case), enum names as UPPER_CASE strings, ids wrapped as
 * {"value": ...} and bytes fields base64-encoded. Send the body with
 * `Content-Type: application/json` and, except for SUBSCRIBE, the
 * `Mesos-Stream-Id` header. */
#ifndef MB_CALLS_H
#define MB_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "base/err.h"
#include "mesosbridge/events.h"

/* One week: a scheduler restart or network blip must not tear the framework
 * down (sheet 9.1 #1). */
#define MB_DEFAULT_FAILOVER_TIMEOUT_S (7.0 * 24 * 3600)

typedef struct mb_framework_info {
    const char *user;         /* required: the Unix user tasks run as */
    const char *name;         /* required: shown in the Mesos UI */
    const char *hostname;     /* optional */
    const char *webui_url;    /* optional */
    const char *principal;    /* optional */
    double failover_timeout;  /* seconds; <= 0 means the default (one week) */
    const char *const *roles; /* NULL-terminated; NULL or empty means {"*"} */
    bool no_checkpoint;       /* checkpoint is true unless this is set */
} mb_framework_info;

/* SUBSCRIBE with capabilities MULTI_ROLE, PARTITION_AWARE, TASK_KILLING_STATE.
 * framework_id NULL on the first subscription; otherwise it is set both at
 * the top level and as framework_info.id (they must be equal). suppressed
 * (NULL-terminated, may be NULL) is sent as subscribe.suppressed_roles: the
 * suppression state does not survive a re-subscribe otherwise. */
json_t *mb_call_subscribe(const mb_framework_info *fi, const char *framework_id,
                          const char *const *suppressed);

/* ACCEPT of offer_ids (all of one agent) with one LAUNCH of n_tis
 * TaskInfos (none: no LAUNCH), as compact JSON text; refuse_seconds < 0
 * omits filters. The TaskInfos are given as the texts their records keep
 * (tis[i], lens[i] bytes) and spliced in as they are: no parse of each, no
 * dump of the whole. Caller frees. */
char *mb_call_accept_text(const char *framework_id, const char *const *offer_ids, size_t n,
                          const char *const *tis, const size_t *lens, size_t n_tis,
                          double refuse_seconds);
json_t *mb_call_decline(const char *framework_id, const char *const *offer_ids, size_t n,
                        double refuse_seconds);
/* roles NULL-terminated; NULL or empty = all subscribed roles. */
json_t *mb_call_revive(const char *framework_id, const char *const *roles);
json_t *mb_call_suppress(const char *framework_id, const char *const *roles);
/* agent_id may be NULL; grace_ms < 0 omits kill_policy. */
json_t *mb_call_kill(const char *framework_id, const char *task_id, const char *agent_id,
                     int64_t grace_ms);
/* uuid exactly as received in the update (base64). */
json_t *mb_call_acknowledge(const char *framework_id, const char *agent_id, const char *task_id,
                            const char *uuid);

typedef struct mb_reconcile_task {
    const char *task_id;
    const char *agent_id; /* may be NULL */
} mb_reconcile_task;

/* Explicit reconciliation of n tasks; n == 0 is implicit reconciliation
 * ("reconcile": {"tasks": []}). */
json_t *mb_call_reconcile(const char *framework_id, const mb_reconcile_task *tasks, size_t n);
json_t *mb_call_teardown(const char *framework_id);
/* A framework message to an executor: data (len bytes) goes base64 in
 * message.data (task shell commands, apis/shell.h). */
json_t *mb_call_message(const char *framework_id, const char *agent_id, const char *executor_id,
                        const char *data, size_t len);

/* ---- resources carved out of an offer -------------------------------------- */

/* What is still free in an offer while tasks are carved out of it: one
 * remaining amount per scalar resource entry and the ports already taken. */
typedef struct mb_offer_left {
    const mb_offer *offer; /* borrowed */
    double *left;          /* per offer->resources entry (scalars) */
    double cpus, mem, disk; /* their totals by name: placement reads them per check */
    size_t n_used_ports;
    uint64_t *used_ports;
} mb_offer_left;

void mb_offer_left_init(mb_offer_left *l, const mb_offer *o);
void mb_offer_left_release(mb_offer_left *l);
/* Remaining total of a scalar resource ("cpus", "mem", "disk"). */
double mb_offer_left_scalar(const mb_offer_left *l, const char *name);
/* Picks n free ports (lowest first) into out without taking them; returns
 * false if the offer has fewer than n free. */
bool mb_offer_left_pick_ports(const mb_offer_left *l, size_t n, uint64_t *out);
/* The same, never picking one of the n_excl ports in excl. */
bool mb_offer_left_pick_ports_but(const mb_offer_left *l, size_t n, const uint64_t *excl,
                                  size_t n_excl, uint64_t *out);
/* True if every one of the n ports is offered and not taken yet. */
bool mb_offer_left_ports_free(const mb_offer_left *l, const uint64_t *ports, size_t n);

/* Takes cpus/mem/disk and the given ports from l and returns the Mesos
 * resources array for them (caller owns): each entry is a copy of the
 * offered entry it comes from (role, allocation_info and reservations kept)
 * with its amount replaced. Returns NULL with err set (and l unchanged) if
 * the offer lacks any of it. Zero amounts are omitted. */
json_t *mb_offer_take(mb_offer_left *l, double cpus, double mem, double disk, const uint64_t *ports,
                      size_t n_ports, cr_err *err);

/* ---- TaskInfo ------------------------------------------------------------------ */

typedef struct mb_task_spec {
    const char *task_id;
    const char *name; /* Singularity uses the request id */
    const char *agent_id;
    json_t *resources; /* borrowed: from mb_offer_take */
    /* Command task (executor_cmd NULL): CommandInfo from these. With
     * arguments non-NULL (even empty), shell is false and argv is
     * {command, arguments...}. */
    const char *command;
    const api_strlist *arguments; /* NULL: shell command */
    bool shell;                   /* used only without arguments */
    const api_strmap *env;        /* CommandInfo.environment (may be NULL) */
    const char *user;             /* CommandInfo.user (may be NULL) */
    const json_t *uris;           /* array of CommandInfo.URI objects, or NULL */
    /* Container images (Docker containerizer's `docker run image value
     * arguments...`, or a Mesos image's entrypoint): shell false, value is
     * command (left out when NULL: the image's entrypoint runs) and the
     * arguments go as given, without command as argv[0]. */
    bool image_argv;
    const json_t *container; /* TaskInfo.container (borrowed), or NULL */
    /* Custom executor (when executor_cmd is set): an ExecutorInfo of type
     * CUSTOM whose command runs executor_cmd with env and uris; the task
     * carries no command. */
    const char *executor_id;
    const char *executor_cmd;
    json_t *executor_resources; /* borrowed, may be NULL */
    const char *data;           /* TaskInfo.data raw bytes (base64-encoded here) */
    size_t data_len;
    int64_t kill_grace_ms;    /* < 0: no kill_policy */
    const api_strmap *labels; /* may be NULL */
} mb_task_spec;

/* Returns a new TaskInfo object (caller owns). */
json_t *mb_task_info(const mb_task_spec *s);

/* Standard base64 with padding. Caller frees. */
char *mb_base64(const void *data, size_t len);
/* Decodes standard base64 (padding optional); NULL when s is not base64.
 * Caller frees; *len gets the byte count (a NUL follows them). */
unsigned char *mb_base64_decode(const char *s, size_t *len);

#endif
