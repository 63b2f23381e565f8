/* as_auth: who is calling, and what they may do (docs/security.md).
 *
 * Authorization follows Singularity's groups model (its
 * SingularityGroupsAuthorizer), with two Corral rules on top: an admin
 * check with no admin groups configured lets nobody through (Singularity
 * lets everyone), and a request's actionPermissions, when it has them,
 * limit which of its writers may bounce, run, pause, scale, kill or delete
 * a scheduled task.
 *
 *   admin groups         may do everything
 *   required groups      when set, a caller outside all of them may do nothing
 *   request group +      may read and change the request, its deploys and
 *   readWriteGroups      tasks; a request naming neither is open to every
 *                        caller (Singularity's rule, kept for migrations)
 *   readOnlyGroups       may read it (when a request has none:
 *                        the default read-only groups)
 *   global read-only     may read every request, agent and rack
 *   jita groups          "just in time access": read and write everything,
 *                        logged
 *
 * Identities come from, in order: a verified TLS client certificate (CN is
 * the user, each OU a group), "Authorization: Bearer <token>" (also
 * Singularity's "Token <token>") looked up by its SHA-256 in the static
 * token file and then in etcd (P/auth/tokens/<sha256>, apis/token.h), and a
 * trusted header set by an authenticating proxy when one is configured.
 *
 * Everything here is pure apart from as_auth_new() reading the token file:
 * decisions take the policy, the caller and the request document, and say
 * why in a message that names the groups that would have been enough. */
#ifndef AS_AUTH_H
#define AS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/common.h"
#include "apis/request.h"
#include "apis/token.h"
#include "apiserver/as_cache.h"
#include "apiserver/as_route.h"
#include "base/err.h"


typedef struct as_auth_policy {
    bool enabled;                  /* false: everything is allowed, nobody is known */
    api_strlist admin_groups;      /* empty: nobody is an admin */
    api_strlist required_groups;   /* empty: no requirement */
    api_strlist default_read_only; /* readOnlyGroups of requests without any */
    api_strlist global_read_only;  /* read every request, agent and rack */
    api_strlist jita_groups;       /* read and write everything */
    bool metrics_open;             /* /metrics needs no identity */
} as_auth_policy;

void as_auth_policy_release(as_auth_policy *p);

/* The caller. */
typedef struct as_identity {
    api_user user;   /* id, name, email, groups */
    const char *via; /* "token", "token-file", "certificate", "header" (static) */
    /* When the credential stops working, epoch ms: a token's expiresAt, a
     * certificate's notAfter; 0: never (the token file, a token without
     * expiry) or not known (a proxy's header). A token the caller makes for
     * itself never outlives it (docs/security.md). */
    int64_t expires_at;
} as_identity;

void as_identity_release(as_identity *id);

/* ---- decisions (pure) ---- */

/* A refusal: 401 (who are you?) or 403 (not allowed), and why. */
typedef struct as_verdict {
    int status; /* 0 = allowed */
    char message[512];
} as_verdict;

bool as_auth_is_admin(const as_auth_policy *p, const as_identity *who);

/* May who do `access` to request req (NULL: no request named, or it does
 * not exist)? action is Singularity's user-facing action of a write
 * ("BOUNCE", "EXEC", "PAUSE", "SCALE", "KILL_TASK",
 * "DELETE_SCHEDULED_TASK") or NULL. who NULL is an unauthenticated caller.
 * request_id names the request in messages. Fills v and returns whether
 * allowed. */
bool as_auth_check(const as_auth_policy *p, const as_identity *who, as_access access,
                   const char *request_id, const api_request *req, const char *action,
                   as_verdict *v);

/* May who change old into upd (POST /api/requests)? Changing group or
 * readWriteGroups needs write on both (Singularity's
 * checkForAuthorizedChanges), so nobody can take a request they may not
 * write, or hand one to a group they are not in. old may be NULL (new). */
bool as_auth_check_change(const as_auth_policy *p, const as_identity *who,
                          const api_request *old, const api_request *upd, as_verdict *v);

/* Whether a list shows request req's items to who (READ, no message). */
bool as_auth_can_read(const as_auth_policy *p, const as_identity *who, const api_request *req);

/* ---- identities ---- */

typedef struct as_auth as_auth;

typedef struct as_auth_options {
    as_auth_policy policy;  /* copied */
    const char *token_file; /* static tokens for bootstrapping, or NULL */
    /* An authenticating proxy's header naming the user ("X-Username"),
     * trusted only when set; NULL: never read. groups_header: its groups,
     * comma-separated. */
    const char *user_header, *groups_header;
} as_auth_options;

/* Loads the token file (lines "<token> <user> [group,group...]", '#'
 * comments; it must not be readable by group or others). Returns the
 * authenticator (caller frees) or NULL with err set. */
as_auth *as_auth_new(const as_auth_options *o, cr_err *err);
void as_auth_free(as_auth *a);
const as_auth_policy *as_auth_policy_of(const as_auth *a);
size_t as_auth_static_tokens(const as_auth *a);
const char *as_auth_user_header(const as_auth *a);
const char *as_auth_groups_header(const as_auth *a);

/* What a call presented. */
typedef struct as_credentials {
    const char *authorization; /* the Authorization header or NULL */
    bool cert_verified;        /* a client certificate verified by TLS */
    const char *cert_user;     /* its subject CN */
    const char *const *cert_groups;
    size_t cert_ngroups;
    int64_t cert_expires_at; /* its notAfter, epoch ms (0: not known) */
    const char *header_user; /* the trusted header's value (when configured) */
    const char *header_groups;
} as_credentials;

typedef enum {
    AS_AUTH_ANONYMOUS = 0, /* nothing presented */
    AS_AUTH_OK,            /* *out filled */
    AS_AUTH_BAD,           /* credentials presented and refused (*why says why) */
} as_auth_rc;

/* Resolves the caller against the static tokens and the tokens in cache at
 * now. On AS_AUTH_OK, *out is filled (release with as_identity_release);
 * on AS_AUTH_BAD, *why is a static reason for the 401 and the failure
 * counter ("invalid token", "expired token", "malformed authorization
 * header", "invalid user header"). Never logs or keeps the token. */
as_auth_rc as_auth_identify(const as_auth *a, const as_cache *cache, const char *prefix,
                            const as_credentials *cred, int64_t now, as_identity *out,
                            const char **why);

/* The bearer token of an Authorization header value ("Bearer x" or
 * "Token x"), as a pointer into it and its length; NULL if it is not one. */
const char *as_auth_bearer(const char *authorization, size_t *len);

/* The user id's groups as the newest of its tokens in cache records them,
 * copied into *out; false if it has none (auth-check/{userId}). */
bool as_auth_lookup_user(const as_auth *a, const as_cache *cache, const char *prefix,
                         const char *user_id, int64_t now, as_identity *out);

#endif
