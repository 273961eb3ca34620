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
};
