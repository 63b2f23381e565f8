/* Unit tests of apis/task.c: ids, pending tasks, cleanups, task records. */
#include <string.h>

#include "apis/intern.h"
#include "apis/keys.h"
#include "apis/task.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static void test_state_names(void **state)
{
    assert_string_equal(api_task_state_name(API_TASK_RUNNING), "TASK_RUNNING");
    assert_int_equal(api_task_state_parse("TASK_GONE_BY_OPERATOR"), API_TASK_GONE_BY_OPERATOR);
    assert_int_equal(api_task_state_parse("task_running"), API_TASK_STATE_NONE);
    assert_int_equal(api_task_state_parse(NULL), API_TASK_STATE_NONE);
    assert_null(api_task_state_name(API_TASK_STATE_NONE));
    assert_true(api_task_state_terminal(API_TASK_FAILED));
    /* Mesos' meaning: the task may still run (held, not terminal). */
    assert_false(api_task_state_terminal(API_TASK_UNREACHABLE));
    assert_false(api_task_state_terminal(API_TASK_UNKNOWN));
    assert_true(api_task_state_held(API_TASK_UNKNOWN));
    assert_false(api_task_state_held(API_TASK_GONE));
    assert_true(api_task_state_terminal(API_TASK_GONE_BY_OPERATOR));
    assert_true(api_task_state_may_return(API_TASK_GONE_BY_OPERATOR));
    assert_true(api_task_state_may_return(API_TASK_UNREACHABLE));
    assert_false(api_task_state_may_return(API_TASK_GONE));
    assert_false(api_task_state_may_return(API_TASK_DROPPED));
    assert_false(api_task_state_terminal(API_TASK_LAUNCHED));
    assert_false(api_task_state_terminal(API_TASK_KILLING));
    assert_false(api_task_state_terminal(API_TASK_STATE_NONE));
}

/* Issue 24: a held task's hold starts at the first of its trailing held
 * updates (UNREACHABLE then UNKNOWN is one hold). */
static void test_held_since(void **state)
{
    api_task t;
    api_task_update u[4] = {{API_TASK_RUNNING, 100, NULL, NULL, NULL, NULL},
                            {API_TASK_UNREACHABLE, 200, NULL, NULL, NULL, NULL},
                            {API_TASK_RUNNING, 300, NULL, NULL, NULL, NULL},
                            {API_TASK_UNREACHABLE, 400, NULL, NULL, NULL, NULL}};

    memset(&t, 0, sizeof(t));
    t.launchedAt = 50;
    t.updatedAt = 500;
    t.taskUpdates = u;
    t.n_taskUpdates = 4;
    t.lastTaskState = API_TASK_UNREACHABLE;
    assert_int_equal(api_task_held_since(&t), 400);
    u[2].taskState = API_TASK_UNKNOWN;
    assert_int_equal(api_task_held_since(&t), 200);
    t.lastTaskState = API_TASK_RUNNING;
    assert_int_equal(api_task_held_since(&t), 0);
    t.lastTaskState = API_TASK_UNKNOWN; /* no update kept: the last change */
    t.n_taskUpdates = 0;
    assert_int_equal(api_task_held_since(&t), 500);
}

static void test_task_id_format_parse(void **state)
{
    api_task_id t, p;
    cr_err err;
    assert_int_equal(api_task_id_init(&t, "Test-Service", "v1_2.3", 1521797006456, 1,
                                      "mesos-agent1.example.com", "us-east-1a", &err),
                     0);
    assert_string_equal(t.id, "Test-Service-v1_2.3-1521797006456-1-mesos_agent1.example.com-"
                              "us_east_1a");
    assert_int_equal(api_task_id_parse(t.id, &p, &err), 0);
    assert_string_equal(p.requestId, "Test-Service");
    assert_string_equal(p.deployId, "v1_2.3");
    assert_true(p.startedAt == 1521797006456);
    assert_int_equal(p.instanceNo, 1);
    assert_string_equal(p.host, "mesos_agent1.example.com");
    assert_string_equal(p.rackId, "us_east_1a");
    assert_string_equal(p.id, t.id);
    api_task_id_release(&t);
    api_task_id_release(&p);
}

static void test_task_id_bad(void **state)
{
    api_task_id t;
    cr_err err;
    const char *bad[] = {"",
                         "a-b-c",
                         "web-v1-x-1-h-r",
                         "web-v1-1-0-h-r",
                         "web-v1-1-1-h-",
                         "-v1-1-1-h-r",
                         "web/x-v1-1-1-h-r",
                         "web-v1-99999999999999999999-1-h-r",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(api_task_id_parse(bad[i], &t, &err), -1);
        assert_int_equal(err.code, CR_EINVAL);
        assert_null(t.id);
    }
    assert_int_equal(api_task_id_init(&t, "web", "v-1", 1, 1, "h", "r", &err), -1);
    assert_non_null(strstr(err.detail, "deployId"));
    assert_int_equal(api_task_id_init(&t, "web", "v1", 1, 0, "h", "r", &err), -1);
    assert_int_equal(api_task_id_init(&t, "web", "v1", 1, 1, "", "r", &err), -1);
}

/* Issue 21: a task id is a key component (tasks/<r>/<taskId>), whatever
 * its parts; ids and parts the rules refuse make no task id. */
