/* The bridge's I/O shell: etcd caches, the SUBSCRIBE stream, calls, and the
 * loop that launches, kills, stores updates and reconciles. Decisions are
 * delegated to the pure parts (placement.c, launch.c, logic.c, events.c,
 * calls.c); see mesosbridge.h for the contract. */
#include "mesosbridge/mesosbridge.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/offload.h"
#include "base/xalloc.h"
#include "apis/keys.h"
#include "controllers/runner.h"
#include "apis/shell.h"
#include "mesosbridge/agents.h"
#include "mesosbridge/events.h"
#include "mesosbridge/launch.h"
#include "mesosbridge/logic.h"
#include "mesosbridge/map.h"
#include "mesosbridge/offers.h"
#include "mesosbridge/placement.h"
#include "mesosbridge/recordio.h"

#define MB_MAX_RECORD          (64u << 20)
#define MB_MAX_TASKS_PER_OFFER 40
#define MB_AGENT_REFRESH_MS    60000  /* GET_AGENTS at least this often */
#define MB_AGENT_SOON_MS       5000   /* and at most this often when an event asks */
#define MB_AGENT_SEEN_MS       600000 /* lastSeenAt of an unchanged agent rewritten */
#define MB_FW_RETRY_MS         1000   /* re-read of an unreadable framework document */
#define MB_REVIVE_MIN_MS       1000
/* Placement work per offers cycle, in (task, offer) checks (about 25 ms):
 * a cycle that runs out defers the rest of the queue to the next turn of
 * the loop. Every task checks every held offer, so with 5,000 agents this
 * is 10 tasks a turn, with 50 agents 1,000. */
#define MB_PLACE_MAX_CHECKS 50000
/* ...and of launches built per cycle (a launch costs more than a check:
 * the TaskInfo, the record, its part of the txn; ~250 are ~15 ms). */
#define MB_PLACE_MAX_TASKS 250
/* With more offers held than twice this, a task takes the best of the
 * first tenth that fit it, or of this many if more, not of all: see
 * enough_fits in placement.h. At 5,000 agents a full look cost 5,000 checks
 * a task, so the budget placed 10 tasks a turn; with 900 offers left of
 * 1,000 agents, 55 tasks a turn while thousands waited. */
#define MB_PLACE_SAMPLE 100
/* Mesos calls in flight at once; the rest wait in order. Each is its own
 * connection to the master, and a convergence sends thousands of
 * ACKNOWLEDGEs and ACCEPTs in bursts: unbounded, they held 600
 * connections and their buffers open at 10,000 tasks. */
#define MB_CALLS_IN_FLIGHT 32
/* The implicit reconciliation after SUBSCRIBED waits for the explicit round
 * to end, but no longer than this. */
#define MB_IMPLICIT_AFTER_MS 30000

/* ---- views of the process's cache --------------------------------------------- */

enum { INF_REQ, INF_DEP, INF_PEND, INF_TASK, INF_CLEAN, INF_AGENT, INF_RACK, INF_SHELL, N_INF };
/* The key kind each index holds. */
static const api_key_kind inf_kinds[N_INF] = {API_KEY_REQUEST, API_KEY_DEPLOY, API_KEY_PENDING,
                                              API_KEY_TASK,    API_KEY_CLEANUP, API_KEY_AGENT,
                                              API_KEY_RACK,    API_KEY_SHELL};

/* A document of the cache the bridge acts on (a reference keeps it). */
typedef struct doc {
    const char *key; /* the cache object's */
    int64_t mod_rev;
    /* api_request / api_deploy / api_pending_task / api_cleanup; agents and
     * racks: the store_obj (ref); shells: its json_t */
    const void *obj;
    const store_obj *ref;
    struct mb *b;  /* pending documents: the bridge whose queue holds them */
    bool retired;  /* pending documents: gone from the index, freed by the queue */
} doc;

/* The bridge's index of one kind of key, fed by the shared cache. Pending
 * tasks leave it as soon as their launch txn lands, before the cache says
 * so, and tasks live in b->tasks (records the bridge updates). */
typedef struct inf {
    struct mb *b;
    int kind;
    char *prefix;
    bool synced;
    mb_map docs; /* key suffix -> doc (INF_TASK uses b->tasks instead) */
} inf;

typedef struct ack {
    char *agent_id, *task_id, *uuid;
} ack;

typedef struct acks {
    size_t n;
    ack *v;
} acks;

/* A task the bridge knows (from etcd or launched by it). Its record is
 * the cache's document while the two agree: a live task costs one decoded
 * record, not two. The bridge changes a private copy (tentry_own: Mesos
 * updates; a launch starts with one), writes it, and goes back to the
 * cache's document once the cache holds the written revision. */
typedef struct tentry {
    const api_task *rec;  /* own, or ref's document */
    api_task *own;        /* the bridge's copy while it differs from the cache's; or NULL */
    const store_obj *ref; /* the cache object rec belongs to (a reference) when own is NULL */
    const char *key;      /* ref's key, or the entry's own copy (key_own) */
    int64_t mod_rev; /* of the stored record; 0 = not stored */
    bool key_own;    /* key is a copy: there is no ref (~80 bytes a task less) */
    bool writing, dirty;
    unsigned recon_batch; /* the RECONCILE batch it was last sent in, unanswered (0: none) */
    int64_t retry_at; /* mono: not written before (a failed write, a STARTING hold) */
    acks waiting, inflight;
    int64_t heard_ms; /* mono: last status from Mesos; 0 = never */
    int64_t last_kill_ms;
    int64_t last_recon_ms;
} tentry;

/* The bridge's tasks of one request: placement counts only the tasks of
 * the requests it places, so it asks for those instead of every task. */
typedef struct tlist {
    size_t n, cap;
    tentry **v;
} tlist;

static void tasks_put(struct mb *b, tentry *te);
static tentry *tasks_del(struct mb *b, const char *tid);

static void tlist_free(void *p)
{
    tlist *l = p;
    if (l)
        free(l->v);
    free(l);
}

typedef struct held {
    mb_offer offer;
    int64_t received_ms;
    unsigned gen; /* subscription it came with */
} held;

/* Something in flight whose callback needs context. */
typedef struct op {
    struct op *next, *prev;
    struct mb *b;
    int kind;
    char *s1;        /* task id / key */
    size_t n_offers; /* launch: offers used */
    double refuse_s; /* launch: the ACCEPT's filter */
    held *offers;
    size_t n_tasks;
    api_task **tasks; /* launch: records written */
    char **pend_keys;
    cr_http_req *req; /* Mesos call */
    int64_t sent_us;  /* when req was started (call latency) */
    unsigned gen;     /* GET_AGENTS, a call: the subscription it was made in */
    char *s2, *s3;    /* restore: agent id and uuid of the update to ACK; call: its body (s2) */
    struct op *qnext; /* call: the next one waiting for a slot */
} op;

enum {
    OP_CALL,
    OP_LAUNCH,
    OP_TASKW,
    OP_TASKGET,
    OP_FW,
    OP_AGENT,
    OP_CLEANDEL,
    OP_AGENTS,
    OP_FWSTATUS,
    OP_RESTORE
};

struct mb {
    struct event_base *base;
    ctl_runner *offers_r; /* drives the offer cycle (its one key, OFFERS_KEY) */
    cr_http *http;
    size_t calls_out;          /* Mesos calls in flight */
    op *calls_head, *calls_tail; /* calls waiting for one of them to end */
    store *st;
    store_cache *cache;     /* the process's (borrowed), or own_cache */
    store_cache *own_cache; /* when the config gives none */
    cr_log *log;
    /* config */
    char *prefix;
    char **masters;
    size_t n_masters, cur_master;
    char *leader_url;
    char *fw_user, *fw_name, *fw_hostname, *fw_webui, *fw_principal;
    char **fw_roles;
    double failover;
    char *leader_key;
    int64_t leader_rev;
    char *executor_path, *default_rack, *rack_attr;
    api_strmap reserve_attrs;
    mb_offer_policy offer_policy;
    long kill_retry_ms, implicit_ms, recon_cap_ms, launch_timeout_ms, sub_cap_ms;
    long recon_batch;
    size_t offload_bytes; /* events this big are decoded on a thread */
    int hb_misses;
    void (*on_stopped)(void *, const cr_err *);
    void *arg;
    /* state */
    bool started, stopped;
    char *stop_reason;
    char *framework_id;
    bool fw_loaded, fw_loading;
    /* An unreadable framework document blocks subscribing until it is
     * fixed or deleted (re-read every MB_FW_RETRY_MS and on every change). */
    char *fw_error;      /* why, or NULL */
    int64_t fw_rev;      /* mod_revision of the document last read; 0 none */
    int64_t fw_retry_ms; /* mono: next read allowed */
    /* The framework id SUBSCRIBED gave is stored before any launch: offers
     * wait while fw_unstored (a write in flight, or one that failed and is
     * retried every MB_FW_RETRY_MS), so no task runs under an id a next
     * leader cannot find. */
    bool fw_unstored, fw_writing;
    int64_t fw_store_retry_ms;
    /* status/framework: what was last planned and whether it is stored */
    api_framework_status fw_status;
    bool fw_status_writing, fw_status_dirty;
    /* agents from the master (GET_AGENTS) */
    op *agents_op;            /* the call in flight */
    struct agents_job *agents_job; /* its answer being decoded off the loop */
    bool agents_want;         /* a refresh was asked for */
    int64_t agents_next_ms;   /* mono: the next periodic refresh */
    int64_t agents_last_ms;   /* mono: the last request sent */
    size_t machines_inflight; /* agent/rack document writes of the last plan */
    int64_t agents_cost_ms;   /* loop time the last answer took (decode, plan) */
    long agents_refresh_ms;
    inf inf[N_INF];
    /* subscription */
    cr_http_req *sub;
    long sub_status;
    char *stream_id;
    bool subscribed;
    unsigned gen; /* bumped on every SUBSCRIBED */
    mb_recordio rio;
    /* Events in stream order: a big one is decoded off the loop (ev_job),
     * and the records after it wait in evq until it has been handled. */
    unsigned stream_gen; /* bumped when a stream starts or is dropped */
    struct ev_job *ev_job;
    struct ev_rec *evq;
    size_t evq_head, evq_n, evq_cap;
    int64_t last_event_ms;
    double hb_s;
    mb_backoff sub_backoff;
    int redirects;
    bool sub_scheduled;
    struct event *sub_timer, *tick, *kick;
    /* offers */
    held *offers;
    size_t n_offers;
    bool suppressed, new_pending;
    size_t last_due; /* due pending tasks at the last cycle */
    /* The launch queue: every pending document, in launch order (nextRunAt,
     * key), kept as documents come and go instead of sorted each cycle
     * (100,000 of them took a cycle ~100 ms). New ones wait in pq_new and
     * leaving ones are marked retired; pend_queue merges both in. */
    mb_map tasks_by_req; /* request id -> tlist of its entries in b->tasks */
    doc **pq, **pq_new;
    size_t pq_n, pq_new_n, pq_new_cap, pq_retired;
    int64_t place_from_run; /* place_from's nextRunAt (its place in the queue) */
    int64_t last_revive_ms;
    char *place_from;    /* pending key a budget-cut cycle stopped at, or NULL */
    size_t place_failed; /* tasks tried in vain since the current pass began */
    /* tasks */
    mb_map tasks;       /* taskId -> tentry */
    mb_map launching;   /* pending key -> (void *)1 while its launch txn runs */
    mb_map reasons;     /* pending key -> preason: the last status/pending written */
    int reasons_reset;  /* 0: clear status/pending left by earlier leaders; 1: running; 2: done */
    mb_map foreign;     /* taskId -> int64_t * last KILL of a task Corral does not know */
    mb_map restoring;   /* taskId -> (void *)1 while its record comes back from history */
    mb_map shells;      /* shell document key -> shell_st (task shell commands) */
    mb_map agents_seen; /* "c:"cleanup key -> int64_t * last delete of a stale cleanup */
    mb_recon recon;
    int64_t next_implicit_ms;
    op *ops;
    mb_stats stats;
};

static void work(mb *b, bool tick);
static void kick(mb *b);
static void schedule_subscribe(mb *b, long delay_ms);
static void stop_for_good(mb *b, cr_code code, const char *why);
static void task_flush(mb *b, tentry *te);
static void fw_status_note(mb *b);
static void agents_ask(mb *b);

/* ---- small helpers ---------------------------------------------------------------- */

static char **split_list(const char *s, size_t *n)
{
    char **v = NULL;
    *n = 0;
    if (!s)
        return NULL;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ')) {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            v = xrealloc(v, (*n + 2) * sizeof(char *));
            v[(*n)++] = xstrndup(p, len);
            v[*n] = NULL;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return v;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static op *op_new(mb *b, int kind)
{
    op *o = xcalloc(1, sizeof(*o));
    o->b = b;
    o->kind = kind;
    o->next = b->ops;
    if (b->ops)
        b->ops->prev = o;
    b->ops = o;
    return o;
}

static void op_free(op *o)
{
    mb *b = o->b;
    if (o->prev)
        o->prev->next = o->next;
    else
        b->ops = o->next;
    if (o->next)
        o->next->prev = o->prev;
    free(o->s1);
    free(o->s2);
    free(o->s3);
    for (size_t i = 0; i < o->n_offers; i++)
        mb_offer_release(&o->offers[i].offer);
    free(o->offers);
    for (size_t i = 0; i < o->n_tasks; i++) {
        api_task_free(o->tasks[i]);
        free(o->pend_keys[i]);
    }
    free(o->tasks);
    free(o->pend_keys);
    free(o);
}

static void acks_add(acks *a, const char *agent, const char *task, const char *uuid)
{
    a->v = xrealloc(a->v, (a->n + 1) * sizeof(ack));
    a->v[a->n++] = (ack){xstrdup(agent), xstrdup(task), xstrdup(uuid)};
}

static void acks_release(acks *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].agent_id);
        free(a->v[i].task_id);
        free(a->v[i].uuid);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* Frees the entry's own copy of its key, if it has one. */
static void tentry_key_release(tentry *te)
{
    if (te->key_own)
        free((char *)te->key);
    te->key_own = false;
}

static void tentry_free(void *p)
{
    tentry *te = p;
    if (!te)
        return;
    api_task_free(te->own);
    store_obj_unref(te->ref);
    tentry_key_release(te);
    acks_release(&te->waiting);
    acks_release(&te->inflight);
    free(te);
}

static void doc_free(void *p)
{
    doc *d = p;
    if (!d)
        return;
    store_obj_unref(d->ref);
    free(d);
}

/* A pending document leaving the index stays in the launch queue
 * (b->pq) until the next cycle's pend_queue frees it. */
static void pend_retire(void *p);

static void (*const doc_freer[N_INF])(void *) = {doc_free, doc_free, pend_retire, tentry_free,
                                                 doc_free, doc_free, doc_free, doc_free};

static const char *last_component(const char *s)
{
    const char *p = strrchr(s, '/');
    return p ? p + 1 : s;
}

static bool is_fenced(const mb *b)
{
    return b->leader_key && *b->leader_key;
}

static store_txn *txn_new(mb *b)
{
    store_txn *t = store_txn_new();
    if (is_fenced(b))
        store_txn_fence(t, b->leader_key, b->leader_rev);
    return t;
}

/* A write failed: lost leadership stops the bridge for good. */
static bool check_fatal(mb *b, const cr_err *err)
{
    if (err && err->code == CR_ENOTLEADER) {
        stop_for_good(b, CR_ENOTLEADER, "lost leadership (fenced etcd write)");
        return true;
    }
    return false;
}

/* ---- Mesos calls ------------------------------------------------------------------ */

static const char *master_url(const mb *b)
{
    if (b->leader_url)
        return b->leader_url;
    return b->n_masters ? b->masters[b->cur_master % b->n_masters] : "";
}

static mb_call_kind call_kind(const char *type);
static void calls_next(mb *b);

