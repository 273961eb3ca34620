/* The host-process broker (docs/runtime.md, "The host-process broker").
 *
 * Two halves:
 *   - the client, in the harness process: cln_broker_start forks the
 *     broker; cln_broker_spawn sends it one request and takes its reply
 *     under a mutex; waits and kills use each child's own fds (its status
 *     channel, its pidfd), never the broker's socket, so threads do not
 *     queue behind each other for them.
 *   - the broker process (broker_main and below).  It is forked from a
 *     process that may have threads (cleanrun run starts its signal thread
 *     before it opens the runtime) and it never execs, so for its whole
 *     life it makes async-signal-safe calls only: no malloc, no stdio, no
 *     locks.  Its memory is one struct broker_state, allocated and filled
 *     in the harness before the fork.
 *
 * Wire (SOCK_SEQPACKET, one message each way per request):
 *   request  struct wire_req, then NUL-terminated strings: path, argv...,
 *            env..., [cwd]; SCM_RIGHTS: the status channel's end, then the
 *            child's stdin, stdout, stderr, those the flags name.
 *            A function's (WIRE_FN): its name, NUL, its bytes; SCM_RIGHTS:
 *            the status channel's end, then its descriptors.
 *   reply    struct wire_reply; SCM_RIGHTS: the child's pidfd when it runs.
 *   status   struct wire_status on the status channel once the child is
 *            reaped, then the broker closes it. */
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/error.h"
#include "base/os.h"
#include "base/xalloc.h"

#define WIRE_MAGIC 0x434c4e42u       /* "CLNB" */
#define REQ_MAX ((size_t)128 * 1024) /* the strings of one request */
#define MAX_STRINGS 4096             /* argv entries; env entries */
#define MAX_PROGRAMS 32
#define PROGRAM_NAMES 16384
#define MAX_KIDS 512
#define READY_WAIT_MS 5000    /* the broker says it is ready */
#define REPLY_WAIT_MS 6000    /* it answers a request */
#define EXEC_WAIT_MS 4000     /* a child it forked reaches execve */
#define SHUTDOWN_WAIT_MS 3000 /* its children are reaped once killed */
#define STOP_WAIT_MS 5000     /* it exits once told to stop */
/* Sent to the broker when the thread that forked it exits: the harness
 * may still be there (then the broker carries on) or not. */
#define PDEATH_SIG SIGUSR1

enum { WIRE_CWD = 1, WIRE_STDIN = 2, WIRE_STDOUT = 4, WIRE_STDERR = 8, WIRE_FN = 16 };
#define WIRE_FDS (1 + CLN_BROKER_MAX_FDS) /* the status channel and the rest */

struct wire_req {
    uint32_t magic, seq, flags, nargv, nenv;
    uint32_t len; /* bytes of strings that follow */
};

enum wire_result {
    RES_OK,
    RES_READY,
    RES_NOT_ABSOLUTE,
    RES_UNRESOLVED,
    RES_UNDECLARED,
    RES_BAD_REQUEST,
    RES_BUSY,
    RES_START_FAILED,
};
enum wire_stage { S_NONE, S_PIPE, S_FORK, S_SETUP, S_STDIO, S_CHDIR, S_EXEC, S_TIMEOUT, S_PIDFD };

struct wire_reply {
    uint32_t magic, seq;
    int32_t result, stage, err, pid;
    char path[PATH_MAX]; /* the resolved path */
};

struct wire_status {
    uint32_t magic;
    int32_t status; /* wait(2) status */
};

/* ---- shared by both halves (async-signal-safe) ---- */

/* The regular file path names, as the kernel names it once every symlink,
 * "." and ".." is resolved: 0, or -errno. */
static int resolve(const char *path, char *out, size_t size)
{
    struct stat st;
    return cln_os_resolve_file(path, out, size, &st);
}

static bool declared(const char *const *programs, size_t n, const char *resolved)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(programs[i], resolved) == 0)
            return true;
    return false;
}

static ssize_t send_fds(int sock, struct iovec *iov, int niov, const int *fds, int nfds, int flags)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * WIRE_FDS)];
    } c;
    memset(&c, 0, sizeof(c));
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    if (nfds > 0) {
        m.msg_control = c.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = cln_os_sendmsg(sock, &m, flags);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Receive one message and up to WIRE_FDS fds (close-on-exec); fds beyond
 * are closed.  *ret_flags gets msg_flags (MSG_TRUNC, MSG_CTRUNC). */
static ssize_t recv_fds(int sock, void *buf, size_t size, int fds[WIRE_FDS], int *ret_nfds,
                        int *ret_flags)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * WIRE_FDS)];
    } c;
    struct iovec iov = {.iov_base = buf, .iov_len = size};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    ssize_t n;
    do
        n = cln_os_recvmsg(sock, &m);
    while (n < 0 && errno == EINTR);
    *ret_nfds = 0;
    *ret_flags = n < 0 ? 0 : m.msg_flags;
    if (n < 0)
        return n;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*ret_nfds < WIRE_FDS)
                fds[(*ret_nfds)++] = fd;
            else
                close(fd);
        }
    }
    return n;
}

