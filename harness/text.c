/* Text for people: control characters made visible, long quotes cut. */
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"

/* The length of a valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t l = p[0] < 0x80             ? 1
               : (p[0] & 0xE0) == 0xC0 ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    if (!l || l > n)
        return 0;
    for (size_t i = 1; i < l; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    uint32_t c = l == 1   ? p[0]
                 : l == 2 ? (uint32_t)(p[0] & 0x1F)
                 : l == 3 ? (uint32_t)(p[0] & 0x0F)
                          : (uint32_t)(p[0] & 0x07);
    for (size_t i = 1; i < l; i++)
        c = (c << 6) | (p[i] & 0x3F);
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((l == 2 && c < 0x80) || (l == 3 && c < 0x800) || (l == 4 && c < 0x10000) ||
        (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        return 0;
    /* C1 controls (U+0080..U+009F) act on terminals too */
    if (c >= 0x80 && c <= 0x9F)
        return 0;
    return l;
}

char *cln_text_visible(const char *data, size_t len, size_t cap, unsigned flags)
{
    struct cln_buf b = CLN_BUF_INIT;
    const unsigned char *p = (const unsigned char *)(data ? data : "");
    if (!data)
        len = 0;
    size_t keep = cap && len > cap ? cap : len;
    size_t line_start = 0;
    for (size_t i = 0; i < keep;) {
        unsigned char c = p[i];
        if (c == '\n' && (flags & CLN_VIS_KEEP_NEWLINES)) {
            if ((flags & CLN_VIS_MARK_EOL_SPACE) && b.len > line_start &&
                (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
                cln_buf_putc(&b, '$');
            cln_buf_putc(&b, '\n');
            line_start = b.len;
            i++;
            continue;
        }
        if (c == '\t' && (flags & CLN_VIS_KEEP_TABS)) {
            cln_buf_putc(&b, '\t');
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            char e[3] = {'^', (char)(c == 0x7F ? '?' : c + 0x40), '\0'};
            cln_buf_puts(&b, e);
            i++;
            continue;
        }
        size_t l = utf8_len(p + i, keep - i);
        if (!l) {
            cln_buf_printf(&b, "\\x%02x", c);
            i++;
            continue;
        }
        cln_buf_append(&b, p + i, l);
        i += l;
    }
    if ((flags & CLN_VIS_MARK_EOL_SPACE) && b.len > line_start &&
        (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
        cln_buf_putc(&b, '$');
    if (keep < len)
        cln_buf_printf(&b, "%s... (%zu more bytes not shown)",
                       b.len && b.data[b.len - 1] != '\n' ? "\n" : "", len - keep);
    if (!b.data)
        cln_buf_puts(&b, "");
    return cln_buf_steal(&b);
}

char *cln_text_name(const char *s)
{
    return cln_text_visible(s, s ? strlen(s) : 0, 0, 0);
}

long cln_text_http_status(const char *text, size_t len)
{
    long status = 0;
    for (const char *p = text, *end = text ? text + len : NULL; p && p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q = p;
        while (q < (eol ? eol : end) && (*q == ' ' || *q == '\t'))
            q++;
        if ((eol ? eol : end) - q > 5 && memcmp(q, "HTTP/", 5) == 0) {
            const char *sp = memchr(q, ' ', (size_t)((eol ? eol : end) - q));
            if (sp && sp + 1 < (eol ? eol : end) && sp[1] >= '1' && sp[1] <= '9')
                status = strtol(sp + 1, NULL, 10);
        }
        p = eol ? eol + 1 : NULL;
    }
    return status;
}
