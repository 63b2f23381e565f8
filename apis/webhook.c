/* Webhooks: see webhook.h. */
#include "apis/webhook.h"

#include <stdlib.h>
#include <string.h>

#include "apis/codec.h"
#include "apis/keys.h"
#include "base/xalloc.h"

static const char *const type_names[] = {NULL, "REQUEST", "DEPLOY", "TASK"};
static const api_enum type_enum = {type_names, API_WEBHOOK_TYPES, NULL, 0};

const char *api_webhook_type_name(api_webhook_type t)
{
    return t > API_WEBHOOK_UNSET && t <= API_WEBHOOK_TASK ? type_names[t] : "";
}

api_webhook_type api_webhook_type_parse(const char *s)
{
    for (int k = 1; s && k <= API_WEBHOOK_TYPES; k++)
        if (strcmp(type_names[k], s) == 0)
            return (api_webhook_type)k;
    return API_WEBHOOK_UNSET;
}

#define W api_webhook
static const api_field webhook_fields[] = {
    API_FS(W, id),     API_FS(W, uri),       API_FEN(W, type, type_enum),
    API_FS(W, user),   API_FL(W, timestamp), API_FS(W, secret),
};
static const api_codec webhook_codec = API_CODEC(W, "webhook", webhook_fields);
#undef W

#define S api_webhook_status
static const api_field status_fields[] = {
    API_FS(S, webhookId),        API_FL_ALWAYS(S, cursorRevision), API_FS(S, cursorKey),
    API_FL_ALWAYS(S, queued),    API_FL_ALWAYS(S, dropped),        API_FL_ALWAYS(S, lastDroppedAt),
    API_FI_ALWAYS(S, failures),  API_FS(S, lastError),             API_FL_ALWAYS(S, lastFailureAt),
    API_FL_ALWAYS(S, nextAttemptAt), API_FL_ALWAYS(S, updatedAt), API_FS(S, invalid),
};
static const api_codec status_codec = API_CODEC(S, "webhook status", status_fields);
#undef S

#define E api_webhook_event
static const api_field event_fields[] = {
    API_FS(E, webhookId),       API_FEN(E, type, type_enum), API_FS(E, objectKey),
    API_FL_ALWAYS(E, revision), API_FS(E, requestId),        API_FS(E, deployId),
    API_FS(E, taskId),          API_FL_ALWAYS(E, createdAt), API_FJ(E, payload, JSON_OBJECT),
};
static const api_codec event_codec = API_CODEC(E, "webhook event", event_fields);
#undef E

/* Decodes object j with codec c into a new struct of c->size bytes. */
static void *decode_obj(const api_codec *c, const char *what, const json_t *j,
                        const api_decode_opts *opts, api_problems *probs)
{
    static const api_decode_opts defaults = {0};
    size_t before = probs->n;
    void *obj;

    if (!opts)
        opts = &defaults;
    if (!json_is_object(j)) {
        api_problems_add(probs, opts->path_prefix ? opts->path_prefix : "",
                         "a %s must be an object, not %s", what,
                         j ? api_json_kind_name(json_typeof(j)) : "nothing");
        return NULL;
    }
    obj = xcalloc(1, c->size);
    if (api_codec_decode(c, j, obj, opts->path_prefix ? opts->path_prefix : "",
                         opts->allow_unknown, probs) ||
        probs->n != before) {
        api_codec_release(c, obj);
        free(obj);
        return NULL;
    }
    return obj;
}

static bool uri_ok(const char *u)
{
    return u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
           strlen(u) > 8 && strlen(u) <= 4096 && !strpbrk(u, " \t\r\n");
}

