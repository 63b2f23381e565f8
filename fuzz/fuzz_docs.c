/* libFuzzer target for the etcd documents: what a reader of the cache makes
 * of any value at any key. Arbitrary bytes go through
 *   - api_doc_decode for a key of the kind byte 0 picks (the rest is the
 *     value, parsed with json_loadb); a document that decodes is encoded
 *     again with its kind's encoder, through text as etcd stores it, and
 *     decoded again: it must decode (cleanly if it did the first time) and
 *     encode to the same JSON (the encoders are canonical);
 *   - api_framework_from_json for the framework document (decoded apart,
 *     strictly: doc.h) and api_token_from_json / api_user_from_json;
 *   - api_key_parse of the raw bytes, and of them under "/corral/"; a key
 *     that parses is built again from its parts and must parse the same;
 *   - api_task_id_parse / api_pending_task_id_parse of the raw bytes; an id
 *     that parses is formatted again from its parts and must give itself;
 *   - api_task_from_own_text and api_jtext_is_ascii_dump of the raw bytes:
 *     what they take, jansson must read (no key twice) as the same record
 *     and the same bytes.
 * Problems in the input are expected and ignored; crashes, leaks, sanitizer
 * reports and broken round trips are bugs (abort).
 *
 * Byte 0: kind = b % API_KEY__COUNT, mode = b / API_KEY__COUNT (0-7 or so).
 * An odd mode takes the key's ids from the document (so it matches its
 * key), an even one fixed ids; for intent keys of requests and deploys,
 * which also name a kind of intent out of n, mode % n picks the name and
 * (mode / n) odd takes the ids from the document. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apis/common.h"
#include "apis/deploy.h"
#include "apis/doc.h"
#include "apis/intent.h"
#include "apis/jtext.h"
#include "apis/keys.h"
#include "apis/machine.h"
#include "apis/request.h"
#include "apis/run.h"
#include "apis/status.h"
#include "apis/task.h"
#include "apis/token.h"
#include "apis/webhook.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "/corral"

/* Where a document repeats the ids of its key (dotted paths), and the ids
 * to use when it does not. */
typedef struct kind_ids {
    const char *path[2];
    const char *dflt[3];
} kind_ids;

static const kind_ids ids_of[API_KEY__COUNT] = {
    [API_KEY_REQUEST] = {{"id"}, {"web"}},
    [API_KEY_DEPLOY] = {{"requestId", "id"}, {"web", "v1"}},
    [API_KEY_REQUEST_STATUS] = {{"requestId"}, {"web"}},
    [API_KEY_DEPLOY_STATUS] = {{"requestId", "deployId"}, {"web", "v1"}},
    [API_KEY_JOB_STATUS] = {{"requestId"}, {"cron"}},
    [API_KEY_RUN_STATUS] = {{"requestId", "runId"}, {"job", "r1"}},
    [API_KEY_PENDING_STATUS] = {{NULL}, {"job", "job-v1-3000-1-ONEOFF-2999"}},
    [API_KEY_TASK] = {{"taskId.requestId", "taskId.id"}, {"web", "web-v1-1000-1-h1-r1"}},
    [API_KEY_PENDING] = {{"pendingTaskId.requestId", "pendingTaskId.id"},
                         {"job", "job-v1-3000-1-ONEOFF-2999"}},
    [API_KEY_CLEANUP] = {{"taskId.id"}, {"web-v1-1000-1-h1-r1"}},
    [API_KEY_RUN] = {{"requestId", "runId"}, {"job", "r1"}},
    [API_KEY_HISTORY_TASK] = {{"taskId.requestId", "taskId.id"}, {"web", "web-v1-900-1-h1-r1"}},
    [API_KEY_HISTORY_DEPLOY] = {{"requestId", "id"}, {"web", "v1"}},
    [API_KEY_HISTORY_REQUEST] = {{NULL}, {"web", "0000000100010-CREATED"}},
    [API_KEY_LOG_UPLOAD] = {{NULL}, {"web", "web-v1-1000-1-h1-r1", "stdout"}},
    [API_KEY_NODEAGENT_TASK] = {{"taskId.requestId", "taskId.id"}, {"web", "web-v1-1000-1-h1-r1"}},
    [API_KEY_AGENT] = {{"id"}, {"a1"}},
    [API_KEY_RACK] = {{"id"}, {"r1"}},
    [API_KEY_INTENT_REQUEST] = {{"requestId"}, {"web"}},
    [API_KEY_INTENT_DEPLOY] = {{"requestId", "deployId"}, {"web", "v1"}},
    [API_KEY_INTENT_AGENT] = {{NULL}, {"a1"}},
    [API_KEY_INTENT_RACK] = {{NULL}, {"r1"}},
    [API_KEY_AUTH_TOKEN] = {{NULL},
                            {"1111111111111111111111111111111111111111111111111111111111111111"}},
    [API_KEY_LOGIN_CODE] = {{NULL},
                            {"2222222222222222222222222222222222222222222222222222222222222222"}},
    [API_KEY_USER_SETTINGS] = {{NULL}, {"alice"}},
    [API_KEY_INACTIVE_HOST] = {{NULL}, {"h1"}},
    [API_KEY_WEBHOOK] = {{"id"}, {"h1"}},
    [API_KEY_WEBHOOK_STATUS] = {{"webhookId"}, {"h1"}},
    [API_KEY_WEBHOOK_EVENT] = {{"webhookId"}, {"h1", "0000000000000001-0000000000000002"}},
    [API_KEY_SOURCE] = {{"name"}, {"apps"}},
    [API_KEY_SOURCE_STATUS] = {{"name"}, {"apps"}},
    [API_KEY_INTENT_SOURCE] = {{NULL}, {"apps"}},
    [API_KEY_REQUEST_GROUP] = {{"id"}, {"g1"}},
};

