/* Steps: each run by exec in a service or a fresh container, with its
 * deadline, retries, stdin and output relayed; expectations checked. */
#include "runner-internal.h"
#include "regex.h"
#include "expect.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"

/* ---- steps ---- */

struct out_relay {
    struct test_ctx *c;
    const char *step;
};

static void relay_output(int stream, const char *data, size_t len, void *ud)
{
    struct out_relay *o = ud;
    const struct cln_runner_events *ev = &o->c->run->opts->events;
    if (ev->step_output)
        ev->step_output(o->c->index, o->step, stream, data, len, ev->userdata);
}

void cln_runner_attempt_error(struct cln_attempt *a, struct cln_error *e)
{
    if (!a->error)
        a->error = e;
    else
        cln_error_free(e);
}

/* A step runs through cleanrun-exec (harness/inside/cleanrun-exec.c, at
 * KEEPALIVE_EXEC) when it needs something done in its own process first:
 *   /.cleanrun/exec [-c TOKEN PATH] [-i FILE] -- ARGV...
 * -c: its fresh container's canary, written by the step's own process
 * (docs/isolation.md); -i: its stdin, the text copied into the container
 * first (the engine's exec has no stdin here).  The wrapper execs the
 * step's own argv with its environment untouched; *ret_argv gets the
 * wrapped argv, the step's own stays in the result. */
static char *stdin_file(struct test_ctx *c, const struct cln_spec_step *s, size_t si,
                        const char *id, struct cln_error **err)
{
    size_t nka = 0;
    (void)cln_runner_keepalive_files(&nka);
    if (!nka) {
        *err = cln_error_make(CLN_E_IO, 0, "stdin needs /bin/busybox (busybox-static) on the host");
        return NULL;
    }
    /* beside, not in, KEEPALIVE_DIR (the run's read-only volume) */
    char *name = cln_xasprintf("/.cleanrun-stdin-%zu", si);
    struct cln_file files[] = {
        {.path = name + 1, .data = s->stdin_text, .len = strlen(s->stdin_text), .mode = 0644},
    };
    struct cln_error *e = NULL;
    if (cln_rt_copy_in(c->run->rt, id, "/", files, 1, &e) < 0) {
        *err = cln_runner_wrap(e, "stdin");
        free(name);
        return NULL;
    }
    return name;
}

static void inside_wrap(const struct cln_strv *argv, const char *token, const char *canary,
                        const char *stdin_path, const char *group_file, struct cln_strv *ret)
{
    cln_strv_done(ret);
    if (!canary && !stdin_path && !group_file)
        return;
    ret->v = cln_xcalloc(argv->n + 10, sizeof(char *));
    ret->v[ret->n++] = cln_xstrdup(KEEPALIVE_EXEC);
    if (group_file) {
        ret->v[ret->n++] = cln_xstrdup("-g");
        ret->v[ret->n++] = cln_xstrdup(group_file);
    }
    if (canary) {
        ret->v[ret->n++] = cln_xstrdup("-c");
        ret->v[ret->n++] = cln_xstrdup(token);
        ret->v[ret->n++] = cln_xstrdup(canary);
    }
    if (stdin_path) {
        ret->v[ret->n++] = cln_xstrdup("-i");
        ret->v[ret->n++] = cln_xstrdup(stdin_path);
    }
    ret->v[ret->n++] = cln_xstrdup("--");
    for (size_t i = 0; i < argv->n; i++)
        ret->v[ret->n++] = cln_xstrdup(argv->v[i]);
}

/* cleanrun-exec could not run the step's program (or open its stdin): the
 * same error as the engine's when it cannot start one (docs/spec.md).  Its
 * one line: "cleanrun-exec: WHAT ERRNO NAME". */
#define INSIDE_FAILED "cleanrun-exec: "
static struct cln_error *inside_failed(const struct cln_attempt *a)
{
    const struct cln_buf *e = &a->err.data;
    size_t pl = strlen(INSIDE_FAILED);
    if (a->exit_code != 127 || a->out.data.len || e->len <= pl || e->len > 4096 ||
        memcmp(e->data, INSIDE_FAILED, pl) != 0 || e->data[e->len - 1] != '\n' ||
        memchr(e->data, '\n', e->len - 1))
        return NULL;
    cleanup_free char *line = cln_xstrndup(e->data + pl, e->len - pl - 1);
    return cln_runner_inside_error(line);
}

