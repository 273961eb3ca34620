/* The JSON report (docs/reports.md, docs/report.schema.json), with cJSON. */
#include "report-internal.h"

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
    cJSON *k = cJSON_AddObjectToObject(o, "kernel");
    cJSON_AddBoolToObject(k, "vm", e->vm);
    cJSON_AddItemToObject(k, "guest_boot_id", jstr(e->guest_boot_id));
    cJSON_AddItemToObject(k, "host_boot_id", jstr(e->host_boot_id));
    cJSON_AddBoolToObject(k, "shared", e->shares_kernel);
    cJSON *cn = cJSON_AddObjectToObject(o, "canary");
    cJSON_AddItemToObject(cn, "path", jstr(e->canary_path));
    cJSON_AddStringToObject(cn, "state", cln_canary_state_name(e->canary));
    cJSON_AddItemToObject(cn, "note", jstr(e->canary_note));
    cJSON_AddItemToObject(cn, "written_by",
                          e->canary_by ? cJSON_CreateString(e->canary_by) : cJSON_CreateNull());
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

/* --artifacts: each path, where it went, how much, what went wrong */
static cJSON *jartifacts(const struct cln_artifact *v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "path", jstr(v[i].path));
        cJSON_AddItemToObject(o, "saved", jstr(v[i].saved));
        cJSON_AddNumberToObject(o, "bytes", (double)v[i].bytes);
        cJSON_AddNumberToObject(o, "files", (double)v[i].files);
        cJSON_AddNumberToObject(o, "skipped", (double)v[i].skipped);
        cJSON_AddBoolToObject(o, "truncated", v[i].truncated);
        cJSON_AddItemToObject(o, "error", jstr(v[i].error));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
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
    const struct cln_attempt *a = cln_report_last_attempt(s);
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
    cJSON_AddItemToObject(o, "artifacts", jartifacts(s->artifacts, s->nartifacts));
    return o;
}

static cJSON *jtest(const struct cln_report_input *in, size_t i)
{
    const struct cln_spec_test *t = &in->tests[i];
    const struct cln_test_result *r = &in->results[i];
    bool done = cln_report_result_done(in, i);
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
        cln_report_iso_time(r->started_unix_ms, true, ts, sizeof(ts));
        cJSON_AddStringToObject(o, "start", ts);
    } else {
        cJSON_AddNullToObject(o, "start");
    }
    cJSON_AddNumberToObject(o, "duration_ms", done ? (double)r->duration_ms : 0);
    add_error(o, "error", done ? r->error : NULL);
    cJSON_AddItemToObject(o, "network", jstr(done ? r->network : NULL));
    cJSON_AddItemToObject(o, "network_note", jstr(done ? r->network_note : NULL));
    cJSON_AddItemToObject(o, "artifacts_dir", jstr(done ? r->artifacts_dir : NULL));
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
        cJSON_AddItemToObject(s, "artifacts", jartifacts(sr->artifacts, sr->nartifacts));
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
    cJSON_AddItemToObject(eng, "limits_not_applied",
                          jstr(cln_runtime_missing_requires(in->rt, CLN_FEATURE_LIMITS)));
    char hb[256], ts[40];
    cJSON_AddItemToObject(run, "host", jstr(cln_report_host_name(hb, sizeof(hb))));
    cln_report_iso_time(in->start_unix_ms, true, ts, sizeof(ts));
    cJSON_AddStringToObject(run, "start", ts);
    cln_report_iso_time(in->end_unix_ms, true, ts, sizeof(ts));
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
    struct cln_report_counts c;
    cln_report_count_all(in, &c);
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
