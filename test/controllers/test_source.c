/* Unit tests of controllers/source.c: the GitOps plan (fetch, apply in
 * dependency order, drift, selfHeal, conflicts, prune, an invalid commit,
 * the write cap) over a fake cluster, and the rendering of git archive's
 * tar into manifests. */
#include <string.h>

#include "apis/source.h"
#include "base/xalloc.h"
#include "controllers/source.h"
#include "test/lib/cr_test.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"

/* ---- a fake cluster: requests/<rid> -> {value, rev}; known deploys; newest ---- */

typedef struct fake {
    json_t *requests; /* rid -> {"value": ..., "rev": n} */
    json_t *deploys;  /* "rid/did" -> true */
    json_t *newest;   /* rid -> did */
} fake;

static const json_t *f_request(void *arg, const char *rid, int64_t *rev)
{
    fake *f = arg;
    json_t *e = json_object_get(f->requests, rid);
    *rev = json_integer_value(json_object_get(e, "rev"));
    return json_object_get(e, "value");
}

static bool f_deploy_known(void *arg, const char *rid, const char *did)
{
    fake *f = arg;
    char *k = xasprintf("%s/%s", rid, did);
    bool known = json_object_get(f->deploys, k) != NULL;
    free(k);
    return known;
}

static const char *f_newest(void *arg, const char *rid)
{
    fake *f = arg;
    return json_string_value(json_object_get(f->newest, rid));
}

/* A deploy's phase: "rid/did" -> ctl_src_deploy_phase in `phases`, else
 * rolling out. */
static json_t *phases;

static int f_phase(void *arg, const char *rid, const char *did)
{
    char *k = xasprintf("%s/%s", rid, did);
    json_t *p = json_object_get(phases, k);
    free(k);
    return p ? (int)json_integer_value(p) : CTL_SRC_DEPLOY_ROLLING;
}

static void fake_init(fake *f, ctl_source_cluster *cl)
{
    f->requests = json_object();
    f->deploys = json_object();
    f->newest = json_object();
    *cl = (ctl_source_cluster){f_request, f_deploy_known, f_newest, f_phase, f};
}

static void fake_release(fake *f)
{
    json_decref(f->requests);
    json_decref(f->deploys);
    json_decref(f->newest);
}

static void put_request(fake *f, const char *rid, const char *json, int64_t rev)
{
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    json_object_set_new(f->requests, rid, json_pack("{s:o,s:I}", "value", v, "rev", rev));
}

/* Writes of the plan into the fake, as etcd would apply them. */
static void apply_writes(fake *f, const ctl_source_plan *p)
{
    for (size_t i = 0; i < p->n_writes; i++) {
        const ctl_src_write *w = &p->writes[i];
        if (w->did) {
            char *k = xasprintf("%s/%s", w->rid, w->did);
            json_object_set_new(f->deploys, k, json_true());
            json_object_set_new(f->newest, w->rid, json_string(w->did));
            free(k);
        } else if (w->type == CTL_SRC_DELETE) {
            json_object_del(f->requests, w->rid);
        } else {
            json_object_set_new(f->requests, w->rid,
                                json_pack("{s:O,s:I}", "value", w->value, "rev", (json_int_t)100));
        }
    }
}

static api_manifest *manifest(const char *yaml)
{
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = api_manifest_new();
    if (api_manifest_load_buffer(m, yaml, strlen(yaml), "apps/x.yaml", NULL, &p) != 0) {
        char *s = api_problems_format(&p);
        fail_msg("manifest refused: %s", s);
    }
    api_problems_release(&p);
    return m;
}

static api_source *source(const char *json)
{
    api_problems p = API_PROBLEMS_INIT;
    json_t *j = json_loads(json, 0, NULL);
    api_source *s = api_source_from_json(j, NULL, &p);
    assert_non_null(s);
    json_decref(j);
    api_problems_release(&p);
    return s;
}

static const char *WEB = "apiVersion: corral/v1\nkind: Request\nmetadata: {name: web}\n"
                         "spec: {requestType: WORKER, instances: 2}\n---\n"
                         "apiVersion: corral/v1\nkind: Deploy\nmetadata: {name: v1}\n"
                         "spec: {requestId: web, command: run}\n";

