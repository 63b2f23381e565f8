/* GitOps Sources: the pure plan; see source.h. */
#include "controllers/source.h"

#include <stdlib.h>
#include <string.h>

#include "apis/jdiff.h"
#include "base/buf.h"
#include "base/xalloc.h"

/* ---- render: git archive's tar -> manifest ------------------------------------------- */

#define TAR_BLOCK 512

static size_t octal(const char *p, size_t n)
{
    size_t v = 0;
    for (size_t i = 0; i < n && p[i]; i++) {
        if (p[i] == ' ')
            continue;
        if (p[i] < '0' || p[i] > '7')
            break;
        v = v * 8 + (size_t)(p[i] - '0');
    }
    return v;
}

/* The "path=" record of a pax extended header, or NULL. Caller frees. */
static char *pax_path(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = 0, j = i;
        while (j < n && p[j] >= '0' && p[j] <= '9')
            len = len * 10 + (size_t)(p[j++] - '0');
        if (len == 0 || i + len > n || j >= n || p[j] != ' ')
            return NULL;
        const char *kv = p + j + 1;
        size_t kvlen = i + len - (j + 1);
        if (kvlen > 5 && strncmp(kv, "path=", 5) == 0)
            return xstrndup(kv + 5, kvlen - 5 - (kv[kvlen - 1] == '\n'));
        i += len;
    }
    return NULL;
}

static bool manifest_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* Whether path lies under dir ("" or "." = everywhere). */
static bool under(const char *path, const char *dir)
{
    size_t n;
    if (!dir || !*dir || strcmp(dir, ".") == 0)
        return true;
    n = strlen(dir);
    while (n && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

typedef struct tar_file {
    char *name;
    const char *data;
    size_t len;
} tar_file;

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const tar_file *)a)->name, ((const tar_file *)b)->name);
}

api_manifest *ctl_source_render(const char *tar, size_t len, const char *dir, char **problems)
{
    api_problems probs = API_PROBLEMS_INIT;
    api_manifest *m = api_manifest_new();
    tar_file *files = NULL;
    size_t nfiles = 0, off = 0;
    char *long_name = NULL;

    *problems = NULL;
    while (off + TAR_BLOCK <= len) {
        const char *h = tar + off;
        size_t size, span;
        char type = h[156];
        char name[512];

        if (h[0] == '\0')
            break; /* end of archive */
        size = octal(h + 124, 12);
        span = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        if (off + TAR_BLOCK + span > len || span < size) {
            api_problems_add_at(&probs, NULL, 0, 0, "", "the repository archive is truncated");
            break;
        }
        if (type == 'x') {
            free(long_name);
            long_name = pax_path(h + TAR_BLOCK, size);
        } else if (type == '0' || type == '\0') {
            if (long_name) {
                snprintf(name, sizeof(name), "%s", long_name);
            } else if (h[345]) {
                snprintf(name, sizeof(name), "%.155s/%.100s", h + 345, h);
            } else {
                snprintf(name, sizeof(name), "%.100s", h);
            }
            if (manifest_name(name) && under(name, dir)) {
                files = xrealloc(files, (nfiles + 1) * sizeof(*files));
                files[nfiles++] = (tar_file){xstrdup(name), h + TAR_BLOCK, size};
            }
            free(long_name);
            long_name = NULL;
        } else if (type != 'g') {
            free(long_name);
            long_name = NULL;
        }
        off += TAR_BLOCK + span;
    }
    free(long_name);
    if (nfiles)
        qsort(files, nfiles, sizeof(*files), cmp_file);
    for (size_t i = 0; i < nfiles; i++)
        api_manifest_load_buffer(m, files[i].data, files[i].len, files[i].name, NULL, &probs);
    if (probs.n == 0)
        api_manifest_check(m, &probs);
    for (size_t i = 0; probs.n == 0 && i < m->n; i++)
        if (m->v[i].kind == API_OBJ_SOURCE)
            api_problems_add_at(&probs, m->v[i].file, m->v[i].line, m->v[i].col, "kind",
                                "a Source cannot be defined inside a Source's repository");
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].name);
    free(files);
    if (probs.n) {
        api_problems_sort(&probs);
        *problems = api_problems_format(&probs);
        api_problems_release(&probs);
        api_manifest_free(m);
        return NULL;
    }
    api_problems_release(&probs);
    return m;
}

