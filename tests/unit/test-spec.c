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
    const char *none[] = {"harness/toml"};
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

/* ---- data: files on fresh steps, owners, volumes, tmpfs, artifacts,
 * user and workdir of services; regex arrays, not_regex, json; matrix
 * include and exclude ---- */

#define DATA_HEAD "[test]\nname = \"d\"\n"

/* Load text as d.cleanrun.toml: 0 and the set, or -1 and the message. */
static int load_text(const char *text, struct cln_spec_set *set, char **msg)
{
    mkspec("d.cleanrun.toml", text);
    return load("d.cleanrun.toml", 0, set, msg);
}

/* text must be refused with "PATH:want" at the start of its message. */
static void refused(const char *text, const char *want)
{
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load_text(text, &set, &m), -1, "accepted, want %s:\n%s", want, text);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "%s/d.cleanrun.toml:%s", tmpdir, want);
    cr_assert(strstr(m, prefix), "want\n  %s\ngot\n  %s\nof\n%s", prefix, m, text);
    free(m);
    cln_spec_set_done(&set);
}

Test(data, files_owners_mounts_artifacts_and_user_load, .init = mktmp, .fini = rmtmp)
{
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(
        load_text(DATA_HEAD
                  "[volumes.data]\n[volumes.cache-2]\n"
                  "[services.web]\nimage = \"localhost/x:1\"\nuser = \"app:staff\"\n"
                  "workdir = \"/srv\"\n"
                  "files = [{ path = \"/etc/a\", content = \"a\", owner = \"www-data\" }]\n"
                  "volumes = [{ volume = \"data\", target = \"/data\" }]\n"
                  "tmpfs = [\"/scratch\"]\nartifacts = [\"/var/log/app.log\", \"/srv/out/\"]\n"
                  "[[steps]]\nimage = \"localhost/x:1\"\nrun = [\"true\"]\n"
                  "files = [{ path = \"/in.json\", content = \"{}\", mode = 0o640, owner = "
                  "\"33:44\" },\n"
                  "  { path = \"/b\", content = \"b\", owner = \"7\" },\n"
                  "  { path = \"/c\", content = \"c\", owner = \"app:8\" },\n"
                  "  { path = \"/d\", content = \"d\", owner = \"7:staff\" },\n"
                  "  { path = \"/e\", content = \"e\" }]\n"
                  "volumes = [{ volume = \"cache-2\", target = \"/c2\", read_only = true },\n"
                  "  { volume = \"data\", target = \"/d2\" }]\n"
                  "tmpfs = [\"/t1\", { target = \"/t2\", size = \"8MiB\", mode = 0o700 },\n"
                  "  { target = \"/t3\", size = \"64k\" }]\n"
                  "artifacts = [\"/out/\"]\n",
                  &set, &m),
        0, "%s", m);
    const struct cln_spec_test *t = &set.tests[0];
    cr_assert_eq(t->volumes.n, 2);
    cr_assert_str_eq(t->volumes.v[0], "data");
    cr_assert_str_eq(t->volumes.v[1], "cache-2");
    const struct cln_spec_service *s = &t->services[0];
    cr_assert_str_eq(s->user, "app:staff");
    cr_assert_str_eq(s->workdir, "/srv");
    cr_assert_str_eq(s->files[0].owner, "www-data");
    cr_assert(s->files[0].uid == -1 && s->files[0].gid == -1, "a name is looked up at copy");
    cr_assert_eq(s->data.nvolumes, 1);
    cr_assert_str_eq(s->data.volumes[0].volume, "data");
    cr_assert_str_eq(s->data.volumes[0].target, "/data");
    cr_assert_not(s->data.volumes[0].read_only);
    cr_assert_eq(s->data.ntmpfs, 1);
    cr_assert_str_eq(s->data.tmpfs[0].target, "/scratch");
    cr_assert(s->data.tmpfs[0].size == 0 && s->data.tmpfs[0].mode == 0, "the engine's defaults");
    cr_assert_eq(s->artifacts.n, 2);
    cr_assert_str_eq(s->artifacts.v[1], "/srv/out/");

    const struct cln_spec_step *st = &t->steps[0];
    cr_assert_eq(st->nfiles, 5);
    static const struct {
        const char *owner;
        int64_t uid, gid;
    } want[] = {{"33:44", 33, 44}, {"7", 7, 7}, {"app:8", -1, 8}, {"7:staff", 7, -1}, {NULL, 0, 0}};
    for (size_t i = 0; i < 5; i++) {
        if (want[i].owner)
            cr_assert_str_eq(st->files[i].owner, want[i].owner);
        else
            cr_assert_null(st->files[i].owner);
        cr_assert(st->files[i].uid == want[i].uid && st->files[i].gid == want[i].gid,
                  "%s: %lld:%lld", st->files[i].path, (long long)st->files[i].uid,
                  (long long)st->files[i].gid);
    }
    cr_assert_eq(st->files[0].mode, 0640);
    cr_assert_eq(st->files[0].len, 2);
    cr_assert_eq(st->data.nvolumes, 2);
    cr_assert_str_eq(st->data.volumes[0].volume, "cache-2");
    cr_assert(st->data.volumes[0].read_only);
    cr_assert_str_eq(st->data.volumes[1].target, "/d2");
    cr_assert_eq(st->data.ntmpfs, 3);
    cr_assert_eq(st->data.tmpfs[1].size, 8u << 20);
    cr_assert_eq(st->data.tmpfs[1].mode, 0700);
    cr_assert_eq(st->data.tmpfs[2].size, 64u << 10);
    cr_assert_eq(st->artifacts.n, 1);
    cr_assert_str_eq(st->artifacts.v[0], "/out/");
    cln_spec_set_done(&set);
}

