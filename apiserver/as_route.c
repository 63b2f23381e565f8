#include "apiserver/as_route.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

typedef struct {
    unsigned methods;
    const char *pattern;
    as_op op;
    as_access access; /* what a caller needs (as_auth.h) */
    const char *action; /* Singularity's user-facing action of a write, or NULL */
} route;

#define RQ "/api/requests/request/{requestId}"
/* Order does not matter: the most literal match wins (see score()). */
static const route routes[] = {
    {AS_GET, "/healthz", AS_OP_HEALTHZ, AS_ACCESS_OPEN},
    {AS_GET, "/readyz", AS_OP_READYZ, AS_ACCESS_OPEN},
    {AS_GET, "/metrics", AS_OP_METRICS, AS_ACCESS_USER},
    {AS_GET, "/api/metrics", AS_OP_METRICS, AS_ACCESS_USER},
    {AS_GET, "/api/watch", AS_OP_WATCH, AS_ACCESS_READ},
    {AS_GET, "/api/state", AS_OP_STATE, AS_ACCESS_USER},

    {AS_GET, "/api/requests", AS_OP_REQ_LIST, AS_ACCESS_READ},
    {AS_POST, "/api/requests", AS_OP_REQ_POST, AS_ACCESS_WRITE},
    {AS_GET, "/api/requests/active", AS_OP_REQ_LIST_ACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/requests/paused", AS_OP_REQ_LIST_PAUSED, AS_ACCESS_READ},
    {AS_GET, "/api/requests/cooldown", AS_OP_REQ_LIST_COOLDOWN, AS_ACCESS_READ},
    {AS_GET, "/api/requests/finished", AS_OP_REQ_LIST_FINISHED, AS_ACCESS_READ},
    {AS_GET, "/api/requests/queued/pending", AS_OP_REQ_QUEUED_PENDING, AS_ACCESS_READ},
    {AS_GET, "/api/requests/queued/cleanup", AS_OP_REQ_QUEUED_CLEANUP, AS_ACCESS_READ},
    {AS_GET, RQ, AS_OP_REQ_GET, AS_ACCESS_READ},
    {AS_DELETE, RQ, AS_OP_REQ_DELETE, AS_ACCESS_WRITE},
    {AS_POST, RQ "/bounce", AS_OP_REQ_BOUNCE, AS_ACCESS_WRITE, "BOUNCE"},
    {AS_DELETE, RQ "/bounce", AS_OP_REQ_BOUNCE_CANCEL, AS_ACCESS_WRITE, "BOUNCE"},
    {AS_POST, RQ "/pause", AS_OP_REQ_PAUSE, AS_ACCESS_WRITE, "PAUSE"},
    {AS_DELETE, RQ "/pause", AS_OP_REQ_PAUSE_CANCEL, AS_ACCESS_WRITE, "PAUSE"},
    {AS_POST, RQ "/unpause", AS_OP_REQ_UNPAUSE, AS_ACCESS_WRITE, "PAUSE"},
    {AS_PUT, RQ "/scale", AS_OP_REQ_SCALE, AS_ACCESS_WRITE, "SCALE"},
    {AS_DELETE, RQ "/scale", AS_OP_REQ_SCALE_CANCEL, AS_ACCESS_WRITE, "SCALE"},
    {AS_PUT, RQ "/skip-healthchecks", AS_OP_REQ_SKIPHC, AS_ACCESS_WRITE},
    {AS_DELETE, RQ "/skip-healthchecks", AS_OP_REQ_SKIPHC_CANCEL, AS_ACCESS_WRITE},
    {AS_PUT, RQ "/skipHealthchecks", AS_OP_REQ_SKIPHC, AS_ACCESS_WRITE},
    {AS_DELETE, RQ "/skipHealthchecks", AS_OP_REQ_SKIPHC_CANCEL, AS_ACCESS_WRITE},
    {AS_POST, RQ "/run", AS_OP_REQ_RUN, AS_ACCESS_WRITE, "EXEC"},
    {AS_GET, RQ "/run/{runId}", AS_OP_REQ_RUN_GET, AS_ACCESS_READ},
    {AS_POST, RQ "/exit-cooldown", AS_OP_REQ_EXIT_COOLDOWN, AS_ACCESS_WRITE},

    {AS_POST, "/api/deploys", AS_OP_DEPLOY_POST, AS_ACCESS_WRITE},
    {AS_DELETE, "/api/deploys/deploy/{deployId}/request/{requestId}", AS_OP_DEPLOY_CANCEL, AS_ACCESS_WRITE},
    {AS_GET, "/api/deploys/pending", AS_OP_DEPLOY_PENDING, AS_ACCESS_READ},
    {AS_POST, "/api/deploys/update", AS_OP_DEPLOY_UPDATE, AS_ACCESS_WRITE},

    {AS_GET, "/api/tasks/active", AS_OP_TASKS_ACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/ids", AS_OP_TASKS_ACTIVE_IDS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/agent/{agentId}", AS_OP_TASKS_ACTIVE_AGENT, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/agent/{agentId}/ids", AS_OP_TASKS_ACTIVE_AGENT_IDS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/slave/{agentId}", AS_OP_TASKS_ACTIVE_AGENT, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/slave/{agentId}/ids", AS_OP_TASKS_ACTIVE_AGENT_IDS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/scheduled", AS_OP_TASKS_SCHEDULED, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/scheduled/ids", AS_OP_TASKS_SCHEDULED_IDS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/scheduled/request/{requestId}", AS_OP_TASKS_SCHEDULED_REQUEST, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/scheduled/task/{pendingTaskId}", AS_OP_TASKS_SCHEDULED_TASK, AS_ACCESS_READ},
    {AS_DELETE, "/api/tasks/scheduled/task/{pendingTaskId}", AS_OP_TASKS_SCHEDULED_DELETE, AS_ACCESS_WRITE, "DELETE_SCHEDULED_TASK"},
    {AS_GET, "/api/tasks/cleaning", AS_OP_TASKS_CLEANING, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/ids/request/{requestId}", AS_OP_TASKS_IDS_REQUEST, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/task/{taskId}", AS_OP_TASK_GET, AS_ACCESS_READ},
    {AS_DELETE, "/api/tasks/task/{taskId}", AS_OP_TASK_KILL, AS_ACCESS_WRITE, "KILL_TASK"},

    {AS_GET, "/api/history/task/{taskId}", AS_OP_HIST_TASK, AS_ACCESS_READ},
    {AS_GET, "/api/history/tasks", AS_OP_HIST_TASKS, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/tasks", AS_OP_HIST_REQ_TASKS, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/tasks/active", AS_OP_HIST_REQ_TASKS_ACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploys", AS_OP_HIST_REQ_DEPLOYS, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploy/{deployId}", AS_OP_HIST_REQ_DEPLOY, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/requests", AS_OP_HIST_REQ_REQUESTS, AS_ACCESS_READ},

    {AS_GET, "/api/sandbox/{taskId}/browse", AS_OP_SANDBOX_BROWSE, AS_ACCESS_READ},
    {AS_GET, "/api/sandbox/{taskId}/read", AS_OP_SANDBOX_READ, AS_ACCESS_READ},

    /* S3 log archive (as_logs.h): what node agents uploaded, with presigned
     * URLs; and a task's log streamed from the node agent of its host. */
    {AS_GET, "/api/logs/task/{taskId}", AS_OP_LOGS_TASK, AS_ACCESS_READ},
    {AS_GET, "/api/logs/request/{requestId}", AS_OP_LOGS_REQUEST, AS_ACCESS_READ},
    {AS_GET, "/api/logs/request/{requestId}/deploy/{deployId}", AS_OP_LOGS_DEPLOY, AS_ACCESS_READ},
    {AS_GET, "/api/logs/task/{taskId}/follow", AS_OP_LOGS_FOLLOW, AS_ACCESS_READ},
    /* Node agents record their uploads (docs/nodeagent.md): admins only,
     * the node agent's token is an admin's. */
    {AS_GET, "/api/nodeagent/uploads/{taskId}", AS_OP_NODEAGENT_UPLOADS, AS_ACCESS_ADMIN},
    {AS_PUT, "/api/nodeagent/uploads/{taskId}/{fileName}", AS_OP_NODEAGENT_UPLOAD_PUT, AS_ACCESS_ADMIN},
    {AS_PUT, "/api/nodeagent/tasks/{taskId}", AS_OP_NODEAGENT_TASK_PUT, AS_ACCESS_ADMIN},

    {AS_GET, "/api/agents", AS_OP_AGENTS_LIST, AS_ACCESS_GREAD},
    {AS_GET, "/api/agents/agent/{agentId}", AS_OP_AGENT_GET, AS_ACCESS_GREAD},
    {AS_POST, "/api/agents/agent/{agentId}/decommission", AS_OP_AGENT_DECOMMISSION, AS_ACCESS_ADMIN},
    {AS_POST, "/api/agents/agent/{agentId}/freeze", AS_OP_AGENT_FREEZE, AS_ACCESS_ADMIN},
    {AS_POST, "/api/agents/agent/{agentId}/activate", AS_OP_AGENT_ACTIVATE, AS_ACCESS_ADMIN},
    {AS_GET, "/api/slaves", AS_OP_AGENTS_LIST, AS_ACCESS_GREAD},
    {AS_GET, "/api/slaves/slave/{agentId}", AS_OP_AGENT_GET, AS_ACCESS_GREAD},
    {AS_POST, "/api/slaves/slave/{agentId}/decommission", AS_OP_AGENT_DECOMMISSION, AS_ACCESS_ADMIN},
    {AS_POST, "/api/slaves/slave/{agentId}/freeze", AS_OP_AGENT_FREEZE, AS_ACCESS_ADMIN},
    {AS_POST, "/api/slaves/slave/{agentId}/activate", AS_OP_AGENT_ACTIVATE, AS_ACCESS_ADMIN},
    /* The rest of Singularity's machine routes (docs/machines.md). */
    {AS_GET, "/api/agents/agent/{agentId}/details", AS_OP_AGENT_DETAILS, AS_ACCESS_GREAD},
    {AS_DELETE, "/api/agents/agent/{agentId}", AS_OP_AGENT_DELETE, AS_ACCESS_ADMIN},
    {AS_POST, "/api/agents/agent/{agentId}/decommission/extend", AS_OP_AGENT_DECOMMISSION_UPDATE,
     AS_ACCESS_ADMIN},
    /* the name 0.2.0 shipped (Singularity's is .../extend) */
    {AS_POST, "/api/agents/agent/{agentId}/decommission/update", AS_OP_AGENT_DECOMMISSION_UPDATE,
     AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/agents/agent/{agentId}/expiring", AS_OP_AGENT_EXPIRING_DELETE,
     AS_ACCESS_ADMIN},
    {AS_GET, "/api/agents/expiring", AS_OP_AGENTS_EXPIRING, AS_ACCESS_GREAD},
    {AS_DELETE, "/api/agents/dead", AS_OP_AGENTS_DEAD_DELETE, AS_ACCESS_ADMIN},
    {AS_GET, "/api/slaves/slave/{agentId}/details", AS_OP_AGENT_DETAILS, AS_ACCESS_GREAD},
    {AS_DELETE, "/api/slaves/slave/{agentId}", AS_OP_AGENT_DELETE, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/slaves/slave/{agentId}/expiring", AS_OP_AGENT_EXPIRING_DELETE,
     AS_ACCESS_ADMIN},
    {AS_GET, "/api/slaves/expiring", AS_OP_AGENTS_EXPIRING, AS_ACCESS_GREAD},
    {AS_DELETE, "/api/slaves/dead", AS_OP_AGENTS_DEAD_DELETE, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/racks/rack/{rackId}", AS_OP_RACK_DELETE, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/racks/rack/{rackId}/expiring", AS_OP_RACK_EXPIRING_DELETE, AS_ACCESS_ADMIN},
    {AS_GET, "/api/racks/expiring", AS_OP_RACKS_EXPIRING, AS_ACCESS_GREAD},
    {AS_GET, "/api/inactive", AS_OP_INACTIVE_LIST, AS_ACCESS_GREAD},
    {AS_POST, "/api/inactive", AS_OP_INACTIVE_ADD, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/inactive", AS_OP_INACTIVE_DELETE, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/inactive/all", AS_OP_INACTIVE_CLEAR, AS_ACCESS_ADMIN},

    /* webhooks (apiserver/as_webhooks.h): admins, as in Singularity */
    {AS_GET, "/api/webhooks", AS_OP_WEBHOOKS_LIST, AS_ACCESS_ADMIN},
    {AS_POST, "/api/webhooks", AS_OP_WEBHOOK_ADD, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/webhooks", AS_OP_WEBHOOK_DELETE, AS_ACCESS_ADMIN},
    {AS_DELETE, "/api/webhooks/{webhookId}", AS_OP_WEBHOOK_DELETE, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/summary", AS_OP_WEBHOOKS_SUMMARY, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/request", AS_OP_WEBHOOK_QUEUE_REQUEST, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/deploy", AS_OP_WEBHOOK_QUEUE_DEPLOY, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/task", AS_OP_WEBHOOK_QUEUE_TASK, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/request/{webhookId}", AS_OP_WEBHOOK_QUEUE_REQUEST, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/deploy/{webhookId}", AS_OP_WEBHOOK_QUEUE_DEPLOY, AS_ACCESS_ADMIN},
    {AS_GET, "/api/webhooks/task/{webhookId}", AS_OP_WEBHOOK_QUEUE_TASK, AS_ACCESS_ADMIN},
    {AS_GET, "/api/auth/user", AS_OP_AUTH_USER, AS_ACCESS_USER},
    {AS_GET, "/api/auth/{requestId}/auth-check", AS_OP_AUTH_CHECK, AS_ACCESS_USER},
    {AS_GET, "/api/auth/{requestId}/auth-check/{userId}", AS_OP_AUTH_CHECK_USER, AS_ACCESS_ADMIN},
    {AS_POST, "/api/auth/token", AS_OP_AUTH_TOKEN_POST, AS_ACCESS_USER},
    {AS_DELETE, "/api/auth/token/{userId}", AS_OP_AUTH_TOKEN_DELETE, AS_ACCESS_ADMIN},
    {AS_GET, "/api/auth/tokens", AS_OP_AUTH_TOKENS, AS_ACCESS_ADMIN},
    /* One-time login codes (as_user.h): made by a caller for itself; traded
     * for a token by a browser that has none yet. */
    {AS_POST, "/api/auth/login-codes", AS_OP_AUTH_LOGIN_CODE, AS_ACCESS_USER},
    {AS_POST, "/api/auth/login", AS_OP_AUTH_LOGIN, AS_ACCESS_OPEN},
    {AS_GET, "/api/users/settings", AS_OP_USER_SETTINGS_GET, AS_ACCESS_USER},
    {AS_POST, "/api/users/settings", AS_OP_USER_SETTINGS_POST, AS_ACCESS_USER},
    {AS_POST | AS_DELETE, "/api/users/settings/starred-requests", AS_OP_USER_STARS, AS_ACCESS_USER},
    /* GitOps Sources (as_sources.h, docs/gitops.md): read like agents
     * (a repository URL may name hosts), written by admins (a Source
     * writes requests of every group); a sync (a Git host's push hook)
     * only makes the repository's state arrive sooner. */
    {AS_GET, "/api/sources", AS_OP_SOURCES_LIST, AS_ACCESS_GREAD},
    {AS_POST, "/api/sources", AS_OP_SOURCE_POST, AS_ACCESS_ADMIN},
    {AS_GET, "/api/sources/source/{sourceName}", AS_OP_SOURCE_GET, AS_ACCESS_GREAD},
    {AS_DELETE, "/api/sources/source/{sourceName}", AS_OP_SOURCE_DELETE, AS_ACCESS_ADMIN},
    {AS_POST, "/api/sources/source/{sourceName}/sync", AS_OP_SOURCE_SYNC, AS_ACCESS_USER},
    /* The web UI's static files (as_ui.h): no secrets, and the login page
     * must load without a token. */
    {AS_GET, "/ui", AS_OP_UI, AS_ACCESS_OPEN},
    {AS_GET, "/ui/{uiFile}", AS_OP_UI_FILE, AS_ACCESS_OPEN},
    {AS_GET, "/ui/{uiDir}/{uiFile}", AS_OP_UI_FILE, AS_ACCESS_OPEN},

    /* The rest of Singularity's API (as_compat.h; docs/api.md "Singularity
     * compatibility"). */
    {AS_GET, "/api/requests/ids", AS_OP_REQ_IDS, AS_ACCESS_READ},
    {AS_GET, "/api/requests/ids/active", AS_OP_REQ_IDS_ACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/requests/batch", AS_OP_REQ_BATCH, AS_ACCESS_READ},
    {AS_GET, "/api/requests/crashloops", AS_OP_REQ_CRASHLOOPS, AS_ACCESS_READ},
    {AS_GET, "/api/requests/lbcleanup", AS_OP_REQ_LBCLEANUP, AS_ACCESS_READ},
    {AS_GET, RQ "/simple", AS_OP_REQ_SIMPLE, AS_ACCESS_READ},
    {AS_GET, RQ "/crashloops", AS_OP_REQ_CRASHLOOPS_ONE, AS_ACCESS_READ},
    {AS_POST, RQ "/groups", AS_OP_REQ_GROUPS, AS_ACCESS_WRITE},
    {AS_POST, RQ "/groups/auth-check", AS_OP_REQ_GROUPS_CHECK, AS_ACCESS_WRITE},
    {AS_PUT, RQ "/priority", AS_OP_REQ_PRIORITY, AS_ACCESS_ADMIN},
    {AS_DELETE, RQ "/priority", AS_OP_REQ_PRIORITY_CANCEL, AS_ACCESS_ADMIN},
    {AS_GET, "/api/tasks/lbcleanup", AS_OP_TASKS_LBCLEANUP, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/active/states", AS_OP_TASKS_ACTIVE_STATES, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/killed", AS_OP_TASKS_KILLED, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/counts/request/{requestId}", AS_OP_TASKS_COUNTS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/task/{taskId}/cleanup", AS_OP_TASK_CLEANUP, AS_ACCESS_READ},
    /* task shell commands (as_shell.h) */
    {AS_POST, "/api/tasks/task/{taskId}/command", AS_OP_TASK_COMMAND_RUN, AS_ACCESS_WRITE,
     "RUN_SHELL_COMMAND"},
    {AS_GET, "/api/tasks/task/{taskId}/command", AS_OP_TASK_COMMANDS, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/task/{taskId}/command/{commandName}/{commandTimestamp}",
     AS_OP_TASK_COMMAND_UPDATES, AS_ACCESS_READ},
    {AS_GET, "/api/tasks/commands/queued", AS_OP_TASK_COMMANDS_QUEUED, AS_ACCESS_READ},
    {AS_GET, "/api/history/tasks/withmetadata", AS_OP_HIST_TASKS_META, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/tasks/withmetadata", AS_OP_HIST_REQ_TASKS_META,
     AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploys/withmetadata", AS_OP_HIST_REQ_DEPLOYS_META,
     AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/requests/withmetadata",
     AS_OP_HIST_REQ_REQUESTS_META, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploy/{deployId}/tasks/active",
     AS_OP_HIST_DEPLOY_TASKS_ACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploy/{deployId}/tasks/inactive",
     AS_OP_HIST_DEPLOY_TASKS_INACTIVE, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/deploy/{deployId}/tasks/inactive/withmetadata",
     AS_OP_HIST_DEPLOY_TASKS_INACTIVE_META, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/run/{runId}", AS_OP_HIST_REQ_RUN, AS_ACCESS_READ},
    {AS_GET, "/api/history/request/{requestId}/command-line-args", AS_OP_HIST_REQ_CMDARGS,
     AS_ACCESS_READ},
    {AS_GET, "/api/history/requests/search", AS_OP_HIST_REQUESTS_SEARCH, AS_ACCESS_READ},
    {AS_GET, "/api/state/requests/under-provisioned", AS_OP_STATE_UNDER, AS_ACCESS_USER},
    {AS_GET, "/api/state/requests/over-provisioned", AS_OP_STATE_OVER, AS_ACCESS_USER},
    {AS_GET, "/api/state/scheduled-tasks-info", AS_OP_STATE_SCHEDULED_INFO, AS_ACCESS_USER},
    {AS_GET, "/api/track/task/{taskId}", AS_OP_TRACK_TASK, AS_ACCESS_READ},
    {AS_GET, "/api/track/run/{requestId}/{runId}", AS_OP_TRACK_RUN, AS_ACCESS_READ},
    {AS_GET, "/api/disasters/stats", AS_OP_DISASTERS_STATS, AS_ACCESS_USER},
    {AS_GET, "/api/disasters/active", AS_OP_DISASTERS_ACTIVE, AS_ACCESS_USER},
    {AS_GET, "/api/disasters/disabled-actions", AS_OP_DISASTERS_DISABLED, AS_ACCESS_USER},
    {AS_GET, "/api/openapi.json", AS_OP_OPENAPI, AS_ACCESS_USER},
    /* a read sent as a POST: any caller; it shows what they may read */
    {AS_POST, "/api/logs/search", AS_OP_LOGS_SEARCH, AS_ACCESS_USER},
    /* request groups: labels that grant nothing. Any caller, but the
     * handler (as_compat.c) shows only the requests the caller may read and
     * writes a group only for a caller who may change every request it
     * names, before and after */
    {AS_GET, "/api/groups", AS_OP_GROUPS_LIST, AS_ACCESS_USER},
    {AS_POST, "/api/groups", AS_OP_GROUP_POST, AS_ACCESS_USER},
    {AS_GET, "/api/groups/group/{requestGroupId}", AS_OP_GROUP_GET, AS_ACCESS_USER},
    {AS_DELETE, "/api/groups/group/{requestGroupId}", AS_OP_GROUP_DELETE, AS_ACCESS_USER},
    /* What Corral does not do, answered as Singularity answers when it has
     * none of it (docs/api.md): no usage collected, no fire alarm, no
     * e-mail lists, no priority freeze. */
    {AS_GET, "/api/disasters/firealarm", AS_OP_DISASTERS_FIREALARM, AS_ACCESS_USER},
    {AS_GET, "/api/usage/requests", AS_OP_USAGE_REQUESTS, AS_ACCESS_READ},
    {AS_GET, "/api/usage/requests/request/{requestId}", AS_OP_USAGE_REQUEST, AS_ACCESS_READ},
    {AS_GET, "/api/usage/agents", AS_OP_USAGE_AGENTS, AS_ACCESS_GREAD},
    {AS_GET, "/api/usage/slaves", AS_OP_USAGE_AGENTS, AS_ACCESS_GREAD},
    {AS_GET, "/api/usage/tasks/{taskId}/history", AS_OP_USAGE_TASK, AS_ACCESS_READ},
    {AS_GET, "/api/notifications/allowlist", AS_OP_NOTIFY_LISTS, AS_ACCESS_USER},
    {AS_GET, "/api/notifications/blocklist", AS_OP_NOTIFY_LISTS, AS_ACCESS_USER},
    {AS_GET, "/api/priority/freeze", AS_OP_PRIORITY_FREEZE, AS_ACCESS_USER},
    {AS_GET, "/api/configuration/singularity-limits", AS_OP_CONFIG_LIMITS, AS_ACCESS_USER},

    {AS_GET, "/api/racks", AS_OP_RACKS_LIST, AS_ACCESS_GREAD},
    {AS_GET, "/api/racks/rack/{rackId}", AS_OP_RACK_GET, AS_ACCESS_GREAD},
    {AS_POST, "/api/racks/rack/{rackId}/decommission", AS_OP_RACK_DECOMMISSION, AS_ACCESS_ADMIN},
    {AS_POST, "/api/racks/rack/{rackId}/freeze", AS_OP_RACK_FREEZE, AS_ACCESS_ADMIN},
    {AS_POST, "/api/racks/rack/{rackId}/activate", AS_OP_RACK_ACTIVATE, AS_ACCESS_ADMIN},
};
#undef RQ

static const char *op_names[] = {"none",
#define AS_OP_STR(name) #name,
                                 AS_OPS(AS_OP_STR)
#undef AS_OP_STR
};

const char *as_op_name(as_op op)
{
    if ((int)op < 0 || op >= AS_OP__COUNT)
        return "unknown";
    /* Skip the "AS_OP_" prefix. */
    return op == AS_OP_NONE ? op_names[0] : op_names[op] + 6;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *as_pct_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                goto bad;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto bad;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* The next segment of a path at *p (a pointer into it, its length),
 * empty segments (a trailing slash, "//") skipped; false at the end. */
static bool next_seg(const char **p, const char **seg, size_t *len)
{
    const char *s = *p, *e;

    while (*s == '/')
        s++;
    if (!*s)
        return false;
    e = strchr(s, '/');
    *seg = s;
    *len = e ? (size_t)(e - s) : strlen(s);
    *p = s + *len;
    return true;
}

/* Splits path into segments (pointers into path, lengths). Returns the count
 * or -1 when there are too many or the path is not absolute. */
#define MAX_SEGS 12
static int split(const char *path, const char **seg, size_t *len)
{
    int n = 0;
    const char *s;
    size_t l;

    if (path[0] != '/')
        return -1;
    while (next_seg(&path, &s, &l)) {
        if (n == MAX_SEGS)
            return -1;
        seg[n] = s;
        len[n] = l;
        n++;
    }
    return n;
}

/* Returns the number of literal segments if pattern matches the path's
 * segments, else -1. Every call tries every route, so the pattern is read
 * in place, only as far as its first segment that differs. */
static int score(const char *pattern, const char **seg, const size_t *len, int n)
{
    const char *p = pattern;
    int lit = 0;

    for (int i = 0; i < n; i++) {
        while (*p == '/')
            p++;
        if (!*p)
            return -1;
        if (*p == '{') {
            if (len[i] == 0)
                return -1;
            p = strchrnul(p, '/');
            continue;
        }
        /* the segment holds no NUL: the loop stops inside the pattern */
        size_t k = 0;
        while (k < len[i] && p[k] == seg[i][k])
            k++;
        if (k < len[i] || (p[k] != '/' && p[k] != '\0'))
            return -1;
        p += k;
        lit++;
    }
    while (*p == '/')
        p++;
    return *p ? -1 : lit;
}

static void fill_params(const char *pattern, const char **seg, const size_t *len, as_match *m)
{
    static const struct {
        const char *p;
        const char *name;
    } names[] = {{"{requestId}", "requestId"}, {"{deployId}", "deployId"},
                 {"{taskId}", "taskId"},       {"{pendingTaskId}", "pendingTaskId"},
                 {"{runId}", "runId"},         {"{agentId}", "agentId"},
                 {"{rackId}", "rackId"},       {"{fileName}", "fileName"},
                 {"{userId}", "userId"},       {"{sourceName}", "sourceName"},
                 {"{requestGroupId}", "requestGroupId"},
                 {"{uiDir}", "uiDir"},         {"{uiFile}", "uiFile"},
                 {"{webhookId}", "webhookId"}, {"{commandName}", "commandName"},
                 {"{commandTimestamp}", "commandTimestamp"}};
    const char *ps[MAX_SEGS];
    size_t pl[MAX_SEGS];
    int pn = split(pattern, ps, pl);

    for (int i = 0; i < pn && m->nparams < AS_ROUTE_MAX_PARAMS; i++) {
        if (ps[i][0] != '{')
            continue;
        const char *name = "param";
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strncmp(ps[i], names[k].p, pl[i]) == 0 && strlen(names[k].p) == pl[i])
                name = names[k].name;
        m->names[m->nparams] = name;
        m->values[m->nparams] = as_pct_decode(seg[i], len[i]);
        m->nparams++;
    }
}

as_route_rc as_route_match(unsigned method, const char *path, as_match *m)
{
    const char *seg[MAX_SEGS];
    size_t len[MAX_SEGS];
    int n, best = -1, best_score = -1;

    memset(m, 0, sizeof(*m));
    n = split(path, seg, len);
    if (n < 0)
        return AS_ROUTE_NOT_FOUND;
    if (method == AS_HEAD)
        method = AS_GET;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        int s = score(routes[i].pattern, seg, len, n);
        if (s < 0)
            continue;
        /* Only the most literal pattern family decides 404 vs 405. */
        if (s > best_score) {
            best_score = s;
            m->allowed = 0;
            best = -1;
        }
        if (s < best_score)
            continue;
        m->allowed |= routes[i].methods;
        if ((routes[i].methods & method) && best < 0)
            best = (int)i;
    }
    if (best_score < 0)
        return AS_ROUTE_NOT_FOUND;
    if (best < 0)
        return AS_ROUTE_BAD_METHOD;
    m->op = routes[best].op;
    m->access = routes[best].access;
    m->action = routes[best].action;
    fill_params(routes[best].pattern, seg, len, m);
    for (int i = 0; i < m->nparams; i++)
        if (!m->values[i])
            return AS_ROUTE_NOT_FOUND; /* undecodable parameter */
    return AS_ROUTE_OK;
}

void as_match_release(as_match *m)
{
    for (int i = 0; i < m->nparams; i++)
        free(m->values[i]);
    m->nparams = 0;
}

const char *as_match_param(const as_match *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->names[i], name) == 0)
            return m->values[i];
    return NULL;
}

const char *as_method_name(unsigned method)
{
    switch (method) {
    case AS_GET:
        return "GET";
    case AS_POST:
        return "POST";
    case AS_PUT:
        return "PUT";
    case AS_DELETE:
        return "DELETE";
    case AS_HEAD:
        return "HEAD";
    default:
        return "?";
    }
}

void as_methods_format(unsigned methods, char *out, size_t size)
{
    size_t o = 0;

    out[0] = '\0';
    for (unsigned bit = AS_GET; bit <= AS_DELETE; bit <<= 1) {
        if (!(methods & bit))
            continue;
        int w = snprintf(out + o, size - o, "%s%s", o ? ", " : "", as_method_name(bit));
        if (w < 0 || (size_t)w >= size - o)
            return;
        o += (size_t)w;
    }
}

unsigned as_method_parse(const char *s)
{
    static const char *names[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
    for (unsigned i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return 1u << i;
    return 0;
}

size_t as_route_count(void)
{
    return sizeof(routes) / sizeof(routes[0]);
}

void as_route_at(size_t i, as_route_info *out)
{
    out->methods = routes[i].methods;
    out->pattern = routes[i].pattern;
    out->op = routes[i].op;
    out->access = routes[i].access;
    out->action = routes[i].action;
}
