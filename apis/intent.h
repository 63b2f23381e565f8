/* Intents: what a user asked the API to do to an object, kept until the
 * controllers have acted on it (docs/etcd-layout.md, docs/api.md):
 *
 *   <p>/intents/requests/<requestId>/<kind>   pause | bounce | exit-cooldown |
 *                                             scale | skip-healthchecks
 *   <p>/intents/deploys/<requestId>/<deployId>/<kind>   submit | cancel | update
 *   <p>/intents/agents/<agentId>              desired agent state
 *   <p>/intents/racks/<rackId>                desired rack state
 *   <p>/inactive/<host>                       a host marked inactive (timestamp,
 *                                             user, message only)
 *
 * Every kind is one api_intent: the common fields (timestamp, user,
 * message, actionId) and the fields of whichever kinds carry them; the
 * others stay absent. Only the API writes intents; controllers read them
 * (the existence of a pause intent pauses, a bounce's timestamp is the
 * bounce token, an update's targetActiveInstances advances a deploy, ...).
 *
 * Ownership follows apis/common.h. The codec is table-driven (apis/codec.h):
 * unknown fields are refused unless opts->allow_unknown (then kept in
 * `extra` and written back), which is how readers decode them: a newer API
 * may add fields. The decoder checks shapes only; what an intent must hold
 * depends on its key (api_intent_validate), which the decoder of etcd
 * documents (apis/doc.h) applies: an intent that fails is no intent at all
 * for every reader (a pause intent that does not decode pauses nothing). */
#ifndef API_INTENT_H
#define API_INTENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "apis/keys.h"

typedef struct api_intent {
    /* Every kind. */
    bool has_timestamp;
    int64_t timestamp; /* "timestamp": epoch ms the API wrote it (bounce token) */
    char *user;        /* "user": who asked; NULL without authentication */
    char *message;     /* "message" */
    char *actionId;    /* "actionId" */
    bool has_durationMillis;
    int64_t durationMillis; /* "durationMillis": the action expires after this long
                               (scale, skip-healthchecks, pause, bounce, agents, racks) */
    /* requests/<r>/scale */
    bool has_instances;
    int instances; /* "instances": the new count */
    bool has_previousInstances;
    int previousInstances; /* "previousInstances": restored when it expires */
    bool has_bounce;
    bool bounce; /* "bounce": bounce after scaling */
    bool has_incremental;
    bool incremental; /* "incremental": scale's bounce, bounce */
    bool has_skipEmailNotification;
    bool skipEmailNotification; /* "skipEmailNotification" */
    bool has_largeScaleDownAcknowledged;
    bool largeScaleDownAcknowledged; /* "largeScaleDownAcknowledged" */
    /* scale, skip-healthchecks, bounce, exit-cooldown */
    bool has_skipHealthchecks;
    bool skipHealthchecks; /* "skipHealthchecks" */
    /* requests/<r>/skip-healthchecks */
    bool has_previous;
    bool previous; /* "previous": the request's skipHealthchecks before */
    /* requests/<r>/pause */
    bool has_killTasks;
    bool killTasks; /* "killTasks" */
    /* pause, bounce */
    json_t *runShellCommandBeforeKill; /* "runShellCommandBeforeKill": an object */
    /* deploys/<r>/<d>/submit */
    bool has_unpauseOnSuccessfulDeploy;
    bool unpauseOnSuccessfulDeploy; /* "unpauseOnSuccessfulDeploy" */
    json_t *updatedRequest;         /* "updatedRequest": the request to apply (object) */
    /* deploys/<r>/<d>/update */
    char *requestId; /* "requestId" */
    char *deployId;  /* "deployId" */
    bool has_targetActiveInstances;
    int targetActiveInstances; /* "targetActiveInstances": advance the rollout to it */
    /* agents/<id>, racks/<id> */
    char *state;         /* "state": STARTING_DECOMMISSION | FROZEN | ACTIVE */
    char *revertToState; /* "revertToState": after durationMillis */
    bool has_killTasksOnDecommissionTimeout;
    bool killTasksOnDecommissionTimeout; /* "killTasksOnDecommissionTimeout" */
    bool has_force;
    bool force; /* "force": decommission: kill tasks whose replacement cannot be placed
                   (and job tasks) instead of waiting (Corral) */
    json_t *extra;                       /* unknown fields (allow_unknown) */
} api_intent;

/* The kinds: the last part of an intent's key. */
#define API_INTENT_PAUSE             "pause"             /* requests: pause; exists = paused */
#define API_INTENT_BOUNCE            "bounce"            /* requests: timestamp = bounce token */
#define API_INTENT_EXIT_COOLDOWN     "exit-cooldown"     /* requests: leave SYSTEM_COOLDOWN */
#define API_INTENT_SCALE             "scale"             /* requests: an expiring scale */
#define API_INTENT_SKIP_HEALTHCHECKS "skip-healthchecks" /* requests: expiring skip */
#define API_INTENT_SUBMIT            "submit"            /* deploys: who submitted it */
#define API_INTENT_CANCEL            "cancel"            /* deploys: exists = cancel */
#define API_INTENT_UPDATE            "update"            /* deploys: targetActiveInstances */

/* Whether name is a kind of intent stored under keys of kind `key`
 * (API_KEY_INTENT_REQUEST: pause ... skip-healthchecks; API_KEY_INTENT_DEPLOY:
 * submit, cancel, update). Agent and rack intents have no kind name. */
bool api_intent_kind_valid(api_key_kind key, const char *name);

/* Checks what the readers of an intent of key kind `key` and kind name
 * `name` (NULL for agents and racks) rely on:
 *   every kind: timestamp >= 0 and durationMillis > 0 when present;
 *   bounce, exit-cooldown: timestamp > 0 (the bounce token, the exit time);
 *   scale: instances >= 1 (previousInstances too, when present);
 *   skip-healthchecks: skipHealthchecks present;
 *   update: targetActiveInstances >= 1;
 *   agents, racks: state STARTING_DECOMMISSION, FROZEN or ACTIVE, and
 *   revertToState (if present) ACTIVE, FROZEN, STARTING_DECOMMISSION or
 *   DECOMMISSIONED (the states an expiring change may end in).
 * The kind name itself is checked by api_intent_kind_valid. Appends
 * problems at paths under prefix (may be NULL); returns how many. */
size_t api_intent_validate(const api_intent *in, api_key_kind key, const char *name,
                           const char *prefix, api_problems *probs);

/* Decodes an intent of any kind. NULL with problems appended (at their
 * field paths) on error; caller frees. */
api_intent *api_intent_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);
/* Canonical JSON (fields in a fixed order, absent ones omitted). Caller
 * owns. */
json_t *api_intent_to_json(const api_intent *in);
void api_intent_free(api_intent *in);

#endif
