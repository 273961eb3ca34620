/* For tests/portability.sh: what macOS's libc declares by default that
 * glibc declares only with _GNU_SOURCE.  Each is in macOS's own headers
 * (string.h, stdio.h) and man pages (memmem(3), asprintf(3), strstr(3));
 * nothing else may be used outside runtime/base/os-*.c beyond POSIX and
 * glibc's _DEFAULT_SOURCE set. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
void *memmem(const void *big, size_t big_len, const void *little, size_t little_len);
int vasprintf(char **ret, const char *format, va_list ap);
int asprintf(char **ret, const char *format, ...);
char *strcasestr(const char *big, const char *little);
