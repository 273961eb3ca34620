/* ${...} interpolation of spec strings ([vars], [matrix], the host_env
 * allowlist, ${service.*} kept for the runner), the [vars] table, and the
 * matrix: one test per combination of [matrix]. */
#include "spec-internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/xalloc.h"

/* ---- interpolation ---- */

/* Expand ${name}, ${matrix.name}, ${env.NAME}; keep ${service.*} for the
 * runner (checked here); $$ is a literal $. */
int cln_spec_interp(struct cln_spec_loader *L, tv *v, const char *what, char **ret,
                    struct cln_error **err)
{
    const char *s = v->u.str.ptr;
    if (memchr(s, '\0', v->u.str.len))
        return cln_spec_err_at(L, v->pos, err, "%s contains a NUL character", what);
    struct cln_buf b = CLN_BUF_INIT;
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            cln_buf_putc(&b, '$');
            p += 2;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            cln_buf_putc(&b, *p++);
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (!end) {
            cln_buf_done(&b);
            return cln_spec_err_at(L, v->pos, err,
                                   "%s: unterminated \"${\" (write $$ for a literal $)", what);
        }
        char *name = cln_xstrndup(p + 2, (size_t)(end - p - 2));
        const char *val = NULL;
        bool keep = false;
        if (strncmp(name, "matrix.", 7) == 0) {
            val = cln_labels_get(&L->matrix, name + 7);
        } else if (strncmp(name, "env.", 4) == 0) {
            bool allowed = false;
            for (size_t i = 0; i < L->host_env.n; i++)
                allowed = allowed || strcmp(L->host_env.v[i], name + 4) == 0;
            if (!allowed) {
                int r =
                    cln_spec_err_at(L, v->pos, err,
                                    "%s: ${%s} reads the host environment, but \"%s\" is not in "
                                    "[test] host_env (the allowlist)",
                                    what, name, name + 4);
                free(name);
                cln_buf_done(&b);
                return r;
            }
            val = getenv(name + 4);
            if (!val)
                val = "";
        } else if (strncmp(name, "service.", 8) == 0) {
            /* service.NAME.host or service.NAME.port.N: resolved when running */
            char svc[128];
            const char *rest = name + 8, *dot = strchr(rest, '.');
            size_t sl = dot ? (size_t)(dot - rest) : strlen(rest);
            snprintf(svc, sizeof(svc), "%.*s", (int)sl, rest);
            const struct cln_toml_entry *se = cln_toml_table_find(L->services_tbl, svc);
            bool form_ok = dot && (strcmp(dot, ".host") == 0 || strncmp(dot, ".port.", 6) == 0);
            if (!se || !form_ok) {
                int r = cln_spec_err_at(L, v->pos, err,
                                        se ? "%s: ${%s}: use ${service.NAME.host} or "
                                             "${service.NAME.port.PORT}"
                                           : "%s: ${%s}: no service \"%s\" in this spec",
                                        what, name, svc);
                free(name);
                cln_buf_done(&b);
                return r;
            }
            if (strncmp(dot, ".port.", 6) == 0) {
                /* PORT: digits, 1-65535, and one the service publishes */
                const char *ps = dot + 6;
                char *pend = NULL;
                long port = strtol(ps, &pend, 10);
                bool digits = *ps >= '0' && *ps <= '9' && pend && !*pend;
                bool listed = false;
                const struct cln_toml_entry *pe = se->value->type == CLN_TOML_TABLE
                                                      ? cln_toml_table_find(se->value, "ports")
                                                      : NULL;
                for (size_t k = 0;
                     pe && pe->value->type == CLN_TOML_ARRAY && k < cln_toml_array_len(pe->value);
                     k++) {
                    tv *pv = cln_toml_array_at(pe->value, k);
                    listed = listed || (pv->type == CLN_TOML_INTEGER && pv->u.integer == port);
                }
                bool number = digits && port >= 1 && port <= 65535;
                if (!number || !listed) {
                    int r =
                        number
                            ? cln_spec_err_at(L, v->pos, err,
                                              "%s: ${%s}: service \"%s\" does not publish port %ld "
                                              "(add it to its ports)",
                                              what, name, svc, port)
                            : cln_spec_err_at(L, v->pos, err,
                                              "%s: ${%s}: \"%s\" is not a port number (1-65535)",
                                              what, name, ps);
                    free(name);
                    cln_buf_done(&b);
                    return r;
                }
            }
            keep = true;
        } else {
            val = cln_labels_get(&L->vars, name);
        }
        if (!val && !keep) {
            int r;
            if (strncmp(name, "matrix.", 7) == 0)
                r = cln_spec_err_at(L, v->pos, err, "%s: ${%s}: no such key in [matrix]", what,
                                    name);
            else
                r = cln_spec_err_at(
                    L, v->pos, err,
                    "%s: unknown variable ${%s} (define it in [vars]; write $$ for a "
                    "literal $)",
                    what, name);
            free(name);
            cln_buf_done(&b);
            return r;
        }
        if (keep)
            cln_buf_append(&b, p, (size_t)(end - p + 1));
        else
            cln_buf_puts(&b, val);
        free(name);
        p = end + 1;
    }
    *ret = cln_buf_steal(&b);
    return 0;
}

