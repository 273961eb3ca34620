/* A growable byte buffer, always NUL-terminated (the NUL is not counted in
 * len), so that text built in it can be used as a C string.  Binary data with
 * embedded NULs is fine too: len is authoritative. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct cln_buf {
    char *data; /* NULL until the first write */
    size_t len;
    size_t cap;
};

#define CLN_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void cln_buf_reserve(struct cln_buf *b, size_t extra);
void cln_buf_append(struct cln_buf *b, const void *data, size_t n);
void cln_buf_puts(struct cln_buf *b, const char *s);
void cln_buf_putc(struct cln_buf *b, char c);
void cln_buf_printf(struct cln_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cln_buf_vprintf(struct cln_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Empty the buffer, keeping its memory. */
void cln_buf_clear(struct cln_buf *b);
/* Remove the first n bytes. */
void cln_buf_consume(struct cln_buf *b, size_t n);
/* Hand the contents over (never NULL: an empty string for an empty buffer)
 * and reset the buffer. */
char *cln_buf_steal(struct cln_buf *b);
/* Free the contents; the struct itself is the caller's. */
void cln_buf_done(struct cln_buf *b);

static inline void cln_buf_donep(struct cln_buf *b)
{
    cln_buf_done(b);
}
#define cleanup_buf __attribute__((cleanup(cln_buf_donep)))
