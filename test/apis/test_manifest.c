/* Unit tests of apis/manifest.c: the envelope, raw request JSON, deploy
 * bodies and bare deploys, procfile configs (env selection, --set, overlay),
 * directories, lists, set checks and problem positions. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/manifest.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static char *fixture_path(const char *rel)
{
    const char *src = getenv("CR_SRCDIR");
    return xasprintf("%s/test/apis/fixtures/manifests/%s", src && *src ? src : ".", rel);
}

/* Loads fixture rel; asserts the outcome (ok or not) and returns m. */
static api_manifest *load(const char *rel, const api_manifest_opts *o, api_problems *p,
                          bool want_ok)
{
    char *path = fixture_path(rel);
    api_manifest *m = api_manifest_new();
    int rc = api_manifest_load_path(m, path, o, p);
    if (rc == 0)
        api_manifest_check(m, p);
    if (want_ok && p->n) {
        char *all = api_problems_format(p);
        fail_msg("%s refused:\n%s", rel, all);
    }
    if (!want_ok && !p->n)
        fail_msg("%s accepted", rel);
    free(path);
    return m;
}

static const api_manifest_obj *find(const api_manifest *m, api_obj_kind kind, const char *id)
{
    for (size_t i = 0; i < m->n; i++) {
        const api_manifest_obj *o = &m->v[i];
        if (o->kind != kind)
            continue;
        if (kind == API_OBJ_REQUEST && strcmp(o->request->id, id) == 0)
            return o;
        if (kind == API_OBJ_DEPLOY && strcmp(o->deploy->requestId, id) == 0)
            return o;
    }
    return NULL;
}

/* j at dotted path (borrowed). */
static json_t *json_object_path_get(json_t *j, const char *path)
{
    char *copy = xstrdup(path), *save = NULL;
    for (char *t = strtok_r(copy, ".", &save); t && j; t = strtok_r(NULL, ".", &save))
        j = json_object_get(j, t);
    free(copy);
    return j;
}

static bool has_problem(const api_problems *p, const char *text)
{
    for (size_t i = 0; i < p->n; i++) {
        char *s = api_problem_format(&p->v[i]);
        bool hit = strstr(s, text) != NULL;
        free(s);
        if (hit)
            return true;
    }
    return false;
}

