/* The executor interface as the harness sees it: an opaque runtime, found
 * by cln_runtime_open(), driven through the cln_rt_* wrappers (the core
 * every backend implements) and the cln_network_* / cln_volume_* /
 * cln_build_* wrappers (optional features: CLN_E_UNSUPPORTED, "runtime X
 * cannot do Y", when the backend lacks one; cln_runtime_supports() asks
 * beforehand).  Backends are written against runtime/backend.h; the harness
 * never sees a descriptor or a vtable.
 *
 * Every resource a caller creates should carry the labels of
 * cln_runtime_labels() (docs/labels.md).  Nothing here prints. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/strv.h"

struct cln_error;

/* ---- labels (docs/labels.md) ---- */
#define CLN_LABEL_RUN "io.cleanrun.run"
#define CLN_LABEL_OWNER_PID "io.cleanrun.owner-pid"
#define CLN_LABEL_OWNER_BOOT "io.cleanrun.owner-boot"
#define CLN_LABEL_OWNER_START "io.cleanrun.owner-start"
#define CLN_LABEL_OWNER_PIDNS "io.cleanrun.owner-pidns"
#define CLN_LABEL_OWNER_HOST "io.cleanrun.owner-host"
#define CLN_LABEL_TEST "io.cleanrun.test"
#define CLN_LABEL_VERSION "io.cleanrun.version"

struct cln_kv {
    const char *key;
    const char *value;
};

/* A set of owned labels. */
struct cln_labels {
    struct cln_kv *items; /* keys and values owned */
    size_t len, cap;
};
void cln_labels_set(struct cln_labels *l, const char *key, const char *value);
const char *cln_labels_get(const struct cln_labels *l, const char *key);
/* Does l carry filter, "key=value" or "key"?  NULL matches. */
bool cln_labels_match(const struct cln_labels *l, const char *filter);
void cln_labels_done(struct cln_labels *l);
/* The ownership labels: run id, owner pid, its pid namespace, boot id, machine id and
 * start time, cleanrun version, and the test name when not NULL. */
void cln_runtime_labels(struct cln_labels *l, const char *run_id, const char *version,
                        const char *test);

/* ---- configuration types ---- */

enum cln_pull_policy {
    CLN_PULL_NEVER,      /* the image must be present */
    CLN_PULL_IF_MISSING, /* pull only when absent */
    CLN_PULL_ALWAYS,
};

struct cln_port {
    uint16_t container_port;
    const char *proto;  /* "tcp" (NULL) or "udp" */
    uint16_t host_port; /* 0: a random free port; always bound to 127.0.0.1 */
};

enum cln_mount_type {
    CLN_MOUNT_BIND,
    CLN_MOUNT_VOLUME,
    CLN_MOUNT_TMPFS,
};

struct cln_mount {
    enum cln_mount_type type;
    const char *source; /* host path (bind) or volume name; NULL for tmpfs */
    const char *target;
    bool read_only;
    uint64_t tmpfs_size; /* bytes; 0: engine default */
    uint32_t tmpfs_mode; /* permission bits; 0: engine default (01777) */
};

struct cln_container_config {
    const char *name;              /* NULL: engine-chosen */
    const char *image;             /* required; must be present (create never pulls) */
    const char *const *cmd;        /* NULL-terminated; NULL: the image's CMD */
    const char *const *entrypoint; /* NULL: the image's; an empty array clears it */
    const char *const *env;        /* "KEY=VALUE", NULL-terminated; NULL: none */
    const char *workdir;           /* NULL: the image's */
    const char *user;              /* NULL: the image's */
    const struct cln_labels *labels;
    const struct cln_port *ports;
    size_t nports;
    const struct cln_mount *mounts;
    size_t nmounts;
    int64_t memory_bytes; /* 0: no limit; swap is disabled when set */
    int64_t nano_cpus;    /* CPUs x 1e9; 0: no limit */
    int64_t pids_limit;   /* 0: no limit */
    const char *network;  /* "none", "host", "bridge" or a network name; NULL: default */
    const char *const *network_aliases; /* on that network; NULL-terminated */
    bool init;
    bool read_only_rootfs;
    bool no_new_privileges;
    bool privileged;
    bool pid_host;               /* share the host's pid namespace */
    const char *const *cap_add;  /* NULL-terminated */
    const char *const *cap_drop; /* NULL-terminated */
    const char *const *extra_hosts;
};

