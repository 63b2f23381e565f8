/* apis keys: Corral's etcd key layout (docs/etcd-layout.md), one function
 * per key kind. This file and keys.c are the only code that knows the
 * layout: everything else builds keys with api_key_*, lists and watches with
 * api_key_kind_prefix, and takes keys apart with api_key_parse
 * (hack/check-keys.sh finds key format strings elsewhere).
 *
 * `prefix` is the configured root ("/corral", no trailing slash). Every
 * builder returns a new string the caller frees. Ids must be valid
 * (api_key_id_valid); callers validate input ids at the edge.
 *
 *   <p>/requests/<requestId>                         request spec (users, API, GitOps)
 *   <p>/deploys/<requestId>/<deployId>               deploy spec, immutable once written
 *   <p>/status/requests/<requestId>                  request status (leader)
 *   <p>/status/deploys/<requestId>/<deployId>        deploy status (leader)
 *   <p>/status/jobs/<requestId>                      scheduled-job status (leader)
 *   <p>/status/runs/<requestId>/<runId>              run status (leader)
 *   <p>/status/pending/<requestId>/<pendingTaskId>   why a pending task is not placed (leader)
 *   <p>/tasks/<requestId>/<taskId>                   launch intent + last Mesos status (leader)
 *   <p>/pending/<requestId>/<pendingTaskId>          tasks waiting for an offer (leader, API)
 *   <p>/cleanups/<taskId>                            kill intents (API, leader)
 *   <p>/runs/<requestId>/<runId>                     run-now / on-demand runs (API)
 *   <p>/history/tasks/<requestId>/<taskId>           terminal tasks (leader)
 *   <p>/history/deploys/<requestId>/<deployId>       finished deploys (leader)
 *   <p>/history/requests/<requestId>/<ms>-<EVENT>    request events (API)
 *   <p>/logs/<requestId>/<taskId>/<fileName>         a log file's S3 upload record
 *                                                    (node agents, through the API)
 *   <p>/nodeagent/tasks/<requestId>/<taskId>         what a node agent did to a task
 *                                                    (an OOM kill's reason; API)
 *   <p>/intents/requests/<requestId>/<kind>          pause|bounce|exit-cooldown|scale|
 *                                                    skip-healthchecks (API)
 *   <p>/intents/deploys/<requestId>/<deployId>/<kind> submit|cancel|update (API)
 *   <p>/intents/agents/<agentId>                     desired agent state (API)
 *   <p>/intents/racks/<rackId>                       desired rack state (API)
 *   <p>/agents/<agentId>                             agent state (leader; decommission: API)
 *   <p>/racks/<rackId>                               rack state (leader; decommission: API)
 *   <p>/framework                                    Mesos framework id (leader)
 *   <p>/status/framework                             the Mesos bridge's status (leader)
 *   <p>/leader                                       leader lease (store_leader)
 *   <p>/schema                                       layout version (leader; apis/schema.h)
 *   <p>/auth/tokens/<sha256>                         API token of a user (API, admins)
 *   <p>/auth/login-codes/<sha256>                    one-time UI login code (API)
 *   <p>/users/settings/<userId>                      a user's UI settings: stars (API)
 *   <p>/inactive/<host>                              a host marked inactive (API)
 *   <p>/sources/<name>                               a GitOps Source (users, API)
 *   <p>/status/sources/<name>                        what a Source synced (leader)
 *   <p>/intents/sources/<name>                       sync a Source now (API, webhook)
 *   <p>/status/lb/<requestId>                        load-balancer state of a request (leader)
 *   <p>/lbcleanups/<requestId>/<taskId>              kills waiting for the LB removal (leader)
 *   <p>/webhooks/<webhookId>                         a webhook (API, admins; apis/webhook.h)
 *   <p>/status/webhooks/<webhookId>                  its cursor and counters (leader)
 *   <p>/queues/webhooks/<webhookId>/<seq>            an event waiting for delivery (leader)
 *   <p>/shells/<requestId>/<taskId>/<shellId>        a task shell command and its updates
 *                                                    (API creates, leader updates; apis/shell.h)
 */
#ifndef API_KEYS_H
#define API_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_DEFAULT_PREFIX "/corral"

/* The longest key component: Mesos' limit for its ids (task ids are one). */
#define API_KEY_MAX_ID 255

