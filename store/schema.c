/* store_schema: see schema.h. */
#include "store/schema.h"

#include <stdlib.h>
#include <string.h>

#include "apis/keys.h"
#include "base/clock.h"
#include "base/xalloc.h"

#define DEFAULT_BATCH   64
#define MAX_BATCH       100 /* + fence and schema compares: under etcd's 128 ops */
#define DEFAULT_RETRIES 20

struct store_schema_run {
    store *s;
    char *prefix, *leader_key, *release, *schema_key;
    int64_t fence;
    int layout;
    const api_migration *migs;
    size_t nmigs;
    size_t batch;
    int retries;
    cr_log *log;
    store_schema_cb cb;
    void *arg;
    store_schema_stats st;
    int conflicts; /* in the current migration */
    /* What the last read or write of the schema key left. */
    api_schema cur;
    bool have;          /* the key exists */
    int64_t schema_mod; /* its mod_revision (0: absent) */
    /* The migration under way. */
    const api_migration *mig;
    store_kv *kvs; /* the listing, key order */
    size_t nkvs;
    size_t pos;         /* next key to look at */
    size_t batch_start; /* pos when the in-flight batch began */
    size_t cur_batch;   /* changed keys per txn now (halved on ETOOLARGE) */
    size_t in_flight;   /* changed keys in the in-flight txn */
    bool final_txn;     /* the in-flight txn ends the migration */
    char *last_key;     /* the in-flight batch's last key */
};

static void read_schema(store_schema_run *r);

static void drop_listing(store_schema_run *r)
{
    for (size_t i = 0; i < r->nkvs; i++)
        store_kv_release(&r->kvs[i]);
    free(r->kvs);
    r->kvs = NULL;
    r->nkvs = r->pos = 0;
}

static void run_free(store_schema_run *r)
{
    store_cancel(r->s, r);
    drop_listing(r);
    api_schema_release(&r->cur);
    free(r->prefix);
    free(r->leader_key);
    free(r->release);
    free(r->schema_key);
    free(r->last_key);
    free(r);
}

void store_schema_cancel(store_schema_run *r)
{
    if (r)
        run_free(r);
}

const store_schema_stats *store_schema_stats_of(const store_schema_run *r)
{
    return &r->st;
}

static void finish(store_schema_run *r, const cr_err *err)
{
    r->st.version = r->have ? r->cur.version : 0;
    if (err)
        cr_errorlog(r->log, "schema check: %s", cr_err_msg(err));
    r->cb(r->arg, err);
    run_free(r);
}

static void fail(store_schema_run *r, cr_code code, const char *what)
{
    cr_err err;
    cr_error(&err, code, "%s", what);
    finish(r, &err);
}

/* A txn fenced on our leadership that applies only while the schema key is
 * as we last saw it. Caller owns. */
static store_txn *guarded_txn(store_schema_run *r)
{
    store_txn *t = store_txn_new();

    store_txn_fence(t, r->leader_key, r->fence);
    if (r->have)
        store_txn_if_mod(t, r->schema_key, STORE_EQ, r->schema_mod);
    else
        store_txn_if_create(t, r->schema_key, STORE_EQ, 0);
    return t;
}

static void put_schema(store_schema_run *r, store_txn *t)
{
    char *text;

    r->cur.updated_at = cr_wall_ms();
    text = api_schema_encode(&r->cur);
    store_txn_put(t, STORE_THEN, r->schema_key, text, strlen(text), NULL);
    free(text);
}

/* A compare failed: someone else changed a key we read. Read again and go
 * on from what the schema key says, a bounded number of times. */
static void conflict(store_schema_run *r, const char *where)
{
    r->st.conflicts++;
    if (++r->conflicts > r->retries) {
        cr_err err;
        cr_error(&err, CR_ECONFLICT,
                 "%s: gave up after %d conflicting writes; the next "
                 "leader resumes",
                 where, r->retries);
        finish(r, &err);
        return;
    }
    cr_info(r->log, "etcd layout: %s: a key changed under us, reading again", where);
    read_schema(r);
}

/* ---- the version and writers ----------------------------------------------------- */

static void write_done(void *arg, const store_result *res, const cr_err *err)
{
    store_schema_run *r = arg;

    if (err) {
        finish(r, err);
        return;
    }
    if (!res->succeeded) {
        conflict(r, "recording the layout version");
        return;
    }
    r->have = true;
    r->schema_mod = res->revision;
    cr_info(r->log, "etcd layout: version %d, writers recorded (this corrald is %s)",
            r->cur.version, r->release);
    finish(r, NULL);
}

