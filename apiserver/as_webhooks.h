/* as_webhooks: Singularity's /api/webhooks resource (docs/webhooks.md), a
 * part of as_api_handle (pure, like it: reads the cache, answers, and
 * leaves the writes in out->txn). Admins only (the route table says so;
 * as_api_handle has authorized the caller before it calls this).
 *
 *   GET    /api/webhooks                      [SingularityWebhook] (no secrets)
 *   POST   /api/webhooks                      "CREATED" | "EXISTED"
 *   DELETE /api/webhooks?webhookId=           "DELETED" | "DIDNT_EXIST"
 *   DELETE /api/webhooks/{webhookId}          the same (deprecated in Singularity)
 *   GET    /api/webhooks/summary              [{webhook, queueSize, + Corral's counters}]
 *   GET    /api/webhooks/request|deploy|task?webhookId=   the queued updates
 *          (and the deprecated /{webhookId} forms) */
#ifndef AS_WEBHOOKS_H
#define AS_WEBHOOKS_H

#include <stdbool.h>

#include "apiserver/as_api.h"

/* Whether op is one of the operations above. */
bool as_webhooks_op(as_op op);

/* Runs one of them; fills out (memset by the caller, released by it). */
void as_webhooks_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                        as_result *out);

#endif
