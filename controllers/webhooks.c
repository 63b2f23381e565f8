/* Webhooks: the pure plan of one webhook's pass, and the helpers of its
 * delivery (see webhooks.h). */
#include "controllers/webhooks.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"
#include "base/xalloc.h"

void ctl_wh_config_defaults(ctl_wh_config *c)
{
    if (!c->max_queue)
        c->max_queue = 1000;
    if (!c->batch)
        c->batch = 100;
    if (!c->backoff_ms)
        c->backoff_ms = 1000;
    if (!c->max_backoff_ms)
        c->max_backoff_ms = 60000;
    if (!c->timeout_ms)
        c->timeout_ms = 10000;
    if (!c->max_memory)
        c->max_memory = 100000;
}

int64_t ctl_wh_backoff(const ctl_wh_config *c, int failures)
{
    int64_t d = c->backoff_ms;

    if (failures <= 0)
        return 0;
    for (int i = 1; i < failures && d < c->max_backoff_ms; i++)
        d *= 2;
    return d < c->max_backoff_ms ? d : c->max_backoff_ms;
}

int ctl_wh_event_cmp(int64_t rev_a, const char *key_a, int64_t rev_b, const char *key_b)
{
    if (rev_a != rev_b)
        return rev_a < rev_b ? -1 : 1;
    return strcmp(key_a ? key_a : "", key_b ? key_b : "");
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

void ctl_wh_plan_run(const ctl_wh_in *in, ctl_wh_plan *out)
{
    const ctl_wh_config *c = in->config;
    api_webhook_status *st = &out->status;
    const char *head = in->head_key;
    size_t len = in->queue_len;

    memset(out, 0, sizeof(*out));
    if (in->status) {
        api_webhook_status_copy(st, in->status);
    } else {
        st->webhookId = xstrdup(in->webhook_id);
        st->cursorRevision = in->created_revision;
        st->cursorKey = xstrdup("");
    }
    if (!st->cursorKey)
        st->cursorKey = xstrdup("");
    set_str(&st->invalid, NULL); /* the webhook decodes (again) */

    /* 1. The head: delivered, failed, or not deliverable at all. */
    if (head && in->head_invalid) {
        out->delete_head = true;
        st->dropped++;
        st->lastDroppedAt = in->now;
    } else if (head && in->delivered_key && strcmp(in->delivered_key, head) == 0) {
        out->delete_head = true;
        st->failures = 0;
        st->nextAttemptAt = 0;
    } else if (head && in->failed_key && strcmp(in->failed_key, head) == 0) {
        st->failures++;
        set_str(&st->lastError, in->failed_error ? in->failed_error : "failed");
        st->lastFailureAt = in->failed_at;
        st->nextAttemptAt = in->failed_at + ctl_wh_backoff(c, st->failures);
    }
    if (out->delete_head) {
        /* The next one is sent once the delete has landed (the cache shows
         * it): a head sent again (its delete lost to a failover or an etcd
         * error) is then never preceded by what follows it, so repeats are
         * adjacent and each object's events stay in order even with them. */
        head = NULL;
        len--;
    }

    /* 2. New events, in order, up to the batch; a full queue drops them. */
    out->queue = xcalloc(in->n_events + 1, sizeof(*out->queue));
    for (size_t i = 0; i < in->n_events && i < c->batch; i++) {
        const ctl_wh_event *e = &in->events[i];
        if (len + out->n_queue >= c->max_queue) {
            st->dropped++;
            st->lastDroppedAt = in->now;
        } else {
            out->queue[out->n_queue++] = i;
            st->queued++;
        }
        st->cursorRevision = e->revision;
        set_str(&st->cursorKey, e->object_key);
        out->n_considered = i + 1;
    }
    if (out->n_considered < in->n_events)
        out->requeue_ms = 1; /* the rest after this batch has landed */

    /* 3. Send the head unless one is in flight or its backoff runs. An
     * event queued in this pass is sent once the cache shows it. */
    if (!in->inflight && head) {
        if (in->now >= st->nextAttemptAt) {
            out->send_key = head;
        } else {
            int64_t wait = st->nextAttemptAt - in->now;
            if (!out->requeue_ms || wait < out->requeue_ms)
                out->requeue_ms = wait;
        }
    }
    out->status_changed = !in->status || !api_webhook_status_equal(st, in->status);
    if (out->status_changed)
        st->updatedAt = in->now;
}

void ctl_wh_plan_release(ctl_wh_plan *p)
{
    if (!p)
        return;
    free(p->queue);
    api_webhook_status_release(&p->status);
    memset(p, 0, sizeof(*p));
}

char *ctl_wh_expand_uri(const char *uri, const char *request_id, const char *deploy_id,
                        const char *task_id)
{
    static const struct {
        const char *name;
        size_t len;
    } vars[] = {{"$REQUEST_ID", 11}, {"$DEPLOY_ID", 10}, {"$TASK_ID", 8}};
    const char *vals[] = {request_id, deploy_id, task_id};
    cr_buf b = CR_BUF_INIT;

    for (const char *p = uri; *p;) {
        size_t k = 0;
        for (; k < 3; k++)
            if (strncmp(p, vars[k].name, vars[k].len) == 0)
                break;
        if (k < 3) {
            cr_buf_adds(&b, vals[k] ? vals[k] : "");
            p += vars[k].len;
        } else {
            cr_buf_addch(&b, *p++);
        }
    }
    if (!b.len)
        return xstrdup("");
    return cr_buf_detach(&b, NULL);
}

char *ctl_wh_signature(const char *secret, const char *body, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *out;

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
    out = xmalloc(7 + 2 * n + 1);
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < n; i++) {
        static const char hex[] = "0123456789abcdef";
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[7 + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[7 + 2 * n] = '\0';
    return out;
}
