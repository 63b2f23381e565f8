/* The agents' status-update streams as the master forwards them: one
 * update per task in flight, re-sent until acknowledged, the next one only
 * after the ACK; terminal and acknowledged tasks move to completed. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"

static void retry_cb(evutil_socket_t fd, short what, void *arg);

/* An update held back by the delay fault; listed on the app so that
 * ml_app_free can release the ones still pending. */
struct ml_delayed {
    ml_fw *fw;
    json_t *ev;
    struct event *ev_timer;
    struct ml_delayed *prev, *next;
};

void ml_delayed_free(ml_app *app, struct ml_delayed *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        app->delayed = d->next;
    if (d->next)
        d->next->prev = d->prev;
    event_free(d->ev_timer);
    json_decref(d->ev);
    free(d);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ml_delayed *d = arg;
    ml_fw_send(d->fw, json_incref(d->ev));
    ml_delayed_free(d->fw->app, d);
}

/* Sends the head of t's update stream (if the framework can get it) and arms
 * the retry timer. */
static void send_head(ml_task *t)
{
    ml_app *app = t->fw->app;
    json_t *head = json_array_get(t->pending, 0);
    struct timeval tv;

    if (!head)
        return;
    if (!t->retry)
        t->retry = evtimer_new(app->base, retry_cb, t);
    if (t->backoff_ms <= 0)
        t->backoff_ms = (int64_t)(app->cfg.update_retry_s * 1000.0);
    tv = ml_tv_ms(t->backoff_ms);
    evtimer_add(t->retry, &tv);
    if (!t->fw->stream || t->agent->removed || t->agent->recovering)
        return; /* the agent keeps retrying */
    if (app->drop_updates > 0 && (!app->drop_task || strcmp(app->drop_task, t->id) == 0)) {
        app->drop_updates--;
        cr_info(app->log, "fault: dropped update %s for task %s",
                json_string_value(json_object_get(head, "state")), t->id);
        return;
    }
    if (app->delay_updates_ms > 0) {
        struct ml_delayed *d = xcalloc(1, sizeof(*d));
        struct timeval dtv = ml_tv_ms(app->delay_updates_ms);
        d->fw = t->fw;
        d->ev = ml_ev_update(json_deep_copy(head));
        d->ev_timer = evtimer_new(app->base, delayed_cb, d);
        d->next = app->delayed;
        if (app->delayed)
            app->delayed->prev = d;
        app->delayed = d;
        evtimer_add(d->ev_timer, &dtv);
        return;
    }
    ml_fw_send(t->fw, ml_ev_update(json_deep_copy(head)));
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_task *t = arg;
    t->backoff_ms *= 2;
    if (t->backoff_ms > ML_RETRY_MAX_MS)
        t->backoff_ms = ML_RETRY_MAX_MS;
    send_head(t);
}

void ml_task_resend(ml_task *t)
{
    t->backoff_ms = 0;
    send_head(t);
}

static json_t *state_status(const json_t *st)
{
    json_t *o = json_pack("{s:O}", "state", json_object_get(st, "state"));
    json_t *ts = json_object_get(st, "timestamp");
    json_t *cs = json_object_get(st, "container_status");
    if (ts)
        json_object_set(o, "timestamp", ts);
    if (cs) {
        json_t *c = json_deep_copy(cs);
        json_object_del(c, "executor_pid");
        json_object_set_new(o, "container_status", c);
    }
    return o;
}