static void test_task_id_is_a_key(void **state)
{
    char rid[API_MAX_REQUEST_ID + 1], did[API_MAX_DEPLOY_ID + 1];
    api_task_id t;
    api_pending_task_id p;
    cr_err err;

    memset(rid, 'r', sizeof(rid) - 1);
    rid[sizeof(rid) - 1] = 0;
    memset(did, 'd', sizeof(did) - 1);
    did[sizeof(did) - 1] = 0;
    /* The longest request and deploy ids: a task id over 200 characters. */
    assert_int_equal(api_task_id_init(&t, rid, did, 1764016800000, 12,
                                      "agent-0042.rack-b.dc1.corral.example.com", "rack-1", &err),
                     0);
    assert_true(strlen(t.id) > 200);
    assert_true(api_key_id_valid(t.id));
    assert_true(api_task_id_valid(t.id));
    api_task_id_release(&t);

    assert_int_equal(api_task_id_init(&t, "web", "..", 1, 1, "h", "r", &err), -1);
    assert_non_null(strstr(err.detail, "deployId"));
    assert_int_equal(api_task_id_init(&t, "web", ".", 1, 1, "h", "r", &err), -1);
    assert_int_equal(api_task_id_init(&t, "web", "v1", 1, 1, "a host", "r", &err), -1);
    assert_int_equal(api_task_id_init(&t, "web", "v1", 1, 1, "h", "r\\1", &err), -1);
    assert_non_null(strstr(err.detail, "rackId"));
    assert_int_equal(api_task_id_init(&t, "web", "v1", 1, 1, "h\xc3\xa9", "r", &err), -1);
    assert_false(api_task_id_valid("web-..-1-1-h-r"));
    assert_false(api_task_id_valid("web-.-1-1-h-r"));
    assert_false(api_task_id_valid(NULL));
    assert_true(api_task_id_valid("web-v1-1-1-h-r"));
    assert_false(api_pending_task_id_valid("web-..-1-1-NEW_DEPLOY-1"));
    assert_true(api_pending_task_id_valid("web-v1-1-1-NEW_DEPLOY-1"));
    assert_int_equal(api_pending_task_id_init(&p, "web", "..", 1, 1, "NEW_DEPLOY", 1, &err), -1);
}

static void test_pending_id(void **state)
{
    api_pending_task_id p, q;
    cr_err err;
    assert_int_equal(api_pending_task_id_init(&p, "my-req", "d1", 100, 3, "NEW_DEPLOY", 99, &err),
                     0);
    assert_string_equal(p.id, "my-req-d1-100-3-NEW_DEPLOY-99");
    assert_int_equal(api_pending_task_id_parse(p.id, &q, &err), 0);
    assert_string_equal(q.requestId, "my-req");
    assert_string_equal(q.pendingType, "NEW_DEPLOY");
    assert_true(q.nextRunAt == 100 && q.createdAt == 99 && q.instanceNo == 3);
    api_pending_task_id_release(&p);
    api_pending_task_id_release(&q);
    assert_int_equal(api_pending_task_id_parse("my-req-d1-100-3-BOGUS-99", &q, &err), -1);
    assert_int_equal(api_pending_task_id_parse("d1-100-3-ONEOFF-99", &q, &err), -1);
    assert_int_equal(api_pending_task_id_init(&q, "r", "d", 1, 1, "nope", 1, &err), -1);
}

/* A packed pending task is the same document in one block: every field,
 * arrays and maps included, encodes as before; a copy of it is an ordinary
 * one again, which may be changed. */
static void test_pending_task_pack(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"v1\","
                             "\"nextRunAt\":5,\"instanceNo\":2,\"pendingType\":\"ONEOFF\","
                             "\"createdAt\":4},\"runId\":\"r1\",\"user\":\"web\","
                             "\"cmdLineArgsList\":[\"-x\",\"-y\"],\"envOverrides\":{\"A\":\"1\"},"
                             "\"requiredAgentAttributeOverrides\":{\"rack\":\"r1\"},"
                             "\"resources\":{\"cpus\":0.5},\"runAsUserOverride\":\"u\"}");
    api_pending_task *p = api_pending_task_from_json(j, NULL, &probs), *d;
    json_t *want = api_pending_task_to_json(p), *got;

    p = api_pending_task_pack(p); /* frees the original */
    assert_true(p->packed);
    assert_true(api_pending_task_pack(p) == p);
    got = api_pending_task_to_json(p);
    assert_true(json_equal(got, want));
    json_decref(got);
    assert_ptr_equal(p->user, p->pendingTaskId.requestId); /* "web" once */
    assert_string_equal(p->cmdLineArgsList.v[1], "-y");
    assert_true((const char *)p->cmdLineArgsList.v > (const char *)p &&
                (const char *)p->cmdLineArgsList.v < (const char *)p + 1024); /* in the block */
    d = api_pending_task_dup(p);
    assert_false(d->packed);
    api_strmap_set(&d->envOverrides, "B", "2");
    got = api_pending_task_to_json(p); /* the packed one is unchanged */
    assert_true(json_equal(got, want));
    json_decref(got);
    api_pending_task_free(d);
    api_pending_task_free(p);
    api_pending_task_free(api_pending_task_pack(NULL));
    json_decref(want);
    json_decref(j);
    api_problems_release(&probs);
}

static void test_pending_task_roundtrip(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"v1\","
                      "\"nextRunAt\":5,\"instanceNo\":2,\"pendingType\":\"ONEOFF\","
                      "\"createdAt\":4},\"runId\":\"r1\",\"cmdLineArgsList\":[\"-x\"],"
                      "\"envOverrides\":{\"A\":\"1\"},\"resources\":{\"cpus\":0.5,"
                      "\"numPorts\":2},\"skipHealthchecks\":true}");
    api_pending_task *p = api_pending_task_from_json(j, NULL, &probs);
    assert_non_null(p);
    assert_int_equal(probs.n, 0);
    assert_string_equal(p->pendingTaskId.id, "web-v1-5-2-ONEOFF-4");
    assert_string_equal(p->runId, "r1");
    assert_true(p->has_resources && p->resources.has_cpus && !p->resources.has_memoryMb);
    assert_int_equal(p->resources.numPorts, 2);
    assert_string_equal(api_strmap_get(&p->envOverrides, "A"), "1");
    json_t *out = api_pending_task_to_json(p);
    api_pending_task *p2 = api_pending_task_from_json(out, NULL, &probs);
    assert_non_null(p2);
    json_t *out2 = api_pending_task_to_json(p2);
    assert_true(json_equal(out, out2));
    /* the string form of the id is accepted too */
    json_t *j2 = cr_test_json("{\"pendingTaskId\":\"web-v1-5-2-ONEOFF-4\"}");
    api_pending_task *p3 = api_pending_task_from_json(j2, NULL, &probs);
    assert_non_null(p3);
    assert_int_equal(p3->pendingTaskId.instanceNo, 2);
    api_pending_task_free(p);
    api_pending_task_free(p2);
    api_pending_task_free(p3);
    json_decref(j);
    json_decref(j2);
    json_decref(out);
    json_decref(out2);
    api_problems_release(&probs);
}

