/* libFuzzer target for the REST API's pure core: one request (route, method,
 * path parameters, query string, body) through as_route_match,
 * as_query_parse and as_api_handle against a constant, hand-fed cache with
 * authorization on, as three kinds of caller. List operations are also
 * written in small pieces with as_list_new/as_list_next, and must give the
 * same JSON as the whole answer. The keys a write would touch go through
 * as_api_key_visible and the transaction's compares through
 * as_txn_compares_hold; the transaction is never applied, so every input
 * runs against the same cache. Crashes, leaks, sanitizer reports and the
 * broken promises checked below are bugs (abort); 4xx answers are expected.
 *
 * Input:
 *   byte 0  route: index into the route table (as_route_at), modulo its size
 *   byte 1  method: bits 0-2 pick one of the route's methods (0-3), HEAD (4),
 *           any method by bits 3-4 (5, 6: may be 405), or an unknown one (7)
 *   byte 2  bits 0-1: caller (anonymous, admin, a plain user, a read-only
 *           user); bit 2: path parameters verbatim instead of
 *           percent-encoded; bits 3-4: list piece size - 1; bit 5:
 *           allow_deploy_of_paused; bit 6: authorization off
 *   then    one NUL-terminated fill per "{param}" of the route's pattern,
 *           the NUL-terminated query string, and the body (the rest, NULs
 *           and all; none when empty). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/common.h"
#include "apiserver/as_api.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_cache.h"
#include "apiserver/as_route.h"
#include "base/buf.h"
#include "base/err.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* test/apiserver/fixtures/cluster.json, plus a request with groups
 * (test_auth.c's REQ_A) and its task, a token, a cleanup and an intent. */