static void call_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    op *o = arg;
    mb *b = o->b;
    cr_hist_observe(&b->stats.calls[call_kind(o->s1)].latency,
                    (double)(cr_mono_us() - o->sent_us) / 1e6);
    if (err)
        cr_warn(b->log, "mesos call %s failed: %s", o->s1, cr_err_msg(err));
    else if (resp->status == 403 || (resp->status == 400 && strstr(resp->body, "stream ID"))) {
        /* not subscribed any more, or a stale stream: re-subscribe */
        cr_warn(b->log, "mesos call %s: %ld %s; re-subscribing", o->s1, resp->status, resp->body);
        if (b->sub) {
            cr_http_cancel(b->sub);
            b->sub = NULL;
            b->subscribed = false;
            schedule_subscribe(b, 0);
        }
    } else if (resp->status >= 300)
        cr_warn(b->log, "mesos call %s: %ld %s", o->s1, resp->status, resp->body);
    o->req = NULL;
    op_free(o);
    b->calls_out--;
    calls_next(b);
}

/* Posts call o (its type in s1, its body in s2) to the master now. */
static void call_post(mb *b, op *o)
{
    cr_err err;
    char *url = xasprintf("%s/api/v1/scheduler", master_url(b));
    char *sid = xasprintf("Mesos-Stream-Id: %s", b->stream_id);
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", sid, NULL};
    cr_http_opts ho = {.method = "POST",
                       .url = url,
                       .headers = hdrs,
                       .body = o->s2,
                       .body_len = strlen(o->s2),
                       .timeout_ms = 30000,
                       .connect_timeout_ms = 5000,
                       .max_body = 1 << 20,
                       .on_done = call_done,
                       .arg = o};
    cr_debug(b->log, "mesos call: %s", o->s2);
    o->sent_us = cr_mono_us();
    o->req = cr_http_start(b->http, &ho, &err);
    if (o->req) {
        if (++b->calls_out > b->stats.calls_in_flight_max)
            b->stats.calls_in_flight_max = b->calls_out;
    } else {
        cr_warn(b->log, "mesos call %s: %s", o->s1, cr_err_msg(&err));
        op_free(o);
    }
    free(url);
    free(sid);
}

/* Posts waiting calls while slots are free. A call whose subscription
 * ended while it waited (even if another began since) is dropped, as if it had been sent into the
 * closed stream: Mesos sends the update again (ACKNOWLEDGE), rescinds the
 * offer (ACCEPT, DECLINE; reconciliation finds launched tasks) and the
 * kill is repeated (KILL). */
static void calls_next(mb *b)
{
    while (b->calls_head && b->calls_out < MB_CALLS_IN_FLIGHT) {
        op *o = b->calls_head;
        b->calls_head = o->qnext;
        if (!b->calls_head)
            b->calls_tail = NULL;
        if (b->subscribed && b->stream_id && o->gen == b->gen)
            call_post(b, o);
        else
            op_free(o);
    }
}

/* Sends a call of the given type as its JSON text (taken), at once or after
 * the calls before it (MB_CALLS_IN_FLIGHT). Calls need a live subscription. */
static bool send_call_text(mb *b, const char *type, char *text)
{
    if (!b->subscribed || !b->stream_id) {
        free(text);
        return false;
    }
    op *o = op_new(b, OP_CALL);
    o->gen = b->gen; /* a waiting call belongs to this subscription only */
    o->s1 = xstrdup(type);
    o->s2 = text;
    if (b->calls_out < MB_CALLS_IN_FLIGHT && !b->calls_head) {
        call_post(b, o);
    } else {
        b->stats.calls_waited++;
        if (b->calls_tail)
            b->calls_tail->qnext = o;
        else
            b->calls_head = o;
        b->calls_tail = o;
    }
    return true;
}

/* send_call_text of call (consumed). */
static bool send_call(mb *b, json_t *call)
{
    bool sent = false;

    if (b->subscribed && b->stream_id)
        sent = send_call_text(b, json_string_value(json_object_get(call, "type")),
                              json_dumps(call, JSON_COMPACT));
    json_decref(call);
    return sent;
}

static void send_ack(mb *b, const ack *a)
{
    if (send_call(b, mb_call_acknowledge(b->framework_id, a->agent_id, a->task_id, a->uuid)))
        b->stats.acks++;
}

static void send_kill(mb *b, const char *task_id, const char *agent_id, int64_t grace_ms)
{
    if (send_call(b, mb_call_kill(b->framework_id, task_id, agent_id, grace_ms))) {
        b->stats.kills++;
        cr_logkv(b->log, CR_LOG_INFO, (const cr_log_kv[]){{"task", task_id}, {"agent", agent_id}},
                 2, "KILL %s (grace %lld ms)", task_id, (long long)grace_ms);
    }
}

/* ---- framework id ----------------------------------------------------------------- */

static char *fw_key(const mb *b)
{
    return api_key_framework(b->prefix);
}

static void fw_get_done(void *arg, const store_result *res, const cr_err *err)
{
    mb *b = arg;
    char *id = NULL, *why = NULL;
    char *key = fw_key(b);
    int64_t rev = 0;
    mb_fw_doc got;

    b->fw_loading = false;
    b->fw_retry_ms = cr_mono_ms() + MB_FW_RETRY_MS;
    if (err) {
        cr_warn(b->log, "reading the framework id: %s", cr_err_msg(err));
        free(key);
        return; /* the tick retries */
    }
    if (res->nkvs)
        rev = res->kvs[0].mod_revision;
    got = mb_framework_read(res->nkvs ? res->kvs[0].value : NULL,
                            res->nkvs ? res->kvs[0].value_len : 0, &id, &why);
    if (got == MB_FW_UNREADABLE) {
        /* Never "absent": a new framework would run every task twice. */
        char *msg = xasprintf("%s (revision %lld) is unreadable: %s; not subscribing until it "
                              "is fixed (put {\"frameworkId\":\"<id>\"}) or deleted (a new "
                              "framework is registered)",
                              key, (long long)rev, why);
        if (!b->fw_error || rev != b->fw_rev || strcmp(msg, b->fw_error))
            cr_errorlog(b->log, "mesosbridge blocked: framework document %s", msg);
        free(b->fw_error);
        b->fw_error = msg;
        b->fw_rev = rev;
        free(why);
        free(key);
        fw_status_note(b);
        return;
    }
    if (b->fw_error)
        cr_info(b->log, "framework document %s %s: the bridge proceeds", key,
                got == MB_FW_OK ? "fixed" : "deleted");
    free(b->fw_error);
    b->fw_error = NULL;
    b->fw_rev = rev;
    if (got == MB_FW_OK) {
        free(b->framework_id);
        b->framework_id = id;
    }
    b->fw_loaded = true;
    cr_info(b->log, "framework id: %s", b->framework_id ? b->framework_id : "(none yet)");
    free(key);
    fw_status_note(b);
    kick(b);
}

static void fw_store(mb *b);

static void fw_put_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    bool current = !o->s1 == !b->framework_id && (!o->s1 || !strcmp(o->s1, b->framework_id));

    b->fw_writing = false;
    if (b->stopped) {
        op_free(o);
        return;
    }
    if (err) {
        if (!check_fatal(b, err)) {
            cr_warn(b->log, "storing the framework id: %s", cr_err_msg(err));
            b->fw_store_retry_ms = cr_mono_ms() + MB_FW_RETRY_MS; /* the tick retries */
        }
    } else if (!current) {
        fw_store(b); /* SUBSCRIBED again meanwhile */
    } else {
        b->fw_unstored = false;
        kick(b); /* the offers waited */
    }
    op_free(o);
}

/* Stores the framework id, or deletes the document when there is none
 * (Mesos removed the framework: the next SUBSCRIBE registers a new one). */
static void fw_store(mb *b)
{
    cr_err err;
    char *key;
    store_txn *t;

    b->fw_unstored = true;
    if (b->fw_writing)
        return; /* its answer writes the newest */
    key = fw_key(b);
    t = txn_new(b);
    if (b->framework_id) {
        api_framework fw = {
            .frameworkId = b->framework_id, .has_updatedAt = true, .updatedAt = cr_wall_ms()};
        json_t *j = api_framework_to_json(&fw);
        char *v = json_dumps(j, JSON_COMPACT);
        store_txn_put(t, STORE_THEN, key, v, strlen(v), NULL);
        json_decref(j);
        free(v);
    } else {
        store_txn_delete(t, STORE_THEN, key, false);
    }
    op *o = op_new(b, OP_FW);
    o->s1 = b->framework_id ? xstrdup(b->framework_id) : NULL;
    b->fw_writing = true;
    if (store_write(b->st, t, fw_put_done, o, &err) < 0) {
        cr_warn(b->log, "storing the framework id: %s", cr_err_msg(&err));
        b->fw_writing = false;
        b->fw_store_retry_ms = cr_mono_ms() + MB_FW_RETRY_MS;
        op_free(o);
    }
    free(key);
}

/* ---- status/framework -------------------------------------------------------------- */

static void fw_status_flush(mb *b);

static void fw_status_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    op_free(o);
    b->fw_status_writing = false;
    if (err) {
        if (check_fatal(b, err))
            return;
        cr_warn(b->log, "writing the bridge's status: %s", cr_err_msg(err));
        b->fw_status_dirty = true; /* the tick retries */
        return;
    }
    if (b->fw_status_dirty)
        fw_status_flush(b);
}

/* Writes the planned status (one write in flight; fenced). */
static void fw_status_flush(mb *b)
{
    cr_err err;
    if (b->fw_status_writing || !b->fw_status_dirty)
        return;
    char *key = api_key_framework_status(b->prefix);
    json_t *j = api_framework_status_to_json(&b->fw_status);
    char *v = json_dumps(j, JSON_COMPACT);
    store_txn *t = txn_new(b);
    store_txn_put(t, STORE_THEN, key, v, strlen(v), NULL);
    op *o = op_new(b, OP_FWSTATUS);
    b->fw_status_dirty = false;
    b->fw_status_writing = true;
    if (store_write(b->st, t, fw_status_done, o, &err) < 0) {
        cr_warn(b->log, "writing the bridge's status: %s", cr_err_msg(&err));
        b->fw_status_writing = false;
        b->fw_status_dirty = true;
        op_free(o);
    }
    json_decref(j);
    free(v);
    free(key);
}

/* Plans the status from the bridge's state; writes it when it changed. */
static void fw_status_note(mb *b)
{
    mb_fw_state st = {.blocked = b->fw_error != NULL,
                      .stopped = b->stopped,
                      .subscribed = b->subscribed,
                      .framework_id = b->framework_id,
                      .master = master_url(b),
                      .error = b->fw_error ? b->fw_error : b->stop_reason,
                      .observed_rev = b->fw_rev};
    if (!b->started || (b->stopped && !b->stop_reason))
        return; /* not started, or fenced out: nothing may be written */
    if (mb_fw_status_set(&b->fw_status, &st, cr_wall_ms())) {
        b->fw_status_dirty = true;
        fw_status_flush(b);
    }
}

/* ---- the cache's documents ----------------------------------------------------- */

/* The entry's record becomes the cache object's document (referenced). */
static void tentry_share(tentry *te, const store_obj *so)
{
    const store_obj *old = te->ref;
    te->ref = store_obj_ref(so);
    tentry_key_release(te);
    te->key = so->key;
    store_obj_unref(old);
    api_task_free(te->own);
    te->own = NULL;
    te->rec = so->doc;
}

/* The entry's record, to change: the bridge's copy, made now if the entry
 * shares the cache's document. */
static api_task *tentry_own(tentry *te)
{
    if (!te->own) {
        te->own = api_task_dup(te->rec);
        te->rec = te->own;
        if (!te->key_own) {
            te->key = xstrdup(te->key); /* ref's goes with it */
            te->key_own = true;
        }
        store_obj_unref(te->ref);
        te->ref = NULL;
    }
    return te->own;
}

/* Goes back to the cache's document once the entry has nothing left to
 * write and the cache holds its stored revision (or a newer one): the
 * watch event of a write can come before the write's answer. */
static void tentry_share_stored(mb *b, tentry *te)
{
    const store_obj *so = store_cache_get(b->cache, te->key);
    if (te->own && !te->writing && !te->dirty && so && so->doc && so->mod_revision >= te->mod_rev) {
        tentry_share(te, so);
        te->mod_rev = so->mod_revision;
    }
}

/* Task records from the cache: the bridge reads the cache's document and
 * copies it only to change it (tentry_own). */
static void task_apply_put(mb *b, const store_obj *so)
{
    const api_task *cached = so->doc;
    if (!cached) {
        cr_warn(b->log, "ignoring task record %s: %s", so->key,
                so->error ? so->error : "does not decode");
        return;
    }
    tentry *te = mb_map_get(&b->tasks, cached->taskId.id);
    if (te) {
        if (te->writing || te->dirty || so->mod_revision < te->mod_rev || te->ref == so)
            return; /* our write in flight or owed, or older */
        /* as stored: our own write come back, or a newer one */
        tentry_share(te, so);
        te->mod_rev = so->mod_revision;
        return;
    }
    te = xcalloc(1, sizeof(*te));
    te->mod_rev = so->mod_revision;
    tentry_share(te, so); /* the key is so's */
    tasks_put(b, te);
}

static void task_apply_delete(mb *b, const char *key)
{
    const char *tid = last_component(key);
    tentry *te = mb_map_get(&b->tasks, tid);
    if (!te || te->writing)
        return; /* a write in flight finds out through its compare */
    /* moved to history by the controllers: updates still owed an ACK get it */
    for (size_t i = 0; i < te->waiting.n; i++)
        send_ack(b, &te->waiting.v[i]);
    tentry_free(tasks_del(b, tid));
}

/* The document the bridge uses from a cache object, or NULL. Requests and
 * deploys are taken as written (the controllers judge their validity). */
static const void *doc_of(mb *b, int kind, const store_obj *so)
{
    const void *obj = NULL;
    switch (kind) {
    case INF_DEP: {
        const api_deploy *d = so->doc;
        obj = d && d->id && d->requestId ? d : NULL;
        break;
    }
    case INF_REQ:
    case INF_PEND:
    case INF_CLEAN:
        obj = so->doc;
        break;
    case INF_AGENT:
    case INF_RACK: /* kept as text when valid: read through machine_state */
        obj = so->doc || json_is_object(so->value) ? so : NULL;
        break;
    default:
        obj = json_is_object(so->value) ? so->value : NULL;
        break;
    }
    if (!obj)
        cr_warn(b->log, "ignoring %s: %s", so->key, so->error ? so->error : "does not decode");
    return obj;
}

static void inf_put(inf *in, const store_obj *so)
{
    mb *b = in->b;
    if (in->kind == INF_TASK) {
        task_apply_put(b, so);
        return;
    }
    const char *suffix = so->key + strlen(in->prefix);
    doc *old = mb_map_get(&in->docs, suffix);
    if (old && old->mod_rev >= so->mod_revision)
        return;
    const void *obj = doc_of(b, in->kind, so);
    if (!obj) {
        doc_freer[in->kind](mb_map_del(&in->docs, suffix));
        return;
    }
    doc *d = xcalloc(1, sizeof(*d));
    d->ref = store_obj_ref(so);
    d->key = so->key;
    d->mod_rev = so->mod_revision;
    d->obj = obj;
    if (in->kind == INF_PEND) {
        if (!old)
            b->new_pending = true;
        d->b = b;
        if (b->pq_new_n == b->pq_new_cap) {
            b->pq_new_cap = b->pq_new_cap ? 2 * b->pq_new_cap : 64;
            b->pq_new = xrealloc(b->pq_new, b->pq_new_cap * sizeof(doc *));
        }
        b->pq_new[b->pq_new_n++] = d;
    }
    doc_freer[in->kind](mb_map_put(&in->docs, suffix, d));
}

static void inf_del(inf *in, const char *key)
{
    if (in->kind == INF_TASK) {
        task_apply_delete(in->b, key);
        return;
    }
    doc_freer[in->kind](mb_map_del(&in->docs, key + strlen(in->prefix)));
}

/* The bridge's index a cache object belongs to, or NULL. */
static inf *inf_of(mb *b, const store_obj *so)
{
    for (int i = 0; i < N_INF; i++)
        if (inf_kinds[i] == so->kind)
            return &b->inf[i];
    return NULL;
}

/* Fills the index of one kind from the cache (at start and after the
 * cache listed again), replacing what it held. */
