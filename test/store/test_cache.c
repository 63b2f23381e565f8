/* store_cache fed by hand (no etcd): ordering and ranges, subscribers told
 * once per change (also when one leaves during a dispatch), typed documents
 * and their problems, references that outlive the cache. */
#include "test/lib/cr_test.h"

#include <string.h>

#include <jansson.h>

#include "apis/deploy.h"
#include "apis/machine.h"
#include "apis/request.h"
#include "apis/status.h"
#include "apis/task.h"
#include "base/xalloc.h"
#include "store/cache.h"

typedef struct sub {
    store_cache *c;
    int changes, synced, revisions;
    struct sub *drop; /* unsubscribes this one at its first change */
} sub;

static void on_change(void *arg, const store_obj *old, const store_obj *cur)
{
    sub *s = arg;
    s->changes++;
    if (s->drop) {
        store_cache_unsubscribe(s->c, s->drop);
        s->drop = NULL;
    }
}

static void on_synced(void *arg)
{
    ((sub *)arg)->synced++;
}

static void on_revision(void *arg, int64_t rev)
{
    ((sub *)arg)->revisions++;
}

static const store_cache_handlers H = {on_change, on_revision, on_synced};

static void put(store_cache *c, const char *key, const char *json, int64_t rev)
{
    store_cache_feed_raw(c, key, json, strlen(json), rev, rev);
}

static void test_order_and_ranges(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    size_t first;

    put(c, "/corral/requests/b", "{}", 3);
    put(c, "/corral/requests/a", "{}", 2);
    put(c, "/corral/requests/ab", "not json", 4);
    put(c, "/corral/tasks/a/t1", "{}", 5);
    assert_int_equal(store_cache_len(c), 4);
    assert_int_equal(store_cache_revision(c), 5);
    assert_int_equal(store_cache_range(c, "/corral/requests/", &first), 3);
    assert_string_equal(store_cache_at(c, first)->key, "/corral/requests/a");
    assert_string_equal(store_cache_at(c, first + 1)->key, "/corral/requests/ab");
    assert_null(store_cache_get(c, "/corral/requests/ab")->value);
    assert_non_null(store_cache_get(c, "/corral/requests/ab")->error);
    assert_int_equal(store_cache_range(c, "/corral/x", &first), 0);
    assert_null(store_cache_at(c, 99));
    store_cache_feed_delete(c, "/corral/requests/a", 6);
    store_cache_feed_delete(c, "/corral/requests/none", 7);
    assert_int_equal(store_cache_len(c), 3);
    assert_int_equal(store_cache_revision(c), 7);
    store_cache_feed_revision(c, 3); /* never goes back */
    assert_int_equal(store_cache_revision(c), 7);
    /* a cache that was never given a store cannot start */
    cr_err err;
    assert_int_equal(store_cache_start(c, &err), -1);
    store_cache_free(c);
    store_cache_free(NULL);
}

static void test_subscribers(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    sub a = {.c = c}, b = {.c = c};

    assert_int_equal(store_cache_subscribe(c, &H, &a), 0);
    assert_int_equal(store_cache_subscribe(c, &H, &b), 0);
    a.drop = &b; /* a runs first and removes b within the same dispatch */
    put(c, "/corral/requests/x", "{}", 1);
    assert_int_equal(a.changes, 1);
    assert_int_equal(b.changes, 0);
    put(c, "/corral/requests/x", "{\"id\":\"x\"}", 2);
    assert_int_equal(a.changes, 2);
    assert_int_equal(b.changes, 0);
    store_cache_feed_synced(c, true);
    store_cache_feed_revision(c, 9);
    assert_int_equal(a.synced, 1);
    assert_int_equal(a.revisions, 1);
    assert_true(store_cache_synced(c));
    store_cache_feed_clear(c);
    assert_false(store_cache_synced(c));
    assert_int_equal(store_cache_len(c), 0);
    store_cache_unsubscribe(c, &a);
    put(c, "/corral/requests/y", "{}", 10);
    assert_int_equal(a.changes, 2);
    store_cache_free(c);
}

/* An object's ids live in its own block (the last one is the key's tail):
 * right for keys of one, two and three parts, whether the object keeps
 * its text, drops it or keeps its tree, and for keys outside the layout. */