static void close_fds(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* poll until end (CLOCK_MONOTONIC ms): >0 ready, 0 at end, <0 error. */
static int poll_until(struct pollfd *p, nfds_t n, uint64_t end)
{
    for (;;) {
        uint64_t now = cln_now_ms();
        uint64_t left = end > now ? end - now : 0;
        int r = poll(p, n, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && cln_now_ms() < end)
            continue;
        return r;
    }
}

/* ---- the broker process ---- */

struct kid {
    pid_t pid;
    int pidfd;
    int status_fd;
};

struct broker_state {
    pid_t harness, self;
    int sock, sigfd;
    size_t nprograms;
    const char *programs[MAX_PROGRAMS]; /* resolved; in names */
    char names[PROGRAM_NAMES];
    const struct cln_broker_fn_entry *fns; /* the backend's functions (static) */
    size_t nkids;
    struct kid kids[MAX_KIDS];
    struct pollfd pfd[2 + MAX_KIDS];
    struct wire_reply reply;
    char *argv[MAX_STRINGS + 1], *envp[MAX_STRINGS + 1];
    union {
        struct wire_req h;
        char raw[sizeof(struct wire_req) + REQ_MAX + 1];
    } req;
};

/* The child: from the broker's fork to execve.  Its failure (the stage
 * and errno) goes to the broker on sync; success closes sync by exec. */
__attribute__((noreturn)) static void child_exec(const struct broker_state *s, const char *path,
                                                 const int std[3], const char *cwd, int sync)
{
    int stage = S_SETUP;
    /* killed with the broker; and the broker is still there */
    if (cln_os_die_with_parent(SIGKILL) < 0 || getppid() != s->self)
        goto fail;
    /* its own session: a terminal's ^C reaches the harness, which decides */
    (void)setsid();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL); /* EINVAL for SIGKILL, SIGSTOP, libc's own */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        goto fail;
    stage = S_STDIO;
    /* 0-2 are the broker's /dev/null unless given; given ones are >= 3 */
    for (int i = 0; i < 3; i++) {
        if (std[i] < 0)
            continue;
        if (std[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(std[i], i) < 0)
            goto fail;
    }
    stage = S_SETUP;
    if (cln_os_close_on_exec_from(3, sync) < 0)
        goto fail;
    stage = S_CHDIR;
    if (chdir(cwd ? cwd : "/") < 0)
        goto fail;
    stage = S_EXEC;
    execve(path, s->argv, s->envp);
fail:;
    int rep[2] = {stage, errno};
    ssize_t w = write(sync, rep, sizeof(rep));
    (void)w;
    _exit(127);
}

static int start_failed(struct wire_reply *rep, int stage, int e)
{
    rep->result = RES_START_FAILED;
    rep->stage = stage;
    rep->err = e;
    return -1;
}

/* Check and start one request; the child's pidfd, or -1 with the reply
 * saying why.  On success the status channel (fds[0]) is the kid's. */
static int spawn(struct broker_state *s, const char *path, const char *cwd, const int *fds)
{
    struct wire_reply *rep = &s->reply;
    if (path[0] != '/') {
        rep->result = RES_NOT_ABSOLUTE;
        return -1;
    }
    int r = resolve(path, rep->path, sizeof(rep->path));
    if (r < 0) {
        rep->result = RES_UNRESOLVED;
        rep->err = -r;
        return -1;
    }
    if (!declared(s->programs, s->nprograms, rep->path)) {
        rep->result = RES_UNDECLARED;
        return -1;
    }
    if (s->nkids == MAX_KIDS) {
        rep->result = RES_BUSY;
        rep->err = EAGAIN;
        return -1;
    }
    int std[3] = {-1, -1, -1}, k = 1;
    for (int i = 0; i < 3; i++)
        if (s->req.h.flags & (uint32_t)(WIRE_STDIN << i))
            std[i] = fds[k++];
    int sync[2];
    if (cln_os_pipe(sync) < 0)
        return start_failed(rep, S_PIPE, errno);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sync[0]);
        close(sync[1]);
        return start_failed(rep, S_FORK, e);
    }
    if (pid == 0)
        child_exec(s, rep->path, std, cwd, sync[1]);
    close(sync[1]);
    struct pollfd p = {.fd = sync[0], .events = POLLIN};
    int pr = poll_until(&p, 1, cln_now_ms() + EXEC_WAIT_MS);
    int got[2] = {0, 0};
    ssize_t n = pr > 0 ? read(sync[0], got, sizeof(got)) : -1;
    close(sync[0]);
    int st = 0;
    if (n != 0) {
        /* it failed before execve, or hangs on the way: our own unreaped
         * child, so its pid cannot have been reused */
        kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
        return n == (ssize_t)sizeof(got) ? start_failed(rep, got[0], got[1])
                                         : start_failed(rep, S_TIMEOUT, ETIMEDOUT);
    }
    int pidfd = cln_os_proc_open(pid);
    if (pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
        return start_failed(rep, S_PIDFD, e);
    }
    s->kids[s->nkids++] = (struct kid){.pid = pid, .pidfd = pidfd, .status_fd = fds[0]};
    rep->result = RES_OK;
    rep->pid = pid;
    return pidfd;
}

/* A function's child: from the broker's fork to the function, which never
 * returns.  Its descriptors at 3, 4, ..., nothing else of the broker's. */