static void test_pending_task_bad(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"v1\","
                      "\"nextRunAt\":\"x\",\"instanceNo\":2,\"pendingType\":\"ONEOFF\","
                      "\"createdAt\":4,\"id\":\"zz\"},\"bogus\":1,\"resources\":{\"cpus\":-1}}");
    assert_null(api_pending_task_from_json(j, NULL, &probs));
    char *all = api_problems_format(&probs);
    assert_non_null(strstr(all, "pendingTaskId.nextRunAt: must be an integer"));
    assert_non_null(strstr(all, "bogus: unknown field"));
    assert_non_null(strstr(all, "resources"));
    free(all);
    api_problems_release(&probs);
    /* the id string must match the parts */
    json_t *j2 = cr_test_json("{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"v1\","
                       "\"nextRunAt\":5,\"instanceNo\":2,\"pendingType\":\"ONEOFF\","
                       "\"createdAt\":4,\"id\":\"web-v1-5-2-ONEOFF-5\"}}");
    assert_null(api_pending_task_from_json(j2, NULL, &probs));
    assert_int_equal(probs.n, 1);
    api_problems_release(&probs);
    json_t *arr = cr_test_json("[]");
    assert_null(api_pending_task_from_json(arr, NULL, &probs));
    api_problems_release(&probs);
    json_decref(j);
    json_decref(j2);
    json_decref(arr);
}

static void test_cleanup(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"taskId\":\"web-v1-10-1-h1-r1\",\"cleanupType\":\"USER_REQUESTED\","
                      "\"timestamp\":12,\"killGracePeriodMillis\":2500}");
    api_cleanup *c = api_cleanup_from_json(j, NULL, &probs);
    assert_non_null(c);
    assert_string_equal(c->taskId.requestId, "web");
    assert_true(c->has_killGracePeriodMillis && c->killGracePeriodMillis == 2500);
    json_t *out = api_cleanup_to_json(c);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "taskId"), "id")),
                        "web-v1-10-1-h1-r1");
    api_cleanup *c2 = api_cleanup_from_json(out, NULL, &probs);
    assert_non_null(c2);
    assert_string_equal(c2->cleanupType, "USER_REQUESTED");
    json_t *bad = cr_test_json("{\"taskId\":\"web-v1-10-1-h1-r1\",\"killGracePeriodMillis\":-1}");
    assert_null(api_cleanup_from_json(bad, NULL, &probs));
    assert_int_equal(probs.n, 2); /* cleanupType missing, negative grace */
    api_cleanup_free(c);
    api_cleanup_free(c2);
    json_decref(j);
    json_decref(out);
    json_decref(bad);
    api_problems_release(&probs);
}

static api_task *sample_task(void)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j =
        cr_test_json("{\"taskId\":{\"requestId\":\"web\",\"deployId\":\"v1\",\"startedAt\":1700000000000,"
              "\"instanceNo\":1,\"host\":\"agent-1\",\"rackId\":\"r-1\"},"
              "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"},"
              "\"agentId\":\"S1\",\"hostname\":\"agent-1\",\"offerId\":\"O1\","
              "\"ports\":[31000,31001],\"resources\":{\"cpus\":1,\"memoryMb\":64},"
              "\"env\":{\"PORT0\":\"31000\"},\"launchedAt\":1700000000000,"
              "\"lastTaskState\":\"TASK_LAUNCHED\",\"mesosTask\":{\"name\":\"web\"}}");
    api_task *t = api_task_from_json(j, NULL, &probs);
    json_decref(j);
    api_problems_release(&probs);
    return t;
}

static void test_task_roundtrip(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_task *t = sample_task();
    assert_non_null(t);
    assert_string_equal(t->taskId.id, "web-v1-1700000000000-1-agent_1-r_1");
    assert_int_equal(t->lastTaskState, API_TASK_LAUNCHED);
    assert_int_equal(t->ports.n, 2);
    assert_true(t->ports.v[1] == 31001);
    json_t *out = api_task_to_json(t);
    api_task *t2 = api_task_from_json(out, NULL, &probs);
    assert_non_null(t2);
    json_t *out2 = api_task_to_json(t2);
    assert_true(json_equal(out, out2));
    api_task *t3 = api_task_dup(t2);
    json_t *out3 = api_task_to_json(t3);
    assert_true(json_equal(out, out3));
    api_task_free(t);
    api_task_free(t2);
    api_task_free(t3);
    json_decref(out);
    json_decref(out2);
    json_decref(out3);
    api_problems_release(&probs);
}

/* The TaskInfo is kept as compact text: decoded from any form of it,
 * encoded back as the same tree, and api_task_dump writes the bytes
 * json_dumps(api_task_to_json()) does without parsing it. */
