/* The controller manager: informers + work queue + fenced writes around the
 * pure service plan (see controllers.h). */
#include "controllers/controllers.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/status.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "controllers/health.h"
#include "controllers/view.h"
#include "apis/keys.h"
#include "store/informer.h"
#include "store/map.h"
#include "store/workqueue.h"

typedef enum {
    K_REQUESTS,
    K_DEPLOYS,
    K_INTENTS,
    K_TASKS,
    K_PENDING,
    K_CLEANUPS,
    K_STATUS,
    K_HISTORY,
    K__COUNT
} kind;

static const char *const kind_path[K__COUNT] = {
    "/requests/", "/deploys/",  "/intents/", "/tasks/",
    "/pending/",  "/cleanups/", "/status/",  "/history/tasks/",
};

/* Keys of one request, for the kinds looked up by request rather than by
 * exact key. Values are unused (non-NULL markers). */
typedef struct bucket {
    store_map *keys[K__COUNT]; /* only DEPLOYS, TASKS, PENDING, HISTORY */
} bucket;

/* What the informer keeps per item: the kind and the decoded document
 * (NULL for kinds kept raw). */
typedef struct tagged {
    kind k;
    void *obj;
} tagged;

/* One request's writes in flight. */
typedef struct pass {
    ctl_manager *m;
    char *rid;
    size_t outstanding;
    bool failed;
    bool conflict;
    int64_t revision; /* highest revision a write landed at */
    unsigned kinds;   /* informers the writes touch (bit per kind) */
    int64_t requeue_ms;
    struct pass *next;
} pass;

/* Revision the caches must reach before the next pass of a request. */
typedef struct wait_rev {
    int64_t revision;
    unsigned kinds;
} wait_rev;

struct ctl_manager {
    struct event_base *base;
    store *store;
    cr_http *http;
    store_leader *leader;
    char *prefix;
    ctl_config plan_cfg;
    int max_inflight;
    int64_t resync_ms;
    cr_log *log;

    bool running;
    store_informer *inf; /* everything under the prefix: one consistent snapshot */
    store_wq *wq;
    ctl_checker *checker;
    store_map *buckets; /* rid -> bucket */
    store_map *health;  /* task id -> (intptr_t) ctl_health */
    store_map *other;   /* rid -> marker: last seen document not SERVICE/WORKER */
    store_map *waits;   /* rid -> wait_rev */
    pass *passes;
    ctl_manager_stats stats;
};

/* ---- keys ------------------------------------------------------------------------ */

static kind key_kind(const ctl_manager *m, const char *key)
{
    size_t plen = strlen(m->prefix);
    if (strncmp(key, m->prefix, plen) != 0)
        return K__COUNT;
    for (int k = K__COUNT - 1; k >= 0; k--) /* history/tasks before tasks */
        if (strncmp(key + plen, kind_path[k], strlen(kind_path[k])) == 0)
            return (kind)k;
    return K__COUNT;
}

/* The request id a key of kind k belongs to (caller frees), or NULL. */
static char *key_rid(const ctl_manager *m, kind k, const char *key)
{
    size_t plen = strlen(m->prefix) + strlen(kind_path[k]);
    const char *rest, *slash;

    if (strlen(key) < plen)
        return NULL;
    rest = key + plen;
    if (k == K_CLEANUPS) {
        api_task_id id;
        char *rid = NULL;
        if (api_task_id_parse(rest, &id, NULL) == 0) {
            rid = xstrdup(id.requestId);
            api_task_id_release(&id);
        }
        return rid;
    }
    if (k == K_INTENTS || k == K_STATUS) {
        /* intents/{requests,deploys}/<rid>/..., status/{requests,deploys}/<rid>... */
        slash = strchr(rest, '/');
        if (!slash)
            return NULL;
        rest = slash + 1;
    }
    slash = strchr(rest, '/');
    return slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
}

static const char *last_part(const char *key)
{
    const char *s = strrchr(key, '/');
    return s ? s + 1 : key;
}

