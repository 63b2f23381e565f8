/* as_model: reading Corral's documents out of the cache and shaping them as
 * Singularity's response objects. Internal to apiserver/; pure.
 *
 * Every function returning json_t * returns a new reference the caller owns;
 * every const json_t * is borrowed from the cache. */
#ifndef AS_MODEL_H
#define AS_MODEL_H

#include <stdbool.h>

#include <jansson.h>

#include "apis/keys.h"
#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"

/* String field of an object, or NULL. */
const char *as_jstr(const json_t *o, const char *field);
/* Task id string of a task/cleanup document ("taskId" object's "id" or a
 * plain string). */
const char *as_doc_task_id(const json_t *doc);

/* The request id a task id names ("<requestId>-<deployId>-<startedAt>-
 * <instanceNo>-<host>-<rackId>": the text before the fifth '-' from the
 * right), or NULL. Caller frees. */
char *as_m_task_request_id(const char *task_id);

/* The request document, borrowed, or NULL. */
const json_t *as_m_request(const as_api_config *cfg, const as_cache *c, const char *rid);
const json_t *as_m_request_status(const as_api_config *cfg, const as_cache *c, const char *rid);
const json_t *as_m_deploy(const as_api_config *cfg, const as_cache *c, const char *rid,
                          const char *did);
const json_t *as_m_deploy_status(const as_api_config *cfg, const as_cache *c, const char *rid,
                                 const char *did);
const json_t *as_m_intent(const as_api_config *cfg, const as_cache *c, const char *rid,
                          const char *name);
/* A machine's observed document and its desired-state intent, borrowed, or
 * NULL. kind is API_KEY_AGENT or API_KEY_RACK. */
const json_t *as_m_machine(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                           const char *id);
const json_t *as_m_machine_intent(const as_api_config *cfg, const as_cache *c, api_key_kind kind,
                                  const char *id);

/* RequestState name: the controllers' status if written, else derived from
 * intents (PAUSED while a pause intent exists, else ACTIVE). */
const char *as_m_request_state(const as_api_config *cfg, const as_cache *c, const char *rid);
/* Active deploy id from status, or NULL. */
const char *as_m_active_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid);
/* The request's unfinished deploy: status pendingDeployId if set, else the
 * newest deploy document that is neither active nor in a terminal deploy
 * state, nor cancelled. NULL if none. */
const char *as_m_pending_deploy_id(const as_api_config *cfg, const as_cache *c, const char *rid);
bool as_m_deploy_state_terminal(const char *state);

/* SingularityDeployMarker for rid/did (null if no such deploy). */
json_t *as_m_deploy_marker(const as_api_config *cfg, const as_cache *c, const char *rid,
                           const char *did);
/* SingularityRequestParent, or NULL if the request does not exist. */
json_t *as_m_request_parent(const as_api_config *cfg, const as_cache *c, const char *rid);
/* SingularityTaskIdsByStatus. */
json_t *as_m_task_ids_by_status(const as_api_config *cfg, const as_cache *c, const char *rid);
/* Its healthy plus notYetHealthy count (active tasks not being cleaned),
 * without building it. */
int as_m_running_tasks(const as_api_config *cfg, const as_cache *c, const char *rid);

/* Task views. */
bool as_m_task_active(const json_t *task);
/* SingularityTask shape built from a task document (adds taskRequest). */
json_t *as_m_task_view(const as_api_config *cfg, const as_cache *c, const json_t *task);
/* SingularityTaskRequest {request, deploy, pendingTask} for a pending doc. */
json_t *as_m_task_request(const as_api_config *cfg, const as_cache *c, const json_t *pending);
/* The task document (active or history) with id tid: looks it up under
 * tasks/<requestId>/ then history/tasks/<requestId>/ using the request id
 * parsed from the task id. Sets *history. NULL if unknown. */
const json_t *as_m_find_task(const as_api_config *cfg, const as_cache *c, const char *tid,
                             bool *history);

/* SingularityTaskHistory {task, taskUpdates, directory, containerId, ...}. */
json_t *as_m_task_history(const as_api_config *cfg, const as_cache *c, const json_t *task);
/* SingularityTaskIdHistory {taskId, updatedAt, lastTaskState, runId}. */
json_t *as_m_task_id_history(const json_t *task);

#endif
