/* as_compat: the rest of Singularity's API, for clients that use it.
 *
 * Pure like as_api.h: the caller's parsed request and the replica's cache
 * in, an answer (and for writes the etcd transaction) out; no I/O, no
 * clock; reads never make an etcd round trip (every answer comes from the
 * cache). as_api_handle sends these operations here after it
 * has authorized the caller, so the route's access class is already
 * checked; lists show only the requests the caller may read.
 *
 * Operations (docs/api.md "Singularity compatibility" has the shapes):
 *   GET /api/requests/ids, /api/requests/ids/active       request ids
 *   GET /api/requests/batch?id=a&id=b                    SingularityRequestBatch
 *   GET /api/requests/request/{id}/simple                SingularityRequestWithState
 *   GET /api/requests/crashloops, .../request/{id}/crashloops  CrashLoopInfo
 *   GET /api/requests/lbcleanup, /api/tasks/lbcleanup    load-balancer cleanups
 *   GET /api/tasks/active/states                         task id -> its updates
 *   GET /api/tasks/killed                                SingularityKilledTaskIdRecord
 *   GET /api/tasks/counts/request/{id}                   SingularityTaskCounts
 *   GET /api/tasks/task/{id}/cleanup                     SingularityTaskCleanup
 *   GET /api/history/requests/search?requestIdLike=      request ids
 *   GET /api/history/request/{id}/command-line-args      the run arguments used
 *   GET /api/state/requests/under-provisioned|over-provisioned, /api/state/scheduled-tasks-info
 *   GET /api/track/task/{taskId}, /api/track/run/{requestId}/{runId}  SingularityTaskState
 *   GET /api/configuration/singularity-limits            SingularityLimits
 *   POST /api/logs/search                                SingularityS3SearchResult
 *   GET, POST /api/groups, GET, DELETE /api/groups/group/{id}  request groups
 *                                                        (P/groups/<id>, any caller)
 *   GET /api/openapi.json                                the route table as OpenAPI 3
 *   What Corral does not do, answered as Singularity does when it has none:
 *   GET /api/disasters/stats|active|disabled-actions|firealarm, /api/usage/...,
 *   /api/notifications/allowlist|blocklist, /api/priority/freeze.
 *
 * The writes (groups) return their etcd transaction in *out like as_api's.
 *
 * Ownership follows as_api.h: *out is filled and the caller releases it. */
#ifndef AS_COMPAT_H
#define AS_COMPAT_H

#include <stdbool.h>

#include "apiserver/as_api.h"

/* True for the operations this module answers. */
bool as_compat_op(as_op op);

/* Runs one of them (as_api_handle's contract; the caller authorized it). */
void as_compat_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                      as_result *out);

#endif
