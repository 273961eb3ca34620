/* Unit tests of the host OS seam (runtime/base/os.h), its Linux half.
 * Safe killing (os-linux-proc.c): nothing outside the scope it was asked
 * about is ever signalled: not a process of another pid namespace or
 * cgroup, not one older than the step, not the excluded init.  The
 * processes are this test's own children, so that the test can tell.
 * The rest (os-linux.c): file resolution and opening beneath a directory,
 * kernel file systems, namespaces and roots, process handles, descriptors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/deadline.h"
#include "runtime/base/os.h"

static pid_t sleeper(void)
{
    pid_t p = fork();
    if (p == 0) {
        for (;;)
            pause();
    }
    cr_assert_gt(p, 0);
    /* until it shows in /proc with a start time */
    for (int i = 0; i < 200 && !cln_proc_start_time(p); i++)
        usleep(1000);
    return p;
}

/* Killed by SIGKILL (reaps it); false when it still runs (then killed here). */
static bool was_killed(pid_t p)
{
    int status = 0;
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(p, &status, WNOHANG);
        if (r == p)
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        usleep(1000);
    }
    kill(p, SIGKILL);
    waitpid(p, &status, 0);
    return false;
}

static void wait_ticks(void)
{
    uint64_t t = cln_proc_now_ticks();
    while (cln_proc_now_ticks() == t)
        usleep(1000);
}

Test(proc, a_process_in_scope_is_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    cr_assert_not_null(cg);
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    pid_t p = sleeper();
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 1);
    cr_assert(was_killed(p));
    free(cg);
}

Test(proc, a_whole_tree_is_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t p = fork();
    if (p == 0) {
        pid_t g = fork();
        if (g == 0) {
            for (;;)
                pause();
        }
        (void)!write(fds[1], &g, sizeof(g));
        for (;;)
            pause();
    }
    pid_t g = 0;
    cr_assert_eq(read(fds[0], &g, sizeof(g)), (ssize_t)sizeof(g));
    for (int i = 0; i < 200 && !cln_proc_start_time(g); i++)
        usleep(1000);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 2);
    cr_assert(was_killed(p));
    /* the grandchild was killed too: gone, or a zombie of whoever it was
     * reparented to */
    bool dead = false;
    for (int i = 0; i < 500 && !dead; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", g);
        FILE *f = fopen(path, "r");
        dead = !f;
        if (f) {
            char buf[512];
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
            const char *rp = strrchr(buf, ')');
            dead = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
        }
        if (!dead)
            usleep(1000);
    }
    cr_assert(dead, "the grandchild survived");
    free(cg);
}

/* A step's process started after the step began: one that was running
 * before (a reused pid's owner, or a service's own worker) is not the
 * step's. */
Test(proc, a_process_older_than_the_step_is_not_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    pid_t p = sleeper();
    wait_ticks();
    wait_ticks();
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    cr_assert_eq(cln_proc_open_scoped(p, &scope), -1);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 0);
    cr_assert_not(was_killed(p));
    free(cg);
}

/* What the engine said is the step's pid, once the step's own process is
 * gone, may be a host process: another pid namespace or cgroup than the
 * container's, so never signalled. */
Test(proc, a_process_of_another_pid_namespace_or_cgroup_is_not_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    uint64_t t0 = cln_proc_now_ticks();
    pid_t p = sleeper();
    struct cln_proc_scope other_ns = {.pidns = 4026539999ULL, .cgroup = cg, .min_start = t0};
    struct cln_proc_scope other_cg = {
        .pidns = cln_proc_pidns(0), .cgroup = "/docker/0123456789abcdef", .min_start = t0};
    struct cln_proc_scope excluded = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = t0, .exclude = p};
    cr_assert_eq(cln_proc_kill_scoped(p, &other_ns, false), 0);
    cr_assert_eq(cln_proc_kill_scoped(p, &other_cg, false), 0);
    cr_assert_eq(cln_proc_kill_scoped(p, &excluded, false), 0);
    cr_assert_not(was_killed(p));
    free(cg);
}

Test(proc, a_gone_process_is_not_signalled)
{
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    cr_assert_eq(cln_proc_open_scoped(p, &scope), -1);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 0);
    free(cg);
}

/* A forced removal kills a container's init itself: the scope's excluded
 * pid is allowed there, but never a process outside the scope. */
