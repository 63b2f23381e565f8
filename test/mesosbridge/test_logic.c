/* Unit tests of mesosbridge/logic.c: backoff, reconciliation rounds, offer
 * holding, suppress/revive, heartbeat watchdog. */
#include <stdlib.h>

#include "mesosbridge/logic.h"
#include "test/lib/cr_test.h"

static void test_backoff(void **state)
{
    mb_backoff b;
    mb_backoff_init(&b, 1000, 15000);
    long want[] = {1000, 2000, 4000, 8000, 15000, 15000};
    for (int i = 0; i < 6; i++)
        assert_int_equal(mb_backoff_next(&b, 0), want[i]);
    mb_backoff_reset(&b);
    assert_int_equal(mb_backoff_next(&b, 0.5), 1250); /* jitter adds up to half */
    assert_int_equal(mb_backoff_next(&b, 7), 2000 + 999);
}

static void test_recon_rounds(void **state)
{
    mb_recon r;
    mb_recon_init(&r, 1000, 8000);
    assert_false(mb_recon_due(&r, 0));
    assert_false(mb_recon_remaining(&r, 0));
    mb_recon_start(&r, 100000);
    assert_true(mb_recon_due(&r, 100000));
    /* task heard before the round, or never: remaining; after: answered */
    assert_true(mb_recon_remaining(&r, 0));
    assert_true(mb_recon_remaining(&r, 99999));
    assert_false(mb_recon_remaining(&r, 100000));
    mb_recon_sent(&r, 100000, 3);
    assert_false(mb_recon_due(&r, 100999));
    assert_true(mb_recon_due(&r, 101000));
    mb_recon_sent(&r, 101000, 2);
    assert_false(mb_recon_due(&r, 102999));
    assert_true(mb_recon_due(&r, 103000));
    mb_recon_sent(&r, 103000, 1);
    mb_recon_sent(&r, 107000, 1);
    mb_recon_sent(&r, 115000, 1);
    assert_int_equal(r.next_ms, 123000); /* capped at 8 s */
    assert_int_equal(r.rounds, 5);
    mb_recon_sent(&r, 123000, 0);
    assert_false(r.active);
    assert_false(mb_recon_due(&r, 200000));
    /* a new SUBSCRIBED restarts from the base */
    mb_recon_start(&r, 300000);
    mb_recon_sent(&r, 300000, 1);
    assert_int_equal(r.next_ms, 301000);
}

/* A send goes a batch at a time: the next once the last is answered but
 * for a tenth, or after MB_RECON_BATCH_WAIT_MS; a task already sent in
 * the send is not sent again in it; the last batch ends the send. */
static void test_recon_batches(void **state)
{
    mb_recon r;
    mb_recon_init(&r, 1000, 8000);
    mb_recon_start(&r, 100000);
    assert_true(mb_recon_may_send(&r, 100000, 10));
    assert_true(mb_recon_unsent(&r, 0));
    unsigned b1 = mb_recon_batch_sent(&r, 100000, 10, false, 25);
    assert_true(b1 != 0);
    assert_true(r.active);
    assert_int_equal(r.rounds, 0);             /* the send is under way */
    assert_false(mb_recon_unsent(&r, 100000)); /* sent in this send */
    assert_true(mb_recon_unsent(&r, 99999));   /* sent before it */
    assert_false(mb_recon_may_send(&r, 100500, 10));
    for (int i = 0; i < 8; i++)
        mb_recon_answered(&r, b1);
    assert_false(mb_recon_may_send(&r, 100500, 10)); /* 2 of 10 unanswered */
    mb_recon_answered(&r, 0);                        /* a task not in any batch */
    assert_false(mb_recon_may_send(&r, 100500, 10));
    mb_recon_answered(&r, b1);
    assert_true(mb_recon_may_send(&r, 100500, 10)); /* a tenth left */
    unsigned b2 = mb_recon_batch_sent(&r, 100500, 10, false, 25);
    assert_true(b2 != b1);
    mb_recon_answered(&r, b1); /* the first batch's last answer, late */
    assert_int_equal(r.waiting, 10);
    assert_false(mb_recon_may_send(&r, 101499, 10));
    assert_true(mb_recon_may_send(&r, 101500, 10)); /* waited long enough */
    mb_recon_batch_sent(&r, 101500, 5, true, 25);
    /* the send is over: the round is re-sent after its backoff, in full */
    assert_int_equal(r.rounds, 1);
    assert_true(mb_recon_unsent(&r, 101500));
    assert_false(mb_recon_may_send(&r, 102499, 10));
    assert_true(mb_recon_may_send(&r, 102500, 10));
    unsigned b3 = r.batch;
    for (int i = 0; i < 20; i++)
        mb_recon_answered(&r, b3); /* never below zero */
    assert_int_equal(r.waiting, 0);
    /* nothing remaining ends the round */
    mb_recon_batch_sent(&r, 102500, 0, true, 0);
    assert_false(r.active);
    assert_false(mb_recon_may_send(&r, 200000, 10));
    /* after a new SUBSCRIBED, an answer to a batch sent before is not one */
    unsigned old = mb_recon_batch_sent(&r, 200000, 5, false, 9);
    mb_recon_start(&r, 300000);
    r.waiting = 3; /* as if a batch of the new round were out */
    mb_recon_answered(&r, old);
    assert_int_equal(r.waiting, 3);
}

