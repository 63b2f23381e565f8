/* The master's agents and the machine documents they imply; see agents.h. */
#include "mesosbridge/agents.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/jsplit.h"
#include "mesosbridge/map.h"

#define DEAD_MESSAGE "not registered with the Mesos master"

json_t *mb_call_get_agents(void)
{
    return json_pack("{s:s}", "type", "GET_AGENTS");
}

/* ---- decoding -------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool ju64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    return false;
}

/* Adds a Resource[] to the agent's totals. */
static void add_resources(mb_agent *a, const json_t *res)
{
    size_t i;
    const json_t *r;

    json_array_foreach (res, i, r) {
        const char *name = jstr(r, "name"), *type = jstr(r, "type");
        if (!name || !type)
            continue;
        if (!strcmp(type, "SCALAR")) {
            const json_t *v = json_object_get(json_object_get(r, "scalar"), "value");
            double x = json_is_number(v) ? json_number_value(v) : 0;
            if (!strcmp(name, "cpus"))
                a->cpus += x;
            else if (!strcmp(name, "mem"))
                a->mem += x;
            else if (!strcmp(name, "disk"))
                a->disk += x;
        } else if (!strcmp(type, "RANGES") && !strcmp(name, "ports")) {
            size_t k;
            const json_t *rg;
            json_array_foreach (json_object_get(json_object_get(r, "ranges"), "range"), k, rg) {
                uint64_t b = 0, e = 0;
                if (ju64(json_object_get(rg, "begin"), &b) &&
                    ju64(json_object_get(rg, "end"), &e) && b <= e)
                    a->nports += e - b + 1;
            }
        }
    }
}

static void agent_release(mb_agent *a)
{
    free(a->id);
    free(a->hostname);
    free(a->agent_url);
    for (size_t i = 0; i < a->n_attrs; i++) {
        free(a->attrs[i].name);
        free(a->attrs[i].text);
    }
    free(a->attrs);
    memset(a, 0, sizeof(*a));
}

/* An AgentInfo, with the agent's total resources in total (an Agent's
 * total_resources) or, when NULL, in the AgentInfo itself. */
static int agent_decode(const json_t *info, const json_t *total, bool recovered, mb_agent *a)
{
    const char *id = jstr(json_object_get(info, "id"), "value");
    const char *host = jstr(info, "hostname");
    json_t *port = json_object_get(info, "port");
    size_t i;
    const json_t *at;

    memset(a, 0, sizeof(*a));
    if (!id || !*id)
        return -1;
    a->id = xstrdup(id);
    a->hostname = xstrdup(host ? host : "");
    a->recovered = recovered;
    if (host && *host && json_is_integer(port) && json_integer_value(port) > 0)
        a->agent_url = xasprintf("http://%s:%lld", host, (long long)json_integer_value(port));
    const json_t *attrs = json_object_get(info, "attributes");
    a->attrs = xcalloc(json_array_size(attrs) + 1, sizeof(mb_attr));
    json_array_foreach (attrs, i, at) {
        const char *name = jstr(at, "name");
        char *text = mb_attr_text(at);
        if (name && text) {
            a->attrs[a->n_attrs].name = xstrdup(name);
            a->attrs[a->n_attrs++].text = text;
        } else {
            free(text);
        }
    }
    add_resources(a, total ? total : json_object_get(info, "resources"));
    return 0;
}

/* The two lists of GET_AGENTS as they stream in: registered, recovered. */
typedef struct agents_split {
    mb_agents part[2];
    size_t cap[2];
    bool bad_agent; /* the load stopped at an agent without an id */
} agents_split;

static int agent_each(void *arg, size_t which, size_t i, const json_t *e, cr_err *err)
{
    agents_split *a = arg;
    mb_agents *v = &a->part[which];
    const json_t *info = json_object_get(e, "agent_info");

    if (v->n == a->cap[which]) {
        a->cap[which] = a->cap[which] ? 2 * a->cap[which] : 64;
        v->v = xrealloc(v->v, a->cap[which] * sizeof(*v->v));
    }
    a->bad_agent = true; /* until it has decoded */
    if (which == 0) {
        if (agent_decode(info, json_object_get(e, "total_resources"), false, &v->v[v->n]) < 0)
            return cr_error(err, CR_EPARSE, "GET_AGENTS: agents[%zu]: agent_info.id is required",
                            i);
    } else if (agent_decode(info ? info : e, NULL, true, &v->v[v->n]) < 0) {
        /* Recovered agents are AgentInfo (v1/master/master.proto); a master
         * that wraps them like registered ones is read too. */
        return cr_error(err, CR_EPARSE, "GET_AGENTS: recovered_agents[%zu]: id is required", i);
    }
    a->bad_agent = false;
    v->n++;
    return 0;
}

