/* TOML out, for the specs the CLI writes (`cleanrun import clnrm`): basic
 * strings with every character that needs it escaped, keys bare when they
 * can be, and comment lines that stay one line.  Each appends to a buffer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cln_buf;

/* The len bytes of s as a basic string, "...": '"', '\\' and the control
 * characters escaped (\b \t \n \f \r, else \uXXXX). */
void cln_toml_put_str(struct cln_buf *b, const char *s, size_t len);
/* The same, of a NUL-terminated string. */
void cln_toml_put_cstr(struct cln_buf *b, const char *s);

/* Can the key be written bare (A-Z a-z 0-9 - _, not empty)? */
bool cln_toml_bare_key(const char *k, size_t len);
/* A key: bare when it can be, else quoted. */
void cln_toml_put_key(struct cln_buf *b, const char *k, size_t len);

/* A comment line, prefix then text and '\n': the control characters of
 * text made visible, so it stays one line. */
void cln_toml_put_comment(struct cln_buf *b, const char *prefix, const char *text);
