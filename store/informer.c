/* store_informer: list + watch + cache. See informer.h. */
#include "store/informer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/xalloc.h"
#include "store/internal.h"
#include "store/map.h"

#define LIST_BACKOFF_MIN_MS 200
#define LIST_BACKOFF_MAX_MS 5000

typedef struct item {
    store_item pub;
    char *key;
    char *value;
    char *decode_error;
} item;

struct store_informer {
    store *s;
    char *prefix;
    store_informer_handlers h;
    void *arg;
    store_map *cache; /* key -> item */
    store_watch *watch;
    struct event *retry_ev;
    long backoff_ms;
    bool synced;
    bool listing;
    unsigned lists;
    int64_t revision;
};

static void item_free(store_informer *inf, item *it)
{
    if (!it)
        return;
    if (it->pub.obj && inf->h.free_obj)
        inf->h.free_obj(it->pub.obj);
    free(it->key);
    free(it->value);
    free(it->decode_error);
    free(it);
}

static item *item_new(store_informer *inf, const store_kv *kv)
{
    item *it = xcalloc(1, sizeof(*it));
    cr_err err;

    it->key = xstrdup(kv->key);
    it->value = xmalloc(kv->value_len + 1);
    memcpy(it->value, kv->value ? kv->value : "", kv->value_len);
    it->value[kv->value_len] = '\0';
    it->pub.key = it->key;
    it->pub.value = it->value;
    it->pub.value_len = kv->value_len;
    it->pub.create_revision = kv->create_revision;
    it->pub.mod_revision = kv->mod_revision;
    it->pub.version = kv->version;
    if (inf->h.decode) {
        cr_err_clear(&err);
        it->pub.obj = inf->h.decode(kv, inf->arg, &err);
        if (!it->pub.obj) {
            it->decode_error = xstrdup(cr_err_msg(&err));
            it->pub.decode_error = it->decode_error;
        }
    }
    return it;
}

/* Applies one put to the cache and calls the handler. */
static void apply_put(store_informer *inf, const store_kv *kv)
{
    item *old = store_map_get(inf->cache, kv->key), *it;

    if (old && old->pub.mod_revision >= kv->mod_revision)
        return; /* already seen (a replay after resume) */
    it = item_new(inf, kv);
    store_map_put(inf->cache, it->key, it);
    if (old) {
        if (inf->h.on_update)
            inf->h.on_update(inf->arg, &old->pub, &it->pub);
        item_free(inf, old);
    } else if (inf->h.on_add) {
        inf->h.on_add(inf->arg, &it->pub);
    }
}

static void apply_delete(store_informer *inf, const char *key)
{
    item *old = store_map_del(inf->cache, key);

    if (!old)
        return;
    if (inf->h.on_delete)
        inf->h.on_delete(inf->arg, &old->pub);
    item_free(inf, old);
}

static void start_list(store_informer *inf);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    start_list(arg);
}

static void schedule_relist(store_informer *inf)
{
    struct timeval tv = {inf->backoff_ms / 1000, (inf->backoff_ms % 1000) * 1000};

    inf->backoff_ms =
        inf->backoff_ms * 2 > LIST_BACKOFF_MAX_MS ? LIST_BACKOFF_MAX_MS : inf->backoff_ms * 2;
    evtimer_add(inf->retry_ev, &tv);
}

static void on_events(void *arg, const store_event *evs, size_t n)
{
    store_informer *inf = arg;

    for (size_t i = 0; i < n; i++) {
        if (evs[i].type == STORE_EV_PUT)
            apply_put(inf, &evs[i].kv);
        else
            apply_delete(inf, evs[i].kv.key);
        if (evs[i].kv.mod_revision > inf->revision)
            inf->revision = evs[i].kv.mod_revision;
    }
}

static void on_progress(void *arg, int64_t revision)
{
    store_informer *inf = arg;

    if (revision > inf->revision)
        inf->revision = revision;
}

static void on_compacted(void *arg, int64_t compact_revision)
{
    store_informer *inf = arg;

    cr_warn(inf->s->log, "informer %s: revision compacted at %" PRId64 "; re-listing", inf->prefix,
            compact_revision);
    store_watch_free(inf->watch);
    inf->watch = NULL;
    start_list(inf);
}

static const store_watch_handlers watch_handlers = {on_events, on_progress, on_compacted, NULL};

typedef struct diff_ctx {
    store_informer *inf;
    store_map *seen;
    const char **gone;
    size_t ngone;
} diff_ctx;

static void collect_gone(const char *key, void *value, void *arg)
{
    diff_ctx *d = arg;

    if (!store_map_has(d->seen, key))
        d->gone[d->ngone++] = key;
}

