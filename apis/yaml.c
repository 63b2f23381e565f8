/* YAML reader/writer over libyaml's event API; see yaml.h. */
#include "apis/yaml.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "apis/codec.h"
#include "base/buf.h"
#include "base/xalloc.h"

#define MAX_DEPTH 200
#define MAX_NODES 2000000 /* aliases are copied: bound "billion laughs" */

typedef struct ctx {
    yaml_parser_t parser;
    const char *file;
    api_srcmap *sm;
    json_t *anchors;
    size_t nodes;
    int depth;
    bool failed;
    api_problems *probs;
} ctx;

static void fail_at(ctx *c, yaml_mark_t m, const char *path, const char *msg)
{
    if (!c->failed)
        api_problems_add_at(c->probs, c->file, (int)m.line + 1, (int)m.column + 1, path, "%s", msg);
    c->failed = true;
}

static bool next_event(ctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->parser, ev))
        return true;
    if (!c->failed) {
        yaml_mark_t m = c->parser.problem_mark;
        char *msg = xasprintf(
            "YAML syntax error: %s%s%s", c->parser.problem ? c->parser.problem : "unknown",
            c->parser.context ? " " : "", c->parser.context ? c->parser.context : "");
        api_problems_add_at(c->probs, c->file, (int)m.line + 1, (int)m.column + 1, "", "%s", msg);
        free(msg);
    }
    c->failed = true;
    return false;
}

static bool all_match(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

json_t *api_yaml_resolve_plain(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    for (size_t i = 0; nulls[i]; i++)
        if (strcmp(s, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; trues[i]; i++)
        if (strcmp(s, trues[i]) == 0)
            return json_true();
    for (size_t i = 0; falses[i]; i++)
        if (strcmp(s, falses[i]) == 0)
            return json_false();

    const char *d = s;
    if (*d == '-' || *d == '+')
        d++;
    if (all_match(d, "0123456789")) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_integer(v);
        return json_real(strtod(s, NULL));
    }
    if ((strncmp(s, "0x", 2) == 0 && all_match(s + 2, "0123456789abcdefABCDEF")) ||
        (strncmp(s, "0o", 2) == 0 && all_match(s + 2, "01234567"))) {
        errno = 0;
        unsigned long long v = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
        if (errno == 0 && v <= (unsigned long long)LLONG_MAX)
            return json_integer((json_int_t)v);
        return json_string(s);
    }
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *p = d;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        if (*q == '-' || *q == '+')
            q++;
        if (*q >= '0' && *q <= '9') {
            while (*q >= '0' && *q <= '9')
                q++;
            p = q;
        }
    }
    if (digits && !*p && p != d) {
        char *end;
        double v = strtod(s, &end);
        if (!*end && v == v && v < 1e308 && v > -1e308)
            return json_real(v);
    }
    return json_string(s);
}

static size_t count_nodes(const json_t *j)
{
    size_t n = 1;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) n += count_nodes(v);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) n += count_nodes(v);
    }
    return n;
}

static json_t *parse_node(ctx *c, yaml_event_t *ev, const char *path);

static json_t *scalar_value(ctx *c, yaml_event_t *ev, const char *path)
{
    const char *val = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *j;
    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        j = json_stringn(val, ev->data.scalar.length);
    else if (tag && strncmp(tag, "tag:yaml.org,2002:", 18) == 0)
        j = api_yaml_resolve_plain(val);
    else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
        j = api_yaml_resolve_plain(val);
    else
        j = json_stringn(val, ev->data.scalar.length);
    if (!j)
        fail_at(c, ev->start_mark, path, "invalid text (not UTF-8)");
    return j;
}

static void merge_into(json_t *obj, const json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v)
    {
        if (!json_object_get(obj, k))
            json_object_set(obj, k, v);
    }
}

