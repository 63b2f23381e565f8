/* Webhooks: Singularity's /api/webhooks objects and Corral's delivery queue
 * (docs/webhooks.md).
 *
 *   <p>/webhooks/<webhookId>                 a webhook (API, admins): Singularity's
 *                                            SingularityWebhook plus Corral's `secret`
 *   <p>/status/webhooks/<webhookId>          its generation cursor and delivery
 *                                            counters (leader)
 *   <p>/queues/webhooks/<webhookId>/<seq>    one event waiting for delivery (leader
 *                                            creates, deletes once delivered)
 *
 * Ownership follows apis/common.h: *_from_json return heap documents the
 * caller frees with the matching *_free (NULL is a no-op); *_to_json return
 * new references. Codecs are table-driven (apis/codec.h) and keep unknown
 * fields. */
#ifndef API_WEBHOOK_H
#define API_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"

/* Singularity's WebhookType, the three Corral generates events for. */
typedef enum {
    API_WEBHOOK_UNSET = 0,
    API_WEBHOOK_REQUEST, /* SingularityRequestHistory */
    API_WEBHOOK_DEPLOY,  /* SingularityDeployUpdate */
    API_WEBHOOK_TASK,    /* SingularityTaskWebhook {task, taskUpdate} */
} api_webhook_type;

#define API_WEBHOOK_TYPES 3

/* "REQUEST", ... ("" for UNSET). Static. */
const char *api_webhook_type_name(api_webhook_type t);
/* UNSET for NULL or an unknown name. */
api_webhook_type api_webhook_type_parse(const char *s);

/* The longest secret accepted (bytes). */
#define API_WEBHOOK_MAX_SECRET 256

typedef struct api_webhook {
    char *id;              /* "id" */
    char *uri;             /* "uri": http:// or https:// URL; $REQUEST_ID, $DEPLOY_ID,
                              $TASK_ID are replaced per event */
    api_webhook_type type; /* "type" */
    char *user;            /* "user" */
    bool has_timestamp;
    int64_t timestamp; /* "timestamp", epoch ms */
    /* Corral "secret": when set, every delivery carries
     * X-Corral-Signature: sha256=<hex HMAC-SHA256 of the body>. Never shown
     * by the API. */
    char *secret;
    json_t *extra;
} api_webhook;

/* Decodes a webhook document; validates unless opts->no_validate: id
 * (api_key_id_valid), uri (http/https), type, secret length. NULL with
 * problems added when it does not decode. */
api_webhook *api_webhook_from_json(const json_t *j, const api_decode_opts *opts,
                                   api_problems *probs);
/* Every field, secret included (the etcd document). */
json_t *api_webhook_to_json(const api_webhook *w);
/* Singularity's SingularityWebhook: id, uri, type, user, timestamp; no
 * secret (what the API shows). */
json_t *api_webhook_public_json(const api_webhook *w);
void api_webhook_free(api_webhook *w);

/* The id Singularity derives when none is given: "<TYPE>-<uri with every
 * byte but [A-Za-z0-9._~-] percent-encoded>", cut to the key limit.
 * Caller frees. */
char *api_webhook_default_id(api_webhook_type type, const char *uri);

/* P/status/webhooks/<id>: where generation stands and what delivery saw. */
typedef struct api_webhook_status {
    char *webhookId; /* "webhookId" */
    /* Every event of an object change at (cursorRevision, cursorKey) or
     * before, in (revision, object key) order, is queued or counted as
     * dropped. */
    int64_t cursorRevision; /* "cursorRevision" */
    char *cursorKey;        /* "cursorKey": "" = none of cursorRevision yet */
    int64_t queued;         /* "queued": events queued since the webhook was created */
    int64_t dropped;        /* "dropped": events dropped because the queue was full */
    int64_t lastDroppedAt;  /* "lastDroppedAt", epoch ms; 0 = never */
    int failures;           /* "failures": failed attempts at the head event in a row */
    char *lastError;        /* "lastError": the last failed attempt's reason */
    int64_t lastFailureAt;  /* "lastFailureAt", epoch ms; 0 = never */
    int64_t nextAttemptAt;  /* "nextAttemptAt": no attempt before (backoff); 0 = now */
    int64_t updatedAt;      /* "updatedAt" */
    /* "invalid": why the webhook's document does not decode (written
     * straight into etcd); nothing is queued or sent until it is fixed. */
    char *invalid;
    json_t *extra;
} api_webhook_status;

api_webhook_status *api_webhook_status_from_json(const json_t *j, const api_decode_opts *opts,
                                                 api_problems *probs);
json_t *api_webhook_status_to_json(const api_webhook_status *s);
/* Deep copy into dst (zeroed by the caller). */
void api_webhook_status_copy(api_webhook_status *dst, const api_webhook_status *src);
/* Equal ignoring updatedAt. */
bool api_webhook_status_equal(const api_webhook_status *a, const api_webhook_status *b);
void api_webhook_status_release(api_webhook_status *s);
void api_webhook_status_free(api_webhook_status *s);

/* P/queues/webhooks/<id>/<seq>: one event as it will be POSTed. */
typedef struct api_webhook_event {
    char *webhookId;       /* "webhookId" */
    api_webhook_type type; /* "type" */
    char *objectKey;       /* "objectKey": the etcd key whose change made it */
    int64_t revision;      /* "revision": that change's etcd revision */
    char *requestId;       /* "requestId" ($REQUEST_ID) */
    char *deployId;        /* "deployId" ($DEPLOY_ID) */
    char *taskId;          /* "taskId" ($TASK_ID) */
    int64_t createdAt;     /* "createdAt", epoch ms */
    json_t *payload;       /* "payload": the body sent (a JSON object) */
    json_t *extra;
} api_webhook_event;

api_webhook_event *api_webhook_event_from_json(const json_t *j, const api_decode_opts *opts,
                                               api_problems *probs);
json_t *api_webhook_event_to_json(const api_webhook_event *e);
void api_webhook_event_free(api_webhook_event *e);

#endif
