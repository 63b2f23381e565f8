/* containerInfo -> Mesos ContainerInfo; see container.h. */
#include "mesosbridge/container.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

static const char *str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* s with every occurrence of from replaced by to. Caller frees. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    cr_buf b = CR_BUF_INIT;
    size_t fl = strlen(from);
    const char *p;
    while ((p = strstr(s, from)) != NULL) {
        cr_buf_add(&b, s, (size_t)(p - s));
        cr_buf_adds(&b, to);
        s = p + fl;
    }
    cr_buf_adds(&b, s);
    return cr_buf_detach(&b, NULL);
}

/* Singularity's task-id placeholders in volume paths. Caller frees. */
static char *fill_task_values(const char *s, const mb_container_task *t)
{
    char started[32], inst[16];
    snprintf(started, sizeof(started), "%" PRId64, t->started_at);
    snprintf(inst, sizeof(inst), "%d", t->instance_no);
    const char *pairs[][2] = {{"${TASK_REQUEST_ID}", t->request_id},
                              {"${TASK_DEPLOY_ID}", t->deploy_id},
                              {"${TASK_STARTED_AT}", started},
                              {"${TASK_INSTANCE_NO}", inst},
                              {"${TASK_HOST}", t->host},
                              {"${TASK_RACK_ID}", t->rack_id},
                              {"${TASK_ID}", t->task_id}};
    char *cur = xstrdup(s);
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char *next = replace_all(cur, pairs[i][0], pairs[i][1] ? pairs[i][1] : "");
        free(cur);
        cur = next;
    }
    return cur;
}

static json_t *param(const char *k, const char *v)
{
    return json_pack("{s:s,s:s}", "key", k, "value", v);
}

/* One docker port (LITERAL: the number; FROM_OFFER: the task's port at
 * that index). -1 with err set when the index is out of range. */
static int64_t docker_port(const json_t *pm, const char *which, const mb_container_task *t,
                           cr_err *err)
{
    char tf[32], vf[32];
    snprintf(tf, sizeof(tf), "%sPortType", which);
    snprintf(vf, sizeof(vf), "%sPort", which);
    const char *type = str(pm, tf);
    json_int_t v = json_integer_value(json_object_get(pm, vf));
    if (type && strcmp(type, "FROM_OFFER") == 0) {
        if (v < 0 || (size_t)v >= t->n_ports) {
            cr_error(err, CR_EINVAL,
                     "containerInfo.docker.portMappings: %s port index %lld but the task has %zu "
                     "ports",
                     which, (long long)v, t->n_ports);
            return -1;
        }
        return (int64_t)t->ports[v];
    }
    return (int64_t)v;
}

static json_t *docker_info(const json_t *d, const mb_container_task *t, cr_err *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "image", json_string(str(d, "image") ? str(d, "image") : ""));
    if (str(d, "network"))
        json_object_set_new(o, "network", json_string(str(d, "network")));
    const json_t *pms = json_object_get(d, "portMappings"), *pm;
    size_t i;
    if (json_array_size(pms)) {
        json_t *a = json_array();
        json_array_foreach (pms, i, pm) {
            int64_t cp = docker_port(pm, "container", t, err);
            int64_t hp = cp < 0 ? -1 : docker_port(pm, "host", t, err);
            if (cp < 0 || hp < 0) {
                json_decref(a);
                json_decref(o);
                return NULL;
            }
            json_array_append_new(a, json_pack("{s:I,s:I,s:s}", "host_port", (json_int_t)hp,
                                               "container_port", (json_int_t)cp, "protocol",
                                               str(pm, "protocol") ? str(pm, "protocol") : "tcp"));
        }
        json_object_set_new(o, "port_mappings", a);
    }
    /* dockerParameters wins; else the parameters map (Singularity's model) */
    const json_t *dp = json_object_get(d, "dockerParameters"),
                 *pmap = json_object_get(d, "parameters");
    json_t *params = json_array();
    if (json_is_array(dp)) {
        json_array_foreach (dp, i, pm)
            json_array_append_new(params, param(str(pm, "key"), str(pm, "value")));
    } else if (json_is_object(pmap)) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)pmap, k, v)
            json_array_append_new(params, param(k, json_string_value(v)));
    }
    if (json_array_size(params))
        json_object_set_new(o, "parameters", params);
    else
        json_decref(params);
    json_object_set_new(o, "privileged",
                        json_boolean(json_is_true(json_object_get(d, "privileged"))));
    json_object_set_new(o, "force_pull_image",
                        json_boolean(json_is_true(json_object_get(d, "forcePullImage"))));
    return o;
}

