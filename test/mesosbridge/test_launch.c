/* Unit tests of mesosbridge/launch.c: the task record and TaskInfo built
 * from a request, deploy, pending task and placement. */
#include <stdio.h>
#include <string.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "base/xalloc.h"
#include "mesosbridge/launch.h"
#include "test/lib/cr_test.h"

typedef struct world {
    api_request *req;
    api_deploy *dep;
    api_pending_task *pend;
    mb_offer offer;
    mb_offer_left left;
    mb_place_result res;
    api_task *task;
} world;

static void build(world *w, const char *req, const char *dep, const char *pend)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true};
    json_t *j = cr_test_json(req);
    w->req = api_request_from_json(j, &o, &probs);
    json_decref(j);
    j = cr_test_json(dep);
    w->dep = api_deploy_from_json(j, &o, &probs);
    json_decref(j);
    j = cr_test_json(pend);
    w->pend = api_pending_task_from_json(j, &o, &probs);
    json_decref(j);
    if (probs.n) {
        char *m = api_problems_format(&probs);
        fail_msg("%s", m);
    }
    api_problems_release(&probs);
    json_t *ev = cr_test_json("{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"O1\"},"
                       "\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"agent-1.example.com\","
                       "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":"
                       "{\"value\":4},\"role\":\"*\"},{\"name\":\"mem\",\"type\":\"SCALAR\","
                       "\"scalar\":{\"value\":4096},\"role\":\"*\"},{\"name\":\"ports\","
                       "\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,\"end\":"
                       "31010}]},\"role\":\"*\"}]}]}}");
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    mb_offer_copy(&w->offer, &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
    mb_offer_left_init(&w->left, &w->offer);
    mb_place_task pt;
    mb_place_task_from(w->req, w->dep, w->pend, &pt);
    mb_place_offer po = {&w->left, "us-east-1a", false};
    assert_int_equal(mb_place(NULL, &po, 1, &pt, 1, NULL, 0, &w->res), 1);
    mb_launch_in in = {w->req, w->dep,  w->pend,       &w->offer, "us-east-1a",
                       "FW-1", &w->res, 1700000000000, NULL};
    w->task = mb_build_launch(&in, &err);
    assert_non_null(w->task);
}

static void release(world *w)
{
    api_task_free(w->task);
    mb_place_result_release(&w->res);
    mb_offer_left_release(&w->left);
    mb_offer_release(&w->offer);
    api_pending_task_free(w->pend);
    api_deploy_free(w->dep);
    api_request_free(w->req);
}

static const char *env_of(const json_t *ti, const char *name)
{
    json_t *vars = json_object_get(json_object_get(json_object_get(ti, "command"), "environment"),
                                   "variables");
    if (!vars)
        vars = json_object_get(
            json_object_get(json_object_get(json_object_get(ti, "executor"), "command"),
                            "environment"),
            "variables");
    json_t *v;
    size_t i;
    json_array_foreach(vars, i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), name))
            return json_string_value(json_object_get(v, "value"));
    }
    return NULL;
}

static void test_command_task(void **state)
{
    world w = {0};
    build(&w, "{\"id\":\"web-app\",\"requestType\":\"SERVICE\",\"instances\":3}",
          "{\"requestId\":\"web-app\",\"id\":\"v2\",\"command\":\"./run\",\"env\":"
          "{\"A\":\"deploy\",\"B\":\"deploy\",\"TASK_ID\":\"spoof\"},\"taskEnv\":{\"2\":"
          "{\"B\":\"taskenv\",\"C\":\"taskenv\"}},\"resources\":{\"cpus\":0.5,\"memoryMb\":128,"
          "\"numPorts\":2},\"uris\":[{\"uri\":\"http://x/a.tgz\",\"extract\":true}]}",
          "{\"pendingTaskId\":\"web-app-v2-5-2-ONEOFF-4\",\"user\":\"alice\","
          "\"cmdLineArgsList\":[\"--x\",\"it's\"],\"envOverrides\":{\"C\":\"override\"}}");
    api_task *t = w.task;
    assert_string_equal(t->taskId.id, "web-app-v2-1700000000000-2-agent_1.example.com-us_east_1a");
    assert_int_equal(t->lastTaskState, API_TASK_LAUNCHED);
    assert_string_equal(t->agentId, "S1");
    assert_string_equal(t->offerId, "O1");
    assert_int_equal(t->ports.n, 2);
    json_t *ti = api_task_mesos_task(t); /* the record keeps it as text */
    assert_string_equal(json_string_value(json_object_get(ti, "name")), "web-app");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ti, "task_id"), "value")),
                        t->taskId.id);
    json_t *cmd = json_object_get(ti, "command");
    assert_true(json_is_true(json_object_get(cmd, "shell")));
    assert_string_equal(json_string_value(json_object_get(cmd, "value")), "./run '--x' 'it'\\''s'");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(cmd, "uris"), 0), "value")),
                        "http://x/a.tgz");
    /* precedence: deploy env < taskEnv < envOverrides < Corral's */
    assert_string_equal(env_of(ti, "A"), "deploy");
    assert_string_equal(env_of(ti, "B"), "taskenv");
    assert_string_equal(env_of(ti, "C"), "override");
    assert_string_equal(env_of(ti, "TASK_ID"), t->taskId.id);
    assert_string_equal(env_of(ti, "INSTANCE_NO"), "2");
    assert_string_equal(env_of(ti, "TASK_RACK_ID"), "us-east-1a");
    assert_string_equal(env_of(ti, "ESTIMATED_INSTANCE_COUNT"), "3");
    assert_string_equal(env_of(ti, "PORT0"), "31000");
    assert_string_equal(env_of(ti, "PORT1"), "31001");
    assert_string_equal(env_of(ti, "PORT"), "31000");
    assert_string_equal(env_of(ti, "STARTED_BY_USER"), "alice");
    assert_null(env_of(ti, "DEPLOY_CPUS"));
    assert_null(json_object_get(ti, "kill_policy"));
    /* the stored record round-trips, its TaskInfo text too */
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = api_task_to_json(t);
    api_task *back = api_task_from_json(j, NULL, &probs);
    assert_non_null(back);
    assert_int_equal(back->mesosTask_len, t->mesosTask_len);
    assert_memory_equal(back->mesosTask, t->mesosTask, t->mesosTask_len);
    char *text = json_dumps(j, JSON_COMPACT), *dumped = api_task_dump(t, NULL);
    assert_string_equal(dumped, text); /* what the bridge writes */
    free(text);
    free(dumped);
    api_task_free(back);
    json_decref(j);
    json_decref(ti);
    release(&w);
}

