/* The master: the scheduler API, frameworks and their streams, ACCEPT and
 * launches, reconciliation and kills, the master side of faults, and the
 * app lifecycle. Offers live in ml_alloc.c, updates in ml_updates.c. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"

/* --- small helpers --------------------------------------------------------- */

double ml_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void random_bytes(uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            abort();
    }
}

void ml_random_uuid(char out[37])
{
    uint8_t u[16];
    random_bytes(u, sizeof(u));
    ml_uuid_v4_from(u);
    ml_uuid_str(u, out);
}

char *ml_random_uuid_b64(void)
{
    uint8_t u[16];
    random_bytes(u, sizeof(u));
    ml_uuid_v4_from(u);
    return ml_b64_encode(u, sizeof(u));
}

static bool has_capability(const json_t *info, const char *cap)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(info, "capabilities"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, cap) == 0)
            return true;
    }
    return false;
}

/* --- events to a framework -------------------------------------------------- */

void ml_fw_send(ml_fw *fw, json_t *ev)
{
    if (!fw || !fw->stream) {
        json_decref(ev);
        return;
    }
    ml_stream_send(fw->stream, ev);
}

/* Master-generated updates: no uuid, unreliable. */
static void send_master_status(ml_fw *fw, json_t *status)
{
    ml_fw_send(fw, ml_ev_update(status));
}

/* --- frameworks ---------------------------------------------------------- */

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_fw_send(arg, ml_ev_heartbeat());
}

void ml_fw_remove(ml_fw *fw);

static void failover_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_fw *fw = arg;
    cr_info(fw->app->log, "framework %s: failover timeout expired, removing it", fw->id);
    ml_fw_remove(fw);
}

static void stream_gone(ml_stream *s)
{
    ml_fw *fw = s->owner;
    fw->stream = NULL;
    cr_info(fw->app->log, "framework %s: subscription stream closed", fw->id);
    ml_fw_disconnected(fw);
}

void ml_fw_disconnected(ml_fw *fw)
{
    struct timeval tv;
    if (fw->heartbeat)
        evtimer_del(fw->heartbeat);
    fw->stream = NULL;
    fw->unregistered_time = ml_now();
    ml_rescind_fw_offers(fw, false);
    if (fw->removed)
        return;
    if (fw->recovered) /* failover_timeout is not kept across master failover */
        return;
    tv = ml_tv_ms((int64_t)(fw->failover_timeout * 1000.0));
    if (!fw->failover_timer)
        fw->failover_timer = evtimer_new(fw->app->base, failover_cb, fw);
    evtimer_add(fw->failover_timer, &tv);
}

void ml_fw_break_stream(ml_fw *fw)
{
    ml_stream *s = fw->stream;
    if (!s)
        return;
    fw->stream = NULL;
    ml_stream_close(s);
    ml_fw_disconnected(fw);
}

/* Removes a framework: its tasks are killed and recorded TASK_KILLED with
 * REASON_FRAMEWORK_REMOVED; its id can no longer subscribe. */
void ml_fw_remove(ml_fw *fw)
{
    ml_app *app = fw->app;
    ml_map *maps[2] = {fw->tasks, fw->unreachable};

    fw->removed = true;
    if (fw->failover_timer)
        evtimer_del(fw->failover_timer);
    if (fw->stream) {
        ml_stream *s = fw->stream;
        fw->stream = NULL;
        ml_stream_close(s);
    }
    if (fw->heartbeat)
        evtimer_del(fw->heartbeat);
    ml_rescind_fw_offers(fw, false);
    for (int m = 0; m < 2; m++) {
        ml_map_iter it;
        void *v;
        ml_map_iter_init(&it, maps[m]);
        while (ml_map_next(&it, NULL, &v)) {
            ml_task *t = v;
            ml_status_spec s = {0};
            if (!ml_state_terminal(t->state)) {
                s.task_id = t->id;
                s.state = "TASK_KILLED";
                s.source = "SOURCE_MASTER";
                s.reason = "REASON_FRAMEWORK_REMOVED";
                s.message = "Framework removed";
                s.agent_id = t->agent->id;
                s.timestamp = ml_now();
                s.healthy = -1;
                json_t *st = ml_status_json(&s);
                ml_task_record(t, st);
                json_decref(st);
            }
            ml_agent_kill_task(t, 0);
            ml_task_complete(t);
        }
    }
    /* Executors of the framework go away too. */
    for (size_t i = 0; i < app->nagents; i++) {
        ml_map_iter it;
        void *v;
        ml_map_iter_init(&it, app->agents[i]->execs);
        while (ml_map_next(&it, NULL, &v)) {
            ml_exec *e = v;
            if (e->fw == fw)
                ml_agent_shutdown_exec(e);
        }
    }
    ml_clear_filters(fw);
    ml_allocate_soon(app);
}

static ml_fw *fw_new(ml_app *app, const char *id)
{
    ml_fw *fw = xcalloc(1, sizeof(*fw));
    fw->app = app;
    fw->id = xstrdup(id);
    fw->tasks = ml_map_new();
    fw->unreachable = ml_map_new();
    fw->filters = ml_map_new();
    fw->completed = json_array();
    fw->completed_v1 = json_array();
    fw->role = xstrdup("*");
    fw->heartbeat = event_new(app->base, -1, EV_PERSIST, heartbeat_cb, fw);
    ml_map_put(app->frameworks, fw->id, fw);
    app->fw_list = xrealloc(app->fw_list, (app->nfw + 1) * sizeof(*app->fw_list));
    app->fw_list[app->nfw++] = fw;
    return fw;
}

static void fw_free(ml_fw *fw)
{
    ml_map_iter it;
    void *v;
    ml_map *maps[2] = {fw->tasks, fw->unreachable};

    if (fw->stream)
        ml_stream_close(fw->stream);
    for (int m = 0; m < 2; m++) {
        ml_map_iter_init(&it, maps[m]);
        while (ml_map_next(&it, NULL, &v))
            ml_task_free(v);
        ml_map_free(maps[m]);
    }
    ml_clear_filters(fw);
    ml_map_free(fw->filters);
    if (fw->heartbeat)
        event_free(fw->heartbeat);
    if (fw->failover_timer)
        event_free(fw->failover_timer);
    json_decref(fw->info);
    json_decref(fw->completed);
    json_decref(fw->completed_v1);
    free(fw->role);
    free(fw->id);
    free(fw);
}

