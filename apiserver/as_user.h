/* as_user: what the web UI needs of the API beyond Singularity's objects.
 *
 * Two small features, pure like as_api.h (the caller's parsed request in,
 * an answer and an etcd transaction out; no I/O, no clock):
 *
 * - The caller's settings, Singularity's /api/users/settings: the requests
 *   they starred, kept per user at P/users/settings/<userId>
 *   ({"userId", "starredRequestIds": [...], "updatedAt"}). GET answers
 *   {"starredRequestIds": [...]} (empty for a user with none); POST
 *   replaces the list; POST and DELETE .../starred-requests add and remove
 *   the ids their body lists. Without --auth every caller is the user
 *   "anonymous".
 *
 * - One-time login codes (docs/security.md "One-time login codes"): POST
 *   /api/auth/login-codes makes a code for the caller, as the caller (same
 *   user and groups: nobody gains anything), valid AS_LOGIN_CODE_TTL_MS;
 *   etcd keeps its SHA-256 at P/auth/login-codes/<sha256>. POST
 *   /api/auth/login {"code"} (open: the browser has no token yet) trades
 *   it for a new token of that user valid AS_LOGIN_TOKEN_TTL_MS, in one
 *   transaction that compares the code's mod_revision, deletes it and puts
 *   the token: a code works once, even against two replicas at the same
 *   time (the loser gets 409). The code's text is shown once and never
 *   stored; it travels in a URL fragment (/ui/#code=...), which browsers
 *   do not send to servers, so it reaches no access log.
 *   A caller whose credential ends before such a login would (its
 *   as_identity.expires_at) gets no code (403): a login must not outlive,
 *   nor renew, the credential that made it.
 *
 * Ownership follows as_api.h: *out is filled and the caller releases it. */
#ifndef AS_USER_H
#define AS_USER_H

#include <stdbool.h>

#include "apiserver/as_api.h"

struct as_identity;

#define AS_LOGIN_CODE_TTL_MS  (5 * 60 * 1000)
#define AS_LOGIN_TOKEN_TTL_MS (8 * 3600 * 1000)
/* Unused codes one user may hold at once; expired ones do not count and
 * are deleted by the next code the user makes. */
#define AS_LOGIN_CODES_MAX 16
/* Starred requests per user. */
#define AS_STARS_MAX 1000
/* The user id of every caller when authentication is off. */
#define AS_USER_ANONYMOUS "anonymous"

/* True for the operations this module answers (the server sends them here
 * instead of as_api_handle). */
bool as_user_op(as_op op);

/* Runs one of those operations (as_api_handle's contract). */
void as_user_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                    as_result *out);

/* Whether who (NULL: anonymous) may see key in a watch stream when key is
 * one of this module's documents: 1 or 0; -1 when it is not (ask
 * as_api_key_visible). A user's settings are for that user and admins,
 * login codes for admins only. */
int as_user_key_visible(const as_api_config *cfg, const struct as_identity *who, const char *key);

#endif
