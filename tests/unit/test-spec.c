/* Unit tests of the spec loader: the corpus of broken specs (each must be
 * rejected at the position its header names, with that message), the
 * examples in specs/, matrix expansion, discovery, did-you-mean. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
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

/* ---- consent for host files and host paths ---- */

static char tmpdir[64];

static void mkspec(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void mktmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cleanrun-consent-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rmtmp(void)
{
    sh("rm -rf %s", tmpdir);
}

#define FILE_SPEC(src)                                                                             \
    "[test]\nname = \"f\"\n[services.s]\nimage = \"localhost/x:1\"\nfiles = [{ path = \"/a\", "    \
    "source = " src " }]\n[[steps]]\nservice = \"s\"\nrun = [\"true\"]\n"

/* Load the spec; 0 and the set, or -1 and the rendered error in *msg. */
static int load(const char *name, unsigned allow, struct cln_spec_set *set, char **msg)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    struct cln_load_options lo = {.allow = allow};
    struct cln_error *err = NULL;
    int r = cln_spec_load_file(path, &lo, set, &err);
    if (r == 0)
        r = cln_spec_check_allowed(set, allow, &err);
    if (r < 0) {
        *msg = cln_error_render(err);
        cln_error_free(err);
        return -1;
    }
    *msg = NULL;
    return 0;
}

Test(consent, a_source_inside_the_spec_directory_is_read, .init = mktmp, .fini = rmtmp)
{
    sh("mkdir -p %s/sub && echo inside > %s/sub/data.txt", tmpdir, tmpdir);
    mkspec("a.cleanrun.toml", FILE_SPEC("\"sub/data.txt\""));
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load("a.cleanrun.toml", 0, &set, &m), 0, "%s", m);
    cr_assert_eq(set.tests[0].services[0].files[0].len, 7);
    cr_assert_eq(memcmp(set.tests[0].services[0].files[0].data, "inside\n", 7), 0);
    cln_spec_set_done(&set);
}

/* files[].source outside the spec's directory: an absolute path, a ../
 * escape, a symlink out: each needs --allow-host-files, with its place and
 * where it really leads (this code once copied /etc/shadow into a
 * container). */
Test(consent, a_source_outside_the_spec_directory_needs_its_flag, .init = mktmp, .fini = rmtmp)
{
    sh("mkdir -p %s/in && echo out > %s/outside.txt && ln -s /etc/hostname %s/in/link", tmpdir,
       tmpdir, tmpdir);
    mkspec("abs.cleanrun.toml", FILE_SPEC("\"/etc/hostname\""));
    sh("cp %s/abs.cleanrun.toml %s/in/ && true", tmpdir, tmpdir);
    mkspec("in/dotdot.cleanrun.toml", FILE_SPEC("\"../outside.txt\""));
    mkspec("in/link.cleanrun.toml", FILE_SPEC("\"link\""));
    static const char *const specs[] = {"abs.cleanrun.toml", "in/dotdot.cleanrun.toml",
                                        "in/link.cleanrun.toml"};
    char *real_hostname = realpath("/etc/hostname", NULL);
    for (size_t i = 0; i < 3; i++) {
        struct cln_spec_set set = {0};
        char *m = NULL;
        cr_assert_eq(load(specs[i], 0, &set, &m), -1, "%s was accepted", specs[i]);
        cr_assert(strstr(m, ":5:34: services.s.files[0].source") && strstr(m, "is the host file") &&
                      strstr(m, "outside the spec's directory") &&
                      strstr(m, "needs --allow-host-files"),
                  "%s: %s", specs[i], m);
        cr_assert(i == 1 || strstr(m, real_hostname), "%s: %s", specs[i], m);
        /* not even read: nothing of it is in the spec */
        cr_assert_eq(set.n ? set.tests[0].services[0].files[0].len : 0, 0);
        free(m);
        cln_spec_set_done(&set);
        /* with the flag, it is the user's to give */
        cr_assert_eq(load(specs[i], CLN_ALLOW_HOST_FILES, &set, &m), 0, "%s: %s", specs[i], m);
        cr_assert_gt(set.tests[0].services[0].files[0].len, 0);
        cln_spec_set_done(&set);
    }
    free(real_hostname);
}