static bucket *get_bucket(ctl_manager *m, const char *rid, bool create)
{
    bucket *b = store_map_get(m->buckets, rid);
    if (!b && create) {
        b = xcalloc(1, sizeof(*b));
        b->keys[K_DEPLOYS] = store_map_new();
        b->keys[K_TASKS] = store_map_new();
        b->keys[K_PENDING] = store_map_new();
        b->keys[K_HISTORY] = store_map_new();
        store_map_put(m->buckets, rid, b);
    }
    return b;
}

static void free_bucket(const char *key, void *value, void *arg)
{
    bucket *b = value;
    for (int k = 0; k < K__COUNT; k++)
        store_map_free(b->keys[k]);
    free(b);
}

/* ---- decoders ---------------------------------------------------------------------- */

static json_t *load(const store_kv *kv, cr_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(kv->value ? kv->value : "", kv->value_len, 0, &je);
    if (!j)
        cr_error(err, CR_EPARSE, "%d:%d: %s", je.line, je.column, je.text);
    return j;
}

typedef void *(*from_json_fn)(const json_t *j, const api_decode_opts *o, api_problems *p);

static void *decode_with(const store_kv *kv, from_json_fn fn, bool allow_unknown, cr_err *err)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = allow_unknown};
    json_t *j = load(kv, err);
    void *obj = NULL;
    if (!j)
        return NULL;
    obj = fn(j, &o, &probs);
    if (!obj) {
        char *msg = api_problems_format(&probs);
        cr_error(err, CR_EINVAL, "%s", msg);
        free(msg);
    }
    json_decref(j);
    api_problems_release(&probs);
    /* obj is heap memory from fn; cppcheck mistakes it for &o or &probs. */
    // cppcheck-suppress returnDanglingLifetime
    return obj;
}

static void *decode_any(const store_kv *kv, void *arg, cr_err *err)
{
    ctl_manager *m = arg;
    kind k = key_kind(m, kv->key);
    void *obj = NULL;

    switch (k) {
    case K_REQUESTS:
        obj = decode_with(kv, (from_json_fn)api_request_from_json, false, err);
        break;
    case K_DEPLOYS:
        obj = decode_with(kv, (from_json_fn)api_deploy_from_json, false, err);
        break;
    case K_TASKS:
        obj = decode_with(kv, (from_json_fn)api_task_from_json, true, err);
        break;
    case K_PENDING:
        obj = decode_with(kv, (from_json_fn)api_pending_task_from_json, true, err);
        break;
    default:
        break; /* kept raw */
    }
    if (!obj && (k == K_REQUESTS || k == K_DEPLOYS || k == K_TASKS || k == K_PENDING))
        return NULL; /* the informer keeps decode_error */
    tagged *t = xcalloc(1, sizeof(*t));
    t->k = k;
    t->obj = obj;
    return t;
}

static void free_any(void *p)
{
    tagged *t = p;
    switch (t->k) {
    case K_REQUESTS:
        api_request_free(t->obj);
        break;
    case K_DEPLOYS:
        api_deploy_free(t->obj);
        break;
    case K_TASKS:
        api_task_free(t->obj);
        break;
    case K_PENDING:
        api_pending_task_free(t->obj);
        break;
    default:
        break;
    }
    free(t);
}

/* The decoded document of an item, or NULL. */
static void *obj_of(const store_item *it)
{
    return it && it->obj ? ((tagged *)it->obj)->obj : NULL;
}

/* ---- informer handlers: index and enqueue ------------------------------------------- */

static void index_item(ctl_manager *m, kind k, const store_item *it, bool present)
{
    char *rid = key_rid(m, k, it->key);
    if (!rid)
        return;
    if (k == K_DEPLOYS || k == K_TASKS || k == K_PENDING || k == K_HISTORY) {
        bucket *b = get_bucket(m, rid, present);
        if (b && present)
            store_map_put(b->keys[k], it->key, (void *)1);
        else if (b)
            store_map_del(b->keys[k], it->key);
    }
    if (k == K_REQUESTS) {
        const api_request *r = present ? obj_of(it) : NULL;
        if (r && !api_request_type_long_running(r->type))
            store_map_put(m->other, rid, (void *)1);
        else if (present)
            store_map_del(m->other, rid);
    }
    if (k == K_TASKS && !present) {
        const char *tid = last_part(it->key);
        store_map_del(m->health, tid);
        if (m->checker)
            ctl_checker_forget(m->checker, tid);
    }
    if (m->wq && k != K_HISTORY)
        store_wq_add(m->wq, rid);
    free(rid);
}

