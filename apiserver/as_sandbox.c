#include "apiserver/as_sandbox.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/as_model.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"

#define DEFAULT_AGENT_PORT 5051
#define MAX_AGENT_BODY     (16 * 1024 * 1024)

/* ---- pure helpers ------------------------------------------------------------- */

char *as_sandbox_agent_base(const json_t *agent, const json_t *task)
{
    const json_t *url = json_object_get(agent, "url");
    const json_t *addr = json_object_get(url, "address");
    const char *host = NULL, *pid = as_jstr(agent, "pid");
    json_int_t port = 0;

    if (as_jstr(agent, "agentUrl")) { /* the bridge records the agent's URL */
        const char *u = as_jstr(agent, "agentUrl");
        size_t l = strlen(u);
        while (l > 0 && u[l - 1] == '/')
            l--;
        return xstrndup(u, l);
    }
    if (addr) {
        host = as_jstr(addr, "ip") ? as_jstr(addr, "ip") : as_jstr(addr, "hostname");
        port = json_integer_value(json_object_get(addr, "port"));
    }
    if (!host && pid && strchr(pid, '@')) {
        const char *at = strchr(pid, '@') + 1, *colon = strrchr(at, ':');
        if (colon) {
            char *h = xstrndup(at, (size_t)(colon - at));
            char *out = xasprintf("http://%s:%ld", h, strtol(colon + 1, NULL, 10));
            free(h);
            return out;
        }
    }
    if (!host) {
        host = as_jstr(agent, "hostname") ? as_jstr(agent, "hostname") : as_jstr(agent, "host");
        port = json_integer_value(json_object_get(agent, "port"));
    }
    if (!host)
        host = as_jstr(task, "hostname");
    if (!host)
        return NULL;
    return xasprintf("http://%s:%lld", host, (long long)(port > 0 ? port : DEFAULT_AGENT_PORT));
}

static const char *dir_in(const json_t *executors, const char *executor_id)
{
    size_t i;
    json_t *e;

    json_array_foreach (executors, i, e) {
        const char *id = as_jstr(e, "id");
        if (id && strcmp(id, executor_id) == 0 && as_jstr(e, "directory"))
            return as_jstr(e, "directory");
    }
    return NULL;
}

const char *as_sandbox_find_dir(const json_t *state, const char *framework_id,
                                const char *executor_id)
{
    static const char *lists[] = {"frameworks", "completed_frameworks"};
    const char *d;

    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *f;
        json_array_foreach (json_object_get(state, lists[l]), i, f) {
            const char *fid = as_jstr(f, "id");
            if (framework_id && fid && strcmp(fid, framework_id) != 0)
                continue;
            if ((d = dir_in(json_object_get(f, "executors"), executor_id)) ||
                (d = dir_in(json_object_get(f, "completed_executors"), executor_id)))
                return d;
        }
    }
    return NULL;
}

char *as_sandbox_virtual_root(const char *framework_id, const char *executor_id)
{
    return xasprintf("/frameworks/%s/executors/%s/runs/latest", framework_id, executor_id);
}

char *as_sandbox_join(const char *root, const char *rel)
{
    size_t rl = strlen(root);

    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    while (rel && *rel == '/')
        rel++;
    if (!rel || !*rel)
        return xstrndup(root, rl);
    return xasprintf("%.*s/%s", (int)rl, root, rel);
}