static const char cluster_json[] =
    "{"
    "\"/corral/requests/web\": {\"id\": \"web\", \"requestType\": \"SERVICE\", \"instances\": 2},"
    "\"/corral/requests/job\": {\"id\": \"job\", \"requestType\": \"ON_DEMAND\"},"
    "\"/corral/requests/cron\": {\"id\": \"cron\", \"requestType\": \"SCHEDULED\","
    " \"schedule\": \"*/5 * * * *\"},"
    "\"/corral/requests/ra\": {\"id\": \"ra\", \"requestType\": \"WORKER\", \"group\": \"team-a\","
    " \"readWriteGroups\": [\"team-a-rw\"], \"readOnlyGroups\": [\"team-a-ro\"],"
    " \"actionPermissions\": {\"BOUNCE\": [\"team-a\"]}},"
    "\"/corral/deploys/web/v1\": {\"requestId\": \"web\", \"id\": \"v1\", \"command\": \"sleep "
    "100\","
    " \"timestamp\": 1000},"
    "\"/corral/status/requests/web\": {\"requestId\": \"web\", \"state\": \"ACTIVE\","
    " \"activeDeployId\": \"v1\"},"
    "\"/corral/status/deploys/web/v1\": {\"requestId\": \"web\", \"deployId\": \"v1\","
    " \"state\": \"SUCCEEDED\", \"finishedAt\": 2000},"
    "\"/corral/tasks/web/web-v1-1000-1-h1-r1\": {"
    " \"taskId\": {\"id\": \"web-v1-1000-1-h1-r1\", \"requestId\": \"web\", \"deployId\": \"v1\","
    "  \"startedAt\": 1000, \"instanceNo\": 1, \"host\": \"h1\", \"rackId\": \"r1\"},"
    " \"agentId\": \"a1\", \"hostname\": \"h1\", \"lastTaskState\": \"TASK_RUNNING\","
    " \"healthy\": true, \"updatedAt\": 5000,"
    " \"taskUpdates\": [{\"taskState\": \"TASK_RUNNING\", \"timestamp\": 5000}]},"
    "\"/corral/tasks/web/web-v1-1001-2-h2-r2\": {"
    " \"taskId\": {\"id\": \"web-v1-1001-2-h2-r2\", \"requestId\": \"web\", \"deployId\": \"v1\","
    "  \"startedAt\": 1001, \"instanceNo\": 2, \"host\": \"h2\", \"rackId\": \"r2\"},"
    " \"agentId\": \"a2\", \"hostname\": \"h2\", \"lastTaskState\": \"TASK_STARTING\","
    " \"updatedAt\": 5001},"
    "\"/corral/tasks/ra/ra-v1-1000-1-h1-r1\": {"
    " \"taskId\": {\"id\": \"ra-v1-1000-1-h1-r1\", \"requestId\": \"ra\", \"deployId\": \"v1\","
    "  \"startedAt\": 1000, \"instanceNo\": 1, \"host\": \"h1\", \"rackId\": \"r1\"},"
    " \"agentId\": \"a1\", \"lastTaskState\": \"TASK_RUNNING\", \"updatedAt\": 5000},"
    "\"/corral/history/tasks/web/web-v1-900-1-h1-r1\": {"
    " \"taskId\": {\"id\": \"web-v1-900-1-h1-r1\", \"requestId\": \"web\", \"deployId\": \"v1\","
    "  \"startedAt\": 900, \"instanceNo\": 1, \"host\": \"h1\", \"rackId\": \"r1\"},"
    " \"agentId\": \"a1\", \"hostname\": \"h1\", \"lastTaskState\": \"TASK_FAILED\","
    " \"updatedAt\": 950},"
    "\"/corral/pending/job/job-v1-3000-1-ONEOFF-2999\": {"
    " \"pendingTaskId\": {\"id\": \"job-v1-3000-1-ONEOFF-2999\", \"requestId\": \"job\","
    "  \"deployId\": \"v1\", \"nextRunAt\": 3000, \"instanceNo\": 1, \"pendingType\": \"ONEOFF\","
    "  \"createdAt\": 2999},"
    " \"runId\": \"r1\"},"
    "\"/corral/cleanups/web-v1-1001-2-h2-r2\": {"
    " \"taskId\": {\"id\": \"web-v1-1001-2-h2-r2\", \"requestId\": \"web\", \"deployId\": \"v1\","
    "  \"startedAt\": 1001, \"instanceNo\": 2, \"host\": \"h2\", \"rackId\": \"r2\"},"
    " \"cleanupType\": \"USER_REQUESTED\", \"timestamp\": 6000},"
    "\"/corral/intents/requests/ra/bounce\": {\"timestamp\": 7000, \"user\": \"bob\"},"
    "\"/corral/agents/a1\": {\"id\": \"a1\", \"hostname\": \"h1\", \"rackId\": \"r1\"},"
    "\"/corral/agents/a2\": {\"id\": \"a2\", \"hostname\": \"h2\", \"rackId\": \"r2\","
    " \"currentState\": {\"state\": \"DEAD\"}},"
    "\"/corral/racks/r1\": {\"id\": \"r1\"},"
    "\"/corral/auth/tokens/1111111111111111111111111111111111111111111111111111111111111111\":"
    " {\"user\": {\"id\": \"bob\", \"groups\": [\"team-b\"]}, \"createdAt\": 1},"
    "\"/corral/notjson\": null"
    "}";

/* Built once: the inputs never change them. */
static as_cache *cache;
static as_auth *auth;
static as_identity callers[3]; /* admin, plain user, read-only user */

static void ident(as_identity *who, const char *user, const char *g1, const char *g2)
{
    memset(who, 0, sizeof(*who));
    who->user.id = strdup(user);
    if (g1)
        api_strlist_add(&who->user.groups, g1);
    if (g2)
        api_strlist_add(&who->user.groups, g2);
    who->via = "token";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    as_auth_options o;
    json_error_t je;
    json_t *j = json_loads(cluster_json, 0, &je);
    const char *key;
    json_t *v;
    int64_t rev = 0;
    cr_err err;

    if (!j)
        abort();
    cache = as_cache_new();
    json_object_foreach (j, key, v) {
        rev++;
        as_cache_put(cache, key, json_is_null(v) ? NULL : json_incref(v), rev, rev);
    }
    json_decref(j);
    as_cache_set_revision(cache, rev);
    as_cache_set_synced(cache, true);

    /* The policy of test_auth.c: admins "admins", default read-only "dro",
     * global read-only "gro", jita "jita". */
    memset(&o, 0, sizeof(o));
    o.policy.enabled = true;
    api_strlist_add(&o.policy.admin_groups, "admins");
    api_strlist_add(&o.policy.default_read_only, "dro");
    api_strlist_add(&o.policy.global_read_only, "gro");
    api_strlist_add(&o.policy.jita_groups, "jita");
    auth = as_auth_new(&o, &err);
    as_auth_policy_release(&o.policy);
    if (!auth)
        abort();
    ident(&callers[0], "root", "admins", NULL);
    ident(&callers[1], "alice", "team-a", NULL);
    ident(&callers[2], "carol", "dro", "team-b");
    return 0;
}

