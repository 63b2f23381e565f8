/* Tables and structured output; see table.h. */
#include "cli/table.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "apis/yaml.h"
#include "base/buf.h"
#include "base/xalloc.h"

struct cli_table {
    size_t ncols;
    size_t nrows; /* row 0 is the header */
    char **cells; /* nrows * ncols, NULL = not set */
    size_t next;  /* next column of the last row */
};

cli_table *cli_table_new(const char *const *headers, size_t ncols)
{
    cli_table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    cli_table_row(t);
    for (size_t i = 0; i < ncols; i++) {
        char *h = xstrdup(headers[i]);
        for (char *p = h; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        t->cells[i] = h;
    }
    t->next = ncols;
    return t;
}

void cli_table_free(cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void cli_table_row(cli_table *t)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    memset(t->cells + t->nrows * t->ncols, 0, t->ncols * sizeof(char *));
    t->nrows++;
    t->next = 0;
}

void cli_table_cell(cli_table *t, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    if (t->nrows < 2 || t->next >= t->ncols)
        return;
    if (fmt) {
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
            abort();
        va_end(ap);
    }
    t->cells[(t->nrows - 1) * t->ncols + t->next++] = s;
}

size_t cli_table_rows(const cli_table *t)
{
    return t->nrows - 1;
}

char *cli_table_render(const cli_table *t)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    cr_buf b = CR_BUF_INIT;

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = strlen(s ? s : "<none>");
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (!s)
                s = "<none>";
            if (c + 1 == t->ncols)
                cr_buf_adds(&b, s);
            else
                cr_buf_addf(&b, "%-*s   ", (int)w[c], s);
        }
        cr_buf_addch(&b, '\n');
    }
    free(w);
    cr_buf_adds(&b, "");
    return cr_buf_detach(&b, NULL);
}

int cli_print_doc(FILE *f, const json_t *j, const char *format)
{
    char *s = NULL;
    if (strcmp(format, "json") == 0) {
        s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (!s)
            return -1;
        fprintf(f, "%s\n", s);
    } else if (strcmp(format, "yaml") == 0) {
        s = api_yaml_emit(j);
        if (!s)
            return -1;
        fputs(s, f);
    } else {
        return -1;
    }
    free(s);
    return 0;
}

const char *cli_age(int64_t then_ms, int64_t now_ms, char *out, size_t size)
{
    int64_t s;
    if (then_ms <= 0) {
        snprintf(out, size, "<unknown>");
        return out;
    }
    s = (now_ms - then_ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, size, "%llds", (long long)s);
    else if (s < 2 * 3600)
        snprintf(out, size, "%lldm", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(out, size, "%lldh", (long long)(s / 3600));
    else
        snprintf(out, size, "%lldd", (long long)(s / 86400));
    return out;
}

char *cli_cell_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return xstrdup("<none>");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "true" : "false");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : xstrdup("?");
}
