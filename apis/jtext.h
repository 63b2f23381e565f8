/* api_jtext: reading a JSON text without building its tree.
 *
 * The cache keeps task records as the text etcd holds (store/cache.h), not
 * as jansson trees: a reader that needs a field or two walks the text, and
 * an answer that contains a record re-encodes its bytes instead of parsing
 * and dumping it.
 *
 * The one rule: every span given to these functions is part of a text that
 * jansson accepts (json_loadb with JSON_DECODE_ANY) and whose objects have
 * no duplicate keys; store_obj_plain_text (store/cache.h) gives one. For
 * such a text, each function answers exactly what the same question asked
 * of json_loadb's tree would: the same member, string, integer, the same
 * bytes from json_dumps. On any other input the answers are unspecified,
 * but no function reads outside its span.
 *
 * Spans borrow the text; nothing here allocates except where it says so. */
#ifndef API_JTEXT_H
#define API_JTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"

/* The bytes of one JSON value (no surrounding whitespace); p NULL: none. */
typedef struct api_jspan {
    const char *p;
    size_t n;
} api_jspan;

/* The top value of text[0..len), whitespace trimmed. */
api_jspan api_jtext_span(const char *text, size_t len);

/* The value's type: '{' object, '[' array, '"' string, '0' number, 't'
 * true, 'f' false, 'n' null; 0 for no value. */
int api_jtext_type(api_jspan v);

/* Walks the members of object obj in text order: *at starts at 0 and is
 * advanced; sets the key (a string token, quotes included) and the value.
 * Returns false after the last member (and when obj is not an object). */
bool api_jtext_next(api_jspan obj, size_t *at, api_jspan *key, api_jspan *value);
/* Whether the string token key decodes to name. */
bool api_jtext_key_is(api_jspan key, const char *name);
/* json_object_get: the member's value, or a span with p NULL when obj is
 * not an object or has no such member. */
api_jspan api_jtext_get(api_jspan obj, const char *name);

/* json_string_value: appends the string's bytes, escapes decoded (no NUL
 * added; cr_buf keeps its own terminator), and returns true; false with
 * nothing appended when v is not a string. */
bool api_jtext_string(api_jspan v, cr_buf *out);
/* Whether v is the string s (decoded). */
bool api_jtext_string_is(api_jspan v, const char *s);
/* json_is_integer + json_integer_value: false when v is not an integer
 * (a real, a string, none...). */
bool api_jtext_integer(api_jspan v, int64_t *out);

/* Appends what json_dumps(<v's value>, flags) writes. flags may hold only
 * JSON_COMPACT (required), JSON_ENCODE_ANY and JSON_REAL_PRECISION(n).
 * Whitespace is dropped, strings with escapes and real numbers are
 * written by jansson itself, everything else is copied. */
void api_jtext_dump(api_jspan v, size_t flags, cr_buf *out);

/* Whether v's bytes are already what api_jtext_dump(v, flags) writes:
 * true for what jansson wrote with the same flags (a record the bridge
 * stored with JSON_COMPACT), so the bytes can be used as they are. */
bool api_jtext_is_dump(api_jspan v, size_t flags);

/* The one check for any bytes: whether v is a JSON value jansson reads
 * (json_loadb: no key twice in an object), nested at most max_depth deep,
 * whose bytes are what json_dumps writes with flags (as api_jtext_is_dump),
 * and whose strings are all printable ASCII without an escape. Stricter
 * than jansson on purpose (an escape, a byte outside ASCII, an integer of
 * 19 digits or more are refused), so true proves the bytes while false
 * proves nothing; linear in v's length, never reading outside v. */
bool api_jtext_is_ascii_dump(api_jspan v, size_t flags, int max_depth);

/* v's value as a new tree (caller owns): what json_loadb of its bytes
 * gives, built without jansson's lexer. NULL when v is none. */
json_t *api_jtext_json(api_jspan v);

/* The one function for any bytes, the rule above aside: api_jtext_json of
 * v, with containers nested at most max_depth deep (a deeper one ends
 * its parent's members there), and the container whose span starts at
 * hollow.p (NULL: none) built empty, for a caller that reads its bytes
 * instead. On a text the rule allows, nested no deeper, it is json_loadb's
 * tree; on any other bytes it is some tree or NULL, built in time linear in
 * v's length times max_depth, never reading outside v. Only for a caller
 * that proves what it got, as api_task_from_own_text does. */
json_t *api_jtext_json_any(api_jspan v, int max_depth, api_jspan hollow);

#endif
