/* store gwjson: range answers and watch lines read without a JSON tree.
 *
 * A list page is a thousand kvs of base64 in one JSON text, and every watch
 * event comes as one; building jansson's tree of it (a node and a copy per
 * string) only to copy the strings out again cost about as much as decoding
 * the values themselves. These readers walk the text once and take the
 * strings from where they lie.
 *
 * They accept only what etcd's gateway writes (see codec.h): objects,
 * arrays, booleans, null, and strings of printable ASCII without escapes.
 * Anything else (a number, an escape, a byte above 0x7e, a member they do
 * not know at a level they check, a wanted member twice, bad base64, a
 * revision that does not parse) makes them answer GW_OTHER, and the caller
 * parses the text with jansson as before. So for any text they accept, the
 * answer is the one the jansson path gives; test_codec.c compares the two. */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "store/codec.h"

#define GW_OTHER    1  /* not the fast subset: parse with jansson */
#define GW_MAXDEPTH 32 /* jansson allows more; deeper goes the slow way */

typedef struct gw {
    const char *p, *end;
} gw;

typedef struct span {
    const char *p;
    size_t n;
} span;

static void ws(gw *g)
{
    while (g->p < g->end && (*g->p == ' ' || *g->p == '\t' || *g->p == '\n' || *g->p == '\r'))
        g->p++;
}

/* Skips ws and takes the byte c; false when another byte comes. */
static bool take(gw *g, char c)
{
    ws(g);
    if (g->p < g->end && *g->p == c) {
        g->p++;
        return true;
    }
    return false;
}

/* A string of plain bytes (its content, no quotes); -1 for anything else. */
static int str(gw *g, span *out)
{
    const char *s;

    if (!take(g, '"'))
        return -1;
    s = g->p;
    while (g->p < g->end) {
        unsigned char c = (unsigned char)*g->p;
        if (c == '"') {
            out->p = s;
            out->n = (size_t)(g->p - s);
            g->p++;
            return 0;
        }
        if (c < 0x20 || c > 0x7e || c == '\\')
            return -1;
        g->p++;
    }
    return -1;
}

static bool word(gw *g, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(g->end - g->p) < n || memcmp(g->p, w, n))
        return false;
    g->p += n;
    return true;
}

/* A literal as json_is_true reads it: true, or false for false and null;
 * -1 for anything else. */
static int flag(gw *g, bool *out)
{
    ws(g);
    *out = word(g, "true");
    return *out || word(g, "false") || word(g, "null") ? 0 : -1;
}

static int skip(gw *g, int depth);

/* Walks an object's members: before the first call *first is true. Returns
 * 1 with the member's name (the value is next), 0 at the closing brace,
 * -1 when the text is not an object of the subset. */
static int member(gw *g, bool *first, span *name)
{
    if (*first) {
        *first = false;
        if (!take(g, '{'))
            return -1;
        if (take(g, '}'))
            return 0;
    } else {
        if (take(g, '}'))
            return 0;
        if (!take(g, ','))
            return -1;
    }
    if (str(g, name) < 0 || !take(g, ':'))
        return -1;
    return 1;
}

/* The same for an array's elements: 1 when an element is next. */
static int element(gw *g, bool *first)
{
    if (*first) {
        *first = false;
        if (!take(g, '['))
            return -1;
        if (take(g, ']'))
            return 0;
        return 1;
    }
    if (take(g, ']'))
        return 0;
    return take(g, ',') ? 1 : -1;
}

static int skip(gw *g, int depth)
{
    bool first = true;
    span name;
    int r;

    if (depth > GW_MAXDEPTH)
        return -1;
    ws(g);
    if (g->p >= g->end)
        return -1;
    switch (*g->p) {
    case '"':
        return str(g, &name);
    case '{':
        while ((r = member(g, &first, &name)) == 1)
            if (skip(g, depth + 1) < 0)
                return -1;
        return r;
    case '[':
        while ((r = element(g, &first)) == 1)
            if (skip(g, depth + 1) < 0)
                return -1;
        return r;
    default: {
        bool b;
        return flag(g, &b);
    }
    }
}

static bool is(span s, const char *name)
{
    return strlen(name) == s.n && memcmp(s.p, name, s.n) == 0;
}

