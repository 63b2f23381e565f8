/* Pure logic of corralctl's server-side apply, diff and prune.
 *
 * Ownership: an apply records the manifest set it belongs to in the
 * `metadata` map (a Singularity deploy field) of the deploys it posts, under
 * CLI_SET_LABEL. A request is owned by a set when its active or pending
 * deploy carries that set's label. apply adds the label only to deploys of
 * requests it creates or that the set already owns, so a request someone
 * else created is never adopted, and --prune only deletes owned requests.
 * (corrald rejects unknown request fields, so the request itself cannot
 * carry the label.) */
#ifndef CLI_PLAN_H
#define CLI_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "apis/common.h"

#define CLI_SET_LABEL "corral.io/applied-by"

/* api_json_diff (apis/jdiff.h, shared with the GitOps loop). A readable diff
 * of two JSON documents, one line per changed leaf path:
 *   "~ path: OLD -> NEW", "+ path: NEW", "- path: OLD"
 * (objects are compared key by key in sorted order; arrays and scalars as
 * whole compact JSON values), each line prefixed by indent. old or new may
 * be NULL (everything added/removed). Returns NULL when they are equal;
 * otherwise the caller frees the text. */
char *cli_json_diff(const json_t *old, const json_t *new, const char *indent);

/* The set label of one deploy object (borrowed), or NULL. */
const char *cli_deploy_set(const json_t *deploy);

/* Whether the request parent (GET /api/requests/request/ID) is owned by set:
 * its activeDeploy or pendingDeploy carries CLI_SET_LABEL = set. */
bool cli_parent_owned_by(const json_t *parent, const char *set);

/* Requests to prune: the ids of the parents in `parents` (a JSON list of
 * request parents, as GET /api/requests returns) owned by set and not in
 * keep, in list order. Appends to out. */
void cli_prune_plan(const json_t *parents, const api_strlist *keep, const char *set,
                    api_strlist *out);

/* A deploy as compared by diff: a copy of d without `timestamp` (the server
 * stamps it) and without CLI_SET_LABEL in `metadata` (dropped when it then
 * is empty). Caller owns the result. */
json_t *cli_deploy_comparable(const json_t *d);

/* The default set name of a list of resolved (absolute) manifest paths:
 * "<basename of the first path in sorted order>-<8 hex digits>" where the
 * digits hash the sorted paths, so the same files give the same name in any
 * order. Caller frees. */
char *cli_set_name_from_paths(const char *const *paths, size_t n);

#endif
