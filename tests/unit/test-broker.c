/* Unit tests of the host-process broker (runtime/broker.c): it starts the
 * declared programs and nothing else, reports exit codes and signals,
 * kills exactly its child, never hangs its caller, and leaves nothing
 * behind when it, or the process that started it, is killed.  Every
 * process here is real: the tests look at them through pidfds and /proc. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/isolation.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/runtime-internal.h"

static const char *const programs[] = {"/bin/echo", "/bin/sh", "/bin/sleep", "/bin/ls", NULL};

static struct cln_broker *start(void)
{
    struct cln_broker *b = NULL;
    struct cln_error *e = NULL;
    int r = cln_broker_start(programs, &b, &e);
    char *m = e ? cln_error_render(e) : NULL;
    cr_assert_eq(r, 0, "start: %s", m ? m : "?");
    free(m);
    return b;
}

static int pidfd_of(int pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Has the process behind pidfd ended, within ms? */
static bool ends_within(int pidfd, int ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

/* Read fd to EOF (at most 5 s), into buf. */
static void read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 5000), 1, "no EOF on the child's output");
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        cr_assert_geq(k, 0);
        if (k == 0)
            break;
        n += (size_t)k;
        cr_assert_lt(n, cap - 1);
    }
    buf[n] = '\0';
}

/* Start argv (argv[0] is the path) with stdout to a pipe; its output and
 * wait status. */
static int run(struct cln_broker *b, const char *const *argv, const char *const *env,
               const char *cwd, char *out, size_t cap)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    struct cln_broker_spawn_req req = {
        .path = argv[0], .argv = argv, .env = env, .cwd = cwd, .stdout_fd = p[1]};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    int r = cln_broker_spawn(b, &req, &c, &e);
    close(p[1]);
    char *m = e ? cln_error_render(e) : NULL;
    cr_assert_eq(r, 0, "spawn %s: %s", argv[0], m ? m : "?");
    free(m);
    cr_assert_gt(c.pid, 0);
    read_all(p[0], out, cap);
    close(p[0]);
    int status = -1;
    cr_assert_eq(cln_broker_wait(&c, 5000, &status, &e), 0);
    cln_broker_child_done(&c);
    return status;
}

/* A spawn that must fail; its error (the caller frees it). */
static struct cln_error *spawn_fails(struct cln_broker *b, const char *path,
                                     const char *const *argv)
{
    struct cln_broker_spawn_req req = {.path = path, .argv = argv};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_lt(cln_broker_spawn(b, &req, &c, &e), 0, "%s was started", path);
    cr_assert_not_null(e);
    return e;
}

static bool has(const struct cln_error *e, const char *text)
{
    char *m = cln_error_render(e);
    bool r = strstr(m, text) != NULL;
    if (!r)
        cr_log_error("\"%s\" lacks \"%s\"", m, text);
    free(m);
    return r;
}

Test(broker, output_through_a_pipe_and_exit_status, .timeout = 20)
{
    struct cln_broker *b = start();
    char out[256];
    static const char *const echo[] = {"/bin/echo", "hello", "world", NULL};
    int st = run(b, echo, NULL, NULL, out, sizeof(out));
    cr_assert_str_eq(out, "hello world\n");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    static const char *const seven[] = {"/bin/sh", "-c", "echo out; exit 7", NULL};
    st = run(b, seven, NULL, NULL, out, sizeof(out));
    cr_assert_str_eq(out, "out\n");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);

    static const char *const term[] = {"/bin/sh", "-c", "kill -TERM $$; echo survived", NULL};
    st = run(b, term, NULL, NULL, out, sizeof(out));
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
    cr_assert_str_eq(out, "");
    cln_broker_stop(b);
}