static const api_condition *cond(const ctl_source_plan *p, const char *type)
{
    const api_condition *c = api_conditions_get(&p->status.conditions, type);
    assert_non_null(c);
    return c;
}

/* A fetched state: the input of a pass after a fetch of commit at time 1000. */
static ctl_source_in fetched(const api_source *s, const ctl_source_cluster *cl, const char *commit,
                             const api_manifest *m, const api_source_status *st)
{
    return (ctl_source_in){.name = "apps",
                           .source = s,
                           .source_revision = 5,
                           .status = st,
                           .fetched_at = 1000,
                           .fetched_revision = 5,
                           .commit = commit,
                           .manifest = m,
                           .cluster = cl,
                           .now = 1500};
}

static void test_fetch_first(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\",\"interval\":\"10s\"}");
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    fake_init(&f, &cl);

    ctl_source_in in = {
        .name = "apps", .source = s, .source_revision = 5, .cluster = &cl, .now = 1000};
    ctl_source_plan_run(&in, &p);
    assert_true(p.fetch);
    assert_int_equal(p.n_writes, 0);
    assert_false(p.status_changed);
    ctl_source_plan_release(&p);
    /* one in flight: wait for it */
    in.fetching = true;
    ctl_source_plan_run(&in, &p);
    assert_false(p.fetch);
    ctl_source_plan_release(&p);
    /* fetched, then the interval passes, the spec changes, or a sync is asked */
    api_manifest *m = manifest(WEB);
    in = fetched(s, &cl, C1, m, NULL);
    in.now = 11000;
    ctl_source_plan_run(&in, &p);
    assert_true(p.fetch);
    ctl_source_plan_release(&p);
    in = fetched(s, &cl, C1, m, NULL);
    in.source_revision = 6;
    ctl_source_plan_run(&in, &p);
    assert_true(p.fetch);
    ctl_source_plan_release(&p);
    in = fetched(s, &cl, C1, m, NULL);
    in.sync_request = 1200;
    ctl_source_plan_run(&in, &p);
    assert_true(p.fetch);
    ctl_source_plan_release(&p);
    api_manifest_free(m);
    api_source_free(s);
    fake_release(&f);
}

static void test_sync_then_steady(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\",\"interval\":\"10s\"}");
    api_manifest *m = manifest(WEB);
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p, p2;
    fake_init(&f, &cl);

    ctl_source_in in = fetched(s, &cl, C1, m, NULL);
    ctl_source_plan_run(&in, &p);
    assert_false(p.fetch);
    assert_int_equal(p.requeue_after_ms, 9500); /* the next fetch */
    /* requests before deploys */
    assert_int_equal(p.n_writes, 2);
    assert_int_equal(p.writes[0].type, CTL_SRC_CREATE);
    assert_null(p.writes[0].did);
    assert_string_equal(p.writes[0].rid, "web");
    assert_int_equal(p.writes[1].type, CTL_SRC_CREATE);
    assert_string_equal(p.writes[1].did, "v1");
    json_t *ann = json_object_get(p.writes[0].value, "annotations");
    assert_string_equal(json_string_value(json_object_get(ann, API_ANNOTATION_SOURCE)), "apps");
    assert_string_equal(json_string_value(json_object_get(ann, API_ANNOTATION_COMMIT)), C1);
    assert_true(json_object_get(json_object_get(p.writes[1].value, "annotations"),
                                API_ANNOTATION_SOURCE) != NULL);
    assert_int_equal(json_integer_value(json_object_get(p.writes[1].value, "timestamp")), 1500);
    assert_true(p.status_changed);
    assert_string_equal(p.status.commit, C1);
    assert_int_equal(p.status.syncedAt, 1500);
    assert_true(api_strlist_contains(&p.status.requests, "web"));
    assert_true(api_strlist_contains(&p.status.deploys, "web/v1"));
    assert_true(api_strlist_contains(&p.status.changes, "request/web created"));
    assert_true(api_strlist_contains(&p.status.changes, "deploy/web/v1 created"));
    assert_int_equal(cond(&p, API_COND_SYNCED)->status, API_COND_TRUE);
    assert_int_equal(cond(&p, API_COND_DRIFTED)->status, API_COND_FALSE);
    assert_int_equal(cond(&p, API_COND_FAILED)->status, API_COND_FALSE);

    /* the next pass over the written cluster: nothing to do, no status write */
    apply_writes(&f, &p);
    in = fetched(s, &cl, C1, m, &p.status);
    in.now = 1600;
    ctl_source_plan_run(&in, &p2);
    assert_int_equal(p2.n_writes, 0);
    assert_false(p2.status_changed);
    ctl_source_plan_release(&p2);
    ctl_source_plan_release(&p);
    api_manifest_free(m);
    api_source_free(s);
    fake_release(&f);
}

