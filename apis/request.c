/* SingularityRequest codec, defaults and validation; see request.h. */
#include "apis/request.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "apis/codec.h"
#include "apis/schedule.h"
#include "base/err.h"
#include "base/xalloc.h"

static const char *const type_names[] = {NULL,        "SERVICE",   "WORKER",
                                         "SCHEDULED", "ON_DEMAND", "RUN_ONCE"};
static const api_enum type_enum = {type_names, 5, NULL};
static const char *const sched_names[] = {NULL, "CRON", "QUARTZ", "RFC5545"};
static const api_enum sched_enum = {sched_names, 3, NULL};
static const char *const placement_names[] = {NULL,
                                              "SEPARATE",
                                              "OPTIMISTIC",
                                              "GREEDY",
                                              "SEPARATE_BY_DEPLOY",
                                              "SEPARATE_BY_REQUEST",
                                              "SPREAD_ALL_AGENTS"};
static const char *const placement_aliases[] = {
    NULL, NULL, NULL, NULL, NULL, NULL, "SPREAD_ALL_SLAVES"};
static const api_enum placement_enum = {placement_names, 6, placement_aliases};

#define R(f)   offsetof(api_request, f)
#define HAS(f) R(has_##f)
#define F_STR(n)                                       \
    {                                                  \
#n, AF_STR, R(n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define F_BOOL(n)                                    \
    {                                                \
#n, AF_BOOL, R(n), HAS(n), NULL, NULL, 0, -1 \
    }
#define F_INT(n)                                    \
    {                                               \
#n, AF_INT, R(n), HAS(n), NULL, NULL, 0, -1 \
    }
#define F_LONG(n)                                    \
    {                                                \
#n, AF_LONG, R(n), HAS(n), NULL, NULL, 0, -1 \
    }
#define F_LIST(n)                                          \
    {                                                      \
#n, AF_STRLIST, R(n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }

static const api_field request_fields[] = {
    F_STR(id),
    {"requestType", AF_ENUM, R(type), AF_NO_HAS, NULL, &type_enum, 0, -1},
    F_LIST(owners),
    F_INT(instances),
    F_INT(maxScale),
    F_INT(numRetriesOnFailure),
    F_STR(schedule),
    F_STR(quartzSchedule),
    {"scheduleType", AF_ENUM, R(scheduleType), AF_NO_HAS, NULL, &sched_enum, 0, -1},
    F_STR(scheduleTimeZone),
    F_LONG(scheduledExpectedRuntimeMillis),
    F_LONG(waitAtLeastMillisAfterTaskFinishesForReschedule),
    F_LONG(killOldNonLongRunningTasksAfterMillis),
    F_LONG(taskExecutionTimeLimitMillis),
    F_LONG(startingDeadlineSeconds),
    F_LONG(unreachableTimeoutSeconds),
    F_BOOL(loadBalanced),
    F_BOOL(rackSensitive),
    F_LIST(rackAffinity),
    {"agentPlacement", AF_ENUM, R(agentPlacement), AF_NO_HAS, "slavePlacement", &placement_enum, 0,
     -1},
    {"requiredAgentAttributes", AF_STRMAP, R(requiredAgentAttributes), AF_NO_HAS,
     "requiredSlaveAttributes", NULL, 0, -1},
    {"allowedAgentAttributes", AF_STRMAP, R(allowedAgentAttributes), AF_NO_HAS,
     "allowedSlaveAttributes", NULL, 0, -1},
    {"agentAttributeMinimums", AF_JSON, R(agentAttributeMinimums), AF_NO_HAS,
     "slaveAttributeMinimums", NULL, 0, JSON_OBJECT},
    F_STR(requiredRole),
    F_INT(maxTasksPerOffer),
    F_BOOL(allowBounceToSameHost),
    F_BOOL(skipHealthchecks),
    F_BOOL(bounceAfterScale),
    F_STR(group),
    F_LIST(readWriteGroups),
    F_LIST(readOnlyGroups),
    {"actionPermissions", AF_JSON, R(actionPermissions), AF_NO_HAS, NULL, NULL, 0, JSON_OBJECT},
    {"emailConfigurationOverrides", AF_JSON, R(emailConfigurationOverrides), AF_NO_HAS, NULL, NULL,
     0, JSON_OBJECT},
    F_STR(taskLogErrorRegex),
    F_BOOL(taskLogErrorRegexCaseSensitive),
    {"taskPriorityLevel", AF_DOUBLE, R(taskPriorityLevel), HAS(taskPriorityLevel), NULL, NULL, 0,
     -1},
    {"hideEvenNumberAcrossRacksHint", AF_BOOL, R(hideEvenNumberAcrossRacksHint),
     HAS(hideEvenNumberAcrossRacksHint), "hideEvenNumberAcrossRacks", NULL, 0, -1},
    F_STR(dataCenter),
    F_BOOL(largeScaleDownAcknowledged),
    {"annotations", AF_STRMAP, R(annotations), AF_NO_HAS, NULL, NULL, 0, -1},
};

static const api_codec request_codec = {"request", sizeof(api_request), R(extra), request_fields,
                                        sizeof(request_fields) / sizeof(request_fields[0])};

const char *api_request_type_name(api_request_type t)
{
    return t > 0 && t <= API_RUN_ONCE ? type_names[t] : NULL;
}

api_request_type api_request_type_parse(const char *s)
{
    for (int k = 1; k <= API_RUN_ONCE; k++)
        if (s && strcmp(s, type_names[k]) == 0)
            return (api_request_type)k;
    return API_REQUEST_TYPE_UNSET;
}

const char *api_schedule_type_name(api_schedule_type t)
{
    return t > 0 && t <= API_SCHEDULE_RFC5545 ? sched_names[t] : NULL;
}

const char *api_agent_placement_name(api_agent_placement p)
{
    return p > 0 && p <= API_PLACEMENT_SPREAD_ALL_AGENTS ? placement_names[p] : NULL;
}

bool api_request_type_long_running(api_request_type t)
{
    return t == API_SERVICE || t == API_WORKER;
}

bool api_request_type_always_running(api_request_type t)
{
    return t == API_SERVICE || t == API_WORKER || t == API_SCHEDULED;
}

bool api_request_type_deployable(api_request_type t)
{
    return t == API_SERVICE || t == API_WORKER;
}

void api_request_free(api_request *r)
{
    if (!r)
        return;
    api_codec_release(&request_codec, r);
    free(r);
}

api_request *api_request_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_request *r = NULL;
    json_t *copy = NULL;
    json_t *daemon;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a request must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    /* `daemon` is input-only (legacy): it only feeds the type derivation. */
    copy = json_copy((json_t *)j);
    daemon = json_incref(json_object_get(copy, "daemon"));
    json_object_del(copy, "daemon");

    r = xcalloc(1, sizeof(*r));
    api_codec_decode(&request_codec, copy, r, prefix, opts->allow_unknown, probs);
    if (daemon && !json_is_boolean(daemon) && !json_is_null(daemon)) {
        char *p = api_path_join(prefix, "daemon");
        api_problems_add(probs, p, "must be true or false");
        free(p);
    }
    if (r->type == API_REQUEST_TYPE_UNSET && !json_object_get(copy, "requestType")) {
        /* Legacy derivation (sheet 1.2). */
        if (r->schedule || r->quartzSchedule)
            r->type = API_SCHEDULED;
        else if (json_is_false(daemon))
            r->type = API_ON_DEMAND;
        else if (r->has_loadBalanced && r->loadBalanced)
            r->type = API_SERVICE;
        else
            r->type = API_WORKER;
    }
    json_decref(daemon);
    json_decref(copy);

    if (!opts->no_validate) {
        api_problems v = API_PROBLEMS_INIT;
        v.srcmap = probs->srcmap;
        api_request_validate(r, prefix, &v);
        api_problems_merge_new(probs, before, &v);
    }
    if (probs->n != before) {
        api_request_free(r);
        return NULL;
    }
    return r;
}

json_t *api_request_to_json(const api_request *r)
{
    return api_codec_encode(&request_codec, r);
}

api_request *api_request_dup(const api_request *r)
{
    api_problems p = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true, .no_validate = true};
    json_t *j = api_request_to_json(r);
    api_request *d = api_request_from_json(j, &o, &p);
    json_decref(j);
    api_problems_release(&p);
    return d;
}

