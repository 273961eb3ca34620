/* Text as a person should see it on a terminal or in a report: control
 * characters never reach the terminal raw (a step's output cannot clear
 * the screen or print a fake PASS line), invisible differences are made
 * visible, and long quotes are cut, saying how much. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Quotes of output in failures and reports keep at most this much. */
#define CLN_QUOTE_CAP ((size_t)64 << 10)

enum {
    CLN_VIS_KEEP_NEWLINES = 1 << 0,  /* '\n' stays a line break (else "^J") */
    CLN_VIS_MARK_EOL_SPACE = 1 << 1, /* a line ending in a space or tab gets a '$' (cat -A) */
    CLN_VIS_KEEP_TABS = 1 << 2,      /* '\t' stays (else "^I") */
};

/* data[0..len) with control characters as ^X (NUL as ^@, ESC as ^[, DEL as
 * ^?), bytes that are not UTF-8 as \xNN, at most cap bytes of data (0: no
 * cap) and then "... (N more bytes)".  Newly allocated. */
char *cln_text_visible(const char *data, size_t len, size_t cap, unsigned flags);

/* A name (of a test, a step) for one line of human output: visible, no
 * line breaks. */
char *cln_text_name(const char *s);

/* The status of the last status line ("  HTTP/1.1 200 OK") in the headers
 * `wget -S` printed (len bytes of text), or 0 when there is none.  Only a
 * line that starts (after blanks) with "HTTP/" is one: "Server: BaseHTTP/0.6"
 * is a header. */
long cln_text_http_status(const char *text, size_t len);
