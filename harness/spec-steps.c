/* [[steps]]: where each runs (a service, or a fresh container of an
 * image), the command, its options and limits, and expect (exit codes,
 * stdout and stderr, files, max_duration). */
#include "spec-internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/xalloc.h"
#include "toml/toml-json.h"

/* ---- expect: regexes and JSON values of content ---- */

/* key: a regex or an array of them, each compiled now. */
static int load_regexes(struct cln_spec_loader *L, tv *tbl, const char *key, const char *w,
                        struct cln_strv *ret, struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(tbl, key);
    if (!e)
        return 0;
    char kw[400];
    snprintf(kw, sizeof(kw), "%s.%s", w, key);
    int r;
    if (e->value->type == CLN_TOML_STRING) {
        char *s = NULL;
        if ((r = cln_spec_interp(L, e->value, kw, &s, err)) < 0)
            return r;
        cln_strv_push(ret, s);
    } else if ((r = cln_spec_get_strv(L, tbl, key, w, ret, err)) < 0) {
        return r;
    }
    if (ret->n == 0)
        return cln_spec_err_at(L, e->value->pos, err, "%s is empty: it would check nothing", kw);
    for (size_t i = 0; i < ret->n; i++) {
        tv *v = e->value->type == CLN_TOML_ARRAY ? cln_toml_array_at(e->value, i) : e->value;
        if ((r = cln_spec_check_regex(L, v, ret->v[i], kw, err)) < 0)
            return r;
    }
    return 1;
}

/* A TOML value as JSON text: the value an expect.json equals wants; its
 * strings interpolated like any other.  A float JSON has no form for (inf,
 * nan) or a string with a NUL (JSON parsers stop there) is refused. */
static int toml_to_json(struct cln_spec_loader *L, tv *v, const char *what, struct cln_buf *out,
                        struct cln_error **err)
{
    int r = 0;
    switch (v->type) {
    case CLN_TOML_STRING: {
        char *s = NULL;
        if ((r = cln_spec_interp(L, v, what, &s, err)) < 0)
            return r;
        if (strlen(s) != v->u.str.len && memchr(v->u.str.ptr, '\0', v->u.str.len)) {
            free(s);
            return cln_spec_err_at(L, v->pos, err,
                                   "%s: a NUL in a string cannot be compared "
                                   "as JSON",
                                   what);
        }
        cln_buf_putc(out, '"');
        for (const char *c = s; *c; c++) {
            unsigned char ch = (unsigned char)*c;
            if (ch == '"' || ch == '\\')
                cln_buf_printf(out, "\\%c", ch);
            else if (ch < 0x20)
                cln_buf_printf(out, "\\u%04x", ch);
            else
                cln_buf_putc(out, (char)ch);
        }
        cln_buf_putc(out, '"');
        free(s);
        break;
    }
    case CLN_TOML_INTEGER:
        cln_buf_printf(out, "%lld", (long long)v->u.integer);
        break;
    case CLN_TOML_FLOAT:
        if (isnan(v->u.flt) || isinf(v->u.flt))
            return cln_spec_err_at(L, v->pos, err, "%s: %s has no JSON form", what,
                                   isnan(v->u.flt) ? "nan" : "inf");
        cln_buf_printf(out, "%.17g", v->u.flt);
        break;
    case CLN_TOML_BOOL:
        cln_buf_printf(out, "%s", v->u.boolean ? "true" : "false");
        break;
    case CLN_TOML_ARRAY:
        cln_buf_putc(out, '[');
        for (size_t i = 0; i < cln_toml_array_len(v) && r >= 0; i++) {
            if (i)
                cln_buf_putc(out, ',');
            r = toml_to_json(L, cln_toml_array_at(v, i), what, out, err);
        }
        cln_buf_putc(out, ']');
        break;
    case CLN_TOML_TABLE:
        cln_buf_putc(out, '{');
        for (size_t i = 0; i < cln_toml_table_len(v) && r >= 0; i++) {
            const struct cln_toml_entry *e = cln_toml_table_at(v, i);
            if (i)
                cln_buf_putc(out, ',');
            cln_buf_putc(out, '"');
            for (const char *c = e->key; *c; c++) {
                unsigned char ch = (unsigned char)*c;
                if (ch == '"' || ch == '\\')
                    cln_buf_printf(out, "\\%c", ch);
                else if (ch < 0x20)
                    cln_buf_printf(out, "\\u%04x", ch);
                else
                    cln_buf_putc(out, (char)ch);
            }
            cln_buf_puts(out, "\":");
            r = toml_to_json(L, e->value, what, out, err);
        }
        cln_buf_putc(out, '}');
        break;
    default: { /* a date or time: its text */
        struct cln_buf t = CLN_BUF_INIT;
        cln_toml_datetime_format(v->type, &v->u.dt, &t);
        cln_buf_printf(out, "\"%s\"", t.data ? t.data : "");
        cln_buf_done(&t);
        break;
    }
    }
    return r < 0 ? r : 0;
}

