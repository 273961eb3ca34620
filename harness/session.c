/* A session (session.h): gc, the host-exec lockout, the tests, the leak
 * audit, the exit code and the reports of one run, in that order, telling
 * the hooks as it goes. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exit.h"
#include "report.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

/* A hook, if set, with the session and the hooks' userdata. */
#define HOOK(s, name, ...)                                                                         \
    do {                                                                                           \
        const struct cln_session_hooks *h_ = (s)->opts->hooks;                                     \
        if (h_ && h_->name)                                                                        \
            h_->name((s), ##__VA_ARGS__, (s)->opts->userdata);                                     \
    } while (0)

int cln_session_exit_code(const struct cln_test_result *results, size_t n, bool leaks)
{
    int code = CLN_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        const struct cln_test_result *r = &results[i];
        int c = r->status == CLN_ST_FAILED || r->status == CLN_ST_TIMEOUT ? CLN_EXIT_FAIL
                : r->status == CLN_ST_ERROR                               ? CLN_EXIT_INFRA
                                                                          : CLN_EXIT_OK;
        if (r->any_observed && r->verdict == CLN_VERDICT_VIOLATED)
            c = CLN_EXIT_ISOLATION;
        if (c > code)
            code = c;
    }
    if (leaks && code < CLN_EXIT_INFRA)
        code = CLN_EXIT_INFRA;
    return code;
}

void cln_session_new_run_id(char *buf, size_t size)
{
    char hex[13];
    cln_random_hex(hex, 6);
    snprintf(buf, size, "%s", hex);
}

/* ---- the runner's events, passed on to the hooks ---- */

static void ev_started(size_t index, void *ud)
{
    struct cln_session *s = ud;
    HOOK(s, test_started, index);
}

static void ev_finished(size_t index, const struct cln_test_result *r, void *ud)
{
    struct cln_session *s = ud;
    (void)r; /* it is s->results[index] */
    s->done[index] = true;
    HOOK(s, test_finished, index);
}

static void ev_output(size_t index, const char *step, int stream, const char *data, size_t len,
                      void *ud)
{
    struct cln_session *s = ud;
    HOOK(s, step_output, index, step, stream, data, len);
}

/* ---- the steps of a session ---- */

/* What dead runs left behind. */
static void run_gc(struct cln_session *s)
{
    cleanup_error struct cln_error *err = NULL;
    struct cln_gc_report gr = {0};
    int r = cln_gc(s->rt, &gr, &err);
    HOOK(s, gc, &gr, r < 0 ? err : NULL);
    cln_gc_report_done(&gr);
}

/* The host-exec lockout: from here on nothing starts a host process. */
static void install_lockout(struct cln_session *s)
{
    struct cln_runtime *rt = s->rt;
    cleanup_error struct cln_error *err = NULL;
    if (s->opts->no_lockout) {
        s->lockout.method = cln_xstrdup("off: --no-lockout");
    } else if (cln_lockout_install(&s->lockout, &err) < 0) {
        cleanup_free char *m = cln_error_render(err);
        s->lockout.method = cln_xasprintf("not installed: %s", m);
    } else if (cln_runtime_host_programs(rt)) {
        /* the backend's programs are started by its host-process broker,
         * forked with the runtime before this: this process stays locked */
        struct cln_buf b = CLN_BUF_INIT;
        cln_buf_printf(&b, "%s; runtime %s's host programs (", s->lockout.method,
                       cln_runtime_name(rt));
        for (size_t i = 0; cln_runtime_host_programs(rt)[i]; i++)
            cln_buf_printf(&b, "%s%s", i ? ", " : "", cln_runtime_host_programs(rt)[i]);
        cln_buf_puts(&b, ") only through its host-process broker, each one recorded");
        free(s->lockout.method);
        s->lockout.method = cln_buf_steal(&b);
    }
    HOOK(s, lockout);
}

/* Was this resource kept by --keep-on-failure (so not a leak)? */
static bool kept(const struct cln_session *s, const char *name)
{
    /* the run's keep-alive volume stays with the containers that mount it */
    char kavol[128];
    snprintf(kavol, sizeof(kavol), "cleanrun-%s-keepalive", s->opts->run_id);
    bool any = false;
    for (size_t t = 0; t < s->n; t++)
        any = any || s->results[t].kept.n;
    if (any && strcmp(name, kavol) == 0)
        return true;
    for (size_t t = 0; t < s->n; t++) {
        const struct cln_test_result *tr = &s->results[t];
        if (cln_strv_contains(&tr->kept, name) || cln_strv_contains(&tr->kept_networks, name) ||
            cln_strv_contains(&tr->kept_volumes, name))
            return true;
    }
    return false;
}

/* The leak audit: nothing of this run may be left; what is, is removed. */
static void audit(struct cln_session *s)
{
    struct cln_leak_audit *a = &s->audit;
    cleanup_error struct cln_error *err = NULL;
    if (cln_audit_run(s->rt, s->opts->run_id, a, &err) < 0) {
        a->error = cln_error_render(err);
    } else {
        size_t keep = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (kept(s, a->items[i].name)) {
                free(a->items[i].name);
                free(a->items[i].test);
            } else {
                a->items[keep++] = a->items[i];
            }
        }
        a->n = keep;
    }
    HOOK(s, audit);
    if (a->error || !a->n)
        return;
    size_t removed[3] = {0};
    cleanup_error struct cln_error *rerr = NULL;
    cln_remove_listed(s->rt, a, removed, &rerr); /* the first failure goes to the hook */
    a->removed = removed[0] + removed[1] + removed[2];
    HOOK(s, audit_removed, rerr);
}