Test(proc, an_init_in_scope_is_killed_one_outside_never)
{
    char *cg = cln_proc_cgroup(getpid());
    pid_t p = sleeper(), q = sleeper();
    struct cln_proc_scope init = {.pidns = cln_proc_pidns(0), .cgroup = cg, .exclude = p};
    struct cln_proc_scope other_cg = {.pidns = cln_proc_pidns(0),
                                      .cgroup = "/docker/0123456789abcdef"};
    struct cln_proc_scope other_ns = {.pidns = 4026539999ULL, .cgroup = cg};
    cr_assert_eq(cln_proc_kill_in_scope(q, &other_cg), -1);
    cr_assert_eq(cln_proc_kill_in_scope(q, &other_ns), -1);
    cr_assert_eq(cln_proc_kill_in_scope(p, &init), 0);
    cr_assert(was_killed(p));
    cr_assert_not(was_killed(q)); /* which reaps it */
    free(cg);
}

Test(proc, facts)
{
    cr_assert_neq(cln_proc_pidns(0), 0);
    cr_assert_eq(cln_proc_pidns(0), cln_proc_pidns(getpid()));
    cr_assert_eq(cln_proc_inner_pid(getpid()), getpid());
    uint64_t now = cln_proc_now_ticks(), mine = cln_proc_start_time(0);
    cr_assert(mine > 0 && mine <= now, "start %llu, now %llu", (unsigned long long)mine,
              (unsigned long long)now);
    char id[64];
    cln_machine_id(id, sizeof(id));
    cr_assert_gt(strlen(id), 0);
    int *pids = NULL;
    size_t n = 0;
    char *cg = cln_proc_cgroup(getpid());
    cr_assert_eq(cln_cgroup_pids(cg, &pids, &n), 0);
    bool me = false;
    for (size_t i = 0; i < n; i++)
        me = me || pids[i] == getpid();
    cr_assert(me, "this process is in its own cgroup's cgroup.procs");
    free(pids);
    free(cg);
}

/* ---- the rest of the seam (os-linux.c) ---- */

static char *tmpdir_make(void)
{
    char *d = strdup("/tmp/cln-test-os.XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(os, resolve_file_follows_links_and_refuses_what_is_no_regular_file)
{
    char *d = tmpdir_make();
    char f[256], l[256], out[4096];
    snprintf(f, sizeof(f), "%s/real", d);
    snprintf(l, sizeof(l), "%s/link", d);
    write_file(f, "x");
    cr_assert_eq(symlink("real", l), 0);
    struct stat st;
    cr_assert_eq(cln_os_resolve_file(l, out, sizeof(out), &st), 0);
    cr_assert_str_eq(out, f);
    cr_assert_eq(cln_os_resolve_file(d, out, sizeof(out), &st), -EACCES, "a directory");
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing", d);
    cr_assert_eq(cln_os_resolve_file(missing, out, sizeof(out), &st), -ENOENT);
    unlink(l);
    unlink(f);
    rmdir(d);
    free(d);
}

Test(os, open_beneath_never_leads_out)
{
    char *d = tmpdir_make();
    char sub[256], p[300];
    snprintf(sub, sizeof(sub), "%s/sub", d);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(p, sizeof(p), "%s/in", sub);
    write_file(p, "in");
    snprintf(p, sizeof(p), "%s/out", d);
    write_file(p, "out");
    snprintf(p, sizeof(p), "%s/up", sub);
    cr_assert_eq(symlink("../out", p), 0);
    int fd = cln_os_open_beneath(sub, "in", O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOSYS)
        cr_skip_test("no openat2 on this kernel");
    cr_assert_geq(fd, 0);
    close(fd);
    errno = 0;
    cr_assert_lt(cln_os_open_beneath(sub, "../out", O_RDONLY | O_CLOEXEC), 0);
    cr_assert(errno == EXDEV || errno == ELOOP, "errno %d", errno);
    cr_assert_lt(cln_os_open_beneath(sub, "up", O_RDONLY | O_CLOEXEC), 0, "a symlink out");
    unlink(p);
    snprintf(p, sizeof(p), "%s/in", sub);
    unlink(p);
    snprintf(p, sizeof(p), "%s/out", d);
    unlink(p);
    rmdir(sub);
    rmdir(d);
    free(d);
}

Test(os, kernel_file_systems_are_told_apart)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cln_os_is_kernel_fs(fd), 1, "/proc");
    close(fd);
    fd = open("/sys/kernel/mm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        cr_assert_eq(cln_os_is_kernel_fs(fd), 1, "/sys");
        close(fd);
    }
    char *d = tmpdir_make();
    fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_eq(cln_os_is_kernel_fs(fd), 0, "a temporary directory");
    close(fd);
    rmdir(d);
    free(d);
}

