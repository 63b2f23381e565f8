#include "mesoslite/ml_proto.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void ml_uuid_v4_from(uint8_t u[16])
{
    u[6] = (uint8_t)((u[6] & 0x0F) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
}

void ml_uuid_str(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ml_b64_encode(const uint8_t *d, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *p++ = B64[d[i] >> 2];
        *p++ = B64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
        *p++ = B64[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)];
        *p++ = B64[d[i + 2] & 63];
    }
    if (i < len) {
        *p++ = B64[d[i] >> 2];
        if (i + 1 < len) {
            *p++ = B64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
            *p++ = B64[(d[i + 1] & 15) << 2];
        } else {
            *p++ = B64[(d[i] & 3) << 4];
            *p++ = '=';
        }
        *p++ = '=';
    }
    *p = '\0';
    return out;
}

static int b64val(char c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

long ml_b64_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s), o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64val(s[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        for (int k = 0; k < 3 - pad; k++) {
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(w >> (16 - 8 * k));
        }
    }
    return (long)o;
}

bool ml_uuid_b64_valid(const char *s)
{
    uint8_t u[32];
    int version;

    if (!s || ml_b64_decode(s, u, sizeof(u)) != 16)
        return false;
    version = u[6] >> 4;
    return version >= 1 && version <= 5;
}

void ml_duration_str(int64_t ns, char *out, size_t size)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {
        {"weeks", 604800e9}, {"days", 86400e9}, {"hrs", 3600e9}, {"mins", 60e9},
        {"secs", 1e9},       {"ms", 1e6},       {"us", 1e3},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if ((double)ns >= units[i].ns) {
            snprintf(out, size, "%.15g%s", (double)ns / units[i].ns, units[i].unit);
            return;
        }
    }
    snprintf(out, size, "%lldns", (long long)ns);
}

json_t *ml_id(const char *s)
{
    return json_pack("{s:s}", "value", s);
}

const char *ml_id_get(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, key), "value"));
}

json_t *ml_status_json(const ml_status_spec *s)
{
    json_t *o = json_object();

    json_object_set_new(o, "task_id", ml_id(s->task_id));
    json_object_set_new(o, "state", json_string(s->state));
    if (s->message)
        json_object_set_new(o, "message", json_string(s->message));
    if (s->source)
        json_object_set_new(o, "source", json_string(s->source));
    if (s->reason)
        json_object_set_new(o, "reason", json_string(s->reason));
    if (s->data)
        json_object_set_new(o, "data", json_string(s->data));
    if (s->agent_id)
        json_object_set_new(o, "agent_id", ml_id(s->agent_id));
    if (s->executor_id)
        json_object_set_new(o, "executor_id", ml_id(s->executor_id));
    json_object_set_new(o, "timestamp", json_real(s->timestamp));
    if (s->uuid)
        json_object_set_new(o, "uuid", json_string(s->uuid));
    if (s->healthy >= 0)
        json_object_set_new(o, "healthy", json_boolean(s->healthy));
    if (s->container_id) {
        json_t *cs = json_object();
        json_object_set_new(cs, "container_id", ml_id(s->container_id));
        if (s->ip)
            json_object_set_new(cs, "network_infos",
                                json_pack("[{s:[{s:s, s:s}]}]", "ip_addresses", "protocol", "IPv4",
                                          "ip_address", s->ip));
        if (s->executor_pid > 0)
            json_object_set_new(cs, "executor_pid", json_integer(s->executor_pid));
        json_object_set_new(o, "container_status", cs);
    }
    if (s->unreachable_ns > 0)
        json_object_set_new(o, "unreachable_time",
                            json_pack("{s:I}", "nanoseconds", (json_int_t)s->unreachable_ns));
    return o;
}

json_t *ml_ev_subscribed(const char *framework_id, double heartbeat_s, json_t *master_info)
{
    json_t *sub = json_pack("{s:o, s:f}", "framework_id", ml_id(framework_id),
                            "heartbeat_interval_seconds", heartbeat_s);
    if (master_info)
        json_object_set_new(sub, "master_info", master_info);
    return json_pack("{s:s, s:o}", "type", "SUBSCRIBED", "subscribed", sub);
}

