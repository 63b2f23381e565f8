/* as_auth and apis/token: every access class against every kind of caller,
 * the change rules, how callers are identified (token file, tokens in a
 * hand-fed cache, certificates, a trusted header), the token file's
 * errors, the route table's classification, and a few API calls with
 * authorization on. Pure apart from the temporary token files. */
#include "test/lib/cr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/keys.h"
#include "apis/token.h"
#include "apiserver/as_api.h"
#include "apiserver/as_auth.h"
#include "apiserver/as_memo.h"
#include "apiserver/as_route.h"
#include "apiserver/as_user.h"
#include "base/xalloc.h"

/* ---- helpers ------------------------------------------------------------------ */

static void strlist_csv(api_strlist *l, const char *csv)
{
    char *copy, *save = NULL;

    if (!csv)
        return;
    copy = xstrdup(csv);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        api_strlist_add(l, t);
    free(copy);
}

static void ident(as_identity *who, const char *user, const char *groups)
{
    memset(who, 0, sizeof(*who));
    who->user.id = xstrdup(user);
    strlist_csv(&who->user.groups, groups);
    who->via = "token";
}

/* admins, default read-only "dro", global read-only "gro", jita "jita";
 * required "staff" when required is true. */
static void policy(as_auth_policy *p, bool required)
{
    memset(p, 0, sizeof(*p));
    p->enabled = true;
    strlist_csv(&p->admin_groups, "admins");
    strlist_csv(&p->default_read_only, "dro");
    strlist_csv(&p->global_read_only, "gro");
    strlist_csv(&p->jita_groups, "jita");
    if (required)
        strlist_csv(&p->required_groups, "staff");
}

static api_request *request(const char *json)
{
    static const api_decode_opts lenient = {.allow_unknown = true, .no_validate = true};
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = cr_test_json(json);
    api_request *r = api_request_from_json(j, &lenient, &probs);

    if (!r)
        fail_msg("bad test request %s", json);
    api_problems_release(&probs);
    json_decref(j);
    return r;
}

/* team-a's request: group, readWriteGroups and readOnlyGroups. */
#define REQ_A                                                         \
    "{\"id\":\"ra\",\"requestType\":\"WORKER\",\"group\":\"team-a\"," \
    "\"readWriteGroups\":[\"team-a-rw\"],\"readOnlyGroups\":[\"team-a-ro\"]}"

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' lacks '%s'", hay ? hay : "(null)", needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle))
        fail_msg("'%s' contains '%s'", hay, needle);
}

/* ---- the matrix ---------------------------------------------------------------- */

enum { C_OPEN, C_USER, C_READ, C_WRITE, C_GREAD, C_ADMIN, C__N };
static const as_access classes[C__N] = {AS_ACCESS_OPEN,  AS_ACCESS_USER,  AS_ACCESS_READ,
                                        AS_ACCESS_WRITE, AS_ACCESS_GREAD, AS_ACCESS_ADMIN};

/* Every caller in the required group "staff" except "unstaffed" (and the
 * admin, whom required groups do not gate). Expected status per class
 * against REQ_A: 0 allowed, 401, 403. */
static const struct {
    const char *user, *groups;
    int want[C__N];
} callers[] = {
    {NULL, NULL, {0, 401, 401, 401, 401, 401}},
    {"root", "admins", {0, 0, 0, 0, 0, 0}},
    {"member", "staff,team-a", {0, 0, 0, 0, 403, 403}},
    {"rw", "staff,team-a-rw", {0, 0, 0, 0, 403, 403}},
    {"ro", "staff,team-a-ro", {0, 0, 0, 403, 403, 403}},
    {"dro", "staff,dro", {0, 0, 403, 403, 403, 403}},
    {"gro", "staff,gro", {0, 0, 0, 403, 0, 403}},
    {"jita", "staff,jita", {0, 0, 0, 0, 0, 403}},
    {"outsider", "staff,team-z", {0, 0, 403, 403, 403, 403}},
    {"unstaffed", "team-a,admins-not", {0, 403, 403, 403, 403, 403}},
};
#define NCALLERS (sizeof(callers) / sizeof(callers[0]))

static void test_check_matrix(void **state)
{
    as_auth_policy p;
    api_request *ra = request(REQ_A);

    policy(&p, true);
    for (size_t i = 0; i < NCALLERS; i++) {
        as_identity who;
        const as_identity *w = NULL;
        if (callers[i].user) {
            ident(&who, callers[i].user, callers[i].groups);
            w = &who;
        }
        for (int c = 0; c < C__N; c++) {
            as_verdict v;
            bool ok = as_auth_check(&p, w, classes[c], "ra", ra, NULL, &v);
            if (v.status != callers[i].want[c] || ok != (callers[i].want[c] == 0))
                fail_msg("%s x %s: status %d (%s), want %d",
                         callers[i].user ? callers[i].user : "anonymous",
                         as_access_name(classes[c]), v.status, v.message, callers[i].want[c]);
            if (v.status)
                assert_true(v.message[0] != '\0');
            else
                assert_string_equal(v.message, "");
            if (v.status == 403)
                assert_contains(v.message, callers[i].user);
        }
        if (w)
            as_identity_release(&who);
    }
    api_request_free(ra);
    as_auth_policy_release(&p);
}

/* READ and WRITE without a request (lists, a new request): any caller who
 * passes the required groups. */
static void test_check_without_request(void **state)
{
    as_auth_policy p;

    policy(&p, true);
    for (size_t i = 0; i < NCALLERS; i++) {
        as_identity who;
        const as_identity *w = NULL;
        int want;
        if (callers[i].user) {
            ident(&who, callers[i].user, callers[i].groups);
            w = &who;
        }
        want = callers[i].want[C_USER];
        for (int c = C_READ; c <= C_WRITE; c++) {
            as_verdict v;
            as_auth_check(&p, w, classes[c], NULL, NULL, NULL, &v);
            if (v.status != want)
                fail_msg("%s x %s (no request): status %d, want %d",
                         callers[i].user ? callers[i].user : "anonymous",
                         as_access_name(classes[c]), v.status, want);
        }
        if (w)
            as_identity_release(&who);
    }
    as_auth_policy_release(&p);
}

static void test_check_messages(void **state)
{
    as_auth_policy p;
    api_request *ra = request(REQ_A);
    as_identity out, unstaffed;
    as_verdict v;

    policy(&p, true);
    ident(&out, "outsider", "staff,team-z");
    ident(&unstaffed, "u1", "team-a");

    assert_false(as_auth_check(&p, NULL, AS_ACCESS_READ, "ra", ra, NULL, &v));
    assert_int_equal(v.status, 401);
    assert_contains(v.message, "Bearer");

    assert_false(as_auth_check(&p, &out, AS_ACCESS_READ, "ra", ra, NULL, &v));
    assert_contains(v.message, "read request 'ra'");
    assert_contains(v.message, "team-a-ro");
    assert_contains(v.message, "team-a-rw");
    assert_contains(v.message, "team-a");
    assert_contains(v.message, "gro");

    assert_false(as_auth_check(&p, &out, AS_ACCESS_WRITE, "ra", ra, NULL, &v));
    assert_contains(v.message, "change request 'ra'");
    assert_contains(v.message, "team-a-rw");
    assert_contains(v.message, "team-a");
    assert_contains(v.message, "jita");
    assert_lacks(v.message, "team-a-ro");

    assert_false(as_auth_check(&p, &out, AS_ACCESS_GREAD, NULL, NULL, NULL, &v));
    assert_contains(v.message, "agents and racks");
    assert_contains(v.message, "admins");
    assert_contains(v.message, "jita");
    assert_contains(v.message, "gro");

    assert_false(as_auth_check(&p, &out, AS_ACCESS_ADMIN, NULL, NULL, NULL, &v));
    assert_contains(v.message, "admins");
    assert_lacks(v.message, "jita");

    assert_false(as_auth_check(&p, &unstaffed, AS_ACCESS_USER, NULL, NULL, NULL, &v));
    assert_contains(v.message, "staff");
    assert_contains(v.message, "u1");

    /* No admin groups configured: nobody is an admin, and the message says so. */
    api_strlist_release(&p.admin_groups);
    assert_false(as_auth_check(&p, &out, AS_ACCESS_ADMIN, NULL, NULL, NULL, &v));
    assert_contains(v.message, "(none configured)");
    assert_false(as_auth_is_admin(&p, &out));

    as_identity_release(&out);
    as_identity_release(&unstaffed);
    api_request_free(ra);
    as_auth_policy_release(&p);
}

/* A request naming no group and no readWriteGroups is open to every caller
 * (Singularity's rule); one without readOnlyGroups takes the default ones. */
static void test_check_open_and_default_ro(void **state)
{
    as_auth_policy p;
    api_request *open = request("{\"id\":\"o\",\"requestType\":\"WORKER\"}");
    api_request *nro = request("{\"id\":\"n\",\"requestType\":\"WORKER\",\"group\":\"team-a\"}");
    api_request *rwonly =
        request("{\"id\":\"w\",\"requestType\":\"WORKER\",\"readWriteGroups\":[\"team-w\"]}");
    as_identity out, dro, unstaffed;
    as_verdict v;

    policy(&p, true);
    ident(&out, "outsider", "staff,team-z");
    ident(&dro, "dro", "staff,dro");
    ident(&unstaffed, "u1", "team-z");

    assert_true(as_auth_check(&p, &out, AS_ACCESS_READ, "o", open, NULL, &v));
    assert_true(as_auth_check(&p, &out, AS_ACCESS_WRITE, "o", open, "BOUNCE", &v));
    assert_true(as_auth_can_read(&p, &out, open));
    /* ... but not to callers outside the required groups, nor anonymous ones. */
    assert_false(as_auth_check(&p, &unstaffed, AS_ACCESS_READ, "o", open, NULL, &v));
    assert_int_equal(v.status, 403);
    assert_false(as_auth_check(&p, NULL, AS_ACCESS_READ, "o", open, NULL, &v));
    assert_int_equal(v.status, 401);
    assert_false(as_auth_can_read(&p, NULL, open));

    /* No readOnlyGroups: the default read-only groups read it. */
    assert_true(as_auth_check(&p, &dro, AS_ACCESS_READ, "n", nro, NULL, &v));
    assert_false(as_auth_check(&p, &dro, AS_ACCESS_WRITE, "n", nro, NULL, &v));
    assert_false(as_auth_check(&p, &out, AS_ACCESS_READ, "n", nro, NULL, &v));
    assert_contains(v.message, "dro");

    /* readWriteGroups alone make it closed. */
    assert_false(as_auth_check(&p, &out, AS_ACCESS_WRITE, "w", rwonly, NULL, &v));
    assert_contains(v.message, "team-w");

    as_identity_release(&out);
    as_identity_release(&dro);
    as_identity_release(&unstaffed);
    api_request_free(open);
    api_request_free(nro);
    api_request_free(rwonly);
    as_auth_policy_release(&p);
}

