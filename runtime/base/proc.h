/* Facts about host processes from /proc. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The start time of pid (0: this process) in clock ticks after boot, field
 * 22 of /proc/PID/stat: it tells a process from a later one that was given
 * the same pid.  0 when unknown. */
uint64_t cln_proc_start_time(int pid);

/* This boot's id (/proc/sys/kernel/random/boot_id), or "unknown". */
void cln_boot_id(char *out, size_t size);
