/* Pure bookkeeping; see logic.h. */
#include "mesosbridge/logic.h"

#include <stdlib.h>
#include <string.h>

#include "apis/status.h"
#include "base/buf.h"
#include "base/xalloc.h"

void mb_backoff_init(mb_backoff *b, long base_ms, long cap_ms)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
    b->cur_ms = 0;
}

long mb_backoff_next(mb_backoff *b, double jitter)
{
    if (b->cur_ms == 0)
        b->cur_ms = b->base_ms;
    else if (b->cur_ms < b->cap_ms)
        b->cur_ms = b->cur_ms * 2 > b->cap_ms ? b->cap_ms : b->cur_ms * 2;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999;
    return b->cur_ms + (long)(jitter * (double)b->cur_ms / 2);
}

void mb_backoff_reset(mb_backoff *b)
{
    b->cur_ms = 0;
}

void mb_recon_init(mb_recon *r, long base_ms, long cap_ms)
{
    *r = (mb_recon){0};
    mb_backoff_init(&r->backoff, base_ms, cap_ms);
}

/* A new batch number, never 0 (none): answers to an older one no longer
 * count. */
static void next_batch(mb_recon *r)
{
    if (++r->batch == 0)
        r->batch = 1;
}

void mb_recon_start(mb_recon *r, int64_t now)
{
    r->active = true;
    r->started_ms = now;
    r->next_ms = now;
    r->rounds = 0;
    r->pass_ms = r->batch_ms = 0;
    r->waiting = 0;
    next_batch(r); /* answers to what was sent before do not count */
    mb_backoff_reset(&r->backoff);
}

bool mb_recon_remaining(const mb_recon *r, int64_t heard_ms)
{
    return r->active && heard_ms < r->started_ms;
}

bool mb_recon_due(const mb_recon *r, int64_t now)
{
    return r->active && now >= r->next_ms;
}

void mb_recon_sent(mb_recon *r, int64_t now, size_t n_remaining)
{
    if (n_remaining == 0) {
        r->active = false;
        return;
    }
    r->rounds++;
    r->next_ms = now + mb_backoff_next(&r->backoff, 0);
}

bool mb_recon_may_send(const mb_recon *r, int64_t now, size_t batch)
{
    if (!mb_recon_due(r, now))
        return false;
    return !r->pass_ms || r->waiting <= batch / 10 || now - r->batch_ms >= MB_RECON_BATCH_WAIT_MS;
}

bool mb_recon_unsent(const mb_recon *r, int64_t sent_ms)
{
    return !r->pass_ms || sent_ms < r->pass_ms;
}

unsigned mb_recon_batch_sent(mb_recon *r, int64_t now, size_t n, bool last, size_t n_remaining)
{
    if (!r->pass_ms)
        r->pass_ms = now;
    r->batch_ms = now;
    r->waiting = n;
    next_batch(r);
    if (last) {
        r->pass_ms = 0;
        mb_recon_sent(r, now, n_remaining);
    }
    return r->batch;
}

void mb_recon_answered(mb_recon *r, unsigned batch)
{
    if (batch && batch == r->batch && r->waiting)
        r->waiting--;
}

bool mb_offer_should_decline(const mb_offer_policy *p, int64_t received_ms, int64_t now,
                             size_t waiting_tasks, double *refuse_s)
{
    if (waiting_tasks == 0) {
        *refuse_s = p->refuse_idle_s;
        return true;
    }
    if (now - received_ms < p->hold_ms)
        return false;
    *refuse_s = p->refuse_busy_s;
    return true;
}

mb_offers_action mb_offers_decide(bool suppressed, size_t pending, bool new_pending,
                                  int64_t last_revive_ms, int64_t now, long min_interval_ms,
                                  bool caching)
{
    if (pending == 0 && !caching)
        return suppressed ? MB_OFFERS_KEEP : MB_OFFERS_SUPPRESS;
    if (pending == 0)
        new_pending = false;
    if (!suppressed && !new_pending)
        return MB_OFFERS_KEEP;
    if (last_revive_ms && now - last_revive_ms < min_interval_ms)
        return MB_OFFERS_KEEP;
    return MB_OFFERS_REVIVE;
}