/* Never a file to copy, flag or not: /proc and /sys (this code once
 * leaked a host variable through /proc/self/environ), a directory, and a
 * FIFO (which blocked validate forever). */
Test(consent, pseudo_files_fifos_and_directories_are_refused, .init = mktmp, .fini = rmtmp,
     .timeout = 10)
{
    sh("mkfifo %s/fifo && mkdir %s/dir", tmpdir, tmpdir);
    mkspec("environ.cleanrun.toml", FILE_SPEC("\"/proc/self/environ\""));
    mkspec("fifo.cleanrun.toml", FILE_SPEC("\"fifo\""));
    mkspec("dir.cleanrun.toml", FILE_SPEC("\"dir\""));
    static const struct {
        const char *spec, *why;
    } cases[] = {{"environ.cleanrun.toml", "is in /proc or /sys"},
                 {"fifo.cleanrun.toml", "is not a regular file"},
                 {"dir.cleanrun.toml", "is not a regular file"}};
    for (size_t i = 0; i < 3; i++) {
        struct cln_spec_set set = {0};
        char *m = NULL;
        cr_assert_eq(load(cases[i].spec, CLN_ALLOW_HOST_FILES, &set, &m), -1, "%s accepted",
                     cases[i].spec);
        cr_assert(strstr(m, ":5:34: services.s.files[0].source") && strstr(m, cases[i].why),
                  "%s: %s", cases[i].spec, m);
        free(m);
        cln_spec_set_done(&set);
    }
}

/* A mount source is canonicalised before the engine-socket check (this
 * code once let /var/./run, /proc/1/root, a symlink to /var/run and a
 * directory holding a socket through with --allow-host-mounts alone). */
Test(consent, a_mount_that_holds_a_socket_needs_the_engine_socket_flag, .init = mktmp,
     .fini = rmtmp)
{
    sh("ln -s /var/run %s/run-link && mkdir -p %s/sockdir/deep %s/plain", tmpdir, tmpdir, tmpdir);
    char sock[256];
    snprintf(sock, sizeof(sock), "%s/sockdir/deep/some.sock", tmpdir);
    sh("python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' %s", sock);
    char link[128], sockdir[128], plain[128];
    snprintf(link, sizeof(link), "%s/run-link", tmpdir);
    snprintf(sockdir, sizeof(sockdir), "%s/sockdir", tmpdir);
    snprintf(plain, sizeof(plain), "%s/plain", tmpdir);
    /* /proc/1/root is "/" where it can be read (here, in a VM, it is
     * refused: Permission denied, which refuses the spec as well) */
    char *root = realpath("/proc/1/root", NULL);
    const char *const sources[] = {"/var/./run", link, sockdir, root ? "/proc/1/root" : NULL};
    free(root);
    for (size_t i = 0; i < 4 && sources[i]; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "[test]\nname = \"m\"\n[[steps]]\nimage = \"localhost/x:1\"\nrun = "
                 "[\"true\"]\nmounts = [{ source = \"%s\", target = \"/m\" }]\n",
                 sources[i]);
        mkspec("m.cleanrun.toml", text);
        struct cln_spec_set set = {0};
        char *m = NULL;
        cr_assert_eq(load("m.cleanrun.toml", CLN_ALLOW_HOST_MOUNTS, &set, &m), -1,
                     "%s passed with --allow-host-mounts alone", sources[i]);
        cr_assert(strstr(m, ":6:22: steps[0].mounts[0] hands the container") &&
                      strstr(m, "needs --allow-engine-socket"),
                  "%s: %s", sources[i], m);
        if (i == 2)
            cr_assert(strstr(m, sock), "names the socket: %s", m);
        free(m);
        cln_spec_set_done(&set);
        cr_assert_eq(
            load("m.cleanrun.toml", CLN_ALLOW_HOST_MOUNTS | CLN_ALLOW_ENGINE_SOCKET, &set, &m), 0,
            "%s: %s", sources[i], m);
        /* the engine gets the canonical path */
        char *real = realpath(sources[i], NULL);
        cr_assert_str_eq(set.tests[0].steps[0].privs.mounts[0].source, real);
        free(real);
        cln_spec_set_done(&set);
    }
    char text[512];
    snprintf(text, sizeof(text),
             "[test]\nname = \"m\"\n[[steps]]\nimage = \"localhost/x:1\"\nrun = "
             "[\"true\"]\nmounts = [{ source = \"%s\", target = \"/m\" }]\n",
             plain);
    mkspec("m.cleanrun.toml", text);
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load("m.cleanrun.toml", CLN_ALLOW_HOST_MOUNTS, &set, &m), 0, "%s", m);
    cln_spec_set_done(&set);
}

