/* Agent and task resources as Mesos counts them: the scalars cpus, mem, disk
 * (MB), gpus and the `ports` ranges. Scalars keep three decimal digits, as
 * Mesos' fixed-point Value.Scalar does. Pure value code, no I/O.
 * Lifecycle: ml_res_init (or ML_RES_INIT) -> ... -> ml_res_release. */
#ifndef ML_RES_H
#define ML_RES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct ml_range {
    uint64_t begin, end; /* inclusive */
} ml_range;

typedef struct ml_res {
    double cpus, mem, disk, gpus;
    ml_range *ports; /* sorted, disjoint, non-adjacent; owned */
    size_t nports, capports;
} ml_res;

#define ML_RES_INIT            \
    {                          \
        0, 0, 0, 0, NULL, 0, 0 \
    }

void ml_res_init(ml_res *r);
void ml_res_release(ml_res *r);
void ml_res_clear(ml_res *r);
void ml_res_copy(ml_res *dst, const ml_res *src); /* dst must be initialised */

/* Adds the range [begin, end] to the port set (merging). */
void ml_res_add_range(ml_res *r, uint64_t begin, uint64_t end);
/* Number of ports in the set. */
uint64_t ml_res_port_count(const ml_res *r);

bool ml_res_empty(const ml_res *r);
/* Whether a holds at least b (every scalar and every port of b). */
bool ml_res_contains(const ml_res *a, const ml_res *b);
void ml_res_add(ml_res *a, const ml_res *b);
/* a -= b; returns -1 (a unchanged) when a does not contain b. */
int ml_res_sub(ml_res *a, const ml_res *b);

/* Parses a Mesos Resource[] JSON array (name/type/scalar|ranges). Unknown
 * resource names, wrong types and negative values are errors naming the
 * entry ("resources[2]: unknown resource 'foo'"). */
int ml_res_from_json(ml_res *out, const json_t *arr, cr_err *err);

/* Parses the agent --resources syntax: "cpus:4;mem:8192;ports:[31000-32000]". */
int ml_res_from_spec(ml_res *out, const char *spec, cr_err *err);

/* The Resource[] array as Mesos offers it: ports, cpus, mem, disk (and gpus
 * when non-zero), each with `role` and, when alloc_role is not NULL,
 * `allocation_info.role`. Caller owns the result. */
json_t *ml_res_to_json(const ml_res *r, const char *role, const char *alloc_role);

/* The summary object of /master/state: {"disk":..,"mem":..,"gpus":..,
 * "cpus":..,"ports":"[31000-31001]"} (ports only when set). Caller owns. */
json_t *ml_res_to_summary(const ml_res *r);

/* Formats the port set as Mesos does: "[31000-31001, 31005-31005]".
 * Caller owns the string. */
char *ml_res_ports_str(const ml_res *r);

/* Filters of DECLINE/ACCEPT (`filters.refuse_seconds`): missing or negative
 * means 5 s, capped at one year. Returns milliseconds. */
int64_t ml_refuse_ms(const json_t *filters);

/* A decline filter of one framework on one agent: the agent's resources are
 * withheld while they are contained in `refused` and until `until_ms`. */
typedef struct ml_filter {
    ml_res refused;
    int64_t until_ms;
} ml_filter;

bool ml_filter_blocks(const ml_filter *f, const ml_res *avail, int64_t now_ms);

#endif
