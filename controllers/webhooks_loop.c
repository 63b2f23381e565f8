/* The webhooks loop: one queue key per webhook (its id) on the shared
 * runner (runner.h). See webhooks.h for the design.
 *
 * Cost at scale: a cache change becomes an event only when a webhook of
 * its type exists, and only for the changes a webhook reports (a task's
 * state, a deploy's start or end, a request history event or a cooldown),
 * so a task record rewritten for other reasons costs a pointer compare. The
 * scan at a leadership start (and after the memory cap) walks the source
 * kinds once, comparing revisions. */
#include "controllers/webhooks.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/deploy.h"
#include "apis/intent.h"
#include "apis/keys.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/runner.h"
#include "store/map.h"

/* Every operation of a pass in one group: its writes land all or none. */
#define ONE_TXN 0

/* Bytes of payload queued per pass at most (one txn stays far below
 * etcd's 1.5 MiB request limit). */
#define PASS_BYTES (512 * 1024)

typedef struct wh_event {
    int64_t revision;
    char *object_key;
    api_webhook_type type;
    char *request_id, *deploy_id, *task_id;
    int64_t created_at;
    char *payload; /* JSON text */
    /* A request document's own change: reported only when no request
     * history event was recorded with it (the API records one with every
     * change it makes; a direct etcd write records none). */
    bool unless_history;
    /* A DEPLOY event whose deployMarker has no user yet: the deploy's
     * submit intent, written in the same transaction, may reach the cache
     * after the deploy; it is looked up again when the event is queued. */
    bool needs_actor;
} wh_event;

/* One webhook's delivery, in memory. */
typedef struct hook {
    struct ctl_webhooks_manager *m;
    char *id;
    cr_http_req *req;
    char *inflight_key;
    char *delivered_key;
    char *failed_key;
    char *failed_error;
    int64_t failed_at;
    char answer[201]; /* the start of the answer's body, for lastError */
    size_t answer_len;
} hook;

struct ctl_webhooks_manager {
    struct event_base *base;
    cr_http *http;
    char *prefix;
    ctl_wh_config cfg;
    cr_log *log;
    ctl_runner *runner;
    store_cache *cache; /* the runner's, while running */
    store_map *hooks;   /* id -> hook */
    wh_event *ev;       /* revision order */
    size_t n_ev, cap_ev;
    bool rescan;
    bool unsorted; /* an event arrived out of order (a re-list after a compaction) */
    size_t by_type[API_WEBHOOK_TYPES + 1]; /* valid webhooks of each type */
    ctl_webhooks_stats stats;
};

static const void *valid_doc(const store_obj *o)
{
    return o && !o->error ? o->doc : NULL;
}

static void ev_release(wh_event *e)
{
    free(e->object_key);
    free(e->request_id);
    free(e->deploy_id);
    free(e->task_id);
    free(e->payload);
}

static void ev_clear(ctl_webhooks_manager *m)
{
    for (size_t i = 0; i < m->n_ev; i++)
        ev_release(&m->ev[i]);
    m->n_ev = 0;
}

static int ev_cmp(const void *a, const void *b)
{
    const wh_event *x = a, *y = b;
    return ctl_wh_event_cmp(x->revision, x->object_key, y->revision, y->object_key);
}

/* ---- webhooks in the cache --------------------------------------------------------- */

static void count_hooks(ctl_webhooks_manager *m)
{
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_WEBHOOK, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);

    free(kp);
    memset(m->by_type, 0, sizeof(m->by_type));
    for (size_t i = first; i < first + n; i++) {
        const api_webhook *w = valid_doc(store_cache_at(m->cache, i));
        if (w && w->type > API_WEBHOOK_UNSET && w->type <= API_WEBHOOK_TASK)
            m->by_type[w->type]++;
    }
}

static void enqueue_type(ctl_webhooks_manager *m, api_webhook_type type)
{
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_WEBHOOK, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        const api_webhook *w = valid_doc(o);
        if (o->id1 && (!w || type == API_WEBHOOK_UNSET || w->type == type))
            ctl_runner_enqueue(m->runner, o->id1);
    }
}

/* The cursor of webhook o (revision part): its status', else its creation. */
static int64_t cursor_of(const ctl_webhooks_manager *m, const store_obj *o, const char **key)
{
    char *sk = api_key_webhook_status(m->prefix, o->id1);
    const api_webhook_status *st = valid_doc(store_cache_get(m->cache, sk));

    free(sk);
    if (key)
        *key = st && st->cursorKey ? st->cursorKey : "";
    return st ? st->cursorRevision : o->create_revision;
}