/* Syncs WEB at C1 into f; returns the status (caller releases). */
static void synced(fake *f, const ctl_source_cluster *cl, const api_source *s,
                   const api_manifest *m, api_source_status *out)
{
    ctl_source_plan p;
    ctl_source_in in = fetched(s, cl, C1, m, NULL);
    ctl_source_plan_run(&in, &p);
    apply_writes(f, &p);
    api_source_status_copy(out, &p.status);
    ctl_source_plan_release(&p);
}

static void test_drift_and_self_heal(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\"}");
    api_source *heal = source("{\"name\":\"apps\",\"repository\":\"/r\",\"selfHeal\":true}");
    api_manifest *m = manifest(WEB);
    api_source_status st;
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    fake_init(&f, &cl);
    synced(&f, &cl, s, m, &st);

    /* scaled through the API (the annotations stay) */
    put_request(&f, "web",
                "{\"id\":\"web\",\"requestType\":\"WORKER\",\"instances\":5,\"annotations\":"
                "{\"corral.io/source\":\"apps\",\"corral.io/commit\":\"" C1 "\"}}",
                42);
    ctl_source_in in = fetched(s, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_int_equal(cond(&p, API_COND_DRIFTED)->status, API_COND_TRUE);
    assert_int_equal(cond(&p, API_COND_SYNCED)->status, API_COND_FALSE);
    assert_int_equal(p.status.drift.n, 1);
    assert_non_null(strstr(p.status.drift.v[0], "request/web differs from the commit"));
    assert_non_null(strstr(p.status.drift.v[0], "~ instances: 5 -> 2"));
    ctl_source_plan_release(&p);

    /* with selfHeal: written back, at the revision read */
    in = fetched(heal, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 1);
    assert_int_equal(p.writes[0].type, CTL_SRC_PUT);
    assert_int_equal(p.writes[0].mod_revision, 42);
    assert_int_equal(json_integer_value(json_object_get(p.writes[0].value, "instances")), 2);
    assert_int_equal(cond(&p, API_COND_DRIFTED)->status, API_COND_FALSE);
    assert_non_null(strstr(p.status.changes.v[0], "request/web reverted"));
    ctl_source_plan_release(&p);

    /* deleted by hand: drift; re-created with selfHeal */
    json_object_del(f.requests, "web");
    in = fetched(s, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_string_equal(p.status.drift.v[0], "request/web was deleted outside the source");
    ctl_source_plan_release(&p);
    in = fetched(heal, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 1);
    assert_int_equal(p.writes[0].type, CTL_SRC_CREATE);
    assert_true(api_strlist_contains(&p.status.changes, "request/web re-created"));
    ctl_source_plan_release(&p);

    /* a deploy made by hand is reported; with selfHeal, cancelled while it
     * rolls out, and reported once it has */
    api_source_status_release(&st);
    synced(&f, &cl, s, m, &st);
    json_object_set_new(f.newest, "web", json_string("hotfix"));
    in = fetched(s, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_true(api_strlist_contains(&p.status.drift, "deploy/web/hotfix was created outside "
                                                      "the source"));
    assert_int_equal(p.n_writes, 0);
    ctl_source_plan_release(&p);
    in = fetched(heal, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 1);
    assert_int_equal(p.writes[0].type, CTL_SRC_CANCEL);
    assert_string_equal(p.writes[0].did, "hotfix");
    assert_string_equal(json_string_value(json_object_get(p.writes[0].value, "user")),
                        "corral-gitops");
    assert_true(api_strlist_contains(&p.status.changes,
                                     "deploy/web/hotfix cancelled (created outside the source)"));
    assert_int_equal(p.status.drift.n, 0);
    ctl_source_plan_release(&p);
    phases = json_pack("{s:i}", "web/hotfix", CTL_SRC_DEPLOY_ACTIVE);
    in = fetched(heal, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_non_null(strstr(p.status.drift.v[0], "already rolled out"));
    ctl_source_plan_release(&p);
    /* cancelled (or failed): the Source's deploy kept serving, no drift */
    json_object_set_new(phases, "web/hotfix", json_integer(CTL_SRC_DEPLOY_ENDED));
    in = fetched(heal, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_int_equal(p.status.drift.n, 0);
    assert_int_equal(cond(&p, API_COND_DRIFTED)->status, API_COND_FALSE);
    ctl_source_plan_release(&p);
    json_decref(phases);
    phases = NULL;

    api_source_status_release(&st);
    api_manifest_free(m);
    api_source_free(s);
    api_source_free(heal);
    fake_release(&f);
}

static void test_new_commit_wins_and_conflicts(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\"}");
    api_manifest *m = manifest(WEB);
    api_source_status st;
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    fake_init(&f, &cl);
    synced(&f, &cl, s, m, &st);

    /* drifted, then a new commit: applied in full */
    put_request(&f, "web",
                "{\"id\":\"web\",\"requestType\":\"WORKER\",\"instances\":5,\"annotations\":"
                "{\"corral.io/source\":\"apps\",\"corral.io/commit\":\"" C1 "\"}}",
                42);
    api_manifest *m2 = manifest("apiVersion: corral/v1\nkind: Request\nmetadata: {name: web}\n"
                                "spec: {requestType: WORKER, instances: 3}\n---\n"
                                "apiVersion: corral/v1\nkind: Request\nmetadata: {name: api}\n"
                                "spec: {requestType: WORKER}\n");
    /* api exists, made by hand */
    put_request(&f, "api", "{\"id\":\"api\",\"requestType\":\"WORKER\"}", 7);
    ctl_source_in in = fetched(s, &cl, C2, m2, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 1);
    assert_string_equal(p.writes[0].rid, "web");
    assert_int_equal(p.writes[0].type, CTL_SRC_PUT);
    assert_int_equal(json_integer_value(json_object_get(p.writes[0].value, "instances")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p.writes[0].value, "annotations"),
                                          API_ANNOTATION_COMMIT)),
        C2);
    assert_int_equal(cond(&p, API_COND_FAILED)->status, API_COND_TRUE);
    assert_string_equal(cond(&p, API_COND_FAILED)->reason, "Conflict");
    assert_non_null(strstr(cond(&p, API_COND_FAILED)->message,
                           "request/api exists and was not created by this source"));
    assert_false(api_strlist_contains(&p.status.requests, "api"));
    /* v1 is no longer in the commit; its request stays, so does its entry */
    assert_true(api_strlist_contains(&p.status.deploys, "web/v1"));
    ctl_source_plan_release(&p);
    api_manifest_free(m2);

    /* what the API refuses to change, a commit cannot change either */
    api_manifest *m3 = manifest("apiVersion: corral/v1\nkind: Request\nmetadata: {name: web}\n"
                                "spec: {requestType: SCHEDULED, schedule: '0 * * * *'}\n");
    in = fetched(s, &cl, C2, m3, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_non_null(strstr(cond(&p, API_COND_FAILED)->message,
                           "request/web cannot change requestType from WORKER to SCHEDULED"));
    assert_true(api_strlist_contains(&p.status.requests, "web"));
    ctl_source_plan_release(&p);
    api_manifest_free(m3);
    api_source_status_release(&st);
    api_manifest_free(m);
    api_source_free(s);
    fake_release(&f);
}

static void test_prune(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\"}");
    api_source *pr = source("{\"name\":\"apps\",\"repository\":\"/r\",\"prune\":true}");
    api_manifest *m = manifest("apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\n"
                               "spec: {requestType: WORKER}\n---\n"
                               "apiVersion: corral/v1\nkind: Request\nmetadata: {name: b}\n"
                               "spec: {requestType: WORKER}\n");
    api_manifest *only_a = manifest("apiVersion: corral/v1\nkind: Request\nmetadata: {name: a}\n"
                                    "spec: {requestType: WORKER}\n");
    api_source_status st;
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    fake_init(&f, &cl);
    synced(&f, &cl, s, m, &st);
    put_request(&f, "manual", "{\"id\":\"manual\",\"requestType\":\"WORKER\"}", 3);

    /* b removed from the repository, prune off: reported, kept */
    ctl_source_in in = fetched(s, &cl, C2, only_a, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_true(api_strlist_contains(&p.status.drift,
                                     "request/b is no longer in the commit (prune is off)"));
    assert_true(api_strlist_contains(&p.status.requests, "b"));
    ctl_source_plan_release(&p);

    /* prune on: b deleted at its revision; the hand-made request untouched */
    in = fetched(pr, &cl, C2, only_a, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 1);
    assert_int_equal(p.writes[0].type, CTL_SRC_DELETE);
    assert_string_equal(p.writes[0].rid, "b");
    assert_int_equal(p.writes[0].mod_revision, 100);
    assert_true(api_strlist_contains(&p.status.changes, "request/b pruned"));
    assert_false(api_strlist_contains(&p.status.requests, "b"));
    assert_string_equal(p.status.commit, C2);
    ctl_source_plan_release(&p);

    /* b taken over by hand (no annotation now): no longer ours, never pruned */
    put_request(&f, "b", "{\"id\":\"b\",\"requestType\":\"WORKER\"}", 8);
    in = fetched(pr, &cl, C2, only_a, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_false(api_strlist_contains(&p.status.requests, "b"));
    ctl_source_plan_release(&p);

    api_source_status_release(&st);
    api_manifest_free(m);
    api_manifest_free(only_a);
    api_source_free(s);
    api_source_free(pr);
    fake_release(&f);
}

static void test_invalid_commit_changes_nothing(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\",\"prune\":true}");
    api_manifest *m = manifest(WEB);
    api_source_status st;
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    fake_init(&f, &cl);
    synced(&f, &cl, s, m, &st);

    ctl_source_in in = fetched(s, &cl, C2, NULL, &st);
    in.error = "apps/web.yaml:4:29: spec.instances: must be an integer";
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_string_equal(p.status.commit, C1);
    assert_string_equal(p.status.fetchedCommit, C2);
    assert_int_equal(cond(&p, API_COND_FAILED)->status, API_COND_TRUE);
    assert_string_equal(cond(&p, API_COND_FAILED)->reason, "InvalidCommit");
    assert_non_null(strstr(cond(&p, API_COND_FAILED)->message, "apps/web.yaml:4:29"));
    assert_non_null(strstr(cond(&p, API_COND_SYNCED)->message, "the cluster keeps commit"));
    ctl_source_plan_release(&p);

    /* a fetch that failed */
    in = fetched(s, &cl, NULL, NULL, &st);
    in.error = "git fetch failed: repository not found";
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 0);
    assert_string_equal(cond(&p, API_COND_FAILED)->reason, "FetchFailed");
    ctl_source_plan_release(&p);

    /* an invalid Source document */
    in = fetched(NULL, &cl, NULL, NULL, &st);
    in.source_error = "repository: required";
    ctl_source_plan_run(&in, &p);
    assert_false(p.fetch);
    assert_int_equal(p.n_writes, 0);
    assert_string_equal(cond(&p, API_COND_FAILED)->reason, "InvalidSource");
    ctl_source_plan_release(&p);

    api_source_status_release(&st);
    api_manifest_free(m);
    api_source_free(s);
    fake_release(&f);
}

static void test_write_cap(void **state)
{
    api_source *s = source("{\"name\":\"apps\",\"repository\":\"/r\"}");
    cr_buf b = CR_BUF_INIT;
    fake f;
    ctl_source_cluster cl;
    ctl_source_plan p;
    api_source_status st;
    fake_init(&f, &cl);
    for (int i = 0; i < 150; i++)
        cr_buf_addf(&b,
                    "---\napiVersion: corral/v1\nkind: Request\nmetadata: {name: r%03d}\n"
                    "spec: {requestType: WORKER}\n",
                    i);
    api_manifest *m = manifest(cr_buf_str(&b));
    ctl_source_in in = fetched(s, &cl, C1, m, NULL);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, CTL_SOURCE_MAX_WRITES);
    assert_int_equal(p.requeue_after_ms, 1);
    assert_null(p.status.commit); /* not synced until the last write */
    assert_string_equal(cond(&p, API_COND_SYNCED)->reason, "Syncing");
    apply_writes(&f, &p);
    api_source_status_copy(&st, &p.status);
    ctl_source_plan_release(&p);
    in = fetched(s, &cl, C1, m, &st);
    ctl_source_plan_run(&in, &p);
    assert_int_equal(p.n_writes, 50);
    assert_string_equal(p.status.commit, C1);
    assert_int_equal(p.status.requests.n, 150);
    ctl_source_plan_release(&p);
    api_source_status_release(&st);
    api_manifest_free(m);
    cr_buf_release(&b);
    api_source_free(s);
    fake_release(&f);
}

