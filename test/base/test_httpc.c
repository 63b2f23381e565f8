/* cr_http against a real loopback HTTP server (evhttp) on the same loop. */
#include "test/lib/cr_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/cr_hist.h"
#include "base/httpc.h"
#include "base/xalloc.h"

typedef struct chunker {
    struct evhttp_request *req;
    struct event *tick;
    int sent;
    int limit; /* -1: forever */
    bool closed;
} chunker;

typedef struct fx {
    struct event_base *base;
    struct evhttp *srv;
    int port;
    cr_http *http;
    chunker ch;
    bool take_body; /* on_done takes the body (cr_http_take_body) */
    /* results */
    int heads, datas, dones;
    long head_status;
    bool data_before_head;
    char *head_hdr;
    cr_buf got;
    long status;
    bool had_err;
    cr_err err;
    char *hdr;
    char *body;
    cr_http_req *req;
    bool cancel_on_data;
    int64_t busy_us; /* on_data holds the loop this long per chunk */
    struct event *turn_ev; /* counts loop turns while a test needs it */
    int turns, turn_of_last, calls_this_turn, max_calls_per_turn;
    int conn_closed;
    int hangs;
} fx;

static void on_conn_close(struct evhttp_connection *c, void *arg)
{
    fx *f = arg;

    f->conn_closed++;
    if (f->ch.req) {
        /* libevent hands an unfinished reply back to us; ending it frees it */
        evtimer_del(f->ch.tick);
        evhttp_send_reply_end(f->ch.req);
        f->ch.req = NULL;
    }
}

static void chunk_tick(evutil_socket_t fd, short what, void *arg)
{
    fx *f = arg;
    chunker *c = &f->ch;
    struct evbuffer *b = evbuffer_new();
    struct timeval tv = {0, 5000};

    evbuffer_add_printf(b, "%c", 'a' + (c->sent % 26));
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
    c->sent++;
    if (c->limit >= 0 && c->sent >= c->limit) {
        evhttp_send_reply_end(c->req);
        c->req = NULL;
        return;
    }
    evtimer_add(c->tick, &tv);
}

static void handler(struct evhttp_request *req, void *arg)
{
    fx *f = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

    if (strcmp(uri, "/hello") == 0) {
        evhttp_add_header(oh, "X-Test", "yes");
        evbuffer_add_printf(out, "hello world");
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/echo") == 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        const char *au = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
        const char *m = evhttp_request_get_command(req) == EVHTTP_REQ_PUT    ? "PUT"
                        : evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST"
                                                                             : "OTHER";
        evhttp_add_header(oh, "X-Method", m);
        evhttp_add_header(oh, "X-Content-Type", ct ? ct : "-");
        evhttp_add_header(oh, "X-Auth", au ? au : "-");
        evbuffer_add_buffer(out, in);
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/missing") == 0) {
        evbuffer_add_printf(out, "{\"error\":\"nope\"}");
        evhttp_send_reply(req, 404, "Not Found", out);
    } else if (strcmp(uri, "/redirect") == 0) {
        evhttp_add_header(oh, "Location", "/hello");
        evhttp_send_reply(req, 307, "Temporary Redirect", out);
    } else if (strcmp(uri, "/big") == 0) {
        for (int i = 0; i < 1000; i++)
            evbuffer_add_printf(out, "0123456789");
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/huge") == 0) {
        /* 1 MiB in chunks of 1 KiB, all queued at once (as a watch stream
         * is chunked): one read of the socket holds many of them */
        evhttp_send_reply_start(req, 200, "OK");
        for (int i = 0; i < 1024 * 1024 / 16; i++) {
            evbuffer_add_printf(out, "%015d\n", i);
            if (evbuffer_get_length(out) >= 1024)
                evhttp_send_reply_chunk(req, out);
        }
        evhttp_send_reply_end(req);
    } else if (strcmp(uri, "/hang") == 0) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, f);
        f->hangs++; /* never answer */
    } else if (strcmp(uri, "/chunks") == 0 || strcmp(uri, "/forever") == 0) {
        struct timeval tv = {0, 5000};
        f->ch.req = req;
        f->ch.sent = 0;
        f->ch.limit = strcmp(uri, "/chunks") == 0 ? 3 : -1;
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, f);
        evhttp_add_header(oh, "Mesos-Stream-Id", "stream-1");
        evhttp_send_reply_start(req, 200, "OK");
        evtimer_add(f->ch.tick, &tv);
    } else {
        evhttp_send_reply(req, 500, "?", out);
    }
    evbuffer_free(out);
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    f->base = event_base_new();
    f->srv = evhttp_new(f->base);
    evhttp_set_gencb(f->srv, handler, f);
    bs = evhttp_bind_socket_with_handle(f->srv, "127.0.0.1", 0);
    assert_non_null(bs);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    f->http = cr_http_new(f->base, NULL);
    assert_non_null(f->http);
    f->ch.tick = evtimer_new(f->base, chunk_tick, f);
    cr_buf_init(&f->got);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cr_http_free(f->http);
    event_free(f->ch.tick);
    if (f->turn_ev) /* a failed test left it re-arming itself */
        event_free(f->turn_ev);
    evhttp_free(f->srv);
    /* the loop must close cleanly: run what evhttp_free scheduled */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_base_free(f->base);
    cr_buf_release(&f->got);
    free(f->hdr);
    free(f->head_hdr);
    free(f->body);
    free(f);
    return 0;
}

