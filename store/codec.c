/* store codec: see codec.h. Pure functions only. */
#include "store/codec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

/* --- base64 -------------------------------------------------------------------- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes len bytes of data as base64 to out (room for (len + 2) / 3 * 4
 * bytes); returns how many it wrote. */
static size_t b64_into(char *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_chars[v >> 18 & 63];
        out[o++] = b64_chars[v >> 12 & 63];
        out[o++] = b64_chars[v >> 6 & 63];
        out[o++] = b64_chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64_chars[v >> 18 & 63];
        out[o++] = b64_chars[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64_chars[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

char *store_b64_encode(const void *data, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1);

    out[b64_into(out, data, len)] = '\0';
    return out;
}

/* base64 digit values (standard and URL-safe alphabets), -1 elsewhere. */
// clang-format off
static const signed char b64_table[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, 62, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
// clang-format on

/* Values are decoded four digits (three bytes) at a time from a table: the
 * watch stream and every list carry all of etcd's values in base64. */
int store_b64_decode(const char *s, size_t slen, char **out, size_t *outlen, cr_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    char *buf;
    size_t o = 0, pad = 0, i = 0;

    while (slen > 0 && s[slen - 1] == '=' && pad < 2) {
        slen--;
        pad++;
    }
    if (slen % 4 == 1 || (pad && (slen + pad) % 4))
        return cr_error(err, CR_EPARSE, "base64: bad length %zu", slen + pad);
    buf = xmalloc(slen * 3 / 4 + 1);
    for (; i + 4 <= slen; i += 4) {
        int a = b64_table[u[i]], b = b64_table[u[i + 1]], c = b64_table[u[i + 2]],
            d = b64_table[u[i + 3]];
        if ((a | b | c | d) < 0)
            break; /* the slow loop below finds the offset */
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        buf[o++] = (char)(v >> 16);
        buf[o++] = (char)(v >> 8 & 0xff);
        buf[o++] = (char)(v & 0xff);
    }
    uint32_t acc = 0;
    int bits = 0;
    for (; i < slen; i++) {
        int v = b64_table[u[i]];
        if (v < 0) {
            free(buf);
            return cr_error(err, CR_EPARSE, "base64: bad character at offset %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)(acc >> bits & 0xff);
        }
    }
    buf[o] = '\0';
    *out = buf;
    if (outlen)
        *outlen = o;
    return 0;
}

char *store_prefix_end(const char *prefix, size_t len, size_t *end_len)
{
    char *end = xmalloc(len + 1);

    memcpy(end, prefix, len);
    while (len > 0) {
        unsigned char c = (unsigned char)end[len - 1];
        if (c < 0xff) {
            end[len - 1] = (char)(c + 1);
            end[len] = '\0';
            *end_len = len;
            return end;
        }
        len--;
    }
    end[0] = '\0';
    *end_len = 1; /* "\0": to the end of the keyspace */
    return end;
}

int store_json_int64(const json_t *obj, const char *field, int64_t *out)
{
    const json_t *v = obj ? json_object_get(obj, field) : NULL;

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        return store_int64_text(json_string_value(v), out);
    return -1;
}

int store_int64_text(const char *s, int64_t *out)
{
    char *end;
    long long n;

    *out = 0;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno == ERANGE && *s != '-') {
        /* member ids are uint64: keep their bits */
        errno = 0;
        n = (long long)strtoull(s, &end, 10);
    }
    if (errno || end == s || *end)
        return -1;
    *out = n;
    return 0;
}

/* --- decoding -------------------------------------------------------------------- */

static int b64_field(const json_t *j, const char *field, char **out, size_t *len, cr_err *err)
{
    const json_t *v = json_object_get(j, field);

    *out = NULL;
    if (len)
        *len = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return cr_error(err, CR_EPARSE, "etcd answer: %s is not a string", field);
    if (store_b64_decode(json_string_value(v), json_string_length(v), out, len, err) < 0) {
        cr_err_prefix(err, "etcd answer: %s: ", field);
        return -1;
    }
    return 0;
}

void store_kv_release(store_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void store_kv_copy(store_kv *dst, const store_kv *src)
{
    *dst = *src;
    dst->key = xstrdup(src->key);
    dst->value = NULL;
    if (src->value) {
        dst->value = xmalloc(src->value_len + 1);
        memcpy(dst->value, src->value, src->value_len);
        dst->value[src->value_len] = '\0';
    }
}

int store_kv_parse(const json_t *j, store_kv *out, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return cr_error(err, CR_EPARSE, "etcd answer: kv is not an object");
    if (b64_field(j, "key", &out->key, NULL, err) < 0)
        goto fail;
    if (!out->key)
        out->key = xstrdup("");
    if (b64_field(j, "value", &out->value, &out->value_len, err) < 0)
        goto fail;
    if (!out->value)
        out->value = xstrdup("");
    if (store_json_int64(j, "create_revision", &out->create_revision) < 0 ||
        store_json_int64(j, "mod_revision", &out->mod_revision) < 0 ||
        store_json_int64(j, "version", &out->version) < 0 ||
        store_json_int64(j, "lease", &out->lease) < 0) {
        cr_error(err, CR_EPARSE, "etcd answer: kv has a malformed revision");
        goto fail;
    }
    return 0;
fail:
    store_kv_release(out);
    return -1;
}

static int parse_kvs(const json_t *arr, store_kv **kvs, size_t *n, cr_err *err)
{
    size_t i;

    *kvs = NULL;
    *n = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return cr_error(err, CR_EPARSE, "etcd answer: kvs is not an array");
    *kvs = xcalloc(json_array_size(arr) + 1, sizeof(**kvs));
    for (i = 0; i < json_array_size(arr); i++) {
        if (store_kv_parse(json_array_get(arr, i), &(*kvs)[i], err) < 0)
            goto fail;
        (*n)++;
    }
    return 0;
fail:
    for (i = 0; i < *n; i++)
        store_kv_release(&(*kvs)[i]);
    free(*kvs);
    *kvs = NULL;
    *n = 0;
    return -1;
}

void store_result_release(store_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nkvs; i++)
        store_kv_release(&r->kvs[i]);
    free(r->kvs);
    for (size_t i = 0; i < r->nops; i++)
        store_result_release(&r->ops[i]);
    free(r->ops);
    free((char *)r->version);
    memset(r, 0, sizeof(*r));
}

static int parse_body(const json_t *j, store_result *out, bool txn, cr_err *err)
{
    const json_t *hdr = json_object_get(j, "header");
    const json_t *v;
    int64_t more = 0;

    if (!json_is_object(j))
        return cr_error(err, CR_EPARSE, "etcd answer: not an object");
    if (store_json_int64(hdr, "revision", &out->revision) < 0 ||
        store_json_int64(j, "count", &out->count) < 0 ||
        store_json_int64(j, "deleted", &out->deleted) < 0 ||
        store_json_int64(j, "ID", &out->lease_id) < 0 ||
        store_json_int64(j, "TTL", &out->ttl) < 0 ||
        store_json_int64(j, "leader", &out->leader) < 0 ||
        store_json_int64(j, "dbSize", &out->db_size) < 0 ||
        store_json_int64(hdr, "member_id", &out->member_id) < 0)
        return cr_error(err, CR_EPARSE, "etcd answer: malformed number");
    v = json_object_get(j, "more");
    more = v && json_is_true(v);
    out->more = more;
    v = json_object_get(j, "succeeded");
    out->succeeded = txn ? json_is_true(v) : true;
    v = json_object_get(j, "version");
    if (json_is_string(v))
        out->version = xstrdup(json_string_value(v));
    if (parse_kvs(json_object_get(j, "kvs"), &out->kvs, &out->nkvs, err) < 0)
        return -1;
    if (!out->nkvs && (v = json_object_get(j, "prev_kvs")))
        if (parse_kvs(v, &out->kvs, &out->nkvs, err) < 0)
            return -1;
    if (!out->nkvs && (v = json_object_get(j, "prev_kv"))) {
        out->kvs = xcalloc(1, sizeof(*out->kvs));
        if (store_kv_parse(v, &out->kvs[0], err) < 0)
            return -1;
        out->nkvs = 1;
    }
    v = json_object_get(j, "responses");
    if (v) {
        if (!json_is_array(v))
            return cr_error(err, CR_EPARSE, "etcd answer: responses is not an array");
        out->ops = xcalloc(json_array_size(v) + 1, sizeof(*out->ops));
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *r = json_array_get(v, i);
            const json_t *inner = json_object_get(r, "response_range");

            if (!inner)
                inner = json_object_get(r, "response_put");
            if (!inner)
                inner = json_object_get(r, "response_delete_range");
            if (!inner)
                inner = json_object_get(r, "response_txn");
            if (!inner)
                return cr_error(err, CR_EPARSE, "etcd answer: unknown txn response");
            out->nops++;
            if (parse_body(inner, &out->ops[i], false, err) < 0)
                return -1;
            if (!out->ops[i].revision)
                out->ops[i].revision = out->revision;
        }
    }
    return 0;
}

int store_result_parse(const json_t *j, bool txn, store_result *out, cr_err *err)
{
    const json_t *res = json_object_get(j, "result"); /* lease keepalive is a stream */

    memset(out, 0, sizeof(*out));
    if (json_is_object(res) && !json_object_get(j, "header"))
        j = res;
    if (parse_body(j, out, txn, err) < 0) {
        store_result_release(out);
        return -1;
    }
    return 0;
}

int store_result_parse_text(const char *body, size_t len, bool txn, store_result *out,
                            cr_err *err)
{
    json_error_t jerr;
    json_t *j;
    int rc;

    if (!txn && store_gw_range_parse(body, len, out) == 0)
        return 0;
    j = json_loadb(body, len, 0, &jerr);
    if (!j) {
        memset(out, 0, sizeof(*out));
        return cr_error(err, CR_EPARSE, "etcd answer: bad JSON: %s", jerr.text);
    }
    rc = store_result_parse(j, txn, out, err);
    json_decref(j);
    return rc;
}

int store_etcd_error(long http_status, const char *body, size_t len, cr_err *err)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *e = j ? json_object_get(j, "error") : NULL;
    const char *msg = NULL;
    json_int_t code = -1;

    if (json_is_object(e)) { /* a stream's error: {"error":{"grpc_code",...}} */
        code = json_integer_value(json_object_get(e, "grpc_code"));
        msg = json_string_value(json_object_get(e, "message"));
    } else if (j) {
        const json_t *cj = json_object_get(j, "code");
        if (json_is_integer(cj))
            code = json_integer_value(cj);
        msg = json_string_value(json_object_get(j, "message"));
        if (!msg)
            msg = json_string_value(e);
    }
    if (!msg) {
        cr_error(err, CR_EETCD, "etcd http status %ld: %.200s", http_status, body ? body : "");
        json_decref(j);
        return -1;
    }
    store_etcd_error_code((int)code, msg, err);
    json_decref(j);
    return -1;
}

int store_etcd_error_code(int code, const char *msg, cr_err *err)
{
    cr_code c = CR_EETCD;

    switch (code) {
    case 3: /* InvalidArgument */
        c = strstr(msg, "too large") || strstr(msg, "too many") ? CR_ETOOLARGE : CR_EINVAL;
        break;
    case 4:
        c = CR_ETIMEOUT;
        break;
    case 5:
        c = CR_ENOTFOUND;
        break;
    case 7:
    case 16:
        c = CR_EFORBIDDEN;
        break;
    case 8:
        c = CR_ETOOLARGE;
        break;
    case 11: /* OutOfRange: compacted or future revision */
        c = CR_EETCD;
        break;
    case 14:
        c = CR_EUNAVAIL;
        break;
    default:
        break;
    }
    return cr_error(err, c, "etcd code %d: %s", code, msg);
}

int store_err_grpc_code(const cr_err *err)
{
    int code;

    if (!err || sscanf(err->detail, "etcd code %d:", &code) != 1)
        return -1;
    return code;
}

bool store_err_compacted(const cr_err *err)
{
    return err && store_err_grpc_code(err) == 11 && strstr(err->detail, "compacted");
}

/* --- watch ---------------------------------------------------------------------------- */

void store_watch_msg_release(store_watch_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nevents; i++) {
        store_kv_release(&m->events[i].kv);
        store_kv_release(&m->events[i].prev);
    }
    free(m->events);
    free(m->cancel_reason);
    memset(m, 0, sizeof(*m));
}

