/* Manifest loading: documents -> Request/Deploy objects; see manifest.h. */
#include "apis/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "apis/codec.h"
#include "apis/yaml.h"
#include "base/buf.h"
#include "base/xalloc.h"

#define MAX_MANIFEST_BYTES (64u << 20)
#define MAX_DIR_DEPTH      32

api_manifest *api_manifest_new(void)
{
    return xcalloc(1, sizeof(api_manifest));
}

static void obj_release(api_manifest_obj *o)
{
    api_request_free(o->request);
    api_deploy_free(o->deploy);
    api_source_free(o->source);
    api_request_free(o->updatedRequest);
    free(o->message);
    free(o->file);
    free(o->prefix);
}

void api_manifest_free(api_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        obj_release(&m->v[i]);
    free(m->v);
    for (size_t i = 0; i < m->nsrcmaps; i++)
        api_srcmap_free(m->srcmaps[i]);
    free(m->srcmaps);
    json_decref(m->overlay);
    free(m);
}

/* Context of the document being turned into objects. */
typedef struct docctx {
    api_manifest *m;
    const api_manifest_opts *o;
    api_problems *probs;
    const char *file;
    api_doc *doc;
    api_srcmap *sm; /* handed to m->srcmaps once an object uses it */
    bool sm_owned_by_m;
    const char *elem; /* "[k]" for element k of a list document, else NULL */
} docctx;

static api_manifest_obj *add_obj(docctx *c, api_obj_kind kind, const char *prefix)
{
    api_manifest *m = c->m;
    m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
    api_manifest_obj *o = &m->v[m->n++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->file = xstrdup(c->file);
    o->line = c->doc->line;
    o->col = c->doc->col;
    if (c->elem)
        o->prefix = *prefix ? xasprintf("%s.%s", c->elem, prefix) : xstrdup(c->elem);
    else
        o->prefix = xstrdup(prefix);
    if (!c->sm_owned_by_m) {
        m->srcmaps = xrealloc(m->srcmaps, (m->nsrcmaps + 1) * sizeof(*m->srcmaps));
        m->srcmaps[m->nsrcmaps++] = c->sm;
        c->sm_owned_by_m = true;
    }
    o->srcmap = c->sm;
    return o;
}

static void prob(docctx *c, const char *path, const char *msg)
{
    api_problems_add(c->probs, path, "%s", msg);
}

/* Decodes a deploy, deriving its id when absent, then validates it. */
static api_deploy *decode_deploy(docctx *c, const json_t *j, const char *prefix,
                                 const char *id_from_meta, bool *derived)
{
    api_decode_opts dopts = {
        .allow_unknown = c->o->allow_unknown, .path_prefix = prefix, .derive_id = true};
    json_t *id = json_is_object(j) ? json_object_get(j, "id") : NULL;
    json_t *copy = NULL;
    api_deploy *d = NULL;

    if (id_from_meta && json_is_string(id) && strcmp(json_string_value(id), id_from_meta) != 0) {
        char *p = api_path_join(prefix, "id");
        api_problems_add(c->probs, p, "\"%s\" differs from metadata.name \"%s\"",
                         json_string_value(id), id_from_meta);
        free(p);
        return NULL;
    }
    if (id_from_meta && !id && json_is_object(j)) {
        copy = json_copy((json_t *)j);
        json_object_set_new(copy, "id", json_string(id_from_meta));
        j = copy;
    }
    *derived = !id && !id_from_meta;
    d = api_deploy_from_json(j, &dopts, c->probs);
    json_decref(copy);
    return d;
}

static api_request *decode_request(docctx *c, const json_t *j, const char *prefix)
{
    api_decode_opts ropts = {.allow_unknown = c->o->allow_unknown, .path_prefix = prefix};
    return api_request_from_json(j, &ropts, c->probs);
}

/* Reads the {message, unpauseOnSuccessfulDeploy, updatedRequest} options. */
static bool deploy_options(docctx *c, const json_t *src, const char *prefix, api_manifest_obj *tmp)
{
    size_t before = c->probs->n;
    json_t *msg = json_object_get(src, "message");
    json_t *unp = json_object_get(src, "unpauseOnSuccessfulDeploy");
    json_t *upd = json_object_get(src, "updatedRequest");
    if (msg && !json_is_null(msg)) {
        char *p = api_path_join(prefix, "message");
        if (json_is_string(msg))
            tmp->message = xstrdup(json_string_value(msg));
        else
            api_problems_add(c->probs, p, "must be a string");
        free(p);
    }
    if (unp && !json_is_null(unp)) {
        char *p = api_path_join(prefix, "unpauseOnSuccessfulDeploy");
        if (json_is_boolean(unp)) {
            tmp->has_unpause = true;
            tmp->unpauseOnSuccessfulDeploy = json_is_true(unp);
        } else {
            api_problems_add(c->probs, p, "must be true or false");
        }
        free(p);
    }
    if (upd && !json_is_null(upd)) {
        char *p = api_path_join(prefix, "updatedRequest");
        tmp->updatedRequest = decode_request(c, upd, p);
        free(p);
    }
    return c->probs->n == before;
}

static void add_deploy(docctx *c, api_deploy *d, bool derived, const char *prefix,
                       api_manifest_obj *opts)
{
    api_manifest_obj *o = add_obj(c, API_OBJ_DEPLOY, prefix);
    o->deploy = d;
    o->deploy_id_derived = derived;
    if (opts) {
        o->message = opts->message;
        o->has_unpause = opts->has_unpause;
        o->unpauseOnSuccessfulDeploy = opts->unpauseOnSuccessfulDeploy;
        o->updatedRequest = opts->updatedRequest;
        opts->message = NULL;
        opts->updatedRequest = NULL;
    }
}

static void check_keys(docctx *c, const json_t *obj, const char *prefix, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(k, allowed[i]) == 0)
                ok = true;
        if (!ok) {
            char *p = api_path_join(prefix, k);
            prob(c, p, "unknown field");
            free(p);
        }
    }
}

