/* Machines: the documents of agents and racks (docs/machines.md).
 *
 *   <p>/agents/<agentId>   an agent: what the Mesos bridge observed (host,
 *                          rackId, attributes, resources, seen times) and
 *                          its state, history and progress, which the
 *                          machines controller keeps (controllers/machines.h)
 *   <p>/racks/<rackId>     a rack: the same without the observed fields
 *   <p>/inactive/<host>    a host marked inactive (GET/POST /api/inactive):
 *                          an agent that registers from it later is
 *                          decommissioned at once; an api_intent
 *                          (timestamp, user, message)
 *
 * States are Singularity's MachineState. The bridge owns ACTIVE <-> DEAD
 * (docs/mesosbridge.md); the machines controller every other move, from the
 * intents the API writes (<p>/intents/agents/<id>, <p>/intents/racks/<id>:
 * apis/intent.h).
 *
 * Ownership follows apis/common.h. The codec is table-driven
 * (apis/codec.h) and keeps unknown fields (the bridge writes some the
 * controller does not read, a newer version may add more). */
#ifndef API_MACHINE_H
#define API_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"

typedef enum {
    API_MSTATE_UNSET = 0,
    API_MSTATE_MISSING_ON_STARTUP,
    API_MSTATE_ACTIVE,
    API_MSTATE_STARTING_DECOMMISSION,
    API_MSTATE_DECOMMISSIONING,
    API_MSTATE_DECOMMISSIONED,
    API_MSTATE_DEAD,
    API_MSTATE_FROZEN,
} api_machine_state;

/* "ACTIVE", ... ("" for UNSET). Static. */
const char *api_machine_state_name(api_machine_state s);
/* UNSET for NULL or an unknown name. */
api_machine_state api_machine_state_parse(const char *s);
/* STARTING_DECOMMISSION, DECOMMISSIONING, DECOMMISSIONED (Singularity's
 * isDecommissioning). */
bool api_machine_state_decommissioning(api_machine_state s);

/* One state change: Singularity's SingularityMachineStateHistoryUpdate
 * without objectId (the key names the machine), plus what caused it. */
typedef struct api_machine_update {
    api_machine_state state; /* "state" */
    bool has_timestamp;
    int64_t timestamp; /* "timestamp": epoch ms */
    char *user;        /* "user" */
    char *message;     /* "message" */
    char *actionId;    /* "actionId" */
    /* "cause": Corral: why the controller made the change when no intent of
     * the machine's own did: "rack" (its rack is decommissioned), "inactive"
     * (its host is marked inactive), "expired" (an expiring change
     * reverted); absent otherwise. */
    char *cause;
    json_t *extra;
} api_machine_update;

/* Where a decommission stands (the controller's, while one is under way). */
typedef struct api_machine_progress {
    char *reason;  /* "reason": WaitingForAdmission, MovingTasks, CannotPlaceReplacements,
                      WaitingForJobs, KillingTasks, DecommissioningAgents */
    char *message; /* "message": for people */
    bool has_tasksLeft;
    int tasksLeft; /* "tasksLeft": live tasks on the agent (racks: agents left) */
    bool has_since;
    int64_t since; /* "since": when this reason began */
    json_t *extra;
} api_machine_progress;

/* What the controller told the Mesos master about an agent (maintenance). */
typedef struct api_machine_drain {
    char *state; /* "state": DRAINED (DRAIN_AGENT accepted), UNSUPPORTED (the master has no
                    DRAIN_AGENT), FAILED (it refused; message says why) */
    bool has_timestamp;
    int64_t timestamp; /* "timestamp" */
    char *message;     /* "message" */
    json_t *extra;
} api_machine_drain;

typedef struct api_machine {
    char *id;       /* "id" */
    char *host;     /* "host" (agents) */
    char *rackId;   /* "rackId" (agents) */
    char *agentUrl; /* "agentUrl" (agents) */
    json_t *attributes; /* "attributes": object of strings (agents) */
    json_t *resources;  /* "resources": {cpus, memoryMb, diskMb, numPorts} (agents) */
    bool has_firstSeenAt;
    int64_t firstSeenAt;
    bool has_lastSeenAt;
    int64_t lastSeenAt;
    bool has_currentState;
    api_machine_update currentState; /* "currentState" */
    size_t n_stateHistory;
    api_machine_update *stateHistory; /* "stateHistory": oldest first, the current one last */
    bool has_observedIntent;
    int64_t observedIntent; /* "observedIntent": timestamp of the intent last acted on */
    bool has_progress;
    api_machine_progress progress; /* "progress": while a decommission is under way */
    bool has_mesosDrain;
    api_machine_drain mesosDrain; /* "mesosDrain" */
    json_t *extra;
} api_machine;

/* The machine's state: currentState.state, ACTIVE when absent. */
api_machine_state api_machine_current(const api_machine *m);

/* Decodes an agent or rack document. NULL with problems on error; caller
 * frees. Unknown fields are kept when opts->allow_unknown. */
api_machine *api_machine_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs);
/* Canonical JSON (caller owns). */
json_t *api_machine_to_json(const api_machine *m);
/* A deep copy (caller frees). */
api_machine *api_machine_dup(const api_machine *m);
bool api_machine_equal(const api_machine *a, const api_machine *b);
void api_machine_free(api_machine *m);

/* Copies src into *dst (released first by the caller). */
void api_machine_update_copy(api_machine_update *dst, const api_machine_update *src);
void api_machine_update_release(api_machine_update *u);
/* As JSON (caller owns). */
json_t *api_machine_update_to_json(const api_machine_update *u);

#endif
