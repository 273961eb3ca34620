/* The human output of `cleanrun run` (human.h): the session hooks that
 * print, the progress line and its ticker, -v's streamed output and the
 * log sink. */
#include "human.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "harness/runner.h"
#include "harness/spec.h"
#include "harness/text.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

void cln_human_init(struct cln_human *h, FILE *out, bool quiet, bool color)
{
    *h = (struct cln_human){.out = out, .quiet = quiet, .color = color};
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&h->lock, &a);
    pthread_mutexattr_destroy(&a);
}

void cln_human_done(struct cln_human *h)
{
    free(h->started);
    for (size_t i = 0; h->partial && i < h->n * 2; i++)
        cln_buf_done(&h->partial[i]);
    free(h->partial);
    pthread_mutex_destroy(&h->lock);
}

/* ---- writing ---- */

/* A closed stdout (cleanrun run | head -1) stops the human output, not the
 * run: SIGPIPE is ignored, and after the first failed write nothing more
 * is written there; tests, teardown and reports go on. */
static void __attribute__((format(printf, 2, 3))) out(struct cln_human *h, const char *fmt, ...)
{
    if (h->closed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(h->out, fmt, ap);
    va_end(ap);
    if (ferror(h->out))
        h->closed = true;
}

static void flush_out(struct cln_human *h)
{
    if (!h->closed && fflush(h->out) != 0)
        h->closed = true;
}

static const char *col(const struct cln_human *h, const char *code)
{
    return h->color ? code : "";
}

static void clear_progress(const struct cln_human *h)
{
    if (h->tty)
        fprintf(stderr, "\r\033[K");
}

static void show_progress(const struct cln_human *h)
{
    if (!h->tty || h->quiet)
        return;
    char d[32];
    fprintf(stderr, "\r\033[K[%zu/%zu done, %zu running, %s]", h->finished, h->n, h->running,
            cln_duration_format(cln_now_ms() - h->t0_ms, d, sizeof(d)));
    fflush(stderr);
}

/* Refresh the progress line twice a second while tests run (TTY only). */
static void *ticker(void *ud)
{
    struct cln_human *h = ud;
    for (;;) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&h->lock);
        bool stop = h->finished_all;
        if (!stop)
            show_progress(h);
        pthread_mutex_unlock(&h->lock);
        if (stop)
            return NULL;
    }
}

/* A string as a TOML basic string: quotes, backslashes, newlines escaped. */
static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if ((unsigned char)*c < 0x20)
                fprintf(f, "\\u%04x", (unsigned char)*c);
            else
                fputc(*c, f);
        }
    }
    fputc('"', f);
}

void cln_human_print_argv(FILE *f, const struct cln_strv *v, bool shell)
{
    if (shell && v->n == 3) {
        print_quoted(f, v->v[2]);
        fputs(" (sh -c)", f);
        return;
    }
    fputc('[', f);
    for (size_t i = 0; i < v->n; i++) {
        print_quoted(f, v->v[i]);
        if (i + 1 < v->n)
            fputs(", ", f);
    }
    fputc(']', f);
}

/* Lines of text from outside cleanrun (a step's output, an engine's
 * message), each made visible: nothing reaches the terminal raw. */
static void print_lines(struct cln_human *h, const char *text, size_t len, const char *indent)
{
    cleanup_free char *v =
        cln_text_visible(text, len, CLN_QUOTE_CAP, CLN_VIS_KEEP_NEWLINES | CLN_VIS_KEEP_TABS);
    const char *p = v;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        out(h, "%s%.*s\n", indent, (int)l, p);
        p += l + (nl ? 1 : 0);
    }
}

static void print_tail(struct cln_human *h, const char *label, const struct cln_capture *c)
{
    if (!c->data.len)
        return;
    const char *d = c->data.data;
    size_t len = c->data.len, lines = 0, start = len;
    while (start > 0 && lines < 10) {
        start--;
        if (d[start] == '\n' && start != len - 1)
            lines++;
    }
    if (start > 0)
        start++;
    out(h, "        last %s:\n", label);
    print_lines(h, d + start, len - start, "          | ");
    if (c->truncated)
        out(h, "          (kept %zu of %llu bytes)\n", c->data.len, (unsigned long long)c->total);
}

/* One line of outside text, made visible (no line breaks). */
static char *vis(const char *s)
{
    return cln_text_name(s ? s : "");
}

