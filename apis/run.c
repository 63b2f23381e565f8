/* Run documents; see run.h. */
#include "apis/run.h"

#include <stddef.h>
#include <stdlib.h>

#include "apis/codec.h"
#include "base/xalloc.h"

#define TR api_task_resources
static const api_field resources_fields[] = {
    API_FD(TR, cpus),
    API_FD(TR, memoryMb),
    API_FI(TR, numPorts),
    API_FD(TR, diskMb),
};
/* api_task_resources keeps no unknown fields (AF_NO_EXTRA). */
static const api_codec resources_codec = {"resources",
                                          sizeof(TR),
                                          AF_NO_EXTRA,
                                          resources_fields,
                                          sizeof(resources_fields) / sizeof(resources_fields[0]),
                                          NULL};
#undef TR

#define R api_run
static const api_field run_fields[] = {
    API_FS(R, runId),
    API_FS(R, requestId),
    API_FS(R, user),
    API_FL(R, timestamp),
    API_FS(R, message),
    API_FSL(R, commandLineArgs),
    API_FSM(R, envOverrides),
    {"requiredAgentAttributeOverrides", AF_STRMAP, offsetof(R, requiredAgentAttributeOverrides),
     AF_NO_HAS, "requiredSlaveAttributeOverrides", NULL, 0, -1},
    {"allowedAgentAttributeOverrides", AF_STRMAP, offsetof(R, allowedAgentAttributeOverrides),
     AF_NO_HAS, "allowedSlaveAttributeOverrides", NULL, 0, -1},
    API_FEM(R, resources, resources_codec),
    API_FB(R, skipHealthchecks),
    API_FS(R, runAsUserOverride),
    API_FL(R, runAt),
    API_FJ(R, extraArtifacts, JSON_ARRAY),
    API_FJ(R, s3UploaderAdditionalFiles, JSON_ARRAY),
};
static const api_codec run_codec = API_CODEC(R, "run", run_fields);
#undef R

static size_t prob(api_problems *probs, const char *prefix, const char *field, const char *msg)
{
    char *p = api_path_join(prefix ? prefix : "", field);
    api_problems_add(probs, p, "%s", msg);
    free(p);
    return 1;
}

size_t api_run_validate(const api_run *r, const char *prefix, api_problems *probs)
{
    const api_task_resources *res = &r->resources;
    size_t n = 0;

    if (r->requestId && !api_request_id_valid(r->requestId))
        n += prob(probs, prefix, "requestId", "must be 1-100 characters of [a-zA-Z0-9_-]");
    if (r->runId && !api_run_id_valid(r->runId))
        n += prob(probs, prefix, "runId", "must be 1-100 characters of [a-zA-Z0-9_-]");
    if (r->has_runAt && r->runAt < 0)
        n += prob(probs, prefix, "runAt", "must be >= 0 (epoch ms)");
    if (!r->has_resources)
        return n;
    if (res->has_cpus && res->cpus <= 0)
        n += prob(probs, prefix, "resources.cpus", "must be > 0");
    if (res->has_memoryMb && res->memoryMb <= 0)
        n += prob(probs, prefix, "resources.memoryMb", "must be > 0");
    if (res->has_diskMb && res->diskMb < 0)
        n += prob(probs, prefix, "resources.diskMb", "must be >= 0");
    if (res->has_numPorts && (res->numPorts < 0 || res->numPorts > 1000))
        n += prob(probs, prefix, "resources.numPorts", "must be between 0 and 1000");
    return n;
}

api_run *api_run_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_run *r;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a run must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    api_codec_decode(&run_codec, j, r, prefix, opts->allow_unknown, probs);
    if (probs->n == before && !opts->no_validate)
        api_run_validate(r, prefix, probs);
    if (probs->n != before) {
        api_run_free(r);
        return NULL;
    }
    return r;
}

json_t *api_run_to_json(const api_run *r)
{
    return api_codec_encode(&run_codec, r);
}

void api_run_free(api_run *r)
{
    if (!r)
        return;
    api_codec_release(&run_codec, r);
    free(r);
}
