/* Small helpers of as_api.h: transactions, query strings, results, keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/as_api.h"
#include "base/xalloc.h"

void as_txn_release(as_txn *t)
{
    for (size_t i = 0; i < t->ncmp; i++)
        free(t->cmp[i].key);
    for (size_t i = 0; i < t->nput; i++) {
        free(t->put[i].key);
        free(t->put[i].value);
    }
    free(t->cmp);
    free(t->put);
    memset(t, 0, sizeof(*t));
}

void as_txn_cmp(as_txn *t, const char *key, int64_t mod_revision)
{
    t->cmp = xrealloc(t->cmp, (t->ncmp + 1) * sizeof(*t->cmp));
    t->cmp[t->ncmp].key = xstrdup(key);
    t->cmp[t->ncmp].mod_revision = mod_revision;
    t->ncmp++;
}

static void add_put(as_txn *t, const char *key, char *value, bool prefix)
{
    t->put = xrealloc(t->put, (t->nput + 1) * sizeof(*t->put));
    t->put[t->nput].key = xstrdup(key);
    t->put[t->nput].value = value;
    t->put[t->nput].prefix = prefix;
    t->nput++;
}

void as_txn_put(as_txn *t, const char *key, const json_t *value)
{
    char *s = json_dumps(value,
                         JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    add_put(t, key, s ? s : xstrdup("null"), false);
}

void as_txn_del(as_txn *t, const char *key)
{
    add_put(t, key, NULL, false);
}

void as_txn_del_prefix(as_txn *t, const char *prefix)
{
    add_put(t, prefix, NULL, true);
}

const char *as_req_query(const as_req *r, const char *name)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, name) == 0)
            return r->query[i].value;
    return NULL;
}

static char *qs_decode(const char *s, size_t len)
{
    char *tmp = xstrndup(s, len), *out;
    for (char *p = tmp; *p; p++)
        if (*p == '+')
            *p = ' ';
    out = as_pct_decode(tmp, strlen(tmp));
    free(tmp);
    return out;
}

int as_query_parse(const char *qs, as_query_kv **out, size_t *n)
{
    as_query_kv *v = NULL;
    size_t cnt = 0;

    *out = NULL;
    *n = 0;
    if (!qs)
        return 0;
    while (*qs) {
        const char *amp = strchr(qs, '&');
        size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
        if (len > 0) {
            const char *eq = memchr(qs, '=', len);
            size_t nlen = eq ? (size_t)(eq - qs) : len;
            char *name = qs_decode(qs, nlen);
            char *value = eq ? qs_decode(eq + 1, len - nlen - 1) : xstrdup("");
            if (!name || !value) {
                free(name);
                free(value);
                as_query_free(v, cnt);
                return -1;
            }
            v = xrealloc(v, (cnt + 1) * sizeof(*v));
            v[cnt].name = name;
            v[cnt].value = value;
            cnt++;
        }
        qs += len;
        if (*qs == '&')
            qs++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void as_query_free(as_query_kv *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].value);
    }
    free(q);
}

void as_result_release(as_result *r)
{
    json_decref(r->body);
    free(r->json);
    free(r->text);
    free(r->render_parent);
    json_decref(r->warnings);
    as_txn_release(&r->txn);
    memset(r, 0, sizeof(*r));
}

static void drop_json(as_result *r)
{
    free(r->json);
    r->json = NULL;
    r->json_len = 0;
    r->json_etag = 0;
}

void as_answer(as_result *r, int status, json_t *body)
{
    r->kind = AS_RESULT_JSON;
    r->status = status;
    json_decref(r->body);
    r->body = body;
    drop_json(r);
}

uint32_t as_api_etag(const char *text, size_t len)
{
    uint32_t hash = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        hash = (hash ^ (unsigned char)text[i]) * 16777619u;
    return hash;
}

uint32_t as_api_request_etag(const json_t *request)
{
    char *src = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t hash = as_api_etag(src ? src : "", src ? strlen(src) : 0);

    free(src);
    return hash;
}

int as_fail(as_result *r, int status, const char *fmt, ...)
{
    va_list ap;
    char msg[2048];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_decref(r->body);
    drop_json(r);
    as_txn_release(&r->txn);
    free(r->render_parent);
    r->render_parent = NULL;
    r->kind = AS_RESULT_JSON;
    r->status = status;
    r->body = json_pack("{s:s, s:i}", "message", msg, "status", status);
    if (!r->body) {
        /* msg quotes input that is not UTF-8, or was cut inside a
         * character: jansson refuses it, and the answer would have no body. */
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        r->body = json_pack("{s:s, s:i}", "message", msg, "status", status);
    }
    return -1;
}

void as_cache_apply_txn(as_cache *c, const as_txn *t, int64_t rev)
{
    for (size_t i = 0; i < t->nput; i++) {
        const as_put *p = &t->put[i];
        if (p->value) {
            const as_entry *e = as_cache_get(c, p->key);
            as_cache_put_raw(c, p->key, p->value, strlen(p->value), e ? e->create_revision : rev,
                             rev);
        } else if (p->prefix) {
            size_t first, n;
            while ((n = as_cache_range(c, p->key, &first)) > 0) {
                char *k = xstrdup(as_cache_at(c, first)->key);
                as_cache_del(c, k, rev);
                free(k);
            }
        } else {
            as_cache_del(c, p->key, rev);
        }
    }
    as_cache_set_revision(c, rev);
}

bool as_txn_compares_hold(const as_cache *c, const as_txn *t)
{
    for (size_t i = 0; i < t->ncmp; i++) {
        const as_entry *e = as_cache_get(c, t->cmp[i].key);
        if ((e ? e->mod_revision : 0) != t->cmp[i].mod_revision)
            return false;
    }
    return true;
}
