/* corralctl's blocking HTTP client for corrald's API (libcurl easy
 * interface: a CLI is short-lived, so one blocking call at a time is fine).
 *
 * Every call builds the URL as server + path (server without a trailing
 * slash). On failure a one-line message naming the URL goes to the context's
 * err stream: "cannot reach corrald at URL: reason" when the server is
 * unreachable, or "corrald answered STATUS: message" with the server's JSON
 * "message" and "problems" when it answers an error. */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

/* Result of one call. status is 0 when no HTTP answer was received. */
typedef struct cli_resp {
    long status;
    json_t *body; /* owned; NULL if the body was empty or not JSON */
    char *raw;    /* owned; the body as received (NUL-terminated) */
    size_t len;
} cli_resp;

void cli_resp_release(cli_resp *r);

/* One call: method ("GET", "POST", "PUT", "DELETE"), path ("/api/..."),
 * optional JSON body (borrowed). Fills *r (caller releases it) and returns
 * 0 when the server answered 2xx, -1 otherwise (message printed as above
 * prefixed by "corralctl CMD: ", unless quiet_status equals the status, so
 * callers can handle e.g. 404 themselves). */
int cli_http(cli_ctx *ctx, const char *cmd, const char *method, const char *path,
             const json_t *body, long quiet_status, cli_resp *r);

/* Streams a GET: on_data gets each chunk as it arrives and returns false to
 * stop (then the call returns 0). Returns 0 when the stream ended or was
 * stopped, -1 on a connection error or a non-2xx answer (message printed). */
typedef bool (*cli_stream_fn)(void *arg, const char *data, size_t len);
int cli_http_stream(cli_ctx *ctx, const char *cmd, const char *path, cli_stream_fn on_data,
                    void *arg);

/* Percent-encodes s for a path segment or query value. Caller frees. */
char *cli_url_escape(const char *s);

/* The server's error text of a response body: "message" plus each of
 * "problems" on its own indented line; or the raw body. Caller frees. */
char *cli_error_text(const cli_resp *r);

/* Checks that ctx->server is set; prints a usage error and returns false
 * otherwise. */
bool cli_need_server(cli_ctx *ctx, const char *cmd);

#endif
