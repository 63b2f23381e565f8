/* Server-side apply, its dry run and diff: brings corrald to a manifest, or
 * says what that would change (docs/cli.md, "apply" and "diff").
 *
 * Calls run concurrently, up to `parallel` in flight (cli_pipe), ordered
 * where it matters (cli/bulk.h: a request is written before its deploys are
 * posted, a request's deploys in input order); each object's lines are held
 * back until the objects before it have printed, so the output, the exit
 * status and the messages are those of a sequential apply. With parallel 1
 * the calls themselves are a sequential apply's, one after the other. */
#ifndef CLI_SYNC_H
#define CLI_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/manifest.h"
#include "cli/cli.h"

typedef enum { CLI_SYNC_APPLY, CLI_SYNC_DRY, CLI_SYNC_DIFF } cli_sync_mode;

/* Default of --parallel: calls in flight. */
#define CLI_SYNC_PARALLEL 16
/* Largest --parallel accepted. */
#define CLI_SYNC_PARALLEL_MAX 256

typedef struct cli_sync_opts {
    cli_sync_mode mode;
    const char *set; /* manifest set (borrowed), or NULL: deploys are not labelled */
    bool prune;      /* also delete the set's requests the manifest no longer holds */
    size_t parallel; /* calls in flight, >= 1 */
} cli_sync_opts;

/* Applies (or compares) every object of m. Returns CLI_OK / CLI_ERROR; for
 * CLI_SYNC_DIFF 0 (no drift), 1 (drift) or 2 (error). */
int cli_sync_server(cli_ctx *ctx, const api_manifest *m, const cli_sync_opts *opts);

/* Parses a --parallel value: 1 to CLI_SYNC_PARALLEL_MAX. Returns false
 * (message printed, "corralctl CMD: ...") if it is not one. */
bool cli_sync_parse_parallel(cli_ctx *ctx, const char *cmd, const char *v, size_t *out);

#endif
