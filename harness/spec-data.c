/* Where a test's data lives: [volumes] (named volumes shared by the
 * test's containers), the volumes and tmpfs mounts of services and
 * fresh-container steps, artifacts (paths copied out for --artifacts) and
 * the owner of copied files. */
#include "spec-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/xalloc.h"

/* Lower-case letters, digits, '-', '_': a volume's name is part of the
 * engine's name of it. */
static bool volume_name_ok(const char *n)
{
    if (!*n || strlen(n) > 64)
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return false;
    return true;
}

int cln_spec_load_volumes(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                          struct cln_error **err)
{
    tv *vols = NULL;
    int r = cln_toml_get_table(L->doc, root, "volumes", &vols, err);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < cln_toml_table_len(vols); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(vols, i);
        char where[160];
        snprintf(where, sizeof(where), "volumes.%s", e->key);
        if ((r = cln_spec_want_type(L, e->value, CLN_TOML_TABLE, where, err)) < 0)
            return r;
        if (cln_toml_table_len(e->value))
            return cln_spec_err_at(L, cln_toml_table_at(e->value, 0)->pos, err,
                                   "unknown key \"%s\" in %s: a volume takes no keys ([%s] "
                                   "declares it)",
                                   cln_toml_table_at(e->value, 0)->key, where, where);
        if (!volume_name_ok(e->key))
            return cln_spec_err_at(L, e->pos, err,
                                   "volume name \"%s\": use lower-case letters, digits, '-' and "
                                   "'_' (at most 64)",
                                   e->key);
        cln_strv_add(&t->volumes, e->key);
    }
    return 0;
}

/* An absolute path, without "." or ".." components, "//" or a trailing '/'
 * (dir_ok: a trailing '/' allowed, meaning a directory). */
static bool clean_abs_path(const char *p, bool dir_ok)
{
    if (p[0] != '/')
        return false;
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/' && !dir_ok)
        return false;
    for (const char *c = p; *c;) {
        const char *s = c + 1;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if ((len == 0 && e) || (len == 1 && s[0] == '.') ||
            (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            break;
        c = e;
    }
    return true;
}

/* A mount target: absolute, clean, not "/" nor under /.cleanrun. */
static int check_target(struct cln_spec_loader *L, tv *v, const char *what, const char *target,
                        struct cln_error **err)
{
    if (!clean_abs_path(target, false) || strcmp(target, "/") == 0)
        return cln_spec_err_at(L, v->pos, err,
                               "%s \"%s\" must be an absolute path in the container (not \"/\", "
                               "no \".\" or \"..\", no trailing '/')",
                               what, target);
    /* /.cleanrun, /.cleanrun-files, /.cleanrun-canary-*, /.cleanrun-stdin-* */
    if (strncmp(target, "/.cleanrun", 10) == 0 &&
        (!target[10] || target[10] == '/' || target[10] == '-'))
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\" is cleanrun's own", what, target);
    return 0;
}

static int add_target(struct cln_spec_loader *L, tv *v, const char *what, const char *target,
                      struct cln_strv *seen, struct cln_error **err)
{
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i], target) == 0)
            return cln_spec_err_at(L, v->pos, err, "%s: \"%s\" is mounted twice", what, target);
    cln_strv_add(seen, target);
    return 0;
}

