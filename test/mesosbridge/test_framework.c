/* Unit tests of the bridge's framework guard (mesosbridge/logic.c): the
 * stored framework document read strictly (an unreadable one is never
 * "absent"), and the bridge's status document (status/framework) planned
 * from its state. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/doc.h"
#include "apis/status.h"
#include "mesosbridge/logic.h"
#include "test/lib/cr_test.h"

static void test_framework_read(void **state)
{
    static const struct {
        const char *value; /* NULL: no key */
        mb_fw_doc want;
        const char *id_or_error; /* the id, or a part of the error */
    } cases[] = {
        {NULL, MB_FW_ABSENT, NULL},
        {"{\"frameworkId\":\"7c1e-0000\",\"updatedAt\":1764000000000}", MB_FW_OK, "7c1e-0000"},
        {"{\"frameworkId\":\"7c1e-0000\",\"newerField\":[1]}", MB_FW_OK, "7c1e-0000"},
        /* the example: a number is not an id, and not "no id" */
        {"{\"frameworkId\":5}", MB_FW_UNREADABLE, "frameworkId: must be a string"},
        {"{}", MB_FW_UNREADABLE, "frameworkId: is required"},
        {"{\"frameworkId\":null}", MB_FW_UNREADABLE, "frameworkId: is required"},
        {"{\"frameworkId\":\"\"}", MB_FW_UNREADABLE, "frameworkId: must be a Mesos framework id"},
        {"{\"frameworkId\":\"a b\"}", MB_FW_UNREADABLE, "must be a Mesos framework id"},
        {"{\"frameworkID\":\"7c1e-0000\"}", MB_FW_UNREADABLE, "frameworkId: is required"},
        {"{\"updatedAt\":1764000000000}", MB_FW_UNREADABLE, "frameworkId: is required"},
        {"{\"frameworkId\":\"x\",\"updatedAt\":\"soon\"}", MB_FW_UNREADABLE,
         "updatedAt: must be an integer"},
        {"\"7c1e-0000\"", MB_FW_UNREADABLE, "must be an object"},
        {"7c1e-0000", MB_FW_UNREADABLE, "not JSON"},
        {"", MB_FW_UNREADABLE, "not JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *id = (char *)1, *error = (char *)1;
        const char *v = cases[i].value;
        mb_fw_doc got = mb_framework_read(v, v ? strlen(v) : 0, &id, &error);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): got %d, want %d (%s)", i, v ? v : "(no key)", (int)got,
                     (int)cases[i].want, error ? error : "");
        switch (got) {
        case MB_FW_ABSENT:
            assert_null(id);
            assert_null(error);
            break;
        case MB_FW_OK:
            assert_null(error);
            assert_string_equal(id, cases[i].id_or_error);
            break;
        case MB_FW_UNREADABLE:
            assert_null(id);
            if (!strstr(error, cases[i].id_or_error))
                fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, error, cases[i].id_or_error);
            assert_null(strchr(error, '\n')); /* one line, for logs and status */
            break;
        }
        free(id);
        free(error);
    }
}

static const api_condition *cond(const api_framework_status *s, const char *type)
{
    const api_condition *c = api_conditions_get(&s->conditions, type);
    assert_non_null(c);
    return c;
}

