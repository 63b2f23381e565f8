/* as_ui: the web UI's static files, served at /ui/ by every replica.
 *
 * The files under ui/ in the source tree are compiled into the binary
 * (hack/embed-ui.py writes $(BUILD)/gen/apiserver/as_ui_assets.c from a
 * make rule; docs/ui.md says why): every replica serves exactly the UI of
 * its own build, nothing is read from disk at run time, and a path can
 * only name one of the embedded files, so no "..", symlink or odd
 * encoding can reach anything else. Lookups are pure (tests call them
 * directly); as_server.c sends the answer.
 *
 * Every answer carries the headers of as_ui_reply: the file's
 * Content-Type, an ETag (the first 128 bits of its SHA-256), Cache-Control
 * "no-cache" (browsers keep the file and revalidate it: a 304 costs one
 * round trip, and a new build is picked up at once), and a
 * Content-Security-Policy that allows scripts, styles and connections to
 * this origin only: no inline script, no eval, no framing. */
#ifndef AS_UI_H
#define AS_UI_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file (the generated table; static data). */
typedef struct as_ui_asset {
    const char *path;  /* relative to ui/: "index.html", "js/app.js" */
    const char *ctype; /* "text/javascript; charset=utf-8" */
    const char *etag;  /* quoted: "\"3f2a...\"" */
    const unsigned char *data;
    size_t len;
} as_ui_asset;

extern const as_ui_asset as_ui_assets[];
extern const size_t as_ui_nassets;

#define AS_UI_MAX_HEADERS 8

/* What to answer for one /ui path (all strings static or pointing into the
 * embedded table: nothing to release). */
typedef struct as_ui_reply {
    int status;               /* 200, 304, 301 (to location) or 404 */
    const as_ui_asset *asset; /* 200 and 304 */
    const char *location;     /* 301 */
    size_t nheaders;
    struct {
        const char *name, *value;
    } headers[AS_UI_MAX_HEADERS];
} as_ui_reply;

/* The embedded file at path (relative to ui/, as the table spells it), or
 * NULL. */
const as_ui_asset *as_ui_find(const char *path);

/* Answers the request path (as sent, not decoded: "/ui/", "/ui/js/app.js")
 * given the client's If-None-Match header (NULL if none). "/ui" redirects
 * to "/ui/", which is index.html; a path with anything but
 * [A-Za-z0-9._-] segments, or naming no embedded file, is a 404. */
void as_ui_lookup(const char *path, const char *if_none_match, as_ui_reply *out);

/* The Content-Security-Policy every UI answer carries (static). */
const char *as_ui_csp(void);

#endif