struct cln_error *cln_runner_inside_error(const char *line)
{
    char what[16];
    int err = 0, off = 0;
    if (sscanf(line, "%15s %d %n", what, &err, &off) != 2 || !off)
        return NULL;
    const char *name = line + off;
    /* -O: a name the image lacks ("user NAME<TAB>PATH<TAB>OWNER"), said as
     * the copy-in path says it; or chown */
    bool no_user = strncmp(name, "user ", 5) == 0, no_group = strncmp(name, "group ", 6) == 0;
    if (strcmp(what, "owner") == 0 && (no_user || no_group)) {
        const char *id = name + (no_user ? 5 : 6);
        const char *t1 = strchr(id, '\t');
        const char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            return cln_error_make(CLN_E_INVALID, 0, "files: owner: no %s \"%s\" in the image",
                                  no_user ? "user" : "group", id);
        return cln_error_make(CLN_E_INVALID, 0,
                              "file %.*s: owner \"%s\": no %s \"%.*s\" in the image's %s",
                              (int)(t2 - t1 - 1), t1 + 1, t2 + 1, no_user ? "user" : "group",
                              (int)(t1 - id), id, no_user ? "/etc/passwd" : "/etc/group");
    }
    if (strcmp(what, "user") == 0 && strncmp(name, "user ", 5) == 0)
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: unable to find user %s: no matching "
                              "entries in passwd file",
                              name + 5);
    if (strcmp(what, "user") == 0 && strncmp(name, "group ", 6) == 0)
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: unable to find group %s: no matching "
                              "entries in group file",
                              name + 6);
    if (strcmp(what, "owner") == 0 || strcmp(what, "files") == 0 || strcmp(what, "hosts") == 0 ||
        strcmp(what, "user") == 0)
        return cln_error_make(CLN_E_IO, 0, "in the container, before its process: %s %s: %s",
                              strcmp(what, "owner") == 0 ? "the owner of" : what, name,
                              strerror(err));
    if (strcmp(what, "stdin") == 0)
        return cln_error_make(CLN_E_IO, 0, "stdin: cannot open %s in the container: %s", name,
                              strerror(err));
    /* the engine's words (runc's, Go's lower-case errno texts) */
    char why[128];
    snprintf(why, sizeof(why), "%s", strerror(err));
    why[0] = (char)tolower((unsigned char)why[0]);
    if (strcmp(what, "workdir") == 0)
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: chdir to cwd (\"%s\") set in "
                              "config.json failed: %s",
                              name, why);
    if (strcmp(what, "exec") != 0)
        return NULL;
    if (err == ENOENT && !strchr(name, '/'))
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: exec: \"%s\": executable file not "
                              "found in $PATH",
                              name);
    if (err == ENOENT)
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: exec: \"%s\": stat %s: %s", name, name,
                              why);
    return cln_error_make(CLN_E_INVALID, 0, "could not start the process: exec: \"%s\": %s", name,
                          why);
}

struct cln_error *cln_runner_first_process_error(struct test_ctx *c, const char *id)
{
    struct cln_container_state st;
    struct cln_error *e = NULL;
    if (!id || cln_rt_inspect(c->run->rt, id, &st, &e) < 0) {
        cln_error_free(e);
        return NULL;
    }
    bool running = st.running;
    cln_container_state_done(&st);
    struct cln_capture out, err;
    if (running || cln_rt_logs(c->run->rt, id, 20, 65536, &out, &err, &e) < 0) {
        cln_error_free(e);
        return NULL;
    }
    struct cln_error *found = NULL;
    const struct cln_capture *streams[] = {&err, &out};
    for (int k = 0; k < 2 && !found; k++) {
        const char *p = streams[k]->data.data, *end = p ? p + streams[k]->data.len : NULL;
        while (p && p < end && !found) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
            size_t pl = strlen(INSIDE_FAILED);
            if (n > pl && memcmp(p, INSIDE_FAILED, pl) == 0) {
                cleanup_free char *line = cln_xstrndup(p + pl, n - pl);
                found = cln_runner_inside_error(line);
            }
            p = eol ? eol + 1 : NULL;
        }
    }
    cln_capture_done(&out);
    cln_capture_done(&err);
    return found;
}

/* An exec into a service failed: when the service is no longer running,
 * that is what to say (not the engine's "container is not running"), with
 * its exit code and, in its result, its last log lines. */