/* ---- envelope -------------------------------------------------------------- */

static void load_envelope(docctx *c, const json_t *root)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "options", NULL};
    static const char *const meta_keys[] = {"name", "annotations", NULL};
    static const char *const opt_keys[] = {"message", "unpauseOnSuccessfulDeploy", "updatedRequest",
                                           NULL};
    size_t before = c->probs->n;
    json_t *ver = json_object_get(root, "apiVersion");
    json_t *kind = json_object_get(root, "kind");
    json_t *meta = json_object_get(root, "metadata");
    json_t *spec = json_object_get(root, "spec");
    json_t *opts = json_object_get(root, "options");
    const char *name = NULL;

    check_keys(c, root, "", top);
    if (!json_is_string(ver) || strcmp(json_string_value(ver), API_MANIFEST_VERSION) != 0)
        prob(c, "apiVersion", ver ? "must be corral/v1" : "required (corral/v1)");
    if (!json_is_string(kind) || (strcmp(json_string_value(kind), "Request") != 0 &&
                                  strcmp(json_string_value(kind), "Deploy") != 0 &&
                                  strcmp(json_string_value(kind), "Source") != 0)) {
        prob(c, "kind",
             kind ? "must be Request, Deploy or Source" : "required (Request, Deploy or Source)");
        return;
    }
    bool is_req = strcmp(json_string_value(kind), "Request") == 0;
    bool is_src = strcmp(json_string_value(kind), "Source") == 0;
    json_t *annotations = NULL;
    if (meta && !json_is_object(meta)) {
        prob(c, "metadata", "must be an object");
    } else if (meta) {
        check_keys(c, meta, "metadata", meta_keys);
        json_t *n = json_object_get(meta, "name");
        if (n && !json_is_string(n))
            prob(c, "metadata.name", "must be a string");
        else if (n)
            name = json_string_value(n);
        annotations = json_object_get(meta, "annotations");
        if (annotations && (!json_is_object(annotations) || is_src)) {
            prob(c, "metadata.annotations",
                 is_src ? "only allowed for kinds Request and Deploy" : "must be a map");
            annotations = NULL;
        }
    }
    if (!json_is_object(spec)) {
        prob(c, "spec", spec ? "must be an object" : "required");
        return;
    }
    if (opts && (is_req || is_src || !json_is_object(opts))) {
        prob(c, "options",
             is_req || is_src ? "only allowed for kind Deploy" : "must be an object");
        return;
    }
    /* metadata.annotations go into the object's own annotations (the
     * spec's win on a clash). */
    json_t *spec_copy = NULL;
    if (annotations && json_object_size(annotations)) {
        spec_copy = json_copy(spec);
        json_t *merged = json_copy(annotations);
        json_t *own = json_object_get(spec, "annotations");
        if (json_is_object(own))
            json_object_update(merged, own);
        json_object_set_new(spec_copy, "annotations", merged);
        spec = spec_copy;
    }
    if (is_src) {
        size_t b0 = c->probs->n;
        json_t *copy = json_copy(spec);
        json_t *id = json_object_get(spec, "name");
        if (!name && !id) {
            prob(c, "metadata.name", "required");
        } else if (name && json_is_string(id) && strcmp(json_string_value(id), name) != 0) {
            api_problems_add(c->probs, "spec.name", "\"%s\" differs from metadata.name \"%s\"",
                             json_string_value(id), name);
        } else {
            if (!id)
                json_object_set_new(copy, "name", json_string(name));
            api_decode_opts so = {.allow_unknown = c->o->allow_unknown, .path_prefix = "spec"};
            api_source *s = api_source_from_json(copy, &so, c->probs);
            if (s && c->probs->n == b0 && b0 == before)
                add_obj(c, API_OBJ_SOURCE, "spec")->source = s;
            else
                api_source_free(s);
        }
        json_decref(copy);
        json_decref(spec_copy);
        return;
    }
    /* Envelope problems do not stop the spec from being checked too, but
     * the object is then not added. */
    bool env_ok = c->probs->n == before;
    if (is_req) {
        json_t *copy = json_copy(spec);
        json_t *id = json_object_get(spec, "id");
        if (!name && !id) {
            prob(c, "metadata.name", "required");
        } else if (name && json_is_string(id) && strcmp(json_string_value(id), name) != 0) {
            api_problems_add(c->probs, "spec.id", "\"%s\" differs from metadata.name \"%s\"",
                             json_string_value(id), name);
        } else {
            if (!id)
                json_object_set_new(copy, "id", json_string(name));
            api_request *r = decode_request(c, copy, "spec");
            if (r && env_ok)
                add_obj(c, API_OBJ_REQUEST, "spec")->request = r;
            else
                api_request_free(r);
        }
        json_decref(copy);
        json_decref(spec_copy);
        return;
    }
    api_manifest_obj tmp = {0};
    if (opts)
        check_keys(c, opts, "options", opt_keys);
    if (opts && !deploy_options(c, opts, "options", &tmp))
        env_ok = false;
    bool derived;
    api_deploy *d = decode_deploy(c, spec, "spec", name, &derived);
    if (d && env_ok && c->probs->n == before)
        add_deploy(c, d, derived, "spec", &tmp);
    else
        api_deploy_free(d);
    free(tmp.message);
    api_request_free(tmp.updatedRequest);
    json_decref(spec_copy);
}

