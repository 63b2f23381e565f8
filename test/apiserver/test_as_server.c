/* The server's list answers on a real event loop and loopback sockets
 * (no etcd: a cache fed by hand): a list comes as a chunked reply equal to
 * what as_api_handle answers; a client that stops reading holds its list
 * open without holding the loop (/healthz still answers); one list more
 * than --max-list-streams gets a 503 with Retry-After; HEAD has no body;
 * whole-cache reads queued for the pump are answered, and /api/state and
 * /metrics come in pieces too. */
#include "test/lib/cr_test.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apiserver/as_api.h"
#include "apiserver/as_route.h"
#include "apiserver/as_server.h"
#include "base/buf.h"
#include "base/clock.h"

/* 1,000 requests; for a client that stops reading, 250 of 20 KiB each: a
 * 5 MiB list, more than a stalled loopback connection takes into its
 * socket buffers. */
#define NREQUESTS 1000
#define PAD       20000

typedef struct fx {
    struct event_base *base;
    as_cache *c;
    as_server *srv;
    int port;
    cr_log log;
    struct evhttp_connection *conns[16]; /* the client's, freed at teardown */
    size_t nconns;
} fx;

/* One answer collected by the client. */
typedef struct answer {
    bool done;
    int status;
    char *body;
    size_t len;
    char *retry_after, *encoding, *etag, *ctype;
} answer;

static void answer_release(answer *a)
{
    free(a->body);
    free(a->retry_after);
    free(a->encoding);
    free(a->etag);
    free(a->ctype);
    memset(a, 0, sizeof(*a));
}

static int start(void **state, size_t max_streams, int nrequests, size_t pad_len, long stall_ms)
{
    fx *f = calloc(1, sizeof(*f));
    as_server_config cfg = {.listen = "127.0.0.1:0",
                            .prefix = "/corral",
                            .replica_id = "test",
                            .max_list_streams = max_streams,
                            .list_stall_timeout_ms = stall_ms};
    cr_err err;
    char key[128], doc[PAD + 256], pad[PAD + 1];

    f->log.level = CR_LOG_ERROR;
    f->log.name = "test";
    cfg.log = &f->log;
    f->base = event_base_new();
    f->c = as_cache_new();
    memset(pad, 'x', pad_len);
    pad[pad_len] = '\0';
    for (int i = 0; i < nrequests; i++) {
        snprintf(key, sizeof(key), "/corral/requests/r%05d", i);
        snprintf(doc, sizeof(doc),
                 "{\"id\":\"r%05d\",\"requestType\":\"WORKER\",\"instances\":%d,"
                 "\"owners\":[\"owner-%d@example.com\"],\"description\":\"%s\"}",
                 i, 1 + i % 5, i, pad);
        as_cache_put(f->c, key, cr_test_json(doc), i + 1, i + 1);
    }
    as_cache_put(f->c, "/corral/intents/requests/r00001/pause",
                 cr_test_json("{\"killTasks\":true}"), NREQUESTS + 1, NREQUESTS + 1);
    as_cache_set_synced(f->c, true);
    f->srv = as_server_new(f->base, NULL, NULL, f->c, &cfg, &err);
    assert_non_null(f->srv);
    f->port = as_server_port(f->srv);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, 1, NREQUESTS, 10, 0);
}

static int setup_big(void **state)
{
    return start(state, 1, 250, PAD, 0);
}

static int setup_stall(void **state)
{
    return start(state, 1, 250, PAD, 1000);
}

static int setup_wide(void **state)
{
    return start(state, 8, NREQUESTS, 10, 0);
}

