/* Read-only views of the master: /master/state (v0 JSON) and the operator
 * API (POST /api/v1). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"

static json_t *agent_state_json(ml_agent *a)
{
    json_t *attrs = json_object();
    ml_res unres = ML_RES_INIT;
    char pid[128];
    size_t i;
    json_t *at;

    json_array_foreach(a->attributes, i, at)
    {
        const char *n = json_string_value(json_object_get(at, "name"));
        json_t *tv = json_object_get(json_object_get(at, "text"), "value");
        json_t *sv = json_object_get(json_object_get(at, "scalar"), "value");
        if (n)
            json_object_set(attrs, n, tv ? tv : sv);
    }
    snprintf(pid, sizeof(pid), "slave(1)@%s:%d", a->app->ip, a->port);
    ml_res_copy(&unres, &a->total);
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:o, s:s, s:f, s:f, s:o, s:o, s:o, s:{}, s:o, s:b, s:b, s:s, "
        "s:[s,s,s,s,s,s,s,s]}",
        "id", a->id, "hostname", a->hostname, "port", a->port, "attributes", attrs, "pid", pid,
        "registered_time", a->registered_time, "reregistered_time", a->registered_time, "resources",
        ml_res_to_summary(&a->total), "used_resources", ml_res_to_summary(&a->used),
        "offered_resources", ml_res_to_summary(&a->offered), "reserved_resources",
        "unreserved_resources", ml_res_to_summary(&unres), "active", !a->removed && !a->recovering,
        "deactivated", false, "version", ML_VERSION, "capabilities", "MULTI_ROLE",
        "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER", "RESIZE_VOLUME",
        "AGENT_OPERATION_FEEDBACK", "AGENT_DRAINING", "TASK_RESOURCE_LIMITS");
    json_object_set_new(o, "rack", json_string(a->rack ? a->rack : ""));
    ml_res_release(&unres);
    return o;
}

static json_t *fw_state_json(ml_fw *fw)
{
    ml_app *app = fw->app;
    json_t *tasks = json_array(), *unreach = json_array(), *offers = json_array(),
           *executors = json_array(), *caps = json_array();
    ml_res used = ML_RES_INIT, offered = ML_RES_INIT;
    ml_map_iter it;
    void *v;
    size_t i;
    json_t *c;

    ml_map_iter_init(&it, fw->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        json_array_append_new(tasks, ml_task_state_json(t));
        if (!t->recovered)
            ml_res_add(&used, &t->res);
    }
    ml_map_iter_init(&it, fw->unreachable);
    while (ml_map_next(&it, NULL, &v))
        json_array_append_new(unreach, ml_task_state_json(v));
    ml_map_iter_init(&it, app->offers);
    while (ml_map_next(&it, NULL, &v)) {
        ml_offer *o = v;
        if (o->fw == fw) {
            ml_res_add(&offered, &o->res);
            json_array_append_new(offers,
                                  json_pack("{s:s, s:s, s:s, s:o}", "id", o->id, "framework_id",
                                            fw->id, "slave_id", o->agent->id, "resources",
                                            ml_res_to_summary(&o->res)));
        }
    }
    json_array_foreach(json_object_get(fw->info, "capabilities"), i, c)
    {
        if (json_is_string(json_object_get(c, "type")))
            json_array_append(caps, json_object_get(c, "type"));
    }
    {
        ml_res all = ML_RES_INIT;
        ml_res_copy(&all, &used);
        ml_res_add(&all, &offered);
        json_t *o = json_pack(
            "{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:b, s:b, s:b, s:s, s:f, s:b, s:f, s:f, s:o, "
            "s:[s], s:o, s:o, s:O, s:o, s:o, s:{}}",
            "id", fw->id, "name", nz(json_string_value(json_object_get(fw->info, "name")), ""),
            "used_resources", ml_res_to_summary(&used), "offered_resources",
            ml_res_to_summary(&offered), "capabilities", caps, "hostname",
            nz(json_string_value(json_object_get(fw->info, "hostname")), ""), "webui_url",
            nz(json_string_value(json_object_get(fw->info, "webui_url")), ""), "active",
            fw->stream != NULL && !fw->removed, "connected", fw->stream != NULL, "recovered",
            fw->recovered, "user", nz(json_string_value(json_object_get(fw->info, "user")), ""),
            "failover_timeout", fw->failover_timeout, "checkpoint", fw->checkpoint,
            "registered_time", fw->registered_time, "unregistered_time", fw->unregistered_time,
            "resources", ml_res_to_summary(&all), "roles", fw->role, "tasks", tasks,
            "unreachable_tasks", unreach, "completed_tasks", fw->completed, "offers", offers,
            "executors", executors, "offer_constraints");
        ml_res_release(&all);
        ml_res_release(&used);
        ml_res_release(&offered);
        return o;
    }
}

json_t *ml_master_state_json(ml_app *app)
{
    json_t *fws = json_array(), *done = json_array(), *slaves = json_array(),
           *unreach = json_array(), *recovered = json_array();
    char pid[128], leader[128], alloc[32];
    size_t active = 0;

    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        json_array_append_new(fw->removed ? done : fws, fw_state_json(fw));
    }
    for (size_t i = 0; i < app->nagents; i++) {
        ml_agent *a = app->agents[i];
        if (a->removed) {
            json_array_append_new(unreach, json_pack("{s:s, s:{s:I}}", "id", a->id, "timestamp",
                                                     "nanoseconds", (json_int_t)0));
            continue;
        }
        if (a->unknown)
            continue; /* a master that lost its registry does not know it */
        if (a->recovering) {
            json_array_append_new(recovered, json_pack("{s:s, s:s, s:i}", "id", a->id, "hostname",
                                                       a->hostname, "port", a->port));
            continue;
        }
        json_array_append_new(slaves, agent_state_json(a));
        active++;
    }
    ml_duration_str((int64_t)(app->cfg.allocation_s * 1e9), alloc, sizeof(alloc));
    snprintf(pid, sizeof(pid), "master@%s:%d", app->ip, app->cfg.listen_port);
    snprintf(leader, sizeof(leader), "master@%s:%d", app->ip, app->cfg.listen_port);
    return json_pack("{s:i, s:s, s:s, s:s, s:[], s:o, s:i, s:f, s:{s:s, s:s}, s:o, s:s, s:s, s:s, "
                     "s:o, s:s, s:[], s:s, s:o, s:o, s:f, s:o, s:[], s:s}",
                     "activated_slaves", (int)active, "build_date", "", "build_time", "0",
                     "build_user", "mesoslite", "capabilities", "completed_frameworks", done,
                     "deactivated_slaves", 0, "elected_time", app->elected_time, "flags",
                     "allocation_interval", alloc, "simulate", app->cfg.simulate ? "true" : "false",
                     "frameworks", fws, "hostname", app->cfg.hostname, "id", app->master_id,
                     "leader", leader, "leader_info",
                     ml_master_info(app->master_id, app->ip, app->cfg.listen_port,
                                    app->cfg.hostname, ML_VERSION),
                     "log_dir", "", "orphan_tasks", "pid", pid, "recovered_slaves", recovered,
                     "slaves", slaves, "start_time", app->start_time, "unreachable_slaves", unreach,
                     "unregistered_frameworks", "version", ML_VERSION);
}