static void test_status_plan(void **state)
{
    api_framework_status s = {0};
    mb_fw_state st = {.master = "http://m1:5050"};

    /* starting without an id: subscribing, a framework will be registered */
    assert_true(mb_fw_status_set(&s, &st, 1000));
    assert_string_equal(s.state, API_FW_STATE_SUBSCRIBING);
    assert_int_equal(cond(&s, API_COND_VALID)->status, API_COND_TRUE);
    assert_string_equal(cond(&s, API_COND_VALID)->reason, "NoFrameworkId");
    assert_int_equal(cond(&s, API_COND_SUBSCRIBED)->status, API_COND_FALSE);
    assert_int_equal(s.updatedAt, 1000);
    assert_false(mb_fw_status_set(&s, &st, 2000)); /* no change: no write */
    assert_int_equal(s.updatedAt, 1000);

    /* subscribed */
    st.subscribed = true;
    st.framework_id = "f-0001";
    assert_true(mb_fw_status_set(&s, &st, 3000));
    assert_string_equal(s.state, API_FW_STATE_SUBSCRIBED);
    assert_string_equal(s.frameworkId, "f-0001");
    assert_int_equal(cond(&s, API_COND_SUBSCRIBED)->status, API_COND_TRUE);
    assert_int_equal(cond(&s, API_COND_SUBSCRIBED)->lastTransitionTime, 3000);
    assert_string_equal(cond(&s, API_COND_VALID)->reason, "FrameworkIdLoaded");
    assert_int_equal(cond(&s, API_COND_VALID)->lastTransitionTime, 1000);

    /* a new leader finds the document unreadable: blocked, says why */
    api_framework_status b = {0};
    mb_fw_state bl = {.blocked = true,
                      .master = "http://m1:5050",
                      .error = "/corral/framework (revision 7) is unreadable: frameworkId: must "
                               "be a string, not an integer",
                      .observed_rev = 7};
    assert_true(mb_fw_status_set(&b, &bl, 5000));
    assert_string_equal(b.state, API_FW_STATE_BLOCKED);
    assert_string_equal(b.message, bl.error);
    assert_int_equal(b.observedRevision, 7);
    assert_int_equal(cond(&b, API_COND_VALID)->status, API_COND_FALSE);
    assert_string_equal(cond(&b, API_COND_VALID)->reason, "UnreadableFrameworkDocument");
    assert_string_equal(cond(&b, API_COND_VALID)->message, bl.error);
    assert_int_equal(cond(&b, API_COND_SUBSCRIBED)->status, API_COND_FALSE);
    /* the operator deletes it: valid again, no message */
    mb_fw_state ok = {.master = "http://m1:5050"};
    assert_true(mb_fw_status_set(&b, &ok, 6000));
    assert_string_equal(b.state, API_FW_STATE_SUBSCRIBING);
    assert_null(b.message);
    assert_int_equal(b.observedRevision, 0);
    assert_int_equal(cond(&b, API_COND_VALID)->status, API_COND_TRUE);
    assert_int_equal(cond(&b, API_COND_VALID)->lastTransitionTime, 6000);

    /* the document round-trips through its codec and the typed kind */
    json_t *j = api_framework_status_to_json(&s);
    api_key_parts kp = {.kind = API_KEY_FRAMEWORK_STATUS};
    char *error = NULL;
    api_framework_status *d = api_doc_decode(&kp, j, &error);
    assert_null(error);
    assert_non_null(d);
    assert_true(api_framework_status_equal(d, &s));
    assert_false(api_framework_status_equal(d, &b));
    api_doc_free(API_KEY_FRAMEWORK_STATUS, d);
    json_decref(j);

    /* stopped for good */
    st.stopped = true;
    st.error = "another scheduler took over the framework";
    assert_true(mb_fw_status_set(&s, &st, 7000));
    assert_string_equal(s.state, API_FW_STATE_STOPPED);
    assert_string_equal(s.message, st.error);
    assert_string_equal(cond(&s, API_COND_SUBSCRIBED)->reason, "Stopped");

    api_framework_status_release(&s);
    api_framework_status_release(&b);
}

static void test_status_decode_errors(void **state)
{
    api_key_parts kp = {.kind = API_KEY_FRAMEWORK_STATUS};
    char *error = NULL;
    json_t *j = cr_test_json("{\"frameworkId\":\"f\"}");
    assert_null(api_doc_decode(&kp, j, &error));
    assert_non_null(strstr(error, "state: is required"));
    free(error);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_framework_read),
    cmocka_unit_test(test_status_plan),
    cmocka_unit_test(test_status_decode_errors),
};

CR_TEST_MAIN(tests)