static json_t *parse_mapping(ctx *c, yaml_event_t *start, const char *path)
{
    json_t *obj = json_object();
    json_t *merges = NULL;
    yaml_event_t ev;

    for (;;) {
        if (!next_event(c, &ev))
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            fail_at(c, ev.start_mark, path, "mapping keys must be plain strings");
            yaml_event_delete(&ev);
            goto fail;
        }
        yaml_mark_t km = ev.start_mark;
        char *key = xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
        bool merge = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(key, "<<") == 0;
        yaml_event_delete(&ev);
        char *kp = api_path_join(path, key);
        api_srcmap_put(c->sm, kp, (int)km.line + 1, (int)km.column + 1);
        if (!next_event(c, &ev)) {
            free(key);
            free(kp);
            goto fail;
        }
        json_t *v = parse_node(c, &ev, kp);
        if (!v) {
            free(key);
            free(kp);
            goto fail;
        }
        if (merge) {
            if (!merges)
                merges = json_array();
            json_array_append_new(merges, v);
        } else if (json_object_get(obj, key)) {
            fail_at(c, km, kp, "duplicate key");
            json_decref(v);
            free(key);
            free(kp);
            goto fail;
        } else if (json_object_set_new(obj, key, v) != 0) {
            fail_at(c, km, kp, "invalid key");
            free(key);
            free(kp);
            goto fail;
        }
        free(key);
        free(kp);
    }
    if (merges) {
        /* Explicit keys win over merged ones; earlier merges win over later. */
        size_t i;
        json_t *m;
        json_array_foreach(merges, i, m)
        {
            if (json_is_object(m)) {
                merge_into(obj, m);
            } else if (json_is_array(m)) {
                size_t k;
                json_t *e;
                json_array_foreach(m, k, e)
                {
                    if (json_is_object(e))
                        merge_into(obj, e);
                }
            } else {
                fail_at(c, start->start_mark, path, "<< merge value must be a mapping");
                goto fail;
            }
        }
        json_decref(merges);
    }
    return obj;
fail:
    json_decref(merges);
    json_decref(obj);
    return NULL;
}

static json_t *parse_sequence(ctx *c, const char *path)
{
    json_t *arr = json_array();
    yaml_event_t ev;
    for (size_t i = 0;; i++) {
        if (!next_event(c, &ev))
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        char *ip = api_path_index(path, i);
        api_srcmap_put(c->sm, ip, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1);
        json_t *v = parse_node(c, &ev, ip);
        free(ip);
        if (!v)
            goto fail;
        json_array_append_new(arr, v);
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

/* Builds the node that starts with *ev (consumed). NULL after a problem. */
static json_t *parse_node(ctx *c, yaml_event_t *ev, const char *path)
{
    json_t *j = NULL;
    const char *anchor = NULL;
    char *anchor_copy = NULL;

    if (++c->nodes > MAX_NODES) {
        fail_at(c, ev->start_mark, path, "document too large");
        goto out;
    }
    if (c->depth >= MAX_DEPTH) {
        fail_at(c, ev->start_mark, path, "nesting too deep");
        goto out;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        j = scalar_value(c, ev, path);
        break;
    case YAML_ALIAS_EVENT: {
        json_t *a = json_object_get(c->anchors, (const char *)ev->data.alias.anchor);
        if (!a) {
            fail_at(c, ev->start_mark, path, "unknown alias");
            break;
        }
        c->nodes += count_nodes(a);
        if (c->nodes > MAX_NODES) {
            fail_at(c, ev->start_mark, path, "document too large (aliases)");
            break;
        }
        j = json_deep_copy(a);
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        anchor_copy = xstrdup((const char *)ev->data.sequence_start.anchor);
        c->depth++;
        j = parse_sequence(c, path);
        c->depth--;
        anchor = anchor_copy;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor_copy = xstrdup((const char *)ev->data.mapping_start.anchor);
        c->depth++;
        j = parse_mapping(c, ev, path);
        c->depth--;
        anchor = anchor_copy;
        break;
    default:
        fail_at(c, ev->start_mark, path, "unexpected YAML event");
        break;
    }
    if (j && anchor)
        json_object_set(c->anchors, anchor, j);
out:
    free(anchor_copy);
    yaml_event_delete(ev);
    return j;
}

void api_docs_free(api_doc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(docs[i].root);
        api_srcmap_free(docs[i].srcmap);
    }
    free(docs);
}

/* JSON that libyaml cannot read (it refuses surrogate-pair escapes such as
 * "\ud83d\ude00", which JSON allows): parse it with jansson instead, one or
 * more concatenated values, without node positions. */
static int json_fallback(const char *buf, size_t len, const char *file, api_doc **docs,
                         size_t *ndocs)
{
    size_t off = 0, n = 0;
    api_doc *out = NULL;
    for (;;) {
        while (off < len && strchr(" \t\r\n", buf[off]))
            off++;
        if (off >= len)
            break;
        json_error_t e;
        json_t *j = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
        if (!j || e.position <= 0) {
            json_decref(j);
            api_docs_free(out, n);
            return -1;
        }
        out = xrealloc(out, (n + 1) * sizeof(*out));
        out[n].root = j;
        out[n].srcmap = api_srcmap_new(file);
        out[n].line = 0;
        out[n].col = 0;
        n++;
        off += (size_t)e.position;
    }
    *docs = out;
    *ndocs = n;
    return 0;
}

static bool looks_like_json(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && strchr(" \t\r\n", buf[i]))
        i++;
    return i < len && (buf[i] == '{' || buf[i] == '[');
}

static int yaml_parse(const char *buf, size_t len, const char *file, api_doc **docs, size_t *ndocs,
                      api_problems *probs);

int api_yaml_parse(const char *buf, size_t len, const char *file, api_doc **docs, size_t *ndocs,
                   api_problems *probs)
{
    size_t before = probs->n;
    int rc = yaml_parse(buf, len, file, docs, ndocs, probs);
    if (rc == 0 || !looks_like_json(buf, len))
        return rc;
    api_doc *jd = NULL;
    size_t jn = 0;
    if (json_fallback(buf, len, file, &jd, &jn) != 0)
        return rc; /* keep libyaml's (positioned) problem */
    api_docs_free(*docs, *ndocs);
    while (probs->n > before) {
        api_problem *pr = &probs->v[--probs->n];
        free(pr->file);
        free(pr->path);
        free(pr->msg);
    }
    *docs = jd;
    *ndocs = jn;
    return 0;
}

static int yaml_parse(const char *buf, size_t len, const char *file, api_doc **docs, size_t *ndocs,
                      api_problems *probs)
{
    ctx c = {0};
    yaml_event_t ev;
    size_t n = 0, cap = 0;
    api_doc *out = NULL;
    int rc = -1;

    c.file = file;
    c.probs = probs;
    yaml_parser_initialize(&c.parser);
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)buf, len);

    for (;;) {
        if (!next_event(&c, &ev))
            goto out;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t != YAML_DOCUMENT_START_EVENT)
            continue; /* STREAM_START */
        yaml_mark_t dm = c.parser.mark;
        c.sm = api_srcmap_new(file);
        c.anchors = json_object();
        c.nodes = 0;
        if (!next_event(&c, &ev))
            goto out;
        dm = ev.start_mark;
        api_srcmap_put(c.sm, "", (int)dm.line + 1, (int)dm.column + 1);
        json_t *root = parse_node(&c, &ev, "");
        if (!root)
            goto out;
        if (!next_event(&c, &ev)) { /* DOCUMENT_END */
            json_decref(root);
            goto out;
        }
        yaml_event_delete(&ev);
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            out = xrealloc(out, cap * sizeof(*out));
        }
        out[n].root = root;
        out[n].srcmap = c.sm;
        out[n].line = (int)dm.line + 1;
        out[n].col = (int)dm.column + 1;
        c.sm = NULL;
        n++;
        json_decref(c.anchors);
        c.anchors = NULL;
    }
    rc = 0;
