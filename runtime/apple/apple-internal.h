/* The Apple container backend's own parts: the JSON of its CLI (both
 * schemas), the classification of its errors, the validation of a
 * configuration before the CLI sees it.  Pure functions, unit-tested on
 * Linux (tests/unit/test-apple.c); nothing here runs the CLI. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/base/buf.h"
#include "runtime/base/strv.h"
#include "runtime/runtime.h"
#include "runtime/backend.h"

/* ---- JSON (apple-json.c), docs/runtime.md "Apple" ----
 * `container inspect ID...` and `container ls --format json` print an array
 * of one object shape, which changed at 1.0:
 *   0.x (PrintableContainer): {status: "running", configuration: {...},
 *       networks: [...], startedDate: <seconds since 2001-01-01>}
 *   1.x (ManagedContainer):   {id, status: {state, startedDate (ISO-8601),
 *       networks: [...]}, configuration: {...}}
 * The shape is decided per object (a string status is 0.x, an object 1.x),
 * never by a version.  Attachments: address/gateway (to 0.8) or
 * ipv4Address/ipv4Gateway ("192.168.64.3/24"). */

enum cln_apple_schema { CLN_APPLE_SCHEMA_0 = 0, CLN_APPLE_SCHEMA_1 = 1 };

/* Parse such an array into states (id = name; no host pid: each container
 * is a VM; exit_code -1: the CLI records none).  Unknown keys are ignored;
 * an object with neither shape is an error naming its index. */
int cln_apple_parse_containers(const char *json, size_t len, struct cln_container_state **ret,
                               size_t *ret_n, enum cln_apple_schema *ret_schema,
                               struct cln_error **err);
void cln_apple_states_free(struct cln_container_state *s, size_t n);

/* Swift's default date (seconds since 2001-01-01 00:00:00 UTC) as ISO-8601
 * UTC, "2026-12-02T04:05:06Z" (fraction dropped). */
char *cln_apple_date_iso(double since_2001);

/* `container system status --format json`: {"status": "running" | "not
 * running" | "unregistered", ...}.  Returns the status (owned) or NULL. */
char *cln_apple_parse_system_status(const char *json, size_t len);

/* `container image inspect REF` (1.x: [{id?, configuration{name,
 * descriptor{digest}}, variants}]; 0.x: [{reference | name, descriptor
 * {digest}}]): the image's digest as its id.  1: found, 0: the array is
 * empty, -1: unreadable. */
int cln_apple_parse_image(const char *json, size_t len, struct cln_image_info *ret,
                          struct cln_error **err);

/* Whether such an answer holds the image's OCI config (1.x variants):
 * its ENTRYPOINT and CMD, which 0.x does not print. */
bool cln_apple_image_has_config(const char *json, size_t len);

/* `container network list --format json`, `container volume list --format
 * json`: the names (id, or name; at the top, in configuration or config)
 * and labels of each entry, whichever schema. */
int cln_apple_parse_resources(const char *json, size_t len, struct cln_resource **ret,
                              size_t *ret_n, struct cln_error **err);
/* The first process of the first container of an inspect answer:
 * configuration.initProcess executable and arguments, into ret. */
int cln_apple_parse_process(const char *json, size_t len, struct cln_strv *ret,
                            struct cln_error **err);

/* ---- errors (apple-errors.c) ----
 * A thrown error: stderr "Error: <code>: \"<message>\"", exit 1; argument
 * errors of swift-argument-parser exit 64; a CLI killed by a signal exits
 * 128+signal. */
enum cln_apple_error_class {
    CLN_APPLE_PERMANENT, /* notFound, exists, invalidState, invalidArgument, ...: never retried */
    CLN_APPLE_TRANSIENT, /* XPC connection failures, timeout, interrupted: retried */
    CLN_APPLE_NOT_FOUND, /* notFound (permanent, and a fact the caller may want) */
};
struct cln_apple_failure {
    char code[32]; /* "notFound", ... ; "" when no Error: line */
    char *message; /* owned; the quoted message, or the last stderr line */
    enum cln_apple_error_class cls;
};
/* Classify a failed CLI call from its exit status and stderr. */
void cln_apple_classify(int exit_status, const char *stderr_text, size_t len,
                        struct cln_apple_failure *ret);
