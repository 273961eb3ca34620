/* Finding spec files: the directory walk (hidden entries skipped, symlinks
 * followed only inside the tree, each directory entered once, so loops end),
 * sorting, one load per file however often it is named, and the errors of
 * every file chained in order. */
#include "spec-internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The directories a search has entered, by device and inode: a symlink
 * loop (two links to ".") is entered once. */
struct seen_dirs {
    dev_t *dev;
    ino_t *ino;
    size_t n, cap_dev, cap_ino;
};

static bool seen_before(struct seen_dirs *sd, const struct stat *st)
{
    for (size_t i = 0; i < sd->n; i++)
        if (sd->dev[i] == st->st_dev && sd->ino[i] == st->st_ino)
            return true;
    sd->dev = cln_xgrow(sd->dev, &sd->cap_dev, sd->n + 1, sizeof(dev_t));
    sd->ino = cln_xgrow(sd->ino, &sd->cap_ino, sd->n + 1, sizeof(ino_t));
    sd->dev[sd->n] = st->st_dev;
    sd->ino[sd->n] = st->st_ino;
    sd->n++;
    return false;
}

/* Collect spec files under dir (recursively), skipping hidden entries;
 * a symlink is followed only when it leads to a place inside the tree
 * (root, canonical), and each directory is entered once. */
static void find_specs(const char *dir, const char *root, struct seen_dirs *sd,
                       struct cln_strv *out, int depth)
{
    if (depth > 32)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    size_t rl = strlen(root);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = cln_xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        bool ok = lstat(p, &st) == 0;
        if (ok && S_ISLNK(st.st_mode)) {
            char *real = realpath(p, NULL);
            ok = real && strncmp(real, root, rl) == 0 &&
                 (real[rl] == '/' || real[rl] == '\0' || (rl == 1 && root[0] == '/')) &&
                 stat(real, &st) == 0;
            free(real);
        }
        if (ok && S_ISDIR(st.st_mode)) {
            if (!seen_before(sd, &st))
                find_specs(p, root, sd, out, depth + 1);
            free(p);
        } else if (ok && S_ISREG(st.st_mode) && has_suffix(de->d_name, CLN_SPEC_SUFFIX)) {
            cln_strv_push(out, p);
        } else {
            free(p);
        }
    }
    closedir(d);
}

int cln_spec_load_paths(const char *const *paths, size_t n, const struct cln_load_options *opts,
                        struct cln_spec_set *set, struct cln_error **err)
{
    struct cln_strv files = {0};
    struct cln_error *errs = NULL;
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            cln_error_set(&errs, CLN_E_SPEC, errno, "%s", paths[i]);
            nerr++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            struct cln_strv found = {0};
            char *root = realpath(paths[i], NULL);
            struct seen_dirs sd = {0};
            seen_before(&sd, &st);
            find_specs(paths[i], root ? root : paths[i], &sd, &found, 0);
            free(root);
            free(sd.dev);
            free(sd.ino);
            if (found.n)
                qsort(found.v, found.n, sizeof(char *), cmp_str);
            else {
                cln_error_set(&errs, CLN_E_SPEC, 0,
                              "%s: no spec files (named *" CLN_SPEC_SUFFIX ") in this directory",
                              paths[i]);
                nerr++;
            }
            for (size_t j = 0; j < found.n; j++)
                cln_strv_push(&files, CLN_TAKE(found.v[j]));
            cln_strv_done(&found);
        } else {
            /* An explicitly named file is loaded whatever its name. */
            cln_strv_push(&files, cln_xstrdup(paths[i]));
        }
    }
    /* the same file named twice, or a directory and a file in it: once */
    struct cln_strv reals = {0}; /* NULL where realpath failed */
    for (size_t i = 0; i < files.n; i++) {
        char *real = realpath(files.v[i], NULL);
        bool dup = real && cln_strv_contains(&reals, real);
        cln_strv_push(&reals, real);
        if (dup) {
            free(files.v[i]);
            files.v[i] = NULL;
        }
    }
    cln_strv_done(&reals);
    for (size_t i = 0; i < files.n; i++) {
        struct cln_error *e = NULL;
        if (!files.v[i])
            continue;
        if (cln_spec_load_file(files.v[i], opts, set, &e) < 0) {
            /* each of the file's errors on its own, in the file's order
             * (chains are newest outermost) */
            size_t depth = 0;
            for (const struct cln_error *l = e; l; l = l->cause)
                depth++;
            const struct cln_error **v = cln_xcalloc(depth, sizeof(const struct cln_error *));
            size_t k = depth;
            for (const struct cln_error *l = e; l; l = l->cause)
                v[--k] = l;
            for (k = 0; k < depth; k++)
                cln_error_set(&errs, CLN_E_SPEC, v[k]->sys_errno, "%s", v[k]->msg);
            free(v);
            cln_error_free(e);
            nerr++;
        }
    }
    cln_strv_done(&files);
    if (nerr) {
        *err = errs;
        return -CLN_E_SPEC;
    }
    return 0;
}
