/* The node agent's shared state, for its own files only (na_app.c: index,
 * HTTP; na_services.c: uploader, cleanup, OOM killer). */
#ifndef NA_APP_INT_H
#define NA_APP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/httpc.h"
#include "base/log.h"
#include "nodeagent/na_app.h"
#include "nodeagent/na_files.h"
#include "nodeagent/na_follow.h"
#include "nodeagent/na_proc.h"

struct evhttp;
struct evhttp_request;
struct evbuffer;
struct event;

typedef struct na_upload_task na_upload_task;
void na_upload_task_free(na_upload_task *u);

/* A sandbox as the index knows it across scans. */
typedef struct tracked {
    na_sandbox sb;
    int64_t first_seen; /* mono ms of the first scan that saw it */
    bool live;          /* a process runs in it (last scan) */
    bool ever_live;
    bool logs_final;        /* the executor marked its logs finished */
    na_upload_task *upload; /* the uploader's state (na_services.c) */
    int64_t oom_since;      /* mono ms since when above the threshold; 0 none */
    bool oom_killed;
    int64_t oom_kill_at; /* mono ms: SIGKILL due */
    pid_t oom_pgid;
} tracked;

typedef struct stream {
    struct na_app *a;
    struct evhttp_request *req;
    na_follow *f;
    char *dir, *task_id, *grep;
    bool follow;
    struct evbuffer *out;
    struct event *tick;
    int64_t partial_at; /* mono ms a held partial line was first seen; 0: none */
    struct stream *prev, *next;
} stream;

typedef struct na_services na_services;

struct na_app {
    struct event_base *base;
    const na_config *cfg;
    cr_log *log;
    char **work;
    size_t n_work;
    struct evhttp *srv;
    int port;
    cr_http *http;
    struct event *scan;
    int64_t last_scan; /* mono ms */
    tracked *tracked;
    size_t n_tracked;
    na_procs procs;
    stream *streams;
    size_t n_streams;
    na_services *svc;
    struct {
        uint64_t scans, streams_total, stream_bytes;
    } stats;
};

void na_app_rescan(na_app *a);
bool na_app_finished(const na_app *a, const tracked *t);
/* The newest sandbox of task_id (rescanning once if unknown), or NULL. */
const tracked *na_app_task(na_app *a, const char *task_id);

int na_app_services_start(na_app *a, cr_err *err);
void na_app_services_stop(na_app *a);
void na_app_metrics_more(na_app *a, cr_buf *out);
/* The cleanup's and OOM killer's last actions (GET /v1/cleanup). Caller owns. */
struct json_t;
struct json_t *na_keeper_report(na_app *a);

#endif
