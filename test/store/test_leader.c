/* The leader decision function: a table of situations and the one action
 * each must produce. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "store/leader.h"

typedef struct row {
    const char *what;
    store_leader_view v;
    int64_t now;
    store_leader_action want;
} row;

static void test_decide_table(void **state)
{
    /* lease deadline 10000, keepalive due 3333, margin 1000 */
    const store_leader_view base = {
        .lease_id = 7, .lease_deadline_ms = 10000, .next_keepalive_ms = 3333, .margin_ms = 1000};
    row rows[32];
    size_t n = 0;

#define ROW(w, now_, want_, ...)               \
    do {                                       \
        store_leader_view v_ = base;           \
        __VA_ARGS__;                           \
        rows[n++] = (row){w, v_, now_, want_}; \
    } while (0)

    ROW("no lease yet: grant", 0, STORE_LD_GRANT, v_.lease_id = 0);
    ROW("no lease but a request in flight: wait", 0, STORE_LD_WAIT, v_.lease_id = 0,
        v_.busy = true);
    ROW("fresh lease, key unknown: campaign", 100, STORE_LD_CAMPAIGN);
    ROW("follower, key held by another: wait", 100, STORE_LD_WAIT, v_.key_known = true,
        v_.key_present = true, v_.key_create_rev = 5);
    ROW("follower, key deleted: campaign", 100, STORE_LD_CAMPAIGN, v_.key_known = true,
        v_.key_present = false);
    ROW("follower, keepalive due first", 4000, STORE_LD_KEEPALIVE, v_.key_known = true,
        v_.key_present = false);
    ROW("follower whose lease ran out: new lease", 10000, STORE_LD_GRANT, v_.key_known = true,
        v_.key_present = true);
    ROW("leader, all fine: wait", 100, STORE_LD_WAIT, v_.is_leader = true, v_.key_known = true,
        v_.key_present = true, v_.key_create_rev = 9, v_.my_create_rev = 9);
    ROW("leader, keepalive due", 3333, STORE_LD_KEEPALIVE, v_.is_leader = true, v_.key_known = true,
        v_.key_present = true, v_.key_create_rev = 9, v_.my_create_rev = 9);
    ROW("leader inside the margin: step down", 9000, STORE_LD_STEP_DOWN, v_.is_leader = true,
        v_.key_known = true, v_.key_present = true, v_.key_create_rev = 9, v_.my_create_rev = 9);
    ROW("leader inside the margin even while busy: step down", 9500, STORE_LD_STEP_DOWN,
        v_.is_leader = true, v_.busy = true, v_.key_create_rev = 9, v_.my_create_rev = 9);
    ROW("leader just before the margin: keepalive", 8999, STORE_LD_KEEPALIVE, v_.is_leader = true,
        v_.key_known = true, v_.key_present = true, v_.key_create_rev = 9, v_.my_create_rev = 9);
    ROW("leader key deleted: step down", 100, STORE_LD_STEP_DOWN, v_.is_leader = true,
        v_.key_known = true, v_.key_present = false, v_.my_create_rev = 9);
    ROW("leader key re-created by another: step down", 100, STORE_LD_STEP_DOWN, v_.is_leader = true,
        v_.key_known = true, v_.key_present = true, v_.key_create_rev = 12, v_.my_create_rev = 9);
    ROW("leader without a lease: step down", 100, STORE_LD_STEP_DOWN, v_.is_leader = true,
        v_.lease_id = 0);
#undef ROW

    for (size_t i = 0; i < n; i++) {
        store_leader_action got = store_leader_decide(&rows[i].v, rows[i].now);
        if (got != rows[i].want)
            fail_msg("%s: got %s, want %s", rows[i].what, store_leader_action_name(got),
                     store_leader_action_name(rows[i].want));
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decide_table),
};

CR_TEST_MAIN(tests)