static void test_custom_executor_and_overrides(void **state)
{
    world w = {0};
    build(&w, "{\"id\":\"job\",\"requestType\":\"ON_DEMAND\"}",
          "{\"requestId\":\"job\",\"id\":\"v1\",\"command\":\"work\",\"customExecutorCmd\":"
          "\"/usr/bin/corral-executor\",\"executorData\":{\"cmd\":\"work --hard\","
          "\"sigKillProcessesAfterMillis\":120000},\"resources\":{\"cpus\":1,\"memoryMb\":64}}",
          "{\"pendingTaskId\":\"job-v1-5-1-ONEOFF-4\",\"cmdLineArgsList\":[\"--n=1\"],"
          "\"resources\":{\"cpus\":2,\"memoryMb\":256}}");
    json_t *ti = api_task_mesos_task(w.task);
    assert_null(json_object_get(ti, "command"));
    json_t *ex = json_object_get(ti, "executor");
    assert_string_equal(json_string_value(json_object_get(ex, "type")), "CUSTOM");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ex, "executor_id"), "value")),
        w.task->taskId.id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ex, "command"), "value")),
                        "/usr/bin/corral-executor");
    assert_int_equal(json_array_size(json_object_get(ex, "resources")), 2);
    assert_string_equal(w.task->executorId, w.task->taskId.id);
    /* data: base64 of executorData with the extra arguments appended */
    const char *data = json_string_value(json_object_get(ti, "data"));
    assert_non_null(data);
    char *want_json = "{\"cmd\":\"work --hard\",\"extraCmdLineArgs\":[\"--n=1\"],"
                      "\"sigKillProcessesAfterMillis\":120000}";
    char *want = mb_base64(want_json, strlen(want_json));
    assert_string_equal(data, want);
    free(want);
    /* kill policy from sigKillProcessesAfterMillis */
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(ti, "kill_policy"), "grace_period"), "nanoseconds")),
        120000000000LL);
    assert_true(w.task->has_killGracePeriodMillis && w.task->killGracePeriodMillis == 120000);
    /* run-now resources override the deploy's and are announced */
    assert_true(w.task->resources.cpus == 2);
    assert_string_equal(env_of(ti, "DEPLOY_CPUS"), "2");
    assert_string_equal(env_of(ti, "DEPLOY_MEM"), "256");
    json_decref(ti);
    release(&w);
}

static void test_argv_task(void **state)
{
    world w = {0};
    build(&w, "{\"id\":\"argv\",\"requestType\":\"WORKER\"}",
          "{\"requestId\":\"argv\",\"id\":\"v1\",\"command\":\"/bin/echo\",\"arguments\":"
          "[\"a b\"],\"resources\":{\"cpus\":0.1,\"memoryMb\":8}}",
          "{\"pendingTaskId\":\"argv-v1-5-1-ONEOFF-4\",\"cmdLineArgsList\":[\"c\"]}");
    json_t *ti = api_task_mesos_task(w.task);
    json_t *cmd = json_object_get(ti, "command");
    assert_true(json_is_false(json_object_get(cmd, "shell")));
    json_t *args = json_object_get(cmd, "arguments");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "/bin/echo");
    assert_string_equal(json_string_value(json_array_get(args, 1)), "a b");
    assert_string_equal(json_string_value(json_array_get(args, 2)), "c");
    json_decref(ti);
    release(&w);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_command_task),
    cmocka_unit_test(test_custom_executor_and_overrides),
    cmocka_unit_test(test_argv_task),
};

CR_TEST_MAIN(tests)
