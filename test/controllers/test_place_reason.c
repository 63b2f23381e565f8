/* The service plan tells people why pending tasks wait: the bridge's
 * placement reason (status/pending) shows in the Ready and Progressing
 * condition messages. */
#include "test/lib/cr_test.h"

#include <string.h>

#include "controllers/plan.h"
#include "controllers/view.h"

static void plan_one(ctl_task *tasks, size_t n_tasks, const ctl_deploy *deps, size_t n_deps,
                     ctl_plan *out)
{
    static ctl_config cfg;
    static const ctl_request req = {.id = "web", .instances = 2, .revision = 1};
    ctl_config_defaults(&cfg);
    ctl_service_in in = {.request_id = "web",
                         .request = &req,
                         .deploys = deps,
                         .n_deploys = n_deps,
                         .tasks = tasks,
                         .n_tasks = n_tasks,
                         .config = &cfg,
                         .now = 1000000};
    ctl_service_plan(&in, out);
}

static const char *cond_msg(const ctl_plan *p, const char *type)
{
    const api_condition *c = api_conditions_get(&p->status.conditions, type);
    assert_non_null(c);
    return c->message ? c->message : "";
}

static void test_first_deploy_names_the_reason(void **state)
{
    ctl_deploy d = {.id = "v1", .revision = 2, .health_timeout_ms = 60000};
    ctl_task t[2] = {
        {.id = "p1", .deploy_id = "v1", .instance = 1, .pending = true,
         .launched_at = 999000, .place_reason = "NOT_ENOUGH_RESOURCES",
         .place_message = "needs cpus 3, largest offer has 2"},
        {.id = "p2", .deploy_id = "v1", .instance = 2, .pending = true,
         .launched_at = 999000, .place_reason = "NOT_ENOUGH_RESOURCES",
         .place_message = "needs cpus 3, largest offer has 2"},
    };
    ctl_plan p;
    plan_one(t, 2, &d, 1, &p);
    assert_string_equal(cond_msg(&p, "Ready"),
                        "the first deploy is rolling out; 2 tasks cannot be placed: "
                        "NOT_ENOUGH_RESOURCES (needs cpus 3, largest offer has 2)");
    assert_non_null(strstr(cond_msg(&p, "Progressing"),
                           "; 2 tasks cannot be placed: NOT_ENOUGH_RESOURCES (needs cpus 3"));
    ctl_plan_release(&p);
}

static void test_no_reason_no_text(void **state)
{
    ctl_deploy d = {.id = "v1", .revision = 2, .health_timeout_ms = 60000};
    ctl_task t[1] = {
        {.id = "p1", .deploy_id = "v1", .instance = 1, .pending = true, .launched_at = 999000},
    };
    ctl_plan p;
    plan_one(t, 1, &d, 1, &p);
    assert_string_equal(cond_msg(&p, "Ready"), "the first deploy is rolling out");
    assert_null(strstr(cond_msg(&p, "Progressing"), "cannot be placed"));
    ctl_plan_release(&p);
}

static void test_one_task_without_message(void **state)
{
    ctl_deploy d = {.id = "v1", .revision = 2, .health_timeout_ms = 60000};
    ctl_task t[2] = {
        {.id = "p1", .deploy_id = "v1", .instance = 1, .pending = true, .launched_at = 999000},
        {.id = "p2", .deploy_id = "v1", .instance = 2, .pending = true,
         .launched_at = 999000, .place_reason = "AGENT_ALREADY_USED"},
    };
    ctl_plan p;
    plan_one(t, 2, &d, 1, &p);
    assert_string_equal(cond_msg(&p, "Ready"),
                        "the first deploy is rolling out; 1 task cannot be placed: "
                        "AGENT_ALREADY_USED");
    ctl_plan_release(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_first_deploy_names_the_reason),
    cmocka_unit_test(test_no_reason_no_text),
    cmocka_unit_test(test_one_task_without_message),
};

CR_TEST_MAIN(tests)
