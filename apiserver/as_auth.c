/* as_auth: see as_auth.h. */
#include "apiserver/as_auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "apis/keys.h"
#include "base/buf.h"
#include "base/xalloc.h"

const char *as_access_name(as_access a)
{
    static const char *names[] = {"unset", "open", "user", "read", "write", "global-read", "admin"};
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unset";
}

void as_auth_policy_release(as_auth_policy *p)
{
    if (!p)
        return;
    api_strlist_release(&p->admin_groups);
    api_strlist_release(&p->required_groups);
    api_strlist_release(&p->default_read_only);
    api_strlist_release(&p->global_read_only);
    api_strlist_release(&p->jita_groups);
}

static void strlist_copy(api_strlist *dst, const api_strlist *src)
{
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->n; i++)
        api_strlist_add(dst, src->v[i]);
}

static void policy_copy(as_auth_policy *dst, const as_auth_policy *src)
{
    *dst = *src;
    strlist_copy(&dst->admin_groups, &src->admin_groups);
    strlist_copy(&dst->required_groups, &src->required_groups);
    strlist_copy(&dst->default_read_only, &src->default_read_only);
    strlist_copy(&dst->global_read_only, &src->global_read_only);
    strlist_copy(&dst->jita_groups, &src->jita_groups);
}

void as_identity_release(as_identity *id)
{
    if (!id)
        return;
    api_user_release(&id->user);
    memset(id, 0, sizeof(*id));
}

/* ---- decisions ------------------------------------------------------------------------- */

static bool intersects(const api_strlist *groups, const api_strlist *set)
{
    for (size_t i = 0; i < groups->n; i++)
        if (api_strlist_contains(set, groups->v[i]))
            return true;
    return false;
}

static bool contains_group(const api_strlist *groups, const char *g)
{
    return g && api_strlist_contains(groups, g);
}

bool as_auth_is_admin(const as_auth_policy *p, const as_identity *who)
{
    if (!p || !p->enabled)
        return true;
    return who && intersects(&who->user.groups, &p->admin_groups);
}

static bool in_required(const as_auth_policy *p, const as_identity *who)
{
    return p->required_groups.n == 0 || intersects(&who->user.groups, &p->required_groups);
}

static bool is_jita(const as_auth_policy *p, const as_identity *who)
{
    return intersects(&who->user.groups, &p->jita_groups);
}

/* The request's read-write groups: group + readWriteGroups. */
static bool rw_empty(const api_request *req)
{
    return !req->group && req->readWriteGroups.n == 0;
}

static bool is_rw(const api_request *req, const as_identity *who)
{
    return rw_empty(req) || contains_group(&who->user.groups, req->group) ||
           intersects(&who->user.groups, &req->readWriteGroups);
}

static bool is_ro(const as_auth_policy *p, const api_request *req, const as_identity *who)
{
    /* A request's readOnlyGroups win when it has any; Singularity also
     * keeps an explicitly empty list, which a strlist cannot tell apart. */
    const api_strlist *ro = req->readOnlyGroups.n ? &req->readOnlyGroups : &p->default_read_only;
    return intersects(&who->user.groups, ro) ||
           intersects(&who->user.groups, &p->global_read_only);
}

/* Appends the names of set to b ("a, b"), or "(none configured)". */
static void join(cr_buf *b, const api_strlist *set, bool *first)
{
    for (size_t i = 0; i < set->n; i++) {
        cr_buf_addf(b, "%s%s", *first ? "" : ", ", set->v[i]);
        *first = false;
    }
}

