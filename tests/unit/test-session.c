/* Unit tests of the session (harness/session.h) against the scripted fake
 * runtime: the order of its steps as the hooks see them, the exit code,
 * interrupts, reports, and the exit-code mapping itself.  The real lockout
 * is never installed here (it would stop this worker from exec'ing). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/exit.h"
#include "harness/runner.h"
#include "harness/session.h"
#include "harness/spec.h"
#include "runtime/backend.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "tests/fakes/fake-runtime.h"

#define IMG "[images.bb]\nref = \"localhost/fake:1\"\npull = \"never\"\n"
#define PASSING "true"
#define FAILING "false"

static struct fake fk;
static struct cln_runtime *rt;
static struct cln_spec_set set;
static struct cln_session sess;
static char dir[] = "/tmp/cleanrun-session-XXXXXX";

/* What the hooks saw, in order: one letter per call. */
static char seen[256];
static size_t nseen;
static size_t report_errors;
static bool gc_ok;

static void note(char c)
{
    if (nseen + 1 < sizeof(seen))
        seen[nseen++] = c;
}

static void h_begin(const struct cln_session *s, void *ud)
{
    (void)ud;
    cr_assert_geq(s->jobs, 1);
    note('B');
}
static void h_gc(const struct cln_session *s, const struct cln_gc_report *r,
                 const struct cln_error *err, void *ud)
{
    (void)s;
    (void)ud;
    gc_ok = !err && r->runs == 0;
    note('G');
}
static void h_lockout(const struct cln_session *s, void *ud)
{
    (void)ud;
    cr_assert_not_null(s->lockout.method);
    note('L');
}
static void h_tests_begin(const struct cln_session *s, void *ud)
{
    (void)ud;
    cr_assert_gt(s->t0_ms, 0);
    note('[');
}
static void h_started(const struct cln_session *s, size_t i, void *ud)
{
    (void)s;
    (void)i;
    (void)ud;
    note('s');
}
static void h_finished(const struct cln_session *s, size_t i, void *ud)
{
    (void)ud;
    cr_assert(s->done[i], "done[%zu] is set before the hook", i);
    note('f');
}
static void h_tests_end(const struct cln_session *s, void *ud)
{
    (void)s;
    (void)ud;
    note(']');
}
static void h_audit(const struct cln_session *s, void *ud)
{
    (void)ud;
    cr_assert_null(s->audit.error);
    note('A');
}
static void h_audit_removed(const struct cln_session *s, const struct cln_error *err, void *ud)
{
    (void)s;
    (void)err;
    (void)ud;
    note('R');
}
static void h_end(const struct cln_session *s, void *ud)
{
    (void)ud;
    cr_assert_geq(s->exit_code, 0);
    note('E');
}
static void h_report_error(const struct cln_session *s, const struct cln_error *err, void *ud)
{
    (void)s;
    (void)ud;
    cr_assert_not_null(err);
    report_errors++;
}

static const struct cln_session_hooks hooks = {
    .begin = h_begin,
    .gc = h_gc,
    .lockout = h_lockout,
    .tests_begin = h_tests_begin,
    .test_started = h_started,
    .test_finished = h_finished,
    .tests_end = h_tests_end,
    .audit = h_audit,
    .audit_removed = h_audit_removed,
    .end = h_end,
    .report_error = h_report_error,
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void setup(void)
{
    memset(&fk, 0, sizeof(fk));
    memset(&set, 0, sizeof(set));
    memset(&sess, 0, sizeof(sess));
    memset(seen, 0, sizeof(seen));
    nseen = 0;
    report_errors = 0;
    gc_ok = false;
    cr_assert_not_null(mkdtemp(dir));
    rt = fake_runtime_new(&fk);
}

static void teardown_fixture(void)
{
    cln_session_done(&sess);
    cln_spec_set_done(&set);
    fake_runtime_free(rt);
    rt = NULL;
    fake_done(&fk);
    /* no rm -rf: a test may have locked this process out of execve */
    cr_assert_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    snprintf(dir, sizeof(dir), "/tmp/cleanrun-session-XXXXXX");
}

/* A test of one step that runs cmd ("true" or "false") in a fresh container. */
static void add_spec(const char *cmd, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.cleanrun.toml", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "[test]\nname = \"%s\"\ndefault_image = \"bb\"\n" IMG "[[steps]]\nrun = [\"%s\"]\n",
            name, cmd);
    fclose(f);
    cleanup_error struct cln_error *err = NULL;
    if (cln_spec_load_file(path, NULL, &set, &err) < 0) {
        cleanup_free char *m = cln_error_render(err);
        cr_assert_fail("spec %s: %s", name, m);
    }
}

