#include "apiserver/as_logs.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "apiserver/as_model.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/xalloc.h"

#define DEFAULT_NODEAGENT_PORT 7100
#define DEFAULT_PRESIGN_S      900
/* A stream whose client takes nothing is dropped past this backlog. */
#define MAX_BACKLOG (8 * 1024 * 1024)
/* After the task ended, the node agent gets this long to send the rest. */
#define END_GRACE_MS 3000

/* ---- S3 log API (pure) ----------------------------------------------------------- */

static bool env_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

void as_logs_s3_from_env(as_logs_s3 *out)
{
    const char *ep = getenv("CORRAL_S3_ENDPOINT"), *exp = getenv("CORRAL_S3_PRESIGN_SECONDS");

    memset(out, 0, sizeof(*out));
    out->s3.endpoint = ep && *ep ? ep : "https://s3.amazonaws.com";
    out->s3.region = getenv("AWS_REGION") ? getenv("AWS_REGION") : getenv("AWS_DEFAULT_REGION");
    out->s3.access_key = getenv("AWS_ACCESS_KEY_ID");
    out->s3.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    out->s3.session_token = getenv("AWS_SESSION_TOKEN");
    out->s3.path_style = env_true(getenv("CORRAL_S3_PATH_STYLE"));
    out->expires_s = exp && atoll(exp) > 0 ? atoll(exp) : DEFAULT_PRESIGN_S;
}

static const char *jstr(const json_t *o, const char *f)
{
    return json_string_value(json_object_get(o, f));
}

static json_int_t jint(const json_t *o, const char *f)
{
    return json_integer_value(json_object_get(o, f));
}

/* The file name of a record key (its last component). */
static const char *key_file(const char *key)
{
    const char *s = strrchr(key, '/');
    return s ? s + 1 : key;
}

static json_t *s3log(const as_logs_s3 *cfg, const json_t *rec, const char *file, int64_t now,
                     bool urls)
{
    const char *bucket = jstr(rec, "bucket"), *key = jstr(rec, "key");
    json_t *o = json_pack(
        "{s:s, s:I, s:I}", "key", key, "lastModified",
        (json_int_t)(jint(rec, "uploadedAt") ? jint(rec, "uploadedAt") : jint(rec, "createdAt")),
        "size", jint(rec, "size"));

    if (json_is_integer(json_object_get(rec, "startTime")))
        json_object_set(o, "startTime", json_object_get(rec, "startTime"));
    if (json_is_integer(json_object_get(rec, "endTime")))
        json_object_set(o, "endTime", json_object_get(rec, "endTime"));
    if (urls) {
        char date[17], *get, *dl, *disp, *edisp, *q;
        cr_s3_amz_date(now, date);
        get = cr_s3_presign(&cfg->s3, "GET", bucket, key, date, cfg->expires_s, NULL);
        disp = xasprintf("attachment; filename=\"%s\"", file);
        edisp = cr_s3_uri_encode(disp, false);
        q = xasprintf("response-content-disposition=%s", edisp);
        dl = cr_s3_presign(&cfg->s3, "GET", bucket, key, date, cfg->expires_s, q);
        json_object_set_new(o, "getUrl", get ? json_string(get) : json_null());
        json_object_set_new(o, "downloadUrl", dl ? json_string(dl) : json_null());
        free(get);
        free(dl);
        free(disp);
        free(edisp);
        free(q);
    }
    /* Corral: which task and file, and where */
    json_object_set_new(o, "taskId", json_string(jstr(rec, "taskId") ? jstr(rec, "taskId") : ""));
    json_object_set_new(o, "fileName", json_string(file));
    if (bucket)
        json_object_set_new(o, "bucket", json_string(bucket));
    return o;
}

static int newest_first(const void *a, const void *b)
{
    json_int_t x = jint(*(json_t *const *)a, "lastModified");
    json_int_t y = jint(*(json_t *const *)b, "lastModified");
    if (x != y)
        return x > y ? -1 : 1;
    return strcmp(jstr(*(json_t *const *)a, "key"), jstr(*(json_t *const *)b, "key"));
}

json_t *as_logs_list(const char *prefix, const as_cache *c, const as_logs_s3 *cfg, const char *rid,
                     const char *tid, const char *did, int64_t now)
{
    return as_logs_list_opts(prefix, c, cfg, rid, tid, did, now, 0, 0, true, 0);
}

