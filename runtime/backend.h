/* Writing a backend: what the harness never sees.  A backend is one folder
 * under runtime/ holding a descriptor (struct cln_runtime_desc below) and
 * one line in runtime/registry.c.  docs/runtime.md says, slot by slot, what
 * a backend MUST and MAY set. */
#pragma once

#include "runtime.h"

/* ---- the core: every slot MUST be set ---- */

struct cln_runtime_ops {
    void (*close)(void *ctx); /* NULL-safe ctx */
    int (*ping)(void *ctx, struct cln_error **err);
    int (*version)(void *ctx, struct cln_engine_info *ret, struct cln_error **err);
    /* 1 found (ret filled), 0 absent */
    int (*image_inspect)(void *ctx, const char *ref, struct cln_image_info *ret,
                         struct cln_error **err);
    int (*image_pull)(void *ctx, const char *ref, cln_progress_fn progress, void *userdata,
                      struct cln_error **err);
    int (*image_remove)(void *ctx, const char *ref, bool force, struct cln_error **err);
    int (*create)(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                  struct cln_error **err);
    int (*start)(void *ctx, const char *id, struct cln_error **err);
    /* SIGTERM, then SIGKILL after grace_s; stopping a stopped container is fine */
    int (*stop)(void *ctx, const char *id, unsigned grace_s, struct cln_error **err);
    int (*kill)(void *ctx, const char *id, const char *signal, struct cln_error **err);
    /* Wait until the container is not running; CLN_E_TIMEOUT after timeout_ms (0: none). */
    int (*wait)(void *ctx, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                struct cln_error **err);
    /* Removing a missing container is not an error. */
    int (*remove)(void *ctx, const char *id, bool force, struct cln_error **err);
    int (*inspect)(void *ctx, const char *id, struct cln_container_state *ret,
                   struct cln_error **err);
    /* Containers (running or not) with a label "key=value" or "key". */
    int (*list)(void *ctx, const char *label_filter, struct cln_container_summary **ret,
                size_t *ret_n, struct cln_error **err);
    /* tail: last N lines, 0 for all; each stream capped at cap bytes (0: default) */
    int (*logs)(void *ctx, const char *id, unsigned tail, size_t cap, struct cln_capture *ret_out,
                struct cln_capture *ret_err, struct cln_error **err);
    int (*exec)(void *ctx, const char *id, const struct cln_exec_config *cfg,
                struct cln_exec_result *ret, struct cln_error **err);
    /* Write files under dir (which must exist) in the container. */
    int (*copy_in)(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                   size_t n, struct cln_error **err);
    /* What path is (not following a final symlink) and, for a regular file,
     * its content up to cap bytes (0: CLN_DEFAULT_OUTPUT_CAP) with its total
     * size, streamed: never more than cap in memory.  0 and *ret_found =
     * false when it does not exist. */
    int (*copy_out)(void *ctx, const char *id, const char *path, size_t cap,
                    struct cln_file_info *ret_info, struct cln_capture *ret_content,
                    bool *ret_found, struct cln_error **err);
    /* End the requests in flight now, as at their deadlines: a running
     * exec's process is killed and exec returns CLN_EXEC_TIMEOUT with
     * interrupted set; other requests fail with CLN_E_INTERRUPTED.
     * Removals and kills are not interrupted.  Later requests run normally.
     * Thread-safe; not async-signal-safe. */
    void (*interrupt)(void *ctx);
    /* NULL while the engine answers; once it stopped answering, why ("the
     * engine at unix:///... stopped answering (...)"), valid until close.
     * Every request fails at once from then on. */
    const char *(*gone)(void *ctx);
};

struct cln_network_ops {
    /* internal: no route to the host or beyond (containers on it reach each
     * other only; the engine publishes no ports from it).  *ret_resolves:
     * whether containers on it resolve each other's names and aliases (an
     * engine may give internal networks no DNS: the harness then writes
     * hosts entries itself). */
    int (*create)(void *ctx, const char *name, const struct cln_labels *labels, bool internal,
                  char **ret_id, bool *ret_resolves, struct cln_error **err);
    int (*connect)(void *ctx, const char *network, const char *container,
                   const char *const *aliases, struct cln_error **err);
    int (*remove)(void *ctx, const char *network, struct cln_error **err);
    /* networks carrying the label filter */
    int (*list)(void *ctx, const char *label_filter, struct cln_resource **ret, size_t *ret_n,
                struct cln_error **err);
};

