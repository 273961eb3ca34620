/* Unit tests of the native runtime's containers (runtime/native/container.h),
 * as root (skipped otherwise): a rootfs tarball made here with libarchive
 * from the host's static busybox, imported into a store in a temporary
 * directory; containers under a run directory next to it.  Every test checks
 * that nothing is left: no mount under the work directory in
 * /proc/self/mountinfo, no cgroup, no process. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"
#include "runtime/native/container.h"
#include "runtime/native/store.h"
#include "runtime/runtime-internal.h"
#include "harness/isolation.h"

#define BUSYBOX "/bin/busybox"
static char work[] = "/tmp/cln-ctr-test-XXXXXX";
static char *run_dir;
static struct cln_store *store;
static bool skip;

static const char *const applets[] = {
    "sh",     "sleep", "cat",   "hostname", "grep",  "mount", "id",      "head",    "ls",    "echo",
    "printf", "wc",    "touch", "true",     "false", "ln",    "unshare", "linux32", "chroot"};

static void add(struct archive *a, const char *name, int type, int mode, const char *link,
                const void *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, (unsigned)type);
    archive_entry_set_perm(e, (mode_t)mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (link)
        archive_entry_set_symlink(e, link);
    archive_entry_set_size(e, (la_int64_t)len);
    cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
    if (len)
        cr_assert_eq(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void make_rootfs(const char *path)
{
    FILE *f = fopen(BUSYBOX, "re");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bb = cln_xmalloc((size_t)n);
    cr_assert_eq(fread(bb, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    add(a, "bin", AE_IFDIR, 0755, NULL, NULL, 0);
    add(a, "bin/busybox", AE_IFREG, 0755, NULL, bb, (size_t)n);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(applets); i++) {
        cleanup_free char *p = cln_xasprintf("bin/%s", applets[i]);
        add(a, p, AE_IFLNK, 0777, "busybox", NULL, 0);
    }
    add(a, "etc", AE_IFDIR, 0755, NULL, NULL, 0);
    static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                                 "app:x:1000:1000::/:/bin/sh\n";
    add(a, "etc/passwd", AE_IFREG, 0644, NULL, passwd, sizeof(passwd) - 1);
    static const char group[] = "root:x:0:\napp:x:1000:\nextra:x:2000:root,app\n";
    add(a, "etc/group", AE_IFREG, 0644, NULL, group, sizeof(group) - 1);
    add(a, "tmp", AE_IFDIR, 01777, NULL, NULL, 0);
    add(a, "hostroot", AE_IFLNK, 0777, "/", NULL, 0);
    archive_write_close(a);
    archive_write_free(a);
    free(bb);
}

static void setup(void)
{
    skip = geteuid() != 0 || access(BUSYBOX, X_OK) != 0;
    if (skip)
        return;
    cr_assert_not_null(mkdtemp(work));
    cleanup_free char *root = cln_xasprintf("%s/store", work);
    cleanup_free char *tar = cln_xasprintf("%s/rootfs.tar", work);
    run_dir = cln_xasprintf("%s/run", work);
    cr_assert_eq(mkdir(run_dir, 0700), 0);
    make_rootfs(tar);
    struct cln_error *err = NULL;
    cr_assert_eq(cln_store_open(root, &store, &err), 0, "%s", cln_error_text(err));
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, tar, "test/busybox:1", &l, &err), 0, "%s",
                 cln_error_text(err));
    cln_store_images_done(&l);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* Nothing under work mounted, as this (the host's) mount namespace sees it. */
static void assert_no_mounts(void)
{
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    cr_assert_not_null(f);
    char line[4096];
    while (fgets(line, sizeof(line), f))
        cr_assert_null(strstr(line, work), "a mount left: %s", line);
}

/* After a failed test: this test process's leftover cgroups (ids t<pid>-*),
 * emptied through cgroup.kill (processes proven ours by the cgroup). */
static void sweep_cgroups(void)
{
    static const char *const ctrl[] = {"unified", "memory", "pids", "cpu"};
    static const char *const ids[] = {"basic",   "logs",     "pids",     "oom",      "ro",
                                      "orphan",  "fallback", "mounts",   "badmount", "tail",
                                      "files",   "created",  "created2", "created3", "brokered",
                                      "orphan2", "hostinit"};
    for (size_t j = 0; j < CLN_ARRAY_SIZE(ids); j++)
        for (size_t i = 0; i < CLN_ARRAY_SIZE(ctrl); i++) {
            cleanup_free char *d =
                cln_xasprintf("/sys/fs/cgroup/%s/cleanrun/t%d-%s", ctrl[i], (int)getpid(), ids[j]);
            cleanup_free char *k = cln_xasprintf("%s/cgroup.kill", d);
            for (int t = 0; t < 100 && access(d, F_OK) == 0 && rmdir(d) < 0; t++) {
                FILE *f = i == 0 ? fopen(k, "we") : NULL;
                if (f) {
                    fputs("1", f);
                    fclose(f);
                }
                usleep(10000);
            }
        }
}

static void teardown(void)
{
    if (skip)
        return;
    sweep_cgroups();
    cln_store_close(store);
    assert_no_mounts();
    nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(run_dir);
}

TestSuite(native_container, .init = setup, .fini = teardown, .timeout = 90);

static struct cln_ctr *make(const char *id, struct cln_ctr_config *c, const char *const *argv)
{
    c->id = id;
    c->run_dir = run_dir;
    c->argv = argv;
    struct cln_ctr *ctr = NULL;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_create(store, "test/busybox:1", c, &ctr, &err), 0, "%s",
                 cln_error_text(err));
    return ctr;
}

