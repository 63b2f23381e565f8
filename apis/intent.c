/* Intents; see intent.h. */
#include "apis/intent.h"

#include <stddef.h>
#include <stdlib.h>

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
};
static const api_codec intent_codec = API_CODEC(I, "intent", intent_fields);
#undef I

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