static struct cln_error *service_gone(struct test_ctx *c, const char *name, struct cln_error *e,
                                      uint64_t settle_ms)
{
    struct cln_service_result *sr = (struct cln_service_result *)cln_runner_find_service(c, name);
    struct cln_container_state st;
    struct cln_error *ie = NULL;
    if (!sr || !sr->container_id || cln_rt_inspect(c->run->rt, sr->container_id, &st, &ie) < 0) {
        cln_error_free(ie);
        return e;
    }
    if (st.running && settle_ms) {
        /* the engine may report the exec's end before the container's
         * (Docker does): wait a moment for it to say the service stopped */
        int code = 0;
        if (cln_rt_wait(c->run->rt, sr->container_id, cln_runner_remaining(c, settle_ms), &code,
                        &ie) == 0) {
            cln_container_state_done(&st);
            if (cln_rt_inspect(c->run->rt, sr->container_id, &st, &ie) < 0) {
                cln_error_free(ie);
                return e;
            }
        }
        cln_error_free(ie);
    }
    bool running = st.running;
    int code = st.exit_code;
    bool oom = st.oom_killed;
    cln_container_state_done(&st);
    if (running)
        return e;
    cln_error_free(e);
    cln_runner_keep_log_tail(c, sr);
    /* its files, owners or hosts could not be put in place (a runtime
     * that copies only into running containers): that is why */
    struct cln_error *first = cln_runner_first_process_error(c, sr->container_id);
    if (first)
        return cln_runner_wrap(first, "service %s", name);
    return cln_error_make(CLN_E_BACKEND, 0,
                          "service %s exited with code %d%s (its last log lines are below)", name,
                          code, oom ? ", killed by the OOM killer" : "");
}

/* ---- a fresh container's step as its own process ----
 *
 * On a local engine whose containers' processes this host can prove and
 * reach, a fresh container's first process is the step itself, behind
 * cleanrun-exec -W (harness/inside/cleanrun-exec.c): no keep-alive, no
 * exec, no kill at the end; the engine does what it does for `docker run`.
 * The gate holds the step until the harness has proven that process the
 * container's, taken the read ends of the step's output pipes and checked
 * the canary (written by that very process), and then sends the gate its
 * signal, through a pidfd proven the container's (runtime/base/os.h).  The
 * output comes through those pipes, exactly and as it is written; the exit
 * code and the OOM killer's count from the container itself, through a
 * third pipe on which its init reports the step's end and then waits; at
 * the deadline the container's init, and with it everything in its pid
 * namespace, is killed through a pidfd proven the same way.  A retry starts the same container
 * again, its files as the last attempt left them, as an exec in it would find them, and its new
 * init is observed again (docs/isolation.md). */
struct gate_run {
    bool on;             /* the step runs as the container's process */
    bool started;        /* the container was started for this attempt */
    const char *token;   /* attempt 0: the canary to check at the gate */
    bool canary_checked; /* there */
};

static bool gate_eligible(const struct test_ctx *c, const struct cln_spec_step *s)
{
    struct cln_runtime *rt = c->run->rt;
    /* stdin goes by a file or the engine's exec; file expectations are
     * read in the running container, after the step; a container kept on
     * failure is one to exec into */
    return cln_runtime_local(rt) && !cln_runtime_vm(rt) && !s->stdin_text && !s->expect.nfiles &&
           !(s->artifacts.n && c->run->opts->artifacts_dir) && !s->privs.host_pid &&
           !c->run->opts->keep_on_failure && cln_runner_keepalive()->len;
}

static void capture_add(struct cln_capture *cap, const char *data, size_t n)
{
    cap->total += n;
    size_t room = CLN_DEFAULT_OUTPUT_CAP - cap->data.len;
    if (n > room)
        cap->truncated = true;
    if (room)
        cln_buf_append(&cap->data, data, n < room ? n : room);
}

/* The deadline passed or an interrupt came: the container's init, and with
 * it its pid namespace, killed through a pidfd proven in scope. */
static void gate_kill(struct test_ctx *c, int pid, const struct cln_proc_scope *scope, bool woken,
                      struct cln_exec_result *er)
{
    er->status = CLN_EXEC_TIMEOUT;
    er->interrupted = woken || cln_runner_interrupted(c);
    er->kill_method = cln_proc_kill_in_scope(pid, scope) == 0 ? "host-signal" : "none-left";
}