int store_watch_msg_parse(const char *line, size_t len, store_watch_msg *out, cr_err *err)
{
    if (store_gw_watch_parse(line, len, out) == 0)
        return 0;
    return store_watch_msg_parse_tree(line, len, out, err);
}

int store_watch_msg_parse_tree(const char *line, size_t len, store_watch_msg *out, cr_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    const json_t *r, *evs, *v;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!j)
        return cr_error(err, CR_EPARSE, "etcd watch: %s", jerr.text);
    if (json_object_get(j, "error")) {
        out->is_error = true;
        store_etcd_error(200, line, len, &out->err);
        rc = 0;
        goto out;
    }
    r = json_object_get(j, "result");
    if (!json_is_object(r)) {
        cr_error(err, CR_EPARSE, "etcd watch: no result");
        goto out;
    }
    if (store_json_int64(json_object_get(r, "header"), "revision", &out->revision) < 0 ||
        store_json_int64(r, "compact_revision", &out->compact_revision) < 0) {
        cr_error(err, CR_EPARSE, "etcd watch: malformed revision");
        goto out;
    }
    out->created = json_is_true(json_object_get(r, "created"));
    out->canceled = json_is_true(json_object_get(r, "canceled"));
    v = json_object_get(r, "cancel_reason");
    if (json_is_string(v))
        out->cancel_reason = xstrdup(json_string_value(v));
    evs = json_object_get(r, "events");
    if (evs) {
        if (!json_is_array(evs)) {
            cr_error(err, CR_EPARSE, "etcd watch: events is not an array");
            goto out;
        }
        out->events = xcalloc(json_array_size(evs) + 1, sizeof(*out->events));
        for (size_t i = 0; i < json_array_size(evs); i++) {
            const json_t *e = json_array_get(evs, i);
            store_event *ev = &out->events[i];
            const char *type = json_string_value(json_object_get(e, "type"));

            ev->type = type && strcmp(type, "DELETE") == 0 ? STORE_EV_DELETE : STORE_EV_PUT;
            if (store_kv_parse(json_object_get(e, "kv"), &ev->kv, err) < 0)
                goto bad_event;
            if (json_object_get(e, "prev_kv") &&
                store_kv_parse(json_object_get(e, "prev_kv"), &ev->prev, err) < 0) {
                store_kv_release(&ev->kv);
                goto bad_event;
            }
            if (ev->type == STORE_EV_DELETE) {
                free(ev->kv.value);
                ev->kv.value = NULL;
                ev->kv.value_len = 0;
            }
            out->nevents++;
        }
    }
    rc = 0;
    goto out;
