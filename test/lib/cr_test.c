#include "test/lib/cr_test.h"

#include <stdio.h>
#include <jansson.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

char *cr_test_fixture(const char *relpath, size_t *len)
{
    const char *src = getenv("CR_SRCDIR");
    char *path = xasprintf("%s/test/%s", src && *src ? src : ".", relpath);
    cr_buf b = CR_BUF_INIT;
    char chunk[8192];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f)
        fail_msg("cannot open fixture %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cr_buf_add(&b, chunk, n);
    fclose(f);
    free(path);
    return cr_buf_detach(&b, len);
}

json_t *cr_test_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

json_t *cr_test_fixture_json(const char *relpath)
{
    size_t len;
    char *s = cr_test_fixture(relpath, &len);
    json_error_t e;
    json_t *j = json_loadb(s, len, 0, &e);
    free(s);
    if (!j)
        fail_msg("fixture %s: %s", relpath, e.text);
    return j;
}

char *cr_test_tmpdir(void)
{
    char tmpl[] = "/tmp/corral-test-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp failed");
    return xstrdup(tmpl);
}

unsigned cr_test_rand(uint64_t *state, unsigned n)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (unsigned)(*state % n);
}
