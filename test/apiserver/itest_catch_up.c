/* Read-your-writes across calls, against a real etcd: the server writes
 * through a real store, but its cache is fed by hand, so the test decides
 * when the cache shows a write. A call that arrives after a write committed
 * and before the cache shows it waits for the cache (it used to be answered
 * from the stale cache: a GET of a request created a moment before was a
 * 404); /healthz never waits; a call waits write_wait_ms at most, and
 * after such a timeout later calls no longer wait for that write. */
#include "test/lib/cr_test.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/as_server.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "store/store.h"
#include "test/lib/etcd_harness.h"

#define PREFIX "/corral"

typedef struct fx {
    cr_etcd *etcd;
    struct event_base *base;
    cr_http *http;
    store *st;
    as_cache *c;
    as_server *srv;
    cr_log log;
    int port;
    struct evhttp_connection *conns[8];
    size_t nconns;
} fx;

typedef struct answer {
    bool done;
    int status;
    char *body;
} answer;

static void on_answer(struct evhttp_request *req, void *arg)
{
    answer *a = arg;
    a->done = true;
    a->status = req ? evhttp_request_get_response_code(req) : -1;
    if (req) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        a->body = xcalloc(n + 1, 1);
        evbuffer_remove(in, a->body, n);
    }
}

/* Sends a call on a new connection; body may be NULL. */
static void send_call(fx *f, enum evhttp_cmd_type cmd, const char *path, const char *body,
                      answer *a)
{
    struct evhttp_connection *conn =
        evhttp_connection_base_new(f->base, NULL, "127.0.0.1", (ev_uint16_t)f->port);
    struct evhttp_request *req = evhttp_request_new(on_answer, a);

    assert_true(f->nconns < sizeof(f->conns) / sizeof(f->conns[0]));
    f->conns[f->nconns++] = conn;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (body) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
}

/* Runs the loop until done() or 20 s (then fails). */
static void run_until(fx *f, bool (*done)(fx *, void *), void *arg, const char *what)
{
    int64_t deadline = cr_mono_ms() + 20000;
    while (!done(f, arg)) {
        if (cr_mono_ms() > deadline)
            fail_msg("%s: not in time", what);
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(500);
    }
}

static bool answered(fx *f, void *arg)
{
    return ((answer *)arg)->done;
}

/* A counter from /metrics (never held), or -1. */
static long metric(fx *f, const char *name)
{
    answer a = {0};
    long n = -1;
    const char *p;

    send_call(f, EVHTTP_REQ_GET, "/metrics", NULL, &a);
    run_until(f, answered, &a, "/metrics");
    if (a.status == 200 && (p = strstr(a.body, name)))
        n = atol(p + strlen(name));
    free(a.body);
    return n;
}

static bool one_write(fx *f, void *arg)
{
    return metric(f, "corral_api_etcd_txn_total{result=\"ok\"} ") == 1;
}

/* The key's mod revision in etcd. */
static void got_value(void *arg, const store_result *res, const cr_err *err)
{
    int64_t *out = arg;
    out[0] = 1;
    out[1] = !err && res->nkvs == 1 ? res->kvs[0].mod_revision : -1;
}

static int64_t mod_revision(fx *f, const char *key)
{
    int64_t r[2] = {0, 0};
    assert_int_equal(store_get(f->st, key, 0, got_value, r, NULL), 0);
    int64_t deadline = cr_mono_ms() + 10000;
    while (!r[0] && cr_mono_ms() < deadline)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(r[1] > 0);
    return r[1];
}

static int start(void **state, long write_wait_ms)
{
    fx *f = xcalloc(1, sizeof(*f));
    cr_etcd_opts eo = {.members = 1};
    as_server_config cfg = {.listen = "127.0.0.1:0",
                            .prefix = PREFIX,
                            .replica_id = "test",
                            .write_wait_ms = write_wait_ms};
    cr_err err;

    f->etcd = cr_etcd_start(&eo);
    if (!f->etcd)
        return -1;
    store_config sc = {.endpoints = cr_etcd_endpoint(f->etcd, 0)};
    f->log.level = CR_LOG_ERROR;
    f->log.name = "test";
    cfg.log = &f->log;
    f->base = event_base_new();
    f->http = cr_http_new(f->base, NULL);
    f->st = store_new(f->base, f->http, &sc, NULL);
    f->c = as_cache_new();
    as_cache_set_synced(f->c, true);
    f->srv = as_server_new(f->base, f->st, f->http, f->c, &cfg, &err);
    assert_non_null(f->srv);
    f->port = as_server_port(f->srv);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, 20000);
}

static int setup_short(void **state)
{
    return start(state, 300);
}

static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->nconns; i++)
        evhttp_connection_free(f->conns[i]);
    as_server_free(f->srv);
    as_cache_free(f->c);
    store_free(f->st);
    cr_http_free(f->http);
    event_base_free(f->base);
    cr_etcd_free(f->etcd);
    free(f);
    return 0;
}

static const char *REQ = "{\"id\":\"rr\",\"requestType\":\"WORKER\",\"instances\":1}";

/* POST a request; once it committed (and before the cache shows it) GET it
 * on another connection. */
static void write_then_read(fx *f, answer *post, answer *get)
{
    send_call(f, EVHTTP_REQ_POST, "/api/requests", REQ, post);
    run_until(f, one_write, NULL, "the POST's commit");
    assert_false(post->done); /* it waits for the cache too */
    send_call(f, EVHTTP_REQ_GET, "/api/requests/request/rr", NULL, get);
}

static void test_a_call_waits_for_the_cache_to_show_the_last_write(void **state)
{
    fx *f = *state;
    answer post = {0}, get = {0}, health = {0};
    char key[64];

    write_then_read(f, &post, &get);
    send_call(f, EVHTTP_REQ_GET, "/healthz", NULL, &health);
    run_until(f, answered, &health, "/healthz"); /* never held */
    assert_int_equal(health.status, 200);
    assert_false(get.done);

    /* the cache catches up: the write's answer, then the read's */
    snprintf(key, sizeof(key), "%s/requests/rr", PREFIX);
    int64_t rev = mod_revision(f, key);
    as_cache_put(f->c, key, cr_test_json(REQ), rev, rev);
    as_server_cache_advanced(f->srv, rev);
    run_until(f, answered, &get, "the GET");
    assert_true(post.done);
    assert_int_equal(post.status, 200);
    assert_int_equal(get.status, 200);
    assert_non_null(strstr(get.body, "\"rr\""));
    free(post.body);
    free(get.body);
    free(health.body);
}

static void test_a_call_waits_at_most_write_wait_ms(void **state)
{
    fx *f = *state;
    answer post = {0}, get = {0};

    write_then_read(f, &post, &get);
    run_until(f, answered, &get, "the GET"); /* the cache never catches up */
    assert_int_equal(get.status, 404);       /* answered from what it has */
    run_until(f, answered, &post, "the POST");
    /* one stalled write holds the calls of one wait, not every later one */
    answer again = {0};
    send_call(f, EVHTTP_REQ_GET, "/api/requests/request/rr", NULL, &again);
    run_until(f, answered, &again, "the second GET");
    assert_int_equal(again.status, 404);
    assert_int_equal(metric(f, "\ncorral_api_calls_held_total "), 1);
    free(post.body);
    free(get.body);
    free(again.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_call_waits_for_the_cache_to_show_the_last_write,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_call_waits_at_most_write_wait_ms, setup_short,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