/* The oldest cursor of the webhooks of type (INT64_MAX when none). */
static int64_t min_cursor(const ctl_webhooks_manager *m, api_webhook_type type)
{
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_WEBHOOK, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    int64_t min = INT64_MAX;

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        const api_webhook *w = valid_doc(o);
        if (w && w->type == type) {
            int64_t c = cursor_of(m, o, NULL);
            if (c < min)
                min = c;
        }
    }
    return min;
}

/* ---- events from changes ----------------------------------------------------------- */

static json_t *value_of(const store_obj *o)
{
    return o ? store_obj_json(o) : NULL; /* new reference */
}

static wh_event *add_event(ctl_webhooks_manager *m, api_webhook_type type, int64_t rev,
                           const char *okey, const char *rid, const char *did, const char *tid,
                           json_t *payload /* stolen */)
{
    wh_event *e;

    if (m->n_ev >= m->cfg.max_memory) {
        /* Too much waits: keep nothing, rebuild from the cache and the
         * cursors (level-triggered; the latest state of each object). */
        ev_clear(m);
        m->rescan = true;
        json_decref(payload);
        enqueue_type(m, API_WEBHOOK_UNSET);
        return NULL;
    }
    if (m->n_ev && ctl_wh_event_cmp(rev, okey, m->ev[m->n_ev - 1].revision,
                                    m->ev[m->n_ev - 1].object_key) <= 0)
        m->unsorted = true;
    if (m->n_ev == m->cap_ev) {
        m->cap_ev = m->cap_ev ? 2 * m->cap_ev : 64;
        m->ev = xrealloc(m->ev, m->cap_ev * sizeof(*m->ev));
    }
    e = &m->ev[m->n_ev++];
    e->revision = rev;
    e->object_key = xstrdup(okey);
    e->type = type;
    e->request_id = rid ? xstrdup(rid) : NULL;
    e->deploy_id = did ? xstrdup(did) : NULL;
    e->task_id = tid ? xstrdup(tid) : NULL;
    e->created_at = cr_wall_ms();
    e->payload = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    e->unless_history = false;
    e->needs_actor = false;
    json_decref(payload);
    m->stats.generated++;
    return e;
}

/* REQUEST: a request history event (what the API records). */
static void ev_history(ctl_webhooks_manager *m, const store_obj *o, int64_t rev)
{
    json_t *v = value_of(o);
    if (!json_is_object(v)) {
        json_decref(v);
        return;
    }
    add_event(m, API_WEBHOOK_REQUEST, rev, o->key, o->id1, NULL, NULL, v);
}

/* REQUEST: a request document written, or deleted (value: the last one),
 * at revision rev; dropped later if the API recorded a history event with
 * it (see wh_event.unless_history). */
static void ev_request(ctl_webhooks_manager *m, const store_obj *o, const char *type, int64_t rev)
{
    json_t *v = value_of(o);
    json_t *p = json_pack("{s:I,s:s,s:o}", "createdAt", (json_int_t)cr_wall_ms(), "eventType", type,
                          "request", json_is_object(v) ? json_incref(v) : json_object());
    wh_event *e = add_event(m, API_WEBHOOK_REQUEST, rev, o->key, o->id1, NULL, NULL, p);

    json_decref(v);
    if (e)
        e->unless_history = true;
}

/* Whether the API recorded a history event of request_id at revision rev. */
static bool history_at(const ctl_webhooks_manager *m, const char *request_id, int64_t rev)
{
    char *kp = api_key_kind_prefix(m->prefix, API_KEY_HISTORY_REQUEST, request_id);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    bool found = false;

    free(kp);
    for (size_t i = first; i < first + n && !found; i++)
        found = store_cache_at(m->cache, i)->create_revision == rev;
    return found;
}

/* REQUEST: the controllers' cooldown moves (no history event records them). */
static void ev_cooldown(ctl_webhooks_manager *m, const store_obj *o, bool entered, int64_t rev)
{
    const api_request_status *s = valid_doc(o);
    char *rk = api_key_request(m->prefix, o->id1);
    json_t *req = value_of(store_cache_get(m->cache, rk));
    json_t *p = json_pack("{s:I,s:s,s:o}", "createdAt", (json_int_t)(s ? s->updatedAt : 0),
                          "eventType", entered ? "ENTERED_COOLDOWN" : "EXITED_COOLDOWN", "request",
                          req ? req : json_object());

    free(rk);
    add_event(m, API_WEBHOOK_REQUEST, rev, o->key, o->id1, NULL, NULL, p);
}