/* An id for a kind the table above does not know yet: a valid key
 * component, so its keys always parse. */
#define ANY_ID "web"

static const char *const request_intents[] = {API_INTENT_PAUSE, API_INTENT_BOUNCE,
                                              API_INTENT_EXIT_COOLDOWN, API_INTENT_SCALE,
                                              API_INTENT_SKIP_HEALTHCHECKS};
static const char *const deploy_intents[] = {API_INTENT_SUBMIT, API_INTENT_CANCEL,
                                             API_INTENT_UPDATE};

/* The string at a dotted path of j (borrowed), or NULL. */
static const char *str_at(const json_t *j, const char *path)
{
    char buf[64];
    const json_t *cur = j;

    if (!path)
        return NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    return json_string_value(cur);
}

/* How many ids follow the kind's name: its pattern's segments with a
 * placeholder ("history/requests/<requestId>/<ms>-<EVENT>" has two). */
static int nids_of(api_key_kind kind)
{
    int n = 0;
    bool in_id = false;

    for (const char *p = api_key_kind_pattern(kind);; p++) {
        if (*p == '<')
            in_id = true;
        if (*p == '/' || !*p) {
            n += in_id;
            in_id = false;
        }
        if (!*p)
            return n;
    }
}

/* The key of kind with ids (as many as the kind has), parsed into *out;
 * -1 if it does not parse. */
static int make_key(api_key_kind kind, const char *const ids[3], api_key_parts *out)
{
    char *pre = api_key_kind_prefix(PREFIX, kind, NULL);
    int n = nids_of(kind), rc;
    size_t len = strlen(pre) + 1;
    char *key;

    for (int i = 0; i < n; i++)
        len += strlen(ids[i] ? ids[i] : "") + 1;
    key = malloc(len);
    strcpy(key, pre);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            strcat(key, "/");
        strcat(key, ids[i] ? ids[i] : "");
    }
    rc = api_key_parse(PREFIX, key, out);
    if (rc == 0 && out->kind != kind)
        abort(); /* a key built from the kind's prefix is of that kind */
    free(key);
    free(pre);
    return rc;
}

/* How many intent kind names keys of kind choose from (1: none). */
static unsigned nnames(api_key_kind kind)
{
    if (kind == API_KEY_INTENT_REQUEST)
        return sizeof(request_intents) / sizeof(request_intents[0]);
    if (kind == API_KEY_INTENT_DEPLOY)
        return sizeof(deploy_intents) / sizeof(deploy_intents[0]);
    return 1;
}

/* The fixed ids of kind's keys, with the intent kind name of this mode. */
static void default_ids(api_key_kind kind, unsigned mode, const char *ids[3])
{
    for (int i = 0; i < 3; i++)
        ids[i] = ids_of[kind].dflt[i] ? ids_of[kind].dflt[i] : ANY_ID;
    if (kind == API_KEY_INTENT_REQUEST)
        ids[1] = request_intents[mode % nnames(kind)];
    else if (kind == API_KEY_INTENT_DEPLOY)
        ids[2] = deploy_intents[mode % nnames(kind)];
}

