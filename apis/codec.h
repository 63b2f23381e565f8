/* Table-driven JSON <-> struct codec used by the api_ object decoders.
 *
 * Each object type is a table of fields (JSON name, kind, offset in the
 * struct, offset of its has_ flag, optional deprecated alias). Decoding checks
 * types and unknown fields and reports every problem with its field path;
 * encoding emits present fields in table order, so output is canonical.
 * Other apis/ files (task, status, ...) may describe their objects the same
 * way. */
#ifndef API_CODEC_H
#define API_CODEC_H

#include <stddef.h>

#include "apis/common.h"

typedef enum {
    AF_STR,     /* char * */
    AF_BOOL,    /* bool + has */
    AF_INT,     /* int + has */
    AF_LONG,    /* int64_t + has */
    AF_DOUBLE,  /* double + has */
    AF_STRLIST, /* api_strlist */
    AF_STRMAP,  /* api_strmap (values must be strings; numbers/bools are converted) */
    AF_INTLIST, /* api_intlist (+ optional has) */
    AF_JSON,    /* json_t * (kind-checked with json_kind, -1 = any) */
    AF_ENUM,    /* int, 0 = unset; aux = const api_enum * */
    AF_OBJ,     /* pointer to a heap struct; aux = const api_codec * */
    AF_OBJLIST, /* pointer to an array of structs + size_t count at count_off */
} api_ftype;

#define AF_NO_HAS ((size_t)-1)

typedef struct api_enum {
    const char *const *names;   /* names[1..n]; names[0] is unused */
    size_t n;                   /* highest value */
    const char *const *aliases; /* NULL or parallel to names (NULL entries) */
} api_enum;

typedef struct api_field {
    const char *name;
    api_ftype type;
    size_t off;
    size_t has;        /* offset of the bool has_ flag or AF_NO_HAS */
    const char *alias; /* deprecated input name or NULL */
    const void *aux;   /* api_enum or api_codec */
    size_t count_off;  /* AF_OBJLIST */
    int json_kind;     /* AF_JSON: JSON_OBJECT, JSON_ARRAY or -1 */
} api_field;

typedef struct api_codec {
    const char *name;
    size_t size;
    size_t extra_off; /* json_t *extra member */
    const api_field *fields;
    size_t nfields;
    /* In a list of these objects, a bare JSON string stands for
     * {scalar_field: "..."} (Singularity accepts "uris": ["http://..."]).
     * NULL: strings are refused. */
    const char *scalar_field;
} api_codec;

/* Decodes object j into obj (zeroed by the caller) at field path `path`.
 * Returns the number of problems added. */
size_t api_codec_decode(const api_codec *c, const json_t *j, void *obj, const char *path,
                        bool allow_unknown, api_problems *probs);
/* New JSON object (caller owns). */
json_t *api_codec_encode(const api_codec *c, const void *obj);
/* Frees every member of obj (not obj itself). */
void api_codec_release(const api_codec *c, void *obj);
/* Whether a and b encode to the same canonical JSON. */
bool api_codec_equal(const api_codec *c, const void *a, const void *b);

/* "a" + "b" -> "a.b"; "" + "b" -> "b". Caller frees. */
char *api_path_join(const char *base, const char *name);
/* "a" + 3 -> "a[3]". Caller frees. */
char *api_path_index(const char *base, size_t i);

/* Name of the JSON kind for messages ("a string"). */
const char *api_json_kind_name(int kind);

/* Canonical bytes of a JSON value (sorted keys, compact). Caller frees. */
char *api_json_canonical(const json_t *j);

#endif