struct cln_volume_ops {
    int (*create)(void *ctx, const char *name, const struct cln_labels *labels, char **ret_name,
                  struct cln_error **err);
    int (*remove)(void *ctx, const char *name, bool force, struct cln_error **err);
    int (*list)(void *ctx, const char *label_filter, struct cln_resource **ret, size_t *ret_n,
                struct cln_error **err);
};

struct cln_build_ops {
    /* Build and tag; progress gets each line of build output. */
    int (*build)(void *ctx, const struct cln_build_request *req, cln_progress_fn progress,
                 void *userdata, char **ret_image_id, struct cln_error **err);
};

/* Proof, from the runtime itself, that a host pid is a process of a
 * container: for a runtime that makes containers itself and holds them
 * (the native runtime's pidfd on each init), where no cgroup names the
 * container (rootless).  true only when proven. */
struct cln_proof_ops {
    bool (*owns_pid)(void *ctx, const char *id, int pid);
};

/* A store of the runtime's own (CLN_FEATURE_IMAGE_STORE; runtime.h). */
struct cln_image_ops {
    int (*import)(void *ctx, const char *path, const char *name, struct cln_image_summary **ret,
                  size_t *ret_n, struct cln_error **err);
    int (*list)(void *ctx, struct cln_image_summary **ret, size_t *ret_n, struct cln_error **err);
    int (*prune)(void *ctx, size_t *ret_freed, struct cln_error **err);
};

/* Many containers in one request, where the engine takes several ids
 * (Apple's CLI): ret_errs[i] is NULL when ids[i] is done, else why not
 * (a missing container is done for remove).  0 when the request ran, even
 * if some ids failed; -1 and err when it did not run at all. */
struct cln_batch_ops {
    int (*remove)(void *ctx, const char *const *ids, size_t n, bool force,
                  struct cln_error **ret_errs, struct cln_error **err);
    int (*stop)(void *ctx, const char *const *ids, size_t n, unsigned grace_s,
                struct cln_error **ret_errs, struct cln_error **err);
};

/* Where to look for an engine when the user named none. */
struct cln_endpoint_candidate {
    char *endpoint;     /* allocated */
    const char *source; /* static, e.g. "default Docker socket" */
};

struct cln_runtime_desc {
    const char *name;                  /* "docker", "podman", "apple" */
    const struct cln_runtime_ops *ops; /* NULL: not built on this platform */
    const struct cln_network_ops *network;
    const struct cln_volume_ops *volume;
    const struct cln_build_ops *build;
    const struct cln_batch_ops *batch;  /* NULL: one request an id */
    const struct cln_image_ops *images; /* NULL: images live in the engine only */
    const struct cln_proof_ops *proof;  /* NULL: only the cgroup proves a pid */
    /* What the missing network manager needs, said in "runtime X cannot
     * create networks (requires ...)"; NULL: nothing to say. */
    const char *network_requires;
    /* The same for the missing build manager ("runtime X cannot build
     * images (...)"); NULL: nothing to say. */
    const char *build_requires;
    /* Host programs this backend runs (NULL-terminated; NULL: none, it talks
     * to the engine over a socket). */
    const char *const *host_programs;
    /* Functions of its own the broker runs in a child (cln_runtime_fork),
     * for a backend that makes processes itself; NULL-terminated by name;
     * NULL: none.  Either this or host_programs gives the runtime a broker. */
    const struct cln_broker_fn_entry *broker_fns;
    /* Connect to the engine at endpoint and make the runtime
     * (cln_runtime_new) with the descriptor of what answered: one backend
     * may serve several names (Docker's API serves "docker" and "podman").
     * MUST be set when ops is. */
    int (*open)(const char *endpoint, struct cln_runtime **ret, struct cln_error **err);
    /* Its well-known endpoints, in order, at most max; NULL: none. */
    size_t (*candidates)(struct cln_endpoint_candidate *ret, size_t max);
    /* The environment variable naming its endpoint ("DOCKER_HOST"), or NULL. */
    const char *endpoint_env;
    /* How to start its engine, for the "no engine answered" error. */
    const char *start_hint;
    /* Why it is not built in, when ops is NULL ("it needs macOS ..."). */
    const char *unavailable;
    /* Does an endpoint the user named (--host) look like this backend's?
     * NULL: only when asked for by name (or the first built in). */
    bool (*claims)(const char *endpoint);
    /* Its candidates are tried only when it is asked for by name
     * (--runtime, $CLEANRUN_RUNTIME): never found by discovery alone. */
    bool named_only;
    /* Traits (docs/runtime.md): copy_in reaches only running containers;
     * exec takes stdin; each container is a VM with its own kernel; a bind
     * mount of a host path the engine cannot see is refused at create
     * (Docker: "bind source path does not exist"; Podman makes the path,
     * so a harness cannot tell that it saw another file system). */
    bool copy_running_only, exec_stdin, vm, bind_checked;
    /* Limits (memory, pids, cpus) are not applied: a rootless native
     * runtime where no cgroup is delegated.  What it means, for the
     * harness to say ("memory, pids and cpus are not limited: ..."). */
    const char *no_limits;
};

