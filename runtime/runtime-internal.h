/* The runtime object itself, for runtime/ only: the harness holds it
 * opaque (runtime/runtime.h) and backends make it with cln_runtime_new()
 * (runtime/backend.h). */
#pragma once

#include <pthread.h>

#include "backend.h"

struct cln_runtime {
    const struct cln_runtime_desc *desc;
    void *ctx;
    char *endpoint; /* where the engine was found, e.g. unix:///var/run/docker.sock */
    bool local;     /* the engine shares this kernel (host pids are meaningful) */
    struct cln_engine_info info;
    /* every host process the backend started (cln_runtime_record_host_process) */
    pthread_mutex_t procs_lock;
    struct cln_host_process *procs;
    size_t nprocs;
    /* the host-process broker, when desc->host_programs (runtime/broker.c) */
    struct cln_broker *broker;
    struct cln_error *broker_err; /* why it could not be started */
};

/* Start a broker for these programs (absolute paths, NULL-terminated; each
 * must resolve to a regular file): fork it, wait until it is ready.  Call
 * it before the host-exec lockout (a broker forked after it could exec
 * nothing) and from a thread that may be the broker's parent: if that
 * thread exits, the broker checks that the harness is still there and
 * carries on. */
int cln_broker_start(const char *const *programs, struct cln_broker **ret, struct cln_error **err);
/* The same, with the functions the broker may run (NULL-terminated by
 * name; NULL: none): see cln_broker_fork. */
int cln_broker_start_fns(const char *const *programs, const struct cln_broker_fn_entry *fns,
                         struct cln_broker **ret, struct cln_error **err);
/* Stop it: every process it started is killed (SIGKILL) and reaped, then
 * the broker exits; bounded (a few seconds at worst).  NULL-safe. */
void cln_broker_stop(struct cln_broker *b);
/* 0 when the runtime's backend runs no host programs or its broker runs;
 * otherwise why the broker is missing (with the code of that cause, e.g.
 * CLN_E_NOT_FOUND for a declared program that does not exist). */
int cln_runtime_broker_check(const struct cln_runtime *rt, struct cln_error **err);
