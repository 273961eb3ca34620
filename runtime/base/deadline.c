#include "deadline.h"

#include <stdio.h>
#include <time.h>

uint64_t cln_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t cln_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static __thread uint64_t thread_deadline;
static __thread char thread_what[160];

void cln_deadline_set(uint64_t abs_ms, const char *what)
{
    thread_deadline = abs_ms;
    snprintf(thread_what, sizeof(thread_what), "%s", abs_ms && what ? what : "the deadline");
}

uint64_t cln_deadline_get(const char **what)
{
    if (what)
        *what = thread_deadline ? thread_what : NULL;
    return thread_deadline;
}