static void test_check_action_permissions(void **state)
{
    as_auth_policy p;
    api_request *r = request(
        "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\","
        "\"readWriteGroups\":[\"team-a-rw\"],"
        "\"actionPermissions\":{\"team-a\":[\"BOUNCE\",\"SCALE\"],\"team-a-rw\":[\"EXEC\"]}}");
    api_request *plain = request(REQ_A);
    as_identity member, rw, admin, jita, ro;
    as_verdict v;

    policy(&p, false);
    ident(&member, "member", "team-a");
    ident(&rw, "rw", "team-a-rw");
    ident(&admin, "root", "admins");
    ident(&jita, "j", "jita");
    ident(&ro, "ro", "team-a-ro");

    assert_true(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "BOUNCE", &v));
    assert_true(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "SCALE", &v));
    assert_false(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "EXEC", &v));
    assert_int_equal(v.status, 403);
    assert_contains(v.message, "EXEC");
    assert_contains(v.message, "'ap'");
    assert_contains(v.message, "actionPermissions");
    assert_false(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "KILL_TASK", &v));
    assert_false(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "DELETE_SCHEDULED_TASK", &v));
    assert_false(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, "PAUSE", &v));
    assert_true(as_auth_check(&p, &rw, AS_ACCESS_WRITE, "ap", r, "EXEC", &v));
    assert_false(as_auth_check(&p, &rw, AS_ACCESS_WRITE, "ap", r, "BOUNCE", &v));
    assert_contains(v.message, "BOUNCE");
    /* Writes without a user-facing action are not limited. */
    assert_true(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ap", r, NULL, &v));
    assert_true(as_auth_check(&p, &rw, AS_ACCESS_WRITE, "ap", r, NULL, &v));
    /* Admins pass; jita writers are limited like any writer. */
    assert_true(as_auth_check(&p, &admin, AS_ACCESS_WRITE, "ap", r, "EXEC", &v));
    assert_false(as_auth_check(&p, &jita, AS_ACCESS_WRITE, "ap", r, "BOUNCE", &v));
    assert_true(as_auth_check(&p, &jita, AS_ACCESS_WRITE, "ap", r, NULL, &v));
    /* A reader stays a reader whatever the permissions say. */
    assert_true(as_auth_check(&p, &member, AS_ACCESS_READ, "ap", r, NULL, &v));
    assert_false(as_auth_check(&p, &ro, AS_ACCESS_WRITE, "ap", r, "BOUNCE", &v));
    assert_contains(v.message, "change request 'ap'");
    /* Without actionPermissions every writer may do every action. */
    const char *actions[] = {"BOUNCE", "EXEC",      "PAUSE",
                             "SCALE",  "KILL_TASK", "DELETE_SCHEDULED_TASK"};
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        assert_true(as_auth_check(&p, &member, AS_ACCESS_WRITE, "ra", plain, actions[i], &v));
        assert_true(as_auth_check(&p, &rw, AS_ACCESS_WRITE, "ra", plain, actions[i], &v));
    }

    as_identity_release(&member);
    as_identity_release(&rw);
    as_identity_release(&admin);
    as_identity_release(&jita);
    as_identity_release(&ro);
    api_request_free(r);
    api_request_free(plain);
    as_auth_policy_release(&p);
}

static void test_check_change(void **state)
{
    as_auth_policy p;
    api_request *ra = request(REQ_A);
    api_request *ra_same =
        request("{\"id\":\"ra\",\"requestType\":\"WORKER\",\"group\":\"team-a\",\"instances\":3,"
                "\"readWriteGroups\":[\"team-a-rw\"],\"readOnlyGroups\":[\"team-a-ro\"]}");
    api_request *ra_to_b = request("{\"id\":\"ra\",\"requestType\":\"WORKER\",\"group\":\"team-b\","
                                   "\"readWriteGroups\":[\"team-a-rw\"]}");
    api_request *ra_rw_b = request("{\"id\":\"ra\",\"requestType\":\"WORKER\",\"group\":\"team-a\","
                                   "\"readWriteGroups\":[\"team-b\"]}");
    api_request *new_b = request("{\"id\":\"nb\",\"requestType\":\"WORKER\",\"group\":\"team-b\"}");
    api_request *new_open = request("{\"id\":\"no\",\"requestType\":\"WORKER\"}");
    as_identity a, ab, b, rw, ro, admin, jita, unstaffed;
    as_verdict v;

    policy(&p, true);
    ident(&a, "a", "staff,team-a");
    ident(&ab, "ab", "staff,team-a,team-b");
    ident(&b, "b", "staff,team-b");
    ident(&rw, "rw", "staff,team-a-rw");
    ident(&ro, "ro", "staff,team-a-ro");
    ident(&admin, "root", "admins");
    ident(&jita, "j", "staff,jita");
    ident(&unstaffed, "u1", "team-b");

    /* A new request in a foreign group is refused, naming its groups. */
    assert_false(as_auth_check_change(&p, &a, NULL, new_b, &v));
    assert_int_equal(v.status, 403);
    assert_contains(v.message, "team-b");
    assert_contains(v.message, "'nb'");
    assert_true(as_auth_check_change(&p, &b, NULL, new_b, &v));
    assert_true(as_auth_check_change(&p, &a, NULL, new_open, &v));
    assert_true(as_auth_check_change(&p, &jita, NULL, new_b, &v));
    assert_true(as_auth_check_change(&p, &admin, NULL, new_b, &v));
    /* Required groups and authentication gate new requests too. */
    assert_false(as_auth_check_change(&p, &unstaffed, NULL, new_b, &v));
    assert_int_equal(v.status, 403);
    assert_contains(v.message, "staff");
    assert_false(as_auth_check_change(&p, NULL, NULL, new_open, &v));
    assert_int_equal(v.status, 401);

    /* Same owners: write on the old request is enough. */
    assert_true(as_auth_check_change(&p, &a, ra, ra_same, &v));
    assert_true(as_auth_check_change(&p, &rw, ra, ra_same, &v));
    assert_false(as_auth_check_change(&p, &ro, ra, ra_same, &v));
    assert_int_equal(v.status, 403);
    assert_false(as_auth_check_change(&p, &b, ra, ra_same, &v));

    /* New owners: write on both. */
    assert_false(as_auth_check_change(&p, &a, ra, ra_to_b, &v));
    assert_contains(v.message, "team-b");
    assert_false(as_auth_check_change(&p, &b, ra, ra_to_b, &v)); /* not a writer of old */
    assert_contains(v.message, "team-a");
    assert_true(as_auth_check_change(&p, &ab, ra, ra_to_b, &v));
    assert_true(as_auth_check_change(&p, &rw, ra, ra_to_b, &v));  /* keeps team-a-rw */
    assert_true(as_auth_check_change(&p, &a, ra, ra_rw_b, &v));   /* still the group */
    assert_false(as_auth_check_change(&p, &rw, ra, ra_rw_b, &v)); /* drops itself */
    assert_true(as_auth_check_change(&p, &admin, ra, ra_to_b, &v));
    assert_true(as_auth_check_change(&p, &jita, ra, ra_to_b, &v));
    assert_false(as_auth_check_change(&p, NULL, ra, ra_same, &v));
    assert_int_equal(v.status, 401);

    as_identity_release(&a);
    as_identity_release(&ab);
    as_identity_release(&b);
    as_identity_release(&rw);
    as_identity_release(&ro);
    as_identity_release(&admin);
    as_identity_release(&jita);
    as_identity_release(&unstaffed);
    api_request_free(ra);
    api_request_free(ra_same);
    api_request_free(ra_to_b);
    api_request_free(ra_rw_b);
    api_request_free(new_b);
    api_request_free(new_open);
    as_auth_policy_release(&p);
}

/* An update through POST /api/requests cannot get round actionPermissions:
 * new instances need SCALE, new owners or permissions need every action. */
