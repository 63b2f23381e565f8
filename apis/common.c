/* Containers, source maps, problems, id rules and durations; see common.h. */
#include "apis/common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "base/buf.h"
#include "base/xalloc.h"

void api_strlist_release(api_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void api_strlist_add(api_strlist *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
    l->v[l->n++] = xstrdup(s);
}

bool api_strlist_contains(const api_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void api_strmap_release(api_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].key);
        free(m->v[i].value);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

void api_strmap_set(api_strmap *m, const char *key, const char *value)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].key, key) == 0) {
            free(m->v[i].value);
            m->v[i].value = xstrdup(value);
            return;
        }
    }
    m->v = xrealloc(m->v, (m->n + 1) * sizeof(api_kv));
    m->v[m->n].key = xstrdup(key);
    m->v[m->n].value = xstrdup(value);
    m->n++;
}

const char *api_strmap_get(const api_strmap *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].key, key) == 0)
            return m->v[i].value;
    return NULL;
}

void api_intlist_release(api_intlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- source maps ----------------------------------------------------------- */

struct api_srcmap {
    char *file;
    json_t *pos; /* path -> [line, col] */
};

api_srcmap *api_srcmap_new(const char *file)
{
    api_srcmap *m = xcalloc(1, sizeof(*m));
    m->file = xstrdup(file);
    m->pos = json_object();
    return m;
}

void api_srcmap_free(api_srcmap *m)
{
    if (!m)
        return;
    free(m->file);
    json_decref(m->pos);
    free(m);
}

void api_srcmap_put(api_srcmap *m, const char *path, int line, int col)
{
    json_object_set_new(m->pos, path, json_pack("[ii]", line, col));
}

bool api_srcmap_find(const api_srcmap *m, const char *path, int *line, int *col)
{
    if (!m || !path)
        return false;
    char *p = xstrdup(path);
    bool found = false;
    for (;;) {
        json_t *v = json_object_get(m->pos, p);
        if (v) {
            *line = (int)json_integer_value(json_array_get(v, 0));
            *col = (int)json_integer_value(json_array_get(v, 1));
            found = true;
            break;
        }
        if (!*p)
            break;
        /* Strip the last component: ".name" or "[i]". */
        char *dot = strrchr(p, '.');
        char *br = strrchr(p, '[');
        char *cut = dot > br ? dot : br;
        if (!cut)
            cut = p;
        *cut = 0;
    }
    free(p);
    return found;
}

const char *api_srcmap_file(const api_srcmap *m)
{
    return m ? m->file : NULL;
}

/* ---- problems -------------------------------------------------------------- */

void api_problems_init(api_problems *p)
{
    memset(p, 0, sizeof(*p));
}

void api_problems_release(api_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].file);
        free(p->v[i].path);
        free(p->v[i].msg);
    }
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static void vadd(api_problems *p, const char *file, int line, int col, const char *path,
                 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void vadd(api_problems *p, const char *file, int line, int col, const char *path,
                 const char *fmt, va_list ap)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->v = xrealloc(p->v, p->cap * sizeof(api_problem));
    }
    api_problem *pr = &p->v[p->n++];
    pr->file = xstrdup(file);
    pr->line = line;
    pr->col = col;
    pr->path = xstrdup(path ? path : "");
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    pr->msg = msg;
}

void api_problems_add(api_problems *p, const char *path, const char *fmt, ...)
{
    int line = 0, col = 0;
    const char *file = NULL;
    if (p->srcmap) {
        file = api_srcmap_file(p->srcmap);
        api_srcmap_find(p->srcmap, path ? path : "", &line, &col);
    }
    va_list ap;
    va_start(ap, fmt);
    vadd(p, file, line, col, path, fmt, ap);
    va_end(ap);
}

void api_problems_add_at(api_problems *p, const char *file, int line, int col, const char *path,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(p, file, line, col, path, fmt, ap);
    va_end(ap);
}

void api_problems_move(api_problems *dst, api_problems *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (dst->n == dst->cap) {
            dst->cap = dst->cap ? dst->cap * 2 : 8;
            dst->v = xrealloc(dst->v, dst->cap * sizeof(api_problem));
        }
        dst->v[dst->n++] = src->v[i];
    }
    free(src->v);
    src->v = NULL;
    src->n = src->cap = 0;
}

static bool path_related(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    const char *s = la < lb ? a : b, *l = la < lb ? b : a;
    size_t ls = la < lb ? la : lb;
    return strncmp(s, l, ls) == 0 && (l[ls] == 0 || l[ls] == '.' || l[ls] == '[');
}

