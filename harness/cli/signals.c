/* The signal thread of `cleanrun run` (signals.h): the first SIGINT or
 * SIGTERM, the interrupt wake pipe, and the second signal's sweep. */
#include "signals.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "harness/exit.h"
#include "harness/reclaim.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/runtime.h"

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR2);
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

/* Remove everything with the run's label, a few passes at most (each waits
 * for removals already in progress), until the audit finds nothing. */
static int sweep_run(struct cln_signals *s, size_t removed[3], struct cln_error **err)
{
    int r = 0;
    for (int pass = 0; pass < 5; pass++) {
        cln_error_free(*err);
        *err = NULL;
        r = cln_remove_run(s->rt, s->run_id, removed, err);
        struct cln_leak_audit a;
        cleanup_error struct cln_error *ae = NULL;
        bool empty = cln_audit_run(s->rt, s->run_id, &a, &ae) == 0 && a.n == 0;
        cln_leak_audit_done(&a);
        if (r == 0 && empty)
            break;
    }
    return r;
}

/* The first signal: stop, and end what waits on the engine now (running
 * steps are killed, a build or pull in flight is cancelled). */
static void first_signal(struct cln_signals *s, int sig)
{
    s->got = sig;
    if (s->wake[1] >= 0)
        (void)!write(s->wake[1], "x", 1);
    fprintf(stderr,
            "\ncleanrun: %s: stopping and cleaning up (SIGINT again to force "
            "removal now)\n",
            signal_name(sig));
    pthread_mutex_lock(&s->lock);
    if (s->rt)
        cln_runtime_interrupt(s->rt);
    pthread_mutex_unlock(&s->lock);
}

/* A second signal: remove everything now, each request and the whole of it
 * bounded (a frozen engine must not hold us); then give the run up to 3 s
 * to finish its own teardown and leak audit (a create request already in
 * flight lands after any sweep); if it is stuck, sweep again and exit.
 * Returns only when the run finished meanwhile (it exits 130 the normal
 * way). */
static void second_signal(struct cln_signals *s, int sig)
{
    pthread_mutex_lock(&s->lock);
    bool opened = s->rt != NULL;
    pthread_mutex_unlock(&s->lock);
    if (!opened) {
        /* nothing of this run exists yet */
        fflush(NULL);
        _exit(CLN_EXIT_SIGNAL + s->got);
    }
    cln_runtime_interrupt(s->rt);
    size_t removed[3] = {0};
    cleanup_error struct cln_error *e = NULL;
    cln_deadline_set(cln_now_ms() + 3000, "the forced removal's 3 s");
    sweep_run(s, removed, &e); /* its error, if any, is the second sweep's to report */
    fprintf(stderr,
            "cleanrun: second %s: removed %zu containers, %zu networks, %zu "
            "volumes of run %s\n",
            signal_name(sig), removed[0], removed[1], removed[2], s->run_id);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&s->lock);
    while (!s->finished && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
        ;
    bool finished = s->finished;
    pthread_mutex_unlock(&s->lock);
    if (finished)
        return;
    cln_deadline_set(cln_now_ms() + 3000, "the forced removal's 3 s");
    if (sweep_run(s, removed, &e) < 0) {
        cln_cli_print_error(e);
        fprintf(stderr, "cleanrun: what is left of run %s is for 'cleanrun gc'\n", s->run_id);
    }
    fflush(NULL);
    _exit(CLN_EXIT_SIGNAL + s->got);
}

static void *signal_thread(void *ud)
{
    struct cln_signals *s = ud;
    sigset_t set;
    signal_set(&set);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0)
            continue;
        if (sig == SIGUSR2)
            return NULL; /* the run is over */
        if (!s->got) {
            first_signal(s, sig);
            continue;
        }
        second_signal(s, sig);
        return NULL;
    }
}

void cln_signals_start(struct cln_signals *s, const char *run_id)
{
    /* Blocked in every thread from the start (threads made later inherit
     * it; a signal that comes early waits, pending, and is not lost even
     * when inherited as ignored); one thread takes them. */
    sigset_t set;
    signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    *s = (struct cln_signals){.run_id = run_id, .wake = {-1, -1}};
    if (cln_os_pipe(s->wake) < 0)
        s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->started = pthread_create(&s->thread, NULL, signal_thread, s) == 0;
}

void cln_signals_attach(struct cln_signals *s, struct cln_runtime *rt)
{
    pthread_mutex_lock(&s->lock);
    /* read by the signal thread (cppcheck does not follow it) */
    // cppcheck-suppress unreadVariable
    s->rt = rt;
    pthread_mutex_unlock(&s->lock);
}

void cln_signals_stop(struct cln_signals *s)
{
    pthread_mutex_lock(&s->lock);
    /* read by the signal thread (cppcheck does not follow threads) */
    // cppcheck-suppress unreadVariable
    s->finished = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->started) {
        pthread_kill(s->thread, SIGUSR2);
        pthread_join(s->thread, NULL);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0) {
            close(s->wake[i]);
            s->wake[i] = -1;
        }
}