bad_event:
    store_watch_msg_release(out);
out:
    json_decref(j);
    return rc;
}

int64_t store_watch_resume_rev(int64_t current, bool started_from_now, const store_watch_msg *m)
{
    int64_t next = current;

    if (m->is_error || m->canceled)
        return current;
    if (m->nevents) {
        int64_t last = m->events[m->nevents - 1].kv.mod_revision;
        if (last + 1 > next)
            next = last + 1;
    } else if (!m->created || (started_from_now && current == 0)) {
        if (m->revision + 1 > next)
            next = m->revision + 1;
    }
    return next;
}

/* --- paging --------------------------------------------------------------------------- */

static void set_bytes(char **dst, size_t *dst_len, const char *src, size_t len)
{
    char *d = xmalloc(len + 1);
    memcpy(d, src, len);
    d[len] = '\0';
    free(*dst);
    *dst = d;
    *dst_len = len;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

void store_pager_init(store_pager *p, const char *prefix, size_t limit)
{
    memset(p, 0, sizeof(*p));
    p->base = strlen(prefix);
    set_bytes(&p->from, &p->from_len, prefix, p->base);
    p->end = store_prefix_end(prefix, p->base, &p->end_len);
    set_bytes(&p->until, &p->until_len, p->end, p->end_len);
    p->limit = limit ? limit : 1;
}

void store_pager_release(store_pager *p)
{
    free(p->from);
    free(p->until);
    free(p->end);
    free(p->a);
    free(p->b);
    memset(p, 0, sizeof(*p));
}

/* The digits position i (after the prefix) holds: the bytes seen there. */
static unsigned radix_at(const store_pager *p, size_t i)
{
    return p->seen[i] ? (unsigned)(p->hi[i] - p->lo[i]) + 1 : 1;
}

/* The digit key holds at position i: the byte less the least seen there,
 * within what was seen; a key that has ended holds 0. */
static unsigned digit(const store_pager *p, const char *key, size_t len, size_t i)
{
    unsigned c;

    if (p->base + i >= len || !p->seen[i])
        return 0;
    c = (unsigned char)key[p->base + i];
    return c <= p->lo[i] ? 0 : c >= p->hi[i] ? radix_at(p, i) - 1 : c - p->lo[i];
}

/* key as a number over positions [lo, hi) after the prefix. */
static double key_number(const store_pager *p, const char *key, size_t len, size_t lo, size_t hi)
{
    double v = 0;

    for (size_t i = lo; i < hi; i++)
        v = v * radix_at(p, i) + digit(p, key, len, i);
    return v;
}

/* The guessed end of the page from p->from (caller frees; *len its
 * length), or NULL. The positions from where the last page's first and
 * last keys part are read as a number, and p->from is moved on by as much
 * as that page took per key, limit keys and a quarter more (twice that
 * after a thin page);
 * what overflows those positions is carried into the bytes before them
 * (an id whose digits ran out: "svc00999" -> "svc01..."). */
static char *guess_until(const store_pager *p, size_t *len)
{
    size_t pos = 0, hi, n;
    double span, w, target, whole, carry, weight[STORE_PAGER_SPAN];
    unsigned radix[STORE_PAGER_SPAN];
    char *g;

    /* two thin pages in a row: the keys here are not like the last
     * ones (another part of the layout); one page up to the end learns
     * them */
    if (!p->a || p->k < 2 || p->thin > 1)
        return NULL;
    while (pos < p->a_len && pos < p->b_len && p->a[pos] == p->b[pos])
        pos++;
    if (pos <= p->base || pos >= p->base + STORE_PAGER_SPAN || p->from_len < pos)
        return NULL;
    pos -= p->base;
    hi = pos + 10 < STORE_PAGER_SPAN ? pos + 10 : STORE_PAGER_SPAN;
    span = key_number(p, p->b, p->b_len, pos, hi) - key_number(p, p->a, p->a_len, pos, hi);
    if (span <= 0)
        return NULL;
    w = span / (double)(p->k - 1) * (double)p->limit * 1.25 * (p->thin ? 2 : 1);
    target = key_number(p, p->from, p->from_len, pos, hi) + (w < 1 ? 1 : w);
    for (size_t i = hi; i-- > pos;) {
        radix[i] = radix_at(p, i);
        weight[i] = i + 1 < hi ? weight[i + 1] * radix[i + 1] : 1;
    }
    whole = weight[pos] * radix[pos];
    carry = floor(target / whole);
    target -= carry * whole;
    n = p->base + hi;
    g = xmalloc(n + 1);
    memcpy(g, p->from, p->base + pos);
    /* the carry, into from's bytes before the positions: each a digit of
     * what its position held (a byte where from's is something else) */
    for (size_t i = pos; carry > 0 && i-- > 0;) {
        unsigned char c = (unsigned char)g[p->base + i];
        bool in = p->seen[i] && c >= p->lo[i] && c <= p->hi[i];
        double r = in ? radix_at(p, i) : 256, v = (in ? c - p->lo[i] : c) + carry;
        carry = floor(v / r);
        g[p->base + i] = (char)(unsigned char)((in ? p->lo[i] : 0) + (v - carry * r));
    }
    if (carry > 0) {
        free(g); /* past every key of the prefix's shape: up to the end */
        return NULL;
    }
    for (size_t i = pos; i < hi; i++) {
        double d = floor(target / weight[i]);
        unsigned di = d >= radix[i] ? radix[i] - 1 : (unsigned)d;
        target -= di * weight[i];
        g[p->base + i] = (char)(p->seen[i] ? p->lo[i] + di : 0);
    }
    while (n > p->base && g[n - 1] == '\0')
        n--;
    g[n] = '\0';
    if (bytes_cmp(g, n, p->from, p->from_len) <= 0 || bytes_cmp(g, n, p->end, p->end_len) >= 0) {
        free(g);
        return NULL;
    }
    *len = n;
    return g;
}

/* Learns the bytes at each position from the keys of a page (of 2 keys or
 * more: what the next keys look like is what the last ones did, not what
 * keys elsewhere under the prefix do). */
static void learn(store_pager *p, const store_kv *kvs, size_t n)
{
    if (n < 2)
        return;
    memset(p->seen, 0, sizeof(p->seen));
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(kvs[k].key);
        for (size_t i = 0; p->base + i < len && i < STORE_PAGER_SPAN; i++) {
            unsigned char c = (unsigned char)kvs[k].key[p->base + i];
            if (!p->seen[i] || c < p->lo[i])
                p->lo[i] = c;
            if (!p->seen[i] || c > p->hi[i])
                p->hi[i] = c;
            p->seen[i] = true;
        }
    }
    /* a position of digits holds all ten (ids count in tens, and a page
     * of svc00000..svc00049 has not seen the 5 yet), of letters all 26 */
    for (size_t i = 0; i < STORE_PAGER_SPAN && p->seen[i]; i++) {
        static const unsigned char classes[][2] = {{'0', '9'}, {'a', 'z'}, {'A', 'Z'}, {'0', 'z'}};
        for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
            if (p->lo[i] >= classes[c][0] && p->hi[i] <= classes[c][1]) {
                p->lo[i] = classes[c][0];
                p->hi[i] = classes[c][1];
                break;
            }
        }
    }
}

