/* HTTP to a container engine over a unix socket or TCP (optionally TLS),
 * through libcurl.
 *
 * A client keeps a small pool of curl handles, each with its own connection
 * cache, so that connections stay alive between requests and concurrent
 * callers (worker threads) never share a handle.  Thread-safe.
 *
 * Every request is bounded: a connect timeout, the calling thread's deadline
 * (runtime/base/deadline.h), and unless it is long-running by nature (an
 * exec's output, a wait, a build, a pull) a total time limit.  An interrupt
 * (cln_http_interrupt) ends the requests in flight at once.  A watchdog
 * pings the engine while requests are in flight; an engine that stops
 * answering (refuses connections, or does not answer a ping within a few
 * seconds) is marked gone: requests in flight end, and later ones fail at
 * once naming the engine. */
#pragma once

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
    bool no_watchdog;    /* no liveness pings (tests of the client itself) */
};

int cln_http_new(const struct cln_http_config *cfg, struct cln_http **ret, struct cln_error **err);
void cln_http_free(struct cln_http *h); /* NULL-safe */
/* Prefix added to every path that is not raw, e.g. "/v1.41". */
void cln_http_set_prefix(struct cln_http *h, const char *prefix);
const char *cln_http_backend(const struct cln_http *h);
void cln_http_set_backend(struct cln_http *h, const char *backend);
/* The endpoint as configured, e.g. unix:///var/run/docker.sock. */
const char *cln_http_endpoint(const struct cln_http *h);
/* The unix socket path, or NULL for TCP. */
const char *cln_http_socket_path(const struct cln_http *h);

/* End every interruptible request in flight now (as at its deadline: see
 * on_deadline); requests started later run normally.  Thread-safe. */
void cln_http_interrupt(struct cln_http *h);
/* NULL while the engine answers; once it stopped, why (valid until free). */
const char *cln_http_gone(struct cln_http *h);

/* Total time an ordinary request may take (not long_running ones). */
#define CLN_HTTP_DEFAULT_TIMEOUT_MS 60000
#define CLN_HTTP_CONNECT_TIMEOUT_MS 5000

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
    /* Deadline for the whole transfer, 0 for none.  When it passes (or the
     * thread's deadline, or an interrupt, when on_deadline is set),
     * on_deadline is called once and the transfer may go on for grace_ms
     * more; then it is aborted and the response says so. */
    uint64_t timeout_ms;
    void (*on_deadline)(void *userdata);
    uint64_t grace_ms;
    const char *want_header; /* capture this response header's value */
    bool long_running;       /* no total time limit of the client's own */
    bool uninterruptible;    /* cln_http_interrupt leaves it alone (removals) */
    bool idempotent;         /* may be retried after a reset (GET/HEAD/DELETE are) */
    bool no_retry;           /* fail at once (engine discovery) */
};

struct cln_http_response {
    long status;
    struct cln_buf body;  /* empty when streamed */
    char *header_value;   /* want_header's value, or NULL */
    bool deadline_passed; /* the deadline was reached (or an interrupt, with on_deadline) */
    bool interrupted;     /* ... because of cln_http_interrupt */
    bool aborted;         /* the transfer was cut (deadline + grace, or on_data said stop) */
};
void cln_http_response_done(struct cln_http_response *r);

/* Run a request.  Transport failures are errors (CLN_E_TRANSPORT with the
 * curl code, naming the engine); so are the thread's deadline and the
 * client's time limit (CLN_E_TIMEOUT, naming the limit) and an interrupt
 * (CLN_E_INTERRUPTED) for requests without on_deadline.  Any HTTP status is
 * a success here: see cln_http_check(). */
int cln_http_do(struct cln_http *h, const struct cln_http_request *req,
                struct cln_http_response *resp, struct cln_error **err);

/* Map a non-2xx status to an error carrying the engine's message:
 * 404 CLN_E_NOT_FOUND, 409 CLN_E_CONFLICT, other CLN_E_BACKEND.  what says
 * what was being done ("create container"). */
int cln_http_check(struct cln_http *h, const struct cln_http_response *resp, const char *what,
                   struct cln_error **err);
/* The engine's message in an error body ({"message": ...}, or the text),
 * newly allocated, or NULL. */
char *cln_http_error_message(const char *body, size_t len);

/* URL-encode s into b. */
void cln_http_escape(struct cln_buf *b, const char *s);
