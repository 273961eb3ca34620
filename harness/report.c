/* Reports: JSON with cJSON, JUnit XML with libxml2's xmlwriter, TAP 13 with
 * YAML diagnostics from libyaml's emitter. */
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- text ---- */

static bool keep_char(int c, enum cln_text_mode mode)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return true;
    switch (mode) {
    case CLN_TEXT_JSON:
        return c != 0;
    case CLN_TEXT_XML: /* XML 1.0 Char */
        return (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
    case CLN_TEXT_YAML: /* what libyaml writes without escapes YAMLish cannot read */
        return !(c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
                 c == 0xFEFF || c == 0xFFFE || c == 0xFFFF);
    }
    return true;
}

char *cln_text_clean(const char *data, size_t len, enum cln_text_mode mode, size_t *ret_changed)
{
    struct cln_buf b = CLN_BUF_INIT;
    size_t changed = 0;
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        int n = (int)(len - i > 4 ? 4 : len - i);
        int c = p[i] < 0x80 ? p[i] : xmlGetUTF8Char(p + i, &n);
        if (p[i] < 0x80)
            n = 1;
        if (c < 0 || n <= 0) { /* an invalid byte */
            if (mode != CLN_TEXT_XML)
                cln_buf_puts(&b, "\xEF\xBF\xBD");
            changed++;
            i++;
            continue;
        }
        if (!keep_char(c, mode)) {
            if (mode != CLN_TEXT_XML)
                cln_buf_puts(&b, "\xEF\xBF\xBD");
            changed += (size_t)n;
        } else {
            cln_buf_append(&b, (const char *)p + i, (size_t)n);
        }
        i += (size_t)n;
    }
    if (ret_changed)
        *ret_changed = changed;
    if (!b.data)
        cln_buf_puts(&b, "");
    return cln_buf_steal(&b);
}

static void iso_time(int64_t unix_ms, bool with_ms, char *out, size_t size)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms && n + 6 < size)
        snprintf(out + n, size - n, ".%03dZ", (int)(unix_ms % 1000));
}

static const char *host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) < 0 || !buf[0])
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
    return buf;
}

static const struct cln_attempt *last_attempt(const struct cln_step_result *s)
{
    return s->nattempts ? &s->attempts[s->nattempts - 1] : NULL;
}

static bool result_done(const struct cln_report_input *in, size_t i)
{
    return !in->done || in->done[i];
}

struct counts {
    size_t st[5];
    size_t verdicts[3];
};

static void count_all(const struct cln_report_input *in, struct counts *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < in->n; i++) {
        const struct cln_test_result *r = &in->results[i];
        c->st[result_done(in, i) ? r->status : CLN_ST_SKIPPED]++;
        for (size_t k = 0; result_done(in, i) && k < r->nsteps; k++)
            if (r->steps[k].observed)
                c->verdicts[r->steps[k].evidence.verdict]++;
    }
}

/* ---- JSON ---- */

static cJSON *jstr(const char *s)
{
    if (!s)
        return cJSON_CreateNull();
    cleanup_free char *c = cln_text_clean(s, strlen(s), CLN_TEXT_JSON, NULL);
    return cJSON_CreateString(c);
}

static cJSON *jstrv(const char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, jstr(v[i]));
    return a;
}

static cJSON *jcapture(const struct cln_capture *c)
{
    cJSON *o = cJSON_CreateObject();
    size_t keep = c->data.len > CLN_REPORT_OUTPUT_CAP ? CLN_REPORT_OUTPUT_CAP : c->data.len;
    size_t changed = 0;
    cleanup_free char *t =
        cln_text_clean(c->data.data ? c->data.data : "", keep, CLN_TEXT_JSON, &changed);
    cJSON_AddStringToObject(o, "text", t);
    cJSON_AddNumberToObject(o, "size", (double)(c->total ? c->total : c->data.len));
    cJSON_AddNumberToObject(o, "kept", (double)keep);
    cJSON_AddBoolToObject(o, "truncated", c->truncated || keep < c->data.len);
    cJSON_AddNumberToObject(o, "replaced_bytes", (double)changed);
    return o;
}