static void test_key_ids(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const struct {
        const char *key, *value, *id1, *id2, *id3;
    } cases[] = {
        {"/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\"}", "web", NULL, NULL},
        {"/corral/deploys/web/v1", "{\"requestId\":\"web\",\"id\":\"v1\"}", "web", "v1", NULL},
        {"/corral/intents/deploys/web/v1/cancel", "{}", "web", "v1", "cancel"},
        {"/corral/agents/S1", "{\"id\":\"S1\",\"host\":\"h\"}", "S1", NULL, NULL},
        {"/corral/tasks/web/web-v1-1-1-h-r", "not json", "web", "web-v1-1-1-h-r", NULL},
        {"/corral/pending/web/web-v1-1-1-NEW_DEPLOY-1",
         "{\"pendingTaskId\":{\"id\":\"web-v1-1-1-NEW_DEPLOY-1\",\"requestId\":\"web\","
         "\"deployId\":\"v1\",\"nextRunAt\":1,\"instanceNo\":1,\"pendingType\":"
         "\"NEW_DEPLOY\",\"createdAt\":1}}",
         "web", "web-v1-1-1-NEW_DEPLOY-1", NULL},
        {"/corral/leader", "{}", NULL, NULL, NULL},
        {"/corral/no/such/kind", "{}", NULL, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const store_obj *o;

        put(c, cases[i].key, cases[i].value, 1 + (int64_t)i);
        o = store_cache_get(c, cases[i].key);
        assert_non_null(o);
        assert_string_equal(o->key, cases[i].key);
        if (cases[i].id1)
            assert_string_equal(o->id1, cases[i].id1);
        else
            assert_null(o->id1);
        if (cases[i].id2)
            assert_string_equal(o->id2, cases[i].id2);
        else
            assert_null(o->id2);
        if (cases[i].id3)
            assert_string_equal(o->id3, cases[i].id3);
        else
            assert_null(o->id3);
    }
    store_cache_free(c);
}

static void test_typed_documents_and_refs(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    const store_obj *o;

    put(c, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":3}", 1);
    o = store_cache_get(c, "/corral/requests/web");
    assert_int_equal(o->kind, API_KEY_REQUEST);
    assert_string_equal(o->id1, "web");
    assert_null(o->error);
    assert_int_equal(((const api_request *)o->doc)->instances, 3);

    /* invalid: no typed document, and a problem that names the field */
    put(c, "/corral/requests/bad", "{\"id\":\"bad\",\"instances\":\"three\"}", 2);
    o = store_cache_get(c, "/corral/requests/bad");
    assert_non_null(o->error);
    assert_non_null(strstr(o->error, "instances"));

    /* a pending task: typed, ids taken from the key */
    put(c, "/corral/pending/web/web-v1-1-1", "{}", 3);
    o = store_cache_get(c, "/corral/pending/web/web-v1-1-1");
    assert_int_equal(o->kind, API_KEY_PENDING);
    assert_string_equal(o->id2, "web-v1-1-1");

    /* kept past a replacement and past the cache itself */
    const store_obj *kept = store_obj_ref(store_cache_get(c, "/corral/requests/web"));
    put(c, "/corral/requests/web", "{\"id\":\"web\",\"requestType\":\"SERVICE\",\"instances\":4}", 4);
    assert_int_equal(((const api_request *)store_cache_get(c, "/corral/requests/web")->doc)->instances,
                     4);
    store_cache_free(c);
    assert_int_equal(((const api_request *)kept->doc)->instances, 3);
    store_obj_unref(kept);
    store_obj_unref(NULL);
}

static void test_feed_json(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    store_cache_feed_json(c, "/corral/agents/a1", json_pack("{s:s}", "id", "a1"), 1, 1);
    store_cache_feed_json(c, "/corral/agents/a2", NULL, 2, 2);
    const store_obj *o = store_cache_get(c, "/corral/agents/a1");
    assert_int_equal(o->kind, API_KEY_AGENT);
    json_t *v = store_obj_json(o); /* a valid machine is kept as text */
    assert_string_equal(json_string_value(json_object_get(v, "id")), "a1");
    json_decref(v);
    assert_null(store_obj_json(store_cache_get(c, "/corral/agents/a2")));
    store_cache_stats st;
    store_cache_get_stats(c, &st);
    assert_int_equal(st.objects, 2);
    assert_int_equal(st.decodes, 2);
    store_cache_free(c);
}

/* Task records and their history are kept as text (api_doc_text): the
 * exact bytes, no tree, the typed document still decoded; readers get a
 * tree through store_obj_json and a walkable text through
 * store_obj_plain_text. Other kinds keep their tree. */
static void test_text_kinds(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char rec[] =
        " {\"taskId\": {\"id\":\"web-v1-1-1-h-r\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1,\"instanceNo\":1,\"host\":\"h\",\"rackId\":\"r\"},"
        "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"},\"agentId\":\"a\","
        "\"lastTaskState\":\"TASK_RUNNING\",\"resources\":{\"cpus\":0.10000000000000001},"
        "\"mesosTask\":{\"name\" : \"web\"}} ";
    const store_obj *o;
    size_t len;
    char *owned;
    const char *text;
    json_t *j, *want;

    put(c, "/corral/tasks/web/web-v1-1-1-h-r", rec, 1);
    o = store_cache_get(c, "/corral/tasks/web/web-v1-1-1-h-r");
    assert_int_equal(o->kind, API_KEY_TASK);
    assert_null(o->value); /* no tree */
    assert_null(o->error);
    text = store_obj_text(o, &len);
    assert_int_equal(len, sizeof(rec) - 1);
    assert_memory_equal(text, rec, len); /* etcd's bytes */
    assert_int_equal(o->value_len, len);
    const api_task *t = o->doc;
    assert_non_null(t);
    assert_string_equal(t->agentId, "a");
    assert_string_equal(t->mesosTask, "{\"name\":\"web\"}"); /* the TaskInfo as compact text */
    /* a tree on demand: a new reference each time, equal to jansson's parse */
    j = store_obj_json(o);
    want = json_loads(rec, 0, NULL);
    assert_true(json_equal(j, want));
    json_t *j2 = store_obj_json(o);
    assert_ptr_not_equal(j, j2);
    json_decref(j2);
    json_decref(j);
    json_decref(want);
    /* no key twice: the text itself is walkable */
    assert_ptr_equal(store_obj_plain_text(o, &len, &owned), text);
    assert_null(owned);

    /* as the bridge writes it (compact): the TaskInfo is borrowed from the
     * kept text, not copied */
    static const char compact[] =
        "{\"taskId\":{\"id\":\"web-v1-1-2-h-r\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1,\"instanceNo\":2,\"host\":\"h\",\"rackId\":\"r\"},"
        "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-2-NEW_DEPLOY-1\"},\"agentId\":\"a\","
        "\"lastTaskState\":\"TASK_RUNNING\",\"mesosTask\":{\"name\":\"web\",\"cpus\":0.10000000000000001}}";
    put(c, "/corral/tasks/web/web-v1-1-2-h-r", compact, 10);
    o = store_cache_get(c, "/corral/tasks/web/web-v1-1-2-h-r");
    t = o->doc;
    assert_non_null(t);
    assert_true(t->faithful);
    assert_true(t->mesosTask_borrowed);
    text = store_obj_text(o, &len);
    assert_true(t->mesosTask > text && t->mesosTask + t->mesosTask_len < text + len);
    assert_int_equal(t->mesosTask_len, strlen("{\"name\":\"web\",\"cpus\":0.10000000000000001}"));
    assert_memory_equal(t->mesosTask, "{\"name\":\"web\",\"cpus\":0.10000000000000001}",
                        t->mesosTask_len);
    api_task *copy = api_task_dup(t); /* a copy owns its own */
    assert_false(copy->mesosTask_borrowed);
    assert_ptr_not_equal(copy->mesosTask, t->mesosTask);
    assert_memory_equal(copy->mesosTask, t->mesosTask, t->mesosTask_len);
    json_t *cj = api_task_to_json(copy);
    char *d1 = api_task_dump(copy, NULL), *d2 = json_dumps(cj, JSON_COMPACT);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    json_decref(cj);
    api_task_free(copy);

    /* a repeated key: jansson's reading (the last wins) in both accessors */
    put(c, "/corral/history/tasks/web/t2", "{\"a\":1,\"b\":2,\"a\":3}", 2);
    o = store_cache_get(c, "/corral/history/tasks/web/t2");
    assert_int_equal(o->kind, API_KEY_HISTORY_TASK);
    assert_null(o->value);
    assert_null(o->doc); /* history has no typed form */
    assert_null(o->error);
    j = store_obj_json(o);
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 3);
    json_decref(j);
    text = store_obj_plain_text(o, &len, &owned);
    assert_non_null(owned);
    assert_string_equal(text, "{\"a\":3,\"b\":2}");
    assert_int_equal(len, strlen(text));
    free(owned);
    assert_string_equal(store_obj_text(o, NULL), "{\"a\":1,\"b\":2,\"a\":3}");

    /* not JSON: the bytes are kept, there is no tree */
    put(c, "/corral/tasks/web/t3", "{oops", 3);
    o = store_cache_get(c, "/corral/tasks/web/t3");
    assert_non_null(o->error);
    assert_string_equal(store_obj_text(o, NULL), "{oops");
    assert_null(store_obj_json(o));
    assert_null(store_obj_plain_text(o, &len, &owned));
    assert_null(owned);

    /* fed as a tree: kept as its compact text */
    store_cache_feed_json(c, "/corral/tasks/web/t4", json_pack("{s:s, s:f}", "x", "y", "n", 0.5),
                          4, 4);
    o = store_cache_get(c, "/corral/tasks/web/t4");
    assert_null(o->value);
    assert_string_equal(store_obj_text(o, &len), "{\"x\":\"y\",\"n\":0.5}");
    assert_int_equal(o->value_len, len);
    store_cache_feed_json(c, "/corral/tasks/web/t5", NULL, 5, 5);
    assert_string_equal(store_obj_text(store_cache_get(c, "/corral/tasks/web/t5"), NULL), "");

    /* other kinds: the tree, shared; no text */
    put(c, "/corral/requests/web", "{\"id\": \"web\"}", 6);
    o = store_cache_get(c, "/corral/requests/web");
    assert_null(store_obj_text(o, &len));
    j = store_obj_json(o);
    assert_ptr_equal(j, o->value);
    json_decref(j);
    text = store_obj_plain_text(o, &len, &owned);
    assert_string_equal(text, "{\"id\":\"web\"}");
    free(owned);
    assert_null(store_obj_json(NULL));

    /* a reference keeps the text past a replacement and past the cache */
    const store_obj *kept = store_obj_ref(store_cache_get(c, "/corral/tasks/web/t4"));
    put(c, "/corral/tasks/web/t4", "{}", 7);
    store_cache_free(c);
    assert_string_equal(store_obj_text(kept, NULL), "{\"x\":\"y\",\"n\":0.5}");
    store_obj_unref(kept);
}