static void test_task_mesos_task_text(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_task *t = sample_task();
    json_t *ti, *want, *j;
    char *a, *b;
    size_t n;

    assert_string_equal(t->mesosTask, "{\"name\":\"web\"}");
    assert_int_equal(t->mesosTask_len, strlen(t->mesosTask));
    want = cr_test_json("{ \"name\" : \"web\", \"resources\": [{\"scalar\": {\"value\": 0.1}}],"
                        " \"s\": \"\\u00e9\\n\" }");
    api_task_set_mesos_task(t, want);
    assert_string_equal(t->mesosTask,
                        "{\"name\":\"web\",\"resources\":[{\"scalar\":{\"value\":0.10000000000000001}}],"
                        "\"s\":\"é\\n\"}");
    ti = api_task_mesos_task(t);
    assert_true(json_equal(ti, want));
    json_decref(ti);
    j = api_task_to_json(t);
    assert_true(json_equal(json_object_get(j, "mesosTask"), want));
    a = json_dumps(j, JSON_COMPACT);
    b = api_task_dump(t, &n);
    assert_string_equal(b, a);
    assert_int_equal(n, strlen(a));
    free(b);
    /* the record decoded again keeps the same text; a copy too */
    api_task *t2 = api_task_from_json(j, NULL, &probs);
    api_task *t3 = api_task_dup(t2);
    assert_string_equal(t2->mesosTask, t->mesosTask);
    assert_string_equal(t3->mesosTask, t->mesosTask);
    assert_ptr_not_equal(t3->mesosTask, t2->mesosTask);
    /* none */
    api_task_set_mesos_task(t3, NULL);
    assert_null(t3->mesosTask);
    assert_null(api_task_mesos_task(t3));
    json_t *j3 = api_task_to_json(t3);
    assert_null(json_object_get(j3, "mesosTask"));
    char *c3 = json_dumps(j3, JSON_COMPACT), *d3 = api_task_dump(t3, NULL);
    assert_string_equal(d3, c3);
    free(c3);
    free(d3);
    json_decref(j3);
    free(a);
    json_decref(j);
    json_decref(want);
    api_task_free(t);
    api_task_free(t2);
    api_task_free(t3);
    api_problems_release(&probs);
}

static void test_task_bad_state(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"taskId\":\"web-v1-1-1-h-r\",\"pendingTask\":{\"pendingTaskId\":"
                      "\"web-v1-1-1-ONEOFF-1\"},\"agentId\":\"S1\",\"lastTaskState\":\"RUNNING\"}");
    assert_null(api_task_from_json(j, NULL, &probs));
    char *all = api_problems_format(&probs);
    assert_non_null(strstr(all, "lastTaskState: unknown task state 'RUNNING'"));
    free(all);
    json_decref(j);
    api_problems_release(&probs);
}

static void test_task_updates(void **state)
{
    api_task *t = sample_task();
    api_task_update u = {API_TASK_RUNNING,          1700000001000, NULL, NULL, "SOURCE_EXECUTOR",
                         "hTaLQ0b5Q1OZuab7QclTKQ=="};
    assert_true(api_task_update_is_new(t, &u));
    assert_true(api_task_add_update(t, &u));
    assert_int_equal(t->lastTaskState, API_TASK_RUNNING);
    /* re-delivered: same uuid */
    assert_false(api_task_update_is_new(t, &u));
    assert_false(api_task_add_update(t, &u));
    assert_int_equal(t->n_taskUpdates, 1);
    /* reconciliation answers carry no uuid: same state/message is a no-op */
    api_task_update r = {API_TASK_RUNNING, 1700000002000, "Reconciliation: latest", NULL,
                         "SOURCE_MASTER",  NULL};
    assert_true(api_task_add_update(t, &r));
    assert_false(api_task_add_update(t, &r));
    for (int i = 0; i < API_TASK_MAX_UPDATES + 5; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "m%d", i);
        api_task_update x = {API_TASK_RUNNING, i, msg, NULL, NULL, NULL};
        assert_true(api_task_add_update(t, &x));
    }
    assert_int_equal(t->n_taskUpdates, API_TASK_MAX_UPDATES);
    assert_string_equal(t->statusMessage, "m36");
    api_task_free(t);
}

/* A packed record is the same record in one allocation: every field and
 * the dump as before, strings shared within it, the common names not
 * copied at all; a copy of it is an ordinary record again. */
static void test_task_pack(void **state)
{
    api_task *t = sample_task(), *p;
    api_task_update u = {API_TASK_RUNNING, 5, "up", NULL, "SOURCE_EXECUTOR", "uuid-1"};
    json_t *ti = json_pack("{s:s, s:[i, f]}", "name", "web", "x", 1, 0.5);
    char *want, *got, *again;

    api_strmap_set(&t->env, "TASK_ID", t->taskId.id);
    api_strmap_set(&t->env, "TASK_HOST", t->taskId.host);
    api_strlist_add(&t->pendingTask.cmdLineArgsList, "--flag");
    api_strmap_set(&t->pendingTask.envOverrides, "A", "b");
    assert_true(api_task_add_update(t, &u));
    api_task_set_mesos_task(t, ti);
    want = api_task_dump(t, NULL);
    p = api_task_pack(t); /* t is freed */
    assert_true(p->packed);
    got = api_task_dump(p, NULL);
    assert_string_equal(got, want);
    assert_true(api_task_pack(p) == p); /* packed already */
    /* one copy of each distinct string; known names are constants */
    assert_ptr_equal(p->taskId.id, api_strmap_get(&p->env, "TASK_ID"));
    assert_ptr_equal(p->taskId.host, api_strmap_get(&p->env, "TASK_HOST"));
    const char *src = p->taskUpdates[p->n_taskUpdates - 1].source;
    assert_string_equal(src, "SOURCE_EXECUTOR");
    assert_false(src > (const char *)p && src < (const char *)p + 4096); /* not copied */
    assert_true((const char *)p->mesosTask > (const char *)p &&
                (const char *)p->mesosTask < (const char *)p + 4096); /* in the block */
    api_task *d = api_task_dup(p);
    assert_false(d->packed);
    assert_true(
        api_task_add_update(d, &(api_task_update){API_TASK_KILLED, 6, "x", NULL, NULL, "uuid-2"}));
    again = api_task_dump(p, NULL); /* the packed one is unchanged */
    assert_string_equal(again, want);
    api_task_free(d);
    api_task_free(p);
    json_decref(ti);
    free(want);
    free(got);
    free(again);
}

/* Packed records of different tasks share one copy of the cluster's ids
 * (framework, agent, host, rack): it lies outside both blocks, and each
 * record reads and dumps as before. An id too long for the table stays in
 * the record. */