static bool is_dotdot(const char *s, size_t l)
{
    return l == 2 && s[0] == '.' && s[1] == '.';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

const char *as_sandbox_check_path(const char *rel)
{
    const char *p = rel, *s = NULL;
    size_t l;

    if (!rel || !*rel)
        return NULL;
    if (strlen(rel) > AS_SANDBOX_PATH_MAX)
        return "query parameter path: longer than 4095 bytes";
    if (rel[0] == '/')
        return "query parameter path: must be relative to the sandbox";
    for (const char *c = rel; *c; c++) {
        if (*c == '\\')
            return "query parameter path: must not contain a backslash";
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "query parameter path: must not contain control characters";
        if (*c == '%' && is_hex(c[1]) && is_hex(c[2]))
            return "query parameter path: must not contain percent-encoded characters once decoded";
    }
    for (size_t n = 1; (l = cr_path_next(&p, &s)) > 0; n++) {
        if (is_dotdot(s, l))
            return "query parameter path: must not leave the sandbox";
        if (l > AS_SANDBOX_NAME_MAX)
            return "query parameter path: a component is longer than 255 bytes";
        if (n > AS_SANDBOX_DEPTH_MAX)
            return "query parameter path: more than 32 components";
    }
    return NULL;
}

const char *as_sandbox_entry_name(const char *entry_path, const char *dir)
{
    const char *e = entry_path, *d = dir, *es = NULL, *ds = NULL;
    size_t dl, el;

    if (!entry_path || !dir || (entry_path[0] == '/') != (dir[0] == '/'))
        return NULL;
    while ((dl = cr_path_next(&d, &ds)) > 0) {
        el = cr_path_next(&e, &es);
        if (el != dl || memcmp(es, ds, el) != 0 || is_dotdot(es, el))
            return NULL;
    }
    el = cr_path_next(&e, &es);
    if (el == 0 || is_dotdot(es, el) || cr_path_next(&e, &ds) != 0)
        return NULL;
    return es;
}

as_sandbox_kind as_sandbox_entry_kind(const json_t *files, const char *dir, const char *name,
                                      size_t name_len)
{
    size_t i;
    json_t *f;

    json_array_foreach (files, i, f) {
        const char *n = as_sandbox_entry_name(as_jstr(f, "path"), dir), *mode;
        if (!n || strlen(n) != name_len || memcmp(n, name, name_len) != 0)
            continue;
        mode = as_jstr(f, "mode");
        if (mode && mode[0] == 'l')
            return AS_SANDBOX_LINK;
        return mode && mode[0] == 'd' ? AS_SANDBOX_DIR : AS_SANDBOX_OTHER;
    }
    return AS_SANDBOX_MISSING;
}

json_t *as_sandbox_shape_browse(const json_t *files, const char *root, const char *rel,
                                const char *host)
{
    json_t *list = json_array();
    size_t i;
    json_t *f;
    char *cur = xstrdup(rel ? rel : ""), *dir = as_sandbox_join(root, rel);

    json_array_foreach (files, i, f) {
        /* What the agent lists must be in the directory asked for: an
         * agent that followed a link elsewhere does not get it shown. */
        const char *name = as_sandbox_entry_name(as_jstr(f, "path"), dir);
        if (!name)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:O?, s:O?, s:O?}", "name", name, "mtime",
                                              json_object_get(f, "mtime"), "size",
                                              json_object_get(f, "size"), "mode",
                                              json_object_get(f, "mode")));
    }
    json_t *out = json_pack("{s:o, s:s, s:s, s:s?, s:s?}", "files", list, "fullPathToRoot", root,
                            "currentDirectory", cur, "agentHostname", host, "slaveHostname", host);
    free(cur);
    free(dir);
    return out;
}

json_t *as_sandbox_shape_read(const json_t *chunk, const char *grep)
{
    const char *data = as_jstr(chunk, "data");
    json_int_t off = json_integer_value(json_object_get(chunk, "offset"));
    size_t len = data ? strlen(data) : 0;
    json_t *out;

    if (!data)
        data = "";
    if (grep && *grep) {
        cr_buf b = CR_BUF_INIT;
        for (const char *p = data; *p;) {
            const char *nl = strchr(p, '\n');
            size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
            char *line = xstrndup(p, l);
            if (strstr(line, grep))
                cr_buf_add(&b, line, l);
            free(line);
            p += l;
        }
        out = json_pack("{s:s, s:I, s:I}", "data", cr_buf_str(&b), "offset", off, "nextOffset",
                        off + (json_int_t)len);
        cr_buf_release(&b);
        return out;
    }
    return json_pack("{s:s, s:I, s:I}", "data", data, "offset", off, "nextOffset",
                     off + (json_int_t)len);
}

