/* The loader's building blocks: string vectors, did-you-mean, the
 * FILE:LINE:COL error, key and type checks, and the typed value getters,
 * which all start with one lookup (cln_spec_lookup). */
#include "spec-internal.h"
#include "regex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- string vectors, did-you-mean ---- */

size_t cln_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    /* Optimal string alignment: Levenshtein plus adjacent transpositions
     * ("rnu" is one edit from "run"). */
    size_t pp[65], prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = pp[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t best = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        memcpy(pp, prev, (lb + 1) * sizeof(size_t));
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

/* ---- errors, keys, types ---- */

int cln_spec_err_at(struct cln_spec_loader *L, struct cln_toml_pos pos, struct cln_error **err,
                    const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cln_error_set(err, CLN_E_SPEC, 0, "%s:%u:%u: %s", L->path, pos.line, pos.col, msg);
}

/* The closest of the candidates to word, or NULL when none is close. */
const char *cln_spec_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 99, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = cln_edit_distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return bd <= limit ? best : NULL;
}

/* Every key of table t must be one of allowed. */
int cln_spec_check_keys(struct cln_spec_loader *L, tv *t, const char *where,
                        const char *const *allowed, size_t n, struct cln_error **err)
{
    for (size_t i = 0; i < cln_toml_table_len(t); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(t, i);
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = strcmp(e->key, allowed[j]) == 0;
        if (ok)
            continue;
        const char *s = cln_spec_suggest(e->key, allowed, n);
        char hint[96] = "";
        if (s)
            snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", s);
        struct cln_buf list = CLN_BUF_INIT;
        for (size_t j = 0; j < n; j++)
            cln_buf_printf(&list, "%s%s", j ? ", " : "", allowed[j]);
        int r = cln_spec_err_at(L, e->pos, err, "unknown key \"%s\" in %s%s; known keys: %s",
                                e->key, where, hint, list.data);
        cln_buf_done(&list);
        return r;
    }
    return 0;
}

const char *cln_spec_type_article(enum cln_toml_type t)
{
    return t == CLN_TOML_INTEGER || t == CLN_TOML_ARRAY || t == CLN_TOML_DATETIME ? "an" : "a";
}

int cln_spec_want_type(struct cln_spec_loader *L, tv *v, enum cln_toml_type t, const char *what,
                       struct cln_error **err)
{
    if (v->type == t)
        return 0;
    return cln_spec_err_at(L, v->pos, err, "%s must be %s %s, not %s %s", what,
                           cln_spec_type_article(t), cln_toml_type_name(t),
                           cln_spec_type_article(v->type), cln_toml_type_name(v->type));
}

/* ---- typed getters ---- */

int cln_spec_lookup(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                    enum cln_toml_type type, const char *wanted, char *what, size_t what_size,
                    tv **ret, struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    snprintf(what, what_size, "%s.%s", where, key);
    if (e->value->type != type) {
        tv *v = e->value;
        if (!wanted)
            (void)cln_spec_want_type(L, v, type, what, err);
        else
            (void)cln_spec_err_at(L, v->pos, err, "%s must be %s, not %s %s", what, wanted,
                                  cln_spec_type_article(v->type), cln_toml_type_name(v->type));
        return -CLN_E_SPEC; /* what both return: said here, for the callers' analysis */
    }
    *ret = e->value;
    return 1;
}

int cln_spec_get_str(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     char **ret, struct cln_error **err)
{
    char what[160];
    tv *v = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_STRING, NULL, what, sizeof(what), &v, err);
    if (r <= 0)
        return r;
    r = cln_spec_interp(L, v, what, ret, err);
    return r < 0 ? r : 1;
}

int cln_spec_get_bool(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                      bool *ret, struct cln_error **err)
{
    char what[160];
    tv *v = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_BOOL, NULL, what, sizeof(what), &v, err);
    if (r <= 0)
        return r;
    *ret = v->u.boolean;
    return 1;
}

int cln_spec_get_int(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     int64_t lo, int64_t hi, int64_t *ret, struct cln_error **err)
{
    char what[160];
    tv *v = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_INTEGER, NULL, what, sizeof(what), &v, err);
    if (r <= 0)
        return r;
    if (v->u.integer < lo || v->u.integer > hi)
        return cln_spec_err_at(L, v->pos, err, "%s must be between %lld and %lld", what,
                               (long long)lo, (long long)hi);
    *ret = v->u.integer;
    return 1;
}

int cln_spec_get_duration(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                          uint64_t *ret, struct cln_error **err)
{
    char what[160];
    tv *v = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_STRING, "a duration string such as \"5s\"",
                            what, sizeof(what), &v, err);
    if (r <= 0)
        return r;
    cleanup_free char *s = NULL;
    if ((r = cln_spec_interp(L, v, what, &s, err)) < 0)
        return r;
    struct cln_error *de = NULL;
    if (cln_duration_parse(s, ret, &de) < 0) {
        r = cln_spec_err_at(L, v->pos, err, "%s: %s", what, de->msg);
        cln_error_free(de);
        return r;
    }
    return 1;
}

