/* Unit tests of mesosbridge/container.c through mb_build_launch: the exact
 * ContainerInfo and CommandInfo sent for DOCKER and MESOS containers,
 * compared with fixtures (test/mesosbridge/fixtures/container/). */
#include <stdio.h>
#include <string.h>

#include "apis/deploy.h"
#include "apis/request.h"
#include "base/xalloc.h"
#include "mesosbridge/container.h"
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

static void build(world *w, const char *dep, const char *pend)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":2}");
    w->req = api_request_from_json(j, NULL, &probs);
    json_decref(j);
    j = cr_test_json(dep);
    w->dep = api_deploy_from_json(j, NULL, &probs); /* validated: as the API takes it */
    json_decref(j);
    j = cr_test_json(pend);
    w->pend = api_pending_task_from_json(j, NULL, &probs);
    json_decref(j);
    if (probs.n) {
        char *m = api_problems_format(&probs);
        fail_msg("%s", m);
    }
    api_problems_release(&probs);
    json_t *ev = cr_test_json(
        "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"O1\"},"
        "\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"agent-1\",\"resources\":["
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4},\"role\":\"*\"},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096},\"role\":\"*\"},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
        "\"end\":31010}]},\"role\":\"*\"}]}]}}");
    mb_event e;
    cr_err err;
    assert_int_equal(mb_event_decode_json(ev, &e, &err), 0);
    mb_offer_copy(&w->offer, &e.u.offers.v[0]);
    mb_event_release(&e);
    json_decref(ev);
    mb_offer_left_init(&w->left, &w->offer);
    mb_place_task pt;
    mb_place_task_from(w->req, w->dep, w->pend, &pt);
    mb_place_offer po = {&w->left, "rack1", false};
    assert_int_equal(mb_place(NULL, &po, 1, &pt, 1, NULL, 0, &w->res), 1);
    mb_launch_in in = {w->req, w->dep,  w->pend,       &w->offer, "rack1",
                       "FW-1", &w->res, 1700000000000, NULL};
    w->task = mb_build_launch(&in, &err);
    if (!w->task)
        fail_msg("launch refused: %s", cr_err_msg(&err));
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

/* The TaskInfo's container and command (environment left out: it is
 * test_launch's) must equal the fixture. */
static void expect_fixture(world *w, const char *fixture)
{
    json_t *ti = api_task_mesos_task(w->task);
    json_t *got = json_object();
    json_object_set(got, "container", json_object_get(ti, "container"));
    json_t *cmd = json_object_get(ti, "command");
    if (!cmd)
        cmd = json_object_get(json_object_get(ti, "executor"), "command");
    json_t *c = json_deep_copy(cmd);
    json_object_del(c, "environment");
    json_object_set_new(got, "command", c);
    json_t *want = cr_test_fixture_json(fixture);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(2));
        char *x = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(2));
        fprintf(stderr, "%s differs:\n--- got\n%s\n--- want\n%s\n", fixture, g, x);
        fail();
    }
    json_decref(want);
    json_decref(got);
    json_decref(ti);
}