static void run(struct cln_ctr *c, struct cln_ctr_exec *x, struct cln_ctr_exec_result *r)
{
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_exec(c, x, r, &err), 0, "%s", cln_error_text(err));
}

static char *sh(struct cln_ctr *c, const char *script, int *code)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct cln_ctr_exec x = {.argv = argv};
    struct cln_ctr_exec_result r;
    run(c, &x, &r);
    if (code)
        *code = r.exit_code;
    char *out = CLN_TAKE(r.out);
    cln_ctr_exec_result_done(&r);
    return out;
}

/* Remove and check that the cgroups and the directory went, the init with them. */
static void remove_and_check(struct cln_ctr *c, const char *id)
{
    struct cln_ctr_state st;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_inspect(c, &st, &err), 0);
    pid_t init = st.init_pid;
    cr_assert_eq(cln_ctr_remove(c, &err), 0, "%s", cln_error_text(err));
    static const char *const ctrl[] = {"memory", "pids", "cpu", "unified"};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(ctrl); i++) {
        cleanup_free char *p = cln_xasprintf("/sys/fs/cgroup/%s/cleanrun/%s", ctrl[i], id);
        cr_assert_neq(access(p, F_OK), 0, "%s left", p);
    }
    cleanup_free char *d = cln_xasprintf("%s/%s", run_dir, id);
    cr_assert_neq(access(d, F_OK), 0, "%s left", d);
    cleanup_free char *pp = cln_xasprintf("/proc/%d", (int)init);
    cr_assert_neq(access(pp, F_OK), 0, "the init is still there");
    assert_no_mounts();
}

static char *id_of(const char *what)
{
    return cln_xasprintf("t%d-%s", (int)getpid(), what);
}

Test(native_container, isolation_exec_and_stop)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("basic");
    struct cln_ctr_config cfg = {.hostname = "box1"};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code;
    /* pid 1 is the init (not the workload, pid 2); /proc shows only these
     * and this shell (a builtin loop: no fork). */
    cleanup_free char *ps = sh(c, "for p in /proc/[0-9]*; do echo ${p#/proc/}; done", &code);
    cr_assert_str_eq(ps, "1\n2\n3\n");
    cleanup_free char *comm = sh(c, "cat /proc/1/comm /proc/2/comm", &code);
    cr_assert_neq(strncmp(comm, "sleep", 5), 0, "pid 1 is the workload: %s", comm);
    cr_assert(strstr(comm, "\nsleep\n"), "%s", comm);
    cleanup_free char *hn = sh(c, "hostname", &code);
    cr_assert_str_eq(hn, "box1\n");
    cleanup_free char *status =
        sh(c, "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status", &code);
    cr_assert_str_eq(status, "CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n");
    cleanup_free char *lo = sh(c, "cat /sys/class/net/lo/operstate; ls /sys/class/net", &code);
    cr_assert_str_eq(lo, "unknown\nlo\n");
    cleanup_free char *hosts = sh(c, "grep -c box1 /etc/hosts", &code);
    cr_assert_str_eq(hosts, "1\n");
    cleanup_free char *masked = sh(c, "cat /proc/kcore | wc -c; touch /proc/sys/x", &code);
    cr_assert_str_eq(masked, "0\n");
    cr_assert_neq(code, 0);

    /* mount(2) is refused: seccomp (EPERM) before the capability check. */
    const char *mnt[] = {"/bin/mount", "-t", "tmpfs", "none", "/tmp", NULL};
    struct cln_ctr_exec x = {.argv = mnt};
    struct cln_ctr_exec_result r;
    run(c, &x, &r);
    cr_assert_neq(r.exit_code, 0);
    cr_assert(strstr(r.err, "permission denied") || strstr(r.err, "not permitted"), "%s", r.err);
    cln_ctr_exec_result_done(&r);

    /* the seccomp filter: unshare and sethostname refused (EPERM, before any
     * capability check), personality(PER_LINUX32) and chroot allowed */
    cleanup_free char *sc = sh(c,
                               "unshare -U true 2>&1; hostname other 2>&1; linux32 echo p32; "
                               "chroot / echo chrooted",
                               &code);
    cr_assert_eq(code, 0, "%s", sc);
    cr_assert(strstr(sc, "unshare: unshare(0x10000000): Operation not permitted"), "%s", sc);
    cr_assert(strstr(sc, "hostname: sethostname: Operation not permitted"), "%s", sc);
    cr_assert(strstr(sc, "p32\nchrooted\n"), "%s", sc);

    /* argv exact, stdout and stderr apart, the exit code, the host pid */
    const char *args[] = {
        "/bin/sh", "-c", "printf '%s|' \"$@\"; echo oops >&2; exit 7", "sh", "a b", "", "c*", NULL};
    x = (struct cln_ctr_exec){.argv = args};
    run(c, &x, &r);
    cr_assert_str_eq(r.out, "a b||c*|");
    cr_assert_str_eq(r.err, "oops\n");
    cr_assert_eq(r.exit_code, 7);
    cr_assert_gt(r.host_pid, 1);
    cln_ctr_exec_result_done(&r);

    /* stdin, and the byte cap */
    const char *cat[] = {"/bin/cat", NULL};
    x = (struct cln_ctr_exec){.argv = cat, .stdin_data = "hello", .stdin_len = 5};
    run(c, &x, &r);
    cr_assert_str_eq(r.out, "hello");
    cln_ctr_exec_result_done(&r);
    const char *big[] = {"/bin/head", "-c", "10000", "/dev/zero", NULL};
    x = (struct cln_ctr_exec){.argv = big, .out_cap = 100};
    run(c, &x, &r);
    cr_assert_eq(r.out_len, 100);
    cr_assert_eq(r.out_dropped, 9900);
    cln_ctr_exec_result_done(&r);

    /* a deadline kills the exec's process group, not the container */
    const char *slow[] = {"/bin/sh", "-c", "sleep 100 & sleep 100", NULL};
    x = (struct cln_ctr_exec){.argv = slow, .timeout_ms = 300};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run(c, &x, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(r.timed_out);
    cr_assert_eq(r.exit_code, 137);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 5);
    cln_ctr_exec_result_done(&r);
    /* (a killed process its parent has not reaped yet is a zombie: not running) */
    static const char live[] =
        "for p in /proc/[0-9]*; do [ \"$(cut -d' ' -f3 $p/stat)\" = Z ] || cat $p/comm; done";
    cleanup_free char *after = sh(c, live, &code);
    cr_assert_eq(strstr(after, "sleep\nsleep"), NULL, "the exec's group survived: %s", after);
    /* ... and what left its group (setsid) too: the exec's own cgroup */
    const char *escaped[] = {"/bin/sh", "-c", "setsid sleep 101 & sleep 100", NULL};
    x = (struct cln_ctr_exec){.argv = escaped, .timeout_ms = 300};
    run(c, &x, &r);
    cr_assert(r.timed_out);
    cln_ctr_exec_result_done(&r);
    cleanup_free char *script = cln_xasprintf("%s | grep -c sleep", live);
    cleanup_free char *after2 = sh(c, script, &code);
    cr_assert_str_eq(after2, "1\n",
                     "a process of the exec survived its deadline (only the "
                     "container's own sleep may be left)");

    /* a user */
    const char *idu[] = {"/bin/sh", "-c", "id -u; id -g; grep CapEff /proc/self/status", NULL};
    x = (struct cln_ctr_exec){.argv = idu, .user = "1000:1001"};
    run(c, &x, &r);
    cr_assert_str_eq(r.out, "1000\n1001\nCapEff:\t0000000000000000\n");
    cln_ctr_exec_result_done(&r);

    /* user names from the image's /etc/passwd and /etc/group */
    static const char *const users[][2] = {{"app", "1000 1000 1000 2000\n"},
                                           {"app:extra", "1000 2000 2000\n"},
                                           {"1234", "1234 0 0\n"},
                                           {"1000:root", "1000 0 0\n"}};
    const char *ids[] = {"/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G)", NULL};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(users); i++) {
        x = (struct cln_ctr_exec){.argv = ids, .user = users[i][0]};
        run(c, &x, &r);
        cr_assert_str_eq(r.out, users[i][1], "%s", users[i][0]);
        cln_ctr_exec_result_done(&r);
    }
    struct cln_error *uerr = NULL;
    x = (struct cln_ctr_exec){.argv = ids, .user = "nobody2"};
    cr_assert_eq(cln_ctr_exec(c, &x, &r, &uerr), -CLN_E_INVALID);
    cln_error_free(uerr);

    /* stop: SIGTERM reaches the workload through the init */
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_stop(c, 5000, &err), 0, "%s", cln_error_text(err));
    struct cln_ctr_state st;
    cr_assert_eq(cln_ctr_inspect(c, &st, &err), 0);
    cr_assert_not(st.running);
    cr_assert_eq(st.exit_code, 128 + SIGTERM);
    cr_assert_not(st.oom_killed);
    remove_and_check(c, id);
}

