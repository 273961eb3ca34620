/* TOML out (toml-writer.h): basic strings escaped character by character,
 * bare or quoted keys, and one-line comments. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "toml-writer.h"
#include "harness/text.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"

void cln_toml_put_str(struct cln_buf *b, const char *s, size_t len)
{
    cln_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            cln_buf_puts(b, "\\\"");
            break;
        case '\\':
            cln_buf_puts(b, "\\\\");
            break;
        case '\b':
            cln_buf_puts(b, "\\b");
            break;
        case '\t':
            cln_buf_puts(b, "\\t");
            break;
        case '\n':
            cln_buf_puts(b, "\\n");
            break;
        case '\f':
            cln_buf_puts(b, "\\f");
            break;
        case '\r':
            cln_buf_puts(b, "\\r");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                cln_buf_printf(b, "\\u%04X", c);
            else
                cln_buf_putc(b, (char)c);
        }
    }
    cln_buf_putc(b, '"');
}

void cln_toml_put_cstr(struct cln_buf *b, const char *s)
{
    cln_toml_put_str(b, s, strlen(s));
}

bool cln_toml_bare_key(const char *k, size_t len)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

void cln_toml_put_key(struct cln_buf *b, const char *k, size_t len)
{
    if (cln_toml_bare_key(k, len))
        cln_buf_append(b, k, len);
    else
        cln_toml_put_str(b, k, len);
}

/* A comment line: control characters made visible, so it stays one line. */
void cln_toml_put_comment(struct cln_buf *b, const char *prefix, const char *text)
{
    cleanup_free char *vis = cln_text_name(text);
    cln_buf_printf(b, "%s%s\n", prefix, vis);
}