static void test_task_pack_shares_ids(void **state)
{
    api_task *a = sample_task(), *b = sample_task(), *c = sample_task();
    char *want_a, *want_c, *got;
    char long_id[API_INTERN_MAX_LEN + 2];

    free(b->taskId.id);
    b->taskId.id = xstrdup("web-v1-1700000000001-2-agent_1-r_1");
    b->taskId.instanceNo = 2;
    a->frameworkId = xstrdup("fw-0000");
    b->frameworkId = xstrdup("fw-0000");
    api_strmap_set(&a->env, "TASK_HOST", "agent-1");
    memset(long_id, 'S', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    free(c->agentId);
    c->agentId = xstrdup(long_id);
    want_a = api_task_dump(a, NULL);
    want_c = api_task_dump(c, NULL);
    a = api_task_pack(a);
    b = api_task_pack(b);
    c = api_task_pack(c);
    assert_ptr_equal(a->frameworkId, b->frameworkId);
    assert_ptr_equal(a->agentId, b->agentId);
    assert_ptr_equal(a->hostname, b->hostname);
    assert_ptr_equal(a->taskId.host, a->hostname);
    assert_ptr_equal(a->taskId.rackId, b->taskId.rackId);
    assert_ptr_equal(api_strmap_get(&a->env, "TASK_HOST"), a->hostname); /* found, not copied */
    assert_ptr_equal(a->agentId, api_intern_find("S1"));
    assert_false(a->agentId > (const char *)a && a->agentId < (const char *)a + 4096);
    assert_false(a->agentId > (const char *)b && a->agentId < (const char *)b + 4096);
    assert_ptr_not_equal(a->taskId.id, b->taskId.id); /* the record's own */
    assert_null(api_intern_find(long_id));
    assert_true(c->agentId > (const char *)c && c->agentId < (const char *)c + 4096);
    got = api_task_dump(a, NULL);
    assert_string_equal(got, want_a);
    free(got);
    got = api_task_dump(c, NULL);
    assert_string_equal(got, want_c);
    free(got);
    free(want_a);
    free(want_c);
    api_task_free(a);
    api_task_free(b);
    api_task_free(c);
}

/* A packed record deflates its TaskInfo against a dictionary of its own
 * fields: a TaskInfo as the bridge builds it shrinks to a small part, and
 * every reader (dump, text, the TaskInfo tree, a copy) sees the same
 * bytes; one too short or too random to shrink is kept as it is, and one
 * longer than the stack buffer goes through the heap. */
static void test_task_pack_deflates(void **state)
{
    static const char *const vars[][2] = {{"INSTANCE_NO", "2"},
                                          {"TASK_HOST", "a-1"},
                                          {"TASK_REQUEST_ID", "web"},
                                          {"TASK_DEPLOY_ID", "v1"}};
    uint64_t r = 7;
    for (int kind = 0; kind < 4; kind++) {
        api_task *t = sample_task(), *p, *d;
        json_t *ti, *env = json_array(), *back;
        char *want, *got, *text, *dtext;

        api_strmap_set(&t->env, "TASK_ID", t->taskId.id);
        for (size_t i = 0; i < 4; i++) {
            api_strmap_set(&t->env, vars[i][0], vars[i][1]);
            json_array_append_new(env,
                                  json_pack("{s:s,s:s}", "name", vars[i][0], "value", vars[i][1]));
        }
        json_array_append_new(env,
                              json_pack("{s:s,s:s}", "name", "TASK_ID", "value", t->taskId.id));
        if (kind == 0) { /* as the bridge builds it */
            ti = json_pack("{s:s,s:{s:s},s:{s:s},s:[{s:s,s:s,s:{s:f},s:s}],s:{s:b,s:s,s:{s:o}}}",
                           "name", "web", "task_id", "value", t->taskId.id, "agent_id", "value",
                           "agent-S1", "resources", "name", "cpus", "type", "SCALAR", "scalar",
                           "value", 0.1, "role", "*", "command", "shell", 1, "value",
                           "sleep 1000000", "environment", "variables", env);
        } else if (kind == 1) { /* too short to shrink */
            json_decref(env);
            ti = json_object();
        } else if (kind == 2) { /* a few random bytes do not shrink */
            char junk[13];
            for (size_t i = 0; i + 1 < sizeof(junk); i++)
                junk[i] = (char)('a' + cr_test_rand(&r, 26));
            junk[sizeof(junk) - 1] = '\0';
            json_decref(env);
            ti = json_pack("{s:s}", "q", junk);
        } else { /* longer than the 4 KB stack buffer */
            json_t *labels = json_array();
            for (int i = 0; i < 300; i++)
                json_array_append_new(labels, json_pack("{s:s,s:i}", "key", "k", "value", i));
            ti = json_pack("{s:o,s:o}", "labels", labels, "env", env);
        }
        api_task_set_mesos_task(t, ti);
        want = api_task_dump(t, NULL);
        p = api_task_pack(t);
        if (kind == 0) {
            assert_true(p->mesosTask_zlen > 0);
            assert_true(p->mesosTask_zlen * 4 < p->mesosTask_len);
        } else if (kind == 3) {
            assert_true(p->mesosTask_len > 4096 && p->mesosTask_zlen > 0);
        } else {
            assert_int_equal(p->mesosTask_zlen, 0);
        }
        got = api_task_dump(p, NULL);
        assert_string_equal(got, want);
        text = api_task_text(p, NULL);
        assert_string_equal(text, want);
        back = api_task_mesos_task(p);
        assert_true(json_equal(back, ti));
        d = api_task_dup(p);
        assert_int_equal(d->mesosTask_zlen, 0);
        dtext = api_task_dump(d, NULL);
        assert_string_equal(dtext, want);
        api_task_free(d);
        api_task_free(p);
        json_decref(back);
        json_decref(ti);
        free(want);
        free(got);
        free(text);
        free(dtext);
    }
}

/* api_task_text writes api_task_dump's bytes: for every field, strings
 * that need escapes or are not ASCII, reals, empty and absent parts. */
static void test_task_text(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    static const char *const recs[] = {
        "{\"taskId\":{\"requestId\":\"web\",\"deployId\":\"v1\",\"startedAt\":1,"
        "\"instanceNo\":2,\"host\":\"a-1\",\"rackId\":\"r-1\"},"
        "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-2-ONEOFF-1\",\"runId\":\"q\\\"x\","
        "\"user\":\"\u00e9t\u00e9\",\"message\":\"line\\nnext\\t/\",\"actionId\":\"\","
        "\"cmdLineArgsList\":[\"-a\",\"b c\",\"\\u0001\"],"
        "\"envOverrides\":{\"K\":\"v\",\"\u00fc\":\"\"},"
        "\"resources\":{\"cpus\":0.1,\"memoryMb\":1e3,\"diskMb\":0,\"numPorts\":2},"
        "\"requiredAgentAttributeOverrides\":{\"rack\":\"r1\"},"
        "\"allowedAgentAttributeOverrides\":{\"z\":\"y\"},\"skipHealthchecks\":true,"
        "\"runAsUserOverride\":\"nobody\"},"
        "\"frameworkId\":\"F\",\"agentId\":\"S1\",\"hostname\":\"a-1\",\"offerId\":\"O1\","
        "\"executorId\":\"E\",\"ports\":[-1,0,9223372036854775807],"
        "\"resources\":{\"cpus\":0.30000000000000004,\"memoryMb\":64.5,\"diskMb\":1e-7},"
        "\"env\":{\"PORT0\":\"31000\",\"\":\"empty\"},\"killGracePeriodMillis\":0,"
        "\"launchedAt\":-5,\"lastTaskState\":\"TASK_FAILED\",\"updatedAt\":7,"
        "\"statusMessage\":\"\\\\ back\",\"statusReason\":\"REASON\",\"healthy\":false,"
        "\"exitCode\":-2,\"taskUpdates\":[{\"taskState\":\"TASK_RUNNING\",\"timestamp\":3},"
        "{\"taskState\":\"TASK_FAILED\",\"timestamp\":4,\"statusMessage\":\"\u2603\","
        "\"statusReason\":\"R\",\"source\":\"SOURCE_AGENT\",\"uuid\":\"u+/=\"}],"
        "\"mesosTask\":{\"name\":\"web\",\"x\":[1.5,\"\\u00e9\"]}}",
        "{\"taskId\":{\"requestId\":\"r\",\"deployId\":\"d\",\"startedAt\":0,\"instanceNo\":1,"
        "\"host\":\"h\",\"rackId\":\"k\"},\"pendingTask\":{\"pendingTaskId\":\"r-d-0-1-RETRY-0\"},"
        "\"agentId\":\"a\",\"lastTaskState\":\"TASK_LAUNCHED\",\"healthy\":true}",
    };

    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        json_t *j = cr_test_json(recs[i]);
        api_task *t = api_task_from_json(j, NULL, &probs);
        assert_non_null(t);
        size_t n1 = 0, n2 = 0;
        char *want = api_task_dump(t, &n1), *got = api_task_text(t, &n2);
        assert_string_equal(got, want);
        assert_int_equal(n1, n2);
        /* not faithful (the task id is not given in full): never detached */
        assert_false(api_task_detach_text(t, want, n1));
        /* decoded from the dump, it is: those bytes are its text again */
        json_t *dj = cr_test_json(want);
        api_task *d = api_task_from_json(dj, NULL, &probs);
        assert_true(d->faithful);
        assert_true(api_task_detach_text(d, want, n1));
        assert_false(api_task_detach_text(d, " ", 1));
        api_task_free(d);
        json_decref(dj);
        free(want);
        free(got);
        api_task_free(t);
        json_decref(j);
    }
    api_problems_release(&probs);
}

