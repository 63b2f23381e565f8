/* as_route: the API's route table, pure (no I/O).
 *
 * A route is a method plus a path pattern whose segments are literals or
 * "{name}" parameters ("/api/requests/request/{requestId}/scale"). Matching
 * a path tells the server which operation to run, the parameter values, or
 * why nothing matched: no pattern (404) or a pattern without this method
 * (405, with the methods that would have matched). Literal segments win over
 * parameters, so "/api/tasks/active/ids" is never the task "ids". */
#ifndef AS_ROUTE_H
#define AS_ROUTE_H

#include <stddef.h>

#define AS_OPS(X)                    \
    X(AS_OP_HEALTHZ)                 \
    X(AS_OP_READYZ)                  \
    X(AS_OP_METRICS)                 \
    X(AS_OP_WATCH)                   \
    X(AS_OP_STATE)                   \
    X(AS_OP_REQ_LIST)                \
    X(AS_OP_REQ_LIST_ACTIVE)         \
    X(AS_OP_REQ_LIST_PAUSED)         \
    X(AS_OP_REQ_LIST_COOLDOWN)       \
    X(AS_OP_REQ_LIST_FINISHED)       \
    X(AS_OP_REQ_QUEUED_PENDING)      \
    X(AS_OP_REQ_QUEUED_CLEANUP)      \
    X(AS_OP_REQ_POST)                \
    X(AS_OP_REQ_GET)                 \
    X(AS_OP_REQ_DELETE)              \
    X(AS_OP_REQ_BOUNCE)              \
    X(AS_OP_REQ_BOUNCE_CANCEL)       \
    X(AS_OP_REQ_PAUSE)               \
    X(AS_OP_REQ_PAUSE_CANCEL)        \
    X(AS_OP_REQ_UNPAUSE)             \
    X(AS_OP_REQ_SCALE)               \
    X(AS_OP_REQ_SCALE_CANCEL)        \
    X(AS_OP_REQ_SKIPHC)              \
    X(AS_OP_REQ_SKIPHC_CANCEL)       \
    X(AS_OP_REQ_RUN)                 \
    X(AS_OP_REQ_RUN_GET)             \
    X(AS_OP_REQ_EXIT_COOLDOWN)       \
    X(AS_OP_DEPLOY_POST)             \
    X(AS_OP_DEPLOY_CANCEL)           \
    X(AS_OP_DEPLOY_PENDING)          \
    X(AS_OP_DEPLOY_UPDATE)           \
    X(AS_OP_TASKS_ACTIVE)            \
    X(AS_OP_TASKS_ACTIVE_IDS)        \
    X(AS_OP_TASKS_ACTIVE_AGENT)      \
    X(AS_OP_TASKS_ACTIVE_AGENT_IDS)  \
    X(AS_OP_TASKS_SCHEDULED)         \
    X(AS_OP_TASKS_SCHEDULED_IDS)     \
    X(AS_OP_TASKS_SCHEDULED_REQUEST) \
    X(AS_OP_TASKS_SCHEDULED_TASK)    \
    X(AS_OP_TASKS_SCHEDULED_DELETE)  \
    X(AS_OP_TASKS_CLEANING)          \
    X(AS_OP_TASKS_IDS_REQUEST)       \
    X(AS_OP_TASK_GET)                \
    X(AS_OP_TASK_KILL)               \
    X(AS_OP_HIST_TASK)               \
    X(AS_OP_HIST_TASKS)              \
    X(AS_OP_HIST_REQ_TASKS)          \
    X(AS_OP_HIST_REQ_TASKS_ACTIVE)   \
    X(AS_OP_HIST_REQ_DEPLOYS)        \
    X(AS_OP_HIST_REQ_DEPLOY)         \
    X(AS_OP_HIST_REQ_REQUESTS)       \
    X(AS_OP_SANDBOX_BROWSE)          \
    X(AS_OP_SANDBOX_READ)            \
    X(AS_OP_LOGS_TASK)               \
    X(AS_OP_LOGS_REQUEST)            \
    X(AS_OP_LOGS_DEPLOY)             \
    X(AS_OP_LOGS_FOLLOW)             \
    X(AS_OP_NODEAGENT_UPLOADS)       \
    X(AS_OP_NODEAGENT_UPLOAD_PUT)    \
    X(AS_OP_NODEAGENT_TASK_PUT)      \
    X(AS_OP_AGENTS_LIST)             \
    X(AS_OP_AGENT_GET)               \
    X(AS_OP_AGENT_DECOMMISSION)      \
    X(AS_OP_AGENT_FREEZE)            \
    X(AS_OP_AGENT_ACTIVATE)          \
    X(AS_OP_RACKS_LIST)              \
    X(AS_OP_RACK_GET)                \
    X(AS_OP_RACK_DECOMMISSION)       \
    X(AS_OP_RACK_FREEZE)             \
    X(AS_OP_RACK_ACTIVATE)           \
    X(AS_OP_AGENT_DETAILS)           \
    X(AS_OP_AGENT_DELETE)            \
    X(AS_OP_AGENT_DECOMMISSION_UPDATE) \
    X(AS_OP_AGENT_EXPIRING_DELETE)   \
    X(AS_OP_AGENTS_EXPIRING)         \
    X(AS_OP_AGENTS_DEAD_DELETE)      \
    X(AS_OP_RACK_DELETE)             \
    X(AS_OP_RACK_EXPIRING_DELETE)    \
    X(AS_OP_RACKS_EXPIRING)          \
    X(AS_OP_INACTIVE_LIST)           \
    X(AS_OP_INACTIVE_ADD)            \
    X(AS_OP_INACTIVE_DELETE)         \
    X(AS_OP_INACTIVE_CLEAR)          \
    X(AS_OP_WEBHOOKS_LIST)           \
    X(AS_OP_WEBHOOK_ADD)             \
    X(AS_OP_WEBHOOK_DELETE)          \
    X(AS_OP_WEBHOOKS_SUMMARY)        \
    X(AS_OP_WEBHOOK_QUEUE_REQUEST)   \
    X(AS_OP_WEBHOOK_QUEUE_DEPLOY)    \
    X(AS_OP_WEBHOOK_QUEUE_TASK)      \
    X(AS_OP_AUTH_USER)               \
    X(AS_OP_AUTH_CHECK)              \
    X(AS_OP_AUTH_CHECK_USER)         \
    X(AS_OP_AUTH_TOKEN_POST)         \
    X(AS_OP_AUTH_TOKEN_DELETE)       \
    X(AS_OP_AUTH_TOKENS)             \
    X(AS_OP_AUTH_LOGIN_CODE)         \
    X(AS_OP_AUTH_LOGIN)              \
    X(AS_OP_USER_SETTINGS_GET)       \
    X(AS_OP_USER_SETTINGS_POST)      \
    X(AS_OP_USER_STARS)              \
    X(AS_OP_SOURCES_LIST)            \
    X(AS_OP_SOURCE_POST)             \
    X(AS_OP_SOURCE_GET)              \
    X(AS_OP_SOURCE_DELETE)           \
    X(AS_OP_SOURCE_SYNC)             \
    X(AS_OP_UI)                      \
    X(AS_OP_UI_FILE)                 \
    AS_OPS_COMPAT(X)

