/* SingularityDeploy as a typed struct (reference sheet section 2).
 *
 * Same conventions as apis/request.h: Singularity's JSON names, absent
 * optionals are NULL / empty / has_x == false / enum 0, the encoder writes a
 * canonical fixed key order. Decoding converts the deprecated flat health
 * check fields (healthcheckUri, healthcheckIntervalSeconds,
 * healthcheckTimeoutSeconds -> responseTimeoutSeconds, healthcheckPortIndex,
 * healthCheckProtocol / healthcheckProtocol, healthcheckMaxRetries,
 * healthcheckMaxTotalTimeoutSeconds -> startupTimeoutSeconds) into
 * `healthcheck`; giving both forms is a problem.
 *
 * Sub-objects Corral does not interpret yet (containerInfo, taskEnv,
 * mesosLabels, runImmediately, ...) are kept as JSON (shape-checked) so the
 * round trip stays lossless. */
#ifndef API_DEPLOY_H
#define API_DEPLOY_H

#include "apis/common.h"
#include "apis/request.h"

/* Config defaults Singularity applies when resources are absent. */
#define API_DEFAULT_CPUS      1.0
#define API_DEFAULT_MEMORY_MB 64.0
#define API_DEFAULT_DISK_MB   0.0
/* Validation limits (per instance, and per request = x instances). */
#define API_MAX_CPUS                         50.0
#define API_MAX_MEMORY_MB                    24000.0
#define API_MAX_DISK_MB                      60000.0
#define API_MAX_REQUEST_CPUS                 900.0
#define API_MAX_REQUEST_MEMORY_MB            450000.0
#define API_MAX_REQUEST_DISK_MB              3000000.0
#define API_DEFAULT_DEPLOY_HEALTH_TIMEOUT_S  120
#define API_DEFAULT_CONSIDER_HEALTHY_AFTER_S 5

typedef struct api_resources {
    bool has_cpus;
    double cpus;
    bool has_memoryMb;
    double memoryMb;
    bool has_numPorts;
    int numPorts;
    bool has_diskMb;
    double diskMb;
    json_t *extra;
} api_resources;

/* Mesos fetcher URI ("uris" entries). */
typedef struct api_mesos_artifact {
    char *uri;
    bool has_cache;
    bool cache;
    bool has_executable;
    bool executable;
    bool has_extract;
    bool extract;
    char *outputFile;
    json_t *extra;
} api_mesos_artifact;

/* One struct for the three executorData artifact kinds; the fields a kind
 * does not have stay absent (embedded: content; external: url; s3: s3Bucket,
 * s3ObjectKey; s3ArtifactSignatures add artifactFilename). */
typedef struct api_artifact {
    char *name;
    char *filename;
    char *md5sum;
    char *content; /* base64, as in Singularity's JSON */
    char *url;
    bool has_filesize;
    int64_t filesize;
    char *s3Bucket;
    char *s3ObjectKey;
    char *targetFolderRelativeToTask;
    bool has_isArtifactList;
    bool isArtifactList;
    char *artifactFilename;
    bool has_extract; /* Corral: extract an archive (default by file name) */
    bool extract;
    json_t *extra;
} api_artifact;

typedef struct api_artifacts {
    size_t n;
    api_artifact *v;
} api_artifacts;

typedef struct api_executor_data {
    char *cmd;
    api_strlist extraCmdLineArgs;
    api_artifacts embeddedArtifacts;
    api_artifacts externalArtifacts;
    api_artifacts s3Artifacts;
    api_artifacts s3ArtifactSignatures;
    bool has_successfulExitCodes;
    api_intlist successfulExitCodes; /* default [0] */
    char *user;
    bool has_sigKillProcessesAfterMillis;
    int64_t sigKillProcessesAfterMillis;
    bool has_maxTaskThreads;
    int maxTaskThreads;
    bool has_maxOpenFiles;
    int maxOpenFiles;
    bool has_preserveTaskSandboxAfterFinish;
    bool preserveTaskSandboxAfterFinish;
    bool has_skipLogrotateAndCompress;
    bool skipLogrotateAndCompress;
    char *logrotateFrequency; /* EVERY_MINUTE ... MONTHLY */
    char *loggingTag;
    api_strmap loggingExtraFields;
    char *runningSentinel;
    /* Corral additions, read by corral-executor (docs/executor.md). */
    char *serviceLog;
    char *stderrLog;
    bool has_logMaxBytes;
    int64_t logMaxBytes;
    bool has_logKeep;
    int logKeep;
    api_strlist removeOnFinish;
    api_strmap env;
    json_t *extra;
} api_executor_data;

typedef struct api_healthcheck {
    char *uri;
    bool has_portIndex;
    int portIndex;
    bool has_portNumber;
    int64_t portNumber;
    char *protocol; /* HTTP (default), HTTPS, HTTP2, HTTPS2 */
    char *method;   /* GET (default), POST */
    bool has_startupDelaySeconds;
    int startupDelaySeconds;
    bool has_startupTimeoutSeconds;
    int startupTimeoutSeconds;
    bool has_startupIntervalSeconds;
    int startupIntervalSeconds;
    bool has_intervalSeconds;
    int intervalSeconds;
    bool has_responseTimeoutSeconds;
    int responseTimeoutSeconds;
    bool has_maxRetries;
    int maxRetries;
    api_intlist failureStatusCodes;
    char *healthcheckResultFilePath;
    json_t *extra;
} api_healthcheck;