void cln_apple_failure_done(struct cln_apple_failure *f);
/* Attach to e (its outermost layer) the backend detail of such a failure:
 * backend "apple", the exit status, and the CLI's own words ("CODE:
 * MESSAGE", or the message alone when there was no Error: line). */
void cln_apple_set_detail(struct cln_error *e, int exit_status, const struct cln_apple_failure *f);

/* ---- configuration (apple-config.c) ----
 * Checked before the CLI is called: a bad config is an error naming the
 * field (CLN_E_INVALID), never a CLI failure. */
int cln_apple_validate(const struct cln_container_config *cfg, struct cln_error **err);
/* Label values as the CLI can take them ('=' as %3D, '%' as %25) and back. */
char *cln_apple_label_encode(const char *value);
char *cln_apple_label_decode(const char *value);
/* The name rule of `--name`: ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$, at most 63. */
bool cln_apple_name_ok(const char *name);
/* `container create` argv for cfg (after cln_apple_validate), NULL-terminated,
 * owned; the program name first ("container"). */
char **cln_apple_create_argv(const struct cln_container_config *cfg);
void cln_apple_argv_free(char **argv);

/* ---- running the CLI (apple-cli.c) ---- */

struct cln_apple_call {
    int exit_status;               /* the exit code; 128+N for signal N */
    struct cln_buf out;            /* stdout, at most the cap */
    struct cln_buf err;            /* stderr, at most the cap */
    uint64_t out_total, err_total; /* what the process wrote, kept or not */
    bool hung; /* killed at the call's own bound (not the thread's deadline): the
                * CLI stopped answering; kept when the call fails */
};
void cln_apple_call_done(struct cln_apple_call *c);
/* argv as a shell would read it back, for errors; owned. */
char *cln_apple_cmdline(const char *const *argv);
/* One call of cli (argv[0] included) through the runtime's broker, its
 * output captured up to cap bytes a stream (0: the default cap), stdin
 * fed from stdin_data when not NULL; a call still running at timeout_ms
 * (0: none) or at the calling thread's deadline (runtime/base/deadline.h),
 * whichever comes first, is killed and CLN_E_TIMEOUT names its command
 * line and the limit (ret->hung when it was timeout_ms).  0 when it ran
 * (whatever its exit status, in ret, which the caller frees); on an error
 * ret holds nothing but hung. */
int cln_apple_run(struct cln_runtime *rt, const char *cli, const char *const *argv,
                  const char *const *env, const char *stdin_data, size_t stdin_len,
                  uint64_t timeout_ms, size_t cap, struct cln_apple_call *ret,
                  struct cln_error **err);
/* The calls in flight, for interrupt: each is killed (by pidfd) and fails
 * with CLN_E_INTERRUPTED. */
struct cln_broker_child;
struct cln_apple_inflight {
    struct cln_broker_child *child;
    bool interrupted;
    struct cln_apple_inflight *next;
};
struct cln_apple_tracker {
    pthread_mutex_t lock;
    struct cln_apple_inflight *head;
};
void cln_apple_tracker_interrupt(struct cln_apple_tracker *t);

struct cln_apple_policy {
    uint64_t timeout_ms;    /* each try */
    unsigned tries;         /* transient failures are tried again, at most tries in all */
    uint64_t backoff_ms;    /* before the second try; doubling */
    size_t cap;             /* per stream */
    bool any_exit;          /* an exit status is the answer (exec), not a failure */
    const char *stdin_data; /* NULL: /dev/null */
    size_t stdin_len;
    struct cln_apple_tracker *tracker; /* NULL: not interruptible (removals, kills) */
    bool cleanup; /* a bounded cleanup: runs even once the CLI stopped answering, bounded
                   * by timeout_ms alone (not the thread's deadline, which may have passed) */
};
/* The call, retried while it fails transiently (apple-errors.c: XPC,
 * timeout, interrupted), any_exit or not; a failure is an error with the
 * command line, exit status, the CLI's error code and message
 * (CLN_E_NOT_FOUND for notFound, CLN_E_CONFLICT for exists and
 * invalidState, CLN_E_INVALID for invalidArgument and argument errors);
 * with any_exit, the last try's exit status and output are the answer. */
