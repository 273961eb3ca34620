/* What a run found, test by test: the result types the runner fills and
 * the reports (report.h) and the CLI read.  Owned by the results; freed
 * with cln_test_result_done(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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
    struct cln_error *error; /* an infrastructure error, or NULL (text: cln_error_text) */
};

/* One path of `artifacts` (or a service's log), as saved for --artifacts. */
struct cln_artifact {
    char *path;                  /* in the container ("/srv/out/"), or "log" for a service's log */
    char *saved;                 /* where it went (under --artifacts DIR), or NULL */
    uint64_t bytes;              /* saved */
    size_t files;                /* regular files saved */
    size_t skipped;              /* entries neither files nor directories (links, devices) */
    bool truncated;              /* the size cap was reached: some of it is missing */
    char *error;                 /* why nothing (or not all) was saved, or NULL */
    struct cln_strv attachments; /* the files saved (at most 100 listed), for JUnit */
};
void cln_artifact_done(struct cln_artifact *a);

struct cln_step_result {
    const struct cln_spec_step *step;
    enum cln_status status;
    char *where; /* "service web" or "image busybox (fresh container)" */
    char *container_id;
    struct cln_strv argv; /* after substitution */
    struct cln_attempt *attempts;
    size_t nattempts;
    uint64_t duration_ms;
    bool observed;                  /* evidence was gathered (the step ran) */
    struct cln_evidence evidence;   /* where and how it ran, and the verdict */
    struct cln_artifact *artifacts; /* --artifacts: its paths, as saved */
    size_t nartifacts;
};

struct cln_service_result {
    const struct cln_spec_service *service;
    char *container_id;
    char *image_id;
    char *image_digest;   /* a registry digest, or NULL (local builds have none) */
    uint16_t *host_ports; /* parallel to service->ports */
    char *route_ip;       /* its address on the test's routed network (a local engine) */
    uint64_t ready_ms;    /* from start to ready */
    struct cln_error *error;
    char *log_tail; /* last log lines when it failed */
    bool observed;
    struct cln_evidence evidence;   /* of the service's container */
    struct cln_artifact *artifacts; /* --artifacts: its paths and (a failed test) its log */
    size_t nartifacts;
    /* its canary, while the exec of its first step is to write it (the
     * runner's own, "" when none is pending) */
    char canary_token[40];
};

struct cln_test_result {
    const struct cln_spec_test *test;
    enum cln_status status;
    int64_t started_unix_ms; /* wall clock */
    uint64_t duration_ms;
    struct cln_error *error; /* why the test errored, or NULL */
    char *network;           /* the private network's name, or NULL */
    char *network_note;      /* why there is none */
    struct cln_service_result *services;
    size_t nservices;
    struct cln_step_result *steps;
    size_t nsteps;
    struct cln_error **teardown_errors;
    size_t nteardown_errors;
    /* --keep-on-failure: what was left running for inspection (ids, names) */
    struct cln_strv kept, kept_networks, kept_volumes;
    enum cln_verdict verdict; /* the worst of its steps' */
    bool any_observed;
    char *artifacts_dir; /* --artifacts: its directory, when anything of it was kept */
};

void cln_test_result_done(struct cln_test_result *r);