/* A key component is valid when non-empty, at most API_KEY_MAX_ID bytes of
 * printable ASCII other than space, '/' and '\\', and not "." or "..": what
 * api_key_parse accepts. It is the envelope of every id rule
 * (api_request_id_valid and the others in apis/common.h): each kind of id
 * has its own, stricter function, which the decoder of each key applies
 * (apis/doc.h). */
bool api_key_id_valid(const char *id);

char *api_key_request(const char *prefix, const char *request_id);
char *api_key_deploy(const char *prefix, const char *request_id, const char *deploy_id);
char *api_key_request_status(const char *prefix, const char *request_id);
char *api_key_deploy_status(const char *prefix, const char *request_id, const char *deploy_id);
char *api_key_job_status(const char *prefix, const char *request_id);
char *api_key_run_status(const char *prefix, const char *request_id, const char *run_id);
char *api_key_task(const char *prefix, const char *request_id, const char *task_id);
char *api_key_pending(const char *prefix, const char *request_id, const char *pending_id);
/* Why a pending task could not be placed (the bridge's last offer cycle). */
char *api_key_pending_status(const char *prefix, const char *request_id, const char *pending_id);
char *api_key_cleanup(const char *prefix, const char *task_id);
char *api_key_run(const char *prefix, const char *request_id, const char *run_id);
char *api_key_history_task(const char *prefix, const char *request_id, const char *task_id);
char *api_key_history_deploy(const char *prefix, const char *request_id, const char *deploy_id);
/* event_id should sort in time order ("<epoch ms>-<EVENT>", as
 * api_key_history_request_event writes). */
char *api_key_history_request(const char *prefix, const char *request_id, const char *event_id);
/* The upload record of one log file of a task (docs/nodeagent.md). */
char *api_key_log_upload(const char *prefix, const char *request_id, const char *task_id,
                         const char *file_name);
/* A node agent's note on a task (docs/nodeagent.md): why it killed it. */
char *api_key_nodeagent_task(const char *prefix, const char *request_id, const char *task_id);
/* The prefix of every upload record of one task ("<p>/logs/<rid>/<tid>/"). */
char *api_key_log_upload_task_prefix(const char *prefix, const char *request_id,
                                     const char *task_id);
/* The key of a request event at epoch ms `at` of type `event` ("CREATED",
 * "UPDATED", ...): "<p>/history/requests/<requestId>/<ms>-<EVENT>", the ms
 * zero-padded to 13 digits so keys sort in time order. */
char *api_key_history_request_event(const char *prefix, const char *request_id, int64_t at,
                                    const char *event);
char *api_key_intent_request(const char *prefix, const char *request_id, const char *kind);
char *api_key_intent_deploy(const char *prefix, const char *request_id, const char *deploy_id,
                            const char *kind);
char *api_key_intent_agent(const char *prefix, const char *agent_id);
char *api_key_intent_rack(const char *prefix, const char *rack_id);
char *api_key_agent(const char *prefix, const char *agent_id);
char *api_key_rack(const char *prefix, const char *rack_id);
char *api_key_framework(const char *prefix);
/* The Mesos bridge's status (api_framework_status, apis/status.h). */
char *api_key_framework_status(const char *prefix);
char *api_key_leader(const char *prefix);
/* The layout version and its writers (apis/schema.h). */
char *api_key_schema(const char *prefix);
/* token_hash: api_token_hash of the token's text (apis/token.h). */
char *api_key_auth_token(const char *prefix, const char *token_hash);
/* code_hash: the hex SHA-256 of a one-time login code (apiserver/as_user.h). */
char *api_key_login_code(const char *prefix, const char *code_hash);
/* user_id: api_user_id_valid (apis/token.h). */
char *api_key_user_settings(const char *prefix, const char *user_id);
/* host: a hostname marked inactive (GET/POST /api/inactive, apis/machine.h). */
char *api_key_inactive_host(const char *prefix, const char *host);
/* GitOps Sources (apis/source.h): the spec, its status, its sync trigger. */
char *api_key_source(const char *prefix, const char *name);
char *api_key_source_status(const char *prefix, const char *name);
char *api_key_intent_source(const char *prefix, const char *name);
/* The load-balancer state of a request (controllers/lb.h, docs/loadbalancing.md). */
char *api_key_lb_status(const char *prefix, const char *request_id);
/* A kill that waits until the task is out of the load balancer and drained. */
char *api_key_lb_cleanup(const char *prefix, const char *request_id, const char *task_id);
/* A webhook, its status, and one queued event (apis/webhook.h). */
char *api_key_webhook(const char *prefix, const char *webhook_id);
char *api_key_webhook_status(const char *prefix, const char *webhook_id);
/* The event of the change of object_key at etcd revision `revision`:
 * "<p>/queues/webhooks/<id>/<revision as 16 hex digits>-<16 hex digits of
 * a hash of object_key>", so a webhook's queue sorts in revision order and
 * one change has one key. api_key_kind_prefix(p, API_KEY_WEBHOOK_EVENT, id)
 * lists one webhook's queue. */