static bool refuse(as_verdict *v, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool refuse(as_verdict *v, int status, const char *fmt, ...)
{
    va_list ap;
    v->status = status;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return false;
}

static bool allow(as_verdict *v)
{
    v->status = 0;
    v->message[0] = '\0';
    return true;
}

/* "must be in one of the groups a, b to X" with the groups that would do. */
static bool refuse_groups4(as_verdict *v, const as_identity *who, const char *what,
                           const api_strlist *a, const api_strlist *b, const api_strlist *c,
                           const api_strlist *d, const char *single)
{
    cr_buf buf = CR_BUF_INIT;
    bool first = true;

    if (single) {
        cr_buf_addf(&buf, "%s", single);
        first = false;
    }
    if (a)
        join(&buf, a, &first);
    if (b)
        join(&buf, b, &first);
    if (c)
        join(&buf, c, &first);
    if (d)
        join(&buf, d, &first);
    if (first)
        cr_buf_addf(&buf, "(none configured)");
    refuse(v, 403, "user '%s' must be in one of these groups to %s: %s", who->user.id, what,
           cr_buf_str(&buf));
    cr_buf_release(&buf);
    return false;
}

static bool refuse_groups(as_verdict *v, const as_identity *who, const char *what,
                          const api_strlist *a, const api_strlist *b, const api_strlist *c,
                          const char *single)
{
    return refuse_groups4(v, who, what, a, b, c, NULL, single);
}

static bool action_allowed(const api_request *req, const as_identity *who, const char *action)
{
    const char *group;
    json_t *acts;

    if (!action || !json_is_object(req->actionPermissions))
        return true;
    json_object_foreach(req->actionPermissions, group, acts) {
        size_t i;
        json_t *a;
        if (!api_strlist_contains(&who->user.groups, group))
            continue;
        json_array_foreach(acts, i, a) if (json_is_string(a) &&
                                           strcmp(json_string_value(a), action) == 0) return true;
    }
    return false;
}

bool as_auth_check(const as_auth_policy *p, const as_identity *who, as_access access,
                   const char *request_id, const api_request *req, const char *action,
                   as_verdict *v)
{
    char what[200];

    if (!p || !p->enabled || access == AS_ACCESS_OPEN)
        return allow(v);
    if (!who)
        return refuse(v, 401, "authentication required: send 'Authorization: Bearer <token>'");
    if (as_auth_is_admin(p, who))
        return allow(v);
    if (!in_required(p, who))
        return refuse_groups(v, who, "use this API", &p->required_groups, NULL, NULL, NULL);
    switch (access) {
    case AS_ACCESS_USER:
        return allow(v);
    case AS_ACCESS_ADMIN:
        return refuse_groups(v, who, "do this (admins only)", &p->admin_groups, NULL, NULL, NULL);
    case AS_ACCESS_GREAD:
        if (is_jita(p, who) || intersects(&who->user.groups, &p->global_read_only))
            return allow(v);
        return refuse_groups(v, who, "read agents and racks", &p->admin_groups, &p->jita_groups,
                             &p->global_read_only, NULL);
    case AS_ACCESS_READ:
        if (!req || is_jita(p, who) || is_rw(req, who) || is_ro(p, req, who))
            return allow(v);
        snprintf(what, sizeof(what), "read request '%.100s'", request_id ? request_id : "?");
        return refuse_groups4(v, who, what,
                              req->readOnlyGroups.n ? &req->readOnlyGroups : &p->default_read_only,
                              &req->readWriteGroups, &p->global_read_only, &p->jita_groups,
                              req->group);
    case AS_ACCESS_WRITE:
        if (!req)
            return allow(v); /* a new request: as_auth_check_change decides */
        snprintf(what, sizeof(what), "change request '%.100s'", request_id ? request_id : "?");
        if (!is_jita(p, who) && !is_rw(req, who))
            return refuse_groups(v, who, what, &req->readWriteGroups, &p->jita_groups, NULL,
                                 req->group);
        if (!action_allowed(req, who, action))
            return refuse(v, 403,
                          "user '%s' may not %s request '%.100s': its actionPermissions give "
                          "none of the user's groups that action",
                          who->user.id, action, request_id ? request_id : "?");
        return allow(v);
    default:
        return refuse(v, 403, "this endpoint has no access class");
    }
}

static bool strlist_equal(const api_strlist *a, const api_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!api_strlist_contains(b, a->v[i]))
            return false;
    return true;
}

