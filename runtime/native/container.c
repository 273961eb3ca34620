/* Containers of the native runtime: create and start, inspect, kill, stop,
 * wait, remove (container.h).  The root is built in container-root.c, the
 * process's security in container-setup.c, exec in container-exec.c.
 * Cgroups: this host is a v1+v2 hybrid (NATIVE.md §3): limits go to the v1
 * memory, pids and cpu controllers under /sys/fs/cgroup/<ctrl>/cleanrun/<id>,
 * and the process also joins /sys/fs/cgroup/unified/cleanrun/<id> for
 * cgroup.kill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"
#include "runtime/native/container.h"
#include "runtime/native/store.h"

static const char *const cg_ctrl[4] = {"memory", "pids", "cpu", "unified"};
/* where the cgroup file systems are, and their layout (NATIVE.md §3):
 * tests point them elsewhere (ctr_cgroup_setup) */
static const char *cg_root = "/sys/fs/cgroup";
static int cg_forced = -1;

void ctr_cgroup_setup(const char *root, int layout)
{
    cg_root = root ? root : "/sys/fs/cgroup";
    cg_forced = layout;
}

/* v2 alone (cgroup2 at the root), the hybrid (v1 controllers, cgroup2 at
 * unified/), or v1 alone */
int ctr_cgroup_layout(void)
{
    if (cg_forced >= 0)
        return cg_forced;
    struct statfs sf;
    if (statfs(cg_root, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        return CTR_CG_V2;
    cleanup_free char *u = cln_xasprintf("%s/unified", cg_root);
    if (statfs(u, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        return CTR_CG_HYBRID;
    return CTR_CG_V1;
}

/* The parent of hierarchy i's container cgroups for a layout, or NULL when
 * it has none there: v2 has one hierarchy (slot 3, "unified"), v1 no
 * unified one. */
static char *cg_parent(int layout, int i)
{
    if (layout == CTR_CG_V2)
        return i == 3 ? cln_xasprintf("%s/cleanrun", cg_root) : NULL;
    if (layout == CTR_CG_V1 && i == 3)
        return NULL;
    return cln_xasprintf("%s/%s/cleanrun", cg_root, cg_ctrl[i]);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int write_file(const char *path, const char *text)
{
    /* (a test's stand-in for the cgroup file systems is a plain directory:
     * there its files are made) */
    int fd = open(
        path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (cg_forced >= 0 ? O_CREAT | O_TRUNC : 0), 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : n < 0 ? -e : -EIO;
}

static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static bool valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64 || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-' || id[i] == '.'))
            return false;
    return true;
}

/* The leaf cgroups, with the limits written.  Leaves c->cg[i] NULL for a
 * hierarchy that is not mounted (then its limit cannot be applied: error).
 * Rootless: no cgroup at all (none is delegated to an ordinary user on
 * this layout), and no limit (cln_native_desc's rootless twin says so). */
int ctr_cgroups_make(struct cln_ctr *c, const struct cln_ctr_config *cfg, struct cln_error **err)
{
    if (geteuid() != 0 && cg_forced < 0) /* the backend says its limits are not applied */
        return 0;
    int layout = ctr_cgroup_layout();
    c->cg_layout = layout;
    for (int i = 0; i < 4; i++) {
        cleanup_free char *parent = cg_parent(layout, i);
        if (!parent)
            continue;
        if (layout == CTR_CG_V2) {
            /* the controllers, for cleanrun/ and for the containers in it
             * (a limit whose controller is missing fails below) */
            static const char *const ctl[] = {"+memory", "+pids", "+cpu"};
            cleanup_free char *top = cln_xasprintf("%s/cgroup.subtree_control", cg_root);
            for (size_t k = 0; k < CLN_ARRAY_SIZE(ctl); k++)
                write_file(top, ctl[k]);
        }
        if (mkdir(parent, 0755) < 0 && errno != EEXIST)
            return cln_error_set(err, CLN_E_IO, errno, "creating cgroup %s", parent);
        char *leaf = cln_xasprintf("%s/%s", parent, c->id);
        if (mkdir(leaf, 0755) < 0) {
            int e = errno;
            free(leaf);
            return cln_error_set(err, e == EEXIST ? CLN_E_CONFLICT : CLN_E_IO, e,
                                 "creating cgroup %s/%s", parent, c->id);
        }
        c->cg[i] = leaf;
        if (layout == CTR_CG_V2) {
            static const char *const ctl[] = {"+memory", "+pids", "+cpu"};
            cleanup_free char *sub = cln_xasprintf("%s/cgroup.subtree_control", parent);
            for (size_t k = 0; k < CLN_ARRAY_SIZE(ctl); k++)
                write_file(sub, ctl[k]);
        }
    }
    bool v2 = layout == CTR_CG_V2;
    struct {
        int ctrl;
        const char *file;
        int64_t v;
        const char *text; /* instead of v */
    } lim[] = {
        {0, "memory.limit_in_bytes", v2 ? 0 : cfg->memory_bytes, NULL},
        {0, "memory.memsw.limit_in_bytes", v2 ? 0 : cfg->memory_bytes, NULL}, /* swap off */
        {1, "pids.max", v2 ? 0 : cfg->pids_max, NULL},
        {2, "cpu.cfs_period_us", !v2 && cfg->cpu_millis > 0 ? 100000 : 0, NULL},
        {2, "cpu.cfs_quota_us", v2 ? 0 : cfg->cpu_millis * 100, NULL},
        {3, "memory.max", v2 ? cfg->memory_bytes : 0, NULL},
        {3, "memory.swap.max", v2 && cfg->memory_bytes > 0 ? 1 : 0, "0"}, /* swap off */
        {3, "pids.max", v2 ? cfg->pids_max : 0, NULL},
        {3, "cpu.max", v2 ? cfg->cpu_millis * 100 : 0, NULL},
    };
    for (size_t i = 0; i < CLN_ARRAY_SIZE(lim); i++) {
        if (lim[i].v <= 0)
            continue;
        if (!c->cg[lim[i].ctrl])
            return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                                 "limit %s: no such cgroup hierarchy here", lim[i].file);
        cleanup_free char *p = cln_xasprintf("%s/%s", c->cg[lim[i].ctrl], lim[i].file);
        char v[48];
        if (lim[i].text)
            snprintf(v, sizeof(v), "%s", lim[i].text);
        else if (strcmp(lim[i].file, "cpu.max") == 0)
            snprintf(v, sizeof(v), "%lld 100000", (long long)lim[i].v);
        else
            snprintf(v, sizeof(v), "%lld", (long long)lim[i].v);
        int r = write_file(p, v);
        if (r < 0)
            return cln_error_set(err, CLN_E_IO, -r, "writing %s to %s", v, p);
    }
    return 0;
}

/* The execs' cgroups under the container's unified one (container-exec.c),
 * what is in them killed first. */
static void leaves_remove(const char *cg)
{
    DIR *d = opendir(cg);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_type != DT_DIR || strncmp(de->d_name, "exec-", 5) != 0)
            continue;
        cleanup_free char *sub = cln_xasprintf("%s/%s", cg, de->d_name);
        if (rmdir(sub) == 0)
            continue;
        cleanup_free char *k = cln_xasprintf("%s/cgroup.kill", sub);
        write_file(k, "1");
        rmdir(sub); /* else the caller's next try */
    }
    if (d)
        closedir(d);
}

/* rmdir every leaf, retrying (bounded) while processes remain: cgroup.kill
 * between tries (NATIVE.md §3.3). */
static int cgroups_remove(struct cln_ctr *c, struct cln_error **err)
{
    int r = 0;
    for (int i = 3; i >= 0; i--) {
        if (!c->cg[i])
            continue;
        int e = 0;
        for (int tries = 0; tries < 300; tries++) {
            if (i == 3)
                leaves_remove(c->cg[3]);
            if (rmdir(c->cg[i]) == 0 || errno == ENOENT) {
                e = 0;
                break;
            }
            e = errno;
            if (e != EBUSY)
                break;
            if (c->cg[3]) {
                cleanup_free char *k = cln_xasprintf("%s/cgroup.kill", c->cg[3]);
                write_file(k, "1");
            }
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
        }
        if (e && r == 0)
            r = cln_error_set(err, CLN_E_IO, e, "removing cgroup %s", c->cg[i]);
        if (!e) {
            free(c->cg[i]);
            c->cg[i] = NULL;
        }
    }
    return r;
}

static int dir_remove(const char *dir);

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DNR) { /* overlay's work/work, 000: ours (rootless) to open */
        if (chmod(path, 0700) < 0 || dir_remove(path) < 0)
            return -1;
        return 0;
    }
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* The container's directory; FTW_MOUNT: never crosses into a mount. */
static int dir_remove(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
}

static int code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

/* ---- the children ---- */

static volatile sig_atomic_t unused_sig;
static void note_signal(int sig)
{
    unused_sig = sig; /* a handler, so that pid 1 receives the signal at all */
}

/* pid 1: build the root, fork the workload, forward, reap, exit with its code. */
__attribute__((noreturn)) static void run_init(const struct ctr_paths *paths,
                                               const struct ctr_proc *proc, int sock, int alive,
                                               int out, int errfd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        ctr_child_fail(sock, "PR_SET_PDEATHSIG", errno);
    struct pollfd pf = {.fd = alive, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0)
        _exit(137); /* the monitor died before PDEATHSIG was set */
    const char *what = "setup";
    int mode = ctr_setup_root(paths, &what);
    if (mode < 0)
        ctr_child_fail(sock, what, -mode);
    int r = paths->host_network ? 0 : ctr_loopback_up();
    if (r < 0)
        ctr_child_fail(sock, "bringing lo up", -r);
    struct ctr_msg m = {.kind = 2, .val = mode};
    if (write(sock, &m, sizeof(m)) < 0)
        _exit(127);
    char go;
    if (paths->wait_start && read(paths->go_fd, &go, 1) != 1)
        _exit(137); /* removed before it was started */
    if (paths->wait_start)
        close(paths->go_fd);
    struct sigaction sa = {.sa_handler = note_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t w = fork();
    if (w < 0)
        ctr_child_fail(sock, "fork of the workload", errno);
    if (w == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
            ctr_child_fail(sock, "stdio of the workload", errno);
        umask(022);
        /* No alive check: if the init dies, the kernel kills the pid namespace. */
        ctr_child_exec(proc, sock, -1);
    }
    close(sock);
    close(out);
    close(errfd);
    close(alive);
    int code = 255;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig == SIGTERM || sig == SIGINT) {
            kill(w, sig);
            continue;
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            if (p == w) {
                code = code_of(st);
                _exit(code);
            }
    }
}

/* A user namespace mapping root to uid and gid (the caller's own ids,
 * which an ordinary user may map: user_namespaces(7)); setgroups denied,
 * as it must be before an unprivileged gid_map. */
static int userns_map_root(uint32_t uid, uint32_t gid)
{
    char line[64];
    const struct {
        const char *file;
        uint32_t id;
    } maps[] = {
        {"/proc/self/setgroups", 0}, {"/proc/self/uid_map", uid}, {"/proc/self/gid_map", gid}};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(maps); i++) {
        if (i == 0)
            snprintf(line, sizeof(line), "deny");
        else
            snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)maps[i].id);
        int fd = open(maps[i].file, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        ssize_t n = write(fd, line, strlen(line));
        int e = errno;
        close(fd);
        if (n != (ssize_t)strlen(line))
            return n < 0 ? -e : -EIO;
    }
    return 0;
}