/* ---- plan ---------------------------------------------------------------------------- */

typedef struct pctx {
    const ctl_source_in *in;
    ctl_source_plan *out;
    api_strlist inv_req, inv_dep; /* the new inventory */
    api_strlist changes, drift, conflicts;
    bool more; /* writes left for the next pass */
} pctx;

static const char *annotation(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(json_object_get(doc, "annotations"), name));
}

static bool add_write(pctx *c, ctl_src_write_type t, const char *rid, const char *did,
                      json_t *value, int64_t rev)
{
    ctl_source_plan *p = c->out;
    if (p->n_writes >= CTL_SOURCE_MAX_WRITES) {
        c->more = true;
        json_decref(value);
        return false;
    }
    p->writes = xrealloc(p->writes, (p->n_writes + 1) * sizeof(*p->writes));
    p->writes[p->n_writes++] = (ctl_src_write){t, rid, did, value, rev};
    return true;
}

/* A copy of v without the keys no comparison looks at. Caller owns. */
static json_t *comparable(const json_t *v)
{
    json_t *c = json_deep_copy(v);
    if (!json_is_object(c)) {
        json_decref(c);
        return json_object();
    }
    json_object_del(c, "annotations");
    json_object_del(c, "largeScaleDownAcknowledged");
    return c;
}

static void annotate(json_t *doc, const char *source, const char *commit)
{
    json_t *a = json_object_get(doc, "annotations");
    if (!json_is_object(a)) {
        a = json_object();
        json_object_set_new(doc, "annotations", a);
    }
    json_object_set_new(a, API_ANNOTATION_SOURCE, json_string(source));
    json_object_set_new(a, API_ANNOTATION_COMMIT, json_string(commit));
}

static void short_commit(char out[13], const char *commit)
{
    snprintf(out, 13, "%.12s", commit ? commit : "");
}

/* What the API refuses to change in a request (as_api.c's POST /api/requests
 * rules): requestType (but SERVICE <-> WORKER without a load balancer) and
 * loadBalanced. A message (caller frees) or NULL. */
static char *immutable_change(const char *rid, const json_t *obs, const json_t *want)
{
    const char *ot = json_string_value(json_object_get(obs, "requestType"));
    const char *nt = json_string_value(json_object_get(want, "requestType"));
    bool olb = json_is_true(json_object_get(obs, "loadBalanced"));
    bool nlb = json_is_true(json_object_get(want, "loadBalanced"));

    if (olb != nlb)
        return xasprintf("request/%s cannot change loadBalanced (delete the request first): "
                         "left unchanged",
                         rid);
    if (ot && nt && strcmp(ot, nt) != 0) {
        bool lr = (!strcmp(ot, "SERVICE") || !strcmp(ot, "WORKER")) &&
                  (!strcmp(nt, "SERVICE") || !strcmp(nt, "WORKER"));
        if (!lr || olb) /* olb == nlb here */
            return xasprintf("request/%s cannot change requestType from %s to %s (delete the "
                             "request first): left unchanged",
                             rid, ot, nt);
    }
    return NULL;
}