/* A request with actionPermissions limits its writers; an update through
 * POST /api/requests must not get round them: a new instance count needs
 * SCALE, and new owners, readers or permissions need every action. */
static bool permissions_kept(const api_request *old, const api_request *upd,
                             const as_identity *who, bool same_owners, as_verdict *v)
{
    static const char *const every[] = {"BOUNCE",    "EXEC",     "PAUSE",
                                        "SCALE",     "KILL_TASK", "DELETE_SCHEDULED_TASK"};
    bool perms_same;

    if (!json_is_object(old->actionPermissions))
        return true;
    if (api_request_eff_instances(old) != api_request_eff_instances(upd) &&
        !action_allowed(old, who, "SCALE"))
        return refuse(v, 403,
                      "user '%s' may not change the instances of request '%.100s': its "
                      "actionPermissions give none of the user's groups SCALE",
                      who->user.id, old->id ? old->id : "?");
    perms_same = json_equal(old->actionPermissions, upd->actionPermissions);
    if (same_owners && perms_same && strlist_equal(&old->readOnlyGroups, &upd->readOnlyGroups))
        return true;
    for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++)
        if (!action_allowed(old, who, every[i]))
            return refuse(v, 403,
                          "user '%s' may not change the owners, readers or actionPermissions "
                          "of request '%.100s': that needs every action, and its "
                          "actionPermissions give none of the user's groups %s",
                          who->user.id, old->id ? old->id : "?", every[i]);
    return true;
}

bool as_auth_check_change(const as_auth_policy *p, const as_identity *who,
                          const api_request *old, const api_request *upd, as_verdict *v)
{
    const char *id = upd && upd->id ? upd->id : old ? old->id : "?";

    bool same_owners = false;

    if (!as_auth_check(p, who, AS_ACCESS_WRITE, id, old, NULL, v))
        return false;
    if (!p || !p->enabled || as_auth_is_admin(p, who))
        return allow(v);
    if (old) {
        bool same_group = (!old->group && !upd->group) ||
                          (old->group && upd->group && strcmp(old->group, upd->group) == 0);
        same_owners = same_group && strlist_equal(&old->readWriteGroups, &upd->readWriteGroups);
        if (!permissions_kept(old, upd, who, same_owners, v))
            return false;
        if (same_owners)
            return allow(v);
    }
    /* A new request, or new owners: the caller must be one of them. */
    if (!is_jita(p, who) && !is_rw(upd, who)) {
        char what[200];
        snprintf(what, sizeof(what), "give request '%.100s' these owners", id);
        return refuse_groups(v, who, what, &upd->readWriteGroups, &p->jita_groups, NULL,
                             upd->group);
    }
    return allow(v);
}

bool as_auth_can_read(const as_auth_policy *p, const as_identity *who, const api_request *req)
{
    as_verdict v;
    return as_auth_check(p, who, AS_ACCESS_READ, NULL, req, NULL, &v);
}

/* ---- identities ----------------------------------------------------------------------- */

typedef struct static_token {
    char hash[API_TOKEN_HASH_LEN + 1];
    api_user user;
} static_token;

struct as_auth {
    as_auth_policy policy;
    static_token *tokens;
    size_t ntokens;
    char *user_header, *groups_header;
};

const as_auth_policy *as_auth_policy_of(const as_auth *a)
{
    return &a->policy;
}

size_t as_auth_static_tokens(const as_auth *a)
{
    return a->ntokens;
}

const char *as_auth_user_header(const as_auth *a)
{
    return a->user_header;
}

const char *as_auth_groups_header(const as_auth *a)
{
    return a->groups_header;
}

static void add_groups(api_strlist *groups, const char *csv)
{
    const char *p = csv;

    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n) {
            char *g = xstrndup(p, n);
            if (!api_strlist_contains(groups, g))
                api_strlist_add(groups, g);
            free(g);
        }
        p = e ? e + 1 : NULL;
    }
}

static int groups_valid(const api_strlist *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (!api_user_id_valid(g->v[i]))
            return -1;
    return 0;
}