/* A record as the bridge stores it (api_task_dump's bytes) keeps only its
 * document: no text in the cache, every accessor gives etcd's bytes or
 * their tree again, and the TaskInfo is the document's own. */
static void test_text_written_again(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char rec[] =
        "{\"taskId\":{\"id\":\"web-v1-1-1-h-r\",\"requestId\":\"web\",\"deployId\":\"v1\","
        "\"startedAt\":1,\"instanceNo\":1,\"host\":\"h\",\"rackId\":\"r\"},"
        "\"pendingTask\":{\"pendingTaskId\":\"web-v1-1-1-NEW_DEPLOY-1\"},\"agentId\":\"a\","
        "\"lastTaskState\":\"TASK_RUNNING\",\"resources\":{\"cpus\":0.1},"
        "\"mesosTask\":{\"name\":\"web\",\"x\":[1,2.5,\"\\u00e9\"]}}";
    api_problems probs = API_PROBLEMS_INIT;
    json_t *src = json_loads(rec, 0, NULL), *j;
    api_task *t = api_task_from_json(src, &(api_decode_opts){.allow_unknown = true}, &probs);
    char *dump = api_task_dump(t, NULL), *owned = NULL;
    const store_obj *o;
    const api_task *d;
    const char *text;
    size_t len = 0;

    store_cache_stats st;

    put(c, "/corral/tasks/web/web-v1-1-1-h-r", dump, 1);
    /* its own text: read without a parse (api_doc_decode_own_text) */
    store_cache_get_stats(c, &st);
    assert_int_equal(st.decodes, 1);
    assert_int_equal(st.own_texts, 1);
    o = store_cache_get(c, "/corral/tasks/web/web-v1-1-1-h-r");
    d = o->doc;
    assert_non_null(d);
    assert_null(o->error);
    assert_null(o->value);
    assert_null(store_obj_text(o, &len)); /* not kept... */
    text = store_obj_plain_text(o, &len, &owned);
    assert_non_null(owned); /* ...but written again */
    assert_int_equal(len, strlen(dump));
    assert_int_equal(o->value_len, len);
    assert_memory_equal(text, dump, len);
    free(owned);
    j = store_obj_json(o);
    json_t *want = json_loads(dump, 0, NULL);
    assert_true(json_equal(j, want));
    json_decref(want);
    json_decref(j);
    assert_false(d->mesosTask_borrowed);
    char *dtext = api_task_text(d, NULL), *ttext = api_task_text(t, NULL);
    assert_string_equal(dtext, ttext); /* its own (deflated) TaskInfo, the same bytes */
    free(dtext);
    free(ttext);

    /* the same record with a space: the bytes differ, so they are kept */
    char *spaced = xasprintf(" %s", dump);
    put(c, "/corral/tasks/web/web-v1-1-1-h-r", spaced, 2);
    o = store_cache_get(c, "/corral/tasks/web/web-v1-1-1-h-r");
    assert_string_equal(store_obj_text(o, NULL), spaced);
    assert_true(((const api_task *)o->doc)->mesosTask_borrowed);
    store_cache_get_stats(c, &st);
    assert_int_equal(st.decodes, 2);
    assert_int_equal(st.own_texts, 1); /* parsed */

    /* its own dump under another task's key: the key disowns it, so it is
     * decoded the usual way, which says why */
    put(c, "/corral/tasks/web/web-v1-1-2-h-r", dump, 3);
    o = store_cache_get(c, "/corral/tasks/web/web-v1-1-2-h-r");
    assert_non_null(o->error);
    assert_null(o->doc);
    store_cache_get_stats(c, &st);
    assert_int_equal(st.decodes, 3);
    assert_int_equal(st.own_texts, 1);

    /* a reference keeps a written record's document past the cache */
    put(c, "/corral/tasks/web/web-v1-1-1-h-r", dump, 3);
    const store_obj *kept = store_obj_ref(store_cache_get(c, "/corral/tasks/web/web-v1-1-1-h-r"));
    store_cache_free(c);
    text = store_obj_plain_text(kept, &len, &owned);
    assert_string_equal(text, dump);
    free(owned);
    store_obj_unref(kept);
    free(spaced);
    free(dump);
    api_task_free(t);
    api_problems_release(&probs);
    json_decref(src);
}

