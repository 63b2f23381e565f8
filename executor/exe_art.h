/* exe_art: artifact files in the sandbox: destinations, md5 and size
 * checks, embedded content, the per-agent cache keyed by md5, and archive
 * extraction that refuses entries escaping the target directory.
 *
 * Everything here is synchronous local file work. The executor runs the slow
 * parts (extraction) in a child process so its event loop never blocks;
 * downloads live in exe_fetch. Every error names the artifact
 * ("artifact 'slug': md5 mismatch: expected ..., got ..."), and a failed
 * write or check removes the partial file. */
#ifndef EXE_ART_H
#define EXE_ART_H

#include <stdint.h>

#include "base/err.h"
#include "executor/exe_data.h"

/* Incremental md5 (used while a download streams in). */
typedef struct exe_md5 exe_md5;
exe_md5 *exe_md5_new(void);
void exe_md5_update(exe_md5 *m, const void *p, size_t n);
/* Writes 32 lower-case hex digits and a NUL into out. */
void exe_md5_final(exe_md5 *m, char out[33]);
void exe_md5_free(exe_md5 *m);

/* md5 and size of a file. */
int exe_md5_file(const char *path, char out[33], int64_t *size, cr_err *err);

/* Checks a computed md5/size against what the artifact declares (NULL md5 or
 * size -1 skips that check). Returns 0 or -1 with err naming the artifact. */
int exe_artifact_check(const exe_artifact *a, const char *md5, int64_t size, cr_err *err);

/* Checks the file at path; on a mismatch also unlinks it. */
int exe_artifact_verify_file(const exe_artifact *a, const char *path, cr_err *err);

/* taskdir/[targetFolder/]filename; caller frees. */
char *exe_artifact_dest(const exe_artifact *a, const char *taskdir);

/* Writes an embedded artifact to dest (temporary file then rename), after
 * checking md5/size of the content. Nothing is left behind on error. */
int exe_artifact_write_embedded(const exe_artifact *a, const char *dest, cr_err *err);

/* Cache: cache_dir/<md5>. exe_cache_get links (or copies) a cached file to
 * dest after re-checking its md5 and returns 1, returns 0 on a miss (or a
 * corrupt entry, which it removes), -1 on error. exe_cache_put stores path
 * (already verified) under md5. Artifacts without md5 are never cached. */
int exe_cache_get(const char *cache_dir, const exe_artifact *a, const char *dest, cr_err *err);
int exe_cache_put(const char *cache_dir, const exe_artifact *a, const char *path, cr_err *err);

/* Checks an archive listing (one member name per line) for entries that
 * would land outside the target: absolute names or ".." components. */
int exe_archive_names_ok(const char *listing, const char *artifact, cr_err *err);

/* Extracts archive (tar, tar.gz/tgz through `tar`, zip through `unzip`)
 * into dir, after listing it with exe_archive_names_ok and then refusing
 * symlinks that point outside dir. Blocks until the tools finish: call it
 * from a child process. */
int exe_extract(const exe_artifact *a, const char *archive, const char *dir, cr_err *err);

/* rm -rf path (no symlink following). Returns 0 if gone. */
int exe_remove_tree(const char *path);

#endif