static json_t *volume(const json_t *v, const mb_container_task *t)
{
    json_t *o = json_object();
    char *cp = fill_task_values(str(v, "containerPath") ? str(v, "containerPath") : "", t);
    json_object_set_new(o, "container_path", json_string(cp));
    free(cp);
    if (str(v, "hostPath")) {
        char *hp = fill_task_values(str(v, "hostPath"), t);
        json_object_set_new(o, "host_path", json_string(hp));
        free(hp);
    }
    json_object_set_new(o, "mode", json_string(str(v, "mode") ? str(v, "mode") : "RO"));
    const json_t *src = json_object_get(v, "source");
    if (json_is_object(src)) {
        json_t *s = json_object();
        json_object_set_new(s, "type",
                            json_string(str(src, "type") ? str(src, "type") : "UNKNOWN"));
        const json_t *dv = json_object_get(src, "dockerVolume");
        if (json_is_object(dv)) {
            json_t *d = json_object();
            if (str(dv, "driver"))
                json_object_set_new(d, "driver", json_string(str(dv, "driver")));
            if (str(dv, "name")) {
                char inst[16];
                snprintf(inst, sizeof(inst), "%d", t->instance_no);
                char *name = replace_all(str(dv, "name"), "%i", inst);
                json_object_set_new(d, "name", json_string(name));
                free(name);
            }
            const json_t *opts = json_object_get(dv, "driverOptions");
            if (json_object_size(opts)) {
                json_t *ps = json_array();
                const char *k;
                json_t *x;
                json_object_foreach ((json_t *)opts, k, x)
                    json_array_append_new(ps, param(k, json_string_value(x)));
                json_object_set_new(d, "driver_options", json_pack("{s:o}", "parameter", ps));
            }
            json_object_set_new(s, "docker_volume", d);
        }
        json_object_set_new(o, "source", s);
    }
    return o;
}

static json_t *mesos_info(const json_t *m)
{
    json_t *o = json_object();
    const json_t *img = json_object_get(m, "image");
    if (json_is_object(img)) {
        json_t *i = json_object();
        json_object_set_new(i, "type", json_string(str(img, "type") ? str(img, "type") : ""));
        const json_t *appc = json_object_get(img, "appc"), *dk = json_object_get(img, "docker");
        if (json_is_object(appc)) {
            json_t *a = json_pack("{s:s}", "name", str(appc, "name") ? str(appc, "name") : "");
            if (str(appc, "id"))
                json_object_set_new(a, "id", json_string(str(appc, "id")));
            json_object_set_new(i, "appc", a);
        }
        if (json_is_object(dk))
            json_object_set_new(i, "docker",
                                json_pack("{s:s}", "name", str(dk, "name") ? str(dk, "name") : ""));
        json_object_set_new(o, "image", i);
    }
    return o;
}

/* A network port: below the number of task ports it is an index into them. */
static json_int_t net_port(json_int_t p, const mb_container_task *t)
{
    return p >= 0 && (size_t)p < t->n_ports ? (json_int_t)t->ports[p] : p;
}

static json_t *network_info(const json_t *n, const mb_container_task *t)
{
    json_t *o = json_object();
    if (str(n, "name"))
        json_object_set_new(o, "name", json_string(str(n, "name")));
    const json_t *g = json_object_get(n, "groups"), *e;
    size_t i;
    if (json_array_size(g))
        json_object_set_new(o, "groups", json_deep_copy(g));
    json_t *pms = json_array();
    const json_t *given = json_object_get(n, "portMappings");
    if (json_is_array(given)) {
        json_array_foreach (given, i, e) {
            json_t *pm = json_pack(
                "{s:I,s:I}", "host_port",
                net_port(json_integer_value(json_object_get(e, "hostPort")), t), "container_port",
                net_port(json_integer_value(json_object_get(e, "containerPort")), t));
            if (str(e, "protocol"))
                json_object_set_new(pm, "protocol", json_string(str(e, "protocol")));
            json_array_append_new(pms, pm);
        }
    } else {
        for (i = 0; i < t->n_ports; i++) {
            json_int_t p = (json_int_t)t->ports[i];
            json_array_append_new(pms, json_pack("{s:I,s:I,s:s}", "host_port", p, "container_port",
                                                 p, "protocol", "tcp"));
            json_array_append_new(pms, json_pack("{s:I,s:I,s:s}", "host_port", p, "container_port",
                                                 p, "protocol", "udp"));
        }
    }
    if (json_array_size(pms))
        json_object_set_new(o, "port_mappings", pms);
    else
        json_decref(pms);
    return o;
}

json_t *mb_container_info(const json_t *ci, const mb_container_task *t, cr_err *err)
{
    json_t *o = json_object();
    const char *type = str(ci, "type");
    json_object_set_new(o, "type", json_string(type ? type : "MESOS"));
    const json_t *d = json_object_get(ci, "docker"), *e;
    size_t i;
    if (json_is_object(d)) {
        json_t *di = docker_info(d, t, err);
        if (!di) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "docker", di);
    }
    const json_t *vols = json_object_get(ci, "volumes");
    if (json_array_size(vols)) {
        json_t *a = json_array();
        json_array_foreach (vols, i, e)
            json_array_append_new(a, volume(e, t));
        json_object_set_new(o, "volumes", a);
    }
    const json_t *m = json_object_get(ci, "mesos");
    if (json_is_object(m))
        json_object_set_new(o, "mesos", mesos_info(m));
    const json_t *nets = json_object_get(ci, "networkInfos");
    if (json_array_size(nets)) {
        json_t *a = json_array();
        json_array_foreach (nets, i, e)
            json_array_append_new(a, network_info(e, t));
        json_object_set_new(o, "network_infos", a);
    }
    return o;
}