#define STEP_AT_5 "[[steps]]\nimage = \"localhost/x:1\"\nrun = [\"true\"]\n" /* lines 3-5 */
#define SVC_AT_3 "[services.web]\nimage = \"localhost/x:1\"\n"               /* lines 3-4 */

Test(data, volumes_owners_tmpfs_and_artifacts_are_refused_at_their_place, .init = mktmp,
     .fini = rmtmp)
{
    /* volumes: unknown, with and without a suggestion; names; keys */
    refused(DATA_HEAD "[volumes.data]\n" STEP_AT_5 "volumes = [{ volume = \"dta\", target = "
                      "\"/d\" }]\n",
            "7:23: steps[0].volumes[0].volume: no volume \"dta\" in [volumes] (did you mean "
            "\"data\"?)");
    refused(DATA_HEAD SVC_AT_3 "volumes = [{ volume = \"logs\", target = \"/d\" }]\n" STEP_AT_5,
            "5:23: services.web.volumes[0].volume: no volume \"logs\" in [volumes] (declare it: "
            "[volumes.logs])");
    refused(DATA_HEAD "[volumes.Big]\n" STEP_AT_5, "3:10: volume name \"Big\": use lower-case");
    refused(DATA_HEAD "[volumes.data]\ndriver = \"local\"\n" STEP_AT_5,
            "4:1: unknown key \"driver\" in volumes.data: a volume takes no keys");
    refused(DATA_HEAD "[volumes.data]\n" STEP_AT_5 "volumes = [{ volume = \"data\" }]\n",
            "7:12: steps[0].volumes[0]: \"volume\" and \"target\" are required");
    refused(DATA_HEAD "[volumes.data]\n" SVC_AT_3 "[[steps]]\nservice = \"web\"\nrun = "
                      "[\"true\"]\nvolumes = [{ volume = \"data\", target = \"/d\" }]\n",
            "9:1: steps[0].volumes only applies to steps in a fresh container");
    /* owners */
    static const char *const bad_owners[] = {"a b", "1:", ":1", "1:2:3", "4294967295", "", "-x"};
    for (size_t i = 0; i < sizeof(bad_owners) / sizeof(bad_owners[0]); i++) {
        char text[512], want[200];
        snprintf(text, sizeof(text),
                 DATA_HEAD STEP_AT_5 "files = [{ path = \"/a\", content = \"x\", owner = \"%s\" "
                                     "}]\n",
                 bad_owners[i]);
        snprintf(want, sizeof(want),
                 "6:48: steps[0].files[0].owner \"%s\" is not \"uid[:gid]\" or \"user[:group]\"",
                 bad_owners[i]);
        refused(text, want);
    }
    refused(DATA_HEAD SVC_AT_3
            "files = [{ path = \"/a\", content = \"x\", owner = 0 }]\n" STEP_AT_5,
            "5:48: services.web.files[0].owner must be a string, not an integer");
    refused(DATA_HEAD "[images.i]\ndockerfile = \"FROM scratch\"\nfiles = [{ path = \"a\", "
                      "content = \"x\", owner = \"1\" }]\n" STEP_AT_5,
            "5:39: unknown key \"owner\" in images.i.files[0]");
    /* tmpfs */
    refused(DATA_HEAD STEP_AT_5 "tmpfs = [\"scratch\"]\n",
            "6:10: steps[0].tmpfs[0] \"scratch\" must be an absolute path in the container");
    refused(DATA_HEAD SVC_AT_3 "tmpfs = [\"/ok\", { target = \"t\" }]\n" STEP_AT_5,
            "5:28: services.web.tmpfs[1] \"t\" must be an absolute path in the container");
    refused(DATA_HEAD STEP_AT_5 "tmpfs = [\"/a/./b\"]\n",
            "6:10: steps[0].tmpfs[0] \"/a/./b\" must be an absolute path");
    refused(DATA_HEAD STEP_AT_5 "tmpfs = [\"/t/\"]\n",
            "6:10: steps[0].tmpfs[0] \"/t/\" must be an absolute path");
    refused(DATA_HEAD STEP_AT_5 "tmpfs = [{ target = \"/t\", size = \"2k\" }]\n",
            "6:34: steps[0].tmpfs[0].size is not a size of at least 4KiB");
    refused(DATA_HEAD STEP_AT_5 "tmpfs = [\"/t\", \"/t\"]\n", "6:16: steps[0].tmpfs[1]: \"/t\" is "
                                                              "mounted twice");
    /* artifacts: absolute, no "." or "..", a trailing / for a directory, each once */
    static const struct {
        const char *list, *want;
    } arts[] = {
        {"[\"var/log/app.log\"]", "6:14: steps[0].artifacts[0] \"var/log/app.log\" must be an "
                                  "absolute path in the container"},
        {"[\"/srv/out/\", \"/srv/./x\"]", "6:27: steps[0].artifacts[1] \"/srv/./x\" must be"},
        {"[\"/srv/../etc/\"]", "6:14: steps[0].artifacts[0] \"/srv/../etc/\" must be"},
        {"[\"/srv/..\"]", "6:14: steps[0].artifacts[0] \"/srv/..\" must be"},
        {"[\"/\"]", "6:14: steps[0].artifacts[0] \"/\" must be"},
        {"[\"/a\", \"/b/\", \"/a\"]", "6:27: steps[0].artifacts[2]: \"/a\" is listed twice"},
        {"[\"/a/\", \"/a/\"]", "6:21: steps[0].artifacts[1]: \"/a/\" is listed twice"},
    };
    for (size_t i = 0; i < sizeof(arts) / sizeof(arts[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), DATA_HEAD STEP_AT_5 "artifacts = %s\n", arts[i].list);
        refused(text, arts[i].want);
    }
    refused(DATA_HEAD SVC_AT_3 "artifacts = [\"/ok/\", \"rel\"]\n" STEP_AT_5,
            "5:22: services.web.artifacts[1] \"rel\" must be an absolute path");
    /* a service's user and workdir */
    refused(DATA_HEAD SVC_AT_3 "user = \"\"\n" STEP_AT_5,
            "5:8: services.web.user \"\" is not a user, uid or uid:gid");
    refused(DATA_HEAD SVC_AT_3 "workdir = \"srv\"\n" STEP_AT_5,
            "5:11: services.web.workdir \"srv\" must be an absolute path");
    /* files on a fresh step */
    refused(DATA_HEAD STEP_AT_5 "files = [{ path = \"in.json\", content = \"x\" }]\n",
            "6:10: steps[0].files[0]: path \"in.json\" must be absolute (in the container)");
    refused(DATA_HEAD SVC_AT_3 "[[steps]]\nservice = \"web\"\nrun = [\"true\"]\nfiles = [{ path = "
                               "\"/a\", content = \"x\" }]\n",
            "8:1: steps[0].files only applies to steps in a fresh container");
}

