/* Validation of a deploy's containerInfo; see container.h. */
#include "apis/container.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec.h"
#include "base/xalloc.h"

typedef struct vctx {
    const char *prefix;
    api_problems *probs;
    size_t n;
} vctx;

static void prob(vctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void prob(vctx *c, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *path = xasprintf("containerInfo%s%s", *field == '[' || !*field ? "" : ".", field);
    char *p = api_path_join(c->prefix, path);
    api_problems_add(c->probs, p, "%s", msg);
    free(p);
    free(path);
    c->n++;
}

static bool str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Checks v (when present) is one of the NULL-terminated names. */
static void check_enum(vctx *c, const char *field, const json_t *v, const char *const *names,
                       const char *list)
{
    if (!v || json_is_null(v))
        return;
    for (size_t i = 0; json_is_string(v) && names[i]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return;
    prob(c, field, "must be %s", list);
}

static void check_bool(vctx *c, const char *field, const json_t *v)
{
    if (v && !json_is_null(v) && !json_is_boolean(v))
        prob(c, field, "must be true or false");
}

static bool check_string(vctx *c, const char *field, const json_t *v, bool required)
{
    if (!v || json_is_null(v)) {
        if (required)
            prob(c, field, "required");
        return false;
    }
    if (!json_is_string(v) || !*json_string_value(v)) {
        prob(c, field, "must be a non-empty string");
        return false;
    }
    return true;
}

/* A list (or absent/null). */
static bool check_list(vctx *c, const char *field, const json_t *v)
{
    if (!v || json_is_null(v))
        return false;
    if (!json_is_array(v)) {
        prob(c, field, "must be a list");
        return false;
    }
    return true;
}

static bool check_object(vctx *c, const char *field, const json_t *v)
{
    if (!v || json_is_null(v))
        return false;
    if (!json_is_object(v)) {
        prob(c, field, "must be an object");
        return false;
    }
    return true;
}

static void check_string_map(vctx *c, const char *field, const json_t *v)
{
    const char *k;
    json_t *x;
    if (!check_object(c, field, v))
        return;
    json_object_foreach ((json_t *)v, k, x) {
        if (!json_is_string(x)) {
            char *f = xasprintf("%s.%s", field, k);
            prob(c, f, "must be a string");
            free(f);
        }
    }
}

/* An integer port field (absent means 0, as in Singularity's model). */
static bool port_value(vctx *c, const char *field, const json_t *v, long long *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v)) {
        prob(c, field, "must be an integer");
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static const char *const protocols[] = {"tcp", "udp", NULL};

static void check_docker_port(vctx *c, const char *base, const json_t *pm, int num_ports)
{
    static const char *const types[] = {"LITERAL", "FROM_OFFER", NULL};
    if (!json_is_object(pm)) {
        prob(c, base, "must be an object");
        return;
    }
    const char *which[2] = {"container", "host"};
    for (int i = 0; i < 2; i++) {
        char tf[64], vf[64];
        snprintf(tf, sizeof(tf), "%sPortType", which[i]);
        snprintf(vf, sizeof(vf), "%sPort", which[i]);
        char *tpath = xasprintf("%s.%s", base, tf), *vpath = xasprintf("%s.%s", base, vf);
        const json_t *t = json_object_get(pm, tf);
        long long port;
        check_enum(c, tpath, t, types, "LITERAL or FROM_OFFER");
        bool from_offer = str_is(t, "FROM_OFFER");
        if (port_value(c, vpath, json_object_get(pm, vf), &port)) {
            if (from_offer && (port < 0 || port >= num_ports))
                prob(c, vpath,
                     "FROM_OFFER index %lld must be between 0 and %d (resources.numPorts is %d)",
                     port, num_ports - 1, num_ports);
            else if (!from_offer && i == 0 && (port < 1 || port > 65535))
                prob(c, vpath, "must be a port number (1-65535)");
            else if (!from_offer && i == 1 && (port < 1 || port > 65535))
                prob(c, vpath, "must be a port number (1-65535)");
        }
        free(tpath);
        free(vpath);
    }
    char *p = xasprintf("%s.protocol", base);
    check_enum(c, p, json_object_get(pm, "protocol"), protocols, "tcp or udp");
    free(p);
}

/* The distinct LITERAL host ports (1-65535) of a portMappings list, at most
 * max of them into out (when not NULL); returns how many there are. */
static size_t literal_ports(const json_t *pms, uint64_t *out, size_t max)
{
    size_t i, n = 0;
    const json_t *e;
    uint64_t seen[API_CONTAINER_MAX_LITERAL_PORTS + 1] = {0};
    json_array_foreach ((json_t *)pms, i, e) {
        const json_t *t = json_object_get(e, "hostPortType"), *v = json_object_get(e, "hostPort");
        if (str_is(t, "FROM_OFFER") || !json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 65535)
            continue;
        uint64_t p = (uint64_t)json_integer_value(v);
        bool dup = false;
        for (size_t k = 0; k < n && k <= API_CONTAINER_MAX_LITERAL_PORTS; k++)
            dup = dup || seen[k] == p;
        if (dup)
            continue;
        if (n <= API_CONTAINER_MAX_LITERAL_PORTS)
            seen[n] = p;
        if (out && n < max)
            out[n] = p;
        n++;
    }
    return n;
}

size_t api_container_literal_host_ports(const json_t *ci, uint64_t *out, size_t max)
{
    if (!api_container_is_docker(ci))
        return 0;
    size_t n = literal_ports(json_object_get(json_object_get(ci, "docker"), "portMappings"), out,
                             max);
    return n < max ? n : max;
}

static void check_docker(vctx *c, const json_t *d, int num_ports)
{
    static const char *const networks[] = {"BRIDGE", "HOST", "NONE", NULL};
    if (!d || json_is_null(d)) {
        prob(c, "docker.image", "required for a DOCKER container");
        return;
    }
    if (!json_is_object(d)) {
        prob(c, "docker", "must be an object");
        return;
    }
    const json_t *image = json_object_get(d, "image");
    if (!json_is_string(image) || !*json_string_value(image))
        prob(c, "docker.image", "required for a DOCKER container");
    const json_t *net = json_object_get(d, "network");
    check_enum(c, "docker.network", net, networks, "BRIDGE, HOST or NONE");
    check_bool(c, "docker.privileged", json_object_get(d, "privileged"));
    check_bool(c, "docker.forcePullImage", json_object_get(d, "forcePullImage"));
    check_string_map(c, "docker.parameters", json_object_get(d, "parameters"));
    const json_t *dp = json_object_get(d, "dockerParameters"), *e;
    size_t i;
    if (check_list(c, "docker.dockerParameters", dp)) {
        json_array_foreach (dp, i, e) {
            char *f = xasprintf("docker.dockerParameters[%zu]", i);
            if (!json_is_object(e) || !json_is_string(json_object_get(e, "key")) ||
                !*json_string_value(json_object_get(e, "key")) ||
                !json_is_string(json_object_get(e, "value")))
                prob(c, f, "must be {key, value} with string values");
            else if (str_is(json_object_get(e, "key"), "name"))
                prob(c, f, "a 'name' parameter is refused: Mesos names the container");
            free(f);
        }
    }
    if (json_object_get(json_object_get(d, "parameters"), "name"))
        prob(c, "docker.parameters.name",
             "a 'name' parameter is refused: Mesos names the container");
    const json_t *pms = json_object_get(d, "portMappings");
    if (check_list(c, "docker.portMappings", pms)) {
        if (json_array_size(pms) && !str_is(net, "BRIDGE"))
            prob(c, "docker.portMappings",
                 "port mappings need docker.network BRIDGE (Mesos refuses them on %s networks)",
                 json_is_string(net) ? json_string_value(net) : "HOST (the default)");
        json_array_foreach (pms, i, e) {
            char *f = xasprintf("docker.portMappings[%zu]", i);
            check_docker_port(c, f, e, num_ports);
            free(f);
        }
        if (literal_ports(pms, NULL, SIZE_MAX) > API_CONTAINER_MAX_LITERAL_PORTS)
            prob(c, "docker.portMappings", "at most %d LITERAL host ports",
                 API_CONTAINER_MAX_LITERAL_PORTS);
    }
}

static void check_image(vctx *c, const json_t *img)
{
    static const char *const types[] = {"APPC", "DOCKER", NULL};
    if (!check_object(c, "mesos.image", img))
        return;
    const json_t *t = json_object_get(img, "type");
    if (!t || json_is_null(t)) {
        prob(c, "mesos.image.type", "required (APPC or DOCKER)");
        return;
    }
    check_enum(c, "mesos.image.type", t, types, "APPC or DOCKER");
    if (str_is(t, "APPC")) {
        const json_t *a = json_object_get(img, "appc");
        if (check_object(c, "mesos.image.appc", a)) {
            check_string(c, "mesos.image.appc.name", json_object_get(a, "name"), true);
            const json_t *id = json_object_get(a, "id");
            if (id && !json_is_null(id))
                check_string(c, "mesos.image.appc.id", id, false);
        } else if (!a || json_is_null(a)) {
            prob(c, "mesos.image.appc.name", "required for an APPC image");
        }
    } else if (str_is(t, "DOCKER")) {
        const json_t *d = json_object_get(img, "docker");
        if (check_object(c, "mesos.image.docker", d))
            check_string(c, "mesos.image.docker.name", json_object_get(d, "name"), true);
        else if (!d || json_is_null(d))
            prob(c, "mesos.image.docker.name", "required for a DOCKER image");
    }
}

static void check_volume(vctx *c, const char *base, const json_t *v)
{
    static const char *const modes[] = {"RO", "RW", NULL};
    static const char *const stypes[] = {"DOCKER_VOLUME", NULL};
    if (!json_is_object(v)) {
        prob(c, base, "must be an object");
        return;
    }
    char *f = xasprintf("%s.containerPath", base);
    check_string(c, f, json_object_get(v, "containerPath"), true);
    free(f);
    const json_t *hp = json_object_get(v, "hostPath");
    f = xasprintf("%s.hostPath", base);
    bool has_host = check_string(c, f, hp, false);
    free(f);
    f = xasprintf("%s.mode", base);
    check_enum(c, f, json_object_get(v, "mode"), modes, "RO or RW");
    free(f);
    const json_t *src = json_object_get(v, "source");
    f = xasprintf("%s.source", base);
    if (check_object(c, f, src)) {
        char *tf = xasprintf("%s.type", f);
        const json_t *t = json_object_get(src, "type");
        if (!t || json_is_null(t))
            prob(c, tf, "required (DOCKER_VOLUME)");
        else
            check_enum(c, tf, t, stypes, "DOCKER_VOLUME");
        free(tf);
        const json_t *dv = json_object_get(src, "dockerVolume");
        char *df = xasprintf("%s.dockerVolume", f);
        if (check_object(c, df, dv)) {
            char *x = xasprintf("%s.name", df);
            check_string(c, x, json_object_get(dv, "name"), true);
            free(x);
            x = xasprintf("%s.driver", df);
            check_string(c, x, json_object_get(dv, "driver"), false);
            free(x);
            x = xasprintf("%s.driverOptions", df);
            check_string_map(c, x, json_object_get(dv, "driverOptions"));
            free(x);
        } else if (str_is(t, "DOCKER_VOLUME") && (!dv || json_is_null(dv))) {
            char *x = xasprintf("%s.name", df);
            prob(c, x, "required for a DOCKER_VOLUME source");
            free(x);
        }
        free(df);
        if (has_host) {
            char *x = xasprintf("%s.hostPath", base);
            prob(c, x, "not allowed together with source (a Docker volume has no host path)");
            free(x);
        }
    } else if (!has_host && (!hp || json_is_null(hp))) {
        prob(c, base, "needs hostPath or source (Mesos takes exactly one)");
    }
    free(f);
}

static void check_network(vctx *c, const char *base, const json_t *n)
{
    if (!json_is_object(n)) {
        prob(c, base, "must be an object");
        return;
    }
    char *f = xasprintf("%s.name", base);
    check_string(c, f, json_object_get(n, "name"), false);
    free(f);
    const json_t *g = json_object_get(n, "groups"), *e;
    size_t i;
    f = xasprintf("%s.groups", base);
    if (check_list(c, f, g)) {
        json_array_foreach (g, i, e) {
            if (!json_is_string(e) || !*json_string_value(e)) {
                char *x = xasprintf("%s[%zu]", f, i);
                prob(c, x, "must be a non-empty string");
                free(x);
            }
        }
    }
    free(f);
    const json_t *pms = json_object_get(n, "portMappings");
    f = xasprintf("%s.portMappings", base);
    if (check_list(c, f, pms)) {
        json_array_foreach (pms, i, e) {
            char *x = xasprintf("%s[%zu]", f, i);
            if (!json_is_object(e)) {
                prob(c, x, "must be an object");
            } else {
                const char *names[2] = {"hostPort", "containerPort"};
                for (int k = 0; k < 2; k++) {
                    char *y = xasprintf("%s.%s", x, names[k]);
                    const json_t *p = json_object_get(e, names[k]);
                    if (!json_is_integer(p) || json_integer_value(p) < 0 ||
                        json_integer_value(p) > 65535)
                        prob(c, y, "required: a port index or number (0-65535)");
                    free(y);
                }
                char *y = xasprintf("%s.protocol", x);
                check_enum(c, y, json_object_get(e, "protocol"), protocols, "tcp or udp");
                free(y);
            }
            free(x);
        }
    }
    free(f);
}

size_t api_container_validate(const json_t *ci, int num_ports, const char *prefix,
                              api_problems *probs)
{
    vctx c = {prefix ? prefix : "", probs, 0};
    if (!json_is_object(ci)) {
        prob(&c, "", "must be an object");
        return c.n;
    }
    const json_t *type = json_object_get(ci, "type");
    if (!type || json_is_null(type)) {
        prob(&c, "type", "required (MESOS or DOCKER)");
    } else if (!str_is(type, "MESOS") && !str_is(type, "DOCKER")) {
        prob(&c, "type", "must be MESOS or DOCKER");
    }
    const json_t *docker = json_object_get(ci, "docker");
    const json_t *mesos = json_object_get(ci, "mesos");
    if (str_is(type, "DOCKER")) {
        check_docker(&c, docker, num_ports);
        if (mesos && !json_is_null(mesos))
            prob(&c, "mesos",
                 "only with type MESOS (a DOCKER container names its image in "
                 "docker.image)");
    } else if (str_is(type, "MESOS")) {
        if (docker && !json_is_null(docker))
            prob(&c, "docker",
                 "only with type DOCKER (a MESOS container names its image in "
                 "mesos.image)");
        if (check_object(&c, "mesos", mesos))
            check_image(&c, json_object_get(mesos, "image"));
    }
    const json_t *vols = json_object_get(ci, "volumes"), *e;
    size_t i;
    if (check_list(&c, "volumes", vols)) {
        json_array_foreach (vols, i, e) {
            char *f = xasprintf("volumes[%zu]", i);
            check_volume(&c, f, e);
            free(f);
        }
    }
    const json_t *nets = json_object_get(ci, "networkInfos");
    if (check_list(&c, "networkInfos", nets)) {
        json_array_foreach (nets, i, e) {
            char *f = xasprintf("networkInfos[%zu]", i);
            check_network(&c, f, e);
            free(f);
        }
    }
    return c.n;
}

bool api_container_is_docker(const json_t *ci)
{
    return json_is_object(ci) && str_is(json_object_get(ci, "type"), "DOCKER");
}

bool api_container_has_image(const json_t *ci)
{
    if (api_container_is_docker(ci))
        return true;
    return json_is_object(ci) && str_is(json_object_get(ci, "type"), "MESOS") &&
           json_is_object(json_object_get(json_object_get(ci, "mesos"), "image"));
}