/* One line "<token> <user> [groups]" of the token file. */
static int parse_token_line(as_auth *a, char *line, const char *file, int lineno, cr_err *err)
{
    char *save = NULL, *tok, *user, *groups;
    static_token *t;

    tok = strtok_r(line, " \t", &save);
    if (!tok || tok[0] == '#')
        return 0;
    user = strtok_r(NULL, " \t", &save);
    groups = strtok_r(NULL, " \t", &save);
    if (!user || strtok_r(NULL, " \t", &save)) {
        cr_error(err, CR_EINVAL, "%s:%d: want '<token> <user> [group,group...]'", file, lineno);
        return -1;
    }
    if (strlen(tok) < 16 || strlen(tok) > API_TOKEN_MAX_LEN) {
        cr_error(err, CR_EINVAL, "%s:%d: a token must be 16-%d characters", file, lineno,
                 API_TOKEN_MAX_LEN);
        return -1;
    }
    if (!api_user_id_valid(user)) {
        cr_error(err, CR_EINVAL, "%s:%d: user '%.100s' must be 1-100 of [A-Za-z0-9._@+=-]", file,
                 lineno, user);
        return -1;
    }
    a->tokens = xrealloc(a->tokens, (a->ntokens + 1) * sizeof(*a->tokens));
    t = &a->tokens[a->ntokens];
    memset(t, 0, sizeof(*t));
    api_token_hash(tok, strlen(tok), t->hash);
    OPENSSL_cleanse(tok, strlen(tok));
    t->user.id = xstrdup(user);
    add_groups(&t->user.groups, groups);
    a->ntokens++;
    if (groups_valid(&t->user.groups) < 0) {
        cr_error(err, CR_EINVAL, "%s:%d: group names must be 1-100 of [A-Za-z0-9._@+=-]", file,
                 lineno);
        return -1;
    }
    return 0;
}