/* Who made deploy rid/did: the user of its submit intent (the API writes
 * it with the deploy: the authenticated caller), or NULL. Never the
 * deploy's own "user", which is the OS user its tasks run as. Borrowed
 * from the cache. */
static const char *deploy_actor(const ctl_webhooks_manager *m, const char *rid, const char *did)
{
    char *k = api_key_intent_deploy(m->prefix, rid, did, API_INTENT_SUBMIT);
    const api_intent *in = valid_doc(store_cache_get(m->cache, k));

    free(k);
    return in ? in->user : NULL;
}

static json_t *deploy_marker(const char *rid, const char *did, int64_t ts, const char *user)
{
    json_t *mk =
        json_pack("{s:s,s:s,s:I}", "requestId", rid, "deployId", did, "timestamp", (json_int_t)ts);
    if (user)
        json_object_set_new(mk, "user", json_string(user));
    return mk;
}

/* Adds a DEPLOY event of o (rid/did its ids) with payload p (stolen),
 * noting whether its actor is still to be found. */
static void add_deploy_event(ctl_webhooks_manager *m, const store_obj *o, int64_t rev,
                             const char *user, json_t *p)
{
    wh_event *e = add_event(m, API_WEBHOOK_DEPLOY, rev, o->key, o->id1, o->id2, NULL, p);

    if (e)
        e->needs_actor = user == NULL;
}

/* DEPLOY STARTING: a deploy document appeared. */
static void ev_deploy_start(ctl_webhooks_manager *m, const store_obj *o, int64_t rev)
{
    json_t *d = value_of(o);
    const char *user = deploy_actor(m, o->id1, o->id2);
    json_t *p = json_pack("{s:o,s:o,s:s}", "deployMarker",
                          deploy_marker(o->id1, o->id2, cr_wall_ms(), user), "deploy",
                          d ? d : json_object(), "eventType", "STARTING");
    add_deploy_event(m, o, rev, user, p);
}

/* DEPLOY FINISHED: a deploy status reached a terminal state. */
static void ev_deploy_end(ctl_webhooks_manager *m, const store_obj *o, int64_t rev)
{
    const api_deploy_status *s = valid_doc(o);
    char *dk = api_key_deploy(m->prefix, o->id1, o->id2);
    json_t *d = value_of(store_cache_get(m->cache, dk));
    json_t *sj = api_deploy_status_to_json(s);
    json_t *fails = json_object_get(sj, "failures");
    json_t *result =
        json_pack("{s:s,s:I,s:o}", "deployState", api_deploy_state_name(s->state), "timestamp",
                  (json_int_t)(s->finishedAt ? s->finishedAt : s->updatedAt), "deployFailures",
                  fails ? json_incref(fails) : json_array());
    const char *user = deploy_actor(m, o->id1, o->id2);
    json_t *p = json_pack("{s:o,s:s,s:o}", "deployMarker",
                          deploy_marker(o->id1, o->id2, s->startedAt, user), "eventType",
                          "FINISHED", "deployResult", result);

    free(dk);
    if (s->message)
        json_object_set_new(result, "message", json_string(s->message));
    if (d)
        json_object_set_new(p, "deploy", d);
    json_decref(sj);
    add_deploy_event(m, o, rev, user, p);
}

/* TASK: a task record with a new state (SingularityTaskWebhook). */
static void ev_task(ctl_webhooks_manager *m, const store_obj *o, int64_t rev)
{
    const api_task *t = valid_doc(o);
    json_t *task = value_of(o);
    json_t *tid, *up, *p;

    if (!t || !json_is_object(task)) {
        json_decref(task);
        return;
    }
    tid = json_object_get(task, "taskId");
    up = json_pack("{s:O,s:I,s:s,s:[]}", "taskId", tid ? tid : json_null(), "timestamp",
                   (json_int_t)t->updatedAt, "taskState", api_task_state_name(t->lastTaskState),
                   "previous");
    if (t->statusMessage)
        json_object_set_new(up, "statusMessage", json_string(t->statusMessage));
    if (t->statusReason)
        json_object_set_new(up, "statusReason", json_string(t->statusReason));
    p = json_pack("{s:o,s:o}", "task", task, "taskUpdate", up);
    add_event(m, API_WEBHOOK_TASK, rev, o->key, t->taskId.requestId, t->taskId.deployId,
              t->taskId.id, p);
}

static bool cooling(const store_obj *o)
{
    const api_request_status *s = valid_doc(o);
    return s && s->state == API_RSTATE_SYSTEM_COOLDOWN;
}