static void fw_apply_info(ml_fw *fw, json_t *info, bool resubscribe)
{
    json_t *roles = json_object_get(info, "roles");
    const char *role = json_string_value(json_object_get(info, "role"));
    json_t *ft = json_object_get(info, "failover_timeout");
    json_t *copy = json_deep_copy(info);

    if (resubscribe && fw->info) {
        /* user and checkpoint cannot change on re-subscribe */
        json_object_set(copy, "user", json_object_get(fw->info, "user"));
        if (json_object_get(fw->info, "checkpoint"))
            json_object_set(copy, "checkpoint", json_object_get(fw->info, "checkpoint"));
        else
            json_object_del(copy, "checkpoint");
    }
    json_object_set_new(copy, "id", ml_id(fw->id));
    json_decref(fw->info);
    fw->info = copy;
    fw->pa = has_capability(info, "PARTITION_AWARE");
    fw->killing_state = has_capability(info, "TASK_KILLING_STATE");
    fw->multi_role = has_capability(info, "MULTI_ROLE");
    fw->checkpoint = json_is_true(json_object_get(copy, "checkpoint"));
    fw->failover_timeout = json_is_number(ft)   ? json_number_value(ft)
                           : json_is_string(ft) ? strtod(json_string_value(ft), NULL)
                                                : 0;
    if (fw->failover_timeout < 0 || isnan(fw->failover_timeout))
        fw->failover_timeout = 0;
    free(fw->role);
    if (json_array_size(roles) && json_is_string(json_array_get(roles, 0)))
        fw->role = xstrdup(json_string_value(json_array_get(roles, 0)));
    else
        fw->role = xstrdup(role ? role : "*");
}

static const char *accept_ok(struct evhttp_request *req)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    if (!a || strstr(a, "application/json") || strstr(a, "*/*") || strstr(a, "application/*"))
        return NULL;
    if (strstr(a, "application/x-protobuf"))
        return "mesoslite speaks JSON only: send 'Accept: application/json'";
    return "Expecting 'Accept' to allow 'application/json' or 'application/x-protobuf'";
}

