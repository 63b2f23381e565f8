/* store_cache: one list + watch, decoded once. See cache.h. */
#include "store/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "apis/doc.h"
#include "apis/jtext.h"
#include "base/offload.h"
#include "base/xalloc.h"
#include "store/codec.h"

#define LIST_BACKOFF_MIN_MS 200
#define LIST_BACKOFF_MAX_MS 5000

/* An object and what it owns. `pub` comes first so a store_obj pointer is
 * an obj pointer. One allocation: the struct, then key[]: the key
 * (NUL-terminated), the ids of its parts but the last (each
 * NUL-terminated, in order: the last is the key's own tail) and, for the
 * kinds kept as text, the value's bytes. 100,000 task records make
 * 100,000 of these: the ids had an allocation of their own (~64 bytes a
 * record). */
typedef struct obj {
    store_obj pub; /* pub.error is ours (freed with the object) */
    char *text;    /* kinds kept as text: the value's bytes (NUL-terminated); else NULL */
    bool json;     /* text: it parses as JSON */
    bool plain;    /* text: ...and no object in it repeats a key */
    bool written;  /* text dropped: the document writes it again (api_doc_write_text) */
    bool own;      /* ...and was decoded from it without a parse (api_doc_decode_own_text) */
    char key[];
} obj;

/* Objects of a kind that comes and goes in bulk (pending tasks: 100,000
 * while a big cluster fills, then none) live in the bulk arena
 * (base/xalloc.h), apart from the long-lived ones. */
static bool bulk_kind(api_key_kind kind)
{
    return kind == API_KEY_PENDING;
}

/* o (NULL: a new, zeroed one) resized to size bytes, in its kind's arena. */
static obj *obj_resize(obj *o, api_key_kind kind, size_t size)
{
    if (bulk_kind(kind))
        return o ? xrealloc_bulk(o, size) : xcalloc_bulk(size);
    return o ? xrealloc(o, size) : xcalloc(1, size);
}

/* Bytes the ids of parts but the last take in key[] (0: none). */
static size_t ids_len(const api_key_parts *parts)
{
    const char *last = parts->id3 ? parts->id3 : parts->id2 ? parts->id2 : parts->id1;
    return last ? (size_t)(last - parts->buf) : 0;
}

/* Points pub.key and the ids of o at key[] again (after a realloc; an id
 * pointer that is not NULL only says the key has that part); returns
 * where the text goes. */
static char *obj_point(obj *o, size_t klen)
{
    char *p = o->key + klen + 1;
    const char **ids[3] = {&o->pub.id1, &o->pub.id2, &o->pub.id3};
    int n = 0;

    o->pub.key = o->key;
    while (n < 3 && *ids[n])
        n++;
    for (int i = 0; i + 1 < n; i++) {
        *ids[i] = p;
        p += strlen(p) + 1;
    }
    if (n) /* the key's last segment: ids hold no '/' (api_key_id_valid) */
        *ids[n - 1] = strrchr(o->key, '/') + 1;
    return p;
}

typedef struct sub {
    store_cache_handlers h;
    void *arg; /* NULL once unsubscribed (removed after the dispatch) */
} sub;

/* A change waiting to be applied: big lists and event batches are applied
 * a slice per loop turn, in order, so no callback holds the loop long. */
typedef enum { Q_PUT, Q_DELETE, Q_LOAD, Q_RELIST, Q_LISTED } qkind;

/* A page of the first load whose task records a thread decodes while the
 * loop decodes the pages before it: on 2 CPUs a cold start of 100,000
 * tasks was corrald decoding (~7 s of its ~9 s), etcd reading beside it. */
typedef struct ldjob {
    store_cache *c;  /* its prefix only (read-only on the thread) */
    store_kv *kvs;   /* the page's kvs; the loop takes them in order */
    obj **objs;      /* decoded on the thread: task records; NULL: the loop's */
    size_t n, left;  /* kvs, and those the loop has not taken yet */
    bool done;       /* the thread has returned */
    cr_offload *off; /* while it runs */
    struct ldjob *next;
} ldjob;

typedef struct qitem {
    qkind kind;
    store_kv kv;      /* Q_LISTED: kv.mod_revision is the list's revision */
    ldjob *job;       /* Q_LOAD of a page on a thread: its kv is job->kvs[ji] */
    size_t ji;
} qitem;

/* Time one slice may take, and the batch size applied at once without
 * queueing (the common case: a few events). */
#define SLICE_BUDGET_US 5000
#define DIRECT_EVENTS   64
/* The first load asks for the next page as soon as one comes, unless this
 * many listed kvs still wait to be decoded: etcd reads a page while this
 * process decodes the last one, and at most about three pages are held. */
#define LOAD_AHEAD (2 * STORE_PAGE_SIZE)
/* A first-load page of this many keys or more may go to a thread. */
#define LOAD_OFFLOAD_MIN (STORE_PAGE_SIZE / 2)

typedef struct waiter {
    int64_t revision;
    store_cache_wait_cb cb;
    void *arg;
    char *tag;
} waiter;