int cln_apple_call(struct cln_runtime *rt, const char *cli, const char *const *argv,
                   const char *const *env, const struct cln_apple_policy *pol,
                   struct cln_apple_call *ret, struct cln_error **err);

/* ---- the backend (apple-ops.c, apple-managers.c, apple.c) ---- */

struct pending;
struct probe;
struct apple {
    struct cln_runtime *rt;
    char cli[4096];
    struct cln_apple_policy quick; /* a call that should be quick: interruptible */
    struct cln_apple_policy sure;  /* removals and kills: not interrupted */
    int major;                     /* the CLI's major version: `container cp` from 1 */
    bool build_network_ok;         /* CLEANRUN_APPLE_BUILD_NETWORK=allow: a build that asks for no
                                    * network runs with the builder's (the CLI cannot take it) */
    struct cln_apple_tracker tracker;
    pthread_mutex_t lock; /* gone, pending, probes */
    char *gone;
    struct pending *pending;
    struct probe *probes;
};
/* One call of the CLI at a->cli (argv[0] is replaced by it) with the CLI's
 * environment; pol NULL: a->quick.  Fails at once once the CLI stopped
 * answering (a quick call that hung). */
int cln_apple_cli_call(struct apple *a, const char *const *argv, const struct cln_apple_policy *pol,
                       struct cln_apple_call *ret, struct cln_error **err);
/* Make `container create`'s argv join network too (before the image). */
void cln_apple_argv_add_network(char ***argv, const char *network);
/* The id of a container the CLI made that was not started yet, and the
 * argv that made it; connect makes it again with another network. */
int cln_apple_recreate_with_network(struct apple *a, const char *id, const char *network,
                                    struct cln_error **err);
/* A private directory (0700) under $TMPDIR or /tmp, and its removal. */
char *cln_apple_private_dir(struct cln_error **err);
void cln_apple_remove_tree(const char *dir);
/* Write files (paths relative to root, no "..") under root. */
int cln_apple_write_files(const char *root, const struct cln_file *files, size_t n,
                          struct cln_error **err);

/* The per-id results of a batch call (`delete|stop ID...`) that exited
 * non-zero: an id printed on stdout is done; otherwise its error is the
 * `Error:` line naming it (as a whole word: never a line about an id it is
 * a prefix of), else the whole of stderr.  ret_errs[i] is set for each
 * failed id (a notFound left NULL when missing_ok). */
void cln_apple_per_id(const struct cln_apple_call *c, const char *const *ids, size_t n,
                      const char *what, bool missing_ok, const char *line,
                      struct cln_error **ret_errs);

extern const struct cln_runtime_ops cln_apple_ops;
extern const struct cln_network_ops cln_apple_network_ops;
extern const struct cln_volume_ops cln_apple_volume_ops;
extern const struct cln_build_ops cln_apple_build_ops;
extern const struct cln_batch_ops cln_apple_batch_ops;
/* The CLI a process uses (the broker runs it and nothing else): set by
 * cln_apple_open_cli before the runtime is made. */
extern char cln_apple_cli_path[4096];
extern const char *const cln_apple_host_programs[];

/* ---- the backend (apple-ops.c) ----
 * Open a runtime around the CLI at cli (an absolute path; the broker runs
 * it and nothing else): `container system status` must say running. */
int cln_apple_open_cli(const char *cli, struct cln_runtime **ret, struct cln_error **err);
/* The same, with the descriptor given (NULL: cln_apple_pick_desc(NULL)). */
int cln_apple_open_desc(const char *cli, const struct cln_runtime_desc *desc,
                        struct cln_runtime **ret, struct cln_error **err);
/* The descriptor for what the CLI can do: with a network manager where
 * `container network` exists (known = true), without one otherwise. */
const struct cln_runtime_desc *cln_apple_pick_desc(const bool *has_networks);
bool cln_apple_labels_match(const struct cln_labels *l, const char *filter);
