/* The machines Mesos knows, and the agent and rack documents they imply.
 * Pure: the GET_AGENTS answer of the master's operator API decoded, and a
 * plan that turns (the master's list, the documents in etcd, now) into the
 * documents to write. The bridge asks the master on every SUBSCRIBED, every
 * MB_AGENT_REFRESH_MS and when an event names an agent it has no ACTIVE
 * document for; docs/mesosbridge.md has the rules.
 *
 * Ownership: mb_agents and mb_machines_out own everything in them; release
 * them with their _release. Inputs are borrowed. */
#ifndef MB_AGENTS_H
#define MB_AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "mesosbridge/events.h"

/* One agent the master lists: registered (`agents[]`, an Agent) or
 * recovered after a master failover and not re-registered yet
 * (`recovered_agents[]`, an AgentInfo). */
typedef struct mb_agent {
    char *id;
    char *hostname;
    char *agent_url; /* "http://<hostname>:<port>", or NULL without a port */
    size_t n_attrs;
    mb_attr *attrs; /* as in offers: SCALAR/RANGES/SET values as text */
    /* Totals of the agent's resources (total_resources, else
     * agent_info.resources). */
    double cpus, mem, disk;
    uint64_t nports;
    bool recovered;
} mb_agent;

typedef struct mb_agents {
    size_t n;
    mb_agent *v;
} mb_agents;

/* The operator call, {"type":"GET_AGENTS"}. Caller owns. */
json_t *mb_call_get_agents(void);

/* Decodes the body of a GET_AGENTS answer ({"type":"GET_AGENTS",
 * "get_agents":{"agents":[...],"recovered_agents":[...]}}). Returns 0, or -1
 * with err (CR_EPARSE) when it is not that, or an agent has no id: a list
 * that cannot be trusted whole must mark no agent DEAD. *out is filled on
 * success and left empty on failure. */
int mb_agents_decode(const char *body, size_t len, mb_agents *out, cr_err *err);
void mb_agents_release(mb_agents *a);

/* The rack of an agent with these attributes: the attribute rack_attr
 * when given, else "rackid" (Singularity), else "rack" (mesoslite), else
 * default_rack (also for an empty value). Borrowed from attrs or
 * default_rack. */
const char *mb_rack_of(const mb_attr *attrs, size_t n_attrs, const char *rack_attr,
                       const char *default_rack);

/* A document in etcd: agents/<id> or racks/<id>, as text: the cache
 * keeps machines as their text (~0.4 KB, ~6 KB as a tree), and the plan
 * parses one document at a time. */
typedef struct mb_machine_doc {
    const char *id;
    const char *text; /* the value: a JSON object (borrowed) */
    size_t len;
    int64_t mod_rev;
} mb_machine_doc;

typedef struct mb_machines_in {
    const mb_agents *agents; /* the master's list (all of it) */
    const mb_machine_doc *agent_docs;
    size_t n_agent_docs;
    const mb_machine_doc *rack_docs;
    size_t n_rack_docs;
    const char *rack_attr;    /* NULL: "rackid", else "rack" */
    const char *default_rack; /* required */
    int64_t now;              /* wall clock, epoch ms */
    /* lastSeenAt of a listed machine whose document needs no other change
     * is rewritten once it is this old (0: never). */
    int64_t seen_refresh_ms;
} mb_machines_in;

/* One document to write, compared with the revision it was planned from. */
typedef struct mb_machine_write {
    bool rack;       /* racks/<id>, else agents/<id> */
    char *id;        /* owned */
    json_t *doc;     /* owned: the whole new value */
    int64_t mod_rev; /* of the document it replaces; 0 = create */
} mb_machine_write;

typedef struct mb_machines_out {
    size_t n;
    mb_machine_write *v; /* agents first, then racks, each sorted by id */
    size_t n_dead;       /* machines this plan marks DEAD */
    size_t n_back;       /* machines it marks ACTIVE again */
} mb_machines_out;

/* The machine states this plan owns: DEAD (lost) and back from it. Every
 * other change (FROZEN, STARTING_DECOMMISSION, DECOMMISSIONING,
 * DECOMMISSIONED, ...) is an operator's or the machines controller's.
 *   - a listed agent: its document gets the observed fields (host, rackId,
 *     agentUrl, attributes, resources: the agent's totals), firstSeenAt
 *     when new, lastSeenAt when anything changed or it is older than
 *     seen_refresh_ms; a missing, DEAD or MISSING_ON_STARTUP state becomes
 *     the state it had before it was lost (the last other state in its
 *     stateHistory: FROZEN, STARTING_DECOMMISSION for a decommission,
 *     DECOMMISSIONED), else {"state":"ACTIVE","timestamp":now}.
 *   - an agent document the list lacks: any state but DEAD,
 *     MISSING_ON_STARTUP and DECOMMISSIONED (a missing one too) becomes
 *     {"state":"DEAD","timestamp":now,"message":...} (Singularity's
 *     agentLost); nothing else changes (lastSeenAt keeps the last time it
 *     was seen; the machine's intent is not the bridge's).
 *   - racks alike, but only ACTIVE <-> DEAD: a rack is listed when a
 *     listed agent is in it.
 * Other fields of a document are kept. Only documents that change are
 * written. */
void mb_machines_plan(const mb_machines_in *in, mb_machines_out *out);
void mb_machines_out_release(mb_machines_out *o);

/* Whether a document's currentState.state lets the bridge place tasks
 * (absent or ACTIVE). */
bool mb_machine_active(const json_t *doc);

#endif
