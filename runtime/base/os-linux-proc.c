/* The host OS seam (os.h) on Linux: facts about host processes from /proc,
 * cgroups, and killing them safely. */
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "deadline.h"
#include "xalloc.h"

static void read_line(const char *path, char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = '\0';
    if (!out[0])
        snprintf(out, size, "unknown");
    fclose(f);
}

void cln_boot_id(char *out, size_t size)
{
    read_line("/proc/sys/kernel/random/boot_id", out, size);
}

void cln_machine_id(char *out, size_t size)
{
    read_line("/etc/machine-id", out, size);
    if (strcmp(out, "unknown") == 0)
        read_line("/var/lib/dbus/machine-id", out, size);
}

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

/* /proc/PID/what, or /proc/self/what for pid <= 0. */
static void proc_path(char *buf, size_t size, int pid, const char *what)
{
    if (pid > 0)
        snprintf(buf, size, "/proc/%d/%s", pid, what);
    else
        snprintf(buf, size, "/proc/self/%s", what);
}

uint64_t cln_proc_start_time(int pid)
{
    char path[64];
    proc_path(path, sizeof(path), pid, "stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: fields start after the last
     * ')'; count the spaces up to the one before field 22 */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

uint64_t cln_proc_now_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (uint64_t)ts.tv_sec * (uint64_t)hz +
           (uint64_t)ts.tv_nsec / (1000000000ULL / (uint64_t)hz);
}

uint64_t cln_proc_pidns(int pid)
{
    char path[64];
    proc_path(path, sizeof(path), pid, "ns/pid");
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

char *cln_proc_cgroup(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
    cleanup_free char *s = read_small(path);
    if (!s)
        return NULL;
    /* "ID:controllers:path" lines: prefer the memory controller's (cgroup
     * v1), else the unified one ("0::path"). */
    char *best = NULL;
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2) {
            size_t cl = (size_t)(c2 - c1 - 1);
            bool memory = false;
            for (char *t = c1 + 1; t < c2;) {
                char *comma = memchr(t, ',', (size_t)(c2 - t));
                size_t l = comma ? (size_t)(comma - t) : (size_t)(c2 - t);
                memory = memory || (l == 6 && strncmp(t, "memory", 6) == 0);
                t += l + 1;
            }
            if (memory || (cl == 0 && !best)) {
                free(best);
                best = cln_xstrdup(c2 + 1);
                if (memory)
                    break;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return best;
}

int cln_proc_inner_pid(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    cleanup_free char *s = read_small(path);
    const char *p = s ? strstr(s, "\nNSpid:") : NULL;
    if (!p)
        return 0;
    p += 7;
    long last = 0;
    char *end = NULL;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        last = v;
        p = end;
        if (*p == '\n' || !*p)
            break;
    }
    return (int)last;
}

int cln_cgroup_pids(const char *cgroup, int **ret, size_t *ret_n)
{
    static const char *const roots[] = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup",
                                        "/sys/fs/cgroup/unified"};
    for (size_t i = 0; cgroup && i < CLN_ARRAY_SIZE(roots); i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s%s/cgroup.procs", roots[i], cgroup);
        cleanup_free char *s = read_small(path);
        if (!s)
            continue;
        int *v = NULL;
        size_t n = 0, cap = 0;
        for (char *p = s; *p;) {
            char *end = NULL;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0) {
                v = cln_xgrow(v, &cap, n + 1, sizeof(*v));
                v[n++] = (int)pid;
            }
            p = end;
            while (*p == '\n')
                p++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
    }
    return -1;
}

static bool cgroup_within(const char *cg, const char *scope)
{
    size_t n = strlen(scope);
    return cg && strncmp(cg, scope, n) == 0 && (cg[n] == '\0' || cg[n] == '/');
}

int cln_proc_open_scoped(int pid, const struct cln_proc_scope *scope)
{
    if (pid <= 0 || pid == scope->exclude || !scope->pidns || !scope->cgroup)
        return -1;
    int fd = cln_os_proc_open(pid);
    if (fd < 0)
        return -1;
    /* Read what the process is while the pidfd pins it; then prove it was
     * alive all along (a signal 0 through the pidfd fails once it exited),
     * so that what was read is this process's and not a successor's. */
    uint64_t start = cln_proc_start_time(pid);
    uint64_t ns = cln_proc_pidns(pid);
    cleanup_free char *cg = cln_proc_cgroup(pid);
    bool ok = start && start >= scope->min_start && ns == scope->pidns &&
              cgroup_within(cg, scope->cgroup) && cln_os_proc_signal(fd, 0) == 0;
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

int cln_proc_kill_in_scope(int pid, const struct cln_proc_scope *scope)
{
    struct cln_proc_scope s = *scope;
    s.exclude = 0;
    int fd = cln_proc_open_scoped(pid, &s);
    if (fd < 0)
        return -1;
    int r = cln_os_proc_signal(fd, SIGKILL);
    close(fd);
    return r < 0 ? -1 : 0;
}

/* ---- a fresh container's gate ---- */

/* Has pid SIGUSR1 blocked (/proc/PID/status SigBlk)? */
static bool gate_reached(int pid)
{
    char path[64];
    proc_path(path, sizeof(path), pid, "status");
    cleanup_free char *s = read_small(path);
    const char *p = s ? strstr(s, "\nSigBlk:") : NULL;
    if (!p)
        return false;
    unsigned long long m = strtoull(p + 8, NULL, 16);
    return (m >> (SIGUSR1 - 1)) & 1;
}

static int take_fd(int pidfd, int target)
{
#ifdef SYS_pidfd_getfd
    return (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
#else
    (void)pidfd;
    (void)target;
    errno = ENOSYS;
    return -1;
#endif
}

static bool is_fifo(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* An inotify watch on ping, a path in pid's root: opened beneath it (never
 * through a symlink, which would resolve against this host's root), and
 * watched through the descriptor.  The inotify fd, or -1. */
static int gate_watch(int pid, const char *ping)
{
    char root[64];
    proc_path(root, sizeof(root), pid, "root");
    while (*ping == '/')
        ping++;
    int fd = cln_os_open_beneath(root, ping, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    int e = 0;
    if (in >= 0 && inotify_add_watch(in, self, IN_OPEN | IN_CLOSE_NOWRITE) < 0) {
        e = errno;
        close(in);
        in = -1;
    }
    close(fd);
    if (e)
        errno = e;
    return in;
}

/* Its pipes' read ends, taken: true when both are pipes (a process that
 * has SIGUSR1 blocked may not have made them yet) */
static bool gate_take(int pidfd, struct cln_gate *ret)
{
    ret->out = take_fd(pidfd, CLN_GATE_OUT_FD);
    ret->err = ret->out >= 0 ? take_fd(pidfd, CLN_GATE_ERR_FD) : -1;
    ret->status = ret->err >= 0 ? take_fd(pidfd, CLN_GATE_STATUS_FD) : -1;
    if (is_fifo(ret->out) && is_fifo(ret->err) && is_fifo(ret->status))
        return true;
    int pidfd_kept = ret->pidfd;
    cln_gate_close(ret);
    ret->pidfd = pidfd_kept;
    return false;
}

int cln_gate_open(int pid, const struct cln_proc_scope *scope, const char *ping,
                  uint64_t deadline_ms, int wake_fd, struct cln_gate *ret)
{
    *ret = (struct cln_gate){.pidfd = -1, .out = -1, .err = -1, .status = -1};
    int fd = cln_proc_open_scoped(pid, scope);
    if (fd < 0) {
        errno = ESRCH;
        return -1;
    }
    int in = -1, err = 0;
    for (;;) {
        /* what was read is this process's while its handle says it lives */
        if (gate_reached(pid) && cln_os_proc_signal(fd, 0) == 0 && gate_take(fd, ret))
            break;
        if (in < 0) {
            in = gate_watch(pid, ping);
            if (in < 0) {
                /* a process exiting meanwhile has no root to watch: its
                 * pidfd says so a moment later (its root goes before it is
                 * reported gone) */
                int e = errno ? errno : ENOENT;
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                err = poll(&pf, 1, 1000) > 0 ? ESRCH : e;
                break;
            }
            continue; /* it may have reached the gate before the watch */
        }
        uint64_t now = cln_now_ms();
        if (now >= deadline_ms) {
            err = ETIMEDOUT;
            break;
        }
        struct pollfd p[3] = {{.fd = in, .events = POLLIN},
                              {.fd = fd, .events = POLLIN},
                              {.fd = wake_fd, .events = POLLIN}};
        uint64_t left = deadline_ms - now;
        if (poll(p, wake_fd > 0 ? 3 : 2, left > 60000 ? 60000 : (int)left) < 0 && errno != EINTR) {
            err = errno;
            break;
        }
        if (p[1].revents) {
            err = ESRCH; /* it exited */
            break;
        }
        if (wake_fd > 0 && p[2].revents) {
            err = EINTR;
            break;
        }
        char ev[4096];
        while (read(in, ev, sizeof(ev)) > 0)
            ;
    }
    if (in >= 0)
        close(in);
    ret->pidfd = fd;
    if (err) {
        cln_gate_close(ret);
        errno = err;
        return -1;
    }
    return 0;
}

int cln_gate_signal(const struct cln_gate *g, int sig)
{
    return g->pidfd < 0 ? -1 : cln_os_proc_signal(g->pidfd, sig);
}

void cln_gate_close(struct cln_gate *g)
{
    if (g->pidfd >= 0)
        close(g->pidfd);
    if (g->out >= 0)
        close(g->out);
    if (g->err >= 0)
        close(g->err);
    if (g->status >= 0)
        close(g->status);
    g->pidfd = g->out = g->err = g->status = -1;
}

/* Children of pid from /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN). */
static size_t children_of(int pid, int **out, size_t n, size_t *cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (!dir)
        return n;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
        cleanup_free char *s = read_small(cpath);
        for (char *p = s; p && *p;) {
            char *end = NULL;
            long c = strtol(p, &end, 10);
            if (end == p)
                break;
            *out = cln_xgrow(*out, cap, n + 1, sizeof(**out));
            (*out)[n++] = (int)c;
            p = end;
        }
    }
    closedir(dir);
    return n;
}

struct held {
    int *pid, *fd;
    size_t n, cap_pid, cap_fd;
};

static bool held_has(const struct held *h, int pid)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->pid[i] == pid)
            return true;
    return false;
}

/* Stop pid if it is in scope and not held yet, and hold it. */
static void hold(struct held *h, int pid, const struct cln_proc_scope *scope)
{
    if (held_has(h, pid))
        return;
    int fd = cln_proc_open_scoped(pid, scope);
    if (fd < 0)
        return;
    if (cln_os_proc_signal(fd, SIGSTOP) < 0) {
        close(fd);
        return;
    }
    h->pid = cln_xgrow(h->pid, &h->cap_pid, h->n + 1, sizeof(int));
    h->fd = cln_xgrow(h->fd, &h->cap_fd, h->n + 1, sizeof(int));
    h->pid[h->n] = pid;
    h->fd[h->n] = fd;
    h->n++;
}

int cln_proc_kill_scoped(int root, const struct cln_proc_scope *scope, bool orphans)
{
    struct held h = {0};
    /* Rounds until nothing new is found: a process forking while we walk
     * is stopped before its child is looked for. */
    for (int round = 0; round < 8; round++) {
        size_t before = h.n;
        if (root > 0)
            hold(&h, root, scope);
        if (orphans) {
            int *pids = NULL;
            size_t np = 0;
            if (cln_cgroup_pids(scope->cgroup, &pids, &np) == 0)
                for (size_t i = 0; i < np; i++)
                    hold(&h, pids[i], scope);
            free(pids);
        }
        for (size_t i = 0; i < h.n; i++) {
            int *kids = NULL;
            size_t cap = 0, nk = children_of(h.pid[i], &kids, 0, &cap);
            for (size_t k = 0; k < nk; k++)
                hold(&h, kids[k], scope);
            free(kids);
        }
        if (h.n == before)
            break;
    }
    int killed = 0;
    for (size_t i = 0; i < h.n; i++) {
        if (cln_os_proc_signal(h.fd[i], SIGKILL) == 0)
            killed++;
        close(h.fd[i]);
    }
    free(h.pid);
    free(h.fd);
    return killed;
}

int cln_os_pids(int **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (pid <= 0 || *end)
            continue;
        *ret = cln_xgrow(*ret, &cap, *ret_n + 1, sizeof(**ret));
        (*ret)[(*ret_n)++] = (int)pid;
    }
    closedir(d);
    return 0;
}

int64_t cln_cgroup_oom_kills(const char *cgroup)
{
    if (!cgroup)
        return -1;
    static const char *const files[][2] = {{"/sys/fs/cgroup/memory", "/memory.oom_control"},
                                           {"/sys/fs/cgroup", "/memory.events"},
                                           {"/sys/fs/cgroup/unified", "/memory.events"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s%s%s", files[i][0], cgroup, files[i][1]);
        cleanup_free char *s = read_small(path);
        const char *k = s ? strstr(s, "oom_kill ") : NULL;
        if (k && (k == s || k[-1] == '\n'))
            return strtoll(k + 9, NULL, 10);
    }
    return -1;
}