struct store_cache {
    struct event_base *base;
    store *s;
    cr_log *log;
    int64_t slice_budget_us; /* store_cache_config.slice_budget_us */
    int64_t relist_rev;      /* a re-list being applied: its revision; else 0 */
    char *prefix;   /* "/corral" */
    char *watched;  /* "/corral/" */
    obj **v;        /* sorted by key */
    size_t n, cap;
    int64_t revision;
    bool started, synced, listing;
    store_watch *watch;
    struct event *retry_ev, *wake_ev;
    long backoff_ms;
    sub *subs;
    size_t nsubs;
    int dispatching; /* nesting depth of callbacks into subscribers */
    bool subs_dirty;
    waiter *waits;
    size_t nwaits;
    qitem *q; /* ring of changes waiting for their slice */
    size_t qhead, qlen, qcap;
    /* the first load, a page at a time (see load_page) */
    int64_t load_rev;  /* the list's revision; 0 = no load under way */
    store_pager load;  /* its pages (while load_rev is not 0) */
    bool page_wanted;  /* the next page waits for the queue to drain */
    ldjob *jobs;       /* pages decoded on threads, until the loop took them */
    size_t offload_min; /* store_cache_config.load_offload_min */
    struct event *slice_ev;
    store_cache_stats stats;
};

/* ---- objects ---------------------------------------------------------------------- */

json_t *store_obj_json(const store_obj *o)
{
    const obj *x = (const obj *)o;

    if (!o)
        return NULL;
    if (o->value)
        return json_incref(o->value);
    if (x->written) {
        size_t len = 0;
        char *t = api_doc_write_text(o->kind, o->doc, &len);
        json_t *j = api_jtext_json(api_jtext_span(t, len)); /* a dump: no key twice */
        free(t);
        return j;
    }
    if (!x->text || !x->json)
        return NULL;
    if (x->plain)
        return api_jtext_json(api_jtext_span(x->text, o->value_len));
    return json_loadb(x->text, o->value_len, JSON_DECODE_ANY, NULL);
}

const char *store_obj_text(const store_obj *o, size_t *len)
{
    const obj *x = (const obj *)o;

    if (!o || !x->text)
        return NULL;
    if (len)
        *len = o->value_len;
    return x->text;
}

const char *store_obj_plain_text(const store_obj *o, size_t *len, char **owned)
{
    const obj *x = (const obj *)o;
    json_t *j = NULL;

    *owned = NULL;
    if (!o)
        return NULL;
    if (x->text && x->json && x->plain) {
        *len = o->value_len;
        return x->text;
    }
    if (x->written) /* the etcd bytes, written again */
        return *owned = api_doc_write_text(o->kind, o->doc, len);
    if (!(j = store_obj_json(o)))
        return NULL;
    /* jansson's dump: no key twice, reals with every digit they need */
    *owned = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    *len = *owned ? strlen(*owned) : 0;
    return *owned;
}

const store_obj *store_obj_ref(const store_obj *o)
{
    __atomic_add_fetch(&((store_obj *)o)->refs, 1, __ATOMIC_RELAXED);
    return o;
}

static void obj_free(obj *o)
{
    api_doc_free(o->pub.kind, o->pub.doc);
    json_decref(o->pub.value);
    free((char *)o->pub.error);
    if (bulk_kind(o->pub.kind))
        xfree_bulk(o);
    else
        free(o);
}

void store_obj_unref(const store_obj *o)
{
    if (o && __atomic_sub_fetch(&((store_obj *)o)->refs, 1, __ATOMIC_ACQ_REL) == 0)
        obj_free((obj *)o);
}

/* o without its text, which its document writes again byte for byte:
 * the allocation shrinks to the struct and the key (in place, as a rule). */
static obj *obj_drop_text(obj *o, size_t klen, size_t head)
{
    obj *n = obj_resize(o, o->pub.kind, sizeof(*n) + head);

    obj_point(n, klen);
    n->text = NULL;
    n->written = true;
    return n;
}

/* o with its text instead of its tree: text[0..tlen) is the value's bytes
 * (a JSON text with no key twice in an object), kept after the key in the
 * same allocation; the tree is dropped. */
static obj *obj_keep_text(obj *o, size_t klen, size_t head, const char *text, size_t tlen)
{
    obj *n = obj_resize(o, o->pub.kind, sizeof(*n) + head + tlen + 1);

    n->text = obj_point(n, klen);
    memcpy(n->text, text, tlen);
    n->text[tlen] = '\0';
    n->json = true;
    n->plain = true;
    json_decref(n->pub.value);
    n->pub.value = NULL;
    return n;
}

/* The parts of key under prefix (API_KEY_UNKNOWN for a key outside the
 * layout; release with api_key_parts_release otherwise). */
static api_key_parts key_parts(const char *prefix, const char *key)
{
    api_key_parts parts = {0};
    if (api_key_parse(prefix, key, &parts) < 0)
        parts.kind = API_KEY_UNKNOWN;
    return parts;
}

/* A new object for kv, whose key's parts are `parts` (taken); its value is
 * parsed from kv, or taken from `parsed` (stolen) when have_parsed. A kind
 * kept as text keeps kv's bytes (or the compact dump of `parsed`) and drops
 * the tree once its document is decoded; so does a kind kept as text when
 * valid, once its document has decoded with no problem and reads as the
 * tree (api_doc_faithful). Touches no cache: the first load runs it on a
 * thread too. */
