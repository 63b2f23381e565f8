/* api_schema: the version of Corral's etcd layout and the pure half of its
 * migrations (docs/etcd-layout.md, "Layout version"; the I/O half is
 * store/schema.h).
 *
 * The key <p>/schema (api_key_schema) holds, written only by a leader in
 * fenced txns:
 *
 *     {"version": 1, "writers": ["0.1.0", "0.2.0"], "updatedAt": <ms>,
 *      "migration": {"to": 2, "after": "<p>/requests/web"}}
 *
 * `version` is the layout every document is in; `writers` the Corral
 * releases that have led over it, oldest first, at most
 * API_SCHEMA_MAX_WRITERS; `migration`, only while one is under way, says
 * that every key up to and including `after` (in key order; absent: none
 * yet) is in layout `to` already, so a new leader resumes there. Fields
 * this build does not know are kept as they are. No key at all is layout 1:
 * Corral wrote no schema key before layouts were versioned.
 *
 * A migration takes the layout from `from` to `from + 1` one document at
 * a time: its step is pure and idempotent (a document already in the new
 * layout gives API_MIGRATE_KEEP), so running a migration twice, or
 * resuming one that stopped half-way, changes nothing more.
 *
 * Ownership: api_schema owns its members (api_schema_release frees them,
 * not the struct); strings returned to the caller are the caller's. */
#ifndef API_SCHEMA_H
#define API_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/common.h"
#include "base/err.h"

/* The layout this build reads and writes. Raise it only together with a
 * migration from the previous one in apis/schema.c and a line in
 * docs/etcd-layout.md's layout history. */
#define API_SCHEMA_VERSION     1
#define API_SCHEMA_MAX_WRITERS 8

typedef struct api_schema {
    int version;          /* >= 1 */
    api_strlist writers;  /* oldest first */
    int64_t updated_at;   /* epoch ms */
    int migrating_to;     /* 0: no migration under way */
    char *migrated_after; /* with migrating_to: last key already migrated; NULL: none */
    json_t *extra;        /* fields this build does not know (owned; may be NULL) */
} api_schema;

/* Fills out from a value of <p>/schema. Returns 0, or -1 with err set
 * (CR_EPARSE: not JSON, version missing or < 1, a field of the wrong type). */
int api_schema_decode(const char *value, size_t len, api_schema *out, cr_err *err);
/* The JSON text of s (caller frees). */
char *api_schema_encode(const api_schema *s);
void api_schema_release(api_schema *s);

/* Adds release to s->writers, last (moved there if present), dropping the
 * oldest beyond API_SCHEMA_MAX_WRITERS. Returns whether writers changed. */
bool api_schema_add_writer(api_schema *s, const char *release);

/* ---- migrations ------------------------------------------------------------- */

typedef enum {
    API_MIGRATE_KEEP,   /* the document stays as it is */
    API_MIGRATE_PUT,    /* replace its value with *out */
    API_MIGRATE_DELETE, /* remove the key */
} api_migrate_op;

/* One layout change, from `from` to `from + 1`. step sees every key under
 * the prefix but <p>/schema and <p>/leader, with its value; it returns
 * what to do, and for API_MIGRATE_PUT the new value in *out (caller
 * frees). Pure and idempotent. */
typedef struct api_migration {
    int from;
    const char *summary; /* for logs and docs: "1 -> 2: ..." */
    api_migrate_op (*step)(const char *prefix, const char *key, const char *value, size_t len,
                           char **out);
} api_migration;

/* The migrations this build knows, ordered by `from` (static; *n set).
 * Layout 1 is the first: none yet. */
const api_migration *api_schema_migrations(size_t *n);

/* ---- the leader's decision ------------------------------------------------------ */

typedef enum {
    API_SCHEMA_WRITE,   /* absent or same layout: write it (version, writers) if that
                           changes it, then lead */
    API_SCHEMA_LEAD,    /* same layout, nothing to write: lead */
    API_SCHEMA_MIGRATE, /* older layout, or a migration under way: migrate, then lead */
    API_SCHEMA_REFUSE,  /* newer layout than `mine`, or no migration path: do not lead */
} api_schema_action;

/* What a leader of layout `mine` and release `release` does over
 * `observed` (NULL: no schema key), with the migrations it knows. The
 * reason for REFUSE is written to err (CR_EUNSUPPORTED), naming both
 * versions and the releases that wrote the newer layout. Pure. */
api_schema_action api_schema_plan(const api_schema *observed, int mine, const char *release,
                                  const api_migration *migrations, size_t nmigrations, cr_err *err);
const char *api_schema_action_name(api_schema_action a);

#endif