/* ---- procfile -------------------------------------------------------------- */

typedef enum { PK_STR, PK_INT, PK_NUM, PK_BOOL, PK_STRMAP, PK_STRLIST } pkind;

static const struct {
    const char *name;
    pkind kind;
} proc_keys[] = {
    {"cmd", PK_STR},
    {"type", PK_STR},
    {"requestId", PK_STR},
    {"instances", PK_INT},
    {"cpus", PK_NUM},
    {"memory", PK_NUM},
    {"disk", PK_NUM},
    {"numPorts", PK_INT},
    {"numRetriesOnFailure", PK_INT},
    {"schedule", PK_STR},
    {"scheduleType", PK_STR},
    {"scheduleTimeZone", PK_STR},
    {"healthcheckUri", PK_STR},
    {"healthcheckIntervalSeconds", PK_INT},
    {"healthcheckTimeoutSeconds", PK_INT},
    {"healthcheckPortIndex", PK_INT},
    {"owners", PK_STRLIST},
    {"env", PK_STRMAP},
    {"user", PK_STR},
    {"serviceBasePath", PK_STR},
};

static bool pk_ok(pkind k, const json_t *v)
{
    switch (k) {
    case PK_STR:
        return json_is_string(v);
    case PK_INT:
        return json_is_integer(v);
    case PK_NUM:
        return json_is_number(v);
    case PK_BOOL:
        return json_is_boolean(v);
    case PK_STRLIST: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                return false;
        }
        return true;
    }
    case PK_STRMAP: {
        if (!json_is_object(v))
            return false;
        const char *k2;
        json_t *e;
        json_object_foreach((json_t *)v, k2, e)
        {
            if (!json_is_string(e) && !json_is_number(e) && !json_is_boolean(e))
                return false;
        }
        return true;
    }
    }
    return false;
}

static const char *pk_what(pkind k)
{
    static const char *const w[] = {"a string",      "an integer",       "a number",
                                    "true or false", "a map of strings", "a list of strings"};
    return w[k];
}

char *api_procfile_request_id(const char *name, const char *proc)
{
    char *id = xasprintf("%s-%s", name, proc);
    for (char *p = id; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            *p = '_';
    }
    if (strlen(id) > API_MAX_REQUEST_ID)
        id[API_MAX_REQUEST_ID] = 0;
    return id;
}

/* Copies scalars of a string map (YAML numbers included) into dst. */
static void env_into(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v)
    {
        if (json_is_string(v)) {
            json_object_set(dst, k, v);
        } else if (json_is_number(v) || json_is_boolean(v)) {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            json_object_set_new(dst, k, json_string(s));
            free(s);
        }
    }
}