bool api_request_equal(const api_request *a, const api_request *b)
{
    return api_codec_equal(&request_codec, a, b);
}

int api_request_eff_instances(const api_request *r)
{
    return r->has_instances ? r->instances : API_DEFAULT_INSTANCES;
}

double api_request_eff_priority(const api_request *r)
{
    if (r->has_taskPriorityLevel)
        return r->taskPriorityLevel;
    switch (r->type) {
    case API_SERVICE:
        return 0.7;
    case API_WORKER:
        return 0.5;
    default:
        return 0.3;
    }
}

void api_request_apply_defaults(api_request *r)
{
    if (!r->has_instances) {
        r->has_instances = true;
        r->instances = API_DEFAULT_INSTANCES;
    }
    if ((r->schedule || r->quartzSchedule) && r->scheduleType == API_SCHEDULE_TYPE_UNSET)
        r->scheduleType = r->schedule ? API_SCHEDULE_CRON : API_SCHEDULE_QUARTZ;
    if (r->agentPlacement == API_PLACEMENT_UNSET)
        r->agentPlacement = API_PLACEMENT_GREEDY;
    if (!r->has_taskPriorityLevel) {
        r->taskPriorityLevel = api_request_eff_priority(r);
        r->has_taskPriorityLevel = true;
    }
#define DEFAULT_FALSE(f)   \
    if (!r->has_##f) {     \
        r->has_##f = true; \
        r->f = false;      \
    }
    DEFAULT_FALSE(loadBalanced)
    DEFAULT_FALSE(rackSensitive)
    DEFAULT_FALSE(skipHealthchecks)
    DEFAULT_FALSE(allowBounceToSameHost)
    DEFAULT_FALSE(bounceAfterScale)
#undef DEFAULT_FALSE
    if (!r->has_numRetriesOnFailure && !api_request_type_long_running(r->type)) {
        r->has_numRetriesOnFailure = true;
        r->numRetriesOnFailure = 0;
    }
}