int mb_agents_decode(const char *body, size_t len, mb_agents *out, cr_err *err)
{
    static const char *const reg_path[] = {"get_agents", "agents", NULL};
    static const char *const rec_path[] = {"get_agents", "recovered_agents", NULL};
    static const char *const *const paths[] = {reg_path, rec_path};
    agents_split a = {0};
    cr_err perr;
    /* a tree of 5,000 agents is ~80 MB: one agent at a time instead */
    json_t *j = mb_jsplit_load(body, len, paths, 2, agent_each, &a, &perr);
    const json_t *ga = json_object_get(j, "get_agents");
    const json_t *reg = json_object_get(ga, "agents"),
                 *rec = json_object_get(ga, "recovered_agents");
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!j) {
        if (a.bad_agent)
            cr_error(err, CR_EPARSE, "%s", cr_err_msg(&perr));
        else
            cr_error(err, CR_EPARSE, "GET_AGENTS: not JSON: %s", cr_err_msg(&perr));
        goto out;
    }
    if (!json_is_object(ga) || (reg && !json_is_array(reg)) || (rec && !json_is_array(rec))) {
        cr_error(err, CR_EPARSE, "GET_AGENTS: no get_agents.agents list");
        goto out;
    }
    out->v = xcalloc(a.part[0].n + a.part[1].n + 1, sizeof(mb_agent));
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < a.part[k].n; i++)
            out->v[out->n++] = a.part[k].v[i];
    for (int k = 0; k < 2; k++) {
        free(a.part[k].v);
        a.part[k] = (mb_agents){0};
    }
    rc = 0;
out:
    mb_agents_release(&a.part[0]);
    mb_agents_release(&a.part[1]);
    json_decref(j);
    return rc;
}

void mb_agents_release(mb_agents *a)
{
    for (size_t i = 0; a && i < a->n; i++)
        agent_release(&a->v[i]);
    if (a) {
        free(a->v);
        a->v = NULL;
        a->n = 0;
    }
}

const char *mb_rack_of(const mb_attr *attrs, size_t n_attrs, const char *rack_attr,
                       const char *default_rack)
{
    static const char *const fallback[] = {"rackid", "rack"};
    const char *const *names = rack_attr ? &rack_attr : fallback;
    size_t nn = rack_attr ? 1 : 2;

    for (size_t k = 0; k < nn; k++)
        for (size_t i = 0; i < n_attrs; i++)
            if (!strcmp(attrs[i].name, names[k]))
                return *attrs[i].text ? attrs[i].text : default_rack;
    return default_rack;
}

/* ---- the plan ------------------------------------------------------------------------ */

static const char *state_of(const json_t *doc)
{
    return json_string_value(json_object_get(json_object_get(doc, "currentState"), "state"));
}

bool mb_machine_active(const json_t *doc)
{
    const char *s = state_of(doc);
    return !s || !strcmp(s, "ACTIVE");
}

/* A listed machine in one of these states is back; other states belong
 * to operators. */
static bool state_revives(const char *s)
{
    return !s || !strcmp(s, "DEAD") || !strcmp(s, "MISSING_ON_STARTUP");
}

/* The state a machine that was lost comes back in: the one it had before
 * (the last of its stateHistory that is not DEAD or MISSING_ON_STARTUP),
 * so that a lost FROZEN or decommissioning agent does not come back
 * ACTIVE for a moment (and get tasks) before the machines controller
 * applies its intent again. A decommission starts over from
 * STARTING_DECOMMISSION: it waits for its turn again. ACTIVE when there is
 * no such entry. */
static const char *revived_state(const json_t *old)
{
    const json_t *h = json_object_get(old, "stateHistory");
    for (size_t i = json_array_size(h); i > 0; i--) {
        const char *s = jstr(json_array_get(h, i - 1), "state");
        if (!s || state_revives(s))
            continue;
        if (!strcmp(s, "DECOMMISSIONING"))
            return "STARTING_DECOMMISSION";
        if (!strcmp(s, "FROZEN") || !strcmp(s, "STARTING_DECOMMISSION") ||
            !strcmp(s, "DECOMMISSIONED"))
            return s;
        return "ACTIVE";
    }
    return "ACTIVE";
}

