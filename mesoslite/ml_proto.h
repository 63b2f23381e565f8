/* Wire shapes of the Mesos v1 JSON protocol as mesoslite emits and checks
 * them: UUIDs, base64, stout durations, TaskStatus and event builders, and
 * the state-free validation of scheduler/executor calls with Mesos' exact
 * status codes and error bodies. Pure code: no I/O, no clock (callers pass
 * timestamps and random bytes in).
 *
 * Ownership: every function returning json_t * or char * hands the caller a
 * new reference / allocation. */
#ifndef ML_PROTO_H
#define ML_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Makes an RFC 4122 version-4 UUID out of 16 random bytes (in place). */
void ml_uuid_v4_from(uint8_t u[16]);
/* Formats as "xxxxxxxx-xxxx-...", out at least 37 bytes. */
void ml_uuid_str(const uint8_t u[16], char out[37]);

/* Standard base64 with '=' padding. */
char *ml_b64_encode(const uint8_t *data, size_t len);
/* Decodes into out (cap bytes); returns the length or -1 if invalid. */
long ml_b64_decode(const char *s, uint8_t *out, size_t cap);
/* Whether s is base64 of 16 bytes with an RFC 4122 version nibble 1..5
 * (what Mesos requires of TaskStatus.uuid and Acknowledge.uuid). */
bool ml_uuid_b64_valid(const char *s);

/* A stout duration string ("5secs", "1.5secs", "15mins") for ns. */
void ml_duration_str(int64_t ns, char *out, size_t size);

/* A TaskStatus. NULL/0 fields are left out; key order follows Mesos. */
typedef struct ml_status_spec {
    const char *task_id, *state, *message, *source, *reason;
    const char *agent_id, *executor_id, *uuid; /* uuid: base64 */
    const char *data;                          /* base64 */
    double timestamp;
    const char *container_id; /* with ip: the container_status block */
    const char *ip;
    long executor_pid;      /* > 0 to include */
    int64_t unreachable_ns; /* > 0 to include unreachable_time */
    int healthy;            /* -1 absent, 0/1 */
} ml_status_spec;

json_t *ml_status_json(const ml_status_spec *s);

/* Scheduler events. `steal` arguments are consumed. */
json_t *ml_ev_subscribed(const char *framework_id, double heartbeat_s,
                         json_t *master_info /*steal*/);
json_t *ml_ev_heartbeat(void);
json_t *ml_ev_error(const char *message);
json_t *ml_ev_offers(json_t *offers /*steal, array*/);
json_t *ml_ev_rescind(const char *offer_id);
json_t *ml_ev_update(json_t *status /*steal*/);
json_t *ml_ev_failure(const char *agent_id, const char *executor_id, long status /* <0: none */);
json_t *ml_ev_message(const char *agent_id, const char *executor_id, const char *data_b64);

/* MasterInfo. ip is dotted IPv4 (the deprecated uint32 `ip` is derived). */
json_t *ml_master_info(const char *id, const char *ip, int port, const char *hostname,
                       const char *version);

/* Parses agent attributes in Mesos' --attributes syntax ("rack:r17;gen:3;
 * slots:[1-4]") into Attribute[]: a value that parses as a number is SCALAR,
 * "[a-b,...]" is RANGES, anything else TEXT. Returns NULL with err on a
 * malformed entry. Caller owns the result. */
json_t *ml_attributes_from_spec(const char *spec, char *err, size_t errlen);

/* {"value": s} */
json_t *ml_id(const char *s);
/* Borrowed value of {"value": "..."} at obj[key], or NULL. */
const char *ml_id_get(const json_t *obj, const char *key);

/* Result of a state-free call check: on failure, status and body are the
 * HTTP answer; on success call holds the parsed call (caller owns). */
typedef struct ml_check {
    int status; /* 0 when the call passed */
    char body[512];
    json_t *call;
    const char *type; /* borrowed from call */
} ml_check;

enum ml_api { ML_API_SCHEDULER, ML_API_EXECUTOR };

/* Checks method, Content-Type, JSON syntax and the call's own validation
 * (type, sub-message, framework_id / executor_id presence), in Mesos' order.
 * method_post: whether the method is POST; method_name for the 405 body. */
void ml_check_call(enum ml_api api, bool method_post, const char *method_name,
                   const char *content_type, const char *body, size_t len, ml_check *out);

/* Whether a task/executor/framework id is acceptable to Mesos: non-empty,
 * at most 255 bytes, not "." or "..", no '/', '\\' or control characters. */
bool ml_valid_id(const char *id);

/* Whether a TaskState name is terminal in Mesos' accounting. */
bool ml_state_terminal(const char *state);

#endif
