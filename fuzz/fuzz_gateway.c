/* libFuzzer target for the fast readers of etcd's gateway answers
 * (store/gwjson.c): any bytes, read as a range answer and as a watch line.
 * Whenever a fast reader takes the text, jansson's path must take it too
 * and give the same answer (test/store/gwcheck.h); a difference, a crash, a
 * leak or a sanitizer report is a bug. Byte 0 picks which reader goes
 * first (both always run). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/store/gwcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    int taken;

    if (size < 1)
        return 0;
    /* NUL-terminated like the bodies and lines the store hands over */
    text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] & 1) {
        if (gw_check_watch(text, size - 1, &taken) || gw_check_range(text, size - 1, &taken))
            abort();
    } else {
        if (gw_check_range(text, size - 1, &taken) || gw_check_watch(text, size - 1, &taken))
            abort();
    }
    free(text);
    return 0;
}