/* ---- render ---------------------------------------------------------------------- */

static void tar_add(cr_buf *b, const char *name, const char *data)
{
    char h[512] = {0};
    size_t n = strlen(data), pad = (512 - n % 512) % 512;
    snprintf(h, 100, "%s", name);
    char size[32];
    snprintf(size, sizeof(size), "%011o", (unsigned)n);
    memcpy(h + 124, size, 11);
    h[156] = '0';
    memcpy(h + 257, "ustar", 5);
    cr_buf_add(b, h, sizeof(h));
    cr_buf_add(b, data, n);
    for (size_t i = 0; i < pad; i++)
        cr_buf_addch(b, '\0');
}

static void tar_end(cr_buf *b)
{
    for (int i = 0; i < 1024; i++)
        cr_buf_addch(b, '\0');
}

static void test_render(void **state)
{
    cr_buf b = CR_BUF_INIT;
    char *probs = NULL;
    tar_add(&b, "README.md", "# not a manifest\n");
    tar_add(&b, "apps/web.yaml", WEB);
    tar_add(&b, "other/x.yaml", "this: [is not read\n");
    tar_end(&b);
    api_manifest *m = ctl_source_render(b.data, b.len, "apps", &probs);
    assert_null(probs);
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_string_equal(m->v[0].file, "apps/web.yaml");
    api_manifest_free(m);
    /* the whole tree: other/x.yaml is read, and its problem names it */
    m = ctl_source_render(b.data, b.len, NULL, &probs);
    assert_null(m);
    assert_non_null(probs);
    assert_non_null(strstr(probs, "other/x.yaml:"));
    free(probs);
    cr_buf_release(&b);

    /* a validation problem carries file:line; a Source inside is refused */
    cr_buf_init(&b);
    tar_add(&b, "apps/bad.yaml",
            "apiVersion: corral/v1\nkind: Request\nmetadata: {name: w}\n"
            "spec: {requestType: WORKER, instances: three}\n");
    tar_end(&b);
    m = ctl_source_render(b.data, b.len, "apps", &probs);
    assert_null(m);
    assert_non_null(strstr(probs, "apps/bad.yaml:4:"));
    free(probs);
    cr_buf_release(&b);
    cr_buf_init(&b);
    tar_add(&b, "s.yaml",
            "apiVersion: corral/v1\nkind: Source\nmetadata: {name: s}\n"
            "spec: {repository: /r}\n");
    tar_end(&b);
    m = ctl_source_render(b.data, b.len, "", &probs);
    assert_null(m);
    assert_non_null(strstr(probs, "cannot be defined inside"));
    free(probs);
    /* truncated */
    m = ctl_source_render(b.data, 700, "", &probs);
    assert_null(m);
    assert_non_null(strstr(probs, "truncated"));
    free(probs);
    cr_buf_release(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fetch_first),
    cmocka_unit_test(test_sync_then_steady),
    cmocka_unit_test(test_drift_and_self_heal),
    cmocka_unit_test(test_new_commit_wins_and_conflicts),
    cmocka_unit_test(test_prune),
    cmocka_unit_test(test_invalid_commit_changes_nothing),
    cmocka_unit_test(test_write_cap),
    cmocka_unit_test(test_render),
};

CR_TEST_MAIN(tests)
