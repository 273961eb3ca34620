/* cleanrun-exec: the first program of a step's exec inside a container,
 * built static (musl) and delivered beside the keep-alive busybox at
 * /.cleanrun/exec.  It does what the step needs done in its own process,
 * then becomes the step's program with the argv and environment it was
 * given, untouched (a shell would add SHLVL and PWD, and run its own
 * applet of a program's name):
 *
 *   cleanrun-exec [-F DIR] [-O FILE] [-H FILE] [-u USER] [-c TOKEN PATH] [-i FILE] [-g FILE] [-C
 * DIR] [-W] -- PROGRAM [ARG...]
 *
 *   -c  write TOKEN to PATH, a new file: the canary (docs/isolation.md),
 *       written by the step's own process; when it cannot be written the
 *       step runs all the same (the harness finds it missing and writes
 *       one itself)
 *   -i  FILE as standard input
 *   -g  FILE: become a process group's leader (setsid) and write the
 *       group's id to FILE, a new file (when it cannot be written the step
 *       runs all the same): a runtime that cannot reach the processes of an
 *       exec from the host (a VM) ends them at their deadline with
 *   cleanrun-exec -K FILE
 *       which sends SIGKILL to the group FILE names, and exits 0 when it
 *       did (or the group is gone already), 1 otherwise; a FILE not
 *       there yet (the exec still starting) is waited for, 3 s at most
 *   -F  copy the tree under DIR into /, each file with its mode, missing
 *       directories made 0755: a container's files, mounted at DIR by a
 *       runtime that copies only into running containers, in place before
 *       its first process starts (harness/containers.c)
 *   -O  FILE: after -F, give files their owners: each line "OWNER<TAB>PATH",
 *       OWNER "uid[:gid]" or "user[:group]" (names looked up in this
 *       container's /etc/passwd and /etc/group; a user alone: its primary
 *       group)
 *   -u  USER: after the options before it (-F, -O, -H, done as root), become
 *       USER ("user", "uid", "user:group", "uid:gid"; names looked up in
 *       /etc/passwd and /etc/group; a user of /etc/passwd gets its groups
 *       and its HOME, as an engine's --user does)
 *   -H  append FILE to /etc/hosts: the test's host names, for the same
 *       runtimes, which take no host entries at create
 *   -C  DIR: with -W, the step's working directory, entered by the child
 *       (an engine makes a container's missing working directory, an exec
 *       refuses it: so does this)
 *   -W  the gate (a fresh container's first process, on a runtime whose
 *       processes the host can reach): after the other options, make the
 *       step's output pipes and a status pipe, their read ends at
 *       descriptors 100 (stdout), 101 (stderr) and 102 (status), block
 *       SIGUSR1 (the harness's sign that the gate is reached), open and
 *       close this program's own file (argv[0]: an inotify wake-up for the
 *       harness) and wait for SIGUSR1.  The harness meanwhile observes this
 *       process, checks its canary, takes the read ends (pidfd_getfd) and
 *       sends SIGUSR1 through a pidfd it has proven the container's.  Then
 *       PROGRAM runs in a child with the pipes as its stdout and stderr;
 *       this process, the container's init, reaps, writes the child's wait
 *       status (an int) to the status pipe, waits for a second SIGUSR1 (60
 *       s at most: the harness reads the container's cgroup meanwhile) and
 *       exits with the child's status (128 + N for signal N), as an engine
 *       reports an exec's.
 *
 * PROGRAM is found along PATH as execvp(3) does.  When it cannot be run,
 * or FILE cannot be opened, it prints one line to stderr and exits 127:
 *   cleanrun-exec: exec ERRNO PROGRAM
 *   cleanrun-exec: stdin ERRNO FILE
 *   cleanrun-exec: files ERRNO PATH
 *   cleanrun-exec: hosts ERRNO FILE
 *   cleanrun-exec: workdir ERRNO DIR
 * which the harness turns into its error (harness/steps.c).  It is not
 * linked with the harness: it runs in the container, on its kernel only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, int err, const char *name)
{
    fprintf(stderr, "cleanrun-exec: %s %d %s\n", what, err, name);
    return 127;
}

/* -O FILE (see above).  Returns 0, or -1 with errno and *bad. */
static int apply_owners(const char *file, char *bad, size_t badlen)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        snprintf(bad, badlen, "%s", file);
        return -1;
    }
    char line[PATH_MAX + 128];
    int r = 0;
    while (r == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *path = tab + 1;
        char owner[128];
        snprintf(owner, sizeof(owner), "%.100s", line);
        char *grp = strchr(line, ':');
        if (grp)
            *grp++ = '\0';
        long uid = -1, gid = -1;
        char *end = NULL;
        uid = strtol(line, &end, 10);
        if (!*line || *end) {
            struct passwd *pw = getpwnam(line);
            if (!pw) {
                errno = ENOENT;
                snprintf(bad, badlen, "user %.64s\t%.256s\t%s", line, path, owner);
                r = -1;
                break;
            }
            uid = pw->pw_uid;
            if (!grp)
                gid = pw->pw_gid;
        } else if (!grp) {
            gid = uid;
        }
        if (grp) {
            gid = strtol(grp, &end, 10);
            if (!*grp || *end) {
                struct group *gr = getgrnam(grp);
                if (!gr) {
                    errno = ENOENT;
                    snprintf(bad, badlen, "group %.64s\t%.256s\t%s", grp, path, owner);
                    r = -1;
                    break;
                }
                gid = gr->gr_gid;
            }
        }
        if (lchown(path, (uid_t)uid, (gid_t)gid) < 0) {
            snprintf(bad, badlen, "%s", path);
            r = -1;
        }
    }
    int saved = errno;
    fclose(f);
    errno = saved;
    return r;
}

