/* The LB loop's pure plan (controllers/lb.c) and the nginx provider's
 * texts and file handling (controllers/lb_nginx.c): docs/loadbalancing.md.
 * The provider runs /bin/true or /bin/false in place of nginx here, so a
 * refused change is deterministic; e2e/test_lb.py drives a real nginx. */
#include "test/lib/cr_test.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "controllers/lb.h"

#define NOW 1000000

static ctl_lb_task running(const char *id, const char *deploy, int64_t port)
{
    return (ctl_lb_task){.id = id,
                         .deploy_id = deploy,
                         .state = API_TASK_RUNNING,
                         .running_at = 1,
                         .host = "10.0.0.1",
                         .port = port,
                         .health = CTL_HEALTH_HEALTHY};
}

static ctl_lb_in base_in(const ctl_lb_task *t, size_t n, const api_lb_status *cur)
{
    return (ctl_lb_in){.request_id = "web",
                       .load_balanced = true,
                       .active_deploy = "v1",
                       .http_check = true,
                       .healthy_after_ms = 5000,
                       .tasks = t,
                       .n_tasks = n,
                       .status = cur,
                       .provider = "nginx",
                       .retry_ms = 10000,
                       .now = NOW};
}

/* "t1=10.0.0.1:31001,t2=..." of a list, in order. */
static char *list_text(const api_lb_upstream *v, size_t n)
{
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *x = xasprintf("%s%s%s=%s@%lld", s, i ? "," : "", v[i].taskId, v[i].upstream,
                            (long long)v[i].at);
        free(s);
        s = x;
    }
    return s;
}

static void assert_list(const api_lb_upstream *v, size_t n, const char *want)
{
    char *got = list_text(v, n);
    assert_string_equal(got, want);
    free(got);
}

static void test_healthy_tasks_of_the_active_deploy_only(void **state)
{
    ctl_lb_task t[] = {running("t1", "v1", 31001), running("t2", "v1", 31002),
                       running("n1", "v2", 31003), running("t3", "v1", 31004),
                       running("t4", "v1", 31005), running("t5", "v1", 0)};
    t[2].health = CTL_HEALTH_HEALTHY; /* healthy, but not the active deploy */
    t[3].health = CTL_HEALTH_UNKNOWN; /* no verdict yet */
    t[4].leaving = true;              /* a kill or an LB cleanup waits */
    /* t5: no port */
    ctl_lb_in in = base_in(t, 6, NULL);
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_list(out.want, out.n_want, "t1=10.0.0.1:31001@1000000,t2=10.0.0.1:31002@1000000");
    assert_true(out.apply);
    assert_true(out.write);
    assert_string_equal(out.next.state, "SUCCESS");
    assert_string_equal(out.next.loadBalancerRequestId, "web-1000000");
    assert_int_equal(out.requeue_after_ms, 1000); /* t3's verdict has no event of ours */
    ctl_lb_out_release(&out);
}

static void test_without_check_healthy_after_running_long_enough(void **state)
{
    ctl_lb_task t[] = {running("t1", "v1", 31001), running("t2", "v1", 31002)};
    t[0].health = t[1].health = CTL_HEALTH_UNKNOWN;
    t[0].running_at = NOW - 6000;
    t[1].running_at = NOW - 2000;
    ctl_lb_in in = base_in(t, 2, NULL);
    in.http_check = false;
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_list(out.want, out.n_want, "t1=10.0.0.1:31001@1000000");
    assert_int_equal(out.requeue_after_ms, 3000);
    ctl_lb_out_release(&out);
}

static void test_swap_in_one_change_and_removed_recorded(void **state)
{
    /* v2 became active; v1's tasks have LB cleanups: one change adds v2 and
     * removes v1, whose drain starts now. */
    api_lb_status cur = {0};
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "a1", "10.0.0.1:1", 500);
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "a2", "10.0.0.1:2", 500);
    cur.state = xstrdup("SUCCESS");
    cur.updatedAt = 500;
    ctl_lb_task t[] = {running("a1", "v1", 1), running("a2", "v1", 2), running("b1", "v2", 3),
                       running("b2", "v2", 4)};
    t[0].leaving = t[1].leaving = true;
    ctl_lb_in in = base_in(t, 4, &cur);
    in.active_deploy = "v2";
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    assert_list(out.next.upstreams, out.next.n_upstreams,
                "b1=10.0.0.1:3@1000000,b2=10.0.0.1:4@1000000");
    assert_list(out.next.removed, out.next.n_removed, "a1=10.0.0.1:1@1000000,a2=10.0.0.1:2@1000000");
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);
}

