/* Unit tests of apis/container.c: what a deploy's containerInfo may hold,
 * checked through api_deploy_from_json (so resources.numPorts counts). */
#include <string.h>

#include "apis/container.h"
#include "apis/deploy.h"
#include "test/lib/cr_test.h"

#define BASE "\"requestId\":\"r\",\"id\":\"d1\""
/* 17 LITERAL host ports */
#define MANY17 "{\"containerPort\":80,\"hostPort\":9000},{\"containerPort\":80,\"hostPort\":9001},{\"containerPort\":80,\"hostPort\":9002},{\"containerPort\":80,\"hostPort\":9003},{\"containerPort\":80,\"hostPort\":9004},{\"containerPort\":80,\"hostPort\":9005},{\"containerPort\":80,\"hostPort\":9006},{\"containerPort\":80,\"hostPort\":9007},{\"containerPort\":80,\"hostPort\":9008},{\"containerPort\":80,\"hostPort\":9009},{\"containerPort\":80,\"hostPort\":9010},{\"containerPort\":80,\"hostPort\":9011},{\"containerPort\":80,\"hostPort\":9012},{\"containerPort\":80,\"hostPort\":9013},{\"containerPort\":80,\"hostPort\":9014},{\"containerPort\":80,\"hostPort\":9015},{\"containerPort\":80,\"hostPort\":9016}"

static api_deploy *decode(const char *s, api_problems *p)
{
    json_t *j = cr_test_json(s);
    api_deploy *d = api_deploy_from_json(j, NULL, p);
    json_decref(j);
    return d;
}

static void test_refused(void **state)
{
    static const struct {
        const char *in, *path, *msg;
    } cases[] = {
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"docker\":{\"image\":\"a\"}}}",
         "containerInfo.type", "required (MESOS or DOCKER)"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"RKT\"}}", "containerInfo.type",
         "must be MESOS or DOCKER"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\"}}", "containerInfo.docker.image",
         "required for a DOCKER container"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"\"}}}",
         "containerInfo.docker.image", "required for a DOCKER container"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"MESOS\"}}", "command",
         "required (or executorData"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"network\":\"OVERLAY\"}}}",
         "containerInfo.docker.network", "BRIDGE, HOST or NONE"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"portMappings\":[{\"containerPort\":80,\"hostPortType\":\"FROM_OFFER\","
         "\"hostPort\":0}]},\"resources\":{\"numPorts\":1}}}",
         "containerInfo.docker.portMappings", "need docker.network BRIDGE"},
        {"{" BASE ",\"resources\":{\"numPorts\":1},\"containerInfo\":{\"type\":\"DOCKER\","
         "\"docker\":{\"image\":\"a\",\"network\":\"BRIDGE\",\"portMappings\":[{\"containerPort\":"
         "80,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":1}]}}}",
         "containerInfo.docker.portMappings[0].hostPort",
         "FROM_OFFER index 1 must be between 0 and 0"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"network\":\"BRIDGE\",\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]}}}",
         "containerInfo.docker.portMappings[0].hostPort", "must be a port number (1-65535)"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"network\":\"BRIDGE\",\"portMappings\":[" MANY17 "]}}}",
         "containerInfo.docker.portMappings", "at most 16 LITERAL host ports"},
        {"{" BASE ",\"resources\":{\"numPorts\":1},\"containerInfo\":{\"type\":\"DOCKER\","
         "\"docker\":{\"image\":\"a\",\"network\":\"BRIDGE\",\"portMappings\":[{\"containerPort\":"
         "0,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":0}]}}}",
         "containerInfo.docker.portMappings[0].containerPort", "port number (1-65535)"},
        {"{" BASE ",\"resources\":{\"numPorts\":1},\"containerInfo\":{\"type\":\"DOCKER\","
         "\"docker\":{\"image\":\"a\",\"network\":\"BRIDGE\",\"portMappings\":[{\"containerPort\":"
         "80,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":0,\"protocol\":\"icmp\"}]}}}",
         "containerInfo.docker.portMappings[0].protocol", "tcp or udp"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"parameters\":{\"memory\":5}}}}",
         "containerInfo.docker.parameters.memory", "must be a string"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"dockerParameters\":[{\"key\":\"env\"}]}}}",
         "containerInfo.docker.dockerParameters[0]", "{key, value}"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"dockerParameters\":[{\"key\":\"name\",\"value\":\"x\"}]}}}",
         "containerInfo.docker.dockerParameters[0]", "'name' parameter is refused"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"parameters\":{\"name\":\"x\"}}}}",
         "containerInfo.docker.parameters.name", "'name' parameter is refused"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"containerPath\":\"/a\"}]}}",
         "containerInfo.volumes[0]", "needs hostPath or source"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\","
         "\"privileged\":\"yes\"}}}",
         "containerInfo.docker.privileged", "true or false"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\"},"
         "\"mesos\":{}}}",
         "containerInfo.mesos", "only with type MESOS"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"docker\":"
         "{\"image\":\"a\"}}}",
         "containerInfo.docker", "only with type DOCKER"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{}}}}",
         "containerInfo.mesos.image.type", "required (APPC or DOCKER)"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":"
         "\"DOCKER\"}}}}",
         "containerInfo.mesos.image.docker.name", "required for a DOCKER image"},
        {"{" BASE ",\"containerInfo\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":"
         "\"APPC\",\"appc\":{}}}}}",
         "containerInfo.mesos.image.appc.name", "required"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":{}}}",
         "containerInfo.volumes", "must be a list"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"hostPath\":\"/a\"}]}}",
         "containerInfo.volumes[0].containerPath", "required"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"containerPath\":\"/a\",\"mode\":\"RX\"}]}}",
         "containerInfo.volumes[0].mode", "RO or RW"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"containerPath\":\"/a\",\"source\":{\"type\":\"UNKNOWN\"}}]}}",
         "containerInfo.volumes[0].source.type", "DOCKER_VOLUME"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"containerPath\":\"/a\",\"source\":{\"type\":\"DOCKER_VOLUME\",\"dockerVolume\":"
         "{\"driver\":\"rexray\"}}}]}}",
         "containerInfo.volumes[0].source.dockerVolume.name", "required"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"volumes\":"
         "[{\"containerPath\":\"/a\",\"hostPath\":\"/b\",\"source\":{\"type\":\"DOCKER_VOLUME\","
         "\"dockerVolume\":{\"name\":\"v\"}}}]}}",
         "containerInfo.volumes[0].hostPath", "not allowed together with source"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"networkInfos\":"
         "[{\"name\":\"n\",\"portMappings\":[{\"hostPort\":0}]}]}}",
         "containerInfo.networkInfos[0].portMappings[0].containerPort", "required"},
        {"{" BASE ",\"command\":\"x\",\"containerInfo\":{\"type\":\"MESOS\",\"networkInfos\":"
         "[{\"groups\":[\"\"]}]}}",
         "containerInfo.networkInfos[0].groups[0]", "non-empty string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_problems p = API_PROBLEMS_INIT;
        api_deploy *d = decode(cases[i].in, &p);
        bool found = false;
        for (size_t k = 0; k < p.n; k++)
            if (strcmp(p.v[k].path, cases[i].path) == 0 && strstr(p.v[k].msg, cases[i].msg))
                found = true;
        if (d || !found) {
            char *all = api_problems_format(&p);
            fail_msg("case %zu: %s\nwanted %s: %s\ngot:\n%s", i, cases[i].in, cases[i].path,
                     cases[i].msg, all);
        }
        api_problems_release(&p);
    }
}