static void on_add(void *arg, const store_item *it)
{
    ctl_manager *m = arg;
    kind k = key_kind(m, it->key);
    if (k < K__COUNT)
        index_item(m, k, it, true);
}

static void on_update(void *arg, const store_item *old, const store_item *cur)
{
    on_add(arg, cur);
}

static void on_delete(void *arg, const store_item *old)
{
    ctl_manager *m = arg;
    kind k = key_kind(m, old->key);
    if (k < K__COUNT)
        index_item(m, k, old, false);
}

static bool all_synced(const ctl_manager *m)
{
    return m->inf && store_informer_synced(m->inf);
}

static void resync_bucket(const char *rid, void *value, void *arg)
{
    store_wq_add(arg, rid);
}

static void resync_request(void *arg, const store_item *it)
{
    ctl_manager *m = arg;
    if (key_kind(m, it->key) != K_REQUESTS)
        return;
    char *rid = key_rid(m, K_REQUESTS, it->key);
    if (rid)
        store_wq_add(m->wq, rid);
    free(rid);
}

static void on_resync(void *arg, store_wq *wq)
{
    ctl_manager *m = arg;
    if (!all_synced(m))
        return;
    store_informer_foreach(m->inf, resync_request, m);
    store_map_foreach(m->buckets, resync_bucket, wq);
}

static void on_synced(void *arg)
{
    ctl_manager *m = arg;
    if (!all_synced(m))
        return;
    m->stats.synced = true;
    store_wq_pause(m->wq, false);
    on_resync(m, m->wq);
}

/* ---- health verdicts ---------------------------------------------------------------- */

static void on_verdict(void *arg, const char *rid, const char *tid, ctl_health v)
{
    ctl_manager *m = arg;
    store_map_put(m->health, tid, (void *)(intptr_t)v);
    if (m->wq)
        store_wq_add(m->wq, rid);
}

/* ---- writes ---------------------------------------------------------------------------- */

static void pass_free(pass *p)
{
    free(p->rid);
    free(p);
}