/* The monitor: join the cgroups (the parent did), unshare, fork the init,
 * wait for it. */
__attribute__((noreturn)) static void run_monitor(pid_t parent, const struct ctr_paths *paths,
                                                  const struct ctr_proc *proc, int sock, int out,
                                                  int errfd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        _exit(137);
    int keep[4 + CTR_MAX_MOUNTS] = {sock, out, errfd};
    size_t nkeep = 3;
    if (paths->wait_start)
        keep[nkeep++] = paths->go_fd;
    for (size_t i = 0; i < paths->nmounts; i++)
        if (paths->mounts[i].source_fd >= 0)
            keep[nkeep++] = paths->mounts[i].source_fd;
    ctr_close_except(keep, nkeep);
    char go;
    if (read(sock, &go, 1) != 1)
        _exit(137);
    if (paths->userns) { /* first: the other namespaces are then its */
        if (unshare(CLONE_NEWUSER) < 0)
            ctr_child_fail(sock, "making the user namespace", errno);
        if (paths->maps_by_caller) { /* the caller maps it (newuidmap), then says so */
            struct ctr_msg mm = {.kind = 5};
            char ok = 0;
            if (write(sock, &mm, sizeof(mm)) < 0 || read(sock, &ok, 1) != 1 || ok != 'm')
                _exit(137);
        } else {
            int r = userns_map_root(paths->host_uid, paths->host_gid);
            if (r < 0)
                ctr_child_fail(sock, "mapping the user namespace's root to the caller", -r);
        }
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
                (paths->host_network ? 0 : CLONE_NEWNET)) < 0)
        ctr_child_fail(sock, "unshare", errno);
    /* After joining the cgroups: the cgroup namespace is rooted there. */
    if (unshare(CLONE_NEWCGROUP) < 0)
        ctr_child_fail(sock, "unshare(CLONE_NEWCGROUP)", errno);
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) < 0)
        ctr_child_fail(sock, "pipe", errno);
    pid_t init = fork();
    if (init < 0)
        ctr_child_fail(sock, "fork of the init", errno);
    if (init == 0) {
        close(alive[1]);
        run_init(paths, proc, sock, alive[0], out, errfd);
    }
    close(alive[0]);
    close(out);
    close(errfd);
    struct ctr_msg m = {.kind = 1, .val = init};
    if (write(sock, &m, sizeof(m)) < 0 || read(sock, &go, 1) != 1) {
        kill(init, SIGKILL);
        _exit(137);
    }
    close(sock);
    int st;
    while (waitpid(init, &st, 0) < 0)
        if (errno != EINTR)
            _exit(255);
    _exit(code_of(st));
}