json_t *as_logs_list_opts(const char *prefix, const as_cache *c, const as_logs_s3 *cfg,
                          const char *rid, const char *tid, const char *did, int64_t now,
                          int64_t start, int64_t end, bool urls, size_t max)
{
    char *kp = tid ? api_key_log_upload_task_prefix(prefix, rid, tid)
                   : api_key_kind_prefix(prefix, API_KEY_LOG_UPLOAD, rid);
    size_t first, n = as_cache_range(c, kp, &first), m = 0;
    json_t **v = xcalloc(n + 1, sizeof(*v)), *out = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const json_t *rec = e->value;
        const char *state = jstr(rec, "state");
        json_int_t mod;
        if (!json_is_object(rec) || !state || strcmp(state, "UPLOADED") != 0 ||
            !jstr(rec, "bucket") || !jstr(rec, "key"))
            continue;
        if (did && (!jstr(rec, "deployId") || strcmp(jstr(rec, "deployId"), did) != 0))
            continue;
        mod = jint(rec, "uploadedAt");
        if ((start && mod < start) || (end && mod > end))
            continue;
        v[m++] = s3log(cfg, rec, key_file(e->key), now, urls);
    }
    qsort(v, m, sizeof(*v), newest_first);
    for (size_t i = 0; i < m; i++) {
        if (!max || i < max)
            json_array_append(out, v[i]);
        json_decref(v[i]);
    }
    free(v);
    free(kp);
    return out;
}

json_t *as_logs_records(const char *prefix, const as_cache *c, const char *rid, const char *tid)
{
    char *kp = api_key_log_upload_task_prefix(prefix, rid, tid);
    size_t first, n = as_cache_range(c, kp, &first);
    json_t *out = json_array();

    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        json_t *r = json_is_object(e->value) ? json_deep_copy(e->value) : json_object();
        json_object_set_new(r, "fileName", json_string(key_file(e->key)));
        json_object_set_new(r, "modRevision", json_integer(e->mod_revision));
        json_array_append_new(out, r);
    }
    free(kp);
    return out;
}

typedef struct aged {
    const char *key;
    json_int_t at;
} aged;

static int older_first(const void *a, const void *b)
{
    const aged *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return strcmp(x->key, y->key);
}

json_t *as_logs_evict(const char *prefix, const as_cache *c, const char *rid, size_t max)
{
    char *kp = api_key_kind_prefix(prefix, API_KEY_LOG_UPLOAD, rid);
    size_t first, n = as_cache_range(c, kp, &first), m = 0, drop;
    aged *v;
    json_t *out = json_array();

    free(kp);
    if (n < max)
        return out;
    v = xcalloc(n, sizeof(*v));
    for (size_t i = first; i < first + n; i++) {
        const as_entry *e = as_cache_at(c, i);
        const char *st = jstr(e->value, "state");
        if (st && strcmp(st, "UPLOADED") == 0)
            v[m++] = (aged){e->key, jint(e->value, "uploadedAt")};
    }
    qsort(v, m, sizeof(*v), older_first);
    drop = n + 1 - max;
    for (size_t i = 0; i < m && i < drop; i++)
        json_array_append_new(out, json_string(v[i].key));
    free(v);
    return out;
}

const char *as_logs_check_record(const json_t *rec)
{
    const char *state = jstr(rec, "state");
    static const char *strs[] = {"bucket", "key", "host", "path"};

    if (!json_is_object(rec))
        return "upload record: must be a JSON object";
    if (!state || (strcmp(state, "UPLOADING") != 0 && strcmp(state, "UPLOADED") != 0))
        return "upload record.state: must be UPLOADING or UPLOADED";
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *s = jstr(rec, strs[i]);
        if (!s || !*s || strlen(s) > 1024)
            return "upload record: bucket, key, host and path must be strings of 1 to 1024 bytes";
    }
    if (!json_is_integer(json_object_get(rec, "size")) || jint(rec, "size") < 0)
        return "upload record.size: must be an integer >= 0";
    if (json_object_size(rec) > 32)
        return "upload record: too many fields";
    return NULL;
}

/* ---- follow proxy ------------------------------------------------------------------ */

typedef struct fstream {
    as_logs *l;
    struct evhttp_request *req; /* NULL once the client went away */
    int64_t started;
    char *task_id;
    char *url; /* the stream's, once the probe succeeded */
    cr_http_req *hr;
    bool streaming;   /* the reply started */
    int64_t ended_at; /* mono ms the task was first seen over; 0 */
    struct event *tick;
    struct fstream *prev, *next;
} fstream;