/* Marks member bit b seen; false when it already was (jansson keeps the
 * last of repeated members: not worth matching here). */
static bool once(unsigned *seen, unsigned b)
{
    if (*seen & b)
        return false;
    *seen |= b;
    return true;
}

/* An int64 written as a string, as store_json_int64 reads one. */
static int int64_str(gw *g, int64_t *out)
{
    char buf[32];
    span s;

    if (str(g, &s) < 0 || s.n >= sizeof(buf))
        return -1;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return store_int64_text(buf, out);
}

static int b64_str(gw *g, char **out, size_t *len)
{
    span s;
    return str(g, &s) < 0 ? -1 : store_b64_decode(s.p, s.n, out, len, NULL);
}

/* A kv object, as store_kv_parse reads one. */
static int kv(gw *g, store_kv *out)
{
    enum { KEY = 1, VALUE = 2, CREATE = 4, MOD = 8, VERSION = 16, LEASE = 32 };
    unsigned seen = 0;
    bool first = true;
    span name;
    int r;

    memset(out, 0, sizeof(*out));
    while ((r = member(g, &first, &name)) == 1) {
        int rc;
        if (is(name, "key"))
            rc = once(&seen, KEY) ? b64_str(g, &out->key, NULL) : -1;
        else if (is(name, "value"))
            rc = once(&seen, VALUE) ? b64_str(g, &out->value, &out->value_len) : -1;
        else if (is(name, "create_revision"))
            rc = once(&seen, CREATE) ? int64_str(g, &out->create_revision) : -1;
        else if (is(name, "mod_revision"))
            rc = once(&seen, MOD) ? int64_str(g, &out->mod_revision) : -1;
        else if (is(name, "version"))
            rc = once(&seen, VERSION) ? int64_str(g, &out->version) : -1;
        else if (is(name, "lease"))
            rc = once(&seen, LEASE) ? int64_str(g, &out->lease) : -1;
        else
            rc = -1;
        if (rc < 0)
            break;
    }
    if (r != 0) {
        store_kv_release(out);
        return -1;
    }
    if (!out->key)
        out->key = xstrdup("");
    if (!out->value)
        out->value = xstrdup("");
    return 0;
}

/* A response header: the two members parse_body reads. */
static int header(gw *g, int64_t *revision, int64_t *member_id)
{
    unsigned seen = 0;
    bool first = true;
    span name;
    int r, rc;

    while ((r = member(g, &first, &name)) == 1) {
        if (is(name, "revision"))
            rc = once(&seen, 1) ? int64_str(g, revision) : -1;
        else if (is(name, "member_id"))
            rc = once(&seen, 2) ? int64_str(g, member_id) : -1;
        else
            rc = skip(g, 2);
        if (rc < 0)
            return -1;
    }
    return r;
}

/* Appends kv objects of an array to *kvs (*n of them, capacity *cap). */
static int kv_array(gw *g, store_kv **kvs, size_t *n, size_t *cap)
{
    bool first = true;
    int r;

    while ((r = element(g, &first)) == 1) {
        if (*n + 1 >= *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *kvs = xrealloc(*kvs, *cap * sizeof(**kvs));
        }
        if (kv(g, &(*kvs)[*n]) < 0)
            return -1;
        (*n)++;
    }
    return r;
}

static int end_of_text(gw *g)
{
    ws(g);
    return g->p == g->end ? 0 : -1;
}

int store_gw_range_parse(const char *body, size_t len, store_result *out)
{
    enum { HEADER = 1, KVS = 2, MORE = 4, COUNT = 8 };
    gw g = {body, body + len};
    unsigned seen = 0;
    bool first = true;
    size_t cap = 0;
    span name;
    int r, rc;

    memset(out, 0, sizeof(*out));
    out->succeeded = true;
    while ((r = member(&g, &first, &name)) == 1) {
        if (is(name, "header"))
            rc = once(&seen, HEADER) ? header(&g, &out->revision, &out->member_id) : -1;
        else if (is(name, "kvs"))
            rc = once(&seen, KVS) ? kv_array(&g, &out->kvs, &out->nkvs, &cap) : -1;
        else if (is(name, "more"))
            rc = once(&seen, MORE) ? flag(&g, &out->more) : -1;
        else if (is(name, "count"))
            rc = once(&seen, COUNT) ? int64_str(&g, &out->count) : -1;
        else
            rc = -1;
        if (rc < 0)
            break;
    }
    if (r != 0 || end_of_text(&g) < 0) {
        store_result_release(out);
        return GW_OTHER;
    }
    return 0;
}