/* "$", then .name, ['name'] or [N] steps. */
static bool json_path_ok(const char *p)
{
    if (p[0] != '$')
        return false;
    for (p++; *p;) {
        if (*p == '.') {
            size_t n = strcspn(p + 1, ".[");
            if (!n)
                return false;
            p += 1 + n;
        } else if (p[0] == '[' && (p[1] == '\'' || p[1] == '"')) {
            const char *end = strchr(p + 2, p[1]);
            if (!end || end[1] != ']')
                return false;
            p = end + 2;
        } else if (*p == '[') {
            size_t n = strspn(p + 1, "0123456789");
            if (!n || n > 9 || p[1 + n] != ']') /* an index below 10^9 */
                return false;
            p += n + 2;
        } else {
            return false;
        }
    }
    return true;
}

static int load_json_one(struct cln_spec_loader *L, tv *v, const char *w,
                         struct cln_json_expect *je, struct cln_error **err)
{
    int r = cln_spec_want_type(L, v, CLN_TOML_TABLE, w, err);
    if (r == 0)
        r = CLN_SPEC_CHECK_KEYS(L, v, w, err, "path", "equals", "exists", "regex");
    if (r < 0)
        return r;
    je->exists = -1;
    if ((r = cln_spec_get_str(L, v, "path", w, &je->path, err)) < 0)
        return r;
    if (!je->path)
        return cln_spec_err_at(L, v->pos, err, "%s: \"path\" is required (e.g. \"$.status\")", w);
    if (!json_path_ok(je->path))
        return cln_spec_err_at(L, cln_toml_table_find(v, "path")->value->pos, err,
                               "%s.path \"%s\" is not a JSON path: \"$\" then .key, ['key'] or "
                               "[index] (e.g. \"$.items[0].name\")",
                               w, je->path);
    bool exists = true;
    if ((r = cln_spec_get_bool(L, v, "exists", w, &exists, err)) < 0)
        return r;
    if (r > 0)
        je->exists = exists;
    if ((r = cln_spec_get_str(L, v, "regex", w, &je->regex, err)) < 0)
        return r;
    if (je->regex && (r = cln_spec_check_regex(L, cln_toml_table_find(v, "regex")->value, je->regex,
                                               w, err)) < 0)
        return r;
    const struct cln_toml_entry *eq = cln_toml_table_find(v, "equals");
    if (eq) {
        struct cln_buf b = CLN_BUF_INIT;
        char ew[480];
        snprintf(ew, sizeof(ew), "%s.equals", w);
        if ((r = toml_to_json(L, eq->value, ew, &b, err)) < 0) {
            cln_buf_done(&b);
            return r;
        }
        je->equals = cln_buf_steal(&b);
    }
    if (je->exists == 0 && (je->equals || je->regex))
        return cln_spec_err_at(L, v->pos, err,
                               "%s: \"exists = false\" contradicts the other expectations", w);
    if (je->exists == -1 && !je->equals && !je->regex)
        je->exists = 1;
    return 0;
}