static void write_version(store_schema_run *r)
{
    store_txn *t = guarded_txn(r);
    cr_err err;

    if (!r->have)
        r->cur.version = r->layout;
    api_schema_add_writer(&r->cur, r->release);
    put_schema(r, t);
    if (store_txn_commit(r->s, t, write_done, r, &err) < 0)
        finish(r, &err);
}

/* ---- migrations ------------------------------------------------------------------- */

static void send_batch(store_schema_run *r);

static bool infrastructure(const store_schema_run *r, const char *key)
{
    return strcmp(key, r->schema_key) == 0 || strcmp(key, r->leader_key) == 0;
}

static void batch_done(void *arg, const store_result *res, const cr_err *err)
{
    store_schema_run *r = arg;

    if (err && err->code == CR_ETOOLARGE && r->in_flight > 1) {
        r->cur_batch = r->in_flight / 2;
        r->pos = r->batch_start;
        send_batch(r);
        return;
    }
    if (err) {
        finish(r, err);
        return;
    }
    if (!res->succeeded) {
        conflict(r, r->mig->summary);
        return;
    }
    r->schema_mod = res->revision;
    r->st.txns++;
    r->st.migrated_keys += r->in_flight;
    if (r->final_txn) {
        cr_info(r->log, "etcd layout: migrated to version %d (%s): %zu keys changed in %zu txns",
                r->cur.version, r->mig->summary, r->st.migrated_keys, r->st.txns);
        drop_listing(r);
        r->mig = NULL;
        read_schema(r); /* the next migration, or done */
        return;
    }
    send_batch(r);
}

/* The next txn: up to cur_batch changed keys from pos, and the schema's
 * progress (or, past the last key, the new version). */
static void send_batch(store_schema_run *r)
{
    store_txn *t = guarded_txn(r);
    size_t changed = 0;
    const char *last = NULL;
    cr_err err;

    r->batch_start = r->pos;
    for (; r->pos < r->nkvs && changed < r->cur_batch; r->pos++) {
        const store_kv *kv = &r->kvs[r->pos];
        char *out = NULL;
        api_migrate_op op;

        if (infrastructure(r, kv->key))
            continue;
        last = kv->key;
        op = r->mig->step(r->prefix, kv->key, kv->value, kv->value_len, &out);
        if (op == API_MIGRATE_KEEP)
            continue;
        store_txn_if_mod(t, kv->key, STORE_EQ, kv->mod_revision);
        if (op == API_MIGRATE_PUT)
            store_txn_put(t, STORE_THEN, kv->key, out, strlen(out), NULL);
        else
            store_txn_delete(t, STORE_THEN, kv->key, false);
        free(out);
        changed++;
    }
    r->in_flight = changed;
    r->final_txn = r->pos >= r->nkvs;
    if (r->final_txn) {
        r->cur.version = r->mig->from + 1;
        r->cur.migrating_to = 0;
        free(r->cur.migrated_after);
        r->cur.migrated_after = NULL;
        api_schema_add_writer(&r->cur, r->release);
    } else if (last) {
        free(r->cur.migrated_after);
        r->cur.migrated_after = xstrdup(last);
    }
    put_schema(r, t);
    if (store_txn_commit(r->s, t, batch_done, r, &err) < 0) {
        if (err.code == CR_ETOOLARGE && changed > 1) {
            r->cur_batch = changed / 2;
            r->pos = r->batch_start;
            send_batch(r);
            return;
        }
        finish(r, &err);
    }
}

static void list_done(void *arg, const store_result *res, const cr_err *err)
{
    store_schema_run *r = arg;

    if (err) {
        finish(r, err);
        return;
    }
    drop_listing(r);
    r->kvs = xcalloc(res->nkvs + 1, sizeof(*r->kvs));
    for (size_t i = 0; i < res->nkvs; i++)
        store_kv_copy(&r->kvs[i], &res->kvs[i]);
    r->nkvs = res->nkvs;
    /* Resume after the last key a previous run finished. */
    while (r->cur.migrated_after && r->pos < r->nkvs &&
           strcmp(r->kvs[r->pos].key, r->cur.migrated_after) <= 0)
        r->pos++;
    cr_info(r->log, "etcd layout: %s: %zu keys to look at%s%s", r->mig->summary, r->nkvs - r->pos,
            r->cur.migrated_after ? ", resuming after " : "",
            r->cur.migrated_after ? r->cur.migrated_after : "");
    send_batch(r);
}

static void list_keys(store_schema_run *r)
{
    char *all = api_key_kind_prefix(r->prefix, API_KEY_UNKNOWN, NULL);
    cr_err err;
    int rc = store_list(r->s, all, 0, list_done, r, &err);

    free(all);
    if (rc < 0)
        finish(r, &err);
}

