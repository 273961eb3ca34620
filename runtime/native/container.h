/* The native runtime's containers: one made from an image of the store
 * (store.h) and processes run in it.  A C API with tests, not yet a backend.
 * Linux-only, as root (docs/runtime.md "Native (in progress): containers").
 *
 * Process tree (NATIVE.md §6): the caller forks a monitor (single-threaded
 * from birth: everything it needs is prepared before the fork; PDEATHSIG
 * SIGKILL) which joins the cgroups, unshares mount, uts, ipc, net, pid and
 * cgroup namespaces and forks the init (pid 1: our own code, never an exec).
 * The init builds the root (overlay, /proc, /dev, /sys, masks, pivot_root),
 * forks the workload, forwards SIGTERM/SIGINT to it, reaps every zombie and
 * exits with the workload's status.  Killing the caller kills the monitor,
 * which kills the init, which makes the kernel kill the whole pid namespace.
 *
 * Seccomp: an EPERM-default allowlist equivalent to Docker's default profile
 * with the 14 default capabilities on x86_64 (container-setup.c says how it
 * is derived and where it differs: other architectures are killed).
 *
 * Mounts: binds of host paths and tmpfs (cln_ctr_mount).
 *
 * Not done yet: device cgroup rules; a copy fallback when overlayfs itself is
 * missing (the fallback here is for an upper directory overlayfs refuses:
 * upper and work go on a tmpfs); user namespaces.
 *
 * Every function returns 0 or -code and takes struct cln_error **err last. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/base/error.h"
#include "runtime/backend.h"
#include "runtime/runtime.h"

struct cln_store;
struct cln_ctr;
/* The functions a broker runs for native containers (runtime/backend.h). */
extern const struct cln_broker_fn_entry cln_native_broker_fns[];

/* A mount beyond the root's own (docs/spec.md "mounts"): a host path bound
 * (a directory or a file, as it is; the caller has canonicalised it and
 * checked the run's consent), or a tmpfs (Docker's --tmpfs: noexec, nosuid,
 * nodev, mode 1777).  target: absolute, inside the container, made when
 * missing, never through a symlink of the image. */
enum cln_ctr_mount_type { CLN_CTR_BIND, CLN_CTR_TMPFS };
struct cln_ctr_mount {
    enum cln_ctr_mount_type type;
    const char *source; /* CLN_CTR_BIND: absolute host path */
    const char *target;
    bool read_only;
    uint64_t size; /* CLN_CTR_TMPFS: bytes (0: half the memory, the kernel's default) */
    uint32_t mode; /* CLN_CTR_TMPFS: permission bits (0: 01777) */
};

struct cln_ctr_config {
    const char *id;          /* [A-Za-z0-9_.-]{1,64}; required */
    const char *run_dir;     /* absolute; the container's directory is run_dir/id */
    const char *hostname;    /* NULL: the id (cut to 63) */
    const char *const *argv; /* NULL: the image's entrypoint + cmd */
    const char *const *env;  /* K=V, over the image's; may be NULL */
    const char *workdir;     /* NULL: the image's, else "/" */
    const char *user;        /* "uid[:gid]"; NULL: the image's, else 0:0 */
    bool read_only;          /* the rootfs read-only */
    /* Docker's --privileged: every capability, no seccomp filter, no
     * masked or read-only paths, /sys read-write (the host's devices are
     * not added) */
    bool privileged;
    /* share the host's network namespace (Docker's --network host; as
     * root only) */
    bool host_network;
    int64_t memory_bytes; /* 0: no limit; swap is off (memsw = memory) */
    int64_t pids_max;     /* 0: no limit */
    int64_t cpu_millis;   /* 0: no limit; 1000 = one CPU */
    /* false: cln_ctr_create starts the first process; true: the container
     * is made (its root built, files may be copied in) and waits for
     * cln_ctr_start */
    bool created_only;
    /* Its processes (the monitor, and every exec) forked by this broker,
     * started with cln_native_broker_fns, so that a harness locked out of
     * execve can make containers; NULL: forked by the caller. */
    struct cln_broker *broker;
    const struct cln_ctr_mount *mounts; /* in order, after the root's own */
    size_t nmounts;
    /* "name:address" lines added to /etc/hosts (Docker's --add-host);
     * NULL-terminated, may be NULL */
    const char *const *extra_hosts;
    /* Rootless: the user namespace's maps beyond root.  NULL: root (0) is
     * mapped to the caller's uid and gid, nothing else.  Else it is called
     * with the monitor's pid once it made the namespace, and writes the
     * maps (newuidmap/newgidmap, as a host program: the caller's record);
     * uid_count and gid_count ids from 0 are then mapped. */
    int (*map_ids)(void *ud, pid_t monitor, struct cln_error **err);
    void *map_ud;
    uint32_t uid_count, gid_count;
};

/* Create and start a container from image (a name or id in s).  The first
 * process's stdout and stderr go to run_dir/id/stdout and stderr.  *ret is
 * the caller's: release it with cln_ctr_remove. */
int cln_ctr_create(struct cln_store *s, const char *image, const struct cln_ctr_config *c,
                   struct cln_ctr **ret, struct cln_error **err);

/* The same from an image already loaded (cln_store_image_get), which the
 * caller keeps: no store access. */
struct cln_store_image;
int cln_ctr_create_from(const struct cln_store_image *img, const struct cln_ctr_config *c,
                        struct cln_ctr **ret, struct cln_error **err);

/* Start the first process of a container made with created_only. */
int cln_ctr_start(struct cln_ctr *c, struct cln_error **err);

/* The first process as the host sees it (the init's child, read from the
 * init's children once it started), or 0 before it started or when it
 * could not be read. */
pid_t cln_ctr_first_pid(const struct cln_ctr *c);

