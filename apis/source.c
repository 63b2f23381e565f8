/* Sources: see source.h. */
#include "apis/source.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec.h"
#include "base/xalloc.h"

#define S api_source
static const api_field source_fields[] = {
    API_FS(S, name),     API_FS(S, repository), API_FS(S, ref),      API_FS(S, path),
    API_FS(S, interval), API_FB(S, prune),      API_FB(S, selfHeal),
};
static const api_codec source_codec = API_CODEC(S, "source", source_fields);
#undef S

#define T api_source_status
static const api_field status_fields[] = {
    API_FS(T, name),
    API_FS(T, commit),
    API_FL_ALWAYS(T, syncedAt),
    API_FS(T, fetchedCommit),
    API_FL_ALWAYS(T, fetchedAt),
    API_FL_ALWAYS(T, observedRevision),
    API_FL_ALWAYS(T, syncRequest),
    API_FSL(T, changes),
    API_FSL(T, drift),
    API_FSL(T, requests),
    API_FSL(T, deploys),
    API_FL_ALWAYS(T, updatedAt),
};
static const api_codec status_codec = {"source status",
                                       sizeof(T),
                                       AF_NO_EXTRA,
                                       status_fields,
                                       sizeof(status_fields) / sizeof(status_fields[0]),
                                       NULL};
#undef T

bool api_source_name_valid(const char *name)
{
    return api_request_id_valid(name);
}

int64_t api_source_interval_ms(const api_source *s)
{
    int64_t ms = s && s->interval ? api_duration_parse_ms(s->interval) : -1;
    return ms > 0 ? ms : API_SOURCE_DEFAULT_INTERVAL_MS;
}

static void bad(api_problems *probs, const char *prefix, const char *field, const char *msg)
{
    char *p = api_path_join(prefix ? prefix : "", field);
    api_problems_add(probs, p, "%s", msg);
    free(p);
}

/* Printable, no spaces or control bytes, not an option. */
static bool plain_arg(const char *s)
{
    if (!s || !*s || *s == '-')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

static bool ref_ok(const char *r)
{
    if (!plain_arg(r) || strstr(r, "..") || strchr(r, ':') || strchr(r, '\\') || strchr(r, '~') ||
        strchr(r, '^') || strchr(r, '?') || strchr(r, '*') || strchr(r, '['))
        return false;
    return r[strlen(r) - 1] != '/' && *r != '/';
}

static bool path_ok(const char *p)
{
    const char *seg = p;

    if (!plain_arg(p) || *p == '/' || strchr(p, '\\') || strchr(p, ':'))
        return false;
    /* no ".." segment */
    while (seg && *seg) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        seg = slash ? slash + 1 : NULL;
    }
    return true;
}

size_t api_source_validate(const api_source *s, const char *prefix, api_problems *probs)
{
    size_t before = probs->n;

    if (!s->name)
        bad(probs, prefix, "name", "required");
    else if (!api_source_name_valid(s->name))
        bad(probs, prefix, "name", "must be 1-100 characters of [a-zA-Z0-9_-]");
    if (!s->repository)
        bad(probs, prefix, "repository", "required (a path or URL git can fetch)");
    else if (!plain_arg(s->repository))
        bad(probs, prefix, "repository",
            "must not be empty, start with '-' or contain spaces or control characters");
    if (s->ref && !ref_ok(s->ref))
        bad(probs, prefix, "ref", "must be a branch or tag name");
    if (s->path && !path_ok(s->path))
        bad(probs, prefix, "path",
            "must be a relative directory inside the repository (no '..', no leading '/' or '-')");
    if (s->interval) {
        int64_t ms = api_duration_parse_ms(s->interval);
        if (ms < 0)
            bad(probs, prefix, "interval", "must be a duration such as 30s, 5m, 1h or 500ms");
        else if (ms < API_SOURCE_MIN_INTERVAL_MS || ms > API_SOURCE_MAX_INTERVAL_MS)
            bad(probs, prefix, "interval", "must be between 1s and 24h");
    }
    return probs->n - before;
}

api_source *api_source_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    size_t before = probs->n;
    const char *prefix;
    api_source *s;

    if (!opts)
        opts = &defaults;
    prefix = opts->path_prefix ? opts->path_prefix : "";
    if (!json_is_object(j)) {
        api_problems_add(probs, prefix, "a source must be an object, not %s",
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    api_codec_decode(&source_codec, j, s, prefix, opts->allow_unknown, probs);
    if (!opts->no_validate) {
        api_problems v = API_PROBLEMS_INIT;
        v.srcmap = probs->srcmap;
        api_source_validate(s, prefix, &v);
        api_problems_merge_new(probs, before, &v);
    }
    if (probs->n != before) {
        api_source_free(s);
        return NULL;
    }
    return s;
}

json_t *api_source_to_json(const api_source *s)
{
    return api_codec_encode(&source_codec, s);
}

void api_source_free(api_source *s)
{
    if (!s)
        return;
    api_codec_release(&source_codec, s);
    free(s);
}

int api_source_status_from_json(const json_t *j, api_source_status *out, api_problems *probs)
{
    size_t before = probs->n;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(j)) {
        api_problems_add(probs, "", "a source status must be an object");
        return -1;
    }
    api_codec_decode(&status_codec, j, out, "", true, probs);
    api_conditions_from_json(j, "", &out->conditions, probs);
    return probs->n == before ? 0 : -1;
}

json_t *api_source_status_to_json(const api_source_status *s)
{
    json_t *o = api_codec_encode(&status_codec, s);
    json_object_set_new(o, "conditions", api_conditions_to_json(&s->conditions));
    return o;
}

void api_source_status_copy(api_source_status *dst, const api_source_status *src)
{
    api_problems p = API_PROBLEMS_INIT;
    json_t *j = api_source_status_to_json(src);
    api_source_status_from_json(j, dst, &p);
    api_problems_release(&p);
    json_decref(j);
}

void api_source_status_release(api_source_status *s)
{
    if (!s)
        return;
    api_codec_release(&status_codec, s);
    api_conditions_release(&s->conditions);
    memset(s, 0, sizeof(*s));
}
