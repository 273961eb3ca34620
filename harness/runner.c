/* The runner: tests on worker threads, one test from start to teardown,
 * the per-test state (limits, what to tear down), service facts, results. */
#include "runner-internal.h"

#include <arpa/inet.h>
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
#include "runtime/base/xalloc.h"

const char *cln_status_name(enum cln_status s)
{
    switch (s) {
    case CLN_ST_PASSED:
        return "passed";
    case CLN_ST_FAILED:
        return "failed";
    case CLN_ST_ERROR:
        return "error";
    case CLN_ST_TIMEOUT:
        return "timeout";
    case CLN_ST_SKIPPED:
        return "skipped";
    }
    return "?";
}

void cln_runner_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

char *cln_runner_text(struct cln_error *e)
{
    char *m = cln_error_render(e);
    cln_error_free(e);
    return m;
}

struct cln_error *__attribute__((format(printf, 2, 3)))
cln_runner_wrap(struct cln_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *prefix = cln_xvasprintf(fmt, ap);
    va_end(ap);
    if (!e)
        return cln_error_make(CLN_E_INTERNAL, 0, "%s: (no error given)", prefix);
    cln_error_wrap(&e, "%s", prefix);
    return e;
}

/* ---- per-test state ---- */

bool cln_runner_interrupted(const struct test_ctx *c)
{
    return c->run->opts->interrupted && *c->run->opts->interrupted;
}

/* The limit in force and its description ("the test's timeout (20s)"). */
static void set_limit(struct test_ctx *c, uint64_t test_deadline)
{
    char d[32];
    uint64_t rd = c->run->run_deadline;
    if (rd && (!test_deadline || rd < test_deadline)) {
        c->deadline = rd;
        snprintf(c->limit, sizeof(c->limit), "the run's --timeout (%s)",
                 cln_duration_format_limit(c->run->opts->run_timeout_ms, d, sizeof(d)));
    } else if (test_deadline) {
        c->deadline = test_deadline;
        snprintf(c->limit, sizeof(c->limit), "the test's timeout (%s)",
                 cln_duration_format_limit(c->t->timeout_ms, d, sizeof(d)));
    } else {
        c->deadline = 0;
        c->limit[0] = '\0';
    }
}

/* What is left of the limit, capped at want (0: no cap of its own). */
uint64_t cln_runner_remaining(const struct test_ctx *c, uint64_t want)
{
    if (!c->deadline)
        return want;
    uint64_t now = now_ms();
    uint64_t left = c->deadline > now ? c->deadline - now : 1;
    return want && want < left ? want : left;
}

bool cln_runner_deadline_passed(const struct test_ctx *c)
{
    return c->deadline && now_ms() >= c->deadline;
}

/* Every engine request of this thread ends by the limit, and the grace to
 * stop what ran. */
void cln_runner_enter_limit(const struct test_ctx *c)
{
    char what[200];
    if (!c->deadline) {
        cln_deadline_set(0, NULL);
        return;
    }
    snprintf(what, sizeof(what), "%s and %d s to stop what ran", c->limit, STOP_GRACE_MS / 1000);
    cln_deadline_set(c->deadline + STOP_GRACE_MS, what);
}

void cln_runner_track(struct test_ctx *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    cln_strv_add(&c->containers, id);
    pthread_mutex_unlock(&c->lock);
}

static void teardown_error(struct cln_test_result *r, struct cln_error *e)
{
    r->teardown_errors =
        cln_xrealloc(r->teardown_errors, (r->nteardown_errors + 1) * sizeof(struct cln_error *));
    r->teardown_errors[r->nteardown_errors++] = e;
}

/* Remove one tracked container now (ephemeral steps). */
static void *remove_in_background(void *ud)
{
    struct test_ctx *c = ud;
    (void)cln_rt_remove(c->run->rt, c->removing_id, true, &c->removing_error);
    return NULL;
}

/* The removal in the background, finished: its error is the test's. */
static void await_removal(struct test_ctx *c)
{
    if (!c->removing)
        return;
    pthread_join(c->remover, NULL);
    c->removing = false;
    if (c->removing_error)
        teardown_error(c->r, c->removing_error);
    c->removing_error = NULL;
    free(c->removing_id);
    c->removing_id = NULL;
}