/* ---- I/O -------------------------------------------------------------------------- */

typedef struct call {
    as_sandbox *sb;
    struct evhttp_request *req; /* NULL once the client went away */
    int64_t started;
    bool read;
    char *base;      /* agent URL */
    char *host;      /* agent hostname for the answer */
    char *rel;       /* checked relative path */
    char *framework; /* framework id or NULL */
    char *executor;  /* executor id */
    long long offset, length;
    bool has_length;
    char *root;    /* sandbox directory once known */
    size_t walked; /* components of rel listed and found to be no symlink */
    char *grep;    /* read: keep only the lines containing this */
    cr_http_req *hr;
    struct call *prev, *next;
} call;

struct as_sandbox {
    struct event_base *base;
    cr_http *http;
    const as_cache *cache;
    char *prefix;
    long timeout_ms;
    as_sandbox_reply reply;
    void *arg;
    call *calls;
};

as_sandbox *as_sandbox_new(struct event_base *base, cr_http *http, const as_cache *cache,
                           const char *prefix, long timeout_ms, as_sandbox_reply reply, void *arg)
{
    as_sandbox *sb = xcalloc(1, sizeof(*sb));
    sb->base = base;
    sb->http = http;
    sb->cache = cache;
    sb->prefix = xstrdup(prefix);
    sb->timeout_ms = timeout_ms;
    sb->reply = reply;
    sb->arg = arg;
    return sb;
}

static void call_free(call *c)
{
    as_sandbox *sb = c->sb;

    if (c->prev)
        c->prev->next = c->next;
    else if (sb->calls == c)
        sb->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->req)
        evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), NULL, NULL);
    cr_http_cancel(c->hr);
    free(c->base);
    free(c->host);
    free(c->rel);
    free(c->framework);
    free(c->executor);
    free(c->root);
    free(c->grep);
    free(c);
}

void as_sandbox_free(as_sandbox *sb)
{
    if (!sb)
        return;
    while (sb->calls)
        call_free(sb->calls);
    free(sb->prefix);
    free(sb);
}

static void finish(call *c, int status, json_t *body)
{
    if (c->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), NULL, NULL);
        c->sb->reply(c->sb->arg, c->req, c->started, status, body);
        c->req = NULL;
    }
    json_decref(body);
    c->hr = NULL; /* finishing from its own callback */
    call_free(c);
}

/* Fails with message what + detail. */
static void fail(call *c, int status, const char *what, const char *detail)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s%s", what, detail ? detail : "");
    finish(c, status, json_pack("{s:s, s:i}", "message", msg, "status", status));
}

static void client_gone(struct evhttp_connection *conn, void *arg)
{
    call *c = arg;
    /* evhttp detached the unanswered request: it is ours to free. */
    if (c->req && !evhttp_request_get_connection(c->req))
        evhttp_request_free(c->req);
    c->req = NULL;
}

static char *url_escape(const char *s)
{
    char *e = evhttp_uriencode(s, -1, 0);
    char *out = xstrdup(e);
    free(e);
    return out;
}

static int start_get(call *c, const char *url, cr_http_done_cb done);

/* The 404 of a missing file, for a path that is missing, leads outside or
 * passes through a symlink alike: nothing is said about what lies there. */
static void not_found(call *c)
{
    fail(c, 404,
         "no such file or directory in the sandbox (or it leads outside): ", c->rel ? c->rel : "");
}

/* The JSON of an agent's /files answer; else fails the call and returns
 * NULL. Caller owns. */
