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

#include "isolation.h"
#include "runtime/runtime.h"
#include "spec.h"

enum cln_status {
    CLN_ST_PASSED,
    CLN_ST_FAILED,  /* an expectation did not hold */
    CLN_ST_ERROR,   /* infrastructure: the engine, an image, a service */
    CLN_ST_TIMEOUT, /* a step's or the test's deadline */
    CLN_ST_SKIPPED,
};
const char *cln_status_name(enum cln_status s);

struct cln_failure {
    char *what; /* "exit code", "stdout contains", "file /x exists", ... */
    char *expected;
    char *actual;
    char *diff; /* for equals: a line diff; may be NULL */
};

struct cln_attempt {
    enum cln_status status;
    int exit_code;
    bool timed_out;
    bool oom_killed; /* the kernel's OOM killer killed a process in the container meanwhile */
    uint64_t duration_ms;
    struct cln_capture out, err;
    char *exec_id;
    int host_pid;
    const char *kill_method; /* on timeout: how the step was killed (static) */
    char *limit;             /* on timeout: the limit it hit ("the step's timeout (2s)") */
    struct cln_failure *failures;
    size_t nfailures;
    char *error; /* infrastructure error text, or NULL */
};

struct cln_step_result {
    const struct cln_spec_step *step;
    enum cln_status status;
    char *where; /* "service web" or "image busybox (fresh container)" */
    char *container_id;
    struct cln_strv argv; /* after substitution */
    struct cln_attempt *attempts;
    size_t nattempts;
    uint64_t duration_ms;
    bool observed;                /* evidence was gathered (the step ran) */
    struct cln_evidence evidence; /* where and how it ran, and the verdict */
};

struct cln_service_result {
    const struct cln_spec_service *service;
    char *container_id;
    char *image_id;
    char *image_digest;   /* a registry digest, or NULL (local builds have none) */
    uint16_t *host_ports; /* parallel to service->ports */
    char *route_ip;       /* its address on the test's routed network (a local engine) */
    uint64_t ready_ms;    /* from start to ready */
    char *error;
    char *log_tail; /* last log lines when it failed */
    bool observed;
    struct cln_evidence evidence; /* of the service's container */
};

struct cln_test_result {
    const struct cln_spec_test *test;
    enum cln_status status;
    int64_t started_unix_ms; /* wall clock */
    uint64_t duration_ms;
    char *error;        /* why the test errored, or NULL */
    char *network;      /* the private network's name, or NULL */
    char *network_note; /* why there is none */
    struct cln_service_result *services;
    size_t nservices;
    struct cln_step_result *steps;
    size_t nsteps;
    char **teardown_errors;
    size_t nteardown_errors;
    /* --keep-on-failure: what was left running for inspection (ids, names) */
    char **kept, **kept_networks;
    size_t nkept, nkept_networks;
    enum cln_verdict verdict; /* the worst of its steps' */
    bool any_observed;
};

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
    struct cln_runner_events events;
};

/* Run tests[0..n) into results[0..n) (zeroed by the caller).  Returns 0; a
 * test's problems are in its result, never lost. */
int cln_run_tests(struct cln_runtime *rt, const struct cln_spec_test *tests, size_t n,
                  const struct cln_run_options *opts, struct cln_test_result *results);
void cln_test_result_done(struct cln_test_result *r);

/* The exit code of a run (docs/cli.md): 0 all passed, 1 a test failed or
 * timed out, 3 an error or leaks (wins over 1), 4 an isolation violation
 * (wins over both).  Interrupts are the caller's. */
int cln_run_exit_code(const struct cln_test_result *results, size_t n, bool leaks);

/* Evaluate a step's expectations on an attempt (files excepted); appends
 * failures. */
void cln_check_expectations(const struct cln_spec_expect *x, struct cln_attempt *a);
/* A file's content against equals (exactly equals_len bytes) and regex;
 * what names it ("file /x"). */
void cln_check_content(const char *what, const char *equals, size_t equals_len, const char *regex,
                       const struct cln_capture *content, struct cln_attempt *a);
/* Append a failure to an attempt (strings copied; diff owned). */
void cln_attempt_add_failure(struct cln_attempt *a, const char *what, const char *expected,
                             const char *actual, char *diff);
/* A readable line diff of expected vs actual. */
char *cln_line_diff(const char *expected, const char *actual);
/* Does subject match the PCRE2 pattern (multiline)?  -1 on a bad pattern. */
int cln_regex_match(const char *pattern, const char *subject, size_t len);