__attribute__((noreturn)) static void child_fn(const struct broker_state *s, cln_broker_fn fn,
                                               const void *data, size_t len, const int *fds,
                                               int nfds)
{
    if (cln_os_die_with_parent(SIGKILL) < 0 || getppid() != s->self)
        _exit(127);
    (void)setsid();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        _exit(127);
    int high[CLN_BROKER_MAX_FDS], mine[CLN_BROKER_MAX_FDS];
    for (int i = 0; i < nfds; i++)
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + nfds)) < 0)
            _exit(127);
    for (int i = 0; i < nfds; i++) {
        mine[i] = 3 + i;
        if (dup2(high[i], mine[i]) < 0)
            _exit(127);
    }
    if (cln_os_close_from(3 + nfds) < 0)
        _exit(127);
    fn(data, len, mine, nfds);
    _exit(127);
}

/* Start the function a request names; its pidfd, or -1 with the reply
 * saying why.  On success the status channel (fds[0]) is the kid's. */
static int fork_fn(struct broker_state *s, const char *name, const void *data, size_t len,
                   const int *fds, int nfds)
{
    struct wire_reply *rep = &s->reply;
    cln_broker_fn fn = NULL;
    for (size_t i = 0; s->fns && s->fns[i].name && !fn; i++)
        if (strcmp(s->fns[i].name, name) == 0)
            fn = s->fns[i].fn;
    size_t nl = strlen(name);
    memcpy(rep->path, name, nl < sizeof(rep->path) ? nl + 1 : 0);
    if (!fn) {
        rep->result = RES_UNDECLARED;
        return -1;
    }
    if (s->nkids == MAX_KIDS) {
        rep->result = RES_BUSY;
        rep->err = EAGAIN;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return start_failed(rep, S_FORK, errno);
    if (pid == 0)
        child_fn(s, fn, data, len, fds + 1, nfds - 1);
    int pidfd = cln_os_proc_open(pid);
    if (pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL); /* our own unreaped child */
        int st = 0;
        (void)waitpid(pid, &st, 0);
        return start_failed(rep, S_PIDFD, e);
    }
    s->kids[s->nkids++] = (struct kid){.pid = pid, .pidfd = pidfd, .status_fd = fds[0]};
    rep->result = RES_OK;
    rep->pid = pid;
    return pidfd;
}

/* Reap kid i if it ended: its status to its channel, which is closed. */
static void reap(struct broker_state *s, size_t i)
{
    struct kid *k = &s->kids[i];
    int st = 0;
    pid_t r = waitpid(k->pid, &st, WNOHANG);
    if (r == 0)
        return;
    if (r == k->pid) {
        struct wire_status ws = {.magic = WIRE_MAGIC, .status = st};
        (void)cln_os_send(k->status_fd, &ws, sizeof(ws), MSG_DONTWAIT);
    }
    close(k->status_fd);
    close(k->pidfd);
    s->kids[i] = s->kids[--s->nkids];
}

/* The harness is gone or told us to stop: kill every child, reap them
 * (bounded), exit without running anyone's atexit handlers. */
__attribute__((noreturn)) static void broker_exit(struct broker_state *s)
{
    for (size_t i = 0; i < s->nkids; i++)
        (void)cln_os_proc_signal(s->kids[i].pidfd, SIGKILL);
    uint64_t end = cln_now_ms() + SHUTDOWN_WAIT_MS;
    while (s->nkids) {
        for (size_t i = 0; i < s->nkids; i++)
            s->pfd[i] = (struct pollfd){.fd = s->kids[i].pidfd, .events = POLLIN};
        if (poll_until(s->pfd, s->nkids, end) <= 0)
            break;
        for (size_t i = s->nkids; i-- > 0;)
            if (s->pfd[i].revents)
                reap(s, i);
    }
    _exit(0);
}

/* Lay out the request's strings: 0, or -1 when it is malformed. */
static int parse(struct broker_state *s, size_t n, const char **path, const char **cwd)
{
    const struct wire_req *h = &s->req.h;
    if (n >= sizeof(*h) && (h->flags & WIRE_FN)) { /* name, NUL, bytes: parsed by the caller */
        const char *p = s->req.raw + sizeof(*h);
        if (h->magic != WIRE_MAGIC || h->len != n - sizeof(*h) || h->nargv || h->nenv ||
            !memchr(p, '\0', h->len))
            return -1;
        *path = p;
        *cwd = NULL;
        return 0;
    }
    if (n < sizeof(*h) || h->magic != WIRE_MAGIC || h->len != n - sizeof(*h) || h->nargv < 1 ||
        h->nargv > MAX_STRINGS || h->nenv > MAX_STRINGS)
        return -1;
    char *p = s->req.raw + sizeof(*h), *end = p + h->len;
    size_t want = 1 + h->nargv + h->nenv + ((h->flags & WIRE_CWD) ? 1 : 0);
    for (size_t i = 0; i < want; i++) {
        char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z)
            return -1;
        if (i == 0)
            *path = p;
        else if (i <= h->nargv)
            s->argv[i - 1] = p;
        else if (i <= h->nargv + h->nenv)
            s->envp[i - 1 - h->nargv] = p;
        else
            *cwd = p;
        p = z + 1;
    }
    if (p != end)
        return -1;
    s->argv[h->nargv] = NULL;
    s->envp[h->nenv] = NULL;
    return 0;
}

static int nstdio(uint32_t flags)
{
    return !!(flags & WIRE_STDIN) + !!(flags & WIRE_STDOUT) + !!(flags & WIRE_STDERR);
}