api_webhook *api_webhook_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs)
{
    size_t before = probs->n;
    api_webhook *w = decode_obj(&webhook_codec, "webhook", j, opts, probs);

    if (!w || (opts && opts->no_validate))
        return w;
    if (w->id && !api_key_id_valid(w->id))
        api_problems_add(probs, "id",
                         "\"%.80s\" is not a valid id (1-%d printable characters, no space, "
                         "'/' or '\\\\')",
                         w->id, API_KEY_MAX_ID);
    if (!uri_ok(w->uri))
        api_problems_add(probs, "uri", "required: an http:// or https:// URL without spaces");
    if (w->type == API_WEBHOOK_UNSET)
        api_problems_add(probs, "type", "required: one of REQUEST, DEPLOY, TASK");
    if (w->secret && (!*w->secret || strlen(w->secret) > API_WEBHOOK_MAX_SECRET))
        api_problems_add(probs, "secret", "must be 1-%d bytes", API_WEBHOOK_MAX_SECRET);
    if (probs->n != before) {
        api_webhook_free(w);
        return NULL;
    }
    return w;
}

json_t *api_webhook_to_json(const api_webhook *w)
{
    return api_codec_encode(&webhook_codec, w);
}

json_t *api_webhook_public_json(const api_webhook *w)
{
    json_t *j = json_pack("{s:s?,s:s?,s:s}", "id", w->id, "uri", w->uri, "type",
                          api_webhook_type_name(w->type));
    if (w->user)
        json_object_set_new(j, "user", json_string(w->user));
    json_object_set_new(j, "timestamp", json_integer(w->has_timestamp ? w->timestamp : 0));
    return j;
}

void api_webhook_free(api_webhook *w)
{
    if (!w)
        return;
    api_codec_release(&webhook_codec, w);
    free(w);
}

char *api_webhook_default_id(api_webhook_type type, const char *uri)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *t = api_webhook_type_name(type);
    size_t n = strlen(t), cap = strlen(t) + 1 + 3 * strlen(uri) + 1;
    char *id = xmalloc(cap);

    memcpy(id, t, n);
    id[n++] = '-';
    for (const unsigned char *p = (const unsigned char *)uri; *p && n + 3 < API_KEY_MAX_ID; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '~' || *p == '-') {
            id[n++] = (char)*p;
        } else {
            id[n++] = '%';
            id[n++] = hex[*p >> 4];
            id[n++] = hex[*p & 15];
        }
    }
    id[n] = '\0';
    return id;
}

api_webhook_status *api_webhook_status_from_json(const json_t *j, const api_decode_opts *opts,
                                                 api_problems *probs)
{
    return decode_obj(&status_codec, "webhook status", j, opts, probs);
}

json_t *api_webhook_status_to_json(const api_webhook_status *s)
{
    return api_codec_encode(&status_codec, s);
}

void api_webhook_status_copy(api_webhook_status *dst, const api_webhook_status *src)
{
    api_problems probs = API_PROBLEMS_INIT;
    json_t *j = api_codec_encode(&status_codec, src);

    memset(dst, 0, sizeof(*dst));
    api_codec_decode(&status_codec, j, dst, "", true, &probs);
    json_decref(j);
    api_problems_release(&probs);
}

bool api_webhook_status_equal(const api_webhook_status *a, const api_webhook_status *b)
{
    api_webhook_status x = *a;
    x.updatedAt = b->updatedAt;
    return api_codec_equal(&status_codec, &x, b);
}

void api_webhook_status_release(api_webhook_status *s)
{
    if (s)
        api_codec_release(&status_codec, s);
}

void api_webhook_status_free(api_webhook_status *s)
{
    if (!s)
        return;
    api_webhook_status_release(s);
    free(s);
}

api_webhook_event *api_webhook_event_from_json(const json_t *j, const api_decode_opts *opts,
                                               api_problems *probs)
{
    size_t before = probs->n;
    api_webhook_event *e = decode_obj(&event_codec, "webhook event", j, opts, probs);

    if (!e || (opts && opts->no_validate))
        return e;
    if (!e->payload)
        api_problems_add(probs, "payload", "required");
    if (e->type == API_WEBHOOK_UNSET)
        api_problems_add(probs, "type", "required: one of REQUEST, DEPLOY, TASK");
    if (probs->n != before) {
        api_webhook_event_free(e);
        return NULL;
    }
    return e;
}

json_t *api_webhook_event_to_json(const api_webhook_event *e)
{
    return api_codec_encode(&event_codec, e);
}

void api_webhook_event_free(api_webhook_event *e)
{
    if (!e)
        return;
    api_codec_release(&event_codec, e);
    free(e);
}
