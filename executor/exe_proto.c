#include "executor/exe_proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/xalloc.h"
#include "executor/exe_data.h"

void exe_recordio_init(exe_recordio *r, size_t max_record)
{
    cr_buf_init(&r->in);
    r->max_record = max_record ? max_record : 64 * 1024 * 1024;
    r->handed = 0;
}

void exe_recordio_release(exe_recordio *r)
{
    cr_buf_release(&r->in);
}

void exe_recordio_feed(exe_recordio *r, const char *p, size_t n)
{
    if (r->handed) {
        cr_buf_consume(&r->in, r->handed);
        r->handed = 0;
    }
    cr_buf_add(&r->in, p, n);
}

int exe_recordio_next(exe_recordio *r, const char **rec, size_t *len, cr_err *err)
{
    size_t i = 0, digits = 0;
    unsigned long long n = 0;

    if (r->handed) {
        cr_buf_consume(&r->in, r->handed);
        r->handed = 0;
    }
    /* Tolerate empty lines before a length. */
    while (i < r->in.len && r->in.data[i] == '\n')
        i++;
    if (i > 0) {
        cr_buf_consume(&r->in, i);
        i = 0;
    }
    while (i < r->in.len && r->in.data[i] != '\n') {
        if (!isdigit((unsigned char)r->in.data[i]))
            return cr_error(err, CR_EPARSE, "recordio: unexpected byte 0x%02x in a record length",
                            (unsigned char)r->in.data[i]);
        n = n * 10 + (unsigned long long)(r->in.data[i] - '0');
        if (++digits > 19 || n > r->max_record)
            return cr_error(err, CR_ETOOLARGE, "recordio: record larger than %zu bytes",
                            r->max_record);
        i++;
    }
    if (i >= r->in.len)
        return 0; /* length not complete yet */
    if (n == 0)
        return cr_error(err, CR_EPARSE, "recordio: zero-length record");
    if (r->in.len - (i + 1) < n)
        return 0;
    cr_buf_consume(&r->in, i + 1);
    *rec = r->in.data;
    *len = (size_t)n;
    r->handed = (size_t)n;
    return 1;
}

void exe_uuid4(unsigned char out[16])
{
    size_t got = 0;

    while (got < 16) {
        ssize_t r = getrandom(out + got, 16 - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no entropy source: nothing sensible to do */
        }
        got += (size_t)r;
    }
    out[6] = (unsigned char)((out[6] & 0x0F) | 0x40);
    out[8] = (unsigned char)((out[8] & 0x3F) | 0x80);
}

static json_t *idv(const char *v)
{
    return json_pack("{s:s}", "value", v ? v : "");
}

json_t *exe_status_new(const char *task_id, const char *executor_id, const char *state,
                       const char *reason, const char *message, const unsigned char uuid[16])
{
    char *u = exe_base64_encode(uuid, 16);
    json_t *st = json_object();

    json_object_set_new(st, "task_id", idv(task_id));
    json_object_set_new(st, "state", json_string(state));
    json_object_set_new(st, "source", json_string("SOURCE_EXECUTOR"));
    json_object_set_new(st, "executor_id", idv(executor_id));
    json_object_set_new(st, "uuid", json_string(u));
    if (reason)
        json_object_set_new(st, "reason", json_string(reason));
    if (message && *message)
        json_object_set_new(st, "message", json_string(message));
    free(u);
    return st;
}

static json_t *envelope(const char *type, const char *fw, const char *ex)
{
    return json_pack("{s:s, s:o, s:o}", "type", type, "framework_id", idv(fw), "executor_id",
                     idv(ex));
}

json_t *exe_call_subscribe(const char *framework_id, const char *executor_id,
                           const json_t *unacked_tasks, const json_t *unacked_updates)
{
    json_t *c = envelope("SUBSCRIBE", framework_id, executor_id), *sub = json_object();

    if (unacked_tasks && json_array_size(unacked_tasks) > 0)
        json_object_set_new(sub, "unacknowledged_tasks", json_deep_copy(unacked_tasks));
    if (unacked_updates && json_array_size(unacked_updates) > 0)
        json_object_set_new(sub, "unacknowledged_updates", json_deep_copy(unacked_updates));
    json_object_set_new(c, "subscribe", sub);
    return c;
}

json_t *exe_call_update(const char *framework_id, const char *executor_id, const json_t *status)
{
    json_t *c = envelope("UPDATE", framework_id, executor_id);

    json_object_set_new(c, "update", json_pack("{s:O}", "status", status));
    return c;
}

json_t *exe_call_message(const char *framework_id, const char *executor_id, const char *data,
                         size_t len)
{
    json_t *c = envelope("MESSAGE", framework_id, executor_id);
    char *b = exe_base64_encode((const unsigned char *)data, len);

    json_object_set_new(c, "message", json_pack("{s:s}", "data", b));
    free(b);
    return c;
}
