/* Regular expressions (PCRE2, multiline), compiled here and nowhere else:
 * in specs (expect.*.regex, ready.log, ready.http's body) and for --filter. */
#pragma once

#include <stddef.h>

/* Does subject[0..len) match pattern?  1 yes, 0 no, -1 a bad pattern. */
int cln_regex_match(const char *pattern, const char *subject, size_t len);

/* Is pattern valid?  0, or -1 with *ret_msg (PCRE2's words, into a buffer
 * of msg_size) and *ret_offset (where in the pattern). */
int cln_regex_check(const char *pattern, char *ret_msg, size_t msg_size, size_t *ret_offset);
