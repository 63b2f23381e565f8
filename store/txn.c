/* store_txn builder (pure): see store.h and codec.h. */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "store/codec.h"

store_txn *store_txn_new(void)
{
    return xcalloc(1, sizeof(store_txn));
}

static void op_release(store_op *op)
{
    free(op->key);
    free(op->value);
}

void store_txn_free(store_txn *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncmps; i++) {
        free(t->cmps[i].key);
        free(t->cmps[i].value);
    }
    for (size_t i = 0; i < t->nthen; i++)
        op_release(&t->then[i]);
    for (size_t i = 0; i < t->nels; i++)
        op_release(&t->els[i]);
    free(t->cmps);
    free(t->then);
    free(t->els);
    free(t->fence_key);
    free(t);
}

static char *dupmem(const void *p, size_t len)
{
    char *d = xmalloc(len + 1);

    if (len)
        memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

static store_cmp *add_cmp(store_txn *t, const char *key, store_target target, store_cmp_op op)
{
    store_cmp *c;

    if (t->ncmps == t->capcmps) {
        t->capcmps = t->capcmps ? t->capcmps * 2 : 4;
        t->cmps = xrealloc(t->cmps, t->capcmps * sizeof(*t->cmps));
    }
    c = &t->cmps[t->ncmps++];
    memset(c, 0, sizeof(*c));
    c->key = xstrdup(key);
    c->target = target;
    c->op = op;
    t->bytes += strlen(key) + 16;
    return c;
}

void store_txn_if_mod(store_txn *t, const char *key, store_cmp_op op, int64_t rev)
{
    add_cmp(t, key, STORE_TGT_MOD, op)->n = rev;
}

void store_txn_if_create(store_txn *t, const char *key, store_cmp_op op, int64_t rev)
{
    add_cmp(t, key, STORE_TGT_CREATE, op)->n = rev;
}

void store_txn_if_version(store_txn *t, const char *key, store_cmp_op op, int64_t version)
{
    add_cmp(t, key, STORE_TGT_VERSION, op)->n = version;
}

void store_txn_if_value(store_txn *t, const char *key, store_cmp_op op, const void *value,
                        size_t len)
{
    store_cmp *c = add_cmp(t, key, STORE_TGT_VALUE, op);

    c->value = dupmem(value, len);
    c->value_len = len;
    t->bytes += len;
}

static store_op *add_op(store_txn *t, store_branch b, store_op_kind kind, const char *key)
{
    store_op **arr = b == STORE_THEN ? &t->then : &t->els;
    size_t *n = b == STORE_THEN ? &t->nthen : &t->nels;
    size_t *cap = b == STORE_THEN ? &t->capthen : &t->capels;
    store_op *op;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = xrealloc(*arr, *cap * sizeof(**arr));
    }
    op = &(*arr)[(*n)++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->key = xstrdup(key);
    t->bytes += strlen(key) + 16;
    return op;
}

void store_txn_put(store_txn *t, store_branch b, const char *key, const void *value, size_t len,
                   const store_put_opts *opts)
{
    store_op *op = add_op(t, b, STORE_OP_PUT, key);

    op->value = dupmem(value, len);
    op->value_len = len;
    if (opts) {
        op->lease = opts->lease;
        op->prev_kv = opts->prev_kv;
    }
    t->bytes += len;
}

void store_txn_delete(store_txn *t, store_branch b, const char *key, bool prefix)
{
    add_op(t, b, STORE_OP_DELETE, key)->prefix = prefix;
}

void store_txn_get(store_txn *t, store_branch b, const char *key, bool prefix)
{
    add_op(t, b, STORE_OP_RANGE, key)->prefix = prefix;
}

void store_txn_fence(store_txn *t, const char *leader_key, int64_t create_revision)
{
    free(t->fence_key);
    t->fence_key = xstrdup(leader_key);
    t->fence_rev = create_revision;
}
