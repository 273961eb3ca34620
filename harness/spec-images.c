/* [images] (references and builds: a build's files, its FROM images and
 * its content hash), files[] of images and services, and image references
 * from services, steps and [test] default_image. */
#include "spec-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/base/buf.h"
#include "runtime/base/xalloc.h"

/* ---- files[] (build contexts and services' files) ---- */

int cln_spec_load_files(struct cln_spec_loader *L, struct cln_spec_test *test, tv *t,
                        const char *where, bool in_container, struct cln_spec_file_item **ret,
                        size_t *ret_n, struct cln_error **err)
{
    char what[160];
    tv *arr = NULL;
    int r =
        cln_spec_lookup(L, t, "files", where, CLN_TOML_ARRAY, NULL, what, sizeof(what), &arr, err);
    if (r <= 0)
        return r;
    r = 0; /* the items are read while none has failed */
    size_t n = cln_toml_array_len(arr);
    struct cln_spec_file_item *items = cln_xcalloc(n ? n : 1, sizeof(*items));
    size_t done = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        tv *f = cln_toml_array_at(arr, i);
        char fw[256];
        snprintf(fw, sizeof(fw), "%s[%zu]", what, i);
        r = cln_spec_want_type(L, f, CLN_TOML_TABLE, fw, err);
        if (r == 0)
            r = in_container
                    ? CLN_SPEC_CHECK_KEYS(L, f, fw, err, "path", "content", "source", "mode",
                                          "owner")
                    : CLN_SPEC_CHECK_KEYS(L, f, fw, err, "path", "content", "source", "mode");
        char *path = NULL, *content = NULL, *source = NULL, *owner = NULL;
        int64_t uid = 0, gid = 0;
        int64_t mode = 0;
        if (r == 0 && (r = cln_spec_get_str(L, f, "path", fw, &path, err)) == 0)
            r = cln_spec_err_at(L, f->pos, err, "%s: \"path\" is required", fw);
        if (r >= 0)
            r = cln_spec_get_str(L, f, "content", fw, &content, err);
        if (r >= 0)
            r = cln_spec_get_str(L, f, "source", fw, &source, err);
        if (r >= 0)
            r = cln_spec_get_int(L, f, "mode", fw, 0, 07777, &mode, err);
        if (r >= 0)
            r = cln_spec_get_str(L, f, "owner", fw, &owner, err);
        if (r >= 0 && owner && cln_spec_parse_owner(owner, &uid, &gid) < 0)
            r = cln_spec_err_at(L, cln_toml_table_find(f, "owner")->value->pos, err,
                                "%s.owner \"%s\" is not \"uid[:gid]\" or \"user[:group]\"", fw,
                                owner);
        if (r >= 0 && !!content == !!source)
            r = cln_spec_err_at(L, f->pos, err, "%s: give exactly one of \"content\" or \"source\"",
                                fw);
        if (r >= 0 && !path)
            r = cln_spec_err_at(L, f->pos, err, "%s: \"path\" is required", fw);
        if (r >= 0 && path && in_container && path[0] != '/')
            r = cln_spec_err_at(L, f->pos, err,
                                "%s: path \"%s\" must be absolute (in the container)", fw, path);
        if (r >= 0 && path && (!*path || path[strlen(path) - 1] == '/'))
            r = cln_spec_err_at(L, cln_toml_table_find(f, "path")->value->pos, err,
                                "%s: path \"%s\" names a directory, not a file", fw, path);
        if (r >= 0 && path && !in_container && (path[0] == '/' || strstr(path, "..")))
            r = cln_spec_err_at(
                L, f->pos, err,
                "%s: path \"%s\" must be relative to the build context, without \"..\"", fw, path);
        if (r >= 0) {
            struct cln_spec_file_item *it = &items[done++];
            it->path = CLN_TAKE(path);
            it->mode = (uint32_t)mode;
            it->owner = CLN_TAKE(owner);
            it->uid = uid;
            it->gid = gid;
            if (content) {
                it->len = strlen(content);
                it->data = CLN_TAKE(content);
            } else if (source) {
                struct cln_buf b = CLN_BUF_INIT;
                uint32_t m = 0644;
                char sw[300];
                snprintf(sw, sizeof(sw), "%s.source", fw);
                int rr = cln_spec_read_source(L, test, cln_toml_table_find(f, "source")->value, sw,
                                              source, &b, &m, err);
                if (rr < 0) {
                    r = rr;
                    cln_buf_done(&b);
                } else {
                    it->len = b.len;
                    it->data = cln_buf_steal(&b);
                    if (!it->mode)
                        it->mode = m;
                }
            }
            r = r > 0 ? 0 : r;
        }
        free(path);
        free(content);
        free(source);
        free(owner);
    }
    *ret = items;
    *ret_n = done;
    return r < 0 ? r : 1;
}

