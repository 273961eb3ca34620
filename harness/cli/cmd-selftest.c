/* cleanrun self-test: run the specs in selftest/ against the configured
 * engine and check that each case ends the way selftest/cases.toml says
 * (docs/cli.md).  Exit 0 only when every case did. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "harness/isolation.h"
#include "harness/reclaim.h"
#include "harness/runner.h"
#include "harness/session.h"
#include "harness/spec.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

struct scase {
    const char *name, *spec, *status, *verdict, *spec_error, *builtin, *message, *host_absent;
    int64_t exit; /* -1: not checked */
    const char *failure[8];
    size_t nfailure;
    uint64_t step_within_ms;
    bool process_gone, oom;
    /* filled while running */
    int test_index; /* in the run set, or -1 */
    char *why;      /* NULL: ended as expected */
    uint64_t ms;
};

static void __attribute__((format(printf, 2, 3))) fail(struct scase *c, const char *fmt, ...)
{
    if (c->why)
        return; /* the first reason is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    c->why = cln_xvasprintf(fmt, ap);
    va_end(ap);
}

/* ---- the manifest ---- */

static int load_cases(const char *dir, struct cln_toml_doc **ret_doc, struct scase **ret,
                      size_t *ret_n, struct cln_error **err)
{
    cleanup_free char *path = cln_xasprintf("%s/cases.toml", dir);
    struct cln_toml_doc *doc = NULL;
    if (cln_toml_parse_file(path, &doc, err) < 0)
        return -1;
    const struct cln_toml_value *arr = NULL;
    int r = cln_toml_get_array(doc, cln_toml_root(doc), "case", &arr, err);
    if (r <= 0) {
        if (r == 0)
            cln_error_set(err, CLN_E_SPEC, 0, "%s: no [[case]]", path);
        cln_toml_free(doc);
        return -1;
    }
    static const char *const keys[] = {
        "name",         "spec", "status",      "exit",       "verdict", "failure", "step_within",
        "process_gone", "oom",  "host_absent", "spec_error", "builtin", "message"};
    size_t n = cln_toml_array_len(arr);
    struct scase *cs = cln_xcalloc(n ? n : 1, sizeof(*cs));
    for (size_t i = 0; i < n && r >= 0; i++) {
        const struct cln_toml_value *t = cln_toml_array_at(arr, i);
        struct scase *c = &cs[i];
        c->exit = -1;
        c->test_index = -1;
        for (size_t k = 0; k < cln_toml_table_len(t) && r >= 0; k++) {
            const struct cln_toml_entry *e = cln_toml_table_at(t, k);
            bool known = false;
            for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
                known = known || strcmp(e->key, keys[j]) == 0;
            if (!known)
                r = cln_toml_error_at(doc, e->pos, err, "unknown key \"%s\" in a [[case]]", e->key);
        }
        const char *within = NULL;
        if (r >= 0 && ((r = cln_toml_get_string(doc, t, "name", &c->name, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "spec", &c->spec, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "status", &c->status, err)) < 0 ||
                       (r = cln_toml_get_integer(doc, t, "exit", &c->exit, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "verdict", &c->verdict, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "step_within", &within, err)) < 0 ||
                       (r = cln_toml_get_bool(doc, t, "process_gone", &c->process_gone, err)) < 0 ||
                       (r = cln_toml_get_bool(doc, t, "oom", &c->oom, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "host_absent", &c->host_absent, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "spec_error", &c->spec_error, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "builtin", &c->builtin, err)) < 0 ||
                       (r = cln_toml_get_string(doc, t, "message", &c->message, err)) < 0))
            break;
        if (r >= 0 && (!c->name || (!c->spec == !c->builtin)))
            r = cln_toml_error_at(doc, t->pos, err,
                                  "a [[case]] needs a name and exactly one of spec or builtin");
        if (r >= 0 && within && cln_duration_parse(within, &c->step_within_ms, err) < 0)
            r = -1;
        const struct cln_toml_value *fa = NULL;
        if (r >= 0 && (r = cln_toml_get_array(doc, t, "failure", &fa, err)) > 0)
            for (size_t k = 0; k < cln_toml_array_len(fa) && k < 8 && r >= 0; k++)
                r = cln_toml_as_string(doc, cln_toml_array_at(fa, k), "failure",
                                       &c->failure[c->nfailure++], err);
    }
    if (r < 0) {
        free(cs);
        cln_toml_free(doc);
        return -1;
    }
    *ret_doc = doc;
    *ret = cs;
    *ret_n = n;
    return 0;
}

/* ---- built-in cases ---- */

static void builtin_lockout(struct scase *c)
{
    pid_t pid = fork();
    if (pid < 0) {
        fail(c, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        struct cln_lockout l;
        struct cln_error *e = NULL;
        if (cln_lockout_install(&l, &e) < 0)
            _exit(10);
        char a0[] = "sh", a1[] = "-c", a2[] = "exit 0";
        char *const argv[] = {a0, a1, a2, NULL};
        execv("/bin/sh", argv);
        _exit(errno == EPERM ? 0 : 11);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 11)
        fail(c, "after the lockout, execve of /bin/sh was not refused with EPERM");
    else if (WEXITSTATUS(st) == 10)
        fail(c, "the lockout could not be installed");
}

static void builtin_no_engine(struct scase *c)
{
    char sock[128];
    snprintf(sock, sizeof(sock), "unix:///nonexistent/cleanrun-selftest-%ld.sock", (long)getpid());
    struct cln_runtime_config rc = {.runtime = "docker", .endpoint = sock};
    struct cln_runtime *rt = NULL;
    struct cln_error *e = NULL;
    if (cln_runtime_open(&rc, &rt, &e) == 0) {
        cln_runtime_close(rt);
        fail(c, "an engine answered at %s", sock);
        return;
    }
    int code = cln_cli_open_exit_code(e);
    char *msg = cln_error_render(e);
    cln_error_free(e);
    if (c->exit >= 0 && code != c->exit)
        fail(c, "exit %d, expected %lld (%s)", code, (long long)c->exit, msg);
    if (c->message && !strstr(msg, c->message))
        fail(c, "the message lacks \"%s\": %s", c->message, msg);
    free(msg);
}

static void builtin_leak_audit(struct scase *c, struct cln_runtime *rt, const char *image)
{
    char hex[9], run_id[32];
    cln_random_hex(hex, 4);
    snprintf(run_id, sizeof(run_id), "selftest-%s", hex);
    if (!image) {
        fail(c, "no spec case built an image to create the container from");
        return;
    }
    struct cln_labels labels = {0};
    cln_runtime_labels(&labels, run_id, CLN_VERSION, "selftest-leak");
    static const char *const cmd[] = {"sleep", "1", NULL};
    /* the image the spec cases built; the container is never started */
    struct cln_container_config cfg = {.image = image, .cmd = cmd, .labels = &labels};
    struct cln_error *e = NULL;
    char *id = NULL;
    struct cln_leak_audit a;
    memset(&a, 0, sizeof(a));
    size_t removed[3] = {0};
    bool found = false;
    if (cln_rt_create(rt, &cfg, &id, &e) < 0) {
        char *m = cln_error_render(e);
        fail(c, "create a labelled container: %s", m);
        free(m);
    } else if (cln_audit_run(rt, run_id, &a, &e) < 0) {
        /* the "leak": a container of the run that nothing removed */
        fail(c, "the audit failed");
    } else {
        for (size_t i = 0; i < a.n; i++)
            found = found || strcmp(a.items[i].name, id) == 0;
        if (!found)
            fail(c, "the audit of run %s did not list container %.12s", run_id, id);
        cln_leak_audit_done(&a);
        if (cln_remove_run(rt, run_id, removed, &e) < 0 || removed[0] != 1)
            fail(c, "removing the leak: %zu removed", removed[0]);
        if (cln_audit_run(rt, run_id, &a, &e) == 0 && a.n)
            fail(c, "the audit still lists %zu resources after removal", a.n);
    }
    cln_leak_audit_done(&a);
    if (id) {
        struct cln_error *e2 = NULL;
        cln_rt_remove(rt, id, true, &e2);
        cln_error_free(e2);
    }
    free(id);
    cln_error_free(e);
    cln_labels_done(&labels);
}

/* ---- spec cases ---- */

static bool failures_contain(const struct cln_test_result *r, const char *text)
{
    for (size_t k = 0; k < r->nsteps; k++)
        for (size_t a = 0; a < r->steps[k].nattempts; a++) {
            const struct cln_attempt *at = &r->steps[k].attempts[a];
            for (size_t f = 0; f < at->nfailures; f++) {
                const struct cln_failure *fl = &at->failures[f];
                if (strstr(fl->what, text) || strstr(fl->expected, text) ||
                    strstr(fl->actual, text) || (fl->diff && strstr(fl->diff, text)))
                    return true;
            }
        }
    return false;
}

static void check_result(struct scase *c, const struct cln_test_result *r)
{
    if (c->status && strcmp(cln_status_name(r->status), c->status) != 0) {
        /* say why: the test's error, or the first failing step's first problem */
        const char *why = cln_error_text(r->error);
        for (size_t k = 0; !why && k < r->nsteps; k++) {
            const struct cln_step_result *s = &r->steps[k];
            const struct cln_attempt *a = s->nattempts ? &s->attempts[s->nattempts - 1] : NULL;
            if (a && a->error)
                why = cln_error_text(a->error);
            else if (a && a->nfailures)
                why = a->failures[0].what;
        }
        fail(c, "status %s, expected %s%s%s", cln_status_name(r->status), c->status,
             why ? ": " : "", why ? why : "");
    }
    int code = cln_session_exit_code(r, 1, false);
    if (c->exit >= 0 && code != c->exit)
        fail(c, "exit %d, expected %lld", code, (long long)c->exit);
    for (size_t i = 0; i < c->nfailure; i++)
        if (!failures_contain(r, c->failure[i]))
            fail(c, "no failed expectation shows \"%s\"", c->failure[i]);
    for (size_t k = 0; c->verdict && k < r->nsteps; k++) {
        const struct cln_step_result *s = &r->steps[k];
        if (!s->observed)
            fail(c, "step %zu was not observed", k + 1);
        else if (strcmp(cln_verdict_name(s->evidence.verdict), c->verdict) != 0)
            fail(c, "step %zu is %s (%s), expected %s", k + 1,
                 cln_verdict_name(s->evidence.verdict), s->evidence.reason, c->verdict);
    }
    const struct cln_attempt *first = r->nsteps && r->steps[0].nattempts
                                          ? &r->steps[0].attempts[r->steps[0].nattempts - 1]
                                          : NULL;
    if (c->step_within_ms) {
        if (!first || !first->timed_out)
            fail(c, "the first step did not time out");
        else if (r->steps[0].duration_ms > c->step_within_ms)
            fail(c, "the timed-out step took %llu ms, more than %llu",
                 (unsigned long long)r->steps[0].duration_ms,
                 (unsigned long long)c->step_within_ms);
    }
    if (c->process_gone) {
        /* inside the container (the spec's next step) and on the host */
        if (r->nsteps < 2 || r->steps[1].status != CLN_ST_PASSED)
            fail(c, "the killed process is still in the container");
        int pid = first ? first->host_pid : 0;
        if (pid > 0 && kill(pid, 0) == 0)
            fail(c, "host pid %d of the killed step still exists", pid);
    }
    if (c->oom) {
        bool any = false;
        for (size_t k = 0; r->steps && k < r->nsteps; k++)
            for (size_t a = 0; r->steps[k].attempts && a < r->steps[k].nattempts; a++)
                any = any || r->steps[k].attempts[a].oom_killed;
        if (!any)
            fail(c, "no step was reported as killed by the OOM killer");
    }
    struct stat st;
    if (c->host_absent && lstat(c->host_absent, &st) == 0)
        fail(c, "%s exists on the host", c->host_absent);
}

/* An image a spec case built and used (so it is present), or NULL. */
static const char *built_image(const struct cln_spec_set *set,
                               const struct cln_test_result *results)
{
    for (size_t i = 0; i < set->n; i++)
        for (size_t k = 0; k < set->tests[i].nimages; k++)
            if (set->tests[i].images[k].dockerfile && results[i].status == CLN_ST_PASSED)
                return set->tests[i].images[k].ref;
    return NULL;
}

/* The self-test directory; owned by the caller. */
static char *find_dir(const char *given)
{
    if (given)
        return cln_xstrdup(given);
    const char *env = getenv("CLEANRUN_SELFTEST_DIR");
    if (env && *env)
        return cln_xstrdup(env);
    cleanup_free char *exe = cln_os_self_exe();
    if (exe) {
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            struct stat st;
            char *d = cln_xasprintf("%s/../share/cleanrun/selftest", exe);
            if (stat(d, &st) == 0)
                return d;
            free(d);
        }
    }
    return cln_xstrdup("selftest");
}

static const char selftest_help[] =
    "usage: cleanrun self-test [--runtime NAME] [--host URL] [--dir DIR]\n\n"
    "Run the self-test specs (DIR, default: $CLEANRUN_SELFTEST_DIR, the\n"
    "installed share/cleanrun/selftest, else ./selftest) against the engine and\n"
    "check that each case ends as DIR/cases.toml says.  One line per case;\n"
    "exit 0 only when every case did.\n";

static int selftest_option(int opt, const char *arg, void *ud)
{
    const char **dir = ud;
    if (opt != 'd')
        return CLN_EXIT_USAGE;
    *dir = arg;
    return 0;
}

int cln_cmd_selftest(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    /* operands were never looked at: ignored, as before */
    static const struct cln_cli_engine_cmd cmd = {.name = "self-test",
                                                  .help = selftest_help,
                                                  .longopts = longopts,
                                                  .option = selftest_option,
                                                  .operands_ignored = true};
    struct cln_cli_engine eng;
    const char *dir = NULL;
    int code = cln_cli_engine_parse(&cmd, argc, argv, &eng, &dir);
    if (code >= 0)
        return code;
    cleanup_free char *dir_owned = find_dir(dir);
    dir = dir_owned;
    struct cln_toml_doc *doc = NULL;
    struct scase *cs = NULL;
    size_t n = 0;
    struct cln_error *err = NULL;
    if (load_cases(dir, &doc, &cs, &n, &err) < 0) {
        cln_cli_print_error(err);
        cln_error_free(err);
        return CLN_EXIT_USAGE;
    }
    struct cln_runtime *rt = NULL;
    code = cln_cli_engine_open(&eng, &rt);
    if (code) {
        free(cs);
        cln_toml_free(doc);
        return code;
    }
    printf("cleanrun %s self-test: %zu cases, runtime %s (%s %s at %s), specs in %s\n", CLN_VERSION,
           n, cln_runtime_name(rt),
           cln_runtime_engine(rt)->engine ? cln_runtime_engine(rt)->engine : "?",
           cln_runtime_engine(rt)->version ? cln_runtime_engine(rt)->version : "?",
           cln_runtime_endpoint(rt), dir);
    fflush(stdout);

    /* Load every spec case; those that must be refused are checked here. */
    struct cln_spec_set set = {0};
    for (size_t i = 0; i < n; i++) {
        struct scase *c = &cs[i];
        if (!c->spec)
            continue;
        if (c->host_absent) {
            struct stat st;
            if (lstat(c->host_absent, &st) == 0)
                fail(c, "%s already exists on the host: the check would prove nothing",
                     c->host_absent);
        }
        cleanup_free char *path = cln_xasprintf("%s/%s", dir, c->spec);
        size_t before = set.n;
        struct cln_error *e = NULL;
        /* cleanrun's own specs: they copy the host's static busybox into
         * the images they build, by design */
        struct cln_load_options lo = {.allow = CLN_ALLOW_HOST_FILES};
        int r = cln_spec_load_file(path, &lo, &set, &e);
        if (c->spec_error) {
            char *m = r < 0 ? cln_error_render(e) : NULL;
            char *want = cln_xasprintf("%s%s", path, c->spec_error);
            if (!m)
                fail(c, "the spec was accepted");
            else if (!strstr(m, want))
                fail(c, "the error is not \"%s\": %s", want, m);
            if (c->exit >= 0 && c->exit != CLN_EXIT_USAGE)
                fail(c, "a spec error exits 2, not %lld", (long long)c->exit);
            free(m);
            free(want);
            cln_error_free(e);
            continue;
        }
        if (r < 0) {
            char *m = cln_error_render(e);
            fail(c, "the spec does not load: %s", m);
            free(m);
            cln_error_free(e);
            continue;
        }
        if (set.n != before + 1)
            fail(c, "the spec holds %zu tests, not one", set.n - before);
        else
            c->test_index = (int)before;
    }

    /* Run them all together, as `cleanrun run -j` would: no gc, no
     * lockout (the lockout case checks it in a child), no reports, no hooks
     * (nothing printed); what the leak audit finds is removed. */
    char run_id[32];
    cln_session_new_run_id(run_id, sizeof(run_id));
    struct cln_session_opts so = {.run_id = run_id, .no_lockout = true, .wake_fd = -1};
    struct cln_session sess;
    cln_session_run(&so, rt, set.tests, set.n, &sess);
    const struct cln_test_result *results = sess.results;
    bool leaks = sess.audit.error || sess.audit.n;

    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct scase *c = &cs[i];
        uint64_t c0 = cln_now_ms();
        if (c->builtin && strcmp(c->builtin, "lockout") == 0)
            builtin_lockout(c);
        else if (c->builtin && strcmp(c->builtin, "no-engine") == 0)
            builtin_no_engine(c);
        else if (c->builtin && strcmp(c->builtin, "leak-audit") == 0)
            builtin_leak_audit(c, rt, built_image(&set, results));
        else if (c->builtin)
            fail(c, "unknown builtin \"%s\"", c->builtin);
        c->ms = cln_now_ms() - c0;
        if (c->test_index >= 0) {
            check_result(c, &results[c->test_index]);
            c->ms = results[c->test_index].duration_ms;
        }
        char d[32];
        if (c->why) {
            printf("FAIL %s (%s): %s\n", c->name, cln_duration_format(c->ms, d, sizeof(d)), c->why);
            failed++;
        } else {
            printf("ok   %s (%s)\n", c->name, cln_duration_format(c->ms, d, sizeof(d)));
            passed++;
        }
    }
    if (leaks) {
        printf("FAIL the self-test's own run left %zu resources behind\n", sess.audit.n);
        failed++;
    }
    char d[32];
    printf("self-test: %zu passed, %zu failed (%s)\n", passed, failed,
           cln_duration_format(sess.tests_ms, d, sizeof(d)));
    cln_session_done(&sess);
    cln_spec_set_done(&set);
    for (size_t i = 0; i < n; i++)
        free(cs[i].why);
    free(cs);
    cln_toml_free(doc);
    cln_runtime_close(rt);
    return failed ? CLN_EXIT_FAIL : CLN_EXIT_OK;
}
