/* store codec: the pure part of the etcd client. Encodes requests for the
 * JSON gateway and decodes its answers, decides paging and plans batches.
 * No I/O, no clock: unit tested directly (test/store/test_codec.c).
 *
 * Gateway conventions: keys and values are base64; int64 fields are JSON
 * strings ("revision":"42"); fields with zero values are omitted (a missing
 * "more" is false, a missing "kvs" is empty). */
#ifndef STORE_CODEC_H
#define STORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/map.h"
#include "store/store.h"

/* --- base64 (RFC 4648, with padding) ----------------------------------------- */

/* Returns a NUL-terminated encoding; caller frees. */
char *store_b64_encode(const void *data, size_t len);
/* Decodes s (slen bytes); *out is NUL-terminated, caller frees. Returns -1
 * with err set (CR_EPARSE) on bad input, leaving *out untouched. */
int store_b64_decode(const char *s, size_t slen, char **out, size_t *outlen, cr_err *err);

/* The range_end that selects every key starting with prefix: prefix with its
 * last byte below 0xff incremented (trailing 0xff bytes dropped); "\0" (len 1)
 * when no such byte exists, meaning "all keys". Caller frees. */
char *store_prefix_end(const char *prefix, size_t len, size_t *end_len);

/* Reads an int64 field that may be a string or a number; absent or null is
 * 0. Returns -1 on a malformed value. */
int store_json_int64(const json_t *obj, const char *field, int64_t *out);
/* The rule store_json_int64 applies to a string (strtoll; a uint64 member
 * id keeps its bits). -1 with *out 0 when s is not such a number. */
int store_int64_text(const char *s, int64_t *out);

/* --- decoding ------------------------------------------------------------------ */

/* Parses a gateway kv object into out (caller releases). */
int store_kv_parse(const json_t *j, store_kv *out, cr_err *err);

/* Parses a range/put/delete/txn/lease/status answer into out (txn: it is
 * a /v3/kv/txn answer, whose "succeeded" is omitted when false); the caller
 * releases it with store_result_release(). */
int store_result_parse(const json_t *j, bool txn, store_result *out, cr_err *err);
void store_result_release(store_result *r);

/* Turns a non-200 gateway answer ({"error","message","code"}) into err;
 * returns -1. body may be anything (a proxy's HTML page). */
int store_etcd_error(long http_status, const char *body, size_t len, cr_err *err);
/* The gRPC code in an err filled by store_etcd_error, or -1. */
int store_err_grpc_code(const cr_err *err);

/* Parses one watch stream line into out (caller releases with
 * store_watch_msg_release). */
typedef struct store_watch_msg {
    int64_t revision; /* header revision */
    bool created;
    bool canceled;
    int64_t compact_revision; /* > 0: start revision compacted */
    char *cancel_reason;
    store_event *events;
    size_t nevents;
    bool is_error; /* a gateway stream error: see err */
    cr_err err;
} store_watch_msg;
int store_watch_msg_parse(const char *line, size_t len, store_watch_msg *out, cr_err *err);
void store_watch_msg_release(store_watch_msg *m);

/* The same answers read straight from the text, without a tree
 * (store/gwjson.c): 0 with out filled as store_result_parse (txn false) /
 * store_watch_msg_parse would fill it, or 1 with out empty when the text
 * is outside what these readers take (numbers, escapes, non-ASCII, members
 * they do not know, repeats, anything malformed): parse it the tree way.
 * Only etcd's usual answers are taken, which is nearly every one. */
int store_gw_range_parse(const char *body, size_t len, store_result *out);
int store_gw_watch_parse(const char *line, size_t len, store_watch_msg *out);
/* store_watch_msg_parse through jansson's tree only: what the fast reader
 * is held to (test_codec.c, fuzz/fuzz_gateway.c). */
int store_watch_msg_parse_tree(const char *line, size_t len, store_watch_msg *out, cr_err *err);

/* A gateway answer's body: the fast reader, else the tree. */
int store_result_parse_text(const char *body, size_t len, bool txn, store_result *out,
                            cr_err *err);