/* privileged, as Docker's --privileged: every capability, no seccomp
 * filter, nothing masked, /sys writable */
Test(native_container, privileged)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("priv");
    struct cln_ctr_config cfg = {.privileged = true};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code;
    cleanup_free char *st =
        sh(c,
           "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -c ' /proc/kcore ' "
           "/proc/self/mountinfo; grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,'",
           &code);
    /* every capability of this process's bounding set (this machine's root
     * may lack some) */
    unsigned long long full = 0;
    cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "CapBnd: %llx", &full) == 1)
            break;
    cleanup_free char *want = cln_xasprintf("CapEff:\t%016llx\nSeccomp:\t0\n0\n1\n", full);
    cr_assert_str_eq(st, want);
    remove_and_check(c, id);
}

Test(native_container, logs_exit_code_read_only)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("logs");
    struct cln_ctr_config cfg = {.read_only = true};
    const char *argv[] = {"/bin/sh", "-c", "echo out; touch /x; exit 3", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code = -1;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_wait(c, 10000, &code, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(code, 3);
    char buf[64] = "";
    cleanup_free char *p = cln_xasprintf("%s/%s/stdout", run_dir, id);
    cleanup_fclose FILE *f = fopen(p, "re");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    cr_assert_str_eq(buf, "out\n");
    cleanup_free char *e = cln_xasprintf("%s/%s/stderr", run_dir, id);
    cleanup_fclose FILE *g = fopen(e, "re");
    cr_assert_not_null(g);
    cr_assert_not_null(fgets(buf, sizeof(buf), g));
    cr_assert(strstr(buf, "Read-only file system"), "%s", buf);
    /* the same through cln_ctr_logs */
    struct cln_capture lo, le;
    cr_assert_eq(cln_ctr_logs(c, 0, 0, &lo, &le, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(lo.data.len, 4);
    cr_assert_eq(memcmp(lo.data.data, "out\n", 4), 0);
    cr_assert(le.total > 0 && !le.truncated);
    cln_capture_done(&lo);
    cln_capture_done(&le);
    remove_and_check(c, id);
}

Test(native_container, pids_limit)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("pids");
    struct cln_ctr_config cfg = {.pids_max = 20};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    /* 50 sleeps tried; the shell dies at the first fork refused.  In the
     * cgroup already: the monitor, the init, the workload, the exec's two. */
    int code;
    cleanup_free char *out =
        sh(c, "i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); echo $i; done", &code);
    cr_assert_neq(code, 0);
    const char *last = out;
    for (const char *p = out; *p; p++)
        if (p[0] == '\n' && p[1])
            last = p + 1;
    int n = (int)strtol(last, NULL, 10);
    cr_assert_leq(n, 16, "%d sleeps started", n);
    cr_assert_geq(n, 10, "%d sleeps started", n);
    cleanup_free char *ev = cln_xasprintf("/sys/fs/cgroup/pids/cleanrun/%s/pids.events", id);
    cleanup_fclose FILE *g = fopen(ev, "re");
    long max = 0;
    cr_assert_eq(fscanf(g, "max %ld", &max), 1);
    cr_assert_gt(max, 0);
    remove_and_check(c, id);
}

Test(native_container, memory_limit_oom)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("oom");
    struct cln_ctr_config cfg = {.memory_bytes = 32 << 20, .cpu_millis = 500};
    const char *argv[] = {"/bin/sh", "-c", "a=0123456789abcdef; while :; do a=\"$a$a\"; done",
                          NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code = 0;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_wait(c, 60000, &code, &err), 0, "%s", cln_error_text(err));
    struct cln_ctr_state st;
    cr_assert_eq(cln_ctr_inspect(c, &st, &err), 0);
    cr_assert(st.oom_killed);
    cr_assert_eq(code, 137);
    remove_and_check(c, id);
}

Test(native_container, no_escape)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *canary = cln_xasprintf("%s/canary", work);
    FILE *cf = fopen(canary, "we");
    fputs("secret", cf);
    fclose(cf);
    cleanup_free char *id = id_of("ro");
    struct cln_ctr_config cfg = {0};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code;
    /* the store refuses a symlink out of a layer: make it inside */
    cleanup_free char *ln = sh(c, "ln -s ../../../../../../.. /up", &code);
    cr_assert_eq(code, 0);
    cleanup_free char *s1 = cln_xasprintf("cat %s /hostroot%s /up%s ../../..%s 2>&1; echo", canary,
                                          canary, canary, canary);
    cleanup_free char *o1 = sh(c, s1, &code);
    cr_assert_null(strstr(o1, "secret"), "%s", o1);
    cr_assert(strstr(o1, "No such file"), "%s", o1);
    cleanup_free char *o3 = sh(c, "touch /sys/x 2>&1; cat /proc/timer_list | wc -c", &code);
    cr_assert(strstr(o3, "Read-only file system"), "%s", o3);
    cr_assert(strstr(o3, "\n0\n"), "%s", o3);

    /* kill through the init's pidfd; wait with a deadline */
    struct cln_error *err = NULL;
    int ec = 0;
    cr_assert_eq(cln_ctr_wait(c, 100, &ec, &err), -CLN_E_TIMEOUT);
    cln_error_free(err);
    err = NULL;
    cr_assert_eq(cln_ctr_kill(c, SIGKILL, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(cln_ctr_wait(c, 5000, &ec, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(ec, 137);
    remove_and_check(c, id);
}

/* The creator SIGKILLed: the container goes with it (through the broker:
 * the broker notices, kills its children, the monitor, and the init goes). */
static void dies_with_its_creator_(bool brokered)
{
    cleanup_free char *id = id_of(brokered ? "orphan2" : "orphan");
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        close(pfd[0]);
        struct cln_ctr_config cfg = {.id = id, .run_dir = run_dir};
        const char *argv[] = {"/bin/sleep", "1000", NULL};
        cfg.argv = argv;
        struct cln_ctr *c = NULL;
        struct cln_error *err = NULL;
        if (brokered && cln_broker_start_fns(NULL, cln_native_broker_fns, &cfg.broker, &err) < 0)
            _exit(1);
        if (cln_ctr_create(store, "test/busybox:1", &cfg, &c, &err) < 0)
            _exit(1);
        struct cln_ctr_state st;
        cln_ctr_inspect(c, &st, &err);
        int pid = st.init_pid;
        if (write(pfd[1], &pid, sizeof(pid)) != sizeof(pid))
            _exit(1);
        pause();
        _exit(0);
    }
    close(pfd[1]);
    int init = 0;
    cr_assert_eq(read(pfd[0], &init, sizeof(init)), sizeof(init));
    close(pfd[0]);
    cr_assert_eq(kill(p, SIGKILL), 0); /* our unreaped child */
    cr_assert_eq(waitpid(p, NULL, 0), p);
    cleanup_free char *pp = cln_xasprintf("/proc/%d", init);
    int i = 0;
    for (; i < 100 && access(pp, F_OK) == 0; i++)
        usleep(50000);
    cr_assert_lt(i, 100, "the init outlived its creator");
    static const char *const ctrl[] = {"memory", "pids", "cpu", "unified"};
    for (size_t k = 0; k < CLN_ARRAY_SIZE(ctrl); k++) {
        cleanup_free char *cg = cln_xasprintf("/sys/fs/cgroup/%s/cleanrun/%s", ctrl[k], id);
        cleanup_free char *procs = cln_xasprintf("%s/cgroup.procs", cg);
        cleanup_fclose FILE *f = fopen(procs, "re");
        cr_assert_not_null(f);
        char line[32];
        int left = 0;
        for (int t = 0; t < 100; t++) {
            rewind(f);
            left = fgets(line, sizeof(line), f) != NULL;
            if (!left)
                break;
            usleep(50000);
        }
        cr_assert_not(left, "a process left in %s", cg);
        cr_assert_eq(rmdir(cg), 0, "%s: %s", cg, strerror(errno));
    }
    assert_no_mounts();
}

Test(native_container, dies_with_its_creator)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    dies_with_its_creator_(false);
}

Test(native_container, dies_with_its_creator_through_the_broker)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    dies_with_its_creator_(true);
}

/* In a mount namespace of its own (slave, so nothing reaches the host), a run
 * directory on an overlay: overlayfs refuses it as an upper directory, and
 * the container falls back to an upper on tmpfs, and says so. */
static int fallback_child(void)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return 10;
    cleanup_free char *ov = cln_xasprintf("%s/ov", work);
    static const char *const sub[] = {"", "/l", "/u", "/w", "/m"};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(sub); i++) {
        cleanup_free char *d = cln_xasprintf("%s%s", ov, sub[i]);
        if (mkdir(d, 0755) < 0)
            return 11;
    }
    cleanup_free char *opts = cln_xasprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", ov, ov, ov);
    cleanup_free char *m = cln_xasprintf("%s/m", ov);
    if (mount("overlay", m, "overlay", 0, opts) < 0)
        return 12;
    cleanup_free char *id = id_of("fallback");
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr_config cfg = {.id = id, .run_dir = m, .argv = argv};
    struct cln_ctr *c = NULL;
    struct cln_error *err = NULL;
    if (cln_ctr_create(store, "test/busybox:1", &cfg, &c, &err) < 0) {
        fprintf(stderr, "%s\n", cln_error_text(err));
        return 13;
    }
    struct cln_ctr_state st;
    int bad =
        cln_ctr_inspect(c, &st, &err) < 0 || strcmp(st.rootfs_mode, "overlay, upper on tmpfs") != 0;
    const char *w[] = {"/bin/sh", "-c", "echo hi > /f && cat /f", NULL};
    struct cln_ctr_exec x = {.argv = w};
    struct cln_ctr_exec_result r;
    if (!bad && cln_ctr_exec(c, &x, &r, &err) == 0) {
        bad = strcmp(r.out, "hi\n") != 0;
        cln_ctr_exec_result_done(&r);
    } else {
        bad = 1;
    }
    if (cln_ctr_remove(c, &err) < 0)
        return 15;
    return bad ? 14 : 0;
}