static obj *obj_build(api_key_parts parts, const store_kv *kv, bool have_parsed, json_t *parsed)
{
    size_t klen = strlen(kv->key);
    json_error_t je = {0};
    json_t *value;
    char *dumped = NULL;
    const char *text = NULL;
    size_t tlen = 0;
    bool keep_text, when_valid, plain = true;
    size_t idlen, head;
    char *error = NULL;
    obj *o;

    keep_text = parts.kind != API_KEY_UNKNOWN && api_doc_text(parts.kind);
    when_valid = parts.kind != API_KEY_UNKNOWN && !keep_text && api_doc_text_when_valid(parts.kind);
    if (have_parsed) {
        value = parsed;
        if (!parsed)
            snprintf(je.text, sizeof(je.text), "not a JSON document");
        else /* what etcd would hold */
            dumped = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
        text = dumped ? dumped : "";
        tlen = dumped ? strlen(dumped) : 0;
    } else {
        text = kv->value ? kv->value : "";
        tlen = kv->value_len;
    }
    /* key[]: the key, the ids, the text (see obj) */
    idlen = ids_len(&parts);
    head = klen + 1 + idlen;
    o = obj_resize(NULL, parts.kind, sizeof(*o) + head + (keep_text ? tlen + 1 : 0));
    memcpy(o->key, kv->key, klen + 1);
    if (idlen)
        memcpy(o->key + klen + 1, parts.buf, idlen);
    o->pub.refs = 1;
    o->pub.value_len = have_parsed ? tlen : kv->value_len;
    o->pub.create_revision = kv->create_revision;
    o->pub.mod_revision = kv->mod_revision;
    o->pub.version = kv->version;
    if (parts.kind != API_KEY_UNKNOWN) {
        o->pub.kind = parts.kind;
        o->pub.id1 = parts.id1;
        o->pub.id2 = parts.id2;
        o->pub.id3 = parts.id3;
    }
    obj_point(o, klen);
    /* the decoders read the ids from here on: the object's */
    api_key_parts_release(&parts);
    parts = (api_key_parts){o->pub.kind, o->pub.id1, o->pub.id2, o->pub.id3, NULL};
    if (keep_text) {
        o->text = o->key + head;
        memcpy(o->text, text, tlen);
        o->text[tlen] = '\0';
    }
    /* a task record as the bridge stores it, read from its own text in
     * under half the time of parsing it (the cold start's largest part) */
    if (keep_text && !have_parsed &&
        (o->pub.doc = api_doc_decode_own_text(&parts, o->text, tlen))) {
        o = obj_drop_text(o, klen, head);
        o->own = true;
        o->pub.doc = api_doc_compact(o->pub.kind, o->pub.doc);
        return o;
    }
    if (!have_parsed) {
        /* A text is walked by apis/jtext.h only when no key repeats:
         * find out while parsing (jansson keeps the last of repeated keys;
         * so does the fallback parse). */
        value = json_loadb(text, tlen,
                           JSON_DECODE_ANY | (keep_text || when_valid ? JSON_REJECT_DUPLICATES : 0),
                           &je);
        if (!value && (keep_text || when_valid) &&
            json_error_code(&je) == json_error_duplicate_key) {
            plain = false;
            value = json_loadb(text, tlen, JSON_DECODE_ANY, &je);
        }
    }
    if (keep_text) {
        o->json = value != NULL;
        o->plain = plain;
    }
    if (!value) {
        error = xasprintf("not JSON: %d:%d: %s", je.line, je.column, je.text);
    } else if (api_doc_typed(o->pub.kind)) {
        /* the document may point into the text it keeps (a TaskInfo) */
        o->pub.doc = keep_text && plain ? api_doc_decode_text(&parts, value, o->text, tlen, &error)
                                        : api_doc_decode(&parts, value, &error);
        if (!o->pub.doc && !error)
            error = xstrdup("the document does not decode");
    }
    o->pub.error = error;
    if (keep_text)
        json_decref(value); /* decoded: the text is what stays */
    else
        o->pub.value = value;
    /* a task record as the bridge stores it is its document's dump: keep
     * the document only (~2.1 KB a record less) and write the text on read */
    if (keep_text && plain && o->pub.doc && !error &&
        api_doc_detach_text(o->pub.kind, o->pub.doc, o->text, tlen))
        o = obj_drop_text(o, klen, head);
    /* a request status, a pending task or a deploy status the controllers
     * wrote, a request or a deploy as the API stores it (it decodes, and
     * its document reads as its tree): ~7 KB of tree a request status
     * less, ~1.3 KB a waiting task, ~0.8 KB a request, 1.2-4.4 KB a deploy,
     * ~1.9 KB a deploy status; its readers read the document, or walk or
     * parse the text */
    if (when_valid && plain && value && o->pub.doc && !error &&
        api_doc_faithful(o->pub.kind, o->pub.doc, value))
        o = obj_keep_text(o, klen, head, text, tlen);
    /* kept for long and never changed: one allocation, not forty */
    o->pub.doc = api_doc_compact(o->pub.kind, o->pub.doc);
    free(dumped);
    return o;
}