/* ---- validation ------------------------------------------------------------ */

static const char *const user_actions[] = {"EXEC",
                                           "BOUNCE",
                                           "PAUSE",
                                           "SCALE",
                                           "PRIORITIZE",
                                           "KILL_TASK",
                                           "DELETE_SCHEDULED_TASK",
                                           "RUN_SHELL_COMMAND",
                                           NULL};
static const char *const email_destinations[] = {"OWNERS", "ACTION_TAKER", "ADMINS", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

#define PROB(field, ...)                          \
    do {                                          \
        char *p_ = api_path_join(prefix, field);  \
        api_problems_add(probs, p_, __VA_ARGS__); \
        free(p_);                                 \
    } while (0)

/* Checks a {string: [string in allowed]} map. */
static void check_map_of_lists(const json_t *m, const char *field, const char *const *allowed,
                               const char *prefix, api_problems *probs)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        char *kp = xasprintf("%s.%s", field, k);
        if (!json_is_array(v)) {
            PROB(kp, "must be a list");
        } else {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e) || (allowed && !in_list(allowed, json_string_value(e)))) {
                    char *ep = xasprintf("%s[%zu]", kp, i);
                    PROB(ep, "must be one of %s",
                         allowed == user_actions ? "EXEC, BOUNCE, PAUSE, SCALE, "
                                                   "PRIORITIZE, KILL_TASK, "
                                                   "DELETE_SCHEDULED_TASK, "
                                                   "RUN_SHELL_COMMAND"
                                                 : "OWNERS, ACTION_TAKER, ADMINS");
                    free(ep);
                }
            }
        }
        free(kp);
    }
}