out:
    api_srcmap_free(c.sm);
    json_decref(c.anchors);
    yaml_parser_delete(&c.parser);
    *docs = out;
    *ndocs = n;
    return rc;
}

/* ---- emitter --------------------------------------------------------------- */

static int write_cb(void *data, unsigned char *buffer, size_t size)
{
    cr_buf_add(data, buffer, size);
    return 1;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, bool is_string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (is_string) {
        /* Quote strings that would read back as something else: other
         * types, embedded NULs, and "<<", which plain is a merge key. */
        json_t *r = api_yaml_resolve_plain(s);
        if (!json_is_string(r) || strlen(s) != len || strcmp(s, "<<") == 0)
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        json_decref(r);
    } else {
        style = YAML_PLAIN_SCALAR_STYLE;
    }
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style);
    return yaml_emitter_emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, const json_t *j)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        bool empty = json_object_size(j) == 0;
        yaml_mapping_start_event_initialize(
            &ev, NULL, NULL, 1, empty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (!emit_scalar(e, k, strlen(k), true) || !emit_value(e, v))
                return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_ARRAY: {
        bool empty = json_array_size(j) == 0;
        yaml_sequence_start_event_initialize(
            &ev, NULL, NULL, 1, empty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return 0;
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (!emit_value(e, v))
                return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_STRING:
        return emit_scalar(e, json_string_value(j), json_string_length(j), true);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return emit_scalar(e, num, strlen(num), false);
    case JSON_REAL: {
        snprintf(num, sizeof(num), "%.17g", json_real_value(j));
        if (!strpbrk(num, ".eEn")) /* keep it a float when read back */
            strcat(num, ".0");
        return emit_scalar(e, num, strlen(num), false);
    }
    case JSON_TRUE:
        return emit_scalar(e, "true", 4, false);
    case JSON_FALSE:
        return emit_scalar(e, "false", 5, false);
    default:
        return emit_scalar(e, "null", 4, false);
    }
}

char *api_yaml_emit(const json_t *j)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    cr_buf b = CR_BUF_INIT;
    bool ok;

    yaml_emitter_initialize(&e);
    yaml_emitter_set_output(&e, write_cb, &b);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&e, &ev);
    ok = ok && emit_value(&e, j);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&e, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&e, &ev);
    yaml_emitter_delete(&e);
    if (!ok) {
        cr_buf_release(&b);
        return NULL;
    }
    return cr_buf_detach(&b, NULL);
}