static void handle_subscribe(ml_app *app, struct evhttp_request *req, json_t *call)
{
    json_t *sub = json_object_get(call, "subscribe");
    json_t *info = json_object_get(sub, "framework_info");
    const char *id = ml_id_get(call, "framework_id");
    const char *bad;
    ml_fw *fw = NULL;
    ml_stream *s;
    char fid[64];
    bool resub = false;

    if ((bad = accept_ok(req))) {
        ml_reply_text(req, 406, bad);
        return;
    }
    if (evhttp_find_header(evhttp_request_get_input_headers(req), "Mesos-Stream-Id")) {
        ml_reply_text(req, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        return;
    }
    if (!json_is_string(json_object_get(info, "user")) ||
        !json_is_string(json_object_get(info, "name"))) {
        ml_reply_text(req, 400,
                      "Failed to convert JSON into Call protobuf: Missing required fields: "
                      "subscribe.framework_info.user, subscribe.framework_info.name");
        return;
    }
    if (id) {
        fw = ml_map_get(app->frameworks, id);
        if (fw && fw->removed) {
            s = ml_stream_open(app, req, NULL, NULL, NULL);
            ml_stream_send(s, ml_ev_error("Framework has been removed"));
            ml_stream_close(s);
            return;
        }
        if (!fw) {
            if (!ml_valid_id(id)) {
                s = ml_stream_open(app, req, NULL, NULL, NULL);
                ml_stream_send(s, ml_ev_error("Invalid framework id"));
                ml_stream_close(s);
                return;
            }
            fw = fw_new(app, id); /* as a master recovering a framework it never saw */
            fw->registered_time = ml_now();
        } else {
            resub = true;
        }
    } else {
        snprintf(fid, sizeof(fid), "%s-%04llu", app->master_id, (unsigned long long)app->next_fw++);
        fw = fw_new(app, fid);
        fw->registered_time = ml_now();
    }
    if (fw->stream) {
        ml_stream *old = fw->stream;
        fw->stream = NULL;
        ml_stream_send(old, ml_ev_error("Framework failed over"));
        ml_stream_close(old);
        cr_info(app->log, "framework %s failed over to a new subscriber", fw->id);
    }
    fw_apply_info(fw, info, resub);
    fw->recovered = false;
    fw->suppressed = json_array_size(json_object_get(sub, "suppressed_roles")) > 0;
    if (fw->failover_timer)
        evtimer_del(fw->failover_timer);
    ml_random_uuid(fw->stream_id);
    fw->stream = ml_stream_open(app, req, fw->stream_id, stream_gone, fw);
    fw->unregistered_time = 0;
    cr_info(app->log, "framework %s (%s) subscribed, stream %s", fw->id,
            json_string_value(json_object_get(info, "name")), fw->stream_id);
    ml_fw_send(fw, ml_ev_subscribed(fw->id, app->cfg.heartbeat_s,
                                    ml_master_info(app->master_id, app->ip, app->cfg.listen_port,
                                                   app->cfg.hostname, ML_VERSION)));
    ml_fw_send(fw, ml_ev_heartbeat());
    {
        struct timeval tv = ml_tv_ms((int64_t)(app->cfg.heartbeat_s * 1000.0));
        evtimer_add(fw->heartbeat, &tv);
    }
    /* Unacknowledged updates are re-sent to the new subscriber. */
    {
        ml_map *maps[2] = {fw->tasks, fw->unreachable};
        for (int m = 0; m < 2; m++) {
            ml_map_iter it;
            void *v;
            ml_map_iter_init(&it, maps[m]);
            while (ml_map_next(&it, NULL, &v))
                if (json_array_size(((ml_task *)v)->pending))
                    ml_task_resend(v);
        }
    }
    ml_allocate_soon(app);
}

/* --- ACCEPT ------------------------------------------------------------------ */

static json_t *master_status(const char *task_id, const char *state, const char *reason,
                             const char *message, const char *agent_id)
{
    ml_status_spec s = {0};
    s.task_id = task_id;
    s.state = state;
    s.source = "SOURCE_MASTER";
    s.reason = reason;
    s.message = message;
    s.agent_id = agent_id;
    s.timestamp = ml_now();
    s.healthy = -1;
    return ml_status_json(&s);
}

static void launch_fail_all(ml_fw *fw, json_t *ops, const char *state, const char *reason,
                            const char *message)
{
    size_t i, j;
    json_t *op, *ti;
    json_array_foreach(ops, i, op)
    {
        const char *type = json_string_value(json_object_get(op, "type"));
        json_t *tasks = NULL;
        if (type && strcmp(type, "LAUNCH") == 0)
            tasks = json_object_get(json_object_get(op, "launch"), "task_infos");
        else if (type && strcmp(type, "LAUNCH_GROUP") == 0)
            tasks = json_object_get(
                json_object_get(json_object_get(op, "launch_group"), "task_group"), "tasks");
        json_array_foreach(tasks, j, ti)
        {
            const char *tid = ml_id_get(ti, "task_id");
            if (tid)
                send_master_status(
                    fw, master_status(tid, state, reason, message, ml_id_get(ti, "agent_id")));
        }
    }
}

/* The master's checks of a ContainerInfo (Mesos' common validation):
 * NULL when it is valid or absent, else the reason, in buf. */
static const char *container_invalid(const json_t *c, char *buf, size_t n)
{
    const char *type = json_string_value(json_object_get(c, "type"));
    const json_t *docker = json_object_get(c, "docker"), *v;
    size_t i;

    if (!c)
        return NULL;
    json_array_foreach(json_object_get(c, "volumes"), i, v)
    {
        const json_t *src = json_object_get(v, "source");
        int count = (json_object_get(v, "host_path") != NULL) +
                    (json_object_get(v, "image") != NULL) + (src != NULL);
        if (count != 1)
            return "Invalid volume: Only one of them should be set: 'host_path', 'image' and "
                   "'source'";
        if (src && !json_is_object(json_object_get(src, "docker_volume")))
            return "Invalid volume: 'source.docker_volume' is not set for DOCKER_VOLUME volume";
    }
    if (type && strcmp(type, "DOCKER") == 0) {
        if (!json_is_object(docker) || !json_is_string(json_object_get(docker, "image")))
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo";
        json_array_foreach(json_object_get(docker, "parameters"), i, v)
        {
            if (strcmp(nz(json_string_value(json_object_get(v, "key")), ""), "name") == 0)
                return "Parameter in DockerInfo must not be 'name'";
        }
    } else if (!type || strcmp(type, "MESOS") != 0) {
        snprintf(buf, n, "'type' must be DOCKER or MESOS, not '%s'", type ? type : "");
        return buf;
    }
    return NULL;
}

/* Validates one TaskInfo against the remaining offered resources; on success
 * fills res (task plus new-executor resources) and returns NULL, else the
 * TASK_ERROR message (static or in buf). */
static const char *validate_task(ml_fw *fw, ml_agent *a, json_t *ti, const ml_res *avail,
                                 ml_res *res, ml_res *exec_res, bool *new_exec, char *buf, size_t n)
{
    const char *tid = ml_id_get(ti, "task_id");
    const char *aid = ml_id_get(ti, "agent_id");
    json_t *cmd = json_object_get(ti, "command");
    json_t *ex = json_object_get(ti, "executor");
    ml_res total = ML_RES_INIT;
    const char *cmsg;
    char cbuf[128];
    cr_err err;

    *new_exec = false;
    if (!tid || !ml_valid_id(tid))
        return "Task ID is invalid: it must be non-empty, at most 255 characters, not '.' or "
               "'..', without '/', '\\' or control characters";
    if (!json_is_string(json_object_get(ti, "name")))
        return "Task is missing required field 'name'";
    if (ml_map_get(fw->tasks, tid) || ml_map_get(fw->unreachable, tid)) {
        snprintf(buf, n, "Task has duplicate ID: %s", tid);
        return buf;
    }
    if (!aid || strcmp(aid, a->id) != 0) {
        snprintf(buf, n, "Task uses agent %s that does not match the offer's agent %s",
                 aid ? aid : "(none)", a->id);
        return buf;
    }
    if ((cmd && ex) || (!cmd && !ex))
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo "
               "present";
    if (ml_res_from_json(res, json_object_get(ti, "resources"), &err)) {
        snprintf(buf, n, "Task has invalid resources: %s", cr_err_msg(&err));
        return buf;
    }
    if (ml_res_empty(res))
        return "Task uses no resources";
    ml_res_clear(exec_res);
    if (ex) {
        const char *eid = ml_id_get(ex, "executor_id");
        ml_exec *e;
        if (!eid || !ml_valid_id(eid))
            return "ExecutorInfo has an invalid or missing 'executor_id'";
        if (!json_is_object(json_object_get(ex, "command")))
            return "ExecutorInfo of a CUSTOM executor must have 'command'";
        e = ml_agent_exec(a, fw->id, eid);
        if (!e || e->state == ML_EX_TERMINATING) {
            if (ml_res_from_json(exec_res, json_object_get(ex, "resources"), &err)) {
                snprintf(buf, n, "Executor has invalid resources: %s", cr_err_msg(&err));
                return buf;
            }
            *new_exec = true;
        } else {
            json_t *mine = json_deep_copy(ex), *theirs = json_deep_copy(e->info);
            bool same;
            json_object_del(mine, "framework_id");
            json_object_del(theirs, "framework_id");
            same = json_equal(mine, theirs);
            json_decref(mine);
            json_decref(theirs);
            if (!same)
                return "ExecutorInfo is not compatible with existing ExecutorInfo";
        }
    }
    if ((cmsg = container_invalid(json_object_get(ti, "container"), cbuf, sizeof(cbuf)))) {
        snprintf(buf, n, "Task's `ContainerInfo` is invalid: %s", cmsg);
        return buf;
    }
    if (ex && (cmsg = container_invalid(json_object_get(ex, "container"), cbuf, sizeof(cbuf)))) {
        snprintf(buf, n, "Executor's `ContainerInfo` is invalid: %s", cmsg);
        return buf;
    }
    {
        json_t *kp = json_object_get(
            json_object_get(json_object_get(ti, "kill_policy"), "grace_period"), "nanoseconds");
        if (kp && json_is_integer(kp) && json_integer_value(kp) < 0)
            return "Task's 'kill_policy.grace_period' must be non-negative";
    }
    ml_res_copy(&total, res);
    ml_res_add(&total, exec_res);
    if (!ml_res_contains(avail, &total)) {
        json_t *want = ml_res_to_summary(&total), *have = ml_res_to_summary(avail);
        char *w = json_dumps(want, JSON_COMPACT), *h = json_dumps(have, JSON_COMPACT);
        snprintf(buf, n,
                 "Total resources %s required by task and its executor is more than available %s",
                 w, h);
        free(w);
        free(h);
        json_decref(want);
        json_decref(have);
        ml_res_release(&total);
        return buf;
    }
    ml_res_release(&total);
    return NULL;
}

static void launch_task(ml_fw *fw, ml_agent *a, json_t *ti, ml_res *avail)
{
    ml_app *app = fw->app;
    ml_res res = ML_RES_INIT, exec_res = ML_RES_INIT;
    char buf[1024];
    bool new_exec;
    const char *msg = validate_task(fw, a, ti, avail, &res, &exec_res, &new_exec, buf, sizeof(buf));
    const char *tid = ml_id_get(ti, "task_id");
    ml_task *t;
    char key[600];

    if (msg) {
        send_master_status(
            fw, master_status(tid ? tid : "", "TASK_ERROR", "REASON_TASK_INVALID", msg, a->id));
        goto out;
    }
    ml_res_sub(avail, &res);
    ml_res_sub(avail, &exec_res);
    ml_res_add(&a->used, &res);
    ml_res_add(&a->used, &exec_res);
    t = xcalloc(1, sizeof(*t));
    t->id = xstrdup(tid);
    t->name = xstrdup(json_string_value(json_object_get(ti, "name")));
    t->fw = fw;
    t->agent = a;
    t->info = json_deep_copy(ti);
    if (json_object_get(t->info, "executor") &&
        !json_object_get(json_object_get(t->info, "executor"), "framework_id"))
        json_object_set_new(json_object_get(t->info, "executor"), "framework_id", ml_id(fw->id));
    ml_res_init(&t->res);
    ml_res_copy(&t->res, &res);
    t->state = "TASK_STAGING";
    t->statuses = json_array();
    t->pending = json_array();
    t->forced_exit = -1;
    ml_map_put(fw->tasks, t->id, t);
    ml_agent_task_key(t, key, sizeof(key));
    ml_map_put(a->tasks, key, t);
    app->ntasks_total++;
    ml_agent_launch(a, t);
    if (new_exec && t->exec && !t->exec->command)
        ml_res_copy(&t->exec->res, &exec_res); /* returned when the executor ends */
    else if (new_exec)
        ml_res_sub(&a->used, &exec_res); /* simulated: no executor to hold them */
out:
    ml_res_release(&res);
    ml_res_release(&exec_res);
}

static void handle_accept(ml_fw *fw, json_t *body, bool decline)
{
    ml_app *app = fw->app;
    json_t *ids = json_object_get(body, "offer_ids");
    json_t *ops = json_object_get(body, "operations");
    int64_t refuse = ml_refuse_ms(json_object_get(body, "filters"));
    ml_res avail = ML_RES_INIT;
    ml_agent *agent = NULL;
    const char *invalid = NULL;
    char msg[512];
    size_t i;
    json_t *oid;
    ml_map *seen = ml_map_new();

    /* Collect the offers: all must be live, ours, on one agent, no duplicates. */
    json_array_foreach(ids, i, oid)
    {
        const char *id = json_string_value(json_object_get(oid, "value"));
        ml_offer *o = id ? ml_map_get(app->offers, id) : NULL;
        if (!id) {
            invalid = "Offer ID missing";
            continue;
        }
        if (ml_map_get(seen, id)) {
            snprintf(msg, sizeof(msg), "Duplicate offer %s in the same call", id);
            invalid = msg;
            continue;
        }
        ml_map_put(seen, id, (void *)1);
        if (!o || o->fw != fw) {
            if (!invalid) {
                snprintf(msg, sizeof(msg), "Offer %s is no longer valid", id);
                invalid = msg;
            }
            continue;
        }
        if (agent && o->agent != agent && !invalid) {
            invalid = "Aggregated offers must belong to one single agent";
        }
        agent = agent ? agent : o->agent;
        ml_res_add(&avail, &o->res);
        ml_offer_remove(app, o, false);
    }
    ml_map_free(seen);
    if (!decline && json_array_size(ops)) {
        if (!json_array_size(ids))
            invalid = "No offers were specified";
        if (invalid) {
            char full[700];
            snprintf(full, sizeof(full), "Task launched with invalid offers: %s", invalid);
            launch_fail_all(fw, ops, fw->pa ? "TASK_DROPPED" : "TASK_LOST", "REASON_INVALID_OFFERS",
                            full);
        } else {
            json_t *op;
            json_array_foreach(ops, i, op)
            {
                const char *type = json_string_value(json_object_get(op, "type"));
                size_t j;
                json_t *ti;
                if (type && strcmp(type, "LAUNCH") == 0) {
                    json_array_foreach(json_object_get(json_object_get(op, "launch"), "task_infos"),
                                       j, ti)
                    {
                        launch_task(fw, agent, ti, &avail);
                    }
                } else if (type && strcmp(type, "LAUNCH_GROUP") == 0) {
                    json_array_foreach(
                        json_object_get(
                            json_object_get(json_object_get(op, "launch_group"), "task_group"),
                            "tasks"),
                        j, ti)
                    {
                        const char *tid = ml_id_get(ti, "task_id");
                        send_master_status(
                            fw,
                            master_status(tid ? tid : "", "TASK_ERROR", "REASON_TASK_GROUP_INVALID",
                                          "LAUNCH_GROUP is not supported by mesoslite", agent->id));
                    }
                }
                /* Reservations and volumes are not modelled: dropped, as Mesos
                 * drops invalid non-launch operations. */
            }
        }
    }
    if (agent && !invalid)
        ml_set_filter(fw, agent, &avail, refuse);
    ml_res_release(&avail);
    /* Like Mesos' allocator, recovered resources wait for the next batch
     * allocation (MESOS-3078): no offer follows an ACCEPT or DECLINE at once. */
}

/* --- RECONCILE and KILL -------------------------------------------------------- */

static json_t *reconcile_status(ml_task *t)
{
    json_t *st = json_object();
    json_t *l = t->latest;
    json_object_set_new(st, "task_id", ml_id(t->id));
    json_object_set_new(st, "state", json_string(t->state));
    json_object_set_new(st, "message", json_string("Reconciliation: Latest task state"));
    json_object_set_new(st, "source", json_string("SOURCE_MASTER"));
    json_object_set_new(st, "reason", json_string("REASON_RECONCILIATION"));
    json_object_set_new(st, "agent_id", ml_id(t->agent->id));
    json_object_set_new(st, "timestamp", json_real(ml_now()));
    if (l && json_object_get(l, "healthy"))
        json_object_set(st, "healthy", json_object_get(l, "healthy"));
    if (l && json_object_get(l, "container_status"))
        json_object_set(st, "container_status", json_object_get(l, "container_status"));
    return st;
}

static void reconcile_one(ml_fw *fw, const char *tid, const char *aid)
{
    ml_app *app = fw->app;
    ml_task *t = ml_map_get(fw->tasks, tid);
    ml_agent *a = aid ? ml_map_get(app->agents_by_id, aid) : NULL;
    json_t *st;

    if (t && t->agent->unknown) {
        /* a master that lost its registry knows neither agent nor task */
        send_master_status(fw, master_status(tid, fw->pa ? "TASK_UNKNOWN" : "TASK_LOST",
                                             "REASON_RECONCILIATION",
                                             "Reconciliation: Task is unknown", NULL));
        return;
    }
    if (t) {
        if (t->agent->recovering)
            return; /* no answer until the agent re-registers */
        send_master_status(fw, reconcile_status(t));
        return;
    }
    t = ml_map_get(fw->unreachable, tid);
    if (t && t->agent->gone) {
        send_master_status(fw, master_status(tid, fw->pa ? "TASK_GONE" : "TASK_LOST",
                                             "REASON_RECONCILIATION",
                                             "Reconciliation: Task is gone", t->agent->id));
        return;
    }
    if (t && aid && a == t->agent) {
        st = master_status(tid, fw->pa ? "TASK_UNREACHABLE" : "TASK_LOST", "REASON_RECONCILIATION",
                           "Reconciliation: Task is unreachable", aid);
        if (fw->pa)
            json_object_set_new(st, "unreachable_time",
                                json_pack("{s:I}", "nanoseconds", (json_int_t)t->unreachable_ns));
        send_master_status(fw, st);
        return;
    }
    if (a && a->recovering && !a->unknown)
        return;
    if (a && a->unknown) {
        send_master_status(fw, master_status(tid, fw->pa ? "TASK_UNKNOWN" : "TASK_LOST",
                                             "REASON_RECONCILIATION",
                                             "Reconciliation: Task is unknown", NULL));
        return;
    }
    if (a && a->removed) {
        st = master_status(tid, fw->pa ? "TASK_UNREACHABLE" : "TASK_LOST", "REASON_RECONCILIATION",
                           "Reconciliation: Task is unreachable", aid);
        send_master_status(fw, st);
        return;
    }
    if (a) {
        send_master_status(fw, master_status(tid, fw->pa ? "TASK_GONE" : "TASK_LOST",
                                             "REASON_RECONCILIATION",
                                             "Reconciliation: Task is unknown to the agent", aid));
        return;
    }
    send_master_status(fw, master_status(tid, fw->pa ? "TASK_UNKNOWN" : "TASK_LOST",
                                         "REASON_RECONCILIATION", "Reconciliation: Task is unknown",
                                         NULL));
}

static void handle_reconcile(ml_fw *fw, json_t *body)
{
    json_t *tasks = json_object_get(body, "tasks");
    size_t i;
    json_t *it;

    if (json_array_size(tasks) == 0) {
        ml_map_iter mi;
        void *v;
        ml_map_iter_init(&mi, fw->tasks);
        while (ml_map_next(&mi, NULL, &v)) {
            ml_task *t = v;
            if (!t->agent->recovering)
                send_master_status(fw, reconcile_status(t));
        }
        return;
    }
    json_array_foreach(tasks, i, it)
    {
        const char *tid = ml_id_get(it, "task_id");
        if (tid)
            reconcile_one(fw, tid, ml_id_get(it, "agent_id"));
    }
}

static int64_t grace_ns_of(const json_t *kill_policy)
{
    json_t *ns = json_object_get(json_object_get(kill_policy, "grace_period"), "nanoseconds");
    if (json_is_integer(ns))
        return json_integer_value(ns);
    if (json_is_string(ns))
        return strtoll(json_string_value(ns), NULL, 10);
    return -1;
}

static void handle_kill(ml_fw *fw, json_t *body)
{
    const char *tid = ml_id_get(body, "task_id");
    ml_task *t = ml_map_get(fw->tasks, tid);
    int64_t ns;

    if (!t) {
        reconcile_one(fw, tid, ml_id_get(body, "agent_id"));
        return;
    }
    if (t->agent->removed || t->agent->recovering)
        return; /* the scheduler retries */
    if (ml_state_terminal(t->state))
        return;
    ns = grace_ns_of(json_object_get(body, "kill_policy"));
    if (ns < 0)
        ns = grace_ns_of(json_object_get(t->info, "kill_policy"));
    ml_agent_kill_task(t, ns < 0 ? -1 : ns / 1000000);
}

/* --- the scheduler endpoint ---------------------------------------------------- */

static void handle_scheduler(ml_app *app, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t len;
    char *body = ml_req_body(req, &len);
    ml_check chk;
    const char *type, *fid, *sid;
    ml_fw *fw;
    json_t *call;
    char msg[512];

    ml_check_call(ML_API_SCHEDULER, evhttp_request_get_command(req) == EVHTTP_REQ_POST,
                  ml_method_name(req), evhttp_find_header(in, "Content-Type"), body, len, &chk);
    free(body);
    if (chk.status) {
        ml_reply_text(req, chk.status, chk.body);
        return;
    }
    call = chk.call;
    type = chk.type;
    if (strcmp(type, "SUBSCRIBE") == 0) {
        handle_subscribe(app, req, call);
        goto out;
    }
    fid = ml_id_get(call, "framework_id");
    fw = ml_map_get(app->frameworks, fid);
    if (!fw || fw->removed) {
        ml_reply_text(req, 400, "Framework cannot be found");
        goto out;
    }
    if (!fw->stream) {
        ml_reply_text(req, 403, "Framework is not subscribed");
        goto out;
    }
    sid = evhttp_find_header(in, "Mesos-Stream-Id");
    if (!sid) {
        ml_reply_text(req, 400,
                      "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
        goto out;
    }
    if (strcmp(sid, fw->stream_id) != 0) {
        snprintf(msg, sizeof(msg),
                 "The stream ID '%s' included in this request didn't match the stream ID currently "
                 "associated with framework ID %s",
                 sid, fw->id);
        ml_reply_text(req, 400, msg);
        goto out;
    }
    if (strcmp(type, "UPDATE_FRAMEWORK") == 0) {
        json_t *uf = json_object_get(call, "update_framework");
        json_t *info = json_object_get(uf, "framework_info");
        const char *iid = ml_id_get(info, "id");
        if (!json_is_object(info) || !iid || strcmp(iid, fw->id) != 0) {
            ml_reply_text(req, 400,
                          "Failed to validate scheduler::Call: 'framework_id' differs from "
                          "'update_framework.framework_info.id'");
            goto out;
        }
        {
            static const char *const fixed[] = {"user", "checkpoint", "principal"};
            for (size_t i = 0; i < 3; i++) {
                json_t *was = json_object_get(fw->info, fixed[i]),
                       *now = json_object_get(info, fixed[i]);
                if (!json_equal(was ? was : json_null(), now ? now : json_null()) &&
                    !(strcmp(fixed[i], "checkpoint") == 0 &&
                      json_is_false(was ? was : json_false()) &&
                      json_is_false(now ? now : json_false()))) {
                    snprintf(msg, sizeof(msg), "Updating 'FrameworkInfo.%s' is unsupported",
                             fixed[i]);
                    ml_reply_text(req, 400, msg);
                    goto out;
                }
            }
        }
        fw_apply_info(fw, info, true);
        fw->suppressed = json_array_size(json_object_get(uf, "suppressed_roles")) > 0;
        ml_reply(req, 200, NULL, NULL, 0);
        ml_allocate_soon(app);
        goto out;
    }
    ml_reply(req, 202, NULL, NULL, 0);
    /* Asynchronous processing after the 202, as the master does. */
    if (strcmp(type, "TEARDOWN") == 0) {
        cr_info(app->log, "framework %s: teardown", fw->id);
        ml_fw_remove(fw);
    } else if (strcmp(type, "ACCEPT") == 0) {
        handle_accept(fw, json_object_get(call, "accept"), false);
    } else if (strcmp(type, "DECLINE") == 0) {
        handle_accept(fw, json_object_get(call, "decline"), true);
    } else if (strcmp(type, "REVIVE") == 0) {
        fw->suppressed = false;
        ml_clear_filters(fw);
        ml_allocate_soon(app);
    } else if (strcmp(type, "SUPPRESS") == 0) {
        fw->suppressed = true;
    } else if (strcmp(type, "KILL") == 0) {
        handle_kill(fw, json_object_get(call, "kill"));
    } else if (strcmp(type, "SHUTDOWN") == 0) {
        json_t *sd = json_object_get(call, "shutdown");
        ml_agent *a = ml_map_get(app->agents_by_id,
                                 ml_id_get(sd, "agent_id") ? ml_id_get(sd, "agent_id") : "");
        const char *eid = ml_id_get(sd, "executor_id");
        ml_exec *e = (a && eid) ? ml_agent_exec(a, fw->id, eid) : NULL;
        if (e)
            ml_agent_shutdown_exec(e);
    } else if (strcmp(type, "ACKNOWLEDGE") == 0) {
        json_t *ack = json_object_get(call, "acknowledge");
        ml_acknowledge(fw, ml_id_get(ack, "task_id"),
                       json_string_value(json_object_get(ack, "uuid")));
    } else if (strcmp(type, "RECONCILE") == 0) {
        handle_reconcile(fw, json_object_get(call, "reconcile"));
    } else if (strcmp(type, "MESSAGE") == 0) {
        json_t *m = json_object_get(call, "message");
        ml_agent *a =
            ml_map_get(app->agents_by_id, ml_id_get(m, "agent_id") ? ml_id_get(m, "agent_id") : "");
        const char *eid = ml_id_get(m, "executor_id");
        ml_exec *e = (a && eid) ? ml_agent_exec(a, fw->id, eid) : NULL;
        if (e && json_is_string(json_object_get(m, "data")))
            ml_agent_message(e, json_string_value(json_object_get(m, "data")));
    }
    /* ACCEPT/DECLINE_INVERSE_OFFERS, REQUEST, *_OPERATION*: accepted, no effect. */
out:
    json_decref(call);
}

static void master_cb(struct evhttp_request *req, void *arg)
{
    ml_app *app = arg;
    char *path = ml_req_path(req);

    if (strcmp(path, "/api/v1/scheduler") == 0 || strcmp(path, "/master/api/v1/scheduler") == 0) {
        handle_scheduler(app, req);
    } else if (strcmp(path, "/api/v1") == 0 || strcmp(path, "/master/api/v1") == 0) {
        ml_handle_operator(app, req);
    } else if (strcmp(path, "/master/state") == 0 || strcmp(path, "/state") == 0 ||
               strcmp(path, "/master/state.json") == 0 || strcmp(path, "/state.json") == 0) {
        ml_reply_json(req, 200, ml_master_state_json(app));
    } else if (strcmp(path, "/master/slaves") == 0 || strcmp(path, "/slaves") == 0) {
        ml_reply_json(req, 200, ml_v0_slaves(app));
    } else if (strcmp(path, "/master/frameworks") == 0 || strcmp(path, "/frameworks") == 0) {
        ml_reply_json(req, 200, ml_v0_frameworks(app));
    } else if (strcmp(path, "/master/tasks") == 0 || strcmp(path, "/tasks") == 0) {
        char *off = ml_req_query(req, "offset"), *lim = ml_req_query(req, "limit");
        ml_reply_json(
            req, 200,
            ml_v0_tasks(app, off ? strtol(off, NULL, 10) : 0, lim ? strtol(lim, NULL, 10) : 100));
        free(off);
        free(lim);
    } else if (strcmp(path, "/redirect") == 0 || strcmp(path, "/master/redirect") == 0) {
        char loc[300];
        snprintf(loc, sizeof(loc), "//%s:%d", app->cfg.hostname, app->cfg.listen_port);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
        ml_reply(req, 307, NULL, NULL, 0);
    } else if (strcmp(path, "/health") == 0 || strcmp(path, "/master/health") == 0) {
        ml_reply(req, 200, NULL, NULL, 0);
    } else if (strncmp(path, "/__ml/", 6) == 0 && app->cfg.faults) {
        ml_faults_handle(app, req, path + 5);
    } else {
        ml_reply(req, 404, NULL, NULL, 0);
    }
    free(path);
}

/* --- faults that touch master state ------------------------------------------ */

void ml_agent_remove(ml_agent *a)
{
    ml_app *app = a->app;
    ml_map_iter it;
    void *v;
    double now = ml_now();

    if (a->removed)
        return;
    a->removed = true;
    cr_info(app->log, "agent %s removed (fault)", a->id);
    ml_rescind_agent_offers(a, true);
    ml_map_iter_init(&it, a->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        ml_fw *fw = t->fw;
        ml_status_spec s = {0};
        json_t *st;
        if (ml_map_get(fw->tasks, t->id) != t || ml_state_terminal(t->state))
            continue;
        s.task_id = t->id;
        s.state = fw->pa ? "TASK_UNREACHABLE" : "TASK_LOST";
        s.message = "health check timed out";
        s.source = "SOURCE_MASTER";
        s.reason = "REASON_AGENT_REMOVED";
        s.agent_id = a->id;
        s.timestamp = now;
        s.unreachable_ns = fw->pa ? (int64_t)(now * 1e9) : 0;
        s.healthy = -1;
        st = ml_status_json(&s);
        t->unreachable_ns = (int64_t)(now * 1e9);
        send_master_status(fw, st);
        ml_map_del(fw->tasks, t->id);
        ml_map_put(fw->unreachable, t->id, t);
    }
    for (size_t i = 0; i < app->nfw; i++)
        ml_fw_send(app->fw_list[i], ml_ev_failure(a->id, NULL, -1));
}

void ml_agent_restore(ml_agent *a)
{
    ml_app *app = a->app;
    ml_map_iter it;
    void *v;

    if (!a->removed || a->gone)
        return;
    a->removed = false;
    if (a->fault_timer)
        evtimer_del(a->fault_timer);
    cr_info(app->log, "agent %s re-registered (fault restored)", a->id);
    ml_map_iter_init(&it, a->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        ml_fw *fw = t->fw;
        json_t *st;
        if (ml_map_get(fw->unreachable, t->id) != t)
            continue;
        ml_map_del(fw->unreachable, t->id);
        ml_map_put(fw->tasks, t->id, t);
        /* The agent's real state wins again. */
        t->unreachable_ns = 0;
        st = reconcile_status(t); /* the agent's real state wins again */
        json_object_set_new(st, "message", json_string("Agent re-registered"));
        json_object_set_new(st, "reason", json_string("REASON_AGENT_REREGISTERED"));
        send_master_status(fw, st);
        if (json_array_size(t->pending))
            ml_task_resend(t);
    }
    ml_allocate_soon(app);
}

void ml_agent_deactivate(ml_agent *a)
{
    if (a->deactivated)
        return;
    a->deactivated = true;
    cr_info(a->app->log, "agent %s deactivated (operator API)", a->id);
    ml_rescind_agent_offers(a, true);
}

void ml_agent_reactivate(ml_agent *a)
{
    if (!a->deactivated && !a->draining)
        return;
    a->deactivated = false;
    a->draining = false;
    cr_info(a->app->log, "agent %s reactivated (operator API)", a->id);
    ml_allocate_soon(a->app);
}

/* Mesos 1.9's DRAIN_AGENT: no more offers, every task killed now (its kill
 * grace period capped by max_grace_period); DRAINED once no task is left. */
void ml_agent_drain(ml_agent *a, int64_t grace_s)
{
    ml_map_iter it;
    void *v;

    ml_agent_deactivate(a);
    a->draining = true;
    a->drain_grace_s = grace_s;
    cr_info(a->app->log, "agent %s draining (operator API)", a->id);
    ml_map_iter_init(&it, a->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        if (!ml_state_terminal(t->state))
            ml_agent_kill_task(t, grace_s >= 0 ? grace_s * 1000 : 3000);
    }
}

static void recover_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_app *app = arg;
    for (size_t i = 0; i < app->nagents; i++) {
        ml_agent *a = app->agents[i];
        ml_map_iter it;
        void *v;
        if (!a->recovering)
            continue;
        a->recovering = false;
        a->unknown = false;
        ml_map_iter_init(&it, a->tasks);
        while (ml_map_next(&it, NULL, &v))
            if (json_array_size(((ml_task *)v)->pending))
                ml_task_resend(v);
    }
    cr_info(app->log, "agents re-registered with the new master");
    ml_allocate_soon(app);
}

void ml_master_failover(ml_app *app, int64_t reregister_ms)
{
    struct timeval tv = ml_tv_ms(reregister_ms);
    cr_info(app->log, "simulated master failover; agents re-register in %lld ms",
            (long long)reregister_ms);
    for (size_t i = 0; i < app->nfw; i++) {
        ml_fw *fw = app->fw_list[i];
        if (fw->stream) {
            ml_stream *s = fw->stream;
            fw->stream = NULL;
            ml_stream_close(s);
        }
        if (fw->heartbeat)
            evtimer_del(fw->heartbeat);
        if (fw->failover_timer)
            evtimer_del(fw->failover_timer);
        if (!fw->removed)
            fw->recovered = true;
        ml_rescind_fw_offers(fw, false);
    }
    for (size_t i = 0; i < app->nagents; i++)
        app->agents[i]->recovering = true;
    /* A new leader: a new master id (existing framework and agent ids keep
     * theirs, as they do across a real failover). */
    ml_random_uuid(app->master_id);
    app->elected_time = ml_now();
    evtimer_add(app->recover_timer, &tv);
}

void ml_master_restart(ml_app *app, int64_t reregister_ms)
{
    ml_master_failover(app, reregister_ms);
    cr_info(app->log, "the master lost its registry: it knows no agent until it re-registers");
    for (size_t i = 0; i < app->nagents; i++)
        app->agents[i]->unknown = !app->agents[i]->removed;
}

void ml_agent_gone(ml_agent *a)
{
    ml_app *app = a->app;
    ml_map_iter it;
    void *v;
    double now = ml_now();

    if (!a->removed || a->gone)
        return;
    a->gone = true;
    cr_info(app->log, "agent %s is gone for good (fault)", a->id);
    ml_map_iter_init(&it, a->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        ml_fw *fw = t->fw;
        ml_status_spec s = {0};
        if (ml_map_get(fw->unreachable, t->id) != t)
            continue;
        /* the machine rebooted: its processes are gone; the agent's own
         * report of that is never delivered (it never re-registers) */
        ml_agent_force_exit(t, 137);
        s.task_id = t->id;
        s.state = fw->pa ? "TASK_GONE" : "TASK_LOST";
        s.message = "Agent is gone: it did not come back";
        s.source = "SOURCE_MASTER";
        s.agent_id = a->id;
        s.timestamp = now;
        s.healthy = -1;
        send_master_status(fw, ml_status_json(&s));
    }
}

static void agent_fault_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_agent *a = arg;
    if (a->fault_action == ML_AGENT_HEAL)
        ml_agent_restore(a);
    else if (a->fault_action == ML_AGENT_GONE)
        ml_agent_gone(a);
}

