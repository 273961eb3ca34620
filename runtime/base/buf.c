#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void cln_buf_reserve(struct cln_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        abort();
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = cln_xrealloc(b->data, cap);
    b->cap = cap;
}

void cln_buf_append(struct cln_buf *b, const void *data, size_t n)
{
    cln_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cln_buf_puts(struct cln_buf *b, const char *s)
{
    cln_buf_append(b, s, strlen(s));
}

void cln_buf_putc(struct cln_buf *b, char c)
{
    cln_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void cln_buf_vprintf(struct cln_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        abort();
    if ((size_t)n < sizeof(tmp)) {
        cln_buf_append(b, tmp, (size_t)n);
        return;
    }
    cln_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cln_buf_printf(struct cln_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cln_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void cln_buf_clear(struct cln_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cln_buf_consume(struct cln_buf *b, size_t n)
{
    if (n >= b->len) {
        cln_buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *cln_buf_steal(struct cln_buf *b)
{
    char *p = b->data ? b->data : cln_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void cln_buf_done(struct cln_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
