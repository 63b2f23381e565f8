/* corralctl's HTTP client for corrald's API: blocking calls (libcurl easy
 * interface: most commands make a few calls, one after the other), and a
 * pipe of concurrent calls for commands that make thousands (apply).
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

/* As quiet_status: no message for any failure, unreachable server included
 * (reads that only help, whose callers fall back to ordinary calls). */
#define CLI_HTTP_QUIET (-1L)

/* ---- pipe: concurrent calls (libcurl multi interface) ----------------------
 *
 * Up to `window` calls in flight, each on its own keep-alive connection that
 * later calls reuse; the rest wait in a queue and start in the order they
 * were added. Everything runs on the caller's thread inside cli_pipe_step.
 * Lifecycle: cli_pipe_new -> cli_pipe_add / cli_pipe_step -> cli_pipe_free
 * (which drops calls not finished without calling their callbacks). */
typedef struct cli_pipe cli_pipe;

/* A finished call: rc and *r as cli_http gives them; msg is what cli_http
 * would have printed (lines ending in a newline, borrowed), or NULL. r is
 * released after the callback returns; it may keep r->body by taking it and
 * setting r->body to NULL. The callback may add further calls. */
typedef void (*cli_pipe_fn)(void *arg, int rc, cli_resp *r, const char *msg);

/* A pipe for command cmd (borrowed: names it in messages). Caller frees. */
cli_pipe *cli_pipe_new(cli_ctx *ctx, const char *cmd, size_t window);
void cli_pipe_free(cli_pipe *p);

/* Queues a call, as cli_http's arguments (body borrowed: encoded now); fn
 * gets its result. */
void cli_pipe_add(cli_pipe *p, const char *method, const char *path, const json_t *body,
                  long quiet_status, cli_pipe_fn fn, void *arg);

/* Calls queued or in flight. */
size_t cli_pipe_busy(const cli_pipe *p);

/* Starts queued calls while the window has room, then waits until at least
 * one call finished and runs the callbacks of all that did. Returns how many
 * finished; 0 at once when nothing is queued or in flight. */
size_t cli_pipe_step(cli_pipe *p);

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