json_t *ml_ev_heartbeat(void)
{
    return json_pack("{s:s}", "type", "HEARTBEAT");
}

json_t *ml_ev_error(const char *message)
{
    return json_pack("{s:s, s:{s:s}}", "type", "ERROR", "error", "message", message);
}

json_t *ml_ev_offers(json_t *offers)
{
    return json_pack("{s:s, s:{s:o}}", "type", "OFFERS", "offers", "offers", offers);
}

json_t *ml_ev_rescind(const char *offer_id)
{
    return json_pack("{s:s, s:{s:o}}", "type", "RESCIND", "rescind", "offer_id", ml_id(offer_id));
}

json_t *ml_ev_update(json_t *status)
{
    return json_pack("{s:s, s:{s:o}}", "type", "UPDATE", "update", "status", status);
}

json_t *ml_ev_failure(const char *agent_id, const char *executor_id, long status)
{
    json_t *f = json_object();
    if (agent_id)
        json_object_set_new(f, "agent_id", ml_id(agent_id));
    if (executor_id)
        json_object_set_new(f, "executor_id", ml_id(executor_id));
    if (status >= 0)
        json_object_set_new(f, "status", json_integer(status));
    return json_pack("{s:s, s:o}", "type", "FAILURE", "failure", f);
}

json_t *ml_ev_message(const char *agent_id, const char *executor_id, const char *data_b64)
{
    return json_pack("{s:s, s:{s:o, s:o, s:s}}", "type", "MESSAGE", "message", "agent_id",
                     ml_id(agent_id), "executor_id", ml_id(executor_id), "data", data_b64);
}

json_t *ml_master_info(const char *id, const char *ip, int port, const char *hostname,
                       const char *version)
{
    struct in_addr a;
    char pid[128];

    if (inet_pton(AF_INET, ip, &a) != 1)
        a.s_addr = 0;
    snprintf(pid, sizeof(pid), "master@%s:%d", ip, port);
    /* `ip` is the address in network byte order read as a host integer. */
    return json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s},{s:s},{s:s}]}",
                     "id", id, "ip", (json_int_t)a.s_addr, "port", port, "pid", pid, "hostname",
                     hostname, "version", version, "address", "hostname", hostname, "ip", ip,
                     "port", port, "capabilities", "type", "AGENT_UPDATE", "type", "AGENT_DRAINING",
                     "type", "QUOTA_V2");
}

json_t *ml_attributes_from_spec(const char *spec, char *err, size_t errlen)
{
    json_t *arr = json_array();
    char *copy = xstrdup(spec), *save = NULL, *tok;

    for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(tok, ':'), *value, *end;
        double d;
        if (!colon || colon == tok || !colon[1]) {
            snprintf(err, errlen, "attribute '%s': expecting name:value", tok);
            json_decref(arr);
            arr = NULL;
            break;
        }
        *colon = '\0';
        value = colon + 1;
        d = strtod(value, &end);
        if (*end == '\0') {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:{s:f}}", "name", tok, "type",
                                                 "SCALAR", "scalar", "value", d));
        } else if (value[0] == '[' && value[strlen(value) - 1] == ']') {
            json_t *ranges = json_array();
            char *p = value + 1;
            while (*p && *p != ']') {
                unsigned long long b = strtoull(p, &end, 10), e;
                if (end == p || *end != '-')
                    break;
                p = end + 1;
                e = strtoull(p, &end, 10);
                if (end == p)
                    break;
                json_array_append_new(
                    ranges, json_pack("{s:I, s:I}", "begin", (json_int_t)b, "end", (json_int_t)e));
                p = end;
                while (*p == ',' || *p == ' ')
                    p++;
            }
            json_array_append_new(arr, json_pack("{s:s, s:s, s:{s:o}}", "name", tok, "type",
                                                 "RANGES", "ranges", "range", ranges));
        } else {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:{s:s}}", "name", tok, "type", "TEXT",
                                                 "text", "value", value));
        }
    }
    free(copy);
    return arr;
}