/* A request group (Singularity's /api/groups: {id, requestIds, metadata}). */
char *api_key_request_group(const char *prefix, const char *group_id);
char *api_key_webhook_event(const char *prefix, const char *webhook_id, int64_t revision,
                            const char *object_key);

/* A task shell command (apis/shell.h); shell_id: api_shell_id. */
char *api_key_shell(const char *prefix, const char *request_id, const char *task_id,
                    const char *shell_id);

/* The kinds, for prefixes and parsing. */
typedef enum {
    API_KEY_UNKNOWN,
    API_KEY_REQUEST,
    API_KEY_DEPLOY,
    API_KEY_REQUEST_STATUS,
    API_KEY_DEPLOY_STATUS,
    API_KEY_JOB_STATUS,
    API_KEY_RUN_STATUS,
    API_KEY_PENDING_STATUS,
    API_KEY_TASK,
    API_KEY_PENDING,
    API_KEY_CLEANUP,
    API_KEY_RUN,
    API_KEY_HISTORY_TASK,
    API_KEY_HISTORY_DEPLOY,
    API_KEY_HISTORY_REQUEST,
    API_KEY_LOG_UPLOAD,
    API_KEY_NODEAGENT_TASK,
    API_KEY_AGENT,
    API_KEY_RACK,
    API_KEY_FRAMEWORK,
    API_KEY_LEADER,
    API_KEY_INTENT_REQUEST,
    API_KEY_INTENT_DEPLOY,
    API_KEY_INTENT_AGENT,
    API_KEY_INTENT_RACK,
    API_KEY_AUTH_TOKEN,
    API_KEY_FRAMEWORK_STATUS,
    API_KEY_LOGIN_CODE,
    API_KEY_USER_SETTINGS,
    API_KEY_INACTIVE_HOST,
    API_KEY_SCHEMA,
    API_KEY_SOURCE,
    API_KEY_SOURCE_STATUS,
    API_KEY_INTENT_SOURCE,
    API_KEY_LB_STATUS,
    API_KEY_LB_CLEANUP,
    API_KEY_WEBHOOK,
    API_KEY_WEBHOOK_STATUS,
    API_KEY_WEBHOOK_EVENT,
    API_KEY_REQUEST_GROUP,
    API_KEY_SHELL,
    API_KEY__COUNT
} api_key_kind;

/* The prefix to list or watch every key of a kind ("/corral/deploys/"),
 * or of one request's keys when request_id is given and the kind is keyed
 * by request ("/corral/deploys/web/"). Exact keys (framework, leader) return
 * the key itself; API_KEY_UNKNOWN returns everything under the root
 * ("/corral/"). Kinds nest ("status/requests" lies under neither
 * "requests/" nor another kind), so kind prefixes never overlap. */
char *api_key_kind_prefix(const char *prefix, api_key_kind kind, const char *request_id);
/* "requests", "status/deploys", ... ("" for API_KEY_UNKNOWN). Static. */
const char *api_key_kind_name(api_key_kind kind);
/* The kind's key below the prefix with its ids as placeholders, as
 * docs/etcd-layout.md writes it: "status/deploys/<requestId>/<deployId>",
 * "framework" ("" for API_KEY_UNKNOWN). Static. */
const char *api_key_kind_pattern(api_key_kind kind);

/* A key taken apart. Strings point into `buf` (owned by the struct). */
typedef struct api_key_parts {
    api_key_kind kind;
    const char *id1; /* requestId, or taskId/agentId/rackId for one-level kinds */
    const char *id2; /* deployId, taskId, runId, ... or NULL */
    const char *id3; /* intents/deploys: the intent kind; else NULL */
    char *buf;
} api_key_parts;

/* Parses key under prefix. Returns 0, or -1 (kind UNKNOWN) when the key is
 * not a Corral key of a known shape. Release with api_key_parts_release. */
int api_key_parse(const char *prefix, const char *key, api_key_parts *out);
void api_key_parts_release(api_key_parts *p);

#endif
