/* `cleanrun run --watch` (docs/cli.md): run the selected tests once, then
 * watch the spec files, the directories given (for spec files that appear
 * or are renamed) and every host file the specs copy in (files[].source),
 * and after each change, once things are quiet, run again only the tests
 * whose spec file or sources changed (a new spec file: all its tests).
 *
 * What a run is and how specs are loaded stay cmd-run.c's (struct
 * cln_watch_ops); this file decides what to watch, when to run and what.
 * It waits in poll(2) on the watcher's descriptor and the signal thread's
 * wake pipe (signals.h), so a SIGINT while idle ends it at once, and one
 * during a run interrupts the run as without --watch (its cleanup, exit
 * 130), which ends watch mode too. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cln_spec_set;

struct cln_watch_ops {
    /* Load and select the specs into *set (zeroed), printing every error
     * on stderr (file:line:col).  0, or the exit code of the failure (2):
     * nothing runs then, and watching goes on.  Either way *set is the
     * watcher's to free (it may hold what did load). */
    int (*load)(void *userdata, struct cln_spec_set *set);
    /* Run set->tests (borrowed: a selection of what load gave).  The run's
     * exit code (128 + the signal when interrupted). */
    int (*run)(void *userdata, const struct cln_spec_set *set);
};

struct cln_watch_opts {
    const char *const *paths; /* as given to run; none: "." */
    size_t npaths;
    const struct cln_watch_ops *cb; /* what a load and a run are */
    void *userdata;                 /* for cb */
    /* The signal thread's: set, and wake_fd readable (< 0: none), once
     * SIGINT or SIGTERM came. */
    const volatile sig_atomic_t *interrupted;
    int wake_fd;
    FILE *out;         /* where watch's own lines go (the human output) */
    bool clear;        /* out is a terminal: clear the screen before each run */
    unsigned quiet_ms; /* a change runs after this long without another; 0: 200 */
};

/* Run, then watch and re-run, until interrupted.  Returns the exit code of
 * the last run (2 when the specs had an error at the last reload), 128 +
 * the signal when a run was interrupted, 3 (2 where the host cannot watch
 * files) when watching cannot start. */
int cln_watch(const struct cln_watch_opts *o);