static const unsigned all_methods[] = {AS_GET, AS_POST, AS_PUT, AS_DELETE};

/* The n-th (mod how many) method bit set in methods. */
static unsigned nth_method(unsigned methods, unsigned n)
{
    unsigned bits[5] = {0}, k = 0;

    for (unsigned b = 0; b < 5; b++)
        if (methods & (1u << b))
            bits[k++] = 1u << b;
    return k ? bits[n % k] : AS_GET;
}

/* The next NUL-terminated field of [*p, end) (borrowed; the last may end
 * at end without a NUL: copied into *own then). */
static const char *next_field(const uint8_t **p, const uint8_t *end, char **own)
{
    const uint8_t *start = *p, *nul = memchr(start, '\0', (size_t)(end - start));

    if (nul) {
        *p = nul + 1;
        return (const char *)start;
    }
    *own = strndup((const char *)start, (size_t)(end - start));
    *p = end;
    return *own;
}

/* Appends fill to path, percent-encoding all but unreserved bytes unless
 * raw. */
static void add_fill(cr_buf *path, const char *fill, bool raw)
{
    static const char hex[] = "0123456789ABCDEF";

    if (raw) {
        cr_buf_adds(path, fill);
        return;
    }
    for (const unsigned char *c = (const unsigned char *)fill; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            cr_buf_addch(path, (char)*c);
        } else {
            cr_buf_addch(path, '%');
            cr_buf_addch(path, hex[*c >> 4]);
            cr_buf_addch(path, hex[*c & 15]);
        }
    }
}

/* The list written in pieces of `piece` entries must be the answer
 * as_api_handle gave in one go. */
