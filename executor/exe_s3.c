#include "executor/exe_s3.h"

char **exe_s3_signed_get(const exe_s3_cfg *cfg, const char *bucket, const char *key,
                         const char *amz_date, char **url)
{
    return cr_s3_signed(cfg, "GET", bucket, key, NULL, NULL, amz_date, url);
}

void exe_strv_free(char **v)
{
    cr_strv_free(v);
}
