/* ctl_runner: queue -> reconcile -> fenced writes -> wait for own revision.
 * See runner.h. */
#include "controllers/runner.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/task.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "base/buf.h"
#include "apis/jtext.h"
#include "store/map.h"
#include "store/workqueue.h"

struct pass;

/* One store_write of a pass: one operation group and its hook. */
typedef struct wr {
    struct pass *p;
    ctl_then then;
    struct wr *next;
} wr;

/* How long a key waits for the revision of a failed compare: that is etcd's
 * revision when it answered, which may be another prefix's write that the
 * cache only passes at its next event of its own prefix (or a progress
 * notice, ten minutes apart by default). */
#define CONFLICT_WAIT_MS 1000

/* What a key's next pass waits for. */
typedef struct rev_wait {
    int64_t revision;
    int64_t until_ms; /* mono: plan anyway after (INT64_MAX: never) */
} rev_wait;

/* One key's writes in flight. */
typedef struct pass {
    ctl_runner *r;
    char *key;
    wr *writes; /* not yet answered */
    size_t outstanding;
    bool failed, conflict;
    int64_t revision;      /* highest revision a write landed at */
    int64_t conflict_rev;  /* highest revision a failed compare was read at */
    int64_t requeue_ms;
    struct pass *next;
} pass;

struct ctl_runner {
    struct event_base *base;
    store *s;
    store_cache *cache;     /* the process's, or own_cache while running */
    store_cache *own_cache; /* made at start when none was given */
    char *prefix;
    store_leader *leader;
    char *fence_key; /* without a leader: cfg's fence, or none */
    int64_t fence_rev;
    ctl_loop loop;
    void *arg;
    int max_inflight;
    int64_t resync_ms;
    cr_log *log;

    bool running, synced;
    store_wq *wq;
    store_map *waits; /* key -> (rev_wait *) revision the cache must reach first */
    store_map *relist_keys; /* keys held back until a re-list is all in */
    bool relist_waiting;    /* one cache wait for them is registered */
    pass *passes;
    ctl_runner_stats stats;
};

/* ---- cache subscription --------------------------------------------------------- */

static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    ctl_runner *r = arg;
    if (r->synced && r->loop.on_change)
        r->loop.on_change(r->arg, r, old, cur);
}

static void on_synced(void *arg)
{
    ctl_runner *r = arg;
    r->synced = true;
    r->stats.synced = true;
    store_wq_pause(r->wq, false);
    if (r->loop.resync)
        r->loop.resync(r->arg, r);
}

static void on_resync(void *arg, store_wq *wq)
{
    ctl_runner *r = arg;
    if (r->synced && r->loop.resync)
        r->loop.resync(r->arg, r);
}

/* The cache caught up with a key's writes: pass it again. */
static void on_caught_up(void *arg, const char *key)
{
    ctl_runner *r = arg;
    if (r->wq)
        store_wq_add(r->wq, key);
}

/* A re-list is all in: pass the keys it held back. */
static void on_relisted(void *arg, const char *tag)
{
    ctl_runner *r = arg;
    size_t n;
    const char **keys = store_map_keys(r->relist_keys, &n);
    store_map *held = r->relist_keys;

    r->relist_waiting = false;
    r->relist_keys = store_map_new();
    for (size_t i = 0; i < n; i++)
        if (r->wq)
            store_wq_add(r->wq, keys[i]);
    free(keys);
    store_map_free(held);
}

/* ---- writes ------------------------------------------------------------------------ */

/* Frees the pass; hooks of writes never answered are dropped. */
static void pass_free(pass *p)
{
    while (p->writes) {
        wr *w = p->writes;
        p->writes = w->next;
        store_cancel(p->r->s, w);
        if (w->then.drop)
            w->then.drop(w->then.arg);
        free(w);
    }
    free(p->key);
    free(p);
}