/* -u SPEC (see above).  Returns 0, or -1 with errno and *bad. */
static int become(const char *spec, char *bad, size_t badlen)
{
    char u[256];
    snprintf(u, sizeof(u), "%s", spec);
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    char *end = NULL;
    long n = strtol(u, &end, 10);
    struct passwd *pw = *u && !*end ? getpwuid((uid_t)n) : getpwnam(u);
    if (!pw && !(*u && !*end)) {
        errno = ENOENT;
        snprintf(bad, badlen, "user %.64s", u);
        return -1;
    }
    uid_t uid = pw ? pw->pw_uid : (uid_t)n;
    gid_t gid = pw ? pw->pw_gid : 0;
    if (g) {
        long gn = strtol(g, &end, 10);
        struct group *gr = *g && !*end ? NULL : getgrnam(g);
        if (!(*g && !*end) && !gr) {
            errno = ENOENT;
            snprintf(bad, badlen, "group %.64s", g);
            return -1;
        }
        gid = gr ? gr->gr_gid : (gid_t)gn;
    }
    gid_t groups[64];
    int ng = 64;
    if (!pw || getgrouplist(pw->pw_name, gid, groups, &ng) < 0)
        ng = 0;
    if (setgroups((size_t)ng, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        snprintf(bad, badlen, "%s", spec);
        return -1;
    }
    const char *home = getenv("HOME");
    if (pw && pw->pw_dir && (!home || strcmp(home, "/root") == 0))
        setenv("HOME", pw->pw_dir, 1);
    return 0;
}

static void write_canary(const char *token, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t len = strlen(token);
    ssize_t n = write(fd, token, len);
    if (close(fd) < 0 || n != (ssize_t)len)
        (void)unlink(path); /* half a canary is none */
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -1;
    (void)unlink(dst); /* a file of the image at that path is replaced, not written through */
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int r = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                r = -1;
                break;
            }
            off += w;
        }
        if (r < 0)
            break;
    }
    if (n < 0 || fchmod(out, mode & 07777) < 0)
        r = -1;
    int saved = errno;
    close(in);
    if (close(out) < 0)
        r = -1;
    errno = r < 0 ? saved : 0;
    return r;
}

/* src (a directory under DIR) into dst: recursively, regular files and
 * directories only.  Returns 0, or -1 with errno and the failing path in
 * bad. */