static void expand_process(docctx *c, const json_t *cfg, const char *name, const char *proc,
                           const json_t *p, const json_t *envmerged)
{
    char *prefix = xasprintf("procfile.%s", proc);
    size_t before = c->probs->n;
    json_t *req = NULL, *dep = NULL;

    if (!json_is_object(p)) {
        prob(c, prefix, "must be a map of process settings");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v)
    {
        size_t i, nk = sizeof(proc_keys) / sizeof(proc_keys[0]);
        for (i = 0; i < nk; i++)
            if (strcmp(proc_keys[i].name, k) == 0)
                break;
        char *kp = api_path_join(prefix, k);
        if (i == nk) {
            if (!c->o->allow_unknown)
                prob(c, kp, "unknown field");
        } else if (!pk_ok(proc_keys[i].kind, v)) {
            api_problems_add(c->probs, kp, "must be %s", pk_what(proc_keys[i].kind));
        }
        free(kp);
    }
    json_t *cmd = json_object_get(p, "cmd");
    if (!cmd) {
        char *kp = api_path_join(prefix, "cmd");
        prob(c, kp, "required");
        free(kp);
    }
    if (c->probs->n != before)
        goto out;

    /* Request type: explicit type; schedule -> SCHEDULED; a health check or a
     * name starting with "web" -> SERVICE; otherwise WORKER. */
    api_request_type type;
    json_t *jt = json_object_get(p, "type");
    if (jt) {
        type = api_request_type_parse(json_string_value(jt));
        if (!type) {
            char *kp = api_path_join(prefix, "type");
            prob(c, kp, "must be one of SERVICE, WORKER, SCHEDULED, ON_DEMAND, RUN_ONCE");
            free(kp);
            goto out;
        }
    } else if (json_object_get(p, "schedule")) {
        type = API_SCHEDULED;
    } else if (json_object_get(p, "healthcheckUri") || strncasecmp(proc, "web", 3) == 0) {
        type = API_SERVICE;
    } else {
        type = API_WORKER;
    }
    bool lr = api_request_type_long_running(type);
    json_t *lbs = json_object_get(cfg, "loadBalancers");
    bool lb = type == API_SERVICE && json_array_size(lbs) > 0;

    char *rid = json_object_get(p, "requestId")
                    ? xstrdup(json_string_value(json_object_get(p, "requestId")))
                    : api_procfile_request_id(name, proc);
    req = json_object();
    json_object_set_new(req, "id", json_string(rid));
    json_object_set_new(req, "requestType", json_string(api_request_type_name(type)));
    json_t *owners = json_object_get(p, "owners");
    if (!owners)
        owners = json_object_get(cfg, "owners");
    if (owners)
        json_object_set(req, "owners", owners);
    if (json_object_get(p, "instances"))
        json_object_set(req, "instances", json_object_get(p, "instances"));
    /* numRetriesOnFailure only means something for jobs (Singularity forbids
     * it on long-running requests), so services and workers drop it. */
    if (!lr && json_object_get(p, "numRetriesOnFailure"))
        json_object_set(req, "numRetriesOnFailure", json_object_get(p, "numRetriesOnFailure"));
    static const char *const sched_keys[] = {"schedule", "scheduleType", "scheduleTimeZone", NULL};
    for (size_t i = 0; sched_keys[i]; i++)
        if (json_object_get(p, sched_keys[i]))
            json_object_set(req, sched_keys[i], json_object_get(p, sched_keys[i]));
    if (lb)
        json_object_set_new(req, "loadBalanced", json_true());

    dep = json_object();
    json_object_set_new(dep, "requestId", json_string(rid));
    free(rid);
    json_object_set(dep, "command", cmd);
    if (json_object_get(p, "user"))
        json_object_set(dep, "user", json_object_get(p, "user"));
    json_t *env = json_deep_copy(envmerged);
    if (json_object_get(p, "env"))
        env_into(env, json_object_get(p, "env"));
    if (json_object_size(env))
        json_object_set(dep, "env", env);
    json_decref(env);
    json_t *res = json_object();
    if (json_object_get(p, "cpus"))
        json_object_set(res, "cpus", json_object_get(p, "cpus"));
    if (json_object_get(p, "memory"))
        json_object_set(res, "memoryMb", json_object_get(p, "memory"));
    if (json_object_get(p, "disk"))
        json_object_set(res, "diskMb", json_object_get(p, "disk"));
    if (json_object_get(p, "numPorts"))
        json_object_set(res, "numPorts", json_object_get(p, "numPorts"));
    else if (type == API_SERVICE)
        json_object_set_new(res, "numPorts",
                            json_integer(1)); /* $PORT0 for the LB and health check */
    if (json_object_size(res))
        json_object_set(dep, "resources", res);
    json_decref(res);
    /* Health checks are readiness checks of long-running tasks: jobs ignore
     * the healthcheck* settings (the seed's scheduledJob has them). */
    json_t *hu = json_object_get(p, "healthcheckUri");
    if (lr && hu) {
        json_t *hc = json_object();
        json_object_set(hc, "uri", hu);
        if (json_object_get(p, "healthcheckIntervalSeconds"))
            json_object_set(hc, "intervalSeconds",
                            json_object_get(p, "healthcheckIntervalSeconds"));
        if (json_object_get(p, "healthcheckTimeoutSeconds"))
            json_object_set(hc, "responseTimeoutSeconds",
                            json_object_get(p, "healthcheckTimeoutSeconds"));
        if (json_object_get(p, "healthcheckPortIndex"))
            json_object_set(hc, "portIndex", json_object_get(p, "healthcheckPortIndex"));
        json_object_set_new(dep, "healthcheck", hc);
    }
    json_t *meta = json_object();
    json_object_set_new(meta, "deployConfig", json_string(name));
    json_object_set_new(meta, "process", json_string(proc));
    if (json_is_string(json_object_get(cfg, "buildName")))
        json_object_set(meta, "buildName", json_object_get(cfg, "buildName"));
    if (json_is_string(json_object_get(cfg, "appRoot")))
        json_object_set(meta, "appRoot", json_object_get(cfg, "appRoot"));
    if (c->o->env)
        json_object_set_new(meta, "environment", json_string(c->o->env));
    json_object_set_new(dep, "metadata", meta);
    if (lb) {
        json_t *sbp = json_object_get(p, "serviceBasePath");
        if (!sbp)
            sbp = json_object_get(cfg, "appRoot");
        if (sbp)
            json_object_set(dep, "serviceBasePath", sbp);
        json_object_set(dep, "loadBalancerGroups", lbs);
    }

    api_request *r = decode_request(c, req, prefix);
    bool derived;
    api_deploy *d = decode_deploy(c, dep, prefix, NULL, &derived);
    if (r && d) {
        add_obj(c, API_OBJ_REQUEST, prefix)->request = r;
        add_deploy(c, d, derived, prefix, NULL);
    } else {
        api_request_free(r);
        api_deploy_free(d);
    }
out:
    json_decref(req);
    json_decref(dep);
    free(prefix);
}