static void inf_load(inf *in)
{
    mb *b = in->b;
    size_t first, n = store_cache_range(b->cache, in->prefix, &first);
    if (in->kind == INF_TASK) {
        /* keep entries with writes in flight; drop the others not listed */
        mb_map keep = MB_MAP_INIT;
        for (size_t i = first; i < first + n; i++)
            mb_map_put(&keep, last_component(store_cache_at(b->cache, i)->key), (void *)1);
        char **gone = xcalloc(b->tasks.n + 1, sizeof(char *));
        size_t ng = 0;
        for (mb_map_iter it = mb_map_first(&b->tasks); it.e; mb_map_next(&b->tasks, &it)) {
            tentry *te = it.e->val;
            if (!te->writing && !mb_map_get(&keep, it.e->key))
                gone[ng++] = xstrdup(it.e->key);
        }
        for (size_t i = 0; i < ng; i++) {
            tentry *te = tasks_del(b, gone[i]);
            for (size_t k = 0; k < te->waiting.n; k++)
                send_ack(b, &te->waiting.v[k]);
            tentry_free(te);
            free(gone[i]);
        }
        free(gone);
        mb_map_release(&keep, NULL);
    } else {
        mb_map_release(&in->docs, doc_freer[in->kind]);
    }
    for (size_t i = first; i < first + n; i++)
        inf_put(in, store_cache_at(b->cache, i));
    in->synced = true;
}

static void on_cache_change(void *arg, const store_obj *old, const store_obj *cur)
{
    mb *b = arg;
    if ((cur ? cur : old)->kind == API_KEY_FRAMEWORK && b->fw_error) {
        b->fw_retry_ms = 0; /* an operator fixed or deleted it: read it again now */
        kick(b);
        return;
    }
    inf *in = inf_of(b, cur ? cur : old);
    if (!in || !in->synced)
        return;
    if (cur)
        inf_put(in, cur);
    else
        inf_del(in, old->key);
}

static void on_cache_revision(void *arg, int64_t revision)
{
    kick(arg);
}

/* The cache listed (again): take everything from it. */
static void on_cache_synced(void *arg)
{
    mb *b = arg;
    for (int i = 0; i < N_INF; i++)
        inf_load(&b->inf[i]);
    kick(b);
}

static bool all_synced(const mb *b)
{
    for (int i = 0; i < N_INF; i++)
        if (!b->inf[i].synced)
            return false;
    return true;
}

static doc *doc_get(mb *b, int kind, const char *suffix)
{
    return mb_map_get(&b->inf[kind].docs, suffix);
}

/* ---- the bridge's tasks, by id and by request ------------------------------------------ */

static void by_req_add(mb *b, tentry *te)
{
    tlist *l = mb_map_get(&b->tasks_by_req, te->rec->taskId.requestId);
    if (!l) {
        l = xcalloc(1, sizeof(*l));
        mb_map_put(&b->tasks_by_req, te->rec->taskId.requestId, l);
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(tentry *));
    }
    l->v[l->n++] = te;
}

static void by_req_del(mb *b, tentry *te)
{
    tlist *l = mb_map_get(&b->tasks_by_req, te->rec->taskId.requestId);
    for (size_t i = 0; l && i < l->n; i++) {
        if (l->v[i] != te)
            continue;
        l->v[i] = l->v[--l->n];
        if (!l->n)
            tlist_free(mb_map_del(&b->tasks_by_req, te->rec->taskId.requestId));
        return;
    }
}

/* Adds te under its task id, replacing (and freeing) an entry there. */
static void tasks_put(mb *b, tentry *te)
{
    tentry *old = mb_map_put(&b->tasks, te->rec->taskId.id, te);
    if (old)
        by_req_del(b, old);
    by_req_add(b, te);
    tentry_free(old);
}

/* Removes the entry of task id tid; returns it (the caller frees it). */
static tentry *tasks_del(mb *b, const char *tid)
{
    tentry *te = mb_map_del(&b->tasks, tid);
    if (te)
        by_req_del(b, te);
    return te;
}

/* ---- task records: storing updates ------------------------------------------------ */

static void task_write_done(void *arg, const store_result *res, const cr_err *err);

static void task_get_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    tentry *te = mb_map_get(&b->tasks, o->s1);
    if (!te) {
        op_free(o);
        return;
    }
    te->writing = false;
    if (err) {
        te->dirty = true;
        te->retry_at = cr_mono_ms() + 1000;
    } else if (!res->nkvs) {
        /* deleted (moved to history): nothing to store; release the ACKs */
        for (size_t i = 0; i < te->inflight.n; i++)
            send_ack(b, &te->inflight.v[i]);
        for (size_t i = 0; i < te->waiting.n; i++)
            send_ack(b, &te->waiting.v[i]);
        tentry_free(tasks_del(b, o->s1));
    } else {
        /* someone else wrote it: our record (with the new updates) wins,
         * against the current revision */
        te->mod_rev = res->kvs[0].mod_revision;
        for (size_t i = 0; i < te->inflight.n; i++)
            acks_add(&te->waiting, te->inflight.v[i].agent_id, te->inflight.v[i].task_id,
                     te->inflight.v[i].uuid);
        acks_release(&te->inflight);
        te->dirty = true;
        task_flush(b, te);
    }
    op_free(o);
}

static void task_write_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    tentry *te = mb_map_get(&b->tasks, o->s1);
    cr_err gerr;
    if (!te) {
        op_free(o);
        return;
    }
    if (err) {
        if (check_fatal(b, err)) {
            op_free(o);
            return;
        }
        cr_warn(b->log, "storing task %s: %s", o->s1, cr_err_msg(err));
        te->writing = false;
        te->dirty = true;
        te->retry_at = cr_mono_ms() + 1000;
        for (size_t i = 0; i < te->inflight.n; i++)
            acks_add(&te->waiting, te->inflight.v[i].agent_id, te->inflight.v[i].task_id,
                     te->inflight.v[i].uuid);
        acks_release(&te->inflight);
        op_free(o);
        return;
    }
    if (!res->succeeded) {
        /* the record changed or vanished under us: look at it again */
        op *g = op_new(b, OP_TASKGET);
        g->s1 = xstrdup(o->s1);
        if (store_get(b->st, te->key, 0, task_get_done, g, &gerr) < 0) {
            op_free(g);
            te->writing = false;
            te->dirty = true;
            te->retry_at = cr_mono_ms() + 1000;
        }
        op_free(o);
        return;
    }
    te->writing = false;
    te->mod_rev = res->revision;
    /* stored: now the updates may be acknowledged */
    for (size_t i = 0; i < te->inflight.n; i++)
        send_ack(b, &te->inflight.v[i]);
    acks_release(&te->inflight);
    op_free(o);
    if (te->dirty)
        task_flush(b, te);
    else if (te->waiting.n) { /* duplicates that needed no write */
        for (size_t i = 0; i < te->waiting.n; i++)
            send_ack(b, &te->waiting.v[i]);
        acks_release(&te->waiting);
    }
    tentry_share_stored(b, te);
}

/* Writes the entry's record if it changed (one write in flight per task);
 * the ACKs waiting on it go out when it is stored. */
static void task_flush(mb *b, tentry *te)
{
    cr_err err;
    if (te->writing)
        return;
    if (!te->dirty) {
        for (size_t i = 0; i < te->waiting.n; i++)
            send_ack(b, &te->waiting.v[i]);
        acks_release(&te->waiting);
        return;
    }
    size_t vlen;
    char *v = api_task_text(te->rec, &vlen);
    store_txn *t = txn_new(b);
    if (te->mod_rev > 0)
        store_txn_if_mod(t, te->key, STORE_EQ, te->mod_rev);
    else
        store_txn_if_create(t, te->key, STORE_EQ, 0);
    store_txn_put(t, STORE_THEN, te->key, v, vlen, NULL);
    free(v);
    /* a terminal state ends the kill intent too */
    if (api_task_state_terminal(te->rec->lastTaskState) &&
        doc_get(b, INF_CLEAN, te->rec->taskId.id)) {
        char *ck = api_cleanup_key(b->prefix, te->rec->taskId.id);
        store_txn_delete(t, STORE_THEN, ck, false);
        free(ck);
    }
    op *o = op_new(b, OP_TASKW);
    o->s1 = xstrdup(te->rec->taskId.id);
    te->inflight = te->waiting;
    te->waiting = (acks){0, NULL};
    te->writing = true;
    te->dirty = false;
    if (store_write(b->st, t, task_write_done, o, &err) < 0) {
        cr_warn(b->log, "storing task %s: %s", o->s1, cr_err_msg(&err));
        te->writing = false;
        te->dirty = true;
        te->retry_at = cr_mono_ms() + 1000;
        te->waiting = te->inflight;
        te->inflight = (acks){0, NULL};
        op_free(o);
    }
}

/* ---- status updates ---------------------------------------------------------------- */

static int64_t kill_grace(mb *b, const tentry *te)
{
    doc *c = doc_get(b, INF_CLEAN, te->rec->taskId.id);
    const api_cleanup *cl = c ? c->obj : NULL;
    if (cl && cl->has_killGracePeriodMillis)
        return cl->killGracePeriodMillis;
    if (cl && cl->cleanupType && !strcmp(cl->cleanupType, "USER_REQUESTED_DESTROY"))
        return 0;
    return te->rec->has_killGracePeriodMillis ? te->rec->killGracePeriodMillis : -1;
}

/* ---- tasks coming back (issue 24) -------------------------------------------------- */

static void restore_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    mb_map_del(&b->restoring, o->s1);
    if (err) {
        check_fatal(b, err);
    } else if (res->succeeded) {
        cr_info(b->log, "task %s is back: its record left history", o->s1);
        if (o->s2 && o->s3)
            send_ack(b, &(ack){o->s2, o->s1, o->s3});
    }
    /* not stored: an ACKed update comes again, a reconciliation answer too */
    op_free(o);
}

/* A task Corral no longer tracks that Mesos reports alive. If history holds
 * it in a state it may come back from (api_task_state_may_return: held past
 * its time, LOST, GONE_BY_OPERATOR), it is the same task: its record moves
 * back to tasks/ with this update, in one txn (history unchanged since read,
 * no live record), and the controllers decide which copies to keep. Returns
 * false when it is not such a task (the caller kills it). */
static bool restore_from_history(mb *b, const mb_status *s)
{
    if (mb_map_get(&b->restoring, s->task_id))
        return true; /* in flight */
    api_task_id tid;
    cr_err err;
    if (api_task_id_parse(s->task_id, &tid, &err) < 0)
        return false;
    char *hkey = api_key_history_task(b->prefix, tid.requestId, s->task_id);
    char *tkey = api_key_task(b->prefix, tid.requestId, s->task_id);
    api_task_id_release(&tid);
    const store_obj *so = store_cache_get(b->cache, hkey);
    json_t *j = so ? store_obj_json(so) : NULL;
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts opts = {.allow_unknown = true};
    api_task *t = j ? api_task_from_json(j, &opts, &probs) : NULL;
    json_decref(j);
    api_problems_release(&probs);
    bool ok = t && !strcmp(t->taskId.id, s->task_id) && api_task_state_may_return(t->lastTaskState);
    if (ok) {
        api_task_update u = {
            s->state,   s->timestamp > 0 ? (int64_t)(s->timestamp * 1000) : cr_wall_ms(),
            s->message, s->reason,
            s->source,  s->uuid};
        api_task_add_update(t, &u);
        if (s->has_healthy) {
            t->has_healthy = true;
            t->healthy = s->healthy;
        }
        size_t vlen;
        char *v = api_task_text(t, &vlen);
        store_txn *x = txn_new(b);
        store_txn_if_mod(x, hkey, STORE_EQ, so->mod_revision);
        store_txn_if_create(x, tkey, STORE_EQ, 0);
        store_txn_put(x, STORE_THEN, tkey, v, vlen, NULL);
        store_txn_delete(x, STORE_THEN, hkey, false);
        free(v);
        op *o = op_new(b, OP_RESTORE);
        o->s1 = xstrdup(s->task_id);
        o->s2 = s->agent_id ? xstrdup(s->agent_id) : NULL;
        o->s3 = s->uuid ? xstrdup(s->uuid) : NULL;
        mb_map_put(&b->restoring, s->task_id, (void *)1);
        cr_warn(b->log, "task %s is %s again after %s: the same task, taken back from history",
                s->task_id, s->state_name, api_task_state_name(t->lastTaskState));
        if (store_write(b->st, x, restore_done, o, &err) < 0) {
            cr_warn(b->log, "restoring task %s: %s", s->task_id, cr_err_msg(&err));
            mb_map_del(&b->restoring, s->task_id);
            op_free(o);
        }
    }
    api_task_free(t);
    free(hkey);
    free(tkey);
    return ok;
}

/* TASK_RUNNING follows TASK_STARTING within moments, so a record whose only
 * news is STARTING waits this long (the one-second tick stores it then) for
 * RUNNING to share its write: one etcd write per launched task fewer, and
 * the record still keeps both updates. STARTING is acknowledged at once, as
 * the agent sends a task's next update only after the last one's ACK; it is
 * the one update that may be lost (a leader dying within the hold), and it
 * carries nothing the next state does not supersede. */
#define STARTING_HOLD_MS 1000

static void on_update(mb *b, const mb_status *s)
{
    int64_t now = cr_mono_ms();
    b->stats.updates++;
    tentry *te = mb_map_get(&b->tasks, s->task_id);
    if (s->state == API_TASK_STATE_NONE) {
        cr_warn(b->log, "update for %s with unknown state %s", s->task_id, s->state_name);
        if (s->uuid && s->agent_id)
            send_ack(b, &(ack){s->agent_id, s->task_id, s->uuid});
        return;
    }
    if (!te) {
        /* a task Corral does not know: kill it if it runs, ACK regardless;
         * unless history says it may come back (then its record returns and
         * the ACK waits for that write) */
        if (!api_task_state_terminal(s->state) && !api_task_state_held(s->state) &&
            restore_from_history(b, s))
            return;
        if (!api_task_state_terminal(s->state) && !api_task_state_held(s->state)) {
            int64_t *last = mb_map_get(&b->foreign, s->task_id);
            if (!last || now - *last >= b->kill_retry_ms) {
                if (!last) {
                    last = xcalloc(1, sizeof(*last));
                    mb_map_put(&b->foreign, s->task_id, last);
                }
                *last = now;
                cr_warn(b->log, "task %s (%s) is unknown to Corral: killing it", s->task_id,
                        s->state_name);
                send_kill(b, s->task_id, s->agent_id, -1);
            }
        } else {
            free(mb_map_del(&b->foreign, s->task_id));
        }
        if (s->uuid && s->agent_id)
            send_ack(b, &(ack){s->agent_id, s->task_id, s->uuid});
        return;
    }
    te->heard_ms = now;
    if (te->recon_batch) {
        mb_recon_answered(&b->recon, te->recon_batch);
        te->recon_batch = 0;
    }
    api_task_state cur = te->rec->lastTaskState;
    /* LOST or GONE_BY_OPERATOR then alive: the same task (issue 24); the
     * controllers settle the copies. Held states are not terminal at all. */
    if (api_task_state_terminal(cur) && !api_task_state_terminal(s->state) &&
        !api_task_state_may_return(cur)) {
        /* already finished in Corral (e.g. LOST, replaced) but alive again */
        cr_warn(b->log, "task %s is %s but was %s: killing it", s->task_id, s->state_name,
                api_task_state_name(cur));
        send_kill(b, s->task_id, s->agent_id, -1);
        if (s->uuid && s->agent_id)
            send_ack(b, &(ack){s->agent_id, s->task_id, s->uuid});
        return;
    }
    /* a reconciliation answer that repeats the state we know is no change */
    api_task_update u = {
        s->state,   s->timestamp > 0 ? (int64_t)(s->timestamp * 1000) : cr_wall_ms(),
        s->message, s->reason,
        s->source,  s->uuid};
    bool changed = false, was_dirty = te->dirty;
    if (!(s->reason && !strcmp(s->reason, "REASON_RECONCILIATION") && s->state == cur) &&
        api_task_update_is_new(te->rec, &u))
        changed = api_task_add_update(tentry_own(te), &u);
    if (changed) {
        api_task *w = te->own;
        if (s->has_healthy) {
            w->has_healthy = true;
            w->healthy = s->healthy;
        }
        int code = mb_exit_code_from_message(s->message);
        if (code >= 0) {
            w->has_exitCode = true;
            w->exitCode = code;
        } else if (s->state == API_TASK_FINISHED && !w->has_exitCode) {
            w->has_exitCode = true;
            w->exitCode = 0;
        }
        if (!w->agentId && s->agent_id)
            w->agentId = xstrdup(s->agent_id);
        te->dirty = true;
        cr_log_task(b->log, CR_LOG_INFO, te->rec->taskId.requestId, te->rec->taskId.deployId,
                    s->task_id, "task %s: %s%s%s", s->task_id, s->state_name,
                    s->message ? ": " : "", s->message ? s->message : "");
    }
    if (changed && s->state == API_TASK_STARTING && !was_dirty && !te->writing) {
        if (s->uuid && s->agent_id)
            send_ack(b, &(ack){s->agent_id, s->task_id, s->uuid});
        te->retry_at = now + STARTING_HOLD_MS;
        return;
    }
    if (s->uuid && s->agent_id)
        acks_add(&te->waiting, s->agent_id, s->task_id, s->uuid);
    task_flush(b, te);
}