/* ---- [vars] and the matrix ---- */

static int load_vars(struct cln_spec_loader *L, tv *root, struct cln_error **err)
{
    tv *test = NULL;
    int r = cln_toml_get_table(L->doc, root, "test", &test, err);
    if (r > 0 && (r = cln_spec_get_strv(L, test, "host_env", "test", &L->host_env, err)) < 0)
        return r;
    for (size_t i = 0; i < L->host_env.n; i++) {
        const char *n = L->host_env.v[i] ? L->host_env.v[i] : "";
        bool ok = (*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || *n == '_';
        for (const char *c = n; ok && *c; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                 *c == '_';
        if (!ok)
            return cln_spec_err_at(
                L, cln_toml_array_at(cln_toml_table_find(test, "host_env")->value, i)->pos, err,
                "test.host_env[%zu] \"%s\" is not an environment variable name "
                "(letters, digits and '_', not starting with a digit)",
                i, n);
    }
    tv *vars = NULL;
    r = cln_toml_get_table(L->doc, root, "vars", &vars, err);
    if (r <= 0)
        return r;
    /* In order: a variable may use the ones before it. */
    for (size_t i = 0; i < cln_toml_table_len(vars); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(vars, i);
        char what[160];
        snprintf(what, sizeof(what), "vars.%s", e->key);
        if (e->value->type != CLN_TOML_STRING && e->value->type != CLN_TOML_INTEGER &&
            e->value->type != CLN_TOML_BOOL)
            return cln_spec_err_at(
                L, e->value->pos, err, "%s must be a string, integer or boolean, not %s %s", what,
                cln_spec_type_article(e->value->type), cln_toml_type_name(e->value->type));
        char *s = NULL;
        if (e->value->type == CLN_TOML_STRING) {
            if ((r = cln_spec_interp(L, e->value, what, &s, err)) < 0)
                return r;
        } else if (e->value->type == CLN_TOML_INTEGER) {
            s = cln_xasprintf("%lld", (long long)e->value->u.integer);
        } else {
            s = cln_xstrdup(e->value->u.boolean ? "true" : "false");
        }
        cln_labels_set(&L->vars, e->key, s);
        free(s);
    }
    return 0;
}

/* A matrix value as text ("a", "3", "true"); buf for numbers. */
static const char *matrix_text(tv *v, char *buf, size_t size)
{
    if (v->type == CLN_TOML_STRING)
        return v->u.str.ptr;
    if (v->type == CLN_TOML_BOOL)
        return v->u.boolean ? "true" : "false";
    snprintf(buf, size, "%lld", (long long)v->u.integer);
    return buf;
}

static bool reserved_key(const char *k)
{
    return strcmp(k, "include") == 0 || strcmp(k, "exclude") == 0;
}

struct combos {
    struct cln_labels *v;
    size_t n, cap;
};

static void combos_done(struct combos *c)
{
    for (size_t i = 0; i < c->n; i++)
        cln_labels_done(&c->v[i]);
    free(c->v);
}

/* Does combination c have every value of table item? */
static bool combo_has(const struct cln_labels *c, tv *item)
{
    for (size_t i = 0; i < cln_toml_table_len(item); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(item, i);
        char buf[32];
        const char *want = matrix_text(e->value, buf, sizeof(buf));
        const char *have = cln_labels_get(c, e->key);
        if (!have || strcmp(have, want) != 0)
            return false;
    }
    return true;
}

/* matrix.include / matrix.exclude[i]: a table of string, integer or
 * boolean values, each of a key in keys (all of them when exact). */
static int check_combination(struct cln_spec_loader *L, tv *item, const char *what,
                             const struct cln_strv *keys, bool exact, struct cln_error **err)
{
    int r = cln_spec_want_type(L, item, CLN_TOML_TABLE, what, err);
    if (r < 0)
        return r;
    if (cln_toml_table_len(item) == 0)
        return cln_spec_err_at(L, item->pos, err, "%s is empty", what);
    for (size_t i = 0; i < cln_toml_table_len(item); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(item, i);
        bool known = false;
        for (size_t k = 0; k < keys->n && !known; k++)
            known = strcmp(keys->v[k], e->key) == 0;
        if (!known) {
            const char *sg = cln_spec_suggest(e->key, (const char *const *)keys->v, keys->n);
            return cln_spec_err_at(L, e->pos, err, "%s: \"%s\" is not a key of the matrix%s%s%s",
                                   what, e->key, sg ? " (did you mean \"" : "", sg ? sg : "",
                                   sg ? "\"?)" : "");
        }
        if (e->value->type != CLN_TOML_STRING && e->value->type != CLN_TOML_INTEGER &&
            e->value->type != CLN_TOML_BOOL)
            return cln_spec_err_at(L, e->value->pos, err,
                                   "%s.%s must be a string, integer or boolean", what, e->key);
    }
    for (size_t k = 0; exact && k < keys->n; k++)
        if (!cln_toml_table_find(item, keys->v[k]))
            return cln_spec_err_at(L, item->pos, err,
                                   "%s: no value for \"%s\" (an included combination gives "
                                   "every key of the matrix)",
                                   what, keys->v[k]);
    return 0;
}

static int matrix_combinations(struct cln_spec_loader *L, tv *m, struct combos *out,
                               struct cln_error **err)
{
    cleanup_strv struct cln_strv keys = {0};
    size_t total = 1;
    int r;
    for (size_t i = 0; i < cln_toml_table_len(m); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(m, i);
        if (reserved_key(e->key))
            continue;
        char what[160];
        snprintf(what, sizeof(what), "matrix.%s", e->key);
        if ((r = cln_spec_want_type(L, e->value, CLN_TOML_ARRAY, what, err)) < 0)
            return r;
        size_t n = cln_toml_array_len(e->value);
        if (n == 0)
            return cln_spec_err_at(L, e->value->pos, err, "%s is empty", what);
        for (size_t j = 0; j < n; j++) {
            tv *v = cln_toml_array_at(e->value, j);
            if (v->type != CLN_TOML_STRING && v->type != CLN_TOML_INTEGER &&
                v->type != CLN_TOML_BOOL)
                return cln_spec_err_at(L, v->pos, err,
                                       "%s[%zu] must be a string, integer or boolean", what, j);
        }
        total *= n;
        if (total > 1000)
            return cln_spec_err_at(L, e->value->pos, err,
                                   "the matrix has more than 1000 combinations");
        cln_strv_add(&keys, e->key);
    }
    const struct cln_toml_entry *inc = cln_toml_table_find(m, "include");
    const struct cln_toml_entry *exc = cln_toml_table_find(m, "exclude");
    if (keys.n)
        for (size_t c = 0; c < total; c++) {
            out->v = cln_xgrow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
            struct cln_labels *l = &out->v[out->n++];
            memset(l, 0, sizeof(*l));
            size_t rest = c;
            /* the last key varies fastest; the labels in document order */
            cleanup_free size_t *idx = cln_xcalloc(keys.n, sizeof(size_t));
            for (size_t i = keys.n; i-- > 0;) {
                tv *arr = cln_toml_table_find(m, keys.v[i])->value;
                size_t n = cln_toml_array_len(arr);
                idx[i] = rest % n;
                rest /= n;
            }
            for (size_t i = 0; i < keys.n; i++) {
                tv *v = cln_toml_array_at(cln_toml_table_find(m, keys.v[i])->value, idx[i]);
                char buf[32];
                cln_labels_set(l, keys.v[i], matrix_text(v, buf, sizeof(buf)));
            }
        }
    if (exc) {
        if ((r = cln_spec_want_type(L, exc->value, CLN_TOML_ARRAY, "matrix.exclude", err)) < 0)
            return r;
        if (!keys.n)
            return cln_spec_err_at(L, exc->pos, err,
                                   "matrix.exclude: the matrix has no keys to exclude from");
        for (size_t j = 0; j < cln_toml_array_len(exc->value); j++) {
            tv *item = cln_toml_array_at(exc->value, j);
            char what[64];
            snprintf(what, sizeof(what), "matrix.exclude[%zu]", j);
            if ((r = check_combination(L, item, what, &keys, false, err)) < 0)
                return r;
            size_t kept = 0, before = out->n;
            for (size_t c = 0; c < out->n; c++) {
                if (combo_has(&out->v[c], item))
                    cln_labels_done(&out->v[c]);
                else
                    out->v[kept++] = out->v[c];
            }
            out->n = kept;
            if (kept == before)
                return cln_spec_err_at(L, item->pos, err,
                                       "%s matches no combination (a typo of a value?)", what);
        }
    }
    if (inc) {
        if ((r = cln_spec_want_type(L, inc->value, CLN_TOML_ARRAY, "matrix.include", err)) < 0)
            return r;
        for (size_t j = 0; j < cln_toml_array_len(inc->value); j++) {
            tv *item = cln_toml_array_at(inc->value, j);
            char what[64];
            snprintf(what, sizeof(what), "matrix.include[%zu]", j);
            if (!keys.n &&
                item->type == CLN_TOML_TABLE) /* only includes: the first sets the keys */
                for (size_t i = 0; i < cln_toml_table_len(item); i++)
                    cln_strv_add(&keys, cln_toml_table_at(item, i)->key);
            if ((r = check_combination(L, item, what, &keys, true, err)) < 0)
                return r;
            for (size_t c = 0; c < out->n; c++)
                if (combo_has(&out->v[c], item))
                    return cln_spec_err_at(L, item->pos, err,
                                           "%s is already a combination of the matrix", what);
            out->v = cln_xgrow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
            struct cln_labels *l = &out->v[out->n++];
            memset(l, 0, sizeof(*l));
            for (size_t i = 0; i < keys.n; i++) {
                char buf[32];
                cln_labels_set(
                    l, keys.v[i],
                    matrix_text(cln_toml_table_find(item, keys.v[i])->value, buf, sizeof(buf)));
            }
            if (out->n > 1000)
                return cln_spec_err_at(L, item->pos, err,
                                       "the matrix has more than 1000 combinations");
        }
    }
    if (!out->n && (inc || exc))
        return cln_spec_err_at(L, exc ? exc->pos : inc->pos, err,
                               "matrix.exclude leaves no combination to run");
    return 0;
}

int cln_spec_expand_matrix(struct cln_spec_loader *L, tv *root, struct cln_spec_set *set,
                           struct cln_error **err)
{
    tv *m = NULL;
    int r = cln_toml_get_table(L->doc, root, "matrix", &m, err);
    if (r < 0)
        return r;
    struct combos combos = {0};
    if (m && (r = matrix_combinations(L, m, &combos, err)) < 0) {
        combos_done(&combos);
        return r;
    }
    /* no [matrix] (or one with no keys): one test */
    size_t total = combos.n ? combos.n : 1;
    for (size_t c = 0; c < total; c++) {
        cln_labels_done(&L->matrix);
        if (combos.n) {
            L->matrix = combos.v[c];
            memset(&combos.v[c], 0, sizeof(combos.v[c]));
        }
        /* variables may use the matrix: reload them per combination */
        cln_labels_done(&L->vars);
        cln_strv_done(&L->host_env);
        if ((r = load_vars(L, root, err)) < 0)
            break;
        set->tests = cln_xgrow(set->tests, &set->cap, set->n + 1, sizeof(*set->tests));
        struct cln_spec_test *t = &set->tests[set->n];
        memset(t, 0, sizeof(*t));
        if ((r = cln_spec_load_test(L, root, t, err)) < 0) {
            cln_spec_test_done(t);
            break;
        }
        set->n++;
    }
    combos_done(&combos);
    return r < 0 ? r : 0;
}