static void plan_request(pctx *c, const api_request *req, bool new_commit)
{
    const ctl_source_in *in = c->in;
    const char *rid = req->id;
    int64_t rev = 0;
    const json_t *obs = in->cluster->request(in->cluster->arg, rid, &rev);
    bool inv = in->status && api_strlist_contains(&in->status->requests, rid);
    json_t *want = api_request_to_json(req);
    json_object_del(want, "largeScaleDownAcknowledged");

    if (obs) {
        const char *owner = annotation(obs, API_ANNOTATION_SOURCE);
        bool owned = owner ? strcmp(owner, in->name) == 0 : inv;
        if (!owned) {
            char *s = xasprintf("request/%s exists and was not created by this source%s%s%s: "
                                "left unchanged",
                                rid, owner ? " (it belongs to source " : "", owner ? owner : "",
                                owner ? ")" : "");
            api_strlist_add(&c->conflicts, s);
            free(s);
            json_decref(want);
            return;
        }
        api_strlist_add(&c->inv_req, rid);
        char *no = immutable_change(rid, obs, want);
        if (no) {
            /* a conflict: the request and its deploys are left alone */
            api_strlist_add(&c->conflicts, no);
            free(no);
            json_decref(want);
            return;
        }
        json_t *a = comparable(obs), *b = comparable(want);
        bool same = json_equal(a, b);
        if (!same && !new_commit) {
            char *d = api_json_diff(a, b, "");
            /* one line: "request/web: ~ instances: 5 -> 2; ..." */
            for (char *p = d; p && *p; p++)
                if (*p == '\n')
                    *p = p[1] ? ';' : '\0';
            char *s = xasprintf("request/%s differs from the commit: %s", rid, d ? d : "");
            free(d);
            if (in->source->has_selfHeal && in->source->selfHeal) {
                char *ch = xasprintf("request/%s reverted (%s)", rid,
                                     s + strlen("request/") + strlen(rid) + 1);
                annotate(want, in->name, in->commit);
                if (add_write(c, CTL_SRC_PUT, rid, NULL, json_incref(want), rev))
                    api_strlist_add(&c->changes, ch);
                free(ch);
            } else {
                api_strlist_add(&c->drift, s);
            }
            free(s);
        } else if (!same || (new_commit && !owner)) {
            annotate(want, in->name, in->commit);
            if (add_write(c, CTL_SRC_PUT, rid, NULL, json_incref(want), rev) && !same) {
                char *s = xasprintf("request/%s configured", rid);
                api_strlist_add(&c->changes, s);
                free(s);
            }
        }
        json_decref(a);
        json_decref(b);
        json_decref(want);
        return;
    }
    api_strlist_add(&c->inv_req, rid);
    if (!new_commit && inv && !(in->source->has_selfHeal && in->source->selfHeal)) {
        char *s = xasprintf("request/%s was deleted outside the source", rid);
        api_strlist_add(&c->drift, s);
        free(s);
        json_decref(want);
        return;
    }
    annotate(want, in->name, in->commit);
    if (add_write(c, CTL_SRC_CREATE, rid, NULL, json_incref(want), 0)) {
        char *s = xasprintf("request/%s %s", rid, !new_commit && inv ? "re-created" : "created");
        api_strlist_add(&c->changes, s);
        free(s);
    }
    json_decref(want);
}

static bool conflicted(const pctx *c, const char *rid)
{
    for (size_t i = 0; i < c->conflicts.n; i++) {
        size_t n = strlen(rid);
        if (strncmp(c->conflicts.v[i], "request/", 8) == 0 &&
            strncmp(c->conflicts.v[i] + 8, rid, n) == 0 && c->conflicts.v[i][8 + n] == ' ')
            return true;
    }
    return false;
}

