/* What the report writers (report.c, report-json.c, report-junit.c,
 * report-tap.c) share; not for the rest of the harness. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct cln_report_counts {
    size_t st[5];
    size_t verdicts[3];
};

void cln_report_iso_time(int64_t unix_ms, bool with_ms, char *out, size_t size);
const char *cln_report_host_name(char *buf, size_t size);
const struct cln_attempt *cln_report_last_attempt(const struct cln_step_result *s);
bool cln_report_result_done(const struct cln_report_input *in, size_t i);
void cln_report_count_all(const struct cln_report_input *in, struct cln_report_counts *c);