/* The step's output until both pipes end and its status has come, killed
 * at end (0: none) or an interrupt; after a kill, what is still in the
 * pipes for 5 s at most.  When the status comes, the container is still
 * there, held by its init: its cgroup's OOM count is read (against
 * oom_before), then the init is let go.  *ret_status: the step's wait
 * status, -1 when none came. */
static void gate_relay(struct test_ctx *c, struct cln_gate *g, int pid,
                       const struct cln_proc_scope *scope, uint64_t end, int64_t oom_before,
                       const struct cln_exec_config *ec, struct cln_exec_result *er,
                       int *ret_status, bool *oom, bool *oom_unknown)
{
    int wake = c->run->opts->wake_fd;
    int fds[3] = {g->out, g->err, g->status};
    struct cln_capture *caps[2] = {&er->out, &er->err};
    char buf[65536];
    *ret_status = -1;
    while (fds[0] >= 0 || fds[1] >= 0 || fds[2] >= 0) {
        uint64_t now = now_ms();
        if (end && now >= end) { /* checked on every pass: a step may never pause */
            if (er->kill_method || *ret_status >= 0) /* a drain is over */
                break;
            int64_t after = cln_cgroup_oom_kills(scope->cgroup);
            *oom = oom_before >= 0 && after > oom_before;
            gate_kill(c, pid, scope, false, er);
            end = now + 5000;
            continue;
        }
        struct pollfd p[4];
        nfds_t np = 0;
        for (int k = 0; k < 3; k++)
            p[np++] = (struct pollfd){.fd = fds[k], .events = POLLIN};
        if (wake > 0 && !er->kill_method)
            p[np++] = (struct pollfd){.fd = wake, .events = POLLIN};
        int wait = !end ? 60000 : (int)(end - now > 60000 ? 60000 : end - now);
        int n = poll(p, np, wait);
        if (n < 0 && errno != EINTR)
            break;
        if (np == 4 && (p[3].revents & POLLIN)) {
            gate_kill(c, pid, scope, true, er);
            end = now_ms() + 5000;
            continue;
        }
        if (n > 0 && fds[2] >= 0 && p[2].revents) { /* the step ended */
            int st = -1;
            if (read(fds[2], &st, sizeof(st)) == (ssize_t)sizeof(st) && st >= 0) {
                *ret_status = st;
                int64_t after = cln_cgroup_oom_kills(scope->cgroup);
                *oom = oom_before >= 0 && after > oom_before;
                if (oom_before < 0 || after < 0)
                    *oom_unknown = true;
                (void)cln_gate_signal(g, SIGUSR1); /* its init may end now */
                if (!er->kill_method)
                    end = now_ms() + 5000; /* what is left in the pipes */
            }
            close(fds[2]);
            fds[2] = -1;
        }
        for (int k = 0; k < 2 && n > 0; k++) {
            if (fds[k] < 0 || !p[k].revents)
                continue;
            ssize_t r = read(fds[k], buf, sizeof(buf));
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) {
                close(fds[k]);
                fds[k] = -1;
                continue;
            }
            capture_add(caps[k], buf, (size_t)r);
            if (ec->on_output)
                ec->on_output(k + 1, buf, (size_t)r, ec->userdata);
        }
    }
    for (int k = 0; k < 3; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    g->out = g->err = g->status = -1;
}

/* A retry's new init, observed as the first one was: its pid, proven the
 * container's, and its namespaces, judged again. */
static int gate_reobserve(struct test_ctx *c, const char *id, struct cln_evidence *base)
{
    int pid = cln_runner_container_pid(c->run->rt, id);
    if (pid <= 0)
        return 0;
    struct cln_ns_set ns;
    uint64_t start = cln_proc_start_time(pid);
    cleanup_free char *cg = cln_proc_cgroup(pid);
    if (!start || !cg || !strstr(cg, id) || cln_ns_read(pid, &ns) < 0 ||
        cln_proc_start_time(pid) != start)
        return 0;
    base->observed_pid = pid;
    base->observed_start = start;
    base->ns = ns;
    free(base->cgroup);
    base->cgroup = CLN_TAKE(cg);
    cln_evidence_judge(base);
    return pid;
}

/* One attempt of a gated step: as cln_rt_exec, with *oom when the
 * kernel's OOM killer struck in the container.  -1 with *err; gr->on
 * cleared when the gate could not be used and the container, held at it,
 * can take the step by exec instead. */