/* A record as the bridge writes it (test/apiserver/fixtures/task-records.txt). */
static const char BRIDGE_RECORD[] = "{\"taskId\":{\"id\":\"svc00000-v1-1796534892065-1-sim_agent_0-"
                                    "r1\",\"requestId\":\"svc00000\",\"dep"
                                    "loyId\":\"v1\",\"startedAt\":1796534892065,\"instanceNo\":1,"
                                    "\"host\":\"sim-agent-0\",\"rackId\":\"r1\","
                                    "\"sanitizedHost\":\"sim_agent_0\",\"sanitizedRackId\":\"r1\"},"
                                    "\"pendingTask\":{\"pendingTaskId\":{\"i"
                                    "d\":\"svc00000-v1-1796534892060-1-NEW_DEPLOY-1796534892060\","
                                    "\"requestId\":\"svc00000\",\"deploy"
                                    "Id\":\"v1\",\"nextRunAt\":1796534892060,\"instanceNo\":1,"
                                    "\"pendingType\":\"NEW_DEPLOY\",\"createdAt\""
                                    ":1796534892060}},\"frameworkId\":\"cc4cb712-c2c7-4b80-8dd8-"
                                    "e266a8ab26c2-0000\",\"agentId\":\"cc"
                                    "4cb712-c2c7-4b80-8dd8-e266a8ab26c2-S0\",\"hostname\":\"sim-"
                                    "agent-0\",\"offerId\":\"cc4cb712-c2c7"
                                    "-4b80-8dd8-e266a8ab26c2-O1\",\"ports\":[],\"resources\":{"
                                    "\"cpus\":0.10000000000000001,\"memoryMb"
                                    "\":64.0,\"diskMb\":0.0,\"numPorts\":0},\"env\":{\"INSTANCE_"
                                    "NO\":\"1\",\"TASK_HOST\":\"sim-agent-0\",\"TA"
                                    "SK_RACK_ID\":\"r1\",\"AVAILABILITY_ZONE\":\"r1\",\"TASK_"
                                    "REQUEST_ID\":\"svc00000\",\"TASK_DEPLOY_ID\":"
                                    "\"v1\",\"TASK_ID\":\"svc00000-v1-1796534892065-1-sim_agent_0-"
                                    "r1\",\"ESTIMATED_INSTANCE_COUNT\":\""
                                    "3\"},\"launchedAt\":1796534892065,\"lastTaskState\":\"TASK_"
                                    "RUNNING\",\"updatedAt\":1796534892072,"
                                    "\"taskUpdates\":[{\"taskState\":\"TASK_STARTING\","
                                    "\"timestamp\":1796534892072,\"source\":\"SOURCE_E"
                                    "XECUTOR\",\"uuid\":\"tCRrMCthTjes8aXmgSuquw==\"},{"
                                    "\"taskState\":\"TASK_RUNNING\",\"timestamp\":1796"
                                    "534892072,\"source\":\"SOURCE_EXECUTOR\",\"uuid\":"
                                    "\"AQhTfp0zTBWjmuvM2+7FEA==\"}],\"mesosTask\":{\"n"
                                    "ame\":\"svc00000\",\"task_id\":{\"value\":\"svc00000-v1-"
                                    "1796534892065-1-sim_agent_0-r1\"},\"agent_"
                                    "id\":{\"value\":\"cc4cb712-c2c7-4b80-8dd8-e266a8ab26c2-S0\"},"
                                    "\"resources\":[{\"name\":\"cpus\",\"typ"
                                    "e\":\"SCALAR\",\"scalar\":{\"value\":0.10000000000000001},"
                                    "\"role\":\"*\",\"allocation_info\":{\"role\":"
                                    "\"*\"}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{"
                                    "\"value\":64.0},\"role\":\"*\",\"allocation_info\""
                                    ":{\"role\":\"*\"}}],\"command\":{\"shell\":true,\"value\":"
                                    "\"sleep 1000000\",\"environment\":{\"variable"
                                    "s\":[{\"name\":\"INSTANCE_NO\",\"value\":\"1\"},{\"name\":"
                                    "\"TASK_HOST\",\"value\":\"sim-agent-0\"},{\"name"
                                    "\":\"TASK_RACK_ID\",\"value\":\"r1\"},{\"name\":"
                                    "\"AVAILABILITY_ZONE\",\"value\":\"r1\"},{\"name\":\"TASK_R"
                                    "EQUEST_ID\",\"value\":\"svc00000\"},{\"name\":\"TASK_DEPLOY_"
                                    "ID\",\"value\":\"v1\"},{\"name\":\"TASK_ID\","
                                    "\"value\":\"svc00000-v1-1796534892065-1-sim_agent_0-r1\"},{"
                                    "\"name\":\"ESTIMATED_INSTANCE_COUNT\""
                                    ",\"value\":\"3\"}]}}}}";