static void handle_request(struct broker_state *s)
{
    int fds[WIRE_FDS], nfds = 0, mflags = 0;
    ssize_t n = recv_fds(s->sock, s->req.raw, sizeof(s->req.raw), fds, &nfds, &mflags);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        broker_exit(s); /* EOF: the harness stopped us, or died */
    }
    struct wire_reply *rep = &s->reply;
    memset(rep, 0, sizeof(*rep));
    rep->magic = WIRE_MAGIC;
    rep->seq = (size_t)n >= sizeof(s->req.h) ? s->req.h.seq : 0;
    const char *path = NULL, *cwd = NULL;
    int pidfd = -1;
    bool fn = (size_t)n >= sizeof(s->req.h) && (s->req.h.flags & WIRE_FN);
    if ((mflags & (MSG_TRUNC | MSG_CTRUNC)) || parse(s, (size_t)n, &path, &cwd) < 0 || !path ||
        nfds < 1 || (!fn && nfds != 1 + nstdio(s->req.h.flags)))
        rep->result = RES_BAD_REQUEST;
    else if (fn)
        pidfd =
            fork_fn(s, path, path + strlen(path) + 1, s->req.h.len - strlen(path) - 1, fds, nfds);
    else
        pidfd = spawn(s, path, cwd, fds);
    /* the child has its descriptors now; the status channel is the kid's */
    close_fds(fds + 1, nfds - 1);
    if (pidfd < 0 && nfds > 0)
        close(fds[0]);
    struct iovec iov = {.iov_base = rep, .iov_len = sizeof(*rep)};
    if (send_fds(s->sock, &iov, 1, &pidfd, pidfd >= 0 ? 1 : 0, 0) < 0) {
        if (pidfd >= 0)
            (void)cln_os_proc_signal(pidfd,
                                     SIGKILL); /* nobody knows of it: it is reaped as usual */
        if (errno == EPIPE || errno == ECONNRESET)
            broker_exit(s);
    }
}

