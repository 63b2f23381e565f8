/* as_ui: lookups of the embedded UI files; see as_ui.h. */
#include "apiserver/as_ui.h"

#include <string.h>

/* Scripts, styles, images and fetch() to this origin only; nothing inline
 * (styles set through the CSSOM from our own scripts are not inline
 * markup), no plugins, no <base>, no framing, forms post nowhere else. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "manifest-src 'self'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

const char *as_ui_csp(void)
{
    return csp;
}

const as_ui_asset *as_ui_find(const char *path)
{
    for (size_t i = 0; i < as_ui_nassets; i++)
        if (strcmp(as_ui_assets[i].path, path) == 0)
            return &as_ui_assets[i];
    return NULL;
}

static void header(as_ui_reply *r, const char *name, const char *value)
{
    if (r->nheaders < AS_UI_MAX_HEADERS) {
        r->headers[r->nheaders].name = name;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
    }
}

/* Segments of [A-Za-z0-9._-], none empty or starting with a dot. */
static bool plain_path(const char *p)
{
    bool seg_start = true;

    if (!*p)
        return false;
    for (; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start)
                return false;
            seg_start = true;
            continue;
        }
        if (seg_start && c == '.')
            return false;
        seg_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return !seg_start;
}

/* Whether an If-None-Match value names etag ("*", or one of a list). */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);

    if (!inm)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    for (const char *p = inm; (p = strstr(p, etag)); p += n) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return true;
    }
    return false;
}

void as_ui_lookup(const char *path, const char *if_none_match, as_ui_reply *out)
{
    const char *rel;

    memset(out, 0, sizeof(*out));
    out->status = 404;
    header(out, "X-Content-Type-Options", "nosniff");
    header(out, "Referrer-Policy", "no-referrer");
    if (!path || strncmp(path, "/ui", 3) != 0)
        return;
    if (strcmp(path, "/ui") == 0) {
        out->status = 301;
        out->location = "/ui/";
        header(out, "Location", out->location);
        return;
    }
    if (path[3] != '/')
        return;
    rel = path + 4;
    if (!*rel)
        rel = "index.html";
    if (!plain_path(rel) || !(out->asset = as_ui_find(rel)))
        return;
    out->status = etag_matches(if_none_match, out->asset->etag) ? 304 : 200;
    header(out, "Content-Type", out->asset->ctype);
    header(out, "ETag", out->asset->etag);
    header(out, "Cache-Control", "no-cache");
    header(out, "Content-Security-Policy", csp);
    header(out, "X-Frame-Options", "DENY");
}
