/* A run document: /corral/runs/<requestId>/<runId>, a run-now request of a
 * SCHEDULED job or one run of an ON_DEMAND one (docs/api.md, docs/jobs.md).
 *
 * Written by the API (POST /api/requests/request/<id>/run) and by people
 * (etcdctl put): Singularity's SingularityRunNowRequest fields plus
 * requestId, user and timestamp. The jobs controller reads it; its progress
 * goes to /corral/status/runs/<requestId>/<runId> (api_run_status,
 * apis/status.h).
 *
 * Ownership follows apis/common.h. The codec is table-driven (apis/codec.h):
 * unknown fields are refused unless opts->allow_unknown (then kept in
 * `extra` and written back); the Slave spellings of the attribute
 * overrides are accepted as deprecated aliases. */
#ifndef API_RUN_H
#define API_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "apis/task.h"

typedef struct api_run {
    char *runId;     /* "runId": when present, the key's run id (apis/doc.h) */
    char *requestId; /* "requestId" */
    char *user;      /* "user": who asked */
    bool has_timestamp;
    int64_t timestamp;                          /* "timestamp": epoch ms the API wrote it */
    char *message;                              /* "message" */
    api_strlist commandLineArgs;                /* "commandLineArgs": appended to the command */
    api_strmap envOverrides;                    /* "envOverrides" */
    api_strmap requiredAgentAttributeOverrides; /* "requiredAgentAttributeOverrides"
                                                   (alias requiredSlaveAttributeOverrides) */
    api_strmap allowedAgentAttributeOverrides;  /* "allowedAgentAttributeOverrides"
                                                   (alias allowedSlaveAttributeOverrides) */
    bool has_resources;
    api_task_resources resources; /* "resources": overrides the deploy's; unknown
                                     fields in it are refused (or dropped) */
    bool has_skipHealthchecks;
    bool skipHealthchecks;   /* "skipHealthchecks" */
    char *runAsUserOverride; /* "runAsUserOverride" */
    bool has_runAt;
    int64_t runAt;                     /* "runAt": not before (epoch ms); absent = at once */
    json_t *extraArtifacts;            /* "extraArtifacts": a list, accepted, not used yet */
    json_t *s3UploaderAdditionalFiles; /* "s3UploaderAdditionalFiles": likewise */
    json_t *extra;                     /* unknown fields (allow_unknown) */
} api_run;

/* Decodes and (unless opts->no_validate) validates a run document:
 * requestId and runId (when present) follow their id rules; runAt >= 0; resources cpus and memoryMb
 * > 0, diskMb >= 0, numPorts 0-1000. NULL with problems appended on error; caller frees. */
api_run *api_run_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);
/* Canonical JSON (fields in a fixed order). Caller owns. */
json_t *api_run_to_json(const api_run *r);
/* Appends r's problems at paths under prefix (may be NULL); returns how
 * many. */
size_t api_run_validate(const api_run *r, const char *prefix, api_problems *probs);
void api_run_free(api_run *r);

#endif