static cJSON *jfailures(const struct cln_attempt *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; a && i < a->nfailures; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddItemToObject(f, "what", jstr(a->failures[i].what));
        cJSON_AddItemToObject(f, "expected", jstr(a->failures[i].expected));
        cJSON_AddItemToObject(f, "actual", jstr(a->failures[i].actual));
        cJSON_AddItemToObject(f, "diff", jstr(a->failures[i].diff));
        cJSON_AddItemToArray(arr, f);
    }
    return arr;
}

static cJSON *jevidence(const struct cln_evidence *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "verdict", cln_verdict_name(e->verdict));
    cJSON_AddItemToObject(o, "reason", jstr(e->reason));
    cJSON_AddStringToObject(o, "method", e->method ? e->method : "none");
    cJSON_AddBoolToObject(o, "engine_local", e->local);
    cJSON_AddItemToObject(o, "container_id", jstr(e->container_id));
    cJSON_AddItemToObject(o, "container_name", jstr(e->container_name));
    cJSON_AddItemToObject(o, "image_id", jstr(e->image_id));
    cJSON_AddItemToObject(o, "exec_id", jstr(e->exec_id));
    cJSON_AddNumberToObject(o, "exec_host_pid", e->exec_host_pid);
    cJSON_AddNumberToObject(o, "observed_pid", e->observed_pid);
    cJSON_AddNumberToObject(o, "observed_start_ticks", (double)e->observed_start);
    cJSON *ns = cJSON_AddObjectToObject(o, "namespaces");
    for (int i = 0; i < CLN_NS_COUNT; i++) {
        cJSON *n = cJSON_AddObjectToObject(ns, cln_ns_names[i]);
        cJSON_AddNumberToObject(n, "container", (double)e->ns.ino[i]);
        cJSON_AddNumberToObject(n, "host", (double)e->host_ns.ino[i]);
        cJSON_AddBoolToObject(n, "shared", e->ns.ino[i] && e->ns.ino[i] == e->host_ns.ino[i]);
    }
    cJSON_AddItemToObject(o, "cgroup", jstr(e->cgroup));
    cJSON *cn = cJSON_AddObjectToObject(o, "canary");
    cJSON_AddItemToObject(cn, "path", jstr(e->canary_path));
    cJSON_AddStringToObject(cn, "state", cln_canary_state_name(e->canary));
    cJSON_AddItemToObject(cn, "note", jstr(e->canary_note));
    cJSON *rq = cJSON_AddObjectToObject(o, "requested");
    cJSON_AddBoolToObject(rq, "host_network", e->request.host_network);
    cJSON_AddBoolToObject(rq, "host_pid", e->request.host_pid);
    cJSON_AddBoolToObject(rq, "privileged", e->request.privileged);
    cJSON_AddBoolToObject(rq, "host_mounts", e->request.host_mounts);
    cJSON_AddBoolToObject(rq, "outbound", e->request.outbound);
    cJSON_AddBoolToObject(o, "pid_proven", e->pid_proven);
    cJSON *net = cJSON_AddObjectToObject(o, "network");
    cJSON_AddStringToObject(net, "mode", cln_net_mode_name(e->net_mode));
    cJSON_AddItemToObject(net, "reason", jstr(e->net_reason));
    return o;
}

/* An error as the report carries it: its text under key, and the chain
 * (layers outermost first, codes, errno, the backend's detail) under
 * key_chain; both null when there is none. */
static void add_error(cJSON *o, const char *key, const struct cln_error *e)
{
    char chain[64];
    snprintf(chain, sizeof(chain), "%s_chain", key);
    cJSON_AddItemToObject(o, key, jstr(cln_error_text(e)));
    if (e)
        cJSON_AddItemToObject(o, chain, cln_error_to_json(e));
    else
        cJSON_AddNullToObject(o, chain);
}

