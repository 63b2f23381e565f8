/* as_index: counts kept from the change feed. See as_index.h. */
#include "apiserver/as_index.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apis/task.h"
#include "apiserver/as_model.h"
#include "base/xalloc.h"
#include "store/map.h"

/* The objects counted under one name, and the least of their keys. */
typedef struct bucket {
    char *name;
    long n;
    /* min_ok: the least key counted here; else a bound every key counted
     * here is at or above (the least key, which went) */
    char *min;
    bool min_ok;
} bucket;

typedef struct bset {
    bucket *v;
    size_t len, cap;
} bset;

/* One request's contribution, as last worked out. */
typedef struct reqf {
    bool counted;        /* the request object is there and counted */
    bool dirty;          /* in the dirty list */
    char *key;           /* its key (counted) */
    char *state;         /* its RequestState (counted) */
    bool pending_deploy; /* it has an unfinished deploy (counted) */
} reqf;

/* What the index is doing: counting the task records, then the requests,
 * from a cursor (a key: what is below it is counted and follows the feed,
 * what is at or above it is not counted yet), or ready. */
typedef enum { B_TASKS, B_REQUESTS, B_READY } build_phase;

/* The kinds whose keys as_m_request_state and as_m_pending_deploy_id read,
 * all named <kind>/<requestId>[/...]. */
static const api_key_kind fact_kinds[] = {API_KEY_REQUEST,        API_KEY_REQUEST_STATUS,
                                          API_KEY_DEPLOY,         API_KEY_DEPLOY_STATUS,
                                          API_KEY_INTENT_REQUEST, API_KEY_INTENT_DEPLOY};
#define N_FACT_KINDS (sizeof(fact_kinds) / sizeof(fact_kinds[0]))

struct as_index {
    as_cache *c;
    char *task_prefix, *req_prefix;
    size_t task_plen;
    char *fact_prefix[N_FACT_KINDS];
    build_phase ph;
    char *cursor;     /* the next key to count (ph < B_READY) */
    bool synced_once; /* the cache told of its first complete list */
    bool broken;      /* out of step (a change of what it never counted) */
    size_t told;      /* objects in the cache, as the feed told of them */
    bset tasks, reqs;
    long active, launching, pending_deploys;
    store_map *by_rid; /* request id -> reqf */
    char **dirty;      /* request ids marked since the last read */
    size_t ndirty, dirty_cap;
    cr_buf s1, s2; /* the old and new state of a task record */
    as_index_stats st;
};

/* ---- names and their least keys ---------------------------------------------------- */