static int load_token_file(as_auth *a, const char *path, cr_err *err)
{
    struct stat st;
    char line[2048];
    int fd, lineno = 0, rc = 0;
    FILE *f;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_error(err, CR_EIO, "token file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cr_error(err, CR_EINVAL, "token file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return cr_error(err, CR_EINVAL,
                        "token file %s: readable by group or others (mode %03o); chmod 600 it",
                        path, (unsigned)(st.st_mode & 0777));
    }
    f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return cr_error(err, CR_EIO, "token file %s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        lineno++;
        if (n && line[n - 1] != '\n' && !feof(f)) {
            rc = cr_error(err, CR_EINVAL, "%s:%d: line too long", path, lineno);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (parse_token_line(a, line, path, lineno, err) < 0) {
            rc = -1;
            break;
        }
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

as_auth *as_auth_new(const as_auth_options *o, cr_err *err)
{
    as_auth *a = xcalloc(1, sizeof(*a));

    policy_copy(&a->policy, &o->policy);
    if (o->user_header && *o->user_header)
        a->user_header = xstrdup(o->user_header);
    if (o->groups_header && *o->groups_header)
        a->groups_header = xstrdup(o->groups_header);
    if (o->token_file && load_token_file(a, o->token_file, err) < 0) {
        as_auth_free(a);
        return NULL;
    }
    return a;
}

void as_auth_free(as_auth *a)
{
    if (!a)
        return;
    as_auth_policy_release(&a->policy);
    for (size_t i = 0; i < a->ntokens; i++)
        api_user_release(&a->tokens[i].user);
    free(a->tokens);
    free(a->user_header);
    free(a->groups_header);
    free(a);
}

const char *as_auth_bearer(const char *authorization, size_t *len)
{
    const char *p = authorization;
    size_t n;

    if (!p)
        return NULL;
    if (strncasecmp(p, "Bearer ", 7) == 0)
        p += 7;
    else if (strncasecmp(p, "Token ", 6) == 0)
        p += 6;
    else
        return NULL;
    while (*p == ' ')
        p++;
    n = strlen(p);
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0 || n > API_TOKEN_MAX_LEN)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return NULL;
    *len = n;
    return p;
}

static void identity_from_user(as_identity *out, const api_user *u, const char *via)
{
    memset(out, 0, sizeof(*out));
    api_user_copy(&out->user, u);
    out->via = via;
}

as_auth_rc as_auth_identify(const as_auth *a, const as_cache *cache, const char *prefix,
                            const as_credentials *cred, int64_t now, as_identity *out,
                            const char **why)
{
    char hash[API_TOKEN_HASH_LEN + 1];
    const char *tok;
    size_t len;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (cred->cert_verified && cred->cert_user) {
        if (!api_user_id_valid(cred->cert_user)) {
            *why = "client certificate CN is not a valid user name";
            return AS_AUTH_BAD;
        }
        out->user.id = xstrdup(cred->cert_user);
        for (size_t i = 0; i < cred->cert_ngroups; i++)
            if (api_user_id_valid(cred->cert_groups[i]) &&
                !api_strlist_contains(&out->user.groups, cred->cert_groups[i]))
                api_strlist_add(&out->user.groups, cred->cert_groups[i]);
        out->via = "certificate";
        out->expires_at = cred->cert_expires_at;
        return AS_AUTH_OK;
    }
    if (cred->authorization) {
        const as_entry *e;
        char *key;

        tok = as_auth_bearer(cred->authorization, &len);
        if (!tok) {
            *why = "malformed authorization header (want 'Bearer <token>')";
            return AS_AUTH_BAD;
        }
        api_token_hash(tok, len, hash);
        for (size_t i = 0; i < a->ntokens; i++) {
            /* Equal-length hex digests: compare in constant time anyway. */
            if (CRYPTO_memcmp(a->tokens[i].hash, hash, API_TOKEN_HASH_LEN) == 0) {
                identity_from_user(out, &a->tokens[i].user, "token-file");
                return AS_AUTH_OK;
            }
        }
        key = api_key_auth_token(prefix, hash);
        e = cache ? as_cache_get(cache, key) : NULL;
        free(key);
        if (!e || !e->doc) {
            *why = "invalid token";
            return AS_AUTH_BAD;
        }
        if (api_token_expired(e->doc, now)) {
            *why = "expired token";
            return AS_AUTH_BAD;
        }
        identity_from_user(out, &((const api_token *)e->doc)->user, "token");
        if (((const api_token *)e->doc)->has_expiresAt)
            out->expires_at = ((const api_token *)e->doc)->expiresAt;
        return AS_AUTH_OK;
    }
    if (a->user_header && cred->header_user) {
        if (!api_user_id_valid(cred->header_user)) {
            *why = "invalid user header";
            return AS_AUTH_BAD;
        }
        out->user.id = xstrdup(cred->header_user);
        add_groups(&out->user.groups, cred->header_groups);
        if (groups_valid(&out->user.groups) < 0) {
            as_identity_release(out);
            *why = "invalid groups header";
            return AS_AUTH_BAD;
        }
        out->via = "header";
        return AS_AUTH_OK;
    }
    return AS_AUTH_ANONYMOUS;
}

bool as_auth_lookup_user(const as_auth *a, const as_cache *cache, const char *prefix,
                         const char *user_id, int64_t now, as_identity *out)
{
    const api_token *best = NULL;
    char *kp = api_key_kind_prefix(prefix, API_KEY_AUTH_TOKEN, NULL);
    size_t first, n = as_cache_range(cache, kp, &first);

    free(kp);
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < a->ntokens; i++) {
        if (strcmp(a->tokens[i].user.id, user_id) == 0) {
            identity_from_user(out, &a->tokens[i].user, "token-file");
            return true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const api_token *t = as_cache_at(cache, first + i)->doc;
        if (!t || !t->user.id || strcmp(t->user.id, user_id) != 0 || api_token_expired(t, now))
            continue;
        if (!best || (t->has_createdAt && t->createdAt > best->createdAt))
            best = t;
    }
    if (!best)
        return false;
    identity_from_user(out, &best->user, "token");
    return true;
}
