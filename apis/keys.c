/* apis keys: see keys.h. */
#include "apis/keys.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* kind -> path under the prefix, how many ids follow, and the key with its
 * ids as placeholders (docs/etcd-layout.md shows exactly these patterns; a
 * unit test checks the two agree). */
static const struct {
    const char *name;
    int nids;
    const char *pattern;
} kinds[API_KEY__COUNT] = {
    [API_KEY_UNKNOWN] = {"", 0, ""},
    [API_KEY_REQUEST] = {"requests", 1, "requests/<requestId>"},
    [API_KEY_DEPLOY] = {"deploys", 2, "deploys/<requestId>/<deployId>"},
    [API_KEY_REQUEST_STATUS] = {"status/requests", 1, "status/requests/<requestId>"},
    [API_KEY_DEPLOY_STATUS] = {"status/deploys", 2, "status/deploys/<requestId>/<deployId>"},
    [API_KEY_JOB_STATUS] = {"status/jobs", 1, "status/jobs/<requestId>"},
    [API_KEY_RUN_STATUS] = {"status/runs", 2, "status/runs/<requestId>/<runId>"},
    [API_KEY_PENDING_STATUS] = {"status/pending", 2, "status/pending/<requestId>/<pendingTaskId>"},
    [API_KEY_TASK] = {"tasks", 2, "tasks/<requestId>/<taskId>"},
    [API_KEY_PENDING] = {"pending", 2, "pending/<requestId>/<pendingTaskId>"},
    [API_KEY_CLEANUP] = {"cleanups", 1, "cleanups/<taskId>"},
    [API_KEY_RUN] = {"runs", 2, "runs/<requestId>/<runId>"},
    [API_KEY_HISTORY_TASK] = {"history/tasks", 2, "history/tasks/<requestId>/<taskId>"},
    [API_KEY_HISTORY_DEPLOY] = {"history/deploys", 2, "history/deploys/<requestId>/<deployId>"},
    [API_KEY_HISTORY_REQUEST] = {"history/requests", 2,
                                 "history/requests/<requestId>/<ms>-<EVENT>"},
    [API_KEY_LOG_UPLOAD] = {"logs", 3, "logs/<requestId>/<taskId>/<fileName>"},
    [API_KEY_NODEAGENT_TASK] = {"nodeagent/tasks", 2, "nodeagent/tasks/<requestId>/<taskId>"},
    [API_KEY_AGENT] = {"agents", 1, "agents/<agentId>"},
    [API_KEY_RACK] = {"racks", 1, "racks/<rackId>"},
    [API_KEY_FRAMEWORK] = {"framework", 0, "framework"},
    [API_KEY_FRAMEWORK_STATUS] = {"status/framework", 0, "status/framework"},
    [API_KEY_LEADER] = {"leader", 0, "leader"},
    [API_KEY_INTENT_REQUEST] = {"intents/requests", 2, "intents/requests/<requestId>/<kind>"},
    [API_KEY_INTENT_DEPLOY] = {"intents/deploys", 3,
                               "intents/deploys/<requestId>/<deployId>/<kind>"},
    [API_KEY_INTENT_AGENT] = {"intents/agents", 1, "intents/agents/<agentId>"},
    [API_KEY_INTENT_RACK] = {"intents/racks", 1, "intents/racks/<rackId>"},
    [API_KEY_AUTH_TOKEN] = {"auth/tokens", 1, "auth/tokens/<sha256>"},
    [API_KEY_LOGIN_CODE] = {"auth/login-codes", 1, "auth/login-codes/<sha256>"},
    [API_KEY_USER_SETTINGS] = {"users/settings", 1, "users/settings/<userId>"},
    [API_KEY_INACTIVE_HOST] = {"inactive", 1, "inactive/<host>"},
    [API_KEY_SCHEMA] = {"schema", 0, "schema"},
    [API_KEY_SOURCE] = {"sources", 1, "sources/<name>"},
    [API_KEY_SOURCE_STATUS] = {"status/sources", 1, "status/sources/<name>"},
    [API_KEY_INTENT_SOURCE] = {"intents/sources", 1, "intents/sources/<name>"},
    [API_KEY_LB_STATUS] = {"status/lb", 1, "status/lb/<requestId>"},
    [API_KEY_LB_CLEANUP] = {"lbcleanups", 2, "lbcleanups/<requestId>/<taskId>"},
    [API_KEY_WEBHOOK] = {"webhooks", 1, "webhooks/<webhookId>"},
    [API_KEY_WEBHOOK_STATUS] = {"status/webhooks", 1, "status/webhooks/<webhookId>"},
    [API_KEY_WEBHOOK_EVENT] = {"queues/webhooks", 2, "queues/webhooks/<webhookId>/<seq>"},
    [API_KEY_REQUEST_GROUP] = {"groups", 1, "groups/<requestGroupId>"},
    [API_KEY_SHELL] = {"shells", 3, "shells/<requestId>/<taskId>/<shellId>"},
};