/* Every report asked for: the same run in every format; an interrupted run
 * writes what it has, marked partial.  False when a file could not be
 * written. */
static bool write_reports(struct cln_session *s)
{
    const struct cln_session_opts *o = s->opts;
    struct cln_report_input ri = {
        .run_id = o->run_id,
        .version = CLN_VERSION,
        .rt = s->rt,
        .start_unix_ms = s->start_unix_ms,
        .end_unix_ms = cln_wall_ms(),
        .duration_ms = cln_now_ms() - s->t0_ms,
        .jobs = s->jobs,
        .fail_fast = o->fail_fast,
        .gc = o->gc,
        .filter = o->filter,
        .tags = o->tags,
        .ntags = o->ntags,
        .shard = o->shard,
        .timeout_ms = o->timeout_ms,
        .allow = o->allow,
        .lockout = &s->lockout,
        .audit = &s->audit,
        .partial = s->signal != 0,
        .partial_reason = s->signal == SIGINT    ? "interrupted by SIGINT"
                          : s->signal == SIGTERM ? "interrupted by SIGTERM"
                                                 : NULL,
        .exit_code = s->exit_code,
        .tests = s->tests,
        .results = s->results,
        .done = s->done,
        .n = s->n,
    };
    bool ok = true;
    for (size_t i = 0; i < o->nreports; i++) {
        const struct cln_session_report *rq = &o->reports[i];
        cleanup_free char *doc = rq->format == CLN_SESSION_JSON  ? cln_report_json(&ri)
                                 : rq->format == CLN_SESSION_TAP ? cln_report_tap(&ri)
                                                                 : cln_report_junit(&ri);
        if (!rq->path) {
            fputs(doc, stdout);
            continue;
        }
        cleanup_error struct cln_error *err = NULL;
        if (cln_report_write_file(rq->path, doc, &err) < 0) {
            HOOK(s, report_error, err);
            ok = false;
        }
    }
    return ok;
}

int cln_session_run(const struct cln_session_opts *opts, struct cln_runtime *rt,
                    const struct cln_spec_test *tests, size_t n, struct cln_session *ret)
{
    struct cln_session *s = ret;
    memset(s, 0, sizeof(*s));
    s->opts = opts;
    s->rt = rt;
    s->tests = tests;
    s->n = n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->jobs = opts->jobs > 0 ? opts->jobs : (cores > 0 ? (int)cores : 1);
    if ((size_t)s->jobs > n)
        s->jobs = n ? (int)n : 1;
    s->results = cln_xcalloc(n ? n : 1, sizeof(*s->results));
    s->done = cln_xcalloc(n ? n : 1, sizeof(bool));
    s->start_unix_ms = cln_wall_ms();
    HOOK(s, begin);

    if (opts->gc)
        run_gc(s);
    install_lockout(s);

    const struct cln_session_hooks *h = opts->hooks;
    struct cln_run_options ro = {
        .jobs = s->jobs,
        .fail_fast = opts->fail_fast,
        .keep_on_failure = opts->keep_on_failure,
        .artifacts_dir = opts->artifacts_dir,
        .artifacts_fd = opts->artifacts_fd,
        .artifacts_always = opts->artifacts_always,
        .artifacts_cap = opts->artifacts_max,
        .run_timeout_ms = opts->timeout_ms,
        .run_id = opts->run_id,
        .version = CLN_VERSION,
        .interrupted = opts->interrupted,
        .wake_fd = opts->wake_fd,
        .events = {.test_started = ev_started,
                   .test_finished = ev_finished,
                   .step_output = h && h->step_output ? ev_output : NULL,
                   .userdata = s},
    };
    s->t0_ms = cln_now_ms();
    HOOK(s, tests_begin);
    if (n)
        cln_run_tests(rt, tests, n, &ro, s->results);
    s->tests_ms = cln_now_ms() - s->t0_ms;
    HOOK(s, tests_end);

    audit(s);

    for (size_t i = 0; i < n; i++) {
        s->count[s->results[i].status]++;
        for (size_t k = 0; k < s->results[i].nsteps; k++)
            if (s->results[i].steps[k].observed)
                s->verdicts[s->results[i].steps[k].evidence.verdict]++;
    }
    s->exit_code = cln_session_exit_code(s->results, n, s->audit.n || s->audit.error);
    s->signal = opts->interrupted ? *opts->interrupted : 0;
    if (s->signal)
        s->exit_code = CLN_EXIT_SIGNAL + s->signal;
    HOOK(s, end);

    /* Exit codes never depend on the reports, except that a report that
     * cannot be written is an infrastructure error. */
    if (!write_reports(s) && s->exit_code == CLN_EXIT_OK)
        s->exit_code = CLN_EXIT_INFRA;
    return s->exit_code;
}

void cln_session_done(struct cln_session *s)
{
    for (size_t i = 0; s->results && i < s->n; i++)
        cln_test_result_done(&s->results[i]);
    free(s->results);
    free(s->done);
    cln_leak_audit_done(&s->audit);
    cln_lockout_done(&s->lockout);
    memset(s, 0, sizeof(*s));
}
