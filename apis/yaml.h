/* YAML (and JSON, read as YAML) to jansson values with source positions,
 * and jansson values back to YAML.
 *
 * Scalars resolve by the YAML 1.2 core schema: plain null/~/empty -> null,
 * true/false -> boolean, integers (decimal, 0x, 0o), floats -> numbers,
 * anything quoted or tagged !!str -> string. Mapping keys are strings;
 * duplicate keys are errors. Anchors and aliases work (aliases are copied,
 * within a size budget); merge keys (<<) are applied. JSON that libyaml
 * cannot read (surrogate-pair escapes) is read with jansson instead, as one
 * or more concatenated values, without node positions. */
#ifndef API_YAML_H
#define API_YAML_H

#include <stddef.h>

#include "apis/common.h"

typedef struct api_doc {
    json_t *root;       /* owned; json null for an empty document */
    api_srcmap *srcmap; /* owned; path -> line:col of every node */
    int line, col;      /* where the document starts */
} api_doc;

/* Parses every document of buf (len bytes; need not be NUL-terminated). file
 * names the source in problems and srcmaps. On a syntax error adds one
 * problem (file:line:col) and returns -1; the documents parsed so far are
 * still returned. *docs (caller frees with api_docs_free) may be NULL when
 * *ndocs is 0. */
int api_yaml_parse(const char *buf, size_t len, const char *file, api_doc **docs, size_t *ndocs,
                   api_problems *probs);
void api_docs_free(api_doc *docs, size_t n);

/* The value a plain (unquoted) YAML scalar stands for. Caller owns it. */
json_t *api_yaml_resolve_plain(const char *s);

/* YAML text (block style, one document, no "---") for j. Strings that would
 * read back as another type are quoted, so parse(emit(j)) == j. Caller
 * frees; NULL only if libyaml refuses to emit. */
char *api_yaml_emit(const json_t *j);

#endif