static int gate_exec(struct test_ctx *c, const char *id, struct gate_run *gr,
                     struct cln_evidence *base, const struct cln_exec_config *ec,
                     struct cln_exec_result *er, bool *oom, struct cln_error **err)
{
    struct cln_runtime *rt = c->run->rt;
    uint64_t t0 = now_ms();
    uint64_t end = ec->timeout_ms ? t0 + ec->timeout_ms : 0;
    memset(er, 0, sizeof(*er));
    *oom = false;
    if (!gr->started) { /* a retry: the same container again, once the engine saw it stop */
        int code = 0;
        struct cln_error *we = NULL;
        if (cln_rt_wait(rt, id, cln_runner_remaining(c, 10000), &code, &we) < 0)
            cln_error_free(we);
        if (cln_rt_start(rt, id, err) < 0)
            return -1;
    }
    gr->started = false;
    int pid = gr->token ? base->observed_pid : gate_reobserve(c, id, base);
    /* the scope: what was observed, the start time exactly that one */
    struct cln_proc_scope scope = {
        .pidns = base->ns.ino[CLN_NS_PID],
        .cgroup = base->cgroup,
        .min_start = base->observed_start,
    };
    struct cln_gate g;
    uint64_t bound = now_ms() + cln_runner_remaining(c, 10000);
    if (end && end < bound)
        bound = end;
    int why = 0;
    if (pid <= 0 || !scope.pidns || !scope.cgroup)
        why = ESRCH;
    else if (cln_gate_open(pid, &scope, KEEPALIVE_EXEC, bound, c->run->opts->wake_fd, &g) < 0)
        why = errno;
    else if (cln_proc_start_time(pid) != base->observed_start || cln_gate_signal(&g, 0) < 0) {
        cln_gate_close(&g);
        why = ESRCH;
    }
    if (why) {
        bool interrupted = why == EINTR || cln_runner_interrupted(c);
        /* held at its gate still, it can take an exec; not once gone,
         * never after an interrupt */
        gr->on = why == ESRCH || interrupted;
        return cln_error_set(err, interrupted ? CLN_E_INTERRUPTED : CLN_E_BACKEND, 0,
                             interrupted ? "interrupted: the step was not started"
                                         : "the step's container did not reach its gate: %s",
                             strerror(why));
    }
    if (gr->token) { /* written by this process before its gate */
        cln_runner_canary_after_step(rt, id, base, gr->token);
        gr->token = NULL;
        gr->canary_checked = true;
    }
    er->status = CLN_EXEC_EXITED;
    er->host_pid = pid;
    int64_t oom_before = cln_cgroup_oom_kills(scope.cgroup);
    if (cln_gate_signal(&g, SIGUSR1) < 0) {
        int e = errno;
        cln_gate_close(&g);
        return cln_error_set(err, CLN_E_BACKEND, 0, "the step's container left its gate: %s",
                             strerror(e));
    }
    int status = -1;
    bool oom_unknown = false;
    gate_relay(c, &g, pid, &scope, end, oom_before, ec, er, &status, oom, &oom_unknown);
    cln_gate_close(&g);
    /* its exit code: the status its init reported; without one, the
     * engine's (the init ended otherwise: killed, or its container) or,
     * after a kill, the engine's record of it, best effort: the thread's
     * deadline may be what passed, and this has its own bound */
    if (status >= 0 && er->status != CLN_EXEC_TIMEOUT) {
        er->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct cln_container_state st;
        struct cln_error *e = NULL;
        int code = 0;
        /* the engine has seen it stop (an engine removing a container it
         * still thinks runs may trip over its end: Podman), then, for a
         * cgroup whose count could not be read, the engine's word */
        int w = cln_rt_wait(rt, id, cln_runner_remaining(c, 10000), &code, &e);
        if (w == 0 && oom_unknown && cln_rt_inspect(rt, id, &st, &e) == 0) {
            *oom = st.oom_killed;
            cln_container_state_done(&st);
        }
        cln_error_free(e);
    } else {
        const char *what = NULL;
        uint64_t saved = cln_deadline_get(&what);
        char saved_what[160];
        snprintf(saved_what, sizeof(saved_what), "%s", what ? what : "");
        cln_deadline_set(0, NULL);
        int code = -1;
        struct cln_error *e = NULL;
        int w = cln_rt_wait(rt, id, 10000, &code, &e);
        struct cln_container_state st;
        if (w == 0 && er->status != CLN_EXEC_TIMEOUT && cln_rt_inspect(rt, id, &st, &e) == 0) {
            *oom = *oom || st.oom_killed;
            cln_container_state_done(&st);
        }
        cln_deadline_set(saved, saved_what);
        if (w < 0 && er->status != CLN_EXEC_TIMEOUT) {
            cln_exec_result_done(er);
            *err = e;
            return -1;
        }
        cln_error_free(e);
        er->exit_code = er->status == CLN_EXEC_TIMEOUT ? -1 : code;
    }
    er->duration_ms = now_ms() - t0;
    return 0;
}