/* A fresh container, done with: removed while the test goes on (its next
 * step's container is created and started meanwhile: the engine's work of
 * removing one, mostly waiting, overlaps the next's), one at a time; the
 * test's teardown waits for it.  Synchronously when no thread can be had. */
void cln_runner_untrack_remove(struct test_ctx *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->containers.n; i++) {
        if (strcmp(c->containers.v[i], id) != 0)
            continue;
        char *mine = cln_strv_take(&c->containers, i);
        pthread_mutex_unlock(&c->lock);
        await_removal(c);
        c->removing_id = mine;
        c->removing_error = NULL;
        if (pthread_create(&c->remover, NULL, remove_in_background, c) == 0) {
            c->removing = true;
            return;
        }
        remove_in_background(c);
        if (c->removing_error)
            teardown_error(c->r, c->removing_error);
        c->removing_error = NULL;
        free(mine);
        c->removing_id = NULL;
        return;
    }
    pthread_mutex_unlock(&c->lock);
}

void cln_runner_teardown(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    await_removal(c);
    /* all of them in one request where the runtime takes several */
    if (c->containers.n) {
        size_t n = c->containers.n;
        struct cln_error **errs = cln_xcalloc(n, sizeof(struct cln_error *));
        struct cln_error *e = NULL;
        /* the last made first (a service before those it depends on) */
        const char **ids = cln_xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            ids[i] = c->containers.v[n - 1 - i];
        if (cln_rt_remove_many(rt, ids, n, true, errs, &e) < 0)
            teardown_error(c->r, e);
        for (size_t i = 0; i < n; i++)
            if (errs[i])
                teardown_error(c->r, errs[i]);
        free(errs);
        free(ids);
    }
    cln_strv_done(&c->containers);
    const char *nets[] = {c->routed, c->r->network};
    for (size_t i = 0; i < 2; i++) {
        struct cln_error *e = NULL;
        if (nets[i] && cln_network_remove(rt, nets[i], &e) < 0)
            teardown_error(c->r, e);
    }
    /* the test's volumes, once nothing mounts them */
    for (size_t i = 0; i < c->volumes.n; i++) {
        struct cln_error *e = NULL;
        if (cln_volume_remove(rt, c->volumes.v[i], true, &e) < 0)
            teardown_error(c->r, cln_runner_wrap(e, "volume %s", c->t->volumes.v[i]));
    }
    cln_strv_done(&c->volumes);
}

void cln_runner_fail_test(struct cln_test_result *r, enum cln_status st, struct cln_error *e)
{
    if (r->status == CLN_ST_PASSED || r->status == CLN_ST_FAILED)
        r->status = st;
    if (!r->error)
        r->error = e;
    else
        cln_error_free(e);
}

/* A container's name, readable in `docker ps` too: the run, the test (its
 * number and name) and what it is (a service, a step), within the engines'
 * rule [a-zA-Z0-9][a-zA-Z0-9_.-]+ (other characters become '-'). */
char *cln_runner_container_name(const struct test_ctx *c, const char *what)
{
    struct cln_buf b = CLN_BUF_INIT;
    cln_buf_printf(&b, "cleanrun-%s-%zu-", c->run->opts->run_id, c->index);
    size_t start = b.len;
    for (const char *p = c->t->name; *p && b.len - start < 40; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        cln_buf_putc(&b, ok ? ch : '-');
    }
    cln_buf_printf(&b, "-%s", what);
    return cln_buf_steal(&b);
}

/* ---- substitution of service facts ---- */

const struct cln_service_result *cln_runner_find_service(const struct test_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->r->nservices; i++)
        if (strcmp(c->r->services[i].service->name, name) == 0)
            return &c->r->services[i];
    return NULL;
}

/* ${service.NAME.host} -> NAME; ${service.NAME.port.N} -> the host port
 * (the loader checked that N is one of NAME's ports). */