static void test_change_keeps_action_permissions(void **state)
{
    as_auth_policy p;
    api_request *old = request(
        "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\",\"instances\":2,"
        "\"readWriteGroups\":[\"team-a-rw\"],"
        "\"actionPermissions\":{\"team-a\":[\"BOUNCE\",\"EXEC\",\"PAUSE\",\"SCALE\","
        "\"KILL_TASK\",\"DELETE_SCHEDULED_TASK\"],\"team-a-rw\":[\"EXEC\"]}}");
    api_request *scaled = request(
        "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\",\"instances\":5,"
        "\"readWriteGroups\":[\"team-a-rw\"],"
        "\"actionPermissions\":{\"team-a\":[\"BOUNCE\",\"EXEC\",\"PAUSE\",\"SCALE\","
        "\"KILL_TASK\",\"DELETE_SCHEDULED_TASK\"],\"team-a-rw\":[\"EXEC\"]}}");
    api_request *granted = request(
        "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\",\"instances\":2,"
        "\"readWriteGroups\":[\"team-a-rw\"],"
        "\"actionPermissions\":{\"team-a-rw\":[\"EXEC\",\"SCALE\"]}}");
    api_request *renamed = request(
        "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\",\"instances\":2,"
        "\"readWriteGroups\":[\"team-a-rw\"],\"description\":\"new words\","
        "\"actionPermissions\":{\"team-a\":[\"BOUNCE\",\"EXEC\",\"PAUSE\",\"SCALE\","
        "\"KILL_TASK\",\"DELETE_SCHEDULED_TASK\"],\"team-a-rw\":[\"EXEC\"]}}");
    as_identity member, rw, admin;
    as_verdict v;

    policy(&p, false);
    ident(&member, "member", "team-a");
    ident(&rw, "rw", "team-a-rw");
    ident(&admin, "root", "admins");

    assert_false(as_auth_check_change(&p, &rw, old, scaled, &v));
    assert_int_equal(v.status, 403);
    assert_contains(v.message, "SCALE");
    assert_false(as_auth_check_change(&p, &rw, old, granted, &v));
    assert_contains(v.message, "actionPermissions");
    assert_true(as_auth_check_change(&p, &rw, old, renamed, &v)); /* other fields: a writer's */
    assert_true(as_auth_check_change(&p, &member, old, scaled, &v));
    assert_true(as_auth_check_change(&p, &member, old, granted, &v));
    assert_true(as_auth_check_change(&p, &admin, old, granted, &v));

    as_identity_release(&member);
    as_identity_release(&rw);
    as_identity_release(&admin);
    api_request_free(old);
    api_request_free(scaled);
    api_request_free(granted);
    api_request_free(renamed);
    as_auth_policy_release(&p);
}

static void test_disabled_policy_allows_everything(void **state)
{
    as_auth_policy p;
    api_request *ra = request(REQ_A);
    api_request *rb = request("{\"id\":\"ra\",\"requestType\":\"WORKER\",\"group\":\"team-b\"}");
    api_request *ap = request("{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\","
                              "\"actionPermissions\":{\"team-a\":[]}}");
    as_identity out;
    as_verdict v;

    policy(&p, true);
    p.enabled = false;
    ident(&out, "outsider", "team-z");
    for (int c = 0; c < C__N; c++) {
        assert_true(as_auth_check(&p, NULL, classes[c], "ra", ra, NULL, &v));
        assert_int_equal(v.status, 0);
        assert_true(as_auth_check(&p, &out, classes[c], "ra", ra, NULL, &v));
        assert_true(as_auth_check(&p, &out, classes[c], "ap", ap, "BOUNCE", &v));
    }
    assert_true(as_auth_check_change(&p, NULL, ra, rb, &v));
    assert_true(as_auth_check_change(&p, &out, NULL, rb, &v));
    assert_true(as_auth_can_read(&p, NULL, ra));
    assert_true(as_auth_is_admin(&p, NULL));
    /* No policy at all: the same. */
    assert_true(as_auth_check(NULL, NULL, AS_ACCESS_ADMIN, NULL, NULL, NULL, &v));
    assert_true(as_auth_is_admin(NULL, NULL));
    /* An unclassified route is refused when the policy is on. */
    p.enabled = true;
    assert_false(as_auth_check(&p, &out, AS_ACCESS_UNSET, NULL, NULL, NULL, &v));
    assert_int_equal(v.status, 403);
    as_identity_release(&out);
    api_request_free(ra);
    api_request_free(rb);
    api_request_free(ap);
    as_auth_policy_release(&p);
}

/* ---- token files ---------------------------------------------------------------- */

typedef struct tmpfile_ {
    char *dir;
    char *path;
} tmpfile_;

static void write_file(tmpfile_ *t, const char *text, mode_t mode)
{
    int fd;

    t->dir = cr_test_tmpdir();
    t->path = xasprintf("%s/tokens", t->dir);
    fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(t->path, mode), 0);
}

static void remove_file(tmpfile_ *t)
{
    unlink(t->path);
    rmdir(t->dir);
    free(t->path);
    free(t->dir);
}

#define TOK_ALICE "alice-token-0123456789abcdef"
#define TOK_BOB   "bob-token-0123456789abcdef01"

static as_auth *auth_from(const char *text, mode_t mode, cr_err *err, const char *user_header,
                          const char *groups_header)
{
    tmpfile_ t;
    as_auth_options o = {.user_header = user_header, .groups_header = groups_header};
    as_auth *a;

    write_file(&t, text, mode);
    policy(&o.policy, false);
    o.token_file = t.path;
    a = as_auth_new(&o, err);
    as_auth_policy_release(&o.policy);
    remove_file(&t);
    return a;
}

/* Loading fails with a message containing each needle. */
static void expect_load_error(const char *text, mode_t mode, const char *n1, const char *n2)
{
    cr_err err;
    as_auth *a = auth_from(text, mode, &err, NULL, NULL);

    if (a)
        fail_msg("token file loaded: %s", text);
    assert_contains(cr_err_msg(&err), n1);
    if (n2)
        assert_contains(cr_err_msg(&err), n2);
}

static void test_token_file_errors(void **state)
{
#define GOOD TOK_ALICE " alice team-a\n"
    cr_err err;
    as_auth_options o = {.token_file = "/nonexistent/corral-tokens"};

    expect_load_error(GOOD, 0644, "readable by group or others", "644");
    expect_load_error(GOOD, 0640, "chmod 600", NULL);
    expect_load_error(GOOD, 0604, "mode 604", NULL);
    expect_load_error("# tokens\n\n" TOK_ALICE "\n", 0600, "tokens:3:", "<token> <user>");
    expect_load_error(GOOD TOK_BOB " bob team-b extra\n", 0600, "tokens:2:", "<token> <user>");
    expect_load_error("#\n" TOK_BOB " bad/user\n", 0600, "tokens:2:", "user 'bad/user'");
    expect_load_error(TOK_BOB " ..\n", 0600, "tokens:1:", "user '..'");
    expect_load_error("short alice\n", 0600, "tokens:1:", "16-512 characters");
    expect_load_error(GOOD "\n" TOK_BOB " bob team-b,bad!group\n", 0600,
                      "tokens:3:", "group names");
    /* A missing file. */
    policy(&o.policy, false);
    assert_null(as_auth_new(&o, &err));
    assert_contains(cr_err_msg(&err), "/nonexistent/corral-tokens");
    as_auth_policy_release(&o.policy);
    /* A good file: comments, blank lines, tabs, groups or none. */
    as_auth *a = auth_from("# who\n\n" TOK_ALICE "\talice  team-a,team-b\n" TOK_BOB " bob\n", 0600,
                           &err, NULL, NULL);
    assert_non_null(a);
    assert_int_equal(as_auth_static_tokens(a), 2);
    assert_true(as_auth_policy_of(a)->enabled);
    assert_string_equal(as_auth_policy_of(a)->admin_groups.v[0], "admins");
    assert_null(as_auth_user_header(a));
    as_auth_free(a);
    as_auth_free(NULL);
#undef GOOD
}

/* ---- identities ------------------------------------------------------------------- */

typedef struct idfx {
    as_auth *a;
    as_cache *c;
    char *etcd_token;    /* text of carol's etcd token */
    char *expired_token; /* dave's, expires at 500 */
} idfx;

static char *put_token(as_cache *c, const char *doc, int64_t rev)
{
    char *text = api_token_generate();
    char hash[API_TOKEN_HASH_LEN + 1];
    char *key;

    assert_non_null(text);
    api_token_hash(text, strlen(text), hash);
    key = api_key_auth_token("/corral", hash);
    as_cache_put(c, key, cr_test_json(doc), rev, rev);
    free(key);
    return text;
}