static cJSON *jattempt(const struct cln_attempt *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", cln_status_name(a->status));
    if (a->error)
        cJSON_AddNumberToObject(o, "exit_code", -1);
    else
        cJSON_AddNumberToObject(o, "exit_code", a->exit_code);
    cJSON_AddBoolToObject(o, "timed_out", a->timed_out);
    cJSON_AddBoolToObject(o, "oom_killed", a->oom_killed);
    cJSON_AddNumberToObject(o, "duration_ms", (double)a->duration_ms);
    cJSON_AddItemToObject(o, "exec_id", jstr(a->exec_id));
    cJSON_AddItemToObject(o, "kill_method", jstr(a->timed_out ? a->kill_method : NULL));
    cJSON_AddItemToObject(o, "limit", jstr(a->timed_out ? a->limit : NULL));
    add_error(o, "error", a->error);
    cJSON_AddItemToObject(o, "stdout", jcapture(&a->out));
    cJSON_AddItemToObject(o, "stderr", jcapture(&a->err));
    cJSON_AddItemToObject(o, "failures", jfailures(a));
    return o;
}

static cJSON *jstep(const struct cln_step_result *s, size_t index)
{
    const struct cln_spec_step *sp = s->step;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)index + 1);
    cJSON_AddItemToObject(o, "name", jstr(sp->name));
    cJSON_AddNumberToObject(o, "line", sp->line);
    const struct cln_strv *argv = s->argv.n ? &s->argv : &sp->argv;
    cJSON_AddItemToObject(o, "command", jstrv((const char *const *)argv->v, argv->n));
    cJSON_AddBoolToObject(o, "shell", sp->shell);
    cJSON *w = cJSON_AddObjectToObject(o, "where");
    cJSON_AddStringToObject(w, "kind", sp->service ? "service" : "fresh-container");
    cJSON_AddItemToObject(w, "service", jstr(sp->service));
    cJSON_AddItemToObject(w, "image", jstr(sp->image));
    cJSON_AddItemToObject(w, "container_id", jstr(s->container_id));
    cJSON_AddItemToObject(w, "text", jstr(s->where));
    cJSON_AddStringToObject(o, "status", cln_status_name(s->status));
    const struct cln_attempt *a = last_attempt(s);
    if (a && !a->error)
        cJSON_AddNumberToObject(o, "exit_code", a->exit_code);
    else
        cJSON_AddNullToObject(o, "exit_code");
    cJSON_AddNumberToObject(o, "duration_ms", (double)s->duration_ms);
    cJSON_AddNumberToObject(o, "attempts_count", (double)s->nattempts);
    static const struct cln_capture empty = {0};
    cJSON_AddItemToObject(o, "stdout", jcapture(a ? &a->out : &empty));
    cJSON_AddItemToObject(o, "stderr", jcapture(a ? &a->err : &empty));
    cJSON_AddItemToObject(o, "failures", jfailures(a));
    add_error(o, "error", a ? a->error : NULL);
    cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; s->attempts && i < s->nattempts; i++)
        cJSON_AddItemToArray(arr, jattempt(&s->attempts[i]));
    if (s->observed)
        cJSON_AddItemToObject(o, "isolation", jevidence(&s->evidence));
    else
        cJSON_AddNullToObject(o, "isolation");
    return o;
}

