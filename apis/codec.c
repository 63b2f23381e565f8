/* Table-driven JSON codec; see codec.h. */
#include "apis/codec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"

#define AT(obj, off, type)  ((type *)(void *)((char *)(obj) + (off)))
#define CAT(obj, off, type) ((type const *)(const void *)((const char *)(obj) + (off)))

/* Sets a scalar's has_ flag, if it has one. */
static void set_has(const api_field *f, void *obj)
{
    if (f->has != AF_NO_HAS)
        *AT(obj, f->has, bool) = true;
}

/* Whether a scalar or embedded struct is present: its flag, or always. */
static bool is_present(const api_field *f, const void *obj)
{
    return f->has == AF_NO_HAS || *CAT(obj, f->has, bool);
}

char *api_path_join(const char *base, const char *name)
{
    if (!base || !*base)
        return xstrdup(name);
    return xasprintf("%s.%s", base, name);
}

char *api_path_index(const char *base, size_t i)
{
    return xasprintf("%s[%zu]", base ? base : "", i);
}

const char *api_json_kind_name(int kind)
{
    switch (kind) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "a value";
    }
}

char *api_json_canonical(const json_t *j)
{
    char *s =
        json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s)
        abort(); /* only fails on allocation */
    char *out = xstrdup(s);
    free(s);
    return out;
}

bool api_codec_equal(const api_codec *c, const void *a, const void *b)
{
    json_t *ja = api_codec_encode(c, a), *jb = api_codec_encode(c, b);
    char *sa = api_json_canonical(ja), *sb = api_json_canonical(jb);
    bool eq = strcmp(sa, sb) == 0;
    free(sa);
    free(sb);
    json_decref(ja);
    json_decref(jb);
    return eq;
}

