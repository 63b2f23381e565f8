/* store pb: etcd's KV.Txn and Watch.Watch calls in protobuf, framed for
 * gRPC.
 *
 * Txns (and, when asked, watches) go to etcd's gRPC service, not its JSON
 * gateway: the gateway decodes a txn's JSON by scanning every byte of it
 * once per nesting level (values are base64 strings five levels down), and
 * encodes every watch event as JSON through reflection; together that was
 * most of etcd's CPU while corrald converged, several times what the same
 * work costs as protobuf (docs/architecture.md#etcd-over-grpc). Only what Corral
 * sends and reads is here: the TxnRequest of a store_txn and its
 * TxnResponse as a store_result; a WatchRequest that creates one watch and
 * each WatchResponse as a store_watch_msg. Each reads into what the
 * gateway's JSON of the same answer gives (itest_client.c runs the same
 * txns and watches both ways against a real etcd; test_pb.c checks the
 * encoding and the readers byte by byte).
 *
 * Field numbers are those of etcd's rpc.proto and kv.proto (API v3). */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "store/codec.h"

/* --- writing ----------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static size_t vlen(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void wv(cr_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;

    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    cr_buf_add(b, tmp, n);
}

/* Each writer returns the bytes it writes; with b NULL it only counts
 * them, which is how a message learns the length its parent prefixes. */
static size_t f_varint(cr_buf *b, unsigned field, uint64_t v)
{
    if (b) {
        wv(b, (uint64_t)field << 3 | WT_VARINT);
        wv(b, v);
    }
    return vlen((uint64_t)field << 3) + vlen(v);
}

static size_t f_head(cr_buf *b, unsigned field, size_t len)
{
    if (b) {
        wv(b, (uint64_t)field << 3 | WT_LEN);
        wv(b, len);
    }
    return vlen((uint64_t)field << 3 | WT_LEN) + vlen(len);
}

static size_t f_bytes(cr_buf *b, unsigned field, const void *p, size_t len)
{
    size_t n = f_head(b, field, len);

    if (b)
        cr_buf_add(b, p, len);
    return n + len;
}

/* RequestOp's field, which is also the kind of its request. */
static unsigned op_field(store_op_kind k)
{
    switch (k) {
    case STORE_OP_RANGE:
        return 1;
    case STORE_OP_PUT:
        return 2;
    case STORE_OP_DELETE:
        return 3;
    }
    return 1;
}

/* RangeRequest, PutRequest or DeleteRangeRequest; end: the prefix's range
 * end, or NULL. */
static size_t w_request(cr_buf *b, const store_op *op, const char *end, size_t elen)
{
    size_t n = f_bytes(b, 1, op->key, strlen(op->key));

    switch (op->kind) {
    case STORE_OP_PUT:
        n += f_bytes(b, 2, op->value, op->value_len);
        if (op->lease)
            n += f_varint(b, 3, (uint64_t)op->lease);
        if (op->prev_kv)
            n += f_varint(b, 4, 1);
        break;
    case STORE_OP_DELETE:
        if (end)
            n += f_bytes(b, 2, end, elen);
        if (op->prev_kv)
            n += f_varint(b, 3, 1);
        break;
    case STORE_OP_RANGE:
        if (end)
            n += f_bytes(b, 2, end, elen);
        break;
    }
    return n;
}

/* One RequestOp as field `field` (2: success, 3: failure) of TxnRequest. */
static void w_request_op(cr_buf *b, unsigned field, const store_op *op)
{
    char *end = NULL;
    size_t elen = 0, inner;

    if (op->prefix && op->kind != STORE_OP_PUT)
        end = store_prefix_end(op->key, strlen(op->key), &elen);
    inner = w_request(NULL, op, end, elen);
    f_head(b, field, f_head(NULL, op_field(op->kind), inner) + inner);
    f_head(b, op_field(op->kind), inner);
    w_request(b, op, end, elen);
    free(end);
}

