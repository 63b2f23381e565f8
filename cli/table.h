/* Pure output helpers of corralctl: aligned tables and structured output.
 *
 * A table is built row by row (cli_table_row, then one cli_table_cell per
 * column) and rendered kubectl-style: a header row in upper case, columns
 * left-aligned and separated by three spaces, the last column unpadded,
 * missing cells shown as "<none>". */
#ifndef CLI_TABLE_H
#define CLI_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_table cli_table;

/* headers: ncols column names (copied). Caller frees the table. */
cli_table *cli_table_new(const char *const *headers, size_t ncols);
void cli_table_free(cli_table *t);
/* Starts a new row; cells added after it fill it left to right. */
void cli_table_row(cli_table *t);
/* Appends one cell (printf format; NULL fmt = "<none>"). Cells beyond the
 * column count are ignored. */
void cli_table_cell(cli_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t cli_table_rows(const cli_table *t);
/* The rendered table, one line per row plus the header. Caller frees. */
char *cli_table_render(const cli_table *t);

/* Writes j as indented JSON ("json") or YAML ("yaml") to f. Returns 0, or
 * -1 if format is neither or encoding failed. */
int cli_print_doc(FILE *f, const json_t *j, const char *format);

/* "3m", "2h", "5d", "45s" since then_ms (epoch ms) at now_ms; "<unknown>"
 * when then_ms <= 0. Writes into out (size >= 16) and returns it. */
const char *cli_age(int64_t then_ms, int64_t now_ms, char *out, size_t size);

/* A scalar JSON value as text for a table cell: strings as is, numbers and
 * booleans formatted, null/absent as "<none>", others compact JSON.
 * Caller frees. */
char *cli_cell_text(const json_t *v);

#endif