/* The command as the spec wrote it, made visible. */
static void print_command(struct cln_human *h, const struct cln_strv *v, bool shell)
{
    cleanup_free char *m = NULL;
    size_t sz = 0;
    FILE *f = open_memstream(&m, &sz);
    if (!f)
        return;
    cln_human_print_argv(f, v, shell);
    fclose(f);
    cleanup_free char *vm = vis(m);
    out(h, "        command: %s\n", vm);
}

/* ---- one test's result ---- */

static void print_kept(struct cln_human *h, const struct cln_runtime *rt,
                       const struct cln_test_result *r)
{
    bool podman = strcmp(cln_runtime_name(rt), "podman") == 0;
    out(h, "        kept for inspection (--keep-on-failure; the next 'cleanrun gc' removes "
           "them):\n");
    for (size_t k = 0; k < r->kept.n; k++) {
        const char *what = "a step's container";
        for (size_t m = 0; m < r->nservices; m++)
            if (r->services[m].container_id &&
                strcmp(r->services[m].container_id, r->kept.v[k]) == 0)
                what = r->services[m].service->name;
        out(h, "          %s %s %s exec -it %.12s /.cleanrun/busybox sh    # %s\n",
            podman ? "podman" : "docker", podman ? "--url" : "-H", cln_runtime_endpoint(rt),
            r->kept.v[k], what);
    }
    for (size_t k = 0; k < r->kept_volumes.n; k++)
        out(h, "          volume %s\n", r->kept_volumes.v[k]);
}

static void print_isolation(struct cln_human *h, const struct cln_test_result *r)
{
    for (size_t k = 0; k < r->nservices; k++) {
        const struct cln_evidence *ev = &r->services[k].evidence;
        if (r->services[k].observed && ev->verdict != CLN_VERDICT_ISOLATED) {
            cleanup_free char *why = vis(ev->reason ? ev->reason : "?");
            out(h, "        isolation %s: service %s: %s\n", cln_verdict_name(ev->verdict),
                r->services[k].service->name, why);
        }
    }
    for (size_t k = 0; k < r->nsteps; k++) {
        const struct cln_evidence *ev = &r->steps[k].evidence;
        if (r->steps[k].observed && ev->verdict != CLN_VERDICT_ISOLATED) {
            cleanup_free char *sn = vis(r->steps[k].step->name);
            cleanup_free char *why = vis(ev->reason ? ev->reason : "?");
            out(h, "        isolation %s: step %zu \"%s\": %s\n", cln_verdict_name(ev->verdict),
                k + 1, sn, why);
        }
    }
}

static void print_failure(struct cln_human *h, const struct cln_failure *f)
{
    cleanup_free char *fw = vis(f->what);
    if (f->diff) {
        out(h, "        expected %s (- expected, + actual):\n", fw);
        print_lines(h, f->diff, strlen(f->diff), "          ");
    } else if (strchr(f->actual, '\n') || strlen(f->actual) > 60) {
        cleanup_free char *fe = vis(f->expected);
        out(h, "        expected %s: %s\n", fw, fe);
        out(h, "        actual:\n");
        print_lines(h, f->actual, strlen(f->actual), "          | ");
    } else {
        cleanup_free char *fe = vis(f->expected);
        cleanup_free char *fa = vis(f->actual);
        out(h, "        expected %s: %s, actual: %s\n", fw, fe, fa);
    }
}

static void print_failed_step(struct cln_human *h, const struct cln_spec_test *t, size_t k,
                              const struct cln_step_result *s)
{
    const struct cln_attempt *a = &s->attempts[s->nattempts - 1];
    cleanup_free char *sn = vis(s->step->name);
    cleanup_free char *where = vis(s->where ? s->where : "?");
    out(h, "      step %zu \"%s\" (%s:%u) %s in %s\n", k + 1, sn, t->file, s->step->line,
        cln_status_name(s->status), where);
    print_command(h, s->argv.n ? &s->argv : &s->step->argv, s->step->shell);
    if (s->nattempts > 1)
        out(h, "        attempts: %zu (last shown)\n", s->nattempts);
    if (a->error) {
        cleanup_free char *m = vis(cln_error_text(a->error));
        out(h, "        error: %s\n", m);
    }
    if (a->timed_out && !a->error) {
        char d[32];
        out(h, "        timed out after %s, %s, and was killed (%s)\n",
            cln_duration_format(a->duration_ms, d, sizeof(d)), a->limit ? a->limit : "a limit",
            a->kill_method ? a->kill_method : "?");
    }
    for (size_t m = 0; m < a->nfailures; m++)
        print_failure(h, &a->failures[m]);
    if (!a->error) {
        out(h, "        exit code: %d\n", a->exit_code);
        print_tail(h, "stdout lines", &a->out);
        print_tail(h, "stderr lines", &a->err);
    }
}