/* The revision a watch must resume from after processing m, given the
 * current one: after events, the last event's revision + 1; after a progress
 * notification (no events, not created, not canceled), its header revision
 * + 1; after "created" for a watch that began at revision 0 (from now), the
 * header revision + 1. Never goes backwards. */
int64_t store_watch_resume_rev(int64_t current, bool started_from_now, const store_watch_msg *m);

/* --- paging -------------------------------------------------------------------- */

/* The pages of one list of a prefix. Each page is asked from `from` up to
 * `until`: the prefix's range end, or an end guessed from the keys read so
 * far. etcd 3.4 gathers every key from a range's first key to its range
 * end before it applies the limit (3.5 still counts them all), so pages
 * asked up to the prefix's end cost each as much as all the keys left:
 * listing 145,000 keys in pages of 1,000 that way took a third of etcd's
 * CPU in a cold start (bench/README.md). A page asked up to a good guess
 * costs about its own keys.
 *
 * The guess reads keys as numbers: each byte after the prefix a digit whose
 * range is what that position held in the last page (a position of
 * digits counts in tens), and the next page is given as many of those as
 * that page took for `limit` keys, a quarter more, carried into the bytes
 * before when an id's digits run out. A wrong guess costs a page, never a
 * key: a page that comes back full goes on from its last key, a thin one
 * makes the next guess twice as wide, a second thin one sends a page to
 * the end (a new part of the layout, learnt from that page), and an end
 * that does not come after `from` is not used. */
#define STORE_PAGER_SPAN 64 /* bytes after the prefix the guess reads */

typedef struct store_pager {
    char *from, *until; /* the page to ask (from_len, until_len bytes) */
    size_t from_len, until_len;
    char *end;                                                /* the prefix's range end */
    size_t end_len, base, limit;                              /* base: the prefix's length */
    unsigned char lo[STORE_PAGER_SPAN], hi[STORE_PAGER_SPAN]; /* bytes seen at each position */
    bool seen[STORE_PAGER_SPAN];
    char *a, *b;            /* the first and last key of the latest page of 2 keys or more */
    size_t a_len, b_len, k; /* ...and its keys */
    unsigned thin;          /* thin pages in a row (a guess widens after one) */
} store_pager;

/* The first page of prefix's keys, `limit` to a page: up to the end. */
void store_pager_init(store_pager *p, const char *prefix, size_t limit);
/* After the page came back (its n kvs, in key order, and etcd's `more`):
 * sets the next page and returns true, or returns false when the list is
 * complete. */
bool store_pager_next(store_pager *p, const store_kv *kvs, size_t n, bool more);
void store_pager_release(store_pager *p);

/* --- transactions --------------------------------------------------------------- */

typedef enum { STORE_TGT_VERSION, STORE_TGT_CREATE, STORE_TGT_MOD, STORE_TGT_VALUE } store_target;
typedef enum { STORE_OP_RANGE, STORE_OP_PUT, STORE_OP_DELETE } store_op_kind;

typedef struct store_cmp {
    char *key;
    store_target target;
    store_cmp_op op;
    int64_t n;   /* revision or version */
    char *value; /* STORE_TGT_VALUE */
    size_t value_len;
} store_cmp;

typedef struct store_op {
    store_op_kind kind;
    char *key;
    bool prefix;
    char *value;
    size_t value_len;
    int64_t lease;
    bool prev_kv;
} store_op;

struct store_txn {
    store_cmp *cmps;
    size_t ncmps, capcmps;
    store_op *then, *els;
    size_t nthen, capthen, nels, capels;
    char *fence_key; /* set by store_txn_fence */
    int64_t fence_rev;
    size_t bytes; /* raw size of keys and values (for the limits) */
};

/* Checks etcd's limits; -1 with CR_ETOOLARGE, or CR_EINVAL for an empty
 * key. */
int store_txn_check(const store_txn *t, cr_err *err);
/* The JSON body for /v3/kv/txn (caller frees). A fenced txn gets the fence
 * compare and, at the end of its else-branch, a get of the fence key. */
char *store_txn_encode(const store_txn *t, size_t *len);
/* After a failed fenced txn: whether the fence itself failed (the last
 * else-op's range shows the leader key gone or re-created). */