static uint64_t cmp_result(store_cmp_op op)
{
    switch (op) {
    case STORE_EQ:
        return 0;
    case STORE_GT:
        return 1;
    case STORE_LT:
        return 2;
    case STORE_NE:
        return 3;
    }
    return 0;
}

static size_t w_compare(cr_buf *b, const store_cmp *c)
{
    size_t n = 0;

    if (cmp_result(c->op))
        n += f_varint(b, 1, cmp_result(c->op));
    switch (c->target) {
    case STORE_TGT_VERSION: /* target VERSION is 0: not written */
        n += f_bytes(b, 3, c->key, strlen(c->key));
        n += f_varint(b, 4, (uint64_t)c->n);
        break;
    case STORE_TGT_CREATE:
        n += f_varint(b, 2, 1);
        n += f_bytes(b, 3, c->key, strlen(c->key));
        n += f_varint(b, 5, (uint64_t)c->n);
        break;
    case STORE_TGT_MOD:
        n += f_varint(b, 2, 2);
        n += f_bytes(b, 3, c->key, strlen(c->key));
        n += f_varint(b, 6, (uint64_t)c->n);
        break;
    case STORE_TGT_VALUE:
        n += f_varint(b, 2, 3);
        n += f_bytes(b, 3, c->key, strlen(c->key));
        n += f_bytes(b, 7, c->value, c->value_len);
        break;
    }
    return n;
}

static void w_compare_field(cr_buf *b, const store_cmp *c)
{
    f_head(b, 1, w_compare(NULL, c));
    w_compare(b, c);
}

/* The frame's length, once the message after its 5 bytes is written. */
static void frame_close(cr_buf *b)
{
    size_t n = b->len - 5;

    b->data[1] = (char)(n >> 24 & 0xff);
    b->data[2] = (char)(n >> 16 & 0xff);
    b->data[3] = (char)(n >> 8 & 0xff);
    b->data[4] = (char)(n & 0xff);
}

char *store_txn_encode_pb(const store_txn *t, size_t *len)
{
    cr_buf b = CR_BUF_INIT;

    cr_buf_grow(&b, t->bytes + 24 * (t->ncmps + t->nthen + t->nels + 2) + 16);
    cr_buf_add(&b, "\0\0\0\0\0", 5); /* the gRPC frame: not compressed, length */
    for (size_t i = 0; i < t->ncmps; i++)
        w_compare_field(&b, &t->cmps[i]);
    if (t->fence_key) {
        store_cmp fc = {
            .key = t->fence_key, .target = STORE_TGT_CREATE, .op = STORE_EQ, .n = t->fence_rev};
        w_compare_field(&b, &fc);
    }
    for (size_t i = 0; i < t->nthen; i++)
        w_request_op(&b, 2, &t->then[i]);
    for (size_t i = 0; i < t->nels; i++)
        w_request_op(&b, 3, &t->els[i]);
    if (t->fence_key) {
        store_op get = {.kind = STORE_OP_RANGE, .key = t->fence_key};
        w_request_op(&b, 3, &get);
    }
    frame_close(&b);
    return cr_buf_detach(&b, len);
}

/* WatchCreateRequest; end: the prefix's range end, or NULL. */
static size_t w_watch_create(cr_buf *b, const char *key, const char *end, size_t elen,
                             int64_t start_rev, bool prev_kv)
{
    size_t n = f_bytes(b, 1, key, strlen(key));

    if (end)
        n += f_bytes(b, 2, end, elen);
    if (start_rev > 0)
        n += f_varint(b, 3, (uint64_t)start_rev);
    n += f_varint(b, 4, 1); /* progress_notify */
    if (prev_kv)
        n += f_varint(b, 6, 1);
    return n;
}

