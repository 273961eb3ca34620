/* Test specs: the model and the strict loader (docs/spec.md).
 *
 * A spec file (NAME.cleanrun.toml) holds one test, or several after matrix
 * expansion.  The loader checks everything a spec says before anything
 * runs: unknown keys (with a did-you-mean), types, references between
 * images, services and steps, dependency cycles, durations and sizes.  Every
 * error names file:line:col. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/strv.h"
#include "runtime/runtime.h"

struct cln_error;

struct cln_spec_file_item {
    char *path; /* in the container (services, steps) or the build context (images) */
    char *data;
    size_t len;
    uint32_t mode;
    /* owner: NULL (root), else "uid[:gid]" (numbers, in uid/gid) or
     * "user[:group]" (names, resolved in the container's /etc/passwd and
     * /etc/group when it is copied in; uid/gid -1 until then) */
    char *owner;
    int64_t uid, gid;
};

/* A named volume of the test ([volumes.NAME]) mounted into a container. */
struct cln_spec_volume_mount {
    char *volume; /* a [volumes] name */
    char *target; /* absolute path in the container */
    bool read_only;
};

/* A tmpfs mount. */
struct cln_spec_tmpfs {
    char *target;
    uint64_t size; /* bytes; 0: the engine's default */
    uint32_t mode; /* 0: the engine's default (1777) */
};

/* Mounts of a container besides the privileged host mounts. */
struct cln_spec_mounts {
    struct cln_spec_volume_mount *volumes;
    size_t nvolumes;
    struct cln_spec_tmpfs *tmpfs;
    size_t ntmpfs;
};

struct cln_spec_image {
    char *name; /* key under [images] */
    char *ref;  /* for a reference; for a build, the tag (set when built) */
    enum cln_pull_policy pull;
    char *dockerfile; /* NULL unless built */
    struct cln_spec_file_item *files;
    size_t nfiles;
    char hash[17];         /* content hash of a build's inputs (and of its base images' ids) */
    bool outbound;         /* RUN steps get a network (outbound = true, --allow-outbound) */
    struct cln_strv bases; /* the FROM images of a build, in order */
};

enum cln_ready_kind {
    CLN_READY_NONE,
    CLN_READY_EXEC,
    CLN_READY_LOG,
    CLN_READY_TCP,
    CLN_READY_HTTP,   /* GET of a URL of the service answers with a wanted status */
    CLN_READY_HEALTH, /* the image's own HEALTHCHECK says healthy */
};

struct cln_spec_ready {
    enum cln_ready_kind kind;
    struct cln_strv exec;
    char *log_regex;
    uint16_t tcp_port;
    /* http: the service's port and the path; statuses (none: 200-399) and
     * a body regex (NULL: any) */
    uint16_t http_port;
    char *http_path;
    int *statuses;
    size_t nstatuses;
    char *body_regex;
    uint64_t interval_ms, timeout_ms;
};

/* What a container may do beyond the hermetic defaults; each needs the
 * spec to ask AND the run to allow it (cln_spec_check_allowed). */
enum cln_allow {
    CLN_ALLOW_PRIVILEGED = 1u << 0,    /* --allow-privileged */
    CLN_ALLOW_HOST_NETWORK = 1u << 1,  /* --allow-host-network */
    CLN_ALLOW_HOST_PID = 1u << 2,      /* --allow-host-pid */
    CLN_ALLOW_HOST_MOUNTS = 1u << 3,   /* --allow-host-mounts */
    CLN_ALLOW_ENGINE_SOCKET = 1u << 4, /* --allow-engine-socket */
    CLN_ALLOW_OUTBOUND = 1u << 5,      /* --allow-outbound */
    CLN_ALLOW_HOST_FILES = 1u << 6,    /* --allow-host-files */
};
#define CLN_ALLOW_ALL ((1u << 7) - 1)
/* "--allow-privileged" for CLN_ALLOW_PRIVILEGED, ... */
const char *cln_allow_flag(enum cln_allow a);

struct cln_spec_mount {
    char *source; /* absolute host path */
    char *target;
    bool read_only;
};

struct cln_spec_privs {
    bool privileged, host_network, host_pid;
    bool outbound; /* a route to the host and beyond */
    struct cln_spec_mount *mounts;
    size_t nmounts;
};

/* Where a spec asked for something that needs a flag. */
struct cln_spec_priv_use {
    enum cln_allow what;
    uint32_t line, col;
    char *desc; /* e.g. "services.web.host_network = true" */
};

/* Default limits of every container cleanrun starts (docs/spec.md). */
#define CLN_DEFAULT_MEMORY ((int64_t)512 << 20)
#define CLN_DEFAULT_PIDS 512

struct cln_spec_service {
    char *name;
    char *image;   /* the reference to run (an [images] entry resolved) */
    int image_idx; /* index in images, or -1 for a literal reference */
    struct cln_strv command, entrypoint;
    bool has_command, has_entrypoint;
    struct cln_labels env;
    struct cln_spec_file_item *files;
    size_t nfiles;
    uint16_t *ports;
    size_t nports;
    int64_t memory, nano_cpus, pids;
    struct cln_strv depends_on;
    struct cln_strv aliases;
    struct cln_spec_ready ready;
    struct cln_spec_privs privs;
    char *user, *workdir;        /* NULL: the image's */
    struct cln_spec_mounts data; /* volumes and tmpfs */
    struct cln_strv artifacts;   /* paths copied out for --artifacts ("/dir/": a directory) */
    int level;                   /* start order: 0 first; the same level starts together */
};