static void wr_unlink(pass *p, wr *w)
{
    for (wr **pp = &p->writes; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

static void pass_unlink(ctl_runner *r, pass *p)
{
    for (pass **pp = &r->passes; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* Every write of the pass is answered: decide what comes next. */
static void pass_finish(pass *p)
{
    ctl_runner *r = p->r;
    pass_unlink(r, p);
    if (p->revision || p->conflict_rev) {
        rev_wait *w = store_map_get(r->waits, p->key);
        if (!w) {
            w = xmalloc(sizeof(*w));
            store_map_put(r->waits, p->key, w);
        }
        /* its own writes the cache always sees; a compare's revision maybe
         * not soon (CONFLICT_WAIT_MS) */
        if (p->conflict_rev > p->revision)
            *w = (rev_wait){p->conflict_rev, cr_mono_ms() + CONFLICT_WAIT_MS};
        else
            *w = (rev_wait){p->revision, INT64_MAX};
    }
    if (p->failed) {
        r->stats.errors++;
        store_wq_done(r->wq, p->key);
        store_wq_add_rate_limited(r->wq, p->key);
    } else {
        store_wq_forget(r->wq, p->key);
        store_wq_done(r->wq, p->key);
        if (p->conflict)
            store_wq_add(r->wq, p->key);
        else if (p->requeue_ms > 0)
            store_wq_add_after(r->wq, p->key, p->requeue_ms);
    }
    pass_free(p);
}

static void on_written(void *arg, const store_result *res, const cr_err *err)
{
    wr *w = arg;
    pass *p = w->p;
    ctl_runner *r = p->r;

    wr_unlink(p, w);
    if (w->then.written)
        w->then.written(w->then.arg, err ? NULL : res, err);
    free(w);
    if (err) {
        if (err->code == CR_ENOTLEADER)
            cr_warn(r->log, "%s: write refused, not the leader: %s", r->loop.name,
                    cr_err_msg(err));
        else
            cr_warn(r->log, "%s: '%s': write failed: %s", r->loop.name, p->key, cr_err_msg(err));
        p->failed = true;
    } else {
        if (!res->succeeded) {
            p->conflict = true;
            r->stats.conflicts++;
            if (res->revision > p->conflict_rev)
                p->conflict_rev = res->revision;
        } else if (res->revision > p->revision) {
            p->revision = res->revision;
        }
    }
    if (--p->outstanding == 0)
        pass_finish(p);
}

/* A txn fenced by the leadership (or the configured fence); NULL when this
 * replica does not lead. */
static store_txn *txn_new(ctl_runner *r)
{
    store_txn *t;

    if (r->leader)
        return store_leader_txn(r->leader);
    t = store_txn_new();
    if (r->fence_key)
        store_txn_fence(t, r->fence_key, r->fence_rev);
    return t;
}

/* Moves group's hook out of ops (a no-op hook if it has none). */
static ctl_then take_then(ctl_ops *ops, size_t group)
{
    ctl_then t = {0};

    for (size_t i = 0; i < ops->n_then; i++)
        if (ops->then[i].group == group && (ops->then[i].then.written || ops->then[i].then.drop)) {
            t = ops->then[i].then;
            ops->then[i].then = (ctl_then){0};
            break;
        }
    return t;
}

static void add_ops(store_txn *t, const ctl_op *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ctl_op *op = &v[i];
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
}

/* One fenced store_write per operation group; the store batches them. A
 * group that cannot be sent (too large, say) fails alone and tells its
 * hook; without leadership no group is sent, and each hook hears why. */
static void send_ops(ctl_runner *r, pass *p, ctl_ops *ops)
{
    cr_err lead;
    bool leading = true;

    for (size_t i = 0; i < ops->n;) {
        size_t g = ops->v[i].group, from = i;
        ctl_then then = take_then(ops, g);
        store_txn *t = NULL;
        cr_err err;
        wr *w;

        while (i < ops->n && ops->v[i].group == g)
            i++;
        if (leading && !(t = txn_new(r))) {
            cr_error(&lead, CR_ENOTLEADER, "%s: not the leader", r->loop.name);
            leading = false;
        }
        if (!leading) {
            p->failed = true;
            if (then.written)
                then.written(then.arg, NULL, &lead);
            continue;
        }
        add_ops(t, ops->v + from, i - from);
        w = xcalloc(1, sizeof(*w));
        w->p = p;
        w->then = then;
        w->next = p->writes;
        p->writes = w;
        p->outstanding++;
        if (store_write(r->s, t, on_written, w, &err) < 0) {
            p->outstanding--;
            p->writes = w->next;
            free(w);
            p->failed = true;
            cr_warn(r->log, "%s: '%s': %s", r->loop.name, p->key, cr_err_msg(&err));
            if (then.written)
                then.written(then.arg, NULL, &err);
            continue;
        }
        r->stats.writes++;
    }
}

/* ---- one pass ----------------------------------------------------------------------- */

static void process_key(ctl_runner *r, store_wq *wq, const char *key)
{
    ctl_ops ops = {0};
    int64_t requeue_ms = 0;
    cr_err err;
    ctl_pass verdict;

    if (!r->running || !r->synced) {
        store_wq_done(wq, key);
        return;
    }
    /* Never plan from part of a re-list: hold the key until all of it is
     * in (one cache wait for every key held). */
    int64_t relist = store_cache_relisting(r->cache);
    if (relist > store_cache_revision(r->cache)) {
        r->stats.relist_waits++;
        store_map_put(r->relist_keys, key, NULL);
        if (!r->relist_waiting) {
            r->relist_waiting = true;
            store_cache_wait(r->cache, relist, on_relisted, r, "");
        }
        store_wq_done(wq, key);
        return;
    }
    /* Read-your-writes: never plan from a cache older than our own writes
     * (nor, for a while, than what a failed compare was read at). */
    rev_wait *w = store_map_get(r->waits, key);
    if (w) {
        int64_t now_ms = cr_mono_ms();
        if (store_cache_revision(r->cache) < w->revision && now_ms < w->until_ms) {
            r->stats.waits++;
            store_cache_cancel_waits(r->cache, r, key);
            store_cache_wait(r->cache, w->revision, on_caught_up, r, key);
            store_wq_done(wq, key);
            if (w->until_ms != INT64_MAX)
                store_wq_add_after(wq, key, w->until_ms - now_ms);
            return;
        }
        store_cache_cancel_waits(r->cache, r, key);
        free(store_map_del(r->waits, key));
    }

    cr_err_clear(&err);
    verdict = r->loop.reconcile(r->arg, r, key, cr_wall_ms(), &ops, &requeue_ms, &err);
    r->stats.passes++;
    if (verdict == CTL_PASS_FORGET) {
        ctl_ops_release(&ops);
        store_wq_forget(wq, key);
        store_wq_done(wq, key);
        return;
    }
    pass *p = xcalloc(1, sizeof(*p));
    p->r = r;
    p->key = xstrdup(key);
    p->requeue_ms = requeue_ms;
    p->next = r->passes;
    r->passes = p;
    if (verdict == CTL_PASS_ERROR) {
        cr_warn(r->log, "%s: '%s': %s", r->loop.name, key, cr_err_msg(&err));
        p->failed = true;
    } else {
        send_ops(r, p, &ops);
    }
    ctl_ops_release(&ops);
    if (p->outstanding == 0)
        pass_finish(p);
}

/* The queue frees its key at done(): work on a copy. */
static void process(void *arg, store_wq *wq, const char *key)
{
    char *k = xstrdup(key);
    process_key(arg, wq, k);
    free(k);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

ctl_runner *ctl_runner_new(struct event_base *base, store *s, store_cache *cache,
                           store_leader *leader, const ctl_loop *loop, void *loop_arg,
                           const ctl_runner_config *cfg)
{
    ctl_runner *r = xcalloc(1, sizeof(*r));
    r->base = base;
    r->s = s;
    r->cache = cache;
    r->prefix = cfg && cfg->prefix ? xstrdup(cfg->prefix) : NULL;
    r->leader = leader;
    r->loop = *loop;
    r->arg = loop_arg;
    r->max_inflight = cfg && cfg->max_inflight > 0 ? cfg->max_inflight : 64;
    r->resync_ms = cfg && cfg->resync_ms ? cfg->resync_ms : 60000;
    r->log = cfg ? cfg->log : NULL;
    if (!leader && cfg && cfg->fence_key && *cfg->fence_key) {
        r->fence_key = xstrdup(cfg->fence_key);
        r->fence_rev = cfg->fence_rev;
    }
    return r;
}

int ctl_runner_start(ctl_runner *r, cr_err *err)
{
    store_cache_handlers h = {.on_change = on_change, .on_synced = on_synced};
    if (r->running)
        return 0;
    if (!r->cache) {
        store_cache_config cc = {.prefix = r->prefix, .log = r->log};
        r->own_cache = store_cache_new(r->base, r->s, &cc);
        if (store_cache_start(r->own_cache, err) < 0) {
            store_cache_free(r->own_cache);
            r->own_cache = NULL;
            return -1;
        }
        r->cache = r->own_cache;
    }
    r->running = true;
    r->synced = false;
    r->stats = (ctl_runner_stats){.running = true};
    r->waits = store_map_new();
    r->relist_keys = store_map_new();
    r->relist_waiting = false;
    store_wq_config qc = {.max_inflight = r->max_inflight,
                          .resync_ms = r->resync_ms > 0 ? r->resync_ms : 0,
                          .name = r->loop.name};
    r->wq = store_wq_new(r->base, &qc, process, on_resync, r);
    store_wq_pause(r->wq, true); /* until the cache has synced */
    store_cache_subscribe(r->cache, &h, r);
    if (r->loop.on_start)
        r->loop.on_start(r->arg, r);
    if (store_cache_synced(r->cache))
        on_synced(r);
    return 0;
}

static void free_wait(const char *key, void *value, void *arg)
{
    free(value);
}

void ctl_runner_stop(ctl_runner *r)
{
    if (!r || !r->running)
        return;
    r->running = false;
    store_cache_unsubscribe(r->cache, r);
    while (r->passes) {
        pass *p = r->passes;
        r->passes = p->next;
        pass_free(p);
    }
    if (r->loop.on_stop)
        r->loop.on_stop(r->arg, r);
    store_wq_free(r->wq);
    r->wq = NULL;
    store_map_foreach(r->waits, free_wait, NULL);
    store_map_free(r->waits);
    r->waits = NULL;
    store_map_free(r->relist_keys);
    r->relist_keys = NULL;
    r->relist_waiting = false;
    r->synced = false;
    r->stats.running = false;
    r->stats.synced = false;
    if (r->own_cache) {
        store_cache_free(r->own_cache);
        r->own_cache = r->cache = NULL;
    }
}

void ctl_runner_free(ctl_runner *r)
{
    if (!r)
        return;
    ctl_runner_stop(r);
    free(r->prefix);
    free(r->fence_key);
    free(r);
}

void ctl_runner_enqueue(ctl_runner *r, const char *key)
{
    if (r->running && r->wq && key)
        store_wq_add(r->wq, key);
}

store_cache *ctl_runner_cache(const ctl_runner *r)
{
    return r->cache;
}

bool ctl_runner_running(const ctl_runner *r)
{
    return r->running;
}

void ctl_runner_get_stats(const ctl_runner *r, ctl_runner_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    *out = r->stats;
    if (r->wq) {
        store_wq_stats q;
        store_wq_get_stats(r->wq, &q);
        out->queue_depth = q.depth;
        out->queue_processing = q.processing;
        out->queue_delayed = q.delayed;
        out->reconcile_latency = q.latency;
    }
}

/* ---- helpers for loops keyed by request id ------------------------------------------ */

const char *ctl_obj_request_id(const store_obj *o, char **owned)
{
    *owned = NULL;
    switch (o->kind) {
    case API_KEY_CLEANUP: {
        api_task_id id;
        if (api_task_id_parse(o->id1, &id, NULL) == 0) {
            *owned = xstrdup(id.requestId);
            api_task_id_release(&id);
        }
        return *owned;
    }
    case API_KEY_REQUEST:
    case API_KEY_DEPLOY:
    case API_KEY_REQUEST_STATUS:
    case API_KEY_DEPLOY_STATUS:
    case API_KEY_JOB_STATUS:
    case API_KEY_RUN_STATUS:
    case API_KEY_PENDING_STATUS:
    case API_KEY_TASK:
    case API_KEY_PENDING:
    case API_KEY_RUN:
    case API_KEY_INTENT_REQUEST:
    case API_KEY_INTENT_DEPLOY:
    case API_KEY_LB_STATUS:
    case API_KEY_LB_CLEANUP:
        return o->id1;
    default:
        return NULL; /* history: the loops' own archiving, nothing to react to */
    }
}

void ctl_runner_enqueue_kind(ctl_runner *r, const char *prefix, api_key_kind kind)
{
    char *kp = api_key_kind_prefix(prefix, kind, NULL);
    size_t first, n = store_cache_range(r->cache, kp, &first);
    const char *last = NULL;
    for (size_t i = first; i < first + n; i++) {
        const store_obj *o = store_cache_at(r->cache, i);
        if (o->id1 && (!last || strcmp(last, o->id1) != 0))
            ctl_runner_enqueue(r, o->id1);
        last = o->id1;
    }
    free(kp);
}

size_t ctl_runner_range(const ctl_runner *r, const char *prefix, api_key_kind kind,
                        const char *request_id, size_t *first)
{
    char *kp = api_key_kind_prefix(prefix, kind, request_id);
    size_t n = store_cache_range(r->cache, kp, first);
    free(kp);
    return n;
}

static int cmp_created(const void *a, const void *b)
{
    const store_obj *x = *(const store_obj *const *)a, *y = *(const store_obj *const *)b;
    return x->create_revision < y->create_revision ? -1 : x->create_revision > y->create_revision;
}

const char **ctl_runner_history(const ctl_runner *r, const char *prefix, const char *request_id,
                                size_t *n)
{
    size_t first;
    *n = ctl_runner_range(r, prefix, API_KEY_HISTORY_TASK, request_id, &first);
    const store_obj **items = xcalloc(*n + 1, sizeof(*items));
    for (size_t i = 0; i < *n; i++)
        items[i] = store_cache_at(r->cache, first + i);
    qsort(items, *n, sizeof(*items), cmp_created);
    const char **ids = xcalloc(*n + 1, sizeof(*ids));
    for (size_t i = 0; i < *n; i++)
        ids[i] = items[i]->id2;
    free(items);
    return ids;
}

/* Documents listed in full in a condition; the rest are counted. */
#define IGNORED_LISTED 5

bool ctl_ignored_add(ctl_ignored *ig, const store_obj *o)
{
    const char *why, *nl;
    size_t more = 0;

    if (!o || !o->error)
        return false;
    if (ig->n++ >= IGNORED_LISTED)
        return true;
    /* The first problem of the document, and how many others it has. */
    why = o->error;
    nl = strchr(why, '\n');
    for (const char *p = nl; p && p[1]; p = strchr(p + 1, '\n'))
        more++;
    if (ig->text.len)
        cr_buf_adds(&ig->text, "; ");
    cr_buf_addf(&ig->text, "%s: %.*s", o->key, (int)(nl ? (size_t)(nl - why) : strlen(why)), why);
    if (more)
        cr_buf_addf(&ig->text, " (and %zu more problem%s)", more, more == 1 ? "" : "s");
    return true;
}

void ctl_ignored_collect(ctl_ignored *ig, const ctl_runner *r, const char *prefix,
                         const char *request_id)
{
    static const api_key_kind kinds[] = {
        API_KEY_INTENT_REQUEST, API_KEY_INTENT_DEPLOY, API_KEY_RUN,
        API_KEY_TASK,           API_KEY_PENDING,       API_KEY_PENDING_STATUS};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t first, n = ctl_runner_range(r, prefix, kinds[k], request_id, &first);
        for (size_t i = first; i < first + n; i++)
            ctl_ignored_add(ig, store_cache_at(r->cache, i));
    }
}

const char *ctl_ignored_message(ctl_ignored *ig)
{
    if (!ig->n)
        return NULL;
    if (!ig->message) {
        cr_buf b = CR_BUF_INIT;
        cr_buf_addf(&b, "%zu invalid document%s ignored: %s", ig->n, ig->n == 1 ? "" : "s",
                    cr_buf_str(&ig->text));
        if (ig->n > IGNORED_LISTED)
            cr_buf_addf(&b, "; and %zu more", ig->n - IGNORED_LISTED);
        ig->message = cr_buf_detach(&b, NULL);
    }
    return ig->message;
}

void ctl_ignored_release(ctl_ignored *ig)
{
    cr_buf_release(&ig->text);
    free(ig->message);
    *ig = (ctl_ignored)CTL_IGNORED_INIT;
}

/* The record's text as json_dumps(<its value>, JSON_COMPACT) writes it,
 * which is what the bridge stored: its own bytes, walked once rather than
 * parsed and dumped again (a record written otherwise, by hand, is archived
 * in that form, as before). NULL unless the value is an object or array. */
static const char *lookup_task(void *arg, const char *task_id, int64_t *mod_revision)
{
    ctl_task_lookup *l = arg;
    char *key = api_key_task(l->prefix, l->request_id, task_id);
    const store_obj *o = store_cache_get(l->r->cache, key);
    char *owned = NULL;
    size_t len = 0;
    const char *text = o ? store_obj_plain_text(o, &len, &owned) : NULL;
    api_jspan v = api_jtext_span(text, len);
    cr_buf b = CR_BUF_INIT;

    free(key);
    *mod_revision = o ? o->mod_revision : 0;
    if (api_jtext_type(v) != '{' && api_jtext_type(v) != '[') {
        free(owned);
        return NULL;
    }
    api_jtext_dump(v, JSON_COMPACT, &b);
    free(owned);
    l->texts = xrealloc(l->texts, (l->n_texts + 1) * sizeof(*l->texts));
    return l->texts[l->n_texts++] = cr_buf_detach(&b, NULL);
}

static int64_t lookup_revision(void *arg, const char *key)
{
    const store_obj *o = store_cache_get(((ctl_task_lookup *)arg)->r->cache, key);
    return o ? o->mod_revision : 0;
}

ctl_doc_lookup ctl_task_lookup_init(ctl_task_lookup *l, const ctl_runner *r, const char *prefix,
                                    const char *request_id)
{
    *l = (ctl_task_lookup){.r = r, .prefix = prefix, .request_id = request_id};
    return (ctl_doc_lookup){.task = lookup_task, .arg = l, .revision = lookup_revision};
}

void ctl_task_lookup_release(ctl_task_lookup *l)
{
    for (size_t i = 0; i < l->n_texts; i++)
        free(l->texts[i]);
    free(l->texts);
    l->texts = NULL;
    l->n_texts = 0;
}

int ctl_loop_prefix(const char *who, const char *prefix, const char **out, cr_err *err)
{
    *out = prefix ? prefix : API_DEFAULT_PREFIX;
    if ((*out)[0] != '/' || (*out)[strlen(*out) - 1] == '/')
        return cr_error(err, CR_EINVAL, "%s: prefix '%s' must start and not end with '/'", who,
                        *out);
    return 0;
}
