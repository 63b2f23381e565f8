#include "nodeagent/na_app.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/xalloc.h"
#include "nodeagent/na_app_int.h"
#include "nodeagent/na_files.h"
#include "nodeagent/na_follow.h"

#define READ_DEFAULT    (64 * 1024)
#define READ_MAX        (1024 * 1024)
#define STREAM_BACKLOG  (1024 * 1024)
#define FINISH_GRACE_MS 10000
/* A held partial line goes to a follower after this long (the executor
 * writes one to the file after as long: executor/exe_log.h). */
#define PARTIAL_FLUSH_MS 500

/* ---- sandbox index -------------------------------------------------------------- */

static tracked *track_find(na_app *a, const char *dir)
{
    for (size_t i = 0; i < a->n_tracked; i++)
        if (strcmp(a->tracked[i].sb.dir, dir) == 0)
            return &a->tracked[i];
    return NULL;
}

/* Rescans the work dirs and the processes; keeps what it knew of each
 * sandbox (when first seen, whether a process ran in it). */
void na_app_rescan(na_app *a)
{
    na_sandboxes all = {0};
    tracked *next = NULL;
    size_t n = 0;
    int64_t now = cr_mono_ms();

    for (size_t w = 0; w < a->n_work; w++) {
        na_sandboxes one;
        na_scan(a->work[w], &one);
        all.v = xrealloc(all.v, (all.n + one.n + 1) * sizeof(*all.v));
        if (one.n) /* an empty scan has v NULL: memcpy's arguments are nonnull */
            memcpy(all.v + all.n, one.v, one.n * sizeof(*one.v));
        all.n += one.n;
        free(one.v);
    }
    na_procs_release(&a->procs);
    na_proc_scan("/proc", &a->procs);
    next = xcalloc(all.n + 1, sizeof(*next));
    for (size_t i = 0; i < all.n; i++) {
        tracked *old = track_find(a, all.v[i].dir), *t = &next[n++];
        t->sb = all.v[i];
        t->first_seen = old ? old->first_seen : now;
        t->live = na_procs_in(&a->procs, t->sb.dir) > 0;
        t->ever_live = t->live || (old && old->ever_live);
        t->logs_final = na_logs_finished(t->sb.dir);
        t->upload = old ? old->upload : NULL;
        if (old)
            old->upload = NULL;
        t->oom_since = old ? old->oom_since : 0;
        t->oom_killed = old ? old->oom_killed : false;
        t->oom_kill_at = old ? old->oom_kill_at : 0;
        t->oom_pgid = old ? old->oom_pgid : 0;
    }
    free(all.v);
    for (size_t i = 0; i < a->n_tracked; i++) {
        na_upload_task_free(a->tracked[i].upload);
        na_sandbox_release(&a->tracked[i].sb);
    }
    free(a->tracked);
    a->tracked = next;
    a->n_tracked = n;
    a->last_scan = now;
    a->stats.scans++;
}

bool na_app_finished(const na_app *a, const tracked *t)
{
    if (t->sb.has_record || t->logs_final)
        return true;
    /* A command task (no executor record): over once no process runs in
     * its sandbox any more, or none ever did for a while. */
    return !t->live && (t->ever_live || cr_mono_ms() - t->first_seen > FINISH_GRACE_MS);
}

const tracked *na_app_task(na_app *a, const char *task_id)
{
    const tracked *best = NULL;

    for (int pass = 0; pass < 2 && !best; pass++) {
        /* a task started since the last scan (a miss rescans at most
         * every 250 ms: unknown ids cost a client little) */
        if (pass == 1 && cr_mono_ms() - a->last_scan < 250)
            break;
        if (pass == 1)
            na_app_rescan(a);
        for (size_t i = 0; i < a->n_tracked; i++) {
            const tracked *t = &a->tracked[i];
            if (strcmp(t->sb.task_id, task_id) == 0 &&
                (!best || t->sb.mtime_ms > best->sb.mtime_ms))
                best = t;
        }
    }
    return best;
}

/* ---- HTTP helpers ---------------------------------------------------------------- */

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *b = evbuffer_new();
    char *txt = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(b, txt, strlen(txt));
    evbuffer_add(b, "\n", 1);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
    free(txt);
    json_decref(body);
}

