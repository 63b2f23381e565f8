/* exe_s3: the executor's S3 artifact GETs, signed by the shared SigV4 code
 * in base/s3.h (one implementation for the executor, the node agent and
 * corrald). */
#ifndef EXE_S3_H
#define EXE_S3_H

#include "base/s3.h"

typedef cr_s3_cfg exe_s3_cfg;

/* A signed GET for bucket/key at time amz_date ("YYYYMMDDTHHMMSSZ"). Sets
 * *url (caller frees) and returns a NULL-terminated list of "Name: value"
 * headers to send (caller frees with exe_strv_free). Returns NULL when the
 * endpoint is not an http(s) URL. */
char **exe_s3_signed_get(const exe_s3_cfg *cfg, const char *bucket, const char *key,
                         const char *amz_date, char **url);

void exe_strv_free(char **v);

#endif
