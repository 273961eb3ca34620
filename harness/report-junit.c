/* The JUnit XML report (docs/reports.md), with libxml2's xmlwriter. */
#include "report-internal.h"

#include <libxml/xmlwriter.h>
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

/* ---- JUnit XML ---- */

static void xattr(xmlTextWriterPtr w, const char *name, const char *value)
{
    cleanup_free char *c =
        cln_text_clean(value ? value : "", value ? strlen(value) : 0, CLN_TEXT_XML, NULL);
    xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST c);
}

static void xattrf(xmlTextWriterPtr w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void xattrf(xmlTextWriterPtr w, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *s = cln_xvasprintf(fmt, ap);
    va_end(ap);
    xattr(w, name, s);
}

static void xtext(xmlTextWriterPtr w, const char *text, size_t len)
{
    cleanup_free char *c = cln_text_clean(text ? text : "", text ? len : 0, CLN_TEXT_XML, NULL);
    xmlTextWriterWriteString(w, BAD_CAST c);
}

static void xprop(xmlTextWriterPtr w, const char *name, const char *value)
{
    xmlTextWriterStartElement(w, BAD_CAST "property");
    xattr(w, "name", name);
    xattr(w, "value", value ? value : "");
    xmlTextWriterEndElement(w);
}

static char *failure_text(const struct cln_step_result *s, const struct cln_attempt *a)
{
    struct cln_buf b = CLN_BUF_INIT;
    const struct cln_strv *argv = s->argv.n ? &s->argv : &s->step->argv;
    cln_buf_puts(&b, "command:");
    for (size_t i = 0; i < argv->n; i++)
        cln_buf_printf(&b, " %s", argv->v[i]);
    cln_buf_printf(&b, "\nwhere: %s\n", s->where ? s->where : "?");
    if (s->nattempts > 1)
        cln_buf_printf(&b, "attempts: %zu (the last shown)\n", s->nattempts);
    if (a->error)
        cln_buf_printf(&b, "error: %s\n", cln_error_text(a->error));
    if (a->timed_out)
        cln_buf_printf(&b, "timed out after %llu ms (%s) and was killed\n",
                       (unsigned long long)a->duration_ms, a->limit ? a->limit : "a limit");
    for (size_t i = 0; i < a->nfailures; i++) {
        const struct cln_failure *f = &a->failures[i];
        cln_buf_printf(&b, "expected %s: %s\nactual: %s\n", f->what, f->expected, f->actual);
        if (f->diff)
            cln_buf_printf(&b, "diff (- expected, + actual):\n%s\n", f->diff);
    }
    if (!a->error)
        cln_buf_printf(&b, "exit code: %d\n", a->exit_code);
    return cln_buf_steal(&b);
}

static char *failure_message(const struct cln_attempt *a)
{
    if (a->error)
        return cln_xstrdup(cln_error_text(a->error));
    if (a->timed_out)
        return cln_xasprintf("timed out after %llu ms (%s)", (unsigned long long)a->duration_ms,
                             a->limit ? a->limit : "a limit");
    if (a->nfailures)
        return a->nfailures == 1
                   ? cln_xasprintf("expected %s: %s", a->failures[0].what, a->failures[0].expected)
                   : cln_xasprintf("expected %s: %s (and %zu more)", a->failures[0].what,
                                   a->failures[0].expected, a->nfailures - 1);
    return cln_xstrdup("failed");
}

/* What a container printed, where Jenkins' JUnit Attachments plugin reads
 * [[ATTACHMENT|path]] lines: such a line would make it copy a file of the
 * agent's into the build, so in output it is broken ("[[ATTACHMENT |"). */
static void append_output(struct cln_buf *b, const char *data, size_t len)
{
    static const char tag[] = "[[ATTACHMENT|";
    const size_t tl = sizeof(tag) - 1;
    for (size_t i = 0; i < len;) {
        const char *hit = len - i >= tl ? memmem(data + i, len - i, tag, tl) : NULL;
        size_t n = hit ? (size_t)(hit - (data + i)) : len - i;
        cln_buf_append(b, data + i, n);
        i += n;
        if (hit) {
            cln_buf_append(b, "[[ATTACHMENT |", tl + 1);
            i += tl;
        }
    }
}

static void junit_suite(xmlTextWriterPtr w, const struct cln_report_input *in, size_t i,
                        const char *host)
{
    const struct cln_spec_test *t = &in->tests[i];
    const struct cln_test_result *r = &in->results[i];
    bool done = cln_report_result_done(in, i);
    size_t nf = 0, ne = 0, ns = 0, ncase = t->nsteps;
    bool setup_case =
        done && r->error && (r->status == CLN_ST_ERROR || r->status == CLN_ST_TIMEOUT);
    for (size_t k = 0; k < t->nsteps; k++) {
        enum cln_status st = done && k < r->nsteps ? r->steps[k].status : CLN_ST_SKIPPED;
        nf += st == CLN_ST_FAILED || st == CLN_ST_TIMEOUT;
        ne += st == CLN_ST_ERROR;
        ns += st == CLN_ST_SKIPPED;
    }
    if (setup_case) {
        ncase++;
        ne++;
    }
    xmlTextWriterStartElement(w, BAD_CAST "testsuite");
    xattr(w, "name", t->name);
    xattrf(w, "package", "cleanrun");
    xattrf(w, "id", "%zu", i);
    char ts[40];
    cln_report_iso_time(done && r->started_unix_ms ? r->started_unix_ms : in->start_unix_ms, false,
                        ts, sizeof(ts));
    xattr(w, "timestamp", ts);
    xattr(w, "hostname", host);
    xattrf(w, "tests", "%zu", ncase);
    xattrf(w, "failures", "%zu", nf);
    xattrf(w, "errors", "%zu", ne);
    xattrf(w, "skipped", "%zu", ns);
    xattrf(w, "time", "%.3f", done ? (double)r->duration_ms / 1000.0 : 0.0);

    xmlTextWriterStartElement(w, BAD_CAST "properties");
    char v[64];
    xprop(w, "cleanrun.run", in->run_id);
    xprop(w, "cleanrun.backend", cln_runtime_name(in->rt));
    xprop(w, "cleanrun.engine", cln_runtime_engine(in->rt)->version);
    xprop(w, "cleanrun.file", t->file);
    snprintf(v, sizeof(v), "%u", t->line);
    xprop(w, "cleanrun.line", v);
    xprop(w, "cleanrun.status", cln_status_name(done ? r->status : CLN_ST_SKIPPED));
    xprop(w, "cleanrun.lockout", in->lockout && in->lockout->in_force ? "in force" : "off");
    if (done && r->any_observed)
        xprop(w, "cleanrun.isolation", cln_verdict_name(r->verdict));
    for (size_t k = 0; k < t->matrix.len; k++) {
        cleanup_free char *n = cln_xasprintf("cleanrun.matrix.%s", t->matrix.items[k].key);
        xprop(w, n, t->matrix.items[k].value);
    }
    for (size_t k = 0; done && k < r->nsteps; k++) {
        const struct cln_step_result *s = &r->steps[k];
        if (!s->observed)
            continue;
        cleanup_free char *n1 = cln_xasprintf("cleanrun.step.%zu.isolation", k + 1);
        cleanup_free char *n2 = cln_xasprintf("cleanrun.step.%zu.isolation.reason", k + 1);
        cleanup_free char *n3 = cln_xasprintf("cleanrun.step.%zu.container", k + 1);
        xprop(w, n1, cln_verdict_name(s->evidence.verdict));
        xprop(w, n2, s->evidence.reason);
        xprop(w, n3, s->evidence.container_id);
    }
    xmlTextWriterEndElement(w);

    if (setup_case) {
        xmlTextWriterStartElement(w, BAD_CAST "testcase");
        xattr(w, "name", "(setup)");
        xattr(w, "classname", t->name);
        xattr(w, "time", "0.000");
        xmlTextWriterStartElement(w, BAD_CAST "error");
        xattr(w, "message", cln_error_text(r->error));
        xattr(w, "type", r->status == CLN_ST_TIMEOUT ? "timeout" : "infrastructure");
        xtext(w, cln_error_text(r->error), strlen(cln_error_text(r->error)));
        xmlTextWriterEndElement(w);
        xmlTextWriterEndElement(w);
    }
    struct cln_buf out = CLN_BUF_INIT, err = CLN_BUF_INIT;
    for (size_t k = 0; k < t->nsteps; k++) {
        const struct cln_step_result *s = done && k < r->nsteps ? &r->steps[k] : NULL;
        const struct cln_attempt *a = s ? cln_report_last_attempt(s) : NULL;
        xmlTextWriterStartElement(w, BAD_CAST "testcase");
        xattr(w, "name", t->steps[k].name);
        xattr(w, "classname", t->name);
        xattrf(w, "time", "%.3f", s ? (double)s->duration_ms / 1000.0 : 0.0);
        enum cln_status st = s ? s->status : CLN_ST_SKIPPED;
        if (st == CLN_ST_SKIPPED) {
            xmlTextWriterStartElement(w, BAD_CAST "skipped");
            xattr(w, "message",
                  done ? "not run: an earlier step failed or the test stopped"
                       : "not run: the run was interrupted");
            xmlTextWriterEndElement(w);
        } else if (st != CLN_ST_PASSED && a) {
            bool is_err = st == CLN_ST_ERROR;
            xmlTextWriterStartElement(w, BAD_CAST(is_err ? "error" : "failure"));
            cleanup_free char *msg = failure_message(a);
            cleanup_free char *txt = failure_text(s, a);
            xattr(w, "message", msg);
            xattr(w, "type",
                  is_err          ? "infrastructure"
                  : a->timed_out  ? "timeout"
                  : a->oom_killed ? "oom"
                                  : "expectation");
            xtext(w, txt, strlen(txt));
            xmlTextWriterEndElement(w);
        }
        xmlTextWriterEndElement(w);
        if (a && a->out.data.len) {
            cln_buf_printf(&out, "== step %zu \"%s\" stdout ==\n", k + 1, t->steps[k].name);
            append_output(&out, a->out.data.data,
                          a->out.data.len > CLN_REPORT_OUTPUT_CAP ? CLN_REPORT_OUTPUT_CAP
                                                                  : a->out.data.len);
            cln_buf_putc(&out, '\n');
        }
        if (a && a->err.data.len) {
            cln_buf_printf(&err, "== step %zu \"%s\" stderr ==\n", k + 1, t->steps[k].name);
            append_output(&err, a->err.data.data,
                          a->err.data.len > CLN_REPORT_OUTPUT_CAP ? CLN_REPORT_OUTPUT_CAP
                                                                  : a->err.data.len);
            cln_buf_putc(&err, '\n');
        }
    }
    /* --artifacts: attachments as Jenkins' JUnit Attachments plugin reads
     * them (the schema has no system-out in a testcase: the suite's) */
    for (size_t k = 0; done && k < r->nsteps; k++)
        for (size_t j = 0; j < r->steps[k].nartifacts; j++)
            for (size_t f = 0; f < r->steps[k].artifacts[j].attachments.n; f++)
                cln_buf_printf(&out, "[[ATTACHMENT|%s]]\n",
                               r->steps[k].artifacts[j].attachments.v[f]);
    for (size_t k = 0; done && k < r->nservices; k++)
        for (size_t j = 0; j < r->services[k].nartifacts; j++)
            for (size_t f = 0; f < r->services[k].artifacts[j].attachments.n; f++)
                cln_buf_printf(&out, "[[ATTACHMENT|%s]]\n",
                               r->services[k].artifacts[j].attachments.v[f]);
    for (size_t k = 0; done && k < r->nservices; k++)
        if (r->services[k].log_tail && *r->services[k].log_tail) {
            cln_buf_printf(&err, "== service %s: last log lines ==\n",
                           r->services[k].service->name);
            append_output(&err, r->services[k].log_tail, strlen(r->services[k].log_tail));
            cln_buf_putc(&err, '\n');
        }
    xmlTextWriterStartElement(w, BAD_CAST "system-out");
    xtext(w, out.data, out.len);
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "system-err");
    xtext(w, err.data, err.len);
    xmlTextWriterEndElement(w);
    cln_buf_done(&out);
    cln_buf_done(&err);
    xmlTextWriterEndElement(w);
}

char *cln_report_junit(const struct cln_report_input *in)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");
    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL);
    xmlTextWriterStartElement(w, BAD_CAST "testsuites");
    char host[256];
    cln_report_host_name(host, sizeof(host));
    for (size_t i = 0; i < in->n; i++)
        junit_suite(w, in, i, host);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    char *ret = cln_xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return ret;
}