Test(os, namespaces_roots_and_pids)
{
    uint64_t ino = 0;
    struct stat st;
    cr_assert_eq(stat("/proc/self/ns/pid", &st), 0);
    cr_assert_eq(cln_os_ns_inode(0, "pid", &ino), 0);
    cr_assert_eq(ino, (uint64_t)st.st_ino);
    cr_assert_eq(cln_os_ns_inode(getpid(), "mnt", &ino), 0);
    cr_assert_lt(cln_os_ns_inode(getpid(), "no-such-namespace", &ino), 0);
    char *root = cln_os_root_path(getpid(), "/etc/hostname");
    char want[64];
    snprintf(want, sizeof(want), "/proc/%d/root/etc/hostname", (int)getpid());
    cr_assert_str_eq(root, want);
    free(root);
    int *pids = NULL;
    size_t n = 0;
    cr_assert_eq(cln_os_pids(&pids, &n), 0);
    bool self = false;
    for (size_t i = 0; i < n; i++)
        self = self || pids[i] == getpid();
    free(pids);
    cr_assert(self, "this process among %zu", n);
    char *exe = cln_os_self_exe();
    cr_assert_not_null(exe);
    cr_assert_eq(exe[0], '/');
    free(exe);
}

Test(os, a_process_handle_signals_exactly_its_process_and_polls_at_exit)
{
    pid_t p = sleeper();
    int h = cln_os_proc_open(p);
    cr_assert_geq(h, 0);
    struct pollfd pf = {.fd = h, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 0), 0, "readable before it exited");
    cr_assert_eq(cln_os_proc_signal(h, SIGKILL), 0);
    cr_assert_eq(poll(&pf, 1, 5000), 1, "readable once it exited");
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    cr_assert_eq(cln_os_proc_wait(h, &si, WEXITED), 0);
    cr_assert_eq(si.si_pid, p);
    cr_assert_eq(si.si_status, SIGKILL);
    cr_assert_lt(cln_os_proc_signal(h, 0), 0, "reaped: no process behind it");
    close(h);
}