/* Make a runtime around a backend's ctx: ownership of ctx (ops->close frees
 * it at cln_runtime_close) and of info's strings passes to it. */
struct cln_runtime *cln_runtime_new(const struct cln_runtime_desc *desc, void *ctx,
                                    const char *endpoint, bool local, struct cln_engine_info *info);

/* What the engine said it is, once it could be asked (a backend whose
 * questions need the runtime's broker): ownership of info's strings passes
 * to rt, replacing what cln_runtime_new was given. */
void cln_runtime_set_info(struct cln_runtime *rt, struct cln_engine_info *info);

/* The backend's ctx, as given to cln_runtime_new. */
void *cln_runtime_ctx(struct cln_runtime *rt);
/* Settle the descriptor once the engine could be asked what it can do (a
 * backend whose questions need the broker): the same name, ops and host
 * programs, other managers. */
void cln_runtime_set_desc(struct cln_runtime *rt, const struct cln_runtime_desc *desc);

/* A backend that declares host_programs MUST call this for every process it
 * starts, before starting it; the harness puts the list in its results.
 * Thread-safe. */
void cln_runtime_record_host_process(struct cln_runtime *rt, const char *path,
                                     const char *const *argv);

/* ---- the host-process broker (runtime/broker.c; docs/runtime.md) ----
 *
 * A runtime whose descriptor declares host_programs has a broker: a small
 * process forked when the runtime is made (cln_runtime_new), before the
 * harness locks itself out of execve, that starts the declared programs,
 * and nothing else, on the backend's behalf.  cln_runtime_close stops it,
 * and with it every process it started.  Everything here is thread-safe;
 * nothing prints. */

struct cln_broker; /* opaque */

/* What to start.  The broker refuses a path that is not absolute, or that
 * does not resolve (every symlink, "." and "..", by the kernel) to the
 * same file as one of the declared programs resolved when the broker
 * started; it runs the resolved path.  Strings are copied. */
struct cln_broker_spawn_req {
    const char *path;        /* required, absolute */
    const char *const *argv; /* NULL-terminated, argv[0] included; NULL: {path} */
    const char *const *env;  /* "KEY=VALUE", NULL-terminated: the whole environment; NULL: empty */
    const char *cwd;         /* NULL: "/" */
    /* The child's stdin, stdout and stderr, passed to the broker (the
     * caller keeps its own copies and closes them when it likes); a value
     * <= 0, as in a zeroed request, is /dev/null: the harness's own stdin
     * is never handed over. */
    int stdin_fd, stdout_fd, stderr_fd;
};

/* A started process.  The pid is for messages and records only: signal it
 * with cln_broker_kill, which goes through pidfd and can never reach a
 * later process given the same pid. */
struct cln_broker_child {
    int pid;
    int pidfd;      /* exactly that process (owned) */
    int status_fd;  /* its wait status arrives here once the broker reaped it (owned) */
    int broker_pid; /* for messages */
    bool ended;     /* status known (cln_broker_wait returned it) */
    int status;     /* a wait(2) status: WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG */
    char *path;     /* owned: the resolved path that was executed */
};

/* The runtime's broker; NULL when its backend declares no host programs
 * or the broker could not be started (cln_runtime_spawn says why). */
