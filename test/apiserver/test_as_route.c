#include "test/lib/cr_test.h"

#include <string.h>

#include "apiserver/as_route.h"

/* method, path -> expected rc, op, and one parameter to check. */
typedef struct row {
    unsigned method;
    const char *path;
    int rc;
    as_op op;
    const char *pname, *pvalue;
} row;

static const row table[] = {
    {AS_GET, "/api/requests", AS_ROUTE_OK, AS_OP_REQ_LIST, NULL, NULL},
    {AS_POST, "/api/requests", AS_ROUTE_OK, AS_OP_REQ_POST, NULL, NULL},
    {AS_GET, "/api/requests/", AS_ROUTE_OK, AS_OP_REQ_LIST, NULL, NULL},
    {AS_GET, "/api/requests/active", AS_ROUTE_OK, AS_OP_REQ_LIST_ACTIVE, NULL, NULL},
    {AS_GET, "/api/requests/paused", AS_ROUTE_OK, AS_OP_REQ_LIST_PAUSED, NULL, NULL},
    {AS_GET, "/api/requests/cooldown", AS_ROUTE_OK, AS_OP_REQ_LIST_COOLDOWN, NULL, NULL},
    {AS_GET, "/api/requests/finished", AS_ROUTE_OK, AS_OP_REQ_LIST_FINISHED, NULL, NULL},
    {AS_GET, "/api/requests/queued/pending", AS_ROUTE_OK, AS_OP_REQ_QUEUED_PENDING, NULL, NULL},
    {AS_GET, "/api/requests/queued/cleanup", AS_ROUTE_OK, AS_OP_REQ_QUEUED_CLEANUP, NULL, NULL},
    {AS_GET, "/api/requests/request/web", AS_ROUTE_OK, AS_OP_REQ_GET, "requestId", "web"},
    {AS_HEAD, "/api/requests/request/web", AS_ROUTE_OK, AS_OP_REQ_GET, "requestId", "web"},
    {AS_DELETE, "/api/requests/request/web", AS_ROUTE_OK, AS_OP_REQ_DELETE, "requestId", "web"},
    {AS_PUT, "/api/requests/request/web", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
    {AS_PUT, "/api/requests/request/a-b/scale", AS_ROUTE_OK, AS_OP_REQ_SCALE, "requestId", "a-b"},
    {AS_DELETE, "/api/requests/request/w/scale", AS_ROUTE_OK, AS_OP_REQ_SCALE_CANCEL, NULL, NULL},
    {AS_POST, "/api/requests/request/w/scale", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
    {AS_POST, "/api/requests/request/w/bounce", AS_ROUTE_OK, AS_OP_REQ_BOUNCE, NULL, NULL},
    {AS_DELETE, "/api/requests/request/w/bounce", AS_ROUTE_OK, AS_OP_REQ_BOUNCE_CANCEL, NULL, NULL},
    {AS_POST, "/api/requests/request/w/pause", AS_ROUTE_OK, AS_OP_REQ_PAUSE, NULL, NULL},
    {AS_DELETE, "/api/requests/request/w/pause", AS_ROUTE_OK, AS_OP_REQ_PAUSE_CANCEL, NULL, NULL},
    {AS_POST, "/api/requests/request/w/unpause", AS_ROUTE_OK, AS_OP_REQ_UNPAUSE, NULL, NULL},
    {AS_PUT, "/api/requests/request/w/skip-healthchecks", AS_ROUTE_OK, AS_OP_REQ_SKIPHC, NULL,
     NULL},
    {AS_PUT, "/api/requests/request/w/skipHealthchecks", AS_ROUTE_OK, AS_OP_REQ_SKIPHC, NULL, NULL},
    {AS_DELETE, "/api/requests/request/w/skip-healthchecks", AS_ROUTE_OK, AS_OP_REQ_SKIPHC_CANCEL,
     NULL, NULL},
    {AS_POST, "/api/requests/request/w/run", AS_ROUTE_OK, AS_OP_REQ_RUN, NULL, NULL},
    {AS_GET, "/api/requests/request/w/run/r1", AS_ROUTE_OK, AS_OP_REQ_RUN_GET, "runId", "r1"},
    {AS_POST, "/api/requests/request/w/exit-cooldown", AS_ROUTE_OK, AS_OP_REQ_EXIT_COOLDOWN, NULL,
     NULL},
    {AS_POST, "/api/deploys", AS_ROUTE_OK, AS_OP_DEPLOY_POST, NULL, NULL},
    {AS_GET, "/api/deploys", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
    {AS_DELETE, "/api/deploys/deploy/v1/request/web", AS_ROUTE_OK, AS_OP_DEPLOY_CANCEL, "deployId",
     "v1"},
    {AS_GET, "/api/deploys/pending", AS_ROUTE_OK, AS_OP_DEPLOY_PENDING, NULL, NULL},
    {AS_POST, "/api/deploys/update", AS_ROUTE_OK, AS_OP_DEPLOY_UPDATE, NULL, NULL},
    {AS_GET, "/api/tasks/active", AS_ROUTE_OK, AS_OP_TASKS_ACTIVE, NULL, NULL},
    {AS_GET, "/api/tasks/active/ids", AS_ROUTE_OK, AS_OP_TASKS_ACTIVE_IDS, NULL, NULL},
    {AS_GET, "/api/tasks/active/agent/a1", AS_ROUTE_OK, AS_OP_TASKS_ACTIVE_AGENT, "agentId", "a1"},
    {AS_GET, "/api/tasks/active/slave/a1/ids", AS_ROUTE_OK, AS_OP_TASKS_ACTIVE_AGENT_IDS, "agentId",
     "a1"},
    {AS_GET, "/api/tasks/scheduled", AS_ROUTE_OK, AS_OP_TASKS_SCHEDULED, NULL, NULL},
    {AS_GET, "/api/tasks/scheduled/ids", AS_ROUTE_OK, AS_OP_TASKS_SCHEDULED_IDS, NULL, NULL},
    {AS_GET, "/api/tasks/scheduled/request/web", AS_ROUTE_OK, AS_OP_TASKS_SCHEDULED_REQUEST, NULL,
     NULL},
    {AS_GET, "/api/tasks/scheduled/task/p1", AS_ROUTE_OK, AS_OP_TASKS_SCHEDULED_TASK,
     "pendingTaskId", "p1"},
    {AS_DELETE, "/api/tasks/scheduled/task/p1", AS_ROUTE_OK, AS_OP_TASKS_SCHEDULED_DELETE, NULL,
     NULL},
    {AS_GET, "/api/tasks/cleaning", AS_ROUTE_OK, AS_OP_TASKS_CLEANING, NULL, NULL},
    {AS_GET, "/api/tasks/ids/request/web", AS_ROUTE_OK, AS_OP_TASKS_IDS_REQUEST, NULL, NULL},
    {AS_GET, "/api/tasks/task/web-v1-1-1-h-r", AS_ROUTE_OK, AS_OP_TASK_GET, "taskId",
     "web-v1-1-1-h-r"},
    {AS_DELETE, "/api/tasks/task/t", AS_ROUTE_OK, AS_OP_TASK_KILL, NULL, NULL},
    {AS_POST, "/api/tasks/task/t", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/history/task/t", AS_ROUTE_OK, AS_OP_HIST_TASK, NULL, NULL},
    {AS_GET, "/api/history/tasks", AS_ROUTE_OK, AS_OP_HIST_TASKS, NULL, NULL},
    {AS_GET, "/api/history/request/web/tasks", AS_ROUTE_OK, AS_OP_HIST_REQ_TASKS, NULL, NULL},
    {AS_GET, "/api/history/request/web/tasks/active", AS_ROUTE_OK, AS_OP_HIST_REQ_TASKS_ACTIVE,
     NULL, NULL},
    {AS_GET, "/api/history/request/web/deploys", AS_ROUTE_OK, AS_OP_HIST_REQ_DEPLOYS, NULL, NULL},
    {AS_GET, "/api/history/request/web/deploy/v1", AS_ROUTE_OK, AS_OP_HIST_REQ_DEPLOY, "deployId",
     "v1"},
    {AS_GET, "/api/history/request/web/requests", AS_ROUTE_OK, AS_OP_HIST_REQ_REQUESTS, NULL, NULL},
    {AS_GET, "/api/sandbox/t/browse", AS_ROUTE_OK, AS_OP_SANDBOX_BROWSE, "taskId", "t"},
    {AS_GET, "/api/sandbox/t/read", AS_ROUTE_OK, AS_OP_SANDBOX_READ, NULL, NULL},
    {AS_GET, "/api/state", AS_ROUTE_OK, AS_OP_STATE, NULL, NULL},
    {AS_POST, "/api/state", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/agents", AS_ROUTE_OK, AS_OP_AGENTS_LIST, NULL, NULL},
    {AS_GET, "/api/slaves", AS_ROUTE_OK, AS_OP_AGENTS_LIST, NULL, NULL},
    {AS_GET, "/api/agents/agent/a1", AS_ROUTE_OK, AS_OP_AGENT_GET, "agentId", "a1"},
    {AS_POST, "/api/agents/agent/a1/decommission", AS_ROUTE_OK, AS_OP_AGENT_DECOMMISSION, NULL,
     NULL},
    {AS_POST, "/api/slaves/slave/a1/freeze", AS_ROUTE_OK, AS_OP_AGENT_FREEZE, NULL, NULL},
    {AS_POST, "/api/agents/agent/a1/activate", AS_ROUTE_OK, AS_OP_AGENT_ACTIVATE, NULL, NULL},
    {AS_GET, "/api/racks", AS_ROUTE_OK, AS_OP_RACKS_LIST, NULL, NULL},
    {AS_GET, "/api/racks/rack/r1", AS_ROUTE_OK, AS_OP_RACK_GET, "rackId", "r1"},
    {AS_POST, "/api/racks/rack/r1/decommission", AS_ROUTE_OK, AS_OP_RACK_DECOMMISSION, NULL, NULL},
    {AS_POST, "/api/racks/rack/r1/freeze", AS_ROUTE_OK, AS_OP_RACK_FREEZE, NULL, NULL},
    {AS_POST, "/api/racks/rack/r1/activate", AS_ROUTE_OK, AS_OP_RACK_ACTIVATE, NULL, NULL},
    {AS_GET, "/api/watch", AS_ROUTE_OK, AS_OP_WATCH, NULL, NULL},
    {AS_GET, "/metrics", AS_ROUTE_OK, AS_OP_METRICS, NULL, NULL},
    {AS_GET, "/healthz", AS_ROUTE_OK, AS_OP_HEALTHZ, NULL, NULL},
    {AS_GET, "/readyz", AS_ROUTE_OK, AS_OP_READYZ, NULL, NULL},
    {AS_GET, "/", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/nope", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/requests/request/web/nope", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "api/requests", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/tasks/task/a%2Fb", AS_ROUTE_OK, AS_OP_TASK_GET, "taskId", "a/b"},
    {AS_GET, "/api/tasks/task/a%zz", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {AS_GET, "/api/tasks/task/a%00", AS_ROUTE_NOT_FOUND, AS_OP_NONE, NULL, NULL},
    {0, "/api/requests", AS_ROUTE_BAD_METHOD, AS_OP_NONE, NULL, NULL},
};

static void test_route_table(void **state)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const row *r = &table[i];
        as_match m;
        int rc = as_route_match(r->method, r->path, &m);
        if (rc != r->rc)
            fail_msg("%s %s: rc %d, want %d", as_method_name(r->method), r->path, rc, r->rc);
        if (rc == AS_ROUTE_OK && m.op != r->op)
            fail_msg("%s %s: op %s, want %s", as_method_name(r->method), r->path, as_op_name(m.op),
                     as_op_name(r->op));
        if (r->pname) {
            const char *v = as_match_param(&m, r->pname);
            if (!v || strcmp(v, r->pvalue) != 0)
                fail_msg("%s %s: %s = %s, want %s", as_method_name(r->method), r->path, r->pname,
                         v ? v : "(null)", r->pvalue);
        }
        as_match_release(&m);
    }
}

static void test_route_allow_header(void **state)
{
    as_match m;
    char allow[64];

    assert_int_equal(as_route_match(AS_PUT, "/api/requests", &m), AS_ROUTE_BAD_METHOD);
    as_methods_format(m.allowed, allow, sizeof(allow));
    assert_string_equal(allow, "GET, POST");
    as_match_release(&m);
    assert_int_equal(as_route_match(AS_GET, "/api/requests/request/w/pause", &m),
                     AS_ROUTE_BAD_METHOD);
    as_methods_format(m.allowed, allow, sizeof(allow));
    assert_string_equal(allow, "POST, DELETE");
    as_match_release(&m);
    /* A literal route beats a parameter one: "ids" is not a task id. */
    assert_int_equal(as_route_match(AS_GET, "/api/tasks/active/ids", &m), AS_ROUTE_OK);
    assert_int_equal(m.op, AS_OP_TASKS_ACTIVE_IDS);
    as_match_release(&m);
}

static void test_route_methods_and_names(void **state)
{
    assert_int_equal(as_method_parse("DELETE"), AS_DELETE);
    assert_int_equal(as_method_parse("PATCH"), 0);
    assert_string_equal(as_method_name(AS_PUT), "PUT");
    assert_string_equal(as_op_name(AS_OP_REQ_GET), "REQ_GET");
    assert_string_equal(as_op_name(AS_OP_NONE), "none");
    char *d = as_pct_decode("a%20b%2f", 8);
    assert_string_equal(d, "a b/");
    free(d);
    assert_null(as_pct_decode("abc%2", 5));
    assert_null(as_pct_decode("%g0", 3));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_route_table),
    cmocka_unit_test(test_route_allow_header),
    cmocka_unit_test(test_route_methods_and_names),
};
CR_TEST_MAIN(tests)