/* regex, not_regex and json of a stream or file expectation. */
static int load_content(struct cln_spec_loader *L, tv *tbl, const char *w,
                        struct cln_content_expect *c, struct cln_error **err)
{
    int r;
    if ((r = load_regexes(L, tbl, "regex", w, &c->regex, err)) < 0 ||
        (r = load_regexes(L, tbl, "not_regex", w, &c->not_regex, err)) < 0)
        return r;
    const struct cln_toml_entry *je = cln_toml_table_find(tbl, "json");
    if (!je)
        return 0;
    char jw[400];
    snprintf(jw, sizeof(jw), "%s.json", w);
    if (je->value->type == CLN_TOML_TABLE) {
        c->json = cln_xcalloc(1, sizeof(*c->json));
        c->njson = 1;
        return load_json_one(L, je->value, jw, c->json, err);
    }
    if (je->value->type != CLN_TOML_ARRAY || cln_toml_array_len(je->value) == 0)
        return cln_spec_err_at(L, je->value->pos, err,
                               "%s must be a table ({ path = \"$.x\", equals = ... }) or a "
                               "non-empty array of them",
                               jw);
    size_t n = cln_toml_array_len(je->value);
    c->json = cln_xcalloc(n, sizeof(*c->json));
    for (size_t i = 0; i < n; i++) {
        char iw[440];
        snprintf(iw, sizeof(iw), "%s[%zu]", jw, i);
        c->njson++;
        if ((r = load_json_one(L, cln_toml_array_at(je->value, i), iw, &c->json[i], err)) < 0)
            return r;
    }
    return 0;
}

static bool content_set(const struct cln_content_expect *c)
{
    return c->regex.n || c->not_regex.n || c->njson;
}

/* ---- expect ---- */

static int load_stream_expect(struct cln_spec_loader *L, tv *ex, const char *key, const char *where,
                              struct cln_stream_expect *se, struct cln_error **err)
{
    se->empty = -1;
    const struct cln_toml_entry *e = cln_toml_table_find(ex, key);
    if (!e)
        return 0;
    char w[300];
    snprintf(w, sizeof(w), "%s.%s", where, key);
    if (e->value->type == CLN_TOML_STRING)
        return cln_spec_interp(L, e->value, w, &se->equals, err);
    int r = cln_spec_want_type(L, e->value, CLN_TOML_TABLE, w, err);
    if (r == 0)
        r = CLN_SPEC_CHECK_KEYS(L, e->value, w, err, "equals", "contains", "not_contains", "regex",
                                "not_regex", "json", "empty");
    if (r < 0)
        return r;
    bool empty = false;
    if ((r = cln_spec_get_str(L, e->value, "equals", w, &se->equals, err)) < 0)
        return r;
    /* contains: a string or a list */
    const struct cln_toml_entry *c = cln_toml_table_find(e->value, "contains");
    if (c && c->value->type == CLN_TOML_STRING) {
        char *s = NULL;
        if ((r = cln_spec_interp(L, c->value, w, &s, err)) < 0)
            return r;
        cln_strv_push(&se->contains, s);
    } else if ((r = cln_spec_get_strv(L, e->value, "contains", w, &se->contains, err)) < 0) {
        return r;
    }
    c = cln_toml_table_find(e->value, "not_contains");
    if (c && c->value->type == CLN_TOML_STRING) {
        char *s = NULL;
        if ((r = cln_spec_interp(L, c->value, w, &s, err)) < 0)
            return r;
        cln_strv_push(&se->not_contains, s);
    } else if ((r = cln_spec_get_strv(L, e->value, "not_contains", w, &se->not_contains, err)) <
               0) {
        return r;
    }
    /* an empty list, or an empty string, checks nothing: a mistake */
    static const char *const lists[] = {"contains", "not_contains"};
    const struct cln_strv *vals[] = {&se->contains, &se->not_contains};
    for (size_t k = 0; k < 2; k++) {
        const struct cln_toml_entry *le = cln_toml_table_find(e->value, lists[k]);
        if (!le)
            continue;
        if (vals[k]->n == 0)
            return cln_spec_err_at(L, le->value->pos, err, "%s.%s is empty: it would check nothing",
                                   w, lists[k]);
        for (size_t i = 0; i < vals[k]->n; i++)
            if (!*vals[k]->v[i])
                return cln_spec_err_at(
                    L,
                    le->value->type == CLN_TOML_ARRAY ? cln_toml_array_at(le->value, i)->pos
                                                      : le->value->pos,
                    err, "%s.%s: an empty string would check nothing", w, lists[k]);
    }
    if ((r = load_content(L, e->value, w, &se->content, err)) < 0)
        return r;
    if ((r = cln_spec_get_bool(L, e->value, "empty", w, &empty, err)) < 0)
        return r;
    if (r > 0)
        se->empty = empty;
    if (se->empty == 1 && (se->equals || se->contains.n || content_set(&se->content)))
        return cln_spec_err_at(L, cln_toml_table_find(e->value, "empty")->pos, err,
                               "%s: \"empty = true\" contradicts the other expectations", w);
    return 0;
}