void ml_agent_fault_after(ml_agent *a, int action, int64_t ms)
{
    struct timeval tv = ml_tv_ms(ms);
    if (!a->fault_timer)
        a->fault_timer = evtimer_new(a->app->base, agent_fault_cb, a);
    a->fault_action = action;
    evtimer_add(a->fault_timer, &tv);
}

/* --- lifecycle ---------------------------------------------------------------- */

void ml_config_init(ml_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_host = "127.0.0.1";
    cfg->listen_port = 5050;
    cfg->agents = 1;
    cfg->hostname = "127.0.0.1";
    cfg->agent_resources = NULL;
    cfg->heartbeat_s = 15;
    cfg->allocation_s = 1;
    cfg->update_retry_s = 10;
    cfg->executor_registration_s = 60;
    cfg->executor_shutdown_grace_s = 5;
    cfg->log_level = CR_LOG_INFO;
}

/* Splits s on sep into a NULL-terminated vector (caller frees each and it). */
static char **split(const char *s, const char *sep, size_t *n)
{
    char *copy = xstrdup(s ? s : ""), *save = NULL, *tok;
    char **v = xcalloc(1, sizeof(*v));
    *n = 0;
    for (tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
        v = xrealloc(v, (*n + 2) * sizeof(*v));
        v[(*n)++] = xstrdup(tok);
        v[*n] = NULL;
    }
    free(copy);
    return v;
}