enum cln_exit_expect {
    CLN_EXIT_EXPECT_LIST, /* one of codes */
    CLN_EXIT_EXPECT_NONZERO,
    CLN_EXIT_EXPECT_ANY,
};

/* expect...json: a value in a JSON document (the output, a file). */
struct cln_json_expect {
    char *path;   /* "$", "$.a.b", "$.items[0].name", "$['a key']" */
    char *equals; /* the expected value as JSON text (from any TOML value); NULL: unset */
    int exists;   /* -1 unset, 0 absent, 1 present */
    char *regex;  /* the value (a string's text, else its JSON) matches; NULL: unset */
};

/* What content (output, a file's) is checked against besides equality. */
struct cln_content_expect {
    struct cln_strv regex, not_regex; /* each must match / none may match */
    struct cln_json_expect *json;
    size_t njson;
};

struct cln_stream_expect {
    char *equals;
    struct cln_strv contains, not_contains;
    struct cln_content_expect content;
    int empty; /* -1 unset, 0 must not be empty, 1 must be empty */
};

struct cln_file_expect {
    char *path;
    int exists;          /* -1 unset, 0 absent, 1 exists */
    int type;            /* -1 unset, else enum cln_file_type */
    int mode;            /* -1 unset, else the permission bits */
    char *owner, *group; /* a name or a number; NULL unset */
    char *equals;
    size_t equals_len;
    struct cln_content_expect content;
};

struct cln_spec_expect {
    enum cln_exit_expect exit_kind;
    int *codes;
    size_t ncodes;
    struct cln_stream_expect out, err;
    struct cln_file_expect *files;
    size_t nfiles;
    uint64_t max_duration_ms; /* 0: none */
};

struct cln_spec_step {
    char *name;
    char *service; /* run in this service, or NULL */
    char *image;   /* run in a fresh container of this reference, or NULL */
    int image_idx;
    bool shell; /* run was a string: sh -c */
    struct cln_strv argv;
    struct cln_labels env;
    char *workdir, *user;
    char *stdin_text; /* NULL: no stdin */
    uint64_t timeout_ms;
    int retries;
    uint64_t retry_interval_ms;
    bool continue_on_failure;
    bool network;                     /* ephemeral: join the test network */
    int64_t memory, pids;             /* ephemeral: limits (defaults when 0) */
    struct cln_spec_privs privs;      /* ephemeral */
    struct cln_spec_file_item *files; /* ephemeral: copied in before it starts */
    size_t nfiles;
    struct cln_spec_mounts data; /* ephemeral: volumes and tmpfs */
    struct cln_strv artifacts;   /* paths copied out for --artifacts */
    struct cln_spec_expect expect;
    uint32_t line; /* where the step is written */
};

struct cln_spec_test {
    char *name;
    char *file;
    uint32_t line;
    char *description;
    struct cln_strv tags;
    uint64_t timeout_ms;      /* 0: none */
    struct cln_labels matrix; /* this expansion's values, for reports */
    struct cln_spec_image *images;
    size_t nimages;
    struct cln_spec_service *services;
    size_t nservices;
    struct cln_strv volumes; /* [volumes] names: made for the test, removed with it */
    struct cln_spec_step *steps;
    size_t nsteps;
    int max_level;
    struct cln_spec_priv_use *uses; /* what needs a flag, for cln_spec_check_allowed */
    size_t nuses;
    struct cln_strv sources; /* canonical host paths of every files[].source (for --watch) */
};

struct cln_spec_set {
    struct cln_spec_test *tests;
    size_t n, cap;
};

struct cln_load_options {
    /* enum cln_allow bits of the run: --allow-host-files decides whether a
     * files[].source outside the spec's directory is read at all (without
     * it the file is not read and its use is refused by
     * cln_spec_check_allowed) */
    unsigned allow;
};

/* Load one spec file, appending its tests (after matrix expansion); opts
 * may be NULL. */
int cln_spec_load_file(const char *path, const struct cln_load_options *opts,
                       struct cln_spec_set *set, struct cln_error **err);
/* Load files and directories (searched for *.cleanrun.toml), in sorted
 * order.  Every file is loaded even after an error; errors are chained
 * ("3 specs have errors") with each one's message. */
int cln_spec_load_paths(const char *const *paths, size_t n, const struct cln_load_options *opts,
                        struct cln_spec_set *set, struct cln_error **err);
void cln_spec_set_done(struct cln_spec_set *set);

/* Refuse every use of a privilege that allowed (enum cln_allow bits) does
 * not grant: one error per use, each with file:line:col and the flag. */
int cln_spec_check_allowed(const struct cln_spec_set *set, unsigned allowed,
                           struct cln_error **err);

/* "64MiB", "1g", "4096": bytes (B, K, KB, KiB, M..., G...; any case); -1
 * when it is not a size. */
int cln_spec_parse_size_text(const char *s, int64_t *ret);

/* The file-name suffix specs must have. */
#define CLN_SPEC_SUFFIX ".cleanrun.toml"

/* Levenshtein distance, for did-you-mean. */
size_t cln_edit_distance(const char *a, const char *b);