static void test_served_already_nothing_sent_removed_pruned(void **state)
{
    /* What the load balancer serves is what is wanted: nothing is sent;
     * a removed task whose record is gone leaves the status. */
    api_lb_status cur = {0};
    cur.requestId = xstrdup("web");
    cur.provider = xstrdup("nginx");
    cur.loadBalancerRequestId = xstrdup("web-500");
    cur.state = xstrdup("SUCCESS");
    cur.updatedAt = 500;
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t1", "10.0.0.1:31001", 400);
    api_lb_upstream_add(&cur.removed, &cur.n_removed, "gone", "10.0.0.1:9", 400);
    api_lb_upstream_add(&cur.removed, &cur.n_removed, "old", "10.0.0.1:8", 450);
    ctl_lb_task t[] = {running("t1", "v1", 31001), running("old", "v0", 8)};
    t[1].leaving = true;
    ctl_lb_in in = base_in(t, 2, &cur);
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_true(out.write); /* "gone" pruned */
    assert_list(out.next.upstreams, out.next.n_upstreams, "t1=10.0.0.1:31001@400");
    assert_list(out.next.removed, out.next.n_removed, "old=10.0.0.1:8@450");
    assert_int_equal(out.next.updatedAt, 500);
    ctl_lb_out_release(&out);

    /* and once pruned, a pass writes nothing */
    api_lb_status_release(&cur);
    memset(&cur, 0, sizeof(cur));
    cur.requestId = xstrdup("web");
    cur.provider = xstrdup("nginx");
    cur.loadBalancerRequestId = xstrdup("web-500");
    cur.state = xstrdup("SUCCESS");
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t1", "10.0.0.1:31001", 400);
    in.n_tasks = 1;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_false(out.write);
    assert_false(out.remove);
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);
}

static void test_paused_or_deleted_empties_then_status_goes(void **state)
{
    api_lb_status cur = {0};
    cur.requestId = xstrdup("web");
    cur.state = xstrdup("SUCCESS");
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t1", "10.0.0.1:31001", 400);
    ctl_lb_task t[] = {running("t1", "v1", 31001)};
    ctl_lb_in in = base_in(t, 1, &cur);
    in.paused = true;
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    assert_int_equal(out.n_want, 0);
    assert_list(out.next.removed, out.next.n_removed, "t1=10.0.0.1:31001@1000000");
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);

    /* deleted, nothing left in it, no task left: the status goes */
    memset(&cur, 0, sizeof(cur));
    cur.requestId = xstrdup("web");
    cur.state = xstrdup("SUCCESS");
    in = base_in(NULL, 0, &cur);
    in.load_balanced = false;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_true(out.remove);
    assert_false(out.write);
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);

    /* never load-balanced, no status: nothing at all */
    in.status = NULL;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply || out.write || out.remove);
    ctl_lb_out_release(&out);
}

static void test_refused_change_keeps_previous_and_waits_to_retry(void **state)
{
    api_lb_status cur = {0};
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t1", "10.0.0.1:1", 400);
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t2", "10.0.0.1:2", 400);
    ctl_lb_task t[] = {running("t1", "v1", 1), running("t2", "v1", 2)};
    t[1].leaving = true;
    ctl_lb_in in = base_in(t, 2, &cur);
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    api_lb_status failed;
    ctl_lb_failed(&in, &out, "nginx -t failed: boom", &failed);
    assert_string_equal(failed.state, "FAILED");
    assert_string_equal(failed.message, "nginx -t failed: boom");
    assert_list(failed.upstreams, failed.n_upstreams, "t1=10.0.0.1:1@400,t2=10.0.0.1:2@400");
    assert_int_equal(failed.n_removed, 0); /* t2 is still in: its kill keeps waiting */
    ctl_lb_out_release(&out);

    /* before retry_ms: nothing sent, a pass at the retry time */
    in.status = &failed;
    in.now = NOW + 4000;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_int_equal(out.requeue_after_ms, 6000);
    assert_list(out.next.upstreams, out.next.n_upstreams, "t1=10.0.0.1:1@400,t2=10.0.0.1:2@400");
    ctl_lb_out_release(&out);
    /* after it: sent again */
    in.now = NOW + 10000;
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    ctl_lb_out_release(&out);
    api_lb_status_release(&failed);
    api_lb_status_release(&cur);
}

