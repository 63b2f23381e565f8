/* The gateway readers (store/gwjson.c) held to the tree path: whenever a
 * reader takes a text, jansson's path must take it too and give the same
 * answer. Shared by test_codec.c and fuzz/fuzz_gateway.c. */
#ifndef TEST_STORE_GWCHECK_H
#define TEST_STORE_GWCHECK_H

#include <string.h>

#include <jansson.h>

#include "store/codec.h"

static const char *gw_kv_differs(const store_kv *a, const store_kv *b)
{
    if ((a->key == NULL) != (b->key == NULL) || (a->key && strcmp(a->key, b->key)))
        return "key";
    if ((a->value == NULL) != (b->value == NULL) || a->value_len != b->value_len ||
        (a->value && memcmp(a->value, b->value, a->value_len + 1)))
        return "value";
    if (a->create_revision != b->create_revision || a->mod_revision != b->mod_revision ||
        a->version != b->version || a->lease != b->lease)
        return "revisions";
    return NULL;
}

/* NULL when the readers agree on text; else what differs. *taken: the
 * fast reader took it. */
static const char *gw_check_range(const char *text, size_t len, int *taken)
{
    store_result fast, tree;
    json_t *j;
    const char *diff = NULL;

    *taken = store_gw_range_parse(text, len, &fast) == 0;
    if (!*taken)
        return fast.nkvs || fast.kvs ? "left kvs behind" : NULL;
    j = json_loadb(text, len, 0, NULL);
    if (!j || store_result_parse(j, false, &tree, NULL) < 0) {
        json_decref(j);
        store_result_release(&fast);
        return "taken, but the tree path refuses it";
    }
    json_decref(j);
    if (fast.revision != tree.revision || fast.member_id != tree.member_id ||
        fast.count != tree.count || fast.more != tree.more || fast.succeeded != tree.succeeded ||
        fast.deleted != tree.deleted || fast.nops || tree.nops || fast.version || tree.version)
        diff = "header or counts";
    else if (fast.nkvs != tree.nkvs)
        diff = "number of kvs";
    for (size_t i = 0; !diff && i < fast.nkvs; i++)
        diff = gw_kv_differs(&fast.kvs[i], &tree.kvs[i]);
    store_result_release(&fast);
    store_result_release(&tree);
    return diff;
}

static const char *gw_check_watch(const char *text, size_t len, int *taken)
{
    store_watch_msg fast, tree;
    const char *diff = NULL;

    *taken = store_gw_watch_parse(text, len, &fast) == 0;
    if (!*taken)
        return fast.events || fast.cancel_reason ? "left events behind" : NULL;
    if (store_watch_msg_parse_tree(text, len, &tree, NULL) < 0) {
        store_watch_msg_release(&fast);
        return "taken, but the tree path refuses it";
    }
    if (fast.revision != tree.revision || fast.created != tree.created ||
        fast.canceled != tree.canceled || fast.compact_revision != tree.compact_revision ||
        fast.is_error || tree.is_error)
        diff = "header or flags";
    else if ((fast.cancel_reason == NULL) != (tree.cancel_reason == NULL) ||
             (fast.cancel_reason && strcmp(fast.cancel_reason, tree.cancel_reason)))
        diff = "cancel_reason";
    else if (fast.nevents != tree.nevents)
        diff = "number of events";
    for (size_t i = 0; !diff && i < fast.nevents; i++) {
        if (fast.events[i].type != tree.events[i].type)
            diff = "event type";
        else if (!(diff = gw_kv_differs(&fast.events[i].kv, &tree.events[i].kv)))
            diff = gw_kv_differs(&fast.events[i].prev, &tree.events[i].prev);
    }
    store_watch_msg_release(&fast);
    store_watch_msg_release(&tree);
    return diff;
}

#endif