static int run(const struct cln_session_opts *o)
{
    return cln_session_run(o, rt, set.tests, set.n, &sess);
}

TestSuite(session, .init = setup, .fini = teardown_fixture, .timeout = 30);

Test(session, runs_gc_lockout_tests_audit_then_ends_in_that_order)
{
    add_spec(PASSING, "one");
    add_spec(PASSING, "two");
    struct cln_session_opts o = {
        .run_id = "s1", .jobs = 8, .gc = true, .no_lockout = true, .wake_fd = -1, .hooks = &hooks};
    cr_assert_eq(run(&o), CLN_EXIT_OK);
    cr_assert_eq(sess.jobs, 2, "never more workers than tests");
    cr_assert(gc_ok, "gc ran and found nothing");
    /* B G L [, a start and a finish per test (as the workers go), ] A E;
     * the audit found nothing, so nothing was removed (no R) */
    cr_assert_eq(nseen, 11, "%s", seen);
    cr_assert(strncmp(seen, "BGL[s", 5) == 0 && strcmp(seen + 8, "]AE") == 0, "%s", seen);
    size_t starts = 0, ends = 0;
    for (size_t i = 4; i < 8; i++) {
        starts += seen[i] == 's';
        ends += seen[i] == 'f';
    }
    cr_assert(starts == 2 && ends == 2, "%s", seen);
    cr_assert_null(strchr(seen, 'R'), "%s", seen);
    cr_assert_eq(sess.count[CLN_ST_PASSED], 2);
    cr_assert(sess.done[0] && sess.done[1]);
    cr_assert_str_eq(sess.lockout.method, "off: --no-lockout");
    cr_assert_not(sess.lockout.in_force);
    cr_assert(sess.audit.done, "the leak audit ran");
    cr_assert_eq(sess.audit.n, 0);
    cr_assert_eq(sess.signal, 0);
}

Test(session, without_gc_or_hooks)
{
    add_spec(PASSING, "one");
    struct cln_session_opts o = {.run_id = "s2", .no_lockout = true, .wake_fd = -1};
    cr_assert_eq(run(&o), CLN_EXIT_OK);
    cr_assert_eq(fake_count(&fk, "exec"), 1);
    cr_assert_eq(sess.results[0].status, CLN_ST_PASSED);
    cr_assert_geq(sess.jobs, 1);
}

Test(session, a_failed_test_exits_1)
{
    add_spec(PASSING, "ok");
    add_spec(FAILING, "bad");
    struct cln_session_opts o = {
        .run_id = "s3", .no_lockout = true, .wake_fd = -1, .hooks = &hooks};
    cr_assert_eq(run(&o), CLN_EXIT_FAIL);
    cr_assert_eq(sess.exit_code, CLN_EXIT_FAIL);
    cr_assert_eq(sess.count[CLN_ST_PASSED], 1);
    cr_assert_eq(sess.count[CLN_ST_FAILED], 1);
    cr_assert_null(strchr(seen, 'G'), "no gc unless asked: %s", seen);
}

Test(session, an_interrupted_run_exits_128_plus_the_signal)
{
    add_spec(PASSING, "one");
    static volatile sig_atomic_t intr = SIGINT;
    struct cln_session_opts o = {
        .run_id = "s4", .no_lockout = true, .interrupted = &intr, .wake_fd = -1, .hooks = &hooks};
    cr_assert_eq(run(&o), 130);
    cr_assert_eq(sess.signal, SIGINT);
    cr_assert_eq(sess.results[0].status, CLN_ST_SKIPPED, "nothing starts once interrupted");
    cr_assert_eq(fake_count(&fk, "exec"), 0);
}

Test(session, writes_every_report_and_a_report_that_fails_is_exit_3)
{
    add_spec(PASSING, "one");
    cleanup_free char *json = cln_xasprintf("%s/r.json", dir);
    cleanup_free char *junit = cln_xasprintf("%s/r.xml", dir);
    struct cln_session_report reports[] = {
        {.format = CLN_SESSION_JSON, .path = json},
        {.format = CLN_SESSION_JUNIT, .path = junit},
    };
    struct cln_session_opts o = {.run_id = "s5",
                                 .no_lockout = true,
                                 .wake_fd = -1,
                                 .reports = reports,
                                 .nreports = 2,
                                 .hooks = &hooks};
    cr_assert_eq(run(&o), CLN_EXIT_OK);
    struct stat st;
    cr_assert_eq(stat(json, &st), 0);
    cr_assert_gt(st.st_size, 0);
    cr_assert_eq(stat(junit, &st), 0);
    cr_assert_eq(report_errors, 0);

    cln_session_done(&sess);
    cleanup_free char *bad = cln_xasprintf("%s/no/such/dir/r.json", dir);
    struct cln_session_report one = {.format = CLN_SESSION_TAP, .path = bad};
    o.reports = &one;
    o.nreports = 1;
    cr_assert_eq(run(&o), CLN_EXIT_INFRA, "the tests passed, the report failed");
    cr_assert_eq(report_errors, 1);
}