static void test_status_json_round_trip(void **state)
{
    json_t *j = cr_test_json(
        "{\"requestId\":\"web\",\"loadBalancerRequestId\":\"web-5\",\"provider\":\"nginx\","
        "\"state\":\"SUCCESS\",\"message\":null,\"upstreams\":[{\"taskId\":\"t1\","
        "\"upstream\":\"h:1\",\"at\":5}],\"removed\":[],\"updatedAt\":5}");
    api_lb_status s;
    cr_err err;
    assert_int_equal(api_lb_status_from_json(j, &s, &err), 0);
    json_t *back = api_lb_status_to_json(&s);
    assert_true(json_equal(j, back));
    json_decref(back);
    api_lb_status_release(&s);
    json_decref(j);

    j = cr_test_json("{\"upstreams\":[{\"taskId\":3}]}");
    assert_int_equal(api_lb_status_from_json(j, &s, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "upstreams[0]"));
    json_decref(j);
}

/* ---- nginx ---------------------------------------------------------------------------- */

static void test_nginx_texts(void **state)
{
    char *name = ctl_lb_nginx_name("my-web_1");
    assert_string_equal(name, "corral_my_2Dweb_5F1");
    free(name);
    api_lb_upstream up[] = {{"t1", "10.0.0.1:31001", 0}, {"t2", "10.0.0.2:31002", 0}};
    const char *groups[] = {"web"};
    ctl_lb_target t = {.request_id = "web",
                       .change_id = "web-5",
                       .base_path = "/web/",
                       .groups = groups,
                       .n_groups = 1,
                       .upstreams = up,
                       .n_upstreams = 2};
    char *u = ctl_lb_nginx_upstream_text(&t);
    assert_string_equal(u, "# corrald: request web, change web-5 (generated; do not edit)\n"
                           "upstream corral_web {\n"
                           "    server 10.0.0.1:31001; # t1\n"
                           "    server 10.0.0.2:31002; # t2\n"
                           "}\n");
    free(u);
    char *l = ctl_lb_nginx_location_text(&t);
    assert_non_null(strstr(l, "location /web/ {\n    proxy_pass http://corral_web;\n"));
    free(l);
}

