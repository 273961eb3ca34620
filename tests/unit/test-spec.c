/* Unit tests of the spec loader: the corpus of broken specs (each must be
 * rejected at the position its header names, with that message), the
 * examples in specs/, matrix expansion, discovery, did-you-mean. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/spec.h"
#include "runtime/base/error.h"

#define INVALID_DIR "tests/specs/invalid"

Test(spec, every_broken_spec_is_rejected_at_its_position)
{
    DIR *d = opendir(INVALID_DIR);
    cr_assert_not_null(d, "cannot open %s (run from the repository root)", INVALID_DIR);
    struct dirent *de;
    size_t n = 0, bad = 0;
    char report[16384] = "";
    size_t ro = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".cleanrun.toml"))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", INVALID_DIR, de->d_name);
        FILE *f = fopen(path, "r");
        char header[512] = "";
        cr_assert(fgets(header, sizeof(header), f), "%s", path);
        fclose(f);
        header[strcspn(header, "\n")] = '\0';
        unsigned line = 0, col = 0;
        int off = 0;
        cr_assert_eq(sscanf(header, "# expect: %u:%u: %n", &line, &col, &off), 2,
                     "%s: no expect header", path);
        const char *fragment = header + off;
        struct cln_spec_set set = {0};
        struct cln_error *err = NULL;
        int r = cln_spec_load_file(path, NULL, &set, &err);
        cr_assert_lt(r, 0, "%s was accepted", path);
        cr_assert_eq(err->code, CLN_E_SPEC, "%s", path);
        char prefix[600];
        snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", path, line, col);
        if (strncmp(err->msg, prefix, strlen(prefix)) != 0 || !strstr(err->msg, fragment)) {
            bad++;
            if (ro < sizeof(report) - 1)
                ro += (size_t)snprintf(report + ro, sizeof(report) - ro,
                                       "\n%s: want %u:%u \"%s\"\n    got %s", de->d_name, line, col,
                                       fragment, err->msg);
        }
        cr_assert_eq(set.n, 0);
        cln_error_free(err);
        cln_spec_set_done(&set);
        n++;
    }
    closedir(d);
    cr_assert_eq(bad, 0, "%zu of %zu broken specs not rejected as expected:%s", bad, n, report);
    cr_assert_geq(n, 50, "the corpus has only %zu broken specs", n);
}

Test(spec, the_examples_load)
{
    const char *paths[] = {"specs"};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    int r = cln_spec_load_paths(paths, 1, NULL, &set, &err);
    if (r < 0) {
        char *m = cln_error_render(err);
        cr_assert_fail("%s", m);
    }
    cr_assert_geq(set.n, 6);
    bool matrix = false, build = false, depends = false;
    for (size_t i = 0; i < set.n; i++) {
        const struct cln_spec_test *t = &set.tests[i];
        cr_assert_gt(t->nsteps, 0);
        if (strcmp(t->name, "matrix-compression[codec=bzip2]") == 0) {
            matrix = true;
            cr_assert_str_eq(t->steps[0].name, "round trip through bzip2");
            cr_assert_str_eq(t->steps[0].argv.v[2],
                             "echo 'the quick brown fox jumps over the lazy dog' | bzip2 -c | "
                             "bzip2 -dc");
            cr_assert_str_eq(t->matrix.items[0].value, "bzip2");
        }
        for (size_t k = 0; k < t->nimages; k++)
            if (t->images[k].dockerfile) {
                build = true;
                cr_assert(strncmp(t->images[k].ref, "localhost/cleanrun/spec-tool:", 29) == 0, "%s",
                          t->images[k].ref);
            }
        if (strcmp(t->name, "depends-on") == 0) {
            depends = true;
            cr_assert_eq(t->max_level, 2);
            for (size_t k = 0; k < t->nservices; k++) {
                const struct cln_spec_service *s = &t->services[k];
                int want = strcmp(s->name, "store") == 0    ? 0
                           : strcmp(s->name, "mirror") == 0 ? 1
                                                            : 2;
                cr_assert_eq(s->level, want, "%s at level %d", s->name, s->level);
            }
        }
    }
    cr_assert(matrix && build && depends);
    cln_spec_set_done(&set);
}

Test(spec, discovery_takes_only_spec_files_in_sorted_order)
{
    const char *paths[] = {"tests/specs/discovery"};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_eq(cln_spec_load_paths(paths, 1, NULL, &set, &err), 0);
    cr_assert_eq(set.n, 2, "Cargo.toml and config.toml are not specs");
    cr_assert_str_eq(set.tests[0].name, "found-nested");
    cr_assert_str_eq(set.tests[1].name, "found-top");
    cln_spec_set_done(&set);
    const char *empty[] = {"tests/specs/discovery/nested/.."};
    (void)empty;
    const char *none[] = {"docs"};
    cr_assert_lt(cln_spec_load_paths(none, 1, NULL, &set, &err), 0);
    cr_assert(strstr(err->msg, "no spec files (named *.cleanrun.toml)"), "%s", err->msg);
    cln_error_free(err);
    err = NULL;
    const char *missing[] = {"no/such/dir"};
    cr_assert_lt(cln_spec_load_paths(missing, 1, NULL, &set, &err), 0);
    cr_assert_eq(err->sys_errno, ENOENT);
    cln_error_free(err);
    cln_spec_set_done(&set);
}

Test(spec, all_errors_of_a_set_are_reported)
{
    const char *paths[] = {INVALID_DIR "/typo-step-key.cleanrun.toml",
                           INVALID_DIR "/depends-on-cycle.cleanrun.toml"};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_lt(cln_spec_load_paths(paths, 2, NULL, &set, &err), 0);
    cr_assert(strstr(err->msg, "depends-on-cycle"), "%s", err->msg);
    cr_assert_not_null(err->cause);
    cr_assert(strstr(err->cause->msg, "typo-step-key"), "%s", err->cause->msg);
    cln_error_free(err);
    cln_spec_set_done(&set);
}

Test(spec, edit_distance)
{
    cr_assert_eq(cln_edit_distance("image", "imgae"), 1);
    cr_assert_eq(cln_edit_distance("run", "rnu"), 1);
    cr_assert_eq(cln_edit_distance("steps", "steps"), 0);
    cr_assert_eq(cln_edit_distance("", "abc"), 3);
    cr_assert_eq(cln_edit_distance("timeout", "timout"), 1);
}