static void plan_deploy(pctx *c, const api_manifest_obj *o)
{
    const ctl_source_in *in = c->in;
    const api_deploy *d = o->deploy;
    const char *rid = d->requestId;
    char *dkey = xasprintf("%s/%s", rid, d->id);
    bool inv = in->status && api_strlist_contains(&in->status->deploys, dkey);

    if (conflicted(c, rid))
        goto out;
    if (!api_strlist_contains(&c->inv_req, rid)) {
        /* its request is not in the commit: it must be this source's */
        int64_t rev;
        const json_t *obs = in->cluster->request(in->cluster->arg, rid, &rev);
        const char *owner = obs ? annotation(obs, API_ANNOTATION_SOURCE) : NULL;
        if (!obs || !owner || strcmp(owner, in->name) != 0) {
            char *s = xasprintf("deploy/%s/%s: request %s %s", rid, d->id, rid,
                                obs ? "was not created by this source: left unchanged"
                                    : "does not exist and the commit does not define it");
            api_strlist_add(&c->conflicts, s);
            free(s);
            goto out;
        }
    }
    if (inv || in->cluster->deploy_known(in->cluster->arg, rid, d->id)) {
        if (!api_strlist_contains(&c->inv_dep, dkey))
            api_strlist_add(&c->inv_dep, dkey);
        goto out;
    }
    json_t *v = api_deploy_to_json(d);
    if (!json_object_get(v, "timestamp"))
        json_object_set_new(v, "timestamp", json_integer(in->now));
    annotate(v, in->name, in->commit);
    if (add_write(c, CTL_SRC_CREATE, rid, d->id, v, 0)) {
        char *s = xasprintf("deploy/%s/%s created", rid, d->id);
        api_strlist_add(&c->changes, s);
        free(s);
        api_strlist_add(&c->inv_dep, dkey);
    }
out:
    free(dkey);
}

/* At the synced commit: an owned request whose newest deploy the commit
 * does not have was deployed by hand. */
static void deploy_drift(pctx *c)
{
    const ctl_source_in *in = c->in;
    for (size_t i = 0; i < c->inv_req.n; i++) {
        const char *rid = c->inv_req.v[i];
        const char *newest = in->cluster->newest_deploy(in->cluster->arg, rid);
        bool any = false, known = false;
        if (!newest)
            continue;
        for (size_t k = 0; k < in->manifest->n; k++) {
            const api_manifest_obj *o = &in->manifest->v[k];
            if (o->kind != API_OBJ_DEPLOY || strcmp(o->deploy->requestId, rid) != 0)
                continue;
            any = true;
            if (strcmp(o->deploy->id, newest) == 0)
                known = true;
        }
        char *dkey = xasprintf("%s/%s", rid, newest);
        int phase = any && !known && !api_strlist_contains(&c->inv_dep, dkey)
                        ? in->cluster->deploy_phase(in->cluster->arg, rid, newest)
                        : CTL_SRC_DEPLOY_ENDED;
        if (phase != CTL_SRC_DEPLOY_ENDED) {
            bool heal = in->source->has_selfHeal && in->source->selfHeal;
            if (heal && phase == CTL_SRC_DEPLOY_ROLLING) {
                char *msg =
                    xasprintf("cancelled by source %s: not in commit %.12s", in->name, in->commit);
                json_t *intent = json_pack("{s:s,s:I,s:s}", "user", "corral-gitops", "timestamp",
                                           (json_int_t)in->now, "message", msg);
                if (add_write(c, CTL_SRC_CANCEL, rid, newest, intent, 0)) {
                    char *s = xasprintf("deploy/%s/%s cancelled (created outside the source)", rid,
                                        newest);
                    api_strlist_add(&c->changes, s);
                    free(s);
                }
                free(msg);
            } else {
                char *s = xasprintf("deploy/%s/%s was created outside the source%s", rid, newest,
                                    heal ? " (already rolled out: a new deploy in the "
                                           "repository replaces it)"
                                         : "");
                api_strlist_add(&c->drift, s);
                free(s);
            }
        }
        free(dkey);
    }
}

