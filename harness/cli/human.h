/* What a person sees of `cleanrun run` (docs/cli.md, Output): the header,
 * gc and lockout lines, one result per test in the order of the specs, the
 * live progress line on a terminal's stderr, -v's streamed step output and
 * backend diagnostics, the leak audit, and the final summary.  Implemented
 * as the session's hooks (harness/session.h). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "harness/session.h"
#include "runtime/base/log.h"

struct cln_buf;
struct cln_strv;

/* The printer's state; fields are human.c's. */
struct cln_human {
    FILE *out;   /* the human output: stdout, or stderr when --format puts a report on stdout */
    bool closed; /* a write to out failed (a closed pipe): nothing more goes there */
    bool quiet, color;
    bool tty; /* stderr is a terminal: the progress line (set when the tests begin) */
    size_t n, next_to_print, running, finished;
    bool *started;
    bool finished_all;       /* the tests are over: no more progress line */
    struct cln_buf *partial; /* -v: a step's last incomplete line, per test and stream */
    uint64_t t0_ms;
    bool ticking;
    pthread_t ticker;
    pthread_mutex_t lock; /* recursive: a log line may come from inside a hook */
};

void cln_human_init(struct cln_human *h, FILE *out, bool quiet, bool color);
void cln_human_done(struct cln_human *h);

/* The session hooks that print; stream_output: -v (every step's output, a
 * line at a time). */
void cln_human_hooks(struct cln_session_hooks *ret, bool stream_output);

/* A log sink (cln_log_set_sink) for the backend's diagnostics: one line on
 * stderr each, "cleanrun: LEVEL: message", made visible, around the
 * progress line.  userdata: the struct cln_human. */
void cln_human_log(enum cln_log_level level, const char *msg, void *userdata);

/* The command as the spec wrote it: "..." (sh -c) or ["...", ...]. */
void cln_human_print_argv(FILE *f, const struct cln_strv *v, bool shell);