char *cln_runner_substitute(const struct test_ctx *c, const char *s)
{
    if (!strstr(s, "${service."))
        return cln_xstrdup(s);
    struct cln_buf b = CLN_BUF_INIT;
    const char *p = s;
    while (*p) {
        const char *m = strstr(p, "${service.");
        if (!m) {
            cln_buf_puts(&b, p);
            break;
        }
        cln_buf_append(&b, p, (size_t)(m - p));
        const char *end = strchr(m, '}');
        char *ref = cln_xstrndup(m + 10, (size_t)(end - m - 10));
        char *dot = strchr(ref, '.');
        *dot = '\0';
        const struct cln_service_result *sr = cln_runner_find_service(c, ref);
        if (strcmp(dot + 1, "host") == 0) {
            cln_buf_puts(&b, ref);
        } else {
            long port = strtol(dot + 6, NULL, 10);
            for (size_t i = 0; sr && i < sr->service->nports; i++)
                if (sr->service->ports[i] == port && sr->host_ports) {
                    cln_buf_printf(&b, "%u", sr->host_ports[i]);
                    break;
                }
        }
        free(ref);
        p = end + 1;
    }
    return cln_buf_steal(&b);
}

void cln_runner_env_vector(const struct test_ctx *c, const struct cln_labels *env,
                           struct cln_strv *ret)
{
    for (size_t i = 0; i < env->len; i++) {
        cleanup_free char *val = cln_runner_substitute(c, env->items[i].value);
        cln_strv_push(ret, cln_xasprintf("%s=%s", env->items[i].key, val));
    }
}

/* ---- one test ---- */

/* The worst verdict of what was observed: every step's, and every
 * service's (a service granted a host mount makes its test unverified
 * even when its steps ran in fresh containers). */
static void judge_test(struct cln_test_result *r)
{
    r->verdict = CLN_VERDICT_ISOLATED;
    for (size_t i = 0; i < r->nsteps; i++)
        if (r->steps[i].observed) {
            r->any_observed = true;
            if (r->steps[i].evidence.verdict > r->verdict)
                r->verdict = r->steps[i].evidence.verdict;
        }
    for (size_t i = 0; i < r->nservices; i++)
        if (r->services[i].observed) {
            r->any_observed = true;
            if (r->services[i].evidence.verdict > r->verdict)
                r->verdict = r->services[i].evidence.verdict;
        }
}