static void plan_prune(pctx *c)
{
    const ctl_source_in *in = c->in;
    if (!in->status)
        return;
    for (size_t i = 0; i < in->status->requests.n; i++) {
        const char *rid = in->status->requests.v[i];
        int64_t rev = 0;
        const json_t *obs;
        const char *owner;

        if (api_strlist_contains(&c->inv_req, rid) || conflicted(c, rid))
            continue;
        obs = in->cluster->request(in->cluster->arg, rid, &rev);
        owner = obs ? annotation(obs, API_ANNOTATION_SOURCE) : NULL;
        if (!obs || !owner || strcmp(owner, in->name) != 0)
            continue; /* gone, or taken over: no longer ours */
        if (in->source->has_prune && in->source->prune) {
            if (add_write(c, CTL_SRC_DELETE, rid, NULL, NULL, rev)) {
                char *s = xasprintf("request/%s pruned", rid);
                api_strlist_add(&c->changes, s);
                free(s);
                continue;
            }
        } else {
            char *s = xasprintf("request/%s is no longer in the commit (prune is off)", rid);
            api_strlist_add(&c->drift, s);
            free(s);
        }
        api_strlist_add(&c->inv_req, rid); /* still ours (or not pruned yet) */
    }
    /* deploys stay listed while their request is */
    for (size_t i = 0; i < in->status->deploys.n; i++) {
        const char *dk = in->status->deploys.v[i];
        const char *slash = strchr(dk, '/');
        char *rid = slash ? xstrndup(dk, (size_t)(slash - dk)) : NULL;
        if (rid && api_strlist_contains(&c->inv_req, rid) && !api_strlist_contains(&c->inv_dep, dk))
            api_strlist_add(&c->inv_dep, dk);
        free(rid);
    }
}

static char *join(const api_strlist *l, size_t max)
{
    cr_buf b = CR_BUF_INIT;
    for (size_t i = 0; i < l->n && i < max; i++)
        cr_buf_addf(&b, "%s%s", i ? "; " : "", l->v[i]);
    if (l->n > max)
        cr_buf_addf(&b, "; and %zu more", l->n - max);
    return cr_buf_detach(&b, NULL);
}