static void mark_done(void *arg, const store_result *res, const cr_err *err)
{
    store_schema_run *r = arg;

    if (err) {
        finish(r, err);
        return;
    }
    if (!res->succeeded) {
        conflict(r, "starting a migration");
        return;
    }
    r->schema_mod = res->revision;
    r->have = true;
    list_keys(r);
}

static void migrate(store_schema_run *r)
{
    int from = r->cur.version;
    cr_err err;

    r->mig = NULL;
    for (size_t i = 0; i < r->nmigs; i++)
        if (r->migs[i].from == from && r->migs[i].step)
            r->mig = &r->migs[i];
    if (!r->mig) { /* api_schema_plan checked the path */
        fail(r, CR_EINTERNAL, "no migration from layout version");
        return;
    }
    r->cur_batch = r->batch;
    if (r->cur.migrating_to == from + 1) {
        list_keys(r); /* resume */
        return;
    }
    /* Say a migration is under way before the first document changes: a
     * leader that dies now leaves a resumable mark. */
    cr_info(r->log, "etcd layout: migrating version %d to %d: %s", from, from + 1, r->mig->summary);
    store_txn *t = guarded_txn(r);
    r->cur.migrating_to = from + 1;
    free(r->cur.migrated_after);
    r->cur.migrated_after = NULL;
    put_schema(r, t);
    if (store_txn_commit(r->s, t, mark_done, r, &err) < 0)
        finish(r, &err);
}

/* ---- the check ------------------------------------------------------------------------ */

static void read_done(void *arg, const store_result *res, const cr_err *err)
{
    store_schema_run *r = arg;
    api_schema_action a;
    cr_err why;

    if (err) {
        finish(r, err);
        return;
    }
    api_schema_release(&r->cur);
    r->have = res->nkvs == 1;
    r->schema_mod = r->have ? res->kvs[0].mod_revision : 0;
    if (r->have && api_schema_decode(res->kvs[0].value, res->kvs[0].value_len, &r->cur, &why) < 0) {
        cr_err_prefix(&why,
                      "%s is not a layout record, not leading (fix or delete it: "
                      "docs/operations.md)",
                      r->schema_key);
        why.code = CR_EUNSUPPORTED;
        finish(r, &why);
        return;
    }
    if (!r->st.found_version && r->st.txns == 0)
        r->st.found_version = r->have ? r->cur.version : 0;
    a = api_schema_plan(r->have ? &r->cur : NULL, r->layout, r->release, r->migs, r->nmigs, &why);
    switch (a) {
    case API_SCHEMA_LEAD:
        finish(r, NULL);
        return;
    case API_SCHEMA_WRITE:
        write_version(r);
        return;
    case API_SCHEMA_MIGRATE:
        r->conflicts = 0;
        migrate(r);
        return;
    case API_SCHEMA_REFUSE:
        finish(r, &why);
        return;
    }
}

static void read_schema(store_schema_run *r)
{
    cr_err err;

    if (store_get(r->s, r->schema_key, 0, read_done, r, &err) < 0)
        finish(r, &err);
}

/* cb fires from the loop, never before this returns (store calls answer
 * asynchronously). */
store_schema_run *store_schema_ensure(store *s, const store_schema_config *cfg, store_schema_cb cb,
                                      void *arg, cr_err *err)
{
    store_schema_run *r;
    size_t n = 0;

    if (!cfg->prefix || !cfg->leader_key || !cfg->release || !cb) {
        cr_error(err, CR_EINVAL,
                 "store_schema_ensure: prefix, leader_key, release and cb "
                 "are required");
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->prefix = xstrdup(cfg->prefix);
    r->leader_key = xstrdup(cfg->leader_key);
    r->release = xstrdup(cfg->release);
    r->schema_key = api_key_schema(cfg->prefix);
    r->fence = cfg->fence;
    r->layout = cfg->layout > 0 ? cfg->layout : API_SCHEMA_VERSION;
    r->migs = cfg->migrations ? cfg->migrations : api_schema_migrations(&n);
    r->nmigs = cfg->migrations ? cfg->nmigrations : n;
    r->batch = cfg->batch ? cfg->batch : DEFAULT_BATCH;
    if (r->batch > MAX_BATCH)
        r->batch = MAX_BATCH;
    r->cur_batch = r->batch;
    r->retries = cfg->retries > 0 ? cfg->retries : DEFAULT_RETRIES;
    r->log = cfg->log;
    r->cb = cb;
    r->arg = arg;
    if (store_get(s, r->schema_key, 0, read_done, r, err) < 0) {
        run_free(r);
        return NULL;
    }
    return r;
}