/* The broker's function for a monitor: the plan read back, then as above.
 * Descriptors: the channel, stdout, stderr, then the mounts' sources. */
static void monitor_broker_fn(const void *data, size_t len, const int *fds, int nfds)
{
    static struct ctr_paths paths;
    static struct ctr_proc proc;
    pid_t parent = getppid();
    struct ctr_plan_reader r = {.p = data, .end = (const unsigned char *)data + len};
    if (nfds < 3 || ctr_plan_get_paths(&r, &paths, fds + 3, nfds - 3) < 0 ||
        ctr_plan_get_proc(&r, &proc) < 0)
        _exit(126);
    if (paths.wait_start) { /* its start pipe: after the mounts' sources */
        if (nfds < 4)
            _exit(126);
        paths.go_fd = fds[nfds - 1];
    }
    run_monitor(parent, &paths, &proc, fds[0], fds[1], fds[2]);
}

/* ---- removing a rootless container's files (a child of the broker) ---- */

static int recv_msg(int sock, struct ctr_msg *m, long deadline);

/* name under dirfd, a directory's contents first; only system calls (a
 * broker's child).  A directory this root of the user namespace cannot
 * read is made readable first. */
static int rm_at(int dirfd, const char *name, int depth)
{
    if (depth > 4096)
        return -ELOOP;
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int d = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0 && errno == EACCES) {
        /* made readable through what it is (never a symlink's target) */
        int p = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        char via[64];
        snprintf(via, sizeof(via), "/proc/self/fd/%d", p);
        if (p >= 0 && chmod(via, 0700) == 0)
            d = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (p >= 0)
            close(p);
    }
    if (d < 0)
        return -errno;
    /* never into another file system (a mount under the directory) */
    struct stat pst, dst;
    if (fstat(dirfd, &pst) < 0 || fstat(d, &dst) < 0 || pst.st_dev != dst.st_dev) {
        close(d);
        return -EXDEV;
    }
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, d, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0) {
                int e = errno;
                close(d);
                return -e;
            }
            break;
        }
        bool removed = false;
        for (long off = 0; off < n;) {
            const struct dirent64 *de = (const void *)(buf + off); /* getdents64's layout */
            off += de->d_reclen;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            int r = rm_at(d, de->d_name, depth + 1);
            if (r < 0) {
                close(d);
                return r;
            }
            removed = true;
        }
        if (removed) /* the directory changed under the listing: from its start */
            lseek(d, 0, SEEK_SET);
    }
    close(d);
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -errno;
}

/* The broker's function: a user namespace, mapped by the caller on our
 * word, then the directory (the request's bytes, a path) removed in it. */
static void rmtree_broker_fn(const void *data, size_t len, const int *fds, int nfds)
{
    static char path[4200];
    if (nfds != 1 || len == 0 || len >= sizeof(path))
        _exit(126);
    memcpy(path, data, len);
    path[len] = 0;
    if (path[0] != '/' || unshare(CLONE_NEWUSER) < 0)
        _exit(126);
    struct ctr_msg mm = {.kind = 5};
    char ok = 0;
    if (write(fds[0], &mm, sizeof(mm)) < 0 || read(fds[0], &ok, 1) != 1 || ok != 'm')
        _exit(125);
    char *slash = strrchr(path, '/');
    *slash = 0;
    int parent = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0)
        _exit(124);
    _exit(rm_at(parent, slash + 1, 0) < 0 ? 1 : 0);
}

static int rmtree_rootless(const char *dir, const struct cln_ctr_rootless *rl,
                           struct cln_error **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "socketpair");
    struct cln_broker_child ch;
    struct cln_broker_fork_req req = {
        .name = "native-rmtree", .data = dir, .len = strlen(dir), .fds = &sv[1], .nfds = 1};
    int r = cln_broker_fork(rl->broker, &req, &ch, err);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    struct ctr_msg m;
    r = recv_msg(sv[0], &m, now_ms() + 10000) == 1 && m.kind == 5 ? 0 : -1;
    if (r == 0)
        r = rl->map_ids(rl->map_ud, ch.pid, err);
    else
        cln_error_set(err, CLN_E_IO, 0, "removing %s: its helper did not start", dir);
    if (r == 0 && write(sv[0], "m", 1) != 1)
        r = cln_error_set(err, CLN_E_IO, errno, "removing %s", dir);
    close(sv[0]);
    int st = 0;
    if (cln_broker_wait(&ch, 30000, &st, r < 0 ? NULL : err) < 0) {
        cln_broker_kill(&ch, SIGKILL, NULL);
        if (r == 0)
            r = -1;
    } else if (r == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
        r = cln_error_set(err, CLN_E_IO, 0, "removing %s in a user namespace: status %d", dir, st);
    }
    cln_broker_child_done(&ch);
    return r;
}

