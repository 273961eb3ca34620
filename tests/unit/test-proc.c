/* Unit tests of safe killing (runtime/base/proc.c): nothing outside the
 * scope it was asked about is ever signalled: not a process of another pid
 * namespace or cgroup, not one older than the step, not the excluded init.
 * The processes are this test's own children, so that the test can tell. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/proc.h"

static pid_t sleeper(void)
{
    pid_t p = fork();
    if (p == 0) {
        for (;;)
            pause();
    }
    cr_assert_gt(p, 0);
    /* until it shows in /proc with a start time */
    for (int i = 0; i < 200 && !cln_proc_start_time(p); i++)
        usleep(1000);
    return p;
}

/* Killed by SIGKILL (reaps it); false when it still runs (then killed here). */
static bool was_killed(pid_t p)
{
    int status = 0;
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(p, &status, WNOHANG);
        if (r == p)
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        usleep(1000);
    }
    kill(p, SIGKILL);
    waitpid(p, &status, 0);
    return false;
}

static void wait_ticks(void)
{
    uint64_t t = cln_proc_now_ticks();
    while (cln_proc_now_ticks() == t)
        usleep(1000);
}

Test(proc, a_process_in_scope_is_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    cr_assert_not_null(cg);
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    pid_t p = sleeper();
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 1);
    cr_assert(was_killed(p));
    free(cg);
}

Test(proc, a_whole_tree_is_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t p = fork();
    if (p == 0) {
        pid_t g = fork();
        if (g == 0) {
            for (;;)
                pause();
        }
        (void)!write(fds[1], &g, sizeof(g));
        for (;;)
            pause();
    }
    pid_t g = 0;
    cr_assert_eq(read(fds[0], &g, sizeof(g)), (ssize_t)sizeof(g));
    for (int i = 0; i < 200 && !cln_proc_start_time(g); i++)
        usleep(1000);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 2);
    cr_assert(was_killed(p));
    /* the grandchild was killed too: gone, or a zombie of whoever it was
     * reparented to */
    bool dead = false;
    for (int i = 0; i < 500 && !dead; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", g);
        FILE *f = fopen(path, "r");
        dead = !f;
        if (f) {
            char buf[512];
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
            const char *rp = strrchr(buf, ')');
            dead = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
        }
        if (!dead)
            usleep(1000);
    }
    cr_assert(dead, "the grandchild survived");
    free(cg);
}

/* A step's process started after the step began: one that was running
 * before (a reused pid's owner, or a service's own worker) is not the
 * step's. */
Test(proc, a_process_older_than_the_step_is_not_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    pid_t p = sleeper();
    wait_ticks();
    wait_ticks();
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    cr_assert_eq(cln_proc_open_scoped(p, &scope), -1);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 0);
    cr_assert_not(was_killed(p));
    free(cg);
}

/* What the engine said is the step's pid, once the step's own process is
 * gone, may be a host process: another pid namespace or cgroup than the
 * container's, so never signalled. */
Test(proc, a_process_of_another_pid_namespace_or_cgroup_is_not_killed)
{
    char *cg = cln_proc_cgroup(getpid());
    uint64_t t0 = cln_proc_now_ticks();
    pid_t p = sleeper();
    struct cln_proc_scope other_ns = {.pidns = 4026539999ULL, .cgroup = cg, .min_start = t0};
    struct cln_proc_scope other_cg = {
        .pidns = cln_proc_pidns(0), .cgroup = "/docker/0123456789abcdef", .min_start = t0};
    struct cln_proc_scope excluded = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = t0, .exclude = p};
    cr_assert_eq(cln_proc_kill_scoped(p, &other_ns, false), 0);
    cr_assert_eq(cln_proc_kill_scoped(p, &other_cg, false), 0);
    cr_assert_eq(cln_proc_kill_scoped(p, &excluded, false), 0);
    cr_assert_not(was_killed(p));
    free(cg);
}

Test(proc, a_gone_process_is_not_signalled)
{
    char *cg = cln_proc_cgroup(getpid());
    struct cln_proc_scope scope = {
        .pidns = cln_proc_pidns(0), .cgroup = cg, .min_start = cln_proc_now_ticks()};
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    cr_assert_eq(cln_proc_open_scoped(p, &scope), -1);
    cr_assert_eq(cln_proc_kill_scoped(p, &scope, false), 0);
    free(cg);
}

/* A forced removal kills a container's init itself: the scope's excluded
 * pid is allowed there, but never a process outside the scope. */
Test(proc, an_init_in_scope_is_killed_one_outside_never)
{
    char *cg = cln_proc_cgroup(getpid());
    pid_t p = sleeper(), q = sleeper();
    struct cln_proc_scope init = {.pidns = cln_proc_pidns(0), .cgroup = cg, .exclude = p};
    struct cln_proc_scope other_cg = {.pidns = cln_proc_pidns(0),
                                      .cgroup = "/docker/0123456789abcdef"};
    struct cln_proc_scope other_ns = {.pidns = 4026539999ULL, .cgroup = cg};
    cr_assert_eq(cln_proc_kill_in_scope(q, &other_cg), -1);
    cr_assert_eq(cln_proc_kill_in_scope(q, &other_ns), -1);
    cr_assert_eq(cln_proc_kill_in_scope(p, &init), 0);
    cr_assert(was_killed(p));
    cr_assert_not(was_killed(q)); /* which reaps it */
    free(cg);
}

Test(proc, facts)
{
    cr_assert_neq(cln_proc_pidns(0), 0);
    cr_assert_eq(cln_proc_pidns(0), cln_proc_pidns(getpid()));
    cr_assert_eq(cln_proc_inner_pid(getpid()), getpid());
    uint64_t now = cln_proc_now_ticks(), mine = cln_proc_start_time(0);
    cr_assert(mine > 0 && mine <= now, "start %llu, now %llu", (unsigned long long)mine,
              (unsigned long long)now);
    char id[64];
    cln_machine_id(id, sizeof(id));
    cr_assert_gt(strlen(id), 0);
    int *pids = NULL;
    size_t n = 0;
    char *cg = cln_proc_cgroup(getpid());
    cr_assert_eq(cln_cgroup_pids(cg, &pids, &n), 0);
    bool me = false;
    for (size_t i = 0; i < n; i++)
        me = me || pids[i] == getpid();
    cr_assert(me, "this process is in its own cgroup's cgroup.procs");
    free(pids);
    free(cg);
}
