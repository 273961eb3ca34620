/* The host OS seam: everything cleanrun asks of the host's kernel that
 * POSIX does not give, declared here and nowhere else.
 *
 * Each host OS implements all of it in runtime/base/os-<os>*.c, and the
 * Makefile builds only the host's (`uname -s`): Linux's are os-linux.c
 * (descriptors, process handles, the host-exec lockout, namespaces, files)
 * and os-linux-proc.c (process facts from /proc, cgroups, the scoped kill).
 * No other file of harness/ or runtime/ includes a Linux header, names
 * /proc or makes a Linux-only call; tests/portability.sh (in `make lint`)
 * checks it by grep and by compiling every other file against POSIX and
 * the BSD functions macOS has.  A port (macOS, for the Apple backend)
 * writes os-darwin*.c and nothing else; where a host has no such thing,
 * the call says so (-1 with errno ENOSYS, 0, NULL or "unknown", as each
 * declaration says) and the caller reports it, never fakes it.
 *
 * harness/inside/ is not part of the seam: it runs inside Linux guests
 * (static, musl), whatever the host.
 *
 * Process facts and killing: nothing here signals a process it has not
 * proven to be in the scope it was asked about (a container's pid
 * namespace and cgroup, started no earlier than the step): each candidate
 * is held by a process handle (a pidfd), checked, and signalled through
 * it, so that a pid reused by a host process in between is never hit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

struct cln_error;

/* The start time of pid (0: this process) in clock ticks after boot, field
 * 22 of /proc/PID/stat: it tells a process from a later one that was given
 * the same pid.  0 when unknown. */
/* ---- processes: facts and the scoped kill (os-linux-proc.c) ---- */

uint64_t cln_proc_start_time(int pid);
/* Now, in the same clock (ticks after boot). */
uint64_t cln_proc_now_ticks(void);

/* This boot's id (/proc/sys/kernel/random/boot_id), or "unknown". */
void cln_boot_id(char *out, size_t size);
/* This machine's id (/etc/machine-id, else /var/lib/dbus/machine-id), or
 * "unknown". */
void cln_machine_id(char *out, size_t size);

/* The inode of pid's pid namespace (pid 0: this process), or 0. */
uint64_t cln_proc_pidns(int pid);
/* pid's cgroup path (the memory controller's on cgroup v1, else the
 * unified one), or NULL. */
char *cln_proc_cgroup(int pid);
/* pid's pid in the innermost pid namespace it is in (NSpid), or 0. */
int cln_proc_inner_pid(int pid);
/* The pids of every process in the cgroup (as cln_proc_cgroup gives it);
 * -1 when its cgroup.procs cannot be read. */
int cln_cgroup_pids(const char *cgroup, int **ret, size_t *ret_n);
/* How many processes the kernel's OOM killer has killed in this cgroup
 * (cgroup v1 memory.oom_control or v2 memory.events "oom_kill"); -1 when
 * it cannot be read. */
int64_t cln_cgroup_oom_kills(const char *cgroup);

/* What a process must be to be signalled. */
struct cln_proc_scope {
    uint64_t pidns;     /* its pid namespace (required) */
    const char *cgroup; /* its cgroup, or one below it (required) */
    uint64_t min_start; /* it started at or after this (ticks after boot) */
    int exclude;        /* never this pid (a container's init), 0: none */
};

/* A pidfd for pid when it is, at the time of the call, a process of the
 * scope; -1 otherwise (gone, elsewhere, too old, excluded). */
int cln_proc_open_scoped(int pid, const struct cln_proc_scope *scope);

/* SIGKILL the process tree under root (root included, 0: none) and, with
 * orphans, every other process of the scope's cgroup: each one stopped
 * first so that it cannot fork, each proven in scope and signalled through
 * its pidfd.  Returns how many processes were killed. */
int cln_proc_kill_scoped(int root, const struct cln_proc_scope *scope, bool orphans);

/* SIGKILL pid, a process of the scope (its exclude, the container's init,
 * allowed), through a pidfd proven in scope.  0, or -1 (not in scope,
 * gone: nothing was signalled). */
int cln_proc_kill_in_scope(int pid, const struct cln_proc_scope *scope);

/* ---- a fresh container's gate (harness/inside/cleanrun-exec.c -W) ---- */

/* Where the gated process holds the read ends of its step's stdout and
 * stderr pipes, and of its status pipe (the step's wait status, an int,
 * once it has ended; the gated process then waits for a second SIGUSR1). */
#define CLN_GATE_OUT_FD 100
#define CLN_GATE_ERR_FD 101
#define CLN_GATE_STATUS_FD 102

struct cln_gate {
    int pidfd;            /* the gated process's handle, proven in scope */
    int out, err, status; /* the read ends of its pipes: this process's now */
};

/* Wait until pid, a process of the scope (cleanrun-exec -W, a container's
 * first process), has reached its gate (SIGUSR1 blocked: its canary
 * written and its pipes made), then take its pipes' read ends.  The wait
 * is woken by its opening of ping (a path in its root, through inotify),
 * by its exit and by wake_fd (> 0), and ends at deadline_ms (cln_now_ms).
 * 0, or -1 with errno: ESRCH (gone, or not in scope), ETIMEDOUT, EINTR
 * (wake_fd), ENOSYS (a host that cannot), or what failed. */
int cln_gate_open(int pid, const struct cln_proc_scope *scope, const char *ping,
                  uint64_t deadline_ms, int wake_fd, struct cln_gate *ret);
/* sig to the gated process, through its proven handle.  0, or -1. */
int cln_gate_signal(const struct cln_gate *g, int sig);
/* Close what is still open (-1 each after). */
void cln_gate_close(struct cln_gate *g);