static void move_list(api_strlist *dst, api_strlist *src)
{
    api_strlist_release(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
    if (!dst->v)
        dst->v = xcalloc(1, sizeof(char *)); /* present, even when empty */
}

static void set_cond(api_source_status *s, const char *type, bool on, const char *reason,
                     const char *msg, int64_t now)
{
    api_conditions_set(&s->conditions, type, on ? API_COND_TRUE : API_COND_FALSE, reason, msg, now);
}

static bool status_equal(const api_source_status *a, const api_source_status *b)
{
    json_t *x = api_source_status_to_json(a), *y = api_source_status_to_json(b);
    json_object_del(x, "updatedAt");
    json_object_del(y, "updatedAt");
    bool eq = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

static int64_t next_fetch_ms(const ctl_source_in *in)
{
    int64_t at = in->fetched_at + api_source_interval_ms(in->source);
    return at > in->now ? at - in->now : 1;
}

void ctl_source_plan_run(const ctl_source_in *in, ctl_source_plan *out)
{
    api_source_status *st = &out->status;
    pctx c = {0};
    char sc[13], sprev[13];

    memset(out, 0, sizeof(*out));
    if (in->status)
        api_source_status_copy(st, in->status);
    free(st->name);
    st->name = xstrdup(in->name);
    c.in = in;
    c.out = out;
    if (st->conditions.n == 0) /* listed in this order from the start */
        for (size_t i = 0; i < 3; i++)
            api_conditions_set(
                &st->conditions,
                (const char *[]){API_COND_SYNCED, API_COND_DRIFTED, API_COND_FAILED}[i],
                API_COND_UNKNOWN, "Pending", NULL, in->now);

    if (!in->source) {
        char *m = xasprintf("invalid source: %s", in->source_error ? in->source_error : "?");
        set_cond(st, API_COND_FAILED, true, "InvalidSource", m, in->now);
        set_cond(st, API_COND_SYNCED, false, "InvalidSource", "the source document is invalid",
                 in->now);
        free(m);
        st->observedRevision = in->source_revision;
        goto done;
    }
    if (in->fetched_at == 0 || in->fetched_revision != in->source_revision ||
        in->now >= in->fetched_at + api_source_interval_ms(in->source) ||
        in->sync_request > in->fetched_sync_request) {
        out->fetch = !in->fetching;
        api_source_status_release(st);
        return; /* the fetch's end queues the next pass */
    }
    out->requeue_after_ms = next_fetch_ms(in);
    st->fetchedAt = in->fetched_at;
    free(st->fetchedCommit);
    st->fetchedCommit = in->commit ? xstrdup(in->commit) : NULL;
    st->observedRevision = in->source_revision;
    short_commit(sc, in->commit);
    short_commit(sprev, st->commit);
    if (!in->manifest) {
        char *m = in->commit ? xasprintf("commit %s: %s", sc, in->error ? in->error : "?")
                             : xasprintf("fetch failed: %s", in->error ? in->error : "?");
        char *keep = st->commit
                         ? xasprintf("commit %s failed; the cluster keeps commit %s", sc, sprev)
                         : xasprintf("commit %s failed; nothing was applied", sc);
        if (strlen(m) > 4000)
            strcpy(m + 3990, " [...]");
        set_cond(st, API_COND_FAILED, true, in->commit ? "InvalidCommit" : "FetchFailed", m,
                 in->now);
        set_cond(st, API_COND_SYNCED, false, "Failed", in->commit ? keep : "fetch failed", in->now);
        free(m);
        free(keep);
        goto done;
    }

    bool new_commit = !st->commit || strcmp(st->commit, in->commit) != 0;
    for (size_t i = 0; i < in->manifest->n; i++)
        if (in->manifest->v[i].kind == API_OBJ_REQUEST)
            plan_request(&c, in->manifest->v[i].request, new_commit);
    for (size_t i = 0; i < in->manifest->n; i++)
        if (in->manifest->v[i].kind == API_OBJ_DEPLOY)
            plan_deploy(&c, &in->manifest->v[i]);
    if (!new_commit)
        deploy_drift(&c);
    plan_prune(&c);

    if (c.more)
        out->requeue_after_ms = 1;
    if (!c.more && (new_commit || c.changes.n)) {
        free(st->commit);
        st->commit = xstrdup(in->commit);
        st->syncedAt = in->now;
    }
    if (new_commit || c.changes.n)
        move_list(&st->changes, &c.changes);
    move_list(&st->drift, &c.drift);
    move_list(&st->requests, &c.inv_req);
    move_list(&st->deploys, &c.inv_dep);
    if (c.conflicts.n) {
        char *m = join(&c.conflicts, 5);
        set_cond(st, API_COND_FAILED, true, "Conflict", m, in->now);
        free(m);
    } else {
        char *m = xasprintf("commit %s applied", sc);
        set_cond(st, API_COND_FAILED, false, "Succeeded", m, in->now);
        free(m);
    }
    if (st->drift.n) {
        char *m = join(&st->drift, 5);
        set_cond(st, API_COND_DRIFTED, true, "Drift", m, in->now);
        set_cond(st, API_COND_SYNCED, false, "Drifted", m, in->now);
        free(m);
    } else {
        set_cond(st, API_COND_DRIFTED, false, "NoDrift", NULL, in->now);
        if (c.more) {
            set_cond(st, API_COND_SYNCED, false, "Syncing", "applying commit", in->now);
        } else {
            char *m = xasprintf("commit %s", sc);
            set_cond(st, API_COND_SYNCED, true, "Synced", m, in->now);
            free(m);
        }
    }
done:
    if (in->fetched_sync_request > st->syncRequest)
        st->syncRequest = in->fetched_sync_request;
    out->status_changed = !in->status || !status_equal(in->status, st);
    if (out->status_changed)
        st->updatedAt = in->now;
    api_strlist_release(&c.changes);
    api_strlist_release(&c.drift);
    api_strlist_release(&c.conflicts);
    api_strlist_release(&c.inv_req);
    api_strlist_release(&c.inv_dep);
}

void ctl_source_plan_release(ctl_source_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_writes; i++)
        json_decref(p->writes[i].value);
    free(p->writes);
    api_source_status_release(&p->status);
    memset(p, 0, sizeof(*p));
}