static void send_error(struct evhttp_request *req, int status, const char *msg)
{
    send_json(req, status, json_pack("{s:s, s:i}", "message", msg, "status", status));
}

static const char *q(struct evkeyvalq *qs, const char *name)
{
    return evhttp_find_header(qs, name);
}

static int q_int(struct evkeyvalq *qs, const char *name, int64_t def, int64_t min, int64_t max,
                 int64_t *out, struct evhttp_request *req)
{
    const char *v = q(qs, name);
    char *end, msg[160];
    long long x;

    *out = def;
    if (!v)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max) {
        snprintf(msg, sizeof(msg), "query parameter %s: an integer from %lld to %lld", name,
                 (long long)min, (long long)max);
        send_error(req, 400, msg);
        return -1;
    }
    *out = x;
    return 0;
}

/* Keeps the lines of p[0..n) that contain grep (all when grep is NULL). */
static void add_filtered(struct evbuffer *out, const char *p, size_t n, const char *grep)
{
    if (!grep || !*grep) {
        evbuffer_add(out, p, n);
        return;
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) + 1 : n;
        if (memmem(p, l, grep, strlen(grep)))
            evbuffer_add(out, p, l);
        p += l;
        n -= l;
    }
}

/* ---- /v1/sandboxes, files, read --------------------------------------------------- */

static json_t *logs_json(const char *dir)
{
    na_logfiles l;
    json_t *arr = json_array();

    na_list_logs(dir, &l);
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:I, s:I, s:b}", "path", l.v[i].rel, "name",
                                        l.v[i].name, "size", (json_int_t)l.v[i].size, "mtime",
                                        (json_int_t)l.v[i].mtime_ms, "rotated", l.v[i].rotated));
    na_logfiles_release(&l);
    return arr;
}

static void h_sandboxes(na_app *a, struct evhttp_request *req)
{
    json_t *arr = json_array();

    if (cr_mono_ms() - a->last_scan >= 250)
        na_app_rescan(a);
    for (size_t i = 0; i < a->n_tracked; i++) {
        const tracked *t = &a->tracked[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s?, s:I, s:o}", "taskId",
                           t->sb.task_id, "directory", t->sb.dir, "agentId", t->sb.agent_id,
                           "frameworkId", t->sb.framework_id, "executorId", t->sb.executor_id,
                           "finished", na_app_finished(a, t), "running", t->live, "state",
                           t->sb.state, "rssBytes", (json_int_t)na_procs_rss(&a->procs, t->sb.dir),
                           "logs", logs_json(t->sb.dir)));
    }
    send_json(req, 200, arr);
}

static void h_files(na_app *a, struct evhttp_request *req, const tracked *t)
{
    send_json(req, 200,
              json_pack("{s:s, s:s, s:b, s:o}", "taskId", t->sb.task_id, "directory", t->sb.dir,
                        "finished", na_app_finished(a, t), "files", logs_json(t->sb.dir)));
}

/* Opens a log of t for a read; answers the error itself. */
static int open_log(struct evhttp_request *req, const tracked *t, const char *path, struct stat *st)
{
    const char *bad = na_path_check(path);
    int fd;

    if (bad) {
        send_error(req, 400, bad);
        return -1;
    }
    fd = na_open_in(t->sb.dir, path, O_RDONLY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        if (fd >= 0)
            close(fd);
        /* a link, a directory or nothing: the same answer */
        send_error(req, 404, "no such file in the sandbox");
        return -1;
    }
    return fd;
}