/* A request status is kept as text when it decodes with no problem and
 * no key repeats (api_doc_text_when_valid): its bytes, no tree, the typed
 * document; any other keeps its tree, as every status did. */
static void test_text_when_valid(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char st[] = "{\"requestId\": \"web\", \"state\": \"ACTIVE\", \"activeDeployId\":"
                             "\"v1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
                             "\"future\":1.5}";
    const store_obj *o;
    size_t len;
    char *owned;
    json_t *j, *want;

    put(c, "/corral/status/requests/web", st, 1);
    o = store_cache_get(c, "/corral/status/requests/web");
    assert_int_equal(o->kind, API_KEY_REQUEST_STATUS);
    assert_null(o->value);
    assert_null(o->error);
    assert_memory_equal(store_obj_text(o, &len), st, sizeof(st) - 1);
    assert_int_equal(len, sizeof(st) - 1);
    assert_int_equal(o->value_len, len);
    const api_request_status *rs = o->doc;
    assert_int_equal(rs->state, API_RSTATE_ACTIVE);
    assert_string_equal(rs->activeDeployId, "v1");
    assert_ptr_equal(store_obj_plain_text(o, &len, &owned), store_obj_text(o, NULL));
    assert_null(owned);
    j = store_obj_json(o);
    want = json_loads(st, 0, NULL);
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    /* fed as a tree: kept as its compact dump */
    store_cache_feed_json(c, "/corral/status/requests/api",
                          json_pack("{s:s, s:s}", "requestId", "api", "state", "PAUSED"), 2, 2);
    o = store_cache_get(c, "/corral/status/requests/api");
    assert_null(o->value);
    assert_string_equal(store_obj_text(o, &len), "{\"requestId\":\"api\",\"state\":\"PAUSED\"}");
    assert_int_equal(o->value_len, len);

    /* a problem (no requestId, an unknown state, not the key's request):
     * the tree, and no document; a key twice: the tree, and the document
     * of jansson's reading (the last one wins) */
    static const char *const keep_tree[][2] = {
        {"/corral/status/requests/a", "{\"state\":\"ACTIVE\"}"},
        {"/corral/status/requests/b", "{\"requestId\":\"b\",\"state\":\"ALIVE\"}"},
        {"/corral/status/requests/d",
         "{\"requestId\":\"d\",\"state\":\"ACTIVE\",\"state\":\"PAUSED\"}"},
        {"/corral/status/requests/e", "{\"requestId\":\"x\",\"state\":\"ACTIVE\"}"},
    };
    for (size_t i = 0; i < sizeof(keep_tree) / sizeof(keep_tree[0]); i++) {
        put(c, keep_tree[i][0], keep_tree[i][1], 10 + (int64_t)i);
        o = store_cache_get(c, keep_tree[i][0]);
        assert_non_null(o->value);
        assert_null(store_obj_text(o, NULL));
        assert_true(i == 2 ? o->doc && !o->error : !o->doc && o->error);
    }
    o = store_cache_get(c, "/corral/status/requests/d");
    assert_string_equal(json_string_value(json_object_get(o->value, "state")), "PAUSED");
    assert_int_equal(((const api_request_status *)o->doc)->state, API_RSTATE_PAUSED);
    /* not JSON: no value, no text */
    put(c, "/corral/status/requests/f", "{nope", 20);
    o = store_cache_get(c, "/corral/status/requests/f");
    assert_null(o->value);
    assert_null(store_obj_text(o, NULL));
    assert_null(store_obj_json(o));
    assert_non_null(o->error);
    store_cache_free(c);
}