bool store_txn_fence_lost(const store_txn *t, const store_result *res);

/* The same txn for etcd's gRPC service (KV.Txn): a TxnRequest in one gRPC
 * frame (store/pb.c; caller frees). */
char *store_txn_encode_pb(const store_txn *t, size_t *len);
#define STORE_MAX_ANSWER (256u << 20) /* an etcd answer, or a gRPC message of one */
/* A gRPC frame at buf (len bytes so far): 1 when it is whole (its message,
 * *n bytes, follows the 5-byte prefix), 0 when more bytes must come, -1
 * with CR_EPARSE when it is compressed (never asked for) or its message is
 * above STORE_MAX_ANSWER. */
int store_grpc_frame(const char *buf, size_t len, size_t *n, cr_err *err);
/* A KV.Txn answer's body (one gRPC frame of a TxnResponse) as the result
 * store_result_parse_text() gives for the gateway's JSON of it; -1 with
 * CR_EPARSE when it is not one (out is then empty). */
int store_txn_parse_pb(const char *body, size_t len, store_result *out, cr_err *err);
/* A WatchRequest creating a watch of key (of its prefix when prefix), from
 * start_rev (> 0) or now, with progress notifications and, when asked, each
 * event's previous kv; in one gRPC frame (caller frees). */
char *store_watch_create_pb(const char *key, bool prefix, int64_t start_rev, bool prev_kv,
                            size_t *len);
/* One WatchResponse (a gRPC frame's message, without its 5 bytes) as
 * store_watch_msg_parse() reads the gateway's line of it (never is_error:
 * a gRPC stream's error comes in its trailers); -1 with CR_EPARSE and out
 * empty when it is not one. */
int store_watch_msg_parse_pb(const char *msg, size_t len, store_watch_msg *out, cr_err *err);
/* A gRPC answer's grpc-status and (percent-encoded) grpc-message as the
 * error store_etcd_error() gives for the same code and message; always -1. */
int store_grpc_error(const char *status, const char *message, cr_err *err);
/* etcd's gRPC code and message as Corral's error (the mapping in store.h);
 * always -1. */
int store_etcd_error_code(int code, const char *msg, cr_err *err);

/* Appends a deep copy of src's compares and then-ops to dst (batching);
 * identical compares are kept once. */
void store_txn_merge(store_txn *dst, const store_txn *src);

/* Range/put/delete bodies. */
char *store_range_encode(const char *key, size_t key_len, const char *range_end, size_t end_len,
                         int64_t revision, int64_t limit);
char *store_put_encode(const char *key, const void *value, size_t len, const store_put_opts *opts);
char *store_delete_encode(const char *key, bool prefix, bool prev_kv);

/* --- batching ---------------------------------------------------------------------- */

/* One queued write as the picker sees it. */
typedef struct store_batch_item {
    size_t nops;
    size_t ncmps;
    size_t bytes;
    const char *const *keys; /* every key it compares or writes (not the fence) */
    size_t nkeys;
    bool solo; /* has a range (prefix) op: always alone */
} store_batch_item;

/* Picks, from a queue of n writes in order (one fence's, or the unfenced
 * ones), those of its next txn: the first that may go, then later ones
 * that fit with it (total ops and compares within max_ops each and bytes
 * within max_bytes, and no key in two of them: etcd rejects duplicate
 * keys). A write may not go while it shares a key with a txn in flight
 * (`busy`: keys of txns in flight; NULL = none) or with an earlier write
 * left in the queue, so the writes to one key apply in the order they were
 * queued. in_order: the writes also keep their queue order among
 * themselves (the pick stops at the first that cannot go); else a write
 * passes those it shares no key with. A solo write goes alone, only when
 * it is first and nothing is in flight (idle); no later write passes it. A
 * write too large on its own goes alone. Sets take[i]; returns the number
 * taken (0: none may go now). Pure. */
size_t store_batch_pick(const store_batch_item *items, size_t n, bool in_order,
                        const store_map *busy, bool idle, size_t max_ops, size_t max_bytes,
                        bool *take);

#endif