/* A machine the master no longer lists is DEAD unless it is one already,
 * or (agents) DECOMMISSIONED: that one is expected to go. Agents in any
 * other state are DEAD too (Singularity's agentLost): a lost FROZEN or
 * decommissioning agent no longer holds a decommission slot, its tasks are
 * replaced, and DELETE /api/agents/dead forgets it; its intent stays, and
 * it comes back in the state it had (revived_state). Racks only from
 * ACTIVE: a rack's other states are its intent's. */
static bool state_dies(bool rack, const char *s)
{
    if (!s || !strcmp(s, "ACTIVE"))
        return true;
    return !rack && strcmp(s, "DEAD") != 0 && strcmp(s, "MISSING_ON_STARTUP") != 0 &&
           strcmp(s, "DECOMMISSIONED") != 0;
}

static json_t *state_json(const char *state, int64_t now, const char *message)
{
    json_t *o = json_pack("{s:s,s:I}", "state", state, "timestamp", (json_int_t)now);
    if (message)
        json_object_set_new(o, "message", json_string(message));
    return o;
}

/* d's document as a tree (the caller's), or NULL when it is not an object. */
static json_t *doc_tree(const mb_machine_doc *d)
{
    json_t *j = d->text ? json_loadb(d->text, d->len, 0, NULL) : NULL;

    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void add_write(mb_machines_out *out, bool rack, const char *id, json_t *doc, int64_t rev)
{
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    out->v[out->n++] = (mb_machine_write){rack, xstrdup(id), doc, rev};
}

/* Whether a listed machine's document `old` already says all it should:
 * its id, every observed field, firstSeenAt, a state the bridge leaves
 * alone and a lastSeenAt young enough. Most documents are, at every
 * refresh: this check copies nothing. */
static bool up_to_date(const mb_machines_in *in, const char *id, const json_t *old,
                       const json_t *observed)
{
    const json_t *seen = json_object_get(old, "lastSeenAt");
    const char *k;
    const json_t *v;

    if (!json_is_string(json_object_get(old, "id")) ||
        strcmp(json_string_value(json_object_get(old, "id")), id) ||
        !json_is_integer(json_object_get(old, "firstSeenAt")) || state_revives(state_of(old)) ||
        !json_is_integer(seen) ||
        (in->seen_refresh_ms > 0 && in->now - json_integer_value(seen) >= in->seen_refresh_ms))
        return false;
    json_object_foreach ((json_t *)observed, k, v) {
        if (!json_equal(json_object_get(old, k), (json_t *)v))
            return false;
    }
    return true;
}

/* A listed machine: `observed` (stolen) merged into its document `d` (or a
 * new one), revived when the state is the bridge's, written if anything
 * changed (lastSeenAt then says now). */
static void listed(const mb_machines_in *in, mb_machines_out *out, bool rack, const char *id,
                   const mb_machine_doc *d, json_t *observed)
{
    json_t *old = d ? doc_tree(d) : NULL;

    if (old && up_to_date(in, id, old, observed)) {
        json_decref(observed);
        json_decref(old);
        return;
    }
    json_t *j = old ? json_deep_copy(old) : json_object();
    json_object_set_new(j, "id", json_string(id));
    json_object_update(j, observed);
    json_decref(observed);
    if (!json_is_integer(json_object_get(j, "firstSeenAt")))
        json_object_set_new(j, "firstSeenAt", json_integer(in->now));
    if (state_revives(state_of(old))) {
        const char *st = rack ? "ACTIVE" : revived_state(old);
        if (old && state_of(old))
            out->n_back++;
        json_object_set_new(j, "currentState",
                            state_json(st, in->now,
                                       strcmp(st, "ACTIVE") ? "registered with the Mesos master "
                                                              "again, in the state it had"
                                                            : NULL));
        /* A new machine's history starts with its first state, which the
         * machines controller would otherwise add in a write of its own:
         * 5,000 agents registering at once were one pass of 5,000 writes. */
        if (!old)
            json_object_set_new(j, "stateHistory",
                                json_pack("[O]", json_object_get(j, "currentState")));
    }
    json_object_set_new(j, "lastSeenAt", json_integer(in->now));
    add_write(out, rack, id, j, d ? d->mod_rev : 0);
    json_decref(old);
}

/* A machine the master does not list: DEAD (state_dies). */
static void unlisted(const mb_machines_in *in, mb_machines_out *out, bool rack,
                     const mb_machine_doc *d)
{
    json_t *j = doc_tree(d);

    if (!j || !state_dies(rack, state_of(j))) {
        json_decref(j);
        return;
    }
    const json_t *cur = json_object_get(j, "currentState");
    if (!rack && !mb_machine_active(j)) {
        /* the state it comes back in (revived_state) must outlive this
         * write, even before the machines controller has put it in the
         * history */
        json_t *h = json_object_get(j, "stateHistory");
        const json_t *last = json_array_get(h, json_array_size(h) - 1);
        if (!json_is_array(h)) {
            h = json_array();
            json_object_set_new(j, "stateHistory", h);
        }
        if (!last || !json_equal(json_object_get(last, "state"), json_object_get(cur, "state")) ||
            !json_equal(json_object_get(last, "timestamp"), json_object_get(cur, "timestamp")))
            json_array_append(h, (json_t *)cur);
    }
    json_object_set_new(j, "currentState", state_json("DEAD", in->now, DEAD_MESSAGE));
    out->n_dead++;
    add_write(out, rack, d->id, j, d->mod_rev);
}

static json_t *agent_observed(const mb_agent *a, const char *rack)
{
    json_t *attrs = json_object();
    for (size_t i = 0; i < a->n_attrs; i++)
        json_object_set_new(attrs, a->attrs[i].name, json_string(a->attrs[i].text));
    json_t *o = json_pack("{s:s,s:s,s:o,s:{s:f,s:f,s:f,s:I}}", "host", a->hostname, "rackId", rack,
                          "attributes", attrs, "resources", "cpus", a->cpus, "memoryMb", a->mem,
                          "diskMb", a->disk, "numPorts", (json_int_t)a->nports);
    if (a->agent_url)
        json_object_set_new(o, "agentUrl", json_string(a->agent_url));
    return o;
}

static int cmp_write(const void *x, const void *y)
{
    const mb_machine_write *a = x, *b = y;
    if (a->rack != b->rack)
        return a->rack ? 1 : -1;
    return strcmp(a->id, b->id);
}

/* Index of docs by id; the entries point into docs. */
static void index_docs(mb_map *m, const mb_machine_doc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (docs[i].id)
            mb_map_put(m, docs[i].id, (void *)&docs[i]);
}

void mb_machines_plan(const mb_machines_in *in, mb_machines_out *out)
{
    mb_map adocs = MB_MAP_INIT, rdocs = MB_MAP_INIT, alisted = MB_MAP_INIT, rlisted = MB_MAP_INIT;
    size_t na = in->agents ? in->agents->n : 0;

    memset(out, 0, sizeof(*out));
    index_docs(&adocs, in->agent_docs, in->n_agent_docs);
    index_docs(&rdocs, in->rack_docs, in->n_rack_docs);
    for (size_t i = 0; i < na; i++) {
        const mb_agent *a = &in->agents->v[i];
        const char *rack = mb_rack_of(a->attrs, a->n_attrs, in->rack_attr, in->default_rack);
        if (mb_map_get(&alisted, a->id))
            continue; /* listed twice: the first entry counts */
        mb_map_put(&alisted, a->id, (void *)1);
        listed(in, out, false, a->id, mb_map_get(&adocs, a->id), agent_observed(a, rack));
        if (!mb_map_get(&rlisted, rack)) {
            mb_map_put(&rlisted, rack, (void *)1);
            listed(in, out, true, rack, mb_map_get(&rdocs, rack), json_object());
        }
    }
    for (size_t i = 0; i < in->n_agent_docs; i++)
        if (in->agent_docs[i].id && !mb_map_get(&alisted, in->agent_docs[i].id))
            unlisted(in, out, false, &in->agent_docs[i]);
    for (size_t i = 0; i < in->n_rack_docs; i++)
        if (in->rack_docs[i].id && !mb_map_get(&rlisted, in->rack_docs[i].id))
            unlisted(in, out, true, &in->rack_docs[i]);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_write);
    mb_map_release(&adocs, NULL);
    mb_map_release(&rdocs, NULL);
    mb_map_release(&alisted, NULL);
    mb_map_release(&rlisted, NULL);
}

void mb_machines_out_release(mb_machines_out *o)
{
    for (size_t i = 0; o && i < o->n; i++) {
        free(o->v[i].id);
        json_decref(o->v[i].doc);
    }
    if (o) {
        free(o->v);
        memset(o, 0, sizeof(*o));
    }
}