/* The key document j would be stored under, per mode: its own ids when it
 * has valid ones, else the fixed ones. API_KEY_UNKNOWN has no key: a bare
 * struct of that kind. */
static void key_for(api_key_kind kind, unsigned mode, const json_t *j, api_key_parts *out)
{
    const char *ids[3];

    if (kind == API_KEY_UNKNOWN) {
        memset(out, 0, sizeof(*out));
        return;
    }
    default_ids(kind, mode, ids);
    if ((mode / nnames(kind)) & 1) {
        for (int i = 0; i < 2; i++) {
            const char *s = str_at(j, ids_of[kind].path[i]);
            if (s)
                ids[i] = s;
        }
        if (make_key(kind, ids, out) == 0)
            return;
        default_ids(kind, mode, ids);
    }
    if (make_key(kind, ids, out) != 0)
        abort(); /* the fixed ids make a valid key of every kind */
}

/* The canonical JSON of a decoded document (caller owns); NULL for kinds
 * without a typed form, or a typed kind added to apis/doc.c since (add it
 * here: until then its documents are decoded but not round-tripped). */
static json_t *encode(api_key_kind kind, const void *doc)
{
    switch (kind) {
    case API_KEY_REQUEST:
        return api_request_to_json(doc);
    case API_KEY_DEPLOY:
        return api_deploy_to_json(doc);
    case API_KEY_RUN:
        return api_run_to_json(doc);
    case API_KEY_TASK:
        return api_task_to_json(doc);
    case API_KEY_PENDING:
        return api_pending_task_to_json(doc);
    case API_KEY_CLEANUP:
        return api_cleanup_to_json(doc);
    case API_KEY_REQUEST_STATUS:
        return api_request_status_to_json(doc);
    case API_KEY_DEPLOY_STATUS:
        return api_deploy_status_to_json(doc);
    case API_KEY_JOB_STATUS:
        return api_job_status_to_json(doc);
    case API_KEY_RUN_STATUS:
        return api_run_status_to_json(doc);
    case API_KEY_PENDING_STATUS:
        return api_place_reason_to_json(doc);
    case API_KEY_FRAMEWORK_STATUS:
        return api_framework_status_to_json(doc);
    case API_KEY_INTENT_REQUEST:
    case API_KEY_INTENT_DEPLOY:
    case API_KEY_INTENT_AGENT:
    case API_KEY_INTENT_RACK:
    case API_KEY_INACTIVE_HOST:
        return api_intent_to_json(doc);
    case API_KEY_AGENT:
    case API_KEY_RACK:
        return api_machine_to_json(doc);
    case API_KEY_AUTH_TOKEN:
        return api_token_to_json(doc);
    case API_KEY_WEBHOOK:
        return api_webhook_to_json(doc);
    case API_KEY_WEBHOOK_STATUS:
        return api_webhook_status_to_json(doc);
    case API_KEY_WEBHOOK_EVENT:
        return api_webhook_event_to_json(doc);
    default:
        return NULL;
    }
}

/* j through text, as etcd keeps it (caller owns the copy). */
static json_t *through_text(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_error_t je;
    json_t *back;

    if (!s)
        abort(); /* our own documents always encode */
    back = json_loads(s, JSON_DECODE_ANY, &je);
    if (!back)
        abort(); /* and what jansson wrote, it reads */
    free(s);
    return back;
}

/* A document people write, decoded as api_doc keeps an invalid one
 * (lenient: unknown fields kept, not validated); NULL for other kinds. */
static void *decode_lenient(api_key_kind kind, const json_t *j)
{
    static const api_decode_opts lenient = {.allow_unknown = true, .no_validate = true};
    api_problems probs = API_PROBLEMS_INIT;
    void *doc = NULL;

    if (kind == API_KEY_REQUEST)
        doc = api_request_from_json(j, &lenient, &probs);
    else if (kind == API_KEY_DEPLOY)
        doc = api_deploy_from_json(j, &lenient, &probs);
    else if (kind == API_KEY_RUN)
        doc = api_run_from_json(j, &lenient, &probs);
    api_problems_release(&probs);
    return doc;
}