struct cln_port_binding {
    uint16_t container_port;
    char proto[8];
    uint16_t host_port;
};

/* A container's address on one of its networks. */
struct cln_network_address {
    char *network;
    char *ip; /* IPv4, or NULL before the container starts */
};

struct cln_container_state {
    char *id;
    char *name; /* without the leading '/' */
    char *image_id;
    char *status; /* created, running, paused, restarting, removing, exited, dead */
    bool running;
    bool oom_killed;
    int exit_code;
    int pid; /* host pid of the main process, 0 when not running */
    /* The image's HEALTHCHECK as argv (CMD-SHELL becomes /bin/sh -c), owned
     * and NULL-terminated; NULL when it has none or says NONE. */
    char **health_argv;
    uint64_t health_timeout_ms; /* 0: the image names none */
    char *started_at, *finished_at;
    struct cln_port_binding *ports;
    size_t nports;
    struct cln_network_address *networks;
    size_t nnetworks;
    struct cln_labels labels;
};
void cln_container_state_done(struct cln_container_state *s);
/* The container's IPv4 address on network, or NULL. */
const char *cln_container_state_ip(const struct cln_container_state *s, const char *network);

struct cln_container_summary {
    char *id;
    char *name;
    char *image;
    char *state;     /* running, exited, ... */
    char *status;    /* engine's human text, e.g. "Up 3 seconds" */
    int64_t created; /* unix seconds */
    struct cln_labels labels;
};
void cln_container_summaries_free(struct cln_container_summary *s, size_t n);

/* Output of a process, one stream: what was kept (at most the cap) and how
 * much there was. */
struct cln_capture {
    struct cln_buf data;
    uint64_t total; /* bytes produced, kept or not */
    bool truncated; /* total > data.len */
};
void cln_capture_done(struct cln_capture *c);

/* Called with each chunk of a process's output as it arrives (stream is 1
 * for stdout, 2 for stderr).  Optional. */
typedef void (*cln_output_fn)(int stream, const char *data, size_t len, void *userdata);

struct cln_exec_config {
    const char *const *argv; /* required, NULL-terminated; passed exactly, never joined */
    const char *const *env;  /* "KEY=VALUE", NULL-terminated; added to the container's */
    const char *workdir;
    const char *user;
    uint64_t timeout_ms; /* 0: no deadline */
    size_t output_cap;   /* per stream; 0: CLN_DEFAULT_OUTPUT_CAP */
    cln_output_fn on_output;
    void *userdata;
    /* the process's stdin (NULL: none); only where the runtime supports
     * CLN_FEATURE_EXEC_STDIN, else exec fails with CLN_E_UNSUPPORTED */
    const char *stdin_data;
    size_t stdin_len;
    /* A runtime that cannot reach the exec's processes from the host (a
     * VM) runs this in the container at the deadline to end them: exit 0
     * means done ("in-container-kill"); NULL or a failure: the container
     * is killed ("container-kill").  Ignored where the host can. */
    const char *const *kill_argv;
};
#define CLN_DEFAULT_OUTPUT_CAP ((size_t)8 << 20)

enum cln_exec_status {
    CLN_EXEC_EXITED,  /* exit_code is the process's */
    CLN_EXEC_TIMEOUT, /* the deadline passed (or an interrupt) and the process was killed */
};
/* An exec whose process the engine could not start (a missing argv[0], an
 * unknown user, a missing workdir) is not a result: exec fails with
 * CLN_E_INVALID, "could not start the process: CAUSE", the same on every
 * backend. */