static const char *intern_state(const char *s)
{
    static const char *const states[] = {
        "TASK_STAGING",          "TASK_STARTING",    "TASK_RUNNING",
        "TASK_KILLING",          "TASK_FINISHED",    "TASK_FAILED",
        "TASK_KILLED",           "TASK_ERROR",       "TASK_LOST",
        "TASK_DROPPED",          "TASK_UNREACHABLE", "TASK_GONE",
        "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(states[i], s) == 0)
            return states[i];
    return "TASK_UNKNOWN";
}

/* Records a status as the task's latest and frees its resources once
 * terminal. */
void ml_task_record(ml_task *t, const json_t *st)
{
    t->state = intern_state(json_string_value(json_object_get(st, "state")));
    json_decref(t->latest);
    t->latest = json_deep_copy(st);
    json_array_append_new(t->statuses, state_status(st));
    if (ml_state_terminal(t->state) && !t->recovered) {
        t->recovered = true;
        ml_res_sub(&t->agent->used, &t->res); /* offered at the next batch */
    }
}

void ml_task_update_json(ml_task *t, json_t *status)
{
    ml_task_record(t, status);
    json_array_append_new(t->pending, status);
    if (json_array_size(t->pending) == 1) {
        t->backoff_ms = 0;
        send_head(t);
    }
}

void ml_task_update(ml_task *t, const char *state, const char *source, const char *reason,
                    const char *message)
{
    ml_status_spec s = {0};
    char *uuid = ml_random_uuid_b64();

    s.task_id = t->id;
    s.state = state;
    s.message = message;
    s.source = source;
    s.reason = reason;
    s.agent_id = t->agent->id;
    s.executor_id = t->exec ? t->exec->id : t->id;
    s.timestamp = ml_now();
    s.uuid = uuid;
    s.healthy = -1;
    if (t->exec) {
        s.container_id = t->exec->container_id;
        s.ip = t->agent->app->ip;
        s.executor_pid = t->exec->pid;
    }
    ml_task_update_json(t, ml_status_json(&s));
    free(uuid);
}

void ml_acknowledge(ml_fw *fw, const char *task_id, const char *uuid)
{
    ml_task *t = ml_map_get(fw->tasks, task_id);
    json_t *head;
    bool terminal;

    if (!t)
        t = ml_map_get(fw->unreachable, task_id);
    if (!t || !(head = json_array_get(t->pending, 0)))
        return;
    if (strcmp(json_string_value(json_object_get(head, "uuid")), uuid) != 0)
        return; /* a duplicate or stale ack */
    terminal = ml_state_terminal(json_string_value(json_object_get(head, "state")));
    json_array_remove(t->pending, 0);
    if (t->retry)
        evtimer_del(t->retry);
    t->backoff_ms = 0;
    if (terminal && json_array_size(t->pending) == 0) {
        ml_task_complete(t);
        return;
    }
    send_head(t);
}

json_t *ml_task_state_json(const ml_task *t)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:O}", "id", t->id, "name",
                          t->name, "framework_id", t->fw->id, "executor_id",
                          (t->exec && !t->exec->command) ? t->exec->id
                          : json_object_get(t->info, "executor")
                              ? ml_id_get(json_object_get(t->info, "executor"), "executor_id")
                              : "",
                          "slave_id", t->agent->id, "state", t->state, "resources",
                          ml_res_to_summary(&t->res), "role", t->fw->role, "statuses", t->statuses);
    if (json_object_get(t->info, "container")) /* as Mesos' task JSON has it */
        json_object_set(o, "container", json_object_get(t->info, "container"));
    return o;
}

void ml_task_free(ml_task *t)
{
    if (!t)
        return;
    if (t->retry)
        event_free(t->retry);
    if (t->sim_timer)
        event_free(t->sim_timer);
    free(t->id);
    free(t->name);
    json_decref(t->info);
    json_decref(t->latest);
    json_decref(t->statuses);
    json_decref(t->pending);
    ml_res_release(&t->res);
    free(t);
}

void ml_agent_task_key(const ml_task *t, char *buf, size_t n)
{
    snprintf(buf, n, "%s\n%s", t->fw->id, t->id);
}

/* Moves a task whose terminal update was acknowledged (or whose framework
 * went away) into the completed list and frees it. */
void ml_task_complete(ml_task *t)
{
    ml_fw *fw = t->fw;
    char key[600];

    if (!t->recovered) {
        t->recovered = true;
        ml_res_sub(&t->agent->used, &t->res);
    }
    json_array_append_new(fw->completed, ml_task_state_json(t));
    if (json_array_size(fw->completed) > ML_COMPLETED_MAX)
        json_array_remove(fw->completed, 0);
    json_array_append_new(fw->completed_v1, ml_task_v1_json(t));
    if (json_array_size(fw->completed_v1) > ML_COMPLETED_MAX)
        json_array_remove(fw->completed_v1, 0);
    if (ml_map_get(fw->tasks, t->id) == t)
        ml_map_del(fw->tasks, t->id);
    if (ml_map_get(fw->unreachable, t->id) == t)
        ml_map_del(fw->unreachable, t->id);
    ml_agent_task_key(t, key, sizeof(key));
    ml_map_del(t->agent->tasks, key);
    ml_agent_detach_task(t);
    ml_task_free(t);
}

ml_task *ml_find_task(ml_app *app, const char *task_id)
{
    for (size_t i = 0; i < app->nfw; i++) {
        ml_task *t = ml_map_get(app->fw_list[i]->tasks, task_id);
        if (!t)
            t = ml_map_get(app->fw_list[i]->unreachable, task_id);
        if (t)
            return t;
    }
    return NULL;
}