/* obj_build for a key of this cache; every decode is counted here. */
static obj *obj_make(store_cache *c, const store_kv *kv, bool have_parsed, json_t *parsed)
{
    obj *o = obj_build(key_parts(c->prefix, kv->key), kv, have_parsed, parsed);

    c->stats.decodes++;
    c->stats.own_texts += o->own;
    return o;
}

static obj *obj_new(store_cache *c, const store_kv *kv)
{
    return obj_make(c, kv, false, NULL);
}

/* Index of the first object with key >= key. */
static size_t lower_bound(const store_cache *c, const char *key)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->v[mid]->key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void reserve(store_cache *c, size_t n)
{
    if (n <= c->cap)
        return;
    c->cap = c->cap ? c->cap : 64;
    while (c->cap < n)
        c->cap *= 2;
    c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
}

/* ---- subscribers ------------------------------------------------------------------ */

static void compact_subs(store_cache *c)
{
    size_t k = 0;
    if (c->dispatching || !c->subs_dirty)
        return;
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].arg)
            c->subs[k++] = c->subs[i];
    c->nsubs = k;
    c->subs_dirty = false;
}

static void tell_change(store_cache *c, const store_obj *old, const store_obj *cur)
{
    size_t n = c->nsubs; /* subscribers added meanwhile start with the next change */
    c->dispatching++;
    for (size_t i = 0; i < n; i++)
        if (c->subs[i].arg && c->subs[i].h.on_change)
            c->subs[i].h.on_change(c->subs[i].arg, old, cur);
    c->dispatching--;
    compact_subs(c);
}

static void run_waits(store_cache *c);

static void tell_revision(store_cache *c)
{
    size_t n = c->nsubs;
    c->dispatching++;
    for (size_t i = 0; i < n; i++)
        if (c->subs[i].arg && c->subs[i].h.on_revision)
            c->subs[i].h.on_revision(c->subs[i].arg, c->revision);
    c->dispatching--;
    compact_subs(c);
    run_waits(c);
}

static void tell_synced(store_cache *c)
{
    size_t n = c->nsubs;
    c->dispatching++;
    for (size_t i = 0; i < n; i++)
        if (c->subs[i].arg && c->subs[i].h.on_synced)
            c->subs[i].h.on_synced(c->subs[i].arg);
    c->dispatching--;
    compact_subs(c);
}

int store_cache_subscribe(store_cache *c, const store_cache_handlers *h, void *arg)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].arg == arg)
            return -1;
    c->subs = xrealloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
    c->subs[c->nsubs].h = *h;
    c->subs[c->nsubs].arg = arg;
    c->nsubs++;
    return 0;
}

void store_cache_unsubscribe(store_cache *c, void *arg)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].arg == arg) {
            c->subs[i].arg = NULL;
            c->subs_dirty = true;
        }
    compact_subs(c);
    store_cache_cancel_waits(c, arg, NULL);
}

/* ---- revision waits --------------------------------------------------------------- */

static void run_waits(store_cache *c)
{
    /* Take the due waits out first: a callback may add or cancel waits. */
    for (;;) {
        size_t i;
        for (i = 0; i < c->nwaits; i++)
            if (c->waits[i].revision <= c->revision)
                break;
        if (i == c->nwaits)
            return;
        waiter w = c->waits[i];
        c->waits[i] = c->waits[--c->nwaits];
        w.cb(w.arg, w.tag);
        free(w.tag);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    run_waits(arg);
}

void store_cache_wait(store_cache *c, int64_t revision, store_cache_wait_cb cb, void *arg,
                      const char *tag)
{
    c->waits = xrealloc(c->waits, (c->nwaits + 1) * sizeof(*c->waits));
    c->waits[c->nwaits++] = (waiter){revision, cb, arg, tag ? xstrdup(tag) : NULL};
    if (revision <= c->revision && c->wake_ev)
        event_active(c->wake_ev, EV_TIMEOUT, 0);
}

void store_cache_cancel_waits(store_cache *c, void *arg, const char *tag)
{
    for (size_t i = 0; i < c->nwaits;) {
        waiter *w = &c->waits[i];
        if (w->arg == arg && (!tag || (w->tag && strcmp(w->tag, tag) == 0))) {
            free(w->tag);
            *w = c->waits[--c->nwaits];
        } else {
            i++;
        }
    }
}

/* ---- applying changes ------------------------------------------------------------- */

/* Puts o (owned) at its key, replacing the old object. */
static void put_obj(store_cache *c, obj *o)
{
    size_t i = lower_bound(c, o->key);
    obj *old = i < c->n && strcmp(c->v[i]->key, o->key) == 0 ? c->v[i] : NULL;
    if (old) {
        c->stats.bytes -= old->pub.value_len;
        c->v[i] = o;
    } else {
        reserve(c, c->n + 1);
        memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
        c->v[i] = o;
        c->n++;
    }
    c->stats.bytes += o->pub.value_len;
    tell_change(c, old ? &old->pub : NULL, &o->pub);
    if (old)
        store_obj_unref(&old->pub);
}

static void apply_put(store_cache *c, const store_kv *kv)
{
    const store_obj *old = store_cache_get(c, kv->key);
    if (old && old->mod_revision >= kv->mod_revision)
        return; /* already have it (a re-list racing a watch, or fed ahead) */
    put_obj(c, obj_new(c, kv));
}

static void apply_delete(store_cache *c, const char *key)
{
    size_t i = lower_bound(c, key);
    obj *old;

    if (i >= c->n || strcmp(c->v[i]->key, key) != 0)
        return;
    old = c->v[i];
    memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
    c->n--;
    c->stats.bytes -= old->pub.value_len;
    tell_change(c, &old->pub, NULL);
    store_obj_unref(&old->pub);
}

static void apply_event(store_cache *c, bool put, const store_kv *kv)
{
    /* subscribers told of this change read its revision from the cache */
    if (kv->mod_revision > c->revision)
        c->revision = kv->mod_revision;
    if (put)
        apply_put(c, kv);
    else
        apply_delete(c, kv->key);
    c->stats.events++;
}

static qitem *enqueue(store_cache *c, qkind kind, const store_kv *kv)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 256;
        qitem *n = xcalloc(ncap, sizeof(*n));
        for (size_t i = 0; i < c->qlen; i++)
            n[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = n;
        c->qcap = ncap;
        c->qhead = 0;
    }
    qitem *it = &c->q[(c->qhead + c->qlen++) % c->qcap];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    if (kv && kv->key)
        store_kv_copy(&it->kv, kv);
    else if (kv)
        it->kv = *kv; /* Q_LISTED: a revision, no strings */
    return it;
}

