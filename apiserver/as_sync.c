#include "apiserver/as_sync.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#define RETRY_MS 500

struct as_sync {
    struct event_base *base;
    store *st;
    as_cache *cache;
    char *prefix; /* with the trailing '/' */
    cr_log *log;
    as_sync_change_cb on_change;
    void *arg;
    store_watch *watch;
    struct event *retry;
    uint64_t lists, events;
};

static void start_list(as_sync *s);

static void notify(as_sync *s)
{
    if (s->on_change)
        s->on_change(s->arg, as_cache_revision(s->cache));
}

static void on_events(void *arg, const store_event *evs, size_t n)
{
    as_sync *s = arg;

    for (size_t i = 0; i < n; i++) {
        const store_kv *kv = &evs[i].kv;
        if (evs[i].type == STORE_EV_PUT)
            as_cache_put_raw(s->cache, kv->key, kv->value ? kv->value : "", kv->value_len,
                             kv->create_revision, kv->mod_revision);
        else
            as_cache_del(s->cache, kv->key, kv->mod_revision);
    }
    s->events += n;
    notify(s);
}

static void on_progress(void *arg, int64_t revision)
{
    as_sync *s = arg;
    as_cache_set_revision(s->cache, revision);
    notify(s);
}

static void schedule_retry(as_sync *s)
{
    struct timeval tv = {RETRY_MS / 1000, (RETRY_MS % 1000) * 1000};
    evtimer_add(s->retry, &tv);
}

static void on_compacted(void *arg, int64_t rev)
{
    as_sync *s = arg;

    cr_warn(s->log, "cache watch: revision compacted at %lld; listing again", (long long)rev);
    store_watch_free(s->watch);
    s->watch = NULL;
    start_list(s);
}

static void on_broken(void *arg, const cr_err *err)
{
    as_sync *s = arg;
    cr_warn(s->log, "cache watch broken (%s); resuming", cr_err_msg(err));
}

static void on_list(void *arg, const store_result *res, const cr_err *err)
{
    as_sync *s = arg;
    store_watch_handlers h = {on_events, on_progress, on_compacted, on_broken};
    store_watch_opts o = {.prefix = true};
    cr_err werr;

    if (err) {
        cr_warn(s->log, "cache list %s: %s; retrying", s->prefix, cr_err_msg(err));
        schedule_retry(s);
        return;
    }
    as_cache_clear(s->cache);
    for (size_t i = 0; i < res->nkvs; i++)
        as_cache_put_raw(s->cache, res->kvs[i].key, res->kvs[i].value, res->kvs[i].value_len,
                         res->kvs[i].create_revision, res->kvs[i].mod_revision);
    as_cache_set_revision(s->cache, res->revision);
    as_cache_set_synced(s->cache, true);
    s->lists++;
    o.start_revision = res->revision + 1;
    s->watch = store_watch_start(s->st, s->prefix, &o, &h, s, &werr);
    if (!s->watch) {
        cr_warn(s->log, "cache watch %s: %s; retrying", s->prefix, cr_err_msg(&werr));
        schedule_retry(s);
    }
    notify(s);
}

static void start_list(as_sync *s)
{
    cr_err err;
    if (store_list(s->st, s->prefix, 0, on_list, s, &err) < 0) {
        cr_warn(s->log, "cache list %s: %s; retrying", s->prefix, cr_err_msg(&err));
        schedule_retry(s);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    start_list(arg);
}

as_sync *as_sync_new(struct event_base *base, store *st, as_cache *cache, const char *prefix,
                     cr_log *log, as_sync_change_cb on_change, void *arg, cr_err *err)
{
    as_sync *s = xcalloc(1, sizeof(*s));

    s->base = base;
    s->st = st;
    s->cache = cache;
    s->prefix = xasprintf("%s/", prefix);
    s->log = log;
    s->on_change = on_change;
    s->arg = arg;
    s->retry = evtimer_new(base, on_retry, s);
    start_list(s);
    (void)err;
    return s;
}

void as_sync_free(as_sync *s)
{
    if (!s)
        return;
    store_cancel(s->st, s);
    store_watch_free(s->watch);
    event_free(s->retry);
    free(s->prefix);
    free(s);
}

uint64_t as_sync_lists(const as_sync *s)
{
    return s->lists;
}

uint64_t as_sync_events(const as_sync *s)
{
    return s->events;
}