static api_deploy_state dstate(const store_obj *o)
{
    const api_deploy_status *s = valid_doc(o);
    return s ? s->state : API_DSTATE_UNSET;
}

static api_task_state tstate(const store_obj *o)
{
    const api_task *t = valid_doc(o);
    return t ? t->lastTaskState : (api_task_state)-2;
}

/* The events of one change (old NULL: created; cur NULL: deleted). */
static api_webhook_type change_events(ctl_webhooks_manager *m, const store_obj *old,
                                      const store_obj *cur)
{
    if (!cur) {
        if (old->kind == API_KEY_REQUEST && m->by_type[API_WEBHOOK_REQUEST]) {
            ev_request(m, old, "DELETED", store_cache_revision(m->cache));
            return API_WEBHOOK_REQUEST;
        }
        return API_WEBHOOK_UNSET;
    }
    switch (cur->kind) {
    case API_KEY_REQUEST:
        if (m->by_type[API_WEBHOOK_REQUEST]) {
            ev_request(m, cur, old ? "UPDATED" : "CREATED", cur->mod_revision);
            return API_WEBHOOK_REQUEST;
        }
        break;
    case API_KEY_HISTORY_REQUEST:
        if (!old && m->by_type[API_WEBHOOK_REQUEST]) {
            ev_history(m, cur, cur->mod_revision);
            return API_WEBHOOK_REQUEST;
        }
        break;
    case API_KEY_REQUEST_STATUS:
        if (m->by_type[API_WEBHOOK_REQUEST] && old && cooling(old) != cooling(cur) &&
            valid_doc(cur)) {
            ev_cooldown(m, cur, cooling(cur), cur->mod_revision);
            return API_WEBHOOK_REQUEST;
        }
        break;
    case API_KEY_DEPLOY:
        if (!old && m->by_type[API_WEBHOOK_DEPLOY]) {
            ev_deploy_start(m, cur, cur->mod_revision);
            return API_WEBHOOK_DEPLOY;
        }
        break;
    case API_KEY_DEPLOY_STATUS:
        if (m->by_type[API_WEBHOOK_DEPLOY] && api_deploy_state_terminal(dstate(cur)) &&
            dstate(old) != dstate(cur)) {
            ev_deploy_end(m, cur, cur->mod_revision);
            return API_WEBHOOK_DEPLOY;
        }
        break;
    case API_KEY_TASK:
        if (m->by_type[API_WEBHOOK_TASK] && valid_doc(cur) &&
            (!old || tstate(old) != tstate(cur))) {
            ev_task(m, cur, cur->mod_revision);
            return API_WEBHOOK_TASK;
        }
        break;
    default:
        break;
    }
    return API_WEBHOOK_UNSET;
}

/* A new leader's memory is empty: every object changed after the oldest
 * cursor gives the event of its current state. */
static void scan_kind(ctl_webhooks_manager *m, api_key_kind kind, int64_t after)
{
    char *kp = api_key_kind_prefix(m->prefix, kind, NULL);
    size_t first, n = store_cache_range(m->cache, kp, &first);
    bool created = kind == API_KEY_HISTORY_REQUEST || kind == API_KEY_DEPLOY;

    free(kp);
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        if ((created ? o->create_revision : o->mod_revision) <= after)
            continue;
        switch (kind) {
        case API_KEY_HISTORY_REQUEST:
            ev_history(m, o, o->mod_revision);
            break;
        case API_KEY_REQUEST:
            ev_request(m, o, o->create_revision == o->mod_revision ? "CREATED" : "UPDATED",
                       o->mod_revision);
            break;
        case API_KEY_DEPLOY:
            ev_deploy_start(m, o, o->mod_revision);
            break;
        case API_KEY_DEPLOY_STATUS:
            if (api_deploy_state_terminal(dstate(o)))
                ev_deploy_end(m, o, o->mod_revision);
            break;
        case API_KEY_TASK:
            if (valid_doc(o))
                ev_task(m, o, o->mod_revision);
            break;
        default:
            break;
        }
        if (m->rescan)
            return; /* the memory cap: add_event cleared everything */
    }
}

/* Sorts the events in (revision, key) order, one per (revision, key). */
static void normalize(ctl_webhooks_manager *m)
{
    size_t w = 0;

    m->unsorted = false;
    if (m->n_ev > 1)
        qsort(m->ev, m->n_ev, sizeof(*m->ev), ev_cmp);
    for (size_t i = 0; i < m->n_ev; i++) {
        if (w && ev_cmp(&m->ev[w - 1], &m->ev[i]) == 0)
            ev_release(&m->ev[i]);
        else
            m->ev[w++] = m->ev[i];
    }
    m->n_ev = w;
}