static int id_setup(void **state)
{
    idfx *f = calloc(1, sizeof(*f));
    cr_err err;

    f->a = auth_from(TOK_ALICE " alice team-a,team-b\n" TOK_BOB " bob\n", 0600, &err, "X-Username",
                     "X-Groups");
    assert_non_null(f->a);
    f->c = as_cache_new();
    f->etcd_token = put_token(
        f->c, "{\"user\":{\"id\":\"carol\",\"groups\":[\"team-c\"]},\"createdAt\":100}", 1);
    f->expired_token = put_token(
        f->c, "{\"user\":{\"id\":\"dave\",\"groups\":[\"team-d\"]},\"expiresAt\":500}", 2);
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int id_teardown(void **state)
{
    idfx *f = *state;
    as_auth_free(f->a);
    as_cache_free(f->c);
    free(f->etcd_token);
    free(f->expired_token);
    free(f);
    return 0;
}

/* Identifies cred at now; returns the rc and fills who (release it) and why. */
static as_auth_rc identify(idfx *f, const as_credentials *cred, int64_t now, as_identity *who,
                           const char **why)
{
    return as_auth_identify(f->a, f->c, "/corral", cred, now, who, why);
}

static as_auth_rc identify_header(idfx *f, const char *authorization, as_identity *who,
                                  const char **why)
{
    as_credentials cred = {.authorization = authorization};
    return identify(f, &cred, 1000, who, why);
}

static void expect_user(idfx *f, const char *authorization, const char *user, const char *via,
                        const char *groups)
{
    as_identity who;
    const char *why = "unset";
    api_strlist want = {0};

    assert_int_equal(identify_header(f, authorization, &who, &why), AS_AUTH_OK);
    assert_null(why);
    assert_string_equal(who.user.id, user);
    assert_string_equal(who.via, via);
    strlist_csv(&want, groups);
    assert_int_equal(who.user.groups.n, want.n);
    for (size_t i = 0; i < want.n; i++)
        assert_true(api_strlist_contains(&who.user.groups, want.v[i]));
    api_strlist_release(&want);
    as_identity_release(&who);
}

static void expect_bad(idfx *f, const char *authorization, const char *reason)
{
    as_identity who;
    const char *why = NULL;
    as_auth_rc rc = identify_header(f, authorization, &who, &why);

    if (rc != AS_AUTH_BAD)
        fail_msg("'%.40s': rc %d (user %s), want AS_AUTH_BAD (%s)", authorization, (int)rc,
                 who.user.id ? who.user.id : "-", reason);
    assert_non_null(why);
    assert_contains(why, reason);
    assert_null(who.user.id);
    /* The reason never repeats what was presented. */
    if (authorization && strlen(authorization) > 8)
        assert_lacks(why, authorization + 7);
}

static void test_identify_tokens(void **state)
{
    idfx *f = *state;
    char buf[600];

    expect_user(f, "Bearer " TOK_ALICE, "alice", "token-file", "team-a,team-b");
    expect_user(f, "Token " TOK_ALICE, "alice", "token-file", "team-a,team-b");
    expect_user(f, "bearer   " TOK_BOB "  ", "bob", "token-file", NULL);
    snprintf(buf, sizeof(buf), "Bearer %s", f->etcd_token);
    expect_user(f, buf, "carol", "token", "team-c");
    snprintf(buf, sizeof(buf), "Token %s", f->etcd_token);
    expect_user(f, buf, "carol", "token", "team-c");

    expect_bad(f, "Bearer " TOK_ALICE "x", "invalid token");
    expect_bad(f, "Bearer crl_0000000000000000000000000000000000000000000000000000000000000000",
               "invalid token");
    snprintf(buf, sizeof(buf), "Bearer %s", f->expired_token);
    expect_bad(f, buf, "expired token");
    expect_bad(f, "Basic YWxpY2U6cHc=", "malformed authorization header");
    expect_bad(f, "Bearer", "malformed");
    expect_bad(f, "Bearer ", "malformed");
    expect_bad(f, "Bearer two words", "malformed");
    expect_bad(f, "Bearer tab\there", "malformed");
    expect_bad(f, TOK_ALICE, "malformed");
    expect_bad(f, "", "malformed");
    memset(buf, 'x', sizeof(buf));
    memcpy(buf, "Bearer ", 7);
    buf[sizeof(buf) - 1] = '\0';
    expect_bad(f, buf, "malformed"); /* longer than API_TOKEN_MAX_LEN */
}

static void test_identify_expiry_and_no_cache(void **state)
{
    idfx *f = *state;
    as_credentials cred = {0};
    as_identity who;
    const char *why;
    char buf[600];

    snprintf(buf, sizeof(buf), "Bearer %s", f->expired_token);
    cred.authorization = buf;
    assert_int_equal(identify(f, &cred, 499, &who, &why), AS_AUTH_OK);
    assert_string_equal(who.user.id, "dave");
    assert_int_equal(who.expires_at, 500); /* its credential's end, for tokens it makes */
    as_identity_release(&who);
    assert_int_equal(identify(f, &cred, 500, &who, &why), AS_AUTH_BAD);
    assert_string_equal(why, "expired token");
    /* No cache: only the token file knows anyone. */
    snprintf(buf, sizeof(buf), "Bearer %s", f->etcd_token);
    assert_int_equal(as_auth_identify(f->a, NULL, "/corral", &cred, 1000, &who, &why), AS_AUTH_BAD);
    assert_string_equal(why, "invalid token");
    /* Another prefix: other keys. */
    assert_int_equal(as_auth_identify(f->a, f->c, "/other", &cred, 1000, &who, &why), AS_AUTH_BAD);
    /* An unreadable token document is no token. */
    {
        char *text = put_token(f->c, "{\"user\":{\"id\":\"bad user\"}}", 3);
        snprintf(buf, sizeof(buf), "Bearer %s", text);
        assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_BAD);
        assert_string_equal(why, "invalid token");
        free(text);
    }
}

static void test_identify_certificate_and_header(void **state)
{
    idfx *f = *state;
    const char *groups[] = {"ops", "bad group!", "ops", "dev"};
    as_credentials cred = {.cert_verified = true,
                           .cert_user = "erin",
                           .cert_groups = groups,
                           .cert_ngroups = 4,
                           .authorization = "Bearer " TOK_ALICE,
                           .header_user = "frank"};
    as_identity who;
    const char *why;

    /* A verified certificate wins over everything else; bad OUs are dropped. */
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_OK);
    assert_string_equal(who.user.id, "erin");
    assert_string_equal(who.via, "certificate");
    assert_int_equal(who.user.groups.n, 2);
    assert_true(api_strlist_contains(&who.user.groups, "ops"));
    assert_true(api_strlist_contains(&who.user.groups, "dev"));
    as_identity_release(&who);
    cred.cert_user = "erin smith";
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_BAD);
    assert_contains(why, "CN");
    /* Not verified: ignored; the token decides. */
    cred.cert_verified = false;
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_OK);
    assert_string_equal(who.user.id, "alice");
    as_identity_release(&who);
    /* No token: the trusted header. */
    cred.authorization = NULL;
    cred.header_groups = " g1, g2 ,g1,,";
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_OK);
    assert_string_equal(who.user.id, "frank");
    assert_string_equal(who.via, "header");
    assert_int_equal(who.user.groups.n, 2);
    assert_true(api_strlist_contains(&who.user.groups, "g1"));
    assert_true(api_strlist_contains(&who.user.groups, "g2"));
    as_identity_release(&who);
    cred.header_user = "fr/ank";
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_BAD);
    assert_string_equal(why, "invalid user header");
    cred.header_user = "frank";
    cred.header_groups = "ok,not ok";
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_BAD);
    assert_string_equal(why, "invalid groups header");
    assert_null(who.user.id);
    /* Nothing presented. */
    memset(&cred, 0, sizeof(cred));
    assert_int_equal(identify(f, &cred, 1000, &who, &why), AS_AUTH_ANONYMOUS);
    assert_null(why);
    assert_null(who.user.id);
}

/* The header is trusted only when configured. */
static void test_identify_header_not_configured(void **state)
{
    cr_err err;
    as_auth *a = auth_from(TOK_ALICE " alice\n", 0600, &err, NULL, NULL);
    as_credentials cred = {.header_user = "mallory", .header_groups = "admins"};
    as_identity who;
    const char *why;

    assert_non_null(a);
    assert_int_equal(as_auth_identify(a, NULL, "/corral", &cred, 0, &who, &why), AS_AUTH_ANONYMOUS);
    assert_null(who.user.id);
    as_auth_free(a);
}

static void test_bearer_parse(void **state)
{
    size_t len = 0;
    const char *t;

    t = as_auth_bearer("Bearer abc", &len);
    assert_non_null(t);
    assert_int_equal(len, 3);
    assert_memory_equal(t, "abc", 3);
    t = as_auth_bearer("Token  abc  ", &len);
    assert_non_null(t);
    assert_int_equal(len, 3);
    assert_null(as_auth_bearer(NULL, &len));
    assert_null(as_auth_bearer("Bearerabc", &len));
    assert_null(as_auth_bearer("Basic abc", &len));
    assert_null(as_auth_bearer("Bearer a\x7f", &len));
    assert_null(as_auth_bearer("Bearer a\xc3\xa9", &len));
}

static void test_lookup_user(void **state)
{
    idfx *f = *state;
    as_identity who;

    assert_true(as_auth_lookup_user(f->a, f->c, "/corral", "alice", 1000, &who));
    assert_string_equal(who.via, "token-file");
    assert_true(api_strlist_contains(&who.user.groups, "team-b"));
    as_identity_release(&who);
    assert_true(as_auth_lookup_user(f->a, f->c, "/corral", "carol", 1000, &who));
    assert_string_equal(who.via, "token");
    assert_true(api_strlist_contains(&who.user.groups, "team-c"));
    as_identity_release(&who);
    /* carol's newer token records other groups: the newest wins. */
    free(put_token(f->c, "{\"user\":{\"id\":\"carol\",\"groups\":[\"team-x\"]},\"createdAt\":200}",
                   4));
    free(put_token(f->c, "{\"user\":{\"id\":\"carol\",\"groups\":[\"team-y\"]},\"createdAt\":50}",
                   5));
    assert_true(as_auth_lookup_user(f->a, f->c, "/corral", "carol", 1000, &who));
    assert_true(api_strlist_contains(&who.user.groups, "team-x"));
    as_identity_release(&who);
    assert_true(as_auth_lookup_user(f->a, f->c, "/corral", "dave", 400, &who));
    as_identity_release(&who);
    assert_false(as_auth_lookup_user(f->a, f->c, "/corral", "dave", 600, &who));
    assert_false(as_auth_lookup_user(f->a, f->c, "/corral", "nobody", 1000, &who));
    assert_null(who.user.id);
}

/* ---- apis/token ----------------------------------------------------------------- */