static void load_procfile(docctx *c, json_t *cfg)
{
    static const char *const top[] = {"name",          "buildName", "type",     "owners", "appRoot",
                                      "loadBalancers", "env",       "procfile", NULL};
    size_t before = c->probs->n;
    json_t *name = json_object_get(cfg, "name");
    json_t *type = json_object_get(cfg, "type");
    json_t *procs = json_object_get(cfg, "procfile");
    json_t *env = json_object_get(cfg, "env");

    if (!c->o->allow_unknown)
        check_keys(c, cfg, "", top);
    before = c->probs->n; /* unknown top-level keys do not stop expansion */
    if (!json_is_string(name) || !*json_string_value(name))
        prob(c, "name", name ? "must be a non-empty string" : "required");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "procfile") != 0))
        prob(c, "type", "must be procfile");
    if (json_object_get(cfg, "owners") && !pk_ok(PK_STRLIST, json_object_get(cfg, "owners")))
        prob(c, "owners", "must be a list of strings");
    if (json_object_get(cfg, "loadBalancers") &&
        !pk_ok(PK_STRLIST, json_object_get(cfg, "loadBalancers")))
        prob(c, "loadBalancers", "must be a list of strings");
    static const char *const strs[] = {"buildName", "appRoot", NULL};
    for (size_t i = 0; strs[i]; i++)
        if (json_object_get(cfg, strs[i]) && !json_is_string(json_object_get(cfg, strs[i])))
            prob(c, strs[i], "must be a string");
    if (!json_is_object(procs) || json_object_size(procs) == 0)
        prob(c, "procfile", procs ? "must be a non-empty map of process types" : "required");

    json_t *merged = json_object();
    if (env && !json_is_object(env)) {
        prob(c, "env", "must be a map of environments (all, qa, prod, ...)");
    } else if (env) {
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
        {
            if (!pk_ok(PK_STRMAP, v)) {
                char *p = api_path_join("env", k);
                prob(c, p, "must be a map of strings");
                free(p);
            }
        }
        if (json_object_get(env, "all"))
            env_into(merged, json_object_get(env, "all"));
    }
    if (c->o->env && c->probs->n == before) {
        json_t *sel = json_object_get(env, c->o->env);
        if (!sel)
            api_problems_add(c->probs, "env", "no environment \"%s\" in this config", c->o->env);
        else
            env_into(merged, sel);
    }
    if (c->probs->n == before) {
        const char *k;
        json_t *v;
        json_object_foreach(procs, k, v)
        {
            expand_process(c, cfg, json_string_value(name), k, v, merged);
        }
    }
    json_decref(merged);
}

/* ---- documents ------------------------------------------------------------- */

