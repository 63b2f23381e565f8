/* A big JSON text parsed a value at a time; see jsplit.h. */
#include "mesosbridge/jsplit.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct jsplit {
    const char *start, *p, *end;
    const char *const *const *paths;
    size_t npaths;
    mb_jsplit_cb each;
    void *arg;
    cr_err *err;
    bool failed;
} jsplit;

static int fail(jsplit *s, const char *what)
{
    if (!s->failed)
        cr_error(s->err, CR_EPARSE, "byte %zu: %s", (size_t)(s->p - s->start), what);
    s->failed = true;
    return -1;
}

/* JSON's whitespace (what jansson skips between tokens). */
static void skip_ws(jsplit *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Whether the next byte is c (whitespace skipped first); takes it if so. */
static bool take(jsplit *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* The value at s->p parsed alone by jansson. An object or array stops at
 * its closing bracket (JSON_DISABLE_EOF_CHECK); a string or a bare token
 * is measured first, so jansson reads exactly its bytes. NULL on error. */
static json_t *one(jsplit *s)
{
    json_error_t je;
    const char *q;
    json_t *v;

    skip_ws(s);
    if (s->p >= s->end) {
        fail(s, "a value expected near end of text");
        return NULL;
    }
    if (*s->p == '{' || *s->p == '[') {
        v = json_loadb(s->p, (size_t)(s->end - s->p), JSON_DISABLE_EOF_CHECK, &je);
        if (!v) {
            s->p += je.position > 0 ? (size_t)je.position : 0;
            if (s->p > s->end)
                s->p = s->end;
            fail(s, je.text);
            return NULL;
        }
        s->p += je.position;
        return v;
    }
    q = s->p;
    if (*q == '"') {
        for (q++; q < s->end && *q != '"'; q++)
            if (*q == '\\' && q + 1 < s->end)
                q++;
        if (q >= s->end) {
            fail(s, "unterminated string");
            return NULL;
        }
        q++;
    } else {
        while (q < s->end && *q && !strchr(",:[]{}\" \t\r\n", *q))
            q++;
    }
    v = json_loadb(s->p, (size_t)(q - s->p), JSON_DECODE_ANY, &je);
    if (!v) {
        fail(s, je.text);
        return NULL;
    }
    s->p = q;
    return v;
}

/* The array at s->p (its '[' next) streamed to each(); returns an empty
 * array in its place. */
static json_t *split_array(jsplit *s, size_t which)
{
    s->p++; /* '[' */
    if (take(s, ']'))
        return json_array();
    for (size_t i = 0;; i++) {
        json_t *e = one(s);
        int rc;
        if (!e)
            return NULL;
        rc = s->each(s->arg, which, i, e, s->err);
        json_decref(e);
        if (rc < 0) {
            s->failed = true; /* each's own error stands */
            return NULL;
        }
        if (take(s, ']'))
            return json_array();
        if (!take(s, ',')) {
            fail(s, "',' or ']' expected");
            return NULL;
        }
    }
}

/* The object at s->p (its '{' next), depth members down every path in
 * live (a bit per path). */
static json_t *on_path(jsplit *s, size_t depth, uint32_t live)
{
    json_t *obj = json_object();

    s->p++; /* '{' */
    if (take(s, '}'))
        return obj;
    for (;;) {
        uint32_t whole = 0, deeper = 0;
        size_t which = 0;
        json_t *k, *v;
        const char *key;

        skip_ws(s);
        if (s->p >= s->end || *s->p != '"') {
            fail(s, "string or '}' expected");
            goto err;
        }
        if (!(k = one(s)))
            goto err;
        key = json_string_value(k);
        if (strlen(key) != json_string_length(k)) {
            json_decref(k);
            fail(s, "NUL byte in object key not supported");
            goto err;
        }
        for (size_t i = 0; i < s->npaths; i++) {
            if (!(live & (UINT32_C(1) << i)) || strcmp(s->paths[i][depth], key) != 0)
                continue;
            if (s->paths[i][depth + 1]) {
                deeper |= UINT32_C(1) << i;
            } else {
                whole |= UINT32_C(1) << i;
                which = i;
            }
        }
        if ((whole || deeper) && json_object_get(obj, key)) {
            json_decref(k);
            fail(s, "a member on a split path given twice");
            goto err;
        }
        if (!take(s, ':')) {
            json_decref(k);
            fail(s, "':' expected");
            goto err;
        }
        skip_ws(s);
        if (whole && s->p < s->end && *s->p == '[')
            v = split_array(s, which);
        else if (deeper && s->p < s->end && *s->p == '{')
            v = on_path(s, depth + 1, deeper);
        else
            v = one(s);
        if (!v) {
            json_decref(k);
            goto err;
        }
        json_object_set_new(obj, key, v); /* a repeated key: the last wins, as in json_loadb */
        json_decref(k);
        if (take(s, '}'))
            return obj;
        if (!take(s, ',')) {
            fail(s, "',' or '}' expected");
            goto err;
        }
    }
err:
    json_decref(obj);
    return NULL;
}

json_t *mb_jsplit_load(const char *text, size_t len, const char *const *const *paths,
                       size_t npaths, mb_jsplit_cb each, void *arg, cr_err *err)
{
    jsplit s = {.start = text ? text : "",
                .p = text ? text : "",
                .end = (text ? text : "") + (text ? len : 0),
                .paths = paths,
                .npaths = npaths < 32 ? npaths : 32,
                .each = each,
                .arg = arg,
                .err = err};
    uint32_t live;
    json_t *top;

    skip_ws(&s);
    if (s.p >= s.end || (*s.p != '{' && *s.p != '[')) {
        fail(&s, "'[' or '{' expected");
        return NULL;
    }
    live = s.npaths == 32 ? UINT32_MAX : (UINT32_C(1) << s.npaths) - 1;
    top = *s.p == '{' && s.npaths ? on_path(&s, 0, live) : one(&s);
    if (!top)
        return NULL;
    skip_ws(&s);
    if (s.p != s.end) {
        json_decref(top);
        fail(&s, "end of text expected");
        return NULL;
    }
    return top;
}