static void step_error(struct cln_step_result *sr, struct cln_error *e)
{
    sr->attempts = cln_xcalloc(1, sizeof(*sr->attempts));
    sr->nattempts = 1;
    sr->attempts[0].status = CLN_ST_ERROR;
    sr->attempts[0].error = e;
    sr->status = CLN_ST_ERROR;
}

void cln_runner_run_step(struct test_ctx *c, size_t si)
{
    const struct cln_spec_step *s = &c->t->steps[si];
    struct cln_step_result *sr = &c->r->steps[si];
    struct cln_runtime *rt = c->run->rt;
    sr->step = s;
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < s->argv.n; i++) {
        sr->argv.v = cln_xrealloc(sr->argv.v, (sr->argv.n + 2) * sizeof(char *));
        sr->argv.v[sr->argv.n++] = cln_runner_substitute(c, s->argv.v[i]);
        sr->argv.v[sr->argv.n] = NULL;
    }
    struct cln_error *msg = NULL;
    const char *id = NULL;
    char *fresh = NULL;
    cleanup_strv struct cln_strv env = {0};
    struct cln_strv wrapped = {0};
    cleanup_free char *stdin_path = NULL;
    char token[40] = ""; /* the container's canary, for the step's exec to write */
    struct cln_service_result *svc = NULL;
    bool exec_stdin = false;
    struct out_relay relay = {.c = c, .step = s->name};
    struct cln_evidence base;
    bool observed = false;
    struct gate_run gr = {0};
    memset(&base, 0, sizeof(base));
    if (s->service) {
        svc = (struct cln_service_result *)cln_runner_find_service(c, s->service);
        sr->where = cln_xasprintf("service %s", s->service);
        id = svc ? svc->container_id : NULL;
        if (svc && svc->observed) {
            cln_evidence_copy(&base, &svc->evidence);
            observed = true;
            /* the service's canary, when no step has written it yet: this
             * step's first exec writes it (steps of a test run one by one) */
            memcpy(token, svc->canary_token, sizeof(token));
            svc->canary_token[0] = '\0';
        }
    } else {
        sr->where = cln_xasprintf("image %s (fresh container)", s->image);
        cln_runner_env_vector(c, &s->env, &env);
        cleanup_strv struct cln_strv gate_argv = {0};
        struct cln_runner_gate gate = {0};
        if (gate_eligible(c, s)) {
            snprintf(token, 40, "cleanrun-canary-");
            cln_random_hex(token + strlen(token), 8);
            cleanup_free char *canary = cln_xasprintf("/.%s", token);
            const char *head[] = {KEEPALIVE_EXEC, "-c", token, canary};
            for (size_t i = 0; i < CLN_ARRAY_SIZE(head); i++)
                cln_strv_add(&gate_argv, head[i]);
            if (s->workdir) {
                cln_strv_add(&gate_argv, "-C");
                cln_strv_add(&gate_argv, s->workdir);
            }
            cln_strv_add(&gate_argv, "-W");
            cln_strv_add(&gate_argv, "--");
            for (size_t i = 0; i < sr->argv.n; i++)
                cln_strv_add(&gate_argv, sr->argv.v[i]);
            gate = (struct cln_runner_gate){.argv = cln_strv_argv(&gate_argv),
                                            .env = cln_strv_argv(&env)};
        }
        fresh = cln_runner_fresh_container(c, s, si, gate.argv ? &gate : NULL, &msg, &base,
                                           &observed, token);
        id = fresh;
        if (msg) {
            step_error(sr, msg);
            goto out;
        }
        /* the gate, where this host can prove the container's process */
        gr.on = gate.argv && observed && base.pid_proven && token[0];
        gr.started = true;
        gr.token = token;
    }
    sr->container_id = id ? cln_xstrdup(id) : NULL;
    if (!env.v)
        cln_runner_env_vector(c, &s->env, &env);
    /* stdin: fed to the exec where the runtime can, else a file for
     * cleanrun-exec -i */
    exec_stdin = cln_runtime_supports(rt, CLN_FEATURE_EXEC_STDIN);
    if (s->stdin_text && !exec_stdin && !(stdin_path = stdin_file(c, s, si, id, &msg))) {
        step_error(sr, msg);
        goto out;
    }
    for (int attempt = 0; attempt <= s->retries; attempt++) {
        if (attempt) {
            if (cln_runner_interrupted(c) || cln_runner_deadline_passed(c))
                break;
            cln_runner_pause_ms(c, cln_runner_remaining(c, s->retry_interval_ms));
        }
        /* a VM's processes are out of the host's reach: the step leads a
         * process group, which cleanrun-exec -K ends at the deadline */
        char gtok[17] = "";
        if (cln_runtime_vm(rt))
            cln_random_hex(gtok, 8);
        cleanup_free char *group_file = gtok[0] ? cln_xasprintf("/.cleanrun-group-%s", gtok) : NULL;
        const char *kill_argv[] = {KEEPALIVE_EXEC, "-K", group_file, NULL};
        inside_wrap(&sr->argv, token, token[0] && !attempt && !gr.on ? base.canary_path : NULL,
                    stdin_path, group_file, &wrapped);
        sr->attempts = cln_xrealloc(sr->attempts, (sr->nattempts + 1) * sizeof(*sr->attempts));
        struct cln_attempt *a = &sr->attempts[sr->nattempts++];
        memset(a, 0, sizeof(*a));
        uint64_t to = cln_runner_remaining(c, s->timeout_ms);
        struct cln_exec_config ec = {
            .argv = (const char *const *)(wrapped.n ? wrapped.v : sr->argv.v),
            .env = cln_strv_argv(&env),
            .workdir = s->workdir,
            .user = s->user,
            .timeout_ms = to,
            .on_output = c->run->opts->events.step_output ? relay_output : NULL,
            .userdata = &relay,
            .stdin_data = exec_stdin ? s->stdin_text : NULL,
            .stdin_len = exec_stdin && s->stdin_text ? strlen(s->stdin_text) : 0,
            .kill_argv = group_file ? kill_argv : NULL,
        };
        struct cln_exec_result er;
        struct cln_error *e = NULL;
        int64_t ooms = -1;
        bool oom = false;
        int xr = -1;
        if (gr.on) {
            xr = gate_exec(c, id, &gr, &base, &ec, &er, &oom, &e);
            if (xr < 0 && !gr.on) {
                /* the gate could not be used: the container, held at
                 * it, takes the step by exec; its canary is there or
                 * missing, as an exec's would be */
                cln_error_free(e);
                e = NULL;
                ooms = observed ? cln_cgroup_oom_kills(base.cgroup) : -1;
                xr = cln_rt_exec(rt, id, &ec, &er, &e);
            }
        } else {
            ooms = observed ? cln_cgroup_oom_kills(base.cgroup) : -1;
            xr = cln_rt_exec(rt, id, &ec, &er, &e);
        }
        if (xr < 0) {
            a->status = CLN_ST_ERROR;
            /* a fresh container whose files could not be put in place
             * (a runtime that copies only into running containers) */
            struct cln_error *first = s->service ? NULL : cln_runner_first_process_error(c, id);
            if (first)
                cln_error_free(e);
            a->error = s->service ? service_gone(c, s->service, e, 0) : first ? first : e;
            sr->status = CLN_ST_ERROR;
            break;
        }
        a->exit_code = er.exit_code;
        a->timed_out = er.status == CLN_EXEC_TIMEOUT;
        a->duration_ms = er.duration_ms;
        a->out = er.out;
        a->err = er.err;
        a->exec_id = CLN_TAKE(er.exec_id);
        a->host_pid = er.host_pid;
        a->kill_method = er.kill_method;
        if (a->timed_out) {
            char lim[32];
            a->limit =
                s->timeout_ms && to == s->timeout_ms
                    ? cln_xasprintf("the step's timeout (%s)",
                                    cln_duration_format_limit(s->timeout_ms, lim, sizeof(lim)))
                    : cln_xstrdup(c->limit[0] ? c->limit : "a limit");
        }
        memset(&er.out, 0, sizeof(er.out));
        memset(&er.err, 0, sizeof(er.err));
        struct cln_error *nf = (wrapped.n || gr.on) && !a->timed_out ? inside_failed(a) : NULL;
        if (nf) {
            a->error = nf;
            sr->status = CLN_ST_ERROR;
            cln_exec_result_done(&er);
            break;
        }
        bool was_interrupted = er.interrupted;
        cln_exec_result_done(&er);
        if (ec.on_output) { /* the end of the step's output: its last partial lines */
            relay_output(1, NULL, 0, &relay);
            relay_output(2, NULL, 0, &relay);
        }
        if (a->timed_out && (was_interrupted || cln_runner_interrupted(c))) {
            a->status = CLN_ST_ERROR;
            a->error = cln_error_make(CLN_E_INTERRUPTED, 0, "interrupted: the step was killed");
            sr->status = CLN_ST_ERROR;
            break;
        }
        if (oom || (ooms >= 0 && cln_cgroup_oom_kills(base.cgroup) > ooms)) {
            a->oom_killed = true;
            char lim[64];
            int64_t m =
                s->service ? cln_runner_find_service(c, s->service)->service->memory : s->memory;
            snprintf(lim, sizeof(lim), "within the limit (%lld MiB)",
                     (long long)((m ? m : CLN_DEFAULT_MEMORY) >> 20));
            cln_attempt_add_failure(a, "memory", lim, "killed by the kernel's OOM killer", NULL);
        }
        cln_check_expectations(&s->expect, a);
        if (!a->timed_out && s->expect.nfiles)
            cln_check_files(c->run->rt, id, &s->expect, cln_runner_remaining(c, 10000), a);
        a->status = a->timed_out   ? CLN_ST_TIMEOUT
                    : a->error     ? CLN_ST_ERROR
                    : a->nfailures ? CLN_ST_FAILED
                                   : CLN_ST_PASSED;
        /* A step that did not pass in a service that has exited: the
         * service's exit is what happened (an exec racing its exit ends 126
         * with runc's "cannot exec in a deleted state"; one it outlived was
         * killed with the container, 137), not the step's expectations.
         * An exit that looks like either waits up to 1 s for the engine to
         * see the service go. */
        bool dying = a->exit_code == 126 || a->exit_code > 128;
        struct cln_error *gone = s->service && a->status != CLN_ST_PASSED && !a->error
                                     ? service_gone(c, s->service, NULL, dying ? 1000 : 0)
                                     : NULL;
        if (gone) {
            a->error = gone;
            a->status = CLN_ST_ERROR;
        }
        /* a fresh container whose first process could not put its files
         * in place and exited (a runtime that copies only into running
         * containers; one that answers an exec into it with an exit code,
         * as Apple's CLI does) */
        struct cln_error *first = !s->service && fresh && a->status != CLN_ST_PASSED && !a->error
                                      ? cln_runner_first_process_error(c, id)
                                      : NULL;
        if (first) {
            a->error = first;
            a->status = CLN_ST_ERROR;
        }
        sr->status = a->status;
        if (a->status == CLN_ST_PASSED || a->status == CLN_ST_ERROR)
            break;
    }
