/* Isolation evidence and the host-exec lockout (docs/isolation.md).
 *
 * Evidence is what the harness observed itself, from this kernel's /proc,
 * not what the engine says: the namespace identities of the process every
 * exec of a container joins, next to the harness's own; the cgroup path;
 * and a random canary written by a process exec'd in the container, found
 * under that process's root and absent on the host.  From those, a verdict
 * per step: isolated, unverified (with the reason) or violated.
 *
 * The lockout is a seccomp filter the harness installs on itself (all
 * threads, no_new_privs) that makes execve and execveat fail with EPERM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/os.h"

struct cln_error;

enum cln_ns {
    CLN_NS_MNT,
    CLN_NS_PID,
    CLN_NS_NET,
    CLN_NS_UTS,
    CLN_NS_IPC,
    CLN_NS_CGROUP,
    CLN_NS_USER,
    CLN_NS_COUNT,
};
extern const char *const cln_ns_names[CLN_NS_COUNT];

/* Namespace identities: the inode numbers behind /proc/PID/ns/NAME. */
struct cln_ns_set {
    uint64_t ino[CLN_NS_COUNT]; /* 0: could not be read */
};

/* Read pid's namespaces (pid 0: this process).  -1 with errno set when
 * /proc/PID/ns cannot be read at all. */
int cln_ns_read(int pid, struct cln_ns_set *ret);

enum cln_verdict {
    CLN_VERDICT_ISOLATED,
    CLN_VERDICT_UNVERIFIED,
    CLN_VERDICT_VIOLATED,
};
const char *cln_verdict_name(enum cln_verdict v);

/* What the spec asked for, which relaxes what "isolated" can mean. */
struct cln_isolation_request {
    bool host_network;
    bool host_pid;
    bool privileged;
    bool host_mounts;
    bool outbound; /* a route to the host and beyond (outbound = true, --allow-outbound) */
};

/* Where a container's network reaches (docs/isolation.md). */
enum cln_net_mode {
    CLN_NET_NONE,     /* no network: loopback only */
    CLN_NET_INTERNAL, /* the test's internal network: its containers only */
    CLN_NET_ROUTED,   /* a network with a route to the host and beyond */
    CLN_NET_HOST,     /* the host's network namespace */
    CLN_NET_UNKNOWN,  /* the runtime's default network (a runtime without networks) */
};
const char *cln_net_mode_name(enum cln_net_mode m);

enum cln_canary_state {
    CLN_CANARY_NOT_RUN, /* no local engine, or no container process */
    CLN_CANARY_FAILED,  /* could not be written in the container (note says why) */
    CLN_CANARY_PROVEN,  /* written in the container, seen under its root, absent on the host */
    CLN_CANARY_MISSING, /* written, but not under the observed process's root */
    CLN_CANARY_ON_HOST, /* written, and found at the same path on the host */
};
const char *cln_canary_state_name(enum cln_canary_state s);

/* The evidence for one step (or one container, before its steps). */
struct cln_evidence {
    bool local; /* the engine shares this kernel */
    /* A runtime whose containers are VMs (docs/isolation.md, "Virtual
     * machines"): the kernel the container's exec ran on, by its boot id,
     * against this host's (NULL where the host has none: macOS).  A guest
     * on this very kernel is no VM: it is then observed as a local
     * container, found by the canary under a process's root. */
    bool vm;
    char *guest_boot_id, *host_boot_id; /* owned */
    bool shares_kernel;
    char *container_id;      /* owned */
    char *container_name;    /* owned */
    char *image_id;          /* owned */
    char *exec_id;           /* owned; the step's exec */
    int exec_host_pid;       /* the step process's host pid as the engine gave it; 0 unknown */
    int observed_pid;        /* the process whose namespaces were read */
    uint64_t observed_start; /* its start time, checked again after the step */
    /* observed_pid is, on this kernel, the container's: its cgroup path
     * names the container's full id (the engine's word alone is not enough:
     * an engine in another pid namespace or on another machine names pids
     * that mean nothing, or another process, here) */
    bool pid_proven;
    enum cln_net_mode net_mode;
    const char *net_reason; /* static: why it has that network */
    const char *method;     /* static: how the namespaces were captured */
    struct cln_ns_set ns, host_ns;
    char *cgroup; /* owned */
    enum cln_canary_state canary;
    char *canary_path;     /* owned; in the container, and the same path on the host */
    char *canary_note;     /* owned; why it failed */
    const char *canary_by; /* static: "step" (the step's own exec wrote it), "writer", or NULL */
    struct cln_isolation_request request;
    enum cln_verdict verdict;
    char *reason; /* owned; why not isolated, or what was shown */
};
void cln_evidence_done(struct cln_evidence *e);
void cln_evidence_copy(struct cln_evidence *dst, const struct cln_evidence *src);

/* Decide the verdict from the observations in e (pure: unit-tested). */
void cln_evidence_judge(struct cln_evidence *e);

/* Check the canary: the file at e->canary_path under /proc/PID/root must hold
 * token, and the same path on the host must not exist.  Sets e->canary. */
void cln_canary_check(struct cln_evidence *e, const char *token);

/* ---- the host-exec lockout ---- */

struct cln_lockout {
    bool in_force;
    char *method; /* owned: what was installed, or why not */
};

/* Install the filter on every thread of this process.  On failure the
 * reason is in *err and nothing changed. */
int cln_lockout_install(struct cln_lockout *ret, struct cln_error **err);
/* Is a seccomp filter with no_new_privs in force here (from /proc/self/status)? */
bool cln_lockout_active(void);
void cln_lockout_done(struct cln_lockout *l);
