/* api_jtext: JSON text read without a tree. See jtext.h. */
#include "apis/jtext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* Characters of a number or of true/false/null. */
static bool is_atom(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

/* The end of the string token at p (*p == '"'), or NULL: the first quote
 * after it not escaped (preceded by an even number of backslashes). */
static const char *string_end(const char *p, const char *end)
{
    const char *q = p + 1, *e, *b;

    while (q < end && (e = memchr(q, '"', (size_t)(end - q)))) {
        for (b = e; b > p + 1 && b[-1] == '\\'; b--)
            ;
        if ((e - b) % 2 == 0)
            return e + 1;
        q = e + 1;
    }
    return NULL;
}

/* Characters value_end stops at inside a container. */
static const unsigned char structural[256] = {
    ['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1};

/* The end of the value at p, or NULL when there is none. */
static const char *value_end(const char *p, const char *end)
{
    size_t depth = 0;
    const char *start = p;

    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return string_end(p, end);
    case '{':
    case '[':
        while (p < end) {
            char c = *p;
            if (!structural[(unsigned char)c]) {
                p++;
                continue;
            }
            if (c == '"') {
                if (!(p = string_end(p, end)))
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    default:
        while (p < end && is_atom(*p))
            p++;
        return p > start ? p : NULL;
    }
}

/* Whether the string token t has an escape. */
static bool has_escape(api_jspan t)
{
    return t.n >= 2 && memchr(t.p + 1, '\\', t.n - 2) != NULL;
}

/* Whether the number token t is a real (jansson's rule: a '.' or an
 * exponent makes a real). */
static bool is_real(api_jspan t)
{
    for (size_t i = 0; i < t.n; i++)
        if (t.p[i] == '.' || t.p[i] == 'e' || t.p[i] == 'E')
            return true;
    return false;
}

api_jspan api_jtext_span(const char *text, size_t len)
{
    const char *p = text ? skip_ws(text, text + len) : NULL, *e = text ? text + len : NULL;
    api_jspan v = {NULL, 0};

    if (!p)
        return v;
    while (e > p && is_ws(e[-1]))
        e--;
    if (e > p) {
        v.p = p;
        v.n = (size_t)(e - p);
    }
    return v;
}

int api_jtext_type(api_jspan v)
{
    if (!v.p || !v.n)
        return 0;
    switch (v.p[0]) {
    case '{':
    case '[':
    case '"':
    case 't':
    case 'f':
    case 'n':
        return v.p[0];
    default:
        return v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9') ? '0' : 0;
    }
}

/* The next element of a container (open is '{' or '['): for an object,
 * key and value; for an array, value only (key untouched). */
static bool next_in(api_jspan c, char open, size_t *at, api_jspan *key, api_jspan *value)
{
    const char *end, *p, *e;

    if (api_jtext_type(c) != open)
        return false;
    end = c.p + c.n;
    p = skip_ws(c.p + (*at ? *at : 1), end);
    if (*at && p < end && *p == ',')
        p = skip_ws(p + 1, end);
    if (p >= end || *p == '}' || *p == ']')
        return false;
    if (open == '{') {
        if (*p != '"' || !(e = string_end(p, end)))
            return false;
        key->p = p;
        key->n = (size_t)(e - p);
        p = skip_ws(e, end);
        if (p >= end || *p != ':')
            return false;
        p = skip_ws(p + 1, end);
    }
    if (!(e = value_end(p, end)))
        return false;
    value->p = p;
    value->n = (size_t)(e - p);
    *at = (size_t)(e - c.p);
    return true;
}

bool api_jtext_next(api_jspan obj, size_t *at, api_jspan *key, api_jspan *value)
{
    return next_in(obj, '{', at, key, value);
}

bool api_jtext_string_is(api_jspan v, const char *s)
{
    size_t n = strlen(s);
    cr_buf b = CR_BUF_INIT;
    bool same;

    if (api_jtext_type(v) != '"')
        return false;
    if (!has_escape(v))
        return v.n - 2 == n && memcmp(v.p + 1, s, n) == 0;
    same = api_jtext_string(v, &b) && b.len == n && memcmp(b.data, s, n) == 0;
    cr_buf_release(&b);
    return same;
}

bool api_jtext_key_is(api_jspan key, const char *name)
{
    return api_jtext_string_is(key, name);
}

api_jspan api_jtext_get(api_jspan obj, const char *name)
{
    api_jspan k, v;
    size_t at = 0;

    while (api_jtext_next(obj, &at, &k, &v))
        if (api_jtext_key_is(k, name))
            return v;
    v.p = NULL;
    v.n = 0;
    return v;
}

bool api_jtext_string(api_jspan v, cr_buf *out)
{
    json_t *s;
    bool ok;

    if (api_jtext_type(v) != '"' || v.n < 2)
        return false;
    if (!has_escape(v)) {
        cr_buf_add(out, v.p + 1, v.n - 2);
        return true;
    }
    /* escapes: jansson decodes them (rare in what Corral writes) */
    s = json_loadb(v.p, v.n, JSON_DECODE_ANY, NULL);
    ok = json_is_string(s);
    if (ok)
        cr_buf_add(out, json_string_value(s), json_string_length(s));
    json_decref(s);
    return ok;
}

bool api_jtext_integer(api_jspan v, int64_t *out)
{
    char tmp[32];
    char *end;
    long long x;

    if (api_jtext_type(v) != '0' || is_real(v) || v.n >= sizeof(tmp))
        return false;
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    errno = 0;
    x = strtoll(tmp, &end, 10);
    if (errno || *end)
        return false;
    *out = (int64_t)x;
    return true;
}

static int add_to_buf(const char *data, size_t len, void *arg)
{
    cr_buf_add(arg, data, len);
    return 0;
}

/* One token written by jansson: what it parses the bytes to, dumped. */
static void dump_token(const char *p, size_t n, size_t flags, cr_buf *out)
{
    json_t *j = json_loadb(p, n, JSON_DECODE_ANY, NULL);

    if (j)
        json_dump_callback(j, add_to_buf, out, flags | JSON_ENCODE_ANY);
    else
        cr_buf_add(out, p, n);
    json_decref(j);
}

void api_jtext_dump(api_jspan v, size_t flags, cr_buf *out)
{
    const char *p = v.p, *end = v.p ? v.p + v.n : NULL;

    while (p && p < end) {
        const char *run = p;
        /* structure and literals are copied as they are */
        while (p < end && *p != '"' && !is_ws(*p) && *p != '-' && (*p < '0' || *p > '9'))
            p++;
        if (p > run)
            cr_buf_add(out, run, (size_t)(p - run));
        if (p >= end)
            break;
        if (is_ws(*p)) {
            p++;
        } else if (*p == '"') {
            const char *e = string_end(p, end);
            api_jspan t = {p, e ? (size_t)(e - p) : (size_t)(end - p)};
            if (e && has_escape(t))
                dump_token(t.p, t.n, flags, out);
            else
                cr_buf_add(out, t.p, t.n);
            p = t.p + t.n;
        } else {
            api_jspan t = {p, 0};
            while (p < end && is_atom(*p))
                p++;
            t.n = (size_t)(p - t.p);
            if (is_real(t))
                dump_token(t.p, t.n, flags, out);
            else if (t.n == 2 && t.p[0] == '-' && t.p[1] == '0')
                cr_buf_addch(out, '0'); /* jansson's integer 0 */
            else
                cr_buf_add(out, t.p, t.n);
        }
    }
}

/* Whether jansson writes token t (a real, or a string with escapes) as
 * the same bytes. A real is read as jansson reads it (strtod: corrald
 * keeps the C locale) and written by jansson, into a buffer on the stack. */
static bool token_is_dump(const char *p, size_t n, size_t flags, bool real)
{
    cr_buf b = CR_BUF_INIT;
    char tmp[64], out[64];
    bool same;

    if (real && n < sizeof(tmp)) {
        char *end;
        json_t *r;
        size_t len;
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        errno = 0;
        r = json_real(strtod(tmp, &end));
        len = errno || *end || !r ? 0 : json_dumpb(r, out, sizeof(out), flags | JSON_ENCODE_ANY);
        json_decref(r);
        return len == n && memcmp(out, p, n) == 0;
    }
    dump_token(p, n, flags, &b);
    same = b.len == n && memcmp(b.data, p, n) == 0;
    cr_buf_release(&b);
    return same;
}

bool api_jtext_is_dump(api_jspan v, size_t flags)
{
    const char *p = v.p, *end = v.p ? v.p + v.n : NULL;

    /* the walk of api_jtext_dump, comparing instead of writing */
    while (p && p < end) {
        while (p < end && *p != '"' && !is_ws(*p) && *p != '-' && (*p < '0' || *p > '9'))
            p++;
        if (p >= end)
            break;
        if (is_ws(*p))
            return false;
        if (*p == '"') {
            const char *e = string_end(p, end);
            api_jspan t = {p, e ? (size_t)(e - p) : (size_t)(end - p)};
            if (!e || (has_escape(t) && !token_is_dump(t.p, t.n, flags, false)))
                return false;
            p = t.p + t.n;
        } else {
            api_jspan t = {p, 0};
            while (p < end && is_atom(*p))
                p++;
            t.n = (size_t)(p - t.p);
            if (is_real(t) ? !token_is_dump(t.p, t.n, flags, true)
                           : t.n == 2 && t.p[0] == '-' && t.p[1] == '0')
                return false;
        }
    }
    return v.p != NULL;
}

/* ---- api_jtext_is_ascii_dump: a strict reader for any bytes ---------------------- */

/* Keys one object may have for the check (more: refused). */
#define ASCII_DUMP_KEYS 32

/* The end of the string token at p when its bytes are printable ASCII
 * with no escape; NULL otherwise. */
static const char *ascii_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return NULL;
    }
    return NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The end of the number token at p in JSON's grammar, as jansson reads
 * it and writes it again (an integer of up to 18 digits: no overflow; a
 * real as json_dumps writes it); NULL otherwise. */
static const char *ascii_number(const char *p, const char *end, size_t flags)
{
    const char *start = p, *digits;
    bool real = false;

    if (p < end && *p == '-')
        p++;
    digits = p;
    if (p >= end || !is_digit(*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        real = true;
        if (++p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    /* json_dumps writes a real in at most 24 bytes (%.17g); a longer
     * token would reach token_is_dump's fallback, which copies what
     * jansson does not read */
    if (real)
        return p - start <= 32 && token_is_dump(start, (size_t)(p - start), flags, true) ? p : NULL;
    /* "-0" is jansson's 0, written "0" */
    if (p - digits > 18 || (digits > start && p - digits == 1 && *digits == '0'))
        return NULL;
    return p;
}

/* The end of the value at p under the rule of api_jtext_is_ascii_dump;
 * NULL when it breaks it. */
static const char *ascii_value(const char *p, const char *end, size_t flags, int depth)
{
    api_jspan keys[ASCII_DUMP_KEYS];
    size_t nkeys = 0;
    char close;

    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return ascii_string(p, end);
    case 't':
        return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
    case '{':
    case '[':
        break;
    default:
        return ascii_number(p, end, flags);
    }
    if (depth <= 0)
        return NULL;
    close = *p == '{' ? '}' : ']';
    if (++p < end && *p == close)
        return p + 1;
    while (p < end) {
        if (close == '}') {
            const char *k = p;
            if (nkeys == ASCII_DUMP_KEYS || !(p = ascii_string(p, end)))
                return NULL;
            for (size_t i = 0; i < nkeys; i++)
                if (keys[i].n == (size_t)(p - k) && !memcmp(keys[i].p, k, keys[i].n))
                    return NULL; /* a key twice */
            keys[nkeys++] = (api_jspan){k, (size_t)(p - k)};
            if (p >= end || *p++ != ':')
                return NULL;
        }
        if (!(p = ascii_value(p, end, flags, depth - 1)) || p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
    return NULL;
}

bool api_jtext_is_ascii_dump(api_jspan v, size_t flags, int max_depth)
{
    return v.p && ascii_value(v.p, v.p + v.n, flags, max_depth) == v.p + v.n;
}

/* api_jtext_json with containers nested at most depth deep (deeper: the
 * container is NULL), and the value at hollow.p built empty. */
static json_t *build(api_jspan v, int depth, const char *hollow)
{
    api_jspan k, e;
    size_t at = 0;
    json_t *j, *m;
    int64_t i;

    switch (api_jtext_type(v)) {
    case '{':
        if (depth <= 0)
            return NULL;
        j = json_object();
        while (v.p != hollow && next_in(v, '{', &at, &k, &e)) {
            if (!(m = build(e, depth - 1, hollow)))
                break;
            if (!has_escape(k)) {
                json_object_setn_new_nocheck(j, k.p + 1, k.n - 2, m);
            } else {
                cr_buf b = CR_BUF_INIT;
                api_jtext_string(k, &b);
                json_object_setn_new(j, cr_buf_str(&b), b.len, m);
                cr_buf_release(&b);
            }
        }
        return j;
    case '[':
        if (depth <= 0)
            return NULL;
        j = json_array();
        while (v.p != hollow && next_in(v, '[', &at, &k, &e) && (m = build(e, depth - 1, hollow)))
            json_array_append_new(j, m);
        return j;
    case '"':
        if (v.n >= 2 && !has_escape(v))
            return json_stringn_nocheck(v.p + 1, v.n - 2);
        return json_loadb(v.p, v.n, JSON_DECODE_ANY, NULL);
    case '0':
        if (api_jtext_integer(v, &i))
            return json_integer((json_int_t)i);
        return json_loadb(v.p, v.n, JSON_DECODE_ANY, NULL); /* reals: jansson's strtod */
    case 't':
        return json_true();
    case 'f':
        return json_false();
    case 'n':
        return json_null();
    default:
        return NULL;
    }
}

json_t *api_jtext_json(api_jspan v)
{
    return build(v, JSON_PARSER_MAX_DEPTH, NULL);
}

json_t *api_jtext_json_any(api_jspan v, int max_depth, api_jspan hollow)
{
    return build(v, max_depth, hollow.p);
}
