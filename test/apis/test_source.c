/* Unit tests of apis/source.c (the Source document and its status) and of
 * the Source kind and metadata.annotations in manifests (apis/manifest.c). */
#include <string.h>

#include "apis/doc.h"
#include "apis/manifest.h"
#include "apis/source.h"
#include "base/xalloc.h"
#include "test/lib/cr_test.h"

static api_source *decode(const char *text, char **problems)
{
    api_problems p = API_PROBLEMS_INIT;
    json_t *j = json_loads(text, 0, NULL);
    api_source *s;

    assert_non_null(j);
    s = api_source_from_json(j, NULL, &p);
    *problems = p.n ? api_problems_format(&p) : NULL;
    api_problems_release(&p);
    json_decref(j);
    return s;
}

static void test_source_valid_and_round_trip(void **state)
{
    char *probs;
    api_source *s = decode("{\"name\":\"apps\",\"repository\":\"https://git.example/a.git\","
                           "\"ref\":\"release/1.2\",\"path\":\"deploy/prod\",\"interval\":\"30s\","
                           "\"prune\":true,\"selfHeal\":false}",
                           &probs);
    assert_null(probs);
    assert_non_null(s);
    assert_int_equal(api_source_interval_ms(s), 30000);
    json_t *j = api_source_to_json(s);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"name\":\"apps\",\"repository\":\"https://git.example/a.git\","
                              "\"ref\":\"release/1.2\",\"path\":\"deploy/prod\",\"interval\":"
                              "\"30s\",\"prune\":true,\"selfHeal\":false}");
    free(text);
    json_decref(j);
    api_source_free(s);
    /* defaults */
    s = decode("{\"name\":\"a\",\"repository\":\"/srv/git/a\"}", &probs);
    assert_non_null(s);
    assert_int_equal(api_source_interval_ms(s), API_SOURCE_DEFAULT_INTERVAL_MS);
    api_source_free(s);
    api_source_free(NULL);
}