/* Is pid (as the host numbers it) in c's pid namespace, while c's init
 * lives?  The proof of a pid where no cgroup names the container. */
bool cln_ctr_has_pid(const struct cln_ctr *c, pid_t pid);

/* A descriptor that becomes readable when the container has ended (the
 * monitor's pidfd), for poll: then cln_ctr_wait(c, 0, ...) returns at once. */
int cln_ctr_wait_fd(const struct cln_ctr *c);

/* The container's directory (run_dir/id). */
const char *cln_ctr_dir(const struct cln_ctr *c);

/* What a container of run_dir left when its creator died (by construction
 * its processes died with it): whatever is left in its cgroups is killed
 * (cgroup.kill: only that cgroup's processes, all of them ours), the
 * cgroups and the directory removed.  Nothing there is not an error. */
int cln_ctr_reclaim(const char *run_dir, const char *id, struct cln_error **err);

/* Rootless with subordinate ids: files a container's user other than root
 * wrote belong to ids the caller is not, so a container's directory is
 * removed from a user namespace mapped as the containers' are (a child of
 * the broker, mapped by map_ids, as `podman unshare` does). */
struct cln_ctr_rootless {
    struct cln_broker *broker;
    int (*map_ids)(void *ud, pid_t pid, struct cln_error **err);
    void *map_ud;
};
/* cln_ctr_reclaim, removing the directory that way when rl is given and
 * the plain removal is refused. */
int cln_ctr_reclaim_rootless(const char *run_dir, const char *id, const struct cln_ctr_rootless *rl,
                             struct cln_error **err);

struct cln_ctr_state {
    bool running;
    bool created;            /* made, not started yet (running is true: its init is there) */
    int exit_code;           /* when !running: the code, or 128+signal */
    bool oom_killed;         /* the v1 memory.oom_control oom_kill counter is not 0 */
    pid_t init_pid;          /* the init, as the host sees it */
    const char *rootfs_mode; /* "overlay" or "overlay, upper on tmpfs"; static */
};
int cln_ctr_inspect(struct cln_ctr *c, struct cln_ctr_state *ret, struct cln_error **err);

/* Signal the init (through its pidfd).  The init forwards SIGTERM and SIGINT
 * to the workload; SIGKILL ends the container. */
int cln_ctr_kill(struct cln_ctr *c, int sig, struct cln_error **err);

/* SIGTERM to the workload, then SIGKILL after grace_ms; waits for the end. */
int cln_ctr_stop(struct cln_ctr *c, unsigned grace_ms, struct cln_error **err);

/* Wait up to timeout_ms for the container to end: CLN_E_TIMEOUT otherwise. */
int cln_ctr_wait(struct cln_ctr *c, unsigned timeout_ms, int *ret_code, struct cln_error **err);

/* Kill, reap, unmount (nothing is mounted outside the container's mount
 * namespace), remove the cgroups and the directory, and free c.  NULL-safe.
 * c is freed even when an error is returned. */
int cln_ctr_remove(struct cln_ctr *c, struct cln_error **err);

/* Files in the running container c, from the host, through the init's
 * root: symlinks of the image followed as inside it, never out of it.
 * copy_in writes files (paths relative to dir, which must exist; missing
 * directories made 0755; what is at a path replaced; owner 0:0, mode from
 * the file, 0644 when 0); copy_out gives what path is (a final symlink not
 * followed) and a regular file's first cap bytes (0: CLN_DEFAULT_OUTPUT_CAP)
 * with its total; a missing path is *ret_found = false.  Both the
 * interface's. */
int cln_ctr_copy_in(struct cln_ctr *c, const char *dir, const struct cln_file *files, size_t n,
                    struct cln_error **err);
int cln_ctr_copy_out(struct cln_ctr *c, const char *path, size_t cap,
                     struct cln_file_info *ret_info, struct cln_capture *ret_content,
                     bool *ret_found, struct cln_error **err);

/* The first process's stdout and stderr, apart (the executor interface's
 * logs): the last tail lines of each (0: all), the first cap bytes of that
 * kept (0: CLN_DEFAULT_OUTPUT_CAP) and the whole counted. */
int cln_ctr_logs(struct cln_ctr *c, unsigned tail, size_t cap, struct cln_capture *ret_out,
                 struct cln_capture *ret_err, struct cln_error **err);

struct cln_ctr_exec {
    const char *const *argv; /* required */
    const char *const *env;  /* over the container's; may be NULL */
    const char *workdir;     /* NULL: the container's */
    const char *user;        /* NULL: the container's; user[:group] as above */
    const char *stdin_data;  /* NULL: /dev/null */
    size_t stdin_len;
    size_t out_cap;      /* bytes kept of each stream; 0: 1 MiB */
    unsigned timeout_ms; /* 0: none; at the deadline its process group is killed */
    /* readable: end it now, as at its deadline (interrupted is set); <= 0: none */
    int wake_fd;
    cln_output_fn on_output; /* each chunk as it arrives; may be NULL */
    void *userdata;
};

struct cln_ctr_exec_result {
    int exit_code; /* or 128+signal */
    bool timed_out;
    bool interrupted; /* timed_out by wake_fd */
    pid_t host_pid;   /* the exec'd process as the host sees it */
    char *out, *err;  /* NUL-terminated; owned */
    size_t out_len, err_len;
    size_t out_dropped, err_dropped; /* bytes beyond out_cap */
};
void cln_ctr_exec_result_done(struct cln_ctr_exec_result *r);

/* Run a process in the running container c.  The exit code of the process is
 * in *ret, not an error. */
int cln_ctr_exec(struct cln_ctr *c, const struct cln_ctr_exec *x, struct cln_ctr_exec_result *ret,
                 struct cln_error **err);
