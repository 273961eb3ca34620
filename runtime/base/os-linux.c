/* The host OS seam (os.h) on Linux: descriptors, process handles, the
 * host-exec lockout, namespaces and files.  Process facts from /proc and
 * the scoped kill are in os-linux-proc.c. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "error.h"
#include "xalloc.h"

/* ---- descriptors and sockets ---- */

int cln_os_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

int cln_os_socket(int domain, int type, int protocol, bool nonblock)
{
    return socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), protocol);
}

int cln_os_socketpair(int domain, int type, int sv[2])
{
    return socketpair(domain, type | SOCK_CLOEXEC, 0, sv);
}

ssize_t cln_os_sendmsg(int sock, const struct msghdr *m, int flags)
{
    return sendmsg(sock, m, flags | MSG_NOSIGNAL);
}

ssize_t cln_os_recvmsg(int sock, struct msghdr *m)
{
    return recvmsg(sock, m, MSG_CMSG_CLOEXEC);
}

ssize_t cln_os_send(int sock, const void *buf, size_t len, int flags)
{
    return send(sock, buf, len, flags | MSG_NOSIGNAL);
}

ssize_t cln_os_recv(int sock, void *buf, size_t len, int flags)
{
    return recv(sock, buf, len, flags);
}

int cln_os_dup_cloexec(int fd, int to)
{
    return dup3(fd, to, O_CLOEXEC);
}

int cln_os_close_from(int lowfd)
{
    return close_range((unsigned)lowfd, ~0U, 0);
}

int cln_os_close_on_exec_from(int lowfd, int keep)
{
    if (close_range((unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    /* before Linux 5.11: close all but keep now */
    if (keep > lowfd && close_range((unsigned)lowfd, (unsigned)keep - 1, 0) < 0)
        return -1;
    return close_range((unsigned)(keep >= lowfd ? keep + 1 : lowfd), ~0U, 0);
}

/* "/proc/self/fd/N" without stdio. */
static void fd_link(int fd, char out[32])
{
    static const char pre[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    unsigned v = (unsigned)fd;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, pre, sizeof(pre) - 1);
    size_t k = sizeof(pre) - 1;
    while (n)
        out[k++] = digits[--n];
    out[k] = '\0';
}

int cln_os_resolve_file(const char *path, char *out, size_t size, struct stat *st)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char link[32];
    fd_link(fd, link);
    int r = fstat(fd, st) < 0 ? -errno : 0;
    ssize_t n = -1;
    if (r == 0 && (n = readlink(link, out, size - 1)) < 0)
        r = -errno;
    close(fd);
    if (r < 0)
        return r;
    if ((size_t)n >= size - 1)
        return -ENAMETOOLONG;
    out[n] = '\0';
    if (out[0] != '/')
        return -ENOENT; /* not reachable from this root */
    if (!S_ISREG(st->st_mode))
        return -EACCES;
    return 0;
}

char *cln_os_self_exe(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    return cln_xstrdup(exe);
}

ssize_t cln_os_random(void *buf, size_t n)
{
    return getrandom(buf, n, 0);
}

const char *cln_os_signal_abbrev(int sig)
{
    return sigabbrev_np(sig);
}

/* ---- process handles ---- */

int cln_os_proc_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int cln_os_proc_signal(int handle, int sig)
{
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, handle, sig, NULL, 0);
#else
    (void)handle;
    (void)sig;
    errno = ENOSYS;
    return -1;
#endif
}

int cln_os_proc_wait(int handle, siginfo_t *si, int options)
{
    return waitid(P_PIDFD, (id_t)handle, si, options);
}

int cln_os_die_with_parent(int sig)
{
    return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0);
}

int cln_os_signal_fd(const sigset_t *set)
{
    return signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void cln_os_signal_fd_drain(int fd)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
}

/* ---- the host-exec lockout ---- */

/* A small /proc file, NUL-terminated; NULL when it cannot be read. */
static char *read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct cln_buf b = CLN_BUF_INIT;
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0 && b.len < (1u << 20))
        cln_buf_append(&b, tmp, (size_t)n);
    close(fd);
    if (!b.data)
        cln_buf_puts(&b, "");
    return cln_buf_steal(&b);
}

bool cln_os_exec_locked_out(void)
{
    cleanup_free char *s = read_small("/proc/self/status");
    if (!s)
        return false;
    const char *nnp = strstr(s, "\nNoNewPrivs:");
    const char *sc = strstr(s, "\nSeccomp:");
    return nnp && sc && strtol(nnp + 12, NULL, 10) == 1 && strtol(sc + 9, NULL, 10) == 2;
}

int cln_os_exec_lockout(char **method, struct cln_error **err)
{
    *method = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "host-exec lockout: prctl(PR_SET_NO_NEW_PRIVS)");
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return cln_error_set(err, CLN_E_IO, 0, "host-exec lockout: seccomp_init failed");
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 0);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return cln_error_set(err, CLN_E_IO, -rc,
                             "host-exec lockout: installing the seccomp filter failed");
    if (!cln_os_exec_locked_out())
        return cln_error_set(err, CLN_E_IO, 0,
                             "host-exec lockout: the filter was loaded but /proc/self/status "
                             "does not show it");
    const struct scmp_version *v = seccomp_version();
    *method = cln_xasprintf("seccomp filter (libseccomp %u.%u.%u) on every thread, "
                            "no_new_privs: execve and execveat fail with EPERM",
                            v->major, v->minor, v->micro);
    return 0;
}

/* ---- namespaces and roots ---- */

int cln_os_ns_inode(int pid, const char *name, uint64_t *ret)
{
    char path[64];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
    else
        snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    *ret = (uint64_t)st.st_ino;
    return 0;
}

char *cln_os_root_path(int pid, const char *path)
{
    return cln_xasprintf("/proc/%d/root%s", pid, path);
}

/* ---- files ---- */

int cln_os_open_beneath(const char *dir, const char *rel, int flags)
{
#ifdef SYS_openat2
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    struct {
        uint64_t flags, mode, resolve;
    } how = {.flags = (uint64_t)flags,
             .resolve =
                 0x08 /* RESOLVE_BENEATH */ | 0x04 /* NO_SYMLINKS */ | 0x02 /* NO_MAGICLINKS */};
    int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    int e = errno;
    close(dfd);
    errno = e;
    return fd;
#else
    (void)dir;
    (void)rel;
    (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int cln_os_is_kernel_fs(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return -1;
    return sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC;
}