/* Levenshtein distance, capped: used to suggest a field for a typo. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
}

static const api_field *find_field(const api_codec *c, const char *key, bool *is_alias)
{
    for (size_t i = 0; i < c->nfields; i++) {
        if (strcmp(c->fields[i].name, key) == 0) {
            *is_alias = false;
            return &c->fields[i];
        }
        if (c->fields[i].alias && strcmp(c->fields[i].alias, key) == 0) {
            *is_alias = true;
            return &c->fields[i];
        }
    }
    return NULL;
}

static const char *suggest(const api_codec *c, const char *key)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < c->nfields; i++) {
        size_t d = edit_distance(key, c->fields[i].name);
        if (d < bestd) {
            bestd = d;
            best = c->fields[i].name;
        }
    }
    return best;
}

static bool get_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9.0e15) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

static bool decode_enum(const api_enum *e, const char *s, int *out)
{
    for (size_t k = 1; k <= e->n; k++) {
        if (strcmp(e->names[k], s) == 0 ||
            (e->aliases && e->aliases[k] && strcmp(e->aliases[k], s) == 0)) {
            *out = e->unset + (int)k;
            return true;
        }
    }
    return false;
}

static char *enum_list(const api_enum *e)
{
    size_t len = 1;
    for (size_t k = 1; k <= e->n; k++)
        len += strlen(e->names[k]) + 2;
    char *s = xmalloc(len);
    s[0] = 0;
    for (size_t k = 1; k <= e->n; k++) {
        if (k > 1)
            strcat(s, ", ");
        strcat(s, e->names[k]);
    }
    return s;
}

/* Decodes one field value v (not null) at path fp. */
static size_t decode_field(const api_field *f, const json_t *v, void *obj, const char *fp,
                           bool allow_unknown, api_problems *probs)
{
    size_t before = probs->n;
    int64_t iv;

    switch (f->type) {
    case AF_STR:
        if (!json_is_string(v)) {
            api_problems_add(probs, fp, "must be a string, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        free(*AT(obj, f->off, char *));
        *AT(obj, f->off, char *) = xstrdup(json_string_value(v));
        break;
    case AF_BOOL:
        if (!json_is_boolean(v)) {
            api_problems_add(probs, fp, "must be true or false, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        *AT(obj, f->off, bool) = json_is_true(v);
        set_has(f, obj);
        break;
    case AF_INT:
    case AF_LONG:
        if (!get_int64(v, &iv)) {
            api_problems_add(probs, fp, "must be an integer, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        if (f->type == AF_INT) {
            if (iv < -2147483647LL || iv > 2147483647LL) {
                api_problems_add(probs, fp, "must be between -2147483647 and 2147483647");
                break;
            }
            *AT(obj, f->off, int) = (int)iv;
        } else {
            *AT(obj, f->off, int64_t) = iv;
        }
        set_has(f, obj);
        break;
    case AF_DOUBLE:
        if (!json_is_number(v)) {
            api_problems_add(probs, fp, "must be a number, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        *AT(obj, f->off, double) = json_number_value(v);
        set_has(f, obj);
        break;
    case AF_STRLIST: {
        if (!json_is_array(v)) {
            api_problems_add(probs, fp, "must be a list of strings, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        api_strlist *l = AT(obj, f->off, api_strlist);
        api_strlist_release(l);
        l->v = xcalloc(json_array_size(v) + 1, sizeof(char *)); /* present, even if [] */
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e)) {
                char *ep = api_path_index(fp, i);
                api_problems_add(probs, ep, "must be a string, not %s",
                                 api_json_kind_name(json_typeof(e)));
                free(ep);
                continue;
            }
            api_strlist_add(l, json_string_value(e));
        }
        break;
    }
    case AF_STRMAP: {
        if (!json_is_object(v)) {
            api_problems_add(probs, fp, "must be a map of strings, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        api_strmap *m = AT(obj, f->off, api_strmap);
        api_strmap_release(m);
        m->v = xcalloc(1, sizeof(api_kv)); /* present, even if {} */
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            char *ep = api_path_join(fp, k);
            if (json_is_string(e)) {
                api_strmap_set(m, k, json_string_value(e));
            } else if (json_is_number(e) || json_is_boolean(e)) {
                /* YAML users write FOO: 1; keep it as the string it means. */
                char *s = json_dumps(e, JSON_ENCODE_ANY);
                api_strmap_set(m, k, s);
                free(s);
            } else {
                api_problems_add(probs, ep, "must be a string, not %s",
                                 api_json_kind_name(json_typeof(e)));
            }
            free(ep);
        }
        break;
    }
    case AF_INTLIST: {
        if (!json_is_array(v)) {
            api_problems_add(probs, fp, "must be a list of integers, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        api_intlist *l = AT(obj, f->off, api_intlist);
        api_intlist_release(l);
        l->v = xcalloc(json_array_size(v) + 1, sizeof(int64_t));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!get_int64(e, &iv)) {
                char *ep = api_path_index(fp, i);
                api_problems_add(probs, ep, "must be an integer, not %s",
                                 api_json_kind_name(json_typeof(e)));
                free(ep);
                continue;
            }
            l->v[l->n++] = iv;
        }
        if (f->has != AF_NO_HAS)
            *AT(obj, f->has, bool) = true;
        break;
    }
    case AF_JSON:
        if (f->json_kind >= 0 && json_typeof(v) != (json_type)f->json_kind) {
            api_problems_add(probs, fp, "must be %s, not %s", api_json_kind_name(f->json_kind),
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        json_decref(*AT(obj, f->off, json_t *));
        *AT(obj, f->off, json_t *) = json_deep_copy(v);
        break;
    case AF_ENUM: {
        const api_enum *e = f->aux;
        int ev;
        if (!json_is_string(v) || !decode_enum(e, json_string_value(v), &ev)) {
            char *names = enum_list(e);
            api_problems_add(probs, fp, "must be one of %s", names);
            free(names);
            break;
        }
        *AT(obj, f->off, int) = ev;
        break;
    }
    case AF_OBJ: {
        const api_codec *sub = f->aux;
        if (!json_is_object(v)) {
            api_problems_add(probs, fp, "must be an object, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        void **slot = AT(obj, f->off, void *);
        if (*slot) {
            api_codec_release(sub, *slot);
            free(*slot);
        }
        *slot = xcalloc(1, sub->size);
        api_codec_decode(sub, v, *slot, fp, allow_unknown, probs);
        break;
    }
    case AF_EMBED: {
        const api_codec *sub = f->aux;
        if (!json_is_object(v)) {
            api_problems_add(probs, fp, "must be an object, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        void *in = AT(obj, f->off, char);
        api_codec_release(sub, in);
        api_codec_decode(sub, v, in, fp, allow_unknown, probs);
        set_has(f, obj);
        break;
    }
    case AF_OBJLIST: {
        const api_codec *sub = f->aux;
        if (!json_is_array(v)) {
            api_problems_add(probs, fp, "must be a list, not %s",
                             api_json_kind_name(json_typeof(v)));
            break;
        }
        char **slot = AT(obj, f->off, char *);
        size_t *count = AT(obj, f->count_off, size_t);
        size_t n = json_array_size(v);
        *slot = xcalloc(n ? n : 1, sub->size);
        *count = 0;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char *ep = api_path_index(fp, i);
            if (json_is_string(e) && sub->scalar_field) {
                json_t *wrapped = json_pack("{sO}", sub->scalar_field, e);
                api_codec_decode(sub, wrapped, *slot + (*count) * sub->size, ep, allow_unknown,
                                 probs);
                json_decref(wrapped);
                (*count)++;
            } else if (!json_is_object(e)) {
                api_problems_add(probs, ep, "must be an object, not %s",
                                 api_json_kind_name(json_typeof(e)));
            } else {
                api_codec_decode(sub, e, *slot + (*count) * sub->size, ep, allow_unknown, probs);
                (*count)++;
            }
            free(ep);
        }
        break;
    }
    }
    return probs->n - before;
}

size_t api_codec_decode(const api_codec *c, const json_t *j, void *obj, const char *path,
                        bool allow_unknown, api_problems *probs)
{
    size_t before = probs->n;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)j, key, v)
    {
        bool is_alias = false;
        const api_field *f = find_field(c, key, &is_alias);
        char *fp = api_path_join(path, key);
        if (!f && probs->ignored) {
            api_problems_add(probs->ignored, fp, "unknown field ignored");
        } else if (!f) {
            if (allow_unknown && c->extra_off == AF_NO_EXTRA) {
                /* dropped: nowhere to keep it */
            } else if (allow_unknown) {
                json_t **extra = AT(obj, c->extra_off, json_t *);
                if (!*extra)
                    *extra = json_object();
                json_object_set_new(*extra, key, json_deep_copy(v));
            } else {
                const char *s = suggest(c, key);
                if (s)
                    api_problems_add(probs, fp, "unknown field (did you mean \"%s\"?)", s);
                else
                    api_problems_add(probs, fp, "unknown field");
            }
        } else if (is_alias && json_object_get(j, f->name)) {
            const json_t *canon = json_object_get(j, f->name);
            if (probs->ignored && (json_is_null(v) || json_equal(v, (json_t *)canon))) {
                /* what Singularity's Java client sends: both names, one value */
            } else if (probs->ignored && json_is_null(canon)) {
                decode_field(f, v, obj, fp, allow_unknown, probs);
            } else {
                api_problems_add(probs, fp, "deprecated alias of \"%s\", which is also given%s",
                                 f->name, probs->ignored ? " with a different value" : "");
            }
        } else if (!json_is_null(v)) {
            decode_field(f, v, obj, fp, allow_unknown, probs);
        }
        free(fp);
    }
    return probs->n - before;
}

static json_t *strlist_json(const api_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static json_t *strmap_json(const api_strmap *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->v[i].key, json_string(m->v[i].value));
    return o;
}

/* Doubles that are whole numbers encode as integers (1 not 1.0), the way
 * Singularity's clients write them, so YAML "cpus: 1" and JSON "1.0" agree. */
static json_t *number_json(double d)
{
    if (d == floor(d) && fabs(d) < 9.0e15)
        return json_integer((json_int_t)d);
    return json_real(d);
}

json_t *api_codec_encode(const api_codec *c, const void *obj)
{
    json_t *o = json_object();

    for (size_t i = 0; i < c->nfields; i++) {
        const api_field *f = &c->fields[i];
        json_t *v = NULL;
        switch (f->type) {
        case AF_STR: {
            const char *s = *CAT(obj, f->off, char *);
            if (s)
                v = json_string(s);
            break;
        }
        case AF_BOOL:
            if (is_present(f, obj))
                v = json_boolean(*CAT(obj, f->off, bool));
            break;
        case AF_INT:
            if (is_present(f, obj))
                v = json_integer(*CAT(obj, f->off, int));
            break;
        case AF_LONG:
            if (is_present(f, obj))
                v = json_integer((json_int_t)*CAT(obj, f->off, int64_t));
            break;
        case AF_DOUBLE:
            if (is_present(f, obj))
                v = number_json(*CAT(obj, f->off, double));
            break;
        case AF_STRLIST: {
            const api_strlist *l = CAT(obj, f->off, api_strlist);
            if (l->v)
                v = strlist_json(l);
            break;
        }
        case AF_STRMAP: {
            const api_strmap *m = CAT(obj, f->off, api_strmap);
            if (m->v)
                v = strmap_json(m);
            break;
        }
        case AF_INTLIST: {
            const api_intlist *l = CAT(obj, f->off, api_intlist);
            if (l->v || (f->has != AF_NO_HAS && *CAT(obj, f->has, bool))) {
                v = json_array();
                for (size_t k = 0; k < l->n; k++)
                    json_array_append_new(v, json_integer((json_int_t)l->v[k]));
            }
            break;
        }
        case AF_JSON: {
            json_t *j = *CAT(obj, f->off, json_t *);
            if (j)
                v = json_deep_copy(j);
            break;
        }
        case AF_ENUM: {
            const api_enum *e = f->aux;
            int k = *CAT(obj, f->off, int) - e->unset;
            if (k > 0 && (size_t)k <= e->n)
                v = json_string(e->names[k]);
            break;
        }
        case AF_OBJ: {
            const void *sub = *CAT(obj, f->off, void *);
            if (sub)
                v = api_codec_encode(f->aux, sub);
            break;
        }
        case AF_EMBED:
            if (is_present(f, obj))
                v = api_codec_encode(f->aux, CAT(obj, f->off, char));
            break;
        case AF_OBJLIST: {
            const api_codec *sub = f->aux;
            const char *arr = *CAT(obj, f->off, char *);
            size_t n = *CAT(obj, f->count_off, size_t);
            if (arr) {
                v = json_array();
                for (size_t k = 0; k < n; k++)
                    json_array_append_new(v, api_codec_encode(sub, arr + k * sub->size));
            }
            break;
        }
        }
        if (v)
            json_object_set_new(o, f->name, v);
    }
    json_t *extra = c->extra_off == AF_NO_EXTRA ? NULL : *CAT(obj, c->extra_off, json_t *);
    if (extra) {
        /* Unknown fields follow the known ones, sorted. */
        const char **keys = xcalloc(json_object_size(extra) + 1, sizeof(char *));
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(extra, k, v) keys[n++] = k;
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
                const char *t = keys[b];
                keys[b] = keys[b - 1];
                keys[b - 1] = t;
            }
        for (size_t a = 0; a < n; a++)
            json_object_set_new(o, keys[a], json_deep_copy(json_object_get(extra, keys[a])));
        free(keys);
    }
    return o;
}

void api_codec_release(const api_codec *c, void *obj)
{
    if (!obj)
        return;
    for (size_t i = 0; i < c->nfields; i++) {
        const api_field *f = &c->fields[i];
        switch (f->type) {
        case AF_STR:
            free(*AT(obj, f->off, char *));
            *AT(obj, f->off, char *) = NULL;
            break;
        case AF_STRLIST:
            api_strlist_release(AT(obj, f->off, api_strlist));
            break;
        case AF_STRMAP:
            api_strmap_release(AT(obj, f->off, api_strmap));
            break;
        case AF_INTLIST:
            api_intlist_release(AT(obj, f->off, api_intlist));
            break;
        case AF_JSON:
            json_decref(*AT(obj, f->off, json_t *));
            *AT(obj, f->off, json_t *) = NULL;
            break;
        case AF_OBJ: {
            void **slot = AT(obj, f->off, void *);
            if (*slot) {
                api_codec_release(f->aux, *slot);
                free(*slot);
                *slot = NULL;
            }
            break;
        }
        case AF_EMBED:
            api_codec_release(f->aux, AT(obj, f->off, char));
            break;
        case AF_OBJLIST: {
            const api_codec *sub = f->aux;
            char **slot = AT(obj, f->off, char *);
            size_t *count = AT(obj, f->count_off, size_t);
            for (size_t k = 0; *slot && k < *count; k++)
                api_codec_release(sub, *slot + k * sub->size);
            free(*slot);
            *slot = NULL;
            *count = 0;
            break;
        }
        default:
            break;
        }
    }
    if (c->extra_off != AF_NO_EXTRA) {
        json_t **extra = AT(obj, c->extra_off, json_t *);
        json_decref(*extra);
        *extra = NULL;
    }
}
