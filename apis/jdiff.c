/* JSON diff: see jdiff.h. (Moved from cli/plan.c so the GitOps loop shares it.) */
#include "apis/jdiff.h"

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

char *api_json_diff(const json_t *old, const json_t *new, const char *indent)
{
    cr_buf b = CR_BUF_INIT;
    diff_rec(&b, "", old, new, indent ? indent : "");
    if (!b.len) {
        cr_buf_release(&b);
        return NULL;
    }
    return cr_buf_detach(&b, NULL);
}