static void h_read(na_app *a, struct evhttp_request *req, const tracked *t, struct evkeyvalq *qs)
{
    struct stat st;
    int64_t offset, length, lines;
    int fd;
    const char *grep = q(qs, "grep");

    if (q_int(qs, "offset", -2, -1, INT64_MAX, &offset, req) < 0 ||
        q_int(qs, "length", READ_DEFAULT, 0, READ_MAX, &length, req) < 0 ||
        q_int(qs, "lines", 0, 0, 1000000, &lines, req) < 0)
        return;
    fd = open_log(req, t, q(qs, "path") ? q(qs, "path") : "stdout", &st);
    if (fd < 0)
        return;
    if (offset == -1) { /* Mesos: the size only */
        close(fd);
        send_json(req, 200,
                  json_pack("{s:s, s:I, s:I}", "data", "", "offset", (json_int_t)st.st_size,
                            "nextOffset", (json_int_t)st.st_size));
        return;
    }
    if (offset == -2)
        offset = lines > 0 ? na_tail_offset(fd, st.st_size, lines) : 0;
    if (offset > st.st_size)
        offset = st.st_size;
    {
        char *buf = xmalloc((size_t)length + 1);
        ssize_t r = length ? pread(fd, buf, (size_t)length, offset) : 0;
        struct evbuffer *out = evbuffer_new();
        size_t n = r > 0 ? (size_t)r : 0, len;
        char *data;

        close(fd);
        add_filtered(out, buf, n, grep);
        len = evbuffer_get_length(out);
        data = xmalloc(len + 1);
        evbuffer_remove(out, data, len);
        evbuffer_free(out);
        send_json(req, 200,
                  json_pack("{s:s%, s:I, s:I}", "data", data, len, "offset", (json_int_t)offset,
                            "nextOffset", (json_int_t)(offset + (int64_t)n)));
        free(data);
        free(buf);
    }
}

/* ---- follow streams -------------------------------------------------------------- */

static void stream_free(stream *s)
{
    na_app *a = s->a;

    if (s->prev)
        s->prev->next = s->next;
    else if (a->streams == s)
        a->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    a->n_streams--;
    if (s->tick)
        event_free(s->tick);
    if (s->req)
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
    na_follow_free(s->f);
    if (s->out)
        evbuffer_free(s->out);
    free(s->dir);
    free(s->task_id);
    free(s->grep);
    free(s);
}

static void stream_end(stream *s)
{
    if (s->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
        evhttp_send_reply_end(s->req);
        s->req = NULL;
    }
    stream_free(s);
}

static void stream_gone(struct evhttp_connection *conn, void *arg)
{
    stream *s = arg;
    /* evhttp detached the unfinished request: it is ours to free */
    if (s->req && !evhttp_request_get_connection(s->req))
        evhttp_request_free(s->req);
    s->req = NULL;
    stream_free(s);
}

static void stream_data(void *arg, const char *p, size_t n)
{
    stream *s = arg;
    add_filtered(s->out, p, n, s->grep);
    s->a->stats.stream_bytes += n;
}