static void run_test(struct run *run, size_t idx)
{
    const struct cln_spec_test *t = &run->tests[idx];
    struct cln_test_result *r = &run->results[idx];
    struct test_ctx c = {.run = run, .index = idx, .t = t, .r = r, .artifacts_fd = -1};
    pthread_mutex_init(&c.lock, NULL);
    uint64_t t0 = now_ms();
    r->started_unix_ms = cln_wall_ms();
    r->test = t;
    r->status = CLN_ST_PASSED;
    set_limit(&c, t->timeout_ms ? t0 + t->timeout_ms : 0);
    cln_runner_enter_limit(&c);
    cln_runtime_labels(&c.labels, run->opts->run_id, run->opts->version, t->name);
    r->services = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(*r->services));
    r->nservices = t->nservices;
    c.svc_hosts_known = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(size_t));
    for (size_t i = 0; i < t->nservices; i++)
        r->services[i].service = &t->services[i];
    r->steps = cln_xcalloc(t->nsteps, sizeof(*r->steps));
    r->nsteps = t->nsteps;
    for (size_t i = 0; i < t->nsteps; i++) {
        r->steps[i].step = &t->steps[i];
        r->steps[i].status = CLN_ST_SKIPPED;
    }

    struct cln_runtime *rt = run->rt;
    /* A network only where containers of the test talk to each other or
     * out: two services or more, a step that asks for one, a service that
     * publishes ports (an engine publishes them from a network) or goes
     * out.  A lone service runs with none, reaching itself by its names
     * at 127.0.0.1, and its steps run inside it. */
    bool wants_net = cln_runner_network_reason(t) != NULL;
    if (!cln_runtime_supports(rt, CLN_FEATURE_NETWORK)) {
        r->network_note = cln_xasprintf("runtime '%s' has no networks: services and steps are "
                                        "not on a private network",
                                        cln_runtime_name(rt));
    } else if (wants_net) {
        char name[96];
        snprintf(name, sizeof(name), "cleanrun-%s-%zu-net", run->opts->run_id, idx);
        char *id = NULL;
        struct cln_error *e = NULL;
        if (cln_network_create(rt, name, &c.labels, true, &id, &c.resolves, &e) < 0) {
            cln_runner_fail_test(r, CLN_ST_ERROR, cln_runner_wrap(e, "test network"));
            goto done;
        }
        free(id);
        r->network = cln_xstrdup(name);
    } /* else nothing of the test is on a network: its steps run with none */
    /* the test's volumes, shared by its containers, removed with it */
    for (size_t i = 0; i < t->volumes.n; i++) {
        char name[160];
        snprintf(name, sizeof(name), "cleanrun-%s-%zu-vol-%s", run->opts->run_id, idx,
                 t->volumes.v[i]);
        char *made = NULL;
        struct cln_error *e = NULL;
        if (cln_volume_create(rt, name, &c.labels, &made, &e) < 0) {
            cln_runner_fail_test(r, CLN_ST_ERROR, cln_runner_wrap(e, "volume %s", t->volumes.v[i]));
            goto done;
        }
        cln_strv_push(&c.volumes, made ? made : cln_xstrdup(name));
    }
    if (cln_runner_ensure_images(&c) < 0 || cln_runner_start_services(&c) < 0)
        goto done;
    for (size_t i = 0; i < t->nsteps; i++) {
        const char *gone = cln_runtime_gone(rt);
        if (gone) {
            cln_runner_fail_test(r, CLN_ST_ERROR,
                                 cln_error_make(CLN_E_TRANSPORT, 0,
                                                "%s: step \"%s\" and those after it did not run",
                                                gone, t->steps[i].name));
            break;
        }
        if (cln_runner_interrupted(&c)) {
            cln_runner_fail_test(r, CLN_ST_ERROR,
                                 cln_error_make(CLN_E_INTERRUPTED, 0, "interrupted"));
            break;
        }
        if (cln_runner_deadline_passed(&c)) {
            cln_runner_fail_test(r, CLN_ST_TIMEOUT,
                                 cln_error_make(CLN_E_TIMEOUT, 0, "%s reached before step \"%s\"",
                                                c.limit, t->steps[i].name));
            break;
        }
        cln_runner_run_step(&c, i);
        enum cln_status st = r->steps[i].status;
        if (st == CLN_ST_PASSED)
            continue;
        if (st == CLN_ST_TIMEOUT && cln_runner_deadline_passed(&c) && !t->steps[i].timeout_ms)
            cln_runner_fail_test(r, CLN_ST_TIMEOUT,
                                 cln_error_make(CLN_E_TIMEOUT, 0, "%s reached in step \"%s\"",
                                                c.limit, t->steps[i].name));
        else if (r->status == CLN_ST_PASSED)
            r->status = st;
        if (!t->steps[i].continue_on_failure || st == CLN_ST_ERROR)
            break;
    }
