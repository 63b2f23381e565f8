/* libFuzzer target for the manifest decoder: arbitrary bytes go through the
 * YAML reader, the document classifier, every object decoder and validator,
 * the set checks and both encoders. Any crash, leak or sanitizer report is
 * a bug; problems in the input are expected and ignored. The emitted YAML
 * must load back to the same objects. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apis/manifest.h"
#include "apis/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sets[] = {"procfile.web.instances=2"};
    api_problems probs = API_PROBLEMS_INIT;
    api_manifest_opts opts = {0};
    api_manifest *m = api_manifest_new();

    /* The first byte picks options so both strict and lenient paths run. */
    if (size > 0) {
        opts.allow_unknown = data[0] & 1;
        if (data[0] & 2) {
            opts.sets = sets;
            opts.nsets = 1;
        }
        if (data[0] & 4)
            opts.env = "qa";
    }
    if (api_manifest_load_buffer(m, (const char *)data, size, "fuzz.yaml", &opts, &probs) == 0 &&
        api_manifest_check(m, &probs) == 0) {
        json_t *list = api_manifest_to_json(m);
        char *y = api_yaml_emit(list);
        if (y) {
            api_problems p2 = API_PROBLEMS_INIT;
            api_manifest *m2 = api_manifest_new();
            api_manifest_opts o2 = {.allow_unknown = opts.allow_unknown};
            if (api_manifest_load_buffer(m2, y, strlen(y), "emitted.yaml", &o2, &p2) != 0)
                abort(); /* our own output must load */
            json_t *list2 = api_manifest_to_json(m2);
            if (!json_equal(list, list2))
                abort(); /* and give the same objects */
            json_decref(list2);
            api_manifest_free(m2);
            api_problems_release(&p2);
            free(y);
        }
        json_decref(list);
    }
    for (size_t i = 0; i < probs.n; i++)
        free(api_problem_format(&probs.v[i]));
    api_problems_release(&probs);
    api_manifest_free(m);
    return 0;
}
