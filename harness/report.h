/* Reports: JSON (docs/report.schema.json), JUnit XML and TAP 13
 * (docs/reports.md).  Each renders the same run into memory; the CLI writes
 * files atomically.  Exit codes never depend on the format. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reclaim.h"
#include "isolation.h"
#include "runner.h"

struct cln_error;

#define CLN_REPORT_SCHEMA "cleanrun-report/1"
/* Each stream of a step is kept in reports up to this many bytes. */
#define CLN_REPORT_OUTPUT_CAP ((size_t)64 << 10)

struct cln_report_input {
    const char *run_id;
    const char *version;
    const struct cln_runtime *rt;
    int64_t start_unix_ms, end_unix_ms;
    uint64_t duration_ms;
    /* options */
    int jobs;
    bool fail_fast, gc;
    const char *filter;
    const char *const *tags;
    size_t ntags;
    const char *shard; /* "I/N" or NULL */
    uint64_t timeout_ms;
    unsigned allow;                    /* enum cln_allow bits */
    const struct cln_lockout *lockout; /* host processes: cln_runtime_host_processes */
    const struct cln_leak_audit *audit;
    bool partial;
    const char *partial_reason;
    int exit_code;
    const struct cln_spec_test *tests;
    const struct cln_test_result *results;
    const bool *done; /* results[i] is complete; NULL: all */
    size_t n;
};

char *cln_report_json(const struct cln_report_input *in);
char *cln_report_junit(const struct cln_report_input *in);
char *cln_report_tap(const struct cln_report_input *in);

/* Write data to path atomically: a temporary file beside it, fsync,
 * rename. */
int cln_report_write_file(const char *path, const char *data, struct cln_error **err);

/* Text made safe for a format: invalid UTF-8 (and NUL) replaced with
 * U+FFFD; for XML, the characters XML 1.0 forbids removed; for YAML, control
 * characters other than tab, newline and CR replaced.  *ret_changed counts
 * the bytes replaced or removed (may be NULL). */
enum cln_text_mode { CLN_TEXT_JSON, CLN_TEXT_XML, CLN_TEXT_YAML };
char *cln_text_clean(const char *data, size_t len, enum cln_text_mode mode, size_t *ret_changed);