static void test_token_hash_and_generate(void **state)
{
    char h[API_TOKEN_HASH_LEN + 1];
    char *a, *b;

    api_token_hash("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    api_token_hash("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    api_token_hash("abcdef", 3, h); /* length counts, not the NUL */
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(api_token_hash_valid(h));
    assert_false(
        api_token_hash_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(api_token_hash_valid("ba7816bf"));
    assert_false(api_token_hash_valid(NULL));
    assert_false(api_token_hash_valid(""));

    a = api_token_generate();
    b = api_token_generate();
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strlen(a), 4 + 64);
    assert_memory_equal(a, "crl_", 4);
    assert_true(api_token_hash_valid(a + 4)); /* 64 lowercase hex digits */
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static api_token *token_json(const char *text, api_problems *probs, const api_decode_opts *o)
{
    json_t *j = cr_test_json(text);
    api_token *t = api_token_from_json(j, o, probs);
    json_decref(j);
    return t;
}

static void expect_token_problem(const char *text, const char *needle)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_token *t = token_json(text, &probs, NULL);
    char *all;

    if (t)
        fail_msg("token accepted: %s", text);
    assert_true(probs.n > 0);
    all = api_problems_format(&probs);
    assert_contains(all, needle);
    free(all);
    api_problems_release(&probs);
}

static void test_token_from_json(void **state)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_decode_opts loose = {.no_validate = true};
    api_token *t;
    json_t *j;

    t = token_json("{\"user\":{\"id\":\"alice@example.com\",\"name\":\"Alice\",\"email\":\"a@e.c\","
                   "\"groups\":[\"team-a\",\"ops.eu\"]},\"createdBy\":\"root\","
                   "\"createdAt\":10,\"expiresAt\":20,\"description\":\"ci\"}",
                   &probs, NULL);
    assert_non_null(t);
    assert_int_equal(probs.n, 0);
    assert_true(t->has_user);
    assert_string_equal(t->user.id, "alice@example.com");
    assert_string_equal(t->user.name, "Alice");
    assert_int_equal(t->user.groups.n, 2);
    assert_string_equal(t->createdBy, "root");
    assert_true(t->has_expiresAt);
    assert_false(api_token_expired(t, 19));
    assert_true(api_token_expired(t, 20));
    j = api_token_to_json(t);
    assert_int_equal(json_integer_value(json_object_get(j, "expiresAt")), 20);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "user"), "id")),
                        "alice@example.com");
    json_decref(j);
    api_token_free(t);
    api_token_free(NULL);

    t = token_json("{\"user\":{\"id\":\"bob\"}}", &probs, NULL);
    assert_non_null(t);
    assert_false(api_token_expired(t, INT64_MAX)); /* no expiry: never */
    api_token_free(t);

    expect_token_problem("{}", "user");
    expect_token_problem("{\"createdAt\":1}", "is required");
    expect_token_problem("{\"user\":{}}", "user.id");
    expect_token_problem("{\"user\":{\"id\":\"a b\"}}", "user.id");
    expect_token_problem("{\"user\":{\"id\":\"..\"}}", "user.id");
    expect_token_problem("{\"user\":{\"id\":\"ok\",\"groups\":[\"g/1\"]}}", "g/1");
    expect_token_problem("{\"user\":{\"id\":\"ok\"},\"expiresAt\":0}", "expiresAt");
    expect_token_problem("{\"user\":{\"id\":\"ok\"},\"expiresAt\":-5}", "expiresAt");
    expect_token_problem("{\"user\":{\"id\":\"ok\"},\"expiresAt\":\"soon\"}", "expiresAt");
    expect_token_problem("{\"user\":{\"id\":\"ok\"},\"bogus\":1}", "bogus");
    expect_token_problem("[]", "must be an object");
    /* no_validate: structure only. */
    t = token_json("{\"user\":{\"id\":\"a b\"}}", &probs, &loose);
    assert_non_null(t);
    api_token_free(t);
    assert_null(api_token_from_json(NULL, NULL, &probs));
    assert_int_equal(probs.n, 1);
    api_problems_release(&probs);
}

static void test_user_id_rules(void **state)
{
    char long_id[102];

    assert_true(api_user_id_valid("alice"));
    assert_true(api_user_id_valid("a.b_c@d+e=f-g"));
    assert_true(api_user_id_valid("A9"));
    assert_false(api_user_id_valid(NULL));
    assert_false(api_user_id_valid(""));
    assert_false(api_user_id_valid("."));
    assert_false(api_user_id_valid(".."));
    assert_false(api_user_id_valid("a b"));
    assert_false(api_user_id_valid("a/b"));
    assert_false(api_user_id_valid("a,b"));
    assert_false(api_user_id_valid("a:b"));
    assert_false(api_user_id_valid("caf\xc3\xa9"));
    memset(long_id, 'a', sizeof(long_id));
    long_id[100] = '\0';
    assert_true(api_user_id_valid(long_id));
    long_id[100] = 'a';
    long_id[101] = '\0';
    assert_false(api_user_id_valid(long_id));
}

/* ---- the route table ------------------------------------------------------------- */

/* READ and WRITE routes whose path names no request: each one decides from
 * its body or filters what it lists. A new route of this kind must be added
 * here on purpose (and its handler must check or filter). */
static const as_op body_scoped[] = {AS_OP_REQ_POST, AS_OP_DEPLOY_POST, AS_OP_DEPLOY_UPDATE};
static const as_op filtered_lists[] = {
    AS_OP_WATCH,
    AS_OP_REQ_LIST,
    AS_OP_REQ_LIST_ACTIVE,
    AS_OP_REQ_LIST_PAUSED,
    AS_OP_REQ_LIST_COOLDOWN,
    AS_OP_REQ_LIST_FINISHED,
    AS_OP_REQ_QUEUED_PENDING,
    AS_OP_REQ_QUEUED_CLEANUP,
    AS_OP_DEPLOY_PENDING,
    AS_OP_TASKS_ACTIVE,
    AS_OP_TASKS_ACTIVE_IDS,
    AS_OP_TASKS_ACTIVE_AGENT,
    AS_OP_TASKS_ACTIVE_AGENT_IDS,
    AS_OP_TASKS_SCHEDULED,
    AS_OP_TASKS_SCHEDULED_IDS,
    AS_OP_TASKS_CLEANING,
    AS_OP_HIST_TASKS,
    /* Singularity's other lists (as_compat.h) */
    AS_OP_REQ_IDS,
    AS_OP_REQ_IDS_ACTIVE,
    AS_OP_REQ_BATCH,
    AS_OP_REQ_CRASHLOOPS,
    AS_OP_REQ_LBCLEANUP,
    AS_OP_TASKS_LBCLEANUP,
    AS_OP_TASKS_ACTIVE_STATES,
    AS_OP_TASKS_KILLED,
    AS_OP_TASK_COMMANDS_QUEUED,
    AS_OP_HIST_TASKS_META,
    AS_OP_HIST_REQUESTS_SEARCH,
    AS_OP_USAGE_REQUESTS,
};

static bool op_in(as_op op, const as_op *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == op)
            return true;
    return false;
}

static bool names_request(const char *pattern)
{
    return strstr(pattern, "{requestId}") || strstr(pattern, "{taskId}") ||
           strstr(pattern, "{pendingTaskId}");
}

