/* na_app: corral-nodeagent, one per agent host: the sandbox index, the HTTP
 * API (health, metrics, log reads and follow streams), and the periodic
 * services (S3 uploader, executor cleanup, OOM killer), all on one
 * libevent loop.
 *
 * HTTP API (docs/nodeagent.md):
 *   GET /healthz                          {"status": "ok"}
 *   GET /metrics                          Prometheus text
 *   GET /v1/sandboxes                     every sandbox: task, dir, logs, state
 *   GET /v1/cleanup                       what cleanup and the OOM killer did last
 *   GET /v1/tasks/{taskId}/files          the task's log files
 *   GET /v1/tasks/{taskId}/read?path=&offset=&length=&lines=&grep=
 *                                         {data, offset, nextOffset}
 *   GET /v1/tasks/{taskId}/follow?path=&offset=&lines=&grep=&follow=
 *                                         the file's lines as a chunked text
 *                                         stream, through rotation and
 *                                         truncation, until the task's logs
 *                                         are final (or at the end with
 *                                         follow=false)
 *
 * Lifecycle: na_app_new() (listens at once) -> event_base_dispatch ->
 * na_app_free(). The event base, config and log are borrowed. */
#ifndef NA_APP_H
#define NA_APP_H

#include "base/err.h"
#include "base/log.h"
#include "nodeagent/na_config.h"

struct event_base;
typedef struct na_app na_app;

na_app *na_app_new(struct event_base *base, const na_config *cfg, cr_log *log, cr_err *err);
void na_app_free(na_app *a);

/* The port bound (useful with port 0). */
int na_app_port(const na_app *a);

/* Stops serving and ends the loop once uploads in flight are recorded
 * (bounded by a few seconds). */
void na_app_shutdown(na_app *a);

#endif
