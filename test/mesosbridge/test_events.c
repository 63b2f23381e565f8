/* Unit tests of mesosbridge/events.c against events recorded from a real
 * Mesos master (the JSON files under fixtures/, copied from the reference transcripts). */
#include <string.h>

#include "base/xalloc.h"
#include "mesosbridge/events.h"
#include "test/lib/cr_test.h"

static json_t *load(const char *name)
{
    size_t len;
    char *path = xasprintf("mesosbridge/fixtures/%s", name);
    char *text = cr_test_fixture(path, &len);
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    assert_non_null(j);
    free(text);
    free(path);
    return j;
}

/* Decodes j through its text form, as it arrives on the stream. */
static void decode(const json_t *j, mb_event *ev)
{
    char *s = json_dumps(j, JSON_COMPACT);
    cr_err err;
    assert_int_equal(mb_event_decode(s, strlen(s), ev, &err), 0);
    free(s);
}

static void test_transcript(void **state)
{
    json_t *doc = load("launch-reconcile-kill-files.json");
    json_t *events = json_object_get(doc, "events"), *e;
    size_t i, n_updates = 0, n_acks = 0;
    json_array_foreach(events, i, e)
    {
        mb_event ev;
        decode(e, &ev);
        assert_string_equal(mb_event_type_name(ev.type),
                            json_string_value(json_object_get(e, "type")));
        switch (ev.type) {
        case MB_EV_SUBSCRIBED:
            assert_string_equal(ev.u.subscribed.framework_id,
                                "2bac3981-7f68-4d65-bdd4-dc4a4f7092be-0001");
            assert_true(ev.u.subscribed.heartbeat_interval_seconds == 15.0);
            assert_string_equal(ev.u.subscribed.master_pid, "master@127.0.0.1:5050");
            break;
        case MB_EV_OFFERS: {
            assert_int_equal(ev.u.offers.n, 1);
            mb_offer *o = &ev.u.offers.v[0];
            assert_string_equal(o->id, "2bac3981-7f68-4d65-bdd4-dc4a4f7092be-O1");
            assert_string_equal(o->agent_id, "eaae865b-d4ac-4221-b033-f6e4458c071d-S0");
            assert_string_equal(o->hostname, "127.0.0.1");
            assert_string_equal(o->agent_url, "http://127.0.0.1:5051");
            assert_string_equal(o->role, "*");
            assert_true(o->cpus == 2.0);
            assert_true(o->mem == 23081.0);
            assert_true(o->disk == 252899.0);
            assert_true(o->nports == 1001);
            assert_int_equal(o->n_resources, 4);
            assert_string_equal(o->resources[0].name, "ports");
            assert_true(o->resources[0].ranges[0].begin == 31000);
            assert_string_equal(o->resources[0].role, "*");
            break;
        }
        case MB_EV_UPDATE: {
            mb_status *s = &ev.u.update;
            json_t *js = json_object_get(json_object_get(e, "update"), "status");
            n_updates++;
            assert_string_equal(s->task_id, json_string_value(json_object_get(
                                                json_object_get(js, "task_id"), "value")));
            assert_int_not_equal(s->state, API_TASK_STATE_NONE);
            assert_string_equal(api_task_state_name(s->state), s->state_name);
            if (s->uuid) {
                n_acks++;
                assert_string_equal(s->uuid, json_string_value(json_object_get(js, "uuid")));
                assert_string_equal(s->source, "SOURCE_EXECUTOR");
            } else {
                assert_string_equal(s->reason, "REASON_RECONCILIATION");
            }
            if (s->state == API_TASK_FAILED) {
                assert_string_equal(s->message, "Command exited with status 3");
                assert_int_equal(mb_exit_code_from_message(s->message), 3);
            }
            if (!strcmp(s->task_id, "no-such-task")) {
                assert_int_equal(s->state, API_TASK_UNKNOWN);
                assert_null(s->agent_id);
            }
            assert_true(s->timestamp > 1.7e9);
            break;
        }
        default:
            break;
        }
        mb_event_release(&ev);
    }
    assert_true(n_updates >= 8);
    assert_true(n_acks >= 6);
    json_decref(doc);
}