bool store_pager_next(store_pager *p, const store_kv *kvs, size_t n, bool more)
{
    size_t glen = 0;
    char *g;

    learn(p, kvs, n);
    if (n >= 2) {
        set_bytes(&p->a, &p->a_len, kvs[0].key, strlen(kvs[0].key));
        set_bytes(&p->b, &p->b_len, kvs[n - 1].key, strlen(kvs[n - 1].key));
        p->k = n;
    }
    /* a thin page: keys are sparser here than the guess took them to be */
    p->thin = n * 2 < p->limit ? p->thin + 1 : 0;
    if (more && n) {
        /* the last key and its NUL byte: the smallest key after it */
        set_bytes(&p->from, &p->from_len, kvs[n - 1].key, strlen(kvs[n - 1].key) + 1);
    } else if (!more && bytes_cmp(p->until, p->until_len, p->end, p->end_len) < 0) {
        /* all of [from, until) read: on from the guess */
        set_bytes(&p->from, &p->from_len, p->until, p->until_len);
    } else {
        return false;
    }
    if ((g = guess_until(p, &glen))) {
        free(p->until);
        p->until = g;
        p->until_len = glen;
    } else {
        set_bytes(&p->until, &p->until_len, p->end, p->end_len);
    }
    return true;
}

/* --- transactions ------------------------------------------------------------------------ */

