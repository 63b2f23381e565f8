/* as_memo: encoded request parents, dropped on change. See as_memo.h. */
#include "apiserver/as_memo.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver/as_model.h"
#include "base/xalloc.h"
#include "store/map.h"

typedef struct entry {
    const store_obj *req; /* the request object it was built from (a reference) */
    char *state;          /* RequestState */
    char *pending_deploy; /* as_m_pending_deploy_id, or NULL */
    char *json;           /* the parent; NULL until asked for, or if not kept */
    size_t len;
    bool has_etag; /* etag worked out (as_api_request_etag of req's value) */
    uint32_t etag;
} entry;

struct as_memo {
    as_cache *c;
    store_map *by_rid; /* request id -> entry */
    char *scratch;     /* the last parent that could not be kept */
    as_memo_stats st;
};

static void entry_free(entry *e)
{
    if (!e)
        return;
    store_obj_unref(e->req);
    free(e->json);
    free(e->state);
    free(e->pending_deploy);
    free(e);
}

static void drop(as_memo *m, const char *rid)
{
    entry *e = store_map_del(m->by_rid, rid);
    if (!e)
        return;
    m->st.drops++;
    m->st.entries--;
    m->st.bytes -= e->len;
    entry_free(e);
}

static void free_one(const char *key, void *value, void *arg)
{
    entry_free(value);
}

static void drop_all(as_memo *m)
{
    m->st.drops += m->st.entries;
    store_map_foreach(m->by_rid, free_one, NULL);
    store_map_free(m->by_rid);
    m->by_rid = store_map_new();
    m->st.entries = 0;
    m->st.bytes = 0;
}

/* Which parents a change of o can alter (see as_memo.h). */
static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    as_memo *m = arg;
    const store_obj *o = cur ? cur : old;
    char *rid;

    switch (o->kind) {
    case API_KEY_AGENT:
    case API_KEY_RACK:
    case API_KEY_INTENT_AGENT:
    case API_KEY_INTENT_RACK:
    case API_KEY_FRAMEWORK:
    case API_KEY_LEADER:
        return;
    case API_KEY_CLEANUP:
        /* A task whose id names no request is never in a kept parent. */
        if ((rid = o->id1 ? as_m_task_request_id(o->id1) : NULL)) {
            drop(m, rid);
            free(rid);
        }
        return;
    case API_KEY_UNKNOWN:
        drop_all(m);
        return;
    default:
        if (o->id1)
            drop(m, o->id1);
        else
            drop_all(m);
        return;
    }
}

as_memo *as_memo_new(as_cache *c)
{
    as_memo *m = xcalloc(1, sizeof(*m));
    store_cache_handlers h = {.on_change = on_change};

    m->c = c;
    m->by_rid = store_map_new();
    store_cache_subscribe(c, &h, m);
    return m;
}

void as_memo_free(as_memo *m)
{
    if (!m)
        return;
    store_cache_unsubscribe(m->c, m);
    store_map_foreach(m->by_rid, free_one, NULL);
    store_map_free(m->by_rid);
    free(m->scratch);
    free(m);
}

/* Whether every active task of rid has an id naming rid: the parent looks
 * up cleanups by task id, and a cleanup only drops the request its task id
 * names. */
static bool tasks_name_request(const as_api_config *cfg, const as_cache *c, const char *rid)
{
    char *prefix = api_key_kind_prefix(cfg->prefix, API_KEY_TASK, rid);
    size_t first, n = as_cache_range(c, prefix, &first);
    bool ok = true;

    for (size_t i = first; i < first + n && ok; i++) {
        as_task t;
        const char *tid = as_task_open(&t, as_cache_at(c, i)) && as_task_active(&t) ? t.id : NULL;
        char *named = tid ? as_m_task_request_id(tid) : NULL;
        ok = !tid || (named && strcmp(named, rid) == 0);
        free(named);
        as_task_close(&t);
    }
    free(prefix);
    return ok;
}

/* The entry of request e, made now (facts only) if there is none, or
 * NULL if e holds no request object. */
static entry *entry_of(as_memo *m, const as_api_config *cfg, const as_entry *e)
{
    entry *got;

    if (e->kind != API_KEY_REQUEST || !e->id1 || !as_m_entry_object(e))
        return NULL;
    got = store_map_get(m->by_rid, e->id1);
    if (got && got->req != e) {
        drop(m, e->id1); /* the cache was changed without telling (by hand) */
        got = NULL;
    }
    if (!got) {
        got = xcalloc(1, sizeof(*got));
        got->req = store_obj_ref(e);
        got->state = xstrdup(as_m_request_state(cfg, m->c, e->id1));
        const char *pd = as_m_pending_deploy_id(cfg, m->c, e->id1);
        got->pending_deploy = pd ? xstrdup(pd) : NULL;
        store_map_put(m->by_rid, e->id1, got);
        m->st.entries++;
    }
    return got;
}

bool as_memo_request_parent(as_memo *m, const as_api_config *cfg, const as_entry *e,
                            as_memo_parent *out)
{
    entry *got = entry_of(m, cfg, e);
    json_t *parent = NULL;
    char *json;

    if (!got)
        return false;
    if (got->json) {
        m->st.hits++;
        out->json = got->json;
        out->len = got->len;
    } else {
        if (!(parent = as_m_request_parent(cfg, m->c, e->id1)))
            return false;
        json = json_dumps(parent, AS_JSON_FLAGS);
        json_decref(parent);
        m->st.misses++;
        out->json = json;
        out->len = strlen(json);
        if (tasks_name_request(cfg, m->c, e->id1)) {
            got->json = json;
            got->len = out->len;
            m->st.bytes += got->len;
        } else {
            free(m->scratch);
            m->scratch = json;
        }
    }
    out->state = got->state;
    return true;
}

bool as_memo_request_etag(as_memo *m, const as_api_config *cfg, const as_entry *e, uint32_t *etag)
{
    entry *got = entry_of(m, cfg, e);

    if (!got)
        return false;
    if (!got->has_etag) {
        json_t *req = as_m_entry_json(e); /* a text is parsed: once per change */
        got->etag = as_api_request_etag(req);
        json_decref(req);
        got->has_etag = true;
    }
    *etag = got->etag;
    return true;
}

bool as_memo_request_facts(as_memo *m, const as_api_config *cfg, const as_entry *e,
                           const char **state, const char **pending_deploy)
{
    entry *got = entry_of(m, cfg, e);

    if (!got)
        return false;
    *state = got->state;
    *pending_deploy = got->pending_deploy;
    return true;
}

void as_memo_get_stats(const as_memo *m, as_memo_stats *out)
{
    *out = m->st;
}