Test(data, expectations_load, .init = mktmp, .fini = rmtmp)
{
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load_text(DATA_HEAD
                           "[vars]\nst = \"ok\"\n" STEP_AT_5
                           "expect.stdout.regex = [\"a\", \"^b$\"]\n"
                           "expect.stdout.not_regex = \"error\"\n"
                           "expect.stdout.json = [\n"
                           "  { path = \"$.status\", equals = \"${st}\" },\n"
                           "  { path = \"$.n\", equals = 3 },\n"
                           "  { path = \"$.r\", equals = 0.5 },\n"
                           "  { path = \"$.ok\", equals = true },\n"
                           "  { path = \"$.items\", equals = [1, \"x\", { k = false }] },\n"
                           "  { path = \"$['a key'].b[0]\", regex = \"^v\" },\n"
                           "  { path = \"$.gone\", exists = false },\n"
                           "  { path = \"$.there\" },\n"
                           "  { path = \"$\", equals = { q = \"a\\\"b\" } },\n"
                           "]\n"
                           "expect.stderr.json = { path = \"$.x\", equals = 1 }\n"
                           "expect.files = [{ path = \"/o.json\", not_regex = [\"x\", \"y\"], "
                           "json = { path = \"$.a\", equals = \"b\" } }]\n",
                           &set, &m),
                 0, "%s", m);
    const struct cln_spec_expect *x = &set.tests[0].steps[0].expect;
    const struct cln_content_expect *c = &x->out.content;
    cr_assert_eq(c->regex.n, 2);
    cr_assert_str_eq(c->regex.v[1], "^b$");
    cr_assert_eq(c->not_regex.n, 1);
    cr_assert_str_eq(c->not_regex.v[0], "error");
    cr_assert_eq(c->njson, 9);
    static const struct {
        const char *path, *equals, *regex;
        int exists;
    } want[] = {
        {"$.status", "\"ok\"", NULL, -1},
        {"$.n", "3", NULL, -1},
        {"$.r", "0.5", NULL, -1},
        {"$.ok", "true", NULL, -1},
        {"$.items", "[1,\"x\",{\"k\":false}]", NULL, -1},
        {"$['a key'].b[0]", NULL, "^v", -1},
        {"$.gone", NULL, NULL, 0},
        {"$.there", NULL, NULL, 1},
        {"$", "{\"q\":\"a\\\"b\"}", NULL, -1},
    };
    for (size_t i = 0; i < 9; i++) {
        const struct cln_json_expect *j = &c->json[i];
        cr_assert_str_eq(j->path, want[i].path);
        if (want[i].equals)
            cr_assert_str_eq(j->equals, want[i].equals, "%s", j->path);
        else
            cr_assert_null(j->equals, "%s", j->path);
        if (want[i].regex)
            cr_assert_str_eq(j->regex, want[i].regex);
        else
            cr_assert_null(j->regex);
        cr_assert_eq(j->exists, want[i].exists, "%s: exists %d", j->path, j->exists);
    }
    cr_assert_eq(x->err.content.njson, 1);
    cr_assert_str_eq(x->err.content.json[0].equals, "1");
    cr_assert_eq(x->nfiles, 1);
    cr_assert_eq(x->files[0].content.not_regex.n, 2);
    cr_assert_eq(x->files[0].content.njson, 1);
    cr_assert_str_eq(x->files[0].content.json[0].equals, "\"b\"");
    cln_spec_set_done(&set);
}

