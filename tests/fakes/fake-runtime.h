/* A scripted runtime for unit-testing the runner: every core op and every
 * manager, recording each call in a log.  Behaviour, by the command a
 * container or exec runs:
 *   true / false        exit 0 / 1
 *   echo ARGS...        stdout "ARGS\n"
 *   sleepms N           takes N ms (killed at the exec deadline: TIMEOUT)
 *   flaky K             exit 1 the first K times (counted per fake), then 0
 *   vanish N            the container exits with code N under the exec, which
 *                       ends 126 as runc's "cannot exec in a deleted state"
 *   vanish-late N       the same, ending 137, and inspect says "running" until
 *                       a wait (as Docker, which reports the exec's end first)
 * and by image: "fail/create:1" fails create, "fail/start:1" fails start,
 * "slow-inspect/...": image inspect takes 300 ms.
 * create logs "create ID IMAGE SERVICE net=NET", then a line
 * "mount ID bind|volume|tmpfs SOURCE TARGET ro|rw" for each mount. */
#pragma once

#include <pthread.h>

#include "runtime/runtime.h"

struct fake {
    pthread_mutex_t lock;
    char **log;
    size_t nlog, cap;
    int next_id;
    int flaky_calls;
    bool no_network;    /* build the runtime without the network manager */
    bool host_programs; /* declare /bin/echo as a host program (the broker starts it) */
    bool interrupted;   /* ops->interrupt was called (atomic) */
    bool gone;          /* ops->gone says the engine stopped answering (atomic; set by a test) */
    char *vanished;     /* the container a "vanish" exec ended, and its exit code */
    int vanished_code;
    bool vanish_late; /* inspect says running until a wait */
    bool local;       /* the engine is on this kernel (cln_runtime_local) */
    bool blind;       /* ...but does not see this host's files: a bind mount is
                       * refused ("bind source path does not exist") */
};

struct cln_runtime *fake_runtime_new(struct fake *f);
void fake_runtime_free(struct cln_runtime *rt);
void fake_done(struct fake *f);
/* Index of the first log line starting with prefix at or after from; -1 if none. */
long fake_find(struct fake *f, const char *prefix, size_t from);
size_t fake_count(struct fake *f, const char *prefix);