struct as_logs {
    struct event_base *base;
    cr_http *http;
    const as_cache *cache;
    char *prefix;
    cr_log *log;
    as_logs_reply reply;
    void *arg;
    long port;
    char *fixed_url;
    fstream *streams;
    size_t n;
};

as_logs *as_logs_new(struct event_base *base, cr_http *http, const as_cache *cache,
                     const char *prefix, cr_log *log, as_logs_reply reply, void *arg)
{
    as_logs *l = xcalloc(1, sizeof(*l));
    const char *port = getenv("CORRAL_NODEAGENT_PORT"), *url = getenv("CORRAL_NODEAGENT_URL");

    l->base = base;
    l->http = http;
    l->cache = cache;
    l->prefix = xstrdup(prefix);
    l->log = log;
    l->reply = reply;
    l->arg = arg;
    l->port = port && atol(port) > 0 && atol(port) < 65536 ? atol(port) : DEFAULT_NODEAGENT_PORT;
    if (url && *url) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        l->fixed_url = xstrndup(url, n);
    }
    return l;
}

size_t as_logs_streams(const as_logs *l)
{
    return l ? l->n : 0;
}

static void fs_free(fstream *s)
{
    as_logs *l = s->l;

    if (s->prev)
        s->prev->next = s->next;
    else if (l->streams == s)
        l->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    l->n--;
    if (s->req)
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
    cr_http_cancel(s->hr);
    if (s->tick)
        event_free(s->tick);
    free(s->task_id);
    free(s->url);
    free(s);
}

/* Ends the client's reply (and the upstream call) and frees s. */
static void fs_end(fstream *s)
{
    if (s->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
        if (s->streaming)
            evhttp_send_reply_end(s->req);
        s->req = NULL;
    }
    fs_free(s);
}

static void fs_fail(fstream *s, int status, const char *what, const char *detail)
{
    char msg[1024];
    json_t *b;

    snprintf(msg, sizeof(msg), "%s%s", what, detail ? detail : "");
    b = json_pack("{s:s, s:i}", "message", msg, "status", status);
    if (s->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
        s->l->reply(s->l->arg, s->req, s->started, status, b);
        s->req = NULL;
    }
    json_decref(b);
    fs_free(s);
}

void as_logs_free(as_logs *l)
{
    if (!l)
        return;
    while (l->streams)
        fs_end(l->streams);
    free(l->prefix);
    free(l->fixed_url);
    free(l);
}

static void client_gone(struct evhttp_connection *conn, void *arg)
{
    fstream *s = arg;
    if (s->req && !evhttp_request_get_connection(s->req))
        evhttp_request_free(s->req);
    s->req = NULL;
    fs_free(s);
}

static size_t backlog(const fstream *s)
{
    struct evhttp_connection *c = evhttp_request_get_connection(s->req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* The stream's reply starts once the node agent said it serves the task
 * (the probe): its own headers come only with its first byte, which may
 * be long in coming for a quiet log. */
static void start_reply(fstream *s)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(s->req);

    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(s->req, 200, "OK");
    s->streaming = true;
    s->l->reply(s->l->arg, s->req, s->started, 200, NULL);
}

static void on_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    fstream *s = arg;

    if (!s->req)
        return;
    if (backlog(s) > MAX_BACKLOG) {
        cr_warn(s->l->log, "logs: follow client of %s too slow; closing", s->task_id);
        s->hr = NULL;
        cr_http_cancel(r);
        fs_end(s);
        return;
    }
    {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, data, len);
        evhttp_send_reply_chunk(s->req, b);
        evbuffer_free(b);
    }
}

static void on_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    fstream *s = arg;

    s->hr = NULL;
    if (err || resp->status != 200)
        cr_info(s->l->log, "logs: follow of %s ended: %s", s->task_id,
                err ? cr_err_msg(err) : resp->body);
    fs_end(s);
}

static void on_probe(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    fstream *s = arg;
    cr_http_opts o = {0};
    cr_err e2;
    json_t *j;
    const char *msg;

    s->hr = NULL;
    if (err) {
        fs_fail(s, 502, "node agent unreachable: ", cr_err_msg(err));
        return;
    }
    if (resp->status != 200) {
        j = json_loadb(resp->body, resp->body_len, 0, NULL);
        msg = jstr(j, "message") ? jstr(j, "message") : resp->body;
        fs_fail(s, resp->status == 400 ? 400 : 502,
                resp->status == 400 ? "" : "node agent answered: ", msg);
        json_decref(j);
        return;
    }
    if (!s->req) {
        fs_free(s);
        return;
    }
    start_reply(s);
    o.method = "GET";
    o.url = s->url;
    o.timeout_ms = 0;
    o.connect_timeout_ms = 5000;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = s;
    s->hr = cr_http_start(s->l->http, &o, &e2);
    if (!s->hr)
        fs_end(s);
}