/* pattern with every {param} replaced by "p<i>" into out. */
static void fill(const char *pattern, char *out, size_t size)
{
    size_t o = 0;
    int n = 0;

    for (const char *p = pattern; *p && o + 8 < size;) {
        if (*p == '{') {
            o += (size_t)snprintf(out + o, size - o, "p%d", n++);
            p = strchr(p, '}') + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_route_table_classified(void **state)
{
    static const char *actions[] = {"BOUNCE",    "EXEC",
                                    "PAUSE",     "SCALE",
                                    "KILL_TASK", "DELETE_SCHEDULED_TASK",
                                    "RUN_SHELL_COMMAND"};
    size_t n = as_route_count(), nopen = 0;
    bool seen_op[AS_OP__COUNT] = {false};

    assert_true(n > 50);
    for (size_t i = 0; i < n; i++) {
        as_route_info r;
        char path[256];
        as_match m;

        as_route_at(i, &r);
        seen_op[r.op] = true;
        if (r.access == AS_ACCESS_UNSET || r.access > AS_ACCESS_ADMIN)
            fail_msg("route %s %s has no access class", as_method_name(r.methods), r.pattern);
        assert_string_not_equal(as_access_name(r.access), "unset");
        if (r.access == AS_ACCESS_OPEN) {
            nopen++;
            /* Probes, the UI's static files and the login-code exchange
             * (the browser has no token yet; as_user.h). */
            if (strcmp(r.pattern, "/healthz") != 0 && strcmp(r.pattern, "/readyz") != 0 &&
                strcmp(r.pattern, "/ui") != 0 && strncmp(r.pattern, "/ui/", 4) != 0 &&
                strcmp(r.pattern, "/api/auth/login") != 0)
                fail_msg("route %s is open to anonymous callers", r.pattern);
        }
        if ((r.access == AS_ACCESS_READ || r.access == AS_ACCESS_WRITE) &&
            !names_request(r.pattern) &&
            !op_in(r.op, body_scoped, sizeof(body_scoped) / sizeof(body_scoped[0])) &&
            !op_in(r.op, filtered_lists, sizeof(filtered_lists) / sizeof(filtered_lists[0])))
            fail_msg("%s route %s %s (%s) names no request and is not a known body-scoped "
                     "operation or filtered list: classify it in test_auth.c",
                     as_access_name(r.access), as_method_name(r.methods), r.pattern,
                     as_op_name(r.op));
        /* Lists are reads; body-scoped operations are writes. */
        if (op_in(r.op, filtered_lists, sizeof(filtered_lists) / sizeof(filtered_lists[0])))
            assert_int_equal(r.access, AS_ACCESS_READ);
        if (op_in(r.op, body_scoped, sizeof(body_scoped) / sizeof(body_scoped[0])))
            assert_int_equal(r.access, AS_ACCESS_WRITE);
        /* Changes are never plain reads; GETs never need write. */
        if (r.methods & (AS_POST | AS_PUT | AS_DELETE))
            if (r.access == AS_ACCESS_READ || r.access == AS_ACCESS_GREAD)
                fail_msg("%s %s changes things but needs only %s", as_method_name(r.methods),
                         r.pattern, as_access_name(r.access));
        if (r.methods == AS_GET && r.access == AS_ACCESS_WRITE)
            fail_msg("GET %s needs write", r.pattern);
        /* Actions only on writes, and only Singularity's. */
        if (r.action) {
            bool known = false;
            assert_int_equal(r.access, AS_ACCESS_WRITE);
            for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
                known = known || strcmp(actions[k], r.action) == 0;
            if (!known)
                fail_msg("route %s has unknown action %s", r.pattern, r.action);
        }
        /* Machines: global readers look, admins change. */
        if (strncmp(r.pattern, "/api/agents", 11) == 0 ||
            strncmp(r.pattern, "/api/slaves", 11) == 0 || strncmp(r.pattern, "/api/racks", 10) == 0)
            assert_int_equal(r.access, r.methods == AS_GET ? AS_ACCESS_GREAD : AS_ACCESS_ADMIN);
        /* Matching a path of the route carries its class and action. */
        fill(r.pattern, path, sizeof(path));
        for (unsigned bit = AS_GET; bit <= AS_DELETE; bit <<= 1) {
            if (!(r.methods & bit))
                continue;
            assert_int_equal(as_route_match(bit, path, &m), AS_ROUTE_OK);
            if (m.op == r.op) {
                assert_int_equal(m.access, r.access);
                if (r.action)
                    assert_string_equal(m.action, r.action);
                else
                    assert_null(m.action);
            }
            as_match_release(&m);
        }
    }
    assert_int_equal(nopen, 6);
    /* Token administration is for admins; the exact access of a few. */
    for (size_t i = 0; i < n; i++) {
        as_route_info r;
        as_route_at(i, &r);
        switch (r.op) {
        case AS_OP_AUTH_TOKEN_DELETE:
        case AS_OP_AUTH_TOKENS:
        case AS_OP_AUTH_CHECK_USER:
            assert_int_equal(r.access, AS_ACCESS_ADMIN);
            break;
        case AS_OP_AUTH_USER:
        case AS_OP_AUTH_TOKEN_POST: /* naming another user: admins (the handler) */
            assert_int_equal(r.access, AS_ACCESS_USER);
            break;
        case AS_OP_TASK_KILL:
            assert_string_equal(r.action, "KILL_TASK");
            break;
        case AS_OP_TASKS_SCHEDULED_DELETE:
            assert_string_equal(r.action, "DELETE_SCHEDULED_TASK");
            break;
        case AS_OP_REQ_RUN:
            assert_string_equal(r.action, "EXEC");
            break;
        default:
            break;
        }
    }
    /* Every operation has a route. */
    for (int op = AS_OP_NONE + 1; op < AS_OP__COUNT; op++)
        if (!seen_op[op])
            fail_msg("operation %s has no route", as_op_name((as_op)op));
    assert_string_equal(as_access_name(AS_ACCESS_UNSET), "unset");
    assert_string_equal(as_access_name(AS_ACCESS_GREAD), "global-read");
    assert_string_equal(as_access_name((as_access)99), "unset");
}

/* ---- the API with authorization on ------------------------------------------------ */

typedef struct apifx {
    as_cache *c;
    as_auth *auth;
    as_api_config cfg;
    int64_t rev, now;
} apifx;

static void put_doc(apifx *f, const char *key, const char *json)
{
    f->rev++;
    as_cache_put(f->c, key, cr_test_json(json), f->rev, f->rev);
}

static int api_setup(void **state)
{
    apifx *f = calloc(1, sizeof(*f));
    as_auth_options o = {0};
    cr_err err;

    policy(&o.policy, false);
    f->auth = as_auth_new(&o, &err);
    as_auth_policy_release(&o.policy);
    assert_non_null(f->auth);
    f->c = as_cache_new();
    f->cfg.prefix = "/corral";
    f->cfg.max_scale_down_unacked = 10;
    f->cfg.auth = f->auth;
    f->now = 100000;
    put_doc(f, "/corral/requests/ra", REQ_A);
    put_doc(f, "/corral/requests/rb",
            "{\"id\":\"rb\",\"requestType\":\"WORKER\",\"group\":\"team-b\"}");
    put_doc(f, "/corral/requests/ro", "{\"id\":\"ro\",\"requestType\":\"ON_DEMAND\"}");
    put_doc(f, "/corral/tasks/ra/ra-v1-1000-1-h1-r1",
            "{\"taskId\":{\"id\":\"ra-v1-1000-1-h1-r1\",\"requestId\":\"ra\",\"deployId\":\"v1\","
            "\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\",\"rackId\":\"r1\"},"
            "\"agentId\":\"a1\",\"lastTaskState\":\"TASK_RUNNING\",\"updatedAt\":5000}");
    put_doc(f, "/corral/tasks/rb/rb-v1-1000-1-h1-r1",
            "{\"taskId\":{\"id\":\"rb-v1-1000-1-h1-r1\",\"requestId\":\"rb\",\"deployId\":\"v1\","
            "\"startedAt\":1000,\"instanceNo\":1,\"host\":\"h1\",\"rackId\":\"r1\"},"
            "\"agentId\":\"a1\",\"lastTaskState\":\"TASK_RUNNING\",\"updatedAt\":5000}");
    put_doc(f, "/corral/agents/a1", "{\"id\":\"a1\",\"hostname\":\"h1\",\"rackId\":\"r1\"}");
    /* bob has two tokens, carol one. */
    put_doc(f,
            "/corral/auth/tokens/"
            "1111111111111111111111111111111111111111111111111111111111111111",
            "{\"user\":{\"id\":\"bob\",\"groups\":[\"team-b\"]},\"createdAt\":1}");
    put_doc(f,
            "/corral/auth/tokens/"
            "2222222222222222222222222222222222222222222222222222222222222222",
            "{\"user\":{\"id\":\"bob\",\"groups\":[\"team-b\"]},\"createdAt\":2}");
    put_doc(f,
            "/corral/auth/tokens/"
            "3333333333333333333333333333333333333333333333333333333333333333",
            "{\"user\":{\"id\":\"carol\",\"groups\":[\"team-c\"]},\"createdAt\":3}");
    as_cache_set_synced(f->c, true);
    *state = f;
    return 0;
}

static int api_teardown(void **state)
{
    apifx *f = *state;
    as_cache_free(f->c);
    as_auth_free(f->auth);
    free(f);
    return 0;
}

/* One call as who (NULL: anonymous); the result in *r (caller releases). */
static int call(apifx *f, const as_identity *who, unsigned method, const char *path,
                const char *body, as_result *r)
{
    as_match m;
    as_req req;

    f->now += 10;
    if (as_route_match(method, path, &m) != AS_ROUTE_OK)
        fail_msg("no route for %s %s", as_method_name(method), path);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.match = &m;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.user = who ? who->user.id : NULL;
    req.who = who;
    req.now = f->now;
    req.nonce = "n0";
    as_api_handle(&f->cfg, f->c, &req, r);
    as_match_release(&m);
    if (r->status >= 400)
        assert_int_equal(r->txn.nput, 0); /* refusals never write */
    return r->status;
}

/* The request ids of a list of request parents. */
static void list_ids(const json_t *list, char *out, size_t size)
{
    size_t i, o = 0;
    json_t *e;

    out[0] = '\0';
    json_array_foreach (list, i, e) {
        const char *id = json_string_value(json_object_get(json_object_get(e, "request"), "id"));
        o += (size_t)snprintf(out + o, size - o, "%s%s", o ? "," : "", id ? id : "?");
        if (o >= size)
            break;
    }
}

static void expect_list(apifx *f, const as_identity *who, const char *path, const char *want)
{
    as_result r;
    char ids[256];

    assert_int_equal(call(f, who, AS_GET, path, NULL, &r), 200);
    list_ids(r.body, ids, sizeof(ids));
    if (strcmp(ids, want) != 0)
        fail_msg("GET %s as %s: [%s], want [%s]", path, who ? who->user.id : "anonymous", ids,
                 want);
    as_result_release(&r);
}

static void test_api_lists_filtered(void **state)
{
    apifx *f = *state;
    as_identity admin, ro, b, z;
    as_result r;

    ident(&admin, "root", "admins");
    ident(&ro, "ro", "team-a-ro");
    ident(&b, "b", "team-b");
    ident(&z, "z", "team-z");
    expect_list(f, &admin, "/api/requests", "ra,rb,ro");
    expect_list(f, &ro, "/api/requests", "ra,ro");
    expect_list(f, &b, "/api/requests", "rb,ro");
    expect_list(f, &z, "/api/requests", "ro");
    expect_list(f, &z, "/api/requests/active", "ro");
    assert_int_equal(call(f, NULL, AS_GET, "/api/requests", NULL, &r), 401);
    as_result_release(&r);

    /* Task lists: only the tasks of readable requests. */
    assert_int_equal(call(f, &b, AS_GET, "/api/tasks/active/ids", NULL, &r), 200);
    assert_int_equal(json_array_size(r.body), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.body, 0), "id")),
                        "rb-v1-1000-1-h1-r1");
    as_result_release(&r);
    assert_int_equal(call(f, &admin, AS_GET, "/api/tasks/active/ids", NULL, &r), 200);
    assert_int_equal(json_array_size(r.body), 2);
    as_result_release(&r);
    assert_int_equal(call(f, &z, AS_GET, "/api/history/tasks", NULL, &r), 200);
    assert_int_equal(json_array_size(r.body), 0);
    as_result_release(&r);

    as_identity_release(&admin);
    as_identity_release(&ro);
    as_identity_release(&b);
    as_identity_release(&z);
}