static void print_artifact_problems(struct cln_human *h, const char *whose,
                                    const struct cln_artifact *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (v[k].error) {
            cleanup_free char *m = vis(v[k].error);
            out(h, "          %s %s: %s\n", whose, v[k].path, m);
        } else if (v[k].truncated) {
            out(h, "          %s %s: cut at the size cap (--artifacts-max): %llu bytes saved\n",
                whose, v[k].path, (unsigned long long)v[k].bytes);
        }
    }
}

/* --artifacts: where they are, and what could not be saved */
static void print_artifacts(struct cln_human *h, const struct cln_test_result *r)
{
    if (!r->artifacts_dir)
        return;
    size_t files = 0;
    for (size_t k = 0; k < r->nsteps; k++)
        for (size_t j = 0; j < r->steps[k].nartifacts; j++)
            files += r->steps[k].artifacts[j].files;
    for (size_t k = 0; k < r->nservices; k++)
        for (size_t j = 0; j < r->services[k].nartifacts; j++)
            files += r->services[k].artifacts[j].files;
    cleanup_free char *d = vis(r->artifacts_dir);
    out(h, "        artifacts: %s/ (%zu file%s)\n", d, files, files == 1 ? "" : "s");
    for (size_t k = 0; k < r->nsteps; k++) {
        char whose[48];
        snprintf(whose, sizeof(whose), "step %zu", k + 1);
        print_artifact_problems(h, whose, r->steps[k].artifacts, r->steps[k].nartifacts);
    }
    for (size_t k = 0; k < r->nservices; k++) {
        cleanup_free char *whose = cln_xasprintf("service %s", r->services[k].service->name);
        print_artifact_problems(h, whose, r->services[k].artifacts, r->services[k].nartifacts);
    }
}

static void print_result(struct cln_human *h, const struct cln_session *ss, size_t i)
{
    const struct cln_test_result *r = &ss->results[i];
    const struct cln_spec_test *t = &ss->tests[i];
    static const char *const label[] = {"PASS", "FAIL", "ERROR", "TIMEOUT", "SKIP"};
    static const char *const color[] = {"\033[32m", "\033[31m", "\033[35m", "\033[33m", "\033[2m"};
    if (h->quiet && r->status == CLN_ST_PASSED)
        return;
    char d[32];
    cleanup_free char *name = vis(t->name);
    out(h, "%s%-7s%s %s  %s\n", col(h, color[r->status]), label[r->status], col(h, "\033[0m"), name,
        cln_duration_format(r->duration_ms, d, sizeof(d)));
    if (r->error)
        print_lines(h, cln_error_text(r->error), strlen(cln_error_text(r->error)), "        ");
    if (r->network_note)
        out(h, "        note: %s\n", r->network_note);
    bool passed = r->status == CLN_ST_PASSED || r->status == CLN_ST_SKIPPED;
    for (size_t k = 0; k < r->nservices; k++)
        if (!passed && r->services[k].log_tail && *r->services[k].log_tail) {
            out(h, "        last log lines of service %s:\n", r->services[k].service->name);
            print_lines(h, r->services[k].log_tail, strlen(r->services[k].log_tail),
                        "          | ");
        }
    if (r->kept.n)
        print_kept(h, ss->rt, r);
    print_artifacts(h, r);
    for (size_t k = 0; k < r->nteardown_errors; k++) {
        cleanup_free char *m = vis(cln_error_text(r->teardown_errors[k]));
        out(h, "        teardown: %s\n", m);
    }
    print_isolation(h, r);
    if (passed)
        return;
    for (size_t k = 0; k < r->nsteps; k++) {
        const struct cln_step_result *s = &r->steps[k];
        if (s->status == CLN_ST_PASSED || s->status == CLN_ST_SKIPPED || !s->nattempts)
            continue;
        print_failed_step(h, t, k, s);
    }
}