static void on_head(cr_http_req *r, const cr_http_resp *resp, void *arg)
{
    fx *f = arg;
    const char *h = cr_http_resp_header(resp, "mesos-stream-id");

    f->heads++;
    f->head_status = resp->status;
    free(f->head_hdr);
    f->head_hdr = xstrdup(h);
}

static void on_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    fx *f = arg;

    if (!f->heads)
        f->data_before_head = true;
    f->datas++;
    if (f->turn_ev) {
        f->calls_this_turn = f->turns == f->turn_of_last ? f->calls_this_turn + 1 : 1;
        f->turn_of_last = f->turns;
        if (f->calls_this_turn > f->max_calls_per_turn)
            f->max_calls_per_turn = f->calls_this_turn;
    }
    cr_buf_add(&f->got, data, len);
    for (int64_t until = cr_mono_us() + f->busy_us; cr_mono_us() < until;)
        ;
    if (f->cancel_on_data && f->got.len >= 2)
        cr_http_cancel(r);
}

static void on_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    fx *f = arg;
    const char *h = cr_http_resp_header(resp, "X-Test");

    f->dones++;
    f->status = resp->status;
    f->had_err = err != NULL;
    if (err)
        f->err = *err;
    free(f->hdr);
    f->hdr = xstrdup(h ? h : cr_http_resp_header(resp, "X-Method"));
    free(f->body);
    f->body = xstrndup(resp->body, resp->body_len);
    if (f->take_body) { /* the same bytes, taken */
        size_t len = 0;
        char *taken = cr_http_take_body(r, &len);
        assert_int_equal(len, strlen(f->body));
        assert_string_equal(taken, f->body);
        free(f->body);
        f->body = taken;
    }
    /* cancelling oneself from on_done is a no-op */
    cr_http_cancel(r);
}

static char *url(fx *f, const char *path)
{
    return xasprintf("http://127.0.0.1:%d%s", f->port, path);
}

static void run_until(fx *f, const int *counter, int want)
{
    int64_t deadline = cr_mono_ms() + 10000;

    while (*counter < want && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(*counter >= want);
}

static void test_buffered_get_with_headers(void **state)
{
    fx *f = *state;
    char *u = url(f, "/hello");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    assert_int_equal(cr_http_pending(f->http), 1);
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->body, "hello world");
    assert_string_equal(f->hdr, "yes");
    assert_int_equal(cr_http_pending(f->http), 0);
    free(u);
}

/* on_done may take the body instead of copying it: the same bytes, the
 * caller's to free (on_done checks them against resp's). */
static void test_take_body(void **state)
{
    fx *f = *state;
    char *u = url(f, "/hello");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};

    f->take_body = true;
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->body, "hello world");
    free(u);
}