Test(native_container, overlay_upper_fallback)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0)
        _exit(fallback_child());
    int st = 0;
    cr_assert_eq(waitpid(p, &st, 0), p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    assert_no_mounts();
}

Test(native_container, mounts)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("mounts");
    cleanup_free char *dir = cln_xasprintf("%s/hostdir", work);
    cleanup_free char *file = cln_xasprintf("%s/hostfile", work);
    cleanup_free char *f = cln_xasprintf("%s/f", dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    FILE *w = fopen(f, "we");
    cr_assert_not_null(w);
    fputs("host\n", w);
    fclose(w);
    w = fopen(file, "we");
    cr_assert_not_null(w);
    fputs("conf\n", w);
    fclose(w);
    const struct cln_ctr_mount m[] = {
        {.type = CLN_CTR_BIND, .source = dir, .target = "/mnt/a/b", .read_only = true},
        {.type = CLN_CTR_BIND, .source = dir, .target = "/rw"},
        {.type = CLN_CTR_BIND, .source = file, .target = "/etc/extra.conf", .read_only = true},
        {.type = CLN_CTR_TMPFS, .target = "/scratch"},
    };
    struct cln_ctr_config cfg = {.mounts = m, .nmounts = CLN_ARRAY_SIZE(m)};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code = -1;
    cleanup_free char *out = sh(
        c,
        "cat /mnt/a/b/f; touch /mnt/a/b/x 2>/dev/null || echo ro; echo w > /rw/w; "
        "cat /etc/extra.conf; echo x >> /etc/extra.conf 2>/dev/null || echo ro2; "
        "grep ' /scratch ' /proc/self/mountinfo | grep -c 'noexec'; touch /scratch/t && echo tmp",
        &code);
    cr_assert_eq(code, 0);
    cr_assert_str_eq(out, "host\nro\nconf\nro2\n1\ntmp\n");
    /* the read-write bind wrote through to the host; the read-only one did not */
    cleanup_free char *wf = cln_xasprintf("%s/w", dir);
    cleanup_free char *xf = cln_xasprintf("%s/x", dir);
    cr_assert_eq(access(wf, F_OK), 0);
    cr_assert_neq(access(xf, F_OK), 0);
    remove_and_check(c, id);
    /* the binds went with the container's mount namespace; the host's files stay */
    cr_assert_eq(access(f, F_OK), 0);
}