Test(broker, argv_env_and_cwd_are_exactly_the_requests, .timeout = 20)
{
    struct cln_broker *b = start();
    char out[512];
    static const char *const sh[] = {"/bin/sh", "-c",  "echo \"$0|$1|$FOO|${HOME-unset}|$(pwd)\"",
                                     "name",    "a b", NULL};
    static const char *const env[] = {"FOO=bar baz", NULL};
    int st = run(b, sh, env, "/tmp", out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_str_eq(out, "name|a b|bar baz|unset|/tmp\n");
    /* no cwd: "/"; no stdin given: /dev/null */
    static const char *const sh2[] = {"/bin/sh", "-c", "pwd; cat; echo end", NULL};
    st = run(b, sh2, NULL, NULL, out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_str_eq(out, "/\nend\n");
    cln_broker_stop(b);
}

Test(broker, an_undeclared_program_is_refused_and_nothing_runs, .timeout = 20)
{
    struct cln_broker *b = start();
    char marker[64];
    snprintf(marker, sizeof(marker), "/tmp/cln-broker-marker-%d", (int)getpid());
    unlink(marker);
    static const char *const no_argv[] = {NULL};
    const char *const touch[] = {"/bin/touch", marker, NULL};
    struct cln_error *e = spawn_fails(b, "/bin/touch", touch);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cr_assert(has(e, "refused to start /bin/touch"));
    cr_assert(has(e, "not one of the runtime's declared host programs"));
    cln_error_free(e);
    struct stat st;
    cr_assert_eq(lstat(marker, &st), -1, "the refused program ran");
    /* a directory, and a path that does not exist */
    e = spawn_fails(b, "/tmp", no_argv);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cln_error_free(e);
    e = spawn_fails(b, "/nonexistent/prog", no_argv);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cr_assert_eq(cln_error_root_code(e), CLN_E_ISOLATION);
    cr_assert(has(e, "does not resolve"));
    cln_error_free(e);
    cln_broker_stop(b);
}

Test(broker, relative_paths_are_refused, .timeout = 20)
{
    struct cln_broker *b = start();
    /* the broker's cwd is "/": "bin/echo" would reach /bin/echo */
    static const char *const rel[] = {"bin/echo", "echo", "./bin/echo", NULL};
    for (size_t i = 0; rel[i]; i++) {
        const char *const argv[] = {rel[i], "x", NULL};
        struct cln_error *e = spawn_fails(b, rel[i], argv);
        cr_assert_eq(e->code, CLN_E_ISOLATION);
        cr_assert(has(e, "not an absolute path"));
        cln_error_free(e);
    }
    cln_broker_stop(b);
}

Test(broker, the_program_is_the_file_a_path_resolves_to, .timeout = 20)
{
    char dir[] = "/tmp/cln-broker-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char bad[128], good[128], marker[128];
    snprintf(bad, sizeof(bad), "%s/echo", dir); /* a name declared elsewhere */
    snprintf(good, sizeof(good), "%s/my-echo", dir);
    snprintf(marker, sizeof(marker), "%s/marker", dir);
    cr_assert_eq(symlink("/bin/touch", bad), 0);
    cr_assert_eq(symlink("/bin/echo", good), 0);
    struct cln_broker *b = start();
    const char *const touch[] = {"echo", marker, NULL};
    struct cln_error *e = spawn_fails(b, bad, touch);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cr_assert(has(e, "not one of the runtime's declared host programs"));
    cln_error_free(e);
    struct stat st;
    cr_assert_eq(lstat(marker, &st), -1, "the symlinked program ran");
    /* a symlink to a declared program, and "..", reach the same file */
    char out[64];
    const char *const viagood[] = {good, "via", "link", NULL};
    int s = run(b, viagood, NULL, NULL, out, sizeof(out));
    cr_assert(WIFEXITED(s) && WEXITSTATUS(s) == 0);
    cr_assert_str_eq(out, "via link\n");
    static const char *const dots[] = {"/bin/../bin/./echo", "dots", NULL};
    s = run(b, dots, NULL, NULL, out, sizeof(out));
    cr_assert(WIFEXITED(s) && WEXITSTATUS(s) == 0);
    cr_assert_str_eq(out, "dots\n");
    cln_broker_stop(b);
    unlink(bad);
    unlink(good);
    rmdir(dir);
}

Test(broker, a_program_that_cannot_start_is_an_error_not_a_status, .timeout = 20)
{
    struct cln_broker *b = start();
    static const char *const echo[] = {"/bin/echo", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/echo", .argv = echo, .cwd = "/nonexistent"};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_lt(cln_broker_spawn(b, &req, &c, &e), 0);
    cr_assert_eq(e->code, CLN_E_INVALID);
    cr_assert_eq(e->sys_errno, ENOENT);
    cr_assert(has(e, "could not start host process"));
    cr_assert(has(e, "chdir to /nonexistent"));
    cln_error_free(e);
    cln_broker_stop(b);

    /* declared, but not executable */
    char path[] = "/tmp/cln-broker-noexec-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    const char *const decl[] = {path, NULL};
    cr_assert_eq(cln_broker_start(decl, &b, &e), 0);
    const char *const argv[] = {path, NULL};
    e = spawn_fails(b, path, argv);
    cr_assert_eq(e->code, CLN_E_INVALID);
    cr_assert_eq(e->sys_errno, EACCES);
    cr_assert(has(e, "execve"));
    cln_error_free(e);
    cln_broker_stop(b);
    unlink(path);
}

Test(broker, start_refuses_relative_or_missing_programs)
{
    struct cln_broker *b = NULL;
    struct cln_error *e = NULL;
    static const char *const rel[] = {"/bin/echo", "container", NULL};
    cr_assert_lt(cln_broker_start(rel, &b, &e), 0);
    cr_assert_eq(e->code, CLN_E_INVALID);
    cr_assert(has(e, "\"container\" is not an absolute path"));
    cln_error_free(e);
    e = NULL;
    static const char *const missing[] = {"/nonexistent/container", NULL};
    cr_assert_lt(cln_broker_start(missing, &b, &e), 0);
    cr_assert_eq(e->code, CLN_E_NOT_FOUND);
    cr_assert_eq(e->sys_errno, ENOENT);
    cln_error_free(e);
    cr_assert_null(b);
}

Test(broker, kill_reaches_exactly_the_child, .timeout = 20)
{
    struct cln_broker *b = start();
    static const char *const sleep_[] = {"/bin/sleep", "1000", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/sleep", .argv = sleep_};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_broker_spawn(b, &req, &c, &e), 0);
    cr_assert_eq(kill(c.pid, 0), 0);
    cr_assert_eq(cln_broker_kill(&c, SIGKILL, &e), 0);
    int st = -1;
    cr_assert_eq(cln_broker_wait(&c, 5000, &st, &e), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
    /* ended: killing again is not an error, waiting again gives the same */
    cr_assert_eq(cln_broker_kill(&c, SIGKILL, &e), 0);
    int st2 = -1;
    cr_assert_eq(cln_broker_wait(&c, 0, &st2, &e), 0);
    cr_assert_eq(st2, st);
    cln_broker_child_done(&c);
    cln_broker_child_done(&c); /* idempotent */
    cln_broker_stop(b);
}

Test(broker, a_wait_past_its_deadline_times_out, .timeout = 20)
{
    struct cln_broker *b = start();
    static const char *const sleep_[] = {"/bin/sleep", "1000", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/sleep", .argv = sleep_};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_broker_spawn(b, &req, &c, &e), 0);
    int st = -1;
    uint64_t t0 = cln_now_ms();
    cr_assert_lt(cln_broker_wait(&c, 150, &st, &e), 0);
    uint64_t took = cln_now_ms() - t0;
    cr_assert_eq(e->code, CLN_E_TIMEOUT);
    cr_assert(has(e, "was still running after 150 ms"));
    cr_assert(took >= 140 && took < 2000, "took %llu ms", (unsigned long long)took);
    cln_error_free(e);
    e = NULL;
    cr_assert_eq(st, -1);
    /* the thread's deadline bounds a longer wait */
    cln_deadline_set(cln_now_ms() + 100, "the test's timeout (100ms)");
    t0 = cln_now_ms();
    cr_assert_lt(cln_broker_wait(&c, 60000, &st, &e), 0);
    took = cln_now_ms() - t0;
    cln_deadline_set(0, NULL);
    cr_assert_eq(e->code, CLN_E_TIMEOUT);
    cr_assert(has(e, "the test's timeout (100ms) passed while host process"));
    cr_assert_lt(took, 2000);
    cln_error_free(e);
    e = NULL;
    /* 0: only look */
    cr_assert_lt(cln_broker_wait(&c, 0, &st, &e), 0);
    cln_error_free(e);
    e = NULL;
    cr_assert_eq(kill(c.pid, 0), 0, "a timed-out wait killed the child");
    cr_assert_eq(cln_broker_kill(&c, SIGKILL, &e), 0);
    cr_assert_eq(cln_broker_wait(&c, 5000, &st, &e), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cln_broker_child_done(&c);
    cln_broker_stop(b);
}

Test(broker, a_killed_broker_fails_every_later_request_at_once, .timeout = 20)
{
    struct cln_broker *b = start();
    int bpid = cln_broker_pid(b);
    int bfd = pidfd_of(bpid);
    cr_assert_geq(bfd, 0);
    static const char *const sleep_[] = {"/bin/sleep", "1000", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/sleep", .argv = sleep_};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_broker_spawn(b, &req, &c, &e), 0);
    cr_assert_eq(kill(bpid, SIGKILL), 0);
    cr_assert(ends_within(bfd, 5000));
    /* its child dies with it */
    cr_assert(ends_within(c.pidfd, 5000), "the broker's child outlived it");
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = cln_now_ms();
        struct cln_error *e2 = spawn_fails(b, "/bin/sleep", sleep_);
        cr_assert_lt(cln_now_ms() - t0, 500, "not at once");
        cr_assert_eq(e2->code, CLN_E_TRANSPORT);
        char want[96];
        snprintf(want, sizeof(want), "the host-process broker (pid %d) died: killed by SIGKILL",
                 bpid);
        cr_assert(has(e2, want));
        cln_error_free(e2);
    }
    int st = -1;
    cr_assert_lt(cln_broker_wait(&c, 5000, &st, &e), 0);
    cr_assert_eq(e->code, CLN_E_TRANSPORT);
    cr_assert(has(e, "died before host process"));
    cln_error_free(e);
    cln_broker_child_done(&c);
    cln_broker_stop(b);
    close(bfd);
}

/* No .timeout: Criterion 2.4.1's runner leaks 48 bytes (LeakSanitizer
 * reports it) when a test with one is still running as others end; this
 * test is bounded by what it tests (6 s), and its own polls. */
Test(broker, a_broker_that_does_not_answer_is_killed_after_a_few_seconds)
{
    struct cln_broker *b = start();
    int bpid = cln_broker_pid(b);
    int bfd = pidfd_of(bpid);
    cr_assert_eq(kill(bpid, SIGSTOP), 0);
    static const char *const echo[] = {"/bin/echo", NULL};
    uint64_t t0 = cln_now_ms();
    struct cln_error *e = spawn_fails(b, "/bin/echo", echo);
    uint64_t took = cln_now_ms() - t0;
    cr_assert(took >= 5000 && took < 9000, "took %llu ms", (unsigned long long)took);
    cr_assert_eq(e->code, CLN_E_TRANSPORT);
    cr_assert(has(e, "did not answer within 6 s; it was killed"));
    cln_error_free(e);
    cr_assert(ends_within(bfd, 2000), "the silent broker was not killed");
    t0 = cln_now_ms();
    e = spawn_fails(b, "/bin/echo", echo);
    cr_assert_lt(cln_now_ms() - t0, 500);
    cln_error_free(e);
    cln_broker_stop(b);
    close(bfd);
}

Test(broker, stop_kills_and_reports_what_it_started, .timeout = 20)
{
    struct cln_broker *b = start();
    int bfd = pidfd_of(cln_broker_pid(b));
    static const char *const sleep_[] = {"/bin/sleep", "1000", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/sleep", .argv = sleep_};
    struct cln_broker_child c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_broker_spawn(b, &req, &c, &e), 0);
    cln_broker_stop(b);
    cr_assert(ends_within(bfd, 0), "stop returned before the broker ended");
    cr_assert(ends_within(c.pidfd, 0), "stop left its child");
    int st = -1;
    cr_assert_eq(cln_broker_wait(&c, 1000, &st, &e), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cln_broker_child_done(&c);
    close(bfd);
}

/* The harness side SIGKILLed: the broker and what it started go too. */
Test(broker, nothing_is_left_when_the_harness_is_killed, .timeout = 20)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t t = fork();
    cr_assert_geq(t, 0);
    if (t == 0) {
        close(p[0]);
        struct cln_broker *b = NULL;
        struct cln_error *e = NULL;
        if (cln_broker_start(programs, &b, &e) < 0)
            _exit(2);
        static const char *const sleep_[] = {"/bin/sleep", "1000", NULL};
        struct cln_broker_spawn_req req = {.path = "/bin/sleep", .argv = sleep_};
        struct cln_broker_child c;
        if (cln_broker_spawn(b, &req, &c, &e) < 0)
            _exit(3);
        int pids[2] = {cln_broker_pid(b), c.pid};
        if (write(p[1], pids, sizeof(pids)) != (ssize_t)sizeof(pids))
            _exit(4);
        for (;;)
            pause();
    }
    close(p[1]);
    int pids[2] = {0, 0};
    cr_assert_eq(read(p[0], pids, sizeof(pids)), (ssize_t)sizeof(pids), "the test child failed");
    close(p[0]);
    int bfd = pidfd_of(pids[0]), sfd = pidfd_of(pids[1]);
    cr_assert_geq(bfd, 0);
    cr_assert_geq(sfd, 0);
    cr_assert(!ends_within(bfd, 0) && !ends_within(sfd, 0));
    cr_assert_eq(kill(t, SIGKILL), 0);
    cr_assert_eq(waitpid(t, NULL, 0), t);
    cr_assert(ends_within(bfd, 5000), "the broker outlived the harness");
    cr_assert(ends_within(sfd, 5000), "the broker's child outlived the harness");
    close(bfd);
    close(sfd);
}

static void *start_in_thread(void *arg)
{
    struct cln_broker **b = arg;
    struct cln_error *e = NULL;
    if (cln_broker_start(programs, b, &e) < 0) {
        cln_error_free(e);
        *b = NULL;
    }
    return NULL;
}

/* PR_SET_PDEATHSIG fires when the thread that forked the broker exits,
 * not only when the harness does: the broker must check and carry on. */
Test(broker, survives_the_exit_of_the_thread_that_started_it, .timeout = 20)
{
    struct cln_broker *b = NULL;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, start_in_thread, &b), 0);
    pthread_join(t, NULL);
    cr_assert_not_null(b);
    int bfd = pidfd_of(cln_broker_pid(b));
    cr_assert(!ends_within(bfd, 300), "the broker died with the thread that started it");
    char out[64];
    static const char *const echo[] = {"/bin/echo", "still here", NULL};
    int st = run(b, echo, NULL, NULL, out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_str_eq(out, "still here\n");
    cln_broker_stop(b);
    close(bfd);
}

struct worker {
    struct cln_broker *b;
    int id;
    int failures;
    char why[256];
};

static void *spawn_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 10; i++) {
        char name[32], want[40], out[64];
        snprintf(name, sizeof(name), "t%d-%d", w->id, i);
        snprintf(want, sizeof(want), "%s\n", name);
        const char *const argv[] = {"/bin/sh", "-c", "echo $0; exit $1", name, "3", NULL};
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return NULL;
        struct cln_broker_spawn_req req = {.path = "/bin/sh", .argv = argv, .stdout_fd = p[1]};
        struct cln_broker_child c;
        struct cln_error *e = NULL;
        int r = cln_broker_spawn(w->b, &req, &c, &e);
        close(p[1]);
        size_t n = 0;
        ssize_t k;
        while (r == 0 && n < sizeof(out) - 1 && (k = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
            n += (size_t)k;
        out[n] = '\0';
        close(p[0]);
        int st = -1;
        if (r == 0)
            r = cln_broker_wait(&c, 5000, &st, &e);
        if (r < 0 || strcmp(out, want) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 3) {
            char *m = e ? cln_error_render(e) : NULL;
            snprintf(w->why, sizeof(w->why), "%s: \"%s\" status %#x %s", name, out, st, m ? m : "");
            free(m);
            w->failures++;
        }
        cln_error_free(e);
        if (r == 0 || c.pid)
            cln_broker_child_done(&c);
    }
    return NULL;
}

Test(broker, concurrent_spawns_from_several_threads, .timeout = 30)
{
    struct cln_broker *b = start();
    struct worker w[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.b = b, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, spawn_many, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(w[i].failures, 0, "thread %d: %s", i, w[i].why);
    cln_broker_stop(b);
}

/* Neither the broker nor its children hold the harness's fds, and the
 * children get default signal dispositions and an empty mask whatever the
 * harness had. */
Test(broker, no_inherited_fds_masks_or_dispositions, .timeout = 20)
{
    int leak[2];
    cr_assert_eq(pipe(leak), 0); /* not close-on-exec */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldint;
    sigaction(SIGINT, &ign, &oldint);
    struct cln_broker *b = start();
    sigaction(SIGINT, &oldint, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", cln_broker_pid(b));
    for (int fd = 0; fd < 64; fd++) {
        char link[96], target[128];
        snprintf(link, sizeof(link), "%s/%d", dir, fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        cr_assert(strcmp(target, "/dev/null") == 0 || strncmp(target, "socket:", 7) == 0 ||
                      strcmp(target, "anon_inode:[signalfd]") == 0,
                  "the broker holds fd %d: %s", fd, target);
        cr_assert(fd < 3 || strcmp(target, "/dev/null") != 0, "fd %d: %s", fd, target);
    }
    char out[256];
    static const char *const ls[] = {"/bin/ls", "/proc/self/fd", NULL};
    run(b, ls, NULL, NULL, out, sizeof(out));
    cr_assert_str_eq(out, "0\n1\n2\n3\n", "the child's fds: %s", out); /* 3: ls's own */
    static const char *const intr[] = {"/bin/sh", "-c", "kill -INT $$; echo survived", NULL};
    int st = run(b, intr, NULL, NULL, out, sizeof(out));
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "SIGINT stayed ignored: %#x", st);
    static const char *const term_[] = {"/bin/sh", "-c", "kill -TERM $$; echo survived", NULL};
    st = run(b, term_, NULL, NULL, out, sizeof(out));
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "SIGTERM stayed blocked: %#x", st);
    cln_broker_stop(b);
    close(leak[0]);
    close(leak[1]);
}

/* With the host-exec lockout in force in the client process (harness/
 * isolation.c), the client cannot exec but the broker still starts the
 * declared programs.  In a child, so that the test runner is not locked
 * out. */
Test(broker, works_under_the_host_exec_lockout, .timeout = 20)
{
    pid_t t = fork();
    cr_assert_geq(t, 0);
    if (t == 0) {
        struct cln_broker *b = NULL;
        struct cln_error *e = NULL;
        if (cln_broker_start(programs, &b, &e) < 0)
            _exit(2);
        struct cln_lockout l;
        if (cln_lockout_install(&l, &e) < 0)
            _exit(3);
        /* exec'd despite the lockout: /bin/false exits 1 */
        char prog[] = "/bin/false";
        char *const argv[] = {prog, NULL};
        execv(prog, argv);
        if (errno != EPERM)
            _exit(4);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            _exit(5);
        static const char *const echo[] = {"/bin/echo", "from the broker", NULL};
        struct cln_broker_spawn_req req = {.path = "/bin/echo", .argv = echo, .stdout_fd = p[1]};
        struct cln_broker_child c;
        if (cln_broker_spawn(b, &req, &c, &e) < 0)
            _exit(6);
        close(p[1]);
        char out[64];
        ssize_t n = read(p[0], out, sizeof(out) - 1);
        int st = -1;
        if (n != 16 || memcmp(out, "from the broker\n", 16) != 0)
            _exit(7);
        if (cln_broker_wait(&c, 5000, &st, &e) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            _exit(8);
        cln_broker_child_done(&c);
        cln_broker_stop(b);
        cln_lockout_done(&l);
        _exit(0);
    }
    int st = -1;
    cr_assert_eq(waitpid(t, &st, 0), t);
    cr_assert(WIFEXITED(st), "status %#x", st);
    cr_assert_eq(WEXITSTATUS(st), 0,
                 "1: the lockout let execve through; 2-8: the broker failed under it (%d)",
                 WEXITSTATUS(st));
}

/* ---- through the runtime: the broker is made with it, records, stops with it ---- */

static const char *const rt_programs[] = {"/bin/echo", NULL};
static const struct cln_runtime_desc host_desc = {.name = "hosty", .host_programs = rt_programs};
static const char *const missing_programs[] = {"/nonexistent/hosty-cli", NULL};
static const struct cln_runtime_desc missing_desc = {.name = "hosty",
                                                     .host_programs = missing_programs};
static const struct cln_runtime_desc plain_desc = {.name = "plain"};

Test(broker, a_runtime_records_what_its_broker_starts, .timeout = 20)
{
    struct cln_runtime *rt = cln_runtime_new(&host_desc, NULL, "x://", true, NULL);
    struct cln_broker *b = cln_runtime_broker(rt);
    cr_assert_not_null(b);
    int bfd = pidfd_of(cln_broker_pid(b));
    struct cln_error *e = NULL;
    cr_assert_eq(cln_runtime_broker_check(rt, &e), 0);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    static const char *const echo[] = {"echo", "recorded", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/echo", .argv = echo, .stdout_fd = p[1]};
    struct cln_broker_child c;
    cr_assert_eq(cln_runtime_spawn(rt, &req, &c, &e), 0);
    close(p[1]);
    char out[64];
    read_all(p[0], out, sizeof(out));
    close(p[0]);
    cr_assert_str_eq(out, "recorded\n");
    int st = -1;
    cr_assert_eq(cln_broker_wait(&c, 5000, &st, &e), 0);
    char canon[4096];
    cr_assert_not_null(realpath("/bin/echo", canon));
    cr_assert_str_eq(c.path, canon);
    cln_broker_child_done(&c);
    /* refused: not recorded */
    static const char *const touch[] = {"/bin/touch", "/tmp/never", NULL};
    struct cln_broker_spawn_req bad = {.path = "/bin/touch", .argv = touch};
    cr_assert_lt(cln_runtime_spawn(rt, &bad, &c, &e), 0);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cln_error_free(e);
    e = NULL;
    size_t n = 0;
    struct cln_host_process *hp = cln_runtime_host_processes(rt, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(hp[0].path, canon);
    cr_assert_str_eq(hp[0].argv[0], "echo");
    cr_assert_str_eq(hp[0].argv[1], "recorded");
    cr_assert_null(hp[0].argv[2]);
    cln_host_processes_free(hp, n);
    cln_runtime_close(rt);
    cr_assert(ends_within(bfd, 0), "close left the broker running");
    close(bfd);
}

Test(broker, a_runtime_without_its_broker_says_why)
{
    struct cln_runtime *rt = cln_runtime_new(&missing_desc, NULL, "x://", true, NULL);
    cr_assert_null(cln_runtime_broker(rt));
    struct cln_error *e = NULL;
    cr_assert_lt(cln_runtime_broker_check(rt, &e), 0);
    cr_assert(has(e, "runtime 'hosty' runs host programs, but its host-process broker is "
                     "missing: host program /nonexistent/hosty-cli"));
    cln_error_free(e);
    e = NULL;
    static const char *const argv[] = {"/bin/echo", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/echo", .argv = argv};
    struct cln_broker_child c;
    cr_assert_lt(cln_runtime_spawn(rt, &req, &c, &e), 0);
    cr_assert_eq(e->code, CLN_E_NOT_FOUND);
    cln_error_free(e);
    cln_runtime_close(rt);

    rt = cln_runtime_new(&plain_desc, NULL, "x://", true, NULL);
    cr_assert_null(cln_runtime_broker(rt));
    e = NULL;
    cr_assert_eq(cln_runtime_broker_check(rt, &e), 0);
    cr_assert_lt(cln_runtime_spawn(rt, &req, &c, &e), 0);
    cr_assert_eq(e->code, CLN_E_UNSUPPORTED);
    cln_error_free(e);
    cln_runtime_close(rt);
}

/* ---- functions the broker runs (cln_broker_fork) ---- */

/* Writes its bytes to its first descriptor, then how many descriptors it
 * got and whether 3 + nfds is closed; exits 7. */
static void fn_echo(const void *data, size_t len, const int *fds, int nfds)
{
    if (nfds < 1 || fds[0] != 3 || write(fds[0], data, len) != (ssize_t)len)
        _exit(1);
    char tail[32];
    int n = snprintf(tail, sizeof(tail), "|%d|%d", nfds, fcntl(3 + nfds, F_GETFD) < 0);
    if (write(fds[0], tail, (size_t)n) != n)
        _exit(1);
    _exit(7);
}

/* Execs /bin/sh -c "echo ran" with stdout on its first descriptor: a child
 * of the broker, so not under the harness's lockout. */
static void fn_exec(const void *data, size_t len, const int *fds, int nfds)
{
    (void)data;
    (void)len;
    if (nfds < 1 || dup2(fds[0], 1) < 0)
        _exit(1);
    char sh[] = "/bin/sh", c[] = "-c", cmd[] = "echo ran";
    char *const argv[] = {sh, c, cmd, NULL};
    char *const envp[] = {NULL};
    execve(sh, argv, envp);
    _exit(errno == EPERM ? 9 : 8);
}

static const struct cln_broker_fn_entry test_fns[] = {
    {"echo", fn_echo}, {"exec", fn_exec}, {NULL, NULL}};

Test(broker, a_function_runs_in_a_child_of_the_broker_with_its_bytes_and_descriptors, .timeout = 20)
{
    struct cln_broker *b = NULL;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_broker_start_fns(NULL, test_fns, &b, &e), 0);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int fds[] = {p[1], extra};
    char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    struct cln_broker_fork_req req = {
        .name = "echo", .data = big, .len = sizeof(big), .fds = fds, .nfds = 2};
    struct cln_broker_child c;
    cr_assert_eq(cln_broker_fork(b, &req, &c, &e), 0, "%s", e ? cln_error_text(e) : "");
    cr_assert_gt(c.pid, 0);
    cr_assert_geq(c.pidfd, 0);
    close(p[1]);
    close(extra);
    static char out[80000];
    read_all(p[0], out, sizeof(out));
    close(p[0]);
    cr_assert_eq(strlen(out), sizeof(big) + 4, "%zu", strlen(out));
    cr_assert_eq(memcmp(out, big, sizeof(big)), 0);
    cr_assert_str_eq(out + sizeof(big), "|2|1");
    int st = -1;
    cr_assert_eq(cln_broker_wait(&c, 5000, &st, &e), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
    cln_broker_child_done(&c);
    /* a name it was not given: refused, nothing runs */
    struct cln_broker_fork_req bad = {.name = "rm-rf"};
    cr_assert_lt(cln_broker_fork(b, &bad, &c, &e), 0);
    cr_assert_eq(e->code, CLN_E_ISOLATION, "%s", cln_error_text(e));
    cln_error_free(e);
    e = NULL;
    /* a host program it was not given either */
    static const char *const echo[] = {"/bin/echo", NULL};
    struct cln_broker_spawn_req sreq = {.path = "/bin/echo", .argv = echo};
    cr_assert_lt(cln_broker_spawn(b, &sreq, &c, &e), 0);
    cln_error_free(e);
    cln_broker_stop(b);
}

Test(broker, a_function_is_not_under_the_harness_lockout, .timeout = 20)
{
    pid_t t = fork();
    cr_assert_geq(t, 0);
    if (t == 0) {
        struct cln_broker *b = NULL;
        struct cln_error *e = NULL;
        if (cln_broker_start_fns(NULL, test_fns, &b, &e) < 0)
            _exit(2);
        struct cln_lockout l;
        if (cln_lockout_install(&l, &e) < 0)
            _exit(3);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            _exit(5);
        /* a fork of the harness itself cannot exec: the lockout is inherited */
        pid_t k = fork();
        if (k == 0)
            fn_exec(NULL, 0, &p[1], 1);
        int kst = -1;
        if (waitpid(k, &kst, 0) != k || !WIFEXITED(kst) || WEXITSTATUS(kst) != 9)
            _exit(4);
        struct cln_broker_fork_req req = {.name = "exec", .fds = &p[1], .nfds = 1};
        struct cln_broker_child c;
        if (cln_broker_fork(b, &req, &c, &e) < 0)
            _exit(6);
        close(p[1]);
        char out[64];
        ssize_t n = read(p[0], out, sizeof(out) - 1);
        int st = -1;
        if (n != 4 || memcmp(out, "ran\n", 4) != 0)
            _exit(7);
        if (cln_broker_wait(&c, 5000, &st, &e) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            _exit(8);
        cln_broker_child_done(&c);
        cln_broker_stop(b);
        cln_lockout_done(&l);
        _exit(0);
    }
    int st = -1;
    cr_assert_eq(waitpid(t, &st, 0), t);
    cr_assert(WIFEXITED(st), "status %#x", st);
    cr_assert_eq(WEXITSTATUS(st), 0, "step %d failed", WEXITSTATUS(st));
}