/* A pending task is kept as text when it decodes with no problem, no key
 * repeats and its pendingTaskId is an object naming its id
 * (api_doc_faithful): what the controllers write. Any other keeps its
 * tree, even one that decodes (an id string, an object without "id"). */
static void test_pending_text_when_valid(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char pt[] =
        "{\"pendingTaskId\":{\"id\":\"web-v1-5-1-NEW_DEPLOY-4\",\"requestId\":\"web\","
        "\"deployId\":\"v1\",\"nextRunAt\":5,\"instanceNo\":1,\"pendingType\":\"NEW_DEPLOY\","
        "\"createdAt\":4,\"later\":true},\"runId\":\"r1\",\"message\":\"caf\\u00e9\"}";
    const char *key = "/corral/pending/web/web-v1-5-1-NEW_DEPLOY-4";
    const store_obj *o;
    size_t len;
    char *owned;
    json_t *j, *want;

    put(c, key, pt, 1);
    o = store_cache_get(c, key);
    assert_int_equal(o->kind, API_KEY_PENDING);
    assert_null(o->value);
    assert_null(o->error);
    assert_memory_equal(store_obj_text(o, &len), pt, sizeof(pt) - 1);
    assert_int_equal(len, sizeof(pt) - 1);
    const api_pending_task *d = o->doc;
    assert_string_equal(d->pendingTaskId.id, "web-v1-5-1-NEW_DEPLOY-4");
    assert_int_equal(d->pendingTaskId.nextRunAt, 5);
    assert_string_equal(d->runId, "r1");
    assert_ptr_equal(store_obj_plain_text(o, &len, &owned), store_obj_text(o, NULL));
    assert_null(owned);
    j = store_obj_json(o);
    want = json_loads(pt, 0, NULL);
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    /* decodes, but its tree is not what the document says: the tree, and
     * the document; a key twice, a problem, not JSON: as for statuses */
    static const char *const keep_tree[][2] = {
        {"/corral/pending/web/web-v1-5-2-NEW_DEPLOY-4",
         "{\"pendingTaskId\":\"web-v1-5-2-NEW_DEPLOY-4\"}"},
        {"/corral/pending/web/web-v1-5-3-NEW_DEPLOY-4",
         "{\"pendingTaskId\":{\"requestId\":\"web\",\"deployId\":\"v1\",\"nextRunAt\":5,"
         "\"instanceNo\":3,\"pendingType\":\"NEW_DEPLOY\",\"createdAt\":4}}"},
        {"/corral/pending/web/web-v1-5-4-NEW_DEPLOY-4",
         "{\"pendingTaskId\":\"web-v1-5-4-NEW_DEPLOY-4\",\"runId\":\"a\",\"runId\":\"b\"}"},
        {"/corral/pending/web/web-v1-5-5-NEW_DEPLOY-4",
         "{\"pendingTaskId\":{\"id\":\"web-v1-5-5-NEW_DEPLOY-4\",\"requestId\":\"web\","
         "\"deployId\":\"v1\",\"nextRunAt\":5.0,\"instanceNo\":5,\"pendingType\":"
         "\"NEW_DEPLOY\",\"createdAt\":4}}"},
        {"/corral/pending/web/other", "{\"pendingTaskId\":\"web-v1-5-6-NEW_DEPLOY-4\"}"},
    };
    for (size_t i = 0; i < sizeof(keep_tree) / sizeof(keep_tree[0]); i++) {
        put(c, keep_tree[i][0], keep_tree[i][1], 10 + (int64_t)i);
        o = store_cache_get(c, keep_tree[i][0]);
        assert_non_null(o->value);
        assert_null(store_obj_text(o, NULL));
        assert_true(i < 3 ? o->doc && !o->error : !o->doc && o->error);
    }
    put(c, "/corral/pending/web/x", "[1", 20);
    o = store_cache_get(c, "/corral/pending/web/x");
    assert_null(o->value);
    assert_null(store_obj_text(o, NULL));
    assert_non_null(o->error);
    store_cache_free(c);
}

