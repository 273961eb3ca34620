/* Running Apple's container CLI: one call through the runtime's broker,
 * with a deadline, its output captured (capped), and the retrying form
 * that classifies failures (apple-internal.h). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apple-internal.h"
#include "runtime/backend.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *cln_apple_cmdline(const char *const *argv)
{
    struct cln_buf b = CLN_BUF_INIT;
    for (size_t i = 0; argv[i]; i++) {
        if (i)
            cln_buf_putc(&b, ' ');
        bool plain = argv[i][0] != '\0' &&
                     strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                                     "KLMNOPQRSTUVWXYZ0123456789_.,/:=@%+-") == strlen(argv[i]);
        if (plain) {
            cln_buf_puts(&b, argv[i]);
            continue;
        }
        cln_buf_putc(&b, '\'');
        for (const char *p = argv[i]; *p; p++) {
            if (*p == '\'')
                cln_buf_puts(&b, "'\\''");
            else
                cln_buf_putc(&b, *p);
        }
        cln_buf_putc(&b, '\'');
    }
    return cln_buf_steal(&b);
}

void cln_apple_call_done(struct cln_apple_call *c)
{
    cln_buf_done(&c->out);
    cln_buf_done(&c->err);
}

/* Keep at most cap bytes of what arrives on fd; 0 at EOF, 1 more to come. */
static int drain(int fd, struct cln_buf *b, uint64_t *total, size_t cap)
{
    char tmp[16384];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n == 0)
        return 0;
    *total += (uint64_t)n;
    size_t keep = b->len < cap ? cap - b->len : 0;
    cln_buf_append(b, tmp, (size_t)n < keep ? (size_t)n : keep);
    return 1;
}

void cln_apple_tracker_interrupt(struct cln_apple_tracker *t)
{
    pthread_mutex_lock(&t->lock);
    for (struct cln_apple_inflight *i = t->head; i; i = i->next) {
        struct cln_error *e = NULL;
        i->interrupted = true;
        (void)cln_broker_kill(i->child, SIGKILL, &e); /* exactly that process (pidfd) */
        cln_error_free(e);
    }
    pthread_mutex_unlock(&t->lock);
}

static void track(struct cln_apple_tracker *t, struct cln_apple_inflight *i)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    i->next = t->head;
    t->head = i;
    pthread_mutex_unlock(&t->lock);
}

static void untrack(struct cln_apple_tracker *t, struct cln_apple_inflight *i)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    for (struct cln_apple_inflight **p = &t->head; *p; p = &(*p)->next)
        if (*p == i) {
            *p = i->next;
            break;
        }
    pthread_mutex_unlock(&t->lock);
}

/* After the child closed its output: how long its status may still take
 * to arrive once every deadline passed (it is exiting, not hung). */
#define EOF_GRACE_MS 2000

/* The child's status within ms, whatever the calling thread's deadline
 * (cln_broker_wait would stop at it): the bound is the caller's. */
static int wait_status(struct cln_broker_child *child, uint64_t ms, int *ret_status)
{
    const char *what = NULL;
    uint64_t dl = cln_deadline_get(&what);
    cleanup_free char *saved = what ? cln_xstrdup(what) : NULL;
    cln_deadline_set(0, NULL);
    struct cln_error *e = NULL;
    int r = cln_broker_wait(child, ms, ret_status, &e);
    cln_error_free(e);
    cln_deadline_set(dl, saved);
    return r;
}