char *store_watch_create_pb(const char *key, bool prefix, int64_t start_rev, bool prev_kv,
                            size_t *len)
{
    cr_buf b = CR_BUF_INIT;
    char *end = NULL;
    size_t elen = 0;

    if (prefix)
        end = store_prefix_end(key, strlen(key), &elen);
    cr_buf_add(&b, "\0\0\0\0\0", 5);
    f_head(&b, 1, w_watch_create(NULL, key, end, elen, start_rev, prev_kv)); /* create_request */
    w_watch_create(&b, key, end, elen, start_rev, prev_kv);
    frame_close(&b);
    free(end);
    return cr_buf_detach(&b, len);
}

/* --- reading ----------------------------------------------------------------- */

typedef struct pbr {
    const unsigned char *p, *end;
} pbr;

/* One field as read: its number, and a varint's value or a length's span. */
typedef struct pbf {
    unsigned num;
    unsigned type;
    uint64_t v;
    pbr sub;
} pbf;

static int rv(pbr *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end || (shift == 63 && *r->p > 1)) /* past 64 bits */
            return -1;
        v |= (uint64_t)(*r->p & 0x7f) << shift;
        if (!(*r->p++ & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* Reads the next field: 1, 0 at the end, -1 when malformed. */
static int next_field(pbr *r, pbf *f)
{
    uint64_t key, len;

    if (r->p >= r->end)
        return 0;
    if (rv(r, &key) < 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return -1;
    f->num = (unsigned)(key >> 3);
    f->type = (unsigned)(key & 7);
    switch (f->type) {
    case WT_VARINT:
        return rv(r, &f->v) < 0 ? -1 : 1;
    case WT_I64:
    case WT_I32: {
        size_t n = f->type == WT_I64 ? 8 : 4;

        if ((size_t)(r->end - r->p) < n)
            return -1;
        r->p += n;
        return 1;
    }
    case WT_LEN:
        if (rv(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        f->sub.p = r->p;
        f->sub.end = r->p + len;
        r->p += len;
        return 1;
    default: /* groups, or not a wire type */
        return -1;
    }
}

static char *dup_span(const pbr *s, size_t *len)
{
    size_t n = (size_t)(s->end - s->p);
    char *d = xmalloc(n + 1);

    if (n)
        memcpy(d, s->p, n);
    d[n] = '\0';
    if (len)
        *len = n;
    return d;
}

/* A field of the type it must have; else the answer is malformed. */
#define WANT(f, t)           \
    do {                     \
        if ((f).type != (t)) \
            return -1;       \
    } while (0)

/* mvccpb.KeyValue. Key and value are "" when absent, as the JSON path
 * gives them. */
static int read_kv(pbr r, store_kv *kv)
{
    pbf f;
    int rc;

    memset(kv, 0, sizeof(*kv));
    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
            WANT(f, WT_LEN);
            free(kv->key);
            kv->key = dup_span(&f.sub, NULL);
            break;
        case 2:
            WANT(f, WT_VARINT);
            kv->create_revision = (int64_t)f.v;
            break;
        case 3:
            WANT(f, WT_VARINT);
            kv->mod_revision = (int64_t)f.v;
            break;
        case 4:
            WANT(f, WT_VARINT);
            kv->version = (int64_t)f.v;
            break;
        case 5:
            WANT(f, WT_LEN);
            free(kv->value);
            kv->value = dup_span(&f.sub, &kv->value_len);
            break;
        case 6:
            WANT(f, WT_VARINT);
            kv->lease = (int64_t)f.v;
            break;
        default:
            break;
        }
    }
    if (!kv->key)
        kv->key = xstrdup("");
    if (!kv->value)
        kv->value = xstrdup("");
    return rc;
}

static int add_kv(store_result *out, pbr sub)
{
    if (!(out->nkvs & (out->nkvs + 1))) /* 0, 1, 3, 7...: grow to the next power of 2 */
        out->kvs = xrealloc(out->kvs, (out->nkvs * 2 + 2) * sizeof(*out->kvs));
    if (read_kv(sub, &out->kvs[out->nkvs]) < 0) {
        store_kv_release(&out->kvs[out->nkvs]);
        return -1;
    }
    out->nkvs++;
    return 0;
}

static int read_header(pbr r, store_result *out)
{
    pbf f;
    int rc;

    while ((rc = next_field(&r, &f)) > 0) {
        if (f.num == 2) {
            WANT(f, WT_VARINT);
            out->member_id = (int64_t)f.v;
        } else if (f.num == 3) {
            WANT(f, WT_VARINT);
            out->revision = (int64_t)f.v;
        }
    }
    return rc;
}

/* RangeResponse (kind 1), PutResponse (2) or DeleteRangeResponse (3). */
static int read_response(pbr r, unsigned kind, store_result *out)
{
    pbf f;
    int rc;

    out->succeeded = true;
    while ((rc = next_field(&r, &f)) > 0) {
        if (f.num == 1) {
            WANT(f, WT_LEN);
            if (read_header(f.sub, out) < 0)
                return -1;
            continue;
        }
        switch (kind * 16 + f.num) {
        case 1 * 16 + 2: /* range: kvs */
        case 2 * 16 + 2: /* put: prev_kv */
        case 3 * 16 + 3: /* delete: prev_kvs */
            WANT(f, WT_LEN);
            if (add_kv(out, f.sub) < 0)
                return -1;
            break;
        case 1 * 16 + 3:
            WANT(f, WT_VARINT);
            out->more = f.v != 0;
            break;
        case 1 * 16 + 4:
            WANT(f, WT_VARINT);
            out->count = (int64_t)f.v;
            break;
        case 3 * 16 + 2:
            WANT(f, WT_VARINT);
            out->deleted = (int64_t)f.v;
            break;
        default:
            break;
        }
    }
    return rc;
}

static int read_txn(pbr r, store_result *out)
{
    size_t cap = 0;
    pbf f;
    int rc;

    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
            WANT(f, WT_LEN);
            if (read_header(f.sub, out) < 0)
                return -1;
            break;
        case 2:
            WANT(f, WT_VARINT);
            out->succeeded = f.v != 0;
            break;
        case 3: {
            pbf op;
            pbr in;
            store_result *res;

            WANT(f, WT_LEN);
            in = f.sub;
            /* a ResponseOp: one of its kinds; a nested txn is never asked */
            if (next_field(&in, &op) <= 0 || op.type != WT_LEN || op.num < 1 || op.num > 3 ||
                in.p != in.end)
                return -1;
            if (out->nops == cap) {
                cap = cap ? cap * 2 : 8;
                out->ops = xrealloc(out->ops, cap * sizeof(*out->ops));
            }
            res = &out->ops[out->nops++];
            memset(res, 0, sizeof(*res));
            if (read_response(op.sub, op.num, res) < 0)
                return -1;
            break;
        }
        default:
            break;
        }
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < out->nops; i++)
        if (!out->ops[i].revision)
            out->ops[i].revision = out->revision;
    return 0;
}

int store_grpc_frame(const char *buf, size_t len, size_t *n, cr_err *err)
{
    const unsigned char *p = (const unsigned char *)buf;

    if (len < 5)
        return 0;
    if (p[0] != 0)
        return cr_error(err, CR_EPARSE, "etcd answer: a compressed gRPC message");
    *n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    if (*n > STORE_MAX_ANSWER)
        return cr_error(err, CR_EPARSE, "etcd answer: a gRPC message of %zu bytes", *n);
    return len - 5 >= *n;
}

int store_txn_parse_pb(const char *body, size_t len, store_result *out, cr_err *err)
{
    const unsigned char *p = (const unsigned char *)body;
    size_t n = 0;
    int rc = store_grpc_frame(body, len, &n, err);

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return -1;
    if (rc == 0 || n != len - 5) /* one whole frame, nothing after it */
        return cr_error(err, CR_EPARSE, "etcd answer: %zu bytes, not one gRPC frame", len);
    if (read_txn((pbr){p + 5, p + len}, out) < 0) {
        store_result_release(out);
        return cr_error(err, CR_EPARSE, "etcd answer: malformed TxnResponse");
    }
    return 0;
}

/* mvccpb.Event: a kv is required (as the gateway's reader asks); a
 * delete's kv has no value. */
static int read_event(pbr r, store_event *ev)
{
    bool have_kv = false;
    pbf f;
    int rc;

    memset(ev, 0, sizeof(*ev));
    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
            if (f.type != WT_VARINT)
                goto bad;
            ev->type = f.v == 1 ? STORE_EV_DELETE : STORE_EV_PUT;
            break;
        case 2:
        case 3: {
            store_kv *kv = f.num == 2 ? &ev->kv : &ev->prev;

            if (f.type != WT_LEN)
                goto bad;
            store_kv_release(kv);
            if (read_kv(f.sub, kv) < 0)
                goto bad;
            have_kv |= f.num == 2;
            break;
        }
        default:
            break;
        }
    }
    if (rc < 0 || !have_kv)
        goto bad;
    if (ev->type == STORE_EV_DELETE) {
        free(ev->kv.value);
        ev->kv.value = NULL;
        ev->kv.value_len = 0;
    }
    return 0;