static void pass_unlink(ctl_manager *m, pass *p)
{
    for (pass **pp = &m->passes; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* All writes of the pass are answered: decide what comes next. */
static void pass_finish(pass *p)
{
    ctl_manager *m = p->m;
    pass_unlink(m, p);
    if (p->revision && p->kinds) {
        wait_rev *w = store_map_get(m->waits, p->rid);
        if (!w) {
            w = xcalloc(1, sizeof(*w));
            store_map_put(m->waits, p->rid, w);
        }
        w->revision = p->revision;
        w->kinds = p->kinds;
    }
    if (p->failed) {
        m->stats.errors++;
        store_wq_done(m->wq, p->rid);
        store_wq_add_rate_limited(m->wq, p->rid);
    } else {
        store_wq_forget(m->wq, p->rid);
        store_wq_done(m->wq, p->rid);
        if (p->conflict)
            store_wq_add(m->wq, p->rid);
        else if (p->requeue_ms > 0)
            store_wq_add_after(m->wq, p->rid, p->requeue_ms);
    }
    pass_free(p);
}

static void on_written(void *arg, const store_result *res, const cr_err *err)
{
    pass *p = arg;
    ctl_manager *m = p->m;
    if (err) {
        if (err->code == CR_ENOTLEADER)
            cr_warn(m->log, "controllers: write refused, not the leader: %s", cr_err_msg(err));
        else
            cr_warn(m->log, "controllers: request '%s': write failed: %s", p->rid, cr_err_msg(err));
        p->failed = true;
    } else {
        if (!res->succeeded) {
            p->conflict = true;
            m->stats.conflicts++;
        }
        if (res->revision > p->revision)
            p->revision = res->revision;
    }
    if (--p->outstanding == 0)
        pass_finish(p);
}

/* Sends one store_write per action group. Returns the number sent. */
static size_t send_ops(ctl_manager *m, pass *p, const ctl_ops *ops)
{
    size_t sent = 0;
    for (size_t i = 0; i < ops->n;) {
        size_t g = ops->v[i].group;
        store_txn *t = store_leader_txn(m->leader);
        cr_err err;
        if (!t) {
            p->failed = true;
            break;
        }
        for (; i < ops->n && ops->v[i].group == g; i++) {
            const ctl_op *op = &ops->v[i];
            kind k = key_kind(m, op->key);
            if (k < K__COUNT)
                p->kinds |= 1u << k;
            switch (op->type) {
            case CTL_OP_CREATE:
                store_txn_if_create(t, op->key, STORE_EQ, 0);
                store_txn_put(t, STORE_THEN, op->key, op->value, strlen(op->value), NULL);
                break;
            case CTL_OP_PUT:
                if (op->mod_revision)
                    store_txn_if_mod(t, op->key, STORE_EQ, op->mod_revision);
                store_txn_put(t, STORE_THEN, op->key, op->value, strlen(op->value), NULL);
                break;
            case CTL_OP_DELETE:
                if (op->mod_revision)
                    store_txn_if_mod(t, op->key, STORE_EQ, op->mod_revision);
                store_txn_delete(t, STORE_THEN, op->key, false);
                break;
            }
        }
        p->outstanding++;
        if (store_write(m->store, t, on_written, p, &err) < 0) {
            p->outstanding--;
            p->failed = true;
            cr_warn(m->log, "controllers: request '%s': %s", p->rid, cr_err_msg(&err));
            break;
        }
        sent++;
        m->stats.writes++;
    }
    return sent;
}

/* ---- one pass ---------------------------------------------------------------------------- */

/* What a pass borrows from the caches, and the views built from it. */
typedef struct pass_in {
    ctl_request req;
    ctl_deploy *deploys;
    ctl_hc_opts *hc;
    const api_deploy **docs;
    char **problems;
    size_t n_deploys;
    ctl_task *tasks;
    const api_task **records;
    size_t n_tasks;
    api_request_status status;
    bool has_status;
    api_deploy_status *dstatus;
    size_t n_dstatus;
    const char **history;
    size_t n_history;
    ctl_place_reason *place; /* per task: the bridge's status/pending, if any */
} pass_in;

static void pass_in_release(pass_in *in)
{
    for (size_t i = 0; i < in->n_deploys; i++)
        free(in->problems[i]);
    free(in->problems);
    free(in->deploys);
    free(in->hc);
    free(in->docs);
    for (size_t i = 0; i < in->n_tasks && in->place; i++)
        ctl_place_reason_release(&in->place[i]);
    free(in->place);
    free(in->tasks);
    free(in->records);
    api_request_status_release(&in->status);
    for (size_t i = 0; i < in->n_dstatus; i++)
        api_deploy_status_release(&in->dstatus[i]);
    free(in->dstatus);
    free(in->history);
}

static const store_item *get_item(const ctl_manager *m, kind k, const char *fmt_key)
{
    return store_informer_get(m->inf, fmt_key);
}

/* The `timestamp` of an intent document, 0 if absent or unreadable. */
static int64_t intent_int(const ctl_manager *m, const char *rid, const char *deploy,
                          const char *name, const char *field, bool *exists)
{
    char *key = deploy ? xasprintf("%s/intents/deploys/%s/%s/%s", m->prefix, rid, deploy, name)
                       : xasprintf("%s/intents/requests/%s/%s", m->prefix, rid, name);
    const store_item *it = get_item(m, K_INTENTS, key);
    int64_t v = 0;
    free(key);
    if (exists)
        *exists = it != NULL;
    if (it) {
        json_t *j = json_loadb(it->value, it->value_len, 0, NULL);
        json_t *f = json_object_get(j, field);
        if (json_is_integer(f))
            v = json_integer_value(f);
        json_decref(j);
    }
    return v;
}

static int cmp_history(const void *a, const void *b)
{
    const store_item *x = *(const store_item *const *)a, *y = *(const store_item *const *)b;
    return x->create_revision < y->create_revision ? -1 : x->create_revision > y->create_revision;
}

static void collect(ctl_manager *m, const char *rid, pass_in *in, const store_item *req_item)
{
    bucket *b = get_bucket(m, rid, false);
    size_t n;
    const char **keys;
    const api_request *req = obj_of(req_item);
    ctl_request_intents ri = {0};

    ri.bounce = intent_int(m, rid, NULL, "bounce", "timestamp", NULL);
    ri.exit_cooldown = intent_int(m, rid, NULL, "exit-cooldown", "timestamp", NULL);
    intent_int(m, rid, NULL, "pause", "timestamp", &ri.paused);
    if (req_item)
        ctl_request_view(req, req_item->decode_error, req_item->mod_revision, &ri, &in->req);

    /* Request status. */
    char *skey = api_request_status_key(m->prefix, rid);
    const store_item *st = get_item(m, K_STATUS, skey);
    free(skey);
    if (st) {
        api_problems probs = API_PROBLEMS_INIT;
        json_t *j = json_loadb(st->value, st->value_len, 0, NULL);
        in->has_status = j && api_request_status_from_json(j, &in->status, NULL, &probs) == 0;
        if (!in->has_status) {
            cr_warn(m->log, "controllers: request '%s': status unreadable, rebuilding", rid);
            api_request_status_release(&in->status);
        }
        json_decref(j);
        api_problems_release(&probs);
    }
    if (!b)
        return;

    /* Deploys and their statuses. */
    keys = store_map_keys(b->keys[K_DEPLOYS], &n);
    in->deploys = xcalloc(n + 1, sizeof(*in->deploys));
    in->hc = xcalloc(n + 1, sizeof(*in->hc));
    in->docs = xcalloc(n + 1, sizeof(*in->docs));
    in->problems = xcalloc(n + 1, sizeof(*in->problems));
    in->dstatus = xcalloc(n + 1, sizeof(*in->dstatus));
    for (size_t i = 0; i < n; i++) {
        const store_item *it = get_item(m, K_DEPLOYS, keys[i]);
        if (!it)
            continue;
        size_t k = in->n_deploys++;
        const char *did = last_part(it->key);
        ctl_deploy_intents di = {0};
        di.target_instances = (int)intent_int(m, rid, did, "update", "targetActiveInstances", NULL);
        intent_int(m, rid, did, "cancel", "timestamp", &di.cancel);
        in->docs[k] = obj_of(it);
        ctl_deploy_view(obj_of(it), it->decode_error, req, it->create_revision, &di,
                        &in->deploys[k], &in->hc[k], &in->problems[k]);
        if (!in->deploys[k].id)
            in->deploys[k].id = did;
        char *dkey = api_deploy_status_key(m->prefix, rid, did);
        const store_item *ds = get_item(m, K_STATUS, dkey);
        free(dkey);
        if (ds) {
            api_problems probs = API_PROBLEMS_INIT;
            json_t *j = json_loadb(ds->value, ds->value_len, 0, NULL);
            if (j && api_deploy_status_from_json(j, &in->dstatus[in->n_dstatus], NULL, &probs) == 0)
                in->n_dstatus++;
            else
                api_deploy_status_release(&in->dstatus[in->n_dstatus]);
            json_decref(j);
            api_problems_release(&probs);
        }
    }
    free(keys);

    /* Pending tasks and task records. */
    size_t nt, np;
    const char **tkeys = store_map_keys(b->keys[K_TASKS], &nt);
    const char **pkeys = store_map_keys(b->keys[K_PENDING], &np);
    in->tasks = xcalloc(nt + np + 1, sizeof(*in->tasks));
    in->records = xcalloc(nt + np + 1, sizeof(*in->records));
    in->place = xcalloc(nt + np + 1, sizeof(*in->place));
    for (size_t i = 0; i < nt; i++) {
        const store_item *it = get_item(m, K_TASKS, tkeys[i]);
        const api_task *t = obj_of(it);
        if (!t)
            continue;
        char *ckey = api_cleanup_key(m->prefix, t->taskId.id);
        bool cleaning = get_item(m, K_CLEANUPS, ckey) != NULL;
        free(ckey);
        ctl_health h = (ctl_health)(intptr_t)store_map_get(m->health, t->taskId.id);
        in->records[in->n_tasks] = t;
        ctl_task_view(t, cleaning, h, &in->tasks[in->n_tasks++]);
    }
    for (size_t i = 0; i < np; i++) {
        const store_item *it = get_item(m, K_PENDING, pkeys[i]);
        const api_pending_task *p = obj_of(it);
        if (!p)
            continue;
        ctl_task *t = &in->tasks[in->n_tasks];
        ctl_place_reason *pr = &in->place[in->n_tasks++];
        ctl_pending_view(p, t);
        char *why_key = api_key_pending_status(m->prefix, rid, p->pendingTaskId.id);
        const store_item *si = get_item(m, K_STATUS, why_key);
        free(why_key);
        if (si && ctl_place_reason_parse(si->value, si->value_len, pr) == 0) {
            t->place_reason = pr->reason;
            t->place_message = pr->message;
        }
    }
    free(tkeys);
    free(pkeys);

    /* History, oldest first. */
    const char **hkeys = store_map_keys(b->keys[K_HISTORY], &n);
    const store_item **items = xcalloc(n + 1, sizeof(*items));
    size_t hn = 0;
    for (size_t i = 0; i < n; i++)
        if ((items[hn] = get_item(m, K_HISTORY, hkeys[i])))
            hn++;
    qsort(items, hn, sizeof(*items), cmp_history);
    in->history = xcalloc(hn + 1, sizeof(*in->history));
    for (size_t i = 0; i < hn; i++)
        in->history[i] = last_part(items[i]->key);
    in->n_history = hn;
    free(items);
    free(hkeys);
}

/* Starts (or stops) health checks for the request's tasks. */
static void drive_checks(ctl_manager *m, const char *rid, const pass_in *in)
{
    for (size_t i = 0; i < in->n_tasks; i++) {
        const ctl_task *t = &in->tasks[i];
        const api_task *rec = in->records[i];
        if (!rec)
            continue;
        if (t->cleaning || api_task_state_terminal(t->state)) {
            ctl_checker_forget(m->checker, t->id);
            continue;
        }
        if (t->state != API_TASK_RUNNING || t->health != CTL_HEALTH_UNKNOWN)
            continue;
        for (size_t d = 0; d < in->n_deploys; d++) {
            const api_deploy *doc = in->docs[d];
            if (!in->deploys[d].http_check || !doc || strcmp(in->deploys[d].id, t->deploy_id))
                continue;
            const api_healthcheck *h = doc->healthcheck;
            int64_t port = 0;
            if (h->has_portNumber)
                port = h->portNumber;
            else if ((size_t)(h->has_portIndex ? h->portIndex : 0) < rec->ports.n)
                port = rec->ports.v[h->has_portIndex ? h->portIndex : 0];
            if (!port || !rec->hostname)
                break;
            char *url =
                xasprintf("%s://%s:%lld%s%s",
                          h->protocol && strncmp(h->protocol, "HTTPS", 5) == 0 ? "https" : "http",
                          rec->hostname, (long long)port, h->uri[0] == '/' ? "" : "/", h->uri);
            cr_err err;
            int64_t since = ctl_hc_start_time(&in->hc[d], t->running_at, cr_wall_ms());
            if (ctl_checker_watch(m->checker, rid, t->id, url, &in->hc[d], since, &err) < 0)
                cr_warn(m->log, "controllers: task '%s': %s", t->id, cr_err_msg(&err));
            free(url);
            break;
        }
    }
}

static const char *lookup_task(void *arg, const char *task_id, int64_t *mod_revision)
{
    pass *p = arg;
    char *key = api_task_key(p->m->prefix, p->rid, task_id);
    const store_item *it = get_item(p->m, K_TASKS, key);
    free(key);
    *mod_revision = it ? it->mod_revision : 0;
    return it ? it->value : NULL;
}

/* The queue's key is freed by store_wq_done: work on a copy. */
static void process_key(ctl_manager *m, store_wq *wq, const char *rid);

static void process(void *arg, store_wq *wq, const char *key)
{
    char *rid = xstrdup(key);
    process_key(arg, wq, rid);
    free(rid);
}

static void process_key(ctl_manager *m, store_wq *wq, const char *rid)
{
    pass_in in = {0};
    ctl_plan plan;
    ctl_ops ops = {0};
    cr_err err;

    if (!m->running || !all_synced(m)) {
        store_wq_done(wq, rid);
        return;
    }
    /* Read-your-writes: wait for our last writes to reach the caches. */
    wait_rev *w = store_map_get(m->waits, rid);
    if (w) {
        if (store_informer_revision(m->inf) < w->revision) {
            store_wq_done(wq, rid);
            store_wq_add_after(wq, rid, 20);
            return;
        }
        free(store_map_del(m->waits, rid));
    }

    char *rkey = xasprintf("%s/requests/%s", m->prefix, rid);
    const store_item *req_item = get_item(m, K_REQUESTS, rkey);
    free(rkey);
    const api_request *req = obj_of(req_item);
    if ((req && !api_request_type_long_running(req->type)) ||
        (!req_item && store_map_has(m->other, rid))) {
        store_wq_forget(wq, rid); /* the jobs controller's */
        store_wq_done(wq, rid);
        return;
    }
    if (!req_item && !get_bucket(m, rid, false)) {
        char *skey = api_request_status_key(m->prefix, rid);
        bool has_status = get_item(m, K_STATUS, skey) != NULL;
        free(skey);
        if (!has_status) {
            store_wq_done(wq, rid); /* nothing of it was ever ours */
            return;
        }
    }

    collect(m, rid, &in, req_item);
    int64_t now = cr_wall_ms();
    ctl_service_in sin = {
        .request_id = rid,
        .request = req_item ? &in.req : NULL,
        .deploys = in.deploys,
        .n_deploys = in.n_deploys,
        .tasks = in.tasks,
        .n_tasks = in.n_tasks,
        .status = in.has_status ? &in.status : NULL,
        .deploy_status = in.dstatus,
        .n_deploy_status = in.n_dstatus,
        .history = in.history,
        .n_history = in.n_history,
        .config = &m->plan_cfg,
        .now = now,
    };
    /* A deleted request with nothing left and a final status: done. */
    if (!req_item && !in.n_tasks && in.has_status && in.status.state == API_RSTATE_DELETED) {
        pass_in_release(&in);
        store_wq_forget(wq, rid);
        store_wq_done(wq, rid);
        return;
    }
    ctl_service_plan(&sin, &plan);
    m->stats.passes++;
    drive_checks(m, rid, &in);

    pass *p = xcalloc(1, sizeof(*p));
    p->m = m;
    p->rid = xstrdup(rid);
    p->requeue_ms = plan.requeue_after_ms;
    ctl_doc_lookup look = {lookup_task, p};
    if (ctl_plan_ops(m->prefix, rid, &plan, &look, now, &ops, &err) < 0) {
        cr_warn(m->log, "controllers: %s", cr_err_msg(&err));
        p->failed = true;
    }
    for (size_t i = 0; i < plan.n_actions; i++) {
        char *line = ctl_action_format(&plan.actions[i], now);
        cr_debug(m->log, "controllers: %s: %s", rid, line);
        free(line);
    }
    ctl_plan_release(&plan);
    pass_in_release(&in);

    p->next = m->passes;
    m->passes = p;
    if (!p->failed)
        send_ops(m, p, &ops);
    ctl_ops_release(&ops);
    if (p->outstanding == 0)
        pass_finish(p);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

ctl_manager *ctl_manager_new(struct event_base *base, store *s, cr_http *http, store_leader *leader,
                             const ctl_manager_config *cfg, cr_err *err)
{
    if (!base || !s || !http || !leader) {
        cr_error(err, CR_EINVAL, "controllers: base, store, http and leader are required");
        return NULL;
    }
    const char *prefix = cfg && cfg->prefix ? cfg->prefix : "/corral";
    if (prefix[0] != '/' || prefix[strlen(prefix) - 1] == '/') {
        cr_error(err, CR_EINVAL, "controllers: prefix '%s' must start and not end with '/'",
                 prefix);
        return NULL;
    }
    ctl_manager *m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->store = s;
    m->http = http;
    m->leader = leader;
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->plan_cfg = *cfg->plan;
    else
        ctl_config_defaults(&m->plan_cfg);
    m->max_inflight = cfg && cfg->max_inflight > 0 ? cfg->max_inflight : 64;
    m->resync_ms = cfg && cfg->resync_ms ? cfg->resync_ms : 60000;
    m->log = cfg ? cfg->log : NULL;
    return m;
}

int ctl_manager_start(ctl_manager *m, cr_err *err)
{
    static const store_informer_handlers h = {.decode = decode_any,
                                              .free_obj = free_any,
                                              .on_add = on_add,
                                              .on_update = on_update,
                                              .on_delete = on_delete,
                                              .on_synced = on_synced};

    if (m->running)
        return 0;
    m->running = true;
    m->stats = (ctl_manager_stats){.running = true};
    m->buckets = store_map_new();
    m->health = store_map_new();
    m->other = store_map_new();
    m->waits = store_map_new();
    store_wq_config qc = {.max_inflight = m->max_inflight,
                          .resync_ms = m->resync_ms > 0 ? m->resync_ms : 0,
                          .name = "controllers"};
    m->wq = store_wq_new(m->base, &qc, process, on_resync, m);
    store_wq_pause(m->wq, true); /* until every informer has synced */
    m->checker = ctl_checker_new(m->base, m->http, on_verdict, m);
    char *prefix = xasprintf("%s/", m->prefix);
    m->inf = store_informer_new(m->store, prefix, &h, m);
    free(prefix);
    if (store_informer_start(m->inf, err) < 0) {
        ctl_manager_stop(m);
        return -1;
    }
    return 0;
}

static void free_wait(const char *key, void *value, void *arg)
{
    free(value);
}

void ctl_manager_stop(ctl_manager *m)
{
    if (!m || !m->running)
        return;
    m->running = false;
    while (m->passes) {
        pass *p = m->passes;
        m->passes = p->next;
        store_cancel(m->store, p);
        pass_free(p);
    }
    store_informer_free(m->inf);
    m->inf = NULL;
    store_wq_free(m->wq);
    m->wq = NULL;
    ctl_checker_free(m->checker);
    m->checker = NULL;
    store_map_foreach(m->buckets, free_bucket, NULL);
    store_map_free(m->buckets);
    store_map_free(m->health);
    store_map_free(m->other);
    store_map_foreach(m->waits, free_wait, NULL);
    store_map_free(m->waits);
    m->buckets = m->health = m->other = m->waits = NULL;
    m->stats.running = false;
    m->stats.synced = false;
}

void ctl_manager_free(ctl_manager *m)
{
    if (!m)
        return;
    ctl_manager_stop(m);
    free(m->prefix);
    free(m);
}

void ctl_manager_get_stats(const ctl_manager *m, ctl_manager_stats *out)
{
    *out = m->stats;
    if (m->wq) {
        store_wq_stats q;
        store_wq_get_stats(m->wq, &q);
        out->queue_depth = q.depth;
        out->queue_processing = q.processing;
        out->queue_delayed = q.delayed;
        out->reconcile_latency = q.latency;
    }
    out->checks = m->checker ? ctl_checker_count(m->checker) : 0;
}
