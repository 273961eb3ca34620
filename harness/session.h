/* A session: one run of tests from an open engine to its exit code
 * (docs/cli.md, cleanrun run).  In order: gc of what runs whose owner is
 * gone left behind, the host-exec lockout, the tests, the leak audit (and
 * removal of what it finds), the exit code, the reports.  `cleanrun run` and
 * `cleanrun self-test` both run through cln_session_run().
 *
 * The session prints nothing of its own: what a person sees comes from the
 * hooks (harness/cli/human.c for `run`).  The one exception is a report
 * asked for on stdout (`--format json|tap`), which is the session's output. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isolation.h"
#include "reclaim.h"
#include "runner.h"

struct cln_error;
struct cln_session;

enum cln_session_format {
    CLN_SESSION_JSON,
    CLN_SESSION_JUNIT,
    CLN_SESSION_TAP,
};

struct cln_session_report {
    enum cln_session_format format;
    const char *path; /* written atomically; NULL: to stdout (json or tap) */
};

/* What happens, as it happens, for whoever shows it.  Every hook MAY be
 * NULL.  They run on the thread that called cln_session_run(), except
 * test_started, test_finished and step_output, which run on the runner's
 * worker threads under the runner's lock (struct cln_runner_events). */
struct cln_session_hooks {
    /* The session has begun: s->jobs is known, nothing was done yet. */
    void (*begin)(const struct cln_session *s, void *userdata);
    /* gc ran (s->opts->gc): its report, or err when gc itself failed (the
     * run goes on). */
    void (*gc)(const struct cln_session *s, const struct cln_gc_report *r,
               const struct cln_error *err, void *userdata);
    /* s->lockout says what was installed, or why not. */
    void (*lockout)(const struct cln_session *s, void *userdata);
    /* Around the tests: s->t0_ms is set before tests_begin. */
    void (*tests_begin)(const struct cln_session *s, void *userdata);
    void (*test_started)(const struct cln_session *s, size_t index, void *userdata);
    /* s->results[index] is complete (s->done[index] is set). */
    void (*test_finished)(const struct cln_session *s, size_t index, void *userdata);
    /* A step's output as it arrives (struct cln_runner_events); NULL: the
     * runner does not stream output at all. */
    void (*step_output)(const struct cln_session *s, size_t index, const char *step, int stream,
                        const char *data, size_t len, void *userdata);
    void (*tests_end)(const struct cln_session *s, void *userdata);
    /* The leak audit ran: s->audit.error, or its items (what
     * --keep-on-failure kept is not among them), before any is removed. */
    void (*audit)(const struct cln_session *s, void *userdata);
    /* The items were removed (only when there were any); err: the first
     * removal that failed, or NULL.  s->audit.removed counts them. */
    void (*audit_removed)(const struct cln_session *s, const struct cln_error *err, void *userdata);
    /* Counts, verdicts, s->signal and the exit code are known; the reports
     * are not written yet. */
    void (*end)(const struct cln_session *s, void *userdata);
    /* A report could not be written (the exit code becomes 3 if it was 0). */
    void (*report_error)(const struct cln_session *s, const struct cln_error *err, void *userdata);
};

struct cln_session_opts {
    const char *run_id;   /* labels everything the run creates; MUST be set */
    int jobs;             /* worker threads; <= 0: the number of cores; at most one per test */
    bool fail_fast;       /* after a failed test, start no more */
    bool keep_on_failure; /* leave a failed test's containers; not leaks */
    /* --artifacts DIR (prepared: cln_artifacts_prepare) and when to keep */
    const char *artifacts_dir;
    int artifacts_fd; /* DIR, opened by cln_artifacts_prepare */
    bool artifacts_always;
    uint64_t artifacts_max; /* bytes per path; 0: 16 MiB */
    uint64_t timeout_ms;    /* for the whole run; 0: none */
    bool gc;                /* first remove what runs whose owner is gone left */
    bool no_lockout;        /* do not install the lockout (recorded as "off: --no-lockout") */
    /* the selection, recorded in the reports; MAY be NULL / 0 */
    const char *filter;
    const char *const *tags;
    size_t ntags;
    const char *shard;
    unsigned allow; /* enum cln_allow bits */
    const struct cln_session_report *reports;
    size_t nreports;
    /* The signal's number once interrupted (set by a signal thread), 0
     * before; MAY be NULL.  wake_fd: readable once interrupted; < 0: none. */
    const volatile sig_atomic_t *interrupted;
    int wake_fd;
    const struct cln_session_hooks *hooks; /* MAY be NULL */
    void *userdata;                        /* passed to every hook */
};

/* A session's state, read by the hooks as it fills in and by the caller
 * afterwards.  Everything here is owned by the session (cln_session_done). */
struct cln_session {
    const struct cln_session_opts *opts;
    struct cln_runtime *rt;
    const struct cln_spec_test *tests; /* borrowed */
    size_t n;
    int jobs;                        /* worker threads the runner was asked for */
    struct cln_test_result *results; /* [n] */
    bool *done;                      /* [n]: results[i] is complete */
    struct cln_lockout lockout;
    struct cln_leak_audit audit;
    int64_t start_unix_ms;                     /* wall clock, when the session began */
    uint64_t t0_ms;                            /* monotonic (cln_now_ms), when the tests began */
    uint64_t tests_ms;                         /* how long the tests took (the audit excluded) */
    size_t count[CLN_ST_SKIPPED + 1];          /* tests by enum cln_status */
    size_t verdicts[CLN_VERDICT_VIOLATED + 1]; /* observed steps by enum cln_verdict */
    int signal;                                /* the signal that interrupted it, or 0 */
    int exit_code;
};

/* Run tests[0..n) on rt (open; not closed here) as *opts says, filling in
 * *ret (cln_session_done() it, whatever the outcome).  Returns the exit code
 * (enum cln_exit, docs/cli.md): the tests' (cln_session_exit_code), 3 for a
 * leak or a report that could not be written, 128 + the signal when
 * interrupted. */
int cln_session_run(const struct cln_session_opts *opts, struct cln_runtime *rt,
                    const struct cln_spec_test *tests, size_t n, struct cln_session *ret);
void cln_session_done(struct cln_session *s);

/* The exit code the results give: 0 all passed or skipped, 1 a test failed
 * or timed out, 3 an error or leaks (wins over 1), 4 an isolation violation
 * (wins over both).  Interrupts are the caller's. */
int cln_session_exit_code(const struct cln_test_result *results, size_t n, bool leaks);

/* A new run id: 12 random hex digits (size >= 13). */
void cln_session_new_run_id(char *buf, size_t size);