/* ---- the session's hooks ---- */

static void on_begin(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    const struct cln_runtime *rt = s->rt;
    const struct cln_engine_info *e = cln_runtime_engine(rt);
    if (!h->quiet)
        out(h, "cleanrun %s: %zu test%s, runtime %s (%s %s at %s), %d worker%s, run %s\n",
            CLN_VERSION, s->n, s->n == 1 ? "" : "s", cln_runtime_name(rt),
            e->engine ? e->engine : "?", e->version ? e->version : "?", cln_runtime_endpoint(rt),
            s->jobs, s->jobs == 1 ? "" : "s", s->opts->run_id);
}

static void on_gc(const struct cln_session *s, const struct cln_gc_report *gr,
                  const struct cln_error *err, void *ud)
{
    struct cln_human *h = ud;
    (void)s;
    if (err) {
        fprintf(stderr, "cleanrun: warning: ");
        cln_cli_print_error(err);
        return;
    }
    if (gr->runs && !h->quiet)
        out(h,
            "gc: removed %zu containers, %zu networks, %zu volumes of %zu dead "
            "run%s\n",
            gr->containers, gr->networks, gr->volumes, gr->runs, gr->runs == 1 ? "" : "s");
    for (size_t i = 0; i < gr->nerrors; i++)
        fprintf(stderr, "cleanrun: gc: %s\n", gr->errors[i]);
}

static void on_lockout(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    if (!h->quiet)
        out(h, "host-exec lockout: %s%s\n", s->lockout.in_force ? "in force, " : "",
            s->lockout.method);
    const char *nolim = cln_runtime_missing_requires(s->rt, CLN_FEATURE_LIMITS);
    if (!h->quiet && nolim)
        out(h, "limits: memory, pids and cpus are not limited: %s\n", nolim);
    fflush(h->out);
}

static void on_tests_begin(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    pthread_mutex_lock(&h->lock);
    h->n = s->n;
    h->started = cln_xcalloc(s->n ? s->n : 1, sizeof(bool));
    h->partial = cln_xcalloc(s->n ? s->n * 2 : 1, sizeof(struct cln_buf));
    h->t0_ms = s->t0_ms;
    h->tty = isatty(STDERR_FILENO) != 0;
    pthread_mutex_unlock(&h->lock);
    h->ticking = h->tty && !h->quiet && pthread_create(&h->ticker, NULL, ticker, h) == 0;
}

static void on_test_started(const struct cln_session *s, size_t index, void *ud)
{
    struct cln_human *h = ud;
    (void)s;
    pthread_mutex_lock(&h->lock);
    h->running++;
    h->started[index] = true;
    show_progress(h);
    pthread_mutex_unlock(&h->lock);
}

static void on_test_finished(const struct cln_session *s, size_t index, void *ud)
{
    struct cln_human *h = ud;
    pthread_mutex_lock(&h->lock);
    if (h->started[index])
        h->running--;
    h->finished++;
    clear_progress(h);
    /* results in the order of the tests, whatever the order they end in */
    while (h->next_to_print < h->n && s->done[h->next_to_print])
        print_result(h, s, h->next_to_print++);
    flush_out(h);
    show_progress(h);
    pthread_mutex_unlock(&h->lock);
}

/* -v: a step's output, a whole line at a time (the pieces it arrives in
 * are not lines), each line flushed at once whatever stdout is: a CI log
 * shows it live.  data == NULL: the step ended; its last partial line. */
static void on_step_output(const struct cln_session *s, size_t index, const char *step, int stream,
                           const char *data, size_t len, void *ud)
{
    struct cln_human *h = ud;
    pthread_mutex_lock(&h->lock);
    clear_progress(h);
    struct cln_buf *part = &h->partial[index * 2 + (stream == 2)];
    FILE *f = stream == 2 ? stderr : h->out;
    cleanup_free char *tn = vis(s->tests[index].name);
    cleanup_free char *sn = vis(step);
    if (data)
        cln_buf_append(part, data, len);
    size_t start = 0;
    for (size_t i = 0; i < part->len; i++) {
        if (part->data[i] != '\n' && !(!data && i + 1 == part->len))
            continue;
        size_t end = part->data[i] == '\n' ? i : i + 1;
        cleanup_free char *line =
            cln_text_visible(part->data + start, end - start, 0, CLN_VIS_KEEP_TABS);
        if (f == h->out)
            out(h, "  [%s / %s out] %s\n", tn, sn, line);
        else
            fprintf(f, "  [%s / %s err] %s\n", tn, sn, line);
        start = i + 1;
    }
    cln_buf_consume(part, start);
    if (f == h->out)
        flush_out(h);
    else
        fflush(f);
    show_progress(h);
    pthread_mutex_unlock(&h->lock);
}