bool ml_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 255 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

bool ml_state_terminal(const char *s)
{
    static const char *const t[] = {
        "TASK_FINISHED", "TASK_FAILED",  "TASK_KILLED", "TASK_ERROR",
        "TASK_LOST",     "TASK_DROPPED", "TASK_GONE",   "TASK_GONE_BY_OPERATOR"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i]) == 0)
            return true;
    return false;
}

/* --- call checks ---------------------------------------------------------- */

static const char *const SCHED_CALLS[] = {"SUBSCRIBE",
                                          "TEARDOWN",
                                          "ACCEPT",
                                          "DECLINE",
                                          "ACCEPT_INVERSE_OFFERS",
                                          "DECLINE_INVERSE_OFFERS",
                                          "REVIVE",
                                          "KILL",
                                          "SHUTDOWN",
                                          "ACKNOWLEDGE",
                                          "ACKNOWLEDGE_OPERATION_STATUS",
                                          "RECONCILE",
                                          "RECONCILE_OPERATIONS",
                                          "MESSAGE",
                                          "REQUEST",
                                          "SUPPRESS",
                                          "UPDATE_FRAMEWORK",
                                          "UNKNOWN",
                                          NULL};
static const char *const EXEC_CALLS[] = {"SUBSCRIBE", "UPDATE",  "MESSAGE",
                                         "HEARTBEAT", "UNKNOWN", NULL};