bool api_key_id_valid(const char *id)
{
    size_t n;

    if (!id || !*id)
        return false;
    n = strlen(id);
    if (n > API_KEY_MAX_ID || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\')
            return false;
    }
    return true;
}

const char *api_key_kind_name(api_key_kind kind)
{
    return kind < API_KEY__COUNT ? kinds[kind].name : "";
}

const char *api_key_kind_pattern(api_key_kind kind)
{
    return kind < API_KEY__COUNT ? kinds[kind].pattern : "";
}

static char *key0(const char *prefix, api_key_kind k)
{
    return xasprintf("%s/%s", prefix, kinds[k].name);
}

static char *key1(const char *prefix, api_key_kind k, const char *a)
{
    return xasprintf("%s/%s/%s", prefix, kinds[k].name, a);
}

static char *key2(const char *prefix, api_key_kind k, const char *a, const char *b)
{
    return xasprintf("%s/%s/%s/%s", prefix, kinds[k].name, a, b);
}

char *api_key_request(const char *prefix, const char *request_id)
{
    return key1(prefix, API_KEY_REQUEST, request_id);
}

char *api_key_deploy(const char *prefix, const char *request_id, const char *deploy_id)
{
    return key2(prefix, API_KEY_DEPLOY, request_id, deploy_id);
}

char *api_key_request_status(const char *prefix, const char *request_id)
{
    return key1(prefix, API_KEY_REQUEST_STATUS, request_id);
}

char *api_key_deploy_status(const char *prefix, const char *request_id, const char *deploy_id)
{
    return key2(prefix, API_KEY_DEPLOY_STATUS, request_id, deploy_id);
}

char *api_key_job_status(const char *prefix, const char *request_id)
{
    return key1(prefix, API_KEY_JOB_STATUS, request_id);
}

char *api_key_run_status(const char *prefix, const char *request_id, const char *run_id)
{
    return key2(prefix, API_KEY_RUN_STATUS, request_id, run_id);
}

char *api_key_task(const char *prefix, const char *request_id, const char *task_id)
{
    return key2(prefix, API_KEY_TASK, request_id, task_id);
}

char *api_key_pending(const char *prefix, const char *request_id, const char *pending_id)
{
    return key2(prefix, API_KEY_PENDING, request_id, pending_id);
}

char *api_key_pending_status(const char *prefix, const char *request_id, const char *pending_id)
{
    return key2(prefix, API_KEY_PENDING_STATUS, request_id, pending_id);
}

char *api_key_cleanup(const char *prefix, const char *task_id)
{
    return key1(prefix, API_KEY_CLEANUP, task_id);
}

char *api_key_run(const char *prefix, const char *request_id, const char *run_id)
{
    return key2(prefix, API_KEY_RUN, request_id, run_id);
}

char *api_key_history_task(const char *prefix, const char *request_id, const char *task_id)
{
    return key2(prefix, API_KEY_HISTORY_TASK, request_id, task_id);
}