static void fuzz_doc(api_key_kind kind, unsigned mode, const json_t *j)
{
    api_key_parts key;
    char *error = NULL;
    void *doc;

    key_for(kind, mode, j, &key);
    doc = api_doc_decode(&key, j, &error);
    if (doc) {
        json_t *enc = encode(kind, doc);
        json_t *text, *enc2;
        char *error2 = NULL;
        void *doc2;

        if (!enc)
            goto out; /* a kind encode() does not know yet */
        text = through_text(enc);
        /* A clean document's encoding decodes cleanly; one kept despite
         * problems (only documents people write) decodes as it was kept.
         * (Decoding that one strictly again would only repeat the
         * problems, at the cost of every "did you mean" search.) */
        if (!error) {
            doc2 = api_doc_decode(&key, text, &error2);
            if (error2)
                abort();
        } else {
            doc2 = decode_lenient(kind, text);
        }
        if (!doc2)
            abort(); /* a document's own encoding decodes */
        enc2 = encode(kind, doc2);
        if (!json_equal(enc, enc2))
            abort(); /* encode(decode(encode(d))) == encode(d) */
        json_decref(enc2);
        free(error2);
        api_doc_free(kind, doc2);
        json_decref(text);
        json_decref(enc);
    } else if (api_doc_typed(kind) && !error) {
        abort(); /* a typed document that does not decode says why */
    }
out:
    free(error);
    api_doc_free(kind, doc);
    api_key_parts_release(&key);
}

/* The framework document: decoded strictly, apart from api_doc. */
static void fuzz_framework(const json_t *j)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_framework fw;

    memset(&fw, 0, sizeof(fw));
    if (api_framework_from_json(j, &fw, NULL, &probs) == 0) {
        api_problems p2 = API_PROBLEMS_INIT;
        api_framework fw2;
        json_t *enc = api_framework_to_json(&fw), *text = through_text(enc), *enc2;

        if (!fw.frameworkId || !api_key_id_valid(fw.frameworkId))
            abort(); /* documented: required, a key component */
        memset(&fw2, 0, sizeof(fw2));
        if (api_framework_from_json(text, &fw2, NULL, &p2) != 0)
            abort();
        enc2 = api_framework_to_json(&fw2);
        if (!json_equal(enc, enc2))
            abort();
        json_decref(enc2);
        json_decref(text);
        json_decref(enc);
        api_framework_release(&fw2);
        api_problems_release(&p2);
    } else {
        free(api_problems_format(&probs));
    }
    api_framework_release(&fw);
    api_problems_release(&probs);
}

static void fuzz_token(const json_t *j, bool lenient)
{
    api_decode_opts opts = {.allow_unknown = lenient, .no_validate = lenient};
    api_problems probs = API_PROBLEMS_INIT;
    api_token *t = api_token_from_json(j, &opts, &probs);
    api_user *u;

    if (t) {
        json_t *enc = api_token_to_json(t), *text = through_text(enc);
        api_problems p2 = API_PROBLEMS_INIT;
        api_token *t2 = api_token_from_json(text, &opts, &p2);

        if (!t2)
            abort();
        (void)api_token_expired(t, 1000);
        if (t->has_user) {
            json_t *uj = api_user_to_json(&t->user);
            api_user copy;
            memset(&copy, 0, sizeof(copy));
            api_user_copy(&copy, &t->user);
            api_user_release(&copy);
            json_decref(uj);
        }
        api_token_free(t2);
        api_problems_release(&p2);
        json_decref(text);
        json_decref(enc);
    }
    api_token_free(t);
    api_problems_release(&probs);

    /* POST /api/auth/token's body is a user. */
    api_problems_init(&probs);
    u = api_user_from_json(json_object_get(j, "user") ? json_object_get(j, "user") : j, &opts,
                           &probs);
    if (u) {
        json_t *uj = api_user_to_json(u);
        json_decref(uj);
    }
    api_user_free(u);
    api_problems_release(&probs);
}

/* A key that parses is built again from its parts and parses the same. */
static void fuzz_key(const char *s)
{
    api_key_parts p;

    if (api_key_parse(PREFIX, s, &p) == 0) {
        const char *ids[3] = {p.id1, p.id2, p.id3};
        api_key_parts q;

        if (p.kind == API_KEY_UNKNOWN || p.kind >= API_KEY__COUNT)
            abort();
        (void)api_key_kind_name(p.kind);
        if (make_key(p.kind, ids, &q) != 0)
            abort();
        if (q.kind != p.kind || (p.id1 && strcmp(p.id1, q.id1) != 0) ||
            (p.id2 && strcmp(p.id2, q.id2) != 0) || (p.id3 && strcmp(p.id3, q.id3) != 0))
            abort();
        for (int i = 0; i < 3; i++)
            if (ids[i] && !api_key_id_valid(ids[i]))
                abort(); /* every part is a key component */
        api_key_parts_release(&q);
    }
    api_key_parts_release(&p);
}