static int run_tracked(struct cln_runtime *rt, const char *cli, const char *const *argv,
                       const char *const *env, const char *stdin_data, size_t stdin_len,
                       uint64_t timeout_ms, bool own_bound_only, size_t cap,
                       struct cln_apple_tracker *tracker, struct cln_apple_call *ret,
                       struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    ret->exit_status = -1;
    cap = cap ? cap : CLN_DEFAULT_OUTPUT_CAP;
    /* the call's own bound and the calling thread's deadline, whichever
     * comes first (docs/runtime.md "Deadlines") */
    const char *what = NULL;
    uint64_t thread_dl = own_bound_only ? 0 : cln_deadline_get(&what);
    cleanup_free char *thread_what = what ? cln_xstrdup(what) : NULL;
    uint64_t own = timeout_ms ? now_ms() + timeout_ms : 0;
    uint64_t deadline = cln_deadline_min(own, thread_dl);
    bool by_thread = thread_dl && (!own || thread_dl < own);
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, pi[2] = {-1, -1};
    if (cln_os_pipe(po) < 0 || cln_os_pipe(pe) < 0 || (stdin_data && cln_os_pipe(pi) < 0)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (po[i] >= 0)
                close(po[i]);
            if (pe[i] >= 0)
                close(pe[i]);
        }
        return cln_error_set(err, CLN_E_IO, e, "pipes for %s", cli);
    }
    struct cln_broker_spawn_req req = {.path = cli,
                                       .argv = argv,
                                       .env = env,
                                       .stdin_fd = stdin_data ? pi[0] : 0,
                                       .stdout_fd = po[1],
                                       .stderr_fd = pe[1]};
    struct cln_broker_child child;
    struct cln_error *e = NULL;
    int r = cln_runtime_spawn(rt, &req, &child, &e);
    close(po[1]);
    close(pe[1]);
    if (stdin_data)
        close(pi[0]);
    if (r < 0) {
        close(po[0]);
        close(pe[0]);
        if (stdin_data)
            close(pi[1]);
        *err = e;
        return cln_error_wrap(err, "run %s", argv[1] ? argv[1] : cli);
    }
    struct cln_apple_inflight me = {.child = &child};
    track(tracker, &me);
    size_t written = 0;
    if (stdin_data)
        (void)fcntl(pi[1], F_SETFL, O_NONBLOCK);
    bool open_out = true, open_err = true, open_in = stdin_data != NULL;
    bool expired = false;
    if (open_in && stdin_len == 0) {
        close(pi[1]);
        open_in = false;
    }
    while (open_out || open_err) {
        struct pollfd p[3];
        int np = 0, io = -1, ie = -1, ii = -1;
        if (open_out) {
            p[np] = (struct pollfd){.fd = po[0], .events = POLLIN};
            io = np++;
        }
        if (open_err) {
            p[np] = (struct pollfd){.fd = pe[0], .events = POLLIN};
            ie = np++;
        }
        if (open_in) {
            p[np] = (struct pollfd){.fd = pi[1], .events = POLLOUT};
            ii = np++;
        }
        int wait = -1;
        if (deadline) {
            uint64_t now = now_ms();
            if (now >= deadline) {
                expired = true;
                break;
            }
            wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
        }
        int k = poll(p, (nfds_t)np, wait);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        if (k == 0)
            continue; /* the deadline, seen at the top */
        if (io >= 0 && p[io].revents && !drain(po[0], &ret->out, &ret->out_total, cap))
            open_out = false;
        if (ie >= 0 && p[ie].revents && !drain(pe[0], &ret->err, &ret->err_total, cap))
            open_err = false;
        if (ii >= 0 && p[ii].revents) {
            ssize_t n = (p[ii].revents & POLLOUT)
                            ? write(pi[1], stdin_data + written, stdin_len - written)
                            : -1;
            if (n > 0)
                written += (size_t)n;
            if (n < 0 || written == stdin_len) {
                close(pi[1]);
                open_in = false;
            }
        }
    }
    if (open_in)
        close(pi[1]);
    close(po[0]);
    close(pe[0]);
    int status = 0;
    if (!expired) {
        /* its output ended: it is exiting; its status comes through the
         * broker a moment later, so wait for it even where a deadline
         * passed meanwhile (briefly: a CLI that closed its output and
         * stays is still a hung one) */
        uint64_t now = now_ms();
        uint64_t left = deadline ? (deadline > now ? deadline - now : 0) : 60000;
        if (left < EOF_GRACE_MS)
            left = EOF_GRACE_MS;
        if (wait_status(&child, left, &status) < 0)
            expired = true;
    }
    untrack(tracker, &me);
    if (me.interrupted) {
        if (expired) /* killed already; reaped now */
            (void)wait_status(&child, 2000, &status);
        cln_broker_child_done(&child);
        cln_apple_call_done(ret);
        cleanup_free char *line = cln_apple_cmdline(argv);
        return cln_error_set(err, CLN_E_INTERRUPTED, 0, "runtime apple: `%s` interrupted", line);
    }
    if (expired) {
        /* killed, exactly that process */
        struct cln_error *ke = NULL;
        (void)cln_broker_kill(&child, SIGKILL, &ke);
        cln_error_free(ke);
        (void)wait_status(&child, 2000, &status);
        cln_broker_child_done(&child);
        cln_apple_call_done(ret);
        cleanup_free char *line = cln_apple_cmdline(argv);
        if (by_thread)
            /* the caller's limit, not the CLI's fault */
            return cln_error_set(err, CLN_E_TIMEOUT, 0,
                                 "runtime apple: %s passed while `%s` was still running: killed",
                                 thread_what ? thread_what : "the deadline", line);
        ret->hung = true; /* its own bound: the CLI hung */
        if (!timeout_ms)
            return cln_error_set(err, CLN_E_TIMEOUT, 0,
                                 "runtime apple: `%s` closed its output and did not exit within "
                                 "60000 ms: killed",
                                 line);
        return cln_error_set(err, CLN_E_TIMEOUT, 0,
                             "runtime apple: `%s` did not finish within %llu ms: killed", line,
                             (unsigned long long)timeout_ms);
    }
    cln_broker_child_done(&child);
    ret->exit_status = WIFEXITED(status)     ? WEXITSTATUS(status)
                       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                             : -1;
    return 0;
}

