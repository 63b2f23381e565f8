/* Dependencies, scheduling and batched reads of a pipelined apply; see
 * bulk.h. */
#include "cli/bulk.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "cli/http.h"

void cli_bulk_deps(const cli_bulk_obj *v, size_t n, long *dep)
{
    json_t *request_of = json_object();  /* rid -> index of its Request job */
    json_t *last_deploy = json_object(); /* rid -> index of its latest Deploy so far */

    for (size_t i = 0; i < n; i++)
        if (v[i].kind == CLI_BULK_REQUEST && v[i].rid)
            json_object_set_new(request_of, v[i].rid, json_integer((json_int_t)i));
    for (size_t i = 0; i < n; i++) {
        const json_t *prev;
        dep[i] = -1;
        if (v[i].kind != CLI_BULK_DEPLOY || !v[i].rid)
            continue;
        prev = json_object_get(last_deploy, v[i].rid);
        if (!prev)
            prev = json_object_get(request_of, v[i].rid);
        if (prev)
            dep[i] = (long)json_integer_value(prev);
        json_object_set_new(last_deploy, v[i].rid, json_integer((json_int_t)i));
    }
    json_decref(request_of);
    json_decref(last_deploy);
}

/* Jobs that may start sit in a min-heap, so the lowest number goes first. */
struct cli_sched {
    size_t n;
    size_t *waiting;      /* per job: jobs it still waits for */
    unsigned char *state; /* 0 not started, 1 started, 2 done */
    size_t *head;         /* per job: first edge to a job waiting for it, or SIZE_MAX */
    size_t *edge_to, *edge_next, nedges, cap_edges;
    size_t *heap, nheap;
    size_t ndone;
    bool sealed; /* the heap holds the jobs that waited for nothing */
};

cli_sched *cli_sched_new(size_t n)
{
    cli_sched *s = xcalloc(1, sizeof(*s));
    s->n = n;
    s->waiting = xcalloc(n + 1, sizeof(size_t));
    s->state = xcalloc(n + 1, 1);
    s->head = xmalloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        s->head[i] = SIZE_MAX;
    s->heap = xmalloc((n + 1) * sizeof(size_t));
    return s;
}

void cli_sched_free(cli_sched *s)
{
    if (!s)
        return;
    free(s->waiting);
    free(s->state);
    free(s->head);
    free(s->edge_to);
    free(s->edge_next);
    free(s->heap);
    free(s);
}

void cli_sched_after(cli_sched *s, size_t job, size_t before)
{
    if (s->sealed || job >= s->n || before >= s->n || job == before)
        return;
    if (s->nedges == s->cap_edges) {
        s->cap_edges = s->cap_edges ? 2 * s->cap_edges : 16;
        s->edge_to = xrealloc(s->edge_to, s->cap_edges * sizeof(size_t));
        s->edge_next = xrealloc(s->edge_next, s->cap_edges * sizeof(size_t));
    }
    s->edge_to[s->nedges] = job;
    s->edge_next[s->nedges] = s->head[before];
    s->head[before] = s->nedges++;
    s->waiting[job]++;
}

static void heap_push(cli_sched *s, size_t job)
{
    size_t i = s->nheap++;
    while (i > 0 && s->heap[(i - 1) / 2] > job) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = job;
}

static size_t heap_pop(cli_sched *s)
{
    size_t top = s->heap[0], last = s->heap[--s->nheap], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && s->heap[c + 1] < s->heap[c])
            c++;
        if (s->heap[c] >= last)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

long cli_sched_next(cli_sched *s)
{
    size_t job;
    if (!s->sealed) {
        s->sealed = true;
        for (size_t i = 0; i < s->n; i++)
            if (s->waiting[i] == 0)
                heap_push(s, i);
    }
    if (!s->nheap)
        return -1;
    job = heap_pop(s);
    s->state[job] = 1;
    return (long)job;
}

void cli_sched_done(cli_sched *s, size_t job)
{
    if (job >= s->n || s->state[job] != 1)
        return;
    s->state[job] = 2;
    s->ndone++;
    for (size_t e = s->head[job]; e != SIZE_MAX; e = s->edge_next[e]) {
        size_t w = s->edge_to[e];
        if (--s->waiting[w] == 0)
            heap_push(s, w);
    }
}

size_t cli_sched_ndone(const cli_sched *s)
{
    return s->ndone;
}

void cli_bulk_batch_paths(const api_strlist *ids, size_t max_len, api_strlist *out)
{
    static const char base[] = "/api/requests/batch";
    cr_buf b = CR_BUF_INIT;

    for (size_t i = 0; i < ids->n; i++) {
        char *e = cli_url_escape(ids->v[i]);
        /* "?id=" or "&id=" and the escaped id */
        if (b.len && b.len + 4 + strlen(e) > max_len) {
            api_strlist_add(out, cr_buf_str(&b));
            cr_buf_reset(&b);
        }
        if (!b.len)
            cr_buf_adds(&b, base);
        cr_buf_addf(&b, "%cid=%s", b.len == sizeof(base) - 1 ? '?' : '&', e);
        free(e);
    }
    if (b.len)
        api_strlist_add(out, cr_buf_str(&b));
    cr_buf_release(&b);
}