Test(session, exit_codes_follow_docs_cli_md)
{
    struct cln_test_result r[3];
    memset(r, 0, sizeof(r));
    cr_assert_eq(cln_session_exit_code(r, 3, false), CLN_EXIT_OK);
    cr_assert_eq(cln_session_exit_code(r, 0, false), CLN_EXIT_OK);
    cr_assert_eq(cln_session_exit_code(r, 3, true), CLN_EXIT_INFRA, "a leak fails the run");
    r[1].status = CLN_ST_SKIPPED;
    cr_assert_eq(cln_session_exit_code(r, 3, false), CLN_EXIT_OK);
    r[0].status = CLN_ST_TIMEOUT;
    cr_assert_eq(cln_session_exit_code(r, 3, false), CLN_EXIT_FAIL);
    r[2].status = CLN_ST_ERROR;
    cr_assert_eq(cln_session_exit_code(r, 3, false), CLN_EXIT_INFRA, "3 wins over 1");
    r[1].any_observed = true;
    r[1].verdict = CLN_VERDICT_UNVERIFIED;
    cr_assert_eq(cln_session_exit_code(r, 3, false), CLN_EXIT_INFRA, "unverified is no violation");
    r[1].verdict = CLN_VERDICT_VIOLATED;
    cr_assert_eq(cln_session_exit_code(r, 3, true), CLN_EXIT_ISOLATION, "4 wins over 1 and 3");
    cr_assert_eq(CLN_EXIT_USAGE, 2);
    cr_assert_eq(CLN_EXIT_SIGNAL + SIGTERM, 143);
}

Test(session, run_ids_are_12_hex_digits)
{
    char a[16], b[16];
    cln_session_new_run_id(a, sizeof(a));
    cln_session_new_run_id(b, sizeof(b));
    cr_assert_eq(strlen(a), 12);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 12);
    cr_assert_str_neq(a, b);
}

/* A backend that runs host programs: the session still locks this process
 * out of execve, and the backend's declared program is started by the
 * broker (forked with the runtime, before the lockout), recorded. */
Test(session, a_backend_runs_its_host_programs_under_the_lockout)
{
    fake_runtime_free(rt);
    fake_done(&fk);
    memset(&fk, 0, sizeof(fk));
    fk.host_programs = true;
    rt = fake_runtime_new(&fk);
    add_spec(PASSING, "one");
    struct cln_session_opts o = {.run_id = "s9", .wake_fd = -1};
    cr_assert_eq(run(&o), CLN_EXIT_OK);
    cr_assert(sess.lockout.in_force, "%s", sess.lockout.method);
    cr_assert(strstr(sess.lockout.method, "/bin/echo"), "%s", sess.lockout.method);
    /* this process can no longer start a program itself */
    char *const argv[] = {(char *)"/bin/true", NULL};
    cr_assert_eq(execv("/bin/true", argv), -1);
    cr_assert_eq(errno, EPERM);
    /* its backend still can, through the broker */
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    static const char *const eargv[] = {"echo", "from-the-broker", NULL};
    struct cln_broker_spawn_req req = {.path = "/bin/echo", .argv = eargv, .stdout_fd = p[1]};
    struct cln_broker_child child;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_runtime_spawn(rt, &req, &child, &e), 0, "%s", e ? e->msg : "");
    close(p[1]);
    int status = -1;
    cr_assert_eq(cln_broker_wait(&child, 5000, &status, &e), 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[64] = {0};
    cr_assert_gt(read(p[0], buf, sizeof(buf) - 1), 0);
    close(p[0]);
    cr_assert_str_eq(buf, "from-the-broker\n");
    cln_broker_child_done(&child);
    size_t n = 0;
    struct cln_host_process *hp = cln_runtime_host_processes(rt, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(hp[0].argv[1], "from-the-broker");
    cln_host_processes_free(hp, n);
    /* an undeclared one is refused */
    struct cln_broker_spawn_req bad = {.path = "/bin/true"};
    cr_assert_lt(cln_runtime_spawn(rt, &bad, &child, &e), 0);
    cr_assert_eq(e->code, CLN_E_ISOLATION);
    cln_error_free(e);
}