static const char *cmp_op_name(store_cmp_op op)
{
    switch (op) {
    case STORE_EQ:
        return "EQUAL";
    case STORE_NE:
        return "NOT_EQUAL";
    case STORE_LT:
        return "LESS";
    case STORE_GT:
        return "GREATER";
    }
    return "EQUAL";
}

static json_t *b64_json(const char *data, size_t len)
{
    char *b = store_b64_encode(data, len);
    json_t *j = json_string(b);

    free(b);
    return j;
}

static json_t *i64_json(int64_t n)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, n);
    return json_string(buf);
}

static void add_range_end(json_t *o, const char *key, bool prefix)
{
    size_t elen;
    char *end;

    if (!prefix)
        return;
    end = store_prefix_end(key, strlen(key), &elen);
    json_object_set_new(o, "range_end", b64_json(end, elen));
    free(end);
}

/* The txn body is written straight into a buffer, not built as a jansson
 * tree: every fenced write goes through here, and at 100,000 tasks the
 * tree and its dump were a tenth of corrald's CPU. Every string written is
 * base64, a decimal or a fixed name, so nothing needs escaping. */
static void w_b64(cr_buf *b, const char *name, const void *data, size_t len)
{
    cr_buf_addch(b, '"');
    cr_buf_adds(b, name);
    cr_buf_adds(b, "\":\"");
    cr_buf_grow(b, (len + 2) / 3 * 4 + 2);
    b->len += b64_into(b->data + b->len, data, len);
    cr_buf_addch(b, '"');
}