static void fuzz_ids(const char *s)
{
    api_task_id t;
    api_pending_task_id pt;
    cr_err err;

    cr_err_clear(&err);
    if (api_task_id_parse(s, &t, &err) == 0) {
        api_task_id again, copy;
        if (strcmp(t.id, s) != 0 || !api_task_id_valid(s) || !api_key_id_valid(s))
            abort();
        if (api_task_id_init(&again, t.requestId, t.deployId, t.startedAt, t.instanceNo, t.host,
                             t.rackId, NULL) != 0 ||
            strcmp(again.id, s) != 0)
            abort();
        api_task_id_copy(&copy, &t);
        api_task_id_release(&copy);
        api_task_id_release(&again);
        api_task_id_release(&t);
    } else {
        (void)cr_err_msg(&err);
    }
    cr_err_clear(&err);
    if (api_pending_task_id_parse(s, &pt, &err) == 0) {
        api_pending_task_id again;
        if (strcmp(pt.id, s) != 0 || !api_pending_task_id_valid(s))
            abort();
        if (api_pending_task_id_init(&again, pt.requestId, pt.deployId, pt.nextRunAt, pt.instanceNo,
                                     pt.pendingType, pt.createdAt, NULL) != 0 ||
            strcmp(again.id, s) != 0)
            abort();
        api_pending_task_id_release(&again);
        api_pending_task_id_release(&pt);
    } else {
        (void)cr_err_msg(&err);
    }
}

/* The readers of unchecked bytes (apis/jtext.h, api_task_from_own_text):
 * what they take is proven, so jansson agrees. */
static void fuzz_unchecked(const char *p, size_t n)
{
    static const api_decode_opts open = {.allow_unknown = true};
    api_task *own = api_task_from_own_text(p, n);
    json_t *j;

    if (own) {
        api_problems probs = API_PROBLEMS_INIT;
        api_task *t;
        json_t *a, *b;
        char *text;
        size_t len = 0;

        if (!(j = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL)))
            abort(); /* taken, so JSON */
        t = api_task_from_text(j, p, n, &open, &probs);
        if (!t || probs.n)
            abort(); /* ...and a record with no problem */
        text = api_task_text(own, &len);
        a = api_task_to_json(own);
        b = api_task_to_json(t);
        if (len != n || memcmp(text, p, n) != 0 || !json_equal(a, b))
            abort(); /* ...the same one, whose text it is */
        json_decref(a);
        json_decref(b);
        free(text);
        api_task_free(t);
        api_problems_release(&probs);
        json_decref(j);
        api_task_free(own);
    }
    json_decref(api_jtext_json_any((api_jspan){p, n}, 32, (api_jspan){0}));
    if (api_jtext_is_ascii_dump((api_jspan){p, n}, JSON_COMPACT | JSON_ENCODE_ANY, 32)) {
        char *d;
        if (!(j = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)))
            abort();
        d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (strlen(d) != n || memcmp(d, p, n) != 0)
            abort(); /* jansson writes those bytes */
        free(d);
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    api_key_kind kind;
    unsigned mode;
    json_error_t je;
    json_t *j;
    char *s, *under;

    if (size == 0)
        return 0;
    kind = (api_key_kind)(data[0] % API_KEY__COUNT);
    mode = data[0] / API_KEY__COUNT;
    j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, &je);
    if (j) {
        fuzz_doc(kind, mode, j);
        if (kind == API_KEY_FRAMEWORK || kind == API_KEY_UNKNOWN)
            fuzz_framework(j);
        if (kind == API_KEY_AUTH_TOKEN)
            fuzz_token(j, mode & 1);
        json_decref(j);
    }

    fuzz_unchecked((const char *)data + 1, size - 1);

    /* The raw bytes as a key, a task id and a pending task id (C strings:
     * they end at the first NUL). */
    s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    fuzz_key(s);
    under = malloc(size + sizeof(PREFIX "/"));
    memcpy(under, PREFIX "/", sizeof(PREFIX "/") - 1);
    memcpy(under + sizeof(PREFIX "/") - 1, s, size);
    fuzz_key(under);
    fuzz_ids(s);
    free(under);
    free(s);
    return 0;
}
