/* SIGINT and SIGTERM during `cleanrun run` (docs/cli.md): blocked in every
 * thread from the moment `run` starts and taken by one thread, so that a
 * signal during loading or engine discovery counts too.  The first signal
 * stops scheduling, interrupts every engine request in flight and wakes the
 * runner's pauses (the run tears down as usual, exit 128 + the signal); a
 * second removes everything carrying the run's label at once (the sweep,
 * each removal bounded) and exits 130 even with the engine frozen. */
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

struct cln_runtime;

/* Fields are the signal thread's and this file's; read them through the
 * functions below. */
struct cln_signals {
    volatile sig_atomic_t got; /* the first signal's number; 0 before */
    int wake[2];               /* a pipe written once on the first signal; -1: none */
    const char *run_id;        /* borrowed: what the sweep removes */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct cln_runtime *rt; /* under lock: the engine, once open */
    bool finished;          /* under lock: the run has torn down and audited */
    bool started;           /* the thread runs */
    pthread_t thread;
};

/* Block SIGINT, SIGTERM (and SIGUSR2, which stops the thread) in this
 * thread and every thread made after, and start the thread that takes
 * them.  run_id MUST outlive cln_signals_stop(). */
void cln_signals_start(struct cln_signals *s, const char *run_id);
/* The engine is open: a second signal sweeps it from now on. */
void cln_signals_attach(struct cln_signals *s, struct cln_runtime *rt);
/* Set once interrupted (for struct cln_run_options.interrupted). */
static inline const volatile sig_atomic_t *cln_signals_flag(const struct cln_signals *s)
{
    return &s->got;
}
/* Readable once interrupted; -1: none. */
static inline int cln_signals_wake_fd(const struct cln_signals *s)
{
    return s->wake[0];
}
/* The run is over (torn down, audited, reports written): a second signal
 * waiting for it returns, the thread stops, everything is released. */
void cln_signals_stop(struct cln_signals *s);