static int load_volume_mounts(struct cln_spec_loader *L, tv *tbl, const char *where,
                              const struct cln_spec_test *t, struct cln_spec_mounts *m,
                              struct cln_strv *seen, struct cln_error **err)
{
    char what[200];
    tv *arr = NULL;
    int r = cln_spec_lookup(L, tbl, "volumes", where, CLN_TOML_ARRAY, NULL, what, sizeof(what),
                            &arr, err);
    if (r <= 0)
        return r;
    size_t n = cln_toml_array_len(arr);
    m->volumes = cln_xcalloc(n ? n : 1, sizeof(*m->volumes));
    for (size_t i = 0; i < n; i++) {
        tv *v = cln_toml_array_at(arr, i);
        char iw[260];
        snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
        if ((r = cln_spec_want_type(L, v, CLN_TOML_TABLE, iw, err)) < 0 ||
            (r = CLN_SPEC_CHECK_KEYS(L, v, iw, err, "volume", "target", "read_only")) < 0)
            return r;
        struct cln_spec_volume_mount *vm = &m->volumes[m->nvolumes++];
        if ((r = cln_spec_get_str(L, v, "volume", iw, &vm->volume, err)) < 0 ||
            (r = cln_spec_get_str(L, v, "target", iw, &vm->target, err)) < 0 ||
            (r = cln_spec_get_bool(L, v, "read_only", iw, &vm->read_only, err)) < 0)
            return r;
        if (!vm->volume || !vm->target)
            return cln_spec_err_at(L, v->pos, err, "%s: \"volume\" and \"target\" are required",
                                   iw);
        tv *vv = cln_toml_table_find(v, "volume")->value;
        bool known = false;
        for (size_t k = 0; k < t->volumes.n && !known; k++)
            known = strcmp(t->volumes.v[k], vm->volume) == 0;
        if (!known) {
            const char *sg =
                cln_spec_suggest(vm->volume, (const char *const *)t->volumes.v, t->volumes.n);
            return cln_spec_err_at(L, vv->pos, err,
                                   "%s.volume: no volume \"%s\" in [volumes]%s%s%s (declare it: "
                                   "[volumes.%s])",
                                   iw, vm->volume, sg ? " (did you mean \"" : "", sg ? sg : "",
                                   sg ? "\"?)" : "", vm->volume);
        }
        tv *tg = cln_toml_table_find(v, "target")->value;
        snprintf(iw + strlen(iw), sizeof(iw) - strlen(iw), ".target");
        if ((r = check_target(L, tg, iw, vm->target, err)) < 0 ||
            (r = add_target(L, tg, iw, vm->target, seen, err)) < 0)
            return r;
    }
    return 0;
}

static int load_tmpfs(struct cln_spec_loader *L, tv *tbl, const char *where,
                      struct cln_spec_mounts *m, struct cln_strv *seen, struct cln_error **err)
{
    char what[200];
    tv *arr = NULL;
    int r = cln_spec_lookup(L, tbl, "tmpfs", where, CLN_TOML_ARRAY, NULL, what, sizeof(what), &arr,
                            err);
    if (r <= 0)
        return r;
    size_t n = cln_toml_array_len(arr);
    m->tmpfs = cln_xcalloc(n ? n : 1, sizeof(*m->tmpfs));
    for (size_t i = 0; i < n; i++) {
        tv *v = cln_toml_array_at(arr, i);
        char iw[260];
        snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
        struct cln_spec_tmpfs *tf = &m->tmpfs[m->ntmpfs++];
        tv *tg = v;
        if (v->type == CLN_TOML_STRING) {
            if ((r = cln_spec_interp(L, v, iw, &tf->target, err)) < 0)
                return r;
        } else if (v->type == CLN_TOML_TABLE) {
            if ((r = CLN_SPEC_CHECK_KEYS(L, v, iw, err, "target", "size", "mode")) < 0 ||
                (r = cln_spec_get_str(L, v, "target", iw, &tf->target, err)) < 0)
                return r;
            if (!tf->target)
                return cln_spec_err_at(L, v->pos, err, "%s: \"target\" is required", iw);
            tg = cln_toml_table_find(v, "target")->value;
            char *size = NULL;
            if ((r = cln_spec_get_str(L, v, "size", iw, &size, err)) < 0)
                return r;
            if (size) {
                int64_t b = 0;
                bool ok = cln_spec_parse_size(size, &b) == 0 && b >= 4096;
                free(size);
                if (!ok)
                    return cln_spec_err_at(L, cln_toml_table_find(v, "size")->value->pos, err,
                                           "%s.size is not a size of at least 4KiB (e.g. "
                                           "\"64MiB\")",
                                           iw);
                tf->size = (uint64_t)b;
            }
            int64_t mode = 0;
            if ((r = cln_spec_get_int(L, v, "mode", iw, 1, 07777, &mode, err)) < 0)
                return r;
            tf->mode = (uint32_t)mode;
        } else {
            return cln_spec_err_at(L, v->pos, err,
                                   "%s must be a path or a table ({ target = ..., size = ... }), "
                                   "not %s %s",
                                   iw, cln_spec_type_article(v->type), cln_toml_type_name(v->type));
        }
        if ((r = check_target(L, tg, iw, tf->target, err)) < 0 ||
            (r = add_target(L, tg, iw, tf->target, seen, err)) < 0)
            return r;
    }
    return 0;
}