json_t *ml_task_v1_json(ml_task *t)
{
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:O}", "name", t->name, "task_id",
                          ml_id(t->id), "framework_id", ml_id(t->fw->id), "agent_id",
                          ml_id(t->agent->id), "state", t->state, "resources",
                          ml_res_to_json(&t->res, "*", NULL), "statuses", t->statuses);
    json_t *head = json_array_get(t->pending, 0);
    if (t->exec && !t->exec->command)
        json_object_set_new(o, "executor_id", ml_id(t->exec->id));
    if (head) {
        json_object_set(o, "status_update_state", json_object_get(head, "state"));
        json_object_set(o, "status_update_uuid", json_object_get(head, "uuid"));
    } else if (t->latest) {
        json_object_set(o, "status_update_state", json_object_get(t->latest, "state"));
    }
    if (json_object_get(t->info, "labels"))
        json_object_set(o, "labels", json_object_get(t->info, "labels"));
    if (json_object_get(t->info, "kill_policy"))
        json_object_set(o, "kill_policy", json_object_get(t->info, "kill_policy"));
    return o;
}

json_t *ml_agent_info(const ml_agent *a)
{
    return json_pack("{s:s, s:i, s:o, s:O, s:o}", "hostname", a->hostname, "port", a->port, "id",
                     ml_id(a->id), "attributes", a->attributes, "resources",
                     ml_res_to_json(&a->total, "*", NULL));
}

/* GET_AGENTS: registered agents as Response.GetAgents.Agent; agents a
 * failed-over master has not heard from again as plain AgentInfo
 * (`repeated AgentInfo recovered_agents`, v1/master/master.proto).
 * Partitioned (removed) agents are in neither. */
