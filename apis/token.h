/* An API token document: /corral/auth/tokens/<sha256>, one bearer token of
 * one user (docs/security.md).
 *
 * The key names the token by the hex SHA-256 of its text; the text itself
 * is shown once, when the token is made, and never stored. A plain hash is
 * enough because tokens are 256 random bits (api_token_generate): there is
 * no dictionary to try, so a slow password hash would only cost every API
 * call time.
 *
 * Fields: Singularity's SingularityUser ("user": id, name, email, groups)
 * plus who made it and when, an optional expiry and a note. Written by
 * POST /api/auth/token (admins) and by people with etcdctl; read by the
 * API's authentication. Ownership follows apis/common.h. */
#ifndef API_TOKEN_H
#define API_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"

#define API_TOKEN_HASH_LEN 64 /* hex characters of a SHA-256 */
#define API_TOKEN_MAX_LEN  512

typedef struct api_user {
    char *id;             /* "id": the user name everything records */
    char *name;           /* "name" */
    char *email;          /* "email" */
    api_strlist groups;   /* "groups" */
    json_t *extra;        /* unknown fields (allow_unknown) */
} api_user;

typedef struct api_token {
    bool has_user;
    api_user user;        /* "user" */
    char *createdBy;      /* "createdBy": the admin who made it */
    bool has_createdAt;
    int64_t createdAt;    /* "createdAt": epoch ms */
    bool has_expiresAt;
    int64_t expiresAt;    /* "expiresAt": epoch ms; absent = never */
    char *description;    /* "description" */
    json_t *extra;
} api_token;

/* Decodes and (unless opts->no_validate) validates a token document: a
 * user with a valid id (api_user_id_valid), group names the same way,
 * expiresAt > 0. NULL with problems appended on error; caller frees. */
api_token *api_token_from_json(const json_t *j, const api_decode_opts *opts,
                               api_problems *probs);
/* Canonical JSON. Caller owns. */
json_t *api_token_to_json(const api_token *t);
void api_token_free(api_token *t);

/* SingularityUser's JSON for u (caller owns). */
json_t *api_user_to_json(const api_user *u);
/* Decodes a SingularityUser body (POST /api/auth/token); NULL with
 * problems appended on error; caller frees with api_user_free. */
api_user *api_user_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);
void api_user_free(api_user *u);
void api_user_release(api_user *u);
void api_user_copy(api_user *dst, const api_user *src);

/* A user id or group name: 1-100 of [A-Za-z0-9._@+=-], not "." or "..":
 * what directory user names and certificate fields use, and safe in keys,
 * logs and headers. */
bool api_user_id_valid(const char *id);

/* True when t has expired at now (epoch ms). */
bool api_token_expired(const api_token *t, int64_t now);

/* A new token's text: "crl_" and 64 hex digits of 32 bytes from the
 * kernel's random source. Returns NULL only if no randomness is available.
 * Caller frees. */
char *api_token_generate(void);

/* The hex SHA-256 of token text into out (API_TOKEN_HASH_LEN + 1 bytes):
 * the id of its document. */
void api_token_hash(const char *token, size_t len, char out[API_TOKEN_HASH_LEN + 1]);

/* True if s looks like a token hash (64 lowercase hex digits). */
bool api_token_hash_valid(const char *s);

#endif
