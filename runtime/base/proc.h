/* Facts about host processes from /proc, and killing them safely.
 *
 * Nothing here signals a process it has not proven to be in the scope it
 * was asked about (a container's pid namespace and cgroup, started no
 * earlier than the step): each candidate is held by a pidfd, checked, and
 * signalled through that pidfd, so that a pid reused by a host process in
 * between is never hit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The start time of pid (0: this process) in clock ticks after boot, field
 * 22 of /proc/PID/stat: it tells a process from a later one that was given
 * the same pid.  0 when unknown. */
uint64_t cln_proc_start_time(int pid);
/* Now, in the same clock (ticks after boot). */
uint64_t cln_proc_now_ticks(void);

/* This boot's id (/proc/sys/kernel/random/boot_id), or "unknown". */
void cln_boot_id(char *out, size_t size);
/* This machine's id (/etc/machine-id, else /var/lib/dbus/machine-id), or
 * "unknown". */
void cln_machine_id(char *out, size_t size);

/* The inode of pid's pid namespace (pid 0: this process), or 0. */
uint64_t cln_proc_pidns(int pid);
/* pid's cgroup path (the memory controller's on cgroup v1, else the
 * unified one), or NULL. */
char *cln_proc_cgroup(int pid);
/* pid's pid in the innermost pid namespace it is in (NSpid), or 0. */
int cln_proc_inner_pid(int pid);
/* The pids of every process in the cgroup (as cln_proc_cgroup gives it);
 * -1 when its cgroup.procs cannot be read. */
int cln_cgroup_pids(const char *cgroup, int **ret, size_t *ret_n);

/* What a process must be to be signalled. */
struct cln_proc_scope {
    uint64_t pidns;     /* its pid namespace (required) */
    const char *cgroup; /* its cgroup, or one below it (required) */
    uint64_t min_start; /* it started at or after this (ticks after boot) */
    int exclude;        /* never this pid (a container's init), 0: none */
};

/* A pidfd for pid when it is, at the time of the call, a process of the
 * scope; -1 otherwise (gone, elsewhere, too old, excluded). */
int cln_proc_open_scoped(int pid, const struct cln_proc_scope *scope);

/* SIGKILL the process tree under root (root included, 0: none) and, with
 * orphans, every other process of the scope's cgroup: each one stopped
 * first so that it cannot fork, each proven in scope and signalled through
 * its pidfd.  Returns how many processes were killed. */
int cln_proc_kill_scoped(int root, const struct cln_proc_scope *scope, bool orphans);

/* SIGKILL pid, a process of the scope (its exclude, the container's init,
 * allowed), through a pidfd proven in scope.  0, or -1 (not in scope,
 * gone: nothing was signalled). */
int cln_proc_kill_in_scope(int pid, const struct cln_proc_scope *scope);