/* A duration that is a limit (a timeout, an interval): zero is refused,
 * it would mean "no limit" or "no pause" by accident; no limit is the key
 * left out. */
int cln_spec_get_limit(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                       uint64_t *ret, struct cln_error **err)
{
    uint64_t v = 0;
    int r = cln_spec_get_duration(L, t, key, where, &v, err);
    if (r <= 0)
        return r;
    if (v == 0)
        return cln_spec_err_at(
            L, cln_toml_table_find(t, key)->value->pos, err,
            "%s.%s is zero: give a positive duration (leave the key out for %s)", where, key,
            strcmp(key, "interval") == 0 ? "the default" : "no limit of its own");
    *ret = v;
    return 1;
}

/* A string array. */
int cln_spec_get_strv(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                      struct cln_strv *ret, struct cln_error **err)
{
    char what[160];
    tv *a = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_ARRAY, NULL, what, sizeof(what), &a, err);
    if (r <= 0)
        return r;
    struct cln_strv v = {0};
    cln_strv_push(&v, NULL);
    v.n = 0;
    for (size_t i = 0; i < cln_toml_array_len(a); i++) {
        tv *item = cln_toml_array_at(a, i);
        char iw[256];
        snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
        char *s = NULL;
        r = cln_spec_want_type(L, item, CLN_TOML_STRING, iw, err);
        if (r == 0)
            r = cln_spec_interp(L, item, iw, &s, err);
        if (r < 0) {
            cln_strv_done(&v);
            return r;
        }
        cln_strv_push(&v, s);
    }
    *ret = v;
    return 1;
}

/* A table of string values (env). */
int cln_spec_get_env(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     struct cln_labels *ret, struct cln_error **err)
{
    char what[160];
    tv *tbl = NULL;
    int r = cln_spec_lookup(L, t, key, where, CLN_TOML_TABLE, NULL, what, sizeof(what), &tbl, err);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < cln_toml_table_len(tbl); i++) {
        const struct cln_toml_entry *kv = cln_toml_table_at(tbl, i);
        char iw[400];
        snprintf(iw, sizeof(iw), "%s.%s", what, kv->key);
        if (kv->keylen == 0 || strchr(kv->key, '='))
            return cln_spec_err_at(L, kv->pos, err, "%s: invalid environment variable name", iw);
        char *s = NULL;
        r = cln_spec_want_type(L, kv->value, CLN_TOML_STRING, iw, err);
        if (r == 0)
            r = cln_spec_interp(L, kv->value, iw, &s, err);
        if (r < 0)
            return r;
        cln_labels_set(ret, kv->key, s);
        free(s);
    }
    return 1;
}

int cln_spec_parse_size(const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},           {"b", 1},           {"k", 1024},        {"kb", 1024},
                 {"kib", 1024},     {"m", 1048576},     {"mb", 1048576},    {"mib", 1048576},
                 {"g", 1073741824}, {"gb", 1073741824}, {"gib", 1073741824}};
    char u[8];
    size_t n = strlen(end);
    if (n >= sizeof(u))
        return -1;
    for (size_t i = 0; i <= n; i++)
        u[i] = (char)(end[i] >= 'A' && end[i] <= 'Z' ? end[i] + 32 : end[i]);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(units); i++)
        if (strcmp(u, units[i].u) == 0) {
            *ret = (int64_t)(v * units[i].m);
            return 0;
        }
    return -1;
}

int cln_spec_parse_size_text(const char *s, int64_t *ret)
{
    return cln_spec_parse_size(s, ret);
}

/* memory = "64MiB" at where; *ret untouched when absent. */
int cln_spec_get_memory(struct cln_spec_loader *L, tv *tbl, const char *where, int64_t *ret,
                        struct cln_error **err)
{
    char *mem = NULL;
    int r = cln_spec_get_str(L, tbl, "memory", where, &mem, err);
    if (r <= 0 || !mem)
        return r;
    r = cln_spec_parse_size(mem, ret) < 0 || *ret < 4L * 1048576
            ? cln_spec_err_at(L, cln_toml_table_find(tbl, "memory")->value->pos, err,
                              "%s.memory: \"%s\" is not a size of at least 4MiB (e.g. \"64MiB\", "
                              "\"1GiB\")",
                              where, mem)
            : 1;
    free(mem);
    return r;
}

int cln_spec_check_regex(struct cln_spec_loader *L, tv *v, const char *re, const char *what,
                         struct cln_error **err)
{
    char msg[256];
    size_t off = 0;
    if (cln_regex_check(re, msg, sizeof(msg), &off) == 0)
        return 0;
    return cln_spec_err_at(L, v->pos, err, "%s: invalid regular expression at offset %zu: %s", what,
                           off, msg);
}
