/* TOML 1.0.0 parser: a single pass of recursive descent over the bytes.
 *
 * The input is checked once up front for UTF-8 and for control characters
 * (none but tab and newline are allowed anywhere in TOML), so that the
 * grammar below only deals with structure.  Values go straight into the
 * tree; the redefinition rules of TOML are enforced through each table's
 * origin (see enum cln_toml_origin). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "toml-internal.h"

#define MAX_DEPTH 128     /* nesting of arrays and inline tables */
#define MAX_KEY_PARTS 128 /* a.b.c... */

struct key_part {
    size_t off, len; /* into parser.keybuf */
    const char *src; /* where it was written */
};

struct parser {
    const char *src, *p, *end;
    const char *line_start;
    uint32_t line;
    /* column cache: col of col_ptr, both on the current line */
    const char *col_ptr;
    uint32_t col;
    struct cln_toml_doc *doc;
    struct cln_toml_value *cur; /* table that key/values go into */
    int depth;
    struct cln_buf keybuf; /* decoded key parts */
    struct key_part parts[MAX_KEY_PARTS];
    size_t nparts;
    struct cln_buf strbuf; /* scratch for strings with escapes */
    struct cln_error **err;
};

/* ---- positions and errors ---- */

static struct cln_toml_pos pos_of(struct parser *P, const char *at)
{
    struct cln_toml_pos pos;
    if (at >= P->line_start) {
        const char *from = P->line_start;
        uint32_t col = 1;
        if (P->col_ptr >= P->line_start && P->col_ptr <= at) {
            from = P->col_ptr;
            col = P->col;
        }
        for (const char *c = from; c < at; c++)
            col += ((unsigned char)*c & 0xC0) != 0x80;
        P->col_ptr = at;
        P->col = col;
        pos.line = P->line;
        pos.col = col;
        return pos;
    }
    /* Not reached: tree positions are taken on the current line. */
    pos.line = P->line;
    pos.col = 1;
    return pos;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct parser *P, const char *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Errors happen once: rescan from the start rather than trust the line
     * tracking, which the up-front input check runs ahead of. */
    struct cln_toml_pos pos = {1, 1};
    const char *c = P->src;
    if (P->end - c >= 3 && memcmp(c, "\xEF\xBB\xBF", 3) == 0)
        c += 3;
    for (; c < at && c < P->end; c++) {
        if (*c == '\n') {
            pos.line++;
            pos.col = 1;
        } else if (((unsigned char)*c & 0xC0) != 0x80) {
            pos.col++;
        }
    }
    return cln_error_set(P->err, CLN_E_PARSE, 0, "%s:%u:%u: %s", P->doc->name, pos.line, pos.col,
                         msg);
}

/* A printable rendering of the character at p for messages. */
static const char *describe(const struct parser *P, const char *p, char *buf, size_t size)
{
    if (p >= P->end)
        return "end of file";
    unsigned char c = (unsigned char)*p;
    if (c == '\n' || (c == '\r' && p + 1 < P->end && p[1] == '\n'))
        return "end of line";
    if (c == '\t')
        return "a tab";
    if (c < 0x80) {
        snprintf(buf, size, "'%c'", c);
        return buf;
    }
    size_t n = 1;
    while (p + n < P->end && n < 4 && ((unsigned char)p[n] & 0xC0) == 0x80)
        n++;
    snprintf(buf, size, "'%.*s'", (int)n, p);
    return buf;
}

static int unexpected(struct parser *P, const char *p, const char *wanted)
{
    char b[16];
    return fail(P, p, "expected %s, found %s", wanted, describe(P, p, b, sizeof(b)));
}

/* ---- input checks ---- */

/* Validate UTF-8 (no overlongs, surrogates or code points past U+10FFFF) and
 * reject control characters other than tab, LF and CRLF. */
static int check_input(struct parser *P)
{
    const unsigned char *s = (const unsigned char *)P->p, *e = (const unsigned char *)P->end;
    while (s < e) {
        /* Fast path over plain printable ASCII, 8 bytes at a time. */
        while (e - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            /* any byte >= 0x80, or < 0x20, or == 0x7F? */
            uint64_t high = w & 0x8080808080808080ULL;
            uint64_t low = (w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL;
            uint64_t del = ((w ^ 0x7F7F7F7F7F7F7F7FULL) - 0x0101010101010101ULL) &
                           ~(w ^ 0x7F7F7F7F7F7F7F7FULL) & 0x8080808080808080ULL;
            if (high | low | del)
                break;
            s += 8;
        }
        if (s >= e)
            break;
        unsigned char c = *s;
        if (c < 0x80) {
            if (c == '\r') {
                if (s + 1 >= e || s[1] != '\n')
                    return fail(P, (const char *)s,
                                "carriage return not followed by a line feed (bare CR is not "
                                "a newline in TOML)");
                s += 2;
                continue;
            }
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
                return fail(P, (const char *)s, "control character U+%04X is not allowed", c);
            s++;
            continue;
        }
        uint32_t cp;
        int n;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return fail(P, (const char *)s, "invalid UTF-8 byte 0x%02X", c);
        }
        if (e - s < n)
            return fail(P, (const char *)s, "truncated UTF-8 sequence");
        for (int i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return fail(P, (const char *)s, "invalid UTF-8 sequence");
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF)
            return fail(P, (const char *)s, "overlong or out-of-range UTF-8 sequence");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return fail(P, (const char *)s, "UTF-8 encoded surrogate U+%04X", (unsigned)cp);
        s += n;
    }
    return 0;
}

