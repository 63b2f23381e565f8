/* A deploy's containerInfo (apis/container.h) as the Mesos v1 ContainerInfo
 * of a TaskInfo, built the way Singularity's task builder builds it:
 *
 * - type; DOCKER: docker {image, network (when given), port_mappings,
 *   parameters (dockerParameters, else the parameters map), privileged,
 *   force_pull_image}. A FROM_OFFER port is the task's port at that index.
 * - volumes: container_path and host_path with ${TASK_REQUEST_ID},
 *   ${TASK_DEPLOY_ID}, ${TASK_STARTED_AT}, ${TASK_INSTANCE_NO}, ${TASK_HOST},
 *   ${TASK_RACK_ID} and ${TASK_ID} filled in; mode (RO when absent); source
 *   DOCKER_VOLUME with docker_volume {driver, name ("%i" -> instance
 *   number), driver_options {parameter: [...]}}.
 * - mesos.image {type, appc {name, id} | docker {name}}.
 * - network_infos {name, groups, port_mappings}: a port below the number of
 *   task ports is an index into them, else a port number; without
 *   portMappings every task port is mapped to itself for tcp and udp.
 * Pure; unit-tested against fixtures (test/mesosbridge/test_container.c). */
#ifndef MB_CONTAINER_H
#define MB_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

/* The task the container is for (borrowed strings). */
typedef struct mb_container_task {
    const char *task_id;
    const char *request_id;
    const char *deploy_id;
    int64_t started_at;
    int instance_no;
    const char *host;
    const char *rack_id;
    const uint64_t *ports; /* the task's ports, PORT0.. */
    size_t n_ports;
} mb_container_task;

/* Returns the ContainerInfo (caller owns), or NULL with err set when ci
 * names a port index the task does not have (a deploy that passed
 * api_container_validate never does). */
json_t *mb_container_info(const json_t *ci, const mb_container_task *t, cr_err *err);

#endif
