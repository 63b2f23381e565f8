/* as_sandbox: GET /api/sandbox/{taskId}/browse|read, proxied to the Mesos
 * agent's /files API (what Singularity does), never outside the task's
 * sandbox directory.
 *
 * Flow: the task document names the agent (P/agents/<agentId> gives its
 * address) and, if the bridge recorded it, the sandbox "directory";
 * otherwise the agent's /state is asked for the executor's directory, and
 * for an executor /state no longer lists, its virtual sandbox path is used. Then
 * /files/browse or /files/read is called and the answer reshaped as
 * SingularitySandbox or a file chunk {data, offset, nextOffset}.
 *
 * Confinement: corrald cannot see the agent's disk, so it checks what it
 * can. The path it is asked for must be plainly relative and stay inside
 * (as_sandbox_check_path, else a JSON 400), and every entry of a browse
 * answer must lie directly in the directory it asked for (others are
 * dropped, as_sandbox_entry_name). Then corrald walks the path: it browses
 * the sandbox root and each directory on the way and refuses, with the 404
 * of a missing file, a path any of whose components the agent lists as a
 * symlink (mode "l..."), wherever the link leads, inside the sandbox or
 * not: corrald never follows a link (listings still show links, marked by
 * their mode). That the path resolves inside the sandbox, symlinks
 * included, is also the agent's part (mesoslite: mesoslite/ml_files.h),
 * which closes the window between corrald's walk and the agent's read; an
 * agent whose listing follows links (a Mesos agent stats, not lstats, its
 * entries) shows corrald no links, and only its own check is left.
 *
 * The pure helpers below are unit tested; as_sandbox_serve does the I/O. */
#ifndef AS_SANDBOX_H
#define AS_SANDBOX_H

#include <stdint.h>

#include <jansson.h>

#include "apiserver/as_api.h"
#include "apiserver/as_cache.h"
#include "base/httpc.h"

struct event_base;
struct evhttp_request;
typedef struct as_sandbox as_sandbox;

/* Delivers the answer (status and JSON body, borrowed). */
typedef void (*as_sandbox_reply)(void *arg, struct evhttp_request *req, int64_t started, int status,
                                 const json_t *body);

as_sandbox *as_sandbox_new(struct event_base *base, cr_http *http, const as_cache *cache,
                           const char *prefix, long timeout_ms, as_sandbox_reply reply, void *arg);
/* Cancels calls in flight (their clients get no answer). NULL is a no-op. */
void as_sandbox_free(as_sandbox *sb);

/* Serves one browse/read whose input as_api_handle already checked. */
void as_sandbox_serve(as_sandbox *sb, struct evhttp_request *req, const as_req *ar,
                      int64_t started);

/* ---- pure helpers ---- */

/* Longest sandbox path accepted, longest component (bytes), most
 * components (each costs corrald one /files/browse call). */
#define AS_SANDBOX_PATH_MAX  4095
#define AS_SANDBOX_NAME_MAX  255
#define AS_SANDBOX_DEPTH_MAX 32

/* Checks a sandbox-relative path as the query gave it (percent-decoded
 * once; NULL or "" is the sandbox root). Refuses an absolute path, a ".."
 * component, a backslash, control characters (NUL never gets this far: the
 * query parser refuses %00), a "%XX" left after decoding (an agent that
 * decoded again would see other characters), more than AS_SANDBOX_PATH_MAX
 * bytes, a component of more than AS_SANDBOX_NAME_MAX or more than
 * AS_SANDBOX_DEPTH_MAX components. Returns NULL when fine, else the
 * message for a 400 (static). */
const char *as_sandbox_check_path(const char *rel);

/* The name of a /files/browse entry whose "path" is entry_path, when that
 * lies directly in dir (the path corrald asked for): the same components
 * (empty and "." ones ignored) plus exactly one more, with no ".." anywhere.
 * NULL otherwise. The name is borrowed from entry_path. */
const char *as_sandbox_entry_name(const char *entry_path, const char *dir);

/* What a /files/browse answer of dir (the path corrald asked for) says of
 * its entry name (name_len bytes): missing, a symlink (mode "l..."), a
 * directory ("d...") or anything else (a file; also an entry without a
 * mode). */
typedef enum {
    AS_SANDBOX_MISSING,
    AS_SANDBOX_LINK,
    AS_SANDBOX_DIR,
    AS_SANDBOX_OTHER,
} as_sandbox_kind;
as_sandbox_kind as_sandbox_entry_kind(const json_t *files, const char *dir, const char *name,
                                      size_t name_len);

/* "http://host:port" of an agent document (the bridge's "agentUrl", a Mesos
 * URL object "url", "pid" "slave(1)@ip:port", or "hostname"/"host" and
 * "port"); falls back to the task's
 * hostname and port 5051. Caller frees; NULL if nothing names a host. */
char *as_sandbox_agent_base(const json_t *agent, const json_t *task);

/* The sandbox directory of an executor in an agent's /state answer, looked
 * up by framework id (may be NULL: any) and executor id, in executors and
 * completed_executors. Borrowed from state, or NULL. */
const char *as_sandbox_find_dir(const json_t *state, const char *framework_id,
                                const char *executor_id);

/* The agent's virtual path of an executor's latest sandbox
 * ("/frameworks/<fw>/executors/<exec>/runs/latest"), which the agent serves
 * after the executor ended too. Caller frees. */
char *as_sandbox_virtual_root(const char *framework_id, const char *executor_id);

/* Joins the sandbox root and a checked relative path ("" or NULL = root).
 * Caller frees. */
char *as_sandbox_join(const char *root, const char *rel);

/* SingularitySandbox from a /files/browse answer (array of {path, size,
 * mtime, mode, ...}) for the directory rel of the sandbox at root; entries
 * whose path is not directly in that directory are left out. Caller owns. */
json_t *as_sandbox_shape_browse(const json_t *files, const char *root, const char *rel,
                                const char *host);
/* {data, offset, nextOffset} from a /files/read answer {data, offset};
 * with grep (may be NULL) data keeps only the lines containing it (offsets
 * still describe the raw chunk, so paging continues from nextOffset). */
json_t *as_sandbox_shape_read(const json_t *chunk, const char *grep);

#endif