/* One watch event, as store_watch_msg_parse reads one. */
static int event(gw *g, store_event *ev)
{
    enum { TYPE = 1, KV = 2, PREV = 4 };
    unsigned seen = 0;
    bool first = true;
    span name, type;
    int r, rc;

    memset(ev, 0, sizeof(*ev));
    while ((r = member(g, &first, &name)) == 1) {
        if (is(name, "type")) {
            rc = once(&seen, TYPE) ? str(g, &type) : -1;
            if (rc == 0 && is(type, "DELETE"))
                ev->type = STORE_EV_DELETE;
        } else if (is(name, "kv")) {
            rc = once(&seen, KV) ? kv(g, &ev->kv) : -1;
        } else if (is(name, "prev_kv")) {
            rc = once(&seen, PREV) ? kv(g, &ev->prev) : -1;
        } else {
            rc = skip(g, 3);
        }
        if (rc < 0)
            break;
    }
    if (r != 0 || !(seen & KV)) {
        store_kv_release(&ev->kv);
        store_kv_release(&ev->prev);
        return -1;
    }
    if (ev->type == STORE_EV_DELETE) {
        free(ev->kv.value);
        ev->kv.value = NULL;
        ev->kv.value_len = 0;
    }
    return 0;
}

static int events(gw *g, store_watch_msg *out)
{
    bool first = true;
    size_t cap = 0;
    int r;

    while ((r = element(g, &first)) == 1) {
        if (out->nevents + 1 >= cap) {
            cap = cap ? cap * 2 : 8;
            out->events = xrealloc(out->events, cap * sizeof(*out->events));
        }
        if (event(g, &out->events[out->nevents]) < 0)
            return -1;
        out->nevents++;
    }
    if (r == 0 && !out->events) /* present and empty: as the tree path has it */
        out->events = xcalloc(1, sizeof(*out->events));
    return r;
}

static int watch_result(gw *g, store_watch_msg *out)
{
    enum { HEADER = 1, EVENTS = 2, CREATED = 4, CANCELED = 8, COMPACT = 16, REASON = 32 };
    unsigned seen = 0;
    bool first = true;
    int64_t member_id = 0;
    span name, s;
    int r, rc;

    while ((r = member(g, &first, &name)) == 1) {
        if (is(name, "header")) {
            rc = once(&seen, HEADER) ? header(g, &out->revision, &member_id) : -1;
        } else if (is(name, "events")) {
            rc = once(&seen, EVENTS) ? events(g, out) : -1;
        } else if (is(name, "created")) {
            rc = once(&seen, CREATED) ? flag(g, &out->created) : -1;
        } else if (is(name, "canceled")) {
            rc = once(&seen, CANCELED) ? flag(g, &out->canceled) : -1;
        } else if (is(name, "compact_revision")) {
            rc = once(&seen, COMPACT) ? int64_str(g, &out->compact_revision) : -1;
        } else if (is(name, "cancel_reason")) {
            rc = once(&seen, REASON) ? str(g, &s) : -1;
            if (rc == 0) {
                out->cancel_reason = xmalloc(s.n + 1);
                memcpy(out->cancel_reason, s.p, s.n);
                out->cancel_reason[s.n] = '\0';
            }
        } else {
            rc = skip(g, 2);
        }
        if (rc < 0)
            return -1;
    }
    return r;
}

int store_gw_watch_parse(const char *line, size_t len, store_watch_msg *out)
{
    gw g = {line, line + len};
    bool first = true, result = false;
    span name;
    int r, rc;

    memset(out, 0, sizeof(*out));
    while ((r = member(&g, &first, &name)) == 1) {
        if (is(name, "result"))
            rc = !result ? (result = true, watch_result(&g, out)) : -1;
        else if (is(name, "error"))
            rc = -1; /* the tree path words the error */
        else
            rc = skip(&g, 1);
        if (rc < 0)
            break;
    }
    if (r != 0 || !result || end_of_text(&g) < 0) {
        store_watch_msg_release(out);
        return GW_OTHER;
    }
    return 0;
}