/* Singularity's remaining routes (as_compat.h; the history and groups ones
 * are as_api's). */
#define AS_OPS_COMPAT(X)                    \
    X(AS_OP_REQ_IDS)                        \
    X(AS_OP_REQ_IDS_ACTIVE)                 \
    X(AS_OP_REQ_BATCH)                      \
    X(AS_OP_REQ_SIMPLE)                     \
    X(AS_OP_REQ_CRASHLOOPS)                 \
    X(AS_OP_REQ_CRASHLOOPS_ONE)             \
    X(AS_OP_REQ_LBCLEANUP)                  \
    X(AS_OP_REQ_GROUPS)                     \
    X(AS_OP_REQ_GROUPS_CHECK)               \
    X(AS_OP_REQ_PRIORITY)                   \
    X(AS_OP_REQ_PRIORITY_CANCEL)            \
    X(AS_OP_TASKS_LBCLEANUP)                \
    X(AS_OP_TASKS_ACTIVE_STATES)            \
    X(AS_OP_TASKS_KILLED)                   \
    X(AS_OP_TASKS_COUNTS)                   \
    X(AS_OP_TASK_CLEANUP)                   \
    X(AS_OP_HIST_TASKS_META)                \
    X(AS_OP_HIST_REQ_TASKS_META)            \
    X(AS_OP_HIST_REQ_DEPLOYS_META)          \
    X(AS_OP_HIST_REQ_REQUESTS_META)         \
    X(AS_OP_HIST_DEPLOY_TASKS_ACTIVE)       \
    X(AS_OP_HIST_DEPLOY_TASKS_INACTIVE)     \
    X(AS_OP_HIST_DEPLOY_TASKS_INACTIVE_META) \
    X(AS_OP_HIST_REQ_RUN)                   \
    X(AS_OP_HIST_REQ_CMDARGS)               \
    X(AS_OP_HIST_REQUESTS_SEARCH)           \
    X(AS_OP_STATE_UNDER)                    \
    X(AS_OP_STATE_OVER)                     \
    X(AS_OP_STATE_SCHEDULED_INFO)           \
    X(AS_OP_TRACK_TASK)                     \
    X(AS_OP_TRACK_RUN)                      \
    X(AS_OP_DISASTERS_STATS)                \
    X(AS_OP_DISASTERS_ACTIVE)               \
    X(AS_OP_DISASTERS_DISABLED)             \
    X(AS_OP_DISASTERS_FIREALARM)            \
    X(AS_OP_USAGE_REQUESTS)                 \
    X(AS_OP_USAGE_REQUEST)                  \
    X(AS_OP_USAGE_AGENTS)                   \
    X(AS_OP_USAGE_TASK)                     \
    X(AS_OP_NOTIFY_LISTS)                   \
    X(AS_OP_TASK_COMMANDS)                  \
    X(AS_OP_TASK_COMMANDS_QUEUED)           \
    X(AS_OP_TASK_COMMAND_RUN)               \
    X(AS_OP_TASK_COMMAND_UPDATES)           \
    X(AS_OP_PRIORITY_FREEZE)                \
    X(AS_OP_CONFIG_LIMITS)                  \
    X(AS_OP_LOGS_SEARCH)                    \
    X(AS_OP_GROUPS_LIST)                    \
    X(AS_OP_GROUP_POST)                     \
    X(AS_OP_GROUP_GET)                      \
    X(AS_OP_GROUP_DELETE)                   \
    X(AS_OP_OPENAPI)

