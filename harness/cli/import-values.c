/* `cleanrun import clnrm`'s building blocks (import.h): the notes (errors,
 * and warnings that leave a comment in the output), the paths and type
 * checks of clnrm's values, and clnrm's strings as cleanrun reads them:
 * {{ NAME }} of a [vars] entry as ${NAME}, '$' doubled where cleanrun would
 * read "${" or "$$"; and durations as cleanrun writes them. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "import.h"
#include "toml-writer.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

/* ---- notes ---- */

static void add_note(struct cln_import *I, struct cln_toml_pos pos, bool error, char *text)
{
    I->notes = cln_xgrow(I->notes, &I->capnotes, I->nnotes + 1, sizeof(*I->notes));
    I->notes[I->nnotes] = (struct cln_import_note){pos, I->nnotes, error, text};
    I->nnotes++;
    if (error)
        I->nerrors++;
    else
        I->nwarnings++;
}

void cln_import_err_at(struct cln_import *I, struct cln_toml_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_note(I, pos, true, cln_xvasprintf(fmt, ap));
    va_end(ap);
}

void cln_import_note(struct cln_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *text = cln_xvasprintf(fmt, ap);
    va_end(ap);
    cln_toml_put_comment(b, NOTE, text);
}

/* KEY (at pos) is not converted: a warning, and a comment in b. */
void cln_import_lost(struct cln_import *I, struct cln_buf *b, struct cln_toml_pos pos,
                     const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *why = cln_xvasprintf(fmt, ap);
    va_end(ap);
    char *text = cln_xasprintf("%s: not converted (%s)", key, why);
    cln_toml_put_comment(b, LOSS, text);
    add_note(I, pos, false, text);
}

/* ---- reading clnrm's values ---- */

bool cln_import_key_is(te *e, const char *k)
{
    return e->keylen == strlen(k) && memcmp(e->key, k, e->keylen) == 0;
}

/* A key's path in messages ("services.db.image", "steps[2].command"): cut
 * if it is very long. */
void cln_import_pathf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

te **cln_import_slot_of(te *e, const struct cln_import_slot *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cln_import_key_is(e, s[i].key))
            return s[i].at;
    return NULL;
}

/* "a.b" for messages: a key with a NUL or a dot is quoted. */
void cln_import_path_of(char *out, size_t size, const char *parent, te *e)
{
    bool plain = cln_toml_bare_key(e->key, e->keylen);
    cln_import_pathf(out, size, "%s%s%s%.*s%s", parent, *parent ? "." : "", plain ? "" : "\"",
                     (int)strnlen(e->key, e->keylen), e->key, plain ? "" : "\"");
}

static const char *article(enum cln_toml_type t)
{
    return t == CLN_TOML_INTEGER || t == CLN_TOML_ARRAY || t == CLN_TOML_DATETIME ? "an" : "a";
}

bool cln_import_want_type(struct cln_import *I, tv *v, enum cln_toml_type t, const char *what,
                          const char *path)
{
    if (v->type == t)
        return true;
    cln_import_err_at(I, v->pos, "%s must be %s, not %s %s", path, what, article(v->type),
                      cln_toml_type_name(v->type));
    return false;
}

bool cln_import_want_strings(struct cln_import *I, tv *v, const char *path)
{
    if (!cln_import_want_type(I, v, CLN_TOML_ARRAY, "an array of strings", path))
        return false;
    for (size_t i = 0; i < cln_toml_array_len(v); i++) {
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "%s[%zu]", path, i);
        if (!cln_import_want_type(I, cln_toml_array_at(v, i), CLN_TOML_STRING, "a string", w))
            return false;
    }
    return true;
}

bool cln_import_want_string_table(struct cln_import *I, tv *v, const char *path)
{
    if (!cln_import_want_type(I, v, CLN_TOML_TABLE, "a table of strings", path))
        return false;
    for (size_t i = 0; i < cln_toml_table_len(v); i++) {
        te *e = cln_toml_table_at(v, i);
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, e);
        if (!cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", w))
            return false;
    }
    return true;
}

/* ---- strings: clnrm's templates, cleanrun's ${...} ---- */

static bool ident(const char *s, size_t n)
{
    if (!n || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

const char *cln_import_find2(const char *s, size_t len, char a, char b)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == a && s[i + 1] == b)
            return s + i;
    return NULL;
}

