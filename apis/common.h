/* Shared value types of the apis/ module: string lists and maps, the problem
 * list that decoders and validators fill, decode options and source maps.
 *
 * Ownership rule for every api_ struct: the struct owns every pointer in it
 * (strings, arrays, json_t references); *_free / *_release frees them all.
 * A NULL string means "absent". Optional scalars have a `has_<field>` flag.
 * A list or map is present iff its `v` is not NULL, so an empty [] or {}
 * survives a round trip; api_*_add/set make it present. */
#ifndef API_COMMON_H
#define API_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- small containers ---------------------------------------------------- */

typedef struct api_strlist {
    size_t n;
    char **v; /* n owned strings */
} api_strlist;

typedef struct api_kv {
    char *key;
    char *value;
} api_kv;

/* A string map in input order (the encoder sorts keys). */
typedef struct api_strmap {
    size_t n;
    api_kv *v;
} api_strmap;

typedef struct api_intlist {
    size_t n;
    int64_t *v;
} api_intlist;

void api_strlist_release(api_strlist *l);
void api_strlist_add(api_strlist *l, const char *s);
bool api_strlist_contains(const api_strlist *l, const char *s);
void api_strmap_release(api_strmap *m);
/* Sets key to value (replaces an existing key). */
void api_strmap_set(api_strmap *m, const char *key, const char *value);
/* Borrowed value or NULL. */
const char *api_strmap_get(const api_strmap *m, const char *key);
void api_intlist_release(api_intlist *l);

/* ---- source maps ----------------------------------------------------------- */

/* Where each node of a parsed document came from: field path -> line:col
 * (1-based). Paths look like "spec.resources.cpus" or "owners[0]". Opaque;
 * built by the YAML reader (apis/yaml.h). */
typedef struct api_srcmap api_srcmap;

api_srcmap *api_srcmap_new(const char *file);
void api_srcmap_free(api_srcmap *m);
void api_srcmap_put(api_srcmap *m, const char *path, int line, int col);
/* Looks path up, then its parents ("a.b[2].c" -> "a.b[2]" -> "a.b" -> "a");
 * returns false if nothing matches. */
bool api_srcmap_find(const api_srcmap *m, const char *path, int *line, int *col);
/* Borrowed file name ("<stdin>" for standard input). */
const char *api_srcmap_file(const api_srcmap *m);

/* ---- problems -------------------------------------------------------------- */

/* One problem found in an object: `file:line:col: path: message`. file is
 * NULL (and line/col 0) when the input was not a file. */
typedef struct api_problem {
    char *file;
    int line, col;
    char *path; /* "spec.resources.cpus"; "" for the whole document */
    char *msg;  /* "must be > 0" */
} api_problem;

/* Problems accumulate; nothing stops at the first one. srcmap/prefix set the
 * context used by api_problems_add (see api_problems_scope). */
typedef struct api_problems {
    size_t n, cap;
    api_problem *v;
    const api_srcmap *srcmap; /* borrowed; NULL: no positions */
    /* Lenient decoding (Singularity's API, docs/api.md "Lenient bodies"):
     * when set (borrowed), what a strict decode refuses but Singularity
     * ignores is recorded there instead of here, and decoding goes on: an
     * unknown field (dropped, never stored), a deprecated alias given
     * together with its canonical name and an equal value (the canonical
     * one is kept). An alias whose value differs stays a problem. NULL:
     * strict (manifests, corralctl, documents in etcd). */
    struct api_problems *ignored;
} api_problems;

#define API_PROBLEMS_INIT      \
    {                          \
        0, 0, NULL, NULL, NULL \
    }

void api_problems_init(api_problems *p);
void api_problems_release(api_problems *p);
/* Records a problem at path; its position comes from p->srcmap. */
void api_problems_add(api_problems *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a problem with an explicit position (file may be NULL). */
void api_problems_add_at(api_problems *p, const char *file, int line, int col, const char *path,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Moves the problems of src whose path is not already reported in dst
 * (same path, or one is a prefix of the other): validation run after a
 * decoding problem must not repeat it as "required". src is left empty. */
void api_problems_merge_new(api_problems *dst, size_t from, api_problems *src);
/* Moves every problem of src to the end of dst; src is left empty. */
void api_problems_move(api_problems *dst, api_problems *src);
/* Orders problems for people: grouped by file (in order of first
 * appearance), then by line and column; otherwise stable. */
void api_problems_sort(api_problems *p);
/* "file:line:col: path: msg" (parts omitted when unknown). Caller frees. */
char *api_problem_format(const api_problem *pr);
/* All problems, one per line. Caller frees. */
char *api_problems_format(const api_problems *p);

/* ---- durations ------------------------------------------------------------- */

/* "30s" -> 30000 ("ms", "s", "m", "h"; an integer and a unit). -1 if
 * malformed. */
int64_t api_duration_parse_ms(const char *s);

/* ---- decode options -------------------------------------------------------- */

typedef struct api_decode_opts {
    /* Accept fields this version does not know (kept verbatim in `extra` and
     * re-emitted by the encoder) instead of reporting them. */
    bool allow_unknown;
    /* Field path of the object being decoded ("spec", "deploy"); NULL or ""
     * for the document root. Problem paths are prefix + "." + field. */
    const char *path_prefix;
    /* Skip api_*_validate after decoding (structure is still checked). */
    bool no_validate;
    /* Deploys: when `id` is absent, set it with api_deploy_derive_id before
     * validating. */
    bool derive_id;
} api_decode_opts;

/* ---- id rules -------------------------------------------------------------- */

/* One function per kind of id, used by everything that accepts one: the
 * manifest and document decoders, the API, corralctl, and the decoder of
 * each etcd key (apis/doc.h), so an id accepted anywhere can be stored,
 * listed, parsed back from its key and its task ids, and read through the
 * API. docs/manifests.md lists the rules. Every valid id is also a valid
 * key component (api_key_id_valid, apis/keys.h). NULL is never valid. */

#define API_MAX_REQUEST_ID 100
#define API_MAX_DEPLOY_ID  50
#define API_MAX_RUN_ID     100
#define API_MAX_MACHINE_ID 255 /* Mesos' limit for its ids */

/* Request ids: [a-zA-Z0-9_-]{1,100} (Singularity's rule). */
bool api_request_id_valid(const char *id);
/* Deploy ids: [a-zA-Z0-9_.]{1,50} (Singularity's rule; no '-': task ids are
 * '-'-delimited) and not made of dots only ("." and ".." are path segments
 * that no URL or key can carry). */
bool api_deploy_id_valid(const char *id);
/* Run ids (run-now and on-demand runs): [a-zA-Z0-9_-]{1,100}. */
bool api_run_id_valid(const char *id);
/* Agent ids (Mesos agent ids, as keys take them): 1-255 printable ASCII
 * characters other than space, '/' and '\\', not "." or "..". */
bool api_agent_id_valid(const char *id);
/* Rack ids: the same rule as agent ids. */
bool api_rack_id_valid(const char *id);

#endif
