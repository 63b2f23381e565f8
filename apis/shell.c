/* Task shell command documents; see shell.h. */
#include "apis/shell.h"

#include <inttypes.h>
#include <string.h>

#include "base/xalloc.h"

bool api_shell_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

char *api_shell_id(int64_t timestamp, const char *name)
{
    return xasprintf("%013" PRId64 "-%s", timestamp, name);
}

json_t *api_shell_doc_new(const json_t *task_id, const char *user, int64_t timestamp,
                          const json_t *shell_command)
{
    json_t *req = json_pack("{s:O,s:I,s:O}", "taskId", task_id, "timestamp", (json_int_t)timestamp,
                            "shellCommand", shell_command);
    if (user)
        json_object_set_new(req, "user", json_string(user));
    return json_pack("{s:o,s:[]}", "shellRequest", req, "shellUpdates");
}

bool api_shell_update_final(const char *type)
{
    return type && (strcmp(type, "INVALID") == 0 || strcmp(type, "FINISHED") == 0 ||
                    strcmp(type, "FAILED") == 0);
}

int api_shell_update_parse(const char *data, size_t len, char **task_id, char **name,
                           int64_t *timestamp, json_t **update, cr_err *err)
{
    static const char *const types[] = {"INVALID", "ACKED", "STARTED", "FINISHED", "FAILED"};
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    const json_t *rid = json_object_get(j, "shellRequestId");
    const json_t *tid = json_object_get(rid, "taskId");
    const json_t *nm = json_object_get(rid, "name"), *ts = json_object_get(rid, "timestamp");
    const char *type = json_string_value(json_object_get(j, "updateType"));
    bool known = false;

    *task_id = *name = NULL;
    *update = NULL;
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        known = known || strcmp(type, types[i]) == 0;
    if (json_is_object(tid))
        tid = json_object_get(tid, "id");
    if (!json_is_object(j) || !json_is_string(tid) || !json_is_string(nm) || !json_is_integer(ts) ||
        !known) {
        json_decref(j);
        return cr_error(err, CR_EINVAL,
                        "not a shell command update (shellRequestId {taskId, name, timestamp} "
                        "and updateType INVALID|ACKED|STARTED|FINISHED|FAILED required)");
    }
    *task_id = xstrdup(json_string_value(tid));
    *name = xstrdup(json_string_value(nm));
    *timestamp = json_integer_value(ts);
    *update = j;
    return 0;
}

bool api_shell_doc_add_update(json_t *doc, const json_t *update)
{
    json_t *ups = json_object_get(doc, "shellUpdates"), *u;
    size_t i;
    if (!json_is_array(ups)) {
        ups = json_array();
        json_object_set_new(doc, "shellUpdates", ups);
    }
    json_array_foreach (ups, i, u) {
        if (json_equal(u, (json_t *)update))
            return false;
    }
    json_array_append_new(ups, json_deep_copy(update));
    while (json_array_size(ups) > API_SHELL_MAX_UPDATES)
        json_array_remove(ups, 0);
    return true;
}