static void test_api_request_scoped(void **state)
{
    apifx *f = *state;
    as_identity b, a, gro;
    as_result r;

    ident(&b, "b", "team-b");
    ident(&a, "a", "team-a");
    ident(&gro, "g", "gro");
    assert_int_equal(call(f, &b, AS_GET, "/api/requests/request/ra", NULL, &r), 403);
    assert_contains(json_string_value(json_object_get(r.body, "message")), "team-a");
    assert_int_equal(json_integer_value(json_object_get(r.body, "status")), 403);
    as_result_release(&r);
    assert_int_equal(call(f, NULL, AS_GET, "/api/requests/request/ra", NULL, &r), 401);
    as_result_release(&r);
    assert_int_equal(call(f, &a, AS_GET, "/api/requests/request/ra", NULL, &r), 200);
    as_result_release(&r);
    assert_int_equal(call(f, &gro, AS_GET, "/api/requests/request/ra", NULL, &r), 200);
    as_result_release(&r);
    /* By task id: the task's request decides. */
    assert_int_equal(call(f, &b, AS_GET, "/api/tasks/task/ra-v1-1000-1-h1-r1", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_DELETE, "/api/tasks/task/ra-v1-1000-1-h1-r1", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &a, AS_DELETE, "/api/tasks/task/ra-v1-1000-1-h1-r1", NULL, &r), 200);
    assert_int_equal(r.txn.nput, 1);
    as_result_release(&r);
    assert_int_equal(call(f, &gro, AS_POST, "/api/requests/request/ra/bounce", NULL, &r), 403);
    as_result_release(&r);
    /* Body-scoped: a new request in a foreign group; a deploy to one. */
    assert_int_equal(call(f, &b, AS_POST, "/api/requests",
                          "{\"id\":\"nb\",\"requestType\":\"WORKER\",\"group\":\"team-a\"}", &r),
                     403);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/requests",
                          "{\"id\":\"nb\",\"requestType\":\"WORKER\",\"group\":\"team-b\"}", &r),
                     200);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/deploys",
                          "{\"deploy\":{\"requestId\":\"ra\",\"id\":\"v2\",\"command\":\"x\"}}",
                          &r),
                     403);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/deploys/update",
                          "{\"requestId\":\"ra\",\"deployId\":\"v2\",\"targetActiveInstances\":1}",
                          &r),
                     403);
    as_result_release(&r);
    /* Agents: global readers only; changes: admins only. */
    assert_int_equal(call(f, &a, AS_GET, "/api/agents", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &gro, AS_GET, "/api/agents", NULL, &r), 200);
    as_result_release(&r);
    assert_int_equal(call(f, &gro, AS_POST, "/api/agents/agent/a1/freeze", NULL, &r), 403);
    as_result_release(&r);
    /* actionPermissions limit the actions of the route. */
    put_doc(f, "/corral/requests/ap",
            "{\"id\":\"ap\",\"requestType\":\"WORKER\",\"group\":\"team-a\","
            "\"actionPermissions\":{\"team-a\":[\"BOUNCE\"]}}");
    assert_int_equal(call(f, &a, AS_PUT, "/api/requests/request/ap/scale", "{\"instances\":2}", &r),
                     403);
    assert_contains(json_string_value(json_object_get(r.body, "message")), "SCALE");
    as_result_release(&r);
    assert_int_equal(call(f, &a, AS_POST, "/api/requests/request/ap/pause", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &a, AS_POST, "/api/requests/request/ap/bounce", NULL, &r), 200);
    as_result_release(&r);
    /* The actor recorded is the caller. */
    assert_int_equal(call(f, &a, AS_POST, "/api/requests/request/ra/pause", NULL, &r), 200);
    for (size_t i = 0; i < r.txn.nput; i++)
        if (strstr(r.txn.put[i].key, "/intents/requests/ra/pause"))
            assert_contains(r.txn.put[i].value, "\"user\":\"a\"");
    as_result_release(&r);

    as_identity_release(&b);
    as_identity_release(&a);
    as_identity_release(&gro);
}

/* The answer of one call as text: status, then the body's bytes (the
 * encoded ones a GET from the memo gives, else the body dumped). */
static char *call_text(apifx *f, const as_identity *who, const char *path)
{
    as_result r;
    char *body, *text;

    call(f, who, AS_GET, path, NULL, &r);
    body = r.json ? xstrdup(r.json) : r.body ? json_dumps(r.body, AS_JSON_FLAGS) : NULL;
    text = xasprintf("%d %s", r.status, body ? body : "");
    free(body);
    as_result_release(&r);
    return text;
}

/* A GET of a request served from the memo is refused and allowed to the
 * same callers, with the same bytes, as one built now; a parent kept for
 * one caller is not shown to another who may not read it. */
static void test_api_get_from_memo(void **state)
{
    apifx *f = *state;
    as_memo *memo = as_memo_new(f->c);
    as_identity b, a, gro, admin;
    const as_identity *who[] = {&a, &b, &gro, &admin, NULL};
    static const char *const paths[] = {"/api/requests/request/ra", "/api/requests/request/rb",
                                        "/api/requests/request/ro", "/api/requests/request/nope"};
    as_api_config plain = f->cfg;

    ident(&b, "b", "team-b");
    ident(&a, "a", "team-a");
    ident(&gro, "g", "gro");
    ident(&admin, "root", "admins");
    for (int round = 0; round < 2; round++)
        for (size_t c = 0; c < sizeof(who) / sizeof(who[0]); c++)
            for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                char *want, *got;
                f->cfg = plain;
                want = call_text(f, who[c], paths[i]);
                f->cfg.memo = memo;
                got = call_text(f, who[c], paths[i]);
                f->cfg = plain;
                if (strcmp(got, want) != 0)
                    fail_msg("GET %s as %s (round %d), with the memo:\n got %s\nwant %s", paths[i],
                             who[c] ? who[c]->user.id : "nobody", round, got, want);
                free(want);
                free(got);
            }
    f->cfg = plain;
    as_memo_free(memo);
    as_identity_release(&b);
    as_identity_release(&a);
    as_identity_release(&gro);
    as_identity_release(&admin);
}

static void test_api_token_post(void **state)
{
    apifx *f = *state;
    as_identity admin, b;
    as_result r;
    char hash[API_TOKEN_HASH_LEN + 1], *key;
    const char *text;
    size_t dels = 0;
    bool put = false;

    ident(&admin, "root", "admins");
    ident(&b, "bob", "team-b");
    assert_int_equal(call(f, &admin, AS_POST, "/api/auth/token",
                          "{\"user\":{\"id\":\"bob\",\"groups\":[\"team-b\",\"team-x\"]},"
                          "\"description\":\"ci\"}",
                          &r),
                     200);
    text = json_string_value(json_object_get(r.body, "token"));
    assert_non_null(text);
    assert_memory_equal(text, "crl_", 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "user"), "id")),
                        "bob");
    api_token_hash(text, strlen(text), hash);
    key = api_key_auth_token("/corral", hash);
    for (size_t i = 0; i < r.txn.nput; i++) {
        const as_put *p = &r.txn.put[i];
        if (strcmp(p->key, key) == 0) {
            json_t *doc = cr_test_json(p->value);
            assert_false(put);
            put = true;
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(doc, "user"), "id")), "bob");
            assert_string_equal(json_string_value(json_object_get(doc, "createdBy")), "root");
            assert_string_equal(json_string_value(json_object_get(doc, "description")), "ci");
            assert_null(strstr(p->value, text)); /* never the token's text */
            json_decref(doc);
        } else {
            assert_null(p->value); /* a delete */
            assert_false(p->prefix);
            assert_true(strstr(p->key, "/corral/auth/tokens/1111") == p->key ||
                        strstr(p->key, "/corral/auth/tokens/2222") == p->key);
            dels++;
        }
    }
    assert_true(put);
    assert_int_equal(dels, 2); /* bob's two older tokens, not carol's */
    /* The new key must not exist yet. */
    assert_true(r.txn.ncmp >= 1);
    as_result_release(&r);
    free(key);

    /* A non-admin naming a user (even themselves) is refused. */
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token",
                          "{\"user\":{\"id\":\"carol\",\"groups\":[\"admins\"]}}", &r),
                     403);
    assert_contains(json_string_value(json_object_get(r.body, "message")), "admins");
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{\"user\":{\"id\":\"bob\"}}", &r),
                     403);
    as_result_release(&r);
    /* ... but may make a token for themselves, with their own groups. */
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{}", &r), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "user"), "id")),
                        "bob");
    as_result_release(&r);
    assert_int_equal(call(f, NULL, AS_POST, "/api/auth/token", "{}", &r), 401);
    as_result_release(&r);
    /* Bad requests write nothing. */
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{\"expiresAt\":5}", &r), 400);
    assert_contains(json_string_value(json_object_get(r.body, "message")), "expiresAt");
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{\"token\":\"short\"}", &r), 400);
    as_result_release(&r);
    assert_int_equal(call(f, &admin, AS_POST, "/api/auth/token", "{\"user\":{\"id\":\"a b\"}}", &r),
                     400);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{\"bogus\":1}", &r), 400);
    as_result_release(&r);
    /* Token administration. */
    assert_int_equal(call(f, &b, AS_GET, "/api/auth/tokens", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &b, AS_DELETE, "/api/auth/token/carol", NULL, &r), 403);
    as_result_release(&r);
    assert_int_equal(call(f, &admin, AS_DELETE, "/api/auth/token/bob", NULL, &r), 200);
    assert_int_equal(r.txn.nput, 2);
    as_result_release(&r);
    assert_int_equal(call(f, &admin, AS_GET, "/api/auth/tokens", NULL, &r), 200);
    assert_int_equal(json_array_size(r.body), 3);
    as_result_release(&r);

    as_identity_release(&admin);
    as_identity_release(&b);
}

/* The stored expiresAt of the token a POST /api/auth/token answered. */
static int64_t made_expiry(const as_result *r)
{
    const char *text = json_string_value(json_object_get(r->body, "token"));
    char hash[API_TOKEN_HASH_LEN + 1], *key;
    int64_t at = -1;

    assert_non_null(text);
    api_token_hash(text, strlen(text), hash);
    key = api_key_auth_token("/corral", hash);
    for (size_t i = 0; i < r->txn.nput; i++)
        if (strcmp(r->txn.put[i].key, key) == 0) {
            json_t *doc = cr_test_json(r->txn.put[i].value);
            json_t *e = json_object_get(doc, "expiresAt");
            at = e ? json_integer_value(e) : 0;
            json_decref(doc);
        }
    free(key);
    /* the answer says so too */
    assert_int_equal(json_integer_value(json_object_get(r->body, "expiresAt")), at);
    return at;
}

/* A token a caller makes for itself never outlives the credential it was
 * made with (an 8-hour UI login must not mint one that never expires). */