/* ---- offers and launches ----------------------------------------------------------- */

static const char *offer_rack(const mb *b, const mb_offer *o)
{
    return mb_rack_of(o->attrs, o->n_attrs, b->rack_attr, b->default_rack);
}

/* An agent's or rack's currentState.state (doc_of keeps the cache object):
 * its typed document's, or its tree's when it does not decode. NULL when
 * absent. */
static const char *machine_state(const doc *d)
{
    const store_obj *so = d->obj;
    const api_machine *m = so->doc;

    if (m)
        return m->has_currentState && m->currentState.state != API_MSTATE_UNSET
                   ? api_machine_state_name(m->currentState.state)
                   : NULL;
    return json_string_value(json_object_get(json_object_get(so->value, "currentState"), "state"));
}

/* Not to be given tasks: in a state other than ACTIVE (mb_machine_active). */
static bool state_inactive(const doc *d)
{
    const char *s = machine_state(d);
    return s && strcmp(s, "ACTIVE") != 0;
}

static bool offer_inactive(mb *b, const mb_offer *o, const char *rack)
{
    doc *a = doc_get(b, INF_AGENT, o->agent_id);
    doc *r = doc_get(b, INF_RACK, rack);
    return (a && state_inactive(a)) || (r && state_inactive(r));
}

static void decline_offers(mb *b, const char *const *ids, size_t n, double refuse)
{
    if (!n)
        return;
    if (send_call(b, mb_call_decline(b->framework_id, ids, n, refuse)))
        b->stats.offers_declined += n;
}

/* A launch group never written (the offer runner stopped): forget it. */
static void launch_drop(void *arg)
{
    op *o = arg;
    for (size_t i = 0; i < o->n_tasks; i++)
        mb_map_del(&o->b->launching, o->pend_keys[i]);
    op_free(o);
}

/* A launch group's txn answered (ctl_then.written): ACCEPT with its tasks,
 * or give the offer back to the next cycle. */
static void launch_written(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    for (size_t i = 0; i < o->n_tasks; i++)
        mb_map_del(&b->launching, o->pend_keys[i]);
    if (err || !res->succeeded) {
        if (err && check_fatal(b, err)) {
            op_free(o);
            return;
        }
        cr_warn(b->log, "launch txn on offer %s %s; offer kept", o->offers[0].offer.id,
                err ? cr_err_msg(err) : "lost a race (pending task changed)");
        /* give the offer back for the next cycle, unless it died with its
         * subscription */
        if (o->offers[0].gen == b->gen && b->subscribed) {
            b->offers = xrealloc(b->offers, (b->n_offers + 1) * sizeof(held));
            b->offers[b->n_offers++] = o->offers[0];
            o->n_offers = 0;
        }
        /* no kick: the runner plans again, at once after a failed compare,
         * after its backoff after an error (a write etcd refuses would
         * otherwise be retried every loop turn) */
        op_free(o);
        return;
    }
    /* intents stored: now ACCEPT, with the TaskInfos as the records keep
     * them (text, spliced into the call) */
    const char **tis = xcalloc(o->n_tasks + 1, sizeof(char *));
    size_t *lens = xcalloc(o->n_tasks + 1, sizeof(size_t)), n_tis = 0;
    char **tmps = xcalloc(o->n_tasks + 1, sizeof(char *));
    const char *ids[] = {o->offers[0].offer.id};
    for (size_t i = 0; i < o->n_tasks; i++)
        if ((tis[n_tis] = api_task_mesos_text(o->tasks[i], &lens[n_tis], &tmps[i])))
            n_tis++;
    /* built before the records move: the cache's copy may replace one */
    char *accept = mb_call_accept_text(b->framework_id, ids, 1, tis, lens, n_tis, o->refuse_s);
    for (size_t i = 0; i < o->n_tasks; i++)
        free(tmps[i]);
    free(tmps);
    free(lens);
    free(tis);
    int64_t now = cr_mono_ms();
    for (size_t i = 0; i < o->n_tasks; i++) {
        api_task *t = o->tasks[i];
        tentry *te = xcalloc(1, sizeof(*te));
        te->key = api_task_key(b->prefix, t->taskId.requestId, t->taskId.id);
        te->key_own = true;
        te->mod_rev = res->revision;
        te->own = t; /* until the cache has it */
        te->rec = t;
        te->heard_ms = now; /* not part of an ongoing reconciliation round */
        o->tasks[i] = NULL;
        tasks_put(b, te);
        tentry_share_stored(b, te);
        doc_freer[INF_PEND](
            mb_map_del(&b->inf[INF_PEND].docs, o->pend_keys[i] + strlen(b->inf[INF_PEND].prefix)));
        cr_log_task(b->log, CR_LOG_INFO, te->rec->taskId.requestId, te->rec->taskId.deployId,
                    te->rec->taskId.id, "launching %s on %s (offer %s)", te->rec->taskId.id,
                    te->rec->hostname, o->offers[0].offer.id);
        b->stats.launched++;
    }
    if (!send_call_text(b, "ACCEPT", accept))
        cr_warn(b->log,
                "ACCEPT of offer %s not sent (not subscribed): reconciliation will "
                "report the tasks",
                ids[0]);
    op_free(o);
}

