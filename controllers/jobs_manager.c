/* The jobs manager: informer + work queue + fenced writes around the pure
 * jobs plan (see the last section of jobs.h). Same shape as manager.c. */
#include "controllers/jobs.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/deploy.h"
#include "base/clock.h"
#include "base/xalloc.h"
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
    K_RUNSTATUS, /* status/runs/<rid>/<runId> */
    K_STATUS,    /* every other status/... */
    K_RUNS,
    K_HISTORY, /* history/tasks/<rid>/<taskId> */
    K__COUNT
} kind;

static const char *const kind_path[K__COUNT] = {
    "/requests/", "/deploys/",     "/intents/", "/tasks/", "/pending/",
    "/cleanups/", "/status/runs/", "/status/",  "/runs/",  "/history/tasks/",
};

/* Kinds whose keys are indexed per request id. */
static bool indexed(kind k)
{
    return k == K_DEPLOYS || k == K_TASKS || k == K_PENDING || k == K_RUNS || k == K_RUNSTATUS ||
           k == K_HISTORY;
}

typedef struct bucket {
    store_map *keys[K__COUNT]; /* only the indexed kinds */
} bucket;

typedef struct tagged {
    kind k;
    void *obj;
} tagged;

/* A request's parsed schedule, kept while its inputs stay the same. */
typedef struct sched_entry {
    char *inputs; /* schedule|quartzSchedule|type|zone */
    api_schedule *s;
    char *error;
} sched_entry;

typedef struct pass {
    ctl_jobs_manager *m;
    char *rid;
    size_t outstanding;
    bool failed, conflict;
    int64_t revision;
    int64_t requeue_ms;
    struct pass *next;
} pass;

struct ctl_jobs_manager {
    struct event_base *base;
    store *store;
    store_leader *leader;
    char *prefix;
    ctl_jobs_config plan_cfg;
    int max_inflight;
    int64_t resync_ms;
    cr_log *log;

    bool running;
    store_informer *inf;
    store_wq *wq;
    store_map *buckets; /* rid -> bucket */
    store_map *mine;    /* rid -> marker: last seen request was a job type */
    store_map *waits;   /* rid -> (int64_t *) revision the cache must reach */
    store_map *scheds;  /* rid -> sched_entry */
    pass *passes;
    ctl_jobs_manager_stats stats;
};

/* ---- keys ------------------------------------------------------------------------ */

static kind key_kind(const ctl_jobs_manager *m, const char *key)
{
    size_t plen = strlen(m->prefix);
    if (strncmp(key, m->prefix, plen) != 0)
        return K__COUNT;
    for (int k = 0; k < K__COUNT; k++) /* status/runs/ is listed before status/ */
        if (strncmp(key + plen, kind_path[k], strlen(kind_path[k])) == 0)
            return (kind)k;
    return K__COUNT;
}

