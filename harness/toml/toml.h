/* A TOML 1.0.0 parser that keeps source positions.
 *
 * The whole document is parsed into a tree owned by a cln_toml_doc; every
 * value and every key carries the line and column where it was written, so
 * that later stages (the spec loader) can report "file:line:col".  Tables
 * keep their keys in the order they were first defined.
 *
 * The tree is read-only for callers: use the accessors below, or read the
 * structs directly (the layout is part of the API). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cln_error;

enum cln_toml_type {
    CLN_TOML_STRING = 1,
    CLN_TOML_INTEGER,
    CLN_TOML_FLOAT,
    CLN_TOML_BOOL,
    CLN_TOML_DATETIME,       /* offset date-time */
    CLN_TOML_DATETIME_LOCAL, /* local date-time */
    CLN_TOML_DATE_LOCAL,
    CLN_TOML_TIME_LOCAL,
    CLN_TOML_ARRAY,
    CLN_TOML_TABLE,
};

/* 1-based; col counts characters (UTF-8 code points), not bytes. */
struct cln_toml_pos {
    uint32_t line;
    uint32_t col;
};

struct cln_toml_datetime {
    int year, month, day;     /* unset (0) for a local time */
    int hour, minute, second; /* unset (0) for a local date */
    int nanosecond;           /* fraction of a second, truncated to ns */
    int frac_digits;          /* digits written after '.', 0 if none (at most 9 kept) */
    int offset_minutes;       /* offset date-times only; east of UTC */
    bool offset_z;            /* written as Z (offset_minutes is 0) */
};

struct cln_toml_value;

struct cln_toml_entry {
    const char *key; /* decoded; may contain NUL bytes: use keylen */
    size_t keylen;
    struct cln_toml_pos pos; /* where the key was written (or implied) */
    struct cln_toml_value *value;
};

/* How a table came to be; decides which redefinitions TOML allows. */
enum cln_toml_origin {
    CLN_TOML_ORIGIN_IMPLICIT = 0, /* parent of a [header] */
    CLN_TOML_ORIGIN_HEADER,       /* defined by [header] */
    CLN_TOML_ORIGIN_DOTTED,       /* created by a dotted key */
    CLN_TOML_ORIGIN_INLINE,       /* { inline } table: frozen */
    CLN_TOML_ORIGIN_AOT,          /* element of [[array of tables]], or that array */
    CLN_TOML_ORIGIN_ROOT,
    CLN_TOML_ORIGIN_VALUE, /* an array literal [ ... ] */
};

struct cln_toml_value {
    enum cln_toml_type type;
    uint8_t origin; /* enum cln_toml_origin, for tables and arrays */
    struct cln_toml_pos pos;
    union {
        struct {
            const char *ptr; /* NUL-terminated, but may contain NUL: use len */
            size_t len;
        } str;
        int64_t integer;
        double flt;
        bool boolean;
        struct cln_toml_datetime dt;
        struct {
            struct cln_toml_value **items;
            size_t len, cap;
        } arr;
        struct {
            struct cln_toml_entry *items;
            size_t len, cap;
            uint32_t *index; /* open-addressing hash of item numbers + 1, or NULL */
            size_t index_cap;
        } tab;
    } u;
};

struct cln_toml_doc;

/* Parse len bytes of data.  name is used in error messages and kept by the
 * document (e.g. the file name).  On error *err reads
 * "NAME:LINE:COL: what went wrong". */
int cln_toml_parse(const char *data, size_t len, const char *name, struct cln_toml_doc **ret_doc,
                   struct cln_error **err);
int cln_toml_parse_file(const char *path, struct cln_toml_doc **ret_doc, struct cln_error **err);
void cln_toml_free(struct cln_toml_doc *doc); /* NULL-safe */

const struct cln_toml_value *cln_toml_root(const struct cln_toml_doc *doc);
const char *cln_toml_name(const struct cln_toml_doc *doc);

/* Human-readable type name: "string", "integer", "offset date-time", ... */
const char *cln_toml_type_name(enum cln_toml_type type);

/* --- Navigation (no errors; NULL or 0 for a wrong type or a missing key) --- */
size_t cln_toml_table_len(const struct cln_toml_value *table);
const struct cln_toml_entry *cln_toml_table_at(const struct cln_toml_value *table, size_t i);
const struct cln_toml_entry *cln_toml_table_find(const struct cln_toml_value *table,
                                                 const char *key);
const struct cln_toml_entry *cln_toml_table_findn(const struct cln_toml_value *table,
                                                  const char *key, size_t keylen);
size_t cln_toml_array_len(const struct cln_toml_value *array);
const struct cln_toml_value *cln_toml_array_at(const struct cln_toml_value *array, size_t i);

/* --- Typed getters ---
 * cln_toml_get_X(doc, table, key, &out, err): 1 when the key is there with
 * the right type (out is set), 0 when the key is absent (out untouched), and
 * negative with "NAME:L:C: "key" must be a X, not a Y" when it has another
 * type.  cln_toml_as_X() does the same for a value already in hand (array
 * items); what names the value in the message. */
int cln_toml_get_string(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                        const char *key, const char **ret, struct cln_error **err);
int cln_toml_get_integer(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                         const char *key, int64_t *ret, struct cln_error **err);
int cln_toml_get_float(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, double *ret, struct cln_error **err);
int cln_toml_get_bool(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                      const char *key, bool *ret, struct cln_error **err);
int cln_toml_get_table(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, const struct cln_toml_value **ret, struct cln_error **err);
int cln_toml_get_array(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, const struct cln_toml_value **ret, struct cln_error **err);
int cln_toml_as_string(const struct cln_toml_doc *doc, const struct cln_toml_value *v,
                       const char *what, const char **ret, struct cln_error **err);
int cln_toml_as_integer(const struct cln_toml_doc *doc, const struct cln_toml_value *v,
                        const char *what, int64_t *ret, struct cln_error **err);

/* Make an error "NAME:L:C: message" for a position in doc.  Returns -CLN_E_SPEC
 * (the caller decides what the position means). */
int cln_toml_error_at(const struct cln_toml_doc *doc, struct cln_toml_pos pos,
                      struct cln_error **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