/* Two links to "." once made discovery spin forever, and a link to ".."
 * made a spec load twice ("test name is also used"). */
Test(consent, discovery_enters_each_directory_once_and_stays_in_the_tree, .init = mktmp,
     .fini = rmtmp, .timeout = 10)
{
    sh("mkdir -p %s/tree/sub && ln -s . %s/tree/sub/again && ln -s . %s/tree/sub/more", tmpdir,
       tmpdir, tmpdir);
    sh("ln -s .. %s/tree/sub/up && ln -s /etc %s/tree/etc-link && mkdir -p %s/other", tmpdir,
       tmpdir, tmpdir);
    sh("ln -s %s/other %s/tree/out", tmpdir, tmpdir);
    mkspec("tree/sub/a.cleanrun.toml", FILE_SPEC("\"a.cleanrun.toml\""));
    mkspec("other/b.cleanrun.toml", "[test]\nname = \"b\"\n[[steps]]\nimage = \"x:1\"\nrun = "
                                    "[\"true\"]\n");
    char root[128];
    snprintf(root, sizeof(root), "%s/tree", tmpdir);
    const char *paths[] = {root};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_eq(cln_spec_load_paths(paths, 1, NULL, &set, &err), 0, "%s", err ? err->msg : "");
    cr_assert_eq(set.n, 1, "a link out of the tree is not followed, a loop is entered once");
    cr_assert_str_eq(set.tests[0].name, "f");
    cln_spec_set_done(&set);
}

/* The same spec named twice, or a directory and a file in it: loaded once. */
Test(consent, a_spec_named_twice_is_loaded_once, .init = mktmp, .fini = rmtmp)
{
    sh("mkdir -p %s/d", tmpdir);
    mkspec("d/a.cleanrun.toml", FILE_SPEC("\"a.cleanrun.toml\""));
    char dir[128], file[160], again[200];
    snprintf(dir, sizeof(dir), "%s/d", tmpdir);
    snprintf(file, sizeof(file), "%s/d/a.cleanrun.toml", tmpdir);
    snprintf(again, sizeof(again), "%s/d/../d/./a.cleanrun.toml", tmpdir);
    const char *paths[] = {dir, file, again};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_eq(cln_spec_load_paths(paths, 3, NULL, &set, &err), 0, "%s", err ? err->msg : "");
    cr_assert_eq(set.n, 1);
    cln_spec_set_done(&set);
}

/* validate reports every unknown key and type error of a file, once each. */
Test(consent, every_key_and_type_error_of_a_file_is_reported, .init = mktmp, .fini = rmtmp)
{
    mkspec("m.cleanrun.toml",
           "[test]\nname = \"x\"\ntimout = \"5s\"\n[services.s]\nimgae = \"a:b\"\n"
           "[[steps]]\nimage = \"a:b\"\nrnu = [\"true\"]\nretries = \"3\"\n");
    char path[128];
    snprintf(path, sizeof(path), "%s/m.cleanrun.toml", tmpdir);
    const char *paths[] = {path};
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_lt(cln_spec_load_paths(paths, 1, NULL, &set, &err), 0);
    static const char *const want[] = {
        ":9:11: steps[0].retries must be an integer", ":8:1: unknown key \"rnu\" in steps[0]",
        ":5:1: unknown key \"imgae\" in services.s", ":3:1: unknown key \"timout\" in [test]"};
    size_t i = 0;
    for (const struct cln_error *e = err; e; e = e->cause, i++) {
        cr_assert_lt(i, 4, "more errors than mistakes: %s", e->msg);
        cr_assert(strstr(e->msg, want[i]), "error %zu: %s", i, e->msg);
    }
    cr_assert_eq(i, 4);
    cln_error_free(err);
    cln_spec_set_done(&set);
}