static json_t *agent_json(call *c, const cr_http_resp *resp, const cr_err *err)
{
    json_t *j;

    if (err) {
        fail(c, 502, "agent unreachable: ", cr_err_msg(err));
        return NULL;
    }
    if (resp->status == 404) {
        not_found(c);
        return NULL;
    }
    if (resp->status == 400 || resp->status == 403) {
        fail(c, resp->status, "query parameter path: the agent refused it: ", resp->body);
        return NULL;
    }
    if (resp->status != 200) {
        fail(c, 502, "agent /files answered ", resp->body);
        return NULL;
    }
    j = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!j)
        fail(c, 502, "agent /files answer is not JSON", NULL);
    return j;
}

static void on_files(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    call *c = arg;
    json_t *j;

    c->hr = NULL;
    if (!(j = agent_json(c, resp, err)))
        return;
    json_t *out = c->read ? as_sandbox_shape_read(j, c->grep)
                          : as_sandbox_shape_browse(j, c->root, c->rel, c->host);
    json_decref(j);
    finish(c, 200, out);
}

static void files_call(call *c)
{
    char *full = as_sandbox_join(c->root, c->rel), *esc = url_escape(full), *url;

    if (c->read) {
        if (c->has_length)
            url = xasprintf("%s/files/read?path=%s&offset=%lld&length=%lld", c->base, esc,
                            c->offset, c->length);
        else
            url = xasprintf("%s/files/read?path=%s&offset=%lld", c->base, esc, c->offset);
    } else {
        url = xasprintf("%s/files/browse?path=%s", c->base, esc);
    }
    free(full);
    free(esc);
    start_get(c, url, on_files);
    free(url);
}

/* The first n components of rel joined by '/' (caller frees), and the
 * component after them in *name (name_len bytes; NULL at the end). */
static char *walk_prefix(const char *rel, size_t n, const char **name, size_t *name_len)
{
    const char *p = rel, *s = NULL;
    cr_buf b = CR_BUF_INIT;
    char *out;
    size_t l;

    *name = NULL;
    *name_len = 0;
    for (size_t i = 0; (l = cr_path_next(&p, &s)) > 0; i++) {
        if (i == n) {
            *name = s;
            *name_len = l;
            break;
        }
        if (b.len)
            cr_buf_add(&b, "/", 1);
        cr_buf_add(&b, s, l);
    }
    out = xstrdup(cr_buf_str(&b));
    cr_buf_release(&b);
    return out;
}

static void on_walk(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg);

/* Lists the directory holding the next component of the path not yet
 * checked; with none left, makes the call asked for. */
static void walk(call *c)
{
    const char *name;
    size_t name_len;
    char *pre = walk_prefix(c->rel, c->walked, &name, &name_len), *dir, *esc, *url;

    if (!name) {
        free(pre);
        files_call(c);
        return;
    }
    dir = as_sandbox_join(c->root, pre);
    esc = url_escape(dir);
    url = xasprintf("%s/files/browse?path=%s", c->base, esc);
    free(pre);
    free(dir);
    free(esc);
    start_get(c, url, on_walk);
    free(url);
}

static void on_walk(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    call *c = arg;
    const char *name;
    size_t name_len;
    char *pre, *dir;
    as_sandbox_kind kind;
    json_t *j;

    c->hr = NULL;
    if (!(j = agent_json(c, resp, err)))
        return;
    pre = walk_prefix(c->rel, c->walked, &name, &name_len);
    dir = as_sandbox_join(c->root, pre);
    kind = name ? as_sandbox_entry_kind(j, dir, name, name_len) : AS_SANDBOX_MISSING;
    free(pre);
    free(dir);
    json_decref(j);
    /* A link is refused wherever it leads: corrald cannot see its target. */
    if (kind == AS_SANDBOX_MISSING || kind == AS_SANDBOX_LINK) {
        not_found(c);
        return;
    }
    c->walked++;
    walk(c);
}