char *api_key_history_deploy(const char *prefix, const char *request_id, const char *deploy_id)
{
    return key2(prefix, API_KEY_HISTORY_DEPLOY, request_id, deploy_id);
}

char *api_key_history_request(const char *prefix, const char *request_id, const char *event_id)
{
    return key2(prefix, API_KEY_HISTORY_REQUEST, request_id, event_id);
}

char *api_key_log_upload(const char *prefix, const char *request_id, const char *task_id,
                         const char *file_name)
{
    return xasprintf("%s/%s/%s/%s/%s", prefix, kinds[API_KEY_LOG_UPLOAD].name, request_id,
                     task_id, file_name);
}

char *api_key_nodeagent_task(const char *prefix, const char *request_id, const char *task_id)
{
    return key2(prefix, API_KEY_NODEAGENT_TASK, request_id, task_id);
}

char *api_key_log_upload_task_prefix(const char *prefix, const char *request_id,
                                     const char *task_id)
{
    return xasprintf("%s/%s/%s/%s/", prefix, kinds[API_KEY_LOG_UPLOAD].name, request_id,
                     task_id);
}

char *api_key_history_request_event(const char *prefix, const char *request_id, int64_t at,
                                    const char *event)
{
    char *event_id = xasprintf("%013" PRId64 "-%s", at, event);
    char *k = key2(prefix, API_KEY_HISTORY_REQUEST, request_id, event_id);

    free(event_id);
    return k;
}

char *api_key_intent_request(const char *prefix, const char *request_id, const char *kind)
{
    return key2(prefix, API_KEY_INTENT_REQUEST, request_id, kind);
}

char *api_key_intent_deploy(const char *prefix, const char *request_id, const char *deploy_id,
                            const char *kind)
{
    return xasprintf("%s/%s/%s/%s/%s", prefix, kinds[API_KEY_INTENT_DEPLOY].name, request_id,
                     deploy_id, kind);
}

char *api_key_intent_agent(const char *prefix, const char *agent_id)
{
    return key1(prefix, API_KEY_INTENT_AGENT, agent_id);
}

char *api_key_intent_rack(const char *prefix, const char *rack_id)
{
    return key1(prefix, API_KEY_INTENT_RACK, rack_id);
}

char *api_key_agent(const char *prefix, const char *agent_id)
{
    return key1(prefix, API_KEY_AGENT, agent_id);
}

char *api_key_rack(const char *prefix, const char *rack_id)
{
    return key1(prefix, API_KEY_RACK, rack_id);
}

char *api_key_auth_token(const char *prefix, const char *token_hash)
{
    return key1(prefix, API_KEY_AUTH_TOKEN, token_hash);
}

char *api_key_login_code(const char *prefix, const char *code_hash)
{
    return key1(prefix, API_KEY_LOGIN_CODE, code_hash);
}

char *api_key_user_settings(const char *prefix, const char *user_id)
{
    return key1(prefix, API_KEY_USER_SETTINGS, user_id);
}

char *api_key_inactive_host(const char *prefix, const char *host)
{
    return key1(prefix, API_KEY_INACTIVE_HOST, host);
}

char *api_key_lb_status(const char *prefix, const char *request_id)
{
    return key1(prefix, API_KEY_LB_STATUS, request_id);
}

char *api_key_lb_cleanup(const char *prefix, const char *request_id, const char *task_id)
{
    return key2(prefix, API_KEY_LB_CLEANUP, request_id, task_id);
}

char *api_key_webhook(const char *prefix, const char *webhook_id)
{
    return key1(prefix, API_KEY_WEBHOOK, webhook_id);
}

char *api_key_webhook_status(const char *prefix, const char *webhook_id)
{
    return key1(prefix, API_KEY_WEBHOOK_STATUS, webhook_id);
}

char *api_key_request_group(const char *prefix, const char *group_id)
{
    return key1(prefix, API_KEY_REQUEST_GROUP, group_id);
}