__attribute__((noreturn)) static void broker_main(struct broker_state *s, int sock)
{
    /* Every signal blocked: the terminal's ^C, a SIGTERM to the process
     * group, are the harness's to act on; the broker must stay up for its
     * teardown.  Only SIGKILL or the harness's end stops it. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL); /* never auto-reaped: waitpid must see them */
    /* Only the socket is kept (on 3), everything else of the harness is
     * closed, and 0-2 are /dev/null. */
    if (sock != 3 && cln_os_dup_cloexec(sock, 3) < 0)
        _exit(1);
    s->sock = 3;
    if (cln_os_close_from(4) < 0)
        _exit(1);
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        _exit(1);
    for (int i = 0; i < 3; i++)
        if (null != i && dup2(null, i) < 0)
            _exit(1);
    if (null > 2)
        close(null);
    sigset_t pd;
    sigemptyset(&pd);
    sigaddset(&pd, PDEATH_SIG);
    s->sigfd = cln_os_signal_fd(&pd);
    if (s->sigfd < 0 || cln_os_die_with_parent(PDEATH_SIG) < 0 || getppid() != s->harness)
        _exit(1);
    s->self = getpid();
    if (chdir("/") < 0)
        _exit(1);
    memset(&s->reply, 0, sizeof(s->reply));
    s->reply.magic = WIRE_MAGIC;
    s->reply.result = RES_READY;
    s->reply.pid = s->self;
    struct iovec iov = {.iov_base = &s->reply, .iov_len = sizeof(s->reply)};
    if (send_fds(s->sock, &iov, 1, NULL, 0, 0) < 0)
        _exit(1);
    for (;;) {
        s->pfd[0] = (struct pollfd){.fd = s->sock, .events = POLLIN};
        s->pfd[1] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
        for (size_t i = 0; i < s->nkids; i++)
            s->pfd[2 + i] = (struct pollfd){.fd = s->kids[i].pidfd, .events = POLLIN};
        size_t n = 2 + s->nkids;
        if (poll(s->pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            broker_exit(s);
        }
        if (s->pfd[1].revents) {
            cln_os_signal_fd_drain(s->sigfd);
            if (getppid() != s->harness)
                broker_exit(s); /* the harness died */
        }
        /* downwards: reap() moves the last kid into the slot it frees */
        for (size_t i = n - 2; i-- > 0;)
            if (s->pfd[2 + i].revents)
                reap(s, i);
        if (s->pfd[0].revents & POLLIN)
            handle_request(s);
        else if (s->pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            broker_exit(s);
    }
}

/* ---- the client ---- */

struct cln_broker {
    pthread_mutex_t lock; /* around one request and its reply */
    int sock;
    pid_t pid;
    int pidfd;
    uint32_t seq;
    char *dead; /* why it is gone, once it is: every request fails with it */
    char **programs;
    size_t nprograms;
};

int cln_broker_pid(const struct cln_broker *b)
{
    return b->pid;
}

static void describe_exit(const siginfo_t *si, struct cln_buf *out)
{
    if (si->si_code == CLD_EXITED) {
        cln_buf_printf(out, "it exited with status %d", si->si_status);
    } else {
        const char *name = cln_os_signal_abbrev(si->si_status);
        if (name)
            cln_buf_printf(out, "killed by SIG%s", name);
        else
            cln_buf_printf(out, "killed by signal %d", si->si_status);
    }
}

/* The broker is gone (EOF, EPIPE: why is NULL, e the errno if any) or
 * useless (why says how): kill it for certain, so that its children die
 * too, and say so for every later request.  Under b->lock. */
static void mark_dead(struct cln_broker *b, const char *why, int e)
{
    if (b->dead)
        return;
    struct cln_buf m = CLN_BUF_INIT;
    struct pollfd p = {.fd = b->pidfd, .events = POLLIN};
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (why) {
        (void)cln_os_proc_signal(b->pidfd, SIGKILL);
        cln_buf_printf(&m, "the host-process broker (pid %d) %s; it was killed", (int)b->pid, why);
    } else if (poll_until(&p, 1, cln_now_ms() + 1000) > 0 &&
               cln_os_proc_wait(b->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
        cln_buf_printf(&m, "the host-process broker (pid %d) died: ", (int)b->pid);
        describe_exit(&si, &m);
    } else {
        (void)cln_os_proc_signal(b->pidfd, SIGKILL);
        cln_buf_printf(&m, "the host-process broker (pid %d) died: its socket closed%s%s",
                       (int)b->pid, e ? ": " : "", e ? strerror(e) : "");
    }
    b->dead = cln_buf_steal(&m);
}

static int died(const struct cln_broker *b, struct cln_error **err)
{
    return cln_error_set(err, CLN_E_TRANSPORT, 0, "%s", b->dead);
}

/* Take the reply to request seq (0: the ready message), with the pidfd it
 * carries when ret_pidfd.  Under b->lock. */
static int recv_reply(struct cln_broker *b, uint32_t seq, uint64_t wait_ms, struct wire_reply *rep,
                      int *ret_pidfd, struct cln_error **err)
{
    struct pollfd p = {.fd = b->sock, .events = POLLIN};
    int r = poll_until(&p, 1, cln_now_ms() + wait_ms);
    if (r < 0)
        return cln_error_set(err, CLN_E_IO, errno, "waiting for the host-process broker (pid %d)",
                             (int)b->pid);
    if (r == 0) {
        char why[64];
        snprintf(why, sizeof(why), "did not answer within %d s", (int)(wait_ms / 1000));
        mark_dead(b, why, 0);
        return died(b, err);
    }
    int fds[WIRE_FDS], nfds = 0, mflags = 0;
    ssize_t n = recv_fds(b->sock, rep, sizeof(*rep), fds, &nfds, &mflags);
    if (n <= 0) {
        mark_dead(b, NULL, n < 0 ? errno : 0);
        close_fds(fds, nfds);
        return died(b, err);
    }
    /* a pidfd with RES_OK and only then; RES_OK only to a spawn request */
    bool ok = (size_t)n == sizeof(*rep) && rep->magic == WIRE_MAGIC && rep->seq == seq &&
              !(mflags & (MSG_TRUNC | MSG_CTRUNC)) && nfds == (rep->result == RES_OK ? 1 : 0) &&
              (rep->result != RES_OK || ret_pidfd);
    if (!ok) {
        close_fds(fds, nfds);
        mark_dead(b, "answered out of protocol", 0);
        return died(b, err);
    }
    rep->path[sizeof(rep->path) - 1] = '\0';
    if (ret_pidfd)
        *ret_pidfd = nfds ? fds[0] : -1;
    return 0;
}

void cln_broker_stop(struct cln_broker *b)
{
    if (!b)
        return;
    /* EOF: it kills and reaps what it started, then exits */
    close(b->sock);
    struct pollfd p = {.fd = b->pidfd, .events = POLLIN};
    if (poll_until(&p, 1, cln_now_ms() + STOP_WAIT_MS) <= 0) {
        (void)cln_os_proc_signal(b->pidfd, SIGKILL);
        (void)poll_until(&p, 1, cln_now_ms() + 2000);
    }
    siginfo_t si;
    (void)cln_os_proc_wait(b->pidfd, &si, WEXITED | WNOHANG);
    close(b->pidfd);
    pthread_mutex_destroy(&b->lock);
    for (size_t i = 0; i < b->nprograms; i++)
        free(b->programs[i]);
    free(b->programs);
    free(b->dead);
    free(b);
}

int cln_broker_start(const char *const *programs, struct cln_broker **ret, struct cln_error **err)
{
    return cln_broker_start_fns(programs, NULL, ret, err);
}

int cln_broker_start_fns(const char *const *programs, const struct cln_broker_fn_entry *fns,
                         struct cln_broker **ret, struct cln_error **err)
{
    struct broker_state *s = cln_xcalloc(1, sizeof(*s));
    s->fns = fns;
    size_t used = 0;
    for (size_t i = 0; programs && programs[i]; i++) {
        char canon[PATH_MAX];
        bool absolute = programs[i][0] == '/';
        int r = absolute ? resolve(programs[i], canon, sizeof(canon)) : 0;
        size_t len = absolute && r == 0 ? strlen(canon) + 1 : 0;
        if (!absolute || r < 0 || i == MAX_PROGRAMS || used + len > sizeof(s->names)) {
            free(s);
            if (i == MAX_PROGRAMS)
                return cln_error_set(err, CLN_E_INVALID, 0, "more than %d host programs declared",
                                     MAX_PROGRAMS);
            if (!absolute)
                return cln_error_set(err, CLN_E_INVALID, 0,
                                     "host program \"%s\" is not an absolute path", programs[i]);
            if (r < 0)
                return cln_error_set(err, CLN_E_NOT_FOUND, -r, "host program %s", programs[i]);
            return cln_error_set(err, CLN_E_INVALID, 0, "the host programs' names are too long");
        }
        memcpy(s->names + used, canon, len);
        s->programs[s->nprograms++] = s->names + used;
        used += len;
    }
    int sv[2];
    if (cln_os_socketpair(AF_UNIX, SOCK_SEQPACKET, sv) < 0) {
        free(s);
        return cln_error_set(err, CLN_E_IO, errno, "host-process broker: socketpair");
    }
    s->harness = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        free(s);
        return cln_error_set(err, CLN_E_IO, e, "host-process broker: fork");
    }
    if (pid == 0)
        broker_main(s, sv[1]);
    close(sv[1]);
    struct cln_broker *b = cln_xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->sock = sv[0];
    b->pid = pid;
    b->programs = cln_xcalloc(s->nprograms + 1, sizeof(char *));
    for (size_t i = 0; i < s->nprograms; i++)
        b->programs[i] = cln_xstrdup(s->programs[i]);
    b->nprograms = s->nprograms;
    free(s);
    b->pidfd = cln_os_proc_open(pid);
    if (b->pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL); /* our unreaped child: the pid is still its */
        (void)waitpid(pid, NULL, 0);
        close(b->sock);
        for (size_t i = 0; i < b->nprograms; i++)
            free(b->programs[i]);
        free(b->programs);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return cln_error_set(err, CLN_E_IO, e, "host-process broker: pidfd_open");
    }
    struct wire_reply rep = {0};
    int r = recv_reply(b, 0, READY_WAIT_MS, &rep, NULL, err);
    if (r == 0 && rep.result != RES_READY)
        r = cln_error_set(err, CLN_E_INTERNAL, 0, "the host-process broker (pid %d) did not start",
                          (int)pid);
    if (r < 0) {
        cln_broker_stop(b);
        return cln_error_wrap(err, "starting the host-process broker");
    }
    *ret = b;
    return 0;
}

static void put_strings(struct cln_buf *b, const char *const *v, uint32_t *ret_n)
{
    uint32_t n = 0;
    for (; v && v[n]; n++)
        cln_buf_append(b, v[n], strlen(v[n]) + 1);
    *ret_n = n;
}

static const char *stage_name(int stage)
{
    switch (stage) {
    case S_PIPE:
        return "pipe2";
    case S_FORK:
        return "fork";
    case S_STDIO:
        return "dup2 of its stdio";
    case S_CHDIR:
        return "chdir";
    case S_EXEC:
        return "execve";
    case S_TIMEOUT:
        return "reaching execve in time";
    case S_PIDFD:
        return "pidfd_open";
    default:
        return "setting it up";
    }
}

/* The error for a reply that is not RES_OK. */
static int refused(const struct cln_broker *b, const struct cln_broker_spawn_req *req,
                   const struct wire_reply *rep, struct cln_error **err)
{
    struct cln_buf list = CLN_BUF_INIT;
    for (size_t i = 0; i < b->nprograms; i++)
        cln_buf_printf(&list, "%s%s", i ? ", " : "", b->programs[i]);
    bool same = strcmp(req->path, rep->path) == 0;
    int r;
    switch (rep->result) {
    case RES_NOT_ABSOLUTE:
        r = cln_error_set(err, CLN_E_ISOLATION, 0,
                          "the host-process broker refused to start \"%s\": not an absolute path "
                          "(host programs are named by absolute paths)",
                          req->path);
        break;
    case RES_UNRESOLVED:
        r = cln_error_set(err, CLN_E_ISOLATION, rep->err,
                          "the host-process broker refused to start %s: it does not resolve to a "
                          "regular file",
                          req->path);
        break;
    case RES_UNDECLARED:
        r = cln_error_set(err, CLN_E_ISOLATION, 0,
                          "the host-process broker refused to start %s%s%s%s: not one of the "
                          "runtime's declared host programs (%s)",
                          req->path, same ? "" : " (", same ? "" : rep->path, same ? "" : ")",
                          list.len ? list.data : "none");
        break;
    case RES_BUSY:
        r = cln_error_set(err, CLN_E_IO, rep->err,
                          "the host-process broker (pid %d) runs %d processes already", (int)b->pid,
                          MAX_KIDS);
        break;
    case RES_START_FAILED:
        r = cln_error_set(err, CLN_E_INVALID, rep->err, "could not start host process %s: %s%s%s",
                          rep->path, stage_name(rep->stage), rep->stage == S_CHDIR ? " to " : "",
                          rep->stage == S_CHDIR ? (req->cwd ? req->cwd : "/") : "");
        break;
    default:
        r = cln_error_set(err, CLN_E_INTERNAL, 0,
                          "the host-process broker (pid %d) could not read a request", (int)b->pid);
        break;
    }
    cln_buf_done(&list);
    return r;
}

int cln_broker_spawn(struct cln_broker *b, const struct cln_broker_spawn_req *req,
                     struct cln_broker_child *ret, struct cln_error **err)
{
    if (!req->path)
        return cln_error_set(err, CLN_E_INVALID, 0, "host process: no path");
    const char *const self[] = {req->path, NULL};
    struct wire_req h = {.magic = WIRE_MAGIC};
    struct cln_buf strs = CLN_BUF_INIT;
    cln_buf_append(&strs, req->path, strlen(req->path) + 1);
    put_strings(&strs, req->argv && req->argv[0] ? req->argv : self, &h.nargv);
    put_strings(&strs, req->env, &h.nenv);
    if (req->cwd) {
        h.flags |= WIRE_CWD;
        cln_buf_append(&strs, req->cwd, strlen(req->cwd) + 1);
    }
    if (strs.len > REQ_MAX || h.nargv > MAX_STRINGS || h.nenv > MAX_STRINGS) {
        size_t len = strs.len;
        cln_buf_done(&strs);
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "host process %s: argv and env too large (%zu bytes, %u and %u "
                             "strings; at most %zu bytes and %d strings each)",
                             req->path, len, h.nargv, h.nenv, REQ_MAX, MAX_STRINGS);
    }
    h.len = (uint32_t)strs.len;
    int st[2];
    if (cln_os_socketpair(AF_UNIX, SOCK_SEQPACKET, st) < 0) {
        cln_buf_done(&strs);
        return cln_error_set(err, CLN_E_IO, errno, "host process %s: socketpair", req->path);
    }
    int fds[4] = {st[1]}, nfds = 1;
    const int std[3] = {req->stdin_fd, req->stdout_fd, req->stderr_fd};
    for (int i = 0; i < 3; i++) {
        if (std[i] > 0) {
            h.flags |= (uint32_t)(WIRE_STDIN << i);
            fds[nfds++] = std[i];
        }
    }
    struct wire_reply rep = {0};
    int pidfd = -1, r = 0;
    pthread_mutex_lock(&b->lock);
    if (b->dead) {
        r = died(b, err);
    } else {
        h.seq = ++b->seq;
        struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)},
                               {.iov_base = strs.data, .iov_len = strs.len}};
        if (send_fds(b->sock, iov, 2, fds, nfds, MSG_DONTWAIT) < 0) {
            int e = errno;
            if (e == EAGAIN)
                mark_dead(b, "does not read its requests", 0);
            else if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
                mark_dead(b, NULL, e);
            r = b->dead ? died(b, err)
                        : cln_error_set(err, CLN_E_IO, e, "host process %s: sending the request",
                                        req->path);
        } else {
            r = recv_reply(b, h.seq, REPLY_WAIT_MS, &rep, &pidfd, err);
        }
    }
    pthread_mutex_unlock(&b->lock);
    cln_buf_done(&strs);
    close(st[1]);
    if (r == 0 && rep.result != RES_OK)
        r = refused(b, req, &rep, err);
    if (r < 0) {
        close(st[0]);
        return r;
    }
    *ret = (struct cln_broker_child){.pid = rep.pid,
                                     .pidfd = pidfd,
                                     .status_fd = st[0],
                                     .broker_pid = b->pid,
                                     .path = cln_xstrdup(rep.path)};
    return 0;
}