static void w_i64(cr_buf *b, const char *name, int64_t n)
{
    cr_buf_addf(b, ",\"%s\":\"%" PRId64 "\"", name, n);
}

static void w_range_end(cr_buf *b, const char *key, bool prefix)
{
    size_t elen;
    char *end;

    if (!prefix)
        return;
    end = store_prefix_end(key, strlen(key), &elen);
    cr_buf_addch(b, ',');
    w_b64(b, "range_end", end, elen);
    free(end);
}

static void w_op(cr_buf *b, const store_op *op)
{
    static const char *const names[] = {
        [STORE_OP_RANGE] = "request_range",
        [STORE_OP_PUT] = "request_put",
        [STORE_OP_DELETE] = "request_delete_range",
    };

    cr_buf_adds(b, "{\"");
    cr_buf_adds(b, names[op->kind]);
    cr_buf_adds(b, "\":{");
    w_b64(b, "key", op->key, strlen(op->key));
    switch (op->kind) {
    case STORE_OP_PUT:
        cr_buf_addch(b, ',');
        w_b64(b, "value", op->value, op->value_len);
        if (op->lease)
            w_i64(b, "lease", op->lease);
        break;
    case STORE_OP_DELETE:
    case STORE_OP_RANGE:
        w_range_end(b, op->key, op->prefix);
        break;
    }
    if (op->prev_kv && op->kind != STORE_OP_RANGE)
        cr_buf_adds(b, ",\"prev_kv\":true");
    cr_buf_adds(b, "}}");
}

static void w_cmp(cr_buf *b, const store_cmp *c)
{
    cr_buf_addch(b, '{');
    w_b64(b, "key", c->key, strlen(c->key));
    cr_buf_adds(b, ",\"result\":\"");
    cr_buf_adds(b, cmp_op_name(c->op));
    cr_buf_addch(b, '"');
    switch (c->target) {
    case STORE_TGT_VERSION:
        cr_buf_adds(b, ",\"target\":\"VERSION\"");
        w_i64(b, "version", c->n);
        break;
    case STORE_TGT_CREATE:
        cr_buf_adds(b, ",\"target\":\"CREATE\"");
        w_i64(b, "create_revision", c->n);
        break;
    case STORE_TGT_MOD:
        cr_buf_adds(b, ",\"target\":\"MOD\"");
        w_i64(b, "mod_revision", c->n);
        break;
    case STORE_TGT_VALUE:
        cr_buf_adds(b, ",\"target\":\"VALUE\",");
        w_b64(b, "value", c->value, c->value_len);
        break;
    }
    cr_buf_addch(b, '}');
}

