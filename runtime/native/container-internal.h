/* What container.c, container-setup.c and container-exec.c share. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/base/error.h"
#include "runtime/backend.h"
#include "runtime/base/strv.h"

/* Everything a forked child needs, prepared before the fork so that the child
 * only makes system calls (the caller may be multi-threaded). */
struct ctr_proc {
    struct cln_strv argv, env;
    char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t groups[32]; /* supplementary */
    size_t ngroups;
    struct sock_fprog seccomp; /* the filter, exported from libseccomp */
    unsigned long cap_keep[2]; /* Docker's 14: the bounding set kept, permitted, effective */
    int cap_last;              /* /proc/sys/kernel/cap_last_cap */
    bool userns;               /* in a user namespace mapping root alone: no setgroups */
    uint32_t id_count;         /* rootless: uids and gids 0..id_count-1 mapped; 0 = not rootless */
};

/* The paths the init needs, absolute on the host, made before the fork. */
struct ctr_paths {
    char *dir, *rootfs, *upper, *work, *scratch, *hosts, *resolv;
    char *extra_hosts;  /* lines for /etc/hosts, or NULL */
    char *lowerdir;     /* overlay data "lowerdir=top:...:bottom,upperdir=...,workdir=..." */
    char *lowerdir_tmp; /* the same with upper and work under scratch */
    char *hostname;
    bool read_only;
    bool wait_start; /* the init waits for cln_ctr_start before the workload */
    /* rootless: the monitor makes a user namespace mapping its root to
     * this uid and gid (the caller's); maps_by_caller: the caller writes
     * wider maps (newuidmap) when the monitor asks, else root alone */
    bool userns, maps_by_caller;
    bool privileged;   /* no masked or read-only paths, /sys read-write */
    bool host_network; /* no network namespace of its own */
    uint32_t host_uid, host_gid;
    int go_fd; /* then: it reads its start from this pipe, its own */
    /* the caller's mounts: bind sources opened (O_PATH) before the fork,
     * targets relative to the root */
    struct ctr_mount {
        int type; /* enum cln_ctr_mount_type */
        int source_fd;
        char *source; /* CLN_CTR_BIND: the host path (rootless: opened again by the init) */
        char *target;
        bool read_only, is_dir;
        uint64_t size; /* tmpfs */
        uint32_t mode; /* tmpfs */
    } * mounts;
    size_t nmounts;
};

enum { CTR_SETUP_OVERLAY = 1, CTR_SETUP_TMPFS_UPPER = 2 };
#define CTR_MAX_MOUNTS 32

/* One message from a child: a failure (err != 0) or a pid. */
struct ctr_msg {
    int kind; /* 0 error, 1 init pid, 2 ready (rootfs mode in val), 3 exec pid, 4 killed at the
               * deadline, 5 (monitor) map my user namespace / (caller) kill now */
    int err;  /* errno */
    long val;
    char text[200];
};

struct cln_ctr {
    char *id, *dir;
    struct cln_broker *broker;   /* NULL: its processes are forked here */
    struct cln_broker_child mon; /* the monitor, when the broker runs it */
    char *cg[4];                 /* memory, pids, cpu, unified: the leaf directories, or NULL */
    pid_t monitor, init;
    pid_t first;   /* the first process, once started */
    int cg_layout; /* CTR_CG_* */
    int (*map_ids)(void *ud, pid_t monitor, struct cln_error **err);
    void *map_ud;
    int monitor_fd, init_fd; /* pidfds */
    int ctl;                 /* created, not started: the channel to the init; else -1 */
    int go;                  /* then: the init's start pipe's write end; else -1 */
    bool reaped;
    int exit_code;
    int rootfs_mode;
    struct cln_strv layers; /* the image's layer directories, bottom first */
    struct ctr_proc proc;   /* the first process's, the default for execs */
};