done:
    /* teardown is bounded by each request's own limits, not the test's */
    cln_deadline_set(0, NULL);
    /* a service whose canary no step wrote (its steps did not run): by a
     * writer now, unless the run is stopping (then it stays not-run) */
    for (size_t i = 0; i < r->nservices; i++) {
        struct cln_service_result *sr = &r->services[i];
        if (sr->observed && sr->canary_token[0] && !cln_runtime_gone(rt) &&
            !cln_runner_interrupted(&c))
            cln_runner_canary_after_step(rt, sr->container_id, &sr->evidence, sr->canary_token);
        sr->canary_token[0] = '\0';
    }
    judge_test(r);
    await_removal(&c); /* the last fresh container's, kept or not */
    bool failed = r->status != CLN_ST_PASSED && r->status != CLN_ST_SKIPPED;
    if (failed) /* what each service said, for whoever reads why */
        for (size_t i = 0; i < r->nservices; i++)
            cln_runner_keep_log_tail(&c, &r->services[i]);
    /* --artifacts: the services' paths (the steps' were saved after each
     * step), and their logs when the test did not pass */
    bool stopping = cln_runner_interrupted(&c) || cln_runtime_gone(rt);
    for (size_t i = 0; run->opts->artifacts_dir && !stopping && i < r->nservices; i++) {
        struct cln_service_result *sr = &r->services[i];
        if (!failed && !run->opts->artifacts_always)
            continue;
        cleanup_free char *sub = cln_xasprintf("services/%s", sr->service->name);
        cln_artifacts_save(&c, sr->container_id, sub, &sr->service->artifacts, &sr->artifacts,
                           &sr->nartifacts);
        if (failed)
            cln_artifacts_save_log(&c, sr);
    }
    if (failed && run->opts->keep_on_failure && !cln_runner_interrupted(&c) &&
        !cln_runtime_gone(rt)) {
        /* left running for inspection: listed, and removed by the next gc
         * (their owner, this run, is gone by then) */
        r->kept = c.containers;
        c.containers = (struct cln_strv){0};
        const char *nets[] = {c.routed, r->network};
        for (size_t i = 0; i < 2; i++)
            if (nets[i])
                cln_strv_add(&r->kept_networks, nets[i]);
        r->kept_volumes = c.volumes; /* kept with them: the next gc removes them */
        c.volumes = (struct cln_strv){0};
    } else {
        cln_runner_teardown(&c);
    }
    if (r->nteardown_errors && r->status == CLN_ST_PASSED) {
        r->status = CLN_ST_ERROR;
        r->error = cln_error_make(CLN_E_BACKEND, 0, "teardown failed");
    }
    cln_artifacts_finish(&c); /* kept or not, now that the status is final */
    cln_labels_done(&c.labels);
    for (size_t i = 0; i < c.nhosts; i++) {
        free(c.hosts[i].name);
        free(c.hosts[i].ip);
    }
    free(c.hosts);
    free(c.svc_hosts_known);
    free(c.routed);
    pthread_mutex_destroy(&c.lock);
    r->duration_ms = now_ms() - t0;
}

static void *worker(void *ud)
{
    struct run *run = ud;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        if (run->opts->interrupted && *run->opts->interrupted)
            run->stop = true;
        if (run->run_deadline && now_ms() >= run->run_deadline)
            run->stop = true;
        size_t idx = run->next;
        if (idx >= run->n) {
            pthread_mutex_unlock(&run->lock);
            return NULL;
        }
        run->next++;
        const char *gone = cln_runtime_gone(run->rt);
        if (run->stop || gone) {
            struct cln_test_result *r = &run->results[idx];
            r->test = &run->tests[idx];
            r->status = run->stop ? CLN_ST_SKIPPED : CLN_ST_ERROR;
            if (!run->stop)
                r->error = cln_error_make(CLN_E_TRANSPORT, 0, "not started: %s", gone);
            if (run->opts->events.test_finished)
                run->opts->events.test_finished(idx, r, run->opts->events.userdata);
            pthread_mutex_unlock(&run->lock);
            continue;
        }
        if (run->opts->events.test_started)
            run->opts->events.test_started(idx, run->opts->events.userdata);
        pthread_mutex_unlock(&run->lock);
        run_test(run, idx);
        pthread_mutex_lock(&run->lock);
        enum cln_status st = run->results[idx].status;
        if (run->opts->fail_fast && st != CLN_ST_PASSED && st != CLN_ST_SKIPPED)
            run->stop = true;
        if (run->opts->events.test_finished)
            run->opts->events.test_finished(idx, &run->results[idx], run->opts->events.userdata);
        pthread_mutex_unlock(&run->lock);
    }
}