/* ---- [images] ---- */

/* FNV-1a 64 over the inputs of a build. */
static void build_hash(struct cln_spec_image *im)
{
    uint64_t h = 1469598103934665603ULL;
#define MIX(p, n)                                                                                  \
    for (size_t k_ = 0; k_ < (n); k_++) {                                                          \
        h ^= ((const unsigned char *)(p))[k_];                                                     \
        h *= 1099511628211ULL;                                                                     \
    }
    MIX(im->dockerfile, strlen(im->dockerfile) + 1);
    MIX(&im->outbound, sizeof(im->outbound)); /* what RUN could reach changes what it made */
    for (size_t i = 0; i < im->nfiles; i++) {
        MIX(im->files[i].path, strlen(im->files[i].path) + 1);
        MIX(&im->files[i].mode, sizeof(im->files[i].mode));
        MIX(im->files[i].data, im->files[i].len);
        MIX(&im->files[i].len, sizeof(im->files[i].len));
    }
#undef MIX
    snprintf(im->hash, sizeof(im->hash), "%016llx", (unsigned long long)h);
}

/* The images a Dockerfile builds FROM (not its own stages), for the
 * build's hash: a new image under the same tag must make a new build. */
static void dockerfile_bases(struct cln_spec_image *im)
{
    cleanup_strv struct cln_strv stages = {0};
    for (const char *p = im->dockerfile; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1),
                 p);
        p += len + (nl ? 1 : 0);
        char *w[8];
        size_t nw = 0;
        for (char *tok = line; nw < 8;) {
            while (*tok == ' ' || *tok == '\t' || *tok == '\r')
                tok++;
            if (!*tok)
                break;
            w[nw++] = tok;
            while (*tok && *tok != ' ' && *tok != '\t' && *tok != '\r')
                tok++;
            if (*tok)
                *tok++ = '\0';
        }
        if (nw < 2 || strcasecmp(w[0], "FROM") != 0)
            continue;
        size_t k = 1;
        while (k < nw && strncmp(w[k], "--", 2) == 0)
            k++; /* --platform=... */
        if (k >= nw)
            continue;
        bool stage = false;
        for (size_t i = 0; i < stages.n && !stage; i++)
            stage = strcasecmp(stages.v[i], w[k]) == 0;
        if (!stage) {
            cln_strv_add(&im->bases, w[k]);
        }
        if (k + 2 < nw && strcasecmp(w[k + 1], "AS") == 0) {
            cln_strv_add(&stages, w[k + 2]);
        }
    }
}