Test(data, json_paths_and_regexes_are_refused_at_their_place, .init = mktmp, .fini = rmtmp)
{
    static const char *const bad_paths[] = {"status", "$.",    "$..a",   "$.a[", "$.a[x]",
                                            "$[-1]",  "$['a]", "$.a b[", "a.$"};
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        char text[512], want[300];
        snprintf(text, sizeof(text), DATA_HEAD STEP_AT_5 "expect.stdout.json = { path = \"%s\" }\n",
                 bad_paths[i]);
        snprintf(want, sizeof(want),
                 "6:31: steps[0].expect.stdout.json.path \"%s\" is not a JSON path: \"$\" then "
                 ".key, ['key'] or [index]",
                 bad_paths[i]);
        refused(text, want);
    }
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.json = [{ path = \"$\" }, { equals = 1 }]\n",
            "6:39: steps[0].expect.stdout.json[1]: \"path\" is required");
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.json = { path = \"$.a\", exists = false, equals = "
                                "1 }\n",
            "6:22: steps[0].expect.stdout.json: \"exists = false\" contradicts");
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.json = []\n",
            "6:22: steps[0].expect.stdout.json must be a table");
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.json = { path = \"$.a\", regex = \"(\" }\n",
            "6:46: steps[0].expect.stdout.json: invalid regular expression at offset 1");
    /* not_regex: each compiled now, the bad one at its place */
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.not_regex = \"(x\"\n",
            "6:27: steps[0].expect.stdout.not_regex: invalid regular expression at offset 2");
    refused(DATA_HEAD STEP_AT_5 "expect.stderr.not_regex = [\"ok\", \"a[\"]\n",
            "6:34: steps[0].expect.stderr.not_regex: invalid regular expression");
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.not_regex = []\n",
            "6:27: steps[0].expect.stdout.not_regex is empty: it would check nothing");
    refused(DATA_HEAD STEP_AT_5 "expect.stdout.regex = [\"a\", \"(b\"]\n",
            "6:29: steps[0].expect.stdout.regex: invalid regular expression");
    refused(DATA_HEAD STEP_AT_5 "expect.files = [{ path = \"/a\", not_regex = \"*\" }]\n",
            "6:44: steps[0].expect.files[0].not_regex: invalid regular expression");
    refused(DATA_HEAD STEP_AT_5 "expect.files = [{ path = \"/a\", json = { path = \"x\" } }]\n",
            "6:48: steps[0].expect.files[0].json.path \"x\" is not a JSON path");
    refused(DATA_HEAD STEP_AT_5 "expect.files = [{ path = \"/a\", exists = false, not_regex = "
                                "\"x\" }]\n",
            "6:17: steps[0].expect.files[0]: \"exists = false\" contradicts");
}

