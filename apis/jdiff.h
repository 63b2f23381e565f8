/* A readable diff of two JSON documents, shared by corralctl's diff
 * (cli/plan.h) and the GitOps drift report (controllers/source.h). */
#ifndef API_JDIFF_H
#define API_JDIFF_H

#include <jansson.h>

/* One line per changed leaf path:
 *   "~ path: OLD -> NEW", "+ path: NEW", "- path: OLD"
 * (objects are compared key by key in sorted order; arrays and scalars as
 * whole compact JSON values), each line prefixed by indent. old or new may
 * be NULL (everything added/removed). Returns NULL when they are equal;
 * otherwise the caller frees the text. */
char *api_json_diff(const json_t *old, const json_t *new, const char *indent);

#endif
