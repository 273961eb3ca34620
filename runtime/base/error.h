/* The error type every fallible function in cleanrun reports through.
 *
 * Convention (crun): a function that can fail returns int, 0 on success and a
 * negative value on failure, and takes `struct cln_error **err` as its last
 * parameter.  On failure it sets *err (which must be NULL on entry) and
 * returns -code; on success *err is untouched and no ret_ parameter is
 * written on failure.  Layers above add context with cln_error_wrap(), which
 * pushes a new outer error whose cause is the old one.
 *
 * Nothing here prints.  The harness renders the chain as one line
 * ("outer: inner: strerror") or as JSON. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

enum cln_errcode {
    CLN_E_OK = 0,
    CLN_E_INVALID,     /* bad argument or input text (durations, options) */
    CLN_E_IO,          /* a system call on a file, socket or process failed */
    CLN_E_PARSE,       /* malformed document (TOML, JSON from an engine) */
    CLN_E_SPEC,        /* a spec is well-formed TOML but not a valid spec */
    CLN_E_TRANSPORT,   /* could not talk to the engine (curl, socket) */
    CLN_E_BACKEND,     /* the engine answered with an error */
    CLN_E_NOT_FOUND,   /* the engine says the object does not exist */
    CLN_E_CONFLICT,    /* the engine says the object is in the wrong state */
    CLN_E_TIMEOUT,     /* a deadline passed */
    CLN_E_UNSUPPORTED, /* the backend has no such feature */
    CLN_E_INTERRUPTED, /* a signal asked us to stop */
    CLN_E_ISOLATION,   /* isolation could not be established or was violated */
    CLN_E_INTERNAL,    /* a bug: an invariant did not hold */
};

/* What a backend said, when the failure came from one.  Strings are owned. */
struct cln_backend_detail {
    char *backend;     /* "docker", "podman", "apple" */
    long http_status;  /* 0 if not HTTP */
    int curl_code;     /* CURLcode, 0 if none */
    int exit_status;   /* CLI backends; -1 if none */
    char *api_message; /* engine's {"message"} or a CLI's stderr tail; may be NULL */
    char *api_cause;   /* Podman's {"cause"}; may be NULL */
};

struct cln_error {
    enum cln_errcode code;
    int sys_errno;                     /* errno at the failure point, or 0 */
    char *msg;                         /* this layer's context; never NULL */
    struct cln_backend_detail *detail; /* may be NULL */
    struct cln_error *cause;           /* the next layer down; owned; may be NULL */
    char *text;                        /* cln_error_text()'s rendering, cached; may be NULL */
};

/* Create an error in *err (which must be NULL) and return -code. */
int cln_error_set(struct cln_error **err, enum cln_errcode code, int sys_errno, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
int cln_error_setv(struct cln_error **err, enum cln_errcode code, int sys_errno, const char *fmt,
                   va_list ap) __attribute__((format(printf, 4, 0)));

/* Push a layer of context on *err (which must be set).  The new layer takes
 * the code of the cause.  Returns -code. */
int cln_error_wrap(struct cln_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Attach backend detail to the outermost layer of *err; takes ownership of
 * detail.  Any detail already there is freed. */
void cln_error_set_detail(struct cln_error *err, struct cln_backend_detail *detail);

/* A detail with every field empty and exit_status -1. */
struct cln_backend_detail *cln_backend_detail_new(const char *backend);
void cln_backend_detail_free(struct cln_backend_detail *d);

/* A new error, as a value (for results that keep it until the edge). */
struct cln_error *cln_error_make(enum cln_errcode code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A copy of the whole chain (NULL-safe). */
struct cln_error *cln_error_dup(const struct cln_error *e);

/* The chain rendered as one line (cln_error_render), kept with the error
 * and valid as long as it is; NULL-safe (NULL for NULL).  The first call
 * on an error must not race another on the same error. */
const char *cln_error_text(const struct cln_error *e);

/* NULL-safe; frees the whole chain. */
void cln_error_free(struct cln_error *e);

/* Code of the innermost layer that is not CLN_E_OK (the root cause). */
enum cln_errcode cln_error_root_code(const struct cln_error *e);

/* Does any layer carry this code? */
bool cln_error_has_code(const struct cln_error *e, enum cln_errcode code);

/* "outer: inner: engine detail: strerror", newly allocated. */
char *cln_error_render(const struct cln_error *e);

/* A JSON array, outermost first: [{"code":"io","message":..,"errno":..,
 * "strerror":..,"backend":{...}}, ...].  Caller owns the result. */
cJSON *cln_error_to_json(const struct cln_error *e);

/* Short lower-case name of a code ("io", "backend", ...). */
const char *cln_errcode_name(enum cln_errcode code);

static inline void cln_error_freep(struct cln_error **e)
{
    cln_error_free(*e);
}
#define cleanup_error __attribute__((cleanup(cln_error_freep)))