static int copy_tree(const char *src, const char *dst, char *bad, size_t badlen)
{
    DIR *d = opendir(src);
    if (!d) {
        snprintf(bad, badlen, "%s", src);
        return -1;
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        if (snprintf(s, sizeof(s), "%s/%s", src, de->d_name) >= (int)sizeof(s) ||
            snprintf(t, sizeof(t), "%s/%s", strcmp(dst, "/") ? dst : "", de->d_name) >=
                (int)sizeof(t)) {
            errno = ENAMETOOLONG;
            snprintf(bad, badlen, "%s", s);
            r = -1;
            break;
        }
        struct stat st;
        if (lstat(s, &st) < 0) {
            snprintf(bad, badlen, "%s", s);
            r = -1;
        } else if (S_ISDIR(st.st_mode)) {
            struct stat tt;
            if (lstat(t, &tt) < 0 && (mkdir(t, 0755) < 0 || chmod(t, 0755) < 0)) {
                snprintf(bad, badlen, "%s", t);
                r = -1;
            } else {
                r = copy_tree(s, t, bad, badlen);
            }
        } else if (S_ISREG(st.st_mode) && copy_file(s, t, st.st_mode) < 0) {
            snprintf(bad, badlen, "%s", t);
            r = -1;
        }
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    return r;
}

/* src's bytes at the end of dst (made 0644 when missing) */
static int append_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out < 0) {
        int saved = errno;
        close(in);
        errno = saved;
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int r = 0;
    while (r == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            r = errno == EINTR ? 0 : -1;
            continue;
        }
        for (ssize_t off = 0; off < n && r == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0)
                r = errno == EINTR ? 0 : -1;
            else
                off += w;
        }
    }
    int saved = errno;
    close(in);
    if (close(out) < 0 && r == 0) {
        r = -1;
        saved = errno;
    }
    errno = saved;
    return r;
}

/* The process group FILE names: 0 (*pgid set), -1 no such file yet, 1
 * anything else. */
static int read_group(const char *file, long *pgid)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -1 : 1;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    char *end = NULL;
    *pgid = strtol(buf, &end, 10);
    return *pgid > 1 && (!end || !*end || *end == '\n') ? 0 : 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -K FILE: the group FILE names, killed.  The step's exec may not have
 * written FILE yet (its CLI was ended at the deadline while the exec was
 * still starting, as on a loaded machine): it is waited for, through
 * inotify on its directory, for KILL_WAIT_MS at most. */
#define KILL_WAIT_MS 3000
static int kill_group(const char *file)
{
    long pgid = 0;
    int r = read_group(file, &pgid);
    if (r < 0) {
        char dir[PATH_MAX] = ".";
        const char *slash = strrchr(file, '/');
        size_t dl = !slash ? 1 : slash == file ? 1 : (size_t)(slash - file);
        if (dl >= sizeof(dir))
            return 1;
        if (slash) {
            memcpy(dir, file, dl); /* "/" for a file at the root */
            dir[dl] = '\0';
        }
        int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (in >= 0 && inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO) >= 0) {
            long long end = now_ms() + KILL_WAIT_MS;
            r = read_group(file, &pgid); /* written before the watch began */
            for (long long left; r < 0 && (left = end - now_ms()) > 0;) {
                struct pollfd p = {.fd = in, .events = POLLIN};
                if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
                    break;
                char ev[4096];
                while (read(in, ev, sizeof(ev)) > 0)
                    ;
                r = read_group(file, &pgid);
            }
        }
        if (in >= 0)
            close(in);
    }
    if (r != 0)
        return 1;
    return kill((pid_t)-pgid, SIGKILL) == 0 || errno == ESRCH ? 0 : 1;
}

/* -g FILE: this process's group id written to FILE whole (a temporary
 * name renamed into place: -K never reads half of it) */
static void write_group(const char *file)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp))
        return;
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool ok = write(fd, pid, (size_t)n) == n;
    if (close(fd) < 0)
        ok = false;
    if (!ok || rename(tmp, file) < 0)
        (void)unlink(tmp);
}

/* -W: see the top.  The read ends at GATE_OUT, GATE_ERR and GATE_STATUS,
 * the write ends three above them: the step's two (closed here before
 * waiting) and the status pipe's, kept here. */
#define GATE_OUT 100
#define GATE_ERR 101
#define GATE_STATUS 102
#define GATE_END_WAIT_S 60 /* for the harness's second signal */

static bool wait_usr1(int sfd, int timeout_s)
{
    long long end = timeout_s < 0 ? 0 : now_ms() + timeout_s * 1000LL;
    for (;;) {
        long long left = end ? end - now_ms() : -1;
        if (end && left <= 0)
            return false;
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        int n = poll(&p, 1, end ? (int)left : -1);
        if (n == 0)
            return false;
        if (n < 0 && errno != EINTR)
            return false;
        struct signalfd_siginfo si;
        if (n > 0 && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGUSR1)
            return true;
    }
}