Test(native_container, mount_targets_never_lead_out)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("badmount");
    const char *argv[] = {"/bin/true", NULL};
    static const char *const bad[] = {"relative", "/", "/../x", "/a/../../x", "/.."};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(bad); i++) {
        const struct cln_ctr_mount m = {.type = CLN_CTR_TMPFS, .target = bad[i]};
        struct cln_ctr_config cfg = {
            .id = id, .run_dir = run_dir, .argv = argv, .mounts = &m, .nmounts = 1};
        struct cln_ctr *c = NULL;
        struct cln_error *err = NULL;
        cr_assert_lt(cln_ctr_create(store, "test/busybox:1", &cfg, &c, &err), 0, "%s", bad[i]);
        cr_assert_eq(err->code, CLN_E_INVALID, "%s: %s", bad[i], cln_error_text(err));
        cln_error_free(err);
    }
    /* through a symlink of the image (/bin/sh -> busybox): refused in the
     * container, nothing made on the host */
    static const char *const through[] = {"/bin/sh/x", "/hostroot/cleanrun-test-pwned"};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(through); i++) {
        const struct cln_ctr_mount m = {.type = CLN_CTR_TMPFS, .target = through[i]};
        struct cln_ctr_config cfg = {
            .id = id, .run_dir = run_dir, .argv = argv, .mounts = &m, .nmounts = 1};
        struct cln_ctr *c = NULL;
        struct cln_error *err = NULL;
        cr_assert_lt(cln_ctr_create(store, "test/busybox:1", &cfg, &c, &err), 0, "%s", through[i]);
        cr_assert(strstr(cln_error_text(err), "mount's target"), "%s", cln_error_text(err));
        cln_error_free(err);
    }
    cr_assert_neq(access("/cleanrun-test-pwned", F_OK), 0, "made on the host");
    assert_no_mounts();
}