int cln_spec_load_mounts(struct cln_spec_loader *L, tv *tbl, const char *where,
                         const struct cln_spec_test *t, const struct cln_spec_privs *p,
                         struct cln_spec_mounts *m, struct cln_error **err)
{
    cleanup_strv struct cln_strv seen = {0};
    for (size_t i = 0; p && i < p->nmounts; i++) /* the host mounts' */
        cln_strv_add(&seen, p->mounts[i].target);
    int r = load_volume_mounts(L, tbl, where, t, m, &seen, err);
    if (r >= 0)
        r = load_tmpfs(L, tbl, where, m, &seen, err);
    return r < 0 ? r : 0;
}

int cln_spec_load_artifacts(struct cln_spec_loader *L, tv *tbl, const char *where,
                            struct cln_strv *ret, struct cln_error **err)
{
    int r = cln_spec_get_strv(L, tbl, "artifacts", where, ret, err);
    if (r <= 0)
        return r;
    tv *arr = cln_toml_table_find(tbl, "artifacts")->value;
    for (size_t i = 0; i < ret->n; i++) {
        const char *p = ret->v[i];
        if (!clean_abs_path(p, true) || strcmp(p, "/") == 0)
            return cln_spec_err_at(L, cln_toml_array_at(arr, i)->pos, err,
                                   "%s.artifacts[%zu] \"%s\" must be an absolute path in the "
                                   "container (a trailing '/' for a directory; not \"/\", no "
                                   "\".\" or \"..\")",
                                   where, i, p);
        for (size_t k = 0; k < i; k++)
            if (strcmp(ret->v[k], p) == 0)
                return cln_spec_err_at(L, cln_toml_array_at(arr, i)->pos, err,
                                       "%s.artifacts[%zu]: \"%s\" is listed twice", where, i, p);
    }
    return 1;
}

/* A user or group: a name ([a-z_][a-z0-9_.-]*, at most 32, a trailing '$'
 * allowed) or a number below 2^32-1.  *num the number, or -1 for a name. */
static bool id_ok(const char *s, size_t n, int64_t *num)
{
    if (!n || n > 32)
        return false;
    if (s[0] >= '0' && s[0] <= '9') {
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            v = v * 10 + (s[i] - '0');
            if (v >= 4294967295LL)
                return false;
        }
        *num = v;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i && c >= '0' && c <= '9') ||
                  (i && (c == '.' || c == '-')) || (i && i == n - 1 && c == '$') ||
                  (c >= 'A' && c <= 'Z');
        if (!ok)
            return false;
    }
    *num = -1;
    return true;
}

int cln_spec_parse_owner(const char *owner, int64_t *uid, int64_t *gid)
{
    const char *colon = strchr(owner, ':');
    size_t ul = colon ? (size_t)(colon - owner) : strlen(owner);
    if (!id_ok(owner, ul, uid))
        return -1;
    if (!colon) {
        /* a number alone: its group is the same number (as chown does not;
         * as Docker's --user does); a name: its primary group */
        *gid = *uid;
        return 0;
    }
    return id_ok(colon + 1, strlen(colon + 1), gid) ? 0 : -1;
}
