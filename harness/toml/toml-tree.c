/* The TOML tree: arena, tables with a hash index, arrays, getters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "toml-internal.h"

/* ---- arena ---- */

struct cln_arena_chunk {
    struct cln_arena_chunk *next;
    max_align_t data[];
};

#define ARENA_CHUNK ((size_t)256 * 1024)

void *cln_arena_alloc(struct cln_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->ptr) < n) {
        size_t size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        struct cln_arena_chunk *c = cln_xmalloc(sizeof(*c) + size);
        if (n > ARENA_CHUNK / 4 && a->head) {
            /* A large block gets a chunk of its own, kept behind the
             * current one so the bump space is not wasted. */
            c->next = a->head->next;
            a->head->next = c;
            return c->data;
        }
        c->next = a->head;
        a->head = c;
        a->ptr = (char *)c->data;
        a->end = a->ptr + size;
    }
    void *p = a->ptr;
    a->ptr += n;
    return p;
}

void *cln_arena_grow(struct cln_arena *a, void *old, size_t old_n, size_t new_n)
{
    size_t old_r = (old_n + 15) & ~(size_t)15;
    size_t new_r = (new_n + 15) & ~(size_t)15;
    if (old && (char *)old + old_r == a->ptr && (size_t)(a->end - (char *)old) >= new_r) {
        a->ptr = (char *)old + new_r;
        return old;
    }
    void *p = cln_arena_alloc(a, new_n);
    if (old && old_n)
        memcpy(p, old, old_n);
    return p;
}

