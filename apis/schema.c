/* api_schema: see schema.h. */
#include "apis/schema.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* ---- the document ------------------------------------------------------------ */

static int bad(cr_err *err, const char *field, const char *what)
{
    return cr_error(err, CR_EPARSE, "schema: %s: %s", field, what);
}

int api_schema_decode(const char *value, size_t len, api_schema *out, cr_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(value, len, 0, &je), *v, *m;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!root || !json_is_object(root)) {
        cr_error(err, CR_EPARSE, "schema: not a JSON object%s%s", root ? "" : ": ",
                 root ? "" : je.text);
        goto out;
    }
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
        bad(err, "version", "must be an integer from 1");
        goto out;
    }
    out->version = (int)json_integer_value(v);
    v = json_object_get(root, "writers");
    if (v && !json_is_array(v)) {
        bad(err, "writers", "must be a list of strings");
        goto out;
    }
    for (size_t i = 0; v && i < json_array_size(v); i++) {
        json_t *w = json_array_get(v, i);
        if (!json_is_string(w)) {
            bad(err, "writers", "must be a list of strings");
            goto out;
        }
        api_strlist_add(&out->writers, json_string_value(w));
    }
    v = json_object_get(root, "updatedAt");
    if (v && !json_is_integer(v)) {
        bad(err, "updatedAt", "must be epoch milliseconds");
        goto out;
    }
    out->updated_at = v ? json_integer_value(v) : 0;
    m = json_object_get(root, "migration");
    if (m && !json_is_null(m)) {
        json_t *to = json_object_get(m, "to"), *after = json_object_get(m, "after");
        if (!json_is_object(m) || !json_is_integer(to) || json_integer_value(to) < 2 ||
            json_integer_value(to) > 1000000) {
            bad(err, "migration.to", "must be an integer from 2");
            goto out;
        }
        if (after && !json_is_null(after) && !json_is_string(after)) {
            bad(err, "migration.after", "must be a key");
            goto out;
        }
        out->migrating_to = (int)json_integer_value(to);
        out->migrated_after = json_is_string(after) ? xstrdup(json_string_value(after)) : NULL;
    }
    out->extra = json_deep_copy(root);
    json_object_del(out->extra, "version");
    json_object_del(out->extra, "writers");
    json_object_del(out->extra, "updatedAt");
    json_object_del(out->extra, "migration");
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        api_schema_release(out);
    return rc;
}

char *api_schema_encode(const api_schema *s)
{
    json_t *root = s->extra ? json_deep_copy(s->extra) : json_object(), *w = json_array();
    char *text;

    json_object_set_new(root, "version", json_integer(s->version));
    for (size_t i = 0; i < s->writers.n; i++)
        json_array_append_new(w, json_string(s->writers.v[i]));
    json_object_set_new(root, "writers", w);
    json_object_set_new(root, "updatedAt", json_integer(s->updated_at));
    if (s->migrating_to) {
        json_t *m = json_object();
        json_object_set_new(m, "to", json_integer(s->migrating_to));
        if (s->migrated_after)
            json_object_set_new(m, "after", json_string(s->migrated_after));
        json_object_set_new(root, "migration", m);
    }
    text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        abort(); /* allocation failure */
    return text;
}

void api_schema_release(api_schema *s)
{
    api_strlist_release(&s->writers);
    free(s->migrated_after);
    json_decref(s->extra);
    memset(s, 0, sizeof(*s));
}

bool api_schema_add_writer(api_schema *s, const char *release)
{
    api_strlist *w = &s->writers;
    size_t at = w->n;

    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i], release) == 0)
            at = i;
    if (at + 1 == w->n && w->n <= API_SCHEMA_MAX_WRITERS)
        return false; /* already last */
    if (at < w->n) {
        char *keep = w->v[at];
        memmove(&w->v[at], &w->v[at + 1], (w->n - at - 1) * sizeof(*w->v));
        w->v[w->n - 1] = keep;
    } else {
        api_strlist_add(w, release);
    }
    while (w->n > API_SCHEMA_MAX_WRITERS) {
        free(w->v[0]);
        memmove(&w->v[0], &w->v[1], (w->n - 1) * sizeof(*w->v));
        w->n--;
    }
    return true;
}

/* ---- migrations ------------------------------------------------------------------ */

/* Layout 1 is the first versioned layout: nothing to migrate from yet. A
 * migration to layout 2 goes here as {1, "1 -> 2: ...", step}. */
static const api_migration migrations[] = {
    {0, NULL, NULL},
};

const api_migration *api_schema_migrations(size_t *n)
{
    *n = 0; /* the sentinel above is not a migration */
    return migrations;
}

/* ---- the plan ---------------------------------------------------------------------- */

const char *api_schema_action_name(api_schema_action a)
{
    switch (a) {
    case API_SCHEMA_WRITE:
        return "write";
    case API_SCHEMA_LEAD:
        return "lead";
    case API_SCHEMA_MIGRATE:
        return "migrate";
    case API_SCHEMA_REFUSE:
        return "refuse";
    }
    return "?";
}

static bool has_migration(const api_migration *m, size_t n, int from)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].from == from && m[i].step)
            return true;
    return false;
}

api_schema_action api_schema_plan(const api_schema *observed, int mine, const char *release,
                                  const api_migration *migrations_, size_t nmigrations, cr_err *err)
{
    int target;

    if (!observed)
        return API_SCHEMA_WRITE;
    target = observed->migrating_to ? observed->migrating_to : observed->version;
    if (observed->version > mine || target > mine) {
        const api_strlist *w = &observed->writers;
        cr_error(err, CR_EUNSUPPORTED,
                 "etcd layout version %d%s (written by Corral %s) is newer than this corrald "
                 "(%s) knows (%d): not leading; upgrade this replica, or restore the backup "
                 "taken before the upgrade (docs/operations.md, \"Rollback\")",
                 target, observed->migrating_to ? ", being migrated to," : "",
                 w->n ? w->v[w->n - 1] : "unknown", release, mine);
        return API_SCHEMA_REFUSE;
    }
    if (observed->version == mine && !observed->migrating_to) {
        const api_strlist *w = &observed->writers;
        return w->n && strcmp(w->v[w->n - 1], release) == 0 ? API_SCHEMA_LEAD : API_SCHEMA_WRITE;
    }
    for (int from = observed->version; from < mine; from++)
        if (!has_migration(migrations_, nmigrations, from)) {
            cr_error(err, CR_EUNSUPPORTED,
                     "etcd layout version %d: this corrald (%s) has no migration from layout "
                     "%d to %d: not leading; upgrade through a release that has it "
                     "(docs/operations.md, \"Upgrade\")",
                     observed->version, release, from, from + 1);
            return API_SCHEMA_REFUSE;
        }
    return API_SCHEMA_MIGRATE;
}