static void load_root(docctx *c, json_t *root)
{
    if (json_is_null(root))
        return; /* empty document (e.g. a trailing ---) */
    if (!json_is_object(root)) {
        api_problems_add(c->probs, "", "a document must be a map, not %s",
                         api_json_kind_name(json_typeof(root)));
        return;
    }
    if (json_object_get(root, "apiVersion") || json_object_get(root, "kind")) {
        load_envelope(c, root);
    } else if (json_object_get(root, "procfile")) {
        c->m->procfiles++;
        json_t *cfg = json_deep_copy(root);
        if (json_is_object(c->m->overlay))
            api_json_merge(cfg, c->m->overlay);
        bool ok = true;
        for (size_t i = 0; i < c->o->nsets; i++)
            if (api_json_set_path(cfg, c->o->sets[i], c->probs) != 0)
                ok = false;
        if (ok)
            load_procfile(c, cfg);
        json_decref(cfg);
    } else if (json_is_object(json_object_get(root, "deploy"))) {
        static const char *const keys[] = {"deploy", "message", "unpauseOnSuccessfulDeploy",
                                           "updatedRequest", NULL};
        size_t before = c->probs->n;
        api_manifest_obj tmp = {0};
        check_keys(c, root, "", keys);
        deploy_options(c, root, "", &tmp);
        bool derived;
        api_deploy *d = decode_deploy(c, json_object_get(root, "deploy"), "deploy", NULL, &derived);
        if (d && c->probs->n == before)
            add_deploy(c, d, derived, "deploy", &tmp);
        else
            api_deploy_free(d);
        free(tmp.message);
        api_request_free(tmp.updatedRequest);
    } else if (json_object_get(root, "requestId")) {
        bool derived;
        api_deploy *d = decode_deploy(c, root, "", NULL, &derived);
        if (d)
            add_deploy(c, d, derived, "", NULL);
    } else if (json_object_get(root, "id")) {
        api_request *r = decode_request(c, root, "");
        if (r)
            add_obj(c, API_OBJ_REQUEST, "")->request = r;
    } else {
        api_problems_add(
            c->probs, "",
            "cannot tell what this document is: expected apiVersion/kind, a request (id), a deploy "
            "(requestId), {\"deploy\": ...} or a procfile config (procfile)");
    }
}

static int load_overlay(api_manifest *m, const api_manifest_opts *o, api_problems *probs);

int api_manifest_load_buffer(api_manifest *m, const char *buf, size_t len, const char *file,
                             const api_manifest_opts *o, api_problems *probs)
{
    static const api_manifest_opts defaults = {0};
    api_doc *docs = NULL;
    size_t ndocs = 0, before = probs->n;
    const api_srcmap *saved = probs->srcmap;

    if (!o)
        o = &defaults;
    if (load_overlay(m, o, probs) != 0)
        return -1;
    int rc = api_yaml_parse(buf, len, file, &docs, &ndocs, probs);
    for (size_t i = 0; rc == 0 && i < ndocs; i++) {
        docctx c = {m, o, probs, file, &docs[i], docs[i].srcmap, false, NULL};
        probs->srcmap = docs[i].srcmap;
        if (json_is_array(docs[i].root)) {
            /* A list of documents: each element is one. */
            size_t k;
            json_t *e;
            json_array_foreach(docs[i].root, k, e)
            {
                char *p = api_path_index("", k);
                int line, col;
                api_doc sub = {e, docs[i].srcmap, docs[i].line, docs[i].col};
                if (api_srcmap_find(docs[i].srcmap, p, &line, &col)) {
                    sub.line = line;
                    sub.col = col;
                }
                /* Problems inside element k carry paths "[k].field". */
                api_problems tmp = API_PROBLEMS_INIT;
                docctx ce = c;
                ce.doc = &sub;
                ce.probs = &tmp;
                ce.elem = p;
                load_root(&ce, e);
                c.sm_owned_by_m = ce.sm_owned_by_m;
                for (size_t t = 0; t < tmp.n; t++) {
                    char *np = *tmp.v[t].path ? xasprintf("%s.%s", p, tmp.v[t].path) : xstrdup(p);
                    int l2 = tmp.v[t].line, c2 = tmp.v[t].col;
                    api_srcmap_find(docs[i].srcmap, np, &l2, &c2);
                    api_problems_add_at(probs, file, l2, c2, np, "%s", tmp.v[t].msg);
                    free(np);
                }
                api_problems_release(&tmp);
                free(p);
            }
        } else {
            load_root(&c, docs[i].root);
        }
        if (c.sm_owned_by_m)
            docs[i].srcmap = NULL; /* now owned by m */
    }
    probs->srcmap = saved;
    api_docs_free(docs, ndocs);
    return probs->n == before ? 0 : -1;
}

