/* Sources: Git repositories whose manifests are the desired state
 * (docs/gitops.md). Two documents per Source:
 *
 *   <p>/sources/<name>          api_source: what to sync (users, API)
 *   <p>/status/sources/<name>   api_source_status: what was synced (leader)
 *
 * and a sync trigger, <p>/intents/sources/<name> ({"timestamp": ms}, the
 * API's sync and webhook routes), read as JSON.
 *
 * A Source's name follows the request id rule ([a-zA-Z0-9_-]{1,100}). Every
 * string handed to git is checked here so that none can read as an option
 * (no leading '-') and a path cannot leave the repository. */
#ifndef API_SOURCE_H
#define API_SOURCE_H

#include "apis/common.h"
#include "apis/status.h"

/* Annotations a Source writes on every request and deploy it creates. */
#define API_ANNOTATION_SOURCE "corral.io/source"
#define API_ANNOTATION_COMMIT "corral.io/commit"

#define API_SOURCE_DEFAULT_INTERVAL_MS 60000
#define API_SOURCE_MIN_INTERVAL_MS     1000
#define API_SOURCE_MAX_INTERVAL_MS     86400000

/* Condition types of a Source status. */
#define API_COND_SYNCED  "Synced"  /* the cluster holds the commit's objects */
#define API_COND_DRIFTED "Drifted" /* some object differs from the commit */
#define API_COND_FAILED  "Failed"  /* fetch, parse, validation or apply failed */

typedef struct api_source {
    char *name;
    char *repository; /* a path or URL git can fetch from corrald */
    char *ref;        /* branch or tag; NULL: the remote's HEAD */
    char *path;       /* directory inside the repository; NULL: its root */
    char *interval;   /* "30s", "5m", "1h", "500ms"; NULL: 60 s */
    bool has_prune;
    bool prune; /* delete what it created and the commit no longer has */
    bool has_selfHeal;
    bool selfHeal; /* revert changes made outside the repository */
    json_t *extra;
} api_source;

bool api_source_name_valid(const char *name);

/* Decodes (unless opts->no_validate, validates) a Source document. Returns
 * a new Source (caller frees) or NULL with problems appended. */
api_source *api_source_from_json(const json_t *j, const api_decode_opts *opts, api_problems *probs);
/* Canonical JSON (caller owns). */
json_t *api_source_to_json(const api_source *s);
size_t api_source_validate(const api_source *s, const char *prefix, api_problems *probs);
void api_source_free(api_source *s);

/* The effective sync interval in ms. */
int64_t api_source_interval_ms(const api_source *s);

typedef struct api_source_status {
    char *name;
    char *commit;             /* "commit": last commit applied in full */
    int64_t syncedAt;         /* "syncedAt": when, epoch ms */
    char *fetchedCommit;      /* "fetchedCommit": last commit fetched (maybe invalid) */
    int64_t fetchedAt;        /* "fetchedAt": last fetch attempt */
    int64_t observedRevision; /* "observedRevision": the Source document acted on */
    int64_t syncRequest;      /* "syncRequest": the last sync intent's timestamp handled */
    api_strlist changes;      /* "changes": what the last sync changed */
    api_strlist drift;        /* "drift": how the cluster differs from the commit */
    api_strlist requests;     /* "requests": request ids it created (its inventory) */
    api_strlist deploys;      /* "deploys": "<requestId>/<deployId>" it created */
    api_conditions conditions;
    int64_t updatedAt;
} api_source_status;

/* Decodes a status (unknown fields ignored). Returns 0, or -1 with
 * problems. out is released first by the caller's api_source_status_release. */
int api_source_status_from_json(const json_t *j, api_source_status *out, api_problems *probs);
json_t *api_source_status_to_json(const api_source_status *s); /* caller owns */
void api_source_status_copy(api_source_status *dst, const api_source_status *src);
void api_source_status_release(api_source_status *s);

#endif
