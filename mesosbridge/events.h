/* Typed decoding of Mesos v1 scheduler events (protocol sheet section 3).
 * Pure: JSON text in, struct out. 64-bit integers (ranges, nanoseconds) are
 * read as integers, never through double (jansson keeps integer tokens as
 * json_int_t). Unknown event types decode as MB_EV_UNKNOWN and are ignored
 * by the bridge; unknown fields are ignored (Mesos may add some).
 *
 * Ownership: mb_event_decode fills a caller-provided mb_event that owns all
 * its pointers; release it with mb_event_release. */
#ifndef MB_EVENTS_H
#define MB_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apis/task.h"
#include "base/err.h"

typedef enum {
    MB_EV_UNKNOWN = 0,
    MB_EV_SUBSCRIBED,
    MB_EV_OFFERS,
    MB_EV_INVERSE_OFFERS,
    MB_EV_RESCIND,
    MB_EV_RESCIND_INVERSE_OFFER,
    MB_EV_UPDATE,
    MB_EV_UPDATE_OPERATION_STATUS,
    MB_EV_MESSAGE,
    MB_EV_FAILURE,
    MB_EV_ERROR,
    MB_EV_HEARTBEAT,
} mb_event_type;

/* "OFFERS"; "UNKNOWN" for MB_EV_UNKNOWN. */
const char *mb_event_type_name(mb_event_type t);

typedef struct mb_range {
    uint64_t begin, end; /* inclusive */
} mb_range;

/* One entry of Offer.resources. */
typedef struct mb_resource {
    char *name;     /* "cpus", "mem", "disk", "ports", ... */
    bool is_scalar; /* SCALAR (else RANGES or SET/other) */
    double scalar;
    size_t n_ranges;
    mb_range *ranges; /* RANGES */
    char *role;       /* the deprecated "role" ("*" when unreserved), or NULL */
    char *raw;        /* the entry as received, compact JSON text (owned; a tree is
                       * ~10x its text, and thousands of offers are held): parsed
                       * into LAUNCH so role/allocation_info/reservation(s) stay
                       * as offered */
} mb_resource;

/* An agent attribute; SCALAR values are kept as text too ("3") so a rack
 * named 3 matches either form (sheet 3.1). */
typedef struct mb_attr {
    char *name;
    char *text; /* TEXT value, or the formatted SCALAR/RANGES/SET value */
} mb_attr;

typedef struct mb_offer {
    char *id;
    char *framework_id;
    char *agent_id;
    char *hostname;
    char *agent_url; /* "http://host:port" from url, or NULL */
    char *role;      /* allocation_info.role, or NULL */
    size_t n_resources;
    mb_resource *resources;
    size_t n_attrs;
    mb_attr *attrs;
    size_t n_executor_ids;
    char **executor_ids;
    /* Offer.unavailability is set: the agent has maintenance scheduled
     * (the offer cache does not hold such an offer). */
    bool unavailable;
    /* Totals over resources (unreserved and reserved alike). */
    double cpus, mem, disk;
    uint64_t nports;
} mb_offer;

typedef struct mb_status {
    char *task_id;
    api_task_state state; /* API_TASK_STATE_NONE if state_name is unknown */
    char *state_name;
    char *message;
    char *source; /* SOURCE_MASTER|SOURCE_AGENT|SOURCE_EXECUTOR or NULL */
    char *reason; /* NULL when absent */
    char *agent_id;
    char *executor_id;
    double timestamp; /* epoch seconds; 0 if absent */
    char *uuid;       /* base64 as received; NULL = never ACK */
    bool has_healthy;
    bool healthy;
    bool has_unreachable_ns;
    int64_t unreachable_ns; /* unreachable_time.nanoseconds */
} mb_status;

typedef struct mb_event {
    mb_event_type type;
    union {
        struct {
            char *framework_id;
            double heartbeat_interval_seconds; /* 15 when absent */
            char *master_hostname;             /* master_info.hostname */
            char *master_pid;
        } subscribed;
        struct {
            size_t n;
            mb_offer *v;
        } offers;
        struct {
            char *offer_id;
        } rescind;
        mb_status update;
        struct {
            char *agent_id;
            char *executor_id;
            bool has_status;
            int status; /* raw waitpid status */
        } failure;
        struct {
            char *message;
        } error;
        struct {
            char *agent_id;
            char *executor_id;
            char *data; /* base64 */
        } message;
    } u;
} mb_event;

/* Decodes one event (the bytes of one RecordIO record). Returns 0, or -1
 * with err set (CR_EPARSE) when it is not JSON, has no string "type", or a
 * known type lacks a required part (an UPDATE without task_id/state, an
 * OFFERS without offers.offers, ...). On -1 *ev is left empty. */
int mb_event_decode(const char *data, size_t len, mb_event *ev, cr_err *err);
/* Same from a parsed object (borrowed). */
int mb_event_decode_json(const json_t *j, mb_event *ev, cr_err *err);
void mb_event_release(mb_event *ev);

/* The value of an Attribute (TEXT, SCALAR, RANGES, SET) as text: "r1",
 * "3", "[1-4]", "{a,b}". Caller frees; NULL for an unknown type. */
char *mb_attr_text(const json_t *attr);

/* Looks up an attribute value (borrowed) or NULL. */
const char *mb_offer_attr(const mb_offer *o, const char *name);
void mb_offer_release(mb_offer *o);
/* Deep copy (dst owns its own copies). */
void mb_offer_copy(mb_offer *dst, const mb_offer *src);
void mb_status_release(mb_status *s);

/* Exit code from a Mesos status message ("Command exited with status 3"),
 * or -1 when the message does not say. */
int mb_exit_code_from_message(const char *message);

#endif