bad:
    store_kv_release(&ev->kv);
    store_kv_release(&ev->prev);
    return -1;
}

static int read_watch(pbr r, store_watch_msg *out)
{
    size_t cap = 0;
    pbf f;
    int rc;

    while ((rc = next_field(&r, &f)) > 0) {
        switch (f.num) {
        case 1: {
            store_result h = {0};

            WANT(f, WT_LEN);
            if (read_header(f.sub, &h) < 0)
                return -1;
            out->revision = h.revision;
            break;
        }
        case 3:
            WANT(f, WT_VARINT);
            out->created = f.v != 0;
            break;
        case 4:
            WANT(f, WT_VARINT);
            out->canceled = f.v != 0;
            break;
        case 5:
            WANT(f, WT_VARINT);
            out->compact_revision = (int64_t)f.v;
            break;
        case 6:
            WANT(f, WT_LEN);
            free(out->cancel_reason);
            out->cancel_reason = dup_span(&f.sub, NULL);
            break;
        case 11:
            WANT(f, WT_LEN);
            if (out->nevents == cap) {
                cap = cap ? cap * 2 : 8;
                out->events = xrealloc(out->events, cap * sizeof(*out->events));
            }
            if (read_event(f.sub, &out->events[out->nevents]) < 0)
                return -1;
            out->nevents++;
            break;
        default:
            break;
        }
    }
    return rc;
}

