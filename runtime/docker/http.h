/* HTTP to a container engine over a unix socket or TCP (optionally TLS),
 * through libcurl.
 *
 * A client keeps a small pool of curl handles, each with its own connection
 * cache, so that connections stay alive between requests and concurrent
 * callers (worker threads) never share a handle.  Thread-safe. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/buf.h"

struct cln_error;
struct cln_http;

struct cln_http_config {
    const char *endpoint; /* unix:///path, tcp://host:port, http://..., https://... */
    bool tls;             /* tcp:// with TLS */
    const char *ca_file, *cert_file, *key_file;
    const char *backend; /* name in error details, e.g. "docker" */
};

int cln_http_new(const struct cln_http_config *cfg, struct cln_http **ret, struct cln_error **err);
void cln_http_free(struct cln_http *h); /* NULL-safe */
/* Prefix added to every path that is not raw, e.g. "/v1.41". */
void cln_http_set_prefix(struct cln_http *h, const char *prefix);
const char *cln_http_backend(const struct cln_http *h);
void cln_http_set_backend(struct cln_http *h, const char *backend);
bool cln_http_is_local(const struct cln_http *h);

struct cln_http_request {
    const char *method; /* GET, POST, PUT, DELETE, HEAD */
    const char *path;   /* with query string */
    bool raw_path;      /* no version prefix */
    const char *content_type;
    const void *body;
    size_t body_len;
    /* Streaming: called with each piece of the body as it arrives; return
     * false to abort the transfer.  NULL: the body is collected. */
    bool (*on_data)(const char *data, size_t len, void *userdata);
    void *userdata;
    /* Deadline for the whole transfer, 0 for none.  When it passes,
     * on_deadline (if set) is called once and the transfer may go on for
     * grace_ms more; then it is aborted and the response says so. */
    uint64_t timeout_ms;
    void (*on_deadline)(void *userdata);
    uint64_t grace_ms;
    const char *want_header; /* capture this response header's value */
    /* Cancellation: when *cancel becomes non-zero, act as at the deadline
     * (on_deadline, then grace_ms).  Checked every 100 ms.  May be NULL. */
    const volatile sig_atomic_t *cancel;
    bool idempotent; /* may be retried after a reset (GET/HEAD/DELETE are) */
    bool no_retry;   /* fail at once (engine discovery) */
};

struct cln_http_response {
    long status;
    struct cln_buf body;  /* empty when streamed */
    char *header_value;   /* want_header's value, or NULL */
    bool deadline_passed; /* the deadline was reached */
    bool aborted;         /* the transfer was cut (deadline + grace, or on_data said stop) */
};
void cln_http_response_done(struct cln_http_response *r);

/* Run a request.  Transport failures are errors (CLN_E_TRANSPORT with the
 * curl code); any HTTP status is a success here: see cln_http_check(). */
int cln_http_do(struct cln_http *h, const struct cln_http_request *req,
                struct cln_http_response *resp, struct cln_error **err);

/* Map a non-2xx status to an error carrying the engine's message:
 * 404 CLN_E_NOT_FOUND, 409 CLN_E_CONFLICT, other CLN_E_BACKEND.  what says
 * what was being done ("create container"). */
int cln_http_check(struct cln_http *h, const struct cln_http_response *resp, const char *what,
                   struct cln_error **err);

/* URL-encode s into b. */
void cln_http_escape(struct cln_buf *b, const char *s);