static int load_overlay(api_manifest *m, const api_manifest_opts *o, api_problems *probs)
{
    if (!o->overlay)
        return 0;
    if (m->overlay) /* loaded already; json null marks a failed load */
        return json_is_null(m->overlay) ? -1 : 0;
    FILE *f = fopen(o->overlay, "rb");
    if (!f) {
        api_problems_add_at(probs, o->overlay, 0, 0, "", "cannot open overlay: %s",
                            strerror(errno));
        m->overlay = json_null();
        return -1;
    }
    cr_buf b = CR_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    fclose(f);
    api_doc *docs = NULL;
    size_t nd = 0;
    int rc = api_yaml_parse(b.data ? b.data : "", b.len, o->overlay, &docs, &nd, probs);
    cr_buf_release(&b);
    if (rc == 0 && (nd != 1 || !json_is_object(docs[0].root))) {
        api_problems_add_at(probs, o->overlay, 1, 1, "", "an overlay must be one YAML map");
        rc = -1;
    }
    m->overlay = rc == 0 ? json_incref(docs[0].root) : json_null();
    api_docs_free(docs, nd);
    return rc;
}

static int read_stream(FILE *f, cr_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > MAX_MANIFEST_BYTES)
            return -1;
        cr_buf_add(b, chunk, n);
    }
    return ferror(f) ? -1 : 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool manifest_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot &&
           (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

static int load_path_depth(api_manifest *m, const char *path, const api_manifest_opts *o,
                           api_problems *probs, int depth, bool top)
{
    struct stat st;
    if (strcmp(path, "-") == 0) {
        cr_buf b = CR_BUF_INIT;
        if (read_stream(stdin, &b) != 0) {
            cr_buf_release(&b);
            api_problems_add_at(probs, "<stdin>", 0, 0, "", "cannot read standard input");
            return -1;
        }
        int rc = api_manifest_load_buffer(m, b.data ? b.data : "", b.len, "<stdin>", o, probs);
        cr_buf_release(&b);
        return rc;
    }
    if (stat(path, &st) != 0) {
        api_problems_add_at(probs, path, 0, 0, "", "cannot open: %s", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth > MAX_DIR_DEPTH) {
            api_problems_add_at(probs, path, 0, 0, "", "directories nested too deep");
            return -1;
        }
        DIR *d = opendir(path);
        if (!d) {
            api_problems_add_at(probs, path, 0, 0, "", "cannot open directory: %s",
                                strerror(errno));
            return -1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue; /* ., .., and hidden files */
            names = xrealloc(names, (n + 1) * sizeof(char *));
            names[n++] = xasprintf("%s/%s", path, de->d_name);
        }
        closedir(d);
        if (n)
            qsort(names, n, sizeof(char *), cmpstr);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            struct stat cs;
            if (stat(names[i], &cs) == 0 && (S_ISDIR(cs.st_mode) || manifest_ext(names[i])))
                if (load_path_depth(m, names[i], o, probs, depth + 1, false) != 0)
                    rc = -1;
            free(names[i]);
        }
        free(names);
        return rc;
    }
    (void)top;
    FILE *f = fopen(path, "rb");
    if (!f) {
        api_problems_add_at(probs, path, 0, 0, "", "cannot open: %s", strerror(errno));
        return -1;
    }
    cr_buf b = CR_BUF_INIT;
    int rc = read_stream(f, &b);
    fclose(f);
    if (rc != 0) {
        api_problems_add_at(probs, path, 0, 0, "", "cannot read (or larger than 64 MiB)");
    } else {
        rc = api_manifest_load_buffer(m, b.data ? b.data : "", b.len, path, o, probs);
    }
    cr_buf_release(&b);
    return rc;
}

int api_manifest_load_path(api_manifest *m, const char *path, const api_manifest_opts *o,
                           api_problems *probs)
{
    static const api_manifest_opts defaults = {0};
    return load_path_depth(m, path, o ? o : &defaults, probs, 0, true);
}

/* ---- set checks and output ------------------------------------------------- */