int cln_broker_fork(struct cln_broker *b, const struct cln_broker_fork_req *req,
                    struct cln_broker_child *ret, struct cln_error **err)
{
    if (!req->name || !*req->name || req->nfds < 0 || req->nfds > CLN_BROKER_MAX_FDS ||
        (req->len && !req->data))
        return cln_error_set(err, CLN_E_INVALID, 0, "broker function %s: a bad request",
                             req->name ? req->name : "(none)");
    size_t nl = strlen(req->name) + 1;
    if (nl + req->len > REQ_MAX)
        return cln_error_set(err, CLN_E_INVALID, 0, "broker function %s: %zu bytes (at most %zu)",
                             req->name, req->len, REQ_MAX - nl);
    struct wire_req h = {.magic = WIRE_MAGIC, .flags = WIRE_FN, .len = (uint32_t)(nl + req->len)};
    int st[2];
    if (cln_os_socketpair(AF_UNIX, SOCK_SEQPACKET, st) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "broker function %s: socketpair", req->name);
    int fds[WIRE_FDS] = {st[1]};
    for (int i = 0; i < req->nfds; i++)
        fds[1 + i] = req->fds[i];
    struct wire_reply rep = {0};
    int pidfd = -1, r = 0;
    pthread_mutex_lock(&b->lock);
    if (b->dead) {
        r = died(b, err);
    } else {
        h.seq = ++b->seq;
        struct iovec iov[3] = {{.iov_base = &h, .iov_len = sizeof(h)},
                               {.iov_base = (void *)req->name, .iov_len = nl},
                               {.iov_base = (void *)req->data, .iov_len = req->len}};
        if (send_fds(b->sock, iov, req->len ? 3 : 2, fds, 1 + req->nfds, MSG_DONTWAIT) < 0) {
            int e = errno;
            if (e == EAGAIN)
                mark_dead(b, "does not read its requests", 0);
            else if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
                mark_dead(b, NULL, e);
            r = b->dead ? died(b, err)
                        : cln_error_set(err, CLN_E_IO, e, "broker function %s: sending the request",
                                        req->name);
        } else {
            r = recv_reply(b, h.seq, REPLY_WAIT_MS, &rep, &pidfd, err);
        }
    }
    pthread_mutex_unlock(&b->lock);
    close(st[1]);
    if (r == 0 && rep.result != RES_OK) {
        if (rep.result == RES_UNDECLARED)
            r = cln_error_set(err, CLN_E_ISOLATION, 0,
                              "the host-process broker refused to run %s: not one of the "
                              "runtime's functions",
                              req->name);
        else if (rep.result == RES_BUSY)
            r = cln_error_set(err, CLN_E_IO, rep.err,
                              "the host-process broker (pid %d) runs %d processes already",
                              (int)b->pid, MAX_KIDS);
        else if (rep.result == RES_START_FAILED)
            r = cln_error_set(err, CLN_E_IO, rep.err, "broker function %s: %s", req->name,
                              stage_name(rep.stage));
        else
            r = cln_error_set(err, CLN_E_INTERNAL, 0,
                              "the host-process broker (pid %d) could not read a request",
                              (int)b->pid);
    }
    if (r < 0) {
        close(st[0]);
        return r;
    }
    *ret = (struct cln_broker_child){.pid = rep.pid,
                                     .pidfd = pidfd,
                                     .status_fd = st[0],
                                     .broker_pid = b->pid,
                                     .path = cln_xstrdup(req->name)};
    return 0;
}