int cln_apple_run(struct cln_runtime *rt, const char *cli, const char *const *argv,
                  const char *const *env, const char *stdin_data, size_t stdin_len,
                  uint64_t timeout_ms, size_t cap, struct cln_apple_call *ret,
                  struct cln_error **err)
{
    return run_tracked(rt, cli, argv, env, stdin_data, stdin_len, timeout_ms, false, cap, NULL, ret,
                       err);
}

/* Sleep ms before another try, unless the calling thread's deadline
 * comes first (0: no time for another try). */
static bool backoff_sleep(uint64_t ms, bool own_bound_only)
{
    uint64_t dl = own_bound_only ? 0 : cln_deadline_get(NULL);
    if (dl && now_ms() + ms >= dl)
        return false;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return true;
}

int cln_apple_call(struct cln_runtime *rt, const char *cli, const char *const *argv,
                   const char *const *env, const struct cln_apple_policy *pol,
                   struct cln_apple_call *ret, struct cln_error **err)
{
    unsigned tries = pol->tries ? pol->tries : 1;
    uint64_t backoff = pol->backoff_ms;
    for (unsigned t = 1;; t++) {
        int r = run_tracked(rt, cli, argv, env, pol->stdin_data, pol->stdin_len, pol->timeout_ms,
                            pol->cleanup, pol->cap, pol->tracker, ret, err);
        if (r < 0)
            return r; /* could not run it, or it hung: not retried (ret freed) */
        if (ret->exit_status == 0)
            return 0;
        struct cln_apple_failure f;
        cln_apple_classify(ret->exit_status, ret->err.data, ret->err.len, &f);
        /* where any exit is an answer (exec, batches, status), the CLI's
         * own transient error line is still one to try again: the API
         * server was away, nothing was done */
        bool transient = f.cls == CLN_APPLE_TRANSIENT && (!pol->any_exit || f.code[0]);
        if (transient && t < tries && backoff_sleep(backoff, pol->cleanup)) {
            cln_apple_failure_done(&f);
            cln_apple_call_done(ret);
            backoff *= 2; /* bounded: tries x backoff, doubling */
            continue;
        }
        if (pol->any_exit) {
            cln_apple_failure_done(&f);
            return 0; /* the caller reads the exit status and stderr */
        }
        cleanup_free char *line = cln_apple_cmdline(argv);
        enum cln_errcode code =
            f.cls == CLN_APPLE_NOT_FOUND                                           ? CLN_E_NOT_FOUND
            : strcmp(f.code, "exists") == 0 || strcmp(f.code, "invalidState") == 0 ? CLN_E_CONFLICT
            : strcmp(f.code, "invalidArgument") == 0 || ret->exit_status == 64     ? CLN_E_INVALID
                                                                                   : CLN_E_BACKEND;
        /* the exit status and the CLI's words as backend detail:
         * "runtime apple: `...` failed (apple, exit status 1: notFound: ...)" */
        r = cln_error_set(err, code, 0, "runtime apple: `%s` failed%s", line,
                          t > 1 ? " after retries" : "");
        cln_apple_set_detail(*err, ret->exit_status, &f);
        cln_apple_failure_done(&f);
        cln_apple_call_done(ret); /* an error: nothing for the caller to free */
        return r;
    }
}