static void on_state(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    call *c = arg;
    json_t *j;
    const char *d;

    c->hr = NULL;
    if (err || resp->status != 200) {
        fail(c, 502, "agent /state failed: ", err ? cr_err_msg(err) : resp->body);
        return;
    }
    j = json_loadb(resp->body, resp->body_len, 0, NULL);
    d = as_sandbox_find_dir(j, c->framework, c->executor);
    if (d) {
        c->root = xstrdup(d);
    } else if (c->framework) {
        /* Finished executors may be gone from /state while their sandbox
         * stays (until the agent's GC): Mesos agents also serve it under
         * this virtual path. */
        c->root = as_sandbox_virtual_root(c->framework, c->executor);
    } else {
        json_decref(j);
        fail(c, 404, "the agent does not know the sandbox of executor ", c->executor);
        return;
    }
    json_decref(j);
    walk(c);
}

static int start_get(call *c, const char *url, cr_http_done_cb done)
{
    cr_http_opts o = {.method = "GET",
                      .url = url,
                      .timeout_ms = c->sb->timeout_ms,
                      .connect_timeout_ms = c->sb->timeout_ms,
                      .max_body = MAX_AGENT_BODY,
                      .follow_redirects = true,
                      .on_done = done,
                      .arg = c};
    cr_err err;

    c->hr = cr_http_start(c->sb->http, &o, &err);
    if (!c->hr) {
        fail(c, 502, "agent call failed: ", cr_err_msg(&err));
        return -1;
    }
    return 0;
}

void as_sandbox_serve(as_sandbox *sb, struct evhttp_request *req, const as_req *ar, int64_t started)
{
    const char *tid = as_match_param(ar->match, "taskId");
    const char *path = as_req_query(ar, "path");
    as_api_config cfg = {.prefix = sb->prefix};
    json_t *task; /* parsed from the cache's text (as_m_task_find): decref'd below */
    json_t *agent = NULL;
    const char *agent_id, *dir, *bad = as_sandbox_check_path(path);
    bool hist;
    call *c = xcalloc(1, sizeof(*c));

    c->sb = sb;
    c->req = req;
    c->started = started;
    c->read = ar->match->op == AS_OP_SANDBOX_READ;
    c->rel = xstrdup(path ? path : "");
    c->grep = xstrdup(as_req_query(ar, "grep"));
    c->offset = as_req_query(ar, "offset") ? atoll(as_req_query(ar, "offset")) : 0;
    c->has_length = as_req_query(ar, "length") != NULL;
    c->length = c->has_length ? atoll(as_req_query(ar, "length")) : 0;
    c->next = sb->calls;
    if (sb->calls)
        sb->calls->prev = c;
    sb->calls = c;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), client_gone, c);

    if (bad) {
        fail(c, 400, bad, NULL);
        return;
    }
    task = as_m_task_find(&cfg, sb->cache, tid, &hist);
    if (!task) {
        fail(c, 404, "No task with id ", tid);
        return;
    }
    agent_id = as_jstr(task, "agentId");
    if (agent_id)
        agent = as_m_machine(&cfg, sb->cache, API_KEY_AGENT, agent_id);
    c->base = as_sandbox_agent_base(agent, task);
    if (!c->base) {
        json_decref(task);
        json_decref(agent);
        fail(c, 404, "no known agent for task ", tid);
        return;
    }
    c->host = xstrdup(as_jstr(task, "hostname")    ? as_jstr(task, "hostname")
                      : as_jstr(agent, "hostname") ? as_jstr(agent, "hostname")
                                                   : "");
    json_decref(agent);
    dir = as_jstr(task, "directory");
    if (dir) {
        c->root = xstrdup(dir);
        json_decref(task);
        walk(c);
        return;
    }
    c->executor = xstrdup(as_jstr(task, "executorId") ? as_jstr(task, "executorId") : tid);
    c->framework = xstrdup(as_jstr(task, "frameworkId"));
    json_decref(task);
    {
        char *url = xasprintf("%s/state", c->base);
        start_get(c, url, on_state);
        free(url);
    }
}