int cln_spec_load_images(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                         struct cln_error **err)
{
    tv *imgs = NULL;
    int r = cln_toml_get_table(L->doc, root, "images", &imgs, err);
    if (r <= 0)
        return r;
    size_t n = cln_toml_table_len(imgs);
    t->images = cln_xcalloc(n ? n : 1, sizeof(*t->images));
    for (size_t i = 0; i < n; i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(imgs, i);
        char where[160];
        snprintf(where, sizeof(where), "images.%s", e->key);
        r = cln_spec_want_type(L, e->value, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CLN_SPEC_CHECK_KEYS(L, e->value, where, err, "ref", "pull", "dockerfile", "files",
                                    "outbound");
        if (r < 0)
            return r;
        struct cln_spec_image *im = &t->images[t->nimages++];
        im->name = cln_xstrdup(e->key);
        im->pull = CLN_PULL_IF_MISSING;
        char *pull = NULL;
        if ((r = cln_spec_get_str(L, e->value, "ref", where, &im->ref, err)) < 0 ||
            (r = cln_spec_get_str(L, e->value, "dockerfile", where, &im->dockerfile, err)) < 0 ||
            (r = cln_spec_get_str(L, e->value, "pull", where, &pull, err)) < 0)
            return r;
        if (pull) {
            const struct cln_toml_entry *pe = cln_toml_table_find(e->value, "pull");
            if (strcmp(pull, "never") == 0)
                im->pull = CLN_PULL_NEVER;
            else if (strcmp(pull, "if-missing") == 0)
                im->pull = CLN_PULL_IF_MISSING;
            else if (strcmp(pull, "always") == 0)
                im->pull = CLN_PULL_ALWAYS;
            else
                r = cln_spec_err_at(
                    L, pe->value->pos, err,
                    "%s.pull: \"%s\" is not a pull policy (never, if-missing, always)", where,
                    pull);
            free(pull);
            if (r < 0)
                return r;
        }
        if (!!im->ref == !!im->dockerfile)
            return cln_spec_err_at(
                L, e->value->pos, err,
                "%s: give exactly one of \"ref\" (an image to use) or \"dockerfile\" "
                "(an image to build)",
                where);
        if (im->ref && cln_toml_table_find(e->value, "files"))
            return cln_spec_err_at(L, cln_toml_table_find(e->value, "files")->pos, err,
                                   "%s: \"files\" only goes with \"dockerfile\"", where);
        if (im->dockerfile && cln_toml_table_find(e->value, "pull"))
            return cln_spec_err_at(L, cln_toml_table_find(e->value, "pull")->pos, err,
                                   "%s: \"pull\" only goes with \"ref\"", where);
        r = cln_spec_load_files(L, t, e->value, where, false, &im->files, &im->nfiles, err);
        if (r < 0)
            return r;
        if ((r = cln_spec_get_bool(L, e->value, "outbound", where, &im->outbound, err)) < 0)
            return r;
        if (r > 0 && !im->dockerfile)
            return cln_spec_err_at(
                L, cln_toml_table_find(e->value, "outbound")->pos, err,
                "%s: \"outbound\" only goes with \"dockerfile\" (a build's RUN steps)", where);
        if (im->outbound)
            cln_spec_add_use(
                t, CLN_ALLOW_OUTBOUND, cln_toml_table_find(e->value, "outbound")->pos,
                cln_xasprintf("%s.outbound = true (the build's RUN steps reach the network)",
                              where));
        if (im->dockerfile)
            dockerfile_bases(im);
        if (im->dockerfile) {
            build_hash(im);
            im->ref = cln_xasprintf("localhost/cleanrun/spec-%s:%s", im->name, im->hash);
            for (char *c = im->ref; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
        }
    }
    return 0;
}

static int find_image(const struct cln_spec_test *t, const char *name)
{
    for (size_t i = 0; i < t->nimages; i++)
        if (strcmp(t->images[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* image = "name" (an [images] key) or a literal reference (with ':' or '/'). */
int cln_spec_resolve_image(struct cln_spec_loader *L, struct cln_spec_test *t, tv *v,
                           const char *ref, const char *what, char **ret, int *ret_idx,
                           struct cln_error **err)
{
    int idx = find_image(t, ref);
    if (idx >= 0) {
        *ret = cln_xstrdup(t->images[idx].ref);
        *ret_idx = idx;
        return 0;
    }
    if (!strchr(ref, ':') && !strchr(ref, '/') && !strchr(ref, '@')) {
        const char *names[64];
        size_t n = 0;
        for (size_t i = 0; i < t->nimages && n < 64; i++)
            names[n++] = t->images[i].name;
        const char *s = cln_spec_suggest(ref, names, n);
        return cln_spec_err_at(
            L, v->pos, err,
            "%s: no image \"%s\" in [images]%s%s%s (a literal reference needs a tag, "
            "e.g. \"%s:latest\")",
            what, ref, s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "", ref);
    }
    *ret = cln_xstrdup(ref);
    *ret_idx = -1;
    return 0;
}