static void scan(ctl_webhooks_manager *m)
{
    int64_t c;

    ev_clear(m);
    m->rescan = false;
    m->stats.rescans++;
    count_hooks(m);
    if ((c = min_cursor(m, API_WEBHOOK_REQUEST)) != INT64_MAX) {
        scan_kind(m, API_KEY_HISTORY_REQUEST, c);
        scan_kind(m, API_KEY_REQUEST, c);
    }
    if ((c = min_cursor(m, API_WEBHOOK_DEPLOY)) != INT64_MAX) {
        scan_kind(m, API_KEY_DEPLOY, c);
        scan_kind(m, API_KEY_DEPLOY_STATUS, c);
    }
    if ((c = min_cursor(m, API_WEBHOOK_TASK)) != INT64_MAX)
        scan_kind(m, API_KEY_TASK, c);
    if (m->rescan) { /* over the cap even so: queue what fits, drop the rest */
        m->rescan = false;
        cr_warn(m->log, "webhooks: more than %zu events to queue after a scan", m->cfg.max_memory);
    }
    normalize(m);
}

/* Drops the events every webhook of their type has queued. */
static void prune(ctl_webhooks_manager *m)
{
    int64_t min[API_WEBHOOK_TYPES + 1];
    size_t w = 0;

    for (int t = 1; t <= API_WEBHOOK_TYPES; t++)
        min[t] = min_cursor(m, (api_webhook_type)t);
    for (size_t i = 0; i < m->n_ev; i++) {
        /* revision strictly below the oldest cursor: queued everywhere */
        if (m->ev[i].revision < min[m->ev[i].type])
            ev_release(&m->ev[i]);
        else
            m->ev[w++] = m->ev[i];
    }
    m->n_ev = w;
}

/* ---- runner callbacks -------------------------------------------------------------- */

static void on_change(void *arg, ctl_runner *r, const store_obj *old, const store_obj *cur)
{
    ctl_webhooks_manager *m = arg;
    const store_obj *o = cur ? cur : old;
    api_webhook_type t;

    switch (o->kind) {
    case API_KEY_WEBHOOK:
        count_hooks(m);
        /* fall through */
    case API_KEY_WEBHOOK_STATUS:
    case API_KEY_WEBHOOK_EVENT:
        if (o->id1)
            ctl_runner_enqueue(r, o->id1);
        return;
    default:
        break;
    }
    if (m->rescan)
        return; /* the scan will see it */
    t = change_events(m, old, cur);
    if (t != API_WEBHOOK_UNSET && !m->rescan)
        enqueue_type(m, t);
}

static void resync(void *arg, ctl_runner *r)
{
    ctl_webhooks_manager *m = arg;
    count_hooks(m);
    enqueue_type(m, API_WEBHOOK_UNSET);
}

static void hook_free(hook *h)
{
    if (!h)
        return;
    if (h->req) {
        cr_http_cancel(h->req); /* no callback now */
        h->m->stats.inflight--;
    }
    free(h->id);
    free(h->inflight_key);
    free(h->delivered_key);
    free(h->failed_key);
    free(h->failed_error);
    free(h);
}

static void free_hook(const char *key, void *value, void *arg)
{
    hook_free(value);
}

static void on_start(void *arg, ctl_runner *r)
{
    ctl_webhooks_manager *m = arg;
    m->cache = ctl_runner_cache(r);
    m->hooks = store_map_new();
    m->rescan = true;
    m->stats.running = true;
}

static void on_stop(void *arg, ctl_runner *r)
{
    ctl_webhooks_manager *m = arg;
    store_map_foreach(m->hooks, free_hook, NULL);
    store_map_free(m->hooks);
    m->hooks = NULL;
    ev_clear(m);
    m->cache = NULL;
    m->stats.running = false;
}

/* ---- delivery ------------------------------------------------------------------------ */