int cln_broker_wait(struct cln_broker_child *c, uint64_t timeout_ms, int *ret_status,
                    struct cln_error **err)
{
    if (c->ended) {
        *ret_status = c->status;
        return 0;
    }
    if (c->status_fd < 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "host process %d: already released", c->pid);
    const char *what = NULL;
    uint64_t mine = cln_now_ms() + timeout_ms;
    uint64_t thread = cln_deadline_get(&what);
    struct pollfd p = {.fd = c->status_fd, .events = POLLIN};
    int r = poll_until(&p, 1, cln_deadline_min(mine, thread));
    if (r < 0)
        return cln_error_set(err, CLN_E_IO, errno, "waiting for host process %d (%s)", c->pid,
                             c->path);
    if (r == 0) {
        if (thread && thread < mine)
            return cln_error_set(err, CLN_E_TIMEOUT, 0,
                                 "%s passed while host process %d (%s) was still running",
                                 what ? what : "the deadline", c->pid, c->path);
        return cln_error_set(err, CLN_E_TIMEOUT, 0,
                             "host process %d (%s) was still running after %llu ms", c->pid,
                             c->path, (unsigned long long)timeout_ms);
    }
    struct wire_status ws;
    ssize_t n;
    do
        n = cln_os_recv(c->status_fd, &ws, sizeof(ws), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(ws) && ws.magic == WIRE_MAGIC) {
        c->ended = true;
        c->status = ws.status;
        *ret_status = ws.status;
        return 0;
    }
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return cln_error_set(err, CLN_E_TRANSPORT, 0,
                             "the host-process broker (pid %d) died before host process %d (%s) "
                             "ended (it dies with the broker)",
                             c->broker_pid, c->pid, c->path);
    if (n < 0)
        return cln_error_set(err, CLN_E_IO, errno, "reading host process %d's status", c->pid);
    return cln_error_set(err, CLN_E_INTERNAL, 0, "host process %d: a malformed status", c->pid);
}

