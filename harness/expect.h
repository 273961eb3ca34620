/* Expectations (docs/spec.md, "expect"): a step's exit code, output and
 * duration against an attempt, and files in its container; each failure
 * appended to the attempt with what was expected, what was there, and a
 * diff a person can read. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "runner.h"

/* Evaluate a step's expectations on an attempt (files excepted); appends
 * failures. */
void cln_check_expectations(const struct cln_spec_expect *x, struct cln_attempt *a);
/* A file's content against equals (exactly equals_len bytes), regexes and
 * JSON values (x may be NULL); what names it ("file /x"). */
void cln_check_content(const char *what, const char *equals, size_t equals_len,
                       const struct cln_content_expect *x, const struct cln_capture *content,
                       struct cln_attempt *a);
/* Append a failure to an attempt (strings copied; diff owned). */
void cln_attempt_add_failure(struct cln_attempt *a, const char *what, const char *expected,
                             const char *actual, char *diff);
/* A readable line diff of expected vs actual. */
char *cln_line_diff(const char *expected, const char *actual);
/* The step's expect.files in container id, looked at with lstat(2) by one
 * exec of the keep-alive busybox (the same answer on every engine), then
 * contents copied out; within timeout_ms.  Appends failures, or sets the
 * attempt's error when the files could not be looked at. */
void cln_check_files(struct cln_runtime *rt, const char *id, const struct cln_spec_expect *x,
                     uint64_t timeout_ms, struct cln_attempt *a);
