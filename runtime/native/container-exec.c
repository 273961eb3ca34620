/* exec into a running container (NATIVE.md §4).  A forked child joins the
 * init's cgroups and namespaces (setns on its pidfd; /proc/PID/ns/ when the
 * kernel is older than 5.8) and forks, so that the pid namespace applies; the
 * grandchild leads its own process group and gets the container's security
 * before exec.  At the deadline the child kills that process group only (its
 * unreaped child leads it: the group cannot be anyone else's); the caller
 * kills the child through its pidfd as a backstop, and the grandchild dies
 * with it (PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"
#include "runtime/native/container.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void cln_ctr_exec_result_done(struct cln_ctr_exec_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static const int ns_flags =
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP;

static int join_ns(int init_fd, pid_t init, bool userns)
{
    /* a rootless container's user namespace with the rest (the kernel
     * joins it first) */
    if (setns(init_fd, ns_flags | (userns ? CLONE_NEWUSER : 0)) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    /* Before 5.8: every /proc/PID/ns/ entry opened first, then joined; user
     * first, mnt last. */
    static const char *const names[] = {"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"};
    int fds[7];
    for (int i = userns ? 0 : 1; i < 7; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)init, names[i]);
        fds[i] = open(p, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            return -errno;
    }
    /* The pid is still the init's: the pidfd keeps it from being reused while
     * the init is a zombie, and a dead init makes the joins fail. */
    if (syscall(SYS_pidfd_send_signal, init_fd, 0, NULL, 0) < 0)
        return -errno;
    for (int i = userns ? 0 : 1; i < 7; i++)
        if (setns(fds[i], 0) < 0)
            return -errno;
    return 0;
}

struct exec_child {
    const struct ctr_proc *proc;
    int init_fd;
    pid_t init;
    char procs[4][4200]; /* the cgroup.procs files; the unified one the exec's own leaf's */
    char kill[4200];     /* that leaf's cgroup.kill, or "" */
    unsigned timeout_ms;
    int sock, in, out, err;
};