void cln_arena_done(struct cln_arena *a)
{
    struct cln_arena_chunk *c = a->head;
    while (c) {
        struct cln_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->ptr = a->end = NULL;
}

/* ---- values ---- */

struct cln_toml_value *cln_toml_new_value(struct cln_arena *a, enum cln_toml_type type,
                                          struct cln_toml_pos pos)
{
    struct cln_toml_value *v = cln_arena_alloc(a, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = type;
    v->pos = pos;
    return v;
}

/* FNV-1a: fast and good enough for short keys. */
static uint32_t hash_key(const char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

#define INDEX_MIN 8 /* below this many keys a linear scan is faster */

static void index_insert(uint32_t *index, size_t cap, const struct cln_toml_entry *e, uint32_t i)
{
    size_t mask = cap - 1;
    size_t slot = hash_key(e->key, e->keylen) & mask;
    while (index[slot])
        slot = (slot + 1) & mask;
    index[slot] = i + 1;
}

static void index_rebuild(struct cln_arena *a, struct cln_toml_value *t)
{
    size_t cap = 16;
    while (cap < t->u.tab.len * 2)
        cap *= 2;
    uint32_t *index = cln_arena_alloc(a, cap * sizeof(*index));
    memset(index, 0, cap * sizeof(*index));
    for (size_t i = 0; i < t->u.tab.len; i++)
        index_insert(index, cap, &t->u.tab.items[i], (uint32_t)i);
    t->u.tab.index = index;
    t->u.tab.index_cap = cap;
}

struct cln_toml_entry *cln_toml_table_add(struct cln_arena *a, struct cln_toml_value *t,
                                          const char *key, size_t keylen, struct cln_toml_pos pos,
                                          struct cln_toml_value *value)
{
    if (t->u.tab.len == t->u.tab.cap) {
        size_t ncap = t->u.tab.cap ? t->u.tab.cap * 2 : 4;
        t->u.tab.items =
            cln_arena_grow(a, t->u.tab.items, t->u.tab.cap * sizeof(struct cln_toml_entry),
                           ncap * sizeof(struct cln_toml_entry));
        t->u.tab.cap = ncap;
    }
    char *k = cln_arena_alloc(a, keylen + 1);
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    size_t i = t->u.tab.len++;
    struct cln_toml_entry *e = &t->u.tab.items[i];
    e->key = k;
    e->keylen = keylen;
    e->pos = pos;
    e->value = value;
    if (t->u.tab.len >= INDEX_MIN) {
        if (!t->u.tab.index || t->u.tab.len * 2 > t->u.tab.index_cap)
            index_rebuild(a, t);
        else
            index_insert(t->u.tab.index, t->u.tab.index_cap, e, (uint32_t)i);
    }
    return e;
}

void cln_toml_array_push(struct cln_arena *a, struct cln_toml_value *arr, struct cln_toml_value *v)
{
    if (arr->u.arr.len == arr->u.arr.cap) {
        /* The items are pointers: the element size is a pointer's. */
        const size_t elem =
            sizeof(struct cln_toml_value *); /* NOLINT(bugprone-sizeof-expression) */
        size_t ncap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 4;
        arr->u.arr.items = cln_arena_grow(a, arr->u.arr.items, arr->u.arr.cap * elem, ncap * elem);
        arr->u.arr.cap = ncap;
    }
    arr->u.arr.items[arr->u.arr.len++] = v;
}

const struct cln_toml_entry *cln_toml_table_findn(const struct cln_toml_value *t, const char *key,
                                                  size_t keylen)
{
    if (!t || t->type != CLN_TOML_TABLE)
        return NULL;
    if (t->u.tab.index) {
        size_t mask = t->u.tab.index_cap - 1;
        size_t slot = hash_key(key, keylen) & mask;
        uint32_t i;
        while ((i = t->u.tab.index[slot]) != 0) {
            const struct cln_toml_entry *e = &t->u.tab.items[i - 1];
            if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
                return e;
            slot = (slot + 1) & mask;
        }
        return NULL;
    }
    for (size_t i = 0; i < t->u.tab.len; i++) {
        const struct cln_toml_entry *e = &t->u.tab.items[i];
        if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
            return e;
    }
    return NULL;
}

const struct cln_toml_entry *cln_toml_table_find(const struct cln_toml_value *t, const char *key)
{
    return cln_toml_table_findn(t, key, strlen(key));
}

size_t cln_toml_table_len(const struct cln_toml_value *t)
{
    return t && t->type == CLN_TOML_TABLE ? t->u.tab.len : 0;
}

const struct cln_toml_entry *cln_toml_table_at(const struct cln_toml_value *t, size_t i)
{
    if (!t || t->type != CLN_TOML_TABLE || i >= t->u.tab.len)
        return NULL;
    return &t->u.tab.items[i];
}

size_t cln_toml_array_len(const struct cln_toml_value *a)
{
    return a && a->type == CLN_TOML_ARRAY ? a->u.arr.len : 0;
}

const struct cln_toml_value *cln_toml_array_at(const struct cln_toml_value *a, size_t i)
{
    if (!a || a->type != CLN_TOML_ARRAY || i >= a->u.arr.len)
        return NULL;
    return a->u.arr.items[i];
}

/* ---- document ---- */

void cln_toml_free(struct cln_toml_doc *doc)
{
    if (!doc)
        return;
    cln_arena_done(&doc->arena);
    free(doc->name);
    free(doc);
}

const struct cln_toml_value *cln_toml_root(const struct cln_toml_doc *doc)
{
    return doc->root;
}

const char *cln_toml_name(const struct cln_toml_doc *doc)
{
    return doc->name;
}

const char *cln_toml_type_name(enum cln_toml_type type)
{
    switch (type) {
    case CLN_TOML_STRING:
        return "string";
    case CLN_TOML_INTEGER:
        return "integer";
    case CLN_TOML_FLOAT:
        return "float";
    case CLN_TOML_BOOL:
        return "boolean";
    case CLN_TOML_DATETIME:
        return "offset date-time";
    case CLN_TOML_DATETIME_LOCAL:
        return "local date-time";
    case CLN_TOML_DATE_LOCAL:
        return "local date";
    case CLN_TOML_TIME_LOCAL:
        return "local time";
    case CLN_TOML_ARRAY:
        return "array";
    case CLN_TOML_TABLE:
        return "table";
    }
    return "value";
}

/* ---- getters ---- */

int cln_toml_error_at(const struct cln_toml_doc *doc, struct cln_toml_pos pos,
                      struct cln_error **err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cln_error_set(err, CLN_E_SPEC, 0, "%s:%u:%u: %s", doc->name, pos.line, pos.col, msg);
}

static const char *article(enum cln_toml_type t)
{
    return (t == CLN_TOML_INTEGER || t == CLN_TOML_ARRAY || t == CLN_TOML_DATETIME) ? "an" : "a";
}

static int check_type(const struct cln_toml_doc *doc, const struct cln_toml_value *v,
                      enum cln_toml_type want, const char *what, struct cln_error **err)
{
    if (v->type == want)
        return 1;
    return cln_toml_error_at(doc, v->pos, err, "%s must be %s %s, not %s %s", what, article(want),
                             cln_toml_type_name(want), article(v->type),
                             cln_toml_type_name(v->type));
}

static int lookup(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                  const char *key, enum cln_toml_type want, const struct cln_toml_value **ret,
                  struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(table, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "\"%s\"", key);
    int r = check_type(doc, e->value, want, what, err);
    if (r > 0)
        *ret = e->value;
    return r;
}

int cln_toml_get_string(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                        const char *key, const char **ret, struct cln_error **err)
{
    const struct cln_toml_value *v = NULL;
    int r = lookup(doc, table, key, CLN_TOML_STRING, &v, err);
    if (r > 0)
        *ret = v->u.str.ptr;
    return r;
}

int cln_toml_get_integer(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                         const char *key, int64_t *ret, struct cln_error **err)
{
    const struct cln_toml_value *v = NULL;
    int r = lookup(doc, table, key, CLN_TOML_INTEGER, &v, err);
    if (r > 0)
        *ret = v->u.integer;
    return r;
}

int cln_toml_get_float(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, double *ret, struct cln_error **err)
{
    const struct cln_toml_value *v = NULL;
    int r = lookup(doc, table, key, CLN_TOML_FLOAT, &v, err);
    if (r > 0)
        *ret = v->u.flt;
    return r;
}

int cln_toml_get_bool(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                      const char *key, bool *ret, struct cln_error **err)
{
    const struct cln_toml_value *v = NULL;
    int r = lookup(doc, table, key, CLN_TOML_BOOL, &v, err);
    if (r > 0)
        *ret = v->u.boolean;
    return r;
}

int cln_toml_get_table(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, const struct cln_toml_value **ret, struct cln_error **err)
{
    return lookup(doc, table, key, CLN_TOML_TABLE, ret, err);
}

int cln_toml_get_array(const struct cln_toml_doc *doc, const struct cln_toml_value *table,
                       const char *key, const struct cln_toml_value **ret, struct cln_error **err)
{
    return lookup(doc, table, key, CLN_TOML_ARRAY, ret, err);
}

int cln_toml_as_string(const struct cln_toml_doc *doc, const struct cln_toml_value *v,
                       const char *what, const char **ret, struct cln_error **err)
{
    int r = check_type(doc, v, CLN_TOML_STRING, what, err);
    if (r > 0)
        *ret = v->u.str.ptr;
    return r;
}

int cln_toml_as_integer(const struct cln_toml_doc *doc, const struct cln_toml_value *v,
                        const char *what, int64_t *ret, struct cln_error **err)
{
    int r = check_type(doc, v, CLN_TOML_INTEGER, what, err);
    if (r > 0)
        *ret = v->u.integer;
    return r;
}