const char *cln_runner_network_reason(const struct cln_spec_test *t)
{
    if (t->nservices > 1)
        return "its services reach each other on it";
    for (size_t i = 0; i < t->nsteps; i++)
        if (t->steps[i].network || t->steps[i].privs.outbound)
            return t->steps[i].network ? "a step asks for one with network = true"
                                       : "a step goes out with outbound = true";
    for (size_t i = 0; i < t->nservices; i++)
        if (t->services[i].nports > 0 || t->services[i].privs.outbound)
            return t->services[i].nports ? "a service publishes ports"
                                         : "a service goes out with outbound = true";
    return NULL;
}

int cln_run_tests(struct cln_runtime *rt, const struct cln_spec_test *tests, size_t n,
                  const struct cln_run_options *opts, struct cln_test_result *results)
{
    struct run run = {.rt = rt, .tests = tests, .n = n, .opts = opts, .results = results};
    pthread_mutex_init(&run.lock, NULL);
    pthread_mutex_init(&run.ka_lock, NULL);
    if (opts->run_timeout_ms)
        run.run_deadline = now_ms() + opts->run_timeout_ms;
    if (opts->artifacts_dir)
        run.artifact_names = cln_artifacts_test_dirs(tests, n);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t jobs = opts->jobs > 0 ? (size_t)opts->jobs : (cores > 0 ? (size_t)cores : 1);
    if (jobs > n)
        jobs = n ? n : 1;
    pthread_t *th = cln_xcalloc(jobs, sizeof(*th));
    size_t started = 0;
    for (size_t i = 0; i < jobs; i++)
        if (pthread_create(&th[i], NULL, worker, &run) == 0)
            started++;
    if (started == 0)
        worker(&run);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    bool kept = false;
    for (size_t i = 0; i < n; i++)
        kept = kept || results[i].kept.n;
    cln_runner_keepalive_volume_done(&run, kept);
    /* kept containers may bind it: gc removes it with them, its owner gone */
    cln_runner_host_dir_done(&run, kept);
    pthread_mutex_destroy(&run.ka_lock);
    pthread_mutex_destroy(&run.lock);
    for (size_t i = 0; run.artifact_names && i < n; i++)
        free(run.artifact_names[i]);
    free(run.artifact_names);
    return 0;
}

static void attempt_done(struct cln_attempt *a)
{
    cln_capture_done(&a->out);
    cln_capture_done(&a->err);
    free(a->exec_id);
    cln_error_free(a->error);
    free(a->limit);
    for (size_t i = 0; i < a->nfailures; i++) {
        free(a->failures[i].what);
        free(a->failures[i].expected);
        free(a->failures[i].actual);
        free(a->failures[i].diff);
    }
    free(a->failures);
}

void cln_test_result_done(struct cln_test_result *r)
{
    cln_error_free(r->error);
    free(r->network);
    free(r->network_note);
    for (size_t i = 0; i < r->nservices; i++) {
        free(r->services[i].container_id);
        free(r->services[i].image_id);
        free(r->services[i].image_digest);
        free(r->services[i].host_ports);
        free(r->services[i].route_ip);
        cln_error_free(r->services[i].error);
        free(r->services[i].log_tail);
        cln_evidence_done(&r->services[i].evidence);
        for (size_t k = 0; k < r->services[i].nartifacts; k++)
            cln_artifact_done(&r->services[i].artifacts[k]);
        free(r->services[i].artifacts);
    }
    free(r->services);
    for (size_t i = 0; i < r->nsteps; i++) {
        struct cln_step_result *s = &r->steps[i];
        free(s->where);
        free(s->container_id);
        cln_strv_done(&s->argv);
        for (size_t k = 0; k < s->nattempts; k++)
            attempt_done(&s->attempts[k]);
        free(s->attempts);
        cln_evidence_done(&s->evidence);
        for (size_t k = 0; k < s->nartifacts; k++)
            cln_artifact_done(&s->artifacts[k]);
        free(s->artifacts);
    }
    free(r->steps);
    free(r->artifacts_dir);
    for (size_t i = 0; i < r->nteardown_errors; i++)
        cln_error_free(r->teardown_errors[i]);
    free(r->teardown_errors);
    cln_strv_done(&r->kept);
    cln_strv_done(&r->kept_networks);
    cln_strv_done(&r->kept_volumes);
    memset(r, 0, sizeof(*r));
}