/* The text of a clnrm string as cleanrun should read it: {{ NAME }} (or
 * {{ vars.NAME }}) of a converted [vars] entry becomes ${NAME}; a '$' that
 * cleanrun would take for the start of ${...} or $$ is doubled.  Any other
 * template expression stays as it is, reported into b.  NULL (an error
 * said) for a NUL character. */
char *cln_import_conv_text(struct cln_import *I, struct cln_buf *b, const char *s, size_t len,
                           struct cln_toml_pos pos, const char *path)
{
    if (memchr(s, '\0', len)) {
        cln_import_err_at(I, pos, "%s contains a NUL character (a cleanrun string cannot)", path);
        return NULL;
    }
    struct cln_buf out = CLN_BUF_INIT;
    bool reported = false;
    for (size_t i = 0; i < len;) {
        if (s[i] == '{' && i + 1 < len && (s[i + 1] == '{' || s[i + 1] == '%')) {
            const char *end =
                cln_import_find2(s + i + 2, len - i - 2, s[i + 1] == '{' ? '}' : '%', '}');
            size_t n = end ? (size_t)(end - (s + i)) + 2 : len - i;
            const char *in = s + i + 2;
            size_t inlen = end ? (size_t)(end - in) : 0;
            while (inlen && (*in == ' ' || *in == '\t')) {
                in++;
                inlen--;
            }
            while (inlen && (in[inlen - 1] == ' ' || in[inlen - 1] == '\t'))
                inlen--;
            if (inlen > 5 && memcmp(in, "vars.", 5) == 0) {
                in += 5;
                inlen -= 5;
            }
            cleanup_free char *name = cln_xstrndup(in, inlen);
            if (s[i + 1] == '{' && end && ident(in, inlen) && cln_strv_contains(&I->vars, name)) {
                cln_buf_printf(&out, "${%s}", name);
                i += n;
                continue;
            }
            if (!reported)
                cln_import_lost(
                    I, b, pos, path,
                    "%.*s: a template expression of clnrm's (Tera); only {{ NAME }} of a "
                    "[vars] entry becomes ${NAME}",
                    (int)(n > 60 ? 60 : n), s + i);
            reported = true;
            cln_buf_append(&out, s + i, n);
            i += n;
            continue;
        }
        if (s[i] == '$' && i + 1 < len && (s[i + 1] == '$' || s[i + 1] == '{'))
            cln_buf_putc(&out, '$');
        cln_buf_putc(&out, s[i]);
        i++;
    }
    if (!out.data)
        cln_buf_puts(&out, "");
    return cln_buf_steal(&out);
}

/* The converted string, quoted, into kb (what was lost of it into nb); false
 * for an error. */
bool cln_import_put_conv(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *v,
                         const char *path)
{
    cleanup_free char *s = cln_import_conv_text(I, nb, v->u.str.ptr, v->u.str.len, v->pos, path);
    if (!s)
        return false;
    cln_toml_put_cstr(kb, s);
    return true;
}

void cln_import_put_conv_array(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *a,
                               size_t from, const char *path)
{
    cln_buf_putc(kb, '[');
    for (size_t i = from; i < cln_toml_array_len(a); i++) {
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "%s[%zu]", path, i);
        if (i > from)
            cln_buf_puts(kb, ", ");
        cln_import_put_conv(I, kb, nb, cln_toml_array_at(a, i), w);
    }
    cln_buf_putc(kb, ']');
}

/* env = { K = "v", ... } of a table of strings already checked. */
void cln_import_put_env(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *t,
                        const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < cln_toml_table_len(t); i++) {
        te *e = cln_toml_table_at(t, i);
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, e);
        if (!e->keylen || memchr(e->key, '=', e->keylen) || memchr(e->key, '\0', e->keylen)) {
            cln_import_lost(I, nb, e->pos, w, "not an environment variable name");
            continue;
        }
        cln_buf_puts(kb, n++ ? ", " : "env = { ");
        cln_toml_put_key(kb, e->key, e->keylen);
        cln_buf_puts(kb, " = ");
        cln_import_put_conv(I, kb, nb, e->value, w);
    }
    if (n)
        cln_buf_puts(kb, " }\n");
}

/* ---- durations ---- */

void cln_import_put_duration(struct cln_buf *kb, const char *key, uint64_t ms)
{
    char d[64];
    cln_buf_printf(kb, "%s = \"%s\"", key, cln_duration_format_limit(ms, d, sizeof(d)));
}
