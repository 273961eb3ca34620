/* The toml-test "tagged JSON" rendering of a TOML tree, used by the
 * `cleanrun toml-decode` developer command and the conformance suite.
 *
 * Written directly rather than through cJSON: TOML strings and keys may
 * contain U+0000 ("\u0000" is a valid escape), which cJSON's C strings cannot
 * carry. */
#pragma once

#include "runtime/base/buf.h"
#include "toml.h"

void cln_toml_to_tagged_json(const struct cln_toml_value *v, struct cln_buf *out);
/* Render a date/time value as RFC 3339 text ("1979-05-27T07:32:00.5Z"). */
void cln_toml_datetime_format(enum cln_toml_type type, const struct cln_toml_datetime *dt,
                              struct cln_buf *out);