const struct cln_broker_fn_entry cln_native_broker_fns[] = {
    {"native-monitor", monitor_broker_fn},
    {"native-exec", ctr_exec_broker_fn},
    {"native-rmtree", rmtree_broker_fn},
    {NULL, NULL},
};

/* ---- create ---- */

static void paths_done(struct ctr_paths *p)
{
    free(p->dir);
    free(p->rootfs);
    free(p->upper);
    free(p->work);
    free(p->scratch);
    free(p->hosts);
    free(p->extra_hosts);
    free(p->resolv);
    free(p->lowerdir);
    free(p->lowerdir_tmp);
    free(p->hostname);
    for (size_t i = 0; i < p->nmounts; i++) {
        if (p->mounts[i].source_fd >= 0)
            close(p->mounts[i].source_fd);
        free(p->mounts[i].target);
        free(p->mounts[i].source);
    }
    free(p->mounts);
}

/* cfg's mounts into p: targets checked (absolute, no "..", not /), bind
 * sources opened now, on the host (the caller canonicalised them). */
static int make_mounts(struct ctr_paths *p, const struct cln_ctr_config *cfg,
                       struct cln_error **err)
{
    if (cfg->nmounts > CTR_MAX_MOUNTS)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "%zu mounts: at most %d", cfg->nmounts,
                             CTR_MAX_MOUNTS);
    p->mounts = cln_xcalloc(cfg->nmounts ? cfg->nmounts : 1, sizeof(*p->mounts));
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const struct cln_ctr_mount *m = &cfg->mounts[i];
        struct ctr_mount *pm = &p->mounts[p->nmounts++];
        pm->source_fd = -1;
        pm->type = m->type;
        pm->read_only = m->read_only;
        pm->size = m->size;
        pm->mode = m->mode;
        const char *t = m->target ? m->target : "";
        while (*t == '/')
            t++;
        /* every component a name: no ".", no "..", no empty one (not /) */
        bool named = *t != '\0';
        for (const char *c = t; named && *c;) {
            size_t n = strcspn(c, "/");
            named = n > 0 && !(n == 1 && c[0] == '.') && !(n == 2 && c[0] == '.' && c[1] == '.');
            c += n;
            if (*c == '/' && *++c == '\0')
                named = false; /* a trailing slash */
        }
        if (!m->target || m->target[0] != '/' || !named)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "mount target %s: not an absolute path "
                                 "inside the container",
                                 m->target ? m->target : "(none)");
        pm->target = cln_xstrdup(t);
        pm->source = m->source ? cln_xstrdup(m->source) : NULL;
        pm->is_dir = true;
        if (m->type != CLN_CTR_BIND)
            continue;
        if (!m->source || m->source[0] != '/')
            return cln_error_set(err, CLN_E_INVALID, 0, "bind source %s: not an absolute path",
                                 m->source ? m->source : "(none)");
        /* a detached copy of the source's mount (open_tree(2)), here on the
         * host: the init, in a mount namespace of its own, attaches it
         * (move_mount(2)); a path would be resolved again there.  Rootless
         * (no open_tree: it needs CAP_SYS_ADMIN here): the source opened
         * here, bound by the init through its descriptor */
        pm->source_fd = geteuid() != 0
                            ? open(m->source, O_PATH | O_CLOEXEC)
                            : open_tree(AT_FDCWD, m->source,
                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        struct stat st;
        if (pm->source_fd < 0 || fstat(pm->source_fd, &st) < 0)
            return cln_error_set(err, errno == ENOENT ? CLN_E_NOT_FOUND : CLN_E_IO, errno,
                                 "bind source %s", m->source);
        pm->is_dir = S_ISDIR(st.st_mode);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
        if (m->read_only && geteuid() == 0 &&
            mount_setattr(pm->source_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "bind source %s: read-only", m->source);
    }
    return 0;
}

static int make_paths(struct ctr_paths *p, const struct cln_store_image *img,
                      const struct cln_ctr_config *cfg, struct cln_error **err)
{
    p->dir = cln_xasprintf("%s/%s", cfg->run_dir, cfg->id);
    p->rootfs = cln_xasprintf("%s/rootfs", p->dir);
    p->upper = cln_xasprintf("%s/upper", p->dir);
    p->work = cln_xasprintf("%s/work", p->dir);
    p->scratch = cln_xasprintf("%s/scratch", p->dir);
    p->hosts = cln_xasprintf("%s/hosts", p->dir);
    p->resolv = cln_xasprintf("%s/resolv.conf", p->dir);
    p->hostname = cln_xstrndup(cfg->hostname ? cfg->hostname : cfg->id, 63);
    p->read_only = cfg->read_only;
    p->wait_start = cfg->created_only;
    p->userns = geteuid() != 0;
    p->maps_by_caller = p->userns && cfg->map_ids;
    p->privileged = cfg->privileged;
    p->host_network = cfg->host_network;
    p->host_uid = (uint32_t)geteuid();
    p->host_gid = (uint32_t)getegid();
    if (cfg->extra_hosts && cfg->extra_hosts[0]) { /* "name:address", as Docker's --add-host */
        struct cln_buf h = CLN_BUF_INIT;
        for (size_t i = 0; cfg->extra_hosts[i]; i++) {
            const char *e = cfg->extra_hosts[i], *colon = strchr(e, ':');
            if (!colon || colon == e || !colon[1] || strpbrk(e, " \t\n#")) {
                cln_buf_done(&h);
                return cln_error_set(err, CLN_E_INVALID, 0, "extra host '%s': not name:address", e);
            }
            cln_buf_printf(&h, "%s\t%.*s\n", colon + 1, (int)(colon - e), e);
        }
        p->extra_hosts = cln_buf_steal(&h);
    }
    struct cln_buf b = {0};
    cln_buf_puts(&b, "lowerdir=");
    for (size_t i = img->layer_dirs.n; i-- > 0;) {
        if (strpbrk(img->layer_dirs.v[i], ",:\\")) {
            cln_buf_done(&b);
            return cln_error_set(err, CLN_E_INVALID, 0, "a layer path with , : or \\: %s",
                                 img->layer_dirs.v[i]);
        }
        cln_buf_printf(&b, "%s%s", img->layer_dirs.v[i], i ? ":" : "");
    }
    if (img->layer_dirs.n == 0) {
        cln_buf_done(&b);
        return cln_error_set(err, CLN_E_INVALID, 0, "the image has no layer");
    }
    char *lower = cln_buf_steal(&b);
    /* rootless: overlay's own xattrs in the user.* namespace, as the store
     * writes them for an ordinary user */
    const char *ux = p->userns ? ",userxattr" : "";
    p->lowerdir = cln_xasprintf("%s,upperdir=%s,workdir=%s%s", lower, p->upper, p->work, ux);
    p->lowerdir_tmp =
        cln_xasprintf("%s,upperdir=%s/upper,workdir=%s/work%s", lower, p->scratch, p->scratch, ux);
    free(lower);
    if (strlen(p->lowerdir_tmp) >= 4000)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                             "too many layers for one page of overlay options");
    return 0;
}