static void schedule_slice(store_cache *c)
{
    struct timeval now = {0, 0};
    if (c->slice_ev && !evtimer_pending(c->slice_ev, NULL))
        evtimer_add(c->slice_ev, &now); /* after the loop has polled I/O */
}

static void on_events(void *arg, const store_event *evs, size_t n)
{
    store_cache *c = arg;
    if (!c->qlen && n <= DIRECT_EVENTS) {
        for (size_t i = 0; i < n; i++)
            apply_event(c, evs[i].type == STORE_EV_PUT, &evs[i].kv);
        tell_revision(c);
        return;
    }
    for (size_t i = 0; i < n; i++)
        enqueue(c, evs[i].type == STORE_EV_PUT ? Q_PUT : Q_DELETE, &evs[i].kv);
    schedule_slice(c);
}

static void on_progress(void *arg, int64_t revision)
{
    store_cache *c = arg;
    if (c->qlen)
        return; /* events before it are still queued */
    if (revision > c->revision)
        c->revision = revision;
    tell_revision(c);
}

static void start_list(store_cache *c);

static void on_compacted(void *arg, int64_t compact_revision)
{
    store_cache *c = arg;
    cr_warn(c->log, "cache: revision compacted at %lld; listing again",
            (long long)compact_revision);
    store_watch_free(c->watch);
    c->watch = NULL;
    start_list(c);
}

static void on_broken(void *arg, const cr_err *err)
{
    store_cache *c = arg;
    cr_warn(c->log, "cache: watch broken (%s); resuming", cr_err_msg(err));
}

static void schedule_list(store_cache *c)
{
    struct timeval tv;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : LIST_BACKOFF_MIN_MS;
    if (c->backoff_ms > LIST_BACKOFF_MAX_MS)
        c->backoff_ms = LIST_BACKOFF_MAX_MS;
    tv.tv_sec = c->backoff_ms / 1000;
    tv.tv_usec = (c->backoff_ms % 1000) * 1000;
    evtimer_add(c->retry_ev, &tv);
}

/* Appends a listed object to the first load (the list is in key order;
 * the array stays sorted even if it were not). */
static void load_one(store_cache *c, const store_kv *kv, obj *pre)
{
    obj *o = pre;
    if (o) { /* decoded on a thread: counted here */
        c->stats.decodes++;
        c->stats.own_texts += o->own;
    } else {
        o = obj_new(c, kv);
    }
    reserve(c, c->n + 1);
    if (c->n && strcmp(c->v[c->n - 1]->key, o->key) >= 0) {
        size_t at = lower_bound(c, o->key);
        memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(*c->v));
        c->v[at] = o;
    } else {
        c->v[c->n] = o;
    }
    c->n++;
    c->stats.bytes += o->pub.value_len;
}

/* A re-list's deletions: cached keys the list no longer has (no decoding,
 * so done at once). */
static void relist_deletions(store_cache *c, const store_result *res)
{
    for (size_t i = 0; i < c->n;) {
        const char *key = c->v[i]->key;
        size_t lo = 0, hi = res->nkvs;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(res->kvs[mid].key, key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < res->nkvs && strcmp(res->kvs[lo].key, key) == 0)
            i++;
        else
            apply_delete(c, key); /* shifts the array: stay at i */
    }
}

/* The list is in: watch from its revision + 1, tell the subscribers. */
static void listed(store_cache *c, int64_t revision)
{
    store_watch_handlers h = {on_events, on_progress, on_compacted, on_broken};
    store_watch_opts o = {.prefix = true, .start_revision = revision + 1};
    cr_err werr;

    if (revision > c->revision)
        c->revision = revision;
    c->relist_rev = 0;
    c->synced = true;
    c->stats.lists++;
    c->watch = store_watch_start(c->s, c->watched, &o, &h, c, &werr);
    if (!c->watch) {
        cr_warn(c->log, "cache: watching %s: %s; listing again", c->watched, cr_err_msg(&werr));
        schedule_list(c);
    }
    tell_synced(c);
    tell_revision(c);
}