static char *slurp(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);
    FILE *f = fopen(p, "r");
    free(p);
    if (!f)
        return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return xstrdup(buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void test_nginx_provider_files_and_refusal(void **state)
{
    char *dir = cr_test_tmpdir();
    ctl_lb_provider ok, bad;
    cr_err err;
    assert_int_equal(ctl_lb_nginx_provider(dir, NULL, "/bin/true", &ok, &err), 0);
    assert_int_equal(ctl_lb_nginx_provider(dir, NULL, "/bin/false", &bad, &err), 0);
    api_lb_upstream up[] = {{"t1", "10.0.0.1:31001", 0}, {"t2", "10.0.0.2:31002", 0}};
    const char *groups[] = {"web", "api"};
    ctl_lb_target t = {.request_id = "web",
                       .change_id = "web-1",
                       .base_path = "/web/",
                       .groups = groups,
                       .n_groups = 2,
                       .upstreams = up,
                       .n_upstreams = 2};
    assert_int_equal(ok.apply(ok.arg, &t, &err), 0);
    char *u1 = slurp(dir, "upstreams/corral_web.conf");
    assert_non_null(strstr(u1, "server 10.0.0.2:31002;"));
    char *l1 = slurp(dir, "locations/api/corral_web.conf");
    assert_non_null(l1);

    /* nginx refuses (here: exits 1): the files are as before */
    t.n_upstreams = 1;
    t.change_id = "web-2";
    t.n_groups = 1;
    assert_int_equal(bad.apply(bad.arg, &t, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "nginx -t failed"));
    char *u2 = slurp(dir, "upstreams/corral_web.conf");
    assert_string_equal(u1, u2);
    char *l2 = slurp(dir, "locations/api/corral_web.conf");
    assert_string_equal(l1, l2);
    free(u2);
    free(l2);

    /* accepted: one upstream, and the group it left loses its location */
    assert_int_equal(ok.apply(ok.arg, &t, &err), 0);
    u2 = slurp(dir, "upstreams/corral_web.conf");
    assert_null(strstr(u2, "10.0.0.2"));
    assert_null(slurp(dir, "locations/api/corral_web.conf"));
    free(u2);

    /* bad input is refused before any file is touched */
    t.base_path = "/x; return 200";
    assert_int_equal(ok.apply(ok.arg, &t, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "serviceBasePath"));
    t.base_path = "/web/";
    const char *evil[] = {"../etc"};
    t.groups = evil;
    assert_int_equal(ok.apply(ok.arg, &t, &err), -1);

    /* empty: the request leaves nginx */
    t.groups = groups;
    t.n_upstreams = 0;
    assert_int_equal(ok.apply(ok.arg, &t, &err), 0);
    assert_null(slurp(dir, "upstreams/corral_web.conf"));
    assert_null(slurp(dir, "locations/web/corral_web.conf"));

    free(u1);
    free(l1);
    ok.free(ok.arg);
    bad.free(bad.arg);
    assert_int_equal(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

static void test_new_leader_keeps_served_tasks_until_verdicts(void **state)
{
    /* After a failover no task has a verdict yet: the ones served stay,
     * the others wait; and in the middle of a swap (old tasks leaving, new
     * ones unchecked) the old ones stay until the new ones can replace them. */
    api_lb_status cur = {0};
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "t1", "10.0.0.1:1", 400);
    ctl_lb_task t[] = {running("t1", "v1", 1), running("t2", "v1", 2)};
    t[0].health = t[1].health = CTL_HEALTH_UNKNOWN;
    ctl_lb_in in = base_in(t, 2, &cur);
    ctl_lb_out out;
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_list(out.next.upstreams, out.next.n_upstreams, "t1=10.0.0.1:1@400");
    assert_int_equal(out.requeue_after_ms, 1000);
    ctl_lb_out_release(&out);

    ctl_lb_task swap[] = {running("a1", "v1", 1), running("b1", "v2", 2)};
    swap[0].leaving = true;
    swap[1].health = CTL_HEALTH_UNKNOWN;
    api_lb_status_release(&cur);
    memset(&cur, 0, sizeof(cur));
    api_lb_upstream_add(&cur.upstreams, &cur.n_upstreams, "a1", "10.0.0.1:1", 400);
    in = base_in(swap, 2, &cur);
    in.active_deploy = "v2";
    ctl_lb_plan(&in, &out);
    assert_false(out.apply);
    assert_list(out.next.upstreams, out.next.n_upstreams, "a1=10.0.0.1:1@400");
    ctl_lb_out_release(&out);
    /* b1 checked: the swap goes out */
    swap[1].health = CTL_HEALTH_HEALTHY;
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    assert_list(out.next.upstreams, out.next.n_upstreams, "b1=10.0.0.1:2@1000000");
    assert_list(out.next.removed, out.next.n_removed, "a1=10.0.0.1:1@1000000");
    ctl_lb_out_release(&out);
    /* a failed check does take a served task out */
    /* in.tasks points at swap */
    // cppcheck-suppress unreadVariable
    swap[0].health = CTL_HEALTH_UNHEALTHY;
    // cppcheck-suppress unreadVariable
    swap[0].leaving = false;
    in.active_deploy = "v1";
    ctl_lb_plan(&in, &out);
    assert_true(out.apply);
    assert_int_equal(out.n_want, 0);
    ctl_lb_out_release(&out);
    api_lb_status_release(&cur);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_new_leader_keeps_served_tasks_until_verdicts),
    cmocka_unit_test(test_healthy_tasks_of_the_active_deploy_only),
    cmocka_unit_test(test_without_check_healthy_after_running_long_enough),
    cmocka_unit_test(test_swap_in_one_change_and_removed_recorded),
    cmocka_unit_test(test_served_already_nothing_sent_removed_pruned),
    cmocka_unit_test(test_paused_or_deleted_empties_then_status_goes),
    cmocka_unit_test(test_refused_change_keeps_previous_and_waits_to_retry),
    cmocka_unit_test(test_status_json_round_trip),
    cmocka_unit_test(test_nginx_texts),
    cmocka_unit_test(test_nginx_provider_files_and_refusal),
};

CR_TEST_MAIN(tests)