static int load_expect(struct cln_spec_loader *L, tv *step, const char *where,
                       struct cln_spec_expect *x, struct cln_error **err)
{
    x->exit_kind = CLN_EXIT_EXPECT_LIST;
    x->codes = cln_xcalloc(1, sizeof(int));
    x->ncodes = 1; /* no expectation: exit 0 */
    x->out.empty = x->err.empty = -1;
    char w[300];
    tv *ext = NULL;
    int r =
        cln_spec_lookup(L, step, "expect", where, CLN_TOML_TABLE, NULL, w, sizeof(w), &ext, err);
    if (r <= 0)
        return r;
    if ((r = CLN_SPEC_CHECK_KEYS(L, ext, w, err, "exit", "stdout", "stderr", "files",
                                 "max_duration")) < 0)
        return r;
    const struct cln_toml_entry *ex = cln_toml_table_find(ext, "exit");
    if (ex) {
        tv *v = ex->value;
        if (v->type == CLN_TOML_INTEGER && v->u.integer >= 0 && v->u.integer <= 255) {
            x->codes[0] = (int)v->u.integer;
        } else if (v->type == CLN_TOML_STRING && strcmp(v->u.str.ptr, "non-zero") == 0) {
            x->exit_kind = CLN_EXIT_EXPECT_NONZERO;
        } else if (v->type == CLN_TOML_STRING && strcmp(v->u.str.ptr, "any") == 0) {
            x->exit_kind = CLN_EXIT_EXPECT_ANY;
        } else if (v->type == CLN_TOML_ARRAY && cln_toml_array_len(v) > 0) {
            x->ncodes = cln_toml_array_len(v);
            x->codes = cln_xrealloc(x->codes, x->ncodes * sizeof(int));
            for (size_t i = 0; i < x->ncodes; i++) {
                tv *c = cln_toml_array_at(v, i);
                if (c->type != CLN_TOML_INTEGER || c->u.integer < 0 || c->u.integer > 255)
                    return cln_spec_err_at(L, c->pos, err,
                                           "%s.exit[%zu] must be an exit code (0-255)", w, i);
                x->codes[i] = (int)c->u.integer;
            }
        } else {
            return cln_spec_err_at(
                L, v->pos, err,
                "%s.exit must be an exit code (0-255), a list of them, \"non-zero\" "
                "or \"any\"",
                w);
        }
    }
    if ((r = load_stream_expect(L, ext, "stdout", w, &x->out, err)) < 0 ||
        (r = load_stream_expect(L, ext, "stderr", w, &x->err, err)) < 0 ||
        (r = cln_spec_get_limit(L, ext, "max_duration", w, &x->max_duration_ms, err)) < 0)
        return r;
    const struct cln_toml_entry *fe = cln_toml_table_find(ext, "files");
    if (fe) {
        char fw[340];
        snprintf(fw, sizeof(fw), "%s.files", w);
        if ((r = cln_spec_want_type(L, fe->value, CLN_TOML_ARRAY, fw, err)) < 0)
            return r;
        size_t n = cln_toml_array_len(fe->value);
        x->files = cln_xcalloc(n ? n : 1, sizeof(*x->files));
        for (size_t i = 0; i < n; i++) {
            tv *f = cln_toml_array_at(fe->value, i);
            char iw[400];
            snprintf(iw, sizeof(iw), "%s[%zu]", fw, i);
            r = cln_spec_want_type(L, f, CLN_TOML_TABLE, iw, err);
            if (r == 0)
                r = CLN_SPEC_CHECK_KEYS(L, f, iw, err, "path", "exists", "type", "mode", "owner",
                                        "group", "equals", "regex", "not_regex", "json");
            if (r < 0)
                return r;
            struct cln_file_expect *fx = &x->files[x->nfiles++];
            fx->exists = -1;
            fx->type = -1;
            fx->mode = -1;
            bool exists = true;
            if ((r = cln_spec_get_str(L, f, "path", iw, &fx->path, err)) < 0)
                return r;
            if (r == 0 || fx->path[0] != '/')
                return cln_spec_err_at(L, f->pos, err, "%s: an absolute \"path\" is required", iw);
            if (strcmp(fx->path, "/") != 0 && fx->path[strlen(fx->path) - 1] == '/')
                return cln_spec_err_at(L, cln_toml_table_find(f, "path")->value->pos, err,
                                       "%s.path \"%s\": no trailing '/' (use type = \"directory\")",
                                       iw, fx->path);
            if ((r = cln_spec_get_bool(L, f, "exists", iw, &exists, err)) < 0)
                return r;
            if (r > 0)
                fx->exists = exists;
            char *type = NULL;
            if ((r = cln_spec_get_str(L, f, "type", iw, &type, err)) < 0)
                return r;
            if (type) {
                static const char *const types[] = {"file", "directory", "symlink"};
                for (int k = 0; k < 3; k++)
                    if (strcmp(type, types[k]) == 0)
                        fx->type = k == 0   ? CLN_FILE_REGULAR
                                   : k == 1 ? CLN_FILE_DIRECTORY
                                            : CLN_FILE_SYMLINK;
                if (fx->type < 0) {
                    const char *sg = cln_spec_suggest(type, types, 3);
                    r = cln_spec_err_at(
                        L, cln_toml_table_find(f, "type")->value->pos, err,
                        "%s.type \"%s\" is not a type (file, directory, symlink)%s%s%s", iw, type,
                        sg ? "; did you mean \"" : "", sg ? sg : "", sg ? "\"?" : "");
                    free(type);
                    return r;
                }
                free(type);
            }
            int64_t mode = -1;
            if ((r = cln_spec_get_int(L, f, "mode", iw, 0, 07777, &mode, err)) < 0)
                return r;
            fx->mode = (int)mode;
            if ((r = cln_spec_get_str(L, f, "owner", iw, &fx->owner, err)) < 0 ||
                (r = cln_spec_get_str(L, f, "group", iw, &fx->group, err)) < 0)
                return r;
            static const char *const idkeys[] = {"owner", "group"};
            char *ids[] = {fx->owner, fx->group};
            for (int k = 0; k < 2; k++)
                if (ids[k] && (!*ids[k] || strpbrk(ids[k], ": \t\n")))
                    return cln_spec_err_at(L, cln_toml_table_find(f, idkeys[k])->value->pos, err,
                                           "%s.%s \"%s\" is not a user or group name or number", iw,
                                           idkeys[k], ids[k]);
            if ((r = cln_spec_get_str(L, f, "equals", iw, &fx->equals, err)) < 0 ||
                (r = load_content(L, f, iw, &fx->content, err)) < 0)
                return r;
            fx->equals_len = fx->equals ? strlen(fx->equals) : 0;
            bool has_content = fx->equals || content_set(&fx->content);
            bool about = fx->type >= 0 || fx->mode >= 0 || fx->owner || fx->group;
            if (fx->exists == 0 && (has_content || about))
                return cln_spec_err_at(L, f->pos, err,
                                       "%s: \"exists = false\" contradicts the other expectations",
                                       iw);
            if (has_content && fx->type >= 0 && fx->type != CLN_FILE_REGULAR)
                return cln_spec_err_at(L, cln_toml_table_find(f, "type")->pos, err,
                                       "%s: a content expectation needs type = \"file\"", iw);
            if (fx->exists == -1 && !has_content)
                fx->exists = 1;
        }
    }
    return 0;
}