struct cln_exec_result {
    enum cln_exec_status status;
    int exit_code; /* -1 when it timed out */
    struct cln_capture out, err;
    uint64_t duration_ms;
    char *exec_id;
    int host_pid; /* the process's pid on the host when the engine is local; 0 if unknown */
    /* on timeout: "host-signal" (its processes, each proven the step's, were
     * killed by pidfd), "none-left" (proven, but they had all exited) or
     * "container-kill" (no proof was possible: the engine killed the
     * container) or "in-container-kill" (a VM: its kill_argv ended the
     * exec's process group inside); static */
    const char *kill_method;
    bool interrupted; /* on timeout: an interrupt, not the deadline */
};
void cln_exec_result_done(struct cln_exec_result *r);

/* A file given in memory, for copy-in and image builds. */
struct cln_file {
    const char *path; /* relative (build context) or absolute (copy-in, under the target dir) */
    const void *data;
    size_t len;
    uint32_t mode;     /* 0: 0644 */
    uint32_t uid, gid; /* copy-in: its owner (numbers in the container; 0: root) */
};

enum cln_file_type {
    CLN_FILE_REGULAR,
    CLN_FILE_DIRECTORY,
    CLN_FILE_SYMLINK,
    CLN_FILE_OTHER,
};
const char *cln_file_type_name(enum cln_file_type t); /* "file", "directory", ... */

/* What a path in a container is. */
struct cln_file_info {
    enum cln_file_type type;
    uint32_t mode; /* permission bits (07777) */
    uint32_t uid, gid;
    char *uname, *gname; /* owned; NULL when the archive names none */
    uint64_t size;
    char *link_target; /* owned; symlinks */
};
void cln_file_info_done(struct cln_file_info *i);

struct cln_image_info {
    char *id;     /* sha256:... */
    char *digest; /* first RepoDigest, or NULL (local builds have none) */
    /* the image's own ENTRYPOINT and CMD (empty: none), for a harness
     * that must wrap a container's first process */
    struct cln_strv entrypoint, cmd;
};
void cln_image_info_done(struct cln_image_info *i);

struct cln_engine_info {
    char *engine;      /* "Docker Engine" or "Podman Engine" */
    char *version;     /* engine version */
    char *api_version; /* the API version in use */
    char *os, *arch, *kernel;
};

typedef void (*cln_progress_fn)(const char *line, void *userdata);

/* ---- optional feature managers ---- */

/* A named engine resource (network, volume) and its labels. */
struct cln_resource {
    char *name;
    struct cln_labels labels;
};
void cln_resources_free(struct cln_resource *r, size_t n);

struct cln_build_request {
    const char *dockerfile;       /* the Dockerfile's text */
    const struct cln_file *files; /* the rest of the context; relative paths */
    size_t nfiles;
    const char *tag; /* e.g. "localhost/cleanrun/x:abc"; required */
    const struct cln_labels *labels;
    bool no_cache;
    bool network; /* RUN steps get a network (default: none) */
};

enum cln_runtime_feature {
    CLN_FEATURE_NETWORK = 1u << 0,
    CLN_FEATURE_VOLUME = 1u << 1,
    CLN_FEATURE_BUILD = 1u << 2,
    /* copy_in reaches a created container before its first process starts
     * (Docker, Podman); without it, only a running one (Apple's `container
     * cp`): files a process needs at its start must be mounted instead */
    CLN_FEATURE_COPY_CREATED = 1u << 3,
    /* exec feeds cln_exec_config.stdin to the process */
    CLN_FEATURE_EXEC_STDIN = 1u << 4,
    /* create refuses a bind mount whose host path the engine does not see
     * (so a refused bind means: the engine sees another file system) */
    CLN_FEATURE_BIND_CHECKED = 1u << 5,
    /* images in a store of the runtime's own, imported from files
     * (cln_image_import, cln_image_list, cln_image_prune) */
    CLN_FEATURE_IMAGE_STORE = 1u << 6,
    /* create applies memory, pids and cpu limits (without: they are not
     * applied, and the harness says so) */
    CLN_FEATURE_LIMITS = 1u << 7,
};