/* Ends a stream a few seconds after its task is over in the cache, in
 * case the node agent cannot tell (a command task's sandbox). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    fstream *s = arg;
    as_api_config cfg = {.prefix = s->l->prefix};
    bool hist;
    const as_entry *t = as_m_task_entry(&cfg, s->l->cache, s->task_id, &hist);

    if (t && !hist && as_m_task_entry_active(t)) {
        s->ended_at = 0;
        return;
    }
    if (!s->ended_at)
        s->ended_at = cr_mono_ms();
    else if (cr_mono_ms() - s->ended_at >= END_GRACE_MS)
        fs_end(s);
}

static void add_param(cr_buf *b, const as_req *ar, const char *name)
{
    const char *v = as_req_query(ar, name);
    char *e;

    if (!v)
        return;
    e = evhttp_uriencode(v, -1, 0);
    cr_buf_addf(b, "&%s=%s", name, e);
    free(e);
}

void as_logs_follow(as_logs *l, struct evhttp_request *req, const as_req *ar, int64_t started)
{
    const char *tid = as_match_param(ar->match, "taskId"), *host = NULL;
    as_api_config cfg = {.prefix = l->prefix};
    json_t *task; /* parsed from the cache's text (as_m_task_find): host borrows from it */
    json_t *agent = NULL;
    fstream *s = xcalloc(1, sizeof(*s));
    struct timeval tv = {1, 0};
    cr_buf url = CR_BUF_INIT;
    cr_http_opts o = {0};
    char *etid;
    bool hist;
    cr_err err;

    s->l = l;
    s->req = req;
    s->started = started;
    s->task_id = xstrdup(tid);
    s->next = l->streams;
    if (l->streams)
        l->streams->prev = s;
    l->streams = s;
    l->n++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), client_gone, s);

    task = as_m_task_find(&cfg, l->cache, tid, &hist);
    if (!task) {
        fs_fail(s, 404, "No task with id ", tid);
        return;
    }
    if (as_jstr(task, "agentId"))
        agent = as_m_machine(&cfg, l->cache, API_KEY_AGENT, as_jstr(task, "agentId"));
    host = as_jstr(task, "hostname") ? as_jstr(task, "hostname") : as_jstr(agent, "hostname");
    if (!l->fixed_url && !host) {
        json_decref(task);
        json_decref(agent);
        fs_fail(s, 502, "no known host for task ", tid);
        return;
    }
    cr_buf_init(&url);
    etid = evhttp_uriencode(tid, -1, 0);
    if (l->fixed_url)
        cr_buf_addf(&url, "%s", l->fixed_url);
    else
        cr_buf_addf(&url, "http://%s:%ld", host, l->port);
    json_decref(task); /* host's last use */
    json_decref(agent);
    host = NULL;
    {
        /* the node agent's URLs (docs/nodeagent.md) */
        char *probe = xasprintf("%s/v1/tasks/%s/files", url.data, etid); /* check-keys: not a key */
        cr_buf_addf(&url, "/v1/tasks/%s/follow?path=", etid);            /* check-keys: not a key */
        free(etid);
        etid = probe;
    }
    {
        const char *p = as_req_query(ar, "path");
        char *e = evhttp_uriencode(p ? p : "stdout", -1, 0);
        cr_buf_adds(&url, e);
        free(e);
    }
    add_param(&url, ar, "offset");
    add_param(&url, ar, "lines");
    add_param(&url, ar, "grep");
    add_param(&url, ar, "follow");
    s->url = cr_buf_detach(&url, NULL);
    o.method = "GET";
    o.url = etid;
    o.timeout_ms = 5000;
    o.connect_timeout_ms = 5000;
    o.max_body = 1024 * 1024;
    o.on_done = on_probe;
    o.arg = s;
    s->hr = cr_http_start(l->http, &o, &err);
    free(etid);
    if (!s->hr) {
        fs_fail(s, 502, "node agent call failed: ", cr_err_msg(&err));
        return;
    }
    s->tick = event_new(l->base, -1, EV_PERSIST, on_tick, s);
    evtimer_add(s->tick, &tv);
}
