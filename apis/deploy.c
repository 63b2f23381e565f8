/* SingularityDeploy codec, id derivation and validation; see deploy.h. */
#include "apis/deploy.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "apis/codec.h"
#include "apis/container.h"
#include "base/xalloc.h"

#define FS(T, n)                                                 \
    {                                                            \
#n, AF_STR, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define FB(T, n)                                                             \
    {                                                                        \
#n, AF_BOOL, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define FI(T, n)                                                            \
    {                                                                       \
#n, AF_INT, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define FL(T, n)                                                             \
    {                                                                        \
#n, AF_LONG, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define FD(T, n)                                                               \
    {                                                                          \
#n, AF_DOUBLE, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define FSL(T, n)                                                    \
    {                                                                \
#n, AF_STRLIST, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define FSM(T, n)                                                   \
    {                                                               \
#n, AF_STRMAP, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define FJ(T, n, kind)                                              \
    {                                                               \
#n, AF_JSON, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, kind \
    }
#define FO(T, n, codec)                                            \
    {                                                              \
#n, AF_OBJ, offsetof(T, n), AF_NO_HAS, NULL, &codec, 0, -1 \
    }
#define FOL(T, n, cnt, codec)                                                         \
    {                                                                                 \
#n, AF_OBJLIST, offsetof(T, n), AF_NO_HAS, NULL, &codec, offsetof(T, cnt), -1 \
    }
#define CODEC(T, name, fields)                                                          \
    {                                                                                   \
        name, sizeof(T), offsetof(T, extra), fields, sizeof(fields) / sizeof(fields[0]) \
    }

static const api_field resources_fields[] = {
    FD(api_resources, cpus),
    FD(api_resources, memoryMb),
    FI(api_resources, numPorts),
    FD(api_resources, diskMb),
};
static const api_codec resources_codec = CODEC(api_resources, "resources", resources_fields);

static const api_field uri_fields[] = {
    FS(api_mesos_artifact, uri),        FB(api_mesos_artifact, cache),
    FB(api_mesos_artifact, executable), FB(api_mesos_artifact, extract),
    FS(api_mesos_artifact, outputFile),
};
static const api_codec uri_codec = {"uri", sizeof(api_mesos_artifact),
                                     offsetof(api_mesos_artifact, extra), uri_fields,
                                     sizeof(uri_fields) / sizeof(uri_fields[0]), "uri"};

#define ART_COMMON                                                                         \
    FS(api_artifact, name), FS(api_artifact, filename), FS(api_artifact, md5sum),             \
        FB(api_artifact, extract)
static const api_field embedded_fields[] = {
    ART_COMMON,
    FS(api_artifact, content),
    FS(api_artifact, targetFolderRelativeToTask),
};
static const api_field external_fields[] = {
    ART_COMMON,
    FS(api_artifact, url),
    FL(api_artifact, filesize),
    FS(api_artifact, targetFolderRelativeToTask),
    FB(api_artifact, isArtifactList),
};
static const api_field s3_fields[] = {
    ART_COMMON,
    FL(api_artifact, filesize),
    FS(api_artifact, s3Bucket),
    FS(api_artifact, s3ObjectKey),
    FS(api_artifact, targetFolderRelativeToTask),
    FB(api_artifact, isArtifactList),
};
static const api_field s3sig_fields[] = {
    ART_COMMON,
    FL(api_artifact, filesize),
    FS(api_artifact, s3Bucket),
    FS(api_artifact, s3ObjectKey),
    FS(api_artifact, targetFolderRelativeToTask),
    FB(api_artifact, isArtifactList),
    FS(api_artifact, artifactFilename),
};
static const api_codec embedded_codec = CODEC(api_artifact, "embeddedArtifact", embedded_fields);
static const api_codec external_codec = CODEC(api_artifact, "externalArtifact", external_fields);
static const api_codec s3_codec = CODEC(api_artifact, "s3Artifact", s3_fields);
static const api_codec s3sig_codec = CODEC(api_artifact, "s3ArtifactSignature", s3sig_fields);

#define ED api_executor_data
static const api_field executor_fields[] = {
    FS(ED, cmd),
    FSL(ED, extraCmdLineArgs),
    {"embeddedArtifacts", AF_OBJLIST, offsetof(ED, embeddedArtifacts.v), AF_NO_HAS, NULL,
     &embedded_codec, offsetof(ED, embeddedArtifacts.n), -1},
    {"externalArtifacts", AF_OBJLIST, offsetof(ED, externalArtifacts.v), AF_NO_HAS, NULL,
     &external_codec, offsetof(ED, externalArtifacts.n), -1},
    {"s3Artifacts", AF_OBJLIST, offsetof(ED, s3Artifacts.v), AF_NO_HAS, NULL, &s3_codec,
     offsetof(ED, s3Artifacts.n), -1},
    {"s3ArtifactSignatures", AF_OBJLIST, offsetof(ED, s3ArtifactSignatures.v), AF_NO_HAS, NULL,
     &s3sig_codec, offsetof(ED, s3ArtifactSignatures.n), -1},
    {"successfulExitCodes", AF_INTLIST, offsetof(ED, successfulExitCodes),
     offsetof(ED, has_successfulExitCodes), NULL, NULL, 0, -1},
    FS(ED, user),
    FL(ED, sigKillProcessesAfterMillis),
    FI(ED, maxTaskThreads),
    FI(ED, maxOpenFiles),
    FB(ED, preserveTaskSandboxAfterFinish),
    FB(ED, skipLogrotateAndCompress),
    FS(ED, logrotateFrequency),
    FS(ED, loggingTag),
    FSM(ED, loggingExtraFields),
    FS(ED, runningSentinel),
    FS(ED, serviceLog),
    FS(ED, stderrLog),
    FL(ED, logMaxBytes),
    FI(ED, logKeep),
    FSL(ED, removeOnFinish),
    FSM(ED, env),
};
static const api_codec executor_codec = CODEC(ED, "executorData", executor_fields);
#undef ED

#define HC api_healthcheck
static const api_field healthcheck_fields[] = {
    FS(HC, uri),
    FI(HC, portIndex),
    FL(HC, portNumber),
    FS(HC, protocol),
    FS(HC, method),
    FI(HC, startupDelaySeconds),
    FI(HC, startupTimeoutSeconds),
    FI(HC, startupIntervalSeconds),
    FI(HC, intervalSeconds),
    FI(HC, responseTimeoutSeconds),
    FI(HC, maxRetries),
    {"failureStatusCodes", AF_INTLIST, offsetof(HC, failureStatusCodes), AF_NO_HAS, NULL, NULL, 0,
     -1},
    FS(HC, healthcheckResultFilePath),
};
static const api_codec healthcheck_codec = CODEC(HC, "healthcheck", healthcheck_fields);
#undef HC

static const api_field canary_fields[] = {
    FB(api_canary, enableCanaryDeploy),
    FI(api_canary, instanceGroupSize),
    FS(api_canary, acceptanceMode),
    FL(api_canary, waitMillisBetweenGroups),
    FI(api_canary, allowedTasksFailuresPerGroup),
    FI(api_canary, canaryCycleCount),
};
static const api_codec canary_codec = CODEC(api_canary, "canaryDeploySettings", canary_fields);

#define D api_deploy
static const api_field deploy_fields[] = {
    FS(D, requestId),
    FS(D, id),
    FS(D, version),
    FL(D, timestamp),
    FSM(D, metadata),
    FS(D, command),
    FSL(D, arguments),
    FB(D, shell),
    FS(D, user),
    FSM(D, env),
    FJ(D, taskEnv, JSON_OBJECT),
    FOL(D, uris, n_uris, uri_codec),
    FO(D, resources, resources_codec),
    FJ(D, containerInfo, JSON_OBJECT),
    FS(D, customExecutorCmd),
    FS(D, customExecutorId),
    FS(D, customExecutorSource),
    FO(D, customExecutorResources, resources_codec),
    FO(D, executorData, executor_codec),
    FO(D, healthcheck, healthcheck_codec),
    FB(D, skipHealthchecksOnDeploy),
    FL(D, deployHealthTimeoutSeconds),
    FL(D, considerHealthyAfterRunningForSeconds),
    FS(D, serviceBasePath),
    FSL(D, loadBalancerGroups),
    FI(D, loadBalancerPortIndex),
    FJ(D, loadBalancerOptions, JSON_OBJECT),
    FSL(D, loadBalancerDomains),
    FSL(D, loadBalancerAdditionalRoutes),
    FS(D, loadBalancerTemplate),
    FS(D, loadBalancerServiceIdOverride),
    FS(D, loadBalancerUpstreamGroup),
    FSM(D, labels),
    FJ(D, mesosLabels, JSON_ARRAY),
    FJ(D, taskLabels, JSON_OBJECT),
    FJ(D, mesosTaskLabels, JSON_OBJECT),
    FJ(D, runImmediately, JSON_OBJECT),
    FJ(D, s3UploaderAdditionalFiles, JSON_ARRAY),
    FO(D, canaryDeploySettings, canary_codec),
    FI(D, deployInstanceCountPerStep),
    FI(D, deployStepWaitTimeMs),
    FB(D, autoAdvanceDeploySteps),
    FI(D, maxTaskRetries),
    FSM(D, annotations),
};
static const api_codec deploy_codec = CODEC(D, "deploy", deploy_fields);
#undef D

/* Deprecated flat health-check fields -> healthcheck.<name>. */
static const struct {
    const char *flat, *name;
} flat_hc[] = {
    {"healthcheckUri", "uri"},
    {"healthcheckIntervalSeconds", "intervalSeconds"},
    {"healthcheckTimeoutSeconds", "responseTimeoutSeconds"},
    {"healthcheckPortIndex", "portIndex"},
    {"healthCheckProtocol", "protocol"},
    {"healthcheckProtocol", "protocol"},
    {"healthcheckMaxRetries", "maxRetries"},
    {"healthcheckMaxTotalTimeoutSeconds", "startupTimeoutSeconds"},
};

void api_deploy_free(api_deploy *d)
{
    if (!d)
        return;
    api_codec_release(&deploy_codec, d);
    free(d);
}

#define PROB(field, ...)                          \
    do {                                          \
        char *p_ = api_path_join(prefix, field);  \
        api_problems_add(probs, p_, __VA_ARGS__); \
        free(p_);                                 \
    } while (0)

/* Whether the map {k: v} holds exactly the labels of the list [{key: k,
 * value: v}] (Singularity derives mesosLabels from labels so). */
static bool labels_same(const json_t *map, const json_t *list)
{
    size_t i;
    const json_t *e;

    if (!json_is_object(map) || !json_is_array(list) || json_object_size(map) != json_array_size(list))
        return false;
    json_array_foreach(list, i, e)
    {
        const json_t *k = json_object_get(e, "key"), *v = json_object_get(e, "value");
        const json_t *m = json_is_string(k) ? json_object_get(map, json_string_value(k)) : NULL;
        if (!m || !(json_equal((json_t *)m, (json_t *)v) ||
                    (json_is_null(v) && json_is_string(m) && !*json_string_value(m))))
            return false;
    }
    return true;
}

/* The same for taskLabels {"0": {k: v}} and mesosTaskLabels {"0": [...]}. */
static bool task_labels_same(const json_t *map, const json_t *lists)
{
    const char *k;
    const json_t *v;

    if (!json_is_object(map) || !json_is_object(lists) || json_object_size(map) != json_object_size(lists))
        return false;
    json_object_foreach((json_t *)map, k, v)
        if (!labels_same(v, json_object_get(lists, k)))
            return false;
    return true;
}

/* Lenient decoding (api_problems.ignored): drops from j what Singularity's
 * Java client sends twice (a deprecated form next to the current one with
 * the same meaning) and null deprecated fields, so that only a real
 * conflict is a problem. */
static void lenient_deploy(json_t *j)
{
    const json_t *hc = json_object_get(j, "healthcheck");

    for (size_t i = 0; i < sizeof(flat_hc) / sizeof(flat_hc[0]); i++) {
        json_t *v = json_object_get(j, flat_hc[i].flat);
        if (v && (json_is_null(v) ||
                  (json_is_object(hc) && json_equal(v, json_object_get(hc, flat_hc[i].name)))))
            json_object_del(j, flat_hc[i].flat);
    }
    if (json_is_null(json_object_get(j, "healthcheck")))
        json_object_del(j, "healthcheck");
    if (json_is_null(json_object_get(j, "labels")) ||
        labels_same(json_object_get(j, "labels"), json_object_get(j, "mesosLabels")))
        json_object_del(j, "labels");
    if (json_is_null(json_object_get(j, "taskLabels")) ||
        task_labels_same(json_object_get(j, "taskLabels"), json_object_get(j, "mesosTaskLabels")))
        json_object_del(j, "taskLabels");
}

api_deploy *api_deploy_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_deploy *d = NULL;
    json_t *copy = NULL, *flat = NULL;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a deploy must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    copy = json_copy((json_t *)j);
    if (probs->ignored)
        lenient_deploy(copy);
    for (size_t i = 0; i < sizeof(flat_hc) / sizeof(flat_hc[0]); i++) {
        json_t *v = json_object_get(copy, flat_hc[i].flat);
        if (!v)
            continue;
        if (json_object_get(copy, "healthcheck")) {
            PROB(flat_hc[i].flat,
                 "deprecated flat health-check field; not allowed together with healthcheck");
        } else if (!json_is_null(v)) {
            if (!flat)
                flat = json_object();
            if (json_object_get(flat, flat_hc[i].name))
                PROB(flat_hc[i].flat, "given twice (healthCheckProtocol and healthcheckProtocol)");
            json_object_set(flat, flat_hc[i].name, v);
        }
        json_object_del(copy, flat_hc[i].flat);
    }

    d = xcalloc(1, sizeof(*d));
    api_codec_decode(&deploy_codec, copy, d, prefix, opts->allow_unknown, probs);
    if (flat) {
        /* Problems in the flat fields are reported at "healthcheck.x". */
        char *hp = api_path_join(prefix, "healthcheck");
        d->healthcheck = xcalloc(1, sizeof(*d->healthcheck));
        api_codec_decode(&healthcheck_codec, flat, d->healthcheck, hp, false, probs);
        free(hp);
    }
    json_decref(flat);
    json_decref(copy);

    if (!d->id && opts->derive_id && probs->n == before) {
        char id[API_DEPLOY_HASH_ID_LEN + 1];
        api_deploy_derive_id(d, id);
        d->id = xstrdup(id);
    }
    if (!opts->no_validate) {
        api_problems v = API_PROBLEMS_INIT;
        v.srcmap = probs->srcmap;
        api_deploy_validate(d, NULL, prefix, &v);
        api_problems_merge_new(probs, before, &v);
    }
    if (probs->n != before) {
        api_deploy_free(d);
        return NULL;
    }
    return d;
}

json_t *api_deploy_to_json(const api_deploy *d)
{
    return api_codec_encode(&deploy_codec, d);
}

api_deploy *api_deploy_dup(const api_deploy *d)
{
    api_problems p = API_PROBLEMS_INIT;
    api_decode_opts o = {.allow_unknown = true, .no_validate = true};
    json_t *j = api_deploy_to_json(d);
    api_deploy *c = api_deploy_from_json(j, &o, &p);
    json_decref(j);
    api_problems_release(&p);
    return c;
}

bool api_deploy_equal(const api_deploy *a, const api_deploy *b)
{
    return api_codec_equal(&deploy_codec, a, b);
}

void api_deploy_derive_id(const api_deploy *d, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    json_t *j = api_deploy_to_json(d);
    json_object_del(j, "id");
    json_object_del(j, "annotations"); /* who wrote it is not what it runs */
    char *s = api_json_canonical(j);
    SHA256((const unsigned char *)s, strlen(s), md);
    for (size_t i = 0; i < API_DEPLOY_HASH_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[API_DEPLOY_HASH_ID_LEN] = 0;
    free(s);
    json_decref(j);
}

api_resources api_deploy_eff_resources(const api_deploy *d)
{
    api_resources r = {true, API_DEFAULT_CPUS,    true, API_DEFAULT_MEMORY_MB, true, 0,
                       true, API_DEFAULT_DISK_MB, NULL};
    const api_resources *g = d->resources;
    if (g) {
        if (g->has_cpus)
            r.cpus = g->cpus;
        if (g->has_memoryMb)
            r.memoryMb = g->memoryMb;
        if (g->has_numPorts)
            r.numPorts = g->numPorts;
        if (g->has_diskMb)
            r.diskMb = g->diskMb;
    }
    return r;
}

/* ---- validation ------------------------------------------------------------ */

static bool one_of(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool is_base64(const char *s)
{
    size_t n = 0, pad = 0;
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r')
            continue;
        if (*s == '=') {
            pad++;
        } else if (pad || !(isalnum((unsigned char)*s) || *s == '+' || *s == '/')) {
            return false;
        }
        n++;
    }
    return n % 4 == 0 && pad <= 2;
}

static bool is_md5(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

static bool env_name_ok(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static void check_resources(const api_resources *r, const char *field, bool executor,
                            const char *prefix, api_problems *probs)
{
    char *p = NULL;
    if (r->has_cpus) {
        p = xasprintf("%s.cpus", field);
        if (executor ? r->cpus < 0 : r->cpus <= 0)
            PROB(p, "must be %s 0", executor ? ">=" : ">");
        else if (r->cpus > API_MAX_CPUS)
            PROB(p, "must be <= %g", API_MAX_CPUS);
        free(p);
    }
    if (r->has_memoryMb) {
        p = xasprintf("%s.memoryMb", field);
        if (executor ? r->memoryMb < 0 : r->memoryMb <= 0)
            PROB(p, "must be %s 0", executor ? ">=" : ">");
        else if (r->memoryMb > API_MAX_MEMORY_MB)
            PROB(p, "must be <= %g", API_MAX_MEMORY_MB);
        free(p);
    }
    if (r->has_diskMb) {
        p = xasprintf("%s.diskMb", field);
        if (r->diskMb < 0)
            PROB(p, "must be >= 0");
        else if (r->diskMb > API_MAX_DISK_MB)
            PROB(p, "must be <= %g", API_MAX_DISK_MB);
        free(p);
    }
    if (r->has_numPorts && r->numPorts < 0) {
        p = xasprintf("%s.numPorts", field);
        PROB(p, "must be >= 0");
        free(p);
    }
}

static void check_artifacts(const api_artifacts *a, const char *field, int kind, const char *prefix,
                            api_problems *probs)
{
    for (size_t i = 0; i < a->n; i++) {
        const api_artifact *x = &a->v[i];
        char *base = xasprintf("executorData.%s[%zu]", field, i);
        char *p;
        if (!x->name || !*x->name) {
            p = xasprintf("%s.name", base);
            PROB(p, "required");
            free(p);
        }
        if (!x->filename || !*x->filename) {
            p = xasprintf("%s.filename", base);
            PROB(p, "required");
            free(p);
        } else if (strstr(x->filename, "..") || x->filename[0] == '/') {
            p = xasprintf("%s.filename", base);
            PROB(p, "must be a relative path inside the task sandbox");
            free(p);
        }
        if (x->md5sum && !is_md5(x->md5sum)) {
            p = xasprintf("%s.md5sum", base);
            PROB(p, "must be 32 hex digits");
            free(p);
        }
        if (x->has_filesize && x->filesize < 0) {
            p = xasprintf("%s.filesize", base);
            PROB(p, "must be >= 0");
            free(p);
        }
        if (kind == 0) {
            p = xasprintf("%s.content", base);
            if (!x->content)
                PROB(p, "required");
            else if (!is_base64(x->content))
                PROB(p, "must be base64");
            free(p);
        } else if (kind == 1) {
            p = xasprintf("%s.url", base);
            if (!x->url || !*x->url)
                PROB(p, "required");
            free(p);
        } else {
            if (!x->s3Bucket || !*x->s3Bucket) {
                p = xasprintf("%s.s3Bucket", base);
                PROB(p, "required");
                free(p);
            }
            if (!x->s3ObjectKey || !*x->s3ObjectKey) {
                p = xasprintf("%s.s3ObjectKey", base);
                PROB(p, "required");
                free(p);
            }
        }
        free(base);
    }
}

static void check_healthcheck(const api_healthcheck *h, const api_deploy *d, const char *prefix,
                              api_problems *probs)
{
    static const char *const protocols[] = {"HTTP", "HTTPS", "HTTP2", "HTTPS2", NULL};
    static const char *const methods[] = {"GET", "POST", NULL};
    if (!h->uri && !h->healthcheckResultFilePath)
        PROB("healthcheck.uri", "required (or healthcheck.healthcheckResultFilePath)");
    if (h->uri && h->uri[0] != '/')
        PROB("healthcheck.uri", "must start with /");
    if (h->has_portIndex && h->has_portNumber)
        PROB("healthcheck.portNumber", "give only one of portIndex and portNumber");
    if (h->has_portIndex && h->portIndex < 0)
        PROB("healthcheck.portIndex", "must be >= 0");
    if (h->has_portNumber && (h->portNumber <= 0 || h->portNumber > 65535))
        PROB("healthcheck.portNumber", "must be a port between 1 and 65535");
    if (h->uri && !h->has_portNumber) {
        api_resources r = api_deploy_eff_resources(d);
        int idx = h->has_portIndex ? h->portIndex : 0;
        if (idx >= 0 && idx >= r.numPorts)
            PROB(h->has_portIndex ? "healthcheck.portIndex" : "resources.numPorts",
                 "health check uses port index %d but the deploy asks for %d port(s)", idx,
                 r.numPorts);
    }
    if (h->protocol && !one_of(h->protocol, protocols))
        PROB("healthcheck.protocol", "must be one of HTTP, HTTPS, HTTP2, HTTPS2");
    if (h->method && !one_of(h->method, methods))
        PROB("healthcheck.method", "must be GET or POST");
#define NONNEG(f)               \
    if (h->has_##f && h->f < 0) \
        PROB("healthcheck." #f, "must be >= 0");
#define POS(f)                   \
    if (h->has_##f && h->f <= 0) \
        PROB("healthcheck." #f, "must be > 0");
    NONNEG(startupDelaySeconds)
    POS(startupTimeoutSeconds)
    POS(startupIntervalSeconds)
    POS(intervalSeconds)
    POS(responseTimeoutSeconds)
    NONNEG(maxRetries)
#undef NONNEG
#undef POS
    /* Max total check time = startupTimeout + (interval + responseTimeout) x
     * (maxRetries + 1), with the sheet's defaults 45, 5, 5, 0. */
    if (h->has_startupDelaySeconds) {
        long total = (h->has_startupTimeoutSeconds ? h->startupTimeoutSeconds : 45) +
                     (long)((h->has_intervalSeconds ? h->intervalSeconds : 5) +
                            (h->has_responseTimeoutSeconds ? h->responseTimeoutSeconds : 5)) *
                         ((h->has_maxRetries ? h->maxRetries : 0) + 1);
        if (h->startupDelaySeconds >= total)
            PROB("healthcheck.startupDelaySeconds", "must be < the maximum total check time (%lds)",
                 total);
    }
    for (size_t i = 0; i < h->failureStatusCodes.n; i++) {
        if (h->failureStatusCodes.v[i] < 100 || h->failureStatusCodes.v[i] > 599) {
            char *p = xasprintf("healthcheck.failureStatusCodes[%zu]", i);
            PROB(p, "must be an HTTP status code (100-599)");
            free(p);
        }
    }
}


static void check_env_map(const json_t *m, const char *field, const char *prefix,
                          api_problems *probs)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        char *p = xasprintf("%s.%s", field, k);
        if (!json_is_object(v)) {
            PROB(p, "must be a map");
        } else {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if (!json_is_string(v2)) {
                    char *p2 = xasprintf("%s.%s", p, k2);
                    PROB(p2, "must be a string");
                    free(p2);
                }
            }
        }
        char *end;
        long n = strtol(k, &end, 10);
        if (*end || end == k || n < 1)
            PROB(p, "key must be an instance number (>= 1)");
        free(p);
    }
}

size_t api_deploy_validate(const api_deploy *d, const api_request *req, const char *prefix,
                           api_problems *probs)
{
    static const char *const acceptance[] = {"NONE", "TIMED", "CHECKS", NULL};
    static const char *const rotate[] = {
        "EVERY_MINUTE", "EVERY_FIVE_MINUTES", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", NULL};
    size_t before = probs->n;

    if (!prefix)
        prefix = "";
    if (!d->requestId)
        PROB("requestId", "required");
    else if (!api_request_id_valid(d->requestId))
        PROB("requestId", "\"%s\" must be 1-%d characters of [a-zA-Z0-9_-]", d->requestId,
             API_MAX_REQUEST_ID);
    if (!d->id)
        PROB("id", "required");
    else if (!api_deploy_id_valid(d->id))
        PROB("id", "\"%s\" must be 1-%d characters of [a-zA-Z0-9_.] (no '-', not only dots)", d->id,
             API_MAX_DEPLOY_ID);

    bool image = false; /* the image's entrypoint may stand in for the command */
    if (d->containerInfo) {
        image = api_container_has_image(d->containerInfo);
        api_container_validate(d->containerInfo, api_deploy_eff_resources(d).numPorts, prefix,
                               probs);
    }
    if (!d->command && !d->executorData && !image)
        PROB("command", "required (or executorData with customExecutorCmd, or a containerInfo "
                        "with an image: DOCKER, or MESOS with mesos.image)");
    if (d->command && !*d->command)
        PROB("command", "must not be empty");
    if (d->arguments.n && !d->command)
        PROB("arguments", "only allowed with command");
    if (d->customExecutorCmd && !d->executorData && !d->command)
        PROB("executorData", "required with customExecutorCmd");
    if (!d->customExecutorCmd &&
        (d->customExecutorId || d->customExecutorSource || d->customExecutorResources))
        PROB("customExecutorCmd", "required when other customExecutor fields are given");

    for (size_t i = 0; i < d->env.n; i++) {
        char *p = xasprintf("env.%s", d->env.v[i].key);
        if (strcmp(d->env.v[i].key, "STARTED_BY_USER") == 0)
            PROB(p, "STARTED_BY_USER is set by Corral and cannot be overridden");
        else if (!env_name_ok(d->env.v[i].key))
            PROB(p, "not a valid environment variable name");
        free(p);
    }
    if (d->taskEnv)
        check_env_map(d->taskEnv, "taskEnv", prefix, probs);
    for (size_t i = 0; i < d->n_uris; i++) {
        if (!d->uris[i].uri || !*d->uris[i].uri) {
            char *p = xasprintf("uris[%zu].uri", i);
            PROB(p, "required");
            free(p);
        }
    }
    if (d->resources)
        check_resources(d->resources, "resources", false, prefix, probs);
    if (d->customExecutorResources)
        check_resources(d->customExecutorResources, "customExecutorResources", true, prefix, probs);

    const api_executor_data *x = d->executorData;
    if (x) {
        if (!x->cmd || !*x->cmd)
            PROB("executorData.cmd", "required");
        check_artifacts(&x->embeddedArtifacts, "embeddedArtifacts", 0, prefix, probs);
        check_artifacts(&x->externalArtifacts, "externalArtifacts", 1, prefix, probs);
        check_artifacts(&x->s3Artifacts, "s3Artifacts", 2, prefix, probs);
        check_artifacts(&x->s3ArtifactSignatures, "s3ArtifactSignatures", 2, prefix, probs);
        for (size_t i = 0; i < x->successfulExitCodes.n; i++) {
            if (x->successfulExitCodes.v[i] < 0 || x->successfulExitCodes.v[i] > 255) {
                char *p = xasprintf("executorData.successfulExitCodes[%zu]", i);
                PROB(p, "must be an exit code (0-255)");
                free(p);
            }
        }
        if (x->has_sigKillProcessesAfterMillis && x->sigKillProcessesAfterMillis < 0)
            PROB("executorData.sigKillProcessesAfterMillis", "must be >= 0");
        if (x->has_maxTaskThreads && x->maxTaskThreads <= 0)
            PROB("executorData.maxTaskThreads", "must be > 0");
        if (x->has_maxOpenFiles && x->maxOpenFiles <= 0)
            PROB("executorData.maxOpenFiles", "must be > 0");
        if (x->logrotateFrequency && !one_of(x->logrotateFrequency, rotate))
            PROB("executorData.logrotateFrequency",
                 "must be one of EVERY_MINUTE, EVERY_FIVE_MINUTES, HOURLY, DAILY, WEEKLY, MONTHLY");
    }
    if (d->healthcheck)
        check_healthcheck(d->healthcheck, d, prefix, probs);
    if (d->has_deployHealthTimeoutSeconds && d->deployHealthTimeoutSeconds <= 0)
        PROB("deployHealthTimeoutSeconds", "must be > 0");
    if (d->has_considerHealthyAfterRunningForSeconds &&
        d->considerHealthyAfterRunningForSeconds < 0)
        PROB("considerHealthyAfterRunningForSeconds", "must be >= 0");
    if (d->has_loadBalancerPortIndex && d->loadBalancerPortIndex < 0)
        PROB("loadBalancerPortIndex", "must be >= 0");
    if (d->labels.n && d->mesosLabels)
        PROB("labels", "give only one of labels (deprecated) and mesosLabels");
    if (d->taskLabels && d->mesosTaskLabels)
        PROB("taskLabels", "give only one of taskLabels (deprecated) and mesosTaskLabels");
    if (d->mesosLabels) {
        size_t i;
        json_t *e;
        json_array_foreach(d->mesosLabels, i, e)
        {
            if (!json_is_object(e) || !json_is_string(json_object_get(e, "key"))) {
                char *p = xasprintf("mesosLabels[%zu]", i);
                PROB(p, "must be {key, value}");
                free(p);
            }
        }
    }
    const api_canary *c = d->canaryDeploySettings;
    if (c) {
        if (c->has_instanceGroupSize && c->instanceGroupSize <= 0)
            PROB("canaryDeploySettings.instanceGroupSize", "must be > 0");
        if (c->acceptanceMode && !one_of(c->acceptanceMode, acceptance))
            PROB("canaryDeploySettings.acceptanceMode", "must be one of NONE, TIMED, CHECKS");
        if (c->has_waitMillisBetweenGroups && c->waitMillisBetweenGroups < 0)
            PROB("canaryDeploySettings.waitMillisBetweenGroups", "must be >= 0");
        if (c->has_allowedTasksFailuresPerGroup && c->allowedTasksFailuresPerGroup < 0)
            PROB("canaryDeploySettings.allowedTasksFailuresPerGroup", "must be >= 0");
        if (c->has_canaryCycleCount && c->canaryCycleCount < 0)
            PROB("canaryDeploySettings.canaryCycleCount", "must be >= 0");
    }
    if (d->has_deployInstanceCountPerStep && d->deployInstanceCountPerStep <= 0)
        PROB("deployInstanceCountPerStep", "must be > 0");
    if (d->has_deployStepWaitTimeMs && d->deployStepWaitTimeMs < 0)
        PROB("deployStepWaitTimeMs", "must be >= 0");
    if (d->has_maxTaskRetries && d->maxTaskRetries < 0)
        PROB("maxTaskRetries", "must be >= 0");

    if (req)
        api_deploy_validate_with_request(d, req, prefix, probs);
    return probs->n - before;
}

size_t api_deploy_validate_with_request(const api_deploy *d, const api_request *req,
                                        const char *prefix, api_problems *probs)
{
    size_t before = probs->n;
    if (!prefix)
        prefix = "";
    {
        api_resources r = api_deploy_eff_resources(d);
        int n = api_request_eff_instances(req);
        if (d->requestId && req->id && strcmp(d->requestId, req->id) != 0)
            PROB("requestId", "\"%s\" does not match the request \"%s\"", d->requestId, req->id);
        if (r.cpus * n > API_MAX_REQUEST_CPUS)
            PROB("resources.cpus", "%g cpus x %d instances exceeds the per-request limit %g",
                 r.cpus, n, API_MAX_REQUEST_CPUS);
        if (r.memoryMb * n > API_MAX_REQUEST_MEMORY_MB)
            PROB("resources.memoryMb", "%g MB x %d instances exceeds the per-request limit %g",
                 r.memoryMb, n, API_MAX_REQUEST_MEMORY_MB);
        if (r.diskMb * n > API_MAX_REQUEST_DISK_MB)
            PROB("resources.diskMb", "%g MB x %d instances exceeds the per-request limit %g",
                 r.diskMb, n, API_MAX_REQUEST_DISK_MB);
        if (req->has_loadBalanced && req->loadBalanced) {
            if (!d->serviceBasePath)
                PROB("serviceBasePath", "required for a load-balanced request");
            if (!d->loadBalancerGroups.n)
                PROB("loadBalancerGroups", "required for a load-balanced request");
            int idx = d->has_loadBalancerPortIndex ? d->loadBalancerPortIndex : 0;
            if (idx >= r.numPorts)
                PROB(d->has_loadBalancerPortIndex ? "loadBalancerPortIndex" : "resources.numPorts",
                     "load balancer uses port index %d but the deploy asks for %d port(s)", idx,
                     r.numPorts);
        }
        if (d->runImmediately && api_request_type_long_running(req->type))
            PROB("runImmediately", "only allowed for non-long-running requests, not %s",
                 api_request_type_name(req->type));
    }
    return probs->n - before;
}