/* Whether own (api_task_from_own_text's record of text) is the record the
 * usual way gives: jansson reads text with no key twice, the record decodes
 * with no problem, and both write text again and encode alike. */
static void assert_usual_way_agrees(const api_task *own, const char *text, size_t len)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    api_task *t;
    json_t *a, *b;
    char *again;
    size_t n = 0;

    assert_non_null(j);
    t = api_task_from_text(j, text, len, &open, &probs);
    assert_non_null(t);
    assert_int_equal(probs.n, 0);
    assert_true(api_task_detach_text(t, text, len));
    again = api_task_text(own, &n);
    assert_int_equal(n, len);
    assert_memory_equal(again, text, len);
    a = api_task_to_json(own);
    b = api_task_to_json(t);
    assert_true(json_equal(a, b));
    assert_false(own->mesosTask_borrowed); /* its own bytes: text may go */
    json_decref(a);
    json_decref(b);
    free(again);
    api_task_free(t);
    json_decref(j);
    api_problems_release(&probs);
}

/* api_task_from_own_text takes a record's own dump, whatever its TaskInfo
 * holds (ASCII taken as it is; escapes and other bytes written from the
 * tree and compared), and gives the record the usual way decodes. */
static void test_task_from_own_text(void **state)
{
    static const char *const recs[] = {
        BRIDGE_RECORD,
        "{\"taskId\":{\"requestId\":\"web\",\"deployId\":\"v1\",\"startedAt\":1,"
        "\"instanceNo\":2,\"host\":\"a-1\",\"rackId\":\"r-1\"},"
        "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-2-ONEOFF-1\",\"runId\":\"q\\\"x\","
        "\"user\":\"\u00e9t\u00e9\",\"message\":\"line\\nnext\"},"
        "\"agentId\":\"S1\",\"ports\":[-1,0,9223372036854775807],"
        "\"resources\":{\"cpus\":0.30000000000000004,\"diskMb\":1e-7},"
        "\"env\":{\"PORT0\":\"31000\",\"\":\"empty\"},\"lastTaskState\":\"TASK_FAILED\","
        "\"mesosTask\":{\"name\":\"web\",\"x\":[1.5,\"\\u00e9\",\"\\\\\"],\"y\":{\"z\":null}}}",
        "{\"taskId\":{\"requestId\":\"r\",\"deployId\":\"d\",\"startedAt\":0,\"instanceNo\":1,"
        "\"host\":\"h\",\"rackId\":\"k\"},\"pendingTask\":{\"pendingTaskId\":\"r-d-0-1-RETRY-0\"},"
        "\"agentId\":\"a\",\"lastTaskState\":\"TASK_LAUNCHED\",\"healthy\":true}",
    };
    api_problems probs = API_PROBLEMS_INIT;

    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        json_t *j = cr_test_json(recs[i]);
        api_task *t = api_task_from_json(j, NULL, &probs), *own;
        size_t n = 0;
        char *dump;

        assert_non_null(t);
        dump = api_task_dump(t, &n);
        own = api_task_from_own_text(dump, n);
        assert_non_null(own);
        assert_usual_way_agrees(own, dump, n);
        api_task_free(own);
        free(dump);
        api_task_free(t);
        json_decref(j);
    }
    api_problems_release(&probs);
}

/* BRIDGE_RECORD with its first `from` replaced by `to` (caller frees). */
static char *edited(const char *from, const char *to)
{
    const char *at = strstr(BRIDGE_RECORD, from);
    assert_non_null(at);
    return xasprintf("%.*s%s%s", (int)(at - BRIDGE_RECORD), BRIDGE_RECORD, to, at + strlen(from));
}

