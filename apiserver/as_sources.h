/* as_sources: the GitOps Sources resource (docs/gitops.md, docs/api.md), a
 * part of as_api_handle (pure like it: reads the cache, answers, leaves
 * the writes in out->txn). The route table gives the access classes:
 * reads as agents' (admins, jita, global read-only: a repository URL may
 * name hosts), writes for admins (a Source writes requests of every group),
 * sync for any authenticated caller (it only makes the repository's state
 * arrive sooner).
 *
 *   GET    /api/sources                          [{source, status}]
 *   POST   /api/sources                          {source, status}: created or replaced
 *   GET    /api/sources/source/{sourceName}      {source, status}
 *   DELETE /api/sources/source/{sourceName}      {source}: the Source goes, what it
 *                                                created stays
 *   POST   /api/sources/source/{sourceName}/sync 202 {source, status, syncRequest}:
 *                                                fetch and sync now (also a Git host's
 *                                                push hook); the status's syncRequest
 *                                                reaches syncRequest once it is handled
 *
 * `status` is the controller's api_source_status, or null before its first
 * pass. */
#ifndef AS_SOURCES_H
#define AS_SOURCES_H

#include <stdbool.h>

#include "apiserver/as_api.h"

bool as_sources_op(as_op op);

/* Runs one of the operations above; fills out (memset by the caller). */
void as_sources_handle(const as_api_config *cfg, const as_cache *cache, const as_req *req,
                       as_result *out);

#endif
