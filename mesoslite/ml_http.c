/* HTTP plumbing on libevent's evhttp: plain replies and chunked RecordIO
 * streams whose peer-close is noticed through the connection's close
 * callback. */
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mesoslite/ml_internal.h"
#include "mesoslite/ml_recordio.h"

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void ml_reply(struct evhttp_request *req, int code, const char *ctype, const char *body, size_t len)
{
    struct evbuffer *b = NULL;

    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (body && len) {
        b = evbuffer_new();
        evbuffer_add(b, body, len);
    }
    evhttp_send_reply(req, code, reason_phrase(code), b);
    if (b)
        evbuffer_free(b);
}

void ml_reply_text(struct evhttp_request *req, int code, const char *body)
{
    ml_reply(req, code, body && *body ? "text/plain; charset=utf-8" : NULL, body,
             body ? strlen(body) : 0);
}

void ml_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    ml_reply(req, code, "application/json", s, strlen(s));
    free(s);
    json_decref(body);
}

static void stream_closecb(struct evhttp_connection *conn, void *arg)
{
    ml_stream *s = arg;
    struct evhttp_request *req = s->req;

    if (s->on_close)
        s->on_close(s);
    /* On EOF evhttp detaches the unfinished request from the dying
     * connection; ending it then frees it. Otherwise the connection frees
     * the request itself. */
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_send_reply_end(req);
    free(s);
}

ml_stream *ml_stream_open(ml_app *app, struct evhttp_request *req, const char *stream_id,
                          void (*on_close)(ml_stream *), void *owner)
{
    ml_stream *s = xcalloc(1, sizeof(*s));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    s->app = app;
    s->req = req;
    s->conn = evhttp_request_get_connection(req);
    s->on_close = on_close;
    s->owner = owner;
    if (stream_id)
        evhttp_add_header(h, "Mesos-Stream-Id", stream_id);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_send_reply_start(req, 200, "OK");
    /* A subscriber may stay silent forever; evhttp's default 50 s idle
     * timeout would cut the stream. */
    evhttp_connection_set_timeout(s->conn, 365 * 86400);
    evhttp_connection_set_closecb(s->conn, stream_closecb, s);
    return s;
}

void ml_stream_send(ml_stream *s, json_t *ev)
{
    char *js;
    cr_buf b = CR_BUF_INIT;
    struct evbuffer *eb;

    if (!s) {
        json_decref(ev);
        return;
    }
    js = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    ml_recordio_frame(&b, js, strlen(js));
    free(js);
    eb = evbuffer_new();
    evbuffer_add(eb, b.data, b.len);
    evhttp_send_reply_chunk(s->req, eb);
    evbuffer_free(eb);
    cr_buf_release(&b);
}

void ml_stream_close(ml_stream *s)
{
    if (!s)
        return;
    evhttp_connection_set_closecb(s->conn, NULL, NULL);
    /* evhttp closes the connection once the reply is done when the output
     * headers ask for it; the header itself was already sent. */
    evhttp_add_header(evhttp_request_get_output_headers(s->req), "Connection", "close");
    evhttp_send_reply_end(s->req);
    free(s);
}

char *ml_req_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *out = xmalloc(n + 1);

    evbuffer_copyout(in, out, n);
    out[n] = '\0';
    *len = n;
    return out;
}

char *ml_req_path(struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    char *dec;

    if (!p || !*p)
        return xstrdup("/");
    dec = evhttp_uridecode(p, 0, NULL);
    if (!dec)
        return xstrdup(p);
    {
        char *out = xstrdup(dec);
        free(dec);
        return out;
    }
}

char *ml_req_query(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    struct evkeyvalq params;
    const char *v;
    char *out = NULL;

    if (!q)
        return NULL;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(q, &params) == 0 && (v = evhttp_find_header(&params, name)))
        out = xstrdup(v);
    evhttp_clear_headers(&params);
    return out;
}

const char *ml_method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "UNKNOWN";
    }
}