static void check_list(const as_api_config *cfg, const as_req *req, const as_result *whole,
                       size_t piece)
{
    as_result err;
    as_list *l = as_list_new(cfg, cache, req, &err);
    cr_buf b = CR_BUF_INIT;
    json_error_t je;
    json_t *got;
    size_t turns = 0;

    if (!l) {
        if (err.status != whole->status || !json_equal(err.body, whole->body))
            abort(); /* a list refused at the start is refused the same way */
        as_result_release(&err);
        return;
    }
    as_result_release(&err);
    while (!as_list_next(l, cache, &b, piece))
        if (++turns > 100000)
            abort(); /* a cursor over a constant cache ends */
    if (!as_list_next(l, cache, &b, piece))
        abort(); /* and stays ended */
    got = json_loadb(b.data, b.len, 0, &je);
    if (!got || whole->status != 200 || !json_equal(got, whole->body))
        abort(); /* pieces make the same array as the whole answer */
    json_decref(got);
    cr_buf_release(&b);
    as_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 3, *end = data + size;
    as_route_info route;
    as_api_config cfg;
    as_match m;
    as_query_kv *q = NULL;
    size_t nq = 0, nroutes = as_route_count(), body_len = 0;
    cr_buf path = CR_BUF_INIT;
    char *owned[AS_ROUTE_MAX_PARAMS + 1] = {NULL};
    const char *fill0 = NULL, *query;
    char *body = NULL;
    unsigned method, mpick, flags;
    const as_identity *who;
    int nfill = 0;
    bool qok;

    if (size < 3 || nroutes == 0)
        return 0;
    as_route_at(data[0] % nroutes, &route);
    mpick = data[1];
    flags = data[2];

    /* The path: the pattern with each {param} filled from the input. */
    for (const char *c = route.pattern; *c;) {
        if (*c == '{' && nfill < AS_ROUTE_MAX_PARAMS) {
            const char *close = strchr(c, '}');
            const char *fill = next_field(&p, end, &owned[nfill]);
            if (nfill == 0)
                fill0 = fill;
            nfill++;
            add_fill(&path, fill, flags & 4);
            c = close ? close + 1 : c + strlen(c);
        } else {
            cr_buf_addch(&path, *c++);
        }
    }
    query = next_field(&p, end, &owned[AS_ROUTE_MAX_PARAMS]);
    if (p < end) {
        /* Exactly the body's bytes, no terminator: over-reads show. */
        body_len = (size_t)(end - p);
        body = malloc(body_len);
        memcpy(body, p, body_len);
    }

    switch (mpick & 7) {
    case 4:
        method = AS_HEAD;
        break;
    case 5:
    case 6:
        method = all_methods[(mpick >> 3) & 3];
        break;
    case 7:
        method = 1u << 30; /* what the server passes for an unknown method */
        break;
    default:
        method = nth_method(route.methods, mpick & 3);
        break;
    }
    who = (flags & 3) ? &callers[(flags & 3) - 1] : NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.prefix = "/corral";
    cfg.max_body = 1 << 20;
    cfg.max_scale_down_unacked = 10;
    cfg.allow_deploy_of_paused = flags & 32;
    cfg.auth = (flags & 64) ? NULL : auth;

    qok = as_query_parse(query, &q, &nq) == 0;
    if (qok) {
        for (size_t i = 0; i < nq; i++)
            if (!q[i].name || !q[i].value)
                abort();
    }
    /* The server answers a malformed query string 400 before the API. */
    if (as_route_match(method, path.data ? path.data : "", &m) == AS_ROUTE_OK && qok) {
        as_req req = {.method = method,
                      .match = &m,
                      .query = q,
                      .nquery = nq,
                      .body = body,
                      .body_len = body_len,
                      .user = who ? who->user.id : NULL,
                      .who = who,
                      .now = 100000,
                      .nonce = "0123456789abcdef"};
        as_result r;

        (void)as_op_name(m.op);
        (void)as_access_name(m.access);
        for (int i = 0; i < m.nparams; i++)
            (void)as_match_param(&m, m.names[i]);
        as_api_handle(&cfg, cache, &req, &r);
        if (r.status < 100 || r.status > 599)
            abort();
        if (r.txn.nput > 0 && r.status >= 300)
            abort(); /* failures never carry writes */
        if (r.status >= 400 && r.kind == AS_RESULT_JSON &&
            !json_is_string(json_object_get(r.body, "message")))
            abort(); /* an error says why */
        if (r.body) {
            char *s = json_dumps(r.body, AS_JSON_FLAGS);
            if (!s)
                abort(); /* every answer encodes */
            free(s);
        }
        if (as_list_op(m.op))
            check_list(&cfg, &req, &r, 1 + ((flags >> 3) & 3));
        (void)as_txn_compares_hold(cache, &r.txn);
        for (size_t i = 0; i < r.txn.nput; i++) {
            if (!r.txn.put[i].key || strncmp(r.txn.put[i].key, "/corral/", 8) != 0)
                abort(); /* writes stay under the prefix */
            (void)as_api_key_visible(&cfg, cache, who, r.txn.put[i].key);
        }
        if (r.render_parent) {
            json_t *parent = as_api_request_parent(&cfg, cache, r.render_parent);
            json_decref(parent);
        }
        as_result_release(&r);
    }
    as_match_release(&m);

    /* What a watch would show this caller of a key named by the input. */
    if (fill0) {
        cr_buf key = CR_BUF_INIT;
        cr_buf_adds(&key, "/corral/");
        cr_buf_adds(&key, fill0);
        (void)as_api_key_visible(&cfg, cache, who, key.data);
        cr_buf_release(&key);
    }

    as_query_free(q, nq);
    free(body);
    for (size_t i = 0; i <= AS_ROUTE_MAX_PARAMS; i++)
        free(owned[i]);
    cr_buf_release(&path);
    return 0;
}