__attribute__((noreturn)) static void run_exec(const struct exec_child *x, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        _exit(137);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* NATIVE.md §8: before joining */
    const int keep[] = {x->sock, x->in, x->out, x->err, x->init_fd};
    ctr_close_except(keep, CLN_ARRAY_SIZE(keep));
    for (int i = 0; i < 4; i++) {
        if (!x->procs[i][0])
            continue;
        int fd = open(x->procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            ctr_child_fail(x->sock, "joining the container's cgroups", errno);
        close(fd);
    }
    /* the exec's own cgroup: at the deadline every process of the exec, in
     * its process group or not (setsid), is killed, and nothing else */
    /* (no cgroup.kill before Linux 5.14: the process group only) */
    int killfd = x->kill[0] ? open(x->kill, O_WRONLY | O_CLOEXEC) : -1;
    if (x->kill[0] && killfd < 0 && errno != ENOENT)
        ctr_child_fail(x->sock, "opening the exec's cgroup.kill", errno);
    /* the container's namespaces, or nothing: a pidfd that is not a
     * container's init (a bug, a process gone and its pid reused) would
     * leave this process in the host's, so mount and pid must have changed */
    /* (read through this process's own ns directory of the host's /proc,
     * opened before: the container's /proc does not show this process) */
    struct stat mnt0, pid0, mnt1, pid1;
    int nsdir = open("/proc/self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (nsdir < 0 || fstatat(nsdir, "mnt", &mnt0, 0) < 0 || fstatat(nsdir, "pid", &pid0, 0) < 0)
        ctr_child_fail(x->sock, "reading this process's namespaces", errno);
    int r = join_ns(x->init_fd, x->init, x->proc->id_count > 0);
    if (r < 0)
        ctr_child_fail(x->sock, "joining the container's namespaces", -r);
    if (fstatat(nsdir, "mnt", &mnt1, 0) < 0 || fstatat(nsdir, "pid_for_children", &pid1, 0) < 0 ||
        mnt1.st_ino == mnt0.st_ino || pid1.st_ino == pid0.st_ino)
        ctr_child_fail(x->sock, "joining the container's namespaces: still the host's", EPERM);
    close(nsdir);
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) < 0)
        ctr_child_fail(x->sock, "pipe", errno);
    pid_t f = fork();
    if (f < 0)
        ctr_child_fail(x->sock, "fork into the container", errno);
    if (f == 0) {
        close(alive[1]);
        setpgid(0, 0);
        if (dup2(x->in, 0) < 0 || dup2(x->out, 1) < 0 || dup2(x->err, 2) < 0)
            ctr_child_fail(x->sock, "stdio", errno);
        umask(022);
        ctr_child_exec(x->proc, x->sock, alive[0]);
    }
    close(alive[0]);
    close(x->in);
    close(x->out);
    close(x->err);
    setpgid(f, f); /* both sides, against the race */
    struct ctr_msg m = {.kind = 3, .val = f};
    if (write(x->sock, &m, sizeof(m)) < 0)
        _exit(137);
    int pfd = (int)syscall(SYS_pidfd_open, f, 0);
    long deadline = x->timeout_ms ? now_ms() + x->timeout_ms : -1;
    for (;;) {
        long left = deadline < 0 ? -1 : deadline - now_ms();
        /* the caller's word (or its end) ends it as the deadline does */
        struct pollfd pf[2] = {{.fd = pfd, .events = POLLIN}, {.fd = x->sock, .events = POLLIN}};
        int n = pfd < 0 ? 1 : poll(pf, 2, left < 0 && deadline >= 0 ? 0 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0 && !pf[0].revents)
            n = 0;
        if (n == 0) {
            kill(-f, SIGKILL); /* f is our unreaped child and leads the group */
            struct ctr_msg t = {.kind = 4};
            ssize_t told = write(x->sock, &t, sizeof(t));
            /* then the whole cgroup: this process is in it too, and ends here */
            if (killfd >= 0 && write(killfd, "1", 1) < 0)
                _exit(137);
            if (told < 0)
                _exit(137);
        }
        break;
    }
    int st;
    while (waitpid(f, &st, 0) < 0)
        if (errno != EINTR)
            _exit(255);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* The broker's function for an exec: the plan read back (the process,
 * the init's pid, the deadline, the cgroup.procs files), then as above.
 * Descriptors: the channel, stdin, stdout, stderr, the init's pidfd. */
void ctr_exec_broker_fn(const void *data, size_t len, const int *fds, int nfds)
{
    static struct ctr_proc proc;
    static struct exec_child x;
    pid_t parent = getppid();
    struct ctr_plan_reader r = {.p = data, .end = (const unsigned char *)data + len};
    if (nfds != 5 || ctr_plan_get_proc(&r, &proc) < 0)
        _exit(126);
    x.proc = &proc;
    x.init = (pid_t)ctr_plan_u32(&r);
    x.timeout_ms = ctr_plan_u32(&r);
    for (int i = 0; i < 4; i++) {
        const char *p = ctr_plan_str(&r);
        if (p && strlen(p) >= sizeof(x.procs[i]))
            _exit(126);
        if (p)
            memcpy(x.procs[i], p, strlen(p) + 1);
    }
    const char *k = ctr_plan_str(&r);
    if (k && strlen(k) >= sizeof(x.kill))
        _exit(126);
    if (k)
        memcpy(x.kill, k, strlen(k) + 1);
    if (r.bad)
        _exit(126);
    x.sock = fds[0];
    x.in = fds[1];
    x.out = fds[2];
    x.err = fds[3];
    x.init_fd = fds[4];
    run_exec(&x, parent);
}

/* Keep up to cap bytes of what fd gives, count the rest; each chunk to
 * x's on_output as stream. */
static bool drain(int fd, struct cln_buf *b, size_t cap, size_t *dropped,
                  const struct cln_ctr_exec *x, int stream)
{
    char tmp[16384];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    if (x->on_output)
        x->on_output(stream, tmp, (size_t)n, x->userdata);
    size_t keep = b->len < cap ? cap - b->len : 0;
    if (keep > (size_t)n)
        keep = (size_t)n;
    cln_buf_append(b, tmp, keep);
    *dropped += (size_t)n - keep;
    return true;
}

/* The exec's cgroup once it is empty: its processes are told to end (or
 * ended by themselves); cgroup.events says when the last is gone (1 s at
 * most).  One left running (a daemon the exec started, its deadline not
 * reached) keeps it, and the container's removal takes both. */
static void leaf_kill(const char *leaf)
{
    if (!leaf)
        return;
    cleanup_free char *k = cln_xasprintf("%s/cgroup.kill", leaf);
    int fd = open(k, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "1", 1);
        (void)w;
        close(fd);
    }
}

