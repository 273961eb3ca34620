/* Unit tests of the runner against the scripted fake runtime: start order,
 * teardown on every failure path, parallel scheduling, timeouts, retries,
 * fail-fast, deterministic result order. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness/report.h"
#include "harness/runner.h"
#include "harness/session.h"
#include "harness/spec.h"
#include "runtime/base/error.h"
#include "tests/fakes/fake-runtime.h"

#define IMG "[images.bb]\nref = \"localhost/fake:1\"\npull = \"never\"\n"

static struct fake fk;
static struct cln_runtime *rt;
static struct cln_spec_set set;
static struct cln_test_result *results;
static char dir[] = "/tmp/cleanrun-runner-XXXXXX";

static void setup(void)
{
    memset(&fk, 0, sizeof(fk));
    memset(&set, 0, sizeof(set));
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown_fixture(void)
{
    for (size_t i = 0; results && i < set.n; i++)
        cln_test_result_done(&results[i]);
    free(results);
    results = NULL;
    cln_spec_set_done(&set);
    if (rt)
        fake_runtime_free(rt);
    rt = NULL;
    fake_done(&fk);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(dir, sizeof(dir), "/tmp/cleanrun-runner-XXXXXX");
}

static void add_spec(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.cleanrun.toml", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct cln_error *err = NULL;
    if (cln_spec_load_file(path, NULL, &set, &err) < 0) {
        char *m = cln_error_render(err);
        cr_assert_fail("spec %s: %s", name, m);
    }
}

static uint64_t run_all(int jobs, bool fail_fast, const volatile sig_atomic_t *intr)
{
    if (!rt)
        rt = fake_runtime_new(&fk);
    results = calloc(set.n ? set.n : 1, sizeof(*results));
    struct cln_run_options o = {.jobs = jobs,
                                .fail_fast = fail_fast,
                                .run_id = "r1",
                                .version = "test",
                                .interrupted = intr};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cln_run_tests(rt, set.tests, set.n, &o, results);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t ms = (int64_t)(b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    return (uint64_t)ms;
}

/* Every container created was removed, after its last use, and the network
 * went last. */
static void assert_torn_down(void)
{
    for (size_t i = 0; i < fk.nlog; i++) {
        char id[32];
        if (strncmp(fk.log[i], "create c", 8) != 0 || sscanf(fk.log[i], "create %31s", id) != 1)
            continue;
        char rm[48];
        snprintf(rm, sizeof(rm), "remove %s", id);
        cr_assert_geq(fake_find(&fk, rm, i), 0, "%s was never removed", id);
    }
    size_t nc = fake_count(&fk, "network-create"), nr = fake_count(&fk, "network-remove");
    cr_assert_eq(nc, nr, "%zu networks created, %zu removed", nc, nr);
}

TestSuite(runner, .init = setup, .fini = teardown_fixture, .timeout = 30);

Test(runner, services_start_by_level_steps_in_order_teardown_in_reverse)
{
    add_spec("a", "[test]\nname = \"order\"\n" IMG "[services.db]\nimage = \"bb\"\n"
                  "[services.api]\nimage = \"bb\"\ndepends_on = [\"db\"]\n"
                  "[services.web]\nimage = \"bb\"\ndepends_on = [\"api\"]\n"
                  "[[steps]]\nservice = \"web\"\nrun = [\"echo\", \"one\"]\n"
                  "expect.stdout = \"one\\n\"\n"
                  "[[steps]]\nservice = \"db\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_PASSED, "%s",
                 results[0].error ? cln_error_text(results[0].error) : "");
    long net = fake_find(&fk, "network-create cleanrun-r1-0", 0);
    long db = fake_find(&fk, "create c1 localhost/fake:1 db", 0);
    long api = fake_find(&fk, "create c2 localhost/fake:1 api", 0);
    long web = fake_find(&fk, "create c3 localhost/fake:1 web", 0);
    cr_assert(net >= 0 && net < db && db < api && api < web, "net %ld db %ld api %ld web %ld", net,
              db, api, web);
    cr_assert_gt(fake_find(&fk, "start c1", 0), db);
    cr_assert_lt(fake_find(&fk, "start c1", 0), api, "db started before api is created");
    long s1 = fake_find(&fk, "exec c3 echo", 0), s2 = fake_find(&fk, "exec c1 true", 0);
    cr_assert(s1 > web && s2 > s1);
    long r3 = fake_find(&fk, "remove c3", 0), r2 = fake_find(&fk, "remove c2", 0),
         r1 = fake_find(&fk, "remove c1", 0), nr = fake_find(&fk, "network-remove", 0);
    cr_assert(s2 < r3 && r3 < r2 && r2 < r1 && r1 < nr, "teardown order %ld %ld %ld %ld", r3, r2,
              r1, nr);
    cr_assert(strstr(fk.log[web], "net=cleanrun-r1-0"), "%s", fk.log[web]);
    assert_torn_down();
}