static void test_source_invalid(void **state)
{
    static const char *const cases[][2] = {
        {"{\"repository\":\"/r\"}", "name: required"},
        {"{\"name\":\"a b\",\"repository\":\"/r\"}", "name: must be 1-100 characters"},
        {"{\"name\":\"a\"}", "repository: required"},
        /* nothing handed to git may read as an option */
        {"{\"name\":\"a\",\"repository\":\"--upload-pack=touch x\"}", "repository: must not"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"ref\":\"-b\"}", "ref: must be a branch or tag"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"ref\":\"a..b\"}", "ref: must be a branch"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"path\":\"../etc\"}", "path: must be a relative"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"path\":\"/etc\"}", "path: must be a relative"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"path\":\"a/../../b\"}", "path: must be"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"interval\":\"soon\"}", "interval: must be a "
                                                                         "duration"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"interval\":\"10ms\"}", "between 1s and 24h"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"interval\":\"25h\"}", "between 1s and 24h"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"prune\":\"yes\"}", "prune"},
        {"{\"name\":\"a\",\"repository\":\"/r\",\"colour\":1}", "colour"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *probs;
        api_source *s = decode(cases[i][0], &probs);
        if (s || !probs || !strstr(probs, cases[i][1]))
            fail_msg("case %zu: wanted \"%s\", got %s", i, cases[i][1], probs ? probs : "none");
        free(probs);
    }
}

static void test_duration(void **state)
{
    assert_int_equal(api_duration_parse_ms("500ms"), 500);
    assert_int_equal(api_duration_parse_ms("2s"), 2000);
    assert_int_equal(api_duration_parse_ms("5m"), 300000);
    assert_int_equal(api_duration_parse_ms("1h"), 3600000);
    assert_int_equal(api_duration_parse_ms("1"), -1);
    assert_int_equal(api_duration_parse_ms("-1s"), -1);
    assert_int_equal(api_duration_parse_ms("1.5s"), -1);
    assert_int_equal(api_duration_parse_ms(NULL), -1);
}

static void test_status_round_trip(void **state)
{
    const char *text =
        "{\"name\":\"apps\",\"commit\":\"abc\",\"syncedAt\":5,\"fetchedCommit\":\"abd\","
        "\"fetchedAt\":6,\"observedRevision\":7,\"syncRequest\":8,\"changes\":[\"request/web "
        "created\"],\"drift\":[],\"requests\":[\"web\"],\"deploys\":[\"web/v1\"],\"updatedAt\":9,"
        "\"conditions\":[{\"type\":\"Synced\",\"status\":\"True\",\"reason\":\"Synced\","
        "\"lastTransitionTime\":5}]}";
    api_problems p = API_PROBLEMS_INIT;
    api_source_status st, copy;
    json_t *j = json_loads(text, 0, NULL), *back;

    assert_int_equal(api_source_status_from_json(j, &st, &p), 0);
    assert_string_equal(st.commit, "abc");
    assert_int_equal(st.requests.n, 1);
    assert_int_equal(st.conditions.n, 1);
    api_source_status_copy(&copy, &st);
    back = api_source_status_to_json(&copy);
    assert_true(json_equal(j, back));
    json_decref(back);
    json_decref(j);
    api_source_status_release(&st);
    api_source_status_release(&copy);
    api_problems_release(&p);
}

static void test_manifest_source_and_annotations(void **state)
{
    const char *text = "apiVersion: corral/v1\n"
                       "kind: Source\n"
                       "metadata: {name: apps}\n"
                       "spec: {repository: /srv/git/apps, interval: 1m, selfHeal: true}\n"
                       "---\n"
                       "apiVersion: corral/v1\n"
                       "kind: Request\n"
                       "metadata:\n"
                       "  name: web\n"
                       "  annotations: {team: shop, owner: a}\n"
                       "spec: {requestType: WORKER, annotations: {owner: b}}\n";
    api_problems p = API_PROBLEMS_INIT;
    api_manifest *m = api_manifest_new();

    assert_int_equal(api_manifest_load_buffer(m, text, strlen(text), "x.yaml", NULL, &p), 0);
    assert_int_equal(m->n, 2);
    assert_int_equal(m->v[0].kind, API_OBJ_SOURCE);
    assert_string_equal(m->v[0].source->name, "apps");
    assert_true(m->v[0].source->selfHeal);
    assert_int_equal(m->v[1].kind, API_OBJ_REQUEST);
    assert_string_equal(api_strmap_get(&m->v[1].request->annotations, "team"), "shop");
    assert_string_equal(api_strmap_get(&m->v[1].request->annotations, "owner"), "b");
    json_t *all = api_manifest_to_json(m);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "kind")),
                        "Source");
    json_decref(all);
    api_manifest_free(m);
    api_problems_release(&p);

    /* a Source with a bad spec, or options, is refused with its position */
    const char *bad = "apiVersion: corral/v1\nkind: Source\nmetadata: {name: apps}\n"
                      "spec: {repository: /r, interval: often}\n";
    m = api_manifest_new();
    assert_int_equal(api_manifest_load_buffer(m, bad, strlen(bad), "x.yaml", NULL, &p), -1);
    char *s = api_problems_format(&p);
    assert_non_null(strstr(s, "x.yaml:4:"));
    assert_non_null(strstr(s, "spec.interval"));
    free(s);
    assert_int_equal(m->n, 0);
    api_manifest_free(m);
    api_problems_release(&p);
}

static void test_source_document_against_key(void **state)
{
    api_key_parts k;
    char *error = NULL;
    json_t *j = json_pack("{s:s,s:s}", "name", "other", "repository", "/r");
    void *doc;

    assert_int_equal(api_key_parse("/corral", "/corral/sources/apps", &k), 0);
    assert_int_equal(k.kind, API_KEY_SOURCE);
    doc = api_doc_decode(&k, j, &error);
    assert_non_null(doc); /* people write it: kept, with the problem */
    assert_non_null(error);
    assert_non_null(strstr(error, "does not match the key's source name"));
    free(error);
    api_doc_free(API_KEY_SOURCE, doc);
    api_key_parts_release(&k);
    json_decref(j);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_source_valid_and_round_trip),
    cmocka_unit_test(test_source_invalid),
    cmocka_unit_test(test_duration),
    cmocka_unit_test(test_status_round_trip),
    cmocka_unit_test(test_manifest_source_and_annotations),
    cmocka_unit_test(test_source_document_against_key),
};

CR_TEST_MAIN(tests)