/* ---- [[steps]] ---- */

int cln_spec_load_steps(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                        const char *default_service, const char *default_image,
                        struct cln_error **err)
{
    tv *steps = NULL;
    const struct cln_toml_entry *se = cln_toml_table_find(root, "steps");
    if (!se)
        return cln_spec_err_at(L, (struct cln_toml_pos){1, 1}, err,
                               "the test has no steps (add [[steps]] with a \"run\" command)");
    if (se->value->type != CLN_TOML_ARRAY)
        return cln_spec_err_at(
            L, se->value->pos, err, "\"steps\" must be an array of tables ([[steps]]), not %s %s",
            cln_spec_type_article(se->value->type), cln_toml_type_name(se->value->type));
    steps = se->value;
    size_t n = cln_toml_array_len(steps);
    if (n == 0)
        return cln_spec_err_at(L, se->pos, err, "the test has no steps");
    t->steps = cln_xcalloc(n, sizeof(*t->steps));
    for (size_t i = 0; i < n; i++) {
        tv *st = cln_toml_array_at(steps, i);
        char where[64];
        snprintf(where, sizeof(where), "steps[%zu]", i);
        int r = cln_spec_want_type(L, st, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CLN_SPEC_CHECK_KEYS(L, st, where, err, "name", "service", "image", "run", "env",
                                    "workdir", "user", "stdin", "timeout", "retries",
                                    "retry_interval", "continue_on_failure", "network", "memory",
                                    "pids", "privileged", "host_network", "host_pid", "outbound",
                                    "mounts", "expect", "files", "volumes", "tmpfs", "artifacts");
        if (r < 0)
            return r;
        struct cln_spec_step *s = &t->steps[t->nsteps++];
        s->line = st->pos.line;
        s->image_idx = -1;
        if ((r = cln_spec_get_str(L, st, "name", where, &s->name, err)) < 0)
            return r;
        if (!s->name)
            s->name = cln_xasprintf("step %zu", i + 1);
        char *img = NULL;
        if ((r = cln_spec_get_str(L, st, "service", where, &s->service, err)) < 0 ||
            (r = cln_spec_get_str(L, st, "image", where, &img, err)) < 0)
            return r;
        if (s->service && img) {
            free(img);
            return cln_spec_err_at(
                L, st->pos, err,
                "%s: give \"service\" (exec in a running service) or \"image\" (a "
                "fresh container), not both",
                where);
        }
        if (!s->service && !img) {
            if (default_service)
                s->service = cln_xstrdup(default_service);
            else if (default_image)
                img = cln_xstrdup(default_image);
            else {
                return cln_spec_err_at(
                    L, st->pos, err,
                    "%s: where does it run? Give \"service\" or \"image\", or set "
                    "[test] default_service / default_image",
                    where);
            }
        }
        if (s->service) {
            bool found = false;
            const char *names[64];
            size_t nn = 0;
            for (size_t k = 0; k < t->nservices; k++) {
                found = found || strcmp(t->services[k].name, s->service) == 0;
                if (nn < 64)
                    names[nn++] = t->services[k].name;
            }
            if (!found) {
                const struct cln_toml_entry *sv = cln_toml_table_find(st, "service");
                const char *sg = cln_spec_suggest(s->service, names, nn);
                return cln_spec_err_at(L, sv ? sv->value->pos : st->pos, err,
                                       "%s.service: no service \"%s\" in [services]%s%s%s", where,
                                       s->service, sg ? " (did you mean \"" : "", sg ? sg : "",
                                       sg ? "\"?)" : "");
            }
        } else {
            const struct cln_toml_entry *iv = cln_toml_table_find(st, "image");
            r = cln_spec_resolve_image(L, t, iv ? iv->value : st, img, where, &s->image,
                                       &s->image_idx, err);
            free(img);
            if (r < 0)
                return r;
        }
        const struct cln_toml_entry *run = cln_toml_table_find(st, "run");
        if (!run)
            return cln_spec_err_at(L, st->pos, err, "%s: \"run\" is required (a command)", where);
        if (run->value->type == CLN_TOML_STRING) {
            char *cmd = NULL;
            if ((r = cln_spec_interp(L, run->value, "run", &cmd, err)) < 0)
                return r;
            if (!cmd || !cmd[strspn(cmd, " \t\n")]) {
                free(cmd);
                return cln_spec_err_at(L, run->value->pos, err, "%s.run: empty command", where);
            }
            s->shell = true;
            cln_strv_push(&s->argv, cln_xstrdup("sh"));
            cln_strv_push(&s->argv, cln_xstrdup("-c"));
            cln_strv_push(&s->argv, cmd);
        } else if (run->value->type == CLN_TOML_ARRAY) {
            if ((r = cln_spec_get_strv(L, st, "run", where, &s->argv, err)) < 0)
                return r;
            if (s->argv.n == 0)
                return cln_spec_err_at(L, run->value->pos, err, "%s.run: empty command", where);
        } else {
            return cln_spec_err_at(
                L, run->value->pos, err,
                "%s.run must be an array (argv, run exactly) or a string (run by sh "
                "-c in the container), not %s %s",
                where, cln_spec_type_article(run->value->type),
                cln_toml_type_name(run->value->type));
        }
        int64_t retries = 0;
        if ((r = cln_spec_get_env(L, st, "env", where, &s->env, err)) < 0 ||
            (r = cln_spec_get_str(L, st, "workdir", where, &s->workdir, err)) < 0 ||
            (r = cln_spec_get_str(L, st, "user", where, &s->user, err)) < 0 ||
            (r = cln_spec_get_str(L, st, "stdin", where, &s->stdin_text, err)) < 0 ||
            (r = cln_spec_get_limit(L, st, "timeout", where, &s->timeout_ms, err)) < 0 ||
            (r = cln_spec_get_int(L, st, "retries", where, 0, 100, &retries, err)) < 0 ||
            (r = cln_spec_get_duration(L, st, "retry_interval", where, &s->retry_interval_ms,
                                       err)) < 0 ||
            (r = cln_spec_get_bool(L, st, "continue_on_failure", where, &s->continue_on_failure,
                                   err)) < 0 ||
            (r = cln_spec_get_bool(L, st, "network", where, &s->network, err)) < 0)
            return r;
        s->retries = (int)retries;
        static const char *const fresh_only[] = {
            "network",  "memory", "pids",  "privileged", "host_network", "host_pid",
            "outbound", "mounts", "files", "volumes",    "tmpfs"};
        for (size_t k = 0; s->service && k < sizeof(fresh_only) / sizeof(fresh_only[0]); k++)
            if (cln_toml_table_find(st, fresh_only[k]))
                return cln_spec_err_at(
                    L, cln_toml_table_find(st, fresh_only[k])->pos, err,
                    "%s.%s only applies to steps in a fresh container (\"image\"); a "
                    "service step runs in the service's container (set it on the "
                    "service)",
                    where, fresh_only[k]);
        if ((r = cln_spec_get_memory(L, st, where, &s->memory, err)) < 0 ||
            (r = cln_spec_get_int(L, st, "pids", where, 1, 1 << 22, &s->pids, err)) < 0 ||
            (r = cln_spec_load_privs(L, st, where, &s->privs, t, err)) < 0 ||
            (r = cln_spec_load_files(L, t, st, where, true, &s->files, &s->nfiles, err)) < 0 ||
            (r = cln_spec_load_mounts(L, st, where, t, &s->privs, &s->data, err)) < 0 ||
            (r = cln_spec_load_artifacts(L, st, where, &s->artifacts, err)) < 0)
            return r;
        if (s->network && s->privs.host_network)
            return cln_spec_err_at(
                L, cln_toml_table_find(st, "host_network")->pos, err,
                "%s: network (the test network) and host_network exclude each other", where);
        if (!retries && cln_toml_table_find(st, "retry_interval"))
            return cln_spec_err_at(L, cln_toml_table_find(st, "retry_interval")->pos, err,
                                   "%s.retry_interval without retries", where);
        if (retries && !s->retry_interval_ms)
            s->retry_interval_ms = 500;
        if ((r = load_expect(L, st, where, &s->expect, err)) < 0)
            return r;
    }
    return 0;
}