Test(native_container, logs_tail_and_cap)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("tail");
    struct cln_ctr_config cfg = {0};
    const char *argv[] = {"/bin/sh", "-c", "printf 'a\\nb\\nc\\nd'; printf 'e1\\ne2\\n' >&2", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    int code = -1;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_ctr_wait(c, 10000, &code, &err), 0, "%s", cln_error_text(err));
    struct cln_capture o, e;
    cr_assert_eq(cln_ctr_logs(c, 2, 0, &o, &e, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(o.data.len, 3, "%.*s", (int)o.data.len, o.data.data);
    cr_assert_eq(memcmp(o.data.data, "c\nd", 3), 0);
    cr_assert_eq(e.data.len, 6);
    cr_assert_eq(memcmp(e.data.data, "e1\ne2\n", 6), 0);
    cln_capture_done(&o);
    cln_capture_done(&e);
    cr_assert_eq(cln_ctr_logs(c, 0, 2, &o, &e, &err), 0);
    cr_assert_eq(o.data.len, 2);
    cr_assert_eq(o.total, 7);
    cr_assert(o.truncated);
    cln_capture_done(&o);
    cln_capture_done(&e);
    remove_and_check(c, id);
}

Test(native_container, copy_in_and_out)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("files");
    struct cln_ctr_config cfg = {0};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    struct cln_error *err = NULL;
    /* the image's /hostroot -> / is followed as inside the container: the
     * file lands in the container's /tmp, never the host's */
    cleanup_free char *host_tmp = cln_xasprintf("/tmp/cln-copy-%d", (int)getpid());
    cleanup_free char *name = cln_xasprintf("cln-copy-%d/deep/f.sh", (int)getpid());
    const struct cln_file files[] = {
        {.path = "a.txt", .data = "alpha\n", .len = 6},
        {.path = name, .data = "#!/bin/sh\necho hi\n", .len = 18, .mode = 0750},
    };
    cr_assert_eq(cln_ctr_copy_in(c, "/hostroot/tmp", files, 2, &err), 0, "%s", cln_error_text(err));
    cr_assert_neq(access(host_tmp, F_OK), 0, "written on the host");
    int code = -1;
    cleanup_free char *script =
        cln_xasprintf("cat /tmp/a.txt; /tmp/%s; stat -c '%%a %%u' /tmp/%s", name, name);
    cleanup_free char *out = sh(c, script, &code);
    cr_assert_eq(code, 0, "%s", out);
    cr_assert_str_eq(out, "alpha\nhi\n750 0\n");
    /* out: a file (capped), a directory, a symlink not followed, a missing path */
    struct cln_file_info info;
    struct cln_capture content;
    bool found = false;
    cr_assert_eq(cln_ctr_copy_out(c, "/tmp/a.txt", 3, &info, &content, &found, &err), 0);
    cr_assert(found);
    cr_assert_eq(info.type, CLN_FILE_REGULAR);
    cr_assert_eq(info.mode, 0644);
    cr_assert_eq(content.data.len, 3);
    cr_assert_eq(content.total, 6);
    cr_assert(content.truncated);
    cln_file_info_done(&info);
    cln_capture_done(&content);
    cr_assert_eq(cln_ctr_copy_out(c, "/tmp", 0, &info, &content, &found, &err), 0);
    cr_assert(found && info.type == CLN_FILE_DIRECTORY);
    cln_file_info_done(&info);
    cln_capture_done(&content);
    cr_assert_eq(cln_ctr_copy_out(c, "/hostroot", 0, &info, &content, &found, &err), 0);
    cr_assert(found && info.type == CLN_FILE_SYMLINK);
    cr_assert_str_eq(info.link_target, "/");
    cln_file_info_done(&info);
    cln_capture_done(&content);
    /* /hostroot/etc/hosts is the container's (it names the container), never the host's */
    cr_assert_eq(cln_ctr_copy_out(c, "/hostroot/etc/hosts", 0, &info, &content, &found, &err), 0);
    cr_assert(found && content.data.len);
    cln_buf_puts(&content.data, "");
    cr_assert(strstr(content.data.data, id), "%s", content.data.data);
    cln_file_info_done(&info);
    cln_capture_done(&content);
    cr_assert_eq(cln_ctr_copy_out(c, "/no/such", 0, &info, &content, &found, &err), 0);
    cr_assert_not(found);
    /* bad input */
    const struct cln_file up = {.path = "../../etc/x", .data = "", .len = 0};
    cr_assert_lt(cln_ctr_copy_in(c, "/tmp", &up, 1, &err), 0);
    cr_assert_eq(err->code, CLN_E_INVALID);
    cln_error_free(err);
    err = NULL;
    cr_assert_lt(cln_ctr_copy_in(c, "/no/such/dir", files, 1, &err), 0);
    cr_assert_eq(err->code, CLN_E_NOT_FOUND);
    cln_error_free(err);
    err = NULL;
    /* stopped: no root to reach */
    cr_assert_eq(cln_ctr_kill(c, SIGKILL, &err), 0);
    cr_assert_eq(cln_ctr_wait(c, 10000, &code, &err), 0);
    cr_assert_lt(cln_ctr_copy_out(c, "/tmp/a.txt", 0, &info, &content, &found, &err), 0);
    cr_assert(strstr(cln_error_text(err), "not running"), "%s", cln_error_text(err));
    cln_error_free(err);
    remove_and_check(c, id);
}