static void on_tests_end(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    (void)s;
    pthread_mutex_lock(&h->lock);
    h->finished_all = true;
    pthread_mutex_unlock(&h->lock);
    if (h->ticking)
        pthread_join(h->ticker, NULL);
    h->ticking = false;
    clear_progress(h);
}

static void on_audit(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    const struct cln_leak_audit *a = &s->audit;
    if (a->error) {
        out(h, "leak audit: could not run: %s\n", a->error);
        return;
    }
    if (!a->n)
        return;
    out(h, "leak audit: %zu resource%s of run %s left behind:\n", a->n, a->n == 1 ? "" : "s",
        s->opts->run_id);
    for (size_t i = 0; i < a->n; i++)
        out(h, "  %s %s%s%s%s\n", a->items[i].kind, a->items[i].name,
            a->items[i].test ? " (test " : "", a->items[i].test ? a->items[i].test : "",
            a->items[i].test ? ")" : "");
}

static void on_audit_removed(const struct cln_session *s, const struct cln_error *err, void *ud)
{
    struct cln_human *h = ud;
    if (err)
        cln_cli_print_error(err);
    out(h, "leak audit: removed %zu of them now\n", s->audit.removed);
}

static void on_end(const struct cln_session *s, void *ud)
{
    struct cln_human *h = ud;
    const size_t *v = s->verdicts, *c = s->count;
    if (!h->quiet || v[CLN_VERDICT_VIOLATED])
        out(h, "isolation: %zu step%s isolated, %zu unverified, %zu violated\n",
            v[CLN_VERDICT_ISOLATED], v[CLN_VERDICT_ISOLATED] == 1 ? "" : "s",
            v[CLN_VERDICT_UNVERIFIED], v[CLN_VERDICT_VIOLATED]);
    char d[32];
    out(h, "%zu test%s: %zu passed, %zu failed, %zu errors, %zu timed out, %zu skipped (%s)\n",
        s->n, s->n == 1 ? "" : "s", c[CLN_ST_PASSED], c[CLN_ST_FAILED], c[CLN_ST_ERROR],
        c[CLN_ST_TIMEOUT], c[CLN_ST_SKIPPED],
        cln_duration_format(cln_now_ms() - s->t0_ms, d, sizeof(d)));
    if (s->signal)
        fprintf(stderr, "cleanrun: interrupted (%s); cleaned up\n",
                s->signal == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_report_error(const struct cln_session *s, const struct cln_error *err, void *ud)
{
    (void)s;
    (void)ud;
    cln_cli_print_error(err);
}

void cln_human_hooks(struct cln_session_hooks *ret, bool stream_output)
{
    *ret = (struct cln_session_hooks){
        .begin = on_begin,
        .gc = on_gc,
        .lockout = on_lockout,
        .tests_begin = on_tests_begin,
        .test_started = on_test_started,
        .test_finished = on_test_finished,
        .step_output = stream_output ? on_step_output : NULL,
        .tests_end = on_tests_end,
        .audit = on_audit,
        .audit_removed = on_audit_removed,
        .end = on_end,
        .report_error = on_report_error,
    };
}

/* ---- the log sink ---- */

void cln_human_log(enum cln_log_level level, const char *msg, void *userdata)
{
    struct cln_human *h = userdata;
    cleanup_free char *m = cln_text_name(msg);
    pthread_mutex_lock(&h->lock);
    /* around the progress line, while there is one */
    bool live = h->tty && !h->quiet && h->n && !h->finished_all;
    if (live)
        clear_progress(h);
    fprintf(stderr, "cleanrun: %s: %s\n", cln_log_level_name(level), m);
    if (live)
        show_progress(h);
    else
        fflush(stderr);
    pthread_mutex_unlock(&h->lock);
}