static int make_dirs(const struct ctr_paths *p, struct cln_error **err)
{
    if (mkdir(p->dir, 0700) < 0)
        return cln_error_set(err, errno == EEXIST ? CLN_E_CONFLICT : CLN_E_IO, errno, "creating %s",
                             p->dir);
    const char *const d[] = {p->rootfs, p->upper, p->work, p->scratch};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(d); i++)
        if (mkdir(d[i], 0755) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "creating %s", d[i]);
    cleanup_free char *hosts = cln_xasprintf(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
        p->hostname);
    if (p->extra_hosts) {
        char *all = cln_xasprintf("%s%s", hosts, p->extra_hosts);
        free(hosts);
        hosts = all;
    }
    int r = write_new_file(p->hosts, hosts);
    if (r == 0)
        r = write_new_file(p->resolv, "# no network but loopback: no name server\n");
    if (r < 0)
        return cln_error_set(err, CLN_E_IO, -r, "writing %s/hosts or resolv.conf", p->dir);
    return 0;
}

static int make_proc(struct ctr_proc *p, const struct cln_image_config *ic,
                     const struct cln_strv *layers, const struct cln_ctr_config *cfg,
                     struct cln_error **err)
{
    if (cfg->argv && cfg->argv[0]) {
        for (size_t i = 0; cfg->argv[i]; i++)
            cln_strv_add(&p->argv, cfg->argv[i]);
    } else {
        for (size_t i = 0; i < ic->entrypoint.n; i++)
            cln_strv_add(&p->argv, ic->entrypoint.v[i]);
        for (size_t i = 0; i < ic->cmd.n; i++)
            cln_strv_add(&p->argv, ic->cmd.v[i]);
    }
    if (p->argv.n == 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "no command: none given, none in the image");
    struct cln_strv base = {0};
    bool has_path = false;
    for (size_t i = 0; i < ic->env.n; i++)
        has_path |= strncmp(ic->env.v[i], "PATH=", 5) == 0;
    if (!has_path)
        cln_strv_add(&base, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (size_t i = 0; i < ic->env.n; i++)
        cln_strv_add(&base, ic->env.v[i]);
    cleanup_free char *hn =
        cln_xasprintf("HOSTNAME=%.63s", cfg->hostname ? cfg->hostname : cfg->id);
    cln_strv_add(&base, hn);
    ctr_env_merge(&p->env, cln_strv_argv(&base), cfg->env);
    cln_strv_done(&base);
    const char *wd = cfg->workdir ? cfg->workdir : ic->working_dir;
    p->cwd = cln_xstrdup(wd && *wd ? wd : "/");
    int r = ctr_resolve_user(layers, cfg->user ? cfg->user : ic->user, p, err);
    uint32_t ids = cfg->uid_count < cfg->gid_count ? cfg->uid_count : cfg->gid_count;
    if (r == 0 && geteuid() != 0)
        r = ctr_userns_ids(p, cfg->map_ids && ids > 1 ? ids : 1, cfg->user ? cfg->user : ic->user,
                           err);
    if (r == 0)
        r = ctr_proc_prepare(p, err);
    if (r == 0 && cfg->privileged)
        ctr_proc_privileged(p);
    return r;
}

static void ctr_free(struct cln_ctr *c)
{
    if (!c)
        return;
    if (c->broker)
        cln_broker_child_done(&c->mon); /* its pidfd is monitor_fd */
    else if (c->monitor_fd >= 0)
        close(c->monitor_fd);
    if (c->init_fd >= 0)
        close(c->init_fd);
    if (c->ctl >= 0)
        close(c->ctl);
    if (c->go >= 0)
        close(c->go);
    for (int i = 0; i < 4; i++)
        free(c->cg[i]);
    free(c->id);
    free(c->dir);
    ctr_proc_done(&c->proc);
    cln_strv_done(&c->layers);
    free(c);
}

/* Read one message with a deadline: 1 read, 0 EOF, -errno. */
static int recv_msg(int sock, struct ctr_msg *m, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pf = {.fd = sock, .events = POLLIN};
        int n = poll(&pf, 1, left > 0 ? (int)left : 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ETIMEDOUT;
        ssize_t k = recv(sock, m, sizeof(*m), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return 0;
        m->text[sizeof(m->text) - 1] = 0;
        return 1;
    }
}

static int start(struct cln_ctr *c, struct ctr_paths *paths, struct cln_error **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "socketpair");
    cleanup_free char *op = cln_xasprintf("%s/stdout", paths->dir);
    cleanup_free char *ep = cln_xasprintf("%s/stderr", paths->dir);
    cleanup_close int out = open(op, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0600);
    cleanup_close int errfd = open(ep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0600);
    if (out < 0 || errfd < 0) {
        close(sv[0]);
        close(sv[1]);
        return cln_error_set(err, CLN_E_IO, errno, "creating the log files in %s", paths->dir);
    }
    int go[2] = {-1, -1};
    if (paths->wait_start && pipe2(go, O_CLOEXEC) < 0) {
        close(sv[0]);
        close(sv[1]);
        return cln_error_set(err, CLN_E_IO, errno, "pipe");
    }
    paths->go_fd = go[0];
    c->go = go[1];
    pid_t m;
    if (c->broker) { /* the broker forks it: nothing here can exec */
        struct cln_buf plan = CLN_BUF_INIT;
        ctr_plan_put_paths(&plan, paths);
        ctr_plan_put_proc(&plan, &c->proc);
        int fds[4 + CTR_MAX_MOUNTS] = {sv[1], out, errfd};
        int nfds = 3;
        for (size_t i = 0; i < paths->nmounts; i++)
            if (paths->mounts[i].source_fd >= 0)
                fds[nfds++] = paths->mounts[i].source_fd;
        if (go[0] >= 0)
            fds[nfds++] = go[0];
        struct cln_broker_fork_req req = {
            .name = "native-monitor", .data = plan.data, .len = plan.len, .fds = fds, .nfds = nfds};
        int r = cln_broker_fork(c->broker, &req, &c->mon, err);
        cln_buf_done(&plan);
        close(sv[1]);
        if (r < 0) {
            close(sv[0]);
            c->reaped = true;
            return r;
        }
        m = c->mon.pid;
        c->monitor_fd = c->mon.pidfd; /* c->mon's */
    } else {
        pid_t self = getpid();
        m = fork();
        if (m < 0) {
            close(sv[0]);
            close(sv[1]);
            return cln_error_set(err, CLN_E_IO, errno, "fork");
        }
        if (m == 0) {
            close(sv[0]);
            run_monitor(self, paths, &c->proc, sv[1], out, errfd);
        }
        close(sv[1]);
        c->monitor_fd = (int)syscall(SYS_pidfd_open, m, 0);
        if (c->monitor_fd < 0) {
            kill(m, SIGKILL); /* our unreaped child: this pid is ours */
            waitpid(m, NULL, 0);
            c->reaped = true;
            close(sv[0]);
            return cln_error_set(err, CLN_E_IO, errno, "pidfd_open of the monitor");
        }
    }
    if (go[0] >= 0)
        close(go[0]); /* the init's */
    cleanup_close int sock = sv[0];
    c->monitor = m;
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)m);
    for (int i = 0; i < 4; i++) {
        if (!c->cg[i])
            continue; /* rootless */
        cleanup_free char *p = cln_xasprintf("%s/cgroup.procs", c->cg[i]);
        int r = write_file(p, pid);
        if (r < 0)
            return cln_error_set(err, CLN_E_IO, -r, "joining %s", c->cg[i]);
    }
    if (write(sock, "g", 1) != 1)
        return cln_error_set(err, CLN_E_IO, errno, "starting the monitor");
    long deadline = now_ms() + 30000;
    struct ctr_msg msg = {0};
    bool ready = false;
    for (;;) {
        int r = recv_msg(sock, &msg, deadline);
        if (r == 0)
            break;
        if (r < 0)
            return cln_error_set(err, r == -ETIMEDOUT ? CLN_E_TIMEOUT : CLN_E_IO, -r,
                                 "waiting for the container to start");
        if (msg.kind == 0)
            return cln_error_set(err, CLN_E_ISOLATION, msg.err, "starting the container: %s",
                                 msg.text);
        if (msg.kind == 5) { /* the monitor's user namespace, to map */
            int mr = c->map_ids ? c->map_ids(c->map_ud, m, err) : -1;
            if (mr < 0 && !*err)
                cln_error_set(err, CLN_E_INTERNAL, 0, "a user namespace to map, and no way to");
            if (mr < 0)
                return cln_error_wrap(err, "mapping the container's user namespace");
            if (write(sock, "m", 1) != 1)
                return cln_error_set(err, CLN_E_IO, errno, "the container's user namespace");
            continue;
        }
        if (msg.kind == 1) {
            c->init = (pid_t)msg.val;
            /* The monitor does not reap the init before our ack: the pid is it. */
            c->init_fd = (int)syscall(SYS_pidfd_open, c->init, 0);
            if (c->init_fd < 0)
                return cln_error_set(err, CLN_E_IO, errno, "pidfd_open of the init");
            if (write(sock, "a", 1) != 1)
                return cln_error_set(err, CLN_E_IO, errno, "acknowledging the init");
            if (paths->wait_start && ready) { /* its root was ready first */
                c->ctl = CLN_TAKE_FD(sock);
                return 0;
            }
        }
        if (msg.kind == 2) {
            c->rootfs_mode = (int)msg.val;
            ready = true;
            if (paths->wait_start && c->init_fd >= 0) { /* held before its workload */
                c->ctl = CLN_TAKE_FD(sock);
                return 0;
            }
        }
    }
    if (!ready)
        return cln_error_set(err, CLN_E_ISOLATION, 0, "the container ended during its setup");
    return 0;
}

