/* exe_proto: the Mesos v1 executor API on the wire (pure): RecordIO
 * decoding of the SUBSCRIBE stream, the JSON of calls, uuids.
 * See reference/mesos-v1-protocol.md sections 1.4 and 5. */
#ifndef EXE_PROTO_H
#define EXE_PROTO_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* RecordIO: "<decimal length>\n<bytes>" repeated, with no separator. */
typedef struct exe_recordio {
    cr_buf in;
    size_t max_record; /* larger records are an error */
    size_t handed;     /* bytes of the record last returned (dropped at the next call) */
} exe_recordio;

void exe_recordio_init(exe_recordio *r, size_t max_record);
void exe_recordio_release(exe_recordio *r);
/* Appends received bytes. */
void exe_recordio_feed(exe_recordio *r, const char *p, size_t n);
/* Takes the next complete record: returns 1 and sets rec and len (borrowed,
 * valid until the next call), 0 when more bytes are needed, -1 on a framing
 * error (err set; the stream is unusable). */
int exe_recordio_next(exe_recordio *r, const char **rec, size_t *len, cr_err *err);

/* Fills out with a random RFC 4122 version 4 uuid. */
void exe_uuid4(unsigned char out[16]);

/* A TaskStatus for an UPDATE: source SOURCE_EXECUTOR, the uuid as base64.
 * reason and message may be NULL. Caller owns the result. */
json_t *exe_status_new(const char *task_id, const char *executor_id, const char *state,
                       const char *reason, const char *message, const unsigned char uuid[16]);

/* Call envelopes; each returns a new JSON object the caller owns.
 * unacked_tasks / unacked_updates are borrowed arrays (may be NULL). */
json_t *exe_call_subscribe(const char *framework_id, const char *executor_id,
                           const json_t *unacked_tasks, const json_t *unacked_updates);
json_t *exe_call_update(const char *framework_id, const char *executor_id, const json_t *status);
json_t *exe_call_message(const char *framework_id, const char *executor_id, const char *data,
                         size_t len);

#endif