static int gate_and_run(const char *self, const char *dir, char **prog)
{
    int p[3][2];
    for (int k = 0; k < 3; k++) {
        if (pipe(p[k]) < 0)
            return fail("gate", errno, "pipe");
    }
    for (int k = 0; k < 3; k++) {
        if (dup2(p[k][0], GATE_OUT + k) < 0 || dup2(p[k][1], GATE_OUT + 3 + k) < 0)
            return fail("gate", errno, "dup2");
        close(p[k][0]);
        close(p[k][1]);
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
        return fail("gate", errno, "sigprocmask");
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        return fail("gate", errno, "signalfd");
    int ping = open(self, O_RDONLY | O_CLOEXEC);
    if (ping >= 0)
        close(ping);
    if (!wait_usr1(sfd, -1))
        return fail("gate", errno, "signalfd");
    pid_t child = fork();
    if (child < 0)
        return fail("gate", errno, "fork");
    if (child == 0) {
        close(sfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (dup2(GATE_OUT + 3, 1) < 0 || dup2(GATE_ERR + 3, 2) < 0)
            _exit(fail("gate", errno, "dup2"));
        for (int fd = GATE_OUT; fd <= GATE_STATUS + 3; fd++)
            close(fd);
        if (dir && chdir(dir) < 0)
            _exit(fail("workdir", errno, dir));
        execvp(prog[0], prog);
        _exit(fail("exec", errno, prog[0]));
    }
    for (int fd = GATE_OUT; fd <= GATE_ERR + 3; fd++)
        if (fd != GATE_STATUS + 3)
            close(fd);
    int st = 0;
    for (;;) {
        pid_t w = wait(&st);
        if (w == child)
            break;
        if (w < 0 && errno != EINTR)
            return fail("gate", errno, "wait");
    }
    /* the step's status to the harness, which reads what it needs of the
     * container (its cgroup's OOM count) while this process keeps it,
     * then lets it end */
    if (write(GATE_STATUS + 3, &st, sizeof(st)) == (ssize_t)sizeof(st))
        (void)wait_usr1(sfd, GATE_END_WAIT_S);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    int i = 1;
    bool gate = false;
    const char *dir = NULL;
    if (argc == 3 && strcmp(argv[1], "-K") == 0)
        return kill_group(argv[2]);
    while (i < argc && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "-c") == 0 && i + 2 < argc) {
            write_canary(argv[i + 1], argv[i + 2]);
            i += 3;
        } else if (strcmp(argv[i], "-F") == 0 && i + 1 < argc) {
            char bad[PATH_MAX] = "";
            if (copy_tree(argv[i + 1], "/", bad, sizeof(bad)) < 0)
                return fail("files", errno, bad);
            i += 2;
        } else if (strcmp(argv[i], "-O") == 0 && i + 1 < argc) {
            char bad[PATH_MAX] = "";
            if (apply_owners(argv[i + 1], bad, sizeof(bad)) < 0)
                return fail("owner", errno, bad);
            i += 2;
        } else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) {
            char bad[PATH_MAX] = "";
            if (become(argv[i + 1], bad, sizeof(bad)) < 0)
                return fail("user", errno, bad);
            i += 2;
        } else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
            if (append_file(argv[i + 1], "/etc/hosts") < 0)
                return fail("hosts", errno, argv[i + 1]);
            i += 2;
        } else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
            /* the leader already (an engine's exec may make it one) */
            if (setsid() > 0 || getpgrp() == getpid())
                write_group(argv[i + 1]);
            i += 2;
        } else if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
            dir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-W") == 0) {
            gate = true;
            i++;
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);
            if (fd < 0 || dup2(fd, 0) < 0)
                return fail("stdin", errno, argv[i + 1]);
            close(fd);
            i += 2;
        } else {
            return fail("usage", EINVAL, argv[i]);
        }
    }
    if (i + 1 >= argc)
        return fail("usage", EINVAL, "--");
    if (gate)
        return gate_and_run(argv[0], dir, argv + i + 1);
    execvp(argv[i + 1], argv + i + 1);
    return fail("exec", errno, argv[i + 1]);
}