static cJSON *jtest(const struct cln_report_input *in, size_t i)
{
    const struct cln_spec_test *t = &in->tests[i];
    const struct cln_test_result *r = &in->results[i];
    bool done = result_done(in, i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "name", jstr(t->name));
    cJSON_AddItemToObject(o, "file", jstr(t->file));
    cJSON_AddNumberToObject(o, "line", t->line);
    cJSON_AddItemToObject(o, "description", jstr(t->description));
    cJSON_AddItemToObject(o, "tags", jstrv((const char *const *)t->tags.v, t->tags.n));
    cJSON *m = cJSON_AddObjectToObject(o, "matrix");
    for (size_t k = 0; k < t->matrix.len; k++)
        cJSON_AddItemToObject(m, t->matrix.items[k].key, jstr(t->matrix.items[k].value));
    cJSON_AddStringToObject(o, "status", cln_status_name(done ? r->status : CLN_ST_SKIPPED));
    cJSON_AddBoolToObject(o, "complete", done);
    if (done && r->started_unix_ms) {
        char ts[40];
        iso_time(r->started_unix_ms, true, ts, sizeof(ts));
        cJSON_AddStringToObject(o, "start", ts);
    } else {
        cJSON_AddNullToObject(o, "start");
    }
    cJSON_AddNumberToObject(o, "duration_ms", done ? (double)r->duration_ms : 0);
    add_error(o, "error", done ? r->error : NULL);
    cJSON_AddItemToObject(o, "network", jstr(done ? r->network : NULL));
    cJSON_AddItemToObject(o, "network_note", jstr(done ? r->network_note : NULL));
    if (done && r->any_observed)
        cJSON_AddStringToObject(o, "verdict", cln_verdict_name(r->verdict));
    else
        cJSON_AddNullToObject(o, "verdict");
    cJSON *svcs = cJSON_AddArrayToObject(o, "services");
    for (size_t k = 0; done && k < r->nservices; k++) {
        const struct cln_service_result *sr = &r->services[k];
        cJSON *s = cJSON_CreateObject();
        cJSON_AddItemToObject(s, "name", jstr(sr->service->name));
        cJSON_AddItemToObject(s, "image", jstr(sr->service->image));
        cJSON_AddItemToObject(s, "image_id", jstr(sr->image_id));
        cJSON_AddItemToObject(s, "image_digest", jstr(sr->image_digest));
        cJSON_AddItemToObject(s, "container_id", jstr(sr->container_id));
        if (sr->container_id && !sr->error)
            cJSON_AddNumberToObject(s, "ready_ms", (double)sr->ready_ms);
        else
            cJSON_AddNullToObject(s, "ready_ms");
        cJSON *ports = cJSON_AddObjectToObject(s, "ports");
        for (size_t p = 0; sr->host_ports && p < sr->service->nports; p++) {
            char key[16];
            snprintf(key, sizeof(key), "%u", sr->service->ports[p]);
            cJSON_AddNumberToObject(ports, key, sr->host_ports[p]);
        }
        add_error(s, "error", sr->error);
        cJSON_AddItemToObject(s, "log_tail", jstr(sr->log_tail));
        if (sr->observed)
            cJSON_AddItemToObject(s, "isolation", jevidence(&sr->evidence));
        else
            cJSON_AddNullToObject(s, "isolation");
        cJSON_AddItemToArray(svcs, s);
    }
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    for (size_t k = 0; done && k < r->nsteps; k++)
        cJSON_AddItemToArray(steps, jstep(&r->steps[k], k));
    cJSON *te = cJSON_AddArrayToObject(o, "teardown_errors");
    cJSON *tc = cJSON_AddArrayToObject(o, "teardown_error_chains");
    for (size_t k = 0; done && k < r->nteardown_errors; k++) {
        cJSON_AddItemToArray(te, jstr(cln_error_text(r->teardown_errors[k])));
        cJSON_AddItemToArray(tc, cln_error_to_json(r->teardown_errors[k]));
    }
    return o;
}