static char *dump(json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT);

    if (!s)
        abort(); /* only on OOM */
    if (len)
        *len = strlen(s);
    json_decref(j);
    return s;
}

size_t store_txn_nops(const store_txn *t)
{
    size_t nels = t->nels + (t->fence_key ? 1 : 0);
    return t->nthen > nels ? t->nthen : nels;
}

int store_txn_check(const store_txn *t, cr_err *err)
{
    size_t ncmps = t->ncmps + (t->fence_key ? 1 : 0);

    for (size_t i = 0; i < t->nthen; i++)
        if (!t->then[i].key[0])
            return cr_error(err, CR_EINVAL, "etcd txn: empty key");
    if (store_txn_nops(t) > STORE_MAX_TXN_OPS || ncmps > STORE_MAX_TXN_OPS)
        return cr_error(err, CR_ETOOLARGE, "etcd txn: %zu ops and %zu compares, limit %d",
                        store_txn_nops(t), ncmps, STORE_MAX_TXN_OPS);
    if (t->bytes > STORE_MAX_REQUEST_BYTES)
        return cr_error(err, CR_ETOOLARGE, "etcd txn: %zu bytes, limit %d", t->bytes,
                        STORE_MAX_REQUEST_BYTES);
    return 0;
}

char *store_txn_encode(const store_txn *t, size_t *len)
{
    cr_buf b = CR_BUF_INIT;

    /* keys and values grow by a third in base64; 96 bytes of names an op */
    cr_buf_grow(&b, t->bytes / 3 * 4 + 96 * (t->ncmps + t->nthen + t->nels + 2) + 64);
    cr_buf_adds(&b, "{\"compare\":[");
    for (size_t i = 0; i < t->ncmps; i++) {
        if (i)
            cr_buf_addch(&b, ',');
        w_cmp(&b, &t->cmps[i]);
    }
    if (t->fence_key) {
        store_cmp fc = {
            .key = t->fence_key, .target = STORE_TGT_CREATE, .op = STORE_EQ, .n = t->fence_rev};
        if (t->ncmps)
            cr_buf_addch(&b, ',');
        w_cmp(&b, &fc);
    }
    cr_buf_adds(&b, "],\"success\":[");
    for (size_t i = 0; i < t->nthen; i++) {
        if (i)
            cr_buf_addch(&b, ',');
        w_op(&b, &t->then[i]);
    }
    cr_buf_adds(&b, "],\"failure\":[");
    for (size_t i = 0; i < t->nels; i++) {
        if (i)
            cr_buf_addch(&b, ',');
        w_op(&b, &t->els[i]);
    }
    if (t->fence_key) {
        store_op get = {.kind = STORE_OP_RANGE, .key = t->fence_key};
        if (t->nels)
            cr_buf_addch(&b, ',');
        w_op(&b, &get);
    }
    cr_buf_adds(&b, "]}");
    return cr_buf_detach(&b, len);
}

bool store_txn_fence_lost(const store_txn *t, const store_result *res)
{
    const store_result *last;

    if (!t->fence_key || res->succeeded || res->nops == 0)
        return false;
    last = &res->ops[res->nops - 1];
    return last->nkvs == 0 || last->kvs[0].create_revision != t->fence_rev;
}

static bool same_cmp(const store_cmp *a, const store_cmp *b)
{
    return a->target == b->target && a->op == b->op && a->n == b->n &&
           strcmp(a->key, b->key) == 0 && a->value_len == b->value_len &&
           (a->value_len == 0 || memcmp(a->value, b->value, a->value_len) == 0);
}