Test(runner, teardown_when_a_service_cannot_be_created)
{
    add_spec("a", "[test]\nname = \"svc-fails\"\n" IMG "[services.ok]\nimage = \"bb\"\n"
                  "[services.bad]\nimage = \"fail/create:1\"\ndepends_on = [\"ok\"]\n"
                  "[[steps]]\nservice = \"ok\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    cr_assert(strstr(cln_error_text(results[0].error), "service bad") &&
                  strstr(cln_error_text(results[0].error), "create refused"),
              "%s", cln_error_text(results[0].error));
    cr_assert_eq(fake_count(&fk, "exec"), 0, "no step ran");
    cr_assert_eq(results[0].steps[0].status, CLN_ST_SKIPPED);
    assert_torn_down();
}

/* Errors stay values until the edge: the report carries the chain, each
 * layer with its code, the root cause (the backend's refusal) last. */
Test(runner, the_report_carries_error_chains)
{
    add_spec("a", "[test]\nname = \"svc-fails\"\n" IMG "[services.bad]\nimage = \"fail/create:1\"\n"
                  "[[steps]]\nservice = \"bad\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    struct cln_report_input in = {.run_id = "r",
                                  .version = "v",
                                  .rt = rt,
                                  .tests = set.tests,
                                  .results = results,
                                  .n = set.n};
    char *doc = cln_report_json(&in);
    cJSON *j = cJSON_Parse(doc);
    cr_assert_not_null(j);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tests"), 0);
    const cJSON *chain = cJSON_GetObjectItem(t, "error_chain");
    cr_assert(cJSON_IsArray(chain) && cJSON_GetArraySize(chain) >= 2, "%s", doc);
    const cJSON *outer = cJSON_GetArrayItem(chain, 0);
    const cJSON *root = cJSON_GetArrayItem(chain, cJSON_GetArraySize(chain) - 1);
    cr_assert(strstr(cJSON_GetObjectItem(outer, "message")->valuestring, "service bad"), "%s", doc);
    cr_assert_str_eq(cJSON_GetObjectItem(root, "code")->valuestring, "backend");
    cr_assert_str_eq(cJSON_GetObjectItem(root, "message")->valuestring, "fake: create refused");
    cr_assert(strstr(cJSON_GetObjectItem(t, "error")->valuestring, "create refused"));
    const cJSON *svc = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "services"), 0);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(svc, "error_chain")), "%s", doc);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(t, "teardown_error_chains")));
    cJSON_Delete(j);
    free(doc);
    assert_torn_down();
}

