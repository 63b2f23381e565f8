/* SPREAD_ALL_AGENTS: the count and the slots; see spread.h. */
#include "controllers/spread.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "controllers/view.h"

int ctl_spread_count(const ctl_spread_agent *agents, size_t n, const api_strmap *required)
{
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += agents[i].agent && ctl_agent_spreads(agents[i].agent, agents[i].rack, required);
    return count;
}

static bool same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Whether task t holds a slot at all (see spread.h). */
static bool slotted(const ctl_task *t)
{
    if (t->cleaning)
        return false;
    if (t->pending)
        return true;
    return !api_task_state_terminal(t->state) && t->state != API_TASK_UNREACHABLE;
}

typedef struct slot_ref {
    size_t i;
    int instance;
    const char *id;
} slot_ref;

static int cmp_ref(const void *a, const void *b)
{
    const slot_ref *x = a, *y = b;
    if (x->instance != y->instance)
        return x->instance < y->instance ? -1 : 1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* The tasks of one deploy. */
static void slots_of_deploy(int n, ctl_task *tasks, size_t n_tasks, const bool *on_spreading,
                            const char *deploy, bool *done)
{
    bool *held = xcalloc((size_t)n + 1, sizeof(bool));
    slot_ref *over = xcalloc(n_tasks + 1, sizeof(*over)),
             *leaving = xcalloc(n_tasks + 1, sizeof(*leaving));
    size_t n_over = 0, n_leaving = 0;
    int next_surplus = n + 1;

    for (size_t i = 0; i < n_tasks; i++) {
        ctl_task *t = &tasks[i];
        if (done[i] || !same(t->deploy_id, deploy))
            continue;
        done[i] = true;
        if (!slotted(t))
            continue;
        if (!on_spreading[i])
            leaving[n_leaving++] = (slot_ref){i, t->instance, t->id};
        else if (t->instance >= 1 && t->instance <= n)
            held[t->instance - 1] = true; /* step 1 */
        else
            over[n_over++] = (slot_ref){i, t->instance, t->id};
    }
    /* step 2: the lowest numbers first, so the result does not depend on
     * the order of the input */
    qsort(over, n_over, sizeof(*over), cmp_ref);
    int free_slot = 0;
    for (size_t k = 0; k < n_over; k++) {
        while (free_slot < n && held[free_slot])
            free_slot++;
        if (free_slot >= n)
            break;
        held[free_slot] = true;
        tasks[over[k].i].instance = free_slot + 1;
    }
    /* step 3 */
    qsort(leaving, n_leaving, sizeof(*leaving), cmp_ref);
    for (size_t k = 0; k < n_leaving; k++) {
        ctl_task *t = &tasks[leaving[k].i];
        if (t->instance >= 1 && t->instance <= n && !held[t->instance - 1]) {
            held[t->instance - 1] = true;
            t->decommissioning = true;
        } else if (t->instance >= 1 && t->instance <= n) {
            t->instance = next_surplus++;
        }
        /* above n already: the plan scales it down */
    }
    free(held);
    free(over);
    free(leaving);
}

void ctl_spread_slots(int instances, ctl_task *tasks, size_t n_tasks, const bool *on_spreading)
{
    int n = instances > 0 ? instances : 0;
    bool *done = xcalloc(n_tasks + 1, sizeof(bool));
    for (size_t i = 0; i < n_tasks; i++)
        if (!done[i])
            slots_of_deploy(n, tasks, n_tasks, on_spreading, tasks[i].deploy_id, done);
    free(done);
}