/* ---- lexical helpers ---- */

static inline bool at_end(const struct parser *P)
{
    return P->p >= P->end;
}

static inline void skip_ws(struct parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t'))
        P->p++;
}

/* Is there a newline at p?  Returns its length (1 or 2) or 0. */
static inline int newline_at(const struct parser *P, const char *p)
{
    if (p < P->end && *p == '\n')
        return 1;
    if (p + 1 < P->end && p[0] == '\r' && p[1] == '\n')
        return 2;
    return 0;
}

static inline void take_newline(struct parser *P, int n)
{
    P->p += n;
    P->line++;
    P->line_start = P->p;
}

static void skip_comment(struct parser *P)
{
    /* Content was validated up front; a comment ends at the newline. */
    const char *nl = memchr(P->p, '\n', (size_t)(P->end - P->p));
    P->p = nl ? nl : P->end;
    if (P->p > P->src && P->p[-1] == '\r' && P->p < P->end)
        P->p--;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
static void skip_ws_nl_comments(struct parser *P)
{
    for (;;) {
        skip_ws(P);
        if (at_end(P))
            return;
        int n = newline_at(P, P->p);
        if (n) {
            take_newline(P, n);
            continue;
        }
        if (*P->p == '#') {
            skip_comment(P);
            continue;
        }
        return;
    }
}

/* After a key/value or a header: optional comment, then newline or EOF. */
static int end_of_line(struct parser *P, const char *what)
{
    skip_ws(P);
    if (at_end(P))
        return 0;
    if (*P->p == '#')
        skip_comment(P);
    if (at_end(P))
        return 0;
    int n = newline_at(P, P->p);
    if (!n) {
        char b[16];
        return fail(P, P->p, "expected end of line after %s, found %s", what,
                    describe(P, P->p, b, sizeof(b)));
    }
    take_newline(P, n);
    return 0;
}

static inline bool is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Characters that may end a value. */
static inline bool is_value_end(const struct parser *P, const char *p)
{
    if (p >= P->end)
        return true;
    char c = *p;
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' ||
           c == '#';
}

/* ---- strings ---- */

static void put_utf8(struct cln_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    cln_buf_append(b, u, n);
}

/* At a backslash inside a basic string; appends the decoded character. */
static int parse_escape(struct parser *P, struct cln_buf *out)
{
    const char *start = P->p;
    P->p++; /* backslash */
    if (at_end(P))
        return fail(P, start, "unterminated escape sequence");
    char c = *P->p++;
    switch (c) {
    case 'b':
        cln_buf_putc(out, '\b');
        return 0;
    case 't':
        cln_buf_putc(out, '\t');
        return 0;
    case 'n':
        cln_buf_putc(out, '\n');
        return 0;
    case 'f':
        cln_buf_putc(out, '\f');
        return 0;
    case 'r':
        cln_buf_putc(out, '\r');
        return 0;
    case '"':
        cln_buf_putc(out, '"');
        return 0;
    case '\\':
        cln_buf_putc(out, '\\');
        return 0;
    case 'u':
    case 'U': {
        int n = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 0; i < n; i++) {
            if (at_end(P))
                return fail(P, start, "\\%c needs %d hexadecimal digits", c, n);
            char h = *P->p;
            int d;
            if (h >= '0' && h <= '9')
                d = h - '0';
            else if (h >= 'a' && h <= 'f')
                d = h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
                d = h - 'A' + 10;
            else
                return fail(P, start, "\\%c needs %d hexadecimal digits", c, n);
            cp = cp * 16 + (uint32_t)d;
            P->p++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(P, start, "\\%c%0*X is not a Unicode scalar value", c, n, (unsigned)cp);
        put_utf8(out, cp);
        return 0;
    }
    default: {
        char b[16];
        return fail(P, start,
                    "invalid escape sequence \\%s (valid: \\b \\t \\n \\f \\r \\\" "
                    "\\\\ \\uXXXX \\UXXXXXXXX)",
                    describe(P, P->p - 1, b, sizeof(b)));
    }
    }
}

/* Copy the scratch buffer into the arena. */
static const char *arena_str(struct parser *P, const char *s, size_t len)
{
    char *d = cln_arena_alloc(&P->doc->arena, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Parse any string form at P->p into out (cleared first).  multiline is set
 * for triple-quoted forms; keys must not use them. */
static int parse_string(struct parser *P, struct cln_buf *out, bool *multiline)
{
    const char *start = P->p;
    char q = *P->p;
    bool ml = P->end - P->p >= 3 && P->p[1] == q && P->p[2] == q;
    cln_buf_clear(out);
    *multiline = ml;
    if (!ml) {
        P->p++;
        for (;;) {
            const char *s = P->p;
            while (P->p < P->end && *P->p != q && *P->p != '\n' && *P->p != '\r' &&
                   (q == '\'' || *P->p != '\\'))
                P->p++;
            cln_buf_append(out, s, (size_t)(P->p - s));
            if (at_end(P) || *P->p == '\n' || *P->p == '\r')
                return fail(P, start,
                            "unterminated string (a single-line string must close "
                            "on the same line)");
            if (*P->p == q) {
                P->p++;
                return 0;
            }
            int r = parse_escape(P, out);
            if (r < 0)
                return r;
        }
    }
    P->p += 3;
    /* A newline right after the opening delimiter is trimmed. */
    int n = newline_at(P, P->p);
    if (n)
        take_newline(P, n);
    for (;;) {
        const char *s = P->p;
        while (P->p < P->end && *P->p != q && *P->p != '\n' && *P->p != '\r' &&
               (q == '\'' || *P->p != '\\'))
            P->p++;
        cln_buf_append(out, s, (size_t)(P->p - s));
        if (at_end(P))
            return fail(P, start, "unterminated multi-line string");
        char c = *P->p;
        if (c == '\n' || c == '\r') {
            n = newline_at(P, P->p);
            /* input checks guarantee CR is followed by LF */
            cln_buf_append(out, P->p, (size_t)n);
            take_newline(P, n);
            continue;
        }
        if (c == q) {
            size_t run = 0;
            while (P->p + run < P->end && P->p[run] == q)
                run++;
            if (run < 3) {
                cln_buf_append(out, P->p, run);
                P->p += run;
                continue;
            }
            if (run > 5)
                return fail(P, P->p + 5, "too many quotes at the end of a multi-line string");
            cln_buf_append(out, P->p, run - 3);
            P->p += run;
            return 0;
        }
        /* backslash in a basic multi-line string */
        const char *b = P->p + 1;
        while (b < P->end && (*b == ' ' || *b == '\t'))
            b++;
        if (newline_at(P, b)) {
            /* line-ending backslash: drop all whitespace and newlines */
            P->p = b;
            for (;;) {
                skip_ws(P);
                n = newline_at(P, P->p);
                if (!n)
                    break;
                take_newline(P, n);
            }
            continue;
        }
        int r = parse_escape(P, out);
        if (r < 0)
            return r;
    }
}

/* ---- keys ---- */

/* Parse a (possibly dotted) key into P->parts. */
static int parse_key(struct parser *P)
{
    P->nparts = 0;
    cln_buf_clear(&P->keybuf);
    for (;;) {
        skip_ws(P);
        if (P->nparts == MAX_KEY_PARTS)
            return fail(P, P->p, "key has more than %d parts", MAX_KEY_PARTS);
        struct key_part *kp = &P->parts[P->nparts];
        kp->src = P->p;
        kp->off = P->keybuf.len;
        if (at_end(P))
            return unexpected(P, P->p, "a key");
        char c = *P->p;
        if (c == '"' || c == '\'') {
            bool ml;
            int r = parse_string(P, &P->strbuf, &ml);
            if (r < 0)
                return r;
            if (ml)
                return fail(P, kp->src, "a key cannot be a multi-line string");
            cln_buf_append(&P->keybuf, P->strbuf.data, P->strbuf.len);
        } else if (is_bare_key_char(c)) {
            const char *s = P->p;
            while (P->p < P->end && is_bare_key_char(*P->p))
                P->p++;
            cln_buf_append(&P->keybuf, s, (size_t)(P->p - s));
        } else {
            return unexpected(P, P->p, "a key (letters, digits, '_', '-', or a quoted string)");
        }
        kp->len = P->keybuf.len - kp->off;
        P->nparts++;
        skip_ws(P);
        if (P->p < P->end && *P->p == '.') {
            P->p++;
            continue;
        }
        return 0;
    }
}

/* Render parts[0..n) as a dotted key for messages. */
static const char *key_text(struct parser *P, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        const char *k = P->keybuf.data + P->parts[i].off;
        size_t len = P->parts[i].len;
        bool bare = len > 0;
        for (size_t j = 0; j < len; j++)
            bare = bare && is_bare_key_char(k[j]);
        int w =
            snprintf(buf + o, size - o, bare ? "%s%.*s" : "%s\"%.*s\"", i ? "." : "", (int)len, k);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (o >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
    return buf;
}

static inline const char *part_key(struct parser *P, size_t i)
{
    return P->keybuf.data + P->parts[i].off;
}

static struct cln_toml_value *new_table(struct parser *P, struct cln_toml_pos pos,
                                        enum cln_toml_origin origin)
{
    struct cln_toml_value *t = cln_toml_new_value(&P->doc->arena, CLN_TOML_TABLE, pos);
    t->origin = (uint8_t)origin;
    return t;
}

/* An error about key parts [0, upto) whose existing entry is e.  fmt has
 * two %s: the key (quoted) and the place of its first definition. */
static int redefinition(struct parser *P, size_t upto, const struct cln_toml_entry *e,
                        const char *fmt)
{
    char k[256], key[260], at[32];
    snprintf(key, sizeof(key), "\"%s\"", key_text(P, upto, k, sizeof(k)));
    snprintf(at, sizeof(at), "%u:%u", e->pos.line, e->pos.col);
    char msg[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof(msg), fmt, key, at);
#pragma GCC diagnostic pop
    return fail(P, P->parts[upto - 1].src, "%s", msg);
}

/* ---- values ---- */

static int parse_value(struct parser *P, struct cln_toml_value **ret);

static int digits2(const char *p, int *v)
{
    if (!is_digit(p[0]) || !is_digit(p[1]))
        return -1;
    *v = (p[0] - '0') * 10 + (p[1] - '0');
    return 0;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* HH:MM:SS[.frac] at p; returns the end or NULL. */
static const char *scan_time(struct parser *P, const char *p, struct cln_toml_datetime *dt,
                             const char **bad)
{
    if (P->end - p < 8 || p[2] != ':' || p[5] != ':' || digits2(p, &dt->hour) < 0 ||
        digits2(p + 3, &dt->minute) < 0 || digits2(p + 6, &dt->second) < 0) {
        *bad = "a time must be written HH:MM:SS";
        return NULL;
    }
    if (dt->hour > 23 || dt->minute > 59 || dt->second > 60) {
        *bad = "time out of range";
        return NULL;
    }
    p += 8;
    if (p < P->end && *p == '.') {
        p++;
        if (p >= P->end || !is_digit(*p)) {
            *bad = "a '.' in a time must be followed by digits";
            return NULL;
        }
        int digits = 0;
        while (p < P->end && is_digit(*p)) {
            if (digits < 9) {
                dt->nanosecond = dt->nanosecond * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        dt->frac_digits = digits;
        for (int i = digits; i < 9; i++)
            dt->nanosecond *= 10;
    }
    return p;
}

static int parse_datetime(struct parser *P, struct cln_toml_value **ret)
{
    const char *start = P->p, *p = P->p, *bad = NULL;
    struct cln_toml_datetime dt;
    memset(&dt, 0, sizeof(dt));
    enum cln_toml_type type;
    struct cln_toml_pos pos = pos_of(P, start);

    if (P->end - p >= 3 && is_digit(p[0]) && is_digit(p[1]) && p[2] == ':') {
        p = scan_time(P, p, &dt, &bad);
        if (!p)
            return fail(P, start, "invalid local time: %s", bad);
        type = CLN_TOML_TIME_LOCAL;
    } else {
        if (P->end - p < 10 || p[4] != '-' || p[7] != '-' || !is_digit(p[0]) || !is_digit(p[1]) ||
            !is_digit(p[2]) || !is_digit(p[3]) || digits2(p + 5, &dt.month) < 0 ||
            digits2(p + 8, &dt.day) < 0)
            return fail(P, start, "invalid date: a date must be written YYYY-MM-DD");
        dt.year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (dt.month < 1 || dt.month > 12)
            return fail(P, start, "invalid date: month %02d out of range", dt.month);
        int maxd = mdays[dt.month - 1] + (dt.month == 2 && is_leap(dt.year));
        if (dt.day < 1 || dt.day > maxd)
            return fail(P, start, "invalid date: day %02d out of range for %04d-%02d", dt.day,
                        dt.year, dt.month);
        p += 10;
        type = CLN_TOML_DATE_LOCAL;
        /* T, t, or a space followed by a time (otherwise the space ends the date) */
        bool has_time =
            (p < P->end && (*p == 'T' || *p == 't')) ||
            (P->end - p >= 4 && *p == ' ' && is_digit(p[1]) && is_digit(p[2]) && p[3] == ':');
        if (has_time) {
            const char *t = p + 1;
            p = scan_time(P, t, &dt, &bad);
            if (!p)
                return fail(P, t, "invalid date-time: %s", bad);
            type = CLN_TOML_DATETIME_LOCAL;
            if (p < P->end && (*p == 'Z' || *p == 'z')) {
                dt.offset_z = true;
                type = CLN_TOML_DATETIME;
                p++;
            } else if (p < P->end && (*p == '+' || *p == '-')) {
                int oh, om;
                if (P->end - p < 6 || p[3] != ':' || digits2(p + 1, &oh) < 0 ||
                    digits2(p + 4, &om) < 0)
                    return fail(P, p, "invalid time offset: must be Z or +HH:MM / -HH:MM");
                if (oh > 23 || om > 59)
                    return fail(P, p, "invalid time offset: out of range");
                dt.offset_minutes = (oh * 60 + om) * (*p == '-' ? -1 : 1);
                type = CLN_TOML_DATETIME;
                p += 6;
            }
        }
    }
    if (!is_value_end(P, p)) {
        char b[16];
        return fail(P, p, "unexpected %s after a date/time", describe(P, p, b, sizeof(b)));
    }
    P->p = p;
    struct cln_toml_value *v = cln_toml_new_value(&P->doc->arena, type, pos);
    v->u.dt = dt;
    *ret = v;
    return 0;
}

/* Digits with single underscores between them, in the given class.  Copies
 * the digits (without underscores) to out.  Returns the end, or NULL. */
static const char *scan_digits(struct parser *P, const char *p, int radix, struct cln_buf *out,
                               const char **why)
{
    const char *s = p;
    bool prev_digit = false;
    while (p < P->end) {
        char c = *p;
        bool ok;
        if (radix == 16)
            ok = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        else
            ok = c >= '0' && c < '0' + radix;
        if (ok) {
            cln_buf_putc(out, c);
            prev_digit = true;
        } else if (c == '_') {
            if (!prev_digit || p + 1 >= P->end) {
                *why = "an underscore must be between two digits";
                return NULL;
            }
            prev_digit = false;
        } else {
            break;
        }
        p++;
    }
    if (p == s) {
        *why = "expected digits";
        return NULL;
    }
    if (!prev_digit) {
        *why = "an underscore must be between two digits";
        return NULL;
    }
    return p;
}

static int parse_number(struct parser *P, struct cln_toml_value **ret)
{
    const char *start = P->p, *p = P->p, *why = NULL;
    struct cln_toml_pos pos = pos_of(P, start);
    struct cln_buf *nb = &P->strbuf;
    cln_buf_clear(nb);
    bool neg = false, has_sign = false;

    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        has_sign = true;
        cln_buf_putc(nb, *p);
        p++;
    }
    /* inf and nan */
    if (P->end - p >= 3 && (memcmp(p, "inf", 3) == 0 || memcmp(p, "nan", 3) == 0)) {
        bool inf = p[0] == 'i';
        p += 3;
        if (!is_value_end(P, p))
            return fail(P, start, "invalid value");
        struct cln_toml_value *v = cln_toml_new_value(&P->doc->arena, CLN_TOML_FLOAT, pos);
        v->u.flt = inf ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        P->p = p;
        *ret = v;
        return 0;
    }
    /* hex, octal, binary */
    if (P->end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b')) {
        int radix = p[1] == 'x' ? 16 : p[1] == 'o' ? 8 : 2;
        if (has_sign)
            return fail(P, start, "a %s integer cannot have a sign",
                        radix == 16  ? "hexadecimal"
                        : radix == 8 ? "octal"
                                     : "binary");
        const char *d = p + 2;
        cln_buf_clear(nb);
        p = scan_digits(P, d, radix, nb, &why);
        if (!p)
            return fail(P, start, "invalid integer: %s", why);
        if (!is_value_end(P, p))
            return fail(P, p, "invalid character in integer");
        uint64_t u = 0;
        for (size_t i = 0; i < nb->len; i++) {
            char c = nb->data[i];
            unsigned dv = is_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
            if (u > (uint64_t)INT64_MAX / (uint64_t)radix ||
                u * (uint64_t)radix > (uint64_t)INT64_MAX - dv)
                return fail(P, start, "integer %.*s does not fit in 64 bits", (int)(p - start),
                            start);
            u = u * (uint64_t)radix + dv;
        }
        struct cln_toml_value *v = cln_toml_new_value(&P->doc->arena, CLN_TOML_INTEGER, pos);
        v->u.integer = (int64_t)u;
        P->p = p;
        *ret = v;
        return 0;
    }
    /* decimal integer part */
    const char *ip = p;
    p = scan_digits(P, p, 10, nb, &why);
    if (!p)
        return fail(P, start, "invalid number: %s", why);
    if (ip[0] == '0' && p - ip > 1)
        return fail(P, start, "leading zeros are not allowed in a decimal number");
    bool is_float = false;
    if (p < P->end && *p == '.') {
        is_float = true;
        cln_buf_putc(nb, '.');
        p = scan_digits(P, p + 1, 10, nb, &why);
        if (!p)
            return fail(P, start, "invalid float: a '.' must have digits on both sides");
    }
    if (p < P->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        cln_buf_putc(nb, 'e');
        p++;
        if (p < P->end && (*p == '+' || *p == '-'))
            cln_buf_putc(nb, *p++);
        p = scan_digits(P, p, 10, nb, &why);
        if (!p)
            return fail(P, start, "invalid float exponent: %s", why);
    }
    if (!is_value_end(P, p)) {
        char b[16];
        return fail(P, p, "unexpected %s in a number", describe(P, p, b, sizeof(b)));
    }
    struct cln_toml_value *v;
    if (is_float) {
        char *endp = NULL;
        errno = 0;
        double d = strtod(nb->data, &endp);
        if (endp != nb->data + nb->len)
            return fail(P, start, "invalid float");
        /* ERANGE: overflow gives +-HUGE_VAL; TOML floats are IEEE 754
         * binary64, so an out-of-range literal is an error rather than inf. */
        if (errno == ERANGE && isinf(d))
            return fail(P, start, "float %.*s is out of range", (int)(p - start), start);
        v = cln_toml_new_value(&P->doc->arena, CLN_TOML_FLOAT, pos);
        v->u.flt = d;
    } else {
        uint64_t u = 0;
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (size_t i = has_sign ? 1 : 0; i < nb->len; i++) {
            unsigned dv = (unsigned)(nb->data[i] - '0');
            if (u > (limit - dv) / 10)
                return fail(P, start, "integer %.*s does not fit in 64 bits", (int)(p - start),
                            start);
            u = u * 10 + dv;
        }
        v = cln_toml_new_value(&P->doc->arena, CLN_TOML_INTEGER, pos);
        v->u.integer = neg ? (int64_t)(0 - u) : (int64_t)u;
    }
    P->p = p;
    *ret = v;
    return 0;
}

static int parse_array(struct parser *P, struct cln_toml_value **ret)
{
    const char *start = P->p;
    struct cln_toml_value *arr =
        cln_toml_new_value(&P->doc->arena, CLN_TOML_ARRAY, pos_of(P, start));
    arr->origin = CLN_TOML_ORIGIN_VALUE;
    P->p++;
    for (;;) {
        skip_ws_nl_comments(P);
        if (at_end(P))
            return fail(P, start, "unterminated array (missing ']')");
        if (*P->p == ']') {
            P->p++;
            break;
        }
        struct cln_toml_value *item = NULL;
        int r = parse_value(P, &item);
        if (r < 0)
            return r;
        cln_toml_array_push(&P->doc->arena, arr, item);
        skip_ws_nl_comments(P);
        if (at_end(P))
            return fail(P, start, "unterminated array (missing ']')");
        if (*P->p == ',') {
            P->p++;
            continue;
        }
        if (*P->p == ']') {
            P->p++;
            break;
        }
        return unexpected(P, P->p, "',' or ']' in array");
    }
    *ret = arr;
    return 0;
}

static int insert_keyval(struct parser *P, struct cln_toml_value *table);

static int parse_inline_table(struct parser *P, struct cln_toml_value **ret)
{
    const char *start = P->p;
    struct cln_toml_value *t = new_table(P, pos_of(P, start), CLN_TOML_ORIGIN_DOTTED);
    P->p++;
    skip_ws(P);
    if (P->p < P->end && *P->p == '}') {
        P->p++;
    } else {
        for (;;) {
            skip_ws(P);
            if (at_end(P) || newline_at(P, P->p))
                return fail(P, P->p,
                            "unterminated inline table (an inline table must close "
                            "on the same line)");
            int r = insert_keyval(P, t);
            if (r < 0)
                return r;
            skip_ws(P);
            if (at_end(P) || newline_at(P, P->p))
                return fail(P, P->p,
                            "unterminated inline table (an inline table must close "
                            "on the same line)");
            if (*P->p == ',') {
                P->p++;
                skip_ws(P);
                if (P->p < P->end && *P->p == '}')
                    return fail(P, P->p, "trailing comma is not allowed in an inline table");
                continue;
            }
            if (*P->p == '}') {
                P->p++;
                break;
            }
            return unexpected(P, P->p, "',' or '}' in inline table");
        }
    }
    t->origin = CLN_TOML_ORIGIN_INLINE;
    *ret = t;
    return 0;
}

static int parse_value(struct parser *P, struct cln_toml_value **ret)
{
    if (at_end(P) || newline_at(P, P->p))
        return unexpected(P, P->p, "a value");
    char c = *P->p;
    const char *start = P->p;
    switch (c) {
    case '"':
    case '\'': {
        struct cln_toml_pos pos = pos_of(P, start);
        bool ml;
        int r = parse_string(P, &P->strbuf, &ml);
        if (r < 0)
            return r;
        struct cln_toml_value *v = cln_toml_new_value(&P->doc->arena, CLN_TOML_STRING, pos);
        v->u.str.ptr = arena_str(P, P->strbuf.data ? P->strbuf.data : "", P->strbuf.len);
        v->u.str.len = P->strbuf.len;
        *ret = v;
        return 0;
    }
    case 't':
    case 'f': {
        size_t n = c == 't' ? 4 : 5;
        if ((size_t)(P->end - P->p) < n || memcmp(P->p, c == 't' ? "true" : "false", n) != 0 ||
            !is_value_end(P, P->p + n))
            return fail(P, start,
                        "invalid value (booleans are true and false, in lower case; "
                        "strings need quotes)");
        struct cln_toml_value *v =
            cln_toml_new_value(&P->doc->arena, CLN_TOML_BOOL, pos_of(P, start));
        v->u.boolean = c == 't';
        P->p += n;
        *ret = v;
        return 0;
    }
    case '[':
    case '{': {
        if (++P->depth > MAX_DEPTH)
            return fail(P, start, "arrays and inline tables nested deeper than %d", MAX_DEPTH);
        int r = c == '[' ? parse_array(P, ret) : parse_inline_table(P, ret);
        P->depth--;
        return r;
    }
    default:
        break;
    }
    if (is_digit(c)) {
        /* A date starts with 4 digits and '-', a time with 2 digits and ':'. */
        const char *q = P->p;
        while (q < P->end && is_digit(*q))
            q++;
        size_t nd = (size_t)(q - P->p);
        if (q < P->end && ((nd == 4 && *q == '-') || (nd == 2 && *q == ':')))
            return parse_datetime(P, ret);
        return parse_number(P, ret);
    }
    if (c == '+' || c == '-' || c == 'i' || c == 'n')
        return parse_number(P, ret);
    char b[16];
    return fail(P, start, "expected a value, found %s (strings need quotes)",
                describe(P, start, b, sizeof(b)));
}

/* ---- structure ---- */

/* key = value into table, with dotted keys creating sub-tables. */
static int insert_keyval(struct parser *P, struct cln_toml_value *table)
{
    int r = parse_key(P);
    if (r < 0)
        return r;
    struct cln_arena *A = &P->doc->arena;
    struct cln_toml_value *t = table;
    for (size_t i = 0; i + 1 < P->nparts; i++) {
        const struct cln_toml_entry *e = cln_toml_table_findn(t, part_key(P, i), P->parts[i].len);
        if (!e) {
            struct cln_toml_pos pos = pos_of(P, P->parts[i].src);
            struct cln_toml_value *sub = new_table(P, pos, CLN_TOML_ORIGIN_DOTTED);
            cln_toml_table_add(A, t, part_key(P, i), P->parts[i].len, pos, sub);
            t = sub;
            continue;
        }
        struct cln_toml_value *v = e->value;
        if (v->type != CLN_TOML_TABLE)
            return redefinition(P, i + 1, e,
                                "cannot add keys to %s: it is not a table (defined at %s)");
        if (v->origin == CLN_TOML_ORIGIN_INLINE)
            return redefinition(P, i + 1, e,
                                "cannot add keys to inline table %s (defined at %s): an inline "
                                "table is complete once closed");
        if (v->origin != CLN_TOML_ORIGIN_DOTTED)
            return redefinition(P, i + 1, e,
                                "cannot add keys to table %s with dotted keys here: it was "
                                "defined by a table header (at %s)");
        t = v;
    }
    size_t last = P->nparts - 1;
    const struct cln_toml_entry *dup =
        cln_toml_table_findn(t, part_key(P, last), P->parts[last].len);
    if (dup)
        return redefinition(P, P->nparts, dup, "duplicate key %s (first defined at %s)");
    /* Keep what we need of the key: parsing the value may reuse keybuf. */
    struct cln_toml_pos kpos = pos_of(P, P->parts[last].src);
    size_t klen = P->parts[last].len;
    char *key = cln_arena_alloc(A, klen + 1);
    memcpy(key, part_key(P, last), klen);
    key[klen] = '\0';

    skip_ws(P);
    if (at_end(P) || *P->p != '=') {
        char b[16];
        return fail(P, P->p, "expected '=' after key, found %s", describe(P, P->p, b, sizeof(b)));
    }
    P->p++;
    skip_ws(P);
    struct cln_toml_value *v = NULL;
    r = parse_value(P, &v);
    if (r < 0)
        return r;
    cln_toml_table_add(A, t, key, klen, kpos, v);
    return 0;
}

/* [header] or [[header]]. */
static int parse_header(struct parser *P)
{
    const char *start = P->p;
    bool aot = P->end - P->p >= 2 && P->p[1] == '[';
    P->p += aot ? 2 : 1;
    int r = parse_key(P);
    if (r < 0)
        return r;
    if (aot) {
        if (P->end - P->p < 2 || P->p[0] != ']' || P->p[1] != ']')
            return unexpected(P, P->p, "']]' to close the array-of-tables header");
        P->p += 2;
    } else {
        if (at_end(P) || *P->p != ']')
            return unexpected(P, P->p, "']' to close the table header");
        P->p++;
    }
    struct cln_arena *A = &P->doc->arena;
    struct cln_toml_pos hpos = pos_of(P, start);
    struct cln_toml_value *t = P->doc->root;
    for (size_t i = 0; i + 1 < P->nparts; i++) {
        const struct cln_toml_entry *e = cln_toml_table_findn(t, part_key(P, i), P->parts[i].len);
        if (!e) {
            struct cln_toml_pos pos = pos_of(P, P->parts[i].src);
            struct cln_toml_value *sub = new_table(P, pos, CLN_TOML_ORIGIN_IMPLICIT);
            cln_toml_table_add(A, t, part_key(P, i), P->parts[i].len, pos, sub);
            t = sub;
            continue;
        }
        struct cln_toml_value *v = e->value;
        if (v->type == CLN_TOML_ARRAY && v->origin == CLN_TOML_ORIGIN_AOT) {
            t = v->u.arr.items[v->u.arr.len - 1];
            continue;
        }
        if (v->type != CLN_TOML_TABLE)
            return redefinition(
                P, i + 1, e, "cannot define a table under %s: it is not a table (defined at %s)");
        if (v->origin == CLN_TOML_ORIGIN_INLINE)
            return redefinition(P, i + 1, e, "cannot extend inline table %s (defined at %s)");
        t = v;
    }
    size_t last = P->nparts - 1;
    const char *k = part_key(P, last);
    size_t klen = P->parts[last].len;
    const struct cln_toml_entry *e = cln_toml_table_findn(t, k, klen);
    if (aot) {
        struct cln_toml_value *arr;
        if (!e) {
            arr = cln_toml_new_value(A, CLN_TOML_ARRAY, hpos);
            arr->origin = CLN_TOML_ORIGIN_AOT;
            cln_toml_table_add(A, t, k, klen, pos_of(P, P->parts[last].src), arr);
        } else {
            arr = e->value;
            if (arr->type != CLN_TOML_ARRAY || arr->origin != CLN_TOML_ORIGIN_AOT)
                return redefinition(P, P->nparts, e,
                                    arr->type == CLN_TOML_ARRAY
                                        ? "cannot append to %s with [[...]]: it is an array "
                                          "value (defined at %s)"
                                        : "array of tables %s conflicts with the key defined "
                                          "at %s");
        }
        struct cln_toml_value *elem = new_table(P, hpos, CLN_TOML_ORIGIN_AOT);
        cln_toml_array_push(A, arr, elem);
        P->cur = elem;
    } else if (!e) {
        struct cln_toml_value *sub = new_table(P, hpos, CLN_TOML_ORIGIN_HEADER);
        cln_toml_table_add(A, t, k, klen, pos_of(P, P->parts[last].src), sub);
        P->cur = sub;
    } else {
        struct cln_toml_value *v = e->value;
        if (v->type != CLN_TOML_TABLE)
            return redefinition(P, P->nparts, e,
                                v->type == CLN_TOML_ARRAY && v->origin == CLN_TOML_ORIGIN_AOT
                                    ? "table %s conflicts with the array of tables "
                                      "defined at %s"
                                    : "table %s conflicts with the value defined at %s");
        if (v->origin != CLN_TOML_ORIGIN_IMPLICIT)
            return redefinition(P, P->nparts, e,
                                v->origin == CLN_TOML_ORIGIN_HEADER
                                    ? "duplicate table %s (first defined at %s)"
                                : v->origin == CLN_TOML_ORIGIN_DOTTED
                                    ? "cannot define table %s with a header: dotted keys "
                                      "already defined it (at %s)"
                                : v->origin == CLN_TOML_ORIGIN_INLINE
                                    ? "cannot define table %s with a header: it is an "
                                      "inline table (defined at %s)"
                                    : "cannot redefine table %s (defined at %s)");
        v->origin = CLN_TOML_ORIGIN_HEADER;
        v->pos = hpos;
        P->cur = v;
    }
    return end_of_line(P, aot ? "array-of-tables header" : "table header");
}

static int parse_document(struct parser *P)
{
    for (;;) {
        skip_ws(P);
        if (at_end(P))
            return 0;
        int n = newline_at(P, P->p);
        if (n) {
            take_newline(P, n);
            continue;
        }
        int r;
        switch (*P->p) {
        case '#':
            skip_comment(P);
            continue;
        case '[':
            r = parse_header(P);
            break;
        default:
            r = insert_keyval(P, P->cur);
            if (r == 0)
                r = end_of_line(P, "value");
            break;
        }
        if (r < 0)
            return r;
    }
}

int cln_toml_parse(const char *data, size_t len, const char *name, struct cln_toml_doc **ret_doc,
                   struct cln_error **err)
{
    struct cln_toml_doc *doc = cln_xcalloc(1, sizeof(*doc));
    doc->name = cln_xstrdup(name ? name : "<input>");
    struct parser P = {
        .src = data,
        .p = data,
        .end = data + len,
        .line_start = data,
        .line = 1,
        .doc = doc,
        .err = err,
    };
    struct cln_toml_pos origin = {1, 1};
    doc->root = new_table(&P, origin, CLN_TOML_ORIGIN_ROOT);
    P.cur = doc->root;

    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        P.p += 3;
        P.line_start = P.p;
    }
    int r = check_input(&P);
    if (r == 0)
        r = parse_document(&P);
    cln_buf_done(&P.keybuf);
    cln_buf_done(&P.strbuf);
    if (r < 0) {
        cln_toml_free(doc);
        return r;
    }
    *ret_doc = doc;
    return 0;
}

int cln_toml_parse_file(const char *path, struct cln_toml_doc **ret_doc, struct cln_error **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "cannot open %s", path);
    struct cln_buf b = CLN_BUF_INIT;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cln_buf_reserve(&b, (size_t)st.st_size);
    for (;;) {
        cln_buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            cln_buf_done(&b);
            return cln_error_set(err, CLN_E_IO, e, "cannot read %s", path);
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    int r = cln_toml_parse(b.data ? b.data : "", b.len, path, ret_doc, err);
    cln_buf_done(&b);
    return r;
}
