/* Plan tests for the webhooks loop (controllers/webhooks.h): one pass's
 * rules case by case, then a simulation of many passes against a small
 * world (a queue, a receiver that is down for a while, a leader replaced
 * halfway), checking that every event is delivered at least once and each
 * webhook's deliveries stay in revision order. Also the URI placeholders,
 * the signature (RFC 4231's HMAC-SHA256 vector), the documents' codec and
 * their keys. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "apis/doc.h"
#include "apis/keys.h"
#include "apis/webhook.h"
#include "base/xalloc.h"
#include "controllers/webhooks.h"

static ctl_wh_config config(void)
{
    ctl_wh_config c = {0};
    ctl_wh_config_defaults(&c);
    return c;
}

static void test_backoff(void **state)
{
    ctl_wh_config c = config();
    assert_int_equal(ctl_wh_backoff(&c, 0), 0);
    assert_int_equal(ctl_wh_backoff(&c, 1), 1000);
    assert_int_equal(ctl_wh_backoff(&c, 2), 2000);
    assert_int_equal(ctl_wh_backoff(&c, 4), 8000);
    assert_int_equal(ctl_wh_backoff(&c, 7), 60000); /* 64 s capped */
    assert_int_equal(ctl_wh_backoff(&c, 1000), 60000);
}

static void test_order(void **state)
{
    assert_true(ctl_wh_event_cmp(5, "b", 6, "a") < 0);
    assert_true(ctl_wh_event_cmp(6, "a", 6, "b") < 0);
    assert_true(ctl_wh_event_cmp(6, "b", 6, "b") == 0);
    assert_true(ctl_wh_event_cmp(7, "", 6, "z") > 0);
}

static const ctl_wh_event EVS[] = {{11, "/p/tasks/a/t1"}, {12, "/p/tasks/a/t1"},
                                   {12, "/p/tasks/a/t2"}, {15, "/p/deploys/a/v1"},
                                   {16, "/p/tasks/a/t1"}};

