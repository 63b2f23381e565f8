/* Intents; see intent.h. */
#include "apis/intent.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec.h"
#include "base/xalloc.h"

#define I api_intent
static const api_field intent_fields[] = {
    API_FL(I, timestamp),
    API_FS(I, user),
    API_FS(I, message),
    API_FS(I, actionId),
    API_FL(I, durationMillis),
    API_FI(I, instances),
    API_FI(I, previousInstances),
    API_FB(I, bounce),
    API_FB(I, incremental),
    API_FB(I, skipEmailNotification),
    API_FB(I, largeScaleDownAcknowledged),
    API_FB(I, skipHealthchecks),
    API_FB(I, previous),
    API_FB(I, killTasks),
    API_FJ(I, runShellCommandBeforeKill, JSON_OBJECT),
    API_FB(I, unpauseOnSuccessfulDeploy),
    API_FJ(I, updatedRequest, JSON_OBJECT),
    API_FS(I, requestId),
    API_FS(I, deployId),
    API_FI(I, targetActiveInstances),
    API_FS(I, state),
    API_FS(I, revertToState),
    API_FB(I, killTasksOnDecommissionTimeout),
    API_FB(I, force),
};
static const api_codec intent_codec = API_CODEC(I, "intent", intent_fields);
#undef I

static const char *const request_kinds[] = {API_INTENT_PAUSE,
                                            API_INTENT_BOUNCE,
                                            API_INTENT_EXIT_COOLDOWN,
                                            API_INTENT_SCALE,
                                            API_INTENT_SKIP_HEALTHCHECKS,
                                            NULL};
static const char *const deploy_kinds[] = {API_INTENT_SUBMIT, API_INTENT_CANCEL, API_INTENT_UPDATE,
                                           NULL};
/* What an agent or rack intent may ask for, and every state it may revert to. */
static const char *const machine_targets[] = {"STARTING_DECOMMISSION", "FROZEN", "ACTIVE", NULL};
static const char *const machine_states[] = {"MISSING_ON_STARTUP",
                                             "ACTIVE",
                                             "STARTING_DECOMMISSION",
                                             "DECOMMISSIONING",
                                             "DECOMMISSIONED",
                                             "DEAD",
                                             "FROZEN",
                                             NULL};
/* ... and the states an expiring change may revert to. */
static const char *const machine_reverts[] = {"ACTIVE", "FROZEN", "STARTING_DECOMMISSION",
                                              "DECOMMISSIONED", NULL};

static bool one_of(const char *const *names, const char *s)
{
    for (size_t i = 0; s && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

bool api_intent_kind_valid(api_key_kind key, const char *name)
{
    if (key == API_KEY_INTENT_REQUEST)
        return one_of(request_kinds, name);
    if (key == API_KEY_INTENT_DEPLOY)
        return one_of(deploy_kinds, name);
    return false;
}

static size_t prob(api_problems *probs, const char *prefix, const char *field, const char *msg)
{
    char *p = api_path_join(prefix ? prefix : "", field);
    api_problems_add(probs, p, "%s", msg);
    free(p);
    return 1;
}

static bool is(const char *name, const char *kind)
{
    return name && strcmp(name, kind) == 0;
}

size_t api_intent_validate(const api_intent *in, api_key_kind key, const char *name,
                           const char *prefix, api_problems *probs)
{
    size_t n = 0;
    bool machine = key == API_KEY_INTENT_AGENT || key == API_KEY_INTENT_RACK;

    if (in->has_timestamp && in->timestamp < 0)
        n += prob(probs, prefix, "timestamp", "must be >= 0 (epoch ms)");
    if (in->has_durationMillis && in->durationMillis <= 0)
        n += prob(probs, prefix, "durationMillis", "must be > 0");
    if (key == API_KEY_INTENT_REQUEST &&
        (is(name, API_INTENT_BOUNCE) || is(name, API_INTENT_EXIT_COOLDOWN)) &&
        (!in->has_timestamp || in->timestamp <= 0))
        n += prob(probs, prefix, "timestamp",
                  is(name, API_INTENT_BOUNCE) ? "required and > 0 (it is the bounce token)"
                                              : "required and > 0 (the time of the request)");
    if (key == API_KEY_INTENT_REQUEST && is(name, API_INTENT_SCALE)) {
        if (!in->has_instances || in->instances < 1)
            n += prob(probs, prefix, "instances", "required and >= 1");
        if (in->has_previousInstances && in->previousInstances < 1)
            n += prob(probs, prefix, "previousInstances", "must be >= 1");
    }
    if (key == API_KEY_INTENT_REQUEST && is(name, API_INTENT_SKIP_HEALTHCHECKS) &&
        !in->has_skipHealthchecks)
        n += prob(probs, prefix, "skipHealthchecks", "required");
    if (key == API_KEY_INTENT_DEPLOY && is(name, API_INTENT_UPDATE) &&
        (!in->has_targetActiveInstances || in->targetActiveInstances < 1))
        n += prob(probs, prefix, "targetActiveInstances", "required and >= 1");
    if (machine) {
        if (!one_of(machine_targets, in->state))
            n += prob(probs, prefix, "state",
                      in->state ? "must be STARTING_DECOMMISSION, FROZEN or ACTIVE" : "required");
        if (in->revertToState && !one_of(machine_states, in->revertToState))
            n += prob(probs, prefix, "revertToState", "unknown machine state");
        else if (in->revertToState && !one_of(machine_reverts, in->revertToState))
            n += prob(probs, prefix, "revertToState",
                      "must be ACTIVE, FROZEN, STARTING_DECOMMISSION or DECOMMISSIONED");
    }
    return n;
}

api_intent *api_intent_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_intent *in;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "an intent must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    in = xcalloc(1, sizeof(*in));
    if (api_codec_decode(&intent_codec, j, in, prefix, opts->allow_unknown, probs) ||
        probs->n != before) {
        api_intent_free(in);
        return NULL;
    }
    return in;
}

json_t *api_intent_to_json(const api_intent *in)
{
    return api_codec_encode(&intent_codec, in);
}

void api_intent_free(api_intent *in)
{
    if (!in)
        return;
    api_codec_release(&intent_codec, in);
    free(in);
}