Test(runner, teardown_when_readiness_times_out)
{
    add_spec("a", "[test]\nname = \"never-ready\"\n" IMG "[services.slow]\nimage = \"bb\"\n"
                  "ready = { exec = [\"false\"], interval = \"20ms\", timeout = \"200ms\" }\n"
                  "[[steps]]\nservice = \"slow\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    /* the real time waited (at least the timeout, a little more), and the limit */
    cr_assert(strstr(cln_error_text(results[0].error), "not ready after 2") &&
                  strstr(cln_error_text(results[0].error), "ms (ready.timeout 200ms)"),
              "%s", cln_error_text(results[0].error));
    cr_assert_str_eq(results[0].services[0].log_tail, "fake log line\n");
    cr_assert_geq(fake_count(&fk, "exec c1 false"), 3, "the probe was retried");
    assert_torn_down();
}

/* ready.timeout counts from the service's start: what the engine takes
 * after it (inspecting the container and its image, slow under load) is
 * part of it, and the time reported is the time the deadline was for. */
Test(runner, the_readiness_deadline_counts_from_the_start)
{
    add_spec("a", "[test]\nname = \"never-ready\"\n[services.slow]\nimage = \"slow-inspect/x:1\"\n"
                  "ready = { exec = [\"false\"], interval = \"40s\", timeout = \"500ms\" }\n"
                  "[[steps]]\nservice = \"slow\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    /* 500 ms from the start, of which the engine took 300: not 800 */
    cr_assert(strstr(cln_error_text(results[0].error), "not ready after 5") &&
                  strstr(cln_error_text(results[0].error), "ms (ready.timeout 500ms)"),
              "%s", cln_error_text(results[0].error));
    assert_torn_down();
}

Test(runner, teardown_when_a_step_fails_errors_or_the_run_is_interrupted)
{
    add_spec("a", "[test]\nname = \"fails\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"false\"]\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"true\"]\n");
    add_spec("b", "[test]\nname = \"errors\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"explode\"]\n");
    add_spec("c", "[test]\nname = \"ephemeral\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"false\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_FAILED);
    cr_assert_eq(results[0].steps[1].status, CLN_ST_SKIPPED, "later steps do not run");
    cr_assert_str_eq(results[0].steps[0].attempts[0].failures[0].what, "exit code");
    cr_assert_eq(results[1].status, CLN_ST_ERROR);
    cr_assert(strstr(cln_error_text(results[1].steps[0].attempts[0].error), "went away"));
    cr_assert_eq(results[2].status, CLN_ST_FAILED);
    assert_torn_down();

    /* interrupted: nothing new starts, what started is torn down */
    for (size_t i = 0; i < set.n; i++)
        cln_test_result_done(&results[i]);
    free(results);
    results = NULL;
    static volatile sig_atomic_t intr = 1;
    run_all(1, false, &intr);
    for (size_t i = 0; i < set.n; i++)
        cr_assert_eq(results[i].status, CLN_ST_SKIPPED);
    assert_torn_down();
}

Test(runner, continue_on_failure_and_retries)
{
    add_spec("a", "[test]\nname = \"retry\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"false\"]\ncontinue_on_failure = true\n"
                  "[[steps]]\nrun = [\"flaky\", \"2\"]\nretries = 3\nretry_interval = \"10ms\"\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_FAILED, "the first step failed");
    cr_assert_eq(results[0].steps[1].status, CLN_ST_PASSED);
    cr_assert_eq(results[0].steps[1].nattempts, 3, "two failures, then a pass");
    cr_assert_eq(results[0].steps[1].attempts[0].status, CLN_ST_FAILED);
    assert_torn_down();
}

Test(runner, step_and_test_timeouts)
{
    add_spec("a", "[test]\nname = \"step-timeout\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"sleepms\", \"5000\"]\ntimeout = \"100ms\"\n");
    add_spec("b",
             "[test]\nname = \"test-timeout\"\ntimeout = \"300ms\"\ndefault_image = \"bb\"\n" IMG
             "[[steps]]\nrun = [\"sleepms\", \"200\"]\n"
             "[[steps]]\nrun = [\"sleepms\", \"5000\"]\n"
             "[[steps]]\nrun = [\"true\"]\n");
    uint64_t ms = run_all(2, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_TIMEOUT);
    cr_assert(results[0].steps[0].attempts[0].timed_out);
    cr_assert_str_eq(results[0].steps[0].attempts[0].limit, "the step's timeout (100ms)");
    cr_assert_eq(results[1].status, CLN_ST_TIMEOUT);
    cr_assert_eq(results[1].steps[1].status, CLN_ST_TIMEOUT);
    cr_assert_str_eq(results[1].steps[1].attempts[0].limit, "the test's timeout (300ms)");
    cr_assert_eq(results[1].steps[2].status, CLN_ST_SKIPPED);
    cr_assert_lt(ms, 1500, "the deadlines cut the sleeps short (%llu ms)", (unsigned long long)ms);
    assert_torn_down();
}

Test(runner, tests_run_in_parallel_and_results_keep_their_order)
{
    for (int i = 0; i < 4; i++) {
        char name[16], text[512];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(text, sizeof(text),
                 "[test]\nname = \"p%d\"\ndefault_image = \"bb\"\n" IMG
                 "[[steps]]\nrun = [\"sleepms\", \"%d\"]\n",
                 i, 400 - i * 100);
        add_spec(name, text);
    }
    uint64_t ms = run_all(4, false, NULL);
    cr_assert_lt(ms, 900, "4 workers ran 4 tests of <=400 ms in %llu ms", (unsigned long long)ms);
    for (int i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof(want), "p%d", i);
        cr_assert_str_eq(results[i].test->name, want, "results keep the input order");
        cr_assert_eq(results[i].status, CLN_ST_PASSED);
    }
    assert_torn_down();
}

Test(runner, one_worker_runs_tests_one_after_another)
{
    for (int i = 0; i < 3; i++) {
        char name[16], text[512];
        snprintf(name, sizeof(name), "s%d", i);
        snprintf(text, sizeof(text),
                 "[test]\nname = \"s%d\"\ndefault_image = \"bb\"\n" IMG
                 "[[steps]]\nrun = [\"sleepms\", \"200\"]\n",
                 i);
        add_spec(name, text);
    }
    uint64_t ms = run_all(1, false, NULL);
    cr_assert_geq(ms, 600, "sequential: %llu ms", (unsigned long long)ms);
}

Test(runner, fail_fast_starts_nothing_after_a_failure)
{
    add_spec("a", "[test]\nname = \"first\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"false\"]\n");
    add_spec("b", "[test]\nname = \"second\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"true\"]\n");
    add_spec("c", "[test]\nname = \"third\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"true\"]\n");
    run_all(1, true, NULL);
    cr_assert_eq(results[0].status, CLN_ST_FAILED);
    cr_assert_eq(results[1].status, CLN_ST_SKIPPED);
    cr_assert_eq(results[2].status, CLN_ST_SKIPPED);
    cr_assert_eq(fake_count(&fk, "exec"), 1);
    assert_torn_down();
}

Test(runner, file_expectations_and_no_network_backend)
{
    fk.no_network = true;
    add_spec("a", "[test]\nname = \"files\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"true\"]\n"
                  "expect.files = [{ path = \"/present\", equals = \"content\\n\" },"
                  " { path = \"/absent\", exists = false }]\n"
                  "[[steps]]\nrun = [\"true\"]\n"
                  "expect.files = [{ path = \"/absent\" }]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].steps[0].status, CLN_ST_PASSED);
    cr_assert_eq(results[0].steps[1].status, CLN_ST_FAILED);
    cr_assert_str_eq(results[0].steps[1].attempts[0].failures[0].what, "file /absent exists");
    cr_assert_null(results[0].network);
    cr_assert(strstr(results[0].network_note, "has no networks"), "%s", results[0].network_note);
    cr_assert_eq(fake_count(&fk, "network-"), 0);
    assert_torn_down();
}

Test(runner, service_facts_are_substituted)
{
    add_spec("a",
             "[test]\nname = \"facts\"\n" IMG "[services.web]\nimage = \"bb\"\nports = [8080]\n"
             "[[steps]]\nservice = \"web\"\n"
             "run = [\"echo\", \"${service.web.host}\", \"port=${service.web.port.8080}\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_PASSED);
    cr_assert_str_eq(results[0].steps[0].argv.v[1], "web");
    cr_assert_str_eq(results[0].steps[0].argv.v[2], "port=0", "the fake publishes no port");
}

/* Every service starts, however many share a level (this code once
 * started 64 and dropped the rest: a spec whose 65th service could never
 * be ready passed). */
Test(runner, every_service_of_a_level_starts)
{
    struct cln_buf b = CLN_BUF_INIT;
    cln_buf_puts(&b, "[test]\nname = \"many\"\n" IMG);
    for (int i = 0; i < 100; i++)
        cln_buf_printf(&b, "[services.s%03d]\nimage = \"bb\"\ncommand = [\"true\"]\n%s", i,
                       i == 70 ? "ready = { exec = [\"false\"], timeout = \"200ms\" }\n" : "");
    cln_buf_puts(&b, "[[steps]]\nservice = \"s000\"\nrun = [\"true\"]\n");
    add_spec("many", b.data);
    cln_buf_done(&b);
    run_all(1, false, NULL);
    cr_assert_eq(fake_count(&fk, "create "), 100);
    cr_assert_eq(fake_count(&fk, "remove "), 100);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    cr_assert(strstr(cln_error_text(results[0].error), "service s070 not ready"), "%s",
              cln_error_text(results[0].error));
}

/* Once the engine is known gone, no test starts: each is an error naming
 * the engine. */
Test(runner, no_test_starts_once_the_engine_is_gone)
{
    add_spec("a",
             "[test]\nname = \"a\"\ndefault_image = \"bb\"\n" IMG "[[steps]]\nrun = [\"true\"]\n");
    add_spec("b",
             "[test]\nname = \"b\"\ndefault_image = \"bb\"\n" IMG "[[steps]]\nrun = [\"true\"]\n");
    fk.gone = true;
    run_all(1, false, NULL);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(results[i].status, CLN_ST_ERROR);
        cr_assert_str_eq(cln_error_text(results[i].error),
                         "not started: the fake engine stopped answering");
    }
    cr_assert_eq(fake_count(&fk, "create "), 0);
    cr_assert_eq(cln_session_exit_code(results, set.n, false), 3);
}

/* The limit that fired is the one named: the run's --timeout, not the
 * test's (this code once said "test timeout (1m30s) reached" for a 3 s
 * --timeout). */
Test(runner, the_limit_that_fired_is_named)
{
    add_spec("a", "[test]\nname = \"a\"\ntimeout = \"1m30s\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"sleepms\", \"2000\"]\n[[steps]]\nrun = [\"true\"]\n");
    rt = fake_runtime_new(&fk);
    results = calloc(set.n, sizeof(*results));
    struct cln_run_options o = {
        .jobs = 1, .run_id = "r1", .version = "test", .run_timeout_ms = 300};
    cln_run_tests(rt, set.tests, set.n, &o, results);
    cr_assert_eq(results[0].status, CLN_ST_TIMEOUT);
    cr_assert(
        strstr(cln_error_text(results[0].error), "the run's --timeout (300ms) reached in step"),
        "%s", cln_error_text(results[0].error));
    cr_assert_lt(results[0].steps[0].attempts[0].duration_ms, 1000);
    cr_assert_str_eq(results[0].steps[0].attempts[0].limit, "the run's --timeout (300ms)");
}

/* A network only where something of the test needs one: a test of fresh
 * steps alone gets none (its steps run with no network either way); a
 * step that asks for one, or a service, gets the test's network. */
Test(runner, a_network_only_for_a_test_that_needs_one)
{
    add_spec("a", "[test]\nname = \"plain\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"true\"]\n");
    add_spec("b", "[test]\nname = \"networked\"\ndefault_image = \"bb\"\n" IMG
                  "[[steps]]\nrun = [\"true\"]\nnetwork = true\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_PASSED);
    cr_assert_eq(results[1].status, CLN_ST_PASSED);
    cr_assert_null(results[0].network);
    cr_assert_null(results[0].network_note);
    cr_assert_not_null(results[1].network);
    cr_assert_eq(fake_count(&fk, "network-create"), 1, "one network, for the test that asked");
    cr_assert_str_eq(results[0].steps[0].evidence.net_reason, "no network");
    assert_torn_down();
}

/* A service that exits under a step (the exec fails as runc's "cannot exec
 * in a deleted state", exit 126, or is killed with the container): the
 * step is an error saying the service exited, with its code, not a
 * failure of the step's expectations (CI saw the race on Docker). */
Test(runner, a_service_that_exits_under_a_step_is_an_error)
{
    add_spec("a", "[test]\nname = \"gone\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"vanish\", \"3\"]\n");
    run_all(1, false, NULL);
    cr_assert_eq(results[0].status, CLN_ST_ERROR);
    const struct cln_step_result *st = &results[0].steps[0];
    cr_assert_eq(st->status, CLN_ST_ERROR);
    cr_assert_eq(st->nattempts, 1);
    const char *m = st->attempts[0].error ? cln_error_text(st->attempts[0].error) : "";
    cr_assert(strstr(m, "service s exited with code 3"), "%s", m);
    assert_torn_down();
}

/* The same when the engine reports the exec's end (137) before the
 * container's (Docker): the runner waits for the engine to see it; a step
 * that simply fails in a running service does not wait. */
Test(runner, a_service_seen_exiting_after_its_exec_is_an_error)
{
    add_spec("a", "[test]\nname = \"late\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"vanish-late\", \"5\"]\n");
    add_spec("b", "[test]\nname = \"plain\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"false\"]\n");
    run_all(1, false, NULL);
    const struct cln_step_result *st = &results[0].steps[0];
    cr_assert_eq(st->status, CLN_ST_ERROR);
    const char *m = st->attempts[0].error ? cln_error_text(st->attempts[0].error) : "";
    cr_assert(strstr(m, "service s exited with code 5"), "%s", m);
    cr_assert_eq(results[1].status, CLN_ST_FAILED);
    cr_assert_eq(fake_count(&fk, "wait"), 1,
                 "only the exit that looked like a dying service waited");
    assert_torn_down();
}

/* The run's host directories (cleanrun-*) under dir, where TMPDIR points. */
static size_t host_dirs(void)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strncmp(e->d_name, "cleanrun-", 9) == 0;
    if (d)
        closedir(d);
    return n;
}

/* On a local engine the keep-alive files are the run's host directory,
 * bound read-only into every container: no volume to fill, nothing
 * copied; the directory is gone when the run ends. */
Test(runner, a_local_engine_binds_the_keepalive_files)
{
    cr_assert_eq(setenv("TMPDIR", dir, 1), 0);
    fk.local = true;
    add_spec("a", "[test]\nname = \"bound\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"true\"]\n"
                  "[[steps]]\nimage = \"bb\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    unsetenv("TMPDIR");
    cr_assert_eq(results[0].status, CLN_ST_PASSED);
    size_t creates = fake_count(&fk, "create c");
    cr_assert_eq(creates, 2, "a service and a fresh container");
    size_t binds = 0;
    for (size_t i = 0; i < fk.nlog; i++) {
        const char *l = fk.log[i];
        if (strncmp(l, "mount ", 6) != 0 || !strstr(l, " /.cleanrun "))
            continue;
        cr_assert(strstr(l, " bind ") && strstr(l, "/cleanrun-r1-") && strstr(l, " ro"), "%s", l);
        cr_assert_null(strstr(l, "missing"), "the files were there at create: %s", l);
        binds++;
    }
    cr_assert_eq(binds, 2, "every container binds them");
    cr_assert_eq(fake_count(&fk, "copy-in"), 0, "nothing copied");
    cr_assert_eq(fake_count(&fk, "volume-create"), 0, "no volume");
    cr_assert_eq(host_dirs(), 0, "the run's host directory is removed");
    assert_torn_down();
}

/* A local engine that does not see this host's files (cleanrun in a
 * container beside the engine's socket) refuses the bind once; from then
 * on every container gets the files another way, and the test passes. */
Test(runner, a_local_engine_that_cannot_see_the_files_gets_them_another_way)
{
    cr_assert_eq(setenv("TMPDIR", dir, 1), 0);
    fk.local = true;
    fk.blind = true;
    add_spec("a", "[test]\nname = \"blind\"\n" IMG "[services.s]\nimage = \"bb\"\n"
                  "[[steps]]\nservice = \"s\"\nrun = [\"true\"]\n"
                  "[[steps]]\nimage = \"bb\"\nrun = [\"true\"]\n"
                  "[[steps]]\nimage = \"bb\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    unsetenv("TMPDIR");
    cr_assert_eq(results[0].status, CLN_ST_PASSED, "%s",
                 results[0].error ? cln_error_text(results[0].error) : "");
    cr_assert_eq(fake_count(&fk, "create-failed"), 1, "the bind is tried once");
    cr_assert_eq(fake_count(&fk, "create c"), 3);
    cr_assert_eq(fake_count(&fk, "copy-in"), 3, "each container gets its copy");
    cr_assert_eq(host_dirs(), 0);
    assert_torn_down();
}

/* An engine that does not refuse a bind of a path it cannot see (Podman
 * makes the path) is never given one: the keep-alive files come as before. */
Test(runner, an_engine_that_does_not_check_binds_gets_no_bind)
{
    cr_assert_eq(setenv("TMPDIR", dir, 1), 0);
    fk.local = true;
    fk.no_network = true;
    add_spec("a",
             "[test]\nname = \"unchecked\"\n" IMG "[[steps]]\nimage = \"bb\"\nrun = [\"true\"]\n");
    run_all(1, false, NULL);
    unsetenv("TMPDIR");
    cr_assert_eq(results[0].status, CLN_ST_PASSED);
    for (size_t i = 0; i < fk.nlog; i++)
        cr_assert_null(strstr(fk.log[i], " bind "), "%s", fk.log[i]);
    cr_assert_eq(fake_count(&fk, "copy-in"), 1, "a copy, as before");
    assert_torn_down();
}
