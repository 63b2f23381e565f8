/* Health checks: the pure state machine, then the checker against a real
 * HTTP server (libevent evhttp on 127.0.0.1, a free port) on one loop. */
#include "test/lib/cr_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "base/clock.h"
#include "controllers/health.h"

static ctl_hc_opts opts_ms(int64_t delay, int64_t startup_timeout, int64_t startup_interval,
                           int64_t interval, int64_t timeout, int retries)
{
    ctl_hc_opts o = {0};
    o.startup_delay_ms = delay;
    o.startup_timeout_ms = startup_timeout;
    o.startup_interval_ms = startup_interval;
    o.interval_ms = interval;
    o.response_timeout_ms = timeout;
    o.max_retries = retries;
    return o;
}

static void test_defaults_and_budget(void **state)
{
    ctl_hc_opts o;
    api_healthcheck h = {0};
    int64_t codes[] = {500, 404};

    ctl_hc_opts_from_api(NULL, &o);
    assert_int_equal(o.startup_timeout_ms, 45000);
    assert_int_equal(o.startup_interval_ms, 2000);
    assert_int_equal(o.interval_ms, 5000);
    assert_int_equal(o.response_timeout_ms, 5000);
    /* 45 + (5 + 5) x 1 */
    assert_int_equal(ctl_hc_budget_ms(&o), 55000);

    h.has_maxRetries = true;
    h.maxRetries = 2;
    h.has_startupDelaySeconds = true;
    h.startupDelaySeconds = 3;
    h.failureStatusCodes.n = 2;
    h.failureStatusCodes.v = codes;
    ctl_hc_opts_from_api(&h, &o);
    assert_int_equal(o.n_failure_codes, 2);
    assert_int_equal(o.failure_codes[1], 404);
    /* 3 + 45 + (5 + 5) x 3 */
    assert_int_equal(ctl_hc_budget_ms(&o), 78000);
}