static void test_docker(void **state)
{
    world w = {0};
    build(
        &w,
        "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"serve\",\"arguments\":[\"--port\","
        "\"80\"],\"resources\":{\"cpus\":0.5,\"memoryMb\":64,\"numPorts\":2},"
        "\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"registry/app:1\","
        "\"network\":\"BRIDGE\",\"forcePullImage\":true,\"parameters\":{\"ignored\":\"x\"},"
        "\"dockerParameters\":[{\"key\":\"env\",\"value\":\"A=1\"},{\"key\":\"label\",\"value\":"
        "\"team=core\"}],\"portMappings\":[{\"containerPortType\":\"LITERAL\",\"containerPort\":"
        "80,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":0},{\"containerPortType\":\"FROM_OFFER\","
        "\"containerPort\":1,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":1,\"protocol\":\"udp\"},"
        "{\"containerPort\":9090,\"hostPort\":31000}]},"
        "\"volumes\":[{\"containerPath\":\"/data\",\"hostPath\":\"/srv/${TASK_REQUEST_ID}/"
        "${TASK_INSTANCE_NO}\",\"mode\":\"RW\"},{\"containerPath\":\"/etc/app\",\"hostPath\":"
        "\"/etc/app\"},{\"containerPath\":\"/v\",\"source\":{\"type\":\"DOCKER_VOLUME\","
        "\"dockerVolume\":{\"name\":\"vol-%i\",\"driver\":\"local\",\"driverOptions\":{\"o\":"
        "\"bind\"}}}}]}}",
        "{\"pendingTaskId\":\"web-v1-5-2-ONEOFF-4\",\"cmdLineArgsList\":[\"--verbose\"]}");
    expect_fixture(&w, "mesosbridge/fixtures/container/docker.json");
    /* the LITERAL host port is taken from the offer besides PORT0 and PORT1,
     * which skip it */
    assert_int_equal(w.task->ports.n, 2);
    assert_int_equal(w.task->ports.v[0], 31001);
    assert_int_equal(w.task->ports.v[1], 31002);
    json_t *ti = api_task_mesos_task(w.task), *r;
    size_t i;
    char *ports = NULL;
    json_array_foreach (json_object_get(ti, "resources"), i, r)
        if (!strcmp(json_string_value(json_object_get(r, "name")), "ports"))
            ports = json_dumps(json_object_get(r, "ranges"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(ports);
    assert_string_equal(ports, "{\"range\":[{\"begin\":31001,\"end\":31001},{\"begin\":31002,"
                               "\"end\":31002},{\"begin\":31000,\"end\":31000}]}");
    free(ports);
    json_decref(ti);
    release(&w);
}

static void test_docker_entrypoint(void **state)
{
    world w = {0};
    build(&w,
          "{\"requestId\":\"web\",\"id\":\"v1\",\"containerInfo\":{\"type\":\"DOCKER\","
          "\"docker\":{\"image\":\"busybox:1\"}}}",
          "{\"pendingTaskId\":\"web-v1-5-1-ONEOFF-4\"}");
    expect_fixture(&w, "mesosbridge/fixtures/container/docker_entrypoint.json");
    release(&w);
}

static void test_docker_shell(void **state)
{
    /* shell: true asks Docker for /bin/sh -c with the command line */
    world w = {0};
    build(&w,
          "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"echo $HOME\",\"shell\":true,"
          "\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox:1\","
          "\"network\":\"HOST\"}}}",
          "{\"pendingTaskId\":\"web-v1-5-1-ONEOFF-4\",\"cmdLineArgsList\":[\"a b\"]}");
    expect_fixture(&w, "mesosbridge/fixtures/container/docker_shell.json");
    release(&w);
}

static void test_mesos_image(void **state)
{
    world w = {0};
    build(&w,
          "{\"requestId\":\"web\",\"id\":\"v1\",\"resources\":{\"numPorts\":1},"
          "\"containerInfo\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"DOCKER\","
          "\"docker\":{\"name\":\"alpine:3\"}}},\"networkInfos\":[{\"name\":\"cni-a\",\"groups\":"
          "[\"g1\"]},{\"name\":\"cni-b\",\"portMappings\":[{\"hostPort\":0,\"containerPort\":8080,"
          "\"protocol\":\"tcp\"}]}]}}",
          "{\"pendingTaskId\":\"web-v1-5-1-ONEOFF-4\",\"cmdLineArgsList\":[\"--once\"]}");
    expect_fixture(&w, "mesosbridge/fixtures/container/mesos_image.json");
    release(&w);
}

static void test_mesos_command(void **state)
{
    /* a MESOS container with a command keeps the usual shell command */
    world w = {0};
    build(&w,
          "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"./run\",\"containerInfo\":"
          "{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"APPC\",\"appc\":{\"name\":"
          "\"example.com/app\",\"id\":\"sha512-abc\"}}},\"volumes\":[{\"containerPath\":\"cache\","
          "\"hostPath\":\"/var/cache/${TASK_ID}\",\"mode\":\"RO\"}]}}",
          "{\"pendingTaskId\":\"web-v1-5-1-ONEOFF-4\"}");
    expect_fixture(&w, "mesosbridge/fixtures/container/mesos_command.json");
    release(&w);
}

static void test_custom_executor(void **state)
{
    /* with a custom executor the container goes on the TaskInfo too */
    world w = {0};
    build(&w,
          "{\"requestId\":\"web\",\"id\":\"v1\",\"customExecutorCmd\":\"/usr/bin/corral-executor\","
          "\"executorData\":{\"cmd\":\"./run\"},\"containerInfo\":{\"type\":\"DOCKER\","
          "\"docker\":{\"image\":\"busybox:1\"}}}",
          "{\"pendingTaskId\":\"web-v1-5-1-ONEOFF-4\"}");
    expect_fixture(&w, "mesosbridge/fixtures/container/custom_executor.json");
    release(&w);
}

static void test_bad_index(void **state)
{
    /* a pending task overriding numPorts below a FROM_OFFER index: refused */
    json_t *ci = cr_test_json(
        "{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\",\"network\":\"BRIDGE\",\"portMappings\":"
        "[{\"containerPort\":80,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":2}]}}");
    uint64_t ports[] = {31000, 31001};
    mb_container_task t = {"t", "r", "d", 1, 1, "h", "rack", ports, 2};
    cr_err err;
    assert_null(mb_container_info(ci, &t, &err));
    assert_non_null(strstr(cr_err_msg(&err), "host port index 2 but the task has 2 ports"));
    json_decref(ci);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_docker),        cmocka_unit_test(test_docker_entrypoint),
    cmocka_unit_test(test_docker_shell),  cmocka_unit_test(test_mesos_image),
    cmocka_unit_test(test_mesos_command), cmocka_unit_test(test_custom_executor),
    cmocka_unit_test(test_bad_index),
};

CR_TEST_MAIN(tests)
