/* Allocation helpers that abort on out-of-memory (crun, bubblewrap).
 *
 * A failed allocation in a test harness is not a condition worth recovering
 * from: every caller would have to invent a path that cannot be tested.  These
 * print one line to stderr and abort; it is the only output runtime/ ever
 * produces, and it happens only when the process cannot continue. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

void *cln_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *cln_xcalloc(size_t nmemb, size_t size) __attribute__((malloc, returns_nonnull));
void *cln_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
/* Grow an array of nmemb elements of size to at least need, doubling;
 * *cap is updated.  Overflow aborts. */
void *cln_xgrow(void *p, size_t *cap, size_t need, size_t size) __attribute__((returns_nonnull));
char *cln_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *cln_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
char *cln_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), malloc, returns_nonnull));
char *cln_xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0), malloc, returns_nonnull));