int cln_ctr_create(struct cln_store *s, const char *image, const struct cln_ctr_config *cfg,
                   struct cln_ctr **ret, struct cln_error **err)
{
    if (!valid_id(cfg->id) || !cfg->run_dir || cfg->run_dir[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0, "container id or run directory invalid");
    struct cln_store_image *img = NULL;
    int r = cln_store_image_get(s, image, &img, err);
    if (r < 0)
        return r;
    r = cln_ctr_create_from(img, cfg, ret, err);
    cln_store_image_free(img);
    return r;
}

int cln_ctr_create_from(const struct cln_store_image *img, const struct cln_ctr_config *cfg,
                        struct cln_ctr **ret, struct cln_error **err)
{
    if (!valid_id(cfg->id) || !cfg->run_dir || cfg->run_dir[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0, "container id or run directory invalid");
    int r = 0;
    struct cln_ctr *c = cln_xcalloc(1, sizeof(*c));
    c->monitor_fd = c->init_fd = c->ctl = c->go = -1;
    c->broker = cfg->broker;
    c->map_ids = cfg->map_ids;
    c->map_ud = cfg->map_ud;
    c->mon.pidfd = c->mon.status_fd = -1;
    c->reaped = false;
    c->id = cln_xstrdup(cfg->id);
    struct ctr_paths paths = {0};
    r = make_paths(&paths, img, cfg, err);
    if (r == 0)
        r = make_mounts(&paths, cfg, err);
    if (r == 0)
        r = make_proc(&c->proc, img->config, &img->layer_dirs, cfg, err);
    for (size_t i = 0; r == 0 && i < img->layer_dirs.n; i++)
        cln_strv_add(&c->layers, img->layer_dirs.v[i]);
    if (r < 0) {
        paths_done(&paths);
        ctr_free(c);
        return r;
    }
    r = make_dirs(&paths, err);
    if (r < 0 && (*err)->code == CLN_E_CONFLICT) {
        paths_done(&paths);
        ctr_free(c); /* the directory is someone else's: leave it */
        return r;
    }
    c->dir = cln_xstrdup(paths.dir);
    if (r == 0)
        r = ctr_cgroups_make(c, cfg, err);
    if (r == 0)
        r = start(c, &paths, err);
    paths_done(&paths);
    if (r < 0) {
        if (!c->monitor)
            c->reaped = true;
        cln_ctr_remove(c, NULL);
        return cln_error_wrap(err, "container %s", cfg->id);
    }
    *ret = c;
    return 0;
}

/* The init's only child, as the host numbers it: read while the pidfd
 * shows the init alive (so the pid is its), 0 when none or several. */
static pid_t init_child(const struct cln_ctr *c)
{
    char p[64], buf[64];
    snprintf(p, sizeof(p), "/proc/%d/task/%d/children", (int)c->init, (int)c->init);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0 || syscall(SYS_pidfd_send_signal, c->init_fd, 0, NULL, 0) < 0)
        return 0;
    buf[n] = 0;
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    while (end && *end == ' ')
        end++;
    return v > 0 && end && (*end == 0 || *end == '\n') ? (pid_t)v : 0;
}

pid_t cln_ctr_first_pid(const struct cln_ctr *c)
{
    return c->first;
}

static bool ns_of(pid_t pid, struct stat *st)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/ns/pid", (int)pid);
    return stat(p, st) == 0;
}