static void free_split(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* An agent's attributes: its --agent-attributes entry, with `rack` first
 * unless the entry names one. */
static json_t *agent_attributes(const char *entry, const char *rack, cr_err *err)
{
    char msg[256];
    json_t *arr = ml_attributes_from_spec(entry ? entry : "", msg, sizeof(msg));
    bool has_rack = false;
    size_t i;
    json_t *a;

    if (!arr) {
        cr_error(err, CR_EINVAL, "--agent-attributes: %s", msg);
        return NULL;
    }
    json_array_foreach(arr, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "name")), "rack") == 0)
            has_rack = true;
    }
    if (rack && !has_rack) {
        char *spec = xasprintf("rack:%s", rack);
        json_t *r = ml_attributes_from_spec(spec, msg, sizeof(msg));
        free(spec);
        if (r)
            json_array_insert(arr, 0, json_array_get(r, 0));
        json_decref(r);
    }
    return arr;
}

/* Agent number app->nagents, registered now; app->agents has room. NULL
 * with err (the agent kept in app->agents for ml_app_free) on failure. */
static ml_agent *agent_new(ml_app *app, const char *res_spec, const char *rack,
                           const char *attr_spec, cr_err *err)
{
    const ml_config *cfg = &app->cfg;
    ml_agent *a = xcalloc(1, sizeof(*a));
    int i = (int)app->nagents;
    char id[128];

    a->app = app;
    a->index = i;
    a->drain_grace_s = -1;
    snprintf(id, sizeof(id), "%s-S%d", app->master_id, i);
    a->id = xstrdup(id);
    if (cfg->simulate)
        a->hostname = xasprintf("sim-agent-%d", i);
    else
        a->hostname = xstrdup(cfg->hostname);
    a->rack = rack ? xstrdup(rack) : NULL;
    a->attributes = agent_attributes(attr_spec, a->rack, err);
    ml_res_init(&a->total);
    ml_res_from_spec(&a->total, res_spec, NULL);
    a->execs = ml_map_new();
    a->completed_execs = json_array();
    a->tasks = ml_map_new();
    app->agents[app->nagents++] = a;
    if (!a->attributes) {
        a->attributes = json_array();
        return NULL;
    }
    a->registered_time = ml_now();
    if (cfg->work_dir)
        a->dir = xasprintf("%s/slaves/%s", cfg->work_dir, a->id);
    ml_map_put(app->agents_by_id, a->id, a);
    if (ml_agent_start(a, err))
        return NULL;
    return a;
}