static void test_api_token_not_outliving(void **state)
{
    apifx *f = *state;
    as_identity admin, b, h;
    as_result r;
    char body[64];
    int64_t until;

    ident(&admin, "root", "admins");
    ident(&b, "bob", "team-b");
    ident(&h, "hank", "team-h");
    h.via = "header";
    until = f->now + 3600000;
    b.expires_at = until;
    admin.expires_at = until;
    /* None asked: the credential's end. */
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{}", &r), 200);
    assert_int_equal(made_expiry(&r), until);
    as_result_release(&r);
    /* Later than it: cut to it; sooner: kept. */
    snprintf(body, sizeof(body), "{\"expiresAt\":%lld}", (long long)until + 86400000);
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", body, &r), 200);
    assert_int_equal(made_expiry(&r), until);
    as_result_release(&r);
    snprintf(body, sizeof(body), "{\"expiresAt\":%lld}", (long long)until - 1000);
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", body, &r), 200);
    assert_int_equal(made_expiry(&r), until - 1000);
    as_result_release(&r);
    /* An admin's own token is cut the same way; one made for a named
     * user is what the admin asks for. */
    assert_int_equal(call(f, &admin, AS_POST, "/api/auth/token", "{}", &r), 200);
    assert_int_equal(made_expiry(&r), until);
    as_result_release(&r);
    assert_int_equal(call(f, &admin, AS_POST, "/api/auth/token", "{\"user\":{\"id\":\"ci\"}}", &r),
                     200);
    assert_null(json_object_get(r.body, "expiresAt"));
    as_result_release(&r);
    /* A proxy's header: as long as a UI login. */
    assert_int_equal(call(f, &h, AS_POST, "/api/auth/token", "{}", &r), 200);
    assert_int_equal(made_expiry(&r), f->now + AS_LOGIN_TOKEN_TTL_MS);
    as_result_release(&r);
    /* A credential that never expires makes a token that never does. */
    b.expires_at = 0;
    assert_int_equal(call(f, &b, AS_POST, "/api/auth/token", "{}", &r), 200);
    assert_null(json_object_get(r.body, "expiresAt"));
    as_result_release(&r);

    as_identity_release(&admin);
    as_identity_release(&b);
    as_identity_release(&h);
}

static void test_api_key_visibility(void **state)
{
    apifx *f = *state;
    as_identity b, gro, admin;

    ident(&b, "b", "team-b");
    ident(&gro, "g", "gro");
    ident(&admin, "root", "admins");
    assert_true(as_api_key_visible(&f->cfg, f->c, &b, "/corral/requests/rb"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &b, "/corral/tasks/rb/rb-v1-1000-1-h1-r1"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &b, "/corral/requests/ro"));
    assert_false(as_api_key_visible(&f->cfg, f->c, &b, "/corral/requests/ra"));
    assert_false(as_api_key_visible(&f->cfg, f->c, &b, "/corral/tasks/ra/ra-v1-1000-1-h1-r1"));
    /* request groups are labels every caller reads (GET /api/groups) */
    assert_true(as_api_key_visible(&f->cfg, f->c, &b, "/corral/groups/g1"));
    assert_false(as_api_key_visible(&f->cfg, f->c, &b, "/corral/cleanups/ra-v1-1000-1-h1-r1"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &b, "/corral/cleanups/rb-v1-1000-1-h1-r1"));
    assert_false(as_api_key_visible(&f->cfg, f->c, &b, "/corral/agents/a1"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &gro, "/corral/agents/a1"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &gro, "/corral/requests/ra"));
    assert_false(
        as_api_key_visible(&f->cfg, f->c, &gro,
                           "/corral/auth/tokens/"
                           "1111111111111111111111111111111111111111111111111111111111111111"));
    assert_false(as_api_key_visible(&f->cfg, f->c, NULL, "/corral/requests/ro"));
    assert_false(as_api_key_visible(&f->cfg, f->c, &b, "/corral/unknown/x"));
    assert_true(as_api_key_visible(&f->cfg, f->c, &admin, "/corral/auth/tokens/x"));
    as_identity_release(&b);
    as_identity_release(&gro);
    as_identity_release(&admin);
}

/* Runs GET path with query as who; returns the status, the body in *body
 * (caller decrefs) when body is not NULL. */
static int get_q(apifx *f, const as_identity *who, const char *path, const char *query,
                 json_t **body)
{
    as_match m;
    as_query_kv *q = NULL;
    size_t nq = 0;
    as_req req;
    as_result r;
    int status;

    if (as_route_match(AS_GET, path, &m) != AS_ROUTE_OK)
        fail_msg("no route for GET %s", path);
    assert_int_equal(as_query_parse(query, &q, &nq), 0);
    memset(&req, 0, sizeof(req));
    req.method = AS_GET;
    req.match = &m;
    req.query = q;
    req.nquery = nq;
    req.user = who ? who->user.id : NULL;
    req.who = who;
    req.now = ++f->now;
    as_api_handle(&f->cfg, f->c, &req, &r);
    status = r.status;
    if (body)
        *body = json_incref(r.body);
    as_result_release(&r);
    as_query_free(q, nq);
    as_match_release(&m);
    return status;
}

static void test_api_queues_and_auth_check(void **state)
{
    apifx *f = *state;
    as_identity a, b, ro, admin;
    json_t *body;

    ident(&a, "a", "team-a");
    ident(&b, "bob", "team-b");
    ident(&ro, "ro", "team-a-ro");
    ident(&admin, "root", "admins");
    put_doc(f, "/corral/intents/requests/ra/pause", "{\"killTasks\":true,\"timestamp\":1}");
    put_doc(f, "/corral/intents/requests/rb/bounce", "{\"incremental\":false,\"timestamp\":1}");
    /* Cleanup queue: only the readable requests' intents. */
    assert_int_equal(get_q(f, &b, "/api/requests/queued/cleanup", NULL, &body), 200);
    assert_int_equal(json_array_size(body), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(body, 0), "requestId")),
                        "rb");
    json_decref(body);
    assert_int_equal(get_q(f, &admin, "/api/requests/queued/cleanup", NULL, &body), 200);
    assert_int_equal(json_array_size(body), 2);
    json_decref(body);
    /* Pending queue: rb's bounce for bob, nothing of rb for team-a. */
    assert_int_equal(get_q(f, &b, "/api/requests/queued/pending", NULL, &body), 200);
    assert_int_equal(json_array_size(body), 1);
    json_decref(body);
    assert_int_equal(get_q(f, &a, "/api/requests/queued/pending", NULL, &body), 200);
    assert_int_equal(json_array_size(body), 0);
    json_decref(body);

    /* auth-check: the caller's own access, by scope. */
    assert_int_equal(get_q(f, &a, "/api/auth/ra/auth-check", NULL, NULL), 200);
    assert_int_equal(get_q(f, &a, "/api/auth/ra/auth-check", "scope=WRITE", NULL), 200);
    assert_int_equal(get_q(f, &a, "/api/auth/ra/auth-check", "scope=ADMIN", NULL), 403);
    assert_int_equal(get_q(f, &ro, "/api/auth/ra/auth-check", "scope=READ", NULL), 200);
    assert_int_equal(get_q(f, &ro, "/api/auth/ra/auth-check", "scope=WRITE", &body), 403);
    assert_contains(json_string_value(json_object_get(body, "message")), "team-a-rw");
    json_decref(body);
    assert_int_equal(get_q(f, &b, "/api/auth/ra/auth-check", NULL, NULL), 403);
    assert_int_equal(get_q(f, &b, "/api/auth/ra/auth-check", "scope=NOPE", NULL), 400);
    assert_int_equal(get_q(f, &b, "/api/auth/unknown/auth-check", NULL, NULL), 200);
    assert_int_equal(get_q(f, NULL, "/api/auth/ra/auth-check", NULL, NULL), 401);
    /* ... and another user's, as their newest token knows them: admins only. */
    assert_int_equal(get_q(f, &admin, "/api/auth/rb/auth-check/bob", NULL, NULL), 200);
    assert_int_equal(get_q(f, &admin, "/api/auth/rb/auth-check/carol", NULL, NULL), 403);
    assert_int_equal(get_q(f, &admin, "/api/auth/rb/auth-check/nobody", NULL, &body), 403);
    assert_contains(json_string_value(json_object_get(body, "message")), "no valid token");
    json_decref(body);
    assert_int_equal(get_q(f, &b, "/api/auth/rb/auth-check/bob", NULL, NULL), 403);
    /* Who am I. */
    assert_int_equal(get_q(f, &b, "/api/auth/user", NULL, &body), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "user"), "id")),
                        "bob");
    assert_true(json_is_true(json_object_get(body, "authEnabled")));
    assert_true(json_is_false(json_object_get(body, "admin")));
    json_decref(body);
    assert_int_equal(get_q(f, &admin, "/api/auth/user", NULL, &body), 200);
    assert_true(json_is_true(json_object_get(body, "admin")));
    json_decref(body);
    assert_int_equal(get_q(f, NULL, "/api/auth/user", NULL, NULL), 401);

    as_identity_release(&a);
    as_identity_release(&b);
    as_identity_release(&ro);
    as_identity_release(&admin);
}

static const struct CMUnitTest tests[] = {

    cmocka_unit_test(test_check_matrix),
    cmocka_unit_test(test_check_without_request),
    cmocka_unit_test(test_check_messages),
    cmocka_unit_test(test_check_open_and_default_ro),
    cmocka_unit_test(test_check_action_permissions),
    cmocka_unit_test(test_check_change),
    cmocka_unit_test(test_change_keeps_action_permissions),
    cmocka_unit_test(test_disabled_policy_allows_everything),
    cmocka_unit_test(test_token_file_errors),
    cmocka_unit_test_setup_teardown(test_identify_tokens, id_setup, id_teardown),
    cmocka_unit_test_setup_teardown(test_identify_expiry_and_no_cache, id_setup, id_teardown),
    cmocka_unit_test_setup_teardown(test_identify_certificate_and_header, id_setup, id_teardown),
    cmocka_unit_test(test_identify_header_not_configured),
    cmocka_unit_test(test_bearer_parse),
    cmocka_unit_test_setup_teardown(test_lookup_user, id_setup, id_teardown),
    cmocka_unit_test(test_token_hash_and_generate),
    cmocka_unit_test(test_token_from_json),
    cmocka_unit_test(test_user_id_rules),
    cmocka_unit_test(test_route_table_classified),
    cmocka_unit_test_setup_teardown(test_api_lists_filtered, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_request_scoped, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_get_from_memo, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_token_post, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_token_not_outliving, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_key_visibility, api_setup, api_teardown),
    cmocka_unit_test_setup_teardown(test_api_queues_and_auth_check, api_setup, api_teardown),
};

CR_TEST_MAIN(tests)