static void set(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

/* Keeps the start of the answer (a receiver's error message); the rest is
 * dropped, however long. */
static void answer_data(cr_http_req *req, const char *data, size_t len, void *arg)
{
    hook *h = arg;
    size_t room = sizeof(h->answer) - 1 - h->answer_len;
    size_t n = len < room ? len : room;

    memcpy(h->answer + h->answer_len, data, n);
    h->answer_len += n;
    h->answer[h->answer_len] = '\0';
}

static void delivered(cr_http_req *req, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    hook *h = arg;
    ctl_webhooks_manager *m = h->m;

    h->req = NULL;
    m->stats.inflight--;
    if (!err && resp->status >= 200 && resp->status < 300) {
        set(&h->delivered_key, h->inflight_key);
        m->stats.delivered++;
    } else {
        char *why = err ? xasprintf("%s", cr_err_msg(err))
                        : xasprintf("answered %ld %s", resp->status, h->answer);
        set(&h->failed_key, h->inflight_key);
        free(h->failed_error);
        h->failed_error = why;
        h->failed_at = cr_wall_ms();
        m->stats.failures++;
        cr_info(m->log, "webhooks: %s: delivery failed: %s", h->id, why);
    }
    set(&h->inflight_key, NULL);
    ctl_runner_enqueue(m->runner, h->id);
}

static void send_event(ctl_webhooks_manager *m, hook *h, const api_webhook *w, const char *key)
{
    const api_webhook_event *e = valid_doc(store_cache_get(m->cache, key));
    char *body, *url, *sig = NULL, *sig_hdr = NULL, *id_hdr, *type_hdr;
    cr_err err;

    if (!e)
        return;
    body = json_dumps(e->payload, JSON_COMPACT);
    url = ctl_wh_expand_uri(w->uri, e->requestId, e->deployId, e->taskId);
    id_hdr = xasprintf("X-Corral-Webhook-Event: %s", strrchr(key, '/') + 1);
    type_hdr = xasprintf("X-Corral-Webhook-Type: %s", api_webhook_type_name(e->type));
    if (w->secret) {
        sig = ctl_wh_signature(w->secret, body, strlen(body));
        sig_hdr = xasprintf("X-Corral-Signature: %s", sig);
    }
    const char *hdrs[] = {"Content-Type: application/json", id_hdr, type_hdr, sig_hdr, NULL};
    cr_http_opts ho = {.method = "POST",
                       .url = url,
                       .headers = hdrs,
                       .body = body,
                       .body_len = strlen(body),
                       .timeout_ms = m->cfg.timeout_ms,
                       .connect_timeout_ms = m->cfg.timeout_ms,
                       .on_data = answer_data,
                       .on_done = delivered,
                       .arg = h};
    h->answer[0] = '\0';
    h->answer_len = 0;
    h->req = cr_http_start(m->http, &ho, &err);
    if (h->req) {
        set(&h->inflight_key, key);
        m->stats.inflight++;
    } else {
        set(&h->failed_key, key);
        set(&h->failed_error, cr_err_msg(&err));
        h->failed_at = cr_wall_ms();
        m->stats.failures++;
        ctl_runner_enqueue(m->runner, h->id);
    }
    free(body);
    free(url);
    free(sig);
    free(sig_hdr);
    free(id_hdr);
    free(type_hdr);
}

/* ---- one pass ------------------------------------------------------------------------ */

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

/* The first event after (rev, key) in memory. */
static size_t first_after(const ctl_webhooks_manager *m, int64_t rev, const char *key)
{
    size_t lo = 0, hi = m->n_ev;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ctl_wh_event_cmp(m->ev[mid].revision, m->ev[mid].object_key, rev, key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A deleted webhook: the API deleted its queue and status with it, but a
 * pass that raced the delete may have written some again. */
static ctl_pass collect_garbage(ctl_webhooks_manager *m, const char *id, ctl_ops *ops,
                                int64_t *requeue_ms)
{
    char *sk = api_key_webhook_status(m->prefix, id);
    const store_obj *so = store_cache_get(m->cache, sk);
    char *qp = api_key_kind_prefix(m->prefix, API_KEY_WEBHOOK_EVENT, id);
    size_t first, n = store_cache_range(m->cache, qp, &first);

    free(qp);
    if (so)
        ctl_ops_add(ops, CTL_OP_DELETE, sk, NULL, so->mod_revision, ONE_TXN);
    else
        free(sk);
    for (size_t i = first; i < first + n && i < first + m->cfg.batch; i++) {
        const store_obj *o = store_cache_at(m->cache, i);
        ctl_ops_add(ops, CTL_OP_DELETE, xstrdup(o->key), NULL, o->mod_revision, ONE_TXN);
    }
    if (n > m->cfg.batch)
        *requeue_ms = 1;
    return ops->n ? CTL_PASS_WRITE : CTL_PASS_FORGET;
}

/* A webhook document that does not decode: its status says why, and
 * nothing is queued or sent (its cursor stays, so fixing it resumes where it
 * stopped). */
static ctl_pass report_invalid(ctl_webhooks_manager *m, const char *id, const store_obj *wo,
                               int64_t now, ctl_ops *ops)
{
    char *sk = api_key_webhook_status(m->prefix, id);
    const store_obj *so = store_cache_get(m->cache, sk);
    const api_webhook_status *st = valid_doc(so);
    const char *why = wo->error ? wo->error : "not a JSON object";
    api_webhook_status ns;

    if (st && st->invalid && strcmp(st->invalid, why) == 0) {
        free(sk);
        return CTL_PASS_FORGET;
    }
    memset(&ns, 0, sizeof(ns));
    if (st) {
        api_webhook_status_copy(&ns, st);
    } else {
        ns.webhookId = xstrdup(id);
        ns.cursorRevision = wo->create_revision;
        ns.cursorKey = xstrdup("");
    }
    set(&ns.invalid, why);
    ns.updatedAt = now;
    cr_warn(m->log, "webhooks: %s skipped: %s", id, why);
    ctl_ops_add(ops, so ? CTL_OP_PUT : CTL_OP_CREATE, sk, dump(api_webhook_status_to_json(&ns)),
                so ? so->mod_revision : 0, ONE_TXN);
    api_webhook_status_release(&ns);
    return CTL_PASS_WRITE;
}

static ctl_pass reconcile(void *arg, ctl_runner *r, const char *id, int64_t now, ctl_ops *ops,
                          int64_t *requeue_ms, cr_err *err)
{
    ctl_webhooks_manager *m = arg;
    char *wk = api_key_webhook(m->prefix, id);
    const store_obj *wo = store_cache_get(m->cache, wk);
    const api_webhook *w = valid_doc(wo);
    hook *h;

    free(wk);
    if (m->rescan)
        scan(m);
    else if (m->unsorted)
        normalize(m);
    if (!w) {
        hook_free(store_map_del(m->hooks, id));
        if (wo)
            return report_invalid(m, id, wo, now, ops);
        return collect_garbage(m, id, ops, requeue_ms);
    }
    h = store_map_get(m->hooks, id);
    if (!h) {
        h = xcalloc(1, sizeof(*h));
        h->m = m;
        h->id = xstrdup(id);
        store_map_put(m->hooks, id, h);
    }

    char *sk = api_key_webhook_status(m->prefix, id);
    const store_obj *so = store_cache_get(m->cache, sk);
    const api_webhook_status *st = valid_doc(so);
    char *qp = api_key_kind_prefix(m->prefix, API_KEY_WEBHOOK_EVENT, id);
    size_t qfirst, qn = store_cache_range(m->cache, qp, &qfirst);
    const store_obj *head = qn ? store_cache_at(m->cache, qfirst) : NULL;
    const store_obj *next = qn > 1 ? store_cache_at(m->cache, qfirst + 1) : NULL;
    free(qp);

    /* A delivered head the cache no longer holds was deleted: done. */
    if (h->delivered_key && (!head || strcmp(h->delivered_key, head->key) != 0))
        set(&h->delivered_key, NULL);

    /* The events after the cursor, of this webhook's type, within a pass's
     * size. */
    const char *ckey = st && st->cursorKey ? st->cursorKey : "";
    int64_t crev = st ? st->cursorRevision : wo->create_revision;
    size_t cap = m->cfg.batch + 1, n_evs = 0, bytes = 0;
    ctl_wh_event *evs = xcalloc(cap, sizeof(*evs));
    size_t *idx = xcalloc(cap, sizeof(*idx));
    for (size_t i = first_after(m, crev, ckey); i < m->n_ev && n_evs < cap; i++) {
        if (m->ev[i].type != w->type)
            continue;
        if (m->ev[i].unless_history && history_at(m, m->ev[i].request_id, m->ev[i].revision))
            continue; /* the API's history event of the same change is the one */
        bytes += strlen(m->ev[i].payload);
        if (n_evs && bytes > PASS_BYTES)
            break;
        evs[n_evs] = (ctl_wh_event){m->ev[i].revision, m->ev[i].object_key};
        idx[n_evs++] = i;
    }

    ctl_wh_in in = {.webhook_id = id,
                    .status = st,
                    .created_revision = wo->create_revision,
                    .queue_len = qn,
                    .head_key = head ? head->key : NULL,
                    .head_invalid = head && !valid_doc(head),
                    .next_key = next ? next->key : NULL,
                    .inflight = h->req != NULL,
                    .delivered_key = h->delivered_key,
                    .failed_key = h->failed_key,
                    .failed_error = h->failed_error,
                    .failed_at = h->failed_at,
                    .events = evs,
                    .n_events = n_evs,
                    .config = &m->cfg,
                    .now = now};
    ctl_wh_plan plan;
    ctl_wh_plan_run(&in, &plan);
    /* the failure is in the new status now */
    set(&h->failed_key, NULL);
    set(&h->failed_error, NULL);

    if (plan.delete_head)
        ctl_ops_add(ops, CTL_OP_DELETE, xstrdup(head->key), NULL, head->mod_revision, ONE_TXN);
    for (size_t k = 0; k < plan.n_queue; k++) {
        const wh_event *e = &m->ev[idx[plan.queue[k]]];
        api_webhook_event doc = {.webhookId = (char *)id,
                                 .type = e->type,
                                 .objectKey = e->object_key,
                                 .revision = e->revision,
                                 .requestId = e->request_id,
                                 .deployId = e->deploy_id,
                                 .taskId = e->task_id,
                                 .createdAt = e->created_at,
                                 .payload = json_loads(e->payload, 0, NULL)};
        const char *actor = e->needs_actor && e->request_id && e->deploy_id
                                ? deploy_actor(m, e->request_id, e->deploy_id)
                                : NULL;
        json_t *mk = json_object_get(doc.payload, "deployMarker");
        if (actor && json_is_object(mk))
            json_object_set_new(mk, "user", json_string(actor));
        ctl_ops_add(ops, CTL_OP_PUT,
                    api_key_webhook_event(m->prefix, id, e->revision, e->object_key),
                    dump(api_webhook_event_to_json(&doc)), 0, ONE_TXN);
        json_decref(doc.payload);
    }
    m->stats.queued += plan.n_queue;
    if (plan.status_changed) {
        m->stats.dropped += (uint64_t)(plan.status.dropped - (st ? st->dropped : 0));
        ctl_ops_add(ops, so ? CTL_OP_PUT : CTL_OP_CREATE, sk,
                    dump(api_webhook_status_to_json(&plan.status)), so ? so->mod_revision : 0,
                    ONE_TXN);
        sk = NULL;
    }
    free(sk);
    if (plan.send_key)
        send_event(m, h, w, plan.send_key);
    *requeue_ms = plan.requeue_ms;
    ctl_wh_plan_release(&plan);
    free(evs);
    free(idx);
    prune(m);
    m->stats.memory = m->n_ev;
    (void)err;
    return CTL_PASS_WRITE;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static const ctl_loop webhooks_loop = {
    .name = "webhooks",
    .reconcile = reconcile,
    .on_change = on_change,
    .resync = resync,
    .on_start = on_start,
    .on_stop = on_stop,
};

ctl_webhooks_manager *ctl_webhooks_manager_new(struct event_base *base, store *s, cr_http *http,
                                               store_leader *leader,
                                               const ctl_webhooks_manager_config *cfg, cr_err *err)
{
    const char *prefix;
    ctl_webhooks_manager *m;

    if (!base || !s || !http || !leader) {
        cr_error(err, CR_EINVAL, "webhooks: base, store, http and leader are required");
        return NULL;
    }
    if (ctl_loop_prefix("webhooks", cfg ? cfg->prefix : NULL, &prefix, err) < 0)
        return NULL;
    m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->http = http;
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->cfg = *cfg->plan;
    ctl_wh_config_defaults(&m->cfg);
    m->log = cfg ? cfg->log : NULL;
    ctl_runner_config rc = {.prefix = m->prefix,
                            .max_inflight = 16,
                            .resync_ms = cfg ? cfg->resync_ms : 0,
                            .log = m->log};
    m->runner = ctl_runner_new(base, s, cfg ? cfg->cache : NULL, leader, &webhooks_loop, m, &rc);
    return m;
}

int ctl_webhooks_manager_start(ctl_webhooks_manager *m, cr_err *err)
{
    return ctl_runner_start(m->runner, err);
}

void ctl_webhooks_manager_stop(ctl_webhooks_manager *m)
{
    if (m)
        ctl_runner_stop(m->runner);
}

void ctl_webhooks_manager_free(ctl_webhooks_manager *m)
{
    if (!m)
        return;
    ctl_runner_free(m->runner);
    ev_clear(m);
    free(m->ev);
    free(m->prefix);
    free(m);
}

void ctl_webhooks_manager_get_stats(const ctl_webhooks_manager *m, ctl_webhooks_stats *out)
{
    ctl_runner_stats rs;

    memset(out, 0, sizeof(*out));
    if (!m)
        return;
    *out = m->stats;
    ctl_runner_get_stats(m->runner, &rs);
    out->running = rs.running;
    out->passes = rs.passes;
    out->writes = rs.writes;
    out->conflicts = rs.conflicts;
    out->errors = rs.errors;
}
