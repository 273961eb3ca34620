/* Time, and the deadline a thread works under.
 *
 * The harness gives each worker thread a deadline (the test's timeout, the
 * run's --timeout, whichever comes first) with a description of the limit
 * ("the test's timeout (20s)"); every request a backend makes from that
 * thread ends by then, whatever the engine does, and says which limit it
 * was.  A thread without a deadline still has the backend's own bounds on
 * each request. */
#pragma once

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: for every duration and deadline. */
uint64_t cln_now_ms(void);
/* CLOCK_REALTIME in milliseconds since the epoch: only for what a report
 * shows as a date. */
int64_t cln_wall_ms(void);

/* Set (abs_ms > 0) or clear (0) the calling thread's deadline.  what is
 * copied; NULL means "the deadline". */
void cln_deadline_set(uint64_t abs_ms, const char *what);
/* The calling thread's deadline (0: none); *what (may be NULL) gets its
 * description, valid until the next cln_deadline_set on this thread. */
uint64_t cln_deadline_get(const char **what);

/* The earlier of two deadlines, 0 meaning none. */
static inline uint64_t cln_deadline_min(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}