typedef struct api_canary {
    bool has_enableCanaryDeploy;
    bool enableCanaryDeploy;
    bool has_instanceGroupSize;
    int instanceGroupSize;
    char *acceptanceMode; /* NONE (default), TIMED, CHECKS */
    bool has_waitMillisBetweenGroups;
    int64_t waitMillisBetweenGroups;
    bool has_allowedTasksFailuresPerGroup;
    int allowedTasksFailuresPerGroup;
    bool has_canaryCycleCount;
    int canaryCycleCount;
    json_t *extra;
} api_canary;

typedef struct api_deploy {
    char *requestId;
    char *id;
    char *version;
    bool has_timestamp;
    int64_t timestamp;
    api_strmap metadata;
    char *command;
    api_strlist arguments;
    bool has_shell;
    bool shell;
    char *user;
    api_strmap env;
    json_t *taskEnv; /* {"<instanceNo>": {VAR: value}} */
    size_t n_uris;
    api_mesos_artifact *uris;
    api_resources *resources; /* NULL: absent */
    json_t *containerInfo;    /* SingularityContainerInfo, see sheet 2.3 */
    char *customExecutorCmd;
    char *customExecutorId;
    char *customExecutorSource;
    api_resources *customExecutorResources;
    api_executor_data *executorData;
    api_healthcheck *healthcheck;
    bool has_skipHealthchecksOnDeploy;
    bool skipHealthchecksOnDeploy;
    bool has_deployHealthTimeoutSeconds;
    int64_t deployHealthTimeoutSeconds;
    bool has_considerHealthyAfterRunningForSeconds;
    int64_t considerHealthyAfterRunningForSeconds;
    char *serviceBasePath;
    api_strlist loadBalancerGroups;
    bool has_loadBalancerPortIndex;
    int loadBalancerPortIndex;
    json_t *loadBalancerOptions;
    api_strlist loadBalancerDomains;
    api_strlist loadBalancerAdditionalRoutes;
    char *loadBalancerTemplate;
    char *loadBalancerServiceIdOverride;
    char *loadBalancerUpstreamGroup;
    api_strmap labels;   /* deprecated; only one of labels/mesosLabels */
    json_t *mesosLabels; /* [{key, value}] */
    json_t *taskLabels;  /* deprecated per-instance labels */
    json_t *mesosTaskLabels;
    json_t *runImmediately; /* SingularityRunNowRequest */
    json_t *s3UploaderAdditionalFiles;
    api_canary *canaryDeploySettings;
    bool has_deployInstanceCountPerStep;
    int deployInstanceCountPerStep;
    bool has_deployStepWaitTimeMs;
    int deployStepWaitTimeMs;
    bool has_autoAdvanceDeploySteps;
    bool autoAdvanceDeploySteps;
    bool has_maxTaskRetries;
    int maxTaskRetries;
    /* Corral: as api_request.annotations (corral.io/source, corral.io/commit). */
    api_strmap annotations;
    json_t *extra;
} api_deploy;

/* Decodes (and unless opts->no_validate, validates without a request) a
 * deploy object. With opts->derive_id a missing `id` is derived from the
 * spec's hash (api_deploy_derive_id) before validation. Validation runs even
 * after decoding problems (it skips fields already reported), so one call
 * reports everything. Returns a new deploy (caller frees) when no problem was
 * added, else NULL. */
api_deploy *api_deploy_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);

/* Canonical JSON, caller owns the reference. */
json_t *api_deploy_to_json(const api_deploy *d);

/* Checks every deploy rule; with req (may be NULL) also the rules that
 * depend on the request (requestId match, resources x instances limits,
 * load balancer fields, health-check port index). Returns problems added. */
size_t api_deploy_validate(const api_deploy *d, const api_request *req, const char *prefix,
                           api_problems *probs);

/* Only the rules of api_deploy_validate that depend on the request. */
size_t api_deploy_validate_with_request(const api_deploy *d, const api_request *req,
                                        const char *prefix, api_problems *probs);

/* Length of a derived deploy id (hex characters). */
#define API_DEPLOY_HASH_ID_LEN 16

/* Writes into out (at least API_DEPLOY_HASH_ID_LEN + 1 bytes) the first
 * API_DEPLOY_HASH_ID_LEN hex digits of the SHA-256 of the deploy's canonical
 * JSON with `id` removed and keys sorted. The result satisfies
 * api_deploy_id_valid, and equal specs always give equal ids. */
void api_deploy_derive_id(const api_deploy *d, char *out);

api_deploy *api_deploy_dup(const api_deploy *d);
bool api_deploy_equal(const api_deploy *a, const api_deploy *b);

/* Effective resources: absent values replaced by Singularity's defaults
 * (cpus 1, memoryMb 64, diskMb 0, numPorts 0). */
api_resources api_deploy_eff_resources(const api_deploy *d);

void api_deploy_free(api_deploy *d);

#endif