int store_watch_msg_parse_pb(const char *msg, size_t len, store_watch_msg *out, cr_err *err)
{
    memset(out, 0, sizeof(*out));
    if (read_watch((pbr){(const unsigned char *)msg, (const unsigned char *)msg + len}, out) < 0) {
        store_watch_msg_release(out);
        return cr_error(err, CR_EPARSE, "etcd watch: malformed WatchResponse");
    }
    return 0;
}

/* --- errors ------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int store_grpc_error(const char *status, const char *message, cr_err *err)
{
    char msg[512];
    size_t n = 0;
    int64_t code;

    /* grpc-message is percent-encoded */
    for (const char *m = message ? message : ""; *m && n + 1 < sizeof(msg); m++) {
        if (m[0] == '%' && hexval(m[1]) >= 0 && hexval(m[2]) >= 0) {
            msg[n++] = (char)(hexval(m[1]) * 16 + hexval(m[2]));
            m += 2;
        } else {
            msg[n++] = *m;
        }
    }
    msg[n] = '\0';
    if (!status || store_int64_text(status, &code) < 0 || code < 0 || code > 1000)
        return cr_error(err, CR_EETCD, "etcd: a gRPC answer with status '%s' (%s)",
                        status ? status : "", msg);
    return store_etcd_error_code((int)code, msg, err);
}