static bool known(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static void fail(ml_check *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(ml_check *out, int status, const char *fmt, ...)
{
    va_list ap;
    out->status = status;
    va_start(ap, fmt);
    vsnprintf(out->body, sizeof(out->body), fmt, ap);
    va_end(ap);
    json_decref(out->call);
    out->call = NULL;
    out->type = NULL;
}

/* Mesos' JSON parser reports "syntax error at line N near: <rest of line>",
 * the rest starting at the token that failed. */
static void syntax_error(ml_check *out, const char *body, size_t len, const json_error_t *je)
{
    size_t pos = (size_t)je->position, start, end;
    int line = 1;

    if (pos > len)
        pos = len;
    start = pos;
    while (start > 0 && !strchr(" \t\r\n,:[{", body[start - 1]))
        start--;
    for (size_t i = 0; i < start; i++)
        if (body[i] == '\n')
            line++;
    end = start;
    while (end < len && body[end] != '\n')
        end++;
    fail(out, 400, "Failed to parse body into JSON: syntax error at line %d near: %.*s", line,
         (int)(end - start > 200 ? 200 : end - start), body + start);
}

static const char *sub_key(const char *type, char *buf, size_t size)
{
    size_t i;
    for (i = 0; type[i] && i + 1 < size; i++)
        buf[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
    buf[i] = '\0';
    return buf;
}

void ml_check_call(enum ml_api api, bool method_post, const char *method_name,
                   const char *content_type, const char *body, size_t len, ml_check *out)
{
    json_error_t je;
    json_t *type;
    const char *prefix = api == ML_API_SCHEDULER ? "Failed to validate scheduler::Call: "
                                                 : "Failed to validate executor::Call: ";
    const char *t;
    char key[64];

    memset(out, 0, sizeof(*out));
    if (!method_post) {
        fail(out, 405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received '%s'.",
             method_name);
        return;
    }
    if (!content_type) {
        fail(out, 400, "Expecting 'Content-Type' to be present");
        return;
    }
    if (strcmp(content_type, "application/json") != 0) {
        fail(out, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
        return;
    }
    out->call = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &je);
    if (!out->call) {
        syntax_error(out, body ? body : "", len, &je);
        return;
    }
    if (!json_is_object(out->call)) {
        fail(out, 400, "Failed to convert JSON into Call protobuf: Expecting a JSON object");
        return;
    }
    type = json_object_get(out->call, "type");
    if (json_is_number(type)) {
        fail(out, 400,
             "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field "
             "'type'");
        return;
    }
    t = json_string_value(type);
    /* An unknown enum name in an optional field is dropped silently. */
    if (!t || !known(api == ML_API_SCHEDULER ? SCHED_CALLS : EXEC_CALLS, t)) {
        fail(out, 400, "%sExpecting 'type' to be present", prefix);
        return;
    }
    out->type = t;
    if (strcmp(t, "UNKNOWN") == 0) {
        fail(out, 501, "Received 'UNKNOWN' call");
        return;
    }
    if (api == ML_API_EXECUTOR) {
        if (!json_is_object(json_object_get(out->call, "executor_id")) ||
            !ml_id_get(out->call, "executor_id")) {
            fail(out, 400, "%sExpecting 'executor_id' to be present", prefix);
            return;
        }
        if (!ml_id_get(out->call, "framework_id")) {
            fail(out, 400, "%sExpecting 'framework_id' to be present", prefix);
            return;
        }
        if (strcmp(t, "HEARTBEAT") != 0 &&
            !json_is_object(json_object_get(out->call, sub_key(t, key, sizeof(key))))) {
            fail(out, 400, "%sExpecting '%s' to be present", prefix, key);
            return;
        }
        return;
    }
    /* Scheduler calls. */
    if (strcmp(t, "SUBSCRIBE") == 0) {
        json_t *sub = json_object_get(out->call, "subscribe");
        const char *top, *inner;
        if (!json_is_object(sub)) {
            fail(out, 400, "%sExpecting 'subscribe' to be present", prefix);
            return;
        }
        if (!json_is_object(json_object_get(sub, "framework_info"))) {
            fail(out, 400,
                 "Failed to convert JSON into Call protobuf: Missing required fields: "
                 "subscribe.framework_info");
            return;
        }
        top = ml_id_get(out->call, "framework_id");
        inner = ml_id_get(json_object_get(sub, "framework_info"), "id");
        if ((top || inner) && (!top || !inner || strcmp(top, inner) != 0)) {
            fail(out, 400, "%s'framework_id' differs from 'subscribe.framework_info.id'", prefix);
            return;
        }
        return;
    }
    if (!ml_id_get(out->call, "framework_id")) {
        fail(out, 400, "%sExpecting 'framework_id' to be present", prefix);
        return;
    }
    if (strcmp(t, "TEARDOWN") != 0 && strcmp(t, "REVIVE") != 0 && strcmp(t, "SUPPRESS") != 0 &&
        !json_is_object(json_object_get(out->call, sub_key(t, key, sizeof(key))))) {
        fail(out, 400, "%sExpecting '%s' to be present", prefix, key);
        return;
    }
    if (strcmp(t, "ACKNOWLEDGE") == 0) {
        json_t *ack = json_object_get(out->call, "acknowledge");
        if (!ml_id_get(ack, "agent_id") || !ml_id_get(ack, "task_id") ||
            !json_is_string(json_object_get(ack, "uuid"))) {
            fail(out, 400,
                 "Failed to convert JSON into Call protobuf: Missing required fields: "
                 "acknowledge.agent_id, acknowledge.task_id, acknowledge.uuid");
            return;
        }
        if (ml_b64_decode(json_string_value(json_object_get(ack, "uuid")), (uint8_t[64]){0}, 64) <
            0) {
            fail(out, 400,
                 "Failed to convert JSON into Call protobuf: Failed to base64 decode bytes field");
            return;
        }
        if (!ml_uuid_b64_valid(json_string_value(json_object_get(ack, "uuid")))) {
            fail(out, 400, "%sNot a valid UUID", prefix);
            return;
        }
    }
    if (strcmp(t, "KILL") == 0 && !ml_id_get(json_object_get(out->call, "kill"), "task_id")) {
        fail(out, 400,
             "Failed to convert JSON into Call protobuf: Missing required fields: kill.task_id");
        return;
    }
}