static int cmp_pending(const void *a, const void *b)
{
    const doc *x = *(doc *const *)a, *y = *(doc *const *)b;
    const api_pending_task *p = x->obj, *q = y->obj;
    if (p->pendingTaskId.nextRunAt != q->pendingTaskId.nextRunAt)
        return p->pendingTaskId.nextRunAt < q->pendingTaskId.nextRunAt ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void pend_retire(void *p)
{
    doc *d = p;
    if (d && !d->retired) {
        d->retired = true;
        d->b->pq_retired++;
    }
}

/* Brings the launch queue up to date: frees the retired documents and
 * merges the new ones in (sorted among themselves first): pointer moves
 * over the queue once a cycle, not a sort of all of it. */
static void pend_queue(mb *b)
{
    size_t k = 0, i = 0, j = 0, m = 0;
    if (!b->pq_new_n && !b->pq_retired)
        return;
    for (size_t x = 0; x < b->pq_new_n; x++) {
        doc *d = b->pq_new[x];
        if (d->retired) {
            b->pq_retired--;
            doc_free(d);
        } else {
            b->pq_new[k++] = d;
        }
    }
    qsort(b->pq_new, k, sizeof(doc *), cmp_pending);
    doc **merged = xmalloc((b->pq_n + k + 1) * sizeof(doc *));
    while (i < b->pq_n || j < k) {
        if (i < b->pq_n && b->pq[i]->retired) {
            b->pq_retired--;
            doc_free(b->pq[i++]);
        } else if (j >= k || (i < b->pq_n && cmp_pending(&b->pq[i], &b->pq_new[j]) <= 0)) {
            merged[m++] = b->pq[i++];
        } else {
            merged[m++] = b->pq_new[j++];
        }
    }
    free(b->pq);
    b->pq = merged;
    b->pq_n = m;
    b->pq_new_n = 0;
}

/* First position in the queue not before (run, key). */
static size_t pend_lower_bound(const mb *b, int64_t run, const char *key)
{
    size_t lo = 0, hi = b->pq_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const doc *d = b->pq[mid];
        int64_t r = ((const api_pending_task *)d->obj)->pendingTaskId.nextRunAt;
        if (r < run || (r == run && strcmp(d->key, key) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The deploy document of a pending task, or NULL. */
static doc *pend_deploy(mb *b, const api_pending_task *p)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s/%s", p->pendingTaskId.requestId,
                     p->pendingTaskId.deployId);
    if (n > 0 && (size_t)n < sizeof(buf))
        return doc_get(b, INF_DEP, buf);
    char *dk = xasprintf("%s/%s", p->pendingTaskId.requestId, p->pendingTaskId.deployId);
    doc *d = doc_get(b, INF_DEP, dk);
    free(dk);
    return d;
}

/* The next at most `max` pending tasks that may launch now (due, request
 * and deploy known, not already launching), in launch order from where the
 * last cycle stopped (place_from), wrapping around; caller frees the array.
 * *n_due: the due tasks in all, *total: the pending ones (counted from the
 * queue's positions when the window filled up before the end: a due task
 * whose request or deploy is unknown counts too; exact otherwise).
 * *after: the due task after the window, or NULL. */
static doc **due_pending(mb *b, int64_t wall, size_t max, size_t *n_win, size_t *n_due,
                         size_t *total, doc **after)
{
    pend_queue(b);
    size_t launching = b->launching.n, due_n = pend_lower_bound(b, wall + 1, "");
    size_t start = 0, w = 0, s;
    *total = b->pq_n > launching ? b->pq_n - launching : 0;
    *n_due = due_n > launching ? due_n - launching : 0;
    if (b->place_from) {
        start = pend_lower_bound(b, b->place_from_run, b->place_from);
        if (start >= due_n)
            start = 0;
    }
    doc **v = xcalloc((max < due_n ? max : due_n) + 1, sizeof(doc *));
    *after = NULL;
    for (s = 0; s < due_n; s++) {
        doc *d = b->pq[(start + s) % due_n];
        const api_pending_task *p = d->obj;
        if (mb_map_get(&b->launching, d->key) ||
            !doc_get(b, INF_REQ, p->pendingTaskId.requestId) || !pend_deploy(b, p))
            continue;
        if (w == max) {
            *after = d;
            break;
        }
        v[w++] = d;
    }
    *n_win = w;
    if (!*after || *n_due < w) /* every due task looked at: the count is exact */
        *n_due = w;
    return v;
}

/* ---- why pending tasks wait (status/pending) ---------------------------------------- */

typedef struct preason {
    char *reason; /* mb_place_reason_name of the last write */
    char *skey;   /* the status/pending key */
} preason;

static void preason_free(void *p)
{
    preason *r = p;
    if (!r)
        return;
    free(r->reason);
    free(r->skey);
    free(r);
}

static void reason_write_done(void *arg, const store_result *res, const cr_err *err)
{
    mb *b = arg;
    if (err && !check_fatal(b, err))
        cr_warn(b->log, "writing a placement reason: %s", cr_err_msg(err));
}

/* Records why a pending task found no offer, writing only when the reason
 * changed since the last write (batched, fenced). */
/* Records why a pending task fits none of the `no` offers (message
 * borrowed), when it differs from what was last written. */
static void reason_note(mb *b, const doc *d, mb_place_reason r, const char *message, size_t no)
{
    const char *name = mb_place_reason_name(r);
    if (b->reasons_reset != 2)
        return;
    preason *pr = mb_map_get(&b->reasons, d->key);
    if (pr && !strcmp(pr->reason, name))
        return;
    const api_pending_task *p = d->obj;
    if (!pr) {
        pr = xcalloc(1, sizeof(*pr));
        pr->skey =
            api_key_pending_status(b->prefix, p->pendingTaskId.requestId, p->pendingTaskId.id);
        mb_map_put(&b->reasons, d->key, pr);
    }
    free(pr->reason);
    pr->reason = xstrdup(name);
    api_place_reason why = {.reason = (char *)name,
                            .message = (char *)message,
                            .has_since = true,
                            .since = cr_wall_ms(),
                            .has_offers = true,
                            .offers = (int64_t)no};
    json_t *j = api_place_reason_to_json(&why);
    char *v = json_dumps(j, JSON_COMPACT);
    store_txn *txn = txn_new(b);
    store_txn_put(txn, STORE_THEN, pr->skey, v, strlen(v), NULL);
    cr_err err;
    if (store_write(b->st, txn, reason_write_done, b, &err) < 0) {
        cr_warn(b->log, "writing a placement reason: %s", cr_err_msg(&err));
        preason_free(mb_map_del(&b->reasons, d->key)); /* try again next cycle */
    }
    json_decref(j);
    free(v);
}

static void reasons_reset_done(void *arg, const store_result *res, const cr_err *err)
{
    mb *b = arg;
    b->reasons_reset = err ? 0 : 2; /* on error the next turn retries */
    if (err && !check_fatal(b, err))
        cr_warn(b->log, "clearing old placement reasons: %s", cr_err_msg(err));
}

/* Deletes the reasons of pending tasks that launched or went away. A new
 * bridge first clears every reason (earlier leaders' may be stale; their
 * tasks get theirs again at the next failed cycle). */
static void reasons_sweep(mb *b)
{
    if (!b->reasons_reset) {
        cr_err err;
        char *pfx = api_key_kind_prefix(b->prefix, API_KEY_PENDING_STATUS, NULL);
        store_txn *t = txn_new(b);
        store_txn_delete(t, STORE_THEN, pfx, true);
        b->reasons_reset = 1;
        if (store_txn_commit(b->st, t, reasons_reset_done, b, &err) < 0) {
            b->reasons_reset = 0;
            cr_warn(b->log, "clearing old placement reasons: %s", cr_err_msg(&err));
        }
        free(pfx);
    }
    if (!b->reasons.n)
        return;
    const char *pfx = b->inf[INF_PEND].prefix;
    size_t n = 0;
    char **gone = xcalloc(b->reasons.n + 1, sizeof(char *));
    for (mb_map_iter it = mb_map_first(&b->reasons); it.e; mb_map_next(&b->reasons, &it))
        if (strncmp(it.e->key, pfx, strlen(pfx)) ||
            !doc_get(b, INF_PEND, it.e->key + strlen(pfx)))
            gone[n++] = xstrdup(it.e->key);
    for (size_t i = 0; i < n; i++) {
        preason *pr = mb_map_del(&b->reasons, gone[i]);
        store_txn *txn = txn_new(b);
        store_txn_delete(txn, STORE_THEN, pr->skey, false);
        cr_err err;
        if (store_write(b->st, txn, reason_write_done, b, &err) < 0)
            cr_warn(b->log, "deleting a placement reason: %s", cr_err_msg(&err));
        preason_free(pr);
        free(gone[i]);
    }
    free(gone);
}

static bool task_known(void *arg, const char *task_id)
{
    mb *b = arg;
    return mb_map_get(&b->tasks, task_id) != NULL;
}

/* How many fitting offers a task looks at with `no` offers held: all (0) up to
 * twice MB_PLACE_SAMPLE, then a tenth of them, at least MB_PLACE_SAMPLE. */
static size_t sample_size(size_t no)
{
    if (no <= 2 * MB_PLACE_SAMPLE)
        return 0;
    return no / 10 > MB_PLACE_SAMPLE ? no / 10 : MB_PLACE_SAMPLE;
}

/* The offer cycle: gather the plan's inputs (offers held, due pending
 * tasks with their request and deploy from the cache, active tasks, active
 * racks), run the pure mb_offers_plan (offers.h), carry it out. */
static void offers_cycle(mb *b, ctl_ops *ops)
{
    int64_t now = cr_mono_ms(), wall = cr_wall_ms();
    size_t no = b->n_offers, n_win = 0, n_due = 0, n_total = 0;
    /* The plan is given only the tasks it could try: the budget places at
     * most MB_PLACE_MAX_TASKS, and a task that fits nothing costs a check
     * per offer. A cycle cut short resumes where it stopped (place_from),
     * so tasks that fit no offer cannot starve the ones queued behind. */
    size_t window = MB_PLACE_MAX_TASKS + MB_PLACE_MAX_CHECKS / (no ? no : 1) + 1;
    doc *after = NULL;
    doc **due = due_pending(b, wall, window, &n_win, &n_due, &n_total, &after);
    if (no) {
        free(b->place_from);
        b->place_from = NULL;
    }

    mb_offers_task *dt = xcalloc(n_win + 1, sizeof(*dt));
    for (size_t i = 0; i < n_win; i++) {
        const api_pending_task *p = due[i]->obj;
        dt[i] = (mb_offers_task){due[i]->key, p, doc_get(b, INF_REQ, p->pendingTaskId.requestId)->obj,
                                 pend_deploy(b, p)->obj};
    }
    mb_offers_offer *oo = xcalloc(no + 1, sizeof(*oo));
    mb_place_active *act_v = NULL;
    const char **racks = NULL;
    size_t n_act = 0, nrk = 0;
    /* where each offer is: for placement, and for the offer cache (it keeps
     * only offers of ACTIVE agents) */
    for (size_t k = 0; k < no; k++) {
        const char *rack = NULL;
        bool inactive = false;
        if (n_win || b->offer_policy.cache_max) {
            rack = offer_rack(b, &b->offers[k].offer);
            inactive = offer_inactive(b, &b->offers[k].offer, rack);
        }
        oo[k] = (mb_offers_offer){&b->offers[k].offer, b->offers[k].received_ms, rack, inactive};
    }
    if (no && n_win) { /* placement inputs, only when there is something to place */
        /* the live tasks of the requests being placed (placement counts
         * only theirs), each request once */
        mb_map seen = MB_MAP_INIT;
        size_t cap = 0;
        for (size_t i = 0; i < n_win; i++) {
            const char *rid = dt[i].pend->pendingTaskId.requestId;
            const tlist *l = rid ? mb_map_get(&b->tasks_by_req, rid) : NULL;
            if (!l || mb_map_get(&seen, rid))
                continue;
            mb_map_put(&seen, rid, (void *)1);
            if (n_act + l->n >= cap) {
                cap = 2 * (n_act + l->n) + 16;
                act_v = xrealloc(act_v, cap * sizeof(*act_v));
            }
            for (size_t k = 0; k < l->n; k++) {
                const tentry *te = l->v[k];
                if (api_task_state_terminal(te->rec->lastTaskState))
                    continue;
                act_v[n_act++] = (mb_place_active){te->rec->taskId.requestId,
                                                   te->rec->taskId.deployId, te->rec->agentId,
                                                   te->rec->taskId.rackId};
            }
        }
        mb_map_release(&seen, NULL);
        /* the active racks known in etcd spread rack-sensitive requests */
        inf *ri = &b->inf[INF_RACK];
        racks = xcalloc(ri->docs.n + 1, sizeof(char *));
        for (mb_map_iter it = mb_map_first(&ri->docs); it.e; mb_map_next(&ri->docs, &it))
            if (!state_inactive(it.e->val))
                racks[nrk++] = it.e->key;
        if (!nrk) {
            /* no rack documents: placement learns the racks from the offers
             * and from every live task, not only those of these requests */
            n_act = 0;
            act_v = xrealloc(act_v, (b->tasks.n + 1) * sizeof(*act_v));
            for (mb_map_iter it = mb_map_first(&b->tasks); it.e; mb_map_next(&b->tasks, &it)) {
                const tentry *te = it.e->val;
                if (!api_task_state_terminal(te->rec->lastTaskState))
                    act_v[n_act++] = (mb_place_active){
                        te->rec->taskId.requestId, te->rec->taskId.deployId, te->rec->agentId,
                        te->rec->taskId.rackId};
            }
        }
    }
    mb_offers_in in = {.offers = oo,
                       .n_offers = no,
                       .due = dt,
                       .n_due = n_win,
                       .n_due_more = n_due - n_win,
                       .n_pending = n_total,
                       .active = act_v,
                       .n_active = n_act,
                       .racks = nrk ? racks : NULL,
                       .reserve_attrs = b->reserve_attrs.n ? &b->reserve_attrs : NULL,
                       .policy = &b->offer_policy,
                       .max_checks = MB_PLACE_MAX_CHECKS,
                       .enough_fits = sample_size(no),
                       .max_placed = MB_PLACE_MAX_TASKS,
                       .max_tasks_per_offer = MB_MAX_TASKS_PER_OFFER,
                       .framework_id = b->framework_id,
                       .executor_path = b->executor_path,
                       .task_exists = task_known,
                       .arg = b,
                       .suppressed = b->suppressed,
                       .new_pending = b->new_pending,
                       .last_due = b->last_due,
                       .last_revive_ms = b->last_revive_ms,
                       .revive_min_ms = MB_REVIVE_MIN_MS,
                       .now = now,
                       .wall = wall};
    mb_offers_plan_out plan;
    mb_offers_plan(&in, &plan);
    free(act_v);
    free(racks);

    /* suppress / revive */
    const char *const *roles = (const char *const *)b->fw_roles;
    b->last_due = n_due;
    b->new_pending = plan.new_pending;
    if (plan.action == MB_OFFERS_SUPPRESS) {
        if (send_call(b, mb_call_suppress(b->framework_id, roles))) {
            b->suppressed = true;
            cr_info(b->log, "nothing pending: SUPPRESS");
        }
    } else if (plan.action == MB_OFFERS_REVIVE) {
        if (send_call(b, mb_call_revive(b->framework_id, roles))) {
            b->suppressed = false;
            b->new_pending = false;
            b->last_revive_ms = now;
            cr_info(b->log, "%zu pending: REVIVE", n_total);
        }
    }
    if (!no)
        goto out;

    /* why the tasks that were tried did not fit */
    for (size_t i = 0; i < plan.n_unplaced; i++)
        reason_note(b, due[plan.unplaced[i].due], plan.unplaced[i].reason,
                    plan.unplaced[i].message, no);
    for (size_t i = 0; i < plan.n_errors; i++)
        cr_warn(b->log, "%s", plan.errors[i].message);
    if (plan.tried < n_due) {
        /* continue on the next turn, after other events; once every task
         * left has been tried in vain, wait for the next offer or tick
         * rather than spin */
        const doc *next = plan.tried < n_win ? due[plan.tried] : after;
        if (next) {
            b->place_from = xstrdup(next->key);
            b->place_from_run = ((const api_pending_task *)next->obj)->pendingTaskId.nextRunAt;
        }
        b->place_failed += plan.failed;
        if (b->place_failed < n_due - (plan.tried - plan.failed))
            kick(b);
        else
            b->place_failed = 0;
    } else {
        b->place_failed = 0;
    }

    /* what becomes of each held offer */
    enum { UNSET, LAUNCHED, KEPT, DECLINED };
    unsigned char *fate = xcalloc(no + 1, 1);
    for (size_t i = 0; i < plan.n_keep; i++)
        fate[plan.keep[i]] = KEPT;

    /* one group per offer that got tasks: each pending task is swapped for
     * its task record, all or none; the runner sends the groups fenced and
     * batched, and launch_written ACCEPTs once its group has landed (an
     * offer whose write cannot be sent comes back to the next cycle) */
    for (size_t l = 0; l < plan.n_launches; l++) {
        mb_offers_launch *ln = &plan.launches[l];
        size_t k = ln->offer, g = ctl_ops_next_group(ops);
        op *o = op_new(b, OP_LAUNCH);
        o->tasks = xcalloc(ln->n + 1, sizeof(api_task *));
        o->pend_keys = xcalloc(ln->n + 1, sizeof(char *));
        for (size_t i = 0; i < ln->n; i++) {
            api_task *t = o->tasks[o->n_tasks] = ln->tasks[i];
            const doc *pd = due[ln->due[i]];
            ln->tasks[i] = NULL; /* the op owns it now */
            o->pend_keys[o->n_tasks++] = xstrdup(pd->key);
            ctl_ops_add(ops, CTL_OP_CREATE,
                        api_task_key(b->prefix, t->taskId.requestId, t->taskId.id),
                        api_task_text(t, NULL), 0, g);
            ctl_ops_add(ops, CTL_OP_DELETE, xstrdup(pd->key), NULL, pd->mod_rev, g);
            mb_map_put(&b->launching, pd->key, (void *)1);
        }
        o->offers = xcalloc(1, sizeof(held));
        o->offers[0] = b->offers[k]; /* moved */
        o->n_offers = 1;
        o->refuse_s = plan.accept_refuse_s;
        fate[k] = LAUNCHED;
        ctl_ops_then(ops, g, &(ctl_then){launch_written, launch_drop, o});
    }

    /* unused offers: held briefly while tasks wait, else declined */
    const char **decl = xcalloc(no + 1, sizeof(char *));
    size_t nd = 0;
    for (size_t i = 0; i < plan.n_decline_idle; i++) {
        decl[nd++] = b->offers[plan.decline_idle[i]].offer.id;
        fate[plan.decline_idle[i]] = DECLINED;
    }
    decline_offers(b, decl, nd, b->offer_policy.refuse_idle_s);
    nd = 0;
    for (size_t i = 0; i < plan.n_decline_busy; i++) {
        decl[nd++] = b->offers[plan.decline_busy[i]].offer.id;
        fate[plan.decline_busy[i]] = DECLINED;
    }
    decline_offers(b, decl, nd, b->offer_policy.refuse_busy_s);
    free(decl);
    held *kept = xcalloc(no + 1, sizeof(held));
    size_t keep = 0;
    for (size_t k = 0; k < no; k++) {
        if (fate[k] == DECLINED)
            mb_offer_release(&b->offers[k].offer);
        else if (fate[k] != LAUNCHED) /* held, or its launch could not be sent */
            kept[keep++] = b->offers[k];
    }
    free(fate);
    free(b->offers);
    b->offers = kept;
    b->n_offers = keep;
out:
    mb_offers_plan_release(&plan);
    free(oo);
    free(dt);
    free(due);
}

/* The offer cycle as a loop of the shared runner (controllers/runner.h):
 * one key, queued by every kick; a pass runs offers_cycle's plan and its
 * launch groups are the runner's fenced, batched writes. The next pass
 * waits until the cache shows the previous one's launches. */
#define OFFERS_KEY "offers"

static ctl_pass offers_reconcile(void *arg, ctl_runner *r, const char *key, int64_t now,
                                 ctl_ops *ops, int64_t *requeue_ms, cr_err *err)
{
    mb *b = arg;
    if (b->stopped || !b->subscribed || !b->fw_loaded || b->fw_unstored || !all_synced(b))
        return CTL_PASS_FORGET; /* a kick brings it back once they are */
    offers_cycle(b, ops);
    return CTL_PASS_WRITE;
}

static void offers_resync(void *arg, ctl_runner *r)
{
    ctl_runner_enqueue(r, OFFERS_KEY);
}

static const ctl_loop offers_loop = {
    .name = "offers", .reconcile = offers_reconcile, .resync = offers_resync};

/* ---- agents and racks: known from the master (GET_AGENTS) ---------------------------- */

static void machine_write_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    mb *b = o->b;
    if (b->machines_inflight)
        b->machines_inflight--;
    if (err && check_fatal(b, err)) {
        op_free(o);
        return;
    }
    if (err || !res->succeeded) {
        /* changed under us (an operator, or the cache was behind): plan
         * again from the new document */
        cr_debug(b->log, "machine document %s: %s", o->s1,
                 err ? cr_err_msg(err) : "changed meanwhile");
        b->agents_want = true;
    }
    op_free(o);
}

/* The plan's view of an index of agents or racks: each document's text
 * into out (returns how many); a text written now for a document kept as
 * a tree goes to owned[*nown] (the caller frees them). */
static size_t machine_docs(const inf *in, mb_machine_doc *out, char **owned, size_t *nown)
{
    size_t n = 0;
    for (mb_map_iter it = mb_map_first(&in->docs); it.e; mb_map_next(&in->docs, &it)) {
        const doc *d = it.e->val;
        mb_machine_doc *m = &out[n++];
        *m = (mb_machine_doc){.id = it.e->key, .mod_rev = d->mod_rev};
        m->text = store_obj_plain_text(d->obj, &m->len, &owned[*nown]);
        *nown += owned[*nown] != NULL;
    }
    return n;
}

/* Writes what the plan asks for: each document compared with the revision
 * it was planned from (store_write batches them). */
static void machines_apply(mb *b, const mb_agents *agents)
{
    inf *ai = &b->inf[INF_AGENT], *ri = &b->inf[INF_RACK];
    mb_machine_doc *ad = xcalloc(ai->docs.n + 1, sizeof(*ad));
    mb_machine_doc *rd = xcalloc(ri->docs.n + 1, sizeof(*rd));
    /* the texts written now (a document kept as a tree), freed after */
    char **owned = xcalloc(ai->docs.n + ri->docs.n + 1, sizeof(*owned));
    size_t nown = 0, nrec = 0;
    size_t na = machine_docs(ai, ad, owned, &nown), nr = machine_docs(ri, rd, owned, &nown);
    for (size_t i = 0; i < agents->n; i++)
        nrec += agents->v[i].recovered;
    mb_machines_in in = {.agents = agents,
                         .agent_docs = ad,
                         .n_agent_docs = na,
                         .rack_docs = rd,
                         .n_rack_docs = nr,
                         .rack_attr = b->rack_attr,
                         .default_rack = b->default_rack,
                         .now = cr_wall_ms(),
                         .seen_refresh_ms = MB_AGENT_SEEN_MS};
    mb_machines_out out;
    mb_machines_plan(&in, &out);
    if (out.n_dead || out.n_back)
        cr_info(b->log,
                "agents: the master lists %zu (%zu recovered): %zu machine(s) now DEAD, "
                "%zu ACTIVE again",
                agents->n, nrec, out.n_dead, out.n_back);
    for (size_t i = 0; i < out.n; i++) {
        mb_machine_write *w = &out.v[i];
        char *key = w->rack ? api_key_rack(b->prefix, w->id) : api_key_agent(b->prefix, w->id);
        char *v = json_dumps(w->doc, JSON_COMPACT | JSON_SORT_KEYS);
        store_txn *t = txn_new(b);
        if (w->mod_rev)
            store_txn_if_mod(t, key, STORE_EQ, w->mod_rev);
        else
            store_txn_if_create(t, key, STORE_EQ, 0);
        store_txn_put(t, STORE_THEN, key, v, strlen(v), NULL);
        op *o = op_new(b, OP_AGENT);
        o->s1 = key;
        cr_err err;
        if (store_write(b->st, t, machine_write_done, o, &err) < 0) {
            cr_warn(b->log, "writing %s: %s", key, cr_err_msg(&err));
            op_free(o);
            b->agents_want = true;
        } else {
            b->machines_inflight++;
        }
        free(v);
    }
    mb_machines_out_release(&out);
    for (size_t i = 0; i < nown; i++)
        free(owned[i]);
    free(owned);
    free(ad);
    free(rd);
}

/* A GET_AGENTS answer on its way from text to documents. */
/* A NUL-terminated copy of len bytes (an answer or a record handed to a
 * thread, or kept for later). Caller frees. */
static char *bytes_dup(const char *data, size_t len)
{
    char *r = xmalloc(len + 1);
    memcpy(r, data, len);
    r[len] = '\0';
    return r;
}

typedef struct agents_job {
    mb *b;
    unsigned gen;
    char *body;
    size_t len;
    int64_t started_us;
    cr_offload *job;
    int rc; /* of the decode */
    mb_agents agents;
    cr_err err;
} agents_job;

static void agents_job_free(agents_job *j)
{
    if (!j)
        return;
    if (j->rc == 0)
        mb_agents_release(&j->agents);
    free(j->body);
    free(j);
}

/* On the offload thread: the answer's text -> agents (pure). */
static void agents_decode(void *arg)
{
    agents_job *j = arg;
    j->rc = mb_agents_decode(j->body, j->len, &j->agents, &j->err);
    free(j->body);
    j->body = NULL;
}

/* Back on the loop. */
static void agents_decoded(void *arg)
{
    agents_job *j = arg;
    mb *b = j->b;
    int64_t t0 = cr_mono_us();

    b->agents_job = NULL;
    if (j->rc < 0)
        cr_warn(b->log, "GET_AGENTS from %s: %s", master_url(b), cr_err_msg(&j->err));
    else if (!b->subscribed || j->gen != b->gen)
        b->agents_want = true; /* another master since: ask it */
    else
        machines_apply(b, &j->agents);
    /* What a big cluster's answer costs the loop (the decode aside): refresh
     * no more than 1% of that time, and of the decode's time too, which
     * takes a CPU from everything else. */
    b->agents_cost_ms = (cr_mono_us() - t0) / 1000;
    int64_t decode_ms = (t0 - j->started_us) / 1000;
    int64_t cost = b->agents_cost_ms > decode_ms ? b->agents_cost_ms : decode_ms;
    int64_t next = cr_mono_ms() + 100 * cost;
    if (next > b->agents_next_ms)
        b->agents_next_ms = next;
    agents_job_free(j);
}

static void agents_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    op *o = arg;
    mb *b = o->b;
    unsigned gen = o->gen;
    o->req = NULL;
    b->agents_op = NULL;
    op_free(o);
    if (err || resp->status != 200) {
        /* the next periodic refresh tries again */
        if (err)
            cr_warn(b->log, "GET_AGENTS from %s: %s", master_url(b), cr_err_msg(err));
        else
            cr_warn(b->log, "GET_AGENTS from %s: %ld %.200s (agents not refreshed)", master_url(b),
                    resp->status, resp->body ? resp->body : "");
        return;
    }
    if (!b->subscribed || gen != b->gen) {
        b->agents_want = true; /* another master since: ask it */
        return;
    }
    /* 5,000 agents are ~5 MB of JSON, half a second to parse on a small
     * machine: parsed on a thread, so the loop (and the lease) go on */
    agents_job *j = xcalloc(1, sizeof(*j));
    cr_err oerr;
    j->b = b;
    j->gen = gen;
    j->body = cr_http_take_body(r, &j->len); /* ~5 MB for 5,000 agents: not copied */
    j->started_us = cr_mono_us();
    if (!(j->job = cr_offload_start(b->base, agents_decode, agents_decoded, j, &oerr))) {
        cr_warn(b->log, "GET_AGENTS: %s; decoding here", cr_err_msg(&oerr));
        agents_decode(j);
        agents_decoded(j);
        return;
    }
    b->agents_job = j;
}