static bucket *bset_find(const bset *s, const char *name)
{
    for (size_t i = 0; i < s->len; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

static void bset_add(bset *s, const char *name, const char *key)
{
    bucket *b = bset_find(s, name);

    if (!b) {
        if (s->len == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
        }
        b = &s->v[s->len++];
        *b = (bucket){.name = xstrdup(name), .n = 1, .min = xstrdup(key), .min_ok = true};
        return;
    }
    b->n++;
    /* below the least key, or below the bound when the least is unknown:
     * either way the new least */
    if (strcmp(key, b->min) < 0) {
        free(b->min);
        b->min = xstrdup(key);
        b->min_ok = true;
    }
}

/* false when name counts nothing (the index is out of step). */
static bool bset_remove(bset *s, const char *name, const char *key)
{
    bucket *b = bset_find(s, name);

    if (!b)
        return false;
    if (--b->n == 0) {
        free(b->name);
        free(b->min);
        *b = s->v[--s->len];
        return true;
    }
    if (b->min_ok && strcmp(key, b->min) == 0)
        b->min_ok = false; /* the bound: the rest are above it */
    return true;
}

static void bset_clear(bset *s)
{
    for (size_t i = 0; i < s->len; i++) {
        free(s->v[i].name);
        free(s->v[i].min);
    }
    s->len = 0;
}

static void bset_release(bset *s)
{
    bset_clear(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
}

static int by_min(const void *a, const void *b)
{
    return strcmp(((const bucket *)a)->min, ((const bucket *)b)->min);
}

/* The first AS_INDEX_MAX_NAMES names in order of their least key (every
 * one known). */
static size_t bset_emit(bset *s, as_index_count *out)
{
    size_t n = 0;

    if (s->len > 1) /* v is NULL while empty: not for qsort */
        qsort(s->v, s->len, sizeof(*s->v), by_min);
    for (size_t i = 0; i < s->len && n < AS_INDEX_MAX_NAMES; i++)
        out[n++] = (as_index_count){s->v[i].name, s->v[i].n};
    return n;
}

/* ---- task records -------------------------------------------------------------------- */

const char *as_index_task_state(const as_entry *e, bool *active, cr_buf *scratch)
{
    const api_task *d = e->kind == API_KEY_TASK && !e->error ? e->doc : NULL;
    as_task t;
    bool has;

    if (d) {
        *active = !api_task_state_terminal(d->lastTaskState);
        return api_task_state_name(d->lastTaskState);
    }
    as_task_open(&t, e);
    *active = as_task_active(&t);
    has = t.state != NULL;
    cr_buf_reset(scratch);
    if (has)
        cr_buf_adds(scratch, t.state);
    as_task_close(&t);
    return has ? cr_buf_str(scratch) : NULL;
}

/* The name /metrics counts a record under. */
static const char *task_name(const as_entry *e, bool *active, cr_buf *scratch)
{
    const char *st = as_index_task_state(e, active, scratch);
    return st ? st : "TASK_LAUNCHED";
}

static bool launching(bool active, const char *name)
{
    return active && (strcmp(name, "TASK_LAUNCHED") == 0 || strcmp(name, "TASK_STAGING") == 0 ||
                      strcmp(name, "TASK_STARTING") == 0);
}

static void task_add(as_index *ix, const as_entry *e, const char *name, bool active)
{
    bset_add(&ix->tasks, name, e->key);
    ix->active += active;
    ix->launching += launching(active, name);
}

static void task_change(as_index *ix, const store_obj *old, const store_obj *cur)
{
    bool oa = false, na = false;
    const char *on = old ? task_name(old, &oa, &ix->s1) : NULL;
    const char *nn = cur ? task_name(cur, &na, &ix->s2) : NULL;

    if (on && nn && oa == na && strcmp(on, nn) == 0)
        return; /* the same key, counted the same */
    if (on) {
        if (!bset_remove(&ix->tasks, on, old->key))
            ix->broken = true; /* out of step: counted again */
        ix->active -= oa;
        ix->launching -= launching(oa, on);
    }
    if (nn)
        task_add(ix, cur, nn, na);
}

/* ---- requests -------------------------------------------------------------------------- */

static void reqf_free(reqf *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->state);
    free(r);
}

static void mark(as_index *ix, const char *rid)
{
    reqf *r = store_map_get(ix->by_rid, rid);

    if (!r) {
        r = xcalloc(1, sizeof(*r));
        store_map_put(ix->by_rid, rid, r);
    }
    if (r->dirty)
        return;
    r->dirty = true;
    if (ix->ndirty == ix->dirty_cap) {
        ix->dirty_cap = ix->dirty_cap ? 2 * ix->dirty_cap : 64;
        ix->dirty = xrealloc(ix->dirty, ix->dirty_cap * sizeof(*ix->dirty));
    }
    ix->dirty[ix->ndirty++] = xstrdup(rid);
}

static void clear_dirty(as_index *ix)
{
    for (size_t i = 0; i < ix->ndirty; i++)
        free(ix->dirty[i]);
    ix->ndirty = 0;
}

/* Whether e is a request object /metrics counts (the walk's test). */
static bool counted_request(const as_entry *e)
{
    return e && e->kind == API_KEY_REQUEST && e->id1 && as_m_entry_object(e);
}

/* Works request rid's facts out again from c: takes its old contribution
 * out and puts the new one in. */
static void refresh(as_index *ix, const as_api_config *cfg, const as_cache *c, const char *rid)
{
    reqf *r = store_map_get(ix->by_rid, rid);
    char *key = api_key_request(cfg->prefix, rid);
    const as_entry *e = key ? as_cache_get(c, key) : NULL;
    const char *st = NULL;
    bool pd = false;

    free(key);
    if (!r)
        return;
    r->dirty = false;
    ix->st.refreshes++;
    if (counted_request(e) && strcmp(e->id1, rid) == 0) {
        st = as_m_request_state(cfg, c, rid);
        pd = as_m_pending_deploy_id(cfg, c, rid) != NULL;
        if (r->counted && strcmp(r->key, e->key) == 0 && strcmp(r->state, st) == 0 &&
            r->pending_deploy == pd)
            return;
    }
    if (r->counted) {
        if (!bset_remove(&ix->reqs, r->state, r->key))
            ix->broken = true; /* out of step: counted again */
        ix->pending_deploys -= r->pending_deploy;
        free(r->key);
        free(r->state);
        r->key = r->state = NULL;
        r->counted = false;
    }
    if (!st) {
        reqf_free(store_map_del(ix->by_rid, rid));
        return;
    }
    r->counted = true;
    r->key = xstrdup(e->key);
    r->state = xstrdup(st);
    r->pending_deploy = pd;
    bset_add(&ix->reqs, st, e->key);
    ix->pending_deploys += pd;
}

static void free_reqf(const char *key, void *value, void *arg)
{
    reqf_free(value);
}

/* Forgets everything and starts counting from the first task record. */
static void start_build(as_index *ix)
{
    ix->st.rebuilds++;
    bset_clear(&ix->tasks);
    ix->active = ix->launching = 0;
    store_map_foreach(ix->by_rid, free_reqf, NULL);
    store_map_free(ix->by_rid);
    ix->by_rid = store_map_new();
    bset_clear(&ix->reqs);
    ix->pending_deploys = 0;
    clear_dirty(ix);
    free(ix->cursor);
    ix->cursor = xstrdup(ix->task_prefix);
    ix->ph = B_TASKS;
    ix->told = as_cache_count(ix->c);
    ix->broken = false;
}

/* ---- the feed ---------------------------------------------------------------------------- */

static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    as_index *ix = arg;
    const store_obj *o = cur ? cur : old;

    ix->told += !old;
    ix->told -= !cur;
    if (strncmp(o->key, ix->task_prefix, ix->task_plen) == 0) {
        /* a record the build has not reached is counted when it is */
        if (ix->ph != B_TASKS || strcmp(o->key, ix->cursor) < 0)
            task_change(ix, old, cur);
        return;
    }
    /* A key read for request R is <kind>/R[/...]: R is worked out again
     * (a request the build has not reached is marked too, and the build
     * leaves it to the dirty list). */
    for (size_t k = 0; k < N_FACT_KINDS; k++) {
        size_t n = strlen(ix->fact_prefix[k]);
        if (strncmp(o->key, ix->fact_prefix[k], n) == 0) {
            const char *rid = o->key + n, *slash = strchr(rid, '/');
            char *owned = slash ? xstrndup(rid, (size_t)(slash - rid)) : NULL;
            if (*rid && rid != slash)
                mark(ix, owned ? owned : rid);
            free(owned);
            return;
        }
    }
}

/* The first list fills the cache without telling anyone (and a first load
 * that failed part way was emptied without telling): count it all then.
 * A re-list after a compaction tells every difference, one by one. */
static void on_synced(void *arg)
{
    as_index *ix = arg;

    if (!ix->synced_once)
        start_build(ix);
    ix->synced_once = true;
}

as_index *as_index_new(as_cache *c, const char *prefix)
{
    as_index *ix = xcalloc(1, sizeof(*ix));
    store_cache_handlers h = {.on_change = on_change, .on_synced = on_synced};

    ix->c = c;
    ix->task_prefix = api_key_kind_prefix(prefix, API_KEY_TASK, NULL);
    ix->req_prefix = api_key_kind_prefix(prefix, API_KEY_REQUEST, NULL);
    ix->task_plen = strlen(ix->task_prefix);
    for (size_t k = 0; k < N_FACT_KINDS; k++)
        ix->fact_prefix[k] = api_key_kind_prefix(prefix, fact_kinds[k], NULL);
    ix->by_rid = store_map_new();
    cr_buf_init(&ix->s1);
    cr_buf_init(&ix->s2);
    start_build(ix); /* the cache may hold what nobody told */
    ix->st.rebuilds = 0;
    store_cache_subscribe(c, &h, ix);
    return ix;
}

void as_index_free(as_index *ix)
{
    if (!ix)
        return;
    store_cache_unsubscribe(ix->c, ix);
    store_map_foreach(ix->by_rid, free_reqf, NULL);
    store_map_free(ix->by_rid);
    clear_dirty(ix);
    free(ix->dirty);
    bset_release(&ix->tasks);
    bset_release(&ix->reqs);
    cr_buf_release(&ix->s1);
    cr_buf_release(&ix->s2);
    for (size_t k = 0; k < N_FACT_KINDS; k++)
        free(ix->fact_prefix[k]);
    free(ix->task_prefix);
    free(ix->req_prefix);
    free(ix->cursor);
    free(ix);
}

/* ---- the build ------------------------------------------------------------------------------ */

/* Works out the requests marked since the last time (ready only; the
 * build worked out those it reached). */
static void refresh_dirty(as_index *ix, const as_api_config *cfg, const as_cache *c)
{
    for (size_t i = 0; i < ix->ndirty; i++) {
        const reqf *r = store_map_get(ix->by_rid, ix->dirty[i]);
        if (r && r->dirty)
            refresh(ix, cfg, c, ix->dirty[i]);
    }
    clear_dirty(ix);
}

bool as_index_step(as_index *ix, const as_api_config *cfg, const as_cache *c, size_t max_keys)
{
    if (ix->broken || (ix->ph == B_READY && ix->told != as_cache_count(c)))
        start_build(ix);
    while (ix->ph != B_READY && max_keys > 0) {
        const char *prefix = ix->ph == B_TASKS ? ix->task_prefix : ix->req_prefix;
        size_t plen = strlen(prefix), i;
        const as_entry *e, *last = NULL;

        as_cache_range(c, ix->cursor, &i);
        for (; max_keys > 0 && (e = as_cache_at(c, i)) && strncmp(e->key, prefix, plen) == 0;
             i++, max_keys--) {
            last = e;
            if (ix->ph == B_TASKS) {
                bool active;
                const char *name = task_name(e, &active, &ix->s1);
                task_add(ix, e, name, active);
            } else if (counted_request(e)) {
                /* one marked before the build got here is counted now;
                 * one counted already and marked since, from the dirty
                 * list once ready */
                const reqf *r = store_map_get(ix->by_rid, e->id1);
                if (!r)
                    store_map_put(ix->by_rid, e->id1, xcalloc(1, sizeof(reqf)));
                if (!r || (r->dirty && !r->counted))
                    refresh(ix, cfg, c, e->id1);
            }
        }
        free(ix->cursor);
        ix->cursor = NULL;
        if (max_keys > 0) { /* the range is done */
            if (ix->ph == B_TASKS) {
                ix->ph = B_REQUESTS;
                ix->cursor = xstrdup(ix->req_prefix);
            } else {
                ix->ph = B_READY;
            }
        } else {
            /* Keys hold no control characters: the first key above last */
            ix->cursor = xasprintf("%s\x01", last->key);
        }
    }
    if (ix->ph != B_READY)
        return false;
    refresh_dirty(ix, cfg, c);
    return true;
}

bool as_index_ready(const as_index *ix)
{
    return ix->ph == B_READY && !ix->broken && ix->told == as_cache_count(ix->c);
}

/* ---- reads --------------------------------------------------------------------------------- */

/* The name e is counted under in s (NULL: none). */
typedef const char *(*name_fn)(as_index *ix, const as_entry *e);

static const char *task_name_of(as_index *ix, const as_entry *e)
{
    bool active;
    return task_name(e, &active, &ix->s1);
}

static const char *req_name_of(as_index *ix, const as_entry *e)
{
    reqf *r = counted_request(e) ? store_map_get(ix->by_rid, e->id1) : NULL;
    return r && r->counted && strcmp(r->key, e->key) == 0 ? r->state : NULL;
}

/* Finds the least key of every name of s whose least key went: scans the
 * range under prefix from the lowest bound, until each has its first
 * object. false when one has none (the index is out of step). */
static bool resolve(as_index *ix, bset *s, const as_cache *c, const char *prefix, name_fn fn)
{
    size_t plen = strlen(prefix), left = 0, i;
    const char *from = NULL;
    const as_entry *e;

    for (size_t k = 0; k < s->len; k++)
        if (!s->v[k].min_ok) {
            left++;
            if (!from || strcmp(s->v[k].min, from) < 0)
                from = s->v[k].min;
        }
    if (!left)
        return true;
    as_cache_range(c, from, &i);
    for (; left && (e = as_cache_at(c, i)) && strncmp(e->key, prefix, plen) == 0; i++) {
        const char *name = fn(ix, e);
        bucket *b = name ? bset_find(s, name) : NULL;
        ix->st.scanned++;
        if (!b || b->min_ok || strcmp(e->key, b->min) < 0)
            continue;
        free(b->min);
        b->min = xstrdup(e->key);
        b->min_ok = true;
        left--;
    }
    return left == 0;
}

bool as_index_read(as_index *ix, const as_api_config *cfg, const as_cache *c, as_index_figures *out)
{
    if (!as_index_ready(ix)) {
        if (ix->ph == B_READY || ix->broken)
            start_build(ix); /* the cache changed without telling */
        return false;
    }
    refresh_dirty(ix, cfg, c);
    if (!resolve(ix, &ix->tasks, c, ix->task_prefix, task_name_of) ||
        !resolve(ix, &ix->reqs, c, ix->req_prefix, req_name_of)) {
        start_build(ix); /* out of step: count again */
        return false;
    }
    memset(out, 0, sizeof(*out));
    out->n_req_states = bset_emit(&ix->reqs, out->req_states);
    out->n_task_states = bset_emit(&ix->tasks, out->task_states);
    out->pending_deploys = ix->pending_deploys;
    out->active_tasks = ix->active;
    out->launching_tasks = ix->launching;
    return true;
}

void as_index_get_stats(const as_index *ix, as_index_stats *out)
{
    *out = ix->st;
}