static void test_post_body_and_auth(void **state)
{
    fx *f = *state;
    char *u = url(f, "/echo");
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"k\":1}";
    cr_http_opts o = {.method = "PUT",
                      .url = u,
                      .headers = hdrs,
                      .body = body,
                      .body_len = strlen(body),
                      .bearer = "tok",
                      .timeout_ms = 5000,
                      .on_done = on_done,
                      .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->hdr, "PUT");
    assert_string_equal(f->body, body);
    free(u);
}

static void echo_auth_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    fx *f = arg;

    f->dones++;
    free(f->hdr);
    f->hdr = xstrdup(cr_http_resp_header(resp, "X-Auth"));
}

static void test_auth_headers(void **state)
{
    fx *f = *state;
    char *u = url(f, "/echo");
    cr_http_opts o = {
        .url = u, .bearer = "tok", .timeout_ms = 5000, .on_done = echo_auth_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_string_equal(f->hdr, "Bearer tok");
    o.bearer = NULL;
    o.userpwd = "alice:secret";
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 2);
    assert_string_equal(f->hdr, "Basic YWxpY2U6c2VjcmV0");
    free(u);
}

static void test_http_error_is_not_transport_error(void **state)
{
    fx *f = *state;
    char *u = url(f, "/missing");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->status, 404);
    assert_string_equal(f->body, "{\"error\":\"nope\"}");
    free(u);
}

static void test_redirects(void **state)
{
    fx *f = *state;
    char *u = url(f, "/redirect");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_int_equal(f->status, 307);
    o.follow_redirects = true;
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 2);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->body, "hello world");
    assert_string_equal(f->hdr, "yes");
    free(u);
}

static void test_max_body(void **state)
{
    fx *f = *state;
    char *u = url(f, "/big");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .max_body = 1000, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_true(f->had_err);
    assert_int_equal(f->err.code, CR_ETOOLARGE);
    o.max_body = 10000;
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 2);
    assert_false(f->had_err);
    assert_int_equal(strlen(f->body), 10000);
    free(u);
}

static void test_streamed_chunks(void **state)
{
    fx *f = *state;
    char *u = url(f, "/chunks");
    cr_http_opts o = {
        .url = u, .on_head = on_head, .on_data = on_data, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->heads, 1);
    assert_false(f->data_before_head);
    assert_int_equal(f->head_status, 200);
    assert_string_equal(f->head_hdr, "stream-1");
    assert_string_equal(cr_buf_str(&f->got), "abc");
    assert_string_equal(f->body, ""); /* not buffered in streaming mode */
    free(u);
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    fx *f = arg;
    struct timeval now = {0, 0};
    f->turns++;
    evtimer_add(f->turn_ev, &now);
}

/* A slow consumer of a big stream does not hold the loop: the stream is
 * paused for the next loop turn once its turn budget (10 ms) is spent, so
 * no turn sees more than a few 3 ms chunks (without the budget, curl hands
 * over every chunk one read of the socket holds), and every byte still
 * arrives, in order. */
static void test_stream_waits_for_next_turn(void **state)
{
    fx *f = *state;
    char *u = url(f, "/huge");
    cr_http_opts o = {.url = u, .on_data = on_data, .on_done = on_done, .arg = f};
    struct timeval now = {0, 0};

    f->turn_ev = evtimer_new(f->base, on_turn, f);
    evtimer_add(f->turn_ev, &now);
    f->busy_us = 3000;
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_false(f->had_err);
    assert_int_equal(f->got.len, 1024 * 1024);
    for (int i = 0; i < 1024 * 1024 / 16; i += 1021) {
        char want[17];
        snprintf(want, sizeof(want), "%015d\n", i);
        assert_memory_equal(cr_buf_str(&f->got) + (size_t)i * 16, want, 16);
    }
    /* one loop turn may drive curl twice (the socket and curl's timer),
     * each for at most its budget plus the chunk that crossed it */
    assert_true(f->max_calls_per_turn >= 1);
    assert_true(f->max_calls_per_turn <= 2 * (CR_HTTP_STREAM_BUDGET_US / 3000 + 1));
    assert_true(cr_http_stream_pauses(f->http) >= 1);
    event_free(f->turn_ev);
    f->turn_ev = NULL;
    free(u);
}

