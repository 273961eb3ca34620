/* Shared between the TOML parser and the tree code; not for other callers. */
#pragma once

#include "toml.h"

/* A bump allocator: the tree lives in a few large chunks and is freed at once. */
struct cln_arena_chunk;
struct cln_arena {
    struct cln_arena_chunk *head;
    char *ptr, *end;
};

void *cln_arena_alloc(struct cln_arena *a, size_t n);
/* Grow the most recent or any earlier allocation: returns a block of new_n
 * bytes holding the old contents. */
void *cln_arena_grow(struct cln_arena *a, void *old, size_t old_n, size_t new_n);
void cln_arena_done(struct cln_arena *a);

struct cln_toml_doc {
    struct cln_arena arena;
    struct cln_toml_value *root;
    char *name;
};

struct cln_toml_value *cln_toml_new_value(struct cln_arena *a, enum cln_toml_type type,
                                          struct cln_toml_pos pos);
/* Append key -> value to a table (the key must not be there yet); the key
 * bytes are copied into the arena. */
struct cln_toml_entry *cln_toml_table_add(struct cln_arena *a, struct cln_toml_value *table,
                                          const char *key, size_t keylen, struct cln_toml_pos pos,
                                          struct cln_toml_value *value);
void cln_toml_array_push(struct cln_arena *a, struct cln_toml_value *array,
                         struct cln_toml_value *value);