char *cln_report_json(const struct cln_report_input *in)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", CLN_REPORT_SCHEMA);
    cJSON_AddBoolToObject(root, "partial", in->partial);
    cJSON_AddItemToObject(root, "partial_reason", jstr(in->partial ? in->partial_reason : NULL));
    cJSON *run = cJSON_AddObjectToObject(root, "run");
    cJSON_AddItemToObject(run, "id", jstr(in->run_id));
    cJSON_AddItemToObject(run, "cleanrun_version", jstr(in->version));
    cJSON_AddItemToObject(run, "backend", jstr(cln_runtime_name(in->rt)));
    cJSON *eng = cJSON_AddObjectToObject(run, "engine");
    cJSON_AddItemToObject(eng, "name", jstr(cln_runtime_engine(in->rt)->engine));
    cJSON_AddItemToObject(eng, "version", jstr(cln_runtime_engine(in->rt)->version));
    cJSON_AddItemToObject(eng, "api_version", jstr(cln_runtime_engine(in->rt)->api_version));
    cJSON_AddItemToObject(eng, "endpoint", jstr(cln_runtime_endpoint(in->rt)));
    cJSON_AddBoolToObject(eng, "local", cln_runtime_local(in->rt));
    char hb[256], ts[40];
    cJSON_AddItemToObject(run, "host", jstr(host_name(hb, sizeof(hb))));
    iso_time(in->start_unix_ms, true, ts, sizeof(ts));
    cJSON_AddStringToObject(run, "start", ts);
    iso_time(in->end_unix_ms, true, ts, sizeof(ts));
    cJSON_AddStringToObject(run, "end", ts);
    cJSON_AddNumberToObject(run, "duration_ms", (double)in->duration_ms);
    cJSON *op = cJSON_AddObjectToObject(run, "options");
    cJSON_AddNumberToObject(op, "jobs", in->jobs);
    cJSON_AddBoolToObject(op, "fail_fast", in->fail_fast);
    cJSON_AddBoolToObject(op, "gc", in->gc);
    cJSON_AddItemToObject(op, "filter", jstr(in->filter));
    cJSON_AddItemToObject(op, "tags", jstrv(in->tags, in->ntags));
    cJSON_AddItemToObject(op, "shard", jstr(in->shard));
    if (in->timeout_ms)
        cJSON_AddNumberToObject(op, "timeout_ms", (double)in->timeout_ms);
    else
        cJSON_AddNullToObject(op, "timeout_ms");
    cJSON *al = cJSON_AddArrayToObject(op, "allow");
    for (unsigned bit = 1; bit <= CLN_ALLOW_ENGINE_SOCKET; bit <<= 1)
        if (in->allow & bit)
            cJSON_AddItemToArray(al, cJSON_CreateString(cln_allow_flag((enum cln_allow)bit)));
    cJSON *lo = cJSON_AddObjectToObject(run, "lockout");
    cJSON_AddBoolToObject(lo, "in_force", in->lockout && in->lockout->in_force);
    cJSON_AddItemToObject(lo, "method", jstr(in->lockout ? in->lockout->method : NULL));
    cJSON *hp = cJSON_AddArrayToObject(run, "host_processes");
    size_t nprocs = 0;
    struct cln_host_process *procs = cln_runtime_host_processes(in->rt, &nprocs);
    for (size_t i = 0; i < nprocs; i++) {
        const struct cln_host_process *pr = &procs[i];
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "path", jstr(pr->path));
        size_t n = 0;
        while (pr->argv[n])
            n++;
        cJSON_AddItemToObject(p, "argv", jstrv((const char *const *)pr->argv, n));
        cJSON_AddItemToArray(hp, p);
    }
    cln_host_processes_free(procs, nprocs);
    cJSON *la = cJSON_AddObjectToObject(run, "leak_audit");
    const struct cln_leak_audit *au = in->audit;
    cJSON_AddBoolToObject(la, "done", au && au->done);
    cJSON_AddItemToObject(la, "error", jstr(au ? au->error : NULL));
    cJSON *lk = cJSON_AddArrayToObject(la, "leaks");
    for (size_t i = 0; au && i < au->n; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "kind", au->items[i].kind);
        cJSON_AddItemToObject(l, "name", jstr(au->items[i].name));
        cJSON_AddItemToObject(l, "test", jstr(au->items[i].test));
        cJSON_AddItemToArray(lk, l);
    }
    cJSON_AddNumberToObject(la, "removed", au ? (double)au->removed : 0);
    cJSON_AddNumberToObject(run, "exit_code", in->exit_code);
    struct counts c;
    count_all(in, &c);
    cJSON *su = cJSON_AddObjectToObject(run, "summary");
    cJSON_AddNumberToObject(su, "tests", (double)in->n);
    static const char *const names[] = {"passed", "failed", "errors", "timed_out", "skipped"};
    for (int k = 0; k < 5; k++)
        cJSON_AddNumberToObject(su, names[k], (double)c.st[k]);
    cJSON *iso = cJSON_AddObjectToObject(su, "isolation");
    for (int k = 0; k < 3; k++)
        cJSON_AddNumberToObject(iso, cln_verdict_name((enum cln_verdict)k), (double)c.verdicts[k]);
    cJSON *tests = cJSON_AddArrayToObject(root, "tests");
    for (size_t i = 0; i < in->n; i++)
        cJSON_AddItemToArray(tests, jtest(in, i));
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    char *ret = cln_xasprintf("%s\n", out);
    free(out);
    return ret;
}

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