static void test_head_arrives_before_body(void **state)
{
    fx *f = *state;
    char *u = url(f, "/forever");
    cr_http_opts o = {
        .url = u, .on_head = on_head, .on_data = on_data, .on_done = on_done, .arg = f};
    cr_http_req *r = cr_http_start(f->http, &o, NULL);

    assert_non_null(r);
    run_until(f, &f->heads, 1);
    assert_string_equal(f->head_hdr, "stream-1");
    run_until(f, &f->datas, 1);
    cr_http_cancel(r); /* from outside any callback */
    run_until(f, &f->conn_closed, 1);
    assert_int_equal(f->dones, 0);
    free(u);
}

static void test_cancel_from_data_callback(void **state)
{
    fx *f = *state;
    char *u = url(f, "/forever");
    cr_http_opts o = {
        .url = u, .on_head = on_head, .on_data = on_data, .on_done = on_done, .arg = f};

    f->cancel_on_data = true;
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->conn_closed, 1);
    assert_int_equal(f->dones, 0);
    assert_int_equal(f->got.len, 2); /* nothing delivered after the cancel */
    assert_int_equal(cr_http_pending(f->http), 0);
    free(u);
}

static void test_timeout(void **state)
{
    fx *f = *state;
    char *u = url(f, "/hang");
    cr_http_opts o = {.url = u, .timeout_ms = 200, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_true(f->had_err);
    assert_int_equal(f->err.code, CR_ETIMEOUT);
    assert_int_equal(f->status, 0);
    free(u);
}

static void test_refused(void **state)
{
    fx *f = *state;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    char *u;

    /* a port that was free a moment ago and has no listener */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    u = xasprintf("http://127.0.0.1:%d/x", ntohs(sa.sin_port));
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_true(f->had_err);
    assert_int_equal(f->err.code, CR_EUNAVAIL);
    free(u);
}

static void test_bad_start_never_calls_back(void **state)
{
    fx *f = *state;
    cr_err err;
    cr_http_opts o = {.url = NULL, .on_done = on_done, .arg = f};

    assert_null(cr_http_start(f->http, &o, &err));
    assert_int_equal(err.code, CR_EINVAL);
    o.url = "http://127.0.0.1:1/";
    o.on_done = NULL;
    assert_null(cr_http_start(f->http, &o, &err));
    assert_int_equal(cr_http_pending(f->http), 0);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->dones, 0);
}

/* A request started from inside another's data callback (inside curl). */
static void chain_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    fx *f = arg;
    char *u;

    f->datas++;
    if (f->datas != 1)
        return;
    u = url(f, "/hello");
    cr_http_opts o = {.url = u, .timeout_ms = 5000, .on_done = on_done, .arg = f};
    assert_non_null(cr_http_start(f->http, &o, NULL));
    free(u);
    cr_http_cancel(r);
}

static void test_start_from_callback(void **state)
{
    fx *f = *state;
    char *u = url(f, "/forever");
    cr_http_opts o = {.url = u, .on_data = chain_data, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->dones, 1);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->body, "hello world");
    assert_int_equal(f->datas, 1);
    free(u);
}

static void test_free_with_requests_in_flight(void **state)
{
    fx *f = *state;
    char *u = url(f, "/hang");
    cr_http_opts o = {.url = u, .on_done = on_done, .arg = f};

    assert_non_null(cr_http_start(f->http, &o, NULL));
    assert_non_null(cr_http_start(f->http, &o, NULL));
    run_until(f, &f->hangs, 2);
    cr_http_free(f->http);
    f->http = NULL;
    assert_int_equal(f->dones, 0);
    free(u);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_take_body, setup, teardown),
    cmocka_unit_test_setup_teardown(test_buffered_get_with_headers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_post_body_and_auth, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auth_headers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_http_error_is_not_transport_error, setup, teardown),
    cmocka_unit_test_setup_teardown(test_redirects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_max_body, setup, teardown),
    cmocka_unit_test_setup_teardown(test_streamed_chunks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stream_waits_for_next_turn, setup, teardown),
    cmocka_unit_test_setup_teardown(test_head_arrives_before_body, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cancel_from_data_callback, setup, teardown),
    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_start_never_calls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_start_from_callback, setup, teardown),
    cmocka_unit_test_setup_teardown(test_free_with_requests_in_flight, setup, teardown),
};

CR_TEST_MAIN(tests)