int cln_broker_kill(struct cln_broker_child *c, int sig, struct cln_error **err)
{
    if (c->ended)
        return 0;
    if (c->pidfd < 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "host process %d: already released", c->pid);
    if (cln_os_proc_signal(c->pidfd, sig) < 0 && errno != ESRCH)
        return cln_error_set(err, CLN_E_IO, errno, "signal %d to host process %d (%s)", sig, c->pid,
                             c->path);
    return 0;
}

void cln_broker_child_done(struct cln_broker_child *c)
{
    if (!c)
        return;
    if (c->pidfd >= 0)
        close(c->pidfd);
    if (c->status_fd >= 0)
        close(c->status_fd);
    free(c->path);
    c->path = NULL;
    c->pidfd = c->status_fd = -1;
}

/* ---- the runtime's broker ---- */

struct cln_broker *cln_runtime_broker(struct cln_runtime *rt)
{
    return rt->broker;
}

int cln_runtime_broker_check(const struct cln_runtime *rt, struct cln_error **err)
{
    if ((!rt->desc->host_programs && !rt->desc->broker_fns) || rt->broker)
        return 0;
    char *why = rt->broker_err ? cln_error_render(rt->broker_err) : cln_xstrdup("not started");
    int r =
        cln_error_set(err, rt->broker_err ? cln_error_root_code(rt->broker_err) : CLN_E_INTERNAL, 0,
                      "runtime '%s' runs host programs, but its host-process broker is "
                      "missing: %s",
                      rt->desc->name, why);
    free(why);
    return r;
}

int cln_runtime_spawn(struct cln_runtime *rt, const struct cln_broker_spawn_req *req,
                      struct cln_broker_child *ret, struct cln_error **err)
{
    if (!rt->desc->host_programs)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                             "runtime '%s' declares no host programs: it starts no host processes",
                             rt->desc->name);
    int r = cln_runtime_broker_check(rt, err);
    if (r < 0)
        return r;
    /* Recorded before it starts, as what will run: the resolved path.  The
     * broker checks again (it alone decides); what it refuses never ran
     * and is not recorded. */
    char canon[PATH_MAX];
    const struct cln_broker *b = rt->broker;
    if (req->path && req->path[0] == '/' && resolve(req->path, canon, sizeof(canon)) == 0 &&
        declared((const char *const *)b->programs, b->nprograms, canon)) {
        const char *const self[] = {req->path, NULL};
        cln_runtime_record_host_process(rt, canon, req->argv && req->argv[0] ? req->argv : self);
    }
    return cln_broker_spawn(rt->broker, req, ret, err);
}

int cln_runtime_fork(struct cln_runtime *rt, const struct cln_broker_fork_req *req,
                     struct cln_broker_child *ret, struct cln_error **err)
{
    if (!rt->desc->broker_fns)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "runtime '%s' declares no broker functions",
                             rt->desc->name);
    int r = cln_runtime_broker_check(rt, err);
    if (r < 0)
        return r;
    return cln_broker_fork(rt->broker, req, ret, err);
}
