/* Manifests: files of Request and Deploy objects (docs/manifests.md).
 *
 * A manifest set is loaded from files, directories (recursively: *.yaml,
 * *.yml, *.json, in sorted order) or standard input ("-"). Each file holds one
 * or more YAML or JSON documents (a top-level JSON/YAML list is a list of
 * documents). A document is one of:
 *   - an envelope: apiVersion: corral/v1, kind: Request|Deploy|Source,
 *     metadata.name, metadata.annotations (copied into the object's
 *     `annotations`), spec (a Singularity request or deploy object, or a
 *     GitOps Source: apis/source.h);
 *   - a raw Singularity request object (has "id", no "requestId");
 *   - a Singularity deploy request body {"deploy": {...}, "message",
 *     "unpauseOnSuccessfulDeploy", "updatedRequest"};
 *   - a bare Singularity deploy object (has "requestId");
 *   - a procfile deploy configuration (has "procfile"), which expands to one
 *     Request and one Deploy per process type.
 * Deploys without an id get api_deploy_derive_id's hash id, so loading the
 * same input twice yields the same objects. */
#ifndef API_MANIFEST_H
#define API_MANIFEST_H

#include <stdio.h>

#include "apis/common.h"
#include "apis/deploy.h"
#include "apis/request.h"
#include "apis/source.h"

#define API_MANIFEST_VERSION "corral/v1"

typedef enum {
    API_OBJ_REQUEST = 1,
    API_OBJ_DEPLOY,
    API_OBJ_SOURCE,
} api_obj_kind;

/* One object of a manifest set. Owns everything it points to. */
typedef struct api_manifest_obj {
    api_obj_kind kind;
    api_request *request; /* kind == API_OBJ_REQUEST */
    api_deploy *deploy;   /* kind == API_OBJ_DEPLOY */
    api_source *source;   /* kind == API_OBJ_SOURCE */
    bool deploy_id_derived;
    /* Deploy request options ({"deploy": ...} bodies, or an envelope's
     * "options"): message, unpauseOnSuccessfulDeploy, updatedRequest. */
    char *message;
    bool has_unpause;
    bool unpauseOnSuccessfulDeploy;
    api_request *updatedRequest;
    /* Where it came from: file ("<stdin>" for -), document start, the path
     * prefix of its body in the document ("spec", "deploy", "",
     * "procfile.web"), and the document's source map (for later problems). */
    char *file;
    int line, col;
    char *prefix;
    api_srcmap *srcmap; /* shared by the objects of one document */
} api_manifest_obj;

typedef struct api_manifest {
    size_t n;
    api_manifest_obj *v;
    size_t nsrcmaps;
    api_srcmap **srcmaps; /* owned */
    json_t *overlay;      /* parsed overlay (json null: failed to load), or NULL */
    size_t procfiles;     /* procfile documents seen */
} api_manifest;

typedef struct api_manifest_opts {
    bool allow_unknown;      /* keep unknown fields instead of reporting them */
    const char *env;         /* procfile environment (env.<name>) merged over env.all */
    const char *const *sets; /* "path=value" overrides applied to procfile configs */
    size_t nsets;
    const char *overlay; /* YAML file deep-merged into every procfile config */
} api_manifest_opts;

api_manifest *api_manifest_new(void);
void api_manifest_free(api_manifest *m);

/* Loads a file, a directory (recursively) or "-" (stdin) into m. Every
 * problem goes to probs; objects of documents without problems are added.
 * Returns 0 if no problem was added, -1 otherwise. o may be NULL. */
int api_manifest_load_path(api_manifest *m, const char *path, const api_manifest_opts *o,
                           api_problems *probs);
/* Same for bytes already in memory; file names them in problems. */
int api_manifest_load_buffer(api_manifest *m, const char *buf, size_t len, const char *file,
                             const api_manifest_opts *o, api_problems *probs);

/* Checks across objects: duplicate requests or deploys, and each deploy
 * against the request of the same id when the set contains it (resources x
 * instances, load balancer fields, ...). Returns problems added. */
size_t api_manifest_check(const api_manifest *m, api_problems *probs);

/* The envelope of one object ({apiVersion, kind, metadata: {name}, spec,
 * [options]}). Caller owns it. */
json_t *api_manifest_obj_to_json(const api_manifest_obj *o);
/* Every object as a JSON list of envelopes: Requests first (in load order),
 * then Deploys, then Sources. Caller owns it. */
json_t *api_manifest_to_json(const api_manifest *m);

/* Procfile helper: the request id for process `proc` of config `name`:
 * "<name>-<proc>" with characters outside [a-zA-Z0-9_-] replaced by '_',
 * cut to API_MAX_REQUEST_ID. Caller frees. */
char *api_procfile_request_id(const char *name, const char *proc);

/* Applies one "a.b.c=value" override to doc (an object): value is read as a
 * plain YAML scalar (so 3 is a number, true a boolean); "null" or "~" removes
 * the key. Missing intermediate maps are created. Returns 0, or -1 with a
 * problem if the text is malformed or a path element is not a map. */
int api_json_set_path(json_t *doc, const char *assignment, api_problems *probs);

/* Deep merge: objects merge key by key, anything else in over replaces. */
void api_json_merge(json_t *base, const json_t *over);

#endif
