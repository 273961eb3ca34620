/* libFuzzer target: the TOML parser and the tagged-JSON renderer over any
 * input.  Run with `make fuzz` (FUZZ_TIME=seconds). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness/toml/toml-json.h"
#include "harness/toml/toml.h"
#include "runtime/base/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cln_toml_doc *doc = NULL;
    struct cln_error *err = NULL;
    if (cln_toml_parse((const char *)data, size, "fuzz", &doc, &err) < 0) {
        char *m = cln_error_render(err);
        free(m);
        cln_error_free(err);
        return 0;
    }
    struct cln_buf out = CLN_BUF_INIT;
    cln_toml_to_tagged_json(cln_toml_root(doc), &out);
    cln_buf_done(&out);
    cln_toml_free(doc);
    return 0;
}
