#include "toml-json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static void json_string(struct cln_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cln_buf_reserve(b, n + 2);
    cln_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cln_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            cln_buf_puts(b, "\\\"");
            break;
        case '\\':
            cln_buf_puts(b, "\\\\");
            break;
        case '\n':
            cln_buf_puts(b, "\\n");
            break;
        case '\t':
            cln_buf_puts(b, "\\t");
            break;
        case '\r':
            cln_buf_puts(b, "\\r");
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            cln_buf_append(b, u, 6);
        }
        }
    }
    cln_buf_append(b, s + run, n - run);
    cln_buf_putc(b, '"');
}

void cln_toml_datetime_format(enum cln_toml_type type, const struct cln_toml_datetime *dt,
                              struct cln_buf *out)
{
    if (type != CLN_TOML_TIME_LOCAL)
        cln_buf_printf(out, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
    if (type == CLN_TOML_DATE_LOCAL)
        return;
    if (type != CLN_TOML_TIME_LOCAL)
        cln_buf_putc(out, 'T');
    cln_buf_printf(out, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
    if (dt->frac_digits > 0) {
        int ns = dt->nanosecond;
        for (int i = dt->frac_digits; i < 9; i++)
            ns /= 10;
        cln_buf_printf(out, ".%0*d", dt->frac_digits, ns);
    }
    if (type == CLN_TOML_DATETIME) {
        if (dt->offset_z) {
            cln_buf_putc(out, 'Z');
        } else {
            int off = dt->offset_minutes;
            char sign = off < 0 ? '-' : '+';
            if (off < 0)
                off = -off;
            cln_buf_printf(out, "%c%02d:%02d", sign, off / 60, off % 60);
        }
    }
}

static void leaf(struct cln_buf *b, const char *type, const char *val, size_t n)
{
    cln_buf_puts(b, "{\"type\":\"");
    cln_buf_puts(b, type);
    cln_buf_puts(b, "\",\"value\":");
    json_string(b, val, n);
    cln_buf_putc(b, '}');
}

void cln_toml_to_tagged_json(const struct cln_toml_value *v, struct cln_buf *b)
{
    char tmp[64];
    int n;
    switch (v->type) {
    case CLN_TOML_STRING:
        leaf(b, "string", v->u.str.ptr, v->u.str.len);
        return;
    case CLN_TOML_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.integer);
        leaf(b, "integer", tmp, (size_t)n);
        return;
    case CLN_TOML_FLOAT:
        if (isnan(v->u.flt))
            n = snprintf(tmp, sizeof(tmp), "nan");
        else if (isinf(v->u.flt))
            n = snprintf(tmp, sizeof(tmp), "%sinf", v->u.flt < 0 ? "-" : "");
        else
            n = snprintf(tmp, sizeof(tmp), "%.17g", v->u.flt);
        leaf(b, "float", tmp, (size_t)n);
        return;
    case CLN_TOML_BOOL:
        leaf(b, "bool", v->u.boolean ? "true" : "false", v->u.boolean ? 4 : 5);
        return;
    case CLN_TOML_DATETIME:
    case CLN_TOML_DATETIME_LOCAL:
    case CLN_TOML_DATE_LOCAL:
    case CLN_TOML_TIME_LOCAL: {
        struct cln_buf s = CLN_BUF_INIT;
        cln_toml_datetime_format(v->type, &v->u.dt, &s);
        static const char *const names[] = {
            [CLN_TOML_DATETIME] = "datetime",
            [CLN_TOML_DATETIME_LOCAL] = "datetime-local",
            [CLN_TOML_DATE_LOCAL] = "date-local",
            [CLN_TOML_TIME_LOCAL] = "time-local",
        };
        leaf(b, names[v->type], s.data, s.len);
        cln_buf_done(&s);
        return;
    }
    case CLN_TOML_ARRAY:
        cln_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.len; i++) {
            if (i)
                cln_buf_putc(b, ',');
            cln_toml_to_tagged_json(v->u.arr.items[i], b);
        }
        cln_buf_putc(b, ']');
        return;
    case CLN_TOML_TABLE:
        cln_buf_putc(b, '{');
        for (size_t i = 0; i < v->u.tab.len; i++) {
            const struct cln_toml_entry *e = &v->u.tab.items[i];
            if (i)
                cln_buf_putc(b, ',');
            json_string(b, e->key, e->keylen);
            cln_buf_putc(b, ':');
            cln_toml_to_tagged_json(e->value, b);
        }
        cln_buf_putc(b, '}');
        return;
    }
}