/* Every accessor's answer for o, as one text: its value (store_obj_json),
 * the text store_obj_plain_text gives, read back, and its key's parts. */
static char *answers(const store_obj *o)
{
    size_t len = 0;
    char *owned = NULL, *out;
    const char *plain = store_obj_plain_text(o, &len, &owned);
    json_t *j = store_obj_json(o), *back = plain ? json_loadb(plain, len, 0, NULL) : NULL;
    char *a = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY),
         *b = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);

    out = xasprintf("%d %s %s %s\n%s\n%s", o->kind, o->id1, o->id2 ? o->id2 : "-",
                    o->error ? o->error : "-", a ? a : "-", b ? b : "-");
    free(a);
    free(b);
    free(owned);
    json_decref(j);
    json_decref(back);
    return out;
}

/* Agents and racks as the bridge writes them are kept as text beside
 * their typed document (5,000 agents were 30 MB of trees); one that does
 * not decode, or repeats a key, keeps its tree, so a reader still sees it
 * as written. */
static void test_machine_text_when_valid(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char agent[] =
        "{\"agentUrl\":\"http://h1:5051\",\"attributes\":{\"rack\":\"r1\"},\"currentState\":"
        "{\"state\":\"FROZEN\",\"timestamp\":2},\"firstSeenAt\":1,\"host\":\"h1\",\"id\":\"S1\","
        "\"lastSeenAt\":2,\"rackId\":\"r1\",\"resources\":{\"cpus\":4.0,\"diskMb\":10.0,"
        "\"memoryMb\":64.0,\"numPorts\":10},\"stateHistory\":[{\"state\":\"ACTIVE\","
        "\"timestamp\":1},{\"state\":\"FROZEN\",\"timestamp\":2}]}";
    static const char rack[] = "{\"currentState\":{\"state\":\"ACTIVE\",\"timestamp\":1},"
                               "\"firstSeenAt\":1,\"id\":\"r1\",\"lastSeenAt\":1}";
    const store_obj *o;
    json_t *j, *want;
    size_t len;

    put(c, "/corral/agents/S1", agent, 1);
    o = store_cache_get(c, "/corral/agents/S1");
    assert_int_equal(o->kind, API_KEY_AGENT);
    assert_null(o->value);
    assert_null(o->error);
    assert_int_equal(api_machine_current(o->doc), API_MSTATE_FROZEN);
    assert_string_equal(store_obj_text(o, &len), agent);
    j = store_obj_json(o);
    want = json_loads(agent, 0, NULL);
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    put(c, "/corral/racks/r1", rack, 2);
    o = store_cache_get(c, "/corral/racks/r1");
    assert_null(o->value);
    assert_string_equal(store_obj_text(o, NULL), rack);
    /* a state no machine has: no document, the tree as written */
    put(c, "/corral/agents/S2", "{\"id\":\"S2\",\"currentState\":{\"state\":\"BOGUS\"}}", 3);
    o = store_cache_get(c, "/corral/agents/S2");
    assert_null(o->doc);
    assert_non_null(o->error);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o->value, "currentState"), "state")),
        "BOGUS");
    /* a repeated key: the tree, the last one winning as jansson reads it */
    put(c, "/corral/agents/S3", "{\"id\":\"S3\",\"host\":\"a\",\"host\":\"b\"}", 4);
    o = store_cache_get(c, "/corral/agents/S3");
    assert_non_null(o->value);
    assert_null(store_obj_text(o, NULL));
    store_cache_free(c);
}