/* An image of a runtime's own store. */
struct cln_image_summary {
    char *id;              /* "sha256:<hex>" */
    struct cln_strv names; /* sorted; may be empty */
    char *created;         /* RFC 3339, or NULL */
    uint64_t size;         /* bytes unpacked */
};
void cln_image_summaries_free(struct cln_image_summary *v, size_t n);

/* ---- the runtime ---- */

struct cln_runtime; /* opaque (runtime/runtime-internal.h) */

/* A host process a backend started (path and argv, owned). */
struct cln_host_process {
    char *path;
    char **argv; /* NULL-terminated */
};

struct cln_runtime_config {
    const char
        *runtime; /* "docker", "podman", "apple", or NULL: $CLEANRUN_RUNTIME, else discover */
    const char *endpoint; /* NULL: discover (the backends' variables, then their sockets) */
};

/* Find and connect to an engine, walking the registry (runtime/registry.c).
 * Fails (CLN_E_TRANSPORT) naming every place tried, with each one's reason
 * and how to start an engine. */
int cln_runtime_open(const struct cln_runtime_config *cfg, struct cln_runtime **ret,
                     struct cln_error **err);
void cln_runtime_close(struct cln_runtime *rt); /* NULL-safe */
void cln_engine_info_done(struct cln_engine_info *i);

/* What the runtime is: its backend's name ("docker", "podman", ...), where
 * its engine was found, whether that engine shares this kernel (host pids
 * are meaningful), and what the engine says it is. */
const char *cln_runtime_name(const struct cln_runtime *rt);
const char *cln_runtime_endpoint(const struct cln_runtime *rt);
bool cln_runtime_local(const struct cln_runtime *rt);
/* Each container is a virtual machine with a kernel of its own (Apple's
 * container): no process of it is on this kernel. */
bool cln_runtime_vm(const struct cln_runtime *rt);
const struct cln_engine_info *cln_runtime_engine(const struct cln_runtime *rt);
/* The host programs its backend may run (NULL-terminated; NULL: none). */
const char *const *cln_runtime_host_programs(const struct cln_runtime *rt);
/* The host processes it started so far: a copy, freed with
 * cln_host_processes_free(). */
struct cln_host_process *cln_runtime_host_processes(const struct cln_runtime *rt, size_t *ret_n);
void cln_host_processes_free(struct cln_host_process *p, size_t n);

bool cln_runtime_supports(const struct cln_runtime *rt, unsigned features);
/* What a missing feature would need ("requires macOS 26"), or NULL. */
const char *cln_runtime_missing_requires(const struct cln_runtime *rt, unsigned feature);

/* ---- the core (runtime/backend.h says what each does) ---- */

int cln_rt_ping(struct cln_runtime *rt, struct cln_error **err);
int cln_rt_image_inspect(struct cln_runtime *rt, const char *ref, struct cln_image_info *ret,
                         struct cln_error **err);
int cln_rt_image_pull(struct cln_runtime *rt, const char *ref, cln_progress_fn progress,
                      void *userdata, struct cln_error **err);
int cln_rt_image_remove(struct cln_runtime *rt, const char *ref, bool force,
                        struct cln_error **err);
int cln_rt_create(struct cln_runtime *rt, const struct cln_container_config *cfg, char **ret_id,
                  struct cln_error **err);
int cln_rt_start(struct cln_runtime *rt, const char *id, struct cln_error **err);
int cln_rt_stop(struct cln_runtime *rt, const char *id, unsigned grace_s, struct cln_error **err);
int cln_rt_kill(struct cln_runtime *rt, const char *id, const char *signal, struct cln_error **err);
int cln_rt_wait(struct cln_runtime *rt, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                struct cln_error **err);
/* Remove (stop) many containers, in one request where the backend can;
 * ret_errs[i] (n of them, each freed by the caller) NULL when ids[i] is
 * done.  -1 only when nothing could be asked. */
int cln_rt_remove_many(struct cln_runtime *rt, const char *const *ids, size_t n, bool force,
                       struct cln_error **ret_errs, struct cln_error **err);