static void leaf_remove(const char *leaf, bool killed)
{
    /* (one the exec left running keeps it: its own, until the container goes) */
    if (rmdir(leaf) == 0 || errno != EBUSY || !killed)
        return;
    cleanup_free char *ev = cln_xasprintf("%s/cgroup.events", leaf);
    int fd = open(ev, O_RDONLY | O_CLOEXEC);
    long until = now_ms() + 1000;
    while (fd >= 0) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            break;
        buf[n] = 0;
        if (strstr(buf, "populated 0")) {
            rmdir(leaf);
            break;
        }
        long left = until - now_ms();
        struct pollfd pf = {.fd = fd, .events = POLLPRI};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
    }
    if (fd >= 0)
        close(fd);
}

/* errno as runc (Go) words it: strerror with a lower-case first letter */
static void go_strerror(int e, char *out, size_t size)
{
    snprintf(out, size, "%s", strerror(e));
    if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* A child that could not start the process: the program or the working
 * directory is the caller's (CLN_E_INVALID, worded as runc words it, as
 * Docker and Podman report it); anything else is the container's setup. */
int ctr_start_failure(const char *a0, const char *cwd, const char *what, int e, const char *id,
                      struct cln_error **err)
{
    char why[128];
    go_strerror(e, why, sizeof(why));
    if (strcmp(what, "execve") == 0) {
        if (e == ENOENT && !strchr(a0, '/'))
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "exec: \"%s\": executable file not found in $PATH", a0);
        if (e == ENOENT)
            return cln_error_set(err, CLN_E_INVALID, 0, "exec: \"%s\": stat %s: %s", a0, a0, why);
        return cln_error_set(err, CLN_E_INVALID, 0, "exec: \"%s\": %s", a0, why);
    }
    if (strcmp(what, "chdir to the working directory") == 0)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "chdir to cwd (\"%s\") set in config.json failed: %s", cwd, why);
    return cln_error_set(err, CLN_E_ISOLATION, e, "exec in container %s: %s", id, what);
}