bool mb_heartbeat_expired(int64_t last_event_ms, int64_t now, double interval_s, int misses)
{
    if (interval_s <= 0)
        interval_s = 15;
    if (misses <= 0)
        misses = 5;
    return (double)(now - last_event_ms) > interval_s * 1000.0 * misses;
}

char *mb_resolve_location(const char *cur, const char *loc)
{
    if (!loc || !*loc)
        return NULL;
    const char *sep = cur ? strstr(cur, "://") : NULL;
    char *scheme = sep ? xstrndup(cur, (size_t)(sep - cur)) : xstrdup("http");
    char *abs;
    if (loc[0] == '/' && loc[1] == '/')
        abs = xasprintf("%s:%s", scheme, loc);
    else if (strstr(loc, "://"))
        abs = xstrdup(loc);
    else
        abs = xasprintf("%s://%s", scheme, loc);
    free(scheme);
    char *host = strstr(abs, "://") + 3;
    char *slash = strchr(host, '/');
    if (slash)
        *slash = '\0';
    if (!*host) {
        free(abs);
        return NULL;
    }
    return abs;
}

mb_fw_doc mb_framework_read(const char *value, size_t len, char **id, char **error)
{
    json_error_t je;
    json_t *j;
    api_framework fw;
    api_problems probs = API_PROBLEMS_INIT;
    mb_fw_doc rc;

    *id = NULL;
    *error = NULL;
    if (!value)
        return MB_FW_ABSENT;
    j = json_loadb(value, len, JSON_DECODE_ANY, &je);
    if (!j) {
        *error = xasprintf("not JSON: %s", je.text);
        return MB_FW_UNREADABLE;
    }
    if (api_framework_from_json(j, &fw, NULL, &probs)) {
        cr_buf b = CR_BUF_INIT;
        for (size_t i = 0; i < probs.n; i++) {
            char *one = api_problem_format(&probs.v[i]);
            cr_buf_addf(&b, "%s%s", i ? "; " : "", one);
            free(one);
        }
        *error = cr_buf_detach(&b, NULL);
        rc = MB_FW_UNREADABLE;
    } else {
        *id = xstrdup(fw.frameworkId);
        rc = MB_FW_OK;
    }
    api_framework_release(&fw);
    api_problems_release(&probs);
    json_decref(j);
    return rc;
}

static bool set_str(char **dst, const char *src)
{
    if ((!*dst && !src) || (*dst && src && !strcmp(*dst, src)))
        return false;
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
    return true;
}

bool mb_fw_status_set(api_framework_status *s, const mb_fw_state *st, int64_t now)
{
    const char *state = st->stopped      ? API_FW_STATE_STOPPED
                        : st->blocked    ? API_FW_STATE_BLOCKED
                        : st->subscribed ? API_FW_STATE_SUBSCRIBED
                                         : API_FW_STATE_SUBSCRIBING;
    bool changed = false;

    changed |= set_str(&s->state, state);
    changed |= set_str(&s->frameworkId, st->framework_id);
    changed |= set_str(&s->master, st->master);
    changed |= set_str(&s->message, st->blocked || st->stopped ? st->error : NULL);
    if (s->observedRevision != st->observed_rev) {
        s->observedRevision = st->observed_rev;
        changed = true;
    }
    if (st->blocked)
        changed |= api_conditions_set(&s->conditions, API_COND_VALID, API_COND_FALSE,
                                      "UnreadableFrameworkDocument", st->error, now);
    else if (st->framework_id)
        changed |= api_conditions_set(&s->conditions, API_COND_VALID, API_COND_TRUE,
                                      "FrameworkIdLoaded", NULL, now);
    else
        changed |=
            api_conditions_set(&s->conditions, API_COND_VALID, API_COND_TRUE, "NoFrameworkId",
                               "the next SUBSCRIBE registers a framework", now);
    if (st->subscribed && !st->stopped)
        changed |= api_conditions_set(&s->conditions, API_COND_SUBSCRIBED, API_COND_TRUE,
                                      "Subscribed", NULL, now);
    else
        changed |= api_conditions_set(&s->conditions, API_COND_SUBSCRIBED, API_COND_FALSE,
                                      st->stopped   ? "Stopped"
                                      : st->blocked ? "UnreadableFrameworkDocument"
                                                    : "Connecting",
                                      NULL, now);
    if (changed)
        s->updatedAt = now;
    return changed;
}
