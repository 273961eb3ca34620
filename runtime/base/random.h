/* Random identifiers: run ids, canary tokens, names nobody can guess. */
#pragma once

#include <stddef.h>

/* nbytes of the kernel's randomness as lower-case hex into out, which
 * holds 2 * nbytes + 1 characters. */
void cln_random_hex(char *out, size_t nbytes);