static json_t *v1_agents(ml_app *app)
{
    json_t *arr = json_array(), *rec = json_array();
    for (size_t i = 0; i < app->nagents; i++) {
        ml_agent *a = app->agents[i];
        char pid[128];
        if (a->removed || a->unknown)
            continue;
        if (a->recovering) {
            json_array_append_new(rec, ml_agent_info(a));
            continue;
        }
        snprintf(pid, sizeof(pid), "slave(1)@%s:%d", app->ip, a->port);
        json_t *entry =
            json_pack("{s:o, s:b, s:b, s:s, s:s, s:{s:I}, s:o, s:o, s:o, s:[{s:s},{s:s}]}",
                           "agent_info", ml_agent_info(a), "active", true, "deactivated",
                           a->deactivated,
                           "version", ML_VERSION, "pid", pid, "registered_time", "nanoseconds",
                           (json_int_t)(a->registered_time * 1e9), "total_resources",
                           ml_res_to_json(&a->total, "*", NULL), "allocated_resources",
                           ml_res_to_json(&a->used, "*", NULL), "offered_resources",
                           ml_res_to_json(&a->offered, "*", NULL), "capabilities", "type",
                           "MULTI_ROLE", "type", "AGENT_DRAINING");
        if (a->draining) {
            /* DRAINED once no task is left (terminal and acknowledged). */
            json_t *config = json_pack("{s:b}", "mark_gone", false);
            if (a->drain_grace_s >= 0)
                json_object_set_new(config, "max_grace_period",
                                    json_pack("{s:I}", "seconds", (json_int_t)a->drain_grace_s));
            json_object_set_new(entry, "drain_info",
                                json_pack("{s:s, s:o}", "state",
                                          ml_map_size(a->tasks) ? "DRAINING" : "DRAINED",
                                          "config", config));
        }
        json_array_append_new(arr, entry);
    }
    return json_pack("{s:o, s:o}", "agents", arr, "recovered_agents", rec);
}

static json_t *v1_tasks(ml_app *app)
{
    json_t *tasks = json_array(), *unreach = json_array(), *done = json_array();
    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        ml_map_iter it;
        void *v;
        ml_map_iter_init(&it, fw->tasks);
        while (ml_map_next(&it, NULL, &v))
            json_array_append_new(tasks, ml_task_v1_json(v));
        ml_map_iter_init(&it, fw->unreachable);
        while (ml_map_next(&it, NULL, &v))
            json_array_append_new(unreach, ml_task_v1_json(v));
        json_array_extend(done, fw->completed_v1);
    }
    return json_pack("{s:o, s:o, s:o}", "tasks", tasks, "unreachable_tasks", unreach,
                     "completed_tasks", done);
}

static json_t *v1_frameworks(ml_app *app)
{
    json_t *arr = json_array(), *done = json_array();
    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        json_array_append_new(fw->removed ? done : arr,
                              json_pack("{s:O, s:b, s:b, s:b, s:{s:I}}", "framework_info", fw->info,
                                        "active", fw->stream != NULL, "connected",
                                        fw->stream != NULL, "recovered", fw->recovered,
                                        "registered_time", "nanoseconds",
                                        (json_int_t)(fw->registered_time * 1e9)));
    }
    return json_pack("{s:o, s:o}", "frameworks", arr, "completed_frameworks", done);
}

