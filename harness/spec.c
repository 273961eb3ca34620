/* The spec loader: TOML tree -> tests, with every check done up front.
 *
 * This file loads one file (the schema walk, then the checks of meaning),
 * one test of it, and frees the model.  The sections are in spec-*.c
 * (spec-internal.h); discovery of spec files in spec-discover.c. */
#include "spec-internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "spec-schema.h"

/* ---- one test (one matrix combination) ---- */

int cln_spec_load_test(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                       struct cln_error **err)
{
    tv *test = NULL;
    int r = cln_toml_get_table(L->doc, root, "test", &test, err);
    if (r < 0)
        return r;
    if (r == 0)
        return cln_spec_err_at(L, (struct cln_toml_pos){1, 1}, err,
                               "no [test] table (a spec needs [test] with a name, and [[steps]])");
    if ((r = CLN_SPEC_CHECK_KEYS(L, test, "[test]", err, "name", "description", "tags", "timeout",
                                 "host_env", "default_service", "default_image")) < 0)
        return r;
    t->file = cln_xstrdup(L->path);
    t->line = cln_toml_table_find(root, "test")->pos.line;
    char *name = NULL, *dsvc = NULL, *dimg = NULL;
    if ((r = cln_spec_get_str(L, test, "name", "test", &name, err)) < 0)
        return r;
    if (r == 0)
        return cln_spec_err_at(L, cln_toml_table_find(root, "test")->pos, err,
                               "[test] needs a \"name\"");
    if (!*name) {
        free(name);
        return cln_spec_err_at(L, cln_toml_table_find(test, "name")->value->pos, err,
                               "test.name is empty");
    }
    if (L->matrix.len) {
        struct cln_buf b = CLN_BUF_INIT;
        cln_buf_printf(&b, "%s[", name);
        for (size_t i = 0; i < L->matrix.len; i++)
            cln_buf_printf(&b, "%s%s=%s", i ? "," : "", L->matrix.items[i].key,
                           L->matrix.items[i].value);
        cln_buf_putc(&b, ']');
        free(name);
        name = cln_buf_steal(&b);
        for (size_t i = 0; i < L->matrix.len; i++)
            cln_labels_set(&t->matrix, L->matrix.items[i].key, L->matrix.items[i].value);
    }
    t->name = name;
    if ((r = cln_spec_get_str(L, test, "description", "test", &t->description, err)) < 0 ||
        (r = cln_spec_get_strv(L, test, "tags", "test", &t->tags, err)) < 0 ||
        (r = cln_spec_get_limit(L, test, "timeout", "test", &t->timeout_ms, err)) < 0 ||
        (r = cln_spec_get_str(L, test, "default_service", "test", &dsvc, err)) < 0 ||
        (r = cln_spec_get_str(L, test, "default_image", "test", &dimg, err)) < 0)
        goto out;
    if (dsvc && dimg) {
        r = cln_spec_err_at(L, cln_toml_table_find(test, "default_image")->pos, err,
                            "[test]: give default_service or default_image, not both");
        goto out;
    }
    if ((r = cln_spec_load_images(L, root, t, err)) < 0 ||
        (r = cln_spec_load_volumes(L, root, t, err)) < 0 ||
        (r = cln_spec_load_services(L, root, t, err)) < 0)
        goto out;
    if (dsvc) {
        bool found = false;
        for (size_t i = 0; i < t->nservices; i++)
            found = found || strcmp(t->services[i].name, dsvc) == 0;
        if (!found) {
            r = cln_spec_err_at(L, cln_toml_table_find(test, "default_service")->value->pos, err,
                                "test.default_service: no service \"%s\" in [services]", dsvc);
            goto out;
        }
    }
    if (dimg) {
        char *ref = NULL;
        int idx;
        r = cln_spec_resolve_image(L, t, cln_toml_table_find(test, "default_image")->value, dimg,
                                   "test.default_image", &ref, &idx, err);
        free(ref);
        if (r < 0)
            goto out;
    }
    r = cln_spec_load_steps(L, root, t, dsvc, dimg, err);
out:
    free(dsvc);
    free(dimg);
    return r < 0 ? r : 0;
}

/* ---- freeing ---- */

static void privs_done(struct cln_spec_privs *p)
{
    for (size_t i = 0; i < p->nmounts; i++) {
        free(p->mounts[i].source);
        free(p->mounts[i].target);
    }
    free(p->mounts);
}

static void files_done(struct cln_spec_file_item *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].path);
        free(f[i].data);
        free(f[i].owner);
    }
    free(f);
}

static void image_done(struct cln_spec_image *im)
{
    cln_strv_done(&im->bases);
    free(im->name);
    free(im->ref);
    free(im->dockerfile);
    files_done(im->files, im->nfiles);
}

static void mounts_done(struct cln_spec_mounts *m)
{
    for (size_t i = 0; i < m->nvolumes; i++) {
        free(m->volumes[i].volume);
        free(m->volumes[i].target);
    }
    free(m->volumes);
    for (size_t i = 0; i < m->ntmpfs; i++)
        free(m->tmpfs[i].target);
    free(m->tmpfs);
}