/* The names of the tests of text, after matrix expansion, comma-separated. */
static char *matrix_names(const char *text)
{
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load_text(text, &set, &m), 0, "%s", m);
    char *names = calloc(1, 4096);
    for (size_t i = 0; i < set.n; i++)
        snprintf(names + strlen(names), 4096 - strlen(names), "%s%s", i ? "," : "",
                 set.tests[i].name);
    cln_spec_set_done(&set);
    return names;
}

#define MX_HEAD DATA_HEAD "[matrix]\nos = [\"a\", \"b\"]\nv = [1, 2]\n" /* lines 3-5 */
#define MX_STEP                                                                                    \
    "[[steps]]\nimage = \"localhost/x:1\"\nrun = [\"echo\", \"${matrix.os}${matrix.v}\"]\n"

Test(data, matrix_include_and_exclude, .init = mktmp, .fini = rmtmp)
{
    char *n =
        matrix_names(MX_HEAD "exclude = [{ os = \"a\", v = 2 }]\ninclude = [{ os = \"c\", v = "
                             "9 }]\n" MX_STEP);
    cr_assert_str_eq(n, "d[os=a,v=1],d[os=b,v=1],d[os=b,v=2],d[os=c,v=9]");
    free(n);
    /* an exclude of one key removes every combination with it */
    n = matrix_names(MX_HEAD "exclude = [{ v = 1 }]\n" MX_STEP);
    cr_assert_str_eq(n, "d[os=a,v=2],d[os=b,v=2]");
    free(n);
    /* only includes: the first one's keys */
    n = matrix_names(DATA_HEAD "[matrix]\ninclude = [{ os = \"x\", v = 1 }, { os = \"y\", v = 2 "
                               "}]\n" MX_STEP);
    cr_assert_str_eq(n, "d[os=x,v=1],d[os=y,v=2]");
    free(n);
    /* the included values reach ${matrix.KEY} */
    struct cln_spec_set set = {0};
    char *m = NULL;
    cr_assert_eq(load_text(MX_HEAD "include = [{ os = \"c\", v = 9 }]\n" MX_STEP, &set, &m), 0,
                 "%s", m);
    cr_assert_eq(set.n, 5);
    cr_assert_str_eq(set.tests[4].steps[0].argv.v[1], "c9");
    cln_spec_set_done(&set);

    refused(MX_HEAD "exclude = [{ os = \"a\", v = 3 }]\n" MX_STEP,
            "6:12: matrix.exclude[0] matches no combination (a typo of a value?)");
    refused(MX_HEAD "exclude = [{ os = \"a\", vv = 2 }]\n" MX_STEP,
            "6:24: matrix.exclude[0]: \"vv\" is not a key of the matrix (did you mean \"v\"?)");
    refused(MX_HEAD "exclude = [{ os = \"a\" }, { os = \"b\" }]\n" MX_STEP,
            "6:1: matrix.exclude leaves no combination to run");
    refused(MX_HEAD "exclude = [{}]\n" MX_STEP, "6:12: matrix.exclude[0] is empty");
    refused(MX_HEAD "include = [{ os = \"c\" }]\n" MX_STEP,
            "6:12: matrix.include[0]: no value for \"v\" (an included combination gives every "
            "key of the matrix)");
    refused(MX_HEAD "include = [{ os = \"a\", v = 1 }]\n" MX_STEP,
            "6:12: matrix.include[0] is already a combination of the matrix");
    refused(MX_HEAD "include = [{ os = \"c\", v = 9, arch = \"x\" }]\n" MX_STEP,
            "6:31: matrix.include[0]: \"arch\" is not a key of the matrix");
    refused(MX_HEAD "include = [{ os = [\"c\"], v = 9 }]\n" MX_STEP,
            "6:19: matrix.include[0].os must be a string, integer or boolean");
    refused(DATA_HEAD "[matrix]\nexclude = [{ os = \"a\" }]\n" MX_STEP,
            "4:1: matrix.exclude: the matrix has no keys to exclude from");
}