void api_problems_merge_new(api_problems *dst, size_t from, api_problems *src)
{
    api_problems keep = API_PROBLEMS_INIT;
    for (size_t i = 0; i < src->n; i++) {
        bool dup = false;
        for (size_t k = from; k < dst->n && !dup; k++)
            dup = path_related(dst->v[k].path, src->v[i].path);
        if (dup) {
            free(src->v[i].file);
            free(src->v[i].path);
            free(src->v[i].msg);
            continue;
        }
        if (keep.n == keep.cap) {
            keep.cap = keep.cap ? keep.cap * 2 : 8;
            keep.v = xrealloc(keep.v, keep.cap * sizeof(api_problem));
        }
        keep.v[keep.n++] = src->v[i];
    }
    free(src->v);
    src->v = NULL;
    src->n = src->cap = 0;
    api_problems_move(dst, &keep);
}

static size_t file_rank(const api_problems *p, size_t upto, const char *file)
{
    for (size_t i = 0; i < upto; i++) {
        const char *f = p->v[i].file;
        if ((!f && !file) || (f && file && strcmp(f, file) == 0))
            return i;
    }
    return upto;
}

void api_problems_sort(api_problems *p)
{
    size_t *rank = xcalloc(p->n + 1, sizeof(size_t));
    for (size_t i = 0; i < p->n; i++)
        rank[i] = file_rank(p, i, p->v[i].file);
    /* Insertion sort: stable, and problem lists are short. */
    for (size_t i = 1; i < p->n; i++) {
        for (size_t k = i; k > 0; k--) {
            api_problem *a = &p->v[k - 1], *b = &p->v[k];
            bool swap = rank[k - 1] > rank[k] ||
                        (rank[k - 1] == rank[k] &&
                         (a->line > b->line || (a->line == b->line && a->col > b->col)));
            if (!swap)
                break;
            api_problem t = *a;
            *a = *b;
            *b = t;
            size_t r = rank[k - 1];
            rank[k - 1] = rank[k];
            rank[k] = r;
        }
    }
    free(rank);
}

char *api_problem_format(const api_problem *pr)
{
    cr_buf b = CR_BUF_INIT;
    if (pr->file) {
        cr_buf_adds(&b, pr->file);
        if (pr->line > 0)
            cr_buf_addf(&b, ":%d:%d", pr->line, pr->col);
        cr_buf_adds(&b, ": ");
    }
    if (pr->path && *pr->path)
        cr_buf_addf(&b, "%s: ", pr->path);
    cr_buf_adds(&b, pr->msg);
    return cr_buf_detach(&b, NULL);
}

char *api_problems_format(const api_problems *p)
{
    cr_buf b = CR_BUF_INIT;
    cr_buf_adds(&b, "");
    for (size_t i = 0; i < p->n; i++) {
        char *s = api_problem_format(&p->v[i]);
        cr_buf_adds(&b, s);
        cr_buf_addch(&b, '\n');
        free(s);
    }
    return cr_buf_detach(&b, NULL);
}

/* ---- ids ------------------------------------------------------------------- */

static bool id_ok(const char *id, size_t max, const char *extra)
{
    if (!id || !*id || strlen(id) > max)
        return false;
    for (const char *c = id; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
            continue;
        if (strchr(extra, *c))
            continue;
        return false;
    }
    return true;
}

bool api_request_id_valid(const char *id)
{
    return id_ok(id, API_MAX_REQUEST_ID, "_-");
}

bool api_deploy_id_valid(const char *id)
{
    return id_ok(id, API_MAX_DEPLOY_ID, "_.") && strspn(id, ".") < strlen(id);
}

bool api_run_id_valid(const char *id)
{
    return id_ok(id, API_MAX_RUN_ID, "_-");
}

/* Machine ids come from Mesos and are used as they are: the key rule. */
bool api_agent_id_valid(const char *id)
{
    return api_key_id_valid(id);
}

bool api_rack_id_valid(const char *id)
{
    return api_key_id_valid(id);
}

int64_t api_duration_parse_ms(const char *s)
{
    char *end;
    long long v;

    if (!s || !isdigit((unsigned char)*s))
        return -1;
    v = strtoll(s, &end, 10);
    if (v < 0 || v > 100000000LL)
        return -1;
    if (strcmp(end, "ms") == 0)
        return v;
    if (strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    if (strcmp(end, "h") == 0)
        return v * 3600000;
    return -1;
}
