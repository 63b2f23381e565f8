/* store_schema: a new leader's check of the etcd layout version, and the
 * migration runner (the pure half, the document and the decision, is
 * apis/schema.h; docs/etcd-layout.md, "Layout version").
 *
 * store_schema_ensure reads <p>/schema and, by api_schema_plan:
 *   - absent or same layout: records this release among the writers (if it
 *     is not the last one already) and answers ok: lead;
 *   - older layout, or a migration under way: runs every migration up to
 *     this build's layout, then answers ok;
 *   - newer layout (or no migration path): answers CR_EUNSUPPORTED with a
 *     message naming both versions: do not lead.
 *
 * A migration (api_migration) lists the prefix at one revision and takes
 * the keys in key order, skipping those up to the schema's `after` (a
 * resumed migration). Changed documents are written `batch` at a time, each
 * batch one txn that is
 *   - fenced on the leader key (a deposed leader writes nothing),
 *   - compared on every changed key's mod_revision and on the schema key's
 *     (a concurrent writer makes it fail: the runner lists again and goes on
 *     from the schema's `after`, up to `retries` times),
 *   - and moves the schema's `after` to the batch's last key in the same
 *     txn, so progress and documents change together.
 * The last txn sets the new version and clears `migration`. Steps are
 * idempotent, so a migration stopped anywhere (the leader died, a txn
 * failed) is finished by the next leader with the same result.
 *
 * Lifecycle: store_schema_ensure -> the callback fires exactly once (the run
 * then frees itself) or store_schema_cancel (no callback afterwards). If
 * ensure returns NULL (err set), the callback never fires. */
#ifndef STORE_SCHEMA_H
#define STORE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "apis/schema.h"
#include "base/err.h"
#include "base/log.h"
#include "store/store.h"

typedef struct store_schema_run store_schema_run;

typedef struct store_schema_config {
    const char *prefix;     /* "/corral"; required */
    const char *leader_key; /* fence: api_key_leader(prefix); required */
    int64_t fence;          /* the leader key's create_revision won; required */
    const char *release;    /* CORRAL_VERSION; required */
    int layout;             /* 0: API_SCHEMA_VERSION (tests: another) */
    /* NULL: api_schema_migrations() (tests: their own). */
    const api_migration *migrations;
    size_t nmigrations;
    size_t batch; /* changed keys per txn; 0: 64 (at most 100) */
    int retries;  /* conflicts tolerated per migration; 0: 20 */
    cr_log *log;  /* may be NULL */
} store_schema_config;

/* err NULL: lead (the layout is this build's). Else why not (borrowed):
 * CR_EUNSUPPORTED for a layout this build cannot lead over, CR_ENOTLEADER
 * when the fence failed, another code when etcd failed (retry later). */
typedef void (*store_schema_cb)(void *arg, const cr_err *err);

/* Starts the check; cfg's strings are copied. Returns a handle to cancel
 * with (borrowed from the run; invalid once cb has fired), or NULL with
 * err set. */
store_schema_run *store_schema_ensure(store *s, const store_schema_config *cfg, store_schema_cb cb,
                                      void *arg, cr_err *err);
/* Stops the run (an in-flight txn may still land: it is fenced and
 * resumable) and frees it; cb never fires. NULL is a no-op. */
void store_schema_cancel(store_schema_run *r);

/* What the last run read and did, for logs and tests. */
typedef struct store_schema_stats {
    int found_version;    /* 0: no key */
    int version;          /* the layout after the run */
    size_t migrated_keys; /* keys put or deleted by migrations */
    size_t txns;          /* migration txns committed */
    size_t conflicts;     /* batches that failed a compare and were redone */
} store_schema_stats;

/* Valid inside cb only. */
const store_schema_stats *store_schema_stats_of(const store_schema_run *r);

#endif
