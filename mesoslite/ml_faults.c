/* The fault-injection surface under /__ml/ (only with --faults). */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"

static ml_agent *find_agent(ml_app *app, const char *s)
{
    ml_agent *a = ml_map_get(app->agents_by_id, s);
    char *end;
    long i;
    if (a)
        return a;
    i = strtol(s, &end, 10);
    if (*s && *end == '\0' && i >= 0 && (size_t)i < app->nagents)
        return app->agents[i];
    return NULL;
}

static void ok(struct evhttp_request *req, json_t *extra)
{
    json_t *o = extra ? extra : json_object();
    json_object_set_new(o, "ok", json_true());
    ml_reply_json(req, 200, o);
}

static void not_found(struct evhttp_request *req, const char *what, const char *id)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s '%s' not found", what, id);
    ml_reply_json(req, 404, json_pack("{s:s}", "error", msg));
}

static long long qnum(struct evhttp_request *req, const char *name, long long dflt)
{
    char *v = ml_req_query(req, name);
    long long n = dflt;
    if (v) {
        n = strtoll(v, NULL, 10);
        free(v);
    }
    return n;
}

/* path is "/agents/<id>/remove" etc. (after "/__ml"). */
void ml_faults_handle(ml_app *app, struct evhttp_request *req, const char *path)
{
    char a1[256] = "", a2[512] = "", a3[64] = "";
    int n = sscanf(path, "/%255[^/]/%511[^/]/%63[^/]", a1, a2, a3);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST &&
        !(n == 1 && strcmp(a1, "state") == 0)) {
        ml_reply_json(req, 405, json_pack("{s:s}", "error", "use POST"));
        return;
    }
    if (n == 2 && strcmp(a1, "agents") == 0 && strcmp(a2, "add") == 0) {
        char *res = ml_req_query(req, "resources"), *rack = ml_req_query(req, "rack");
        char *attrs = ml_req_query(req, "attributes");
        cr_err err;
        ml_agent *a = ml_agent_add(app, res, rack, attrs, &err);
        free(res);
        free(rack);
        free(attrs);
        if (!a) {
            ml_reply_json(req, 400, json_pack("{s:s}", "error", cr_err_msg(&err)));
            return;
        }
        return ok(req, json_pack("{s:s, s:i}", "agent_id", a->id, "index", a->index));
    }
    if (n == 3 && strcmp(a1, "agents") == 0) {
        ml_agent *a = find_agent(app, a2);
        if (!a)
            return not_found(req, "agent", a2);
        if (strcmp(a3, "remove") == 0) {
            long long heal = qnum(req, "restore_after_ms", -1),
                      gone = qnum(req, "gone_after_ms", -1);
            if (heal >= 0 && gone >= 0) {
                ml_reply_json(req, 400,
                              json_pack("{s:s}", "error",
                                        "restore_after_ms and gone_after_ms exclude "
                                        "each other"));
                return;
            }
            if (a->gone) {
                ml_reply_json(req, 400, json_pack("{s:s}", "error", "the agent is gone for good"));
                return;
            }
            ml_agent_remove(a);
            if (heal >= 0)
                ml_agent_fault_after(a, ML_AGENT_HEAL, heal);
            else if (gone >= 0)
                ml_agent_fault_after(a, ML_AGENT_GONE, gone);
        } else if (strcmp(a3, "restore") == 0) {
            if (a->gone) {
                ml_reply_json(req, 400, json_pack("{s:s}", "error", "the agent is gone for good"));
                return;
            }
            ml_agent_restore(a);
        } else if (strcmp(a3, "gone") == 0) {
            ml_agent_remove(a);
            ml_agent_gone(a);
        } else {
            return not_found(req, "action", a3);
        }
        return ok(req, json_pack("{s:s}", "agent_id", a->id));
    }
    if (n == 2 && strcmp(a1, "updates") == 0 && strcmp(a2, "drop") == 0) {
        char *task = ml_req_query(req, "task");
        app->drop_updates = (int)qnum(req, "count", 1);
        free(app->drop_task);
        app->drop_task = task;
        return ok(req, NULL);
    }
    if (n == 2 && strcmp(a1, "updates") == 0 && strcmp(a2, "delay") == 0) {
        app->delay_updates_ms = qnum(req, "ms", 0);
        return ok(req, NULL);
    }
    if (n == 3 && strcmp(a1, "frameworks") == 0 && strcmp(a3, "break-stream") == 0) {
        ml_fw *fw = ml_map_get(app->frameworks, a2);
        if (!fw || !fw->stream)
            return not_found(req, "connected framework", a2);
        ml_fw_break_stream(fw);
        return ok(req, NULL);
    }
    if (n == 2 && strcmp(a1, "master") == 0 && strcmp(a2, "failover") == 0) {
        ml_master_failover(app, qnum(req, "reregister_ms", 1000));
        return ok(req, NULL);
    }
    if (n == 2 && strcmp(a1, "master") == 0 && strcmp(a2, "restart") == 0) {
        ml_master_restart(app, qnum(req, "reregister_ms", 1000));
        return ok(req, NULL);
    }
    if (n == 3 && strcmp(a1, "tasks") == 0 && strcmp(a3, "exit") == 0) {
        ml_task *t = ml_find_task(app, a2);
        if (!t)
            return not_found(req, "task", a2);
        ml_agent_force_exit(t, (int)qnum(req, "code", 0));
        return ok(req, NULL);
    }
    if (n == 1 && strcmp(a1, "state") == 0) {
        size_t tasks = 0;
        for (size_t i = 0; i < app->nfw; i++)
            tasks += ml_map_size(app->fw_list[i]->tasks);
        return ok(req, json_pack("{s:I, s:I, s:I, s:i, s:I}", "frameworks", (json_int_t)app->nfw,
                                 "agents", (json_int_t)app->nagents, "tasks", (json_int_t)tasks,
                                 "drop_updates", app->drop_updates, "delay_updates_ms",
                                 (json_int_t)app->delay_updates_ms));
    }
    not_found(req, "fault", path);
}