int cln_ctr_exec(struct cln_ctr *c, const struct cln_ctr_exec *x, struct cln_ctr_exec_result *ret,
                 struct cln_error **err)
{
    if (!x->argv || !x->argv[0])
        return cln_error_set(err, CLN_E_INVALID, 0, "exec: no argv");
    if (c->reaped || c->init_fd < 0)
        return cln_error_set(err, CLN_E_CONFLICT, 0, "container %s is not running", c->id);
    /* The container's process, with this exec's argv, env, cwd and user; the
     * seccomp filter and capabilities are shared, not copied. */
    struct ctr_proc p = c->proc;
    memset(&p.argv, 0, sizeof(p.argv));
    memset(&p.env, 0, sizeof(p.env));
    for (size_t i = 0; x->argv[i]; i++)
        cln_strv_add(&p.argv, x->argv[i]);
    ctr_env_merge(&p.env, cln_strv_argv(&c->proc.env), x->env);
    p.cwd = (char *)(x->workdir ? x->workdir : c->proc.cwd);
    int r = 0;
    if (x->user)
        r = ctr_resolve_user(&c->layers, x->user, &p, err);
    if (r == 0 && x->user && c->proc.id_count)
        r = ctr_userns_ids(&p, c->proc.id_count, x->user, err);
    struct exec_child *ec = cln_xcalloc(1, sizeof(*ec));
    ec->proc = &p;
    ec->init_fd = c->init_fd;
    ec->init = c->init;
    ec->timeout_ms = x->timeout_ms;
    for (int i = 0; i < 3; i++)
        if (c->cg[i])
            snprintf(ec->procs[i], sizeof(ec->procs[i]), "%s/cgroup.procs", c->cg[i]);
    /* the exec's own leaf of the container's unified cgroup (no controller
     * is enabled there, so the container's processes may stay beside it) */
    cleanup_free char *leaf = NULL;
    if (c->cg[3]) {
        static unsigned long seq;
        leaf = cln_xasprintf("%s/exec-%d-%lu", c->cg[3], (int)getpid(),
                             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
        if (mkdir(leaf, 0755) < 0) {
            r = r ? r : cln_error_set(err, CLN_E_IO, errno, "exec: creating cgroup %s", leaf);
        } else {
            snprintf(ec->procs[3], sizeof(ec->procs[3]), "%s/cgroup.procs", leaf);
            snprintf(ec->kill, sizeof(ec->kill), "%s/cgroup.kill", leaf);
        }
    }
    int sv[2] = {-1, -1}, in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (r == 0 &&
        (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
         pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0))
        r = cln_error_set(err, CLN_E_IO, errno, "exec: pipes");
    pid_t e = -1;
    struct cln_broker_child bc = {.pidfd = -1, .status_fd = -1};
    if (r == 0 && c->broker) { /* the broker forks it: nothing here can exec */
        struct cln_buf plan = CLN_BUF_INIT;
        ctr_plan_put_proc(&plan, &p);
        ctr_plan_put_u32(&plan, (uint32_t)c->init);
        ctr_plan_put_u32(&plan, x->timeout_ms);
        for (int i = 0; i < 4; i++)
            ctr_plan_put_str(&plan, ec->procs[i][0] ? ec->procs[i] : NULL);
        ctr_plan_put_str(&plan, ec->kill[0] ? ec->kill : NULL);
        const int fds[] = {sv[1], in[0], out[1], er[1], c->init_fd};
        struct cln_broker_fork_req req = {
            .name = "native-exec", .data = plan.data, .len = plan.len, .fds = fds, .nfds = 5};
        r = cln_broker_fork(c->broker, &req, &bc, err);
        cln_buf_done(&plan);
        if (r == 0)
            e = bc.pid;
    } else if (r == 0) {
        ec->sock = sv[1];
        ec->in = in[0];
        ec->out = out[1];
        ec->err = er[1];
        pid_t self = getpid();
        e = fork();
        if (e == 0)
            run_exec(ec, self);
        if (e < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "exec: fork");
    }
    const int child_ends[] = {sv[1], in[0], out[1], er[1]};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(child_ends); i++)
        if (child_ends[i] >= 0)
            close(child_ends[i]);
    free(ec);
    cln_strv_done(&p.argv);
    cln_strv_done(&p.env);
    int efd = c->broker ? bc.pidfd : e > 0 ? (int)syscall(SYS_pidfd_open, e, 0) : -1;
    if (!c->broker && e > 0 && efd < 0) {
        kill(e, SIGKILL); /* our unreaped child */
        r = cln_error_set(err, CLN_E_IO, errno, "exec: pidfd_open");
    }
    struct cln_buf ob = {0}, eb = {0};
    struct cln_ctr_exec_result res = {0};
    if (r == 0) {
        bool failed = false;
        char failtext[256] = "";
        int failerr = 0;
        if (x->stdin_data == NULL) {
            close(in[1]);
            in[1] = -1;
        } else {
            fcntl(in[1], F_SETFL, O_NONBLOCK);
        }
        size_t cap = x->out_cap ? x->out_cap : 1 << 20, sent = 0;
        int wake = x->wake_fd > 0 ? x->wake_fd : -1;
        bool killed = false;
        long backstop = x->timeout_ms ? now_ms() + x->timeout_ms + 5000 : -1;
        bool open_out = true, open_err = true, open_sock = true;
        while (open_out || open_err || open_sock) {
            struct pollfd pf[5] = {{.fd = open_out ? out[0] : -1, .events = POLLIN},
                                   {.fd = open_err ? er[0] : -1, .events = POLLIN},
                                   {.fd = open_sock ? sv[0] : -1, .events = POLLIN},
                                   {.fd = in[1], .events = POLLOUT},
                                   {.fd = wake, .events = POLLIN}};
            long left = backstop < 0 ? -1 : backstop - now_ms();
            int n = poll(pf, 5, backstop < 0 ? -1 : left > 0 ? (int)left : 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 && killed) /* a process of the container holds the pipes: let go */
                break;
            if (n == 0) { /* the child did not end its process: end both */
                syscall(SYS_pidfd_send_signal, efd, SIGKILL, NULL, 0);
                leaf_kill(leaf);
                res.timed_out = true;
                killed = true;
                backstop = now_ms() + 2000;
                continue;
            }
            if (pf[4].revents) { /* the child ends it as at its deadline */
                struct ctr_msg k = {.kind = 5};
                if (open_sock && send(sv[0], &k, sizeof(k), MSG_NOSIGNAL) < 0) {
                    syscall(SYS_pidfd_send_signal, efd, SIGKILL, NULL, 0);
                    leaf_kill(leaf);
                    res.timed_out = true;
                }
                res.interrupted = true;
                if (backstop < 0 || backstop > now_ms() + 5000)
                    backstop = now_ms() + 5000;
                wake = -1;
            }
            if (pf[0].revents && !drain(out[0], &ob, cap, &res.out_dropped, x, 1))
                open_out = false;
            if (pf[1].revents && !drain(er[0], &eb, cap, &res.err_dropped, x, 2))
                open_err = false;
            if (pf[2].revents) {
                struct ctr_msg m;
                ssize_t k = recv(sv[0], &m, sizeof(m), 0);
                if (k <= 0) {
                    open_sock = false;
                } else if (m.kind == 0) {
                    failed = true;
                    failerr = m.err;
                    m.text[sizeof(m.text) - 1] = 0;
                    snprintf(failtext, sizeof(failtext), "%s", m.text);
                } else if (m.kind == 3) {
                    res.host_pid = (pid_t)m.val;
                } else if (m.kind == 4) {
                    res.timed_out = true;
                }
            }
            if (in[1] >= 0 && pf[3].revents) {
                ssize_t w = (pf[3].revents & POLLOUT)
                                ? write(in[1], x->stdin_data + sent, x->stdin_len - sent)
                                : -1;
                if (w > 0)
                    sent += (size_t)w;
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent >= x->stdin_len) {
                    close(in[1]);
                    in[1] = -1;
                }
            }
        }
        /* an exec the caller ended is ended so, however the kill landed */
        if (res.interrupted)
            res.timed_out = true;
        siginfo_t si = {0};
        int st = 0;
        if (c->broker) { /* the broker reaps it and says how it ended */
            if (cln_broker_wait(&bc, 30000, &st, err) < 0)
                r = cln_error_wrap(err, "exec: waiting");
            else
                res.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        } else if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)efd, &si, WEXITED) < 0) {
            r = cln_error_set(err, CLN_E_IO, errno, "exec: waiting");
        } else {
            res.exit_code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        }
        if (r == 0 && failed)
            r = ctr_start_failure(x->argv[0], p.cwd, failtext, failerr, c->id, err);
    }
    const int ours[] = {sv[0], in[1], out[0], er[0], c->broker ? -1 : efd};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(ours); i++)
        if (ours[i] >= 0)
            close(ours[i]);
    cln_broker_child_done(&bc); /* efd, when the broker made it */
    if (leaf)
        leaf_remove(leaf, res.timed_out);
    if (r < 0) {
        cln_buf_done(&ob);
        cln_buf_done(&eb);
        return r;
    }
    res.out_len = ob.len;
    res.err_len = eb.len;
    cln_buf_putc(&ob, 0);
    cln_buf_putc(&eb, 0);
    res.out = cln_buf_steal(&ob);
    res.err = cln_buf_steal(&eb);
    *ret = res;
    return 0;
}