static void ask_page(store_cache *c);

/* Whether queued change it is a watch event of revision rev. */
static bool same_revision(const qitem *it, int64_t rev)
{
    return (it->kind == Q_PUT || it->kind == Q_DELETE) && it->kv.mod_revision == rev;
}

/* ---- the first load's pages on a thread ---------------------------------------------- */

/* On the thread: the page's task records (their decoding is pure: the
 * key's parts, jansson on its own tree, the document, zlib); any other
 * kind is left to the loop. */
static void ldjob_work(void *arg)
{
    ldjob *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        api_key_parts parts = key_parts(j->c->prefix, j->kvs[i].key);
        if (parts.kind != API_KEY_UNKNOWN && api_doc_text(parts.kind))
            j->objs[i] = obj_build(parts, &j->kvs[i], false, NULL);
        else if (parts.kind != API_KEY_UNKNOWN)
            api_key_parts_release(&parts);
    }
}

static void schedule_slice(store_cache *c);

static void ldjob_done(void *arg)
{
    ldjob *j = arg;
    j->off = NULL;
    j->done = true;
    schedule_slice(j->c);
}

/* Waits on the loop for a job's thread to return (a page's decoding; only
 * where the loop cannot go on without it). */
static void ldjob_wait(ldjob *j)
{
    if (j->off) {
        cr_offload_cancel(j->off); /* joins; ldjob_done will not run */
        j->off = NULL;
    }
    j->done = true;
}

/* Frees a job the loop is done with, or that is dropped (waits for its
 * thread first, on the loop: a load that failed, a cache freed). */