/* The pids of every process this host shows (a container's too, when its
 * engine is local); -1 with errno when they cannot be listed. */
int cln_os_pids(int **ret, size_t *ret_n);

/* ---- descriptors and sockets (os-linux.c) ---- */

/* The send flag that turns SIGPIPE into EPIPE, where the host has one (a
 * host without it sets SO_NOSIGPIPE in cln_os_socket and _socketpair). */
#ifdef MSG_NOSIGNAL
#define CLN_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define CLN_MSG_NOSIGNAL 0
#endif

/* pipe(2), both ends close-on-exec.  0, or -1 with errno. */
int cln_os_pipe(int fds[2]);
/* socket(2): close-on-exec, non-blocking when asked, never SIGPIPE. */
int cln_os_socket(int domain, int type, int protocol, bool nonblock);
/* socketpair(2), both ends close-on-exec, never SIGPIPE.  The broker's
 * channels are (AF_UNIX, SOCK_SEQPACKET): one message a call, boundaries
 * kept, descriptors passed.  A host whose Unix sockets lack SOCK_SEQPACKET
 * makes a stream pair here and frames each message in the four calls
 * below: nothing else reads or writes those channels. */
int cln_os_socketpair(int domain, int type, int sv[2]);
/* sendmsg(2) of one message (flags | CLN_MSG_NOSIGNAL). */
ssize_t cln_os_sendmsg(int sock, const struct msghdr *m, int flags);
/* recvmsg(2) of one message, every received descriptor close-on-exec at
 * once; m->msg_flags says MSG_TRUNC/MSG_CTRUNC. */
ssize_t cln_os_recvmsg(int sock, struct msghdr *m);
/* send(2) and recv(2) of one small message with no descriptors. */
ssize_t cln_os_send(int sock, const void *buf, size_t len, int flags);
ssize_t cln_os_recv(int sock, void *buf, size_t len, int flags);
/* dup fd onto to, close-on-exec.  Async-signal-safe. */
int cln_os_dup_cloexec(int fd, int to);
/* Close every descriptor from lowfd up (after a fork).  Async-signal-safe. */
int cln_os_close_from(int lowfd);
/* Close every descriptor from lowfd up except keep, or mark them all
 * close-on-exec, whichever the host can (after a fork, before execve:
 * keep survives until execve either way).  Async-signal-safe. */
int cln_os_close_on_exec_from(int lowfd, int keep);
/* The regular file path names, as the kernel names it once every symlink,
 * "." and ".." is resolved (out: size bytes), with its stat: 0, or -errno
 * (-EACCES: not a regular file; -ENOENT: outside this root). */
int cln_os_resolve_file(const char *path, char *out, size_t size, struct stat *st);
/* The running executable's path, newly allocated, or NULL. */
char *cln_os_self_exe(void);
/* n random bytes from the kernel: n, or -1 with errno (EINTR: again). */
ssize_t cln_os_random(void *buf, size_t n);
/* A signal's abbreviation ("KILL" for SIGKILL), or NULL. */
const char *cln_os_signal_abbrev(int sig);

/* ---- process handles and dying with the parent (os-linux.c) ---- */

/* A handle on exactly process pid (a child not yet reaped, or one proven
 * by other means): a descriptor that polls readable once it has exited.
 * -1 with errno. */
int cln_os_proc_open(pid_t pid);
/* Send sig to exactly the handle's process.  0, or -1 with errno (ESRCH:
 * it has exited). */
int cln_os_proc_signal(int handle, int sig);
/* waitid(2) on the handle's process (a child of the caller). */
int cln_os_proc_wait(int handle, siginfo_t *si, int options);
/* From now on, sig reaches this process when its parent dies (then check
 * getppid(): the parent may have died already).  Async-signal-safe.  0,
 * or -1 with errno. */
int cln_os_die_with_parent(int sig);
/* A non-blocking, close-on-exec descriptor that polls readable when a
 * signal of set (blocked by the caller) is pending; -1 with errno. */
int cln_os_signal_fd(const sigset_t *set);
/* Take what is pending on it. */
void cln_os_signal_fd_drain(int fd);

/* ---- the host-exec lockout (os-linux.c) ---- */

/* Make execve fail (EPERM) in every thread of this process from now on,
 * for good, with no_new_privs; *method (newly allocated) says how.  0, or
 * -1 with *err. */
int cln_os_exec_lockout(char **method, struct cln_error **err);
/* Is such a lockout in force in this process, as the kernel reports it? */
bool cln_os_exec_locked_out(void);

/* ---- namespaces and roots, as this host sees its containers (os-linux.c) ---- */

/* The inode of namespace name ("mnt", "pid", ...) of pid (0: this
 * process).  0, or -1 with errno. */
int cln_os_ns_inode(int pid, const char *name, uint64_t *ret);
/* The host path of path (absolute) inside pid's root directory, newly
 * allocated; NULL (errno ENOSYS) on a host that has no such path. */
char *cln_os_root_path(int pid, const char *path);

/* ---- files (os-linux.c) ---- */

/* Open rel beneath the directory dir, never through a symlink or out of
 * it, even when something is swapped in during the walk; -1 with errno
 * (ENOSYS: the host cannot; ELOOP/EXDEV: it led out). */
int cln_os_open_beneath(const char *dir, const char *rel, int flags);
/* Is the open fd on a kernel's own file system (Linux's /proc or /sys):
 * the host's state, never a file to copy?  -1 with errno, 0, or 1. */
int cln_os_is_kernel_fs(int fd);
