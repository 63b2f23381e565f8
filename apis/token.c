/* Token documents; see token.h. */
#include "apis/token.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "apis/codec.h"
#include "base/xalloc.h"

#define U api_user
static const api_field user_fields[] = {
    API_FS(U, id),
    API_FS(U, name),
    API_FS(U, email),
    API_FSL(U, groups),
};
static const api_codec user_codec = API_CODEC(U, "user", user_fields);
#undef U

#define T api_token
static const api_field token_fields[] = {
    API_FEM(T, user, user_codec), API_FS(T, createdBy),   API_FL(T, createdAt),
    API_FL(T, expiresAt),         API_FS(T, description),
};
static const api_codec token_codec = API_CODEC(T, "token", token_fields);
#undef T

bool api_user_id_valid(const char *id)
{
    size_t n;

    if (!id || !*id)
        return false;
    n = strlen(id);
    if (n > 100 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (!strchr("._@+=-", c))
            return false;
    }
    return true;
}

static void user_validate(const api_user *u, const char *prefix, api_problems *probs)
{
    char *p;

    if (!api_user_id_valid(u->id)) {
        p = api_path_join(prefix, "id");
        api_problems_add(probs, p, "%s", u->id ? "must be 1-100 of [A-Za-z0-9._@+=-]" : "is required");
        free(p);
    }
    for (size_t i = 0; i < u->groups.n; i++) {
        if (api_user_id_valid(u->groups.v[i]))
            continue;
        p = api_path_join(prefix, "groups");
        api_problems_add(probs, p, "group '%.100s' must be 1-100 of [A-Za-z0-9._@+=-]",
                         u->groups.v[i]);
        free(p);
    }
}

api_user *api_user_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_user *u;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a user must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    u = xcalloc(1, sizeof(*u));
    api_codec_decode(&user_codec, j, u, prefix, opts->allow_unknown, probs);
    if (probs->n == before && !opts->no_validate)
        user_validate(u, prefix, probs);
    if (probs->n != before) {
        api_user_free(u);
        return NULL;
    }
    return u;
}

json_t *api_user_to_json(const api_user *u)
{
    return api_codec_encode(&user_codec, u);
}

void api_user_release(api_user *u)
{
    if (u)
        api_codec_release(&user_codec, u);
}

void api_user_free(api_user *u)
{
    api_user_release(u);
    free(u);
}

void api_user_copy(api_user *dst, const api_user *src)
{
    json_t *j = api_codec_encode(&user_codec, src);
    api_problems probs;

    memset(dst, 0, sizeof(*dst));
    api_problems_init(&probs);
    api_codec_decode(&user_codec, j, dst, "", true, &probs);
    api_problems_release(&probs);
    json_decref(j);
}

api_token *api_token_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    const char *prefix;
    size_t before = probs->n;
    api_token *t;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a token must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    api_codec_decode(&token_codec, j, t, prefix, opts->allow_unknown, probs);
    if (probs->n == before && !opts->no_validate) {
        char *p = api_path_join(prefix, "user");
        if (!t->has_user)
            api_problems_add(probs, p, "is required");
        else
            user_validate(&t->user, p, probs);
        free(p);
        if (t->has_expiresAt && t->expiresAt <= 0) {
            p = api_path_join(prefix, "expiresAt");
            api_problems_add(probs, p, "must be > 0 (epoch ms)");
            free(p);
        }
    }
    if (probs->n != before) {
        api_token_free(t);
        return NULL;
    }
    return t;
}

json_t *api_token_to_json(const api_token *t)
{
    return api_codec_encode(&token_codec, t);
}

void api_token_free(api_token *t)
{
    if (!t)
        return;
    api_codec_release(&token_codec, t);
    free(t);
}

bool api_token_expired(const api_token *t, int64_t now)
{
    return t->has_expiresAt && now >= t->expiresAt;
}

char *api_token_generate(void)
{
    unsigned char r[32];
    size_t got = 0;
    char *out;

    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        got += (size_t)n;
    }
    out = xmalloc(4 + 2 * sizeof(r) + 1);
    memcpy(out, "crl_", 4);
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", r[i]);
    return out;
}

void api_token_hash(const char *token, size_t len, char out[API_TOKEN_HASH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(token, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort(); /* SHA-256 is always there; failing open is not an option */
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool api_token_hash_valid(const char *s)
{
    size_t i;

    for (i = 0; s && s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == API_TOKEN_HASH_LEN;
}