static void ldjob_free(store_cache *c, ldjob *j)
{
    for (ldjob **pp = &c->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    ldjob_wait(j);
    for (size_t i = 0; i < j->n; i++) {
        if (j->objs[i])
            store_obj_unref(&j->objs[i]->pub);
        store_kv_release(&j->kvs[i]);
    }
    free(j->objs);
    free(j->kvs);
    free(j);
}

static void ldjob_free_all(store_cache *c)
{
    while (c->jobs)
        ldjob_free(c, c->jobs);
}

/* Whether a page's thread is still at work (one at a time). */
static bool ldjob_running(const store_cache *c)
{
    for (const ldjob *j = c->jobs; j; j = j->next)
        if (j->off)
            return true;
    return false;
}

/* Queues a page of the first load for a thread, when one is free and the
 * loop has work before it (else the loop decodes it: false). */
static bool ldjob_start(store_cache *c, const store_result *res)
{
    cr_err err;
    if (!c->offload_min || res->nkvs < c->offload_min || c->qlen == 0 || !c->base ||
        ldjob_running(c))
        return false;
    ldjob *j = xcalloc(1, sizeof(*j));
    j->c = c;
    j->n = j->left = res->nkvs;
    j->kvs = xcalloc(res->nkvs, sizeof(*j->kvs));
    j->objs = xcalloc(res->nkvs, sizeof(*j->objs));
    for (size_t i = 0; i < res->nkvs; i++)
        store_kv_copy(&j->kvs[i], &res->kvs[i]);
    if (!(j->off = cr_offload_start(c->base, ldjob_work, ldjob_done, j, &err))) {
        cr_warn(c->log, "cache: %s; decoding on the loop", cr_err_msg(&err));
        ldjob_free(c, j); /* in no list yet */
        return false;
    }
    j->next = c->jobs;
    c->jobs = j;
    c->stats.pages_offloaded++;
    for (size_t i = 0; i < res->nkvs; i++) {
        qitem *it = enqueue(c, Q_LOAD, NULL);
        it->job = j;
        it->ji = i;
    }
    return true;
}

/* A queued load of a page on a thread: its kv and object, taken from the
 * job (freed with its last). */
static void ldjob_take(store_cache *c, const qitem *it)
{
    ldjob *j = it->job;
    obj *o = j->objs[it->ji];
    j->objs[it->ji] = NULL;
    load_one(c, &j->kvs[it->ji], o);
    store_kv_release(&j->kvs[it->ji]);
    if (--j->left == 0)
        ldjob_free(c, j);
}

/* Applies queued changes for one slice of the loop's time. */
static void on_slice(evutil_socket_t fd, short what, void *arg)
{
    store_cache *c = arg;
    int64_t deadline = cr_mono_us() + c->slice_budget_us;
    bool events = false;

    while (c->qlen) {
        if (c->q[c->qhead].job && !c->q[c->qhead].job->done)
            break; /* its thread is still at it: ldjob_done wakes us */
        qitem it = c->q[c->qhead];
        int64_t rev = it.kind == Q_PUT || it.kind == Q_DELETE ? it.kv.mod_revision : 0;
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
        switch (it.kind) {
        case Q_PUT:
        case Q_DELETE:
            apply_event(c, it.kind == Q_PUT, &it.kv);
            events = true;
            break;
        case Q_LOAD:
            if (it.job)
                ldjob_take(c, &it);
            else
                load_one(c, &it.kv, NULL);
            break;
        case Q_RELIST:
            apply_put(c, &it.kv);
            break;
        case Q_LISTED:
            listed(c, it.kv.mod_revision);
            break;
        }
        store_kv_release(&it.kv);
        /* Never stop inside a revision: the changes of one txn reach the
         * readers of the next loop turn together. (A pass that read a
         * deploy status of revision R beside the request status of before
         * R wrote the request status back without its active deploy, and
         * the request's tasks were killed.) */
        if (c->qlen && rev && same_revision(&c->q[c->qhead], rev))
            continue;
        if (c->qlen && cr_mono_us() > deadline) {
            schedule_slice(c);
            break;
        }
    }
    if (c->page_wanted && c->qlen < LOAD_AHEAD)
        ask_page(c);
    if (events)
        tell_revision(c);
}

/* A list arrived: a first list fills the cache silently (subscribers read
 * it once synced); a re-list tells them what changed meanwhile. Either is
 * applied a slice per loop turn; the watch starts when it is all in. */
static void on_list(void *arg, const store_result *res, const cr_err *err)
{
    store_cache *c = arg;
    bool first = !c->synced && c->n == 0;

    c->listing = false;
    if (err) {
        cr_warn(c->log, "cache: listing %s: %s; retrying", c->watched, cr_err_msg(err));
        schedule_list(c);
        return;
    }
    c->backoff_ms = 0;
    while (c->qlen) {                  /* events from before the compaction go first */
        ldjob *j = c->q[c->qhead].job; /* (none: jobs are a first load's) */
        if (j && !j->done)
            ldjob_wait(j);
        on_slice(-1, 0, c);
    }
    if (!first) {
        c->relist_rev = res->revision;
        relist_deletions(c, res);
    }
    reserve(c, c->n + res->nkvs);
    for (size_t i = 0; i < res->nkvs; i++)
        enqueue(c, first ? Q_LOAD : Q_RELIST, &res->kvs[i]);
    store_kv listed_at = {.mod_revision = res->revision};
    enqueue(c, Q_LISTED, &listed_at);
    on_slice(-1, 0, c);
}

/* The first load failed part way: forget what it loaded and start again
 * later (nobody has read it: the cache is not synced). */
static void load_failed(store_cache *c, const cr_err *err)
{
    cr_warn(c->log, "cache: listing %s: %s; retrying", c->watched, cr_err_msg(err));
    for (size_t i = 0; i < c->qlen; i++)
        store_kv_release(&c->q[(c->qhead + i) % c->qcap].kv);
    c->qlen = 0;
    ldjob_free_all(c);
    store_cache_feed_clear(c);
    store_pager_release(&c->load);
    c->load_rev = 0;
    c->page_wanted = false;
    c->listing = false;
    schedule_list(c);
}

static void on_page(void *arg, const store_result *res, const cr_err *err);

static void ask_page(store_cache *c)
{
    cr_err err;

    c->page_wanted = false;
    if (store_list_page(c->s, &c->load, c->load_rev, on_page, c, &err) < 0)
        load_failed(c, &err);
}

/* A page of the first load: queued for decoding like a list, and the next
 * page asked for at once, or once the queue has drained below LOAD_AHEAD
 * (on_slice), so decoding overlaps etcd's reading and the whole list is
 * never held twice (as kvs and as objects). The watch starts after the
 * last page, from the revision every page was read at. */
static void on_page(void *arg, const store_result *res, const cr_err *err)
{
    store_cache *c = arg;

    if (err) {
        load_failed(c, err);
        return;
    }
    if (!c->load_rev)
        c->load_rev = res->revision;
    if (!ldjob_start(c, res))
        for (size_t i = 0; i < res->nkvs; i++)
            enqueue(c, Q_LOAD, &res->kvs[i]);
    c->stats.pages++;
    if (store_pager_next(&c->load, res->kvs, res->nkvs, res->more)) {
        if (c->qlen < LOAD_AHEAD)
            ask_page(c);
        else
            c->page_wanted = true;
    } else {
        store_kv listed_at = {.mod_revision = c->load_rev};
        enqueue(c, Q_LISTED, &listed_at);
        store_pager_release(&c->load);
        c->load_rev = 0;
        c->listing = false;
        c->backoff_ms = 0;
    }
    on_slice(-1, 0, c);
}

/* A first load goes a page at a time; a re-list (after a compaction)
 * needs every key to find the deleted ones, so it takes the list whole. */
static int list_now(store_cache *c, cr_err *err)
{
    if (!c->synced && c->n == 0 && c->qlen == 0) {
        c->load_rev = 0;
        store_pager_release(&c->load);
        store_pager_init(&c->load, c->watched, STORE_PAGE_SIZE);
        if (store_list_page(c->s, &c->load, 0, on_page, c, err) < 0)
            return -1;
        return 0;
    }
    return store_list(c->s, c->watched, 0, on_list, c, err);
}

static void start_list(store_cache *c)
{
    cr_err err;
    if (c->listing)
        return;
    c->listing = true;
    if (list_now(c, &err) < 0) {
        c->listing = false;
        cr_warn(c->log, "cache: listing %s: %s; retrying", c->watched, cr_err_msg(&err));
        schedule_list(c);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    start_list(arg);
}

/* ---- lifecycle and reads ---------------------------------------------------------- */

store_cache *store_cache_new(struct event_base *base, store *s, const store_cache_config *cfg)
{
    store_cache *c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->s = s;
    c->log = cfg ? cfg->log : NULL;
    c->slice_budget_us = cfg && cfg->slice_budget_us > 0 ? cfg->slice_budget_us : SLICE_BUDGET_US;
    c->offload_min = !cfg || cfg->load_offload_min == 0 ? LOAD_OFFLOAD_MIN
                     : cfg->load_offload_min < 0        ? 0
                                                        : (size_t)cfg->load_offload_min;
    c->prefix = xstrdup(cfg && cfg->prefix ? cfg->prefix : API_DEFAULT_PREFIX);
    c->watched = xasprintf("%s/", c->prefix);
    if (base) {
        c->retry_ev = evtimer_new(base, on_retry, c);
        c->wake_ev = event_new(base, -1, 0, on_wake, c);
        c->slice_ev = evtimer_new(base, on_slice, c);
    }
    return c;
}

int store_cache_start(store_cache *c, cr_err *err)
{
    if (c->started)
        return 0;
    if (!c->s || !c->base) {
        cr_error(err, CR_EINVAL, "cache: no store to list from");
        return -1;
    }
    c->started = true;
    c->listing = true;
    if (list_now(c, err) < 0) {
        c->listing = false;
        c->started = false;
        return -1;
    }
    return 0;
}

void store_cache_free(store_cache *c)
{
    if (!c)
        return;
    if (c->s)
        store_cancel(c->s, c);
    store_watch_free(c->watch);
    if (c->retry_ev)
        event_free(c->retry_ev);
    if (c->wake_ev)
        event_free(c->wake_ev);
    if (c->slice_ev)
        event_free(c->slice_ev);
    for (size_t i = 0; i < c->qlen; i++)
        store_kv_release(&c->q[(c->qhead + i) % c->qcap].kv);
    ldjob_free_all(c);
    free(c->q);
    store_pager_release(&c->load);
    for (size_t i = 0; i < c->n; i++)
        store_obj_unref(&c->v[i]->pub);
    for (size_t i = 0; i < c->nwaits; i++)
        free(c->waits[i].tag);
    free(c->waits);
    free(c->subs);
    free(c->v);
    free(c->watched);
    free(c->prefix);
    free(c);
}

const char *store_cache_prefix(const store_cache *c)
{
    return c->prefix;
}

bool store_cache_synced(const store_cache *c)
{
    return c->synced;
}

int64_t store_cache_relisting(const store_cache *c)
{
    return c->relist_rev;
}

int64_t store_cache_revision(const store_cache *c)
{
    return c->revision;
}

const store_obj *store_cache_get(const store_cache *c, const char *key)
{
    size_t i = lower_bound(c, key);
    return i < c->n && strcmp(c->v[i]->key, key) == 0 ? &c->v[i]->pub : NULL;
}

size_t store_cache_range(const store_cache *c, const char *prefix, size_t *first)
{
    size_t plen = strlen(prefix), i = lower_bound(c, prefix), j = i;
    while (j < c->n && strncmp(c->v[j]->key, prefix, plen) == 0)
        j++;
    *first = i;
    return j - i;
}

const store_obj *store_cache_at(const store_cache *c, size_t i)
{
    return i < c->n ? &c->v[i]->pub : NULL;
}

size_t store_cache_len(const store_cache *c)
{
    return c->n;
}

void store_cache_get_stats(const store_cache *c, store_cache_stats *out)
{
    *out = c->stats;
    out->objects = c->n;
}

/* ---- feeding by hand -------------------------------------------------------------- */

void store_cache_feed_raw(store_cache *c, const char *key, const char *value, size_t len,
                          int64_t create_revision, int64_t mod_revision)
{
    store_kv kv = {.key = (char *)key,
                   .value = (char *)value,
                   .value_len = len,
                   .create_revision = create_revision,
                   .mod_revision = mod_revision};
    put_obj(c, obj_new(c, &kv));
    if (!c->started && mod_revision > c->revision)
        c->revision = mod_revision;
}

void store_cache_feed_json(store_cache *c, const char *key, json_t *value,
                           int64_t create_revision, int64_t mod_revision)
{
    store_kv kv = {
        .key = (char *)key, .create_revision = create_revision, .mod_revision = mod_revision};
    put_obj(c, obj_make(c, &kv, true, value));
    if (!c->started && mod_revision > c->revision)
        c->revision = mod_revision;
}

void store_cache_feed_delete(store_cache *c, const char *key, int64_t revision)
{
    apply_delete(c, key);
    if (!c->started && revision > c->revision)
        c->revision = revision;
}

void store_cache_feed_clear(store_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        store_obj_unref(&c->v[i]->pub);
    c->n = 0;
    c->stats.bytes = 0;
    c->synced = false;
}

void store_cache_feed_revision(store_cache *c, int64_t revision)
{
    if (revision > c->revision)
        c->revision = revision;
    tell_revision(c);
}

void store_cache_feed_relisting(store_cache *c, int64_t revision)
{
    c->relist_rev = revision;
}

void store_cache_feed_synced(store_cache *c, bool synced)
{
    c->synced = synced;
    if (synced)
        tell_synced(c);
}