/* Any other text is refused, the usual way left to say what it is:
 * jansson refuses what is not JSON (a TaskInfo's bytes included, which
 * the record's text carries as they are), and a text that is JSON but not
 * the record's own dump decodes as before. */
static void test_task_own_text_refused(void **state)
{
    static const struct {
        const char *from, *to;
        bool json; /* jansson reads it (no key twice) */
    } cases[] = {
        {"{\"taskId\"", " {\"taskId\"", true},            /* whitespace */
        {"\"agentId\"", "\"extra\":1,\"agentId\"", true}, /* a field it lacks */
        {"\"agentId\":\"cc4cb712-c2c7-4b80-8dd8-e266a8ab26c2-S0\",\"hostname\":\"sim-agent-0\"",
         "\"hostname\":\"sim-agent-0\",\"agentId\":\"cc4cb712-c2c7-4b80-8dd8-e266a8ab26c2-S0\"",
         true},                                                           /* fields reordered */
        {"\"launchedAt\"", "\"agentId\":\"x\",\"launchedAt\"", false},    /* a key twice */
        {"\"instanceNo\":1,\"host\"", "\"instanceNo\":2,\"host\"", true}, /* id disowns its parts */
        {"\"name\":\"svc00000\"", "\"name\":\"svc\xff\"", false},         /* not UTF-8 */
        {"\"name\":\"svc00000\"", "\"name\":\"svc\x01\"", false},         /* a raw control */
        {"\"name\":\"svc00000\"", "\"name\":\"\\ud800\"", false},         /* a lone surrogate */
        {"\"name\":\"svc00000\"", "\"name\":\"a\",\"name\":\"b\"", false},
        {"\"name\":\"svc00000\",", "\"name\":\"svc00000\" ", false}, /* no comma */
        {"\"shell\":true", "\"shell\":tru", false},
        {"\"value\":64.0", "\"value\":99999999999999999999", false}, /* too big */
        {"\"value\":64.0", "\"value\":-0", true},                    /* jansson writes 0 */
        {"\"value\":64.0", "\"value\":64.00", true},                 /* ...and 64.0 */
        {"\"value\":64.0", "\"value\":01", false},
        {"\"role\":\"*\"}", "\"role\":\"*\",}", false},
        {"\"shell\":true",
         "\"shell\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "]",
         true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = edited(cases[i].from, cases[i].to);
        size_t len = strlen(text);
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);

        assert_null(api_task_from_own_text(text, len));
        assert_int_equal(j != NULL, cases[i].json);
        json_decref(j);
        free(text);
    }
    /* bytes that are nothing, and nesting no reader should follow */
    assert_null(api_task_from_own_text("", 0));
    assert_null(api_task_from_own_text("{", 1));
    assert_null(api_task_from_own_text("\"}", 2));
    char *deep = xcalloc(1, 200001);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    assert_null(api_task_from_own_text(deep, 200000));
    memset(deep, '{', 100000);
    assert_null(api_task_from_own_text(deep, 100000));
    free(deep);
}

/* A few thousand edits of the bridge's record (a fixed seed): whatever
 * api_task_from_own_text takes, the usual way reads the same. */
static void test_task_own_text_edits(void **state)
{
    static const char bytes[] = "\xff\x01\"\\,:{}[] 0-.eEa9t";
    size_t base = strlen(BRIDGE_RECORD), taken = 0, refused = 0;
    unsigned seed = 12345;
    char *text = xmalloc(base + 8);

    for (int round = 0; round < 3000; round++) {
        size_t len = base;
        memcpy(text, BRIDGE_RECORD, base);
        for (int e = 0; e < 1 + round % 2; e++) {
            size_t at;
            seed = seed * 1103515245u + 12345u;
            at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            char b = bytes[(seed >> 8) % (sizeof(bytes) - 1)];
            switch ((seed >> 20) % 3) {
            case 0: /* replace */
                text[at] = b;
                break;
            case 1: /* insert */
                memmove(text + at + 1, text + at, len - at);
                text[at] = b;
                len++;
                break;
            default: /* delete */
                memmove(text + at, text + at + 1, len - at - 1);
                len--;
            }
        }
        api_task *own = api_task_from_own_text(text, len);
        if (own) {
            assert_usual_way_agrees(own, text, len);
            taken++;
        } else {
            refused++;
        }
        api_task_free(own);
    }
    /* both ways were taken: edits inside strings keep some texts own dumps */
    assert_true(taken > 50);
    assert_true(refused > 1000);
    free(text);
}

static void test_keys(void **state)
{
    char *k = api_task_key("/corral", "web", "web-v1-1-1-h-r");
    assert_string_equal(k, "/corral/tasks/web/web-v1-1-1-h-r");
    free(k);
    k = api_pending_key("/corral", "web", "p");
    assert_string_equal(k, "/corral/pending/web/p");
    free(k);
    k = api_cleanup_key("/x", "t");
    assert_string_equal(k, "/x/cleanups/t");
    free(k);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_state_names),
    cmocka_unit_test(test_held_since),
    cmocka_unit_test(test_task_id_format_parse),
    cmocka_unit_test(test_task_id_bad),
    cmocka_unit_test(test_task_id_is_a_key),
    cmocka_unit_test(test_pending_id),
    cmocka_unit_test(test_pending_task_roundtrip),
    cmocka_unit_test(test_pending_task_pack),
    cmocka_unit_test(test_pending_task_bad),
    cmocka_unit_test(test_cleanup),
    cmocka_unit_test(test_task_roundtrip),
    cmocka_unit_test(test_task_mesos_task_text),
    cmocka_unit_test(test_task_bad_state),
    cmocka_unit_test(test_task_updates),
    cmocka_unit_test(test_task_pack),
    cmocka_unit_test(test_task_pack_shares_ids),
    cmocka_unit_test(test_task_pack_deflates),
    cmocka_unit_test(test_task_text),
    cmocka_unit_test(test_task_from_own_text),
    cmocka_unit_test(test_task_own_text_refused),
    cmocka_unit_test(test_task_own_text_edits),
    cmocka_unit_test(test_keys),
};

CR_TEST_MAIN(tests)
