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
    char what[16];
    int err = 0, off = 0;
    if (sscanf(line, "%15s %d %n", what, &err, &off) != 2 || !off)
        return NULL;
    const char *name = line + off;
    if (strcmp(what, "stdin") == 0)
        return cln_error_make(CLN_E_IO, 0, "stdin: cannot open %s in the container: %s", name,
                              strerror(err));
    if (strcmp(what, "exec") != 0)
        return NULL;
    if (err == ENOENT && !strchr(name, '/'))
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: exec: \"%s\": executable file not "
                              "found in $PATH",
                              name);
    /* the engine's words (runc's, Go's lower-case errno texts) */
    char why[128];
    snprintf(why, sizeof(why), "%s", strerror(err));
    why[0] = (char)tolower((unsigned char)why[0]);
    if (err == ENOENT)
        return cln_error_make(CLN_E_INVALID, 0,
                              "could not start the process: exec: \"%s\": stat %s: %s", name, name,
                              why);
    return cln_error_make(CLN_E_INVALID, 0, "could not start the process: exec: \"%s\": %s", name,
                          why);
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
    return cln_error_make(CLN_E_BACKEND, 0,
                          "service %s exited with code %d%s (its last log lines are below)", name,
                          code, oom ? ", killed by the OOM killer" : "");
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
        fresh = cln_runner_fresh_container(c, s, si, &msg, &base, &observed, token);
        id = fresh;
        if (msg) {
            step_error(sr, msg);
            goto out;
        }
    }
    sr->container_id = id ? cln_xstrdup(id) : NULL;
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
        inside_wrap(&sr->argv, token, token[0] && !attempt ? base.canary_path : NULL, stdin_path,
                    group_file, &wrapped);
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
        int64_t ooms = observed ? cln_cgroup_oom_kills(base.cgroup) : -1;
        if (cln_rt_exec(rt, id, &ec, &er, &e) < 0) {
            a->status = CLN_ST_ERROR;
            a->error = s->service ? service_gone(c, s->service, e, 0) : e;
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
        struct cln_error *nf = wrapped.n && !a->timed_out ? inside_failed(a) : NULL;
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
        if (ooms >= 0 && cln_cgroup_oom_kills(base.cgroup) > ooms) {
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
        sr->status = a->status;
        if (a->status == CLN_ST_PASSED || a->status == CLN_ST_ERROR)
            break;
    }
out:
    if (observed && token[0]) { /* the canary the step's exec wrote, or one written now */
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
    /* --keep-on-failure keeps a failed step's container with the test's */
    bool keep = c->run->opts->keep_on_failure && sr->status != CLN_ST_PASSED;
    if (fresh && !keep)
        cln_runner_untrack_remove(c, fresh);
    free(fresh);
    sr->duration_ms = now_ms() - t0;
}