size_t api_manifest_check(const api_manifest *m, api_problems *probs)
{
    size_t before = probs->n;
    const api_srcmap *saved = probs->srcmap;
    for (size_t i = 0; i < m->n; i++) {
        const api_manifest_obj *o = &m->v[i];
        probs->srcmap = o->srcmap;
        char *idp = api_path_join(o->prefix, "id");
        for (size_t k = 0; k < i; k++) {
            const api_manifest_obj *p = &m->v[k];
            if (p->kind != o->kind)
                continue;
            if (o->kind == API_OBJ_REQUEST && strcmp(p->request->id, o->request->id) == 0)
                api_problems_add(probs, idp, "request \"%s\" is defined twice (also at %s:%d)",
                                 o->request->id, p->file, p->line);
            if (o->kind == API_OBJ_DEPLOY && strcmp(p->deploy->id, o->deploy->id) == 0 &&
                strcmp(p->deploy->requestId, o->deploy->requestId) == 0)
                api_problems_add(probs, idp,
                                 "deploy \"%s\" of request \"%s\" is defined twice (also at %s:%d)",
                                 o->deploy->id, o->deploy->requestId, p->file, p->line);
            if (o->kind == API_OBJ_SOURCE && strcmp(p->source->name, o->source->name) == 0)
                api_problems_add(probs, idp, "source \"%s\" is defined twice (also at %s:%d)",
                                 o->source->name, p->file, p->line);
        }
        free(idp);
        if (o->kind != API_OBJ_DEPLOY)
            continue;
        const api_request *req = o->updatedRequest;
        for (size_t k = 0; !req && k < m->n; k++)
            if (m->v[k].kind == API_OBJ_REQUEST &&
                strcmp(m->v[k].request->id, o->deploy->requestId) == 0)
                req = m->v[k].request;
        if (req)
            api_deploy_validate_with_request(o->deploy, req, o->prefix, probs);
    }
    probs->srcmap = saved;
    return probs->n - before;
}

json_t *api_manifest_obj_to_json(const api_manifest_obj *o)
{
    json_t *env = json_object();
    bool req = o->kind == API_OBJ_REQUEST;
    json_object_set_new(env, "apiVersion", json_string(API_MANIFEST_VERSION));
    if (o->kind == API_OBJ_SOURCE) {
        json_object_set_new(env, "kind", json_string("Source"));
        json_object_set_new(env, "metadata", json_pack("{s:s}", "name", o->source->name));
        json_object_set_new(env, "spec", api_source_to_json(o->source));
        return env;
    }
    json_object_set_new(env, "kind", json_string(req ? "Request" : "Deploy"));
    json_object_set_new(env, "metadata",
                        json_pack("{s:s}", "name", req ? o->request->id : o->deploy->id));
    json_object_set_new(env, "spec",
                        req ? api_request_to_json(o->request) : api_deploy_to_json(o->deploy));
    if (!req && (o->message || o->has_unpause || o->updatedRequest)) {
        json_t *opts = json_object();
        if (o->message)
            json_object_set_new(opts, "message", json_string(o->message));
        if (o->has_unpause)
            json_object_set_new(opts, "unpauseOnSuccessfulDeploy",
                                json_boolean(o->unpauseOnSuccessfulDeploy));
        if (o->updatedRequest)
            json_object_set_new(opts, "updatedRequest", api_request_to_json(o->updatedRequest));
        json_object_set_new(env, "options", opts);
    }
    return env;
}

json_t *api_manifest_to_json(const api_manifest *m)
{
    json_t *list = json_array();
    static const api_obj_kind order[] = {API_OBJ_REQUEST, API_OBJ_DEPLOY, API_OBJ_SOURCE};
    for (size_t pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].kind == order[pass])
                json_array_append_new(list, api_manifest_obj_to_json(&m->v[i]));
    return list;
}

/* ---- overrides ------------------------------------------------------------- */

int api_json_set_path(json_t *doc, const char *assignment, api_problems *probs)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        api_problems_add_at(probs, NULL, 0, 0, "--set", "\"%s\" must be path=value", assignment);
        return -1;
    }
    char *path = xstrndup(assignment, (size_t)(eq - assignment));
    json_t *val = api_yaml_resolve_plain(eq + 1);
    json_t *cur = doc;
    int rc = -1;
    char *save = NULL;
    char *tok = strtok_r(path, ".", &save);
    while (tok) {
        char *nexttok = strtok_r(NULL, ".", &save);
        if (!json_is_object(cur)) {
            api_problems_add_at(probs, NULL, 0, 0, "--set", "\"%s\": \"%s\" is not inside a map",
                                assignment, tok);
            goto out;
        }
        if (!nexttok) {
            if (json_is_null(val))
                json_object_del(cur, tok);
            else
                json_object_set(cur, tok, val);
            rc = 0;
            goto out;
        }
        json_t *child = json_object_get(cur, tok);
        if (!child) {
            child = json_object();
            json_object_set_new(cur, tok, child);
        }
        cur = child;
        tok = nexttok;
    }
    api_problems_add_at(probs, NULL, 0, 0, "--set", "\"%s\" has an empty path", assignment);
out:
    json_decref(val);
    free(path);
    return rc;
}

void api_json_merge(json_t *base, const json_t *over)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)over, k, v)
    {
        json_t *b = json_object_get(base, k);
        if (json_is_object(b) && json_is_object(v))
            api_json_merge(b, v);
        else
            json_object_set_new(base, k, json_deep_copy(v));
    }
}
