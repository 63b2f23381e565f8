/* SPREAD_ALL_AGENTS (docs/machines.md): one instance on every agent that
 * can take one, as a pure function of the agent and rack documents and
 * the request's tasks; the service loop calls it before the service plan
 * (plan.h), which then sees an ordinary request of `count` instances.
 *
 *     ctl_spread_count(agents)             -> instances
 *     ctl_spread_slots(instances, tasks)   -> the slot each task fills
 *
 * Singularity rewrites `instances` to the count of active agents; Corral
 * leaves the request document alone and plans with the count. The plan
 * scales down by killing the highest instance numbers; a spread request
 * must instead lose the task on the agent that stopped taking one (lost,
 * frozen, decommissioning, in a rack that is not ACTIVE, attributes
 * changed), and keep its healthy tasks elsewhere whatever their numbers:
 * ctl_spread_slots renumbers the plan's view of the tasks so that it does.
 * Nothing else is renumbered: the records and their ids keep their
 * instance numbers. */
#ifndef CTL_SPREAD_H
#define CTL_SPREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/machine.h"
#include "apis/request.h"
#include "controllers/plan.h"

/* One agent document and its rack's (NULL: none). Borrowed. */
typedef struct ctl_spread_agent {
    const api_machine *agent;
    const api_machine *rack;
} ctl_spread_agent;

/* How many of agents take an instance (ctl_agent_spreads, view.h: ACTIVE,
 * in an ACTIVE rack or none, with every attribute of required, which may be
 * NULL). Agents without a document count for nothing. */
int ctl_spread_count(const ctl_spread_agent *agents, size_t n, const api_strmap *required);

/* Assigns the slots of a spread request's tasks (the plan's views, changed
 * in place) for `instances` slots. on_spreading[i] says whether task i sits
 * on an agent that takes an instance (pending tasks and tasks without an
 * agent: true). Per deploy, among the live tasks (not terminal, no kill
 * intent, not UNREACHABLE: those hold no slot and are left as they are):
 *  1. a task on a spreading agent keeps its instance if it is <= instances;
 *  2. one above it takes the lowest slot no task of step 1 or 2 holds, if
 *     any (else the plan scales it down as usual);
 *  3. a task on an agent that no longer spreads is numbered above
 *     `instances` when its slot is held (the plan kills it: SCALING_DOWN),
 *     else it keeps the slot and is moved like a task of a decommissioning
 *     agent (decommissioning = true: replaced, then killed).
 * So when the count drops, the task that goes is the one on the agent that
 * left, and no task on an ACTIVE agent is killed or moved. */
void ctl_spread_slots(int instances, ctl_task *tasks, size_t n_tasks, const bool *on_spreading);

#endif