static void junit_suite(xmlTextWriterPtr w, const struct cln_report_input *in, size_t i,
                        const char *host)
{
    const struct cln_spec_test *t = &in->tests[i];
    const struct cln_test_result *r = &in->results[i];
    bool done = result_done(in, i);
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
    iso_time(done && r->started_unix_ms ? r->started_unix_ms : in->start_unix_ms, false, ts,
             sizeof(ts));
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
        const struct cln_attempt *a = s ? last_attempt(s) : NULL;
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
            cln_buf_append(&out, a->out.data.data,
                           a->out.data.len > CLN_REPORT_OUTPUT_CAP ? CLN_REPORT_OUTPUT_CAP
                                                                   : a->out.data.len);
            cln_buf_putc(&out, '\n');
        }
        if (a && a->err.data.len) {
            cln_buf_printf(&err, "== step %zu \"%s\" stderr ==\n", k + 1, t->steps[k].name);
            cln_buf_append(&err, a->err.data.data,
                           a->err.data.len > CLN_REPORT_OUTPUT_CAP ? CLN_REPORT_OUTPUT_CAP
                                                                   : a->err.data.len);
            cln_buf_putc(&err, '\n');
        }
    }
    for (size_t k = 0; done && k < r->nservices; k++)
        if (r->services[k].log_tail && *r->services[k].log_tail)
            cln_buf_printf(&err, "== service %s: last log lines ==\n%s\n",
                           r->services[k].service->name, r->services[k].log_tail);
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
    host_name(host, sizeof(host));
    for (size_t i = 0; i < in->n; i++)
        junit_suite(w, in, i, host);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    char *ret = cln_xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return ret;
}

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
        const struct cln_attempt *a = last_attempt(s);
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
        bool done = result_done(in, i);
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

/* ---- files ---- */

int cln_report_write_file(const char *path, const char *data, struct cln_error **err)
{
    cleanup_free char *tmp = cln_xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "report %s: create a temporary file beside it",
                             path);
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return cln_error_set(err, CLN_E_IO, e, "report %s: write", path);
        }
        off += (size_t)n;
    }
    /* mkstemp makes it 0600: give it what a plain create would (0666 less
     * the umask) */
    mode_t um = umask(0);
    umask(um);
    int r = fchmod(fd, 0666 & ~um) < 0 || fsync(fd) < 0 ? -1 : 0;
    int e = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        e = errno;
    }
    if (r < 0) {
        unlink(tmp);
        return cln_error_set(err, CLN_E_IO, e, "report %s: fsync", path);
    }
    if (rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        return cln_error_set(err, CLN_E_IO, e, "report %s: rename into place", path);
    }
    return 0;
}
