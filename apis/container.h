/* A deploy's containerInfo (SingularityContainerInfo, reference sheet 2.3).
 *
 * The document stays JSON in api_deploy.containerInfo (lossless round
 * trip); this module says whether it can be handed to Mesos.
 * mesosbridge/container.c maps an accepted one to Mesos' ContainerInfo.
 *
 * Accepted shape (Singularity's field names):
 *   type                 MESOS | DOCKER, required
 *   docker               DOCKER only: {image (required), network BRIDGE|HOST|NONE,
 *                        privileged, forcePullImage, parameters {k: v} or
 *                        dockerParameters [{key, value}], portMappings [...]}
 *   docker.portMappings  {containerPortType, containerPort, hostPortType, hostPort,
 *                        protocol tcp|udp}; types LITERAL (default) | FROM_OFFER
 *                        (an index < resources.numPorts); network BRIDGE only;
 *                        a LITERAL host port (1-65535, at most
 *                        API_CONTAINER_MAX_LITERAL_PORTS) is taken from the
 *                        offer besides the numPorts ones (Singularity's rule).
 *   mesos                MESOS only: {image {type APPC|DOCKER, appc {name, id},
 *                        docker {name}}}
 *   volumes              [{containerPath (required), hostPath, mode RO|RW,
 *                        source {type DOCKER_VOLUME, dockerVolume {driver, name
 *                        (required), driverOptions {k: v}}}}]
 *   networkInfos         [{name, groups [..], portMappings [{hostPort,
 *                        containerPort, protocol}]}] */
#ifndef API_CONTAINER_H
#define API_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/common.h"

/* Adds a problem (field paths under "containerInfo.", after prefix) for
 * everything in ci that Mesos would refuse or Corral cannot launch;
 * num_ports is the deploy's effective resources.numPorts. Returns the
 * number of problems added. */
size_t api_container_validate(const json_t *ci, int num_ports, const char *prefix,
                              api_problems *probs);

#define API_CONTAINER_MAX_LITERAL_PORTS 16

/* The LITERAL host ports of ci's docker.portMappings (distinct, in order),
 * at most max of them, into out; returns how many. */
size_t api_container_literal_host_ports(const json_t *ci, uint64_t *out, size_t max);

/* True when ci is of type DOCKER. */
bool api_container_is_docker(const json_t *ci);

/* True when ci names an image whose own entrypoint runs when the deploy has
 * no command: DOCKER, or MESOS with mesos.image. */
bool api_container_has_image(const json_t *ci);

#endif
