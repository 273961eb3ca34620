/* Apple's container CLI (macOS): not built on this platform yet.  Its
 * descriptor is in the registry so that "--runtime apple" says why. */
#include "runtime/backend.h"

const struct cln_runtime_desc cln_apple_desc = {
    .name = "apple",
    .ops = NULL,
    .unavailable = "it needs macOS and Apple's container CLI",
};