/* Asks the master for its agents (operator API, on its own connection). */
static void agents_ask(mb *b)
{
    cr_err err;
    json_t *call = mb_call_get_agents();
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    char *url = xasprintf("%s/api/v1", master_url(b));
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    op *o = op_new(b, OP_AGENTS);
    o->gen = b->gen;
    cr_http_opts ho = {.method = "POST",
                       .url = url,
                       .headers = hdrs,
                       .body = body,
                       .body_len = strlen(body),
                       .timeout_ms = 30000,
                       .connect_timeout_ms = 5000,
                       .max_body = 256 << 20,
                       .on_done = agents_done,
                       .arg = o};
    int64_t now = cr_mono_ms();
    b->agents_want = false;
    b->agents_last_ms = now;
    b->agents_next_ms = now + b->agents_refresh_ms;
    o->req = cr_http_start(b->http, &ho, &err);
    if (!o->req) {
        cr_warn(b->log, "GET_AGENTS: %s", cr_err_msg(&err));
        op_free(o);
    } else {
        b->agents_op = o;
    }
    free(url);
    free(body);
}

/* Refreshes the machine documents when asked (or due), one request and one
 * plan's writes at a time, at most every MB_AGENT_SOON_MS (or 50 times what
 * the last answer cost the loop, when that is longer). A SUBSCRIBED asks at
 * once. */
static void agents_refresh(mb *b, int64_t now)
{
    int64_t gap = 50 * b->agents_cost_ms;
    if (gap < MB_AGENT_SOON_MS)
        gap = MB_AGENT_SOON_MS;
    if (now >= b->agents_next_ms)
        b->agents_want = true;
    if (!b->agents_want || b->agents_op || b->agents_job || b->machines_inflight ||
        (b->agents_last_ms && now - b->agents_last_ms < gap))
        return;
    agents_ask(b);
}

/* An event names agent_id: a document missing or not ACTIVE by the
 * bridge's own doing (DEAD) means the machine documents are behind. */
static void agent_seen(mb *b, const char *agent_id)
{
    if (!agent_id || b->agents_want)
        return;
    doc *d = doc_get(b, INF_AGENT, agent_id);
    const char *st = d ? machine_state(d) : NULL;
    if (!d || (st && (!strcmp(st, "DEAD") || !strcmp(st, "MISSING_ON_STARTUP")))) {
        cr_debug(b->log, "agent %s has no ACTIVE document: refreshing agents", agent_id);
        b->agents_want = true;
    }
}

/* ---- kills and reconciliation ------------------------------------------------------- */

static void cleanup_del_done(void *arg, const store_result *res, const cr_err *err)
{
    op *o = arg;
    if (err)
        check_fatal(o->b, err);
    op_free(o);
}

static void kills(mb *b)
{
    int64_t now = cr_mono_ms();
    inf *in = &b->inf[INF_CLEAN];
    char **stale = xcalloc(in->docs.n + 1, sizeof(char *));
    size_t ns = 0;
    for (mb_map_iter it = mb_map_first(&in->docs); it.e; mb_map_next(&in->docs, &it)) {
        doc *d = it.e->val;
        const api_cleanup *c = d->obj;
        tentry *te = mb_map_get(&b->tasks, c->taskId.id);
        if (!te ||
            (api_task_state_terminal(te->rec->lastTaskState) && !te->writing && !te->dirty)) {
            /* nothing left to kill: drop the intent (once every few seconds) */
            char *mk = xasprintf("c:%s", d->key);
            int64_t *last = mb_map_get(&b->agents_seen, mk);
            if (!last || now - *last > 5000) {
                if (!last) {
                    last = xcalloc(1, sizeof(*last));
                    mb_map_put(&b->agents_seen, mk, last);
                }
                *last = now;
                stale[ns++] = xstrdup(d->key);
            }
            free(mk);
            continue;
        }
        if (api_task_state_terminal(te->rec->lastTaskState))
            continue;
        if (te->last_kill_ms && now - te->last_kill_ms < b->kill_retry_ms)
            continue;
        te->last_kill_ms = now;
        send_kill(b, c->taskId.id, te->rec->agentId, kill_grace(b, te));
    }
    for (size_t i = 0; i < ns; i++) {
        store_txn *t = txn_new(b);
        store_txn_delete(t, STORE_THEN, stale[i], false);
        op *o = op_new(b, OP_CLEANDEL);
        cr_err err;
        if (store_write(b->st, t, cleanup_del_done, o, &err) < 0)
            op_free(o);
        free(stale[i]);
    }
    free(stale);
}

/* Held tasks (issue 24) are asked about this often until they come back
 * or the controllers give them up. */
#define MB_HELD_RECON_MS 5000

/* How long the first reconciliation may hold mb_stats.reconciled false. */
#define MB_RECONCILED_CAP_MS 60000

/* ---- task shell commands (apis/shell.h) ---------------------------------------------
 * A shell document the API created is sent once, as a framework MESSAGE, to
 * the executor of its task, and marked `sentAt`; the updates the executor
 * sends back (MESSAGE events) are appended to it. Each document has at most
 * one write in flight; what arrives meanwhile waits in its shell_st and goes
 * with the next write, compared against the revision it was planned from. */

typedef struct shell_st {
    int64_t sent_at; /* wall ms the MESSAGE went out; 0 = not yet */
    json_t *updates; /* received, not yet stored */
    bool writing;
    int64_t touched_ms; /* mono */
} shell_st;

static void shell_st_free(void *p)
{
    shell_st *s = p;
    if (!s)
        return;
    json_decref(s->updates);
    free(s);
}

static shell_st *shell_state(mb *b, const char *key)
{
    shell_st *s = mb_map_get(&b->shells, key);
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->updates = json_array();
        mb_map_put(&b->shells, key, s);
    }
    s->touched_ms = cr_mono_ms();
    return s;
}

typedef struct shell_write {
    mb *b;
    char *key;
    size_t n_updates; /* how many of the state's updates this write stored */
} shell_write;

static void shell_write_done(void *arg, const store_result *res, const cr_err *err)
{
    shell_write *w = arg;
    mb *b = w->b;
    shell_st *s = mb_map_get(&b->shells, w->key);
    if (s) {
        s->writing = false;
        if (!err && res->succeeded)
            for (size_t i = 0; i < w->n_updates && json_array_size(s->updates); i++)
                json_array_remove(s->updates, 0);
    }
    if (err && !check_fatal(b, err))
        cr_warn(b->log, "writing shell command %s: %s", w->key, cr_err_msg(err));
    /* no kick: the change (ours, or the one that beat a compare) comes back
     * through the cache, and the one-second tick retries a failed write */
    free(w->key);
    free(w);
}

/* The executor's answer to a shell command: kept until it is stored. */
static void shell_message(mb *b, const char *data_b64)
{
    size_t len = 0;
    unsigned char *raw = data_b64 ? mb_base64_decode(data_b64, &len) : NULL;
    char *tid = NULL, *name = NULL, *sid = NULL, *key = NULL;
    int64_t ts = 0;
    json_t *up = NULL;
    cr_err err;
    api_task_id id;

    if (!raw || api_shell_update_parse((const char *)raw, len, &tid, &name, &ts, &up, &err) < 0) {
        cr_warn(b->log, "framework message ignored: %s", raw ? cr_err_msg(&err) : "not base64");
        goto out;
    }
    if (!api_shell_name_valid(name) || api_task_id_parse(tid, &id, &err) < 0) {
        cr_warn(b->log, "shell command update for %s/%s ignored: bad id", tid, name);
        goto out;
    }
    sid = api_shell_id(ts, name);
    key = api_key_shell(b->prefix, id.requestId, tid, sid);
    api_task_id_release(&id);
    if (!doc_get(b, INF_SHELL, key + strlen(b->inf[INF_SHELL].prefix))) {
        cr_warn(b->log, "shell command update for unknown %s ignored", key);
        goto out;
    }
    cr_info(b->log, "shell command %s: %s", key,
            json_string_value(json_object_get(up, "updateType")));
    json_array_append(shell_state(b, key)->updates, up);
    kick(b);
out:
    free(raw);
    free(tid);
    free(name);
    free(sid);
    free(key);
    json_decref(up);
}

static void shell_del_done(void *arg, const store_result *res, const cr_err *err)
{
    mb *b = arg;
    if (err && !check_fatal(b, err))
        cr_warn(b->log, "deleting a shell command: %s", cr_err_msg(err));
}

/* Deletes the shell documents of tasks that have neither a record nor a
 * history record any more (history is bounded per request; so are these). */
static void shells_prune(mb *b)
{
    inf *in = &b->inf[INF_SHELL];
    for (mb_map_iter it = mb_map_first(&in->docs); it.e; mb_map_next(&in->docs, &it)) {
        const doc *d = it.e->val;
        api_key_parts kp;
        if (api_key_parse(b->prefix, d->key, &kp) < 0 || kp.kind != API_KEY_SHELL) {
            api_key_parts_release(&kp);
            continue;
        }
        char *tk = api_key_task(b->prefix, kp.id1, kp.id2);
        char *hk = api_key_history_task(b->prefix, kp.id1, kp.id2);
        const shell_st *s = mb_map_get(&b->shells, d->key);
        bool busy = s && (s->writing || json_array_size(s->updates));
        if (!busy && !mb_map_get(&b->tasks, kp.id2) && !store_cache_get(b->cache, tk) &&
            !store_cache_get(b->cache, hk)) {
            store_txn *txn = txn_new(b);
            cr_err err;
            store_txn_if_mod(txn, d->key, STORE_EQ, d->mod_rev);
            store_txn_delete(txn, STORE_THEN, d->key, false);
            if (store_write(b->st, txn, shell_del_done, b, &err) < 0)
                cr_warn(b->log, "deleting shell command %s: %s", d->key, cr_err_msg(&err));
        }
        free(tk);
        free(hk);
        api_key_parts_release(&kp);
    }
}

/* Sends what is new, stores what came back. */
static void shells_work(mb *b)
{
    inf *in = &b->inf[INF_SHELL];
    int64_t now = cr_wall_ms();
    for (mb_map_iter it = mb_map_first(&in->docs); it.e; mb_map_next(&in->docs, &it)) {
        const doc *d = it.e->val;
        const json_t *v = d->obj;
        shell_st *s = mb_map_get(&b->shells, d->key);
        bool sent = json_object_get(v, "sentAt") != NULL;
        if (sent && (!s || (!json_array_size(s->updates) && !s->writing)))
            continue; /* nothing to do: the common case */
        if (!s)
            s = shell_state(b, d->key);
        if (s->writing)
            continue;
        json_t *nd = json_deep_copy(v);
        bool changed = false;
        if (!sent) {
            if (!s->sent_at) {
                const json_t *req = json_object_get(v, "shellRequest");
                const char *tid = json_string_value(
                    json_object_get(json_object_get(req, "taskId"), "id"));
                const tentry *te = tid ? mb_map_get(&b->tasks, tid) : NULL;
                const api_task *t = te ? te->rec : NULL;
                if (!t || api_task_state_terminal(t->lastTaskState) || !t->executorId ||
                    !t->agentId) {
                    json_t *u = json_pack(
                        "{s:{s:O?,s:O?,s:O?},s:I,s:s,s:s}", "shellRequestId", "taskId",
                        json_object_get(req, "taskId"), "name",
                        json_object_get(json_object_get(req, "shellCommand"), "name"),
                        "timestamp", json_object_get(req, "timestamp"), "timestamp",
                        (json_int_t)now, "message",
                        t ? "the task is not running (or has no executor)" : "the task is gone",
                        "updateType", "INVALID");
                    json_array_append_new(s->updates, u);
                } else {
                    char *text = json_dumps(req, JSON_COMPACT);
                    if (!send_call(b, mb_call_message(b->framework_id, t->agentId, t->executorId,
                                                      text, strlen(text)))) {
                        free(text);
                        json_decref(nd);
                        continue; /* not subscribed: later */
                    }
                    cr_info(b->log, "shell command %s sent to executor %s", d->key,
                            t->executorId);
                    free(text);
                }
                s->sent_at = now;
            }
            json_object_set_new(nd, "sentAt", json_integer(s->sent_at));
            changed = true;
        }
        size_t i;
        json_t *u;
        json_array_foreach(s->updates, i, u)
            changed = api_shell_doc_add_update(nd, u) || changed;
        if (changed) {
            char *text = json_dumps(nd, JSON_COMPACT);
            store_txn *txn = txn_new(b);
            shell_write *w = xcalloc(1, sizeof(*w));
            cr_err err;
            store_txn_if_mod(txn, d->key, STORE_EQ, d->mod_rev);
            store_txn_put(txn, STORE_THEN, d->key, text, strlen(text), NULL);
            w->b = b;
            w->key = xstrdup(d->key);
            w->n_updates = json_array_size(s->updates);
            s->writing = true;
            if (store_write(b->st, txn, shell_write_done, w, &err) < 0) {
                s->writing = false;
                cr_warn(b->log, "writing shell command %s: %s", d->key, cr_err_msg(&err));
                free(w->key);
                free(w);
            }
            free(text);
        } else {
            json_array_clear(s->updates); /* all stored already (repeats) */
        }
        json_decref(nd);
    }
    /* forget the state of documents gone or done */
    char **gone = xcalloc(b->shells.n + 1, sizeof(char *));
    size_t ng = 0;
    for (mb_map_iter it = mb_map_first(&b->shells); it.e; mb_map_next(&b->shells, &it)) {
        shell_st *s = it.e->val;
        const char *k = it.e->key;
        if (!s->writing && !json_array_size(s->updates) &&
            (!doc_get(b, INF_SHELL, k + strlen(in->prefix)) || s->sent_at == 0 ||
             cr_mono_ms() - s->touched_ms > 600000))
            gone[ng++] = xstrdup(k);
    }
    for (size_t i = 0; i < ng; i++) {
        shell_st_free(mb_map_del(&b->shells, gone[i]));
        free(gone[i]);
    }
    free(gone);
}

/* Explicit reconciliation a batch of tasks a call (reconcile_batch):
 * 100,000 tasks in one RECONCILE are a ~60 MB tree and a 12 MB body at
 * once. Returns the calls sent. */
static size_t send_reconcile(mb *b, const mb_reconcile_task *v, size_t n)
{
    size_t calls = 0, batch = (size_t)b->recon_batch;

    for (size_t lo = 0; lo < n; lo += batch) {
        size_t k = n - lo < batch ? n - lo : batch;
        if (!send_call(b, mb_call_reconcile(b->framework_id, v + lo, k)))
            break;
        b->stats.reconciles++;
        if (k > b->stats.reconcile_tasks_max)
            b->stats.reconcile_tasks_max = k;
        calls++;
    }
    return calls;
}