Test(os, descriptors_and_the_rest)
{
    int fds[2];
    cr_assert_eq(cln_os_pipe(fds), 0);
    cr_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    cr_assert(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
    int sv[2];
    cr_assert_eq(cln_os_socketpair(AF_UNIX, SOCK_SEQPACKET, sv), 0);
    cr_assert(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
    int s = cln_os_socket(AF_INET, SOCK_STREAM, 0, true);
    cr_assert_geq(s, 0);
    cr_assert(fcntl(s, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(s, F_GETFD) & FD_CLOEXEC);
    int d = cln_os_dup_cloexec(fds[0], 100);
    cr_assert_eq(d, 100);
    cr_assert(fcntl(d, F_GETFD) & FD_CLOEXEC);
    close(d);
    close(s);
    close(sv[0]);
    close(sv[1]);
    close(fds[0]);
    close(fds[1]);
    unsigned char buf[32] = {0}, zero[32] = {0};
    cr_assert_eq(cln_os_random(buf, sizeof(buf)), (ssize_t)sizeof(buf));
    cr_assert_neq(memcmp(buf, zero, sizeof(buf)), 0);
    cr_assert_str_eq(cln_os_signal_abbrev(SIGKILL), "KILL");
    /* after a fork, everything from 3 up but one is gone at execve */
    pid_t p = fork();
    if (p == 0) {
        int keep = dup(1), other = dup(1);
        if (cln_os_close_on_exec_from(3, keep) < 0)
            _exit(2);
        int ok = (fcntl(keep, F_GETFD) >= 0) &&
                 (fcntl(other, F_GETFD) < 0 || (fcntl(other, F_GETFD) & FD_CLOEXEC));
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    cr_assert_eq(waitpid(p, &st, 0), p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

/* ---- the gate: cleanrun-exec -W (harness/inside) and cln_gate_open ---- */

#ifndef CLN_INSIDE_EXEC
#define CLN_INSIDE_EXEC "build/inside/cleanrun-exec"
#endif

/* cleanrun-exec -W -- sh -c SCRIPT, as a child (its own init, here) */
static pid_t gated(const char *exe, const char *script)
{
    pid_t p = fork();
    if (p == 0) {
        execl(exe, exe, "-W", "--", "/bin/sh", "-c", script, (char *)NULL);
        _exit(126);
    }
    cr_assert_gt(p, 0);
    return p;
}

static void read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
}

static int exit_of(pid_t p)
{
    int st = 0;
    cr_assert_eq(waitpid(p, &st, 0), p);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(gate, the_step_runs_only_when_released_its_output_through_the_pipes)
{
    char exe[PATH_MAX];
    cr_assert_not_null(realpath(CLN_INSIDE_EXEC, exe), "no %s: build it first", CLN_INSIDE_EXEC);
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    pid_t p = gated(exe, "echo out; echo err >&2; exit 3");
    struct cln_gate g;
    cr_assert_eq(cln_gate_open(p, &scope, exe, cln_now_ms() + 5000, -1, &g), 0, "errno %d", errno);
    /* held: nothing written yet, and it has not exited */
    struct pollfd pf = {.fd = g.out, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 100), 0);
    cr_assert_eq(waitpid(p, NULL, WNOHANG), 0);
    cr_assert_eq(cln_gate_signal(&g, SIGUSR1), 0);
    char out[64], err[64];
    read_all(g.out, out, sizeof(out));
    read_all(g.err, err, sizeof(err));
    cr_assert_str_eq(out, "out\n");
    cr_assert_str_eq(err, "err\n");
    /* the step's status, then the init waits to be let go */
    int st = -1;
    cr_assert_eq(read(g.status, &st, sizeof(st)), (ssize_t)sizeof(st));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "%#x", st);
    cr_assert_eq(waitpid(p, NULL, WNOHANG), 0);
    cr_assert_eq(cln_gate_signal(&g, SIGUSR1), 0);
    cr_assert_eq(exit_of(p), 3);
    cln_gate_close(&g);
    cr_assert_eq(g.pidfd, -1);
    free(cg);
}

Test(gate, a_step_killed_by_a_signal_exits_128_plus_it)
{
    char exe[PATH_MAX];
    cr_assert_not_null(realpath(CLN_INSIDE_EXEC, exe));
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {.pidns = cln_proc_pidns(0), .cgroup = cg};
    pid_t p = gated(exe, "kill -TERM $$");
    struct cln_gate g;
    cr_assert_eq(cln_gate_open(p, &scope, exe, cln_now_ms() + 5000, -1, &g), 0);
    cr_assert_eq(cln_gate_signal(&g, SIGUSR1), 0);
    int st = -1;
    cr_assert_eq(read(g.status, &st, sizeof(st)), (ssize_t)sizeof(st));
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "%#x", st);
    cr_assert_eq(cln_gate_signal(&g, SIGUSR1), 0);
    cr_assert_eq(exit_of(p), 128 + SIGTERM);
    cln_gate_close(&g);
    free(cg);
}

Test(gate, a_process_out_of_scope_is_never_released_nor_its_pipes_taken)
{
    char exe[PATH_MAX];
    cr_assert_not_null(realpath(CLN_INSIDE_EXEC, exe));
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope other_ns = {.pidns = 4026539999ULL, .cgroup = cg};
    struct cln_proc_scope other_cg = {.pidns = cln_proc_pidns(0),
                                      .cgroup = "/docker/0123456789abcdef"};
    pid_t p = gated(exe, "exit 0");
    struct cln_gate g;
    errno = 0;
    cr_assert_eq(cln_gate_open(p, &other_ns, exe, cln_now_ms() + 500, -1, &g), -1);
    cr_assert_eq(errno, ESRCH);
    cr_assert_eq(cln_gate_open(p, &other_cg, exe, cln_now_ms() + 500, -1, &g), -1);
    cr_assert_eq(g.out, -1);
    cr_assert_eq(waitpid(p, NULL, WNOHANG), 0); /* still held */
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    free(cg);
}

Test(gate, one_that_never_reaches_its_gate_times_out_one_that_exits_is_gone)
{
    char exe[PATH_MAX];
    cr_assert_not_null(realpath(CLN_INSIDE_EXEC, exe));
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {.pidns = cln_proc_pidns(0), .cgroup = cg};
    pid_t s = sleeper(); /* no SIGUSR1 blocked: never at a gate */
    struct cln_gate g;
    uint64_t t0 = cln_now_ms();
    cr_assert_eq(cln_gate_open(s, &scope, exe, t0 + 300, -1, &g), -1);
    cr_assert_eq(errno, ETIMEDOUT);
    cr_assert_lt(cln_now_ms() - t0, 3000);
    kill(s, SIGKILL);
    waitpid(s, NULL, 0);
    /* a usage error: it exits before any gate */
    pid_t p = fork();
    if (p == 0) {
        execl(exe, exe, "-W", (char *)NULL);
        _exit(126);
    }
    t0 = cln_now_ms();
    int r = cln_gate_open(p, &scope, exe, t0 + 5000, -1, &g);
    int e = errno;
    cr_assert_eq(exit_of(p), 127);
    cr_assert_eq(r, -1);
    cr_assert(e == ESRCH, "errno %d", e);
    cr_assert_lt(cln_now_ms() - t0, 3000);
    free(cg);
}