/* The request id a key of kind k belongs to (caller frees), or NULL. */
static char *key_rid(const ctl_jobs_manager *m, kind k, const char *key)
{
    const char *rest = key + strlen(m->prefix) + strlen(kind_path[k]), *slash;

    if (k == K_CLEANUPS) {
        api_task_id id;
        char *rid = NULL;
        if (api_task_id_parse(rest, &id, NULL) == 0) {
            rid = xstrdup(id.requestId);
            api_task_id_release(&id);
        }
        return rid;
    }
    if (k == K_INTENTS || k == K_STATUS) { /* <sub>/<rid>/... */
        if (!(slash = strchr(rest, '/')))
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

static bucket *get_bucket(ctl_jobs_manager *m, const char *rid, bool create)
{
    bucket *b = store_map_get(m->buckets, rid);
    if (!b && create) {
        b = xcalloc(1, sizeof(*b));
        for (int k = 0; k < K__COUNT; k++)
            if (indexed((kind)k))
                b->keys[k] = store_map_new();
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

static void free_sched(const char *key, void *value, void *arg)
{
    sched_entry *e = value;
    free(e->inputs);
    api_schedule_free(e->s);
    free(e->error);
    free(e);
}

static void free_wait(const char *key, void *value, void *arg)
{
    free(value);
}

/* ---- decoders ---------------------------------------------------------------------- */

typedef void *(*from_json_fn)(const json_t *j, const api_decode_opts *o, api_problems *p);

static void *decode_with(const store_kv *kv, from_json_fn fn, cr_err *err)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true};
    json_error_t je;
    json_t *j = json_loadb(kv->value ? kv->value : "", kv->value_len, 0, &je);
    void *obj = NULL;

    if (!j) {
        cr_error(err, CR_EPARSE, "%d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!(obj = fn(j, &o, &probs))) {
        char *msg = api_problems_format(&probs);
        cr_error(err, CR_EINVAL, "%s", msg);
        free(msg);
    }
    json_decref(j);
    api_problems_release(&probs);
    return obj;
}

static void *decode_run(const store_kv *kv, cr_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(kv->value ? kv->value : "", kv->value_len, 0, &je);
    ctl_jobs_run_doc *d;

    if (!j) {
        cr_error(err, CR_EPARSE, "%d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    if (ctl_jobs_run_doc_from_json(j, d, err) < 0) {
        ctl_jobs_run_doc_release(d);
        free(d);
        d = NULL;
    }
    json_decref(j);
    return d;
}

static void *decode_any(const store_kv *kv, void *arg, cr_err *err)
{
    ctl_jobs_manager *m = arg;
    kind k = key_kind(m, kv->key);
    void *obj = NULL;
    tagged *t;

    switch (k) {
    case K_REQUESTS:
        obj = decode_with(kv, (from_json_fn)api_request_from_json, err);
        break;
    case K_DEPLOYS:
        obj = decode_with(kv, (from_json_fn)api_deploy_from_json, err);
        break;
    case K_TASKS:
        obj = decode_with(kv, (from_json_fn)api_task_from_json, err);
        break;
    case K_PENDING:
        obj = decode_with(kv, (from_json_fn)api_pending_task_from_json, err);
        break;
    case K_RUNS:
        obj = decode_run(kv, err);
        break;
    default:
        break; /* kept raw */
    }
    if (!obj &&
        (k == K_REQUESTS || k == K_DEPLOYS || k == K_TASKS || k == K_PENDING || k == K_RUNS))
        return NULL; /* the informer keeps decode_error */
    t = xcalloc(1, sizeof(*t));
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
    case K_RUNS:
        if (t->obj)
            ctl_jobs_run_doc_release(t->obj);
        free(t->obj);
        break;
    default:
        break;
    }
    free(t);
}

static void *obj_of(const store_item *it)
{
    return it && it->obj ? ((tagged *)it->obj)->obj : NULL;
}

static bool job_type(api_request_type t)
{
    return t == API_SCHEDULED || t == API_ON_DEMAND || t == API_RUN_ONCE;
}

/* ---- informer handlers: index and enqueue ------------------------------------------- */

static void index_item(ctl_jobs_manager *m, kind k, const store_item *it, bool present)
{
    char *rid = key_rid(m, k, it->key);

    if (!rid)
        return;
    if (indexed(k)) {
        bucket *b = get_bucket(m, rid, present);
        if (b && present)
            store_map_put(b->keys[k], it->key, (void *)1);
        else if (b)
            store_map_del(b->keys[k], it->key);
    }
    if (k == K_REQUESTS && present) {
        const api_request *r = obj_of(it);
        if (r && job_type(r->type))
            store_map_put(m->mine, rid, (void *)1);
        else if (r)
            store_map_del(m->mine, rid);
    }
    if (m->wq && k != K_HISTORY) /* our own archiving: nothing to react to */
        store_wq_add(m->wq, rid);
    free(rid);
}

static void on_add(void *arg, const store_item *it)
{
    ctl_jobs_manager *m = arg;
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
    ctl_jobs_manager *m = arg;
    kind k = key_kind(m, old->key);
    if (k < K__COUNT)
        index_item(m, k, old, false);
}

static void resync_item(void *arg, const store_item *it)
{
    ctl_jobs_manager *m = arg;
    char *rid;

    if (key_kind(m, it->key) != K_REQUESTS)
        return;
    if ((rid = key_rid(m, K_REQUESTS, it->key)))
        store_wq_add(m->wq, rid);
    free(rid);
}

static void resync_mine(const char *rid, void *value, void *arg)
{
    store_wq_add(arg, rid);
}

static void on_resync(void *arg, store_wq *wq)
{
    ctl_jobs_manager *m = arg;
    if (!m->inf || !store_informer_synced(m->inf))
        return;
    store_informer_foreach(m->inf, resync_item, m);
    store_map_foreach(m->mine, resync_mine, wq);
}

static void on_synced(void *arg)
{
    ctl_jobs_manager *m = arg;
    m->stats.synced = true;
    store_wq_pause(m->wq, false);
    on_resync(m, m->wq);
}

/* ---- writes ---------------------------------------------------------------------------- */

static void pass_unlink(ctl_jobs_manager *m, pass *p)
{
    for (pass **pp = &m->passes; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void pass_free(pass *p)
{
    free(p->rid);
    free(p);
}

static void pass_finish(pass *p)
{
    ctl_jobs_manager *m = p->m;

    pass_unlink(m, p);
    if (p->revision) {
        int64_t *w = store_map_get(m->waits, p->rid);
        if (!w) {
            w = xcalloc(1, sizeof(*w));
            store_map_put(m->waits, p->rid, w);
        }
        *w = p->revision;
    }
    store_wq_done(m->wq, p->rid);
    if (p->failed) {
        m->stats.errors++;
        store_wq_add_rate_limited(m->wq, p->rid);
    } else {
        store_wq_forget(m->wq, p->rid);
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
    ctl_jobs_manager *m = p->m;

    if (err) {
        cr_warn(m->log, "jobs: request '%s': write failed: %s", p->rid, cr_err_msg(err));
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

/* One fenced store_write per group. */
static void send_ops(ctl_jobs_manager *m, pass *p, const ctl_ops *ops)
{
    for (size_t i = 0; i < ops->n;) {
        size_t g = ops->v[i].group;
        store_txn *t = store_leader_txn(m->leader);
        cr_err err;

        if (!t) {
            p->failed = true;
            return;
        }
        for (; i < ops->n && ops->v[i].group == g; i++) {
            const ctl_op *op = &ops->v[i];
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
            cr_warn(m->log, "jobs: request '%s': %s", p->rid, cr_err_msg(&err));
            return;
        }
        m->stats.writes++;
    }
}

/* ---- one pass ---------------------------------------------------------------------------- */

typedef struct pass_in {
    ctl_jobs_request req;
    ctl_jobs_deploy *deploys;
    size_t n_deploys;
    ctl_jobs_task *tasks;
    size_t n_tasks;
    api_cleanup *cleanups; /* cleanupType borrowed per task record */
    ctl_jobs_run *runs;
    size_t n_runs;
    api_request_status status;
    bool has_status;
    api_deploy_status *dstatus;
    size_t n_dstatus;
    ctl_jobs_status job;
    bool has_job;
    int64_t job_rev;
    ctl_jobs_run_status *rstatus;
    size_t n_rstatus;
    json_t **docs; /* parsed raw documents the views borrow from */
    size_t n_docs;
    const char **history; /* archived task ids, oldest first */
    size_t n_history;
} pass_in;

static void pass_in_release(pass_in *in)
{
    free(in->deploys);
    free(in->tasks);
    free(in->cleanups);
    free(in->runs);
    api_request_status_release(&in->status);
    for (size_t i = 0; i < in->n_dstatus; i++)
        api_deploy_status_release(&in->dstatus[i]);
    free(in->dstatus);
    ctl_jobs_status_release(&in->job);
    for (size_t i = 0; i < in->n_rstatus; i++)
        ctl_jobs_run_status_release(&in->rstatus[i]);
    free(in->rstatus);
    for (size_t i = 0; i < in->n_docs; i++)
        json_decref(in->docs[i]);
    free(in->docs);
    free(in->history);
}

static int cmp_created(const void *a, const void *b)
{
    const store_item *x = *(const store_item *const *)a, *y = *(const store_item *const *)b;
    return x->create_revision < y->create_revision ? -1 : x->create_revision > y->create_revision;
}

static const store_item *item(const ctl_jobs_manager *m, const char *key)
{
    return store_informer_get(m->inf, key);
}

static json_t *item_json(const store_item *it)
{
    return it ? json_loadb(it->value, it->value_len, 0, NULL) : NULL;
}

/* The request's parsed schedule, re-parsed only when its inputs change. */
static const api_schedule *schedule_of(ctl_jobs_manager *m, const char *rid, const api_request *r,
                                       const char **error)
{
    sched_entry *e = store_map_get(m->scheds, rid);
    char *inputs;
    cr_err err = {0};

    *error = NULL;
    if (!r || r->type != API_SCHEDULED)
        return NULL;
    inputs = xasprintf("%s|%s|%d|%s", r->schedule ? r->schedule : "",
                       r->quartzSchedule ? r->quartzSchedule : "", (int)r->scheduleType,
                       r->scheduleTimeZone ? r->scheduleTimeZone : "");
    if (e && !strcmp(e->inputs, inputs)) {
        free(inputs);
        *error = e->error;
        return e->s;
    }
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        store_map_put(m->scheds, rid, e);
    }
    free(e->inputs);
    api_schedule_free(e->s);
    free(e->error);
    e->inputs = inputs;
    e->s = api_schedule_for_request(r, &err);
    e->error = e->s ? NULL : xstrdup(cr_err_msg(&err));
    *error = e->error;
    return e->s;
}

static void collect(ctl_jobs_manager *m, const char *rid, pass_in *in, const store_item *req_item)
{
    bucket *b = get_bucket(m, rid, false);
    const api_request *r = obj_of(req_item);
    const char **keys;
    size_t n;
    char *key;
    const store_item *it;
    const char *sched_error = NULL;
    const api_schedule *sched = schedule_of(m, rid, r, &sched_error);
    bool paused;

    key = xasprintf("%s/intents/requests/%s/pause", m->prefix, rid);
    paused = item(m, key) != NULL;
    free(key);
    if (req_item)
        ctl_jobs_request_view(r, req_item->decode_error, req_item->mod_revision, paused, sched,
                              sched_error, &in->req);

    key = api_request_status_key(m->prefix, rid);
    if ((it = item(m, key))) {
        api_problems probs = API_PROBLEMS_INIT;
        json_t *j = item_json(it);
        in->has_status = j && api_request_status_from_json(j, &in->status, NULL, &probs) == 0;
        if (!in->has_status)
            api_request_status_release(&in->status);
        json_decref(j);
        api_problems_release(&probs);
    }
    free(key);
    key = ctl_jobs_status_key(m->prefix, rid);
    if ((it = item(m, key))) {
        json_t *j = item_json(it);
        cr_err err;
        in->job_rev = it->mod_revision;
        in->has_job = j && ctl_jobs_status_from_json(j, &in->job, &err) == 0;
        if (!in->has_job) {
            /* Rebuilt from scratch; the compare still guards the rewrite. */
            cr_warn(m->log, "jobs: request '%s': job status unreadable, rebuilding", rid);
            ctl_jobs_status_release(&in->job);
        }
        json_decref(j);
    }
    free(key);
    if (!b)
        return;

    /* Deploys and their statuses. */
    keys = store_map_keys(b->keys[K_DEPLOYS], &n);
    in->deploys = xcalloc(n + 1, sizeof(*in->deploys));
    in->dstatus = xcalloc(n + 1, sizeof(*in->dstatus));
    for (size_t i = 0; i < n; i++) {
        ctl_jobs_deploy *d;
        if (!(it = item(m, keys[i])))
            continue;
        d = &in->deploys[in->n_deploys++];
        d->id = last_part(it->key);
        d->revision = it->create_revision;
        d->invalid = it->decode_error;
        key = api_deploy_status_key(m->prefix, rid, d->id);
        if ((it = item(m, key))) {
            api_problems probs = API_PROBLEMS_INIT;
            json_t *j = item_json(it);
            if (j && api_deploy_status_from_json(j, &in->dstatus[in->n_dstatus], NULL, &probs) == 0)
                in->n_dstatus++;
            else
                api_deploy_status_release(&in->dstatus[in->n_dstatus]);
            json_decref(j);
            api_problems_release(&probs);
        }
        free(key);
    }
    free(keys);

    /* Task records (with their kill intents) and pending tasks. */
    {
        size_t nt, np;
        const char **tkeys = store_map_keys(b->keys[K_TASKS], &nt);
        const char **pkeys = store_map_keys(b->keys[K_PENDING], &np);
        in->tasks = xcalloc(nt + np + 1, sizeof(*in->tasks));
        in->cleanups = xcalloc(nt + 1, sizeof(*in->cleanups));
        in->docs = xcalloc(nt + 1, sizeof(*in->docs));
        for (size_t i = 0; i < nt; i++) {
            const api_task *t = obj_of(item(m, tkeys[i]));
            const api_cleanup *c = NULL;
            if (!t)
                continue;
            key = api_cleanup_key(m->prefix, t->taskId.id);
            if ((it = item(m, key))) {
                json_t *j = item_json(it);
                in->cleanups[i].cleanupType =
                    (char *)json_string_value(json_object_get(j, "cleanupType"));
                if (j)
                    in->docs[in->n_docs++] = j; /* keeps cleanupType alive */
                c = &in->cleanups[i];
            }
            free(key);
            ctl_jobs_task_view(t, c, &in->tasks[in->n_tasks++]);
        }
        for (size_t i = 0; i < np; i++) {
            const api_pending_task *p = obj_of(item(m, pkeys[i]));
            if (p)
                ctl_jobs_pending_view(p, &in->tasks[in->n_tasks++]);
        }
        free(tkeys);
        free(pkeys);
    }

    /* History, oldest first. */
    keys = store_map_keys(b->keys[K_HISTORY], &n);
    {
        const store_item **items = xcalloc(n + 1, sizeof(*items));
        size_t hn = 0;
        for (size_t i = 0; i < n; i++)
            if ((items[hn] = item(m, keys[i])))
                hn++;
        qsort(items, hn, sizeof(*items), cmp_created);
        in->history = xcalloc(hn + 1, sizeof(*in->history));
        for (size_t i = 0; i < hn; i++)
            in->history[i] = last_part(items[i]->key);
        in->n_history = hn;
        free(items);
    }
    free(keys);

    /* Runs and run statuses. */
    keys = store_map_keys(b->keys[K_RUNS], &n);
    in->runs = xcalloc(n + 1, sizeof(*in->runs));
    for (size_t i = 0; i < n; i++) {
        it = item(m, keys[i]);
        if (!it)
            continue;
        if (!obj_of(it)) {
            cr_warn(m->log, "jobs: run '%s' ignored: %s", it->key,
                    it->decode_error ? it->decode_error : "unreadable");
            continue;
        }
        ctl_jobs_run_view(obj_of(it), last_part(it->key), it->create_revision,
                          &in->runs[in->n_runs++]);
    }
    free(keys);
    keys = store_map_keys(b->keys[K_RUNSTATUS], &n);
    in->rstatus = xcalloc(n + 1, sizeof(*in->rstatus));
    for (size_t i = 0; i < n; i++) {
        json_t *j = item_json(item(m, keys[i]));
        cr_err err;
        if (j && ctl_jobs_run_status_from_json(j, &in->rstatus[in->n_rstatus], &err) == 0)
            in->n_rstatus++;
        else
            ctl_jobs_run_status_release(&in->rstatus[in->n_rstatus]);
        json_decref(j);
    }
    free(keys);
}

static const char *lookup_task(void *arg, const char *task_id, int64_t *mod_revision)
{
    pass *p = arg;
    char *key = api_task_key(p->m->prefix, p->rid, task_id);
    const store_item *it = item(p->m, key);
    free(key);
    *mod_revision = it ? it->mod_revision : 0;
    return it ? it->value : NULL;
}

static void process(void *arg, store_wq *wq, const char *rid)
{
    ctl_jobs_manager *m = arg;
    pass_in in = {0};
    ctl_jobs_plan_out plan;
    ctl_ops ops = {0};
    cr_err err;
    const store_item *req_item;
    const api_request *req;
    int64_t *w, now;
    char *key;
    pass *p;

    if (!m->running || !store_informer_synced(m->inf)) {
        store_wq_done(wq, rid);
        return;
    }
    /* Read-your-writes: wait for our last writes to reach the cache. */
    if ((w = store_map_get(m->waits, rid))) {
        if (store_informer_revision(m->inf) < *w) {
            char *id = xstrdup(rid); /* done() frees the queue's copy */
            store_wq_done(wq, rid);
            store_wq_add_after(wq, id, 20);
            free(id);
            return;
        }
        free(store_map_del(m->waits, rid));
    }
    key = xasprintf("%s/requests/%s", m->prefix, rid);
    req_item = item(m, key);
    free(key);
    req = obj_of(req_item);
    /* Ours: a job request, or a deleted one last seen as a job. An
     * undecodable request is the service manager's to report. */
    if (req ? !job_type(req->type) : (req_item || !store_map_has(m->mine, rid))) {
        store_wq_forget(wq, rid);
        store_wq_done(wq, rid);
        return;
    }

    collect(m, rid, &in, req_item);
    now = cr_wall_ms();
    if (!req_item && !in.n_tasks && in.has_status && in.status.state == API_RSTATE_DELETED) {
        sched_entry *e = store_map_del(m->scheds, rid);
        if (e)
            free_sched(NULL, e, NULL);
        pass_in_release(&in);
        store_map_del(m->mine, rid);
        store_wq_forget(wq, rid);
        store_wq_done(wq, rid);
        return;
    }
    {
        ctl_jobs_in jin = {
            .request_id = rid,
            .request = req_item ? &in.req : NULL,
            .deploys = in.deploys,
            .n_deploys = in.n_deploys,
            .tasks = in.tasks,
            .n_tasks = in.n_tasks,
            .runs = in.runs,
            .n_runs = in.n_runs,
            .status = in.has_status ? &in.status : NULL,
            .deploy_status = in.dstatus,
            .n_deploy_status = in.n_dstatus,
            .job = in.has_job ? &in.job : NULL,
            .run_status = in.rstatus,
            .n_run_status = in.n_rstatus,
            .history = in.history,
            .n_history = in.n_history,
            .config = &m->plan_cfg,
            .now = now,
        };
        ctl_jobs_plan(&jin, &plan);
    }
    m->stats.passes++;

    p = xcalloc(1, sizeof(*p));
    p->m = m;
    p->rid = xstrdup(rid);
    p->requeue_ms = plan.requeue_after_ms;
    {
        ctl_doc_lookup look = {lookup_task, p};
        if (ctl_jobs_plan_ops(m->prefix, rid, &plan, &look, in.job_rev, now, &ops, &err) < 0) {
            cr_warn(m->log, "jobs: %s", cr_err_msg(&err));
            p->failed = true;
        }
    }
    for (size_t i = 0; i < plan.n_actions; i++) {
        char *line = ctl_jobs_action_format(&plan.actions[i]);
        cr_debug(m->log, "jobs: %s: %s", rid, line);
        free(line);
    }
    ctl_jobs_plan_release(&plan);
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

ctl_jobs_manager *ctl_jobs_manager_new(struct event_base *base, store *s, store_leader *leader,
                                       const ctl_jobs_manager_config *cfg, cr_err *err)
{
    const char *prefix = cfg && cfg->prefix ? cfg->prefix : "/corral";
    ctl_jobs_manager *m;

    if (!base || !s || !leader) {
        cr_error(err, CR_EINVAL, "jobs: base, store and leader are required");
        return NULL;
    }
    if (prefix[0] != '/' || prefix[strlen(prefix) - 1] == '/') {
        cr_error(err, CR_EINVAL, "jobs: prefix '%s' must start and not end with '/'", prefix);
        return NULL;
    }
    m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->store = s;
    m->leader = leader;
    m->prefix = xstrdup(prefix);
    if (cfg && cfg->plan)
        m->plan_cfg = *cfg->plan;
    m->max_inflight = cfg && cfg->max_inflight > 0 ? cfg->max_inflight : 64;
    m->resync_ms = cfg && cfg->resync_ms ? cfg->resync_ms : 60000;
    m->log = cfg ? cfg->log : NULL;
    return m;
}

int ctl_jobs_manager_start(ctl_jobs_manager *m, cr_err *err)
{
    static const store_informer_handlers h = {.decode = decode_any,
                                              .free_obj = free_any,
                                              .on_add = on_add,
                                              .on_update = on_update,
                                              .on_delete = on_delete,
                                              .on_synced = on_synced};
    store_wq_config qc;
    char *prefix;

    if (m->running)
        return 0;
    m->running = true;
    m->stats = (ctl_jobs_manager_stats){.running = true};
    m->buckets = store_map_new();
    m->mine = store_map_new();
    m->waits = store_map_new();
    m->scheds = store_map_new();
    qc = (store_wq_config){.max_inflight = m->max_inflight,
                           .resync_ms = m->resync_ms > 0 ? m->resync_ms : 0,
                           .name = "jobs"};
    m->wq = store_wq_new(m->base, &qc, process, on_resync, m);
    store_wq_pause(m->wq, true); /* until the informer has synced */
    prefix = xasprintf("%s/", m->prefix);
    m->inf = store_informer_new(m->store, prefix, &h, m);
    free(prefix);
    if (store_informer_start(m->inf, err) < 0) {
        ctl_jobs_manager_stop(m);
        return -1;
    }
    return 0;
}

void ctl_jobs_manager_stop(ctl_jobs_manager *m)
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
    store_map_foreach(m->buckets, free_bucket, NULL);
    store_map_free(m->buckets);
    store_map_free(m->mine);
    store_map_foreach(m->waits, free_wait, NULL);
    store_map_free(m->waits);
    store_map_foreach(m->scheds, free_sched, NULL);
    store_map_free(m->scheds);
    m->buckets = m->mine = m->waits = m->scheds = NULL;
    m->stats.running = false;
    m->stats.synced = false;
}

void ctl_jobs_manager_free(ctl_jobs_manager *m)
{
    if (!m)
        return;
    ctl_jobs_manager_stop(m);
    free(m->prefix);
    free(m);
}

void ctl_jobs_manager_get_stats(const ctl_jobs_manager *m, ctl_jobs_manager_stats *out)
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
}
