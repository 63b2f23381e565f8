/* Helpers shared by the store tests: run the loop until a condition holds
 * (with a deadline, never a sleep) and capture one call's answer. */
#ifndef TEST_STORE_TESTUTIL_H
#define TEST_STORE_TESTUTIL_H

#include <stdint.h>
#include <string.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/xalloc.h"
#include "store/store.h"

/* One call's answer, deep-copied out of the callback. */
typedef struct waiter {
    int done;
    int nerr; /* answers that were errors */
    bool ok;
    cr_err err;
    int64_t revision;
    bool succeeded;
    store_kv *kvs;
    size_t nkvs;
    int64_t deleted, lease_id, ttl;
    size_t nops;
    int64_t op0_revision;
    size_t op0_nkvs;
    bool batch_first, batch_retried; /* store_write */
} waiter;

static inline void waiter_reset(waiter *w)
{
    for (size_t i = 0; i < w->nkvs; i++)
        store_kv_release(&w->kvs[i]);
    free(w->kvs);
    memset(w, 0, sizeof(*w));
}

static inline void waiter_cb(void *arg, const store_result *res, const cr_err *err)
{
    waiter *w = arg;

    w->done++;
    w->ok = err == NULL;
    for (size_t i = 0; i < w->nkvs; i++) /* a waiter may see many answers */
        store_kv_release(&w->kvs[i]);
    free(w->kvs);
    w->kvs = NULL;
    w->nkvs = 0;
    if (err) {
        w->nerr++;
        w->err = *err;
        return;
    }
    w->revision = res->revision;
    w->succeeded = res->succeeded;
    w->deleted = res->deleted;
    w->lease_id = res->lease_id;
    w->ttl = res->ttl;
    w->nops = res->nops;
    w->batch_first = res->batch_first;
    w->batch_retried = res->batch_retried;
    if (res->nops) {
        w->op0_revision = res->ops[0].revision;
        w->op0_nkvs = res->ops[0].nkvs;
    }
    w->kvs = xcalloc(res->nkvs + 1, sizeof(*w->kvs));
    for (size_t i = 0; i < res->nkvs; i++)
        store_kv_copy(&w->kvs[i], &res->kvs[i]);
    w->nkvs = res->nkvs;
}

static inline void tu_noop(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs base until *flag becomes true-ish or timeout_ms passes; returns
 * whether it did. */
static inline bool run_until_flag(struct event_base *base, const int *flag, int want,
                                  int64_t timeout_ms)
{
    int64_t deadline = cr_mono_ms() + timeout_ms;

    while (*flag < want && cr_mono_ms() < deadline) {
        struct timeval tv = {0, 20000};
        /* a wake-up so the deadline is checked even when nothing happens */
        struct event *t = evtimer_new(base, tu_noop, NULL);

        evtimer_add(t, &tv);
        event_base_loop(base, EVLOOP_ONCE);
        event_free(t);
    }
    return *flag >= want;
}

#endif