static char *dupmem(const char *p, size_t len)
{
    char *d;

    if (!p)
        return NULL;
    d = xmalloc(len + 1);
    memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

void store_txn_merge(store_txn *dst, const store_txn *src)
{
    for (size_t i = 0; i < src->ncmps; i++) {
        const store_cmp *c = &src->cmps[i];
        bool dup = false;

        for (size_t k = 0; k < dst->ncmps && !dup; k++)
            dup = same_cmp(&dst->cmps[k], c);
        if (dup)
            continue;
        if (dst->ncmps == dst->capcmps) {
            dst->capcmps = dst->capcmps ? dst->capcmps * 2 : 8;
            dst->cmps = xrealloc(dst->cmps, dst->capcmps * sizeof(*dst->cmps));
        }
        dst->cmps[dst->ncmps] = *c;
        dst->cmps[dst->ncmps].key = xstrdup(c->key);
        dst->cmps[dst->ncmps].value = dupmem(c->value, c->value_len);
        dst->ncmps++;
    }
    for (size_t i = 0; i < src->nthen; i++) {
        const store_op *op = &src->then[i];

        if (dst->nthen == dst->capthen) {
            dst->capthen = dst->capthen ? dst->capthen * 2 : 8;
            dst->then = xrealloc(dst->then, dst->capthen * sizeof(*dst->then));
        }
        dst->then[dst->nthen] = *op;
        dst->then[dst->nthen].key = xstrdup(op->key);
        dst->then[dst->nthen].value = dupmem(op->value, op->value_len);
        dst->nthen++;
    }
    if (src->fence_key && !dst->fence_key) {
        dst->fence_key = xstrdup(src->fence_key);
        dst->fence_rev = src->fence_rev;
    }
    dst->bytes += src->bytes;
}

char *store_range_encode(const char *key, size_t key_len, const char *range_end, size_t end_len,
                         int64_t revision, int64_t limit)
{
    json_t *o = json_object();

    json_object_set_new(o, "key", b64_json(key, key_len));
    if (range_end)
        json_object_set_new(o, "range_end", b64_json(range_end, end_len));
    if (revision)
        json_object_set_new(o, "revision", i64_json(revision));
    if (limit)
        json_object_set_new(o, "limit", i64_json(limit));
    return dump(o, NULL);
}

char *store_put_encode(const char *key, const void *value, size_t len, const store_put_opts *opts)
{
    json_t *o = json_object();

    json_object_set_new(o, "key", b64_json(key, strlen(key)));
    json_object_set_new(o, "value", b64_json(value, len));
    if (opts && opts->lease)
        json_object_set_new(o, "lease", i64_json(opts->lease));
    if (opts && opts->prev_kv)
        json_object_set_new(o, "prev_kv", json_true());
    return dump(o, NULL);
}

char *store_delete_encode(const char *key, bool prefix, bool prev_kv)
{
    json_t *o = json_object();

    json_object_set_new(o, "key", b64_json(key, strlen(key)));
    add_range_end(o, key, prefix);
    if (prev_kv)
        json_object_set_new(o, "prev_kv", json_true());
    return dump(o, NULL);
}

/* --- batching ------------------------------------------------------------------------------- */

static bool any_key_in(const store_batch_item *it, const store_map *m)
{
    for (size_t i = 0; m && i < it->nkeys; i++)
        if (store_map_has(m, it->keys[i]))
            return true;
    return false;
}

static void add_keys(store_map *m, const store_batch_item *it)
{
    for (size_t i = 0; i < it->nkeys; i++)
        store_map_put(m, it->keys[i], NULL);
}

size_t store_batch_pick(const store_batch_item *items, size_t n, bool in_order,
                        const store_map *busy, bool idle, size_t max_ops, size_t max_bytes,
                        bool *take)
{
    store_map *held = store_map_new();  /* keys of the writes taken */
    store_map *waits = store_map_new(); /* keys of earlier writes left queued */
    size_t ntaken = 0, ops = 0, cmps = 0, bytes = 0;
    bool skipped = false;

    for (size_t i = 0; i < n; i++)
        take[i] = false;
    for (size_t i = 0; i < n; i++) {
        const store_batch_item *it = &items[i];
        bool alone = it->solo || it->nops > max_ops || it->ncmps > max_ops || it->bytes > max_bytes;

        if (it->solo) {
            /* a range may cover any key: it goes after everything queued
             * before it and in flight, and before everything after it */
            if (!ntaken && !skipped && idle) {
                take[i] = true;
                ntaken = 1;
            }
            break;
        }
        if (any_key_in(it, busy) || any_key_in(it, waits) ||
            (ntaken && (alone || any_key_in(it, held) || ops + it->nops > max_ops ||
                        cmps + it->ncmps > max_ops || bytes + it->bytes > max_bytes))) {
            if (in_order)
                break;
            add_keys(waits, it);
            skipped = true;
            continue;
        }
        take[i] = true;
        ntaken++;
        if (alone)
            break;
        add_keys(held, it);
        ops += it->nops;
        cmps += it->ncmps;
        bytes += it->bytes;
        if (ops >= max_ops || cmps >= max_ops)
            break;
    }
    store_map_free(held);
    store_map_free(waits);
    return ntaken;
}
