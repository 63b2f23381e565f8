/* store keys: Corral's etcd key layout (docs/etcd-layout.md), one function
 * per key kind. `prefix` is the configured root ("/corral", no trailing
 * slash). Every function returns a new string the caller frees. Ids must be
 * valid (store_key_id_valid); callers validate input ids at the edge.
 *
 *   <p>/requests/<requestId>                      request spec (users, API, GitOps)
 *   <p>/deploys/<requestId>/<deployId>            deploy spec, immutable once written
 *   <p>/status/requests/<requestId>               request status (leader)
 *   <p>/status/deploys/<requestId>/<deployId>     deploy status (leader)
 *   <p>/status/jobs/<requestId>                   scheduled-job status (leader)
 *   <p>/status/runs/<requestId>/<runId>           run status (leader)
 *   <p>/status/pending/<requestId>/<pendingTaskId> why a pending task is not placed (leader)
 *   <p>/tasks/<requestId>/<taskId>                launch intent + last Mesos status (leader)
 *   <p>/pending/<requestId>/<pendingTaskId>       tasks waiting for an offer (leader, API)
 *   <p>/cleanups/<taskId>                         kill intents (API, leader)
 *   <p>/runs/<requestId>/<runId>                  run-now / on-demand runs (API)
 *   <p>/history/tasks/<requestId>/<taskId>        terminal tasks (leader)
 *   <p>/history/deploys/<requestId>/<deployId>    finished deploys (leader)
 *   <p>/history/requests/<requestId>/<eventId>    request events (API: "<ms>-<EVENT>")
 *   <p>/intents/requests/<requestId>/<kind> pause|bounce|exit-cooldown|scale|skip-healthchecks
 * (API) <p>/intents/deploys/<requestId>/<deployId>/<kind>  submit|cancel|update (API)
 *   <p>/intents/agents/<agentId>                  desired agent state (API)
 *   <p>/intents/racks/<rackId>                    desired rack state (API)
 *   <p>/agents/<agentId>                          agent state (leader; decommission: API)
 *   <p>/racks/<rackId>                            rack state (leader; decommission: API)
 *   <p>/framework                                 Mesos framework id (leader)
 *   <p>/leader                                    leader lease (store_leader)
 */
#ifndef STORE_KEYS_H
#define STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define STORE_DEFAULT_PREFIX "/corral"

/* An id is valid when non-empty, at most 200 bytes, printable ASCII without
 * '/', and not "." or "..". */
bool store_key_id_valid(const char *id);

char *store_key_request(const char *prefix, const char *request_id);
char *store_key_deploy(const char *prefix, const char *request_id, const char *deploy_id);
char *store_key_request_status(const char *prefix, const char *request_id);
char *store_key_deploy_status(const char *prefix, const char *request_id, const char *deploy_id);
char *store_key_job_status(const char *prefix, const char *request_id);
char *store_key_run_status(const char *prefix, const char *request_id, const char *run_id);
char *store_key_task(const char *prefix, const char *request_id, const char *task_id);
char *store_key_pending(const char *prefix, const char *request_id, const char *pending_id);
/* Why a pending task could not be placed (the bridge's last offer cycle). */
char *store_key_pending_status(const char *prefix, const char *request_id, const char *pending_id);
char *store_key_cleanup(const char *prefix, const char *task_id);
char *store_key_run(const char *prefix, const char *request_id, const char *run_id);
char *store_key_history_task(const char *prefix, const char *request_id, const char *task_id);
char *store_key_history_deploy(const char *prefix, const char *request_id, const char *deploy_id);
/* event_id should sort in time order ("<epoch ms>-<EVENT>", as the API writes). */
char *store_key_history_request(const char *prefix, const char *request_id, const char *event_id);
char *store_key_intent_request(const char *prefix, const char *request_id, const char *kind);
char *store_key_intent_deploy(const char *prefix, const char *request_id, const char *deploy_id,
                              const char *kind);
char *store_key_intent_agent(const char *prefix, const char *agent_id);
char *store_key_intent_rack(const char *prefix, const char *rack_id);
char *store_key_agent(const char *prefix, const char *agent_id);
char *store_key_rack(const char *prefix, const char *rack_id);
char *store_key_framework(const char *prefix);
char *store_key_leader(const char *prefix);

/* The kinds, for prefixes and parsing. */
typedef enum {
    STORE_KEY_UNKNOWN,
    STORE_KEY_REQUEST,
    STORE_KEY_DEPLOY,
    STORE_KEY_REQUEST_STATUS,
    STORE_KEY_DEPLOY_STATUS,
    STORE_KEY_JOB_STATUS,
    STORE_KEY_RUN_STATUS,
    STORE_KEY_TASK,
    STORE_KEY_PENDING,
    STORE_KEY_CLEANUP,
    STORE_KEY_RUN,
    STORE_KEY_HISTORY_TASK,
    STORE_KEY_HISTORY_DEPLOY,
    STORE_KEY_HISTORY_REQUEST,
    STORE_KEY_AGENT,
    STORE_KEY_RACK,
    STORE_KEY_FRAMEWORK,
    STORE_KEY_LEADER,
    STORE_KEY_INTENT_REQUEST,
    STORE_KEY_INTENT_DEPLOY,
    STORE_KEY_INTENT_AGENT,
    STORE_KEY_INTENT_RACK,
    STORE_KEY__COUNT
} store_key_kind;

/* The prefix to list or watch every key of a kind ("/corral/deploys/"),
 * or of one request's keys when request_id is given and the kind is keyed
 * by request ("/corral/deploys/web/"). Exact keys (framework, leader) return
 * the key itself. Kinds nest ("status/requests" lies under neither
 * "requests/" nor another kind), so kind prefixes never overlap. */
char *store_key_kind_prefix(const char *prefix, store_key_kind kind, const char *request_id);
/* "requests", "status/deploys", ... */
const char *store_key_kind_name(store_key_kind kind);

/* A key taken apart. Strings point into `buf` (owned by the struct). */
typedef struct store_key_parts {
    store_key_kind kind;
    const char *id1; /* requestId, or taskId/agentId/rackId for one-level kinds */
    const char *id2; /* deployId, taskId, runId, ... or NULL */
    const char *id3; /* intents/deploys: the intent kind; else NULL */
    char *buf;
} store_key_parts;

/* Parses key under prefix. Returns 0, or -1 (kind UNKNOWN) when the key is
 * not a Corral key of a known shape. Release with store_key_parts_release. */
int store_key_parse(const char *prefix, const char *key, store_key_parts *out);
void store_key_parts_release(store_key_parts *p);

#endif