int ctr_proc_prepare(struct ctr_proc *p, struct cln_error **err);
/* Docker's --privileged: every capability, no seccomp filter (after prepare). */
void ctr_proc_privileged(struct ctr_proc *p);
void ctr_proc_done(struct ctr_proc *p);
/* Resolve a user spec against the image's layers (bottom first) into p's
 * uid, gid and supplementary groups (container-user.c). */
int ctr_resolve_user(const struct cln_strv *layers, const char *spec, struct ctr_proc *p,
                     struct cln_error **err);
/* In a user namespace mapping ids 0..count-1 (1: root alone, and then no
 * supplementary group): p's ids must be mapped; spec is for the message. */
int ctr_userns_ids(struct ctr_proc *p, uint32_t count, const char *spec, struct cln_error **err);
/* env over base: a K=V of over replaces base's K. */
void ctr_env_merge(struct cln_strv *out, const char *const *base, const char *const *over);

/* In a child: close every descriptor from 3 up but the n in keep. */
void ctr_close_except(const int *keep, size_t n);
/* In a child: report a failure on fd and _exit(1). */
__attribute__((noreturn)) void ctr_child_fail(int fd, const char *what, int e);
/* In a child: drop to p's credentials, capabilities, NNP, seccomp; chdir; re-arm
 * PDEATHSIG and check the parent (by the alive fd: EOF means it died); exec. */
__attribute__((noreturn)) void ctr_child_exec(const struct ctr_proc *p, int report_fd,
                                              int alive_fd);
/* In the init, before anything: build the root and pivot into it.  Returns
 * CTR_SETUP_* or -errno with *what set. */
int ctr_setup_root(const struct ctr_paths *p, const char **what);
int ctr_loopback_up(void);

/* ---- cgroups (container.c) ---- */

enum { CTR_CG_HYBRID = 0, CTR_CG_V2 = 1, CTR_CG_V1 = 2 };
/* This machine's layout: v2 alone, the hybrid, v1 alone. */
int ctr_cgroup_layout(void);
/* For tests: the cgroup file systems' root, and a layout to take for
 * theirs (-1: detect); also makes limits apply when not root.  NULL, -1:
 * the real ones. */
void ctr_cgroup_setup(const char *root, int layout);
/* c's cgroups (c->id's, under the layout's hierarchies) with cfg's limits
 * written; c->cg[] set. */
struct cln_ctr_config;
int ctr_cgroups_make(struct cln_ctr *c, const struct cln_ctr_config *cfg, struct cln_error **err);

/* ---- the plan: ctr_paths and ctr_proc as bytes (container-plan.c) ---- */

struct cln_buf;
void ctr_plan_put_paths(struct cln_buf *b, const struct ctr_paths *p);
void ctr_plan_put_proc(struct cln_buf *b, const struct ctr_proc *p);
void ctr_plan_put_u32(struct cln_buf *b, uint32_t v);
void ctr_plan_put_str(struct cln_buf *b, const char *s);

/* Reading, in a broker's child: no allocation; strings point into the
 * bytes, arrays into static storage (one plan per process). */
struct ctr_plan_reader {
    const unsigned char *p, *end;
    bool bad;
};
uint32_t ctr_plan_u32(struct ctr_plan_reader *r);
char *ctr_plan_str(struct ctr_plan_reader *r);
/* fds: the mounts' sources, in order, for those the plan says have one */
int ctr_plan_get_paths(struct ctr_plan_reader *r, struct ctr_paths *p, const int *fds, int nfds);
int ctr_plan_get_proc(struct ctr_plan_reader *r, struct ctr_proc *p);

/* A process that could not start, as a child reported it (what, errno):
 * CLN_E_INVALID worded as runc words it for the program or the working
 * directory (the caller's), CLN_E_ISOLATION otherwise (container-exec.c). */
int ctr_start_failure(const char *argv0, const char *cwd, const char *what, int e, const char *id,
                      struct cln_error **err);

/* The broker function of an exec (container-exec.c). */
void ctr_exec_broker_fn(const void *data, size_t len, const int *fds, int nfds);