static size_t backlog(stream *s)
{
    struct evhttp_connection *c = evhttp_request_get_connection(s->req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void stream_send(stream *s)
{
    if (evbuffer_get_length(s->out))
        evhttp_send_reply_chunk(s->req, s->out); /* drains s->out */
}

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    stream *s = arg;
    na_app *a = s->a;
    na_follow_sink sink = {stream_data, NULL, s};
    const tracked *t;
    int more;

    if (backlog(s) > STREAM_BACKLOG)
        return; /* the client reads slowly: wait for it */
    more = na_follow_poll(s->f, &sink, 256 * 1024);
    /* a line without its newline (a prompt) goes out once it has waited
     * PARTIAL_FLUSH_MS, as the executor writes it to the file; not to a
     * grep, which matches whole lines */
    if (!na_follow_has_partial(s->f) || s->grep) {
        s->partial_at = 0;
    } else if (!s->partial_at) {
        s->partial_at = cr_mono_ms();
    } else if (cr_mono_ms() - s->partial_at >= PARTIAL_FLUSH_MS) {
        na_follow_flush(s->f, &sink);
        s->partial_at = 0;
    }
    stream_send(s);
    if (more) {
        event_active(s->tick, EV_TIMEOUT, 0);
        return;
    }
    t = track_find(a, s->dir);
    if (!s->follow || !t || na_app_finished(a, t)) {
        /* caught up with a final log: say the rest, end */
        na_follow_flush(s->f, &sink);
        stream_send(s);
        stream_end(s);
    }
}

static void h_follow(na_app *a, struct evhttp_request *req, const tracked *t, struct evkeyvalq *qs)
{
    struct stat st;
    int64_t offset, lines;
    const char *path = q(qs, "path") ? q(qs, "path") : "stdout";
    const char *fv = q(qs, "follow");
    struct timeval tv = {a->cfg->poll_interval_ms / 1000, (a->cfg->poll_interval_ms % 1000) * 1000};
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    stream *s;
    int fd;

    if (q_int(qs, "offset", -2, 0, INT64_MAX, &offset, req) < 0 ||
        q_int(qs, "lines", 0, 0, 1000000, &lines, req) < 0)
        return;
    if (na_path_check(path)) {
        send_error(req, 400, na_path_check(path));
        return;
    }
    /* A file that is not there yet is waited for; one that is must be a
     * regular file we may read. */
    fd = na_open_in(t->sb.dir, path, O_RDONLY | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT) {
        send_error(req, 404, "no such file in the sandbox");
        return;
    }
    if (fd >= 0) {
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            send_error(req, 404, "no such file in the sandbox");
            return;
        }
        if (offset == -2)
            offset = lines > 0 ? na_tail_offset(fd, st.st_size, lines) : 0;
        close(fd);
    }
    if (offset < 0)
        offset = 0;
    s = xcalloc(1, sizeof(*s));
    s->a = a;
    s->req = req;
    s->dir = xstrdup(t->sb.dir);
    s->task_id = xstrdup(t->sb.task_id);
    s->grep = q(qs, "grep") && *q(qs, "grep") ? xstrdup(q(qs, "grep")) : NULL;
    s->follow = !(fv && (strcmp(fv, "false") == 0 || strcmp(fv, "0") == 0));
    s->f = na_follow_new(t->sb.dir, path, offset);
    s->out = evbuffer_new();
    s->next = a->streams;
    if (a->streams)
        a->streams->prev = s;
    a->streams = s;
    a->n_streams++;
    a->stats.streams_total++;
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Corral-Sandbox", s->dir);
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_gone, s);
    s->tick = event_new(a->base, -1, EV_PERSIST, stream_tick, s);
    evtimer_add(s->tick, &tv);
    event_active(s->tick, EV_TIMEOUT, 0);
}

/* ---- metrics ----------------------------------------------------------------------- */