static void test_state_machine(void **state)
{
    ctl_hc_opts o = opts_ms(1000, 10000, 2000, 5000, 1000, 1);
    ctl_hc_state s;

    /* First check after the startup delay; refused connections during
     * startup are retried at the startup interval. */
    ctl_hc_init(&s, &o, 100000);
    assert_int_equal(s.next_at, 101000);
    ctl_hc_result(&s, &o, 0, 101000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    assert_int_equal(s.next_at, 103000);
    /* A 503 ends startup; one retry is allowed. */
    ctl_hc_result(&s, &o, 503, 103000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    assert_true(s.responded);
    assert_int_equal(s.next_at, 108000);
    ctl_hc_result(&s, &o, 200, 108000);
    assert_int_equal(s.verdict, CTL_HEALTH_HEALTHY);
    /* Final: later results change nothing. */
    ctl_hc_result(&s, &o, 500, 109000);
    assert_int_equal(s.verdict, CTL_HEALTH_HEALTHY);

    /* Retries exhausted. */
    ctl_hc_init(&s, &o, 0);
    ctl_hc_result(&s, &o, 500, 1000);
    ctl_hc_result(&s, &o, 502, 6000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);
    assert_int_equal(s.last_status, 502);

    /* A failure status code fails at once. */
    o.failure_codes[0] = 404;
    o.n_failure_codes = 1;
    ctl_hc_init(&s, &o, 0);
    ctl_hc_result(&s, &o, 404, 1000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);

    /* Never an HTTP response within the startup timeout. */
    ctl_hc_init(&s, &o, 0);
    ctl_hc_result(&s, &o, 0, 1000);
    ctl_hc_tick(&s, &o, 10999);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    ctl_hc_tick(&s, &o, 11000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);

    /* No answer after having answered counts as a failure. */
    ctl_hc_init(&s, &o, 0);
    ctl_hc_result(&s, &o, 503, 1000);
    ctl_hc_result(&s, &o, 0, 6000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);
}

/* Liveness of a served task: an interval apart, failures in a row count,
 * a good answer clears them, a failure code is final at once. */
static void test_liveness(void **state)
{
    ctl_hc_opts o = opts_ms(1000, 10000, 2000, 5000, 1000, 1);
    ctl_hc_state s;

    ctl_hc_live_init(&s, &o, 100000);
    assert_int_equal(s.next_at, 105000);
    ctl_hc_live_result(&s, &o, 503, 105000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    assert_int_equal(s.next_at, 110000);
    ctl_hc_live_result(&s, &o, 200, 110000); /* clears the failure */
    ctl_hc_live_result(&s, &o, 0, 115000);   /* no answer is a failure */
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    ctl_hc_live_result(&s, &o, 502, 120000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);
    assert_int_equal(s.last_status, 502);

    o.failure_codes[0] = 500;
    o.n_failure_codes = 1;
    ctl_hc_live_init(&s, &o, 0);
    ctl_hc_live_result(&s, &o, 500, 5000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNHEALTHY);
    /* Many good answers never make a verdict. */
    ctl_hc_live_init(&s, &o, 0);
    for (int i = 1; i <= 10; i++)
        ctl_hc_live_result(&s, &o, 204, i * 5000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
}

/* A check started late (after a failover) gets a full startup window
 * instead of failing at once for a task that has served for hours. */
static void test_start_time(void **state)
{
    ctl_hc_opts o = opts_ms(3000, 10000, 1000, 5000, 1000, 0);
    ctl_hc_state s;

    assert_int_equal(ctl_hc_start_time(&o, 99000, 100000), 99000); /* just started */
    int64_t since = ctl_hc_start_time(&o, 1000, 10000000);         /* running for hours */
    assert_int_equal(since, 10000000 - 3000);
    ctl_hc_init(&s, &o, since);
    assert_int_equal(s.next_at, 10000000); /* first check now */
    ctl_hc_tick(&s, &o, 10000000);
    assert_int_equal(s.verdict, CTL_HEALTH_UNKNOWN);
    ctl_hc_result(&s, &o, 200, 10000000);
    assert_int_equal(s.verdict, CTL_HEALTH_HEALTHY);
}

/* ---- against a real server ------------------------------------------------------ */

typedef struct srv {
    struct event_base *base;
    struct evhttp *http;
    int port;
    int hits;
    int fail_first; /* answer 503 to this many requests, then 200 */
    int code;       /* if set, always answer this */
} srv;

static void handler(struct evhttp_request *r, void *arg)
{
    srv *s = arg;
    int code = s->code ? s->code : (s->hits < s->fail_first ? 503 : 200);
    s->hits++;
    assert_string_equal(evhttp_request_get_uri(r), "/health");
    evhttp_send_reply(r, code, code == 200 ? "OK" : "NO", NULL);
}

static void srv_start(srv *s, struct event_base *base)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    s->base = base;
    s->http = evhttp_new(base);
    evhttp_set_gencb(s->http, handler, s);
    struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(h);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
}

typedef struct result {
    int calls;
    ctl_health verdict;
    char task[64];
    struct event_base *base;
} result;

static void on_verdict(void *arg, const char *request_id, const char *task_id, ctl_health v)
{
    result *r = arg;
    r->calls++;
    r->verdict = v;
    snprintf(r->task, sizeof(r->task), "%s", task_id);
    assert_string_equal(request_id, "web");
    event_base_loopbreak(r->base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs the loop until a verdict arrives or 10 s pass (a safety net, not a
 * synchronisation: the verdict breaks the loop). */
static void run_until_verdict(struct event_base *base, result *r)
{
    struct event *guard = evtimer_new(base, on_guard, base);
    struct timeval tv = {10, 0};
    evtimer_add(guard, &tv);
    event_base_dispatch(base);
    event_free(guard);
    assert_int_equal(r->calls, 1);
}

static int closed_port(void)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_checker_real_server(void **state)
{
    struct event_base *base = event_base_new();
    cr_err err;
    cr_http *http = cr_http_new(base, &err);
    srv s = {0};
    result r = {0};
    char url[128];
    assert_non_null(http);
    srv_start(&s, base);
    r.base = base;
    ctl_checker *c = ctl_checker_new(base, http, on_verdict, &r);

    /* 503, 503, then 200: healthy with 2 retries allowed. */
    s.fail_first = 2;
    ctl_hc_opts o = opts_ms(0, 5000, 20, 20, 2000, 2);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", s.port);
    assert_int_equal(ctl_checker_watch(c, "web", "t1", url, &o, cr_wall_ms(), &err), 0);
    assert_int_equal(ctl_checker_watch(c, "web", "t1", url, &o, cr_wall_ms(), &err), 0);
    assert_int_equal(ctl_checker_count(c), 1);
    run_until_verdict(base, &r);
    assert_int_equal(r.verdict, CTL_HEALTH_HEALTHY);
    assert_string_equal(r.task, "t1");
    assert_int_equal(s.hits, 3);
    assert_int_equal(ctl_checker_count(c), 0);

    /* A failure status code: unhealthy after one request. */
    memset(&r, 0, sizeof(r));
    r.base = base;
    s.hits = 0;
    s.code = 500;
    o.failure_codes[0] = 500;
    o.n_failure_codes = 1;
    assert_int_equal(ctl_checker_watch(c, "web", "t2", url, &o, cr_wall_ms(), &err), 0);
    run_until_verdict(base, &r);
    assert_int_equal(r.verdict, CTL_HEALTH_UNHEALTHY);
    assert_int_equal(s.hits, 1);

    /* Nothing listens: unhealthy at the startup timeout. */
    memset(&r, 0, sizeof(r));
    r.base = base;
    o = opts_ms(0, 300, 20, 20, 200, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", closed_port());
    assert_int_equal(ctl_checker_watch(c, "web", "t3", url, &o, cr_wall_ms(), &err), 0);
    run_until_verdict(base, &r);
    assert_int_equal(r.verdict, CTL_HEALTH_UNHEALTHY);

    /* Liveness: quiet while answers are good, UNHEALTHY once more than
     * max_retries fail in a row. */
    memset(&r, 0, sizeof(r));
    r.base = base;
    s.hits = 0;
    s.code = 503;
    o = opts_ms(0, 5000, 20, 20, 2000, 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", s.port);
    assert_int_equal(ctl_checker_watch_live(c, "web", "t7", url, &o, &err), 0);
    run_until_verdict(base, &r);
    assert_int_equal(r.verdict, CTL_HEALTH_UNHEALTHY);
    assert_string_equal(r.task, "t7");
    assert_int_equal(s.hits, 2);

    /* Forget stops a check without a callback; bad urls are refused. */
    assert_int_equal(ctl_checker_watch(c, "web", "t4", url, &o, cr_wall_ms(), &err), 0);
    ctl_checker_forget(c, "t4");
    ctl_checker_forget(c, "nope");
    assert_int_equal(ctl_checker_count(c), 0);
    assert_int_equal(ctl_checker_watch(c, "web", "t5", "ftp://x", &o, 0, &err), -1);
    assert_int_equal(err.code, CR_EINVAL);

    /* Freeing with a check in flight fires nothing. */
    assert_int_equal(ctl_checker_watch(c, "web", "t6", url, &o, cr_wall_ms(), &err), 0);
    ctl_checker_free(c);
    ctl_checker_free(NULL);
    evhttp_free(s.http);
    cr_http_free(http);
    event_base_free(base);
    assert_int_equal(r.calls, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults_and_budget),
    cmocka_unit_test(test_state_machine),
    cmocka_unit_test(test_liveness),
    cmocka_unit_test(test_start_time),
    cmocka_unit_test(test_checker_real_server),
};
CR_TEST_MAIN(tests)