struct cln_broker *cln_runtime_broker(struct cln_runtime *rt);
/* Start a host process for a backend: recorded with
 * cln_runtime_record_host_process (its resolved path and argv) before it
 * starts, then started by the runtime's broker.  A request the broker
 * refuses (CLN_E_ISOLATION) is not recorded: it never ran.  No broker:
 * CLN_E_UNSUPPORTED, or the reason it did not start. */
int cln_runtime_spawn(struct cln_runtime *rt, const struct cln_broker_spawn_req *req,
                      struct cln_broker_child *ret, struct cln_error **err);

/* The same without recording (cln_runtime_spawn is what backends call).
 * Fails with CLN_E_ISOLATION when refused, CLN_E_INVALID when the program
 * could not be started (chdir or execve failed: errno says why), and
 * CLN_E_TRANSPORT when the broker is gone ("the host-process broker (pid
 * N) died: ..."): at once, for this and every later request.  A broker
 * that does not answer within a few seconds is killed and counts as gone. */
int cln_broker_spawn(struct cln_broker *b, const struct cln_broker_spawn_req *req,
                     struct cln_broker_child *ret, struct cln_error **err);
/* Wait for the child to end, at most timeout_ms (0: only look) and never
 * past the calling thread's deadline (runtime/base/deadline.h); then
 * CLN_E_TIMEOUT, and the child still runs.  *ret_status is a wait(2)
 * status.  Once it ended, later calls give the same status at once. */
int cln_broker_wait(struct cln_broker_child *c, uint64_t timeout_ms, int *ret_status,
                    struct cln_error **err);
/* Send sig to exactly that process (pidfd_send_signal); one that already
 * ended is not an error. */
int cln_broker_kill(struct cln_broker_child *c, int sig, struct cln_error **err);
/* Release the handles (a child still running keeps running until it ends
 * or the broker stops); NULL-safe, idempotent. */
void cln_broker_child_done(struct cln_broker_child *c);
/* The broker process's pid. */
int cln_broker_pid(const struct cln_broker *b);

/* ---- functions the broker runs (no execve on the host) ----
 *
 * A backend that makes processes itself (the native runtime: a container's
 * monitor, an exec into a container) cannot start them from the harness,
 * whose threads are locked out of execve for good: a process forked there
 * inherits the lockout.  The broker, forked before the lockout, forks them
 * instead and runs a function of the backend's in the child: the same
 * program, no execve on the host.  The function gets its own copy of the
 * request's bytes (not aligned: copy before reading a struct) and its
 * descriptors at 3, 4, ... (nothing else of the broker's is open), with
 * default signal dispositions, an empty mask, its own session and
 * PDEATHSIG SIGKILL (it dies with the broker, which dies with the
 * harness).  It runs in a copy of a process that may have had threads: only
 * async-signal-safe calls until it execs (in a container) or _exits; it
 * never returns.  Its pid, pidfd and wait status come as a host program's
 * do (cln_broker_wait, cln_broker_kill). */
#define CLN_BROKER_MAX_FDS 36
typedef void (*cln_broker_fn)(const void *data, size_t len, const int *fds, int nfds);
struct cln_broker_fn_entry {
    const char *name;
    cln_broker_fn fn;
};
struct cln_broker_fork_req {
    const char *name; /* one of the descriptor's broker_fns */
    const void *data; /* its bytes: at most about 128 KiB */
    size_t len;
    const int *fds; /* given to it (the caller keeps its own) */
    int nfds;       /* at most CLN_BROKER_MAX_FDS */
};
int cln_broker_fork(struct cln_broker *b, const struct cln_broker_fork_req *req,
                    struct cln_broker_child *ret, struct cln_error **err);
/* The runtime's broker runs it: CLN_E_UNSUPPORTED when the descriptor
 * declares no functions, the broker's error when it is missing. */
int cln_runtime_fork(struct cln_runtime *rt, const struct cln_broker_fork_req *req,
                     struct cln_broker_child *ret, struct cln_error **err);

/* The registry (runtime/registry.c), including backends not built on this
 * platform (ops NULL), so that "--runtime apple" on Linux says "not built
 * in" rather than "unknown". */
const struct cln_runtime_desc *cln_runtime_find(const char *name);
extern const struct cln_runtime_desc *const cln_runtime_registry[];