bool cln_ctr_has_pid(const struct cln_ctr *c, pid_t pid)
{
    struct stat a, b;
    if (pid <= 0 || c->init <= 0 || c->init_fd < 0 || !ns_of(pid, &a) || !ns_of(c->init, &b))
        return false;
    /* the init's pid was the init's while it was read */
    if (syscall(SYS_pidfd_send_signal, c->init_fd, 0, NULL, 0) < 0)
        return false;
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int cln_ctr_wait_fd(const struct cln_ctr *c)
{
    return c->monitor_fd;
}

const char *cln_ctr_dir(const struct cln_ctr *c)
{
    return c->dir;
}

int cln_ctr_start(struct cln_ctr *c, struct cln_error **err)
{
    if (c->ctl < 0)
        return cln_error_set(err, CLN_E_CONFLICT, 0, "container %s: started already", c->id);
    cleanup_close int sock = c->ctl;
    c->ctl = -1;
    cleanup_close int go = c->go;
    c->go = -1;
    if (go < 0 || write(go, "s", 1) != 1)
        return cln_error_set(err, CLN_E_IO, errno, "container %s: starting it", c->id);
    /* the workload's exec closes its copy (close-on-exec): the end of the
     * channel; a failure is a message first */
    long deadline = now_ms() + 30000;
    struct ctr_msg msg = {0};
    for (;;) {
        int r = recv_msg(sock, &msg, deadline);
        if (r == 0) {
            c->first = init_child(c);
            return 0;
        }
        if (r < 0)
            return cln_error_set(err, r == -ETIMEDOUT ? CLN_E_TIMEOUT : CLN_E_IO, -r,
                                 "container %s: waiting for its process to start", c->id);
        if (msg.kind == 0)
            return ctr_start_failure(c->proc.argv.v[0], c->proc.cwd, msg.text, msg.err, c->id, err);
    }
}

/* ---- state ---- */

/* Reap the monitor when it has ended (waiting up to ms). */
static int reap(struct cln_ctr *c, long ms)
{
    if (c->reaped)
        return 1;
    struct pollfd pf = {.fd = c->monitor_fd, .events = POLLIN};
    long deadline = now_ms() + ms;
    for (;;) {
        long left = deadline - now_ms();
        int n = poll(&pf, 1, left > 0 ? (int)left : 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        break;
    }
    if (c->broker) { /* the broker reaps it and says how it ended */
        int st = 0;
        struct cln_error *e = NULL;
        if (cln_broker_wait(&c->mon, 5000, &st, &e) < 0) {
            int code = cln_error_root_code(e) == CLN_E_TIMEOUT ? 0 : -EIO;
            cln_error_free(e);
            return code;
        }
        c->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        c->reaped = true;
        return 1;
    }
    siginfo_t si = {0};
    if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)c->monitor_fd, &si, WEXITED) < 0)
        return -errno;
    c->exit_code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    c->reaped = true;
    return 1;
}

int cln_ctr_inspect(struct cln_ctr *c, struct cln_ctr_state *ret, struct cln_error **err)
{
    int r = reap(c, 0);
    if (r < 0)
        return cln_error_set(err, CLN_E_IO, -r, "waiting for container %s", c->id);
    ret->running = r == 0;
    ret->created = r == 0 && c->ctl >= 0;
    ret->exit_code = r ? c->exit_code : 0;
    ret->init_pid = c->init;
    ret->rootfs_mode =
        c->rootfs_mode == CTR_SETUP_TMPFS_UPPER ? "overlay, upper on tmpfs" : "overlay";
    ret->oom_killed = false;
    /* v1: memory.oom_control; v2 alone: memory.events (both "oom_kill N") */
    const char *ocg = c->cg_layout == CTR_CG_V2 ? c->cg[3] : c->cg[0];
    if (ocg) {
        cleanup_free char *p = cln_xasprintf(
            "%s/%s", ocg, c->cg_layout == CTR_CG_V2 ? "memory.events" : "memory.oom_control");
        cleanup_fclose FILE *f = fopen(p, "re");
        char line[128];
        unsigned long long n;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "oom_kill %llu", &n) == 1)
                ret->oom_killed = n > 0;
    }
    return 0;
}

int cln_ctr_kill(struct cln_ctr *c, int sig, struct cln_error **err)
{
    if (c->init_fd < 0 || syscall(SYS_pidfd_send_signal, c->init_fd, sig, NULL, 0) < 0) {
        if (errno == ESRCH)
            return cln_error_set(err, CLN_E_CONFLICT, ESRCH, "container %s is not running", c->id);
        return cln_error_set(err, CLN_E_IO, errno, "signalling container %s", c->id);
    }
    return 0;
}

int cln_ctr_wait(struct cln_ctr *c, unsigned timeout_ms, int *ret_code, struct cln_error **err)
{
    int r = reap(c, timeout_ms);
    if (r < 0)
        return cln_error_set(err, CLN_E_IO, -r, "waiting for container %s", c->id);
    if (r == 0)
        return cln_error_set(err, CLN_E_TIMEOUT, 0, "container %s still running after %u ms", c->id,
                             timeout_ms);
    if (ret_code)
        *ret_code = c->exit_code;
    return 0;
}

