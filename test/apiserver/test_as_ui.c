/* as_ui: the embedded UI files by path: index, types, ETag revalidation,
 * the security headers, and paths that name nothing embedded. */
#include "test/lib/cr_test.h"

#include <stdio.h>
#include <string.h>

#include "apiserver/as_ui.h"

static const char *hdr(const as_ui_reply *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void test_index_and_types(void **state)
{
    as_ui_reply r;

    as_ui_lookup("/ui/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.asset->path, "index.html");
    assert_string_equal(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(hdr(&r, "Cache-Control"), "no-cache");
    assert_non_null(strstr((const char *)r.asset->data, "<!doctype html>"));
    as_ui_lookup("/ui/index.html", NULL, &r);
    assert_int_equal(r.status, 200);
    as_ui_lookup("/ui/js/app.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "Content-Type"), "text/javascript; charset=utf-8");
    as_ui_lookup("/ui/css/app.css", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "Content-Type"), "text/css; charset=utf-8");
    /* "/ui" sends the browser to "/ui/" so relative URLs resolve. */
    as_ui_lookup("/ui", NULL, &r);
    assert_int_equal(r.status, 301);
    assert_string_equal(hdr(&r, "Location"), "/ui/");
    /* Every embedded file has a type and an ETag. */
    assert_true(as_ui_nassets >= 3);
    for (size_t i = 0; i < as_ui_nassets; i++) {
        assert_non_null(as_ui_assets[i].ctype);
        assert_int_equal(as_ui_assets[i].etag[0], '"');
        assert_ptr_equal(as_ui_find(as_ui_assets[i].path), &as_ui_assets[i]);
    }
}

static void test_etag(void **state)
{
    as_ui_reply r;
    char list[128];
    const char *etag;

    as_ui_lookup("/ui/js/app.js", NULL, &r);
    etag = hdr(&r, "ETag");
    assert_non_null(etag);
    assert_int_equal(strlen(etag), 34);
    as_ui_lookup("/ui/js/app.js", etag, &r);
    assert_int_equal(r.status, 304);
    assert_string_equal(hdr(&r, "ETag"), etag);
    snprintf(list, sizeof(list), "\"old\", %s", etag);
    as_ui_lookup("/ui/js/app.js", list, &r);
    assert_int_equal(r.status, 304);
    as_ui_lookup("/ui/js/app.js", "\"old\"", &r);
    assert_int_equal(r.status, 200);
    as_ui_lookup("/ui/index.html", etag, &r); /* another file's tag */
    assert_int_equal(r.status, 200);
}

static void test_headers(void **state)
{
    as_ui_reply r;
    const char *csp;

    as_ui_lookup("/ui/", NULL, &r);
    csp = hdr(&r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_string_equal(csp, as_ui_csp());
    assert_non_null(strstr(csp, "script-src 'self'"));
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_null(strstr(csp, "unsafe-inline"));
    assert_null(strstr(csp, "unsafe-eval"));
    assert_string_equal(hdr(&r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(hdr(&r, "X-Frame-Options"), "DENY");
    assert_string_equal(hdr(&r, "Referrer-Policy"), "no-referrer");
}

static void test_confined(void **state)
{
    static const char *bad[] = {
        "/ui/../Makefile", "/ui/js/../index.html",
        "/ui/%2e%2e/x",    "/ui/js/%2fapp.js",
        "/ui//index.html", "/ui/.hidden",
        "/ui/js/",         "/ui/nope.js",
        "/ui/js/app.js/x", "/uix",
        "/api/ui/",        "/ui/index.html?x",
        "/ui/JS/app.js",   "/ui/js\\app.js",
        "/ui/README.md",   NULL,
    };
    as_ui_reply r;

    for (size_t i = 0; bad[i]; i++) {
        as_ui_lookup(bad[i], NULL, &r);
        if (r.status != 404)
            fail_msg("%s: %d, want 404", bad[i], r.status);
        assert_null(hdr(&r, "Content-Type"));
    }
    as_ui_lookup(NULL, NULL, &r);
    assert_int_equal(r.status, 404);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_index_and_types),
    cmocka_unit_test(test_etag),
    cmocka_unit_test(test_headers),
    cmocka_unit_test(test_confined),
};

CR_TEST_MAIN(tests)