static void list_done(void *arg, const store_result *res, const cr_err *err)
{
    store_informer *inf = arg;
    store_watch_opts wo = {.prefix = true};
    diff_ctx d = {.inf = inf};
    cr_err werr;

    inf->listing = false;
    if (err) {
        cr_warn(inf->s->log, "informer %s: list failed: %s", inf->prefix, cr_err_msg(err));
        schedule_relist(inf);
        return;
    }
    inf->backoff_ms = LIST_BACKOFF_MIN_MS;
    /* deletions first (keys absent from the new list), then adds/updates */
    d.seen = store_map_new();
    for (size_t i = 0; i < res->nkvs; i++)
        store_map_put(d.seen, res->kvs[i].key, (void *)&res->kvs[i]);
    d.gone = xcalloc(store_map_len(inf->cache) + 1, sizeof(*d.gone));
    store_map_foreach(inf->cache, collect_gone, &d);
    {
        /* copy the keys: apply_delete frees the cache's copies */
        char **keys = xcalloc(d.ngone + 1, sizeof(*keys));
        for (size_t i = 0; i < d.ngone; i++)
            keys[i] = xstrdup(d.gone[i]);
        for (size_t i = 0; i < d.ngone; i++) {
            apply_delete(inf, keys[i]);
            free(keys[i]);
        }
        free(keys);
    }
    free(d.gone);
    store_map_free(d.seen);
    for (size_t i = 0; i < res->nkvs; i++) {
        item *old = store_map_get(inf->cache, res->kvs[i].key);
        if (!old || old->pub.mod_revision != res->kvs[i].mod_revision) {
            if (old)
                old->pub.mod_revision = 0; /* force the update through */
            apply_put(inf, &res->kvs[i]);
        }
    }
    inf->revision = res->revision;
    inf->lists++;
    inf->synced = true;
    wo.start_revision = res->revision + 1;
    inf->watch = store_watch_start(inf->s, inf->prefix, &wo, &watch_handlers, inf, &werr);
    if (!inf->watch) {
        cr_warn(inf->s->log, "informer %s: watch: %s", inf->prefix, cr_err_msg(&werr));
        schedule_relist(inf);
    }
    if (inf->h.on_synced)
        inf->h.on_synced(inf->arg);
}

static void start_list(store_informer *inf)
{
    cr_err err;

    if (inf->listing)
        return;
    if (store_list(inf->s, inf->prefix, 0, list_done, inf, &err) < 0) {
        cr_warn(inf->s->log, "informer %s: list: %s", inf->prefix, cr_err_msg(&err));
        schedule_relist(inf);
        return;
    }
    inf->listing = true;
}

store_informer *store_informer_new(store *s, const char *prefix, const store_informer_handlers *h,
                                   void *arg)
{
    store_informer *inf = xcalloc(1, sizeof(*inf));

    inf->s = s;
    inf->prefix = xstrdup(prefix);
    if (h)
        inf->h = *h;
    inf->arg = arg;
    inf->cache = store_map_new();
    inf->retry_ev = evtimer_new(s->base, retry_cb, inf);
    inf->backoff_ms = LIST_BACKOFF_MIN_MS;
    return inf;
}

int store_informer_start(store_informer *inf, cr_err *err)
{
    if (!inf->prefix[0])
        return cr_error(err, CR_EINVAL, "informer: empty prefix");
    if (store_list(inf->s, inf->prefix, 0, list_done, inf, err) < 0)
        return -1;
    inf->listing = true;
    return 0;
}

static void free_item_cb(const char *key, void *value, void *arg)
{
    item_free(arg, value);
}

void store_informer_free(store_informer *inf)
{
    if (!inf)
        return;
    store_cancel(inf->s, inf);
    store_watch_free(inf->watch);
    event_free(inf->retry_ev);
    store_map_foreach(inf->cache, free_item_cb, inf);
    store_map_free(inf->cache);
    free(inf->prefix);
    free(inf);
}

bool store_informer_synced(const store_informer *inf)
{
    return inf->synced;
}

int64_t store_informer_revision(const store_informer *inf)
{
    return inf->revision;
}

const store_item *store_informer_get(const store_informer *inf, const char *key)
{
    item *it = store_map_get(inf->cache, key);

    return it ? &it->pub : NULL;
}

size_t store_informer_len(const store_informer *inf)
{
    return store_map_len(inf->cache);
}

void store_informer_foreach(const store_informer *inf,
                            void (*fn)(void *arg, const store_item *item), void *arg)
{
    size_t n;
    const char **keys = store_map_keys(inf->cache, &n);

    for (size_t i = 0; i < n; i++) {
        item *it = store_map_get(inf->cache, keys[i]);
        if (it)
            fn(arg, &it->pub);
    }
    free(keys);
}

unsigned store_informer_lists(const store_informer *inf)
{
    return inf->lists;
}