/* A request, a deploy and a deploy status are kept as text when their document decodes with
 * no problem, no key repeats and the document's canonical encoding is
 * their tree (api_doc_faithful): the bytes, no tree, the document; every
 * accessor answers as it does for the same value kept as a tree (here: the
 * same text with a key twice, the same value). Any other keeps its tree. */
static void test_request_deploy_text_when_faithful(void **state)
{
    store_cache *c = store_cache_new(NULL, NULL, NULL);
    static const char *const kept[][3] = {
        {"/corral/requests/web",
         "{\"id\": \"web\", \"requestType\": \"SERVICE\", \"instances\": 2, \"owners\": "
         "[\"caf\\u00e9@x.y\"], \"taskPriorityLevel\": 0.3}",
         "{\"id\": \"web\", \"id\": \"web\", \"requestType\": \"SERVICE\", \"instances\": 2, "
         "\"owners\": [\"caf\\u00e9@x.y\"], \"taskPriorityLevel\": 0.3}"},
        {"/corral/deploys/web/v1",
         "{\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1\",\"resources\":"
         "{\"cpus\":0.1,\"memoryMb\":64,\"numPorts\":0},\"env\":{\"A\":\"\\n\"}}",
         "{\"requestId\":\"web\",\"requestId\":\"web\",\"id\":\"v1\",\"command\":\"sleep 1\","
         "\"resources\":{\"cpus\":0.1,\"memoryMb\":64,\"numPorts\":0},\"env\":{\"A\":\"\\n\"}}"},
        /* as api_deploy_status_to_json writes it */
        {"/corral/status/deploys/web/v1",
         "{\"requestId\":\"web\",\"deployId\":\"v1\",\"state\":\"SUCCEEDED\",\"startedAt\":1500,"
         "\"finishedAt\":1600,\"targetActiveInstances\":1,\"acceptedInstances\":0,\"step\":1,"
         "\"stepStartedAt\":1500,\"stepHealthyAt\":1550,\"healthyTasks\":1,\"failures\":[],"
         "\"updatedAt\":1600}",
         "{\"requestId\":\"web\",\"requestId\":\"web\",\"deployId\":\"v1\",\"state\":\"SUCCEEDED\","
         "\"startedAt\":1500,\"finishedAt\":1600,\"targetActiveInstances\":1,\"acceptedInstances\":0,"
         "\"step\":1,\"stepStartedAt\":1500,\"stepHealthyAt\":1550,\"healthyTasks\":1,"
         "\"failures\":[],\"updatedAt\":1600}"},
    };
    static const api_key_kind kinds[] = {API_KEY_REQUEST, API_KEY_DEPLOY, API_KEY_DEPLOY_STATUS};
    const store_obj *o;
    size_t len;

    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        store_cache *twin = store_cache_new(NULL, NULL, NULL);
        const store_obj *t;
        char *a, *b;

        put(c, kept[i][0], kept[i][1], 1 + (int64_t)i);
        o = store_cache_get(c, kept[i][0]);
        assert_int_equal(o->kind, kinds[i]);
        assert_null(o->value);
        assert_null(o->error);
        assert_non_null(o->doc);
        assert_string_equal(store_obj_text(o, &len), kept[i][1]);
        assert_int_equal(len, strlen(kept[i][1]));
        assert_int_equal(o->value_len, len);
        put(twin, kept[i][0], kept[i][2], 1);
        t = store_cache_get(twin, kept[i][0]);
        assert_non_null(t->value); /* a tree */
        assert_null(store_obj_text(t, NULL));
        a = answers(o);
        b = answers(t);
        assert_string_equal(a, b);
        assert_true(i == 0   ? api_request_equal(o->doc, t->doc)
                    : i == 1 ? api_deploy_equal(o->doc, t->doc)
                             : api_deploy_status_equal(o->doc, t->doc) &&
                                   ((const api_deploy_status *)o->doc)->updatedAt ==
                                       ((const api_deploy_status *)t->doc)->updatedAt);
        free(a);
        free(b);
        store_cache_free(twin);
    }
    const api_request *r = store_cache_get(c, "/corral/requests/web")->doc;
    assert_int_equal(r->type, API_SERVICE);
    assert_int_equal(r->instances, 2);
    const api_deploy *d = store_cache_get(c, "/corral/deploys/web/v1")->doc;
    assert_string_equal(d->command, "sleep 1");

    /* fed as a tree: kept as its compact dump */
    store_cache_feed_json(c, "/corral/requests/api",
                          json_pack("{s:s, s:s}", "id", "api", "requestType", "WORKER"), 5, 5);
    o = store_cache_get(c, "/corral/requests/api");
    assert_null(o->value);
    assert_string_equal(store_obj_text(o, NULL), "{\"id\":\"api\",\"requestType\":\"WORKER\"}");

    /* decodes to a document that is not its tree (requestType derived, 2.0
     * for 2, an alias, a null), a problem (an unknown field, not the key's
     * id), a key twice: the tree (and the document, with the problem) */
    static const char *const keep_tree[][2] = {
        {"/corral/requests/a", "{\"id\":\"a\",\"instances\":2}"},
        {"/corral/requests/b", "{\"id\":\"b\",\"requestType\":\"SERVICE\",\"instances\":2.0}"},
        {"/corral/requests/c",
         "{\"id\":\"c\",\"requestType\":\"SERVICE\",\"slavePlacement\":\"GREEDY\"}"},
        {"/corral/requests/d", "{\"id\":\"d\",\"requestType\":\"SERVICE\",\"group\":null}"},
        {"/corral/requests/e", "{\"id\":\"e\",\"requestType\":\"SERVICE\",\"colour\":\"red\"}"},
        {"/corral/requests/f", "{\"id\":\"x\",\"requestType\":\"SERVICE\"}"},
        {"/corral/deploys/web/v2",
         "{\"requestId\":\"web\",\"id\":\"v2\",\"command\":\"a\",\"command\":\"b\"}"},
        {"/corral/deploys/web/v3", "{\"requestId\":\"web\",\"id\":\"v3\",\"command\":\"a\","
                                   "\"resources\":{\"memoryMb\":64.0}}"},
        {"/corral/status/deploys/web/v3",
         "{\"requestId\":\"web\",\"deployId\":\"v3\",\"state\":\"SUCCEEDED\"}"},
    };
    for (size_t i = 0; i < sizeof(keep_tree) / sizeof(keep_tree[0]); i++) {
        put(c, keep_tree[i][0], keep_tree[i][1], 10 + (int64_t)i);
        o = store_cache_get(c, keep_tree[i][0]);
        if (!o->value || store_obj_text(o, NULL) || !o->doc)
            fail_msg("%s: should keep its tree and a document", keep_tree[i][1]);
        if ((o->error != NULL) != (i == 4 || i == 5))
            fail_msg("%s: error %s", keep_tree[i][1], o->error ? o->error : "none");
    }
    assert_string_equal(
        ((const api_deploy *)store_cache_get(c, "/corral/deploys/web/v2")->doc)->command, "b");
    store_cache_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order_and_ranges),
    cmocka_unit_test(test_subscribers),
    cmocka_unit_test(test_key_ids),
    cmocka_unit_test(test_typed_documents_and_refs),
    cmocka_unit_test(test_feed_json),
    cmocka_unit_test(test_text_kinds),
    cmocka_unit_test(test_text_written_again),
    cmocka_unit_test(test_text_when_valid),
    cmocka_unit_test(test_pending_text_when_valid),
    cmocka_unit_test(test_request_deploy_text_when_faithful),
    cmocka_unit_test(test_machine_text_when_valid),
};

CR_TEST_MAIN(tests)
