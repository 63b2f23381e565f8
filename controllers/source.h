/* GitOps Sources: the pure half of the sources loop (docs/gitops.md).
 *
 *   Source + last status + fetch result (commit, rendered manifest or its
 *   problems) + the cluster's requests and deploys + now
 *     -> writes (requests before deploys, then prunes), new status,
 *        whether to fetch, when to look again.
 *
 * The I/O half (controllers/source_loop.c) fetches with the git binary,
 * renders the commit's manifests (ctl_source_render), collects the cluster
 * from the cache and commits the writes and the status in one fenced txn.
 *
 * Rules:
 *  - Every request and deploy a Source writes carries the annotations
 *    corral.io/source (its name) and corral.io/commit (the commit that last
 *    wrote it). The status lists what it created (its inventory); only
 *    those, still annotated with its name, are ever pruned or changed. A
 *    request the commit names but someone else created is a conflict: left
 *    alone and reported (Failed).
 *  - A commit that does not render or validate changes nothing: Failed with
 *    the problems (file:line:col: path: message), the last synced commit
 *    keeps running.
 *  - A new commit is applied in full (a change made by hand is overwritten).
 *    At the synced commit, an owned request that differs from it (scaled
 *    through the API, deleted) or a deploy of an owned request that the
 *    commit does not have is drift: listed, Drifted=True, and with selfHeal
 *    the request is written back (re-created when deleted), and a deploy
 *    made by hand that still rolls out is cancelled (its cancel intent: the
 *    active deploy keeps serving). One that already succeeded stays
 *    reported: deploy ids are never taken twice, so there is no deploy to
 *    write back; the next commit's deploy replaces it.
 *  - Deploys are immutable: one that exists, or ever existed (in history),
 *    is never written again.
 *  - At most CTL_SOURCE_MAX_WRITES object writes per pass (etcd's 128
 *    operations per txn, with the status); the rest follow at once in the
 *    next pass, and the commit is recorded as synced only after its last. */
#ifndef CTL_SOURCE_H
#define CTL_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/manifest.h"
#include "apis/source.h"
#include "controllers/runner.h"

#define CTL_SOURCE_MAX_WRITES 100

/* Renders the manifests of a commit from `git archive --format=tar` output:
 * every regular file under dir ("" or NULL: the whole tree) ending in
 * .yaml, .yml or .json, in path order, through api_manifest_load_buffer
 * (file names are the paths in the repository, so problems read
 * "apps/web.yaml:7:3: spec.instances: ..."), then api_manifest_check. A
 * Source inside a Source is refused. Returns the manifest (caller frees)
 * and 0; or NULL and -1 with *problems (caller frees) when anything is
 * wrong, the tar included. */
api_manifest *ctl_source_render(const char *tar, size_t len, const char *dir, char **problems);

/* What the loop's cluster reader answers (all borrowed for the pass). */
typedef enum {
    CTL_SRC_DEPLOY_ROLLING, /* rolls out: no terminal deploy status, not cancelled */
    CTL_SRC_DEPLOY_ACTIVE,  /* the request's active deploy, or SUCCEEDED */
    CTL_SRC_DEPLOY_ENDED,   /* cancelled (or being), failed: the active one kept serving */
} ctl_src_deploy_phase;

typedef struct ctl_source_cluster {
    /* The request document under requests/<rid>: its JSON value (NULL:
     * absent) and mod_revision. */
    const json_t *(*request)(void *arg, const char *rid, int64_t *mod_revision);
    /* Whether deploys/<rid>/<did> or history/deploys/<rid>/<did> exists. */
    bool (*deploy_known)(void *arg, const char *rid, const char *did);
    /* The id of the newest deploy under deploys/<rid>/ (by create
     * revision), or NULL. */
    const char *(*newest_deploy)(void *arg, const char *rid);
    /* Where that deploy is (ctl_src_deploy_phase). */
    int (*deploy_phase)(void *arg, const char *rid, const char *did);
    void *arg;
} ctl_source_cluster;

typedef struct ctl_source_in {
    const char *name;
    const api_source *source; /* NULL: the document is invalid (source_error) */
    const char *source_error;
    int64_t source_revision;         /* mod_revision of sources/<name> */
    const api_source_status *status; /* last written, or NULL */
    int64_t sync_request;            /* the sync intent's timestamp; 0: none */
    /* The last fetch of this replica (none: fetched_at == 0). */
    int64_t fetched_at;
    int64_t fetched_revision;     /* source_revision it fetched for */
    int64_t fetched_sync_request; /* sync_request when that fetch started */
    bool fetching;                /* one runs now */
    const char *commit;           /* the commit fetched, or NULL if the fetch failed */
    const api_manifest *manifest; /* its objects; NULL if it failed (error) */
    const char *error;            /* why the fetch or render failed */
    const ctl_source_cluster *cluster;
    int64_t now;
} ctl_source_in;

typedef enum {
    CTL_SRC_CREATE,
    CTL_SRC_PUT,
    CTL_SRC_DELETE,
    CTL_SRC_CANCEL, /* a deploy made by hand: its cancel intent (value: the intent) */
} ctl_src_write_type;

typedef struct ctl_src_write {
    ctl_src_write_type type;
    const char *rid; /* borrowed from the input */
    const char *did; /* deploys; NULL for requests */
    json_t *value;   /* owned; NULL for deletes */
    int64_t mod_revision;
} ctl_src_write;

typedef struct ctl_source_plan {
    bool fetch;      /* start a fetch now (nothing else was planned) */
    size_t n_writes; /* in order: requests, deploys, prunes */
    ctl_src_write *writes;
    api_source_status status; /* the new status */
    bool status_changed;      /* write it */
    int64_t requeue_after_ms; /* > 0: look again then (next fetch) */
} ctl_source_plan;

void ctl_source_plan_run(const ctl_source_in *in, ctl_source_plan *out);
void ctl_source_plan_release(ctl_source_plan *p);

/* ---- the loop (source_loop.c) ------------------------------------------------ */

typedef struct ctl_sources ctl_sources;

typedef struct ctl_sources_config {
    const char *prefix;   /* NULL: "/corral" */
    store_cache *cache;   /* the process's cache; NULL: the runner's own */
    const char *data_dir; /* required: Git caches go to data_dir/gitops/<name>.git */
    int64_t resync_ms;    /* 0: 60 s */
    cr_log *log;
} ctl_sources_config;

/* Creates a stopped loop (caller owns); base, s, leader, cache and log are
 * borrowed, the strings copied. NULL with err on a bad config.
 * Lifecycle as ctl_runner's: start on election, stop when it is lost (git
 * processes in flight are killed and this replica's fetches forgotten),
 * free at exit. */
ctl_sources *ctl_sources_new(struct event_base *base, store *s, store_leader *leader,
                             const ctl_sources_config *cfg, cr_err *err);
int ctl_sources_start(ctl_sources *m, cr_err *err);
void ctl_sources_stop(ctl_sources *m); /* NULL is a no-op */
void ctl_sources_free(ctl_sources *m); /* NULL is a no-op */
void ctl_sources_get_stats(const ctl_sources *m, ctl_runner_stats *out);

#endif