static void test_envelope(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = load("envelope.yaml", NULL, &p, true);
    assert_int_equal(m->n, 2);
    const api_manifest_obj *r = find(m, API_OBJ_REQUEST, "web");
    assert_non_null(r);
    assert_int_equal(r->request->type, API_SERVICE);
    assert_int_equal(r->request->instances, 2);
    assert_int_equal(r->line, 2);
    const api_manifest_obj *d = find(m, API_OBJ_DEPLOY, "web");
    assert_non_null(d);
    assert_string_equal(d->deploy->id, "v1");
    assert_false(d->deploy_id_derived);
    assert_string_equal(d->message, "first deploy");
    assert_true(d->deploy->resources->cpus == 0.5);

    /* The output list: Requests first, in the envelope. */
    json_t *list = api_manifest_to_json(m);
    assert_int_equal(json_array_size(list), 2);
    json_t *e0 = json_array_get(list, 0), *e1 = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(e0, "kind")), "Request");
    assert_string_equal(json_string_value(json_object_get(e0, "apiVersion")), "corral/v1");
    assert_string_equal(json_string_value(json_object_path_get(e0, "metadata.name")), "web");
    assert_string_equal(json_string_value(json_object_get(e1, "kind")), "Deploy");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e1, "options"), "message")),
        "first deploy");

    /* The output is itself a valid manifest that loads to the same objects. */
    char *s = json_dumps(list, 0);
    api_manifest *m2 = api_manifest_new();
    assert_int_equal(api_manifest_load_buffer(m2, s, strlen(s), "out.json", NULL, &p), 0);
    json_t *list2 = api_manifest_to_json(m2);
    assert_true(json_equal(list, list2));
    json_decref(list2);
    api_manifest_free(m2);
    free(s);
    json_decref(list);
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_envelope_errors(void **state)
{
    static const char *const cases[][2] = {
        {"apiVersion: v1\nkind: Request\nmetadata: {name: a}\nspec: {requestType: WORKER}\n",
         "apiVersion: must be corral/v1"},
        {"apiVersion: corral/v1\nkind: Pod\nspec: {}\n", "kind: must be Request, Deploy or Source"},
        {"apiVersion: corral/v1\nkind: Request\nspec: {requestType: WORKER}\n",
         "metadata.name: required"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\n", "spec: required"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\nspec: {id: b, requestType: "
         "WORKER}\n",
         "differs from metadata.name"},
        {"apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: v1}\nspec: {requestId: a, id: v2, "
         "command: x}\n",
         "differs from metadata.name"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: a, labels: {}}\nspec: "
         "{requestType: WORKER}\n",
         "metadata.labels: unknown field"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\nspec: {requestType: "
         "WORKER}\nextra: 1\n",
         "extra: unknown field"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\nspec: {requestType: "
         "WORKER}\noptions: {}\n",
         "only allowed for kind Deploy"},
        /* Issue 21: ids that no key or URL can carry. */
        {"apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: \"..\"}\nspec: {requestId: a, "
         "command: x}\n",
         "spec.id: \"..\" must be 1-50 characters of [a-zA-Z0-9_.]"},
        {"apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: v1}\nspec: {requestId: a, id: "
         "\".\", command: x}\n",
         "differs from metadata.name"},
        {"apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: \".\"}\nspec: {requestId: a, "
         "command: x}\n",
         "must be 1-50 characters of [a-zA-Z0-9_.] (no '-', not only dots)"},
        {"apiVersion: corral/v1\nkind: Request\nmetadata: {name: \"..\"}\nspec: {requestType: "
         "WORKER}\n",
         "spec.id: \"..\" must be 1-100 characters of [a-zA-Z0-9_-]"},
        {"- 1\n- 2\n", "[0]: a document must be a map"},
        {"hello\n", "a document must be a map"},
        {"foo: bar\n", "cannot tell what this document is"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_problems p = API_PROBLEMS_INIT;
        api_manifest *m = api_manifest_new();
        int rc = api_manifest_load_buffer(m, cases[i][0], strlen(cases[i][0]), "x.yaml", NULL, &p);
        if (rc == 0 || !has_problem(&p, cases[i][1])) {
            char *all = api_problems_format(&p);
            fail_msg("case %zu: wanted \"%s\", got:\n%s", i, cases[i][1], all);
        }
        assert_int_equal(m->n, 0);
        api_manifest_free(m);
        api_problems_release(&p);
    }
}

static void test_raw_request_and_deploy_body(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = load("raw_request.json", NULL, &p, true);
    assert_int_equal(m->n, 1);
    assert_int_equal(m->v[0].kind, API_OBJ_REQUEST);
    assert_int_equal(m->v[0].request->type, API_SERVICE);

    char *path = fixture_path("deploy_body.json");
    assert_int_equal(api_manifest_load_path(m, path, NULL, &p), 0);
    free(path);
    assert_int_equal(m->n, 2);
    const api_manifest_obj *d = &m->v[1];
    assert_int_equal(d->kind, API_OBJ_DEPLOY);
    assert_true(d->deploy_id_derived);
    assert_true(api_deploy_id_valid(d->deploy->id));
    assert_string_equal(d->message, "from the API body");
    assert_true(d->has_unpause && d->unpauseOnSuccessfulDeploy);
    /* TestService is loadBalanced: the set check wants LB fields. */
    assert_true(api_manifest_check(m, &p) > 0);
    assert_true(has_problem(
        &p, "deploy_body.json:2:3: deploy.serviceBasePath: required for a load-balanced request"));
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_seed_deploy_object(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    const char *src = getenv("CR_SRCDIR");
    char *path =
        xasprintf("%s/test/apis/fixtures/objects/deploy_seed.json", src && *src ? src : ".");
    api_manifest *m = api_manifest_new();
    assert_int_equal(api_manifest_load_path(m, path, NULL, &p), 0);
    assert_int_equal(m->n, 1);
    assert_int_equal(m->v[0].kind, API_OBJ_DEPLOY);
    assert_string_equal(m->v[0].deploy->id, "71_7");
    assert_string_equal(m->v[0].deploy->requestId, "MDS_TestService");
    free(path);
    api_manifest_free(m);
}

static void test_seed_procfile(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = load("seed_procfile.yaml", NULL, &p, true);
    assert_int_equal(m->n, 6);
    const api_manifest_obj *web =
        find(m, API_OBJ_REQUEST, "MDS_All_Item_Types_In_One_Config-webService");
    const api_manifest_obj *job =
        find(m, API_OBJ_REQUEST, "MDS_All_Item_Types_In_One_Config-scheduledJob");
    const api_manifest_obj *wrk =
        find(m, API_OBJ_REQUEST, "MDS_All_Item_Types_In_One_Config-worker");
    assert_non_null(web);
    assert_non_null(job);
    assert_non_null(wrk);
    assert_int_equal(web->request->type, API_SERVICE);
    assert_int_equal(web->request->instances, 2);
    assert_false(web->request->has_numRetriesOnFailure); /* dropped: long-running */
    assert_int_equal(job->request->type, API_SCHEDULED);
    assert_string_equal(job->request->schedule, "*/3 * * * *");
    assert_int_equal(job->request->numRetriesOnFailure, 5);
    assert_int_equal(wrk->request->type, API_WORKER);
    assert_string_equal(web->request->owners.v[0], "user@hubspot.com");

    const api_manifest_obj *wd = find(m, API_OBJ_DEPLOY, web->request->id);
    assert_non_null(wd);
    assert_true(wd->deploy_id_derived);
    assert_string_equal(wd->deploy->command,
                        "java $JVM_DEFAULT_OPTS -jar TestService.jar server $CONFIG_YAML");
    assert_true(wd->deploy->resources->cpus == 2.0);
    assert_true(wd->deploy->resources->memoryMb == 1024.0);
    assert_string_equal(api_strmap_get(&wd->deploy->env, "JOB_JAR"), "TestJob.jar");
    assert_string_equal(wd->deploy->serviceBasePath, "/mesos-deploy-test-srv1/v1");
    assert_true(api_strlist_contains(&wd->deploy->loadBalancerGroups, "test"));
    const api_manifest_obj *jd = find(m, API_OBJ_DEPLOY, job->request->id);
    assert_null(jd->deploy->healthcheck); /* jobs have no readiness checks */

    /* Loading again gives the same deploy ids (apply twice = no-op). */
    api_manifest *m2 = load("seed_procfile.yaml", NULL, &p, true);
    json_t *a = api_manifest_to_json(m), *b = api_manifest_to_json(m2);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    api_manifest_free(m2);
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_procfile_envs_and_types(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest_opts o = {.env = "qa"};
    api_manifest *m = load("procfile_envs.yaml", &o, &p, true);
    assert_int_equal(m->n, 6);
    const api_manifest_obj *web = find(m, API_OBJ_DEPLOY, "shop-web");
    assert_non_null(web);
    assert_string_equal(api_strmap_get(&web->deploy->env, "LOG_LEVEL"), "debug"); /* qa over all */
    assert_string_equal(api_strmap_get(&web->deploy->env, "PORT_HINT"),
                        "8080"); /* number -> string */
    assert_string_equal(api_strmap_get(&web->deploy->env, "DB"), "qa-db");
    assert_string_equal(api_strmap_get(&web->deploy->metadata, "environment"), "qa");
    assert_non_null(web->deploy->healthcheck);
    assert_string_equal(web->deploy->healthcheck->uri, "/health");
    assert_int_equal(web->deploy->healthcheck->intervalSeconds, 10);
    assert_int_equal(web->deploy->healthcheck->responseTimeoutSeconds, 5);
    assert_int_equal(web->deploy->resources->numPorts, 1);
    assert_int_equal(find(m, API_OBJ_REQUEST, "shop-nightly-report")->request->type, API_SCHEDULED);
    const api_manifest_obj *re = find(m, API_OBJ_REQUEST, "shop-reindex");
    assert_int_equal(re->request->type, API_ON_DEMAND);
    assert_string_equal(
        api_strmap_get(&find(m, API_OBJ_DEPLOY, "shop-reindex")->deploy->env, "BATCH"), "100");
    char *qa_id = xstrdup(web->deploy->id);
    api_manifest_free(m);

    /* Another environment: other env, so another deploy id. */
    o.env = "prod";
    m = load("procfile_envs.yaml", &o, &p, true);
    web = find(m, API_OBJ_DEPLOY, "shop-web");
    assert_string_equal(api_strmap_get(&web->deploy->env, "LOG_LEVEL"), "info");
    assert_string_equal(api_strmap_get(&web->deploy->env, "DB"), "prod-db");
    assert_string_not_equal(web->deploy->id, qa_id);
    free(qa_id);
    api_manifest_free(m);

    /* An environment the config lacks is a problem. */
    o.env = "staging";
    m = load("procfile_envs.yaml", &o, &p, false);
    assert_true(has_problem(&p, "procfile_envs.yaml:5:1: env: no environment \"staging\""));
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_procfile_overrides(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    const char *sets[] = {"procfile.webService.cmd=python3 -m http.server $PORT0",
                          "procfile.webService.instances=3", "procfile.scheduledJob=null",
                          "procfile.worker.cmd=sleep 1000"};
    api_manifest_opts o = {.sets = sets, .nsets = 4};
    api_manifest *m = load("seed_procfile.yaml", &o, &p, true);
    assert_int_equal(m->n, 4); /* scheduledJob removed */
    const api_manifest_obj *web =
        find(m, API_OBJ_DEPLOY, "MDS_All_Item_Types_In_One_Config-webService");
    assert_string_equal(web->deploy->command, "python3 -m http.server $PORT0");
    assert_int_equal(
        find(m, API_OBJ_REQUEST, "MDS_All_Item_Types_In_One_Config-webService")->request->instances,
        3);
    assert_string_equal(
        find(m, API_OBJ_DEPLOY, "MDS_All_Item_Types_In_One_Config-worker")->deploy->command,
        "sleep 1000");
    api_manifest_free(m);

    /* An overlay file does the same with YAML. */
    char *dir = cr_test_tmpdir();
    char *ov = xasprintf("%s/overlay.yaml", dir);
    FILE *f = fopen(ov, "w");
    fputs("procfile:\n  webService:\n    cmd: ./serve --port $PORT0\n    healthcheckUri: /\nenv:\n "
          " all:\n    X: y\n",
          f);
    fclose(f);
    api_manifest_opts o2 = {.overlay = ov};
    m = load("seed_procfile.yaml", &o2, &p, true);
    web = find(m, API_OBJ_DEPLOY, "MDS_All_Item_Types_In_One_Config-webService");
    assert_string_equal(web->deploy->command, "./serve --port $PORT0");
    assert_string_equal(web->deploy->healthcheck->uri, "/");
    assert_string_equal(api_strmap_get(&web->deploy->env, "X"), "y");
    assert_string_equal(api_strmap_get(&web->deploy->env, "JOB_JAR"),
                        "TestJob.jar"); /* merged, kept */
    assert_int_equal(web->deploy->resources->memoryMb, 1024);
    api_manifest_free(m);
    unlink(ov);
    rmdir(dir);
    free(ov);
    free(dir);

    /* Malformed assignments. */
    const char *bad[] = {"no-equals"};
    api_manifest_opts o3 = {.sets = bad, .nsets = 1};
    m = load("seed_procfile.yaml", &o3, &p, false);
    assert_true(has_problem(&p, "must be path=value"));
    api_manifest_free(m);
    api_problems_release(&p);
    const char *bad2[] = {"name.x=1"};
    api_manifest_opts o4 = {.sets = bad2, .nsets = 1};
    m = load("seed_procfile.yaml", &o4, &p, false);
    assert_true(has_problem(&p, "not inside a map"));
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_procfile_problems(void **state)
{
    const char *y = "name: app\n"
                    "procfile:\n"
                    "  web:\n"
                    "    cmd: run\n"
                    "    cpus: lots\n"
                    "    color: blue\n"
                    "  job:\n"
                    "    schedule: '* * * * *'\n"
                    "  bad:\n"
                    "    cmd: x\n"
                    "    type: DAEMON\n"
                    "bogus: 1\n";
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = api_manifest_new();
    assert_int_equal(api_manifest_load_buffer(m, y, strlen(y), "p.yaml", NULL, &p), -1);
    assert_true(has_problem(&p, "p.yaml:5:5: procfile.web.cpus: must be a number"));
    assert_true(has_problem(&p, "p.yaml:6:5: procfile.web.color: unknown field"));
    assert_true(has_problem(&p, "p.yaml:7:3: procfile.job.cmd: required"));
    assert_true(has_problem(&p, "p.yaml:11:5: procfile.bad.type: must be one of"));
    assert_true(has_problem(&p, "p.yaml:12:1: bogus: unknown field"));
    api_manifest_free(m);
    api_problems_release(&p);

    char *id = api_procfile_request_id("My App!", "web.v2");
    assert_string_equal(id, "My_App_-web_v2");
    assert_true(api_request_id_valid(id));
    free(id);
}

static void test_bad_field_positions(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = load("bad_field.yaml", NULL, &p, false);
    assert_int_equal(m->n, 0);
    assert_true(has_problem(&p, "bad_field.yaml:9:5: spec.resources.cpus: must be > 0"));
    assert_true(has_problem(
        &p,
        "bad_field.yaml:11:5: spec.resources.numprts: unknown field (did you mean \"numPorts\"?)"));
    assert_int_equal(p.n, 2);
    api_manifest_free(m);
    api_problems_release(&p);

    m = load("list.json", NULL, &p, false);
    assert_true(has_problem(&p, "list.json:3:70: [1].resources.cpus: must be > 0"));
    assert_int_equal(m->n, 1); /* the valid element still loaded */
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_directory_and_duplicates(void **state)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = load("tree", NULL, &p, true);
    /* tree/a.yaml (request + deploy) and tree/sub/b.json; notes.txt and
     * .hidden/ are skipped. */
    assert_int_equal(m->n, 3);
    assert_string_equal(m->v[0].request->id, "web");
    assert_string_equal(m->v[2].request->id, "TestService");
    /* Loading the same file again: every object is defined twice. */
    char *path = fixture_path("tree/a.yaml");
    assert_int_equal(api_manifest_load_path(m, path, NULL, &p), 0);
    assert_int_equal(api_manifest_check(m, &p), 2);
    assert_true(has_problem(&p, "request \"web\" is defined twice"));
    assert_true(has_problem(&p, "deploy \"v1\" of request \"web\" is defined twice"));
    free(path);
    api_manifest_free(m);
    api_problems_release(&p);

    m = api_manifest_new();
    assert_int_equal(api_manifest_load_path(m, "/nonexistent/x.yaml", NULL, &p), -1);
    assert_true(has_problem(&p, "/nonexistent/x.yaml: cannot open"));
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_allow_unknown(void **state)
{
    const char *y = "apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\n"
                    "spec: {requestType: WORKER, futureField: {x: 1}}\n";
    api_problems p = API_PROBLEMS_INIT;
    api_manifest_opts o = {.allow_unknown = true};
    api_manifest *m = api_manifest_new();
    assert_int_equal(api_manifest_load_buffer(m, y, strlen(y), "u.yaml", &o, &p), 0);
    json_t *j = api_request_to_json(m->v[0].request);
    assert_non_null(json_object_get(j, "futureField"));
    json_decref(j);
    api_manifest_free(m);
    m = api_manifest_new();
    assert_int_equal(api_manifest_load_buffer(m, y, strlen(y), "u.yaml", NULL, &p), -1);
    assert_true(has_problem(&p, "u.yaml:4:29: spec.futureField: unknown field"));
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_json_helpers(void **state)
{
    json_error_t e;
    json_t *base = json_loads("{\"a\":{\"b\":1,\"c\":2},\"d\":[1]}", 0, &e);
    json_t *over = json_loads("{\"a\":{\"b\":9},\"d\":[2,3],\"n\":\"x\"}", 0, &e);
    api_json_merge(base, over);
    json_t *want = json_loads("{\"a\":{\"b\":9,\"c\":2},\"d\":[2,3],\"n\":\"x\"}", 0, &e);
    assert_true(json_equal(base, want));
    api_problems p = API_PROBLEMS_INIT;
    assert_int_equal(api_json_set_path(base, "a.new.deep=true", &p), 0);
    assert_true(json_is_true(json_object_path_get(base, "a.new.deep")));
    assert_int_equal(api_json_set_path(base, "a.b=~", &p), 0);
    assert_null(json_object_get(json_object_get(base, "a"), "b"));
    assert_int_equal(api_json_set_path(base, "=1", &p), -1);
    assert_int_equal(api_json_set_path(base, "d.x=1", &p), -1);
    assert_int_equal(p.n, 2);
    json_decref(base);
    json_decref(over);
    json_decref(want);
    api_problems_release(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_envelope),
    cmocka_unit_test(test_envelope_errors),
    cmocka_unit_test(test_raw_request_and_deploy_body),
    cmocka_unit_test(test_seed_deploy_object),
    cmocka_unit_test(test_seed_procfile),
    cmocka_unit_test(test_procfile_envs_and_types),
    cmocka_unit_test(test_procfile_overrides),
    cmocka_unit_test(test_procfile_problems),
    cmocka_unit_test(test_bad_field_positions),
    cmocka_unit_test(test_directory_and_duplicates),
    cmocka_unit_test(test_allow_unknown),
    cmocka_unit_test(test_json_helpers),
};

CR_TEST_MAIN(tests)
