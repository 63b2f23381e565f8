/* Diff, ownership and prune planning; see plan.h. */
#include "cli/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apis/jdiff.h"
#include "base/buf.h"
#include "base/xalloc.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *cli_json_diff(const json_t *old, const json_t *new, const char *indent)
{
    return api_json_diff(old, new, indent);
}

const char *cli_deploy_set(const json_t *deploy)
{
    const json_t *md = json_object_get(deploy, "metadata");
    return json_string_value(json_object_get(md, CLI_SET_LABEL));
}

bool cli_parent_owned_by(const json_t *parent, const char *set)
{
    static const char *const fields[] = {"activeDeploy", "pendingDeploy"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = cli_deploy_set(json_object_get(parent, fields[i]));
        if (s && strcmp(s, set) == 0)
            return true;
    }
    return false;
}

void cli_prune_plan(const json_t *parents, const api_strlist *keep, const char *set,
                    api_strlist *out)
{
    size_t i;
    const json_t *p;
    json_array_foreach (parents, i, p) {
        const char *id = json_string_value(json_object_get(json_object_get(p, "request"), "id"));
        if (!id || api_strlist_contains(keep, id) || !cli_parent_owned_by(p, set))
            continue;
        api_strlist_add(out, id);
    }
}

json_t *cli_deploy_comparable(const json_t *d)
{
    json_t *c = json_deep_copy(d), *md;
    if (!c)
        return json_object();
    json_object_del(c, "timestamp");
    md = json_object_get(c, "metadata");
    if (json_is_object(md)) {
        json_object_del(md, CLI_SET_LABEL);
        if (json_object_size(md) == 0)
            json_object_del(c, "metadata");
    }
    return c;
}

char *cli_set_name_from_paths(const char *const *paths, size_t n)
{
    const char **v = xcalloc(n + 1, sizeof(char *));
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const char *base = "manifests";
    char *name;

    memcpy(v, paths, n * sizeof(char *));
    qsort(v, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0) * 1099511628211ULL; /* separator */
    }
    if (n) {
        size_t len = strlen(v[0]);
        while (len > 1 && v[0][len - 1] == '/')
            len--;
        const char *s = v[0] + len;
        while (s > v[0] && s[-1] != '/')
            s--;
        base = s;
        name = xasprintf("%.*s-%08x", (int)(v[0] + len - s), base, (unsigned)(h & 0xffffffffu));
    } else {
        name = xasprintf("%s-%08x", base, (unsigned)(h & 0xffffffffu));
    }
    free(v);
    return name;
}