char *api_key_webhook_event(const char *prefix, const char *webhook_id, int64_t revision,
                            const char *object_key)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)object_key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    char *seq = xasprintf("%016" PRIx64 "-%016" PRIx64, (uint64_t)revision, h);
    char *k = key2(prefix, API_KEY_WEBHOOK_EVENT, webhook_id, seq);

    free(seq);
    return k;
}

char *api_key_shell(const char *prefix, const char *request_id, const char *task_id,
                    const char *shell_id)
{
    return xasprintf("%s/%s/%s/%s/%s", prefix, kinds[API_KEY_SHELL].name, request_id, task_id,
                     shell_id);
}

char *api_key_source(const char *prefix, const char *name)
{
    return key1(prefix, API_KEY_SOURCE, name);
}

char *api_key_source_status(const char *prefix, const char *name)
{
    return key1(prefix, API_KEY_SOURCE_STATUS, name);
}

char *api_key_intent_source(const char *prefix, const char *name)
{
    return key1(prefix, API_KEY_INTENT_SOURCE, name);
}

char *api_key_framework(const char *prefix)
{
    return key0(prefix, API_KEY_FRAMEWORK);
}

char *api_key_framework_status(const char *prefix)
{
    return key0(prefix, API_KEY_FRAMEWORK_STATUS);
}

char *api_key_leader(const char *prefix)
{
    return key0(prefix, API_KEY_LEADER);
}

char *api_key_schema(const char *prefix)
{
    return key0(prefix, API_KEY_SCHEMA);
}

char *api_key_kind_prefix(const char *prefix, api_key_kind kind, const char *request_id)
{
    if (kind == API_KEY_UNKNOWN || kind >= API_KEY__COUNT)
        return xasprintf("%s/", prefix);
    if (kinds[kind].nids == 0)
        return key0(prefix, kind);
    if (request_id && kinds[kind].nids >= 2)
        return xasprintf("%s/%s/%s/", prefix, kinds[kind].name, request_id);
    return xasprintf("%s/%s/", prefix, kinds[kind].name);
}

void api_key_parts_release(api_key_parts *p)
{
    if (!p)
        return;
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

int api_key_parse(const char *prefix, const char *key, api_key_parts *out)
{
    size_t plen = strlen(prefix);
    const char *rest;
    api_key_kind best = API_KEY_UNKNOWN;
    size_t best_len = 0;

    memset(out, 0, sizeof(*out));
    if (strncmp(key, prefix, plen) != 0 || key[plen] != '/')
        return -1;
    rest = key + plen + 1;
    /* the longest kind name that matches ("status/requests" over "requests") */
    for (int k = 1; k < API_KEY__COUNT; k++) {
        size_t n = strlen(kinds[k].name);
        if (strncmp(rest, kinds[k].name, n) == 0 && (rest[n] == '/' || rest[n] == '\0') &&
            n > best_len) {
            best = (api_key_kind)k;
            best_len = n;
        }
    }
    if (best == API_KEY_UNKNOWN)
        return -1;
    rest += best_len;
    if (kinds[best].nids == 0) {
        if (*rest)
            return -1;
        out->kind = best;
        return 0;
    }
    if (*rest != '/')
        return -1;
    out->buf = xstrdup(rest + 1);
    {
        const char **ids[3] = {&out->id1, &out->id2, &out->id3};
        char *p = out->buf;

        for (int i = 0; i < kinds[best].nids; i++) {
            char *slash = strchr(p, '/');

            if ((i < kinds[best].nids - 1) != (slash != NULL))
                goto bad; /* too few or too many parts */
            if (slash)
                *slash = '\0';
            if (!api_key_id_valid(p))
                goto bad;
            *ids[i] = p;
            p = slash ? slash + 1 : NULL;
        }
    }
    out->kind = best;
    return 0;
bad:
    api_key_parts_release(out);
    return -1;
}
