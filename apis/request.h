/* SingularityRequest as a typed struct (reference sheet section 1.4).
 *
 * JSON field names are exactly Singularity's. Decoding accepts the deprecated
 * aliases (slavePlacement, requiredSlaveAttributes, allowedSlaveAttributes,
 * slaveAttributeMinimums, hideEvenNumberAcrossRacks, SPREAD_ALL_SLAVES) and
 * the legacy `daemon` flag, and always leaves `type` set: when requestType is
 * absent it is derived (schedule -> SCHEDULED; daemon=false -> ON_DEMAND;
 * loadBalanced -> SERVICE; else WORKER). The encoder writes canonical names
 * only, in a fixed key order, so equal requests encode to equal bytes.
 *
 * Absent optional fields: NULL strings, empty lists/maps, has_x == false,
 * enums == 0 (*_UNSET). Defaults are not filled in by the decoder (so a
 * round trip is lossless); use the api_request_eff_* helpers or
 * api_request_apply_defaults() for effective values. */
#ifndef API_REQUEST_H
#define API_REQUEST_H

#include "apis/common.h"

typedef enum {
    API_REQUEST_TYPE_UNSET = 0,
    API_SERVICE,
    API_WORKER,
    API_SCHEDULED,
    API_ON_DEMAND,
    API_RUN_ONCE,
} api_request_type;

typedef enum {
    API_SCHEDULE_TYPE_UNSET = 0,
    API_SCHEDULE_CRON,
    API_SCHEDULE_QUARTZ,
    API_SCHEDULE_RFC5545,
} api_schedule_type;

typedef enum {
    API_PLACEMENT_UNSET = 0,
    API_PLACEMENT_SEPARATE,
    API_PLACEMENT_OPTIMISTIC,
    API_PLACEMENT_GREEDY,
    API_PLACEMENT_SEPARATE_BY_DEPLOY,
    API_PLACEMENT_SEPARATE_BY_REQUEST,
    API_PLACEMENT_SPREAD_ALL_AGENTS, /* alias SPREAD_ALL_SLAVES */
} api_agent_placement;

/* Singularity's limits and defaults used by validation (section 1.4). */
#define API_MAX_INSTANCES     25
#define API_DEFAULT_INSTANCES 1

