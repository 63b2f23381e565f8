/* Building a launch; see launch.h. */
#include "mesosbridge/launch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/container.h"
#include "base/buf.h"
#include "base/xalloc.h"
#include "mesosbridge/container.h"

void mb_place_task_from(const api_request *req, const api_deploy *dep, const api_pending_task *pend,
                        mb_place_task *out)
{
    api_resources r = api_deploy_eff_resources(dep);
    memset(out, 0, sizeof(*out));
    out->request_id = req->id;
    out->deploy_id = dep->id;
    out->cpus = r.cpus;
    out->mem = r.memoryMb;
    out->disk = r.diskMb;
    out->num_ports = r.numPorts;
    out->n_fixed_ports = api_container_literal_host_ports(
        dep->containerInfo, out->fixed_ports, API_CONTAINER_MAX_LITERAL_PORTS);
    if (pend->has_resources) {
        if (pend->resources.has_cpus)
            out->cpus = pend->resources.cpus;
        if (pend->resources.has_memoryMb)
            out->mem = pend->resources.memoryMb;
        if (pend->resources.has_diskMb)
            out->disk = pend->resources.diskMb;
        if (pend->resources.has_numPorts)
            out->num_ports = pend->resources.numPorts;
    }
    if (dep->customExecutorCmd) {
        out->exec_cpus = MB_EXECUTOR_CPUS;
        out->exec_mem = MB_EXECUTOR_MEM;
        if (dep->customExecutorResources) {
            const api_resources *e = dep->customExecutorResources;
            if (e->has_cpus)
                out->exec_cpus = e->cpus;
            if (e->has_memoryMb)
                out->exec_mem = e->memoryMb;
            if (e->has_diskMb)
                out->exec_disk = e->diskMb;
        }
    }
    out->required_attrs = pend->requiredAgentAttributeOverrides.n
                              ? &pend->requiredAgentAttributeOverrides
                              : &req->requiredAgentAttributes;
    out->allowed_attrs = pend->allowedAgentAttributeOverrides.n
                             ? &pend->allowedAgentAttributeOverrides
                             : &req->allowedAgentAttributes;
    out->rack_affinity = &req->rackAffinity;
    out->rack_sensitive = req->has_rackSensitive && req->rackSensitive;
    out->placement = req->agentPlacement;
    out->instances = api_request_eff_instances(req);
}

static void setf(api_strmap *m, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setf(api_strmap *m, const char *k, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    api_strmap_set(m, k, buf);
}

static void merge(api_strmap *dst, const api_strmap *src)
{
    for (size_t i = 0; src && i < src->n; i++)
        api_strmap_set(dst, src->v[i].key, src->v[i].value);
}

static void shell_quote(cr_buf *b, const char *s)
{
    cr_buf_addch(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            cr_buf_adds(b, "'\\''");
        else
            cr_buf_addch(b, *s);
    }
    cr_buf_addch(b, '\'');
}

static json_t *mesos_uris(const api_deploy *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n_uris; i++) {
        const api_mesos_artifact *u = &d->uris[i];
        if (!u->uri)
            continue;
        json_t *o = json_pack("{s:s}", "value", u->uri);
        if (u->has_cache)
            json_object_set_new(o, "cache", json_boolean(u->cache));
        if (u->has_executable)
            json_object_set_new(o, "executable", json_boolean(u->executable));
        if (u->has_extract)
            json_object_set_new(o, "extract", json_boolean(u->extract));
        if (u->outputFile)
            json_object_set_new(o, "output_file", json_string(u->outputFile));
        json_array_append_new(a, o);
    }
    return a;
}