ml_agent *ml_agent_add(ml_app *app, const char *res_spec, const char *rack, const char *attrs,
                       cr_err *err)
{
    ml_res probe = ML_RES_INIT;
    ml_agent *a;

    if (res_spec && ml_res_from_spec(&probe, res_spec, err)) {
        ml_res_release(&probe);
        return NULL;
    }
    ml_res_release(&probe);
    app->agents = xrealloc(app->agents, (app->nagents + 2) * sizeof(*app->agents));
    app->agents[app->nagents + 1] = NULL;
    a = agent_new(app, res_spec ? res_spec : "cpus:4;mem:8192;disk:65536", rack, attrs, err);
    if (!a)
        return NULL;
    if (!res_spec && a->index > 0) /* agent 0's resources */
        ml_res_copy(&a->total, &app->agents[0]->total);
    cr_info(app->log, "agent %s registered (fault: added)", a->id);
    ml_allocate_soon(app);
    return a;
}

ml_app *ml_app_new(struct event_base *base, const ml_config *cfg, cr_log *log, cr_err *err)
{
    ml_app *app = xcalloc(1, sizeof(*app));
    ml_res total = ML_RES_INIT;
    char **racks = NULL, **specs = NULL, **attrs = NULL;
    size_t nracks = 0, nspecs = 0, nattrs = 0;

    app->procs.lock_fd = -1; /* not held until ml_procs_claim */
    app->base = base;
    app->cfg = *cfg;
    if (cfg->listen_host == cfg->host_buf)
        app->cfg.listen_host = app->cfg.host_buf;
    app->log = log;
    app->ip = xstrdup(cfg->listen_host);
    app->frameworks = ml_map_new();
    app->agents_by_id = ml_map_new();
    app->offers = ml_map_new();
    app->pids = ml_map_new();
    app->start_time = app->elected_time = ml_now();
    ml_random_uuid(app->master_id);
    app->alloc_soon = evtimer_new(base, ml_alloc_soon_cb, app);
    app->alloc_timer = event_new(base, -1, EV_PERSIST, ml_alloc_timer_cb, app);
    app->recover_timer = evtimer_new(base, recover_cb, app);
    app->sigchld = evsignal_new(base, SIGCHLD, ml_sigchld, app);
    evsignal_add(app->sigchld, NULL);
    /* Orphaned descendants of tasks (daemons, processes that left their
     * group) become our children, so stopping mesoslite can kill them too. */
    if (!cfg->simulate)
        prctl(PR_SET_CHILD_SUBREAPER, 1);

    if (cfg->agents < 0 || (!cfg->simulate && !cfg->work_dir)) {
        cr_error(err, CR_EINVAL, "--work-dir is required unless --simulate is given");
        goto fail;
    }
    if (cfg->executor_env) {
        json_error_t je;
        app->exec_env = json_loads(cfg->executor_env, 0, &je);
        if (!json_is_object(app->exec_env)) {
            cr_error(err, CR_EINVAL,
                     "--executor-environment-variables: expecting a JSON object of strings (%s)",
                     app->exec_env ? "not an object" : je.text);
            goto fail;
        }
    }
    if (cfg->agent_resources) {
        specs = split(cfg->agent_resources, "|", &nspecs);
    } else {
        /* Real agents all run on this host: two of them offering the same
         * port would hand two tasks one port, so each gets its own slice of
         * 31000-32000. Simulated agents run nothing and share the range. */
        int n = cfg->simulate || cfg->agents < 1 ? 1 : cfg->agents;
        int span = 1001 / n;
        cr_buf b = CR_BUF_INIT;
        for (int i = 0; i < n; i++)
            cr_buf_addf(&b, "%scpus:4;mem:8192;disk:65536;ports:[%d-%d]", i ? "|" : "",
                        31000 + i * span, 31000 + (i + 1) * span - 1);
        specs = split(cr_buf_str(&b), "|", &nspecs);
        cr_buf_release(&b);
    }
    for (size_t i = 0; i < nspecs; i++) {
        if (ml_res_from_spec(&total, specs[i], err)) {
            cr_err_prefix(err, "--agent-resources");
            goto fail;
        }
    }
    if (!nspecs) {
        cr_error(err, CR_EINVAL, "--agent-resources: empty");
        goto fail;
    }
    racks = split(cfg->racks, ",", &nracks);
    attrs = split(cfg->agent_attributes, "|", &nattrs);
    if (cfg->work_dir && cr_mkdirs(cfg->work_dir, NULL)) {
        cr_error(err, CR_EIO, "cannot create work dir '%s': %s", cfg->work_dir, strerror(errno));
        goto fail;
    }
    /* Before anything is served: what a SIGKILLed predecessor left running
     * in this work dir dies now (ml_proc.h), so no task runs twice. */
    if (cfg->work_dir && !cfg->simulate && ml_procs_claim(&app->procs, cfg->work_dir, log, err))
        goto fail;
    app->http = evhttp_new(base);
    evhttp_set_default_content_type(app->http, NULL);
    evhttp_set_allowed_methods(app->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(app->http, master_cb, app);
    if (evhttp_bind_socket(app->http, cfg->listen_host, (ev_uint16_t)cfg->listen_port) != 0) {
        cr_error(err, CR_EIO, "cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
                 strerror(errno));
        goto fail;
    }
    app->agents = xcalloc((size_t)cfg->agents + 1, sizeof(*app->agents));
    for (int i = 0; i < cfg->agents; i++)
        if (!agent_new(app, specs[(size_t)i % nspecs], nracks ? racks[(size_t)i % nracks] : NULL,
                       nattrs ? attrs[(size_t)i % nattrs] : NULL, err))
            goto fail;
    {
        struct timeval tv = ml_tv_ms((int64_t)(cfg->allocation_s * 1000.0));
        evtimer_add(app->alloc_timer, &tv);
    }
    cr_info(log, "master %s listening on %s:%d with %zu %s agents", app->master_id,
            cfg->listen_host, cfg->listen_port, app->nagents, cfg->simulate ? "simulated" : "real");
    free_split(racks);
    free_split(specs);
    free_split(attrs);
    ml_res_release(&total);
    return app;
fail:
    free_split(racks);
    free_split(specs);
    free_split(attrs);
    ml_res_release(&total);
    ml_app_free(app);
    return NULL;
}

void ml_app_free(ml_app *app)
{
    ml_map_iter it;
    void *v;

    if (!app)
        return;
    /* Agents first: they kill and reap every process group. */
    for (size_t i = 0; i < app->nagents; i++)
        ml_agent_stop(app->agents[i]);
    ml_agents_reap_all(app);
    ml_procs_release(&app->procs); /* last: the lock is held until every task is gone */
    for (size_t i = 0; i < app->nfw; i++)
        fw_free(app->fw_list[i]);
    free(app->fw_list);
    for (size_t i = 0; i < app->nagents; i++) {
        ml_agent *a = app->agents[i];
        ml_map_free(a->execs);
        ml_map_free(a->tasks);
        ml_res_release(&a->total);
        ml_res_release(&a->used);
        ml_res_release(&a->offered);
        json_decref(a->attributes);
        json_decref(a->completed_execs);
        if (a->fault_timer)
            event_free(a->fault_timer);
        free(a->id);
        free(a->hostname);
        free(a->rack);
        free(a->dir);
        free(a);
    }
    free(app->agents);
    if (app->offers) {
        ml_map_iter_init(&it, app->offers);
        while (ml_map_next(&it, NULL, &v))
            ml_offer_free(v);
    }
    ml_map_free(app->offers);
    ml_map_free(app->frameworks);
    ml_map_free(app->agents_by_id);
    ml_map_free(app->pids);
    if (app->http)
        evhttp_free(app->http);
    if (app->alloc_soon)
        event_free(app->alloc_soon);
    if (app->alloc_timer)
        event_free(app->alloc_timer);
    if (app->recover_timer)
        event_free(app->recover_timer);
    if (app->sigchld)
        event_free(app->sigchld);
    while (app->delayed)
        ml_delayed_free(app, app->delayed);
    free(app->drop_task);
    json_decref(app->exec_env);
    free(app->ip);
    free(app);
}