static void reconcile(mb *b, bool tick)
{
    int64_t now = cr_mono_ms();
    size_t batch = (size_t)b->recon_batch;
    if (mb_recon_may_send(&b->recon, now, batch)) {
        /* the next batch of the tasks not heard from since the round
         * began and not yet sent in this send */
        size_t cap = batch < b->tasks.n ? batch : b->tasks.n;
        mb_reconcile_task *v = xcalloc(cap + 1, sizeof(*v));
        tentry **sent = xcalloc(cap + 1, sizeof(*sent));
        size_t n = 0, unsent = 0, remaining = 0;
        bool first = !b->recon.pass_ms;
        for (mb_map_iter it = mb_map_first(&b->tasks); it.e; mb_map_next(&b->tasks, &it)) {
            tentry *te = it.e->val;
            if (api_task_state_terminal(te->rec->lastTaskState) ||
                !mb_recon_remaining(&b->recon, te->heard_ms))
                continue;
            remaining++;
            if (!mb_recon_unsent(&b->recon, te->last_recon_ms))
                continue;
            unsent++;
            if (n < cap) {
                sent[n] = te;
                v[n++] = (mb_reconcile_task){te->rec->taskId.id, te->rec->agentId};
            }
        }
        if (first && unsent)
            cr_info(b->log, "explicit reconciliation of %zu task(s), round %u", unsent,
                    b->recon.rounds + 1);
        bool ok = n && send_reconcile(b, v, n);
        unsigned no = mb_recon_batch_sent(&b->recon, now, n, unsent <= batch, remaining);
        for (size_t i = 0; ok && i < n; i++) {
            sent[i]->last_recon_ms = now;
            sent[i]->recon_batch = no;
        }
        free(sent);
        free(v);
    }
    /* The implicit one after SUBSCRIBED waits for the explicit round (or
     * MB_IMPLICIT_AFTER_MS): it is answered with a status for every task
     * the master knows, 100,000 updates in the stream at once, ahead of
     * the offers a new leader's first launches wait for. */
    if (now >= b->next_implicit_ms &&
        (!b->recon.active || now - b->recon.started_ms >= MB_IMPLICIT_AFTER_MS)) {
        if (send_call(b, mb_call_reconcile(b->framework_id, NULL, 0)))
            b->stats.reconciles++;
        b->next_implicit_ms = now + b->implicit_ms;
    }
    /* launches Mesos never answered, and held tasks (UNREACHABLE, UNKNOWN:
     * a real master sends nothing when their agent re-registers): ask about
     * them (a scan of every task, so once a second) */
    if (!tick)
        return;
    mb_reconcile_task *late = xcalloc(b->tasks.n + 1, sizeof(*late));
    size_t nl = 0;
    int64_t wall = cr_wall_ms();
    for (mb_map_iter it = mb_map_first(&b->tasks); it.e; mb_map_next(&b->tasks, &it)) {
        tentry *te = it.e->val;
        api_task_state st = te->rec->lastTaskState;
        bool late_launch = (st == API_TASK_LAUNCHED || st == API_TASK_STAGING) &&
                           wall - te->rec->launchedAt > b->launch_timeout_ms &&
                           now - te->last_recon_ms > 15000;
        bool held_due = api_task_state_held(st) && now - te->last_recon_ms > MB_HELD_RECON_MS;
        if (late_launch || held_due) {
            te->last_recon_ms = now;
            late[nl++] = (mb_reconcile_task){te->rec->taskId.id, te->rec->agentId};
        }
    }
    if (nl)
        send_reconcile(b, late, nl);
    free(late);
}

/* ---- subscription ------------------------------------------------------------------- */

static void on_event(mb *b, mb_event *ev)
{
    b->stats.events++;
    b->last_event_ms = cr_mono_ms();
    switch (ev->type) {
    case MB_EV_SUBSCRIBED: {
        bool changed = !b->framework_id || strcmp(b->framework_id, ev->u.subscribed.framework_id);
        free(b->framework_id);
        b->framework_id = xstrdup(ev->u.subscribed.framework_id);
        b->hb_s = ev->u.subscribed.heartbeat_interval_seconds;
        b->subscribed = true;
        b->gen++;
        b->stats.subscribes++;
        mb_backoff_reset(&b->sub_backoff);
        b->redirects = 0;
        cr_info(b->log, "SUBSCRIBED as %s to %s (heartbeat %.0fs)", b->framework_id, master_url(b),
                b->hb_s);
        if (changed)
            fw_store(b);
        fw_status_note(b);
        b->agents_want = true; /* the machines this master knows */
        b->agents_last_ms = 0;
        mb_recon_start(&b->recon, cr_mono_ms());
        b->next_implicit_ms = 0; /* and an implicit one once that is done */
        b->new_pending = true;   /* clear old filters if work is waiting */
        kick(b);
        break;
    }
    case MB_EV_OFFERS:
        for (size_t i = 0; i < ev->u.offers.n; i++) {
            mb_offer *o = &ev->u.offers.v[i];
            agent_seen(b, o->agent_id);
            b->offers = xrealloc(b->offers, (b->n_offers + 1) * sizeof(held));
            b->offers[b->n_offers].offer = *o; /* moved */
            b->offers[b->n_offers].gen = b->gen;
            b->offers[b->n_offers++].received_ms = cr_mono_ms();
            memset(o, 0, sizeof(*o));
            b->stats.offers_received++;
        }
        ev->u.offers.n = 0;
        kick(b);
        break;
    case MB_EV_RESCIND:
        for (size_t i = 0; i < b->n_offers; i++)
            if (!strcmp(b->offers[i].offer.id, ev->u.rescind.offer_id)) {
                mb_offer_release(&b->offers[i].offer);
                b->offers[i] = b->offers[--b->n_offers];
                break;
            }
        break;
    case MB_EV_UPDATE: {
        /* an update from the agent side says the agent lives; the master's
         * answers about an agent it lost do not (unless it came back) */
        const mb_status *u = &ev->u.update;
        if (!u->source || strcmp(u->source, "SOURCE_MASTER") ||
            (u->reason && !strcmp(u->reason, "REASON_AGENT_REREGISTERED")))
            agent_seen(b, u->agent_id);
        on_update(b, &ev->u.update);
        break;
    }
    case MB_EV_MESSAGE:
        shell_message(b, ev->u.message.data);
        break;
    case MB_EV_FAILURE:
        cr_warn(b->log, "FAILURE: agent %s executor %s status %d",
                ev->u.failure.agent_id ? ev->u.failure.agent_id : "-",
                ev->u.failure.executor_id ? ev->u.failure.executor_id : "-", ev->u.failure.status);
        if (ev->u.failure.agent_id && !ev->u.failure.executor_id)
            b->agents_want = true; /* the master lost an agent */
        kick(b);
        break;
    case MB_EV_ERROR:
        cr_errorlog(b->log, "ERROR from Mesos: %s", ev->u.error.message);
        if (strstr(ev->u.error.message, "failed over")) {
            stop_for_good(b, CR_EMESOS, "another scheduler took over the framework");
        } else if (strstr(ev->u.error.message, "removed")) {
            /* the framework id is dead: subscribe anew */
            free(b->framework_id);
            b->framework_id = NULL;
            fw_store(b);
        }
        break;
    default:
        break;
    }
}

/* ---- events in stream order ------------------------------------------------------- */

/* A record this big is decoded on a thread: an OFFERS event for 5,000
 * agents is ~5 MB and ~0.15 s of decoding, which would hold the loop (and
 * the lease keepalive) that long. Records that come meanwhile wait, so
 * events are still handled in the order the master sent them. */
#define EV_OFFLOAD_BYTES (256 * 1024)

typedef struct ev_rec {
    char *data;
    size_t len;
} ev_rec;

typedef struct ev_job {
    mb *b;
    unsigned stream; /* b->stream_gen when it was read */
    char *data;
    size_t len;
    int rc; /* of the decode; -1 until it ran */
    mb_event ev;
    cr_err err;
    cr_offload *job;
} ev_job;

static void ev_job_free(ev_job *j)
{
    if (!j)
        return;
    if (j->rc == 0)
        mb_event_release(&j->ev);
    free(j->data);
    free(j);
}

/* Forgets the records that wait (their stream is gone). */
static void ev_clear(mb *b)
{
    for (size_t i = b->evq_head; i < b->evq_n; i++)
        free(b->evq[i].data);
    b->evq_head = b->evq_n = 0;
}

/* The stream is gone: nothing it sent is handled any more (an event still
 * being decoded is dropped when its thread is done). */
static void ev_forget(mb *b)
{
    b->stream_gen++;
    ev_clear(b);
}

/* On the thread: the record -> an event (pure). */
static void ev_work(void *arg)
{
    ev_job *j = arg;
    j->rc = mb_event_decode(j->data, j->len, &j->ev, &j->err);
    free(j->data);
    j->data = NULL;
}

static void ev_drain(mb *b, bool may_offload);

/* Handles a decoded job's event, unless its stream is gone, and frees it. */
static void ev_job_done(mb *b, ev_job *j)
{
    b->ev_job = NULL;
    if (j->stream == b->stream_gen && !b->stopped) {
        if (j->rc < 0)
            cr_warn(b->log, "bad event: %s", cr_err_msg(&j->err));
        else
            on_event(b, &j->ev);
    }
    ev_job_free(j);
}

/* Back on the loop. */
static void ev_decoded(void *arg)
{
    ev_job *j = arg;
    mb *b = j->b;

    ev_job_done(b, j);
    ev_drain(b, true);
}

/* Decodes a big record on a thread; false when none could start. */
static bool ev_offload(mb *b, const char *data, size_t len)
{
    ev_job *j = xcalloc(1, sizeof(*j));
    cr_err err;

    j->b = b;
    j->stream = b->stream_gen;
    j->rc = -1;
    j->data = bytes_dup(data, len);
    j->len = len;
    if (!(j->job = cr_offload_start(b->base, ev_work, ev_decoded, j, &err))) {
        cr_warn(b->log, "event of %zu bytes: %s; decoding it here", len, cr_err_msg(&err));
        ev_job_free(j);
        return false;
    }
    b->ev_job = j;
    b->stats.events_offloaded++;
    return true;
}

/* Handles one record, the next in stream order: on a thread when it is
 * big and may_offload, else here. */
static void ev_record(mb *b, const char *data, size_t len, bool may_offload)
{
    mb_event ev;
    cr_err err;

    if (may_offload && len >= b->offload_bytes && ev_offload(b, data, len))
        return;
    if (mb_event_decode(data, len, &ev, &err) < 0) {
        cr_warn(b->log, "bad event: %s", cr_err_msg(&err));
        return;
    }
    on_event(b, &ev);
    mb_event_release(&ev);
}

/* Handles the records that waited, up to the next big one (all of them
 * here when !may_offload). */
static void ev_drain(mb *b, bool may_offload)
{
    while (!b->ev_job && b->evq_head < b->evq_n && !b->stopped) {
        ev_rec r = b->evq[b->evq_head++];
        ev_record(b, r.data, r.len, may_offload); /* may drop the stream: ev_clear */
        free(r.data);
    }
    if (b->evq_head == b->evq_n)
        b->evq_head = b->evq_n = 0;
}

/* The stream ended: handles, here and now, what it sent before it ended:
 * the event being decoded (waiting for its thread) and the records behind
 * it. Mesos ends a stream right after ERROR "Framework failed over", and
 * that ERROR must be seen before the bridge subscribes again. */
static void ev_flush(mb *b)
{
    if (b->ev_job) {
        cr_offload_cancel(b->ev_job->job); /* waits for the decode; done never runs */
        ev_job_done(b, b->ev_job);
    }
    ev_drain(b, false);
    ev_clear(b); /* what is left when the bridge stopped */
}

static bool on_record(const char *data, size_t len, void *arg)
{
    mb *b = arg;

    if (b->ev_job || b->evq_n) { /* after the one being decoded */
        if (b->evq_n == b->evq_cap && b->evq_head) { /* reuse the handled slots */
            memmove(b->evq, b->evq + b->evq_head, (b->evq_n - b->evq_head) * sizeof(*b->evq));
            b->evq_n -= b->evq_head;
            b->evq_head = 0;
        }
        if (b->evq_n == b->evq_cap) {
            b->evq_cap = b->evq_cap ? 2 * b->evq_cap : 64;
            b->evq = xrealloc(b->evq, b->evq_cap * sizeof(*b->evq));
        }
        b->evq[b->evq_n].data = bytes_dup(data, len);
        b->evq[b->evq_n++].len = len;
    } else {
        ev_record(b, data, len, true);
    }
    return !b->stopped && b->sub != NULL;
}

static void drop_stream(mb *b)
{
    ev_forget(b);
    b->subscribed = false;
    free(b->stream_id);
    b->stream_id = NULL;
    for (size_t i = 0; i < b->n_offers; i++)
        mb_offer_release(&b->offers[i].offer); /* Mesos rescinds them */
    b->n_offers = 0;
    fw_status_note(b);
}

static void sub_head(cr_http_req *r, const cr_http_resp *resp, void *arg)
{
    mb *b = arg;
    b->sub_status = resp->status;
    if (resp->status == 200) {
        const char *sid = cr_http_resp_header(resp, "Mesos-Stream-Id");
        free(b->stream_id);
        b->stream_id = sid ? xstrdup(sid) : NULL;
        mb_recordio_reset(&b->rio);
        ev_forget(b); /* of an earlier stream not dropped (a stale stream id) */
        b->last_event_ms = cr_mono_ms();
    } else if (resp->status == 307) {
        const char *loc = cr_http_resp_header(resp, "Location");
        char *abs = mb_resolve_location(master_url(b), loc);
        if (abs) {
            free(b->leader_url);
            b->leader_url = abs;
            cr_info(b->log, "redirected to the leading master %s", b->leader_url);
        }
    }
}

static void sub_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    mb *b = arg;
    cr_err err;
    if (b->sub_status != 200)
        return;
    b->last_event_ms = cr_mono_ms();
    int rc = mb_recordio_feed(&b->rio, data, len, on_record, b, &err);
    if (rc < 0) {
        cr_warn(b->log, "subscription stream: %s; re-subscribing", cr_err_msg(&err));
        if (b->sub) {
            cr_http_cancel(b->sub);
            b->sub = NULL;
        }
        drop_stream(b);
        schedule_subscribe(b, mb_backoff_next(&b->sub_backoff, (double)(rand() % 1000) / 1000));
    }
}

static void sub_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    mb *b = arg;
    b->sub = NULL;
    bool was = b->subscribed;
    ev_flush(b); /* what the stream sent before it ended (an ERROR, say) */
    drop_stream(b);
    if (b->stopped)
        return;
    double jitter = (double)(rand() % 1000) / 1000;
    if (err) {
        cr_warn(b->log, "subscription to %s ended: %s", master_url(b), cr_err_msg(err));
        if (err->code == CR_EUNAVAIL || !was) {
            /* this master is unreachable: try the next one */
            free(b->leader_url);
            b->leader_url = NULL;
            b->cur_master = (b->cur_master + 1) % (b->n_masters ? b->n_masters : 1);
        }
        schedule_subscribe(b, mb_backoff_next(&b->sub_backoff, jitter));
    } else if (resp->status == 307 && b->redirects++ < 5) {
        schedule_subscribe(b, 0);
    } else {
        if (resp->status != 200)
            cr_warn(b->log, "SUBSCRIBE to %s: %ld %s", master_url(b), resp->status, resp->body);
        else
            cr_warn(b->log, "subscription stream from %s closed", master_url(b));
        if (resp->status == 307 || resp->status >= 500) {
            free(b->leader_url);
            b->leader_url = NULL;
        }
        schedule_subscribe(b, mb_backoff_next(&b->sub_backoff, jitter));
    }
}

