/* Durations as people write them in specs and on the command line:
 * "150ms", "5s", "2m", "1h30m", "1.5s", "0".
 *
 * Units are h, m, s and ms, each at most once and in that order; a component
 * may have a decimal fraction.  The result is in milliseconds, rounded to the
 * nearest one.  Anything else (no unit, unknown unit, a sign, overflow, an
 * empty string) is CLN_E_INVALID with a message that quotes the text. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cln_error;

int cln_duration_parse(const char *text, uint64_t *ret_ms, struct cln_error **err);
/* The same for a text that is not NUL-terminated. */
int cln_duration_parse_n(const char *text, size_t len, uint64_t *ret_ms, struct cln_error **err);

/* "1h30m", "2.5s", "150ms", "0s": a compact rendering for messages; writes at
 * most size bytes including the NUL and returns buf. */
char *cln_duration_format(uint64_t ms, char *buf, size_t size);
/* A limit as a person writes it: 3s, 1.5s, 1m30s, 250ms, 2h. */
char *cln_duration_format_limit(uint64_t ms, char *buf, size_t size);
