/* Table-driven JSON <-> struct codec used by the api_ object decoders.
 *
 * Each object type is a table of fields (JSON name, kind, offset in the
 * struct, offset of its has_ flag, optional deprecated alias). Decoding checks
 * types and unknown fields and reports every problem with its field path;
 * encoding emits present fields in table order, so output is canonical.
 * Other apis/ files (status, run, intent, ...) describe their objects the
 * same way, with the API_F* row macros below. */
#ifndef API_CODEC_H
#define API_CODEC_H

#include <stddef.h>

#include "apis/common.h"

/* Scalars (BOOL, INT, LONG, DOUBLE) and EMBED take a has_ flag; without
 * one (AF_NO_HAS) the field is always encoded: status documents write every
 * counter, zero or not. */
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
    AF_ENUM,    /* int, api_enum.unset = unset; aux = const api_enum * */
    AF_OBJ,     /* pointer to a heap struct; aux = const api_codec * */
    AF_OBJLIST, /* pointer to an array of structs + size_t count at count_off */
    AF_EMBED,   /* a struct embedded at off (+ has: present); aux = const api_codec * */
} api_ftype;

#define AF_NO_HAS ((size_t)-1)
/* api_codec.extra_off of a struct without `extra`: unknown fields are then
 * refused, or dropped when allowed. */
#define AF_NO_EXTRA ((size_t)-1)

typedef struct api_enum {
    const char *const *names;   /* names[1..n]; names[0] is unused */
    size_t n;                   /* highest value */
    const char *const *aliases; /* NULL or parallel to names (NULL entries) */
    /* The value meaning unset; names[k] is stored as unset + k. 0 for enums
     * numbered from 1; -1 for one whose first name is 0 (api_task_state). */
    int unset;
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

/* Table rows for a struct T whose member n is JSON field "n". Scalars have
 * a has_n flag, or none with the _ALWAYS forms (always encoded). */
#define API_FS(T, n)                                             \
    {                                                            \
#n, AF_STR, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FB(T, n)                                                         \
    {                                                                        \
#n, AF_BOOL, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define API_FI(T, n)                                                        \
    {                                                                       \
#n, AF_INT, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define API_FL(T, n)                                                         \
    {                                                                        \
#n, AF_LONG, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define API_FD(T, n)                                                           \
    {                                                                          \
#n, AF_DOUBLE, offsetof(T, n), offsetof(T, has_##n), NULL, NULL, 0, -1 \
    }
#define API_FB_ALWAYS(T, n)                                       \
    {                                                             \
#n, AF_BOOL, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FI_ALWAYS(T, n)                                      \
    {                                                            \
#n, AF_INT, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FL_ALWAYS(T, n)                                       \
    {                                                             \
#n, AF_LONG, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FSL(T, n)                                                \
    {                                                                \
#n, AF_STRLIST, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FSM(T, n)                                               \
    {                                                               \
#n, AF_STRMAP, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, -1 \
    }
#define API_FJ(T, n, kind)                                          \
    {                                                               \
#n, AF_JSON, offsetof(T, n), AF_NO_HAS, NULL, NULL, 0, kind \
    }
#define API_FEN(T, n, en)                                          \
    {                                                              \
#n, AF_ENUM, offsetof(T, n), AF_NO_HAS, NULL, &(en), 0, -1 \
    }
#define API_FO(T, n, codec)                                          \
    {                                                                \
#n, AF_OBJ, offsetof(T, n), AF_NO_HAS, NULL, &(codec), 0, -1 \
    }
#define API_FEM(T, n, codec)                                                      \
    {                                                                             \
#n, AF_EMBED, offsetof(T, n), offsetof(T, has_##n), NULL, &(codec), 0, -1 \
    }
/* The codec of struct T (with a json_t *extra member) from its rows. */
#define API_CODEC(T, name, fields)                                                            \
    {                                                                                         \
        name, sizeof(T), offsetof(T, extra), fields, sizeof(fields) / sizeof(fields[0]), NULL \
    }

/* Decodes object j into obj (zeroed by the caller, enums whose unset is not
 * 0 set to it) at field path `path`. Returns the number of problems added. */
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