int cln_rt_stop_many(struct cln_runtime *rt, const char *const *ids, size_t n, unsigned grace_s,
                     struct cln_error **ret_errs, struct cln_error **err);
int cln_rt_remove(struct cln_runtime *rt, const char *id, bool force, struct cln_error **err);
int cln_rt_inspect(struct cln_runtime *rt, const char *id, struct cln_container_state *ret,
                   struct cln_error **err);
int cln_rt_list(struct cln_runtime *rt, const char *label_filter,
                struct cln_container_summary **ret, size_t *ret_n, struct cln_error **err);
int cln_rt_logs(struct cln_runtime *rt, const char *id, unsigned tail, size_t cap,
                struct cln_capture *ret_out, struct cln_capture *ret_err, struct cln_error **err);
int cln_rt_exec(struct cln_runtime *rt, const char *id, const struct cln_exec_config *cfg,
                struct cln_exec_result *ret, struct cln_error **err);
int cln_rt_copy_in(struct cln_runtime *rt, const char *id, const char *dir,
                   const struct cln_file *files, size_t n, struct cln_error **err);
int cln_rt_copy_out(struct cln_runtime *rt, const char *id, const char *path, size_t cap,
                    struct cln_file_info *ret_info, struct cln_capture *ret_content,
                    bool *ret_found, struct cln_error **err);

/* Make sure an image is present according to the policy. */
int cln_runtime_ensure_image(struct cln_runtime *rt, const char *ref, enum cln_pull_policy policy,
                             cln_progress_fn progress, void *userdata, struct cln_error **err);

/* Does the runtime itself prove that pid (on this kernel) is a process of
 * container id?  false when it cannot say (most: the cgroup is the proof). */
bool cln_runtime_owns_pid(struct cln_runtime *rt, const char *id, int pid);

/* Interrupt the requests in flight (ops->interrupt). */
void cln_runtime_interrupt(struct cln_runtime *rt);
/* Why the engine is gone, or NULL while it answers (ops->gone). */
const char *cln_runtime_gone(struct cln_runtime *rt);

/* Feature wrappers: CLN_E_UNSUPPORTED when the manager is NULL. */
int cln_network_create(struct cln_runtime *rt, const char *name, const struct cln_labels *labels,
                       bool internal, char **ret_id, bool *ret_resolves, struct cln_error **err);
int cln_network_connect(struct cln_runtime *rt, const char *network, const char *container,
                        const char *const *aliases, struct cln_error **err);
int cln_network_remove(struct cln_runtime *rt, const char *network, struct cln_error **err);
int cln_network_list(struct cln_runtime *rt, const char *label_filter, struct cln_resource **ret,
                     size_t *ret_n, struct cln_error **err);
int cln_volume_create(struct cln_runtime *rt, const char *name, const struct cln_labels *labels,
                      char **ret_name, struct cln_error **err);
int cln_volume_remove(struct cln_runtime *rt, const char *name, bool force, struct cln_error **err);
int cln_volume_list(struct cln_runtime *rt, const char *label_filter, struct cln_resource **ret,
                    size_t *ret_n, struct cln_error **err);
/* The image store (CLN_FEATURE_IMAGE_STORE): import FILE (a `docker save`
 * archive, an OCI image layout or archive, a rootfs tarball), naming what
 * it holds name as well (may be NULL); every image; remove what no image
 * uses (*ret_freed: how many blobs and layers went).  An image is removed
 * with cln_rt_image_remove. */
int cln_image_import(struct cln_runtime *rt, const char *path, const char *name,
                     struct cln_image_summary **ret, size_t *ret_n, struct cln_error **err);
int cln_image_list(struct cln_runtime *rt, struct cln_image_summary **ret, size_t *ret_n,
                   struct cln_error **err);
int cln_image_prune(struct cln_runtime *rt, size_t *ret_freed, struct cln_error **err);
int cln_build_image(struct cln_runtime *rt, const struct cln_build_request *req,
                    cln_progress_fn progress, void *userdata, char **ret_image_id,
                    struct cln_error **err);
