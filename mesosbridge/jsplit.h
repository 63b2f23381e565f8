/* mb_jsplit: a big Mesos answer parsed without its whole tree.
 *
 * GET_AGENTS for 5,000 agents is ~5 MB of JSON, ~80 MB as one jansson
 * tree, and an OFFERS event for as many agents is a few MB more: held at
 * once, they set the peak of a large corrald. mb_jsplit_load parses such a
 * text as json_loadb(text, len, 0) would, except that the arrays at the
 * given paths come out empty: each of their elements is parsed alone,
 * handed to a callback, and freed, so at most one element is a tree at a
 * time. Everything else is parsed by jansson a value at a time, so the
 * text is accepted and rejected by jansson's own rules, but for one byte:
 * a NUL between the values jsplit walks itself (along a path, between
 * split elements) is refused, where json_loadb skips one that follows a
 * number or a literal. Pure: no I/O. */
#ifndef MB_JSPLIT_H
#define MB_JSPLIT_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

/* Called for element i of the array at paths[which]; elem is borrowed
 * (freed after the call: take a reference to keep it). Return 0 to go on,
 * -1 with err set to stop the load. */
typedef int (*mb_jsplit_cb)(void *arg, size_t which, size_t i, const json_t *elem, cr_err *err);

/* Parses text[0..len), whose top value must be an object or an array.
 * paths[k] is a NULL-terminated list of member names from the top object
 * (for example {"get_agents", "agents", NULL}); at most 32 paths. A path
 * whose value is not an array is parsed like the rest (the caller's check
 * of its type then sees what json_loadb gives); a member on a path that
 * occurs twice in one object is an error (json_loadb would keep the last).
 * Returns the tree, with each split array empty, which the caller owns;
 * NULL with err set (CR_EPARSE, naming the byte) for a text jansson would
 * refuse, or with each's error. */
json_t *mb_jsplit_load(const char *text, size_t len, const char *const *const *paths,
                       size_t npaths, mb_jsplit_cb each, void *arg, cr_err *err);

#endif
