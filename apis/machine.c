/* Agent and rack documents; see machine.h. */
#include "apis/machine.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec.h"
#include "base/xalloc.h"

static const char *const state_names[] = {NULL,
                                          "MISSING_ON_STARTUP",
                                          "ACTIVE",
                                          "STARTING_DECOMMISSION",
                                          "DECOMMISSIONING",
                                          "DECOMMISSIONED",
                                          "DEAD",
                                          "FROZEN"};
static const api_enum state_enum = {state_names, 7, NULL, 0};

const char *api_machine_state_name(api_machine_state s)
{
    return s > API_MSTATE_UNSET && s <= API_MSTATE_FROZEN ? state_names[s] : "";
}

api_machine_state api_machine_state_parse(const char *s)
{
    for (int k = 1; s && k <= API_MSTATE_FROZEN; k++)
        if (strcmp(state_names[k], s) == 0)
            return (api_machine_state)k;
    return API_MSTATE_UNSET;
}

bool api_machine_state_decommissioning(api_machine_state s)
{
    return s == API_MSTATE_STARTING_DECOMMISSION || s == API_MSTATE_DECOMMISSIONING ||
           s == API_MSTATE_DECOMMISSIONED;
}

#define U api_machine_update
static const api_field update_fields[] = {
    API_FEN(U, state, state_enum), API_FL(U, timestamp), API_FS(U, user),
    API_FS(U, message),            API_FS(U, actionId),  API_FS(U, cause),
};
static const api_codec update_codec = API_CODEC(U, "state", update_fields);
#undef U

#define P api_machine_progress
static const api_field progress_fields[] = {
    API_FS(P, reason),
    API_FS(P, message),
    API_FI(P, tasksLeft),
    API_FL(P, since),
};
static const api_codec progress_codec = API_CODEC(P, "progress", progress_fields);
#undef P

#define D api_machine_drain
static const api_field drain_fields[] = {
    API_FS(D, state),
    API_FL(D, timestamp),
    API_FS(D, message),
};
static const api_codec drain_codec = API_CODEC(D, "mesosDrain", drain_fields);
#undef D

#define M api_machine
static const api_field machine_fields[] = {
    API_FS(M, id),
    API_FS(M, host),
    API_FS(M, rackId),
    API_FS(M, agentUrl),
    API_FJ(M, attributes, JSON_OBJECT),
    API_FJ(M, resources, JSON_OBJECT),
    API_FL(M, firstSeenAt),
    API_FL(M, lastSeenAt),
    API_FEM(M, currentState, update_codec),
    {"stateHistory", AF_OBJLIST, offsetof(M, stateHistory), AF_NO_HAS, NULL, &update_codec,
     offsetof(M, n_stateHistory), -1},
    API_FL(M, observedIntent),
    API_FEM(M, progress, progress_codec),
    API_FEM(M, mesosDrain, drain_codec),
};
static const api_codec machine_codec = API_CODEC(M, "machine", machine_fields);
#undef M

api_machine_state api_machine_current(const api_machine *m)
{
    if (!m || !m->has_currentState || m->currentState.state == API_MSTATE_UNSET)
        return API_MSTATE_ACTIVE;
    return m->currentState.state;
}

api_machine *api_machine_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_machine *m;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a machine document must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    m = xcalloc(1, sizeof(*m));
    if (api_codec_decode(&machine_codec, j, m, prefix, opts->allow_unknown, probs) ||
        probs->n != before) {
        api_machine_free(m);
        return NULL;
    }
    for (size_t i = 0; i < m->n_stateHistory; i++)
        if (m->stateHistory[i].state == API_MSTATE_UNSET) {
            char *p = api_path_index("stateHistory", i);
            api_problems_add(probs, p, "state is required");
            free(p);
        }
    if (m->has_currentState && m->currentState.state == API_MSTATE_UNSET)
        api_problems_add(probs, "currentState.state", "required");
    if (probs->n != before) {
        api_machine_free(m);
        return NULL;
    }
    return m;
}

json_t *api_machine_to_json(const api_machine *m)
{
    return api_codec_encode(&machine_codec, m);
}

api_machine *api_machine_dup(const api_machine *m)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = api_machine_to_json(m);
    api_machine *copy = api_machine_from_json(j, &open, &probs);
    json_decref(j);
    api_problems_release(&probs);
    return copy; /* a valid document always encodes to one that decodes */
}

bool api_machine_equal(const api_machine *a, const api_machine *b)
{
    return api_codec_equal(&machine_codec, a, b);
}

void api_machine_free(api_machine *m)
{
    if (!m)
        return;
    api_codec_release(&machine_codec, m);
    free(m);
}

void api_machine_update_copy(api_machine_update *dst, const api_machine_update *src)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = api_codec_encode(&update_codec, src);
    memset(dst, 0, sizeof(*dst));
    api_codec_decode(&update_codec, j, dst, "", open.allow_unknown, &probs);
    json_decref(j);
    api_problems_release(&probs);
}

void api_machine_update_release(api_machine_update *u)
{
    api_codec_release(&update_codec, u);
    memset(u, 0, sizeof(*u));
}

json_t *api_machine_update_to_json(const api_machine_update *u)
{
    return api_codec_encode(&update_codec, u);
}