typedef struct api_request {
    char *id;
    api_request_type type; /* "requestType"; never UNSET after decoding */
    api_strlist owners;
    bool has_instances;
    int instances;
    bool has_maxScale;
    int maxScale;
    bool has_numRetriesOnFailure;
    int numRetriesOnFailure;
    char *schedule;
    char *quartzSchedule;
    api_schedule_type scheduleType;
    char *scheduleTimeZone;
    bool has_scheduledExpectedRuntimeMillis;
    int64_t scheduledExpectedRuntimeMillis;
    bool has_waitAtLeastMillisAfterTaskFinishesForReschedule;
    int64_t waitAtLeastMillisAfterTaskFinishesForReschedule;
    bool has_killOldNonLongRunningTasksAfterMillis;
    int64_t killOldNonLongRunningTasksAfterMillis;
    bool has_taskExecutionTimeLimitMillis;
    int64_t taskExecutionTimeLimitMillis;
    /* Corral: a SCHEDULED fire missed by more than this (e.g. while no
     * leader ran) is skipped, like Kubernetes' CronJob field of that name. */
    bool has_startingDeadlineSeconds;
    int64_t startingDeadlineSeconds;
    /* Corral: how long a task Mesos reports TASK_UNREACHABLE or TASK_UNKNOWN
     * is held (it may still run) before it is given up and replaced for
     * good; absent: corrald's --unreachable-timeout. 0 = not held. */
    bool has_unreachableTimeoutSeconds;
    int64_t unreachableTimeoutSeconds;
    bool has_loadBalanced;
    bool loadBalanced;
    bool has_rackSensitive;
    bool rackSensitive;
    api_strlist rackAffinity;
    api_agent_placement agentPlacement; /* alias slavePlacement */
    api_strmap requiredAgentAttributes; /* alias requiredSlaveAttributes */
    api_strmap allowedAgentAttributes;  /* alias allowedSlaveAttributes */
    json_t *agentAttributeMinimums;     /* {attr: {value: int}}; alias slaveAttributeMinimums */
    char *requiredRole;
    bool has_maxTasksPerOffer;
    int maxTasksPerOffer;
    bool has_allowBounceToSameHost;
    bool allowBounceToSameHost;
    bool has_skipHealthchecks;
    bool skipHealthchecks;
    bool has_bounceAfterScale;
    bool bounceAfterScale;
    char *group;
    api_strlist readWriteGroups;
    api_strlist readOnlyGroups;
    json_t *actionPermissions;           /* {group: [UserFacingAction...]} */
    json_t *emailConfigurationOverrides; /* {EmailType: [OWNERS|ACTION_TAKER|ADMINS]} */
    char *taskLogErrorRegex;
    bool has_taskLogErrorRegexCaseSensitive;
    bool taskLogErrorRegexCaseSensitive;
    bool has_taskPriorityLevel;
    double taskPriorityLevel;
    bool has_hideEvenNumberAcrossRacksHint; /* alias hideEvenNumberAcrossRacks */
    bool hideEvenNumberAcrossRacksHint;
    char *dataCenter;
    bool has_largeScaleDownAcknowledged;
    bool largeScaleDownAcknowledged;
    /* Corral: who manages the request and why, e.g. the GitOps Source and
     * commit that wrote it (corral.io/source, corral.io/commit: gitops.md). */
    api_strmap annotations;
    json_t *extra; /* unknown fields kept with allow_unknown; NULL otherwise */
} api_request;

/* "SERVICE" etc.; NULL for UNSET. Parse returns UNSET if unknown. */
const char *api_request_type_name(api_request_type t);
api_request_type api_request_type_parse(const char *s);
const char *api_schedule_type_name(api_schedule_type t);
const char *api_agent_placement_name(api_agent_placement p);

/* Singularity's three flags per type (section 1.2). */
bool api_request_type_long_running(api_request_type t);   /* SERVICE, WORKER */
bool api_request_type_always_running(api_request_type t); /* + SCHEDULED */
bool api_request_type_deployable(api_request_type t);     /* SERVICE, WORKER */

/* Decodes (and unless opts->no_validate, validates) a request object. Every
 * problem is appended to probs (paths prefixed with opts->path_prefix).
 * Returns a new request the caller frees with api_request_free when there
 * was no problem, else NULL. opts may be NULL (strict, validate). Validation
 * runs even after decoding problems (skipping fields already reported). */
api_request *api_request_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs);

/* Canonical JSON: fixed key order, canonical names, absent fields omitted.
 * Returns a new reference the caller owns. */
json_t *api_request_to_json(const api_request *r);

/* Checks every rule of the sheet's request validation that needs no other
 * object; appends problems (paths prefixed by prefix, may be NULL). Returns
 * the number of problems added. */
size_t api_request_validate(const api_request *r, const char *prefix, api_problems *probs);

/* Deep copy via the canonical encoding. Caller frees. */
api_request *api_request_dup(const api_request *r);
/* True if both encode to the same canonical JSON. */
bool api_request_equal(const api_request *a, const api_request *b);

/* Fills every absent field that has a Singularity default (instances 1,
 * agentPlacement GREEDY, scheduleType CRON for schedules, taskPriorityLevel
 * by type, loadBalanced/rackSensitive/skipHealthchecks false, ...). */
void api_request_apply_defaults(api_request *r);

/* Effective values (default when absent). */
int api_request_eff_instances(const api_request *r);
double api_request_eff_priority(const api_request *r);

void api_request_free(api_request *r);

#endif