static void test_accepted(void **state)
{
    static const char *const ok[] = {
        /* a DOCKER image alone runs its entrypoint */
        "{" BASE ",\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox\"}}}",
        /* a MESOS image alone too */
        "{" BASE ",\"containerInfo\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"DOCKER\","
        "\"docker\":{\"name\":\"alpine:3\"}}}}}",
        /* everything Singularity's model has */
        "{" BASE ",\"command\":\"serve\",\"arguments\":[\"--port\",\"80\"],\"resources\":"
        "{\"numPorts\":2},\"containerInfo\":{\"type\":\"DOCKER\",\"docker\":{\"image\":"
        "\"registry/app:1\",\"network\":\"BRIDGE\",\"privileged\":false,\"forcePullImage\":true,"
        "\"parameters\":{\"memory-swap\":\"-1\"},\"dockerParameters\":[{\"key\":\"env\",\"value\":"
        "\"A=1\"}],\"portMappings\":[{\"containerPortType\":\"LITERAL\",\"containerPort\":80,"
        "\"hostPortType\":\"FROM_OFFER\",\"hostPort\":0},{\"containerPort\":9090,\"hostPort\":31555},"
        "{\"containerPortType\":\"FROM_OFFER\","
        "\"containerPort\":1,\"hostPortType\":\"FROM_OFFER\",\"hostPort\":1,\"protocol\":\"udp\"}]}"
        ","
        "\"volumes\":[{\"containerPath\":\"/data\",\"hostPath\":\"/srv/"
        "${TASK_ID}\",\"mode\":\"RW\"},"
        "{\"containerPath\":\"/"
        "v\",\"source\":{\"type\":\"DOCKER_VOLUME\",\"dockerVolume\":{\"name\":"
        "\"vol-%i\",\"driver\":\"local\",\"driverOptions\":{\"o\":\"bind\"}}}}],"
        "\"networkInfos\":[{\"name\":\"net\",\"groups\":[\"g\"],\"portMappings\":[{\"hostPort\":0,"
        "\"containerPort\":8080,\"protocol\":\"tcp\"}]}]}}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        api_problems p = API_PROBLEMS_INIT;
        api_deploy *d = decode(ok[i], &p);
        if (!d) {
            char *all = api_problems_format(&p);
            fail_msg("case %zu refused:\n%s", i, all);
        }
        api_deploy_free(d);
        api_problems_release(&p);
    }
}

static void test_predicates(void **state)
{
    json_t *docker = cr_test_json("{\"type\":\"DOCKER\",\"docker\":{\"image\":\"a\"}}");
    json_t *mesos = cr_test_json("{\"type\":\"MESOS\"}");
    json_t *mimg = cr_test_json(
        "{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":\"APPC\",\"appc\":{\"name\":\"x\"}}}}");
    assert_true(api_container_is_docker(docker));
    assert_true(api_container_has_image(docker));
    assert_false(api_container_is_docker(mesos));
    assert_false(api_container_has_image(mesos));
    assert_true(api_container_has_image(mimg));
    assert_false(api_container_has_image(NULL));
    json_decref(docker);
    json_decref(mesos);
    json_decref(mimg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refused),
    cmocka_unit_test(test_accepted),
    cmocka_unit_test(test_predicates),
};

CR_TEST_MAIN(tests)
