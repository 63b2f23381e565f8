/* as_logs: task logs beyond the sandbox API.
 *
 * 1. The S3 log API (Singularity's S3LogResource), pure, called by
 *    as_api.c: GET /api/logs/task/{taskId}, /api/logs/request/{requestId},
 *    /api/logs/request/{requestId}/deploy/{deployId} list the files the
 *    node agents uploaded (their upload records, P/logs/<requestId>/<taskId>/<file>,
 *    docs/nodeagent.md) as SingularityS3Log objects with presigned GET
 *    URLs. The node agent writes those records through
 *    PUT /api/nodeagent/uploads/{taskId}/{fileName} and reads a task's back
 *    with GET /api/nodeagent/uploads/{taskId}.
 *
 * 2. The follow proxy (I/O): GET /api/logs/task/{taskId}/follow streams a
 *    log of a task from the node agent on the task's host
 *    (http://<task hostname>:<CORRAL_NODEAGENT_PORT, 7100>/v1/tasks/<id>/follow,
 *    or CORRAL_NODEAGENT_URL for every host), chunk by chunk as the node
 *    agent sends them. The node agent is asked first whether it serves the
 *    task (GET /v1/tasks/<id>/files): only then does the reply start, so
 *    a quiet log still gets its headers at once. The stream ends when the node agent ends it (the
 *    task's logs are final), when the task has been over for a few seconds
 *    in this replica's cache, or when the client goes away. Every failure
 *    to reach or use the node agent is a 502, so clients can fall back to
 *    polling the sandbox API.
 *
 * Settings come from corrald's environment (read once, at as_logs_new and
 * by as_logs_s3_from_env): CORRAL_NODEAGENT_PORT, CORRAL_NODEAGENT_URL,
 * CORRAL_S3_ENDPOINT, CORRAL_S3_PATH_STYLE, AWS_REGION (AWS_DEFAULT_REGION),
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * CORRAL_S3_PRESIGN_SECONDS (900): the same names corral-executor reads. */
#ifndef AS_LOGS_H
#define AS_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/s3.h"

struct event_base;
struct evhttp_request;

/* ---- S3 log API (pure) ----------------------------------------------------- */

/* The upload records' settings for presigning. Strings borrowed. */
typedef struct as_logs_s3 {
    cr_s3_cfg s3;      /* endpoint, region, credentials, path style */
    int64_t expires_s; /* presigned URL lifetime (900) */
} as_logs_s3;

/* Fills *out from the environment (pointers into it: valid while the
 * environment is unchanged). */
void as_logs_s3_from_env(as_logs_s3 *out);

/* The uploaded files of task tid, request rid (tid NULL), or of a deploy
 * (did set): SingularityS3Log objects {key, lastModified, size, getUrl,
 * downloadUrl, startTime?, endTime?, taskId, fileName}, newest first.
 * Only records in state "UPLOADED" are listed. now: epoch ms (the URLs'
 * signing time). Caller owns. */
json_t *as_logs_list(const char *prefix, const as_cache *c, const as_logs_s3 *cfg, const char *rid,
                     const char *tid, const char *did, int64_t now);

/* The same with Singularity's query parameters: start/end (epoch ms, 0 =
 * open) bound lastModified; urls false ("list=true") leaves the URLs out;
 * max > 0 keeps that many (maxPerPage). */
json_t *as_logs_list_opts(const char *prefix, const as_cache *c, const as_logs_s3 *cfg,
                          const char *rid, const char *tid, const char *did, int64_t now,
                          int64_t start, int64_t end, bool urls, size_t max);

/* The upload records of task tid, whatever their state (the node agent's
 * view after a restart): [{fileName, ...record}], with their
 * modRevision. Caller owns. */
json_t *as_logs_records(const char *prefix, const as_cache *c, const char *rid, const char *tid);

/* Upload records kept per request: writing a new one beyond this drops the
 * oldest UPLOADED ones (their S3 objects stay; a bucket lifecycle rule
 * expires those), so etcd stays bounded as task history is. */
#define AS_LOGS_MAX_RECORDS 10000

/* The keys of request rid's oldest UPLOADED records (by uploadedAt, then
 * key) to delete so that, with one more, at most max remain. Returns a
 * JSON array of key strings (caller owns; empty when under the bound). */
json_t *as_logs_evict(const char *prefix, const as_cache *c, const char *rid, size_t max);

/* Checks an upload record body for PUT /api/nodeagent/uploads/{taskId}/{fileName}:
 * {state: "UPLOADING"|"UPLOADED", bucket, key, size, host, ...}. NULL when
 * fine, else a message (static). */
const char *as_logs_check_record(const json_t *rec);

/* ---- follow proxy (I/O) ------------------------------------------------------ */

typedef struct as_logs as_logs;

/* Delivers an error answer (status and JSON body, borrowed), or, with body
 * NULL, reports that a stream answered status (for metrics). */
typedef void (*as_logs_reply)(void *arg, struct evhttp_request *req, int64_t started, int status,
                              const json_t *body);

as_logs *as_logs_new(struct event_base *base, cr_http *http, const as_cache *cache,
                     const char *prefix, cr_log *log, as_logs_reply reply, void *arg);
/* Ends every stream (their clients get the end of the reply) and frees.
 * NULL is a no-op. */
void as_logs_free(as_logs *l);

/* Serves GET /api/logs/task/{taskId}/follow, input already checked. */
void as_logs_follow(as_logs *l, struct evhttp_request *req, const as_req *ar, int64_t started);

/* Streams open (for metrics). */
size_t as_logs_streams(const as_logs *l);

#endif