int cln_ctr_stop(struct cln_ctr *c, unsigned grace_ms, struct cln_error **err)
{
    if (reap(c, 0) == 1)
        return 0;
    if (c->init_fd >= 0)
        syscall(SYS_pidfd_send_signal, c->init_fd, SIGTERM, NULL, 0);
    if (reap(c, grace_ms) == 1)
        return 0;
    if (c->init_fd >= 0)
        syscall(SYS_pidfd_send_signal, c->init_fd, SIGKILL, NULL, 0);
    return cln_ctr_wait(c, 10000, NULL, err);
}

int cln_ctr_remove(struct cln_ctr *c, struct cln_error **err)
{
    if (!c)
        return 0;
    struct cln_error *e = NULL;
    int r = 0;
    if (!c->reaped) {
        /* The init first: the monitor reaps it and exits. */
        if (c->init_fd >= 0)
            syscall(SYS_pidfd_send_signal, c->init_fd, SIGKILL, NULL, 0);
        if (reap(c, 5000) != 1 && c->monitor_fd >= 0)
            syscall(SYS_pidfd_send_signal, c->monitor_fd, SIGKILL, NULL, 0);
        if (reap(c, 10000) != 1)
            r = cln_error_set(&e, CLN_E_TIMEOUT, 0, "container %s did not end", c->id);
    }
    /* The mounts were all in the container's mount namespace, gone with its
     * last process; the cgroups go once empty. */
    if (r == 0)
        r = cgroups_remove(c, &e);
    if (r == 0 && c->dir) {
        int d = dir_remove(c->dir);
        if ((d == -EACCES || d == -EPERM) && c->broker && c->map_ids) {
            struct cln_ctr_rootless rl = {
                .broker = c->broker, .map_ids = c->map_ids, .map_ud = c->map_ud};
            r = rmtree_rootless(c->dir, &rl, &e);
        } else if (d < 0) {
            r = cln_error_set(&e, CLN_E_IO, -d, "removing %s", c->dir);
        }
    }
    if (r < 0 && err)
        *err = e;
    else
        cln_error_free(e);
    ctr_free(c);
    return r;
}

int cln_ctr_reclaim(const char *run_dir, const char *id, struct cln_error **err)
{
    return cln_ctr_reclaim_rootless(run_dir, id, NULL, err);
}

int cln_ctr_reclaim_rootless(const char *run_dir, const char *id, const struct cln_ctr_rootless *rl,
                             struct cln_error **err)
{
    if (!valid_id(id) || !run_dir || run_dir[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0, "container id or run directory invalid");
    struct cln_ctr c = {.id = (char *)id, .monitor_fd = -1, .init_fd = -1, .ctl = -1, .go = -1};
    struct stat st;
    int layout = ctr_cgroup_layout();
    for (int i = 0; i < 4; i++) {
        cleanup_free char *parent = cg_parent(layout, i);
        if (!parent)
            continue;
        char *leaf = cln_xasprintf("%s/%s", parent, id);
        if (stat(leaf, &st) == 0)
            c.cg[i] = leaf;
        else
            free(leaf);
    }
    int r = cgroups_remove(&c, err); /* cgroup.kill between tries */
    for (int i = 0; i < 4; i++)
        free(c.cg[i]);
    if (r < 0)
        return r;
    cleanup_free char *dir = cln_xasprintf("%s/%s", run_dir, id);
    int d = dir_remove(dir);
    if ((d == -EACCES || d == -EPERM) && rl && rl->broker && rl->map_ids)
        return rmtree_rootless(dir, rl, err);
    if (d < 0)
        return cln_error_set(err, CLN_E_IO, -d, "removing %s", dir);
    return 0;
}

/* ---- logs ---- */

/* One stream's file into ret: from the start of its last tail lines. */
static int log_read(const char *path, unsigned tail, size_t cap, struct cln_capture *ret,
                    struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : cln_error_set(err, CLN_E_IO, errno, "reading %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return cln_error_set(err, CLN_E_IO, e, "reading %s", path);
    }
    off_t size = st.st_size, from = 0;
    if (tail) { /* back from the end, a block at a time, to the tail-th newline */
        char blk[4096];
        unsigned lines = 0;
        off_t pos = size;
        /* a last line without its newline counts as one */
        bool skip_last = false;
        if (size > 0 && pread(fd, blk, 1, size - 1) == 1 && blk[0] == '\n')
            skip_last = true;
        while (pos > 0 && from == 0) {
            off_t at = pos > (off_t)sizeof(blk) ? pos - (off_t)sizeof(blk) : 0;
            ssize_t n = pread(fd, blk, (size_t)(pos - at), at);
            if (n <= 0)
                break;
            for (ssize_t i = n; i-- > 0;) {
                if (blk[i] != '\n')
                    continue;
                if (skip_last && at + i == size - 1)
                    continue;
                if (++lines == tail) {
                    from = at + i + 1;
                    break;
                }
            }
            pos = at;
        }
    }
    if (!cap)
        cap = CLN_DEFAULT_OUTPUT_CAP;
    ret->total = (uint64_t)(size - from);
    size_t want = ret->total < cap ? (size_t)ret->total : cap;
    ret->truncated = ret->total > want;
    char buf[65536];
    for (off_t at = from; ret->data.len < want;) {
        size_t chunk = want - ret->data.len < sizeof(buf) ? want - ret->data.len : sizeof(buf);
        ssize_t n = pread(fd, buf, chunk, at);
        if (n <= 0)
            break;
        cln_buf_append(&ret->data, buf, (size_t)n);
        at += n;
    }
    close(fd);
    return 0;
}

int cln_ctr_logs(struct cln_ctr *c, unsigned tail, size_t cap, struct cln_capture *ret_out,
                 struct cln_capture *ret_err, struct cln_error **err)
{
    cleanup_free char *o = cln_xasprintf("%s/stdout", c->dir);
    cleanup_free char *e = cln_xasprintf("%s/stderr", c->dir);
    struct cln_capture out, er;
    int r = log_read(o, tail, cap, &out, err);
    if (r < 0)
        return r;
    r = log_read(e, tail, cap, &er, err);
    if (r < 0) {
        cln_capture_done(&out);
        return r;
    }
    *ret_out = out;
    *ret_err = er;
    return 0;
}