size_t api_request_validate(const api_request *r, const char *prefix, api_problems *probs)
{
    size_t before = probs->n;
    bool lr = api_request_type_long_running(r->type);
    const char *tname = api_request_type_name(r->type);

    if (!prefix)
        prefix = "";
    if (!r->id)
        PROB("id", "required");
    else if (!api_request_id_valid(r->id))
        PROB("id", "\"%s\" must be 1-%d characters of [a-zA-Z0-9_-]", r->id, API_MAX_REQUEST_ID);
    if (r->type == API_REQUEST_TYPE_UNSET)
        PROB("requestType", "required");
    if (r->has_instances) {
        if (r->instances <= 0)
            PROB("instances", "must be > 0");
        else if (r->instances > API_MAX_INSTANCES)
            PROB("instances", "must be <= %d", API_MAX_INSTANCES);
        else if (r->type == API_SCHEDULED && r->instances != 1)
            PROB("instances", "must be 1 for a SCHEDULED request");
    }
    if (r->has_maxScale) {
        if (r->maxScale <= 0)
            PROB("maxScale", "must be > 0");
        else if (api_request_eff_instances(r) > r->maxScale)
            PROB("instances", "must be <= maxScale (%d)", r->maxScale);
        if (!lr)
            PROB("maxScale", "only allowed for SERVICE and WORKER requests, not %s", tname);
    }
    if (r->has_numRetriesOnFailure) {
        if (r->numRetriesOnFailure < 0)
            PROB("numRetriesOnFailure", "must be >= 0");
        if (lr)
            PROB("numRetriesOnFailure", "not allowed for long-running (%s) requests", tname);
    }
    if (r->type == API_SCHEDULED) {
        if (!r->schedule && !r->quartzSchedule)
            PROB("schedule", "required for a SCHEDULED request");
        if (r->quartzSchedule && !r->schedule && r->scheduleType != API_SCHEDULE_TYPE_UNSET &&
            r->scheduleType != API_SCHEDULE_QUARTZ)
            PROB("scheduleType", "must be QUARTZ (or absent) when only quartzSchedule is given");
        if ((r->schedule || r->quartzSchedule) && probs->n == before) {
            /* The scheduler's own parser (apis/schedule.h) decides, so what
             * validates is exactly what will run; its details start with
             * the field name ("schedule: ..."). */
            cr_err err;
            cr_err_clear(&err);
            api_schedule *s = api_schedule_for_request(r, &err);
            if (!s) {
                const char *msg = cr_err_msg(&err);
                const char *sep = strstr(msg, ": ");
                static const char *const fields[] = {"schedule", "quartzSchedule", "scheduleType",
                                                     "scheduleTimeZone", NULL};
                const char *field = r->schedule ? "schedule" : "quartzSchedule";
                for (size_t i = 0; sep && fields[i]; i++) {
                    if ((size_t)(sep - msg) == strlen(fields[i]) &&
                        strncmp(msg, fields[i], strlen(fields[i])) == 0) {
                        field = fields[i];
                        msg = sep + 2;
                        break;
                    }
                }
                PROB(field, "%s", msg);
            }
            api_schedule_free(s);
        }
    } else if (r->type != API_REQUEST_TYPE_UNSET) {
        if (r->schedule)
            PROB("schedule", "only allowed for SCHEDULED requests, not %s", tname);
        if (r->quartzSchedule)
            PROB("quartzSchedule", "only allowed for SCHEDULED requests, not %s", tname);
        if (r->scheduleType)
            PROB("scheduleType", "only allowed for SCHEDULED requests, not %s", tname);
    }
    if (r->scheduleTimeZone && !*r->scheduleTimeZone)
        PROB("scheduleTimeZone", "must not be empty");
    if (r->has_scheduledExpectedRuntimeMillis && r->scheduledExpectedRuntimeMillis < 0)
        PROB("scheduledExpectedRuntimeMillis", "must be >= 0");
    if (r->has_waitAtLeastMillisAfterTaskFinishesForReschedule &&
        r->waitAtLeastMillisAfterTaskFinishesForReschedule < 0)
        PROB("waitAtLeastMillisAfterTaskFinishesForReschedule", "must be >= 0");
    if (r->has_killOldNonLongRunningTasksAfterMillis &&
        r->killOldNonLongRunningTasksAfterMillis < 0)
        PROB("killOldNonLongRunningTasksAfterMillis", "must be >= 0");
    if (r->has_taskExecutionTimeLimitMillis) {
        if (r->taskExecutionTimeLimitMillis <= 0)
            PROB("taskExecutionTimeLimitMillis", "must be > 0");
        if (lr)
            PROB("taskExecutionTimeLimitMillis", "not allowed for long-running (%s) requests",
                 tname);
    }
    if (r->has_startingDeadlineSeconds) {
        if (r->startingDeadlineSeconds <= 0)
            PROB("startingDeadlineSeconds", "must be > 0");
        if (r->type != API_SCHEDULED)
            PROB("startingDeadlineSeconds", "only allowed for SCHEDULED requests, not %s", tname);
    }
    if (r->has_unreachableTimeoutSeconds && r->unreachableTimeoutSeconds < 0)
        PROB("unreachableTimeoutSeconds", "must be >= 0");
    if (r->has_loadBalanced && r->loadBalanced && r->type != API_SERVICE)
        PROB("loadBalanced", "only allowed for SERVICE requests, not %s", tname);
    if (r->has_rackSensitive && r->rackSensitive && !lr)
        PROB("rackSensitive", "only allowed for SERVICE and WORKER requests, not %s", tname);
    if (r->has_maxTasksPerOffer && r->maxTasksPerOffer <= 0)
        PROB("maxTasksPerOffer", "must be > 0");
    if (r->has_taskPriorityLevel && (r->taskPriorityLevel < 0.0 || r->taskPriorityLevel > 1.0))
        PROB("taskPriorityLevel", "must be between 0 and 1");
    for (size_t i = 0; i < r->owners.n; i++) {
        if (!*r->owners.v[i]) {
            char *p = xasprintf("owners[%zu]", i);
            PROB(p, "must not be empty");
            free(p);
        }
    }
    if (r->group && !*r->group)
        PROB("group", "must not be empty");
    if (r->agentAttributeMinimums) {
        const char *k, *k2;
        json_t *v, *v2;
        json_object_foreach(r->agentAttributeMinimums, k, v)
        {
            char *kp = xasprintf("agentAttributeMinimums.%s", k);
            if (!json_is_object(v)) {
                PROB(kp, "must be a map of value to minimum percentage");
            } else {
                json_object_foreach(v, k2, v2)
                {
                    if (!json_is_integer(v2) || json_integer_value(v2) < 0 ||
                        json_integer_value(v2) > 100) {
                        char *vp = xasprintf("%s.%s", kp, k2);
                        PROB(vp, "must be an integer percentage 0-100");
                        free(vp);
                    }
                }
            }
            free(kp);
        }
    }
    if (r->actionPermissions)
        check_map_of_lists(r->actionPermissions, "actionPermissions", user_actions, prefix, probs);
    if (r->emailConfigurationOverrides)
        check_map_of_lists(r->emailConfigurationOverrides, "emailConfigurationOverrides",
                           email_destinations, prefix, probs);
    return probs->n - before;
}