/* TaskInfo.data for the custom executor. Caller frees. */
static char *executor_data(const api_deploy *d, const api_pending_task *p)
{
    json_t *ed = NULL;
    json_t *dj = api_deploy_to_json(d);
    json_t *e = json_object_get(dj, "executorData");
    if (json_is_object(e))
        ed = json_deep_copy(e);
    else
        ed = json_pack("{s:s}", "cmd", d->command ? d->command : "");
    json_decref(dj);
    if (p->cmdLineArgsList.n) {
        json_t *extra = json_object_get(ed, "extraCmdLineArgs");
        if (!json_is_array(extra)) {
            extra = json_array();
            json_object_set_new(ed, "extraCmdLineArgs", extra);
        }
        for (size_t i = 0; i < p->cmdLineArgsList.n; i++)
            json_array_append_new(extra, json_string(p->cmdLineArgsList.v[i]));
    }
    char *s = json_dumps(ed, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ed);
    return s;
}

api_task *mb_build_launch(const mb_launch_in *in, cr_err *err)
{
    const api_request *req = in->req;
    const api_deploy *dep = in->dep;
    const api_pending_task *pend = in->pend;
    const mb_offer *o = in->offer;
    const mb_place_result *pl = in->placed;
    api_task *t = xcalloc(1, sizeof(*t));
    const char *host = o->hostname ? o->hostname : o->agent_id;
    const char *rack = in->rack_id ? in->rack_id : "DEFAULT";
    int inst = pend->pendingTaskId.instanceNo;

    if (api_task_id_init(&t->taskId, req->id, dep->id, in->now_ms, inst, host, rack, err) < 0) {
        api_task_free(t);
        return NULL;
    }
    const char *tid = t->taskId.id;
    api_pending_task *pcopy = api_pending_task_dup(pend);
    t->pendingTask = *pcopy; /* move the copy's members */
    free(pcopy);
    t->frameworkId = xstrdup(in->framework_id);
    t->agentId = xstrdup(o->agent_id);
    t->hostname = xstrdup(host);
    t->offerId = xstrdup(o->id);
    t->launchedAt = in->now_ms;
    t->updatedAt = in->now_ms;
    t->lastTaskState = API_TASK_LAUNCHED;
    t->ports.n = pl->n_ports;
    t->ports.v = xcalloc(pl->n_ports + 1, sizeof(int64_t));
    for (size_t i = 0; i < pl->n_ports; i++)
        t->ports.v[i] = (int64_t)pl->ports[i];

    mb_place_task pt;
    mb_place_task_from(req, dep, pend, &pt);
    t->resources = (api_task_resources){.cpus = pt.cpus,
                                        .memoryMb = pt.mem,
                                        .diskMb = pt.disk,
                                        .numPorts = (int)pl->n_ports,
                                        .has_cpus = true,
                                        .has_memoryMb = true,
                                        .has_diskMb = true,
                                        .has_numPorts = true};

    /* environment, lowest precedence first */
    merge(&t->env, &dep->env);
    if (json_is_object(dep->taskEnv)) {
        char k[16];
        snprintf(k, sizeof(k), "%d", inst);
        json_t *te = json_object_get(dep->taskEnv, k), *v;
        const char *name;
        json_object_foreach(te, name, v)
        {
            if (json_is_string(v))
                api_strmap_set(&t->env, name, json_string_value(v));
        }
    }
    merge(&t->env, &pend->envOverrides);
    setf(&t->env, "INSTANCE_NO", "%d", inst);
    api_strmap_set(&t->env, "TASK_HOST", host);
    api_strmap_set(&t->env, "TASK_RACK_ID", rack);
    api_strmap_set(&t->env, "AVAILABILITY_ZONE", rack);
    api_strmap_set(&t->env, "TASK_REQUEST_ID", req->id);
    api_strmap_set(&t->env, "TASK_DEPLOY_ID", dep->id);
    api_strmap_set(&t->env, "TASK_ID", tid);
    setf(&t->env, "ESTIMATED_INSTANCE_COUNT", "%d", api_request_eff_instances(req));
    for (size_t i = 0; i < pl->n_ports; i++) {
        char k[32];
        snprintf(k, sizeof(k), "PORT%zu", i);
        setf(&t->env, k, "%" PRIu64, pl->ports[i]);
        if (i == 0)
            setf(&t->env, "PORT", "%" PRIu64, pl->ports[i]);
    }
    if (pend->has_resources && pend->resources.has_cpus)
        setf(&t->env, "DEPLOY_CPUS", "%g", pend->resources.cpus);
    if (pend->has_resources && pend->resources.has_memoryMb)
        setf(&t->env, "DEPLOY_MEM", "%g", pend->resources.memoryMb);
    if (pend->user)
        api_strmap_set(&t->env, "STARTED_BY_USER", pend->user);

    int64_t grace = -1;
    if (dep->executorData && dep->executorData->has_sigKillProcessesAfterMillis)
        grace = dep->executorData->sigKillProcessesAfterMillis;
    if (grace >= 0) {
        t->has_killGracePeriodMillis = true;
        t->killGracePeriodMillis = grace;
    }

    json_t *uris = mesos_uris(dep);
    const char *user = pend->runAsUserOverride ? pend->runAsUserOverride : dep->user;
    mb_task_spec s = {.task_id = tid,
                      .name = req->id,
                      .agent_id = o->agent_id,
                      .resources = pl->resources,
                      .env = &t->env,
                      .user = user,
                      .uris = uris,
                      .kill_grace_ms = grace};
    api_strlist args = {0};
    char *cmdline = NULL, *data = NULL;
    json_t *container = NULL;
    bool image_cmd = false;
    if (dep->containerInfo) {
        mb_container_task ct = {tid,  req->id, dep->id,   in->now_ms, inst,
                                host, rack,    pl->ports, pl->n_ports};
        container = mb_container_info(dep->containerInfo, &ct, err);
        if (!container) {
            json_decref(uris);
            api_task_free(t);
            return NULL;
        }
        s.container = container;
        /* Docker runs `image [command] [arguments]` without a shell unless
         * the deploy asks for one (Singularity's rule); an image without a
         * command runs its entrypoint. */
        image_cmd = (api_container_is_docker(dep->containerInfo) &&
                     !(dep->has_shell && dep->shell)) ||
                    (api_container_has_image(dep->containerInfo) && !dep->command);
    }
    if (dep->customExecutorCmd) {
        s.executor_cmd = in->executor_path ? in->executor_path : dep->customExecutorCmd;
        s.executor_id = dep->customExecutorId ? dep->customExecutorId : tid;
        s.executor_resources = pl->exec_resources;
        data = executor_data(dep, pend);
        s.data = data;
        s.data_len = strlen(data);
        t->executorId = xstrdup(s.executor_id);
    } else if (image_cmd) {
        for (size_t i = 0; i < dep->arguments.n; i++)
            api_strlist_add(&args, dep->arguments.v[i]);
        for (size_t i = 0; i < pend->cmdLineArgsList.n; i++)
            api_strlist_add(&args, pend->cmdLineArgsList.v[i]);
        s.command = dep->command; /* NULL: the image's entrypoint */
        s.arguments = &args;
        s.image_argv = true;
    } else if (dep->arguments.n || (dep->has_shell && !dep->shell)) {
        for (size_t i = 0; i < dep->arguments.n; i++)
            api_strlist_add(&args, dep->arguments.v[i]);
        for (size_t i = 0; i < pend->cmdLineArgsList.n; i++)
            api_strlist_add(&args, pend->cmdLineArgsList.v[i]);
        s.command = dep->command;
        s.arguments = &args; /* argv = command, args... (no shell) */
    } else {
        cr_buf b = CR_BUF_INIT;
        cr_buf_adds(&b, dep->command ? dep->command : "");
        for (size_t i = 0; i < pend->cmdLineArgsList.n; i++) {
            cr_buf_addch(&b, ' ');
            shell_quote(&b, pend->cmdLineArgsList.v[i]);
        }
        cmdline = cr_buf_detach(&b, NULL);
        s.command = cmdline;
        s.shell = true;
    }
    json_t *ti = mb_task_info(&s);
    api_task_set_mesos_task(t, ti); /* kept as text; the ACCEPT parses it */
    json_decref(ti);
    json_decref(uris);
    json_decref(container);
    api_strlist_release(&args);
    free(cmdline);
    free(data);
    return t;
}