out:
    if (observed && token[0] &&
        !gr.canary_checked) { /* the canary the step's exec wrote, or one written now */
        cln_runner_canary_after_step(rt, id, &base, token);
        if (svc) { /* the service's evidence, now complete */
            cln_evidence_done(&svc->evidence);
            cln_evidence_copy(&svc->evidence, &base);
        }
    }
    if (observed) {
        cln_runner_step_evidence(&base, sr->nattempts ? &sr->attempts[sr->nattempts - 1] : NULL,
                                 &sr->evidence);
        sr->observed = true;
    }
    cln_evidence_done(&base);
    cln_strv_done(&wrapped);
    /* --artifacts: copied out before the container goes */
    if (s->artifacts.n && c->run->opts->artifacts_dir && (fresh || svc) &&
        !cln_runner_interrupted(c) && !cln_runtime_gone(rt)) {
        cleanup_free char *sub = cln_artifacts_step_dir(si, s->name);
        cln_artifacts_save(c, fresh ? fresh : svc->container_id, sub, &s->artifacts, &sr->artifacts,
                           &sr->nartifacts);
    }
    /* --keep-on-failure keeps a failed step's container with the test's */
    bool keep = c->run->opts->keep_on_failure && sr->status != CLN_ST_PASSED;
    if (fresh && !keep)
        cln_runner_untrack_remove(c, fresh);
    free(fresh);
    sr->duration_ms = now_ms() - t0;
}