static void h_metrics(na_app *a, struct evhttp_request *req)
{
    cr_buf b = CR_BUF_INIT;
    struct evbuffer *out = evbuffer_new();
    size_t live = 0;

    for (size_t i = 0; i < a->n_tracked; i++)
        live += a->tracked[i].live;
    cr_buf_init(&b);
#define M(name, type, help, fmt, v) \
    cr_buf_addf(&b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " " fmt "\n", v)
    M("corral_nodeagent_sandboxes", "gauge", "Sandboxes on this host.", "%zu", a->n_tracked);
    M("corral_nodeagent_sandboxes_running", "gauge", "Sandboxes with a live process.", "%zu", live);
    M("corral_nodeagent_scans_total", "counter", "Sandbox scans.", "%llu",
      (unsigned long long)a->stats.scans);
    M("corral_nodeagent_log_streams", "gauge", "Follow streams open.", "%zu", a->n_streams);
    M("corral_nodeagent_log_streams_total", "counter", "Follow streams opened.", "%llu",
      (unsigned long long)a->stats.streams_total);
    M("corral_nodeagent_log_stream_bytes_total", "counter", "Log bytes read for streams.", "%llu",
      (unsigned long long)a->stats.stream_bytes);
#undef M
    na_app_metrics_more(a, &b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evbuffer_add(out, b.data, b.len);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    cr_buf_release(&b);
}

/* ---- dispatch ---------------------------------------------------------------------- */

static void on_request(struct evhttp_request *req, void *arg)
{
    na_app *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evkeyvalq qs;
    char *task = NULL;
    const char *op = NULL;

    TAILQ_INIT(&qs);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        send_error(req, 405, "method not allowed; use GET");
        return;
    }
    if (!path)
        path = "/";
    if (uri && evhttp_uri_get_query(uri) &&
        evhttp_parse_query_str(evhttp_uri_get_query(uri), &qs) < 0) {
        send_error(req, 400, "malformed query string");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        send_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(path, "/metrics") == 0) {
        h_metrics(a, req);
    } else if (strcmp(path, "/v1/sandboxes") == 0) {
        h_sandboxes(a, req);
    } else if (strcmp(path, "/v1/cleanup") == 0) {
        send_json(req, 200, na_keeper_report(a));
    } else if (strncmp(path, "/v1/tasks/", 10) == 0 && (op = strrchr(path, '/')) > path + 10) {
        char *dec = evhttp_uridecode(path + 10, 0, NULL);
        const char *slash = dec ? strrchr(dec, '/') : NULL;
        const tracked *t;
        task = slash ? xstrndup(dec, (size_t)(slash - dec)) : NULL;
        free(dec);
        op++;
        if (!task || !*task || strchr(task, '/')) {
            send_error(req, 404, "no such path");
        } else if (!(t = na_app_task(a, task))) {
            send_error(req, 404, "no sandbox of this task on this host");
        } else if (strcmp(op, "files") == 0) {
            h_files(a, req, t);
        } else if (strcmp(op, "read") == 0) {
            h_read(a, req, t, &qs);
        } else if (strcmp(op, "follow") == 0) {
            h_follow(a, req, t, &qs);
        } else {
            send_error(req, 404, "no such path");
        }
    } else {
        send_error(req, 404, "no such path");
    }
    free(task);
    evhttp_clear_headers(&qs);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void on_scan(evutil_socket_t fd, short what, void *arg)
{
    na_app_rescan(arg);
}

static int split_listen(const char *listen, char **host, int *port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long p;

    if (!colon)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *host = xstrndup(listen, (size_t)(colon - listen));
    *port = (int)p;
    return 0;
}

static struct timeval ms_tv(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

na_app *na_app_new(struct event_base *base, const na_config *cfg, cr_log *log, cr_err *err)
{
    na_app *a = xcalloc(1, sizeof(*a));
    struct evhttp_bound_socket *sock;
    char *host = NULL, *list = xstrdup(cfg->work_dir), *save = NULL;
    int port;
    struct timeval tv;

    a->base = base;
    a->cfg = cfg;
    a->log = log;
    for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        char real[PATH_MAX];
        a->work = xrealloc(a->work, (a->n_work + 1) * sizeof(*a->work));
        /* processes name their sandbox by its real path */
        a->work[a->n_work++] = xstrdup(realpath(w, real) ? real : w);
    }
    free(list);
    a->http = cr_http_new(base, err);
    if (!a->http)
        goto fail;
    if (split_listen(cfg->listen, &host, &port) < 0) {
        cr_error(err, CR_EINVAL, "--listen '%s': want host:port", cfg->listen);
        goto fail;
    }
    a->srv = evhttp_new(base);
    evhttp_set_allowed_methods(a->srv, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(a->srv, on_request, a);
    sock = evhttp_bind_socket_with_handle(a->srv, host, (ev_uint16_t)port);
    if (!sock) {
        cr_error(err, CR_EUNAVAIL, "cannot listen on %s", cfg->listen);
        goto fail;
    }
    {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) == 0)
            a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    na_app_rescan(a);
    a->scan = event_new(base, -1, EV_PERSIST, on_scan, a);
    tv = ms_tv(cfg->scan_interval_ms);
    evtimer_add(a->scan, &tv);
    if (na_app_services_start(a, err) < 0)
        goto fail;
    cr_info(log, "listening on %s (port %d), work dir %s", cfg->listen, a->port, cfg->work_dir);
    free(host);
    return a;
fail:
    free(host);
    na_app_free(a);
    return NULL;
}

int na_app_port(const na_app *a)
{
    return a->port;
}

void na_app_free(na_app *a)
{
    if (!a)
        return;
    while (a->streams)
        stream_free(a->streams);
    na_app_services_stop(a);
    if (a->scan)
        event_free(a->scan);
    if (a->srv)
        evhttp_free(a->srv);
    cr_http_free(a->http);
    for (size_t i = 0; i < a->n_tracked; i++) {
        na_upload_task_free(a->tracked[i].upload);
        na_sandbox_release(&a->tracked[i].sb);
    }
    free(a->tracked);
    na_procs_release(&a->procs);
    for (size_t i = 0; i < a->n_work; i++)
        free(a->work[i]);
    free(a->work);
    free(a);
}

void na_app_shutdown(na_app *a)
{
    event_base_loopexit(a->base, NULL);
}