static void subscribe(mb *b)
{
    cr_err err;
    if (b->stopped || b->sub)
        return;
    size_t win = 0, dn = 0, total = 0;
    doc *after;
    free(due_pending(b, cr_wall_ms(), 1, &win, &dn, &total, &after));
    /* suppression is not kept across subscriptions: resend it (sheet 9.1 #28);
     * with the offer cache on, offers are always wanted */
    bool quiet = dn == 0 && !b->offer_policy.cache_max;
    const char *const *suppressed = quiet ? (const char *const *)b->fw_roles : NULL;
    b->suppressed = quiet;
    b->last_due = 0;
    mb_framework_info fi = {b->fw_user,
                            b->fw_name,
                            b->fw_hostname,
                            b->fw_webui,
                            b->fw_principal,
                            b->failover,
                            (const char *const *)b->fw_roles,
                            false};
    json_t *call = mb_call_subscribe(&fi, b->framework_id, suppressed);
    char *body = json_dumps(call, JSON_COMPACT);
    json_decref(call);
    char *url = xasprintf("%s/api/v1/scheduler", master_url(b));
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    cr_http_opts ho = {.method = "POST",
                       .url = url,
                       .headers = hdrs,
                       .body = body,
                       .body_len = strlen(body),
                       .timeout_ms = 0,
                       .connect_timeout_ms = 5000,
                       .on_head = sub_head,
                       .on_data = sub_data,
                       .on_done = sub_done,
                       .arg = b};
    b->sub_status = 0;
    cr_info(b->log, "SUBSCRIBE to %s%s%s", url, b->framework_id ? " as " : "",
            b->framework_id ? b->framework_id : "");
    b->sub = cr_http_start(b->http, &ho, &err);
    if (!b->sub) {
        cr_warn(b->log, "SUBSCRIBE: %s", cr_err_msg(&err));
        schedule_subscribe(b, mb_backoff_next(&b->sub_backoff, 0.5));
    }
    free(url);
    free(body);
}

static void sub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    mb *b = arg;
    b->sub_scheduled = false;
    if (b->fw_loaded && all_synced(b))
        subscribe(b);
    else
        schedule_subscribe(b, 500);
}

static void schedule_subscribe(mb *b, long delay_ms)
{
    if (b->stopped || b->sub_scheduled)
        return;
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    b->sub_scheduled = true;
    evtimer_add(b->sub_timer, &tv);
}

static void stop_for_good(mb *b, cr_code code, const char *why)
{
    if (b->stopped)
        return;
    b->stopped = true;
    /* Fenced out: nothing may be written any more. Otherwise say why. */
    if (code != CR_ENOTLEADER)
        b->stop_reason = xstrdup(why);
    cr_errorlog(b->log, "mesosbridge stopped: %s", why);
    if (b->sub) {
        cr_http_cancel(b->sub);
        b->sub = NULL;
    }
    drop_stream(b);
    if (b->on_stopped) {
        cr_err e;
        cr_error(&e, code, "%s", why);
        b->on_stopped(b->arg, &e);
    }
}

/* ---- the loop ----------------------------------------------------------------------- */

/* One round of the bridge's work. Scans of every task (failed writes to
 * retry, launches Mesos never answered) run on the one-second tick only:
 * a kick comes with every cache batch, and must cost no more than what
 * changed. */
static void work(mb *b, bool tick)
{
    if (b->stopped)
        return;
    int64_t now = cr_mono_ms();
    if (!b->fw_loaded && !b->fw_loading && now >= b->fw_retry_ms) {
        cr_err err;
        char *key = fw_key(b);
        b->fw_loading = true;
        if (store_get(b->st, key, 0, fw_get_done, b, &err) < 0)
            b->fw_loading = false;
        free(key);
    }
    if (tick && b->fw_status_dirty)
        fw_status_flush(b);
    if (b->fw_unstored && !b->fw_writing && now >= b->fw_store_retry_ms)
        fw_store(b);
    if (!b->fw_loaded || !all_synced(b))
        return;
    if (!b->sub && !b->sub_scheduled)
        schedule_subscribe(b, 0);
    /* retry failed task writes (they wait a second anyway) */
    for (mb_map_iter it = mb_map_first(&b->tasks); tick && it.e; mb_map_next(&b->tasks, &it)) {
        tentry *te = it.e->val;
        if (te->dirty && !te->writing && now >= te->retry_at)
            task_flush(b, te);
    }
    if (!b->subscribed)
        return;
    if (mb_heartbeat_expired(b->last_event_ms, now, b->hb_s, b->hb_misses)) {
        cr_warn(b->log, "no event from %s for %d heartbeats: re-subscribing", master_url(b),
                b->hb_misses);
        if (b->sub) {
            cr_http_cancel(b->sub);
            b->sub = NULL;
        }
        drop_stream(b);
        free(b->leader_url);
        b->leader_url = NULL;
        schedule_subscribe(b, 0);
        return;
    }
    reasons_sweep(b);
    agents_refresh(b, now);
    ctl_runner_enqueue(b->offers_r, OFFERS_KEY);
    kills(b);
    shells_work(b);
    if (tick)
        shells_prune(b);
    reconcile(b, tick);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    work(arg, false);
}

static void kick(mb *b)
{
    if (!evtimer_pending(b->kick, NULL)) {
        struct timeval tv = {0, 0};
        evtimer_add(b->kick, &tv);
    }
}

/* Forgets rate-limit marks (agents written, cleanups deleted, foreign
 * kills) older than ten minutes so the maps stay small. */
static void prune_marks(mb *b, mb_map *m, int64_t now)
{
    char **old = xcalloc(m->n + 1, sizeof(char *));
    size_t n = 0;
    for (mb_map_iter it = mb_map_first(m); it.e; mb_map_next(m, &it))
        if (now - *(int64_t *)it.e->val > 600000)
            old[n++] = xstrdup(it.e->key);
    for (size_t i = 0; i < n; i++) {
        free(mb_map_del(m, old[i]));
        free(old[i]);
    }
    free(old);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    mb *b = arg;
    int64_t now = cr_mono_ms();
    prune_marks(b, &b->agents_seen, now);
    prune_marks(b, &b->foreign, now);
    /* the launch queue drops what left it even while no cycle runs (the
     * framework document unreadable, the cache not synced) */
    pend_queue(b);
    work(b, true);
}

/* ---- public API --------------------------------------------------------------------- */

mb *mb_new(struct event_base *base, cr_http *http, store *st, const mb_config *cfg, cr_err *err)
{
    size_t n = 0;
    char **masters = split_list(cfg->masters, &n);
    if (!n) {
        free_list(masters);
        cr_error(err, CR_EINVAL, "mesosbridge: no Mesos master URL");
        return NULL;
    }
    mb *b = xcalloc(1, sizeof(*b));
    b->base = base;
    b->http = http;
    b->st = st;
    b->cache = cfg->cache;
    b->log = cfg->log;
    b->prefix = xstrdup(cfg->prefix ? cfg->prefix : "/corral");
    size_t pl = strlen(b->prefix);
    if (pl > 1 && b->prefix[pl - 1] == '/')
        b->prefix[pl - 1] = '\0';
    b->masters = masters;
    b->n_masters = n;
    for (size_t i = 0; i < n; i++) { /* "host:port" -> "http://host:port" */
        size_t l = strlen(masters[i]);
        if (l && masters[i][l - 1] == '/')
            masters[i][l - 1] = '\0';
        if (!strstr(masters[i], "://")) {
            char *u = xasprintf("http://%s", masters[i]);
            free(masters[i]);
            masters[i] = u;
        }
    }
    const char *user = cfg->framework.user;
    if (!user)
        user = getenv("USER");
    b->fw_user = xstrdup(user && *user ? user : "root");
    b->fw_name = xstrdup(cfg->framework.name ? cfg->framework.name : "corral");
    b->fw_hostname = xstrdup(cfg->framework.hostname);
    b->fw_webui = xstrdup(cfg->framework.webui_url);
    b->fw_principal = xstrdup(cfg->framework.principal);
    b->failover = cfg->framework.failover_timeout;
    size_t nr = 0;
    for (; cfg->framework.roles && cfg->framework.roles[nr]; nr++)
        ;
    b->fw_roles = xcalloc(nr + 2, sizeof(char *));
    for (size_t i = 0; i < nr; i++)
        b->fw_roles[i] = xstrdup(cfg->framework.roles[i]);
    if (!nr)
        b->fw_roles[0] = xstrdup("*");
    b->leader_key = xstrdup(cfg->leader_key);
    b->leader_rev = cfg->leader_rev;
    b->executor_path = xstrdup(cfg->executor_path);
    b->default_rack = xstrdup(cfg->default_rack ? cfg->default_rack : "DEFAULT");
    b->rack_attr = xstrdup(cfg->rack_attribute);
    for (size_t i = 0; cfg->reserve_attrs && i < cfg->reserve_attrs->n; i++)
        api_strmap_set(&b->reserve_attrs, cfg->reserve_attrs->v[i].key,
                       cfg->reserve_attrs->v[i].value);
    b->offer_policy.hold_ms = cfg->offer_hold_ms > 0 ? cfg->offer_hold_ms : 2000;
    b->offer_policy.refuse_idle_s = cfg->refuse_idle_s > 0 ? cfg->refuse_idle_s : 300;
    b->offer_policy.refuse_busy_s = cfg->refuse_busy_s > 0 ? cfg->refuse_busy_s : 5;
    b->offer_policy.cache_max = cfg->offer_cache_size < 0    ? 0
                                : cfg->offer_cache_size > 0 ? (size_t)cfg->offer_cache_size
                                                            : 125;
    b->offer_policy.cache_ms = cfg->offer_cache_ms > 0 ? cfg->offer_cache_ms : 60000;
    b->kill_retry_ms = cfg->kill_retry_ms > 0 ? cfg->kill_retry_ms : 30000;
    b->implicit_ms = cfg->implicit_reconcile_ms > 0 ? cfg->implicit_reconcile_ms : 600000;
    b->recon_batch = cfg->reconcile_batch > 0 ? cfg->reconcile_batch : 5000;
    b->offload_bytes =
        cfg->offload_event_bytes > 0 ? (size_t)cfg->offload_event_bytes : EV_OFFLOAD_BYTES;
    b->recon_cap_ms = cfg->reconcile_cap_ms > 0 ? cfg->reconcile_cap_ms : 30000;
    b->launch_timeout_ms = cfg->launch_timeout_ms > 0 ? cfg->launch_timeout_ms : 60000;
    b->hb_misses = cfg->heartbeat_misses > 0 ? cfg->heartbeat_misses : 5;
    b->sub_cap_ms = cfg->subscribe_backoff_cap_ms > 0 ? cfg->subscribe_backoff_cap_ms : 15000;
    b->agents_refresh_ms =
        cfg->agents_refresh_ms > 0 ? cfg->agents_refresh_ms : MB_AGENT_REFRESH_MS;
    b->on_stopped = cfg->on_stopped;
    b->arg = cfg->arg;
    b->hb_s = 15;
    mb_backoff_init(&b->sub_backoff, 500, b->sub_cap_ms);
    mb_recon_init(&b->recon, 1000, b->recon_cap_ms);
    mb_recordio_init(&b->rio, MB_MAX_RECORD);
    for (int i = 0; i < N_INF; i++) {
        b->inf[i].b = b;
        b->inf[i].kind = i;
        b->inf[i].prefix = api_key_kind_prefix(b->prefix, inf_kinds[i], NULL);
    }
    b->sub_timer = evtimer_new(base, sub_timer_cb, b);
    b->kick = evtimer_new(base, kick_cb, b);
    b->tick = event_new(base, -1, EV_PERSIST, tick_cb, b);
    return b;
}

int mb_start(mb *b, cr_err *err)
{
    if (b->started)
        return cr_error(err, CR_EINVAL, "mesosbridge: already started");
    b->started = true;
    if (!b->cache) {
        store_cache_config cc = {.prefix = b->prefix, .log = b->log};
        b->own_cache = b->cache = store_cache_new(b->base, b->st, &cc);
        if (store_cache_start(b->cache, err) < 0)
            return -1;
    }
    store_cache_handlers ch = {.on_change = on_cache_change,
                               .on_revision = on_cache_revision,
                               .on_synced = on_cache_synced};
    store_cache_subscribe(b->cache, &ch, b);
    if (store_cache_synced(b->cache))
        on_cache_synced(b);
    ctl_runner_config rc = {.max_inflight = 1,
                            .resync_ms = -1, /* kicks and the tick queue it */
                            .log = b->log,
                            .fence_key = is_fenced(b) ? b->leader_key : NULL,
                            .fence_rev = b->leader_rev};
    b->offers_r = ctl_runner_new(b->base, b->st, b->cache, NULL, &offers_loop, b, &rc);
    if (ctl_runner_start(b->offers_r, err) < 0)
        return -1;
    struct timeval tv = {1, 0};
    event_add(b->tick, &tv);
    cr_info(b->log, "mesosbridge starting: masters %s..., prefix %s", b->masters[0], b->prefix);
    kick(b);
    return 0;
}

void mb_free(mb *b)
{
    if (!b)
        return;
    b->stopped = true;
    /* first: its launch groups still in flight free their ops */
    ctl_runner_free(b->offers_r);
    if (b->sub)
        cr_http_cancel(b->sub);
    store_cancel(b->st, b);
    if (b->cache)
        store_cache_unsubscribe(b->cache, b);
    for (int i = 0; i < N_INF; i++) {
        if (i != INF_TASK)
            mb_map_release(&b->inf[i].docs, doc_freer[i]);
        free(b->inf[i].prefix);
    }
    /* every pending document is retired now: the queue frees them */
    for (size_t i = 0; i < b->pq_n; i++)
        doc_free(b->pq[i]);
    for (size_t i = 0; i < b->pq_new_n; i++)
        doc_free(b->pq_new[i]);
    free(b->pq);
    free(b->pq_new);
    if (b->agents_job) { /* waits for its decode to end */
        cr_offload_cancel(b->agents_job->job);
        agents_job_free(b->agents_job);
    }
    if (b->ev_job) {
        cr_offload_cancel(b->ev_job->job);
        ev_job_free(b->ev_job);
    }
    ev_clear(b);
    free(b->evq);
    while (b->ops) {
        op *o = b->ops;
        if (o->req)
            cr_http_cancel(o->req);
        store_cancel(b->st, o);
        op_free(o);
    }
    event_free(b->sub_timer);
    event_free(b->kick);
    event_free(b->tick);
    store_cache_free(b->own_cache);
    mb_map_release(&b->tasks, tentry_free);
    mb_map_release(&b->tasks_by_req, tlist_free);
    mb_map_release(&b->launching, NULL);
    mb_map_release(&b->restoring, NULL);
    mb_map_release(&b->shells, shell_st_free);
    mb_map_release(&b->reasons, preason_free);
    mb_map_release(&b->foreign, free);
    mb_map_release(&b->agents_seen, free);
    for (size_t i = 0; i < b->n_offers; i++)
        mb_offer_release(&b->offers[i].offer);
    free(b->offers);
    mb_recordio_release(&b->rio);
    free(b->stream_id);
    free(b->place_from);
    free(b->framework_id);
    free(b->fw_error);
    free(b->stop_reason);
    api_framework_status_release(&b->fw_status);
    free(b->prefix);
    free_list(b->masters);
    free(b->leader_url);
    free(b->fw_user);
    free(b->fw_name);
    free(b->fw_hostname);
    free(b->fw_webui);
    free(b->fw_principal);
    free_list(b->fw_roles);
    free(b->leader_key);
    free(b->executor_path);
    free(b->default_rack);
    free(b->rack_attr);
    api_strmap_release(&b->reserve_attrs);
    free(b);
}

static const char *const call_names[MB_CALL_N] = {
    "ACCEPT", "DECLINE", "KILL", "ACKNOWLEDGE", "RECONCILE", "SUPPRESS", "REVIVE", "OTHER"};

static mb_call_kind call_kind(const char *type)
{
    for (int i = 0; type && i < MB_CALL_OTHER; i++)
        if (!strcmp(type, call_names[i]))
            return (mb_call_kind)i;
    return MB_CALL_OTHER;
}

void mb_get_stats(const mb *b, mb_stats *out)
{
    *out = b->stats;
    ctl_runner_get_stats(b->offers_r, &out->offers_loop);
    for (int i = 0; i < MB_CALL_N; i++)
        out->calls[i].type = call_names[i];
    out->subscribed = b->subscribed;
    out->stopped = b->stopped;
    out->suppressed = b->suppressed;
    out->reconciled = b->subscribed && (!b->recon.active ||
                                        cr_mono_ms() - b->recon.started_ms > MB_RECONCILED_CAP_MS);
    out->framework_id = b->framework_id;
    out->error = b->fw_error ? b->fw_error : b->stop_reason;
    out->master = master_url(b);
    out->offers_held = b->n_offers;
    out->calls_in_flight = b->calls_out;
    out->tasks_known = b->tasks.n;
    out->pending_known = b->inf[INF_PEND].docs.n;
}