Test(native_container, created_then_started)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("created");
    struct cln_ctr_config cfg = {.created_only = true};
    const char *argv[] = {"/bin/sh", "-c", "cat /etc/given; exit 5", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    struct cln_error *err = NULL;
    struct cln_ctr_state st;
    cr_assert_eq(cln_ctr_inspect(c, &st, &err), 0);
    cr_assert(st.created && st.running);
    /* nothing of the workload has run: no output yet; files go in first */
    struct cln_capture o, e;
    cr_assert_eq(cln_ctr_logs(c, 0, 0, &o, &e, &err), 0);
    cr_assert_eq(o.total, 0);
    cln_capture_done(&o);
    cln_capture_done(&e);
    const struct cln_file f = {.path = "given", .data = "before start\n", .len = 13};
    cr_assert_eq(cln_ctr_copy_in(c, "/etc", &f, 1, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(cln_ctr_start(c, &err), 0, "%s", cln_error_text(err));
    int code = -1;
    cr_assert_eq(cln_ctr_wait(c, 10000, &code, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(code, 5);
    cr_assert_eq(cln_ctr_logs(c, 0, 0, &o, &e, &err), 0);
    cr_assert_eq(o.data.len, 13);
    cr_assert_eq(memcmp(o.data.data, "before start\n", 13), 0);
    cln_capture_done(&o);
    cln_capture_done(&e);
    cr_assert_lt(cln_ctr_start(c, &err), 0); /* once */
    cln_error_free(err);
    err = NULL;
    remove_and_check(c, id);

    /* a program that cannot start: the start says so; one removed before
     * its start leaves nothing */
    cleanup_free char *id2 = id_of("created2");
    const char *bad[] = {"/no/such/program", NULL};
    struct cln_ctr_config cfg2 = {.created_only = true};
    c = make(id2, &cfg2, bad);
    cr_assert_lt(cln_ctr_start(c, &err), 0);
    cr_assert_eq(err->code, CLN_E_INVALID, "%s", cln_error_text(err));
    cln_error_free(err);
    err = NULL;
    remove_and_check(c, id2);
    cleanup_free char *id3 = id_of("created3");
    struct cln_ctr_config cfg3 = {.created_only = true};
    c = make(id3, &cfg3, argv);
    remove_and_check(c, id3);
}

/* A harness locked out of execve (harness/isolation.h) makes containers
 * and execs in them through the broker: the broker forks the monitor and
 * each exec, and runs the native runtime's own code there. */
Test(native_container, through_the_broker_under_the_lockout)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("brokered");
    pid_t t = fork();
    cr_assert_geq(t, 0);
    if (t == 0) {
        struct cln_broker *b = NULL;
        struct cln_error *e = NULL;
        if (cln_broker_start_fns(NULL, cln_native_broker_fns, &b, &e) < 0)
            _exit(2);
        struct cln_lockout l;
        if (cln_lockout_install(&l, &e) < 0)
            _exit(3);
        char prog[] = "/bin/true";
        char *const av[] = {prog, NULL};
        execv(prog, av);
        if (errno != EPERM)
            _exit(4);
        const char *argv[] = {"/bin/sh", "-c", "echo first; sleep 1000", NULL};
        struct cln_ctr_config cfg = {.id = id, .run_dir = run_dir, .argv = argv, .broker = b};
        struct cln_ctr *c = NULL;
        if (cln_ctr_create(store, "test/busybox:1", &cfg, &c, &e) < 0)
            _exit(5);
        const char *xa[] = {"/bin/sh", "-c", "echo $$ inside; exit 4", NULL};
        struct cln_ctr_exec x = {.argv = xa, .timeout_ms = 10000};
        struct cln_ctr_exec_result res;
        if (cln_ctr_exec(c, &x, &res, &e) < 0)
            _exit(6);
        bool ok = res.exit_code == 4 && strstr(res.out, " inside\n") && res.host_pid > 0;
        cln_ctr_exec_result_done(&res);
        if (!ok)
            _exit(7);
        /* a deadline kills the exec, not the container */
        const char *hang[] = {"/bin/sleep", "100", NULL};
        struct cln_ctr_exec hx = {.argv = hang, .timeout_ms = 300};
        if (cln_ctr_exec(c, &hx, &res, &e) < 0)
            _exit(8);
        ok = res.timed_out;
        cln_ctr_exec_result_done(&res);
        struct cln_ctr_state st;
        if (!ok || cln_ctr_inspect(c, &st, &e) < 0 || !st.running)
            _exit(9);
        if (cln_ctr_stop(c, 100, &e) < 0 || cln_ctr_remove(c, &e) < 0)
            _exit(10);
        cln_broker_stop(b);
        cln_lockout_done(&l);
        _exit(0);
    }
    int st = -1;
    cr_assert_eq(waitpid(t, &st, 0), t);
    cr_assert(WIFEXITED(st), "status %#x", st);
    cr_assert_eq(WEXITSTATUS(st), 0, "step %d failed", WEXITSTATUS(st));
    cleanup_free char *d = cln_xasprintf("%s/%s", run_dir, id);
    cr_assert_neq(access(d, F_OK), 0, "%s left", d);
    assert_no_mounts();
}

/* An exec whose "init" is a host process (a bug, or a pid reused) never
 * runs: joining its namespaces leaves the host's, which the exec refuses. */
Test(native_container, an_exec_into_a_host_process_never_runs)
{
    if (skip)
        cr_skip_test("needs root and " BUSYBOX);
    cleanup_free char *id = id_of("hostinit");
    struct cln_ctr_config cfg = {0};
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    struct cln_ctr *c = make(id, &cfg, argv);
    /* white box: point the container's init at this test process */
    int real_fd = c->init_fd;
    pid_t real = c->init;
    c->init = getpid();
    c->init_fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    cr_assert_geq(c->init_fd, 0);
    cleanup_free char *marker = cln_xasprintf("%s/host-exec-ran", work);
    cleanup_free char *script = cln_xasprintf("touch %s", marker);
    const char *xa[] = {"/bin/sh", "-c", script, NULL};
    struct cln_ctr_exec x = {.argv = xa, .timeout_ms = 5000};
    struct cln_ctr_exec_result res;
    struct cln_error *err = NULL;
    cr_assert_lt(cln_ctr_exec(c, &x, &res, &err), 0);
    cr_assert(strstr(cln_error_text(err), "still the host's"), "%s", cln_error_text(err));
    cln_error_free(err);
    cr_assert_neq(access(marker, F_OK), 0, "it ran on the host");
    close(c->init_fd);
    c->init_fd = real_fd;
    c->init = real;
    remove_and_check(c, id);
}

/* Limits on each cgroup layout (NATIVE.md §3), written into a directory
 * standing in for /sys/fs/cgroup: v2 alone (memory.max, memory.swap.max 0,
 * pids.max, cpu.max, the controllers enabled for the children), v1 alone
 * (the v1 files, no unified hierarchy), the hybrid (both kinds of
 * directory).  The hybrid is this machine's and runs for real above. */
static char *slurp(const char *path)
{
    cleanup_fclose FILE *f = fopen(path, "re");
    if (!f)
        return cln_xstrdup("(missing)");
    char buf[256] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    return cln_xstrdup(buf);
}

Test(native_cgroups, limits_on_each_layout)
{
    static const struct {
        int layout;
        const char *files[6][2];
    } cases[] = {
        {CTR_CG_V2,
         {{"cleanrun/x/memory.max", "1048576"},
          {"cleanrun/x/memory.swap.max", "0"},
          {"cleanrun/x/pids.max", "64"},
          {"cleanrun/x/cpu.max", "50000 100000"},
          {"memory/cleanrun/x", "(missing)"},
          {NULL, NULL}}},
        {CTR_CG_V1,
         {{"memory/cleanrun/x/memory.limit_in_bytes", "1048576"},
          {"memory/cleanrun/x/memory.memsw.limit_in_bytes", "1048576"},
          {"pids/cleanrun/x/pids.max", "64"},
          {"cpu/cleanrun/x/cpu.cfs_quota_us", "50000"},
          {"cpu/cleanrun/x/cpu.cfs_period_us", "100000"},
          {"unified/cleanrun/x", "(missing)"}}},
        {CTR_CG_HYBRID,
         {{"memory/cleanrun/x/memory.limit_in_bytes", "1048576"},
          {"pids/cleanrun/x/pids.max", "64"},
          {"cpu/cleanrun/x/cpu.cfs_quota_us", "50000"},
          {"cleanrun/x/memory.max", "(missing)"},
          {NULL, NULL}}},
    };
    for (size_t k = 0; k < CLN_ARRAY_SIZE(cases); k++) {
        char root[] = "/tmp/cleanrun-cgroot-XXXXXX";
        cr_assert_not_null(mkdtemp(root));
        static const char *const dirs[] = {"memory", "pids", "cpu", "unified"};
        for (size_t i = 0; cases[k].layout != CTR_CG_V2 && i < 4; i++) {
            if (cases[k].layout == CTR_CG_V1 && i == 3)
                continue;
            cleanup_free char *d = cln_xasprintf("%s/%s", root, dirs[i]);
            cr_assert_eq(mkdir(d, 0755), 0);
        }
        ctr_cgroup_setup(root, cases[k].layout);
        struct cln_ctr c = {.id = (char *)"x"};
        struct cln_ctr_config cfg = {.memory_bytes = 1 << 20, .pids_max = 64, .cpu_millis = 500};
        struct cln_error *err = NULL;
        int r = ctr_cgroups_make(&c, &cfg, &err);
        ctr_cgroup_setup(NULL, -1);
        cr_assert_eq(r, 0, "layout %d: %s", cases[k].layout, cln_error_text(err));
        if (cases[k].layout == CTR_CG_HYBRID) {
            cleanup_free char *u = cln_xasprintf("%s/unified/cleanrun/x", root);
            struct stat st;
            cr_assert_eq(stat(u, &st), 0, "the hybrid's unified cgroup");
        }
        for (size_t i = 0; i < 6 && cases[k].files[i][0]; i++) {
            cleanup_free char *p = cln_xasprintf("%s/%s", root, cases[k].files[i][0]);
            cleanup_free char *got = slurp(p);
            struct stat st;
            if (strcmp(cases[k].files[i][1], "(missing)") == 0)
                cr_assert_neq(stat(p, &st), 0, "layout %d: %s exists", cases[k].layout, p);
            else
                cr_assert_str_eq(got, cases[k].files[i][1], "layout %d: %s", cases[k].layout, p);
        }
        for (int i = 0; i < 4; i++)
            free(c.cg[i]);
        cleanup_free char *rm = cln_xasprintf("rm -rf %s", root);
        cr_assert_eq(system(rm), 0);
    }
}
