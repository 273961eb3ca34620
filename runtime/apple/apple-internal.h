/* The Apple container backend's own parts: the JSON of its CLI (both
 * schemas), the classification of its errors, the validation of a
 * configuration before the CLI sees it.  Pure functions, unit-tested on
 * Linux (tests/unit/test-apple.c); nothing here runs the CLI. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "runtime/runtime.h"

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

/* ---- configuration (apple-config.c) ----
 * Checked before the CLI is called: a bad config is an error naming the
 * field (CLN_E_INVALID), never a CLI failure. */
int cln_apple_validate(const struct cln_container_config *cfg, struct cln_error **err);
/* The name rule of `--name`: ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$, at most 63. */
bool cln_apple_name_ok(const char *name);
/* `container create` argv for cfg (after cln_apple_validate), NULL-terminated,
 * owned; the program name first ("container"). */
char **cln_apple_create_argv(const struct cln_container_config *cfg);
void cln_apple_argv_free(char **argv);
