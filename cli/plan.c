/* Diff, ownership and prune planning; see plan.h. */
#include "cli/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

static char *compact(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    return s ? s : xstrdup("?");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void diff_rec(cr_buf *b, const char *path, const json_t *o, const json_t *n,
                     const char *indent)
{
    if (o && n && json_is_object(o) && json_is_object(n)) {
        size_t cap = json_object_size(o) + json_object_size(n), nk = 0;
        const char **keys = xcalloc(cap + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)o, k, v)
            keys[nk++] = k;
        json_object_foreach ((json_t *)n, k, v)
            if (!json_object_get(o, k))
                keys[nk++] = k;
        qsort(keys, nk, sizeof(char *), cmp_str);
        for (size_t i = 0; i < nk; i++) {
            char *p = *path ? xasprintf("%s.%s", path, keys[i]) : xstrdup(keys[i]);
            diff_rec(b, p, json_object_get(o, keys[i]), json_object_get(n, keys[i]), indent);
            free(p);
        }
        free(keys);
        return;
    }
    if (o && n && json_equal((json_t *)o, (json_t *)n))
        return;
    const char *label = *path ? path : "(document)";
    char *os = o ? compact(o) : NULL, *ns = n ? compact(n) : NULL;
    if (o && n)
        cr_buf_addf(b, "%s~ %s: %s -> %s\n", indent, label, os, ns);
    else if (n)
        cr_buf_addf(b, "%s+ %s: %s\n", indent, label, ns);
    else if (o)
        cr_buf_addf(b, "%s- %s: %s\n", indent, label, os);
    free(os);
    free(ns);
}

char *cli_json_diff(const json_t *old, const json_t *new, const char *indent)
{
    cr_buf b = CR_BUF_INIT;
    diff_rec(&b, "", old, new, indent ? indent : "");
    if (!b.len) {
        cr_buf_release(&b);
        return NULL;
    }
    return cr_buf_detach(&b, NULL);
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