static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->nconns; i++)
        evhttp_connection_free(f->conns[i]);
    as_server_free(f->srv);
    as_cache_free(f->c);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void on_answer(struct evhttp_request *req, void *arg)
{
    answer *a = arg;
    const char *h;

    a->done = true;
    if (!req) {
        a->status = -1;
        return;
    }
    a->status = evhttp_request_get_response_code(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    a->len = evbuffer_get_length(in);
    a->body = malloc(a->len + 1);
    evbuffer_remove(in, a->body, a->len);
    a->body[a->len] = '\0';
    if ((h = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After")))
        a->retry_after = strdup(h);
    if ((h = evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding")))
        a->encoding = strdup(h);
    if ((h = evhttp_find_header(evhttp_request_get_input_headers(req), "ETag")))
        a->etag = strdup(h);
    if ((h = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type")))
        a->ctype = strdup(h);
}

/* Sends a request on a new client connection (freed at teardown), with
 * If-None-Match: inm unless NULL. */
static void send_req_inm(fx *f, enum evhttp_cmd_type cmd, const char *path, const char *inm,
                         answer *a)
{
    struct evhttp_connection *conn =
        evhttp_connection_base_new(f->base, NULL, "127.0.0.1", (ev_uint16_t)f->port);
    struct evhttp_request *req = evhttp_request_new(on_answer, a);

    assert_true(f->nconns < sizeof(f->conns) / sizeof(f->conns[0]));
    f->conns[f->nconns++] = conn;
    evhttp_connection_set_timeout(conn, 30);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (inm)
        evhttp_add_header(evhttp_request_get_output_headers(req), "If-None-Match", inm);
    assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
}

static void send_req(fx *f, enum evhttp_cmd_type cmd, const char *path, answer *a)
{
    send_req_inm(f, cmd, path, NULL, a);
}

/* Runs the loop until every answer of a (n of them) is in. */
static void wait_answers(fx *f, answer *a, size_t n)
{
    int64_t deadline = cr_mono_ms() + 20000;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += a[i].done;
        if (done == n)
            return;
        if (cr_mono_ms() > deadline)
            fail_msg("no answer in time");
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
}

/* Runs the loop for ms milliseconds. */
static void run_for(fx *f, int ms)
{
    int64_t until = cr_mono_ms() + ms;
    while (cr_mono_ms() < until) {
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
}

/* The number of lists in progress, from /metrics. */
static int streams(fx *f)
{
    answer a = {0};
    const char *p;
    int n = -1;

    send_req(f, EVHTTP_REQ_GET, "/metrics", &a);
    wait_answers(f, &a, 1);
    if ((p = strstr(a.body, "\ncorral_api_list_streams ")))
        n = atoi(p + strlen("\ncorral_api_list_streams "));
    answer_release(&a);
    return n;
}

/* Runs the loop until n lists are in progress (fails after 20 s). */
static void wait_streams(fx *f, int n)
{
    int64_t deadline = cr_mono_ms() + 20000;
    while (streams(f) != n) {
        if (cr_mono_ms() > deadline)
            fail_msg("lists in progress never became %d", n);
        run_for(f, 100);
    }
}

/* The JSON as_api_handle answers for GET path at time now, as text. */
static char *expected_at(fx *f, const char *path, int64_t now)
{
    as_api_config cfg = {.prefix = "/corral", .max_scale_down_unacked = 10};
    as_match m;
    as_result r = {0};
    char *text;

    assert_int_equal(as_route_match(AS_GET, path, &m), AS_ROUTE_OK);
    as_req req = {.method = AS_GET, .match = &m, .now = now};
    as_api_handle(&cfg, f->c, &req, &r);
    assert_int_equal(r.status, 200);
    text = json_dumps(r.body, AS_JSON_FLAGS);
    as_result_release(&r);
    as_match_release(&m);
    return text;
}

static char *expected(fx *f, const char *path)
{
    return expected_at(f, path, 1);
}

/* a is 200 with body want and a newline. */
static void assert_body(const answer *a, const char *want)
{
    assert_int_equal(a->status, 200);
    assert_int_equal(a->len, strlen(want) + 1);
    assert_memory_equal(a->body, want, strlen(want));
    assert_int_equal(a->body[a->len - 1], '\n');
}

/* A client that sends GET path and never reads (a tiny receive buffer). */
static int stalled_client(fx *f, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 2048;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    char req[256];

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    return fd;
}

static void test_list_is_chunked_and_whole(void **state)
{
    fx *f = *state;
    answer a[3] = {{0}};

    char *all = expected(f, "/api/requests"), *paused = expected(f, "/api/requests/paused");

    send_req(f, EVHTTP_REQ_GET, "/api/requests", &a[0]);
    wait_answers(f, a, 1);
    assert_body(&a[0], all);
    assert_true(a[0].len > 2 * 64 * 1024); /* several pieces */
    assert_string_equal(a[0].encoding, "chunked");
    send_req(f, EVHTTP_REQ_GET, "/api/requests/paused", &a[1]);
    wait_answers(f, a + 1, 1);
    assert_body(&a[1], paused);
    json_t *pl = cr_test_json(paused);
    assert_int_equal(json_array_size(pl), 1);
    json_decref(pl);
    send_req(f, EVHTTP_REQ_HEAD, "/api/requests", &a[2]);
    wait_answers(f, a + 2, 1);
    assert_int_equal(a[2].status, 200);
    assert_int_equal(a[2].len, 0);
    for (int i = 0; i < 3; i++)
        answer_release(&a[i]);
    free(all);
    free(paused);
}

/* The JSON of a whole-cache read without what depends on the clock and
 * the replica. */
static json_t *timeless(const char *text)
{
    json_t *j = cr_test_json(text);
    json_object_del(j, "generatedAt");
    json_object_del(j, "timestamp");
    json_object_del(j, "maxTaskLag");
    json_object_del(j, "hostStates");
    return j;
}

/* /api/state, its parts and /metrics are walked a slice per loop turn and
 * sent as chunked replies: the answers as_api_handle gives (at another
 * time, with this replica's host state added); HEAD is answered whole. */
static void test_whole_cache_reads_are_chunked(void **state)
{
    fx *f = *state;
    static const char *const paths[] = {"/api/state", "/api/state/scheduled-tasks-info",
                                        "/api/state/requests/under-provisioned"};
    answer a[6] = {{0}};
    char key[160], doc[512];

    for (int i = 0; i < NREQUESTS; i++) { /* a late pending task each */
        snprintf(key, sizeof(key), "/corral/pending/r%05d/r%05d-v1-1-1-ONEOFF-1", i, i);
        snprintf(doc, sizeof(doc),
                 "{\"pendingTaskId\":{\"id\":\"r%05d-v1-1-1-ONEOFF-1\",\"requestId\":\"r%05d\","
                 "\"deployId\":\"v1\",\"nextRunAt\":1,\"instanceNo\":1,\"pendingType\":"
                 "\"ONEOFF\",\"createdAt\":1}}",
                 i, i);
        as_cache_put_raw(f->c, key, doc, strlen(doc), NREQUESTS + 2 + i, NREQUESTS + 2 + i);
    }
    for (size_t i = 0; i < 3; i++) {
        char *want = expected_at(f, paths[i], cr_wall_ms());
        json_t *w = timeless(want), *g;
        send_req(f, EVHTTP_REQ_GET, paths[i], &a[i]);
        wait_answers(f, a + i, 1);
        assert_int_equal(a[i].status, 200);
        assert_string_equal(a[i].encoding, "chunked");
        assert_int_equal(a[i].body[a[i].len - 1], '\n');
        g = timeless(a[i].body);
        assert_true(json_equal(g, w));
        json_decref(g);
        json_decref(w);
        free(want);
    }
    json_t *st = cr_test_json(a[0].body);
    assert_int_equal(json_array_size(json_object_get(st, "listLateTasks")), NREQUESTS);
    assert_int_equal(json_array_size(json_object_get(st, "hostStates")), 1);
    json_decref(st);
    send_req(f, EVHTTP_REQ_GET, "/metrics", &a[3]);
    wait_answers(f, a + 3, 1);
    assert_int_equal(a[3].status, 200);
    assert_string_equal(a[3].encoding, "chunked");
    assert_non_null(strstr(a[3].body, "corral_pending_tasks 1000\n"));
    assert_non_null(strstr(a[3].body, "\ncorral_api_list_streams 0\n"));
    send_req(f, EVHTTP_REQ_HEAD, "/api/state", &a[4]);
    send_req(f, EVHTTP_REQ_GET, "/api/state?includeRequestIds=maybe", &a[5]);
    wait_answers(f, a + 4, 2);
    assert_int_equal(a[4].status, 200);
    assert_int_equal(a[4].len, 0);
    assert_null(a[4].encoding);
    assert_int_equal(a[5].status, 400);
    for (int i = 0; i < 6; i++)
        answer_release(&a[i]);
}

static void test_bad_query_is_a_400(void **state)
{
    fx *f = *state;
    answer a = {0};

    send_req(f, EVHTTP_REQ_GET, "/api/requests?limit=-1", &a);
    wait_answers(f, &a, 1);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "limit"));
    answer_release(&a);
}

/* max_list_streams 1: a client that does not read holds the one list; the
 * loop keeps answering; another list is a 503 until the client goes. */
static void test_limit_and_slow_reader(void **state)
{
    fx *f = *state;
    answer a[4] = {{0}};
    int fd = stalled_client(f, "/api/requests");

    wait_streams(f, 1);
    send_req(f, EVHTTP_REQ_GET, "/healthz", &a[0]);
    wait_answers(f, a, 1);
    assert_int_equal(a[0].status, 200);
    send_req(f, EVHTTP_REQ_GET, "/api/tasks/active", &a[1]);
    wait_answers(f, a + 1, 1);
    assert_int_equal(a[1].status, 503);
    assert_string_equal(a[1].retry_after, "1");
    assert_non_null(strstr(a[1].body, "max-list-streams"));
    /* Single objects are not lists. */
    send_req(f, EVHTTP_REQ_GET, "/api/requests/request/r00007", &a[2]);
    wait_answers(f, a + 2, 1);
    assert_int_equal(a[2].status, 200);
    close(fd);
    wait_streams(f, 0); /* the server sees the close and drops the list */
    send_req(f, EVHTTP_REQ_GET, "/api/requests", &a[3]);
    wait_answers(f, a + 3, 1);
    assert_int_equal(a[3].status, 200);
    assert_true(a[3].len > 250 * PAD);
    assert_memory_equal(a[3].body + a[3].len - 2, "]\n", 2);
    for (int i = 0; i < 4; i++)
        answer_release(&a[i]);
}

/* A request's GET, served from the memo from the second call on, is the
 * parent as_api_handle builds without it, with the ETag of the request
 * document alone (FNV-1a of it dumped compact with sorted keys, as
 * Singularity's clients expect a 32-bit decimal), and If-None-Match with
 * that ETag, bare or quoted, is a 304; HEAD has the same ETag and no
 * body. */
static void test_request_get_and_etag(void **state)
{
    fx *f = *state;
    answer a[8] = {{0}};
    char *want = expected(f, "/api/requests/request/r00001"), *src, etag[16], quoted[20];
    uint32_t h = 2166136261u;

    json_t *req = store_obj_json(as_cache_get(f->c, "/corral/requests/r00001")); /* a text */
    src = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(req);
    for (const char *c = src; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    free(src);
    snprintf(etag, sizeof(etag), "%d", (int)(int32_t)h);
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    for (int i = 0; i < 3; i++) {
        send_req(f, EVHTTP_REQ_GET, "/api/requests/request/r00001", &a[i]);
        wait_answers(f, a + i, 1);
        assert_body(&a[i], want);
        assert_string_equal(a[i].ctype, "application/json");
        assert_string_equal(a[i].etag, etag);
    }
    send_req(f, EVHTTP_REQ_HEAD, "/api/requests/request/r00001", &a[3]);
    send_req_inm(f, EVHTTP_REQ_GET, "/api/requests/request/r00001", etag, &a[4]);
    send_req_inm(f, EVHTTP_REQ_GET, "/api/requests/request/r00001", quoted, &a[5]);
    send_req_inm(f, EVHTTP_REQ_GET, "/api/requests/request/r00001", "\"1\"", &a[6]);
    send_req(f, EVHTTP_REQ_GET, "/api/requests/request/nope", &a[7]);
    wait_answers(f, a + 3, 5);
    assert_int_equal(a[3].status, 200);
    assert_int_equal(a[3].len, 0);
    assert_string_equal(a[3].etag, etag);
    assert_int_equal(a[4].status, 304);
    assert_int_equal(a[4].len, 0);
    assert_int_equal(a[5].status, 304);
    assert_body(&a[6], want);
    assert_int_equal(a[7].status, 404);
    assert_null(a[7].etag);
    free(want);
    for (int i = 0; i < 8; i++)
        answer_release(&a[i]);
}

/* A client that stops reading for list_stall_timeout_ms is cut off. */
static void test_stalled_client_is_dropped(void **state)
{
    fx *f = *state;
    int fd = stalled_client(f, "/api/requests");
    answer a = {0};

    wait_streams(f, 1);
    wait_streams(f, 0); /* a second after the server's buffers filled up */
    /* Dropped, not finished: no answer was counted. */
    send_req(f, EVHTTP_REQ_GET, "/metrics", &a);
    wait_answers(f, &a, 1);
    assert_non_null(strstr(a.body, "corral_api_lists_total 1\n"));
    assert_null(strstr(a.body, "op=\"REQ_LIST\""));
    answer_release(&a);
    close(fd);
}

/* Several lists at once share the loop and all come out whole; whole-cache
 * reads queued for the pump are answered meanwhile. */
static void test_concurrent_lists(void **state)
{
    fx *f = *state;
    answer a[9] = {{0}};
    char *want[2] = {expected(f, "/api/requests"), expected(f, "/api/requests/active")};

    for (int i = 0; i < 6; i++)
        send_req(f, EVHTTP_REQ_GET, i % 2 ? "/api/requests/active" : "/api/requests", &a[i]);
    send_req(f, EVHTTP_REQ_GET, "/api/state", &a[6]);
    send_req(f, EVHTTP_REQ_GET, "/api/history/tasks", &a[7]);
    wait_answers(f, a, 8);
    for (int i = 0; i < 6; i++)
        assert_body(&a[i], want[i % 2]);
    assert_int_equal(a[6].status, 200);
    assert_non_null(strstr(a[6].body, "\"allRequests\":1000"));
    assert_int_equal(a[7].status, 200);
    /* Each parent was encoded once. */
    send_req(f, EVHTTP_REQ_GET, "/metrics", &a[8]);
    wait_answers(f, a + 8, 1);
    assert_int_equal(a[8].status, 200);
    assert_non_null(strstr(a[8].body, "corral_api_lists_total 6\n"));
    assert_non_null(strstr(a[8].body, "corral_api_list_streams 0\n"));
    assert_non_null(strstr(a[8].body, "corral_api_parent_cache_misses_total 1000\n"));
    assert_non_null(strstr(a[8].body, "corral_api_parent_cache_hits_total 5000\n"));
    for (int i = 0; i < 9; i++)
        answer_release(&a[i]);
    free(want[0]);
    free(want[1]);
}

/* The server goes away with a list half written: nothing leaks or runs
 * after (valgrind and ASan check). */
static void test_free_mid_list(void **state)
{
    fx *f = *state;
    int fd = stalled_client(f, "/api/requests");

    run_for(f, 200);
    as_server_free(f->srv);
    f->srv = NULL;
    run_for(f, 100);
    close(fd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_list_is_chunked_and_whole, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_query_is_a_400, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_get_and_etag, setup, teardown),
    cmocka_unit_test_setup_teardown(test_whole_cache_reads_are_chunked, setup, teardown),
    cmocka_unit_test_setup_teardown(test_limit_and_slow_reader, setup_big, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_lists, setup_wide, teardown),
    cmocka_unit_test_setup_teardown(test_stalled_client_is_dropped, setup_stall, teardown),
    cmocka_unit_test_setup_teardown(test_free_mid_list, setup_big, teardown),
};
CR_TEST_MAIN(tests)
