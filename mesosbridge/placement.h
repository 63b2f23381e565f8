/* Offer placement: which pending task goes on which offer. A pure function
 * (no I/O, no clock) following Singularity's offer matching (reference sheet
 * 5.1-5.3): agent state, rack affinity, reserved/required/allowed agent
 * attributes, resources (cpus, memoryMb, diskMb, numPorts, plus a custom
 * executor's resources), placement strategy (GREEDY, SEPARATE,
 * SEPARATE_BY_DEPLOY, SEPARATE_BY_REQUEST, OPTIMISTIC, SPREAD_ALL_AGENTS) and
 * rack sensitivity (tasks of a request spread evenly across racks).
 *
 * Tasks are placed in the order given (the caller sorts by priority and
 * overdue time). Each placed task takes its resources from its offer's
 * mb_offer_left and counts as active for the tasks after it, so one call
 * places a whole batch consistently. Among matching offers the one with the
 * most free resources left wins (cpu 0.4, mem 0.4, disk 0.2), preferring
 * agents and racks with fewer tasks of the same request, and, while the
 * backlog is larger than the offers, offers this call already uses
 * (mb_place_config.pack).
 *
 * Cost: the per-agent and per-rack counts the strategies need are indexed
 * once per call (for the requests being placed only) and updated as tasks
 * are placed, so a call is O(active + tasks x offers) hash lookups;
 * mb_place_config.max_checks bounds the tasks x offers part. */
#ifndef MB_PLACEMENT_H
#define MB_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/container.h"
#include "apis/request.h"
#include "mesosbridge/calls.h"

/* Why a task could not go on an offer (the furthest check reached). */
typedef enum {
    MB_PLACE_OK = 0,
    MB_PLACE_NO_OFFERS,
    MB_PLACE_AGENT_NOT_ACTIVE, /* frozen, decommissioning, ... */
    MB_PLACE_RACK_AFFINITY_NOT_MATCHING,
    MB_PLACE_AGENT_ATTRIBUTES_DO_NOT_MATCH,
    MB_PLACE_NOT_ENOUGH_RESOURCES,
    MB_PLACE_AGENT_ALREADY_USED, /* placement strategy */
    MB_PLACE_RACK_SATURATED,
    MB_PLACE_DEFERRED, /* not tried: the call's work budget ran out */
} mb_place_reason;

const char *mb_place_reason_name(mb_place_reason r);

struct mb_place_offer;
struct mb_place_task;
/* A short sentence for people on why task t was not placed on any of the
 * offers ("needs cpus 3, largest offer has 2"), from what the offers have
 * left. Caller frees. */
char *mb_place_reason_message(mb_place_reason r, const struct mb_place_task *t,
                              const struct mb_place_offer *offers, size_t n_offers);

typedef struct mb_place_offer {
    mb_offer_left *left; /* borrowed; resources are taken from it */
    const char *rack_id; /* the agent's rack ("DEFAULT" when it has none) */
    bool inactive;       /* agent or rack not ACTIVE: take nothing here */
} mb_place_offer;

typedef struct mb_place_task {
    const char *request_id;
    const char *deploy_id;
    double cpus, mem, disk; /* the task's own resources */
    int num_ports;
    /* Fixed host ports the task needs besides its num_ports (a DOCKER
     * container's LITERAL host ports, apis/container.h); not PORT0..n. */
    uint64_t fixed_ports[API_CONTAINER_MAX_LITERAL_PORTS];
    size_t n_fixed_ports;
    double exec_cpus, exec_mem, exec_disk; /* custom executor's, 0 for command tasks */
    const api_strmap *required_attrs;      /* may be NULL */
    const api_strmap *allowed_attrs;       /* may be NULL */
    const api_strlist *rack_affinity;      /* may be NULL */
    bool rack_sensitive;
    api_agent_placement placement; /* UNSET means GREEDY */
    int instances;                 /* the request's, for rack spreading */
} mb_place_task;

/* A task already launched or running (including ones being killed). */
typedef struct mb_place_active {
    const char *request_id;
    const char *deploy_id;
    const char *agent_id;
    const char *rack_id;
} mb_place_active;

typedef struct mb_place_config {
    /* Singularity's reserveAgentsWithAttributes: an agent carrying any of
     * these takes only tasks whose required+allowed attributes include all
     * of the agent's reserved pairs. May be NULL. */
    const api_strmap *reserve_attrs;
    /* Active racks (for rack sensitivity); NULL-terminated, may be NULL (then
     * the racks of the offers and active tasks are used). */
    const char *const *racks;
    double leniency; /* OPTIMISTIC leniency; <= 0 means 0.09 */
    /* Work budget in (task, offer) checks; 0 means unlimited. Tasks are
     * tried in order while the budget lasts (the first one always is); the
     * rest get MB_PLACE_DEFERRED, for the caller to retry on a later turn of
     * its loop so one call never blocks for long. */
    size_t max_checks;
    /* Stop looking once this many offers fit a task (0: look at every
     * offer) and take the best of those. Each task of a call starts its
     * look at a different offer, so the looks spread over the cluster.
     * Kubernetes' scheduler samples large clusters the same way
     * (percentageOfNodesToScore): with thousands of offers the best of a
     * few hundred is nearly as good and ten times cheaper. A task that fits
     * no offer is still checked against every one (its reason is exact). */
    size_t enough_fits;
    /* Tasks placed per call at most (0: no limit); the rest are deferred
     * like the budget's. Each placed task becomes a launch to build. */
    size_t max_placed;
    /* Tasks an offer takes in one call before the others are preferred (0
     * or 1: none is preferred; each task goes where most is left). An offer
     * is used once (its ACCEPT gives its leftovers back to the master until
     * the next allocation), so when more tasks wait than there are offers,
     * spreading one task per offer would launch at most an offer's worth a
     * second. The caller passes the backlog's fair share of each offer
     * (tasks due / offers): an offer that took a task this call and has
     * fewer than pack is preferred over a fresh one, below spreading a
     * request's own tasks (agents, racks), which still comes first. */
    size_t pack;
} mb_place_config;

typedef struct mb_place_result {
    long offer;             /* index into offers, -1 if not placed */
    mb_place_reason reason; /* MB_PLACE_OK or why not */
    size_t n_ports;
    uint64_t *ports;        /* owned: the allocated host ports (PORT0..) */
    json_t *resources;      /* owned: the task's Mesos resources */
    json_t *exec_resources; /* owned: the executor's, NULL for command tasks */
} mb_place_result;

/* Places tasks[0..n_tasks) on offers, filling results[i] for tasks[i] (the
 * caller provides n_tasks results and releases each with
 * mb_place_result_release). Returns how many were placed. */
size_t mb_place(const mb_place_config *cfg, mb_place_offer *offers, size_t n_offers,
                const mb_place_task *tasks, size_t n_tasks, const mb_place_active *active,
                size_t n_active, mb_place_result *results);

void mb_place_result_release(mb_place_result *r);

/* True if the agent attributes satisfy the task's required attributes and
 * the reserved-agent rule (exposed for tests and the UI). */
bool mb_place_attrs_match(const mb_offer *o, const api_strmap *reserve, const api_strmap *required,
                          const api_strmap *allowed);

#endif