static void test_offers(void **state)
{
    mb_offer_policy p = {.hold_ms = 2000, .refuse_idle_s = 300, .refuse_busy_s = 5};
    double refuse = -1;
    assert_true(mb_offer_should_decline(&p, 1000, 1000, 0, &refuse));
    assert_true(refuse == 300);
    refuse = -1;
    assert_false(mb_offer_should_decline(&p, 1000, 2999, 4, &refuse));
    assert_true(refuse == -1);
    assert_true(mb_offer_should_decline(&p, 1000, 3000, 4, &refuse));
    assert_true(refuse == 5);

    assert_int_equal(mb_offers_decide(false, 0, false, 0, 10, 1000, false), MB_OFFERS_SUPPRESS);
    assert_int_equal(mb_offers_decide(true, 0, true, 0, 10, 1000, false), MB_OFFERS_KEEP);
    assert_int_equal(mb_offers_decide(true, 2, false, 0, 10, 1000, false), MB_OFFERS_REVIVE);
    assert_int_equal(mb_offers_decide(false, 2, false, 0, 10, 1000, false), MB_OFFERS_KEEP);
    assert_int_equal(mb_offers_decide(false, 2, true, 5000, 5500, 1000, false), MB_OFFERS_KEEP);
    assert_int_equal(mb_offers_decide(false, 2, true, 5000, 6000, 1000, false), MB_OFFERS_REVIVE);

    /* the offer cache wants offers while nothing is pending: no SUPPRESS,
     * and a suppressed framework revives (at most once per interval) */
    assert_int_equal(mb_offers_decide(false, 0, false, 0, 10, 1000, true), MB_OFFERS_KEEP);
    assert_int_equal(mb_offers_decide(false, 0, true, 0, 10, 1000, true), MB_OFFERS_KEEP);
    assert_int_equal(mb_offers_decide(true, 0, false, 0, 10, 1000, true), MB_OFFERS_REVIVE);
    assert_int_equal(mb_offers_decide(true, 0, false, 5000, 5500, 1000, true), MB_OFFERS_KEEP);
}

static void test_heartbeat(void **state)
{
    assert_false(mb_heartbeat_expired(0, 75000, 15, 5));
    assert_true(mb_heartbeat_expired(0, 75001, 15, 5));
    assert_true(mb_heartbeat_expired(0, 3001, 1, 3));
    assert_false(mb_heartbeat_expired(0, 74000, 0, 0)); /* defaults 15 s x 5 */
}

static void test_location(void **state)
{
    struct {
        const char *cur, *loc, *want;
    } cases[] = {
        {"http://m1:5050", "//m2.example.com:5050/api/v1/scheduler", "http://m2.example.com:5050"},
        {"https://m1:5050", "//m2:5050/master/api/v1/scheduler", "https://m2:5050"},
        {"http://m1:5050", "m3:5050", "http://m3:5050"},
        {"http://m1:5050", "http://m4:5050/x", "http://m4:5050"},
        {"http://m1:5050", "", NULL},
        {"http://m1:5050", "//", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = mb_resolve_location(cases[i].cur, cases[i].loc);
        if (!cases[i].want)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_location),     cmocka_unit_test(test_backoff),
    cmocka_unit_test(test_recon_rounds), cmocka_unit_test(test_recon_batches),
    cmocka_unit_test(test_offers),       cmocka_unit_test(test_heartbeat),
};

CR_TEST_MAIN(tests)