static void test_first_pass_queues_and_sets_cursor(void **state)
{
    ctl_wh_config c = config();
    ctl_wh_in in = {.webhook_id = "h", .created_revision = 10, .events = EVS, .n_events = 5,
                    .config = &c, .now = 1000};
    ctl_wh_plan p;

    ctl_wh_plan_run(&in, &p);
    assert_int_equal(p.n_queue, 5);
    assert_int_equal(p.n_considered, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(p.queue[i], i);
    assert_true(p.status_changed);
    assert_string_equal(p.status.webhookId, "h");
    assert_int_equal(p.status.cursorRevision, 16);
    assert_string_equal(p.status.cursorKey, "/p/tasks/a/t1");
    assert_int_equal(p.status.queued, 5);
    assert_int_equal(p.status.updatedAt, 1000);
    assert_null(p.send_key); /* queued now, sent once the cache shows them */
    assert_int_equal(p.requeue_ms, 0);
    ctl_wh_plan_release(&p);

    /* nothing new and nothing queued: no write at all */
    api_webhook_status st = {.webhookId = "h", .cursorRevision = 16, .cursorKey = "/p/x",
                             .queued = 5, .updatedAt = 1000};
    ctl_wh_in idle = {.webhook_id = "h", .status = &st, .config = &c, .now = 5000};
    ctl_wh_plan_run(&idle, &p);
    assert_false(p.status_changed);
    assert_int_equal(p.n_queue, 0);
    assert_null(p.send_key);
    ctl_wh_plan_release(&p);
}

static void test_full_queue_drops_and_counts(void **state)
{
    ctl_wh_config c = config();
    c.max_queue = 3;
    api_webhook_status st = {.webhookId = "h", .cursorRevision = 10, .cursorKey = ""};
    ctl_wh_in in = {.webhook_id = "h", .status = &st, .queue_len = 2, .head_key = "/q/1",
                    .next_key = "/q/2", .inflight = true, .events = EVS, .n_events = 3,
                    .config = &c, .now = 7000};
    ctl_wh_plan p;

    ctl_wh_plan_run(&in, &p);
    assert_int_equal(p.n_queue, 1);
    assert_int_equal(p.queue[0], 0);
    assert_int_equal(p.status.dropped, 2);
    assert_int_equal(p.status.lastDroppedAt, 7000);
    assert_int_equal(p.status.queued, 1);
    assert_int_equal(p.status.cursorRevision, 12); /* dropped ones are behind the cursor too */
    assert_string_equal(p.status.cursorKey, "/p/tasks/a/t2");
    assert_null(p.send_key); /* one is in flight */
    ctl_wh_plan_release(&p);

    /* the head delivered frees a slot in the same pass */
    in.inflight = false;
    in.delivered_key = "/q/1";
    ctl_wh_plan_run(&in, &p);
    assert_true(p.delete_head);
    assert_int_equal(p.n_queue, 2);
    assert_int_equal(p.status.dropped, 1);
    assert_null(p.send_key); /* after the delete has landed */
    ctl_wh_plan_release(&p);
}

static void test_batch_requeues(void **state)
{
    ctl_wh_config c = config();
    c.batch = 2;
    ctl_wh_in in = {.webhook_id = "h", .created_revision = 1, .events = EVS, .n_events = 5,
                    .config = &c, .now = 1};
    ctl_wh_plan p;

    ctl_wh_plan_run(&in, &p);
    assert_int_equal(p.n_queue, 2);
    assert_int_equal(p.n_considered, 2);
    assert_int_equal(p.status.cursorRevision, 12);
    assert_string_equal(p.status.cursorKey, "/p/tasks/a/t1");
    assert_int_equal(p.requeue_ms, 1);
    ctl_wh_plan_release(&p);
}

static void test_delivery_and_backoff(void **state)
{
    ctl_wh_config c = config();
    api_webhook_status st = {.webhookId = "h", .cursorRevision = 20, .cursorKey = "k"};
    ctl_wh_in in = {.webhook_id = "h", .status = &st, .queue_len = 2, .head_key = "/q/1",
                    .next_key = "/q/2", .config = &c, .now = 1000};
    ctl_wh_plan p;

    /* idle with a queue: send the head */
    ctl_wh_plan_run(&in, &p);
    assert_string_equal(p.send_key, "/q/1");
    assert_false(p.delete_head);
    assert_false(p.status_changed);
    ctl_wh_plan_release(&p);

    /* it failed: counted, backed off, not sent again yet */
    in.failed_key = "/q/1";
    in.failed_error = "connection refused";
    in.failed_at = 1000;
    in.now = 1200;
    ctl_wh_plan_run(&in, &p);
    assert_null(p.send_key);
    assert_int_equal(p.status.failures, 1);
    assert_string_equal(p.status.lastError, "connection refused");
    assert_int_equal(p.status.lastFailureAt, 1000);
    assert_int_equal(p.status.nextAttemptAt, 2000);
    assert_int_equal(p.requeue_ms, 800);
    assert_true(p.status_changed);
    api_webhook_status after1;
    api_webhook_status_copy(&after1, &p.status);
    ctl_wh_plan_release(&p);

    /* the backoff over: sent again; a second failure doubles the wait */
    ctl_wh_in again = {.webhook_id = "h", .status = &after1, .queue_len = 2,
                       .head_key = "/q/1", .next_key = "/q/2", .config = &c, .now = 2000};
    ctl_wh_plan_run(&again, &p);
    assert_string_equal(p.send_key, "/q/1");
    ctl_wh_plan_release(&p);
    again.failed_key = "/q/1";
    again.failed_error = "answered 503";
    again.failed_at = 2100;
    ctl_wh_plan_run(&again, &p);
    assert_int_equal(p.status.failures, 2);
    assert_int_equal(p.status.nextAttemptAt, 4100);
    api_webhook_status after2;
    api_webhook_status_copy(&after2, &p.status);
    ctl_wh_plan_release(&p);

    /* delivered at last: head deleted (the next one is sent once that has
     * landed), failures reset */
    ctl_wh_in ok = {.webhook_id = "h", .status = &after2, .queue_len = 2, .head_key = "/q/1",
                    .next_key = "/q/2", .delivered_key = "/q/1", .config = &c, .now = 4200};
    ctl_wh_plan_run(&ok, &p);
    assert_true(p.delete_head);
    assert_null(p.send_key);
    assert_int_equal(p.status.failures, 0);
    assert_int_equal(p.status.nextAttemptAt, 0);
    assert_string_equal(p.status.lastError, "answered 503"); /* kept for the summary */
    ctl_wh_plan_release(&p);

    /* a result for an entry no longer at the head changes nothing */
    ok.delivered_key = "/q/0";
    ok.failed_key = "/q/0";
    ok.failed_at = 4200;
    ctl_wh_plan_run(&ok, &p);
    assert_false(p.delete_head);
    assert_int_equal(p.status.failures, 2);
    assert_string_equal(p.send_key, "/q/1"); /* the backoff (until 4100) is over */
    ctl_wh_plan_release(&p);
    api_webhook_status_release(&after1);
    api_webhook_status_release(&after2);
}

static void test_invalid_head_dropped(void **state)
{
    ctl_wh_config c = config();
    api_webhook_status st = {.webhookId = "h", .cursorRevision = 20, .cursorKey = "k"};
    ctl_wh_in in = {.webhook_id = "h", .status = &st, .queue_len = 1, .head_key = "/q/bad",
                    .head_invalid = true, .config = &c, .now = 9};
    ctl_wh_plan p;

    ctl_wh_plan_run(&in, &p);
    assert_true(p.delete_head);
    assert_null(p.send_key);
    assert_int_equal(p.status.dropped, 1);
    ctl_wh_plan_release(&p);
}

/* ---- simulation ------------------------------------------------------------------- */

#define SIM_EVENTS 60
#define SIM_MAXQ 64

typedef struct sim {
    /* the queue in "etcd": event numbers, ascending */
    int q[SIM_MAXQ];
    size_t nq;
    char keys[SIM_MAXQ][16];
    api_webhook_status st;
    bool has_st;
    /* the loop's memory */
    int inflight; /* event number or -1 */
    char delivered[16], failed[16];
    /* what the receiver got */
    int got[4 * SIM_EVENTS];
    size_t ngot;
} sim;

static void sim_keys(sim *s)
{
    for (size_t i = 0; i < s->nq; i++)
        snprintf(s->keys[i], sizeof(s->keys[i]), "/q/%04d", s->q[i]);
}

static void test_simulation(void **state)
{
    ctl_wh_config c = config();
    sim s;
    ctl_wh_event evs[SIM_EVENTS];
    char okeys[SIM_EVENTS][16];
    int produced = 0;

    c.batch = 4;
    memset(&s, 0, sizeof(s));
    s.inflight = -1;
    for (int i = 0; i < SIM_EVENTS; i++) {
        snprintf(okeys[i], sizeof(okeys[i]), "/o/%d", i % 7);
        evs[i] = (ctl_wh_event){100 + i, okeys[i]};
    }
    for (int tick = 0; tick < 400; tick++) {
        int64_t now = tick * 250;
        bool receiver_up = tick < 20 || tick > 120;
        if (produced < SIM_EVENTS && tick % 3 == 0)
            produced += 2;
        if (produced > SIM_EVENTS)
            produced = SIM_EVENTS;
        if (tick == 60) { /* failover: the loop's memory is gone */
            s.inflight = -1;
            s.delivered[0] = s.failed[0] = '\0';
        }
        /* the POST in flight answers */
        if (s.inflight >= 0) {
            char k[16];
            snprintf(k, sizeof(k), "/q/%04d", s.inflight);
            if (receiver_up) {
                s.got[s.ngot++] = s.inflight;
                strcpy(s.delivered, k);
            } else {
                strcpy(s.failed, k);
            }
            s.inflight = -1;
        }
        /* events after the cursor */
        int64_t crev = s.has_st ? s.st.cursorRevision : 99;
        const char *ckey = s.has_st ? s.st.cursorKey : "";
        size_t first = 0;
        while (first < (size_t)produced &&
               ctl_wh_event_cmp(evs[first].revision, evs[first].object_key, crev, ckey) <= 0)
            first++;
        sim_keys(&s);
        ctl_wh_in in = {.webhook_id = "h",
                        .status = s.has_st ? &s.st : NULL,
                        .created_revision = 99,
                        .queue_len = s.nq,
                        .head_key = s.nq ? s.keys[0] : NULL,
                        .next_key = s.nq > 1 ? s.keys[1] : NULL,
                        .inflight = false,
                        .delivered_key = s.delivered[0] ? s.delivered : NULL,
                        .failed_key = s.failed[0] ? s.failed : NULL,
                        .failed_error = "refused",
                        .failed_at = now - 100,
                        .events = evs + first,
                        .n_events = (size_t)produced - first,
                        .config = &c,
                        .now = now};
        ctl_wh_plan p;
        ctl_wh_plan_run(&in, &p);
        s.failed[0] = '\0';
        /* apply the writes */
        int sending = -1;
        if (p.send_key)
            sending = atoi(p.send_key + 3);
        if (p.delete_head) {
            memmove(s.q, s.q + 1, (s.nq - 1) * sizeof(int));
            s.nq--;
            s.delivered[0] = '\0';
        }
        for (size_t k = 0; k < p.n_queue; k++) {
            assert_true(s.nq < SIM_MAXQ);
            s.q[s.nq++] = (int)(first + p.queue[k]);
        }
        if (s.has_st)
            api_webhook_status_release(&s.st);
        api_webhook_status_copy(&s.st, &p.status);
        s.has_st = true;
        s.inflight = sending;
        ctl_wh_plan_release(&p);
    }
    /* everything arrived, nothing dropped, in order (repeats allowed) */
    assert_int_equal(s.nq, 0);
    assert_int_equal(s.st.dropped, 0);
    assert_int_equal(s.st.queued, SIM_EVENTS);
    bool seen[SIM_EVENTS] = {false};
    for (size_t i = 0; i < s.ngot; i++) {
        seen[s.got[i]] = true;
        if (i)
            assert_true(s.got[i] >= s.got[i - 1]);
    }
    for (int i = 0; i < SIM_EVENTS; i++)
        assert_true(seen[i]);
    assert_true(s.st.failures == 0);
    api_webhook_status_release(&s.st);
}

/* ---- helpers, documents and keys ------------------------------------------------------- */

static void test_uri_and_signature(void **state)
{
    char *u = ctl_wh_expand_uri("http://h/x/$REQUEST_ID/$DEPLOY_ID/$TASK_ID?r=$REQUEST_ID",
                                "web", NULL, "web-v1-1");
    assert_string_equal(u, "http://h/x/web//web-v1-1?r=web");
    free(u);
    u = ctl_wh_expand_uri("", "a", "b", "c");
    assert_string_equal(u, "");
    free(u);
    /* RFC 4231, test case 2 */
    const char *data = "what do ya want for nothing?";
    char *sig = ctl_wh_signature("Jefe", data, strlen(data));
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    free(sig);
}

static void test_documents(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json("{\"id\":\"h1\",\"uri\":\"https://x.example/h\",\"type\":\"TASK\","
                             "\"secret\":\"k\",\"timestamp\":5}");
    api_webhook *w = api_webhook_from_json(j, NULL, &probs);
    assert_non_null(w);
    json_t *pub = api_webhook_public_json(w);
    assert_null(json_object_get(pub, "secret"));
    assert_string_equal(json_string_value(json_object_get(pub, "type")), "TASK");
    json_t *back = api_webhook_to_json(w);
    assert_true(json_equal(back, j));
    json_decref(back);
    json_decref(pub);
    api_webhook_free(w);
    json_decref(j);

    const char *bad[] = {"{\"uri\":\"ftp://x\",\"type\":\"TASK\"}",
                         "{\"uri\":\"http://x/\",\"type\":\"CRASHLOOP\"}",
                         "{\"uri\":\"http://x/\"}", "{\"id\":\"a/b\",\"uri\":\"http://x/\",\"type\":\"TASK\"}",
                         "{\"uri\":\"http://x/\",\"type\":\"TASK\",\"secret\":\"\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_problems pr = API_PROBLEMS_INIT;
        j = cr_test_json(bad[i]);
        assert_null(api_webhook_from_json(j, NULL, &pr));
        assert_true(pr.n > 0);
        api_problems_release(&pr);
        json_decref(j);
    }
    char *id = api_webhook_default_id(API_WEBHOOK_REQUEST, "http://h:1/a b");
    assert_string_equal(id, "REQUEST-http%3A%2F%2Fh%3A1%2Fa%20b");
    assert_true(api_key_id_valid(id));
    free(id);
    api_problems_release(&probs);
}

static void test_keys_and_decoding(void **state)
{
    char *k1 = api_key_webhook_event("/c", "h", 0x1234, "/c/tasks/a/t1");
    char *k2 = api_key_webhook_event("/c", "h", 0x1235, "/c/tasks/a/t0");
    api_key_parts kp;

    assert_true(strncmp(k1, "/c/queues/webhooks/h/0000000000001234-", 38) == 0);
    assert_true(strcmp(k1, k2) < 0); /* revision order */
    assert_int_equal(api_key_parse("/c", k1, &kp), 0);
    assert_int_equal(kp.kind, API_KEY_WEBHOOK_EVENT);
    assert_string_equal(kp.id1, "h");

    /* an event stored under another webhook's queue is not a document */
    json_t *j = cr_test_json("{\"webhookId\":\"other\",\"type\":\"TASK\",\"objectKey\":\"k\","
                             "\"revision\":1,\"createdAt\":1,\"payload\":{}}");
    char *error = NULL;
    void *doc = api_doc_decode(&kp, j, &error);
    assert_null(doc);
    assert_non_null(error);
    free(error);
    json_object_set_new(j, "webhookId", json_string("h"));
    doc = api_doc_decode(&kp, j, &error);
    assert_non_null(doc);
    assert_null(error);
    api_doc_free(kp.kind, doc);
    json_decref(j);
    api_key_parts_release(&kp);

    char *ks = api_key_webhook_status("/c", "h");
    assert_string_equal(ks, "/c/status/webhooks/h");
    assert_int_equal(api_key_parse("/c", ks, &kp), 0);
    assert_int_equal(kp.kind, API_KEY_WEBHOOK_STATUS);
    api_key_parts_release(&kp);
    char *kw = api_key_webhook("/c", "h");
    assert_int_equal(api_key_parse("/c", kw, &kp), 0);
    assert_int_equal(kp.kind, API_KEY_WEBHOOK);
    api_key_parts_release(&kp);
    free(k1);
    free(k2);
    free(ks);
    free(kw);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_backoff),
    cmocka_unit_test(test_order),
    cmocka_unit_test(test_first_pass_queues_and_sets_cursor),
    cmocka_unit_test(test_full_queue_drops_and_counts),
    cmocka_unit_test(test_batch_requeues),
    cmocka_unit_test(test_delivery_and_backoff),
    cmocka_unit_test(test_invalid_head_dropped),
    cmocka_unit_test(test_simulation),
    cmocka_unit_test(test_uri_and_signature),
    cmocka_unit_test(test_documents),
    cmocka_unit_test(test_keys_and_decoding),
};

CR_TEST_MAIN(tests)