void ml_handle_operator(ml_app *app, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    size_t len;
    char *body;
    json_t *call;
    json_error_t je;
    const char *type;
    json_t *out = NULL;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "405 Method Not Allowed. Expecting one of { 'POST' }, but received '%s'.",
                 ml_method_name(req));
        ml_reply_text(req, 405, msg);
        return;
    }
    if (!ct) {
        ml_reply_text(req, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    if (strcmp(ct, "application/json") != 0) {
        ml_reply_text(req, 415,
                      "Expecting 'Content-Type' of application/json or application/x-protobuf");
        return;
    }
    body = ml_req_body(req, &len);
    call = json_loadb(body, len, 0, &je);
    free(body);
    if (!call) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Failed to parse body into JSON: %s", je.text);
        ml_reply_text(req, 400, msg);
        return;
    }
    type = json_string_value(json_object_get(call, "type"));
    if (!type) {
        ml_reply_text(req, 400, "Failed to validate master::Call: Expecting 'type' to be present");
    } else if (strcmp(type, "GET_AGENTS") == 0) {
        out = json_pack("{s:s, s:o}", "type", type, "get_agents", v1_agents(app));
    } else if (strcmp(type, "GET_TASKS") == 0) {
        out = json_pack("{s:s, s:o}", "type", type, "get_tasks", v1_tasks(app));
    } else if (strcmp(type, "GET_FRAMEWORKS") == 0) {
        out = json_pack("{s:s, s:o}", "type", type, "get_frameworks", v1_frameworks(app));
    } else if (strcmp(type, "GET_STATE") == 0) {
        out = json_pack("{s:s, s:{s:o, s:{s:[]}, s:o, s:o}}", "type", type, "get_state",
                        "get_tasks", v1_tasks(app), "get_executors", "executors", "get_frameworks",
                        v1_frameworks(app), "get_agents", v1_agents(app));
    } else if (strcmp(type, "GET_HEALTH") == 0) {
        out = json_pack("{s:s, s:{s:b}}", "type", type, "get_health", "healthy", true);
    } else if (strcmp(type, "GET_VERSION") == 0) {
        out = json_pack("{s:s, s:{s:{s:s}}}", "type", type, "get_version", "version_info",
                        "version", ML_VERSION);
    } else if (strcmp(type, "GET_MASTER") == 0) {
        out = json_pack("{s:s, s:{s:o, s:f, s:f}}", "type", type, "get_master", "master_info",
                        ml_master_info(app->master_id, app->ip, app->cfg.listen_port,
                                       app->cfg.hostname, ML_VERSION),
                        "start_time", app->start_time, "elected_time", app->elected_time);
    } else if (strcmp(type, "DRAIN_AGENT") == 0 || strcmp(type, "DEACTIVATE_AGENT") == 0 ||
               strcmp(type, "REACTIVATE_AGENT") == 0) {
        const char *field = type[0] == 'D' && type[1] == 'R'   ? "drain_agent"
                            : type[0] == 'D'                   ? "deactivate_agent"
                                                               : "reactivate_agent";
        const json_t *args = json_object_get(call, field);
        const char *aid = ml_id_get(args, "agent_id");
        ml_agent *a = aid ? ml_map_get(app->agents_by_id, aid) : NULL;
        if (!json_is_object(args) || !aid) {
            char msg[200];
            snprintf(msg, sizeof(msg), "Failed to validate master::Call: Expecting '%s' to be present",
                     field);
            ml_reply_text(req, 400, msg);
        } else if (!a || a->removed) {
            char msg[400];
            snprintf(msg, sizeof(msg), "Unknown agent '%s'", aid);
            ml_reply_text(req, 400, msg);
        } else {
            if (type[0] == 'R') {
                ml_agent_reactivate(a);
            } else if (type[1] == 'E') {
                ml_agent_deactivate(a);
            } else {
                const json_t *g = json_object_get(json_object_get(args, "max_grace_period"),
                                                  "seconds");
                ml_agent_drain(a, json_is_integer(g) ? (int64_t)json_integer_value(g) : -1);
            }
            ml_reply(req, 200, NULL, NULL, 0);
        }
    } else if (strcmp(type, "TEARDOWN") == 0) {
        ml_fw *fw = ml_map_get(
            app->frameworks, nz(ml_id_get(json_object_get(call, "teardown"), "framework_id"), ""));
        if (!fw || fw->removed) {
            ml_reply_text(req, 400, "Framework cannot be found");
        } else {
            ml_fw_remove(fw);
            ml_reply(req, 200, NULL, NULL, 0);
        }
    } else {
        char msg[200];
        snprintf(msg, sizeof(msg), "mesoslite does not implement operator call '%s'", type);
        ml_reply_text(req, 501, msg);
    }
    if (out)
        ml_reply_json(req, 200, out);
    json_decref(call);
}

/* The older v0 endpoints: /master/slaves, /master/frameworks, /master/tasks. */
json_t *ml_v0_slaves(ml_app *app)
{
    json_t *st = ml_master_state_json(app);
    json_t *out = json_pack("{s:O, s:O}", "slaves", json_object_get(st, "slaves"),
                            "recovered_slaves", json_object_get(st, "recovered_slaves"));
    json_decref(st);
    return out;
}

json_t *ml_v0_frameworks(ml_app *app)
{
    json_t *fws = json_array(), *done = json_array();
    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        json_array_append_new(fw->removed ? done : fws, fw_state_json(fw));
    }
    return json_pack("{s:o, s:o, s:[]}", "frameworks", fws, "completed_frameworks", done,
                     "unregistered_frameworks");
}

json_t *ml_v0_tasks(ml_app *app, long offset, long limit)
{
    json_t *all = json_array(), *page = json_array();
    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        ml_map *maps[2] = {fw->tasks, fw->unreachable};
        for (int m = 0; m < 2; m++) {
            ml_map_iter it;
            void *v;
            ml_map_iter_init(&it, maps[m]);
            while (ml_map_next(&it, NULL, &v))
                json_array_append_new(all, ml_task_state_json(v));
        }
        json_array_extend(all, fw->completed);
    }
    for (long i = offset < 0 ? 0 : offset;
         i < (long)json_array_size(all) && (long)json_array_size(page) < limit; i++)
        json_array_append(page, json_array_get(all, (size_t)i));
    json_decref(all);
    return json_pack("{s:o}", "tasks", page);
}