static void content_done(struct cln_content_expect *c)
{
    cln_strv_done(&c->regex);
    cln_strv_done(&c->not_regex);
    for (size_t i = 0; i < c->njson; i++) {
        free(c->json[i].path);
        free(c->json[i].equals);
        free(c->json[i].regex);
    }
    free(c->json);
}

static void stream_done(struct cln_stream_expect *s)
{
    free(s->equals);
    content_done(&s->content);
    cln_strv_done(&s->contains);
    cln_strv_done(&s->not_contains);
}

void cln_spec_test_done(struct cln_spec_test *t)
{
    free(t->name);
    free(t->file);
    free(t->description);
    cln_strv_done(&t->tags);
    cln_strv_done(&t->sources);
    cln_labels_done(&t->matrix);
    for (size_t i = 0; i < t->nimages; i++)
        image_done(&t->images[i]);
    free(t->images);
    for (size_t i = 0; i < t->nservices; i++) {
        struct cln_spec_service *s = &t->services[i];
        free(s->name);
        free(s->image);
        cln_strv_done(&s->command);
        cln_strv_done(&s->entrypoint);
        cln_labels_done(&s->env);
        files_done(s->files, s->nfiles);
        free(s->ports);
        free(s->user);
        free(s->workdir);
        mounts_done(&s->data);
        cln_strv_done(&s->artifacts);
        cln_strv_done(&s->depends_on);
        cln_strv_done(&s->aliases);
        cln_strv_done(&s->ready.exec);
        free(s->ready.log_regex);
        free(s->ready.http_path);
        free(s->ready.statuses);
        free(s->ready.body_regex);
        privs_done(&s->privs);
    }
    free(t->services);
    cln_strv_done(&t->volumes);
    for (size_t i = 0; i < t->nsteps; i++) {
        struct cln_spec_step *s = &t->steps[i];
        free(s->name);
        free(s->service);
        free(s->image);
        cln_strv_done(&s->argv);
        cln_labels_done(&s->env);
        free(s->workdir);
        free(s->user);
        free(s->stdin_text);
        free(s->expect.codes);
        stream_done(&s->expect.out);
        stream_done(&s->expect.err);
        for (size_t j = 0; j < s->expect.nfiles; j++) {
            free(s->expect.files[j].path);
            free(s->expect.files[j].owner);
            free(s->expect.files[j].group);
            free(s->expect.files[j].equals);
            content_done(&s->expect.files[j].content);
        }
        free(s->expect.files);
        privs_done(&s->privs);
        files_done(s->files, s->nfiles);
        mounts_done(&s->data);
        cln_strv_done(&s->artifacts);
    }
    free(t->steps);
    for (size_t i = 0; i < t->nuses; i++)
        free(t->uses[i].desc);
    free(t->uses);
    memset(t, 0, sizeof(*t));
}

void cln_spec_set_done(struct cln_spec_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        cln_spec_test_done(&set->tests[i]);
    free(set->tests);
    memset(set, 0, sizeof(*set));
}

/* ---- one file ---- */

int cln_spec_load_file(const char *path, const struct cln_load_options *opts,
                       struct cln_spec_set *set, struct cln_error **err)
{
    struct cln_spec_loader L;
    memset(&L, 0, sizeof(L));
    L.path = path;
    L.allow = opts ? opts->allow : 0;
    int r = cln_toml_parse_file(path, &L.doc, err);
    if (r < 0) {
        /* a TOML syntax error in a spec is a spec error (exit code 2) */
        if (r == -CLN_E_PARSE) {
            (*err)->code = CLN_E_SPEC;
            return -CLN_E_SPEC;
        }
        return r;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash == path ? 1 : (size_t)(slash - path); /* "/x.toml": "/" */
    L.dir = slash ? cln_xstrndup(path, dlen) : cln_xstrdup(".");
    L.real_dir = realpath(L.dir, NULL);
    if (!L.real_dir)
        L.real_dir = cln_xstrdup(L.dir);
    tv *root = cln_toml_root(L.doc);
    size_t before = set->n;
    /* every unknown key and wrongly typed value of the file at once; only
     * then the checks of meaning, which stop at the first */
    r = cln_spec_schema_check(L.doc, 100, err) ? -CLN_E_SPEC : 0;
    if (r == 0)
        r = CLN_SPEC_CHECK_KEYS(&L, root, "the spec (top level)", err, "test", "vars", "matrix",
                                "images", "volumes", "services", "steps");
    if (r == 0)
        r = cln_toml_get_table(L.doc, root, "services", &L.services_tbl, err);
    if (r >= 0)
        r = cln_spec_expand_matrix(&L, root, set, err);
    if (r < 0) {
        for (size_t i = before; i < set->n; i++)
            cln_spec_test_done(&set->tests[i]);
        set->n = before;
        /* TOML-level errors are spec errors too, for exit codes */
        if (*err && (*err)->code == CLN_E_PARSE)
            (*err)->code = CLN_E_SPEC;
        r = -CLN_E_SPEC;
    }
    cln_labels_done(&L.vars);
    cln_labels_done(&L.matrix);
    cln_strv_done(&L.host_env);
    free(L.dir);
    free(L.real_dir);
    cln_toml_free(L.doc);
    return r;
}
