/* libFuzzer target for the readers of etcd's gRPC answers (store/pb.c):
 * any bytes, read as a KV.Txn answer (a gRPC frame) and as a Watch.Watch
 * message. Each must either refuse them (CR_EPARSE, an empty result) or
 * give a result whose every kv has a key and a NUL-terminated value (a
 * deleted key's event: no value); a crash, a leak or a sanitizer report is
 * a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kv(const store_kv *kv, bool value)
{
    if (!kv->key || (value && (!kv->value || kv->value[kv->value_len] != '\0')))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_result res;
    store_watch_msg m;
    cr_err err;

    if (store_txn_parse_pb((const char *)data, size, &res, &err) < 0) {
        if (err.code != CR_EPARSE || res.nops || res.ops || res.nkvs || res.kvs)
            abort();
    } else {
        for (size_t i = 0; i < res.nops; i++)
            for (size_t k = 0; k < res.ops[i].nkvs; k++)
                check_kv(&res.ops[i].kvs[k], true);
        store_result_release(&res);
    }
    if (store_watch_msg_parse_pb((const char *)data, size, &m, &err) < 0) {
        if (err.code != CR_EPARSE || m.nevents || m.events || m.cancel_reason || m.is_error)
            abort();
    } else {
        for (size_t i = 0; i < m.nevents; i++) {
            check_kv(&m.events[i].kv, m.events[i].type == STORE_EV_PUT);
            if (m.events[i].type == STORE_EV_DELETE && m.events[i].kv.value)
                abort();
            if (m.events[i].prev.key)
                check_kv(&m.events[i].prev, true);
        }
        store_watch_msg_release(&m);
    }
    return 0;
}
