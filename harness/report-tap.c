/* The TAP 13 report (docs/reports.md), YAML diagnostics from libyaml's
 * emitter. */
#include "report-internal.h"

#include <yaml.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- TAP 13 ---- */

struct yw {
    yaml_emitter_t em;
};

static int yaml_out(void *data, unsigned char *buffer, size_t size)
{
    cln_buf_append(data, (const char *)buffer, size);
    return 1;
}

static void yscalar(struct yw *y, const char *s, bool quoted)
{
    yaml_event_t ev;
    cleanup_free char *c = cln_text_clean(s ? s : "", s ? strlen(s) : 0, CLN_TEXT_YAML, NULL);
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)c, (int)strlen(c), 1, 1,
                                 quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                        : YAML_PLAIN_SCALAR_STYLE);
    yaml_emitter_emit(&y->em, &ev);
}

static void ykv(struct yw *y, const char *key, const char *value)
{
    yscalar(y, key, false);
    yscalar(y, value, true);
}

static void ykn(struct yw *y, const char *key, long long n)
{
    char v[32];
    snprintf(v, sizeof(v), "%lld", n);
    yscalar(y, key, false);
    yscalar(y, v, false);
}

static void ymap(struct yw *y, bool start)
{
    yaml_event_t ev;
    if (start)
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    else
        yaml_mapping_end_event_initialize(&ev);
    yaml_emitter_emit(&y->em, &ev);
}

static void yseq(struct yw *y, bool start)
{
    yaml_event_t ev;
    if (start)
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    else
        yaml_sequence_end_event_initialize(&ev);
    yaml_emitter_emit(&y->em, &ev);
}

static void tap_diagnostics(struct cln_buf *b, const struct cln_report_input *in, size_t i)
{
    const struct cln_spec_test *t = &in->tests[i];
    const struct cln_test_result *r = &in->results[i];
    struct cln_buf doc = CLN_BUF_INIT;
    struct yw y;
    yaml_emitter_initialize(&y.em);
    yaml_emitter_set_output(&y.em, yaml_out, &doc);
    yaml_emitter_set_unicode(&y.em, 1);
    yaml_emitter_set_width(&y.em, -1);
    yaml_emitter_set_indent(&y.em, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    yaml_emitter_emit(&y.em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    yaml_emitter_emit(&y.em, &ev);
    ymap(&y, true);
    ykv(&y, "status", cln_status_name(r->status));
    ykv(&y, "file", t->file);
    ykn(&y, "line", t->line);
    ykn(&y, "duration_ms", (long long)r->duration_ms);
    if (r->any_observed)
        ykv(&y, "isolation", cln_verdict_name(r->verdict));
    if (r->error) {
        ykv(&y, "message", cln_error_text(r->error));
        ykv(&y, "severity", r->status == CLN_ST_ERROR ? "error" : "fail");
    }
    yscalar(&y, "steps", false);
    yseq(&y, true);
    for (size_t k = 0; k < r->nsteps; k++) {
        const struct cln_step_result *s = &r->steps[k];
        const struct cln_attempt *a = cln_report_last_attempt(s);
        ymap(&y, true);
        ykv(&y, "name", t->steps[k].name);
        ykv(&y, "status", cln_status_name(s->status));
        if (a && !a->error)
            ykn(&y, "exit_code", a->exit_code);
        if (a)
            ykn(&y, "duration_ms", (long long)s->duration_ms);
        if (s->observed) {
            ykv(&y, "isolation", cln_verdict_name(s->evidence.verdict));
            ykv(&y, "isolation_reason", s->evidence.reason);
        }
        if (a && a->error)
            ykv(&y, "error", cln_error_text(a->error));
        if (a && a->timed_out)
            ykv(&y, "timeout", "the step's deadline passed and it was killed");
        if (a && a->nfailures) {
            yscalar(&y, "failures", false);
            yseq(&y, true);
            for (size_t f = 0; f < a->nfailures; f++) {
                ymap(&y, true);
                ykv(&y, "what", a->failures[f].what);
                ykv(&y, "expected", a->failures[f].expected);
                ykv(&y, "got", a->failures[f].actual);
                if (a->failures[f].diff)
                    ykv(&y, "diff", a->failures[f].diff);
                ymap(&y, false);
            }
            yseq(&y, false);
        }
        ymap(&y, false);
    }
    yseq(&y, false);
    ymap(&y, false);
    yaml_document_end_event_initialize(&ev, 1);
    yaml_emitter_emit(&y.em, &ev);
    yaml_stream_end_event_initialize(&ev);
    yaml_emitter_emit(&y.em, &ev);
    yaml_emitter_flush(&y.em);
    yaml_emitter_delete(&y.em);
    /* indented two spaces between "---" and "..." */
    cln_buf_puts(b, "  ---\n");
    const char *p = doc.data ? doc.data : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l && !(l == 3 && (strncmp(p, "---", 3) == 0 || strncmp(p, "...", 3) == 0)))
            cln_buf_printf(b, "  %.*s\n", (int)l, p);
        p += l + (nl ? 1 : 0);
    }
    cln_buf_puts(b, "  ...\n");
    cln_buf_done(&doc);
}

/* A TAP description may not hold '#' unescaped, nor a newline. */
static void tap_desc(struct cln_buf *b, const char *s)
{
    cleanup_free char *c = cln_text_clean(s, strlen(s), CLN_TEXT_YAML, NULL);
    for (const char *p = c; *p; p++) {
        if (*p == '#' || *p == '\\')
            cln_buf_putc(b, '\\');
        cln_buf_putc(b, *p == '\n' || *p == '\r' ? ' ' : *p);
    }
}

char *cln_report_tap(const struct cln_report_input *in)
{
    struct cln_buf b = CLN_BUF_INIT;
    cln_buf_puts(&b, "TAP version 13\n");
    cln_buf_printf(&b, "1..%zu\n", in->n);
    cln_buf_printf(&b, "# cleanrun %s, run %s, runtime %s (%s %s)%s\n", in->version, in->run_id,
                   cln_runtime_name(in->rt),
                   cln_runtime_engine(in->rt)->engine ? cln_runtime_engine(in->rt)->engine : "?",
                   cln_runtime_engine(in->rt)->version ? cln_runtime_engine(in->rt)->version : "?",
                   in->partial ? ", PARTIAL: the run was interrupted" : "");
    cln_buf_printf(&b, "# host-exec lockout: %s%s\n",
                   in->lockout && in->lockout->in_force ? "in force, " : "",
                   in->lockout && in->lockout->method ? in->lockout->method : "not installed");
    for (size_t i = 0; i < in->n; i++) {
        const struct cln_test_result *r = &in->results[i];
        bool done = cln_report_result_done(in, i);
        enum cln_status st = done ? r->status : CLN_ST_SKIPPED;
        cln_buf_printf(&b, "%s %zu - ",
                       st == CLN_ST_PASSED || st == CLN_ST_SKIPPED ? "ok" : "not ok", i + 1);
        tap_desc(&b, in->tests[i].name);
        if (st == CLN_ST_SKIPPED)
            cln_buf_puts(&b, done ? " # SKIP not run (fail-fast, the run timeout, or interrupted)"
                                  : " # SKIP not run: the run was interrupted");
        cln_buf_putc(&b, '\n');
        if (done && st != CLN_ST_SKIPPED)
            tap_diagnostics(&b, in, i);
    }
    if (in->audit && in->audit->n)
        cln_buf_printf(&b, "# leak audit: %zu resources left behind\n", in->audit->n);
    return cln_buf_steal(&b);
}
