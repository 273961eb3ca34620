/* The shape of a spec as data: every table, every key, the types each key
 * takes, and a line saying what it is (docs/spec.md has the full text).
 *
 * The loader first walks a document against it, collecting every unknown
 * key and every value of a wrong type in the file (not just the first), each
 * with file:line:col; only a document that passes is then loaded (which
 * checks what types cannot: references, ranges, cycles). */
#pragma once

#include <stddef.h>

struct cln_error;
struct cln_toml_doc;

enum cln_schema_type {
    CLN_SCHEMA_STRING = 1u << 0,
    CLN_SCHEMA_INTEGER = 1u << 1,
    CLN_SCHEMA_FLOAT = 1u << 2,
    CLN_SCHEMA_BOOL = 1u << 3,
    CLN_SCHEMA_ARRAY = 1u << 4,
    CLN_SCHEMA_TABLE = 1u << 5,
    CLN_SCHEMA_DATETIME = 1u << 6, /* dates and times */
};

struct cln_schema_key;

struct cln_schema_table {
    const struct cln_schema_key *keys; /* NULL: a map, every value is `value` */
    size_t nkeys;
    /* a map's values; with keys, the values of every other key (a map
     * with reserved keys, as [matrix]); NULL with keys NULL: anything */
    const struct cln_schema_key *value;
};

struct cln_schema_key {
    const char *name;
    unsigned types; /* enum cln_schema_type bits */
    /* "a duration string such as \"5s\"": how a type error describes what
     * is wanted; NULL: from types */
    const char *wanted;
    const struct cln_schema_table *table; /* when a table: its shape */
    unsigned items;                       /* when an array: its items' types (0: any) */
    const char *items_wanted;
    const struct cln_schema_table *item_table; /* items that are tables: their shape */
    const char *doc;                           /* what it is, one line */
};

/* The root of a spec. */
extern const struct cln_schema_table cln_spec_schema;

/* Every unknown key and wrongly typed value of doc, as errors chained in
 * *err (newest outermost: the first error of the file innermost), at most
 * max of them.  Returns how many. */
size_t cln_spec_schema_check(const struct cln_toml_doc *doc, size_t max, struct cln_error **err);