static void test_failover_agent_loss(void **state)
{
    json_t *doc = load("failover-agent-loss.json");
    mb_event ev;
    json_t *after = json_object_get(doc, "a_events_after_failover");
    decode(json_array_get(after, 0), &ev);
    assert_int_equal(ev.type, MB_EV_ERROR);
    assert_string_equal(ev.u.error.message, "Framework failed over");
    mb_event_release(&ev);

    json_t *e, *a = json_object_get(doc, "b_events_after_agent_kill");
    size_t i;
    bool seen_unreachable = false;
    json_array_foreach(a, i, e)
    {
        if (!json_is_object(e))
            continue;
        decode(e, &ev);
        if (ev.type == MB_EV_UPDATE && ev.u.update.state == API_TASK_UNREACHABLE) {
            seen_unreachable = true;
            assert_null(ev.u.update.uuid);
            assert_string_equal(ev.u.update.reason, "REASON_AGENT_REMOVED");
            assert_true(ev.u.update.has_unreachable_ns);
            /* larger than 2^53: must be exact */
            assert_true(ev.u.update.unreachable_ns == 1795552492672143104LL);
        }
        mb_event_release(&ev);
    }
    assert_true(seen_unreachable);

    decode(json_array_get(json_object_get(doc, "b_events_next"), 0), &ev);
    assert_int_equal(ev.type, MB_EV_FAILURE);
    assert_non_null(ev.u.failure.agent_id);
    assert_null(ev.u.failure.executor_id);
    assert_false(ev.u.failure.has_status);
    mb_event_release(&ev);
    json_decref(doc);
}

static void test_shapes(void **state)
{
    mb_event ev;
    cr_err err;
    const char *ok[] = {
        "{\"type\":\"HEARTBEAT\"}",
        "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":{\"value\":\"O1\"}}}",
        "{\"type\":\"FAILURE\",\"failure\":{\"agent_id\":{\"value\":\"S4\"},\"executor_id\":"
        "{\"value\":\"e\"},\"status\":256}}",
        "{\"type\":\"MESSAGE\",\"message\":{\"agent_id\":{\"value\":\"S4\"},\"executor_id\":"
        "{\"value\":\"e\"},\"data\":\"b2s=\"}}",
        "{\"type\":\"SOMETHING_NEW\",\"x\":1}",
        "{\"type\":\"ERROR\",\"message\":\"old doc shape\"}",
        "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"O\"},\"agent_id\":"
        "{\"value\":\"S\"},\"resources\":[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":"
        "{\"range\":[{\"begin\":\"31000\",\"end\":31001}]}}],\"attributes\":[{\"name\":\"rack\","
        "\"type\":\"SCALAR\",\"scalar\":{\"value\":3.0}},{\"name\":\"zone\",\"type\":\"TEXT\","
        "\"text\":{\"value\":\"z1\"}}],\"executor_ids\":[{\"value\":\"x\"}]}]}}",
        NULL};
    mb_event_type want[] = {MB_EV_HEARTBEAT, MB_EV_RESCIND, MB_EV_FAILURE, MB_EV_MESSAGE,
                            MB_EV_UNKNOWN,   MB_EV_ERROR,   MB_EV_OFFERS};
    for (size_t i = 0; ok[i]; i++) {
        assert_int_equal(mb_event_decode(ok[i], strlen(ok[i]), &ev, &err), 0);
        assert_int_equal(ev.type, want[i]);
        if (ev.type == MB_EV_FAILURE) {
            assert_int_equal(ev.u.failure.status, 256);
        } else if (ev.type == MB_EV_RESCIND) {
            assert_string_equal(ev.u.rescind.offer_id, "O1");
        } else if (ev.type == MB_EV_ERROR) {
            assert_string_equal(ev.u.error.message, "old doc shape");
        } else if (ev.type == MB_EV_OFFERS) {
            mb_offer *o = &ev.u.offers.v[0];
            assert_string_equal(mb_offer_attr(o, "rack"), "3");
            assert_string_equal(mb_offer_attr(o, "zone"), "z1");
            assert_null(mb_offer_attr(o, "nope"));
            assert_true(o->nports == 2);
            assert_string_equal(o->executor_ids[0], "x");
            mb_offer c;
            mb_offer_copy(&c, o);
            assert_string_equal(c.resources[0].name, "ports");
            mb_offer_release(&c);
        }
        mb_event_release(&ev);
    }
    const char *bad[] = {
        "not json",
        "[]",
        "{\"type\":1}",
        "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"state\":\"TASK_RUNNING\"}}}",
        "{\"type\":\"OFFERS\",\"offers\":[]}",
        "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"O\"}}]}}",
        "{\"type\":\"SUBSCRIBED\",\"subscribed\":{}}",
        "{\"type\":\"RESCIND\"}",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(mb_event_decode(bad[i], strlen(bad[i]), &ev, &err), -1);
        assert_int_equal(err.code, CR_EPARSE);
        mb_event_release(&ev); /* harmless on an empty event */
    }
    assert_int_equal(mb_exit_code_from_message("Command terminated with signal Terminated"), -1);
    assert_int_equal(mb_exit_code_from_message(NULL), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_transcript),
    cmocka_unit_test(test_failover_agent_loss),
    cmocka_unit_test(test_shapes),
};

CR_TEST_MAIN(tests)