typedef enum {
    AS_OP_NONE = 0,
#define AS_OP_ENUM(name) name,
    AS_OPS(AS_OP_ENUM)
#undef AS_OP_ENUM
        AS_OP__COUNT
} as_op;

typedef enum {
    AS_GET = 1 << 0,
    AS_POST = 1 << 1,
    AS_PUT = 1 << 2,
    AS_DELETE = 1 << 3,
    AS_HEAD = 1 << 4,
} as_method;

/* What a route needs from its caller (as_auth.h decides). Every route has
 * one; a unit test and the e2e auth matrix walk the whole table. */
typedef enum {
    AS_ACCESS_UNSET = 0, /* no classification: a bug the tests catch */
    AS_ACCESS_OPEN,      /* anyone, authenticated or not (/healthz, /readyz) */
    AS_ACCESS_USER,      /* any authenticated caller */
    AS_ACCESS_READ,      /* read the request the path names; without one,
                            any caller, and lists show what they may read */
    AS_ACCESS_WRITE,     /* change the request the path or body names */
    AS_ACCESS_GREAD,     /* read agents and racks: admins, jita, global read-only */
    AS_ACCESS_ADMIN,     /* admin groups only */
} as_access;

/* "open", "user", "read", "write", "global-read", "admin" (static). */
const char *as_access_name(as_access a);

#define AS_ROUTE_MAX_PARAMS 4

/* A matched route. Parameter values are percent-decoded copies owned by the
 * match; release with as_match_release(). */
typedef struct as_match {
    as_op op;
    int nparams;
    const char *names[AS_ROUTE_MAX_PARAMS]; /* static strings */
    char *values[AS_ROUTE_MAX_PARAMS];
    unsigned allowed; /* as_method bits of patterns matching the path */
    as_access access;   /* the matched route's */
    const char *action; /* its user-facing action ("BOUNCE", ...) or NULL */
} as_match;

typedef enum {
    AS_ROUTE_OK = 0,
    AS_ROUTE_NOT_FOUND = 404,
    AS_ROUTE_BAD_METHOD = 405,
} as_route_rc;

/* Matches method (one as_method bit; HEAD matches GET routes) and path
 * (without the query string) against the table. Fills *m on AS_ROUTE_OK, and
 * m->allowed on AS_ROUTE_BAD_METHOD. Always call as_match_release(). */
as_route_rc as_route_match(unsigned method, const char *path, as_match *m);
void as_match_release(as_match *m);

/* The value of parameter name, borrowed from m, or NULL. */
const char *as_match_param(const as_match *m, const char *name);

/* "GET", "POST", ... for one bit; "Allow" header value for a set, written
 * into out ("GET, POST"). */
const char *as_method_name(unsigned method);
void as_methods_format(unsigned methods, char *out, size_t size);
/* Parses "GET" etc.; 0 if unknown. */
unsigned as_method_parse(const char *s);

/* The table itself, for tests and `corrald --routes`. */
typedef struct as_route_info {
    unsigned methods;
    const char *pattern;
    as_op op;
    as_access access;
    const char *action;
} as_route_info;
size_t as_route_count(void);
void as_route_at(size_t i, as_route_info *out);

/* "AS_OP_REQ_GET" -> "req_get" style names for metrics and logs. */
const char *as_op_name(as_op op);

/* Percent-decodes s (caller owns the result); NULL if s has a bad escape or
 * decodes to a NUL byte. */
char *as_pct_decode(const char *s, size_t len);

#endif
