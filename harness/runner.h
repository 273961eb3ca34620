/* The runner: tests in, results out (docs/spec.md, docs/cli.md).
 *
 * Per test: a private network (where the backend has networks), images
 * ensured or built, services started in dependency order (a level at a time,
 * the services of a level together), readiness awaited, steps in order, and
 * teardown in reverse order on every path.  Tests run on N worker threads;
 * results are indexed like the tests, so reporting order never depends on
 * timing. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "results.h"
#include "runtime/runtime.h"
#include "spec.h"

struct cln_runner_events {
    /* Called from worker threads, under the runner's lock. */
    void (*test_started)(size_t index, void *userdata);
    void (*test_finished)(size_t index, const struct cln_test_result *r, void *userdata);
    /* Step output as it arrives (for -v), in pieces that are not lines;
     * data NULL: the attempt's output has ended.  May be NULL. */
    void (*step_output)(size_t index, const char *step, int stream, const char *data, size_t len,
                        void *userdata);
    void *userdata;
};

struct cln_run_options {
    int jobs;                /* worker threads; <= 0: the number of cores */
    bool fail_fast;          /* after a failed test, start no more */
    bool keep_on_failure;    /* leave a failed test's containers running (no teardown) */
    uint64_t run_timeout_ms; /* 0: none */
    const char *run_id;      /* labels every resource */
    const char *version;
    const volatile sig_atomic_t *interrupted; /* set by a signal handler; may be NULL */
    int wake_fd; /* readable once interrupted (ends the runner's pauses); <= 0: none */
    /* --artifacts DIR (made, empty or cleanrun's, by the caller), or NULL:
     * each test's artifacts go to DIR/TEST; kept for a test that did not
     * pass, or for every test with artifacts_always */
    const char *artifacts_dir;
    int artifacts_fd; /* that directory, opened by cln_artifacts_prepare */
    bool artifacts_always;
    uint64_t artifacts_cap; /* bytes per path (0: 16 MiB) */
    struct cln_runner_events events;
};

/* Run tests[0..n) into results[0..n) (zeroed by the caller).  Returns 0; a
 * test's problems are in its result, never lost. */
/* Why test t needs a network of its own (NULL: it needs none). */
const char *cln_runner_network_reason(const struct cln_spec_test *t);

/* --artifacts DIR: made when missing; it must be this user's and writable
 * by no one else; one cleanrun made (it holds a marker file) is emptied of
 * the last run's, any other must be empty.  *ret_fd: DIR, opened (not
 * through a link), for cln_run_options.artifacts_fd. */
int cln_artifacts_prepare(const char *dir, int *ret_fd, struct cln_error **err);

int cln_run_tests(struct cln_runtime *rt, const struct cln_spec_test *tests, size_t n,
                  const struct cln_run_options *opts, struct cln_test_result *results);
